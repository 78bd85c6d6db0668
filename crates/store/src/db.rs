use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SubsecRound, TimeZone, Utc};
use pricegate_domain::{Calendar, Invalid};
use pricegate_migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    PrimaryKeyTrait, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::StoreError;

/// The lock migrations are applied under on PostgreSQL (its key is not the
/// gate's).
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(8102654555216896373)";
/// [`MIGRATION_LOCK`] if it is free now: whether it was taken.
const MIGRATION_LOCK_NOW: &str = "SELECT pg_try_advisory_xact_lock(8102654555216896373) AS taken";

/// What a PostgreSQL server that takes no writes is said to be (see
/// [`Store::check_writable`]); a `cannot_write` cause.
pub(crate) const READ_ONLY_SERVER: &str =
    "the database server accepts no writes (transaction_read_only is on: a standby, or default_transaction_read_only)";

/// What a PostgreSQL role that may not add rows to every one of Pricegate's
/// tables is said to be (see [`Store::check_writable`]); a `cannot_write` cause.
pub(crate) const READ_ONLY_ROLE: &str = "the database role DATABASE_URL logs in as may not add rows to these tables";

/// Pricegate's own tables, every one the migrations make but their own
/// record (`seaql_migrations`, which the service only reads). A test checks
/// the list against a migrated database: a migration adding a table adds it here.
pub const TABLES: [&str; 21] = [
    "ack_tokens",
    "acknowledgements",
    "api_tokens",
    "approval_requests",
    "audit_log",
    "finalisations",
    "gate",
    "login_failures",
    "notice_changes",
    "notices",
    "outbox",
    "password_links",
    "price_overrides",
    "products",
    "publication_fanouts",
    "quote_lines",
    "quotes",
    "reminder_sweeps",
    "sessions",
    "signer_letters",
    "users",
];

/// Those of [`TABLES`], in the schema Pricegate's tables are in, that the
/// role may not read and add rows to: a role granted reading only.
/// Updating and deleting are not asked for (a deployment may keep the audit
/// log append-only on purpose), nor anything of tables that are not
/// Pricegate's (a copy a DBA keeps, an extension's), nor a partition's own
/// grants (rows reach it through its table). `has_table_privilege` with
/// several privileges is true if any is held: each is asked apart.
fn unwritable_tables_sql() -> String {
    let names: Vec<String> = TABLES.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "SELECT c.relname AS name FROM pg_class c \
         WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('seaql_migrations')) \
         AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname IN ({}) \
         AND NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')) \
         ORDER BY c.relname",
        names.join(", ")
    )
}

/// The database, shared by every request and worker of one process.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// How to write mail, when this process writes any (see [`crate::outbox`]).
    pub(crate) mail: Option<std::sync::Arc<crate::outbox::MailSetup>>,
    /// Which day it is for the business (see [`Calendar`]).
    pub(crate) calendar: Calendar,
}

/// Creates the file of a new SQLite database readable and writable by this
/// user only, as the mail files are: it holds password hashes, sessions and
/// every customer's quotes. SQLite gives its `-wal` and `-shm` files the
/// database file's mode. A file that exists keeps its mode; one that cannot
/// be created here is left to the connection to report.
fn create_private(url: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opened read-only, nothing is made: an empty file would be in the way.
        let Some(path) = sqlite_file(url).filter(|path| !path.exists() && !opens_read_only(url)) else { return };
        let _created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    }
}

/// The file name a SQLite `url` gives, as written (empty when it gives
/// none); `None` for PostgreSQL, a database in memory, or a URL that does
/// not read.
fn sqlite_file_name(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    // (`sqlite::memory:` is named `file:sqlx-in-memory-…` once read: no file.)
    if !url.starts_with("sqlite:") || url.contains("mode=memory") || url.contains(":memory:") {
        return None;
    }
    let options = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Whether `url` is a SQLite URL of a database kept in memory
/// (`sqlite::memory:`, `…?mode=memory`): gone when the process ends.
pub fn sqlite_in_memory(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains("mode=memory") || url.contains(":memory:"))
}

