//! The JSON API under `/api/v1`, a module per resource, each with its own router.
//! Every route is registered with `routes!`, which takes its path and method
//! from the handler's `#[utoipa::path]`: the router and the OpenAPI document
//! are built from the same list and cannot disagree. [`ApiRouter`] offers no
//! other way to add a route, so an undocumented one does not compile.

pub mod auth;
pub mod mail;
pub mod notices;
pub mod precondition;
pub mod products;
pub mod quotes;
pub mod settings;
pub mod users;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::AppState;
use crate::error::AppError;

/// JSON bodies above this are refused with 413 before they are parsed.
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

/// A router of API routes, each added with its OpenAPI operation.
pub struct ApiRouter(OpenApiRouter<AppState>);

impl ApiRouter {
    pub fn new() -> ApiRouter {
        ApiRouter(OpenApiRouter::new())
    }

    /// Adds the handlers of `routes!(..)` at their documented path and methods.
    pub fn routes(self, routes: UtoipaMethodRouter<AppState>) -> ApiRouter {
        ApiRouter(self.0.routes(routes))
    }

    /// Limits the bodies of the routes added so far.
    pub fn limit_body(self, limit: DefaultBodyLimit) -> ApiRouter {
        ApiRouter(self.0.layer(limit))
    }

    /// Refuses a query string on the routes added so far that change
    /// something (see [`no_query_on_changes`]).
    pub fn refuse_queries_on_changes(self) -> ApiRouter {
        ApiRouter(self.0.layer(axum::middleware::from_fn(no_query_on_changes)))
    }

    pub fn merge(self, other: ApiRouter) -> ApiRouter {
        ApiRouter(self.0.merge(other.0))
    }

    pub fn into_inner(self) -> OpenApiRouter<AppState> {
        self.0
    }
}

impl Default for ApiRouter {
    fn default() -> ApiRouter {
        ApiRouter::new()
    }
}

/// No route that changes something takes a query parameter: one sent
/// (`POST /api/v1/products/import?dry_run=true`) is 400 `invalid_query`
/// before anything is read or written, not ignored while the change is made.
/// Marked here; refused once the caller is known to be allowed the route at
/// all (see [`crate::extract::QueryOnChange`]).
async fn no_query_on_changes(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let reads = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    if !reads && req.uri().query().is_some_and(|q| !q.is_empty()) {
        req.extensions_mut().insert(crate::extract::QueryOnChange);
    }
    next.run(req).await
}

/// A list's `limit` query parameter: 1 to 1000, or none given. Taken
/// signed, so that `limit=-1` is told the range (422) rather than that it is
/// not a number.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<Option<u64>, pricegate_domain::Invalid> {
    match limit {
        None => Ok(None),
        Some(limit @ 1..=1000) => Ok(Some(limit.unsigned_abs())),
        Some(_) => Err(pricegate_domain::Invalid::new("limit", "limit must be between 1 and 1000.")),
    }
}

/// Refuses times in an address given the wrong way round (`since` after
/// `until`, by their names in `names`): nothing is between them, and an
/// empty list would read as "none", which is not what was asked.
pub(crate) fn times_in_order(
    names: (&str, &str),
    (since, until): (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>),
) -> Result<(), AppError> {
    match (since, until) {
        (Some(since), Some(until)) if since > until => Err(AppError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "{} is after {}: the times are the wrong way round, and nothing is between them.",
                names.0, names.1
            ),
        )),
        _ => Ok(()),
    }
}

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(settings::router())
        .merge(notices::router())
        .merge(mail::router())
        .merge(quotes::router())
        .limit_body(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .merge(products::router())
        .refuse_queries_on_changes()
}
