//! A salesperson asks finance to approve keeping a draft's old prices: the
//! request is kept (who, why, the lines at an old price as they were), each
//! active colleague in finance who may approve it is e-mailed in the same
//! transaction. The request stays open until finance approves or declines
//! it (the salespeople on the draft are then e-mailed why), the draft is
//! repriced, an edit leaves other lines at an old price than those it asked
//! about, or its salesperson asks again in its place; a finalised or
//! cancelled draft has none open.

use chrono::{DateTime, Utc};
use pricegate_domain::{Role, Text, quote_total};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::load::LoadedQuote;
use super::{DRAFT, PricesSeen, check_draft, check_visible, load_quote, lock_quote, priced_as_seen};
use crate::audit::record;
use crate::db::db_now;
use crate::entity::approval_requests;
use crate::gate::{CoveredPrice, covering_override, priced_lines, superseded_lines};
use crate::views::{SupersededLineView, WaivedLineView};
use crate::{Actor, Store, StoreError};

/// A request that finance approve keeping a draft's old prices.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalRequestView {
    pub id: Uuid,
    pub quote_id: Uuid,
    pub requested_by: Uuid,
    pub reason: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub requested_at: DateTime<Utc>,
    /// The lines at an old price when it was asked.
    pub lines: Vec<WaivedLineView>,
    /// It has not ended (see the module's doc), and the quote is still a
    /// draft with a line at an old price: finance has something to decide.
    pub open: bool,
    /// When it ended, if it has.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Who in finance declined it, if it ended so, and why.
    #[schema(required = true)]
    pub declined_by: Option<Uuid>,
    #[schema(required = true)]
    pub declined_reason: Option<String>,
    /// The quote's lines at an old price are still the ones it names.
    pub lines_as_asked: bool,
}

/// What asking did: a new request, or the open one for the same lines
/// (asked twice: nothing new is written, nobody is e-mailed again).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalAsked {
    #[serde(flatten)]
    pub request: ApprovalRequestView,
    pub new: bool,
    /// How many people in finance were e-mailed: none when asked twice, when
    /// nobody in finance may approve it, or when the service sends no mail.
    pub told: usize,
}

/// What reminding finance of a request did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FinanceReminded {
    #[serde(flatten)]
    pub request: ApprovalRequestView,
    /// How many people in finance were e-mailed the request again: none
    /// when the service sends no mail, or every one was e-mailed about it
    /// in the last ten minutes.
    pub told: usize,
    /// Those left out, e-mailed about it in the last ten minutes.
    pub recently_told: usize,
    /// When the latest of those left out may be reminded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::views::micros_opt")]
    pub again_from: Option<DateTime<Utc>>,
}

/// What declining did: the request, now ended, and how many salespeople
/// were e-mailed why (none when the service sends no mail, or none of those
/// on the quote is an active salesperson).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalDeclined {
    #[serde(flatten)]
    pub request: ApprovalRequestView,
    pub told: usize,
}

/// The lines at an old price as a request keeps them, in one order whatever
/// the lines' (sorted on every field, so equal lists compare equal).
fn covers_of(superseded: &[SupersededLineView]) -> Vec<CoveredPrice> {
    let mut covers: Vec<CoveredPrice> = superseded.iter().map(Into::into).collect();
    covers.sort_unstable();
    covers
}

/// The latest request for `quote_id`, ended or not.
async fn latest_request(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
) -> Result<Option<approval_requests::Model>, StoreError> {
    Ok(approval_requests::Entity::find()
        .filter(approval_requests::Column::QuoteId.eq(quote_id))
        .order_by_desc(approval_requests::Column::RequestedAt)
        .one(conn)
        .await?)
}

/// Quote `id` locked in `txn` for `actor`, who may see it: 403
/// `not_owner_or_signer`, saying `only`, unless they are in sales (so its
/// owner or signer). Finance approves; someone moved from sales to finance
/// with their drafts cannot approve their own, nor ask colleagues for it.
async fn locked_for_its_salesperson(
    txn: &sea_orm::DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
    only: &'static str,
) -> Result<crate::entity::quotes::Model, StoreError> {
    let quote = lock_quote(txn, id).await?;
    check_its_salesperson(actor, &quote, only)?;
    Ok(quote)
}

/// Refuses anyone but the quote's owner or signer, in sales: 403
/// `not_your_quote` to whoever may not see it, `not_owner_or_signer` saying
/// `only` to finance.
pub(super) fn check_its_salesperson(
    actor: &Actor,
    quote: &crate::entity::quotes::Model,
    only: &'static str,
) -> Result<(), StoreError> {
    check_visible(actor, quote)?;
    if actor.role != Role::Sales {
        return Err(StoreError::forbidden("not_owner_or_signer", only));
    }
    Ok(())
}

