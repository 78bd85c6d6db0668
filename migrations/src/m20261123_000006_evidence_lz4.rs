//! The finalisation evidence and the audit detail are compressed with lz4
//! where the PostgreSQL server was built with it, instead of the default
//! pglz. A finalisation after a hundred notices stores about 10 KB of
//! evidence, which PostgreSQL compresses before it writes: pglz was about 4 %
//! of the server's CPU under a finalisation load, lz4 compresses several
//! times faster for a little less saving. Rows already written keep their
//! compression; both read back the same. SQLite does not compress, so there
//! is nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000006_evidence_lz4"
    }
}

const COLUMNS: [(&str, &str); 2] = [("finalisations", "evidence"), ("audit_log", "detail")];

/// Whether this server can compress with `method` (PostgreSQL 14 and later
/// list what they were built with as the values `default_toast_compression` takes).
async fn supports(m: &SchemaManager<'_>, method: &str) -> Result<bool, DbErr> {
    let row = m
        .get_connection()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_settings WHERE name = 'default_toast_compression' AND $1 = ANY(enumvals)",
            [method.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
}

/// Sets the columns' compression to `method` if the server has `needs`
/// (`default` needs only a server that knows `SET COMPRESSION`, which all with pglz listed do).
async fn set_compression(m: &SchemaManager<'_>, method: &str, needs: &str) -> Result<(), DbErr> {
    if m.get_database_backend() != DbBackend::Postgres || !supports(m, needs).await? {
        return Ok(());
    }
    for (table, column) in COLUMNS {
        m.get_connection()
            .execute_unprepared(&format!("ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}"))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        set_compression(m, "lz4", "lz4").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        set_compression(m, "default", "pglz").await
    }
}
