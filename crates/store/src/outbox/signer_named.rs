//! A salesperson named the signer of someone else's draft is told so, as is
//! one handed a colleague's drafts: only the signer can finalise a quote, so
//! a draft they do not know of waits.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{
    Batch, HandedQuote, Letter, PENDING, SENT, SIGNER, SignedQuote, first_password_url, recipient, set_aside,
    update_in_id_order,
};
use crate::db::IN_LIST_CHUNK;
use crate::entity::{outbox, quotes, signer_letters, users};
use crate::gate::{notices_to_acknowledge, priced_lines};
use crate::quotes::{DRAFT, load_lines};
use crate::{Actor, Store, StoreError};
use pricegate_domain::{Role, quote_total};

/// The key of the e-mail naming `signer` the signer of `quote` at `now`: a
/// signer named again later (after someone else in between) is told again.
fn signer_key(quote: Uuid, signer: Uuid, now: DateTime<Utc>) -> String {
    format!("signer:{quote}:{signer}:{}", now.timestamp_micros())
}

/// The key of the e-mail telling `signer` they no longer sign `quote`.
fn released_key(quote: Uuid, signer: Uuid, now: DateTime<Utc>) -> String {
    format!("released:{quote}:{signer}:{}", now.timestamp_micros())
}

/// The keys of a hand-over's e-mails to the taker and to the leaver start
/// so. Unlike the e-mails about one draft, nothing but deactivating their
/// recipient sets them aside before they go.
const HANDED_OVER: &str = "handover:";
const HANDED_AWAY: &str = "handed-away:";
/// The key of a hand-over's e-mail to the owner of drafts whose signer it
/// changed starts so.
const HANDED_SIGNER: &str = "handed-signer:";
/// The key of the e-mail telling an owner that the signer of their drafts
/// can no longer sign them (deactivated, or moved out of sales) starts so:
/// `signer-gone:<signer>:<owner>:<micros>`.
const SIGNER_GONE: &str = "signer-gone:";
/// The key of the e-mail telling an owner, told so before, that the signer
/// of their drafts can sign them again starts so:
/// `signer-back:<signer>:<owner>:<micros>`.
const SIGNER_BACK: &str = "signer-back:";

