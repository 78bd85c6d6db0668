//! Acknowledgements: a salesperson's record of having seen a published
//! notice, by whichever way it came (API, browser, e-mail link), with where
//! the request came from, as part of the proof the gate keeps.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::Role;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::{Asked, PUBLISHED, visible_to};
use crate::audit::{AuditEntry, Refused, record_many};
use crate::db::{IN_LIST_CHUNK, db_now};
use crate::entity::{acknowledgements, notices, outbox, quotes, users};
use crate::quotes::DRAFT;
use crate::views::{AckListView, AckView, AcknowledgedBy, UndeliveredView, UserView};
use crate::{Actor, Store, StoreError};

/// How an acknowledgement reached us, as the API writes it (`web`,
/// `email`, `api`; OpenAPI lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Channel {
    /// A Pricegate page.
    Web,
    /// The link in its e-mail.
    Email,
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Api => "api",
        }
    }
}

/// Where a request came from, kept with an acknowledgement as part of the proof.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}

impl Store {
    /// Records that `user_id` has seen a published notice. Acknowledging again
    /// changes nothing and returns the first acknowledgement. A refusal
    /// (unknown notice, not published) is audited.
    pub async fn acknowledge_notice(
        &self,
        user_id: Uuid,
        notice_id: Uuid,
        channel: Channel,
        client: ClientInfo,
    ) -> Result<(AckView, bool), StoreError> {
        self.acknowledge(None, user_id, notice_id, channel, client).await
    }

    /// As [`Store::acknowledge_notice`] for `actor` themselves, who learns
    /// only of the notices they may see: a draft is unknown to all but
    /// finance, and its refusal is the 404 of a notice that does not exist.
    pub async fn acknowledge_notice_as(
        &self,
        actor: &Actor,
        notice_id: Uuid,
        channel: Channel,
        client: ClientInfo,
    ) -> Result<(AckView, bool), StoreError> {
        self.acknowledge(Some(actor), actor.id, notice_id, channel, client).await
    }

    /// As [`Store::acknowledge_notice_as`] for each of `notice_ids` (those a
    /// page showed the reader together, whole), in one transaction: all of
    /// them are recorded, or, should one be refused, none. How many were
    /// acknowledged for the first time.
    pub async fn acknowledge_notices_as(
        &self,
        actor: &Actor,
        notice_ids: &[Uuid],
        channel: Channel,
        client: ClientInfo,
    ) -> Result<usize, StoreError> {
        let mut refused_on = None;
        let acknowledged = async {
            let txn = self.begin_write().await?;
            let acks =
                acknowledge_in(&txn, Some(actor), actor.id, notice_ids, channel, client).await.map_err(|refused| {
                    refused_on = refused.notice_id;
                    refused.error
                })?;
            txn.commit().await?;
            Ok::<_, StoreError>(acks.iter().filter(|(_, new)| *new).count())
        }
        .await;
        self.audit_refusal(refused_acknowledgement(Some(actor.id), refused_on, channel), acknowledged).await
    }

    async fn acknowledge(
        &self,
        seen_by: Option<&Actor>,
        user_id: Uuid,
        notice_id: Uuid,
        channel: Channel,
        client: ClientInfo,
    ) -> Result<(AckView, bool), StoreError> {
        let acknowledged = async {
            let txn = self.begin_write().await?;
            let acknowledged = acknowledge_one_in(&txn, seen_by, user_id, notice_id, channel, client).await?;
            txn.commit().await?;
            Ok(acknowledged)
        }
        .await;
        self.audit_refusal(refused_acknowledgement(Some(user_id), Some(notice_id), channel), acknowledged).await
    }

    /// Which of `notice_ids` `user_id` has acknowledged.
    pub async fn acknowledged_among(&self, user_id: Uuid, notice_ids: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        Ok(acknowledgements_of(&self.db, user_id, notice_ids).await?.into_keys().collect())
    }

