//! The mail outbox: rows written in the same transaction as the state change
//! they announce, claimed and marked by the mail worker.
//!
//! The store cannot depend on the mail crate (mail depends on the store), yet
//! the message is rendered where the state change happens, inside its
//! transaction. So the store defines [`Composer`] and the mail crate
//! implements it; the binary hands one to [`Store::with_mail`].
//!
//! An acknowledgement token exists in clear only in the message that leaves
//! for the recipient: the outbox row holds [`ACK_TOKEN_SLOT`] where the link's
//! token goes, and the worker mints the token (keeping only its hash) just
//! before it hands the message to the transport ([`Store::mint_ack_links`]).
//! A row read from the database, a backup or the admin outbox never carries a
//! working link.
//!
//! A publication does not write its e-mails itself: it writes one row that
//! owes them, and the worker expands it (see [`Store::expand_publication_batch`]).

mod fanout;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pricegate_domain::{PriceChange, Role, impact_of, quote_total};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, UpdateMany,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{hash_token, random_token};
use crate::db::db_now;
use crate::entity::{ack_tokens, acknowledgements, notices, outbox, quotes, users};
use crate::gate::priced_lines;
use crate::notices::{PUBLISHED, load_changes};
use crate::quotes::{DRAFT, load_lines};
use crate::views::PriceChangeView;
use crate::{Actor, Store, StoreError};

pub(crate) use fanout::owe_publication_mail;
pub use fanout::{FANOUT_BATCH, FanoutClaim, FanoutStep};

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// Rows per INSERT: far below SQLite's and PostgreSQL's bind-parameter limits.
const CHUNK: usize = 400;

/// A published notice as a letter shows it.
#[derive(Debug, Clone)]
pub struct NoticeContent {
    pub id: Uuid,
    pub title: String,
    /// Markdown, as finance wrote it.
    pub body: String,
    pub published_at: DateTime<Utc>,
    pub changes: Vec<PriceChangeView>,
}

/// An open quote drafted before the notice: the gate blocks it until its
/// signer acknowledges.
#[derive(Debug, Clone)]
pub struct BlockedQuote {
    pub id: Uuid,
    pub customer_name: String,
    pub customer_company: String,
    pub currency: String,
    pub total_minor: i64,
    /// How much the notice's changes move the quote's total.
    pub delta_minor: i64,
}

#[derive(Debug, Clone)]
pub struct Recipient {
    pub name: String,
    pub email: String,
}

/// A salesperson who has not acknowledged, as the escalation names them.
#[derive(Debug, Clone)]
pub struct PendingPerson {
    pub name: String,
    pub email: String,
    pub quotes: Vec<BlockedQuote>,
}

/// What one e-mail says, before it is rendered.
#[derive(Debug)]
pub enum Letter<'a> {
    Publication {
        notice: &'a NoticeContent,
        to: &'a Recipient,
        quotes: &'a [BlockedQuote],
        ack_url: &'a str,
    },
    Reminder {
        notice: &'a NoticeContent,
        to: &'a Recipient,
        quotes: &'a [BlockedQuote],
        ack_url: &'a str,
        number: usize,
        of: usize,
    },
    Escalation {
        notice: &'a NoticeContent,
        to: &'a Recipient,
        pending: &'a [PendingPerson],
    },
}

/// A rendered message: subject, plain text and HTML.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders letters; implemented by the mail crate.
pub trait Composer: Send + Sync + 'static {
    fn compose(&self, letter: &Letter<'_>) -> Result<Composed, String>;
}

/// Everything the store needs to write mail.
pub struct MailSetup {
    pub composer: Arc<dyn Composer>,
    /// Where people reach the server, no trailing slash: ack links start here.
    pub base_url: String,
    pub ack_link_ttl: chrono::Duration,
    /// The right-hand side of every Message-ID.
    pub message_id_domain: String,
}

impl std::fmt::Debug for MailSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSetup").field("base_url", &self.base_url).field("ack_link_ttl", &self.ack_link_ttl).finish()
    }
}

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
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
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
            state: m.state,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
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

