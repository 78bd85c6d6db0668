//! What `pricegate serve` says as it starts, on its error output; and what
//! `pricegate demo` leaves for the server that starts after it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use pricegate_tests::Session;
use pricegate_tests::process::{ServerProcess, run_command, server_binary};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

/// `pricegate <command>` in `dir`, on a SQLite file there, with `env` and
/// nothing else from this process's environment; its own directory, so a
/// `.env` file where the tests run does not count. Output piped.
fn pricegate_in(dir: &Path, command: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.arg(command)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.join("pricegate.db").display()))
        .env("PRICEGATE_MAILDIR", dir.join("mail"))
        // A free port unless a test names one: 8080 may be taken on the machine.
        .env("PRICEGATE_BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Reads `output` until a line matching `wanted` (returned), within 60 s.
async fn until_line(output: impl AsyncRead + Unpin, wanted: impl Fn(&str) -> bool, what: &str) -> String {
    let mut lines = BufReader::new(output).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read the output") {
            if wanted(&line) {
                return line;
            }
        }
        panic!("pricegate exited before {what}");
    })
    .await
    .unwrap_or_else(|_| panic!("pricegate did not get to {what} within 60 s"))
}

/// Starts `pricegate serve` on a fresh SQLite file with `env`, and `RUST_LOG=warn`
/// in the `.env` file of the directory it runs in, waits until it is listening,
/// stops it, and returns what it wrote to standard error.
async fn start_up_log(env: &[(&str, &str)]) -> String {
    start_up_log_with(env, "RUST_LOG=warn\n").await.1
}

/// [`start_up_log`] with `dot_env` as the `.env` file; also the line saying where it listens.
async fn start_up_log_with(env: &[(&str, &str)], dot_env: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(".env"), dot_env).expect("write .env");
    let mut child = pricegate_in(dir.path(), "serve", env).spawn().expect("pricegate starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let listening = until_line(stdout, |l| l.starts_with("listening on "), "listening").await;
    child.kill().await.expect("pricegate stops");
    let mut log = String::new();
    child.stderr.take().expect("stderr is piped").read_to_string(&mut log).await.expect("read stderr");
    (listening, log)
}

