//! The rows a quote's pages are made of: its lines, the notices pending for it and what they do to them,
//! its prices at old and new, the evidence kept at finalisation.

use std::collections::HashMap;

use pricegate_domain::pricing::ChangesAhead;
use pricegate_domain::{Calendar, last_in_force};
use pricegate_mail::compose::percent;
use pricegate_mail::render_markdown;
use pricegate_store::views::{GateView, LineImpactView, PendingNoticeView, QuoteView};
use uuid::Uuid;

use crate::AppState;
use crate::pages::{PageError, money, signed_money};

use super::pending::{already_carried, takes_force_after, while_valid};

pub(in crate::pages) struct LineRow {
    pub(in crate::pages) sku: String,
    pub(in crate::pages) product: String,
    pub(in crate::pages) quantity: String,
    pub(in crate::pages) unit_price: String,
    /// What the price is for ("each", "box of 10"), as the line was priced.
    pub(in crate::pages) unit: String,
    pub(in crate::pages) discount: String,
    pub(in crate::pages) total: String,
    /// On a draft, the business's day its product was withdrawn from sale.
    pub(in crate::pages) withdrawn_on: Option<String>,
    /// On a draft's page, what its gate says of the line's price, marked
    /// beside its product and linked to the gate's section below the lines.
    pub(in crate::pages) gate_mark: Option<&'static str>,
}

pub(super) struct ImpactRow {
    pub(super) sku: String,
    pub(super) quantity: String,
    /// The line's discount, which both totals keep.
    pub(super) discount: String,
    pub(super) old_price: String,
    pub(super) new_price: String,
    pub(super) effective_on: InForce,
    /// The change takes force only after the quote's validity ends.
    pub(super) after_validity: bool,
    /// It is the notice's price the line has when the quote's validity
    /// ends, and the line counts (not overtaken, nor waived): the others
    /// are shown muted.
    pub(super) counts: bool,
    /// Where the last price comes after the quote's validity, the line's
    /// change when the validity ends (an earlier price's, or nothing);
    /// `delta` is the last price's.
    pub(super) delta_while_valid: Option<String>,
    pub(super) delta: String,
    /// `delta` is a sentence ("none: no longer in force"), not an amount: it wraps.
    pub(super) delta_in_words: bool,
    /// When another pending notice has the last word on this line: which, and
    /// from when its price is in force (this change and that one do not add up).
    pub(super) later: Option<String>,
    /// The notice's other prices for this product before this one, by date.
    pub(super) earlier: Vec<EarlierRow>,
}

/// A price a notice sets for a product before its last: "540.00 EUR
/// (+400.00 EUR on the line)" (its day in the "Effective" column), and
/// whether it takes force only after the quote's validity ends.
pub(super) struct EarlierRow {
    pub(super) price: String,
    /// The day it takes force, as [`ImpactRow::effective_on`] says it.
    pub(super) on: InForce,
    pub(super) after_validity: bool,
    /// As [`ImpactRow::counts`].
    pub(super) counts: bool,
    /// As [`ImpactRow::later`], when this is the notice's price that counts
    /// while the quote is valid.
    pub(super) later: Option<String>,
}

/// The day a notice's price takes force, as
/// [`pricegate_mail::compose::in_force_from`] says it, with the day apart
/// from what follows it (", on publication (dated 2026-12-01)"): the page
/// keeps the day on one line and lets the words wrap.
pub(super) struct InForce {
    pub(super) day: String,
    pub(super) rest: String,
}

