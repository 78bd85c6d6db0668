//! Queued mail that no longer needs to go out when its turn comes: to
//! someone deactivated since, a notice's letter to someone who has
//! acknowledged it since, a signer's to someone who no longer signs the
//! draft, an approval's about a draft closed or handed on since, a request
//! for approval that finance has answered or need no longer answer, or a
//! reminder overtaken by an e-mail about its notice held up behind an outage.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::signer_named::{NO_LONGER_SIGNER, moot_signer_mail};
use super::{PUBLICATION, REMINDER, WAITING_BEHIND};
use crate::StoreError;
use crate::entity::{acknowledgements, approval_requests, outbox, quotes, users};

/// The (notice, user) a publication, reminder or escalation is about and
/// for. A row written by a process from before the outbox named them (one
/// still running beside newer ones on PostgreSQL, say) has them only in its
/// dedupe key: `publish:<notice>:<user>`, `remind:<notice>:<user>:…`,
/// `escalate:<notice>:<user>`.
pub(super) fn subjects(row: &outbox::Model) -> Option<(Uuid, Uuid)> {
    if let (Some(notice), Some(user)) = (row.notice_id, row.user_id) {
        return Some((notice, user));
    }
    let mut parts = row.dedupe_key.split(':');
    if !matches!(parts.next()?, "publish" | "remind" | "escalate") {
        return None;
    }
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The (notice, user) whose ack link a row carries: publications and
/// reminders carry one; an escalation to finance does not, nor does any
/// other mail.
pub(super) fn ack_target(row: &outbox::Model) -> Option<(Uuid, Uuid)> {
    if row.kind != PUBLICATION && row.kind != REMINDER {
        return None;
    }
    subjects(row)
}

/// Why a queued letter is no longer sent: its recipient was deactivated.
const RECIPIENT_DEACTIVATED: &str = "Not sent: the recipient's account was deactivated before it went out.";
/// Why a queued approval e-mail (or one declining a request for approval)
/// is no longer sent.
const APPROVAL_MOOT: &str = "Not sent: before this e-mail about its approval went out, the quote was finalised or \
    cancelled, or its recipient no longer signed or owned it.";

/// Of the quotes `ids`, the drafts, each with its signer and its owner.
async fn drafts_among(
    conn: &impl ConnectionTrait,
    ids: HashSet<Uuid>,
) -> Result<HashMap<Uuid, (Uuid, Uuid)>, StoreError> {
    Ok(quotes::Entity::find()
        .select_only()
        .columns([quotes::Column::Id, quotes::Column::SignerId, quotes::Column::OwnerId])
        .filter(quotes::Column::Id.is_in(ids))
        .filter(quotes::Column::State.eq(crate::quotes::DRAFT))
        .into_tuple::<(Uuid, Uuid, Uuid)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(id, signer, owner)| (id, (signer, owner)))
        .collect())
}

/// The approval e-mails among `rows` whose quote is no longer a draft, or
/// whose recipient is no longer its signer or its owner.
async fn moot_approvals(conn: &impl ConnectionTrait, rows: &[outbox::Model]) -> Result<Vec<Uuid>, StoreError> {
    let approvals: Vec<(Uuid, Uuid, Uuid)> = rows
        .iter()
        .filter_map(|row| {
            let quote = match row.kind.as_str() {
                super::APPROVAL => super::approved::approved_quote(row)?,
                super::APPROVAL_DECLINED => super::approval_asked::declined_quote(row)?,
                _ => return None,
            };
            Some((row.id, quote, row.user_id?))
        })
        .collect();
    if approvals.is_empty() {
        return Ok(Vec::new());
    }
    let ids: HashSet<Uuid> = approvals.iter().map(|(_, quote, _)| *quote).collect();
    let drafts = drafts_among(conn, ids).await?;
    Ok(approvals
        .into_iter()
        .filter(|(_, quote, to)| !drafts.get(quote).is_some_and(|(signer, owner)| to == signer || to == owner))
        .map(|(row, _, _)| row)
        .collect())
}

/// Why a queued request for approval is no longer sent.
const APPROVAL_ASK_MOOT: &str = "Not sent: before this request for approval went out, it was approved or declined, \
    the quote was repriced, edited, finalised or cancelled, the salesperson asked again about other lines, or its \
    recipient left finance or came to own or sign the quote.";

