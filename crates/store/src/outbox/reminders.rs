//! Reminders to the salespeople who have not acknowledged a notice, on the
//! configured schedule or when finance asks, and the escalation to finance
//! after the last one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{
    Batch, ESCALATION, FAILED, Letter, MailSetup, NoticeContent, PENDING, PUBLICATION, PendingPerson, REMINDER, SENT,
    active_with_role, blocked_quotes, notice_content, recipient,
};
use crate::db::db_now;
use crate::entity::{notices, outbox, publication_fanouts, reminder_sweeps, users};
use crate::notices::{Chased, PUBLISHED, pending_sales};
use crate::{Actor, Store, StoreError};

/// The key of `reminder_sweeps`' one row.
const SWEEP_ROW: i32 = 1;

/// A gap between two ticks of the reminder worker longer than this is a stop
/// of every worker, whose notices are looked at again from when it began (see
/// `Store::note_tick`); or shorter, down to an hour, when the schedule leaves
/// the window less spare time. A shorter one (a restart, a night with the
/// workers off) only puts off what a notice still had to do, within its
/// window.
const STOP_AFTER: chrono::Duration = chrono::Duration::days(1);

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
    /// When everyone left out can be reminded again: 10 minutes after the
    /// latest mail about the notice to one of them. `None` when nobody was.
    pub again_from: Option<DateTime<Utc>>,
    /// Of those left out, how many have an e-mail about the notice the mail
    /// server deferred: tried, not taken, and tried again on its own.
    /// Another would only wait behind it. (One queued a moment ago and not
    /// tried yet is not counted: it is on its way.)
    pub mail_deferred: usize,
}

/// An e-mail tried and not sent: its recipient, state, tries, last error,
/// when it was queued and when it is due to be tried next.
type Tried = (Option<Uuid>, String, i32, Option<String>, DateTime<Utc>, DateTime<Utc>);

/// Why no e-mail about a notice has reached someone, though one was tried:
/// the latest such e-mail, as the outbox has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// Given up on (the mail server refused it for good, or its tries ran
    /// out); else it is tried again on its own.
    pub failed: bool,
    /// How many times it was tried.
    pub attempts: i32,
    /// What the mail server answered, or what else went wrong, the last time.
    pub error: Option<String>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it is tried next, if it is not given up on.
    pub next_try_at: Option<DateTime<Utc>>,
}

/// A reminder's dedupe key: `which` is `after-<milliseconds>ms`, its delay after
/// publication in the schedule (a plain number in rows written before the
/// schedule was read by time; `…ms-from-<start>` on a round of someone told
/// later, see [`Round`]), or `now-<stamp>` for one finance sent at once. Like a publication's key, it
/// names the (notice, user) its ack link acknowledges for.
pub(super) fn reminder_key(notice_id: Uuid, user_id: Uuid, which: impl std::fmt::Display) -> String {
    format!("remind:{notice_id}:{user_id}:{which}")
}

/// Of the outbox's rows, those tried and not sent: given up on, or pending
/// after a try that failed. A pending one failed a try when it has an error:
/// a claim counts an attempt before the try, so one on its way has attempts
/// and no error; one set to wait behind an earlier one says so in its error.
pub(crate) fn tried_and_not_sent() -> sea_orm::Condition {
    use sea_orm::Condition;
    let failed_a_try = Condition::all()
        .add(outbox::Column::State.eq(PENDING))
        .add(outbox::Column::LastError.is_not_null())
        .add(outbox::Column::LastError.ne(super::WAITING_BEHIND));
    Condition::any().add(outbox::Column::State.eq(FAILED)).add(failed_a_try)
}

/// The ids of `people`, to narrow a query to them; `None` (everyone) when
/// there are too many for one statement's parameters.
fn ids_if_few(people: &[users::Model]) -> Option<Vec<Uuid>> {
    super::if_few(people.iter().map(|u| u.id).collect())
}

/// Which schedule of a notice's reminders someone is on: everyone told of
/// it at its publication is on one, counted from then (`None`); everyone
/// told at once later, on taking over drafts it holds up, on one of their
/// own, counted from then (its start in microseconds).
pub(super) type Round = Option<i64>;

/// An escalation's dedupe key: one per finance user and round. The
/// publication's round keeps the key escalations always had.
fn escalation_key(notice_id: Uuid, finance_id: Uuid, round: Round) -> String {
    match round {
        None => format!("escalate:{notice_id}:{finance_id}"),
        Some(start) => format!("escalate:{notice_id}:{finance_id}:from-{start}"),
    }
}

/// Whether `user` was chased to the end of `round` of `notice_id`, which
/// started at `start`: mailed about it (a reminder, finance's, or the
/// notice itself) at or after the time its last scheduled reminder fell due,
/// as the escalation, which follows once everyone pending was, counts it
/// (see `is_missing` in [`Store::enqueue_due_reminders`]). That time is read
/// from the reminders' keys, which say the delay each was sent after, so
/// that it holds whatever the schedule of the process asking.
pub(super) async fn had_last_reminder(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    user: Uuid,
    round: Round,
    start: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let keys: Vec<String> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::DedupeKey)
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Kind.eq(REMINDER))
        .filter(outbox::Column::DedupeKey.like(format!("remind:{notice_id}:%:after-%")))
        .into_tuple()
        .all(conn)
        .await?;
    let prefix = format!("remind:{notice_id}:");
    // The longest delay of the round's reminders: its last.
    let last = keys
        .iter()
        .filter_map(|key| {
            let (_, which) = key.strip_prefix(&prefix)?.split_once(":after-")?;
            let (delay, from) = match which.split_once("ms-from-") {
                Some((delay, start)) => (delay, Some(start.parse::<i64>().ok()?)),
                None => (which.strip_suffix("ms")?, None),
            };
            (from == round).then_some(delay.parse::<u64>().ok()?)
        })
        .max();
    // A round escalated with no scheduled reminder had everyone mailed
    // otherwise since its start.
    let due = match last {
        None => Some(start),
        Some(ms) => i64::try_from(ms).ok().and_then(|ms| start.checked_add_signed(chrono::Duration::milliseconds(ms))),
    };
    let Some(due) = due else { return Ok(true) };
    Ok(last_mailed_since(conn, notice_id, due).await?.contains_key(&user))
}

