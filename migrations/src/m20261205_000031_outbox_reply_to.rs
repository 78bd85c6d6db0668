//! `outbox.reply_to`: where a reply to an e-mail goes, when not to the
//! sender address: a notice's e-mail and its reminders go to whoever
//! published the notice, so that a salesperson's question reaches them.
//! Rows queued before have none, and replies to them go to `MAIL_FROM`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000031_outbox_reply_to"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    ReplyTo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Outbox::Table).add_column(string_null(Outbox::ReplyTo)).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::ReplyTo).to_owned()).await
    }
}
