//! Admin: the people who use Pricegate — create, change role, set a new
//! password, deactivate, hand their quotes over — the mail outbox, and the
//! settings the server runs with.

mod deactivate;
mod done;
mod outbox;
mod password;
mod settings;
mod user_edit;
mod users;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
use deactivate::{confirm_deactivate, hand_over};
use outbox::{outbox, resend};
use password::{send_password_link, set_password};
use settings::settings;
use user_edit::update;
use users::{create, list};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{id}", post(update))
        .route("/admin/users/{id}/deactivate", get(confirm_deactivate))
        .route("/admin/users/{id}/handover", post(hand_over))
        .route("/admin/users/{id}/password", post(set_password))
        .route("/admin/users/{id}/password-link", post(send_password_link))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{id}/resend", post(resend))
        .route("/admin/settings", get(settings))
}
