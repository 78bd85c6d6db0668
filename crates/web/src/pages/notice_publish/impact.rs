//! What a draft notice does to the open quotes it touches: each one's total, and the sums per currency.

use pricegate_domain::pricing::ChangesAhead;
use pricegate_domain::{PriceChange, PricedLine, impact_of};
use uuid::Uuid;

use crate::AppState;
use crate::pages::{PageError, PageUser, money};

/// The quotes a confirmation showed as touched, and what it said the notice
/// does to each, as one short string: the form sends it back, and a
/// publication whose touched quotes are others by then is shown again.
pub(super) fn touched_tag(touched: &[TouchedQuote]) -> String {
    let mut said: Vec<String> = touched.iter().map(|q| format!("{}|{}|{}", q.id, q.total, q.delta)).collect();
    said.sort_unstable();
    crate::pages::digest_128(&said.join("\n"))
}

/// An open quote that the notice will block, and what it does to its total.
pub(super) struct TouchedQuote {
    pub(super) id: Uuid,
    /// As every page and letter names a quote: a customer may have several.
    pub(super) reference: String,
    pub(super) customer: String,
    pub(super) signer: String,
    /// Its signer is inactive or out of sales: it waits for another signer
    /// whatever they acknowledge.
    pub(super) signer_unable: bool,
    pub(super) valid_until: String,
    pub(super) total: String,
    pub(super) delta: String,
    /// `delta` is a sentence, not an amount: it wraps.
    pub(super) in_words: bool,
    /// The notice changes its total or prices ([`pricegate_domain::pricing::changes_draft`]):
    /// listed first, as every other list of held-up drafts does.
    pub(super) changed: bool,
    pub(super) drafted_at: chrono::DateTime<chrono::Utc>,
}

/// The drafts of one currency the publish confirmation sums: how many,
/// their rises and falls, and how many change for a while only.
#[derive(Default)]
pub(super) struct Sums {
    /// How many drafts, past their validity aside.
    pub(super) drafts: usize,
    pub(super) moves: pricegate_mail::compose::Moves,
    pub(super) for_a_while: usize,
}

impl Sums {
    /// "+15.00 EUR on 1 of them and -13.00 EUR on 2, +2.00 EUR in all" ("…, -13.00
    /// EUR on 2 and none on 1" where one does not change), so that rises and
    /// falls never cancel into nothing; "+2.00 EUR" where all
    /// go one way (on all of them); with how many change for a while, of
    /// the one quote the confirmation lists where it is `alone`.
    pub(super) fn in_words(&self, currency: &str, alone: bool) -> String {
        // Summed wide, as the dashboard and the escalation sum them.
        let money = |sum| pricegate_mail::compose::signed_money_summed(currency, sum);
        let net = money(self.moves.net());
        let unchanged = self.drafts.saturating_sub(self.moves.changed() + self.for_a_while);
        let sum = match (self.moves.apart(money, unchanged), self.moves.of_them(self.drafts)) {
            (Some(apart), _) => format!("{apart}, {net} in all"),
            // "on them" where every draft changes goes without saying.
            (None, Some(of_them)) if self.moves.changed() > 0 => format!("{net} on {of_them}"),
            (None, _) => net,
        };
        match self.for_a_while {
            0 => sum,
            1 if alone => format!("{sum} in the end, though it moves meanwhile"),
            1 => format!("{sum}, though 1 of them changes for a while"),
            n => format!("{sum}, though {n} of them change for a while"),
        }
    }
}

