//! When the reminder worker last looked for reminders due, and the stop
//! before it: one row, written by whichever worker ticks. A tick looks at
//! the notices published within a window of the schedule (three times its
//! last delay and a week); after every worker was stopped for longer than
//! that, the notices whose window the stop cut short would otherwise never
//! be looked at again, their reminders and escalation lost. With this row
//! the first tick after a stop of a day or more keeps, for a whole window
//! from then, every notice published within a window of running time
//! before the stop.
//! Empty until a worker ticks: a stop before this migration is not known.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, timestamp_with_time_zone, timestamp_with_time_zone_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000034_reminder_sweeps"
    }
}

#[derive(DeriveIden)]
enum ReminderSweeps {
    Table,
    Id,
    LastAt,
    StoppedAt,
    ResumedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReminderSweeps::Table)
                .if_not_exists()
                .col(integer(ReminderSweeps::Id).primary_key())
                .col(timestamp_with_time_zone(ReminderSweeps::LastAt))
                .col(timestamp_with_time_zone_null(ReminderSweeps::StoppedAt))
                .col(timestamp_with_time_zone_null(ReminderSweeps::ResumedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReminderSweeps::Table).if_exists().to_owned()).await
    }
}
