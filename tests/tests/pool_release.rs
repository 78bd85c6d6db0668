//! What the PostgreSQL pool does with a connection it is given back.
//!
//! Upstream sqlx pings every connection given back to the pool: a round trip
//! per checkout, on the database every server process shares.
//! `vendor/sqlx-core` and `vendor/sqlx-postgres` skip it for a connection
//! that has settled (nothing queued, every reply read, no transaction open).
//! These tests hold that shortcut to the two things the ping was for: the
//! rollback of a dropped transaction goes out at once, and a connection that
//! broke mid-statement is dropped rather than handed to the next caller.

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
