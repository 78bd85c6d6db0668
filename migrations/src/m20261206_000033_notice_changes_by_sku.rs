//! The gate reads, of each notice pending for a quote, only its changes to
//! the quote's products: by notice and SKU. With an index on the notice
//! alone that read walked every change of a long notice (a 500-change
//! notice: 500 rows, each then filtered by its SKU) to keep the two or three
//! on the quote. An index on the notice and the SKU lets SQLite find them
//! directly (`SEARCH c USING INDEX notice_changes_notice_sku (notice_id=? AND
//! sku=?)` in the benchmark's plans); PostgreSQL's planner, which expects a
//! notice or two's changes per notice, still reads them by the notice and
//! filters. It serves every read of a notice's changes by the notice alone
//! too, so it replaces the old one: a publication writes as many index
//! entries as before. Found there already (built beforehand with
//! `CREATE INDEX CONCURRENTLY`, so as not to hold up publications), it is
//! kept; left invalid by a build that failed, it is built again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000033_notice_changes_by_sku"
    }
}

#[derive(DeriveIden)]
enum NoticeChanges {
    Table,
    NoticeId,
    Sku,
}

const INDEX: &str = "notice_changes_notice_sku";
const REPLACED: &str = "notice_changes_notice";

/// Whether PostgreSQL has an index named [`INDEX`] that a failed build left invalid.
async fn invalid_on_postgres(m: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let row = m
        .get_connection()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid",
            [INDEX.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A `CREATE INDEX CONCURRENTLY` beforehand that failed leaves an
        // invalid index by this name, which no query uses: kept, the old
        // index dropped below would leave the table with none on the notice.
        if m.get_database_backend() == DbBackend::Postgres && invalid_on_postgres(m).await? {
            m.drop_index(Index::drop().name(INDEX).table(NoticeChanges::Table).to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .if_not_exists()
                .name(INDEX)
                .table(NoticeChanges::Table)
                .col(NoticeChanges::NoticeId)
                .col(NoticeChanges::Sku)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().if_exists().name(REPLACED).table(NoticeChanges::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .if_not_exists()
                .name(REPLACED)
                .table(NoticeChanges::Table)
                .col(NoticeChanges::NoticeId)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().if_exists().name(INDEX).table(NoticeChanges::Table).to_owned()).await
    }
}
