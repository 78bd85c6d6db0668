//! What a page handler takes from a request: the posted form as fields, the
//! form checked for session, role and CSRF token in one extractor, and the
//! id in the address.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use pricegate_domain::Role;
use uuid::Uuid;

use super::auth::login_csrf_cookie;
use super::{CSRF_FIELD, PageError, PageUser, cookie, tokens_match};
use crate::AppState;

/// A form body as its fields by name (a name sent twice keeps its first value).
pub struct FormFields(HashMap<String, String>);

/// More fields than any page's form sends (a quote's, the largest, sends
/// four for each of its 200 lines and a few more): a form with more is
/// refused before its fields are looked at, so that no request costs more
/// than reading its body (itself bounded) and a page's worth of work.
const MAX_FIELDS: usize = 2_000;

impl FormFields {
    /// The first value sent for `name`; empty if there is none.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// Every field, by name (the first value sent for each), in no order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    fn of(fields: Vec<(String, String)>) -> Result<FormFields, PageError> {
        if fields.len() > MAX_FIELDS {
            return Err(PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "This form is too large",
                format!(
                    "It sent {} fields, more than any page here sends ({MAX_FIELDS}): nothing was done.",
                    fields.len()
                ),
            ));
        }
        let mut map = HashMap::with_capacity(fields.len());
        for (name, value) in fields {
            map.entry(name).or_insert(value);
        }
        Ok(FormFields(map))
    }

    /// The revision of what the form's page showed (a quote's or a draft
    /// notice's), from its hidden `seen` field; `None` from a page that
    /// had none (sent before the field was) or one altered.
    pub fn seen(&self) -> Option<i64> {
        self.get("seen").parse().ok()
    }
}

/// What a form sent from a page without the revision of what it showed is
/// told: nothing was done, and the page is shown again as it is now.
pub const OUT_OF_DATE: &str = "the page you sent it from was out of date";

impl FormFields {
    /// Reads a urlencoded body. Not an extractor of its own: a handler gets
    /// a form only through [`CsrfForm`] or [`LoginForm`], which check its token.
    /// A body over the limit, one sent as something other than a form, and
    /// one whose characters are not text (UTF-8) are refused, each saying so;
    /// nothing in them is taken.
    async fn read<S: Send + Sync>(req: Request, state: &S) -> Result<FormFields, PageError> {
        let content_type = req.headers().get(axum::http::header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
        let essence = |t: &str| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if let Some(content_type) = content_type
            && essence(content_type) != "application/x-www-form-urlencoded"
        {
            return Err(PageError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This form was not sent as these pages send forms",
                "It came as something else than a form's fields: nothing was done. Send it from its page.",
            ));
        }
        // A post with no form at all has no CSRF token either: the token
        // check refuses it with the page that says so.
        let importing = req.uri().path() == "/products/import";
        let body = match axum::body::Bytes::from_request(req, state).await {
            Ok(body) => body,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE && importing => {
                return Err(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "This price list is too large for the form",
                    "Nothing was imported. Split the file into smaller ones (a few thousand products each) and \
                     import them one after another, or send it whole to the API's import (POST \
                     /api/v1/products/import, up to 4 MiB of CSV).",
                ));
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "This form is too large",
                    "It is larger than any page here sends: nothing was done. Go back, shorten what you typed, and \
                     send it again.",
                ));
            }
            Err(_) => {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    "This form could not be read",
                    "It did not arrive whole: nothing was done. Go back and send it again.",
                ));
            }
        };
        let fields = urlencoded_fields(&body).ok_or_else(|| {
            PageError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This form could not be read",
                "Some of what it sent is not text (its characters are not UTF-8): nothing was done. Go back, type \
                 it again, and send it.",
            )
        })?;
        FormFields::of(fields)
    }
}

/// The fields of a urlencoded body (`+` a space, `%XX` a byte); `None` when
/// a name or value decodes to something that is not UTF-8, which a browser
/// never sends, rather than taking it with replacement characters.
fn urlencoded_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    let decode = |raw: &[u8]| {
        let spaced: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        percent_encoding::percent_decode(&spaced).decode_utf8().ok().map(|text| text.into_owned())
    };
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// The login form, checked against the double-submit cookie the login page
/// set (there is no session yet to hold a token).
pub struct LoginForm(pub FormFields);