/// Open quotes the changes touch, with how each total moves, and the sum
/// per currency. Every open quote is blocked until its signer acknowledges;
/// these are the ones whose price moves.
pub(super) async fn touched_quotes(
    app: &AppState,
    user: &PageUser,
    changes: &[pricegate_store::views::PriceChangeView],
) -> Result<(Vec<TouchedQuote>, Vec<String>), PageError> {
    // The drafts with a line of a product the notice changes, not every draft.
    let skus: std::collections::BTreeSet<String> = changes.iter().map(|c| c.sku.clone()).collect();
    if skus.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let filter = pricegate_store::QuoteFilter {
        state: Some("draft".into()),
        with_skus: Some(skus.into_iter().collect()),
        ..Default::default()
    };
    let quotes = app.store.list_quotes(&user.0.actor, filter).await?;
    let signers: Vec<Uuid> = quotes.iter().map(|q| q.signer_id).collect();
    let people = app.store.users_by_id(&signers).await?;
    let today = app.store.today().await?;
    let mut touched = Vec::new();
    // Summed wide: many quotes near the largest amount must not wrap or stop at it;
    // with how many change and change back meanwhile (their 0 is not nothing).
    let mut sums: std::collections::BTreeMap<String, Sums> = std::collections::BTreeMap::new();
    for q in quotes {
        // The gate's own rule, so the quote's page will say the same: per
        // product, the last of the notice's prices in force while the quote is valid.
        let in_currency: Vec<PriceChange> =
            changes.iter().filter(|c| c.currency == q.currency).map(PriceChange::from).collect();
        let priced: Vec<PricedLine> = q.lines.iter().map(PricedLine::from).collect();
        let impact = impact_of(&priced, &in_currency);
        let delta = impact.delta_while_valid(q.valid_until, today);
        let after = impact.total_delta_minor.saturating_sub(delta);
        // An expired draft is finalised at no price until its owner extends it.
        let expired = q.valid_until < today;
        if !impact.lines.is_empty() {
            let to_come = ChangesAhead::of(&impact.change_days(q.valid_until, today), today);
            // Listed first where the notice changes it, by the e-mails' rule.
            let changed = pricegate_domain::pricing::changes_draft(delta, after, to_come.as_ref());
            // What is to come is said of a draft it leaves where it was by the end of its validity.
            let ahead = to_come.filter(|_| !expired && delta == 0);
            let meanwhile = ahead.filter(ChangesAhead::moves_total).map(|ahead| changed_for_a_while(ahead, after, &q));
            // Lines that offset one another: the total stays, the prices do not.
            let prices_from = ahead.filter(|ahead| after == 0 && !ahead.prices_in_force_already);
            let sums = sums.entry(q.currency.clone()).or_default();
            if !expired {
                sums.drafts += 1;
                sums.moves.add(delta);
            }
            sums.for_a_while += usize::from(meanwhile.is_some());
            // When a change still to come starts, as the dashboard says it: "+480.00 EUR from 2026-12-20".
            let when = pricegate_mail::compose::AheadWords::of(to_come);
            let dated = !when.from.is_empty() || !when.steps.is_empty();
            let in_words = expired || meanwhile.is_some() || delta == 0 || after != 0 || dated;
            touched.push(TouchedQuote {
                id: q.id,
                reference: pricegate_domain::quote_reference(q.id),
                customer: q.customer.name.clone(),
                signer: people.get(&q.signer_id).map(|u| u.name.clone()).unwrap_or_default(),
                signer_unable: people.get(&q.signer_id).is_some_and(|u| !u.can_sign()),
                valid_until: q.valid_until.to_string(),
                total: money(&q.currency, q.total_minor),
                delta: if expired {
                    format!("expired on {}", q.valid_until)
                } else if let Some(meanwhile) = meanwhile {
                    meanwhile
                } else if let Some(ahead) = prices_from {
                    format!("none to its total, though its prices change from {}", ahead.prices_next)
                } else if delta == 0 && after != 0 {
                    // Not a change of nothing: one that comes after the quote's validity.
                    format!("none while it is valid; {}", from_prices_after(&q.currency, after, q.valid_until))
                } else if after != 0 {
                    // Prices dated after its validity change it further: what it comes to with them.
                    let in_all = crate::pages::signed_money(&q.currency, delta.saturating_add(after));
                    let delta = crate::pages::signed_money(&q.currency, delta);
                    format!("{delta} while it is valid; {in_all} in all with prices dated after {}", q.valid_until)
                } else if !changed {
                    // Its prices restated, or lines that offset one another all in force today.
                    "none while it is valid".to_owned()
                } else if let Some(ahead) = ahead {
                    // Lines that offset one another, some in force already, more to come.
                    format!("none to its total, though its prices change again from {}", ahead.prices_next)
                } else {
                    format!("{}{}{}", crate::pages::signed_money(&q.currency, delta), when.from, when.steps)
                },
                in_words,
                changed,
                drafted_at: q.drafted_at,
            });
        }
    }
    // Those it changes first, each part in drafting order, as the e-mails,
    // the dashboard and the link's page list a person's held-up drafts.
    touched.sort_by_key(|q| (!q.changed, q.drafted_at, q.id));
    // A draft past its validity cannot be finalised at any price until it is extended: listed, not summed.
    let alone = touched.len() == 1;
    let at_stake = sums
        .iter()
        .filter(|(_, sums)| sums.drafts > 0)
        .map(|(currency, sums)| sums.in_words(currency, alone))
        .collect();
    Ok((touched, at_stake))
}

/// The confirmation's sentence over the quotes it lists, up to the sums
/// that follow it: in the singular for one quote, and without sums where
/// every quote listed is past its validity.
pub(super) fn impact_in_words(touched: usize, summed: bool) -> String {
    match (touched, summed) {
        (1, true) => "1 open quote; while it is valid, its total changes by ".to_owned(),
        (1, false) => {
            "1 open quote, past its validity: it cannot be finalised at any price until its owner extends it".to_owned()
        }
        (n, true) => format!("{n} open quotes; together, while each is valid, their totals change by "),
        (n, false) => {
            format!(
                "{n} open quotes, all past their validity: none can be finalised at any price until their owners \
                 extend them"
            )
        }
    }
}

