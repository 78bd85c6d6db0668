//! The pages people use in a browser: server-rendered askama templates on the
//! same store operations as the API. A session cookie says who is asking;
//! every POST carries the session's CSRF token; no page runs inline script.

mod acknowledgements_export;
mod admin;
mod audit;
mod audit_export;
mod auth;
mod download;
mod forms;
mod notice_drafts;
mod notice_publish;
mod notices;
mod password;
mod product_history;
mod products;
mod quote_confirm;
mod quote_form;
mod quotes;
mod quotes_export;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use pricegate_domain::Role;
use pricegate_store::{SessionUser, StoreError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;

pub(crate) use forms::EXPIRED_FORM_KEPT;
pub use forms::{
    Admin, Anyone, CsrfForm, Finance, FormFields, KeptForm, LinkForm, LoginForm, LoginFormRejection, OUT_OF_DATE,
    PageId, PageQuery, PageSegment, QuoteWork, Sales,
};

pub const SESSION_COOKIE: &str = "pricegate_session";
/// The session cookie's name at an `https://` address: a browser keeps a
/// `__Host-` cookie only from this very host, over HTTPS, for the whole
/// site, so a neighbouring subdomain cannot plant a session of its own.
pub const SECURE_SESSION_COOKIE: &str = "__Host-pricegate_session";

/// The name the session cookie has where `app` is served.
pub(crate) fn session_cookie_name(app: &AppState) -> &'static str {
    if app.served_over_https() { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}
pub const CSRF_FIELD: &str = "csrf_token";

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(password::router())
        .merge(audit::router())
        .merge(quotes::router())
        .merge(quote_confirm::router())
        .merge(notices::router())
        .merge(notice_drafts::router())
        .merge(notice_publish::router())
        .merge(products::router())
        .merge(admin::router())
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .route("/static/favicon.svg", get(icon))
        // Asked for by browsers on their own, whatever a page links.
        .route("/favicon.ico", get(bitmap_icon))
        .route("/apple-touch-icon.png", get(touch_icon))
        .layer(axum::middleware::map_response(page_headers))
}

/// The headers of every page, and of the "not found" page that the router's
/// fallback renders outside [`router`]: a page holds the session's CSRF
/// token, so it is never stored, framed or named in a referrer elsewhere.
pub(crate) async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A file built into the binary, of `kind`, which browsers may keep for
/// `max_age` seconds.
fn built_in(kind: &'static str, max_age: &'static str, body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, max_age)], body).into_response()
}

/// The stylesheet and the script change with a release: kept five minutes.
const FIVE_MINUTES: &str = "public, max-age=300";
/// The icons do not: kept a day.
const ONE_DAY: &str = "public, max-age=86400";

async fn stylesheet() -> Response {
    built_in("text/css; charset=utf-8", FIVE_MINUTES, include_bytes!("../../static/app.css"))
}

/// The icon of Pricegate's tabs and bookmarks: a tick, for "seen".
async fn icon() -> Response {
    built_in("image/svg+xml", ONE_DAY, include_bytes!("../../static/favicon.svg"))
}

/// [`icon`] as a 32-pixel bitmap, for browsers that take no SVG icon
/// (rendered from it by `scripts/icons`).
async fn bitmap_icon() -> Response {
    built_in("image/vnd.microsoft.icon", ONE_DAY, include_bytes!("../../static/favicon.ico"))
}

/// [`icon`] as a phone's home screen and Safari's favourites show it: 180
/// pixels, square (iOS rounds the corners), rendered by `scripts/icons`.
async fn touch_icon() -> Response {
    built_in("image/png", ONE_DAY, include_bytes!("../../static/apple-touch-icon.png"))
}

/// The only script: progressive enhancement (the live notice preview); every
/// page works without it, and the CSP allows no inline script.
async fn script() -> Response {
    built_in("text/javascript; charset=utf-8", FIVE_MINUTES, include_bytes!("../../static/app.js"))
}

/// What the layout shows about the person: their name, role and the token
/// the logout form posts.
pub struct NavUser {
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
    pub works_with_quotes: bool,
    pub is_finance: bool,
    pub is_admin: bool,
    /// The navigation's link to the part of the site this page is in, marked
    /// `aria-current` (see [`nav_section`]).
    pub section: &'static str,
}

impl NavUser {
    /// `aria-current="page"` for the navigation's link to `href`, when this
    /// page is in its part of the site.
    pub fn current(&self, href: &str) -> &'static str {
        if self.section == href { " aria-current=\"page\"" } else { "" }
    }
}