/// Why a login form was not taken.
pub enum LoginFormRejection {
    /// The body is not a form that can be read.
    Unreadable(PageError),
    /// The token does not match the cookie: a page left open while another
    /// tab logged in, or one older than its cookie. It logs nobody in; the
    /// e-mail and the page asked for are kept, so the login page can be
    /// shown again with them (never the password).
    Stale { email: String, next: String, kept: Option<KeptAcrossLogin> },
}

impl IntoResponse for LoginFormRejection {
    fn into_response(self) -> Response {
        match self {
            LoginFormRejection::Unreadable(e) => e.into_response(),
            LoginFormRejection::Stale { .. } => PageError::csrf().into_response(),
        }
    }
}

impl FromRequest<AppState> for LoginForm {
    type Rejection = LoginFormRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let expected = cookie(req.headers(), login_csrf_cookie(state).0).unwrap_or("").to_owned();
        let form = FormFields::read(req, state).await.map_err(LoginFormRejection::Unreadable)?;
        if tokens_match(form.get(CSRF_FIELD), &expected) {
            Ok(LoginForm(form))
        } else {
            let (email, next) = (form.get("email").trim().to_owned(), form.get("next").to_owned());
            Err(LoginFormRejection::Stale { email, next, kept: KeptAcrossLogin::from_login(&form) })
        }
    }
}

/// A form posted to a page whose address is its capability (a link from an
/// e-mail): there is no session, nor a CSRF cookie, so a post the browser
/// says came from another site is refused (see `crate::ack::is_cross_site`)
/// before the body is read. Without that, a page elsewhere could post the
/// attacker's own link and log the reader in as the attacker.
pub struct LinkForm(pub FormFields);

impl FromRequest<AppState> for LinkForm {
    type Rejection = PageError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        if crate::ack::is_cross_site(req.headers(), &app.base_url) {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form came from another site",
                "Nothing was changed. Open the link from your e-mail again, and send the form from there.",
            ));
        }
        Ok(LinkForm(FormFields::read(req, app).await?))
    }
}

/// The roles a form is for, as a type, so that the role check travels with
/// the extractor instead of being a line each handler must remember.
pub trait Roles: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// Salespeople only.
pub struct Sales;
/// Finance only.
pub struct Finance;
/// Administrators only.
pub struct Admin;
/// Those who work with quotes: sales and finance.
pub struct QuoteWork;
/// Anyone logged in.
pub struct Anyone;

impl Roles for Sales {
    const ROLES: &'static [Role] = &[Role::Sales];
}
impl Roles for Finance {
    const ROLES: &'static [Role] = &[Role::Finance];
}
impl Roles for Admin {
    const ROLES: &'static [Role] = &[Role::Admin];
}
impl Roles for QuoteWork {
    const ROLES: &'static [Role] = &[Role::Sales, Role::Finance];
}
impl Roles for Anyone {
    const ROLES: &'static [Role] = &[Role::Sales, Role::Finance, Role::Admin];
}

/// A form posted from a page, by someone with one of `R`'s roles, carrying
/// the session's CSRF token. Every state-changing page handler takes one, so
/// none can forget the session, the role or the token: without a session it
/// is a trip to the login, with another role the 403 page, and without the
/// right token (compared in constant time), or sent from another site (the
/// browser says so: `Sec-Fetch-Site`, `Origin`), the "form has expired" page.
/// The token alone would do; the site is a second, cheap check. The role is
/// checked before the body is read.
pub struct CsrfForm<R: Roles> {
    pub user: PageUser,
    pub form: FormFields,
    roles: PhantomData<R>,
}

impl<R: Roles> FromRequest<AppState> for CsrfForm<R> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let Posted { user, form, from_here } = Posted::read(req, state, R::ROLES).await?;
        if !from_here || !tokens_match(form.get(CSRF_FIELD), user.csrf()) {
            return Err(PageError::csrf().into_response());
        }
        Ok(CsrfForm { user, form, roles: PhantomData })
    }
}

/// A form post by someone logged in with one of `roles` (checked before the
/// body is read), its token not yet compared.
struct Posted {
    user: PageUser,
    form: FormFields,
    /// The browser does not say it came from another site.
    from_here: bool,
}

impl Posted {
    async fn read(req: Request, state: &AppState, roles: &[Role]) -> Result<Posted, Response> {
        let (mut parts, body) = req.into_parts();
        let user = PageUser::from_request_parts(&mut parts, state).await?;
        Self::read_as(user, parts, body, state, roles).await
    }

