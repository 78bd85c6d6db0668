//! What the browser pages refuse, checked over plain HTTP with the session
//! cookie: forms without the CSRF token, other roles' pages, logged-out
//! sessions, and a run of wrong passwords. Also the cookie's flags and the
//! pages' security headers.

use pricegate_domain::Role;
use pricegate_tests::fixtures::{create_product, date_in_days, draft_quote, draft_quote_signed_by, id_of};
use pricegate_tests::pages::{LoginAttempt, client, csrf_in, hidden_in, log_in, set_cookie};
use pricegate_tests::{Backend, PASSWORD, TestApp};
use reqwest::header::{ACCEPT, COOKIE, LOCATION, REFERER};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pricegate_tests::both_backends! {
async fn forms_without_the_csrf_token_other_roles_pages_and_logged_out_sessions_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance_api, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await);
    let base = app.base.as_str();
    let http = client();

    // Finance may look at the quote, but finalising and repricing are the
    // salesperson's, here as in the API: one person does not both approve
    // an override and finalise.
    let (finance_token, _) = log_in(base, &fiona.email, PASSWORD).await.session.expect("finance logs in");
    let finance_cookie = format!("pricegate_session={finance_token}");
    let html = http.get(format!("{base}/quotes/{quote}")).header(COOKIE, &finance_cookie).send().await.unwrap();
    let finance_csrf = csrf_in(&html.text().await.unwrap());
    for action in ["finalise", "reprice"] {
        let r = http
            .post(format!("{base}/quotes/{quote}/{action}"))
            .header(COOKIE, &finance_cookie)
            .form(&[("csrf_token", finance_csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "finance may not {action}");
    }
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "draft");

    // The login form itself refuses a post without its token.
    let r = http
        .post(format!("{base}/login"))
        .form(&[("email", sales.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "pricegate_session").is_none());

    let login = log_in(base, &sales.email, PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    let (token, header) = login.session.expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(flag), "the session cookie lacks {flag}: {header}");
    }
    assert!(!header.contains("Secure"), "Secure on a plain-http base URL would lose the cookie: {header}");
    let cookie = format!("pricegate_session={token}");

    let page = http.get(format!("{base}/quotes/{quote}")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "CSP: {csp}");
    assert_eq!(page.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    assert!(page.headers().get("strict-transport-security").is_none(), "HTTPS only, at a plain-http base URL?");
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>") && html.contains("Pricegate</title>"));
    let scripts: Vec<&str> = html.match_indices("<script").map(|(at, _)| &html[at..]).collect();
    assert!(
        scripts.iter().all(|s| s.starts_with("<script src=\"/static/app.js\" defer></script>")),
        "a page's only script is the file that enhances it, never inline: {scripts:?}"
    );
    let csrf = csrf_in(&html);

    // The page for an unknown address has the navigation, so the session's
    // CSRF token: it has every page's headers too.
    let missing = http
        .get(format!("{base}/no/such/page"))
        .header(COOKIE, &cookie)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let header_of = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    };
    assert!(header_of(&missing, "content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header_of(&missing, "cache-control"), "no-store");
    assert_eq!(header_of(&missing, "referrer-policy"), "same-origin");
    assert!(missing.text().await.unwrap().contains(&csrf), "the page is the logged-in one");
    // Nor is an API answer that carries a token kept by a cache.
    let token = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": sales.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(header_of(&token, "cache-control"), "no-store");
    // Nor does any API answer, opened in a browser, run, load or frame anything,
    // or name where it was reached from: the token's, an error's, a timeout's.
    let refused = http.get(format!("{base}/api/v1/quotes")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    for answer in [&token, &refused] {
        assert_eq!(
            header_of(answer, "content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
            "{}",
            answer.url()
        );
        assert_eq!(header_of(answer, "referrer-policy"), "no-referrer", "{}", answer.url());
    }

    // Without the token, and with a wrong one: 403, and the quote is untouched.
    for fields in [vec![], vec![("csrf_token", "forged")]] {
        let r = http
            .post(format!("{base}/quotes/{quote}/finalise"))
            .header(COOKIE, &cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("This form has expired"));
    }
    // With the right token, but sent from another site (a sibling
    // subdomain is one), as the browser says, by either header: 403 too.
    for (name, value) in [("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site"), ("origin", "https://evil.example")] {
        let r = http
            .post(format!("{base}/quotes/{quote}/finalise"))
            .header(COOKIE, &cookie)
            .header(name, value)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(r.text().await.unwrap().contains("This form has expired"), "{name}: {value}");
    }
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "draft");
    let r = http.post(format!("{base}/logout")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "logout without the token");

    // Finance's and admins' pages are 403 pages for sales; no session is a trip to the login.
    for finance_page in ["/notices/new", "/admin/users"] {
        let r = http.get(format!("{base}{finance_page}")).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{finance_page}");
        assert!(r.text().await.unwrap().contains("Not for your role"));
    }
    // The price list is everyone's to read; its forms are finance's alone.
    let r = http.get(format!("{base}/products")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = r.text().await.unwrap();
    assert!(list.contains("id=\"products\"") && !list.contains("method=\"post\" action=\"/products"), "{list}");
    assert!(list.contains("<form method=\"get\" action=\"/products\" role=\"search\""), "a search is everyone's: {list}");
    // No price to come: a phone's stacked row has no empty label for it.
    assert!(!list.contains("data-label=\"Published to come\""), "{list}");
    let r = http.get(format!("{base}/quotes")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/login?next=/quotes"));

    // With the token the same form works; then logging out ends the session.
    let confirmation =
        http.get(format!("{base}/quotes/{quote}/finalise")).header(COOKIE, &cookie).send().await.unwrap();
    let seen = hidden_in(&confirmation.text().await.unwrap(), "seen");
    let r = http
        .post(format!("{base}/quotes/{quote}/finalise"))
        .header(COOKIE, &cookie)
        .form(&[("csrf_token", csrf.as_str()), ("seen", seen.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "finalised");
    let r = http
        .post(format!("{base}/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let to = r.headers().get(LOCATION).and_then(|v| v.to_str().ok());
    assert_eq!((r.status(), to), (StatusCode::SEE_OTHER, Some("/login?ended=out")));
    let left = set_cookie(&r, "pricegate_session").expect("logout replaces the cookie");
    let login = http.get(format!("{base}/login?ended=out")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("id=\"login-note\">You are logged out.</p>"), "{login}");
    assert!(left.0 == "out" && left.1.contains("Max-Age=43200") && left.1.contains("HttpOnly"), "{}", left.1);
    // Another tab of that browser, reloaded, says why it shows a login page;
    // a form sent from it says it was not saved, as for any session ended.
    let out = format!("pricegate_session={}", left.0);
    let r = http.get(format!("{base}/quotes/{quote}")).header(COOKIE, &out).send().await.unwrap();
    let to = format!("/login?next=/quotes/{quote}&ended=out");
    assert_eq!((r.status(), r.headers().get(LOCATION).and_then(|v| v.to_str().ok())), (StatusCode::SEE_OTHER, Some(to.as_str())));
    for (request, to) in [(http.get(format!("{base}/")), "/login?ended=out"), (http.head(format!("{base}/quotes")), "/login?next=/quotes&ended=out")] {
        let r = request.header(COOKIE, &out).send().await.unwrap();
        assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some(to), "the home page and a HEAD say so too");
    }
    let r = http.post(format!("{base}/quotes/{quote}/finalise")).header(COOKIE, &out).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    let to = r.headers().get(LOCATION).and_then(|v| v.to_str().ok());
    assert_eq!(to, Some("/login?ended=form"), "no page it came from is known here");
    let r = http.get(format!("{base}/quotes")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old cookie must no longer log anyone in");
    assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/login?next=/quotes&ended=page"));
    let login = http.get(format!("{base}/login?next=/quotes&ended=page")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Your session has ended: log in again to carry on."), "{login}");

    // A form sent after the session ended leads back to the page it was on,
    // once logged in again, and the login page says it was not saved.
    let form_page = format!("{base}/quotes/{quote}");
    let sent_from = |path: String, referer: String| {
        http.post(format!("{base}{path}"))
            .header(COOKIE, &cookie)
            .header(REFERER, referer)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
    };
    let location = |r: &reqwest::Response| r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let r = sent_from(format!("/quotes/{quote}/reprice"), form_page.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = format!("/login?next=/quotes/{quote}&ended=form");
    assert_eq!(location(&r).as_deref(), Some(to.as_str()));
    let login = http.get(format!("{base}{to}")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("so what you sent was not saved"), "{login}");
    assert!(login.contains(&format!("name=\"next\" value=\"/quotes/{quote}\"")), "{login}");
    // A long form (a new quote's) is kept on the login page instead, and
    // through a wrong password; from this site only, with its page's token.
    let keep = |site: &'static str, token: &'static str| {
        http.post(format!("{base}/quotes/new"))
            .header(COOKIE, &cookie)
            .header("sec-fetch-site", site)
            .form(&[("csrf_token", if token.is_empty() { "" } else { csrf.as_str() }), ("customer_name", "Kept & Co")])
            .send()
    };
    let r = keep("same-origin", "page's").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (login_csrf, _) = set_cookie(&r, "pricegate_login_csrf").expect("the login form's cookie");
    let body = r.text().await.unwrap();
    assert!(body.contains("what you typed is kept on this page"), "{body}");
    assert!(body.contains("name=\"resume\" value=\"/quotes/new\"") && body.contains("name=\"kept.customer_name\" value=\"Kept &#38; Co\""), "{body}");
    let wrong = [
        ("csrf_token", login_csrf.as_str()),
        ("email", sales.email.as_str()),
        ("password", "not the password"),
        ("resume", "/quotes/new"),
        ("kept.customer_name", "Kept & Co"),
        ("kept.csrf_token", csrf.as_str()),
    ];
    let r = http.post(format!("{base}/login")).header(COOKIE, format!("pricegate_login_csrf={login_csrf}")).form(&wrong).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.unwrap();
    assert!(body.contains("do not match") && body.contains("name=\"kept.customer_name\" value=\"Kept &#38; Co\""), "{body}");
    // And through a login page that had expired (its cookie gone after an hour).
    let r = http.post(format!("{base}/login")).form(&wrong).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = r.text().await.unwrap();
    assert!(body.contains("this login page had expired") || body.contains("This login page had expired"), "{body}");
    assert!(body.contains("what you typed is kept on this page") && body.contains("name=\"kept.customer_name\" value=\"Kept &#38; Co\""), "{body}");
    // Another site's post to the login page, carrying a form it made up:
    // nothing of it is kept, for whoever logs in there, nor for whoever is
    // logged in already (a sibling site's post brings the session cookie).
    let live = pricegate_tests::pages::session_cookie(base, &sales.email).await;
    for (site, session) in [("cross-site", ""), ("same-site", ""), ("same-site", live.as_str())] {
        let r = http
            .post(format!("{base}/login"))
            .header("sec-fetch-site", site)
            .header(COOKIE, session)
            .form(&[("email", sales.email.as_str()), ("resume", "/quotes/new"), ("kept.customer_name", "Forged & Co"), ("kept.csrf_token", "x")])
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        assert!(!body.contains("Forged") && !body.contains("Open the form as I typed it"), "{site}: {body}");
        assert!(!body.contains("name=\"resume\""), "{site}: {body}");
    }
    for (site, token) in [("cross-site", "page's"), ("same-origin", "")] {
        let r = keep(site, token).await.unwrap();
        assert_eq!((r.status(), location(&r).as_deref()), (StatusCode::SEE_OTHER, Some("/login?ended=form")), "{site} {token:?}");
    }
    // Another site's page is never where the login leads.
    let r = sent_from(format!("/quotes/{quote}/reprice"), "https://elsewhere.example/quotes/1".into()).await.unwrap();
    assert_eq!(location(&r).as_deref(), Some("/login?ended=form"));
    // Logging out in a window whose session ended elsewhere: logged out, as
    // asked, with nothing said to have been lost.
    let r = sent_from("/logout".into(), form_page.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r).as_deref(), Some("/login?ended=out"));
    // Another site's form to /logout carries no cookie (SameSite=Lax): it
    // clears none, so it logs nobody out.
    let r = http.post(format!("{base}/logout")).form(&[("csrf_token", "whatever")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&r, "pricegate_session").is_none(), "no cookie is cleared");
    app.stop().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_hold_off_the_next_login_with_429() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, sales) = app.user(Role::Sales, "Sam").await;
    for attempt in 1..=5 {
        let r = log_in(&app.base, &sales.email, "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert!(r.body.contains("do not match an active account"), "attempt {attempt}: a clear message");
        assert!(r.body.contains("<title>Error: Log in - Pricegate</title>"), "the tab says so too: {}", r.body);
        assert!(r.body.contains(&sales.email), "the e-mail is kept in the form");
        assert!(r.session.is_none());
    }
    let r = log_in(&app.base, &sales.email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits: {}", r.body);
    assert!(r.body.contains("Too many failed attempts"));
    assert!(r.session.is_none());

    // The person calls an admin, who sets a new password: it works now.
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let r = admin.patch(&format!("/api/v1/users/{}", sales.id), &json!({"password": "a-new-password-42"})).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let r = log_in(&app.base, &sales.email.to_uppercase(), "a-new-password-42").await;
    assert!(r.session.is_some(), "the new password logs in at once: {} {}", r.status, r.body);
    app.stop().await;
}

/// A login form sent with a field left empty is asked for what it lacks, and
/// counts as no attempt: six in a row, for one account, hold it not off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_with_an_empty_field_asks_for_it_and_counts_no_attempt() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, sales) = app.user(Role::Sales, "Sam").await;
    for (email, password, asked) in
        [("", "", "Enter your e-mail address and password."), ("  ", PASSWORD, "Enter your e-mail address as well.")]
    {
        let r = log_in(&app.base, email, password).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{email:?}: {}", r.body);
        assert!(r.body.contains(asked), "{email:?}: {}", r.body);
        assert!(r.session.is_none());
    }
    // Sam's address with no password, more times than the wrong passwords that hold an account off.
    for attempt in 1..=6 {
        let r = log_in(&app.base, &sales.email, "").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}: {}", r.body);
        assert!(r.body.contains("Enter your password as well.") && r.body.contains(&sales.email), "{}", r.body);
    }
    let r = log_in(&app.base, &sales.email, PASSWORD).await;
    assert!(r.session.is_some(), "nobody is held off: {} {}", r.status, r.body);
    app.stop().await;
}

/// A form of more fields than any page sends is refused before it is read
/// field by field: the refusal costs what the body costs to read, however
/// the fields are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_of_more_fields_than_any_page_sends_is_refused_whole() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "PUMP-100", "EUR", 125_000).await;
    let cookie =
        format!("pricegate_session={}", log_in(&app.base, &sales.email, PASSWORD).await.session.expect("a session").0);
    let http = client();
    let (_, html) = page(&http, format!("{}/quotes/new", app.base), &cookie).await;
    let csrf = csrf_in(&html);
    let signer = sales.id.to_string();
    let valid_until = date_in_days(30);
    let mut fields: Vec<(&str, &str)> = vec![
        ("csrf_token", &csrf),
        ("signer_id", &signer),
        ("customer_name", "Greta Berg"),
        ("customer_email", "greta@nordwind.example"),
        ("valid_until", &valid_until),
        ("rows", "205"),
        ("sku_0", "PUMP-100"),
        ("quantity_0", "1"),
    ];
    fields.extend(std::iter::repeat_n(("a", ""), 5_000));
    let (status, _, body) = post_form(&http, format!("{}/quotes/new", app.base), &cookie, &fields).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("This form is too large") && body.contains("nothing was done"), "{body}");
    assert_eq!(sales_api.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(0));
    // A body past the limit, one that is not a form, one that is not text:
    // each refused, saying so, with nothing written.
    let huge = "n".repeat(3 * 1024 * 1024);
    let mut too_long = fields[..8].to_vec();
    too_long.push(("notes", &huge));
    // (On a client of its own: the server answers before reading such a
    // body, and closes that connection.)
    let (status, _, body) = post_form(&client(), format!("{}/quotes/new", app.base), &cookie, &too_long).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("This form is too large") && body.contains("larger than any page here sends"), "{body}");
    let form_as = |content_type: &'static str, body: Vec<u8>| {
        http.post(format!("{}/quotes/new", app.base))
            .header(COOKIE, &cookie)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let as_form: String = fields[..8].iter().map(|(k, v)| format!("{k}={v}&")).collect();
    let r = form_as("multipart/form-data; boundary=x", as_form.clone().into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.text().await.unwrap().contains("This form was not sent as these pages send forms"));
    let not_text = format!("{as_form}customer_company=%FF%FE").into_bytes();
    let r = form_as("application/x-www-form-urlencoded", not_text).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("its characters are not UTF-8"));
    assert_eq!(sales_api.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(0));

    // The same form as a page sends it is taken, as typed: `+` a space, `%2B` a plus, UTF-8 kept.
    let typed = format!("{as_form}customer_company=Nordwind+%2B+S%C3%B6hne");
    let r = form_as("application/x-www-form-urlencoded; charset=UTF-8", typed.into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let quotes = sales_api.get("/api/v1/quotes").await.body;
    assert_eq!(quotes[0]["customer"]["company"], "Nordwind + Söhne", "{quotes}");
    app.stop().await;
}

/// A login page older than the browser's login cookie (left open in a tab,
/// or shown again after a login elsewhere) logs nobody in, and is no dead
/// end: someone logged in meanwhile is taken where the page would have led;
/// anyone else gets the login page again, with the e-mail typed and a token
/// that works. A cookie not of the shape of Pricegate's tokens is never
/// reused, and a login form another site sends logs nobody in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_login_page_logs_nobody_in_and_leads_on() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, sales) = app.user(Role::Sales, "Sam").await;
    let base = app.base.as_str();
    let http = client();
    let post_login = |cookie: String, token: String, password: &'static str, next: &'static str| {
        let (http, email) = (http.clone(), sales.email.clone());
        async move {
            http.post(format!("{base}/login"))
                .header(COOKIE, cookie)
                .form(&[("csrf_token", token.as_str()), ("email", &email), ("password", password), ("next", next)])
                .send()
                .await
                .unwrap()
        }
    };

    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let (login_csrf, _) = set_cookie(&form, "pricegate_login_csrf").unwrap();
    let cookie = format!("pricegate_login_csrf={login_csrf}");
    // A second login page in the same browser keeps the token: both pages work.
    let again = http.get(format!("{base}/login")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(set_cookie(&again, "pricegate_login_csrf").map(|(v, _)| v).as_deref(), Some(login_csrf.as_str()));
    assert_eq!(csrf_in(&again.text().await.unwrap()), login_csrf);

    // An older page's token, even with the right password: not logged in,
    // told why, the e-mail kept, and the page's new token is the cookie's.
    let r = post_login(cookie.clone(), "a token from an older page".into(), PASSWORD, "/notices").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "pricegate_session").is_none(), "nobody is logged in");
    let body = r.text().await.unwrap();
    assert!(body.contains("This login page had expired, so you were not logged in"), "{body}");
    assert!(body.contains(&format!("value=\"{}\"", sales.email)), "the e-mail is kept: {body}");
    assert!(body.contains("name=\"next\" value=\"/notices\""), "{body}");
    assert_eq!(csrf_in(&body), login_csrf);
    let r = post_login(cookie.clone(), login_csrf.clone(), PASSWORD, "/notices").await;
    assert_eq!((r.status(), r.headers()[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/notices"));
    let (session, _) = set_cookie(&r, "pricegate_session").expect("logged in with the page shown again");
    assert_eq!(set_cookie(&r, "pricegate_login_csrf").map(|(v, _)| v).as_deref(), Some(""), "the token is spent");

    // Logged in meanwhile: the older page leads where it would have, and
    // never to another site; a wrong password on it changes nothing.
    let logged_in = format!("pricegate_session={session}");
    for (next, to) in [("/notices", "/notices"), ("//evil.example/", "/")] {
        let r = post_login(logged_in.clone(), "a token from an older page".into(), "not the password", next).await;
        assert_eq!((r.status(), r.headers()[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, to));
        assert!(set_cookie(&r, "pricegate_session").is_none(), "the session is the one there was");
    }
    // Someone else typing into the older page is not led into Sam's session.
    let r = http
        .post(format!("{base}/login"))
        .header(COOKIE, &logged_in)
        .form(&[("csrf_token", "a token from an older page"), ("email", "rita@example.org"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = r.text().await.unwrap();
    assert!(body.contains(&format!("This browser is logged in as Sam ({})", sales.email)), "{body}");
    assert!(body.contains("log out first"), "{body}");

    // A login form another site sends, with a cookie and token that match: nobody is logged in.
    let r = http
        .post(format!("{base}/login"))
        .header(COOKIE, &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", login_csrf.as_str()), ("email", sales.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "pricegate_session").is_none(), "no login from another site");

    // A cookie that is not one of ours is replaced, not echoed.
    let r = post_login("pricegate_login_csrf=<b>x</b>".into(), "a token from an older page".into(), PASSWORD, "").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (fresh, _) = set_cookie(&r, "pricegate_login_csrf").expect("a new login cookie");
    assert_eq!(fresh.len(), 43, "{fresh}");
    assert_eq!(csrf_in(&r.text().await.unwrap()), fresh);
    app.stop().await;
}

/// The API's login and the form count failures together: neither is a way
/// around the other's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_through_the_api_hold_off_both_logins() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, sales) = app.user(Role::Sales, "Sam").await;
    let (_, other) = app.user(Role::Sales, "Sue").await;
    let api = app.anonymous();
    let token = |password: &str| json!({"email": sales.email.to_uppercase(), "password": password});
    for attempt in 1..=5 {
        let r = api.post("/api/v1/auth/token", &token("wrong password")).await;
        assert_eq!(r.status.as_u16(), 401, "attempt {attempt}: {}", r.text);
    }
    let r = api.post("/api/v1/auth/token", &token(PASSWORD)).await;
    assert_eq!(r.status.as_u16(), 429, "even the right password waits: {}", r.text);
    assert_eq!(r.code(), "too_many_attempts");
    let raw = client().post(format!("{}/api/v1/auth/token", app.base)).json(&token(PASSWORD)).send().await.unwrap();
    let retry: u64 = raw.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).expect("Retry-After");
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");

    let form = log_in(&app.base, &sales.email, PASSWORD).await;
    assert_eq!(form.status, StatusCode::TOO_MANY_REQUESTS, "the form counts the API's failures: {}", form.body);
    // Only that e-mail waits.
    let r = api.post("/api/v1/auth/token", &json!({"email": other.email, "password": PASSWORD})).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    app.stop().await;
}

/// A form post to check: its path, its fields, the session it belongs to,
/// and the other role's session and token.
type FormCase<'a> = (String, &'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);

/// A page fetched with a session cookie: status and body.
async fn page(http: &Client, url: String, cookie: &str) -> (StatusCode, String) {
    let r = http.get(url).header(COOKIE, cookie).send().await.expect("GET a page");
    (r.status(), r.text().await.unwrap_or_default())
}

/// A form posted with a session cookie: status, content type and body.
async fn post_form(http: &Client, url: String, cookie: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let r = http.post(url).header(COOKIE, cookie).form(fields).send().await.expect("POST a form");
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (r.status(), kind, r.text().await.unwrap_or_default())
}

pricegate_tests::both_backends! {
async fn the_edit_forms_and_the_notice_preview_refuse_other_roles_and_posts_without_the_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let product = id_of(&create_product(&finance_api, "PUMP-100", "EUR", 125_000).await);
    let quote = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await);
    let notice = pricegate_tests::fixtures::create_notice(&finance_api, "Pump prices", json!([])).await;
    let base = app.base.as_str();
    let http = client();
    let session = |who: LoginAttempt| format!("pricegate_session={}", who.session.expect("a session cookie").0);
    let sam = session(log_in(base, &sales.email, PASSWORD).await);
    let fiona = session(log_in(base, &finance.email, PASSWORD).await);
    let (_, admin) = app.user(Role::Admin, "Ada").await;
    let ada = session(log_in(base, &admin.email, PASSWORD).await);
    let (_, html) = page(&http, format!("{base}/quotes/{quote}"), &sam).await;
    let sam_csrf = csrf_in(&html);
    let (_, html) = page(&http, format!("{base}/products"), &fiona).await;
    let fiona_csrf = csrf_in(&html);

    // Each new page belongs to one role; the other gets the 403 page.
    for (path, owner, other) in [
        (format!("/quotes/{quote}/edit"), &sam, &fiona),
        (format!("/quotes/{quote}/cancel"), &sam, &fiona),
        (format!("/notices/{notice}/edit"), &fiona, &sam),
        (format!("/products/{product}/edit"), &fiona, &sam),
        (format!("/admin/users/{}/deactivate", sales.id), &ada, &fiona),
    ] {
        let (status, body) = page(&http, format!("{base}{path}"), owner).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains(" - Pricegate</title>"), "{path} has a title");
        let (status, body) = page(&http, format!("{base}{path}"), other).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} for the other role");
        assert!(body.contains("Not for your role"), "{path}");
    }

    // Every new form: refused without the token or with another's, and
    // refused to the other role even with a valid token of theirs.
    let quote_form: &[(&str, &str)] = &[
        ("customer_name", "Changed"), ("customer_email", "x@example.com"), ("valid_until", "2099-12-31"),
        ("rows", "1"), ("sku_0", "PUMP-100"), ("quantity_0", "9"),
    ];
    let notice_form: &[(&str, &str)] = &[("title", "Changed"), ("body", "Changed **text**"), ("changes", "")];
    let product_form: &[(&str, &str)] = &[("name", "Changed"), ("unit", "box")];
    // (path, its fields, the session it belongs to, the other role's session and token)
    let new_product: &[(&str, &str)] =
        &[("sku", "SNEAK-1"), ("name", "Sneaked"), ("unit", "each"), ("currency", "EUR"), ("price", "1.00")];
    let import: &[(&str, &str)] = &[("csv", "sku,name,unit,currency,unit_price\nSNEAK-2,Sneaked,each,EUR,1.00"), ("action", "import")];
    let cases: [FormCase; 8] = [
        (format!("/quotes/{quote}/edit"), quote_form, &sam, &fiona, &fiona_csrf),
        (format!("/quotes/{quote}/cancel"), &[], &sam, &fiona, &fiona_csrf),
        (format!("/notices/{notice}/edit"), notice_form, &fiona, &sam, &sam_csrf),
        ("/notices/preview".to_owned(), notice_form, &fiona, &sam, &sam_csrf),
        (format!("/products/{product}/edit"), product_form, &fiona, &sam, &sam_csrf),
        (format!("/products/{product}/sale"), &[("on_sale", "no")], &fiona, &sam, &sam_csrf),
        ("/products".to_owned(), new_product, &fiona, &sam, &sam_csrf),
        ("/products/import".to_owned(), import, &fiona, &sam, &sam_csrf),
    ];
    for (path, fields, owner, other, other_csrf) in &cases {
        let url = format!("{base}{path}");
        for token in [None, Some("forged"), Some(other_csrf)] {
            let mut sent = fields.to_vec();
            sent.extend(token.map(|t| ("csrf_token", t)));
            let (status, _, body) = post_form(&http, url.clone(), owner, &sent).await;
            if path.ends_with("/edit") && !path.starts_with("/products/") && token.is_some() {
                // Long to type, a quote's or a notice's form sent from here
                // with a token not the session's comes back as typed,
                // unsaved, with the session's current token.
                assert_eq!(status, StatusCode::CONFLICT, "{path} with token {token:?}");
                let kept = body.contains("Nothing was saved: this form came from a page opened before you last logged in");
                let current = if path.starts_with("/quotes/") { &sam_csrf } else { &fiona_csrf };
                assert!(kept && body.contains("value=\"Changed\"") && body.contains(current.as_str()), "{body}");
                continue;
            }
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} with token {token:?}");
            assert!(body.contains("This form has expired"), "{path} with token {token:?}: {body}");
        }
        let mut sent = fields.to_vec();
        sent.push(("csrf_token", other_csrf));
        let (status, _, body) = post_form(&http, url, other, &sent).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} by the other role");
        assert!(body.contains("Not for your role"), "{path}: {body}");
    }
    // A new notice's form too: shown again as typed, nothing saved.
    let mut sent = notice_form.to_vec();
    sent.push(("csrf_token", "forged"));
    let (status, _, body) = post_form(&http, format!("{base}/notices/new"), &fiona, &sent).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("Nothing was saved: this form came from") && body.contains("value=\"Changed\"") && body.contains(&fiona_csrf), "{body}");
    // A new quote's form too: shown again as typed, nothing drafted.
    let mut sent = quote_form.to_vec();
    sent.push(("csrf_token", "forged"));
    let (status, _, body) = post_form(&http, format!("{base}/quotes/new"), &sam, &sent).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("Nothing was saved: this form came from") && body.contains("value=\"Changed\""), "{body}");
    // "More lines" saves nothing: with that token it adds the rows, on a page with the current one.
    sent.push(("more_rows", "More lines"));
    let (status, _, body) = post_form(&http, format!("{base}/quotes/new"), &sam, &sent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("name=\"sku_3\"") && body.contains("value=\"Changed\"") && body.contains(&sam_csrf), "{body}");
    sent.pop();
    // From another site (a sibling subdomain is one), a forged form is
    // never turned into one filled in with a current token, ready to save,
    // nor saved even with the session's token.
    for (site, token) in [("cross-site", "forged"), ("same-site", "forged"), ("cross-site", sam_csrf.as_str())] {
        let mut forged = quote_form.to_vec();
        forged.push(("csrf_token", token));
        let r = http
            .post(format!("{base}/quotes/new"))
            .header(COOKIE, &sam)
            .header("sec-fetch-site", site)
            .form(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{site}");
        let body = r.text().await.unwrap_or_default();
        assert!(body.contains("This form has expired") && !body.contains("value=\"Changed\""), "{site}: {body}");
    }
    assert_eq!(sales_api.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(1), "only the first quote");
    let q = sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body;
    assert_eq!((q["state"].as_str(), q["customer"]["name"].as_str()), (Some("draft"), Some("Greta Berg")), "{q}");
    assert_eq!(finance_api.get(&format!("/api/v1/notices/{notice}")).await.body["title"], "Pump prices");
    let products = finance_api.get("/api/v1/products").await.body;
    assert_eq!((&products[0]["name"], &products[0]["withdrawn_at"]), (&json!("Product PUMP-100"), &Value::Null));
    assert_eq!(products.as_array().map(Vec::len), Some(1), "nothing added or imported: {products}");
    // A date in the past is named with the rest, not after they are put right.
    let past: &[(&str, &str)] = &[
        ("customer_name", "Greta Berg"), ("customer_email", "greta@nordwind.example"), ("valid_until", "2020-01-01"),
        ("rows", "1"), ("sku_0", "PUMP-100"), ("quantity_0", "2"), ("discount_0", "abc"), ("csrf_token", &sam_csrf),
    ];
    let (status, _, body) = post_form(&http, format!("{base}/quotes/{quote}/edit"), &sam, past).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("The validity date must be today (")
            && body.contains("Enter a percentage from 0 to 100 with at most two decimals, such as 5 or 12.5."),
        "{body}"
    );
    // So are a product in another currency and one that does not exist,
    // even on a row refused for its quantity too.
    create_product(&finance_api, "HOSE-US", "USD", 1_000).await;
    let lines: &[(&str, &str)] = &[
        ("customer_name", ""), ("customer_email", "greta@nordwind.example"), ("valid_until", "2099-12-31"),
        ("rows", "4"), ("sku_0", "PUMP-100"), ("quantity_0", "2"), ("sku_1", "HOSE-US"), ("quantity_1", "1"),
        ("sku_2", "pump-100"), ("quantity_2", "1"), ("sku_3", "NOPE-1"), ("quantity_3", "0"), ("csrf_token", &sam_csrf),
    ];
    let (status, _, body) = post_form(&http, format!("{base}/quotes/{quote}/edit"), &sam, lines).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("The customer&#39;s name must not be empty")
            && body.contains("HOSE-US is priced in USD, but the quote is in EUR.")
            && body.contains("did you mean PUMP-100?")
            && body.contains("There is no product with the SKU NOPE-1.")
            && body.contains("Enter a whole number from 1 to 1,000,000."),
        "{body}"
    );
    // Above the form, how many: on a long quote, the fields refused may be far down.
    assert!(body.contains("Not saved: 6 fields need changing, each said below where it is."), "{body}");
    // A validity date left empty is missing, not misspelt.
    let empty: &[(&str, &str)] = &[
        ("customer_name", "Greta Berg"), ("customer_email", "greta@nordwind.example"), ("valid_until", ""),
        ("rows", "1"), ("sku_0", "PUMP-100"), ("quantity_0", "2"), ("csrf_token", &sam_csrf),
    ];
    let (status, _, undated) = post_form(&http, format!("{base}/quotes/{quote}/edit"), &sam, empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{undated}");
    assert!(undated.contains("The validity date is missing: pick the last day the quote&#39;s prices hold."), "{undated}");
    assert!(undated.contains("Not saved: 2 fields need changing, each said below where it is."), "no signer either: {undated}");
    // The EUR quote's edit form offers no USD product; a new quote's offers both, and says a quote has one currency.
    let form = http.get(format!("{base}/quotes/{quote}/edit")).header(COOKIE, &sam).send().await.unwrap().text().await.unwrap();
    assert!(!form.contains("<option value=\"HOSE-US\"") && form.contains("<option value=\"PUMP-100\""), "{form}");
    let form = http.get(format!("{base}/quotes/new")).header(COOKIE, &sam).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("<option value=\"HOSE-US\"") && form.contains("A quote is in one currency, its first line"), "{form}");
    // Three refused fields, one focus: the first, the customer's name.
    let focusing: Vec<&str> =
        body.split('<').filter(|tag| tag.contains(" autofocus")).filter_map(|tag| tag.split("id=\"").nth(1)?.split('"').next()).collect();
    assert_eq!(focusing, ["customer_name"], "{body}");
    // Its own role, its own token, two empty fields: both named at once, in words.
    let empty: &[(&str, &str)] = &[("name", " "), ("unit", ""), ("csrf_token", &fiona_csrf)];
    let (status, _, body) = post_form(&http, format!("{base}/products/{product}/edit"), &fiona, empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("id=\"name-error\">The name must not be empty.") && body.contains("id=\"unit-error\">The unit must not be empty."),
        "{body}"
    );
    assert_eq!(finance_api.get("/api/v1/products").await.body[0]["unit"], products[0]["unit"], "nothing saved");

    // The signer of someone else's draft may read it, not edit or cancel it.
    let (_, sue) = app.user(Role::Sales, "Sue").await;
    let signed =
        id_of(&pricegate_tests::fixtures::draft_quote_signed_by(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}]), sue.id).await);
    let sue = session(log_in(base, &sue.email, PASSWORD).await);
    let (status, html) = page(&http, format!("{base}/quotes/{signed}"), &sue).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("id=\"edit-quote\"") && !html.contains("id=\"cancel-quote\""), "no edit or cancel for the signer");
    let sue_csrf = csrf_in(&html);
    for path in [format!("/quotes/{signed}/edit"), format!("/quotes/{signed}/cancel")] {
        let (status, body) = page(&http, format!("{base}{path}"), &sue).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("owner can change it"), "{path}: {body}");
        let mut sent = quote_form.to_vec();
        sent.push(("csrf_token", &sue_csrf));
        let (status, _, body) = post_form(&http, format!("{base}{path}"), &sue, &sent).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("owner can change it"), "{path}: {body}");
    }
    let q = sales_api.get(&format!("/api/v1/quotes/{signed}")).await.body;
    assert_eq!((q["state"].as_str(), q["total_minor"].as_i64()), (Some("draft"), Some(125_000)), "{q}");

    // With the token, the preview is the notice text rendered, raw HTML as text.
    let body = "Prices **rise**.\n\n<script>alert(1)</script><img src=x onerror=alert(2)>";
    let (status, kind, html) =
        post_form(&http, format!("{base}/notices/preview"), &fiona, &[("csrf_token", &fiona_csrf), ("body", body)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains("<strong>rise</strong>"), "{html}");
    assert!(!html.contains("<script") && !html.contains("<img"), "raw HTML must be escaped: {html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");

    // The one script is a file from this server; the notice form loads it,
    // inline script stays forbidden.
    let r = http.get(format!("{base}/notices/{notice}/edit")).header(COOKIE, &fiona).send().await.unwrap();
    let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "CSP: {csp}");
    let html = r.text().await.unwrap();
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 1, "the notice form loads one script");
    assert!(scripts[0].starts_with(" src=\"/static/app.js\" defer></script>"), "no inline script: {}", scripts[0]);
    let js = http.get(format!("{base}/static/app.js")).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    let kind = js.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(kind.starts_with("text/javascript"), "{kind}");
    assert!(js.text().await.unwrap().contains("data-preview-url"));
    // The tabs' icon, linked by every page and asked for by browsers on their own, logged in or not.
    assert!(html.contains("<link rel=\"icon\" href=\"/static/favicon.svg\""), "{html}");
    // As bitmaps too, for browsers that take no SVG (Safari before 26) and phones' home screens.
    assert!(html.contains("<link rel=\"icon\" href=\"/favicon.ico\" sizes=\"32x32\">"), "{html}");
    assert!(html.contains("<link rel=\"apple-touch-icon\" href=\"/apple-touch-icon.png\">"), "{html}");
    let png = |bytes: &[u8], side: u32| {
        bytes.starts_with(b"\x89PNG\r\n\x1a\n")
            && bytes.get(16..24) == Some([side.to_be_bytes(), side.to_be_bytes()].concat().as_slice())
    };
    for (path, kind) in [
        ("/static/favicon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/vnd.microsoft.icon"),
        ("/apple-touch-icon.png", "image/png"),
    ] {
        let icon = client().get(format!("{base}{path}")).send().await.unwrap();
        let served = icon.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!((icon.status(), served.as_str()), (StatusCode::OK, kind), "{path}");
        let bytes = icon.bytes().await.unwrap();
        let drawn = match path {
            "/favicon.ico" => bytes.starts_with(&[0, 0, 1, 0, 1, 0, 32, 32]) && png(&bytes[22..], 32),
            "/apple-touch-icon.png" => png(&bytes, 180),
            _ => bytes.starts_with(b"<svg "),
        };
        assert!(drawn, "{path}: {} bytes", bytes.len());
    }
    app.stop().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_leads_back_to_the_page_asked_for_and_never_to_another_site() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote =
        format!("/quotes/{}", id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await));
    let base = app.base.as_str();
    let http = client();

    let r = http.get(format!("{base}{quote}")).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION], format!("/login?next={quote}").as_str(), "the page asked for is remembered");
    let email = sales.email.clone();
    let log_in_from = |next: String| {
        let (http, email) = (http.clone(), email.clone());
        async move {
            let form = http.get(format!("{base}/login?next={next}")).send().await.unwrap();
            let (login_csrf, _) = set_cookie(&form, "pricegate_login_csrf").unwrap();
            let html = form.text().await.unwrap();
            let r = http
                .post(format!("{base}/login"))
                .header(COOKIE, format!("pricegate_login_csrf={login_csrf}"))
                .form(&[
                    ("csrf_token", login_csrf.as_str()),
                    ("email", email.as_str()),
                    ("password", PASSWORD),
                    ("next", &next),
                ])
                .send()
                .await
                .unwrap();
            (html, r.headers()[LOCATION].to_str().unwrap().to_owned())
        }
    };
    let (html, to) = log_in_from(quote.clone()).await;
    assert!(html.contains(&format!("name=\"next\" value=\"{quote}\"")), "{html}");
    assert_eq!(to, quote);
    for elsewhere in ["//evil.example/quotes", "https://evil.example/", "/quotes/../../x?y=\"z\""] {
        let (_, to) = log_in_from(elsewhere.to_owned()).await;
        assert_eq!(to, "/", "{elsewhere} is not a page of this site to return to");
    }

    // A page with a query (a search, a quote to copy) is remembered whole.
    let asked = "/quotes?search=%C3%B6ko&state=draft";
    let r = http.get(format!("{base}{asked}")).send().await.unwrap();
    let login = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(login, "/login?next=/quotes%3Fsearch%3D%25C3%25B6ko%26state%3Ddraft");
    let form = http.get(format!("{base}{login}")).send().await.unwrap();
    let (login_csrf, _) = set_cookie(&form, "pricegate_login_csrf").unwrap();
    let html = form.text().await.unwrap();
    assert_eq!(hidden_in(&html, "next"), "/quotes?search=%C3%B6ko&#38;state=draft", "{html}");
    let r = http
        .post(format!("{base}/login"))
        .header(COOKIE, format!("pricegate_login_csrf={login_csrf}"))
        .form(&[
            ("csrf_token", login_csrf.as_str()),
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("next", asked),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[LOCATION].to_str().unwrap(), asked, "back to the search");
    // A query it cannot carry back still leads back to the page.
    let r = client().get(format!("{base}/quotes?search=a:b")).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION].to_str().unwrap(), "/login?next=/quotes");
    app.stop().await;
}

