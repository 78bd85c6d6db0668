//! The Pricegate service as a library, so tests can start it on a random
//! port with a fresh database exactly as `pricegate serve` does.

pub mod demo;
mod serve;
pub mod settings;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use pricegate_mail::{AnyTransport, TemplateComposer, WorkerConfig};
use pricegate_store::{MailSetup, Store};
use pricegate_web::AppState;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use pricegate_web::TrustedProxies;
pub use settings::Settings;

/// A bound, migrated, ready-to-serve Pricegate.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    worker: Worker,
    /// `PRICEGATE_IDLE_TIMEOUT`, for the accept loop.
    idle_timeout: std::time::Duration,
    /// `PRICEGATE_CONNECTIONS_PER_ADDRESS`, for the accept loop.
    connections_per_address: usize,
}

impl Application {
    /// Takes the address (port 0 picks a free port) and sets up the mail,
    /// then connects to the database and applies migrations, and only then
    /// listens: a setting refused, or an address taken, stops the start
    /// before the database is touched (an upgrade with a typo in its
    /// settings does not migrate the database the version before it still
    /// serves), and while migrations run, a client or a probe connecting is
    /// refused, as before the start, rather than accepted and left waiting.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let taken = |e: std::io::Error| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => ": another process listens there",
                _ => "",
            };
            anyhow::anyhow!("cannot listen on {} (PRICEGATE_BIND): {e}{hint}", settings.bind)
        };
        let socket = match settings.bind {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .map_err(taken)?;
        // As a listener bound at once would be: a restart finds its port free
        // although the last one's connections linger in TIME_WAIT. Beside a
        // server listening there, binding is refused: a start whose address
        // is taken touches no database.
        socket.set_reuseaddr(true).map_err(taken)?;
        socket.bind(settings.bind).map_err(taken)?;
        let address = socket.local_addr()?;
        let base_url = base_url_for(&settings, address, true);
        let (mail, worker) = mail(&settings, &base_url)?;
        let store = connect(&settings).await?.with_mail(mail);
        let listener = socket.listen(1024).map_err(taken)?;
        let configuration = std::sync::Arc::new(settings.configuration(address, &base_url));
        Ok(Application {
            listener,
            address,
            state: AppState {
                store,
                base_url,
                request_timeout: settings.request_timeout,
                trusted_proxies: std::sync::Arc::new(settings.trusted_proxies.clone()),
                configuration,
            },
            worker,
            idle_timeout: settings.idle_timeout,
            connections_per_address: settings.connections_per_address,
        })
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

    /// Serves, and runs the mail worker as one task, until `shutdown`
    /// completes; then lets in-flight requests finish and the worker finish
    /// the message it is sending.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(self.worker.run(self.state.store.clone(), stopped));
        let app = pricegate_web::router(self.state.clone());
        let limit = serve::ConnectionLimit::new(self.connections_per_address, self.state.trusted_proxies.clone());
        // A request in flight is answered within the request timeout; a
        // connection that has not sent its request by then is not waited for.
        let stop_grace = self.state.request_timeout.min(self.idle_timeout);
        serve::serve(self.listener, app, self.idle_timeout, stop_grace, limit, async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
        stop_worker(worker).await;
        self.state.store.close().await;
        Ok(())
    }
}

