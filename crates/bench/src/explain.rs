//! `EXPLAIN ANALYZE` of the statements one gate check and one finalisation
//! make, as the server sends them: prepared, with parameters, so PostgreSQL
//! may plan them generically after five executions, if the generic plan
//! looks no dearer than the custom ones. Each statement runs five times
//! before it is explained, so the plan shown is the one a long-running
//! server ends up with, generic or custom.
//!
//! The statements are copies of those in `pricegate_store` (`auth.rs`
//! `authenticate_token`, `quotes.rs` `load_quote`, `gate.rs`
//! `later_notices` and `lock_gate_and_quote`); keep them in step.

use std::fmt::Write as _;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

const PRICE_IN_FORCE: &str = "COALESCE((SELECT nc.unit_price_minor FROM notice_changes nc JOIN notices n ON n.id = nc.notice_id \
    WHERE nc.product_id = p.id AND n.state = 'published' AND nc.effective_on <= (clock_timestamp() AT TIME ZONE 'UTC')::date \
    ORDER BY nc.effective_on DESC, n.seq DESC, nc.position DESC LIMIT 1), p.unit_price_minor)";

/// Plans for quote `pending_quote` (with pending notices) and `ready_quote`
/// (all acknowledged), both generator indices.
pub async fn gate_plans(conn: &DatabaseConnection, pending_quote: i64, ready_quote: i64) -> anyhow::Result<String> {
    let load_quote = format!(
        "SELECT q.*, l.*, {PRICE_IN_FORCE} AS l_in_force FROM quotes q LEFT JOIN quote_lines l ON l.quote_id = q.id \
         LEFT JOIN products p ON p.id = l.product_id WHERE q.id = $1 ORDER BY l.position"
    );
    let later = |pending: bool| {
        if pending {
            "SELECT n.id, n.seq, n.title, n.body, n.published_at, c.sku, c.unit_price_minor, c.effective_on \
             FROM notices n \
             LEFT JOIN LATERAL (SELECT 1 AS acked FROM acknowledgements a \
               WHERE a.user_id = $1 AND a.notice_id = n.id LIMIT 1) a ON true \
             LEFT JOIN LATERAL (SELECT c.sku, c.unit_price_minor, c.effective_on, c.position FROM notice_changes c \
               WHERE c.notice_id = n.id OFFSET 0) c ON true \
             WHERE a.acked IS NULL AND n.state = 'published' AND n.published_at > $2 ORDER BY n.seq, c.position"
                .to_owned()
        } else {
            "SELECT n.id, n.seq, n.title, n.body, n.published_at, a.acknowledged_at, a.channel \
             FROM notices n LEFT JOIN LATERAL (SELECT a.acknowledged_at, a.channel FROM acknowledgements a \
               WHERE a.user_id = $1 AND a.notice_id = n.id LIMIT 1) a ON true \
             WHERE n.state = 'published' AND n.published_at > $2 ORDER BY n.seq"
                .to_owned()
        }
    };
    // EXECUTE takes values, not subqueries: read them first.
    let quote = |q: i64| format!("md5('quote-{q}')::uuid");
    let mut signer = Vec::new();
    let mut drafted = Vec::new();
    for q in [pending_quote, ready_quote] {
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT signer_id::text AS s, drafted_at::text AS d FROM quotes WHERE id = {}", quote(q)),
            ))
            .await?
            .context("no such quote")?;
        signer.push(format!("'{}'::uuid", row.try_get::<String>("", "s")?));
        drafted.push(format!("'{}'::timestamptz", row.try_get::<String>("", "d")?));
    }
    let statements = [
        (
            "bearer token and its user (every API request)",
            "SELECT u.*, t.expires_at, t.revoked_at, clock_timestamp() FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1"
                .to_owned(),
            "encode(sha256(convert_to('benchtoken-1', 'UTF8')), 'hex')".to_owned(),
        ),
        ("quote, lines and prices in force", load_quote, quote(pending_quote)),
        (
            "gate check: notices the signer has not acknowledged, with their changes",
            later(true),
            format!("{}, {}", signer[0], drafted[0]),
        ),
        (
            "finalise: every notice since drafting with the signer's acknowledgement",
            later(false),
            format!("{}, {}", signer[1], drafted[1]),
        ),
        (
            "finalise: gate row shared, quote row exclusive",
            "SELECT q.id FROM gate g, quotes q WHERE g.id = 1 AND q.id = $1 FOR SHARE OF g FOR UPDATE OF q".to_owned(),
            quote(ready_quote),
        ),
    ];
    // One connection for PREPARE/EXECUTE; rolled back, so the locks go too.
    let txn = conn.begin().await?;
    let mut out = String::new();
    for (i, (what, sql, args)) in statements.iter().enumerate() {
        txn.execute_unprepared(&format!("PREPARE bench_plan_{i} AS {sql}"))
            .await
            .with_context(|| format!("PREPARE {what}"))?;
        for _ in 0..5 {
            txn.execute_unprepared(&format!("EXECUTE bench_plan_{i}({args})")).await?;
        }
        let rows = txn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) EXECUTE bench_plan_{i}({args})"),
            ))
            .await
            .with_context(|| format!("EXPLAIN {what}"))?;
        writeln!(out, "-- {what}")?;
        for row in rows {
            let line: String = row.try_get_by_index(0)?;
            let short: String = line.chars().take(160).collect();
            writeln!(out, "{short}{}", if short.len() < line.len() { "…" } else { "" })?;
        }
    }
    txn.rollback().await?;
    Ok(out)
}

