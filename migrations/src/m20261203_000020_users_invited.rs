//! An account created without a password, whose owner was e-mailed an
//! invitation to choose one: `invited_at` says when, until a password is
//! set (by the invitation's link, another link, or an admin), so that the
//! users page can say who has yet to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000020_users_invited"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    InvitedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Users::Table).add_column(timestamp_with_time_zone_null(Users::InvitedAt)).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::InvitedAt).to_owned()).await
    }
}
