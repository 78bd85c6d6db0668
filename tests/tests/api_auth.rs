//! Logging in and out, tokens that stop working, and managing users.

use pricegate_domain::Role;
use pricegate_tests::fixtures::{assert_error, field};
use pricegate_tests::pages::{client, csrf_in, session_cookie};
use pricegate_tests::process::ServerProcess;
use pricegate_tests::{PASSWORD, Session, TestApp, both_backends};
use reqwest::header::COOKIE;
use serde_json::json;

both_backends! {
    async fn logging_in_with_the_right_password_returns_a_token_and_the_user(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;

        // E-mail addresses are matched case-insensitively.
        let r = app
            .anonymous()
            .post("/api/v1/auth/token", &json!({"email": sam.email.to_uppercase(), "password": PASSWORD}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["token"].as_str().is_some_and(|t| t.len() >= 40));
        assert_eq!(r.body["user"]["id"], json!(sam.id));
        assert_eq!(r.body["user"]["email"], json!(sam.email));
        assert_eq!(r.body["user"]["name"], "Sam");
        assert_eq!(r.body["user"]["role"], "sales");
        assert!(r.body["user"].get("password_hash").is_none());

        let session = Session::new(&app.base, r.body["token"].as_str().map(str::to_owned));
        let me = session.get("/api/v1/me").await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.body["id"], json!(sam.id));
    }
}

both_backends! {
    async fn a_wrong_password_or_an_unknown_email_is_refused_the_same_way(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let anon = app.anonymous();

        let wrong = anon.post("/api/v1/auth/token", &json!({"email": sam.email, "password": "not the password"})).await;
        assert_error(&wrong, 401, "invalid_credentials");
        let unknown = anon.post("/api/v1/auth/token", &json!({"email": "nobody@pricegate.test", "password": PASSWORD})).await;
        assert_error(&unknown, 401, "invalid_credentials");
        assert_eq!(wrong.body["error"]["message"], unknown.body["error"]["message"], "a refusal does not say which part was wrong");
        let not_an_email = anon.post("/api/v1/auth/token", &json!({"email": "not an email", "password": PASSWORD})).await;
        assert_error(&not_an_email, 401, "invalid_credentials");
        let huge = anon.post("/api/v1/auth/token", &json!({"email": "x".repeat(5000), "password": "p".repeat(5000)})).await;
        assert_error(&huge, 401, "invalid_credentials");
    }
}

both_backends! {
    async fn a_login_with_control_characters_is_refused_not_a_server_error(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": "ann\u{0}@pricegate.test", "password": "a\u{0}b"})).await;
        assert_error(&r, 401, "invalid_credentials");
    }
}

both_backends! {
    async fn a_request_without_a_token_is_unauthenticated(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let r = app.anonymous().get("/api/v1/me").await;
        assert_error(&r, 401, "unauthenticated");
        let r = app.anonymous().get("/api/v1/products").await;
        assert_error(&r, 401, "unauthenticated");
    }
}

both_backends! {
    async fn a_garbage_token_is_invalid(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        for token in ["garbage", "x".repeat(500).as_str(), "not a token at all %%"] {
            let r = Session::new(&app.base, Some(token.to_owned())).get("/api/v1/me").await;
            assert_error(&r, 401, "invalid_token");
        }
        let anon = app.anonymous();
        let r = anon.send(anon.request(reqwest::Method::GET, "/api/v1/me").header("Authorization", "Basic dXNlcjpwYXNz")).await;
        assert_error(&r, 401, "invalid_token");
        assert!(r.text.contains("Only bearer tokens are accepted"), "not 'unknown, expired or revoked': {}", r.text);
        let r = anon.send(anon.request(reqwest::Method::GET, "/api/v1/me").header("Authorization", "Bearer")).await;
        assert_error(&r, 401, "invalid_token");
    }
}

both_backends! {
    async fn the_bearer_scheme_is_case_insensitive(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let token = sam.token().expect("a token");
        let anon = app.anonymous();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let header = format!("{scheme} {token}");
            let r = anon.send(anon.request(reqwest::Method::GET, "/api/v1/me").header("Authorization", header)).await;
            assert_eq!(r.status, 200, "{scheme}: {}", r.text);
            assert_eq!(r.body["id"], json!(sam_user.id));
        }
        // Two tokens: whichever counted, the caller could not know who they were.
        let (sara, _) = app.user(Role::Sales, "Sara").await;
        let request = anon
            .request(reqwest::Method::GET, "/api/v1/me")
            .header("Authorization", format!("Bearer {token}"))
            .header("Authorization", format!("Bearer {}", sara.token().expect("a token")));
        let r = anon.send(request).await;
        assert_error(&r, 400, "duplicate_header");
        assert!(r.text.contains("Authorization 2 times"), "{}", r.text);
    }
}

both_backends! {
    async fn a_revoked_token_stops_working(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        assert_eq!(sam.get("/api/v1/me").await.status, 200);

        let r = sam.delete("/api/v1/auth/token").await;
        assert_eq!(r.status, 204, "{}", r.text);

        assert_error(&sam.get("/api/v1/me").await, 401, "invalid_token");
        assert_error(&sam.delete("/api/v1/auth/token").await, 401, "invalid_token");
    }
}