/// The two password forms: the CSRF token, the role and a session are each
/// needed; an admin's own password is not set from the users page (nor by
/// the API), and a change on the account page ends the API tokens too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_forms_need_their_token_their_role_and_for_ones_own_the_current_password() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (admin_api, ada) = app.user(Role::Admin, "Ada").await;
    let (sales_api, sam) = app.user(Role::Sales, "Sam").await;
    let base = app.base.as_str();
    let http = client();
    let new = "a much longer passphrase";
    let session_of = |login: LoginAttempt| format!("pricegate_session={}", login.session.expect("logged in").0);
    let sam_cookie = session_of(log_in(base, &sam.email, PASSWORD).await);
    let ada_cookie = session_of(log_in(base, &ada.email, PASSWORD).await);
    let csrf_of = |cookie: String| {
        let http = http.clone();
        async move {
            let page = http.get(format!("{base}/account")).header(COOKIE, cookie).send().await.unwrap();
            csrf_in(&page.text().await.unwrap())
        }
    };
    let (sam_csrf, ada_csrf) = (csrf_of(sam_cookie.clone()).await, csrf_of(ada_cookie.clone()).await);
    let post = |path: String, cookie: Option<String>, fields: Vec<(&'static str, String)>| {
        let http = http.clone();
        async move {
            let mut request = http.post(format!("{base}{path}")).form(&fields);
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let r = request.send().await.unwrap();
            let status = r.status();
            let location = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            (status, location, r.text().await.unwrap_or_default())
        }
    };
    let own = |csrf: &str| {
        vec![
            ("csrf_token", csrf.to_owned()),
            ("current_password", PASSWORD.to_owned()),
            ("new_password", new.to_owned()),
            ("repeat_password", new.to_owned()),
        ]
    };

    // No token, a forged one, no session: nothing changes.
    let (status, _, body) = post("/account/password".into(), Some(sam_cookie.clone()), own("")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("This form has expired"));
    assert!(body.contains("Nothing was done: the form came from a page opened before you last logged in"), "{body}");
    let (status, _, _) = post("/account/password".into(), Some(sam_cookie.clone()), own("forged")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, location, _) = post("/account/password".into(), None, own(&sam_csrf)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/login?ended=form"));
    // Setting someone's password is for admins; an admin's own goes by the account page.
    let set = |csrf: &str| vec![("csrf_token", csrf.to_owned()), ("new_password", new.to_owned())];
    let (status, _, _) =
        post(format!("/admin/users/{}/password", ada.id), Some(sam_cookie.clone()), set(&sam_csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) =
        post(format!("/admin/users/{}/password", ada.id), Some(ada_cookie.clone()), set(&ada_csrf)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("account page"), "{body}");
    let short = vec![("csrf_token", ada_csrf.clone()), ("new_password", "short".to_owned())];
    let (status, _, body) = post(format!("/admin/users/{}/password", sam.id), Some(ada_cookie.clone()), short).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("No new password for Sam") && body.contains("at least"), "the list says why: {body}");
    let field = body.split(&format!("id=\"password-{}\"", sam.id)).nth(1).and_then(|rest| rest.split('>').next());
    assert!(
        field.is_some_and(|f| f.contains("autofocus") && f.contains("aria-invalid")),
        "Sam's field takes the focus: {field:?}"
    );
    // So does any refused change, in the page's words, and it changes nothing.
    let bad = vec![("csrf_token", ada_csrf.clone()), ("role", "boss".to_owned()), ("active", "maybe".to_owned())];
    let (status, _, body) = post(format!("/admin/users/{}", sam.id), Some(ada_cookie.clone()), bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("No change for Sam. The role must be one of sales, finance or admin.")
            && body.contains("An account can only be made active or inactive."),
        "{body}"
    );
    let to_ada = vec![("csrf_token", ada_csrf.clone()), ("to", ada.id.to_string())];
    let (status, _, body) = post(format!("/admin/users/{}/handover", sam.id), Some(ada_cookie.clone()), to_ada).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("No hand-over for Sam. Whoever takes the quotes over must be an active salesperson."),
        "{body}"
    );
    let me = sales_api.get("/api/v1/me").await;
    assert_eq!((me.body["role"].as_str(), me.body["active"].as_bool()), (Some("sales"), Some(true)), "{}", me.text);
    let r = admin_api.patch(&format!("/api/v1/users/{}", ada.id), &json!({"password": new})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "own_password"), "{}", r.text);
    assert_eq!(admin_api.get("/api/v1/me").await.status, 200, "refused, so Ada's token still works");
    assert_eq!(log_in(base, &ada.email, PASSWORD).await.status, StatusCode::SEE_OTHER, "her password is unchanged");
    assert_eq!(log_in(base, &sam.email, PASSWORD).await.status, StatusCode::SEE_OTHER, "and so is Sam's");

    // With the token, the current password and a session, the change is
    // made; Sam's API token ends with his other sessions.
    let (status, location, body) = post("/account/password".into(), Some(sam_cookie.clone()), own(&sam_csrf)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/account"), "{body}");
    assert_eq!(sales_api.get("/api/v1/me").await.status, 401);
    let r = http.get(format!("{base}/quotes")).header(COOKIE, &sam_cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the session that asked was replaced by a new one");
    assert_eq!(log_in(base, &sam.email, new).await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

/// Finalising asks the signer first, and only for a quote the gate lets
/// through; the gate is asked again when the confirmation is sent, so a
/// notice published while it was open holds the quote up all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finalise_confirmation_is_the_signers_and_the_gate_is_asked_again_when_it_is_sent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let (_, other) = app.user(Role::Sales, "Sara").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await);
    let base = app.base.as_str();
    let http = client();
    let session = |who: LoginAttempt| format!("pricegate_session={}", who.session.expect("a session cookie").0);
    let sam = session(log_in(base, &sales.email, PASSWORD).await);
    let sara = session(log_in(base, &other.email, PASSWORD).await);
    let fiona = session(log_in(base, &finance.email, PASSWORD).await);
    let confirm = format!("{base}/quotes/{quote}/finalise");

    // Another salesperson, and finance, are refused it as the finalisation would be.
    for (who, cookie) in [("Sara", &sara), ("Fiona", &fiona)] {
        let (status, body) = page(&http, confirm.clone(), cookie).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    let (status, html) = page(&http, confirm.clone(), &sam).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("2,500.00 EUR") && html.contains("cannot be undone"), "{html}");
    let csrf = csrf_in(&html);
    let seen = hidden_in(&html, "seen");
    let confirmed = [("csrf_token", csrf.as_str()), ("seen", seen.as_str())];

    // A notice published while the confirmation is open: sending it is refused with the notice named.
    let notice = pricegate_tests::fixtures::create_notice(&finance_api, "Pump prices rise", json!([])).await;
    pricegate_tests::fixtures::publish_notice(&finance_api, &notice).await;
    let (status, _, body) = post_form(&http, confirm.clone(), &sam, &confirmed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("Not finalised") && body.contains("Pump prices rise"), "{body}");
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "draft");
    // Nor is it offered again until the notice is acknowledged: the quote's page says why.
    let r = http.get(&confirm).header(COOKIE, &sam).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some(format!("/quotes/{quote}").as_str()));
    let (_, quote_page) = page(&http, format!("{base}/quotes/{quote}"), &sam).await;
    assert!(quote_page.contains("Not ready to finalise: 1 price notice to acknowledge"), "{quote_page}");

    let r = sales_api.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The quote edited while the confirmation is open (here in another
    // tab): the total confirmed is no longer the quote's, so it is refused.
    let r = sales_api
        .patch(&format!("/api/v1/quotes/{quote}"), &json!({"lines": [{"sku": "PUMP-100", "quantity": 3}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, _, body) = post_form(&http, confirm.clone(), &sam, &confirmed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("Not finalised. The quote changed after you opened it"), "{body}");
    assert!(body.contains("3,750.00 EUR"), "the page shows the quote as it is now: {body}");
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "draft");
    // A form that names no quote as shown, or a mangled one, is refused too.
    for seen in [None, Some("not-a-number")] {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(seen.map(|s| ("seen", s)));
        let (status, _, body) = post_form(&http, confirm.clone(), &sam, &form).await;
        assert_eq!(status, StatusCode::CONFLICT, "{seen:?}: {body}");
        assert!(body.contains("Not finalised: the page you sent it from was out of date."), "{seen:?}: {body}");
    }
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "draft");
    // Confirmed again, as it is now, it is finalised.
    let (_, html) = page(&http, confirm.clone(), &sam).await;
    assert!(html.contains("3,750.00 EUR"), "{html}");
    let seen = hidden_in(&html, "seen");
    let confirmed = [("csrf_token", csrf.as_str()), ("seen", seen.as_str())];
    let (status, _, body) = post_form(&http, confirm.clone(), &sam, &confirmed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "finalised");
    // Finalised, the confirmation leads to the quote, which says so; sent
    // again (a second click, or Back), it does too, not to an error.
    let r = http.get(&confirm).header(COOKIE, &sam).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _, body) = post_form(&http, confirm.clone(), &sam, &confirmed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, quote_page) = page(&http, format!("{base}/quotes/{quote}"), &sam).await;
    assert!(quote_page.contains("id=\"finalised\"") && !quote_page.contains("Not finalised"), "{quote_page}");
    let again: Vec<(&str, String)> = confirmed.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let (_, told) = pricegate_tests::pages::post_form(confirm.clone(), &sam, &again).await;
    assert!(told.contains("Finalised already, ") && told.contains("nothing more was done"), "{told}");
    // Cancelled by its owner while its signer confirms: not finalised, and the page says so.
    let sara_signs = draft_quote_signed_by(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}]), other.id).await;
    let sara_signs = id_of(&sara_signs);
    let sara_confirms = format!("{base}/quotes/{sara_signs}/finalise");
    let (_, html) = page(&http, sara_confirms.clone(), &sara).await;
    let form = [("csrf_token", csrf_in(&html)), ("seen", hidden_in(&html, "seen"))];
    assert_eq!(sales_api.post_empty(&format!("/api/v1/quotes/{sara_signs}/cancel")).await.status, 200);
    let (status, told) = pricegate_tests::pages::post_form(sara_confirms, &sara, &form).await;
    assert_eq!(status, 303, "{told}");
    assert!(told.contains("Not finalised: the quote was cancelled "), "{told}");
    // A form's address opened in the browser (a refused form's page
    // reloaded, a tab reopened) leads to the quote too, not to an error.
    for form in [
        "acknowledge",
        "reprice",
        "override",
        "approval-request",
        "approval-request/decline",
        "approval-request/remind",
    ] {
        let r = http.get(format!("{base}/quotes/{quote}/{form}")).header(COOKIE, &sam).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{form}");
        assert_eq!(r.headers()["location"], format!("/quotes/{quote}").as_str(), "{form}");
    }
    // By the reference the e-mails print, too: the confirmations, and the forms' addresses.
    let reference = quote.replace('-', "")[..8].to_owned();
    for (path, to) in [
        (format!("/quotes/{reference}/finalise"), format!("/quotes/{quote}/finalise")),
        (format!("/quotes/{reference}/cancel"), format!("/quotes/{quote}/cancel")),
        (format!("/quotes/{reference}/reprice"), format!("/quotes/{reference}")),
    ] {
        let r = http.get(format!("{base}{path}")).header(COOKIE, &sam).send().await.unwrap();
        assert_eq!(
            (r.status(), r.headers()["location"].to_str().unwrap()),
            (StatusCode::SEE_OTHER, to.as_str()),
            "{path}"
        );
    }

    // Another signer named while the confirmation is open: its sender is
    // told who signs now, on the quote's page.
    let second = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}])).await);
    let confirm = format!("{base}/quotes/{second}/finalise");
    let (_, html) = page(&http, confirm.clone(), &sam).await;
    let form = [("csrf_token", csrf.as_str()), ("seen", &hidden_in(&html, "seen"))];
    let r = sales_api.patch(&format!("/api/v1/quotes/{second}"), &json!({"signer_id": other.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, _, body) = post_form(&http, confirm, &sam, &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("Not finalised: Sara signs this quote now, so only they can finalise it."), "{body}");
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{second}")).await.body["state"], "draft");
    app.stop().await;
}

pricegate_tests::both_backends! {
/// The acknowledge button on a quote's page posts to that quote's address:
/// one that is not the sender's to see, or does not exist, is refused
/// before anything is recorded, and the denial is audited with its reason,
/// as a refused page form always is.
async fn acknowledging_from_someone_elses_quote_page_records_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sam) = app.user(Role::Sales, "Sam").await;
    let (_, rita) = app.user(Role::Sales, "Rita").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await);
    let rita_signs =
        id_of(&draft_quote_signed_by(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}]), rita.id).await);
    let notice = pricegate_tests::fixtures::create_notice(&finance_api, "Pump prices", json!([])).await;
    pricegate_tests::fixtures::publish_notice(&finance_api, &notice).await;
    let (base, http) = (app.base.as_str(), client());
    let (token, _) = log_in(base, &rita.email, PASSWORD).await.session.expect("Rita logs in");
    let cookie = format!("pricegate_session={token}");
    let (_, html) = page(&http, format!("{base}/quotes"), &cookie).await;
    let csrf = csrf_in(&html);

    let form = [("csrf_token", csrf.as_str()), ("notice_id", notice.as_str())];
    let (status, _, body) = post_form(&http, format!("{base}/quotes/{quote}/acknowledge"), &cookie, &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // As a page opened while she signed it would be answered, once its owner named another signer.
    assert!(
        body.contains("Nothing was recorded: this quote is not one you own or sign now (its owner may have named \
                       another signer, or an admin handed it over). Acknowledging from its page would free nothing")
            && body.contains(&format!("<a href=\"/notices/{notice}\" id=\"next\">Open the notice</a>")),
        "{body}"
    );
    let finalise = [("csrf_token", csrf.as_str()), ("seen", "1")];
    let (status, _, body) = post_form(&http, format!("{base}/quotes/{quote}/finalise"), &cookie, &finalise).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("Not finalised: this quote is not one you own or sign now"), "{body}");
    let nowhere = uuid::Uuid::new_v4();
    let (status, _, _) = post_form(&http, format!("{base}/quotes/{nowhere}/acknowledge"), &cookie, &form).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Sam owns a draft Rita signs: he sees it, but his acknowledgement
    // would not free it, so its page records none.
    let (token, _) = log_in(base, &sam.email, PASSWORD).await.session.expect("Sam logs in");
    let sam_cookie = format!("pricegate_session={token}");
    let (_, html) = page(&http, format!("{base}/quotes/{rita_signs}"), &sam_cookie).await;
    assert!(html.contains("Pump prices"), "the notice holds it up: {html}");
    assert!(!html.contains("/acknowledge\""), "Sam is offered no acknowledge button: {html}");
    let sam_form = [("csrf_token", csrf_in(&html)), ("notice_id", notice.clone())];
    let sam_form: Vec<(&str, &str)> = sam_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ack_rita_signs = format!("{base}/quotes/{rita_signs}/acknowledge");
    let (status, _, body) = post_form(&http, ack_rita_signs.clone(), &sam_cookie, &sam_form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("Only the quote&#39;s signer acknowledges notices from its page"), "{body}");
    let acks = finance_api.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
    assert_eq!(acks["acknowledged"], json!([]), "nothing recorded: {acks}");

    // The audit says which rule refused it; a forged form says so too.
    let (status, _, _) =
        post_form(&http, format!("{base}/quotes/{quote}/acknowledge"), &cookie, &[("csrf_token", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, admin) = app.user(Role::Admin, "Ada").await;
    let audit = app.login(&admin.email, PASSWORD).await.get("/api/v1/audit?limit=1000").await.body;
    let denied = audit.as_array().into_iter().flatten().filter(|r| r["action"] == "access.denied");
    let mut codes: Vec<&str> = denied.filter_map(|r| r["detail"]["code"].as_str()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["invalid_csrf_token", "not_signer", "not_your_quote", "not_your_quote"], "{audit}");

    // Rita, its signer, acknowledges from the same page.
    let (status, _, body) = post_form(&http, ack_rita_signs, &cookie, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let acks = finance_api.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
    assert_eq!(acks["acknowledged"][0]["user"]["email"], rita.email.as_str(), "{acks}");
}
}

/// A form sent twice, or without what it must name, is told so: a draft
/// deleted already, an acknowledgement that names no notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_sent_twice_or_naming_nothing_says_so() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let (base, http) = (app.base.as_str(), client());
    let draft = pricegate_tests::fixtures::create_notice(&finance_api, "Abandoned idea", json!([])).await;
    let (token, _) = log_in(base, &finance.email, PASSWORD).await.session.expect("Fiona logs in");
    let cookie = format!("pricegate_session={token}");
    let (_, html) = page(&http, format!("{base}/notices/{draft}/delete"), &cookie).await;
    let form = [("csrf_token", csrf_in(&html)), ("seen", hidden_in(&html, "seen"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut told = Vec::new();
    for _ in 0..2 {
        let r = http
            .post(format!("{base}/notices/{draft}/delete"))
            .header(COOKIE, &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some("/notices"));
        let (done, _) = set_cookie(&r, "pricegate_notice_done").expect("the list is told what happened");
        let (_, html) =
            page(&http, format!("{base}/notices"), &format!("{cookie}; pricegate_notice_done={done}")).await;
        told.push(
            html.split("id=\"message\"").nth(1).and_then(|m| m.split("</").next()).unwrap_or_default().to_owned(),
        );
    }
    assert!(told[0].ends_with("The draft is deleted."), "{told:?}");
    assert!(
        told[1].ends_with("That draft is gone already: deleted before (perhaps by this same form, sent twice)."),
        "{told:?}"
    );

    // An acknowledgement from a quote's page that names no notice records nothing.
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}])).await);
    let (token, _) = log_in(base, &sales.email, PASSWORD).await.session.expect("Sam logs in");
    let cookie = format!("pricegate_session={token}");
    let (_, html) = page(&http, format!("{base}/quotes/{quote}"), &cookie).await;
    for notice_id in ["", "not-an-id"] {
        let form = [("csrf_token", csrf_in(&html).as_str().to_owned()), ("notice_id", notice_id.to_owned())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = post_form(&http, format!("{base}/quotes/{quote}/acknowledge"), &cookie, &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("The form did not say which notice to acknowledge: nothing was recorded."), "{body}");
    }
    app.stop().await;
}

