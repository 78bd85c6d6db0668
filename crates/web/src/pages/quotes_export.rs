//! The quotes list as a CSV file: every quote the list's filter and search
//! choose, all its pages, one row each, for month-end or a customer review
//! in a spreadsheet; and the same quotes one row a line, with where each
//! signed price came from, for a price dispute.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use pricegate_domain::Calendar;
use pricegate_domain::money::Currency;
use pricegate_store::views::{LineView, QuoteView, UserView};
use pricegate_store::{Actor, QuoteFilter, QuoteSearch, StoreError};
use uuid::Uuid;

use super::download::{Rest, csv_download, header_line, line, refusal, utc};
use super::quotes::{ListQuery, QUOTE_ROLES, finalised_days, list_filter, listed_state};
use super::{PageError, PageQuery, PageUser};
use crate::AppState;

/// Quotes read and sent at a time (each with its lines and evidence).
const EXPORT_PAGE: u64 = 500;
/// … for the file of lines, whose quotes may have up to 200 lines each: a
/// part of the file stays a few hundred kilobytes.
const LINES_EXPORT_PAGE: u64 = 50;

/// The columns. Money is the quote's currency's: `total` as a spreadsheet
/// reads a number (`1234.50`), `total_minor` as the API gives it. Times are
/// in UTC and in the business's zone (`zone`); `valid_until` is a day there.
/// `notices_checked` counts the notices the gate found acknowledged when the
/// quote was finalised (its evidence); `override_*` the finance approval
/// that let it keep prices no longer in force, if one did.
/// `prices_from_unacknowledged_notices` names each price signed (in force,
/// or kept under that approval) that a notice the signer had not
/// acknowledged set (`SKU: title`; "not recorded" for a quote finalised
/// before the evidence kept where prices came from): the gate asks only for
/// the notices since drafting. It came last, after the others; then
/// `finalised_by_id`, the finaliser's id (names and addresses are the
/// people's now), and `changed_since_finalised`: what of a finalised quote's
/// rows no longer matches its finalisation record (`lines; total`, as the
/// API's `changed_since_finalised`), changed in the database behind the
/// service's back, as its page says; the row's amounts are the rows', the
/// record's are on the quote's page.
const HEADER: [&str; 30] = [
    "reference",
    "id",
    "state",
    "customer_name",
    "customer_company",
    "customer_email",
    "currency",
    "total",
    "total_minor",
    "lines",
    "drafted_at_utc",
    "drafted_at_local",
    "valid_until",
    "owner_name",
    "owner_email",
    "signer_name",
    "signer_email",
    "finalised_at_utc",
    "finalised_at_local",
    "finalised_by_name",
    "notices_checked",
    "override_by_name",
    "override_reason",
    "override_at_utc",
    "cancelled_at_utc",
    "cancelled_at_local",
    "zone",
    "prices_from_unacknowledged_notices",
    "finalised_by_id",
    "changed_since_finalised",
];

/// The columns of the file of lines ([`export_lines`]), a row a line: its
/// quote (reference, id, state, customer, currency), its place on it
/// (`line`, from 1), product, quantity, unit price and line total as a
/// spreadsheet reads a number and in minor units, the discount in percent
/// (`12.50`); for a finalised quote, when, and where the unit price came
/// from as its evidence keeps it: `price_set_by` (`notice 12: Pumps up`,
/// `price list`, `not recorded` for a quote finalised before the evidence
/// kept it, or `changed since finalised` for a line whose row no longer is
/// as signed, changed in the database behind the service's back, as the
/// quote's page says), `price_kept_by_approval` (`yes`: an old price finance
/// approved keeping, not the one in force, `price_in_force_when_finalised`),
/// and that notice's id,
/// publication, first day in force, and the signer's acknowledgement of it
/// (time and channel; empty if they had none by the finalisation); last,
/// what of the quote no longer matches its finalisation record, as the
/// quotes file's `changed_since_finalised` (a line deleted or a customer
/// changed in the database shows only there).
const LINES_HEADER: [&str; 27] = [
    "reference",
    "quote_id",
    "state",
    "customer_name",
    "customer_company",
    "currency",
    "line",
    "sku",
    "product_name",
    "unit",
    "quantity",
    "unit_price",
    "unit_price_minor",
    "discount_percent",
    "line_total",
    "line_total_minor",
    "finalised_at_utc",
    "price_set_by",
    "price_kept_by_approval",
    "price_in_force_when_finalised",
    "price_notice_id",
    "price_notice_published_at_utc",
    "price_in_force_from",
    "notice_acknowledged_at_utc",
    "notice_acknowledged_channel",
    "zone",
    "quote_changed_since_finalised",
];