/// The navigation's link to the part of the site `path` is in: `/quotes/3fc2b0b8`
/// is in `/quotes`; the new-notice form is its own; none for a page no link names.
pub fn nav_section(path: &str) -> &'static str {
    const LINKS: [&str; 9] = [
        "/notices/new",
        "/quotes",
        "/notices",
        "/products",
        "/audit",
        "/admin/users",
        "/admin/outbox",
        "/admin/settings",
        "/account",
    ];
    LINKS
        .into_iter()
        .find(|link| path == *link || path.strip_prefix(link).is_some_and(|rest| rest.starts_with('/')))
        .unwrap_or("")
}

pub struct Layout {
    pub title: String,
    pub user: Option<NavUser>,
    /// The page's own address, for a page that may answer a form (a quote
    /// with its refusal to finalise): the browser is told to show it in
    /// place of the form's, so that a reload reads the page and sends
    /// nothing again (/static/app.js).
    pub here: Option<String>,
    /// Whether a field has taken the focus: see [`Layout::focus_here`].
    focused: std::sync::atomic::AtomicBool,
}

impl Layout {
    pub fn anonymous(title: impl Into<String>) -> Layout {
        Layout { title: title.into(), user: None, here: None, focused: Default::default() }
    }

    /// The layout of a page whose own address is `here` (see [`Layout::here`]).
    pub fn at(self, here: String) -> Layout {
        Layout { here: Some(here), ..self }
    }

    /// True the first time a template asks, false after: a template asks
    /// for each refused field in document order, so the first takes the
    /// focus (`autofocus`) and no other does, as HTML allows one per page.
    pub fn focus_here(&self) -> bool {
        !self.focused.swap(true, std::sync::atomic::Ordering::Relaxed)
    }
}

/// The logged-in person, from the session cookie, and the part of the site
/// the page asked for is in ([`nav_section`]). Without a valid session a
/// page redirects to the login form.
pub struct PageUser(pub SessionUser, pub &'static str);

impl PageUser {
    pub fn layout(&self, title: impl Into<String>) -> Layout {
        let role = self.0.actor.role;
        Layout {
            focused: Default::default(),
            title: title.into(),
            here: None,
            user: Some(NavUser {
                name: self.0.user.name.clone(),
                role: role.as_str(),
                csrf: self.0.csrf_token.clone(),
                works_with_quotes: matches!(role, Role::Sales | Role::Finance),
                is_finance: role == Role::Finance,
                is_admin: role == Role::Admin,
                section: self.1,
            }),
        }
    }

    pub fn csrf(&self) -> &str {
        &self.0.csrf_token
    }

    /// Refuses with a 403 page unless the person has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), PageError> {
        if roles.contains(&self.0.actor.role) { Ok(()) } else { Err(PageError::forbidden()) }
    }
}

pub fn tokens_match(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The session cookie's token, if it has one of a shape we issue (not
/// empty, not longer than any token, not [`LOGGED_OUT`]): anything else is
/// no session. Only the cookie of the name `app` gives
/// ([`session_cookie_name`]) is read.
pub(crate) fn session_token<'a>(app: &AppState, headers: &'a axum::http::HeaderMap) -> Option<&'a str> {
    cookie(headers, session_cookie_name(app)).filter(|t| !t.is_empty() && t.len() <= 128 && *t != LOGGED_OUT)
}

/// What the session cookie holds once its browser logged out (see
/// `auth::logged_out_cookie`), for a while: another tab of it, opened
/// before, then says "You are logged out" rather than showing a login page
/// that says nothing of why.
pub(crate) const LOGGED_OUT: &str = "out";

pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Adds a `Set-Cookie` header. Every cookie the pages set is built from
/// fixed names and tokens we made, so a value a header cannot carry is a bug
/// of ours; the response then goes without that cookie.
pub fn append_cookie(response: &mut Response, set_cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(set_cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// What a form just did, told once by the page it leads back to: a
/// short-lived cookie this server sets on the redirect, read and cleared by
/// the page's next view. Its value is sealed with the session's secret (see
/// [`Seal`]), so neither a link nor a cookie set by anyone else can make a
/// page claim something was done.
pub struct DoneCookie {
    pub name: &'static str,
    /// The page the form leads back to; the cookie is sent to it alone.
    pub page: &'static str,
}

/// The session a told-once cookie is for: its CSRF secret, which only this
/// server and that session's pages know, seals the value; and whether the
/// cookie is `Secure`, as the session cookie is.
pub struct Seal<'a> {
    key: &'a str,
    secure: bool,
}

impl PageUser {
    pub fn seal<'a>(&'a self, app: &AppState) -> Seal<'a> {
        Seal { key: self.csrf(), secure: app.served_over_https() }
    }
}

