//! The mail side of the API: a reminder now (finance), and the outbox (admins).

use axum::Json;
use axum::extract::State;
use pricegate_store::{OutboxMessageView, OutboxView, outbox};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::extract::{AdminUser, ApiPath, ApiQuery, FinanceUser, JsonOrNone, NoBody, NoParameters};
use crate::{AppError, AppState, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(remind_now))
        .routes(routes!(list_outbox))
        .routes(routes!(get_outbox_message))
        .routes(routes!(resend_mail))
}

#[derive(Serialize, ToSchema)]
pub struct RemindedView {
    pub notice_id: Uuid,
    /// Reminders queued: one per salesperson who has not acknowledged.
    pub queued: usize,
    /// Salespeople still pending who were left out because they had a
    /// reminder (sent now or on the schedule) in the last 10 minutes.
    pub recently_reminded: usize,
    /// When everyone left out can be reminded again; absent when nobody was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "pricegate_store::views::micros_opt")]
    pub again_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Of those left out, how many have an e-mail about the notice the mail
    /// server deferred (tried, not taken, tried again on its own): they were
    /// not e-mailed, and a reminder would only wait behind it.
    pub mail_deferred: usize,
}

/// Whom "remind now" reminds: the body may be left out, or be `{}`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemindIn {
    /// This salesperson alone, who must still be pending (409 `not_pending` otherwise); without it, everyone pending.
    /// Not `null`: a client meaning one person is not taken to mean everyone.
    #[serde(default, deserialize_with = "someone")]
    #[schema(nullable = false)]
    pub user_id: Option<Uuid>,
}

/// `user_id` as "remind now" reads it: an id, or left out for everyone
/// pending; `null` names nobody, and is refused rather than read as everyone.
fn someone<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Uuid>, D::Error> {
    match <Option<Uuid> as Deserialize>::deserialize(deserializer)? {
        Some(id) => Ok(Some(id)),
        None => Err(serde::de::Error::custom(
            "null names nobody: give a salesperson's id, or leave user_id out to remind everyone pending",
        )),
    }
}

/// Send a reminder now to every salesperson who has not acknowledged the notice (or, with
/// `user_id`, to that one), except those who had one in the last 10 minutes.
#[utoipa::path(post, path = "/api/v1/notices/{id}/remind", tag = "notices", security(("bearer" = [])),
    request_body(content = Option<RemindIn>, description = "Leave out, or `{}`, to remind everyone pending"),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = RemindedView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn remind_now(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    JsonOrNone(whom): JsonOrNone<RemindIn>,
) -> Result<(axum::http::StatusCode, Json<RemindedView>), AppError> {
    let reminded = app.store.remind_now(&finance.actor, id, whom.user_id).await?;
    let view = RemindedView {
        notice_id: id,
        queued: reminded.queued,
        recently_reminded: reminded.recently_reminded,
        again_from: reminded.again_from,
        mail_deferred: reminded.mail_deferred,
    };
    Ok((axum::http::StatusCode::ACCEPTED, Json(view)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `pending`, `sent`, `failed` or `skipped`.
    pub state: Option<String>,
    /// At most this many, newest first (default 200, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Only messages queued before this one (the last of the page before).
    pub before: Option<Uuid>,
    /// Only messages to addresses that contain each word of this, whatever its case.
    pub to: Option<String>,
}

/// The mail outbox, newest first: each message's state, attempts and last error.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "mail", security(("bearer" = [])), params(OutboxQuery),
    responses((status = 200, body = Vec<OutboxView>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_outbox(
    State(app): State<AppState>,
    _admin: AdminUser,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<Vec<OutboxView>>, AppError> {
    if let Some(state) = &query.state
        && ![outbox::PENDING, outbox::SENT, outbox::FAILED, outbox::SKIPPED].contains(&state.as_str())
    {
        return Err(AppError::from(pricegate_domain::Invalid::new(
            "state",
            "state is one of pending, sent, failed or skipped.",
        )));
    }
    let limit = super::page_limit(query.limit)?.unwrap_or(200);
    let to = query.to.as_deref().and_then(crate::pages::search_text);
    Ok(Json(app.store.list_outbox(query.state.as_deref(), to.as_deref(), query.before, limit).await?))
}

/// One message with its text and HTML bodies; acknowledgement links in them
/// are cut short, so reading someone's mail cannot acknowledge for them.
#[utoipa::path(get, path = "/api/v1/outbox/{id}", tag = "mail", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OutboxMessageView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_outbox_message(
    State(app): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<OutboxMessageView>, AppError> {
    Ok(Json(app.store.get_outbox_message(id).await?))
}

/// Send a message that failed for good again, now, once what refused it is
/// put right: a message to a user goes to their address as it is now. Only
/// a `failed` message (409 `mail_not_failed`), not to someone deactivated
/// (409 `user_inactive`), and not a link to choose a password (409
/// `send_a_new_link`). Audited as `mail.resent`.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/resend", tag = "mail", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OutboxView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn resend_mail(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    _: NoBody,
) -> Result<Json<OutboxView>, AppError> {
    Ok(Json(app.store.resend_mail(&admin.actor, id).await?))
}
