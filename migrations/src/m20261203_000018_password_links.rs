//! Links that let a person choose their password from an e-mail: one they
//! ask for at the login page when they have forgotten it, or one an
//! administrator has sent them (a new account's invitation). Like the
//! acknowledgement links, a 256-bit token kept only as its SHA-256, bound
//! to one user, expiring, single use; `purpose` says which kind it is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, string_len, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000018_password_links"
    }
}

#[derive(DeriveIden)]
enum PasswordLinks {
    Table,
    TokenHash,
    UserId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

const BY_USER: &str = "idx_password_links_user";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PasswordLinks::Table)
                .col(string(PasswordLinks::TokenHash).primary_key())
                .col(uuid(PasswordLinks::UserId))
                .col(string_len(PasswordLinks::Purpose, 16))
                .col(timestamp_with_time_zone(PasswordLinks::CreatedAt))
                .col(timestamp_with_time_zone(PasswordLinks::ExpiresAt))
                .col(timestamp_with_time_zone_null(PasswordLinks::UsedAt))
                .foreign_key(
                    &mut ForeignKey::create()
                        .from(PasswordLinks::Table, PasswordLinks::UserId)
                        .to(Users::Table, Users::Id)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
        // A password set by link voids the person's other unused links.
        m.create_index(Index::create().name(BY_USER).table(PasswordLinks::Table).col(PasswordLinks::UserId).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasswordLinks::Table).to_owned()).await
    }
}
