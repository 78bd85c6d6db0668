//! A CSV file too long to hold in memory, sent part by part as it is read:
//! the audit log's and the quotes list's downloads.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use pricegate_domain::csv::{guarded, push_line};
use pricegate_store::StoreError;
use tokio::sync::mpsc;

use super::PageError;

/// How long a reader may leave a part of the file unread before the
/// download is given up: a client that stops reading holds no task, rows
/// or connection for ever.
const STALLED: Duration = Duration::from_secs(60);

/// What the download's task sends, as a body streams it.
type Part = Result<String, std::io::Error>;

/// The parts of a file after its first, read one at a time.
pub(super) trait Rest: Send + 'static {
    /// The next part of the file; `None` once the file is whole.
    fn next_part(&mut self) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

/// A CSV file named `file`: `first` (its header line and first rows, read
/// before the answer starts, so that a failure then is an error page rather
/// than a cut file), then each part `rest` reads, sent as it is read. A
/// failure on the way ends the body with an error, so that the reader's
/// download fails rather than looking whole; the log says it with `what`
/// ("the audit export").
pub(super) fn csv_download(file: &str, first: String, mut rest: impl Rest, what: &'static str) -> Response {
    let (sender, receiver) = mpsc::channel::<Part>(2);
    // Set once the last part is sent: a file that ends without it was cut
    // short, and is ended as an error rather than as a whole file.
    let whole = Arc::new(AtomicBool::new(false));
    let received = Received { parts: receiver, whole: whole.clone(), cut: false, what };
    tokio::spawn(async move {
        let mut part = first;
        loop {
            match tokio::time::timeout(STALLED, sender.send(Ok(part))).await {
                Ok(Ok(())) => {}
                // The reader went away, or stopped reading.
                Ok(Err(_)) | Err(_) => return,
            }
            part = match rest.next_part().await {
                Ok(Some(part)) => part,
                Ok(None) => return whole.store(true, Ordering::Release),
                Err(error) => {
                    tracing::error!(error = %error, "{what} stopped part way");
                    let cut = Err(std::io::Error::other(error.to_string()));
                    let _ = tokio::time::timeout(STALLED, sender.send(cut)).await;
                    return;
                }
            };
        }
    });
    let headers = [
        (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (CONTENT_DISPOSITION, disposition(file)),
        (CACHE_CONTROL, "no-store".to_owned()),
    ];
    (headers, axum::body::Body::from_stream(received)).into_response()
}

/// `Content-Disposition` for a file named `file` (made by [`file_name`]):
/// its name as it is where it is all ASCII; else (a notice's title in
/// Greek, say) that name in UTF-8 as `filename*` (RFC 6266), which browsers
/// take, and for a client that reads only `filename`, the name without
/// the words that have letters beyond ASCII.
fn disposition(file: &str) -> String {
    if file.is_ascii() {
        return format!("attachment; filename=\"{file}\"");
    }
    let ascii = file.split('-').filter(|word| word.is_ascii()).collect::<Vec<_>>().join("-");
    let mut encoded = String::with_capacity(file.len() * 3);
    for byte in file.bytes() {
        match byte {
            // RFC 5987's attr-char, of those a file name here may hold.
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => encoded.push(char::from(byte)),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Whether `c` is a mark that writes a letter with the one before it (an
/// accent typed apart, a vowel sign of an Indian script), or the joiners
/// some scripts need: a title's words keep them. Not the characters that
/// turn text around, nor other invisible ones.
fn is_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05C7}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0670}'
        | '\u{06D6}'..='\u{06ED}'
        | '\u{0900}'..='\u{0DFF}'
        | '\u{0E31}'..='\u{0E4E}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}'..='\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// `chars` with no `-` first and none twice in a row.
fn collapsed(chars: impl Iterator<Item = char>) -> String {
    chars.fold(String::new(), |mut kept, c| {
        if !(c == '-' && (kept.is_empty() || kept.ends_with('-'))) {
            kept.push(c);
        }
        kept
    })
}

/// A download's file name: `pricegate-{what}`, then what its filters chose
/// (`finalised`, `from-2026-11-01`, `to-2026-11-30`), then the day it was
/// made (`as-of-2026-12-05` after filters), so that two files downloaded
/// with different filters are not taken for one another (a search is said
/// as `searched`, not what was searched for, and a value is cut at 40
/// characters). Only letters, digits, `.` and `-` go into it: a space, `_`
/// or `@` becomes a `-` (`old_prices`, `sam@example.com`), and anything
/// else is left out (quotes, slashes, controls, marks and the characters
/// that turn text right to left). Letters beyond ASCII are kept: see
/// [`disposition`].
pub(super) fn file_name<'a>(
    what: &str,
    chosen: impl IntoIterator<Item = Option<(&'a str, &'a str)>>,
    today: chrono::NaiveDate,
) -> String {
    let mut name = format!("pricegate-{what}");
    let mut filtered = false;
    for (label, value) in chosen.into_iter().flatten() {
        let value = collapsed(
            value
                .chars()
                .filter_map(|c| match c {
                    c if c.is_alphanumeric() || c == '.' || is_mark(c) => Some(c),
                    '-' | '_' | '@' => Some('-'),
                    c if c.is_whitespace() => Some('-'),
                    _ => None,
                })
                .take(40),
        );
        let value = value.trim_end_matches('-');
        if value.is_empty() {
            continue;
        }
        name.push('-');
        if !label.is_empty() {
            name.push_str(label);
            name.push('-');
        }
        name.push_str(value);
        filtered = true;
    }
    // The day it was made told apart from the days chosen (`from-2026-12-06-as-of-2026-12-05`).
    match filtered {
        true => format!("{name}-as-of-{today}.csv"),
        false => format!("{name}-{today}.csv"),
    }
}

/// Why a download's address is refused, if it is: it was not read whole
/// (`unreadable`: a filter given twice), it names a parameter that is not
/// one of `known`, or its page would say something of its filters
/// (`notes`: a date that is not one, a name nobody goes by). A list page
/// shows what it can and says the rest above it; a file has nowhere to say
/// it, and one that quietly held every row, or none, would be taken for
/// the rows asked for. `page` is where to choose the filters instead.
pub(super) fn refusal(
    unreadable: bool,
    query: Option<&str>,
    known: &[&str],
    notes: &[String],
    page: &str,
) -> Option<PageError> {
    let why = match (unreadable, unknown_filter(query, known)) {
        (true, _) => "A filter is given twice, or written so that it cannot be read.".to_owned(),
        (false, Some(unknown)) => unknown,
        (false, None) if notes.is_empty() => return None,
        (false, None) => notes.join(" "),
    };
    Some(PageError::new(
        StatusCode::BAD_REQUEST,
        "This address could not be read",
        format!("{why} Download from {page}, with the filters chosen there."),
    ))
}

/// A sentence for the first name in `query` that is not one of the `known`
/// filters (a mistyped one, say), if there is one.
pub(super) fn unknown_filter(query: Option<&str>, known: &[&str]) -> Option<String> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or("")).ok()?;
    let name = pairs.into_iter().map(|(name, _)| name).find(|name| !known.contains(&name.as_str()))?;
    let name: String = name.chars().take(40).collect();
    Some(format!("\u{201c}{name}\u{201d} is not a filter here: the filters are {}.", known.join(", ")))
}

