use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pricegate_domain::{Invalid, Sku, Text, limits, parse_date, parse_unit_price};
use pricegate_store::views::{AckListView, AckView, NoticeView, PublishedView};
use pricegate_store::{Channel, NewNotice, NewPriceChange, NoticeFilter, NoticePatch, NoticeState, PublishSeen};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::api::precondition::{
    IDEMPOTENCY_KEY_DOC, IdempotencyKey, IfMatch, Tagged, created, idempotency_key_reused, replayed, tagged,
};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Client, FinanceUser, NoBody, NoParameters};
use crate::{AppError, AppState, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_notices, create_notice))
        .routes(routes!(get_notice, update_notice, delete_notice))
        .routes(routes!(publish_notice))
        .routes(routes!(acknowledge_notice))
        .routes(routes!(list_acknowledgements))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIn {
    pub sku: String,
    /// The new unit price, in the product's currency's minor unit.
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub unit_price_minor: i64,
    /// `YYYY-MM-DD`: the day the new price comes into force.
    #[schema(format = Date, example = "2026-12-01")]
    pub effective_on: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeIn {
    pub title: String,
    /// Markdown.
    pub body: String,
    #[serde(default, deserialize_with = "crate::extract::objects")]
    pub changes: Vec<ChangeIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticePatchIn {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub body: Option<String>,
    /// Replaces every change of the draft.
    #[serde(default, deserialize_with = "crate::extract::objects_not_null")]
    #[schema(nullable = false)]
    pub changes: Option<Vec<ChangeIn>>,
}

fn parse_changes(changes: &[ChangeIn]) -> Result<Vec<NewPriceChange>, Invalid> {
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let within = |e: Invalid| e.within(&format!("changes[{i}]"));
            Ok(NewPriceChange {
                sku: Sku::parse(&c.sku).map_err(within)?,
                unit_price_minor: parse_unit_price("unit_price_minor", c.unit_price_minor).map_err(within)?,
                effective_on: parse_date("effective_on", &c.effective_on).map_err(within)?,
            })
        })
        .collect()
}

/// What an `If-Match` on a draft notice does, as the API document says it.
const IF_MATCH_DOC: &str = "The draft's ETag as last read: a draft changed since is refused with 412 notice_changed. \
    A list matches if one of its tags does; a weak tag never does; * or no header compares nothing; \
    a malformed header is 400 bad_if_match";

