//! The quote form's fields parsed into a quote, and the store's refusals
//! mapped back to the row of the form they concern.

use chrono::NaiveDate;
use pricegate_domain::{CustomerEmail, DiscountBp, Invalid, Quantity, Sku, Text, limits, parse_date};
use pricegate_store::{NewLine, StoreError};
use uuid::Uuid;

use super::{QuoteFormPage, RowInput};
use crate::pages::PageError;

/// A percentage with at most two decimals (`5`, `2.5`, `12.25`) as basis points.
pub(super) fn parse_percent(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(0);
    }
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

/// Basis points as the form's percentage: `500` → `5`, `250` → `2.5`.
pub(super) fn percent_text(bp: i64) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    if frac == 0 { whole.to_string() } else { format!("{whole}.{frac:02}").trim_end_matches('0').to_owned() }
}

/// The typed rows that are not empty or removed, with their row number on the form.
pub(super) fn parse_rows(rows: &[RowInput]) -> Result<Vec<(usize, NewLine)>, Invalid> {
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.sku.trim().is_empty() || row.remove {
            continue;
        }
        let sku = Sku::parse(&row.sku).map_err(|e| e.within(&format!("lines[{i}]")))?;
        let quantity =
            row.quantity.trim().parse::<i64>().ok().and_then(|q| Quantity::parse(q).ok()).ok_or_else(|| {
                Invalid::new(format!("lines[{i}].quantity"), "Enter a whole number from 1 to 1,000,000.")
            })?;
        let discount = parse_percent(&row.discount)
            .and_then(|bp| DiscountBp::parse(bp).ok())
            .ok_or_else(|| Invalid::new(format!("lines[{i}].discount"), "Enter a percentage from 0 to 100."))?;
        lines.push((i, NewLine { sku, quantity, discount }));
    }
    if lines.is_empty() {
        return Err(Invalid::new("lines[0].sku", "Pick at least one product."));
    }
    Ok(lines)
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

pub(super) fn parse_quote(page: &QuoteFormPage) -> Result<QuoteInput, Invalid> {
    let rows = parse_rows(&page.rows)?;
    Ok(QuoteInput {
        customer_name: Text::parse("customer.name", &page.customer_name, limits::NAME)?,
        customer_email: CustomerEmail::parse(&page.customer_email)
            .map_err(|e| Invalid { field: "customer.email".into(), ..e })?,
        customer_company: Text::parse_optional("customer.company", &page.customer_company, limits::NAME)?,
        signer_id: Uuid::parse_str(page.signer_id.trim())
            .map_err(|_| Invalid::new("signer_id", "Pick the salesperson who will sign."))?,
        valid_until: parse_date("valid_until", &page.valid_until)?,
        notes: Text::parse_multiline_optional("notes", &page.notes, limits::NOTES)?,
        row_of_line: rows.iter().map(|(i, _)| *i).collect(),
        lines: rows.into_iter().map(|(_, l)| l).collect(),
    })
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
pub(super) fn form_invalid(e: StoreError, row_of_line: &[usize]) -> Result<Invalid, PageError> {
    match e {
        StoreError::Invalid(e) => Ok(Invalid { field: to_form_field(&e.field, row_of_line), ..e }),
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
    }

    #[test]
    fn basis_points_read_back_as_the_percentage_typed() {
        for bp in [0, 500, 250, 1225, 5, 10_000] {
            assert_eq!(parse_percent(&percent_text(bp)), Some(bp), "{bp}");
        }
        assert_eq!(percent_text(250), "2.5");
        assert_eq!(percent_text(5), "0.05");
    }

    #[test]
    fn store_line_numbers_map_to_form_rows() {
        assert_eq!(to_form_field("lines[1].sku", &[0, 3]), "lines[3].sku");
        assert_eq!(to_form_field("valid_until", &[0]), "valid_until");
    }
}
