//! On SQLite, `INSERT OR REPLACE` (or `REPLACE`) of a row whose key is taken
//! deletes the row there without firing its delete trigger (SQLite fires
//! them only with `recursive_triggers` on, which a tool connecting to the
//! file does not set), so a statement could rewrite an acknowledgement, an
//! approval, a finalisation record or an audit entry that `UPDATE` and
//! `DELETE` may not touch. An insert whose key is taken is refused here
//! instead, before any conflict is resolved: an acknowledgement's by its id
//! or by its person and notice (Pricegate inserts only pairs not yet
//! acknowledged, read under its write lock), the others by their keys.
//! PostgreSQL replaces no row on insert: `ON CONFLICT DO UPDATE` fires the
//! update trigger, which refuses it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000036_proof_not_replaced"
    }
}

/// Each table, and when an insert into it would take the place of a row.
const TAKEN: [(&str, &str); 4] = [
    ("acknowledgements", "id = NEW.id OR (user_id = NEW.user_id AND notice_id = NEW.notice_id)"),
    ("price_overrides", "id = NEW.id"),
    ("finalisations", "quote_id = NEW.quote_id"),
    ("audit_log", "id = NEW.id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        for (table, taken) in TAKEN {
            m.get_connection()
                .execute_unprepared(&format!(
                    "CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} \
                     WHEN EXISTS (SELECT 1 FROM {table} WHERE {taken}) \
                     BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        for (table, _) in TAKEN {
            m.get_connection().execute_unprepared(&format!("DROP TRIGGER {table}_no_replace;")).await?;
        }
        Ok(())
    }
}
