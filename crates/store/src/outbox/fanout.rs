//! A publication's e-mails, owed in one row and expanded by the mail worker.
//!
//! Publication holds the exclusive gate lock, which every finalisation waits
//! on. Composing and inserting an e-mail per salesperson under that lock made
//! finalisations wait for thousands of messages, so the publication's
//! transaction writes one `publication_fanouts` row instead: durable, so a
//! notice is never published without the mail it owes, even if the process
//! dies the instant after commit. The worker then expands that row into
//! outbox rows in batches, outside any gate lock.
//!
//! **Recipients.** Every salesperson whose account existed when the notice
//! was published (`created_at <= published_at`) and who is an active
//! salesperson when their batch is expanded — normally well under a second
//! after publication. Someone deactivated in between gets nothing (they could
//! not acknowledge anyway); an account created after publication is not
//! announced to, exactly as when the rows were written in the publication's
//! transaction (reminders, which go to whoever is pending, reach them later).
//!
//! **One expander at a time, and nothing twice.** A worker claims the row
//! with a lease (`claimed_by`, `lease_until`); each batch commits in its own
//! short write transaction that first checks, with the row locked, that the
//! claim is still this worker's and that the cursor (`expanded_through`, the
//! last salesperson by id already in the outbox) has not moved. So a worker
//! whose lease ran out and was taken over can never write a batch on top of
//! its successor's. A worker that dies mid-expansion leaves the cursor at its
//! last committed batch; once the lease runs out another worker claims the
//! row and goes on from there. Each e-mail's dedupe key (`publish:<notice>:<user>`)
//! is unique in the outbox and rows are inserted `ON CONFLICT DO NOTHING`,
//! so even a batch written twice would add nothing. The row is deleted in
//! the transaction that writes the last batch.
//!
//! Messages are composed before that transaction, on a blocking thread:
//! templates are CPU work, and on SQLite a write transaction excludes every
//! other writer, finalisations included, for as long as it is open.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{
    Batch, BlockedQuote, Letter, MailSetup, NoticeContent, Told, blocked_quotes, notice_content, publication_key,
};
use crate::db::db_now;
use crate::entity::{notices, outbox, publication_fanouts, users};
use crate::{Store, StoreError};

/// Salespeople per batch when the worker does not say otherwise.
pub const FANOUT_BATCH: usize = 500;
/// A batch's salespeople are bound parameters of one query (their blocked
/// quotes): far below SQLite's and PostgreSQL's limits.
const MAX_FANOUT_BATCH: usize = 2_000;

/// A publication whose e-mails this worker is writing into the outbox.
#[derive(Debug, Clone)]
pub struct FanoutClaim {
    pub notice_id: Uuid,
    /// Ours alone: a batch commits only while the row still names it.
    claim: Uuid,
    published_at: DateTime<Utc>,
    expanded_through: Option<Uuid>,
    /// Salespeople whose e-mail is in the outbox so far.
    pub expanded: i64,
    /// Read once per claim: the notice cannot change once published.
    content: Option<Arc<NoticeContent>>,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutStep {
    /// This many more e-mails are in the outbox; more salespeople remain.
    Queued(usize),
    /// The last batch (this many e-mails) is in; the publication owes nothing more.
    Finished(usize),
    /// Another worker holds the publication now (our lease ran out) or has
    /// finished it; nothing was written.
    Lost,
}

/// Records, in the publication's own transaction, that the notice owes an
/// e-mail to each salesperson (see the module doc).
pub(crate) async fn owe_publication_mail(
    txn: &DatabaseTransaction,
    notice: &notices::Model,
    published_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    publication_fanouts::Entity::insert(publication_fanouts::ActiveModel {
        notice_id: Set(notice.id),
        published_at: Set(published_at),
        expanded_through: Set(None),
        expanded: Set(0),
        claimed_by: Set(None),
        // Due at once.
        lease_until: Set(published_at),
        created_at: Set(published_at),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Which of `notices` still have their publication's e-mails being written:
/// a fan-out row stays until its last batch is in the outbox.
pub(super) async fn fanning_out(
    conn: &impl ConnectionTrait,
    notices: impl IntoIterator<Item = Uuid>,
) -> Result<HashSet<Uuid>, StoreError> {
    Ok(publication_fanouts::Entity::find()
        .select_only()
        .column(publication_fanouts::Column::NoticeId)
        .filter(publication_fanouts::Column::NoticeId.is_in(notices))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5))
}

/// The salespeople of the next batch: by id, after the cursor.
async fn next_recipients(
    conn: &impl ConnectionTrait,
    claim: &FanoutClaim,
    size: usize,
) -> Result<Vec<users::Model>, StoreError> {
    let mut query = users::Entity::find()
        .filter(users::Column::Role.eq(Role::Sales.as_str()))
        .filter(users::Column::Active.eq(true))
        .filter(users::Column::CreatedAt.lte(claim.published_at));
    if let Some(after) = claim.expanded_through {
        query = query.filter(users::Column::Id.gt(after));
    }
    Ok(query.order_by_asc(users::Column::Id).limit(size as u64).all(conn).await?)
}

/// One publication e-mail per recipient, composed on a blocking thread.
async fn compose_batch(
    setup: Arc<MailSetup>,
    content: Arc<NoticeContent>,
    people: Vec<(users::Model, Vec<BlockedQuote>)>,
    now: DateTime<Utc>,
) -> Result<Vec<outbox::ActiveModel>, StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut batch = Batch::new(&setup, now);
        let ack_url = batch.ack_link();
        for (user, quotes) in &people {
            let to = super::recipient(user);
            let letter =
                Letter::Publication { notice: &content, to: &to, quotes, ack_url: &ack_url, told: Told::AtPublication };
            batch.push(super::PUBLICATION, publication_key(content.id, user.id), &to, &letter)?;
        }
        debug_assert!(batch.letters.is_empty(), "a publication tells nobody whether they sign a draft");
        Ok(batch.rows)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("composing mail on a blocking thread failed: {e}")))?
}

