//! A notice's changes and what they do to the reader's quotes, as its e-mails list them.

use chrono::NaiveDate;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_domain::{Calendar, Currency};
use pricegate_store::views::PriceChangeView;
use pricegate_store::{BlockedQuote, NoticeContent};

use super::words::{customer, money, signed_money};
use pricegate_domain::quote_reference;

pub struct ChangeRow {
    pub sku: String,
    pub product: String,
    /// The price this change replaces on its date, before this notice; empty if not known.
    pub price_before: String,
    pub new_price: String,
    /// The step in words (see [`Currency::step`]); empty if not known.
    pub change: String,
    pub effective_on: String,
    /// That a notice published since prices the product again from the same
    /// day, so this price is in force no longer, or never was, in words;
    /// empty if none does.
    pub replaced: String,
}

impl ChangeRow {
    /// `effective_on`'s day ("2026-12-06"), which a page keeps on one
    /// line, and what follows it (", on publication (dated 2026-12-04)").
    pub fn effective_parts(&self) -> (&str, &str) {
        self.effective_on.split_at(self.effective_on.find(',').unwrap_or(self.effective_on.len()))
    }
}

impl From<&PriceChangeView> for ChangeRow {
    /// A notice's change as its pages and e-mails show it.
    fn from(c: &PriceChangeView) -> Self {
        let currency = Currency::parse(&c.currency).ok();
        let step = |before| currency.as_ref().map(|cur| cur.step(before, c.unit_price_minor));
        ChangeRow {
            sku: c.sku.clone(),
            product: c.product_name.clone(),
            price_before: c.price_before_minor.map(|p| money(&c.currency, p)).unwrap_or_default(),
            new_price: money(&c.currency, c.unit_price_minor),
            change: c.price_before_minor.and_then(step).unwrap_or_default(),
            effective_on: c.effective_on.to_string(),
            replaced: c
                .replaced_by
                .as_ref()
                .map(|r| {
                    let (title, price) = (&r.title, money(&c.currency, r.unit_price_minor));
                    match (r.was_in_force, &r.ended_by) {
                        (true, None) => format!(
                            "In force until \u{201c}{title}\u{201d} was published, which sets {price} from the same \
                             day instead."
                        ),
                        (true, Some(first)) => format!(
                            "In force until \u{201c}{first}\u{201d} was published; \u{201c}{title}\u{201d}, published \
                             since, sets {price} from the same day instead."
                        ),
                        (false, _) => format!(
                            "Never in force: \u{201c}{title}\u{201d}, published since, sets {price} from the same day \
                             instead."
                        ),
                    }
                })
                .unwrap_or_default(),
        }
    }
}

impl ChangeRow {
    /// A change of a notice published on `published_on` (the business's
    /// day): one dated that day or before took force on publication, not at
    /// the start of its date, since nobody could quote by it before being
    /// told, and says so.
    pub fn published(c: &PriceChangeView, published_on: NaiveDate) -> Self {
        ChangeRow { effective_on: in_force_from(c.effective_on, published_on), ..ChangeRow::from(c) }
    }
}

/// When a change dated `effective_on`, of a notice published on
/// `published_on`, took force, in words: its date; for one dated the day
/// of its publication, the publication; for one dated before, the
/// publication with its date beside it.
pub fn in_force_from(effective_on: NaiveDate, published_on: NaiveDate) -> String {
    match effective_on.cmp(&published_on) {
        std::cmp::Ordering::Less => format!("{published_on}, on publication (dated {effective_on})"),
        std::cmp::Ordering::Equal => format!("{published_on}, on publication"),
        std::cmp::Ordering::Greater => effective_on.to_string(),
    }
}

pub struct QuoteRow {
    pub reference: String,
    pub url: String,
    pub customer: String,
    pub total: String,
    /// What the notice does to it, in words: the change to its total while
    /// it is valid, none, or when its validity ended.
    pub delta: String,
}

