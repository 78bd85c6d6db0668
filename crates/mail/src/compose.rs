//! Letters to messages: a subject, a plain-text part and an HTML part, from
//! askama templates checked at compile time.

use askama::Template;
use chrono::NaiveDate;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_domain::{Calendar, Currency};
use pricegate_store::views::PriceChangeView;
use pricegate_store::{
    AccountChange, ApprovedFor, BlockedQuote, Composed, Composer, HandedQuote, Letter, NoticeContent, PendingPerson,
    SignedQuote, Told,
};

use crate::markdown::{markdown_as_text, render_markdown};

/// The e-mails' own template filters (askama finds them as `filters::…`).
mod filters {
    /// `{{ sentence|whole }}`: the sentence escaped, each day, time, amount and
    /// share in it on one line ([`crate::whole::keep_whole`]), styled
    /// inline, as mail programs drop style sheets.
    #[askama::filter_fn]
    pub fn whole(text: impl ToString, _: &dyn askama::Values) -> askama::Result<askama::filters::Safe<String>> {
        let html = crate::whole::keep_whole(&text.to_string(), "<span style=\"white-space: nowrap;\">");
        Ok(askama::filters::Safe(html))
    }
}

/// The [`Composer`] the store uses to write outbox rows.
#[derive(Debug, Clone, Copy)]
pub struct TemplateComposer {
    /// Times in letters are read in the business's time zone.
    pub calendar: Calendar,
    /// How long an acknowledgement link works from when its e-mail is sent
    /// (`PRICEGATE_ACK_LINK_TTL`), which the letter tells its reader.
    pub link_ttl: chrono::Duration,
}

/// A link's lifetime in words: `14 days`, `1 day`, `36 hours`, `1 hour`,
/// `90 minutes`, `20 seconds`: the largest unit it is a whole number of
/// (a letter that said "1 minute" of a 20-second link, as a test set-up
/// has, sent its reader to a link dead on arrival).
pub fn lifetime(ttl: chrono::Duration) -> String {
    let count = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let seconds = ttl.num_seconds().max(1);
    if seconds % 60 != 0 {
        return count(seconds, "second");
    }
    let minutes = seconds / 60;
    if minutes % (24 * 60) == 0 {
        count(minutes / (24 * 60), "day")
    } else if minutes % 60 == 0 {
        count(minutes / 60, "hour")
    } else {
        count(minutes, "minute")
    }
}

/// Minor units for people: `12.34 EUR`; an unknown code falls back to the raw count.
pub fn money(currency: &str, minor: i64) -> String {
    Currency::parse(currency).map(|c| c.format(minor)).unwrap_or_else(|_| format!("{minor} {currency}"))
}

pub fn signed_money(currency: &str, minor: i64) -> String {
    if minor > 0 { format!("+{}", money(currency, minor)) } else { money(currency, minor) }
}

/// A sum of amounts for people to read, summed wide: one past the largest
/// amount is said to be more than it, not wrapped or stopped there silently.
pub fn money_summed(currency: &str, sum: i128) -> String {
    match i64::try_from(sum) {
        Ok(minor) => money(currency, minor),
        Err(_) => format!("more than {}", money(currency, i64::MAX)),
    }
}

/// A sum of changes for people to read ([`signed_money`]), summed wide as
/// [`money_summed`] sums.
pub fn signed_money_summed(currency: &str, sum: i128) -> String {
    match i64::try_from(sum) {
        Ok(minor) => signed_money(currency, minor),
        Err(_) if sum > 0 => format!("a rise of more than {}", money(currency, i64::MAX)),
        Err(_) => format!("a fall of more than {}", money(currency, i64::MAX)),
    }
}

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

fn change_rows(notice: &NoticeContent, calendar: Calendar) -> Vec<ChangeRow> {
    let published_on = calendar.date_of(notice.published_at);
    notice.changes.iter().map(|c| ChangeRow::published(c, published_on)).collect()
}

/// How the e-mails and the link pages name a quote: the first 8 characters
/// of its id.
pub fn quote_reference(id: uuid::Uuid) -> String {
    let mut reference = id.simple().to_string();
    reference.truncate(8);
    reference
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
fn moves_any(quotes: &[BlockedQuote]) -> bool {
    quotes.iter().any(BlockedQuote::changed_by_it)
}

fn quote_rows(quotes: &[BlockedQuote]) -> Vec<QuoteRow> {
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

/// More changes than this, and a notice's e-mail says first where its
/// parts are: the reader's quotes and the link come after a long list.
const LONG_NOTICE_CHANGES: usize = 20;

/// More changes than this, and a notice's e-mail lists only those of the
/// products on the reader's quotes it holds up (this many at most), or, on
/// none, the first [`FIRST_CHANGES`]: mailed whole, a notice of 500 changes
/// is some 300 KB to each reader, and the page its link opens, where they
/// acknowledge it, lists every change.
const MAILED_CHANGES: usize = 50;

/// How many of a long notice's changes its e-mail lists to a reader none of
/// them touches.
const FIRST_CHANGES: usize = 20;

/// Which of a notice's changes its e-mail to one reader lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    /// Every one.
    All,
    /// Those of the products on the reader's quotes it holds up, `on_quotes`
    /// of them (the e-mail may list fewer: [`MAILED_CHANGES`]).
    OnQuotes { on_quotes: usize },
    /// The first, as the notice lists them: none is on the reader's quotes.
    First,
}

/// The changes a notice's e-mail lists to the reader of `quotes`, of all
/// its `changes` (see [`MAILED_CHANGES`]), and which they are.
fn listed_changes(changes: Vec<ChangeRow>, quotes: &[BlockedQuote]) -> (Vec<ChangeRow>, Listed) {
    if changes.len() <= MAILED_CHANGES {
        return (changes, Listed::All);
    }
    let on_quotes = |c: &ChangeRow| quotes.iter().any(|q| q.priced.contains(&c.sku));
    let (mut mine, others): (Vec<ChangeRow>, Vec<ChangeRow>) = changes.into_iter().partition(on_quotes);
    if mine.is_empty() {
        (others.into_iter().take(FIRST_CHANGES).collect(), Listed::First)
    } else {
        let on_quotes = mine.len();
        mine.truncate(MAILED_CHANGES);
        (mine, Listed::OnQuotes { on_quotes })
    }
}

/// The reader's quotes, `quotes` of them, as a notice's e-mail names them.
fn your_quotes(quotes: usize) -> &'static str {
    if quotes == 1 { "your quote" } else { "your quotes" }
}

/// The sentence that opens the e-mail of a notice of `changes` price
/// changes holding up `quotes` of the reader's quotes, when the changes are
/// many ([`LONG_NOTICE_CHANGES`]); `listed` of them are in the e-mail.
fn long_notice_guide(changes: usize, (listed, which): (usize, Listed), quotes: usize) -> Option<String> {
    (changes > LONG_NOTICE_CHANGES).then(|| {
        let held = match quotes {
            0 => String::new(),
            1 => ", then the one quote of yours it holds up".to_owned(),
            n => format!(", then the {n} quotes of yours it holds up"),
        };
        let yours = your_quotes(quotes);
        let below = match which {
            Listed::All => {
                return format!(
                    "It makes {changes} price changes, all listed below{held}; the link to acknowledge it comes after them."
                );
            }
            Listed::OnQuotes { on_quotes: 1 } => format!("is the one on {yours}"),
            Listed::OnQuotes { on_quotes } if on_quotes == listed => format!("are the {listed} on {yours}"),
            Listed::OnQuotes { on_quotes } => format!("are {listed} of the {on_quotes} on {yours}"),
            Listed::First => format!("are the first {listed}"),
        };
        format!(
            "It makes {changes} price changes. Listed below {below}{held}; the link to acknowledge it, after them, opens \
             all {changes}."
        )
    })
}

/// The heading of the changes a notice's e-mail lists, `listed` of them,
/// to the reader of `quotes` of the quotes it holds up.
fn listed_heading(listed: usize, which: Listed, quotes: usize) -> String {
    match which {
        Listed::All => "Price changes".to_owned(),
        Listed::OnQuotes { .. } => {
            let changes = if listed == 1 { "Price change" } else { "Price changes" };
            format!("{changes} on {}", your_quotes(quotes))
        }
        Listed::First => format!("The first {listed} price changes"),
    }
}

/// What a notice's e-mail says under the changes it lists, when it lists
/// only `listed` of its `changes`, and `unlisted_yours` of those on the
/// reader's `quotes`.
fn unlisted_changes(changes: usize, listed: usize, (unlisted_yours, quotes): (usize, usize)) -> Option<String> {
    (listed < changes).then(|| {
        let rest = changes - listed;
        let more = if rest == 1 { "change" } else { "changes" };
        let yours = match unlisted_yours {
            0 => String::new(),
            1 => format!(" (one of them on {})", your_quotes(quotes)),
            n => format!(" ({n} of them on {})", your_quotes(quotes)),
        };
        format!(
            "And {rest} more {more}{yours}, not listed here: the link to acknowledge the notice, below, opens the \
             whole notice, every change listed, to read before you confirm."
        )
    })
}

/// Publication and reminders share one layout; only the opening differs.
#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeHtml<'a> {
    /// Where things are in a notice with many changes (see [`long_notice_guide`]).
    guide: Option<&'a str>,
    intro: &'a str,
    name: &'a str,
    title: &'a str,
    body_html: String,
    /// The heading of `changes`, which may be only some of the notice's
    /// (see [`listed_changes`]).
    changes_heading: &'a str,
    changes: &'a [ChangeRow],
    /// What the e-mail says of the changes it does not list, if any.
    unlisted: Option<&'a str>,
    /// How many changes the link's page lists, when the e-mail lists fewer.
    whole_notice: Option<usize>,
    quotes: &'a [QuoteRow],
    /// Whether the notice moves any of `quotes`' totals, ever: if not, the
    /// e-mail says acknowledging it is all this notice asks of them.
    moves_any: bool,
    ack_url: &'a str,
    link_lifetime: &'a str,
    /// A reminder's: the page of every notice awaiting the reader.
    awaiting_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.txt")]