/// The rounds of `notice_id` finance has been sent the escalation of.
pub(super) async fn escalated_rounds(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
) -> Result<HashSet<Round>, StoreError> {
    let prefix = format!("escalate:{notice_id}:");
    let keys: Vec<String> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::DedupeKey)
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Kind.eq(ESCALATION))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(keys
        .iter()
        .filter_map(|key| key.strip_prefix(&prefix))
        .filter_map(|rest| match rest.split_once(":from-") {
            None => Some(None),
            Some((_, start)) => start.parse().ok().map(Some),
        })
        .collect())
}

/// When each salesperson told of `notice_id` after its publication was told
/// (see `Store::tell_new_signer`): their reminders count from then. A few
/// rows of a partial index.
pub(super) async fn late_starts(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let rows: Vec<(Option<Uuid>, Option<DateTime<Utc>>)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::UserId)
        .column(outbox::Column::RemindersFrom)
        .filter(outbox::Column::RemindersFrom.is_not_null())
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .into_tuple()
        .all(conn)
        .await?;
    // Someone told again on coming back after their schedule had ended
    // has more than one: the latest is the schedule they are on.
    let mut starts: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for (user, from) in rows.into_iter().filter_map(|(user, from)| Some((user?, from?))) {
        let start = starts.entry(user).or_insert(from);
        *start = (*start).max(from);
    }
    Ok(starts)
}

/// When each user last had a reminder about `notice_id` queued, at or after
/// `since`, or the notice itself (mailed after a reminder's time, it stands
/// for that reminder; someone told of it on taking over drafts is told at
/// the start of their own schedule): two ranges of the outbox's (notice,
/// kind, created_at) index. A scheduled reminder counts whatever became of
/// it (one that failed for good is not queued again); one finance sent now
/// counts only while it is on its way or sent, as for
/// [`Store::remind_now`]: one that failed or was set aside reached nobody.
async fn last_mailed_since(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let clicked = format!("remind:{notice_id}:%:now-%");
    let counted = sea_orm::Condition::any().add(outbox::Column::DedupeKey.not_like(clicked)).add(super::not_given_up());
    latest_mail_about(conn, notice_id, outbox::Column::CreatedAt.gte(since), counted).await
}

/// Who has a publication or reminder e-mail about `notice_id` not sent
/// yet: one range of the outbox's index of pending rows by subject.
async fn unsent_to(conn: &impl ConnectionTrait, notice_id: Uuid) -> Result<HashSet<Uuid>, StoreError> {
    Ok(unsent_tries(conn, notice_id).await?.into_iter().map(|(user, _)| user).collect())
}

/// [`unsent_to`]'s people, each with whether an e-mail of theirs failed a
/// try: the mail server deferred it. (A claim counts an attempt before the
/// try, so one on its way has attempts and no error yet.)
async fn unsent_tries(conn: &impl ConnectionTrait, notice_id: Uuid) -> Result<Vec<(Uuid, bool)>, StoreError> {
    let rows: Vec<(Option<Uuid>, Option<String>)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::UserId)
        .column(outbox::Column::LastError)
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(super::delivery::pending_literally())
        .filter(outbox::Column::Kind.is_in([REMINDER, PUBLICATION]))
        .into_tuple()
        .all(conn)
        .await?;
    // A row set to wait behind an earlier one says so where a failure would.
    let failed = |error: Option<String>| error.is_some_and(|e| e != super::WAITING_BEHIND);
    Ok(rows.into_iter().filter_map(|(user, error)| Some((user?, failed(error)))).collect())
}

/// How long an e-mail may take from being queued to being sent and still
/// count as sent on time: longer, it was held up (the SMTP server down).
const HELD_UP_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// An e-mail's recipient, its kind, when it was queued, and when it was sent.
type Sending = (Option<Uuid>, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// When each person was last sent a publication or reminder e-mail about
/// `notice_id` that may have reached them late, among those sent after
/// `since`: one held up on its way ([`HELD_UP_AFTER`]), or the notice itself
/// (written late too, after a stop of the workers, it can go after its
/// reminders' time); with when that one was queued, and whether it was a
/// reminder. A notice sent on time is among them only while it is recent,
/// and then holds nothing back: the caller waits half a step after it, and
/// a reminder's step is no longer than its delay from the start of the
/// schedule, the notice's sending (nor, with `since` half the last delay
/// back, is it among them once the last reminder's time has come).
async fn sent_late(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, (DateTime<Utc>, DateTime<Utc>, bool)>, StoreError> {
    let rows: Vec<Sending> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::UserId)
        .column(outbox::Column::Kind)
        .column(outbox::Column::CreatedAt)
        .column(outbox::Column::SentAt)
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Kind.is_in([REMINDER, PUBLICATION]))
        .filter(outbox::Column::State.eq(SENT))
        .filter(outbox::Column::SentAt.gt(since))
        .into_tuple()
        .all(conn)
        .await?;
    let late = rows.into_iter().filter_map(|(person, kind, queued, sent)| {
        let (sent, reminder) = (sent?, kind == REMINDER);
        (!reminder || sent.signed_duration_since(queued) > HELD_UP_AFTER).then_some((person, (sent, queued, reminder)))
    });
    Ok(super::latest_per_person(late))
}

