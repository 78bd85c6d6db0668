use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pricegate_domain::quote_reference;
use pricegate_domain::{Currency, CustomerEmail, DiscountBp, Invalid, Quantity, Sku, Text, limits, parse_date};
use pricegate_store::views::{GateView, OverrideView, QuoteView, RepriceView, UpcomingPriceView};
use pricegate_store::{
    Actor, ApprovalAsked, ApprovalDeclined, ApprovalRequestView, DRAFTED_ALREADY, FinanceReminded, NewLine, NewQuote,
    PricesSeen, QuoteFilter, QuotePatch, QuoteRight, QuoteSearch, StoreError, form_row_id,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::api::precondition::{
    CreatedAt, IDEMPOTENCY_KEY_DOC, IdempotencyKey, IfMatch, Tagged, created, created_at, idempotency_key_reused,
    replayed, tagged,
};
use crate::extract::{ApiJson, ApiPath, ApiQuery, FinanceUser, NoBody, NoParameters, QuoteUser, SalesUser};
use crate::{AppError, AppState, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_quotes, create_quote))
        .routes(routes!(get_quote, update_quote))
        .routes(routes!(quote_gate))
        .routes(routes!(upcoming_prices))
        .routes(routes!(finalise_quote))
        .routes(routes!(reprice_quote))
        .routes(routes!(cancel_quote))
        .routes(routes!(override_prices))
        .routes(routes!(request_approval, approval_request))
        .routes(routes!(decline_approval))
        .routes(routes!(remind_finance))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub company: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchIn {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub company: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    pub sku: String,
    /// 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
    /// Discount in basis points (0–10000); 0 when absent.
    #[schema(minimum = 0, maximum = 10000)]
    pub discount_bp: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteIn {
    #[serde(deserialize_with = "crate::extract::object")]
    pub customer: CustomerIn,
    /// ISO 4217; every line's product must be priced in it.
    pub currency: String,
    /// `YYYY-MM-DD`, today or later, by the business's day (`PRICEGATE_TIMEZONE`).
    #[schema(format = Date, example = "2026-12-31")]
    pub valid_until: String,
    /// The salesperson who will sign; the creator when absent.
    pub signer_id: Option<Uuid>,
    pub notes: Option<String>,
    #[serde(deserialize_with = "crate::extract::objects")]
    pub lines: Vec<LineIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotePatchIn {
    #[serde(default, deserialize_with = "crate::extract::object_not_null")]
    #[schema(nullable = false)]
    pub customer: Option<CustomerPatchIn>,
    #[schema(format = Date)]
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub valid_until: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub signer_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub notes: Option<String>,
    /// Replaces every line. Skus already on the quote keep their price snapshot.
    #[serde(default, deserialize_with = "crate::extract::objects_not_null")]
    #[schema(nullable = false)]
    pub lines: Option<Vec<LineIn>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideIn {
    /// Why finalising at a superseded price is right; kept with the evidence.
    pub reason: String,
    /// The gate's `superseded_tag` as finance read it: the approval is
    /// refused (412 `quote_changed`) if the lines at an old price, or the
    /// prices now in force for them, are others by now (a publication moves
    /// no `ETag`).
    pub superseded_tag: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequestIn {
    /// Why the customer should keep the old prices: finance reads it in
    /// the e-mail and on the quote's page.
    pub reason: String,
    /// The gate's `superseded_tag` as the salesperson read it: the request
    /// is refused (412 `quote_changed`) if the lines at an old price, or the
    /// prices now in force for them, are others by now.
    pub superseded_tag: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineIn {
    /// Why the quote may not keep its old prices: e-mailed to the
    /// salespeople on it.
    pub reason: String,
    /// The request as finance read it (`GET …/approval-request`'s `id`): a
    /// request asked again since, about other lines, is 409 `quote_changed`.
    pub request_id: Option<Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuotesQuery {
    /// `draft`, `finalised` or `cancelled`.
    pub state: Option<String>,
    /// At most this many (1–1000); without it, every quote.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The next page: the quotes after this one (the last id of the page before).
    pub before: Option<Uuid>,
    /// Only quotes whose customer's name, company or e-mail address contains
    /// this, in any case, or whose reference (the id's first eight
    /// hexadecimal digits) it is; at most 200 characters.
    pub search: Option<String>,
    /// `true`: only drafts with a line quoted at a price no longer in force
    /// today, to reprice or to have finance approve (approved or not: the
    /// gate says).
    pub at_old_prices: Option<bool>,
    /// `true`: only drafts whose owner or signer asked finance to approve
    /// keeping their old prices, with no approval since, and still with a
    /// line at an old price.
    pub awaiting_approval: Option<bool>,
    /// Only quotes finalised at or after this time (RFC 3339, e.g.
    /// `2026-11-01T00:00:00+01:00`).
    #[serde(default, deserialize_with = "super::auth::query_time")]
    pub finalised_since: Option<DateTime<Utc>>,
    /// Only quotes finalised before this time (RFC 3339); one before
    /// `finalised_since` is refused, 400 `invalid_query`.
    #[serde(default, deserialize_with = "super::auth::query_time")]
    pub finalised_until: Option<DateTime<Utc>>,
}

/// The quote as the caller read it, from `If-Match` and the gate's
/// `superseded_tag`, when they say either.
fn prices_seen(revisions: Option<Vec<i64>>, superseded: Option<String>) -> Option<PricesSeen> {
    (revisions.is_some() || superseded.is_some()).then_some(PricesSeen { revisions, superseded })
}

fn parse_lines(lines: &[LineIn]) -> Result<Vec<NewLine>, Invalid> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let within = |e: Invalid| e.within(&format!("lines[{i}]"));
            Ok(NewLine {
                sku: Sku::parse(&l.sku).map_err(within)?,
                quantity: Quantity::parse(l.quantity).map_err(within)?,
                discount: DiscountBp::parse(l.discount_bp.unwrap_or(0)).map_err(within)?,
            })
        })
        .collect()
}

/// Draft a quote. `drafted_at` is set now and never moves.
#[utoipa::path(post, path = "/api/v1/quotes", tag = "quotes", request_body = QuoteIn, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY_DOC)),
    responses((status = 201, body = QuoteView, headers(("ETag" = String, description = "The quote's revision, for If-Match on its writes"), ("Location" = String, description = "The new quote's address, /api/v1/quotes/{id}"))),
        (status = 200, body = QuoteView, description = "Sent again with the Idempotency-Key of a quote drafted before, with the same body: that quote, as it is now; nothing more was drafted", headers(("ETag" = String), ("Location" = String), ("Idempotency-Replayed" = String, description = "true"))),
        (status = 409, body = ErrorBody, description = "idempotency_key_reused: the key drafted a quote this body does not match (another body, or the quote edited or handed over since); the error carries its id where you may still read it"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn create_quote(
    State(app): State<AppState>,
    SalesUser(sales): SalesUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<QuoteIn>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let new = NewQuote {
        form_key: key,
        customer_name: Text::parse("customer.name", &body.customer.name, limits::NAME)?,
        customer_email: CustomerEmail::parse(&body.customer.email)?,
        customer_company: Text::parse_optional("customer.company", &body.customer.company, limits::NAME)?,
        currency: Currency::parse(&body.currency)?,
        valid_until: parse_date("valid_until", &body.valid_until)?,
        notes: Text::parse_multiline_optional("notes", body.notes.as_deref().unwrap_or(""), limits::NOTES)?,
        signer_id: body.signer_id,
        lines: parse_lines(&body.lines)?,
        copied_from: None,
    };
    match app.store.create_quote(&sales.actor, new.clone()).await {
        Ok(quote) => Ok(created(format!("/api/v1/quotes/{}", quote.id), quote.revision(), quote).into_response()),
        Err(StoreError::Conflict { code: DRAFTED_ALREADY, .. }) => {
            let id = form_row_id(sales.actor.id, key);
            let quote = match app.store.get_quote(&sales.actor, id).await {
                Ok(quote) => quote,
                // Handed to a colleague since: theirs to read now.
                Err(StoreError::Forbidden { .. }) => {
                    let what = format!("a quote ({}), handed to someone else since,", quote_reference(id));
                    return Err(idempotency_key_reused(what, None));
                }
                Err(e) => return Err(e.into()),
            };
            if !new.drafted_as(&quote) {
                let what = format!("a quote ({}, for {})", quote_reference(id), quote.customer.name);
                return Err(idempotency_key_reused(what, Some(id)));
            }
            Ok(replayed(format!("/api/v1/quotes/{id}"), quote.revision(), quote))
        }
        Err(e) => Err(e.into()),
    }
}

/// Quotes I own or sign (finance: all), newest drafted first, a page at a
/// time with `limit` and `before`, of one `state`, or found by `search`.
#[utoipa::path(get, path = "/api/v1/quotes", tag = "quotes", params(QuotesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<QuoteView>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_quotes(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiQuery(q): ApiQuery<QuotesQuery>,
) -> Result<Json<Vec<QuoteView>>, AppError> {
    if let Some(state) = &q.state
        && !["draft", "finalised", "cancelled"].contains(&state.as_str())
    {
        return Err(Invalid::new("state", "state must be draft, finalised or cancelled.").into());
    }
    let limit = super::page_limit(q.limit)?;
    super::times_in_order(("finalised_since", "finalised_until"), (q.finalised_since, q.finalised_until))?;
    let search = QuoteSearch::parse("search", q.search.as_deref().unwrap_or(""))?;
    let filter = QuoteFilter {
        state: q.state,
        limit,
        before: q.before,
        after_listed: None,
        by_finalising: false,
        finalised_within: (q.finalised_since, q.finalised_until),
        with_skus: None,
        search,
        at_old_prices: q.at_old_prices.unwrap_or(false),
        awaiting_approval: q.awaiting_approval.unwrap_or(false),
    };
    Ok(Json(app.store.list_quotes(&user.actor, filter).await?))
}

/// One quote, with its evidence once finalised.
#[utoipa::path(get, path = "/api/v1/quotes/{id}", tag = "quotes", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = QuoteView, headers(("ETag" = String, description = "The quote's revision, for If-Match on its writes"))), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_quote(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Tagged<QuoteView>, AppError> {
    let quote = app.store.get_quote(&user.actor, id).await?;
    Ok(tagged(quote.revision(), quote))
}

/// What an `If-Match` on a quote does, as the API document says it.
const IF_MATCH_DOC: &str = "The quote's ETag as last read: a quote changed since is refused with 412 quote_changed. \
    A list matches if one of its tags does; a weak tag never does; * or no header compares nothing; \
    a malformed header is 400 bad_if_match";

/// Edit a draft's customer, validity, notes, signer or lines.
#[utoipa::path(patch, path = "/api/v1/quotes/{id}", tag = "quotes", request_body = QuotePatchIn, security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 200, body = QuoteView, headers(("ETag" = String, description = "The quote's revision, for If-Match on its writes"))), (status = 412, body = ErrorBody, description = "The quote changed since the ETag given in If-Match: quote_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn update_quote(
    State(app): State<AppState>,
    SalesUser(sales): SalesUser,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(as_seen, weak_only): IfMatch,
    body: Result<ApiJson<QuotePatchIn>, AppError>,
) -> Result<Tagged<QuoteView>, AppError> {
    let patch = match body.and_then(|ApiJson(body)| quote_patch(body, as_seen)) {
        Ok(patch) => patch,
        Err(refused) => return Err(refused_body(&app, &sales.actor, id, QuoteRight::Change, refused).await),
    };
    // The new revision, for the next If-Match without reading it again (an
    // edit that changes nothing keeps it).
    let quote = app.store.update_quote(&sales.actor, id, patch).await.map_err(|e| weak_only.failed(e))?;
    Ok(tagged(quote.revision(), quote))
}

/// What a body's fault (it does not parse, a field is refused) becomes: said
/// only to whoever may send this request about quote `id`; anyone else is
/// refused as a good body would have been (see
/// [`pricegate_store::Store::check_quote_right`]).
async fn refused_body(app: &AppState, actor: &Actor, id: Uuid, right: QuoteRight, refused: AppError) -> AppError {
    match app.store.check_quote_right(actor, id, right).await {
        Ok(()) => refused,
        Err(e) => e.into(),
    }
}

/// An edit as the API's body asks for it, each field read as on the form.
fn quote_patch(body: QuotePatchIn, as_seen: Option<Vec<i64>>) -> Result<QuotePatch, AppError> {
    let customer = body.customer.as_ref();
    Ok(QuotePatch {
        customer_name: customer
            .and_then(|c| c.name.as_deref())
            .map(|n| Text::parse("customer.name", n, limits::NAME))
            .transpose()?,
        customer_email: customer.and_then(|c| c.email.as_deref()).map(CustomerEmail::parse).transpose()?,
        customer_company: customer
            .and_then(|c| c.company.as_deref())
            .map(|n| Text::parse_optional("customer.company", n, limits::NAME))
            .transpose()?,
        valid_until: body.valid_until.as_deref().map(|d| parse_date("valid_until", d)).transpose()?,
        notes: body.notes.as_deref().map(|n| Text::parse_multiline_optional("notes", n, limits::NOTES)).transpose()?,
        signer_id: body.signer_id,
        lines: body.lines.as_deref().map(parse_lines).transpose()?,
        as_seen,
        resent: None,
    })
}

/// Would finalising succeed now? If not, which notices are pending and what they do to this quote.
#[utoipa::path(get, path = "/api/v1/quotes/{id}/gate", tag = "quotes", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = GateView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn quote_gate(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<GateView>, AppError> {
    Ok(Json(app.store.quote_gate(&user.actor, id).await?))
}

/// Prices already published that a draft meets if it is finalised later.
#[derive(serde::Serialize, ToSchema)]
pub struct UpcomingPricesView {
    /// By product and date. Empty for a quote that is no longer a draft.
    pub upcoming: Vec<UpcomingPriceView>,
}

/// The prices already published for the quote's products that take force after today and by its `valid_until`, by
/// notices the gate does not wait for: those the signer acknowledged, and those published before the quote was
/// drafted (`acknowledged_by_signer` says which). Finalised before such a date, the quote keeps its price; from then
/// on, its line is at a price no longer in force (reprice, or finance approves keeping it). The quote page shows the
/// same list.
#[utoipa::path(get, path = "/api/v1/quotes/{id}/upcoming-prices", tag = "quotes", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UpcomingPricesView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn upcoming_prices(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<UpcomingPricesView>, AppError> {
    let quote = app.store.get_quote(&user.actor, id).await?;
    let gate = match app.store.quote_gate(&user.actor, id).await {
        Ok(gate) => gate,
        // Finalised or cancelled (by now, too): it meets nothing.
        Err(pricegate_store::StoreError::Conflict { code: "quote_not_draft", .. }) => {
            return Ok(Json(UpcomingPricesView { upcoming: Vec::new() }));
        }
        Err(e) => return Err(e.into()),
    };
    let pending = gate.pending.iter().map(|p| p.notice_id).collect();
    Ok(Json(UpcomingPricesView { upcoming: app.store.upcoming_for_quote(&quote, &pending).await? }))
}

