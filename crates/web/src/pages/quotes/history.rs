//! A quote's history, from the audit, in words.

use std::collections::HashMap;

use pricegate_store::views::AuditView;

use pricegate_mail::compose::percent;
use uuid::Uuid;

use crate::pages::money;

/// One entry of a quote's history: when, who, and what, in words.
pub(super) struct HistoryRow {
    pub(super) at: String,
    /// Who, by id: two people may share a name.
    pub(super) actor: Option<Uuid>,
    pub(super) who: String,
    pub(super) what: String,
    /// The same said by the same person again right after (Finalise pressed
    /// five times): how many times in all, and when the last was.
    pub(super) repeated: Option<(usize, String)>,
}

/// `rows` with each run of the same entry, by the same person, one after
/// another, told once with how many times: what the history is printed with
/// as proof reads as what happened, not as a double-click.
pub(super) fn without_repeats(rows: impl IntoIterator<Item = HistoryRow>) -> Vec<HistoryRow> {
    let mut kept: Vec<HistoryRow> = Vec::new();
    for row in rows {
        match kept.last_mut() {
            Some(last) if last.actor == row.actor && last.what == row.what => {
                let times = last.repeated.as_ref().map_or(1, |(times, _)| *times);
                last.repeated = Some((times + 1, row.at));
            }
            _ => kept.push(row),
        }
    }
    kept
}

/// The keys under which a quote's audit entries name people: a signer
/// named, each side of a hand-over.
pub(super) const NAMED_IN_HISTORY: [&str; 3] = ["signer_id", "from", "to"];

/// The person an audit entry's `detail` names under `key`, if any.
pub(super) fn named_in(detail: &serde_json::Value, key: &str) -> Option<Uuid> {
    detail[key].as_str().and_then(|id| Uuid::parse_str(id).ok())
}

