//! Dependencies failing: PostgreSQL going away under a running server, and a
//! client that sends its request slower than the server will wait.
//!
//! The database test runs its own PostgreSQL cluster in a temporary directory
//! (never the machine's shared one): it stops it with `pg_ctl -m immediate`,
//! as a crash would, and starts it again.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pricegate_tests::process::{ServerProcess, run_command};
use pricegate_tests::{Backend, PASSWORD, TestDb};
use serde_json::{Value, json};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of this test's own, run as the `postgres` OS user
/// (initdb refuses root); stopped and removed when dropped.
struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    fn create() -> PrivateCluster {
        let dir = tempfile::Builder::new().prefix("pricegate-pg-").tempdir().expect("a temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        as_postgres(&format!("chown postgres {}", dir.path().display()), true);
        let cluster = PrivateCluster { dir, port };
        cluster.pg(&format!("{PG_BIN}/initdb -A trust -U postgres -D {} > /dev/null", cluster.data().display()));
        cluster.start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        self.pg(&format!(
            "{PG_BIN}/pg_ctl -D {data} -l {dir}/log -o \"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off\" -w start > /dev/null",
            data = self.data().display(),
            dir = self.dir.path().display(),
            port = self.port
        ));
    }

    /// As a crash would: no checkpoint, connections cut.
    fn stop(&self) {
        self.pg(&format!("{PG_BIN}/pg_ctl -D {} -m immediate -w stop > /dev/null", self.data().display()));
    }

    fn pg(&self, command: &str) {
        as_postgres(command, false);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args(["postgres", "-c", &format!("{PG_BIN}/pg_ctl -D {} -m immediate stop", self.data().display())])
            .output();
    }
}

/// Runs `command` with `sh`, as root when `root` (to hand a directory over), else as `postgres`.
fn as_postgres(command: &str, root: bool) {
    let out = if root {
        Command::new("sh").args(["-c", command]).output()
    } else {
        Command::new("su").args(["postgres", "-c", command]).output()
    }
    .expect("a shell");
    assert!(out.status.success(), "`{command}` failed: {}", String::from_utf8_lossy(&out.stderr));
}