/// Finalise: refused with 409 `pending_acknowledgements` (listing each pending notice and its price
/// impact) until the signer has acknowledged every notice published since the quote was drafted.
/// With `If-Match` set to the quote's `ETag` (from `GET /api/v1/quotes/{id}`), a quote changed
/// since is refused with 412 `quote_changed`.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/finalise", tag = "quotes", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 200, body = QuoteView, headers(("ETag" = String, description = "The quote's revision, for If-Match on its writes"))), (status = 412, body = ErrorBody, description = "The quote changed since the ETag given in If-Match: quote_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(quote = %id))]
pub async fn finalise_quote(
    State(app): State<AppState>,
    SalesUser(sales): SalesUser,
    ApiPath(id): ApiPath<Uuid>,
    as_seen: IfMatch,
    body: Result<NoBody, AppError>,
) -> Result<Tagged<QuoteView>, AppError> {
    if let Err(refused) = body {
        return Err(refused_body(&app, &sales.actor, id, QuoteRight::Finalise, refused).await);
    }
    let quote = app.store.finalise_quote(&sales.actor, id, as_seen.as_deref()).await.map_err(|e| as_seen.failed(e))?;
    Ok(tagged(quote.revision(), quote))
}

/// Re-snapshot every line at the price in force today.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/reprice", tag = "quotes", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 200, body = RepriceView, headers(("ETag" = String, description = "The quote's revision, for If-Match on its writes"))), (status = 412, body = ErrorBody, description = "The quote changed since the ETag given in If-Match: quote_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn reprice_quote(
    State(app): State<AppState>,
    SalesUser(sales): SalesUser,
    ApiPath(id): ApiPath<Uuid>,
    as_seen: IfMatch,
    body: Result<NoBody, AppError>,
) -> Result<Tagged<RepriceView>, AppError> {
    if let Err(refused) = body {
        return Err(refused_body(&app, &sales.actor, id, QuoteRight::Change, refused).await);
    }
    let IfMatch(revisions, weak_only) = as_seen;
    let as_seen = revisions.map(|revisions| PricesSeen { revisions: Some(revisions), superseded: None });
    let repriced = app.store.reprice_quote(&sales.actor, id, as_seen).await.map_err(|e| weak_only.failed(e))?;
    Ok(tagged(repriced.quote.revision(), repriced))
}

