//! Quote arithmetic and the price impact of a notice on a quote.

use std::collections::{BTreeMap, HashMap};

use crate::{Invalid, MinorUnits};

/// The total of one line: unit price × quantity, less the discount, rounded
/// half away from zero to a whole minor unit. Computed in `i128` so no
/// intermediate product can overflow; the bounds on price and quantity keep
/// the result within `i64`.
pub fn line_total(unit_price_minor: MinorUnits, quantity: i64, discount_bp: i32) -> MinorUnits {
    let gross = i128::from(unit_price_minor) * i128::from(quantity);
    let net_times_10k = gross * i128::from(10_000 - discount_bp);
    let rounded = if net_times_10k >= 0 { (net_times_10k + 5_000) / 10_000 } else { (net_times_10k - 5_000) / 10_000 };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// A quote line as the pricing rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub line_id: uuid::Uuid,
    pub sku: String,
    pub quantity: i64,
    pub unit_price_minor: MinorUnits,
    pub discount_bp: i32,
}

impl PricedLine {
    pub fn total(&self) -> MinorUnits {
        line_total(self.unit_price_minor, self.quantity, self.discount_bp)
    }
}

/// The sum of the line totals, or an error naming `lines` when it would not fit.
pub fn quote_total(lines: &[PricedLine]) -> Result<MinorUnits, Invalid> {
    lines.iter().try_fold(0i64, |sum, line| {
        sum.checked_add(line.total()).ok_or_else(|| Invalid::new("lines", "The quote total is too large to represent."))
    })
}

/// One structured change a notice makes to the price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChange {
    pub sku: String,
    pub unit_price_minor: MinorUnits,
    pub effective_on: chrono::NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineImpact {
    pub line_id: uuid::Uuid,
    pub sku: String,
    pub quantity: i64,
    pub old_unit_price_minor: MinorUnits,
    pub new_unit_price_minor: MinorUnits,
    pub effective_on: chrono::NaiveDate,
    pub old_total_minor: MinorUnits,
    pub new_total_minor: MinorUnits,
    pub delta_minor: MinorUnits,
    /// The notice's other prices for this line's product, in force before
    /// the one it leaves in force: by date, each with its change to the
    /// line's total. Empty when the notice changes the product once.
    pub earlier: Vec<PriceStep>,
    /// The price in force today, when every price of the notice for this
    /// line took force by today and the last of them is not it: another
    /// notice has the last word (a later date, or the same published later), and the notice does nothing more to
    /// the line ([`NoticeImpact::overtaken`]); or, for the last price, dated
    /// ahead, the price a correction published since sets for its day
    /// ([`NoticeImpact::overtaken_later`]). That price counts 0 in totals, and
    /// so does the whole line when none of its `earlier` prices counts
    /// either ([`LineImpact::counts`]).
    pub overtaken_by: Option<MinorUnits>,
    /// Finance approved finalising this line at the price it carries, and
    /// every price of the notice for it took force by today: the approval
    /// waives what the notice does to it ([`NoticeImpact::waived`]). The
    /// line counts 0 in totals.
    pub waived: bool,
}

/// A price a notice sets for a while, and what it does to one line's total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceStep {
    pub unit_price_minor: MinorUnits,
    pub effective_on: chrono::NaiveDate,
    pub delta_minor: MinorUnits,
    /// The price another notice has in force instead, for this step's
    /// while: a correction published since that sets another price for its
    /// day ahead, or the price in force today, when this step's day has come
    /// and it is not ([`NoticeImpact::overtaken`]). The step changes nothing:
    /// it counts 0 until the next.
    pub overtaken_by: Option<MinorUnits>,
}

/// What is still to come of a notice's changes to a quote's total, seen
/// from a day: the next day one takes force, whether one is in force
/// already, and whether they come in steps (so that what the notice does by
/// the end of the quote's validity is not what it does from `next`); and
/// the next day its prices change, which may come before (lines offsetting
/// one another change the prices, not the total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangesAhead {
    /// The next day a change to the total takes force (`prices_next`, when
    /// none is to come).
    pub next: chrono::NaiveDate,
    /// The last day a change to the total takes force while the quote is
    /// valid (`next`, when it is the only one to come): where a change
    /// undone while the quote is valid is undone.
    pub last: chrono::NaiveDate,
    /// Whether one took force by `today` already.
    pub in_force_already: bool,
    /// Whether the total changes on more than one day.
    pub in_steps: bool,
    /// How many of the days the total changes are still to come (1: only
    /// `next`; 0: only prices that offset one another are).
    pub to_come: usize,
    /// Of the changes to the total a quote finalised from `today` on could
    /// meet (the one in force today, and those to come), the lowest and the
    /// highest, each 0 when none is below (above) the quote's own total:
    /// what a change undone while the quote is valid does meanwhile.
    pub lowest_minor: MinorUnits,
    pub highest_minor: MinorUnits,
    /// The next day one of the notice's prices changes one of the quote's
    /// lines: finalised before it, when none did by today
    /// (`prices_in_force_already`), the quote keeps its prices.
    pub prices_next: chrono::NaiveDate,
    pub prices_in_force_already: bool,
}