pub(super) fn change_rows(notice: &NoticeContent, calendar: Calendar) -> Vec<ChangeRow> {
    let published_on = calendar.date_of(notice.published_at);
    notice.changes.iter().map(|c| ChangeRow::published(c, published_on)).collect()
}

/// How what is still to come of a notice's changes to a quote's total is
/// said beside the change ("+30.00 EUR{from} while it is valid{steps}"),
/// as the e-mails, the acknowledgement link's page and the notice's
/// dashboard say it. Finalised before its first change takes force, the
/// quote keeps its prices: the change is said from that day, or, made in
/// steps, as beginning then (its sum is the last step's, not the
/// first's); steps begun already are said with the next.
#[derive(Debug, Default)]
pub struct AheadWords {
    /// " from <day>", for one change to come.
    pub from: String,
    /// ", in steps from <day>", or ", in steps, the next on <day>".
    pub steps: String,
    /// "; finalised before <day>, it keeps its prices as far as this notice
    /// goes", while none of its prices is in force (the day the first is).
    pub until_then: String,
}

impl AheadWords {
    pub fn of(ahead: Option<ChangesAhead>) -> AheadWords {
        let Some(ahead) = ahead else { return AheadWords::default() };
        // The day the prices change may come before the total does (lines
        // that offset one another): the quote keeps its prices until then.
        let until_then = match ahead.prices_in_force_already {
            true => String::new(),
            false => {
                format!("; finalised before {}, it keeps its prices as far as this notice goes", ahead.prices_next)
            }
        };
        let next = ahead.next;
        match (ahead.to_come, ahead.in_force_already, ahead.in_steps) {
            // Only prices that offset one another are to come.
            (0, ..) => AheadWords { until_then, ..AheadWords::default() },
            (_, true, _) => {
                AheadWords { steps: format!(", in steps, the next on {next}"), until_then, ..AheadWords::default() }
            }
            (_, false, false) => AheadWords { from: format!(" from {next}"), steps: String::new(), until_then },
            (_, false, true) => {
                AheadWords { from: String::new(), steps: format!(", in steps from {next}"), until_then }
            }
        }
    }
}

/// What a notice does to a draft's total that it changes and changes back
/// while the draft is valid (`ahead` still to come of it, its amounts in
/// minor units of `currency`): "changes by -140.00 EUR from 2026-12-11, and
/// is back where it was from 2026-12-26"; with the change in force and only
/// the step back to come, "is changed by -140.00 EUR until 2026-12-26, then
/// back where it was"; changed on more days between, "changes by as much as
/// +300.00 EUR while it is valid, in steps from …, and is back …", or, up
/// and down, "changes by between -140.00 EUR and +300.00 EUR while …".
pub fn changed_for_a_while(currency: &str, ahead: ChangesAhead) -> String {
    let money = |by| signed_money(currency, by);
    // Only up, or only down: by how much at most (exactly, where there is one step between).
    let one_way = match (ahead.lowest_minor, ahead.highest_minor) {
        (0, by) | (by, 0) => Some(money(by)),
        _ => None,
    };
    let (last, next) = (ahead.last, ahead.next);
    match (one_way, ahead.in_force_already, ahead.to_come) {
        (Some(by), true, 1) => format!("is changed by {by} until {last}, then back where it was"),
        (Some(by), false, 2) => format!("changes by {by} from {next}, and is back where it was from {last}"),
        (one_way, ..) => {
            let by = one_way.map_or_else(
                || format!("by between {} and {}", money(ahead.lowest_minor), money(ahead.highest_minor)),
                |by| format!("by as much as {by}"),
            );
            let steps = AheadWords::of(Some(ahead)).steps;
            format!("changes {by} while it is valid{steps}, and is back where it was from {last}")
        }
    }
}

