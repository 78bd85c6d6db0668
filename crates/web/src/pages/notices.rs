//! Notices for everyone: an inbox with what I have and have not
//! acknowledged, and one notice with its Acknowledge button.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pricegate_domain::{Calendar, Role};
use pricegate_mail::compose::money;
use pricegate_mail::render_markdown;
use pricegate_store::views::NoticeView;
use pricegate_store::{AckCount, Channel, NoticeFilter, PublishedContent};
use uuid::Uuid;

use super::ChangeRow;
use super::notice_publish::{DRAFT_DELETED, DRAFT_GONE, NOTICE_DONE};
use super::{Anyone, CsrfForm, Layout, PageError, PageId, PageQuery, PageUser, Sales, render};
use crate::extract::Client;
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices", get(inbox))
        .route("/notices/awaiting", get(read_awaiting).post(acknowledge_awaiting))
        .route("/notices/{id}", get(show))
        .route("/notices/{id}/acknowledge", post(acknowledge))
}

struct NoticeRow {
    id: Uuid,
    title: String,
    /// `unread` (a salesperson's to acknowledge), `acknowledged`,
    /// `published` (finance's and admins', who need not, and a
    /// salesperson's from before they joined) or `draft`.
    status: &'static str,
    /// The status in words.
    label: &'static str,
    published_at: String,
    /// Finance's count of who has acknowledged it, linked to the list of them.
    acknowledgements: Option<AckCount>,
}

/// Published notices on one page of the list (finance's drafts come first, all of them).
const PAGE_SIZE: u64 = 50;