/// Whether a notice changes a draft: its total while the draft is valid
/// (`delta`), after (`after`), or prices still to come (`ahead`). One it
/// only restates a price of, or whose prices an approval or another notice
/// set already, it does not. Wherever the drafts a notice holds up are
/// listed, those it changes come first, by this one rule.
pub fn changes_draft(delta: MinorUnits, after: MinorUnits, ahead: Option<&ChangesAhead>) -> bool {
    delta != 0 || after != 0 || ahead.is_some()
}

impl ChangesAhead {
    /// Whether the total a quote finalised from today on could meet is ever
    /// other than its own: not so where the prices to come only offset one
    /// another (one line up by as much as another goes down).
    pub fn moves_total(&self) -> bool {
        self.lowest_minor != 0 || self.highest_minor != 0
    }

    /// Of the days on which a notice changes a quote's prices, each with the
    /// change to its total from then ([`NoticeImpact::change_days`]), what is
    /// still to come after `today`; `None` when every change is in force, or
    /// there is none.
    pub fn of(change_days: &[(chrono::NaiveDate, MinorUnits)], today: chrono::NaiveDate) -> Option<ChangesAhead> {
        let prices_first_to_come = change_days.iter().position(|(day, _)| *day > today)?;
        let prices_next = change_days[prices_first_to_come].0;
        // The days the total changes: a day lines only offset one another is none.
        let mut before = 0;
        let totals: Vec<(chrono::NaiveDate, MinorUnits)> =
            change_days.iter().filter(|(_, total)| std::mem::replace(&mut before, *total) != *total).copied().collect();
        let first_to_come = totals.iter().position(|(day, _)| *day > today).unwrap_or(totals.len());
        // The one in force today, if any, then those to come.
        let meetable = &totals[first_to_come.saturating_sub(1)..];
        let next = totals.get(first_to_come).map_or(prices_next, |(day, _)| *day);
        Some(ChangesAhead {
            next,
            last: totals.last().map_or(next, |(day, _)| *day),
            in_force_already: first_to_come > 0,
            in_steps: totals.len() > 1,
            to_come: totals.len() - first_to_come,
            lowest_minor: meetable.iter().map(|(_, delta)| *delta).min().unwrap_or(0).min(0),
            highest_minor: meetable.iter().map(|(_, delta)| *delta).max().unwrap_or(0).max(0),
            prices_next,
            prices_in_force_already: prices_first_to_come > 0,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoticeImpact {
    pub lines: Vec<LineImpact>,
    pub total_delta_minor: MinorUnits,
}

/// Of a notice's prices for one line, given by date as (effective date,
/// change to the line's total), the last one in force on `date`: what the
/// notice does to a quote valid until `date`. `None` when none has taken
/// force by then.
pub fn last_in_force(
    steps: impl IntoIterator<Item = (chrono::NaiveDate, MinorUnits)>,
    date: chrono::NaiveDate,
) -> Option<(chrono::NaiveDate, MinorUnits)> {
    steps.into_iter().take_while(|(on, _)| *on <= date).last()
}

impl LineImpact {
    /// The notice's prices for this line by date, each as (effective date,
    /// change to the line's total): the earlier ones, then the last. A price
    /// another notice overtook changes nothing while it would be in force: 0.
    pub fn steps(&self) -> impl Iterator<Item = (chrono::NaiveDate, MinorUnits)> + '_ {
        let counted = |delta, overtaken: Option<MinorUnits>| if overtaken.is_some() { 0 } else { delta };
        let earlier = self.earlier.iter().map(move |s| (s.effective_on, counted(s.delta_minor, s.overtaken_by)));
        earlier.chain(std::iter::once((self.effective_on, counted(self.delta_minor, self.overtaken_by))))
    }

    /// Whether the notice still prices this line: some price of it for the
    /// line is neither overtaken by another notice's nor waived by an
    /// approval. One that does not counts 0 in every total.
    pub fn counts(&self) -> bool {
        !self.waived && (self.overtaken_by.is_none() || self.earlier.iter().any(|s| s.overtaken_by.is_none()))
    }
}

impl NoticeImpact {
    /// What the notice, published on business day `published_on`, does to
    /// the total of a quote valid until `valid_until`: each line at the last
    /// of its prices in force by then (unchanged where none is; none is
    /// where the quote's validity ended before the notice was published,
    /// whatever its prices' dates). `total_delta_minor` counts the last
    /// price whatever its date.
    pub fn delta_while_valid(&self, valid_until: chrono::NaiveDate, published_on: chrono::NaiveDate) -> MinorUnits {
        if valid_until < published_on {
            return 0;
        }
        self.lines.iter().filter(|line| line.counts()).fold(0, |sum, line| {
            sum.saturating_add(last_in_force(line.steps(), valid_until).map_or(0, |(_, delta)| delta))
        })
    }

    /// The days on which the notice, published on business day
    /// `published_on`, changes the prices of a quote valid until
    /// `valid_until`, in order, each with the change to the total from
    /// then: each a day its prices, those of the lines it still prices,
    /// leave a line other than the day before (a price that restates the
    /// one before it is no change). A day one line rises by as much as
    /// another falls is one, its total as the day before's: from then the
    /// quote's prices are not its own. A price dated before the notice was
    /// published took force the day it was; several such are one day.
    pub fn change_days(
        &self,
        valid_until: chrono::NaiveDate,
        published_on: chrono::NaiveDate,
    ) -> Vec<(chrono::NaiveDate, MinorUnits)> {
        let counted: Vec<&LineImpact> = self.lines.iter().filter(|line| line.counts()).collect();
        let days: std::collections::BTreeSet<chrono::NaiveDate> = counted
            .iter()
            .flat_map(|line| line.steps())
            // As `Calendar::takes_force_on` has it.
            .map(|(on, _)| on.max(published_on))
            .filter(|on| *on <= valid_until)
            .collect();
        let lines_on = |day| -> Vec<MinorUnits> {
            counted.iter().map(|line| last_in_force(line.steps(), day).map_or(0, |(_, delta)| delta)).collect()
        };
        let mut before = vec![0; counted.len()];
        let mut changes = Vec::new();
        for day in days {
            let lines = lines_on(day);
            if lines != before {
                changes.push((day, lines.iter().fold(0, |sum: MinorUnits, delta| sum.saturating_add(*delta))));
            }
            before = lines;
        }
        changes
    }

    /// Marks the lines the notice no longer prices: each of its prices for
    /// the line took force by `today`, and the last is not the price in
    /// force today (`in_force`, by sku), because another notice's change
    /// has the last word. Such a line's change is history, its earlier
    /// prices too: it counts 0 in the totals. Where its last price is still
    /// to come, the price of it whose day has come, if it is not the one
    /// in force, is marked so: it counts 0 until that last one.
    pub fn overtaken(mut self, today: chrono::NaiveDate, in_force: impl Fn(&str) -> Option<MinorUnits>) -> Self {
        for line in &mut self.lines {
            let Some(now) = in_force(&line.sku) else { continue };
            if line.effective_on > today {
                let current = line.earlier.iter_mut().rev().find(|step| step.effective_on <= today);
                if let Some(step) = current.filter(|step| step.unit_price_minor != now) {
                    step.overtaken_by.get_or_insert(now);
                }
            } else if now != line.new_unit_price_minor {
                line.overtaken_by = Some(now);
                for step in &mut line.earlier {
                    step.overtaken_by.get_or_insert(now);
                }
                self.total_delta_minor = self.total_delta_minor.saturating_sub(line.delta_minor);
            }
        }
        self
    }

    /// Marks the prices the notice sets for a date after `today` that will
    /// never be in force: `scheduled` (by sku, the price in force on a
    /// date, as the notices published so far have it) is another's on that
    /// date, because a notice published later sets the same date (a
    /// correction). Such a price counts 0 in the totals until the notice's
    /// next price for the line, if any; a line none of whose prices counts
    /// counts 0, as [`NoticeImpact::overtaken`]'s do.
    pub fn overtaken_later(
        mut self,
        today: chrono::NaiveDate,
        scheduled: impl Fn(&str, chrono::NaiveDate) -> Option<MinorUnits>,
    ) -> Self {
        let instead = |sku: &str, on: chrono::NaiveDate, price: MinorUnits| {
            (on > today).then(|| scheduled(sku, on)).flatten().filter(|then| *then != price)
        };
        for line in &mut self.lines {
            if line.overtaken_by.is_some() {
                continue;
            }
            for step in &mut line.earlier {
                step.overtaken_by =
                    step.overtaken_by.or_else(|| instead(&line.sku, step.effective_on, step.unit_price_minor));
            }
            if let Some(then) = instead(&line.sku, line.effective_on, line.new_unit_price_minor) {
                line.overtaken_by = Some(then);
                self.total_delta_minor = self.total_delta_minor.saturating_sub(line.delta_minor);
            }
        }
        self
    }

    /// Marks the lines whose price finance approved keeping (`approved`, by
    /// line id: the lines at an old price a covering approval waives),
    /// where each of the notice's prices for the line took force by
    /// `today`: the quote may be finalised at the price it carries, so the
    /// notice changes nothing on it. A price of the notice dated later is
    /// no approved one, and still counts.
    pub fn waived(mut self, today: chrono::NaiveDate, approved: impl Fn(uuid::Uuid) -> bool) -> Self {
        for line in &mut self.lines {
            if line.overtaken_by.is_none() && line.effective_on <= today && approved(line.line_id) {
                line.waived = true;
                self.total_delta_minor = self.total_delta_minor.saturating_sub(line.delta_minor);
            }
        }
        self
    }
}

/// What a notice's changes do to a quote priced at `lines`: for every line
/// whose product the notice re-prices, the old and new line totals (the
/// line's discount applies to both) and the difference; and the sum.
/// Where a notice changes a sku more than once, the change it leaves in
/// force counts: the latest effective date, then the later in the list, as
/// prices in force are read. Its other changes, the prices in force before
/// that one, are the line's `earlier` steps (of two on one date, the later
/// in the list, since the other is never in force).
pub fn impact_of(lines: &[PricedLine], changes: &[PriceChange]) -> NoticeImpact {
    // By sku, by date: the last change in the list for each date.
    let mut by_sku: HashMap<&str, BTreeMap<chrono::NaiveDate, &PriceChange>> = HashMap::new();
    for change in changes {
        by_sku.entry(change.sku.as_str()).or_default().insert(change.effective_on, change);
    }
    let mut impact = NoticeImpact::default();
    for line in lines {
        let Some(steps) = by_sku.get(line.sku.as_str()) else { continue };
        let Some((_, change)) = steps.last_key_value() else { continue };
        let old_total = line.total();
        let delta_at = |price| line_total(price, line.quantity, line.discount_bp).saturating_sub(old_total);
        let new_total = line_total(change.unit_price_minor, line.quantity, line.discount_bp);
        let delta = new_total.saturating_sub(old_total);
        impact.total_delta_minor = impact.total_delta_minor.saturating_add(delta);
        impact.lines.push(LineImpact {
            line_id: line.line_id,
            sku: line.sku.clone(),
            quantity: line.quantity,
            old_unit_price_minor: line.unit_price_minor,
            new_unit_price_minor: change.unit_price_minor,
            effective_on: change.effective_on,
            old_total_minor: old_total,
            new_total_minor: new_total,
            delta_minor: delta,
            earlier: steps
                .values()
                .take(steps.len() - 1)
                .map(|c| PriceStep {
                    unit_price_minor: c.unit_price_minor,
                    effective_on: c.effective_on,
                    delta_minor: delta_at(c.unit_price_minor),
                    overtaken_by: None,
                })
                .collect(),
            overtaken_by: None,
            waived: false,
        });
    }
    impact
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MAX_UNIT_PRICE_MINOR;
    use crate::parse::Quantity;

    fn line(sku: &str, quantity: i64, price: i64, discount_bp: i32) -> PricedLine {
        PricedLine { line_id: uuid::Uuid::nil(), sku: sku.into(), quantity, unit_price_minor: price, discount_bp }
    }

    #[test]
    fn line_totals_apply_the_discount_and_round_half_away_from_zero() {
        assert_eq!(line_total(1_000, 3, 0), 3_000);
        assert_eq!(line_total(1_000, 3, 1_000), 2_700);
        assert_eq!(line_total(1, 1, 5_000), 1); // 0.5 rounds up
        assert_eq!(line_total(1, 1, 5_001), 0);
        assert_eq!(line_total(999, 7, 10_000), 0);
    }

    #[test]
    fn the_largest_line_does_not_overflow() {
        let total = line_total(MAX_UNIT_PRICE_MINOR, Quantity::MAX, 0);
        assert_eq!(total, 10_000_000_000_000_000);
    }

    #[test]
    fn impact_lists_only_lines_the_notice_reprices() {
        let lines = [line("PUMP", 40, 250_000, 0), line("HOSE", 10, 1_000, 0), line("PUMP", 2, 250_000, 1_000)];
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let changes = [PriceChange { sku: "PUMP".into(), unit_price_minor: 275_000, effective_on: date }];
        let impact = impact_of(&lines, &changes);
        assert_eq!(impact.lines.len(), 2);
        assert_eq!(impact.lines[0].delta_minor, 40 * 25_000);
        assert_eq!(impact.lines[1].delta_minor, 2 * 25_000 * 9 / 10);
        assert_eq!(impact.total_delta_minor, 1_000_000 + 45_000);
    }

    #[test]
    fn a_sku_changed_twice_counts_at_the_price_it_is_left_at() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let change = |price, on| PriceChange { sku: "PUMP".into(), unit_price_minor: price, effective_on: date(on) };
        let lines = [line("PUMP", 10, 12_500, 0)];
        let later_first = impact_of(&lines, &[change(14_000, "2099-02-01"), change(13_000, "2099-01-01")]);
        assert_eq!((later_first.lines[0].new_unit_price_minor, later_first.total_delta_minor), (14_000, 15_000));
        let same_day = impact_of(&lines, &[change(14_000, "2099-01-01"), change(13_000, "2099-01-01")]);
        assert_eq!(same_day.lines[0].new_unit_price_minor, 13_000, "the later in the list");
        assert_eq!(same_day.lines.len(), 1, "one line, once");
        assert!(same_day.lines[0].earlier.is_empty(), "a price replaced on its own day is never in force");
    }

    #[test]
    fn a_sku_changed_twice_names_the_price_in_force_before_the_last() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let change = |price, on| PriceChange { sku: "PUMP".into(), unit_price_minor: price, effective_on: date(on) };
        let lines = [line("PUMP", 10, 50_000, 1_000), line("HOSE", 1, 100, 0)];
        let changes = [change(56_000, "2027-01-01"), change(54_000, "2026-12-10"), change(53_000, "2026-12-05")];
        let impact = impact_of(&lines, &changes);
        assert_eq!(impact.lines.len(), 1);
        let pump = &impact.lines[0];
        assert_eq!((pump.new_unit_price_minor, pump.effective_on), (56_000, date("2027-01-01")));
        assert_eq!(
            pump.earlier,
            [
                PriceStep {
                    unit_price_minor: 53_000,
                    effective_on: date("2026-12-05"),
                    delta_minor: 27_000,
                    overtaken_by: None
                },
                PriceStep {
                    unit_price_minor: 54_000,
                    effective_on: date("2026-12-10"),
                    delta_minor: 36_000,
                    overtaken_by: None
                },
            ]
        );
        assert_eq!(impact.total_delta_minor, 54_000, "the total counts the price left in force");
        let while_valid = |until| impact.delta_while_valid(date(until), date("2026-11-30"));
        assert_eq!(while_valid("2026-12-04"), 0, "valid until before any price takes force");
        assert_eq!(while_valid("2026-12-05"), 27_000, "the first price, from its own day");
        assert_eq!(while_valid("2026-12-31"), 36_000);
        assert_eq!(while_valid("2027-01-01"), 54_000);
        // The days the total changes, and what is still to come of them.
        assert_eq!(
            impact.change_days(date("2026-12-31"), date("2026-11-30")),
            [(date("2026-12-05"), 27_000), (date("2026-12-10"), 36_000)]
        );
        assert_eq!(impact.change_days(date("2026-12-04"), date("2026-11-30")), [], "no change while valid");
        // Published on the 12th, the first two prices were dated before it: both took force that day.
        assert_eq!(impact.change_days(date("2026-12-31"), date("2026-12-12")), [(date("2026-12-12"), 36_000)]);
        assert_eq!(
            impact.change_days(date("2027-01-31"), date("2026-12-12")),
            [(date("2026-12-12"), 36_000), (date("2027-01-01"), 54_000)]
        );
        assert_eq!(
            impact.change_days(date("2026-12-11"), date("2026-12-12")),
            [],
            "valid until before it was published"
        );
        assert_eq!(impact.delta_while_valid(date("2026-12-11"), date("2026-12-12")), 0, "nor does its total change");
        assert_eq!(impact.delta_while_valid(date("2026-12-12"), date("2026-12-12")), 36_000, "both in force from then");
        let ahead = |today, until| ChangesAhead::of(&impact.change_days(date(until), date("2026-11-30")), date(today));
        let next = |on, last, in_force_already, in_steps, to_come, highest_minor| {
            let (next, last) = (date(on), date(last));
            Some(ChangesAhead {
                next,
                last,
                in_force_already,
                in_steps,
                to_come,
                lowest_minor: 0,
                highest_minor,
                prices_next: next,
                prices_in_force_already: in_force_already,
            })
        };
        assert_eq!(ahead("2026-12-01", "2026-12-31"), next("2026-12-05", "2026-12-10", false, true, 2, 36_000));
        assert_eq!(
            ahead("2026-12-01", "2026-12-07"),
            next("2026-12-05", "2026-12-05", false, false, 1, 27_000),
            "one step while valid"
        );
        assert_eq!(
            ahead("2026-12-05", "2026-12-31"),
            next("2026-12-10", "2026-12-10", true, true, 1, 36_000),
            "one in force, one to come"
        );
        assert_eq!(ahead("2026-12-10", "2026-12-31"), None, "all in force");
        assert_eq!(ahead("2026-12-11", "2027-02-01"), next("2027-01-01", "2027-01-01", true, true, 1, 54_000));
    }

    #[test]
    fn a_day_a_price_is_restated_is_no_day_of_change_and_one_lines_offset_is() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let change =
            |sku: &str, price, on| PriceChange { sku: sku.into(), unit_price_minor: price, effective_on: date(on) };
        // A price restated on a later day, and a step back to the quoted
        // price on the day another line rises by as much.
        let lines = [line("PUMP", 1, 800, 0), line("HOSE", 1, 100, 0), line("SEAL", 1, 50, 0)];
        let changes = [
            change("PUMP", 900, "2026-12-10"),
            change("PUMP", 900, "2026-12-20"),
            change("HOSE", 110, "2026-12-12"),
            change("HOSE", 100, "2026-12-15"),
            change("SEAL", 60, "2026-12-15"),
        ];
        let impact = impact_of(&lines, &changes);
        assert_eq!(
            impact.change_days(date("2026-12-31"), date("2026-11-30")),
            [(date("2026-12-10"), 100), (date("2026-12-12"), 110), (date("2026-12-15"), 110)],
            "the 20th restates the pump's price; on the 15th the hose is back and the seal rises by as much"
        );
        assert_eq!(impact.delta_while_valid(date("2026-12-31"), date("2026-11-30")), 100 + 10);
    }

