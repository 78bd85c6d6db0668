//! Raw input becomes one of these types once, at the edge; the core never
//! sees an unchecked string again.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Invalid;

/// Trimmed, non-empty text with an upper bound on its length (in characters).
/// One line (a name, a title, a unit) unless parsed as several
/// ([`Text::parse_multiline`]: notes, a notice's body, a reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

/// Whether a text may run over several lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Several,
}

impl Text {
    /// One line of text, not empty.
    pub fn parse(field: &str, raw: &str, max_chars: usize) -> Result<Self, Invalid> {
        Self::parse_required(field, raw, max_chars, Lines::One)
    }

    /// Like [`Text::parse`] but an empty value is allowed (a company name).
    pub fn parse_optional(field: &str, raw: &str, max_chars: usize) -> Result<Self, Invalid> {
        Self::parse_bounded(field, trim(raw), max_chars, Lines::One)
    }

    /// Text that may hold line breaks and tabs, not empty (a notice's body, a reason).
    pub fn parse_multiline(field: &str, raw: &str, max_chars: usize) -> Result<Self, Invalid> {
        Self::parse_required(field, raw, max_chars, Lines::Several)
    }

    /// Like [`Text::parse_multiline`] but an empty value is allowed (notes).
    pub fn parse_multiline_optional(field: &str, raw: &str, max_chars: usize) -> Result<Self, Invalid> {
        Self::parse_bounded(field, trim(raw), max_chars, Lines::Several)
    }

    fn parse_required(field: &str, raw: &str, max_chars: usize, lines: Lines) -> Result<Self, Invalid> {
        let trimmed = trim(raw);
        if trimmed.is_empty() {
            return Err(Invalid::new(field, format!("{field} must not be empty.")));
        }
        Self::parse_bounded(field, trimmed, max_chars, lines)
    }

    fn parse_bounded(field: &str, value: &str, max_chars: usize, lines: Lines) -> Result<Self, Invalid> {
        // A browser sends a textarea's line breaks as CRLF: kept as LF, text
        // saved again unchanged from a form is the text it was. The Unicode
        // line and paragraph separators (pasted from a word processor) are
        // line breaks too: kept as LF, every reader breaks the line where
        // the writer did, and a letter that quotes the text line by line
        // quotes every line.
        let normalised;
        let value = if lines == Lines::Several && value.contains(['\r', '\u{2028}', '\u{2029}']) {
            normalised = value.replace("\r\n", "\n").replace(['\r', '\u{2028}', '\u{2029}'], "\n");
            normalised.as_str()
        } else {
            value
        };
        if value.chars().count() > max_chars {
            return Err(Invalid::new(field, format!("{field} must be at most {max_chars} characters long.")));
        }
        if lines == Lines::One && value.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
            return Err(Invalid::new(field, format!("{field} must be one line, without line breaks.")));
        }
        if value.chars().any(|c| c.is_control() && !(lines == Lines::Several && matches!(c, '\n' | '\r' | '\t'))) {
            return Err(Invalid::new(field, format!("{field} must not contain control characters.")));
        }
        if lines == Lines::One && value.chars().any(reorders) {
            return Err(Invalid::new(
                field,
                format!("{field} must not contain characters that reverse or embed the direction of the text."),
            ));
        }
        if value.chars().any(overrides) {
            return Err(Invalid::new(
                field,
                format!(
                    "{field} must not contain characters that override the direction of the text (U+202D, U+202E)."
                ),
            ));
        }
        Ok(Text(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Characters that show nothing: zero-width spaces and joiners, word
/// joiners, the byte-order mark, soft hyphens. A text of nothing else is
/// empty to its reader, and is taken as empty.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// The bidirectional embeddings and overrides: in a name or a title they
/// turn what follows around (`\u{202E}gnp.exe` reads as an `exe.png`), in
/// a page's title and an e-mail's subject too. (The isolates, which keep
/// mixed right-to-left text in its place, are kept.)
fn reorders(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}')
}

/// The bidirectional overrides, which set letters and digits out in the
/// order they force: in a notice's body `\u{202E}05.21` reads as a price of
/// 12.50. Text of several lines keeps the embeddings, which a word
/// processor puts around right-to-left passages, and refuses these.
fn overrides(c: char) -> bool {
    matches!(c, '\u{202D}' | '\u{202E}')
}

/// `raw` without the white space and the invisible characters around it.
fn trim(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() || invisible(c))
}

/// A user's e-mail address: what they log in with, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_address("email", raw).map(|s| Email(s.to_lowercase()))
    }

    /// What a login form's e-mail field is looked up as: trimmed, in lower
    /// case, if it reads as an address at all. Looser than [`Email::parse`],
    /// so that an account made under looser rules still logs in.
    pub fn for_login(raw: &str) -> Option<String> {
        plausible_address(raw).map(str::to_lowercase)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A customer's e-mail address, kept as typed (only trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEmail(String);

impl CustomerEmail {
    /// Pricegate mails no customer: an address that reads as one is taken
    /// as typed (`jörg@müller.de`), for the salesperson's records.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        plausible_address(raw).map(|a| CustomerEmail(a.to_owned())).ok_or_else(|| {
            Invalid::new("customer.email", "customer.email must be an e-mail address like name@example.com.")
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `raw` trimmed, if it reads as an address at all: something, `@`, and
/// something, without spaces, controls or the characters that delimit
/// addresses.
fn plausible_address(raw: &str) -> Option<&str> {
    let value = raw.trim();
    let (local, domain) = value.split_once('@')?;
    let plausible = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.ends_with('.')
            && !part.contains("..")
            && part.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"@<>()[],;:\"\\".contains(c))
    };
    (value.len() <= 254 && local.len() <= 64 && plausible(local) && plausible(domain)).then_some(value)
}