    /// Who has acknowledged a published notice (anyone may, finance and
    /// admins included), and which active salespeople have not; 409
    /// `notice_not_published` for a draft, which nobody can acknowledge yet.
    /// A salesperson who joined after the publication is pending only while
    /// they sign a draft it holds up (one handed to them): the notice was not
    /// mailed to them, and no reminder chases them otherwise.
    pub async fn list_acknowledgements(&self, notice_id: Uuid) -> Result<AckListView, StoreError> {
        Ok(self.acknowledgements_and_mail(notice_id).await?.0)
    }

    /// [`Store::list_acknowledgements`], with whom no e-mail about the
    /// notice has reached, as [`Store::undelivered_about`] reads them, those
    /// no longer pending too (the acknowledgements file says it of everyone
    /// it lists): read once for both.
    pub async fn acknowledgements_and_mail(
        &self,
        notice_id: Uuid,
    ) -> Result<(AckListView, HashMap<Uuid, crate::Undelivered>), StoreError> {
        let notice =
            notices::Entity::find_by_id(notice_id).one(&self.db).await?.ok_or(StoreError::not_found("notice"))?;
        if notice.state != PUBLISHED {
            return Err(StoreError::conflict(
                "notice_not_published",
                "This notice is a draft: nobody can acknowledge it until it is published.",
            ));
        }
        let acks = acknowledgements::Entity::find()
            .filter(acknowledgements::Column::NoticeId.eq(notice.id))
            .order_by_asc(acknowledgements::Column::AcknowledgedAt)
            .all(&self.db)
            .await?;
        // Those who acknowledged it only, not every account of the company.
        let ackers: Vec<Uuid> = acks.iter().map(|a| a.user_id).collect();
        let users = self.users_by_id(&ackers).await?;
        let acknowledged: Vec<AcknowledgedBy> = acks
            .iter()
            .filter_map(|a| {
                users.get(&a.user_id).map(|u| AcknowledgedBy {
                    user: u.clone(),
                    acknowledged_at: a.acknowledged_at,
                    channel: a.channel.clone(),
                    client_address: a.client_addr.clone(),
                    user_agent: a.user_agent.clone(),
                })
            })
            .collect();
        let published_at = notice.published_at.unwrap_or(notice.created_at);
        let mut pending: Vec<UserView> = pending_sales(&self.db, notice.id, Chased::Asked(published_at))
            .await?
            .into_iter()
            .map(UserView::from)
            .collect();
        pending.sort_by(|a, b| a.email.cmp(&b.email));
        let not_reached = self.undelivered_about(notice.id).await?;
        let undelivered =
            pending.iter().filter_map(|u| Some(UndeliveredView::of(u.id, not_reached.get(&u.id)?))).collect();
        Ok((AckListView { acknowledged, pending, undelivered }, not_reached))
    }

    /// The drafts a published notice holds up: drafted before it, signed by
    /// someone who has not acknowledged it; oldest first, each as its id,
    /// signer and customer. Read from the quotes alone (no lines), so a
    /// dashboard of a notice costs the drafts it names, not every quote.
    pub async fn quotes_waiting_on(&self, notice_id: Uuid) -> Result<Vec<WaitingQuote>, StoreError> {
        self.drafts_before(notice_id, None, true).await
    }

    /// [`Store::quotes_waiting_on`], of the drafts `signer` signs only: what
    /// the notice holds up of theirs, those it changes first (as its e-mails
    /// list them: [`crate::BlockedQuote::changed_by_it`]), each part oldest first.
    pub async fn quotes_waiting_on_signer(
        &self,
        notice_id: Uuid,
        signer: Uuid,
    ) -> Result<Vec<WaitingQuote>, StoreError> {
        Ok(self.quotes_waiting_on_signer_with_effects(notice_id, signer).await?.0)
    }

    /// [`Store::quotes_waiting_on_signer`], with what the notice does to
    /// each ([`Store::notice_effects`], read once for both; empty, and the
    /// list in drafting order, where that cannot be read).
    pub async fn quotes_waiting_on_signer_with_effects(
        &self,
        notice_id: Uuid,
        signer: Uuid,
    ) -> Result<(Vec<WaitingQuote>, HashMap<Uuid, crate::BlockedQuote>), StoreError> {
        let drafts = self.drafts_before(notice_id, Some(signer), true).await?;
        Ok(self.changed_first(notice_id, signer, drafts).await)
    }

