//! Sales pages: my quotes, one quote with its gate, and the actions on it
//! (acknowledge a pending notice, finalise, reprice; editing is the quote
//! form's, cancelling and the finalisation's confirmation [`super::quote_confirm`]'s).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_domain::{Role, last_in_force};
use pricegate_mail::compose::percent;
use pricegate_mail::render_markdown;
use pricegate_store::views::{GateView, PendingNoticeView, QuoteView, SignedQuoteView, SupersededLineView, UserView};
use pricegate_store::{Channel, NoticeFilter, NoticeState, PricesSeen, QuoteFilter, QuoteSearch, StoreError};
use uuid::Uuid;

use super::quote_form::{create_quote, edit_quote_form, new_quote_form, update_quote};
use super::{
    CsrfForm, DoneCookie, Finance, Layout, PageError, PageId, PageQuery, PageSegment, PageUser, QuoteWork, Sales, Seal,
    in_words, money, render, signed_money,
};
use crate::extract::Client;
use crate::{AppState, filters};

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

struct QuoteRow {
    id: Uuid,
    /// How the e-mails name it ([`pricegate_mail::compose::quote_reference`]).
    reference: String,
    customer: String,
    signer: String,
    state: String,
    /// `ready`, `no_signer`, `blocked` (notices pending),
    /// `blocked_superseded` (notices pending and prices changed), `expired`,
    /// `superseded` (prices changed), `approval_asked`, or empty for a
    /// closed quote.
    readiness: &'static str,
    /// Who asked finance to approve its old prices, and when: on the list
    /// of the quotes awaiting that.
    asked: Option<String>,
    total: String,
    drafted_at: String,
    /// When it was finalised: on the list of finalised quotes, which
    /// month-end reads by it (a quote drafted in one month may be signed in
    /// the next).
    finalised_at: String,
    valid_until: String,
}

#[derive(Template)]
#[template(path = "pages/quotes.html")]
struct ListPage {
    layout: Layout,
    is_sales: bool,
    /// How many published notices wait for a salesperson's acknowledgement:
    /// said above their quotes, where they land after logging in.
    awaiting: u64,
    quotes: Vec<QuoteRow>,
    /// The state shown (`draft`, `finalised`, `cancelled`), or empty for all.
    state: &'static str,
    /// The quotes of that state in words ("draft quotes").
    quotes_of: &'static str,
    /// A link to each state's list, keeping the search.
    states: Vec<StateLink>,
    /// What the list was searched for, trimmed; empty for no search.
    search: String,
    /// The next page's address, when there are older quotes.
    older: Option<String>,
    /// The first page's address, on a later page.
    newest: Option<String>,
    /// The address of these quotes, every page of them, as a CSV file.
    export: String,
    /// The same quotes, a row a line (`/quotes/lines.csv`).
    export_lines: String,
    /// The first and last business day of finalisation listed, as typed;
    /// empty for none.
    from: String,
    to: String,
    /// The business's time zone, which those are days of.
    zone: &'static str,
    /// What in the address could not be read, said once above the list.
    note: Option<String>,
    /// On the list of finalised quotes, what every page of it comes to
    /// ([`sums_in_words`]).
    sums: Option<String>,
}

/// The notices a quote page's "Acknowledge all" names: those it shows, up
/// to [`super::ACKNOWLEDGED_TOGETHER_AT_MOST`], the first.
struct AcknowledgeAll {
    /// Their ids, comma-separated.
    ids: String,
    count: usize,
}

struct StateLink {
    href: String,
    label: &'static str,
    current: bool,
}

/// Quotes on one page of the list.
const PAGE_SIZE: u64 = 50;

/// The most finalised quotes the list sums (reading each one's lines):
/// beyond, it asks for days instead.
const SUMMED_AT_MOST: u64 = 10_000;

