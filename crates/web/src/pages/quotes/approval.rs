//! Finance's approval of keeping a quote's old prices: asked for, reminded of, declined, given.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_domain::Role;
use pricegate_store::StoreError;
use pricegate_store::views::{QuoteView, SupersededLineView};
use uuid::Uuid;

use crate::AppState;
use crate::pages::{CsrfForm, Finance, PageError, PageId, PageUser, Sales, in_words, render};

use super::done::QuoteDone;
use super::gate_forms::{prices_seen, settled_since};
use super::page::quote_page;

/// The open request that finance approve keeping the quote's old prices, in
/// words, and whether the reader may ask (again, for lines that changed since).
/// `superseded`: the gate's lines at an old price, when some are and no
/// approval covers them (else no request can be waiting).
pub(super) async fn approval_asked(
    app: &AppState,
    user: &PageUser,
    quote: &QuoteView,
    superseded: Option<&[SupersededLineView]>,
) -> Result<Asked, PageError> {
    let Some(superseded) = superseded else { return Ok(Asked::default()) };
    let actor = &user.0.actor;
    let may_ask = actor.role == Role::Sales && (quote.owner_id == actor.id || quote.signer_id == actor.id);
    let Some(request) = app.store.approval_request_of(quote.id, quote.state == "draft", superseded).await? else {
        return Ok(Asked { may_ask, ..Asked::default() });
    };
    let stamp = |at| app.store.calendar().stamp(at, true);
    let people: Vec<Uuid> = [Some(request.requested_by), request.declined_by].into_iter().flatten().collect();
    let names = app.store.user_names(&people).await?;
    let asker = match request.requested_by == actor.id {
        true => "You".to_owned(),
        false => names.get(&request.requested_by).cloned().unwrap_or_default(),
    };
    let declined = (request.declined_by, &request.declined_reason, request.ended_at);
    if let (Some(by), Some(why), Some(at), true) = (declined.0, declined.1, declined.2, request.lines_as_asked) {
        // Declined: said while its lines at an old price are the ones it was
        // about (not once repriced, approved, or asked about again).
        let next = match (may_ask, quote.owner_id == actor.id) {
            (true, true) => "Reprice the quote to today's prices, or ask finance again with more to go on.",
            (true, false) => "It must be repriced to today's prices, or you can ask finance again with more to go on.",
            (false, _) => {
                "It cannot be finalised until it is repriced to today's prices or its old prices are approved."
            }
        };
        // The reason's own full stop ends the sentence.
        let stop = if why.ends_with(['.', '!', '?']) { "" } else { "." };
        let note = format!(
            "{} declined, {}, {} request of {} to approve keeping the old prices: \u{201c}{why}\u{201d}{stop} {next}",
            names.get(&by).map_or("Finance", String::as_str),
            stamp(at),
            if asker == "You" { "your".to_owned() } else { format!("{asker}'s") },
            stamp(request.requested_at),
        );
        return Ok(Asked { note: Some(note), may_ask, ..Asked::default() });
    }
    if !request.open {
        return Ok(Asked { may_ask, ..Asked::default() });
    }
    let mut note = format!(
        "{asker} asked finance to approve keeping the old prices {} (\u{201c}{}\u{201d}); no answer has come since.",
        stamp(request.requested_at),
        request.reason
    );
    if !request.lines_as_asked {
        note.push_str(
            " The lines at an old price, or the prices now in force for them, have changed since: the request was \
             about others.",
        );
    }
    Ok(Asked {
        note: Some(note),
        may_ask: may_ask && !request.lines_as_asked,
        may_remind: may_ask && request.lines_as_asked,
        open: Some(request.id),
    })
}

/// A quote page's word on the request that finance approve its old prices.
#[derive(Default)]
pub(super) struct Asked {
    /// The open request, or the latest declined, in words.
    pub(super) note: Option<String>,
    /// The reader may ask (none open about these lines).
    pub(super) may_ask: bool,
    /// The reader may remind finance of the open request (they may ask,
    /// and it is about the lines as they are).
    pub(super) may_remind: bool,
    /// The open request, which finance may decline.
    pub(super) open: Option<Uuid>,
}

/// Finance lets a draft be finalised at prices no longer in force, with a
/// written reason kept in the evidence. The acknowledgements are still needed.
pub(super) async fn override_prices(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    // The quote as the page showed it to finance: its revision and its lines
    // at an old price. A form without them (a page from before they were
    // sent) is shown the quote again.
    let seen = prices_seen(&form);
    let reason =
        pricegate_domain::Text::parse_multiline("reason", form.get("reason"), pricegate_domain::limits::REASON);
    let (status, message, field_error) = match (reason, seen) {
        // Nothing left to approve (approved already, the form resent; or
        // repriced since) is said before what the reason lacks.
        (Err(e), _) => match settled_since(&app, &user, id, true).await? {
            Some(settled) => (StatusCode::CONFLICT, Some(format!("Not approved: {settled}")), None),
            None => (StatusCode::UNPROCESSABLE_ENTITY, None, Some(in_words(e.message, &[("reason", "The reason")]))),
        },
        (Ok(_), None) => (StatusCode::CONFLICT, Some(format!("Not approved: {}.", crate::pages::OUT_OF_DATE)), None),
        (Ok(reason), Some(seen)) => match app.store.override_prices(&user.0.actor, id, reason, Some(seen)).await {
            Ok(_) => return Ok(QuoteDone::Overridden.back_to_quote(&user.seal(&app), id)),
            Err(StoreError::Conflict { code: "quote_changed" | "already_overridden", message }) => {
                match settled_since(&app, &user, id, true).await? {
                    Some(settled) => (StatusCode::CONFLICT, Some(format!("Not approved: {settled}")), None),
                    None => (StatusCode::CONFLICT, Some(format!("Not approved. {message}")), None),
                }
            }
            Err(e) => return Err(e.into()),
        },
    };
    // The quote as it is now, with the reason as typed where the form is
    // still offered, to approve again.
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    let mut page = quote_page(&app, &user, quote, None, message).await?;
    page.override_error = field_error;
    page.override_reason_typed = form.get("reason").to_owned();
    Ok(render(status, &page))
}

