//! Money is an integer count of minor units with an ISO 4217 currency; it is never a float.

use std::fmt;

use crate::Invalid;

/// The largest unit price accepted: 100 million in major units of a
/// two-decimal currency. With the quantity bound this keeps every quote total
/// far inside `i64`.
pub const MAX_UNIT_PRICE_MINOR: i64 = 10_000_000_000;

/// An amount in minor units (cents for EUR). Signed, because price deltas can be negative.
pub type MinorUnits = i64;

/// Active ISO 4217 codes with their number of minor-unit digits.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An ISO 4217 currency code known to be in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    minor_digits: u8,
}

/// Digits grouped by thousands with commas, as amounts are written:
/// `1234567` reads `1,234,567`.
fn grouped(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A count (a quantity) as people read it, grouped by thousands as amounts
/// are: `12000` reads `12,000`.
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(&n.unsigned_abs().to_string()))
}

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let upper = raw.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == upper)
            .map(|(code, digits)| {
                let bytes = code.as_bytes();
                Currency { code: [bytes[0], bytes[1], bytes[2]], minor_digits: *digits }
            })
            .ok_or_else(|| {
                // Said back as typed, but not at any length.
                let said: String = raw.chars().take(20).collect();
                let cut = if said.len() < raw.len() { "…" } else { "" };
                Invalid::new(
                    "currency",
                    format!(
                        "{said:?}{cut} is not the ISO 4217 code of a currency prices are set in, such as EUR or USD."
                    ),
                )
            })
    }

    pub fn code(&self) -> &str {
        // The code is always three ASCII letters taken from `CURRENCIES`.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    pub fn minor_digits(&self) -> u8 {
        self.minor_digits
    }

    /// `123456` EUR → `"1,234.56 EUR"`, thousands grouped: for people to
    /// read, never for arithmetic or a form field (see [`Currency::decimal`]).
    pub fn format(&self, minor: MinorUnits) -> String {
        let (sign, whole, fraction) = self.parts(minor);
        format!("{sign}{}{fraction} {}", grouped(&whole), self.code())
    }

    /// A price's step from `before` to `after` for people to read:
    /// `+140.00 EUR (+11.2 %)`, the share of the price before to a tenth of
    /// a percent (half away from zero), left out when that price is 0;
    /// "none" when the price does not move. The sign is the step's own, so
    /// a cent less reads `-0.01 EUR (-<0.1 %)`: a share that rounds to
    /// nought is said to be under a tenth, not nought.
    pub fn step(&self, before: MinorUnits, after: MinorUnits) -> String {
        let delta = after.saturating_sub(before);
        if delta == 0 {
            return "none".to_owned();
        }
        let sign = if delta < 0 { "-" } else { "+" };
        let share = (before > 0).then(|| {
            let (num, den) = (i128::from(delta).abs() * 1000, i128::from(before));
            match (num + den / 2) / den {
                0 => format!(" ({sign}<0.1 %)"),
                tenths => format!(" ({sign}{}.{} %)", grouped(&(tenths / 10).to_string()), tenths % 10),
            }
        });
        format!("{sign}{}{}", self.format(delta.saturating_abs()), share.unwrap_or_default())
    }

    /// A unit price as a person writes it in this currency (`1250.00`,
    /// `1,250.00`), or why it is none ([`UnreadablePrice`]). A minus before
    /// nought (`-0.00`) is nought, as `-0` is in JSON: nothing below zero.
    pub fn read_unit_price(&self, text: &str) -> Result<MinorUnits, UnreadablePrice> {
        let text = text.trim();
        if let Some(unsigned) = text.strip_prefix('-') {
            return match parse_amount_wide(unsigned, self.minor_digits) {
                Some(0) => Ok(0),
                Some(_) => Err(UnreadablePrice::BelowZero),
                None => Err(UnreadablePrice::NotAnAmount),
            };
        }
        let minor = parse_amount_wide(text, self.minor_digits).ok_or(UnreadablePrice::NotAnAmount)?;
        match MinorUnits::try_from(minor) {
            Ok(minor) if minor <= MAX_UNIT_PRICE_MINOR => Ok(minor),
            _ => Err(UnreadablePrice::TooHigh),
        }
    }

    /// `text`, a price written with a decimal comma that no form reads
    /// (`1250,5`, `16.575,09`), written with a point as this currency
    /// reads it (`1250.5`, `16575.09`), when that is a price it takes;
    /// `None` for anything else: `1,250`, read as a thousand and more, or
    /// `-1,5`, which written with a point is refused all the same.
    pub fn with_a_point(&self, text: &str) -> Option<String> {
        let text = text.trim();
        let point = crate::product_csv::decimal_comma(text, self.minor_digits)?;
        (self.read_unit_price(text).is_err() && self.read_unit_price(&point).is_ok()).then_some(point)
    }

    /// The highest unit price there can be, written in this currency.
    pub fn highest_unit_price(&self) -> String {
        self.format(MAX_UNIT_PRICE_MINOR)
    }

    /// A price to show how one is written in this currency: `1250.00` EUR,
    /// `1250` JPY, `1250.000` KWD.
    pub fn example(&self) -> String {
        self.decimal(1250 * 10i64.pow(u32::from(self.minor_digits)))
    }

    /// One price written two ways, plain and grouped, to show how prices
    /// are written in this currency: `1390.50` and `1,390.50` EUR, `1390`
    /// and `1,390` JPY, `1390.500` and `1,390.500` KWD.
    pub fn written_examples(&self) -> (String, String) {
        let digits = u32::from(self.minor_digits);
        let half = digits.checked_sub(1).map_or(0, |d| 5 * 10i64.pow(d));
        let minor = 1390 * 10i64.pow(digits) + half;
        let (sign, whole, fraction) = self.parts(minor);
        (self.decimal(minor), format!("{sign}{}{fraction}", grouped(&whole)))
    }

    /// An amount as a form field holds it: `1234.56`, no grouping, no code.
    pub fn decimal(&self, minor: MinorUnits) -> String {
        let (sign, whole, fraction) = self.parts(minor);
        format!("{sign}{whole}{fraction}")
    }

    /// The sign, the whole units and the fraction with its point (empty for
    /// a currency without minor units).
    fn parts(&self, minor: MinorUnits) -> (&'static str, String, String) {
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        if self.minor_digits == 0 {
            return (sign, abs.to_string(), String::new());
        }
        let scale = 10u64.pow(u32::from(self.minor_digits));
        (sign, (abs / scale).to_string(), format!(".{:0width$}", abs % scale, width = usize::from(self.minor_digits)))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// `1390`, `1390.5`, `1,390.50` (or `1 390.50`, `1'390.50`) in a currency
/// with `digits` minor digits. A separator stands only between groups of
/// three digits before the point: `1390,50`, a decimal comma, is refused
/// rather than read as a hundred times the price.
pub fn parse_amount(raw: &str, digits: u8) -> Option<i64> {
    i64::try_from(parse_amount_wide(raw, digits)?).ok()
}

/// [`parse_amount`] in 128 bits: an amount written well but too large for
/// any price is still read as one (up to 38 digits), to be said too high.
fn parse_amount_wide(raw: &str, digits: u8) -> Option<i128> {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let whole = match whole.chars().find(|c| matches!(c, ',' | ' ' | '\'')) {
        None => whole.to_owned(),
        Some(separator) => {
            let groups: Vec<&str> = whole.split(separator).collect();
            // A number grouped by thousands starts with a digit other than
            // 0: `0,750` is three quarters written with a decimal comma, not
            // seven hundred and fifty.
            let grouped = (1..=3).contains(&groups[0].len())
                && !groups[0].starts_with('0')
                && groups[1..].iter().all(|g| g.len() == 3);
            if !grouped {
                return None;
            }
            groups.concat()
        }
    };
    let whole = whole.as_str();
    if whole.is_empty()
        || frac.len() > usize::from(digits)
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let scale = 10i128.checked_pow(u32::from(digits))?;
    let frac =
        if digits == 0 { 0 } else { format!("{frac:0<width$}", width = usize::from(digits)).parse::<i128>().ok()? };
    whole.parse::<i128>().ok()?.checked_mul(scale)?.checked_add(frac)
}

/// Why a unit price as written is none ([`Currency::read_unit_price`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreadablePrice {
    BelowZero,
    /// Not written as an amount in the currency (`cheap`, `1.234,50`).
    NotAnAmount,
    /// Above [`MAX_UNIT_PRICE_MINOR`].
    TooHigh,
}

