//! The gate check's own statements run by `pgbench`, with no HTTP, no Rust
//! and no pool in between: what the database alone allows a gate check on
//! this data, measured in the same run as the service's figure.
//!
//! Each `pgbench` transaction is one gate check of a random quote by its
//! signer: the bearer-token lookup, the quote with its lines and prices in
//! force, then the notices the signer has not acknowledged. The statements
//! are the store's own; their parameters are computed in SQL from the
//! generator's naming (`md5('quote-' || q)` and so on), which costs the
//! database a little more than the service's bound values do, so the figure
//! is a ceiling slightly on the low side.

use pricegate_store::sql::{Reading, later_notices_sql, load_quote_sql, token_user_sql};
use sea_orm::DbBackend;

use crate::generate::Scale;

/// The `pgbench` script of one gate check at `scale`.
pub fn gate_script(scale: Scale) -> String {
    let quote = "md5('quote-' || :q)::uuid";
    let token = "encode(sha256(convert_to('benchtoken-' || :u, 'UTF8')), 'hex')";
    let signer = "md5('user-' || :u)::uuid";
    let drafted_at = format!("(SELECT drafted_at FROM quotes WHERE id = {quote})");
    let pg = DbBackend::Postgres;
    format!(
        "\\set q random(0, {last_quote})\n\\set u 1 + :q % {salespeople}\n{};\n{};\n{};\n",
        one_line(token_user_sql(pg)).replace("$1", token),
        one_line(&load_quote_sql(pg)).replace("$1", quote),
        one_line(&later_notices_sql(Reading::Pending, pg)).replace("$1", signer).replace("$2", &drafted_at),
        // The same quotes and signers as the service's gate load (see `signer_of`).
        last_quote = scale.quotes - 1,
        salespeople = scale.users - 1,
    )
}

/// `pgbench` reads one statement per line.
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Transactions per second of the gate check's statements on `database`,
/// at the benchmark's concurrency and for its duration.
pub async fn gate_statements(scale: Scale, database: &str, concurrency: usize, seconds: u64) -> anyhow::Result<f64> {
    let script = std::env::temp_dir().join(format!("pricegate-bench-gate-{}.sql", scale.name));
    std::fs::write(&script, gate_script(scale))?;
    let (script_arg, c, t) = (script.display().to_string(), concurrency.to_string(), seconds.to_string());
    let tps =
        crate::server::pgbench(&["-n", "-M", "prepared", "-f", &script_arg, "-c", &c, "-j", "2", "-T", &t, database])
            .await;
    std::fs::remove_file(&script).ok();
    tps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_three_statements_with_every_placeholder_filled() {
        let script = gate_script(Scale::named("S").expect("scale S"));
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines.len(), 5, "two \\set lines and one line per statement: {script}");
        assert_eq!(lines[0], "\\set q random(0, 9999)");
        assert_eq!(lines[1], "\\set u 1 + :q % 999");
        for statement in &lines[2..] {
            assert!(statement.starts_with("SELECT ") && statement.ends_with(';'), "{statement}");
            assert!(!statement.contains('$'), "a placeholder left unfilled: {statement}");
        }
        assert!(lines[3].contains("WHERE q.id = md5('quote-' || :q)::uuid"), "{}", lines[3]);
    }
}
