//! The audit log read one action at a time (`/audit?action=…`, the API's
//! `action=`), newest first: without an index a rare action walked the
//! whole log backwards by time.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000019_audit_by_action"
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Action,
    At,
}

const INDEX: &str = "idx_audit_log_action_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create().name(INDEX).table(AuditLog::Table).col(AuditLog::Action).col(AuditLog::At).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(AuditLog::Table).to_owned()).await
    }
}
