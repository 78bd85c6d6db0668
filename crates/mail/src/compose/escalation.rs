//! The escalation to finance: who has not acknowledged a notice, and what their drafts are worth.

use askama::Template;
use pricegate_store::{BlockedQuote, Composed, NoticeContent, PendingPerson};

use super::changes::{QuoteRow, quote_rows};
use super::filters;
use super::words::{money_summed, signed_money_summed};
use super::{TemplateComposer, composed};
use pricegate_store::Recipient;

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
pub(super) const ESCALATED_PEOPLE: usize = 50;

pub(super) const ESCALATED_QUOTES: usize = 5;

/// `people`, as an escalation lists them, and how many it leaves out:
/// first those with drafts the notice changes, then those with drafts it
/// holds up, then those with none, each part in the order given.
pub(super) fn person_rows(people: &[PendingPerson]) -> (Vec<PersonRow>, usize) {
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

/// The escalation (its HTML part; [`EscalationText`] is the same letter as text).
#[derive(Template)]
#[template(path = "escalation.html")]
pub(super) struct EscalationLetter<'a> {
    pub(super) name: &'a str,
    pub(super) dashboard_url: &'a str,
    pub(super) title: &'a str,
    pub(super) published_at: String,
    pub(super) people: &'a [PersonRow],
    /// How many pending it does not list ([`ESCALATED_PEOPLE`]).
    pub(super) more_people: usize,
    /// Signers who can no longer sign, with the drafts it holds up of theirs.
    pub(super) unsigned: &'a [PersonRow],
    /// How many of those it does not list.
    pub(super) more_unsigned: usize,
    /// How many are still pending, in words: "1 salesperson", "3 salespeople".
    pub(super) pending: &'a str,
    /// What the drafts it holds up are worth, and what it does to them
    /// ([`Stake::in_words`]).
    pub(super) at_stake: Option<String>,
    /// Those past their validity ([`Stake::past_validity`]).
    pub(super) past_validity: Option<String>,
    /// How long after someone's last e-mail about the notice the
    /// dashboard's Remind now e-mails them again.
    pub(super) again_minutes: i64,
}

#[derive(Template)]
#[template(path = "escalation.txt")]
pub(super) struct EscalationText<'a> {
    pub(super) letter: &'a EscalationLetter<'a>,
}

/// The drafts a notice holds up, summed by currency (wide: no sum wraps or
/// stops at the largest amount): what they are worth, and what the notice
/// changes their totals by while they are valid. A draft whose validity has
/// ended waits for its owner first: counted apart. The notice's dashboard
/// and its escalation's e-mail say it so.
#[derive(Default)]
pub struct Stake {
    pub(super) by_currency: std::collections::BTreeMap<String, CurrencyStake>,
    pub(super) expired: usize,
}

/// The drafts of one currency a notice holds up ([`Stake`]).
#[derive(Default)]
pub(super) struct CurrencyStake {
    pub(super) drafts: usize,
    pub(super) worth: i128,
    /// What the notice does to their totals while they are valid.
    pub(super) moves: Moves,
    /// How many change for a while only: back where they were by the end
    /// of their validity.
    pub(super) meanwhile: usize,
}

/// Changes to drafts' totals, summed wide apart by sign so that rises and
/// falls never cancel into no change: the notice's dashboard and
/// escalation ([`Stake`]) and its publish confirmation say them so.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moves {
    /// The rises, and on how many drafts.
    pub(super) raised: (i128, usize),
    /// The falls, and on how many drafts.
    pub(super) lowered: (i128, usize),
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
pub(super) fn also_for_a_while(meanwhile: usize) -> String {
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

/// Finance's escalation of `notice`: who has not acknowledged it (`people`:
/// those reminded, and those who can no longer sign), what their drafts come
/// to, and the dashboard's link.
pub(super) fn compose_escalation(
    composer: &TemplateComposer,
    notice: &NoticeContent,
    to: &Recipient,
    (pending, stranded): (&[PendingPerson], &[PendingPerson]),
    told_later: bool,
    dashboard_url: &str,
) -> Result<Composed, String> {
    let ((people, more_people), (unsigned, more_unsigned)) = (person_rows(pending), person_rows(stranded));
    // What the notice's dashboard totals: the quotes of those
    // pending, and of those who can no longer sign.
    let mut stake = Stake::default();
    pending.iter().chain(stranded.iter()).flat_map(|p| &p.quotes).for_each(|q| stake.add(q));
    let published_at = composer.calendar.stamp(notice.published_at, false);
    // Told apart in an inbox: who, where one escalation follows another.
    let subject = match pending {
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
    if told_later {
        pending_count.push_str(", told of it after its publication, on a schedule of their own");
    }
    let again_minutes = pricegate_store::REMIND_NOW_AGAIN_AFTER_MINUTES;
    let letter = EscalationLetter {
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
    composed(subject, &letter, &EscalationText { letter: &letter })
}
