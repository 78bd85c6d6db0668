//! The real `pricegate` binary as a child process, for tests that need
//! several server processes on one database, or a crash.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `PRICEGATE_BIN`, or `target/<profile>/pricegate` next to this test executable.
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("PRICEGATE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/debug/deps/<test> → target/debug/pricegate
    let candidate = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join("pricegate"));
    match candidate {
        Some(path) if path.exists() => path,
        _ => panic!(
            "the pricegate binary is needed for this test and was not found next to {}: \
             run `cargo build -p pricegate` first (scripts/test does) or set PRICEGATE_BIN",
            exe.display()
        ),
    }
}

/// A running `pricegate serve`; killed when dropped.
pub struct ServerProcess {
    pub base: String,
    child: Child,
    /// What it has written to its error output, with [`ServerProcess::start_logged`].
    log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl ServerProcess {
    /// Starts `pricegate serve` with `env` and waits until it prints the address it bound.
    pub async fn start(env: &[(&str, &str)]) -> ServerProcess {
        Self::spawn(env, false).await
    }

    /// [`ServerProcess::start`], keeping what it logs for [`ServerProcess::log`].
    pub async fn start_logged(env: &[(&str, &str)]) -> ServerProcess {
        Self::spawn(env, true).await
    }

    /// What the server has logged so far (started with [`ServerProcess::start_logged`]).
    pub fn log(&self) -> String {
        let log = self.log.as_ref().expect("the server was started with start_logged");
        log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    async fn spawn(env: &[(&str, &str)], logged: bool) -> ServerProcess {
        let mut cmd = Command::new(server_binary());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PRICEGATE_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if logged { Stdio::piped() } else { Stdio::inherit() })
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("pricegate starts");
        let log = child.stderr.take().map(|stderr| {
            let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let kept = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut kept = kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    kept.push_str(&line);
                    kept.push('\n');
                }
            });
            log
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().to_owned();
                }
            }
            panic!("pricegate exited before it was listening");
        })
        .await
        .expect("pricegate prints `listening on` within 60 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess { base, child, log }
    }

    /// SIGKILL: no chance to finish anything.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Runs one `pricegate` command to completion (e.g. `user create`), feeding
/// `stdin`; returns its standard output, or panics with its error output.
pub async fn run_command(args: &[&str], env: &[(&str, &str)], stdin: &str) -> String {
    let out = command_output(args, env, stdin).await;
    assert!(
        out.status.success(),
        "pricegate {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs one `pricegate` command to completion, feeding `stdin`, with `env`
/// and nothing else of this process's environment but `PATH`; whatever it
/// ends with (a test of a refusal reads the error output).
pub async fn command_output(args: &[&str], env: &[(&str, &str)], stdin: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = Command::new(server_binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("pricegate starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.as_bytes()).await.expect("write stdin");
    drop(input);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command finishes within 60 s")
        .expect("the command runs")
}
