//! The price-list CSV: `sku,name,unit,currency,unit_price_minor`, header
//! first; or with `unit_price` last, the price in the currency's units as
//! people write it (`1250.00`, `"1,250.00"`), as a spreadsheet exports it.
//! Parsing is all or nothing; every problem names the line of the file it is
//! on (the header is line 1) so a person can fix the file in one pass.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::csv::{guarded, push_line, unguarded};
use crate::money::parse_unit_price;
use crate::{Currency, Invalid, Sku, Text};

pub const HEADER: [&str; 5] = ["sku", "name", "unit", "currency", "unit_price_minor"];
/// The same with the price in the currency's units (`1250.00`).
pub const DECIMAL_HEADER: [&str; 5] = ["sku", "name", "unit", "currency", "unit_price"];
/// A price list larger than this is refused rather than half-read.
pub const MAX_ROWS: usize = 10_000;

/// One product as [`write_products`] writes it.
pub struct ExportRow<'a> {
    pub sku: &'a str,
    pub name: &'a str,
    pub unit: &'a str,
    pub currency: &'a Currency,
    pub unit_price_minor: i64,
}

/// Products as a CSV file [`parse_products`] reads back: the header
/// `sku,name,unit,currency,unit_price`, then a line for each, its price as
/// people write it (`1250.00`, in its currency's units), lines ending in
/// CRLF. A field with a comma, a quote, a line break or a space at either
/// end is quoted, its quotes doubled; a SKU, name or unit a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@` first: a SKU may start with
/// `-`) starts with an apostrophe, as does such a cell after a `;` in it
/// (see [`guarded`]), which the import takes off.
pub fn write_products<'a>(rows: impl IntoIterator<Item = ExportRow<'a>>) -> String {
    let mut out = DECIMAL_HEADER.join(",");
    out.push_str("\r\n");
    for row in rows {
        let price = row.currency.decimal(row.unit_price_minor);
        let (sku, name, unit) = (guarded(row.sku), guarded(row.name), guarded(row.unit));
        push_line(&mut out, &[sku.as_str(), name.as_str(), unit.as_str(), row.currency.code(), price.as_str()]);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    pub line: u64,
    pub sku: Sku,
    pub name: Text,
    pub unit: Text,
    pub currency: Currency,
    pub unit_price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
    /// The SKU the line begins with, trimmed, where the line was read into
    /// fields of its own: a line left out for its SKU is left out whatever
    /// else it holds.
    pub sku: Option<String>,
}

impl RowError {
    fn new(line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        RowError { line, field: field.map(str::to_owned), message: message.into(), sku: None }
    }

    /// The same error, of a line that begins with `record`'s SKU.
    fn of_line(self, record: &csv::StringRecord) -> Self {
        let sku = record.get(0).map(str::trim).filter(|sku| !sku.is_empty()).map(str::to_owned);
        RowError { sku, ..self }
    }
}

/// A price list read all or nothing: every row, or every error.
pub fn parse_products(input: &[u8]) -> Result<Vec<ProductRow>, Vec<RowError>> {
    all_or_nothing(read_products(input))
}

/// What [`read_products`] read, as all or nothing: its rows if it found no
/// error and at least one row; otherwise the errors.
pub fn all_or_nothing((rows, errors): (Vec<ProductRow>, Vec<RowError>)) -> Result<Vec<ProductRow>, Vec<RowError>> {
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![RowError::new(2, None, "The file has a header but no products.")]);
    }
    Ok(rows)
}

/// A price list read as far as it can be: the rows that parse, and an error
/// for each line that does not (or for the whole file, with no rows), so a
/// preview can also check the good rows against the price list and name
/// every problem at once.
pub fn read_products(input: &[u8]) -> (Vec<ProductRow>, Vec<RowError>) {
    match read(input) {
        Ok(read) => read,
        Err(whole_file) => (Vec::new(), vec![whole_file]),
    }
}

