//! Which pending notice has the last word on a line's price while the quote is valid, and what
//! several of them do together.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use pricegate_domain::last_in_force;
use pricegate_store::views::PendingNoticeView;
use uuid::Uuid;

/// Where pending notices price one line while the quote is valid (a change
/// effective after `valid_until` is marked as such, and not counted), the
/// change they leave in force last: the latest effective date, then the later
/// publication, as prices in force are read. By line: that notice, its
/// title, its date and its change to the line's total, and how many pending
/// notices price the line.
pub(super) struct LastWord<'a> {
    pub(super) notice: Uuid,
    pub(super) title: &'a str,
    pub(super) effective_on: chrono::NaiveDate,
    pub(super) delta_minor: i64,
    /// The pending notices that price the line while the quote is valid.
    pub(super) notices: Vec<Uuid>,
}

/// Whether a price of a notice published on `published_on`, dated `on`,
/// takes force only after `valid_until`: a price takes force on its day, or
/// on its notice's publication if that is later.
pub(super) fn takes_force_after(
    on: chrono::NaiveDate,
    published_on: chrono::NaiveDate,
    valid_until: chrono::NaiveDate,
) -> bool {
    on.max(published_on) > valid_until
}

/// What one notice does to the total while the quote is valid, when that is
/// not its own total (some of its prices come after the validity).
pub(super) fn while_valid(p: &PendingNoticeView) -> Option<i64> {
    let impact = &p.impact;
    (impact.delta_while_valid_minor != impact.total_delta_minor).then_some(impact.delta_while_valid_minor)
}

/// Whether the quote already carries every price `p` sets for its lines, at
/// each date: it changes nothing here, though it must still be acknowledged.
/// Not when a later notice prices one of its lines again (`later`, from
/// [`later_changes`]): the last word on that line is the later one's.
pub(super) fn already_carried(p: &PendingNoticeView, later: &HashMap<(Uuid, Uuid), String>) -> bool {
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

pub(super) fn last_words(pending: &[PendingNoticeView], valid_until: chrono::NaiveDate) -> HashMap<Uuid, LastWord<'_>> {
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
pub(super) fn later_changes(
    words: &HashMap<Uuid, LastWord<'_>>,
    pending: &[PendingNoticeView],
) -> HashMap<(Uuid, Uuid), String> {
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
pub(super) struct Together {
    pub(super) why: TogetherWhy,
    pub(super) delta_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TogetherWhy {
    /// Several notices price one line: each is measured against the quoted
    /// prices, so their totals do not add up.
    Overlap,
    /// Some of their prices take force only after the quote's validity ends.
    AfterValidity,
    /// Their totals add up: the sum, so that nobody has to do it.
    AddsUp,
}

pub(super) fn together(words: &HashMap<Uuid, LastWord<'_>>, pending: &[PendingNoticeView]) -> Option<Together> {
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
pub(super) struct TogetherNote {
    pub(super) why: TogetherWhy,
    pub(super) delta: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pricegate_store::views::LineImpactView;

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