struct NoticeText<'a> {
    /// Where things are in a notice with many changes (see [`long_notice_guide`]).
    guide: Option<&'a str>,
    intro: &'a str,
    name: &'a str,
    title: &'a str,
    body: &'a str,
    /// The heading of `changes`, which may be only some of the notice's
    /// (see [`listed_changes`]).
    changes_heading: &'a str,
    changes: &'a [ChangeRow],
    /// What the e-mail says of the changes it does not list, if any.
    unlisted: Option<&'a str>,
    /// How many changes the link's page lists, when the e-mail lists fewer.
    whole_notice: Option<usize>,
    quotes: &'a [QuoteRow],
    /// Whether the notice moves any of `quotes`' totals, ever: if not, the
    /// e-mail says acknowledging it is all this notice asks of them.
    moves_any: bool,
    ack_url: &'a str,
    link_lifetime: &'a str,
    /// A reminder's: the page of every notice awaiting the reader.
    awaiting_url: Option<&'a str>,
}

/// The e-mail to a newly named signer (its HTML part; [`SignerText`] is
/// the same letter as text).
#[derive(Template)]
#[template(path = "signer.html")]
struct SignerLetter<'a> {
    name: &'a str,
    by: &'a str,
    customer: &'a str,
    total: &'a str,
    valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    reference: &'a str,
    url: &'a str,
    /// The notices the signer must acknowledge first, in words ("2 price
    /// notices"), if any.
    to_acknowledge: Option<String>,
}

#[derive(Template)]
#[template(path = "signer.txt")]
struct SignerText<'a> {
    letter: &'a SignerLetter<'a>,
}

/// The e-mail telling a draft's owner that its signer finalised it (its
/// HTML part; [`FinalisedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "finalised.html")]
struct FinalisedLetter<'a> {
    name: &'a str,
    by: &'a str,
    at: &'a str,
    customer: &'a str,
    total: &'a str,
    valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    reference: &'a str,
    url: &'a str,
    /// The notices its evidence keeps.
    notices: usize,
    /// Finance's approval of old prices it was finalised with, in words
    /// ([`old_prices_kept`]).
    approved: Option<String>,
}

/// How many products an e-mail names one by one before it counts the rest.
const NAMED_PRODUCTS: usize = 3;

/// A finalisation's approval of old prices, in words: who in finance
/// approved keeping which products' old prices.
fn old_prices_kept(kept: &pricegate_store::OldPricesKept<'_>) -> String {
    let who = match kept.by {
        "" => "Finance".to_owned(),
        name => format!("{name}, in finance,"),
    };
    let which = match kept.skus {
        [] => "some of its lines".to_owned(),
        [one] => one.clone(),
        [named @ .., last] if kept.skus.len() <= NAMED_PRODUCTS => format!("{} and {last}", named.join(", ")),
        [first @ .., _] => {
            let named = &first[..NAMED_PRODUCTS];
            format!("{} and {} more products", named.join(", "), kept.skus.len() - NAMED_PRODUCTS)
        }
    };
    format!("{who} approved keeping the old prices of {which}.")
}

#[derive(Template)]
#[template(path = "finalised.txt")]
struct FinalisedText<'a> {
    letter: &'a FinalisedLetter<'a>,
}

/// The e-mail asking finance to approve keeping a draft's old prices (its
/// HTML part; [`ApprovalAskedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "approval_asked.html")]
struct ApprovalAskedLetter<'a> {
    name: &'a str,
    by: &'a str,
    reason: &'a str,
    customer: &'a str,
    total: &'a str,
    valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    reference: &'a str,
    url: &'a str,
    lines: &'a [AskedRow],
    /// What today's prices would do to the total, in words.
    gap: &'a str,
    /// On a reminder, when the request was asked.
    asked_at: Option<&'a str>,
    /// On a reminder sent by someone other than who asked: who.
    reminded_by: Option<&'a str>,
    /// The request before this one, declined.
    declined: Option<&'a pricegate_store::EarlierDecline>,
    /// Who declined it, as the reader reads it: "You" to the one who did.
    declined_by: &'a str,
    /// Who owns and who signs the draft ([`owner_and_signer`]).
    on_draft: Option<String>,
}

/// A draft's owner and signer, by name, as the facts under a request for
/// approval say them; `None` when neither is known.
fn owner_and_signer((owner, signer): (&str, &str)) -> Option<String> {
    match (owner, signer) {
        ("", "") => None,
        (owner, signer) if owner == signer => Some(format!("Owner and signer: {owner}")),
        ("", signer) => Some(format!("Signer: {signer}")),
        (owner, "") => Some(format!("Owner: {owner}")),
        (owner, signer) => Some(format!("Owner: {owner}; signer: {signer}")),
    }
}

#[derive(Template)]
#[template(path = "approval_asked.txt")]
struct ApprovalAskedText<'a> {
    letter: &'a ApprovalAskedLetter<'a>,
    /// The reason, set apart ([`quoted`]).
    reason: String,
    /// The earlier request's decline's reason, set apart.
    declined_reason: Option<String>,
}

/// The e-mail telling the salespeople on a draft that finance declined the
/// request to approve its old prices (its HTML part; [`DeclinedText`] is
/// the same letter as text).
#[derive(Template)]
#[template(path = "declined.html")]
struct DeclinedLetter<'a> {
    name: &'a str,
    by: &'a str,
    reason: &'a str,
    /// Who asked, told to the others on the draft; `None` to whoever asked.
    asked_by: Option<&'a str>,
    customer: &'a str,
    total: &'a str,
    valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    reference: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "declined.txt")]
struct DeclinedText<'a> {
    letter: &'a DeclinedLetter<'a>,
    /// The reason, set apart ([`quoted`]).
    reason: String,
}

/// A line at an old price, as a request for approval shows it.
struct AskedRow {
    sku: String,
    quantity: String,
    discount: Option<String>,
    quoted: String,
    current: String,
}

/// `lines` at an old price, in `currency`, as a request for approval and an
/// approval show them.
fn asked_rows(currency: &str, lines: &[pricegate_store::views::SupersededLineView]) -> Vec<AskedRow> {
    lines
        .iter()
        .map(|l| AskedRow {
            sku: l.sku.clone(),
            quantity: pricegate_domain::count(l.quantity),
            discount: (l.discount_bp != 0).then(|| percent(l.discount_bp)),
            quoted: money(currency, l.quoted_unit_price_minor),
            current: money(currency, l.current_unit_price_minor),
        })
        .collect()
}

/// What today's prices would do to the total of a quote with `lines` at an
/// old price, against keeping them, in words.
fn old_price_gap_in_words(currency: &str, lines: &[pricegate_store::views::SupersededLineView]) -> String {
    let (these, prices) = match lines.len() {
        1 => ("this line", "the old price"),
        _ => ("these lines", "the old prices"),
    };
    match pricegate_store::views::old_price_gap(lines) {
        gap if gap < 0 => format!(
            "At today's prices {these} would take {} off the total: keeping {prices} charges the customer that much \
             more.",
            money(currency, gap.saturating_neg())
        ),
        gap => format!(
            "At today's prices {these} would add {} to the total: keeping {prices} waives that.",
            money(currency, gap)
        ),
    }
}

/// A discount in basis points as people read it: `12.50 %`.
pub fn percent(bp: i32) -> String {
    format!("{} %", percent_number(bp))
}

/// Basis points as a number of percent, as a spreadsheet reads one: `12.50`, `0.05`.
pub fn percent_number(bp: i32) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let bp = bp.unsigned_abs();
    format!("{sign}{}.{:02}", bp / 100, bp % 100)
}

/// The e-mail telling a draft's signer, or its owner, that finance approved
/// keeping its old prices (its HTML part; [`ApprovedText`] is the same
/// letter as text).
#[derive(Template)]
#[template(path = "approved.html")]
struct ApprovedLetter<'a> {
    name: &'a str,
    by: &'a str,
    reason: &'a str,
    /// Who signs it, told to its owner; `None` to the signer.
    signer: Option<&'a str>,
    /// That signer can no longer sign it: the owner must choose another.
    signer_gone: bool,
    /// Its validity has ended: its owner must extend it first.
    expired: bool,
    customer: &'a str,
    total: &'a str,
    valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    reference: &'a str,
    url: &'a str,
    /// The notices the signer must still acknowledge first, in words, if any.
    to_acknowledge: Option<String>,
    /// The lines it keeps at their old price.
    lines: &'a [AskedRow],
    /// What today's prices would do to the total, in words.
    gap: &'a str,
}

#[derive(Template)]
#[template(path = "approved.txt")]
struct ApprovedText<'a> {
    letter: &'a ApprovedLetter<'a>,
    /// The reason, set apart ([`quoted`]).
    reason: String,
}

/// Someone's words in a plain-text letter, each line set apart with `> `, so
/// that no line of theirs reads as one of the letter's own (a "Total:" typed
/// into a reason, say).
fn quoted(words: &str) -> String {
    words.lines().map(|line| format!("  > {line}")).collect::<Vec<_>>().join("\n")
}

/// The e-mail to a signer replaced by another (its HTML part;
/// [`ReleasedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "released.html")]
struct ReleasedLetter<'a> {
    name: &'a str,
    by: &'a str,
    /// Who was named to sign in their place; `None` when `by` named themselves.
    signer: Option<&'a str>,
    customer: &'a str,
    total: &'a str,
    valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    reference: &'a str,
}

#[derive(Template)]
#[template(path = "released.txt")]
struct ReleasedText<'a> {
    letter: &'a ReleasedLetter<'a>,
}

/// A draft as the e-mail to its owner shows it: customer, total, validity, page.
pub struct OwnedRow {
    /// The quote's reference, as every page and letter names it.
    pub reference: String,
    pub customer: String,
    pub total: String,
    pub valid_until: String,
    pub url: String,
}