both_backends! {
    async fn a_deactivated_users_token_stops_working_and_they_cannot_log_in(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        assert_eq!(sam.get("/api/v1/products").await.status, 200);
        let browser = session_cookie(&app.base, &sam_user.email).await;
        let page = |path: &str| client().get(format!("{}{path}", app.base)).header(COOKIE, &browser).send();

        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["active"], false);

        // The token's holder is told why it stopped working.
        let refused = sam.get("/api/v1/products").await;
        assert_error(&refused, 401, "invalid_token");
        assert!(refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("deactivated")), "{}", refused.text);
        // Their right password says so too; a wrong one says nothing of the account.
        // As often as he likes: the right password is no guess, and holds nothing off once he is back.
        for _ in 0..6 {
            let login =
                app.anonymous().post("/api/v1/auth/token", &json!({"email": sam_user.email, "password": PASSWORD})).await;
            assert_error(&login, 403, "account_deactivated");
        }
        let wrong =
            app.anonymous().post("/api/v1/auth/token", &json!({"email": sam_user.email, "password": "not Sam's"})).await;
        assert_error(&wrong, 401, "invalid_credentials");
        // Sam's open browser says the account is deactivated, rather than
        // sending him to a login that would refuse him; so does the login form.
        // The page takes the dead cookie away, so the next page is the login,
        // for Sam or whoever uses the browser next; logging out logs out.
        let r = page("/quotes").await.expect("GET /quotes");
        assert_eq!(r.status(), 403);
        let cleared = pricegate_tests::pages::set_cookie(&r, "pricegate_session").map(|(value, header)| (value.is_empty(), header));
        assert!(cleared.as_ref().is_some_and(|(empty, header)| *empty && header.contains("Max-Age=0")), "{cleared:?}");
        let html = r.text().await.expect("the page");
        assert!(html.contains("Account deactivated") && html.contains("ask an administrator to reactivate it"), "{html}");
        let out = client()
            .post(format!("{}/logout", app.base))
            .header(COOKIE, &browser)
            .form(&[("csrf_token", "from the page before")])
            .send()
            .await
            .expect("POST /logout");
        assert_eq!((out.status().as_u16(), out.headers()["location"].to_str().ok()), (303, Some("/login?ended=out")));
        // Any other form he sends is said not to be saved.
        let form = client()
            .post(format!("{}/quotes/new", app.base))
            .header(COOKIE, &browser)
            .form(&[("csrf_token", "from the page before"), ("customer_name", "Acme")])
            .send()
            .await
            .expect("POST /quotes/new");
        assert_eq!(form.status().as_u16(), 403);
        assert!(form.text().await.unwrap().contains("Nothing you sent was saved. Your account is deactivated"));
        // The logout leaves no session in the cookie: it says, for a while, that this browser logged out.
        assert!(pricegate_tests::pages::set_cookie(&out, "pricegate_session").is_some_and(|(value, _)| value == "out"));
        let form = pricegate_tests::pages::log_in(&app.base, &sam_user.email, PASSWORD).await;
        assert_eq!((form.status.as_u16(), form.session.is_none()), (403, true));
        assert!(form.body.contains("This account is deactivated: it cannot log in."), "{}", form.body);
        let form = pricegate_tests::pages::log_in(&app.base, &sam_user.email, "not Sam's").await;
        assert_eq!(form.status.as_u16(), 401);
        assert!(!form.body.contains("deactivated"), "{}", form.body);

        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"active": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Reactivated, his old token and session stay ended, as any ended one.
        let refused = sam.get("/api/v1/products").await;
        assert_error(&refused, 401, "invalid_token");
        assert!(!refused.text.contains("deactivated"), "{}", refused.text);
        let r = page("/quotes").await.expect("GET /quotes");
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login?next=/quotes&ended=page");
        let again = app.login(&sam_user.email, PASSWORD).await;
        assert_eq!(again.get("/api/v1/products").await.status, 200, "reactivated, Sam logs in afresh");
        // The audit log tells his right password from a wrong one.
        let failed = admin.get("/api/v1/audit?action=auth.login_failed").await;
        let reasons: Vec<&str> = failed.body.as_array().into_iter().flatten().filter_map(|r| r["detail"]["reason"].as_str()).collect();
        assert_eq!(
            (reasons.iter().filter(|r| **r == "inactive_right_password").count(), reasons.iter().filter(|r| **r == "inactive").count()),
            (7, 2),
            "{reasons:?}"
        );
    }
}

both_backends! {
    async fn a_new_password_ends_every_token_the_old_one_gave(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let other_device = app.login(&sam_user.email, PASSWORD).await;
        assert_eq!(other_device.get("/api/v1/me").await.status, 200);

        let new_password = "a brand new passphrase";
        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"password": new_password})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for token in [&sam, &other_device] {
            assert_error(&token.get("/api/v1/me").await, 401, "invalid_token");
        }
        let old = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam_user.email, "password": PASSWORD})).await;
        assert_error(&old, 401, "invalid_credentials");
        assert_eq!(app.login(&sam_user.email, new_password).await.get("/api/v1/me").await.status, 200);

        // Renaming is not taking the account back: tokens live on.
        let fresh = app.login(&sam_user.email, new_password).await;
        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"name": "Samuel"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(fresh.get("/api/v1/me").await.body["name"], "Samuel");
    }
}