impl Seal<'_> {
    /// 128 bits of SHA-256 over the key, the cookie's name and the value, the
    /// key on both sides.
    fn mac(&self, name: &str, value: &str) -> String {
        digest_128(&format!("{}\n{name}\n{value}\n{}", self.key, self.key))
    }
}

/// The first 128 bits of the SHA-256 of `text`, in hex.
pub(super) fn digest_128(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

impl DoneCookie {
    fn set_cookie(&self, seal: &Seal, value: &str, max_age: u32) -> String {
        let secure = if seal.secure { "; Secure" } else { "" };
        format!("{}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", self.name, self.page)
    }

    /// The redirect to the page, carrying `value` for a minute.
    pub fn redirect(&self, seal: &Seal, value: &str) -> Response {
        self.redirect_to(seal, self.page, value)
    }

    /// The redirect to `path`, a page under this cookie's, carrying `value`
    /// for a minute (which names what it is about, as the page checks).
    pub fn redirect_to(&self, seal: &Seal, path: &str, value: &str) -> Response {
        debug_assert!(path.starts_with(self.page));
        let mut response = Redirect::to(path).into_response();
        let sealed = format!("{value}~{}", seal.mac(self.name, value));
        append_cookie(&mut response, &self.set_cookie(seal, &sealed, 60));
        response
    }

    /// What the last form of this session left for this view of the page, if
    /// anything: a value this server sealed for this session, or nothing.
    pub fn read<'a>(&self, headers: &'a axum::http::HeaderMap, seal: &Seal) -> Option<&'a str> {
        let (value, mac) = cookie(headers, self.name)?.rsplit_once('~')?;
        tokens_match(mac, &seal.mac(self.name, value)).then_some(value)
    }

    /// A value about one thing, `kind.id.rest…`: its kind and the rest, if
    /// it is about `id` (so another quote's or notice's page says nothing).
    pub fn about(value: &str, id: uuid::Uuid) -> Option<(&str, std::str::Split<'_, char>)> {
        let mut parts = value.split('.');
        let kind = parts.next()?;
        (parts.next().and_then(|p| uuid::Uuid::parse_str(p).ok()) == Some(id)).then_some((kind, parts))
    }

    /// The page that told what [`DoneCookie::read`] found (200), clearing the
    /// cookie if the request carried one, so it is told once.
    pub fn told(&self, headers: &axum::http::HeaderMap, seal: &Seal, page: &impl Template) -> Response {
        let mut response = render(StatusCode::OK, page);
        if cookie(headers, self.name).is_some() {
            append_cookie(&mut response, &self.set_cookie(seal, "", 0));
        }
        response
    }
}

/// A page of this site to go back to after logging in: a plain path, with
/// the query it was asked with (percent-encoded, as browsers send one:
/// `/quotes?search=%C3%B6ko`), never another site's address (`//host`), at
/// most 1,000 characters.
pub fn local_path(next: &str) -> Option<&str> {
    let (path, query) = next.split_once('?').unwrap_or((next, ""));
    // No `.`, `..` or empty segment either: `/.//evil.example` is a path
    // here, but one a browser or a proxy may fold into `//evil.example`.
    let plain = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
        && !path.contains("//")
        && !path.split('/').any(|segment| segment == "." || segment == "..");
    let query_plain = query.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&+".contains(&b));
    (plain && query_plain && next.starts_with('/') && !next.starts_with("//") && next.len() <= 1_000).then_some(next)
}

/// `next` as the login page's address carries it: its `/` as they are (the
/// address reads `/login?next=/quotes`), everything else that would end or
/// split the value percent-encoded.
fn next_in_address(next: &str) -> String {
    let mut out = String::with_capacity(next.len());
    for b in next.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why the login page is shown instead of a page: there was no session, or
/// the browser's session has ended (logged out elsewhere, a password changed,
/// its day over), when a page was opened or when a form was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnded {
    Never,
    OnPage,
    OnForm,
    /// A page opened in a browser that logged out (in another tab, say).
    LoggedOut,
}

impl SessionEnded {
    /// The `ended=` value in the login page's address.
    pub(crate) fn query(self) -> Option<&'static str> {
        match self {
            SessionEnded::Never => None,
            SessionEnded::OnPage => Some("page"),
            SessionEnded::OnForm => Some("form"),
            SessionEnded::LoggedOut => Some("out"),
        }
    }

    /// What the login page says for the `ended=` value it was given.
    pub(crate) fn note(ended: &str) -> Option<&'static str> {
        match ended {
            "page" => Some("Your session has ended: log in again to carry on."),
            "out" => Some("You are logged out."),
            "form" => Some(
                "Your session had ended, so what you sent was not saved. Log in, and you are taken back to the \
                 form to send it again.",
            ),
            _ => None,
        }
    }
}

