//! Test harness: start Pricegate as a user would meet it (in-process on a
//! random port, or as the real binary), each test with a database of its own.
//!
//! PostgreSQL comes from `PRICEGATE_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); every test creates its own
//! database there and drops it afterwards. A test that needs PostgreSQL and
//! cannot reach it fails and says so: it never skips.

pub mod browser;
pub mod client;
pub mod db;
pub mod fixtures;
pub mod pages;
pub mod process;
pub mod race;
pub mod smtp;

use std::net::SocketAddr;

use pricegate::{Application, Settings};
use pricegate_domain::{Email, Password, Role, Text};
use pricegate_store::views::UserView;
use pricegate_store::{NewUser, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use client::{Response, Session};
pub use db::{Backend, TestDb};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A Pricegate served in this process on a random port.
pub struct TestApp {
    pub address: SocketAddr,
    pub base: String,
    pub store: Store,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the app after `configure` has adjusted its settings.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::create(backend).await;
        let url = db.url.clone();
        let mut settings = Settings::from_lookup(|key| match key {
            "DATABASE_URL" => Some(url.clone()),
            "PRICEGATE_BIND" => Some("127.0.0.1:0".into()),
            _ => None,
        })
        .expect("test settings are valid");
        settings.maildir = db.dir().join("mail-out");
        configure(&mut settings);
        let app = Application::build(settings).await.expect("the application starts");
        let address = app.address();
        let base = app.base_url().to_owned();
        let store = app.store().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp { address, base, store, db, shutdown: Some(tx), server: Some(server) }
    }

    /// A client with no token.
    pub fn anonymous(&self) -> Session {
        Session::new(&self.base, None)
    }

    /// Creates a user directly in the store (fast, no admin needed) and logs
    /// them in through the API.
    pub async fn user(&self, role: Role, name: &str) -> (Session, UserView) {
        let email =
            format!("{}-{}@pricegate.test", name.to_lowercase().replace(' ', "."), uuid::Uuid::new_v4().simple());
        let user = self
            .store
            .create_user(
                None,
                NewUser {
                    email: Email::parse(&email).unwrap(),
                    name: Text::parse("name", name, 200).unwrap(),
                    role,
                    password: Some(Password::parse(PASSWORD).unwrap()),
                },
            )
            .await
            .expect("test user is created");
        (self.login(&email, PASSWORD).await, user)
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let r = self
            .anonymous()
            .post("/api/v1/auth/token", &serde_json::json!({ "email": email, "password": password }))
            .await;
        assert_eq!(r.status, 200, "login of {email} failed: {}", r.body);
        Session::new(&self.base, Some(r.body["token"].as_str().expect("token").to_owned()))
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    /// Stops the server and its mail worker as SIGTERM does, keeping the
    /// database for what comes after.
    pub async fn stop_serving(&mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs a test body once per backend, naming the backend when it fails.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: Backend) $body:block) => {
        mod $name {
            use super::*;
            async fn run($backend: $crate::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() { run($crate::Backend::Sqlite).await }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() { run($crate::Backend::Postgres).await }
        }
    };
}
