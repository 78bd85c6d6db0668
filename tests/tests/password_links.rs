//! Choosing a password from an e-mailed link: asked for at the login page by
//! someone who forgot theirs, or sent by an administrator (a new account's
//! invitation). Through a real SMTP server, followed with an HTTP client as
//! a person's browser (or a mail scanner) would.

use std::time::Duration;

use pricegate_domain::Role;
use pricegate_store::entity::{outbox, password_links};
use pricegate_tests::fixtures::{assert_error, create_product, date_in_days, publish_price_change};
use pricegate_tests::pages::{client, csrf_in, log_in, post_form, session_cookie, set_cookie};
use pricegate_tests::smtp::{SmtpSink, spawn_with_mail};
use pricegate_tests::{PASSWORD, Session, TestApp, both_backends};
use reqwest::header::{COOKIE, LOCATION};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const NEW_PASSWORD: &str = "a brand new passphrase";

/// Sends the login page's "Forgot your password?" form for `email`, as a
/// browser does: the form's page first, for its token and cookie.
async fn ask_for_link(base: &str, email: &str) -> (u16, String) {
    let http = client();
    let form = http.get(format!("{base}/login/forgot")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let (cookie, _) = set_cookie(&form, "pricegate_login_csrf").expect("the form sets its CSRF cookie");
    let html = form.text().await.unwrap();
    assert_eq!(csrf_in(&html), cookie, "the form carries the cookie's token");
    let r = http
        .post(format!("{base}/login/forgot"))
        .header(COOKIE, format!("pricegate_login_csrf={cookie}"))
        .form(&[("csrf_token", cookie.as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts the link's form; returns the status, the session cookie set, where
/// it leads, and the page.
async fn choose(link: &str, new: &str, repeat: &str, site: &str) -> (u16, Option<String>, Option<String>, String) {
    let r = client()
        .post(link)
        .header("sec-fetch-site", site)
        .form(&[("new_password", new), ("repeat_password", repeat)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let session = set_cookie(&r, "pricegate_session").map(|(value, _)| value);
    let location = r.headers().get(LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
    // Logged in: the page it leads to, as the browser then shows it (with what it is told once).
    if let (Some(session), Some(to)) = (&session, &location) {
        let told =
            set_cookie(&r, "pricegate_account_done").map(|(value, _)| format!("; pricegate_account_done={value}"));
        let origin = reqwest::Url::parse(link).unwrap().origin().ascii_serialization();
        let cookies = format!("pricegate_session={session}{}", told.unwrap_or_default());
        let page = client().get(format!("{origin}{to}")).header(COOKIE, cookies).send().await.unwrap();
        return (status, Some(session.clone()), location, page.text().await.unwrap());
    }
    (status, session, location, r.text().await.unwrap())
}

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Marks outbox row `id` failed, as the worker does after its last try.
async fn failed(app: &TestApp, id: uuid::Uuid) {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::State, Expr::value("failed"))
        .filter(outbox::Column::Id.eq(id))
        .exec(app.store.connection())
        .await
        .unwrap();
}

/// The e-mails of `kind` queued for `user`, to whichever address.
async fn mail_of_kind(app: &TestApp, kind: &str, user: &str) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::Kind.eq(kind))
        .filter(outbox::Column::UserId.eq(uuid::Uuid::parse_str(user).unwrap()))
        .all(app.store.connection())
        .await
        .unwrap()
}

async fn outbox_rows(app: &TestApp, kind: &str) -> u64 {
    outbox::Entity::find().filter(outbox::Column::Kind.eq(kind)).count(app.store.connection()).await.unwrap()
}

async fn audited(admin: &Session, action: &str) -> usize {
    admin.get(&format!("/api/v1/audit?action={action}")).await.body.as_array().map_or(0, Vec::len)
}

both_backends! {
    /// One client asking for links for account after account: the first
    /// fifty are mailed, the rest answered as ever and mailed nothing, so
    /// that nobody can have every account mailed again and again. Asking
    /// for addresses with no account, or for one mailed moments ago, counts
    /// nothing; logging in from there is not held off by it.
    async fn one_client_asking_for_many_accounts_links_is_mailed_fifty(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (_, first) = app.user(Role::Sales, "First").await;
        let mut people = vec![first.email.clone()];
        for n in 1..53 {
            let email = format!("person.{n}@pricegate.test");
            let new = pricegate_store::NewUser {
                email: pricegate_domain::Email::parse(&email).unwrap(),
                name: pricegate_domain::Text::parse("name", &format!("Person {n}"), 200).unwrap(),
                role: Role::Sales,
                password: Some(pricegate_domain::Password::parse(PASSWORD).unwrap()),
            };
            app.store.create_user(None, new).await.unwrap();
            people.push(email);
        }
        // Neither counts: no account, and one just mailed.
        for typed in ["nobody.1@pricegate.test", "nobody.2@pricegate.test", &people[0], &people[0]] {
            assert_eq!(ask_for_link(&app.base, typed).await.0, 200);
        }
        sink.wait_until(WAIT, "the first e-mail", |m| !m.is_empty()).await;
        for person in &people[1..] {
            let (status, page) = ask_for_link(&app.base, person).await;
            assert_eq!(status, 200, "{page}");
            assert!(page.contains("is on its way to it."), "the same answer: {page}");
        }
        sink.wait_until(WAIT, "fifty e-mails", |m| m.len() >= 50).await;
        // The page answers before the request is looked at: long enough for anything more.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(outbox_rows(&app, "password_reset").await, 50);
        // (Each request is looked at once answered, so not always in the order sent.)
        let mut mailed: Vec<String> = sink.messages().iter().flat_map(|m| m.to.clone()).collect();
        mailed.sort();
        mailed.dedup();
        assert_eq!(mailed.len(), 50, "fifty people, once each: {mailed:?}");
        assert_eq!(sink.messages().len(), 50);
        assert_eq!(log_in(&app.base, &people[52], PASSWORD).await.status, 303);
    }
}

both_backends! {
    async fn a_forgotten_password_is_chosen_again_from_the_e_mailed_link(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
        let old_session = session_cookie(&app.base, &sam.email).await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;

        // The login page leads there.
        let (_, login) = get(&format!("{}/login", app.base)).await;
        assert!(login.contains("href=\"/login/forgot\""), "{login}");

        // What is typed wrong is said; nothing is sent.
        for (typed, says) in [("", "Enter the e-mail address"), ("sam at work", "This is not an e-mail address")] {
            let (status, page) = ask_for_link(&app.base, typed).await;
            assert_eq!(status, 422, "{page}");
            assert!(page.contains(says), "{page}");
        }
        // A form without its cookie's token (another site's, or a stale page) sends nothing.
        let r = client().post(format!("{}/login/forgot", app.base)).form(&[("csrf_token", "forged"), ("email", sam.email.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("This page had expired, so nothing was sent"));
        assert_eq!(outbox_rows(&app, "password_reset").await, 0);
        // An address with no account is answered as one with an account is.
        let (status, unknown) = ask_for_link(&app.base, "nobody@pricegate.test").await;
        assert_eq!(status, 200, "{unknown}");
        assert!(unknown.contains("If nobody@pricegate.test is the address of an active Pricegate account, a link"), "{unknown}");
        // Sam asks, spelling his address in capitals; then again, at once.
        for _ in 0..2 {
            let (status, page) = ask_for_link(&app.base, &sam.email.to_uppercase()).await;
            assert_eq!(status, 200, "{page}");
            assert!(page.contains("is on its way to it. The link works once, for 1 hour after"), "{page}");
            assert!(page.contains("One was sent in the last 5 minutes? Then none is sent again yet: use that one."), "{page}");
        }
        // The page answers before the request is looked at: wait for the
        // e-mail, then long enough for the worker to send anything more.
        sink.wait_until(WAIT, "Sam's e-mail", |m| !m.is_empty()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(outbox_rows(&app, "password_reset").await, 1, "one e-mail, however often it is asked for");
        let mails = sink.messages();
        assert_eq!(mails.len(), 1, "none for the address with no account");
        let mail = &mails[0];
        assert_eq!(mail.to, vec![sam.email.clone()]);
        assert_eq!(mail.header("subject").as_deref(), Some("Choose a new Pricegate password"));
        let text = mail.text();
        assert!(text.contains("for 1 hour after this e-mail was sent") && text.contains("If you did not ask, do nothing"), "{text}");
        let link = mail.link("/password/").expect("a link in the text part");
        assert!(link.starts_with(&format!("{}/password/", app.base)) && mail.html().contains(&link), "{link}");
        assert_eq!(audited(&admin, "user.password_reset_requested").await, 1);

        // Opening it (a mail scanner, or Sam) changes nothing.
        for _ in 0..2 {
            let (status, page) = get(&link).await;
            assert_eq!(status, 200, "{page}");
            assert!(page.contains("Choose a new password") && page.contains(&sam.email) && page.contains("<form method=\"post\""), "{page}");
        }
        assert_eq!(log_in(&app.base, &sam.email, PASSWORD).await.status, 303, "the old password still works");

        // What is refused changes nothing either.
        let (status, _, _, page) = choose(&link, NEW_PASSWORD, "another passphrase", "same-origin").await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("The two new passwords differ"), "{page}");
        // Said at the top too, and in the title a screen reader reads first.
        assert!(page.contains("<title>Error: Choose a new password - Pricegate</title>"), "{page}");
        assert!(page.contains("Password not set: one field needs changing"), "{page}");
        let (status, _, _, page) = choose(&link, "short", "short", "same-origin").await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("at least 10 characters"), "{page}");
        // His own address with a little added: the form again, saying why, and the link still works.
        let own = format!("{}!1", sam.email.to_uppercase());
        let (status, session, _, page) = choose(&link, &own, &own, "same-origin").await;
        assert_eq!((status, session), (422, None), "{page}");
        assert!(page.contains("The new password is built on the account&#39;s name or e-mail address"), "{page}");
        assert!(page.contains("<form method=\"post\""), "{page}");
        let (status, session, _, page) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "cross-site").await;
        assert_eq!((status, session), (403, None), "another site's form logs nobody in: {page}");
        assert_eq!(log_in(&app.base, &sam.email, PASSWORD).await.status, 303);

        // Chosen: this browser is logged in as Sam, everywhere else is logged out.
        let (status, session, location, page) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
        assert_eq!((status, location.as_deref()), (303, Some("/account")));
        assert!(page.contains("Your password is changed. Every other browser"), "{page}");
        let session = session.expect("a session for this browser");
        let r = client().get(format!("{}/account", app.base)).header(COOKIE, format!("pricegate_session={session}")).send().await.unwrap();
        assert!(r.text().await.unwrap().contains(&sam.email));
        let r = client().get(format!("{}/quotes", app.base)).header(COOKIE, &old_session).send().await.unwrap();
        assert_eq!(r.status(), 303, "the session from before is over");
        assert_eq!(sam_api.get("/api/v1/me").await.status, 401, "and the API token");
        assert_eq!(log_in(&app.base, &sam.email, PASSWORD).await.status, 401, "the old password is no more");
        assert_eq!(log_in(&app.base, &sam.email, NEW_PASSWORD).await.status, 303);
        assert_eq!(log_in(&app.base, &rita.email, PASSWORD).await.status, 303, "nobody else's changed");
        assert_eq!(audited(&admin, "user.password_set_by_link").await, 1);
        let detail = &admin.get("/api/v1/audit?action=user.password_set_by_link").await.body[0]["detail"];
        assert_eq!((&detail["purpose"], &detail["first_password"]), (&json!("reset"), &json!(false)), "{detail}");
        // Sam is told, at his address, how it was changed.
        let mails = sink.wait_until(WAIT, "Sam's second e-mail", |m| m.len() == 2).await;
        assert_eq!(mails[1].header("subject").as_deref(), Some("Your Pricegate password was changed"));
        let text = mails[1].text();
        assert!(text.contains(", with a link to choose a password that was e-mailed to this address. Every other session"), "{text}");
        assert!(text.contains("If it was not, someone else could read a link sent to your e-mail, and could read the next one: tell your administrator now, then ask for a new password on this page"), "{text}");

        // Once only; and links that never were.
        let (status, page) = get(&link).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("This link no longer works"), "{page}");
        let (status, _, _, page) = choose(&link, "yet another passphrase", "yet another passphrase", "same-origin").await;
        assert_eq!(status, 410, "{page}");
        assert_eq!(log_in(&app.base, &sam.email, NEW_PASSWORD).await.status, 303);
        for bad in ["x", &"A".repeat(43), "a%2F..%2Flogin", &"é".repeat(43), "%FF"] {
            let (status, page) = get(&format!("{}/password/{bad}", app.base)).await;
            assert_eq!(status, 404, "{bad}: {page}");
        }
        app.stop().await;
    }
}

both_backends! {
    async fn an_admin_invites_a_new_colleague_who_chooses_their_own_password(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (sales, sam) = app.user(Role::Sales, "Sam").await;
        let cookie = session_cookie(&app.base, &ada.email).await;
        let http = client();
        let users_page = || async {
            let r = http.get(format!("{}/admin/users", app.base)).header(COOKIE, &cookie).send().await.unwrap();
            r.text().await.unwrap()
        };
        let html = users_page().await;
        assert!(html.contains("Leave it empty to e-mail them a link to choose their own (it works for 7 days)."), "{html}");
        assert!(!html.contains("id=\"mail-warning\""), "mail goes through SMTP here: {html}");
        assert!(html.contains("<a href=\"#new-user\" id=\"to-new-user\">Add a user</a>") && html.contains("<h2 id=\"new-user\">"), "{html}");

        // Created without a password, on the page.
        let form = [("csrf_token", csrf_in(&html)), ("name", "Nina Neu".into()), ("email", "nina@pricegate.test".into()), ("role", "sales".into()), ("password", String::new())];
        let (status, html) = post_form(format!("{}/admin/users", app.base), &cookie, &form).await;
        assert_eq!(status, 303);
        assert!(html.contains("Created Nina Neu (nina@pricegate.test, sales). They are e-mailed a link to choose their password"), "{html}");
        let mails = sink.wait_until(WAIT, "Nina's invitation", |m| !m.is_empty()).await;
        let invitation = &mails[0];
        assert_eq!(invitation.header("subject").as_deref(), Some("Your Pricegate account: choose your password"));
        let text = invitation.text();
        assert!(
            text.contains(&format!(
                "{} has made you a Pricegate account (nina@pricegate.test), to work as a salesperson: you draft \
                 quotes, and sign them once you have read the price notices that concern them. Choose your password \
                 here:",
                ada.name
            )),
            "{text}"
        );
        assert!(text.contains("for 7 days after this e-mail was sent") && !text.contains("If you did not ask"), "{text}");
        assert!(!text.contains("logs you out everywhere else"), "she is logged in nowhere: {text}");
        let link = invitation.link("/password/").expect("a link");

        // The users page says she has yet to choose one, and invites her again.
        let nina_id = admin.get("/api/v1/users").await.body.as_array().unwrap().iter().find(|u| u["email"] == "nina@pricegate.test").unwrap()["id"].as_str().unwrap().to_owned();
        // No password opens her account meanwhile; the log says why a try failed.
        let r = Session::new(&app.base, None).post("/api/v1/auth/token", &json!({"email": "nina@pricegate.test", "password": PASSWORD})).await;
        assert_error(&r, 401, "invalid_credentials");
        let tried = &admin.get("/api/v1/audit?action=auth.login_failed").await.body[0];
        assert_eq!((&tried["subject_id"], &tried["detail"]["reason"]), (&json!(nina_id), &json!("no_password_yet")), "{tried}");
        let html = users_page().await;
        let invited = html.split(&format!("id=\"invited-{nina_id}\">")).nth(1).and_then(|p| p.split("</p>").next()).unwrap_or_else(|| panic!("{html}"));
        assert!(invited.starts_with("Invited ") && invited.ends_with(": has not chosen a password yet."), "{invited}");
        assert!(html.contains(&format!("id=\"password-link-{nina_id}\" aria-label=\"E-mail the invitation again to Nina Neu (nina@pricegate.test)\">E-mail the invitation again</button>")), "{html}");
        assert!(!html.contains(&format!("id=\"invited-{}\"", sam.id)), "Sam has his password");
        // Its name holds the words it shows, for whoever speaks to their browser.
        // With the address: two people may share a name.
        assert!(html.contains(&format!("id=\"password-link-{}\" aria-label=\"E-mail a link instead to Sam ({}), to choose a password\">E-mail a link instead</button>", sam.id, sam.email)), "{html}");
        let (status, html) = post_form(format!("{}/admin/users/{nina_id}/password-link", app.base), &cookie, &[("csrf_token", csrf_in(&html))]).await;
        assert_eq!(status, 303);
        assert!(html.contains("Nina Neu is e-mailed the invitation again, at nina@pricegate.test"), "{html}");
        let mails = sink.wait_until(WAIT, "Nina's second invitation", |m| m.len() >= 2).await;
        assert_eq!(mails[1].header("subject").as_deref(), Some("Your Pricegate account: choose your password"));
        let text = mails[1].text();
        assert!(text.contains("has made you a Pricegate account") && !text.contains("current password"), "no password of hers keeps working: {text}");

        let (status, page) = get(&link).await;
        assert_eq!(status, 200);
        assert!(page.contains("Choose your password") && page.contains("Nina Neu"), "{page}");
        let (status, session, location, welcome) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
        assert_eq!((status, location.as_deref()), (303, Some("/account")), "a first password is welcomed");
        assert!(welcome.contains("Your password is set, and you are logged in.") && !welcome.contains("logged out"), "{welcome}");
        assert!(!welcome.contains("Waiting for you already"), "nothing waits for her: {welcome}");
        // On record as her first password: an invitation taken up, not a lost password replaced.
        let detail = &admin.get("/api/v1/audit?action=user.password_set_by_link").await.body[0]["detail"];
        assert_eq!((&detail["purpose"], &detail["first_password"]), (&json!("invitation"), &json!(true)), "{detail}");
        // Told once; and a link cannot make the page say it.
        for path in ["/account", "/account?welcome", "/account?changed"] {
            let r = client().get(format!("{}{path}", app.base)).header(COOKIE, format!("pricegate_session={}", session.clone().unwrap())).send().await.unwrap();
            let page = r.text().await.unwrap();
            assert!(page.contains("Your account") && !page.contains("id=\"message\""), "{path}: {page}");
        }
        let r = client().get(format!("{}/quotes", app.base)).header(COOKIE, format!("pricegate_session={}", session.unwrap())).send().await.unwrap();
        assert_eq!(r.status(), 200, "Nina is at work");
        let html = users_page().await;
        assert!(!html.contains(&format!("id=\"invited-{nina_id}\"")) && !html.contains("E-mail the invitation again"), "{html}");

        // Sent to someone already here, by the button in their row: their
        // password stays until they use it, and a password set meanwhile
        // (by the admin) ends the link.
        let html = users_page().await;
        let (status, html) = post_form(format!("{}/admin/users/{nina_id}/password-link", app.base), &cookie, &[("csrf_token", csrf_in(&html))]).await;
        assert_eq!(status, 303);
        assert!(html.contains("Nina Neu is e-mailed a link to choose a new password, at nina@pricegate.test"), "{html}");
        let mails = sink.wait_until(WAIT, "the link to choose a new one", |m| m.len() >= 3).await;
        assert_eq!(mails[2].header("subject").as_deref(), Some("Choose a new Pricegate password"));
        let second = mails[2].link("/password/").unwrap();
        assert!(mails[2].text().contains("Your current password keeps working until you choose a new one."), "{}", mails[2].text());
        assert_eq!(log_in(&app.base, "nina@pricegate.test", NEW_PASSWORD).await.status, 303, "still her password");
        let r = admin.patch(&format!("/api/v1/users/{nina_id}"), &json!({"password": "set by the admin"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mails = sink.wait_until(WAIT, "Nina told of it", |m| m.len() >= 4).await;
        assert_eq!(mails[3].header("subject").as_deref(), Some("Your Pricegate password was changed"));
        assert_eq!(get(&second).await.0, 410, "a password set since ends the link");
        let (status, _, _, page) = choose(&second, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
        assert_eq!(status, 410, "{page}");
        assert_eq!(audited(&admin, "user.password_link_refused").await, 1, "a refused use of a real link is on record");
        assert_error(&admin.post(&format!("/api/v1/users/{}/password-link", ada.id), &json!({})).await, 409, "own_password");

        // By the API; a link that has run out; a deactivated account.
        let r = admin.post(&format!("/api/v1/users/{nina_id}/password-link"), &json!({})).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["to"], "nina@pricegate.test");
        let mails = sink.wait_until(WAIT, "the third link", |m| m.len() >= 5).await;
        let third = mails[4].link("/password/").unwrap();
        password_links::Entity::update_many()
            .col_expr(password_links::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)))
            .filter(password_links::Column::UsedAt.is_null())
            .exec(app.store.connection())
            .await
            .unwrap();
        let (status, page) = get(&third).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("This link has expired"), "{page}");
        assert_error(&sales.post(&format!("/api/v1/users/{nina_id}/password-link"), &json!({})).await, 403, "forbidden");
        let r = admin.patch(&format!("/api/v1/users/{nina_id}"), &json!({"active": false})).await;
        assert_eq!(r.status, 200);
        assert_error(&admin.post(&format!("/api/v1/users/{nina_id}/password-link"), &json!({})).await, 409, "user_inactive");
        let (status, page) = get(&second).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("This account is no longer active") && !page.contains("Forgot your password"), "asking for a new link would get her nothing: {page}");
        let html = users_page().await;
        let (status, html) = post_form(format!("{}/admin/users/{nina_id}/password-link", app.base), &cookie, &[("csrf_token", csrf_in(&html))]).await;
        assert_eq!(status, 422);
        assert!(html.contains("reactivate it first"), "{html}");

        // Only an admin's form, with its session's token, sends one.
        let sam_cookie = session_cookie(&app.base, &sam.email).await;
        let sam_csrf = csrf_in(&client().get(format!("{}/quotes", app.base)).header(COOKIE, &sam_cookie).send().await.unwrap().text().await.unwrap());
        let url = format!("{}/admin/users/{}/password-link", app.base, ada.id);
        for (cookie, token, status) in [(&cookie, "forged", 403), (&cookie, "", 403), (&sam_cookie, sam_csrf.as_str(), 403)] {
            let r = client().post(&url).header(COOKIE, cookie.as_str()).form(&[("csrf_token", token)]).send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "token {token:?}");
        }
        assert_eq!(outbox_rows(&app, "invitation").await, 4, "nothing more was queued");

        // The API creates an account without a password the same way: here
        // at a mistyped address, while the SMTP server is down, corrected
        // before it goes. That invitation is set aside, and a new one goes
        // to the corrected address in its place, itself set aside once
        // overtaken by a password the admin sets; a link sent after goes to
        // the corrected address.
        sink.stop();
        let r = admin.post("/api/v1/users", &json!({"email": "otto@pricegate.exmaple", "name": "Otto", "role": "finance"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let otto = r.body["id"].as_str().unwrap().to_owned();
        let r = admin.patch(&format!("/api/v1/users/{otto}"), &json!({"email": "otto@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let row = |html: String| html.split(&format!("id=\"invited-{otto}\">")).nth(1).and_then(|r| r.split("</p>").next()).map(str::to_owned);
        let said = row(users_page().await).expect("Otto is invited");
        assert!(!said.contains("did not go out"), "a new invitation waits to go: {said}");
        let to_otto: Vec<(String, String)> =
            mail_of_kind(&app, "invitation", &otto).await.into_iter().map(|row| (row.state, row.to_addr)).collect();
        assert!(to_otto.contains(&("pending".to_owned(), "otto@pricegate.test".to_owned())), "{to_otto:?}");
        assert!(to_otto.contains(&("skipped".to_owned(), "otto@pricegate.exmaple".to_owned())), "{to_otto:?}");
        let r = admin.patch(&format!("/api/v1/users/{otto}"), &json!({"password": "set by the admin"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!users_page().await.contains(&format!("id=\"invited-{otto}\"")), "a password the admin sets is his");
        let set_aside: Vec<(String, Option<String>)> =
            mail_of_kind(&app, "invitation", &otto).await.into_iter().map(|row| (row.state, row.last_error)).collect();
        assert_eq!(set_aside.len(), 2, "{set_aside:?}");
        for reason in ["e-mail address was corrected", "a new password was set"] {
            assert!(set_aside.iter().any(|(state, why)| state == "skipped" && why.as_deref().is_some_and(|w| w.contains(reason))), "{reason}: {set_aside:?}");
        }
        let r = client().get(format!("{}/admin/outbox?state=skipped", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains("The newest messages set aside, 200 to a page.") && html.matches("<span class=\"badge\">set aside</span>").count() == 2, "the filter's words, not the column's: {html}");
        assert!(!html.contains("id=\"unknown-state\""), "{html}");
        let r = client().get(format!("{}/admin/outbox?state=bogus", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains("There is no such state of a message: showing every message.") && html.contains("The newest messages, 200 to a page."), "{html}");
        // Such an e-mail that failed is not sent again as it was: a new link is.
        let first = outbox::Entity::find()
            .filter(outbox::Column::Kind.eq("invitation"))
            .filter(outbox::Column::UserId.eq(uuid::Uuid::parse_str(&otto).unwrap()))
            .one(app.store.connection())
            .await
            .unwrap()
            .unwrap();
        failed(&app, first.id).await;
        assert_error(&admin.post(&format!("/api/v1/outbox/{}/resend", first.id), &json!({})).await, 409, "send_a_new_link");
        sink.restart().await;
        assert_eq!(admin.post(&format!("/api/v1/users/{otto}/password-link"), &json!({})).await.status, 202);
        let mails = sink.wait_until(WAIT, "Otto's link", |m| m.len() >= 6).await;
        assert_eq!(mails[5].to, vec!["otto@pricegate.test".to_owned()]);
        assert!(mails[5].link("/password/").is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.count(), 6, "nothing set aside went out");
        assert_eq!(audited(&admin, "user.password_link_sent").await, 7);

        // A link an admin sends to someone who has a password is a change, not a welcome.
        assert_eq!(admin.post(&format!("/api/v1/users/{}/password-link", sam.id), &json!({})).await.status, 202);
        let mails = sink.wait_until(WAIT, "Sam's link", |m| m.len() >= 7).await;
        let link = mails[6].link("/password/").expect("a link");
        assert_eq!(mails[6].to, vec![sam.email.clone()]);
        let (status, page) = get(&link).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Choose a new password") && !page.contains("Choose your password"), "{page}");
        let (status, _, location, page) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
        assert_eq!((status, location.as_deref()), (303, Some("/account")));
        assert!(page.contains("Your password is changed."), "{page}");

        // A link's e-mail that failed for good is not sent again from the
        // outbox (its link is minted once): the outbox says where to get one.
        let rows = outbox::Entity::find().filter(outbox::Column::Kind.eq("invitation")).all(app.store.connection()).await.unwrap();
        let first = rows.iter().map(|r| r.id).min().unwrap();
        failed(&app, first).await;
        let r = client().get(format!("{}/admin/outbox?state=failed", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("id=\"new-link-{first}\">Its link is not sent again: e-mail a new one from")), "{html}");
        assert!(!html.contains(&format!("id=\"resend-{first}\"")), "{html}");
        app.stop().await;
    }
}

both_backends! {
    /// Upgrading from before `users.invited_at`: whoever was invited and has
    /// not chosen a password since is marked invited, as of the last
    /// invitation sent; whoever has one (by the link, or set by an admin) is not.
    async fn people_invited_before_the_upgrade_are_still_marked_invited(backend: Backend) {
        use pricegate_migration::{Migrator, MigratorTrait};
        use pricegate_store::entity::users;
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let mut ids = std::collections::HashMap::new();
        for name in ["nina", "otto", "paula", "uma"] {
            let r = admin.post("/api/v1/users", &json!({"email": format!("{name}@pricegate.test"), "name": name, "role": "sales"})).await;
            assert_eq!(r.status, 201, "{}", r.text);
            ids.insert(name, uuid::Uuid::parse_str(r.body["id"].as_str().unwrap()).unwrap());
        }
        // Otto's password is set by the admin; Uma chooses hers from the
        // invitation; Paula is invited again; Nina's name is corrected (an
        // update that sets no password).
        let mails = sink.wait_until(WAIT, "the invitations", |m| m.len() >= 4).await;
        let r = admin.patch(&format!("/api/v1/users/{}", ids["otto"]), &json!({"password": "set by the admin"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", ids["nina"]), &json!({"name": "Nina Neu"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let uma = mails.iter().find(|m| m.to == ["uma@pricegate.test"]).expect("Uma's invitation");
        let (status, _, location, _) = choose(&uma.link("/password/").expect("a link"), NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
        assert_eq!((status, location.as_deref()), (303, Some("/account")));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(admin.post(&format!("/api/v1/users/{}/password-link", ids["paula"]), &json!({})).await.status, 202);

        // As a database written before the column: nobody marked. Then the upgrade's backfill.
        let conn = app.store.connection();
        let invited_at = || async {
            let rows = users::Entity::find().all(conn).await.unwrap();
            rows.into_iter().map(|u| (u.email.clone(), (u.invited_at, u.created_at))).collect::<std::collections::HashMap<_, _>>()
        };
        let before = invited_at().await;
        users::Entity::update_many().col_expr(users::Column::InvitedAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None)).exec(conn).await.unwrap();
        // Down through the backfill, and whatever came after it.
        let since_backfill = Migrator::migrations()
            .iter()
            .rev()
            .position(|m| m.name() == "m20261203_000021_users_invited_backfill")
            .expect("the backfill")
            + 1;
        // On one connection of its own, as `pricegate migrate` runs them: an
        // index dropped on one of the pool's connections was, now and then,
        // still there to another's CREATE INDEX on SQLite.
        let migrating = pricegate_store::Store::connect(&app.db.url, 1).await.expect("a connection to migrate on");
        Migrator::down(migrating.connection(), Some(since_backfill as u32)).await.expect("undo the backfill");
        Migrator::up(migrating.connection(), None).await.expect("the backfill");
        migrating.connection().clone().close().await.expect("closed");
        let after = invited_at().await;
        for (email, marked) in [("nina", true), ("paula", true), ("otto", false), ("uma", false)] {
            let email = format!("{email}@pricegate.test");
            assert_eq!(after[&email].0.is_some(), marked, "{email}: {after:?}");
            assert_eq!(after[&email].0, before[&email].0, "{email}: as the invitation marked it");
        }
        assert_eq!(after["nina@pricegate.test"].0, Some(after["nina@pricegate.test"].1), "invited when created");
        assert!(after["paula@pricegate.test"].0 > Some(after["paula@pricegate.test"].1), "invited again later: {after:?}");
        assert_eq!((after[&ada.email].0, after[&sam.email].0), (None, None), "created with passwords");

        let cookie = session_cookie(&app.base, &ada.email).await;
        let html = client().get(format!("{}/admin/users", app.base)).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
        for (name, marked) in [("nina", true), ("paula", true), ("otto", false), ("uma", false)] {
            assert_eq!(html.contains(&format!("id=\"invited-{}\"", ids[name])), marked, "{name}: {html}");
        }
        app.stop().await;
    }
}

/// Someone invited who asks at the login page before choosing a password:
/// the e-mail offers them their first, not a new one, and no password of
/// theirs "stays as it is"; the link works as the invitation's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_invited_who_asks_for_a_link_is_offered_their_first_password() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let r =
        admin.post("/api/v1/users", &json!({"email": "quinn@pricegate.test", "name": "Quinn", "role": "sales"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    sink.wait_until(WAIT, "Quinn's invitation", |m| !m.is_empty()).await;
    let (status, page) = ask_for_link(&app.base, "quinn@pricegate.test").await;
    assert_eq!(status, 200, "{page}");
    let mails = sink.wait_until(WAIT, "the link Quinn asked for", |m| m.len() >= 2).await;
    assert_eq!(mails[1].header("subject").as_deref(), Some("Choose your Pricegate password"));
    let text = mails[1].text();
    assert!(text.contains("asked to choose a Pricegate password for quinn@pricegate.test"), "{text}");
    assert!(
        text.contains("If you did not ask, do nothing: nothing changes.") && !text.contains("stays as it is"),
        "{text}"
    );
    assert!(!text.contains("logs you out everywhere else"), "Quinn is logged in nowhere: {text}");
    let html = mails[1].html();
    assert!(html.contains("nothing changes") && !html.contains("a new Pricegate password"), "{html}");
    let link = mails[1].link("/password/").expect("a link");
    let (status, page) = get(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Choose your password</h1>") && !page.contains("logs this account out"), "{page}");
    let (status, _, location, _) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")), "Quinn is in, welcomed");
    let detail = &admin.get("/api/v1/audit?action=user.password_set_by_link").await.body[0]["detail"];
    assert_eq!((&detail["purpose"], &detail["first_password"]), (&json!("reset"), &json!(true)), "{detail}");
    app.stop().await;
}

/// The invitation e-mails to user `id` the outbox holds, whatever became of them.
/// Someone invited, deactivated before choosing a password and reactivated:
/// the deactivation ended their link, so the reactivation e-mails the
/// invitation again, and the users page says when it went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_invited_and_reactivated_is_invited_again() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (admin, ada) = app.user(Role::Admin, "Ada").await;
    let r = admin.post("/api/v1/users", &json!({"email": "ivy@pricegate.test", "name": "Ivy", "role": "sales"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ivy = r.body["id"].as_str().expect("an id").to_owned();
    assert!(r.body["invited_at"].is_string(), "the API says she is invited: {}", r.text);
    let first =
        sink.wait_until(WAIT, "Ivy's invitation", |m| !m.is_empty()).await[0].link("/password/").expect("a link");
    // What deactivating her does, said before it is done: she has no password to log in with.
    let cookie = session_cookie(&app.base, &ada.email).await;
    let r = client().get(format!("{}/admin/users/{ivy}/deactivate", app.base)).header(COOKIE, &cookie).send().await;
    let page = r.expect("the page").text().await.unwrap_or_default();
    assert!(
        page.contains(
            "Ivy (ivy@pricegate.test, sales) has yet to choose a password, and now cannot: the link in their invitation \
             ends now, and so do the acknowledgement links e-mailed to them. You can reactivate them later: they are \
             then e-mailed a new invitation"
        ) && !page.contains("log in with their password"),
        "{page}"
    );
    for active in [false, true] {
        let r = admin.patch(&format!("/api/v1/users/{ivy}"), &json!({"active": active})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let mails = sink.wait_until(WAIT, "the invitation again", |m| m.len() >= 2).await;
    assert_eq!(mails[1].header("subject").as_deref(), Some("Your Pricegate account: choose your password"));
    let second = mails[1].link("/password/").expect("a link");
    assert_eq!(get(&first).await.0, 410, "the first ended with the deactivation");
    let (status, page) = get(&second).await;
    assert_eq!(status, 200, "{page}");
    let (status, _, location, _) = choose(&second, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")), "Ivy is in");
    assert_eq!(outbox_rows(&app, "invitation").await, 2);
    let r = admin.get(&format!("/api/v1/users/{ivy}")).await;
    assert_eq!(r.body["invited_at"], json!(null), "she has her password: {}", r.text);
    let listed = admin.get("/api/v1/users").await;
    assert!(listed.body.as_array().unwrap().iter().all(|u| u["invited_at"].is_null()), "{}", listed.text);
    app.stop().await;
}

both_backends! {
    /// Whoever's password or address changes is told, at the address that
    /// was theirs, who changed it and what to do if it was not meant: the
    /// way someone whose account is taken over finds out.
    async fn people_are_told_when_their_password_or_e_mail_address_changes(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let (_, otto) = app.user(Role::Sales, "Otto").await;
        let forgot = format!("{}/login/forgot", app.base);

        // Sam changes his own.
        let r = sam_api.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mails = sink.wait_until(WAIT, "Sam's e-mail", |m| !m.is_empty()).await;
        let mail = &mails[0];
        assert_eq!(mail.to, vec![sam.email.clone()]);
        assert_eq!(mail.header("subject").as_deref(), Some("Your Pricegate password was changed"));
        let text = mail.text();
        assert!(text.contains(&format!("The password of your Pricegate account ({}) was changed on ", sam.email)), "{text}");
        assert!(text.contains("by someone logged in to the account who entered its password. Every other session and every API token of the account were logged out."), "{text}");
        assert!(
            text.contains("If it was not, someone else knows your password: tell your administrator, and ask for a new password on this page"),
            "{text}"
        );
        assert_eq!(mail.link("/login/forgot").as_deref(), Some(forgot.as_str()), "{text}");
        assert!(mail.html().contains(&format!("<a href=\"{forgot}\">")), "{}", mail.html());
        assert!(!text.contains(NEW_PASSWORD) && !mail.html().contains(NEW_PASSWORD), "no password in it");

        // Ada sets Rita's, who cannot log in.
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"password": NEW_PASSWORD})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "Rita's e-mail", |m| m.len() == 2).await;
        let mail = &sink.to(&rita.email)[0];
        assert_eq!(mail.header("subject").as_deref(), Some("Your Pricegate password was changed"));
        let text = mail.text();
        assert!(text.contains("by Ada, an administrator. Every session and every API token of the account were logged out."), "{text}");
        assert!(text.contains("If you asked Ada for it, there is nothing to do.") && text.contains("If you did not, ask Ada why"), "{text}");

        // Ada corrects Otto's address, twice while no mail goes out: each
        // address he had is told, and not where it now is; his new one is
        // told nothing. Neither e-mail follows the address as it is later
        // corrected, nor when one that failed is sent again.
        sink.stop();
        for corrected in ["otto.new@pricegate.test", "otto.newer@pricegate.test"] {
            let r = admin.patch(&format!("/api/v1/users/{}", otto.id), &json!({"email": corrected})).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let rows = mail_of_kind(&app, "address_changed", &otto.id.to_string()).await;
        let mut to: Vec<&str> = rows.iter().map(|r| r.to_addr.as_str()).collect();
        to.sort_unstable();
        assert_eq!(to, [otto.email.as_str(), "otto.new@pricegate.test"]);
        let first = rows.iter().find(|r| r.to_addr == otto.email).unwrap();
        failed(&app, first.id).await;
        let r = admin.post_empty(&format!("/api/v1/outbox/{}/resend", first.id)).await;
        assert_eq!((r.status.as_u16(), r.body["to"].as_str()), (200, Some(otto.email.as_str())), "{}", r.text);
        sink.restart().await;
        sink.wait_until(WAIT, "Otto's e-mails", |m| m.len() == 4).await;
        let told = sink.to(&otto.email);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].header("subject").as_deref(), Some("Your Pricegate e-mail address was changed"));
        let text = told[0].text();
        assert!(text.contains(&format!("changed from this one ({}) on ", otto.email)) && text.contains(" by Ada, an administrator."), "{text}");
        assert!(text.contains("If you did not, tell Ada or another administrator now"), "{text}");
        assert!(!text.contains("otto.new") && !told[0].html().contains("otto.new"), "the new address is not told: {text}");
        assert_eq!(sink.to("otto.new@pricegate.test").len(), 1);
        assert!(sink.to("otto.newer@pricegate.test").is_empty());

        // Someone invited at a mistyped address, corrected, who chooses a
        // first password from the invitation: nobody is told of either.
        let r = admin.post("/api/v1/users", &json!({"email": "olga@pricegat.example", "name": "Olga", "role": "sales"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let olga = r.body["id"].as_str().unwrap().to_owned();
        let r = admin.patch(&format!("/api/v1/users/{olga}"), &json!({"email": "olga@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mails = sink.wait_until(WAIT, "Olga's invitation", |m| m.iter().any(|m| m.to == ["olga@pricegate.test"])).await;
        let invitation = mails.iter().find(|m| m.to == ["olga@pricegate.test"]).unwrap();
        let link = invitation.link("/password/").expect("the invitation's link");
        let (status, _, _, page) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
        assert_eq!(status, 303, "{page}");
        // Written, if at all, with the change itself.
        for kind in ["address_changed", "password_changed"] {
            assert!(mail_of_kind(&app, kind, &olga).await.is_empty(), "{kind}");
        }
        let subjects: Vec<_> = sink.to("olga@pricegat.example").iter().filter_map(|m| m.header("subject")).collect();
        assert!(subjects.iter().all(|s| s.contains("choose your password")), "at most the invitation: {subjects:?}");

        // Someone an administrator made with a password at a mistyped
        // address, who has yet to log in: its stranger is told nothing of
        // the address corrected, nor of a new password. Once he has logged
        // in, he is told of both again.
        let body = json!({"email": "piet@pricegat.example", "name": "Piet", "role": "sales", "password": PASSWORD});
        let r = admin.post("/api/v1/users", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let piet = r.body["id"].as_str().unwrap().to_owned();
        let r = admin.patch(&format!("/api/v1/users/{piet}"), &json!({"email": "piet@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{piet}"), &json!({"password": NEW_PASSWORD})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for kind in ["address_changed", "password_changed"] {
            assert!(mail_of_kind(&app, kind, &piet).await.is_empty(), "{kind}: he has never logged in");
        }
        assert_eq!(log_in(&app.base, "piet@pricegate.test", NEW_PASSWORD).await.status, 303);
        let r = admin.patch(&format!("/api/v1/users/{piet}"), &json!({"email": "piet.p@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let told = mail_of_kind(&app, "address_changed", &piet).await;
        assert_eq!(told.iter().map(|r| r.to_addr.as_str()).collect::<Vec<_>>(), ["piet@pricegate.test"]);
        assert!(sink.to("piet@pricegat.example").is_empty(), "the stranger is told nothing");
        // Deactivated, he is told of neither: nobody logs in with the account.
        let r = admin.patch(&format!("/api/v1/users/{piet}"), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{piet}"), &json!({"password": "another passphrase", "email": "piet@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(mail_of_kind(&app, "password_changed", &piet).await.is_empty(), "no e-mail to set aside");
        assert_eq!(mail_of_kind(&app, "address_changed", &piet).await.len(), 1, "the one from before");
        app.stop().await;
    }
}

both_backends! {
    /// An address corrected twice before any mail went out: the e-mail
    /// telling the first address stays addressed to it, and the address in
    /// between is told too; neither follows the address as it is now.
    async fn an_address_corrected_twice_before_mail_goes_tells_each_address_it_had(backend: Backend) {
        let sink = SmtpSink::start().await;
        // No worker round in the test's time: nothing is tried yet.
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (_, otto) = app.user(Role::Sales, "Otto").await;
        for corrected in ["otto.new@pricegate.test", "otto.newer@pricegate.test"] {
            let r = admin.patch(&format!("/api/v1/users/{}", otto.id), &json!({"email": corrected})).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let rows = mail_of_kind(&app, "address_changed", &otto.id.to_string()).await;
        assert!(rows.iter().all(|r| r.state == "pending" && r.attempts == 0), "none tried yet: {rows:?}");
        let mut to: Vec<&str> = rows.iter().map(|r| r.to_addr.as_str()).collect();
        to.sort_unstable();
        assert_eq!(to, [otto.email.as_str(), "otto.new@pricegate.test"]);
        app.stop().await;
    }
}

/// Someone invited after work was waiting for them (a notice published, a
/// draft handed over before they had a password) is told of it, with its
/// links, on the page their first password leads to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_password_leads_to_the_work_already_waiting() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let r = sam
        .post(
            "/api/v1/quotes",
            &json!({
                "customer": {"name": "Greta Berg", "email": "greta@nordwind.example", "company": ""},
                "currency": "EUR", "valid_until": date_in_days(30), "lines": [{"sku": "P-1", "quantity": 2}]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin
        .post("/api/v1/users", &json!({"email": "nina@pricegate.test", "name": "Nina Neu", "role": "sales"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let nina = r.body["id"].as_str().expect("her id").to_owned();
    publish_price_change(&finance, "P-1", 1_100, &date_in_days(0)).await;
    let r = admin.post(&format!("/api/v1/users/{}/handover", sam_user.id), &json!({"to": nina})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mails = sink
        .wait_until(WAIT, "Nina's invitation", |m| {
            m.iter().any(|m| m.header("subject").as_deref() == Some("Your Pricegate account: choose your password"))
        })
        .await;
    let invitation = mails
        .iter()
        .find(|m| m.header("subject").as_deref() == Some("Your Pricegate account: choose your password"))
        .expect("the invitation");
    let link = invitation.link("/password/").expect("a link");
    // The hand-over's e-mail, whose links open nothing yet, says so.
    let handed = sink
        .wait_until(WAIT, "the hand-over told to Nina", |m| {
            m.iter().any(|m| {
                m.to == ["nina@pricegate.test"] && m.header("subject").is_some_and(|s| s.contains("has handed you"))
            })
        })
        .await;
    let handed = handed
        .iter()
        .find(|m| m.to == ["nina@pricegate.test"] && m.header("subject").is_some_and(|s| s.contains("has handed you")))
        .expect("to Nina");
    let forgot = format!("{}/login/forgot", app.base);
    let text = handed.text().replace("\r\n", "\n");
    assert!(
        text.contains(&format!(
            "You have yet to choose your Pricegate password, and these links open only once\nyou have: use the \
             link in the e-mail that invited you, or ask for a new one here:\n{forgot}\n"
        )),
        "{text}"
    );
    assert!(
        handed.html().contains(&format!("or <a href=\"{forgot}\">ask for a new one here</a>.")),
        "{}",
        handed.html()
    );
    let (status, _, location, welcome) = choose(&link, NEW_PASSWORD, NEW_PASSWORD, "same-origin").await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    assert!(
        welcome.contains(
            "Waiting for you already: <a href=\"/notices/awaiting\" id=\"welcome-notices\">1 price notice to acknowledge</a> \
             and <a href=\"/quotes\" id=\"welcome-drafts\">1 open draft</a> you own or sign."
        ),
        "{welcome}"
    );
}
