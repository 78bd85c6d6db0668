//! Acknowledgement links from e-mails: `/ack/{token}`.
//!
//! `GET` only shows the notice and one button; it never changes anything,
//! because corporate mail scanners open every link in an e-mail, and a GET
//! that acknowledged would acknowledge on the reader's behalf. `POST` (the
//! button) acknowledges. The token in the address is the capability, so
//! there is no session and no CSRF cookie; a cross-site POST is still
//! refused when the browser says it is one (`Sec-Fetch-Site`, `Origin`).
//! A browser logged in as someone other than the link's person gets no
//! button, and its POST is refused: a link acknowledges only for whom it
//! was sent to, never for a colleague it was forwarded to.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use pricegate_domain::Calendar;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_mail::render_markdown;
use pricegate_store::views::{GateView, ImpactView};
use pricegate_store::{
    AckLinkError, AckLinkView, AfterAcknowledging, LinkAbout, SessionUser, StoreError, WaitingQuote,
};
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

use crate::extract::Client;
use crate::pages::ChangeRow;
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::overriding(HeaderName::from_static(name), HeaderValue::from_static(value))
    };
    Router::new()
        .route("/ack/{token}", get(show).post(acknowledge))
        // No script at all; the form may only post back here; the token in
        // the address must not leak to another site through a Referer, nor
        // through a cache. (`same-origin`, not `no-referrer`: the form's own
        // post then carries the real Origin, not `null`, in every browser.)
        .layer(header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .layer(header("referrer-policy", "same-origin"))
        .layer(header("cache-control", "no-store"))
}

#[derive(Template)]
#[template(path = "ack_show.html")]
struct ShowPage {
    title: String,
    user_name: String,
    /// Who is logged in in this browser, when that is not the link's
    /// person: the page has no button for them.
    someone_else: Option<String>,
    notice_id: Uuid,
    published_at: String,
    body_html: String,
    changes: Vec<ChangeRow>,
    expires_at: String,
    /// The drafts of the link's person the notice holds up, each with what
    /// it does to its total while it is valid: read before acknowledging.
    held_up: Vec<HeldRow>,
    /// How many more it holds up than are listed.
    more_held: usize,
    /// How many it holds up in all, said when they are not listed.
    held_count: usize,
    /// The link's person is logged in in this browser: the drafts are listed.
    named: bool,
}

/// A draft a notice holds up, as its link's page lists it before the
/// acknowledgement: (reference, customer, what the notice does to it).
struct HeldRow {
    id: Uuid,
    reference: String,
    customer: String,
    effect: String,
}

impl HeldRow {
    fn new(
        quote: WaitingQuote,
        gate: &GateView,
        notice: &pricegate_store::NoticeContent,
        today: chrono::NaiveDate,
    ) -> HeldRow {
        let impact = gate.pending.iter().find(|p| p.notice_id == notice.id).map(|p| &p.impact);
        // A quote's lines are priced in its currency, as are the notice's changes to them.
        let currency = impact
            .and_then(|i| i.lines.first())
            .and_then(|l| notice.changes.iter().find(|c| c.sku == l.sku))
            .map(|c| c.currency.as_str());
        // As the e-mails say it: a figure of nothing is said with its reason.
        let effect = match (impact, currency) {
            _ if gate.expired => "its validity has ended: its owner must extend it".to_owned(),
            (Some(i), Some(currency)) => {
                effect_on_total(i, currency, quote.valid_until, ChangesAhead::of(&i.change_days, today))
            }
            _ => "its total does not change".to_owned(),
        };
        HeldRow {
            id: quote.id,
            reference: pricegate_domain::quote_reference(quote.id),
            customer: quote.customer_name,
            effect,
        }
    }
}

