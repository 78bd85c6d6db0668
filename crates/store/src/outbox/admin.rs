//! The outbox as admins read it: rows without their bodies, and one message
//! with every acknowledgement link cut short.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pricegate_domain::Invalid;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ACK_TOKEN_SLOT, FAILED, PENDING};
use crate::audit::{AuditEntry, record};
use crate::db::db_now;
use crate::entity::{outbox, users};
use crate::{Actor, Store, StoreError};

/// An outbox row as admins see it (bodies stay out: they hold ack links).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxView {
    pub id: Uuid,
    /// What the e-mail is: `publication` (a notice, told at its publication
    /// or on taking over drafts it holds up), `reminder`, `escalation` (to
    /// finance), `signer` (about signing drafts: named, released, handed
    /// over, or a signer gone or back), `approval`, `approval_request`,
    /// `approval_declined` (finance's approval of old prices), `finalised`
    /// (to a draft's owner, when a colleague who signs it finalises it),
    /// `password_reset`, `invitation` (each with a link to choose a
    /// password), `password_changed`, `role_changed` (each to their
    /// address) or `address_changed` (to the address before).
    pub kind: String,
    pub dedupe_key: String,
    pub to: String,
    /// Of an e-mail about quotes (`signer`, `approval…`, `finalised`), whose
    /// subject names a customer, a sentence saying it is withheld:
    /// administrators do not read quotes. A notice's e-mails and an
    /// account's keep theirs.
    pub subject: String,
    pub message_id: String,
    /// `pending`, `sent`, `failed` or `skipped` (no longer needed when its
    /// turn came: `last_error` says why).
    #[schema(value_type = MailState)]
    pub state: String,
    pub attempts: i32,
    /// When the next attempt is due (while it is being sent, when its
    /// worker's lease runs out); only for a `pending` message.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::views::micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<outbox::Model> for OutboxView {
    fn from(m: outbox::Model) -> Self {
        let kind = m.kind.as_str();
        let subject = match ABOUT_AN_ACCOUNT.contains(&kind) || ABOUT_A_NOTICE.contains(&kind) {
            true => m.subject,
            false => WITHHELD_SUBJECT.to_owned(),
        };
        OutboxView {
            id: m.id,
            kind: m.kind,
            dedupe_key: m.dedupe_key,
            to: m.to_addr,
            subject,
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

/// The values an outbox row's `state` takes.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum MailState {
    pending,
    sent,
    failed,
    skipped,
}

/// The kinds of e-mail about a notice, whose subject names the notice alone
/// (their bodies list the drafts it holds up). Every other kind's but an
/// account's names a quote's customer, a kind added later's too.
const ABOUT_A_NOTICE: [&str; 3] = [super::PUBLICATION, super::REMINDER, super::ESCALATION];
/// The kinds of e-mail about someone's account alone, whose bodies an
/// administrator may read: every other names quotes (a notice's e-mails
/// list the drafts it holds up, with their customers and totals).
const ABOUT_AN_ACCOUNT: [&str; 5] =
    [super::PASSWORD_RESET, super::INVITATION, super::PASSWORD_CHANGED, super::ADDRESS_CHANGED, super::ROLE_CHANGED];
const WITHHELD_SUBJECT: &str = "(about a quote: withheld, as administrators do not read quotes)";
const WITHHELD_BODY: &str = "Withheld: this e-mail names quotes, their customers and totals, which administrators \
    do not read. Its recipient, state and attempts are above.";

/// One message as an admin reads it: the row and its bodies, with every
/// acknowledgement link cut short, so that reading someone's mail does not
/// hand the reader the power to acknowledge for them. The bodies of every
/// e-mail but those about an account alone are withheld: they name quotes.
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

/// A body as an admin reads it: every link's token cut short, a link to
/// choose a password's too (minted as it is sent, in its slot until then),
/// as `/password/…`, not as the slot's name.
fn readable(body: &str) -> String {
    redact_ack_links(body).replace(ACK_TOKEN_SLOT, "…")
}

impl Store {
    /// One message with its bodies, links redacted (see [`OutboxMessageView`]).
    pub async fn get_outbox_message(&self, id: Uuid) -> Result<OutboxMessageView, StoreError> {
        let row = outbox::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::not_found("message"))?;
        let (text_body, html_body) = match ABOUT_AN_ACCOUNT.contains(&row.kind.as_str()) {
            true => (readable(&row.text_body), readable(&row.html_body)),
            false => (WITHHELD_BODY.to_owned(), format!("<p>{WITHHELD_BODY}</p>")),
        };
        Ok(OutboxMessageView { row: row.into(), text_body, html_body })
    }

    /// Sends a message that failed for good again, now: an administrator
    /// has put right what refused it (the person's address, the relay). A
    /// message to a user goes to their address as it is now, which the row
    /// then says. Refused for a message that has not failed (409
    /// `mail_not_failed`), for one to someone deactivated (409
    /// `user_inactive`), for one no longer needed (409 `no_longer_needed`,
    /// saying why), and for a link to choose a password (409
    /// `send_a_new_link`: a new one is sent from the users page). Audited as
    /// `mail.resent`.
    pub async fn resend_mail(&self, actor: &Actor, id: Uuid) -> Result<OutboxView, StoreError> {
        let txn = self.begin_write().await?;
        // Its recipient's row is locked before the message's (on PostgreSQL),
        // in the order a change to the person takes them (their row, then
        // their mail, as a reactivation does to tell them of notices):
        // taken the other way round, the two would each wait for the other.
        // Shared: a deactivation under way is waited for and seen, or waits
        // until the message is queued again. A message's recipient never
        // changes, so the row read before its lock names the same one.
        let recipient = outbox::Entity::find_by_id(id).select_only().column(outbox::Column::UserId);
        let recipient = recipient.into_tuple::<Option<Uuid>>().one(&txn).await?;
        let user = match recipient.ok_or(StoreError::not_found("message"))? {
            Some(user_id) => users::Entity::find_by_id(user_id).lock_shared().one(&txn).await?,
            None => None,
        };
        let row = outbox::Entity::find_by_id(id).lock_exclusive().one(&txn).await?;
        let row = row.ok_or(StoreError::not_found("message"))?;
        if row.state != FAILED {
            return Err(StoreError::conflict(
                "mail_not_failed",
                format!("This message is {}, not failed: only a failed message is sent again.", row.state),
            ));
        }
        if crate::password_links::purpose_of(&row.kind).is_some() {
            return Err(StoreError::conflict(
                "send_a_new_link",
                "A link to choose a password is not sent again: send a new one from the users page, which says \
                 what it is for as things are now.",
            ));
        }
        // One the worker would set aside at once (its notice acknowledged
        // since, its draft signed by someone else…) is said so now.
        if let Some(reason) = super::moot::find_moot(&txn, std::slice::from_ref(&row)).await?.remove(&row.id) {
            return Err(StoreError::conflict("no_longer_needed", reason));
        }
        // A notice's e-mail that a later one about it reached its person
        // since (a reminder, once their address was put right) would tell
        // them nothing new, and link to what that one links to.
        if let Some(at) = super::moot::reached_after(&txn, [&row]).await?.remove(&row.id) {
            return Err(StoreError::conflict("no_longer_needed", reached_later(&self.calendar().stamp(at, true))));
        }
        let now = db_now(&txn).await?;
        let mut model: outbox::ActiveModel = row.clone().into();
        if row.user_id.is_some() {
            match user {
                Some(user) if user.active && super::KEPT_AT_ITS_ADDRESS.contains(&row.kind.as_str()) => {}
                Some(user) if user.active => {
                    model.to_addr = Set(user.email);
                    model.to_name = Set(user.name);
                }
                _ => {
                    return Err(StoreError::conflict(
                        "user_inactive",
                        "Its recipient's account is deactivated: reactivate it first.",
                    ));
                }
            }
        }
        model.state = Set(PENDING.to_owned());
        model.next_attempt_at = Set(now);
        model.last_error = Set(row.last_error.as_ref().map(|e| format!("Sent again after: {e}")));
        let resent = model.update(&txn).await?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "mail.resent",
                subject_type: "mail",
                subject_id: Some(id),
                detail: json!({ "kind": resent.kind, "to": resent.to_addr, "failed_to": row.to_addr, "error": row.last_error }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(resent.into())
    }

    /// Of the messages `ids`, the failed e-mails about a notice that a
    /// later one about it has reached their person since, each with why it
    /// is not sent again: the outbox page offers no "Send again" for them.
    /// For a page of messages, not the whole outbox: `ids` go in one statement.
    pub async fn reached_later(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let failed = outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .filter(outbox::Column::State.eq(FAILED))
            .filter(outbox::Column::Kind.is_in([super::PUBLICATION, super::REMINDER]))
            .all(&self.db)
            .await?;
        let calendar = self.calendar();
        Ok(super::moot::reached_after(&self.db, &failed)
            .await?
            .into_iter()
            .map(|(id, at)| (id, reached_later(&calendar.stamp(at, true))))
            .collect())
    }

    /// The newest outbox rows, optionally in one state and to addresses
    /// that contain `to` (whatever its case), and only those queued before
    /// the row `before` (the last of the page before; by when they were
    /// queued, then by dedupe key, as they are listed).
    pub async fn list_outbox(
        &self,
        state: Option<&str>,
        to: Option<&str>,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<OutboxView>, StoreError> {
        let mut query = outbox::Entity::find();
        if let Some(state) = state {
            query = query.filter(outbox::Column::State.eq(state));
        }
        if let Some(to) = to {
            query = query.filter(crate::db::containing(self.db.get_database_backend(), &["to_addr"], to));
        }
        if let Some(before) = before {
            let (at, key) = outbox::Entity::find_by_id(before)
                .select_only()
                .column(outbox::Column::CreatedAt)
                .column(outbox::Column::DedupeKey)
                .into_tuple::<(DateTime<Utc>, String)>()
                .one(&self.db)
                .await?
                .ok_or_else(|| Invalid::new("before", "before names no message in the outbox."))?;
            // The first condition alone lets the index start at the cursor;
            // the second leaves out the rows up to it within its instant.
            query = query.filter(outbox::Column::CreatedAt.lte(at)).filter(
                Condition::any()
                    .add(outbox::Column::CreatedAt.lt(at))
                    .add(Condition::all().add(outbox::Column::CreatedAt.eq(at)).add(outbox::Column::DedupeKey.gt(key))),
            );
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

/// Why a failed e-mail about a notice is not sent again: a later one about
/// it reached its person at `at` (in words).
fn reached_later(at: &str) -> String {
    format!(
        "Not sent again: a later e-mail about this notice reached them at {at}, with a link of its own to \
         acknowledge it; Remind on the notice's dashboard sends them another."
    )
}

#[cfg(test)]
mod tests {
    use super::{readable, redact_ack_links};

    #[test]
    fn a_password_link_not_sent_yet_reads_cut_short_too() {
        let body = format!("Choose it at http://x/password/{} within a day.", super::ACK_TOKEN_SLOT);
        assert_eq!(readable(&body), "Choose it at http://x/password/… within a day.");
    }

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
