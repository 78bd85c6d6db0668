//! `pricegate-bench`: Pricegate on generated data against `pgbench` on the
//! same PostgreSQL in the same run (issue 7). Every throughput figure is
//! reported as a ratio to its reference, because this machine is shared and
//! noisy. Run through `scripts/bench`, which builds in release first.
//!
//!     pricegate-bench --server target/release/pricegate [--scale S|L] [--concurrency 16] [--seconds 10] [--out target/bench/results.md] [--keep]
//!
//! By default (and with `--scale L`) it runs S and then L, so the gate
//! check's p99 can be compared; `--scale S` runs S alone.
//! `--keep` leaves each scale's PostgreSQL database and SQLite file behind
//! (their names are printed) for `EXPLAIN`, `perf` or a second look.

mod ceiling;
mod explain;
mod generate;
mod http;
mod load;
mod publish;
mod race;
mod report;
mod server;
mod sqlite;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use generate::{ACKED_LATEST, Scale, quote_is_ready, signer_of};
use load::{Job, Method, Outcome};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use server::{Server, TempDb};

use crate::http::Conn;

/// How many logins the memory check sends at once.
const LOGIN_BURST: usize = 30;

struct Options {
    server: PathBuf,
    scales: Vec<Scale>,
    concurrency: usize,
    seconds: u64,
    pool: Option<u32>,
    out: PathBuf,
    keep: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        server: PathBuf::from("target/release/pricegate"),
        scales: vec![Scale::named("S")?, Scale::named("L")?],
        concurrency: 16,
        seconds: 10,
        pool: None,
        out: PathBuf::from("target/bench/results.md"),
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => o.server = PathBuf::from(value()?),
            "--scale" => {
                let scale = value()?;
                o.scales = match scale.as_str() {
                    "S" | "s" => vec![Scale::named("S")?],
                    "L" | "l" => vec![Scale::named("S")?, Scale::named("L")?],
                    other => anyhow::bail!("--scale {other}: S or L"),
                }
            }
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--seconds" => o.seconds = value()?.parse()?,
            "--pool" => o.pool = Some(value()?.parse()?),
            "--out" => o.out = PathBuf::from(value()?),
            "--keep" => o.keep = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(o)
}

/// What one scale produced.
#[derive(Default)]
struct ScaleRun {
    name: &'static str,
    generation: Duration,
    startup: Duration,
    gate: Outcome,
    /// `GET /api/v1/me` with the same tokens and concurrency: what a request
    /// costs with authentication and no gate work, to place the gate's figure.
    me: Outcome,
    /// `GET /static/app.css`: HTTP alone, no database.
    asset: Outcome,
    /// Transactions per second of the gate check's statements run by
    /// `pgbench` alone: the database's ceiling for the gate check.
    gate_statements: f64,
    finalise: Option<Outcome>,
    /// Transactions per second of the finalisation's statements run by
    /// `pgbench` alone: the database's ceiling for finalising.
    finalise_statements: Option<f64>,
    acknowledge: Option<Outcome>,
    race: Option<race::Race>,
    violations: i64,
    peak_rss: u64,
    plans: String,
    /// The same data copied to SQLite, and the gate check served from it.
    sqlite_copy: Duration,
    sqlite_startup: Duration,
    sqlite_gate: Outcome,
    /// Finalising the same ready quotes on the SQLite copy (where they are
    /// still drafts): a write, each commit synced to disk (`synchronous=FULL`).
    sqlite_finalise: Option<Outcome>,
    sqlite_peak_rss: u64,
    sqlite_plans: String,
    /// A fresh server on the SQLite copy: resident before and after a burst
    /// of logins that fail, all at once, to addresses nobody has (each
    /// checked against a decoy hash: argon2's 19 MiB, as a real one).
    rss_before_logins: u64,
    rss_after_logins: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let o = &o;
    let run_id = std::process::id();
    let duration = Duration::from_secs(o.seconds);
    let c = o.concurrency.to_string();
    let t = o.seconds.to_string();

    eprintln!("pgbench: initialising a scale-10 database");
    let pgb = TempDb::create(format!("pricegate_bench_pgbench_{run_id}")).await?;
    server::pgbench_init(&pgb.name).await?;
    let pgbench_s = server::pgbench(&["-n", "-S", "-c", &c, "-j", "2", "-T", &t, &pgb.name]).await?;
    eprintln!("pgbench -S: {pgbench_s:.0} tps");
    let pgbench_n = server::pgbench(&["-n", "-N", "-c", &c, "-j", "2", "-T", &t, &pgb.name]).await?;
    eprintln!("pgbench -N: {pgbench_n:.0} tps");
    pgb.drop_now().await?;

    let mut runs = Vec::new();
    for (i, scale) in o.scales.iter().enumerate() {
        // Writes and the race only at the first scale: L is there for the gate's p99.
        runs.push(run_scale(o, *scale, run_id, duration, i == 0).await?);
    }