both_backends! {
    /// A mistyped address is corrected in place, on the users page: the
    /// person logs in with the corrected one, and nobody takes another's.
    async fn an_admin_corrects_a_mistyped_name_and_e_mail(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let body = json!({"email": "nina@pricegate.exmaple", "name": "Nian", "role": "sales", "password": "a long enough password"});
        let nina = admin.post("/api/v1/users", &body).await.body;
        let (_, other) = app.user(Role::Sales, "Otto").await;
        let audited = |admin: &Session| {
            let admin = admin.clone();
            async move { admin.get("/api/v1/audit?action=user.updated").await.body.as_array().map_or(0, Vec::len) }
        };

        // On the page, as an admin does it.
        let cookie = session_cookie(&app.base, &ada.email).await;
        let http = client();
        let html = http.get(format!("{}/admin/users", app.base)).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Correct the name or e-mail"), "{html}");
        let post = |name: &'static str, email: String| {
            let (http, cookie, csrf) = (http.clone(), cookie.clone(), csrf_in(&html));
            let url = format!("{}/admin/users/{}", app.base, nina["id"].as_str().unwrap());
            async move {
                let form = [("csrf_token", csrf.as_str()), ("what", "identity"), ("name", name), ("email", email.as_str())];
                let r = http.post(url).header(COOKIE, cookie).form(&form).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (status, page) = post("Nina", other.email.clone()).await;
        assert_eq!(status, 422, "another's address: {page}");
        assert!(page.contains("A user with this e-mail address already exists."), "{page}");
        let (status, page) = post("Nina", "nina@".to_owned()).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("value=\"nina@\"") && page.contains("value=\"Nina\""), "what was typed, to put right: {page}");
        assert_eq!(audited(&admin).await, 0, "nothing saved");
        let url = format!("{}/admin/users/{}", app.base, nina["id"].as_str().unwrap());
        let csrf = csrf_in(&html);
        let form = [("csrf_token", csrf.as_str()), ("what", "identity"), ("name", "Nina"), ("email", " Nina@Pricegate.test ")];
        let saved = http.post(&url).header(COOKIE, &cookie).form(&form).send().await.unwrap();
        assert_eq!(saved.status().as_u16(), 303);
        // The list it leads back to says what became of the address she had.
        let done: Vec<String> = saved.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned)).collect();
        let list = http.get(format!("{}/admin/users", app.base)).header(COOKIE, format!("{cookie}; {}", done.join("; "))).send().await.unwrap().text().await.unwrap();
        assert!(list.contains("Saved Nina (nina@pricegate.test): sales, active. The address they had is told nothing: they never logged in with it; acknowledgement links e-mailed to it no longer work, and mail still waiting for them goes to the new address."), "{list}");
        let users = admin.get("/api/v1/users").await.body;
        let now = users.as_array().unwrap().iter().find(|u| u["id"] == nina["id"]).unwrap().clone();
        assert_eq!((now["name"].as_str(), now["email"].as_str()), (Some("Nina"), Some("nina@pricegate.test")));
        assert_eq!(app.login("nina@pricegate.test", "a long enough password").await.get("/api/v1/me").await.status, 200);
        let old = app.anonymous().post("/api/v1/auth/token", &json!({"email": "nina@pricegate.exmaple", "password": "a long enough password"})).await;
        assert_error(&old, 401, "invalid_credentials");

        // By the API; saving what is there already writes nothing.
        assert_eq!(audited(&admin).await, 1);
        let r = admin.patch(&format!("/api/v1/users/{}", nina["id"].as_str().unwrap()), &json!({"email": "nina@pricegate.test", "name": "Nina"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(audited(&admin).await, 1, "no change, no entry");
        let r = admin.patch(&format!("/api/v1/users/{}", nina["id"].as_str().unwrap()), &json!({"email": other.email})).await;
        assert_error(&r, 409, "email_taken");
        let r = admin.patch(&format!("/api/v1/users/{}", nina["id"].as_str().unwrap()), &json!({"email": "a..b@pricegate.test"})).await;
        assert_error(&r, 422, "invalid_field");

        // Making someone an admin asks first, on the page.
        let url = format!("{}/admin/users/{}", app.base, nina["id"].as_str().unwrap());
        let csrf = csrf_in(&html);
        for (confirmed, status) in [("", 200), ("yes", 303)] {
            let form = [("csrf_token", csrf.as_str()), ("role", "admin"), ("confirmed", confirmed)];
            let r = http.post(&url).header(COOKIE, &cookie).form(&form).send().await.unwrap();
            assert_eq!(r.status().as_u16(), status);
            let role = admin.get("/api/v1/users").await.body.as_array().unwrap().iter().find(|u| u["id"] == nina["id"]).unwrap()["role"].clone();
            let page = r.text().await.unwrap();
            match confirmed {
                "" => assert!(page.contains("Make Nina admin?") && role == "sales", "{role} {page}"),
                _ => assert_eq!(role, "admin"),
            }
        }
    }
}

both_backends! {
    async fn an_admin_cannot_deactivate_themselves(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let r = admin.patch(&format!("/api/v1/users/{}", ada.id), &json!({"active": false})).await;
        assert_error(&r, 409, "cannot_demote_self");
        assert_eq!(admin.get("/api/v1/me").await.status, 200);
    }
}

both_backends! {
    async fn an_admin_creates_users_who_can_then_log_in(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let r = admin
            .post("/api/v1/users", &json!({"email": "Nina@Pricegate.test", "name": "Nina", "role": "finance", "password": "a long enough password"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["email"], "nina@pricegate.test");
        assert_eq!(r.body["role"], "finance");
        assert_eq!(r.body["active"], true);
        assert!(r.body.get("password").is_none() && r.body.get("password_hash").is_none());

        let nina = app.login("nina@pricegate.test", "a long enough password").await;
        let users = nina.get("/api/v1/users").await;
        assert_eq!(users.status, 200, "{}", users.text);
        assert!(users.body.as_array().unwrap().iter().any(|u| u["email"] == "nina@pricegate.test"));
        // The new account's address comes with it.
        let body = json!({"email": "omar@pricegate.test", "name": "Omar", "role": "sales"});
        let made = admin.request(reqwest::Method::POST, "/api/v1/users").json(&body).send().await.expect("an account");
        let location = made.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        let made: serde_json::Value = made.json().await.expect("the account");
        assert_eq!(location, Some(format!("/api/v1/users/{}", made["id"].as_str().unwrap_or_default())));
        assert_eq!(admin.get(location.as_deref().unwrap_or_default()).await.body["email"], "omar@pricegate.test");
    }
}

both_backends! {
    async fn a_second_user_with_the_same_email_is_a_conflict(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let body = json!({"email": "nina@pricegate.test", "name": "Nina", "role": "sales", "password": "a long enough password"});
        assert_eq!(admin.post("/api/v1/users", &body).await.status, 201);
        let again = json!({"email": "NINA@pricegate.test", "name": "Nina Two", "role": "sales", "password": "a long enough password"});
        assert_error(&admin.post("/api/v1/users", &again).await, 409, "email_taken");
    }
}

both_backends! {
    async fn creating_a_user_with_a_bad_role_email_name_or_short_password_names_the_field(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let good = json!({"email": "nina@pricegate.test", "name": "Nina", "role": "sales", "password": "a long enough password"});
        for (key, value, expected_field) in [
            ("role", json!("boss"), "role"),
            ("password", json!("short"), "password"),
            ("password", json!("Password123"), "password"),
            ("email", json!("nina-at-example"), "email"),
            ("name", json!("   "), "name"),
        ] {
            let mut body = good.clone();
            body[key] = value;
            let r = admin.post("/api/v1/users", &body).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), expected_field, "{}", r.text);
        }
        let users = admin.get("/api/v1/users").await;
        assert_eq!(users.body.as_array().unwrap().len(), 1, "no user was half-created: {}", users.text);

        let r = admin.patch(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()), &json!({"name": "Ghost"})).await;
        assert_error(&r, 404, "not_found");
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"role": "king"})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "role");
    }
}

both_backends! {
    /// The right password sent many times at once for one account from one
    /// address (a script fetching tokens in parallel): each is logged in or
    /// told that other tries are being checked and to try again in a
    /// second; none is told of failed logins there were none of, nor held
    /// off for a quarter of an hour, and the account logs in right after.
    async fn logins_sent_at_once_are_not_taken_for_failed_ones(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let tries: Vec<_> = (0..16)
            .map(|_| {
                let (server, body) = (app.anonymous(), json!({"email": sam.email, "password": PASSWORD}));
                tokio::spawn(async move { server.post("/api/v1/auth/token", &body).await })
            })
            .collect();
        let mut answers = Vec::new();
        for tried in tries {
            answers.push(tried.await.expect("a login"));
        }
        let refused: Vec<_> = answers.iter().filter(|r| r.status != 200).collect();
        assert!(!refused.is_empty() && refused.len() < 16, "sixteen at once, more than five in flight: {answers:?}");
        for r in refused {
            assert_error(r, 429, "too_many_attempts");
            assert!(r.text.contains("being checked at this moment") && !r.text.contains("failed"), "{}", r.text);
        }
        let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam.email, "password": PASSWORD})).await;
        assert_eq!(r.status, 200, "nothing holds the account off: {}", r.text);
    }
}

