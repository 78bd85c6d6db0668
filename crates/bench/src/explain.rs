//! `EXPLAIN ANALYZE` of the statements one gate check and one finalisation
//! make, as the server sends them: prepared, with parameters, so PostgreSQL
//! may plan them generically after five executions, if the generic plan
//! looks no dearer than the custom ones. Each statement runs five times
//! before it is explained, so the plan shown is the one a long-running
//! server ends up with, generic or custom.
//!
//! The statements are the store's own (`pricegate_store::sql`), so the plans
//! shown are those of the SQL the server sends.

use std::fmt::Write as _;

use anyhow::Context;
use pricegate_store::sql::{
    LOCK_GATE_AND_QUOTE, Reading, later_notices_sql, load_quote_sql, notices_to_acknowledge_sql, quote_gate_sql,
    token_user_sql,
};
use sea_orm::prelude::Uuid;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

/// Plans for quote `pending_quote` (with pending notices) and `ready_quote`
/// (all acknowledged), both generator indices.
pub async fn gate_plans(conn: &DatabaseConnection, pending_quote: i64, ready_quote: i64) -> anyhow::Result<String> {
    const PG: DbBackend = DbBackend::Postgres;
    // EXECUTE takes values, not subqueries: read them first.
    let quote = |q: i64| format!("md5('quote-{q}')::uuid");
    // The finalisation's reading takes the ready quote's signer and drafting time.
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT signer_id::text AS s, drafted_at::text AS d FROM quotes WHERE id = {}", quote(ready_quote)),
        ))
        .await?
        .context("no such quote")?;
    let (signer, drafted): (String, String) = (row.try_get("", "s")?, row.try_get("", "d")?);
    let statements = [
        (
            "bearer token and its user (every API request)",
            token_user_sql(PG).to_owned(),
            "encode(sha256(convert_to('benchtoken-1', 'UTF8')), 'hex')".to_owned(),
        ),
        (
            "gate check: the quote, its lines and prices in force, and the notices its signer has not acknowledged",
            quote_gate_sql().to_owned(),
            format!("{}, 'UTC'", quote(pending_quote)),
        ),
        ("finalise: gate lock shared, quote row exclusive", LOCK_GATE_AND_QUOTE.to_owned(), quote(ready_quote)),
        (
            "finalise: the quote, its lines and prices in force",
            load_quote_sql(PG),
            format!("{}, 'UTC'", quote(ready_quote)),
        ),
        (
            "finalise: every notice since drafting with the signer's acknowledgement",
            later_notices_sql(Reading::All, PG),
            format!("'{signer}'::uuid, '{drafted}'::timestamptz"),
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
        // Whether the server would plan this statement anew on every call.
        let cache = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'bench_plan_{i}'"),
            ))
            .await?
            .context("the prepared statement is missing")?;
        let (generic, custom): (i64, i64) = (cache.try_get("", "generic_plans")?, cache.try_get("", "custom_plans")?);
        writeln!(out, "-- {what} (plans after six executions: {generic} generic, {custom} custom)")?;
        for row in rows {
            let line: String = row.try_get_by_index(0)?;
            let short: String = line.chars().take(160).collect();
            writeln!(out, "{short}{}", if short.len() < line.len() { "…" } else { "" })?;
        }
    }
    txn.rollback().await?;
    out.push_str(&hand_over_plan(conn).await?);
    Ok(out)
}

/// The statement a hand-over's e-mails (and a named signer's) make: how many
/// notices each draft's signer must still acknowledge, for the drafts of
/// whoever owns the oldest one, whose signers have the most notices since.
/// Its IN list varies with the drafts, so it is explained as sent the first
/// time, with its values.
async fn hand_over_plan(conn: &DatabaseConnection) -> anyhow::Result<String> {
    let drafts: Vec<Uuid> = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id FROM quotes WHERE state = 'draft' AND owner_id = \
               (SELECT owner_id FROM quotes WHERE state = 'draft' ORDER BY drafted_at LIMIT 1)",
        ))
        .await?
        .iter()
        .map(|row| row.try_get("", "id"))
        .collect::<Result<_, _>>()?;
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {}", notices_to_acknowledge_sql(&drafts)),
        ))
        .await
        .context("EXPLAIN the notices to acknowledge")?;
    let mut out = format!(
        "-- hand-over: the notices each of {} drafts' signers must acknowledge first (values in place)\n",
        drafts.len()
    );
    for row in rows {
        let line: String = row.try_get_by_index(0)?;
        // Cut short: the IN list of uuids says nothing a reader needs.
        let short: String = line.chars().take(160).collect();
        writeln!(out, "{short}{}", if short.len() < line.len() { "…" } else { "" })?;
    }
    Ok(out)
}

/// SQLite's `EXPLAIN QUERY PLAN` for the same statements in their SQLite
/// form.
pub async fn sqlite_plans(lite: &DatabaseConnection) -> anyhow::Result<String> {
    const LITE: DbBackend = DbBackend::Sqlite;
    let statements = [
        ("bearer token and its user", token_user_sql(LITE).to_owned()),
        ("quote, lines and prices in force", load_quote_sql(LITE)),
        (
            "gate check: notices the signer has not acknowledged, with their changes",
            later_notices_sql(Reading::Pending, LITE),
        ),
        (
            "finalise: every notice since drafting with the signer's acknowledgement",
            later_notices_sql(Reading::All, LITE),
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
