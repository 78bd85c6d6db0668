//! A product finance has withdrawn from sale: it stays on the price list,
//! in the notices that priced it and on the quotes that carry it, but no
//! quote takes it on as a new line (`withdrawn_at` is NULL while it is on
//! sale).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000016_products_withdrawn"
    }
}

#[derive(DeriveIden)]
enum Products {
    Table,
    WithdrawnAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Products::Table)
                .add_column(timestamp_with_time_zone_null(Products::WithdrawnAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Products::Table).drop_column(Products::WithdrawnAt).to_owned()).await
    }
}
