//! The audit log read one person's doing at a time (`/audit?actor=…`, the
//! API's `actor=`), newest first: without an index, someone who did little
//! long ago walked the whole log backwards by time.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000027_audit_by_actor"
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    ActorId,
    At,
}

const INDEX: &str = "idx_audit_log_actor_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            // Built beforehand by hand, perhaps, without holding writes (see the README's `pricegate migrate`).
            Index::create()
                .if_not_exists()
                .name(INDEX)
                .table(AuditLog::Table)
                .col(AuditLog::ActorId)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(AuditLog::Table).to_owned()).await
    }
}