/// What a signer e-mail says of its draft and recipient, from its key:
/// whether it names them the signer (else it tells them they no longer
/// are), the draft, and the recipient.
fn quote_of(row: &outbox::Model) -> Option<(bool, Uuid, Uuid)> {
    let mut parts = row.dedupe_key.split(':');
    let named = match parts.next()? {
        "signer" => true,
        "released" => false,
        _ => return None,
    };
    Some((named, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Why a queued signer e-mail gave way to a later one about the same draft.
const REPLACED: &str = "Not sent: a later e-mail about this quote's signer replaced it.";

/// Why a queued e-mail telling an owner their drafts' signer left gave way.
const LEFT_AGAIN: &str = "Not sent: a later e-mail about this signer's leaving replaced it.";

/// Why a queued signer e-mail is no longer sent.
pub(super) const NO_LONGER_SIGNER: &str = "Not sent: the quote's signer or state changed again before it went out.";

/// The signer a letter to the owner of drafts is about, from its key: the
/// taker a hand-over gave them (`handed-signer:<from>:<to>:<owner>:…`), or
/// the signer who can no longer sign them (`signer-gone:<signer>:<owner>:…`,
/// `true`). The letter holds while one of its drafts is still the owner's
/// and signed by that person.
fn owner_letter_signer(row: &outbox::Model) -> Option<(Uuid, bool)> {
    if let Some(rest) = row.dedupe_key.strip_prefix(HANDED_SIGNER) {
        return Some((rest.split(':').nth(1)?.parse().ok()?, false));
    }
    let rest = row.dedupe_key.strip_prefix(SIGNER_GONE)?;
    Some((rest.split(':').next()?.parse().ok()?, true))
}

/// The signer e-mails among `rows` that no longer hold: one naming its
/// recipient the signer of a quote that is no longer a draft they sign, or
/// one telling them they no longer sign a draft they sign again; and one
/// telling an owner who signs their drafts now, once none of those drafts
/// is still a draft of theirs that person signs.
pub(super) async fn moot_signer_mail(
    conn: &impl ConnectionTrait,
    rows: &[outbox::Model],
) -> Result<Vec<Uuid>, StoreError> {
    let mut moot = moot_owner_letters(conn, rows).await?;
    moot.extend(moot_about_one_draft(conn, rows).await?);
    Ok(moot)
}

/// [`moot_signer_mail`]'s letters to owners: their drafts are those the
/// letter's `signer_letters` rows name.
async fn moot_owner_letters(conn: &impl ConnectionTrait, rows: &[outbox::Model]) -> Result<Vec<Uuid>, StoreError> {
    // (row, owner, (the signer it is about, whether said to be gone))
    type OwnerLetter = (Uuid, Uuid, (Uuid, bool));
    let letters: Vec<OwnerLetter> = rows
        .iter()
        .filter(|row| row.kind == SIGNER)
        .filter_map(|row| Some((row.id, row.user_id?, owner_letter_signer(row)?)))
        .collect();
    if letters.is_empty() {
        return Ok(Vec::new());
    }
    // Who can sign now (an active salesperson), among the owners and the
    // signers these letters name. An owner who can no longer edit their
    // drafts is not asked to choose a signer; a taker who can no longer
    // sign is not announced; a signer said to be gone who can sign again
    // (reactivated, back in sales) is not said to be gone.
    let mut people: Vec<Uuid> = letters.iter().flat_map(|(_, owner, (signer, _))| [*owner, *signer]).collect();
    people.sort_unstable();
    people.dedup();
    let mut can_sign: HashSet<Uuid> = HashSet::new();
    for chunk in people.chunks(IN_LIST_CHUNK) {
        let found: Vec<Uuid> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::Id.is_in(chunk.iter().copied()))
            .filter(users::Column::Active.eq(true))
            .filter(users::Column::Role.eq(Role::Sales.as_str()))
            .into_tuple()
            .all(conn)
            .await?;
        can_sign.extend(found);
    }
    let (holding_people, moot_people): (Vec<&OwnerLetter>, Vec<&OwnerLetter>) = letters
        .iter()
        .partition(|(_, owner, (signer, gone))| can_sign.contains(owner) && can_sign.contains(signer) != *gone);
    let mut moot: Vec<Uuid> = moot_people.iter().map(|(row, ..)| *row).collect();
    let asked: HashMap<Uuid, (Uuid, Uuid)> =
        holding_people.iter().map(|(row, owner, (signer, _))| (*row, (*owner, *signer))).collect();
    if asked.is_empty() {
        return Ok(moot);
    }
    let named: Vec<(Uuid, Uuid)> = signer_letters::Entity::find()
        .select_only()
        .columns([signer_letters::Column::OutboxId, signer_letters::Column::QuoteId])
        .filter(signer_letters::Column::OutboxId.is_in(asked.keys().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    let mut standing: HashSet<(Uuid, Uuid, Uuid)> = HashSet::new();
    for chunk in named.chunks(IN_LIST_CHUNK) {
        let drafts: Vec<(Uuid, Uuid, Uuid)> = quotes::Entity::find()
            .select_only()
            .columns([quotes::Column::Id, quotes::Column::OwnerId, quotes::Column::SignerId])
            .filter(quotes::Column::Id.is_in(chunk.iter().map(|(_, quote)| *quote)))
            .filter(quotes::Column::State.eq(DRAFT))
            .into_tuple()
            .all(conn)
            .await?;
        standing.extend(drafts);
    }
    let holding: HashSet<Uuid> = named
        .iter()
        .filter(|(row, quote)| {
            asked.get(row).is_some_and(|(owner, taker)| standing.contains(&(*quote, *owner, *taker)))
        })
        .map(|(row, _)| *row)
        .collect();
    // A letter with no drafts named (written before owners' letters named
    // theirs, or by an older server) is left to go.
    let with_drafts: HashSet<Uuid> = named.iter().map(|(row, _)| *row).collect();
    moot.extend(asked.into_keys().filter(|row| with_drafts.contains(row) && !holding.contains(row)));
    Ok(moot)
}

/// [`moot_signer_mail`]'s e-mails about one draft, which their keys name.
async fn moot_about_one_draft(conn: &impl ConnectionTrait, rows: &[outbox::Model]) -> Result<Vec<Uuid>, StoreError> {
    let asked: Vec<(Uuid, bool, Uuid, Uuid)> = rows
        .iter()
        .filter(|row| row.kind == SIGNER)
        .filter_map(|row| {
            quote_of(row).map(|(named, quote, signer)| (row.id, named, quote, row.user_id.unwrap_or(signer)))
        })
        .collect();
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let standing: HashSet<(Uuid, Uuid)> = quotes::Entity::find()
        .select_only()
        .column(quotes::Column::Id)
        .column(quotes::Column::SignerId)
        .filter(quotes::Column::Id.is_in(asked.iter().map(|(_, _, quote, _)| *quote)))
        .filter(quotes::Column::State.eq(DRAFT))
        .into_tuple()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    Ok(asked
        .into_iter()
        .filter(|(_, named, quote, signer)| *named != standing.contains(&(*quote, *signer)))
        .map(|(row, _, _, _)| row)
        .collect())
}

/// A draft as the letters here show it.
pub(super) fn signed_quote(
    base_url: &str,
    quote: &quotes::Model,
    total_minor: i64,
    to_acknowledge: u64,
) -> SignedQuote {
    SignedQuote {
        id: quote.id,
        url: format!("{base_url}/quotes/{}", quote.id),
        customer_name: quote.customer_name.clone(),
        customer_company: quote.customer_company.clone(),
        currency: quote.currency.clone(),
        total_minor,
        valid_until: quote.valid_until,
        to_acknowledge,
    }
}

impl Store {
    /// Queues, in the caller's transaction, an e-mail telling the signer of
    /// `quote` (worth `total_minor`) that `by` names them its signer. First,
    /// every unsent e-mail naming someone its signer gives way (the signer
    /// changed back and forth, or the quote was edited since: nobody gets
    /// two, or stale figures), as does one telling the new signer they no
    /// longer sign it. Nothing more when `by` names themselves, when the
    /// signer already believes they sign it (see [`Store::signer_was_told`]),
    /// or when the store sends no mail.
    pub(crate) async fn tell_named_signer(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        quote: &quotes::Model,
        total_minor: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        let replaced = unsent_signer_letters().add(
            Condition::any()
                .add(outbox::Column::DedupeKey.starts_with(format!("signer:{}:", quote.id)))
                .add(outbox::Column::DedupeKey.starts_with(format!("released:{}:{}:", quote.id, quote.signer_id))),
        );
        update_in_id_order(conn, replaced, || set_aside(REPLACED)).await?;
        if quote.signer_id == by.id || self.signer_was_told(conn, quote.id, quote.signer_id).await? {
            return Ok(());
        }
        let people = users::Entity::find().filter(users::Column::Id.is_in([by.id, quote.signer_id])).all(conn).await?;
        let (Some(signer), Some(namer)) =
            (people.iter().find(|u| u.id == quote.signer_id), people.iter().find(|u| u.id == by.id))
        else {
            return Ok(());
        };
        let to_acknowledge = notices_to_acknowledge(conn, &[quote.id]).await?;
        let signed =
            signed_quote(&setup.base_url, quote, total_minor, to_acknowledge.get(&quote.id).copied().unwrap_or(0));
        let to = recipient(signer);
        let mut batch = Batch::new(&setup, now).replying_to(namer);
        let first_password_url = first_password_url(&setup, signer);
        let letter = Letter::SignerNamed {
            to: &to,
            by: &namer.name,
            quote: &signed,
            first_password_url: first_password_url.as_deref(),
        };
        batch.push(SIGNER, signer_key(quote.id, signer.id, now), &to, &letter)?;
        batch.write(conn).await?;
        Ok(())
    }

    /// Whether `signer` believes they sign `quote`: of the e-mails telling
    /// them whether they sign it (naming them its signer, telling them they
    /// no longer do, handing them a colleague's drafts or handing theirs
    /// away), the latest that reached them or will, said they did. That is
    /// one sent, one being sent or retried, or a hand-over's still queued
    /// (only deactivating its recipient sets that aside, and then nothing
    /// about them matters). An e-mail about one draft still queued
    /// does not count: naming someone else sets it aside; nor does one that
    /// failed for good or was set aside.
    pub(crate) async fn signer_was_told(
        &self,
        conn: &impl ConnectionTrait,
        quote: Uuid,
        signer: Uuid,
    ) -> Result<bool, StoreError> {
        let latest = signer_letters::Entity::find()
            .select_only()
            .column(signer_letters::Column::Signs)
            .join(
                JoinType::InnerJoin,
                signer_letters::Entity::belongs_to(outbox::Entity)
                    .from(signer_letters::Column::OutboxId)
                    .to(outbox::Column::Id)
                    .into(),
            )
            .filter(signer_letters::Column::QuoteId.eq(quote))
            .filter(signer_letters::Column::UserId.eq(signer))
            .filter(
                Condition::any().add(outbox::Column::State.eq(SENT)).add(
                    Condition::all().add(outbox::Column::State.eq(PENDING)).add(
                        Condition::any()
                            .add(outbox::Column::Attempts.gt(0))
                            .add(outbox::Column::DedupeKey.starts_with(HANDED_OVER))
                            .add(outbox::Column::DedupeKey.starts_with(HANDED_AWAY)),
                    ),
                ),
            )
            .order_by_desc(outbox::Column::CreatedAt)
            .into_tuple::<bool>()
            .one(conn)
            .await?;
        Ok(latest == Some(true))
    }

    /// Queues, in the caller's transaction, an e-mail telling `released`,
    /// who signed `quote` until `by` named its present signer, that they no
    /// longer do; says whether it did. Nothing for `by` themselves, nor for
    /// someone who was never told (see [`Store::signer_was_told`]; the
    /// caller asks), nor for someone who can no longer log in.
    pub(crate) async fn tell_released_signer(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        released: Uuid,
        quote: &quotes::Model,
        total_minor: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(false) };
        if released == by.id || released == quote.signer_id {
            return Ok(false);
        }
        let people =
            users::Entity::find().filter(users::Column::Id.is_in([by.id, released, quote.signer_id])).all(conn).await?;
        let name_of = |id: Uuid| people.iter().find(|u| u.id == id);
        let (Some(editor), Some(former)) = (name_of(by.id), name_of(released)) else {
            return Ok(false);
        };
        if !former.active {
            return Ok(false);
        }
        // Whether anything held it up is the new signer's to know.
        let signed = signed_quote(&setup.base_url, quote, total_minor, 0);
        let to = recipient(former);
        let mut batch = Batch::new(&setup, now).replying_to(editor);
        // Who was named then: the letter says it as what happened, which
        // stays so if another change follows before it goes out.
        let signer =
            (quote.signer_id != by.id).then(|| name_of(quote.signer_id).map_or("someone", |u| u.name.as_str()));
        let letter = Letter::SignerReleased { to: &to, by: &editor.name, signer, quote: &signed };
        batch.push(SIGNER, released_key(quote.id, released, now), &to, &letter)?;
        batch.write(conn).await?;
        Ok(true)
    }

    /// Queues, in the caller's transaction, one e-mail telling `to` that
    /// `by` handed them `from`'s open drafts, `handed` (their ids), each with
    /// its total, `to`'s part in it, who signs it and the notices its signer
    /// must still acknowledge; one telling `from` where their drafts went,
    /// if they are still active; and one to each active owner of drafts
    /// `from` signed and `to` now signs.
    pub(crate) async fn tell_handed_over(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        from: Uuid,
        to: Uuid,
        handed: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        if handed.is_empty() {
            return Ok(());
        }
        let mut drafts = Vec::with_capacity(handed.len());
        for chunk in handed.chunks(IN_LIST_CHUNK) {
            let found = quotes::Entity::find()
                .filter(quotes::Column::Id.is_in(chunk.iter().copied()))
                .filter(quotes::Column::State.eq(DRAFT))
                .all(conn)
                .await?;
            drafts.extend(found);
        }
        drafts.sort_by_key(|q| q.drafted_at);
        // The admin, both sides, whoever signs the drafts the taker only
        // owns, and whoever owns the drafts the taker only signs.
        let mut who: Vec<Uuid> =
            drafts.iter().flat_map(|q| [q.signer_id, q.owner_id]).chain([by.id, from, to]).collect();
        who.sort_unstable();
        who.dedup();
        let people = users::Entity::find().filter(users::Column::Id.is_in(who)).all(conn).await?;
        let name_of = |id: Uuid| people.iter().find(|u| u.id == id);
        let (Some(admin), Some(leaver), Some(taker)) = (name_of(by.id), name_of(from), name_of(to)) else {
            return Ok(());
        };
        let lines = load_lines(conn, handed).await?;
        let to_acknowledge = notices_to_acknowledge(conn, handed).await?;
        let quotes: Vec<HandedQuote> = drafts
            .iter()
            .map(|q| {
                let priced = lines.get(&q.id).map(|l| priced_lines(l)).unwrap_or_default();
                let total = quote_total(&priced).unwrap_or(i64::MAX);
                let waiting = to_acknowledge.get(&q.id).copied().unwrap_or(0);
                let signer = name_of(q.signer_id);
                HandedQuote {
                    quote: signed_quote(&setup.base_url, q, total, waiting),
                    taker_owns: q.owner_id == to,
                    taker_signs: q.signer_id == to,
                    signer: signer.map(|u| u.name.clone()).unwrap_or_default(),
                    signer_gone: signer.filter(|u| !u.can_sign()).map(|u| match u.active {
                        true => format!("now in {}", u.role),
                        false => "deactivated".to_owned(),
                    }),
                }
            })
            .collect();
        let to_whom = recipient(taker);
        let mut batch = Batch::new(&setup, now).replying_to(admin);
        let awaiting_url = super::reminders::awaiting_page(&setup);
        let first_password_url = first_password_url(&setup, taker);
        let letter = Letter::QuotesHandedOver {
            to: &to_whom,
            by: &admin.name,
            from: &leaver.name,
            quotes: &quotes,
            awaiting_url: &awaiting_url,
            first_password_url: first_password_url.as_deref(),
        };
        let key = format!("{HANDED_OVER}{from}:{to}:{}", now.timestamp_micros());
        batch.push(SIGNER, key, &to_whom, &letter)?;
        // Someone who can still log in would find their quotes gone.
        if leaver.active {
            let to_leaver = recipient(leaver);
            let letter =
                Letter::QuotesHandedAway { to: &to_leaver, by: &admin.name, taker: &taker.name, quotes: &quotes };
            let key = format!("{HANDED_AWAY}{from}:{to}:{}", now.timestamp_micros());
            batch.push(SIGNER, key, &to_leaver, &letter)?;
        }
        // A draft the taker signs but does not own kept its owner (the
        // leaver signed it), who is told who signs it now; an owner who can
        // no longer edit it is not asked to choose another signer.
        let signed_for = |q: &&quotes::Model| q.signer_id == to && q.owner_id != to;
        let mut owners: Vec<Uuid> = drafts.iter().filter(signed_for).map(|q| q.owner_id).collect();
        owners.sort_unstable();
        owners.dedup();
        for owner in owners.iter().filter_map(|id| name_of(*id)).filter(|u| u.can_sign()) {
            let theirs: Vec<HandedQuote> = drafts
                .iter()
                .zip(&quotes)
                .filter(|(q, _)| signed_for(q) && q.owner_id == owner.id)
                .map(|(_, handed)| handed.clone())
                .collect();
            let to_owner = recipient(owner);
            let letter = Letter::SignerHandedOver {
                to: &to_owner,
                by: &admin.name,
                from: &leaver.name,
                taker: &taker.name,
                quotes: &theirs,
            };
            let key = format!("{HANDED_SIGNER}{from}:{to}:{}:{}", owner.id, now.timestamp_micros());
            batch.push(SIGNER, key, &to_owner, &letter)?;
        }
        batch.write(conn).await?;
        Ok(())
    }

    /// Queues, in the caller's transaction, an e-mail to each owner of open
    /// drafts that `gone` signs: `by` (an administrator) has deactivated
    /// them or moved them out of sales (`deactivated` says which), so they
    /// can no longer finalise those drafts, and until the owner names
    /// another signer (or an administrator hands them over) nobody can.
    /// Their own drafts have nobody else to tell: the administrator's page
    /// lists them. An owner who can no longer edit their drafts is not
    /// asked to. Set aside before it goes once none of its drafts is still
    /// the owner's and signed by `gone`, or once `gone` can sign again.
    pub(crate) async fn tell_owners_signer_gone(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        gone: &users::Model,
        deactivated: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        let drafts = quotes::Entity::find()
            .filter(quotes::Column::State.eq(DRAFT))
            .filter(quotes::Column::SignerId.eq(gone.id))
            .filter(quotes::Column::OwnerId.ne(gone.id))
            .order_by_asc(quotes::Column::DraftedAt)
            .all(conn)
            .await?;
        if drafts.is_empty() {
            return Ok(());
        }
        // One letter at a time about this signer: one not yet tried (the
        // signer left, came back and left again before it went) gives way
        // to this one, which says how they left last.
        let left_again =
            unsent_signer_letters().add(outbox::Column::DedupeKey.starts_with(format!("{SIGNER_GONE}{}:", gone.id)));
        update_in_id_order(conn, left_again, || set_aside(LEFT_AGAIN)).await?;
        tell_owners(conn, &setup, by, gone, &drafts, (deactivated, false), now).await
    }

    /// Queues, in the caller's transaction, an e-mail to each owner who was
    /// told that `back` could no longer sign their drafts (the letter went
    /// out) and who still has open drafts `back` signs: `by` has reactivated
    /// them, or moved them back into sales (`reactivated` says which), so
    /// they can finalise those drafts again. An owner whose letter had not
    /// gone yet is told nothing: it is set aside before it goes.
    pub(crate) async fn tell_owners_signer_back(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        back: &users::Model,
        reactivated: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        // Each owner's latest letter about this signer's leaving or coming
        // back: told only those whose latest said they left, and went out.
        let letters: Vec<(String, String)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::DedupeKey)
            .column(outbox::Column::State)
            .filter(outbox::Column::Kind.eq(SIGNER))
            .filter(
                Condition::any()
                    .add(outbox::Column::DedupeKey.starts_with(format!("{SIGNER_GONE}{}:", back.id)))
                    .add(outbox::Column::DedupeKey.starts_with(format!("{SIGNER_BACK}{}:", back.id))),
            )
            .into_tuple()
            .all(conn)
            .await?;
        let mut latest: HashMap<Uuid, (i64, bool)> = HashMap::new();
        for (key, state) in &letters {
            let mut parts = key.split(':');
            let (Some(kind), Some(_), Some(owner), Some(at)) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(owner), Ok(at)) = (owner.parse::<Uuid>(), at.parse::<i64>()) else { continue };
            let left_and_told = format!("{kind}:") == SIGNER_GONE && state == SENT;
            let entry = latest.entry(owner).or_insert((at, left_and_told));
            if at >= entry.0 {
                *entry = (at, left_and_told);
            }
        }
        let told: Vec<Uuid> = latest.into_iter().filter(|(_, (_, told))| *told).map(|(owner, _)| owner).collect();
        if told.is_empty() {
            return Ok(());
        }
        let drafts = quotes::Entity::find()
            .filter(quotes::Column::State.eq(DRAFT))
            .filter(quotes::Column::SignerId.eq(back.id))
            .filter(quotes::Column::OwnerId.is_in(told))
            .order_by_asc(quotes::Column::DraftedAt)
            .all(conn)
            .await?;
        if drafts.is_empty() {
            return Ok(());
        }
        tell_owners(conn, &setup, by, back, &drafts, (reactivated, true), now).await
    }
}

/// Writes the letter to each owner (an active salesperson) of `drafts`,
/// which `signer` signs, saying that `by` has deactivated them or moved
/// them out of sales, or with `back`, reactivated them or moved them back
/// (`deactivated` says which of each), with that owner's drafts.
async fn tell_owners(
    conn: &impl ConnectionTrait,
    setup: &super::MailSetup,
    by: &Actor,
    signer: &users::Model,
    drafts: &[quotes::Model],
    (deactivated, back): (bool, bool),
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut who: Vec<Uuid> = drafts.iter().map(|q| q.owner_id).chain([by.id]).collect();
    who.sort_unstable();
    who.dedup();
    let people = users::Entity::find().filter(users::Column::Id.is_in(who)).all(conn).await?;
    let name_of = |id: Uuid| people.iter().find(|u| u.id == id);
    let Some(admin) = name_of(by.id) else { return Ok(()) };
    let ids: Vec<Uuid> = drafts.iter().map(|q| q.id).collect();
    let lines = load_lines(conn, &ids).await?;
    let mut batch = Batch::new(setup, now).replying_to(admin);
    let mut owners: Vec<Uuid> = drafts.iter().map(|q| q.owner_id).collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in owners.iter().filter_map(|id| name_of(*id)).filter(|u| u.can_sign()) {
        let theirs: Vec<SignedQuote> = drafts
            .iter()
            .filter(|q| q.owner_id == owner.id)
            .map(|q| {
                let priced = lines.get(&q.id).map(|l| priced_lines(l)).unwrap_or_default();
                signed_quote(&setup.base_url, q, quote_total(&priced).unwrap_or(i64::MAX), 0)
            })
            .collect();
        let to = recipient(owner);
        let letter =
            Letter::SignerGone { to: &to, by: &admin.name, signer: &signer.name, deactivated, back, quotes: &theirs };
        let prefix = if back { SIGNER_BACK } else { SIGNER_GONE };
        let key = format!("{prefix}{}:{}:{}", signer.id, owner.id, now.timestamp_micros());
        batch.push(SIGNER, key, &to, &letter)?;
    }
    batch.write(conn).await?;
    Ok(())
}

/// The letters about who signs a quote (naming a signer, handing drafts
/// over, telling an owner their signer left) not yet tried: those a newer
/// one replaces.
fn unsent_signer_letters() -> Condition {
    Condition::all()
        .add(outbox::Column::Kind.eq(SIGNER))
        .add(outbox::Column::State.eq(PENDING))
        .add(outbox::Column::Attempts.eq(0))
}
