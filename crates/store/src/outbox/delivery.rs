//! The worker's side of the outbox: claiming due messages under a lease,
//! setting aside those that no longer need to go out, minting each message's
//! acknowledgement-link token just before it leaves, and recording what
//! became of each attempt.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, UpdateMany,
};
use uuid::Uuid;

use super::fanout::fanning_out;
use super::moot::{ack_target, find_moot, subjects};
use super::{ACK_TOKEN_SLOT, CHUNK, FAILED, PENDING, PUBLICATION, REMINDER, SENT, SKIPPED, update_in_id_order};
use crate::auth::hash_token;
use crate::db::db_now;
use crate::entity::{ack_tokens, outbox, users};
use crate::password_links::purpose_of;
use crate::{Store, StoreError};

/// How long a reminder waits, at least, behind an earlier message to the
/// same person about the same notice that is being sent, or while the
/// notice's publication e-mails are still being written: long enough for
/// those to have gone, short beside the hours between reminders. Sending
/// the earlier message brings the reminder forward at once.
const BEHIND_ONE_BEING_SENT: chrono::Duration = chrono::Duration::seconds(10);

/// `last_error` of a reminder held back by [`find_waiting`]: the mark by
/// which [`Store::mark_mail_sent`] finds it, to bring it forward once the
/// message it waits for has gone, and which a claim clears (so a row under
/// a lease is never brought forward, and never goes twice).
pub const WAITING_BEHIND: &str = "Waiting: an earlier e-mail to the same person about this notice has not gone yet.";

/// A pending message about a notice to a person.
#[derive(Debug, sea_orm::FromQueryResult)]
struct Unsent {
    id: Uuid,
    notice_id: Uuid,
    user_id: Uuid,
    kind: String,
    created_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
}

/// The reminders among `rows` that must wait, each with when to look at it
/// again: those whose recipient has the notice's own e-mail still pending
/// (after an SMTP outage that outlasted the first delay, say), or an
/// earlier reminder, or whose notice's publication e-mails are still being
/// written (a click on "remind now" just after publishing). A reminder
/// never reaches anyone before the notice it reminds them of, nor before
/// the reminder before it. It waits until that message's next attempt (a
/// moment after it, so that the two are never claimed apart in the wrong
/// order), or, when that message is among `rows` and about to be sent, a
/// few seconds; sending it brings the reminder forward. Waiting counts no
/// attempt. Run after the moot rows are set aside, which no longer count.
async fn find_waiting(
    conn: &impl sea_orm::ConnectionTrait,
    rows: &[outbox::Model],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let mut reminders: Vec<(&outbox::Model, (Uuid, Uuid))> =
        rows.iter().filter(|row| row.kind == REMINDER).filter_map(|row| Some((row, subjects(row)?))).collect();
    if reminders.is_empty() {
        return Ok(HashMap::new());
    }
    // Earlier reminders first, so that one held back holds back those after it.
    reminders.sort_by_key(|(row, _)| row.created_at);
    let notices: HashSet<Uuid> = reminders.iter().map(|(_, (notice, _))| *notice).collect();
    let people: HashSet<Uuid> = reminders.iter().map(|(_, (_, user))| *user).collect();
    let fanning_out = fanning_out(conn, notices.iter().copied()).await?;
    // By the partial index of pending rows on (notice_id, user_id), which
    // only a literal `state = 'pending'` (not a bound value) lets the planner use.
    let unsent: Vec<Unsent> = outbox::Entity::find()
        .select_only()
        .columns([
            outbox::Column::Id,
            outbox::Column::NoticeId,
            outbox::Column::UserId,
            outbox::Column::Kind,
            outbox::Column::CreatedAt,
            outbox::Column::NextAttemptAt,
        ])
        .filter(pending_literally())
        .filter(outbox::Column::NoticeId.is_in(notices))
        .filter(outbox::Column::UserId.is_in(people))
        .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
        .into_model()
        .all(conn)
        .await?;
    let being_sent: HashSet<Uuid> = rows.iter().map(|row| row.id).collect();
    let soon = now + BEHIND_ONE_BEING_SENT;
    let mut waiting: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for (row, (notice, user)) in reminders {
        let before = |u: &&Unsent| {
            (u.notice_id, u.user_id) == (notice, user)
                && u.id != row.id
                && (u.kind == PUBLICATION || u.created_at < row.created_at)
        };
        let behind = unsent
            .iter()
            .filter(before)
            .map(|u| match waiting.get(&u.id) {
                Some(at) => *at + chrono::Duration::seconds(1),
                None if being_sent.contains(&u.id) => soon,
                None => Ord::max(u.next_attempt_at, now) + chrono::Duration::seconds(1),
            })
            .chain(fanning_out.contains(&notice).then_some(soon))
            .max();
        if let Some(at) = behind {
            waiting.insert(row.id, Ord::max(at, soon));
        }
    }
    Ok(waiting)
}