/// The e-mail to the owner of drafts whose signer can no longer sign (its
/// HTML part; [`SignerGoneText`] is the same letter as text).
#[derive(Template)]
#[template(path = "signer_gone.html")]
struct SignerGoneLetter<'a> {
    name: &'a str,
    by: &'a str,
    signer: &'a str,
    /// Deactivated (or, with `back`, reactivated), else moved out of (or
    /// back into) sales.
    deactivated: bool,
    /// They can sign again.
    back: bool,
    quotes: &'a [OwnedRow],
}

#[derive(Template)]
#[template(path = "signer_gone.txt")]
struct SignerGoneText<'a> {
    letter: &'a SignerGoneLetter<'a>,
}

/// The e-mail with a link to choose a password (its HTML part;
/// [`PasswordText`] is the same letter as text).
#[derive(Template)]
#[template(path = "password.html")]
struct PasswordLetter<'a> {
    title: &'a str,
    name: &'a str,
    email: &'a str,
    /// The administrator who sent it; `None` when its reader asked for it.
    invited_by: Option<&'a str>,
    new_account: bool,
    link: &'a str,
    works_for: &'a str,
}

#[derive(Template)]
#[template(path = "password.txt")]
struct PasswordText<'a> {
    letter: &'a PasswordLetter<'a>,
}

#[derive(Template)]
#[template(path = "account_changed.html")]
struct AccountLetter<'a> {
    title: &'a str,
    name: &'a str,
    /// The address the letter goes to: the one that changed, for an address.
    email: &'a str,
    /// When, in the business's time.
    at: String,
    /// The administrator who made the change; `None` when its reader did.
    by: Option<&'a str>,
    /// The password changed; else the address.
    password: bool,
    by_link: bool,
    if_it_was: String,
    if_not: String,
    forgot_url: &'a str,
}

#[derive(Template)]
#[template(path = "account_changed.txt")]
struct AccountText<'a> {
    letter: &'a AccountLetter<'a>,
}

/// What to do about an account's change, made by the administrator `by`
/// or by the reader: nothing if it was meant, and else what now.
fn account_advice(change: AccountChange, by: Option<&str>) -> (String, String) {
    // The address that follows is the page to ask at, said last, so that it is not read as an administrator's.
    const NEW_ONE: &str = "ask for a new password on this page, which e-mails you a link:";
    match (change, by) {
        (AccountChange::Password { by_link: false }, None) => (
            "If it was you, there is nothing to do.".to_owned(),
            format!("If it was not, someone else knows your password: tell your administrator, and {NEW_ONE}"),
        ),
        // A link to the same mailbox is no way out of it: the administrator first.
        (AccountChange::Password { by_link: true }, _) => (
            "If it was you, there is nothing to do.".to_owned(),
            format!(
                "If it was not, someone else could read a link sent to your e-mail, and could read the next one: \
                 tell your administrator now, then {NEW_ONE}"
            ),
        ),
        (AccountChange::Password { .. }, Some(by)) => (
            format!("If you asked {by} for it, there is nothing to do."),
            format!(
                "If you did not, ask {by} why, or choose a password of your own now (the page e-mails you a link):"
            ),
        ),
        (AccountChange::Address, Some(by)) => (
            "If you asked for it, there is nothing to do.".to_owned(),
            format!(
                "If you did not, tell {by} or another administrator now: whoever reads the new address can have \
                 Pricegate e-mail them a link to choose your password."
            ),
        ),
        (AccountChange::Address, None) => (
            "If it was you, there is nothing to do.".to_owned(),
            "If it was not, tell another administrator now: whoever reads the new address can have Pricegate \
             e-mail them a link to choose your password."
                .to_owned(),
        ),
    }
}

/// A draft in the e-mail to someone handed a colleague's quotes.
pub struct HandedRow {
    /// The quote's reference, as every page and letter names it: a customer
    /// may have several drafts.
    pub reference: String,
    pub customer: String,
    pub total: String,
    pub valid_until: String,
    pub url: String,
    pub you_own: bool,
    pub you_sign: bool,
    /// Who signs it, when not the reader.
    pub signer: String,
    /// Why that signer can no longer sign it, when they cannot.
    pub signer_gone: Option<String>,
    /// The notices its signer must acknowledge first, in words, if any:
    /// for the taker's letter; the leaver's does not show it, nor does a
    /// draft whose signer can no longer sign (another will, after their own).
    pub to_acknowledge: Option<String>,
}

/// The e-mail to someone handed a colleague's drafts (its HTML part;
/// [`HandoverText`] is the same letter as text).
#[derive(Template)]
#[template(path = "handover.html")]
struct HandoverLetter<'a> {
    name: &'a str,
    by: &'a str,
    from: &'a str,
    quotes: &'a [HandedRow],
    /// The page of the notices awaiting them, when a quote they sign waits
    /// for one.
    awaiting_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "handover.txt")]
struct HandoverText<'a> {
    letter: &'a HandoverLetter<'a>,
}

/// The e-mail to the salesperson whose drafts an admin handed to a
/// colleague (its HTML part; [`HandedAwayText`] is the same letter as text).
#[derive(Template)]
#[template(path = "handed_away.html")]
struct HandedAwayLetter<'a> {
    name: &'a str,
    by: &'a str,
    taker: &'a str,
    quotes: &'a [HandedRow],
}

#[derive(Template)]
#[template(path = "handed_away.txt")]
struct HandedAwayText<'a> {
    letter: &'a HandedAwayLetter<'a>,
}

/// The e-mail to the owner of drafts a hand-over gave a new signer (its
/// HTML part; [`SignerHandedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "signer_handed.html")]
struct SignerHandedLetter<'a> {
    name: &'a str,
    by: &'a str,
    from: &'a str,
    taker: &'a str,
    quotes: &'a [HandedRow],
}

impl SignerHandedLetter<'_> {
    /// Whether any draft has notices to acknowledge first: only then does
    /// the letter say when they were counted.
    fn counts_notices(&self) -> bool {
        self.quotes.iter().any(|q| q.to_acknowledge.is_some())
    }
}

#[derive(Template)]
#[template(path = "signer_handed.txt")]
struct SignerHandedText<'a> {
    letter: &'a SignerHandedLetter<'a>,
}

/// The drafts of a hand-over as its letters list them.
fn handed_rows(quotes: &[HandedQuote]) -> Vec<HandedRow> {
    quotes
        .iter()
        .map(|h| HandedRow {
            reference: quote_reference(h.quote.id),
            customer: customer(&h.quote.customer_name, &h.quote.customer_company),
            total: money(&h.quote.currency, h.quote.total_minor),
            valid_until: h.quote.valid_until.to_string(),
            url: h.quote.url.clone(),
            you_own: h.taker_owns,
            you_sign: h.taker_signs,
            signer: h.signer.clone(),
            signer_gone: h.signer_gone.clone(),
            to_acknowledge: notices_in_words(h.quote.to_acknowledge).filter(|_| h.signer_gone.is_none()),
        })
        .collect()
}

/// `count` price notices in words ("1 price notice", "2 price notices", as the pages count them),
/// none for none.
fn notices_in_words(count: u64) -> Option<String> {
    match count {
        0 => None,
        1 => Some("1 price notice".to_owned()),
        n => Some(format!("{n} price notices")),
    }
}

/// A letter's two parts, rendered from its HTML template and its text one.
fn composed(subject: String, html: &impl Template, text: &impl Template) -> Result<Composed, String> {
    let render = |e: askama::Error| e.to_string();
    Ok(Composed { subject, text: text.render().map_err(render)?, html: html.render().map_err(render)? })
}

/// A draft as the signer letters state it: its customer, total, validity
/// and reference, in words.
fn quote_facts(quote: &SignedQuote) -> (String, String, String, String) {
    (
        customer(&quote.customer_name, &quote.customer_company),
        money(&quote.currency, quote.total_minor),
        quote.valid_until.to_string(),
        quote_reference(quote.id),
    )
}

/// A customer as letters name them: `Name (Company)`, or the name alone.
fn customer(name: &str, company: &str) -> String {
    if company.is_empty() { name.to_owned() } else { format!("{name} ({company})") }
}

pub struct PersonRow {
    pub name: String,
    pub email: String,
    /// The first [`ESCALATED_QUOTES`] of the drafts it holds up of theirs.
    pub quotes: Vec<QuoteRow>,
    /// How many more it holds up, not listed.
    pub more_quotes: usize,
}

/// How many people an escalation lists in each of its tables, and how many
/// of each one's drafts: the notice's dashboard lists them all, and an
/// e-mail of 300 people's 1,000 drafts ran to half a megabyte.
const ESCALATED_PEOPLE: usize = 50;
const ESCALATED_QUOTES: usize = 5;

/// `people`, as an escalation lists them, and how many it leaves out:
/// first those with drafts the notice changes, then those with drafts it
/// holds up, then those with none, each part in the order given.
fn person_rows(people: &[PendingPerson]) -> (Vec<PersonRow>, usize) {
    let mut listed: Vec<&PendingPerson> = people.iter().collect();
    listed.sort_by_key(|p| match p.quotes.iter().any(BlockedQuote::changed_by_it) {
        true => 0,
        false if !p.quotes.is_empty() => 1,
        false => 2,
    });
    let rows = listed
        .into_iter()
        .take(ESCALATED_PEOPLE)
        .map(|p| PersonRow {
            name: p.name.clone(),
            email: p.email.clone(),
            quotes: quote_rows(&p.quotes[..p.quotes.len().min(ESCALATED_QUOTES)]),
            more_quotes: p.quotes.len().saturating_sub(ESCALATED_QUOTES),
        })
        .collect();
    (rows, people.len().saturating_sub(ESCALATED_PEOPLE))
}

