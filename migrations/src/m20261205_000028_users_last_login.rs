//! When each person last logged in (a browser session or an API token
//! issued on their password): `last_login_at`, so that the users page can
//! say who has never used their account, or not for months. Filled in from
//! the sessions and tokens issued before (they are kept), so that nobody who
//! has logged in is taken for someone who never has.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000028_users_last_login"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    LastLoginAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too, as the column and its filling belong together.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Users::Table).add_column(timestamp_with_time_zone_null(Users::LastLoginAt)).to_owned(),
        )
        .await?;
        let latest = |table: &str| format!("(SELECT MAX(created_at) FROM {table} WHERE {table}.user_id = users.id)");
        let (sessions, tokens) = (latest("sessions"), latest("api_tokens"));
        // The later of the two, either of which may be none.
        let later = match m.get_database_backend() {
            DbBackend::Postgres => format!("GREATEST({sessions}, {tokens})"),
            _ => format!("MAX(COALESCE({sessions}, {tokens}), COALESCE({tokens}, {sessions}))"),
        };
        m.get_connection().execute_unprepared(&format!("UPDATE users SET last_login_at = {later}")).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::LastLoginAt).to_owned()).await
    }
}
