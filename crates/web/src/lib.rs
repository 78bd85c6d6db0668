//! Pricegate's HTTP edge: the JSON API under `/api/v1`, its OpenAPI
//! document and Swagger UI, and `/healthz`. Handlers parse input into domain
//! types, call the store, and turn every outcome into a response through
//! [`AppError`]; they hold no rules of their own.

mod ack;
pub mod api;
mod client_addr;
mod denied;
mod error;
mod extract;
mod filters;
pub mod limits;
mod openapi;
mod pages;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::IntoResponse;
use pricegate_store::Store;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use client_addr::TrustedProxies;
pub use error::{AppError, ErrorBody};
pub use openapi::document as openapi_document;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// Where people reach this server, for links (no trailing slash).
    pub base_url: String,
    /// How long one request may take, reading its body included, before it
    /// is answered 503 with the `timeout` error: a client that sends slowly
    /// cannot hold a connection and its task for ever.
    pub request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: std::sync::Arc<TrustedProxies>,
    /// The settings this process runs with, as admins see them.
    pub configuration: std::sync::Arc<Configuration>,
}

impl AppState {
    /// Whether people reach this server by HTTPS (`PRICEGATE_BASE_URL` is an
    /// `https://` address): its cookies are then `Secure`, and browsers are
    /// told to keep to HTTPS.
    pub fn served_over_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// The settings a process runs with, for `/admin/settings` and
/// `GET /api/v1/settings`: no password in any of them.
#[derive(Debug, Clone, Default)]
pub struct Configuration {
    pub entries: Vec<ConfigEntry>,
    /// Where mail is written as files when no SMTP server is set: then no
    /// e-mail reaches anyone, and the admin pages say so.
    pub mail_to_files: Option<String>,
}

/// One setting: its environment variable, the value in force, what it does.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigEntry {
    pub variable: &'static str,
    pub value: String,
    pub meaning: &'static str,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let request_timeout = state.request_timeout;
    // Served at an https:// address, browsers are told to come back by
    // HTTPS only, for a year: the session cookie is `Secure` there too.
    let https_only = state.served_over_https().then(|| HeaderValue::from_static("max-age=31536000"));
    Router::new()
        // The API and its OpenAPI document come from one registration.
        .merge(openapi::router())
        .merge(ack::router())
        .merge(pages::router())
        .route("/healthz", {
            let failing = std::sync::Arc::new(HealthFailures::default());
            axum::routing::get(move |state| healthz(state, failing.clone()))
        })
        // Around the routes only: the matched route is known, and an
        // unknown address is no denial.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), denied::audit_denials))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Around the fallback too: an unknown address's page has the navigation.
        .layer(axum::middleware::from_fn_with_state(state.clone(), pages::with_nav))
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            move |_: &axum::response::Response| https_only.clone(),
        ))
        .layer(
            // Outermost first: every answer, a timeout's and a panic's too,
            // carries these two headers.
            ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    HeaderName::from_static("x-content-type-options"),
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    HeaderName::from_static("x-frame-options"),
                    HeaderValue::from_static("DENY"),
                ))
                // An API answer may carry a token (`/auth/token`) or what only
                // its caller may see: no cache keeps one unless a route says so.
                .layer(SetResponseHeaderLayer::if_not_present(
                    axum::http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                // Pages, the acknowledgement pages and the API's documents set
                // their own; anything else (JSON, a file, a timeout's answer)
                // opened in a browser runs nothing, loads nothing and names no
                // address it was reached from.
                .layer(SetResponseHeaderLayer::if_not_present(
                    axum::http::header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(NOTHING_RUNS),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    axum::http::header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(axum::middleware::from_fn(limits::close_after_unread_body))
                // Before a request id is added: the limits count what the client sent.
                .layer(axum::middleware::from_fn(limits::refuse_oversized))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                            // The path only: query strings may carry tokens; and an
                            // acknowledgement link's path *is* one.
                            tracing::info_span!(
                                "request",
                                method = %req.method(),
                                path = %loggable_path(req.uri().path()),
                                request_id = %id,
                                // Who asked, once authenticated (`denied::Caller::note`).
                                user_id = tracing::field::Empty,
                            )
                        })
                        // Every 5xx is an `AppError` (a panic's and a timeout's are
                        // made one below), which logs it once with its cause: the
                        // layer's own "response failed" line would say it twice.
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(|_| AppError::internal("a handler panicked").into_response()))
                .layer(axum::middleware::map_response(explain_timeout))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, request_timeout)),
        )
}

