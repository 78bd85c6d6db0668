//! Logging in and out. The login form is protected against cross-site posts
//! with a double-submit cookie (there is no session yet to hold a token);
//! repeated failures for one e-mail from one address are refused for a while
//! (`Store::attempt_login`, shared with the API's login). Also one's own
//! account page, where a password is changed.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pricegate_domain::{Invalid, Password, Role};
use pricegate_store::{Checked, LoginOutcome, PasswordChange};

use super::forms::KeptAcrossLogin;
use super::{
    Anyone, CsrfForm, DoneCookie, FormFields, Layout, LoginForm, LoginFormRejection, PageError, PageUser, Seal,
    SessionEnded, append_cookie, cookie, local_path, render,
};
use crate::AppState;
use crate::api::auth::{new_password, wrong_current_password};
use crate::extract::Client;

const LOGIN_CSRF_COOKIE: &str = "pricegate_login_csrf";

/// The login form's cookie where `app` is served: its name and path. At an
/// `https://` address it is a `__Host-` cookie, as the session's is, for
/// the whole site (the prefix asks for `Path=/`), so that a neighbouring
/// subdomain cannot plant a token of its choosing to log a browser in as
/// someone else.
pub(super) fn login_csrf_cookie(app: &AppState) -> (&'static str, &'static str) {
    match app.served_over_https() {
        true => ("__Host-pricegate_login_csrf", "/"),
        false => (LOGIN_CSRF_COOKIE, "/login"),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/password", post(change_password))
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
    /// Why the page is shown, when a session had ended.
    note: Option<&'static str>,
    /// A long form sent after its session ended, carried through the login.
    kept: Option<KeptAcrossLogin>,
}

impl LoginPage {
    /// What the names of a kept form's fields start with on this form.
    fn kept_prefix(&self) -> &'static str {
        KeptAcrossLogin::PREFIX
    }
}

/// What a login page shows besides its form: the e-mail typed, why it is
/// shown again or at all, where the login leads, and a form it keeps.
#[derive(Default)]
struct LoginAsk<'a> {
    email: String,
    error: Option<String>,
    next: &'a str,
    note: Option<&'static str>,
    kept: Option<KeptAcrossLogin>,
}

/// The login page that carries `kept`, a long form sent after its session
/// ended, so that logging in brings it back as typed; the page that form
/// was on is where a login leads otherwise.
pub(super) fn login_keeping(app: &AppState, headers: &HeaderMap, kept: KeptAcrossLogin) -> Result<Response, PageError> {
    let next = kept.action.clone();
    let ask = LoginAsk { next: &next, note: Some(KEPT_NOTE), kept: Some(kept), ..LoginAsk::default() };
    login_page(app, headers, StatusCode::UNAUTHORIZED, ask)
}

/// What the login page that carries a form says of it.
const KEPT_NOTE: &str = "Your session had ended, so nothing was saved, but what you typed is kept on this page: log \
    in, and the form comes back as you typed it, to check and save.";

/// Each role's first page; the login page, saying why where it can (a
/// browser that logged out, a session ended, an account deactivated).
async fn home(user: Result<PageUser, Response>) -> Response {
    match user {
        Ok(u) if u.0.actor.role == Role::Admin => Redirect::to("/notices").into_response(),
        Ok(_) => Redirect::to("/quotes").into_response(),
        Err(refused) => refused,
    }
}

fn secure_flag(app: &AppState) -> &'static str {
    if app.served_over_https() { "; Secure" } else { "" }
}

/// The login form's token: the one in the browser's cookie when it has the
/// shape of ours, so that every login page open in the browser's tabs (and
/// one come back to) carries the same token and any of them can be sent; a
/// new one otherwise. (A planted cookie gains nothing by being kept: a login
/// form sent from another site is refused by its origin, see `login`.)
fn login_token(app: &AppState, headers: &HeaderMap) -> Result<String, PageError> {
    match cookie(headers, login_csrf_cookie(app).0).filter(|t| pricegate_store::looks_like_token(t)) {
        Some(token) => Ok(token.to_owned()),
        None => Ok(pricegate_store::new_form_token()?),
    }
}