async fn call(client: &reqwest::Client, method: reqwest::Method, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client.request(method, url).timeout(Duration::from_secs(30));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("the server did not answer: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_going_away_gives_503s_with_the_error_body_and_the_service_recovers_by_itself() {
    let cluster = PrivateCluster::create();
    let url = cluster.url();
    let maildir = cluster.dir.path().join("mail-out");
    let maildir = maildir.to_str().expect("a UTF-8 path");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("PRICEGATE_MAILDIR", maildir),
        ("PRICEGATE_REQUEST_TIMEOUT", "20s"),
        ("RUST_LOG", "info"),
    ];
    let email = "admin@faults.pricegate.test";
    run_command(
        &["user", "create", "--email", email, "--name", "Faults Admin", "--role", "admin", "--password-stdin"],
        &env,
        PASSWORD,
    )
    .await;
    let server = ServerProcess::start_logged(&env).await;
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("the login answers");
    let token = login.json::<Value>().await.expect("a JSON login")["token"].as_str().expect("a token").to_owned();
    let users = format!("{}/api/v1/users", server.base);
    let healthz = format!("{}/healthz", server.base);
    assert_eq!(call(&client, reqwest::Method::GET, users.clone(), Some(&token)).await.0, 200);

    cluster.stop();
    // Each answer waits for the pool to give up on the database: ask all at once.
    for _ in 0..2 {
        let login = client
            .post(format!("{}/api/v1/auth/token", server.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .timeout(Duration::from_secs(30))
            .send();
        let ((h_status, h_body), (u_status, u_body), login) = tokio::join!(
            call(&client, reqwest::Method::GET, healthz.clone(), None),
            call(&client, reqwest::Method::GET, users.clone(), Some(&token)),
            login
        );
        assert_eq!(h_status, 503, "/healthz with the database down: {h_body}");
        assert_eq!(h_body["error"]["code"], "unavailable", "{h_body}");
        assert_eq!(u_status, 503, "GET /api/v1/users with the database down: {u_body}");
        assert_eq!(u_body["error"]["code"], "unavailable", "{u_body}");
        assert!(u_body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{u_body}");
        let login = login.expect("the login answers");
        assert_eq!(login.status(), 503, "a login with the database down");
        let body: Value = login.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
    }

    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = call(&client, reqwest::Method::GET, healthz.clone(), None).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover within 60 s of the database returning");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = call(&client, reqwest::Method::GET, users, Some(&token)).await;
    assert_eq!(status, 200, "{body}");

    // The mail worker, polling each second throughout, said when the outage
    // began and when it ended: a line each, not one a poll.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("the database answers again") {
        assert!(Instant::now() < deadline, "the worker did not say the database answers again: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log();
    let began: Vec<&str> = log.lines().filter(|l| l.contains("the database is unavailable; the mail worker")).collect();
    assert_eq!(began.len(), 1, "{log}");
    assert!(began[0].contains("WARN") && began[0].contains("cause="), "with its cause: {log}");
    assert!(!log.contains("could not claim mail") && !log.contains("could not enqueue reminders"), "{log}");
    // So did the health check, failed twice and more while it polled: a
    // failure with its cause, another only where the cause changed, and
    // how many there were once it passed.
    let cause = |line: &str| line.split("cause=").nth(1).map(str::to_owned);
    let failed: Vec<&str> =
        log.lines().filter(|l| l.contains("request failed") && l.contains("path=/healthz")).collect();
    assert!(!failed.is_empty() && failed.iter().all(|l| cause(l).is_some()), "{log}");
    assert!(failed.windows(2).all(|w| cause(w[0]) != cause(w[1])), "a cause said again in a row: {log}");
    let passed: Vec<&str> = log.lines().filter(|l| l.contains("the health check passes again")).collect();
    assert_eq!(passed.len(), 1, "{log}");
    let count = passed[0].split("failed=").nth(1).and_then(|n| n.split_whitespace().next()?.parse::<u64>().ok());
    assert!(count.is_some_and(|n| n >= 2), "{log}");
    server.kill().await;
}

/// Sends the headers of a request and part of its body, then nothing more.
fn start_slow_request(addr: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"email\":"
    );
    stream.write_all(head.as_bytes()).expect("send the start of the request");
    stream
}

/// The status, the head in lower case, and the JSON body of the answer.
fn read_answer(mut stream: TcpStream) -> (u16, String, Value) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // The server closes the connection after answering a request whose body it did not read.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && serde_json::from_str::<Value>(body).is_ok()
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_slower_than_the_timeout_gets_a_503_timeout_and_cannot_hold_the_server() {
    let db = TestDb::create(Backend::Sqlite).await;
    let maildir = db.dir().join("mail-out");
    let maildir = maildir.to_str().expect("a UTF-8 path");
    let env = [("DATABASE_URL", db.url.as_str()), ("PRICEGATE_MAILDIR", maildir), ("PRICEGATE_REQUEST_TIMEOUT", "2s")];
    let server = ServerProcess::start(&env).await;
    let addr = server.base.trim_start_matches("http://").to_owned();

    // Many slow clients at once, then ordinary requests that must still be answered promptly.
    let slow: Vec<TcpStream> = (0..64).map(|_| start_slow_request(&addr, "/api/v1/auth/token")).collect();
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = client.get(format!("{}/healthz", server.base)).timeout(Duration::from_secs(5)).send().await;
        assert!(r.as_ref().is_ok_and(|r| r.status() == 200), "/healthz while slow clients hang: {r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "/healthz took {:?} while slow clients hang",
            started.elapsed()
        );
    }

    let started = Instant::now();
    let answers = tokio::task::spawn_blocking(move || slow.into_iter().map(read_answer).collect::<Vec<_>>())
        .await
        .expect("reading the answers");
    for (status, head, body) in &answers {
        assert_eq!(*status, 503, "a request whose body never arrives: {body}");
        assert_eq!(body["error"]["code"], "timeout", "{body}");
        assert!(head.contains("x-content-type-options: nosniff") && head.contains("x-frame-options: deny"), "{head}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the slow requests were answered after {:?}",
        started.elapsed()
    );
    server.kill().await;
}

/// Whether the server has closed `stream`: its read ends (or is reset)
/// rather than waiting out the client's own read timeout.
fn closed_by_server(stream: &mut TcpStream) -> Result<(), String> {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(format!("still open: {e}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_or_idles_is_disconnected_after_the_timeout() {
    let db = TestDb::create(Backend::Sqlite).await;
    let maildir = db.dir().join("mail-out");
    let maildir = maildir.to_str().expect("a UTF-8 path");
    let env = [("DATABASE_URL", db.url.as_str()), ("PRICEGATE_MAILDIR", maildir), ("PRICEGATE_IDLE_TIMEOUT", "2s")];
    let server = ServerProcess::start(&env).await;
    let addr = server.base.trim_start_matches("http://").to_owned();

    // Many clients stall partway through their headers; one more, after a
    // first answer, keeps its connection open and sends nothing.
    let mut stalled: Vec<TcpStream> = (0..64)
        .map(|i| {
            let mut stream = TcpStream::connect(&addr).expect("connect");
            let head = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow-{i}: ");
            stream.write_all(head.as_bytes()).expect("send the start of the headers");
            stream
        })
        .collect();
    let mut idle = TcpStream::connect(&addr).expect("connect");
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).expect("send a request");
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).expect("an answer");
    assert_eq!(&answer, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&answer));

    // Meanwhile everyone else is served.
    let r = reqwest::get(format!("{}/healthz", server.base)).await.expect("/healthz");
    assert_eq!(r.status(), 200);

    // All closed within a few timeouts' time, however long the clients would wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    stalled.push(idle);
    let outcomes = tokio::task::spawn_blocking(move || {
        stalled
            .iter_mut()
            .map(|stream| {
                let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
                stream.set_read_timeout(Some(left)).expect("a read timeout");
                closed_by_server(stream)
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("reading");
    for outcome in &outcomes {
        assert_eq!(outcome, &Ok(()), "a connection the server should have closed within 10 s");
    }
    server.kill().await;
}

/// A full disk (SQLite's page limit standing in for it): a write is
/// refused, 503 `unavailable`, saying the database cannot be written and
/// nothing was changed; reading goes on; and once there is room again,
/// logging in (a session written) and writing work at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_disk_on_sqlite_everything_works_again_once_there_is_room() {
    use sea_orm::ConnectionTrait;
    let app =
        pricegate_tests::TestApp::spawn_with(pricegate_tests::Backend::Sqlite, |s| s.db_max_connections = 2).await;
    let (finance, _) = app.user(pricegate_domain::Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(pricegate_domain::Role::Sales, "Sam").await;
    let conn = app.store.connection();
    let statement = |sql: String| sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql);
    let row = conn.query_one_raw(statement("PRAGMA page_count".into())).await.unwrap().expect("a page count");
    let pages: i64 = row.try_get_by_index(0).unwrap();
    // On each of the pool's two connections (the limit is a connection's
    // own): both held at once, so that neither is left out.
    let limit = |pages: i64| async move {
        use sea_orm::TransactionTrait;
        let held = [conn.begin().await.unwrap(), conn.begin().await.unwrap()];
        for txn in &held {
            txn.execute_raw(statement(format!("PRAGMA max_page_count = {pages}"))).await.unwrap();
        }
        for txn in held {
            txn.commit().await.unwrap();
        }
    };
    limit(pages + 3).await;
    let notice = |title: &str| serde_json::json!({"title": title, "body": "x".repeat(19_000)});
    let mut refused = 0;
    for i in 0..6 {
        let r = finance.post("/api/v1/notices", &notice(&format!("Notice {i}"))).await;
        if r.status == 503 {
            pricegate_tests::fixtures::assert_error(&r, 503, "unavailable");
            assert!(
                r.text.contains("cannot write to its database right now") && r.text.contains("nothing was changed"),
                "{}",
                r.text
            );
            refused += 1;
        } else {
            assert_eq!(r.status, 201, "{}", r.text);
        }
        assert_eq!(sam.get("/api/v1/quotes").await.status, 200, "reading goes on");
    }
    assert!(refused >= 4, "{refused} of 6 refused");
    limit(1_073_741_823).await;
    for i in 0..4 {
        let again = app.login(&sam_user.email, pricegate_tests::PASSWORD).await;
        assert_eq!(again.get("/api/v1/me").await.status, 200);
        let r = finance.post("/api/v1/notices", &notice(&format!("After {i}"))).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.stop().await;
}

/// A power cut loses nothing SQLite answered for: every connection of the
/// pool writes ahead (WAL) and syncs each commit to disk (`synchronous=FULL`,
/// 2), not only at checkpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_syncs_each_commit_to_disk_before_answering() {
    use sea_orm::ConnectionTrait;
    let app =
        pricegate_tests::TestApp::spawn_with(pricegate_tests::Backend::Sqlite, |s| s.db_max_connections = 3).await;
    let conn = app.store.connection();
    let statement = |sql: &str| sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql.to_owned());
    // Three transactions at once hold three connections of the pool.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(sea_orm::TransactionTrait::begin(conn).await.expect("a connection"));
    }
    for txn in &held {
        let synchronous = txn.query_one_raw(statement("PRAGMA synchronous")).await.unwrap().expect("a row");
        assert_eq!(synchronous.try_get_by_index::<i64>(0).unwrap(), 2, "FULL");
        let journal = txn.query_one_raw(statement("PRAGMA journal_mode")).await.unwrap().expect("a row");
        assert_eq!(journal.try_get_by_index::<String>(0).unwrap(), "wal");
    }
}

/// Every connection of a process's pool held (by requests waiting on a lock,
/// say): its health check fails, saying that it is this process's
/// connections that are all in use, not that the database does not answer;
/// given one back, it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_with_every_connection_in_use_says_so_rather_than_blaming_the_database() {
    use sea_orm::TransactionTrait;
    let app = pricegate_tests::TestApp::spawn_with(Backend::Postgres, |s| s.db_max_connections = 2).await;
    let conn = app.store.connection();
    let first = conn.begin().await.expect("a first connection");
    let second = conn.begin().await.expect("a second connection");
    let err = app.store.ping(Duration::from_millis(500)).await.expect_err("no connection to ask on");
    let cause = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(
        cause.contains("all 2 of this process's database connections stayed in use for 500ms")
            && cause.contains("waiting on a lock"),
        "{cause}"
    );
    let r = reqwest::get(format!("{}/healthz", app.base)).await.expect("an answer");
    assert_eq!(r.status(), 503);
    drop(first);
    app.store.ping(Duration::from_secs(2)).await.expect("one connection back: the check answers");
    drop(second);
}

/// PostgreSQL ends every connection of the service (a failover, an
/// administrator): the health check asks again on a fresh connection and
/// answers at once, rather than failing once for each dead one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_answers_at_once_after_the_database_ended_every_connection() {
    use sea_orm::ConnectionTrait;
    let app = pricegate_tests::TestApp::spawn_with(Backend::Postgres, |s| s.db_max_connections = 10).await;
    let healthz = format!("{}/healthz", app.base);
    for round in 0..3 {
        // Every connection busy a moment ago, so the pool hands them out unchecked.
        let mut busy = tokio::task::JoinSet::new();
        for _ in 0..10 {
            busy.spawn(reqwest::get(healthz.clone()));
        }
        while let Some(r) = busy.join_next().await {
            assert_eq!(r.expect("the request ran").expect("an answer").status(), 200);
        }
        let ended = app
            .store
            .connection()
            .execute_unprepared(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .await;
        assert!(ended.is_ok(), "{ended:?}");
        let r = reqwest::get(&healthz).await.expect("an answer");
        assert_eq!(r.status(), 200, "round {round}: {}", r.text().await.unwrap_or_default());
    }
}

/// PostgreSQL ends every connection of the service (a failover, an
/// administrator): the next requests are answered, reads and writes, by
/// browser and by API, rather than one 503 for each dead connection the pool
/// hands out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_after_the_database_ended_every_connection_are_answered() {
    use pricegate_tests::fixtures::{create_product, draft_quote, id_of, publish_price_change};
    use sea_orm::ConnectionTrait;
    let app = pricegate_tests::TestApp::spawn_with(Backend::Postgres, |s| s.db_max_connections = 10).await;
    let administrator = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a connection of the test's own");
    let (finance, _) = app.user(pricegate_domain::Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(pricegate_domain::Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
    let cookie = pricegate_tests::pages::session_cookie(&app.base, &sam_user.email).await;
    let page = |path: String| {
        let cookie = cookie.clone();
        async move {
            let r = pricegate_tests::pages::client().get(path).header(reqwest::header::COOKIE, cookie).send().await;
            r.expect("an answer").status().as_u16()
        }
    };
    for round in 0..3 {
        // Every connection busy a moment ago, so the pool hands them out unchecked.
        let mut busy = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let sam = sam.clone();
            busy.spawn(async move { sam.get("/api/v1/quotes").await.status });
        }
        while let Some(status) = busy.join_next().await {
            assert_eq!(status.expect("the request ran"), 200);
        }
        // From a connection of its own: every one of the service's ends.
        let ended = administrator
            .execute_unprepared(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .await;
        assert!(ended.is_ok(), "{ended:?}");
        let listed = sam.get("/api/v1/quotes").await;
        assert_eq!(listed.status, 200, "round {round}: {}", listed.text);
        assert_eq!(page(format!("{}/quotes/{quote}", app.base)).await, 200, "round {round}");
        let notice = publish_price_change(&finance, "P-1", 1_000 + round, "2099-01-01").await;
        let acknowledged = sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
        assert_eq!(acknowledged.status, 200, "round {round}: {}", acknowledged.text);
    }
}

/// Lines of `log` at `level` (`WARN`, `DEBUG`) that contain `text`.
fn lines_at(log: &str, level: &str, text: &str) -> usize {
    log.lines().filter(|l| l.contains(level) && l.contains(text)).count()
}

/// A mail server that is down while mail keeps being retried is logged once
/// as a warning (then at debug level, and as a warning again only every ten
/// minutes), not once a batch; when mail goes out again, that is said too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_down_is_told_once_while_mail_is_retried_and_its_return_is_told() {
    let sink = pricegate_tests::smtp::SmtpSink::start().await;
    sink.stop();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("pricegate.db").display());
    let smtp = sink.url();
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("SMTP_URL", smtp.as_str()),
        ("MAIL_FROM", "Pricegate <pricegate@pricegate.test>"),
        ("PRICEGATE_WORKER_POLL", "200ms"),
        ("RUST_LOG", "warn,pricegate_mail=debug"),
    ];
    // The demo's price increase: one e-mail, to Sam, for the worker to try.
    let printed = run_command(&["demo"], &env, "").await;
    assert!(printed.contains("Demo company added"), "{printed}");
    let server = ServerProcess::start_logged(&env).await;
    let down = "no mail server answers at SMTP_URL's address";
    let deadline = Instant::now() + Duration::from_secs(60);
    // Three tries, a batch each, a second or more apart (the retries' backoff).
    while lines_at(&server.log(), "DEBUG", down) < 2 {
        assert!(Instant::now() < deadline, "three failed tries within 60 s: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lines_at(&server.log(), "WARN", down), 1, "told once: {}", server.log());

    sink.restart().await;
    assert!(sink.wait_for_count(1, Duration::from_secs(60)).await, "Sam's e-mail goes once the server is back");
    let back = "mail is going out again";
    while lines_at(&server.log(), "INFO", back) == 0 {
        assert!(Instant::now() < deadline + Duration::from_secs(60), "its return is told: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lines_at(&server.log(), "WARN", down), 1, "{}", server.log());
}
