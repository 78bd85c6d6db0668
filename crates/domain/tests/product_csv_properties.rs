//! The price-list parser meets files people and spreadsheets write: it must
//! never panic, and a valid file must come back row for row with the line each
//! row starts on, however it is quoted or spaced. A name is one line: a cell
//! with a line break in it (quoted, as spreadsheets write it) is refused on the
//! line its row starts on, and the rows after it keep their line numbers.

use pricegate_domain::MAX_UNIT_PRICE_MINOR;
use pricegate_domain::product_csv::parse_products;
use proptest::prelude::*;

const HEADER: &str = "sku,name,unit,currency,unit_price_minor";

#[derive(Debug, Clone)]
struct Row {
    sku: String,
    name: String,
    unit: String,
    currency: &'static str,
    price: i64,
    /// Quote every field, not only those that need it.
    quote_all: bool,
    /// Blank lines written before this row.
    blank_before: usize,
}

/// A name a person might type: commas, quotes, line breaks and accents inside,
/// but no surrounding space (the parser trims it).
fn name() -> impl Strategy<Value = String> {
    let inner = proptest::collection::vec(
        prop_oneof![
            Just(','),
            Just('"'),
            Just('\n'),
            Just(' '),
            Just('é'),
            Just('\''),
            Just(';'),
            proptest::char::range('a', 'z'),
            proptest::char::range('A', 'Z'),
            proptest::char::range('0', '9'),
        ],
        0..30,
    );
    (proptest::char::range('A', 'Z'), inner, proptest::char::range('a', 'z'))
        .prop_map(|(first, inner, last)| format!("{first}{}{last}", inner.into_iter().collect::<String>()))
}

fn row() -> impl Strategy<Value = Row> {
    (
        "[A-Za-z0-9][A-Za-z0-9._/-]{0,20}",
        name(),
        prop_oneof![Just("each".to_owned()), Just("roll, 10 m".to_owned()), Just("box \"large\"".to_owned())],
        prop_oneof![Just("EUR"), Just("USD"), Just("JPY"), Just("KWD")],
        prop_oneof![Just(0), Just(MAX_UNIT_PRICE_MINOR), 0..=MAX_UNIT_PRICE_MINOR],
        any::<bool>(),
        0..3usize,
    )
        .prop_map(|(sku, name, unit, currency, price, quote_all, blank_before)| Row {
            sku,
            name,
            unit,
            currency,
            price,
            quote_all,
            blank_before,
        })
}

fn field(value: &str, quote_all: bool) -> String {
    if quote_all || value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// Writes the file and returns it with the line on which each row starts.
fn write_file(rows: &[Row], eol: &str, trailing_eol: bool) -> (String, Vec<u64>) {
    let mut file = String::from(HEADER);
    let mut lines = Vec::new();
    for row in rows {
        for _ in 0..row.blank_before {
            file.push_str(eol);
        }
        file.push_str(eol);
        lines.push(1 + file.matches('\n').count() as u64);
        let fields = [
            field(&row.sku, row.quote_all),
            field(&row.name, row.quote_all),
            field(&row.unit, row.quote_all),
            field(row.currency, row.quote_all),
            field(&row.price.to_string(), row.quote_all),
        ];
        file.push_str(&fields.join(","));
    }
    if trailing_eol {
        file.push_str(eol);
    }
    (file, lines)
}

fn unique_rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(row(), 1..25).prop_map(|mut rows| {
        for (i, row) in rows.iter_mut().enumerate() {
            row.sku = format!("{}-{i}", row.sku);
        }
        rows
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_products(&bytes);
    }

    #[test]
    fn arbitrary_rows_under_a_good_header_never_panic(
        body in proptest::collection::vec(prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), any::<u8>()], 0..600)
    ) {
        let mut file = format!("{HEADER}\n").into_bytes();
        file.extend(body);
        match parse_products(&file) {
            Ok(rows) => prop_assert!(rows.iter().all(|r| r.line >= 2)),
            Err(errors) => prop_assert!(!errors.is_empty() && errors.iter().all(|e| e.line >= 1)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_valid_file_round_trips_with_the_line_each_row_starts_on(
        rows in unique_rows(),
        crlf in any::<bool>(),
        trailing_eol in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let (file, lines) = write_file(&rows, if crlf { "\r\n" } else { "\n" }, trailing_eol);
        let file = if bom { format!("\u{feff}{file}") } else { file };
        let broken: Vec<u64> =
            rows.iter().zip(&lines).filter(|(row, _)| row.name.contains('\n')).map(|(_, line)| *line).collect();
        let parsed = match parse_products(file.as_bytes()) {
            Ok(parsed) => parsed,
            Err(errors) if !broken.is_empty() => {
                let refused: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
                let expected: Vec<(u64, Option<&str>)> = broken.iter().map(|line| (*line, Some("name"))).collect();
                prop_assert_eq!(refused, expected, "in {:?}", file);
                return Ok(());
            }
            Err(errors) => return Err(TestCaseError::fail(format!("{errors:?} in {file:?}"))),
        };
        prop_assert!(broken.is_empty(), "a name over two lines was accepted in {:?}", file);
        prop_assert_eq!(parsed.len(), rows.len());
        for ((got, want), line) in parsed.iter().zip(&rows).zip(lines) {
            prop_assert_eq!(got.line, line, "in {:?}", file);
            prop_assert_eq!(got.sku.as_str(), want.sku.as_str());
            prop_assert_eq!(got.name.as_str(), want.name.as_str());
            prop_assert_eq!(got.unit.as_str(), want.unit.as_str());
            prop_assert_eq!(got.currency.code(), want.currency);
            prop_assert_eq!(got.unit_price_minor, want.price);
        }
    }

    #[test]
    fn a_bad_price_is_reported_on_the_line_it_is_on(rows in unique_rows(), pick in any::<prop::sample::Index>()) {
        let mut rows = rows;
        let bad = pick.index(rows.len());
        rows[bad].price = -1;
        rows[bad].name = rows[bad].name.replace('\n', " ");
        let (file, lines) = write_file(&rows, "\n", true);
        let errors = match parse_products(file.as_bytes()) {
            Ok(_) => return Err(TestCaseError::fail("a negative price was accepted")),
            Err(errors) => errors,
        };
        // Names over two lines are refused too; the price is refused on its own line.
        let names_over_two_lines = rows.iter().filter(|r| r.name.contains('\n')).count();
        prop_assert_eq!(errors.len(), 1 + names_over_two_lines);
        let price = errors.iter().find(|e| e.field.as_deref() == Some("unit_price_minor"));
        prop_assert_eq!(price.map(|e| e.line), Some(lines[bad]), "in {:?}", file);
    }
}