fn parse_address(field: &str, raw: &str) -> Result<String, Invalid> {
    let value = raw.trim();
    let bad = || Invalid::new(field, format!("{field} must be an e-mail address like name@example.com."));
    if value.is_empty() || value.len() > 254 {
        return Err(bad());
    }
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    // What mail servers take (RFC 5321's dot-atom): a local part of
    // letters, digits and !#$%&'*+-/=?^_`{|}~ in dot-separated words; a
    // domain of labels of letters, digits and inner hyphens (one label, as
    // `intranet` or `localhost`, for a company's own mail server).
    let words = |part: &str, ok: &dyn Fn(char) -> bool| part.split('.').all(|w| !w.is_empty() && w.chars().all(ok));
    let local_ok =
        local.len() <= 64 && words(local, &|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c));
    let label_ok = |label: &str| {
        label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let domain_ok = words(domain, &|_| true) && domain.split('.').all(label_ok);
    // A domain in letters beyond ASCII is one, written as DNS writes it.
    if local_ok && !domain.is_ascii() {
        return Err(Invalid::new(
            field,
            format!(
                "{field} must have its domain written as DNS writes it, in ASCII: a domain with letters beyond it, \
                 such as müller.de, is written xn--mller-kva.de."
            ),
        ));
    }
    if !local_ok || !domain_ok {
        return Err(bad());
    }
    Ok(value.to_owned())
}

