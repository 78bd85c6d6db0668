//! Properties of quote arithmetic and price impact that must hold for every
//! price, quantity and discount the edges accept, not only the examples in the
//! unit tests.

use chrono::NaiveDate;
use pricegate_domain::{MAX_UNIT_PRICE_MINOR, PriceChange, PricedLine, Quantity, impact_of, line_total};
use proptest::prelude::*;

fn price() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), Just(1), Just(MAX_UNIT_PRICE_MINOR), 0..=MAX_UNIT_PRICE_MINOR]
}

fn quantity() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1), Just(Quantity::MAX), 1..=Quantity::MAX]
}

fn discount() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), Just(5_000), Just(10_000), 0..=10_000i32]
}

/// The line total computed the long way, to half a minor unit rounded away from zero.
fn exact_total(price: i64, quantity: i64, discount_bp: i32) -> i128 {
    let net_times_10k = i128::from(price) * i128::from(quantity) * i128::from(10_000 - discount_bp);
    (net_times_10k + 5_000) / 10_000
}

const SKUS: [&str; 4] = ["PUMP", "HOSE", "VALVE", "TAP"];

fn lines() -> impl Strategy<Value = Vec<PricedLine>> {
    proptest::collection::vec((0..SKUS.len(), quantity(), price(), discount()), 0..12).prop_map(|lines| {
        lines
            .into_iter()
            .enumerate()
            .map(|(i, (sku, quantity, unit_price_minor, discount_bp))| PricedLine {
                line_id: uuid::Uuid::from_u128(i as u128 + 1),
                sku: SKUS[sku].to_owned(),
                quantity,
                unit_price_minor,
                discount_bp,
            })
            .collect()
    })
}

fn changes() -> impl Strategy<Value = Vec<PriceChange>> {
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    proptest::collection::vec((0..SKUS.len(), price()), 0..6).prop_map(move |changes| {
        changes
            .into_iter()
            .map(|(sku, unit_price_minor)| PriceChange {
                sku: SKUS[sku].to_owned(),
                unit_price_minor,
                effective_on: day,
            })
            .collect()
    })
}