/// Due rows, oldest first, skipping rows another worker holds (PostgreSQL;
/// SQLite has no row locks and its write transaction already excludes others).
fn due_mail(now: DateTime<Utc>, limit: u64) -> sea_orm::Select<outbox::Entity> {
    outbox::Entity::find()
        .filter(outbox::Column::State.eq(PENDING))
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
}

/// Stands in an outbox body for the token of the recipient's ack link.
pub const ACK_TOKEN_SLOT: &str = "{ack-token}";

/// Dedupe keys of the letters that carry an ack link: they name the
/// (notice, user) the link acknowledges for.
fn publication_key(notice_id: Uuid, user_id: Uuid) -> String {
    format!("publish:{notice_id}:{user_id}")
}

fn reminder_key(notice_id: Uuid, user_id: Uuid, which: impl std::fmt::Display) -> String {
    format!("remind:{notice_id}:{user_id}:{which}")
}

/// The (notice, user) of a publication or reminder key; `None` for other mail.
fn ack_target(dedupe_key: &str) -> Option<(Uuid, Uuid)> {
    let mut parts = dedupe_key.split(':');
    if !matches!(parts.next(), Some("publish" | "remind")) {
        return None;
    }
    let notice = parts.next()?.parse().ok()?;
    let user = parts.next()?.parse().ok()?;
    Some((notice, user))
}

/// Builds outbox rows, then writes them in bulk.
struct Batch<'a> {
    setup: &'a MailSetup,
    now: DateTime<Utc>,
    rows: Vec<outbox::ActiveModel>,
}

impl<'a> Batch<'a> {
    fn new(setup: &'a MailSetup, now: DateTime<Utc>) -> Self {
        Batch { setup, now, rows: vec![] }
    }

    /// The recipient's ack link, its token still a slot (see the module doc).
    fn ack_link(&self) -> String {
        format!("{}/ack/{ACK_TOKEN_SLOT}", self.setup.base_url)
    }

    fn push(&mut self, kind: &str, dedupe_key: String, to: &Recipient, letter: &Letter<'_>) -> Result<(), StoreError> {
        let composed =
            self.setup.composer.compose(letter).map_err(|e| StoreError::Internal(format!("composing mail: {e}")))?;
        let id = Uuid::new_v4();
        self.rows.push(outbox::ActiveModel {
            id: Set(id),
            dedupe_key: Set(dedupe_key),
            kind: Set(kind.to_owned()),
            to_addr: Set(to.email.clone()),
            to_name: Set(to.name.clone()),
            subject: Set(composed.subject),
            text_body: Set(composed.text),
            html_body: Set(composed.html),
            message_id: Set(format!("<{}@{}>", id.simple(), self.setup.message_id_domain)),
            state: Set(PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(self.now),
            last_error: Set(None),
            created_at: Set(self.now),
            sent_at: Set(None),
        });
        Ok(())
    }

    /// Inserts everything; a row whose dedupe key exists is skipped, so
    /// enqueueing the same logical e-mail twice (two workers, a restart) is harmless.
    async fn write(self, conn: &impl ConnectionTrait) -> Result<usize, StoreError> {
        Self::write_rows(self.rows, conn).await
    }

    async fn write_rows(rows: Vec<outbox::ActiveModel>, conn: &impl ConnectionTrait) -> Result<usize, StoreError> {
        let count = rows.len();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
            outbox::Entity::insert_many(chunk)
                .on_conflict(OnConflict::column(outbox::Column::DedupeKey).do_nothing().to_owned())
                .exec_without_returning(conn)
                .await?;
        }
        Ok(count)
    }
}

async fn notice_content(conn: &impl ConnectionTrait, notice: &notices::Model) -> Result<NoticeContent, StoreError> {
    Ok(NoticeContent {
        id: notice.id,
        title: notice.title.clone(),
        body: notice.body.clone(),
        published_at: notice.published_at.unwrap_or_default(),
        changes: load_changes(conn, &[notice.id]).await?.remove(&notice.id).unwrap_or_default(),
    })
}

async fn active_with_role(conn: &impl ConnectionTrait, role: Role) -> Result<Vec<users::Model>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq(role.as_str()))
        .filter(users::Column::Active.eq(true))
        .order_by_asc(users::Column::Email)
        .all(conn)
        .await?)
}