/// Failed logins are counted in the database: wrong passwords sent at once to
/// two server processes on one PostgreSQL have no more than five passwords
/// checked between them, and then both processes hold that e-mail off, while
/// another e-mail logs in as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_count_across_server_processes() {
    let app = TestApp::spawn(pricegate_tests::Backend::Postgres).await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let (_, sue) = app.user(Role::Sales, "Sue").await;
    let maildir = app.db.dir().join("second-mail-out");
    let maildir = maildir.to_str().expect("a UTF-8 path");
    let second = ServerProcess::start(&[("DATABASE_URL", app.db.url.as_str()), ("PRICEGATE_MAILDIR", maildir)]).await;
    let servers = [app.anonymous(), Session::new(&second.base, None)];
    let login = |email: &str, password: &str| json!({"email": email, "password": password});

    let tries: Vec<_> = (0..16)
        .map(|i| {
            let (server, body) = (servers[i % 2].clone(), login(&sam.email, "wrong password"));
            tokio::spawn(async move { server.post("/api/v1/auth/token", &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for tried in tries {
        answers.push(tried.await.expect("a login try"));
    }
    let checked = answers.iter().filter(|r| r.status == 401).count();
    let held_off = answers.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        checked + held_off,
        16,
        "every try is a 401 or a 429: {:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(checked <= 5, "{checked} wrong passwords were checked at once; at most 5 may be");
    // Tries held off were never checked, so they are no failures: one at a
    // time, alternating servers, the wrong password is checked until there
    // are five failures in all, and then held off.
    let mut failures = checked;
    for i in 0..10 {
        let r = servers[i % 2].post("/api/v1/auth/token", &login(&sam.email, "wrong password")).await;
        match r.status.as_u16() {
            401 => failures += 1,
            429 => break,
            other => panic!("a wrong password got {other}: {}", r.text),
        }
    }
    assert_eq!(failures, 5, "five failures in all, counted across both processes");

    for server in &servers {
        let r = server.post("/api/v1/auth/token", &login(&sam.email, PASSWORD)).await;
        assert_error(&r, 429, "too_many_attempts");
        let r = server.post("/api/v1/auth/token", &login(&sue.email, PASSWORD)).await;
        assert_eq!(r.status, 200, "another e-mail logs in: {}", r.text);
    }
    second.kill().await;
    app.stop().await;
}

/// Behind a reverse proxy named in `PRICEGATE_TRUSTED_PROXIES`, the login
/// limit counts each client the proxy forwards for on its own, and a client
/// cannot pass for another by writing `X-Forwarded-For` itself. Without the
/// setting, the header is not believed at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_login_limit() {
    let proxied = TestApp::spawn_with(pricegate_tests::Backend::Sqlite, |s| {
        s.trusted_proxies = pricegate::TrustedProxies::parse("127.0.0.1, ::1").expect("a valid list");
    })
    .await;
    let direct = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    for (app, trusted) in [(&proxied, true), (&direct, false)] {
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let anon = app.anonymous();
        let login = |forwarded_for: &str, password: &str| {
            let body = json!({"email": sam.email, "password": password});
            anon.send(
                anon.request(reqwest::Method::POST, "/api/v1/auth/token")
                    .header("x-forwarded-for", forwarded_for)
                    .json(&body),
            )
        };
        for _ in 0..5 {
            assert_eq!(login("203.0.113.5", "wrong password").await.status, 401);
        }
        assert_error(&login("203.0.113.5", PASSWORD).await, 429, "too_many_attempts");
        // What a client writes left of what the proxy appended is not believed.
        assert_error(&login("198.51.100.9, 203.0.113.5", PASSWORD).await, 429, "too_many_attempts");
        let other = login("203.0.113.6", PASSWORD).await;
        if trusted {
            assert_eq!(other.status, 200, "another client behind the proxy logs in: {}", other.text);
        } else {
            assert_error(&other, 429, "too_many_attempts");
        }
    }
    proxied.stop().await;
    direct.stop().await;
}

/// Walking through the addresses of one IPv6 network is one client to the
/// login limit, and many clients guessing one account are held off together;
/// a new password lets its person in again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_addresses_guessing_one_account_are_held_off_together() {
    use pricegate_store::{ClientInfo, LoginOutcome, MAX_ACCOUNT_FAILURES, MAX_FAILURES};
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let (_, sue) = app.user(Role::Sales, "Sue").await;
    let try_from = |addr: String, email: String, password: &'static str| {
        let store = app.store.clone();
        async move {
            let client = ClientInfo { addr: Some(addr), user_agent: None };
            store.attempt_login(&email, password, &client).await.expect("the attempt is counted")
        }
    };
    let held = |outcome: &LoginOutcome| matches!(outcome, LoginOutcome::HeldOff(_));

    // One /64: five failures from five of its addresses hold off a sixth.
    for i in 1..=MAX_FAILURES {
        let outcome = try_from(format!("2001:db8:7:1::{i:x}"), sam.email.clone(), "a guess").await;
        assert!(matches!(outcome, LoginOutcome::Refused), "{outcome:?}");
    }
    assert!(held(&try_from("2001:db8:7:1:ffff::1".into(), sam.email.clone(), PASSWORD).await));
    let next_network = try_from("2001:db8:7:2::1".into(), sam.email.clone(), PASSWORD).await;
    assert!(matches!(next_network, LoginOutcome::LoggedIn(_)), "another network is another client: {next_network:?}");

    // Many addresses, none over its own five: the account is held off from every address, the right password too.
    let mut failures = 0;
    let mut addr = 0;
    while failures < MAX_ACCOUNT_FAILURES {
        addr += 1;
        for _ in 0..4 {
            if failures < MAX_ACCOUNT_FAILURES {
                let outcome = try_from(format!("198.51.100.{addr}"), sue.email.clone(), "a guess").await;
                assert!(matches!(outcome, LoginOutcome::Refused), "failure {failures}: {outcome:?}");
                failures += 1;
            }
        }
    }
    let fresh = try_from("203.0.113.77".into(), sue.email.clone(), PASSWORD).await;
    assert!(held(&fresh), "a new address, the right password: {fresh:?}");
    assert!(
        matches!(try_from("203.0.113.77".into(), sam.email.clone(), PASSWORD).await, LoginOutcome::LoggedIn(_)),
        "another account is not held"
    );
    let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": sue.email, "password": PASSWORD})).await;
    assert_error(&r, 429, "too_many_attempts");

    // A new password set for her lifts the hold, from every address.
    let r = admin.patch(&format!("/api/v1/users/{}", sue.id), &json!({"password": "a much longer passphrase"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .anonymous()
        .post("/api/v1/auth/token", &json!({"email": sue.email, "password": "a much longer passphrase"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.stop().await;
}

/// One address walking through made-up e-mails, none tried twice, is held
/// off once it has failed for many: the audit log, whose rows are never
/// deleted, takes that many of its failures and no more. Another address
/// logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_trying_many_e_mails_is_held_off_and_the_audit_log_stops_growing() {
    use pricegate_store::entity::audit_log;
    use pricegate_store::{ClientInfo, LoginOutcome, MAX_ADDRESS_FAILURES};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let from = |addr: &str| ClientInfo { addr: Some(addr.to_owned()), user_agent: None };
    for i in 0..MAX_ADDRESS_FAILURES {
        let outcome = app.store.attempt_login(&format!("nobody{i}@x.example"), "p", &from("192.0.2.9")).await.unwrap();
        assert!(matches!(outcome, LoginOutcome::Refused), "failure {i}: {outcome:?}");
    }
    for email in ["one.more@x.example", sam.email.as_str()] {
        let outcome = app.store.attempt_login(email, PASSWORD, &from("192.0.2.9")).await.unwrap();
        assert!(matches!(outcome, LoginOutcome::HeldOff(_)), "{email}: {outcome:?}");
    }
    let failed = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.login_failed"))
        .count(app.store.connection())
        .await
        .unwrap();
    assert_eq!(failed, MAX_ADDRESS_FAILURES as u64, "one row per failure let through, none for those held off");
    let elsewhere = app.store.attempt_login(&sam.email, PASSWORD, &from("192.0.2.10")).await.unwrap();
    assert!(matches!(elsewhere, LoginOutcome::LoggedIn(_)), "{elsewhere:?}");
    app.stop().await;
}

both_backends! {
    async fn changing_ones_own_password_ends_every_earlier_token_and_needs_the_current_one(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let laptop = app.login(&sam.email, PASSWORD).await;
        let new = "a much longer passphrase";

        let wrong = sam_api.post("/api/v1/me/password", &json!({"current_password": "not it", "new_password": new})).await;
        assert_error(&wrong, 422, "wrong_password");
        assert_eq!(field(&wrong), "current_password");
        let short = sam_api.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": "short"})).await;
        assert_error(&short, 422, "invalid_field");
        assert_eq!(field(&short), "new_password");
        assert!(short.body["error"]["message"].as_str().is_some_and(|m| m.starts_with("The new password must be at least")), "{}", short.text);
        let guessed = sam_api.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": "qwertyuiop"})).await;
        assert_error(&guessed, 422, "invalid_field");
        assert_eq!(field(&guessed), "new_password");
        assert!(guessed.body["error"]["message"].as_str().is_some_and(|m| m.starts_with("The new password is one that is guessed first")), "{}", guessed.text);
        let same = sam_api.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": PASSWORD})).await;
        assert_error(&same, 422, "invalid_field");
        assert_eq!(field(&same), "new_password");
        let anonymous = app.anonymous().post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": new})).await;
        assert_error(&anonymous, 401, "unauthenticated");
        // None of the refusals changed anything.
        assert_eq!(laptop.get("/api/v1/me").await.status, 200);
        assert_eq!(app.login(&sam.email, PASSWORD).await.get("/api/v1/me").await.status, 200);

        let changed = sam_api.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": new})).await;
        assert_eq!(changed.status, 200, "{}", changed.text);
        assert_eq!(changed.body["user"]["id"], json!(sam.id));
        let fresh = Session::new(&app.base, changed.body["token"].as_str().map(str::to_owned));
        assert_eq!(fresh.get("/api/v1/me").await.status, 200, "the answer's token works");
        // The token that asked ended, and so did every other.
        assert_error(&sam_api.get("/api/v1/me").await, 401, "invalid_token");
        assert_error(&laptop.get("/api/v1/me").await, 401, "invalid_token");
        let old_password = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam.email, "password": PASSWORD})).await;
        assert_error(&old_password, 401, "invalid_credentials");
        assert_eq!(app.login(&sam.email, new).await.get("/api/v1/me").await.status, 200);

        // Audited as a change of Sam's own account, without the password.
        let audit = admin.get("/api/v1/audit?action=user.updated").await;
        let entry = &audit.body[0];
        assert_eq!(entry["actor_id"], json!(sam.id), "{}", audit.text);
        assert_eq!(entry["subject_id"], json!(sam.id));
        assert_eq!(entry["detail"]["password_changed"], true);
        assert!(!audit.text.contains(new), "the audit log holds no password");
    }
}

/// A password that is the account's name or address with a little added
/// is refused wherever a password is set, and says why; one that merely
/// contains a name is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_built_on_the_account_s_name_or_address_is_refused() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    let said =
        |r: &pricegate_tests::client::Response| r.body["error"]["message"].as_str().unwrap_or_default().to_owned();

    let rita = json!({"name": "Rita Remote", "email": "rita.remote@pricegate.test", "role": "sales"});
    for built_on in ["RitaRemote2026", "rita.remote@pricegate.test!", "Remote-Rita-1", "rita1234567890"] {
        let mut body = rita.clone();
        body["password"] = json!(built_on);
        let r = admin.post("/api/v1/users", &body).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "password", "{built_on}");
        assert!(said(&r).starts_with("password is built on the account's name or e-mail address"), "{}", r.text);
    }
    assert_eq!(admin.get("/api/v1/users").await.text.matches("rita.remote@").count(), 0, "nobody was created");
    let mut body = rita.clone();
    body["password"] = json!("Rita's remote garden shed");
    let r = admin.post("/api/v1/users", &body).await;
    assert_eq!(r.status, 201, "a name among other words is a passphrase: {}", r.text);

    // His own: under new_password, as every refusal of a new one is.
    let own = format!("{}2026", sam.email);
    let r = sam_api.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": own})).await;
    assert_error(&r, 422, "invalid_field");
    assert_eq!(field(&r), "new_password");
    assert!(said(&r).starts_with("The new password is built on the account's name or e-mail address"), "{}", r.text);
    assert_eq!(app.login(&sam.email, PASSWORD).await.get("/api/v1/me").await.status, 200, "his password is as it was");

    // An admin's new password for Sam, checked against the address he gets with it.
    let (password, address) = ("Kestrel-Rowan-2026", "rowan.kestrel@pricegate.test");
    let path = format!("/api/v1/users/{}", sam.id);
    let r = admin.patch(&path, &json!({"password": password, "email": address})).await;
    assert_error(&r, 422, "invalid_field");
    assert_eq!(field(&r), "password");
    assert_eq!(sam_api.get("/api/v1/me").await.body["email"], json!(sam.email), "his address is as it was");
    let r = admin.patch(&path, &json!({"password": password})).await;
    assert_eq!(r.status, 200, "nothing of Sam's is in it: {}", r.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_current_password_counts_as_failed_logins() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    for _ in 0..pricegate_store::MAX_FAILURES {
        let r = sam_api
            .post(
                "/api/v1/me/password",
                &json!({"current_password": "a guess", "new_password": "a much longer passphrase"}),
            )
            .await;
        assert_error(&r, 422, "wrong_password");
    }
    let held = sam_api
        .post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": "a much longer passphrase"}))
        .await;
    assert_error(&held, 429, "too_many_attempts");
    // The same count holds the login off: the guesses were logins too.
    let login = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam.email, "password": PASSWORD})).await;
    assert_error(&login, 429, "too_many_attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_the_settings_in_force_and_whether_mail_reaches_anyone() {
    let app = TestApp::spawn_with(pricegate_tests::Backend::Sqlite, |s| {
        s.reminders = vec![std::time::Duration::from_secs(1800), std::time::Duration::from_secs(86_400)];
    })
    .await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let r = admin.get("/api/v1/settings").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let value = |variable: &str| {
        r.body["settings"].as_array().unwrap().iter().find(|e| e["variable"] == variable).map(|e| e["value"].clone())
    };
    assert_eq!(value("PRICEGATE_REMINDERS"), Some(json!("30m, 1d")));
    assert_eq!(value("PRICEGATE_BASE_URL"), Some(json!(app.base)));
    assert_eq!(r.body["mail_sent"], false, "no SMTP server is set: mail is written to files");
    assert!(r.body["mail_written_to"].as_str().is_some_and(|d| d.ends_with("mail-out")), "{}", r.text);
}

