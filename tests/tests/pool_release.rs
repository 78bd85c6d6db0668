//! What the PostgreSQL pool does with a connection it is given back.
//!
//! Upstream sqlx pings every connection given back to the pool: a round trip
//! per checkout, on the database every server process shares.
//! `vendor/sqlx-core` and `vendor/sqlx-postgres` skip it for a connection
//! that has settled (nothing queued, every reply read, no transaction open).
//! These tests hold that shortcut to the two things the ping was for: the
//! rollback of a dropped transaction goes out at once, and a connection that
//! broke mid-statement is dropped rather than handed to the next caller.
//! And no connection goes back to the pool inside a transaction: neither
//! one whose `BEGIN` was cut short nor one a plain `BEGIN` left in one.

use std::time::{Duration, Instant};

use pricegate_store::Store;
use pricegate_tests::{Backend, TestDb};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};

const LOCK_KEY: i64 = 7_391_004;

/// A store whose pool holds a single connection, so that the next statement
/// gets the connection the previous one gave back.
async fn one_connection_store(db: &TestDb) -> Store {
    Store::connect(&db.url, 1).await.expect("the store connects to its test database")
}

/// The first column of the first row `sql` returns.
async fn scalar<T: sea_orm::TryGetable>(conn: &impl ConnectionTrait, sql: &str) -> Result<T, sea_orm::DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(sql.to_owned()))?;
    row.try_get_by_index(0)
}

