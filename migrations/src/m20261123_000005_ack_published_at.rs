//! Each acknowledgement carries the `published_at` of the notice it
//! acknowledges, indexed after the user: the gate check reads a signer's
//! acknowledgements of the notices published since a quote was drafted as
//! one index range, instead of probing the index once per notice. A
//! notice's `published_at` is set once, at publication, and only a published
//! notice can be acknowledged, so the copy never goes stale.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000005_ack_published_at"
    }
}

#[derive(DeriveIden)]
enum Acknowledgements {
    Table,
    UserId,
    NoticeId,
    NoticePublishedAt,
}

const INDEX: &str = "acknowledgements_user_published";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Acknowledgements::Table)
                .add_column(timestamp_with_time_zone_null(Acknowledgements::NoticePublishedAt))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared(
            "UPDATE acknowledgements SET notice_published_at = \
               (SELECT n.published_at FROM notices n WHERE n.id = acknowledgements.notice_id)",
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            // SQLite cannot add the constraint to an existing column; every
            // row there is filled above and by every acknowledgement after.
            db.execute_unprepared("ALTER TABLE acknowledgements ALTER COLUMN notice_published_at SET NOT NULL").await?;
        }
        // Covering: the gate check reads the notice ids from the index alone.
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Acknowledgements::Table)
                .col(Acknowledgements::UserId)
                .col(Acknowledgements::NoticePublishedAt)
                .col(Acknowledgements::NoticeId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Acknowledgements::Table).to_owned()).await?;
        m.alter_table(
            Table::alter().table(Acknowledgements::Table).drop_column(Acknowledgements::NoticePublishedAt).to_owned(),
        )
        .await
    }
}