/// [`StoreError::Forbidden`]'s words to finance reminding itself of a request.
pub(super) const ONLY_SALES_REMIND: &str =
    "Only the quote's owner or signer, in sales, reminds finance of its request for approval.";

/// [`StoreError::Forbidden`]'s words to finance asking for an approval.
pub(super) const ONLY_SALES_ASK: &str = "Only the quote's owner or signer, in sales, asks finance to approve its old \
                                         prices; finance approves them on the quote's page.";

/// The draft `quote_id` read in the caller's transaction (which holds its
/// lock), its lines at an old price, and its request for approval still
/// waiting, if one is (see [`no_open_request`]).
async fn open_request(
    txn: &sea_orm::DatabaseTransaction,
    quote_id: Uuid,
    calendar: pricegate_domain::Calendar,
) -> Result<(LoadedQuote, Vec<SupersededLineView>, Option<approval_requests::Model>), StoreError> {
    let loaded = load_quote(txn, quote_id, calendar).await?;
    let superseded = superseded_lines(&loaded);
    let open = latest_request(txn, quote_id).await?.filter(|r| r.ended_at.is_none() && !superseded.is_empty());
    Ok((loaded, superseded, open))
}

/// 409 `no_open_request`: no request waits, there being nothing to `to_do` (in words).
fn no_open_request(to_do: &str) -> StoreError {
    StoreError::conflict(
        "no_open_request",
        format!(
            "No request to approve this quote's old prices is waiting: it was answered, the quote repriced, or \
             nobody asked. There is nothing to {to_do}."
        ),
    )
}

/// Ends, in the caller's transaction (which holds the quote's lock), the
/// open request for approval of `quote_id`'s old prices, if any: answered by
/// an approval, made moot by a reprice, or replaced by a new request. (A
/// decline ends it with its own word.) Returns whether one was open.
pub(crate) async fn end_requests(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let ended = approval_requests::Entity::update_many()
        .col_expr(approval_requests::Column::EndedAt, Expr::value(now))
        .filter(approval_requests::Column::QuoteId.eq(quote_id))
        .filter(approval_requests::Column::EndedAt.is_null())
        .exec(conn)
        .await?;
    Ok(ended.rows_affected > 0)
}

/// Ends, in the caller's transaction (which holds the quote's lock and has
/// just replaced its lines), the open request for approval of `quote_id`'s
/// old prices if its lines at an old price are no longer the ones it asked
/// about: the request was about those. Returns whether it ended one.
pub(crate) async fn end_if_lines_moved(
    txn: &sea_orm::DatabaseTransaction,
    quote_id: Uuid,
    calendar: pricegate_domain::Calendar,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(open) = latest_request(txn, quote_id).await?.filter(|r| r.ended_at.is_none()) else { return Ok(false) };
    let superseded = superseded_lines(&load_quote(txn, quote_id, calendar).await?);
    let moved = !request_view(open, true, &superseded)?.lines_as_asked;
    if moved {
        end_requests(txn, quote_id, now).await?;
    }
    Ok(moved)
}

fn request_view(
    request: approval_requests::Model,
    open: bool,
    superseded: &[SupersededLineView],
) -> Result<ApprovalRequestView, StoreError> {
    let covers: Vec<CoveredPrice> = serde_json::from_str(&request.covers)
        .map_err(|e| StoreError::Internal(format!("approval request {} has unreadable lines: {e}", request.id)))?;
    Ok(ApprovalRequestView {
        lines_as_asked: covers == covers_of(superseded),
        id: request.id,
        quote_id: request.quote_id,
        requested_by: request.requested_by,
        reason: request.reason,
        requested_at: request.requested_at,
        lines: covers.into_iter().map(Into::into).collect(),
        open: open && request.ended_at.is_none(),
        ended_at: request.ended_at,
        declined_by: request.declined_by,
        declined_reason: request.declined_reason,
    })
}

