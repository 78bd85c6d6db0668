//! The two steps a draft cannot come back from, cancelling and finalising:
//! the quote page's button leads to a confirmation that names the quote
//! first. Finalising is confirmed only once the gate would let it through;
//! the gate is asked again when it is sent.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use pricegate_domain::Role;
use pricegate_store::StoreError;
use pricegate_store::views::QuoteView;
use uuid::Uuid;

use super::quotes::QuoteDone;
use super::{CsrfForm, Layout, PageError, PageId, PageUser, Sales, money, render};
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quotes/{id}/cancel", get(confirm_cancel).post(cancel))
        .route("/quotes/{id}/finalise", get(confirm_finalise).post(super::quotes::finalise))
}

/// To the quote's page, which says what became of it (cancelled,
/// finalised, or held up): where a confirmation that no longer applies leads.
pub(super) fn to_quote(id: Uuid) -> Response {
    Redirect::to(&format!("/quotes/{id}")).into_response()
}

/// The draft `user` confirms a step of, if `confirmer` names them on it
/// (its owner cancels, its signer finalises); anyone else gets `refusal`,
/// as the step itself would give them. `None` once it is no longer a
/// draft, whichever salesperson asks: the confirmation no longer applies.
async fn draft_to_confirm(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    confirmer: fn(&QuoteView) -> Uuid,
    refusal: StoreError,
) -> Result<Option<QuoteView>, PageError> {
    user.require(&[Role::Sales])?;
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    // Finalised or cancelled (an old tab, the Back button): its page says
    // which, to whoever may see it, before whose step it would have been.
    if quote.state != "draft" {
        return Ok(None);
    }
    if confirmer(&quote) != user.0.actor.id {
        return Err(refusal.into());
    }
    Ok(Some(quote))
}

#[derive(Template)]
#[template(path = "pages/quote_cancel.html")]
struct CancelPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    /// The quote as this page shows it ([`QuoteView::revision`]).
    revision: i64,
    /// Why the form just sent cancelled nothing.
    not_cancelled: Option<String>,
    customer: String,
    lines: usize,
    total: String,
    drafted_at: String,
}

async fn confirm_cancel(
    State(app): State<AppState>,
    super::PageSegment(raw): super::PageSegment,
    user: PageUser,
) -> Result<Response, PageError> {
    // By the reference the e-mails print, as the quote's own page is.
    let Ok(id) = Uuid::parse_str(&raw) else { return super::quotes::by_reference(&app, &user, &raw, "/cancel").await };
    cancel_page(&app, &user, id, StatusCode::OK, None).await
}

/// The cancel confirmation for draft `id` (its page once it is none), with
/// why the form just sent cancelled nothing, if it did not.
async fn cancel_page(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    status: StatusCode,
    not_cancelled: Option<String>,
) -> Result<Response, PageError> {
    let not_owner = StoreError::forbidden("not_owner", "Only the quote's owner can change it.");
    let Some(quote) = draft_to_confirm(app, user, id, |q| q.owner_id, not_owner).await? else {
        return Ok(to_quote(id));
    };
    let page = CancelPage {
        layout: user.layout(format!("Cancel the quote for {}", quote.customer.name)),
        csrf: user.csrf().to_owned(),
        id,
        revision: quote.revision(),
        not_cancelled,
        customer: quote.customer.name.clone(),
        lines: quote.lines.len(),
        total: money(&quote.currency, quote.total_minor),
        drafted_at: app.store.calendar().stamp(quote.drafted_at, true),
    };
    Ok(render(status, &page))
}

