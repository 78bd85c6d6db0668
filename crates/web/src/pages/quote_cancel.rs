//! Cancelling a draft: it cannot be undone, so the quote page's button leads
//! to a confirmation that names the quote first.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use pricegate_domain::Role;
use pricegate_store::StoreError;
use uuid::Uuid;

use super::{CsrfForm, Layout, PageError, PageId, PageUser, Sales, money, render};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/quotes/{id}/cancel", get(confirm_cancel).post(cancel))
}

#[derive(Template)]
#[template(path = "pages/quote_cancel.html")]
struct CancelPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    customer: String,
    lines: usize,
    total: String,
    drafted_at: String,
}

async fn confirm_cancel(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Sales])?;
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    if quote.owner_id != user.0.actor.id {
        return Err(StoreError::forbidden("not_owner", "Only the quote's owner can change it.").into());
    }
    if quote.state != "draft" {
        return Ok(Redirect::to(&format!("/quotes/{id}")).into_response());
    }
    let page = CancelPage {
        layout: user.layout(format!("Cancel the quote for {}", quote.customer.name)),
        csrf: user.csrf().to_owned(),
        id,
        customer: quote.customer.name.clone(),
        lines: quote.lines.len(),
        total: money(&quote.currency, quote.total_minor),
        drafted_at: app.store.calendar().stamp(quote.drafted_at, true),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn cancel(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    match app.store.cancel_quote(&user.0.actor, id).await {
        // Cancelled already (the confirmation again, by the Back button) or
        // finalised meanwhile: the quote's page says which.
        Ok(_) | Err(StoreError::Conflict { code: "quote_not_draft", .. }) => {
            Ok(Redirect::to(&format!("/quotes/{id}")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