impl Store {
    /// The owner or the signer of a draft asks finance to approve keeping
    /// its lines at an old price, for `reason`. Every active colleague in
    /// finance who may approve it (not its owner or signer) is e-mailed in
    /// the same transaction. Asked again while the same lines wait, nothing
    /// new is written and nobody is e-mailed twice (`new` is false).
    /// `as_seen`, when given, is the quote as the page showed it: changed
    /// since, or its lines at an old price others by now, is 409
    /// `quote_changed`.
    pub async fn request_approval(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Text,
        as_seen: Option<PricesSeen>,
    ) -> Result<ApprovalAsked, StoreError> {
        let txn = self.begin_write().await?;
        let quote = locked_for_its_salesperson(&txn, actor, id, ONLY_SALES_ASK).await?;
        check_draft(&quote, "needs no approval")?;
        let loaded = load_quote(&txn, id, self.calendar).await?;
        let superseded = superseded_lines(&loaded);
        if superseded.is_empty() {
            return Err(StoreError::conflict(
                "nothing_to_approve",
                "Every line of this quote is at the price in force: there is nothing for finance to approve.",
            ));
        }
        if let Some(approved) = covering_override(&txn, &quote, &superseded).await? {
            return Err(StoreError::conflict(
                "already_overridden",
                format!(
                    "Finance approved keeping these old prices already, at {} (\u{201c}{}\u{201d}): there is nothing \
                     to ask.",
                    self.calendar.stamp(approved.created_at, false),
                    approved.reason
                ),
            ));
        }
        if as_seen.is_some_and(|seen| !priced_as_seen(&quote, &superseded, seen)) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The quote, or the prices now in force for it, changed after you opened it: check its lines at an \
                 old price again, then ask.",
            ));
        }
        if let Some(request) = latest_request(&txn, id).await?.filter(|r| r.ended_at.is_none()) {
            let view = request_view(request, true, &superseded)?;
            if view.lines_as_asked {
                return Ok(ApprovalAsked { request: view, new: false, told: 0 });
            }
        }
        let covers = covers_of(&superseded);
        let covers_json = serde_json::to_string(&covers)
            .map_err(|e| StoreError::Internal(format!("approval request lines not serialisable: {e}")))?;
        let now = db_now(&txn).await?;
        // Asked about other lines before: this request takes its place.
        end_requests(&txn, id, now).await?;
        let row = approval_requests::Model {
            id: Uuid::new_v4(),
            quote_id: id,
            requested_by: actor.id,
            reason: reason.into_inner(),
            covers: covers_json,
            requested_at: now,
            ended_at: None,
            declined_by: None,
            declined_reason: None,
        };
        approval_requests::Entity::insert(approval_requests::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        let detail =
            json!({ "request_id": row.id, "reason": row.reason, "covers": covers, "currency": quote.currency });
        record(&txn, super::audit(now, actor, "quote.approval_requested", id, detail)).await?;
        let total = quote_total(&priced_lines(&loaded.lines))?;
        let told = self.ask_finance_to_approve(&txn, (&quote, total), (&row, &superseded), now, None).await?.told;
        txn.commit().await?;
        let request = request_view(row, true, &superseded)?;
        Ok(ApprovalAsked { request, new: true, told })
    }

    /// The owner or the signer of a draft reminds finance of its request for
    /// approval, still waiting with the lines it asked about: everyone in
    /// finance who may approve it is e-mailed it again, except those
    /// e-mailed about it in the last [`crate::outbox::REMIND_NOW_AGAIN_AFTER_MINUTES`] minutes.
    /// `request`, when given, is the request as the page showed it.
    pub async fn remind_finance(
        &self,
        actor: &Actor,
        id: Uuid,
        request: Option<Uuid>,
    ) -> Result<FinanceReminded, StoreError> {
        let txn = self.begin_write().await?;
        let quote = locked_for_its_salesperson(&txn, actor, id, ONLY_SALES_REMIND).await?;
        check_draft(&quote, "has no request waiting")?;
        let (loaded, superseded, open) = open_request(&txn, id, self.calendar).await?;
        let open = open.ok_or_else(|| no_open_request("remind finance of"))?;
        if request.is_some_and(|shown| shown != open.id) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The request you read is not the one waiting now (it was asked again since): read the quote again.",
            ));
        }
        let view = request_view(open.clone(), true, &superseded)?;
        if !view.lines_as_asked {
            return Err(StoreError::conflict(
                "quote_changed",
                "The lines at an old price, or the prices in force for them, are not those finance was asked \
                 about: ask finance again, about the lines as they are now.",
            ));
        }
        let now = db_now(&txn).await?;
        let total = quote_total(&priced_lines(&loaded.lines))?;
        let asked = self.ask_finance_to_approve(&txn, (&quote, total), (&open, &superseded), now, Some(actor)).await?;
        let detail = json!({ "request_id": open.id, "told": asked.told, "recently_told": asked.recently_told });
        record(&txn, super::audit(now, actor, "quote.approval_reminded", id, detail)).await?;
        txn.commit().await?;
        Ok(FinanceReminded {
            request: view,
            told: asked.told,
            recently_told: asked.recently_told,
            again_from: asked.again_from,
        })
    }

    /// Finance declines the open request to approve keeping a draft's old
    /// prices, for `reason`: the request ends, and whoever asked, and the
    /// draft's owner and signer, are e-mailed why in the same transaction.
    /// `request`, when given, is the request as the page showed it: another
    /// by now (asked again about other lines) is 409 `quote_changed`. Not by
    /// whoever owns or signs the draft (403 `own_quote`), as for approving.
    pub async fn decline_approval(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Text,
        request: Option<Uuid>,
    ) -> Result<ApprovalDeclined, StoreError> {
        if actor.role != Role::Finance {
            return Err(StoreError::forbidden("forbidden", "Only finance may do this."));
        }
        let txn = self.begin_write().await?;
        let quote = lock_quote(&txn, id).await?;
        if actor.id == quote.owner_id || actor.id == quote.signer_id {
            return Err(StoreError::forbidden(
                "own_quote",
                "You own or sign this quote: someone else in finance must answer its request for approval.",
            ));
        }
        check_draft(&quote, "has no request to answer")?;
        let (loaded, superseded, open) = open_request(&txn, id, self.calendar).await?;
        // Its lines at an old price approved already (the approval answered
        // the request, or a price came back to what an approval saw): there
        // is nothing to decline, and whoever tries is told when it was approved.
        if !superseded.is_empty()
            && let Some(approved) = covering_override(&txn, &quote, &superseded).await?
        {
            return Err(StoreError::conflict(
                "already_overridden",
                format!(
                    "Its lines at an old price are approved already, at {} (\u{201c}{}\u{201d}): there is nothing \
                     to decline.",
                    self.calendar.stamp(approved.created_at, false),
                    approved.reason
                ),
            ));
        }
        let open = open.ok_or_else(|| no_open_request("decline"))?;
        if request.is_some_and(|shown| shown != open.id) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The request you read is not the one waiting now (the salesperson asked again since, or it is another \
                 quote's): read the quote's request again, then answer it.",
            ));
        }
        let now = db_now(&txn).await?;
        let reason = reason.into_inner();
        let declined = approval_requests::Model {
            ended_at: Some(now),
            declined_by: Some(actor.id),
            declined_reason: Some(reason.clone()),
            ..open
        };
        approval_requests::Entity::update(approval_requests::ActiveModel {
            id: Set(declined.id),
            ended_at: Set(declined.ended_at),
            declined_by: Set(declined.declined_by),
            declined_reason: Set(declined.declined_reason.clone()),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        let detail = json!({ "request_id": declined.id, "reason": reason, "requested_by": declined.requested_by });
        record(&txn, super::audit(now, actor, "quote.approval_declined", id, detail)).await?;
        let total = quote_total(&priced_lines(&loaded.lines))?;
        let told = self.tell_approval_declined(&txn, actor, (&quote, total), &declined, now).await?;
        txn.commit().await?;
        Ok(ApprovalDeclined { request: request_view(declined, false, &superseded)?, told })
    }

    /// Who asked, and when, for each of `quotes` with a request for approval
    /// that has not ended (the quotes list shows finance the ones it lists).
    pub async fn open_approval_requests(
        &self,
        quotes: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, (Uuid, DateTime<Utc>)>, StoreError> {
        let mut asked = std::collections::HashMap::new();
        for chunk in quotes.chunks(crate::db::IN_LIST_CHUNK) {
            let open = approval_requests::Entity::find()
                .filter(approval_requests::Column::QuoteId.is_in(chunk.iter().copied()))
                .filter(approval_requests::Column::EndedAt.is_null())
                .all(&self.db)
                .await?;
            asked.extend(open.into_iter().map(|r| (r.quote_id, (r.requested_by, r.requested_at))));
        }
        Ok(asked)
    }

    /// The latest request to approve the old prices of a quote `actor` may
    /// see, whether or not it is still open; `None` if nobody has asked.
    pub async fn approval_request(&self, actor: &Actor, id: Uuid) -> Result<Option<ApprovalRequestView>, StoreError> {
        let loaded = super::load_visible_priced(&self.db, actor, id, self.calendar).await?;
        let draft = loaded.quote.state == DRAFT;
        self.approval_request_of(id, draft, &superseded_lines(&loaded)).await
    }

    /// [`Store::approval_request`] of a quote the caller has read (and may
    /// see): a draft or not, with its lines at an old price as the gate
    /// read them (a quote page has them already).
    pub async fn approval_request_of(
        &self,
        id: Uuid,
        draft: bool,
        superseded: &[SupersededLineView],
    ) -> Result<Option<ApprovalRequestView>, StoreError> {
        let Some(request) = latest_request(&self.db, id).await? else { return Ok(None) };
        Ok(Some(request_view(request, draft && !superseded.is_empty(), superseded)?))
    }
}

/// The condition, on `quotes`, of a quote with a request for approval that
/// has not ended (the caller adds that it is a draft, still with a line at an
/// old price).
pub(crate) const AWAITING_APPROVAL_SQL: &str =
    "EXISTS (SELECT 1 FROM approval_requests r WHERE r.quote_id = quotes.id AND r.ended_at IS NULL)";