fn login_page(app: &AppState, headers: &HeaderMap, status: StatusCode, ask: LoginAsk) -> Result<Response, PageError> {
    let LoginAsk { email, error, next, note, kept } = ask;
    let next = local_path(next).unwrap_or_default().to_owned();
    login_form_response(app, headers, |csrf| {
        render(status, &LoginPage { layout: Layout::anonymous("Log in"), csrf, email, error, next, note, kept })
    })
}

/// A page with a form under `/login` (logging in, asking for a password
/// link), rendered by `page` with the form's token, and the cookie it is
/// checked against ([`LoginForm`]).
pub(super) fn login_form_response(
    app: &AppState,
    headers: &HeaderMap,
    page: impl FnOnce(String) -> Response,
) -> Result<Response, PageError> {
    let csrf = login_token(app, headers)?;
    let (name, path) = login_csrf_cookie(app);
    let value = format!("{name}={csrf}; Path={path}; HttpOnly; SameSite=Strict; Max-Age=3600{}", secure_flag(app));
    let mut response = page(csrf);
    append_cookie(&mut response, &value);
    Ok(response)
}

async fn login_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    user: Result<PageUser, Response>,
) -> Result<Response, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| pairs.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
    let next = param("next");
    if user.is_ok() {
        return Ok(Redirect::to(local_path(next).unwrap_or("/")).into_response());
    }
    let ask = LoginAsk { next, note: SessionEnded::note(param("ended")), ..LoginAsk::default() };
    login_page(&app, &headers, StatusCode::OK, ask)
}

async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    form: Result<LoginForm, LoginFormRejection>,
) -> Result<Response, PageError> {
    let form = match form {
        // A form another site sent is never a login (login CSRF), whatever cookie came with it.
        // What it would carry of a form is not taken either.
        Ok(LoginForm(form)) if crate::ack::is_cross_site(&headers, &app.base_url) => {
            let (email, next) = (form.get("email").trim().to_owned(), form.get("next").to_owned());
            return stale_login(&app, &headers, email, &next, None).await;
        }
        Ok(LoginForm(form)) => form,
        // Another site's post never has the login page's cookie: nor is a
        // form it carries kept, to come back as typed by whoever logs in.
        Err(LoginFormRejection::Stale { email, next, kept }) => {
            let kept = kept.filter(|_| !crate::ack::is_cross_site(&headers, &app.base_url));
            return stale_login(&app, &headers, email, &next, kept).await;
        }
        Err(LoginFormRejection::Unreadable(e)) => return Err(e),
    };
    let email = form.get("email").trim().to_owned();
    let next = form.get("next");
    let kept = KeptAcrossLogin::from_login(&form);
    let note = kept.as_ref().map(|_| KEPT_NOTE);
    let again = |email: String, error: String| LoginAsk { email, error: Some(error), next, kept: kept.clone(), note };
    // Nothing to check yet: no attempt is counted against the account.
    let missing = match (email.is_empty(), form.get("password").is_empty()) {
        (true, true) => Some("Enter your e-mail address and password."),
        (true, false) => Some("Enter your e-mail address as well."),
        (false, true) => Some("Enter your password as well."),
        (false, false) => None,
    };
    if let Some(message) = missing {
        return login_page(&app, &headers, StatusCode::UNPROCESSABLE_ENTITY, again(email, message.to_owned()));
    }
    // 429, and when to try again: held off after failures, or while others are checked.
    let held_off = |ask: LoginAsk, seconds: u64| {
        let mut response = login_page(&app, &headers, StatusCode::TOO_MANY_REQUESTS, ask)?;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        Ok(response)
    };
    let checked = match app.store.attempt_login(&email, form.get("password"), &client).await? {
        LoginOutcome::LoggedIn(checked) => checked,
        LoginOutcome::Refused => {
            let message = "That e-mail and password do not match an active account.".to_owned();
            return login_page(&app, &headers, StatusCode::UNAUTHORIZED, again(email, message));
        }
        LoginOutcome::Deactivated => {
            return login_page(
                &app,
                &headers,
                StatusCode::FORBIDDEN,
                again(email, super::DEACTIVATED_LOGIN.to_owned()),
            );
        }
        LoginOutcome::HeldOff(wait) => {
            let message = format!(
                "Too many failed attempts. {} Or set a new password with \u{201c}Forgot your password?\u{201d}: its \
                 link logs you in at once.",
                try_again_in(wait)
            );
            return held_off(again(email, message), wait.as_secs().max(1));
        }
        LoginOutcome::AtOnce => return held_off(again(email, super::AT_ONCE.to_owned()), 1),
    };
    let to = match &kept {
        Some(kept) => SessionTo::Kept(kept),
        None => SessionTo::Page(local_path(next).unwrap_or("/")),
    };
    let mut response = start_session(&app, &checked, to).await?;
    let (name, path) = login_csrf_cookie(&app);
    append_cookie(&mut response, &format!("{name}=; Path={path}; Max-Age=0{}", secure_flag(&app)));
    Ok(response)
}