#[derive(Template)]
#[template(path = "escalation.html")]
struct EscalationHtml<'a> {
    name: &'a str,
    dashboard_url: &'a str,
    title: &'a str,
    published_at: String,
    people: &'a [PersonRow],
    /// How many pending it does not list ([`ESCALATED_PEOPLE`]).
    more_people: usize,
    /// Signers who can no longer sign, with the drafts it holds up of theirs.
    unsigned: &'a [PersonRow],
    /// How many of those it does not list.
    more_unsigned: usize,
    /// How many are still pending, in words: "1 salesperson", "3 salespeople".
    pending: &'a str,
    /// What the drafts it holds up are worth, and what it does to them
    /// ([`Stake::in_words`]).
    at_stake: Option<String>,
    /// Those past their validity ([`Stake::past_validity`]).
    past_validity: Option<String>,
    /// How long after someone's last e-mail about the notice the
    /// dashboard's Remind now e-mails them again.
    again_minutes: i64,
}

#[derive(Template)]
#[template(path = "escalation.txt")]
struct EscalationText<'a> {
    name: &'a str,
    dashboard_url: &'a str,
    title: &'a str,
    published_at: String,
    people: &'a [PersonRow],
    /// How many pending it does not list ([`ESCALATED_PEOPLE`]).
    more_people: usize,
    /// Signers who can no longer sign, with the drafts it holds up of theirs.
    unsigned: &'a [PersonRow],
    /// How many of those it does not list.
    more_unsigned: usize,
    /// How many are still pending, in words: "1 salesperson", "3 salespeople".
    pending: &'a str,
    /// What the drafts it holds up are worth, and what it does to them
    /// ([`Stake::in_words`]).
    at_stake: Option<String>,
    /// Those past their validity ([`Stake::past_validity`]).
    past_validity: Option<String>,
    /// How long after someone's last e-mail about the notice the
    /// dashboard's Remind now e-mails them again.
    again_minutes: i64,
}

/// The drafts a notice holds up, summed by currency (wide: no sum wraps or
/// stops at the largest amount): what they are worth, and what the notice
/// changes their totals by while they are valid. A draft whose validity has
/// ended waits for its owner first: counted apart. The notice's dashboard
/// and its escalation's e-mail say it so.
#[derive(Default)]
pub struct Stake {
    by_currency: std::collections::BTreeMap<String, CurrencyStake>,
    expired: usize,
}

/// The drafts of one currency a notice holds up ([`Stake`]).
#[derive(Default)]
struct CurrencyStake {
    drafts: usize,
    worth: i128,
    /// What the notice does to their totals while they are valid.
    moves: Moves,
    /// How many change for a while only: back where they were by the end
    /// of their validity.
    meanwhile: usize,
}

/// Changes to drafts' totals, summed wide apart by sign so that rises and
/// falls never cancel into no change: the notice's dashboard and
/// escalation ([`Stake`]) and its publish confirmation say them so.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moves {
    /// The rises, and on how many drafts.
    raised: (i128, usize),
    /// The falls, and on how many drafts.
    lowered: (i128, usize),
}

impl Moves {
    /// Counts one draft's change (a change of nothing is none).
    pub fn add(&mut self, delta: i64) {
        let (sum, count) = match delta {
            0 => return,
            rise if rise > 0 => &mut self.raised,
            _ => &mut self.lowered,
        };
        *sum += i128::from(delta);
        *count += 1;
    }

    /// How many drafts change.
    pub fn changed(&self) -> usize {
        self.raised.1 + self.lowered.1
    }

    /// The change in all.
    pub fn net(&self) -> i128 {
        self.raised.0 + self.lowered.0
    }

    /// Where some rise and some fall, each apart: "+30.00 EUR on 2 of them
    /// and -10.00 EUR on 1", each sum as `money` says it, with how many of
    /// the drafts summed do not change (`unchanged`), so that every one is
    /// accounted for: "+30.00 EUR on 2 of them, -10.00 EUR on 1 and none on 3".
    pub fn apart(&self, money: impl Fn(i128) -> String, unchanged: usize) -> Option<String> {
        let ((raised, n_raised), (lowered, n_lowered)) = (self.raised, self.lowered);
        let (raised, lowered) = (money(raised), money(lowered));
        (n_raised > 0 && n_lowered > 0).then(|| match unchanged {
            0 => format!("{raised} on {n_raised} of them and {lowered} on {n_lowered}"),
            n => format!("{raised} on {n_raised} of them, {lowered} on {n_lowered} and none on {n}"),
        })
    }

    /// "2 of them", where fewer than all `drafts` change; `None` where all do.
    pub fn of_them(&self, drafts: usize) -> Option<String> {
        (self.changed() != drafts).then(|| format!("{} of them", self.changed()))
    }
}

/// ", and 1 of them changes for a while", after a sum of the others' changes.
fn also_for_a_while(meanwhile: usize) -> String {
    match meanwhile {
        0 => String::new(),
        1 => ", and 1 of them changes for a while".to_owned(),
        n => format!(", and {n} of them change for a while"),
    }
}

impl Stake {
    pub fn add(&mut self, quote: &BlockedQuote) {
        if quote.expired_on.is_some() {
            self.expired += 1;
            return;
        }
        let stake = self.by_currency.entry(quote.currency.clone()).or_default();
        stake.drafts += 1;
        stake.worth += i128::from(quote.total_minor);
        stake.moves.add(quote.delta_minor);
        if quote.delta_minor == 0 && quote.changes_ahead.is_some_and(|ahead| ahead.moves_total()) {
            stake.meanwhile += 1;
        }
    }

    /// "3 drafts worth 65,980.00 EUR, +4,560.00 EUR on them while they are
    /// valid; 1 draft worth 5,000.00 USD, no change while it is valid", or
    /// nothing for none; where some rise and some fall, each apart ("+30.00
    /// EUR on 2 of them and -10.00 EUR on 1 while they are valid, +20.00 EUR
    /// in all"), so that they never cancel into no change.
    pub fn in_words(&self) -> Option<String> {
        let said: Vec<String> = self
            .by_currency
            .iter()
            .map(|(currency, stake)| {
                let CurrencyStake { drafts, worth, moves, meanwhile } = stake;
                let (them, are) = if *drafts == 1 { ("it", "it is") } else { ("them", "they are") };
                let (they, their) = if *drafts == 1 { ("it", "its") } else { ("they", "their") };
                let money = |sum| signed_money_summed(currency, sum);
                let change = match (moves.changed(), meanwhile) {
                    (0, 0) => format!("no change while {are} valid"),
                    // Changed and changed back: not nothing meanwhile.
                    (0, _) if drafts == meanwhile => {
                        format!("a change for a while, back where {they} started by the end of {their} validity")
                    }
                    (0, meanwhile) => format!(
                        "no change by the end of their validity, though {meanwhile} of them {} for a while",
                        if *meanwhile == 1 { "changes" } else { "change" }
                    ),
                    (_, meanwhile) => match moves.apart(money, drafts.saturating_sub(moves.changed() + meanwhile)) {
                        Some(apart) => format!(
                            "{apart} while they are valid, {} in all{}",
                            money(moves.net()),
                            also_for_a_while(*meanwhile)
                        ),
                        // "on them" where every draft changes; else how many do.
                        None => format!(
                            "{} on {} while {are} valid{}",
                            money(moves.net()),
                            moves.of_them(*drafts).unwrap_or_else(|| them.to_owned()),
                            also_for_a_while(*meanwhile)
                        ),
                    },
                };
                let drafts = if *drafts == 1 { "1 draft".to_owned() } else { format!("{drafts} drafts") };
                format!("{drafts} worth {}, {change}", money_summed(currency, *worth))
            })
            .collect();
        (!said.is_empty()).then(|| said.join("; "))
    }

    /// The drafts held up past their validity, in a sentence, if any.
    pub fn past_validity(&self) -> Option<String> {
        match self.expired {
            0 => None,
            1 => {
                Some("1 draft it holds up is past its validity and not counted: its owner must extend it first.".into())
            }
            n => Some(format!(
                "{n} drafts it holds up are past their validity and not counted: their owners must extend them first."
            )),
        }
    }
}