/// The login page, remembering the page to go back to: the page asked for,
/// or for a form sent, the page the form was on (its `Referer` on this
/// site), so that someone whose session ended mid-form lands on it again.
fn to_login(parts: &Parts, base_url: &str, ended: SessionEnded) -> Response {
    let back = if matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD) {
        parts.uri.path_and_query().map(|p| p.as_str().to_owned())
    } else {
        form_page(parts, base_url)
    };
    // A query it cannot carry back (one with `'` or `:`, say) leaves the path alone.
    let back = back.map(|page| match local_path(&page) {
        Some(_) => page,
        None => page.split_once('?').map_or(page.clone(), |(path, _)| path.to_owned()),
    });
    let mut query: Vec<String> = Vec::new();
    if let Some(path) = back.as_deref().and_then(local_path).filter(|p| *p != "/") {
        query.push(format!("next={}", next_in_address(path)));
    }
    if let Some(ended) = ended.query() {
        query.push(format!("ended={ended}"));
    }
    if query.is_empty() {
        return Redirect::to("/login").into_response();
    }
    Redirect::to(&format!("/login?{}", query.join("&"))).into_response()
}

/// The path of the page a form was sent from: its `Referer`, when that names
/// this site (see [`crate::ack::is_own_origin`]).
fn form_page(parts: &Parts, base_url: &str) -> Option<String> {
    let referer: axum::http::Uri = parts.headers.get(header::REFERER)?.to_str().ok()?.parse().ok()?;
    let origin = format!("{}://{}", referer.scheme_str()?, referer.authority()?);
    let page = referer.path_and_query().map_or_else(|| referer.path().to_owned(), |p| p.as_str().to_owned());
    crate::ack::is_own_origin(&origin, &parts.headers, base_url).then_some(page)
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_token(state, &parts.headers);
        // A form sent without a session had one when it was shown: the
        // session ended since (a logout in another tab clears the cookie).
        // HEAD is a GET without its body: a page, not a form sent.
        let is_get = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        let ended = if is_get { SessionEnded::OnPage } else { SessionEnded::OnForm };
        let Some(token) = token else {
            let logged_out = cookie(&parts.headers, session_cookie_name(state)) == Some(LOGGED_OUT);
            let ended = match (is_get, logged_out) {
                (true, true) => SessionEnded::LoggedOut,
                (true, false) => SessionEnded::Never,
                (false, _) => ended,
            };
            return Err(to_login(parts, &state.base_url, ended));
        };
        match state.store.authenticate_session(token).await {
            Ok(Some(user)) => {
                crate::denied::Caller::note(parts, user.actor.id);
                Ok(PageUser(user, nav_section(parts.uri.path())))
            }
            // Said as it is rather than as a session ended: logging in
            // again would only be refused.
            // Its dead cookie goes with the page: the next address opened
            // is the login page, for this person or another.
            Ok(None) if state.store.is_deactivated_accounts_session(token).await.unwrap_or(false) => {
                let mut response = PageError::deactivated(!is_get).into_response();
                append_cookie(&mut response, &auth::cleared_session_cookie(state));
                Err(response)
            }
            Ok(None) => Err(to_login(parts, &state.base_url, ended)),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// Why someone whose account is deactivated is not let in, told a browser
/// still holding their session.
const DEACTIVATED: &str = "Your account is deactivated, so you are logged out. If that is a mistake, ask an \
                           administrator to reactivate it.";

/// The same, told whoever types the account's right password on the login
/// form and to `POST /api/v1/auth/token` (a wrong one is told nothing of
/// the account).
pub(crate) const DEACTIVATED_LOGIN: &str =
    "This account is deactivated: it cannot log in. If that is a mistake, ask an administrator to reactivate it.";

/// A login (or a check of one's current password) refused because as many
/// tries as may be checked together (for this e-mail from this address, for
/// it from everywhere, or from this address) are being checked at this
/// moment, and too few have failed to hold it off.
pub(crate) const AT_ONCE: &str = "Other login tries are being checked at this moment (as many as may be at once): \
    try again in a second.";

/// A page that says why something was refused.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    heading: String,
    message: String,
    /// The stable code the API would answer with, kept on the response for
    /// the audit of a denial (see `crate::denied`): which rule refused it.
    code: Option<&'static str>,
    /// Where to go from here (address, words), when it is not the home page.
    next: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    heading: &'a str,
    message: &'a str,
    next: Option<&'a (String, String)>,
}

/// How an acknowledgement was given, as a page says it (the API's
/// `channel`): a reader of the evidence should not take `email` for a reply
/// by e-mail.
pub(crate) fn channel_in_words(channel: &str) -> &str {
    match channel {
        "email" => "the link in its e-mail",
        "web" => "a Pricegate page",
        "api" => "the API",
        other => other,
    }
}

impl PageError {
    pub fn new(status: StatusCode, heading: impl Into<String>, message: impl Into<String>) -> Self {
        PageError { status, heading: heading.into(), message: message.into(), code: None, next: None }
    }

    /// The page links to `href`, saying `words`, where it would link home.
    pub fn with_next(self, href: impl Into<String>, words: impl Into<String>) -> Self {
        PageError { next: Some((href.into(), words.into())), ..self }
    }

    fn with_code(self, code: &'static str) -> Self {
        PageError { code: Some(code), ..self }
    }

    /// The same refusal (its status and code, which the audit of a denial
    /// reads), told in the words of the page that was refused.
    pub fn told(self, heading: impl Into<String>, message: impl Into<String>) -> Self {
        PageError { heading: heading.into(), message: message.into(), ..self }
    }

    pub fn forbidden() -> Self {
        PageError::new(
            StatusCode::FORBIDDEN,
            "Not for your role",
            "This page belongs to another role than yours; an admin sets each person's role.",
        )
        .with_code("forbidden")
    }

    /// For the browser of someone whose account was deactivated (which
    /// ended their sessions), instead of the login page; `sent` when what
    /// they did was a form, which was not saved.
    pub(crate) fn deactivated(sent: bool) -> Self {
        let message = match sent {
            true => format!("Nothing you sent was saved. {DEACTIVATED}"),
            false => DEACTIVATED.to_owned(),
        };
        PageError::new(StatusCode::FORBIDDEN, "Account deactivated", message).with_code(Self::DEACTIVATED)
    }

    /// The code of [`PageError::deactivated`], kept on its response.
    pub(crate) const DEACTIVATED: &'static str = "account_deactivated";

    /// Whether `response` is [`PageError::deactivated`]'s.
    pub(crate) fn is_deactivated(response: &Response) -> bool {
        response.extensions().get::<crate::error::ErrorCode>().is_some_and(|code| code.0 == Self::DEACTIVATED)
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status the refusal is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code of the refusal, if it has one.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    pub fn csrf() -> Self {
        PageError::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Nothing was done: the form came from a page opened before you last logged in (or your password \
             changed), or not from Pricegate. Go back, reload the page and try again.",
        )
        .with_code("invalid_csrf_token")
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        let api = crate::AppError::from(e);
        let heading = match api.status() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::CONFLICT => "Not possible now",
            StatusCode::UNPROCESSABLE_ENTITY => "Please check the input",
            s if s.is_server_error() => "Something went wrong",
            _ => "Refused",
        };
        if api.status().is_server_error() {
            // The cause goes to the log; the page shows the generic sentence.
            api.log();
            return PageError::new(api.status(), heading, api.message());
        }
        PageError::new(api.status(), heading, api.message()).with_code(api.code())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        tracing::error!(error = %e, "a page did not render");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "This page could not be shown.")
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            layout: Layout::anonymous(self.heading.clone()),
            heading: &self.heading,
            message: &self.message,
            next: self.next.as_ref(),
        };
        let mut response = render(self.status, &page);
        if let Some(code) = self.code {
            response.extensions_mut().insert(crate::error::ErrorCode(code));
        }
        response.extensions_mut().insert(ErrorShown { heading: self.heading, message: self.message, next: self.next });
        response
    }
}