    /// The drafts `signer` signs that were drafted before the notice was
    /// published, acknowledged or not: those it held up until they
    /// acknowledged it, once they have; in the order of
    /// [`Store::quotes_waiting_on_signer`].
    pub async fn quotes_held_up_by(&self, notice_id: Uuid, signer: Uuid) -> Result<Vec<WaitingQuote>, StoreError> {
        let drafts = self.drafts_before(notice_id, Some(signer), false).await?;
        Ok(self.changed_first(notice_id, signer, drafts).await.0)
    }

    /// How many drafts [`Store::quotes_held_up_by`] lists.
    pub async fn count_held_up_by(&self, notice_id: Uuid, signer: Uuid) -> Result<usize, StoreError> {
        Ok(self.drafts_before(notice_id, Some(signer), false).await?.len())
    }

    /// The published notices that ask `actor` for an acknowledgement they
    /// have not given (the rule of [`NoticeView::awaiting_my_acknowledgement`]),
    /// the first `limit` in publication order, each as its id, title and
    /// publication time, and how many there are in all.
    ///
    /// [`NoticeView::awaiting_my_acknowledgement`]: crate::views::NoticeView::awaiting_my_acknowledgement
    pub async fn notices_awaiting(&self, actor: &Actor, limit: u64) -> Result<(Vec<AwaitingNotice>, u64), StoreError> {
        if actor.role != Role::Sales {
            return Ok((Vec::new(), 0));
        }
        let asked = Asked::of(&self.db, actor).await?;
        let awaiting = notices::Entity::find().filter(asked.unacknowledged_by(actor.id));
        let count = awaiting.clone().count(&self.db).await?;
        if limit == 0 {
            // Only how many (a filter's label): no empty read after the count.
            return Ok((Vec::new(), count));
        }
        let rows = awaiting
            .select_only()
            .column(notices::Column::Id)
            .column(notices::Column::Title)
            .column(notices::Column::PublishedAt)
            .order_by_asc(notices::Column::Seq)
            .limit(limit)
            .into_tuple::<(Uuid, String, Option<DateTime<Utc>>)>()
            .all(&self.db)
            .await?;
        let listed = rows
            .into_iter()
            .filter_map(|(id, title, published_at)| Some(AwaitingNotice { id, title, published_at: published_at? }))
            .collect();
        Ok((listed, count))
    }

