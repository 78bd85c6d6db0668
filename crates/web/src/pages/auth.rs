//! Logging in and out. The login form is protected against cross-site posts
//! with a double-submit cookie (there is no session yet to hold a token);
//! repeated failures for one e-mail from one address are refused for a while
//! (`Store::attempt_login`, shared with the API's login).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pricegate_store::LoginOutcome;

use super::{
    Anyone, CsrfForm, Layout, LoginForm, PageError, PageUser, SESSION_COOKIE, append_cookie, cookie, local_path, render,
};
use crate::AppState;
use crate::extract::Client;

pub(super) const LOGIN_CSRF_COOKIE: &str = "pricegate_login_csrf";

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home)).route("/login", get(login_form).post(login)).route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    email: String,
    error: Option<String>,
    /// The page asked for before logging in (a local path, or empty).
    next: String,
}

async fn home(user: Result<PageUser, Response>) -> Redirect {
    match user {
        Ok(u) if u.0.actor.role == pricegate_domain::Role::Admin => Redirect::to("/notices"),
        Ok(_) => Redirect::to("/quotes"),
        Err(_) => Redirect::to("/login"),
    }
}

fn secure_flag(app: &AppState) -> &'static str {
    if app.base_url.starts_with("https://") { "; Secure" } else { "" }
}

fn login_page(
    app: &AppState,
    status: StatusCode,
    email: String,
    error: Option<String>,
    next: &str,
) -> Result<Response, PageError> {
    let csrf = pricegate_store::new_form_token()?;
    let next = local_path(next).unwrap_or_default().to_owned();
    let page = LoginPage { layout: Layout::anonymous("Log in"), csrf: csrf.clone(), email, error, next };
    let mut response = render(status, &page);
    let value =
        format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}", secure_flag(app));
    append_cookie(&mut response, &value);
    Ok(response)
}

async fn login_form(
    State(app): State<AppState>,
    uri: axum::http::Uri,
    user: Result<PageUser, Response>,
) -> Result<Response, PageError> {
    let next = uri.query().unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("next=")).unwrap_or("");
    if user.is_ok() {
        return Ok(Redirect::to(local_path(next).unwrap_or("/")).into_response());
    }
    login_page(&app, StatusCode::OK, String::new(), None, next)
}

async fn login(
    State(app): State<AppState>,
    Client(client): Client,
    LoginForm(form): LoginForm,
) -> Result<Response, PageError> {
    let email = form.get("email").trim().to_owned();
    let next = form.get("next");
    let user = match app.store.attempt_login(&email, form.get("password"), &client).await? {
        LoginOutcome::LoggedIn(user) => user,
        LoginOutcome::Refused => {
            let message = "That e-mail and password do not match an active account.".to_owned();
            return login_page(&app, StatusCode::UNAUTHORIZED, email, Some(message), next);
        }
        LoginOutcome::HeldOff(wait) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let message = format!(
                "Too many failed attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = login_page(&app, StatusCode::TOO_MANY_REQUESTS, email, Some(message), next)?;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
            return Ok(response);
        }
    };
    let session = app.store.open_session(user.id).await?;
    let mut response = Redirect::to(local_path(next).unwrap_or("/")).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        session.token,
        pricegate_store::SESSION_TTL_HOURS * 3600,
        secure_flag(&app)
    );
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| PageError::from(pricegate_store::StoreError::Internal("cookie".into())))?;
    response.headers_mut().append(header::SET_COOKIE, cookie);
    append_cookie(&mut response, &format!("{LOGIN_CSRF_COOKIE}=; Path=/login; Max-Age=0"));
    Ok(response)
}

async fn logout(State(app): State<AppState>, headers: HeaderMap, _: CsrfForm<Anyone>) -> Result<Response, PageError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        app.store.revoke_session(token).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", secure_flag(&app));
    append_cookie(&mut response, &clear);
    Ok(response)
}
