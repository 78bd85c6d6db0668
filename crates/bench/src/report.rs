//! The table: every figure beside its reference from the same run, the
//! ratio, the target and whether it is met; then the query plans.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;

use crate::load::Outcome;
use crate::{Options, ScaleRun, publish};

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// One throughput row of the table: the load's figures beside its
/// `pgbench` reference from the same run, and the target ratio if it has one.
fn load_row(
    r: &mut String,
    figure: &str,
    o: &Outcome,
    reference: &str,
    reference_tps: f64,
    target: Option<f64>,
) -> std::fmt::Result {
    let ratio = o.per_second() / reference_tps;
    let (target, met) = match target {
        Some(t) => (format!("≥ {t:.2}"), if ratio >= t && o.failures == 0 { "met" } else { "NOT met" }),
        None => ("—".to_owned(), "—"),
    };
    writeln!(
        r,
        "| {figure} | {:.0} req/s (p50 {}, p99 {}, {} failed{}) | {reference} {reference_tps:.0} tps | {ratio:.2} | {target} | {met} |",
        o.per_second(),
        ms(o.p50),
        ms(o.p99),
        o.failures,
        if o.exhausted { ", ran out of jobs" } else { "" },
    )
}

pub fn report(
    o: &Options,
    pgbench_s: f64,
    pgbench_n: f64,
    runs: &[ScaleRun],
    publication: &publish::PublishRun,
) -> anyhow::Result<String> {
    let mut r = String::new();
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    writeln!(r, "# Pricegate benchmark\n")?;
    writeln!(
        r,
        "PostgreSQL on 127.0.0.1, concurrency {} for every load and for pgbench (`-j 2`), {} s per measurement, server pool {}, `RUST_LOG=warn`, {} cores.\n",
        o.concurrency,
        o.seconds,
        o.pool.map(|p| p.to_string()).unwrap_or_else(|| "default (PRICEGATE_DB_POOL unset)".into()),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    )?;
    writeln!(r, "| figure | measured | reference | ratio | target | met? |")?;
    writeln!(r, "|---|---|---|---|---|---|")?;
    let first = runs.first().context("no run")?;
    for run in runs {
        let figure = format!("gate check `GET /quotes/{{id}}/gate`, scale {}", run.name);
        load_row(&mut r, &figure, &run.gate, "`pgbench -S`", pgbench_s, Some(0.5))?;
        writeln!(
            r,
            "| … the database's ceiling for it: the gate check's two statements run by `pgbench` alone (no HTTP, no pool), scale {} | {:.0} tps | `pgbench -S` {pgbench_s:.0} tps | {:.2} | — | — |",
            run.name,
            run.gate_statements,
            run.gate_statements / pgbench_s,
        )?;
        let figure = format!("… for comparison: `GET /me`, authentication and nothing else, scale {}", run.name);
        load_row(&mut r, &figure, &run.me, "`pgbench -S`", pgbench_s, None)?;
        let figure = format!("… and `GET /static/app.css`, HTTP with no database, scale {}", run.name);
        load_row(&mut r, &figure, &run.asset, "`pgbench -S`", pgbench_s, None)?;
    }
    for run in runs {
        let figure = format!(
            "gate check on SQLite (same data; reference from PostgreSQL, SQLite has no pgbench), scale {}",
            run.name
        );
        load_row(&mut r, &figure, &run.sqlite_gate, "`pgbench -S`", pgbench_s, Some(0.5))?;
    }
    if let Some(f) = &first.finalise {
        let figure = "finalise `POST /quotes/{id}/finalise`, distinct ready quotes";
        load_row(&mut r, figure, f, "`pgbench -N`", pgbench_n, Some(0.5))?;
    }
    if let Some(tps) = first.finalise_statements {
        writeln!(
            r,
            "| … the database's ceiling for it: the finalisation's statements run by `pgbench` alone (no HTTP, no pool), each ready quote once, on a copy of the scale {} data | {tps:.0} tps | `pgbench -N` {pgbench_n:.0} tps | {:.2} | — | — |",
            first.name,
            tps / pgbench_n,
        )?;
    }
    if let Some(f) = &first.sqlite_finalise {
        let figure = "finalise on SQLite, the same quotes (each commit synced to disk; reference from PostgreSQL)";
        load_row(&mut r, figure, f, "`pgbench -N`", pgbench_n, None)?;
    }
    if let Some(a) = &first.acknowledge {
        let figure = "acknowledge `POST /notices/{id}/acknowledge`, new pairs";
        load_row(&mut r, figure, a, "`pgbench -N`", pgbench_n, None)?;
    }
    if let [s, l] = runs {
        let ratio = l.gate.p99.as_secs_f64() / s.gate.p99.as_secs_f64().max(1e-9);
        writeln!(
            r,
            "| gate check p99 at L | {} | p99 at S {} | {:.2} | ≤ 1.5 | {} |",
            ms(l.gate.p99),
            ms(s.gate.p99),
            ratio,
            yes(ratio <= 1.5)
        )?;
    }
    for run in runs {
        let mb = run.peak_rss as f64 / (1024.0 * 1024.0);
        writeln!(
            r,
            "| server peak RSS (VmHWM), scale {} | {mb:.1} MB | — | — | < 150 MB | {} |",
            run.name,
            yes(mb < 150.0)
        )?;
        writeln!(
            r,
            "| start-up to healthy `/healthz`, scale {} database | {} | — | — | — | — |",
            run.name,
            ms(run.startup)
        )?;
        writeln!(
            r,
            "| data generation, scale {} (bulk SQL) | {:.1} s | — | — | — | — |",
            run.name,
            run.generation.as_secs_f64()
        )?;
        let mb = run.sqlite_peak_rss as f64 / (1024.0 * 1024.0);
        writeln!(
            r,
            "| server peak RSS on SQLite, scale {} | {mb:.1} MB | — | — | < 150 MB | {} |",
            run.name,
            yes(mb < 150.0)
        )?;
        let (before, after) =
            (run.rss_before_logins as f64 / (1024.0 * 1024.0), run.rss_after_logins as f64 / (1024.0 * 1024.0));
        writeln!(
            r,
            "| server RSS after {} failed logins at once, fresh on SQLite, scale {} | {after:.1} MB | {before:.1} MB before | — | < 150 MB | {} |",
            crate::LOGIN_BURST,
            run.name,
            yes(after < 150.0)
        )?;
        writeln!(
            r,
            "| start-up to healthy `/healthz`, scale {} SQLite database | {} | — | — | — | — |",
            run.name,
            ms(run.sqlite_startup)
        )?;
        writeln!(
            r,
            "| copy to SQLite, scale {} (entity models, multi-row INSERT) | {:.1} s | — | — | — | — |",
            run.name,
            run.sqlite_copy.as_secs_f64()
        )?;
    }
    if let Some(race) = &first.race {
        let ok = first.violations == 0 && race.errors == 0;
        writeln!(
            r,
            "| race: 5 s of finalisations against {} publications ({} finalised, {} refused with 409, {} other failures) | {} invariant violations | — | — | 0, and no other failure | {} |",
            race.published,
            race.finalised,
            race.refused,
            race.errors,
            first.violations,
            yes(ok)
        )?;
    }
    publish::rows(&mut r, publication)?;
    for run in runs {
        writeln!(r, "\n## Gate check query plans at scale {} (`EXPLAIN ANALYZE`)\n\n```\n{}```", run.name, run.plans)?;
        writeln!(
            r,
            "\n## The same on SQLite at scale {} (`EXPLAIN QUERY PLAN`)\n\n```\n{}```",
            run.name, run.sqlite_plans
        )?;
    }
    Ok(r)
}
