//! A fresh database per test: a SQLite file in a temporary directory, or a
//! PostgreSQL database created for the test and dropped after it.

use std::path::Path;

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: TempDir,
    pg_name: Option<String>,
}

/// The PostgreSQL server URL tests use (any database on it; tests create their own).
pub fn pg_server_url() -> String {
    std::env::var("PRICEGATE_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

fn pg_url_for(db: &str) -> String {
    let server = pg_server_url();
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b.to_owned(), format!("?{q}")),
        None => (server.clone(), String::new()),
    };
    let root = base.rsplit_once('/').map(|(r, _)| r.to_owned()).unwrap_or(base);
    format!("{root}/{db}{query}")
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        let dir = tempfile::Builder::new().prefix("pricegate-test-").tempdir().expect("a temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("pricegate.db").display());
                TestDb { backend, url, dir, pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("pricegate_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(pg_server_url()).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is needed for this test and is not reachable at {} ({e}). \
                         Start it (scripts/test does) or point PRICEGATE_TEST_PG at one.",
                        pg_server_url()
                    )
                });
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
                let _ = admin.close().await;
                TestDb { backend, url: pg_url_for(&name), dir, pg_name: Some(name) }
            }
        }
    }

    /// A scratch directory that lives as long as the database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs outside any runtime we may block: use a thread of our own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(pg_server_url()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Waits until a session on `conn`'s database waits for a lock (PostgreSQL):
/// what a test holds a row's lock for has reached it.
pub async fn until_one_waits_for_a_lock(conn: &sea_orm::DatabaseConnection) {
    let waiting =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..400 {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, waiting))
            .await
            .expect("pg_stat_activity")
            .expect("a count");
        if row.try_get_by_index::<i64>(0).expect("the count") > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("nobody came to wait for the lock in 10 s");
}