/// A time as every file writes it in its `_utc` columns: RFC 3339 in UTC, to
/// the microsecond, as the API gives it (`2026-12-07T08:36:30.000000Z`).
pub(super) fn utc(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A file's first line: a BOM (for spreadsheets) and the column names.
pub(super) fn header_line(columns: &[&str]) -> String {
    format!("\u{feff}{}\r\n", columns.join(","))
}

/// Appends `fields` to `out` as one CSV line, each guarded against being
/// run as a spreadsheet formula and quoted where it must be.
pub(super) fn line(out: &mut String, fields: &[&str]) {
    let guarded: Vec<String> = fields.iter().map(|f| guarded(f)).collect();
    push_line(out, &guarded.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The parts the download's task sends, as a body streams them; if they end
/// before the last was sent (the task gave up), an error ends the body.
struct Received {
    parts: mpsc::Receiver<Part>,
    whole: Arc<AtomicBool>,
    cut: bool,
    what: &'static str,
}

impl futures_core::Stream for Received {
    type Item = Part;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        match self.parts.poll_recv(cx) {
            Poll::Ready(None) if !self.cut && !self.whole.load(Ordering::Acquire) => {
                self.cut = true;
                let said = format!("{} stopped before its last row", self.what);
                Poll::Ready(Some(Err(std::io::Error::other(said))))
            }
            polled => polled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(received: &mut Received) -> Option<Part> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut *received), cx)).await
    }

    #[tokio::test]
    async fn a_file_cut_short_ends_in_an_error_and_a_whole_one_does_not() {
        for whole in [false, true] {
            let (sender, parts) = mpsc::channel(2);
            let flag = Arc::new(AtomicBool::new(false));
            let mut received = Received { parts, whole: flag.clone(), cut: false, what: "the export" };
            sender.send(Ok("at_utc\r\n".to_owned())).await.expect("sent");
            flag.store(whole, Ordering::Release);
            drop(sender);
            assert!(matches!(next(&mut received).await, Some(Ok(_))), "the part sent");
            if !whole {
                assert!(matches!(next(&mut received).await, Some(Err(_))), "cut short: an error ends it");
            }
            assert!(next(&mut received).await.is_none(), "then it ends");
        }
    }

    /// Parts read one after another, the last failing when `fails`.
    struct Parts {
        left: Vec<&'static str>,
        fails: bool,
    }

    impl Rest for Parts {
        async fn next_part(&mut self) -> Result<Option<String>, StoreError> {
            match self.left.pop() {
                Some(part) => Ok(Some(part.to_owned())),
                None if self.fails => Err(StoreError::Internal("the database went away".to_owned())),
                None => Ok(None),
            }
        }
    }

    #[test]
    fn a_file_name_carries_the_filters_chosen_and_nothing_else() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).expect("a day");
        assert_eq!(file_name("quotes", [None, None], today), "pricegate-quotes-2026-12-05.csv");
        let chosen = [Some(("", "finalised")), Some(("from", "2026-11-01")), None, Some(("to", "2026-11-30"))];
        assert_eq!(
            file_name("quotes", chosen, today),
            "pricegate-quotes-finalised-from-2026-11-01-to-2026-11-30-as-of-2026-12-05.csv"
        );
        assert_eq!(
            file_name("audit", [Some(("", "quote.finalised")), Some(("to", "\"; rm x/..\\"))], today),
            "pricegate-audit-quote.finalised-to-rm-x..-as-of-2026-12-05.csv"
        );
        let chosen = [Some(("", "old_prices")), Some(("about", "sam@pricegate.example")), Some(("by", "  -_ "))];
        assert_eq!(
            file_name("quotes", chosen, today),
            "pricegate-quotes-old-prices-about-sam-pricegate.example-as-of-2026-12-05.csv"
        );
        // A title in another script is kept, its vowel signs and accents typed apart too; what turns text
        // around is not.
        let chosen = [Some(("notice", "8")), Some(("", "मूल्य सूची cafe\u{301}"))];
        assert_eq!(
            file_name("acknowledgements", chosen, today),
            "pricegate-acknowledgements-notice-8-मूल्य-सूची-cafe\u{301}-as-of-2026-12-05.csv"
        );
        let chosen = [Some(("notice", "7")), Some(("", "Αύξηση τιμών \u{202e}vsc.exe"))];
        assert_eq!(
            file_name("acknowledgements", chosen, today),
            "pricegate-acknowledgements-notice-7-Αύξηση-τιμών-vsc.exe-as-of-2026-12-05.csv"
        );
    }

    #[test]
    fn a_name_beyond_ascii_is_offered_in_utf_8_and_without_it() {
        assert_eq!(
            disposition("pricegate-audit-2026-12-05.csv"),
            "attachment; filename=\"pricegate-audit-2026-12-05.csv\""
        );
        assert_eq!(
            disposition("pricegate-acknowledgements-notice-7-Prix-été-2026-12-05.csv"),
            "attachment; filename=\"pricegate-acknowledgements-notice-7-Prix-2026-12-05.csv\"; \
             filename*=UTF-8''pricegate-acknowledgements-notice-7-Prix-%C3%A9t%C3%A9-2026-12-05.csv"
        );
        assert_eq!(
            disposition("pricegate-acknowledgements-notice-7-Αύξηση-τιμών-2026-12-05.csv"),
            "attachment; filename=\"pricegate-acknowledgements-notice-7-2026-12-05.csv\"; filename*=UTF-8''\
             pricegate-acknowledgements-notice-7-%CE%91%CF%8D%CE%BE%CE%B7%CF%83%CE%B7-%CF%84%CE%B9%CE%BC%CF%8E%CE%BD-2026-12-05.csv"
        );
    }

    #[tokio::test]
    async fn every_part_is_sent_in_order_and_a_failure_cuts_the_file() {
        for fails in [false, true] {
            let rest = Parts { left: vec!["c\r\n", "b\r\n"], fails };
            let response = csv_download("f.csv", "a\r\n".to_owned(), rest, "the test export");
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await;
            match fails {
                false => assert_eq!(body.expect("a whole file"), "a\r\nb\r\nc\r\n"),
                true => assert!(body.is_err(), "a file cut short is an error, not a shorter file"),
            }
        }
    }
}