/// What a pending notice does to a draft's total (`impact`, in `currency`),
/// in the words of the e-mails: while the quote is valid (until
/// `valid_until`), from which day when some of it is to come (`ahead`,
/// [`ChangesAhead::of`] its days), and why a change of nothing is one.
pub(crate) fn effect_on_total(
    impact: &ImpactView,
    currency: &str,
    valid_until: chrono::NaiveDate,
    ahead: Option<ChangesAhead>,
) -> String {
    let overtaken = impact.lines.iter().filter(|l| !l.waived_by_approval && !l.counts());
    let approved = impact.lines.iter().filter(|l| l.waived_by_approval);
    let while_valid = impact.delta_while_valid_minor;
    let after = impact.total_delta_minor.saturating_sub(while_valid);
    pricegate_mail::compose::effect_on_total(
        currency,
        None,
        (while_valid, after),
        ahead,
        valid_until,
        (overtaken.map(|l| l.sku.as_str()), approved.map(|l| l.sku.as_str())),
    )
}

#[derive(Template)]
#[template(path = "ack_done.html")]
struct DonePage {
    title: String,
    user_name: String,
    acknowledged_at: String,
    /// What the acknowledgement leaves its person with; `None` when that
    /// could not be read (the acknowledgement itself stands).
    after: Option<After>,
}

/// What an acknowledgement by link leaves its person with. The page is
/// reached by a link that can be forwarded, so it names drafts and notices
/// only to the person signed in; anyone else holding the link reads counts.
struct After {
    /// Signed in as the link's person: the page names what it counts.
    named: bool,
    drafts: Vec<DraftRow>,
    more_drafts: usize,
    /// How many drafts it held up, and the same in a sentence, for whoever
    /// is not signed in.
    held: usize,
    drafts_summary: String,
    /// How many other notices wait for the link's person, in a sentence.
    still_summary: String,
    /// Each notice still to acknowledge (the first few): its id, title and publication.
    still_to_acknowledge: Vec<(Uuid, String, String)>,
    still_count: u64,
}

impl After {
    /// What acknowledging left the link's person with, said to them
    /// (whoever holds the link, logged in as them or not at all).
    fn new(after: AfterAcknowledging, reader: Uuid, named: bool, calendar: Calendar) -> After {
        let drafts: Vec<DraftRow> =
            after.drafts.into_iter().map(|(quote, gate)| DraftRow::new(quote, &gate, reader)).collect();
        let held = drafts.len() + after.more_drafts;
        let ready = drafts.iter().filter(|d| d.ready).count();
        let drafts_summary = drafts_summary(held, drafts.len(), ready, "you sign");
        let still_summary = match after.still_count {
            0 => "No other price notice waits for your acknowledgement.".to_owned(),
            1 => "One more price notice waits for your acknowledgement.".to_owned(),
            n => format!("{n} more price notices wait for your acknowledgement."),
        };
        After {
            named,
            drafts,
            more_drafts: after.more_drafts,
            held,
            drafts_summary,
            still_summary,
            still_to_acknowledge: after
                .still_to_acknowledge
                .into_iter()
                .map(|n| (n.id, n.title, calendar.stamp(n.published_at, false)))
                .collect(),
            still_count: after.still_count,
        }
    }
}

/// How many drafts the notice held up, in a sentence: `held` in all, the
/// oldest `shown` of them read, `ready` of those now ready to finalise;
/// `sign` is "you sign" or "Sam signs".
fn drafts_summary(held: usize, shown: usize, ready: usize, sign: &str) -> String {
    match (held, ready) {
        (0, _) => format!("It held up none of the drafts {sign}."),
        // Only the first few listed are read: how many of the rest are ready is not known here.
        (n, r) if shown < n => {
            let ready = match r {
                0 => "none is".to_owned(),
                1 => "1 is".to_owned(),
                r => format!("{r} are"),
            };
            let rest = match n - shown {
                1 => "The other 1 is not looked at here: the list of quotes shows it.".to_owned(),
                rest => format!("The other {rest} are not looked at here: the list of quotes shows each."),
            };
            format!("It held up {n} drafts {sign}; of the {shown} listed first, {ready} now ready to finalise. {rest}")
        }
        (1, 1) => format!("It held up one draft {sign}, which is now ready to finalise."),
        (1, _) => format!("It held up one draft {sign}, which something else still holds up."),
        (n, r) if r == n => format!("It held up {n} drafts {sign}, all now ready to finalise."),
        (n, 0) => format!("It held up {n} drafts {sign}; something else still holds up each of them."),
        (n, 1) => format!("It held up {n} drafts {sign}; 1 of them is now ready to finalise."),
        (n, r) => format!("It held up {n} drafts {sign}; {r} of them are now ready to finalise."),
    }
}