impl InForce {
    pub(super) fn of(effective_on: chrono::NaiveDate, published_on: chrono::NaiveDate) -> InForce {
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

pub(super) struct PendingRow {
    pub(super) notice_id: Uuid,
    pub(super) title: String,
    pub(super) published_at: String,
    pub(super) body_html: String,
    pub(super) impact: Vec<ImpactRow>,
    pub(super) total_delta: String,
    /// What the notice does to the total while the quote is valid, when
    /// some of its prices come after (so `total_delta` is not that).
    pub(super) while_valid: Option<String>,
    /// What the notice does to the total in words, with the day it starts,
    /// while none of its changes is in force yet or more are to come
    /// ("finalised before 2026-12-20, it keeps its prices as far as this notice goes").
    pub(super) ahead: Option<String>,
    /// The total changes and changes back while the quote is valid: its
    /// footer's 0.00 is where it ends, not that nothing moves meanwhile.
    pub(super) meanwhile: bool,
    /// The quote already carries every price the notice sets for its lines
    /// (repriced before it was acknowledged): its table shows no change.
    pub(super) already_carried: bool,
}

pub(super) struct SupersededRow {
    pub(super) sku: String,
    pub(super) quantity: String,
    pub(super) quoted: String,
    pub(super) current: String,
}

/// What today's prices would do to the total of the lines at an old price.
pub(super) struct SupersededGap {
    /// Signed (`+20.00 EUR`) for a rise; how much less, for a fall.
    pub(super) amount: String,
    /// Today's prices are lower: keeping the old ones charges the customer
    /// more, which waives nothing.
    pub(super) falls: bool,
}

pub(super) struct EvidenceRow {
    /// The notice, to read it as it was published.
    pub(super) notice_id: Uuid,
    pub(super) title: String,
    pub(super) published_at: String,
    pub(super) acknowledged_at: String,
    pub(super) channel: String,
}

/// One product's price in force when the quote was finalised, and where it
/// came from, as the evidence keeps it.
pub(super) struct PriceSourceRow {
    pub(super) sku: String,
    pub(super) price: String,
    /// A price its lines were signed at other than the one in force, which
    /// finance approved keeping (see the override), on a row of its own
    /// under that one.
    pub(super) signed: bool,
    /// The price in force, with a line signed at an old price on the row
    /// below: said on this row, which a wide table labels only "Unit price".
    pub(super) kept_below: bool,
    /// The notice whose change set it; `None` for the price list's own.
    pub(super) notice: Option<PriceNoticeRow>,
}

impl PriceNoticeRow {
    pub(super) fn of(n: &pricegate_store::views::PriceSetBy, calendar: pricegate_domain::Calendar) -> Self {
        PriceNoticeRow {
            id: n.notice_id,
            title: n.title.clone(),
            published_at: calendar.stamp(n.published_at, true),
            in_force_from: pricegate_mail::compose::in_force_from(n.effective_on, calendar.date_of(n.published_at)),
            acknowledged: n.acknowledged_at.map(|at| match n.channel.as_deref() {
                Some(channel) => format!("{}, {}", calendar.stamp(at, true), crate::pages::channel_in_words(channel)),
                None => calendar.stamp(at, true),
            }),
        }
    }
}

pub(super) struct PriceNoticeRow {
    pub(super) id: Uuid,
    pub(super) title: String,
    pub(super) published_at: String,
    pub(super) in_force_from: String,
    /// When and how the signer acknowledged it, in words; `None` if they had not.
    pub(super) acknowledged: Option<String>,
}

pub(super) struct Repriced {
    pub(super) old_total: String,
    pub(super) new_total: String,
}

/// A price published to take force while a draft is valid.
pub(in crate::pages) struct UpcomingRow {
    pub(in crate::pages) sku: String,
    pub(in crate::pages) quoted: String,
    pub(in crate::pages) new_price: String,
    pub(in crate::pages) effective_on: String,
    pub(in crate::pages) notice_id: Uuid,
    pub(in crate::pages) title: String,
    /// Its notice came before the quote was drafted, so the gate does not
    /// wait for it, and the signer has not acknowledged it.
    pub(in crate::pages) unread: bool,
    /// It is the price the line carries (a price put back): from then the
    /// line needs no repricing for it.
    pub(in crate::pages) as_quoted: bool,
}

/// How many notices of `rows` the signer has not acknowledged (a notice
/// may set prices for several of the quote's products).
pub(in crate::pages) fn unread_count(rows: &[UpcomingRow]) -> usize {
    let unread: std::collections::HashSet<Uuid> = rows.iter().filter(|u| u.unread).map(|u| u.notice_id).collect();
    unread.len()
}

/// The quote's lines as its pages show them; a draft's say which of its
/// products have been withdrawn from sale (it keeps them).
pub(in crate::pages) async fn line_rows(app: &AppState, quote: &QuoteView) -> Result<Vec<LineRow>, PageError> {
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
pub(super) fn gate_marks(
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
pub(in crate::pages) async fn upcoming_rows(
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

/// How a quote's page shows pending notice `p` (`ahead`: its changes still to
/// come), with what it does to each of the quote's lines, as on `today`; `later`: the lines
/// another pending notice has the last word on ([`super::pending::later_changes`]).
pub(super) fn pending_row(
    p: PendingNoticeView,
    ahead: Option<ChangesAhead>,
    quote: &QuoteView,
    later: &HashMap<(Uuid, Uuid), String>,
    (calendar, today): (Calendar, chrono::NaiveDate),
) -> PendingRow {
    let currency = &quote.currency;
    let impact = p.impact.lines.iter().map(|l| impact_row(l, &p, quote, later, (calendar, today))).collect();
    PendingRow {
        notice_id: p.notice_id,
        while_valid: while_valid(&p).map(|delta| signed_money(currency, delta)),
        // Said while some of it is to come, or some comes only after the validity.
        ahead: (ahead.is_some() || p.impact.total_delta_minor != p.impact.delta_while_valid_minor)
            .then(|| crate::ack::effect_on_total(&p.impact, currency, quote.valid_until, ahead)),
        meanwhile: ahead.is_some_and(|a| a.moves_total()) && p.impact.delta_while_valid_minor == 0,
        already_carried: already_carried(&p, later),
        title: p.title,
        published_at: calendar.stamp(p.published_at, true),
        body_html: render_markdown(&p.body, 3),
        impact,
        total_delta: signed_money(currency, p.impact.total_delta_minor),
    }
}

/// What pending notice `p` does to line `l` of `quote`, with the prices of it
/// another notice replaced or has the last word on.
fn impact_row(
    l: &LineImpactView,
    p: &PendingNoticeView,
    quote: &QuoteView,
    later: &HashMap<(Uuid, Uuid), String>,
    (calendar, today): (Calendar, chrono::NaiveDate),
) -> ImpactRow {
    let currency = &quote.currency;
    // One published after the quote's validity ended counts nothing.
    let published_on = calendar.date_of(p.published_at);
    let after_validity = |on| takes_force_after(on, published_on, quote.valid_until);
    // A mark that another notice has the last word goes on this
    // notice's price in force at the end of the validity.
    let counted_step = last_in_force(l.steps(), quote.valid_until).filter(|_| quote.valid_until >= published_on);
    let counted = counted_step.map(|(on, _)| on);
    // A price another notice replaced says so, and counts nothing: by a
    // correction published since, for its day ahead, or by today.
    let instead = |overtaken: Option<i64>, on: chrono::NaiveDate| {
        overtaken.map(|now| match on > today {
            true => format!("another notice, published since, sets {} from {on} instead", money(currency, now)),
            false => format!("another notice set {}, the price in force today", money(currency, now)),
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
        discount: quote.lines.iter().find(|q| q.id == l.line_id).map_or_else(String::new, |q| percent(q.discount_bp)),
        old_price: money(currency, l.old_unit_price_minor),
        new_price: money(currency, l.new_unit_price_minor),
        effective_on: InForce::of(l.effective_on, published_on),
        after_validity: after_validity(l.effective_on),
        counts: counted == Some(l.effective_on) && last_overtaken.is_none() && !l.waived_by_approval,
        // The line's change while the quote is valid, where an earlier price is
        // the one it has then: before the last price's, which comes after.
        delta_while_valid: match counted_step {
            _ if gone || l.waived_by_approval => None,
            Some((on, delta)) if on != l.effective_on => Some(signed_money(currency, delta)),
            // Every price of it comes after the validity: nothing while valid.
            None => Some(signed_money(currency, 0)),
            Some(_) => None,
        },
        delta: match last_overtaken {
            _ if gone => "none: no longer in force".to_owned(),
            _ if l.waived_by_approval => "none: finance approved keeping the price quoted".to_owned(),
            // Its last price replaced, an earlier one still counts.
            Some(_) => signed_money(currency, 0),
            None => signed_money(currency, l.delta_minor),
        },
        delta_in_words: gone || l.waived_by_approval,
        later: later_on(l.effective_on, last_overtaken),
        earlier: l
            .earlier
            .iter()
            .map(|s| EarlierRow {
                price: format!(
                    "{} ({} on the line)",
                    money(currency, s.unit_price_minor),
                    signed_money(currency, s.delta_minor)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
