//! A publication owes one e-mail to each salesperson. Writing those thousands
//! of rows inside the publication's transaction would hold the exclusive gate
//! lock (which every finalisation waits on) while they are composed, so the
//! publication writes one row here instead, in its own transaction, and the
//! mail worker expands it into outbox rows in batches, outside the lock. The
//! row is durable proof of what is still owed: it goes only once the last
//! batch is in the outbox.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000004_publication_fanouts"
    }
}

#[derive(DeriveIden)]
enum Notices {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PublicationFanouts {
    Table,
    NoticeId,
    PublishedAt,
    ExpandedThrough,
    Expanded,
    ClaimedBy,
    LeaseUntil,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PublicationFanouts::Table)
                .col(uuid(PublicationFanouts::NoticeId).primary_key())
                .col(timestamp_with_time_zone(PublicationFanouts::PublishedAt))
                // The last salesperson (by id) whose e-mail is in the outbox.
                .col(uuid_null(PublicationFanouts::ExpandedThrough))
                .col(big_integer(PublicationFanouts::Expanded))
                .col(uuid_null(PublicationFanouts::ClaimedBy))
                .col(timestamp_with_time_zone(PublicationFanouts::LeaseUntil))
                .col(timestamp_with_time_zone(PublicationFanouts::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(PublicationFanouts::Table, PublicationFanouts::NoticeId)
                        .to(Notices::Table, Notices::Id),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PublicationFanouts::Table).to_owned()).await
    }
}
