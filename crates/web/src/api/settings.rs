//! The settings this server runs with, for admins, and the one they change
//! while it runs: the reminder schedule.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use pricegate_domain::reminders::{format_schedule, parse_schedule};
use pricegate_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::extract::{AdminUser, ApiJson};
use crate::{AppError, AppState, ConfigEntry, Configuration, ErrorBody};

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(settings)).routes(routes!(set_reminders))
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// Each setting of the process that answered, from its environment (or
    /// `.env`) or the default; passwords in URLs are shown as `***`.
    pub settings: Vec<ConfigEntry>,
    /// Whether e-mail goes to an SMTP server. `false`: it is only written as
    /// files under `mail_written_to`, and reaches no one.
    pub mail_sent: bool,
    pub mail_written_to: Option<String>,
    pub reminders: RemindersView,
}

/// The reminder schedule every worker follows.
#[derive(Serialize, ToSchema)]
pub struct RemindersView {
    /// The delays after publication, e.g. `["4h", "1day", "3days"]`.
    pub in_force: Vec<String>,
    /// `admin` when an admin set them (`set_at`, `set_by`), `environment`
    /// when they are `PRICEGATE_REMINDERS` (or its default).
    pub source: &'static str,
    pub set_at: Option<DateTime<Utc>>,
    pub set_by: Option<Uuid>,
}

/// The schedule in force: an admin's, else the environment's.
pub(crate) async fn reminders_view(store: &Store, configuration: &Configuration) -> Result<RemindersView, StoreError> {
    let strings = |schedule: &[std::time::Duration]| format_schedule(schedule).split(", ").map(str::to_owned).collect();
    Ok(match store.reminder_schedule_set().await? {
        Some(set) => RemindersView {
            in_force: strings(&set.schedule),
            source: "admin",
            set_at: Some(set.set_at),
            set_by: set.set_by,
        },
        None => RemindersView {
            in_force: strings(&configuration.reminders),
            source: "environment",
            set_at: None,
            set_by: None,
        },
    })
}

async fn view(app: &AppState) -> Result<SettingsView, AppError> {
    let configuration = &app.configuration;
    Ok(SettingsView {
        settings: configuration.entries.clone(),
        mail_sent: configuration.mail_to_files.is_none(),
        mail_written_to: configuration.mail_to_files.clone(),
        reminders: reminders_view(&app.store, configuration).await?,
    })
}

/// The settings this server process runs with (a separate `pricegate worker`
/// has its own), and the reminder schedule every worker follows.
#[utoipa::path(get, path = "/api/v1/settings", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn settings(State(app): State<AppState>, _admin: AdminUser) -> Result<Json<SettingsView>, AppError> {
    Ok(Json(view(&app).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemindersIn {
    /// Delays after publication, each later than the one before, 1 to 10 of
    /// them, e.g. `["4h", "24h", "72h"]`; `null` returns to `PRICEGATE_REMINDERS`.
    pub reminders: Option<Vec<String>>,
}

/// Set the reminder schedule every worker follows from its next tick, for
/// notices already published too; `null` returns to the environment's.
/// Audited as `settings.updated`.
#[utoipa::path(put, path = "/api/v1/settings/reminders", tag = "auth", request_body = RemindersIn,
    security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn set_reminders(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<RemindersIn>,
) -> Result<Json<SettingsView>, AppError> {
    let schedule = body
        .reminders
        .as_ref()
        .map(|parts| parse_schedule("reminders", parts.iter().map(String::as_str)))
        .transpose()?;
    app.store.set_reminder_schedule(&admin.actor, schedule.as_deref()).await?;
    Ok(Json(view(&app).await?))
}
