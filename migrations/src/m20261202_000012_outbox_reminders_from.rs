//! Someone who takes over drafts a published notice holds up is mailed the
//! notice then, and their reminders count from that moment, not from the
//! publication: the e-mail's outbox row carries the moment as
//! `reminders_from` (NULL on every other row: their reminders count from
//! the publication). Such rows are few, so the index holds only them: the
//! worker finds a notice's late joiners without reading its publication
//! e-mails, and the notices with late joiners still on their schedule from
//! the whole (small) index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000012_outbox_reminders_from"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    RemindersFrom,
}

const INDEX: &str = "outbox_reminders_from";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(timestamp_with_time_zone_null(Outbox::RemindersFrom))
                .to_owned(),
        )
        .await?;
        // Partial (both databases read the same statement): sea-query's
        // index builder has no WHERE.
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {INDEX} ON outbox (notice_id, reminders_from) WHERE reminders_from IS NOT NULL"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Outbox::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::RemindersFrom).to_owned()).await
    }
}
