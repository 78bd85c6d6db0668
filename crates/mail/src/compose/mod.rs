//! Letters to messages: a subject, a plain-text part and an HTML part, from
//! askama templates checked at compile time.

mod account;
mod changes;
mod escalation;
mod handover;
mod notice;
mod quote_letters;
mod words;

#[cfg(test)]
mod tests;

use askama::Template;
use pricegate_domain::Calendar;
use pricegate_store::{AccountChange, ApprovedFor, Composed, Composer, Letter};

use account::{AccountLetter, AccountText, PasswordLetter, PasswordText, RoleMove, account_advice, role_in_words};
pub use changes::{AheadWords, ChangeRow, QuoteRow, changed_for_a_while, effect_on_total, in_force_from};
use escalation::compose_escalation;
pub use escalation::{Moves, PersonRow, Stake};
pub use handover::HandedRow;
use handover::{
    HandedAwayLetter, HandedAwayText, HandoverLetter, HandoverText, SignerHandedLetter, SignerHandedText, handed_rows,
    open_quotes,
};
use notice::compose_notice;
pub use quote_letters::OwnedRow;
use quote_letters::{
    ApprovalAskedLetter, ApprovalAskedText, ApprovedLetter, ApprovedText, DeclinedLetter, DeclinedText,
    FinalisedLetter, FinalisedText, ReleasedLetter, ReleasedText, SignerGoneLetter, SignerGoneText, SignerLetter,
    SignerText, asked_rows, old_price_gap_in_words, old_prices_kept, owner_and_signer,
};
pub use words::{lifetime, money, money_summed, percent, percent_number, signed_money, signed_money_summed};
use words::{notices_in_words, quote_facts, quoted};

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

/// A letter's two parts, rendered from its HTML template and its text one.
fn composed(subject: String, html: &impl Template, text: &impl Template) -> Result<Composed, String> {
    let render = |e: askama::Error| e.to_string();
    Ok(Composed { subject, text: text.render().map_err(render)?, html: html.render().map_err(render)? })
}

impl Composer for TemplateComposer {
    fn compose(&self, letter: &Letter<'_>) -> Result<Composed, String> {
        match letter {
            Letter::Publication { notice, to, quotes, ack_url, .. }
            | Letter::Reminder { notice, to, quotes, ack_url, .. } => {
                compose_notice(self, letter, notice, to, quotes, ack_url)
            }
            Letter::SignerNamed { to, by, quote, first_password_url } => {
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
                    first_password_url: *first_password_url,
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
            Letter::PasswordLink { to, link, invited_by, new_account, role, works_for } => {
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
                    role: role_in_words(*role),
                    link,
                    works_for: &works_for,
                };
                composed(subject.to_owned(), &letter, &PasswordText { letter: &letter })
            }
            Letter::AccountChanged { to, change, by, at, forgot_url } => {
                let (title, password, by_link) = match change {
                    AccountChange::Password { by_link } => ("Your Pricegate password was changed", true, *by_link),
                    AccountChange::Address => ("Your Pricegate e-mail address was changed", false, false),
                    AccountChange::Role { .. } => ("Your Pricegate role was changed", false, false),
                };
                let role = match change {
                    AccountChange::Role { from, to, drafts } => Some(RoleMove::new(*from, *to, *drafts)),
                    _ => None,
                };
                let (if_it_was, if_not) = account_advice(*change, *by);
                let letter = AccountLetter {
                    title,
                    name: &to.name,
                    email: &to.email,
                    at: self.calendar.stamp(*at, false),
                    by: *by,
                    password,
                    role,
                    by_link,
                    if_it_was,
                    if_not,
                    forgot_url,
                };
                composed(title.to_owned(), &letter, &AccountText { letter: &letter })
            }
            Letter::QuotesHandedAway { to, by, taker, quotes } => {
                let rows = handed_rows(quotes);
                let subject = format!("{by} has handed your {} to {taker}", open_quotes(rows.len()));
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
            Letter::QuotesHandedOver { to, by, from, quotes, awaiting_url, first_password_url } => {
                let rows = handed_rows(quotes);
                let subject = format!("{by} has handed you the {} of {from}", open_quotes(rows.len()));
                // The notices themselves, each with its button, are on one page.
                let awaiting_url =
                    rows.iter().any(|q| q.you_sign && q.to_acknowledge.is_some()).then_some(*awaiting_url);
                let letter = HandoverLetter {
                    name: &to.name,
                    by,
                    from,
                    quotes: &rows,
                    awaiting_url,
                    first_password_url: *first_password_url,
                };
                composed(subject, &letter, &HandoverText { letter: &letter })
            }
            Letter::Escalation { notice, to, pending, stranded, told_later, dashboard_url } => {
                compose_escalation(self, notice, to, (pending, stranded), *told_later, dashboard_url)
            }
        }
    }
}
