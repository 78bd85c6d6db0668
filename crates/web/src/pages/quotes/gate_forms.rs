//! The forms at a draft's gate: acknowledge a pending notice, reprice, finalise.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_mail::compose::percent;
use pricegate_store::views::{QuoteView, SignedQuoteView};
use pricegate_store::{Channel, PricesSeen, StoreError};
use uuid::Uuid;

use crate::AppState;
use crate::extract::Client;
use crate::pages::{CsrfForm, PageError, PageId, PageUser, QuoteWork, Sales, money, render};

use super::done::QuoteDone;
use super::page::quote_page;

#[tracing::instrument(name = "acknowledge_on_quote_page", skip_all, fields(quote = %id))]
pub(super) async fn acknowledge(
    State(app): State<AppState>,
    Client(client): Client,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<QuoteWork>,
) -> Result<Response, PageError> {
    let which = || {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Which notice?",
            "The form did not say which notice to acknowledge: nothing was recorded. Use the button beside the \
             notice on the quote's page.",
        )
    };
    // One notice's button, or "Acknowledge all": the notices the page showed, and those only.
    enum Named {
        One(Uuid),
        All(Vec<Uuid>),
    }
    let named = match crate::pages::notice_ids(&form, which)? {
        Some(ids) => Named::All(ids),
        None => Named::One(Uuid::parse_str(form.get("notice_id").trim()).map_err(|_| which())?),
    };
    // Sent from a quote's page: one that is not the sender's to see (or not
    // there) is refused before anything is recorded, as showing it would be.
    let quote = app.store.get_quote(&user.0.actor, id).await.map_err(|e| {
        let next = match &named {
            Named::One(notice) => (format!("/notices/{notice}"), "Open the notice"),
            Named::All(_) => ("/notices/awaiting".to_owned(), "Notices to acknowledge"),
        };
        let then = "Acknowledging from its page would free nothing: to acknowledge the notice yourself, open it.";
        not_yours_now(e.into(), "Nothing was recorded", then, next)
    })?;
    // Only the signer is offered the button: anyone else's acknowledgement
    // would not free this quote, and the page would seem to say it had.
    if quote.signer_id != user.0.actor.id {
        return Err(StoreError::forbidden(
            "not_signer",
            "Only the quote's signer acknowledges notices from its page, since only theirs count for it. To acknowledge a notice yourself, open it from Notices.",
        )
        .into());
    }
    let done = match named {
        Named::All(ids) => QuoteDone::AcknowledgedAll {
            new: app.store.acknowledge_notices_as(&user.0.actor, &ids, Channel::Web, client).await?,
            of: ids.len(),
        },
        Named::One(notice) => match app.store.acknowledge_notice_as(&user.0.actor, notice, Channel::Web, client).await?
        {
            (_, true) => QuoteDone::Acknowledged(notice),
            (_, false) => QuoteDone::AcknowledgedBefore(notice),
        },
    };
    Ok(done.back_to_quote(&user.seal(&app), id))
}

/// A quote's form refused because the quote is no longer the sender's to
/// see (sent from a page opened while they signed it: its owner named
/// another signer, or an admin handed it over), said so, with what came of
/// the form (`done`), what else to know (`then`) and where to go (`next`).
/// Any other refusal as it is.
pub(super) fn not_yours_now(e: PageError, done: &str, then: &str, next: (String, &str)) -> PageError {
    if e.code() != Some("not_your_quote") {
        return e;
    }
    let message = format!(
        "{done}: this quote is not one you own or sign now (its owner may have named another signer, or an admin \
         handed it over). {then}"
    );
    e.told("Not yours to sign", message).with_next(next.0, next.1)
}

#[tracing::instrument(name = "finalise_quote_page", skip_all, fields(quote = %id))]
pub(in crate::pages) async fn finalise(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let then = "Your quotes, and those you sign, are on the quotes page.";
    let next = ("/quotes".to_owned(), "Your quotes");
    finalise_as_sent(&app, &user, id, &form).await.map_err(|e| not_yours_now(e, "Not finalised", then, next))
}

