//! Amounts, percentages, lifetimes and references as every e-mail writes them.

use pricegate_domain::{Currency, quote_reference};
use pricegate_store::SignedQuote;

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

/// Someone's words in a plain-text letter, each line set apart with `> `, so
/// that no line of theirs reads as one of the letter's own (a "Total:" typed
/// into a reason, say).
pub(super) fn quoted(words: &str) -> String {
    words.lines().map(|line| format!("  > {line}")).collect::<Vec<_>>().join("\n")
}

/// `count` price notices in words ("1 price notice", "2 price notices", as the pages count them),
/// none for none.
pub(super) fn notices_in_words(count: u64) -> Option<String> {
    match count {
        0 => None,
        1 => Some("1 price notice".to_owned()),
        n => Some(format!("{n} price notices")),
    }
}

/// A draft as the signer letters state it: its customer, total, validity
/// and reference, in words.
pub(super) fn quote_facts(quote: &SignedQuote) -> (String, String, String, String) {
    (
        customer(&quote.customer_name, &quote.customer_company),
        money(&quote.currency, quote.total_minor),
        quote.valid_until.to_string(),
        quote_reference(quote.id),
    )
}

/// A customer as letters name them: `Name (Company)`, or the name alone.
pub(super) fn customer(name: &str, company: &str) -> String {
    if company.is_empty() { name.to_owned() } else { format!("{name} ({company})") }
}