    let publication = publish::run(&o.server, o.pool, run_id).await?;

    let report = report::report(o, pgbench_s, pgbench_n, &runs, &publication)?;
    println!("{report}");
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&o.out, &report).with_context(|| format!("writing {}", o.out.display()))?;
    eprintln!("written to {}", o.out.display());
    Ok(())
}

async fn run_scale(
    o: &Options,
    scale: Scale,
    run_id: u32,
    duration: Duration,
    writes: bool,
) -> anyhow::Result<ScaleRun> {
    let mut run = ScaleRun { name: scale.name, ..Default::default() };
    let db = TempDb::create(format!("pricegate_bench_{}_{run_id}", scale.name.to_lowercase())).await?;
    let url = db.url();
    server::migrate(&o.server, &url).await?;
    let conn = Database::connect(url.as_str()).await?;
    eprintln!(
        "scale {}: generating {} users, {} notices, {} acknowledgements, {} quotes",
        scale.name,
        scale.users,
        scale.notices,
        scale.acknowledgements(),
        scale.quotes
    );
    run.generation = generate::fill(&conn, scale).await?;
    eprintln!("scale {}: generated in {:.1} s", scale.name, run.generation.as_secs_f64());
    // Quote 0 has ten pending notices; quote 10 has none (see generate.rs).
    run.plans = explain::gate_plans(&conn, 0, 10).await?;

    // The same rows on SQLite, copied before any measurement changes them.
    let lite_path = std::env::temp_dir().join(format!("pricegate-bench-{run_id}-{}.db", scale.name));
    let lite_url = sqlite::url(&lite_path);
    server::migrate(&o.server, &lite_url).await?;
    {
        let lite = Database::connect(lite_url.as_str()).await?;
        run.sqlite_copy = sqlite::copy(&conn, &lite).await?;
        run.sqlite_plans = explain::sqlite_plans(&lite).await?;
        lite.close().await.ok();
    }
    eprintln!("scale {}: copied to SQLite in {:.1} s", scale.name, run.sqlite_copy.as_secs_f64());

    run.gate_statements = ceiling::gate_statements(scale, &db.name, o.concurrency, o.seconds).await?;
    eprintln!("scale {}: the gate check's statements alone {:.0} tps", scale.name, run.gate_statements);
    if writes {
        let tps = ceiling::finalise_statements(&o.server, scale, run_id, o.concurrency).await?;
        eprintln!("scale {}: the finalisation's statements alone {tps:.0} tps", scale.name);
        run.finalise_statements = Some(tps);
    }

    let quote_ids = ids(&conn, "quote", scale.quotes - 1).await?;
    let notice_ids = ids(&conn, "notice", scale.notices).await?;
    let token = |user: i64| format!("benchtoken-{user}");

    let maildir = std::env::temp_dir().join(format!("pricegate-bench-mail-{run_id}-{}", scale.name));
    let server = Server::start(&o.server, &url, o.pool, maildir.clone()).await?;
    run.startup = server.startup;
    eprintln!("scale {}: healthy after {:.0} ms at {}", scale.name, run.startup.as_secs_f64() * 1e3, server.base);

    // Gate: every quote in turn, ready and pending alike, as its signer.
    let gate_jobs = |n: usize| -> Vec<Job> {
        (0..n as i64)
            .map(|q| Job {
                path: format!("/api/v1/quotes/{}/gate", quote_ids[q as usize]),
                token: token(signer_of(scale, q)),
            })
            .collect()
    };
    load::run(&server.base, Method::Get, gate_jobs(quote_ids.len()), true, o.concurrency, Duration::from_secs(2))
        .await?;
    run.gate = load::run(&server.base, Method::Get, gate_jobs(quote_ids.len()), true, o.concurrency, duration).await?;
    eprintln!("scale {}: gate {:.0} req/s", scale.name, run.gate.per_second());
    let me_jobs = (0..quote_ids.len() as i64)
        .map(|q| Job { path: "/api/v1/me".to_owned(), token: token(signer_of(scale, q)) })
        .collect();
    run.me = load::run(&server.base, Method::Get, me_jobs, true, o.concurrency, duration).await?;
    eprintln!("scale {}: authenticated no-op {:.0} req/s", scale.name, run.me.per_second());
    let asset_jobs = vec![Job { path: "/static/app.css".to_owned(), token: token(0) }];
    run.asset = load::run(&server.base, Method::Get, asset_jobs, true, o.concurrency, duration).await?;
    eprintln!("scale {}: static asset {:.0} req/s", scale.name, run.asset.per_second());

    // Finalise: each ready quote once, by its signer. A tenth is kept for the race.
    let ready: Vec<i64> = (0..scale.quotes).filter(|q| quote_is_ready(*q)).collect();
    let (for_race, for_load) = ready.split_at(ready.len() / 10);
    let finalise_jobs = || -> Vec<Job> {
        for_load
            .iter()
            .map(|q| Job {
                path: format!("/api/v1/quotes/{}/finalise", quote_ids[*q as usize]),
                token: token(signer_of(scale, *q)),
            })
            .collect()
    };
    if writes {
        let finalise = load::run(&server.base, Method::Post, finalise_jobs(), false, o.concurrency, duration).await?;
        eprintln!("scale {}: finalise {:.0} req/s", scale.name, finalise.per_second());
        run.finalise = Some(finalise);

        // Acknowledge: distinct (user, notice) pairs not yet acknowledged.
        let older = (scale.notices - ACKED_LATEST) as usize;
        let jobs = (0..(scale.users as usize * older))
            .map(|i| {
                let user = i as i64 % scale.users;
                let notice = 1 + (i / scale.users as usize) % older;
                Job { path: format!("/api/v1/notices/{}/acknowledge", notice_ids[notice]), token: token(user) }
            })
            .collect();
        let acknowledge = load::run(&server.base, Method::Post, jobs, false, o.concurrency, duration).await?;
        eprintln!("scale {}: acknowledge {:.0} req/s", scale.name, acknowledge.per_second());
        run.acknowledge = Some(acknowledge);

        run.race = Some(race::race(&server.base, &quote_ids, scale, for_race, o.concurrency).await?);
    }
    run.peak_rss = server.peak_rss()?;
    run.violations = race::violations(&conn).await?;
    server.stop().await?;
    conn.close().await.ok();
    if o.keep {
        eprintln!("scale {}: kept {url}", scale.name);
        db.keep();
    } else {
        db.drop_now().await?;
    }
    std::fs::remove_dir_all(&maildir).ok();

    // The gate check again, served from SQLite.
    let server = Server::start(&o.server, &lite_url, o.pool, maildir.clone()).await?;
    run.sqlite_startup = server.startup;
    load::run(&server.base, Method::Get, gate_jobs(quote_ids.len()), true, o.concurrency, Duration::from_secs(2))
        .await?;
    run.sqlite_gate =
        load::run(&server.base, Method::Get, gate_jobs(quote_ids.len()), true, o.concurrency, duration).await?;
    eprintln!("scale {}: gate on SQLite {:.0} req/s", scale.name, run.sqlite_gate.per_second());
    if writes {
        let finalise = load::run(&server.base, Method::Post, finalise_jobs(), false, o.concurrency, duration).await?;
        eprintln!("scale {}: finalise on SQLite {:.0} req/s", scale.name, finalise.per_second());
        run.sqlite_finalise = Some(finalise);
    }
    run.sqlite_peak_rss = server.peak_rss()?;
    server.stop().await?;

    // Memory a burst of logins leaves behind, anyone's to send: on a fresh server.
    let server = Server::start(&o.server, &lite_url, o.pool, maildir.clone()).await?;
    run.rss_before_logins = server.rss()?;
    let logins = (0..LOGIN_BURST).map(|i| {
        let base = server.base.clone();
        tokio::spawn(async move {
            let body = format!(r#"{{"email":"nobody{i}@pricegate.example","password":"not the password"}}"#);
            Conn::new(&base).request("POST", "/api/v1/auth/token", None, Some(&body)).await.map(|r| r.status)
        })
    });
    for login in logins.collect::<Vec<_>>() {
        // Each costs one password hash, as a refused login must; any other answer is said, not fatal to the run.
        let status = login.await??;
        if status != 401 {
            eprintln!("scale {}: a login to an address nobody has answered {status}, not 401", scale.name);
        }
    }
    run.rss_after_logins = server.rss()?;
    eprintln!(
        "scale {}: {LOGIN_BURST} logins at once, resident {:.1} MB before, {:.1} MB after",
        scale.name,
        run.rss_before_logins as f64 / 1_048_576.0,
        run.rss_after_logins as f64 / 1_048_576.0
    );
    server.stop().await?;
    if o.keep {
        eprintln!("scale {}: kept {lite_url}", scale.name);
    } else {
        for suffix in ["", "-wal", "-shm"] {
            std::fs::remove_file(format!("{}{suffix}", lite_path.display())).ok();
        }
    }
    std::fs::remove_dir_all(&maildir).ok();
    Ok(run)
}

/// The generator's deterministic ids (`md5('<kind>-<i>')::uuid`), indexed by i in 0..=last.
async fn ids(conn: &sea_orm::DatabaseConnection, kind: &str, last: i64) -> anyhow::Result<Vec<String>> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT md5('{kind}-' || i)::uuid::text AS id FROM generate_series(0, {last}) AS i ORDER BY i"),
        ))
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<String>("", "id")?)).collect()
}
