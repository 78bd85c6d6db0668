//! The JSON API under `/api/v1`, a module per resource, each with its own router.
//! Every route is registered with `routes!`, which takes its path and method
//! from the handler's `#[utoipa::path]`: the router and the OpenAPI document
//! are built from the same list and cannot disagree.

pub mod auth;
pub mod mail;
pub mod notices;
pub mod products;
pub mod quotes;
pub mod users;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// JSON bodies above this are refused with 413 before they are parsed.
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(notices::router())
        .merge(mail::router())
        .merge(quotes::router())
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .merge(products::router())
}