/// Whether `url` is a SQLite URL that names no file and no database in
/// memory (`sqlite://`, `sqlite:?mode=rwc`): SQLite then gives each
/// connection a private temporary database of its own, which the others
/// never see and which is gone when it closes.
pub fn sqlite_names_nothing(url: &str) -> bool {
    sqlite_file_name(url).is_some_and(|path| path.as_os_str().is_empty())
}

/// The file of the SQLite database `url` names (relative to the working
/// directory, as written); `None` for PostgreSQL or a database in memory.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    sqlite_file_name(url).filter(|path| !path.as_os_str().is_empty() && path != std::path::Path::new(":memory:"))
}

/// Whether the SQLite database `url` names is opened read-only (`mode=ro`):
/// nothing is made for it, and a refused write is its URL's doing.
pub fn opens_read_only(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| query.split('&').any(|pair| pair == "mode=ro"))
}

/// How long [`Store::close_ended_idle`] waits for an idle connection's ping.
const IDLE_PING_WITHIN: Duration = Duration::from_secs(1);

/// Whether `error` may be that of a connection the database ended: cut
/// (an I/O or protocol error) or told why (`57P…`: shut down by an
/// administrator or a crash, or not accepting connections yet). A refused
/// login or a bad setting is not.
pub(crate) fn ended_connection(error: &sea_orm::DbErr) -> bool {
    match driver_error(error) {
        Some(sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::Protocol(_)) => true,
        _ => sqlstate(error).is_some_and(|code| code.starts_with("57P")),
    }
}