/// A setting the environment sets to nothing (an unfilled `${VAR}`) is
/// read as unset: `.env`'s value for it is in force, not the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_set_to_nothing_is_read_from_the_dot_env_file() {
    let env = [("PRICEGATE_BIND", ""), ("RUST_LOG", " ")];
    let (listening, log) = start_up_log_with(&env, "RUST_LOG=warn\nPRICEGATE_BIND=127.0.0.1:0\n").await;
    assert!(!listening.ends_with(":8080"), "the default address, not .env's: {listening}");
    assert!(!log.contains("INFO"), ".env's RUST_LOG is in force: {log}");
    assert!(!log.contains("set but empty"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interface_or_smtp_without_a_base_url_warns_that_e_mail_links_will_not_open() {
    let log = start_up_log(&[("PRICEGATE_BIND", "0.0.0.0:0")]).await;
    assert!(log.contains("WARN") && log.contains("set PRICEGATE_BASE_URL"), "{log}");
    assert!(log.contains("links in e-mails will point at http://0.0.0.0:"), "{log}");

    let log =
        start_up_log(&[("PRICEGATE_BIND", "0.0.0.0:0"), ("PRICEGATE_BASE_URL", "https://pricegate.example")]).await;
    assert!(!log.contains("PRICEGATE_BASE_URL"), "{log}");
    let log = start_up_log(&[("PRICEGATE_BIND", "127.0.0.1:0")]).await;
    assert!(!log.contains("PRICEGATE_BASE_URL"), "a loopback address is one a local reader can open: {log}");
    // Mailed by SMTP, to people on other machines, it is not.
    let log = start_up_log(&[("PRICEGATE_BIND", "127.0.0.1:0"), ("SMTP_URL", "smtp://127.0.0.1:9")]).await;
    assert!(log.contains("links in the e-mails SMTP_URL sends point at http://127.0.0.1:"), "{log}");
    // RUST_LOG came from `.env`, like every other setting: no migration chatter.
    assert!(!log.contains("INFO"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_commands_price_increase_is_mailed_once_a_server_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("pricegate.db").display());
    let maildir = dir.path().join("mail");
    let maildir_text = maildir.display().to_string();
    let env = [("DATABASE_URL", db.as_str()), ("PRICEGATE_MAILDIR", maildir_text.as_str())];
    // `pricegate demo` publishes the increase, and sends nothing itself.
    let printed = run_command(&["demo"], &env, "").await;
    assert!(printed.contains("Demo company added"), "{printed}");

    let server = ServerProcess::start(&env).await;
    let increase = |m: &String| m.contains("Subject: Price notice: Pump prices rise 8%");
    let mut received: Vec<String> = Vec::new();
    for _ in 0..300 {
        received = std::fs::read_dir(&maildir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if received.iter().any(increase) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to_sam: Vec<_> = received.iter().filter(|m| increase(m) && m.contains("<sam@pricegate.example>")).collect();
    assert_eq!(to_sam.len(), 1, "Sam gets the increase, with a link: {received:#?}");
    assert!(to_sam[0].contains("/ack/"), "{}", to_sam[0]);

    // Sara acknowledged it in the demo before any mail went: hers is set aside.
    let anonymous = Session::new(&server.base, None);
    let login = json!({"email": "ada@pricegate.example", "password": "pricegate-demo"});
    let token = anonymous.post("/api/v1/auth/token", &login).await.body["token"].as_str().map(str::to_owned);
    let admin = Session::new(&server.base, token);
    let mut states = Vec::new();
    for _ in 0..300 {
        let outbox = admin.get("/api/v1/outbox?limit=1000").await;
        assert_eq!(outbox.status, 200, "{}", outbox.text);
        states = outbox
            .body
            .as_array()
            .expect("a list")
            .iter()
            .filter(|row| row["kind"] == "publication")
            .map(|row| {
                let to = row["to"].as_str().unwrap_or_default();
                let who = to.split(['<', '>']).find(|part| part.contains('@')).unwrap_or(to);
                (who.to_owned(), row["state"].as_str().unwrap_or_default().to_owned())
            })
            .collect::<Vec<_>>();
        states.sort();
        if states.iter().all(|(_, state)| state != "pending") && states.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().await;
    assert_eq!(
        states,
        [
            ("sam@pricegate.example".to_owned(), "sent".to_owned()),
            ("sara@pricegate.example".to_owned(), "skipped".to_owned())
        ],
        "one publication e-mail owed per salesperson"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_alone_without_a_base_url_warns_where_its_links_will_point() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = [("RUST_LOG", "warn"), ("PRICEGATE_BIND", "127.0.0.1:8080")];
    let mut child = pricegate_in(dir.path(), "worker", &env).spawn().expect("pricegate starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let warning = until_line(stderr, |l| l.contains("PRICEGATE_BASE_URL"), "warning about PRICEGATE_BASE_URL").await;
    child.kill().await.expect("pricegate stops");
    assert!(warning.contains("WARN") && warning.contains("point at http://127.0.0.1:8080"), "{warning}");

    // Its start says where mail goes, as the server's does.
    let env = [("RUST_LOG", "info"), ("SMTP_URL", "smtp://mailer:S3cret@127.0.0.1:1?tls=required")];
    let mut child = pricegate_in(dir.path(), "worker", &env).spawn().expect("pricegate starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let started = until_line(stderr, |l| l.contains("mail worker only"), "the worker's start").await;
    child.kill().await.expect("pricegate stops");
    assert!(started.contains("through smtp://mailer:***@127.0.0.1:1") && !started.contains("S3cret"), "{started}");
}

/// A setting written with a prefix it does not have is named at start-up,
/// with the one meant; the log says where mail goes, and, on a database
/// without users, how to make the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_misnamed_is_warned_about_and_the_log_says_where_mail_goes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = [("RUST_LOG", "info"), ("PRICEGATE_BIND", "127.0.0.1:0"), ("PRICEGATE_SMTP_URL", "smtp://127.0.0.1:1")];
    let mut child = pricegate_in(dir.path(), "serve", &env).spawn().expect("pricegate starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut log = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read the output") {
            log.push(line);
            if log.last().is_some_and(|l| l.contains("nobody can log in yet")) {
                return;
            }
        }
    })
    .await
    .expect("pricegate logs that it is serving, to nobody yet, within 60 s");
    child.kill().await.expect("pricegate stops");
    let log = log.join("\n");
    let warning = log.lines().find(|l| l.contains("PRICEGATE_SMTP_URL")).unwrap_or_else(|| panic!("{log}"));
    assert!(warning.contains("WARN") && warning.contains("the setting is SMTP_URL"), "{warning}");
    // An empty database: how to make the first administrator.
    let nobody = log.lines().last().unwrap_or_default();
    assert!(
        nobody.contains("WARN") && nobody.contains("pricegate user create") && nobody.contains("--demo"),
        "{nobody}"
    );
    let maildir = dir.path().join("mail");
    let serving = log.lines().find(|l| l.contains("serving")).unwrap_or_default();
    let said = format!("written as files under {} (SMTP_URL is unset: it reaches no one)", maildir.display());
    assert!(serving.contains(&said), "{serving}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_log_reader_went_away_still_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Shutting down logs at `info`: the line that finds standard error closed.
    let env = [("RUST_LOG", "info"), ("PRICEGATE_BIND", "127.0.0.1:0")];
    let mut child = pricegate_in(dir.path(), "serve", &env).spawn().expect("pricegate starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    until_line(&mut stdout, |l| l.starts_with("listening on "), "listening").await;
    // Whoever read its output is gone, as when `pricegate serve | head` ends.
    drop(stdout);
    drop(child.stderr.take());
    let pid = child.id().expect("pricegate is running").to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill runs");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("pricegate stops within 30 s of SIGTERM, its log unreadable or not")
        .expect("pricegate is waited for");
    assert!(status.success(), "a clean stop: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_filter_that_does_not_parse_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = [("RUST_LOG", "[[["), ("PRICEGATE_BIND", "127.0.0.1:0")];
    let out = pricegate_in(dir.path(), "serve", &env).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.starts_with("pricegate: RUST_LOG: ") && said.contains("such as `info`"), "{said}");
    assert!(!dir.path().join("pricegate.db").exists(), "refused before anything was done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dot_env_file_that_does_not_parse_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Unquoted, the sender's spaces stop the parser, which would drop this line and the next.
    std::fs::write(
        dir.path().join(".env"),
        "# Pricegate\nMAIL_FROM=Sales Desk <sales@example.org>\nPRICEGATE_BIND=127.0.0.1:0\n",
    )
    .expect("the .env file is written");
    let run = pricegate_in(dir.path(), "serve", &[("PRICEGATE_BIND", "127.0.0.1:0")]).output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("pricegate refuses to start, and does not serve on the defaults")
        .expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with("pricegate: .env: line 2 (MAIL_FROM) does not parse")
            && said.contains("quote a value with spaces")
            && !said.contains("sales@example.org"),
        "names the setting, not the line (it may hold a password): {said}"
    );
    assert!(!dir.path().join("pricegate.db").exists(), "refused before anything was done");

    // A quote left open runs on to the end of the file: its own line is named.
    std::fs::write(
        dir.path().join(".env"),
        "PRICEGATE_BIND=127.0.0.1:0\nSMTP_URL=\"smtp://u:pw@x:25\nMAIL_FROM=a@b.c\n",
    )
    .expect("rewritten");
    let out = pricegate_in(dir.path(), "migrate", &[]).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.starts_with("pricegate: .env: line 2 (SMTP_URL) does not parse") && !said.contains("pw@"), "{said}");

    // Quoted, the same setting is read.
    std::fs::write(dir.path().join(".env"), "MAIL_FROM=\"Sales Desk <sales@example.org>\"\n").expect("rewritten");
    let out = pricegate_in(dir.path(), "migrate", &[]).output().await.expect("pricegate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A database URL the driver cannot read (a password with an unescaped `/`,
/// as generated passwords have), or one set to nothing, is refused at start
/// without its password on the error output, which goes to the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_url_that_cannot_be_used_is_refused_without_its_password() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for url in ["postgres://app:Xy7/s3cret@127.0.0.1:5432/pricegate", "postgres://app:Xy7s3cret@127.0.0.1:notaport/p"] {
        let out = pricegate_in(dir.path(), "migrate", &[("DATABASE_URL", url)]).output().await.expect("pricegate runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.starts_with("pricegate: cannot open the database named by DATABASE_URL"), "{said}");
        assert!(!said.contains("s3cret") && !said.contains("Xy7"), "the password is not said: {said}");
    }
    let out = pricegate_in(dir.path(), "serve", &[("DATABASE_URL", ""), ("PRICEGATE_BIND", "127.0.0.1:0")])
        .output()
        .await
        .expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.starts_with("pricegate: DATABASE_URL: is set but empty"), "{said}");
    assert!(!dir.path().join("pricegate.db").exists(), "no SQLite file of its own: {said}");
    // A database that is not there is named, and the server's words end there.
    let url = "postgres://postgres@127.0.0.1:5432/pricegate_no_such_database";
    let out = pricegate_in(dir.path(), "migrate", &[("DATABASE_URL", url)]).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.trim_end().ends_with("database \"pricegate_no_such_database\" does not exist"), "{said}");
}

/// A sender whose domain has letters beyond ASCII would have every e-mail
/// retried for ever (mail servers take ASCII envelopes): the start says so,
/// the server's and the worker's, before either touches the database (an
/// upgrade with a typo in its settings must not migrate the database the
/// version before it still serves). Its name may be in any letters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_address_beyond_ascii_is_refused_at_start_and_its_name_is_not() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = [("MAIL_FROM", "Preise <preise@müller.de>"), ("PRICEGATE_BIND", "127.0.0.1:0")];
    for command in ["serve", "worker"] {
        let out = pricegate_in(dir.path(), command, &env).output().await.expect("pricegate runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {said}");
        assert!(
            said.contains("MAIL_FROM: the address preise@müller.de has letters beyond ASCII")
                && said.contains("xn--mller-kva.de"),
            "{command}: {said}"
        );
        assert!(!dir.path().join("pricegate.db").exists(), "{command} made and migrated a database first");
    }
    // Written as DNS writes it, with a name in any letters: it serves.
    let log = start_up_log(&[("MAIL_FROM", "Preisbüro Müller <preise@xn--mller-kva.de>")]).await;
    assert!(!log.contains("MAIL_FROM"), "{log}");
    // Each mail setting that cannot be used is named, before the database is touched.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "not a directory").expect("a file");
    let maildir = blocked.join("mail");
    let maildir = maildir.to_str().expect("a path in UTF-8");
    for (env, says) in [
        (
            ("MAIL_FROM", "pricegate at example.com"),
            "MAIL_FROM \"pricegate at example.com\" is not an address like `Pricegate <pricegate@example.com>`: it \
             has no @ between a mailbox and a domain",
        ),
        (
            ("MAIL_FROM", "sales@example.com, finance@example.com"),
            "is not an address like `Pricegate <pricegate@example.com>`: it names more than one address, and every \
             e-mail has one sender",
        ),
        (("MAIL_FROM", "Pricegate <pricegate@example.com"), "its angle brackets do not pair up"),
        (("PRICEGATE_MAILDIR", maildir), "PRICEGATE_MAILDIR: cannot prepare the mail directory"),
        (
            ("SMTP_URL", "smtp://127.0.0.1:2525?starttls=true"),
            "SMTP_URL: has the parameter \"starttls\", which nothing reads",
        ),
    ] {
        let out = pricegate_in(dir.path(), "serve", &[env, ("PRICEGATE_BIND", "127.0.0.1:0")])
            .output()
            .await
            .expect("pricegate runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {said}");
        assert!(said.contains(says), "{env:?}: {said}");
        assert!(!dir.path().join("pricegate.db").exists(), "{env:?}: a database was made and migrated first");
    }
}

/// `pricegate user create` says what is wrong with each refused input, and
/// creates nobody: no password on standard input, a short one, a bad role;
/// then the same command with a good password prints the new user's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_says_what_is_wrong_and_creates_nobody() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let create = |role: &'static str, stdin: &'static str| {
        let mut cmd = pricegate_in(dir.path(), "user", &[]);
        cmd.args(["create", "--email", "ada@example.org", "--name", "Ada", "--role", role, "--password-stdin"]);
        cmd.stdin(Stdio::piped());
        async move {
            let mut child = cmd.spawn().expect("pricegate runs");
            let mut input = child.stdin.take().expect("stdin is piped");
            // A command refused for its arguments (a bad role) may end before it reads any.
            let written = input.write_all(stdin.as_bytes()).await;
            assert!(
                written.as_ref().map_or_else(|e| e.kind() == std::io::ErrorKind::BrokenPipe, |()| true),
                "the password is written: {written:?}"
            );
            drop(input);
            let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("the command finishes within 60 s")
                .expect("the command runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, _, said) = create("admin", "").await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("no password on standard input"), "{said}");
    let (code, _, said) = create("admin", "\n").await;
    assert!(code != Some(0) && said.contains("no password on standard input"), "{said}");
    let (code, _, said) = create("admin", "short\n").await;
    assert!(code != Some(0) && said.contains("at least 10 characters"), "{said}");
    let (code, _, said) = create("boss", "a long enough password\n").await;
    assert!(code != Some(0) && said.contains("role"), "{said}");
    let (code, id, said) = create("admin", "a long enough password\n").await;
    assert_eq!(code, Some(0), "{said}");
    assert!(uuid::Uuid::parse_str(id.trim()).is_ok(), "the new user's id: {id}");
    let (code, _, said) = create("admin", "a long enough password\n").await;
    assert!(code != Some(0), "the e-mail is taken: {said}");
}

/// `serve --demo` on an empty database: the address bound is the first line
/// on standard output, as for `serve`, and the logins follow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_prints_the_address_first_then_the_logins() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut cmd = pricegate_in(dir.path(), "serve", &[("PRICEGATE_BIND", "127.0.0.1:0"), ("RUST_LOG", "warn")]);
    let mut child = cmd.arg("--demo").spawn().expect("pricegate starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read the output") {
            let done = line.contains("@pricegate.example") && line.trim_start().starts_with("admin");
            printed.push(line);
            if done {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no demo logins within 60 s: {printed:?}"));
    child.kill().await.expect("pricegate stops");
    assert!(printed[0].starts_with("listening on http://127.0.0.1:"), "{printed:?}");
    assert!(printed.iter().any(|l| l.starts_with("Demo company added.")), "{printed:?}");
    // The database it made holds password hashes and every quote: its
    // owner's alone, as SQLite makes its write-ahead log too.
    use std::os::unix::fs::PermissionsExt;
    for file in ["pricegate.db", "pricegate.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(file)).expect("the database's files").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
}

/// Three `serve --demo` started at the same instant on one empty PostgreSQL
/// database, as a deployment's processes start on its first day: each
/// migrates or finds it done, and serves; the demo company is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_started_together_on_an_empty_postgresql_database_all_serve() {
    use pricegate_tests::db::{Backend, TestDb};

    let db = TestDb::create(Backend::Postgres).await;
    let mut children = Vec::new();
    for i in 0..3 {
        let dir = db.dir().join(format!("server-{i}"));
        std::fs::create_dir_all(&dir).expect("a directory");
        let env = [("DATABASE_URL", db.url.as_str()), ("PRICEGATE_BIND", "127.0.0.1:0"), ("RUST_LOG", "warn")];
        children.push(pricegate_in(&dir, "serve", &env).arg("--demo").spawn().expect("pricegate starts"));
    }
    let mut bases = Vec::new();
    for (i, child) in children.iter_mut().enumerate() {
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let listening = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(base) = line.strip_prefix("listening on ") {
                    return Some(base.to_owned());
                }
            }
            None
        })
        .await
        .expect("each prints `listening on` or exits within 60 s");
        let Some(base) = listening else {
            let mut said = String::new();
            let _ = child.stderr.take().expect("stderr is piped").read_to_string(&mut said).await;
            panic!("server {i} exited instead of serving: {said}");
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        bases.push(base);
    }
    let login = json!({"email": "fiona@pricegate.example", "password": "pricegate-demo"});
    for base in &bases {
        let r = Session::new(base, None).post("/api/v1/auth/token", &login).await;
        assert_eq!(r.status, 200, "{base}: {}", r.text);
        let finance = Session::new(base, r.body["token"].as_str().map(str::to_owned));
        let users = finance.get("/api/v1/users").await;
        assert_eq!(users.body.as_array().map(Vec::len), Some(4), "the demo's four people, once: {}", users.text);
        let products = finance.get("/api/v1/products").await;
        assert_eq!(products.body.as_array().map(Vec::len), Some(20), "its price list, once: {}", products.text);
    }
    for mut child in children {
        child.kill().await.expect("pricegate stops");
    }
}

/// `pricegate backup` copies the SQLite database a server is using, its
/// latest changes too, into a new file its owner alone may read, which
/// serves on its own; it never replaces a file, and on PostgreSQL it says
/// to use pg_dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_is_backed_up_while_it_serves_and_the_copy_serves_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("pricegate.db").display());
    let maildir = dir.path().join("mail").display().to_string();
    let env = [("DATABASE_URL", db.as_str()), ("PRICEGATE_MAILDIR", maildir.as_str())];
    run_command(&["demo"], &env, "").await;
    let server = ServerProcess::start(&env).await;
    // A change the running server made, in its write-ahead log yet.
    let anonymous = Session::new(&server.base, None);
    let login = |email: &str| json!({"email": email, "password": "pricegate-demo"});
    let token = anonymous.post("/api/v1/auth/token", &login("fiona@pricegate.example")).await.body["token"].clone();
    let fiona = Session::new(&server.base, token.as_str().map(str::to_owned));
    let r = fiona.post("/api/v1/notices", &json!({"title": "Kept in the backup", "body": "Draft."})).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let backup = dir.path().join("backup.db");
    let target = backup.to_str().expect("a UTF-8 path");
    let said = run_command(&["backup", target], &env, "").await;
    assert!(said.contains("backed up into") && said.contains(target), "{said}");
    let mode = std::fs::metadata(&backup).expect("the backup").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let again = pricegate_tests::process::command_output(&["backup", target], &env, "").await;
    let refused = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && refused.contains("exists: a backup never replaces a file"), "{refused}");
    server.kill().await;

    let copy = format!("sqlite://{target}?mode=rwc");
    let server =
        ServerProcess::start(&[("DATABASE_URL", copy.as_str()), ("PRICEGATE_MAILDIR", maildir.as_str())]).await;
    let anonymous = Session::new(&server.base, None);
    let token = anonymous.post("/api/v1/auth/token", &login("fiona@pricegate.example")).await.body["token"].clone();
    let fiona = Session::new(&server.base, token.as_str().map(str::to_owned));
    let notices = fiona.get("/api/v1/notices").await;
    assert!(notices.text.contains("Kept in the backup"), "{}", notices.text);
    server.kill().await;

    let postgres = [("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")];
    let elsewhere = dir.path().join("pg.db").display().to_string();
    let out = pricegate_tests::process::command_output(&["backup", &elsewhere], &postgres, "").await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("pg_dump"), "{said}");

    // A file that is no database: said of it, once, and nothing is left behind.
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "Notes, not a database: long enough for SQLite to read its header and refuse it.")
        .expect("a text file");
    let not_sqlite = format!("sqlite://{}", text.display());
    let into = dir.path().join("from-notes.db").display().to_string();
    let out = pricegate_tests::process::command_output(&["backup", &into], &[("DATABASE_URL", &not_sqlite)], "").await;
    let said = String::from_utf8_lossy(&out.stderr);
    let opening = format!("cannot open {} to back it up", text.display());
    assert!(!out.status.success() && said.contains(&opening), "{said}");
    assert_eq!(said.matches("file is not a database").count(), 1, "{said}");
    assert!(!std::path::Path::new(&into).exists(), "no backup file left: {said}");
}

/// SIGHUP (its terminal closed) stops the server as SIGTERM does, cleanly;
/// started to ignore it, as `nohup` starts a program, it serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_the_server_cleanly_unless_it_was_started_to_ignore_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = [("RUST_LOG", "info"), ("PRICEGATE_BIND", "127.0.0.1:0")];
    let hang_up = |pid: u32| async move {
        let sent = Command::new("kill").args(["-HUP", &pid.to_string()]).status().await.expect("kill runs");
        assert!(sent.success());
    };

    // As `nohup` starts it: SIGHUP ignored from the start, and exec keeps that.
    let mut ignoring = pricegate_in(dir.path(), "serve", &env);
    let ignoring = ignoring.as_std_mut();
    let mut nohup = Command::new("sh");
    nohup
        .args(["-c", "trap '' HUP; exec \"$0\" \"$@\"", &server_binary().display().to_string(), "serve"])
        .current_dir(dir.path())
        .env_clear()
        .envs(ignoring.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = nohup.spawn().expect("pricegate starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let listening = until_line(&mut stdout, |l| l.starts_with("listening on "), "listening").await;
    let base = listening.trim_start_matches("listening on ").trim().to_owned();
    hang_up(child.id().expect("running")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = reqwest::get(format!("{base}/healthz")).await.expect("it still answers");
    assert_eq!(health.status(), 200);
    child.kill().await.expect("pricegate stops");

    // Started plainly: SIGHUP stops it as SIGTERM does.
    let mut child = pricegate_in(dir.path(), "serve", &env).spawn().expect("pricegate starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    until_line(&mut stdout, |l| l.starts_with("listening on "), "listening").await;
    let stderr = child.stderr.take().expect("stderr is piped");
    hang_up(child.id().expect("running")).await;
    let said = until_line(stderr, |l| l.contains("SIGHUP"), "the log of the hang-up").await;
    assert!(said.contains("stopping as on SIGTERM"), "{said}");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("pricegate stops within 30 s of SIGHUP")
        .expect("pricegate is waited for");
    assert!(status.success(), "a clean stop: {status}");
}

/// With `RUST_LOG` unset, a first start's log says in one line how many
/// migrations it applied, not two lines for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_logs_one_line_for_its_migrations() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = pricegate_in(dir.path(), "migrate", &[]).output().await.expect("pricegate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = log.lines().filter(|l| l.contains("migration")).collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(said[0].contains("database migrations applied") && said[0].contains("applied="), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_logged_once_with_what_failed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = [("RUST_LOG", "info"), ("PRICEGATE_REQUEST_TIMEOUT", "1s")];
    let mut child = pricegate_in(dir.path(), "serve", &env).spawn().expect("pricegate starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let listening = until_line(stdout, |l| l.starts_with("listening on "), "listening").await;
    let addr = listening.trim_start_matches("listening on http://").trim().to_owned();

    // A body promised and never sent: the server gives up on it, 503 `timeout`.
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
        let head = "POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 100\r\n\r\n{";
        stream.write_all(head.as_bytes()).expect("send the head");
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer).expect("an answer");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .expect("the slow request");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    child.kill().await.expect("pricegate stops");
    let mut log = String::new();
    child.stderr.take().expect("stderr is piped").read_to_string(&mut log).await.expect("read stderr");
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(failed.len(), 1, "one line for one failed request: {log}");
    assert!(failed[0].contains("request failed") && failed[0].contains("code=\"timeout\""), "{log}");
    assert!(failed[0].contains("path=/api/v1/auth/token"), "the line says which request: {log}");
}

/// A reverse proxy left out of `PRICEGATE_TRUSTED_PROXIES` makes every
/// client one address: the first request with `X-Forwarded-For` from an
/// address not named says so, once; from a named proxy, nothing is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_requests_from_an_address_not_trusted_are_logged_once() {
    let client = reqwest::Client::new();
    for (trusted, said) in [(None, 1), (Some("127.0.0.1"), 0)] {
        let db = pricegate_tests::db::TestDb::create(pricegate_tests::Backend::Sqlite).await;
        let mut env = vec![("DATABASE_URL", db.url.as_str())];
        env.extend(trusted.map(|t| ("PRICEGATE_TRUSTED_PROXIES", t)));
        let server = ServerProcess::start_logged(&env).await;
        for client_address in ["203.0.113.7", "203.0.113.8"] {
            let r = client
                .post(format!("{}/api/v1/auth/token", server.base))
                .header("X-Forwarded-For", client_address)
                .json(&json!({"email": "nobody@pricegate.test", "password": "not-a-password"}))
                .send()
                .await;
            assert_eq!(r.expect("an answer").status(), 401);
        }
        let log = server.log();
        let warned = log.lines().filter(|l| l.contains("PRICEGATE_TRUSTED_PROXIES does not name")).count();
        assert_eq!(warned, said, "trusted {trusted:?}: {log}");
        if said > 0 {
            assert!(log.contains("peer=127.0.0.1"), "{log}");
        }
        server.kill().await;
    }
}

/// A command that finds no SQLite file where `DATABASE_URL` points says,
/// with the whole path, that it makes a new one there; a start refused before
/// it touches the database (its address taken) neither says so nor makes one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sqlite_file_is_said_as_it_is_made_and_only_then() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("new.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address").to_string();
    let env = [("DATABASE_URL", url.as_str()), ("PRICEGATE_BIND", address.as_str())];
    let out = pricegate_in(dir.path(), "serve", &env).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("another process listens there") && !said.contains("there is no database"), "{said}");
    assert!(!file.exists(), "no database made by a start that was refused");
    drop(taken);
    let made = format!("there is no database at {}: a new, empty one is made there\n", file.display());
    let out = pricegate_in(dir.path(), "migrate", &env[..1]).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    // Named by its whole path, it is not said to be found from the working directory.
    assert!(out.status.success() && said.contains(&made) && file.exists(), "{said}");
    let out = pricegate_in(dir.path(), "migrate", &env[..1]).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !said.contains("there is no database"), "there is one now: {said}");
}

/// SQLite's own words for a file it cannot open name neither the file nor
/// what to do: the start adds both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_that_cannot_be_opened_is_named_at_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("no-such-directory").join("pricegate.db");
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    let out =
        pricegate_in(dir.path(), "migrate", &[("DATABASE_URL", url.as_str())]).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("the file is {}: does its directory exist", missing.display())),
        "the file and what to check: {said}"
    );
    assert!(!said.contains("a new, empty one is made there"), "none is made where there is no directory: {said}");
    // A directory named where the file should be.
    let url = format!("sqlite://{}?mode=rwc", dir.path().display());
    let out =
        pricegate_in(dir.path(), "migrate", &[("DATABASE_URL", url.as_str())]).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("{} is a directory: name a file in it", dir.path().display())), "{said}");
}