fn read(input: &[u8]) -> Result<(Vec<ProductRow>, Vec<RowError>), RowError> {
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = 1 + (0..e.valid_up_to()).filter(|&i| line_break_at(input, i)).count() as u64;
        RowError::new(
            line,
            None,
            "The file is not valid UTF-8 text: save it as \u{201c}CSV UTF-8\u{201d} (a spreadsheet\u{2019}s \u{201c}Save as\u{201d} \
             offers it) and send it again.",
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delimiter = delimiter_of(text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let mut records = reader.records();
    let mut errors = Vec::new();

    let header = match records.next() {
        None => {
            return Err(RowError::new(
                1,
                None,
                "The file is empty: the first line must be the header sku,name,unit,currency,unit_price_minor.",
            ));
        }
        Some(Err(e)) => return Err(RowError::new(1, None, format!("The header cannot be read: {e}."))),
        Some(Ok(header)) => header,
    };

    let mut names: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    // Empty columns after the last, as a spreadsheet saves a sheet whose
    // cells beyond it were once used (`…;unit_price;;`): none is a column,
    // and the rows may end in as many empty fields.
    let mut spare = 0;
    while names.len() > HEADER.len() && names.last().is_some_and(String::is_empty) {
        names.pop();
        spare += 1;
    }
    let decimal = if names == HEADER {
        false
    } else if names == DECIMAL_HEADER {
        true
    } else {
        return Err(RowError::new(
            1,
            None,
            format!(
                "The header must be exactly sku,name,unit,currency,unit_price_minor (or unit_price, \
                 the price as 1250.00), not {}.",
                as_written(&header, delimiter)
            ),
        ));
    };

    let mut rows = Vec::new();
    let mut seen = HashMap::<String, (u64, String)>::new();
    let mut lines = LineCounter::new(text);
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                errors.push(RowError::new(line, None, format!("This line cannot be read as CSV: {e}.")));
                break;
            }
        };
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows.len() + errors.len() >= MAX_ROWS {
            errors.push(RowError::new(line, None, format!("The file has more than {MAX_ROWS} products; split it.")));
            break;
        }
        let spare_empty = (HEADER.len()..=HEADER.len() + spare).contains(&record.len())
            && record.iter().skip(HEADER.len()).all(|f| f.trim().is_empty());
        if record.len() != HEADER.len() && !spare_empty {
            // A field holding a line break that runs the file's lines together
            // is a quote opened and never closed.
            let ran_on = record.iter().any(|f| f.contains('\n'));
            let message = if ran_on {
                "A field on this line opens a quote (\") that is never closed, so the lines after it were read as part of it.".to_owned()
            } else if record.len() == HEADER.len() + 1 && delimiter == b',' && decimal && split_price(&record) {
                format!(
                    "Expected 5 fields, found {}: a price written with a thousands separator is quoted \
                     (\"1,250.00\") or written without one (1250.00).",
                    record.len()
                )
            } else if record.len() == HEADER.len() + 1
                && delimiter == b','
                && decimal
                && split_at_decimal_comma(&record)
            {
                format!(
                    "Expected 5 fields, found {}: a price written with a decimal comma (44,50) splits in two \
                     here; write it with a point (44.50), or save the file with semicolons between fields.",
                    record.len()
                )
            } else {
                format!("Expected 5 fields, found {}.", record.len())
            };
            // A line that ran into the next ones is no one product's: nothing
            // of it is left out for its SKU.
            let error = RowError::new(line, None, message);
            errors.push(if ran_on { error } else { error.of_line(&record) });
            continue;
        }
        match parse_row(line, &record, decimal, delimiter) {
            Ok(row) => {
                // SKUs match exactly: two that differ only in case would be taken for each other.
                match seen.entry(row.sku.as_str().to_lowercase()) {
                    Entry::Occupied(first) => {
                        let (first_line, first_sku) = first.get();
                        let message = if first_sku == row.sku.as_str() {
                            format!("{} already appears on line {first_line}.", row.sku)
                        } else {
                            format!("{} differs only in case from {first_sku} on line {first_line}.", row.sku)
                        };
                        errors.push(RowError::new(line, Some("sku"), message).of_line(&record));
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((line, row.sku.as_str().to_owned()));
                        rows.push(row);
                    }
                }
            }
            Err(e) => errors.push(RowError::new(line, Some(&e.field), e.message).of_line(&record)),
        }
    }
    Ok((rows, errors))
}

/// Whether a line's last two fields read as one price split at its
/// thousands separator (`1` and `250.00` of an unquoted `1,250.00`).
fn split_price(record: &csv::StringRecord) -> bool {
    let (Some(high), Some(low)) = (record.get(record.len() - 2), record.get(record.len() - 1)) else { return false };
    let (high, low) = (high.trim(), low.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = low.split_once('.').unwrap_or((low, "0"));
    (1..=3).contains(&high.len()) && digits(high) && whole.len() == 3 && digits(whole) && digits(fraction)
}

/// Whether the last two fields of a line one field too long read as a price
/// with a decimal comma split at it: digits, then one or two digits.
fn split_at_decimal_comma(record: &csv::StringRecord) -> bool {
    let (Some(whole), Some(cents)) = (record.get(record.len() - 2), record.get(record.len() - 1)) else { return false };
    let (whole, cents) = (whole.trim(), cents.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(cents) && (1..=2).contains(&cents.len())
}

/// The character between fields: a comma, unless the first line has none
/// and has semicolons (a spreadsheet saved as CSV where the comma is the
/// decimal sign) or tabs (cells copied from a spreadsheet).
fn delimiter_of(text: &str) -> u8 {
    let first = text.split(['\n', '\r']).next().unwrap_or("");
    match (first.contains(','), first.contains(';'), first.contains('\t')) {
        (false, true, _) => b';',
        (false, false, true) => b'\t',
        _ => b',',
    }
}

/// A header as the file wrote it, its fields trimmed, at most 100
/// characters of it: enough to recognise, however long the line.
fn as_written(header: &csv::StringRecord, delimiter: u8) -> String {
    let separator = if delimiter == b'\t' { "<tab>".to_owned() } else { char::from(delimiter).to_string() };
    let written = header.iter().map(str::trim).collect::<Vec<_>>().join(&separator);
    match written.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &written[..cut]),
        None => written,
    }
}