/// The quotes the list at this address shows (`?state=…&search=…`), every
/// one, newest drafted first (the finalised ones newest finalised first),
/// as a CSV file: those a salesperson owns or signs, every quote for
/// finance. An address the list would read leniently (a state there is none
/// of, a search too long) is refused here (see [`refusal`]).
pub(super) async fn export(
    State(app): State<AppState>,
    user: PageUser,
    RawQuery(raw): RawQuery,
    PageQuery { query, unreadable }: PageQuery<ListQuery>,
) -> Result<Response, PageError> {
    file(app, user, raw, query, unreadable, Shape::Quotes).await
}

/// The same quotes as [`export`], one row a line (`/quotes/lines.csv?…`):
/// what each was quoted or signed at, and for a finalised quote where that
/// price came from, as its evidence keeps it. A price dispute is settled
/// line by line.
pub(super) async fn export_lines(
    State(app): State<AppState>,
    user: PageUser,
    RawQuery(raw): RawQuery,
    PageQuery { query, unreadable }: PageQuery<ListQuery>,
) -> Result<Response, PageError> {
    file(app, user, raw, query, unreadable, Shape::Lines).await
}

/// Which file: a row a quote, or a row a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Quotes,
    Lines,
}

async fn file(
    app: AppState,
    user: PageUser,
    raw: Option<String>,
    query: ListQuery,
    unreadable: bool,
    shape: Shape,
) -> Result<Response, PageError> {
    user.require(QUOTE_ROLES)?;
    let state = listed_state(query.state.as_deref());
    let mut notes = Vec::new();
    if let Some(asked) = query.state.as_deref().filter(|asked| !asked.is_empty() && state.is_empty()) {
        let asked: String = asked.chars().take(40).collect();
        notes.push(format!("There is no state \u{201c}{asked}\u{201d}."));
    }
    let search = QuoteSearch::parse("search", query.search.as_deref().unwrap_or("")).unwrap_or_else(|_| {
        notes.push(format!(
            "A search is one line of at most {} characters, without control characters.",
            QuoteSearch::MAX_CHARS
        ));
        None
    });
    let days = finalised_days(app.store.calendar(), &query);
    notes.extend(days.notes.iter().cloned());
    notes.extend(days.reversed.clone());
    const KNOWN: [&str; 4] = ["state", "search", "from", "to"];
    if let Some(refused) = refusal(unreadable, raw.as_deref(), &KNOWN, &notes, "the quotes page, /quotes") {
        return Err(refused);
    }
    let chosen = [
        (!state.is_empty()).then_some(("", state)),
        search.is_some().then_some(("", "searched")),
        days.from.map(|day| ("from", day)),
        days.to.map(|day| ("to", day)),
    ];
    let calendar = app.store.calendar();
    let within = days.within;
    let actor = user.0.actor.clone();
    let mut quotes = Quotes { app, actor, state, search, within, calendar, shape, last: None, done: false };
    // The first quotes are read before the answer starts: a failure then is an error page, not a cut file.
    let (header, what, name): (&[&str], _, _) = match shape {
        Shape::Quotes => (&HEADER, "the quotes export", "quotes"),
        Shape::Lines => (&LINES_HEADER, "the quote lines export", "quote-lines"),
    };
    let first = header_line(header) + &quotes.next_part().await?.unwrap_or_default();
    let file = super::download::file_name(name, chosen, calendar.today());
    Ok(csv_download(&file, first, quotes, what))
}

/// The quotes after `last`, a page at a time, as CSV lines.
struct Quotes {
    app: AppState,
    actor: Actor,
    state: &'static str,
    search: Option<QuoteSearch>,
    /// Finalised within these instants, when the address says so.
    within: (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>),
    calendar: Calendar,
    shape: Shape,
    /// The place in the list of the last quote sent (its drafting time, or
    /// its finalising time in the finalised list, and id), `None` before
    /// the first page.
    last: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    /// Set once a page came back short: there is no page after it.
    done: bool,
}

