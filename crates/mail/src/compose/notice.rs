//! The notice e-mail and its reminders: how much of a long notice they list, and the templates.

use askama::Template;
use pricegate_store::{BlockedQuote, Composed, Letter, NoticeContent, Told};

use super::changes::{ChangeRow, QuoteRow, change_rows, moves_any, quote_rows};
use super::filters;
use super::words::lifetime;
use super::{TemplateComposer, composed};
use crate::markdown::{markdown_as_text, render_markdown};
use pricegate_store::Recipient;

/// More changes than this, and a notice's e-mail says first where its
/// parts are: the reader's quotes and the link come after a long list.
pub(super) const LONG_NOTICE_CHANGES: usize = 20;

/// More changes than this, and a notice's e-mail lists only those of the
/// products on the reader's quotes it holds up (this many at most), or, on
/// none, the first [`FIRST_CHANGES`]: mailed whole, a notice of 500 changes
/// is some 300 KB to each reader, and the page its link opens, where they
/// acknowledge it, lists every change.
pub(super) const MAILED_CHANGES: usize = 50;

/// How many of a long notice's changes its e-mail lists to a reader none of
/// them touches.
pub(super) const FIRST_CHANGES: usize = 20;

/// Which of a notice's changes its e-mail to one reader lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed {
    /// Every one.
    All,
    /// Those of the products on the reader's quotes it holds up, `on_quotes`
    /// of them (the e-mail may list fewer: [`MAILED_CHANGES`]).
    OnQuotes { on_quotes: usize },
    /// The first, as the notice lists them: none is on the reader's quotes.
    First,
}

/// The changes a notice's e-mail lists to the reader of `quotes`, of all
/// its `changes` (see [`MAILED_CHANGES`]), and which they are.
pub(super) fn listed_changes(changes: Vec<ChangeRow>, quotes: &[BlockedQuote]) -> (Vec<ChangeRow>, Listed) {
    if changes.len() <= MAILED_CHANGES {
        return (changes, Listed::All);
    }
    let on_quotes = |c: &ChangeRow| quotes.iter().any(|q| q.priced.contains(&c.sku));
    let (mut mine, others): (Vec<ChangeRow>, Vec<ChangeRow>) = changes.into_iter().partition(on_quotes);
    if mine.is_empty() {
        (others.into_iter().take(FIRST_CHANGES).collect(), Listed::First)
    } else {
        let on_quotes = mine.len();
        mine.truncate(MAILED_CHANGES);
        (mine, Listed::OnQuotes { on_quotes })
    }
}

/// The reader's quotes, `quotes` of them, as a notice's e-mail names them.
pub(super) fn your_quotes(quotes: usize) -> &'static str {
    if quotes == 1 { "your quote" } else { "your quotes" }
}

/// The sentence that opens the e-mail of a notice of `changes` price
/// changes holding up `quotes` of the reader's quotes, when the changes are
/// many ([`LONG_NOTICE_CHANGES`]); `listed` of them are in the e-mail.
pub(super) fn long_notice_guide(changes: usize, (listed, which): (usize, Listed), quotes: usize) -> Option<String> {
    (changes > LONG_NOTICE_CHANGES).then(|| {
        let held = match quotes {
            0 => String::new(),
            1 => ", then the one quote of yours it holds up".to_owned(),
            n => format!(", then the {n} quotes of yours it holds up"),
        };
        let yours = your_quotes(quotes);
        let below = match which {
            Listed::All => {
                return format!(
                    "It makes {changes} price changes, all listed below{held}; the link to acknowledge it comes after them."
                );
            }
            Listed::OnQuotes { on_quotes: 1 } => format!("is the one on {yours}"),
            Listed::OnQuotes { on_quotes } if on_quotes == listed => format!("are the {listed} on {yours}"),
            Listed::OnQuotes { on_quotes } => format!("are {listed} of the {on_quotes} on {yours}"),
            Listed::First => format!("are the first {listed}"),
        };
        format!(
            "It makes {changes} price changes. Listed below {below}{held}; the link to acknowledge it, after them, opens \
             all {changes}."
        )
    })
}