/// An error page's words, kept on its response so that [`with_nav`] can
/// show it again with the navigation of whoever is logged in.
#[derive(Clone)]
struct ErrorShown {
    heading: String,
    message: String,
    next: Option<(String, String)>,
}

/// The error page with the logged-in person's navigation. A handler that
/// fails (or an address that names nothing) does not say who asked, so this
/// asks the session again, for error pages only; without a valid session,
/// or if that fails, the page stays as it was, with no navigation.
pub async fn with_nav(
    axum::extract::State(app): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = session_token(&app, request.headers()).map(str::to_owned);
    let section = nav_section(request.uri().path());
    let response = next.run(request).await;
    let (Some(token), Some(shown)) = (token, response.extensions().get::<ErrorShown>().cloned()) else {
        return response;
    };
    let Ok(Some(user)) = app.store.authenticate_session(&token).await else { return response };
    let page = ErrorPage {
        layout: PageUser(user, section).layout(shown.heading.clone()),
        heading: &shown.heading,
        message: &shown.message,
        next: shown.next.as_ref(),
    };
    let Ok(html) = page.render() else { return response };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(html))
}

/// Renders a template with a status; a template that fails is a logged 500.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(mut html) => {
            // A page that refuses what was sent, saying why in an alert,
            // says so in its title too: the first thing a screen reader
            // reads of the page, and what the browser's tab shows.
            if status.is_client_error()
                && html.contains("role=\"alert\"")
                && let Some(at) = html.find("<title>")
            {
                html.insert_str(at + "<title>".len(), "Error: ");
            }
            (status, Html(html)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!DOCTYPE html><title>Error - Pricegate</title><p>Something went wrong.</p>"),
            )
                .into_response()
        }
    }
}

