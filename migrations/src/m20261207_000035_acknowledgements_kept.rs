//! A salesperson's acknowledgement of a notice, and finance's approval of a
//! quote at prices no longer in force, are the proof a finalisation rests
//! on: like the audit log and the finalisation records, they refuse
//! `UPDATE`, `DELETE` and, on PostgreSQL, `TRUNCATE`, from the application
//! and anyone else who connects as it. Neither is ever changed or removed
//! by the service: a person acknowledges a notice once, and an approval that
//! no longer fits its quote lapses, kept.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000035_acknowledgements_kept"
    }
}

const TABLES: [&str; 2] = ["acknowledgements", "price_overrides"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for table in TABLES {
            match m.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                         BEGIN RAISE EXCEPTION '{table} is append-only'; END $$; \
                         CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION {table}_append_only(); \
                         CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();"
                    ))
                    .await?;
                }
                _ => {
                    for op in ["update", "delete"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_no_{op} BEFORE {op} ON {table} \
                             BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for table in TABLES {
            match m.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER {table}_no_truncate ON {table}; \
                         DROP TRIGGER {table}_append_only ON {table}; \
                         DROP FUNCTION {table}_append_only();"
                    ))
                    .await?;
                }
                _ => {
                    for op in ["update", "delete"] {
                        db.execute_unprepared(&format!("DROP TRIGGER {table}_no_{op};")).await?;
                    }
                }
            }
        }
        Ok(())
    }
}
