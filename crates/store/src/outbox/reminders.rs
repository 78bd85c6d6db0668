//! Reminders to the salespeople who have not acknowledged a notice, on the
//! configured schedule or when finance asks, and the escalation to finance
//! after the last one.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{
    Batch, CHUNK, ESCALATION, Letter, PENDING, PUBLICATION, PendingPerson, REMINDER, SENT, active_with_role,
    blocked_quotes, notice_content, recipient,
};
use crate::db::db_now;
use crate::entity::{notices, outbox, users};
use crate::notices::{Chased, PUBLISHED, pending_sales};
use crate::{Actor, Store, StoreError};

/// How long after finance's reminder now a salesperson is left out of the next one.
pub const REMIND_NOW_AGAIN_AFTER_MINUTES: i64 = 10;

/// What finance's reminder now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminded {
    /// Reminders queued, one per salesperson who has not acknowledged.
    pub queued: usize,
    /// Salespeople still pending who were left out: they were mailed about
    /// the notice (its publication, or a reminder of the schedule's or sent
    /// now) within the last [`REMIND_NOW_AGAIN_AFTER_MINUTES`] minutes.
    pub recently_reminded: usize,
}

/// A reminder's dedupe key: `which` is `after-<milliseconds>ms`, its delay after
/// publication in the schedule (a plain number in rows written before the
/// schedule was read by time), or `now-<stamp>` for one finance sent at once. Like a publication's key, it
/// names the (notice, user) its ack link acknowledges for.
pub(super) fn reminder_key(notice_id: Uuid, user_id: Uuid, which: impl std::fmt::Display) -> String {
    format!("remind:{notice_id}:{user_id}:{which}")
}

/// The ids of `people`, to narrow a query to them; `None` (everyone) when
/// there are too many for one statement's parameters.
fn ids_if_few(people: &[users::Model]) -> Option<Vec<Uuid>> {
    (people.len() <= CHUNK).then(|| people.iter().map(|u| u.id).collect())
}

/// The users who have had a reminder about `notice_id` queued at or after
/// `since`, or the notice itself (someone who took over a draft it holds up
/// is mailed it then, see `Store::tell_new_signer`; the schedule's next
/// reminder is theirs, not one at once): two ranges of the outbox's
/// (notice, kind, created_at) index. A scheduled reminder counts whatever
/// became of it (one that failed for good is not queued again); one finance
/// sent now counts only while it is on its way or sent, as for
/// [`Store::remind_now`]: one that failed or was set aside reached nobody.
async fn reminded_since(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    since: DateTime<Utc>,
) -> Result<HashSet<Uuid>, StoreError> {
    let clicked = format!("remind:{notice_id}:%:now-%");
    Ok(outbox::Entity::find()
        .select_only()
        .column(outbox::Column::UserId)
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Kind.is_in([REMINDER, PUBLICATION]))
        .filter(outbox::Column::CreatedAt.gte(since))
        .filter(
            sea_orm::Condition::any()
                .add(outbox::Column::DedupeKey.not_like(clicked))
                .add(outbox::Column::State.is_in([PENDING, SENT])),
        )
        .into_tuple::<Option<Uuid>>()
        .all(conn)
        .await?
        .into_iter()
        .flatten()
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
            let escalated = outbox::Entity::find()
                .filter(outbox::Column::NoticeId.eq(notice.id))
                .filter(outbox::Column::Kind.eq(ESCALATION))
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
            if due == 0 {
                continue;
            }
            let pending = pending_sales(&self.db, notice.id, Chased::HoldingUp(published_at)).await?;
            if pending.is_empty() {
                continue;
            }
            // Whoever has had a reminder about this notice since the latest
            // due one's time came (on the schedule or finance's) has it. By
            // time, not by number: after the schedule changes (a restart with
            // other PRICEGATE_REMINDERS), a reminder whose time has come
            // under the new schedule still goes, and none goes twice.
            let latest = to_chrono(&schedule[due - 1]);
            let due_at = published_at.checked_add_signed(latest).unwrap_or(now);
            let reminded = reminded_since(&self.db, notice.id, due_at).await?;
            let missing: Vec<&users::Model> = pending.iter().filter(|u| !reminded.contains(&u.id)).collect();
            if missing.is_empty() && due < schedule.len() {
                continue;
            }

            // Read and composed before the write transaction, which only
            // inserts: on SQLite it excludes every other writer while open,
            // and thousands of letters take a while to compose. A row whose
            // dedupe key another worker wrote meanwhile is skipped, and one
            // to someone who has acknowledged meanwhile is set aside unsent.
            let content = notice_content(&self.db, &notice).await?;
            let mut blocked = blocked_quotes(
                &self.db,
                &setup.base_url,
                &content,
                ids_if_few(&pending).as_deref(),
                self.calendar.date_of(now),
            )
            .await?;
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
                let key = reminder_key(notice.id, user.id, format!("after-{}ms", schedule[due - 1].as_millis()));
                batch.push(REMINDER, key, &to, &letter)?;
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
                let dashboard_url = format!("{}/notices/{}/dashboard", setup.base_url, notice.id);
                for finance in active_with_role(&self.db, Role::Finance).await? {
                    let to = recipient(&finance);
                    let letter = Letter::Escalation {
                        notice: &content,
                        to: &to,
                        pending: &people,
                        dashboard_url: &dashboard_url,
                    };
                    batch.push(ESCALATION, format!("escalate:{}:{}", notice.id, finance.id), &to, &letter)?;
                }
            }
            let txn = self.begin_write().await?;
            total += batch.write(&txn).await?;
            txn.commit().await?;
        }
        Ok(total)
    }

    /// A reminder now, to every salesperson the notice's dashboard lists as
    /// pending (finance's "remind them" button), except those mailed about it
    /// (its publication, or a reminder of the schedule's or a click's) within
    /// [`REMIND_NOW_AGAIN_AFTER_MINUTES`]: a click just after publishing, a
    /// second click, a colleague's click a minute later, or a click just after
    /// a scheduled reminder, mails nobody twice. (A click and a scheduled reminder queued in the same instant
    /// may both go: the worker's tick does not wait for the click.)
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
        let just_reminded: HashSet<Uuid> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::UserId)
            .filter(outbox::Column::NoticeId.eq(notice_id))
            .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
            .filter(outbox::Column::CreatedAt.gt(since))
            // One that failed or was set aside reached nobody.
            .filter(outbox::Column::State.is_in([PENDING, SENT]))
            .into_tuple::<Option<Uuid>>()
            .all(&txn)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let published_at = notice.published_at.unwrap_or(notice.created_at);
        let (due, skipped): (Vec<_>, Vec<_>) = pending_sales(&txn, notice_id, Chased::Asked(published_at))
            .await?
            .into_iter()
            .partition(|u| !just_reminded.contains(&u.id));
        let content = notice_content(&txn, &notice).await?;
        let blocked =
            blocked_quotes(&txn, &setup.base_url, &content, ids_if_few(&due).as_deref(), self.calendar.date_of(now))
                .await?;
        let mut batch = Batch::new(&setup, now);
        let stamp = now.timestamp_micros();
        for user in due {
            let to = recipient(&user);
            let quotes = blocked.get(&user.id).cloned().unwrap_or_default();
            let ack_url = batch.ack_link();
            let letter =
                Letter::Reminder { notice: &content, to: &to, quotes: &quotes, ack_url: &ack_url, number: 0, of: 0 };
            batch.push(REMINDER, reminder_key(notice_id, user.id, format!("now-{stamp}")), &to, &letter)?;
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