/// What a price form says of `text`, a price with a decimal comma that it
/// does not read, naming the field as `what` ("the unit price", "it"), with
/// the price as a point writes it ([`pricegate_domain::money::Currency::with_a_point`]); `None` for
/// any other price it cannot read.
pub(super) fn decimal_comma_refused(currency: &pricegate_domain::Currency, text: &str, what: &str) -> Option<String> {
    let point = currency.with_a_point(text)?;
    Some(format!(
        "\u{201c}{}\u{201d} has a decimal comma, which is not read here: write {what} with a point, as {point}.",
        text.trim()
    ))
}

/// A domain message in a page's words: the domain names the field as the API
/// spells it (`sku must be …`, `signer_id must be …`); a page says it by its
/// label (`The SKU must be …`). `labels` pairs each field with its label.
pub fn in_words(message: String, labels: &[(&str, &str)]) -> String {
    let named = labels.iter().find(|(field, _)| message.strip_prefix(field).is_some_and(|rest| rest.starts_with(' ')));
    match named {
        Some((field, label)) => format!("{label}{}", &message[field.len()..]),
        None => message,
    }
}

/// One structured price change of a notice, as every page that shows a notice lists it.
/// A notice's price change as every page shows it, as its e-mails do.
pub use pricegate_mail::compose::ChangeRow;

pub fn money(currency: &str, minor: i64) -> String {
    pricegate_mail::compose::money(currency, minor)
}

/// The prices published to take force after `today` (of `skus` only, when
/// given), by SKU, each SKU's earliest first: for the price list, the quote
/// forms and the import's preview.
pub async fn prices_to_come(
    app: &AppState,
    skus: Option<&[&str]>,
    today: chrono::NaiveDate,
) -> Result<std::collections::HashMap<String, Vec<pricegate_store::UpcomingPrice>>, PageError> {
    let mut by_sku: std::collections::HashMap<String, Vec<pricegate_store::UpcomingPrice>> = Default::default();
    for price in app.store.prices_to_come(skus, today).await? {
        by_sku.entry(price.sku.clone()).or_default().push(price);
    }
    Ok(by_sku)
}

/// What a list's search box asks for: the text without control characters,
/// trimmed, and cut at 200 characters; `None` when nothing is left.
pub(crate) fn search_text(q: &str) -> Option<String> {
    let q: String = q.chars().filter(|c| !c.is_control()).take(200).collect();
    Some(q.trim().to_owned()).filter(|q| !q.is_empty())
}

/// A salesperson a list offers to sign, or to take drafts over.
pub(crate) struct Signer {
    pub id: uuid::Uuid,
    pub name: String,
    pub email: String,
    /// Invited, they have yet to choose their password: until they do, they
    /// cannot log in (the e-mails' acknowledgement links work all the same).
    pub invited: bool,
}

/// The salespeople who can sign, by name (as lists to choose one show
/// them), then address; each says whether they have yet to log in.
pub(crate) async fn signers_by_name(app: &AppState) -> Result<Vec<Signer>, PageError> {
    use pricegate_store::views::UserView;
    let users: Vec<UserView> = app.store.list_users().await?.into_iter().filter(UserView::can_sign).collect();
    let invited = app.store.invited_user_ids().await?;
    let mut signers: Vec<Signer> = users
        .into_iter()
        .map(|u| Signer { invited: invited.contains(&u.id), id: u.id, name: u.name, email: u.email })
        .collect();
    signers.sort_by_cached_key(|u| (pricegate_store::name_key(&u.name), u.email.clone()));
    Ok(signers)
}

pub(crate) use pricegate_domain::reference_range;

/// `at` rounded up to the whole minute, in seconds since the epoch: a time
/// from which something may be done again, said to the minute, is never
/// earlier than it.
pub(crate) fn minute_from(at: chrono::DateTime<chrono::Utc>) -> i64 {
    let seconds = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    seconds + (60 - seconds.rem_euclid(60)) % 60
}