/// The heading of the changes a notice's e-mail lists, `listed` of them,
/// to the reader of `quotes` of the quotes it holds up.
pub(super) fn listed_heading(listed: usize, which: Listed, quotes: usize) -> String {
    match which {
        Listed::All => "Price changes".to_owned(),
        Listed::OnQuotes { .. } => {
            let changes = if listed == 1 { "Price change" } else { "Price changes" };
            format!("{changes} on {}", your_quotes(quotes))
        }
        Listed::First => format!("The first {listed} price changes"),
    }
}

/// What a notice's e-mail says under the changes it lists, when it lists
/// only `listed` of its `changes`, and `unlisted_yours` of those on the
/// reader's `quotes`.
pub(super) fn unlisted_changes(
    changes: usize,
    listed: usize,
    (unlisted_yours, quotes): (usize, usize),
) -> Option<String> {
    (listed < changes).then(|| {
        let rest = changes - listed;
        let more = if rest == 1 { "change" } else { "changes" };
        let yours = match unlisted_yours {
            0 => String::new(),
            1 => format!(" (one of them on {})", your_quotes(quotes)),
            n => format!(" ({n} of them on {})", your_quotes(quotes)),
        };
        format!(
            "And {rest} more {more}{yours}, not listed here: the link to acknowledge the notice, below, opens the \
             whole notice, every change listed, to read before you confirm."
        )
    })
}

/// Publication and reminders share one layout; only the opening differs
/// (its HTML part; [`NoticeText`] is the same letter as text).
#[derive(Template)]
#[template(path = "notice.html")]
pub(super) struct NoticeLetter<'a> {
    /// Where things are in a notice with many changes (see [`long_notice_guide`]).
    pub(super) guide: Option<&'a str>,
    pub(super) intro: &'a str,
    pub(super) name: &'a str,
    pub(super) title: &'a str,
    /// The notice's words, as HTML and as text.
    pub(super) body_html: String,
    pub(super) body: String,
    /// The heading of `changes`, which may be only some of the notice's
    /// (see [`listed_changes`]).
    pub(super) changes_heading: &'a str,
    pub(super) changes: &'a [ChangeRow],
    /// What the e-mail says of the changes it does not list, if any.
    pub(super) unlisted: Option<&'a str>,
    /// How many changes the link's page lists, when the e-mail lists fewer.
    pub(super) whole_notice: Option<usize>,
    pub(super) quotes: &'a [QuoteRow],
    /// Whether the notice moves any of `quotes`' totals, ever: if not, the
    /// e-mail says acknowledging it is all this notice asks of them.
    pub(super) moves_any: bool,
    pub(super) ack_url: &'a str,
    pub(super) link_lifetime: &'a str,
    /// A reminder's: the page of every notice awaiting the reader.
    pub(super) awaiting_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.txt")]
pub(super) struct NoticeText<'a> {
    pub(super) letter: &'a NoticeLetter<'a>,
}

