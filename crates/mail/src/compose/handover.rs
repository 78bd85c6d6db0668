//! The e-mails of a hand-over of someone's open quotes: to the taker, the owner and the signer.

use askama::Template;
use pricegate_store::HandedQuote;

use super::filters;
use super::words::{customer, money, notices_in_words};
use pricegate_domain::quote_reference;

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
pub(super) struct HandoverLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) from: &'a str,
    pub(super) quotes: &'a [HandedRow],
    /// The page of the notices awaiting them, when a quote they sign waits
    /// for one.
    pub(super) awaiting_url: Option<&'a str>,
    /// Where to ask for a first password, for someone yet to choose one
    /// (see `first_password.txt`).
    pub(super) first_password_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "handover.txt")]
pub(super) struct HandoverText<'a> {
    pub(super) letter: &'a HandoverLetter<'a>,
}

/// The e-mail to the salesperson whose drafts an admin handed to a
/// colleague (its HTML part; [`HandedAwayText`] is the same letter as text).
#[derive(Template)]
#[template(path = "handed_away.html")]
pub(super) struct HandedAwayLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) taker: &'a str,
    pub(super) quotes: &'a [HandedRow],
}

#[derive(Template)]
#[template(path = "handed_away.txt")]
pub(super) struct HandedAwayText<'a> {
    pub(super) letter: &'a HandedAwayLetter<'a>,
}

/// The e-mail to the owner of drafts a hand-over gave a new signer (its
/// HTML part; [`SignerHandedText`] is the same letter as text).
#[derive(Template)]
#[template(path = "signer_handed.html")]
pub(super) struct SignerHandedLetter<'a> {
    pub(super) name: &'a str,
    pub(super) by: &'a str,
    pub(super) from: &'a str,
    pub(super) taker: &'a str,
    pub(super) quotes: &'a [HandedRow],
}

impl SignerHandedLetter<'_> {
    /// Whether any draft has notices to acknowledge first: only then does
    /// the letter say when they were counted.
    pub(super) fn counts_notices(&self) -> bool {
        self.quotes.iter().any(|q| q.to_acknowledge.is_some())
    }
}

#[derive(Template)]
#[template(path = "signer_handed.txt")]
pub(super) struct SignerHandedText<'a> {
    pub(super) letter: &'a SignerHandedLetter<'a>,
}

/// What a hand-over's subject says was handed: "open quote" for one.
pub(super) fn open_quotes(count: usize) -> &'static str {
    if count == 1 { "open quote" } else { "open quotes" }
}

/// The drafts of a hand-over as its letters list them.
pub(super) fn handed_rows(quotes: &[HandedQuote]) -> Vec<HandedRow> {
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
