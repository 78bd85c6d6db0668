//! What the database alone allows, measured in the same run as the
//! service's figures: the gate check's and the finalisation's own statements
//! run by `pgbench`, with no HTTP, no Rust and no pool in between.
//!
//! The statements are the store's own. Their parameters are computed in SQL
//! from the generator's naming (`md5('quote-' || q)` and so on), which costs
//! the database a little more than the service's bound values do, so each
//! figure is a ceiling slightly on the low side.

use std::path::Path;

use pricegate_store::sql::{
    LOCK_GATE_AND_QUOTE, RECORD_AUDIT, RECORD_FINALISATION, Reading, later_notices_sql, load_quote_sql,
    price_sources_sql, quote_gate_sql, token_user_sql,
};
use sea_orm::{ConnectionTrait, Database, DbBackend};

use crate::generate::{self, Scale};
use crate::server::{self, TempDb};

/// A generated quote's id, a salesperson's bearer-token hash and id, in SQL,
/// from `pgbench` variables `:q` and `:u`.
const QUOTE: &str = "md5('quote-' || :q)::uuid";
const TOKEN: &str = "encode(sha256(convert_to('benchtoken-' || :u, 'UTF8')), 'hex')";
/// The business calendar's zone, as the server started by the benchmark has it.
const ZONE: &str = "'UTC'";
const SIGNER: &str = "md5('user-' || :u)::uuid";

/// The `pgbench` script of one gate check at `scale`: each transaction is a
/// gate check of a random quote by its signer, the bearer-token lookup, then
/// the quote with its lines and prices in force and the notices the signer
/// has not acknowledged.
pub fn gate_script(scale: Scale) -> String {
    format!(
        "\\set q random(0, {last_quote})\n{signer}\n{};\n{};\n",
        one_line(token_user_sql(DbBackend::Postgres)).replace("$1", TOKEN),
        one_line(quote_gate_sql()).replace("$1", QUOTE).replace("$2", ZONE),
        last_quote = scale.quotes - 1,
        signer = set_signer(scale),
    )
}

/// `:u`, the signer of quote `:q` (the generator's rule, see `signer_of`).
fn set_signer(scale: Scale) -> String {
    format!("\\set u 1 + :q % {}", scale.users - 1)
}

fn drafted_at() -> String {
    format!("(SELECT drafted_at FROM quotes WHERE id = {QUOTE})")
}

/// The `pgbench` script of one finalisation of a ready quote by its signer,
/// the statements in the order the service sends them: the bearer-token
/// lookup; then, in one transaction, the gate and quote locks, the quote with
/// its lines and prices in force, every notice since drafting with the
/// signer's acknowledgement, where each product's price came from, the
/// finalisation record and its audit row.
///
/// Each transaction takes the next quote of `bench_finalise` (see
/// [`FINALISE_SETUP`]), which also holds the evidence and audit detail the
/// service would send for it, so no quote is finalised twice and the rows
/// written are the size the service writes.
pub fn finalise_script(scale: Scale) -> String {
    let pg = DbBackend::Postgres;
    let prepared = |column: &str| format!("(SELECT {column} FROM bench_finalise WHERE n = :n)");
    let audit = [
        ("$7", prepared("detail")),
        ("$6", QUOTE.to_owned()),
        ("$5", "'quote'".to_owned()),
        ("$4", "'quote.finalised'".to_owned()),
        ("$3", SIGNER.to_owned()),
        ("$2", "clock_timestamp()".to_owned()),
        ("$1", "gen_random_uuid()".to_owned()),
    ]
    .iter()
    .fold(one_line(RECORD_AUDIT), |sql, (placeholder, value)| sql.replace(placeholder, value));
    format!(
        "SELECT n, q FROM bench_finalise WHERE n = (SELECT nextval('bench_finalise_next')) \\gset\n{signer}\n\
         {};\nBEGIN;\n{};\n{};\n{};\n{sources};\n{};\n{audit};\nEND;\n",
        one_line(token_user_sql(pg)).replace("$1", TOKEN),
        one_line(LOCK_GATE_AND_QUOTE).replace("$1", QUOTE),
        one_line(&load_quote_sql(pg)).replace("$1", QUOTE).replace("$2", ZONE),
        one_line(&later_notices_sql(Reading::All, pg)).replace("$1", SIGNER).replace("$2", &drafted_at()),
        one_line(RECORD_FINALISATION)
            .replace("$5", &drafted_at())
            .replace("$4", "NULL")
            .replace("$3", &prepared("evidence"))
            .replace("$2", SIGNER)
            .replace("$1", QUOTE),
        sources = one_line(&price_sources_sql(pg))
            .replace("$3", QUOTE)
            .replace("$2", SIGNER)
            // The statement's clock: one day for every row, bound as the service binds it.
            .replace("$1", &format!("(statement_timestamp() AT TIME ZONE {ZONE})::date")),
        signer = set_signer(scale),
    )
}