impl Composer for TemplateComposer {
    fn compose(&self, letter: &Letter<'_>) -> Result<Composed, String> {
        match letter {
            Letter::Publication { notice, to, quotes, ack_url, .. }
            | Letter::Reminder { notice, to, quotes, ack_url, .. } => {
                let (subject, intro) = match letter {
                    Letter::Reminder { number, of, .. } if *of > 0 => (
                        format!("Reminder {number} of {of}: \"{}\" awaits your acknowledgement", notice.title),
                        if number == of {
                            "You have not yet acknowledged this price notice. This is the last reminder: finance is \
                             told now that it is still waiting for you."
                        } else {
                            "You have not yet acknowledged this price notice."
                        }
                        .to_owned(),
                    ),
                    Letter::Reminder { .. } => (
                        format!("Reminder: \"{}\" awaits your acknowledgement", notice.title),
                        "Finance asks you to acknowledge this price notice now.".to_owned(),
                    ),
                    Letter::Publication { told: Told::Returned, .. } => (
                        format!("Price notice: {}", notice.title),
                        if quotes.len() == 1 {
                            "This price notice was published while you could not sign quotes, and it holds up the \
                             quote below, which you sign. Acknowledge the notice before you finalise it."
                        } else {
                            "This price notice was published while you could not sign quotes, and it holds up the \
                             quotes below, which you sign. Acknowledge the notice before you finalise them."
                        }
                        .to_owned(),
                    ),
                    Letter::Publication { told: Told::Missed, .. } => (
                        format!("Price notice: {}", notice.title),
                        if quotes.len() == 1 {
                            "The e-mail about this price notice was set aside when you could no longer sign \
                             quotes, and it holds up the quote below, which you sign. Acknowledge the notice before \
                             you finalise it."
                        } else {
                            "The e-mail about this price notice was set aside when you could no longer sign \
                             quotes, and it holds up the quotes below, which you sign. Acknowledge the notice before \
                             you finalise them."
                        }
                        .to_owned(),
                    ),
                    Letter::Publication { told: Told::Back, .. } => (
                        format!("Still to acknowledge: {}", notice.title),
                        if quotes.len() == 1 {
                            "You can sign quotes again, and this price notice, mailed to you before, still waits for \
                             your acknowledgement: it holds up the quote below, which you sign. Acknowledge the \
                             notice before you finalise it."
                        } else {
                            "You can sign quotes again, and this price notice, mailed to you before, still waits for \
                             your acknowledgement: it holds up the quotes below, which you sign. Acknowledge the \
                             notice before you finalise them."
                        }
                        .to_owned(),
                    ),
                    Letter::Publication { told: Told::TookOver, .. } => (
                        format!("Price notice: {}", notice.title),
                        if quotes.len() == 1 {
                            "This price notice was published before you took over the quote below, and it holds it \
                             up: you now sign it. Acknowledge the notice before you finalise it."
                        } else {
                            "This price notice was published before you took over the quotes below, and it holds \
                             them up: you now sign them. Acknowledge the notice before you finalise them."
                        }
                        .to_owned(),
                    ),
                    // Named, so that a question about it goes to them.
                    _ => (
                        format!("Price notice: {}", notice.title),
                        match (notice.published_by.as_str(), &notice.reply_to) {
                            ("", _) => "Finance has published a price notice.".to_owned(),
                            // Their address is kept only while they can answer.
                            (by, None) => format!("{by}, in finance, published this price notice."),
                            (by, Some(_)) => {
                                format!(
                                    "{by}, in finance, has published a price notice. Questions about it? Reply to this e-mail to ask them."
                                )
                            }
                        },
                    ),
                };
                let awaiting_url = match letter {
                    Letter::Reminder { awaiting_url, .. } => Some(*awaiting_url),
                    _ => None,
                };
                let (changes, listed) = listed_changes(change_rows(notice, self.calendar), quotes);
                let changes_heading = listed_heading(changes.len(), listed, quotes.len());
                let unlisted_yours = match listed {
                    Listed::OnQuotes { on_quotes } => on_quotes - changes.len(),
                    Listed::All | Listed::First => 0,
                };
                let unlisted = unlisted_changes(notice.changes.len(), changes.len(), (unlisted_yours, quotes.len()));
                // The link opens them all: said so where it is not all.
                let whole_notice = unlisted.is_some().then_some(notice.changes.len());
                let guide = long_notice_guide(notice.changes.len(), (changes.len(), listed), quotes.len());
                let moves_any = moves_any(quotes);
                let quotes = quote_rows(quotes);
                let link_lifetime = lifetime(self.link_ttl);
                let html = NoticeHtml {
                    guide: guide.as_deref(),
                    intro: &intro,
                    name: &to.name,
                    title: &notice.title,
                    body_html: render_markdown(&notice.body, 1),
                    changes_heading: &changes_heading,
                    changes: &changes,
                    unlisted: unlisted.as_deref(),
                    whole_notice,
                    quotes: &quotes,
                    moves_any,
                    ack_url,
                    link_lifetime: &link_lifetime,
                    awaiting_url,
                };
                let text = NoticeText {
                    guide: guide.as_deref(),
                    intro: &intro,
                    name: &to.name,
                    title: &notice.title,
                    body: &markdown_as_text(&notice.body),
                    changes_heading: &changes_heading,
                    changes: &changes,
                    unlisted: unlisted.as_deref(),
                    whole_notice,
                    quotes: &quotes,
                    moves_any,
                    ack_url,
                    link_lifetime: &link_lifetime,
                    awaiting_url,
                };
                composed(subject, &html, &text)
            }
            Letter::SignerNamed { to, by, quote } => {
                let (customer, total, valid_until, reference) = quote_facts(quote);
                let subject = format!("{by} has named you the signer of a quote for {customer}");
                let letter = SignerLetter {
                    name: &to.name,
                    by,
                    customer: &customer,
                    total: &total,
                    valid_until: &valid_until,
                    reference: &reference,
                    url: &quote.url,
                    to_acknowledge: notices_in_words(quote.to_acknowledge),
                };
                composed(subject, &letter, &SignerText { letter: &letter })
            }
            Letter::QuoteFinalised { to, by, quote, at, notices, approved } => {
                let (customer, total, valid_until, reference) = quote_facts(quote);
                let subject = format!("{by} finalised your quote for {customer}");
                let letter = FinalisedLetter {
                    name: &to.name,
                    by,
                    at,
                    customer: &customer,
                    total: &total,
                    valid_until: &valid_until,
                    reference: &reference,
                    url: &quote.url,
                    notices: *notices,
                    approved: approved.as_ref().map(old_prices_kept),
                };
                composed(subject, &letter, &FinalisedText { letter: &letter })
            }
            Letter::ApprovalAsked { to, by, reason, quote, lines, asked_at, reminded_by, declined, on_draft } => {
                let (customer, total, valid_until, reference) = quote_facts(quote);
                let subject = match asked_at {
                    None => format!("{by} asks you to approve old prices on the quote for {customer}"),
                    // Whoever reminds waits: the asker, or the draft's other salesperson.
                    Some(_) => format!(
                        "Reminder: {} still waits for approval of old prices on the quote for {customer}",
                        reminded_by.unwrap_or(by)
                    ),
                };
                let (rows, gap) = (asked_rows(&quote.currency, lines), old_price_gap_in_words(&quote.currency, lines));
                let letter = ApprovalAskedLetter {
                    name: &to.name,
                    by,
                    reason,
                    customer: &customer,
                    total: &total,
                    valid_until: &valid_until,
                    reference: &reference,
                    url: &quote.url,
                    lines: &rows,
                    gap: &gap,
                    asked_at: *asked_at,
                    reminded_by: *reminded_by,
                    declined: *declined,
                    declined_by: match declined {
                        Some(d) if d.by_id == to.id => "You",
                        Some(d) => &d.by,
                        None => "",
                    },
                    on_draft: owner_and_signer(*on_draft),
                };
                let declined_reason = declined.map(|d| quoted(&d.reason));
                composed(
                    subject,
                    &letter,
                    &ApprovalAskedText { letter: &letter, reason: quoted(reason), declined_reason },
                )
            }
            Letter::ApprovalDeclined { to, by, reason, quote, asked_by } => {
                let (customer, total, valid_until, reference) = quote_facts(quote);
                let subject = format!("{by} declined to approve the old prices on the quote for {customer}");
                let letter = DeclinedLetter {
                    name: &to.name,
                    by,
                    reason,
                    asked_by: *asked_by,
                    customer: &customer,
                    total: &total,
                    valid_until: &valid_until,
                    reference: &reference,
                    url: &quote.url,
                };
                composed(subject, &letter, &DeclinedText { letter: &letter, reason: quoted(reason) })
            }
            Letter::PricesApproved { to, by, reason, quote, lines, signer, expired } => {
                let (customer, total, valid_until, reference) = quote_facts(quote);
                let (rows, gap) = (asked_rows(&quote.currency, lines), old_price_gap_in_words(&quote.currency, lines));
                let subject = format!("{by} approved keeping the old prices on the quote for {customer}");
                let (signer, signer_gone) = match signer {
                    ApprovedFor::Signer => (None, false),
                    ApprovedFor::Owner { signer } => (Some(*signer), false),
                    ApprovedFor::OwnerWithoutSigner { signer } => (Some(*signer), true),
                };
                let letter = ApprovedLetter {
                    name: &to.name,
                    by,
                    reason,
                    signer,
                    signer_gone,
                    expired: *expired,
                    customer: &customer,
                    total: &total,
                    valid_until: &valid_until,
                    reference: &reference,
                    url: &quote.url,
                    to_acknowledge: notices_in_words(quote.to_acknowledge),
                    lines: &rows,
                    gap: &gap,
                };
                composed(subject, &letter, &ApprovedText { letter: &letter, reason: quoted(reason) })
            }
            Letter::SignerReleased { to, by, signer, quote } => {
                let (customer, total, valid_until, reference) = quote_facts(quote);
                let subject = format!("You no longer sign the quote for {customer}");
                let letter = ReleasedLetter {
                    name: &to.name,
                    by,
                    signer: *signer,
                    customer: &customer,
                    total: &total,
                    valid_until: &valid_until,
                    reference: &reference,
                };
                composed(subject, &letter, &ReleasedText { letter: &letter })
            }
            Letter::SignerGone { to, by, signer, deactivated, back, quotes } => {
                let rows: Vec<OwnedRow> = quotes
                    .iter()
                    .map(|q| {
                        let (customer, total, valid_until, reference) = quote_facts(q);
                        OwnedRow { reference, customer, total, valid_until, url: q.url.clone() }
                    })
                    .collect();
                let subject = match (rows.as_slice(), back) {
                    ([one], false) => format!("Your quote for {} needs another signer", one.customer),
                    (rows, false) => format!("{} of your quotes need another signer", rows.len()),
                    ([one], true) => format!("{signer} can sign your quote for {} again", one.customer),
                    (rows, true) => format!("{signer} can sign {} of your quotes again", rows.len()),
                };
                let letter = SignerGoneLetter {
                    name: &to.name,
                    by,
                    signer,
                    deactivated: *deactivated,
                    back: *back,
                    quotes: &rows,
                };
                composed(subject, &letter, &SignerGoneText { letter: &letter })
            }
            Letter::PasswordLink { to, link, invited_by, new_account, works_for } => {
                let subject = match (invited_by, new_account) {
                    (Some(_), true) => "Your Pricegate account: choose your password",
                    // Asked for by someone invited who has yet to choose one.
                    (None, true) => "Choose your Pricegate password",
                    // A password in place of the one they have, whoever sent for it, as its text says.
                    (_, false) => "Choose a new Pricegate password",
                };
                let works_for = lifetime(*works_for);
                let letter = PasswordLetter {
                    title: subject,
                    name: &to.name,
                    email: &to.email,
                    invited_by: *invited_by,
                    new_account: *new_account,
                    link,
                    works_for: &works_for,
                };
                composed(subject.to_owned(), &letter, &PasswordText { letter: &letter })
            }
            Letter::AccountChanged { to, change, by, at, forgot_url } => {
                let (title, password, by_link) = match change {
                    AccountChange::Password { by_link } => ("Your Pricegate password was changed", true, *by_link),
                    AccountChange::Address => ("Your Pricegate e-mail address was changed", false, false),
                };
                let (if_it_was, if_not) = account_advice(*change, *by);
                let letter = AccountLetter {
                    title,
                    name: &to.name,
                    email: &to.email,
                    at: self.calendar.stamp(*at, false),
                    by: *by,
                    password,
                    by_link,
                    if_it_was,
                    if_not,
                    forgot_url,
                };
                composed(title.to_owned(), &letter, &AccountText { letter: &letter })
            }
            Letter::QuotesHandedAway { to, by, taker, quotes } => {
                let rows = handed_rows(quotes);
                let subject = format!("{by} has handed your open quotes to {taker}");
                let letter = HandedAwayLetter { name: &to.name, by, taker, quotes: &rows };
                composed(subject, &letter, &HandedAwayText { letter: &letter })
            }
            Letter::SignerHandedOver { to, by, from, taker, quotes } => {
                let rows = handed_rows(quotes);
                let subject = match rows.as_slice() {
                    [one] => format!("{taker} now signs your quote for {}", one.customer),
                    rows => format!("{taker} now signs {} of your quotes", rows.len()),
                };
                let letter = SignerHandedLetter { name: &to.name, by, from, taker, quotes: &rows };
                composed(subject, &letter, &SignerHandedText { letter: &letter })
            }
            Letter::QuotesHandedOver { to, by, from, quotes, awaiting_url } => {
                let rows = handed_rows(quotes);
                let subject = format!("{by} has handed you the open quotes of {from}");
                // The notices themselves, each with its button, are on one page.
                let awaiting_url =
                    rows.iter().any(|q| q.you_sign && q.to_acknowledge.is_some()).then_some(*awaiting_url);
                let letter = HandoverLetter { name: &to.name, by, from, quotes: &rows, awaiting_url };
                composed(subject, &letter, &HandoverText { letter: &letter })
            }
            Letter::Escalation { notice, to, pending, stranded, told_later, dashboard_url } => {
                let ((people, more_people), (unsigned, more_unsigned)) = (person_rows(pending), person_rows(stranded));
                // What the notice's dashboard totals: the quotes of those
                // pending, and of those who can no longer sign.
                let mut stake = Stake::default();
                pending.iter().chain(stranded.iter()).flat_map(|p| &p.quotes).for_each(|q| stake.add(q));
                let published_at = self.calendar.stamp(notice.published_at, false);
                // Told apart in an inbox: who, where one escalation follows another.
                let subject = match &pending[..] {
                    [] => format!("Escalation: \"{}\" holds up drafts nobody can sign", notice.title),
                    [one] => format!("Escalation: {} has not acknowledged \"{}\"", one.name, notice.title),
                    many => {
                        format!("Escalation: {} salespeople have not acknowledged \"{}\"", many.len(), notice.title)
                    }
                };
                // Those reminded: whose open drafts it holds up.
                let mut pending_count = if pending.len() == 1 {
                    "1 salesperson whose drafts it holds up".to_owned()
                } else {
                    format!("{} salespeople whose drafts it holds up", pending.len())
                };
                if *told_later {
                    pending_count.push_str(", told of it after its publication, on a schedule of their own");
                }
                let again_minutes = pricegate_store::REMIND_NOW_AGAIN_AFTER_MINUTES;
                let html = EscalationHtml {
                    name: &to.name,
                    dashboard_url,
                    title: &notice.title,
                    published_at: published_at.clone(),
                    people: &people,
                    more_people,
                    unsigned: &unsigned,
                    more_unsigned,
                    pending: &pending_count,
                    at_stake: stake.in_words(),
                    past_validity: stake.past_validity(),
                    again_minutes,
                };
                let text = EscalationText {
                    name: &to.name,
                    dashboard_url,
                    title: &notice.title,
                    published_at,
                    people: &people,
                    more_people,
                    unsigned: &unsigned,
                    more_unsigned,
                    pending: &pending_count,
                    at_stake: stake.in_words(),
                    past_validity: stake.past_validity(),
                    again_minutes,
                };
                composed(subject, &html, &text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_written_from_basis_points_either_side_of_zero() {
        assert_eq!(percent(1250), "12.50 %");
        assert_eq!(percent(5), "0.05 %");
        assert_eq!(percent(-5), "-0.05 %");
        assert_eq!(percent(-1250), "-12.50 %");
        assert_eq!(percent(i32::MIN), "-21474836.48 %");
        let read: Vec<String> = [0, 5, 1_250, 10_000, -50, -150, i32::MIN].into_iter().map(percent_number).collect();
        assert_eq!(read, ["0.00", "0.05", "12.50", "100.00", "-0.50", "-1.50", "-21474836.48"]);
    }

    #[test]
    fn a_long_notice_says_first_where_the_readers_quotes_and_link_are() {
        let all = |n| (n, Listed::All);
        let guide = |changes, listed, quotes| long_notice_guide(changes, listed, quotes).unwrap_or_default();
        assert_eq!(
            long_notice_guide(LONG_NOTICE_CHANGES, all(LONG_NOTICE_CHANGES), 3),
            None,
            "no guide to a short list"
        );
        assert_eq!(
            guide(50, all(50), 3),
            "It makes 50 price changes, all listed below, then the 3 quotes of yours it holds up; the link to acknowledge \
             it comes after them."
        );
        assert_eq!(
            guide(21, all(21), 0),
            "It makes 21 price changes, all listed below; the link to acknowledge it comes after them."
        );
        assert!(guide(21, all(21), 1).contains("then the one quote of yours it holds up"));
        assert_eq!(
            guide(500, (12, Listed::OnQuotes { on_quotes: 12 }), 3),
            "It makes 500 price changes. Listed below are the 12 on your quotes, then the 3 quotes of yours it holds up; \
             the link to acknowledge it, after them, opens all 500."
        );
        assert_eq!(
            guide(500, (MAILED_CHANGES, Listed::OnQuotes { on_quotes: 73 }), 3),
            "It makes 500 price changes. Listed below are 50 of the 73 on your quotes, then the 3 quotes of yours it holds \
             up; the link to acknowledge it, after them, opens all 500."
        );
        assert!(
            guide(500, (1, Listed::OnQuotes { on_quotes: 1 }), 1)
                .contains("Listed below is the one on your quote, then the one quote of yours it holds up;"),
            "in the singular"
        );
        assert_eq!(
            guide(500, (FIRST_CHANGES, Listed::First), 0),
            "It makes 500 price changes. Listed below are the first 20; the link to acknowledge it, after them, opens all 500."
        );
        assert_eq!(listed_heading(1, Listed::OnQuotes { on_quotes: 1 }, 1), "Price change on your quote");
        assert_eq!(listed_heading(3, Listed::OnQuotes { on_quotes: 3 }, 2), "Price changes on your quotes");
        assert_eq!(listed_heading(20, Listed::First, 0), "The first 20 price changes");
        assert_eq!(unlisted_changes(50, 50, (0, 2)), None);
        assert_eq!(
            unlisted_changes(500, 488, (0, 2)).as_deref(),
            Some(
                "And 12 more changes, not listed here: the link to acknowledge the notice, below, opens the whole \
                 notice, every change listed, to read before you confirm."
            )
        );
        assert!(unlisted_changes(51, 50, (0, 2)).is_some_and(|u| u.starts_with("And 1 more change,")));
        assert!(
            unlisted_changes(120, 50, (5, 2))
                .is_some_and(|u| u.starts_with("And 70 more changes (5 of them on your quotes),")),
            "the reader's own among those left out are counted"
        );
        assert!(
            unlisted_changes(120, 50, (1, 1))
                .is_some_and(|u| u.starts_with("And 70 more changes (one of them on your quote),"))
        );
    }

    #[test]
    fn names_in_a_right_to_left_script_keep_their_direction_in_the_html() {
        let letter = SignerLetter {
            name: "דנה כהן",
            by: "سامي",
            customer: "שאיבות בע\"מ",
            total: "1,250.50 EUR",
            valid_until: "2027-01-31",
            reference: "Q-1",
            url: "https://pricegate.example/quotes/1",
            to_acknowledge: None,
        };
        let html = letter.render().expect("rendered");
        assert!(html.contains("<p>Hello <bdi>דנה כהן</bdi>,</p>"), "{html}");
        assert!(html.contains("<p><bdi>سامي</bdi> has named you"), "{html}");
        assert!(html.contains("<td><bdi>שאיבות בע&#34;מ</bdi></td>"), "{html}");
    }

    #[test]
    fn a_request_for_approval_names_the_draft_s_owner_and_signer() {
        assert_eq!(owner_and_signer(("Sam", "Sam")).as_deref(), Some("Owner and signer: Sam"));
        assert_eq!(owner_and_signer(("Ana", "Sam")).as_deref(), Some("Owner: Ana; signer: Sam"));
        assert_eq!(owner_and_signer(("", "Sam")).as_deref(), Some("Signer: Sam"));
        assert_eq!(owner_and_signer(("", "")), None);
    }

    #[test]
    fn a_finalisation_names_who_approved_keeping_which_old_prices() {
        let skus = |n: usize| (1..=n).map(|i| format!("PUMP-{i}")).collect::<Vec<_>>();
        let said = |by: &str, n: usize| old_prices_kept(&pricegate_store::OldPricesKept { by, skus: &skus(n) });
        assert_eq!(said("Fiona", 1), "Fiona, in finance, approved keeping the old prices of PUMP-1.");
        assert_eq!(said("Fiona", 2), "Fiona, in finance, approved keeping the old prices of PUMP-1 and PUMP-2.");
        assert_eq!(said("", 3), "Finance approved keeping the old prices of PUMP-1, PUMP-2 and PUMP-3.");
        assert_eq!(
            said("Fiona", 5),
            "Fiona, in finance, approved keeping the old prices of PUMP-1, PUMP-2, PUMP-3 and 2 more products."
        );
        assert_eq!(said("Fiona", 0), "Fiona, in finance, approved keeping the old prices of some of its lines.");
    }

    #[test]
    fn an_escalation_lists_first_whose_drafts_the_notice_changes_and_leaves_the_rest_to_the_dashboard() {
        let person = |name: String, quotes: Vec<BlockedQuote>| PendingPerson {
            email: format!("{name}@pricegate.test"),
            name,
            quotes,
        };
        let mut people: Vec<PendingPerson> = (0..60).map(|i| person(format!("Idle {i:02}"), Vec::new())).collect();
        people.push(person("Held".into(), vec![quote(0, None)]));
        people.push(person("Changed".into(), (0..8).map(|_| quote(1_000, None)).collect()));
        let (rows, more) = person_rows(&people);
        assert_eq!((rows.len(), more), (ESCALATED_PEOPLE, 12));
        let names: Vec<&str> = rows.iter().take(3).map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Changed", "Held", "Idle 00"]);
        assert_eq!((rows[0].quotes.len(), rows[0].more_quotes), (ESCALATED_QUOTES, 3));
        assert_eq!((rows[1].quotes.len(), rows[1].more_quotes), (1, 0));
        let (few, more) = person_rows(&people[..2]);
        assert_eq!((few.len(), more), (2, 0));
    }

    #[test]
    fn a_long_notices_e_mail_lists_the_changes_on_the_readers_quotes_or_else_the_first() {
        let rows = |n: usize| {
            (0..n)
                .map(|i| ChangeRow {
                    sku: format!("SKU-{i:03}"),
                    product: format!("Product {i}"),
                    price_before: String::new(),
                    new_price: "1.00 EUR".into(),
                    change: String::new(),
                    effective_on: "2026-12-06".into(),
                    replaced: String::new(),
                })
                .collect::<Vec<_>>()
        };
        let skus = |listed: &[ChangeRow]| listed.iter().map(|c| c.sku.clone()).collect::<Vec<_>>();
        let on =
            |skus: &[&str]| BlockedQuote { priced: skus.iter().map(|s| s.to_string()).collect(), ..quote(0, None) };
        let (listed, which) = listed_changes(rows(MAILED_CHANGES), &[]);
        assert_eq!((listed.len(), which), (MAILED_CHANGES, Listed::All), "up to the limit, every change");
        let (listed, which) = listed_changes(rows(500), &[on(&["SKU-420", "SKU-007"]), on(&["SKU-007", "SKU-100"])]);
        assert_eq!(which, Listed::OnQuotes { on_quotes: 3 });
        assert_eq!(skus(&listed), ["SKU-007", "SKU-100", "SKU-420"], "each once, as the notice lists them");
        let (listed, which) = listed_changes(rows(500), &[on(&[]), on(&["NOT-IN-IT"])]);
        assert_eq!(which, Listed::First, "quotes it holds up without a line it prices");
        assert_eq!(skus(&listed), skus(&rows(FIRST_CHANGES)));
        let everything: Vec<String> = skus(&rows(500));
        let every: Vec<&str> = everything.iter().map(String::as_str).collect();
        let (listed, which) = listed_changes(rows(500), &[on(&every)]);
        assert_eq!(
            (listed.len(), which),
            (MAILED_CHANGES, Listed::OnQuotes { on_quotes: 500 }),
            "never the whole notice"
        );
    }

    #[test]
    fn a_reminder_says_which_of_its_prices_a_notice_published_since_replaced() {
        let change = |sku: &str, replaced_by| PriceChangeView {
            sku: sku.into(),
            product_name: format!("Product {sku}"),
            currency: "EUR".into(),
            unit_price_minor: 10_500,
            effective_on: chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap_or_default(),
            in_force_from: None,
            price_before_minor: Some(9_800),
            replaced_by,
        };
        let correction = pricegate_store::views::ReplacedBy {
            title: "Correction: valves".into(),
            unit_price_minor: 10_200,
            was_in_force: false,
            ended_by: None,
        };
        let notice = NoticeContent {
            id: uuid::Uuid::nil(),
            title: "Valves: new list prices".into(),
            body: "From January.".into(),
            published_at: chrono::Utc::now(),
            changes: vec![change("VALVE-B50", Some(correction)), change("PUMP-1", None)],
            published_by: "Fiona".into(),
            reply_to: Some("fiona@pricegate.test".into()),
        };
        let to = pricegate_store::Recipient {
            id: uuid::Uuid::nil(),
            name: "Sara".into(),
            email: "sara@pricegate.test".into(),
        };
        let letter = Letter::Reminder {
            notice: &notice,
            to: &to,
            quotes: &[],
            ack_url: "http://pricegate.test/ack/x",
            awaiting_url: "http://pricegate.test/notices/awaiting",
            number: 1,
            of: 3,
        };
        let composer = TemplateComposer { calendar: Calendar::UTC, link_ttl: chrono::Duration::days(14) };
        let mail = composer.compose(&letter).expect("the reminder is written");
        let replaced = "Never in force: \u{201c}Correction: valves\u{201d}, published since, sets 102.00 EUR from the same day instead.";
        assert_eq!(mail.text.matches(replaced).count(), 1, "{}", mail.text);
        // In the HTML part, the amount kept on one line.
        let nowrap = "<span style=\"white-space: nowrap;\">102.00 EUR</span>";
        assert_eq!(mail.html.matches(&replaced.replace("102.00 EUR", nowrap)).count(), 1, "{}", mail.html);
        let valve =
            mail.text.split_once("VALVE-B50").and_then(|(_, rest)| rest.split("PUMP-1").next()).unwrap_or_default();
        assert!(valve.contains(replaced), "under the valve's line: {}", mail.text);
    }

    #[test]
    fn a_notice_says_whom_to_ask_only_while_its_publisher_can_answer() {
        let composer = TemplateComposer { calendar: Calendar::UTC, link_ttl: chrono::Duration::days(14) };
        let to = pricegate_store::Recipient {
            id: uuid::Uuid::nil(),
            name: "Sara".into(),
            email: "sara@pricegate.test".into(),
        };
        let intro = |reply_to: Option<&str>| {
            let notice = NoticeContent {
                id: uuid::Uuid::nil(),
                title: "Valves: new list prices".into(),
                body: "From January.".into(),
                published_at: chrono::Utc::now(),
                changes: Vec::new(),
                published_by: "Fiona Frank".into(),
                reply_to: reply_to.map(str::to_owned),
            };
            let letter = Letter::Publication {
                notice: &notice,
                to: &to,
                quotes: &[],
                ack_url: "http://pricegate.test/ack/x",
                told: Told::AtPublication,
            };
            composer.compose(&letter).expect("the notice is written").text
        };
        let active = intro(Some("fiona@pricegate.test"));
        assert!(
            active.contains("Fiona Frank, in finance, has published a price notice. Questions about it? Reply to this e-mail to ask them."),
            "{active}"
        );
        let left = intro(None);
        assert!(left.contains("Fiona Frank, in finance, published this price notice."), "{left}");
        assert!(!left.contains("ask them"), "{left}");
    }

    #[test]
    fn a_links_lifetime_reads_in_its_largest_whole_unit() {
        let words = |minutes| lifetime(chrono::Duration::minutes(minutes));
        assert_eq!(words(14 * 24 * 60), "14 days");
        assert_eq!(words(24 * 60), "1 day");
        assert_eq!(words(36 * 60), "36 hours");
        assert_eq!(words(60), "1 hour");
        assert_eq!(words(90), "90 minutes");
        assert_eq!(lifetime(chrono::Duration::seconds(20)), "20 seconds");
        assert_eq!(lifetime(chrono::Duration::seconds(90)), "90 seconds", "not rounded to a minute");
        assert_eq!(lifetime(chrono::Duration::milliseconds(10)), "1 second", "never 0");
    }

    fn quote(delta_minor: i64, expired_on: Option<chrono::NaiveDate>) -> BlockedQuote {
        quote_beyond(delta_minor, 0, expired_on)
    }

    fn quote_beyond(delta_minor: i64, delta_after_minor: i64, expired_on: Option<chrono::NaiveDate>) -> BlockedQuote {
        BlockedQuote {
            id: uuid::Uuid::nil(),
            url: "http://pricegate.test/quotes/x".into(),
            customer_name: "Greta Berg".into(),
            customer_company: String::new(),
            currency: "EUR".into(),
            total_minor: 250_000,
            delta_minor,
            delta_after_minor,
            changes_ahead: None,
            valid_until: chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default(),
            expired_on,
            overtaken: Vec::new(),
            approved: Vec::new(),
            priced: Vec::new(),
        }
    }

    fn held_up(currency: &str, total_minor: i64, delta_minor: i64, expired: bool) -> BlockedQuote {
        let valid_until = chrono::NaiveDate::from_ymd_opt(2026, 12, 9).expect("a date");
        BlockedQuote {
            currency: currency.into(),
            total_minor,
            delta_minor,
            valid_until,
            expired_on: expired.then_some(valid_until),
            ..quote(0, None)
        }
    }

    #[test]
    fn the_stake_sums_wide_by_currency_and_leaves_drafts_past_their_validity_out() {
        let mut stake = Stake::default();
        for q in [
            held_up("EUR", 10_000, 1_000, false),
            held_up("EUR", 6_000, 600, false),
            held_up("EUR", 7_000, 700, true),
            held_up("USD", 5_000, 0, false),
        ] {
            stake.add(&q);
        }
        assert_eq!(
            stake.in_words().as_deref(),
            Some(
                "2 drafts worth 160.00 EUR, +16.00 EUR on them while they are valid; 1 draft worth 50.00 USD, no change while it is valid"
            )
        );
        assert_eq!(
            stake.past_validity().as_deref(),
            Some("1 draft it holds up is past its validity and not counted: its owner must extend it first.")
        );

        // Changed and changed back while valid: not said to be no change.
        let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("a date");
        let ahead = ChangesAhead::of(&[(day(3), 1_000), (day(8), 0)], day(1));
        let meanwhile = || BlockedQuote { changes_ahead: ahead, ..held_up("EUR", 10_000, 0, false) };
        let mut stake = Stake::default();
        stake.add(&meanwhile());
        stake.add(&held_up("USD", 5_000, 0, false));
        stake.add(&meanwhile());
        stake.add(&held_up("USD", 5_000, 0, false));
        stake.add(&BlockedQuote { changes_ahead: ahead, ..held_up("USD", 5_000, 0, false) });
        assert_eq!(
            stake.in_words().as_deref(),
            Some(
                "2 drafts worth 200.00 EUR, a change for a while, back where they started by the end of their \
                 validity; 3 drafts worth 150.00 USD, no change by the end of their validity, though 1 of them \
                 changes for a while"
            )
        );

        // Some raised, some lowered: said apart, never cancelled into no change.
        let mut mixed = Stake::default();
        mixed.add(&held_up("EUR", 10_000, 1_000, false));
        mixed.add(&held_up("EUR", 10_000, -1_000, false));
        mixed.add(&held_up("EUR", 10_000, 2_000, false));
        mixed.add(&held_up("EUR", 10_000, 0, false));
        assert_eq!(
            mixed.in_words().as_deref(),
            Some(
                "4 drafts worth 400.00 EUR, +30.00 EUR on 2 of them, -10.00 EUR on 1 and none on 1 while they are valid, \
                 +20.00 EUR in all"
            ),
            "each of the 4 accounted for"
        );
        mixed.add(&BlockedQuote { changes_ahead: ahead, ..held_up("EUR", 10_000, 0, false) });
        assert!(
            mixed.in_words().is_some_and(|said| said.contains("and none on 1 while")
                && said.ends_with("+20.00 EUR in all, and 1 of them changes for a while")),
            "{:?}",
            mixed.in_words()
        );
        let mut few = Stake::default();
        for delta in [4_200, 0, 0] {
            few.add(&held_up("EUR", 10_000, delta, false));
        }
        assert_eq!(
            few.in_words().as_deref(),
            Some("3 drafts worth 300.00 EUR, +42.00 EUR on 1 of them while they are valid"),
            "not 'on them': two do not change"
        );
        let mut cancelling = Stake::default();
        cancelling.add(&held_up("EUR", 10_000, 1_000, false));
        cancelling.add(&held_up("EUR", 10_000, -1_000, false));
        assert_eq!(
            cancelling.in_words().as_deref(),
            Some(
                "2 drafts worth 200.00 EUR, +10.00 EUR on 1 of them and -10.00 EUR on 1 while they are valid, 0.00 EUR in all"
            )
        );

        let mut huge = Stake::default();
        for _ in 0..2 {
            huge.add(&held_up("EUR", i64::MAX, i64::MIN + 1, false));
        }
        assert_eq!(
            huge.in_words().as_deref(),
            Some(
                "2 drafts worth more than 92,233,720,368,547,758.07 EUR, a fall of more than \
                 92,233,720,368,547,758.07 EUR on them while they are valid"
            ),
            "never wrapped, nor stopped at the largest amount as if it were the sum"
        );
        assert_eq!(huge.past_validity(), None);
    }

    #[test]
    fn quotes_the_notice_moves_not_are_told_it_asks_only_its_acknowledgement_not_that_nothing_else_waits() {
        let quotes = quote_rows(&[quote(0, None)]);
        let text = |moves_any| {
            NoticeText {
                guide: None,
                intro: "Finance has published a price notice.",
                name: "Sam",
                title: "Freight",
                body: "Freight is billed separately.",
                changes_heading: "Price changes",
                changes: &[],
                unlisted: None,
                whole_notice: None,
                quotes: &quotes,
                moves_any,
                ack_url: "http://pricegate.test/ack/x",
                link_lifetime: "14 days",
                awaiting_url: None,
            }
            .render()
            .unwrap_or_default()
        };
        let unmoved = text(false).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            unmoved.contains(
                "Your quote on hold until you acknowledge it (you sign it, and it was drafted before the notice). \
                 The notice does not change its total: acknowledging it is all this notice asks."
            ),
            "one quote, in the singular: {unmoved}"
        );
        assert!(!unmoved.contains("wait only"), "their lines may need repricing for another notice: {unmoved}");
        assert!(!text(true).contains("does not change its total"));
    }

    #[test]
    fn a_quote_says_what_the_notice_does_to_it_in_words() {
        let lapsed = chrono::NaiveDate::from_ymd_opt(2026, 11, 30);
        // What is to come, seen from 2026-11-30, of the days a notice changes the total on.
        let day = |d| match d {
            0 => chrono::NaiveDate::from_ymd_opt(2026, 11, 29).expect("a date"),
            d => chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("a date"),
        };
        let ahead = |days: &[(u32, i64)]| {
            let days: Vec<_> = days.iter().map(|(d, total)| (day(*d), *total)).collect();
            ChangesAhead::of(&days, day(0).succ_opt().expect("a day"))
        };
        let once = ahead(&[(1, 3_000)]);
        let steps_down = ahead(&[(1, -7_000), (2, -3_000), (3, 0)]);
        let in_force_then_steps = ahead(&[(0, -7_000), (1, -3_000), (3, 0)]);
        let only_back_to_come = ahead(&[(0, -7_000), (3, 0)]);
        let away_and_back = ahead(&[(1, -7_000), (3, 0)]);
        let up_and_down = ahead(&[(1, -7_000), (2, 5_000), (3, 0)]);
        let offsetting = ahead(&[(1, 0)]);
        let offsetting_then_up = ahead(&[(1, 0), (3, 10_000)]);
        let rows = quote_rows(&[
            quote(12_000, None),
            quote(-500, None),
            quote(0, None),
            quote(9_000, lapsed),
            quote_beyond(0, 40_000, None),
            quote_beyond(-6_000, 40_000, None),
            BlockedQuote { overtaken: vec!["VALVE-C50".into()], ..quote(0, None) },
            BlockedQuote { approved: vec!["PUMP-C250".into()], ..quote(0, None) },
            BlockedQuote { overtaken: vec!["VALVE-C50".into()], approved: vec!["PUMP-C250".into()], ..quote(0, None) },
            BlockedQuote { changes_ahead: once, ..quote(3_000, None) },
            BlockedQuote { changes_ahead: steps_down, ..quote(3_000, None) },
            BlockedQuote { changes_ahead: in_force_then_steps, ..quote(3_000, None) },
            BlockedQuote { changes_ahead: steps_down, ..quote_beyond(-6_000, 40_000, None) },
            BlockedQuote { changes_ahead: steps_down, ..quote(0, None) },
            BlockedQuote {
                changes_ahead: in_force_then_steps,
                overtaken: vec!["VALVE-C50".into()],
                ..quote_beyond(0, 40_000, None)
            },
            BlockedQuote { changes_ahead: only_back_to_come, ..quote(0, None) },
            BlockedQuote { changes_ahead: away_and_back, ..quote(0, None) },
            BlockedQuote { changes_ahead: up_and_down, ..quote(0, None) },
            BlockedQuote { changes_ahead: offsetting, ..quote(0, None) },
            BlockedQuote { changes_ahead: offsetting_then_up, ..quote(10_000, None) },
        ]);
        let said: Vec<&str> = rows.iter().map(|r| r.delta.as_str()).collect();
        assert!(
            moves_any(&[BlockedQuote { changes_ahead: away_and_back, ..quote(0, None) }]),
            "changed and changed back"
        );
        assert!(!moves_any(&[quote(0, None)]));
        assert_eq!(
            said,
            [
                "+120.00 EUR on its total while it is valid",
                "-5.00 EUR on its total while it is valid",
                "its total does not change",
                "expired on 2026-11-30",
                "its total does not change while it is valid (until 2026-12-05); prices dated after that would change it by +400.00 EUR",
                "-60.00 EUR on its total while it is valid (until 2026-12-05), and prices dated after that would make \
                 it +340.00 EUR in all",
                "its total does not change by this notice: a later notice has set the price of VALVE-C50 since",
                "its total does not change by this notice: finance approved keeping the price quoted for PUMP-C250",
                "its total does not change by this notice: a later notice has set the price of VALVE-C50 since, and \
                 finance approved keeping the price quoted for PUMP-C250",
                "+30.00 EUR on its total from 2026-12-01 while it is valid; finalised before 2026-12-01, it keeps its \
                 prices as far as this notice goes",
                "+30.00 EUR on its total while it is valid, in steps from 2026-12-01; finalised before 2026-12-01, it \
                 keeps its prices as far as this notice goes",
                "+30.00 EUR on its total while it is valid, in steps, the next on 2026-12-01",
                "-60.00 EUR on its total while it is valid (until 2026-12-05), in steps from 2026-12-01, and prices \
                 dated after that would make it +340.00 EUR in all; finalised before 2026-12-01, it keeps its prices \
                 as far as this notice goes",
                "its total changes by as much as -70.00 EUR while it is valid, in steps from 2026-12-01, and is back \
                 where it was from 2026-12-03; finalised before 2026-12-01, it keeps its prices as far as this notice goes",
                "its total changes by as much as -70.00 EUR while it is valid, in steps, the next on 2026-12-01, and is \
                 back where it was from 2026-12-03; prices dated after 2026-12-05, when its validity ends, would change it \
                 by +400.00 EUR",
                "its total is changed by -70.00 EUR until 2026-12-03, then back where it was",
                "its total changes by -70.00 EUR from 2026-12-01, and is back where it was from 2026-12-03; finalised \
                 before 2026-12-01, it keeps its prices as far as this notice goes",
                "its total changes by between -70.00 EUR and +50.00 EUR while it is valid, in steps from 2026-12-01, \
                 and is back where it was from 2026-12-03; finalised before 2026-12-01, it keeps its prices as far as \
                 this notice goes",
                "its total does not change; finalised before 2026-12-01, it keeps its prices as far as this notice goes",
                "+100.00 EUR on its total from 2026-12-03 while it is valid; finalised before 2026-12-01, it keeps its \
                 prices as far as this notice goes",
            ]
        );
    }
}
