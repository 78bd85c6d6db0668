//! The outbox as admins read it: rows without their bodies, and one message
//! with every acknowledgement link cut short.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ACK_TOKEN_SLOT, PENDING};
use crate::entity::outbox;
use crate::{Store, StoreError};

/// An outbox row as admins see it (bodies stay out: they hold ack links).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxView {
    pub id: Uuid,
    /// `publication`, `reminder` or `escalation`.
    pub kind: String,
    pub dedupe_key: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    /// `pending`, `sent`, `failed` or `skipped` (no longer needed when its
    /// turn came: `last_error` says why).
    pub state: String,
    pub attempts: i32,
    /// When the next attempt is due (while it is being sent, when its
    /// worker's lease runs out); only for a `pending` message.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<outbox::Model> for OutboxView {
    fn from(m: outbox::Model) -> Self {
        OutboxView {
            id: m.id,
            kind: m.kind,
            dedupe_key: m.dedupe_key,
            to: m.to_addr,
            subject: m.subject,
            message_id: m.message_id,
            next_attempt_at: (m.state == PENDING).then_some(m.next_attempt_at),
            state: m.state,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

/// One message as an admin reads it: the row and its bodies, with every
/// acknowledgement link cut short, so that reading someone's mail does not
/// hand the reader the power to acknowledge for them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxMessageView {
    #[serde(flatten)]
    pub row: OutboxView,
    pub text_body: String,
    pub html_body: String,
}

/// Replaces the token (or the slot for it) of every `/ack/<token>` in `body` with `…`.
pub fn redact_ack_links(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find("/ack/") {
        let (before, after) = rest.split_at(at + "/ack/".len());
        out.push_str(before);
        let token_len = if after.starts_with(ACK_TOKEN_SLOT) {
            ACK_TOKEN_SLOT.len()
        } else {
            after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_').count()
        };
        if token_len > 0 {
            out.push('…');
        }
        rest = &after[token_len..];
    }
    out.push_str(rest);
    out
}

impl Store {
    /// One message with its bodies, links redacted (see [`OutboxMessageView`]).
    pub async fn get_outbox_message(&self, id: Uuid) -> Result<OutboxMessageView, StoreError> {
        let row = outbox::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::not_found("message"))?;
        let (text_body, html_body) = (redact_ack_links(&row.text_body), redact_ack_links(&row.html_body));
        Ok(OutboxMessageView { row: row.into(), text_body, html_body })
    }

    /// The newest outbox rows, optionally in one state.
    pub async fn list_outbox(&self, state: Option<&str>, limit: u64) -> Result<Vec<OutboxView>, StoreError> {
        let mut query = outbox::Entity::find();
        if let Some(state) = state {
            query = query.filter(outbox::Column::State.eq(state));
        }
        Ok(query
            .order_by_desc(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::DedupeKey)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(OutboxView::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::redact_ack_links;

    #[test]
    fn ack_links_are_redacted_for_readers() {
        let token = "a".repeat(43);
        let body =
            format!("Go to http://x/ack/{token} now, or <a href=\"http://x/ack/{token}\">here</a>; /ack/ alone stays.");
        let redacted = redact_ack_links(&body);
        assert!(!redacted.contains(&token), "{redacted}");
        assert_eq!(redacted.matches("/ack/…").count(), 2, "{redacted}");
        assert!(redacted.ends_with("/ack/ alone stays."), "{redacted}");
    }
}