/// The requests for approval among `rows` that nobody need answer now: the
/// request has ended (approved, declined, repriced, its lines edited, asked
/// again in its place), the quote is no longer a draft, or the recipient is
/// no longer in finance or now owns or signs it.
async fn moot_approval_asks(conn: &impl ConnectionTrait, rows: &[outbox::Model]) -> Result<Vec<Uuid>, StoreError> {
    let asks: Vec<(Uuid, (Uuid, Uuid), Uuid)> = rows
        .iter()
        .filter(|row| row.kind == super::APPROVAL_ASKED)
        .filter_map(|row| Some((row.id, super::approval_asked::asked_about(row)?, row.user_id?)))
        .collect();
    if asks.is_empty() {
        return Ok(Vec::new());
    }
    let ids: HashSet<Uuid> = asks.iter().map(|(_, (quote, _), _)| *quote).collect();
    let requests: HashSet<Uuid> = asks.iter().map(|(_, (_, request), _)| *request).collect();
    let people: HashSet<Uuid> = asks.iter().map(|(_, _, to)| *to).collect();
    let drafts = drafts_among(conn, ids).await?;
    let open: HashSet<Uuid> = approval_requests::Entity::find()
        .select_only()
        .column(approval_requests::Column::Id)
        .filter(approval_requests::Column::Id.is_in(requests))
        .filter(approval_requests::Column::EndedAt.is_null())
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let finance: HashSet<Uuid> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Id.is_in(people))
        .filter(users::Column::Role.eq(pricegate_domain::Role::Finance.as_str()))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    Ok(asks
        .into_iter()
        .filter(|(_, (quote, request), to)| {
            let may_approve = drafts.get(quote).is_some_and(|(signer, owner)| to != signer && to != owner);
            !open.contains(request) || !may_approve || !finance.contains(to)
        })
        .map(|(row, _, _)| row)
        .collect())
}

/// Why a queued letter is no longer sent: its notice was acknowledged.
const ALREADY_ACKNOWLEDGED: &str = "Not sent: the recipient acknowledged the notice before it went out.";

/// Why a reminder is no longer sent: an e-mail about its notice reached
/// its person after it was queued.
const OVERTAKEN: &str = "Not sent: an earlier e-mail about the notice, held up, reached them only after this \
     reminder was queued, which would have followed on its heels.";

/// The reminders among `rows` queued before an e-mail about the same notice
/// to the same person went (the notice itself, or an earlier reminder):
/// held up behind it (the SMTP server down for longer than a step of the
/// schedule), they would arrive on its heels, saying nothing it did not.
/// Only a reminder marked as waiting behind one ([`WAITING_BEHIND`]) can be:
/// a reminder is marked so when it is queued behind an unsent e-mail (see
/// `Store::enqueue_due_reminders`), or when a claim comes to it while one is
/// unsent, and keeps the mark until claimed to be sent; the others, the
/// whole of a wave of reminders, cost no read here.
async fn overtaken_reminders(conn: &impl ConnectionTrait, rows: &[outbox::Model]) -> Result<HashSet<Uuid>, StoreError> {
    let waiting = rows.iter().filter(|row| row.kind == REMINDER && row.last_error.as_deref() == Some(WAITING_BEHIND));
    Ok(reached_after(conn, waiting).await?.into_keys().collect())
}

/// Of `rows`, the publications and reminders an e-mail about the same
/// notice reached the same person after they were queued, each with when
/// the latest such e-mail was sent.
pub(super) async fn reached_after<'a>(
    conn: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = &'a outbox::Model>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let about: Vec<(&outbox::Model, (Uuid, Uuid))> = rows
        .into_iter()
        .filter(|row| row.kind == PUBLICATION || row.kind == REMINDER)
        .filter_map(|row| Some((row, subjects(row)?)))
        .collect();
    let Some(oldest) = about.iter().map(|(row, _)| row.created_at).min() else { return Ok(HashMap::new()) };
    let notices: HashSet<Uuid> = about.iter().map(|(_, (notice, _))| *notice).collect();
    let people: HashSet<Uuid> = about.iter().map(|(_, (_, user))| *user).collect();
    // Every column read is set in every row the filters keep.
    let sent: Vec<(Uuid, Uuid, DateTime<Utc>)> = outbox::Entity::find()
        .select_only()
        .columns([outbox::Column::NoticeId, outbox::Column::UserId, outbox::Column::SentAt])
        .filter(outbox::Column::NoticeId.is_in(notices))
        .filter(outbox::Column::UserId.is_in(people))
        .filter(outbox::Column::Kind.is_in([PUBLICATION, REMINDER]))
        .filter(super::reached(outbox::Entity))
        .filter(outbox::Column::SentAt.gt(oldest))
        .into_tuple()
        .all(conn)
        .await?;
    let latest = super::latest_per_person(sent.into_iter().map(|(notice, user, at)| (Some((notice, user)), at)));
    Ok(about
        .into_iter()
        .filter_map(|(row, subject)| Some((row.id, *latest.get(&subject).filter(|at| **at > row.created_at)?)))
        .collect())
}

