use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pricegate_domain::{Email, Password, Role, Text, limits};
use pricegate_store::views::UserView;
use pricegate_store::{NewUser, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::extract::{AdminUser, ApiJson, ApiPath, ApiQuery, NoBody, NoParameters, StaffUser};
use crate::{AppError, AppState, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(hand_over))
        .routes(routes!(send_password_link))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub email: String,
    pub name: String,
    /// `sales`, `finance` or `admin`.
    #[schema(value_type = pricegate_store::views::RoleName)]
    pub role: String,
    /// At least 10 characters. Left out, the new account is e-mailed an
    /// invitation to choose their own (a link that works for 7 days).
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UserPatchIn {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// A corrected address; another user's is 409 `email_taken`.
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false, value_type = Option<pricegate_store::views::RoleName>)]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub password: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserIn, security(("bearer" = [])),
    responses((status = 201, body = UserView, headers(("Location" = String, description = "The new account's address, /api/v1/users/{id}"))), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn create_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<UserIn>,
) -> Result<super::precondition::CreatedAt<UserView>, AppError> {
    let new = NewUser {
        email: Email::parse(&body.email)?,
        name: Text::parse("name", &body.name, limits::NAME)?,
        role: Role::parse(&body.role)?,
        password: body.password.as_deref().map(Password::parse).transpose()?,
    };
    let user = app.store.create_user(Some(&admin.actor), new).await?;
    Ok(super::precondition::created_at(format!("/api/v1/users/{}", user.id), user))
}

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_users(
    State(app): State<AppState>,
    _staff: StaffUser,
    _: ApiQuery<NoParameters>,
) -> Result<Json<Vec<UserView>>, AppError> {
    Ok(Json(app.store.list_users().await?))
}

/// One user, as the list shows them; 404 `not_found` for an unknown id.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_user(
    State(app): State<AppState>,
    _staff: StaffUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<UserView>, AppError> {
    Ok(Json(app.store.get_user(id).await?))
}

/// Change a user's name, role, password, or whether they may log in.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserPatchIn, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn update_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserPatchIn>,
) -> Result<Json<UserView>, AppError> {
    let patch = UserPatch {
        name: body.name.as_deref().map(|n| Text::parse("name", n, limits::NAME)).transpose()?,
        email: body.email.as_deref().map(Email::parse).transpose()?,
        role: body.role.as_deref().map(Role::parse).transpose()?,
        active: body.active,
        password: body.password.as_deref().map(Password::parse).transpose()?,
    };
    Ok(Json(app.store.update_user(&admin.actor, id, patch).await?.user))
}

#[derive(Serialize, ToSchema)]
pub struct PasswordLinkSentView {
    /// Where the link goes: the account's address.
    pub to: String,
    /// How many days the link works after the e-mail is sent.
    pub works_for_days: i64,
}

/// E-mail a user a link to choose their password (an invitation, or a way
/// back in for someone who cannot log in). It is queued at once and works
/// once, for 7 days after it is sent; their password stays as it is until
/// the link is used, and a new password, a deactivation or a corrected
/// address ends it. A deactivated account is 409 `user_inactive`; one's own
/// is 409 `own_password`.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-link", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = PasswordLinkSentView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn send_password_link(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    _: NoBody,
) -> Result<(StatusCode, Json<PasswordLinkSentView>), AppError> {
    let to = app.store.send_password_link(&admin.actor, id).await?;
    let works_for_days = pricegate_store::INVITATION_LINK_DAYS;
    Ok((StatusCode::ACCEPTED, Json(PasswordLinkSentView { to, works_for_days })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOverIn {
    /// The active salesperson who takes the quotes over.
    pub to: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct HandedOverView {
    /// Draft quotes that changed hands, owned or signed (one both owned and
    /// signed counts once here, and in each of the two below).
    pub drafts: u64,
    /// Draft quotes the user owned, now owned by `to`.
    pub owned: u64,
    /// Draft quotes the user signed, now signed by `to`.
    pub signed: u64,
}

/// Hand a user's draft quotes to another salesperson: `to` becomes the owner
/// of every draft they own and the signer of every draft they sign (someone
/// leaving, or moving out of sales). `drafted_at` does not move.
#[utoipa::path(post, path = "/api/v1/users/{id}/handover", tag = "users", request_body = HandOverIn, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = HandedOverView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn hand_over(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<HandOverIn>,
) -> Result<Json<HandedOverView>, AppError> {
    let done = app.store.hand_over_quotes(&admin.actor, id, body.to).await?;
    Ok(Json(HandedOverView { drafts: done.drafts, owned: done.owned, signed: done.signed }))
}
