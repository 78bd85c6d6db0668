//! The outbox read newest first, a page at a time (`/admin/outbox`, the
//! API's `GET /api/v1/outbox?before=<id>`): by when each message was queued,
//! then by its dedupe key (a publication queues thousands in one instant).
//! Without an index every page sorted the whole outbox, which keeps every
//! message ever sent.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000022_outbox_by_queueing"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    CreatedAt,
    DedupeKey,
}

const INDEX: &str = "outbox_by_queueing";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Outbox::Table)
                .col((Outbox::CreatedAt, IndexOrder::Desc))
                .col((Outbox::DedupeKey, IndexOrder::Asc))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Outbox::Table).to_owned()).await
    }
}
