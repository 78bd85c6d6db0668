//! The core tables: people, the price list, notices, quotes, the gate row,
//! acknowledgements, finalisation evidence, the audit log and the mail outbox.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_core"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    Role,
    PasswordHash,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Gate {
    Table,
    Id,
    LastSeq,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Sku,
    Name,
    Unit,
    Currency,
    UnitPriceMinor,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notices {
    Table,
    Id,
    Title,
    Body,
    State,
    Seq,
    PublishedAt,
    PublishedBy,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NoticeChanges {
    Table,
    Id,
    NoticeId,
    Position,
    ProductId,
    Sku,
    UnitPriceMinor,
    EffectiveOn,
}

#[derive(DeriveIden)]
enum Quotes {
    Table,
    Id,
    OwnerId,
    SignerId,
    CustomerName,
    CustomerEmail,
    CustomerCompany,
    Currency,
    ValidUntil,
    Notes,
    State,
    DraftedAt,
    UpdatedAt,
    FinalisedAt,
    CancelledAt,
}

#[derive(DeriveIden)]
enum QuoteLines {
    Table,
    Id,
    QuoteId,
    Position,
    ProductId,
    Sku,
    ProductName,
    Unit,
    Quantity,
    UnitPriceMinor,
    DiscountBp,
}

#[derive(DeriveIden)]
enum Acknowledgements {
    Table,
    Id,
    NoticeId,
    UserId,
    AcknowledgedAt,
    Channel,
    ClientAddr,
    UserAgent,
}

#[derive(DeriveIden)]
enum Finalisations {
    Table,
    QuoteId,
    FinalisedBy,
    FinalisedAt,
    Evidence,
    OverrideId,
}

#[derive(DeriveIden)]
enum PriceOverrides {
    Table,
    Id,
    QuoteId,
    ApprovedBy,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    Action,
    SubjectType,
    SubjectId,
    Detail,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    DedupeKey,
    Kind,
    ToAddr,
    ToName,
    Subject,
    TextBody,
    HtmlBody,
    MessageId,
    State,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum AckTokens {
    Table,
    TokenHash,
    NoticeId,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

fn fk(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_uuid(Users::Id))
                .col(string_uniq(Users::Email))
                .col(string(Users::Name))
                .col(string_len(Users::Role, 16))
                .col(string(Users::PasswordHash))
                .col(boolean(Users::Active))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(string(ApiTokens::TokenHash).primary_key())
                .col(uuid(ApiTokens::UserId))
                .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                .col(timestamp_with_time_zone(ApiTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                .foreign_key(&mut fk((ApiTokens::Table, ApiTokens::UserId), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;

        // One row that publication locks exclusively and finalisation shares:
        // the serialisation point of the gate across every server process.
        m.create_table(
            Table::create()
                .table(Gate::Table)
                .col(integer(Gate::Id).primary_key())
                .col(big_integer(Gate::LastSeq))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(Gate::Table)
                .columns([Gate::Id, Gate::LastSeq])
                .values_panic([1.into(), 0i64.into()])
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Products::Table)
                .col(pk_uuid(Products::Id))
                .col(string_uniq(Products::Sku))
                .col(string(Products::Name))
                .col(string(Products::Unit))
                .col(string_len(Products::Currency, 3))
                .col(big_integer(Products::UnitPriceMinor))
                .col(timestamp_with_time_zone(Products::CreatedAt))
                .col(timestamp_with_time_zone(Products::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Notices::Table)
                .col(pk_uuid(Notices::Id))
                .col(string(Notices::Title))
                .col(text(Notices::Body))
                .col(string_len(Notices::State, 16))
                .col(big_integer_null(Notices::Seq).unique_key())
                .col(timestamp_with_time_zone_null(Notices::PublishedAt))
                .col(uuid_null(Notices::PublishedBy))
                .col(uuid(Notices::CreatedBy))
                .col(timestamp_with_time_zone(Notices::CreatedAt))
                .col(timestamp_with_time_zone(Notices::UpdatedAt))
                .foreign_key(&mut fk((Notices::Table, Notices::CreatedBy), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("notices_published_at").table(Notices::Table).col(Notices::PublishedAt).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(NoticeChanges::Table)
                .col(pk_uuid(NoticeChanges::Id))
                .col(uuid(NoticeChanges::NoticeId))
                .col(integer(NoticeChanges::Position))
                .col(uuid(NoticeChanges::ProductId))
                .col(string(NoticeChanges::Sku))
                .col(big_integer(NoticeChanges::UnitPriceMinor))
                .col(date(NoticeChanges::EffectiveOn))
                .foreign_key(
                    &mut fk((NoticeChanges::Table, NoticeChanges::NoticeId), (Notices::Table, Notices::Id))
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .foreign_key(&mut fk((NoticeChanges::Table, NoticeChanges::ProductId), (Products::Table, Products::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("notice_changes_notice")
                .table(NoticeChanges::Table)
                .col(NoticeChanges::NoticeId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("notice_changes_product")
                .table(NoticeChanges::Table)
                .col(NoticeChanges::ProductId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Quotes::Table)
                .col(pk_uuid(Quotes::Id))
                .col(uuid(Quotes::OwnerId))
                .col(uuid(Quotes::SignerId))
                .col(string(Quotes::CustomerName))
                .col(string(Quotes::CustomerEmail))
                .col(string(Quotes::CustomerCompany))
                .col(string_len(Quotes::Currency, 3))
                .col(date(Quotes::ValidUntil))
                .col(text(Quotes::Notes))
                .col(string_len(Quotes::State, 16))
                .col(timestamp_with_time_zone(Quotes::DraftedAt))
                .col(timestamp_with_time_zone(Quotes::UpdatedAt))
                .col(timestamp_with_time_zone_null(Quotes::FinalisedAt))
                .col(timestamp_with_time_zone_null(Quotes::CancelledAt))
                .foreign_key(&mut fk((Quotes::Table, Quotes::OwnerId), (Users::Table, Users::Id)))
                .foreign_key(&mut fk((Quotes::Table, Quotes::SignerId), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("quotes_owner").table(Quotes::Table).col(Quotes::OwnerId).to_owned())
            .await?;
        m.create_index(
            Index::create()
                .name("quotes_signer_state")
                .table(Quotes::Table)
                .col(Quotes::SignerId)
                .col(Quotes::State)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(QuoteLines::Table)
                .col(pk_uuid(QuoteLines::Id))
                .col(uuid(QuoteLines::QuoteId))
                .col(integer(QuoteLines::Position))
                .col(uuid(QuoteLines::ProductId))
                .col(string(QuoteLines::Sku))
                .col(string(QuoteLines::ProductName))
                .col(string(QuoteLines::Unit))
                .col(big_integer(QuoteLines::Quantity))
                .col(big_integer(QuoteLines::UnitPriceMinor))
                .col(integer(QuoteLines::DiscountBp))
                .foreign_key(
                    &mut fk((QuoteLines::Table, QuoteLines::QuoteId), (Quotes::Table, Quotes::Id))
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .foreign_key(&mut fk((QuoteLines::Table, QuoteLines::ProductId), (Products::Table, Products::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("quote_lines_quote").table(QuoteLines::Table).col(QuoteLines::QuoteId).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Acknowledgements::Table)
                .col(pk_uuid(Acknowledgements::Id))
                .col(uuid(Acknowledgements::NoticeId))
                .col(uuid(Acknowledgements::UserId))
                .col(timestamp_with_time_zone(Acknowledgements::AcknowledgedAt))
                .col(string_len(Acknowledgements::Channel, 8))
                .col(string_null(Acknowledgements::ClientAddr))
                .col(string_null(Acknowledgements::UserAgent))
                .foreign_key(&mut fk(
                    (Acknowledgements::Table, Acknowledgements::NoticeId),
                    (Notices::Table, Notices::Id),
                ))
                .foreign_key(&mut fk((Acknowledgements::Table, Acknowledgements::UserId), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("acknowledgements_once_per_user")
                .table(Acknowledgements::Table)
                .col(Acknowledgements::UserId)
                .col(Acknowledgements::NoticeId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("acknowledgements_notice")
                .table(Acknowledgements::Table)
                .col(Acknowledgements::NoticeId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PriceOverrides::Table)
                .col(pk_uuid(PriceOverrides::Id))
                .col(uuid(PriceOverrides::QuoteId))
                .col(uuid(PriceOverrides::ApprovedBy))
                .col(text(PriceOverrides::Reason))
                .col(timestamp_with_time_zone(PriceOverrides::CreatedAt))
                .foreign_key(&mut fk((PriceOverrides::Table, PriceOverrides::QuoteId), (Quotes::Table, Quotes::Id)))
                .foreign_key(&mut fk((PriceOverrides::Table, PriceOverrides::ApprovedBy), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("price_overrides_quote")
                .table(PriceOverrides::Table)
                .col(PriceOverrides::QuoteId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Finalisations::Table)
                .col(uuid(Finalisations::QuoteId).primary_key())
                .col(uuid(Finalisations::FinalisedBy))
                .col(timestamp_with_time_zone(Finalisations::FinalisedAt))
                .col(json(Finalisations::Evidence))
                .col(uuid_null(Finalisations::OverrideId))
                .foreign_key(&mut fk((Finalisations::Table, Finalisations::QuoteId), (Quotes::Table, Quotes::Id)))
                .foreign_key(&mut fk((Finalisations::Table, Finalisations::FinalisedBy), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(pk_uuid(AuditLog::Id))
                .col(timestamp_with_time_zone(AuditLog::At))
                .col(uuid_null(AuditLog::ActorId))
                .col(string(AuditLog::Action))
                .col(string(AuditLog::SubjectType))
                .col(uuid_null(AuditLog::SubjectId))
                .col(json(AuditLog::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("audit_log_at").table(AuditLog::Table).col(AuditLog::At).to_owned())
            .await?;
        m.create_index(
            Index::create().name("audit_log_subject").table(AuditLog::Table).col(AuditLog::SubjectId).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .col(pk_uuid(Outbox::Id))
                .col(string_uniq(Outbox::DedupeKey))
                .col(string(Outbox::Kind))
                .col(string(Outbox::ToAddr))
                .col(string(Outbox::ToName))
                .col(string(Outbox::Subject))
                .col(text(Outbox::TextBody))
                .col(text(Outbox::HtmlBody))
                .col(string(Outbox::MessageId))
                .col(string_len(Outbox::State, 16))
                .col(integer(Outbox::Attempts))
                .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                .col(text_null(Outbox::LastError))
                .col(timestamp_with_time_zone(Outbox::CreatedAt))
                .col(timestamp_with_time_zone_null(Outbox::SentAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_due")
                .table(Outbox::Table)
                .col(Outbox::State)
                .col(Outbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AckTokens::Table)
                .col(string(AckTokens::TokenHash).primary_key())
                .col(uuid(AckTokens::NoticeId))
                .col(uuid(AckTokens::UserId))
                .col(timestamp_with_time_zone(AckTokens::CreatedAt))
                .col(timestamp_with_time_zone(AckTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(AckTokens::UsedAt))
                .foreign_key(&mut fk((AckTokens::Table, AckTokens::NoticeId), (Notices::Table, Notices::Id)))
                .foreign_key(&mut fk((AckTokens::Table, AckTokens::UserId), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;

        // The audit log and the finalisation evidence are the proof: refuse
        // any change to them at the database, whatever the application does.
        let db = m.get_connection();
        for table in ["audit_log", "finalisations"] {
            match m.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                         BEGIN RAISE EXCEPTION '{table} is append-only'; END $$; \
                         CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION {table}_append_only();"
                    ))
                    .await?;
                }
                _ => {
                    for op in ["UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_no_{op} BEFORE {op} ON {table} \
                             BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;",
                            op = op.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("Pricegate's core schema holds the evidence; it is not rolled back.".into()))
    }
}
