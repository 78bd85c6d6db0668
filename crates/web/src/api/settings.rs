//! The settings this server runs with, for admins.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::api::ApiRouter;
use crate::extract::{AdminUser, ApiQuery, NoParameters};
use crate::{AppState, ConfigEntry, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(settings))
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// Each setting of the process that answered, from its environment (or
    /// `.env`) or the default; passwords in URLs are shown as `***`.
    pub settings: Vec<ConfigEntry>,
    /// Whether e-mail goes to an SMTP server. `false`: it is only written as
    /// files under `mail_written_to`, and reaches no one.
    pub mail_sent: bool,
    #[schema(required = true)]
    pub mail_written_to: Option<String>,
}

/// The settings this server process runs with (a separate `pricegate worker` has its own).
#[utoipa::path(get, path = "/api/v1/settings", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn settings(State(app): State<AppState>, _admin: AdminUser, _: ApiQuery<NoParameters>) -> Json<SettingsView> {
    let configuration = &app.configuration;
    Json(SettingsView {
        settings: configuration.entries.clone(),
        mail_sent: configuration.mail_to_files.is_none(),
        mail_written_to: configuration.mail_to_files.clone(),
    })
}
