//! What a form did to a quote, carried across the redirect to its page and told there once.

use axum::response::Response;
use pricegate_store::{NoticeFilter, NoticeState};
use uuid::Uuid;

use crate::AppState;
use crate::pages::{DoneCookie, PageError, PageUser, Seal};

use super::page::QuotePage;

/// What a form did to a quote, carried across the redirect to its page
/// (post, redirect, get) and told there once. The cookie names the quote, so
/// another quote's page opened meanwhile says nothing.
#[derive(Debug, PartialEq)]
pub(in crate::pages) enum QuoteDone {
    /// Drafted from a form shown when the last notice published was
    /// `notices_seen` (`None`: a form that did not say).
    Drafted {
        notices_seen: Option<i64>,
    },
    Saved,
    /// Saved, but the form changed nothing: nothing was written.
    Unchanged,
    /// Saved with another signer, who is told by e-mail, as is the former
    /// signer (`released`) when they had been told they sign it.
    SavedNewSigner {
        released: Option<Uuid>,
        /// The edit also ended a request for finance's approval (see
        /// [`QuoteDone::SavedRequestEnded`]).
        request_ended: bool,
    },
    /// Saved, and finance's approval of the quote's old prices no longer
    /// covers its lines (a quantity or discount changed, a line added).
    SavedApprovalLapsed,
    /// Saved, and its lines at old prices are as finance approved them
    /// again (an earlier edit had taken them out of the approval).
    SavedApprovalCoversAgain,
    /// Saved, and its lines at old prices are no longer those an open
    /// request for finance's approval was about, which ended it.
    SavedRequestEnded,
    /// The new-quote form sent again after it drafted the quote.
    DraftedAlready,
    /// A cancellation that found the quote no longer a draft (sent from a
    /// page opened before it was finalised or cancelled).
    NotCancelled,
    /// A finalisation that found the quote no longer a draft: finalised
    /// already (the confirmation sent twice) or cancelled meanwhile.
    NotFinalised,
    Cancelled,
    /// The edit form opened, or `sent`, for a quote no longer a draft.
    NotEditable {
        sent: bool,
    },
    Acknowledged(Uuid),
    /// The notice's button sent again (a second click, the Back button):
    /// it stood acknowledged, and nothing more was recorded.
    AcknowledgedBefore(Uuid),
    /// Every notice the page listed, read together: how many were new, of how many.
    AcknowledgedAll {
        new: usize,
        of: usize,
    },
    Finalised,
    Overridden,
    /// Finance was asked to approve the old prices: `new` false when it had
    /// been asked about these lines already; `told`, how many were e-mailed.
    ApprovalAsked {
        new: bool,
        told: usize,
    },
    /// Finance declined the request to approve the old prices; `told`, how
    /// many salespeople were e-mailed why.
    ApprovalDeclined {
        told: usize,
    },
    /// Finance was reminded of the open request: `told`, how many were
    /// e-mailed it again; `left_out`, how many were e-mailed about it in the
    /// last ten minutes, who may be reminded from `again_from` (seconds
    /// since the epoch).
    FinanceReminded {
        told: usize,
        left_out: usize,
        again_from: Option<i64>,
    },
    /// The totals before and after, in minor units.
    Repriced {
        old_minor: i64,
        new_minor: i64,
        /// Repricing ended the open request for finance's approval.
        request_ended: bool,
    },
}