/// What a notice does to a draft it holds up, as finance's dashboard and
/// the signer's page of the notice say it: "+5.00 EUR from 2026-12-20 while
/// it is valid", "no change while it is valid", …
pub(in crate::pages) fn effect_in_words(e: &pricegate_store::BlockedQuote) -> String {
    match (e.expired_on, e.delta_minor) {
        (Some(day), _) => format!("valid only until {day}: its owner must extend it"),
        // Changed and changed back while it is valid: not nothing meanwhile.
        (None, 0) if let Some(ahead) = e.changes_ahead.filter(|ahead| ahead.moves_total()) => {
            pricegate_mail::compose::changed_for_a_while(&e.currency, ahead)
        }
        // Lines that offset one another: the total stays, the prices do not.
        (None, 0) if let Some(ahead) = e.changes_ahead.filter(|ahead| !ahead.prices_in_force_already) => {
            format!("no change to its total while it is valid, though its prices change from {}", ahead.prices_next)
        }
        // Not a change of nothing: one that comes after the quote's validity.
        (None, 0) if e.delta_after_minor != 0 => format!(
            "no change while it is valid; {}",
            from_prices_after(&e.currency, e.delta_after_minor, e.valid_until)
        ),
        (None, 0) => "no change while it is valid".to_owned(),
        (None, delta) => {
            let delta = pricegate_mail::compose::signed_money(&e.currency, delta);
            let when = pricegate_mail::compose::AheadWords::of(e.changes_ahead);
            format!("{delta}{} while it is valid{}", when.from, when.steps)
        }
    }
}

/// "+360.00 EUR from prices dated after 2027-01-05": what a notice's prices
/// dated after a draft's validity (`valid_until`) would do to its total.
pub(super) fn from_prices_after(currency: &str, after: i64, valid_until: chrono::NaiveDate) -> String {
    format!("{} from prices dated after {valid_until}", crate::pages::signed_money(currency, after))
}

/// What the publish confirmation says of a draft whose total the notice
/// changes and changes back while it is valid (its change by the end is 0,
/// `after` the change from prices dated after), when some of that is still
/// to come (`ahead`): not "0.00 EUR".
pub(super) fn changed_for_a_while(ahead: ChangesAhead, after: i64, q: &pricegate_store::views::QuoteView) -> String {
    let beyond = match after {
        0 => String::new(),
        after => format!("; {}", from_prices_after(&q.currency, after, q.valid_until)),
    };
    let meanwhile = pricegate_mail::compose::changed_for_a_while(&q.currency, ahead);
    format!("none by the end of its validity: its total {meanwhile}{beyond}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confirmation_sums_rises_and_falls_apart() {
        let sums = |deltas: &[i64], for_a_while| {
            let mut moves = pricegate_mail::compose::Moves::default();
            deltas.iter().for_each(|delta| moves.add(*delta));
            Sums { drafts: deltas.len(), moves, for_a_while }.in_words("EUR", deltas.len() == 1)
        };
        assert_eq!(sums(&[1_500, -500, -800], 0), "+15.00 EUR on 1 of them and -13.00 EUR on 2, +2.00 EUR in all");
        assert_eq!(
            sums(&[1_500, -500, 0, -800, 0], 0),
            "+15.00 EUR on 1 of them, -13.00 EUR on 2 and none on 2, +2.00 EUR in all",
            "each of the 5 accounted for"
        );
        assert_eq!(
            sums(&[1_000, -1_000, 0], 1),
            "+10.00 EUR on 1 of them and -10.00 EUR on 1, 0.00 EUR in all, though 1 of them changes for a while"
        );
        assert_eq!(sums(&[500, 1_500], 0), "+20.00 EUR");
        assert_eq!(sums(&[0, -4_200, 0], 0), "-42.00 EUR on 1 of them", "not all of them change");
        assert_eq!(sums(&[0, 0], 2), "0.00 EUR, though 2 of them change for a while");
        assert_eq!(sums(&[0], 1), "0.00 EUR in the end, though it moves meanwhile", "the one quote listed");
        let one_of_two = Sums { drafts: 1, moves: Default::default(), for_a_while: 1 }.in_words("EUR", false);
        assert_eq!(
            one_of_two, "0.00 EUR, though 1 of them changes for a while",
            "another is listed, past its validity"
        );
    }

    #[test]
    fn a_sum_past_the_largest_amount_says_so() {
        let huge = i64::MAX / 2 + 1;
        let sums = Sums {
            drafts: 3,
            moves: {
                let mut m = pricegate_mail::compose::Moves::default();
                [huge, huge, -1_000].into_iter().for_each(|d| m.add(d));
                m
            },
            for_a_while: 0,
        };
        assert_eq!(
            sums.in_words("EUR", false),
            "a rise of more than 92,233,720,368,547,758.07 EUR on 2 of them and -10.00 EUR on 1, \
             +92,233,720,368,547,748.08 EUR in all",
            "each sum summed wide: the rises past the largest amount, what they come to with the fall within it"
        );
    }
}