/// `state = 'pending'` with the value in the statement's text, as the
/// partial index `outbox_pending_by_subject` is written.
pub(super) fn pending_literally() -> Expr {
    Expr::col(outbox::Column::State).eq(Expr::cust(format!("'{PENDING}'")))
}

/// Brings forward the reminders held back behind the messages just sent
/// (see [`find_waiting`]): due now, to be looked at again by the next claim.
async fn bring_forward_waiting(store: &Store, sent: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError> {
    for chunk in sent.chunks(CHUNK) {
        let subjects: Vec<(Option<Uuid>, Option<Uuid>)> = outbox::Entity::find()
            .select_only()
            .columns([outbox::Column::NoticeId, outbox::Column::UserId])
            .filter(outbox::Column::Id.is_in(chunk.iter().copied()))
            .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
            .into_tuple()
            .all(&store.db)
            .await?;
        let notices: HashSet<Uuid> = subjects.iter().filter_map(|(notice, _)| *notice).collect();
        let people: HashSet<Uuid> = subjects.iter().filter_map(|(_, user)| *user).collect();
        if notices.is_empty() || people.is_empty() {
            continue;
        }
        let waiting = Condition::all()
            .add(pending_literally())
            .add(outbox::Column::NoticeId.is_in(notices))
            .add(outbox::Column::UserId.is_in(people))
            .add(outbox::Column::LastError.eq(WAITING_BEHIND))
            .add(outbox::Column::NextAttemptAt.gt(now));
        // Mostly none waits: looked for first, in one statement, as the
        // UPDATE alone was before it took its rows in order.
        let none_waits = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(waiting.clone())
            .into_tuple::<Uuid>()
            .one(&store.db)
            .await?
            .is_none();
        if none_waits {
            continue;
        }
        let due_now = || outbox::Entity::update_many().col_expr(outbox::Column::NextAttemptAt, Expr::value(now));
        store.update_alone_in_id_order(waiting, due_now).await?;
    }
    Ok(())
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

impl Store {
    /// Fills the ack-link slot of each claimed message with a fresh token,
    /// minted now for the message's (notice, user) and stored only as its
    /// hash, valid for the configured lifetime from this moment; or, in a
    /// message with a link to choose a password, for its person, valid for
    /// that kind of link's lifetime. Called by
    /// the worker just before sending; a retry mints a new token, and every
    /// token it minted stays valid until it is used or expires.
    pub async fn mint_ack_links(&self, rows: Vec<outbox::Model>) -> Result<Vec<outbox::Model>, StoreError> {
        let setup = self.mail_setup()?;
        // Each link minted here: its token's hash, for whom, and the address
        // its message goes to.
        let mut links: Vec<(String, Uuid, Uuid, String)> = Vec::new();
        let mut minted = Vec::with_capacity(rows.len());
        for mut row in rows {
            let carries_link = row.text_body.contains(ACK_TOKEN_SLOT) || row.html_body.contains(ACK_TOKEN_SLOT);
            if !carries_link {
                minted.push(row);
                continue;
            }
            if purpose_of(&row.kind).is_some() {
                // A link to choose a password: a few, each under its person's lock.
                minted.extend(self.mint_password_link(row).await?);
                continue;
            }
            if let Some((notice_id, user_id)) = ack_target(&row) {
                let token = crate::ack_links::new_link_token()?;
                links.push((hash_token(&token), notice_id, user_id, row.to_addr.clone()));
                row.text_body = row.text_body.replace(ACK_TOKEN_SLOT, &token);
                row.html_body = row.html_body.replace(ACK_TOKEN_SLOT, &token);
            }
            minted.push(row);
        }
        if links.is_empty() {
            return Ok(minted);
        }
        // Each person's address now, read under a share of their row's lock
        // until the links are stored: an administrator correcting an address
        // or deactivating someone locks that row first, then ends the
        // person's links (see `ack_links::end_ack_links`), so either the
        // change waits and ends these links too, or this read sees it. A
        // message tried before at an address corrected since keeps that
        // address, but not a working link: its link is born expired, as is
        // one for someone deactivated since it was claimed.
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        let mut people: Vec<Uuid> = links.iter().map(|(_, _, user, _)| *user).collect();
        people.sort_unstable();
        people.dedup();
        let mut addresses: HashMap<Uuid, String> = HashMap::with_capacity(people.len());
        for chunk in people.chunks(CHUNK) {
            let found = users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .column(users::Column::Email)
                .filter(users::Column::Id.is_in(chunk.iter().copied()))
                .filter(users::Column::Active.eq(true))
                .order_by_asc(users::Column::Id)
                .lock_shared()
                .into_tuple::<(Uuid, String)>()
                .all(&txn)
                .await?;
            addresses.extend(found);
        }
        let tokens: Vec<ack_tokens::ActiveModel> = links
            .into_iter()
            .map(|(token_hash, notice_id, user_id, to_addr)| {
                // Not theirs now, or not active: born expired.
                let readdressed = addresses.get(&user_id).is_none_or(|now| !now.eq_ignore_ascii_case(&to_addr));
                ack_tokens::ActiveModel {
                    token_hash: Set(token_hash),
                    notice_id: Set(notice_id),
                    user_id: Set(user_id),
                    created_at: Set(now),
                    expires_at: Set(if readdressed { now } else { now + setup.ack_link_ttl }),
                    used_at: Set(None),
                }
            })
            .collect();
        for chunk in tokens.chunks(CHUNK) {
            ack_tokens::Entity::insert_many(chunk.to_vec()).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
        Ok(minted)
    }

    /// Takes up to `limit` due messages for this worker. Those that no longer
    /// need to go out (see [`find_moot`]) end as `skipped`, with the reason in
    /// `last_error`, and are not returned; nor are reminders that must wait
    /// for an earlier message to the same person (see [`find_waiting`]),
    /// which are set to be looked at again later. The others each get one more
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
        // A batch that was all set aside is followed at once by the next, so
        // that mail due behind many moot rows does not wait a poll per batch;
        // a few batches at most, as the transaction holds SQLite's write lock.
        let mut passes = 0;
        let rows = loop {
            passes += 1;
            let mut rows = due_mail(now, limit).all(&txn).await?;
            let selected = rows.len();
            let moot = find_moot(&txn, &rows).await?;
            let mut by_reason: HashMap<&str, Vec<Uuid>> = HashMap::new();
            for (id, reason) in &moot {
                by_reason.entry(reason).or_default().push(*id);
            }
            for (reason, ids) in by_reason {
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::State, Expr::value(SKIPPED))
                    .col_expr(outbox::Column::LastError, Expr::value(reason))
                    .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
                    .filter(outbox::Column::Id.is_in(ids))
                    .exec(&txn)
                    .await?;
            }
            rows.retain(|row| !moot.contains_key(&row.id));
            let waiting = find_waiting(&txn, &rows, now).await?;
            let mut by_time: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
            for (id, at) in &waiting {
                by_time.entry(*at).or_default().push(*id);
            }
            for (at, ids) in by_time {
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::NextAttemptAt, Expr::value(at))
                    .col_expr(outbox::Column::LastError, Expr::value(WAITING_BEHIND))
                    .filter(outbox::Column::Id.is_in(ids))
                    .exec(&txn)
                    .await?;
            }
            rows.retain(|row| !waiting.contains_key(&row.id));
            let set_aside = moot.len() + waiting.len();
            if !rows.is_empty() || (selected as u64) < limit || set_aside == 0 || passes == 10 {
                break rows;
            }
        };
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(rows);
        }
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        // A reminder held back before is claimed now: its mark goes, so that
        // nothing brings it forward while it is under this lease.
        let unmarked =
            Expr::case(Expr::col(outbox::Column::LastError).eq(WAITING_BEHIND), Expr::value(Option::<String>::None))
                .finally(Expr::col(outbox::Column::LastError));
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(Expr::value(1)))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease_until))
            .col_expr(outbox::Column::LastError, unmarked.into())
            .filter(outbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let last_error = r.last_error.filter(|e| e != WAITING_BEHIND);
                outbox::Model { attempts: r.attempts + 1, next_attempt_at: lease_until, last_error, ..r }
            })
            .collect())
    }

    /// Marks delivered messages sent: each `(id, attempts)` is a row as this
    /// worker claimed it. Only rows still held by that claim change (still
    /// `pending`, and not claimed again since: every claim counts one more
    /// attempt), so a worker whose lease ran out cannot touch a row another
    /// worker has claimed or sent since. One exception: a row another worker
    /// set aside as `skipped` after this one's lease ran out (skipping counts
    /// no attempt) did go out, so it becomes `sent`, its reason cleared.
    /// Reminders held back behind the rows (see [`find_waiting`]) are due
    /// at once. Returns how many rows were marked.
    pub async fn mark_mail_sent(&self, claimed: &[(Uuid, i32)]) -> Result<u64, StoreError> {
        self.mark_mail_sent_as(claimed, None).await
    }

    /// [`Store::mark_mail_sent`], saying in each row how it went when it
    /// was not e-mailed (`how`: written as a file by a process without an
    /// SMTP server), so that the outbox does not pass it off as delivered.
    pub async fn mark_mail_sent_as(&self, claimed: &[(Uuid, i32)], how: Option<&str>) -> Result<u64, StoreError> {
        if claimed.is_empty() {
            return Ok(0);
        }
        let now = db_now(&self.db).await?;
        let last_error = match how {
            Some(how) => Expr::value(how.to_owned()),
            None => Expr::case(Expr::col(outbox::Column::State).eq(SKIPPED), Expr::value(Option::<String>::None))
                .finally(Expr::col(outbox::Column::LastError))
                .into(),
        };
        let marked = self
            .update_held(claimed, &[PENDING, SKIPPED], |update, _| {
                update
                    .col_expr(outbox::Column::State, Expr::value(SENT))
                    .col_expr(outbox::Column::SentAt, Expr::value(now))
                    .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
                    .col_expr(outbox::Column::LastError, last_error.clone())
            })
            .await?;
        let sent: Vec<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
        bring_forward_waiting(self, &sent, now).await?;
        Ok(marked)
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
            None => update
                .col_expr(outbox::Column::State, Expr::value(FAILED))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(now)),
        };
        let one = held(attempts, &[PENDING]).add(outbox::Column::Id.eq(id));
        let result = update.filter(one).exec(&self.db).await?;
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
        self.update_held(claimed, &[PENDING], |update, attempts| {
            update
                .col_expr(outbox::Column::Attempts, Expr::value(attempts - 1))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        })
        .await
    }

    /// Applies `set` to the rows of `claimed` that the claim still holds (see
    /// [`Store::mark_mail_sent`]) in one of `states`, in chunks of one
    /// attempts count each; `set` is given that count. Returns how many rows
    /// changed.
    async fn update_held(
        &self,
        claimed: &[(Uuid, i32)],
        states: &[&str],
        set: impl Fn(UpdateMany<outbox::Entity>, i32) -> UpdateMany<outbox::Entity>,
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        for (attempts, ids) in by_attempts(claimed) {
            for chunk in ids.chunks(CHUNK) {
                let picked = held(attempts, states).add(outbox::Column::Id.is_in(chunk.iter().copied()));
                changed +=
                    self.update_alone_in_id_order(picked, || set(outbox::Entity::update_many(), attempts)).await?;
            }
        }
        Ok(changed)
    }

    /// Applies `update` to the rows `picked` chooses, in a transaction of
    /// its own that first takes them in the order of their ids (see
    /// [`super::lock_in_id_order`]; on PostgreSQL, where that order is what
    /// keeps two such changes from deadlocking). Returns how many rows changed.
    async fn update_alone_in_id_order(
        &self,
        picked: Condition,
        update: impl Fn() -> UpdateMany<outbox::Entity>,
    ) -> Result<u64, StoreError> {
        if self.backend() != sea_orm::DbBackend::Postgres {
            return update_in_id_order(&self.db, picked, update).await;
        }
        let txn = self.begin_write().await?;
        let changed = update_in_id_order(&txn, picked, update).await?;
        txn.commit().await?;
        Ok(changed)
    }
}