/// Whether a line ends at `text[i]`: a line feed, or a carriage return not
/// followed by one (a file from an old Mac).
fn line_break_at(text: &[u8], i: usize) -> bool {
    match text[i] {
        b'\n' => true,
        b'\r' => text.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// Turns the byte offsets of records into the 1-based lines a person sees.
/// Records come in file order, so it counts each newline once, from where the
/// previous record was: counting from the start of the file for every record
/// made a 10,000-line file take seconds of CPU.
struct LineCounter<'a> {
    text: &'a [u8],
    /// Where counting has reached, and how many newlines lie before it.
    pos: usize,
    newlines: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter { text: text.as_bytes(), pos: 0, newlines: 0 }
    }

    /// The line on which the record at `byte` starts. The csv reader neither
    /// counts blank lines nor skips them in its offsets; a person counts them.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(self.text.len());
        while matches!(self.text.get(end), Some(b'\n' | b'\r')) {
            end += 1;
        }
        if end < self.pos {
            self.pos = 0;
            self.newlines = 0;
        }
        self.newlines += (self.pos..end).filter(|&i| line_break_at(self.text, i)).count() as u64;
        self.pos = end;
        1 + self.newlines
    }
}

/// How to write a price in `currency` where a comma would be ambiguous,
/// as a refusal says it: "as 1250,00 or 1250.00" (a decimal comma is read
/// before fewer than three digits only), "without separators, as 1250",
/// "with a decimal point, as 1250.000".
pub fn price_written_for(currency: &Currency) -> String {
    match currency.minor_digits() {
        0 => format!("without separators, as {}", currency.example()),
        1 | 2 => format!("as {} or {}", currency.example().replace('.', ","), currency.example()),
        _ => format!("with a decimal point, as {}", currency.example()),
    }
}

/// [`price_written_for`] where a decimal comma may be read (fields between
/// semicolons or tabs); between commas, where it splits the field, the
/// currency's example with a point alone.
pub fn price_written_for_fields(currency: &Currency, comma_may_be_decimal: bool) -> String {
    match comma_may_be_decimal {
        true => price_written_for(currency),
        false => format!("as {}", currency.example()),
    }
}

/// The currency sign or code written with a price's number (`€` in
/// `€12,00` or `12,00 €`, `EUR` in `1.250,00 EUR`, `US$` in `US$ 5`), as a
/// spreadsheet's currency format copies it: what a price must be written
/// without, its currency said apart. `None` for a price without one, and for
/// text with no digits at all (`cheap`), which is no price written with a sign.
pub fn currency_written_in(price: &str) -> Option<String> {
    let sign = |c: char| {
        matches!(c, '$' | '\u{a2}'..='\u{a5}' | '\u{58f}' | '\u{60b}' | '\u{9f2}' | '\u{9f3}' | '\u{e3f}')
            || matches!(c, '\u{20a0}'..='\u{20cf}' | '\u{fdfc}' | '\u{fe69}' | '\u{ff04}' | '\u{ffe0}' | '\u{ffe1}')
            || matches!(c, '\u{ffe5}' | '\u{ffe6}')
    };
    if !price.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let signs: String = price.chars().filter(|c| sign(*c)).collect();
    let letters: String = price.chars().filter(|c| c.is_alphabetic()).collect();
    let code = Currency::parse(&letters).is_ok();
    match (signs.is_empty(), code) {
        (true, false) => None,
        (true, true) => Some(letters),
        (false, _) => Some(format!("{letters}{signs}")),
    }
}