    /// The [`AckCount`] of each notice of `published` (its id and when it
    /// was published), for a list of them: the counts of
    /// [`Store::list_acknowledgements`], in a few statements for the whole
    /// list rather than one per notice.
    pub async fn acknowledgement_counts(
        &self,
        published: &[(Uuid, DateTime<Utc>)],
    ) -> Result<HashMap<Uuid, AckCount>, StoreError> {
        if published.is_empty() {
            return Ok(HashMap::new());
        }
        // Every active salesperson, with what the rule of `Asked` needs to
        // know of them: when they joined, and their oldest draft to sign.
        let oldest_drafts: HashMap<Uuid, DateTime<Utc>> = quotes::Entity::find()
            .select_only()
            .column(quotes::Column::SignerId)
            .column_as(Expr::col(quotes::Column::DraftedAt).min(), "oldest")
            .filter(quotes::Column::State.eq(DRAFT))
            .group_by(quotes::Column::SignerId)
            .into_tuple::<(Uuid, DateTime<Utc>)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let sales: Vec<Asked> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::CreatedAt)
            .filter(users::Column::Role.eq(Role::Sales.as_str()))
            .filter(users::Column::Active.eq(true))
            .into_tuple::<(Uuid, DateTime<Utc>)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(id, joined)| Asked { joined: Some(joined), oldest_draft: oldest_drafts.get(&id).copied() })
            .collect();
        // Per notice, every acknowledgement, and those of the people it asks:
        // counted by the database, not read a person at a time.
        let ids: Vec<Uuid> = published.iter().map(|(id, _)| *id).collect();
        // Every acknowledgement, and how many of them are not salespeople's.
        let mut acknowledged: HashMap<Uuid, (i64, i64)> = HashMap::with_capacity(ids.len());
        let mut by_asked: HashMap<Uuid, i64> = HashMap::with_capacity(ids.len());
        let mut unreached: HashMap<Uuid, i64> = HashMap::new();
        let (acks, people, notice) = (acknowledgements::Entity, users::Entity, notices::Entity);
        let by_person = Expr::col((people, users::Column::Id)).equals((acks, acknowledgements::Column::UserId));
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            let all = Query::select()
                .column((acks, acknowledgements::Column::NoticeId))
                .expr_as(Expr::col((acks, acknowledgements::Column::UserId)).count(), "n")
                .expr_as(
                    Expr::case(Expr::col((people, users::Column::Role)).ne(Role::Sales.as_str()), 1).count(),
                    "others",
                )
                .from(acks)
                .inner_join(people, by_person.clone())
                .and_where(Expr::col((acks, acknowledgements::Column::NoticeId)).is_in(chunk.iter().copied()))
                .group_by_col((acks, acknowledgements::Column::NoticeId))
                .to_owned();
            for row in self.db.query_all_raw(self.db.get_database_backend().build(&all)).await? {
                acknowledged.insert(row.try_get("", "notice_id")?, (row.try_get("", "n")?, row.try_get("", "others")?));
            }
            let asked = Query::select()
                .column((acks, acknowledgements::Column::NoticeId))
                .expr_as(Expr::col((acks, acknowledgements::Column::UserId)).count(), "n")
                .from(acks)
                .inner_join(people, by_person.clone())
                .inner_join(
                    notice,
                    Expr::col((notice, notices::Column::Id)).equals((acks, acknowledgements::Column::NoticeId)),
                )
                .and_where(Expr::col((acks, acknowledgements::Column::NoticeId)).is_in(chunk.iter().copied()))
                .and_where(Expr::col((people, users::Column::Role)).eq(Role::Sales.as_str()))
                .and_where(Expr::col((people, users::Column::Active)).eq(true))
                .cond_where(asked_then(Expr::col((notice, notices::Column::PublishedAt))))
                .group_by_col((acks, acknowledgements::Column::NoticeId))
                .to_owned();
            let rows = self.db.query_all_raw(self.db.get_database_backend().build(&asked)).await?;
            for row in rows {
                by_asked.insert(row.try_get("", "notice_id")?, row.try_get("", "n")?);
            }
            let rows = self.db.query_all_raw(self.db.get_database_backend().build(&not_reached(chunk))).await?;
            for row in rows {
                unreached.insert(row.try_get("", "notice_id")?, row.try_get("", "n")?);
            }
        }
        Ok(published
            .iter()
            .map(|&(id, published_at)| {
                let asked = sales.iter().filter(|asked| asked.asks(Some(published_at))).count() as u64;
                let count = |n: Option<&i64>| n.map_or(0, |n| u64::try_from(*n).unwrap_or(0));
                let answered = count(by_asked.get(&id));
                let all = acknowledged.get(&id);
                let (acknowledged, not_in_sales) = (count(all.map(|(n, _)| n)), count(all.map(|(_, others)| others)));
                let not_reached = count(unreached.get(&id));
                (id, AckCount { acknowledged, not_in_sales, pending: asked.saturating_sub(answered), not_reached })
            })
            .collect())
    }

    /// The drafts drafted before the notice's publication (of `signer`, or
    /// everyone's), with `waiting`, only those whose signer has not
    /// acknowledged it.
    async fn drafts_before(
        &self,
        notice_id: Uuid,
        signer: Option<Uuid>,
        waiting: bool,
    ) -> Result<Vec<WaitingQuote>, StoreError> {
        let notice =
            notices::Entity::find_by_id(notice_id).one(&self.db).await?.ok_or(StoreError::not_found("notice"))?;
        let Some(published_at) = notice.published_at else { return Ok(Vec::new()) };
        let acknowledged = Query::select()
            .column(acknowledgements::Column::UserId)
            .from(acknowledgements::Entity)
            .and_where(acknowledgements::Column::NoticeId.eq(notice_id))
            .to_owned();
        let mut drafts = quotes::Entity::find();
        if let Some(signer) = signer {
            drafts = drafts.filter(quotes::Column::SignerId.eq(signer));
        }
        if waiting {
            drafts = drafts.filter(quotes::Column::SignerId.not_in_subquery(acknowledged));
        }
        let rows = drafts
            .select_only()
            .column(quotes::Column::Id)
            .column(quotes::Column::SignerId)
            .column(quotes::Column::OwnerId)
            .column(quotes::Column::CustomerName)
            .column(quotes::Column::ValidUntil)
            .filter(quotes::Column::State.eq(DRAFT))
            .filter(quotes::Column::DraftedAt.lt(published_at))
            .order_by_asc(quotes::Column::DraftedAt)
            .order_by_asc(quotes::Column::Id)
            .into_tuple::<(Uuid, Uuid, Uuid, String, NaiveDate)>()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, signer_id, owner_id, customer_name, valid_until)| WaitingQuote {
                id,
                signer_id,
                owner_id,
                customer_name,
                valid_until,
            })
            .collect())
    }

    /// `signer`'s `drafts` (held up by notice `notice_id`), those the notice
    /// changes first, as its e-mails and its dashboard list them: the ones
    /// to see first, with what it does to each. Each part keeps its order.
    async fn changed_first(
        &self,
        notice_id: Uuid,
        signer: Uuid,
        mut drafts: Vec<WaitingQuote>,
    ) -> (Vec<WaitingQuote>, HashMap<Uuid, crate::BlockedQuote>) {
        if drafts.is_empty() {
            return (drafts, HashMap::new());
        }
        // The list stands in drafting order if what the notice does cannot be read.
        match self.notice_effects(notice_id, vec![signer]).await {
            Ok(effects) => {
                WaitingQuote::sort_changed_first(&mut drafts, &effects);
                (drafts, effects)
            }
            Err(e) => {
                tracing::warn!(error = %crate::causes(&e), %notice_id, "the drafts a notice holds up are listed in drafting order");
                (drafts, HashMap::new())
            }
        }
    }
}