pricegate_tests::both_backends! {
/// A new quote's or draft notice's form sent twice (a double click, a
/// browser's retry), one after the other or both at once, saves once; the
/// second sending leads to what the first saved, and says so.
async fn a_new_quote_or_notice_sent_twice_is_saved_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let (base, http) = (app.base.as_str(), client());
    let cookie = |email: String| async move {
        let (token, _) = log_in(base, &email, PASSWORD).await.session.expect("logged in");
        format!("pricegate_session={token}")
    };
    let (sam, fiona) = (cookie(sales.email.clone()).await, cookie(finance.email.clone()).await);
    let send = |path: &'static str, cookie: &str, form: &[(String, String)]| {
        http.post(format!("{base}{path}")).header(COOKIE, cookie).form(form).send()
    };

    let (_, html) = page(&http, format!("{base}/quotes/new"), &sam).await;
    let quote_form: Vec<(String, String)> = [
        ("csrf_token", csrf_in(&html)),
        ("draft_id", hidden_in(&html, "draft_id")),
        ("rows", "1".into()),
        ("signer_id", sales.id.to_string()),
        ("customer_name", "Greta Berg".into()),
        ("customer_email", "greta@nordwind.example".into()),
        ("valid_until", date_in_days(30)),
        ("sku_0", "PUMP-100".into()),
        ("quantity_0", "2".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // Both at once: one drafts, the other finds it drafted.
    let (a, b) = tokio::join!(send("/quotes/new", &sam, &quote_form), send("/quotes/new", &sam, &quote_form));
    let (a, b) = (a.unwrap(), b.unwrap());
    let quotes = sales_api.get("/api/v1/quotes").await.body;
    assert_eq!(quotes.as_array().map(Vec::len), Some(1), "drafted once: {quotes}");
    let id = quotes[0]["id"].as_str().unwrap().to_owned();
    let mut said = Vec::new();
    for r in [a, b] {
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some(format!("/quotes/{id}").as_str()));
        let (done, _) = set_cookie(&r, "pricegate_quote_done").expect("the quote page is told");
        let (_, html) = page(&http, format!("{base}/quotes/{id}"), &format!("{sam}; pricegate_quote_done={done}")).await;
        said.push(html.split("id=\"done\"").nth(1).and_then(|m| m.split("</").next()).unwrap_or_default().to_owned());
    }
    said.sort();
    assert!(said[0].contains("Quote drafted "), "{said:?}");
    assert!(said[1].contains("The form was sent twice: the quote was drafted once, "), "{said:?}");
    // And again later (Back, then Save): still one.
    let r = send("/quotes/new", &sam, &quote_form).await.unwrap();
    assert_eq!(r.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some(format!("/quotes/{id}").as_str()));
    assert_eq!(sales_api.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(1));
    // Changed, then sent again (Back, then Save): nothing more is drafted,
    // and what was typed is kept with a new key, to draft another from it.
    let mut changed = quote_form.clone();
    changed[4].1 = "Hans Lund".into();
    let r = send("/quotes/new", &sam, &changed).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("This form drafted a quote already, for Greta Berg (reference {})", &id.replace('-', "")[..8]))
            && html.contains("value=\"Hans Lund\""),
        "{html}"
    );
    assert_ne!(hidden_in(&html, "draft_id"), quote_form[1].1, "a new key");
    assert_eq!(sales_api.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(1));
    // A new form is a new quote; an id not of the sender's forms is not taken over.
    let (_, html) = page(&http, format!("{base}/quotes/new"), &sam).await;
    let mut again = quote_form.clone();
    again[1].1 = hidden_in(&html, "draft_id");
    assert_ne!(again[1].1, quote_form[1].1, "each form its own id");
    assert_eq!(send("/quotes/new", &sam, &again).await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(sales_api.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(2));
    let (_, rita) = app.user(Role::Sales, "Rita").await;
    let rita_cookie = cookie(rita.email.clone()).await;
    let (_, html) = page(&http, format!("{base}/quotes/new"), &rita_cookie).await;
    let mut hers = quote_form.clone();
    hers[0].1 = csrf_in(&html);
    hers[3].1 = rita.id.to_string();
    let r = send("/quotes/new", &rita_cookie, &hers).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_ne!(r.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some(format!("/quotes/{id}").as_str()));
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{id}")).await.body["owner_id"], sales.id.to_string(), "Sam's still");

    // A draft notice, likewise.
    let (_, html) = page(&http, format!("{base}/notices/new"), &fiona).await;
    let notice_form: Vec<(String, String)> = [
        ("csrf_token", csrf_in(&html)),
        ("draft_id", hidden_in(&html, "draft_id")),
        ("title", "Hose prices".into()),
        ("body", "From Monday.".into()),
        ("changes", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let (a, b) = tokio::join!(send("/notices/new", &fiona, &notice_form), send("/notices/new", &fiona, &notice_form));
    let drafts = finance_api.get("/api/v1/notices?state=draft").await.body;
    assert_eq!(drafts.as_array().map(Vec::len), Some(1), "saved once: {drafts}");
    let publish = format!("/notices/{}/publish", drafts[0]["id"].as_str().unwrap());
    for r in [a.unwrap(), b.unwrap()] {
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some(publish.as_str()));
    }
    // Changed and sent again: another draft only when saved again; deleted
    // since, and sent again: it is not brought back under its old id.
    let mut changed = notice_form.clone();
    changed[2].1 = "Hose prices, corrected".into();
    let r = send("/notices/new", &fiona, &changed).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("This form saved a draft already (\u{201c}Hose prices\u{201d})") && html.contains("Hose prices, corrected"), "{html}");
    let draft = drafts[0]["id"].as_str().unwrap();
    assert!(html.contains(&format!("<a href=\"/notices/{draft}/edit\" id=\"saved-draft\">Open the draft saved already</a>")), "{html}");
    assert_eq!(finance_api.delete(&format!("/api/v1/notices/{draft}")).await.status, 204);
    let r = send("/notices/new", &fiona, &notice_form).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("This form saved a draft already, and it has since been deleted: nothing was saved."));
    assert_eq!(finance_api.get("/api/v1/notices?state=draft").await.body, json!([]));
    app.stop().await;
}
}

