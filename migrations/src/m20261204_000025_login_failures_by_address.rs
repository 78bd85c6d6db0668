//! Each failed login also keeps a SHA-256 hash of its client address alone
//! (an IPv6 one by its /64), so that one address trying many e-mails is held
//! off too: every try runs the password hash, and a failure is an audit row
//! that is never deleted. Rows written before this migration have none;
//! they leave the counting window within minutes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000025_login_failures_by_address"
    }
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    AddressHash,
}

const INDEX: &str = "idx_login_failures_address_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(LoginFailures::Table).add_column(string_null(LoginFailures::AddressHash)).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name(INDEX).table(LoginFailures::Table).col(LoginFailures::AddressHash).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(LoginFailures::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(LoginFailures::Table).drop_column(LoginFailures::AddressHash).to_owned())
            .await
    }
}