/// Cancels the quote as the confirmation showed it; one changed since (an
/// edit in another tab, finance's approval, a hand-over) is shown again.
async fn cancel(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let Some(as_seen) = form.seen() else {
        let why = format!("Not cancelled: {}. This is the quote as it is now.", super::OUT_OF_DATE);
        return cancel_page(&app, &user, id, StatusCode::CONFLICT, Some(why)).await;
    };
    match app.store.cancel_quote(&user.0.actor, id, Some(&[as_seen])).await {
        Ok(_) => Ok(QuoteDone::Cancelled.back_to_quote(&user.seal(&app), id)),
        // Cancelled already (the confirmation again, by the Back button) or
        // finalised meanwhile: its page says which, and that this did nothing.
        Err(StoreError::Conflict { code: "quote_not_draft", .. }) => {
            Ok(QuoteDone::NotCancelled.back_to_quote(&user.seal(&app), id))
        }
        Err(StoreError::Conflict { code: "quote_changed", .. }) => {
            let why = "Not cancelled: the quote changed after you opened this page. This is the quote as it is \
                       now: cancel it still?";
            cancel_page(&app, &user, id, StatusCode::CONFLICT, Some(why.to_owned())).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/quote_finalise.html")]
struct FinalisePage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    /// The quote as this page shows it ([`QuoteView::revision`]).
    revision: i64,
    /// What its finalisation keeps as evidence, in a sentence.
    evidence: String,
    customer: String,
    company: String,
    lines: Vec<super::quotes::LineRow>,
    total: String,
    /// Prices already published that take force while the quote is valid.
    upcoming: Vec<super::quotes::UpcomingRow>,
    upcoming_besides_pending: bool,
    valid_until: String,
    drafted_at: String,
    /// Finance's approval of old prices the quote keeps, in words.
    approved_old_prices: Option<String>,
}

/// Asks the signer to confirm a finalisation the gate would let through
/// now. A quote that is not the signer's is refused as the finalisation
/// would be; one that is no longer a draft, or that the gate holds up (a
/// notice published since the quote page was opened, say), leads back to
/// the quote, whose page says which.
async fn confirm_finalise(
    State(app): State<AppState>,
    super::PageSegment(raw): super::PageSegment,
    user: PageUser,
) -> Result<Response, PageError> {
    let Ok(id) = Uuid::parse_str(&raw) else {
        return super::quotes::by_reference(&app, &user, &raw, "/finalise").await;
    };
    let not_signer = StoreError::forbidden("not_signer", "Only the quote's signer can finalise it.");
    let Some(quote) = draft_to_confirm(&app, &user, id, |q| q.signer_id, not_signer).await? else {
        return Ok(to_quote(id));
    };
    let gate = app.store.quote_gate(&user.0.actor, id).await?;
    if !gate.ready {
        return Ok(to_quote(id));
    }
    let approved_old_prices = gate.price_override.as_ref().filter(|_| !gate.superseded.is_empty()).map(|o| {
        let lines: Vec<String> = gate.superseded.iter().map(|l| format!("{} × {}", l.sku, l.quantity)).collect();
        format!("Finance approved keeping the old prices of {}: \u{201c}{}\u{201d}", lines.join(", "), o.reason)
    });
    let calendar = app.store.calendar();
    let evidence = match app.store.published_since(quote.drafted_at).await? {
        0 => "No price notice has been published since it was drafted: its evidence says so.".to_owned(),
        1 => "The price notice published since it was drafted, with when you acknowledged it, is kept with the quote \
              as its evidence."
            .to_owned(),
        n => format!(
            "The {n} price notices published since it was drafted, each with when you acknowledged it, are kept with \
             the quote as its evidence."
        ),
    };
    let page = FinalisePage {
        evidence,
        layout: user.layout(format!("Finalise the quote for {}", quote.customer.name)),
        csrf: user.csrf().to_owned(),
        id,
        revision: quote.revision(),
        customer: quote.customer.name.clone(),
        company: quote.customer.company.clone(),
        lines: super::quotes::line_rows(&app, &quote).await?,
        total: money(&quote.currency, quote.total_minor),
        upcoming: super::quotes::upcoming_rows(&app, &quote, Some(&gate)).await?,
        upcoming_besides_pending: false,
        valid_until: quote.valid_until.to_string(),
        drafted_at: calendar.stamp(quote.drafted_at, true),
        approved_old_prices,
    };
    Ok(render(StatusCode::OK, &page))
}