/// SQLite's `EXPLAIN QUERY PLAN` for the same statements in their SQLite
/// form (`quotes.rs` `load_quote`, `gate.rs` `later_notices`).
pub async fn sqlite_plans(lite: &DatabaseConnection) -> anyhow::Result<String> {
    let price = PRICE_IN_FORCE.replace("(clock_timestamp() AT TIME ZONE 'UTC')::date", "date('now')");
    let statements = [
        ("bearer token and its user", "SELECT u.*, t.expires_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?".to_owned()),
        (
            "quote, lines and prices in force",
            format!(
                "SELECT q.*, l.*, {price} AS l_in_force FROM quotes q LEFT JOIN quote_lines l ON l.quote_id = q.id \
                 LEFT JOIN products p ON p.id = l.product_id WHERE q.id = ? ORDER BY l.position"
            ),
        ),
        (
            "gate check: notices the signer has not acknowledged, with their changes",
            "SELECT n.id, c.sku FROM notices n INDEXED BY notices_published_at LEFT JOIN notice_changes c ON c.notice_id = n.id \
             WHERE NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.user_id = ? AND a.notice_id = n.id) \
               AND n.state = 'published' AND n.published_at > ? ORDER BY n.seq, c.position"
                .to_owned(),
        ),
        (
            "finalise: every notice since drafting with the signer's acknowledgement",
            "SELECT n.id, a.acknowledged_at FROM notices n INDEXED BY notices_published_at \
             LEFT JOIN acknowledgements a ON a.user_id = ? AND a.notice_id = n.id \
             WHERE n.state = 'published' AND n.published_at > ? ORDER BY n.seq"
                .to_owned(),
        ),
    ];
    let mut out = String::new();
    for (what, sql) in statements {
        let rows = lite
            .query_all_raw(Statement::from_string(DbBackend::Sqlite, format!("EXPLAIN QUERY PLAN {sql}")))
            .await
            .with_context(|| format!("EXPLAIN QUERY PLAN {what}"))?;
        writeln!(out, "-- {what}")?;
        for row in rows {
            let detail: String = row.try_get("", "detail")?;
            writeln!(out, "{detail}")?;
        }
    }
    Ok(out)
}