/// An audit entry about a quote in words, its amounts in `currency`; the
/// people it names (see [`NAMED_IN_HISTORY`]) by their `names`. `state` is
/// the quote's now: a finalised or cancelled quote stays so, so an attempt
/// refused as it was no longer a draft is said with which it was.
pub(super) fn history_row(
    entry: &pricegate_store::views::AuditView,
    currency: &str,
    names: &HashMap<Uuid, String>,
    state: &str,
) -> String {
    let detail = &entry.detail;
    let closed = match state {
        "finalised" | "cancelled" => state,
        _ => "finalised or cancelled",
    };
    let amount = |key: &str| detail[key].as_i64().map(|minor| money(currency, minor)).unwrap_or_default();
    let name = |key: &str| named_in(detail, key).and_then(|id| names.get(&id)).cloned();
    let signer = name("signer_id").map(|name| format!(", signed by {name}")).unwrap_or_default();
    let refused = |what: &str| {
        // The gate's own refusal says what held the quote up; others name a code.
        let held_up = [
            (detail["pending"].as_array().is_some_and(|p| !p.is_empty()), "notices still to acknowledge"),
            (detail["superseded"].as_array().is_some_and(|s| !s.is_empty()), "lines at a price no longer in force"),
            (detail["expired"].as_bool() == Some(true), "its validity had ended"),
            (detail["signer_can_sign"].as_bool() == Some(false), "its signer could no longer sign"),
        ];
        let held_up: Vec<&str> = held_up.iter().filter(|(held, _)| *held).map(|(_, why)| *why).collect();
        if !held_up.is_empty() {
            return format!("{what} refused: {}", held_up.join(", "));
        }
        let why = match detail["code"].as_str().unwrap_or_default() {
            "pending_acknowledgements" => "notices still to acknowledge",
            "superseded_prices" => "lines at a price no longer in force",
            "quote_expired" => "its validity had ended",
            "signer_cannot_sign" => "its signer could no longer sign",
            "quote_changed" => "the quote had changed since it was read",
            "already_overridden" => "approved already, sent again",
            // A second press of Finalise, or a page opened before: nothing
            // was refused that could have been done.
            "quote_not_draft" if entry.action == "quote.finalise_refused" => {
                return format!("{what} asked again once it was {closed}: nothing changed");
            }
            "quote_not_draft" => return format!("{what} refused: it was {closed} before"),
            "not_signer" => "not its signer",
            "forbidden" => "not for their role",
            "not_owner" => "not theirs to change",
            "not_your_quote" => "someone else's quote",
            "own_quote" => "the approver owns or signs it",
            "nothing_to_override" => "no old price to approve",
            code => return format!("{what} refused (recorded as \u{201c}{code}\u{201d})"),
        };
        format!("{what} refused: {why}")
    };
    match entry.action.as_str() {
        "quote.drafted" => {
            let copied = named_in(detail, "copied_from")
                .map(|source| format!(" as a copy of {}", pricegate_domain::quote_reference(source)))
                .unwrap_or_default();
            format!("Drafted{copied}, total {}{signer}", amount("total_minor"))
        }
        "quote.edited" => edited_row(detail, currency, name("signer_id")),
        "quote.repriced" => {
            // Each product's prices, where the row keeps them (rows written before it did not).
            let products: Vec<String> =
                product_changes(detail, currency).into_iter().map(|change| format!("{change}; ")).collect();
            let ended = match detail["approval_request_ended"].as_bool() {
                Some(true) => "; this withdrew the request for finance's approval of the old prices",
                _ => "",
            };
            format!(
                "Repriced: {}total {} \u{2192} {}{ended}",
                products.concat(),
                amount("old_total_minor"),
                amount("new_total_minor")
            )
        }
        "quote.price_override" => {
            format!("Approved keeping old prices: \u{201c}{}\u{201d}", detail["reason"].as_str().unwrap_or_default())
        }
        "quote.override_refused" => refused("Approving old prices"),
        "quote.approval_requested" => format!(
            "Asked finance to approve keeping old prices: \u{201c}{}\u{201d}",
            detail["reason"].as_str().unwrap_or_default()
        ),
        "quote.approval_reminded" => match (detail["told"].as_u64(), detail["recently_told"].as_u64()) {
            (Some(0) | None, Some(1..)) => {
                "Reminded finance of the request: nobody e-mailed, each was e-mailed about it a moment before"
                    .to_owned()
            }
            (Some(0) | None, _) => "Reminded finance of the request: nobody in finance could be e-mailed".to_owned(),
            (Some(1), _) => "Reminded finance of the request: 1 person e-mailed it again".to_owned(),
            (Some(n), _) => format!("Reminded finance of the request: {n} people e-mailed it again"),
        },
        "quote.approval_declined" => format!(
            "Declined the request to approve keeping old prices: \u{201c}{}\u{201d}",
            detail["reason"].as_str().unwrap_or_default()
        ),
        "quote.finalise_refused" => refused("Finalising"),
        // Someone the quote is not for, refused at the door.
        "access.denied" => refused(match detail["route"].as_str().unwrap_or_default().rsplit('/').next() {
            Some("finalise") => "Finalising",
            Some("reprice") => "Repricing",
            Some("cancel") => "Cancelling",
            Some("override") => "Approving old prices",
            Some("approval-request") => "Asking finance to approve old prices",
            Some("handover") => "Handing it over",
            Some("edit") => "Editing",
            _ if detail["method"] == "PATCH" || detail["method"] == "PUT" => "Editing",
            _ if detail["method"] == "GET" => "Opening it",
            _ => "A request about it",
        }),
        "quote.handed_over" => {
            let (from, to) = (name("from").unwrap_or_default(), name("to").unwrap_or_default());
            let part = match (detail["owner"].as_bool(), detail["signer"].as_bool()) {
                (Some(true), Some(true)) => "owns and signs it",
                (Some(true), _) => "owns it",
                _ => "signs it",
            };
            format!("Handed over from {from} to {to}, who now {part}")
        }
        "quote.finalised" => "Finalised".to_owned(),
        "quote.cancelled" => "Cancelled".to_owned(),
        other => other.to_owned(),
    }
}

/// The people who owned or signed the quote at some time, as its history
/// (`entries`) tells it: whose account changes it tells too.
pub(super) fn parties(entries: &[AuditView]) -> Vec<Uuid> {
    let mut parties: Vec<Uuid> = entries
        .iter()
        .filter(|e| e.action == "quote.drafted")
        .filter_map(|e| e.actor_id)
        .chain(entries.iter().flat_map(|e| NAMED_IN_HISTORY.iter().filter_map(|key| named_in(&e.detail, key))))
        .collect();
    parties.sort_unstable();
    parties.dedup();
    parties
}

