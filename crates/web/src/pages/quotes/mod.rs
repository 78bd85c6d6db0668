//! Sales pages: my quotes, one quote with its gate, and the actions on it
//! (acknowledge a pending notice, finalise, reprice; editing is the quote
//! form's, cancelling and the finalisation's confirmation [`super::quote_confirm`]'s).

mod approval;
mod done;
mod gate_forms;
mod history;
mod list;
mod page;
mod pending;
mod rows;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use pricegate_domain::Role;
use pricegate_store::StoreError;
use pricegate_store::views::{GateView, QuoteView};
use uuid::Uuid;

use super::quote_form::{create_quote, edit_quote_form, new_quote_form, update_quote};
use super::{PageError, PageUser};
use crate::AppState;

use approval::{decline_approval, override_prices, remind_finance, request_approval};
pub(super) use done::QuoteDone;
pub(super) use gate_forms::finalise;
use gate_forms::{acknowledge, reprice};
pub(super) use history::edited_row;
use list::list;
pub(super) use list::{ListQuery, finalised_days, list_filter, listed_state};
pub(super) use page::by_reference;
use page::show;
pub(super) use rows::{LineRow, UpcomingRow, line_rows, unread_count, upcoming_rows};

pub(super) const QUOTE_ROLES: &[Role] = &[Role::Sales, Role::Finance];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quotes", get(list).post(create_quote))
        // The form posts to its own address, so that the page it answers
        // with ("More lines", a refused form) is the form's: a reload, or a
        // login after the session ended, comes back to it.
        .route("/quotes/new", get(new_quote_form).post(create_quote))
        .route("/quotes/export.csv", get(super::quotes_export::export))
        .route("/quotes/lines.csv", get(super::quotes_export::export_lines))
        .route("/quotes/{id}", get(show))
        .route("/quotes/{id}/edit", get(edit_quote_form).post(update_quote))
        // Each form's address, opened in the browser (the page answering a
        // refused form, reloaded; a tab reopened), leads to the quote, where
        // the form is, as the confirmations' addresses do once they no longer apply.
        .route("/quotes/{id}/acknowledge", get(to_its_quote).post(acknowledge))
        .route("/quotes/{id}/reprice", get(to_its_quote).post(reprice))
        .route("/quotes/{id}/override", get(to_its_quote).post(override_prices))
        .route("/quotes/{id}/approval-request", get(to_its_quote).post(request_approval))
        .route("/quotes/{id}/approval-request/decline", get(to_its_quote).post(decline_approval))
        .route("/quotes/{id}/approval-request/remind", get(to_its_quote).post(remind_finance))
}

/// The quote's page, from the address of one of its forms, whatever the
/// client accepts (the quote's page asks for the login, and says who may see
/// it), by its id or the reference the e-mails print.
async fn to_its_quote(super::PageSegment(raw): super::PageSegment) -> Result<Response, PageError> {
    match Uuid::parse_str(&raw) {
        Ok(id) => Ok(super::quote_confirm::to_quote(id)),
        Err(_) if super::reference_range(&raw).is_some() => {
            Ok(axum::response::IntoResponse::into_response(axum::response::Redirect::to(&format!("/quotes/{raw}"))))
        }
        Err(_) => Err(super::forms::not_found()),
    }
}

/// The gate of a draft quote; `None` for a finalised or cancelled one,
/// including one closed since `quote` was read.
async fn open_gate(app: &AppState, user: &PageUser, quote: &QuoteView) -> Result<Option<GateView>, PageError> {
    if quote.state != "draft" {
        return Ok(None);
    }
    open_or_closed(app.store.quote_gate(&user.0.actor, quote.id).await)
}

/// A gate as read: `None` for a quote closed since it was listed.
fn open_or_closed(gate: Result<GateView, StoreError>) -> Result<Option<GateView>, PageError> {
    match gate {
        Ok(gate) => Ok(Some(gate)),
        Err(StoreError::Conflict { code: "quote_not_draft", .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The gates of `quotes` ([`open_gate`]), in their order, read a few at a
/// time: a list page's fifty, one after another, took as long as fifty
/// gates (seconds, on a price list under several notices with hundreds of
/// changes), where side by side they take the time of a few. A few, not
/// fifty: the pool's other connections stay free for everyone else.
async fn open_gates(app: &AppState, user: &PageUser, quotes: &[QuoteView]) -> Result<Vec<Option<GateView>>, PageError> {
    const SIDE_BY_SIDE: usize = 4;
    let mut gates: Vec<Option<GateView>> = quotes.iter().map(|_| None).collect();
    let mut reading = tokio::task::JoinSet::new();
    let mut drafts = quotes.iter().enumerate().filter(|(_, q)| q.state == "draft");
    loop {
        while reading.len() < SIDE_BY_SIDE {
            let Some((at, quote)) = drafts.next() else { break };
            let (store, actor, id) = (app.store.clone(), user.0.actor.clone(), quote.id);
            reading.spawn(async move { (at, store.quote_gate(&actor, id).await) });
        }
        let Some(read) = reading.join_next().await else { break };
        let (at, gate) = read.map_err(|e| PageError::from(StoreError::Internal(format!("reading a gate: {e}"))))?;
        gates[at] = open_or_closed(gate)?;
    }
    Ok(gates)
}
