//! The quotes list: my quotes (finance: all), by state, searched, with what the finalised ones come to.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_domain::Role;
use pricegate_store::{QuoteFilter, QuoteSearch, StoreError};
use uuid::Uuid;

use crate::pages::{Layout, PageError, PageQuery, PageUser, money, render};
use crate::{AppState, filters};

use super::{QUOTE_ROLES, open_gates};

pub(super) struct QuoteRow {
    pub(super) id: Uuid,
    /// How the e-mails name it ([`pricegate_domain::quote_reference`]).
    pub(super) reference: String,
    pub(super) customer: String,
    pub(super) signer: String,
    pub(super) state: String,
    /// `ready`, `no_signer`, `blocked` (notices pending),
    /// `blocked_superseded` (notices pending and prices changed), `expired`,
    /// `superseded` (prices changed), `approval_asked`, or empty for a
    /// closed quote.
    pub(super) readiness: &'static str,
    /// Who asked finance to approve its old prices, and when: on the list
    /// of the quotes awaiting that.
    pub(super) asked: Option<String>,
    pub(super) total: String,
    pub(super) drafted_at: String,
    /// When it was finalised: on the list of finalised quotes, which
    /// month-end reads by it (a quote drafted in one month may be signed in
    /// the next).
    pub(super) finalised_at: String,
    pub(super) valid_until: String,
}

#[derive(Template)]
#[template(path = "pages/quotes.html")]
pub(super) struct ListPage {
    pub(super) layout: Layout,
    pub(super) is_sales: bool,
    /// How many published notices wait for a salesperson's acknowledgement:
    /// said above their quotes, where they land after logging in.
    pub(super) awaiting: u64,
    pub(super) quotes: Vec<QuoteRow>,
    /// The state shown (`draft`, `finalised`, `cancelled`), or empty for all.
    pub(super) state: &'static str,
    /// The quotes of that state in words ("draft quotes").
    pub(super) quotes_of: &'static str,
    /// A link to each state's list, keeping the search.
    pub(super) states: Vec<StateLink>,
    /// What the list was searched for, trimmed; empty for no search.
    pub(super) search: String,
    /// The next page's address, when there are older quotes.
    pub(super) older: Option<String>,
    /// The first page's address, on a later page.
    pub(super) newest: Option<String>,
    /// The address of these quotes, every page of them, as a CSV file.
    pub(super) export: String,
    /// The same quotes, a row a line (`/quotes/lines.csv`).
    pub(super) export_lines: String,
    /// The first and last business day of finalisation listed, as typed;
    /// empty for none.
    pub(super) from: String,
    pub(super) to: String,
    /// The business's time zone, which those are days of.
    pub(super) zone: &'static str,
    /// What in the address could not be read, said once above the list.
    pub(super) note: Option<String>,
    /// On the list of finalised quotes, what every page of it comes to
    /// ([`sums_in_words`]).
    pub(super) sums: Option<String>,
}

/// The notices a quote page's "Acknowledge all" names: those it shows, up
/// to [`crate::pages::ACKNOWLEDGED_TOGETHER_AT_MOST`], the first.
pub(super) struct AcknowledgeAll {
    /// Their ids, comma-separated.
    pub(super) ids: String,
    pub(super) count: usize,
}

pub(super) struct StateLink {
    pub(super) href: String,
    pub(super) label: &'static str,
    pub(super) current: bool,
}

/// Quotes on one page of the list.
pub(super) const PAGE_SIZE: u64 = 50;

/// The most finalised quotes the list sums (reading each one's lines):
/// beyond, it asks for days instead.
pub(super) const SUMMED_AT_MOST: u64 = 10_000;

/// What the finalised quotes listed come to, every page of them, by
/// currency: "42 quotes in all, worth 1,234,567.00 EUR", or "45 quotes in
/// all: 42 worth 1,234,567.00 EUR, 3 worth 5,000.00 USD"; `None` for none.
pub(super) fn sums_in_words(
    sums: Option<std::collections::BTreeMap<String, (u64, i128)>>,
    days: bool,
) -> Option<String> {
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
pub(in crate::pages) struct ListQuery {
    pub(in crate::pages) state: Option<String>,
    pub(in crate::pages) search: Option<String>,
    /// The first and last business day of finalisation to list (`YYYY-MM-DD`).
    pub(in crate::pages) from: Option<String>,
    pub(in crate::pages) to: Option<String>,
    pub(super) before: Option<String>,
}

/// The business days of finalisation an address asks for (`from`, `to`):
/// see [`crate::pages::business_days`].
pub(in crate::pages) fn finalised_days(
    calendar: pricegate_domain::Calendar,
    query: &ListQuery,
) -> crate::pages::BusinessDays<'_> {
    let days = crate::pages::business_days(calendar, query.from.as_deref(), query.to.as_deref());
    let given = days.from.is_some() || days.to.is_some() || !days.notes.is_empty();
    if !given || listed_state(query.state.as_deref()) == "finalised" {
        return days;
    }
    // Only a finalised quote has a day it was finalised: days given with
    // another list (typed into its address) would empty it unexplained.
    crate::pages::BusinessDays {
        from: None,
        to: None,
        within: (None, None),
        notes: vec![
            "Days choose among finalised quotes only: choose \u{201c}Finalised\u{201d} to use them.".to_owned(),
        ],
        reversed: None,
    }
}

/// The quotes list's pseudo-state of the drafts with a line at a price no
/// longer in force (see [`QuoteFilter::at_old_prices`]).
pub(super) const AT_OLD_PRICES: &str = "old_prices";

/// The quotes list's pseudo-state of the drafts whose owner or signer asked
/// finance to approve their old prices (see [`QuoteFilter::awaiting_approval`]).
pub(super) const AWAITING_APPROVAL: &str = "awaiting_approval";

/// The quotes of `state` in words, for the sentences above and instead of the list.
pub(super) fn quotes_of(state: &str) -> &'static str {
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
pub(in crate::pages) fn listed_state(asked: Option<&str>) -> &'static str {
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
pub(in crate::pages) fn list_filter(
    state: &str,
    search: Option<QuoteSearch>,
    limit: u64,
    before: Option<Uuid>,
) -> QuoteFilter {
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

/// My quotes (finance: all), newest drafted first (the finalised ones
/// newest finalised first), [`PAGE_SIZE`] at a time, of one state or all
/// (`?state=draft`, `&before=<id>` for older ones).
pub(super) async fn list(
    State(app): State<AppState>,
    user: PageUser,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    PageQuery { query, unreadable }: PageQuery<ListQuery>,
) -> Result<Response, PageError> {
    user.require(QUOTE_ROLES)?;
    // Mistyped (`form=` for `from=`): the list is not what was asked for.
    let unknown = match unreadable {
        true => None,
        false => crate::pages::download::unknown_filter(raw.as_deref(), &["state", "search", "from", "to", "before"])
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
    let first_page = crate::pages::list_address("/quotes", &filters);
    let export = crate::pages::list_address("/quotes/export.csv", &filters);
    let export_lines = crate::pages::list_address("/quotes/lines.csv", &filters);
    let newest = before.is_some().then(|| first_page.clone());
    let older = crate::pages::cut_to_page(&mut quotes, PAGE_SIZE, |last| {
        let last = last.map(|q| q.id.to_string()).unwrap_or_default();
        crate::pages::list_address("/quotes", &[state_pair, search_pair, from_pair, to_pair, Some(("before", &last))])
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
        href: crate::pages::list_address("/quotes", &[(!value.is_empty()).then_some(("state", value)), search_pair]),
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
            reference: pricegate_domain::quote_reference(q.id),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