impl Store {
    /// Takes the publication that still owes e-mails, that no worker holds
    /// (or whose holder's lease has run out) and that has been due longest,
    /// oldest first among equals, for `lease`.
    pub async fn claim_publication_fanout(&self, lease: Duration) -> Result<Option<FanoutClaim>, StoreError> {
        // Look before taking the write lock: an idle worker polls often, and
        // on SQLite every write transaction excludes all other writers.
        let probe = publication_fanouts::Entity::find()
            .filter(publication_fanouts::Column::LeaseUntil.lte(db_now(&self.db).await?))
            .one(&self.db)
            .await?;
        if probe.is_none() {
            return Ok(None);
        }
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        let Some(row) = publication_fanouts::Entity::find()
            .filter(publication_fanouts::Column::LeaseUntil.lte(now))
            // A publication set back after a failed batch (see
            // `defer_publication_fanout`) waits behind the others.
            .order_by_asc(publication_fanouts::Column::LeaseUntil)
            .order_by_asc(publication_fanouts::Column::CreatedAt)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?
        else {
            txn.commit().await?;
            return Ok(None);
        };
        let claim = Uuid::new_v4();
        publication_fanouts::Entity::update(publication_fanouts::ActiveModel {
            notice_id: Set(row.notice_id),
            claimed_by: Set(Some(claim)),
            lease_until: Set(lease_end(now, lease)),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(Some(FanoutClaim {
            notice_id: row.notice_id,
            claim,
            published_at: row.published_at,
            expanded_through: row.expanded_through,
            expanded: row.expanded,
            content: None,
        }))
    }

    /// Writes the publication e-mails of the next `size` salespeople into
    /// the outbox, and moves the claim's cursor past them (or, after the
    /// last, deletes the publication's fan-out row). Extends the lease.
    /// `size` is at most 2,000.
    pub async fn expand_publication_batch(
        &self,
        claim: &mut FanoutClaim,
        size: usize,
        lease: Duration,
    ) -> Result<FanoutStep, StoreError> {
        let setup = self.mail_setup()?;
        let size = size.clamp(1, MAX_FANOUT_BATCH);
        let content = match &claim.content {
            Some(content) => content.clone(),
            None => {
                let notice = notices::Entity::find_by_id(claim.notice_id)
                    .one(&self.db)
                    .await?
                    .ok_or(StoreError::not_found("notice"))?;
                let content = Arc::new(NoticeContent {
                    published_at: claim.published_at,
                    ..notice_content(&self.db, &notice, self.calendar).await?
                });
                claim.content = Some(content.clone());
                content
            }
        };
        let people = next_recipients(&self.db, claim, size).await?;
        let last = people.len() < size;
        let through = people.last().map(|u| u.id).or(claim.expanded_through);
        let signers: Vec<Uuid> = people.iter().map(|u| u.id).collect();
        let now = db_now(&self.db).await?;
        let mut blocked = if signers.is_empty() {
            HashMap::new()
        } else {
            blocked_quotes(&self.db, &setup.base_url, &content, Some(&signers), self.calendar, now).await?
        };
        let people: Vec<(users::Model, Vec<BlockedQuote>)> = people
            .into_iter()
            .map(|u| {
                let quotes = blocked.remove(&u.id).unwrap_or_default();
                (u, quotes)
            })
            .collect();
        let rows = compose_batch(setup, content, people, now).await?;
        let count = rows.len();

        let txn = self.begin_write().await?;
        let row = publication_fanouts::Entity::find_by_id(claim.notice_id).lock_exclusive().one(&txn).await?;
        let still_ours = row
            .as_ref()
            .is_some_and(|r| r.claimed_by == Some(claim.claim) && r.expanded_through == claim.expanded_through);
        if !still_ours {
            // Dropping the transaction rolls it back; nothing was written.
            return Ok(FanoutStep::Lost);
        }
        Batch::write_rows(rows, &txn).await?;
        if last {
            publication_fanouts::Entity::delete_by_id(claim.notice_id).exec(&txn).await?;
        } else {
            let now = db_now(&txn).await?;
            publication_fanouts::Entity::update(publication_fanouts::ActiveModel {
                notice_id: Set(claim.notice_id),
                expanded_through: Set(through),
                expanded: Set(claim.expanded + count as i64),
                lease_until: Set(lease_end(now, lease)),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
        }
        txn.commit().await?;
        claim.expanded_through = through;
        claim.expanded += count as i64;
        Ok(if last { FanoutStep::Finished(count) } else { FanoutStep::Queued(count) })
    }

    /// Gives a claimed publication back at once (a worker shutting down
    /// between batches), so the next worker need not wait for the lease.
    pub async fn release_publication_fanout(&self, claim: &FanoutClaim) -> Result<(), StoreError> {
        self.defer_publication_fanout(claim, Duration::ZERO).await
    }

    /// Gives a claimed publication back after a batch failed, not due again
    /// for `delay`: the next claim takes the other publications first, so
    /// one that cannot be expanded (a template failing, say) does not hold
    /// up every later one. Does nothing if the claim is no longer ours.
    pub async fn defer_publication_fanout(&self, claim: &FanoutClaim, delay: Duration) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        publication_fanouts::Entity::update_many()
            .col_expr(publication_fanouts::Column::LeaseUntil, Expr::value(lease_end(now, delay)))
            .filter(publication_fanouts::Column::NoticeId.eq(claim.notice_id))
            .filter(publication_fanouts::Column::ClaimedBy.eq(claim.claim))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