/// Numbers the ready quotes in random order, each with the evidence and
/// audit detail a finalisation stores for it: the notices since drafting
/// with the signer's acknowledgements, in the shape `EvidenceNotice`
/// serialises to, and each product's price in force with the notice that
/// set it and the signer's acknowledgement, as `EvidencePrice` does. A quote is ready when its signer has acknowledged every
/// notice published since it was drafted.
pub const FINALISE_SETUP: &str = "CREATE TABLE bench_finalise (n bigint PRIMARY KEY, q bigint NOT NULL, \
       evidence text NOT NULL, detail text NOT NULL); \
     INSERT INTO bench_finalise (n, q, evidence, detail) \
     SELECT row_number() OVER (ORDER BY random()), g.q, \
            json_build_object('notices', COALESCE(e.notices, '[]'), 'override', NULL, 'prices', COALESCE(pr.prices, '[]'))::text, \
            json_build_object('notices', COALESCE(e.ids, '[]'), 'override', NULL)::text \
     FROM generate_series(0, (SELECT count(*) FROM quotes) - 1) AS g(q) \
     JOIN quotes qt ON qt.id = md5('quote-' || g.q)::uuid \
     LEFT JOIN LATERAL (SELECT json_agg(json_build_object('notice_id', n.id, 'seq', n.seq, 'title', n.title, \
              'published_at', n.published_at, 'acknowledged_at', a.acknowledged_at, 'channel', a.channel) ORDER BY n.seq) AS notices, \
            json_agg(n.id ORDER BY n.seq) AS ids \
          FROM notices n JOIN acknowledgements a ON a.notice_id = n.id AND a.user_id = qt.signer_id \
          WHERE n.published_at > qt.drafted_at) e ON true \
     LEFT JOIN LATERAL (SELECT json_agg(json_build_object('product_id', p.id, 'sku', p.sku, \
              'unit_price_minor', p.unit_price_minor, 'set_by', \
              (SELECT json_build_object('notice_id', n.id, 'seq', n.seq, 'title', n.title, 'published_at', n.published_at, \
                      'effective_on', c.effective_on, 'acknowledged_at', a.acknowledged_at, 'channel', a.channel) \
                 FROM notice_changes c JOIN notices n ON n.id = c.notice_id \
                 LEFT JOIN acknowledgements a ON a.notice_id = n.id AND a.user_id = qt.signer_id \
                WHERE c.product_id = p.id AND c.effective_on <= current_date \
                ORDER BY c.effective_on DESC, n.seq DESC, c.position DESC LIMIT 1), 'signed_at', '[]'::json) ORDER BY p.sku) AS prices \
          FROM products p WHERE p.id IN (SELECT l.product_id FROM quote_lines l WHERE l.quote_id = qt.id)) pr ON true \
     WHERE NOT EXISTS (SELECT 1 FROM notices n WHERE n.published_at > qt.drafted_at AND NOT EXISTS \
       (SELECT 1 FROM acknowledgements a WHERE a.notice_id = n.id AND a.user_id = qt.signer_id)); \
     CREATE SEQUENCE bench_finalise_next; \
     ANALYZE bench_finalise";

/// `pgbench` reads one statement per line.
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Transactions per second of the gate check's statements on `database`,
/// at the benchmark's concurrency and for its duration.
pub async fn gate_statements(scale: Scale, database: &str, concurrency: usize, seconds: u64) -> anyhow::Result<f64> {
    run_script("gate", scale, &gate_script(scale), database, concurrency, &["-T", &seconds.to_string()]).await
}

