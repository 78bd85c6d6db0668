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
