use pricegate_domain::Invalid;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

use crate::views::GateView;

/// What [`StoreError::SupersededPrices`] says, to the signer, who may not
/// own the quote: only its owner reprices it.
pub const SUPERSEDED_PRICES: &str = "Some lines carry a price that is no longer in force: the quote's owner must reprice it, or finance must approve keeping the old prices.";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Well-formed input that breaks a rule (HTTP 422). Transparent: its
    /// sentence is said once, not again as its own cause.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such row, or one the caller may not know exists (HTTP 404).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The caller may not do this to this row (HTTP 403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The row is in a state that does not allow this (HTTP 409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The gate refused: the signer has notices to acknowledge first (HTTP 409).
    #[error("the signer has not acknowledged every notice published since the quote was drafted")]
    PendingAcknowledgements(Box<GateView>),
    /// The gate refused: lines carry a price no longer in force, with no
    /// finance override that covers them (HTTP 409 `superseded_prices`).
    #[error("{}", SUPERSEDED_PRICES)]
    SupersededPrices(Box<GateView>),
    /// The database cannot be reached or is too busy right now (HTTP 503).
    #[error("the database is unavailable")]
    Unavailable(#[source] DbErr),
    /// The change met another being saved at the same moment, which it
    /// would have had to wait for while that one waited for it (a deadlock),
    /// and PostgreSQL ended this one: nothing of it was written, and the
    /// same request sent again goes through (HTTP 503 `busy`).
    #[error("the change met another saved at the same moment")]
    Contended(#[source] DbErr),
    #[error("database error")]
    Db(#[source] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

/// An error and each of its causes, as a log line says them: "database
/// error: Execution Error: …: no such table: users". A cause whose words
/// the error before it already says (database errors often repeat their
/// source's) is not said twice.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut said = text.clone();
    let mut source = e.source();
    while let Some(cause) = source {
        let words = cause.to_string();
        if !said.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        said = words;
        source = cause.source();
    }
    text
}

impl StoreError {
    pub fn not_found(what: &'static str) -> Self {
        StoreError::NotFound { what }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict { code, message: message.into() }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Forbidden { code, message: message.into() }
    }

    /// A unique-constraint violation turned into the conflict the caller names;
    /// any other database error passes through unchanged.
    pub(crate) fn unique_as(err: DbErr, code: &'static str, message: impl Into<String>) -> Self {
        if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            StoreError::conflict(code, message)
        } else {
            StoreError::from(err)
        }
    }
}

/// The words for a write the database refused: SQLite's when the disk (or
/// the filesystem's quota) is full, or the file or its directory is
/// read-only; ours for a PostgreSQL server that takes no writes.
fn cannot_write(text: &str) -> bool {
    ["database or disk is full", "attempt to write a readonly database", "disk I/O error"]
        .iter()
        .any(|t| text.contains(t))
        || text.contains(crate::db::READ_ONLY_SERVER)
        || text.contains(crate::db::READ_ONLY_ROLE)
}

impl StoreError {
    /// The database is there but refuses writes: its disk is full, its file
    /// read-only, or its server or role takes none. An operator's to mend;
    /// nothing was written.
    pub fn cannot_write(&self) -> bool {
        matches!(self, StoreError::Unavailable(cause)
            if cannot_write(&cause.to_string()) || crate::db::sqlstate(cause).as_deref() == Some(READ_ONLY_TRANSACTION))
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_contended(&err) {
            StoreError::Contended(err)
        } else if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Db(err)
        }
    }
}

/// PostgreSQL's codes for a transaction it ended because it met another:
/// `deadlock_detected`, and `serialization_failure` (which a transaction
/// at the default isolation meets too, when a row it locks is moved to
/// another partition, say).
fn is_contended(err: &DbErr) -> bool {
    crate::db::sqlstate(err).is_some_and(|code| matches!(code.as_str(), "40P01" | "40001"))
}

/// PostgreSQL's codes for a statement it stopped: past `lock_timeout` (see
/// `Store::connect_bounded`), or past a `statement_timeout` or cancelled by
/// an administrator.
fn gave_up_waiting(code: &str) -> bool {
    matches!(code, "57014" | "55P03")
}

/// PostgreSQL's code for a write in a read-only transaction: the server is a
/// standby, or its transactions are read-only by default.
const READ_ONLY_TRANSACTION: &str = "25006";

/// Errors that say "try again later" rather than "this is a bug": no
/// connection, a pool that timed out, SQLite still locked after its busy
/// timeout or unable to write (its disk full, its file read-only; see
/// [`StoreError::cannot_write`]), PostgreSQL shutting down, stopping a
/// statement that ran or waited too long, or refusing a write (a standby).
fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            let text = e.to_string();
            matches!(
                **e,
                sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::PoolTimedOut | sea_orm::sqlx::Error::PoolClosed
            ) || crate::db::sqlstate(err).is_some_and(|code| gave_up_waiting(&code) || code == READ_ONLY_TRANSACTION)
                || text.contains("database is locked")
                || cannot_write(&text)
                || text.contains("terminating connection")
                || text.contains("the database system is")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that says its cause's words again, as database drivers' do.
    #[derive(Debug)]
    struct Repeats(DbErr);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "the query failed: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_database_error_is_logged_with_what_the_database_said_once() {
        let e = StoreError::Db(DbErr::Custom("no such table: users".into()));
        assert_eq!(causes(&e), "database error: Custom Error: no such table: users");
        let repeated = Repeats(DbErr::Custom("disk I/O error".into()));
        assert_eq!(causes(&repeated), "the query failed: Custom Error: disk I/O error");
        assert_eq!(causes(&StoreError::conflict("x", "Taken.")), "Taken.");
    }
}