/// Which salespeople who have not acknowledged a notice published at a
/// time are chased about it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Chased {
    /// Those who sign a draft quote drafted before then: the people the
    /// notice holds up (the schedule's reminders).
    HoldingUp(DateTime<Utc>),
    /// Those who were already salespeople then, and anyone the notice holds
    /// up: the people its dashboard lists as pending (finance's "remind
    /// now"). Someone who joined later is not chased for an earlier notice.
    Asked(DateTime<Utc>),
}

/// Whether the salesperson of the `users` row in scope signs a draft quote
/// drafted before `published_at`: one a notice published then holds up.
fn holds_up(published_at: Expr) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::value(1))
            .from(quotes::Entity)
            .and_where(Expr::col((quotes::Entity, quotes::Column::SignerId)).equals((users::Entity, users::Column::Id)))
            .and_where(Expr::col((quotes::Entity, quotes::Column::State)).eq(DRAFT))
            .and_where(Expr::col((quotes::Entity, quotes::Column::DraftedAt)).lt(published_at))
            .to_owned(),
    )
}

/// Whether a notice published at `published_at` asks the salesperson of the
/// `users` row in scope to acknowledge it: they were one by then, or it holds
/// up a draft they sign (the rule of [`Asked`], in SQL).
fn asked_then(published_at: Expr) -> Condition {
    Condition::any()
        .add(Expr::col((users::Entity, users::Column::CreatedAt)).lte(published_at.clone()))
        .add(holds_up(published_at))
}