/// What the finalised quotes listed come to, every page of them, by
/// currency: "42 quotes in all, worth 1,234,567.00 EUR", or "45 quotes in
/// all: 42 worth 1,234,567.00 EUR, 3 worth 5,000.00 USD"; `None` for none.
fn sums_in_words(sums: Option<std::collections::BTreeMap<String, (u64, i128)>>, days: bool) -> Option<String> {
    let Some(sums) = sums else {
        return Some(format!(
            "More than {} quotes are listed: choose {} to see what they come to.",
            pricegate_domain::count(SUMMED_AT_MOST as i64),
            if days { "fewer days of finalisation, or search among them," } else { "days of finalisation" }
        ));
    };
    let quotes = |n: u64| match n {
        1 => "1 quote".to_owned(),
        n => format!("{} quotes", pricegate_domain::count(i64::try_from(n).unwrap_or(i64::MAX))),
    };
    let all: u64 = sums.values().map(|(n, _)| n).sum();
    let worth: Vec<(u64, String)> =
        sums.iter().map(|(currency, (n, sum))| (*n, pricegate_mail::compose::money_summed(currency, *sum))).collect();
    match worth.as_slice() {
        [] => None,
        [(_, sum)] => Some(format!("{} in all, worth {sum}.", quotes(all))),
        each => Some(format!(
            "{} in all: {}.",
            quotes(all),
            each.iter()
                .map(|(n, sum)| format!(
                    "{} worth {sum}",
                    pricegate_domain::count(i64::try_from(*n).unwrap_or(i64::MAX))
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The list's address: `?state=draft&search=acme&before=<id>`. Anything it
/// cannot read (a mistyped or stale link) shows the first page of all quotes.
#[derive(serde::Deserialize, Default)]
pub(super) struct ListQuery {
    pub(super) state: Option<String>,
    pub(super) search: Option<String>,
    /// The first and last business day of finalisation to list (`YYYY-MM-DD`).
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    before: Option<String>,
}

/// The business days of finalisation an address asks for (`from`, `to`):
/// see [`super::business_days`].
pub(super) fn finalised_days(calendar: pricegate_domain::Calendar, query: &ListQuery) -> super::BusinessDays<'_> {
    let days = super::business_days(calendar, query.from.as_deref(), query.to.as_deref());
    let given = days.from.is_some() || days.to.is_some() || !days.notes.is_empty();
    if !given || listed_state(query.state.as_deref()) == "finalised" {
        return days;
    }
    // Only a finalised quote has a day it was finalised: days given with
    // another list (typed into its address) would empty it unexplained.
    super::BusinessDays {
        from: None,
        to: None,
        within: (None, None),
        notes: vec![
            "Days choose among finalised quotes only: choose \u{201c}Finalised\u{201d} to use them.".to_owned(),
        ],
        reversed: None,
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

/// My quotes (finance: all), newest drafted first (the finalised ones
/// newest finalised first), [`PAGE_SIZE`] at a
/// time, of one state or all (`?state=draft`, `&before=<id>` for older ones).
/// The quotes list's pseudo-state of the drafts with a line at a price no
/// longer in force (see [`QuoteFilter::at_old_prices`]).
const AT_OLD_PRICES: &str = "old_prices";
/// The quotes list's pseudo-state of the drafts whose owner or signer asked
/// finance to approve their old prices (see [`QuoteFilter::awaiting_approval`]).
const AWAITING_APPROVAL: &str = "awaiting_approval";

/// The quotes of `state` in words, for the sentences above and instead of the list.
fn quotes_of(state: &str) -> &'static str {
    match state {
        "draft" => "draft quotes",
        AT_OLD_PRICES => "quotes at an old price",
        AWAITING_APPROVAL => "quotes awaiting finance's approval",
        "finalised" => "finalised quotes",
        "cancelled" => "cancelled quotes",
        _ => "quotes",
    }
}

/// The list the address's `state` asks for, as the list spells it: empty
/// for every quote, and for a state there is none of.
pub(super) fn listed_state(asked: Option<&str>) -> &'static str {
    match asked {
        Some("draft") => "draft",
        Some(AT_OLD_PRICES) => AT_OLD_PRICES,
        Some(AWAITING_APPROVAL) => AWAITING_APPROVAL,
        Some("finalised") => "finalised",
        Some("cancelled") => "cancelled",
        _ => "",
    }
}

/// The quotes of the list of `state` (see [`listed_state`]) that `search`
/// finds, `limit` of them after the quote `before`.
pub(super) fn list_filter(state: &str, search: Option<QuoteSearch>, limit: u64, before: Option<Uuid>) -> QuoteFilter {
    QuoteFilter {
        finalised_within: (None, None),
        state: (!state.is_empty() && state != AT_OLD_PRICES && state != AWAITING_APPROVAL).then(|| state.to_owned()),
        limit: Some(limit),
        before,
        after_listed: None,
        by_finalising: state == "finalised",
        with_skus: None,
        search,
        at_old_prices: state == AT_OLD_PRICES,
        awaiting_approval: state == AWAITING_APPROVAL,
    }
}

async fn list(
    State(app): State<AppState>,
    user: PageUser,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    PageQuery { query, unreadable }: PageQuery<ListQuery>,
) -> Result<Response, PageError> {
    user.require(QUOTE_ROLES)?;
    // Mistyped (`form=` for `from=`): the list is not what was asked for.
    let unknown = match unreadable {
        true => None,
        false => super::download::unknown_filter(raw.as_deref(), &["state", "search", "from", "to", "before"])
            .map(|unknown| format!("{unknown} It was left out.")),
    };
    let state = listed_state(query.state.as_deref());
    let note = query
        .state
        .as_deref()
        .filter(|asked| !asked.is_empty() && state.is_empty())
        .map(|asked| format!("There is no state \u{201c}{asked}\u{201d}: showing every quote."))
        .or_else(|| {
            unreadable.then(|| {
                "This address could not be read (a state or a search given twice, say): showing every quote.".to_owned()
            })
        });
    let (search, note) = match QuoteSearch::parse("search", query.search.as_deref().unwrap_or("")) {
        Ok(search) => (search, note),
        Err(_) => (
            None,
            Some(format!(
                "A search is one line of at most {} characters, without control characters: this one was left out.",
                QuoteSearch::MAX_CHARS
            )),
        ),
    };
    // An id that names no quote (a stale or edited link) shows the first page.
    let before = query.before.as_deref().and_then(|id| Uuid::parse_str(id).ok());
    // A page's place that is no quote's (mistyped, or one handed away since): the first page, said so.
    let mut lost_place = query.before.as_deref().is_some_and(|id| !id.is_empty()) && before.is_none();
    let days = finalised_days(app.store.calendar(), &query);
    let left_out = (!days.notes.is_empty()).then(|| format!("{} Those days were left out.", days.notes.join(" ")));
    let filter = |before| QuoteFilter {
        finalised_within: days.within,
        ..list_filter(state, search.clone(), PAGE_SIZE + 1, before)
    };
    let (mut quotes, before) = match app.store.list_quotes(&user.0.actor, filter(before)).await {
        Err(StoreError::Invalid(_)) => {
            lost_place = true;
            (app.store.list_quotes(&user.0.actor, filter(None)).await?, None)
        }
        listed => (listed?, before),
    };
    let lost_place =
        lost_place.then(|| "The page asked for names no quote of this list: showing the first page.".to_owned());
    let parts: Vec<String> =
        [unknown, note, left_out, days.reversed.clone(), lost_place].into_iter().flatten().collect();
    let note = (!parts.is_empty()).then(|| parts.join(" "));
    // Month-end's question of the finalised list: what does it come to?
    let sums = match state {
        "finalised" if !quotes.is_empty() => {
            let days = days.within != (None, None);
            sums_in_words(app.store.quote_sums(&user.0.actor, &filter(None), SUMMED_AT_MOST).await?, days)
        }
        _ => None,
    };
    let state_pair = (!state.is_empty()).then_some(("state", state));
    let searched = search.as_ref().map_or("", QuoteSearch::as_str);
    let search_pair = search.is_some().then_some(("search", searched));
    let (from_pair, to_pair) = (days.from.map(|d| ("from", d)), days.to.map(|d| ("to", d)));
    let filters = [state_pair, search_pair, from_pair, to_pair];
    let first_page = super::list_address("/quotes", &filters);
    let export = super::list_address("/quotes/export.csv", &filters);
    let export_lines = super::list_address("/quotes/lines.csv", &filters);
    let newest = before.is_some().then(|| first_page.clone());
    let older = (quotes.len() as u64 > PAGE_SIZE).then(|| {
        quotes.truncate(PAGE_SIZE as usize);
        let last = quotes.last().map(|q| q.id.to_string()).unwrap_or_default();
        super::list_address("/quotes", &[state_pair, search_pair, from_pair, to_pair, Some(("before", &last))])
    });
    let states = [
        ("", "All"),
        ("draft", "Drafts"),
        (AT_OLD_PRICES, "At an old price"),
        (AWAITING_APPROVAL, "Awaiting approval"),
        ("finalised", "Finalised"),
        ("cancelled", "Cancelled"),
    ]
    .into_iter()
    .map(|(value, label)| StateLink {
        href: super::list_address("/quotes", &[(!value.is_empty()).then_some(("state", value)), search_pair]),
        label,
        current: value == state,
    })
    .collect();
    let asked = match state {
        AWAITING_APPROVAL => app.store.open_approval_requests(&quotes.iter().map(|q| q.id).collect::<Vec<_>>()).await?,
        _ => HashMap::new(),
    };
    let mut people: Vec<Uuid> = quotes.iter().map(|q| q.signer_id).collect();
    people.extend(asked.values().map(|(by, _)| *by));
    let names = app.store.user_names(&people).await?;
    let mut rows = Vec::with_capacity(quotes.len());
    let gates = open_gates(&app, &user, &quotes).await?;
    for (q, gate) in quotes.into_iter().zip(gates) {
        let readiness = match gate {
            Some(gate) if gate.ready => "ready",
            Some(gate) if !gate.signer_can_sign => "no_signer",
            // Both to do: the lists of quotes at an old price say so.
            Some(gate) if !gate.pending.is_empty() && !gate.superseded.is_empty() && gate.price_override.is_none() => {
                "blocked_superseded"
            }
            // Finance has approved its old prices: only the notices are left.
            Some(gate) if !gate.pending.is_empty() && !gate.superseded.is_empty() => "blocked_approved",
            Some(gate) if !gate.pending.is_empty() => "blocked",
            Some(gate) if gate.expired => "expired",
            // Only lines at a superseded price, without an override: in
            // this list, each with a request for one.
            Some(_) if state == AWAITING_APPROVAL => "approval_asked",
            Some(_) => "superseded",
            None => "",
        };
        rows.push(QuoteRow {
            id: q.id,
            reference: pricegate_mail::compose::quote_reference(q.id),
            customer: if q.customer.company.is_empty() {
                q.customer.name.clone()
            } else {
                format!("{} ({})", q.customer.name, q.customer.company)
            },
            signer: names.get(&q.signer_id).cloned().unwrap_or_default(),
            state: q.state.clone(),
            readiness,
            asked: asked.get(&q.id).map(|(by, at)| {
                let by = names.get(by).map_or("", String::as_str);
                format!("asked by {by}, {}", app.store.calendar().stamp(*at, true))
            }),
            total: money(&q.currency, q.total_minor),
            drafted_at: app.store.calendar().stamp(q.drafted_at, true),
            finalised_at: q.finalised_at.map(|at| app.store.calendar().stamp(at, true)).unwrap_or_default(),
            valid_until: q.valid_until.to_string(),
        });
    }
    let is_sales = user.0.actor.role == Role::Sales;
    let awaiting = match is_sales {
        true => app.store.notices_awaiting(&user.0.actor, 0).await?.1,
        false => 0,
    };
    // The title says what the list holds, as its printed heading does: a
    // screen reader's first words on a search's answer.
    let of = quotes_of(state);
    let mut title = of[..1].to_uppercase() + &of[1..];
    if !searched.is_empty() {
        title.push_str(&format!(" matching \u{201c}{searched}\u{201d}"));
    }
    let page = ListPage {
        layout: user.layout(title),
        is_sales,
        awaiting,
        quotes: rows,
        state,
        quotes_of: quotes_of(state),
        states,
        search: searched.to_owned(),
        older,
        newest,
        export,
        export_lines,
        from: days.from.unwrap_or_default().to_owned(),
        to: days.to.unwrap_or_default().to_owned(),
        zone: app.store.calendar().zone_name(),
        note,
        sums,
    };
    Ok(render(StatusCode::OK, &page))
}

pub(super) struct LineRow {
    pub(super) sku: String,
    pub(super) product: String,
    pub(super) quantity: String,
    pub(super) unit_price: String,
    /// What the price is for ("each", "box of 10"), as the line was priced.
    pub(super) unit: String,
    pub(super) discount: String,
    pub(super) total: String,
    /// On a draft, the business's day its product was withdrawn from sale.
    pub(super) withdrawn_on: Option<String>,
    /// On a draft's page, what its gate says of the line's price, marked
    /// beside its product and linked to the gate's section below the lines.
    pub(super) gate_mark: Option<&'static str>,
}

struct ImpactRow {
    sku: String,
    quantity: String,
    /// The line's discount, which both totals keep.
    discount: String,
    old_price: String,
    new_price: String,
    effective_on: InForce,
    /// The change takes force only after the quote's validity ends.
    after_validity: bool,
    /// It is the notice's price the line has when the quote's validity
    /// ends, and the line counts (not overtaken, nor waived): the others
    /// are shown muted.
    counts: bool,
    /// Where the last price comes after the quote's validity, the line's
    /// change when the validity ends (an earlier price's, or nothing);
    /// `delta` is the last price's.
    delta_while_valid: Option<String>,
    delta: String,
    /// `delta` is a sentence ("none: no longer in force"), not an amount: it wraps.
    delta_in_words: bool,
    /// When another pending notice has the last word on this line: which, and
    /// from when its price is in force (this change and that one do not add up).
    later: Option<String>,
    /// The notice's other prices for this product before this one, by date.
    earlier: Vec<EarlierRow>,
}

/// A price a notice sets for a product before its last: "540.00 EUR
/// (+400.00 EUR on the line)" (its day in the "Effective" column), and
/// whether it takes force only after the quote's validity ends.
struct EarlierRow {
    price: String,
    /// The day it takes force, as [`ImpactRow::effective_on`] says it.
    on: InForce,
    after_validity: bool,
    /// As [`ImpactRow::counts`].
    counts: bool,
    /// As [`ImpactRow::later`], when this is the notice's price that counts
    /// while the quote is valid.
    later: Option<String>,
}

/// The day a notice's price takes force, as
/// [`pricegate_mail::compose::in_force_from`] says it, with the day apart
/// from what follows it (", on publication (dated 2026-12-01)"): the page
/// keeps the day on one line and lets the words wrap.
struct InForce {
    day: String,
    rest: String,
}

impl InForce {
    fn of(effective_on: chrono::NaiveDate, published_on: chrono::NaiveDate) -> InForce {
        let mut day = pricegate_mail::compose::in_force_from(effective_on, published_on);
        let rest = day.find(',').map(|at| day.split_off(at)).unwrap_or_default();
        InForce { day, rest }
    }
}

impl std::fmt::Display for InForce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.day, self.rest)
    }
}

struct PendingRow {
    notice_id: Uuid,
    title: String,
    published_at: String,
    body_html: String,
    impact: Vec<ImpactRow>,
    total_delta: String,
    /// What the notice does to the total while the quote is valid, when
    /// some of its prices come after (so `total_delta` is not that).
    while_valid: Option<String>,
    /// What the notice does to the total in words, with the day it starts,
    /// while none of its changes is in force yet or more are to come
    /// ("finalised before 2026-12-20, it keeps its prices as far as this notice goes").
    ahead: Option<String>,
    /// The total changes and changes back while the quote is valid: its
    /// footer's 0.00 is where it ends, not that nothing moves meanwhile.
    meanwhile: bool,
    /// The quote already carries every price the notice sets for its lines
    /// (repriced before it was acknowledged): its table shows no change.
    already_carried: bool,
}

struct SupersededRow {
    sku: String,
    quantity: String,
    quoted: String,
    current: String,
}

/// One entry of a quote's history: when, who, and what, in words.
struct HistoryRow {
    at: String,
    /// Who, by id: two people may share a name.
    actor: Option<Uuid>,
    who: String,
    what: String,
    /// The same said by the same person again right after (Finalise pressed
    /// five times): how many times in all, and when the last was.
    repeated: Option<(usize, String)>,
}

/// `rows` with each run of the same entry, by the same person, one after
/// another, told once with how many times: what the history is printed with
/// as proof reads as what happened, not as a double-click.
fn without_repeats(rows: impl IntoIterator<Item = HistoryRow>) -> Vec<HistoryRow> {
    let mut kept: Vec<HistoryRow> = Vec::new();
    for row in rows {
        match kept.last_mut() {
            Some(last) if last.actor == row.actor && last.what == row.what => {
                let times = last.repeated.as_ref().map_or(1, |(times, _)| *times);
                last.repeated = Some((times + 1, row.at));
            }
            _ => kept.push(row),
        }
    }
    kept
}

/// The keys under which a quote's audit entries name people: a signer
/// named, each side of a hand-over.
const NAMED_IN_HISTORY: [&str; 3] = ["signer_id", "from", "to"];

/// The person an audit entry's `detail` names under `key`, if any.
fn named_in(detail: &serde_json::Value, key: &str) -> Option<Uuid> {
    detail[key].as_str().and_then(|id| Uuid::parse_str(id).ok())
}

/// An audit entry about a quote in words, its amounts in `currency`; the
/// people it names (see [`NAMED_IN_HISTORY`]) by their `names`. `state` is
/// the quote's now: a finalised or cancelled quote stays so, so an attempt
/// refused as it was no longer a draft is said with which it was.
fn history_row(
    entry: &pricegate_store::views::AuditView,
    currency: &str,
    names: &HashMap<Uuid, String>,
    state: &str,
) -> String {
    let detail = &entry.detail;
    let closed = match state {
        "finalised" | "cancelled" => state,
        _ => "finalised or cancelled",
    };
    let amount = |key: &str| detail[key].as_i64().map(|minor| money(currency, minor)).unwrap_or_default();
    let name = |key: &str| named_in(detail, key).and_then(|id| names.get(&id)).cloned();
    let signer = name("signer_id").map(|name| format!(", signed by {name}")).unwrap_or_default();
    let refused = |what: &str| {
        // The gate's own refusal says what held the quote up; others name a code.
        let held_up = [
            (detail["pending"].as_array().is_some_and(|p| !p.is_empty()), "notices still to acknowledge"),
            (detail["superseded"].as_array().is_some_and(|s| !s.is_empty()), "lines at a price no longer in force"),
            (detail["expired"].as_bool() == Some(true), "its validity had ended"),
            (detail["signer_can_sign"].as_bool() == Some(false), "its signer could no longer sign"),
        ];
        let held_up: Vec<&str> = held_up.iter().filter(|(held, _)| *held).map(|(_, why)| *why).collect();
        if !held_up.is_empty() {
            return format!("{what} refused: {}", held_up.join(", "));
        }
        let why = match detail["code"].as_str().unwrap_or_default() {
            "pending_acknowledgements" => "notices still to acknowledge",
            "superseded_prices" => "lines at a price no longer in force",
            "quote_expired" => "its validity had ended",
            "signer_cannot_sign" => "its signer could no longer sign",
            "quote_changed" => "the quote had changed since it was read",
            "already_overridden" => "approved already, sent again",
            // A second press of Finalise, or a page opened before: nothing
            // was refused that could have been done.
            "quote_not_draft" if entry.action == "quote.finalise_refused" => {
                return format!("{what} asked again once it was {closed}: nothing changed");
            }
            "quote_not_draft" => return format!("{what} refused: it was {closed} before"),
            "not_signer" => "not its signer",
            "forbidden" => "not for their role",
            "not_owner" => "not theirs to change",
            "not_your_quote" => "someone else's quote",
            "own_quote" => "the approver owns or signs it",
            "nothing_to_override" => "no old price to approve",
            code => return format!("{what} refused (recorded as \u{201c}{code}\u{201d})"),
        };
        format!("{what} refused: {why}")
    };
    match entry.action.as_str() {
        "quote.drafted" => {
            let copied = named_in(detail, "copied_from")
                .map(|source| format!(" as a copy of {}", pricegate_mail::compose::quote_reference(source)))
                .unwrap_or_default();
            format!("Drafted{copied}, total {}{signer}", amount("total_minor"))
        }
        "quote.edited" => edited_row(detail, currency, name("signer_id")),
        "quote.repriced" => {
            // Each product's prices, where the row keeps them (rows written before it did not).
            let products: Vec<String> =
                product_changes(detail, currency).into_iter().map(|change| format!("{change}; ")).collect();
            let ended = match detail["approval_request_ended"].as_bool() {
                Some(true) => "; this withdrew the request for finance's approval of the old prices",
                _ => "",
            };
            format!(
                "Repriced: {}total {} \u{2192} {}{ended}",
                products.concat(),
                amount("old_total_minor"),
                amount("new_total_minor")
            )
        }
        "quote.price_override" => {
            format!("Approved keeping old prices: \u{201c}{}\u{201d}", detail["reason"].as_str().unwrap_or_default())
        }
        "quote.override_refused" => refused("Approving old prices"),
        "quote.approval_requested" => format!(
            "Asked finance to approve keeping old prices: \u{201c}{}\u{201d}",
            detail["reason"].as_str().unwrap_or_default()
        ),
        "quote.approval_reminded" => match (detail["told"].as_u64(), detail["recently_told"].as_u64()) {
            (Some(0) | None, Some(1..)) => {
                "Reminded finance of the request: nobody e-mailed, each was e-mailed about it a moment before"
                    .to_owned()
            }
            (Some(0) | None, _) => "Reminded finance of the request: nobody in finance could be e-mailed".to_owned(),
            (Some(1), _) => "Reminded finance of the request: 1 person e-mailed it again".to_owned(),
            (Some(n), _) => format!("Reminded finance of the request: {n} people e-mailed it again"),
        },
        "quote.approval_declined" => format!(
            "Declined the request to approve keeping old prices: \u{201c}{}\u{201d}",
            detail["reason"].as_str().unwrap_or_default()
        ),
        "quote.finalise_refused" => refused("Finalising"),
        // Someone the quote is not for, refused at the door.
        "access.denied" => refused(match detail["route"].as_str().unwrap_or_default().rsplit('/').next() {
            Some("finalise") => "Finalising",
            Some("reprice") => "Repricing",
            Some("cancel") => "Cancelling",
            Some("override") => "Approving old prices",
            Some("approval-request") => "Asking finance to approve old prices",
            Some("handover") => "Handing it over",
            Some("edit") => "Editing",
            _ if detail["method"] == "PATCH" || detail["method"] == "PUT" => "Editing",
            _ if detail["method"] == "GET" => "Opening it",
            _ => "A request about it",
        }),
        "quote.handed_over" => {
            let (from, to) = (name("from").unwrap_or_default(), name("to").unwrap_or_default());
            let part = match (detail["owner"].as_bool(), detail["signer"].as_bool()) {
                (Some(true), Some(true)) => "owns and signs it",
                (Some(true), _) => "owns it",
                _ => "signs it",
            };
            format!("Handed over from {from} to {to}, who now {part}")
        }
        "quote.finalised" => "Finalised".to_owned(),
        "quote.cancelled" => "Cancelled".to_owned(),
        other => other.to_owned(),
    }
}

/// What an edit changed, as its audit row records it: each field, each
/// product's quantity, lines, discounts and prices, and the total; who signs
/// the quote only where that changed. Rows written before edits said what
/// they changed give the total and signer alone.
pub(super) fn edited_row(detail: &serde_json::Value, currency: &str, signer: Option<String>) -> String {
    let amount = |key: &str| detail[key].as_i64().map(|minor| money(currency, minor)).unwrap_or_default();
    let Some(fields) = detail["changed"].as_array() else {
        let signer = signer.map(|name| format!(", signed by {name}")).unwrap_or_default();
        return format!("Edited: total {}{signer}", amount("total_minor"));
    };
    let mut said: Vec<String> = Vec::new();
    // A field with what it was and is, where the row keeps them (rows
    // written before it did name the field alone); long notes are cut.
    let words = |field: &str, name: &str| {
        let cut = |v: &serde_json::Value| {
            let text = v.as_str().unwrap_or_default();
            match text.chars().count() > 80 {
                true => format!("{}…", text.chars().take(80).collect::<String>()),
                false => text.to_owned(),
            }
        };
        match (&detail[format!("{field}_before")], &detail[field]) {
            (was, is) if was.is_string() && is.is_string() => {
                format!("{name} \u{201c}{}\u{201d} \u{2192} \u{201c}{}\u{201d}", cut(was), cut(is))
            }
            _ => name.to_owned(),
        }
    };
    for field in fields.iter().filter_map(|f| f.as_str()) {
        match field {
            "customer_name" => said.push(words(field, "customer name")),
            "customer_email" => said.push(words(field, "customer e-mail")),
            "customer_company" => said.push(words(field, "customer company")),
            "notes" => said.push(words(field, "notes")),
            "valid_until" => said.push(format!(
                "valid until {} \u{2192} {}",
                detail["valid_until_before"].as_str().unwrap_or("?"),
                detail["valid_until"].as_str().unwrap_or("?")
            )),
            "signer_id" => {
                said.push(format!("now signed by {}", signer.as_deref().unwrap_or("someone no longer listed")));
            }
            "lines" => {
                let products = product_changes(detail, currency);
                if products.is_empty() && detail["names_refreshed"].as_bool() == Some(true) {
                    said.push("products' names or units brought up to date".into());
                } else if products.is_empty() {
                    said.push("lines rearranged".into());
                }
                said.extend(products);
            }
            other => said.push(other.to_owned()),
        }
    }
    let (before, after) = (amount("total_before_minor"), amount("total_minor"));
    let total = if before.is_empty() || before == after {
        format!("total {after}")
    } else {
        format!("total {before} \u{2192} {after}")
    };
    let ended = match detail["approval_request_ended"].as_bool() {
        Some(true) => "; this ended the request for finance's approval of old prices, which was about the lines before",
        _ => "",
    };
    format!("Edited: {}; {total}{ended}", said.join(", "))
}

/// Each product's change an audit row's `lines` keeps (an edit's, a
/// repricing's), in words ([`product_change`]).
fn product_changes(detail: &serde_json::Value, currency: &str) -> Vec<String> {
    detail["lines"].as_array().into_iter().flatten().filter_map(|change| product_change(change, currency)).collect()
}

/// One product's change in an edit's audit row, in words: `P-1 2 → 5`,
/// `P-3 added (1)`, `P-2 removed (1)`, `P-1 on 1 line → 2 lines`,
/// `P-1 15 on 2 lines → 12 on 1 line` (a line of it removed),
/// `P-1 discount 0.00 % → 12.50 %`, `P-1 unit price 10.00 EUR → 11.00 EUR`.
/// Quantities are written as the pages write them (`1,000`).
fn product_change(change: &serde_json::Value, currency: &str) -> Option<String> {
    use pricegate_domain::count as amount;
    let sku = change["sku"].as_str()?;
    let count = |key: &str| change[key].as_i64();
    let (quantity_before, quantity_after) = (count("quantity_before")?, count("quantity_after")?);
    let (lines_before, lines_after) = (count("lines_before")?, count("lines_after")?);
    let on_lines = |lines: i64| if lines > 1 { format!(" on {lines} lines") } else { String::new() };
    if lines_before == 0 {
        return Some(format!("{sku} added ({}{})", amount(quantity_after), on_lines(lines_after)));
    }
    if lines_after == 0 {
        return Some(format!("{sku} removed ({}{})", amount(quantity_before), on_lines(lines_before)));
    }
    let lines = |n: i64| if n == 1 { "1 line".to_owned() } else { format!("{n} lines") };
    let mut parts: Vec<String> = Vec::new();
    match (quantity_before != quantity_after, lines_before != lines_after) {
        (true, false) => parts.push(format!("{} \u{2192} {}", amount(quantity_before), amount(quantity_after))),
        (false, true) => parts.push(format!("on {} \u{2192} {}", lines(lines_before), lines(lines_after))),
        (true, true) => parts.push(format!(
            "{} on {} \u{2192} {} on {}",
            amount(quantity_before),
            lines(lines_before),
            amount(quantity_after),
            lines(lines_after)
        )),
        (false, false) => {}
    }
    let both = |key: &str, say: &dyn Fn(i64) -> String| -> Option<String> {
        let sides = change[key].as_array()?;
        let side = |i: usize| -> Option<String> {
            let said: Vec<String> = sides.get(i)?.as_array()?.iter().filter_map(|v| v.as_i64()).map(say).collect();
            Some(said.join(" and "))
        };
        Some(format!("{} \u{2192} {}", side(0)?, side(1)?))
    };
    if let Some(discounts) = both("discounts_bp", &|bp| percent(i32::try_from(bp).unwrap_or(0))) {
        parts.push(format!("discount {discounts}"));
    }
    if let Some(prices) = both("unit_prices_minor", &|minor| money(currency, minor)) {
        parts.push(format!("unit price {prices}"));
    }
    if change["units_moved"].as_bool() == Some(true) {
        parts.push("units moved between its lines".to_owned());
    }
    Some(format!("{sku} {}", parts.join(", ")))
}

/// What today's prices would do to the total of the lines at an old price.
struct SupersededGap {
    /// Signed (`+20.00 EUR`) for a rise; how much less, for a fall.
    amount: String,
    /// Today's prices are lower: keeping the old ones charges the customer
    /// more, which waives nothing.
    falls: bool,
}

struct EvidenceRow {
    /// The notice, to read it as it was published.
    notice_id: Uuid,
    title: String,
    published_at: String,
    acknowledged_at: String,
    channel: String,
}

/// One product's price in force when the quote was finalised, and where it
/// came from, as the evidence keeps it.
struct PriceSourceRow {
    sku: String,
    price: String,
    /// A price its lines were signed at other than the one in force, which
    /// finance approved keeping (see the override), on a row of its own
    /// under that one.
    signed: bool,
    /// The price in force, with a line signed at an old price on the row
    /// below: said on this row, which a wide table labels only "Unit price".
    kept_below: bool,
    /// The notice whose change set it; `None` for the price list's own.
    notice: Option<PriceNoticeRow>,
}

impl PriceNoticeRow {
    fn of(n: &pricegate_store::views::PriceSetBy, calendar: pricegate_domain::Calendar) -> Self {
        PriceNoticeRow {
            id: n.notice_id,
            title: n.title.clone(),
            published_at: calendar.stamp(n.published_at, true),
            in_force_from: pricegate_mail::compose::in_force_from(n.effective_on, calendar.date_of(n.published_at)),
            acknowledged: n.acknowledged_at.map(|at| match n.channel.as_deref() {
                Some(channel) => format!("{}, {}", calendar.stamp(at, true), super::channel_in_words(channel)),
                None => calendar.stamp(at, true),
            }),
        }
    }
}

struct PriceNoticeRow {
    id: Uuid,
    title: String,
    published_at: String,
    in_force_from: String,
    /// When and how the signer acknowledged it, in words; `None` if they had not.
    acknowledged: Option<String>,
}

struct Repriced {
    old_total: String,
    new_total: String,
}

#[derive(Template)]
#[template(path = "pages/quote.html")]
struct QuotePage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    /// How the e-mails name it.
    reference: String,
    /// The quote as shown ([`QuoteView::revision`]): its Finalise form sends
    /// it back, and a quote changed since is not finalised.
    revision: i64,
    customer: String,
    customer_email: String,
    signer: String,
    owner: String,
    /// The owner signs it too: the page names one person.
    owner_signs: bool,
    i_am_signer: bool,
    /// For the signer who can sign, with two or more notices pending: the
    /// notices "Acknowledge all" sends back, those the page shows.
    acknowledge_all: Option<AcknowledgeAll>,
    /// The reader owns it and is in sales: they may edit, reprice and cancel a draft.
    i_am_owner: bool,
    /// Its owner is an active salesperson, who can change it.
    owner_can_edit: bool,
    /// The reader is in sales, and may draft a new quote from this one.
    i_can_copy: bool,
    state: String,
    valid_until: String,
    drafted_at: String,
    notes: String,
    lines: Vec<LineRow>,
    total: String,
    ready: bool,
    expired: bool,
    /// False when the signer was deactivated or left sales (a draft only).
    signer_can_sign: bool,
    pending: Vec<PendingRow>,
    superseded: Vec<SupersededRow>,
    /// What today's prices would do to the total of the lines at an old
    /// price: what keeping the old ones forgoes.
    superseded_gap: Option<SupersededGap>,
    has_override: bool,
    /// Finance's approval of the old prices: who, when and why.
    override_note: Option<String>,
    /// Finance's latest approval of old prices, which no longer covers the
    /// lines at an old price, in words.
    lapsed_override: Option<String>,
    finalised_at: String,
    /// Who finalised it (the signer, by the gate's rule).
    finalised_by: String,
    cancelled_at: String,
    evidence: Vec<EvidenceRow>,
    /// Where each price signed came from; `None` for evidence kept before
    /// that was recorded.
    price_sources: Option<Vec<PriceSourceRow>>,
    /// What of a finalised quote's rows no longer matches its finalisation
    /// record, and what that record says was finalised, in words.
    altered: Option<String>,
    /// What happened to the quote, oldest first, as the audit log keeps it.
    history: Vec<HistoryRow>,
    override_reason: String,
    /// What the pending notices do to the total together, when their own totals do not say it.
    together: Option<TogetherNote>,
    message: Option<String>,
    /// What the last form did to this quote, told once.
    done: Option<String>,
    /// `done` is said of the gate (an acknowledgement), and shown there, at
    /// the notices still pending and the Finalise button, not above the lines.
    done_at_gate: bool,
    repriced: Option<Repriced>,
    /// Prices published to take force while the draft is valid, other than
    /// the pending notices' (which have their own cards).
    upcoming: Vec<UpcomingRow>,
    /// Pending notices are listed above the prices due: those are the others.
    upcoming_besides_pending: bool,
    is_finance: bool,
    /// The reader owns or signs it: they may not approve its old prices.
    mine: bool,
    override_error: Option<String>,
    /// The reason typed into a refused approval, to send again.
    override_reason_typed: String,
    /// The open request that finance approve the old prices, in words.
    approval_asked: Option<String>,
    /// The reader, the quote's owner or signer in sales, may ask finance to
    /// approve its old prices (none asked about these lines yet).
    may_ask_approval: bool,
    /// The reader may remind finance of the open request, about these lines.
    may_remind_finance: bool,
    ask_error: Option<String>,
    /// The reason typed into a refused request, to send again.
    ask_reason_typed: String,
    /// The open request for approval, which finance may decline.
    open_request: Option<Uuid>,
    decline_error: Option<String>,
    /// The reason typed into a refused decline, to send again.
    decline_reason_typed: String,
    /// The lines at an old price as shown ([`pricegate_store::views::GateView::superseded_tag`]):
    /// the approval form sends them back, and is refused if they are others by then.
    superseded_seen: String,
}

/// What a form did to a quote, carried across the redirect to its page
/// (post, redirect, get) and told there once. The cookie names the quote, so
/// another quote's page opened meanwhile says nothing.
#[derive(Debug, PartialEq)]
pub(super) enum QuoteDone {
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
fn flag(part: &str) -> Option<bool> {
    match part {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

const QUOTE_DONE: DoneCookie = DoneCookie { name: "pricegate_quote_done", page: "/quotes" };

/// What saving an edit says when it ended a request for finance's approval.
const REQUEST_ENDED: &str = "The request that finance approve its old prices was about its lines as they were, so it \
    has ended, unanswered: if lines are still at an old price, reprice the quote or ask finance again (below).";

/// How many notices published while a new quote's form was open are read
/// to name those that change its products.
const WHILE_OPEN_READ: u64 = 50;

/// Of the notices published after the one numbered `seen` (the last when a
/// new quote's form was shown) and before the quote was drafted, those that
/// change a product on it, said: the form showed the prices before them, the
/// quote took the prices after, and the gate does not ask about them (it asks
/// about notices published after the drafting). Empty when there are none.
async fn published_while_open(app: &AppState, user: &PageUser, quote: Uuid, seen: i64) -> Result<String, PageError> {
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
    fn cookie_value(&self, quote: Uuid) -> String {
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
    fn parse(value: &str, quote: Uuid) -> Option<QuoteDone> {
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

    async fn sentence(&self, app: &AppState, user: &PageUser, page: &QuotePage) -> String {
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
                        Err(e) if e.status().is_server_error() => {
                            tracing::error!(error = %e.message(), "reading the notices published while a quote's form was open")
                        }
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
            QuoteDone::AcknowledgedAll { new, of } => super::acknowledged_together(*new, *of),
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
    fn is_of_the_gate(&self) -> bool {
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
    pub(super) fn back_to_quote(self, seal: &Seal, quote: Uuid) -> Response {
        QUOTE_DONE.redirect_to(seal, &format!("/quotes/{quote}"), &self.cookie_value(quote))
    }
}

/// Where pending notices price one line while the quote is valid (a change
/// effective after `valid_until` is marked as such, and not counted), the
/// change they leave in force last: the latest effective date, then the later
/// publication, as prices in force are read. By line: that notice, its
/// title, its date and its change to the line's total, and how many pending
/// notices price the line.
struct LastWord<'a> {
    notice: Uuid,
    title: &'a str,
    effective_on: chrono::NaiveDate,
    delta_minor: i64,
    /// The pending notices that price the line while the quote is valid.
    notices: Vec<Uuid>,
}

/// Whether a price of a notice published on `published_on`, dated `on`,
/// takes force only after `valid_until`: a price takes force on its day, or
/// on its notice's publication if that is later.
fn takes_force_after(on: chrono::NaiveDate, published_on: chrono::NaiveDate, valid_until: chrono::NaiveDate) -> bool {
    on.max(published_on) > valid_until
}

/// What one notice does to the total while the quote is valid, when that is
/// not its own total (some of its prices come after the validity).
fn while_valid(p: &PendingNoticeView) -> Option<i64> {
    let impact = &p.impact;
    (impact.delta_while_valid_minor != impact.total_delta_minor).then_some(impact.delta_while_valid_minor)
}

/// Whether the quote already carries every price `p` sets for its lines, at
/// each date: it changes nothing here, though it must still be acknowledged.
/// Not when a later notice prices one of its lines again (`later`, from
/// [`later_changes`]): the last word on that line is the later one's.
fn already_carried(p: &PendingNoticeView, later: &HashMap<(Uuid, Uuid), String>) -> bool {
    !p.impact.lines.is_empty()
        && p.impact.lines.iter().all(|line| {
            line.new_unit_price_minor == line.old_unit_price_minor
                && line.earlier.iter().all(|step| {
                    step.unit_price_minor == line.old_unit_price_minor && step.overtaken_by_unit_price_minor.is_none()
                })
                && !later.contains_key(&(p.notice_id, line.line_id))
                && line.overtaken_by_unit_price_minor.is_none()
        })
}

fn last_words(pending: &[PendingNoticeView], valid_until: chrono::NaiveDate) -> HashMap<Uuid, LastWord<'_>> {
    let mut words: HashMap<Uuid, LastWord<'_>> = HashMap::new();
    for p in pending {
        // A price a later notice replaced by today has no word left, nor
        // one finance approved keeping the old price against.
        for line in p.impact.lines.iter().filter(|l| l.counts()) {
            // Of this notice's prices for the line, the last one in force while the quote is valid.
            let Some((effective_on, delta_minor)) = last_in_force(line.steps(), valid_until) else { continue };
            let notices = vec![p.notice_id];
            let word = LastWord { notice: p.notice_id, title: &p.title, effective_on, delta_minor, notices };
            match words.entry(line.line_id) {
                Entry::Vacant(slot) => {
                    slot.insert(word);
                }
                Entry::Occupied(mut slot) => {
                    let last = slot.get_mut();
                    last.notices.push(p.notice_id);
                    // `pending` is in the order of publication: a tie on the date goes to the later.
                    if word.effective_on >= last.effective_on {
                        let notices = std::mem::take(&mut last.notices);
                        *last = LastWord { notices, ..word };
                    }
                }
            }
        }
    }
    words
}

/// For each pending notice's change to a line that another pending notice
/// has the last word on while the quote is valid: that notice, and from
/// when its price is in force. A notice whose prices all take force after
/// the quote's validity is not marked (its own mark says so).
fn later_changes(words: &HashMap<Uuid, LastWord<'_>>, pending: &[PendingNoticeView]) -> HashMap<(Uuid, Uuid), String> {
    let mut later = HashMap::new();
    for p in pending {
        for line in &p.impact.lines {
            if let Some(word) = words
                .get(&line.line_id)
                .filter(|w| w.notices.len() > 1 && w.notice != p.notice_id && w.notices.contains(&p.notice_id))
            {
                later.insert(
                    (p.notice_id, line.line_id),
                    format!("\u{201c}{}\u{201d} sets the price in force from {}", word.title, word.effective_on),
                );
            }
        }
    }
    later
}

/// What the pending notices do to the total together while the quote is
/// valid, each line at the price left in force last, where more than one
/// notice prices its lines (one notice's card says it), and why their own
/// totals do not say it at a glance.
#[derive(Debug, PartialEq, Eq)]
struct Together {
    why: TogetherWhy,
    delta_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TogetherWhy {
    /// Several notices price one line: each is measured against the quoted
    /// prices, so their totals do not add up.
    Overlap,
    /// Some of their prices take force only after the quote's validity ends.
    AfterValidity,
    /// Their totals add up: the sum, so that nobody has to do it.
    AddsUp,
}

fn together(words: &HashMap<Uuid, LastWord<'_>>, pending: &[PendingNoticeView]) -> Option<Together> {
    let delta_minor = words.values().fold(0i64, |sum, w| sum.saturating_add(w.delta_minor));
    let added = pending.iter().fold(0i64, |sum, p| sum.saturating_add(p.impact.total_delta_minor));
    let why = match (words.values().any(|w| w.notices.len() > 1), delta_minor != added) {
        (true, _) => TogetherWhy::Overlap,
        (false, true) => TogetherWhy::AfterValidity,
        (false, false) => TogetherWhy::AddsUp,
    };
    // One notice's card says what it does while the quote is valid itself.
    let pricing = pending.iter().filter(|p| !p.impact.lines.is_empty()).count();
    (why == TogetherWhy::Overlap || pricing > 1).then_some(Together { why, delta_minor })
}

/// How the quote page says [`Together`].
struct TogetherNote {
    why: TogetherWhy,
    delta: String,
}

/// A price published to take force while a draft is valid.
pub(super) struct UpcomingRow {
    pub(super) sku: String,
    pub(super) quoted: String,
    pub(super) new_price: String,
    pub(super) effective_on: String,
    pub(super) notice_id: Uuid,
    pub(super) title: String,
    /// Its notice came before the quote was drafted, so the gate does not
    /// wait for it, and the signer has not acknowledged it.
    pub(super) unread: bool,
    /// It is the price the line carries (a price put back): from then the
    /// line needs no repricing for it.
    pub(super) as_quoted: bool,
}

/// How many notices of `rows` the signer has not acknowledged (a notice
/// may set prices for several of the quote's products).
pub(super) fn unread_count(rows: &[UpcomingRow]) -> usize {
    let unread: std::collections::HashSet<Uuid> = rows.iter().filter(|u| u.unread).map(|u| u.notice_id).collect();
    unread.len()
}

/// The quote's lines as its pages show them; a draft's say which of its
/// products have been withdrawn from sale (it keeps them).
pub(super) async fn line_rows(app: &AppState, quote: &QuoteView) -> Result<Vec<LineRow>, PageError> {
    let currency = &quote.currency;
    let withdrawn = if quote.state == "draft" {
        let skus: Vec<&str> = quote.lines.iter().map(|l| l.sku.as_str()).collect();
        app.store.withdrawn_from_sale(&skus).await?
    } else {
        HashMap::new()
    };
    let calendar = app.store.calendar();
    Ok(quote
        .lines
        .iter()
        .map(|l| LineRow {
            withdrawn_on: withdrawn.get(&l.sku).map(|at| calendar.date_of(*at).to_string()),
            sku: l.sku.clone(),
            product: l.product_name.clone(),
            quantity: pricegate_domain::count(l.quantity),
            unit_price: money(currency, l.unit_price_minor),
            unit: l.unit.clone(),
            discount: percent(l.discount_bp),
            total: money(currency, l.total_minor),
            gate_mark: None,
        })
        .collect())
}

/// The lines whose price `gate` holds the quote up over, each with what
/// to say of it beside its product: one whose total a notice still to
/// acknowledge moves while the quote is valid (as the notice's card counts it: not a
/// change finance approved keeping the price over, one another notice has
/// the last word on, nor one taking force only after `valid_until`), one at
/// a price no longer in force that no approval covers.
fn gate_marks(
    gate: &GateView,
    valid_until: chrono::NaiveDate,
    calendar: pricegate_domain::Calendar,
) -> HashMap<Uuid, &'static str> {
    let mut marks = HashMap::new();
    if gate.price_override.is_none() {
        for line in &gate.superseded {
            marks.insert(line.line_id, "no longer the price in force");
        }
    }
    for notice in &gate.pending {
        let published_on = calendar.date_of(notice.published_at);
        for line in notice.impact.lines.iter().filter(|l| l.counts()) {
            let changes_while_valid =
                line.steps().any(|(on, delta)| delta != 0 && !takes_force_after(on, published_on, valid_until));
            if changes_while_valid {
                marks.insert(line.line_id, "changed by a notice to acknowledge");
            }
        }
    }
    marks
}

/// The prices already published, by notices the signer has acknowledged or
/// that came before drafting, that take force after today and while the
/// draft is valid: finalised before then the quote keeps its prices,
/// finalised after it meets them as prices no longer in force. Each says
/// whether the signer has left its notice unread: one published before
/// drafting does not hold the quote up, but it is no less news to them.
pub(super) async fn upcoming_rows(
    app: &AppState,
    quote: &QuoteView,
    gate: Option<&GateView>,
) -> Result<Vec<UpcomingRow>, PageError> {
    let Some(gate) = gate else { return Ok(Vec::new()) };
    let pending: std::collections::HashSet<Uuid> = gate.pending.iter().map(|p| p.notice_id).collect();
    let prices = app.store.upcoming_for_quote(quote, &pending).await?;
    Ok(prices
        .into_iter()
        .map(|p| UpcomingRow {
            unread: !p.acknowledged_by_signer,
            as_quoted: p.unit_price_minor == p.quoted_unit_price_minor,
            quoted: money(&quote.currency, p.quoted_unit_price_minor),
            new_price: money(&quote.currency, p.unit_price_minor),
            effective_on: p.effective_on.to_string(),
            sku: p.sku,
            notice_id: p.notice_id,
            title: p.title,
        })
        .collect())
}

async fn quote_page(
    app: &AppState,
    user: &PageUser,
    quote: QuoteView,
    gate: Option<GateView>,
    message: Option<String>,
) -> Result<QuotePage, PageError> {
    let currency = quote.currency.clone();
    let calendar = app.store.calendar();
    let today = calendar.today();
    let name_of = |id| async move { app.store.get_user(id).await.map(|u| u.name).unwrap_or_else(|_| "unknown".into()) };
    let signer_user = app.store.get_user(quote.signer_id).await.ok();
    let owner_user = match quote.owner_id == quote.signer_id {
        true => signer_user.clone(),
        false => app.store.get_user(quote.owner_id).await.ok(),
    };
    let name = |u: &Option<UserView>| u.as_ref().map_or_else(|| "unknown".to_owned(), |u| u.name.clone());
    let (signer, owner) = (name(&signer_user), name(&owner_user));
    // Only a salesperson can change a draft: an owner out of sales waits for
    // an admin to hand it over.
    let owner_can_edit = quote.state != "draft" || owner_user.as_ref().is_none_or(UserView::can_sign);
    let finalised_by = match quote.evidence.as_ref().map(|e| e.finalised_by) {
        Some(by) if by == quote.signer_id => signer.clone(),
        Some(by) => name_of(by).await,
        None => String::new(),
    };
    let gate = match gate {
        Some(g) => Some(g),
        None => open_gate(app, user, &quote).await?,
    };
    let (together, later) = match &gate {
        Some(g) => {
            let words = last_words(&g.pending, quote.valid_until);
            let note = together(&words, &g.pending)
                .map(|t| TogetherNote { why: t.why, delta: signed_money(&currency, t.delta_minor) });
            (note, later_changes(&words, &g.pending))
        }
        None => (None, HashMap::new()),
    };
    let upcoming = upcoming_rows(app, &quote, gate.as_ref()).await?;
    // Who approved keeping the old prices, and why, for the signer to read before finalising.
    let override_note = match gate.as_ref().and_then(|g| g.price_override.as_ref()) {
        Some(o) => Some(format!(
            "{} approved this {}: \u{201c}{}\u{201d}",
            name_of(o.approved_by).await,
            calendar.stamp(o.created_at, true),
            o.reason
        )),
        None => None,
    };
    let superseded_seen = gate.as_ref().map(|g| g.superseded_tag.clone()).unwrap_or_default();
    let superseded_gap = gate.as_ref().filter(|g| !g.superseded.is_empty()).map(|g| {
        let gap = pricegate_store::views::old_price_gap(&g.superseded);
        if gap < 0 {
            SupersededGap { amount: money(&currency, gap.saturating_neg()), falls: true }
        } else {
            SupersededGap { amount: signed_money(&currency, gap), falls: false }
        }
    });
    // The request for finance's approval, while the gate has lines at an old
    // price that no approval covers: read with the gate's own lines.
    let awaiting = gate.as_ref().filter(|g| !g.superseded.is_empty() && g.price_override.is_none());
    let asked = approval_asked(app, user, &quote, awaiting.map(|g| g.superseded.as_slice())).await?;
    let marks = gate.as_ref().map(|g| gate_marks(g, quote.valid_until, calendar)).unwrap_or_default();
    let (ready, expired, signer_can_sign, pending, superseded, has_override) = match gate {
        Some(g) => (
            g.ready,
            g.expired,
            g.signer_can_sign,
            g.pending
                .into_iter()
                .map(|p| (ChangesAhead::of(&p.impact.change_days, today), p))
                .map(|(ahead, p)| PendingRow {
                    notice_id: p.notice_id,
                    while_valid: while_valid(&p).map(|delta| signed_money(&currency, delta)),
                    // Said while some of it is to come, or some comes only after the validity.
                    ahead: (ahead.is_some() || p.impact.total_delta_minor != p.impact.delta_while_valid_minor)
                        .then(|| crate::ack::effect_on_total(&p.impact, &currency, quote.valid_until, ahead)),
                    meanwhile: ahead.is_some_and(|a| a.moves_total()) && p.impact.delta_while_valid_minor == 0,
                    already_carried: already_carried(&p, &later),
                    title: p.title,
                    published_at: calendar.stamp(p.published_at, true),
                    body_html: render_markdown(&p.body, 3),
                    impact: p
                        .impact
                        .lines
                        .iter()
                        .map(|l| {
                            // One published after the quote's validity ended counts nothing.
                            let published_on = calendar.date_of(p.published_at);
                            let after_validity = |on| takes_force_after(on, published_on, quote.valid_until);
                            // A mark that another notice has the last word goes on this
                            // notice's price in force at the end of the validity.
                            let counted_step = last_in_force(l.steps(), quote.valid_until)
                                .filter(|_| quote.valid_until >= published_on);
                            let counted = counted_step.map(|(on, _)| on);
                            // A price another notice replaced says so, and counts nothing: by a
                            // correction published since, for its day ahead, or by today.
                            let instead = |overtaken: Option<i64>, on: chrono::NaiveDate| {
                                overtaken.map(|now| match on > today {
                                    true => format!(
                                        "another notice, published since, sets {} from {on} instead",
                                        money(&currency, now)
                                    ),
                                    false => format!(
                                        "another notice set {}, the price in force today",
                                        money(&currency, now)
                                    ),
                                })
                            };
                            // No price of it for the line counts any more.
                            let gone = !l.waived_by_approval && !l.counts();
                            let other = later.get(&(p.notice_id, l.line_id));
                            // Said on the price in force at the end of the validity, and on
                            // each a correction replaced.
                            let later_on = |on, overtaken| {
                                instead(overtaken, on)
                                    .filter(|_| on > today || counted == Some(on))
                                    .or_else(|| other.filter(|_| counted == Some(on)).cloned())
                            };
                            let last_overtaken = l.overtaken_by_unit_price_minor;
                            ImpactRow {
                                sku: l.sku.clone(),
                                quantity: pricegate_domain::count(l.quantity),
                                discount: quote
                                    .lines
                                    .iter()
                                    .find(|q| q.id == l.line_id)
                                    .map_or_else(String::new, |q| percent(q.discount_bp)),
                                old_price: money(&currency, l.old_unit_price_minor),
                                new_price: money(&currency, l.new_unit_price_minor),
                                effective_on: InForce::of(l.effective_on, published_on),
                                after_validity: after_validity(l.effective_on),
                                counts: counted == Some(l.effective_on)
                                    && last_overtaken.is_none()
                                    && !l.waived_by_approval,
                                // The line's change while the quote is valid, where an earlier price is
                                // the one it has then: before the last price's, which comes after.
                                delta_while_valid: match counted_step {
                                    _ if gone || l.waived_by_approval => None,
                                    Some((on, delta)) if on != l.effective_on => Some(signed_money(&currency, delta)),
                                    // Every price of it comes after the validity: nothing while valid.
                                    None => Some(signed_money(&currency, 0)),
                                    Some(_) => None,
                                },
                                delta: match last_overtaken {
                                    _ if gone => "none: no longer in force".to_owned(),
                                    _ if l.waived_by_approval => {
                                        "none: finance approved keeping the price quoted".to_owned()
                                    }
                                    // Its last price replaced, an earlier one still counts.
                                    Some(_) => signed_money(&currency, 0),
                                    None => signed_money(&currency, l.delta_minor),
                                },
                                delta_in_words: gone || l.waived_by_approval,
                                later: later_on(l.effective_on, last_overtaken),
                                earlier: l
                                    .earlier
                                    .iter()
                                    .map(|s| EarlierRow {
                                        price: format!(
                                            "{} ({} on the line)",
                                            money(&currency, s.unit_price_minor),
                                            signed_money(&currency, s.delta_minor)
                                        ),
                                        on: InForce::of(s.effective_on, published_on),
                                        after_validity: after_validity(s.effective_on),
                                        counts: counted == Some(s.effective_on)
                                            && s.overtaken_by_unit_price_minor.is_none()
                                            && !gone
                                            && !l.waived_by_approval,
                                        later: later_on(s.effective_on, s.overtaken_by_unit_price_minor),
                                    })
                                    .collect(),
                            }
                        })
                        .collect(),
                    total_delta: signed_money(&currency, p.impact.total_delta_minor),
                })
                .collect(),
            g.superseded
                .iter()
                .map(|s| SupersededRow {
                    sku: s.sku.clone(),
                    quantity: pricegate_domain::count(s.quantity),
                    quoted: money(&currency, s.quoted_unit_price_minor),
                    current: money(&currency, s.current_unit_price_minor),
                })
                .collect(),
            g.price_override.is_some(),
        ),
        None => (false, false, true, Vec::new(), Vec::new(), false),
    };
    // An approval that an edit, or a price since, has left behind: said, so
    // that the page does not seem to have forgotten it.
    let lapsed_override = match superseded.is_empty() || has_override {
        true => None,
        false => match app.store.latest_price_override(quote.id).await? {
            Some(o) if o.approved_by == quote.signer_id || o.approved_by == quote.owner_id => Some(format!(
                "{} approved keeping old prices {}, and now {} this quote, so that approval no longer applies: one \
                 person does not both approve old prices and draft or finalise at them. Someone else in finance \
                 must approve them.",
                name_of(o.approved_by).await,
                calendar.stamp(o.created_at, true),
                if o.approved_by == quote.signer_id { "signs" } else { "owns" },
            )),
            Some(o) => Some(format!(
                "{} approved keeping old prices {}, but the quote or its prices have changed since, so that approval no longer applies: an approval waives only the lines as finance saw them.",
                name_of(o.approved_by).await,
                calendar.stamp(o.created_at, true),
            )),
            None => None,
        },
    };
    let evidence = quote.evidence.as_ref();
    let upcoming_besides_pending = !pending.is_empty();
    let entries = app.store.quote_history(quote.id).await?;
    let mut people: Vec<Uuid> = entries.iter().filter_map(|e| e.actor_id).collect();
    people.extend(entries.iter().flat_map(|e| NAMED_IN_HISTORY.iter().filter_map(|key| named_in(&e.detail, key))));
    people.sort_unstable();
    people.dedup();
    let names = app.store.user_names(&people).await?;
    let history = without_repeats(entries.iter().map(|e| HistoryRow {
        at: calendar.stamp(e.at, true),
        actor: e.actor_id,
        who: e.actor_id.and_then(|id| names.get(&id).cloned()).unwrap_or_default(),
        what: history_row(e, &currency, &names, &quote.state),
        repeated: None,
    }));
    let reference = pricegate_mail::compose::quote_reference(quote.id);
    Ok(QuotePage {
        history,
        // Two quotes for one customer are told apart in the browser's tabs and history.
        layout: user
            .layout(format!("Quote {reference} for {}", quote.customer.name))
            .at(format!("/quotes/{}", quote.id)),
        reference,
        csrf: user.csrf().to_owned(),
        id: quote.id,
        revision: quote.revision(),
        customer: if quote.customer.company.is_empty() {
            quote.customer.name.clone()
        } else {
            format!("{} ({})", quote.customer.name, quote.customer.company)
        },
        customer_email: quote.customer.email.clone(),
        signer,
        owner,
        owner_signs: quote.owner_id == quote.signer_id,
        i_am_signer: quote.signer_id == user.0.actor.id,
        // Only a salesperson changes a quote, even one they own.
        i_am_owner: quote.owner_id == user.0.actor.id && user.0.actor.role == Role::Sales,
        i_can_copy: user.0.actor.role == Role::Sales,
        owner_can_edit,
        state: quote.state.clone(),
        valid_until: quote.valid_until.to_string(),
        drafted_at: calendar.stamp(quote.drafted_at, true),
        notes: quote.notes.clone(),
        lines: line_rows(app, &quote)
            .await?
            .into_iter()
            .zip(&quote.lines)
            .map(|(row, line)| LineRow { gate_mark: marks.get(&line.id).copied(), ..row })
            .collect(),
        total: money(&currency, quote.total_minor),
        ready,
        expired,
        signer_can_sign,
        // The first of them when there are more than one form may name.
        acknowledge_all: (quote.signer_id == user.0.actor.id && signer_can_sign && pending.len() >= 2).then(|| {
            let ids: Vec<String> =
                pending.iter().take(super::ACKNOWLEDGED_TOGETHER_AT_MOST).map(|p| p.notice_id.to_string()).collect();
            AcknowledgeAll { count: ids.len(), ids: ids.join(",") }
        }),
        pending,
        superseded,
        superseded_gap,
        has_override,
        override_note,
        lapsed_override,
        finalised_at: evidence.map(|e| calendar.stamp(e.finalised_at, true)).unwrap_or_default(),
        finalised_by,
        cancelled_at: quote.cancelled_at.map(|at| calendar.stamp(at, true)).unwrap_or_default(),
        altered: evidence.and_then(|e| e.signed.as_ref()).and_then(|signed| altered(signed, &quote)),
        evidence: evidence
            .map(|e| {
                e.notices
                    .iter()
                    .map(|n| EvidenceRow {
                        notice_id: n.notice_id,
                        title: n.title.clone(),
                        published_at: calendar.stamp(n.published_at, true),
                        acknowledged_at: calendar.stamp(n.acknowledged_at, true),
                        channel: super::channel_in_words(&n.channel).to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        price_sources: evidence.and_then(|e| e.prices.as_ref()).map(|prices| {
            let row = |sku: &str, price: i64, signed: bool, set_by: Option<&pricegate_store::views::PriceSetBy>| {
                PriceSourceRow {
                    sku: sku.to_owned(),
                    price: money(&currency, price),
                    signed,
                    kept_below: false,
                    notice: set_by.map(|n| PriceNoticeRow::of(n, calendar)),
                }
            };
            prices
                .iter()
                .flat_map(|p| {
                    let kept = p.signed_at.iter().map(|s| row(&p.sku, s.unit_price_minor, true, s.set_by.as_ref()));
                    let in_force = PriceSourceRow {
                        kept_below: !p.signed_at.is_empty(),
                        ..row(&p.sku, p.unit_price_minor, false, p.set_by.as_ref())
                    };
                    std::iter::once(in_force).chain(kept)
                })
                .collect()
        }),
        override_reason: match evidence.and_then(|e| e.price_override.as_ref()) {
            // Who approved it, and when, is part of the proof.
            Some(o) => {
                let by = name_of(o.approved_by).await;
                let waived: Vec<String> = o
                    .waives
                    .iter()
                    .map(|w| {
                        format!(
                            "{} × {} at {} ({} in force)",
                            w.sku,
                            w.quantity.map_or_else(|| "?".to_owned(), |q| q.to_string()),
                            money(&quote.currency, w.quoted_unit_price_minor),
                            money(&quote.currency, w.current_unit_price_minor)
                        )
                    })
                    .collect();
                let waiving =
                    if waived.is_empty() { String::new() } else { format!(", waiving {}", waived.join(", ")) };
                format!("approved by {by}, {}{waiving}: {}", calendar.stamp(o.created_at, true), o.reason)
            }
            None => String::new(),
        },
        together,
        upcoming_besides_pending,
        upcoming,
        message,
        done: None,
        done_at_gate: false,
        repriced: None,
        is_finance: user.0.actor.role == Role::Finance,
        mine: quote.owner_id == user.0.actor.id || quote.signer_id == user.0.actor.id,
        override_error: None,
        override_reason_typed: String::new(),
        approval_asked: asked.note,
        may_ask_approval: asked.may_ask,
        may_remind_finance: asked.may_remind,
        open_request: asked.open,
        ask_error: None,
        ask_reason_typed: String::new(),
        decline_error: None,
        decline_reason_typed: String::new(),
        superseded_seen,
    })
}

/// The open request that finance approve keeping the quote's old prices, in
/// words, and whether the reader may ask (again, for lines that changed since).
/// `superseded`: the gate's lines at an old price, when some are and no
/// approval covers them (else no request can be waiting).
async fn approval_asked(
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
struct Asked {
    /// The open request, or the latest declined, in words.
    note: Option<String>,
    /// The reader may ask (none open about these lines).
    may_ask: bool,
    /// The reader may remind finance of the open request (they may ask,
    /// and it is about the lines as they are).
    may_remind: bool,
    /// The open request, which finance may decline.
    open: Option<Uuid>,
}

async fn show(
    State(app): State<AppState>,
    user: PageUser,
    PageSegment(raw): PageSegment,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    user.require(QUOTE_ROLES)?;
    let id = match Uuid::parse_str(&raw) {
        Ok(id) => id,
        Err(_) => return by_reference(&app, &user, &raw, "").await,
    };
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    let quote_currency = quote.currency.clone();
    let mut page = quote_page(&app, &user, quote, None, None).await?;
    let seal = user.seal(&app);
    if let Some(done) = QUOTE_DONE.read(&headers, &seal).and_then(|v| QuoteDone::parse(v, id)) {
        if let QuoteDone::Repriced { old_minor, new_minor, .. } = done {
            let currency = quote_currency.as_str();
            page.repriced =
                Some(Repriced { old_total: money(currency, old_minor), new_total: money(currency, new_minor) });
        }
        // A draft's only: a quote cancelled meanwhile has no gate to show it at.
        page.done_at_gate = done.is_of_the_gate() && page.state == "draft";
        page.done = Some(done.sentence(&app, &user, &page).await);
    }
    Ok(QUOTE_DONE.told(&headers, &seal, &page))
}

/// `/quotes/3fc2b0b8`: the quote by the reference its e-mails and lists
/// print, among those the person may see; `then` is the rest of the
/// address (`/edit`), kept on the way to it.
pub(super) async fn by_reference(
    app: &AppState,
    user: &PageUser,
    typed: &str,
    then: &str,
) -> Result<Response, PageError> {
    let Some((reference, ids)) = super::reference_range(typed) else { return Err(super::forms::not_found()) };
    match app.store.quotes_by_reference(&user.0.actor, ids).await?.as_slice() {
        [id] => Ok(axum::response::IntoResponse::into_response(axum::response::Redirect::to(&format!(
            "/quotes/{id}{then}"
        )))),
        [] => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("None of the quotes you may see has the reference {reference}."),
        )),
        _ => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "More than one quote",
            format!(
                "Several quotes you may see have the reference {reference}: open the one you mean from the list of quotes."
            ),
        )),
    }
}

async fn acknowledge(
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
    let named = match super::notice_ids(&form, which)? {
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
fn not_yours_now(e: PageError, done: &str, then: &str, next: (String, &str)) -> PageError {
    if e.code() != Some("not_your_quote") {
        return e;
    }
    let message = format!(
        "{done}: this quote is not one you own or sign now (its owner may have named another signer, or an admin \
         handed it over). {then}"
    );
    e.told("Not yours to sign", message).with_next(next.0, next.1)
}

pub(super) async fn finalise(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let then = "Your quotes, and those you sign, are on the quotes page.";
    let next = ("/quotes".to_owned(), "Your quotes");
    finalise_as_sent(&app, &user, id, &form).await.map_err(|e| not_yours_now(e, "Not finalised", then, next))
}

/// [`finalise`], which tells a quote no longer the sender's as such.
async fn finalise_as_sent(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    form: &super::FormFields,
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
        let message = format!("Not finalised: {}. Check the quote below, then finalise again.", super::OUT_OF_DATE);
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
async fn not_the_signer(app: &AppState, user: &PageUser, quote: QuoteView) -> Result<Response, PageError> {
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
async fn not_ready(app: &AppState, user: &PageUser, quote: QuoteView) -> Result<Response, PageError> {
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
fn prices_seen(form: &super::FormFields) -> Option<PricesSeen> {
    form.seen().map(|revision| PricesSeen {
        revisions: Some(vec![revision]),
        superseded: Some(form.get("seen_superseded").to_owned()),
    })
}

/// Reprices the quote as its page showed it: one changed since, or whose
/// lines at an old price (or the prices now in force for them) are others
/// by now, is shown again with the prices it would take now (409). A form
/// without what it showed (a page from before it was sent) is shown it too.
async fn reprice(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let seen = prices_seen(&form);
    let message = match seen {
        None => format!("Not repriced: {}. Check the prices below, then reprice again.", super::OUT_OF_DATE),
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
async fn settled_since(
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
fn altered(signed: &SignedQuoteView, quote: &QuoteView) -> Option<String> {
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

/// Finance lets a draft be finalised at prices no longer in force, with a
/// written reason kept in the evidence. The acknowledgements are still needed.
async fn override_prices(
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
        (Ok(_), None) => (StatusCode::CONFLICT, Some(format!("Not approved: {}.", super::OUT_OF_DATE)), None),
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
async fn request_approval(
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
        (Ok(_), None) => (StatusCode::CONFLICT, Some(format!("Not asked: {}.", super::OUT_OF_DATE)), None),
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
async fn remind_finance(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let message = match Uuid::parse_str(form.get("request")) {
        Err(_) => format!("Not reminded: {}.", super::OUT_OF_DATE),
        Ok(shown) => match app.store.remind_finance(&user.0.actor, id, Some(shown)).await {
            Ok(reminded) => {
                let done = QuoteDone::FinanceReminded {
                    told: reminded.told,
                    left_out: reminded.recently_told,
                    // Said to the minute, so rounded up to the next one.
                    again_from: reminded.again_from.map(super::minute_from),
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
async fn decline_approval(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let reason =
        pricegate_domain::Text::parse_multiline("reason", form.get("reason"), pricegate_domain::limits::REASON);
    let shown = Uuid::parse_str(form.get("request")).ok();
    let (status, message, field_error) = match (reason, shown) {
        (Err(e), _) => (StatusCode::UNPROCESSABLE_ENTITY, None, Some(in_words(e.message, &[("reason", "The reason")]))),
        (Ok(_), None) => (StatusCode::CONFLICT, Some(format!("Not declined: {}.", super::OUT_OF_DATE)), None),
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

#[cfg(test)]
mod tests {
    use super::*;
    use pricegate_store::views::LineImpactView;

    #[test]
    fn the_finalised_list_says_what_it_comes_to_by_currency() {
        use std::collections::BTreeMap;
        let eur = ("EUR".to_owned(), (42, 123_456_700));
        assert_eq!(
            sums_in_words(Some(BTreeMap::from([eur.clone()])), false).as_deref(),
            Some("42 quotes in all, worth 1,234,567.00 EUR.")
        );
        assert_eq!(
            sums_in_words(Some(BTreeMap::from([("USD".to_owned(), (1, 500_000)), eur])), true).as_deref(),
            Some("43 quotes in all: 42 worth 1,234,567.00 EUR, 1 worth 5,000.00 USD.")
        );
        let wide = BTreeMap::from([("EUR".to_owned(), (2, 2 * i128::from(i64::MAX)))]);
        assert_eq!(
            sums_in_words(Some(wide), false).as_deref(),
            Some("2 quotes in all, worth more than 92,233,720,368,547,758.07 EUR."),
            "never wrapped"
        );
        assert_eq!(sums_in_words(Some(BTreeMap::new()), false), None);
        assert_eq!(
            sums_in_words(None, false).as_deref(),
            Some("More than 10,000 quotes are listed: choose days of finalisation to see what they come to.")
        );
        assert_eq!(
            sums_in_words(None, true).as_deref(),
            Some(
                "More than 10,000 quotes are listed: choose fewer days of finalisation, or search among them, to see \
                 what they come to."
            )
        );
    }

    #[test]
    fn the_same_entry_by_the_same_person_in_a_row_is_told_once_with_how_many_times() {
        let (sam, sara) = (Uuid::new_v4(), Uuid::new_v4());
        let row = |at: &str, who: &str, what: &str| HistoryRow {
            at: at.into(),
            actor: Some(if who == "Sam" { sam } else { sara }),
            who: who.into(),
            what: what.into(),
            repeated: None,
        };
        let again = "Finalising asked again once it was finalised: nothing changed";
        let rows = without_repeats([
            row("10:00:00", "Sam", "Finalised"),
            row("10:00:01", "Sam", again),
            row("10:00:01", "Sam", again),
            row("10:00:02", "Sam", again),
            row("10:05:00", "Sara", again),
            row("10:06:00", "Sam", again),
        ]);
        let told: Vec<String> = rows
            .iter()
            .map(|r| match &r.repeated {
                Some((times, last)) => format!("{} {} x{times} to {last}", r.who, r.at),
                None => format!("{} {}", r.who, r.at),
            })
            .collect();
        assert_eq!(told, ["Sam 10:00:00", "Sam 10:00:01 x3 to 10:00:02", "Sara 10:05:00", "Sam 10:06:00"]);
    }

    #[test]
    fn unread_notices_are_counted_once_however_many_of_the_quotes_products_they_price() {
        let (two_skus, other) = (Uuid::new_v4(), Uuid::new_v4());
        let row = |sku: &str, notice_id, unread| UpcomingRow {
            sku: sku.into(),
            quoted: String::new(),
            new_price: String::new(),
            effective_on: String::new(),
            notice_id,
            title: String::new(),
            unread,
            as_quoted: false,
        };
        let rows = [row("P-1", two_skus, true), row("P-2", two_skus, true), row("P-3", other, false)];
        assert_eq!(unread_count(&rows), 1);
        assert_eq!(unread_count(&[row("P-1", two_skus, true), row("P-3", other, true)]), 2);
    }

    #[test]
    fn an_edit_of_a_product_says_its_quantities_and_lines_together() {
        let change = |quantities: [i64; 2], lines: [i64; 2]| {
            serde_json::json!({"sku": "P-1", "quantity_before": quantities[0], "quantity_after": quantities[1],
                "lines_before": lines[0], "lines_after": lines[1]})
        };
        let said = |q, l| product_change(&change(q, l), "EUR").unwrap_or_default();
        assert_eq!(said([15, 12], [2, 1]), "P-1 15 on 2 lines \u{2192} 12 on 1 line", "a line of it removed");
        assert_eq!(said([1_000, 800], [1, 1]), "P-1 1,000 \u{2192} 800", "as the pages write quantities");
        assert_eq!(said([5, 5], [1, 2]), "P-1 on 1 line \u{2192} 2 lines");
        assert_eq!(said([0, 1_200], [0, 2]), "P-1 added (1,200 on 2 lines)");
    }

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

    /// A pending notice changing lines: (line, change to its total, effective day of January 2027).
    fn notice(title: &str, seq: i64, changes: &[(Uuid, i64, u32)]) -> PendingNoticeView {
        let lines: Vec<LineImpactView> = changes
            .iter()
            .map(|&(line_id, delta_minor, day)| LineImpactView {
                line_id,
                sku: "PUMP".into(),
                quantity: 10,
                old_unit_price_minor: 0,
                new_unit_price_minor: 0,
                effective_on: chrono::NaiveDate::from_ymd_opt(2027, 1, day).unwrap(),
                old_total_minor: 0,
                new_total_minor: 0,
                delta_minor,
                earlier: Vec::new(),
                overtaken_by_unit_price_minor: None,
                waived_by_approval: false,
            })
            .collect();
        let total_delta_minor = lines.iter().map(|l| l.delta_minor).sum();
        PendingNoticeView {
            notice_id: Uuid::from_u128(seq as u128),
            seq,
            title: title.into(),
            body: String::new(),
            published_at: chrono::Utc::now(),
            impact: pricegate_store::views::ImpactView {
                lines,
                total_delta_minor,
                delta_while_valid_minor: total_delta_minor,
                change_days: Vec::new(),
            },
        }
    }

    #[test]
    fn a_notice_whose_prices_the_quote_already_carries_is_said_to_change_nothing() {
        let pump = Uuid::from_u128(100);
        let priced = |old: i64, new: i64, earlier: &[i64]| {
            let mut p = notice("Pumps", 1, &[(pump, (new - old) * 10, 1)]);
            let line = &mut p.impact.lines[0];
            (line.old_unit_price_minor, line.new_unit_price_minor) = (old, new);
            line.earlier = earlier
                .iter()
                .map(|&price| pricegate_store::views::PriceStepView {
                    unit_price_minor: price,
                    effective_on: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                    delta_minor: (price - old) * 10,
                    overtaken_by_unit_price_minor: None,
                })
                .collect();
            p
        };
        let none = HashMap::new();
        assert!(already_carried(&priced(2_600, 2_600, &[]), &none), "repriced before acknowledging");
        assert!(!already_carried(&priced(2_495, 2_600, &[]), &none), "a rise still to come to the quote");
        assert!(
            !already_carried(&priced(2_600, 2_600, &[2_700]), &none),
            "a price in between that the quote does not carry"
        );
        assert!(!already_carried(&notice("A reminder", 2, &[]), &none), "no line priced: the page says that instead");
        let priced_again = HashMap::from([((Uuid::from_u128(1), pump), "a later notice".to_owned())]);
        assert!(!already_carried(&priced(2_600, 2_600, &[]), &priced_again), "the last word is another notice's");
    }

    #[test]
    fn notices_that_price_a_line_again_are_marked_and_counted_once_together() {
        let (pump, hose) = (Uuid::from_u128(100), Uuid::from_u128(200));
        // 2,495 → 2,600, then → 2,700 on the same day (10 pumps): +1,050 and +2,050 against the quote.
        let first = notice("First rise", 1, &[(pump, 105_000, 1)]);
        let text_only = notice("A reminder", 2, &[]);
        let second = notice("Second rise", 3, &[(pump, 205_000, 1), (hose, 500, 1)]);
        let pending = [first, text_only, second];
        let words = last_words(&pending, far());
        let t = together(&words, &pending);
        assert_eq!(
            t,
            Some(Together { why: TogetherWhy::Overlap, delta_minor: 205_500 }),
            "each line at the last price set"
        );
        let later = later_changes(&words, &pending);
        assert_eq!(
            later.get(&(Uuid::from_u128(1), pump)).map(String::as_str),
            Some("\u{201c}Second rise\u{201d} sets the price in force from 2027-01-01")
        );
        assert_eq!(later.len(), 1, "the last word on a line has no later one: {later:?}");
    }

    #[test]
    fn the_price_left_in_force_last_goes_by_date_before_publication() {
        let pump = Uuid::from_u128(100);
        // Published first, in force from the 20th; published second, from the 5th: the first has the last word.
        let march = notice("From the 20th", 1, &[(pump, 205_000, 20)]);
        let january = notice("From the 5th", 2, &[(pump, 105_000, 5)]);
        let pending = [march, january];
        let words = last_words(&pending, far());
        assert_eq!(together(&words, &pending).map(|t| t.delta_minor), Some(205_000));
        let later = later_changes(&words, &pending);
        assert_eq!(
            later.get(&(Uuid::from_u128(2), pump)).map(String::as_str),
            Some("\u{201c}From the 20th\u{201d} sets the price in force from 2027-01-20")
        );
        assert!(!later.contains_key(&(Uuid::from_u128(1), pump)));
        // A correction back to the quoted price (no change) is the last word too.
        let back = notice("Back", 3, &[(pump, 0, 25)]);
        let pending = [pending[0].clone(), pending[1].clone(), back];
        assert_eq!(together(&last_words(&pending, far()), &pending).map(|t| t.delta_minor), Some(0));
    }

    fn far() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2099, 12, 31).unwrap()
    }

    #[test]
    fn a_change_after_the_quote_s_validity_is_not_the_last_word_on_it() {
        let pump = Uuid::from_u128(100);
        let soon = notice("Soon", 1, &[(pump, 100_000, 10)]);
        let later = notice("Later", 2, &[(pump, 200_000, 25)]);
        let pending = [soon, later];
        // Valid until the 15th: the 25th's price never applies to it.
        let words = last_words(&pending, chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        assert_eq!(
            together(&words, &pending),
            Some(Together { why: TogetherWhy::AfterValidity, delta_minor: 100_000 }),
            "one notice prices the line while the quote is valid, and the other's total never applies to it"
        );
        assert!(later_changes(&words, &pending).is_empty());
    }

    #[test]
    fn a_notice_s_earlier_price_is_its_last_word_on_a_quote_that_ends_before_its_later_one() {
        let pump = Uuid::from_u128(100);
        let mut steps = notice("Two steps", 1, &[(pump, 300_000, 25)]);
        steps.impact.lines[0].earlier = vec![pricegate_store::views::PriceStepView {
            unit_price_minor: 0,
            effective_on: chrono::NaiveDate::from_ymd_opt(2027, 1, 10).unwrap(),
            delta_minor: 100_000,
            overtaken_by_unit_price_minor: None,
        }];
        let other = notice("Other", 2, &[(pump, 50_000, 12)]);
        let pending = [steps, other];
        let until_the_20th = chrono::NaiveDate::from_ymd_opt(2027, 1, 20).unwrap();
        let words = last_words(&pending, until_the_20th);
        assert_eq!(
            together(&words, &pending).map(|t| t.delta_minor),
            Some(50_000),
            "the 12th's price follows the 10th's; the 25th is too late"
        );
        let later = later_changes(&words, &pending);
        assert_eq!(
            later.get(&(Uuid::from_u128(1), pump)).map(String::as_str),
            Some("\u{201c}Other\u{201d} sets the price in force from 2027-01-12")
        );
        // Valid until the 11th: only the first step is in force while the quote is.
        let words = last_words(&pending[..1], chrono::NaiveDate::from_ymd_opt(2027, 1, 11).unwrap());
        assert_eq!(words[&pump].delta_minor, 100_000);
        assert_eq!(together(&words, &pending[..1]), None, "one notice's card says it");
        let text_only = notice("A reminder", 3, &[]);
        let with_text = [pending[0].clone(), text_only];
        assert_eq!(together(&words, &with_text), None, "a notice that prices nothing here adds nothing to say");
        assert!(last_words(&pending[..1], chrono::NaiveDate::from_ymd_opt(2027, 1, 9).unwrap()).is_empty());
    }

    #[test]
    fn a_notice_whose_prices_all_come_after_the_quote_s_validity_is_not_marked_as_priced_again() {
        let pump = Uuid::from_u128(100);
        let soon = notice("Soon", 1, &[(pump, 100_000, 10)]);
        let too_late = notice("Too late", 2, &[(pump, 200_000, 25)]);
        let same_day = notice("Same day", 3, &[(pump, 150_000, 10)]);
        let pending = [soon, too_late, same_day];
        let words = last_words(&pending, chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
        let later = later_changes(&words, &pending);
        assert!(later.contains_key(&(Uuid::from_u128(1), pump)), "{later:?}");
        assert!(!later.contains_key(&(Uuid::from_u128(2), pump)), "none of its prices applies to the quote: {later:?}");
        assert_eq!(together(&words, &pending).map(|t| t.delta_minor), Some(150_000));
    }

    #[test]
    fn notices_on_different_lines_add_up_and_are_summed_together() {
        let first = notice("Pumps", 1, &[(Uuid::from_u128(100), 1_000, 1)]);
        let second = notice("Hoses", 2, &[(Uuid::from_u128(200), -2_500, 3)]);
        let pending = [first, second];
        let words = last_words(&pending, far());
        let summed = Some(Together { why: TogetherWhy::AddsUp, delta_minor: -1_500 });
        assert_eq!(together(&words, &pending), summed, "their own totals add up: the sum, done for the reader");
        assert_eq!(together(&last_words(&pending[..1], far()), &pending[..1]), None, "one notice's card says it");
        assert!(later_changes(&words, &pending).is_empty());
    }
}
