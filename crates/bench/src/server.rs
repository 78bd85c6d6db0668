//! The real `pricegate` binary as a child process, and the PostgreSQL
//! databases the benchmark creates and drops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432";

/// A database created for this run. [`TempDb::drop_now`] drops it and
/// [`TempDb::keep`] leaves it for a person to look at; one that is neither,
/// because the run failed part-way, is dropped as it goes out of scope, so a
/// failed run leaves no database behind.
pub struct TempDb {
    pub name: String,
    admin: DatabaseConnection,
    /// Dropped or kept on purpose: nothing left for [`Drop`] to do.
    settled: bool,
}

impl TempDb {
    pub async fn create(name: String) -> anyhow::Result<TempDb> {
        let admin = Database::connect(format!("{PG_ADMIN}/postgres"))
            .await
            .context("connecting to PostgreSQL on 127.0.0.1:5432")?;
        admin.execute_unprepared(&drop_database(&name)).await?;
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
        Ok(TempDb { name, admin, settled: false })
    }

    pub fn url(&self) -> String {
        format!("{PG_ADMIN}/{}", self.name)
    }

    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.admin.execute_unprepared(&drop_database(&self.name)).await?;
        self.settled = true;
        Ok(())
    }

    /// Leaves the database behind (`--keep`).
    pub fn keep(mut self) {
        self.settled = true;
    }
}

impl Drop for TempDb {
    /// `drop` cannot await, and may run while an error unwinds the run: the
    /// database is dropped by `psql` (which comes with `pgbench`), blocking
    /// for the moment it takes. A failure here has nowhere to go but stderr.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let dropped = Command::new("psql")
            .arg(format!("{PG_ADMIN}/postgres"))
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", &drop_database(&self.name)])
            .stdout(Stdio::null())
            .status();
        if !matches!(dropped, Ok(status) if status.success()) {
            eprintln!("could not drop the benchmark database {}: drop it by hand", self.name);
        }
    }
}

/// `WITH (FORCE)`: a server the run started may still hold connections.
fn drop_database(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

pub async fn migrate(binary: &Path, database_url: &str) -> anyhow::Result<()> {
    let status = Command::new(binary)
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {} migrate", binary.display()))?;
    anyhow::ensure!(status.success(), "pricegate migrate failed: {status}");
    Ok(())
}

pub struct Server {
    child: Child,
    pub base: String,
    pub startup: Duration,
    _maildir: PathBuf,
}

impl Server {
    /// Starts `pricegate serve` on a free loopback port and waits for
    /// `/healthz` to answer 200; `startup` is spawn → first healthy answer.
    pub async fn start(
        binary: &Path,
        database_url: &str,
        pool: Option<u32>,
        maildir: PathBuf,
    ) -> anyhow::Result<Server> {
        Self::start_with_env(binary, database_url, pool, maildir, &[]).await
    }

    /// [`Server::start`] with more environment for the server, set last (so
    /// it may set `SMTP_URL`, which `start` removes).
    pub async fn start_with_env(
        binary: &Path,
        database_url: &str,
        pool: Option<u32>,
        maildir: PathBuf,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&maildir)?;
        let started = Instant::now();
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("PRICEGATE_BIND", "127.0.0.1:0")
            .env("PRICEGATE_MAILDIR", &maildir)
            .env_remove("SMTP_URL")
            // The generated notices are weeks old with no reminder history in
            // the outbox: with the default schedule the worker would spend the
            // whole run catching up thousands of reminders and escalations.
            // What is measured here is the request path.
            .env("PRICEGATE_REMINDERS", "3650d")
            // A request log line per request is not what is measured here.
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(pool) = pool {
            command.env("PRICEGATE_DB_POOL", pool.to_string());
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the bound address, then keeps draining stdout so the child
        // never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let base = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await?
            .context("pricegate serve did not print its address within 60 s")?;
        let mut conn = crate::http::Conn::new(&base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = conn.request("GET", "/healthz", None, None).await
                && r.status == 200
            {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "/healthz not healthy within 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Server { child, base, startup: started.elapsed(), _maildir: maildir })
    }

    /// Peak resident set size so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmHWM")
    }

    /// Resident set size now (VmRSS), in bytes.
    pub fn rss(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmRSS")
    }

    /// A size `/proc/<pid>/status` gives in kB, in bytes.
    fn status_bytes(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
        Ok(kb * 1024)
    }

    /// SIGTERM, then wait for the graceful exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// pgbench's own figure for one run: transactions per second.
pub async fn pgbench(args: &[&str]) -> anyhow::Result<f64> {
    let out = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-U", "postgres"])
        .args(args)
        .output()
        .context("running pgbench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "pgbench {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {text}"))
}

pub async fn pgbench_init(db: &str) -> anyhow::Result<()> {
    let out = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-i", "-s", "10", "-q", db])
        .output()
        .context("running pgbench -i")?;
    anyhow::ensure!(out.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exists(name: &str) -> bool {
        let admin = Database::connect(format!("{PG_ADMIN}/postgres")).await.expect("PostgreSQL on 127.0.0.1:5432");
        let row = admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"),
            ))
            .await
            .expect("pg_database")
            .expect("a count");
        row.try_get::<i64>("", "n").expect("n") == 1
    }

    #[tokio::test]
    async fn a_database_left_by_a_failed_run_is_dropped_and_a_kept_one_is_not() {
        let id = std::process::id();
        let failed = format!("pricegate_bench_test_failed_{id}");
        let kept = format!("pricegate_bench_test_kept_{id}");
        {
            let _db = TempDb::create(failed.clone()).await.expect("created");
            assert!(exists(&failed).await);
            // The run fails here: `_db` goes out of scope, neither dropped nor kept.
        }
        assert!(!exists(&failed).await, "a database neither dropped nor kept is left behind");

        TempDb::create(kept.clone()).await.expect("created").keep();
        assert!(exists(&kept).await, "a kept database is gone");
        TempDb::create(kept.clone()).await.expect("created again").drop_now().await.expect("dropped");
        assert!(!exists(&kept).await);
    }
}