/// The form key's race on PostgreSQL, forced: another transaction has
/// written the row a form makes and not yet committed while the form is
/// saved. The save waits on that row; once it commits, the save is told the
/// quote is drafted already (its unique violation read as such), and nothing
/// else is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_saved_while_its_quote_is_being_drafted_waits_and_is_told_so() {
    use pricegate_domain::{Currency, CustomerEmail, DiscountBp, Quantity, Sku, Text};
    use pricegate_store::entity::quotes;
    use pricegate_store::{Actor, DRAFTED_ALREADY, NewLine, NewQuote, StoreError, form_row_id};
    use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};

    let app = TestApp::spawn(Backend::Postgres).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let key = uuid::Uuid::new_v4();
    let id = form_row_id(sales.id, Some(key));
    let valid_until = app.store.today().await.expect("today") + chrono::Days::new(30);
    let now = chrono::Utc::now();

    let first = app.store.connection().begin().await.expect("a transaction");
    let row = quotes::ActiveModel {
        id: Set(id),
        owner_id: Set(sales.id),
        signer_id: Set(sales.id),
        customer_name: Set("Greta Berg".into()),
        customer_email: Set("greta@nordwind.example".into()),
        customer_company: Set(String::new()),
        customer_search: Set(pricegate_migration::customer_search("Greta Berg", "", "greta@nordwind.example")),
        currency: Set("EUR".into()),
        valid_until: Set(valid_until),
        notes: Set(String::new()),
        state: Set("draft".into()),
        drafted_at: Set(now),
        updated_at: Set(now),
        finalised_at: Set(None),
        cancelled_at: Set(None),
    };
    quotes::Entity::insert(row).exec_without_returning(&first).await.expect("the first sending's row");

    let new = NewQuote {
        form_key: Some(key),
        customer_name: Text::parse("name", "Greta Berg", 200).unwrap(),
        customer_email: CustomerEmail::parse("greta@nordwind.example").unwrap(),
        customer_company: Text::parse_optional("company", "", 200).unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        valid_until,
        notes: Text::parse_multiline_optional("notes", "", 10).unwrap(),
        signer_id: None,
        lines: vec![NewLine {
            sku: Sku::parse("PUMP-100").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
            discount: DiscountBp::parse(0).unwrap(),
        }],
        copied_from: None,
    };
    let (store, actor) = (app.store.clone(), Actor { id: sales.id, role: Role::Sales });
    let second = tokio::spawn(async move { store.create_quote(&actor, new).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second sending waits on the first's row");
    first.commit().await.expect("the first sending commits");
    let saved = tokio::time::timeout(std::time::Duration::from_secs(10), second)
        .await
        .expect("the second sending goes on once the first commits")
        .expect("it did not panic");
    assert!(matches!(saved, Err(StoreError::Conflict { code: DRAFTED_ALREADY, .. })), "{saved:?}");
    let quotes = sales_api.get("/api/v1/quotes").await.body;
    assert_eq!(quotes.as_array().map(Vec::len), Some(1), "{quotes}");
    assert!(quotes[0]["lines"].as_array().is_some_and(Vec::is_empty), "only the first sending's row: {quotes}");
    app.stop().await;
}

/// Served at an https:// address (behind a proxy that ends TLS), browsers
/// are told to come back by HTTPS only, and the session cookie is `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_an_https_address_the_browser_is_kept_to_https() {
    let mut app = TestApp::spawn_with(Backend::Sqlite, |s| s.base_url = Some("https://pricegate.example".into())).await;
    assert_eq!(app.base, "https://pricegate.example");
    // The tests reach it as the proxy would, by plain HTTP on loopback.
    app.base = format!("http://{}", app.address);
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    for path in ["/login", "/api/v1/products", "/healthz", "/no-such-page"] {
        let r = client().get(format!("{}{path}", app.base)).send().await.unwrap();
        let hsts = r.headers().get("strict-transport-security").and_then(|v| v.to_str().ok());
        assert_eq!(hsts, Some("max-age=31536000"), "{path}");
    }
    let login = log_in(&app.base, &sam.email, PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    let (token, header) = login.session.expect("a session cookie");
    assert!(header.contains("Secure"), "{header}");
    // Named so that a browser keeps it only from this host, over HTTPS,
    // for the whole site: no neighbouring subdomain can plant one.
    assert!(header.starts_with("__Host-pricegate_session=") && header.contains("Path=/;"), "{header}");
    assert!(!header.to_ascii_lowercase().contains("domain="), "{header}");
    let quotes = |cookie: String| client().get(format!("{}/quotes", app.base)).header(COOKIE, cookie).send();
    assert_eq!(quotes(format!("__Host-pricegate_session={token}")).await.unwrap().status(), StatusCode::OK);
    let plain = quotes(format!("pricegate_session={token}")).await.unwrap();
    assert_eq!(plain.status(), StatusCode::SEE_OTHER, "a cookie without the prefix is no session here");
    // So is the login form's token: a login token planted under the plain name logs nobody in.
    let form = client().get(format!("{}/login", app.base)).send().await.unwrap();
    let (_, header) = set_cookie(&form, "__Host-pricegate_login_csrf").expect("the login form's cookie");
    assert!(header.contains("Path=/;") && header.contains("Secure") && !header.contains("Domain"), "{header}");
    let planted = client()
        .post(format!("{}/login", app.base))
        .header(COOKIE, "pricegate_login_csrf=planted")
        .form(&[("csrf_token", "planted"), ("email", sam.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&planted, "__Host-pricegate_session").is_none(), "a planted token logs nobody in");
    assert_eq!(planted.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// A validity date more than five years ahead (2062 typed for 2026) is
/// asked about before a quote keeps its prices until then: the form comes
/// back saying so, and saving it again keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validity_far_ahead_is_asked_about_before_it_is_kept() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 100_000).await;
    let login = log_in(&app.base, &sam.email, PASSWORD).await;
    let cookie = format!("pricegate_session={}", login.session.expect("a session cookie").0);
    let http = client();
    let (_, html) = page(&http, format!("{}/quotes/new", app.base), &cookie).await;
    let far = (chrono::Utc::now().date_naive() + chrono::Months::new(12 * 36)).to_string();
    let form = |html: &str, valid_until: &str| -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = [
            ("csrf_token", csrf_in(html)),
            ("draft_id", hidden_in(html, "draft_id")),
            ("rows", "1".into()),
            ("signer_id", sam.id.to_string()),
            ("customer_name", "Greta Berg".into()),
            ("customer_email", "greta@nordwind.example".into()),
            ("valid_until", valid_until.into()),
            ("sku_0", "PUMP-100".into()),
            ("quantity_0", "2".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if html.contains("name=\"confirm_valid_until\"") {
            fields.push(("confirm_valid_until".into(), hidden_in(html, "confirm_valid_until")));
        }
        fields
    };
    let post = |fields: Vec<(String, String)>| {
        let (http, cookie, url) = (http.clone(), cookie.clone(), format!("{}/quotes/new", app.base));
        async move { http.post(url).header(COOKIE, cookie).form(&fields).send().await.unwrap() }
    };
    // "More lines" with the date typed: the page asks nothing yet, so confirms nothing.
    let mut more = form(&html, &far);
    more.push(("more_rows".into(), "More lines".into()));
    let more = post(more).await.text().await.unwrap();
    assert!(more.contains(&format!("value=\"{far}\"")) && !more.contains("confirm_valid_until"), "{more}");
    let r = post(form(&more, &far)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let asked = r.text().await.unwrap();
    assert!(
        asked.contains(&format!("The validity date is {far}, 36 years from today: the quote keeps its prices until then. If that is the date you mean, save again"))
            && asked.contains(&format!("value=\"{far}\"")),
        "{asked}"
    );
    assert!(
        asked.contains("Not saved yet: the validity date below is far ahead.") && !asked.contains("needs changing"),
        "{asked}"
    );
    assert_eq!(sam_api.get("/api/v1/quotes").await.body, json!([]), "nothing drafted yet");
    // Corrected to another far date: asked again about that one.
    let other_far = (chrono::Utc::now().date_naive() + chrono::Months::new(12 * 20)).to_string();
    let r = post(form(&asked, &other_far)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let asked_again = r.text().await.unwrap();
    assert!(asked_again.contains("20 years from today"), "{asked_again}");
    // Saved again as it stands: kept.
    let r = post(form(&asked_again, &other_far)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    let quotes = sam_api.get("/api/v1/quotes").await.body;
    assert_eq!(quotes[0]["valid_until"], json!(other_far), "{quotes}");
    // Five years ahead is not asked about.
    let (_, html) = page(&http, format!("{}/quotes/new", app.base), &cookie).await;
    let five = (chrono::Utc::now().date_naive() + chrono::Months::new(60)).to_string();
    let r = post(form(&html, &five)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

pricegate_tests::both_backends! {
/// A signer with several notices pending reads them on the quote's page and
/// acknowledges them together: exactly those the page showed, all of them
/// or (should one be refused) none; a notice published after the page was
/// opened still waits.
async fn the_signer_acknowledges_every_notice_the_quote_page_showed_at_once(backend: Backend) {
    use pricegate_tests::fixtures::{create_notice, publish_notice};
    let app = TestApp::spawn(backend).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sam) = app.user(Role::Sales, "Sam").await;
    let (_, rita) = app.user(Role::Sales, "Rita").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote_signed_by(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}]), sam.id).await);
    let rita_signs =
        id_of(&draft_quote_signed_by(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}]), rita.id).await);
    let mut shown = Vec::new();
    for title in ["Pumps in January", "Seals in January", "Freight from March"] {
        let notice = create_notice(&finance_api, title, json!([])).await;
        publish_notice(&finance_api, &notice).await;
        shown.push(notice);
    }
    let (base, http) = (app.base.as_str(), client());
    let (token, _) = log_in(base, &sam.email, PASSWORD).await.session.expect("Sam logs in");
    let cookie = format!("pricegate_session={token}");
    let (_, html) = page(&http, format!("{base}/quotes/{quote}"), &cookie).await;
    assert!(html.contains("Acknowledge all 3 notices"), "{html}");
    let ids = hidden_in(&html, "notice_ids");
    let mut listed: Vec<&str> = ids.split(',').collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = shown.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "the notices the page shows");
    let (_, rita_html) = page(&http, format!("{base}/quotes/{rita_signs}"), &cookie).await;
    assert!(!rita_html.contains("acknowledge-all"), "only the signer is offered it");

    // Published while Sam reads: not among those he acknowledges.
    let later = create_notice(&finance_api, "Valves from April", json!([])).await;
    publish_notice(&finance_api, &later).await;
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", ids.clone())];
    let url = format!("{base}/quotes/{quote}/acknowledge");
    let (status, after) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert_eq!(status, 303, "{after}");
    assert!(after.contains("Acknowledged the 3 notices."), "{after}");
    assert!(after.contains("Valves from April") && !after.contains("acknowledge-all"), "one still waits: {after}");
    for (notice, acknowledged) in shown.iter().map(|n| (n, true)).chain([(&later, false)]) {
        let acks = finance_api.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
        let by_sam = acks["acknowledged"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["user"]["email"] == sam.email.as_str() && a["channel"] == "web");
        assert_eq!(by_sam, acknowledged, "{notice}: {acks}");
    }
    let (_, again) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert!(again.contains("Acknowledged already: nothing more was recorded."), "{again}");

    // One that cannot be acknowledged (a draft, unknown to sales) records none.
    let draft = create_notice(&finance_api, "Not yet", json!([])).await;
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", format!("{later},{draft}"))];
    let (status, body) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert_eq!(status, 404, "{body}");
    let acks = finance_api.get(&format!("/api/v1/notices/{later}/acknowledgements")).await.body;
    assert_eq!(acks["acknowledged"], json!([]), "nothing recorded: {acks}");
    let refused = finance_api.get("/api/v1/audit?action=notice.acknowledge_refused").await;
    assert_eq!(refused.body.as_array().map(Vec::len), Some(1), "one refusal: {}", refused.text);
    assert_eq!(
        (&refused.body[0]["subject_id"], &refused.body[0]["actor_id"]),
        (&json!(draft), &json!(sam.id)),
        "the refusal names the notice refused: {}",
        refused.text
    );
    for garbage in ["x,y", ",", &format!("{later},")] {
        let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", garbage.to_owned())];
        let (status, body) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
        assert_eq!(status, 422, "{garbage}: {body}");
        assert!(body.contains("The form did not say which notice to acknowledge"), "{body}");
    }
    let acks = finance_api.get(&format!("/api/v1/notices/{later}/acknowledgements")).await.body;
    assert_eq!(acks["acknowledged"], json!([]), "{acks}");

    // With more pending than one form names, the first of them, then the rest.
    for i in 0..200 {
        let notice = create_notice(&finance_api, &format!("Bulletin {i:03}"), json!([])).await;
        publish_notice(&finance_api, &notice).await;
    }
    let (_, html) = page(&http, format!("{base}/quotes/{quote}"), &cookie).await;
    assert!(html.contains("Acknowledge the first 200 notices"), "{html}");
    assert_eq!(hidden_in(&html, "notice_ids").split(',').count(), 200);
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", hidden_in(&html, "notice_ids"))];
    let (_, after) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert!(after.contains("Acknowledged the 200 notices.") && after.contains("Bulletin 199"), "{after}");
    assert!(!after.contains("acknowledge-all"), "one left: {after}");

    // Named again with one new (and twice over), only that one is new, and the page says so.
    let mixed = create_notice(&finance_api, "Mixed", json!([])).await;
    publish_notice(&finance_api, &mixed).await;
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", format!("{},{mixed},{mixed}", shown[0]))];
    let (_, after) = pricegate_tests::pages::post_form(url, &cookie, &form).await;
    assert!(after.contains("Acknowledged 1 of the 2 notices; the other was acknowledged already."), "{after}");
}
}

