//! A published notice keeps the name each product it prices had when it was
//! published: the notice is what its readers acknowledged, and a product
//! renamed later must not change what the notice (its page, its link page,
//! a finalised quote's evidence) says they read. A draft's changes name the
//! products as they are now (`product_name` is NULL until publication).
//! Notices published before this migration get the names of today, the
//! closest there is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000015_notice_product_names"
    }
}

#[derive(DeriveIden)]
enum NoticeChanges {
    Table,
    ProductName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(NoticeChanges::Table)
                .add_column(ColumnDef::new(NoticeChanges::ProductName).text().null())
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE notice_changes SET product_name = \
                   (SELECT p.name FROM products p WHERE p.id = notice_changes.product_id) \
                 WHERE notice_id IN (SELECT n.id FROM notices n WHERE n.state = 'published')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(NoticeChanges::Table).drop_column(NoticeChanges::ProductName).to_owned())
            .await
    }
}