/// A login form whose token did not match (see [`LoginFormRejection::Stale`]).
/// Whoever typed their e-mail there and is logged in meanwhile (from another
/// tab) goes where the form would have led; anyone else is shown the login
/// page again with the e-mail they typed and a token that matches, and told
/// why (and, when this browser is someone else's session, whose). Nobody is
/// logged in by it. A form it carried (see [`login_keeping`]) stays with it,
/// or, for whoever is logged in already, is offered back as the login would.
async fn stale_login(
    app: &AppState,
    headers: &HeaderMap,
    email: String,
    next: &str,
    kept: Option<KeptAcrossLogin>,
) -> Result<Response, PageError> {
    let session = super::session_token(app, headers);
    let logged_in = match session {
        Some(token) => app.store.authenticate_session(token).await?,
        None => None,
    };
    let message = match logged_in {
        Some(user) if user.user.email.eq_ignore_ascii_case(&email) => {
            return Ok(match &kept {
                Some(kept) => render(StatusCode::OK, &KeptPage { layout: Layout::anonymous("Logged in"), kept }),
                None => Redirect::to(local_path(next).unwrap_or("/")).into_response(),
            });
        }
        Some(user) => format!(
            "This browser is logged in as {} ({}), and this login page had expired, so nothing changed. To log \
             in as someone else, log out first.",
            user.user.name, user.user.email
        ),
        None => "This login page had expired, so you were not logged in: enter your password again. (Pricegate \
                 needs cookies to log you in.)"
            .to_owned(),
    };
    login_page(
        app,
        headers,
        StatusCode::FORBIDDEN,
        LoginAsk { email, error: Some(message), next, note: kept.as_ref().map(|_| KEPT_NOTE), kept },
    )
}

/// When a held-off login may try again, in whole minutes: "Try again in 2 minutes."
fn try_again_in(wait: std::time::Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    format!("Try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" })
}

/// What the account page tells once, after a password was set: sealed for
/// the session just opened, so that a link (`/account?welcome`) cannot make
/// the page say it.
const ACCOUNT_DONE: DoneCookie = DoneCookie { name: "pricegate_account_done", page: "/account" };

/// Where a session just opened sends the browser.
pub(super) enum SessionTo<'a> {
    /// A page of this site.
    Page(&'a str),
    /// The account page, telling that their password was changed.
    AccountChanged,
    /// The account page, welcoming someone who chose their first password.
    AccountWelcome,
    /// A page whose button sends a form kept across the login back to its
    /// address, where it is shown as typed.
    Kept(&'a KeptAcrossLogin),
}

#[derive(Template)]
#[template(path = "pages/login_kept.html")]
struct KeptPage<'a> {
    layout: Layout,
    kept: &'a KeptAcrossLogin,
}

