//! The audit log and the finalisation records refuse `TRUNCATE` too, on
//! PostgreSQL: the triggers that refuse their updates and deletes are per
//! row, and a truncate deletes no row one at a time. (SQLite has no
//! truncate: its `DELETE` without a `WHERE` fires the row triggers.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000029_proof_not_truncated"
    }
}

const TABLES: [&str; 2] = ["audit_log", "finalisations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for table in TABLES {
            // The function the row triggers call raises for a statement as well.
            m.get_connection()
                .execute_unprepared(&format!(
                    "CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} \
                     FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for table in TABLES {
            m.get_connection().execute_unprepared(&format!("DROP TRIGGER {table}_no_truncate ON {table};")).await?;
        }
        Ok(())
    }
}