/// The database's code for `error` (PostgreSQL's SQLSTATE), if it gave one.
pub(crate) fn sqlstate(error: &sea_orm::DbErr) -> Option<String> {
    match driver_error(error) {
        Some(sea_orm::sqlx::Error::Database(db)) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// The driver's own error under `error`, where there is one.
fn driver_error(error: &sea_orm::DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::{DbErr, RuntimeErr};
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

impl Store {
    /// Connects to `sqlite://…` (file created on first use, WAL, busy
    /// timeout) or `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Self::connect_bounded(url, max_connections, None).await
    }

    /// [`Store::connect`], with PostgreSQL giving up on a statement that has
    /// waited `longest` for a lock (`lock_timeout`; a request's own limit,
    /// say): one whose request has been answered 503 meanwhile does not wait
    /// on in the database for as long as the lock is held, its connection
    /// taken from every later request (the pool then closes that connection
    /// and opens another). A statement that is slow rather than waiting is
    /// not stopped: the worker's and an export's long reads go on. Applying
    /// the migrations waits as long as it takes (see [`Store::migrate`]).
    /// SQLite's wait is its busy timeout.
    pub async fn connect_bounded(
        url: &str,
        max_connections: u32,
        lock_wait: Option<Duration>,
    ) -> Result<Store, StoreError> {
        create_private(url);
        // The gate's proof reads each statement of a finalisation in a
        // snapshot taken after the gate lock is held: READ COMMITTED, not
        // a default of REPEATABLE READ some servers are configured with.
        // Set in the startup packet: no round trip per transaction.
        let mut settings = vec![("default_transaction_isolation", "read committed".to_owned())];
        if let Some(lock_wait) = lock_wait.filter(|l| !l.is_zero()) {
            // In milliseconds, at least one: 0 would mean no limit.
            settings.push(("lock_timeout", lock_wait.as_millis().clamp(1, i32::MAX as u128).to_string()));
        }
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            // A connection back in the pool within the last half second has
            // just answered: checking it again with a ping would add a round
            // trip to every checkout (a third of a token check's, measured in
            // `scripts/bench`). One idle for longer is pinged. Given back,
            // a connection is pinged only if it has not settled (see
            // `[patch.crates-io]` in Cargo.toml): one that failed or was
            // dropped mid-statement is then found broken and dropped.
            .test_before_acquire_if_idle_for(Duration::from_millis(500))
            .sqlx_logging(false)
            .map_sqlx_postgres_opts(move |o| o.options(settings.iter().map(|(k, v)| (*k, v.as_str()))))
            .map_sqlx_sqlite_opts(|o| {
                // FULL: each commit is on disk before it is answered, also
                // through a power cut. With NORMAL the last commits could
                // vanish after one while the worker had already mailed them
                // (a finalisation's e-mail for a quote the database then
                // no longer has finalised); the proof is what Pricegate keeps.
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true)
            })
            // A connection whose ROLLBACK failed still counts a transaction
            // (after a full disk, say, which SQLite may end on its own): it
            // would begin every later one as a savepoint of it, or be refused
            // `BEGIN IMMEDIATE`. It is closed, and the pool opens another.
            .map_sqlx_sqlite_before_acquire(|conn, _| {
                Box::pin(async move { Ok(!sea_orm::sqlx::Connection::is_in_transaction(conn)) })
            });
        // Processes starting together on a new SQLite file each turn it to
        // WAL as they open it, and one may find it locked with no wait
        // (the busy timeout does not cover that switch): opened again, a
        // moment later, it finds the switch made.
        let mut tries = 0;
        let db = loop {
            match Database::connect(options.clone()).await {
                Err(e) if tries < 5 && url.starts_with("sqlite:") && e.to_string().contains("database is locked") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                connected => break connected?,
            }
        };
        Ok(Store { db, mail: None, calendar: Calendar::UTC })
    }

    /// Counts days by `calendar` from now on (UTC until then).
    ///
    /// PostgreSQL reads today's date from its own clock in that zone (see
    /// `load_quote_sql`), and this process reads it from the same clock
    /// through the zone's rules as `chrono-tz` has them: the two must agree.
    /// They would not for a name PostgreSQL takes as a fixed abbreviation
    /// (`CET` is always UTC+1 there, and has summer time in the time zone
    /// database), or with a different edition of the zone rules. So the
    /// zone's wall-clock time in mid-winter and mid-summer is compared, and a
    /// zone read two ways is refused.
    pub async fn with_calendar(mut self, calendar: Calendar) -> Result<Store, StoreError> {
        if self.backend() == DbBackend::Postgres {
            let year = db_now(&self.db).await?.year();
            let instants = [(1, 15), (7, 15)]
                .map(|(month, day)| Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).single().unwrap_or_default());
            let check = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT ($2::timestamptz AT TIME ZONE $1) AS winter, ($3::timestamptz AT TIME ZONE $1) AS summer",
                [calendar.zone_name().into(), instants[0].into(), instants[1].into()],
            );
            let row = self.db.query_one_raw(check).await.map_err(|e| {
                StoreError::Invalid(Invalid::new(
                    "PRICEGATE_TIMEZONE",
                    format!("PostgreSQL cannot read the time zone {calendar}: {e}"),
                ))
            })?;
            let row = row.ok_or_else(|| StoreError::Internal("the time zone check returned no row".into()))?;
            let theirs = [row.try_get::<NaiveDateTime>("", "winter")?, row.try_get::<NaiveDateTime>("", "summer")?];
            let ours = instants.map(|at| calendar.local_time(at));
            if theirs != ours {
                return Err(StoreError::Invalid(Invalid::new(
                    "PRICEGATE_TIMEZONE",
                    format!(
                        "PostgreSQL reads the time zone {calendar} differently from Pricegate \
                     ({} and {} where Pricegate reads {} and {} at 12:00 UTC on 15 January and 15 July): \
                     name the zone by its region, like Europe/Berlin",
                        theirs[0], theirs[1], ours[0], ours[1]
                    ),
                )));
            }
        }
        self.calendar = calendar;
        Ok(self)
    }

    /// Which day it is for the business.
    pub fn calendar(&self) -> Calendar {
        self.calendar
    }

    /// The time by the database's clock ([`db_now`]), the clock every
    /// acknowledgement and finalisation is stamped by.
    pub async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        self.again_if_ended(|| db_now(&self.db)).await
    }

    /// `ask`, asked again on another connection while the one the pool gave
    /// it turns out to have been ended by the database (a restart, a
    /// failover, an administrator's `pg_terminate_backend`): the pool hands
    /// out a connection busy a moment ago without a ping (see
    /// `connect_bounded`), so each of its connections may fail once after
    /// such an event, and a request would answer 503 for a database that is
    /// up. As many times as the pool holds connections, at most. Only for
    /// what changes nothing however often it is asked (a read, a `BEGIN`):
    /// `ask` must write nothing.
    ///
    /// Once a connection is found ended, the pool's idle connections are
    /// checked before it is asked again: those idle beside it were most
    /// likely ended with it, and each would fail a request of its own.
    pub(crate) async fn again_if_ended<T, F>(&self, mut ask: impl FnMut() -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let (_, _, most) = self.pool_use();
        let mut tries = 0;
        loop {
            tries += 1;
            match ask().await {
                Err(StoreError::Unavailable(e) | StoreError::Db(e)) if tries <= most && ended_connection(&e) => {
                    tracing::debug!(error = %e, "a database connection had ended; asking again on another");
                    self.close_ended_idle().await;
                }
                asked => return asked,
            }
        }
    }

    /// Pings the idle connections of a PostgreSQL pool, all at once, and
    /// closes those that do not answer within [`IDLE_PING_WITHIN`] (a host
    /// gone without resetting them would hold each for as long as TCP takes
    /// to give up); the others go back to the pool.
    async fn close_ended_idle(&self) {
        use sea_orm::sqlx::Connection;
        if self.backend() != DbBackend::Postgres {
            return;
        }
        let pool = self.db.get_postgres_connection_pool();
        let mut pings = tokio::task::JoinSet::new();
        // Those idle now, each taken once.
        for _ in 0..pool.num_idle() {
            let Some(mut connection) = pool.try_acquire() else { break };
            pings.spawn(async move {
                let answered = matches!(tokio::time::timeout(IDLE_PING_WITHIN, connection.ping()).await, Ok(Ok(())));
                if !answered {
                    connection.close_on_drop();
                }
                answered
            });
        }
        let (mut closed, mut alive) = (0, 0);
        while let Some(answered) = pings.join_next().await {
            match answered {
                Ok(true) => alive += 1,
                _ => closed += 1,
            }
        }
        if closed > 0 {
            tracing::info!(closed, alive, "database connections the database had ended closed");
        }
    }

    /// The business day it is by the database's clock ([`db_now`]), the
    /// clock the gate reads it by.
    pub async fn today(&self) -> Result<NaiveDate, StoreError> {
        Ok(self.calendar.date_of(self.now().await?))
    }

    /// Applies the migrations not yet applied, all in one transaction:
    /// on PostgreSQL under a lock of their own, so that several processes
    /// starting at once on an empty database take turns, the first
    /// migrating and the others finding it done (on SQLite the write
    /// transaction is the turn). A start that fails part-way leaves the
    /// schema as it was.
    ///
    /// A database that has every one of them already is only read: a role
    /// allowed to read and write rows, and not to create tables, serves it.
    /// One a newer Pricegate migrated further is refused, naming the newest
    /// migration this one does not know: some keep a column up to date that
    /// this version would write without (a folded name, a search text), so
    /// serving it would quietly spoil rows.
    pub async fn migrate(&self) -> Result<Migrated, StoreError> {
        let known: Vec<String> =
            pricegate_migration::Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
        let applied = applied_migrations(&self.db).await?;
        if let Some(last) = applied.iter().flatten().rfind(|v| !known.contains(v)) {
            return Err(StoreError::conflict(
                "newer_schema",
                format!(
                    "this database was migrated by a newer Pricegate (up to {last}), which this version cannot \
                     serve without spoiling what the newer migrations keep up to date: run the newer version, or \
                     restore the database from before the upgrade"
                ),
            ));
        }
        let missing = known.iter().filter(|k| !applied.as_ref().is_some_and(|a| a.contains(k))).count();
        if missing == 0 {
            return Ok(Migrated { applied: Vec::new() });
        }
        let txn = self.begin_write().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // However long another process's migrations take, and whatever
            // lock an old process holds on a table they change: a bound on
            // requests' waits is not one on them.
            txn.execute_unprepared("SET LOCAL lock_timeout = 0").await?;
            // Another process applying them holds the lock: say so, rather
            // than wait in silence for as long as they take.
            let free = txn.query_one_raw(Statement::from_string(DbBackend::Postgres, MIGRATION_LOCK_NOW)).await?;
            if !free.map(|row| row.try_get::<bool>("", "taken")).transpose()?.unwrap_or(false) {
                tracing::info!("waiting for another process applying the database migrations");
                txn.execute_raw(Statement::from_string(DbBackend::Postgres, MIGRATION_LOCK)).await?;
            }
        }
        // What is missing now, this process's turn come: another may have
        // applied them meanwhile.
        let applied = applied_migrations(&txn).await?;
        let missing: Vec<&String> = known.iter().filter(|k| !applied.as_ref().is_some_and(|a| a.contains(k))).collect();
        if let Err(e) = pricegate_migration::Migrator::up(&txn, None).await {
            // The role the service runs as may read and write rows only (as
            // README suggests): the migrations are the schema owner's to apply.
            if sqlstate(&e).as_deref() == Some("42501") {
                return Err(StoreError::forbidden(
                    "may_not_migrate",
                    format!(
                        "{} migration(s) of this version are not applied yet (the newest: {}), and the database \
                         role DATABASE_URL names may not apply them ({e}): run `pricegate migrate` with the \
                         DATABASE_URL of the role that owns the schema, then start again",
                        missing.len(),
                        missing.last().map_or("?", |m| m.as_str()),
                    ),
                ));
            }
            return Err(e.into());
        }
        let applied = missing.into_iter().cloned().collect();
        txn.commit().await?;
        Ok(Migrated { applied })
    }

    /// Whether this process may write the database, asked once at start-up
    /// (a read answers the same either way, so `/healthz` and every read
    /// would pass while every change failed):
    /// [`StoreError::Unavailable`], [`StoreError::cannot_write`], when it may
    /// not. A SQLite file restored by another user, or on a read-only mount,
    /// opens and reads but refuses the first write; it is asked for one, the
    /// database's own `user_version` set to what it is, which is rolled back.
    /// PostgreSQL is asked whether its transactions are read-only (a standby,
    /// or `default_transaction_read_only`), in a transaction begun as the
    /// service's writes are.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let backend = self.backend();
        if backend == DbBackend::Postgres {
            let txn = self.begin_write().await?;
            let read_only = txn
                .query_one_raw(Statement::from_string(backend, "SELECT current_setting('transaction_read_only') AS ro"))
                .await?
                .map(|row| row.try_get::<String>("", "ro"))
                .transpose()?;
            if read_only.as_deref() == Some("on") {
                txn.rollback().await?;
                return Err(StoreError::Unavailable(sea_orm::DbErr::Custom(READ_ONLY_SERVER.to_owned())));
            }
            // A role granted reading only (or missing a grant a table
            // added by an upgrade needs: see `pricegate migrate` in the
            // README) is named with the tables it may not add rows to.
            let refused: Vec<String> = txn
                .query_all_raw(Statement::from_string(backend, unwritable_tables_sql()))
                .await?
                .into_iter()
                .map(|row| row.try_get::<String>("", "name"))
                .collect::<Result<_, _>>()?;
            txn.rollback().await?;
            if !refused.is_empty() {
                return Err(StoreError::Unavailable(sea_orm::DbErr::Custom(format!(
                    "{READ_ONLY_ROLE}: {}; grant it SELECT, INSERT, UPDATE, DELETE on them (as under `pricegate \
                     migrate` in the README)",
                    refused.join(", ")
                ))));
            }
            return Ok(());
        }
        // Holding the write lock from the start, waiting as every write does
        // for another process's: a read turned write would be refused at
        // once while another holds it, and say "locked" of a healthy file.
        let txn = self.begin_write().await?;
        let version = txn
            .query_one_raw(Statement::from_string(backend, "PRAGMA user_version"))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        // A number, read from the database: nothing else reaches the statement.
        txn.execute_unprepared(&format!("PRAGMA user_version = {version}")).await?;
        txn.rollback().await?;
        Ok(())
    }

    /// Answers whether the database is reachable (for `/healthz`): it is
    /// [`StoreError::Unavailable`] when it has not answered `within`, or
    /// the pool has no connection to ask it on by then (said apart: the
    /// database may be answering other processes all the while).
    ///
    /// A connection the database ended (a restart, a failover) fails the
    /// first question put on it, and is closed: the question is put again,
    /// on another connection, within `within`, as many times as the pool
    /// has connections and once more, so that the pool's dead connections
    /// do not make the service look down once the database is back. Any
    /// other failure (a refused login, say) is the answer. (A server that
    /// refuses connections is tried again by the pool itself, until `within`.)
    pub async fn ping(&self, within: Duration) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + within;
        let (_, _, most) = self.pool_use();
        let mut tries = 0;
        loop {
            tries += 1;
            match tokio::time::timeout_at(deadline, self.db.ping()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if tries <= most && ended_connection(&e) => {
                    tracing::debug!(error = %e, "a database connection failed its ping; asking on another");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if tokio::time::Instant::now() >= deadline {
                        return Err(e.into());
                    }
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(StoreError::Unavailable(sea_orm::DbErr::Custom(self.silence(within)))),
            }
        }
    }

    /// The pool's connections: how many are open, how many of those are
    /// idle, and the most it opens.
    fn pool_use(&self) -> (u32, usize, u32) {
        match self.backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
        }
    }

    /// Why the database gave no answer within `within`, as far as this
    /// process can tell.
    fn silence(&self, within: Duration) -> String {
        let (open, idle, most) = self.pool_use();
        if open >= most && idle == 0 {
            format!(
                "all {most} of this process's database connections stayed in use for {within:?}: its requests are \
                 slow, waiting on a lock, or waiting for a database that does not answer"
            )
        } else {
            format!("the database did not answer within {within:?}")
        }
    }

    /// Copies this SQLite database, as one transaction sees it, into
    /// `target`, an empty file (`VACUUM INTO`): a backup taken while it
    /// serves, compacted, that opens on its own (no `-wal` beside it).
    pub async fn back_up_into(&self, target: &str) -> Result<(), StoreError> {
        let statement = Statement::from_sql_and_values(DbBackend::Sqlite, "VACUUM INTO ?", [target.into()]);
        self.db.execute_raw(statement).await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begins a transaction that will write. On SQLite it is `BEGIN
    /// IMMEDIATE`: taking the write lock up front means a transaction never
    /// has to upgrade a read snapshot, which SQLite refuses without waiting.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.again_if_ended(|| async { Ok(self.db.begin_with_options(options).await?) }).await
    }

    /// Closes the pool, waiting for connections in use to be given back,
    /// for [`Self::CLOSE_WAIT`] at most: one a timed-out request left
    /// mid-statement is checked with a round trip first, which may wait
    /// behind a lock, and a stopping process must not wait on it (the
    /// database ends its session once the process is gone).
    pub async fn close(self) {
        if tokio::time::timeout(Self::CLOSE_WAIT, self.db.close()).await.is_err() {
            tracing::warn!(
                waited = ?Self::CLOSE_WAIT,
                "database connections still in use were not given back; stopping without them"
            );
        }
    }

    /// How long [`Self::close`] waits for connections in use.
    pub const CLOSE_WAIT: Duration = Duration::from_secs(10);
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The names of the migrations this process applied, in the order
    /// applied (none if another process applying them took its turn first).
    pub applied: Vec<String>,
}