/// Active salespeople who have not acknowledged `notice_id`, by e-mail, of
/// those `chased`. One statement: the acknowledgements and quotes are probed
/// per salesperson through their indexes, so the worker's tick does not
/// read every acknowledgement, quote and salesperson of the company for
/// each notice.
pub(crate) async fn pending_sales(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    chased: Chased,
) -> Result<Vec<users::Model>, StoreError> {
    let acknowledged = Query::select()
        .expr(Expr::value(1))
        .from(acknowledgements::Entity)
        .and_where(Expr::col((acknowledgements::Entity, acknowledgements::Column::NoticeId)).eq(notice_id))
        .and_where(
            Expr::col((acknowledgements::Entity, acknowledgements::Column::UserId))
                .equals((users::Entity, users::Column::Id)),
        )
        .to_owned();
    let whom = match chased {
        Chased::HoldingUp(published_at) => Condition::all().add(holds_up(Expr::val(published_at))),
        Chased::Asked(published_at) => asked_then(Expr::val(published_at)),
    };
    let query = users::Entity::find()
        .filter(users::Column::Role.eq(Role::Sales.as_str()))
        .filter(users::Column::Active.eq(true))
        .filter(Expr::exists(acknowledged).not())
        .filter(whom);
    Ok(query.order_by_asc(users::Column::Email).all(conn).await?)
}

/// How many people have acknowledged a published notice, and how many of
/// those it asks have yet to: the lengths of the two lists of
/// [`Store::list_acknowledgements`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckCount {
    pub acknowledged: u64,
    /// Of those acknowledged, people who are not salespeople (finance and
    /// admins may acknowledge too; the notice does not ask them).
    pub not_in_sales: u64,
    pub pending: u64,
    /// Of those pending, how many no e-mail about the notice has reached
    /// though one was tried (as [`AckListView::undelivered`] lists them).
    pub not_reached: u64,
}

/// Per notice of `notices`, how many salespeople it asks and waits for
/// ([`asked_then`], active, not acknowledged) have been tried and not
/// reached by any e-mail about it: [`AckListView::undelivered`]'s length,
/// counted by the database for a page of notices at once.
fn not_reached(notices: &[Uuid]) -> sea_orm::sea_query::SelectStatement {
    let (mail, people, notice, acks) = (outbox::Entity, users::Entity, notices::Entity, acknowledgements::Entity);
    let about = [crate::outbox::PUBLICATION, crate::outbox::REMINDER];
    let reached = "reached";
    let sent = Query::select()
        .expr(Expr::value(1))
        .from_as(mail, reached)
        .and_where(Expr::col((reached, outbox::Column::NoticeId)).equals((mail, outbox::Column::NoticeId)))
        .and_where(Expr::col((reached, outbox::Column::UserId)).equals((mail, outbox::Column::UserId)))
        .and_where(Expr::col((reached, outbox::Column::Kind)).is_in(about))
        .cond_where(crate::outbox::reached(reached))
        .to_owned();
    let acknowledged = Query::select()
        .expr(Expr::value(1))
        .from(acks)
        .and_where(Expr::col((acks, acknowledgements::Column::NoticeId)).equals((mail, outbox::Column::NoticeId)))
        .and_where(Expr::col((acks, acknowledgements::Column::UserId)).equals((people, users::Column::Id)))
        .to_owned();
    Query::select()
        .column((mail, outbox::Column::NoticeId))
        .expr_as(Expr::col((mail, outbox::Column::UserId)).count_distinct(), "n")
        .from(mail)
        .inner_join(people, Expr::col((people, users::Column::Id)).equals((mail, outbox::Column::UserId)))
        .inner_join(notice, Expr::col((notice, notices::Column::Id)).equals((mail, outbox::Column::NoticeId)))
        .and_where(Expr::col((mail, outbox::Column::NoticeId)).is_in(notices.iter().copied()))
        .and_where(Expr::col((mail, outbox::Column::Kind)).is_in(about))
        .cond_where(crate::outbox::tried_and_not_sent())
        .and_where(Expr::col((people, users::Column::Role)).eq(Role::Sales.as_str()))
        .and_where(Expr::col((people, users::Column::Active)).eq(true))
        .cond_where(asked_then(Expr::col((notice, notices::Column::PublishedAt))))
        .and_where(Expr::exists(acknowledged).not())
        .and_where(Expr::exists(sent).not())
        .group_by_col((mail, outbox::Column::NoticeId))
        .to_owned()
}

/// A published notice someone has yet to acknowledge (see [`Store::notices_awaiting`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingNotice {
    pub id: Uuid,
    pub title: String,
    pub published_at: DateTime<Utc>,
}

