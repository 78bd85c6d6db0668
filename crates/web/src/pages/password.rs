//! Choosing a password from an e-mailed link: asking for one at the login
//! page (`/login/forgot`), and the link itself (`/password/{token}`).
//!
//! The forgot form is the login form's sibling: it sits under `/login`, so
//! the login page's double-submit cookie guards it too. Its answer is the
//! same whether or not the address has an account, so it tells nobody who
//! works here. The link's page, like an acknowledgement link's, changes
//! nothing on `GET` (mail scanners open every link); the form it shows
//! posts back to the same address, whose token is the capability.

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use pricegate_domain::{Email, Invalid, Password};
use pricegate_store::{PasswordLinkError, PasswordLinkView, StoreError};
use tokio::sync::Semaphore;

use super::auth::{SessionTo, login_form_response, new_password_twice, refusal_of, start_session};
use super::{Layout, LinkForm, LoginForm, LoginFormRejection, PageError, render};
use crate::AppState;
use crate::extract::Client;

/// How many requests for a link are looked at in the background at once.
static BACKGROUND: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(8)));

pub fn router() -> Router<AppState> {
    Router::new().route("/login/forgot", get(forgot_form).post(forgot)).route("/password/{token}", get(show).post(set))
}

#[derive(Template)]
#[template(path = "pages/password_forgot.html")]
struct ForgotPage {
    layout: Layout,
    csrf: String,
    email: String,
    error: Option<String>,
    /// The request was taken: the page says what happens next.
    sent: bool,
    /// How long a reset link works, in words.
    works_for: String,
    /// How often one account is sent a reset link at most.
    every_minutes: i64,
}

fn forgot_page(
    app: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    error: Option<String>,
    sent: bool,
) -> Result<Response, PageError> {
    login_form_response(app, headers, |csrf| {
        let works_for =
            pricegate_mail::compose::lifetime(chrono::Duration::minutes(pricegate_store::RESET_LINK_MINUTES));
        let layout = Layout::anonymous("Forgot your password?");
        let every_minutes = pricegate_store::RESET_EVERY_MINUTES;
        let page = ForgotPage { layout, csrf, email, error, sent, works_for, every_minutes };
        render(status, &page)
    })
}

async fn forgot_form(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    forgot_page(&app, &headers, StatusCode::OK, String::new(), None, false)
}

/// Queues the e-mail when the address is an active account's (and it was
/// not sent one moments ago), and answers the same, as fast, in every case.
async fn forgot(
    State(app): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    form: Result<LoginForm, LoginFormRejection>,
) -> Result<Response, PageError> {
    let form = match form {
        Ok(LoginForm(form)) if !crate::ack::is_cross_site(&headers, &app.base_url) => form,
        // Another site's form, or a page older than its cookie: nothing is
        // sent, and the page comes back with a token that matches.
        Ok(_) | Err(LoginFormRejection::Stale { .. }) => {
            let message = "This page had expired, so nothing was sent: send it again.".to_owned();
            return forgot_page(&app, &headers, StatusCode::FORBIDDEN, String::new(), Some(message), false);
        }
        Err(LoginFormRejection::Unreadable(e)) => return Err(e),
    };
    let email = form.get("email").trim().to_owned();
    let refusal = match email.as_str() {
        "" => Some("Enter the e-mail address you log in with."),
        typed if typed.len() > 254 || Email::for_login(typed).is_none() => {
            Some("This is not an e-mail address: enter the one you log in with.")
        }
        _ => None,
    };
    if let Some(refusal) = refusal {
        // What was typed comes back to be put right, unless it is far too
        // long to be anyone's address.
        let typed = if email.len() > 254 { String::new() } else { email };
        return forgot_page(&app, &headers, StatusCode::UNPROCESSABLE_ENTITY, typed, Some(refusal.to_owned()), false);
    }
    // The answer does not wait for the e-mail to be queued: how long it
    // took would tell an address with an account from one without. A few
    // at a time: past that, a request waits for a turn before it is
    // answered (however its address reads), so a flood of them is slowed
    // down, not queued without bound.
    let permit = BACKGROUND.clone().acquire_owned().await.map_err(|_| {
        PageError::from(pricegate_store::StoreError::Internal("the password link queue is closed".into()))
    })?;
    let (store, typed) = (app.store.clone(), email.clone());
    tokio::spawn(async move {
        if let Err(e) = store.request_password_reset(&typed, &client).await {
            tracing::error!(error = %pricegate_store::causes(&e), "a request for a password link failed");
        }
        drop(permit);
    });
    forgot_page(&app, &headers, StatusCode::OK, email, None, true)
}

