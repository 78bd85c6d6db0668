//! What `pricegate serve` says as it starts, on its error output.

use std::process::Stdio;
use std::time::Duration;

use pricegate_tests::process::server_binary;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Starts `pricegate serve` on a fresh SQLite file with `env`, waits until it
/// is listening, stops it, and returns what it wrote to standard error.
async fn start_up_log(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("pricegate.db").display());
    let maildir = dir.path().join("mail").display().to_string();
    let mut cmd = Command::new(server_binary());
    // Its own directory: a `.env` file where the tests run must not count.
    cmd.arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", &db)
        .env("PRICEGATE_MAILDIR", &maildir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("pricegate starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if line.starts_with("listening on ") {
                return;
            }
        }
        panic!("pricegate exited before it was listening");
    })
    .await
    .expect("pricegate prints `listening on` within 60 s");
    child.kill().await.expect("pricegate stops");
    let mut log = String::new();
    child.stderr.take().expect("stderr is piped").read_to_string(&mut log).await.expect("read stderr");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interface_without_a_base_url_warns_that_e_mail_links_will_not_open() {
    let log = start_up_log(&[("PRICEGATE_BIND", "0.0.0.0:0")]).await;
    assert!(log.contains("WARN") && log.contains("set PRICEGATE_BASE_URL"), "{log}");
    assert!(log.contains("links in e-mails will point at http://0.0.0.0:"), "{log}");

    let log =
        start_up_log(&[("PRICEGATE_BIND", "0.0.0.0:0"), ("PRICEGATE_BASE_URL", "https://pricegate.example")]).await;
    assert!(!log.contains("PRICEGATE_BASE_URL"), "{log}");
    let log = start_up_log(&[("PRICEGATE_BIND", "127.0.0.1:0")]).await;
    assert!(!log.contains("PRICEGATE_BASE_URL"), "a loopback address is one a local reader can open: {log}");
}
