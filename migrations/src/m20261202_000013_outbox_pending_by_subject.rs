//! The mail still to go out to one person about one notice: a reminder
//! waits while an earlier e-mail to them about it has not gone, so the
//! worker asks, for the reminders it is about to send, which such e-mails
//! are still pending. Pending rows are few beside the sent ones (a notice's
//! publication leaves one sent row per salesperson), so the index holds only
//! them, by notice and person.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000013_outbox_pending_by_subject"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
}

const INDEX: &str = "outbox_pending_by_subject";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Partial (both databases read the same statement): sea-query's
        // index builder has no WHERE.
        m.get_connection()
            .execute_unprepared(&format!("CREATE INDEX {INDEX} ON outbox (notice_id, user_id) WHERE state = 'pending'"))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Outbox::Table).to_owned()).await
    }
}
