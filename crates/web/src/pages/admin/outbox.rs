//! The mail outbox: every message, its state and why, and "Send again" for one that failed.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pricegate_domain::Role;
use pricegate_store::StoreError;
use uuid::Uuid;

use crate::pages::{Admin, CsrfForm, DoneCookie, Layout, PageError, PageId, PageQuery, PageUser};
use crate::{AppState, filters};

pub(super) struct MailRow {
    pub(super) id: Uuid,
    /// When it was queued, and when the SMTP server took it.
    pub(super) queued: String,
    pub(super) sent: String,
    pub(super) kind: String,
    /// The kind in words.
    pub(super) kind_said: &'static str,
    pub(super) to: String,
    pub(super) subject: String,
    pub(super) state: String,
    pub(super) attempts: i32,
    pub(super) next_attempt_at: String,
    pub(super) last_error: String,
    /// A failed e-mail about a notice that a later one has reached its
    /// person since: why it is not offered to send again.
    pub(super) reached_later: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin_outbox.html")]
pub(super) struct OutboxPage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    /// The state shown, or empty for every message.
    pub(super) state: &'static str,
    /// What in the address could not be read (a state there is not): every message is shown.
    pub(super) list_note: Option<&'static str>,
    /// The address searched for, as typed, or empty.
    pub(super) to: String,
    /// What the last "Send again" did.
    pub(super) message: Option<String>,
    pub(super) messages: Vec<MailRow>,
    /// The next page's address, when there are older messages.
    pub(super) older: Option<String>,
    /// The first page's address, when this is a later one.
    pub(super) newest: Option<String>,
    /// A later page's link that names no message now: the first page is shown.
    pub(super) gone: bool,
    /// Set when mail is only written as files there.
    pub(super) mail_to_files: Option<String>,
}

/// What the outbox page's "Send again" did, told once: `resent.<id>`.
pub(super) const OUTBOX_DONE: DoneCookie = DoneCookie { name: "pricegate_outbox_done", page: "/admin/outbox" };

/// The outbox's states, as the page's filter offers them.
pub(super) const MAIL_STATES: [&str; 4] = ["pending", "failed", "skipped", "sent"];

/// Messages on one page of the outbox.
pub(super) const OUTBOX_PAGE: u64 = 200;

/// Which messages the outbox page shows: `?state=failed&to=<part of the address>&before=<id>`.
#[derive(serde::Deserialize, Default)]
pub(super) struct OutboxListing {
    pub(super) state: Option<String>,
    /// Part of the recipients' address.
    #[serde(default)]
    pub(super) to: String,
    pub(super) before: Option<String>,
}

