//! The settings the server runs with, as an administrator may read them.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_domain::Role;

use crate::AppState;
use crate::pages::{Layout, PageError, PageUser, render};

#[derive(Template)]
#[template(path = "pages/admin_settings.html")]
pub(super) struct SettingsPage<'a> {
    pub(super) layout: Layout,
    pub(super) entries: &'a [crate::ConfigEntry],
    pub(super) mail_to_files: Option<String>,
}

/// The settings this process runs with (read-only: they come from the environment).
pub(super) async fn settings(State(app): State<AppState>, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let page = SettingsPage {
        layout: user.layout("Settings"),
        entries: &app.configuration.entries,
        mail_to_files: app.configuration.mail_to_files.clone(),
    };
    Ok(render(StatusCode::OK, &page))
}
