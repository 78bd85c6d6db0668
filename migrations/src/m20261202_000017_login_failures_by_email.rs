//! Each failed login also keeps a SHA-256 hash of its e-mail alone (folded
//! to lower case), so that an administrator setting a new password lifts
//! the hold on that account from every address at once. Rows written before
//! this migration have none; they leave the counting window within minutes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000017_login_failures_by_email"
    }
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    EmailHash,
}

const INDEX: &str = "idx_login_failures_email_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(LoginFailures::Table).add_column(string_null(LoginFailures::EmailHash)).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name(INDEX).table(LoginFailures::Table).col(LoginFailures::EmailHash).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(LoginFailures::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(LoginFailures::Table).drop_column(LoginFailures::EmailHash).to_owned()).await
    }
}
