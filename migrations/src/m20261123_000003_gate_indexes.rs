//! Indexes the gate check's statements need to cost the same on a large
//! database as on a small one (issue 7, checked with `EXPLAIN ANALYZE` in
//! `scripts/bench`).
//!
//! The price in force of a product is the latest published change effective
//! by today: with `(product_id, effective_on)` that is a short backward index
//! scan from today, where `(product_id)` alone made PostgreSQL read and sort
//! every change the product ever had. The new index starts with the old one's
//! column, so the old one goes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000003_gate_indexes"
    }
}

#[derive(DeriveIden)]
enum NoticeChanges {
    Table,
    ProductId,
    EffectiveOn,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("notice_changes_product_effective")
                .table(NoticeChanges::Table)
                .col(NoticeChanges::ProductId)
                .col(NoticeChanges::EffectiveOn)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("notice_changes_product").table(NoticeChanges::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("notice_changes_product")
                .table(NoticeChanges::Table)
                .col(NoticeChanges::ProductId)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("notice_changes_product_effective").table(NoticeChanges::Table).to_owned())
            .await
    }
}