impl Rest for Quotes {
    async fn next_part(&mut self) -> Result<Option<String>, StoreError> {
        if self.done {
            return Ok(None);
        }
        // Gone on from the last one's place: that quote may have been handed
        // away meanwhile, which makes it no cursor for `before`.
        let filter = QuoteFilter {
            after_listed: self.last,
            finalised_within: self.within,
            ..list_filter(self.state, self.search.clone(), self.page_size(), None)
        };
        let by_finalising = filter.by_finalising;
        let quotes = self.app.store.list_quotes(&self.actor, filter).await?;
        self.done = (quotes.len() as u64) < self.page_size();
        let Some(last) = quotes.last() else { return Ok(None) };
        // The place in the list's own order (by finalising, the store lists only quotes with that time).
        let at = match by_finalising {
            true => {
                last.finalised_at.ok_or_else(|| StoreError::Internal("a finalised quote without its time".into()))?
            }
            false => last.drafted_at,
        };
        self.last = Some((at, last.id));
        self.lines(&quotes).await.map(Some)
    }
}

impl Quotes {
    fn page_size(&self) -> u64 {
        match self.shape {
            Shape::Quotes => EXPORT_PAGE,
            Shape::Lines => LINES_EXPORT_PAGE,
        }
    }

    async fn lines(&self, quotes: &[QuoteView]) -> Result<String, StoreError> {
        if self.shape == Shape::Lines {
            let mut part = String::new();
            quotes.iter().for_each(|q| self.quote_lines(&mut part, q));
            return Ok(part);
        }
        let mut ids = Vec::with_capacity(quotes.len() * 2);
        for q in quotes {
            ids.extend([q.owner_id, q.signer_id]);
            if let Some(evidence) = &q.evidence {
                ids.push(evidence.finalised_by);
                ids.extend(evidence.price_override.as_ref().map(|o| o.approved_by));
            }
        }
        let people = self.app.store.users_by_id(&ids).await?;
        let mut part = String::new();
        for q in quotes {
            self.line(&mut part, q, &people);
        }
        Ok(part)
    }