/// A draft quote a notice holds up (see [`Store::quotes_waiting_on`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingQuote {
    pub id: Uuid,
    pub signer_id: Uuid,
    /// Who may edit, reprice or cancel it.
    pub owner_id: Uuid,
    pub customer_name: String,
    pub valid_until: NaiveDate,
}

impl WaitingQuote {
    /// Puts the drafts the notice changes ([`crate::BlockedQuote::changed_by_it`],
    /// as `effects` say) first, each part keeping its order: each person's
    /// held-up drafts are listed so wherever they are listed.
    pub fn sort_changed_first(drafts: &mut [WaitingQuote], effects: &HashMap<Uuid, crate::BlockedQuote>) {
        drafts.sort_by_key(|quote| !effects.get(&quote.id).is_some_and(crate::BlockedQuote::changed_by_it));
    }
}

/// The audit row of an acknowledgement refused to `user_id` (unknown for a
/// link that matches no token), whichever way it came.
pub(crate) fn refused_acknowledgement(
    user_id: Option<Uuid>,
    notice_id: Option<Uuid>,
    channel: Channel,
) -> Refused<'static> {
    Refused {
        actor_id: user_id,
        action: "notice.acknowledge_refused",
        subject_type: "notice",
        subject_id: notice_id,
        detail: json!({ "channel": channel.as_str() }),
    }
}

/// An acknowledgement refused, with the notice it was refused on (none
/// when the database failed rather than the request).
pub(crate) struct AckRefused {
    pub notice_id: Option<Uuid>,
    pub error: StoreError,
}

impl From<StoreError> for AckRefused {
    fn from(error: StoreError) -> Self {
        Self { notice_id: None, error }
    }
}

impl From<sea_orm::DbErr> for AckRefused {
    fn from(error: sea_orm::DbErr) -> Self {
        StoreError::from(error).into()
    }
}

/// `user_id`'s acknowledgements of those of `notice_ids` they have
/// acknowledged, by notice.
pub(crate) async fn acknowledgements_of(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    notice_ids: &[Uuid],
) -> Result<HashMap<Uuid, acknowledgements::Model>, StoreError> {
    let mut acks = HashMap::with_capacity(notice_ids.len());
    for chunk in notice_ids.chunks(IN_LIST_CHUNK) {
        let rows = acknowledgements::Entity::find()
            .filter(acknowledgements::Column::UserId.eq(user_id))
            .filter(acknowledgements::Column::NoticeId.is_in(chunk.iter().copied()))
            .all(conn)
            .await?;
        acks.extend(rows.into_iter().map(|a| (a.notice_id, a)));
    }
    Ok(acks)
}

/// [`acknowledge_in`] for one notice.
pub(crate) async fn acknowledge_one_in(
    txn: &DatabaseTransaction,
    seen_by: Option<&Actor>,
    user_id: Uuid,
    notice_id: Uuid,
    channel: Channel,
    client: ClientInfo,
) -> Result<(AckView, bool), StoreError> {
    let acks = acknowledge_in(txn, seen_by, user_id, &[notice_id], channel, client).await.map_err(|r| r.error)?;
    acks.into_iter().next().ok_or_else(|| StoreError::Internal("no acknowledgement made".into()))
}

