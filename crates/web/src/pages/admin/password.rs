//! An administrator setting someone's password, or sending them a link to choose one.

use axum::extract::State;
use axum::response::Response;
use pricegate_domain::Password;
use pricegate_store::{StoreError, UserPatch};

use super::done::Done;
use super::user_edit::refused_on_list;
use crate::AppState;
use crate::pages::{Admin, CsrfForm, PageError, PageId};

/// Sets a new password for someone who lost theirs (see
/// [`pricegate_store::Store::update_user`]: it ends their sessions and API
/// tokens). An admin's own password is changed on their account page, where
/// the current one is asked for.
pub(super) async fn set_password(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    let password = match crate::api::auth::new_password(form.get("new_password")) {
        Ok(password) => password,
        Err(e) => return refused_on_list(&app, &user, (id, "password"), "No new password", &e.message).await,
    };
    let patch = UserPatch { password: Some(password), ..UserPatch::default() };
    match app.store.update_user(&user.0.actor, id, patch).await {
        Ok(_) => Ok(Done::PasswordSet(id).back_to_list(&user.seal(&app))),
        // The rules the form could not check alone: none built on their name or address.
        Err(StoreError::Invalid(e)) => {
            refused_on_list(&app, &user, (id, "password"), "No new password", &Password::as_new(e).message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// E-mails someone a link to choose a password: the way to give a new
/// password without typing one for them.
pub(super) async fn send_password_link(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    match app.store.send_password_link(&user.0.actor, id).await {
        Ok(_) => Ok(Done::LinkSent(id).back_to_list(&user.seal(&app))),
        Err(StoreError::Conflict { message, .. }) => {
            refused_on_list(&app, &user, (id, "password"), "No link sent", &message).await
        }
        Err(e) => Err(e.into()),
    }
}