/// Draft a price notice.
#[utoipa::path(post, path = "/api/v1/notices", tag = "notices", request_body = NoticeIn, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY_DOC)),
    responses((status = 201, body = NoticeView, headers(("ETag" = String, description = "The notice's revision, for If-Match on writes to the draft"), ("Location" = String, description = "The new notice's address, /api/v1/notices/{id}"))),
        (status = 200, body = NoticeView, description = "Sent again with the Idempotency-Key of a notice drafted before, with the same body: that notice, as it is now; nothing more was drafted", headers(("ETag" = String), ("Location" = String), ("Idempotency-Replayed" = String, description = "true"))),
        (status = 409, body = ErrorBody, description = "idempotency_key_reused: the key drafted a notice this body does not match (another body, or the draft edited or deleted since); the error carries its id where it is still there"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn create_notice(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<NoticeIn>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let new = NewNotice {
        form_key: key,
        title: Text::parse("title", &body.title, limits::TITLE)?,
        body: Text::parse_multiline("body", &body.body, limits::NOTICE_BODY)?,
        changes: parse_changes(&body.changes)?,
    };
    match app.store.create_notice(&finance.actor, new.clone()).await {
        Ok(notice) => Ok(created(format!("/api/v1/notices/{}", notice.id), notice.revision(), notice).into_response()),
        Err(pricegate_store::StoreError::Conflict { code: pricegate_store::NOTICE_DRAFTED_ALREADY, .. }) => {
            let id = pricegate_store::form_row_id(finance.actor.id, key);
            let notice = match app.store.get_notice(&finance.actor, id).await {
                Ok(notice) => notice,
                Err(pricegate_store::StoreError::NotFound { .. }) => {
                    return Err(idempotency_key_reused("a notice, deleted since,".into(), None));
                }
                Err(e) => return Err(e.into()),
            };
            if !new.saved_as(&notice) {
                return Err(idempotency_key_reused(format!("a notice (\u{201c}{}\u{201d})", notice.title), Some(id)));
            }
            Ok(replayed(format!("/api/v1/notices/{id}"), notice.revision(), notice))
        }
        Err(e) => Err(e.into()),
    }
}

/// Edit a draft notice; a published one is immutable (409 `notice_published`).
#[utoipa::path(patch, path = "/api/v1/notices/{id}", tag = "notices", request_body = NoticePatchIn, security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 200, body = NoticeView, headers(("ETag" = String, description = "The notice's revision, for If-Match on writes to the draft"))), (status = 412, body = ErrorBody, description = "The draft changed since the ETag given in If-Match: notice_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn update_notice(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(as_seen, weak_only): IfMatch,
    ApiJson(body): ApiJson<NoticePatchIn>,
) -> Result<Tagged<NoticeView>, AppError> {
    let patch = NoticePatch {
        title: body.title.as_deref().map(|t| Text::parse("title", t, limits::TITLE)).transpose()?,
        body: body.body.as_deref().map(|b| Text::parse_multiline("body", b, limits::NOTICE_BODY)).transpose()?,
        changes: body.changes.as_deref().map(parse_changes).transpose()?,
        as_seen,
    };
    let notice = app.store.update_notice(&finance.actor, id, patch).await.map_err(|e| weak_only.failed(e))?;
    Ok(tagged(notice.revision(), notice))
}

/// Delete a draft notice and its price changes (204); a published one stays
/// on record (409 `notice_published`).
#[utoipa::path(delete, path = "/api/v1/notices/{id}", tag = "notices", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 204), (status = 412, body = ErrorBody, description = "The draft changed since the ETag given in If-Match: notice_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn delete_notice(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    as_seen: IfMatch,
    _: NoBody,
) -> Result<StatusCode, AppError> {
    app.store.delete_draft_notice(&finance.actor, id, as_seen.as_deref()).await.map_err(|e| as_seen.failed(e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a draft: from now on it gates every quote drafted before it. With `If-Match` set to
/// the draft's `ETag`, a draft edited since is refused with 412 `notice_changed`.
#[utoipa::path(post, path = "/api/v1/notices/{id}/publish", tag = "notices", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH_DOC)),
    responses((status = 200, body = PublishedView), (status = 412, body = ErrorBody, description = "The draft changed since the ETag given in If-Match: notice_changed"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(notice = %id))]
pub async fn publish_notice(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    as_seen: IfMatch,
    _: NoBody,
) -> Result<Json<PublishedView>, AppError> {
    Ok(Json(
        app.store
            .publish_notice(&finance.actor, id, PublishSeen { revisions: as_seen.as_deref(), last_seq: None })
            .await
            .map_err(|e| as_seen.failed(e))?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticesQuery {
    /// `draft` or `published` (drafts are finance's: to anyone else there are none).
    pub state: Option<String>,
    /// `true`: only the notices awaiting my acknowledgement; `false` or
    /// absent: every notice.
    pub awaiting: Option<bool>,
    /// At most this many published notices (1–1000); without it, every one.
    /// Finance's drafts, which have no place in publication order, all come
    /// first on the first page, beyond the limit.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The next page: the notices published before the one with this `seq`
    /// (the last `seq` of the page before), without drafts.
    #[param(minimum = 1)]
    pub before: Option<i64>,
}

/// Published notices, newest first (finance also sees drafts, first of
/// all), a page at a time with `limit` and `before`.
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices", params(NoticesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<NoticeView>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_notices(
    State(app): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<NoticesQuery>,
) -> Result<Json<Vec<NoticeView>>, AppError> {
    let state = match q.state.as_deref() {
        None => None,
        Some("draft") => Some(NoticeState::Draft),
        Some("published") => Some(NoticeState::Published),
        Some(_) => return Err(Invalid::new("state", "state must be draft or published.").into()),
    };
    let limit = super::page_limit(q.limit)?;
    if q.before.is_some_and(|seq| seq < 1) {
        return Err(Invalid::new("before", "before is a notice's seq, 1 or more.").into());
    }
    if (q.before.is_some() || q.limit.is_some()) && state == Some(NoticeState::Draft) {
        let field = if q.before.is_some() { "before" } else { "limit" };
        return Err(Invalid::new(field, "Drafts are not paged: they are listed all at once.").into());
    }
    let awaiting = q.awaiting.unwrap_or(false);
    let filter =
        NoticeFilter { state, awaiting, limit, before: q.before, with_changes: true, oldest_first: false, after: None };
    Ok(Json(app.store.list_notices(&auth.actor, filter).await?))
}

/// One notice.
#[utoipa::path(get, path = "/api/v1/notices/{id}", tag = "notices", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = NoticeView, headers(("ETag" = String, description = "The notice's revision, for If-Match on writes to the draft"))), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_notice(
    State(app): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Tagged<NoticeView>, AppError> {
    let notice = app.store.get_notice(&auth.actor, id).await?;
    Ok(tagged(notice.revision(), notice))
}

/// Acknowledge a published notice. Doing it again returns the first acknowledgement.
#[utoipa::path(post, path = "/api/v1/notices/{id}/acknowledge", tag = "notices", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AckView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(notice = %id))]
pub async fn acknowledge_notice(
    State(app): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    Client(client): Client,
    _: NoBody,
) -> Result<Json<AckView>, AppError> {
    // A draft is invisible to everyone but finance: the store answers as if it did not exist.
    let (ack, _) = app.store.acknowledge_notice_as(&auth.actor, id, Channel::Api, client).await?;
    Ok(Json(ack))
}

/// Who has acknowledged a notice, and which salespeople have not.
#[utoipa::path(get, path = "/api/v1/notices/{id}/acknowledgements", tag = "notices", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AckListView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_acknowledgements(
    State(app): State<AppState>,
    _finance: FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<AckListView>, AppError> {
    Ok(Json(app.store.list_acknowledgements(id).await?))
}