    #[test]
    fn a_price_lowered_for_a_fortnight_is_a_change_meanwhile_and_none_by_the_end() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let change = |price, on| PriceChange { sku: "PUMP".into(), unit_price_minor: price, effective_on: date(on) };
        let lines = [line("PUMP", 2, 1_000, 0), line("HOSE", 1, 100, 0)];
        let impact = impact_of(&lines, &[change(930, "2026-12-11"), change(1_000, "2026-12-26")]);
        let days = impact.change_days(date("2026-12-31"), date("2026-11-30"));
        assert_eq!(days, [(date("2026-12-11"), -140), (date("2026-12-26"), 0)]);
        assert_eq!(impact.delta_while_valid(date("2026-12-31"), date("2026-11-30")), 0, "back where it was by the end");
        let ahead = |today| ChangesAhead::of(&days, date(today));
        let before = ahead("2026-12-01").expect("both to come");
        assert_eq!(
            (before.next, before.last, before.to_come, before.lowest_minor, before.highest_minor),
            (date("2026-12-11"), date("2026-12-26"), 2, -140, 0)
        );
        assert!(!before.in_force_already);
        let meanwhile = ahead("2026-12-15").expect("the step back to come");
        assert_eq!((meanwhile.next, meanwhile.to_come, meanwhile.lowest_minor), (date("2026-12-26"), 1, -140));
        assert!(meanwhile.in_force_already, "the lower price is in force");
        assert_eq!(ahead("2026-12-26"), None, "back, and nothing to come");
        // A rise in force before it, still met: both, what is in force and what is to come.
        let risen = [(date("2026-12-02"), 300), (date("2026-12-11"), -140), (date("2026-12-26"), 0)];
        let range = |today| ChangesAhead::of(&risen, date(today)).map(|a| (a.lowest_minor, a.highest_minor));
        assert_eq!(range("2026-12-05"), Some((-140, 300)));
        assert_eq!(range("2026-12-12"), Some((-140, 0)), "the rise is past");
        // Lines that offset one another on a day change its prices, not its total.
        let offset_first = [(date("2026-12-11"), 0), (date("2026-12-16"), 100)];
        let ahead = ChangesAhead::of(&offset_first, date("2026-12-06")).expect("to come");
        assert_eq!(
            (ahead.next, ahead.in_steps, ahead.to_come),
            (date("2026-12-16"), false, 1),
            "one change of the total"
        );
        assert_eq!((ahead.prices_next, ahead.prices_in_force_already), (date("2026-12-11"), false));
        let ahead = ChangesAhead::of(&offset_first, date("2026-12-12")).expect("to come");
        assert!(!ahead.in_force_already && ahead.prices_in_force_already, "the prices changed, the total not yet");
        let only_offsetting = ChangesAhead::of(&[(date("2026-12-11"), 0)], date("2026-12-06")).expect("to come");
        assert_eq!((only_offsetting.to_come, only_offsetting.moves_total()), (0, false));
        assert_eq!(only_offsetting.prices_next, date("2026-12-11"));
    }

    #[test]
    fn a_price_a_later_publication_replaced_is_history_and_counts_nothing() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let change =
            |sku: &str, price, on| PriceChange { sku: sku.into(), unit_price_minor: price, effective_on: date(on) };
        // The quote was repriced to 1,650 after a later notice; this one set 1,610 today.
        let lines = [line("PUMP", 38, 1_650, 0), line("HOSE", 2, 100, 0), line("SEAL", 1, 10, 0)];
        let changes =
            [change("PUMP", 1_610, "2026-12-02"), change("HOSE", 120, "2026-12-28"), change("SEAL", 12, "2026-12-01")];
        let in_force = |sku: &str| match sku {
            "PUMP" => Some(1_650),
            "HOSE" => Some(100),
            _ => Some(12),
        };
        let impact = impact_of(&lines, &changes).overtaken(date("2026-12-02"), in_force);
        let overtaken: Vec<_> = impact.lines.iter().map(|l| (l.sku.as_str(), l.overtaken_by)).collect();
        assert_eq!(
            overtaken,
            [("PUMP", Some(1_650)), ("HOSE", None), ("SEAL", None)],
            "a price still to come, and one in force, are not history"
        );
        assert_eq!(impact.lines[0].delta_minor, -1_520, "what the price itself did");
        assert_eq!(impact.total_delta_minor, 40 + 2, "the pump counts nothing");
        assert_eq!(impact.delta_while_valid(date("2026-12-31"), date("2026-11-30")), 40 + 2);
        assert_eq!(impact.delta_while_valid(date("2026-12-20"), date("2026-11-30")), 2);
        // The pump's change, history, is not the first: the seal's is, in force already.
        assert_eq!(
            impact.change_days(date("2026-12-31"), date("2026-11-30")),
            [(date("2026-12-01"), 2), (date("2026-12-28"), 42)],
            "the pump's is history"
        );
    }

    #[test]
    fn a_later_price_a_correction_replaces_on_its_date_counts_nothing() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let lines = [line("VALVE", 20, 9_800, 750), line("PUMP", 1, 1_000, 0)];
        let changes = [
            PriceChange { sku: "VALVE".into(), unit_price_minor: 10_500, effective_on: date("2026-12-07") },
            PriceChange { sku: "PUMP".into(), unit_price_minor: 1_100, effective_on: date("2026-12-07") },
        ];
        // A correction published since sets the valve's price of that day to 102.00.
        let scheduled = |sku: &str, on| match sku {
            "VALVE" if on == date("2026-12-07") => Some(10_200),
            "PUMP" => Some(1_100),
            _ => None,
        };
        let impact = impact_of(&lines, &changes).overtaken_later(date("2026-12-05"), scheduled);
        let marked: Vec<_> = impact.lines.iter().map(|l| (l.sku.as_str(), l.overtaken_by)).collect();
        assert_eq!(marked, [("VALVE", Some(10_200)), ("PUMP", None)]);
        assert_eq!(impact.total_delta_minor, 100, "the pump's change alone");
        assert_eq!(impact.delta_while_valid(date("2026-12-31"), date("2026-11-30")), 100);
        // On the day, the prices in force tell it; the later check leaves it.
        let impact = impact_of(&lines, &changes).overtaken_later(date("2026-12-07"), scheduled);
        assert!(impact.lines.iter().all(|l| l.overtaken_by.is_none()));
    }

    #[test]
    fn a_step_a_correction_replaces_counts_nothing_until_the_next() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let change = |price, on| PriceChange { sku: "PUMP".into(), unit_price_minor: price, effective_on: date(on) };
        let lines = [line("PUMP", 3, 84_000, 0)];
        // 899.00 from the 15th, then 925.00 from 15 January.
        let changes = [change(89_900, "2026-12-15"), change(92_500, "2027-01-15")];
        let published = date("2026-12-01");
        let corrected = |first: Option<i64>, last: Option<i64>| {
            move |_: &str, on| if on == date("2026-12-15") { first.or(Some(89_900)) } else { last.or(Some(92_500)) }
        };
        // The first step corrected to 910.00: nothing until January, then the last price.
        let impact = impact_of(&lines, &changes).overtaken_later(date("2026-12-07"), corrected(Some(91_000), None));
        let pump = &impact.lines[0];
        assert_eq!((pump.earlier[0].overtaken_by, pump.overtaken_by), (Some(91_000), None));
        assert!(pump.counts());
        assert_eq!(impact.delta_while_valid(date("2027-01-06"), published), 0);
        assert_eq!(impact.delta_while_valid(date("2027-01-31"), published), 25_500);
        assert_eq!(impact.total_delta_minor, 25_500);
        assert_eq!(impact.change_days(date("2027-01-31"), published), [(date("2027-01-15"), 25_500)]);
        // The last corrected to 930.00: the first still counts, from its day until then.
        let impact = impact_of(&lines, &changes).overtaken_later(date("2026-12-07"), corrected(None, Some(93_000)));
        let pump = &impact.lines[0];
        assert_eq!((pump.earlier[0].overtaken_by, pump.overtaken_by), (None, Some(93_000)));
        assert!(pump.counts());
        assert_eq!(impact.delta_while_valid(date("2027-01-06"), published), 17_700);
        assert_eq!(impact.delta_while_valid(date("2027-01-31"), published), 0);
        assert_eq!(impact.total_delta_minor, 0, "its last price will never be in force");
        assert_eq!(
            impact.change_days(date("2027-01-31"), published),
            [(date("2026-12-15"), 17_700), (date("2027-01-15"), 0)]
        );
        // The 20th, the correction of the first in force: it still counts nothing until January.
        let in_force = |_: &str| Some(91_000);
        let impact = impact_of(&lines, &changes)
            .overtaken(date("2026-12-20"), in_force)
            .overtaken_later(date("2026-12-20"), corrected(Some(91_000), None));
        let pump = &impact.lines[0];
        assert_eq!((pump.earlier[0].overtaken_by, pump.overtaken_by), (Some(91_000), None));
        assert_eq!(impact.delta_while_valid(date("2027-01-06"), published), 0);
        assert_eq!(impact.delta_while_valid(date("2027-01-31"), published), 25_500);
        // Not so the first step in force as the notice set it.
        let impact = impact_of(&lines, &changes).overtaken(date("2026-12-20"), |_| Some(89_900));
        assert_eq!(impact.lines[0].earlier[0].overtaken_by, None);
        assert_eq!(impact.delta_while_valid(date("2027-01-06"), published), 17_700);
        // Both corrected: the line counts nothing at all.
        let both = corrected(Some(91_000), Some(93_000));
        let impact = impact_of(&lines, &changes).overtaken_later(date("2026-12-07"), both);
        assert!(!impact.lines[0].counts());
        assert_eq!(impact.delta_while_valid(date("2027-01-31"), published), 0);
        assert_eq!(impact.change_days(date("2027-01-31"), published), []);
    }

    #[test]
    fn a_price_finance_approved_keeping_counts_nothing_once_in_force() {
        let date = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let kept = uuid::Uuid::from_u128(1);
        let lines = [PricedLine { line_id: kept, ..line("PUMP", 40, 1_490, 0) }, line("VALVE", 10, 100, 0)];
        let changes = [
            PriceChange { sku: "PUMP".into(), unit_price_minor: 1_610, effective_on: date("2026-12-01") },
            PriceChange { sku: "VALVE".into(), unit_price_minor: 110, effective_on: date("2026-12-01") },
        ];
        let approved = |id| id == kept;
        let impact = impact_of(&lines, &changes).waived(date("2026-12-05"), approved);
        assert!(impact.lines[0].waived && !impact.lines[1].waived);
        assert_eq!(impact.total_delta_minor, 100, "the valve's change alone");
        assert_eq!(impact.delta_while_valid(date("2026-12-31"), date("2026-11-30")), 100);
        // A price dated after today is no price finance approved keeping.
        let impact = impact_of(&lines, &changes).waived(date("2026-11-30"), approved);
        assert!(!impact.lines[0].waived);
        assert_eq!(impact.total_delta_minor, 40 * 120 + 100);
    }

    #[test]
    fn a_notice_without_changes_has_no_impact() {
        let impact = impact_of(&[line("PUMP", 1, 100, 0)], &[]);
        assert_eq!(impact, NoticeImpact::default());
    }
}