/// Cancel a draft.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/cancel", tag = "quotes", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 200, body = QuoteView, headers(("ETag" = String, description = "The quote's revision, for If-Match on its writes"))), (status = 412, body = ErrorBody, description = "The quote changed since the ETag given in If-Match: quote_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn cancel_quote(
    State(app): State<AppState>,
    SalesUser(sales): SalesUser,
    ApiPath(id): ApiPath<Uuid>,
    as_seen: IfMatch,
    body: Result<NoBody, AppError>,
) -> Result<Tagged<QuoteView>, AppError> {
    if let Err(refused) = body {
        return Err(refused_body(&app, &sales.actor, id, QuoteRight::Change, refused).await);
    }
    let quote = app.store.cancel_quote(&sales.actor, id, as_seen.as_deref()).await.map_err(|e| as_seen.failed(e))?;
    Ok(tagged(quote.revision(), quote))
}

/// Finance approves finalising a draft at the superseded prices its lines carry now (409 `nothing_to_override` if none, 409 `already_overridden` if an approval covers them already: sent twice, it is one); a price superseded later needs a new approval. Acknowledgements are still required.
/// With `If-Match`, a quote edited since finance read it is refused with 412 `quote_changed`
/// (a publication moves no revision: the answer's `waives` lists what the approval covers).
#[utoipa::path(post, path = "/api/v1/quotes/{id}/override", tag = "quotes", request_body = OverrideIn, security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 201, body = OverrideView, headers(("Location" = String, description = "The quote's gate, /api/v1/quotes/{id}/gate, whose price_override it is now"))), (status = 412, body = ErrorBody, description = "The quote changed since the ETag given in If-Match: quote_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn override_prices(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(as_seen, weak_only): IfMatch,
    ApiJson(body): ApiJson<OverrideIn>,
) -> Result<CreatedAt<OverrideView>, AppError> {
    let reason = Text::parse_multiline("reason", &body.reason, limits::REASON)?;
    let as_seen = prices_seen(as_seen, body.superseded_tag);
    let approval =
        app.store.override_prices(&finance.actor, id, reason, as_seen).await.map_err(|e| weak_only.failed(e))?;
    Ok(created_at(format!("/api/v1/quotes/{id}/gate"), approval))
}

