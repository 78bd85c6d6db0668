use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use pricegate_domain::{Invalid, Password};
use pricegate_store::views::{AuditView, UserView};
use pricegate_store::{AuditFilter, LoginOutcome, PasswordChange};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::extract::{ApiJson, ApiQuery, AuthUser, Client, NoBody, NoParameters, StaffUser};
use crate::{AppError, AppState, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(issue_token, revoke_token))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(audit))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(example = "sam@pricegate.example")]
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest").field("email", &self.email).finish_non_exhaustive()
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(serialize_with = "pricegate_store::views::micros")]
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

/// Log in: exchange an e-mail and password for a bearer token. A wrong
/// e-mail or password is 401 `invalid_credentials`, the right password of a
/// deactivated account 403 `account_deactivated`, and too many failures
/// lately 429 `too_many_attempts`.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn issue_token(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, AppError> {
    let checked = match app.store.attempt_login(&body.email, &body.password, &client).await? {
        LoginOutcome::LoggedIn(checked) => checked,
        LoginOutcome::Refused => return Err(wrong_credentials()),
        LoginOutcome::Deactivated => {
            return Err(AppError::new(StatusCode::FORBIDDEN, "account_deactivated", crate::pages::DEACTIVATED_LOGIN));
        }
        LoginOutcome::HeldOff(wait) => return Ok(held_off(wait)),
        LoginOutcome::AtOnce => return Ok(at_once()),
    };
    let issued = app.store.issue_api_token(checked).await?;
    Ok(Json(TokenResponse { token: issued.token, expires_at: issued.expires_at, user: issued.user }).into_response())
}

/// 429 `too_many_attempts` with `Retry-After`: too many wrong passwords
/// lately, for one account from one address, for it from every address, or
/// from one address for every account.
fn held_off(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let message =
        format!("Too many failed logins lately, for this e-mail or from this address: try again in {seconds} s.");
    too_many_attempts(message, seconds)
}

/// 429 `too_many_attempts` with `Retry-After: 1`: as many tries of this
/// password as may be checked are being checked at this moment (logins sent
/// at once), none of them a failure yet.
fn at_once() -> Response {
    too_many_attempts(crate::pages::AT_ONCE.to_owned(), 1)
}

/// 429 `too_many_attempts`, saying `message`, with `Retry-After: seconds`.
fn too_many_attempts(message: String, seconds: u64) -> Response {
    let mut response = AppError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn wrong_credentials() -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "The e-mail address or password is wrong.")
}

/// Log out: revoke the token this request carries.
#[utoipa::path(delete, path = "/api/v1/auth/token", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn revoke_token(State(app): State<AppState>, auth: AuthUser, _: NoBody) -> Result<StatusCode, AppError> {
    app.store.revoke_api_token(&auth.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token is for, and the business's calendar, by which every date
/// in the API is a day.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    /// The business's time zone (`PRICEGATE_TIMEZONE`), by its IANA name
    /// (`Europe/Berlin`): every date in the API (a notice's `effective_on`
    /// and `in_force_from`, a quote's `valid_until`) is a day in it, while
    /// times are in UTC.
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    /// Today in that zone, by the database's clock: the day the gate
    /// counts prices and validity by now.
    pub today: chrono::NaiveDate,
}

