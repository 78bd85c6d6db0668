//! The pages' own template filters: askama finds them as `filters::…` in
//! the module of each template that uses them (`use crate::filters;`).

use askama::filters::Safe;

/// `{{ sentence|whole }}`: the sentence escaped, each day, time, amount and share
/// in it on one line ([`pricegate_mail::whole::keep_whole`], class `nw`).
#[askama::filter_fn]
pub fn whole(text: impl ToString, _: &dyn askama::Values) -> askama::Result<Safe<String>> {
    Ok(Safe(pricegate_mail::whole::keep_whole(&text.to_string(), "<span class=\"nw\">")))
}