/// How long a stopping server waits for its mail worker to stop, before
/// [`Store::close`]'s own wait.
const WORKER_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A PostgreSQL error as the driver says it, without the line of the
/// server's own source it was raised at (`… does not exist at line 948`),
/// which tells the reader nothing.
fn without_server_source_line(said: &str) -> &str {
    match said.rsplit_once(" at line ") {
        Some((message, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => message,
        _ => said,
    }
}

/// Opens the database named by the settings and brings its schema up to date.
pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    Ok(connect_migrated(settings).await?.0)
}

/// What to do about SQLite's words in `causes`, which name neither the
/// database's `file` nor a remedy; `read_only`: `DATABASE_URL` opens it so.
fn sqlite_hint(causes: &[String], file: &std::path::Path, read_only: bool) -> Option<String> {
    let said = |words: &str| causes.iter().any(|c| c.contains(words));
    let unopened = said("unable to open database file");
    // SQLITE_READONLY_DIRECTORY: its -wal and -shm files go beside it.
    let directory_read_only = said("code: 1544");
    let write_refused = said("readonly database");
    let shown = file.display();
    let hint = if unopened && file.is_dir() {
        format!("{shown} is a directory: name a file in it, as sqlite://{shown}/pricegate.db?mode=rwc")
    } else if unopened && file.exists() {
        format!(
            "the file {shown} is there, but the user this runs as may not open it: a backup restored by another \
             user needs `chown` to this one"
        )
    } else if unopened && read_only {
        format!("there is no file {shown} to open read-only (mode=ro)")
    } else if unopened {
        format!("the file is {shown}: does its directory exist, and may the user this runs as write in it?")
    } else if directory_read_only {
        format!(
            "the directory {} is read-only to the user this runs as, and SQLite writes its -wal and -shm files \
             there: `chown` it to this user too",
            file.parent().unwrap_or(file).display()
        )
    } else if write_refused && read_only {
        format!("DATABASE_URL opens the file {shown} read-only (mode=ro); the service writes to it (mode=rwc)")
    } else if write_refused {
        format!(
            "the file {shown} (or its directory) is read-only to the user this runs as: a backup restored by \
             another user needs `chown` to this one"
        )
    } else {
        return None;
    };
    Some(hint)
}

/// Said after a SQLite file's whole path when `DATABASE_URL` names it
/// relative to the working directory (run from another, it names another
/// file); nothing when it names it whole.
pub fn named_from_here(path: &std::path::Path) -> &'static str {
    match path.is_relative() {
        true => " (DATABASE_URL names it from the directory pricegate runs in)",
        false => "",
    }
}

/// [`connect`], saying what the migration did.
pub async fn connect_migrated(settings: &Settings) -> anyhow::Result<(Store, pricegate_store::Migrated)> {
    // The driver's errors may repeat the URL, password and all.
    let url = &settings.database_url;
    let said = |e: pricegate_store::StoreError| {
        // A database that answers but refuses writes is not "unavailable":
        // its own cause says what it is.
        let answers = e.cannot_write();
        // Each cause once: the driver's errors repeat their own source.
        let mut causes: Vec<String> = Vec::new();
        for cause in anyhow::Error::new(e).chain().skip(usize::from(answers)).map(|c| {
            let text = c.to_string();
            let cause = without_server_source_line(&text);
            // Our own words need no label from the driver.
            cause.strip_prefix("Custom Error: ").unwrap_or(cause).to_owned()
        }) {
            if !causes.iter().any(|said| said.contains(&cause)) {
                causes.push(cause);
            }
        }
        // The pool's own words for a server that never answered.
        if causes.last().is_some_and(|c| c.contains("pool timed out while waiting for an open connection")) {
            causes
                .push("no database answered at the address it names (is it running, and reachable from here?)".into());
        }
        // SQLite's words name no file, nor what to do.
        if let Some(file) = pricegate_store::sqlite_file(url) {
            let file = std::path::absolute(&file).unwrap_or(file);
            causes.extend(sqlite_hint(&causes, &file, pricegate_store::opens_read_only(url)));
        }
        anyhow::anyhow!(settings::without_database_url(&causes.join(": "), url))
    };
    // Run from another directory, a relative SQLite path names another file.
    // Said here, as it is made: a start refused before (its address taken) makes none.
    let new_database =
        pricegate_store::sqlite_file(url).filter(|path| !path.exists() && !pricegate_store::opens_read_only(url));
    // Where its directory is missing, the refusal that follows says so.
    if let Some(path) = new_database
        .filter(|path| std::path::absolute(path).ok().and_then(|p| p.parent().map(|d| d.is_dir())) == Some(true))
    {
        let whence = named_from_here(&path);
        let path = std::path::absolute(&path).unwrap_or(path);
        tracing::warn!("there is no database at {}: a new, empty one is made there{whence}", path.display());
    }
    // No statement waits for a lock longer than a request may take (the
    // worker's and the commands' too): see `connect_bounded`.
    let mut connecting =
        std::pin::pin!(Store::connect_bounded(url, settings.db_max_connections, Some(settings.request_timeout)));
    // A database that does not answer is waited for a while before the start
    // is refused: said meanwhile, or the process looks hung.
    let connected = tokio::select! {
        connected = &mut connecting => connected,
        () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {
            tracing::info!(
                "waiting for the database at {} to answer (the start is refused if it does not within seconds)",
                settings::without_password(url)
            );
            connecting.await
        }
    };
    let store = connected
        .map_err(said)
        .context("cannot open the database named by DATABASE_URL")?
        .with_calendar(settings.calendar)
        .await
        .map_err(said)
        .context("cannot use PRICEGATE_TIMEZONE")?;
    let migrated = store.migrate().await.map_err(said).context("cannot apply the database migrations")?;
    // A database that reads but refuses writes would pass every read and
    // `/healthz`, and fail every change: said now, by the command, instead.
    store.check_writable().await.map_err(said).context("cannot write to the database named by DATABASE_URL")?;
    if let Some(newest) = migrated.applied.last() {
        tracing::info!(applied = migrated.applied.len(), %newest, "database migrations applied");
    }
    Ok((store, migrated))
}