/// A database that answers reads but refuses writes (a SQLite file opened
/// read-only, a PostgreSQL standby or a database whose transactions are
/// read-only by default) would pass `/healthz` and fail every change: the
/// start refuses it, saying what to mend, and serves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_refuses_writes_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = pricegate_in(dir.path(), "migrate", &[]).output().await.expect("pricegate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.path().join("pricegate.db");
    // A healthy file another process is writing to is not refused: the
    // check waits its turn for the write lock, as every write does.
    let other = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", file.display())).await.expect("opened");
    let writing = sea_orm::TransactionTrait::begin_with_options(
        &other,
        sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        },
    )
    .await
    .expect("the write lock held");
    let waiting = pricegate_in(dir.path(), "migrate", &[]).output();
    let release = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        writing.commit().await.expect("released");
    };
    let (out, ()) = tokio::join!(waiting, release);
    let out = out.expect("pricegate runs");
    assert!(out.status.success(), "waited, then went on: {}", String::from_utf8_lossy(&out.stderr));
    let _ = other.close().await;
    // Read-only, a file not there is said so, and not made.
    let missing = dir.path().join("none.db");
    let url = format!("sqlite://{}?mode=ro", missing.display());
    let out = pricegate_in(dir.path(), "migrate", &[("DATABASE_URL", url.as_str())]).output().await.expect("runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("there is no file {} to open read-only (mode=ro)", missing.display())), "{said}");
    assert!(!said.contains("a new, empty one is made there") && !missing.exists(), "{said}");
    let read_only = format!("sqlite://{}?mode=ro", file.display());
    let out = pricegate_in(dir.path(), "serve", &[("DATABASE_URL", read_only.as_str())])
        .output()
        .await
        .expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"), "it serves nothing");
    assert!(
        said.starts_with("pricegate: cannot write to the database named by DATABASE_URL")
            && said.contains(&format!("DATABASE_URL opens the file {} read-only (mode=ro)", file.display())),
        "{said}"
    );

    let db = pricegate_tests::db::TestDb::create(pricegate_tests::Backend::Postgres).await;
    let env = [("DATABASE_URL", db.url.as_str())];
    let out = pricegate_in(dir.path(), "migrate", &env).output().await.expect("pricegate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let name = db.url.rsplit('/').next().and_then(|n| n.split('?').next()).expect("a database name");
    let admin = sea_orm::Database::connect(pricegate_tests::db::pg_server_url()).await.expect("PostgreSQL answers");
    // A role granted reading only: named, with the tables it may not add to.
    let role = format!("pricegate_reader_{}", uuid::Uuid::new_v4().simple());
    let owner = sea_orm::Database::connect(db.url.as_str()).await.expect("the test database answers");
    sea_orm::ConnectionTrait::execute_unprepared(
        &owner,
        &format!(
            "CREATE TABLE dba_copy AS SELECT 1 AS x; \
             CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA public TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"
        ),
    )
    .await
    .expect("a reading role");
    // A table that is not Pricegate's (a copy a DBA keeps) is not asked about.
    sea_orm::ConnectionTrait::execute_unprepared(&owner, &format!("REVOKE ALL ON dba_copy FROM {role}"))
        .await
        .expect("revoked");
    let mut as_reader = reqwest::Url::parse(&db.url).expect("a URL");
    as_reader.set_username(&role).expect("a user name");
    as_reader.set_password(None).expect("no password");
    let out = pricegate_in(dir.path(), "migrate", &[("DATABASE_URL", as_reader.as_str())])
        .output()
        .await
        .expect("pricegate runs");
    // Gone before anything is asserted: a role outlives the test's database.
    sea_orm::ConnectionTrait::execute_unprepared(&owner, &format!("DROP OWNED BY {role}")).await.expect("revoked");
    let _ = owner.close().await;
    sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("DROP ROLE {role}")).await.expect("dropped");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with("pricegate: cannot write to the database named by DATABASE_URL")
            && said.contains("may not add rows to these tables: ack_tokens, acknowledgements,")
            && said.contains("grant it SELECT, INSERT, UPDATE, DELETE on them")
            && !said.contains("dba_copy"),
        "{said}"
    );
    sea_orm::ConnectionTrait::execute_unprepared(
        &admin,
        &format!("ALTER DATABASE {name} SET default_transaction_read_only = on"),
    )
    .await
    .expect("the database made read-only");
    let _ = admin.close().await;
    let out = pricegate_in(dir.path(), "serve", &env).output().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with("pricegate: cannot write to the database named by DATABASE_URL")
            && said.contains("the database server accepts no writes (transaction_read_only is on"),
        "{said}"
    );
}