/// Active salespeople who have not acknowledged `notice_id`.
async fn pending_sales(conn: &impl ConnectionTrait, notice_id: Uuid) -> Result<Vec<users::Model>, StoreError> {
    let acked: HashSet<Uuid> = acknowledgements::Entity::find()
        .filter(acknowledgements::Column::NoticeId.eq(notice_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.user_id)
        .collect();
    Ok(active_with_role(conn, Role::Sales).await?.into_iter().filter(|u| !acked.contains(&u.id)).collect())
}

/// Each signer's open quotes drafted before the notice, with what the notice
/// does to their totals: the quotes the gate now blocks. Only those of
/// `signers`, when given.
async fn blocked_quotes(
    conn: &impl ConnectionTrait,
    notice: &NoticeContent,
    signers: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Vec<BlockedQuote>>, StoreError> {
    let mut query = quotes::Entity::find()
        .filter(quotes::Column::State.eq(DRAFT))
        .filter(quotes::Column::DraftedAt.lt(notice.published_at));
    if let Some(signers) = signers {
        query = query.filter(quotes::Column::SignerId.is_in(signers.iter().copied()));
    }
    let open = query.order_by_asc(quotes::Column::DraftedAt).all(conn).await?;
    let ids: Vec<Uuid> = open.iter().map(|q| q.id).collect();
    let mut lines = load_lines(conn, &ids).await?;
    let changes: Vec<PriceChange> = notice.changes.iter().map(PriceChange::from).collect();
    let mut by_signer: HashMap<Uuid, Vec<BlockedQuote>> = HashMap::new();
    for q in open {
        let priced = priced_lines(&lines.remove(&q.id).unwrap_or_default());
        by_signer.entry(q.signer_id).or_default().push(BlockedQuote {
            id: q.id,
            customer_name: q.customer_name,
            customer_company: q.customer_company,
            currency: q.currency,
            total_minor: quote_total(&priced).unwrap_or(i64::MAX),
            delta_minor: impact_of(&priced, &changes).total_delta_minor,
        });
    }
    Ok(by_signer)
}

fn recipient(u: &users::Model) -> Recipient {
    Recipient { name: u.name.clone(), email: u.email.clone() }
}

impl Store {
    /// Lets this store write mail: a publication then owes its e-mails (one
    /// fan-out row, see [`Store::expand_publication_batch`]), and reminders
    /// and escalations enqueue outbox rows. Without it, nothing is enqueued.
    pub fn with_mail(mut self, setup: MailSetup) -> Store {
        self.mail = Some(Arc::new(setup));
        self
    }

    fn mail_setup(&self) -> Result<Arc<MailSetup>, StoreError> {
        self.mail.clone().ok_or_else(|| StoreError::Internal("mail is not configured on this store".into()))
    }

    /// Enqueues the reminders and escalations that have come due. Idempotent:
    /// every logical e-mail has a dedupe key, so any number of workers may
    /// tick at once and a restart re-enqueues nothing.
    ///
    /// Reminder `n` goes to each salesperson still pending once
    /// `published_at + schedule[n-1]` has passed (only the latest due one, should a worker
    /// have been down through several); the escalation to finance follows, one
    /// tick after the last reminders are in the outbox.
    pub async fn enqueue_due_reminders(&self, schedule: &[std::time::Duration]) -> Result<usize, StoreError> {
        let (Some(setup), Some(first)) = (self.mail.clone(), schedule.first()) else { return Ok(0) };
        let now = db_now(&self.db).await?;
        let to_chrono = |d: &std::time::Duration| chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX);
        let Some(horizon) = now.checked_sub_signed(to_chrono(first)) else { return Ok(0) };
        // A notice whose last reminder fell due more than a week ago is done
        // with (escalated, or everyone had acknowledged): looking at it on
        // every tick forever would make each tick slower than the last.
        let last = schedule.last().map(to_chrono).unwrap_or(chrono::Duration::zero());
        let settled = now
            .checked_sub_signed(last.checked_add(&chrono::Duration::days(7)).unwrap_or(chrono::Duration::MAX))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let candidates = notices::Entity::find()
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notices::Column::PublishedAt.lte(horizon))
            .filter(notices::Column::PublishedAt.gt(settled))
            .order_by_asc(notices::Column::Seq)
            .all(&self.db)
            .await?;
        let mut total = 0;
        for notice in candidates {
            let Some(published_at) = notice.published_at else { continue };
            let escalation_prefix = format!("escalate:{}:", notice.id);
            let escalated = outbox::Entity::find()
                .filter(outbox::Column::DedupeKey.starts_with(&escalation_prefix))
                .one(&self.db)
                .await?
                .is_some();
            if escalated {
                continue;
            }
            let due = schedule
                .iter()
                .take_while(|d| published_at.checked_add_signed(to_chrono(d)).is_some_and(|t| t <= now))
                .count();
            let pending = pending_sales(&self.db, notice.id).await?;
            if due == 0 || pending.is_empty() {
                continue;
            }
            let existing: HashSet<String> = outbox::Entity::find()
                .filter(outbox::Column::DedupeKey.starts_with(format!("remind:{}:", notice.id)))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|r| r.dedupe_key)
                .collect();
            let missing: Vec<&users::Model> =
                pending.iter().filter(|u| !existing.contains(&reminder_key(notice.id, u.id, due))).collect();
            if missing.is_empty() && due < schedule.len() {
                continue;
            }

            let txn = self.begin_write().await?;
            let content = notice_content(&txn, &notice).await?;
            let mut blocked = blocked_quotes(&txn, &content, None).await?;
            let mut batch = Batch::new(&setup, now);
            for user in &missing {
                let to = recipient(user);
                let quotes = blocked.get(&user.id).cloned().unwrap_or_default();
                let ack_url = batch.ack_link();
                let letter = Letter::Reminder {
                    notice: &content,
                    to: &to,
                    quotes: &quotes,
                    ack_url: &ack_url,
                    number: due,
                    of: schedule.len(),
                };
                batch.push("reminder", reminder_key(notice.id, user.id, due), &to, &letter)?;
            }
            if missing.is_empty() && due == schedule.len() {
                let people: Vec<PendingPerson> = pending
                    .iter()
                    .map(|u| PendingPerson {
                        name: u.name.clone(),
                        email: u.email.clone(),
                        quotes: blocked.remove(&u.id).unwrap_or_default(),
                    })
                    .collect();
                for finance in active_with_role(&txn, Role::Finance).await? {
                    let to = recipient(&finance);
                    let letter = Letter::Escalation { notice: &content, to: &to, pending: &people };
                    batch.push("escalation", format!("{escalation_prefix}{}", finance.id), &to, &letter)?;
                }
            }
            total += batch.write(&txn).await?;
            txn.commit().await?;
        }
        Ok(total)
    }

    /// A reminder now, to every salesperson who has not acknowledged the
    /// notice (finance's "remind them" button). Returns how many were queued.
    pub async fn remind_now(&self, actor: &Actor, notice_id: Uuid) -> Result<usize, StoreError> {
        let setup = self.mail_setup()?;
        let txn = self.begin_write().await?;
        let notice = notices::Entity::find_by_id(notice_id).one(&txn).await?.ok_or(StoreError::not_found("notice"))?;
        if notice.state != PUBLISHED {
            return Err(StoreError::conflict("notice_not_published", "Only a published notice can be reminded of."));
        }
        let now = db_now(&txn).await?;
        let content = notice_content(&txn, &notice).await?;
        let blocked = blocked_quotes(&txn, &content, None).await?;
        let mut batch = Batch::new(&setup, now);
        let stamp = now.timestamp_micros();
        for user in pending_sales(&txn, notice_id).await? {
            let to = recipient(&user);
            let quotes = blocked.get(&user.id).cloned().unwrap_or_default();
            let ack_url = batch.ack_link();
            let letter =
                Letter::Reminder { notice: &content, to: &to, quotes: &quotes, ack_url: &ack_url, number: 0, of: 0 };
            batch.push("reminder", reminder_key(notice_id, user.id, format!("now-{stamp}")), &to, &letter)?;
        }
        let count = batch.write(&txn).await?;
        crate::audit::record(
            &txn,
            crate::AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "notice.reminded",
                subject_type: "notice",
                subject_id: Some(notice_id),
                detail: serde_json::json!({ "queued": count }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(count)
    }

    /// Fills the ack-link slot of each claimed message with a fresh token,
    /// minted now for the message's (notice, user) and stored only as its
    /// hash, valid for the configured lifetime from this moment. Called by
    /// the worker just before sending; a retry mints a new token, and every
    /// token it minted stays valid until it is used or expires.
    pub async fn mint_ack_links(&self, rows: Vec<outbox::Model>) -> Result<Vec<outbox::Model>, StoreError> {
        let setup = self.mail_setup()?;
        let now = db_now(&self.db).await?;
        let mut tokens = Vec::new();
        let mut minted = Vec::with_capacity(rows.len());
        for mut row in rows {
            let carries_link = row.text_body.contains(ACK_TOKEN_SLOT) || row.html_body.contains(ACK_TOKEN_SLOT);
            if let (true, Some((notice_id, user_id))) = (carries_link, ack_target(&row.dedupe_key)) {
                let token = random_token()?;
                tokens.push(ack_tokens::ActiveModel {
                    token_hash: Set(hash_token(&token)),
                    notice_id: Set(notice_id),
                    user_id: Set(user_id),
                    created_at: Set(now),
                    expires_at: Set(now + setup.ack_link_ttl),
                    used_at: Set(None),
                });
                row.text_body = row.text_body.replace(ACK_TOKEN_SLOT, &token);
                row.html_body = row.html_body.replace(ACK_TOKEN_SLOT, &token);
            }
            minted.push(row);
        }
        for chunk in tokens.chunks(CHUNK) {
            ack_tokens::Entity::insert_many(chunk.to_vec()).exec_without_returning(&self.db).await?;
        }
        Ok(minted)
    }

    /// Takes up to `limit` due messages for this worker: each gets one more
    /// attempt and a lease (`next_attempt_at = now + lease`) in a short
    /// transaction, so the SMTP conversation happens outside any lock. On
    /// PostgreSQL `FOR UPDATE SKIP LOCKED` lets several workers claim side by
    /// side without ever taking the same row; a worker that dies mid-send
    /// leaves its rows to be claimed again when the lease runs out. The
    /// `attempts` of each returned row names this claim: the worker hands it
    /// back to [`Store::mark_mail_sent`] and [`Store::mark_mail_attempt_failed`],
    /// which change nothing once another claim has counted one more.
    pub async fn claim_due_mail(
        &self,
        limit: u64,
        lease: std::time::Duration,
    ) -> Result<Vec<outbox::Model>, StoreError> {
        // Look before taking the write lock: an idle worker polls often, and
        // on SQLite every write transaction excludes all other writers.
        let probe = outbox::Entity::find()
            .filter(outbox::Column::State.eq(PENDING))
            .filter(outbox::Column::NextAttemptAt.lte(db_now(&self.db).await?))
            .one(&self.db)
            .await?;
        if probe.is_none() {
            return Ok(vec![]);
        }
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        let rows = due_mail(now, limit).all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(rows);
        }
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(Expr::value(1)))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease_until))
            .filter(outbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| outbox::Model { attempts: r.attempts + 1, next_attempt_at: lease_until, ..r })
            .collect())
    }

    /// Marks delivered messages sent: each `(id, attempts)` is a row as this
    /// worker claimed it. Only rows still held by that claim change (still
    /// `pending`, and not claimed again since: every claim counts one more
    /// attempt), so a worker whose lease ran out cannot touch a row another
    /// worker has claimed or sent since. Returns how many rows were marked.
    pub async fn mark_mail_sent(&self, claimed: &[(Uuid, i32)]) -> Result<u64, StoreError> {
        if claimed.is_empty() {
            return Ok(0);
        }
        let now = db_now(&self.db).await?;
        self.update_held(claimed, |update, _| {
            update.col_expr(outbox::Column::State, Expr::value(SENT)).col_expr(outbox::Column::SentAt, Expr::value(now))
        })
        .await
    }

    /// Records a failed attempt of the row as this worker claimed it (its
    /// `attempts`): the row waits until `retry_at`, or, with no retry left
    /// (`None`), ends as `failed` for an admin to see. Like
    /// [`Store::mark_mail_sent`], it changes nothing once the claim is no
    /// longer this worker's; returns whether the row was marked.
    pub async fn mark_mail_attempt_failed(
        &self,
        id: Uuid,
        attempts: i32,
        error: &str,
        retry_in: Option<std::time::Duration>,
    ) -> Result<bool, StoreError> {
        let now = db_now(&self.db).await?;
        let error: String = error.chars().take(1000).collect();
        let mut update = outbox::Entity::update_many().col_expr(outbox::Column::LastError, Expr::value(error));
        update = match retry_in {
            Some(delay) => update.col_expr(
                outbox::Column::NextAttemptAt,
                Expr::value(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))),
            ),
            None => update.col_expr(outbox::Column::State, Expr::value(FAILED)),
        };
        let result = held(update.filter(outbox::Column::Id.eq(id)), attempts).exec(&self.db).await?;
        Ok(result.rows_affected > 0)
    }

    /// Gives claimed rows back unsent (a worker whose lease would run out
    /// before it could send them): due at once, and the attempt this claim
    /// counted is taken back, as no attempt was made. Rows another worker
    /// has claimed or sent since are left alone. Returns how many came back.
    pub async fn release_mail(&self, claimed: &[(Uuid, i32)]) -> Result<u64, StoreError> {
        if claimed.is_empty() {
            return Ok(0);
        }
        let now = db_now(&self.db).await?;
        self.update_held(claimed, |update, attempts| {
            update
                .col_expr(outbox::Column::Attempts, Expr::value(attempts - 1))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        })
        .await
    }

    /// Applies `set` to the rows of `claimed` that the claim still holds (see
    /// [`Store::mark_mail_sent`]), in chunks of one attempts count each;
    /// `set` is given that count. Returns how many rows changed.
    async fn update_held(
        &self,
        claimed: &[(Uuid, i32)],
        set: impl Fn(UpdateMany<outbox::Entity>, i32) -> UpdateMany<outbox::Entity>,
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        for (attempts, ids) in by_attempts(claimed) {
            for chunk in ids.chunks(CHUNK) {
                let update = set(outbox::Entity::update_many(), attempts);
                let update = held(update.filter(outbox::Column::Id.is_in(chunk.iter().copied())), attempts);
                changed += update.exec(&self.db).await?.rows_affected;
            }
        }
        Ok(changed)
    }

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

