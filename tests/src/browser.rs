//! Headless Chromium driven through chromedriver (WebDriver), for the
//! browser tests. Each test starts its own chromedriver on a free port and
//! gives every browser session a fresh profile. Sessions are quit and the
//! driver killed whether the test body passes or panics.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tempfile::TempDir;
use tokio::process::{Child, Command};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str = "the browser tests need Debian's Chromium and its driver: \
     apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver \
     (scripts/test installs them)";

/// Where screenshots go: `test-output/screenshots/` under the workspace root.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("test-output").join("screenshots")
}

/// Saves a PNG of what the browser shows now, as `<name>.png`.
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot directory can be created");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
}

struct Driver {
    child: Child,
    url: String,
    profiles: Vec<TempDir>,
    clients: Vec<Client>,
}

impl Driver {
    async fn start() -> Driver {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(std::path::Path::new(binary).exists(), "{binary} is missing; {INSTALL_HINT}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver does not start ({e}); {INSTALL_HINT}"));
        let url = format!("http://127.0.0.1:{port}");
        let mut driver = Driver { child, url, profiles: Vec::new(), clients: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = reqwest::Client::new();
        loop {
            if let Ok(r) = status.get(format!("{}/status", driver.url)).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(exit)) = driver.child.try_wait() {
                panic!("chromedriver exited at start with {exit}; {INSTALL_HINT}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on {} within 30 s", driver.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn open(&mut self) -> Client {
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
        let client = ClientBuilder::rustls()
            .expect("a TLS setup for the WebDriver client")
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no Chromium session from chromedriver ({e}); {INSTALL_HINT}"));
        self.profiles.push(profile);
        self.clients.push(client.clone());
        client
    }

    async fn stop(mut self) {
        for client in self.clients.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        }
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Runs `body` with `count` browser sessions of their own. Whatever happens
/// in the body, the sessions are closed and chromedriver is stopped before
/// the test ends (and a panic in the body fails the test afterwards).
pub async fn with_browsers<F, Fut>(count: usize, body: F)
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Both ring (sqlx, lettre) and aws-lc-rs (fantoccini) are linked: name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut driver = Driver::start().await;
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(driver.open().await);
    }
    let outcome = tokio::spawn(body(clients)).await;
    driver.stop().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the browser test did not finish: {e}"),
        }
    }
}

/// A page as a person drives it: go somewhere, fill fields, press buttons,
/// read what is shown. Every failure panics with what was being done.
#[derive(Clone)]
pub struct Page {
    pub client: Client,
    pub base: String,
}

