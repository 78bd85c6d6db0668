//! The quote form's fields parsed into a quote, and the store's refusals
//! mapped back to the row of the form they concern.

use chrono::NaiveDate;
use pricegate_domain::{Calendar, CustomerEmail, DiscountBp, Invalid, Quantity, Sku, Text, limits, parse_date};
use pricegate_store::{NewLine, StoreError};
use uuid::Uuid;

use super::{ProductOption, QuoteFormPage, RowInput};
use crate::pages::PageError;

/// A percentage with at most two decimals (`5`, `2.5`, `12.25`, `5 %`) as basis points.
pub(super) fn parse_percent(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(0);
    }
    let raw = raw.strip_suffix('%').map_or(raw, str::trim_end);
    let (whole, frac) = raw.split_once(['.', ',']).unwrap_or((raw, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 2
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

/// A whole quantity as people write it: `1000`, or grouped by thousands as
/// prices are (`1,000`, `1 000`, with the no-break or narrow no-break space a
/// spreadsheet copies too), as the form's own messages write them. A
/// separator anywhere else is refused, not guessed at (`1,5` is no
/// quantity), and so is a leading zero before one (`0,500`).
pub(super) fn parse_whole(raw: &str) -> Option<i64> {
    let raw = raw.trim().replace(pricegate_domain::product_csv::GROUPING_SPACES, " ");
    let raw = raw.as_str();
    if raw.starts_with('0') && raw.len() > 1 {
        // `012` is twelve, as typed; `0,500` may be someone's half, not five
        // hundred, so a leading zero before a separator is refused.
        return raw.bytes().all(|b| b.is_ascii_digit()).then(|| raw.parse().ok()).flatten();
    }
    pricegate_domain::parse_amount(raw, 0).filter(|_| !raw.contains('.'))
}

/// Basis points as the form's percentage: `500` → `5`, `250` → `2.5`.
pub(super) fn percent_text(bp: i64) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    if frac == 0 { whole.to_string() } else { format!("{whole}.{frac:02}").trim_end_matches('0').to_owned() }
}

/// `result`'s value, or `None` with its error added to `errors`: a form
/// reports every field it refuses at once, not one per submit.
fn keep<T>(errors: &mut Vec<Invalid>, result: Result<T, Invalid>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// The typed rows that are not empty or removed, each with its row number
/// on the form, as lines, and every problem of every row. The products of
/// rows refused for their quantity or discount are in `skus` too, so that
/// an unknown one is named with the rest.
pub(super) struct Rows {
    pub lines: Vec<(usize, NewLine)>,
    pub skus: Vec<(usize, Sku)>,
    pub errors: Vec<Invalid>,
}

pub(super) fn parse_rows(rows: &[RowInput]) -> Rows {
    let mut lines = Vec::new();
    let mut skus = Vec::new();
    let mut errors = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.remove {
            continue;
        }
        if row.sku.trim().is_empty() {
            // A quantity or a discount typed into a row whose product was
            // forgotten: a line meant, not one to skip without a word.
            // A discount of nothing (a copied line's 0 left as it was) means no line.
            if !row.quantity.trim().is_empty() || parse_percent(&row.discount).is_none_or(|bp| bp != 0) {
                errors.push(Invalid::new(
                    format!("lines[{i}].sku"),
                    "This line has a quantity or a discount but no product: choose its product, or empty its \
                     quantity and discount to leave it out.",
                ));
            }
            continue;
        }
        // Not a SKU at all: mistyped (a long price list has each line's typed),
        // or from an altered form.
        let sku = Sku::parse(&row.sku).map_err(|_| {
            Invalid::new(
                format!("lines[{i}].sku"),
                format!(
                    "\u{201c}{}\u{201d} is no product's SKU: choose a product from the list.",
                    row.sku.trim().chars().take(40).collect::<String>()
                ),
            )
        });
        let sku = keep(&mut errors, sku);
        skus.extend(sku.clone().map(|sku| (i, sku)));
        // A new line's left empty, as its placeholder shows: one. A line
        // the draft carries whose quantity was emptied is refused.
        let quantity = if row.quantity.trim().is_empty() && !row.existing { "1" } else { row.quantity.as_str() };
        let quantity = keep(
            &mut errors,
            parse_whole(quantity).and_then(|q| Quantity::parse(q).ok()).ok_or_else(|| {
                // `1.000`, as much of Europe groups a thousand, or a
                // decimal: neither is read as the other.
                let message = match quantity.contains('.') {
                    true => "Enter a whole number from 1 to 1,000,000, without a point: a quantity has no decimals, \
                             and its thousands are grouped by commas or spaces (1,000 or 1 000)."
                        .to_owned(),
                    false => "Enter a whole number from 1 to 1,000,000.".to_owned(),
                };
                Invalid::new(format!("lines[{i}].quantity"), message)
            }),
        );
        let discount = keep(
            &mut errors,
            parse_percent(&row.discount).and_then(|bp| DiscountBp::parse(bp).ok()).ok_or_else(|| {
                Invalid::new(
                    format!("lines[{i}].discount"),
                    "Enter a percentage from 0 to 100 with at most two decimals, such as 5 or 12.5.",
                )
            }),
        );
        if let (Some(sku), Some(quantity), Some(discount)) = (sku, quantity, discount) {
            lines.push((i, NewLine { sku, quantity, discount }));
        }
    }
    if skus.is_empty() && errors.is_empty() {
        errors.push(Invalid::new("lines[0].sku", "Pick at least one product."));
    }
    Rows { lines, skus, errors }
}

/// Each row's product on the form's list, in one currency: the quote's, or
/// (for a new quote) the first row's product's.
fn check_products(skus: &[(usize, Sku)], products: &[ProductOption], currency: Option<&str>) -> Vec<Invalid> {
    let find = |sku: &str| products.iter().find(|p| p.sku == sku);
    let currency = currency
        .map(str::to_owned)
        .or_else(|| skus.first().and_then(|(_, sku)| find(sku.as_str())).map(|p| p.currency.clone()));
    let mut refused = Vec::new();
    for (row, sku) in skus {
        let sku = sku.as_str();
        let field = format!("lines[{row}].sku");
        match find(sku) {
            None => {
                let near = products.iter().find(|p| p.sku.to_lowercase() == sku.to_lowercase());
                refused.push(Invalid::new(field, Sku::unknown(sku, near.map(|p| p.sku.as_str()))));
            }
            Some(ProductOption { withdrawn: Some(name), .. }) => {
                refused.push(Invalid::new(field, Sku::withdrawn(sku, name)))
            }
            Some(p) if currency.as_deref().is_some_and(|c| c != p.currency) => refused
                .push(Invalid::new(field, Sku::other_currency(sku, &p.currency, currency.as_deref().unwrap_or("")))),
            Some(_) => {}
        }
    }
    refused
}

/// Everything the form says about a quote, parsed.
pub(super) struct QuoteInput {
    pub customer_name: Text,
    pub customer_email: CustomerEmail,
    pub customer_company: Text,
    pub signer_id: Uuid,
    pub valid_until: NaiveDate,
    pub notes: Text,
    pub lines: Vec<NewLine>,
    /// The form row each line came from, to put the store's errors beside it.
    pub row_of_line: Vec<usize>,
}

/// How many years ahead a quote's validity is asked about before it is kept.
pub(super) const FAR_YEARS: u32 = 5;

/// The last validity date kept without asking, for a form read on `today`.
pub(super) fn far_from(today: NaiveDate) -> NaiveDate {
    today.checked_add_months(chrono::Months::new(12 * FAR_YEARS)).unwrap_or(NaiveDate::MAX)
}

/// How the question about a validity date far ahead ends.
pub(super) const FAR_AHEAD_ASKED: &str = "If that is the date you mean, save again; if not, correct it.";

/// Why a validity date far ahead is asked about: a quote valid for decades
/// keeps its prices for as long, and 2062 is easily typed for 2026.
fn far_ahead(date: NaiveDate, today: NaiveDate) -> Invalid {
    let years = date.years_since(today).unwrap_or_default();
    Invalid::new(
        "valid_until",
        format!(
            "valid_until is {date}, {years} years from today: the quote keeps its prices until then. {FAR_AHEAD_ASKED}"
        ),
    )
}

/// The form parsed, or every field it refuses. `kept` is the validity date an
/// edited quote already has: it may have passed (the lines can still be
/// corrected); any other date in the past is refused with the rest, not
/// only once they are put right (the store checks it again, by the
/// database's clock).
///
/// Each line's product is checked against the form's list too (it exists, in
/// the quote's currency: `currency`, or a new quote's first product's), so
/// that those refusals come with the rest; the store checks them again.
pub(super) fn parse_quote(
    page: &QuoteFormPage,
    kept: Option<NaiveDate>,
    currency: Option<&str>,
    (calendar, today): (Calendar, NaiveDate),
) -> Result<QuoteInput, Vec<Invalid>> {
    let mut errors = Vec::new();
    let customer_name = keep(&mut errors, Text::parse("customer.name", &page.customer_name, limits::NAME));
    let customer_email = keep(
        &mut errors,
        CustomerEmail::parse(&page.customer_email).map_err(|e| Invalid { field: "customer.email".into(), ..e }),
    );
    let customer_company =
        keep(&mut errors, Text::parse_optional("customer.company", &page.customer_company, limits::NAME));
    let signer_id = keep(
        &mut errors,
        Uuid::parse_str(page.signer_id.trim())
            .map_err(|_| Invalid::new("signer_id", "Pick the salesperson who will sign.")),
    );
    // Left empty, the date picker's field is missing, not misspelt.
    let dated = match page.valid_until.trim().is_empty() {
        true => Err(Invalid::new("valid_until", "valid_until is missing: pick the last day the quote's prices hold.")),
        false => parse_date("valid_until", &page.valid_until),
    };
    let valid_until = keep(
        &mut errors,
        dated.and_then(|date| match Some(date) == kept {
            true => Ok(date),
            false => calendar.refuse_past("valid_until", date, today).and_then(|date| {
                match date > far_from(today) && !page.validity_confirmed() {
                    true => Err(far_ahead(date, today)),
                    false => Ok(date),
                }
            }),
        }),
    );
    let notes = keep(&mut errors, Text::parse_multiline_optional("notes", &page.notes, limits::NOTES));
    let (rows, refused) = rows_and_refusals(&page.rows, &page.products, currency);
    let rows = refused.is_empty().then_some(rows);
    errors.extend(refused);
    match (customer_name, customer_email, customer_company, signer_id, valid_until, notes, rows) {
        (
            Some(customer_name),
            Some(customer_email),
            Some(customer_company),
            Some(signer_id),
            Some(valid_until),
            Some(notes),
            Some(rows),
        ) => Ok(QuoteInput {
            customer_name,
            customer_email,
            customer_company,
            signer_id,
            valid_until,
            notes,
            row_of_line: rows.iter().map(|(i, _)| *i).collect(),
            lines: rows.into_iter().map(|(_, l)| l).collect(),
        }),
        _ => Err(errors),
    }
}

/// The form's rows as lines, and every refusal of them: of their fields,
/// and of their products (unknown, or in another currency), each row's
/// together and in the form's order, so that the first named is the first
/// on the form.
fn rows_and_refusals(
    rows: &[RowInput],
    products: &[ProductOption],
    currency: Option<&str>,
) -> (Vec<(usize, NewLine)>, Vec<Invalid>) {
    let Rows { lines, skus, mut errors } = parse_rows(rows);
    errors.extend(check_products(&skus, products, currency));
    errors.sort_by_key(|e| place_on_form(&e.field));
    (lines, errors)
}

/// Where a field `lines[i].x` is on the form: its row, then its column.
fn place_on_form(field: &str) -> (usize, usize) {
    let Some((row, column)) = field.strip_prefix("lines[").and_then(|rest| rest.split_once("].")) else {
        return (0, 0);
    };
    let column = ["sku", "quantity", "discount"].iter().position(|c| *c == column).unwrap_or(3);
    (row.parse().unwrap_or(0), column)
}

/// `lines[j].x` from the store counts only the rows sent; the form counts all.
pub(super) fn to_form_field(field: &str, row_of_line: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("lines[") else { return field.to_owned() };
    let Some((index, tail)) = rest.split_once(']') else { return field.to_owned() };
    match index.parse::<usize>().ok().and_then(|j| row_of_line.get(j)) {
        Some(row) => format!("lines[{row}]{tail}"),
        None => field.to_owned(),
    }
}

/// A store refusal of the form's input, with its field named as the form
/// names it; any other error ends the request.
pub(super) fn form_invalid(e: StoreError, row_of_line: &[usize]) -> Result<Vec<Invalid>, PageError> {
    match e {
        StoreError::Invalid(e) => Ok(vec![Invalid { field: to_form_field(&e.field, row_of_line), ..e }]),
        e => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(parse_percent(""), Some(0));
        assert_eq!(parse_percent("5"), Some(500));
        assert_eq!(parse_percent("2.5"), Some(250));
        assert_eq!(parse_percent("12,25"), Some(1225));
        assert_eq!(parse_percent("1.234"), None);
        assert_eq!(parse_percent("-1"), None);
        assert_eq!(parse_percent("."), None);
        assert_eq!(parse_percent("5%"), Some(500));
        assert_eq!(parse_percent("2,5 %"), Some(250));
        assert_eq!(parse_percent("%"), None);
    }

    #[test]
    fn quantities_may_be_grouped_by_thousands() {
        for (raw, whole) in [
            ("1000", Some(1000)),
            (" 1,000 ", Some(1000)),
            ("1 000", Some(1000)),
            ("1\u{a0}000", Some(1000)),
            ("12\u{202f}500", Some(12_500)),
            ("1,000,000", Some(1_000_000)),
            ("0", Some(0)),
            ("012", Some(12)),
            ("007", Some(7)),
            ("000", Some(0)),
        ] {
            assert_eq!(parse_whole(raw), whole, "{raw}");
        }
        for raw in [
            "1,5",
            "1,0000",
            "1000,000",
            ",100",
            "1,",
            "",
            "-1",
            "1.000",
            "1.",
            "0,500",
            "01,000",
            "0 500",
            "099999999999999999999",
            "two",
        ] {
            assert_eq!(parse_whole(raw), None, "{raw}");
        }
    }

    #[test]
    fn a_quantity_with_a_point_is_said_to_be_no_whole_number() {
        let row = |quantity: &str| super::super::RowInput {
            sku: "PUMP-1".into(),
            quantity: quantity.into(),
            ..Default::default()
        };
        let said =
            |quantity: &str| parse_rows(&[row(quantity)]).errors.into_iter().map(|e| e.message).collect::<Vec<_>>();
        assert_eq!(
            said("1.000"),
            ["Enter a whole number from 1 to 1,000,000, without a point: a quantity has no decimals, and its \
              thousands are grouped by commas or spaces (1,000 or 1 000)."]
        );
        assert_eq!(said("two"), ["Enter a whole number from 1 to 1,000,000."]);
        assert!(said("1\u{a0}000").is_empty());
        assert_eq!(parse_rows(&[row("1\u{a0}000")]).lines[0].1.quantity.get(), 1000);
    }

    #[test]
    fn basis_points_read_back_as_the_percentage_typed() {
        for bp in [0, 500, 250, 1225, 5, 10_000] {
            assert_eq!(parse_percent(&percent_text(bp)), Some(bp), "{bp}");
        }
        assert_eq!(percent_text(250), "2.5");
        assert_eq!(percent_text(5), "0.05");
    }

    fn row(sku: &str, quantity: &str, discount: &str) -> RowInput {
        RowInput {
            sku: sku.into(),
            quantity: quantity.into(),
            discount: discount.into(),
            remove: false,
            existing: false,
        }
    }

    #[test]
    fn every_refused_field_of_every_row_is_reported_at_once() {
        let fields =
            |rows: &[RowInput]| -> Vec<String> { parse_rows(rows).errors.into_iter().map(|e| e.field).collect() };
        let rows = [row("PUMP-1", "0", "150"), row("", "", ""), row("VALVE-7", "two", "5")];
        assert_eq!(fields(&rows), ["lines[0].quantity", "lines[0].discount", "lines[2].quantity"]);
        let skus: Vec<usize> = parse_rows(&rows).skus.iter().map(|(i, _)| *i).collect();
        assert_eq!(skus, [0, 2], "their products are still checked");
        assert_eq!(fields(&[row("", "", "")]), ["lines[0].sku"], "a form with no product says so");
        let one = parse_rows(&[row("PUMP-1", "2", "5 %")]);
        assert_eq!((one.lines.len(), one.errors.len()), (1, 0));
        // A product with its quantity and discount left empty, as a new row's
        // placeholders show them: one, with no discount.
        let one = parse_rows(&[row("PUMP-1", " ", "")]);
        assert_eq!((one.lines[0].1.quantity.get(), one.lines[0].1.discount.get(), one.errors.len()), (1, 0, 0));
        // A line the draft carries, its quantity emptied: refused, not one.
        let emptied = RowInput { existing: true, ..row("PUMP-1", "", "") };
        assert_eq!(fields(&[emptied]), ["lines[0].quantity"]);
    }

    #[test]
    fn a_row_with_a_quantity_or_discount_but_no_product_is_refused_not_skipped() {
        let parsed = parse_rows(&[row("PUMP-1", "2", ""), row("", "50", "10"), row("", "1", " 0 "), row("", "", "5")]);
        let fields: Vec<&str> = parsed.errors.iter().map(|e| e.field.as_str()).collect();
        // A new row's blank fields show 1 and 0 as placeholders only: typed,
        // they are a line meant.
        assert_eq!(fields, ["lines[1].sku", "lines[2].sku", "lines[3].sku"]);
        assert!(parse_rows(&[row("PUMP-1", "2", ""), row("", "", "")]).errors.is_empty(), "a blank row is skipped");
        let copied = RowInput { existing: true, ..row("", "", "0") };
        assert!(parse_rows(&[row("PUMP-1", "2", ""), copied]).errors.is_empty(), "a copied line emptied is skipped");
        assert!(parsed.errors[0].message.starts_with("This line has a quantity or a discount but no product"));
        let removed = RowInput { remove: true, ..row("", "50", "") };
        assert!(parse_rows(&[row("PUMP-1", "2", ""), removed]).errors.is_empty(), "a line ticked Remove goes");
    }

    #[test]
    fn an_unknown_product_is_named_with_the_rows_other_refusals() {
        let option = |sku: &str, withdrawn: Option<&str>| ProductOption {
            sku: sku.into(),
            label: sku.into(),
            currency: "EUR".into(),
            withdrawn: withdrawn.map(Into::into),
            in_currency: true,
        };
        let products = [option("PUMP-1", None), option("OLD-1", Some("Old pump"))];
        let rows = [row("PUMP-1", "0", ""), row("NOPE-1", "2", ""), row("pump-1", "two", ""), row("OLD-1", "1", "")];
        let (_, errors) = rows_and_refusals(&rows, &products, None);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["lines[0].quantity", "lines[1].sku", "lines[2].sku", "lines[2].quantity", "lines[3].sku"]);
        assert!(errors[4].message.starts_with("OLD-1 (Old pump) is withdrawn from sale"), "{}", errors[4].message);
    }

    #[test]
    fn store_line_numbers_map_to_form_rows() {
        assert_eq!(to_form_field("lines[1].sku", &[0, 3]), "lines[3].sku");
        assert_eq!(to_form_field("valid_until", &[0]), "valid_until");
    }
}