/// A price written with a decimal comma (`16.575,09`, `1250,5`, `0,50`) as
/// the currency writes it with a point (`16575.09`), where it can be read
/// no other way: one comma, after it fewer than three digits and no more
/// than the currency has, before it digits, grouped by points in threes or
/// not at all; a minus before it stays (`-5,00` is `-5.00`, which is then
/// refused as below zero, and `-0,00` nought). `None` for anything else
/// (`1,250` may be a thousand).
pub fn decimal_comma(raw: &str, minor_digits: u8) -> Option<String> {
    if let Some(unsigned) = raw.strip_prefix('-') {
        return decimal_comma(unsigned, minor_digits).map(|point| format!("-{point}"));
    }
    let (whole, fraction) = raw.split_once(',')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(fraction) || fraction.len() >= 3 || fraction.len() > usize::from(minor_digits) {
        return None;
    }
    let groups: Vec<&str> = whole.split('.').collect();
    let grouped = match groups.as_slice() {
        [one] => digits(one),
        [first, rest @ ..] => {
            digits(first)
                && first.len() <= 3
                && !first.starts_with('0')
                && rest.iter().all(|g| g.len() == 3 && digits(g))
        }
        [] => false,
    };
    grouped.then(|| format!("{}.{fraction}", groups.concat()))
}

/// The spaces a spreadsheet groups a price's thousands with: the space, the
/// no-break space (France's), and the narrow one.
pub const GROUPING_SPACES: [char; 3] = [' ', '\u{a0}', '\u{202f}'];

/// A price whose thousands are grouped by spaces (`1 234,50`, `12 500.00`)
/// written without them, where the digits before the decimal sign are
/// grouped in threes after the first one to three; `None` for a space
/// anywhere else (`12 34,50`, `1 234,5 0`).
pub fn without_grouping_spaces(raw: &str) -> Option<String> {
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (whole, fraction) = unsigned.split_at(unsigned.find([',', '.']).unwrap_or(unsigned.len()));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let groups: Vec<&str> = whole.split(GROUPING_SPACES).collect();
    let grouped = match groups.as_slice() {
        [first, rest @ ..] => {
            digits(first)
                && first.len() <= 3
                && !first.starts_with('0')
                && !rest.is_empty()
                && rest.iter().all(|g| g.len() == 3 && digits(g))
        }
        [] => false,
    };
    (grouped && !fraction.contains(GROUPING_SPACES)).then(|| raw.replace(GROUPING_SPACES, ""))
}