/// Opens a session on a password just checked and sends the browser where
/// `to` says with its cookie.
pub(super) async fn start_session(app: &AppState, checked: &Checked, to: SessionTo<'_>) -> Result<Response, PageError> {
    let session = app.store.open_session(checked).await?;
    let seal = Seal { key: &session.csrf_token, secure: app.served_over_https() };
    let mut response = match to {
        SessionTo::Page(path) => Redirect::to(path).into_response(),
        SessionTo::AccountChanged => ACCOUNT_DONE.redirect(&seal, "changed"),
        SessionTo::AccountWelcome => ACCOUNT_DONE.redirect(&seal, "welcome"),
        SessionTo::Kept(kept) => render(StatusCode::OK, &KeptPage { layout: Layout::anonymous("Logged in"), kept }),
    };
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        super::session_cookie_name(app),
        session.token,
        pricegate_store::SESSION_TTL_HOURS * 3600,
        secure_flag(app)
    );
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| PageError::from(pricegate_store::StoreError::Internal("cookie".into())))?;
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: Result<CsrfForm<Anyone>, Response>,
) -> Result<Response, PageError> {
    match form {
        Ok(_) => {
            if let Some(token) = super::session_token(&app, &headers) {
                app.store.revoke_session(token).await?;
            }
        }
        // A form without its token is refused. (A deactivated person's
        // session has ended: logged out, as below.)
        Err(refused) if refused.status() != StatusCode::SEE_OTHER && !PageError::is_deactivated(&refused) => {
            return Ok(refused);
        }
        // No cookie at all (another site's form cannot send it): nothing to
        // end or clear.
        Err(_) if cookie(&headers, super::session_cookie_name(&app)).is_none() => {
            return Ok(Redirect::to("/login").into_response());
        }
        // The session had ended already (logged out in another window):
        // logged out, as asked, and nothing was lost; its dead cookie goes.
        Err(_) => {}
    }
    // The login page says so: on a shared computer, the next person sees the session is over.
    let mut response = Redirect::to("/login?ended=out").into_response();
    append_cookie(&mut response, &logged_out_cookie(&app));
    Ok(response)
}

/// How long a browser that logged out says so when one of its pages is
/// opened again (another tab's, reloaded): half a day, then a login page
/// like any other.
const SAYS_LOGGED_OUT: u32 = 12 * 3600;

/// The session cookie a logout leaves: no session, and
/// [`super::LOGGED_OUT`] for [`SAYS_LOGGED_OUT`] seconds.
fn logged_out_cookie(app: &AppState) -> String {
    format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SAYS_LOGGED_OUT}{}",
        super::session_cookie_name(app),
        super::LOGGED_OUT,
        secure_flag(app)
    )
}

/// The `Set-Cookie` value that removes the session cookie from the browser.
pub(super) fn cleared_session_cookie(app: &AppState) -> String {
    format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", super::session_cookie_name(app), secure_flag(app))
}

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    layout: Layout,
    csrf: String,
    name: String,
    email: String,
    role: &'static str,
    min_chars: usize,
    /// Just back from changing the password.
    changed: bool,
    /// Just back from choosing a first password, from an invitation.
    welcome: bool,
    /// On that welcome, a salesperson's work waiting already (drafts handed
    /// over before they had a password, notices to acknowledge): how many
    /// notices, and how many open drafts they own or sign.
    waiting_notices: u64,
    waiting_drafts: u64,
    /// The form's refused fields.
    errors: Vec<Invalid>,
}

impl AccountPage {
    fn new(user: &PageUser) -> AccountPage {
        AccountPage {
            layout: user.layout("Your account"),
            csrf: user.csrf().to_owned(),
            name: user.0.user.name.clone(),
            email: user.0.user.email.clone(),
            role: user.0.actor.role.as_str(),
            min_chars: Password::MIN_CHARS,
            changed: false,
            welcome: false,
            waiting_notices: 0,
            waiting_drafts: 0,
            errors: Vec::new(),
        }
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        refusal_of(&self.errors, field)
    }
}