/// `entries` (the quote's history, oldest first) with, in the order they
/// happened, those of `changes` ([`pricegate_store::Store::signing_changes`])
/// to the account of someone who owned or signed the quote then, each said
/// as what it meant for the quote (the others left out: the person was no
/// longer its signer, say).
pub(super) fn with_parties_changes<'a>(
    entries: &'a [AuditView],
    changes: &'a [AuditView],
    names: &HashMap<Uuid, String>,
) -> Vec<(&'a AuditView, Option<String>)> {
    let mut all: Vec<&AuditView> = entries.iter().chain(changes).collect();
    all.sort_by_key(|e| e.at);
    let (mut owner, mut signer): (Option<Uuid>, Option<Uuid>) = (None, None);
    let mut told = Vec::with_capacity(all.len());
    for entry in all {
        let detail = &entry.detail;
        match entry.action.as_str() {
            "quote.drafted" => {
                owner = entry.actor_id;
                signer = named_in(detail, "signer_id").or(owner);
            }
            "quote.edited" => signer = named_in(detail, "signer_id").or(signer),
            "quote.handed_over" => {
                let to = named_in(detail, "to");
                if detail["owner"].as_bool() == Some(true) {
                    owner = to;
                }
                if detail["signer"].as_bool() == Some(true) {
                    signer = to;
                }
            }
            "user.updated" => {
                let Some(said) = party_change(entry, owner, signer, names) else { continue };
                told.push((entry, Some(said)));
                continue;
            }
            _ => {}
        }
        told.push((entry, None));
    }
    told
}

/// What a change to the account of the quote's `owner` or `signer` meant for
/// it, in words; `None` for someone else's.
fn party_change(
    change: &AuditView,
    owner: Option<Uuid>,
    signer: Option<Uuid>,
    names: &HashMap<Uuid, String>,
) -> Option<String> {
    let person = change.subject_id?;
    let (owns, signs) = (owner == Some(person), signer == Some(person));
    let part = match (owns, signs) {
        (true, true) => "its owner and signer",
        (false, true) => "its signer",
        (true, false) => "its owner",
        (false, false) => return None,
    };
    let (before, after) = (&change.detail["before"], &change.detail["after"]);
    // Said as the e-mail to an owner says it: in sales or not, not the other role.
    let in_sales = |side: &serde_json::Value| side["role"].as_str() == Some("sales");
    let what = match (before["active"].as_bool(), after["active"].as_bool()) {
        (Some(true), Some(false)) => "was deactivated",
        (Some(false), Some(true)) => "was reactivated",
        _ => match (in_sales(before), in_sales(after)) {
            (true, false) => "was moved out of sales",
            (false, true) => "was moved into sales",
            // Between finance and admin: no matter to the quote.
            _ => return None,
        },
    };
    let can_sign = after["active"].as_bool() == Some(true) && in_sales(after);
    let meant = match (can_sign, signs) {
        (false, true) => "they can no longer sign it, and it waits for another signer",
        (false, false) => "they can no longer change it",
        (true, true) => "they can sign it again",
        (true, false) => "they can change it again",
    };
    let name = names.get(&person).map_or("Someone", String::as_str);
    Some(format!("{name}, {part}, {what}: {meant}"))
}

/// What an edit changed, as its audit row records it: each field, each
/// product's quantity, lines, discounts and prices, and the total; who signs
/// the quote only where that changed. Rows written before edits said what
/// they changed give the total and signer alone.
pub(in crate::pages) fn edited_row(detail: &serde_json::Value, currency: &str, signer: Option<String>) -> String {
    let amount = |key: &str| detail[key].as_i64().map(|minor| money(currency, minor)).unwrap_or_default();
    let Some(fields) = detail["changed"].as_array() else {
        let signer = signer.map(|name| format!(", signed by {name}")).unwrap_or_default();
        return format!("Edited: total {}{signer}", amount("total_minor"));
    };
    let mut said: Vec<String> = Vec::new();
    // A field with what it was and is, where the row keeps them (rows
    // written before it did name the field alone); long notes are cut.
    let words = |field: &str, name: &str| {
        let cut = |v: &serde_json::Value| {
            let text = v.as_str().unwrap_or_default();
            match text.chars().count() > 80 {
                true => format!("{}…", text.chars().take(80).collect::<String>()),
                false => text.to_owned(),
            }
        };
        match (&detail[format!("{field}_before")], &detail[field]) {
            (was, is) if was.is_string() && is.is_string() => {
                format!("{name} \u{201c}{}\u{201d} \u{2192} \u{201c}{}\u{201d}", cut(was), cut(is))
            }
            _ => name.to_owned(),
        }
    };
    for field in fields.iter().filter_map(|f| f.as_str()) {
        match field {
            "customer_name" => said.push(words(field, "customer name")),
            "customer_email" => said.push(words(field, "customer e-mail")),
            "customer_company" => said.push(words(field, "customer company")),
            "notes" => said.push(words(field, "notes")),
            "valid_until" => said.push(format!(
                "valid until {} \u{2192} {}",
                detail["valid_until_before"].as_str().unwrap_or("?"),
                detail["valid_until"].as_str().unwrap_or("?")
            )),
            "signer_id" => {
                said.push(format!("now signed by {}", signer.as_deref().unwrap_or("someone no longer listed")));
            }
            "lines" => {
                let products = product_changes(detail, currency);
                if products.is_empty() && detail["names_refreshed"].as_bool() == Some(true) {
                    said.push("products' names or units brought up to date".into());
                } else if products.is_empty() {
                    said.push("lines rearranged".into());
                }
                said.extend(products);
            }
            other => said.push(other.to_owned()),
        }
    }
    let (before, after) = (amount("total_before_minor"), amount("total_minor"));
    let total = if before.is_empty() || before == after {
        format!("total {after}")
    } else {
        format!("total {before} \u{2192} {after}")
    };
    let ended = match detail["approval_request_ended"].as_bool() {
        Some(true) => "; this ended the request for finance's approval of old prices, which was about the lines before",
        _ => "",
    };
    format!("Edited: {}; {total}{ended}", said.join(", "))
}