/// Changes on a few dates, so that one notice may price a sku several times.
fn dated_changes() -> impl Strategy<Value = Vec<PriceChange>> {
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    proptest::collection::vec((0..SKUS.len(), price(), 0..4u64), 0..8).prop_map(move |changes| {
        changes
            .into_iter()
            .map(|(sku, unit_price_minor, days)| PriceChange {
                sku: SKUS[sku].to_owned(),
                unit_price_minor,
                effective_on: day + chrono::Days::new(days),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn a_sku_priced_on_several_dates_names_each_price_in_date_order(lines in lines(), changes in dated_changes()) {
        let impact = impact_of(&lines, &changes);
        for l in &impact.lines {
            let line = lines.iter().find(|x| x.line_id == l.line_id).expect("a line of the quote");
            let mut dates: Vec<NaiveDate> =
                changes.iter().filter(|c| c.sku == l.sku).map(|c| c.effective_on).collect();
            dates.sort();
            dates.dedup();
            let named: Vec<NaiveDate> =
                l.earlier.iter().map(|s| s.effective_on).chain(std::iter::once(l.effective_on)).collect();
            prop_assert_eq!(&named, &dates, "every date once, in order, the last in force");
            for step in &l.earlier {
                // Of two changes on one date, the later in the list is in force.
                let in_force = changes.iter().rev().find(|c| c.sku == l.sku && c.effective_on == step.effective_on);
                prop_assert_eq!(in_force.map(|c| c.unit_price_minor), Some(step.unit_price_minor));
                let moved = line_total(step.unit_price_minor, line.quantity, line.discount_bp) - line.total();
                prop_assert_eq!(step.delta_minor, moved);
            }
        }
        let counted: i64 = impact.lines.iter().map(|l| l.delta_minor).sum();
        prop_assert_eq!(impact.total_delta_minor, counted, "the earlier steps are not counted in the total");
        let first_day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        // Published before any of its prices' days.
        let published_on = first_day - chrono::Days::new(30);
        prop_assert_eq!(impact.delta_while_valid(first_day + chrono::Days::new(3), published_on), impact.total_delta_minor);
        prop_assert_eq!(impact.delta_while_valid(first_day - chrono::Days::new(1), published_on), 0, "nothing in force yet");
        // Between: each line at the last change in force by then (the later in the list on one date).
        for days in 0..4 {
            let until = first_day + chrono::Days::new(days);
            let expected: i64 = impact
                .lines
                .iter()
                .map(|l| {
                    let line = lines.iter().find(|x| x.line_id == l.line_id).expect("a line of the quote");
                    let in_force = changes
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.sku == l.sku && c.effective_on <= until)
                        .max_by_key(|(i, c)| (c.effective_on, *i))
                        .map(|(_, c)| c.unit_price_minor);
                    in_force.map_or(0, |p| line_total(p, line.quantity, line.discount_bp) - line.total())
                })
                .sum();
            prop_assert_eq!(impact.delta_while_valid(until, published_on), expected, "valid until {}", until);
        }
    }

    #[test]
    fn a_line_total_within_the_bounds_never_overflows(p in price(), q in quantity(), d in discount()) {
        let total = line_total(p, q, d);
        prop_assert_eq!(i128::from(total), exact_total(p, q, d));
        prop_assert!(total >= 0);
        prop_assert!(i128::from(total) <= i128::from(p) * i128::from(q));
    }

    #[test]
    fn a_line_total_grows_with_the_quantity(p in price(), a in quantity(), b in quantity(), d in discount()) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(line_total(p, low, d) <= line_total(p, high, d));
    }

    #[test]
    fn no_discount_is_price_times_quantity(p in price(), q in quantity()) {
        prop_assert_eq!(line_total(p, q, 0), p * q);
    }

    #[test]
    fn a_full_discount_costs_nothing(p in price(), q in quantity()) {
        prop_assert_eq!(line_total(p, q, 10_000), 0);
    }

    #[test]
    fn the_total_impact_is_the_sum_of_the_line_impacts(lines in lines(), changes in changes()) {
        let impact = impact_of(&lines, &changes);
        let sum: i64 = impact.lines.iter().map(|l| l.delta_minor).sum();
        prop_assert_eq!(impact.total_delta_minor, sum);
        for l in &impact.lines {
            prop_assert_eq!(l.delta_minor, l.new_total_minor - l.old_total_minor);
        }
    }

    #[test]
    fn only_lines_the_notice_reprices_are_touched(lines in lines(), changes in changes()) {
        let impact = impact_of(&lines, &changes);
        let repriced: Vec<&PricedLine> =
            lines.iter().filter(|l| changes.iter().any(|c| c.sku == l.sku)).collect();
        prop_assert_eq!(impact.lines.len(), repriced.len());
        for (got, line) in impact.lines.iter().zip(repriced) {
            // The last change to a sku wins.
            let change = changes.iter().rev().find(|c| c.sku == line.sku).map(|c| c.unit_price_minor);
            prop_assert_eq!(got.line_id, line.line_id);
            prop_assert_eq!(got.quantity, line.quantity);
            prop_assert_eq!(got.old_unit_price_minor, line.unit_price_minor);
            prop_assert_eq!(Some(got.new_unit_price_minor), change);
            prop_assert_eq!(got.old_total_minor, line.total());
            prop_assert_eq!(got.new_total_minor, line_total(got.new_unit_price_minor, line.quantity, line.discount_bp));
        }
    }

    #[test]
    fn a_change_to_the_same_price_has_no_impact(lines in lines(), changes in changes()) {
        // Each line re-priced at its own price does not move; applying a notice twice moves nothing more.
        for line in &lines {
            let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
            let same = PriceChange { sku: line.sku.clone(), unit_price_minor: line.unit_price_minor, effective_on: day };
            let impact = impact_of(std::slice::from_ref(line), &[same]);
            prop_assert_eq!(impact.lines.len(), 1);
            prop_assert_eq!(impact.total_delta_minor, 0);
            prop_assert_eq!(impact.lines[0].delta_minor, 0);
        }
        let repriced: Vec<PricedLine> = impact_of(&lines, &changes)
            .lines
            .iter()
            .map(|l| PricedLine {
                line_id: l.line_id,
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_minor: l.new_unit_price_minor,
                discount_bp: lines.iter().find(|x| x.line_id == l.line_id).map_or(0, |x| x.discount_bp),
            })
            .collect();
        let again = impact_of(&repriced, &changes);
        prop_assert_eq!(again.total_delta_minor, 0);
        prop_assert!(again.lines.iter().all(|l| l.delta_minor == 0));
    }
}