/// A draft the notice held up, and what, if anything, holds it up now.
struct DraftRow {
    id: Uuid,
    customer: String,
    /// The first 8 characters of its id, as the e-mails name it.
    reference: String,
    ready: bool,
    status: String,
}

impl DraftRow {
    /// `reader` signs the draft; its owner, who may be someone else, is
    /// the one who edits and reprices it.
    fn new(quote: WaitingQuote, gate: &GateView, reader: Uuid) -> DraftRow {
        let owner_does = |what: &str| {
            if quote.owner_id == reader { what.to_owned() } else { format!("its owner must {what}") }
        };
        let mut holds_up = Vec::new();
        if !gate.signer_can_sign {
            holds_up.push("needs another signer, whom its owner chooses".to_owned());
        }
        match gate.pending.as_slice() {
            [] => {}
            [only] => holds_up.push(format!("still waits for your acknowledgement of \u{201c}{}\u{201d}", only.title)),
            more => holds_up.push(format!("still waits for your acknowledgement of {} other notices", more.len())),
        }
        if gate.expired {
            holds_up.push(format!("its validity has ended: {} before it is finalised", owner_does("extend it")));
        }
        if !gate.superseded.is_empty() && gate.price_override.is_none() {
            holds_up.push(format!(
                "a price on it has changed since it was quoted: {}, or finance must approve keeping it",
                owner_does("reprice it")
            ));
        }
        let status = if gate.ready {
            "ready to finalise".to_owned()
        } else if holds_up.is_empty() {
            "not ready to finalise: its page says why".to_owned()
        } else {
            holds_up.join("; ")
        };
        let reference = pricegate_domain::quote_reference(quote.id);
        DraftRow { id: quote.id, customer: quote.customer_name, reference, ready: gate.ready, status }
    }
}

#[derive(Template)]
#[template(path = "ack_refused.html")]
struct RefusedPage {
    heading: &'static str,
    message: String,
    /// Whether the notice stands acknowledged (nothing *new* was recorded).
    acknowledged: bool,
    /// The reader is logged in as someone other than the link's person:
    /// whatever stands acknowledged is not theirs.
    for_someone_else: bool,
    /// The link's account is deactivated: it has no notices to open.
    account_inactive: bool,
}

fn page(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an acknowledgement page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!DOCTYPE html><title>Error - Pricegate</title><p>Something went wrong.</p>"),
            )
                .into_response()
        }
    }
}

fn refused(status: StatusCode, heading: &'static str, message: impl Into<String>) -> Response {
    let page_of = RefusedPage {
        heading,
        message: message.into(),
        acknowledged: false,
        for_someone_else: false,
        account_inactive: false,
    };
    page(status, page_of.render())
}

/// The page of a link whose notice stands acknowledged by its person, who
/// did so `at`. Told as the reader's own unless `reader` is logged in as
/// someone else: then as the link's person's, so that nobody takes another
/// person's acknowledgement for their own.
fn acknowledged_before(
    heading: &'static str,
    about: LinkAbout,
    reader: Option<&SessionUser>,
    mine: impl FnOnce(&str) -> String,
    theirs: impl FnOnce(&str, &str) -> String,
) -> Response {
    let notice = about.title.map_or_else(|| "this notice".to_owned(), |t| format!("\u{201c}{t}\u{201d}"));
    let someone_else = reader.filter(|r| r.actor.id != about.user_id);
    let message = match someone_else {
        None => mine(&notice),
        Some(reader) => {
            let owner = about.user_name.unwrap_or_else(|| "someone else".to_owned());
            format!(
                "This link is {owner}'s, and you are logged in as {}. {}",
                reader.user.name,
                theirs(&owner, &notice)
            )
        }
    };
    let for_someone_else = someone_else.is_some();
    let page_of = RefusedPage { heading, message, acknowledged: true, for_someone_else, account_inactive: false };
    page(StatusCode::CONFLICT, page_of.render())
}

