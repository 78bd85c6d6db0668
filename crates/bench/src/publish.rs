//! One publication to 10,000 salespeople (issue 7): the real server on a
//! fresh PostgreSQL database, sending through a local SMTP sink. Measures
//! how long the publish request takes (the exclusive gate lock is held for
//! part of it: every finalisation waits) and how long until the sink has
//! accepted every salesperson's e-mail, both from the moment the publish
//! request is sent.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use pricegate_smtp_sink::SmtpSink;
use sea_orm::{ConnectionTrait, Database};

use crate::http::Conn;
use crate::server::{Server, TempDb, migrate};

pub const SALESPEOPLE: i64 = 10_000;
/// The targets of issue 7.
const PUBLISH_TARGET: Duration = Duration::from_secs(1);
const DELIVERY_TARGET: Duration = Duration::from_secs(20);
/// How long to wait for the last message before giving up on counting.
const DELIVERY_LIMIT: Duration = Duration::from_secs(120);

const FINANCE_TOKEN: &str = "benchtoken-publisher";

pub struct PublishRun {
    pub salespeople: i64,
    pub publish: Duration,
    /// Publish request sent → the last of `salespeople` messages accepted;
    /// `None` if they had not all arrived within [`DELIVERY_LIMIT`].
    pub delivered: Option<Duration>,
    pub received: usize,
    /// Recipients who got more than one message.
    pub duplicates: usize,
}

/// Finance (with a bearer token) and `SALESPEOPLE` active salespeople.
async fn fill(url: &str) -> anyhow::Result<()> {
    let db = Database::connect(url).await?;
    let steps = [
        format!(
            "INSERT INTO users (id, email, name, name_key, role, password_hash, active, created_at, updated_at) \
             SELECT md5('publish-user-' || i)::uuid, 'sales-' || i || '@pricegate.test', 'Salesperson ' || i, 'salesperson ' || i, \
                    CASE WHEN i = 0 THEN 'finance' ELSE 'sales' END, '!', true, now() - interval '1 day', now() - interval '1 day' \
             FROM generate_series(0, {SALESPEOPLE}) AS i"
        ),
        format!(
            "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at, revoked_at) \
             VALUES (encode(sha256(convert_to('{FINANCE_TOKEN}', 'UTF8')), 'hex'), md5('publish-user-0')::uuid, now(), now() + interval '1 day', NULL)"
        ),
        "ANALYZE".to_owned(),
    ];
    for sql in steps {
        db.execute_unprepared(&sql).await.with_context(|| format!("generating data: {}", &sql[..sql.len().min(60)]))?;
    }
    db.close().await.ok();
    Ok(())
}

pub async fn run(binary: &Path, pool: Option<u32>, run_id: u32) -> anyhow::Result<PublishRun> {
    let db = TempDb::create(format!("pricegate_bench_publish_{run_id}")).await?;
    migrate(binary, &db.url()).await?;
    fill(&db.url()).await?;
    let sink = SmtpSink::bind().await.context("starting the SMTP sink")?;
    let maildir = std::env::temp_dir().join(format!("pricegate-bench-mail-{run_id}-publish"));
    let smtp_url = sink.url();
    let server =
        Server::start_with_env(binary, &db.url(), pool, maildir.clone(), &[("SMTP_URL", smtp_url.as_str())]).await?;

    let mut conn = Conn::new(&server.base);
    let draft = serde_json::json!({
        "title": "List prices from 1 January",
        "body": "All **list prices** rise by 4% from 1 January.\n\nQuotes drafted before today need your acknowledgement before they can be finalised.",
        "changes": [],
    })
    .to_string();
    let created = conn.request("POST", "/api/v1/notices", Some(FINANCE_TOKEN), Some(&draft)).await?;
    anyhow::ensure!(created.status == 201, "creating the notice: {}", created.status);
    let id = serde_json::from_slice::<serde_json::Value>(&created.body)?["id"]
        .as_str()
        .context("notice without id")?
        .to_owned();

    eprintln!("publish: publishing to {SALESPEOPLE} salespeople");
    let started = Instant::now();
    let published = conn.request("POST", &format!("/api/v1/notices/{id}/publish"), Some(FINANCE_TOKEN), None).await?;
    let publish = started.elapsed();
    anyhow::ensure!(published.status == 200, "publishing: {}", published.status);
    let all = sink.wait_for_count(SALESPEOPLE as usize, DELIVERY_LIMIT.saturating_sub(started.elapsed())).await;
    let delivered = all.then(|| started.elapsed());
    eprintln!("publish: request {publish:?}, all delivered after {delivered:?}");

    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    let messages = sink.messages();
    for to in messages.iter().flat_map(|m| &m.to) {
        *per_recipient.entry(to.clone()).or_default() += 1;
    }
    let run = PublishRun {
        salespeople: SALESPEOPLE,
        publish,
        delivered,
        received: messages.len(),
        duplicates: per_recipient.values().filter(|n| **n > 1).count(),
    };
    server.stop().await?;
    db.drop_now().await?;
    std::fs::remove_dir_all(&maildir).ok();
    Ok(run)
}

/// The run's rows of the results table.
pub fn rows(r: &mut String, run: &PublishRun) -> std::fmt::Result {
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    writeln!(
        r,
        "| publish a notice to {} salespeople, `POST /notices/{{id}}/publish` | {:.1} ms | — | — | < {} ms | {} |",
        run.salespeople,
        run.publish.as_secs_f64() * 1e3,
        PUBLISH_TARGET.as_millis(),
        yes(run.publish < PUBLISH_TARGET)
    )?;
    let (figure, met) = match run.delivered {
        Some(d) => (
            format!(
                "{:.1} s ({:.0} msg/s, {} recipients got more than one)",
                d.as_secs_f64(),
                run.salespeople as f64 / d.as_secs_f64(),
                run.duplicates
            ),
            d < DELIVERY_TARGET,
        ),
        None => (format!("only {} received in {} s", run.received, DELIVERY_LIMIT.as_secs()), false),
    };
    writeln!(
        r,
        "| its {} e-mails accepted by an SMTP server on 127.0.0.1, from the publish request | {figure} | — | — | < {} s | {} |",
        run.salespeople,
        DELIVERY_TARGET.as_secs(),
        yes(met)
    )
}
