//! Finance is told when a salesperson asks it to approve keeping a draft's
//! old prices: each active colleague in finance who may approve it (not its
//! owner or signer) gets the request, with the lines and a link to the quote.
//! Asked again while it waits, those not e-mailed about it in the last ten
//! minutes are reminded. When finance declines it, the salespeople on the
//! draft are told why.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::reminders::REMIND_NOW_AGAIN_AFTER_MINUTES;
use super::signer_named::signed_quote;
use super::{APPROVAL_ASKED, APPROVAL_DECLINED, Batch, EarlierDecline, Letter, recipient};
use crate::entity::{approval_requests, outbox, quotes, users};
use crate::views::SupersededLineView;
use crate::{Actor, Store, StoreError};

const ASKED_KEY: &str = "approval-asked:";
const DECLINED_KEY: &str = "approval-declined:";

/// The quote a letter declining a request is about, from its key.
pub(super) fn declined_quote(row: &crate::entity::outbox::Model) -> Option<Uuid> {
    row.dedupe_key.strip_prefix(DECLINED_KEY)?.split(':').next()?.parse().ok()
}

/// The key of the e-mail telling `user` of request `request` about `quote`.
fn asked_key(quote: Uuid, request: Uuid, user: Uuid) -> String {
    format!("{ASKED_KEY}{quote}:{request}:{user}")
}

/// The Message-ID of the first e-mail asking `user` about `request`, which
/// reminders of it to them follow (see [`super::thread_of`]).
pub(super) fn approval_thread(request: Uuid, user: Uuid, domain: &str) -> String {
    format!("<approval.{}.{}@{domain}>", request.simple(), user.simple())
}

/// Whether an e-mail about a request reminds its reader, asked about it
/// before, rather than asks them: from its key.
pub(super) fn reminds(dedupe_key: &str) -> bool {
    dedupe_key.starts_with(ASKED_KEY) && dedupe_key.contains(REMINDS)
}

/// What a reminder's key adds to the key of the request's first e-mail, before its time.
const REMINDS: &str = ":again-";

/// What the key of an e-mail asking someone in finance about a request on
/// its reminder adds (they were not e-mailed about it before: it starts
/// their conversation about it, as a first e-mail does).
const ASKED_ON_A_REMINDER: &str = ":asked-";

/// Whom e-mailing finance about a request told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FinanceAsked {
    /// E-mails queued, one per colleague in finance who may approve it.
    pub told: usize,
    /// On a reminder, those left out: e-mailed about the request within
    /// the last [`REMIND_NOW_AGAIN_AFTER_MINUTES`].
    pub recently_told: usize,
    /// When the latest of those left out may be reminded.
    pub again_from: Option<DateTime<Utc>>,
}

/// Each person e-mailed about `request` on `quote` (asked, or reminded),
/// with their latest: an e-mail that failed or was set aside reached nobody
/// and does not count.
async fn asked_before(
    conn: &impl ConnectionTrait,
    quote: Uuid,
    request: Uuid,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let rows = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::UserId)
        .column(outbox::Column::CreatedAt)
        .filter(outbox::Column::Kind.eq(APPROVAL_ASKED))
        .filter(outbox::Column::DedupeKey.starts_with(format!("{ASKED_KEY}{quote}:{request}:")))
        .filter(super::not_given_up())
        .into_tuple::<(Option<Uuid>, DateTime<Utc>)>()
        .all(conn)
        .await?;
    Ok(super::latest_per_person(rows))
}

/// A line asked about: its product, quantity, discount and quoted price.
type AskedLine = (String, Option<i64>, Option<i32>, i64);

/// The lines a request's `covers` names as they were asked about: each
/// product, how many, at what discount and quoted price (not the price in
/// force, which a later notice moves without changing what is asked).
fn lines_as_asked(covers: &str) -> Option<Vec<AskedLine>> {
    let covered: Vec<crate::gate::overrides::CoveredPrice> = serde_json::from_str(covers).ok()?;
    let mut lines: Vec<_> =
        covered.into_iter().map(|c| (c.sku, c.quantity, c.discount_bp, c.quoted_unit_price_minor)).collect();
    lines.sort_unstable();
    Some(lines)
}

/// The quote and the request a request's e-mail is about, from its key.
pub(super) fn asked_about(row: &crate::entity::outbox::Model) -> Option<(Uuid, Uuid)> {
    about(&row.dedupe_key)
}