/// `pricegate healthcheck` (a container's HEALTHCHECK: the image has no
/// curl) asks the server at PRICEGATE_BIND for its `/healthz`: 0 while it
/// answers 200, 1 with why once nothing answers there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_command_asks_the_server_at_its_address() {
    let db = pricegate_tests::db::TestDb::create(pricegate_tests::Backend::Sqlite).await;
    let server = ServerProcess::start(&[("DATABASE_URL", db.url.as_str())]).await;
    let bind = server.base.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ask = || pricegate_in(dir.path(), "healthcheck", &[("PRICEGATE_BIND", bind.as_str())]).output();
    let out = ask().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.starts_with("healthy: {\"status\":\"ok\"}"), "{said}");
    assert!(!dir.path().join("pricegate.db").exists(), "asking makes no database");
    server.kill().await;
    let out = ask().await.expect("pricegate runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("nothing answers at {bind} (PRICEGATE_BIND)")), "{said}");

    // Another server there, answering a long page: its status and the page's start.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let bind = other.local_addr().expect("its address").to_string();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if let Ok((mut stream, _)) = other.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let page = format!("<html><body>{}</body></html>", "Not the page you want. ".repeat(400));
            let answer = format!("HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{page}", page.len());
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    let out = pricegate_in(dir.path(), "healthcheck", &[("PRICEGATE_BIND", bind.as_str())]).output().await.unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("answered HTTP/1.1 404 Not Found: <html><body>Not the page you want."), "{said}");
    assert!(said.contains("bytes in all)") && said.len() < 600, "{said}");
}

/// A command or option mistyped is refused with the one meant, and starts
/// nothing: no database is made.
#[tokio::test]
async fn a_mistyped_command_or_option_is_refused_with_the_one_meant() {
    let dir = tempfile::tempdir().expect("a directory");
    for (args, tip) in [(&["serv"][..], "'serve'"), (&["serve", "--dmeo"][..], "a similar argument exists: '--demo'")] {
        let out = pricegate_in(dir.path(), args[0], &[]).args(&args[1..]).output().await.expect("pricegate runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("tip: ") && said.contains(tip), "{args:?}: {said}");
    }
    assert!(!dir.path().join("pricegate.db").exists(), "nothing was started");
}