impl Page {
    pub fn new(client: Client, base: &str) -> Page {
        Page { client, base: base.to_owned() }
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.map(|u| u.path().to_owned()).expect("the current address")
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("field {css}: {e}"));
        field.clear().await.unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Sets a date field to `yyyy-mm-dd`, as a date picker would: what a
    /// date field takes from the keyboard depends on the browser's locale.
    pub async fn set_date(&self, css: &str, date: &str) {
        self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("field {css}: {e}"));
        self.client
            .execute("document.querySelector(arguments[0]).value = arguments[1];", vec![css.into(), date.into()])
            .await
            .unwrap_or_else(|e| panic!("setting {css} to {date}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let field =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("select {css}: {e}"));
        field.select_by_value(value).await.unwrap_or_else(|e| panic!("choosing {value} in {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let button =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("button {css}: {e}"));
        button.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Clicks a button that loads a new page, and waits until the old page
    /// is gone (its root element goes stale), so that what is read next is
    /// the new page.
    pub async fn submit(&self, css: &str) {
        self.submit_at(Locator::Css(css)).await;
    }

    /// [`Page::submit`] for any locator (an XPath to a button in a table row).
    pub async fn submit_at(&self, locator: Locator<'_>) {
        let old = self.client.find(Locator::Css("html")).await.expect("the page's root element");
        let button =
            self.client.wait().for_element(locator).await.unwrap_or_else(|e| panic!("button {locator:?}: {e}"));
        button.click().await.unwrap_or_else(|e| panic!("clicking {locator:?}: {e}"));
        self.wait_for_new_page(old, &format!("pressing {locator:?}")).await;
    }

    /// Keyboard only: presses `keys` (such as a space on a checkbox) in the
    /// element `css`, which receives them as it would from a person tabbing to it.
    pub async fn press(&self, css: &str, keys: &str) {
        let el = self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        el.send_keys(keys).await.unwrap_or_else(|e| panic!("pressing {keys:?} in {css}: {e}"));
    }

    /// Keyboard only: Enter in a form's field sends the form (its first
    /// button); waits for the new page as [`Page::submit`] does.
    pub async fn press_enter_in(&self, css: &str) {
        self.press_to_load(css, &char::from(fantoccini::key::Key::Enter).to_string()).await;
    }

    /// Keyboard only: presses `keys` in the element `css` (a space on a
    /// button), which loads a new page; waits for it as [`Page::submit`] does.
    pub async fn press_to_load(&self, css: &str, keys: &str) {
        let old = self.client.find(Locator::Css("html")).await.expect("the page's root element");
        self.press(css, keys).await;
        self.wait_for_new_page(old, &format!("pressing {keys:?} in {css}")).await;
    }

    async fn wait_for_new_page(&self, old: fantoccini::elements::Element, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "{what} did not load a new page within 15 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.client.wait().for_element(Locator::Css("body")).await.expect("the new page's body");
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let el =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("element {css}: {e}"));
        el.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// The visible text of every element matching `css`, in page order.
    pub async fn text_all(&self, css: &str) -> Vec<String> {
        let found = self.client.find_all(Locator::Css(css)).await.unwrap_or_else(|e| panic!("elements {css}: {e}"));
        let mut texts = Vec::with_capacity(found.len());
        for el in found {
            texts.push(el.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}")));
        }
        texts
    }

    pub async fn value(&self, css: &str) -> String {
        let el = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("element {css}: {e}"));
        el.prop("value").await.ok().flatten().unwrap_or_default()
    }

    /// The attribute `name` of the element `css`, if it has it.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let el = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("element {css}: {e}"));
        el.attr(name).await.unwrap_or_else(|e| panic!("attribute {name} of {css}: {e}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The text of the whole page body.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    pub async fn title(&self) -> String {
        self.client.title().await.expect("the page title")
    }

    /// The `id` of the element that has the focus (empty for none, or the body).
    pub async fn focused(&self) -> String {
        let id = self.client.execute("return document.activeElement ? document.activeElement.id : ''", vec![]).await;
        id.expect("the focused element").as_str().unwrap_or_default().to_owned()
    }

    /// Logs in through the login form and waits to leave it.
    pub async fn log_in(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.submit("#login").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.path().await == "/login" {
            assert!(
                Instant::now() < deadline,
                "still on the login page after logging in as {email}: {}",
                self.body().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn screenshot(&self, name: &str) {
        screenshot(&self.client, name).await;
    }

    /// Waits (up to 15 s) until the text of `css` contains `needle`, for what
    /// a page's script changes without loading a new page; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never showed {needle:?}; it shows {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shows the page as it prints (`true`) or on screen again (`false`),
    /// by Chromium's own media emulation: what a person sends to the printer.
    pub async fn emulate_print(&self, print: bool) {
        let media = if print { "print" } else { "" };
        self.client.issue_cmd(EmulateMedia(media)).await.unwrap_or_else(|e| panic!("emulating {media:?} media: {e}"));
    }

    /// Whether the first element matching `css` is laid out and shown (not
    /// `display: none` itself or inside such an element, nor folded away
    /// in a closed `<details>`).
    pub async fn is_displayed(&self, css: &str) -> bool {
        self.client
            .execute(
                "const e = document.querySelector(arguments[0]); \
                 return !!e && e.getClientRects().length > 0 && e.checkVisibility();",
                vec![css.into()],
            )
            .await
            .unwrap_or_else(|e| panic!("reading whether {css} is shown: {e}"))
            .as_bool()
            .unwrap_or(false)
    }

    /// What makes the page unusable for a person, as sentences: a title
    /// without the product name, a page wider than the window (sideways
    /// scrolling at phone width), a form control without a label, a control
    /// that cannot be reached from the keyboard, two buttons that do
    /// different things under one name.
    pub async fn usability_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let title = self.title().await;
        if !title.ends_with(" - Pricegate") || title.trim_end_matches(" - Pricegate").trim().is_empty() {
            problems.push(format!("the title {title:?} does not name the page and the product"));
        }
        let report = self
            .client
            .execute(
                r#"
                const problems = [];
                const width = document.documentElement.clientWidth;
                if (document.documentElement.scrollWidth > width + 1) {
                    const inScroller = e => {
                        for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                            if (getComputedStyle(a).overflowX !== 'visible') return true;
                        }
                        return false;
                    };
                    const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '');
                    const wide = [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > width + 1 && !inScroller(e))
                        .map(name);
                    // Text that does not wrap (a long word) overflows an element of the right width.
                    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                    const range = document.createRange();
                    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
                        range.selectNodeContents(text);
                        const parent = text.parentElement;
                        if (range.getBoundingClientRect().right > width + 1 && parent && !inScroller(text)) {
                            wide.push('the text "' + text.textContent.trim().slice(0, 40) + '" in ' + name(parent));
                        }
                    }
                    problems.push('the page is ' + document.documentElement.scrollWidth + ' px wide in a ' + width + ' px window: ' + wide.slice(0, 5).join(', '));
                }
                const named = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '');
                // A table fits its box, as cards where it must; only the outbox's (wide) may scroll in it.
                for (const wrap of document.querySelectorAll('.table-wrap:not(.wide)')) {
                    const hidden = wrap.scrollWidth - wrap.clientWidth;
                    if (hidden > 1) problems.push('the table ' + named(wrap.querySelector('table') || wrap) + ' hides ' + hidden + ' px in its box');
                }
                // A day or an amount is read on one line, never "2026-12-" / "10" nor "98.00" / "EUR".
                const whole = /(?<![\w:.,-])(?:\d{4}-\d{2}-\d{2}|[+-]?\d{1,3}(?:,\d{3})*(?:\.\d+)? [A-Z]{3})(?![\w-])/g;
                const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                const part = document.createRange();
                for (let text = texts.nextNode(); text; text = texts.nextNode()) {
                    for (const m of text.textContent.matchAll(whole)) {
                        part.setStart(text, m.index);
                        part.setEnd(text, m.index + m[0].length);
                        const lines = new Set([...part.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom)));
                        if (lines.size > 1) problems.push('"' + m[0] + '" is split across lines in ' + named(text.parentElement));
                    }
                }
                // Fields, like buttons, must not sound the same to a screen reader.
                const heard = new Set();
                for (const field of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
                    const named = (field.labels && field.labels.length > 0) || field.getAttribute('aria-label');
                    if (!named) problems.push('the field ' + (field.id || field.name) + ' has no label');
                    const said = (field.getAttribute('aria-label') || (field.labels && field.labels[0] ? field.labels[0].textContent : '')).trim();
                    if (said && heard.has(said)) problems.push('two fields are both labelled "' + said + '"');
                    heard.add(said);
                    if (field.tabIndex < 0) problems.push('the field ' + (field.id || field.name) + ' is out of the tab order');
                }
                for (const control of document.querySelectorAll('a[href], button')) {
                    if (control.tabIndex < 0) problems.push('the control ' + control.textContent.trim() + ' is out of the tab order');
                    if (!control.textContent.trim() && !control.getAttribute('aria-label')) problems.push('a control has no text');
                }
                // Buttons that do different things must not sound the same to a screen reader.
                const seen = new Map();
                for (const button of document.querySelectorAll('button')) {
                    const said = (button.getAttribute('aria-label') || button.textContent).trim();
                    const does = (button.form ? button.form.action : '') + ' ' + (button.name || '') + '=' + (button.value || '');
                    if (seen.has(said) && seen.get(said) !== does) problems.push('two buttons are both called "' + said + '"');
                    seen.set(said, does);
                }
                // HTML allows one autofocus a page: the first refused field.
                const focusing = [...document.querySelectorAll('[autofocus]')].map(e => e.id || e.name);
                if (focusing.length > 1) problems.push('several fields ask for the focus: ' + focusing.join(', '));
                // Past the navigation in one keystroke, to where the page begins.
                if (document.querySelector('nav[aria-label=Main]')) {
                    const skip = document.querySelector("a.skip[href='#main']");
                    const stops = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')];
                    if (!skip || stops[0] !== skip || !document.getElementById('main')) problems.push('the first tab stop does not skip the navigation');
                }
                if (!document.querySelector('h1')) problems.push('the page has no heading');
                return problems;
                "#,
                vec![],
            )
            .await
            .expect("the page's usability check runs");
        problems.extend(report.as_array().into_iter().flatten().filter_map(|p| p.as_str().map(str::to_owned)));
        problems
    }
}

/// Chromium's `Emulation.setEmulatedMedia` through chromedriver's DevTools
/// passthrough: `print` lays the page out by its print stylesheet.
#[derive(Debug)]
struct EmulateMedia(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for EmulateMedia {
    fn endpoint(
        &self,
        base: &reqwest::Url,
        session: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": self.0}});
        (reqwest::Method::POST, Some(body.to_string()))
    }
}