/// A stock-keeping unit: 1–64 characters of letters, digits, `-`, `_`, `.` and `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            // `.` and `..` are no name in an address: /products/.. is /.
            && !value.chars().all(|c| c == '.');
        if ok {
            Ok(Sku(value.to_owned()))
        } else {
            Err(Invalid::new(
                "sku",
                "sku must be 1 to 64 characters of the letters A to Z (small or capital), digits, '-', '_', '.' or '/', \
                 not dots alone.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Why `sku` names no product, naming `near`, a product's SKU that
    /// differs from it only in case, if there is one: SKUs match exactly.
    pub fn unknown(sku: &str, near: Option<&str>) -> String {
        match near {
            Some(near) => format!("There is no product with the SKU {sku}; SKUs match exactly: did you mean {near}?"),
            None => format!("There is no product with the SKU {sku}."),
        }
    }

    /// Why a new product `sku` cannot be added while `listed` is on the
    /// price list: the same SKU, or one that differs only in case (SKUs
    /// match exactly, so the two would be taken for each other).
    pub fn taken(sku: &str, listed: &str) -> String {
        if sku == listed {
            format!("{sku} is already on the price list.")
        } else {
            format!(
                "{sku} differs only in case from {listed}, which is already on the price list: choose a SKU that \
                 differs in more than case."
            )
        }
    }

    /// Why a quote in `quote_currency` cannot have a line of `sku`.
    pub fn other_currency(sku: &str, priced_in: &str, quote_currency: &str) -> String {
        format!("{sku} is priced in {priced_in}, but the quote is in {quote_currency}.")
    }

    /// Why a quote cannot take on `sku` (`name`) as a new line.
    pub fn withdrawn(sku: &str, name: &str) -> String {
        format!(
            "{sku} ({name}) is withdrawn from sale: a quote that carried it before keeps it, and no quote takes it on anew."
        )
    }

    /// A withdrawn product asked for in more than the quote carried.
    pub fn withdrawn_beyond(sku: &str, name: &str, carried: i64) -> String {
        format!(
            "{sku} ({name}) is withdrawn from sale: this quote keeps the {} it carried, in all its lines \
             together, or fewer, and takes on no more.",
            crate::count(carried)
        )
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed, before hashing. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Invalid::new(
                "password",
                format!("password must be at least {} characters long.", Self::MIN_CHARS),
            ));
        }
        if chars > Self::MAX_CHARS {
            let message = format!("password must be at most {} characters long.", Self::MAX_CHARS);
            return Err(Invalid::new("password", message));
        }
        // None can be typed into a login form's password box.
        if raw.chars().any(char::is_control) {
            return Err(Invalid::new(
                "password",
                "password must not contain control characters (a tab, a line break, …): none can be typed when \
                 logging in.",
            ));
        }
        if raw.chars().all(char::is_whitespace) {
            return Err(Invalid::new("password", "password must not be spaces alone."));
        }
        if Self::is_guessed_first(raw) {
            return Err(Invalid::new(
                "password",
                "password is one that is guessed first (a common one, one character repeated, or a run \
                 like abcdefghij): choose another.",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    /// Long enough, but among the first anyone guessing would try: one of
    /// the commonest passwords of ten characters or more (letter case
    /// aside), one character repeated, or a run up or down the alphabet or
    /// the digits.
    fn is_guessed_first(raw: &str) -> bool {
        const COMMON: &[&str] = &[
            "0123456789",
            "0987654321",
            "1234567890",
            "12345678910",
            "123456789a",
            "1q2w3e4r5t",
            "1qaz2wsx3edc",
            "abc1234567",
            "abcd123456",
            "asdfghjkl1",
            "changeme12",
            "iloveyou12",
            "letmein123",
            "passw0rd12",
            "password01",
            "password12",
            "password123",
            "password1234",
            "password!!",
            "pricegate1",
            "pricegate123",
            "qwerty1234",
            "qwerty12345",
            "qwerty123456",
            "qwertyuiop",
            "qwertyuiop1",
            "welcome123",
            "zxcvbnm123",
        ];
        let lower = raw.to_lowercase();
        let chars: Vec<char> = lower.chars().collect();
        let repeated = chars.windows(2).all(|w| w[0] == w[1]);
        let step = |up: bool| {
            chars.windows(2).all(|w| {
                let (a, b) = (u32::from(w[0]), u32::from(w[1]));
                w[0].is_ascii_alphanumeric() && w[1].is_ascii_alphanumeric() && if up { b == a + 1 } else { a == b + 1 }
            })
        };
        COMMON.contains(&lower.as_str()) || repeated || step(true) || step(false)
    }

    /// Refused where it is built on its account's e-mail address or name:
    /// where it holds them (the address, its part before the `@` and that
    /// part's pieces, the words of the name, three letters or more each;
    /// letter case, accents, spaces and `.-_@+,'` aside), and what is left without
    /// them is shorter than [`Self::MIN_CHARS`] or guessed first, as
    /// `Fiona.Finance2026` and `Fiona.Finance.1234567890` are for Fiona
    /// Finance. One that holds none of them is not judged here.
    pub fn check_not_built_on(&self, email: &str, name: &str) -> Result<(), Invalid> {
        // Without what joins words: `Fi-on-a` is Fiona, and the dots of
        // `Fiona.Finance.1234567890` leave a run of digits.
        let squash = |text: &str| -> String {
            unaccented(&text.to_lowercase()).chars().filter(|c| !c.is_whitespace() && !".-_@+,'".contains(*c)).collect()
        };
        let email = unaccented(&email.to_lowercase());
        let local = email.split('@').next().unwrap_or_default();
        let pieces = |text: &str| text.split(|c: char| !c.is_alphanumeric()).map(str::to_owned).collect::<Vec<_>>();
        let mut personal: Vec<String> = [email.as_str(), local]
            .into_iter()
            .map(str::to_owned)
            .chain(pieces(local))
            // Without accents before it is split: a name stored decomposed
            // (`Garci\u{301}a`) is one word, not two.
            .chain(pieces(&unaccented(&name.to_lowercase())))
            .map(|word| squash(&word))
            .filter(|word| word.chars().count() >= 3)
            .collect();
        // The longest first: the address before its name part.
        personal.sort_by_key(|word| std::cmp::Reverse(word.chars().count()));
        let whole = squash(&self.0);
        let left = personal.iter().fold(whole.clone(), |left, word| left.replace(word.as_str(), ""));
        if left == whole {
            return Ok(());
        }
        let count = left.chars().count();
        if count < Self::MIN_CHARS {
            return Err(Invalid::new(
                "password",
                format!(
                    "password is built on the account's name or e-mail address: without them, {count} character{} \
                     {} left, and at least {} are needed. Choose another.",
                    if count == 1 { "" } else { "s" },
                    if count == 1 { "is" } else { "are" },
                    Self::MIN_CHARS
                ),
            ));
        }
        if Self::is_guessed_first(&left) {
            return Err(Invalid::new(
                "password",
                "password is built on the account's name or e-mail address, with one that is guessed first: \
                 choose another.",
            ));
        }
        Ok(())
    }

    /// A refusal of a password as the new one of an account, reported under
    /// `new_password` ("The new password must be…").
    pub fn as_new(refusal: Invalid) -> Invalid {
        Invalid { field: "new_password".into(), message: format!("The new {}", refusal.message), ..refusal }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `text` without its accents, as someone types a name on a keyboard
/// without them: `José García` is `Jose Garcia`, `Søren Łukasz` `Soren Lukasz`.
fn unaccented(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    for c in icu_normalizer::DecomposingNormalizerBorrowed::new_nfd().normalize_iter(text.chars()) {
        match c {
            // The combining marks an accented letter decomposes into.
            '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' => {}
            // Letters of their own, that a keyboard without them spells so.
            'ø' | 'Ø' => plain.push('o'),
            'ł' | 'Ł' => plain.push('l'),
            'đ' | 'Đ' => plain.push('d'),
            'ß' => plain.push_str("ss"),
            'æ' | 'Æ' => plain.push_str("ae"),
            'œ' | 'Œ' => plain.push_str("oe"),
            c => plain.push(c),
        }
    }
    // What is left composed again: a Hangul syllable, decomposed into its
    // letters above, is one character again, as it was typed.
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(&plain).into_owned()
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Sales,
    Finance,
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim() {
            "sales" => Ok(Role::Sales),
            "finance" => Ok(Role::Finance),
            "admin" => Ok(Role::Admin),
            _ => Err(Invalid::new("role", "role must be one of sales, finance or admin.")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Sales => "sales",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many units a quote line is for: 1 to 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1_000_000;

    pub fn parse(value: i64) -> Result<Self, Invalid> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Quantity(value))
        } else {
            Err(Invalid::new("quantity", format!("quantity must be between 1 and {}.", Self::MAX)))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A discount in basis points: 0 (none) to 10,000 (everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiscountBp(i32);

impl DiscountBp {
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        if (0..=10_000).contains(&value) {
            Ok(DiscountBp(value as i32))
        } else {
            Err(Invalid::new("discount_bp", "discount_bp must be between 0 and 10000 basis points."))
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// The earliest date the service reads: prices, notices and quotes are all
/// of this century. Year 0000 is written `YYYY-MM-DD` too, but no client's
/// date type reads it back, and a date decades back is a typing slip.
pub const EARLIEST_DATE: &str = "2000-01-01";

/// A date written exactly `YYYY-MM-DD`, from [`EARLIEST_DATE`]. chrono alone
/// also reads `+10000-01-01`, `-0001-01-01` and `2026-1-5`; the first two
/// would be stored (as text, on SQLite) sorting *before* every ordinary date,
/// so a price change dated in the year 10000 would be in force today.
pub fn parse_date(field: &str, raw: &str) -> Result<NaiveDate, Invalid> {
    let raw = raw.trim();
    if !is_date_shaped(raw) {
        return Err(Invalid::new(field, format!("{field} must be a date written YYYY-MM-DD.")));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Invalid::new(field, format!("{field} must be a day of the calendar: {raw} is not one.")))?;
    // Written alike, the two compare as dates do.
    if raw < EARLIEST_DATE {
        return Err(Invalid::new(field, format!("{field} must be {EARLIEST_DATE} or later: {raw} is too far back.")));
    }
    Ok(date)
}

/// Whether `raw` is written YYYY-MM-DD, whether or not it names a real day
/// (`2026-02-30` is written so, and is none).
pub fn is_date_shaped(raw: &str) -> bool {
    let raw = raw.trim();
    raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_refused_for_its_shape_or_for_naming_no_day() {
        assert!(parse_date("d", "2026-02-28").is_ok());
        assert_eq!(parse_date("d", "soon").unwrap_err().message, "d must be a date written YYYY-MM-DD.");
        assert_eq!(
            parse_date("d", "2026-02-30").unwrap_err().message,
            "d must be a day of the calendar: 2026-02-30 is not one."
        );
        assert!(is_date_shaped(" 2026-02-30 ") && !is_date_shaped("2026-2-3"));
        assert_eq!(
            parse_date("effective_on", "0000-01-01").unwrap_err().message,
            "effective_on must be 2000-01-01 or later: 0000-01-01 is too far back."
        );
        assert!(parse_date("d", "2000-01-01").is_ok() && parse_date("d", "1999-12-31").is_err());
    }

    #[test]
    fn text_over_several_lines_keeps_its_line_breaks_as_lf_however_they_came() {
        let sent = Text::parse_multiline_optional("notes", "Called back.\r\nAgain Monday.\rDone.\n", 100).unwrap();
        assert_eq!(sent.as_str(), "Called back.\nAgain Monday.\nDone.");
        assert_eq!(Text::parse_multiline("body", "a\r\n\r\nb", 100).unwrap().as_str(), "a\n\nb");
        assert!(Text::parse("title", "a\r\nb", 100).is_err(), "one line is still one line");
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(Email::parse(" Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "@example.com", "ann@", "a b@example.com", "ann@@example.com", "ann@exa..mple"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        // What a mail server would refuse is refused here, not at sending.
        for bad in ["a..b@c.com", ".a@c.com", "a.@c.com", "a@-b.com", "a@b-.com", "tëst@example.com", "a@exämple.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["o'neil+quotes@mail.example.co.uk", "x@a-b.example", "first.last@example.com", "ops@intranet"] {
            assert!(Email::parse(good).is_ok(), "{good:?} should be taken");
        }
        // A domain beyond ASCII is said how to write.
        let idn = Email::parse("info@müller.de").expect_err("refused").message;
        assert!(idn.contains("is written xn--mller-kva.de"), "{idn}");
        assert_eq!(Email::parse("info@xn--mller-kva.de").unwrap().as_str(), "info@xn--mller-kva.de");
        // A customer is not mailed: their address is kept as the salesperson typed it.
        assert_eq!(CustomerEmail::parse(" jörg@müller.de ").unwrap().as_str(), "jörg@müller.de");
        for bad in ["jörg", "a b@c.de", "a@@b", "a..b@c.de"] {
            assert!(CustomerEmail::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn text_that_shows_nothing_is_empty_and_text_that_turns_around_is_refused() {
        assert!(Text::parse("name", "\u{200b}", 100).is_err());
        assert!(Text::parse("title", " \u{200b}\u{feff}\u{200b} ", 100).is_err());
        assert_eq!(Text::parse_optional("company", "\u{200b}", 100).unwrap().as_str(), "");
        assert_eq!(Text::parse("name", "\u{200b}Ann\u{200b}", 100).unwrap().as_str(), "Ann");
        assert_eq!(Text::parse("name", "Ann\u{200d}Marie", 100).unwrap().as_str(), "Ann\u{200d}Marie", "inside, kept");
        for sly in ["\u{202e}gnp.exe", "a\u{202d}b", "x\u{202a}"] {
            let e = Text::parse("name", sly, 100).unwrap_err();
            assert!(e.message.contains("reverse or embed the direction"), "{sly:?}: {}", e.message);
        }
        for sly in ["a\u{202e}05.21", "x\n\u{202d}y"] {
            let e = Text::parse_multiline("body", sly, 100).unwrap_err();
            assert!(
                e.message.contains("override the direction of the text (U+202D, U+202E)"),
                "{sly:?}: {}",
                e.message
            );
            assert!(Text::parse_multiline_optional("notes", sly, 100).is_err(), "{sly:?}");
        }
        let pasted = Text::parse_multiline("reason", "Call me.\u{2028}  Total: 1.00\u{2029}x", 100).unwrap();
        assert_eq!(pasted.as_str(), "Call me.\n  Total: 1.00\nx", "line and paragraph separators are line breaks");
        assert!(Text::parse("name", "Ann\u{2028}Marie", 100).is_err(), "a name is one line");
        let embedded = "Preis:\n\u{202b}שלום\u{202c} 12.50";
        assert_eq!(Text::parse_multiline("body", embedded, 100).unwrap().as_str(), embedded, "embeddings kept");
        assert_eq!(
            Text::parse("name", "שלום Ann", 100).unwrap().as_str(),
            "שלום Ann",
            "right-to-left letters are letters"
        );
    }

    #[test]
    fn dates_are_exactly_four_digit_year_month_day() {
        assert_eq!(parse_date("d", " 2027-06-01 ").unwrap(), NaiveDate::from_ymd_opt(2027, 6, 1).unwrap());
        assert!(parse_date("d", "9999-12-31").is_ok());
        for bad in
            ["+10000-01-01", "-0001-01-01", "+2026-12-31", "2026-1-5", "2026-02-30", "20260101", "2026-01-01x", ""]
        {
            assert!(parse_date("d", bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn skus_allow_only_a_safe_alphabet() {
        assert!(Sku::parse("PUMP-100/A.2").is_ok());
        assert!(Sku::parse("pump 100").is_err());
        assert!(Sku::parse(&"X".repeat(65)).is_err());
        for dots in [".", "..", "..."] {
            assert!(Sku::parse(dots).is_err(), "{dots}: no name in an address");
        }
        assert!(Sku::parse(".5").is_ok());
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(Text::parse("title", "  hi ", 5).unwrap().as_str(), "hi");
        assert!(Text::parse("title", "   ", 5).is_err());
        assert!(Text::parse("title", "ééééé", 5).is_ok());
        assert!(Text::parse("title", "éééééé", 5).is_err());
        assert!(Text::parse("title", "a\u{0}b", 5).is_err());
    }

    #[test]
    fn names_and_titles_are_one_line_and_bodies_may_be_several() {
        for broken in ["Pump\nprices", "Pump\rprices", "Pump\tprices", "a\u{7}b"] {
            let refused = Text::parse("title", broken, 200).unwrap_err();
            assert_eq!(refused.field, "title");
            assert!(Text::parse_optional("company", broken, 200).is_err(), "{broken:?}");
        }
        assert!(Text::parse("title", "Pump\nprices", 200).unwrap_err().message.contains("one line"));
        let body = Text::parse_multiline("body", "First line.\r\n\n\tIndented.", 200).unwrap();
        assert_eq!(body.as_str(), "First line.\n\n\tIndented.", "line breaks kept, as LF");
        assert_eq!(Text::parse_multiline_optional("notes", "  ", 10).unwrap().as_str(), "");
        assert!(Text::parse_multiline("body", " \n ", 10).is_err(), "empty once trimmed");
        assert!(Text::parse_multiline("body", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn password_debug_never_shows_the_secret() {
        let p = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&" ".repeat(12)).is_err(), "spaces alone are no password");
        assert!(Password::parse(" spaced  out ").is_ok(), "spaces within one are kept");
        for typed in ["tab\there-and-there", "line\nbreak-here", "nul\u{0}character", "\u{1b}[escape-code"] {
            let refused = Password::parse(typed).err().map(|e| e.message);
            assert!(refused.as_deref().is_some_and(|m| m.contains("control characters")), "{typed:?}: {refused:?}");
        }
        for guessed in
            ["aaaaaaaaaaaa", "1234567890", "QwertyUiop", "Password123", "abcdefghijk", "9876543210", "%%%%%%%%%%"]
        {
            let refused = Password::parse(guessed).err().map(|e| e.message);
            assert!(refused.as_deref().is_some_and(|m| m.contains("guessed first")), "{guessed}: {refused:?}");
        }
        for kept in ["aaaaaaaaaab", "1234567890x", "pricegate-demo", "qwertyuiop-river", "qrstuvwxyz{", "789:;<=>?@"] {
            assert!(Password::parse(kept).is_ok(), "{kept}");
        }
    }

    #[test]
    fn a_password_built_on_its_account_s_name_or_address_is_refused() {
        let (email, name) = ("fiona.finance@pricegate.example", "Fiona Finance");
        let check = |typed: &str| Password::parse(typed).unwrap().check_not_built_on(email, name);
        for built_on in [
            "Fiona.Finance2026",
            "FIONA.FINANCE@PRICEGATE.EXAMPLE",
            "finance-fiona-1!",
            "fiona1234567890",
            "financefinancefin",
            "fiona.finance@pricegate.example 12",
            "Fiona.Finance.1234567890",
            "FIONA - FINANCE - 2026 - 12",
            "Fi-on-a Fin 2026!",
        ] {
            let refused = check(built_on).err();
            assert!(refused.as_ref().is_some_and(|e| e.field == "password"), "{built_on}: {refused:?}");
            let new = refused.map(Password::as_new);
            assert!(
                new.as_ref()
                    .is_some_and(|e| e.field == "new_password" && e.message.starts_with("The new password is built"))
            );
        }
        // Other words enough besides, or the site's name (the demo's password): kept.
        for kept in
            ["fiona's garden shed key", "pricegate-demo", "correct horse battery staple", "Fiona's garden shed, key 4"]
        {
            assert!(check(kept).is_ok(), "{kept}");
        }
        // One that holds nothing of theirs is not judged here, however it is spaced.
        for kept in ["to be or not", "1-2-3-4-5-6-7", "my dog, a cat"] {
            assert!(Password::parse(kept).unwrap().check_not_built_on(email, name).is_ok(), "{kept}");
        }
        let short = check("Fiona.Finance2026").unwrap_err().message;
        assert!(short.contains("without them, 4 characters are left, and at least 10 are needed"), "{short}");
        // Accents or none, in the name or the password: José García's name is his.
        let jose = |typed: &str| Password::parse(typed).unwrap().check_not_built_on("jg@x.example", "José García");
        for built_on in ["JOSE-GARCIA-2026", "josé.garcía.2026", "Garcia Jose 1!"] {
            assert!(jose(built_on).is_err(), "{built_on}");
        }
        assert!(jose("jose garcia's garden shed").is_ok());
        assert!(
            Password::parse("GARCIA-jose-1!")
                .unwrap()
                .check_not_built_on("jg@x.example", "Jose\u{301} Garci\u{301}a")
                .is_err()
        );
        // A Hangul syllable stays one character: what is left is counted as typed.
        let kim = |typed: &str| Password::parse(typed).unwrap().check_not_built_on("kim@x.example", "김민준");
        let left = kim("김민준1234사랑해").unwrap_err().message;
        assert!(left.contains("without them, 7 characters are left"), "{left}");
        assert!(kim("김민준의비밀번호입니다").is_err());
        let soren = Password::parse("Soren-Lukasz-Strasse").unwrap();
        assert!(
            soren.check_not_built_on("sl@x.example", "Søren Łukasz").is_err_and(|e| e.message.contains("7 characters"))
        );
        // Pieces shorter than three letters are not taken out: Al's password is his own.
        assert!(Password::parse("al-al-al-al-al-1").unwrap().check_not_built_on("al@x.example", "Al").is_ok());
    }

    #[test]
    fn quantities_and_discounts_are_bounded() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(Quantity::MAX + 1).is_err());
        assert!(DiscountBp::parse(-1).is_err());
        assert!(DiscountBp::parse(10_001).is_err());
        assert_eq!(DiscountBp::parse(2_500).unwrap().get(), 2_500);
    }
}