/// Each product's change an audit row's `lines` keeps (an edit's, a
/// repricing's), in words ([`product_change`]).
pub(super) fn product_changes(detail: &serde_json::Value, currency: &str) -> Vec<String> {
    detail["lines"].as_array().into_iter().flatten().filter_map(|change| product_change(change, currency)).collect()
}

/// One product's change in an edit's audit row, in words: `P-1 2 → 5`,
/// `P-3 added (1)`, `P-2 removed (1)`, `P-1 on 1 line → 2 lines`,
/// `P-1 15 on 2 lines → 12 on 1 line` (a line of it removed),
/// `P-1 discount 0.00 % → 12.50 %`, `P-1 unit price 10.00 EUR → 11.00 EUR`.
/// Quantities are written as the pages write them (`1,000`).
pub(super) fn product_change(change: &serde_json::Value, currency: &str) -> Option<String> {
    use pricegate_domain::count as amount;
    let sku = change["sku"].as_str()?;
    let count = |key: &str| change[key].as_i64();
    let (quantity_before, quantity_after) = (count("quantity_before")?, count("quantity_after")?);
    let (lines_before, lines_after) = (count("lines_before")?, count("lines_after")?);
    let on_lines = |lines: i64| if lines > 1 { format!(" on {lines} lines") } else { String::new() };
    if lines_before == 0 {
        return Some(format!("{sku} added ({}{})", amount(quantity_after), on_lines(lines_after)));
    }
    if lines_after == 0 {
        return Some(format!("{sku} removed ({}{})", amount(quantity_before), on_lines(lines_before)));
    }
    let lines = |n: i64| if n == 1 { "1 line".to_owned() } else { format!("{n} lines") };
    let mut parts: Vec<String> = Vec::new();
    match (quantity_before != quantity_after, lines_before != lines_after) {
        (true, false) => parts.push(format!("{} \u{2192} {}", amount(quantity_before), amount(quantity_after))),
        (false, true) => parts.push(format!("on {} \u{2192} {}", lines(lines_before), lines(lines_after))),
        (true, true) => parts.push(format!(
            "{} on {} \u{2192} {} on {}",
            amount(quantity_before),
            lines(lines_before),
            amount(quantity_after),
            lines(lines_after)
        )),
        (false, false) => {}
    }
    let both = |key: &str, say: &dyn Fn(i64) -> String| -> Option<String> {
        let sides = change[key].as_array()?;
        let side = |i: usize| -> Option<String> {
            let said: Vec<String> = sides.get(i)?.as_array()?.iter().filter_map(|v| v.as_i64()).map(say).collect();
            Some(said.join(" and "))
        };
        Some(format!("{} \u{2192} {}", side(0)?, side(1)?))
    };
    if let Some(discounts) = both("discounts_bp", &|bp| percent(i32::try_from(bp).unwrap_or(0))) {
        parts.push(format!("discount {discounts}"));
    }
    if let Some(prices) = both("unit_prices_minor", &|minor| money(currency, minor)) {
        parts.push(format!("unit price {prices}"));
    }
    if change["units_moved"].as_bool() == Some(true) {
        parts.push("units moved between its lines".to_owned());
    }
    Some(format!("{sku} {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_to_an_account_is_told_while_its_person_owns_or_signs_the_quote() {
        let (sam, sara, ada) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let at = |minute: u32| chrono::DateTime::from_timestamp(1_800_000_000 + i64::from(minute) * 60, 0).unwrap();
        let entry = |minute, actor, action: &str, subject, detail| AuditView {
            id: Uuid::new_v4(),
            at: at(minute),
            actor_id: Some(actor),
            action: action.into(),
            subject_type: if action.starts_with("user.") { "user" } else { "quote" }.into(),
            subject_id: Some(subject),
            detail,
        };
        let quote = Uuid::new_v4();
        let account = |active: bool, role: &str| serde_json::json!({ "active": active, "role": role });
        let change = |minute, person, before, after| {
            entry(minute, ada, "user.updated", person, serde_json::json!({ "before": before, "after": after }))
        };
        let entries = [
            entry(0, sam, "quote.drafted", quote, serde_json::json!({ "signer_id": sara })),
            entry(20, sam, "quote.edited", quote, serde_json::json!({ "signer_id": sam })),
        ];
        let changes = [
            change(10, sara, account(true, "sales"), account(true, "finance")),
            change(30, sara, account(true, "finance"), account(true, "sales")),
            change(40, sam, account(true, "sales"), account(false, "sales")),
        ];
        let names = HashMap::from([(sam, "Sam".to_owned()), (sara, "Sara".to_owned())]);
        let told: Vec<(&str, Option<String>)> = with_parties_changes(&entries, &changes, &names)
            .into_iter()
            .map(|(e, said)| (e.action.as_str(), said))
            .collect();
        let moved = "Sara, its signer, was moved out of sales: they can no longer sign it, and it waits for another \
                     signer";
        let gone = "Sam, its owner and signer, was deactivated: they can no longer sign it, and it waits for another \
                    signer";
        assert_eq!(
            told,
            [
                ("quote.drafted", None),
                ("user.updated", Some(moved.to_owned())),
                ("quote.edited", None),
                ("user.updated", Some(gone.to_owned())),
            ],
            "Sara back in sales after she no longer signed it is not the quote's to tell"
        );
    }

    #[test]
    fn the_same_entry_by_the_same_person_in_a_row_is_told_once_with_how_many_times() {
        let (sam, sara) = (Uuid::new_v4(), Uuid::new_v4());
        let row = |at: &str, who: &str, what: &str| HistoryRow {
            at: at.into(),
            actor: Some(if who == "Sam" { sam } else { sara }),
            who: who.into(),
            what: what.into(),
            repeated: None,
        };
        let again = "Finalising asked again once it was finalised: nothing changed";
        let rows = without_repeats([
            row("10:00:00", "Sam", "Finalised"),
            row("10:00:01", "Sam", again),
            row("10:00:01", "Sam", again),
            row("10:00:02", "Sam", again),
            row("10:05:00", "Sara", again),
            row("10:06:00", "Sam", again),
        ]);
        let told: Vec<String> = rows
            .iter()
            .map(|r| match &r.repeated {
                Some((times, last)) => format!("{} {} x{times} to {last}", r.who, r.at),
                None => format!("{} {}", r.who, r.at),
            })
            .collect();
        assert_eq!(told, ["Sam 10:00:00", "Sam 10:00:01 x3 to 10:00:02", "Sara 10:05:00", "Sam 10:06:00"]);
    }

    #[test]
    fn an_edit_of_a_product_says_its_quantities_and_lines_together() {
        let change = |quantities: [i64; 2], lines: [i64; 2]| {
            serde_json::json!({"sku": "P-1", "quantity_before": quantities[0], "quantity_after": quantities[1],
                "lines_before": lines[0], "lines_after": lines[1]})
        };
        let said = |q, l| product_change(&change(q, l), "EUR").unwrap_or_default();
        assert_eq!(said([15, 12], [2, 1]), "P-1 15 on 2 lines \u{2192} 12 on 1 line", "a line of it removed");
        assert_eq!(said([1_000, 800], [1, 1]), "P-1 1,000 \u{2192} 800", "as the pages write quantities");
        assert_eq!(said([5, 5], [1, 2]), "P-1 on 1 line \u{2192} 2 lines");
        assert_eq!(said([0, 1_200], [0, 2]), "P-1 added (1,200 on 2 lines)");
    }
}
