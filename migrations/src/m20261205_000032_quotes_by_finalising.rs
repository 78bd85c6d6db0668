//! The finalised quotes list pages newest finalised first (`finalised_at`,
//! then `id`), as finance reads them at month-end, and is filtered by the
//! days of finalisation: an index in that order makes a page a short scan
//! however many quotes there are. Drafts (no `finalised_at`) are left out
//! of it: drafting and editing one adds nothing to it. Found there already
//! (built beforehand with `CREATE INDEX CONCURRENTLY`, so as not to hold up
//! writes), it is kept.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000032_quotes_by_finalising"
    }
}

#[derive(DeriveIden)]
enum Quotes {
    Table,
    FinalisedAt,
    Id,
}

const INDEX: &str = "quotes_finalised_at_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .if_not_exists()
                .name(INDEX)
                .table(Quotes::Table)
                .col(Quotes::FinalisedAt)
                .col(Quotes::Id)
                .and_where(Expr::col(Quotes::FinalisedAt).is_not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Quotes::Table).to_owned()).await
    }
}
