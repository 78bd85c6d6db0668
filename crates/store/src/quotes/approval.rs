//! A salesperson asks finance to approve keeping a draft's old prices: the
//! request is kept (who, why, the lines at an old price as they were), each
//! active colleague in finance who may approve it is e-mailed in the same
//! transaction, and the request stays open until finance approves, or the
//! draft is repriced, finalised or cancelled.

use chrono::{DateTime, Utc};
use pricegate_domain::{Role, Text, quote_total};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DRAFT, PricesSeen, check_draft, load_quote, lock_quote, priced_as_seen};
use crate::audit::record;
use crate::db::db_now;
use crate::entity::{approval_requests, price_overrides};
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
    pub requested_at: DateTime<Utc>,
    /// The lines at an old price when it was asked.
    pub lines: Vec<WaivedLineView>,
    /// No approval has answered it yet, and the quote is still a draft with
    /// a line at an old price: finance has something to decide.
    pub open: bool,
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
    /// How many people in finance were e-mailed (none when asked twice, or
    /// when the service sends no mail).
    pub told: usize,
}

/// The lines at an old price as a request keeps them.
fn covers_of(superseded: &[SupersededLineView]) -> Vec<CoveredPrice> {
    let mut covers: Vec<CoveredPrice> = superseded.iter().map(Into::into).collect();
    covers.sort_by(|a, b| (&a.sku, a.quantity, a.discount_bp).cmp(&(&b.sku, b.quantity, b.discount_bp)));
    covers
}

/// The latest request for `quote_id`, with whether an approval came after it.
async fn latest_request(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
) -> Result<Option<(approval_requests::Model, bool)>, StoreError> {
    let Some(request) = approval_requests::Entity::find()
        .filter(approval_requests::Column::QuoteId.eq(quote_id))
        .order_by_desc(approval_requests::Column::RequestedAt)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let answered = price_overrides::Entity::find()
        .filter(price_overrides::Column::QuoteId.eq(quote_id))
        .filter(price_overrides::Column::CreatedAt.gte(request.requested_at))
        .one(conn)
        .await?
        .is_some();
    Ok(Some((request, answered)))
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
        open,
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
        let quote = lock_quote(&txn, id).await?;
        if actor.id != quote.owner_id && actor.id != quote.signer_id {
            return Err(match actor.role {
                Role::Finance => StoreError::forbidden(
                    "not_owner_or_signer",
                    "Finance approves old prices on the quote's page; only its owner or signer asks for that.",
                ),
                _ => StoreError::forbidden("not_your_quote", "This quote belongs to someone else."),
            });
        }
        check_draft(&quote, "needs no approval")?;
        let loaded = load_quote(&txn, id, self.calendar).await?;
        let superseded = superseded_lines(&loaded);
        if superseded.is_empty() {
            return Err(StoreError::conflict(
                "nothing_to_approve",
                "Every line of this quote is at the price in force: there is nothing for finance to approve.",
            ));
        }
        if let Some(approved) = covering_override(&txn, id, &superseded).await? {
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
        if let Some((request, false)) = latest_request(&txn, id).await? {
            let view = request_view(request, true, &superseded)?;
            if view.lines_as_asked {
                return Ok(ApprovalAsked { request: view, new: false, told: 0 });
            }
        }
        let covers = covers_of(&superseded);
        let covers_json = serde_json::to_string(&covers)
            .map_err(|e| StoreError::Internal(format!("approval request lines not serialisable: {e}")))?;
        let now = db_now(&txn).await?;
        let row = approval_requests::Model {
            id: Uuid::new_v4(),
            quote_id: id,
            requested_by: actor.id,
            reason: reason.into_inner(),
            covers: covers_json,
            requested_at: now,
        };
        approval_requests::Entity::insert(approval_requests::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        record(
            &txn,
            crate::audit::AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "quote.approval_requested",
                subject_type: "quote",
                subject_id: Some(id),
                detail: json!({ "request_id": row.id, "reason": row.reason, "covers": covers, "currency": quote.currency }),
            },
        )
        .await?;
        let total = quote_total(&priced_lines(&loaded.lines))?;
        let told = self.ask_finance_to_approve(&txn, actor, (&quote, total), (&row, &superseded), now).await?;
        txn.commit().await?;
        let request = request_view(row, true, &superseded)?;
        Ok(ApprovalAsked { request, new: true, told })
    }

    /// The latest request to approve the old prices of a quote `actor` may
    /// see, whether or not it is still open; `None` if nobody has asked.
    pub async fn approval_request(&self, actor: &Actor, id: Uuid) -> Result<Option<ApprovalRequestView>, StoreError> {
        let loaded = super::load_visible_priced(&self.db, actor, id, self.calendar).await?;
        let Some((request, answered)) = latest_request(&self.db, id).await? else { return Ok(None) };
        let superseded = superseded_lines(&loaded);
        let open = loaded.quote.state == DRAFT && !answered && !superseded.is_empty();
        Ok(Some(request_view(request, open, &superseded)?))
    }
}

/// The condition, on `quotes`, of a draft whose latest request for approval
/// no approval has answered yet (the caller adds that it still has a line at
/// an old price).
pub(crate) const AWAITING_APPROVAL_SQL: &str = "EXISTS (SELECT 1 FROM approval_requests r WHERE r.quote_id = quotes.id \
     AND NOT EXISTS (SELECT 1 FROM price_overrides o WHERE o.quote_id = quotes.id AND o.created_at >= r.requested_at))";