/// The rows still held by the claim that counted `attempts`: in one of
/// `states` (pending, unless said otherwise), and not claimed again since
/// (every claim counts one more).
fn held(attempts: i32, states: &[&str]) -> Condition {
    Condition::all().add(outbox::Column::State.is_in(states.iter().copied())).add(outbox::Column::Attempts.eq(attempts))
}

/// Claimed rows grouped by the attempt count their claim gave them.
fn by_attempts(claimed: &[(Uuid, i32)]) -> BTreeMap<i32, Vec<Uuid>> {
    let mut groups: BTreeMap<i32, Vec<Uuid>> = BTreeMap::new();
    for (id, attempts) in claimed {
        groups.entry(*attempts).or_default().push(*id);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::due_mail;
    use sea_orm::{DbBackend, QueryTrait};

    #[test]
    fn claiming_skips_rows_other_workers_hold_on_postgres() {
        let sql = due_mail(chrono::Utc::now(), 10).build(DbBackend::Postgres).to_string();
        assert!(sql.ends_with("FOR UPDATE SKIP LOCKED"), "{sql}");
        let sql = due_mail(chrono::Utc::now(), 10).build(DbBackend::Sqlite).to_string();
        assert!(!sql.contains("FOR UPDATE"), "{sql}");
    }
}
