use sqlx_core::database::Database;
use sqlx_core::sql_str::SqlStr;

use crate::error::Error;
use crate::executor::Executor;

use crate::{PgConnection, Postgres};

pub(crate) use sqlx_core::transaction::*;

/// Implementation of [`TransactionManager`] for PostgreSQL.
pub struct PgTransactionManager;

impl TransactionManager for PgTransactionManager {
    type Database = Postgres;

    async fn begin(conn: &mut PgConnection, statement: Option<SqlStr>) -> Result<(), Error> {
        let depth = conn.inner.transaction_depth;

        let statement = match statement {
            // custom `BEGIN` statements are not allowed if we're already in
            // a transaction (we need to issue a `SAVEPOINT` instead)
            Some(_) if depth > 0 => return Err(Error::InvalidSavePointStatement),
            Some(statement) => statement,
            None => begin_ansi_transaction_sql(depth),
        };

        let mut rollback = Rollback::new(conn);
        rollback.conn.queue_simple_query(statement.as_str())?;
        // Pricegate: dropped while it waits here (a client gone, a timeout),
        // the `BEGIN` may have reached the server with `transaction_depth`
        // not yet counting it, so that `start_rollback` rolls back nothing
        // and the connection goes back to the pool inside a transaction
        // (transact-rs/sqlx#4393). An outermost `BEGIN` cut short queues its
        // `ROLLBACK` from the guard itself; one that completes, well or not,
        // goes on as upstream's.
        rollback.begin_in_flight = depth == 0;
        let ready = rollback.conn.wait_until_ready().await;
        rollback.begin_in_flight = false;
        ready?;
        if !rollback.conn.in_transaction() {
            return Err(Error::BeginFailed);
        }
        rollback.conn.inner.transaction_depth += 1;
        rollback.defuse();

        Ok(())
    }

    async fn commit(conn: &mut PgConnection) -> Result<(), Error> {
        if conn.inner.transaction_depth > 0 {
            conn.execute(commit_ansi_transaction_sql(conn.inner.transaction_depth))
                .await?;

            conn.inner.transaction_depth -= 1;
        }

        Ok(())
    }

    async fn rollback(conn: &mut PgConnection) -> Result<(), Error> {
        if conn.inner.transaction_depth > 0 {
            conn.execute(rollback_ansi_transaction_sql(conn.inner.transaction_depth))
                .await?;

            conn.inner.transaction_depth -= 1;
        }

        Ok(())
    }

    fn start_rollback(conn: &mut PgConnection) {
        if conn.inner.transaction_depth > 0 {
            conn.queue_simple_query(
                rollback_ansi_transaction_sql(conn.inner.transaction_depth).as_str(),
            )
            .expect("BUG: Rollback query somehow too large for protocol");

            conn.inner.transaction_depth -= 1;
        }
    }

    fn get_transaction_depth(conn: &<Self::Database as Database>::Connection) -> usize {
        conn.inner.transaction_depth
    }
}

struct Rollback<'c> {
    conn: &'c mut PgConnection,
    defuse: bool,
    /// Pricegate: an outermost `BEGIN` sent, its reply not yet read.
    begin_in_flight: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.defuse {
            return;
        }
        if self.begin_in_flight && self.conn.inner.transaction_depth == 0 {
            // Sent after the `BEGIN`, so run after it: the transaction it
            // may have begun ends. Should the `BEGIN` have failed, the server
            // only warns that no transaction is in progress.
            self.conn
                .queue_simple_query("ROLLBACK")
                .expect("BUG: Rollback query somehow too large for protocol");
        } else {
            PgTransactionManager::start_rollback(self.conn)
        }
    }
}

impl<'c> Rollback<'c> {
    fn new(conn: &'c mut PgConnection) -> Self {
        Self {
            conn,
            defuse: false,
            begin_in_flight: false,
        }
    }
    fn defuse(mut self) {
        self.defuse = true;
    }
}