/// The migrations applied to the database, in the order applied; `None`
/// when it has no record of them (an empty database, not migrated yet).
async fn applied_migrations(db: &impl ConnectionTrait) -> Result<Option<Vec<String>>, StoreError> {
    let backend = db.get_database_backend();
    let has_record = match backend {
        // The catalog as of this statement, read as a table: the name looked
        // up through `to_regclass` can come from this connection's cache
        // of the catalog, which a process that waited on the migration lock
        // may not have brought up to date since the table was made.
        DbBackend::Postgres => {
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'seaql_migrations' \
             AND schemaname = ANY (current_schemas(false))) AS present"
        }
        _ => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations') AS present"
        }
    };
    let present = db.query_one_raw(Statement::from_string(backend, has_record)).await?;
    if !present.map(|row| row.try_get::<bool>("", "present")).transpose()?.unwrap_or(false) {
        return Ok(None);
    }
    let sql = "SELECT version FROM seaql_migrations ORDER BY applied_at, version";
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await?;
    Ok(Some(rows.iter().map(|row| row.try_get::<String>("", "version")).collect::<Result<_, _>>()?))
}

/// The id of the row a form makes, from the key the form was given when
/// opened (`form_key`, see [`crate::NewQuote::form_key`]) and whoever sends
/// it: the same form sent twice names the same row, two people's never
/// meet, and nobody chooses an id. A random id without a key.
pub fn form_row_id(actor: Uuid, form_key: Option<Uuid>) -> Uuid {
    let Some(key) = form_key else { return Uuid::new_v4() };
    digest_id(&[b"pricegate form row", actor.as_bytes(), key.as_bytes()])
}