fn about(dedupe_key: &str) -> Option<(Uuid, Uuid)> {
    let mut parts = dedupe_key.strip_prefix(ASKED_KEY)?.split(':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The request an e-mail of `kind` with `dedupe_key` is the first to its
/// reader about, if it is one: an e-mail asking about it, not reminding.
pub(super) fn first_asked(kind: &str, dedupe_key: &str) -> Option<Uuid> {
    (kind == APPROVAL_ASKED && !reminds(dedupe_key)).then(|| about(dedupe_key)).flatten().map(|(_, request)| request)
}

impl Store {
    /// Queues, in the caller's transaction, the e-mails asking finance to
    /// approve keeping the old prices of `quote` (worth `total_minor`), as
    /// `request` keeps it, with its `lines` at an old price: to each active
    /// colleague in finance who may approve it (not its owner or signer).
    /// With `reminded_by`, a reminder of the request still waiting, sent by
    /// its owner or signer: those e-mailed about it in the
    /// [`REMIND_NOW_AGAIN_AFTER_MINUTES`] before `now` are left out. None are
    /// queued when the store sends no mail.
    pub(crate) async fn ask_finance_to_approve(
        &self,
        conn: &impl ConnectionTrait,
        (quote, total_minor): (&quotes::Model, i64),
        (request, lines): (&approval_requests::Model, &[SupersededLineView]),
        now: DateTime<Utc>,
        reminded_by: Option<&crate::Actor>,
    ) -> Result<FinanceAsked, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(FinanceAsked::default()) };
        let again = reminded_by.is_some();
        // Who asked, who reminds, and who owns and signs the draft (often
        // the same one or two people), read together.
        let ids = [Some(request.requested_by), reminded_by.map(|r| r.id), Some(quote.owner_id), Some(quote.signer_id)];
        let people = users::Entity::find().filter(users::Column::Id.is_in(ids.into_iter().flatten())).all(conn).await?;
        let person = |id| people.iter().find(|u| u.id == id);
        let Some(asker) = person(request.requested_by) else { return Ok(FinanceAsked::default()) };
        // Someone on the draft other than who asked (its owner, or who took
        // it over) reminding: named, and the one a reply goes to.
        let reminder = reminded_by.filter(|r| r.id != asker.id).and_then(|r| person(r.id));
        // Who owns and signs it, named for finance (the asker may be either).
        let name_of = |id| person(id).map_or("", |u| u.name.as_str());
        let (owner, signer) = (name_of(quote.owner_id), name_of(quote.signer_id));
        let finance = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Finance.as_str()))
            .filter(users::Column::Active.eq(true))
            .filter(users::Column::Id.is_not_in([quote.owner_id, quote.signer_id]))
            .all(conn)
            .await?;
        let asked_before = if again { asked_before(conn, quote.id, request.id).await? } else { HashMap::new() };
        let since = now - chrono::Duration::minutes(REMIND_NOW_AGAIN_AFTER_MINUTES);
        let signed = signed_quote(&setup.base_url, quote, total_minor, 0);
        let asked_at = again.then(|| self.calendar.stamp(request.requested_at, false));
        let declined = self.earlier_decline(conn, request).await?;
        // A reply goes to whoever reminded, or asked while still on the
        // draft (not after a hand-over, when it would reach no one who can act).
        let mut batch = Batch::new(&setup, now);
        if let Some(reminder) = &reminder {
            batch = batch.replying_to(reminder);
        } else if [quote.owner_id, quote.signer_id].contains(&asker.id) {
            batch = batch.replying_to(asker);
        }
        let mut asked = FinanceAsked::default();
        for person in &finance {
            if let Some(at) = asked_before.get(&person.id).filter(|at| **at > since) {
                asked.recently_told += 1;
                let from = *at + chrono::Duration::minutes(REMIND_NOW_AGAIN_AFTER_MINUTES);
                asked.again_from = Some(asked.again_from.map_or(from, |latest| latest.max(from)));
                continue;
            }
            let to = recipient(person);
            let letter = Letter::ApprovalAsked {
                to: &to,
                by: &asker.name,
                reason: &request.reason,
                quote: &signed,
                lines,
                // Someone in finance since the request (or whose e-mail about
                // it never went) is asked, not reminded.
                asked_at: asked_at.as_deref().filter(|_| asked_before.contains_key(&person.id)),
                reminded_by: reminder.as_ref().map(|r| r.name.as_str()),
                declined: declined.as_ref(),
                on_draft: (owner, signer),
            };
            let key = asked_key(quote.id, request.id, person.id);
            let key = match (again, asked_before.contains_key(&person.id)) {
                (false, _) => key,
                (true, true) => format!("{key}{REMINDS}{}", now.timestamp_micros()),
                (true, false) => format!("{key}{ASKED_ON_A_REMINDER}{}", now.timestamp_micros()),
            };
            batch.push(APPROVAL_ASKED, key, &to, &letter)?;
        }
        asked.told = batch.write(conn).await?;
        Ok(asked)
    }

    /// The request about the same quote asked last before `request`, when
    /// finance declined it about the same lines at the same quoted prices
    /// (whatever the prices in force have done since): who did, when, and
    /// why. (One about other prices, the quote repriced since, is not this
    /// request's answer, as the quote's page does not say it.)
    async fn earlier_decline(
        &self,
        conn: &impl ConnectionTrait,
        request: &approval_requests::Model,
    ) -> Result<Option<EarlierDecline>, StoreError> {
        let earlier = approval_requests::Entity::find()
            .filter(approval_requests::Column::QuoteId.eq(request.quote_id))
            .filter(approval_requests::Column::Id.ne(request.id))
            .order_by_desc(approval_requests::Column::RequestedAt)
            .order_by_desc(approval_requests::Column::Id)
            .one(conn)
            .await?;
        let asked = lines_as_asked(&request.covers);
        let earlier = earlier.filter(|e| asked.is_some() && lines_as_asked(&e.covers) == asked);
        let Some((by, reason, at)) = earlier.and_then(|e| Some((e.declined_by?, e.declined_reason?, e.ended_at?)))
        else {
            return Ok(None);
        };
        let Some(decliner) = users::Entity::find_by_id(by).one(conn).await? else { return Ok(None) };
        Ok(Some(EarlierDecline { by: decliner.name, by_id: decliner.id, at: self.calendar.stamp(at, false), reason }))
    }

    /// Queues, in the caller's transaction, the e-mails telling the owner
    /// and the signer of `quote` (worth `total_minor`), one of whom asked
    /// for `request` (or did, before a hand-over), that `by` declined it:
    /// each once, while an active salesperson. Returns how many were queued:
    /// none when the store sends no mail.
    pub(crate) async fn tell_approval_declined(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        (quote, total_minor): (&quotes::Model, i64),
        request: &approval_requests::Model,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(0) };
        let ids = [by.id, request.requested_by, quote.owner_id, quote.signer_id];
        let people = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(conn).await?;
        let Some(decliner) = people.iter().find(|u| u.id == by.id) else { return Ok(0) };
        let asker = people.iter().find(|u| u.id == request.requested_by).map(|u| u.name.as_str()).unwrap_or_default();
        let reason = request.declined_reason.as_deref().unwrap_or_default();
        let signed = signed_quote(&setup.base_url, quote, total_minor, 0);
        let mut batch = Batch::new(&setup, now).replying_to(decliner);
        // Whoever asked, while still on the quote: the rest are its owner and signer.
        let told = people.iter().filter(|u| {
            u.id != by.id
                && [quote.owner_id, quote.signer_id].contains(&u.id)
                && u.active
                && u.role == Role::Sales.as_str()
        });
        for person in told {
            let to = recipient(person);
            let asked_by = (person.id != request.requested_by).then_some(asker);
            let letter = Letter::ApprovalDeclined { to: &to, by: &decliner.name, reason, quote: &signed, asked_by };
            let key = format!("{DECLINED_KEY}{}:{}:{}", quote.id, request.id, person.id);
            batch.push(APPROVAL_DECLINED, key, &to, &letter)?;
        }
        batch.write(conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::lines_as_asked;

    #[test]
    fn a_request_is_about_the_lines_as_quoted_whatever_the_price_in_force_has_done_since() {
        let line = |sku: &str, quoted: i64, now: i64| {
            format!(
                r#"{{"sku":"{sku}","quantity":4,"discount_bp":0,"quoted_unit_price_minor":{quoted},"current_unit_price_minor":{now}}}"#
            )
        };
        let first = format!("[{},{}]", line("PUMP-1", 100, 110), line("VALVE-2", 50, 55));
        let moved_since = format!("[{},{}]", line("VALVE-2", 50, 60), line("PUMP-1", 100, 120));
        assert!(lines_as_asked(&first).is_some());
        assert_eq!(lines_as_asked(&first), lines_as_asked(&moved_since));
        let repriced = format!("[{},{}]", line("PUMP-1", 110, 120), line("VALVE-2", 50, 55));
        assert_ne!(lines_as_asked(&first), lines_as_asked(&repriced));
        assert_eq!(lines_as_asked("not a list"), None);
    }
}
