//! Reminders to the salespeople who have not acknowledged a notice, on the
//! configured schedule or when finance asks, and the escalation to finance
//! after the last one.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Batch, Letter, PendingPerson, active_with_role, blocked_quotes, notice_content, recipient};
use crate::db::db_now;
use crate::entity::{acknowledgements, notices, outbox, quotes, users};
use crate::notices::PUBLISHED;
use crate::quotes::DRAFT;
use crate::{Actor, Store, StoreError};

/// How long after finance's reminder now a salesperson is left out of the next one.
pub const REMIND_NOW_AGAIN_AFTER_MINUTES: i64 = 10;

/// What finance's reminder now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminded {
    /// Reminders queued, one per salesperson who has not acknowledged.
    pub queued: usize,
    /// Salespeople still pending who were left out: they had a reminder (one
    /// sent now, or one of the schedule's) within the last
    /// [`REMIND_NOW_AGAIN_AFTER_MINUTES`] minutes.
    pub recently_reminded: usize,
}

/// A reminder's dedupe key: `which` is its number in the schedule, or
/// `now-<stamp>` for one finance sent at once. Like a publication's key, it
/// names the (notice, user) its ack link acknowledges for.
pub(super) fn reminder_key(notice_id: Uuid, user_id: Uuid, which: impl std::fmt::Display) -> String {
    format!("remind:{notice_id}:{user_id}:{which}")
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

/// The signers of draft quotes drafted before `published_at`: the people a
/// notice published then holds up, and so the only ones its scheduled
/// reminders and its escalation are about.
async fn held_up_signers(
    conn: &impl ConnectionTrait,
    published_at: DateTime<Utc>,
) -> Result<HashSet<Uuid>, StoreError> {
    Ok(quotes::Entity::find()
        .select_only()
        .column(quotes::Column::SignerId)
        .distinct()
        .filter(quotes::Column::State.eq(DRAFT))
        .filter(quotes::Column::DraftedAt.lt(published_at))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

impl Store {
    /// Enqueues the reminders and escalations that have come due. Idempotent:
    /// every logical e-mail has a dedupe key, so any number of workers may
    /// tick at once and a restart re-enqueues nothing.
    ///
    /// Reminders go, as DESIGN.md has it, only to salespeople who have not
    /// acknowledged and sign an open quote drafted before the notice (one it
    /// holds up); someone who joined later, or whose quotes are all finalised
    /// or cancelled, is not chased. Reminder `n` goes to each of them once
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
            let held_up = held_up_signers(&self.db, published_at).await?;
            let pending: Vec<users::Model> = pending.into_iter().filter(|u| held_up.contains(&u.id)).collect();
            if pending.is_empty() {
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
    /// notice (finance's "remind them" button), except those who had a
    /// reminder, of the schedule's or a click's, within
    /// [`REMIND_NOW_AGAIN_AFTER_MINUTES`]: a second click, a colleague's click a
    /// minute later, or a click just after a scheduled reminder, mails nobody twice.
    pub async fn remind_now(&self, actor: &Actor, notice_id: Uuid) -> Result<Reminded, StoreError> {
        let setup = self.mail_setup()?;
        let txn = self.begin_write().await?;
        // The notice's row lock puts two clicks at once one after the other,
        // so the second sees the first's reminders.
        let notice = notices::Entity::find_by_id(notice_id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(StoreError::not_found("notice"))?;
        if notice.state != PUBLISHED {
            return Err(StoreError::conflict("notice_not_published", "Only a published notice can be reminded of."));
        }
        let now = db_now(&txn).await?;
        let since = now - chrono::Duration::minutes(REMIND_NOW_AGAIN_AFTER_MINUTES);
        let just_reminded: HashSet<String> = outbox::Entity::find()
            .filter(outbox::Column::DedupeKey.starts_with(format!("remind:{notice_id}:")))
            .filter(outbox::Column::CreatedAt.gt(since))
            .all(&txn)
            .await?
            .into_iter()
            .filter_map(|row| row.dedupe_key.split(':').nth(2).map(str::to_owned))
            .collect();
        let content = notice_content(&txn, &notice).await?;
        let blocked = blocked_quotes(&txn, &content, None).await?;
        let mut batch = Batch::new(&setup, now);
        let stamp = now.timestamp_micros();
        let (due, skipped): (Vec<_>, Vec<_>) =
            pending_sales(&txn, notice_id).await?.into_iter().partition(|u| !just_reminded.contains(&u.id.to_string()));
        for user in due {
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
                detail: serde_json::json!({ "queued": count, "recently_reminded": skipped.len() }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(Reminded { queued: count, recently_reminded: skipped.len() })
    }
}
