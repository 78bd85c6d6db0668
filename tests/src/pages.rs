//! The browser pages over plain HTTP, with the session cookie a login sets:
//! for tests that read what a page says without driving a browser.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};

pub fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client")
}

/// The value of cookie `name` among a response's Set-Cookie headers, with the whole header.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, value) = pair.split_once('=')?;
        (k == name).then(|| (value.to_owned(), v.to_owned()))
    })
}

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_in(html: &str) -> String {
    hidden_in(html, "csrf_token")
}

/// The value of the first field `name` in a page, such as the `seen` that
/// a Finalise form carries.
pub fn hidden_in(html: &str, name: &str) -> String {
    let field = format!("name=\"{name}\" value=\"");
    let at = html.find(&field).unwrap_or_else(|| panic!("no {name} field in {html}")) + field.len();
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

pub struct LoginAttempt {
    pub status: StatusCode,
    /// The session cookie's value and its whole `Set-Cookie` header
    /// (`__Host-pricegate_session` at an `https://` address).
    pub session: Option<(String, String)>,
    pub body: String,
}

pub async fn log_in(base: &str, email: &str, password: &str) -> LoginAttempt {
    let http = client();
    let form = http.get(format!("{base}/login")).send().await.expect("GET /login");
    // (`__Host-pricegate_login_csrf` at an `https://` address.)
    let (name, (login_csrf, _)) = ["pricegate_login_csrf", "__Host-pricegate_login_csrf"]
        .into_iter()
        .find_map(|name| Some((name, set_cookie(&form, name)?)))
        .expect("the login form sets its CSRF cookie");
    let r = http
        .post(format!("{base}/login"))
        .header(COOKIE, format!("{name}={login_csrf}"))
        .form(&[("csrf_token", login_csrf.as_str()), ("email", email), ("password", password)])
        .send()
        .await
        .expect("POST /login");
    let status = r.status();
    let session = set_cookie(&r, "pricegate_session").or_else(|| set_cookie(&r, "__Host-pricegate_session"));
    LoginAttempt { status, session, body: r.text().await.unwrap_or_default() }
}

/// A `Cookie` header value for a browser session of `email` (password
/// [`crate::PASSWORD`]), logged in afresh.
pub async fn session_cookie(base: &str, email: &str) -> String {
    let (token, _) = log_in(base, email, crate::PASSWORD).await.session.unwrap_or_else(|| panic!("{email} logs in"));
    format!("pricegate_session={token}")
}

/// Page `path` as `email` (password [`crate::PASSWORD`]) sees it, logged in
/// afresh; asserts that it answers 200 and returns its HTML, with the spans
/// that keep each day and amount of a sentence on one line taken out
/// ([`unwrapped`]): a sentence is asserted as its words.
pub async fn page_as(base: &str, email: &str, path: &str) -> String {
    unwrapped(&markup_as(base, email, path).await)
}

/// [`page_as`], the HTML as served.
pub async fn markup_as(base: &str, email: &str, path: &str) -> String {
    let r = ok_as(base, email, path).await;
    r.text().await.unwrap_or_else(|e| panic!("{path} as {email}: {e}"))
}

/// `html` without the spans the `whole` filter wraps each day and amount of
/// a sentence in on the pages (`<span class="nw">2026-12-10</span>`): what
/// is inside them stays.
pub fn unwrapped(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(NOWRAP) {
        out.push_str(&rest[..at]);
        let inside = &rest[at + NOWRAP.len()..];
        match inside.find("</span>") {
            Some(end) => {
                out.push_str(&inside[..end]);
                rest = &inside[end + "</span>".len()..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

const NOWRAP: &str = "<span class=\"nw\">";

/// `path` as `email` asks for it, logged in afresh, asserting a 200.
async fn ok_as(base: &str, email: &str, path: &str) -> reqwest::Response {
    let r = client()
        .get(format!("{base}{path}"))
        .header(COOKIE, session_cookie(base, email).await)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path} answers: {e}"));
    assert_eq!(r.status(), 200, "{path} as {email}");
    r
}

/// Posts a form as a browser does, with `cookie`, and follows its redirect
/// with the cookies it set (a page's "done" message is one): the status of
/// the post, and the page it leads to (or its own answer, without a redirect).
pub async fn post_form(url: String, cookie: &str, form: &[(&str, String)]) -> (u16, String) {
    let http = client();
    let r = http.post(&url).header(COOKIE, cookie).form(form).send().await.expect("the form is sent");
    let status = r.status().as_u16();
    let Some(location) = r.headers().get(LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned) else {
        return (status, r.text().await.unwrap_or_default());
    };
    let set: Vec<String> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let origin = reqwest::Url::parse(&url).expect("an absolute address").origin().ascii_serialization();
    let cookies = std::iter::once(cookie.to_owned()).chain(set).collect::<Vec<_>>().join("; ");
    let page =
        http.get(format!("{origin}{location}")).header(COOKIE, cookies).send().await.expect("the redirect is followed");
    (status, page.text().await.unwrap_or_default())
}

/// The file name a download at `path` is offered under, as `email` asks for
/// it: what a person finds in their downloads folder.
pub async fn download_name(base: &str, email: &str, path: &str) -> String {
    let names = download_names(base, email, path).await;
    names.utf8.unwrap_or(names.ascii)
}

/// The names a file is offered under: `filename`, and `filename*` decoded
/// where there is one (a name with letters beyond ASCII).
pub struct DownloadNames {
    pub ascii: String,
    pub utf8: Option<String>,
}

/// What `path`'s `Content-Disposition` names the file, as `email` gets it.
pub async fn download_names(base: &str, email: &str, path: &str) -> DownloadNames {
    let r = ok_as(base, email, path).await;
    let disposition = r.headers().get(reqwest::header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok());
    let disposition = disposition.unwrap_or_else(|| panic!("{path} is offered as a file"));
    let mut parts = disposition.split("; ");
    assert_eq!(parts.next(), Some("attachment"), "{path}: {disposition}");
    let ascii = parts.next().and_then(|p| p.strip_prefix("filename=\"")).and_then(|p| p.strip_suffix('"'));
    let ascii = ascii.unwrap_or_else(|| panic!("{path}: {disposition}")).to_owned();
    let utf8 = parts.next().map(|p| {
        let encoded = p.strip_prefix("filename*=UTF-8''").unwrap_or_else(|| panic!("{path}: {disposition}"));
        percent_encoding::percent_decode_str(encoded).decode_utf8().expect("UTF-8").into_owned()
    });
    assert_eq!(parts.next(), None, "{path}: {disposition}");
    DownloadNames { ascii, utf8 }
}