/// The quote's owner or signer asks finance to approve keeping the old prices its lines carry now, for `reason`: every
/// active colleague in finance who may approve it is e-mailed (outbox kind `approval_request`). 201 with the new
/// request; 200 with the open one when the same lines were asked about already (nobody is e-mailed again). 409
/// `nothing_to_approve` when every line is at the price in force, 409 `already_overridden` when an approval covers them.
/// With `If-Match` (or `superseded_tag`), a quote changed since it was read is refused with 412 `quote_changed`.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/approval-request", tag = "quotes", request_body = ApprovalRequestIn,
    security(("bearer" = [])), params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 201, body = ApprovalAsked, headers(("Location" = String, description = "/api/v1/quotes/{id}/approval-request, where it is read"))), (status = 200, body = ApprovalAsked, description = "Asked already for these lines"), (status = 412, body = ErrorBody, description = "The quote changed since the ETag given in If-Match: quote_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn request_approval(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(as_seen, weak_only): IfMatch,
    body: Result<ApiJson<ApprovalRequestIn>, AppError>,
) -> Result<Response, AppError> {
    let read = body.and_then(|ApiJson(body)| {
        Ok((Text::parse_multiline("reason", &body.reason, limits::REASON)?, body.superseded_tag))
    });
    let (reason, superseded_tag) = match read {
        Ok(read) => read,
        Err(refused) => return Err(refused_body(&app, &user.actor, id, QuoteRight::AskApproval, refused).await),
    };
    let as_seen = prices_seen(as_seen, superseded_tag);
    let asked = app.store.request_approval(&user.actor, id, reason, as_seen).await.map_err(|e| weak_only.failed(e))?;
    Ok(if asked.new {
        created_at(format!("/api/v1/quotes/{id}/approval-request"), asked).into_response()
    } else {
        Json(asked).into_response()
    })
}

