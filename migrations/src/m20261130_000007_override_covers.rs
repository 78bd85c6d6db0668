//! What a price override covers: the superseded prices finance saw when it
//! approved (`[{sku, quoted_unit_price_minor, current_unit_price_minor}]`,
//! JSON text). An override used to waive every superseded price, including
//! rises published after it was given; now it waives only those it names.
//! Overrides approved before this migration name none, so a quote that
//! relies on one needs a fresh approval before it can be finalised.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000007_override_covers"
    }
}

#[derive(DeriveIden)]
enum PriceOverrides {
    Table,
    Covers,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(PriceOverrides::Table)
                .add_column(ColumnDef::new(PriceOverrides::Covers).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(PriceOverrides::Table).drop_column(PriceOverrides::Covers).to_owned()).await
    }
}