/// Whether a refusal's page depends on who is logged in in this browser.
fn names_its_person(e: &AckLinkError) -> bool {
    matches!(e, AckLinkError::Used { acknowledged_at: Some(_), .. } | AckLinkError::AlreadyAcknowledged { .. })
}

/// The page of a refused link, for `reader`, who is logged in in this
/// browser ([`signed_in`], read only where [`names_its_person`]).
fn refusal(e: AckLinkError, calendar: Calendar, reader: Option<&SessionUser>) -> Response {
    match e {
        AckLinkError::Altered => refused(
            StatusCode::NOT_FOUND,
            "This link is not valid: it has been altered",
            "This acknowledgement link is not as Pricegate wrote it: part of it was changed or cut off, perhaps when it was copied or when an e-mail program wrapped it. Open it again from the e-mail itself, or acknowledge the notice in Pricegate.",
        ),
        AckLinkError::Unknown => refused(
            StatusCode::NOT_FOUND,
            "This link is not valid: it is unknown here",
            "This acknowledgement link is whole, but this Pricegate never sent it: it may be from another Pricegate, or from before its database was restored. Acknowledge the notice in Pricegate itself.",
        ),
        AckLinkError::Expired { about } => {
            let notice = about.title.map_or_else(|| "the notice".to_owned(), |t| format!("\u{201c}{t}\u{201d}"));
            refused(
                StatusCode::GONE,
                "This link has expired",
                format!(
                    "This link, to acknowledge {notice}, no longer works: acknowledgement links work for a limited \
                     time, and end sooner when the address they went to is corrected or the account deactivated. Open your notices in Pricegate \
                     to see whether this one still waits for you, and acknowledge it there."
                ),
            )
        }
        // Nothing in Pricegate to open for it, either.
        AckLinkError::AccountInactive => {
            let page_of = RefusedPage {
                heading: "This account is no longer active",
                message: "The link belongs to an account that has been deactivated, so it acknowledges nothing. If \
                          that is a mistake, ask an administrator."
                    .to_owned(),
                acknowledged: false,
                for_someone_else: false,
                account_inactive: true,
            };
            page(StatusCode::FORBIDDEN, page_of.render())
        }
        AckLinkError::Used { acknowledged_at: Some(at), about } => {
            let at = calendar.stamp(at, true);
            acknowledged_before(
                "This link has already been used",
                about,
                reader,
                |notice| {
                    format!(
                        "It recorded your acknowledgement of {notice} at {at}. Each acknowledgement link works once."
                    )
                },
                |owner, notice| {
                    format!(
                        "It recorded {owner}'s acknowledgement of {notice} at {at}. Each acknowledgement link works once."
                    )
                },
            )
        }
        AckLinkError::Used { acknowledged_at: None, .. } => refused(
            StatusCode::CONFLICT,
            "This link has already been used",
            "Each acknowledgement link works once, and this one already has.",
        ),
        AckLinkError::AlreadyAcknowledged { acknowledged_at, about } => {
            let at = calendar.stamp(acknowledged_at, true);
            acknowledged_before(
                "Already acknowledged",
                about,
                reader,
                |notice| format!("You already acknowledged {notice} at {at}."),
                |owner, notice| format!("{owner} already acknowledged {notice} at {at}."),
            )
        }
        AckLinkError::Store(e) => {
            let cause = e.to_string();
            // Away, or met another change: nothing was recorded, and the
            // link works again in a moment.
            if matches!(e, StoreError::Unavailable(_) | StoreError::Contended(_)) {
                tracing::warn!(error = %cause, "acknowledgement link: database unavailable or busy");
            } else {
                tracing::error!(error = %cause, "acknowledgement link failed");
            }
            let mut response = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again in a moment",
                "Pricegate cannot record anything right now.",
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

fn show_page(
    view: AckLinkView,
    held: (Vec<(WaitingQuote, GateView)>, usize),
    named: bool,
    someone_else: Option<String>,
    calendar: Calendar,
) -> Response {
    let held_count = held.0.len() + held.1;
    // Which drafts, and for whom, only to the link's person logged in here
    // (`held` lists none for anyone else), as on the page that thanks them.
    let held_up: Vec<HeldRow> =
        held.0.into_iter().map(|(quote, gate)| HeldRow::new(quote, &gate, &view.notice, calendar.today())).collect();
    let published_on = calendar.date_of(view.notice.published_at);
    let changes = view.notice.changes.iter().map(|c| ChangeRow::published(c, published_on)).collect();
    page(
        StatusCode::OK,
        ShowPage {
            body_html: render_markdown(&view.notice.body, 1),
            title: view.notice.title,
            user_name: view.user_name,
            someone_else,
            notice_id: view.notice.id,
            published_at: calendar.stamp(view.notice.published_at, true),
            changes,
            expires_at: calendar.stamp(view.expires_at, true),
            held_up,
            more_held: held.1,
            held_count,
            named,
        }
        .render(),
    )
}

async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return refusal(AckLinkError::Altered, app.store.calendar(), None) };
    if let Some(address) = crate::without_trailing_punctuation("/ack/", &token) {
        return axum::response::Redirect::to(&address).into_response();
    }
    match app.store.open_ack_link(&token).await {
        Ok(view) => {
            let session = signed_in(&app, &headers).await;
            let named = session.as_ref().is_some_and(|s| s.actor.id == view.user_id);
            let someone_else = session.filter(|s| s.actor.id != view.user_id).map(|s| s.user.name);
            // What it does to the person's drafts, before they acknowledge:
            // read in full (their gates) for that person only; anyone else
            // (a mail scanner, a forwarded e-mail) reads how many. The page
            // stands without it if it cannot be read.
            let held = match named {
                true => app.store.drafts_held_up(view.user_id, view.notice.id).await,
                false => app.store.count_held_up_by(view.notice.id, view.user_id).await.map(|n| (Vec::new(), n)),
            };
            let held = held.unwrap_or_else(|e| {
                tracing::warn!(error = %pricegate_store::causes(&e), "acknowledgement link: the drafts it holds up could not be read");
                (Vec::new(), 0)
            });
            show_page(view, held, named, someone_else, app.store.calendar())
        }
        Err(e) => refused_for_reader(&app, &headers, e).await,
    }
}

// Never a field of the token: the link is the key to the acknowledgement.
#[tracing::instrument(name = "acknowledge_by_link", skip_all)]
async fn acknowledge(
    State(app): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    if is_cross_site(&headers, &app.base_url) {
        return refused(
            StatusCode::FORBIDDEN,
            "This request came from another site",
            "Open the link from your e-mail and press the button on the Pricegate page.",
        );
    }
    let Ok(Path(token)) = token else { return refusal(AckLinkError::Altered, app.store.calendar(), None) };
    let calendar = app.store.calendar();
    // Logged in here as someone else, the reader is not the person the
    // link was sent to: a link acknowledges only for them, never for
    // whoever holds it in a browser that says who they are.
    let session = signed_in(&app, &headers).await;
    if let Some(reader) = &session {
        let link = match app.store.open_ack_link(&token).await {
            Ok(link) => link,
            // Used, expired, unknown (or unreadable just now): said as the
            // acknowledgement would say it, recording nothing.
            Err(e) => return refused_for_reader(&app, &headers, e).await,
        };
        if link.user_id != reader.actor.id {
            return refused(
                StatusCode::FORBIDDEN,
                "This link is someone else's",
                format!(
                    "This link is {owner}'s, and you are logged in as {reader}: nothing was recorded. Only {owner} \
                     acknowledges with it. If the notice is for you too, acknowledge it in Pricegate; if you are \
                     {owner}, log out first, then open the link again.",
                    owner = link.user_name,
                    reader = reader.user.name,
                ),
            );
        }
    }
    match app.store.acknowledge_by_link(&token, client).await {
        Ok((view, ack)) => {
            let named = session.as_ref().is_some_and(|s| s.actor.id == ack.user_id);
            let after = match app.store.after_acknowledging(ack.user_id, ack.notice_id).await {
                Ok(after) => Some(After::new(after, ack.user_id, named, calendar)),
                Err(e) => {
                    tracing::warn!(error = %pricegate_store::causes(&e), "acknowledged by link, but what it leaves could not be read");
                    None
                }
            };
            let done = DonePage {
                title: view.notice.title,
                user_name: view.user_name,
                acknowledged_at: calendar.stamp(ack.acknowledged_at, true),
                after,
            };
            page(StatusCode::OK, done.render())
        }
        Err(e) => refused_for_reader(&app, &headers, e).await,
    }
}

/// [`refusal`], for whoever is logged in in this browser where that changes its words.
async fn refused_for_reader(app: &AppState, headers: &HeaderMap, e: AckLinkError) -> Response {
    let reader = if names_its_person(&e) { signed_in(app, headers).await } else { None };
    refusal(e, app.store.calendar(), reader.as_ref())
}

/// Who is logged in to Pricegate in this browser, if anyone: the link's
/// person, or someone else it was forwarded to. (The session cookie is
/// `SameSite=Lax`: the page's own form, posted from this site, carries it.)
async fn signed_in(app: &AppState, headers: &HeaderMap) -> Option<SessionUser> {
    let token = crate::pages::session_token(app, headers)?;
    app.store.authenticate_session(token).await.ok().flatten()
}

/// What a browser tells us about where a POST came from. A client that says
/// nothing (a script, an old browser) is let through: the token is the capability.
/// `Sec-Fetch-Site`, which no page can set, decides when it is there: a
/// page that sends no Referer posts its own form with `Origin: null`.
pub(crate) fn is_cross_site(headers: &HeaderMap, base_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    let Ok(origin) = origin.to_str() else { return true };
    !is_own_origin(origin, headers, base_url)
}

/// Whether `origin` (`scheme://host[:port]`) is this site: the one people
/// reach it at (`base_url`, behind a proxy too), or the `Host` asked for.
pub(crate) fn is_own_origin(origin: &str, headers: &HeaderMap, base_url: &str) -> bool {
    let by_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| [format!("http://{h}"), format!("https://{h}")]);
    origin == origin_of(base_url) || by_host.is_some_and(|hosts| hosts.iter().any(|h| h == origin))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn how_many_drafts_it_held_up_is_said_of_those_read() {
        assert_eq!(drafts_summary(0, 0, 0, "you sign"), "It held up none of the drafts you sign.");
        assert_eq!(
            drafts_summary(2, 2, 0, "you sign"),
            "It held up 2 drafts you sign; something else still holds up each of them."
        );
        assert_eq!(
            drafts_summary(1, 1, 1, "Sam signs"),
            "It held up one draft Sam signs, which is now ready to finalise."
        );
        assert_eq!(
            drafts_summary(54, 10, 0, "you sign"),
            "It held up 54 drafts you sign; of the 10 listed first, none is now ready to finalise. The other 44 are not \
             looked at here: the list of quotes shows each."
        );
        assert_eq!(
            drafts_summary(54, 10, 3, "you sign"),
            "It held up 54 drafts you sign; of the 10 listed first, 3 are now ready to finalise. The other 44 are not \
             looked at here: the list of quotes shows each."
        );
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let base = "https://pricegate.example.com";
        assert!(!is_cross_site(&headers(&[]), base));
        assert!(!is_cross_site(
            &headers(&[("origin", "https://pricegate.example.com"), ("sec-fetch-site", "same-origin")]),
            base
        ));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")]), base));
        // The page's own form, from a page that sends no Referer.
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]), base));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site"), ("origin", "null")]), base));
        assert!(is_cross_site(&headers(&[("origin", "null")]), base));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example")]), base));
        assert!(!is_cross_site(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]), base));
        assert_eq!(origin_of("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
    }
}