/// The mail worker's parts, ready to run.
pub struct Worker {
    transport: AnyTransport,
    config: WorkerConfig,
}

impl Worker {
    async fn run(self, store: Store, stop: watch::Receiver<bool>) {
        pricegate_mail::run_worker(store, self.transport, self.config, stop).await;
    }
}

/// Why MAIL_FROM is refused, in words: lettre's own ("Invalid input")
/// does not say what to mend.
fn not_a_sender(raw: &str, error: lettre::address::AddressError) -> String {
    use lettre::address::AddressError;
    let several = raw.parse::<lettre::message::Mailboxes>().is_ok_and(|all| all.iter().count() > 1);
    // lettre says most of these as `InvalidInput`: told apart here.
    let why = match error {
        _ if several => "it names more than one address, and every e-mail has one sender",
        _ if !raw.contains('@') => "it has no @ between a mailbox and a domain",
        _ if raw.matches('<').count() != raw.matches('>').count() => "its angle brackets do not pair up",
        AddressError::InvalidUser => "the part before the @ is not a mailbox's name",
        AddressError::InvalidDomain => "the part after the @ is not a domain",
        _ => "it does not read as one address, alone or in angle brackets after a name",
    };
    format!("MAIL_FROM {raw:?} is not an address like `Pricegate <pricegate@example.com>`: {why}")
}

/// What the store needs to write mail (so publication enqueues its e-mails
/// in its own transaction), and the worker that sends them; from the
/// settings alone, so that they are checked before the database is.
pub fn mail(settings: &Settings, base_url: &str) -> anyhow::Result<(MailSetup, Worker)> {
    let from: lettre::message::Mailbox =
        settings.mail_from.parse().map_err(|e| anyhow::anyhow!(not_a_sender(&settings.mail_from, e)))?;
    // Mail servers take an envelope in ASCII only (without SMTPUTF8, which
    // few offer), and the Message-IDs are made of this domain: a sender at
    // `müller.de` would have every e-mail retried for ever.
    if !from.email.to_string().is_ascii() {
        anyhow::bail!(
            "MAIL_FROM: the address {} has letters beyond ASCII; write its domain as DNS does (müller.de is \
             xn--mller-kva.de); the name before it may have any",
            from.email
        );
    }
    let config = WorkerConfig {
        lease: settings.mail_lease,
        ..WorkerConfig::new(from.clone(), settings.worker_poll, settings.reminders.clone())
    };
    if settings.smtp_url.is_some() && settings.mail_lease < std::time::Duration::from_secs(30) {
        tracing::warn!(
            lease = ?settings.mail_lease,
            "PRICEGATE_MAIL_LEASE is short: each SMTP conversation gets at most half of it, and one a slow relay \
             takes longer over is cut short and tried again; keep it well above what the relay takes (default 5m)"
        );
    }
    let domain = from.email.domain();
    if settings.smtp_url.is_some() && (domain == "localhost" || !domain.contains('.')) {
        // Files need no sender domain; mail servers check it, and the
        // Message-IDs are made of it too.
        tracing::warn!(
            mail_from = %from.email,
            "MAIL_FROM has no domain of yours while SMTP_URL sends mail out: receiving servers may refuse \
             or mark it; set MAIL_FROM to an address of your company's domain"
        );
    }
    let transport = match &settings.smtp_url {
        Some(url) => AnyTransport::smtp(url.expose(), config.concurrency as u32).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => AnyTransport::files(&settings.maildir).map_err(|e| anyhow::anyhow!("PRICEGATE_MAILDIR: {e}"))?,
    };
    let ack_link_ttl =
        chrono::Duration::from_std(settings.ack_link_ttl).context("PRICEGATE_ACK_LINK_TTL is too long")?;
    let setup = MailSetup {
        composer: std::sync::Arc::new(TemplateComposer { calendar: settings.calendar, link_ttl: ack_link_ttl }),
        base_url: base_url.trim_end_matches('/').to_owned(),
        ack_link_ttl,
        message_id_domain: from.email.domain().to_owned(),
    };
    Ok((setup, Worker { transport, config }))
}