/// Claimed rows grouped by the attempt count their claim gave them.
/// Narrows `update` to rows still held by the claim that counted `attempts`:
/// still pending, and not claimed again since (every claim counts one more).
fn held(update: UpdateMany<outbox::Entity>, attempts: i32) -> UpdateMany<outbox::Entity> {
    update.filter(outbox::Column::State.eq(PENDING)).filter(outbox::Column::Attempts.eq(attempts))
}

fn by_attempts(claimed: &[(Uuid, i32)]) -> BTreeMap<i32, Vec<Uuid>> {
    let mut groups: BTreeMap<i32, Vec<Uuid>> = BTreeMap::new();
    for (id, attempts) in claimed {
        groups.entry(*attempts).or_default().push(*id);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::{ack_target, due_mail, publication_key, redact_ack_links, reminder_key};
    use sea_orm::{DbBackend, QueryTrait};

    #[test]
    fn claiming_skips_rows_other_workers_hold_on_postgres() {
        let sql = due_mail(chrono::Utc::now(), 10).build(DbBackend::Postgres).to_string();
        assert!(sql.ends_with("FOR UPDATE SKIP LOCKED"), "{sql}");
        let sql = due_mail(chrono::Utc::now(), 10).build(DbBackend::Sqlite).to_string();
        assert!(!sql.contains("FOR UPDATE"), "{sql}");
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

    #[test]
    fn the_keys_of_linked_letters_name_their_notice_and_user() {
        let (n, u) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert_eq!(ack_target(&publication_key(n, u)), Some((n, u)));
        assert_eq!(ack_target(&reminder_key(n, u, 2)), Some((n, u)));
        assert_eq!(ack_target(&reminder_key(n, u, "now-17")), Some((n, u)));
        assert_eq!(ack_target(&format!("escalate:{n}:{u}")), None);
        assert_eq!(ack_target("publish:not-a-uuid:x"), None);
    }
}