/// The list's address: `?show=awaiting` for a salesperson's notices still
/// to acknowledge, `&before=<seq>` for older ones. Anything it cannot read
/// (a mistyped or stale link) shows the first page, and says so.
#[derive(serde::Deserialize, Default)]
struct InboxQuery {
    show: Option<String>,
    before: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/notices.html")]
struct InboxPage {
    layout: Layout,
    notices: Vec<NoticeRow>,
    /// What the last form sent from here did (finance's deletion of a
    /// draft, a salesperson's "Acknowledge all"), told once.
    message: Option<String>,
    /// A salesperson's "Acknowledge all" recorded something: the way back
    /// to their quotes, which say which drafts it freed.
    back_to_quotes: bool,
    /// A salesperson's: how many notices await their acknowledgement, for
    /// the filter's label; `None` for anyone else, who is asked for none.
    awaiting: Option<u64>,
    /// Only those awaiting the reader's acknowledgement.
    only_awaiting: bool,
    /// The most notices `/notices/awaiting` shows together.
    at_most: u64,
    older: Option<String>,
    newest: Option<String>,
    /// What in the address could not be read, said once above the list.
    note: Option<String>,
}

async fn inbox(
    State(app): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    PageQuery { query, unreadable }: PageQuery<InboxQuery>,
) -> Result<Response, PageError> {
    let actor = &user.0.actor;
    let role = actor.role;
    let only_awaiting = role == Role::Sales && query.show.as_deref() == Some("awaiting");
    let note: Option<String> = match query.show.as_deref() {
        _ if unreadable => {
            Some("This address could not be read (a filter given twice, say): showing every notice.".to_owned())
        }
        None | Some("") => None,
        Some("awaiting") if role == Role::Sales => None,
        Some("awaiting") => Some("You are asked to acknowledge no notices: showing every notice.".to_owned()),
        Some(other) => Some(format!("There is no list \u{201c}{other}\u{201d}: showing every notice.")),
    };
    // A `before` that is not a notice's number (an edited link) shows the first page, and says so.
    let asked_before = query.before.filter(|seq| !seq.is_empty());
    let before = asked_before.as_deref().and_then(|seq| seq.parse::<i64>().ok()).filter(|seq| *seq > 0);
    let note = note.or_else(|| {
        (asked_before.is_some() && before.is_none())
            .then(|| "This page of the list could not be read: showing the newest notices.".to_owned())
    });
    let first_page = if only_awaiting { "/notices?show=awaiting" } else { "/notices" };
    let filter = NoticeFilter { awaiting: only_awaiting, limit: Some(PAGE_SIZE + 1), before, ..Default::default() };
    let mut notices = app.store.list_notices(actor, filter).await?;
    let drafts = notices.iter().filter(|n| n.state != "published").count();
    let older = (notices.len() - drafts > PAGE_SIZE as usize).then(|| {
        notices.truncate(drafts + PAGE_SIZE as usize);
        let last = notices.last().and_then(|n| n.seq).unwrap_or_default();
        let joint = if only_awaiting { '&' } else { '?' };
        format!("{first_page}{joint}before={last}")
    });
    let newest = before.is_some().then(|| first_page.to_owned());
    let awaiting = match role {
        Role::Sales => Some(app.store.notices_awaiting(actor, 0).await?.1),
        _ => None,
    };
    let mut counts = match role {
        Role::Finance => {
            let published: Vec<_> = notices.iter().filter_map(|n| Some((n.id, n.published_at?))).collect();
            app.store.acknowledgement_counts(&published).await?
        }
        _ => Default::default(),
    };
    // Who drafted each draft: finance shares them, and one may be a colleague's work in progress.
    let mut authors: Vec<Uuid> = notices.iter().filter(|n| n.state != "published").map(|n| n.created_by).collect();
    authors.sort_unstable();
    authors.dedup();
    let names = app.store.user_names(&authors).await?;
    let calendar = app.store.calendar();
    let rows = notices
        .into_iter()
        .map(|n| {
            let published = n.state == "published";
            let (status, label) = match (published, n.acknowledged_by_me, n.awaiting_my_acknowledgement, role) {
                (false, ..) => ("draft", "draft"),
                // Finance's or an admin's own acknowledgement is not the notice's state.
                (true, true, _, Role::Finance | Role::Admin) => ("published", "published, you acknowledged"),
                (true, true, ..) => ("acknowledged", "acknowledged"),
                (true, false, true, _) => ("unread", "to acknowledge"),
                (true, false, false, Role::Sales) => ("published", "before you joined"),
                (true, false, false, _) => ("published", "published"),
            };
            NoticeRow {
                id: n.id,
                status,
                label,
                published_at: match n.published_at {
                    Some(at) => calendar.stamp(at, true),
                    None => {
                        let by = match n.created_by == actor.id {
                            true => "you".to_owned(),
                            false => names.get(&n.created_by).cloned().unwrap_or_else(|| "someone".to_owned()),
                        };
                        format!("Not published: drafted by {by}, last saved {}", calendar.stamp(n.updated_at, true))
                    }
                },
                acknowledgements: counts.remove(&n.id),
                title: n.title,
            }
        })
        .collect();
    let seal = user.seal(&app);
    let done = NOTICE_DONE.read(&headers, &seal);
    // "Acknowledge all": how many it recorded, of how many it named.
    let acknowledged = done.and_then(|done| done.strip_prefix(ACKNOWLEDGED_ALL)).and_then(|counts| {
        let (new, of) = counts.split_once('.')?;
        Some((new.parse().ok()?, of.parse().ok()?))
    });
    let message = match done {
        Some(DRAFT_DELETED) => Some("The draft is deleted.".to_owned()),
        Some(DRAFT_GONE) => {
            Some("That draft is gone already: deleted before (perhaps by this same form, sent twice).".to_owned())
        }
        _ => acknowledged.map(|(new, of)| super::acknowledged_together(new, of)),
    };
    let back_to_quotes = acknowledged.is_some_and(|(new, _)| new > 0);
    let page = InboxPage {
        layout: user.layout("Notices"),
        notices: rows,
        message,
        back_to_quotes,
        awaiting,
        only_awaiting,
        at_most: super::ACKNOWLEDGED_TOGETHER_AT_MOST as u64,
        older,
        newest,
        note,
    };
    Ok(NOTICE_DONE.told(&headers, &seal, &page))
}

/// [`NOTICE_DONE`]'s value after "Acknowledge all", followed by how many
/// were acknowledged for the first time and how many the form named.
const ACKNOWLEDGED_ALL: &str = "acknowledged-all.";

/// One notice on the page of all those awaiting the reader.
struct AwaitingNotice {
    id: Uuid,
    title: String,
    published_at: String,
    body_html: String,
    changes: Vec<ChangeRow>,
}

#[derive(Template)]
#[template(path = "pages/notices_awaiting.html")]
struct AwaitingPage {
    layout: Layout,
    csrf: String,
    /// Oldest first, as they were published.
    notices: Vec<AwaitingNotice>,
    /// Their ids, which "Acknowledge all" sends back.
    ids: String,
    /// How many await in all: more than the page shows past
    /// [`super::ACKNOWLEDGED_TOGETHER_AT_MOST`].
    awaiting: u64,
}

/// `/notices/awaiting`: every notice awaiting a salesperson's acknowledgement,
/// whole, oldest first, on one page, with one button for all of them.
async fn read_awaiting(State(app): State<AppState>, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Sales])?;
    let at_most = super::ACKNOWLEDGED_TOGETHER_AT_MOST;
    // The oldest first: those that have waited longest, and the order they came in.
    let (listed, awaiting) = app.store.notices_to_read(&user.0.actor, at_most as u64).await?;
    let calendar = app.store.calendar();
    let notices: Vec<AwaitingNotice> = listed
        .into_iter()
        .filter_map(|n| {
            let at = n.published_at?;
            let published_on = calendar.date_of(at);
            Some(AwaitingNotice {
                id: n.id,
                published_at: calendar.stamp(at, true),
                body_html: render_markdown(&n.body, 2),
                changes: n.changes.iter().map(|c| ChangeRow::published(c, published_on)).collect(),
                title: n.title,
            })
        })
        .collect();
    let ids = notices.iter().map(|n| n.id.to_string()).collect::<Vec<_>>().join(",");
    let page = AwaitingPage {
        layout: user.layout("Notices to acknowledge"),
        csrf: user.csrf().to_owned(),
        notices,
        ids,
        awaiting,
    };
    Ok(render(StatusCode::OK, &page))
}