    /// The form `user` (the session's) sent, once their role is checked.
    async fn read_as(
        user: PageUser,
        parts: Parts,
        body: axum::body::Body,
        state: &AppState,
        roles: &[Role],
    ) -> Result<Posted, Response> {
        user.require(roles).map_err(IntoResponse::into_response)?;
        let from_here = !crate::ack::is_cross_site(&parts.headers, &state.base_url);
        let form =
            FormFields::read(Request::from_parts(parts, body), state).await.map_err(IntoResponse::into_response)?;
        Ok(Posted { user, form, from_here })
    }
}

/// A [`CsrfForm`] for a form whose page shows what was typed back without
/// acting on it (the quote and notice forms, long to type): sent from this site with a
/// token that is not the session's (opened before a logout and login in
/// another tab), it is `expired`, and its handler shows the form again, as
/// typed, with the current token, doing nothing else. Without a token, or
/// from another site (a sibling subdomain is one: `Sec-Fetch-Site`,
/// `Origin`), with any token, it is the "form has expired" page, as for
/// [`CsrfForm`]: a forged post is never turned into a filled-in form ready
/// to save.
pub struct KeptForm<R: Roles> {
    pub user: PageUser,
    pub form: FormFields,
    pub expired: bool,
    roles: PhantomData<R>,
}

impl<R: Roles> FromRequest<AppState> for KeptForm<R> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = match PageUser::from_request_parts(&mut parts, state).await {
            Ok(user) => user,
            // Sent after its session ended (its day over, logged out
            // elsewhere), which sends it to the login page: what was typed
            // goes through that page. (Any other refusal, the database
            // unavailable say, is said as it is.)
            Err(to_login) if to_login.status() == StatusCode::SEE_OTHER => {
                let req = Request::from_parts(parts, body);
                return Err(KeptAcrossLogin::read(req, state).await.unwrap_or(to_login));
            }
            Err(refused) => return Err(refused),
        };
        let Posted { user, form, from_here } = Posted::read_as(user, parts, body, state, R::ROLES).await?;
        let expired = !tokens_match(form.get(CSRF_FIELD), user.csrf());
        let keepable = !form.get(CSRF_FIELD).is_empty();
        if !from_here || (expired && !keepable) {
            return Err(PageError::csrf().into_response());
        }
        Ok(KeptForm { user, form, expired, roles: PhantomData })
    }
}

/// A long form ([`KeptForm`]) sent from this site, with the token its page
/// had, after its session ended: the login page carries what was typed
/// (never a password: these forms have none), and once logged in, a button
/// sends it back to the form's address with that old token, which shows the
/// form again as typed ([`EXPIRED_FORM_KEPT`]), to check and save. A post
/// from another site, or without a token, is never kept: it is the login
/// page as for any other form.
#[derive(Debug, Clone)]
pub(crate) struct KeptAcrossLogin {
    /// Where the form was sent: one of [`KeptAcrossLogin::keeps`]'s addresses.
    pub action: String,
    /// Its fields, token included.
    pub fields: Vec<(String, String)>,
}

impl KeptAcrossLogin {
    /// The prefix of a kept field's name on the login form, which keeps them
    /// apart from its own.
    pub(crate) const PREFIX: &'static str = "kept.";

    /// The most a kept form may hold, its names and values together.
    const LARGEST: usize = 256 * 1024;

    /// The login page with the form sent to `req` kept on it, if it may be kept.
    async fn read(req: Request, state: &AppState) -> Option<Response> {
        let action = req.uri().path().to_owned();
        let headers = req.headers().clone();
        if req.method() != axum::http::Method::POST
            || !Self::keeps(&action)
            || crate::ack::is_cross_site(&headers, &state.base_url)
        {
            return None;
        }
        let form = FormFields::read(req, state).await.ok()?;
        if form.get(CSRF_FIELD).is_empty() {
            return None;
        }
        let mut fields: Vec<(String, String)> =
            form.fields().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
        // As much as the largest form a person types (a quote of 200
        // lines, a notice of 500 changes): more is not someone's typing.
        if fields.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>() > Self::LARGEST {
            return None;
        }
        fields.sort();
        super::auth::login_keeping(state, &headers, KeptAcrossLogin { action, fields }).ok()
    }

    /// The addresses of the forms kept across a login: a quote's and a
    /// notice's, new or edited.
    pub(crate) fn keeps(action: &str) -> bool {
        let edited = |kind: &str| {
            action
                .strip_prefix(kind)
                .and_then(|rest| rest.strip_suffix("/edit"))
                .is_some_and(|id| Uuid::parse_str(id).is_ok_and(|parsed| parsed.hyphenated().to_string() == id))
        };
        matches!(action, "/quotes/new" | "/notices/new") || edited("/quotes/") || edited("/notices/")
    }