/// The latest request to approve the quote's old prices, open or answered (`open` says); 404
/// `no_approval_request` when nobody has asked.
#[utoipa::path(get, path = "/api/v1/quotes/{id}/approval-request", tag = "quotes", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ApprovalRequestView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn approval_request(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<ApprovalRequestView>, AppError> {
    match app.store.approval_request(&user.actor, id).await? {
        Some(request) => Ok(Json(request)),
        None => Err(AppError::new(
            StatusCode::NOT_FOUND,
            "no_approval_request",
            "Nobody has asked finance to approve this quote's old prices.",
        )),
    }
}

/// The quote's owner or signer reminds finance of the request to approve its old prices, still waiting with the lines
/// it asked about: everyone in finance who may approve it and was not e-mailed about it in the last ten minutes is
/// e-mailed it again (outbox kind `approval_request`). 200 with `told`, `recently_told` (those left out) and
/// `again_from` (when they may be reminded). 409 `no_open_request` when none is waiting, 409 `quote_changed` when
/// the lines at an old price, or the prices in force for them, are no longer those asked about: ask again instead.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/approval-request/remind", tag = "quotes", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = FinanceReminded), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn remind_finance(
    State(app): State<AppState>,
    QuoteUser(user): QuoteUser,
    ApiPath(id): ApiPath<Uuid>,
    body: Result<NoBody, AppError>,
) -> Result<Json<FinanceReminded>, AppError> {
    if let Err(refused) = body {
        return Err(refused_body(&app, &user.actor, id, QuoteRight::RemindFinance, refused).await);
    }
    Ok(Json(app.store.remind_finance(&user.actor, id, None).await?))
}

/// Finance declines the open request to approve the quote's old prices, for `reason`: the request ends, and whoever
/// asked and the quote's owner and signer (active salespeople) are e-mailed why (outbox kind `approval_declined`).
/// 409 `no_open_request` when none is waiting; 403 `own_quote` for someone who owns or signs the quote.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/approval-request/decline", tag = "quotes", request_body = DeclineIn,
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = ApprovalDeclined), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn decline_approval(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DeclineIn>,
) -> Result<Json<ApprovalDeclined>, AppError> {
    let reason = Text::parse_multiline("reason", &body.reason, limits::REASON)?;
    Ok(Json(app.store.decline_approval(&finance.actor, id, reason, body.request_id).await?))
}