/// A yes or no in a [`QuoteDone`] cookie, written `1` or `0`
/// (`u8::from(bool)`); anything else is no cookie of ours.
pub(super) fn flag(part: &str) -> Option<bool> {
    match part {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

pub(super) const QUOTE_DONE: DoneCookie = DoneCookie { name: "pricegate_quote_done", page: "/quotes" };

/// What saving an edit says when it ended a request for finance's approval.
pub(super) const REQUEST_ENDED: &str = "The request that finance approve its old prices was about its lines as they were, so it \
    has ended, unanswered: if lines are still at an old price, reprice the quote or ask finance again (below).";

/// How many notices published while a new quote's form was open are read
/// to name those that change its products.
pub(super) const WHILE_OPEN_READ: u64 = 50;

/// Of the notices published after the one numbered `seen` (the last when a
/// new quote's form was shown) and before the quote was drafted, those that
/// change a product on it, said: the form showed the prices before them, the
/// quote took the prices after, and the gate does not ask about them (it asks
/// about notices published after the drafting). Empty when there are none.
pub(super) async fn published_while_open(
    app: &AppState,
    user: &PageUser,
    quote: Uuid,
    seen: i64,
) -> Result<String, PageError> {
    let quote = app.store.get_quote(&user.0.actor, quote).await?;
    // The first few after it, oldest first: those before the drafting are
    // among them (a form kept open for days, or a number sent altered,
    // reads no more than these).
    let filter = NoticeFilter {
        state: Some(NoticeState::Published),
        after: Some(seen),
        limit: Some(WHILE_OPEN_READ),
        with_changes: true,
        oldest_first: true,
        ..Default::default()
    };
    let notices = app.store.list_notices(&user.0.actor, filter).await?;
    let on_quote: std::collections::BTreeSet<&str> = quote.lines.iter().map(|l| l.sku.as_str()).collect();
    let drafted_on = app.store.calendar().date_of(quote.drafted_at);
    let said: Vec<String> = notices
        .iter()
        .filter(|n| n.published_at.is_some_and(|at| at <= quote.drafted_at))
        .filter_map(|n| {
            let changed: std::collections::BTreeSet<&str> = n
                .changes
                .iter()
                // In force as it was drafted: a change to come left the price the form showed.
                .filter(|c| c.in_force_from.is_none_or(|from| from <= drafted_on))
                .map(|c| c.sku.as_str())
                .filter(|sku| on_quote.contains(sku))
                .collect();
            let changed: Vec<&str> = changed.into_iter().collect();
            (!changed.is_empty()).then(|| format!("\u{201c}{}\u{201d} ({})", n.title, changed.join(", ")))
        })
        .collect();
    let which = match &said[..] {
        [] => return Ok(String::new()),
        [one] => format!("the price notice {one}"),
        many => format!("{} price notices on its products, {}", many.len(), many.join("; ")),
    };
    Ok(format!(
        " While the form was open, finance published {which}: the quote took the prices in force as it was saved, \
         not those the form showed. Check its lines below before you offer it."
    ))
}

impl QuoteDone {
    pub(super) fn cookie_value(&self, quote: Uuid) -> String {
        match self {
            QuoteDone::Drafted { notices_seen: None } => format!("drafted.{quote}"),
            QuoteDone::Drafted { notices_seen: Some(seq) } => format!("drafted.{quote}.{seq}"),
            QuoteDone::Saved => format!("saved.{quote}"),
            QuoteDone::Unchanged => format!("unchanged.{quote}"),
            QuoteDone::SavedNewSigner { released, request_ended } => {
                let kind = if *request_ended { "saved-signer-request-ended" } else { "saved-signer" };
                match released {
                    None => format!("{kind}.{quote}"),
                    Some(former) => format!("{kind}.{quote}.{former}"),
                }
            }
            QuoteDone::SavedApprovalLapsed => format!("saved-lapsed.{quote}"),
            QuoteDone::SavedApprovalCoversAgain => format!("saved-approved.{quote}"),
            QuoteDone::SavedRequestEnded => format!("saved-request-ended.{quote}"),
            QuoteDone::DraftedAlready => format!("drafted-already.{quote}"),
            QuoteDone::NotCancelled => format!("not-cancelled.{quote}"),
            QuoteDone::NotFinalised => format!("not-finalised.{quote}"),
            QuoteDone::Cancelled => format!("cancelled.{quote}"),
            QuoteDone::NotEditable { sent } => format!("not-editable.{quote}.{}", u8::from(*sent)),
            QuoteDone::Acknowledged(notice) => format!("acknowledged.{quote}.{notice}"),
            QuoteDone::AcknowledgedBefore(notice) => format!("acknowledged-before.{quote}.{notice}"),
            QuoteDone::AcknowledgedAll { new, of } => format!("acknowledged-all.{quote}.{new}.{of}"),
            QuoteDone::Finalised => format!("finalised.{quote}"),
            QuoteDone::Overridden => format!("overridden.{quote}"),
            QuoteDone::ApprovalAsked { new, told } => format!("approval-asked.{quote}.{}.{told}", u8::from(*new)),
            QuoteDone::ApprovalDeclined { told } => format!("approval-declined.{quote}.{told}"),
            QuoteDone::FinanceReminded { told, left_out, again_from } => {
                let again = again_from.map_or("-".to_owned(), |at| at.to_string());
                format!("reminded.{quote}.{told}.{left_out}.{again}")
            }
            QuoteDone::Repriced { old_minor, new_minor, request_ended } => {
                format!("repriced.{quote}.{old_minor}.{new_minor}.{}", u8::from(*request_ended))
            }
        }
    }

    /// What the cookie says about `quote`, if it is about that quote.
    pub(super) fn parse(value: &str, quote: Uuid) -> Option<QuoteDone> {
        let (kind, mut parts) = DoneCookie::about(value, quote)?;
        let done = match kind {
            "drafted" => QuoteDone::Drafted {
                notices_seen: match parts.next() {
                    Some(seq) => Some(seq.parse().ok()?),
                    None => None,
                },
            },
            "saved" => QuoteDone::Saved,
            "unchanged" => QuoteDone::Unchanged,
            "saved-signer" | "saved-signer-request-ended" => QuoteDone::SavedNewSigner {
                released: match parts.next() {
                    Some(former) => Some(Uuid::parse_str(former).ok()?),
                    None => None,
                },
                request_ended: kind == "saved-signer-request-ended",
            },
            "saved-lapsed" => QuoteDone::SavedApprovalLapsed,
            "saved-approved" => QuoteDone::SavedApprovalCoversAgain,
            "saved-request-ended" => QuoteDone::SavedRequestEnded,
            "drafted-already" => QuoteDone::DraftedAlready,
            "not-cancelled" => QuoteDone::NotCancelled,
            "not-finalised" => QuoteDone::NotFinalised,
            "cancelled" => QuoteDone::Cancelled,
            "not-editable" => QuoteDone::NotEditable { sent: flag(parts.next()?)? },
            "acknowledged" => QuoteDone::Acknowledged(Uuid::parse_str(parts.next()?).ok()?),
            "acknowledged-before" => QuoteDone::AcknowledgedBefore(Uuid::parse_str(parts.next()?).ok()?),
            "acknowledged-all" => {
                let mut count = || parts.next().and_then(|p| p.parse().ok());
                QuoteDone::AcknowledgedAll { new: count()?, of: count()? }
            }
            "finalised" => QuoteDone::Finalised,
            "overridden" => QuoteDone::Overridden,
            "approval-declined" => QuoteDone::ApprovalDeclined { told: parts.next()?.parse().ok()? },
            "reminded" => {
                let mut count = || parts.next().and_then(|p| p.parse().ok());
                let (told, left_out) = (count()?, count()?);
                let again_from = match parts.next()? {
                    "-" => None,
                    at => Some(at.parse().ok()?),
                };
                QuoteDone::FinanceReminded { told, left_out, again_from }
            }
            "approval-asked" => {
                let new = flag(parts.next()?)?;
                QuoteDone::ApprovalAsked { new, told: parts.next()?.parse().ok()? }
            }
            "repriced" => {
                let mut total = || parts.next().and_then(|p| p.parse().ok());
                let (old_minor, new_minor) = (total()?, total()?);
                QuoteDone::Repriced { old_minor, new_minor, request_ended: flag(parts.next()?)? }
            }
            _ => return None,
        };
        parts.next().is_none().then_some(done)
    }

    pub(super) async fn sentence(&self, app: &AppState, user: &PageUser, page: &QuotePage) -> String {
        match self {
            QuoteDone::Drafted { notices_seen } => {
                let mut sentence = format!(
                    "Quote drafted {}. Every price notice published from now on must be acknowledged by {} before the quote can be finalised.{}",
                    page.drafted_at,
                    page.signer,
                    if page.i_am_signer {
                        String::new()
                    } else {
                        format!(" {} is told by e-mail that they sign it.", page.signer)
                    }
                );
                if let Some(seen) = notices_seen {
                    match published_while_open(app, user, page.id, *seen).await {
                        Ok(said) => sentence.push_str(&said),
                        // A 5xx is logged with its cause as it is made (`From<StoreError> for PageError`);
                        // the quote drafted is told without this sentence.
                        Err(e) => {
                            tracing::debug!(error = %e.message(), "reading the notices published while a quote's form was open")
                        }
                    }
                }
                sentence
            }
            QuoteDone::Saved => format!("Changes saved. The quote keeps its drafting time, {}.", page.drafted_at),
            QuoteDone::DraftedAlready => format!(
                "The form was sent twice: the quote was drafted once, {}, and this is it. Nothing else was drafted.",
                page.drafted_at
            ),
            QuoteDone::Unchanged => "Nothing to save: the form was as the quote is.".to_owned(),
            QuoteDone::NotCancelled if page.state == "finalised" => format!(
                "Not cancelled: the quote was finalised {}, before the cancellation arrived. A finalised quote \
                 stays as it was signed.",
                page.finalised_at
            ),
            QuoteDone::NotCancelled => format!("Cancelled already, {}: nothing more was done.", page.cancelled_at),
            QuoteDone::NotFinalised if page.state == "finalised" => {
                format!(
                    "Finalised already, {}: this is the quote as signed, and nothing more was done.",
                    page.finalised_at
                )
            }
            QuoteDone::NotFinalised => format!(
                "Not finalised: the quote was cancelled {}, before the finalisation arrived.{}",
                page.cancelled_at,
                if page.i_can_copy { " Copy it as a new quote to offer it again." } else { "" }
            ),
            QuoteDone::NotEditable { sent } => {
                let when = match page.state.as_str() {
                    "finalised" => format!("finalised {}", page.finalised_at),
                    _ => format!("cancelled {}", page.cancelled_at),
                };
                let unsaved = if *sent { "Your changes were not saved: this" } else { "This" };
                let copy = if page.i_can_copy { " Copy it as a new quote to offer other terms." } else { "" };
                format!("{unsaved} quote was {when} and can no longer change.{copy}")
            }
            QuoteDone::Cancelled => format!(
                "Quote cancelled {}: it can no longer be finalised. Copy it as a new quote to offer it again.",
                page.cancelled_at
            ),
            QuoteDone::SavedNewSigner { released, request_ended } => {
                let mut sentence = format!("Changes saved. The quote keeps its drafting time, {}.", page.drafted_at);
                if *request_ended {
                    sentence.push(' ');
                    sentence.push_str(REQUEST_ENDED);
                }
                if !page.i_am_signer {
                    sentence.push_str(&format!(" {} is told by e-mail that they sign it now.", page.signer));
                }
                let former = match released {
                    Some(former) => app.store.user_names(&[*former]).await.ok().and_then(|mut n| n.remove(former)),
                    None => None,
                };
                if let Some(name) = former {
                    sentence.push_str(&format!(" {name} is told by e-mail that they no longer sign it."));
                }
                sentence
            }
            QuoteDone::SavedApprovalLapsed => format!(
                "Changes saved. The quote keeps its drafting time, {}. Finance's approval of its old prices does not \
                 cover its lines as they are now: reprice it, or ask finance to approve again.",
                page.drafted_at
            ),
            QuoteDone::SavedRequestEnded => {
                format!("Changes saved. The quote keeps its drafting time, {}. {REQUEST_ENDED}", page.drafted_at)
            }
            QuoteDone::SavedApprovalCoversAgain => format!(
                "Changes saved. The quote keeps its drafting time, {}. Its lines at old prices are again those \
                 finance approved keeping, so that approval covers them once more (see below).",
                page.drafted_at
            ),
            QuoteDone::Acknowledged(notice) => match app.store.get_notice(&user.0.actor, *notice).await {
                Ok(n) => format!("Acknowledged \u{201c}{}\u{201d}.", n.title),
                Err(_) => "Acknowledged.".to_owned(),
            },
            QuoteDone::AcknowledgedBefore(notice) => match app.store.get_notice(&user.0.actor, *notice).await {
                Ok(n) => format!("\u{201c}{}\u{201d} was acknowledged already: nothing more was recorded.", n.title),
                Err(_) => "Acknowledged already: nothing more was recorded.".to_owned(),
            },
            QuoteDone::AcknowledgedAll { new, of } => crate::pages::acknowledged_together(*new, *of),
            QuoteDone::Finalised if page.evidence.is_empty() => {
                format!("Quote finalised {}. No price notice was published since it was drafted.", page.finalised_at)
            }
            QuoteDone::Finalised => {
                format!(
                    "Quote finalised {}. The notices its signer acknowledged are kept with it below.",
                    page.finalised_at
                )
            }
            QuoteDone::Repriced { request_ended: false, .. } => "Repriced: every line is at today's price.".to_owned(),
            QuoteDone::Repriced { request_ended: true, .. } => "Repriced: every line is at today's price. The request \
                 for finance's approval of the old prices is withdrawn, there being nothing left to approve (the \
                 quote's history says so)."
                .to_owned(),
            QuoteDone::ApprovalAsked { new: false, .. } => "Finance had been asked already about these lines, and \
                 no approval has come since: nobody was e-mailed again, and the request keeps the reason it was \
                 sent with (below)."
                .to_owned(),
            QuoteDone::ApprovalAsked { told: 0, .. } => {
                "Request recorded, but nobody in finance was e-mailed: no active \
                 account in finance may approve this quote, or this service sends no mail. Finance finds it under \
                 \u{201c}Awaiting approval\u{201d} on the quotes list."
                    .to_owned()
            }
            QuoteDone::ApprovalAsked { told, .. } => format!(
                "Request sent to finance: {} e-mailed it. You are e-mailed when one of them approves or declines it.",
                match told {
                    1 => "1 person in finance was".to_owned(),
                    n => format!("{n} people in finance were"),
                }
            ),
            QuoteDone::ApprovalDeclined { told: 0 } => {
                "Request declined, but nobody was e-mailed your reason: neither the quote's owner nor its signer \
                 is an active salesperson, or this service sends no mail. The quote still needs repricing, or an \
                 approval, before it can be finalised."
                    .to_owned()
            }
            QuoteDone::ApprovalDeclined { told } => format!(
                "Request declined: {} e-mailed your reason. The quote still needs repricing, or an approval, before \
                 it can be finalised.",
                match told {
                    1 => "1 salesperson on the quote was".to_owned(),
                    n => format!("{n} salespeople on the quote were"),
                }
            ),
            QuoteDone::FinanceReminded { told, left_out, again_from } => {
                let people = |n: usize| match n {
                    1 => "1 person in finance".to_owned(),
                    n => format!("{n} people in finance"),
                };
                let again = again_from
                    .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
                    .map(|at| format!(" You can remind them again from {}.", app.store.calendar().stamp(at, false)))
                    .unwrap_or_default();
                match (told, left_out) {
                    (0, 0) => "Nobody was reminded: no active account in finance may approve this quote, or this \
                               service sends no mail. Finance finds it under \u{201c}Awaiting approval\u{201d} on the \
                               quotes list."
                        .to_owned(),
                    (0, _) => format!(
                        "Nobody was reminded: everyone in finance who may approve it was e-mailed about it in the \
                         last ten minutes.{again}"
                    ),
                    (told, 0) => format!("Finance reminded: {} e-mailed your request again.", people(*told)),
                    (told, left_out) => format!(
                        "Finance reminded: {} e-mailed your request again; {} e-mailed about it in the last ten \
                         minutes {} left out.{again}",
                        people(*told),
                        people(*left_out),
                        if *left_out == 1 { "was" } else { "were" }
                    ),
                }
            }
            QuoteDone::Overridden => "Override recorded: the quote may be finalised at its quoted prices, once its \
                 signer has acknowledged every notice."
                .to_owned(),
        }
    }

    /// An acknowledgement: told at the gate, where what is left to do is,
    /// however long the quote's page.
    pub(super) fn is_of_the_gate(&self) -> bool {
        matches!(
            self,
            QuoteDone::Acknowledged(_) | QuoteDone::AcknowledgedBefore(_) | QuoteDone::AcknowledgedAll { .. }
        )
    }

    /// The redirect to the quote's page that tells this. Its sentence takes
    /// the focus, which scrolls to it: told at the gate, an acknowledgement
    /// is shown beside the notices left, not a long scroll up on a phone.
    /// (No `#gate` in the address: a browser skips `autofocus` on a page
    /// opened at a fragment.)
    pub(in crate::pages) fn back_to_quote(self, seal: &Seal, quote: Uuid) -> Response {
        QUOTE_DONE.redirect_to(seal, &format!("/quotes/{quote}"), &self.cookie_value(quote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_done_is_told_on_its_own_quote_only() {
        let (quote, other, notice) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let all = [
            QuoteDone::Drafted { notices_seen: None },
            QuoteDone::Drafted { notices_seen: Some(0) },
            QuoteDone::Drafted { notices_seen: Some(12) },
            QuoteDone::Saved,
            QuoteDone::SavedNewSigner { released: None, request_ended: false },
            QuoteDone::SavedNewSigner { released: Some(other), request_ended: false },
            QuoteDone::SavedNewSigner { released: Some(other), request_ended: true },
            QuoteDone::SavedNewSigner { released: None, request_ended: true },
            QuoteDone::SavedApprovalLapsed,
            QuoteDone::SavedApprovalCoversAgain,
            QuoteDone::SavedRequestEnded,
            QuoteDone::DraftedAlready,
            QuoteDone::Cancelled,
            QuoteDone::NotEditable { sent: true },
            QuoteDone::NotEditable { sent: false },
            QuoteDone::NotFinalised,
            QuoteDone::Acknowledged(notice),
            QuoteDone::AcknowledgedBefore(notice),
            QuoteDone::Finalised,
            QuoteDone::Overridden,
            QuoteDone::Repriced { old_minor: 125_000, new_minor: 139_000, request_ended: true },
            QuoteDone::Repriced { old_minor: 125_000, new_minor: 125_000, request_ended: false },
        ];
        for done in all {
            assert_eq!(QuoteDone::parse(&done.cookie_value(quote), quote), Some(done));
        }
        assert_eq!(QuoteDone::parse(&QuoteDone::Finalised.cookie_value(other), quote), None);
        for junk in [
            "",
            "finalised",
            "finalised.x",
            "acknowledged.{q}",
            "acknowledged.{q}.x",
            "finalised.{q}.{q}",
            "saved-signer.{q}.x",
            "repriced.{q}.1",
        ] {
            let junk = junk.replace("{q}", &quote.to_string());
            assert_eq!(QuoteDone::parse(&junk, quote), None, "{junk}");
        }
    }
}