/// A notice's e-mail to `to`: on its publication, or a reminder of it
/// (`letter` says which, and why they are told), with the quotes of theirs
/// it holds up and the link that acknowledges it.
pub(super) fn compose_notice(
    composer: &TemplateComposer,
    letter: &Letter<'_>,
    notice: &NoticeContent,
    to: &Recipient,
    quotes: &[BlockedQuote],
    ack_url: &str,
) -> Result<Composed, String> {
    let (subject, intro) = match letter {
        Letter::Reminder { number, of, .. } if *of > 0 => (
            format!("Reminder {number} of {of}: \"{}\" awaits your acknowledgement", notice.title),
            if number == of {
                "You have not yet acknowledged this price notice. This is the last reminder: finance is \
                 told now that it is still waiting for you."
            } else {
                "You have not yet acknowledged this price notice."
            }
            .to_owned(),
        ),
        Letter::Reminder { .. } => (
            format!("Reminder: \"{}\" awaits your acknowledgement", notice.title),
            "Finance asks you to acknowledge this price notice now.".to_owned(),
        ),
        Letter::Publication { told: Told::Returned, .. } => (
            format!("Price notice: {}", notice.title),
            if quotes.len() == 1 {
                "This price notice was published while you could not sign quotes, and it holds up the \
                 quote below, which you sign. Acknowledge the notice before you finalise it."
            } else {
                "This price notice was published while you could not sign quotes, and it holds up the \
                 quotes below, which you sign. Acknowledge the notice before you finalise them."
            }
            .to_owned(),
        ),
        Letter::Publication { told: Told::Missed, .. } => (
            format!("Price notice: {}", notice.title),
            if quotes.len() == 1 {
                "The e-mail about this price notice was set aside when you could no longer sign \
                 quotes, and it holds up the quote below, which you sign. Acknowledge the notice before \
                 you finalise it."
            } else {
                "The e-mail about this price notice was set aside when you could no longer sign \
                 quotes, and it holds up the quotes below, which you sign. Acknowledge the notice before \
                 you finalise them."
            }
            .to_owned(),
        ),
        Letter::Publication { told: Told::Back, .. } => (
            format!("Still to acknowledge: {}", notice.title),
            if quotes.len() == 1 {
                "You can sign quotes again, and this price notice, mailed to you before, still waits for \
                 your acknowledgement: it holds up the quote below, which you sign. Acknowledge the \
                 notice before you finalise it."
            } else {
                "You can sign quotes again, and this price notice, mailed to you before, still waits for \
                 your acknowledgement: it holds up the quotes below, which you sign. Acknowledge the \
                 notice before you finalise them."
            }
            .to_owned(),
        ),
        Letter::Publication { told: Told::TookOver, .. } => (
            format!("Price notice: {}", notice.title),
            if quotes.len() == 1 {
                "This price notice was published before you took over the quote below, and it holds it \
                 up: you now sign it. Acknowledge the notice before you finalise it."
            } else {
                "This price notice was published before you took over the quotes below, and it holds \
                 them up: you now sign them. Acknowledge the notice before you finalise them."
            }
            .to_owned(),
        ),
        // Named, so that a question about it goes to them.
        _ => (
            format!("Price notice: {}", notice.title),
            match (notice.published_by.as_str(), &notice.reply_to) {
                ("", _) => "Finance has published a price notice.".to_owned(),
                // Their address is kept only while they can answer.
                (by, None) => format!("{by}, in finance, published this price notice."),
                (by, Some(_)) => {
                    format!(
                        "{by}, in finance, has published a price notice. Questions about it? Reply to this e-mail to ask them."
                    )
                }
            },
        ),
    };
    let awaiting_url = match letter {
        Letter::Reminder { awaiting_url, .. } => Some(*awaiting_url),
        _ => None,
    };
    let (changes, listed) = listed_changes(change_rows(notice, composer.calendar), quotes);
    let changes_heading = listed_heading(changes.len(), listed, quotes.len());
    let unlisted_yours = match listed {
        Listed::OnQuotes { on_quotes } => on_quotes - changes.len(),
        Listed::All | Listed::First => 0,
    };
    let unlisted = unlisted_changes(notice.changes.len(), changes.len(), (unlisted_yours, quotes.len()));
    // The link opens them all: said so where it is not all.
    let whole_notice = unlisted.is_some().then_some(notice.changes.len());
    let guide = long_notice_guide(notice.changes.len(), (changes.len(), listed), quotes.len());
    let moves_any = moves_any(quotes);
    let quotes = quote_rows(quotes);
    let link_lifetime = lifetime(composer.link_ttl);
    let letter = NoticeLetter {
        guide: guide.as_deref(),
        intro: &intro,
        name: &to.name,
        title: &notice.title,
        body_html: render_markdown(&notice.body, 1),
        body: markdown_as_text(&notice.body),
        changes_heading: &changes_heading,
        changes: &changes,
        unlisted: unlisted.as_deref(),
        whole_notice,
        quotes: &quotes,
        moves_any,
        ack_url,
        link_lifetime: &link_lifetime,
        awaiting_url,
    };
    composed(subject, &letter, &NoticeText { letter: &letter })
}
