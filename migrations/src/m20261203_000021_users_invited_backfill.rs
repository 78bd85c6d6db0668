//! `invited_at` for those invited before the column existed: an account
//! created with an invitation (`user.created`, `invited: true`) whose
//! password nobody has set since (no `user.password_set_by_link`, no
//! `user.updated` with `password_changed: true`) is still waiting for its
//! owner to choose one. It was invited when the last invitation went out
//! (`user.password_link_sent`), or else when it was created. The audit log
//! is the only record of either; it is never rewritten.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000021_users_invited_backfill"
    }
}

/// The backfill, with `flag(field)` the backend's test that a boolean
/// field of the audit row's `detail` is true.
fn backfill(flag: impl Fn(&str) -> String) -> String {
    format!(
        "UPDATE users SET invited_at = COALESCE(\
           (SELECT MAX(a.at) FROM audit_log a WHERE a.subject_id = users.id AND a.action = 'user.password_link_sent'), \
           users.created_at) \
         WHERE invited_at IS NULL \
           AND EXISTS (SELECT 1 FROM audit_log a WHERE a.subject_id = users.id AND a.action = 'user.created' AND {invited}) \
           AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.subject_id = users.id \
             AND (a.action = 'user.password_set_by_link' OR (a.action = 'user.updated' AND {changed})))",
        invited = flag("invited"),
        changed = flag("password_changed"),
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            DbBackend::Postgres => backfill(|field| format!("(a.detail ->> '{field}') = 'true'")),
            // SQLite's JSON functions read `true` as 1.
            _ => backfill(|field| format!("json_extract(a.detail, '$.{field}') = 1")),
        };
        m.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    /// Nothing to undo: the column is migration 20's, and goes with it.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
