//! Notice bodies are Markdown written by finance. Raw HTML in them is shown
//! as text, never passed through: an e-mail or page must not carry markup
//! (or script) that nobody reviewed as markup. Link targets other than
//! http(s) and mailto are dropped for the same reason. An image becomes a
//! link to it, labelled with its description: a picture from elsewhere in a
//! notice e-mail would tell that server who opened the mail and when (and
//! the pages' policy loads no image from elsewhere anyway).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

pub fn render_markdown(source: &str) -> String {
    let parser = Parser::new_ext(source, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).flat_map(|event| {
        let (event, then) = match event {
            Event::Html(raw) | Event::InlineHtml(raw) => (Event::Text(raw), None),
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                (Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id }), None)
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => (
                Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id }),
                Some(Event::Text(CowStr::Borrowed("Image: "))),
            ),
            Event::End(TagEnd::Image) => (Event::End(TagEnd::Link), None),
            other => (other, None),
        };
        std::iter::once(event).chain(then)
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
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
        let html =
            render_markdown("From **today**.\n\n<script>alert(1)</script> <b>x</b>\n\nSee [a](javascript:alert(1)).");
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
    fn an_image_becomes_a_link_to_it() {
        let html = render_markdown("The new pump: ![Pump P-40, front](https://example.com/p40.png \"P-40\")");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.com/p40.png\" title=\"P-40\">Image: Pump P-40, front</a>"),
            "{html}"
        );
        let html = render_markdown("![x](javascript:alert(1))");
        assert!(html.contains("<a href=\"#\">Image: x</a>"), "{html}");
    }
}