/// One product line; with `decimal`, its price is in the currency's units.
fn parse_row(line: u64, record: &csv::StringRecord, decimal: bool, delimiter: u8) -> Result<ProductRow, Invalid> {
    let field = |i: usize| record.get(i).unwrap_or("");
    let currency = Currency::parse(field(3))?;
    let written = field(4).trim();
    // Between commas, a decimal comma is no way to write it.
    let written_for = |currency: &Currency| price_written_for_fields(currency, delimiter != b',');
    if let (true, Some(sign)) = (decimal, currency_written_in(written)) {
        return Err(Invalid::new(
            "unit_price",
            format!(
                "unit_price {written} has the currency written in it ({sign}): write the price alone, {}, its \
                 currency in the currency column.",
                written_for(&currency)
            ),
        ));
    }
    let mut price_raw = std::borrow::Cow::Borrowed(written);
    if decimal && written.contains(GROUPING_SPACES) {
        price_raw = std::borrow::Cow::Owned(without_grouping_spaces(written).ok_or_else(|| {
            Invalid::new(
                "unit_price",
                format!(
                    "unit_price {written} has a space that does not group its digits in threes: write the price \
                     without spaces, {}.",
                    written_for(&currency)
                ),
            )
        })?);
    }
    if decimal && delimiter != b',' && price_raw.contains(',') {
        // Saved with semicolons or tabs, as a spreadsheet in much of Europe
        // saves, the comma is the decimal sign: `16.575,09` is read as
        // 16575.09 where it can only be that. One that could as well be a
        // thousands separator (`1,250`, or `0,125` meant as an eighth), read
        // the other way, would be a price a thousand times off: not read.
        price_raw = std::borrow::Cow::Owned(decimal_comma(&price_raw, currency.minor_digits()).ok_or_else(|| {
            Invalid::new(
                "unit_price",
                format!(
                    "unit_price {written} has a comma, which {}: write the price {}, or give the column \
                     unit_price_minor, a whole number of minor units ({} for {}).",
                    // Thousands grouped by spaces leave the comma one reading.
                    match written.contains(GROUPING_SPACES) {
                        true => format!(
                            "after thousands grouped by spaces is the decimal sign, with more digits after it \
                             than a price in {} has",
                            currency.code()
                        ),
                        false => "in a file with its fields between semicolons or tabs may be the decimal sign or \
                                  a thousands separator"
                            .to_owned(),
                    },
                    price_written_for(&currency),
                    currency.read_unit_price(&currency.example()).unwrap_or_default(),
                    currency.example(),
                ),
            )
        })?);
    }
    let price_raw = price_raw.as_ref();
    let price = if decimal {
        match currency.read_unit_price(price_raw) {
            Ok(price) => price,
            Err(crate::UnreadablePrice::BelowZero) => {
                return Err(Invalid::new(
                    "unit_price",
                    format!("unit_price {} is below zero: a price cannot be.", field(4).trim()),
                ));
            }
            // Said in the currency, as the column is written.
            Err(crate::UnreadablePrice::TooHigh) => {
                return Err(Invalid::new(
                    "unit_price",
                    format!(
                        "unit_price {price_raw} is more than the highest unit price there can be, {}.",
                        currency.highest_unit_price()
                    ),
                ));
            }
            Err(_) => {
                // A decimal comma quoted in a file with its fields between commas.
                let point = decimal_comma(price_raw, currency.minor_digits()).filter(|_| delimiter == b',');
                let message = match point {
                    Some(point) => format!(
                        "unit_price \u{201c}{price_raw}\u{201d} has a decimal comma, which is not read in a file with \
                         its fields between commas: write it with a point, as {point}, or save the file with \
                         semicolons between fields."
                    ),
                    None => format!(
                        "unit_price must be a price in {} such as {}, not \u{201c}{price_raw}\u{201d}.",
                        currency.code(),
                        currency.example()
                    ),
                };
                return Err(Invalid::new("unit_price", message));
            }
        }
    } else {
        price_raw.parse().map_err(|_| {
            Invalid::new(
                "unit_price_minor",
                format!("unit_price_minor must be a whole number of minor units, not \u{201c}{price_raw}\u{201d}."),
            )
        })?
    };
    Ok(ProductRow {
        line,
        sku: Sku::parse(&unguarded(field(0)))?,
        name: Text::parse("name", &unguarded(field(1)), crate::limits::NAME)?,
        unit: Text::parse("unit", &unguarded(field(2)), crate::limits::UNIT)?,
        currency,
        unit_price_minor: parse_unit_price(if decimal { "unit_price" } else { "unit_price_minor" }, price)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_parses_with_line_numbers() {
        let rows = parse_products(
            b"sku,name,unit,currency,unit_price_minor\nP-1,Pump,each,EUR,125000\n\nP-2,\"Hose, 10 m\",roll,eur,4999\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].name.as_str(), "Hose, 10 m");
        assert_eq!(rows[1].currency.code(), "EUR");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let errors = parse_products(b"sku,name,unit,currency,unit_price_minor\nP-1,Pump,each,EUR,12.50\nP 2,Hose,roll,EUR,1\nP-3,Valve,each,XYZ,1\nP-4,Tap,each,EUR\nP-5,Ok,each,EUR,1\nP-5,Dup,each,EUR,2\n").unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 7]);
        assert_eq!(errors[0].field.as_deref(), Some("unit_price_minor"));
        assert_eq!(errors[2].field.as_deref(), Some("currency"));
    }

    #[test]
    fn a_quote_never_closed_is_named_and_the_good_rows_are_still_read() {
        let (rows, errors) =
            read_products(b"sku,name,unit,currency,unit_price_minor\nP-1,Pump,each,EUR,100\nP-2,\"Hose,each,EUR,1\nP-3,Tap,each,EUR,2\n");
        assert_eq!(rows.iter().map(|r| r.sku.as_str()).collect::<Vec<_>>(), ["P-1"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("opens a quote (\") that is never closed"), "{errors:?}");
        assert!(all_or_nothing((rows, errors)).is_err(), "all or nothing: an error means no rows");
    }

    #[test]
    fn prices_may_be_written_in_the_currencys_units() {
        let rows = parse_products(
            b"SKU,Name,Unit,Currency,Unit_Price\nP-1,Pump,each,EUR,\"1,250.00\"\nP-2,Hose,roll,JPY,4999\nP-3,Tap,each,EUR,12.5\n",
        )
        .unwrap();
        let prices: Vec<i64> = rows.iter().map(|r| r.unit_price_minor).collect();
        assert_eq!(prices, [125_000, 4_999, 1_250]);
        let errors =
            parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,12.505\nP-2,Hose,roll,EUR,1250,50\n")
                .unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3]);
        assert!(errors[0].message.contains("a price in EUR such as 1250.00"), "{:?}", errors[0]);
        assert_eq!(errors[0].field.as_deref(), Some("unit_price"));
        let errors = parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump,each,JPY,1250.50\n").unwrap_err();
        assert!(
            errors[0].message.contains("a price in JPY such as 1250,"),
            "no minor units in the example: {:?}",
            errors[0]
        );
        // Below zero, or above the highest price, said in the currency as written.
        let errors = parse_products(
            b"sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,-3.00\nP-2,Hose,roll,EUR,999999999999.00\nP-3,Pipe,m,EUR,99999999999999999\n",
        )
        .unwrap_err();
        assert_eq!(errors[0].message, "unit_price -3.00 is below zero: a price cannot be.");
        assert!(
            errors[1].message.starts_with(
                "unit_price 999999999999.00 is more than the highest unit price there can be, 100,000,000.00 EUR"
            ),
            "{:?}",
            errors[1]
        );
        // Beyond what any number of minor units holds: too high, all the same.
        assert!(
            errors[2].message.starts_with("unit_price 99999999999999999 is more than the highest"),
            "{:?}",
            errors[2]
        );
    }

    #[test]
    fn semicolons_or_tabs_between_fields_are_read_when_the_header_has_no_comma() {
        for file in [
            &b"sku;name;unit;currency;unit_price\nP-1;Pump, big;each;EUR;1250.00\nP-2;\"Hose; 10 m\";roll;EUR;12\n"[..],
            &b"SKU\tName\tUnit\tCurrency\tUnit_Price\nP-1\tPump, big\teach\tEUR\t1250.00\nP-2\tHose; 10 m\troll\tEUR\t12\n"[..],
        ] {
            let rows = parse_products(file).unwrap();
            let read: Vec<(&str, &str, i64)> =
                rows.iter().map(|r| (r.sku.as_str(), r.name.as_str(), r.unit_price_minor)).collect();
            assert_eq!(read, [("P-1", "Pump, big", 125_000), ("P-2", "Hose; 10 m", 1_200)]);
        }
        // A comma in the header keeps the comma: a name may hold a semicolon.
        let rows = parse_products(b"sku,name,unit,currency,unit_price_minor\nP-1,Pump; big,each,EUR,1\n").unwrap();
        assert_eq!(rows[0].name.as_str(), "Pump; big");
    }

    #[test]
    fn a_written_price_list_reads_back_as_it_was() {
        let (eur, jpy) = (Currency::parse("EUR").unwrap(), Currency::parse("JPY").unwrap());
        let rows = [
            ExportRow {
                sku: "PUMP-1",
                name: "Pump, 10 \"bar\"",
                unit: "each",
                currency: &eur,
                unit_price_minor: 125_000,
            },
            ExportRow { sku: "HOSE-2", name: "Hose", unit: "roll of 25 m", currency: &jpy, unit_price_minor: 7_500 },
            ExportRow { sku: "BOLT-3", name: "Bolt", unit: "box", currency: &eur, unit_price_minor: 5 },
            ExportRow { sku: "X-4", name: "=HYPERLINK(\"x\")", unit: "-1 m", currency: &eur, unit_price_minor: 1 },
            ExportRow { sku: "Y-5", name: "'quoted'", unit: "each", currency: &eur, unit_price_minor: 1 },
            ExportRow { sku: "-LEAD", name: "Lead", unit: "each", currency: &eur, unit_price_minor: 2 },
        ];
        let written = write_products(rows);
        assert_eq!(
            written,
            "sku,name,unit,currency,unit_price\r\nPUMP-1,\"Pump, 10 \"\"bar\"\"\",each,EUR,1250.00\r\n\
             HOSE-2,Hose,roll of 25 m,JPY,7500\r\nBOLT-3,Bolt,box,EUR,0.05\r\n\
             X-4,\"'=HYPERLINK(\"\"x\"\")\",'-1 m,EUR,0.01\r\nY-5,'quoted',each,EUR,0.01\r\n\
             '-LEAD,Lead,each,EUR,0.02\r\n"
        );
        let read = parse_products(written.as_bytes()).unwrap();
        let back: Vec<(&str, &str, &str, &str, i64)> = read
            .iter()
            .map(|r| (r.sku.as_str(), r.name.as_str(), r.unit.as_str(), r.currency.code(), r.unit_price_minor))
            .collect();
        assert_eq!(
            back,
            [
                ("PUMP-1", "Pump, 10 \"bar\"", "each", "EUR", 125_000),
                ("HOSE-2", "Hose", "roll of 25 m", "JPY", 7_500),
                ("BOLT-3", "Bolt", "box", "EUR", 5),
                ("X-4", "=HYPERLINK(\"x\")", "-1 m", "EUR", 1),
                ("Y-5", "'quoted'", "each", "EUR", 1),
                ("-LEAD", "Lead", "each", "EUR", 2)
            ]
        );
    }

    #[test]
    fn a_wrong_header_is_quoted_as_written_and_cut_short() {
        let errors = parse_products(b"SKU;Name;Unit Price\nP-1;Pump;1\n").unwrap_err();
        assert!(errors[0].message.ends_with("not SKU;Name;Unit Price."), "{errors:?}");
        let long = format!("{}\n", "a".repeat(3_000_000));
        let errors = parse_products(long.as_bytes()).unwrap_err();
        assert!(errors[0].message.len() < 400, "{} bytes", errors[0].message.len());
        assert!(errors[0].message.ends_with(&format!("not {}….", "a".repeat(100))), "{:.300}", errors[0].message);
        let errors = parse_products(b"sku\tname\tunit\n").unwrap_err();
        assert!(errors[0].message.ends_with("not sku<tab>name<tab>unit."), "{errors:?}");
    }

    #[test]
    fn lines_ended_by_carriage_returns_alone_are_counted() {
        let errors =
            parse_products(b"sku,name,unit,currency,unit_price_minor\rP-1,x,each,EUR,abc\r\rP-2,y,each,EUR,x\r")
                .unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(
            parse_products(b"sku,name,unit,currency,unit_price_minor\rP-1,\xff,each,EUR,1\r").unwrap_err()[0].line,
            2
        );
    }

    #[test]
    fn an_unquoted_thousands_separator_is_named() {
        let errors = parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,1,250.00\n").unwrap_err();
        assert!(errors[0].message.contains("quoted (\"1,250.00\")"), "{errors:?}");
        // A comma elsewhere (in a name) is not taken for one.
        let errors =
            parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump, big,each,EUR,1250.00\n").unwrap_err();
        assert_eq!(errors[0].message, "Expected 5 fields, found 6.");
        // Nor is a decimal comma: it is named.
        let errors = parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,44,50\n").unwrap_err();
        assert!(errors[0].message.contains("a price written with a decimal comma (44,50) splits in two"), "{errors:?}");
    }

    #[test]
    fn a_comma_in_a_price_is_not_read_when_it_may_be_a_thousands_separator() {
        for file in [
            &b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;0,125\n"[..],
            b"sku\tname\tunit\tcurrency\tunit_price\nP-1\tPump\teach\tKWD\t1,250\n",
            b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;1,250\n",
            b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;1.25,50\n",
            b"sku;name;unit;currency;unit_price\nP-1;Pump;each;JPY;1250,5\n",
            b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;1,2,3\n",
        ] {
            let errors = parse_products(file).unwrap_err();
            assert_eq!(errors[0].field.as_deref(), Some("unit_price"), "{errors:?}");
            assert!(errors[0].message.contains("may be the decimal sign"), "{errors:?}");
        }
        let errors = parse_products(b"sku;name;unit;currency;unit_price\nP-1;Pump;each;KWD;1,250\n").unwrap_err();
        assert!(
            errors[0].message.ends_with(
                "write the price with a decimal point, as 1250.000, or give the column unit_price_minor, a whole \
                 number of minor units (1250000 for 1250.000)."
            ),
            "only what is read: {errors:?}"
        );
        let errors = parse_products(b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;1,250\n").unwrap_err();
        assert!(
            errors[0].message.ends_with(
                "write the price as 1250,00 or 1250.00, or give the column unit_price_minor, a whole number of minor \
                 units (125000 for 1250.00)."
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn a_decimal_comma_is_read_when_fields_are_between_semicolons_or_tabs() {
        let file = "\u{feff}sku;name;unit;currency;unit_price\r\n\
                    HP-1;\"Pump HP, 3 kW\";each;EUR;16.575,09\r\n\
                    HP-2;Pump;each;EUR;1250,5\r\n\
                    HP-3;Pump;each;EUR;0,50\r\n\
                    HP-4;Pump;each;EUR;1.234.567,00\r\n\
                    HP-5;Pump;each;EUR;1250.00\r\n\
                    HP-6;Pump;each;JPY;1250\r\n";
        let rows = parse_products(file.as_bytes()).unwrap();
        let prices: Vec<i64> = rows.iter().map(|r| r.unit_price_minor).collect();
        assert_eq!(prices, [1_657_509, 125_050, 50, 123_456_700, 125_000, 1_250]);
        let tabs = parse_products(b"sku\tname\tunit\tcurrency\tunit_price\nP-1\tPump\teach\tEUR\t1390,5\n").unwrap();
        assert_eq!(tabs[0].unit_price_minor, 139_050);
        // A minus is below zero, said so at once; before nought, nought.
        let signed = parse_products(b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;-5,00\n").unwrap_err();
        assert_eq!(signed[0].message, "unit_price -5,00 is below zero: a price cannot be.");
        let nought = parse_products(b"sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;-0,00\n").unwrap();
        assert_eq!(nought[0].unit_price_minor, 0);
    }

    #[test]
    fn thousands_grouped_by_spaces_are_read_and_other_spaces_said() {
        let file = "sku;name;unit;currency;unit_price\n\
                    P-1;Pump;each;EUR;1 234,50\n\
                    P-2;Pump;each;EUR;1\u{a0}234\u{a0}567,89\n\
                    P-3;Pump;each;EUR;12\u{202f}500\n";
        let prices: Vec<i64> = parse_products(file.as_bytes()).unwrap().iter().map(|r| r.unit_price_minor).collect();
        assert_eq!(prices, [123_450, 123_456_789, 1_250_000]);
        let errors =
            parse_products("sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;1 234,567\n".as_bytes()).unwrap_err();
        assert!(
            errors[0].message.starts_with(
                "unit_price 1 234,567 has a comma, which after thousands grouped by spaces is the decimal sign, \
                 with more digits after it than a price in EUR has: write the price as 1250,00 or 1250.00"
            ),
            "{errors:?}"
        );
        let points = parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,1 234.50\n").unwrap();
        assert_eq!(points[0].unit_price_minor, 123_450);
        for price in ["12 34,50", "1 234,5 0", "0 123,00", "1 2345,00"] {
            let file = format!("sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;{price}\n");
            let errors = parse_products(file.as_bytes()).unwrap_err();
            assert_eq!(
                errors[0].message,
                format!(
                    "unit_price {price} has a space that does not group its digits in threes: write the price \
                     without spaces, as 1250,00 or 1250.00."
                )
            );
        }
    }

    #[test]
    fn a_file_not_in_utf8_says_how_to_save_it() {
        let errors =
            parse_products(b"sku;name;unit;currency;unit_price\nP-1;Pumpe gro\xdf;St\xfcck;EUR;12,00\n").unwrap_err();
        assert_eq!(errors[0].line, 2);
        assert_eq!(
            errors[0].message,
            "The file is not valid UTF-8 text: save it as \u{201c}CSV UTF-8\u{201d} (a spreadsheet\u{2019}s \
             \u{201c}Save as\u{201d} offers it) and send it again."
        );
    }

    #[test]
    fn a_price_with_its_currency_written_in_it_is_said_so() {
        for (price, sign) in [("€12,00", "€"), ("12,00 €", "€"), ("1.250,00 EUR", "EUR"), ("US$ 5", "US$"), ("£5", "£")]
        {
            let file = format!("sku;name;unit;currency;unit_price\nP-1;Pump;each;EUR;{price}\n");
            let errors = parse_products(file.as_bytes()).unwrap_err();
            assert_eq!(
                errors[0].message,
                format!(
                    "unit_price {price} has the currency written in it ({sign}): write the price alone, as 1250,00 \
                     or 1250.00, its currency in the currency column."
                )
            );
        }
        let commas =
            parse_products("sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,€12.00\n".as_bytes()).unwrap_err();
        assert_eq!(
            commas[0].message,
            "unit_price €12.00 has the currency written in it (€): write the price alone, as 1250.00, its currency \
             in the currency column."
        );
        assert_eq!(currency_written_in("cheap"), None, "no price written with a sign");
        assert_eq!(currency_written_in("12 pumps"), None, "no currency");
        assert_eq!(currency_written_in("1 234,50"), None);
        assert_eq!(currency_written_in("¥1,250").as_deref(), Some("¥"));
    }

    #[test]
    fn a_decimal_comma_between_commas_is_said_to_be_one() {
        let errors = parse_products(b"sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,\"12,50\"\n").unwrap_err();
        assert!(
            errors[0].message.starts_with(
                "unit_price \u{201c}12,50\u{201d} has a decimal comma, which is not read in a file with its fields \
                 between commas: write it with a point, as 12.50"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn empty_columns_after_the_last_are_none() {
        let file = b"sku;name;unit;currency;unit_price;;\nP-1;Pump;each;EUR;12,50;;\nP-2;Valve;each;EUR;3,00\n";
        let prices: Vec<i64> = parse_products(file).unwrap().iter().map(|r| r.unit_price_minor).collect();
        assert_eq!(prices, [1_250, 300]);
        // More fields than the header has columns are still too many, and
        // one with something in it is no spare column.
        let errors = parse_products(b"sku;name;unit;currency;unit_price;\nP-1;Pump;each;EUR;12,50;;\n").unwrap_err();
        assert_eq!(errors[0].message, "Expected 5 fields, found 7.");
        let errors = parse_products(b"sku;name;unit;currency;unit_price;;\nP-1;Pump;each;EUR;12,50;x;\n").unwrap_err();
        assert_eq!(errors[0].message, "Expected 5 fields, found 7.");
    }

    #[test]
    fn header_empty_files_and_bad_utf8_are_refused() {
        assert_eq!(parse_products(b"").unwrap_err()[0].line, 1);
        assert_eq!(parse_products(b"sku,name\n").unwrap_err()[0].line, 1);
        assert!(parse_products(b"sku,name,unit,currency,unit_price_minor\n").is_err());
        assert_eq!(
            parse_products(b"sku,name,unit,currency,unit_price_minor\nP-1,\xff,each,EUR,1\n").unwrap_err()[0].line,
            2
        );
    }
}
