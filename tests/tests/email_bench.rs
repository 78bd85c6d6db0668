//! How long the worker takes to deliver one publication to 1,000
//! salespeople through a local SMTP server. A benchmark, not a test:
//!
//!     cargo test -p pricegate-tests --release --test email_bench -- --ignored --nocapture --test-threads 1
//!
//! (`PRICEGATE_BENCH_PEOPLE=10000` for ten thousand; PostgreSQL and SQLite
//! both run, one after the other with `--test-threads 1`.) `scripts/bench`
//! measures the same against the real release binary on PostgreSQL.

use std::time::{Duration, Instant};

use pricegate_domain::Role;
use pricegate_tests::Backend;
use pricegate_tests::fixtures::{create_notice, insert_users, publish_notice};
use pricegate_tests::smtp::{SmtpSink, spawn_with_mail};
use serde_json::json;

async fn deliver_one_publication(backend: Backend) {
    let people: usize = std::env::var("PRICEGATE_BENCH_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_millis(50)).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    // Straight into the table: hashing 1,000 passwords is not what we measure.
    let people_rows: Vec<(String, String, &str)> =
        (0..people).map(|i| (format!("bench-{i}@pricegate.test"), format!("Bench {i}"), "sales")).collect();
    insert_users(&app, fiona.id, &people_rows).await;
    let nid = create_notice(&finance, "Benchmark notice", json!([])).await;
    let started = Instant::now();
    publish_notice(&finance, &nid).await;
    let published = started.elapsed();
    assert!(sink.wait_for_count(people, Duration::from_secs(600)).await, "only {} of {people} arrived", sink.count());
    let delivered = started.elapsed();
    println!(
        "{backend:?}: publish request {published:?} (owes {people} messages: one fan-out row); all {people} delivered {delivered:?} after publishing ({:.0} msg/s)",
        people as f64 / delivered.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn bench_publication_to_1000_salespeople_on_sqlite() {
    deliver_one_publication(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn bench_publication_to_1000_salespeople_on_postgres() {
    deliver_one_publication(Backend::Postgres).await;
}
