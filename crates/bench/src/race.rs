//! Finalisations racing publications during the load, and the check that
//! no quote was finalised past a notice its signer had not acknowledged.

use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::generate::{Scale, signer_of};
use crate::http;
use crate::load::{self, Job, Method};

/// What the race did: finalisations that went through, refusals by the
/// gate (`409`), any other failure, and the notices published meanwhile.
pub struct Race {
    pub finalised: usize,
    pub refused: usize,
    pub errors: usize,
    pub published: i64,
}

/// Finalisations racing publications: the signers try their ready quotes
/// while finance publishes notices (empty of price changes) as fast as it
/// can.
pub async fn race(
    base: &str,
    quote_ids: &[String],
    scale: Scale,
    quotes: &[i64],
    concurrency: usize,
) -> anyhow::Result<Race> {
    let finance = "benchtoken-0";
    let stop = Instant::now() + Duration::from_secs(5);
    let publisher = {
        let mut conn = http::Conn::new(base);
        tokio::spawn(async move {
            let mut published = 0i64;
            while Instant::now() < stop {
                let draft =
                    serde_json::json!({"title": format!("Race notice {published}"), "body": "Raced.", "changes": []})
                        .to_string();
                let created = conn.request("POST", "/api/v1/notices", Some(finance), Some(&draft)).await?;
                anyhow::ensure!(created.status == 201, "creating a notice: {}", created.status);
                let draft: serde_json::Value = serde_json::from_slice(&created.body)?;
                let id = draft["id"].as_str().context("notice without id")?.to_owned();
                let done = conn.request("POST", &format!("/api/v1/notices/{id}/publish"), Some(finance), None).await?;
                anyhow::ensure!(done.status == 200, "publishing a notice: {}", done.status);
                published += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok::<_, anyhow::Error>(published)
        })
    };
    let jobs = quotes
        .iter()
        .map(|q| Job {
            path: format!("/api/v1/quotes/{}/finalise", quote_ids[*q as usize]),
            token: format!("benchtoken-{}", signer_of(scale, *q)),
        })
        .collect();
    let outcome = load::run(base, Method::Post, jobs, false, concurrency, Duration::from_secs(5)).await?;
    let published = publisher.await??;
    // A refusal (409 pending_acknowledgements) is the gate doing its work;
    // anything else that failed is not.
    Ok(Race {
        finalised: outcome.requests - outcome.failures,
        refused: outcome.conflicts,
        errors: outcome.failures - outcome.conflicts,
        published,
    })
}

/// Finalised quotes whose signer had not acknowledged, before finalisation,
/// a notice published between drafting and finalisation: must be none.
pub async fn violations(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM quotes q JOIN notices n ON n.state = 'published' \
               AND n.published_at > q.drafted_at AND n.published_at < q.finalised_at \
             WHERE q.state = 'finalised' AND NOT EXISTS (SELECT 1 FROM acknowledgements a \
               WHERE a.notice_id = n.id AND a.user_id = q.signer_id AND a.acknowledged_at <= q.finalised_at)",
        ))
        .await?
        .context("no count")?;
    Ok(row.try_get("", "n")?)
}