/// Transactions per second of the finalisation's statements, each ready
/// quote finalised once. They run on a database of their own, generated
/// like the service's and dropped after, so that the service finds its
/// ready quotes still to finalise. The run ends when every ready quote is
/// finalised (a few seconds at scale S), not after a set time.
pub async fn finalise_statements(binary: &Path, scale: Scale, run_id: u32, concurrency: usize) -> anyhow::Result<f64> {
    let db = TempDb::create(format!("pricegate_bench_{}_finalise_{run_id}", scale.name.to_lowercase())).await?;
    server::migrate(binary, &db.url()).await?;
    let conn = Database::connect(db.url().as_str()).await?;
    generate::fill(&conn, scale).await?;
    conn.execute_unprepared(FINALISE_SETUP).await?;
    let ready: i64 = conn
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::Postgres, "SELECT count(*) FROM bench_finalise"))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count of ready quotes"))?
        .try_get_by_index(0)?;
    conn.close().await.ok();
    let per_client = (ready / concurrency as i64).max(1).to_string();
    let tps = run_script("finalise", scale, &finalise_script(scale), &db.name, concurrency, &["-t", &per_client]).await;
    db.drop_now().await?;
    tps
}

/// Runs `script` with `-M prepared` (as the service prepares its
/// statements) at `concurrency`, bounded by `limit` (`-T` or `-t`). The
/// script stays in the temporary directory (`pricegate-bench-<name>-<scale>.sql`,
/// replaced by the next run) for `pgbench` runs of its own.
async fn run_script(
    name: &str,
    scale: Scale,
    script: &str,
    database: &str,
    concurrency: usize,
    limit: &[&str],
) -> anyhow::Result<f64> {
    let path = std::env::temp_dir().join(format!("pricegate-bench-{name}-{}.sql", scale.name));
    std::fs::write(&path, script)?;
    let (path_arg, c) = (path.display().to_string(), concurrency.to_string());
    let mut args = vec!["-n", "-M", "prepared", "-f", &path_arg, "-c", &c, "-j", "2"];
    args.extend_from_slice(limit);
    args.push(database);
    server::pgbench(&args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_two_statements_with_every_placeholder_filled() {
        let script = gate_script(Scale::named("S").expect("scale S"));
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines.len(), 4, "two \\set lines and one line per statement: {script}");
        assert_eq!(lines[0], "\\set q random(0, 9999)");
        assert_eq!(lines[1], "\\set u 1 + :q % 999");
        assert!(lines[2].starts_with("SELECT u.*") && lines[2].ends_with(';'), "{}", lines[2]);
        assert!(lines[3].starts_with("WITH quote AS (SELECT") && lines[3].ends_with(';'), "{}", lines[3]);
        for statement in &lines[2..] {
            assert!(!statement.contains('$'), "a placeholder left unfilled: {statement}");
        }
        assert!(lines[3].contains("WHERE q.id = md5('quote-' || :q)::uuid"), "{}", lines[3]);
        assert!(lines[3].contains("WHERE g.id = md5('quote-' || :q)::uuid"), "{}", lines[3]);
    }

    #[test]
    fn the_finalise_script_is_one_transaction_with_every_placeholder_filled() {
        let script = finalise_script(Scale::named("S").expect("scale S"));
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines.len(), 11, "next quote, signer, token, then BEGIN, six statements, END: {script}");
        assert!(lines[0].ends_with("\\gset"), "{}", lines[0]);
        assert_eq!(lines[1], "\\set u 1 + :q % 999");
        assert_eq!((lines[3], lines[10]), ("BEGIN;", "END;"));
        for statement in lines[2..10].iter().filter(|l| **l != "BEGIN;") {
            assert!(!statement.contains('$'), "a placeholder left unfilled: {statement}");
        }
        assert!(lines[4].contains("pg_advisory_xact_lock_shared"), "{}", lines[4]);
        assert!(lines[7].contains("LEFT JOIN acknowledgements a ON a.notice_id = sn.id"), "{}", lines[7]);
        assert!(lines[8].starts_with("WITH f AS (INSERT INTO finalisations"), "{}", lines[8]);
        assert!(
            lines[8].contains("CAST((SELECT evidence FROM bench_finalise WHERE n = :n) AS json), NULL)"),
            "{}",
            lines[8]
        );
        assert!(
            lines[9].starts_with("INSERT INTO audit_log") && lines[9].contains("gen_random_uuid(), clock_timestamp()"),
            "{}",
            lines[9]
        );
    }
}