/// The quote's owner or signer asks finance to approve keeping its old
/// prices, with a reason; finance is e-mailed. The form carries the quote as
/// the page showed it, as the approval's does.
pub(super) async fn request_approval(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let seen = prices_seen(&form);
    let reason =
        pricegate_domain::Text::parse_multiline("reason", form.get("reason"), pricegate_domain::limits::REASON);
    let (status, message, field_error) = match (reason, seen) {
        (Err(e), _) => {
            // The form sent again once asked (its reason emptied, say): the
            // page no longer shows it, so what the reason lacks is not said.
            let asked = app.store.approval_request(&user.0.actor, id).await?;
            if asked.is_some_and(|r| r.open && r.lines_as_asked) {
                let done = QuoteDone::ApprovalAsked { new: false, told: 0 };
                return Ok(done.back_to_quote(&user.seal(&app), id));
            }
            (StatusCode::UNPROCESSABLE_ENTITY, None, Some(in_words(e.message, &[("reason", "The reason")])))
        }
        (Ok(_), None) => (StatusCode::CONFLICT, Some(format!("Not asked: {}.", crate::pages::OUT_OF_DATE)), None),
        (Ok(reason), Some(seen)) => match app.store.request_approval(&user.0.actor, id, reason, Some(seen)).await {
            Ok(asked) => {
                let done = QuoteDone::ApprovalAsked { new: asked.new, told: asked.told };
                return Ok(done.back_to_quote(&user.seal(&app), id));
            }
            Err(StoreError::Conflict {
                code: "quote_changed" | "already_overridden" | "nothing_to_approve" | "quote_not_draft",
                message,
            }) => (StatusCode::CONFLICT, Some(format!("Not asked. {message}")), None),
            Err(e) => return Err(e.into()),
        },
    };
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    let mut page = quote_page(&app, &user, quote, None, message).await?;
    page.ask_error = field_error;
    page.ask_reason_typed = form.get("reason").to_owned();
    Ok(render(status, &page))
}

/// The quote's owner or signer reminds finance of the request that waits,
/// for the lines it asked about. The form names the request it showed.
pub(super) async fn remind_finance(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let message = match Uuid::parse_str(form.get("request")) {
        Err(_) => format!("Not reminded: {}.", crate::pages::OUT_OF_DATE),
        Ok(shown) => match app.store.remind_finance(&user.0.actor, id, Some(shown)).await {
            Ok(reminded) => {
                let done = QuoteDone::FinanceReminded {
                    told: reminded.told,
                    left_out: reminded.recently_told,
                    // Said to the minute, so rounded up to the next one.
                    again_from: reminded.again_from.map(crate::pages::minute_from),
                };
                return Ok(done.back_to_quote(&user.seal(&app), id));
            }
            Err(StoreError::Conflict { code: "quote_changed" | "no_open_request" | "quote_not_draft", message }) => {
                format!("Not reminded. {message}")
            }
            Err(e) => return Err(e.into()),
        },
    };
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    Ok(render(StatusCode::CONFLICT, &quote_page(&app, &user, quote, None, Some(message)).await?))
}

/// Finance declines the open request to approve the quote's old prices,
/// with a reason the salespeople on it are e-mailed. The form names the
/// request it showed: one asked again since is shown first.
pub(super) async fn decline_approval(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let reason =
        pricegate_domain::Text::parse_multiline("reason", form.get("reason"), pricegate_domain::limits::REASON);
    let shown = Uuid::parse_str(form.get("request")).ok();
    let (status, message, field_error) = match (reason, shown) {
        (Err(e), _) => (StatusCode::UNPROCESSABLE_ENTITY, None, Some(in_words(e.message, &[("reason", "The reason")]))),
        (Ok(_), None) => (StatusCode::CONFLICT, Some(format!("Not declined: {}.", crate::pages::OUT_OF_DATE)), None),
        (Ok(reason), Some(shown)) => match app.store.decline_approval(&user.0.actor, id, reason, Some(shown)).await {
            Ok(declined) => {
                return Ok(QuoteDone::ApprovalDeclined { told: declined.told }.back_to_quote(&user.seal(&app), id));
            }
            Err(StoreError::Conflict { code: "quote_changed" | "no_open_request" | "quote_not_draft", message }) => {
                // The form sent twice: the request it showed is declined already.
                let latest = app.store.approval_request(&user.0.actor, id).await?;
                let again = latest.filter(|r| r.id == shown && r.declined_by.is_some());
                let message = match again.and_then(|r| Some((r.declined_by?, r.ended_at?))) {
                    Some((by, at)) => format!(
                        "Not declined again: {} declined this request {}.",
                        app.store.user_names(&[by]).await?.remove(&by).unwrap_or_default(),
                        app.store.calendar().stamp(at, true)
                    ),
                    None => format!("Not declined. {message}"),
                };
                (StatusCode::CONFLICT, Some(message), None)
            }
            Err(e) => return Err(e.into()),
        },
    };
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    let mut page = quote_page(&app, &user, quote, None, message).await?;
    page.decline_error = field_error;
    page.decline_reason_typed = form.get("reason").to_owned();
    Ok(render(status, &page))
}
