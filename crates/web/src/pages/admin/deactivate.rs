//! Deactivating someone: the confirmation that says what becomes of their drafts, and handing them over.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pricegate_domain::Role;
use pricegate_store::{OpenDrafts, StoreError};
use uuid::Uuid;

use super::done::Done;
use super::user_edit::{DraftRow, draft_rows, refused_on_list};
use crate::pages::{Admin, CsrfForm, Layout, PageError, PageId, PageUser, in_words, render};
use crate::{AppState, filters};

#[derive(Template)]
#[template(path = "pages/admin_deactivate.html")]
pub(super) struct DeactivatePage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) role: String,
    /// Invited, and yet to choose a password: no session of theirs to end,
    /// and reactivated, they are invited again.
    pub(super) invited: bool,
    pub(super) owned: u64,
    pub(super) signed: u64,
    pub(super) drafts: Vec<DraftRow>,
    /// Whom their drafts can go to as they are deactivated: active
    /// salespeople but them.
    pub(super) sales: Vec<crate::pages::Signer>,
    pub(super) hand_over_where: &'static str,
}

/// What deactivating someone does, before it is done: the button on the
/// users page leads here, and this page's form deactivates.
pub(super) async fn confirm_deactivate(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let who = app.store.get_user(id).await?;
    if id == user.0.actor.id || !who.active {
        // Nothing to confirm: one's own account, or one already inactive.
        return Ok(Redirect::to("/admin/users").into_response());
    }
    let OpenDrafts { owned, signed, .. } =
        app.store.open_quote_counts(Some(&[id])).await?.get(&id).copied().unwrap_or_default();
    let sales = match owned + signed > 0 {
        true => crate::pages::signers_by_name(&app).await?.into_iter().filter(|s| s.id != id).collect(),
        false => Vec::new(),
    };
    let page = DeactivatePage {
        hand_over_where: match sales.is_empty() {
            false => "below, as you deactivate them (or later, on the users page)",
            true => "on the users page, once another salesperson can take them (there is none now)",
        },
        layout: user.layout(format!("Deactivate {}", who.name)),
        csrf: user.csrf().to_owned(),
        drafts: if owned + signed > 0 { draft_rows(&app, id).await? } else { Vec::new() },
        sales,
        id,
        name: who.name,
        email: who.email,
        role: who.role,
        invited: who.invited_at.is_some(),
        owned,
        signed,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Hands a person's draft quotes to a salesperson (see
/// [`pricegate_store::Store::hand_over_quotes`]).
pub(super) async fn hand_over(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    let Ok(to) = Uuid::parse_str(form.get("to").trim()) else {
        return refused_on_list(&app, &user, (id, "to"), "No hand-over", "Choose who takes the quotes over.").await;
    };
    match app.store.hand_over_quotes(&user.0.actor, id, to).await {
        Ok(moved) => {
            Ok(Done::HandedOver { from: id, to, drafts: moved.drafts, owned: moved.owned, signed: moved.signed }
                .back_to_list(&user.seal(&app)))
        }
        Err(StoreError::Invalid(e)) => {
            let why = in_words(e.message, &[("to", "Whoever takes the quotes over")]);
            refused_on_list(&app, &user, (id, "to"), "No hand-over", &why).await
        }
        Err(e) => Err(e.into()),
    }
}