/// A salesperson back from leave reads every notice awaiting them on one
/// page, oldest first with their price changes, and acknowledges exactly
/// those together; only salespeople are asked to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesperson_reads_every_notice_awaiting_them_on_one_page_and_acknowledges_them_together() {
    use pricegate_tests::fixtures::{create_notice, publish_notice};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, fiona) = app.user(Role::Finance, "Fiona").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let titles = ["Pumps in January", "Seals in January", "Freight from March"];
    let mut shown = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        let changes = match i {
            0 => json!([{"sku": "PUMP-100", "unit_price_minor": 135_000, "effective_on": date_in_days(20)}]),
            1 => json!([{"sku": "PUMP-100", "unit_price_minor": 130_000, "effective_on": date_in_days(10)}]),
            _ => json!([]),
        };
        let notice = create_notice(&finance_api, title, changes).await;
        publish_notice(&finance_api, &notice).await;
        shown.push(notice);
    }
    let (base, http) = (app.base.as_str(), client());
    let (token, _) = log_in(base, &sam.email, PASSWORD).await.session.expect("Sam logs in");
    let cookie = format!("pricegate_session={token}");
    let (_, list) = page(&http, format!("{base}/notices?show=awaiting"), &cookie).await;
    assert!(list.contains("Read the 3 notices to acknowledge on one page"), "{list}");
    let (status, html) = page(&http, format!("{base}/notices/awaiting"), &cookie).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let at: Vec<usize> = titles.iter().map(|t| html.find(t).unwrap_or_else(|| panic!("{t}: {html}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "oldest first: {at:?}");
    assert!(html.contains("1,300.00 EUR") && html.contains("Price changes"), "with their prices: {html}");
    assert!(html.contains("1,250.00 EUR") && html.contains("+50.00 EUR"), "from what, and by how much: {html}");
    // Each from the price before it as of its own publication: the first
    // notice's earlier price is not the second's, published after it.
    let article = |n: usize| {
        let from = html.split(&format!("id=\"notice-{}\"", shown[n])).nth(1).unwrap_or_default();
        from.split("<article").next().unwrap_or_default().to_owned()
    };
    let (first, second) = (article(0), article(1));
    assert!(first.contains("1,250.00 EUR") && first.contains("1,350.00 EUR"), "{first}");
    assert!(!first.contains("1,300.00 EUR"), "{first}");
    assert!(second.contains("1,250.00 EUR") && second.contains("1,300.00 EUR"), "{second}");
    assert!(html.contains("I have read these 3 notices"), "{html}");

    // Published while Sam reads: not among those he acknowledges.
    let later = create_notice(&finance_api, "Valves from April", json!([])).await;
    publish_notice(&finance_api, &later).await;
    let url = format!("{base}/notices/awaiting");
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", hidden_in(&html, "notice_ids"))];
    let (status, after) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert_eq!(status, 303, "{after}");
    assert!(after.contains("Acknowledged the 3 notices."), "{after}");
    assert!(after.contains("Valves from April") && !after.contains("read-awaiting"), "one still waits: {after}");
    // And the way back to the drafts they held up.
    let back = "<a href=\"/quotes\" id=\"back-to-quotes\">Your quotes</a> show which drafts are now ready to finalise.";
    assert!(after.contains(back), "{after}");
    for (notice, acknowledged) in shown.iter().map(|n| (n, true)).chain([(&later, false)]) {
        let acks = finance_api.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
        let by_sam =
            acks["acknowledged"].as_array().into_iter().flatten().any(|a| a["user"]["email"] == sam.email.as_str());
        assert_eq!(by_sam, acknowledged, "{notice}: {acks}");
    }
    // One left: the page speaks of it alone.
    let (_, one) = page(&http, url.clone(), &cookie).await;
    assert!(
        one.contains(
            "It is recorded as acknowledged by you now; a notice published since this page was opened is not."
        ) && one.contains("I have read this notice"),
        "{one}"
    );
    // Sent again: nothing new, and nothing freed.
    let (_, again) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert!(again.contains("Acknowledged already: nothing more was recorded.") && !again.contains(back), "{again}");
    let empty = vec![("csrf_token", csrf_in(&html)), ("notice_ids", String::new())];
    let (status, body) = pricegate_tests::pages::post_form(url.clone(), &cookie, &empty).await;
    assert_eq!(status, 422, "{body}");

    // More than a page acknowledges at once: the oldest first, the rest after.
    let mut newer = Vec::new();
    for i in 0..200 {
        let notice = create_notice(&finance_api, &format!("Bulletin {i:03}"), json!([])).await;
        publish_notice(&finance_api, &notice).await;
        newer.push(notice);
    }
    let (_, list) = page(&http, format!("{base}/notices?show=awaiting"), &cookie).await;
    assert!(list.contains("Read the 200 oldest of the 201 notices to acknowledge on one page"), "{list}");
    let (_, html) = page(&http, url.clone(), &cookie).await;
    assert!(html.contains("The 200 oldest of the 201 notices you have yet to acknowledge"), "{html}");
    assert!(html.contains("Valves from April") && html.contains("Bulletin 198"), "{html}");
    assert!(!html.contains("Bulletin 199"), "the newest waits for the next page");
    let too_many = (0..201).map(|_| uuid::Uuid::new_v4().to_string()).collect::<Vec<_>>().join(",");
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", too_many)];
    let (status, body) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("One form acknowledges at most 200 notices"), "{body}");
    let form = vec![("csrf_token", csrf_in(&html)), ("notice_ids", hidden_in(&html, "notice_ids"))];
    let (_, after) = pricegate_tests::pages::post_form(url.clone(), &cookie, &form).await;
    assert!(after.contains("Acknowledged the 200 notices."), "{after}");
    let (_, html) = page(&http, url.clone(), &cookie).await;
    assert!(html.contains("The notice you have yet to acknowledge.") && html.contains("Bulletin 199"), "{html}");

    // Finance and admins are asked to acknowledge nothing.
    let (token, _) = log_in(base, &fiona.email, PASSWORD).await.session.expect("Fiona logs in");
    let fiona_cookie = format!("pricegate_session={token}");
    let (status, _) = page(&http, url.clone(), &fiona_cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, notices) = page(&http, format!("{base}/notices"), &fiona_cookie).await;
    let form = vec![("csrf_token", csrf_in(&notices)), ("notice_ids", later.clone())];
    let (status, _) = pricegate_tests::pages::post_form(url, &fiona_cookie, &form).await;
    assert_eq!(status, 403);
    app.stop().await;
}