/// [`finalise`], which tells a quote no longer the sender's as such.
pub(super) async fn finalise_as_sent(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    form: &crate::pages::FormFields,
) -> Result<Response, PageError> {
    // The quote as the confirmation (or the quote page) showed it. A form
    // without it, or with it mangled (a page from before it was sent), showed
    // no quote that can be checked: the quote is shown again to confirm.
    let Some(as_seen) = form.seen() else {
        let quote = app.store.get_quote(&user.0.actor, id).await?;
        // Someone else signs it: finalising again would not help, so the
        // page says who can.
        if quote.state == "draft" && quote.signer_id != user.0.actor.id {
            return not_the_signer(app, user, quote).await;
        }
        let message =
            format!("Not finalised: {}. Check the quote below, then finalise again.", crate::pages::OUT_OF_DATE);
        let page = quote_page(app, user, quote, None, Some(message)).await?;
        return Ok(render(StatusCode::CONFLICT, &page));
    };
    // The button of a quote page that showed the quote not ready says why
    // it still is not; it never finalises: that is the confirmation's, even
    // when the quote became ready meanwhile (an acknowledgement in another tab).
    if form.get("from") == "not-ready" {
        let quote = app.store.get_quote(&user.0.actor, id).await?;
        // Finalised or cancelled meanwhile: the quote's page says which.
        // Signed by someone else now: finalising refuses that below, naming them.
        if quote.state != "draft" {
            return Ok(QuoteDone::NotFinalised.back_to_quote(&user.seal(app), id));
        }
        if quote.signer_id == user.0.actor.id {
            return not_ready(app, user, quote).await;
        }
    }
    match app.store.finalise_quote(&user.0.actor, id, Some(&[as_seen])).await {
        Ok(_) => Ok(QuoteDone::Finalised.back_to_quote(&user.seal(app), id)),
        Err(StoreError::PendingAcknowledgements(gate)) => {
            let message = format!("Not finalised. {}", crate::error::pending_sentence(&gate));
            let quote = app.store.get_quote(&user.0.actor, id).await?;
            let page = quote_page(app, user, quote, Some(*gate), Some(message)).await?;
            Ok(render(StatusCode::CONFLICT, &page))
        }
        // Finalised already (the confirmation sent twice, or again by the
        // Back button) or cancelled meanwhile: the quote's page says which.
        Err(StoreError::Conflict { code: "quote_not_draft", .. }) => {
            Ok(QuoteDone::NotFinalised.back_to_quote(&user.seal(app), id))
        }
        // Named signer no more (the owner chose another while this page was
        // open): the quote as it is, which names who signs it now; still a
        // 403 (audited as one), as in the API.
        Err(StoreError::Forbidden { code: "not_signer", .. }) => {
            let quote = app.store.get_quote(&user.0.actor, id).await?;
            not_the_signer(app, user, quote).await
        }
        // The lines at an old price as the refusing transaction read them.
        Err(StoreError::SupersededPrices(gate)) => {
            let message = format!("Not finalised. {}", pricegate_store::SUPERSEDED_PRICES);
            let quote = app.store.get_quote(&user.0.actor, id).await?;
            let page = quote_page(app, user, quote, Some(*gate), Some(message)).await?;
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(e @ StoreError::Conflict { .. }) => {
            let message = format!("Not finalised. {}", PageError::from(e).message());
            let quote = app.store.get_quote(&user.0.actor, id).await?;
            let page = quote_page(app, user, quote, None, Some(message)).await?;
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// Finalise sent by someone who does not sign `quote`: the quote as it is,
/// naming who signs it; a 403 (audited as one), as in the API.
pub(super) async fn not_the_signer(app: &AppState, user: &PageUser, quote: QuoteView) -> Result<Response, PageError> {
    let message = match app.store.get_user(quote.signer_id).await {
        Ok(signer) => format!("Not finalised: {} signs this quote now, so only they can finalise it.", signer.name),
        Err(_) => "Not finalised: someone else signs this quote now, so only they can finalise it.".to_owned(),
    };
    let page = quote_page(app, user, quote, None, Some(message)).await?;
    let mut response = render(StatusCode::FORBIDDEN, &page);
    response.extensions_mut().insert(crate::error::ErrorCode("not_signer"));
    Ok(response)
}

/// The not-ready quote page's Finalise, pressed by the signer: why the
/// quote still is not ready (audited as a refused attempt), or, ready
/// meanwhile, the confirmation, which alone finalises.
pub(super) async fn not_ready(app: &AppState, user: &PageUser, quote: QuoteView) -> Result<Response, PageError> {
    let id = quote.id;
    let gate = match app.store.quote_gate(&user.0.actor, id).await {
        Ok(gate) => gate,
        Err(StoreError::Conflict { code: "quote_not_draft", .. }) => {
            return Ok(QuoteDone::NotFinalised.back_to_quote(&user.seal(app), id));
        }
        Err(e) => return Err(e.into()),
    };
    if gate.ready {
        return Ok(axum::response::IntoResponse::into_response(axum::response::Redirect::to(&format!(
            "/quotes/{id}/finalise"
        ))));
    }
    let message = if !gate.pending.is_empty() {
        format!("Not finalised. {}", crate::error::pending_sentence(&gate))
    } else if !gate.superseded.is_empty() && gate.price_override.is_none() {
        format!("Not finalised. {}", pricegate_store::SUPERSEDED_PRICES)
    } else {
        "Not finalised: see why below.".to_owned()
    };
    // A refused attempt, as the API's and the confirmation's are.
    app.store.audit_finalise_refused(&user.0.actor, id, &gate).await?;
    let page = quote_page(app, user, quote, Some(gate), Some(message)).await?;
    Ok(render(StatusCode::CONFLICT, &page))
}

/// The quote as a form of its page showed it: its revision, and its lines
/// at an old price with the prices then in force (`seen`, `seen_superseded`);
/// `None` from a page older than them.
pub(super) fn prices_seen(form: &crate::pages::FormFields) -> Option<PricesSeen> {
    form.seen().map(|revision| PricesSeen {
        revisions: Some(vec![revision]),
        superseded: Some(form.get("seen_superseded").to_owned()),
    })
}

/// Reprices the quote as its page showed it: one changed since, or whose
/// lines at an old price (or the prices now in force for them) are others
/// by now, is shown again with the prices it would take now (409). A form
/// without what it showed (a page from before it was sent) is shown it too.
pub(super) async fn reprice(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let seen = prices_seen(&form);
    let message = match seen {
        None => format!("Not repriced: {}. Check the prices below, then reprice again.", crate::pages::OUT_OF_DATE),
        Some(seen) => match app.store.reprice_quote(&user.0.actor, id, Some(seen)).await {
            Ok(result) => {
                let done = QuoteDone::Repriced {
                    old_minor: result.old_total_minor,
                    new_minor: result.new_total_minor,
                    request_ended: result.approval_request_ended,
                };
                return Ok(done.back_to_quote(&user.seal(&app), id));
            }
            Err(StoreError::Conflict { code: "quote_changed", .. }) => {
                match settled_since(&app, &user, id, false).await? {
                    Some(settled) => format!("Not repriced: {settled}"),
                    None => "Not repriced: the quote, or the prices in force for it, changed after you opened this \
                    page. Below is what repricing would take now: reprice again to take it."
                        .to_owned(),
                }
            }
            Err(e) => return Err(e.into()),
        },
    };
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    let page = quote_page(&app, &user, quote, None, Some(message)).await?;
    Ok(render(StatusCode::CONFLICT, &page))
}

/// What a reprice (`approving` false) or an approval refused as out of date
/// finds, when there is nothing left for it to do: no line is at an old
/// price now (repriced or edited since), or, for an approval, one covers
/// them already. The same form sent twice lands here.
pub(super) async fn settled_since(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    approving: bool,
) -> Result<Option<String>, PageError> {
    let gate = match app.store.quote_gate(&user.0.actor, id).await {
        Ok(gate) => gate,
        // No longer a draft: the page says so.
        Err(StoreError::Conflict { code: "quote_not_draft", .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if gate.superseded.is_empty() {
        let nothing = if approving { "nothing to approve" } else { "nothing to reprice" };
        return Ok(Some(format!("every line is at the price in force now: there is {nothing}.")));
    }
    let Some(approval) = gate.price_override.filter(|_| approving) else { return Ok(None) };
    let approver = app.store.user_names(&[approval.approved_by]).await?.remove(&approval.approved_by);
    Ok(Some(format!(
        "its lines at an old price are approved already, by {} at {} (\u{201c}{}\u{201d}).",
        approver.as_deref().unwrap_or("finance"),
        app.store.calendar().stamp(approval.created_at, true),
        approval.reason,
    )))
}

/// What of `quote` no longer matches what its finalisation record kept as
/// `signed`, with what that record says was finalised; `None` while they
/// match. Pricegate changes nothing of a finalised quote: a difference was
/// made in the database behind its back, and the record is the proof.
pub(super) fn altered(signed: &SignedQuoteView, quote: &QuoteView) -> Option<String> {
    if quote.changed_since_finalised.is_empty() {
        return None;
    }
    let differ: Vec<String> = quote.changed_since_finalised.iter().map(|what| format!("its {what}")).collect();
    let currency = &signed.currency;
    let lines: Vec<String> = signed
        .lines
        .iter()
        .map(|l| {
            let discount = if l.discount_bp == 0 { String::new() } else { format!(" less {}", percent(l.discount_bp)) };
            format!(
                "{} × {} at {}{discount}: {}",
                l.quantity,
                l.sku,
                money(currency, l.unit_price_minor),
                money(currency, l.total_minor)
            )
        })
        .collect();
    let customer = match signed.customer.company.is_empty() {
        true => signed.customer.name.clone(),
        false => format!("{} ({})", signed.customer.name, signed.customer.company),
    };
    Some(format!(
        "This quote as stored no longer matches what was finalised ({}): it was changed outside Pricegate, which \
         changes nothing of a finalised quote. The finalisation record keeps what was signed: for {customer}, \
         valid until {}, {}; total {}.",
        differ.join(", "),
        signed.valid_until,
        lines.join("; "),
        money(currency, signed.total_minor)
    ))
}