both_backends! {
    async fn a_login_checked_before_the_password_changed_gets_no_session_or_token(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let client = pricegate_store::ClientInfo { addr: None, user_agent: None };
        let login = || async {
            match app.store.attempt_login(&sam.email, PASSWORD, &client).await.expect("a login") {
                pricegate_store::LoginOutcome::LoggedIn(checked) => checked,
                other => panic!("Sam logs in: {other:?}"),
            }
        };
        let refused = |e: pricegate_store::StoreError| {
            assert!(matches!(e, pricegate_store::StoreError::Forbidden { code: "credentials_changed", .. }), "{e:?}")
        };

        // The password is checked; then an admin sets a new one before the
        // session or token is written. Neither may be issued on the old one.
        let checked = login().await;
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"password": "a much longer passphrase"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        refused(app.store.open_session(&checked).await.expect_err("no session on the old password"));
        refused(app.store.issue_api_token(checked).await.expect_err("no token on the old password"));

        // Nor for an account deactivated in between.
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"password": PASSWORD})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let checked = login().await;
        assert!(app.store.open_session(&checked).await.is_ok(), "unchanged, a session is issued");
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        refused(app.store.issue_api_token(checked).await.expect_err("no token for a deactivated account"));
    }
}

both_backends! {
    /// Someone invited at a mistyped address, which an admin corrects on the
    /// users page: the invitation that went there ends, a new one goes to
    /// the address as corrected, and the page says where it went.
    async fn an_invitation_to_a_mistyped_address_goes_again_once_it_is_corrected(backend: Backend) {
        use pricegate_store::entity::outbox;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        // The first invitation is still queued when the address is corrected
        // (with the worker's second's poll, a busy machine sent it first).
        let app = TestApp::spawn_with(backend, |s| s.worker_poll = std::time::Duration::from_secs(3600)).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let r = admin.post("/api/v1/users", &json!({"email": "olga@pricegat.example", "name": "Olga", "role": "sales"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let olga = r.body["id"].as_str().unwrap().to_owned();

        let cookie = session_cookie(&app.base, &ada.email).await;
        let html = client().get(format!("{}/admin/users", app.base)).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
        let form = [
            ("csrf_token", csrf_in(&html)),
            ("what", "identity".to_owned()),
            ("name", "Olga".to_owned()),
            ("email", "olga@pricegate.example".to_owned()),
        ];
        // A new user refused says so first, and in the page's title.
        let refused = [
            ("csrf_token", csrf_in(&html)),
            ("name", String::new()),
            ("email", "not an address".to_owned()),
            ("role", "sales".to_owned()),
        ];
        let (status, page) = pricegate_tests::pages::post_form(format!("{}/admin/users", app.base), &cookie, &refused).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("<title>Error: "), "{page}");
        assert!(
            page.contains("role=\"alert\" id=\"form-errors-summary\">Not created: 2 fields need changing, each said below where it is."),
            "{page}"
        );
        let (status, page) = pricegate_tests::pages::post_form(format!("{}/admin/users/{olga}", app.base), &cookie, &form).await;
        assert_eq!(status, 303, "{page}");
        assert!(
            page.contains(
                "Saved Olga (olga@pricegate.example): sales, active. They have yet to choose their password: the \
                 invitation last went to olga@pricegate.example at "
            ),
            "{page}"
        );
        let invitations: Vec<(String, String)> = outbox::Entity::find()
            .filter(outbox::Column::Kind.eq("invitation"))
            .filter(outbox::Column::UserId.eq(uuid::Uuid::parse_str(&olga).unwrap()))
            .all(app.store.connection())
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.to_addr, row.state))
            .collect();
        assert_eq!(invitations.len(), 2, "{invitations:?}");
        assert!(invitations.contains(&("olga@pricegat.example".to_owned(), "skipped".to_owned())), "{invitations:?}");
        assert!(invitations.iter().any(|(to, state)| to == "olga@pricegate.example" && state != "skipped"), "{invitations:?}");
        let sent = admin.get("/api/v1/audit?action=user.password_link_sent").await;
        assert_eq!(sent.body.as_array().map(Vec::len), Some(2), "{}", sent.text);

        // Offered as a signer, she is marked as not yet able to log in.
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let form = pricegate_tests::pages::page_as(&app.base, &sam.email, "/quotes/new").await;
        assert!(form.contains(">Olga (olga@pricegate.example): invited, has yet to log in</option>"), "{form}");
        assert!(form.contains(&format!(">Sam ({})</option>", sam.email)), "{form}");

        // Renamed only, nobody is invited again.
        let r = admin.patch(&format!("/api/v1/users/{olga}"), &json!({"name": "Olga Berg"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let sent = admin.get("/api/v1/audit?action=user.password_link_sent").await;
        assert_eq!(sent.body.as_array().map(Vec::len), Some(2), "{}", sent.text);
        app.stop().await;
    }
}

both_backends! {
    async fn administrators_see_when_each_person_last_logged_in(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let body = json!({"email": "nina@pricegate.test", "name": "Nina", "role": "sales", "password": PASSWORD});
        let nina = admin.post("/api/v1/users", &body).await;
        assert_eq!(nina.status, 201, "{}", nina.text);
        let nina_id = nina.body["id"].as_str().unwrap().to_owned();
        assert_eq!(nina.body["last_login_at"], json!(null), "never, yet: {}", nina.text);
        let users_page = || async {
            let r = client()
                .get(format!("{}/admin/users", app.base))
                .header(COOKIE, session_cookie(&app.base, &ada.email).await)
                .send()
                .await
                .unwrap();
            pricegate_tests::pages::unwrapped(&r.text().await.unwrap())
        };
        let said = |html: &str| {
            let cell = html.split(&format!("id=\"last-login-{nina_id}\">")).nth(1).and_then(|c| c.split("</span>").next());
            cell.unwrap_or_else(|| panic!("Nina's row says when she last logged in: {html}")).to_owned()
        };
        assert_eq!(said(&users_page().await), "never logged in");

        // A wrong password is no login.
        assert_eq!(pricegate_tests::pages::log_in(&app.base, "nina@pricegate.test", "not her password").await.status, 401);
        assert_eq!(said(&users_page().await), "never logged in");

        // In the browser: the time, as the page writes times.
        let before = chrono::Utc::now() - chrono::Duration::seconds(5);
        session_cookie(&app.base, "nina@pricegate.test").await;
        let users = admin.get("/api/v1/users").await.body;
        let row = users.as_array().unwrap().iter().find(|u| u["id"] == json!(nina_id)).cloned().unwrap();
        let at: chrono::DateTime<chrono::Utc> = serde_json::from_value(row["last_login_at"].clone()).expect("a time");
        assert!(at >= before, "{at} is this login's");
        let said_now = said(&users_page().await);
        assert!(said_now.starts_with("last logged in 20") && said_now.ends_with(" UTC"), "{said_now}");
        // By the API too, and the admin's own row says hers.
        let token = client()
            .post(format!("{}/api/v1/auth/token", app.base))
            .json(&json!({"email": "nina@pricegate.test", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 200);
        let answer: serde_json::Value = token.json().await.unwrap();
        assert!(answer["user"]["last_login_at"].is_string(), "this login, as answered: {answer}");
        let me = admin.get(&format!("/api/v1/users/{nina_id}")).await;
        let later: chrono::DateTime<chrono::Utc> = serde_json::from_value(me.body["last_login_at"].clone()).expect("a time");
        assert!(later >= at, "{later} after {at}");
        assert!(said(&users_page().await).starts_with("last logged in"));
        let html = users_page().await;
        let ada_said = html.split(&format!("id=\"last-login-{}\">", ada.id)).nth(1).unwrap_or_else(|| panic!("{html}"));
        assert!(ada_said.starts_with("last logged in"), "{ada_said}");
        app.stop().await;
    }
}

both_backends! {
    /// The users list sorts and searches names as people read them: Łukasz
    /// among the Ls, a name in small letters among the others, and "wojcik"
    /// finds Wójcik.
    async fn the_users_list_sorts_and_finds_names_beyond_ascii(backend: Backend) {
        use pricegate_tests::pages::page_as;
        let app = TestApp::spawn(backend).await;
        let (_, ada) = app.user(Role::Admin, "Ada").await;
        let people: Vec<(String, String, &str)> = [
            ("zoe@pricegate.test", "Zoë Adams"),
            ("lukasz@pricegate.test", "Łukasz Wójcik"),
            ("mark@pricegate.test", "Mark Lee"),
            ("anna@pricegate.test", "anna Berg"),
        ]
        .into_iter()
        .map(|(email, name)| (email.to_owned(), name.to_owned(), "sales"))
        .collect();
        pricegate_tests::fixtures::insert_users(&app, ada.id, &people).await;
        let order = |html: &str| {
            let mut names: Vec<(usize, &str)> = ["Ada", "anna Berg", "Łukasz Wójcik", "Mark Lee", "Zoë Adams"]
                .into_iter()
                .filter_map(|name| Some((html.find(&format!("<strong>{name}</strong>"))?, name)))
                .collect();
            names.sort_unstable();
            names.into_iter().map(|(_, name)| name).collect::<Vec<_>>()
        };
        let html = page_as(&app.base, &ada.email, "/admin/users").await;
        assert_eq!(order(&html), ["Ada", "anna Berg", "Łukasz Wójcik", "Mark Lee", "Zoë Adams"], "{html}");
        for (q, found) in [("wojcik", "Łukasz Wójcik"), ("LUKASZ", "Łukasz Wójcik"), ("zoe", "Zoë Adams"), ("Anna", "anna Berg")] {
            let html = page_as(&app.base, &ada.email, &format!("/admin/users?q={q}")).await;
            assert_eq!(order(&html), [found], "{q}: {html}");
        }
        // A later page starts after the person it names, in that order.
        let html = page_as(&app.base, &ada.email, "/admin/users?after=lukasz%40pricegate.test&after_name=%C5%81ukasz+W%C3%B3jcik").await;
        assert_eq!(order(&html), ["Mark Lee", "Zoë Adams"], "{html}");
        app.stop().await;
    }
}

both_backends! {
    /// A user's form saved as it was says so: nothing is written, and the
    /// page does not claim it saved anything.
    async fn a_users_form_saved_unchanged_says_nothing_changed(backend: Backend) {
        use pricegate_tests::pages::post_form;
        let app = TestApp::spawn(backend).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (_, nina) = app.user(Role::Sales, "Nina").await;
        let cookie = session_cookie(&app.base, &ada.email).await;
        let users_page = || async {
            let r = client().get(format!("{}/admin/users", app.base)).header(COOKIE, &cookie).send().await.unwrap();
            r.text().await.unwrap()
        };
        let url = format!("{}/admin/users/{}", app.base, nina.id);
        let audited = || async { admin.get("/api/v1/audit?action=user.updated").await.body.as_array().map_or(0, Vec::len) };
        let csrf = csrf_in(&users_page().await);
        let same = [("csrf_token", csrf.clone()), ("what", "identity".into()), ("name", "Nina".into()), ("email", nina.email.clone())];
        let (status, html) = post_form(url.clone(), &cookie, &same).await;
        assert_eq!(status, 303);
        assert!(html.contains(&format!("Nothing to change for Nina ({}): it was saved as it already was.", nina.email)), "{html}");
        let (status, html) = post_form(url.clone(), &cookie, &[("csrf_token", csrf.clone()), ("role", "sales".into())]).await;
        assert_eq!(status, 303);
        assert!(html.contains("Nothing to change for Nina"), "{html}");
        assert_eq!(audited().await, 0, "nothing written");
        // A change is saved, and said so.
        let (status, html) = post_form(url, &cookie, &[("csrf_token", csrf), ("role", "finance".into())]).await;
        assert_eq!(status, 303);
        assert!(html.contains(&format!("Saved Nina ({}): finance, active.", nina.email)), "{html}");
        assert_eq!(audited().await, 1);
        app.stop().await;
    }
}

both_backends! {
    /// Every login leaves a session or an API token row: those that ended
    /// (expired, or revoked) more than 30 days ago are deleted, as the mail
    /// worker asks hourly; those ended since, and those in use, are kept.
    async fn sessions_and_tokens_that_ended_long_ago_are_deleted(backend: Backend) {
        use pricegate_store::entity::{api_tokens, sessions};
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let app = TestApp::spawn(backend).await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let ago = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
        let mut browsers = Vec::new();
        let mut tokens = Vec::new();
        for _ in 0..4 {
            let cookie = session_cookie(&app.base, &sam.email).await;
            browsers.push(cookie.trim_start_matches("pricegate_session=").to_owned());
            let login = json!({"email": sam.email, "password": PASSWORD});
            let r = app.anonymous().post("/api/v1/auth/token", &login).await;
            tokens.push(r.body["token"].as_str().expect("a token").to_owned());
        }
        let db = app.store.connection();
        // Revoked 31 days ago, expired 31 days ago, revoked 29 days ago; the fourth in use.
        for (i, (column, days)) in [("revoked_at", 31), ("expires_at", 31), ("revoked_at", 29)].into_iter().enumerate() {
            let (session, token) = (pricegate_store::hash_token(&browsers[i]), pricegate_store::hash_token(&tokens[i]));
            let (s, t) = match column {
                "revoked_at" => (sessions::Column::RevokedAt, api_tokens::Column::RevokedAt),
                _ => (sessions::Column::ExpiresAt, api_tokens::Column::ExpiresAt),
            };
            let at = Expr::value(ago(days));
            sessions::Entity::update_many().col_expr(s, at.clone()).filter(sessions::Column::TokenHash.eq(session)).exec(db).await.unwrap();
            api_tokens::Entity::update_many().col_expr(t, at).filter(api_tokens::Column::TokenHash.eq(token)).exec(db).await.unwrap();
        }
        assert_eq!(app.store.forget_ended_sessions().await.expect("forgotten"), 4, "two sessions, two tokens");
        assert_eq!(app.store.forget_ended_sessions().await.expect("again"), 0);
        let kept: Vec<String> = sessions::Entity::find().all(db).await.unwrap().into_iter().map(|s| s.token_hash).collect();
        let expected: Vec<String> = browsers[2..].iter().map(|t| pricegate_store::hash_token(t)).collect();
        assert!(expected.iter().all(|h| kept.contains(h)) && kept.len() == 2, "{kept:?}");
        assert_eq!(api_tokens::Entity::find().all(db).await.unwrap().len(), 3, "the two kept, and the one `app.user` made");
        let r = Session::new(&app.base, Some(tokens[3].clone())).get("/api/v1/me").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

both_backends! {
    /// Someone who cannot log in asks an administrator: the users page says
    /// they are held off after failed logins, until when, and what lets them
    /// in; a password set there lifts the hold, and the page says no more.
    async fn the_users_page_says_who_failed_logins_hold_off_and_until_when(backend: Backend) {
        use pricegate_tests::pages::page_as;
        let app = TestApp::spawn(backend).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let (_, sue) = app.user(Role::Sales, "Sue").await;
        let wrong = |email: &str| json!({"email": email, "password": "not the password at all"});
        for _ in 0..pricegate_store::MAX_FAILURES {
            assert_eq!(app.anonymous().post("/api/v1/auth/token", &wrong(&sam.email)).await.status, 401);
        }
        for _ in 1..pricegate_store::MAX_FAILURES {
            assert_eq!(app.anonymous().post("/api/v1/auth/token", &wrong(&sue.email)).await.status, 401);
        }
        let login = json!({"email": sam.email, "password": PASSWORD});
        assert_error(&app.anonymous().post("/api/v1/auth/token", &login).await, 429, "too_many_attempts");

        let html = page_as(&app.base, &ada.email, "/admin/users").await;
        let held = format!("id=\"held-{}\"", sam.id);
        let said = "Held off after failed logins (5 in the last 15 minutes) from 1 address until";
        assert!(html.contains(&held) && html.contains(said), "{html}");
        assert!(html.contains("A password set here, or one they choose by a link, lets them in at once."), "{html}");
        assert!(!html.contains(&format!("id=\"held-{}\"", sue.id)), "four failures hold nobody off: {html}");

        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"password": "a new one for Sam"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let html = page_as(&app.base, &ada.email, "/admin/users").await;
        assert!(!html.contains(&held) && !html.contains("Held off"), "the hold is lifted: {html}");
    }
}

/// Each login sweeps out the failures older than the window it counts, but
/// does not wait for one another transaction holds (a sweep at the same
/// moment, an administrator's new password lifting an account's holds): a
/// later sweep takes it. PostgreSQL, where the two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_does_not_wait_for_an_expired_failure_another_transaction_holds() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(pricegate_tests::Backend::Postgres).await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let id = uuid::Uuid::new_v4();
    let expired = format!(
        "INSERT INTO login_failures (id, key_hash, at, in_flight) VALUES ('{id}', 'gone', now() - interval '1 hour', false)"
    );
    other.execute_unprepared(&expired).await.expect("an expired failure");
    let holding = other.begin().await.expect("a transaction");
    holding.execute_unprepared(&format!("SELECT id FROM login_failures WHERE id = '{id}' FOR UPDATE")).await.unwrap();
    let anon = Session::new(&app.base, None);
    let log_in = |password: &'static str| {
        let body = json!({"email": sam.email, "password": password});
        let anon = anon.clone();
        async move { anon.post("/api/v1/auth/token", &body).await }
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), log_in(PASSWORD))
        .await
        .expect("the login answers while the expired row is held");
    assert_eq!(r.status, 200, "{}", r.text);
    holding.commit().await.expect("let go");
    assert_error(&log_in("not it").await, 401, "invalid_credentials");
    let left = other
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT count(*) FROM login_failures WHERE id = '{id}'"),
        ))
        .await
        .expect("a count")
        .and_then(|row| row.try_get_by_index::<i64>(0).ok());
    assert_eq!(left, Some(0), "swept by the next login once let go");
    other.close().await.ok();
    app.stop().await;
}

/// Deactivating someone ends their live sessions and API tokens, not those
/// already expired, which the hourly purge of ones ended a month ago may be
/// deleting at that moment: the deactivation does not wait for it (nor,
/// with a second such row in the other order, deadlock with it).
/// PostgreSQL, where the two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_does_not_wait_for_the_purge_of_the_person_s_old_tokens() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(pricegate_tests::Backend::Postgres).await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let expire = format!("UPDATE api_tokens SET expires_at = now() - interval '31 days' WHERE user_id = '{}'", sam.id);
    other.execute_unprepared(&expire).await.expect("Sam's first token ended a month ago");
    let sams = app.login(&sam.email, PASSWORD).await;
    assert_eq!(sams.get("/api/v1/me").await.status, 200);
    // The purge, under way.
    let purging = other.begin().await.expect("a transaction");
    let purge =
        format!("DELETE FROM api_tokens WHERE user_id = '{}' AND expires_at < now() - interval '30 days'", sam.id);
    let purged = purging.execute_unprepared(&purge).await.expect("the purge");
    assert_eq!(purged.rows_affected(), 1);
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"active": false})),
    )
    .await
    .expect("the deactivation answers while the purge is under way");
    assert_eq!(r.status, 200, "{}", r.text);
    purging.commit().await.expect("the purge ends");
    assert_eq!(sams.get("/api/v1/me").await.status, 401);
    let revoked = other
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT count(*) FROM api_tokens WHERE user_id = '{}' AND revoked_at IS NOT NULL", sam.id),
        ))
        .await
        .expect("a count")
        .and_then(|row| row.try_get_by_index::<i64>(0).ok());
    assert_eq!(revoked, Some(1), "the live token ended with the deactivation, the old one purged");
    other.close().await.ok();
    app.stop().await;
}