/// The rows among `rows` that no longer need to go out, each with the
/// reason: a letter to someone deactivated since it was queued, and a
/// publication or reminder whose notice its recipient has acknowledged
/// since (after an SMTP outage, say, or when they read the notice in the
/// browser before the fan-out reached them), a reminder overtaken by an
/// e-mail about its notice held up behind it, and the e-mail naming a draft's
/// signer once that draft is closed or signed by someone else. An escalation goes out even if
/// everyone it names has acknowledged since: it is finance's record of who
/// was late.
pub(super) async fn find_moot(
    conn: &impl ConnectionTrait,
    rows: &[outbox::Model],
) -> Result<HashMap<Uuid, &'static str>, StoreError> {
    let recipient = |row: &outbox::Model| subjects(row).map(|(_, user)| user).or(row.user_id);
    let no_longer_signer: HashSet<Uuid> = moot_signer_mail(conn, rows).await?.into_iter().collect();
    let approval_moot: HashSet<Uuid> = moot_approvals(conn, rows).await?.into_iter().collect();
    let asks_moot: HashSet<Uuid> = moot_approval_asks(conn, rows).await?.into_iter().collect();
    let people: HashSet<Uuid> = rows.iter().filter_map(recipient).collect();
    if people.is_empty() {
        let signer = no_longer_signer.into_iter().map(|id| (id, NO_LONGER_SIGNER));
        let asks = asks_moot.into_iter().map(|id| (id, APPROVAL_ASK_MOOT));
        return Ok(signer.chain(approval_moot.into_iter().map(|id| (id, APPROVAL_MOOT))).chain(asks).collect());
    }
    let inactive: HashSet<Uuid> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Id.is_in(people))
        .filter(users::Column::Active.eq(false))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let overtaken = overtaken_reminders(conn, rows).await?;
    let linked: Vec<(Uuid, Uuid)> = rows.iter().filter_map(ack_target).collect();
    let acknowledged: HashSet<(Uuid, Uuid)> = if linked.is_empty() {
        HashSet::new()
    } else {
        let notices: HashSet<Uuid> = linked.iter().map(|(notice, _)| *notice).collect();
        let readers: HashSet<Uuid> = linked.iter().map(|(_, user)| *user).collect();
        acknowledgements::Entity::find()
            .select_only()
            .columns([acknowledgements::Column::NoticeId, acknowledgements::Column::UserId])
            .filter(acknowledgements::Column::NoticeId.is_in(notices))
            .filter(acknowledgements::Column::UserId.is_in(readers))
            .into_tuple::<(Uuid, Uuid)>()
            .all(conn)
            .await?
            .into_iter()
            .collect()
    };
    Ok(rows
        .iter()
        .filter_map(|row| {
            if recipient(row).is_some_and(|user| inactive.contains(&user)) {
                Some((row.id, RECIPIENT_DEACTIVATED))
            } else if no_longer_signer.contains(&row.id) {
                Some((row.id, NO_LONGER_SIGNER))
            } else if approval_moot.contains(&row.id) {
                Some((row.id, APPROVAL_MOOT))
            } else if asks_moot.contains(&row.id) {
                Some((row.id, APPROVAL_ASK_MOOT))
            } else if ack_target(row).is_some_and(|target| acknowledged.contains(&target)) {
                Some((row.id, ALREADY_ACKNOWLEDGED))
            } else if overtaken.contains(&row.id) {
                Some((row.id, OVERTAKEN))
            } else {
                None
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::ack_target;
    use crate::entity::outbox;

    #[test]
    fn publications_and_reminders_carry_their_readers_link_and_nothing_else_does() {
        let (n, u) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let row = |kind: &str| crate::outbox::tests::row(kind, String::new(), Some(n), Some(u));
        assert_eq!(ack_target(&row(crate::outbox::PUBLICATION)), Some((n, u)));
        assert_eq!(ack_target(&row(crate::outbox::REMINDER)), Some((n, u)));
        assert_eq!(ack_target(&row(crate::outbox::ESCALATION)), None, "finance gets no link to acknowledge for");
        assert_eq!(ack_target(&outbox::Model { notice_id: None, ..row(crate::outbox::REMINDER) }), None);
    }
}
