//! The Pricegate service as a library, so tests can start it on a random
//! port with a fresh database exactly as `pricegate serve` does.

pub mod demo;
pub mod settings;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use pricegate_store::Store;
use pricegate_web::AppState;
use tokio::net::TcpListener;

pub use settings::Settings;

/// A bound, migrated, ready-to-serve Pricegate.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
}

impl Application {
    /// Connects to the database, applies migrations and binds the listener
    /// (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = connect(&settings).await?;
        let listener = TcpListener::bind(settings.bind).await.with_context(|| format!("cannot listen on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let base_url = settings.base_url.clone().unwrap_or_else(|| format!("http://{address}"));
        Ok(Application { listener, address, state: AppState { store, base_url } })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let app = pricegate_web::router(self.state.clone());
        axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed")?;
        self.state.store.close().await;
        Ok(())
    }
}

/// Opens the database named by the settings and brings its schema up to date.
pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url, settings.db_max_connections)
        .await
        .context("cannot open the database named by DATABASE_URL")?;
    store.migrate().await.context("cannot apply the database migrations")?;
    Ok(store)
}
