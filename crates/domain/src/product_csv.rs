//! The price-list CSV: `sku,name,unit,currency,unit_price_minor`, header first.
//! Parsing is all or nothing; every problem names the line of the file it is
//! on (the header is line 1) so a person can fix the file in one pass.

use crate::money::parse_unit_price;
use crate::{Currency, Invalid, Sku, Text};

pub const HEADER: [&str; 5] = ["sku", "name", "unit", "currency", "unit_price_minor"];
/// A price list larger than this is refused rather than half-read.
pub const MAX_ROWS: usize = 10_000;

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
}

impl RowError {
    fn new(line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        RowError { line, field: field.map(str::to_owned), message: message.into() }
    }
}

pub fn parse_products(input: &[u8]) -> Result<Vec<ProductRow>, Vec<RowError>> {
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = 1 + input[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u64;
        vec![RowError::new(line, None, "The file is not valid UTF-8 text.")]
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let mut errors = Vec::new();

    match records.next() {
        None => {
            return Err(vec![RowError::new(
                1,
                None,
                "The file is empty: the first line must be the header sku,name,unit,currency,unit_price_minor.",
            )]);
        }
        Some(Err(e)) => return Err(vec![RowError::new(1, None, format!("The header cannot be read: {e}."))]),
        Some(Ok(header)) => {
            let names: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
            if names != HEADER {
                return Err(vec![RowError::new(
                    1,
                    None,
                    format!(
                        "The header must be exactly sku,name,unit,currency,unit_price_minor, not {}.",
                        names.join(",")
                    ),
                )]);
            }
        }
    }

    let mut rows = Vec::new();
    let mut seen = std::collections::HashMap::<String, u64>::new();
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
        if record.len() != HEADER.len() {
            errors.push(RowError::new(line, None, format!("Expected 5 fields, found {}.", record.len())));
            continue;
        }
        match parse_row(line, &record) {
            Ok(row) => {
                if let Some(first) = seen.insert(row.sku.as_str().to_owned(), line) {
                    errors.push(RowError::new(
                        line,
                        Some("sku"),
                        format!("sku {} already appears on line {first}.", row.sku),
                    ));
                } else {
                    rows.push(row);
                }
            }
            Err(e) => errors.push(RowError::new(line, Some(&e.field), e.message)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![RowError::new(2, None, "The file has a header but no products.")]);
    }
    Ok(rows)
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
        self.newlines += self.text[self.pos..end].iter().filter(|b| **b == b'\n').count() as u64;
        self.pos = end;
        1 + self.newlines
    }
}

fn parse_row(line: u64, record: &csv::StringRecord) -> Result<ProductRow, Invalid> {
    let field = |i: usize| record.get(i).unwrap_or("");
    let price_raw = field(4).trim();
    let price: i64 = price_raw.parse().map_err(|_| {
        Invalid::new(
            "unit_price_minor",
            format!("unit_price_minor must be a whole number of minor units, not {price_raw:?}."),
        )
    })?;
    Ok(ProductRow {
        line,
        sku: Sku::parse(field(0))?,
        name: Text::parse("name", field(1), crate::limits::NAME)?,
        unit: Text::parse("unit", field(2), crate::limits::UNIT)?,
        currency: Currency::parse(field(3))?,
        unit_price_minor: parse_unit_price("unit_price_minor", price)?,
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
