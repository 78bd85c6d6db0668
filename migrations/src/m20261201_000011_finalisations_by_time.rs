//! A publication is stamped after every finalisation before it (see the
//! gate's `in_commit_order`), so the latest `finalised_at` is read on each
//! publication, under the gate lock: an index makes that one entry, not a
//! scan of every finalisation.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000011_finalisations_by_time"
    }
}

#[derive(DeriveIden)]
enum Finalisations {
    Table,
    FinalisedAt,
}

const INDEX: &str = "finalisations_finalised_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create().name(INDEX).table(Finalisations::Table).col(Finalisations::FinalisedAt).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Finalisations::Table).to_owned()).await
    }
}
