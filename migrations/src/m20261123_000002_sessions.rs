//! Browser sessions: the cookie's token is kept only as a SHA-256 hash, with
//! the session's CSRF token beside it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000002_sessions"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TokenHash,
    UserId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(string(Sessions::TokenHash).primary_key())
                .col(uuid(Sessions::UserId))
                .col(string(Sessions::CsrfToken))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                .foreign_key(ForeignKey::create().from(Sessions::Table, Sessions::UserId).to(Users::Table, Users::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_sessions_user").table(Sessions::Table).col(Sessions::UserId).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Sessions::Table).to_owned()).await
    }
}