/// The form key (see [`form_row_id`]) a client's own key names: an API
/// request's `Idempotency-Key`, any bytes.
pub fn client_form_key(key: &[u8]) -> Uuid {
    digest_id(&[b"pricegate idempotency key\n", key])
}

/// An id made of the first 128 bits of the SHA-256 of `parts`, one after
/// another: the same parts, the same id.
fn digest_id(parts: &[&[u8]]) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = parts.iter().fold(Sha256::new(), |hash, part| hash.chain_update(part)).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Whether the row a form makes ([`form_row_id`]) is there already.
pub(crate) async fn form_row_made<E>(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool, StoreError>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    Ok(E::find_by_id(id).one(conn).await?.is_some())
}

/// The most words of a search that are looked for (the first, each once).
const SEARCH_WORDS: usize = 10;

/// Rows where one of `columns` contains each word of `text` (a word in one
/// column, another in another, or both in one), whatever its case: both
/// sides are lowered by the database (SQLite lowers ASCII letters only), and
/// `%`, `_` and `\\` in `text` stand for themselves. Only the first
/// [`SEARCH_WORDS`] words are looked for.
pub(crate) fn containing(backend: sea_orm::DbBackend, columns: &[&str], text: &str) -> sea_orm::Condition {
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    let mut words: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        if !words.contains(&word) && words.len() < SEARCH_WORDS {
            words.push(word);
        }
    }
    words.into_iter().fold(sea_orm::Condition::all(), |all, word| {
        let mut pattern = String::with_capacity(word.len() + 2);
        pattern.push('%');
        for c in word.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let any = columns.iter().fold(sea_orm::Condition::any(), |any, column| {
            let sql = format!("LOWER({column}) LIKE LOWER({placeholder}) ESCAPE '\\'");
            any.add(sea_orm::sea_query::Expr::cust_with_values(sql, [pattern.clone()]))
        });
        all.add(any)
    })
}