/// What `errors` say of `field`, for a page's form to show beside it.
pub(super) fn refusal_of<'a>(errors: &'a [Invalid], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// The new password a form sent twice (`new_password`, `repeat_password`:
/// the fields of `new_password_fields.html`), or `None` with its problems,
/// both at once, added to `errors`.
pub(super) fn new_password_twice(form: &FormFields, errors: &mut Vec<Invalid>) -> Option<Password> {
    let new = new_password(form.get("new_password")).map_err(|e| errors.push(e)).ok();
    if form.get("repeat_password") != form.get("new_password") {
        errors.push(Invalid::new("repeat_password", "The two new passwords differ: type the same one twice."));
    }
    new
}

/// Anyone's own account: who they are, and a form to change their password.
async fn account(State(app): State<AppState>, user: PageUser, headers: HeaderMap) -> Response {
    let mut page = AccountPage::new(&user);
    let seal = user.seal(&app);
    match ACCOUNT_DONE.read(&headers, &seal) {
        Some("changed") => page.changed = true,
        Some("welcome") => page.welcome = true,
        _ => {}
    }
    if page.welcome && user.0.actor.role == Role::Sales {
        // Said if it can be read; the welcome stands without it.
        let notices = app.store.notices_awaiting(&user.0.actor, 0).await.map(|(_, count)| count);
        let me = user.0.actor.id;
        let drafts = app.store.open_quote_counts(Some(&[me])).await.map(|c| c.get(&me).map_or(0, |d| d.drafts()));
        (page.waiting_notices, page.waiting_drafts) = (notices.unwrap_or(0), drafts.unwrap_or(0));
    }
    ACCOUNT_DONE.told(&headers, &seal, &page)
}

/// Changes the logged-in person's password. Every session of the account
/// ends, this one too, and a new one is opened for this browser; a wrong
/// current password counts as a failed login.
async fn change_password(
    State(app): State<AppState>,
    Client(client): Client,
    CsrfForm { user, form, .. }: CsrfForm<Anyone>,
) -> Result<Response, PageError> {
    let current = form.get("current_password");
    let refusal = |status: StatusCode, errors: Vec<Invalid>| {
        let mut page = AccountPage::new(&user);
        page.errors = errors;
        Ok(render(status, &page))
    };
    // What can be told without checking the current password, all at once.
    let mut errors = Vec::new();
    if current.is_empty() {
        errors.push(Invalid::new("current_password", "Enter your current password."));
    } else if current.len() > 1024 {
        errors.push(wrong_current_password());
    }
    let new = match new_password_twice(&form, &mut errors) {
        Some(new) if errors.is_empty() => new,
        _ => return refusal(StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    match app.store.change_own_password(&user.0.actor, current, new, &client).await {
        Ok(PasswordChange::Changed(checked)) => start_session(&app, &checked, SessionTo::AccountChanged).await,
        Ok(PasswordChange::WrongPassword) => refusal(StatusCode::UNPROCESSABLE_ENTITY, vec![wrong_current_password()]),
        Ok(PasswordChange::HeldOff(wait)) => {
            let message = format!("Too many wrong passwords. {}", try_again_in(wait));
            refusal(StatusCode::TOO_MANY_REQUESTS, vec![Invalid::new("current_password", message)])
        }
        Ok(PasswordChange::AtOnce) => {
            refusal(StatusCode::TOO_MANY_REQUESTS, vec![Invalid::new("current_password", super::AT_ONCE)])
        }
        Err(pricegate_store::StoreError::Invalid(e)) => refusal(StatusCode::UNPROCESSABLE_ENTITY, vec![e]),
        Err(e) => Err(e.into()),
    }
}
