//! `login_failures.in_flight`: a login try is written down before its
//! password is checked (so that tries sent at once each see the others),
//! and until its check ends it is in flight, not yet a failure. A try held
//! off because others for the same e-mail are being checked at that moment
//! is then told to try again in a moment, not that there were too many
//! failed logins. Rows written before were each a failure.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000038_login_tries_in_flight"
    }
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    InFlight,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let column = boolean(LoginFailures::InFlight).default(false).to_owned();
        m.alter_table(Table::alter().table(LoginFailures::Table).add_column(column).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(LoginFailures::Table).drop_column(LoginFailures::InFlight).to_owned()).await
    }
}
