//! The JSON API under `/api/v1`, a module per resource, each with its own router.

pub mod auth;
pub mod mail;
pub mod notices;
pub mod products;
pub mod quotes;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::AppState;

/// JSON bodies above this are refused with 413 before they are parsed.
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(notices::router())
        .merge(mail::router())
        .merge(quotes::router())
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .merge(products::router())
}
