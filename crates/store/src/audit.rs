//! The append-only audit log: one row per state change, written in the same
//! transaction as the change (a refused finalisation commits only its row).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::entity::audit_log;
use crate::views::AuditView;
use crate::{Store, StoreError};

pub struct AuditEntry<'a> {
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

pub(crate) async fn record(conn: &impl ConnectionTrait, entry: AuditEntry<'_>) -> Result<(), StoreError> {
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(Uuid::new_v4()),
        at: Set(entry.at),
        actor_id: Set(entry.actor_id),
        action: Set(entry.action.to_owned()),
        subject_type: Set(entry.subject_type.to_owned()),
        subject_id: Set(entry.subject_id),
        detail: Set(storable(entry.detail)),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The detail with every NUL character replaced. Some details quote what a
/// caller typed (the e-mail of a failed login), and PostgreSQL's JSON types
/// refuse `\u0000`: one stray byte must not turn a refusal into a 500.
fn storable(detail: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match detail {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', "\u{fffd}")),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k.replace('\0', "\u{fffd}"), storable(v))).collect())
        }
        other => other,
    }
}

impl Store {
    /// The newest audit rows first.
    pub async fn list_audit(&self, limit: u64) -> Result<Vec<AuditView>, StoreError> {
        let rows = audit_log::Entity::find().order_by_desc(audit_log::Column::At).limit(limit).all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: r.at,
                actor_id: r.actor_id,
                action: r.action,
                subject_type: r.subject_type,
                subject_id: r.subject_id,
                detail: r.detail,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::storable;
    use serde_json::json;

    #[test]
    fn nul_characters_never_reach_the_stored_detail() {
        let detail = storable(json!({ "email": "ann\u{0}@x", "list": ["a\u{0}"], "n": 1 }));
        assert_eq!(detail, json!({ "email": "ann\u{fffd}@x", "list": ["a\u{fffd}"], "n": 1 }));
    }
}
