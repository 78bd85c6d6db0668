//! The quotes list pages newest drafted first (`drafted_at`, then `id`):
//! an index in that order makes a page a short scan however many quotes
//! there are, where finance's list would otherwise sort them all.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_quotes_by_drafting"
    }
}

#[derive(DeriveIden)]
enum Quotes {
    Table,
    DraftedAt,
    Id,
}

const INDEX: &str = "quotes_drafted_at_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create().name(INDEX).table(Quotes::Table).col(Quotes::DraftedAt).col(Quotes::Id).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Quotes::Table).to_owned()).await
    }
}