/// The content security policy of an answer that is not a page: nothing in
/// it may run, load, submit or frame it.
const NOTHING_RUNS: &str = "default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

/// The timeout layer answers with a bare status; every error carries the
/// JSON body, so an empty 503 (which only the timeout layer produces) gets one.
async fn explain_timeout(response: axum::response::Response) -> axum::response::Response {
    let bare = response.headers().get(axum::http::header::CONTENT_TYPE).is_none();
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && bare {
        return AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "The request took too long to arrive or to answer. Please try again.",
        )
        .into_response();
    }
    response
}

/// A request path fit for a log line: the tokens of acknowledgement links
/// and of links to choose a password are replaced.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/ack/") {
        "/ack/{token}"
    } else if path.starts_with("/password/") {
        "/password/{token}"
    } else {
        path
    }
}

/// Where a link's page is when its address came with punctuation after the
/// token (`…/ack/<token>.`, a link at the end of a sentence, copied with its
/// full stop): `prefix` and the token without it. `None` for a token as
/// sent, or one with nothing of a token left. Tokens are base64url, so no
/// such character is part of one.
fn without_trailing_punctuation(prefix: &str, token: &str) -> Option<String> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let cut = token.trim_end_matches(|c: char| !token_char(c));
    let punctuation = |c: char| ".,;:!?)]}>'\"\u{2019}\u{201D}".contains(c);
    let dropped = &token[cut.len()..];
    // Only a token's characters are carried into the address led to.
    let whole = !cut.is_empty() && cut.chars().all(token_char);
    (whole && !dropped.is_empty() && dropped.chars().all(punctuation)).then(|| format!("{prefix}{cut}"))
}

/// How long `/healthz` waits for the database: a probe (a load balancer's,
/// an orchestrator's, often given a second or two) is answered 503 within
/// it, rather than after the pool's own wait for a connection.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The health checks failed in a row, and what the last one logged said.
#[derive(Default)]
struct HealthFailures {
    count: std::sync::atomic::AtomicU64,
    said: std::sync::Mutex<Option<(&'static str, Option<String>)>>,
}

/// 200 once the database answers; 503 (with the error body) while it does
/// not, or does not within [`HEALTH_TIMEOUT`].
///
/// A failure is logged, with its cause, when it is the first in a row or
/// says otherwise than the last logged (the database refusing connections,
/// then refusing the password after a restore); the first check to pass
/// again says how many failed. Not a line a probe every second or two while
/// the database is away.
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
    failing: std::sync::Arc<HealthFailures>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    use std::sync::atomic::Ordering::Relaxed;
    match state.store.ping(HEALTH_TIMEOUT).await {
        Ok(()) => {
            let failed = failing.count.swap(0, Relaxed);
            if failed > 0 {
                *failing.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                tracing::info!(failed, "the health check passes again: the database answers");
            }
            Ok(axum::Json(serde_json::json!({ "status": "ok" })))
        }
        Err(e) => {
            let error = AppError::from(e);
            failing.count.fetch_add(1, Relaxed);
            let (code, cause) = error.logged_as();
            let now = (code, cause.map(str::to_owned));
            let mut said = failing.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if said.as_ref() == Some(&now) {
                return Err(error.logged());
            }
            if said.is_none() {
                tracing::warn!(
                    "the health check fails; until it passes again, only a failure of another cause is logged"
                );
            }
            *said = Some(now);
            Err(error)
        }
    }
}

/// A browser asking for a page (not the API, nor a client that wants JSON):
/// it gets a page back, not an error body.
pub(crate) fn wants_page(uri: &axum::http::Uri, headers: &axum::http::HeaderMap) -> bool {
    let html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    html && !uri.path().starts_with("/api/")
}

/// An error page for a browser at an address no page answers (or not
/// with that method): these fallbacks run outside the pages' router, so its
/// headers are added here.
async fn fallback_page(status: StatusCode, heading: &str, message: &str) -> axum::response::Response {
    pages::page_headers(pages::PageError::new(status, heading, message).into_response()).await
}

pub(crate) async fn not_found(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if wants_page(&uri, &headers) {
        // A page's address typed or copied with a slash after it
        // (`/quotes/`) is that page, its query kept.
        if let Some(to) = without_trailing_slash(&method, &uri) {
            return axum::response::Redirect::permanent(&to).into_response();
        }
        return fallback_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing at this address. Check it, or start again from Pricegate's first page.",
        )
        .await;
    }
    AppError::new(StatusCode::NOT_FOUND, "not_found", "There is nothing at this address.").into_response()
}