/// A unit price as stored on a product or a price change.
pub fn parse_unit_price(field: &str, value: i64) -> Result<MinorUnits, Invalid> {
    if !(0..=MAX_UNIT_PRICE_MINOR).contains(&value) {
        return Err(Invalid::new(field, format!("{field} must be between 0 and {MAX_UNIT_PRICE_MINOR} minor units.")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_price_as_written_is_read_or_said_why_not() {
        let eur = Currency::parse("EUR").expect("EUR");
        assert_eq!(eur.read_unit_price(" 1,250.50 "), Ok(125_050));
        assert_eq!(eur.read_unit_price("100,000,000.00"), Ok(MAX_UNIT_PRICE_MINOR));
        assert_eq!(eur.read_unit_price("100000000.01"), Err(UnreadablePrice::TooHigh));
        assert_eq!(eur.read_unit_price("92233720368547758.07"), Err(UnreadablePrice::TooHigh));
        assert_eq!(eur.read_unit_price("99,999,999,999,999,999.00"), Err(UnreadablePrice::TooHigh));
        assert_eq!(eur.read_unit_price("99'999'999'999'999'999"), Err(UnreadablePrice::TooHigh));
        assert_eq!(eur.read_unit_price("-3"), Err(UnreadablePrice::BelowZero));
        assert_eq!(
            (eur.read_unit_price("-0.00"), eur.read_unit_price("-0")),
            (Ok(0), Ok(0)),
            "nought, as JSON reads -0"
        );
        assert_eq!(eur.read_unit_price("-abc"), Err(UnreadablePrice::NotAnAmount), "no amount, not one below zero");
        for unreadable in ["cheap", "1.234,50", "12.345", "", "1,2,3", "9e99"] {
            assert_eq!(eur.read_unit_price(unreadable), Err(UnreadablePrice::NotAnAmount), "{unreadable}");
        }
        // A decimal comma after a nought is not a thousands separator.
        let kwd = Currency::parse("KWD").expect("KWD");
        for decimal_comma in ["0,750", "0,999", "00,125", "0 500"] {
            assert_eq!(kwd.read_unit_price(decimal_comma), Err(UnreadablePrice::NotAnAmount), "{decimal_comma}");
        }
        assert_eq!(kwd.read_unit_price("0.750"), Ok(750));
        assert_eq!(kwd.read_unit_price("1,000"), Ok(1_000_000));
        assert_eq!(eur.highest_unit_price(), "100,000,000.00 EUR");
        // A decimal comma is named with the price as a point writes it, where that is all it can be.
        let point = |c: &Currency, text: &str| c.with_a_point(text);
        assert_eq!(point(&eur, " 1250,5 "), Some("1250.5".to_owned()));
        assert_eq!(point(&eur, "16.575,09"), Some("16575.09".to_owned()));
        assert_eq!((point(&eur, "1,250"), point(&eur, "1250.50"), point(&eur, "1,2,3")), (None, None, None));
        assert_eq!((point(&eur, "-1,5"), point(&eur, "100.000.000,01")), (None, None), "refused with a point too");
        assert_eq!(
            (point(&kwd, "0,750"), point(&kwd, "0,75")),
            (None, Some("0.75".to_owned())),
            "three digits may be a thousand"
        );
    }

    #[test]
    fn a_price_is_shown_written_as_its_currency_writes_one_and_is_read_back() {
        for (code, plain, grouped) in
            [("EUR", "1390.50", "1,390.50"), ("JPY", "1390", "1,390"), ("KWD", "1390.500", "1,390.500")]
        {
            let currency = Currency::parse(code).expect(code);
            assert_eq!(currency.written_examples(), (plain.to_owned(), grouped.to_owned()), "{code}");
            assert_eq!(currency.read_unit_price(plain), currency.read_unit_price(grouped), "{code}");
            assert!(currency.read_unit_price(plain).is_ok(), "{code}");
        }
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        let read: Vec<String> = [0, 7, 999, 1_000, 12_000, 1_000_000, -4_500].into_iter().map(count).collect();
        assert_eq!(read, ["0", "7", "999", "1,000", "12,000", "1,000,000", "-4,500"]);
    }

    #[test]
    fn currency_codes_are_case_insensitive_and_checked() {
        assert_eq!(Currency::parse("eur").unwrap().code(), "EUR");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("ABC").is_err());
        let long = Currency::parse(&"A".repeat(100_000)).unwrap_err().message;
        assert_eq!(
            long,
            format!(
                "{:?}… is not the ISO 4217 code of a currency prices are set in, such as EUR or USD.",
                "A".repeat(20)
            )
        );
        assert!(Currency::parse("EURO").unwrap_err().message.starts_with("\"EURO\" is not"));
        // An ISO 4217 code, but gold's, not a currency's.
        assert!(
            Currency::parse("XAU").unwrap_err().message.starts_with("\"XAU\" is not the ISO 4217 code of a currency")
        );
    }

    #[test]
    fn the_example_price_is_written_in_the_currency_s_own_digits() {
        let example = |code| Currency::parse(code).unwrap().example();
        assert_eq!(
            (example("EUR"), example("JPY"), example("KWD")),
            ("1250.00".into(), "1250".into(), "1250.000".into())
        );
    }

    #[test]
    fn a_price_step_says_by_how_much_and_what_share() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(eur.step(125_000, 139_000), "+140.00 EUR (+11.2 %)");
        assert_eq!(eur.step(1_450, 1_300), "-1.50 EUR (-10.3 %)");
        assert_eq!(eur.step(1_000, 1_005), "+0.05 EUR (+0.5 %)");
        assert_eq!(eur.step(125_000, 124_999), "-0.01 EUR (-<0.1 %)", "a drop stays a drop");
        assert_eq!(Currency::parse("JPY").unwrap().step(1_000_000, 1_000_001), "+1 JPY (+<0.1 %)", "a rise is no 0 %");
        assert_eq!(eur.step(100_000, 100_050), "+0.50 EUR (+0.1 %)", "half a tenth rounds up");
        assert_eq!(eur.step(999, 999), "none");
        assert_eq!(eur.step(0, 500), "+5.00 EUR");
        assert_eq!(Currency::parse("JPY").unwrap().step(1_000, 1_500), "+500 JPY (+50.0 %)");
        assert_eq!(eur.step(1_000, 71_576), "+705.76 EUR (+7,057.6 %)", "a share grouped as amounts are");
    }

    #[test]
    fn amounts_format_with_the_currency_minor_digits() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(eur.format(123_456), "1,234.56 EUR");
        assert_eq!(eur.format(-123_456_789), "-1,234,567.89 EUR");
        assert_eq!(eur.format(99_999), "999.99 EUR");
        assert_eq!(eur.format(-5), "-0.05 EUR");
        assert_eq!(Currency::parse("JPY").unwrap().format(1_200), "1,200 JPY");
        assert_eq!(Currency::parse("JPY").unwrap().format(120), "120 JPY");
        assert_eq!(Currency::parse("KWD").unwrap().format(1_234_001), "1,234.001 KWD");
        assert_eq!(eur.decimal(123_456_789), "1234567.89");
        assert_eq!(Currency::parse("JPY").unwrap().decimal(-1_200), "-1200");
    }

    #[test]
    fn unit_prices_outside_the_bounds_are_refused() {
        assert!(parse_unit_price("unit_price_minor", -1).is_err());
        assert!(parse_unit_price("unit_price_minor", MAX_UNIT_PRICE_MINOR + 1).is_err());
        assert_eq!(parse_unit_price("unit_price_minor", 0), Ok(0));
    }
}