#[derive(Template)]
#[template(path = "pages/password_set.html")]
struct SetPage {
    layout: Layout,
    link: PasswordLinkView,
    expires_at: String,
    min_chars: usize,
    errors: Vec<Invalid>,
}

impl SetPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        refusal_of(&self.errors, field)
    }
}

/// The page of a link that cannot set a password.
fn refusal(e: PasswordLinkError) -> PageError {
    let ask_again = "Ask for a new one: on the login page, choose \u{201c}Forgot your password?\u{201d}, or ask an \
                     administrator to e-mail you one.";
    match e {
        PasswordLinkError::Unknown => PageError::new(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            format!(
                "Pricegate does not know this link. It may have been cut short or altered when it was copied: open \
                 it again from the e-mail. {ask_again}"
            ),
        ),
        PasswordLinkError::Expired => PageError::new(
            StatusCode::GONE,
            "This link has expired",
            format!("Links to choose a password work for a limited time. {ask_again}"),
        ),
        PasswordLinkError::Used => PageError::new(
            StatusCode::GONE,
            "This link no longer works",
            format!(
                "Each link sets a password once; a password chosen since, a corrected e-mail address or a \
                 deactivation also ends every earlier link. If you chose your password with this one, log in with \
                 it. {ask_again}"
            ),
        ),
        PasswordLinkError::AccountInactive => PageError::new(
            StatusCode::FORBIDDEN,
            "This account is no longer active",
            "The link belongs to an account that has been deactivated, so it sets nothing. If that is a mistake, \
             ask an administrator.",
        ),
        PasswordLinkError::Store(e) => e.into(),
    }
}

/// The token in the address, its shape checked before the database is
/// asked: one that is not even text (`%FF`) is as unknown as any other.
fn token_of(token: Result<Path<String>, PathRejection>) -> Result<String, PageError> {
    match token {
        Ok(Path(token)) if pricegate_store::looks_like_token(&token) => Ok(token),
        _ => Err(refusal(PasswordLinkError::Unknown)),
    }
}

fn set_page(app: &AppState, link: PasswordLinkView, status: StatusCode, errors: Vec<Invalid>) -> Response {
    let title = if link.invited { "Choose your password" } else { "Choose a new password" };
    let expires_at = app.store.calendar().stamp(link.expires_at, false);
    let page = SetPage { layout: Layout::anonymous(title), link, expires_at, min_chars: Password::MIN_CHARS, errors };
    render(status, &page)
}

/// Who the link is for, and the form; nothing changes.
async fn show(State(app): State<AppState>, token: Result<Path<String>, PathRejection>) -> Result<Response, PageError> {
    if let Ok(Path(token)) = &token
        && let Some(address) = crate::without_trailing_punctuation("/password/", token)
    {
        return Ok(axum::response::IntoResponse::into_response(axum::response::Redirect::to(&address)));
    }
    let link = app.store.password_link(&token_of(token)?).await.map_err(refusal)?;
    Ok(set_page(&app, link, StatusCode::OK, Vec::new()))
}

/// Sets the password, and logs this browser in with it.
async fn set(
    State(app): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    Client(client): Client,
    LinkForm(form): LinkForm,
) -> Result<Response, PageError> {
    let token = &token_of(token)?;
    let mut errors = Vec::new();
    let new = match new_password_twice(&form, &mut errors) {
        Some(new) if errors.is_empty() => new,
        _ => {
            let link = app.store.password_link(token).await.map_err(refusal)?;
            return Ok(set_page(&app, link, StatusCode::UNPROCESSABLE_ENTITY, errors));
        }
    };
    let set = match app.store.set_password_by_link(token, new, &client).await {
        Ok(set) => set,
        // One built on their own name or address: the form again, saying so.
        Err(PasswordLinkError::Store(StoreError::Invalid(refused))) => {
            let link = app.store.password_link(token).await.map_err(refusal)?;
            return Ok(set_page(&app, link, StatusCode::UNPROCESSABLE_ENTITY, vec![refused]));
        }
        Err(e) => return Err(refusal(e)),
    };
    // A first password is welcomed, not announced as a change that logged other browsers out.
    let to = if set.first { SessionTo::AccountWelcome } else { SessionTo::AccountChanged };
    start_session(&app, &set.checked, to).await
}