    /// What a login form sent back with a kept form carries of it; `None`
    /// when it carries none, or not to an address kept.
    pub(crate) fn from_login(form: &FormFields) -> Option<KeptAcrossLogin> {
        let action = form.get("resume");
        if !Self::keeps(action) {
            return None;
        }
        let mut fields: Vec<(String, String)> = form
            .fields()
            .filter_map(|(name, value)| Some((name.strip_prefix(Self::PREFIX)?.to_owned(), value.to_owned())))
            .collect();
        fields.sort();
        (!fields.is_empty()).then(|| KeptAcrossLogin { action: action.to_owned(), fields })
    }
}

/// What a [`KeptForm`] that had expired says above what was typed.
pub(crate) const EXPIRED_FORM_KEPT: &str = "Nothing was saved: this form came from a page opened before you last \
    logged in (or your password changed), or not from Pricegate. What you typed is below: check it, then save again.";

/// The `{id}` of a page's address as a UUID; anything else is the 404 page.
pub struct PageId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PageId {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PageSegment(raw) = PageSegment::from_request_parts(parts, state).await?;
        parse_id(&raw).map(PageId)
    }
}

/// The one variable segment of a page's address as typed, trimmed (a
/// quote's id or its reference); one that is not UTF-8 is the 404 page.
pub struct PageSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PageSegment {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        Ok(PageSegment(raw.trim().to_owned()))
    }
}

/// A list page's query string, read leniently: one that cannot be read (a
/// filter given twice, a value of the wrong kind, a NUL character, which no
/// search means and PostgreSQL cannot hold, bytes that are not UTF-8, a `%`
/// that starts no escape) leaves the page's default
/// listing, and `unreadable` says so, for the page to say above the list.
/// (Line breaks are read: a form's prefill carries several lines.)
pub struct PageQuery<T> {
    pub query: T,
    pub unreadable: bool,
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequestParts<S> for PageQuery<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|q| !crate::extract::page_query_is_text(q)) {
            return Ok(PageQuery { query: T::default(), unreadable: true });
        }
        Ok(match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(query)) => PageQuery { query, unreadable: false },
            Err(_) => PageQuery { query: T::default(), unreadable: true },
        })
    }
}

/// An id typed into a form or an address; one that is not a UUID names nothing.
fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw.trim()).map_err(|_| not_found())
}

pub(super) fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "Not found", "There is nothing at this address.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_long_forms_addresses_are_kept_across_a_login() {
        let id = Uuid::new_v4().hyphenated().to_string();
        for kept in ["/quotes/new", "/notices/new", &format!("/quotes/{id}/edit"), &format!("/notices/{id}/edit")] {
            assert!(KeptAcrossLogin::keeps(kept), "{kept}");
        }
        let upper = id.to_uppercase();
        for not in [
            "",
            "/",
            "/quotes/new/",
            "/quotes/x/edit",
            "/login",
            &format!("/quotes/{upper}/edit"),
            &format!("/quotes/{id}/finalise"),
            &format!("/quotes/{id}/edit/"),
            &format!("/products/{id}/edit"),
            &format!("//evil.example/quotes/{id}/edit"),
        ] {
            assert!(!KeptAcrossLogin::keeps(not), "{not}");
        }
    }

    #[test]
    fn a_login_form_gives_back_the_fields_it_kept_for_an_address_kept() {
        let form = |pairs: &[(&str, &str)]| {
            FormFields::of(pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()).expect("a form")
        };
        let login = form(&[
            ("csrf_token", "login's"),
            ("email", "sam@pricegate.test"),
            ("password", "secret"),
            ("resume", "/quotes/new"),
            ("kept.customer_name", "Greta"),
            ("kept.csrf_token", "the form's"),
        ]);
        let kept = KeptAcrossLogin::from_login(&login).expect("kept");
        assert_eq!(kept.action, "/quotes/new");
        let fields: Vec<(&str, &str)> = kept.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(fields, [("csrf_token", "the form's"), ("customer_name", "Greta")], "its own fields left out");
        assert!(KeptAcrossLogin::from_login(&form(&[("resume", "/logout"), ("kept.x", "1")])).is_none());
        assert!(KeptAcrossLogin::from_login(&form(&[("resume", "/quotes/new")])).is_none(), "nothing kept");
        assert!(KeptAcrossLogin::from_login(&form(&[("kept.x", "1")])).is_none(), "no address");
    }
}
