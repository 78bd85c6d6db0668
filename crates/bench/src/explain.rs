//! `EXPLAIN ANALYZE` of the queries one gate check makes (see
//! `pricegate_store::gate::evaluate` and `prices_in_force`), written as the
//! ORM writes them, for quote 0: drafted before the latest 110 notices, ten
//! of them pending.

use std::fmt::Write as _;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

async fn scalar(conn: &DatabaseConnection, sql: &str) -> anyhow::Result<String> {
    let row = conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await?.context("no row")?;
    Ok(row.try_get("", "v")?)
}

pub async fn gate_plans(conn: &DatabaseConnection) -> anyhow::Result<String> {
    let quote = "md5('quote-0')::uuid";
    let drafted = scalar(conn, &format!("SELECT drafted_at::text AS v FROM quotes WHERE id = {quote}")).await?;
    let signer = scalar(conn, &format!("SELECT signer_id::text AS v FROM quotes WHERE id = {quote}")).await?;
    let later = scalar(
        conn,
        &format!("SELECT string_agg(quote_literal(id::text) || '::uuid', ',') AS v FROM notices WHERE state = 'published' AND published_at > '{drafted}'"),
    )
    .await?;
    let products = scalar(
        conn,
        &format!("SELECT string_agg(quote_literal(product_id::text) || '::uuid', ',') AS v FROM quote_lines WHERE quote_id = {quote}"),
    )
    .await?;
    let queries = [
        ("quote", format!("SELECT * FROM quotes WHERE id = {quote}")),
        ("lines", format!("SELECT * FROM quote_lines WHERE quote_id IN ({quote}) ORDER BY position")),
        (
            "notices published since drafting",
            format!("SELECT * FROM notices WHERE state = 'published' AND published_at > '{drafted}' ORDER BY seq"),
        ),
        (
            "the signer's acknowledgements of them",
            format!("SELECT * FROM acknowledgements WHERE user_id = '{signer}' AND notice_id IN ({later})"),
        ),
        (
            "price changes of pending notices",
            format!("SELECT * FROM notice_changes WHERE notice_id IN ({later}) ORDER BY position"),
        ),
        ("products on the quote", format!("SELECT * FROM products WHERE id IN ({products})")),
        (
            "prices in force",
            format!(
                "SELECT nc.product_id, nc.unit_price_minor FROM notice_changes nc JOIN notices n ON nc.notice_id = n.id \
                 WHERE n.state = 'published' AND nc.effective_on <= current_date AND nc.product_id IN ({products}) \
                 ORDER BY nc.effective_on, n.seq, nc.position"
            ),
        ),
        (
            "override",
            format!("SELECT * FROM price_overrides WHERE quote_id = {quote} ORDER BY created_at DESC LIMIT 1"),
        ),
    ];
    let mut out = String::new();
    for (what, sql) in queries {
        let rows = conn
            .query_all_raw(Statement::from_string(DbBackend::Postgres, format!("EXPLAIN (ANALYZE, COSTS OFF) {sql}")))
            .await
            .with_context(|| format!("EXPLAIN {what}"))?;
        writeln!(out, "-- {what}")?;
        for row in rows {
            let line: String = row.try_get_by_index(0)?;
            // The literal id lists make some lines thousands of characters long.
            let short: String = line.chars().take(160).collect();
            writeln!(out, "{short}{}", if short.len() < line.len() { "…" } else { "" })?;
        }
    }
    Ok(out)
}
