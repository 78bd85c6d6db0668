//! A salesperson who takes over drafts (a hand-over, or a draft's signer
//! changed), or who can sign again (reactivated, or back in sales), is told
//! of the notices that hold up their drafts, as if they had been there when
//! each was published.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::fanout::fanning_out;
use super::reminders::{escalated_rounds, had_last_reminder, late_starts};
use super::{Batch, Letter, PUBLICATION, Told, blocked_quotes, notice_content, publication_key, recipient};
use crate::entity::{acknowledgements, notices, outbox, quotes, users};
use crate::notices::PUBLISHED;
use crate::quotes::DRAFT;
use crate::{Store, StoreError};

/// The key of the e-mail to someone mailed a notice at its publication,
/// when nothing of theirs waited on it then, who has since taken over
/// drafts it holds up: one such e-mail per person and notice.
fn taken_over_key(notice_id: Uuid, user_id: Uuid) -> String {
    format!("{}:taken-over", publication_key(notice_id, user_id))
}

/// The key of the e-mail to someone mailed a notice before, whose schedule
/// of reminders ended while they could not sign, or whose e-mail about it
/// was set aside then, on being able to again: one each time they come back.
fn back_key(notice_id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> String {
    format!("{}:back-{}", publication_key(notice_id, user_id), now.timestamp_micros())
}

impl Store {
    /// Queues, in the caller's transaction, an e-mail about every published
    /// notice that holds up one of `signer`'s drafts and that they have not
    /// acknowledged, each with the drafts it holds up and an ack link, to
    /// whoever was not being chased for it before taking over `taken_over`
    /// (the drafts just made theirs; with [`Told::Returned`], someone who
    /// could not sign until now, only the notices never mailed to them, those
    /// published while they could not sign, are mailed):
    /// - someone never mailed it (they joined after its publication) is
    ///   mailed it now;
    /// - someone mailed it at its publication, when nothing of theirs waited
    ///   on it (so no reminder followed), is mailed it again, once, as
    ///   someone who now signs drafts it holds up.
    ///
    /// Either way their reminders then follow the schedule counted from now,
    /// and the escalation after the last names them (see
    /// `Store::enqueue_due_reminders`); but while the publication's own
    /// e-mails are still being written, they are told as at the publication,
    /// and chased with everyone told then. Someone already held up by it through
    /// drafts of their own is on its schedule already, and is not mailed.
    pub(crate) async fn tell_new_signer(
        &self,
        conn: &impl ConnectionTrait,
        signer: Uuid,
        taken_over: &[Uuid],
        told: Told,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(0) };
        let Some(user) = users::Entity::find_by_id(signer).one(conn).await? else { return Ok(0) };
        let drafts: Vec<(Uuid, DateTime<Utc>)> = quotes::Entity::find()
            .select_only()
            .column(quotes::Column::Id)
            .column(quotes::Column::DraftedAt)
            .filter(quotes::Column::SignerId.eq(signer))
            .filter(quotes::Column::State.eq(DRAFT))
            .into_tuple()
            .all(conn)
            .await?;
        let Some(earliest) = drafts.iter().map(|(_, at)| *at).min() else { return Ok(0) };
        // The earliest of the drafts they signed before: a notice published
        // after it held them up already.
        let earliest_before = drafts.iter().filter(|(id, _)| !taken_over.contains(id)).map(|(_, at)| *at).min();
        let acknowledged = acknowledgements::Entity::find()
            .select_only()
            .column(acknowledgements::Column::NoticeId)
            .filter(acknowledgements::Column::UserId.eq(signer))
            .filter(acknowledgements::Column::NoticePublishedAt.gt(earliest))
            .into_tuple::<Uuid>()
            .all(conn)
            .await?;
        let later = notices::Entity::find()
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notices::Column::PublishedAt.gt(earliest))
            .order_by_asc(notices::Column::Seq)
            .all(conn)
            .await?;
        // Each notice they were mailed: whether on a schedule of their own
        // (told late). One whose e-mail to them was set aside (they were
        // deactivated before it went) did not reach them: not mailed. Read
        // under a lock a claim's conflicts with: a worker setting one aside
        // at this moment (having read them deactivated) holds it until that
        // is written, and it is read set aside then, not left to be set
        // aside unsaid. (A claim locks no user, so it never waits on the
        // caller's.) The weakest such lock, `FOR KEY SHARE`: the worker's
        // statements that mark a batch sent, and a correction of the
        // person's address, change no key, so they neither wait for it nor
        // it for them; with a stronger one each could hold a row of the
        // person's the other waits for while waiting for one the other holds.
        let mut set_aside: HashSet<Uuid> = HashSet::new();
        let mailed: HashMap<Uuid, bool> = outbox::Entity::find()
            .lock(LockType::KeyShare)
            .select_only()
            .column(outbox::Column::NoticeId)
            .column(outbox::Column::RemindersFrom)
            .column(outbox::Column::State)
            .filter(outbox::Column::UserId.eq(signer))
            .filter(outbox::Column::Kind.eq(PUBLICATION))
            .filter(outbox::Column::NoticeId.is_in(later.iter().map(|n| n.id)))
            .into_tuple::<(Option<Uuid>, Option<DateTime<Utc>>, String)>()
            .all(conn)
            .await?
            .into_iter()
            .filter_map(|(notice, from, state)| {
                let notice = notice?;
                if state == super::SKIPPED {
                    set_aside.insert(notice);
                    return None;
                }
                Some((notice, from.is_some()))
            })
            .fold(HashMap::new(), |mut mailed, (notice, late)| {
                *mailed.entry(notice).or_default() |= late;
                mailed
            });
        // Publications whose e-mails are still being written: someone told
        // of one now is told as at its publication, on its schedule.
        let fanning_out = fanning_out(conn, later.iter().map(|n| n.id)).await?;
        let to = recipient(&user);
        let mut batch = Batch::new(&setup, now);
        for notice in later.iter().filter(|n| !acknowledged.contains(&n.id)) {
            let mut told = told;
            let key = match mailed.get(&notice.id) {
                // Its e-mail was set aside while they could not sign (the
                // key it had is taken): told now, under a key of its own.
                None if set_aside.contains(&notice.id) => {
                    told = Told::Missed;
                    back_key(notice.id, signer, now)
                }
                None => publication_key(notice.id, signer),
                // Back, they were mailed it before (at its publication, or
                // on taking over drafts): they are on its schedule already,
                // unless it ended (escalated to finance) without them, its
                // last reminder due while they could not sign. Then they
                // are told again, on a schedule from now.
                Some(&late) if told == Told::Returned => {
                    let published_at = notice.published_at.unwrap_or(notice.created_at);
                    let start = match late {
                        true => late_starts(conn, notice.id).await?.get(&signer).copied(),
                        false => None,
                    }
                    .filter(|start| *start > published_at);
                    let round = start.map(|start| start.timestamp_micros());
                    if !escalated_rounds(conn, notice.id).await?.contains(&round)
                        || had_last_reminder(conn, notice.id, signer, round, start.unwrap_or(published_at)).await?
                    {
                        continue;
                    }
                    told = Told::Back;
                    back_key(notice.id, signer, now)
                }
                Some(false) => {
                    let published_at = notice.published_at.unwrap_or(notice.created_at);
                    if earliest_before.is_some_and(|at| at < published_at) {
                        continue;
                    }
                    taken_over_key(notice.id, signer)
                }
                Some(true) => continue,
            };
            let content = notice_content(conn, notice, self.calendar).await?;
            let blocked = blocked_quotes(conn, &setup.base_url, &content, Some(&[signer]), self.calendar, now).await?;
            let Some(quotes) = blocked.get(&signer) else { continue };
            batch.reminders_from = (!fanning_out.contains(&notice.id)).then_some(now);
            let ack_url = batch.ack_link();
            let letter = Letter::Publication { notice: &content, to: &to, quotes, ack_url: &ack_url, told };
            batch.push(PUBLICATION, key, &to, &letter)?;
        }
        batch.write(conn).await
    }
}