/// The token's person, with the business's time zone and today's date in it.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn me(
    State(app): State<AppState>,
    auth: AuthUser,
    _: ApiQuery<NoParameters>,
) -> Result<Json<MeView>, AppError> {
    let today = app.store.today().await?;
    Ok(Json(MeView { user: auth.user, timezone: app.store.calendar().zone_name().to_owned(), today }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    /// At least 10 characters, at most 256.
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChangeRequest").finish_non_exhaustive()
    }
}

/// A wrong current password, as the API and the account page report it.
pub(crate) fn wrong_current_password() -> Invalid {
    Invalid::new("current_password", "The current password is wrong.").with_code("wrong_password")
}

/// A new password as typed, its problems reported under `new_password`.
pub(crate) fn new_password(raw: &str) -> Result<Password, Invalid> {
    Password::parse(raw).map_err(Password::as_new)
}

/// Change your own password. Every session and token of the account ends,
/// this request's too; the answer carries a new token. A wrong
/// `current_password` is 422 `wrong_password` and counts as a failed login.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChangeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = TokenResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn change_password(
    State(app): State<AppState>,
    auth: AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> Result<Response, AppError> {
    if body.current_password.len() > 1024 {
        return Err(wrong_current_password().into());
    }
    let new = new_password(&body.new_password)?;
    let checked = match app.store.change_own_password(&auth.actor, &body.current_password, new, &client).await? {
        PasswordChange::Changed(checked) => checked,
        PasswordChange::WrongPassword => return Err(wrong_current_password().into()),
        PasswordChange::HeldOff(wait) => return Ok(held_off(wait)),
        PasswordChange::AtOnce => return Ok(at_once()),
    };
    let issued = app.store.issue_api_token(checked).await?;
    Ok(Json(TokenResponse { token: issued.token, expires_at: issued.expires_at, user: issued.user }).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How many rows, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The next page: rows older than this entry (the last id of the page before).
    pub before: Option<Uuid>,
    /// Only this action's rows, e.g. `quote.finalised`.
    pub action: Option<String>,
    /// Only the rows about this quote, notice, product or user.
    pub subject: Option<Uuid>,
    /// Only the rows of what this user did (their id).
    pub actor: Option<Uuid>,
    /// Only the rows written at or after this time (RFC 3339, e.g. `2026-12-01T00:00:00Z`).
    #[serde(default, deserialize_with = "query_time")]
    pub since: Option<DateTime<Utc>>,
    /// Only the rows written before this time (RFC 3339); one before
    /// `since` is refused, 400 `invalid_query`.
    #[serde(default, deserialize_with = "query_time")]
    pub until: Option<DateTime<Utc>>,
}

/// A time in an address, RFC 3339. The `+` of a zone ahead of UTC arrives
/// as a space when the address did not write it `%2B` (a query string's `+`
/// is a space): `2026-12-06T00:00:00 13:00` is read as the
/// `2026-12-06T00:00:00+13:00` it was, as no time has a space there.
pub(super) fn query_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(d)? else { return Ok(None) };
    let read = |text: &str| DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc));
    let ahead = raw.rsplit_once(' ').filter(|(_, zone)| {
        let zone = zone.as_bytes();
        zone.len() == 5 && zone[2] == b':' && [0, 1, 3, 4].iter().all(|&i| zone[i].is_ascii_digit())
    });
    let read = match ahead {
        Some((time, zone)) if read(&raw).is_err() => read(&format!("{time}+{zone}")),
        _ => read(&raw),
    };
    read.map(Some).map_err(serde::de::Error::custom)
}

/// The audit log, newest first, a page at a time (`before`), of one action or all, about one subject or all, by one person or all, within a time or all. It can be read, never changed.
#[utoipa::path(get, path = "/api/v1/audit", tag = "auth", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditView>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn audit(
    State(app): State<AppState>,
    StaffUser(staff): StaffUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditView>>, AppError> {
    let limit = super::page_limit(q.limit)?.unwrap_or(100);
    // Before the year 1 no row was written, and PostgreSQL counts no further back than 4713 BC.
    for (name, at) in [("since", q.since), ("until", q.until)] {
        if at.is_some_and(|at| at.year() < 1) {
            return Err(AppError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{name} must be a time from the year 1 on, such as 2026-12-01T00:00:00Z."),
            ));
        }
    }
    super::times_in_order(("since", "until"), (q.since, q.until))?;
    // `action=` with nothing after it filters nothing, as no `action` does.
    let action = q.action.as_deref().filter(|a| !a.is_empty());
    let filter =
        AuditFilter { action, subject: q.subject.map(|id| (id, id)), actor: q.actor, since: q.since, until: q.until };
    let rows = app.store.list_audit(limit, q.before, filter).await?;
    Ok(Json(rows.into_iter().map(|row| row.for_reader(staff.actor.role)).collect()))
}