/// Each person's latest publication or reminder e-mail about `notice_id`
/// among those `when` and `counted` choose: one range of the outbox's
/// (notice, kind, created_at) index a kind.
async fn latest_mail_about(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    when: sea_orm::sea_query::SimpleExpr,
    counted: impl sea_orm::sea_query::IntoCondition,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let rows = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::UserId)
        .column(outbox::Column::CreatedAt)
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Kind.is_in([REMINDER, PUBLICATION]))
        .filter(when)
        .filter(counted)
        .into_tuple::<(Option<Uuid>, DateTime<Utc>)>()
        .all(conn)
        .await?;
    Ok(super::latest_per_person(rows))
}

/// A pending salesperson whose round has had at least one reminder fall due.
/// What a tick found due about one notice: a reminder to each of
/// `missing`, marked as waiting behind an e-mail about the notice still to
/// go for those `behind`; and the escalation of each complete round, with
/// its people still pending.
struct Due<'a> {
    missing: Vec<&'a Chase<'a>>,
    behind: HashSet<Uuid>,
    rounds: BTreeMap<Round, Vec<&'a users::Model>>,
}

struct Chase<'a> {
    user: &'a users::Model,
    round: Round,
    /// How many of the schedule's reminders have fallen due in their round.
    due: usize,
    /// When the latest of those fell due.
    due_at: DateTime<Utc>,
}

/// Who was mailed about `notice_id` (its publication, or a reminder of the
/// schedule's or finance's) in the last [`REMIND_NOW_AGAIN_AFTER_MINUTES`]
/// before `now`, each with the time of the latest. The notice's own e-mail
/// the worker has yet to write (its fan-out unfinished, as just after
/// publishing) counts as mailed, when it was published, to those of
/// `pending` it is owed to: a click then must not send a reminder on its heels.
async fn recently_mailed(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    published_at: DateTime<Utc>,
    pending: &[users::Model],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let since = now - chrono::Duration::minutes(REMIND_NOW_AGAIN_AFTER_MINUTES);
    // The publication's e-mails still to be written, read before those
    // written: a batch committed in between (another process's worker)
    // covers only people past the cursor read here, who count as owed.
    let fanout = publication_fanouts::Entity::find_by_id(notice_id).one(conn).await?;
    let mut mailed =
        latest_mail_about(conn, notice_id, outbox::Column::CreatedAt.gt(since), super::not_given_up()).await?;
    if let Some(fanout) = fanout
        && published_at > since
    {
        let owed = |u: &users::Model| {
            u.created_at <= fanout.published_at && fanout.expanded_through.is_none_or(|through| u.id > through)
        };
        for u in pending.iter().filter(|u| owed(u)) {
            mailed.entry(u.id).or_insert(published_at);
        }
    }
    Ok(mailed)
}

/// Whom a composed row is to.
fn addressee(row: &outbox::ActiveModel) -> Option<Uuid> {
    match &row.user_id {
        Set(user) => *user,
        _ => None,
    }
}

/// A schedule's delay as chrono counts time (the longest there is, for one
/// too long for it).
fn chrono_of(delay: &std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX)
}

/// How far back the reminder worker looks, for a schedule: `last`, its
/// last delay; `done_after`, how long after its last reminder fell due a
/// round is done with; `stop_after`, how long a gap between ticks is a stop
/// of every worker.
struct Window {
    last: chrono::Duration,
    done_after: chrono::Duration,
    stop_after: chrono::Duration,
}

impl Window {
    fn of(schedule: &[std::time::Duration]) -> Window {
        // A round whose last reminder fell due more than a week ago is done
        // with (escalated, or everyone had acknowledged): looking at it on
        // every tick forever would make each tick slower than the last. (Its
        // escalation comes at most two and a half steps of the schedule
        // after that time, each no longer than the whole: counted from three
        // times the last delay, the week is all to spare, for a restart too.
        // A longer stop of every worker is caught up on: see `note_tick`.)
        let last = schedule.last().map(chrono_of).unwrap_or(chrono::Duration::zero());
        let done_after = last
            .checked_mul(3)
            .and_then(|longest| longest.checked_add(&chrono::Duration::days(7)))
            .unwrap_or(chrono::Duration::MAX);
        // After a stop of the workers, a window back from when it began: the
        // notices whose window it cut short are looked at as if just published.
        // A shorter stop only puts off what was due, within the window's spare
        // time: its week and twice the last delay, less the two and a half
        // steps an escalation may take after the last reminder.
        let longest_step = schedule
            .iter()
            .scan(std::time::Duration::ZERO, |before, d| Some(d.saturating_sub(std::mem::replace(before, *d))))
            .max()
            .map(|step| chrono_of(&step))
            .unwrap_or_default();
        let spare = longest_step
            .checked_mul(5)
            .and_then(|steps| done_after.checked_sub(&last)?.checked_sub(&(steps / 2)))
            .unwrap_or(chrono::Duration::zero());
        let stop_after = spare.clamp(chrono::Duration::hours(1), STOP_AFTER);
        Window { last, done_after, stop_after }
    }
}

