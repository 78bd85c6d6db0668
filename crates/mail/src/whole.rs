//! Sentences with days and amounts in them, as HTML in which each day
//! (`2026-12-10`), time with its zone (`08:05:56 UTC`), amount (`+1,320.00 EUR`)
//! and share (`+7.1 %`) stays on one line: a
//! browser otherwise breaks a day after a hyphen ("2026-12-" / "10") and an
//! amount before its currency, most of all in a narrow table cell on a phone.

/// `text`, escaped for HTML, each day, time with its zone, amount and share in it wrapped in `open`
/// (a tag that keeps its content on one line, such as
/// `<span class="nw">`) and `</span>`.
pub fn keep_whole(text: &str, open: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut after_word = false;
    while at < text.len() {
        let token = match after_word {
            true => None,
            false => day_at(bytes, at)
                .or_else(|| time_at(bytes, at))
                .or_else(|| amount_at(bytes, at))
                .or_else(|| share_at(bytes, at)),
        };
        if let Some(end) = token {
            html.push_str(open);
            escape_into(&mut html, &text[at..end]);
            html.push_str("</span>");
            after_word = true;
            at = end;
            continue;
        }
        // Tokens are ASCII: any other character is copied whole.
        let c = text[at..].chars().next().unwrap_or('\u{fffd}');
        // A hyphen, dot or slash within a word (a SKU), or a colon within a
        // time ("07:27:27 UTC" is no amount of 27 UTC), keeps to the word.
        after_word = c.is_alphanumeric() || (after_word && matches!(c, '-' | '_' | '.' | '/' | ':'));
        let mut buffer = [0; 4];
        escape_into(&mut html, c.encode_utf8(&mut buffer));
        at += c.len_utf8().max(1);
    }
    html
}

fn escape_into(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&#34;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
}

/// Where `digits` ASCII digits from `at` end, if there are that many.
fn digits(bytes: &[u8], at: usize, count: usize) -> Option<usize> {
    let end = at.checked_add(count)?;
    bytes.get(at..end)?.iter().all(u8::is_ascii_digit).then_some(end)
}

fn byte_is(bytes: &[u8], at: usize, wanted: u8) -> Option<usize> {
    (bytes.get(at) == Some(&wanted)).then_some(at + 1)
}

/// The end of a day written `YYYY-MM-DD` at `at`, not followed by a digit.
fn day_at(bytes: &[u8], at: usize) -> Option<usize> {
    let end = digits(bytes, at, 4)?;
    let end = digits(bytes, byte_is(bytes, end, b'-')?, 2)?;
    let end = digits(bytes, byte_is(bytes, end, b'-')?, 2)?;
    (!bytes.get(end).is_some_and(u8::is_ascii_digit)).then_some(end)
}

/// The end of a time of day with its zone at `at`, as pages write a moment
/// after its day: `08:05:56 UTC`, `09:05 CET`, `11:05:56 +03`, not followed
/// by a letter or digit; so that its zone is not left alone on a line.
fn time_at(bytes: &[u8], at: usize) -> Option<usize> {
    let end = digits(bytes, byte_is(bytes, digits(bytes, at, 2)?, b':')?, 2)?;
    let end = byte_is(bytes, end, b':').and_then(|seconds| digits(bytes, seconds, 2)).unwrap_or(end);
    let zone = byte_is(bytes, end, b' ')?;
    // An offset of hours, or of hours and minutes (`+03`, `-0330`), or letters
    // from a capital with another among them (`UTC`, `CEST`, `ChST`; not
    // a word such as `Monday`).
    let end = match bytes.get(zone) {
        Some(b'+' | b'-') => digits(bytes, zone + 1, 4).or_else(|| digits(bytes, zone + 1, 2))?,
        Some(b) if b.is_ascii_uppercase() => {
            let letters = bytes.get(zone..).unwrap_or_default().iter().take_while(|b| b.is_ascii_alphabetic());
            let capitals = letters.clone().filter(|b| b.is_ascii_uppercase()).count();
            if capitals < 2 {
                return None;
            }
            zone + letters.count()
        }
        _ => zone,
    };
    // Not part of a longer word or number ("10:00 +5.00 EUR" is a time and an amount).
    let goes_on = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric)
        || (matches!(bytes.get(end), Some(b'.' | b',' | b':')) && bytes.get(end + 1).is_some_and(u8::is_ascii_digit));
    ((2..=6).contains(&(end - zone)) && !goes_on).then_some(end)
}

/// The end of an amount at `at`: a number ([`number_at`], its digits in
/// groups of three after the first, with thousands commas, or none), a
/// space and a three-letter currency code, not followed by a letter.
fn amount_at(bytes: &[u8], at: usize) -> Option<usize> {
    let end = byte_is(bytes, number_at(bytes, at, true)?, b' ')?;
    let code = bytes.get(end..end + 3)?;
    let end = end + 3;
    (code.iter().all(u8::is_ascii_uppercase) && !bytes.get(end).is_some_and(u8::is_ascii_alphabetic)).then_some(end)
}