/// The mail outbox, newest first: what was sent, what waits, and why it
/// failed. Two hundred messages to a page, of one state or all
/// (`?state=failed`; a state it does not know shows all, and says so), and
/// `&before=<id>` for those queued before that one.
pub(super) async fn outbox(
    State(app): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    // An address that cannot be read (a state given twice) lists every message, and says so.
    PageQuery { query: listing, unreadable }: PageQuery<OutboxListing>,
) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let asked = listing.state.as_deref().filter(|a| !a.is_empty());
    let state = MAIL_STATES.into_iter().find(|s| Some(*s) == asked).unwrap_or("");
    // A state it does not know (an edited address), or an address that
    // cannot be read (a search given twice), is said, not ignored in silence.
    let list_note = match (unreadable, asked.is_some() && state.is_empty()) {
        (true, _) => Some("This address could not be read (a filter given twice, say): showing every message."),
        (false, true) => Some("There is no such state of a message: showing every message."),
        (false, false) => None,
    };
    let to = crate::pages::search_text(&listing.to);
    let listing_before = |before: Option<Uuid>| {
        app.store.list_outbox((!state.is_empty()).then_some(state), to.as_deref(), before, OUTBOX_PAGE + 1)
    };
    // An id that names no message (an old or edited link) shows the first page, and says so.
    let (mut listed, before, gone) = match listing.before.as_deref().filter(|b| !b.is_empty()).map(Uuid::parse_str) {
        None => (listing_before(None).await?, None, false),
        Some(Ok(id)) => match listing_before(Some(id)).await {
            Err(StoreError::Invalid(_)) => (listing_before(None).await?, None, true),
            listed => (listed?, Some(id), false),
        },
        Some(Err(_)) => (listing_before(None).await?, None, true),
    };
    let state_pair = (!state.is_empty()).then_some(("state", state));
    let to_pair = to.as_deref().map(|to| ("to", to));
    let first_page = crate::pages::list_address("/admin/outbox", &[state_pair, to_pair]);
    let older = crate::pages::cut_to_page(&mut listed, OUTBOX_PAGE, |last| {
        let last = last.map(|m| m.id.to_string()).unwrap_or_default();
        crate::pages::list_address("/admin/outbox", &[state_pair, to_pair, Some(("before", &last))])
    });
    let newest = before.is_some().then_some(first_page);
    let calendar = app.store.calendar();
    let failed: Vec<Uuid> = listed.iter().filter(|m| m.state == "failed").map(|m| m.id).collect();
    let mut reached_later = app.store.reached_later(&failed).await?;
    let messages = listed
        .into_iter()
        .map(|m| MailRow {
            reached_later: reached_later.remove(&m.id),
            id: m.id,
            last_error: reason(&m.state, m.attempts, m.last_error.as_deref()),
            queued: calendar.stamp(m.created_at, true),
            sent: m.sent_at.map(|at| calendar.stamp(at, true)).unwrap_or_else(|| "—".to_owned()),
            kind_said: kind_in_words(&m.kind),
            kind: m.kind,
            to: m.to,
            subject: m.subject,
            state: m.state,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.map(|at| calendar.stamp(at, true)).unwrap_or_else(|| "—".to_owned()),
        })
        .collect();
    let seal = user.seal(&app);
    let resent = OUTBOX_DONE
        .read(&headers, &seal)
        .and_then(|v| v.strip_prefix("resent."))
        .and_then(|id| Uuid::parse_str(id).ok());
    let message = match resent {
        Some(id) => Some(app.store.get_outbox_message(id).await?.row.to).map(|to| {
            format!("Sent again, to {to}: it goes with the next batch, or is set aside if no longer needed.")
        }),
        None => None,
    };
    let page = OutboxPage {
        layout: user.layout("Outbox"),
        csrf: user.csrf().to_owned(),
        state,
        list_note,
        to: to.unwrap_or_default(),
        message,
        messages,
        older,
        newest,
        gone,
        mail_to_files: app.configuration.mail_to_files.clone(),
    };
    Ok(OUTBOX_DONE.told(&headers, &seal, &page))
}

/// "Send again" on a failed message.
pub(super) async fn resend(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    match app.store.resend_mail(&user.0.actor, id).await {
        Ok(resent) => Ok(OUTBOX_DONE.redirect_to(
            &user.seal(&app),
            "/admin/outbox?state=pending",
            &format!("resent.{}", resent.id),
        )),
        Err(StoreError::Conflict { message, .. }) => {
            Err(PageError::new(StatusCode::CONFLICT, "Not sent again", message))
        }
        Err(e) => Err(e.into()),
    }
}

/// An outbox row's kind (`signer`, `invitation`) as the outbox page says it.
pub(super) fn kind_in_words(kind: &str) -> &'static str {
    match kind {
        "publication" => "price notice",
        "reminder" => "reminder",
        "escalation" => "escalation to finance",
        "signer" => "signer or hand-over",
        "approval" => "old prices approved",
        "approval_request" => "approval asked of finance",
        "approval_declined" => "approval declined",
        "finalised" => "quote finalised, to its owner",
        "password_reset" => "password link, asked for",
        "invitation" => "password link, from an admin",
        "password_changed" => "password changed",
        "address_changed" => "address changed",
        "role_changed" => "role changed",
        _ => "other",
    }
}

/// The outbox page's "last error or reason" of a row: a sent one keeps the
/// error of an earlier attempt, said as such.
pub(super) fn reason(state: &str, attempts: i32, last_error: Option<&str>) -> String {
    match (state, last_error) {
        ("sent", Some(how)) if how.starts_with(pricegate_store::outbox::NOT_EMAILED) => how.to_owned(),
        ("sent", Some(error)) => format!("Sent at attempt {attempts}; an earlier attempt failed: {error}"),
        (_, error) => error.unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_mail_is_said_in_words() {
        for kind in pricegate_store::OUTBOX_KINDS {
            assert_ne!(kind_in_words(kind), "other", "{kind}");
        }
    }

    #[test]
    fn a_sent_message_s_earlier_failure_is_told_as_such() {
        assert_eq!(reason("sent", 1, None), "");
        assert_eq!(
            reason("sent", 3, Some("SMTP: cannot connect")),
            "Sent at attempt 3; an earlier attempt failed: SMTP: cannot connect"
        );
        assert_eq!(reason("pending", 2, Some("SMTP: cannot connect")), "SMTP: cannot connect");
        let written = "Not e-mailed: written as a file in /var/mail/pricegate by a Pricegate process without SMTP_URL.";
        assert_eq!(reason("sent", 1, Some(written)), written);
    }
}