/// Where e-mail links point: `PRICEGATE_BASE_URL`, else `http://` and the
/// address bound (`serves_http`), or, for a worker, the one it would bind.
/// Warned of where a reader may not open it: an address of every interface
/// (`0.0.0.0`, `[::]`, as in a container), a worker's, which serves no
/// HTTP, and any once e-mail goes out by SMTP to people on other machines
/// (a loopback address is none of theirs; with several processes on one
/// database, each would link to its own).
fn base_url_for(settings: &Settings, address: SocketAddr, serves_http: bool) -> String {
    if let Some(url) = &settings.base_url {
        return url.clone();
    }
    let set_it = "set PRICEGATE_BASE_URL to the address people reach Pricegate at";
    if address.ip().is_unspecified() {
        tracing::warn!(
            %address,
            "PRICEGATE_BASE_URL is not set and the address bound is every interface: links in e-mails will \
             point at http://{address}, which no reader can open; {set_it}"
        );
    } else if !serves_http {
        tracing::warn!(
            "PRICEGATE_BASE_URL is not set: this worker serves no HTTP, so the links in its e-mails point at \
             http://{address} (from PRICEGATE_BIND); {set_it}"
        );
    } else if settings.smtp_url.is_some() && address.ip().is_loopback() {
        tracing::warn!(
            %address,
            "PRICEGATE_BASE_URL is not set: links in the e-mails SMTP_URL sends point at http://{address}, a \
             loopback address, which a reader on another machine cannot open; {set_it}"
        );
    } else if settings.smtp_url.is_some() {
        tracing::warn!(
            %address,
            "PRICEGATE_BASE_URL is not set: links in the e-mails SMTP_URL sends point at http://{address}, this \
             process's own address (with several processes on one database, each links to its own); {set_it}"
        );
    }
    format!("http://{address}")
}

/// `pricegate worker`: only the mail worker, until `shutdown` completes.
pub async fn run_worker_until(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let base_url = base_url_for(&settings, settings.bind, false);
    let (mail, worker) = mail(&settings, &base_url)?;
    let store = connect(&settings).await?.with_mail(mail);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(store.clone(), stopped));
    shutdown.await;
    let _ = stop.send(true);
    stop_worker(running).await;
    store.close().await;
    Ok(())
}

/// Waits for the mail worker, told to stop, to give back what it claimed
/// and had not sent; a database that does not answer must not hold the
/// stop up (those claims lapse with their lease, and another worker sends
/// them): after [`WORKER_STOP_WAIT`] it is stopped where it is.
async fn stop_worker(mut worker: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(WORKER_STOP_WAIT, &mut worker).await.is_err() {
        tracing::warn!(waited = ?WORKER_STOP_WAIT, "the mail worker did not stop in time; stopping without it");
        worker.abort();
    }
}
