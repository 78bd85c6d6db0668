//! Notice bodies are Markdown written by finance. Raw HTML in them is shown
//! as text, never passed through: an e-mail or page must not carry markup
//! (or script) that nobody reviewed as markup. Link targets other than
//! http(s) and mailto are dropped for the same reason. An image becomes a
//! link to it, labelled with its description: a picture from elsewhere in a
//! notice e-mail would tell that server who opened the mail and when (and
//! the pages' policy loads no image from elsewhere anyway). Its headings
//! sit below the heading the page or e-mail puts above it.

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// `source` as HTML, shown under a heading of level `under` (the notice's
/// title, an `<h1>` on its own page, an `<h3>` in a quote's card): its `#`
/// is a heading one level below that, and so on, to `<h6>` at most.
pub fn render_markdown(source: &str, under: u8) -> String {
    let below =
        |level: HeadingLevel| HeadingLevel::try_from(usize::from(under) + level as usize).unwrap_or(HeadingLevel::H6);
    // Inside a link (or an image, which becomes one) or a code block, an
    // address written out stays text.
    let (mut in_link, mut in_code) = (0usize, false);
    // The parser splits text where emphasis could start (`_`, `*`): joined
    // again, an address with one in it is seen whole.
    let mut events: Vec<Event<'_>> = Vec::new();
    for event in Parser::new_ext(source, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match (events.last_mut(), event) {
            (Some(Event::Text(before)), Event::Text(text)) => *before = CowStr::from(format!("{before}{text}")),
            (_, event) => events.push(event),
        }
    }
    let parser = events.into_iter().flat_map(|event| {
        let (event, then) = match event {
            Event::Html(raw) | Event::InlineHtml(raw) => (Event::Text(raw), None),
            Event::Text(text) if in_link == 0 && !in_code => return linked(text),
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                in_link += 1;
                (Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id }), None)
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                in_link += 1;
                (
                    Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id }),
                    Some(Event::Text(CowStr::Borrowed("Image: "))),
                )
            }
            Event::End(TagEnd::Link) => {
                in_link = in_link.saturating_sub(1);
                (Event::End(TagEnd::Link), None)
            }
            Event::End(TagEnd::Image) => {
                in_link = in_link.saturating_sub(1);
                (Event::End(TagEnd::Link), None)
            }
            // Each block takes its direction from its own first letter: a
            // paragraph in Hebrew or Arabic reads right to left, with its
            // comma and its prices where its writer put them, beside one in
            // English (the writer's attributes, unused, are left out).
            Event::Start(Tag::Heading { level, .. }) => (html_tag(format!("<{} dir=\"auto\">", below(level))), None),
            Event::End(TagEnd::Heading(level)) => (html_tag(format!("</{}>\n", below(level))), None),
            Event::Start(Tag::Paragraph) => (html_tag("<p dir=\"auto\">".into()), None),
            Event::End(TagEnd::Paragraph) => (html_tag("</p>\n".into()), None),
            Event::Start(Tag::Item) => (html_tag("<li dir=\"auto\">".into()), None),
            Event::End(TagEnd::Item) => (html_tag("</li>\n".into()), None),
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code = true;
                (Event::Start(Tag::CodeBlock(kind)), None)
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                (Event::End(TagEnd::CodeBlock), None)
            }
            other => (other, None),
        };
        std::iter::once(event).chain(then).collect::<Vec<_>>()
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

/// Markup of Pricegate's own, written as it is (what a notice's writer
/// wrote as HTML is text by then).
fn html_tag(markup: String) -> Event<'static> {
    Event::Html(CowStr::from(markup))
}