/// "Acknowledge all" on [`read_awaiting`]'s page: the notices it showed,
/// and those only, all of them or none.
async fn acknowledge_awaiting(
    State(app): State<AppState>,
    Client(client): Client,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let which = || {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Which notices?",
            "The form did not say which notices to acknowledge: nothing was recorded. Use the button below the \
             notices on the page of those you have to acknowledge.",
        )
    };
    let ids = super::notice_ids(&form, which)?.ok_or_else(which)?;
    let new = app.store.acknowledge_notices_as(&user.0.actor, &ids, Channel::Web, client).await?;
    let done = format!("{ACKNOWLEDGED_ALL}{new}.{}", ids.len());
    Ok(NOTICE_DONE.redirect_to(&user.seal(&app), "/notices?show=awaiting", &done))
}

#[derive(Template)]
#[template(path = "pages/notice.html")]
struct NoticePage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    title: String,
    published: bool,
    published_at: String,
    body_html: String,
    changes: Vec<ChangeRow>,
    acknowledged_at: Option<String>,
    /// A salesperson's notice from before they joined, which no draft they sign waits on.
    before_i_joined: bool,
    is_finance: bool,
    /// Why publishing this draft today would be refused, to finance.
    cannot_publish: Option<String>,
    /// The quote this page was opened from (`?quote=`), when the viewer
    /// signs it: acknowledging here leads back to it, as on the quote's page.
    quote: Option<Uuid>,
    /// The viewer's drafts that cannot be finalised until they acknowledge
    /// it; once they have, those it held up until then, to go back to.
    held_up: Vec<HeldUpQuote>,
    /// Whether `held_up` says what the notice does to each: not once it is
    /// acknowledged, nor where that cannot be read.
    with_effects: bool,
    /// What of a published notice's rows no longer matches what was
    /// published, and what was: its publication's record.
    altered: Option<Altered>,
}

/// A published notice whose stored rows were changed behind the service's
/// back, and what its publication's record says it was.
struct Altered {
    said: String,
    title: String,
    body: String,
    changes: Vec<String>,
}

impl Altered {
    /// `None` while `notice` is as `published` says it was.
    fn of(notice: &NoticeView, published: &PublishedContent, calendar: &Calendar) -> Option<Altered> {
        let differ = published.differences(notice);
        if differ.is_empty() {
            return None;
        }
        let currency_of = |sku: &str| notice.changes.iter().find(|c| c.sku == sku).map(|c| c.currency.clone());
        Some(Altered {
            said: format!(
                "This notice as stored no longer matches what was published ({}): it was changed outside Pricegate, \
                 which changes nothing of a published notice. What was published{}, as its publication's record \
                 keeps it:",
                differ.join(", "),
                notice.published_at.map(|at| format!(" {}", calendar.stamp(at, true))).unwrap_or_default()
            ),
            title: published.title.clone(),
            body: published.body.clone(),
            changes: published
                .changes
                .iter()
                .map(|c| {
                    let price = match currency_of(&c.sku) {
                        Some(currency) => money(&currency, c.unit_price_minor),
                        None => format!("{} (in minor units)", c.unit_price_minor),
                    };
                    format!("{} {}: {price} from {}", c.sku, c.product_name, c.effective_on)
                })
                .collect(),
        })
    }
}