async fn scalar_bool(conn: &DatabaseConnection, sql: &str) -> bool {
    scalar(conn, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn a_dropped_transaction_releases_its_locks_when_the_connection_is_given_back() {
    let db = TestDb::create(Backend::Postgres).await;
    let store = one_connection_store(&db).await;
    let other = Database::connect(&db.url).await.expect("a second connection");

    let txn = store.connection().begin().await.expect("BEGIN");
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})")).await.expect("the lock");
    assert!(
        !scalar_bool(&other, &format!("SELECT pg_try_advisory_lock({LOCK_KEY})")).await,
        "the transaction holds the lock"
    );
    // Neither committed nor rolled back: the ROLLBACK is only queued on the
    // connection, which goes back to the pool and is not used again here.
    drop(txn);

    let deadline = Instant::now() + Duration::from_secs(5);
    while !scalar_bool(&other, &format!("SELECT pg_try_advisory_lock({LOCK_KEY})")).await {
        assert!(
            Instant::now() < deadline,
            "the dropped transaction still holds its lock 5 s later: its ROLLBACK was left queued on the idle pooled connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
    let _ = other.close().await;
}

#[tokio::test]
async fn a_connection_broken_mid_statement_is_not_handed_out_again() {
    let db = TestDb::create(Backend::Postgres).await;
    let store = one_connection_store(&db).await;
    let admin = Database::connect(&db.url).await.expect("a second connection");

    let pid = scalar::<i64>(store.connection(), "SELECT pg_backend_pid()::bigint").await.expect("the pooled backend");
    let sleeper = {
        let conn = store.connection().clone();
        tokio::spawn(async move { scalar::<i64>(&conn, "SELECT 1::bigint FROM pg_sleep(30)").await })
    };
    // Wait until the pooled connection is inside the statement, then end its
    // backend, as a failover or an administrator would.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !scalar_bool(
        &admin,
        &format!("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {pid} AND query LIKE '%pg_sleep%' AND state = 'active')"),
    )
    .await
    {
        assert!(Instant::now() < deadline, "the statement never started on backend {pid}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(scalar_bool(&admin, &format!("SELECT pg_terminate_backend({pid})")).await, "backend {pid} ended");
    let failed = tokio::time::timeout(Duration::from_secs(10), sleeper)
        .await
        .expect("the interrupted statement returns")
        .expect("the statement's task ran to its end");
    assert!(failed.is_err(), "a statement whose backend was ended fails: {failed:?}");

    // At once, well inside the half second after which a checkout pings an
    // idle connection: the pool's only connection must be a new one that works.
    let next = scalar::<i64>(store.connection(), "SELECT pg_backend_pid()::bigint").await;
    let next = next.unwrap_or_else(|e| panic!("the next statement got the broken connection back from the pool: {e}"));
    assert_ne!(next, pid, "the broken connection was handed out again");
    store.close().await;
    let _ = admin.close().await;
}

/// A statement that waited for a lock past the store's bound is given up by
/// PostgreSQL (`lock_timeout`), and the store reads that as the database
/// being unavailable for now (a 503 to a request, an outage to the worker),
/// not as a bug (a 500).
#[tokio::test]
async fn a_lock_waited_for_past_the_bound_is_given_up_as_unavailable() {
    let db = TestDb::create(Backend::Postgres).await;
    let store = Store::connect_bounded(&db.url, 1, Some(Duration::from_millis(300))).await.expect("the store connects");
    let other = Database::connect(&db.url).await.expect("a second connection");
    let holder = other.begin().await.expect("BEGIN");
    holder.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})")).await.expect("the lock");

    let started = Instant::now();
    let waited = store.connection().execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})")).await;
    let error = pricegate_store::StoreError::from(waited.expect_err("the wait is given up while the lock is held"));
    assert!(matches!(error, pricegate_store::StoreError::Unavailable(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "given up after {:?}", started.elapsed());
    // A statement that is slow rather than waiting goes on past the bound.
    let slow = scalar::<i64>(store.connection(), "SELECT 1::bigint FROM pg_sleep(0.6)").await;
    assert_eq!(slow.expect("a slow statement is not stopped"), 1);
    holder.rollback().await.expect("ROLLBACK");
    store.close().await;
    let _ = other.close().await;
}

/// A statement cut while it waits for a lock (its request given up by the
/// request timeout) that then fails on the server (`lock_timeout`), over
/// TLS: the pool gets its connection back, or a new one, never loses it.
/// Closing such a connection flushed its TLS stream, and rustls' flush with
/// nothing to write waited to read a reply the server never sends: the
/// connection stayed checked out for good, a pool of ten lost one to each
/// such timeout, and stopping the server waited on it.
#[tokio::test]
async fn a_statement_cut_while_it_waits_for_a_lock_leaves_its_connection_to_the_pool_over_tls() {
    let db = TestDb::create(Backend::Postgres).await;
    let tls = format!("{}{}sslmode=require", db.url, if db.url.contains('?') { '&' } else { '?' });
    let store = Store::connect_bounded(&tls, 1, Some(Duration::from_millis(300)))
        .await
        .expect("the store connects over TLS: PostgreSQL at 127.0.0.1 must have ssl = on");
    let ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    assert!(scalar_bool(store.connection(), ssl).await, "the pooled connection is not encrypted");
    let other = Database::connect(&db.url).await.expect("a second connection");
    let lock = format!("SELECT pg_advisory_xact_lock({LOCK_KEY})");
    // Several rounds: whether the server's replies come in one read or two
    // (which once let the flush through) is down to timing.
    for round in 0..5 {
        let holder = other.begin().await.expect("BEGIN");
        holder.execute_unprepared(&lock).await.expect("the lock");
        let cut = tokio::time::timeout(Duration::from_millis(100), store.connection().execute_unprepared(&lock)).await;
        assert!(cut.is_err(), "round {round}: the statement waits for the lock held elsewhere");
        // The server gives the wait up at 300 ms, while the lock is still held.
        tokio::time::sleep(Duration::from_millis(600)).await;
        holder.rollback().await.expect("ROLLBACK");
        let next =
            tokio::time::timeout(Duration::from_secs(15), scalar::<i64>(store.connection(), "SELECT 1::bigint")).await;
        assert!(
            matches!(next, Ok(Ok(1))),
            "round {round}: the pool's one connection never came back after a statement cut mid-wait: {next:?}"
        );
    }
    store.close().await;
    let _ = other.close().await;
}

/// Stopping does not wait for a connection whose statement a request cut
/// while it waited for a lock: its check on the way back to the pool waits
/// behind the same lock (up to `lock_timeout`), and the closing pool drops
/// it instead of waiting the stop's whole bound.
#[tokio::test]
async fn closing_the_store_does_not_wait_for_a_statement_cut_while_it_waits_for_a_lock() {
    let db = TestDb::create(Backend::Postgres).await;
    let store = Store::connect_bounded(&db.url, 1, Some(Duration::from_secs(30))).await.expect("the store connects");
    let other = Database::connect(&db.url).await.expect("a second connection");
    let holder = other.begin().await.expect("BEGIN");
    let lock = format!("SELECT pg_advisory_xact_lock({LOCK_KEY})");
    holder.execute_unprepared(&lock).await.expect("the lock");
    let cut = tokio::time::timeout(Duration::from_millis(100), store.connection().execute_unprepared(&lock)).await;
    assert!(cut.is_err(), "the statement waits for the lock held elsewhere");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    store.close().await;
    let took = started.elapsed();
    holder.rollback().await.expect("ROLLBACK");
    let _ = other.close().await;
    assert!(took < Duration::from_secs(5), "closing waited {took:?} for the connection behind the lock");
}

/// Whether two statements sent one after the other on `conn`, outside any
/// `Transaction`, run in a transaction each, as they do unless one that began
/// earlier is still open on the connection: each is given its own id.
async fn in_transactions_of_their_own(conn: &impl ConnectionTrait) -> bool {
    let id = "SELECT txid_current()";
    let first: i64 = scalar(conn, id).await.unwrap_or_else(|e| panic!("{id}: {e}"));
    let second: i64 = scalar(conn, id).await.unwrap_or_else(|e| panic!("{id}: {e}"));
    first != second
}

/// The connections to this database left inside a transaction, seen from
/// another connection.
const LEFT_IN_A_TRANSACTION: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'";

/// A connection given back inside a transaction no `Transaction` tracks (a
/// `BEGIN` run as a plain statement) is closed, not handed to the next
/// caller, whose statements would run inside it, hold its locks and read its
/// snapshot.
#[tokio::test]
async fn a_connection_given_back_inside_a_transaction_is_not_handed_out_again() {
    let db = TestDb::create(Backend::Postgres).await;
    let store = one_connection_store(&db).await;
    let other = Database::connect(&db.url).await.expect("a second connection");

    store.connection().execute_unprepared("BEGIN").await.expect("a plain BEGIN");
    assert!(
        in_transactions_of_their_own(store.connection()).await,
        "the next statements ran inside the transaction the one before began"
    );
    assert_eq!(scalar::<i64>(&other, LEFT_IN_A_TRANSACTION).await.expect("the count"), 0);
    store.close().await;
    let _ = other.close().await;
}

/// A `BEGIN` whose reply a request stops waiting for (its client gone, a
/// timeout) may have begun a transaction on the server: the connection goes
/// back to the pool with it rolled back. Upstream sqlx 0.9.0 counted the
/// transaction only once the reply came, so nothing rolled it back, and the
/// next request's statements ran inside it (`there is already a transaction
/// in progress` at its own `BEGIN`).
#[tokio::test]
async fn a_begin_cut_short_leaves_no_transaction_on_the_pooled_connection() {
    let db = TestDb::create(Backend::Postgres).await;
    let (proxied, stall) = stalling_proxy(&db.url).await;
    let store = Store::connect(&proxied, 1).await.expect("the store connects through the proxy");
    let other = Database::connect(&db.url).await.expect("a second connection");
    assert!(in_transactions_of_their_own(store.connection()).await, "the pooled connection works");
    let backend = "SELECT pg_backend_pid()::bigint";
    let pid: i64 = scalar(store.connection(), backend).await.expect("the pooled backend");

    // The server's replies held back from the BEGIN on: it reaches the
    // server, its reply does not reach the pool.
    stall.send_replace(Replies::HeldFromTheNextBegin);
    let cut = tokio::time::timeout(Duration::from_millis(300), store.connection().begin()).await;
    assert!(cut.is_err(), "the BEGIN waits for its reply");
    // The pooled connection's last statement, the BEGIN, or a ROLLBACK after it.
    let reached = "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query IN ('BEGIN', 'ROLLBACK')";
    let deadline = Instant::now() + Duration::from_secs(5);
    while scalar::<i64>(&other, reached).await.expect("the count") == 0 {
        assert!(Instant::now() < deadline, "the BEGIN never reached the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stall.send_replace(Replies::Passed);

    assert!(
        in_transactions_of_their_own(store.connection()).await,
        "the next statements ran inside the transaction the cut BEGIN began"
    );
    // Rolled back, the connection is kept: not closed (the pool's last
    // resort for one that comes back inside a transaction) and made again.
    assert_eq!(scalar::<i64>(store.connection(), backend).await.expect("the pooled backend"), pid);
    let txn = store.connection().begin().await.expect("BEGIN");
    // Of this database's: another test's may be inside one of its own.
    assert_eq!(scalar::<i64>(&txn, LEFT_IN_A_TRANSACTION).await.expect("the count"), 0);
    txn.commit().await.expect("COMMIT");
    assert_eq!(scalar::<i64>(&other, LEFT_IN_A_TRANSACTION).await.expect("the count"), 0);
    store.close().await;
    let _ = other.close().await;
}

/// What the proxy of [`stalling_proxy`] does with the server's replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replies {
    Passed,
    /// Passed until the client sends a `BEGIN`, then held back.
    HeldFromTheNextBegin,
    Held,
}

/// A proxy on 127.0.0.1 to the PostgreSQL server of `url` that passes
/// everything but the server's replies, which it holds back as the returned
/// switch says; and `url` through it, unencrypted, so that the proxy sees
/// each `BEGIN`.
async fn stalling_proxy(url: &str) -> (String, tokio::sync::watch::Sender<Replies>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (server, path) = rest.split_at(end);
    let server = if server.contains(':') { server.to_owned() } else { format!("{server}:5432") };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let at = listener.local_addr().expect("its address");
    let (switch, replies) = tokio::sync::watch::channel(Replies::Passed);
    let switch_inside = switch.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect(&server).await else { continue };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = upstream.into_split();
            let switch = switch_inside.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if buf[..n].windows(5).any(|w| w == b"BEGIN") {
                        switch.send_if_modified(|r| {
                            let armed = *r == Replies::HeldFromTheNextBegin;
                            if armed {
                                *r = Replies::Held;
                            }
                            armed
                        });
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            let mut replies = replies.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if replies.wait_for(|r| *r != Replies::Held).await.is_err()
                        || client_write.write_all(&buf[..n]).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let user = if user.is_empty() { String::new() } else { format!("{user}@") };
    let plain = if path.contains('?') { "&sslmode=disable" } else { "?sslmode=disable" };
    (format!("{scheme}://{user}{at}{path}{plain}"), switch)
}