/// The acknowledgements themselves, inside a caller's write transaction (the
/// API, the browser and the e-mail link all come through here): `user_id`'s
/// of each of `notice_ids`, in their order (each once), with whether it is
/// new. Acknowledging again changes nothing and returns the first
/// acknowledgement. Five statements however many notices: the notices, the
/// clock, the new rows, the rows as they stand, the audit rows (and on
/// SQLite, the rows as they stood before).
///
/// Refused, naming the notice, at the first that is unknown, not published,
/// or a draft `seen_by` may not see (unknown to all but finance, so refused
/// as a notice that does not exist); `seen_by` is `None` when the caller has
/// checked the link the acknowledgement came by instead.
pub(crate) async fn acknowledge_in(
    txn: &DatabaseTransaction,
    seen_by: Option<&Actor>,
    user_id: Uuid,
    notice_ids: &[Uuid],
    channel: Channel,
    client: ClientInfo,
) -> Result<Vec<(AckView, bool)>, AckRefused> {
    let mut ids = notice_ids.to_vec();
    let mut once = HashSet::new();
    ids.retain(|id| once.insert(*id));
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let notices = notices::Entity::find().filter(notices::Column::Id.is_in(chunk.iter().copied())).all(txn).await?;
        found.extend(notices.into_iter().map(|n| (n.id, n)));
    }
    let mut published = Vec::with_capacity(ids.len());
    for &id in &ids {
        let refused = |error| AckRefused { notice_id: Some(id), error };
        let notice = found
            .get(&id)
            .filter(|n| seen_by.is_none_or(|actor| visible_to(actor, n)))
            .ok_or_else(|| refused(StoreError::not_found("notice")))?;
        let (PUBLISHED, Some(published_at)) = (notice.state.as_str(), notice.published_at) else {
            return Err(refused(StoreError::conflict(
                "notice_not_published",
                "Only a published notice can be acknowledged.",
            )));
        };
        published.push((id, published_at));
    }
    // Inserted in one order whatever the caller's, so that two batches of
    // the same person's never wait on each other's rows in turn.
    published.sort_unstable_by_key(|&(id, _)| id);
    let now = db_now(txn).await?;
    let clip = |s: &Option<String>, n: usize| s.as_ref().map(|s| s.chars().take(n).collect::<String>());
    let (client_addr, user_agent) = (clip(&client.addr, 64), clip(&client.user_agent, 512));
    let rows: Vec<acknowledgements::ActiveModel> = published
        .iter()
        .map(|&(notice_id, notice_published_at)| acknowledgements::ActiveModel {
            id: Set(Uuid::new_v4()),
            notice_id: Set(notice_id),
            user_id: Set(user_id),
            // Never before the notice was published, however the clock stepped.
            acknowledged_at: Set(crate::gate::in_commit_order(now, Some(notice_published_at))),
            notice_published_at: Set(notice_published_at),
            channel: Set(channel.as_str().into()),
            client_addr: Set(client_addr.clone()),
            user_agent: Set(user_agent.clone()),
        })
        .collect();
    // On SQLite a trigger refuses an insert of a pair already acknowledged
    // (it would let `INSERT OR REPLACE` rewrite one: see migration 36), so
    // those are left out first, under the write lock its transaction holds.
    // PostgreSQL's rows cannot be replaced, and two inserts at once there
    // are settled by the conflict clause.
    let rows = match txn.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let had = acknowledgements_of(txn, user_id, &ids).await?;
            rows.into_iter().filter(|r| r.notice_id.try_as_ref().is_none_or(|n| !had.contains_key(n))).collect()
        }
        _ => rows,
    };
    let ours: HashSet<Uuid> = rows.iter().filter_map(|r| r.id.try_as_ref().copied()).collect();
    for chunk in rows.chunks(IN_LIST_CHUNK) {
        acknowledgements::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([acknowledgements::Column::UserId, acknowledgements::Column::NoticeId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    let mut standing = acknowledgements_of(txn, user_id, &ids).await?;
    let mut acknowledged = Vec::with_capacity(ids.len());
    for notice_id in ids {
        let ack = standing
            .remove(&notice_id)
            .ok_or_else(|| StoreError::Internal("acknowledgement vanished after insert".into()))?;
        let new = ours.contains(&ack.id);
        let (acknowledged_at, channel) = (ack.acknowledged_at, ack.channel);
        acknowledged.push((AckView { notice_id, user_id, acknowledged_at, channel }, new));
    }
    let audit: Vec<AuditEntry<'_>> = acknowledged
        .iter()
        .filter(|(_, new)| *new)
        .map(|(ack, _)| AuditEntry {
            at: ack.acknowledged_at,
            actor_id: Some(user_id),
            action: "notice.acknowledged",
            subject_type: "notice",
            subject_id: Some(ack.notice_id),
            detail: json!({ "channel": ack.channel, "client_addr": client_addr }),
        })
        .collect();
    record_many(txn, &audit).await?;
    Ok(acknowledged)
}