/// What "Acknowledge all" did, said once on the page it leads to: `new`
/// acknowledged now of the `of` the form named.
pub(crate) fn acknowledged_together(new: usize, of: usize) -> String {
    match (new, of) {
        (0, _) => "Acknowledged already: nothing more was recorded.".to_owned(),
        (new, of) if new + 1 == of => {
            format!("Acknowledged {new} of the {of} notices; the other was acknowledged already.")
        }
        (new, of) if new < of => {
            format!("Acknowledged {new} of the {of} notices; the others were acknowledged already.")
        }
        (1, _) => "Acknowledged the notice.".to_owned(),
        (2, _) => "Acknowledged both notices.".to_owned(),
        (new, _) => format!("Acknowledged the {new} notices."),
    }
}

/// The most notices one "Acknowledge all" records: a page offers it for at
/// most this many.
pub(crate) const ACKNOWLEDGED_TOGETHER_AT_MOST: usize = 200;

/// The notices an "Acknowledge all" form names (`notice_ids`, the ids its
/// page showed, comma-separated, spaces around each allowed): `None` when it
/// names none; a 422 when one is no id (`which`), or when there are more than
/// [`ACKNOWLEDGED_TOGETHER_AT_MOST`].
pub(crate) fn notice_ids(
    form: &FormFields,
    which: impl Fn() -> PageError,
) -> Result<Option<Vec<uuid::Uuid>>, PageError> {
    let ids = match form.get("notice_ids").trim() {
        "" => return Ok(None),
        ids => ids,
    };
    let mut ids: Vec<uuid::Uuid> = ids
        .split(',')
        .take(ACKNOWLEDGED_TOGETHER_AT_MOST + 1)
        .map(|id| uuid::Uuid::parse_str(id.trim()))
        .collect::<Result<_, _>>()
        .map_err(|_| which())?;
    // Each once, as the page listed them.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    match ids.len() > ACKNOWLEDGED_TOGETHER_AT_MOST {
        true => Err(PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Too many notices",
            format!(
                "One form acknowledges at most {ACKNOWLEDGED_TOGETHER_AT_MOST} notices, as many as a page shows \
                 together: nothing was recorded."
            ),
        )),
        false => Ok(Some(ids)),
    }
}

/// Business days typed into an address (`from`, `to`: `YYYY-MM-DD`): each
/// as typed and as a date where it is one, the instants they stand for,
/// and a sentence for each that is not a date, or for the two the wrong
/// way round (see [`business_days`]).
pub(crate) struct BusinessDays<'q> {
    pub from: Option<&'q str>,
    pub to: Option<&'q str>,
    /// From the first instant of `from` to the first of the day after `to`,
    /// in the business's zone; either end open when not given.
    pub within: (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>),
    pub notes: Vec<String>,
    /// A sentence when the first day is after the last: nothing lies
    /// between them, so the list is empty (and an export refused).
    pub reversed: Option<String>,
}

/// Reads `from` and `to` as the first and last business day of a list's
/// filter (the audit log's, the finalised quotes'); empty ones are none.
pub(crate) fn business_days<'q>(
    calendar: pricegate_domain::Calendar,
    from: Option<&'q str>,
    to: Option<&'q str>,
) -> BusinessDays<'q> {
    let mut notes = Vec::new();
    let mut day = |typed: Option<&'q str>, which: &str| {
        let typed = typed.map(str::trim).filter(|t| !t.is_empty())?;
        // Written as the date field writes it: chrono alone would take
        // `2026-1-1`, `+2026-12-05` and `-0001-01-01`.
        let date = pricegate_domain::is_date_shaped(typed)
            .then(|| chrono::NaiveDate::parse_from_str(typed, "%Y-%m-%d").ok())
            .flatten();
        match date {
            Some(date) => Some((typed, date)),
            None => {
                let shown: String = typed.chars().take(40).collect();
                notes.push(format!("\u{201c}{shown}\u{201d} is not a date like 2026-12-01, for {which}."));
                None
            }
        }
    };
    let (from, to) = (day(from, "the first day"), day(to, "the last day"));
    let since = from.map(|(_, d)| calendar.start_of(d));
    // The last day there is (9999-12-31) ends nothing: the instant after it
    // is not one the database compares as a time.
    let until =
        to.and_then(|(_, d)| d.succ_opt()).filter(|d| chrono::Datelike::year(d) <= 9999).map(|d| calendar.start_of(d));
    let reversed = match (from, to) {
        (Some((_, first)), Some((_, last))) if first > last => {
            Some(format!("The first day, {first}, is after the last, {last}: nothing lies between them."))
        }
        _ => None,
    };
    BusinessDays { from: from.map(|(t, _)| t), to: to.map(|(t, _)| t), within: (since, until), notes, reversed }
}

/// Of a list read one row past `size` (to know whether more follow), the
/// page itself: `rows` cut to `size`, and the address of the next page,
/// made by `next` from the page's last row; `None` where no more follow.
pub(crate) fn cut_to_page<T, A>(rows: &mut Vec<T>, size: u64, next: impl FnOnce(Option<&T>) -> A) -> Option<A> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    (rows.len() > size).then(|| {
        rows.truncate(size);
        next(rows.last())
    })
}

