//! A salesperson's request that finance approve keeping a draft's old
//! prices: who asked, why, and the lines at an old price as they were when
//! they asked (`covers`, JSON text, as `price_overrides.covers`), and when it
//! ended (`ended_at`: answered by an approval, declined by finance with a
//! reason, the draft repriced, or asked again in its place). Finance is
//! e-mailed each request; the quotes list finds the drafts with one that has
//! not ended.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000024_approval_requests"
    }
}

#[derive(DeriveIden)]
enum ApprovalRequests {
    Table,
    Id,
    QuoteId,
    RequestedBy,
    Reason,
    Covers,
    RequestedAt,
    EndedAt,
    DeclinedBy,
    DeclinedReason,
}

#[derive(DeriveIden)]
enum Quotes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

const BY_QUOTE: &str = "idx_approval_requests_quote";
const OPEN_BY_QUOTE: &str = "idx_approval_requests_open";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ApprovalRequests::Table)
                .col(uuid(ApprovalRequests::Id).primary_key())
                .col(uuid(ApprovalRequests::QuoteId))
                .col(uuid(ApprovalRequests::RequestedBy))
                .col(text(ApprovalRequests::Reason))
                .col(text(ApprovalRequests::Covers))
                .col(timestamp_with_time_zone(ApprovalRequests::RequestedAt))
                .col(timestamp_with_time_zone_null(ApprovalRequests::EndedAt))
                .col(uuid_null(ApprovalRequests::DeclinedBy))
                .col(text_null(ApprovalRequests::DeclinedReason))
                .foreign_key(
                    &mut ForeignKey::create()
                        .from(ApprovalRequests::Table, ApprovalRequests::QuoteId)
                        .to(Quotes::Table, Quotes::Id)
                        .to_owned(),
                )
                .foreign_key(
                    &mut ForeignKey::create()
                        .from(ApprovalRequests::Table, ApprovalRequests::RequestedBy)
                        .to(Users::Table, Users::Id)
                        .to_owned(),
                )
                .foreign_key(
                    &mut ForeignKey::create()
                        .from(ApprovalRequests::Table, ApprovalRequests::DeclinedBy)
                        .to(Users::Table, Users::Id)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
        // A quote's requests, and the drafts with one open, by quote.
        m.create_index(
            Index::create()
                .name(BY_QUOTE)
                .table(ApprovalRequests::Table)
                .col(ApprovalRequests::QuoteId)
                .col(ApprovalRequests::RequestedAt)
                .to_owned(),
        )
        .await?;
        // At most one open request a quote, whatever the code above does:
        // a new one ends the last in the same transaction.
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX {OPEN_BY_QUOTE} ON approval_requests (quote_id) WHERE ended_at IS NULL"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ApprovalRequests::Table).to_owned()).await
    }
}