/// A draft a notice holds up, named as its customer and short reference (a
/// customer may have several).
pub(super) struct HeldUpQuote {
    pub id: Uuid,
    pub customer: String,
    pub reference: String,
    /// What it is worth, where the page says (the notice's dashboard, and
    /// its page to a signer who has yet to acknowledge it).
    pub total: Option<String>,
    /// What the notice does to its total while it is valid, where the page
    /// says (as `total`): `+4,560.00 EUR while it is valid`, or "no change …".
    pub effect: Option<String>,
}

impl From<pricegate_store::WaitingQuote> for HeldUpQuote {
    fn from(q: pricegate_store::WaitingQuote) -> Self {
        HeldUpQuote {
            id: q.id,
            reference: pricegate_domain::quote_reference(q.id),
            customer: q.customer_name,
            total: None,
            effect: None,
        }
    }
}

async fn show(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let n = app.store.read_notice(&user.0.actor, id).await?;
    let quote = uri.query().unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("quote="));
    // Only the quote's signer acknowledges for it, so only they are led back.
    let quote = match quote.and_then(|q| Uuid::parse_str(q).ok()) {
        Some(q) => app.store.get_quote(&user.0.actor, q).await.ok().filter(|q| q.signer_id == user.0.actor.id),
        None => None,
    };
    // With what it does to each, as finance's dashboard says it, until acknowledged.
    let (held_up, effects) = if n.awaiting_my_acknowledgement {
        app.store.quotes_waiting_on_signer_with_effects(n.id, user.0.actor.id).await?
    } else if n.acknowledged_by_me && user.0.actor.role == Role::Sales {
        (app.store.quotes_held_up_by(n.id, user.0.actor.id).await?, HashMap::new())
    } else {
        (Vec::new(), HashMap::new())
    };
    let is_finance = user.0.actor.role == Role::Finance;
    let altered = match n.published_at {
        Some(_) => app.store.published_content(n.id).await?.and_then(|p| Altered::of(&n, &p, &app.store.calendar())),
        None => None,
    };
    // A draft a change of which could never take force: said before the
    // confirmation, where publishing would be refused.
    let cannot_publish = match (is_finance, n.published_at) {
        (true, None) => app.store.why_publishing_would_be_refused(n.id).await?,
        _ => None,
    };
    let page = NoticePage {
        layout: user.layout(n.title.clone()),
        csrf: user.csrf().to_owned(),
        cannot_publish,
        id: n.id,
        published: n.state == "published",
        published_at: n.published_at.map(|at| app.store.calendar().stamp(at, true)).unwrap_or_default(),
        body_html: render_markdown(&n.body, 1),
        changes: match n.published_at {
            Some(at) => {
                let published_on = app.store.calendar().date_of(at);
                n.changes.iter().map(|c| ChangeRow::published(c, published_on)).collect()
            }
            // A draft's as it would read published today, as its
            // confirmation shows it.
            None => {
                let today = app.store.today().await?;
                n.changes.iter().map(|c| ChangeRow::published(c, today)).collect()
            }
        },
        acknowledged_at: n.acknowledged_at.map(|at| app.store.calendar().stamp(at, true)),
        before_i_joined: user.0.actor.role == Role::Sales && !n.acknowledged_by_me && !n.awaiting_my_acknowledgement,
        is_finance,
        quote: quote.map(|q| q.id),
        held_up: held_up
            .into_iter()
            .map(|q| {
                let effect = effects.get(&q.id);
                HeldUpQuote {
                    total: effect.map(|e| money(&e.currency, e.total_minor)),
                    effect: effect.map(super::notice_publish::effect_in_words),
                    ..HeldUpQuote::from(q)
                }
            })
            .collect(),
        with_effects: !effects.is_empty(),
        altered,
        title: n.title,
    };
    Ok(render(StatusCode::OK, &page))
}

#[tracing::instrument(name = "acknowledge_notice_page", skip_all, fields(notice = %id))]
async fn acknowledge(
    State(app): State<AppState>,
    Client(client): Client,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Anyone>,
) -> Result<Response, PageError> {
    app.store.acknowledge_notice_as(&user.0.actor, id, Channel::Web, client).await?;
    Ok(Redirect::to(&format!("/notices/{id}")).into_response())
}