/// For a GET (or HEAD) of an address ending in `/` that is not the first
/// page, the same address without it, query kept; never one a browser would
/// read as another site's (`//host`, `/\\host`).
fn without_trailing_slash(method: &axum::http::Method, uri: &axum::http::Uri) -> Option<String> {
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return None;
    }
    // Only an address as a browser sends it (percent-encoded): a Location
    // header carries no raw UTF-8.
    let path = uri.path().strip_suffix('/')?.trim_end_matches('/');
    if !path.is_ascii() || !uri.query().is_none_or(str::is_ascii) {
        return None;
    }
    let mut rest = path.strip_prefix('/')?.chars();
    if matches!(rest.next(), None | Some('/' | '\\')) {
        return None;
    }
    Some(match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    })
}

/// A browser that opens a form's address (a refused form's page stays at
/// it, and someone may reload or bookmark it) is sent to the page the form
/// belongs to: `/quotes/{id}/finalise` → `/quotes/{id}`.
async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if method == axum::http::Method::GET && wants_page(&uri, &headers) {
        // Same site only: never `//host`, which a browser reads as another site.
        let parent = uri
            .path()
            .rsplit_once('/')
            .map(|(parent, _)| parent)
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or("/");
        return axum::response::Redirect::to(parent).into_response();
    }
    if wants_page(&uri, &headers) {
        return fallback_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not possible here",
            "This address does not accept that kind of request. Go back and use the page's own buttons.",
        )
        .await;
    }
    AppError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This address does not accept that method.")
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{loggable_path, without_trailing_punctuation};

    #[test]
    fn an_address_with_a_slash_after_it_leads_to_the_address_without() {
        let to = |method: &axum::http::Method, uri: &str| {
            super::without_trailing_slash(method, &uri.parse().expect("an address"))
        };
        let get = &axum::http::Method::GET;
        assert_eq!(to(get, "/quotes/").as_deref(), Some("/quotes"));
        assert_eq!(to(get, "/products/PUMP-S60//?on=2026-12-01").as_deref(), Some("/products/PUMP-S60?on=2026-12-01"));
        assert_eq!(to(&axum::http::Method::HEAD, "/notices/").as_deref(), Some("/notices"));
        assert_eq!(to(&axum::http::Method::POST, "/quotes/"), None, "a form is sent where it says");
        assert_eq!(to(get, "/%C3%BC/").as_deref(), Some("/%C3%BC"), "encoded, as browsers send it");
        for stays in ["/", "//", "/quotes", "//evil.example/", "/\\evil.example/", "///evil.example//"] {
            assert_eq!(to(get, stays), None, "{stays}");
        }
    }

    #[test]
    fn a_link_copied_with_the_punctuation_after_it_leads_to_its_token() {
        let token = "qUHRTiZxSYn-nNa0tguZAJW5Tjts4FNsLiRca8M1LpY";
        for copied in [".", ",", ").", "\u{201D}", ">"] {
            let expected = Some(format!("/ack/{token}"));
            assert_eq!(without_trailing_punctuation("/ack/", &format!("{token}{copied}")), expected, "{copied}");
        }
        assert_eq!(without_trailing_punctuation("/ack/", token), None, "as sent");
        assert_eq!(without_trailing_punctuation("/ack/", "..."), None, "nothing of a token");
        assert_eq!(without_trailing_punctuation("/ack/", &format!("{token}%")), None, "not punctuation");
        assert_eq!(without_trailing_punctuation("/ack/", &format!("{token}x.")), Some(format!("/ack/{token}x")));
        for sly in ["x\ny.", "../../admin/users.", "a?b=c.", "a#b."] {
            assert_eq!(without_trailing_punctuation("/ack/", sly), None, "{sly:?}");
        }
    }

    #[test]
    fn no_link_token_reaches_a_log_line() {
        let token = "qUHRTiZxSYn-nNa0tguZAJW5Tjts4FNsLiRca8M1LpY";
        assert_eq!(loggable_path(&format!("/ack/{token}")), "/ack/{token}");
        assert_eq!(loggable_path(&format!("/password/{token}")), "/password/{token}");
        assert_eq!(loggable_path("/login/forgot"), "/login/forgot");
        assert_eq!(loggable_path("/quotes/1"), "/quotes/1");
    }
}