/// `text` with each http(s) address written out in it made a link to
/// itself, as mail readers do with the text part: up to the next space or
/// `<`, without the punctuation that ends a sentence after it.
fn linked(text: CowStr<'_>) -> Vec<Event<'_>> {
    // In any case: lower case in ASCII keeps every byte where it was.
    let lower = text.to_ascii_lowercase();
    let find = |from: usize| {
        [lower[from..].find("https://"), lower[from..].find("http://")].into_iter().flatten().min().map(|at| from + at)
    };
    let Some(mut found) = find(0) else { return vec![Event::Text(text)] };
    let mut events = Vec::new();
    // `text[..said]` is in `events` already.
    let mut said = 0;
    loop {
        let at = found;
        let end = text[at..].find(|c: char| c.is_whitespace() || c == '<' || c == '"').map_or(text.len(), |n| at + n);
        let mut address = &text[at..end];
        while let Some(shorter) = address.strip_suffix(['.', ',', ';', ':', '!', '?', '\'']) {
            address = shorter;
        }
        if address.ends_with(')') && address.matches('(').count() < address.matches(')').count() {
            address = &address[..address.len() - 1];
        }
        let next = if address.len() <= "https://".len() {
            end
        } else {
            if at > said {
                events.push(Event::Text(CowStr::from(text[said..at].to_owned())));
            }
            let url = CowStr::from(address.to_owned());
            events.push(Event::Start(Tag::Link {
                link_type: pulldown_cmark::LinkType::Autolink,
                dest_url: url.clone(),
                title: CowStr::Borrowed(""),
                id: CowStr::Borrowed(""),
            }));
            events.push(Event::Text(url));
            events.push(Event::End(TagEnd::Link));
            said = at + address.len();
            said
        };
        match find(next) {
            Some(at) => found = at,
            None => break,
        }
    }
    if said < text.len() {
        events.push(Event::Text(CowStr::from(text[said..].to_owned())));
    }
    events
}

/// The same Markdown as plain text, for the text part of an e-mail: the
/// words without the marks (`**`, `#`, `[…](…)`), a link's address after its
/// words, list items as `- ` or `1. `, a paragraph per blank line.
pub fn markdown_as_text(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    // Each open list: the next item's number, or none for bullets.
    let mut lists: Vec<Option<u64>> = Vec::new();
    // Each open link or image: its address, said after its words.
    let mut links: Vec<CowStr<'_>> = Vec::new();
    let parser = Parser::new_ext(source, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    for event in parser {
        match event {
            Event::Text(text) | Event::Code(text) | Event::Html(text) | Event::InlineHtml(text) => out.push_str(&text),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => out.push_str("----\n\n"),
            Event::Start(Tag::List(first)) => {
                if !lists.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) if !out.ends_with('\n') => out.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(safe_url(dest_url)),
            Event::Start(Tag::Image { dest_url, .. }) => {
                out.push_str("Image: ");
                links.push(safe_url(dest_url));
            }
            Event::End(TagEnd::Link | TagEnd::Image) => match links.pop() {
                Some(url) if url.as_ref() != "#" && !out.ends_with(url.as_ref()) => out.push_str(&format!(" <{url}>")),
                _ => {}
            },
            Event::End(TagEnd::TableCell) => out.push_str(" | "),
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                let trimmed = out.trim_end_matches([' ', '|']).len();
                out.truncate(trimmed);
                out.push('\n');
            }
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::Table) => {
                if lists.is_empty() {
                    out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
                } else if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => {}
        }
    }
    let mut text = out.trim_end().to_owned();
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:") {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_raw_html_is_escaped() {
        let html = render_markdown(
            "From **today**.\n\n<script>alert(1)</script> <b>x</b>\n\nSee [a](javascript:alert(1)).",
            1,
        );
        assert!(html.contains("<strong>today</strong>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("<a href=\"#\">a</a>"), "{html}");
    }

    #[test]
    fn plain_text_has_the_words_without_the_marks() {
        let text = markdown_as_text(
            "# Pumps up 10%\n\nFrom **1 December**, *every* pump.\nSee [the list](https://prices.example/p).\n\n\
             - PUMP-1\n- PUMP-2\n\n1. Read\n2. Acknowledge\n\n<b>raw</b> and [bad](javascript:x)",
        );
        assert_eq!(
            text,
            "Pumps up 10%\n\nFrom 1 December, every pump.\nSee the list <https://prices.example/p>.\n\n\
             - PUMP-1\n- PUMP-2\n\n1. Read\n2. Acknowledge\n\n<b>raw</b> and bad"
        );
        assert_eq!(markdown_as_text("<https://prices.example/>"), "https://prices.example/", "an address said once");
        assert_eq!(markdown_as_text("![Pump](https://example.com/p.png)"), "Image: Pump <https://example.com/p.png>");
        assert_eq!(markdown_as_text("| SKU | Price |\n|---|---|\n| P-1 | 10 |"), "SKU | Price\nP-1 | 10");
    }

    #[test]
    fn an_address_written_out_becomes_a_link_to_itself() {
        let html = render_markdown(
            "Prices: https://example.com/preise?jahr=2027&modell=C250. Or (see http://example.org/a_(b)) now.",
            1,
        );
        assert!(
            html.contains(
                "Prices: <a href=\"https://example.com/preise?jahr=2027&amp;modell=C250\">https://example.com/preise?jahr=2027&amp;modell=C250</a>. Or"
            ),
            "{html}"
        );
        assert!(
            html.contains("(see <a href=\"http://example.org/a_(b)\">http://example.org/a_(b)</a>) now."),
            "{html}"
        );
        // Already a link, in code, or no address after the scheme: left as written.
        let html = render_markdown("[the list](https://a.example/x) and `https://b.example` and https:// alone", 1);
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert!(html.contains("<code>https://b.example</code>") && html.contains("and https:// alone"), "{html}");
        let html = render_markdown("```\nhttps://c.example\n```", 1);
        assert!(!html.contains("<a "), "{html}");
        assert!(!render_markdown("javascript:alert(1) https://ok.example", 1).contains("javascript:alert(1)\""));
    }

    #[test]
    fn an_image_becomes_a_link_to_it() {
        let html = render_markdown("The new pump: ![Pump P-40, front](https://example.com/p40.png \"P-40\")", 1);
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.com/p40.png\" title=\"P-40\">Image: Pump P-40, front</a>"),
            "{html}"
        );
        let html = render_markdown("![x](javascript:alert(1))", 1);
        assert!(html.contains("<a href=\"#\">Image: x</a>"), "{html}");
    }

    #[test]
    fn a_notice_s_headings_sit_below_the_heading_above_it() {
        let html = render_markdown("# Why\n\n## Details\n\n###### Small print", 3);
        assert!(html.contains("<h4 dir=\"auto\">Why</h4>") && html.contains("<h5 dir=\"auto\">Details</h5>"), "{html}");
        assert!(
            html.contains("<h6 dir=\"auto\">Small print</h6>") && !html.contains("<h1") && !html.contains("<h3"),
            "{html}"
        );
        assert!(render_markdown("# Pump news", 1).contains("<h2 dir=\"auto\">Pump news</h2>"));
    }

    #[test]
    fn each_block_takes_its_direction_from_its_own_letters() {
        let html = render_markdown(
            "# מחירים\n\nשלום,\n\nהמחיר עולה ל-1,250.50 EUR.\n\n- משאבה 2\n- PUMP-2\n\n1. first\n\n> quoted",
            1,
        );
        assert_eq!(
            html,
            "<h2 dir=\"auto\">מחירים</h2>\n<p dir=\"auto\">שלום,</p>\n<p dir=\"auto\">המחיר עולה ל-1,250.50 EUR.</p>\n\
             <ul>\n<li dir=\"auto\">משאבה 2</li>\n<li dir=\"auto\">PUMP-2</li>\n</ul>\n\
             <ol>\n<li dir=\"auto\">first</li>\n</ol>\n<blockquote>\n<p dir=\"auto\">quoted</p>\n</blockquote>\n"
        );
        // A loose list's items hold paragraphs of their own.
        let html = render_markdown("- one\n\n- two", 1);
        assert_eq!(
            html,
            "<ul>\n<li dir=\"auto\"><p dir=\"auto\">one</p>\n</li>\n<li dir=\"auto\"><p dir=\"auto\">two</p>\n</li>\n</ul>\n"
        );
    }
}