/// What a notice does to a draft's total, in words, as the e-mails and the
/// acknowledgement link's page say it: the change while the quote is valid
/// (`while_valid`) and from prices dated after (`after`), both in minor
/// units of `currency`, with when it starts and whether in steps (`ahead`)
/// when none of it is in force today; a change of nothing with its reasons (a later
/// notice set the price of the `overtaken` skus since; finance approved
/// keeping the price quoted for the `approved` ones: each named once, in
/// order, however many of its lines carry it).
pub fn effect_on_total<'a>(
    currency: &str,
    expired_on: Option<chrono::NaiveDate>,
    (while_valid, after): (i64, i64),
    ahead: Option<ChangesAhead>,
    valid_until: chrono::NaiveDate,
    (overtaken, approved): (impl IntoIterator<Item = &'a str>, impl IntoIterator<Item = &'a str>),
) -> String {
    let skus =
        |of: Vec<&'a str>| of.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>();
    let (overtaken, approved) = (skus(overtaken.into_iter().collect()), skus(approved.into_iter().collect()));
    let mut why = Vec::new();
    if !overtaken.is_empty() {
        why.push(format!("a later notice has set the price of {} since", overtaken.join(", ")));
    }
    if !approved.is_empty() {
        why.push(format!("finance approved keeping the price quoted for {}", approved.join(", ")));
    }
    let AheadWords { from, steps, until_then } = AheadWords::of(ahead);
    match (expired_on, while_valid, after) {
        (Some(on), ..) => format!("expired on {on}"),
        // Changed and changed back while the quote is valid (a price
        // lowered for a fortnight): a quote finalised between is not
        // where it started, so this is no change of nothing.
        (None, 0, after) if let Some(ahead) = ahead.filter(ChangesAhead::moves_total) => {
            let beyond = match after {
                0 => String::new(),
                after => format!(
                    "; prices dated after {valid_until}, when its validity ends, would change it by {}",
                    signed_money(currency, after)
                ),
            };
            format!("its total {}{beyond}{until_then}", changed_for_a_while(currency, ahead))
        }
        // Prices to come that only offset one another still leave the
        // quote's prices other than its own from their day.
        (None, 0, 0) if !why.is_empty() => {
            format!("its total does not change by this notice: {}{until_then}", why.join(", and "))
        }
        (None, 0, 0) => format!("its total does not change{until_then}"),
        (None, while_valid, 0) => {
            format!("{} on its total{from} while it is valid{steps}{until_then}", signed_money(currency, while_valid))
        }
        // Its prices dated after the quote's validity count for nothing
        // now, and are not nothing: said apart.
        (None, 0, after) => format!(
            "its total does not change while it is valid (until {valid_until}); prices dated after that would change it by \
             {}{until_then}",
            signed_money(currency, after)
        ),
        (None, while_valid, after) => format!(
            "{} on its total{from} while it is valid (until {valid_until}){steps}, and prices dated after that \
             would make it {} in all{until_then}",
            signed_money(currency, while_valid),
            signed_money(currency, while_valid.saturating_add(after))
        ),
    }
}

/// Whether the notice moves the total of any of `quotes`, now, later, or
/// for a while (a change undone while a quote is valid moves it meanwhile),
/// or, to come, their prices (lines offsetting one another).
pub(super) fn moves_any(quotes: &[BlockedQuote]) -> bool {
    quotes.iter().any(BlockedQuote::changed_by_it)
}

pub(super) fn quote_rows(quotes: &[BlockedQuote]) -> Vec<QuoteRow> {
    quotes
        .iter()
        .map(|q| QuoteRow {
            reference: quote_reference(q.id),
            url: q.url.clone(),
            customer: customer(&q.customer_name, &q.customer_company),
            total: money(&q.currency, q.total_minor),
            delta: effect_on_total(
                &q.currency,
                q.expired_on,
                (q.delta_minor, q.delta_after_minor),
                q.changes_ahead,
                q.valid_until,
                (q.overtaken.iter().map(String::as_str), q.approved.iter().map(String::as_str)),
            ),
        })
        .collect()
}
