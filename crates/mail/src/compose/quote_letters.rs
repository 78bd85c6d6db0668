//! The e-mails about one quote: its signer named, it finalised, finance asked, declining or approving to keep
//! its old prices, its signer released or gone.

use askama::Template;

use super::filters;
use super::words::{money, percent};

/// The e-mail to a newly named signer (its HTML part; [`SignerText`] is
/// the same letter as text).
#[derive(Template)]
#[template(path = "signer.html")]
pub(super) struct SignerLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) customer: &'a str,
    pub(super) total: &'a str,
    pub(super) valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    pub(super) reference: &'a str,
    pub(super) url: &'a str,
    /// The notices the signer must acknowledge first, in words ("2 price
    /// notices"), if any.
    pub(super) to_acknowledge: Option<String>,
    /// Where to ask for a first password, for someone yet to choose one
    /// (see `first_password.txt`).
    pub(super) first_password_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signer.txt")]
pub(super) struct SignerText<'a> {
    pub(super) letter: &'a SignerLetter<'a>,
}

/// The e-mail telling a draft's owner that its signer finalised it (its
/// HTML part; [`FinalisedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "finalised.html")]
pub(super) struct FinalisedLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) at: &'a str,
    pub(super) customer: &'a str,
    pub(super) total: &'a str,
    pub(super) valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    pub(super) reference: &'a str,
    pub(super) url: &'a str,
    /// The notices its evidence keeps.
    pub(super) notices: usize,
    /// Finance's approval of old prices it was finalised with, in words
    /// ([`old_prices_kept`]).
    pub(super) approved: Option<String>,
}

/// How many products an e-mail names one by one before it counts the rest.
pub(super) const NAMED_PRODUCTS: usize = 3;

/// A finalisation's approval of old prices, in words: who in finance
/// approved keeping which products' old prices.
pub(super) fn old_prices_kept(kept: &pricegate_store::OldPricesKept<'_>) -> String {
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
pub(super) struct FinalisedText<'a> {
    pub(super) letter: &'a FinalisedLetter<'a>,
}

/// The e-mail asking finance to approve keeping a draft's old prices (its
/// HTML part; [`ApprovalAskedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "approval_asked.html")]
pub(super) struct ApprovalAskedLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) reason: &'a str,
    pub(super) customer: &'a str,
    pub(super) total: &'a str,
    pub(super) valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    pub(super) reference: &'a str,
    pub(super) url: &'a str,
    pub(super) lines: &'a [AskedRow],
    /// What today's prices would do to the total, in words.
    pub(super) gap: &'a str,
    /// On a reminder, when the request was asked.
    pub(super) asked_at: Option<&'a str>,
    /// On a reminder sent by someone other than who asked: who.
    pub(super) reminded_by: Option<&'a str>,
    /// The request before this one, declined.
    pub(super) declined: Option<&'a pricegate_store::EarlierDecline>,
    /// Who declined it, as the reader reads it: "You" to the one who did.
    pub(super) declined_by: &'a str,
    /// Who owns and who signs the draft ([`owner_and_signer`]).
    pub(super) on_draft: Option<String>,
}

/// A draft's owner and signer, by name, as the facts under a request for
/// approval say them; `None` when neither is known.
pub(super) fn owner_and_signer((owner, signer): (&str, &str)) -> Option<String> {
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
pub(super) struct ApprovalAskedText<'a> {
    pub(super) letter: &'a ApprovalAskedLetter<'a>,
    /// The reason, set apart ([`super::words::quoted`]).
    pub(super) reason: String,
    /// The earlier request's decline's reason, set apart.
    pub(super) declined_reason: Option<String>,
}

/// The e-mail telling the salespeople on a draft that finance declined the
/// request to approve its old prices (its HTML part; [`DeclinedText`] is
/// the same letter as text).
#[derive(Template)]
#[template(path = "declined.html")]
pub(super) struct DeclinedLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) reason: &'a str,
    /// Who asked, told to the others on the draft; `None` to whoever asked.
    pub(super) asked_by: Option<&'a str>,
    pub(super) customer: &'a str,
    pub(super) total: &'a str,
    pub(super) valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    pub(super) reference: &'a str,
    pub(super) url: &'a str,
}

#[derive(Template)]
#[template(path = "declined.txt")]
pub(super) struct DeclinedText<'a> {
    pub(super) letter: &'a DeclinedLetter<'a>,
    /// The reason, set apart ([`super::words::quoted`]).
    pub(super) reason: String,
}

/// A line at an old price, as a request for approval shows it.
pub(super) struct AskedRow {
    pub(super) sku: String,
    pub(super) quantity: String,
    pub(super) discount: Option<String>,
    pub(super) quoted: String,
    pub(super) current: String,
}

/// `lines` at an old price, in `currency`, as a request for approval and an
/// approval show them.
pub(super) fn asked_rows(currency: &str, lines: &[pricegate_store::views::SupersededLineView]) -> Vec<AskedRow> {
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
pub(super) fn old_price_gap_in_words(currency: &str, lines: &[pricegate_store::views::SupersededLineView]) -> String {
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

/// The e-mail telling a draft's signer, or its owner, that finance approved
/// keeping its old prices (its HTML part; [`ApprovedText`] is the same
/// letter as text).
#[derive(Template)]
#[template(path = "approved.html")]
pub(super) struct ApprovedLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) reason: &'a str,
    /// Who signs it, told to its owner; `None` to the signer.
    pub(super) signer: Option<&'a str>,
    /// That signer can no longer sign it: the owner must choose another.
    pub(super) signer_gone: bool,
    /// Its validity has ended: its owner must extend it first.
    pub(super) expired: bool,
    pub(super) customer: &'a str,
    pub(super) total: &'a str,
    pub(super) valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    pub(super) reference: &'a str,
    pub(super) url: &'a str,
    /// The notices the signer must still acknowledge first, in words, if any.
    pub(super) to_acknowledge: Option<String>,
    /// The lines it keeps at their old price.
    pub(super) lines: &'a [AskedRow],
    /// What today's prices would do to the total, in words.
    pub(super) gap: &'a str,
}

#[derive(Template)]
#[template(path = "approved.txt")]
pub(super) struct ApprovedText<'a> {
    pub(super) letter: &'a ApprovedLetter<'a>,
    /// The reason, set apart ([`super::words::quoted`]).
    pub(super) reason: String,
}

/// The e-mail to a signer replaced by another (its HTML part;
/// [`ReleasedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "released.html")]
pub(super) struct ReleasedLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    /// Who was named to sign in their place; `None` when `by` named themselves.
    pub(super) signer: Option<&'a str>,
    pub(super) customer: &'a str,
    pub(super) total: &'a str,
    pub(super) valid_until: &'a str,
    /// The quote's reference, as every page and letter names it.
    pub(super) reference: &'a str,
}

#[derive(Template)]
#[template(path = "released.txt")]
pub(super) struct ReleasedText<'a> {
    pub(super) letter: &'a ReleasedLetter<'a>,
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
pub(super) struct SignerGoneLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) signer: &'a str,
    /// Deactivated (or, with `back`, reactivated), else moved out of (or
    /// back into) sales.
    pub(super) deactivated: bool,
    /// They can sign again.
    pub(super) back: bool,
    pub(super) quotes: &'a [OwnedRow],
}

#[derive(Template)]
#[template(path = "signer_gone.txt")]
pub(super) struct SignerGoneText<'a> {
    pub(super) letter: &'a SignerGoneLetter<'a>,
}
