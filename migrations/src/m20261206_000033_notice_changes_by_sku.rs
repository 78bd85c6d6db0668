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
//! kept.

use sea_orm_migration::prelude::*;

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
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