/// The end of a share at `at`: a number ([`number_at`]), a space and `%`.
fn share_at(bytes: &[u8], at: usize) -> Option<usize> {
    byte_is(bytes, byte_is(bytes, number_at(bytes, at, false)?, b' ')?, b'%')
}

/// The end of a number at `at`: a sign or none, digits (`grouped`: then
/// groups of three after a comma, where the first run is three digits or
/// fewer), and a decimal part or none.
fn number_at(bytes: &[u8], at: usize, grouped: bool) -> Option<usize> {
    let first = at + usize::from(matches!(bytes.get(at), Some(b'+' | b'-')));
    let mut end = digit_run(bytes, first);
    if end == first {
        return None;
    }
    if grouped && end - first <= 3 {
        while let Some(group) = digits(bytes, byte_is(bytes, end, b',').unwrap_or(usize::MAX), 3)
            .filter(|group| !bytes.get(*group).is_some_and(u8::is_ascii_digit))
        {
            end = group;
        }
    }
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end = digit_run(bytes, end + 1);
    }
    Some(end)
}

/// Where the run of ASCII digits from `at` ends (`at` itself for none).
fn digit_run(bytes: &[u8], at: usize) -> usize {
    at + bytes.get(at..).unwrap_or_default().iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::keep_whole;

    const OPEN: &str = "<span class=\"nw\">";

    #[test]
    fn days_and_amounts_stay_whole_and_the_rest_is_escaped() {
        assert_eq!(
            keep_whole("+1,320.00 EUR from 2026-12-10 while it is valid", OPEN),
            "<span class=\"nw\">+1,320.00 EUR</span> from <span class=\"nw\">2026-12-10</span> while it is valid"
        );
        assert_eq!(
            keep_whole("-4.00 EUR (-5.8 %), 10 %", OPEN),
            "<span class=\"nw\">-4.00 EUR</span> (<span class=\"nw\">-5.8 %</span>), <span class=\"nw\">10 %</span>"
        );
        assert_eq!(
            keep_whole("-15.20 EUR; 1,000 JPY and 3 of them", OPEN),
            "<span class=\"nw\">-15.20 EUR</span>; <span class=\"nw\">1,000 JPY</span> and 3 of them"
        );
        assert_eq!(
            keep_whole("\u{201c}<b>Pumps & co</b>\u{201d} (dated 2026-12-05)", OPEN),
            "\u{201c}&lt;b&gt;Pumps &amp; co&lt;/b&gt;\u{201d} (dated <span class=\"nw\">2026-12-05</span>)"
        );
    }

    #[test]
    fn what_only_looks_like_a_day_or_an_amount_is_left_as_it_is() {
        for text in ["PUMP-100 EUROS", "1,,,, EUR", "20261-12-10", "2026-12-100", "2026-1-10", "3 EURO", "12 of"] {
            assert!(!keep_whole(text, OPEN).contains("nw"), "{text}: {}", keep_whole(text, OPEN));
        }
        // Commas only between groups of three: a run of them is no amount.
        assert_eq!(keep_whole("1,1,1,1 EUR", OPEN), "1,1,1,<span class=\"nw\">1 EUR</span>");
        assert_eq!(keep_whole("12,345,678.90 EUR", OPEN), "<span class=\"nw\">12,345,678.90 EUR</span>");
        // Inside a word (a SKU), a number is not an amount.
        assert_eq!(keep_whole("PUMP-100 EUR", OPEN), "PUMP-100 EUR");
        // A time's seconds and its zone are no amount either: the time is kept with its zone.
        assert_eq!(
            keep_whole("at 2026-12-06 07:27:27 UTC", OPEN),
            "at <span class=\"nw\">2026-12-06</span> <span class=\"nw\">07:27:27 UTC</span>"
        );
        assert_eq!(
            keep_whole("2026-07-01 09:05 CEST, 11:05:56 +03; 10:00 to 12:00 hours", OPEN),
            "<span class=\"nw\">2026-07-01</span> <span class=\"nw\">09:05 CEST</span>, \
             <span class=\"nw\">11:05:56 +03</span>; 10:00 to 12:00 hours"
        );
        assert_eq!(keep_whole("at 19:05 ChST.", OPEN), "at <span class=\"nw\">19:05 ChST</span>.");
        assert_eq!(keep_whole("at 10:00 Monday", OPEN), "at 10:00 Monday", "a word is no zone");
        // A signed amount after a time is the amount's sign, not the time's zone.
        assert_eq!(keep_whole("10:00 +5.00 EUR", OPEN), "10:00 <span class=\"nw\">+5.00 EUR</span>");
        assert_eq!(keep_whole("10:00 +50.00 EUR", OPEN), "10:00 <span class=\"nw\">+50.00 EUR</span>");
        assert_eq!(keep_whole("10:00 -0330.", OPEN), "<span class=\"nw\">10:00 -0330</span>.");
        assert_eq!(keep_whole("", OPEN), "");
        assert_eq!(keep_whole("é 2026-12-10", OPEN), "é <span class=\"nw\">2026-12-10</span>");
    }
}