/// The page of every notice awaiting a salesperson, which reminders link to.
pub(super) fn awaiting_page(setup: &crate::MailSetup) -> String {
    format!("{}/notices/awaiting", setup.base_url)
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
    /// `published_at + schedule[n-1]` has passed (only the latest due one,
    /// should a worker have been down through several); the escalation to
    /// finance follows once the last reminders have left the outbox (and
    /// half a step after, for someone whose mail was held up on its way),
    /// naming who is still pending. Someone told of the notice later, on
    /// taking over drafts it holds up, is on a schedule of their own counted
    /// from then (a round, with everyone told at the same moment), ending in
    /// an escalation naming them: not chased at once for reminders that fell
    /// due before they knew of the notice, nor left unchased because the
    /// others' escalation went out.
    pub async fn enqueue_due_reminders(&self, schedule: &[std::time::Duration]) -> Result<usize, StoreError> {
        let (Some(setup), Some(first)) = (self.mail.clone(), schedule.first()) else { return Ok(0) };
        let now = db_now(&self.db).await?;
        let Some(horizon) = now.checked_sub_signed(chrono_of(first)) else { return Ok(0) };
        let Window { last, done_after, stop_after } = Window::of(schedule);
        let looked_from = match self.note_tick(now, done_after, stop_after).await {
            Ok(stopped_at) => stopped_at.unwrap_or(now),
            // Reminders still go, as far as the usual window reaches.
            Err(e) => {
                tracing::warn!(error = %e, "could not note the reminder worker's tick in reminder_sweeps");
                now
            }
        };
        let settled = looked_from.min(now).checked_sub_signed(done_after).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let candidates = self.notices_to_chase(horizon, settled).await?;
        let mut total = 0;
        for notice in candidates {
            let Some(published_at) = notice.published_at else { continue };
            let escalated = escalated_rounds(&self.db, notice.id).await?;
            let round_of = |start: DateTime<Utc>| (start > published_at).then(|| start.timestamp_micros());
            // After its escalation a round is not reminded again.
            let late = late_starts(&self.db, notice.id).await?;
            if escalated.contains(&None) && late.values().all(|s| escalated.contains(&round_of(*s))) {
                continue;
            }
            let pending = pending_sales(&self.db, notice.id, Chased::HoldingUp(published_at)).await?;
            // Most notices are acknowledged by everyone long before their
            // week is out: nothing more to ask of them, then.
            if pending.is_empty() {
                continue;
            }
            // Read again after them: a hand-over committed in between (its
            // e-mail row and its drafts in one transaction) has its start here,
            // so whoever is pending through it is on their own round.
            let late = late_starts(&self.db, notice.id).await?;
            let start_of =
                |user: &users::Model| late.get(&user.id).copied().filter(|s| *s > published_at).unwrap_or(published_at);
            let chased: Vec<Chase<'_>> = pending
                .iter()
                .filter_map(|user| {
                    let start = start_of(user);
                    let round = round_of(start);
                    let due = schedule
                        .iter()
                        .take_while(|d| start.checked_add_signed(chrono_of(d)).is_some_and(|t| t <= now))
                        .count();
                    let due_at = start.checked_add_signed(chrono_of(&schedule[due.checked_sub(1)?])).unwrap_or(now);
                    (!escalated.contains(&round)).then_some(Chase { user, round, due, due_at })
                })
                .collect();
            let Some(since) = chased.iter().map(|c| c.due_at).min() else { continue };
            // Whoever has had a reminder about this notice since the latest
            // due one's time came (on the schedule or finance's) has it. By
            // time, not by number: after the schedule changes (a restart with
            // other PRICEGATE_REMINDERS), a reminder whose time has come
            // under the new schedule still goes, and none goes twice.
            let mailed = last_mailed_since(&self.db, notice.id, since).await?;
            let is_missing = |c: &Chase<'_>| mailed.get(&c.user.id).is_none_or(|at| *at < c.due_at);
            // A reminder waits for the e-mail before it, for at most a step
            // of the schedule past its time (someone whose mail keeps being
            // refused is reminded, and escalated, in the end): none is
            // queued behind one about the notice not sent yet (the SMTP
            // server down: it would arrive on its heels), nor sooner than
            // half the schedule's step to it after one that was held up on
            // its way (sent over a minute after it was queued: the notice
            // itself, after an outage).
            let step = |due: usize| {
                let before = due.checked_sub(2).map_or(std::time::Duration::ZERO, |i| schedule[i]);
                chrono_of(&schedule[due - 1].saturating_sub(before))
            };
            let may_wait = |c: &Chase<'_>| c.due_at.checked_add_signed(step(c.due)).is_some_and(|end| now < end);
            let may_hold_back = chased.iter().any(|c| is_missing(c) && may_wait(c));
            let had_last = |c: &Chase<'_>| c.due == schedule.len() && !is_missing(c);
            let unsent = match chased.iter().any(|c| is_missing(c) || had_last(c)) {
                true => unsent_to(&self.db, notice.id).await?,
                false => HashSet::new(),
            };
            let sent_late_to = match may_hold_back || chased.iter().any(had_last) {
                true => {
                    let recent = now.checked_sub_signed(last / 2).unwrap_or(DateTime::<Utc>::MIN_UTC);
                    sent_late(&self.db, notice.id, recent).await?
                }
                false => HashMap::new(),
            };
            let waits = |c: &Chase<'_>| {
                may_wait(c)
                    && (unsent.contains(&c.user.id)
                        || sent_late_to.get(&c.user.id).is_some_and(|(at, _, _)| {
                            at.checked_add_signed(step(c.due) / 2).is_none_or(|next| now < next)
                        }))
            };
            let missing: Vec<&Chase<'_>> = chased.iter().filter(|c| is_missing(c) && !waits(c)).collect();
            // A reminder queued while an e-mail about the notice to its
            // person is still to go (the notice itself, or the publication's
            // e-mails still being written) is marked as waiting behind it
            // from the start: should that one go before the reminder is
            // first claimed, the claim still sees the reminder was overtaken
            // (see `moot::overtaken_reminders`).
            let fanning = match missing.is_empty() {
                true => false,
                false => super::fanout::fanning_out(&self.db, [notice.id]).await?.contains(&notice.id),
            };
            // A round is escalated once every one of its people still
            // pending has had the last reminder, and it has left: sent,
            // failed for good or set aside (finance hears after the
            // salespeople, never before them, as after an SMTP outage,
            // when the escalation, tried afresh, would go first), or on its
            // way for a step of the schedule (their mail keeps being refused,
            // which finance must hear of too). Someone whose mail about the
            // notice reached them late, after their last reminder fell due
            // (held up on its way, the SMTP server down; or the notice itself,
            // written only as a worker came back from a stop) has half a step
            // to acknowledge first, as a reminder would wait; the last
            // reminder itself, a few minutes late (a mailbox that asked to
            // try again), holds nothing up.
            let has_left = |c: &Chase<'_>| match unsent.contains(&c.user.id) {
                true => mailed
                    .get(&c.user.id)
                    .is_some_and(|at| at.checked_add_signed(step(c.due)).is_none_or(|end| end <= now)),
                false => sent_late_to.get(&c.user.id).is_none_or(|(at, queued, reminder)| {
                    (*reminder && *queued >= c.due_at)
                        || at.checked_add_signed(step(c.due) / 2).is_none_or(|end| end <= now)
                }),
            };
            let mut rounds: BTreeMap<Round, (bool, Vec<&users::Model>)> = BTreeMap::new();
            for c in &chased {
                let (complete, people) = rounds.entry(c.round).or_insert((true, vec![]));
                *complete &= had_last(c) && has_left(c);
                people.push(c.user);
            }
            rounds.retain(|_, (complete, _)| *complete);
            if missing.is_empty() && rounds.is_empty() {
                continue;
            }

            let behind = missing.iter().map(|c| c.user.id).filter(|id| fanning || unsent.contains(id)).collect();
            let rounds = rounds.into_iter().map(|(round, (_, people))| (round, people)).collect();
            let due = Due { missing, behind, rounds };
            total += self.write_chases(&setup, &notice, schedule, now, &pending, due).await?;
        }
        Ok(total)
    }

    /// The published notices whose reminders may be due: published before
    /// `horizon` (the schedule's first delay ago), and after `settled` or
    /// with a late round (someone told of it later) started after it.
    async fn notices_to_chase(
        &self,
        horizon: DateTime<Utc>,
        settled: DateTime<Utc>,
    ) -> Result<Vec<notices::Model>, StoreError> {
        let with_late_round = sea_orm::sea_query::Query::select()
            .column(outbox::Column::NoticeId)
            .from(outbox::Entity)
            .and_where(outbox::Column::RemindersFrom.gt(settled))
            .to_owned();
        Ok(notices::Entity::find()
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notices::Column::PublishedAt.lte(horizon))
            .filter(
                sea_orm::Condition::any()
                    .add(notices::Column::PublishedAt.gt(settled))
                    .add(notices::Column::Id.in_subquery(with_late_round)),
            )
            .order_by_asc(notices::Column::Seq)
            .all(&self.db)
            .await?)
    }

    /// Writes what is `due` about `notice` as of `now`: its reminders, and
    /// its escalations to finance; `pending`, everyone it holds up who has
    /// not acknowledged it. Returns how many rows were written.
    async fn write_chases(
        &self,
        setup: &MailSetup,
        notice: &notices::Model,
        schedule: &[std::time::Duration],
        now: DateTime<Utc>,
        pending: &[users::Model],
        Due { missing, behind, rounds }: Due<'_>,
    ) -> Result<usize, StoreError> {
        // Read and composed before the write transaction, which only
        // inserts: on SQLite it excludes every other writer while open,
        // and thousands of letters take a while to compose. A row whose
        // dedupe key another worker wrote meanwhile is skipped, and one
        // to someone who has acknowledged meanwhile is set aside unsent.
        let content = notice_content(&self.db, notice, self.calendar).await?;
        let mut blocked =
            blocked_quotes(&self.db, &setup.base_url, &content, ids_if_few(pending).as_deref(), self.calendar, now)
                .await?;
        let mut batch = Batch::new(setup, now);
        let awaiting_url = awaiting_page(setup);
        for chase in missing {
            let to = recipient(chase.user);
            let quotes = blocked.get(&chase.user.id).cloned().unwrap_or_default();
            let ack_url = batch.ack_link();
            let letter = Letter::Reminder {
                notice: &content,
                to: &to,
                quotes: &quotes,
                ack_url: &ack_url,
                awaiting_url: &awaiting_url,
                number: chase.due,
                of: schedule.len(),
            };
            let delay = schedule[chase.due - 1].as_millis();
            let which = match chase.round {
                None => format!("after-{delay}ms"),
                // Someone on a round of their own may have had the
                // publication round's reminders, before drafts it held up left them.
                Some(start) => format!("after-{delay}ms-from-{start}"),
            };
            batch.push(REMINDER, reminder_key(notice.id, chase.user.id, which), &to, &letter)?;
            if behind.contains(&chase.user.id) {
                batch.mark_waiting_behind();
            }
        }
        let escalate_to = if rounds.is_empty() { vec![] } else { active_with_role(&self.db, Role::Finance).await? };
        let dashboard_url = format!("{}/notices/{}/dashboard", setup.base_url, notice.id);
        let stranded = match rounds.is_empty() {
            true => Vec::new(),
            false => self.stranded_signers(notice.id, &content, setup, now).await?,
        };
        for (round, people) in rounds {
            let people: Vec<PendingPerson> = people
                .into_iter()
                .map(|u| PendingPerson {
                    name: u.name.clone(),
                    email: u.email.clone(),
                    quotes: blocked.remove(&u.id).unwrap_or_default(),
                })
                .collect();
            for finance in &escalate_to {
                let to = recipient(finance);
                let letter = Letter::Escalation {
                    notice: &content,
                    to: &to,
                    pending: &people,
                    stranded: &stranded,
                    told_later: round.is_some(),
                    dashboard_url: &dashboard_url,
                };
                batch.push(ESCALATION, escalation_key(notice.id, finance.id, round), &to, &letter)?;
            }
        }
        let txn = self.begin_write().await?;
        let written = batch.write(&txn).await?;
        txn.commit().await?;
        Ok(written)
    }

    /// Notes a tick of the reminder worker at `now` in its one row of
    /// `reminder_sweeps`, and says from when notices are to be looked at as
    /// if just published, while a stop of the workers is still being caught
    /// up on: for `window` after the first tick that followed it. A stop is a
    /// gap between ticks of over `stop_after`, logged. What a notice still has
    /// to do is counted in the time workers ran since its publication, so a
    /// stop while an earlier one is still being caught up on moves the
    /// earlier one's start on by how long they ran in between: each stop
    /// keeps the notices still within a window of running time, never every
    /// one since the first. The row is written at most once a minute, and
    /// only if no other worker wrote it since it was read (workers ticking at
    /// once write alike); one a clock jump left in the future is set right.
    async fn note_tick(
        &self,
        now: DateTime<Utc>,
        window: chrono::Duration,
        stop_after: chrono::Duration,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        use sea_orm::sea_query::OnConflict;
        let Some(row) = reminder_sweeps::Entity::find_by_id(SWEEP_ROW).one(&self.db).await? else {
            let first = reminder_sweeps::ActiveModel {
                id: Set(SWEEP_ROW),
                last_at: Set(now),
                stopped_at: Set(None),
                resumed_at: Set(None),
            };
            reminder_sweeps::Entity::insert(first)
                .on_conflict(OnConflict::column(reminder_sweeps::Column::Id).do_nothing().to_owned())
                .exec_without_returning(&self.db)
                .await?;
            return Ok(None);
        };
        let minute = chrono::Duration::minutes(1);
        // Ticked in the future: the clock had jumped ahead, and is back.
        let from_the_future = row.last_at.checked_sub_signed(minute).is_some_and(|at| at > now);
        let (stopped_at, resumed_at) = match (row.stopped_at, row.resumed_at) {
            (Some(stopped), Some(resumed))
                if resumed <= now && resumed.checked_add_signed(window).is_none_or(|end| now < end) =>
            {
                (Some(stopped), Some(resumed))
            }
            _ => (None, None),
        };
        let stopped = now.signed_duration_since(row.last_at) > stop_after;
        let (stopped_at, resumed_at) = match (stopped, stopped_at, resumed_at) {
            (true, Some(earlier), Some(resumed)) => {
                let ran = row.last_at.signed_duration_since(resumed).max(chrono::Duration::zero());
                (Some(earlier.checked_add_signed(ran).unwrap_or(row.last_at).min(row.last_at)), Some(now))
            }
            (true, _, _) => (Some(row.last_at), Some(now)),
            (false, stopped_at, resumed_at) => (stopped_at, resumed_at),
        };
        if stopped {
            tracing::warn!(
                last_tick = %row.last_at,
                looked_at_from = ?stopped_at.and_then(|from| from.checked_sub_signed(window)),
                "no reminder worker ran since its last tick: the notices published within a window before then \
                 are looked at again, their latest reminders due and escalations queued now"
            );
        }
        if now.signed_duration_since(row.last_at) >= minute || from_the_future {
            reminder_sweeps::Entity::update_many()
                .set(reminder_sweeps::ActiveModel {
                    last_at: Set(now),
                    stopped_at: Set(stopped_at),
                    resumed_at: Set(resumed_at),
                    ..Default::default()
                })
                .filter(reminder_sweeps::Column::Id.eq(SWEEP_ROW))
                .filter(reminder_sweeps::Column::LastAt.eq(row.last_at))
                .exec(&self.db)
                .await?;
        }
        Ok(stopped_at)
    }

    /// The signers who can no longer sign (deactivated, or out of sales) of
    /// drafts `notice_id` holds up, each with those drafts and why in their
    /// name, by name: what the notice's dashboard shows as held up with
    /// nobody to sign, for its escalation to say too.
    async fn stranded_signers(
        &self,
        notice_id: Uuid,
        content: &super::NoticeContent,
        setup: &crate::MailSetup,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingPerson>, StoreError> {
        let signers: Vec<Uuid> = self.quotes_waiting_on(notice_id).await?.iter().map(|q| q.signer_id).collect();
        let mut gone: Vec<crate::views::UserView> =
            self.users_by_id(&signers).await?.into_values().filter(|u| !u.can_sign()).collect();
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        gone.sort_by_cached_key(|u| (crate::name_key(&u.name), u.email.clone()));
        let ids: Vec<Uuid> = gone.iter().map(|u| u.id).collect();
        let mut blocked = blocked_quotes(&self.db, &setup.base_url, content, Some(&ids), self.calendar, now).await?;
        Ok(gone
            .into_iter()
            .map(|u| {
                let why = if u.active { format!("now in {}", u.role) } else { "deactivated".to_owned() };
                PendingPerson {
                    name: format!("{} ({why})", u.name),
                    email: u.email,
                    quotes: blocked.remove(&u.id).unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Each person reminded of `notice_id` (by the schedule or by finance's
    /// "Remind now"): how many reminders were queued for them, and when the
    /// last was. One that failed or was set aside reminded nobody, and is
    /// not counted (the dashboard says when no e-mail reached someone).
    pub async fn reminders_of(&self, notice_id: Uuid) -> Result<HashMap<Uuid, (u64, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(Option<Uuid>, i64, DateTime<Utc>)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::UserId)
            .column_as(outbox::Column::Id.count(), "reminders")
            .column_as(outbox::Column::CreatedAt.max(), "last")
            .filter(outbox::Column::NoticeId.eq(notice_id))
            .filter(outbox::Column::Kind.eq(REMINDER))
            .filter(super::not_given_up())
            .group_by(outbox::Column::UserId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(user, count, last)| Some((user?, (u64::try_from(count).unwrap_or_default(), last))))
            .collect())
    }

    /// Everyone an e-mail about `notice_id` (its publication, or a
    /// reminder) reached, with the addresses those e-mails were sent to,
    /// each once, in the order first sent: where a person was told of it,
    /// whatever their address is now. Someone whose e-mails are all still to
    /// go, failed or were set aside (deactivated before they went) is not
    /// among them: they were not told.
    pub async fn mailed_about(&self, notice_id: Uuid) -> Result<HashMap<Uuid, Vec<String>>, StoreError> {
        let rows: Vec<(Option<Uuid>, String, Option<DateTime<Utc>>)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::UserId)
            .column(outbox::Column::ToAddr)
            .column_as(outbox::Column::SentAt.min(), "first_sent")
            .filter(outbox::Column::NoticeId.eq(notice_id))
            .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
            .filter(outbox::Column::SentAt.is_not_null())
            .group_by(outbox::Column::UserId)
            .group_by(outbox::Column::ToAddr)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut sent: Vec<(Uuid, DateTime<Utc>, String)> =
            rows.into_iter().filter_map(|(user, address, first_sent)| Some((user?, first_sent?, address))).collect();
        sent.sort();
        let mut mailed: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (user, _, address) in sent {
            mailed.entry(user).or_default().push(address);
        }
        Ok(mailed)
    }

    /// Those whom no e-mail about `notice_id` (its publication, a reminder)
    /// has reached though one was tried, each with the latest one tried:
    /// refused or given up on, or deferred and still to go. Someone whose
    /// e-mail has not been tried yet is not among them, nor someone one of
    /// whose e-mails about it was sent.
    pub async fn undelivered_about(&self, notice_id: Uuid) -> Result<HashMap<Uuid, Undelivered>, StoreError> {
        let sent = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::UserId)
            .filter(outbox::Column::NoticeId.eq(notice_id))
            .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
            .filter(super::reached(outbox::Entity))
            .filter(outbox::Column::UserId.is_not_null());
        let sent = sea_orm::QueryTrait::into_query(sent);
        let rows: Vec<Tried> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::UserId)
            .column(outbox::Column::State)
            .column(outbox::Column::Attempts)
            .column(outbox::Column::LastError)
            .column(outbox::Column::CreatedAt)
            .column(outbox::Column::NextAttemptAt)
            .filter(outbox::Column::NoticeId.eq(notice_id))
            .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
            .filter(tried_and_not_sent())
            .filter(outbox::Column::UserId.not_in_subquery(sent))
            .into_tuple()
            .all(&self.db)
            .await?;
        // The latest tried per person, by when it was queued.
        let latest =
            super::latest_per_person(rows.into_iter().map(|(user, state, attempts, error, queued_at, next)| {
                (user, (queued_at, state == FAILED, attempts, error, next))
            }));
        Ok(latest
            .into_iter()
            .map(|(user, (queued_at, failed, attempts, error, next))| {
                let next_try_at = (!failed).then_some(next);
                (user, Undelivered { failed, attempts, error, queued_at, next_try_at })
            })
            .collect())
    }

    /// The e-mails telling finance of `notice_id`'s salespeople still
    /// pending after the last scheduled reminder (one per colleague in
    /// finance and round), on their way or sent: how many, and when the last
    /// was queued; `None` when none was.
    pub async fn escalations_of(&self, notice_id: Uuid) -> Result<Option<(u64, DateTime<Utc>)>, StoreError> {
        let row: Option<(i64, Option<DateTime<Utc>>)> = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::Id.count(), "escalations")
            .column_as(outbox::Column::CreatedAt.max(), "last")
            .filter(outbox::Column::NoticeId.eq(notice_id))
            .filter(outbox::Column::Kind.eq(ESCALATION))
            .filter(super::not_given_up())
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(row.and_then(|(count, last)| Some((u64::try_from(count).ok().filter(|n| *n > 0)?, last?))))
    }

    /// A reminder now, to every salesperson the notice's dashboard lists as
    /// pending (finance's "remind them" button), except those mailed about it
    /// (its publication, or a reminder of the schedule's or a click's) within
    /// [`REMIND_NOW_AGAIN_AFTER_MINUTES`]: a click just after publishing, a
    /// second click, a colleague's click a minute later, or a click just after
    /// a scheduled reminder, mails nobody twice. (A click and a scheduled reminder queued in the same instant
    /// may both go: the worker's tick does not wait for the click.) With
    /// `only`, that salesperson alone, by the same rule; one the notice no
    /// longer waits for (they acknowledged it meanwhile, say) is refused
    /// with 409 `not_pending`.
    pub async fn remind_now(&self, actor: &Actor, notice_id: Uuid, only: Option<Uuid>) -> Result<Reminded, StoreError> {
        let setup = self.mail_setup()?;
        // Composed before the write transaction, to everyone pending and not
        // mailed about the notice lately, on a blocking thread: templates are
        // CPU work, and on SQLite a write transaction excludes every other
        // writer (finalisations too) for as long as it is open. The
        // transaction then writes those still due, and composes for anyone
        // due since (few). The notice does not change once published; the
        // drafts each letter lists are as they were a moment before.
        let notice =
            notices::Entity::find_by_id(notice_id).one(&self.db).await?.ok_or(StoreError::not_found("notice"))?;
        if notice.state != PUBLISHED {
            return Err(StoreError::conflict("notice_not_published", "Only a published notice can be reminded of."));
        }
        let published_at = notice.published_at.unwrap_or(notice.created_at);
        let content = Arc::new(notice_content(&self.db, &notice, self.calendar).await?);
        let composed_at = db_now(&self.db).await?;
        let mut pending = pending_sales(&self.db, notice_id, Chased::Asked(published_at)).await?;
        pending.retain(|u| only.is_none_or(|only| u.id == only));
        let mailed = recently_mailed(&self.db, notice_id, published_at, &pending, composed_at).await?;
        pending.retain(|u| !mailed.contains_key(&u.id));
        let mut rows = self.reminders_now(&self.db, &setup, &content, pending, composed_at).await?;

        let txn = self.begin_write().await?;
        // The notice's row lock puts two clicks at once one after the other,
        // so the second sees the first's reminders.
        notices::Entity::find_by_id(notice_id).lock_exclusive().one(&txn).await?;
        let now = db_now(&txn).await?;
        let mut pending = pending_sales(&txn, notice_id, Chased::Asked(published_at)).await?;
        if let Some(only) = only {
            pending.retain(|u| u.id == only);
            if pending.is_empty() {
                return Err(StoreError::conflict(
                    "not_pending",
                    "This notice waits for no acknowledgement from that person: they acknowledged it already, or \
                     are not an active salesperson it was published to. Nobody was reminded.",
                ));
            }
        }
        let just_reminded = recently_mailed(&txn, notice_id, published_at, &pending, now).await?;
        // Someone whose e-mail about it the mail server deferred is left out
        // too, however long ago it was queued: a reminder would only wait
        // behind it, and be set aside once it went.
        let waiting = unsent_tries(&txn, notice_id).await?;
        let deferred: HashSet<Uuid> = waiting.iter().filter(|(_, failed)| *failed).map(|(user, _)| *user).collect();
        let (due, skipped): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|u| !just_reminded.contains_key(&u.id) && !deferred.contains(&u.id));
        let again_from = skipped
            .iter()
            .filter_map(|u| just_reminded.get(&u.id))
            .max()
            .map(|latest| *latest + chrono::Duration::minutes(REMIND_NOW_AGAIN_AFTER_MINUTES));
        let composed: HashSet<Uuid> = rows.iter().filter_map(addressee).collect();
        let late: Vec<users::Model> = due.iter().filter(|u| !composed.contains(&u.id)).cloned().collect();
        if !late.is_empty() {
            rows.extend(self.reminders_now(&txn, &setup, &content, late, now).await?);
        }
        let due: HashSet<Uuid> = due.iter().map(|u| u.id).collect();
        rows.retain(|row| addressee(row).is_some_and(|user| due.contains(&user)));
        // Behind an e-mail about the notice still unsent (mail down for
        // longer than the ten minutes that leave someone out), or while the
        // publication's are being written, marked so as scheduled reminders
        // are: should that e-mail go first, this one is set aside rather
        // than follow it on its heels.
        let unsent: HashSet<Uuid> = waiting.iter().map(|(user, _)| *user).collect();
        let fanning = super::fanout::fanning_out(&txn, [notice_id]).await?.contains(&notice_id);
        let mail_deferred = skipped.iter().filter(|u| deferred.contains(&u.id)).count();
        for row in &mut rows {
            row.created_at = Set(now);
            row.next_attempt_at = Set(now);
            if fanning || addressee(row).is_some_and(|user| unsent.contains(&user)) {
                super::waiting_behind(row);
            }
        }
        let batch = Batch { rows, ..Batch::new(&setup, now) };
        let count = batch.write(&txn).await?;
        crate::audit::record(
            &txn,
            crate::AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "notice.reminded",
                subject_type: "notice",
                subject_id: Some(notice_id),
                detail: match only {
                    None => serde_json::json!({ "queued": count, "recently_reminded": skipped.len() }),
                    Some(user) => {
                        serde_json::json!({ "queued": count, "recently_reminded": skipped.len(), "user_id": user })
                    }
                },
            },
        )
        .await?;
        txn.commit().await?;
        Ok(Reminded { queued: count, recently_reminded: skipped.len(), again_from, mail_deferred })
    }

    /// Finance's reminders now of `content` to `people`, each with the drafts
    /// it holds up that they sign, composed on a blocking thread.
    async fn reminders_now(
        &self,
        conn: &impl ConnectionTrait,
        setup: &Arc<MailSetup>,
        content: &Arc<NoticeContent>,
        people: Vec<users::Model>,
        now: DateTime<Utc>,
    ) -> Result<Vec<outbox::ActiveModel>, StoreError> {
        let mut blocked =
            blocked_quotes(conn, &setup.base_url, content, ids_if_few(&people).as_deref(), self.calendar, now).await?;
        let (setup, content) = (setup.clone(), content.clone());
        tokio::task::spawn_blocking(move || {
            let mut batch = Batch::new(&setup, now);
            let (ack_url, awaiting_url) = (batch.ack_link(), awaiting_page(&setup));
            let stamp = now.timestamp_micros();
            for user in &people {
                let to = recipient(user);
                let quotes = blocked.remove(&user.id).unwrap_or_default();
                let letter = Letter::Reminder {
                    notice: &content,
                    to: &to,
                    quotes: &quotes,
                    ack_url: &ack_url,
                    awaiting_url: &awaiting_url,
                    number: 0,
                    of: 0,
                };
                batch.push(REMINDER, reminder_key(content.id, user.id, format!("now-{stamp}")), &to, &letter)?;
            }
            debug_assert!(batch.letters.is_empty(), "a reminder tells nobody whether they sign a draft");
            Ok(batch.rows)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("composing mail on a blocking thread failed: {e}")))?
    }
}