/// A list page's address at `path` with the query `pairs` that are given.
pub(crate) fn list_address(path: &str, pairs: &[Option<(&str, &str)>]) -> String {
    let pairs: Vec<(&str, &str)> = pairs.iter().flatten().copied().collect();
    match serde_urlencoded::to_string(pairs) {
        Ok(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_owned(),
    }
}

/// A price to come, in a product's `currency`: "905.00 EUR from 2027-01-01".
pub fn price_from(currency: &str, price: &pricegate_store::UpcomingPrice) -> String {
    format!("{} from {}", money(currency, price.unit_price_minor), price.effective_on)
}

pub fn signed_money(currency: &str, minor: i64) -> String {
    pricegate_mail::compose::signed_money(currency, minor)
}

#[cfg(test)]
mod tests {
    use super::{DoneCookie, Seal, local_path, minute_from, next_in_address};

    #[test]
    fn a_time_to_do_something_again_is_rounded_up_to_its_minute() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("a time");
        let seconds = |s: &str| at(s).timestamp();
        assert_eq!(minute_from(at("2026-12-04T10:16:00Z")), seconds("2026-12-04T10:16:00Z"));
        assert_eq!(minute_from(at("2026-12-04T10:16:00.001Z")), seconds("2026-12-04T10:17:00Z"));
        assert_eq!(minute_from(at("2026-12-04T10:16:37Z")), seconds("2026-12-04T10:17:00Z"));
        assert_eq!(minute_from(at("2026-12-04T23:59:59.5Z")), seconds("2026-12-05T00:00:00Z"));
    }

    #[test]
    fn logging_in_returns_to_a_page_of_this_site_with_its_query_and_nowhere_else() {
        for page in ["/quotes", "/quotes/3fc2b0b8", "/quotes?search=%C3%B6ko&state=draft", "/quotes/new?copy=3fc2b0b8"]
        {
            assert_eq!(local_path(page), Some(page));
        }
        let long = format!("/quotes?search={}", "x".repeat(1_000));
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example/",
            "https://evil.example/",
            "quotes",
            "/quotes?search=\"x\"",
            "/quotes?a=b#c",
            "/quotes?a=b\r\nSet-Cookie:x",
            "/.//evil.example",
            "/quotes/../..//evil.example",
            "/quotes/./new",
            "/quotes//new",
            long.as_str(),
        ] {
            assert_eq!(local_path(elsewhere), None, "{elsewhere}");
        }
        assert_eq!(next_in_address("/quotes"), "/quotes");
        assert_eq!(
            next_in_address("/quotes?search=%C3%B6ko&state=draft"),
            "/quotes%3Fsearch%3D%25C3%25B6ko%26state%3Ddraft"
        );
    }

    #[test]
    fn a_told_once_value_is_read_only_as_this_server_sealed_it_for_this_session() {
        const DONE: DoneCookie = DoneCookie { name: "pricegate_test_done", page: "/quotes" };
        let (mine, theirs) = (Seal { key: "session-secret", secure: true }, Seal { key: "another", secure: true });
        let response = DONE.redirect_to(&mine, "/quotes/1", "finalised.1");
        let set = response.headers().get(axum::http::header::SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap();
        assert!(set.ends_with("; Secure") && set.contains("Path=/quotes;"), "{set}");
        let sent = set.split(';').next().unwrap().to_owned();
        let headers = |cookie: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
            h
        };
        assert_eq!(DONE.read(&headers(&sent), &mine), Some("finalised.1"));
        assert_eq!(DONE.read(&headers(&sent), &theirs), None, "another session's page says nothing");
        let forged = sent.replace("finalised.1", "finalised.2");
        assert_eq!(DONE.read(&headers(&forged), &mine), None, "a changed value is not read");
        assert_eq!(DONE.read(&headers("pricegate_test_done=finalised.1"), &mine), None, "nor an unsealed one");
    }

    #[test]
    fn a_domain_message_is_said_by_the_field_s_label() {
        let labels = [("name", "The name"), ("customer.name", "The customer's name"), ("to", "Whoever")];
        let said = |m: &str| super::in_words(m.to_owned(), &labels);
        assert_eq!(said("name must not be empty."), "The name must not be empty.");
        assert_eq!(said("customer.name must not be empty."), "The customer's name must not be empty.");
        assert_eq!(said("to must be an active salesperson."), "Whoever must be an active salesperson.");
        assert_eq!(said("names are short."), "names are short.", "a whole word only");
        assert_eq!(said("Today is late."), "Today is late.");
    }
}