/// The `n`th bound value's placeholder in a statement written by hand:
/// `$n` on PostgreSQL, `?n` on SQLite, so that the text may name the values
/// in any order (a bare `?` takes them in the order it is written).
pub(crate) fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Values per `IN (…)` list: far below SQLite's limit on bound values in a
/// statement (32,766) and PostgreSQL's (65,535).
pub(crate) const IN_LIST_CHUNK: usize = 500;

/// The current time as the database sees it, to the microsecond.
///
/// On PostgreSQL this is `clock_timestamp()` (the wall clock now, not the
/// transaction's start as `now()` would be), so that every server process
/// stamps `drafted_at`, `published_at` and `finalised_at` from one clock, and
/// the order of the stamps taken under the gate lock is the order in which
/// the operations took effect. SQLite runs in this process: its clock is ours.
pub(crate) async fn db_now(conn: &impl ConnectionTrait) -> Result<DateTime<Utc>, StoreError> {
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            let row = conn
                .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT clock_timestamp() AS now"))
                .await?
                .ok_or_else(|| StoreError::Internal("clock_timestamp() returned no row".into()))?;
            let now: DateTime<Utc> = row.try_get("", "now")?;
            Ok(now.trunc_subsecs(6))
        }
        _ => Ok(Utc::now().trunc_subsecs(6)),
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn a_database_in_memory_has_no_file() {
        for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite:file:x?mode=memory", "postgres://db/pricegate"] {
            assert_eq!(sqlite_file(url), None, "{url}");
        }
        assert_eq!(sqlite_file("sqlite://pricegate.db?mode=rwc"), Some("pricegate.db".into()));
    }
}