    fn line(&self, out: &mut String, q: &QuoteView, people: &HashMap<Uuid, UserView>) {
        let person = |id: Option<Uuid>| id.and_then(|id| people.get(&id));
        let name = |id: Option<Uuid>| person(id).map_or("", |u| u.name.as_str());
        let email = |id: Option<Uuid>| person(id).map_or("", |u| u.email.as_str());
        let utc = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(utc).unwrap_or_default();
        let local =
            |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|at| self.calendar.stamp(at, true)).unwrap_or_default();
        let evidence = q.evidence.as_ref();
        let approval = evidence.and_then(|e| e.price_override.as_ref());
        let total = Currency::parse(&q.currency).map(|c| c.decimal(q.total_minor)).unwrap_or_default();
        let unacknowledged = match evidence.map(|e| e.prices.as_ref()) {
            None => String::new(),
            Some(None) => "not recorded".to_owned(),
            Some(Some(prices)) => prices
                .iter()
                .flat_map(|p| {
                    let kept = p.signed_at.iter().filter_map(|s| s.set_by.as_ref());
                    let unread = p.set_by.iter().chain(kept).filter(|n| n.acknowledged_at.is_none());
                    unread.map(|n| format!("{}: {}", p.sku, n.title))
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        line(
            out,
            &[
                &pricegate_domain::quote_reference(q.id),
                &q.id.to_string(),
                &q.state,
                &q.customer.name,
                &q.customer.company,
                &q.customer.email,
                &q.currency,
                &total,
                &q.total_minor.to_string(),
                &q.lines.len().to_string(),
                &utc(Some(q.drafted_at)),
                &local(Some(q.drafted_at)),
                &q.valid_until.to_string(),
                name(Some(q.owner_id)),
                email(Some(q.owner_id)),
                name(Some(q.signer_id)),
                email(Some(q.signer_id)),
                &utc(q.finalised_at),
                &local(q.finalised_at),
                name(evidence.map(|e| e.finalised_by)),
                &evidence.map(|e| e.notices.len().to_string()).unwrap_or_default(),
                name(approval.map(|o| o.approved_by)),
                approval.map_or("", |o| o.reason.as_str()),
                &utc(approval.map(|o| o.created_at)),
                &utc(q.cancelled_at),
                &local(q.cancelled_at),
                self.calendar.zone_name(),
                &unacknowledged,
                &evidence.map(|e| e.finalised_by.to_string()).unwrap_or_default(),
                &q.changed_since_finalised.join("; "),
            ],
        );
    }

    /// `q`'s lines, one row each ([`LINES_HEADER`]).
    fn quote_lines(&self, out: &mut String, q: &QuoteView) {
        let currency = Currency::parse(&q.currency).ok();
        let decimal = |minor: i64| currency.map(|c| c.decimal(minor)).unwrap_or_default();
        let utc = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(utc).unwrap_or_default();
        let reference = pricegate_domain::quote_reference(q.id);
        let prices = q.evidence.as_ref().map(|e| e.prices.as_deref());
        // A line whose row no longer is as it was signed (changed in the
        // database behind the service's back) has no source to name.
        let signed = q.evidence.as_ref().and_then(|e| e.signed.as_ref());
        let as_signed = |l: &LineView| signed.is_none_or(|s| s.lines.contains(l));
        for (n, l) in q.lines.iter().enumerate() {
            let source = prices.map(|prices| PriceSource::of(prices, l));
            let source = source.filter(|_| as_signed(l));
            let notice = source.as_ref().and_then(|s| s.notice);
            let set_by = match (&source, notice) {
                (None, _) if prices.is_some() => "changed since finalised".to_owned(),
                (None, _) => String::new(),
                (Some(PriceSource { in_force: None, .. }), _) => "not recorded".to_owned(),
                (Some(_), Some(n)) => format!("notice {}: {}", n.seq, n.title),
                (Some(_), None) => "price list".to_owned(),
            };
            let kept =
                source.as_ref().filter(|s| s.in_force.is_some()).map_or("", |s| if s.kept { "yes" } else { "no" });
            line(
                out,
                &[
                    &reference,
                    &q.id.to_string(),
                    &q.state,
                    &q.customer.name,
                    &q.customer.company,
                    &q.currency,
                    &(n + 1).to_string(),
                    &l.sku,
                    &l.product_name,
                    &l.unit,
                    &l.quantity.to_string(),
                    &decimal(l.unit_price_minor),
                    &l.unit_price_minor.to_string(),
                    &pricegate_mail::compose::percent_number(l.discount_bp),
                    &decimal(l.total_minor),
                    &l.total_minor.to_string(),
                    &utc(q.finalised_at),
                    &set_by,
                    kept,
                    &source.as_ref().and_then(|s| s.in_force).map(decimal).unwrap_or_default(),
                    &notice.map(|n| n.notice_id.to_string()).unwrap_or_default(),
                    &utc(notice.map(|n| n.published_at)),
                    &notice.map(|n| n.in_force_from.to_string()).unwrap_or_default(),
                    &utc(notice.and_then(|n| n.acknowledged_at)),
                    notice.and_then(|n| n.channel.as_deref()).unwrap_or_default(),
                    self.calendar.zone_name(),
                    &q.changed_since_finalised.join("; "),
                ],
            );
        }
    }
}

/// Where a finalised line's unit price came from, as its quote's evidence
/// keeps it: the notice that set it (`None`: the price list's own), and
/// whether it was an old price finance approved keeping.
struct PriceSource<'a> {
    notice: Option<&'a pricegate_store::views::PriceSetBy>,
    kept: bool,
    /// The product's price in force when the quote was finalised; `None`
    /// (not recorded) for a quote finalised before the evidence kept where
    /// prices came from, or whose evidence names no source for that price.
    in_force: Option<i64>,
}

impl<'a> PriceSource<'a> {
    fn of(prices: Option<&'a [pricegate_store::views::EvidencePrice]>, l: &LineView) -> Self {
        let unrecorded = PriceSource { notice: None, kept: false, in_force: None };
        let Some(price) = prices.and_then(|prices| prices.iter().find(|p| p.sku == l.sku)) else { return unrecorded };
        let in_force = Some(price.unit_price_minor);
        if price.unit_price_minor == l.unit_price_minor {
            return PriceSource { notice: price.set_by.as_ref(), kept: false, in_force };
        }
        match price.signed_at.iter().find(|s| s.unit_price_minor == l.unit_price_minor) {
            Some(signed) => PriceSource { notice: signed.set_by.as_ref(), kept: true, in_force },
            None => unrecorded,
        }
    }
}
