//! Every way a request can be wrong gets a clear 4xx with the error body,
//! never a 5xx; and the service describes itself.

use pricegate_domain::Role;
use pricegate_tests::fixtures::{api_routes, assert_error, assert_error_shape, field, send_raw};
use pricegate_tests::{TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

const JSON: Option<&str> = Some("application/json");

both_backends! {
    /// A request that takes no body is refused one it would ignore: a client
    /// acknowledging "for" someone else is told, and nothing is recorded.
    async fn a_body_sent_where_none_is_taken_is_refused_not_ignored(backend: Backend) {
        use pricegate_tests::fixtures::{create_notice, publish_notice};
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sara, _) = app.user(Role::Sales, "Sara").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let notice = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &notice).await;
        let path = format!("/api/v1/notices/{notice}/acknowledge");
        let on_behalf = json!({"user_id": sam.id}).to_string();
        for (content_type, body) in [(JSON, on_behalf.clone()), (Some("text/plain"), "hello".into()), (None, "[]".into())] {
            let r = send_raw(&sara, Method::POST, &path, content_type, body.clone()).await;
            assert_error(&r, 422, "invalid_body");
            assert!(r.text.contains(&format!("POST {path} takes no body")), "{}", r.text);
        }
        let acks = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
        assert_eq!(acks["acknowledged"], json!([]), "nothing recorded: {acks}");
        let outbox = admin.get("/api/v1/outbox").await.body;
        let r = send_raw(&admin, Method::POST, &format!("/api/v1/users/{}/password-link", sam.id), Some("text/plain"), "hello").await;
        assert_error(&r, 422, "invalid_body");
        assert_eq!(admin.get("/api/v1/outbox").await.body, outbox, "no e-mail to Sam");
        // None, an empty object, or null: taken.
        for (content_type, body) in [(None, ""), (JSON, "{}"), (JSON, " { } "), (JSON, "null")] {
            let r = send_raw(&sara, Method::POST, &path, content_type, body).await;
            assert_eq!(r.status, 200, "{body:?}: {}", r.text);
        }
    }
}

both_backends! {
    async fn malformed_json_is_a_400_and_the_wrong_shape_a_422(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        // Broken after a field of the wrong shape too: the body is not JSON.
        for body in ["{\"title\": ", "not json", "", "{\"title\":\"a\",}", "{\"tilte\":", "{} x", "{\"title\": 5} x"] {
            let r = send_raw(&finance, Method::POST, "/api/v1/notices", JSON, body).await;
            assert_error(&r, 400, "malformed_json");
            assert!(!r.text.contains("Failed to parse"), "in the API's words, once: {}", r.text);
        }
        for blank in ["", "\n", " \r\n\t "] {
            let r = send_raw(&finance, Method::POST, "/api/v1/notices", JSON, blank).await;
            assert_eq!(r.body["error"]["message"], "The body is not valid JSON: the body is empty.", "{blank:?}");
        }
        // Each names the field it is about, where there is one.
        for (body, named) in [
            (json!({"title": 5, "body": "b"}), Some("title")),
            (json!({"body": "b"}), Some("title")),
            (json!({"title": "t", "body": "b", "colour": "red"}), Some("colour")),
            (json!({"title": "t", "body": "b", "changes": "none"}), Some("changes")),
            (json!({"title": "t", "body": "b", "changes": [{"sku": "P", "unit_price_minor": "12", "effective_on": "2026-12-01"}]}), Some("changes[0].unit_price_minor")),
            (json!([1, 2]), None),
            (json!(null), None),
        ] {
            let r = finance.post("/api/v1/notices", &body).await;
            assert_error(&r, 422, "invalid_body");
            assert_eq!(r.body["error"]["field"].as_str(), named, "{}", r.text);
        }
        let r = finance
            .post("/api/v1/products", &json!({"sku": "P", "name": "n", "unit": "u", "currency": "EUR", "unit_price_minor": 1.5}))
            .await;
        assert_error(&r, 422, "invalid_body");
        assert!(r.text.contains("expected a whole number"), "in the API's words: {}", r.text);
        // A body that is not an object says so, not what its first element is.
        for (body, what) in [
            (json!("a notice"), "a string"),
            (json!([{"sku": "P", "name": "n", "unit": "u", "currency": "EUR", "unit_price_minor": 1}]), "a list"),
            (json!([]), "a list"),
            (json!(12), "a number"),
        ] {
            let r = finance.post("/api/v1/products", &body).await;
            assert_error(&r, 422, "invalid_body");
            let expected = format!("The body must be a JSON object ({{\"name\": value, …}}); this one is {what}.");
            assert_eq!(r.body["error"]["message"], expected.as_str(), "{body}");
        }
        assert_eq!(finance.get("/api/v1/products").await.body, json!([]), "no product was made of a list");
        // Nor is an object inside the body read from a list, its fields in
        // order: a price change as a list is refused, not taken by position.
        for changes in [json!([["P", 123, "2027-01-03"]]), json!([[]])] {
            let r = finance.post("/api/v1/notices", &json!({"title": "t", "body": "b", "changes": changes})).await;
            assert_error(&r, 422, "invalid_body");
            assert_eq!(field(&r), "changes[0]", "{}", r.text);
            assert!(r.text.contains("expected a JSON object"), "{}", r.text);
        }
        let r = finance.patch("/api/v1/notices/00000000-0000-4000-8000-000000000000", &json!({"changes": [["P", 1, "2027-01-03"]]})).await;
        assert_error(&r, 422, "invalid_body");
        // A string that is not text (bytes that are not UTF-8, half of a
        // surrogate pair) makes the body not JSON, after a field of the wrong shape too.
        for body in [&b"{\"zz\":1,\"title\":\"a\xffb\"}"[..], br#"{"zz":1,"title":"a\ud800x"}"#] {
            let r = finance.request(Method::POST, "/api/v1/notices").header("content-type", "application/json").body(body.to_vec()).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_eq!((status, body["error"]["code"].as_str()), (400, Some("malformed_json")), "{body}");
        }
        // A title is one line; a body may be several.
        let r = finance.post("/api/v1/notices", &json!({"title": "Pumps\nand valves", "body": "b"})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "title");
        let r = finance
            .post("/api/v1/products", &json!({"sku": "P", "name": "n", "unit": "u", "currency": "EUR", "unit_price_minor": 1e30}))
            .await;
        assert_error(&r, 422, "invalid_body");
        assert_eq!(field(&r), "unit_price_minor");
        assert!(r.text.contains("the number 1e+30 is too large"), "not a float: {}", r.text);
        let r = finance
            .post("/api/v1/products", &json!({"sku": "P", "name": "n", "unit": "u", "currency": "EUR", "unit_price_minor": u64::MAX}))
            .await;
        assert_error(&r, 422, "invalid_body");
        assert!(r.text.contains(&format!("the number {} is too large", u64::MAX)), "{}", r.text);
        // Beyond any float, the number stops the parser; the body is still JSON.
        let beyond = r#"{"sku":"P","name":"n","unit":"u","currency":"EUR","unit_price_minor":1e400}"#;
        let r = send_raw(&finance, Method::POST, "/api/v1/products", JSON, beyond).await;
        assert_error(&r, 422, "invalid_body");
        assert!(r.text.contains("unit_price_minor: a number at line 1 column") && r.text.contains("is too large"), "{}", r.text);
        assert_eq!(field(&r), "unit_price_minor");
        // A field given twice is named.
        let twice = r#"{"title":"t","body":"b","title":"u"}"#;
        let r = send_raw(&finance, Method::POST, "/api/v1/notices", JSON, twice).await;
        assert_error(&r, 422, "invalid_body");
        assert_eq!(field(&r), "title");
        assert_eq!(finance.get("/api/v1/products").await.body, json!([]));
        assert_eq!(finance.get("/api/v1/notices").await.body, json!([]));
    }
}

both_backends! {
    /// A body is read as sent, or refused: compressed, it would read as
    /// garbled JSON (or, not compressed after all, be taken as is); in
    /// another charset, as broken text; with two media types, only the
    /// first would count. Nothing is written.
    async fn a_compressed_body_one_in_another_charset_or_one_of_two_media_types_is_refused(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let body = r#"{"title":"t","body":"b"}"#;
        for coding in ["gzip", "br", "identity, gzip"] {
            let request = finance.request(Method::POST, "/api/v1/notices").header("content-type", "application/json");
            let r = finance.send(request.header("content-encoding", coding).body(body)).await;
            assert_error(&r, 415, "unsupported_encoding");
            assert!(r.text.contains("send it uncompressed"), "{}", r.text);
        }
        let csv = "sku,name,unit,currency,unit_price_minor\nP-1,Pump,each,EUR,100\n";
        let request = finance.request(Method::POST, "/api/v1/products/import").header("content-type", "text/csv");
        assert_error(&finance.send(request.header("content-encoding", "gzip").body(csv)).await, 415, "unsupported_encoding");
        // Another charset than UTF-8 would be read as UTF-8 all the same: refused, and said.
        for (kind, path, sent) in [("application/json", "/api/v1/notices", body), ("text/csv", "/api/v1/products/import", csv)] {
            let request = finance.request(Method::POST, path).header("content-type", format!("{kind}; charset=ISO-8859-1"));
            let r = finance.send(request.body(sent)).await;
            assert_error(&r, 415, "unsupported_charset");
            assert!(r.text.contains("charset=ISO-8859-1; send it as UTF-8"), "{}", r.text);
        }
        // Of a body that is not read, none is asked.
        let request = finance.request(Method::POST, &format!("/api/v1/notices/{}/publish", uuid::Uuid::new_v4()));
        let r = finance.send(request.header("content-type", "text/plain; charset=ISO-8859-1")).await;
        assert_error(&r, 404, "not_found");
        for types in [["text/plain", "application/json"], ["application/json", "text/plain"]] {
            let request = finance.request(Method::POST, "/api/v1/notices").header("content-type", types[0]);
            let r = finance.send(request.header("content-type", types[1]).body(body)).await;
            assert_error(&r, 400, "duplicate_header");
        }
        assert_eq!(finance.get("/api/v1/notices").await.body, json!([]));
        assert_eq!(finance.get("/api/v1/products").await.body, json!([]));
        // Said to be as it is, a body is taken.
        let request = finance.request(Method::POST, "/api/v1/notices").header("content-type", "application/json");
        let r = finance.send(request.header("content-encoding", "identity").body(body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let request = finance.request(Method::POST, "/api/v1/notices").header("content-type", "application/json; charset=\"UTF-8\"");
        assert_eq!(finance.send(request.body(body)).await.status, 201, "UTF-8 named is UTF-8");
        let request = finance.request(Method::POST, "/api/v1/notices").header("content-type", "application/json; charset=us-ascii");
        assert_eq!(finance.send(request.body(body)).await.status, 201, "ASCII is UTF-8's first part");
    }
}

both_backends! {
    async fn a_body_without_a_json_content_type_is_unsupported(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let body = r#"{"title":"t","body":"b"}"#;
        for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let r = send_raw(&finance, Method::POST, "/api/v1/notices", content_type, body).await;
            assert_error(&r, 415, "unsupported_media_type");
        }
        let r = send_raw(&finance, Method::POST, "/api/v1/notices", Some("application/json; charset=utf-8"), body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

both_backends! {
    async fn a_body_over_256_kib_is_too_large_and_an_over_long_field_is_invalid(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let huge = json!({"title": "t", "body": "x".repeat(256 * 1024)});
        assert_error(&finance.post("/api/v1/notices", &huge).await, 413, "body_too_large");
        let huge = json!({"email": "a@b.c", "password": "x".repeat(300 * 1024)});
        assert_error(&app.anonymous().post("/api/v1/auth/token", &huge).await, 413, "body_too_large");
        let huge = json!({"customer": {"name": "x".repeat(3 * 1024 * 1024), "email": "a@b.c"}, "currency": "EUR", "valid_until": "2099-01-01", "lines": []});
        assert_error(&sam.post("/api/v1/quotes", &huge).await, 413, "body_too_large");

        let r = finance.post("/api/v1/notices", &json!({"title": "t", "body": "x".repeat(20_001)})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "body");
        let r = finance.post("/api/v1/notices", &json!({"title": "t".repeat(20_001), "body": "b"})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "title");
        let r = finance.post("/api/v1/notices", &json!({"title": "t", "body": "x".repeat(20_000)})).await;
        assert_eq!(r.status, 201, "exactly at the limit is fine: {}", r.text);
    }
}

both_backends! {
    async fn deeply_nested_json_is_refused_without_a_server_error(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        for body in ["[".repeat(10_000), "{\"a\":".repeat(10_000), format!("{{\"title\":\"t\",\"body\":\"b\",\"changes\":{}", "[".repeat(10_000))] {
            let r = send_raw(&finance, Method::POST, "/api/v1/notices", JSON, body).await;
            assert!(r.status.is_client_error(), "{}: {}", r.status, r.text);
            assert_error_shape(&r);
        }
        assert_eq!(finance.get("/healthz").await.status, 200, "the server is still up");
    }
}

both_backends! {
    async fn ids_in_the_path_must_be_uuids_and_unknown_ids_are_not_found(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        for bad in ["42", "not-a-uuid", "%FF%FE", "00000000-0000-0000-0000-00000000000g"] {
            assert_error(&finance.get(&format!("/api/v1/quotes/{bad}")).await, 400, "invalid_id");
            assert_error(&finance.get(&format!("/api/v1/notices/{bad}")).await, 400, "invalid_id");
            assert_error(&sam.post_empty(&format!("/api/v1/quotes/{bad}/finalise")).await, 400, "invalid_id");
            assert_error(&admin.patch(&format!("/api/v1/users/{bad}"), &json!({"name": "x"})).await, 400, "invalid_id");
        }
        let unknown = uuid::Uuid::new_v4();
        for r in [
            finance.get(&format!("/api/v1/quotes/{unknown}")).await,
            finance.get(&format!("/api/v1/quotes/{unknown}/gate")).await,
            finance.get(&format!("/api/v1/notices/{unknown}")).await,
            finance.patch(&format!("/api/v1/notices/{unknown}"), &json!({"title": "x"})).await,
            finance.post(&format!("/api/v1/quotes/{unknown}/override"), &json!({"reason": "x"})).await,
            sam.post_empty(&format!("/api/v1/quotes/{unknown}/finalise")).await,
            sam.post_empty(&format!("/api/v1/quotes/{unknown}/reprice")).await,
            sam.post_empty(&format!("/api/v1/quotes/{unknown}/cancel")).await,
            sam.patch(&format!("/api/v1/quotes/{unknown}"), &json!({"notes": "x"})).await,
            sam.post_empty(&format!("/api/v1/notices/{unknown}/acknowledge")).await,
            sam.get(&format!("/api/v1/quotes/{unknown}/upcoming-prices")).await,
            sam.get(&format!("/api/v1/products/{unknown}")).await,
            finance.get(&format!("/api/v1/users/{unknown}")).await,
        ] {
            assert_error(&r, 404, "not_found");
        }
        // A known one reads as the list shows it.
        let product = pricegate_tests::fixtures::create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = product["id"].as_str().expect("an id");
        let r = sam.get(&format!("/api/v1/products/{id}")).await;
        assert_eq!((r.status.as_u16(), &r.body), (200, &sam.get("/api/v1/products").await.body[0]), "{}", r.text);
        let r = finance.get(&format!("/api/v1/users/{}", sam_user.id)).await;
        assert_eq!((r.status.as_u16(), &r.body["email"]), (200, &json!(sam_user.email)), "{}", r.text);
    }
}

both_backends! {
    async fn unknown_routes_and_wrong_methods_answer_in_json(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        for path in ["/api/v1/nothing", "/api/v2/quotes", "/no-such-page", "/api/v1/quotes/1/2/3"] {
            assert_error(&finance.get(path).await, 404, "not_found");
        }
        for (method, path) in [
            (Method::DELETE, "/api/v1/products"),
            (Method::PUT, "/api/v1/notices"),
            (Method::GET, "/api/v1/auth/token"),
            (Method::GET, "/api/v1/products/import"),
            (Method::POST, "/healthz"),
            (Method::DELETE, "/api/v1/quotes/00000000-0000-0000-0000-000000000000"),
        ] {
            let r = finance.send(finance.request(method.clone(), path)).await;
            assert_error(&r, 405, "method_not_allowed");
        }
        for path in ["/api/v1/quotes?colour=red", "/api/v1/me?zzz=1"] {
            assert_error(&finance.get(path).await, 400, "invalid_query");
        }
        // A NUL would be PostgreSQL's error; it is the caller's, named as such.
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        for path in ["/api/v1/audit?action=%00", "/api/v1/audit?action=quote%00", "/api/v1/outbox?state=%00"] {
            assert_error(&admin.get(path).await, 400, "invalid_query");
        }
        // Nor is a value decoded with replacement characters what was sent.
        for (who, path, said) in [
            (&finance, "/api/v1/quotes?search=%ff", "not UTF-8"),
            (&admin, "/api/v1/audit?action=%C3", "not UTF-8"),
            (&finance, "/api/v1/quotes?search=%", "starts no escape"),
            (&admin, "/api/v1/outbox?to=a%2", "starts no escape"),
        ] {
            let r = who.get(path).await;
            assert_error(&r, 400, "invalid_query");
            assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains(said)), "{path}: {}", r.body);
        }
        assert_eq!(finance.get("/api/v1/quotes?search=%C3%B6ko%20").await.status, 200, "well encoded");
        // An action no entry is written with is said, not answered with an empty list.
        let r = admin.get("/api/v1/audit?action=quote.finalized").await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(r.body["error"]["field"], "action", "{}", r.body);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("“quote.finalized”")), "{}", r.body);
        assert_eq!(admin.get("/api/v1/audit?action=quote.finalised").await.status, 200);
        assert_eq!(admin.get("/api/v1/audit?action=settings.updated").await.status, 200, "written by an earlier version");
        assert_eq!(admin.get("/api/v1/audit?action=").await.body, admin.get("/api/v1/audit").await.body, "empty is no filter");
        // Lists that take no parameters say so, rather than answer as if heard.
        for path in ["/api/v1/products?limit=5", "/api/v1/notices?before=x", "/api/v1/products?sku=PUMP-1"] {
            assert_error(&finance.get(path).await, 400, "invalid_query");
        }
        // Nor do the reads of one thing.
        let unknown = "00000000-0000-0000-0000-000000000000";
        for path in ["quotes/{id}", "quotes/{id}/gate", "quotes/{id}/upcoming-prices", "notices/{id}", "products/{id}", "users/{id}"] {
            let path = format!("/api/v1/{}?x=%00", path.replace("{id}", unknown));
            assert_error(&finance.get(&path).await, 400, "invalid_query");
        }
        let r = finance.get("/api/v1/products?limit=5").await;
        assert_eq!(r.body["error"]["message"], "The query string is invalid: limit is not a parameter here: this takes none.");
        // A change takes none: a dry run asked for is refused, not made for real.
        let csv = "sku,name,unit,currency,unit_price_minor\nTRIAL-1,Trial,each,EUR,100\n";
        let r = send_raw(&finance, Method::POST, "/api/v1/products/import?dry_run=true", Some("text/csv"), csv).await;
        assert_error(&r, 400, "invalid_query");
        assert_eq!(r.body["error"]["message"], "A POST request takes no query parameters here: nothing was changed.");
        let r = admin.send(admin.request(Method::PATCH, "/api/v1/users/00000000-0000-0000-0000-000000000000?x=1")).await;
        assert_error(&r, 400, "invalid_query");
        // Only once the caller may make the change at all: the wrong role, or nobody, is told that first.
        let r = finance.send(finance.request(Method::PATCH, "/api/v1/users/00000000-0000-0000-0000-000000000000?x=1")).await;
        assert_error(&r, 403, "forbidden");
        let r = send_raw(&app.anonymous(), Method::POST, "/api/v1/products/import?dry_run=true", Some("text/csv"), csv).await;
        assert_error(&r, 401, "unauthenticated");
        assert_eq!(finance.get("/api/v1/products").await.body, json!([]), "nothing was imported");
        let r = send_raw(&finance, Method::POST, "/api/v1/products/import?", Some("text/csv"), csv).await;
        assert_eq!(r.status, 201, "an empty query is none: {}", r.text);

        // A browser gets pages: an unknown address is a page saying so, and a
        // form's address opened (reloaded, bookmarked) leads to its page.
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let page = |path: &str| browser.get(format!("{}{path}", app.base)).header("accept", html).send();
        let r = page("/no-such-page").await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(r.text().await.unwrap().contains("There is nothing at this address"));
        // A page's address with a slash after it is that page, query kept; the API's are exact.
        for (typed, to) in [("/quotes/", "/quotes"), ("/quotes//?state=finalised", "/quotes?state=finalised")] {
            let r = page(typed).await.unwrap();
            assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (308, to), "{typed}");
        }
        for stays in ["//example.com/", "/api/v1/quotes/"] {
            assert_eq!(page(stays).await.unwrap().status(), 404, "{stays}");
        }
        let quote = "/quotes/00000000-0000-0000-0000-000000000000";
        let r = page(&format!("{quote}/reprice")).await.unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, quote));
        // The finalisation's address is its confirmation page: the login leads back to it.
        let r = page(&format!("{quote}/finalise")).await.unwrap();
        let login = format!("/login?next={quote}/finalise");
        assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, login.as_str()));
        // Logged out, a quote's address that is not even text leads to the login like any other.
        let r = page("/quotes/%ff").await.unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login"));
        let r = page("/admin/users/00000000-0000-0000-0000-000000000000").await.unwrap();
        assert_eq!(r.headers()["location"], "/admin/users");
        // Another method on a page's address: a page saying so, not the API's JSON.
        let r = browser.put(format!("{}/quotes", app.base)).header("accept", html).send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        for header in ["content-security-policy", "referrer-policy", "x-frame-options"] {
            assert!(r.headers().contains_key(header), "every page's headers: {header} missing");
        }
        assert!(r.text().await.unwrap().contains("This address does not accept that kind of request."));
        // The API answers in JSON whatever the client accepts.
        let r = page("/api/v1/nothing").await.unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (404, "application/json"));
    }
}

both_backends! {
    async fn no_route_answers_garbage_with_a_server_error(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let garbage: [(Option<&str>, &[u8]); 5] = [
            (JSON, b"{}"),
            (JSON, b"{\"\xff\": 1}"),
            (JSON, b"\x00\x00\x00"),
            (Some("text/csv"), b"\xff\xfe"),
            (None, b""),
        ];
        let id = uuid::Uuid::new_v4().to_string();
        // Logging out would end the sessions the loop needs.
        for route in api_routes().iter().filter(|r| (r.method, r.path) != ("DELETE", "/api/v1/auth/token")) {
            let (method, template) = (route.method, route.path);
            let path = template.replace("{id}", &id);
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            for session in [&finance, &sam, &admin] {
                for (content_type, body) in &garbage {
                    let r = send_raw(session, method.clone(), &path, *content_type, body.to_vec()).await;
                    assert!(!r.status.is_server_error(), "{method} {path}: {} {}", r.status, r.text);
                    if !r.status.is_success() && r.status != 204 {
                        assert_error_shape(&r);
                    }
                }
            }
        }
    }
}

both_backends! {
    async fn health_openapi_and_docs_are_served(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let anon = app.anonymous();
        let r = anon.get("/healthz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, json!({"status": "ok"}));

        let r = anon.get("/api/v1/openapi.json").await;
        assert_eq!(r.status, 200);
        assert!(r.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", r.text);
        // The strings the API writes from a fixed set are listed as such, and
        // every schema a document names is in it.
        let schemas = &r.body["components"]["schemas"];
        for (schema, field, values) in [
            ("UserView", "role", json!(["sales", "finance", "admin"])),
            ("QuoteView", "state", json!(["draft", "finalised", "cancelled"])),
            ("NoticeView", "state", json!(["draft", "published"])),
            ("OutboxView", "state", json!(["pending", "sent", "failed", "skipped"])),
            ("AckView", "channel", json!(["web", "email", "api"])),
        ] {
            let named = schemas[schema]["properties"][field]["$ref"].as_str().unwrap_or_default();
            let listed = &schemas[named.trim_start_matches("#/components/schemas/")]["enum"];
            assert_eq!(listed, &values, "{schema}.{field}: {named}");
        }
        for named in r.text.split("\"#/components/schemas/").skip(1).filter_map(|rest| rest.split('"').next()) {
            assert!(schemas.get(named).is_some(), "{named} is named but not in the document");
        }
        let paths = r.body["paths"].as_object().expect("paths");
        for path in ["/api/v1/quotes", "/api/v1/notices"] {
            let named: Vec<&str> = paths[path]["post"]["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
            assert_eq!(named, ["Idempotency-Key"], "POST {path} takes a key for sending it again");
        }
        // The bounds a body's numbers are held to, for a client to check before sending.
        for (schema, field, bounds) in [
            ("LineIn", "quantity", (1_i64, 1_000_000_i64)),
            ("LineIn", "discount_bp", (0, 10_000)),
            ("ProductIn", "unit_price_minor", (0, 10_000_000_000)),
            ("ChangeIn", "unit_price_minor", (0, 10_000_000_000)),
        ] {
            let property = &r.body["components"]["schemas"][schema]["properties"][field];
            assert_eq!((&property["minimum"], &property["maximum"]), (&json!(bounds.0), &json!(bounds.1)), "{schema}.{field}: {property}");
        }
        for route in api_routes() {
            let (method, template) = (route.method, route.path);
            let operation: &Value = &paths.get(template).unwrap_or_else(|| panic!("{template} is not documented"))[method.to_lowercase()];
            assert!(operation.is_object(), "{method} {template} is not documented");
            // A parameter said to be in the path must be in it: client generators build URLs from this.
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                match parameter["in"].as_str() {
                    Some("path") => assert!(template.contains(&format!("{{{name}}}")), "{method} {template}: {name} is no path parameter"),
                    Some("query") => {
                        assert_ne!(parameter["required"], json!(true), "{method} {template}: {name} is optional");
                        // The bounds the server enforces, so that a client can too.
                        if name == "limit" {
                            let schema = &parameter["schema"];
                            assert_eq!((&schema["minimum"], &schema["maximum"]), (&json!(1), &json!(1000)), "{method} {template}");
                        }
                    }
                    // A precondition, or a POST's key for sending it again: optional, for the client to add.
                    Some("header") => {
                        let expected = if method == "POST" && !template.contains('{') { "Idempotency-Key" } else { "If-Match" };
                        assert_eq!(name, expected, "{method} {template}: the one header parameter");
                        assert_ne!(parameter["required"], json!(true), "{method} {template}: {name} is optional");
                    }
                    other => panic!("{method} {template}: {name} in {other:?}"),
                }
            }
        }

        // Every answer is described, as OpenAPI requires: generators and
        // validators refuse a document without.
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().into_iter().flatten() {
                for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                    let said = response["description"].as_str().unwrap_or_default();
                    assert!(!said.is_empty(), "{method} {path} {status}: {response}");
                }
            }
        }
        // Every member an error body may carry is described.
        let detail = &r.body["components"]["schemas"]["ErrorDetail"]["properties"];
        for member in ["code", "message", "field", "pending", "superseded", "errors"] {
            assert!(detail[member].is_object(), "ErrorDetail.{member}: {detail}");
        }

        let r = anon.get("/api/docs/").await;
        assert_eq!(r.status, 200);
        assert!(r.text.to_lowercase().contains("<html"), "{}", r.text);
        // An address under it with no file: the service's own 404, as at
        // any address under /api/, not an empty one.
        assert_error(&anon.get("/api/docs/nonexistent.js").await, 404, "not_found");
        let page = reqwest::Client::new()
            .get(format!("{}/api/docs/x", app.base))
            .header("accept", "text/html")
            .send()
            .await
            .expect("an answer");
        assert_eq!(page.status().as_u16(), 404);
        assert!(page.text().await.unwrap_or_default().contains("\"code\":\"not_found\""));
    }
}

/// `body` (an object, or a list of them) against the schema `schema` of
/// `document`: every member the schema marks required is there, and every
/// member the answer writes, `null` or not, is marked required, so that a
/// client generated from the document need not guess which may be left out.
fn written_as_documented(document: &Value, schema: &str, body: &Value) {
    let described = &document["components"]["schemas"][schema];
    let properties = described["properties"].as_object().unwrap_or_else(|| panic!("{schema} has properties"));
    let required: Vec<&str> =
        described["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let items: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        item => vec![item],
    };
    assert!(!items.is_empty(), "{schema}: an answer to check");
    for item in items {
        let members = item.as_object().unwrap_or_else(|| panic!("{schema}: an object, not {item}"));
        for name in &required {
            assert!(members.contains_key(*name), "{schema}.{name} is required, and missing from {item}");
        }
        for (name, value) in members {
            assert!(properties.contains_key(name), "{schema}.{name} is written ({value}) and not described");
            assert!(
                required.contains(&name.as_str()),
                "{schema}.{name} is always written ({value}), not marked required"
            );
        }
    }
}

both_backends! {
    /// What the API writes is what its document says it writes: the members
    /// of a user, a product, a notice, a quote, its gate, an acknowledgement,
    /// an audit entry and the settings, each always there (`null` where it
    /// has no value yet) and marked required.
    async fn every_member_an_answer_writes_is_marked_required_in_its_schema(backend: Backend) {
        use pricegate_tests::fixtures::{create_notice, create_product, draft_quote, publish_notice};
        let app = TestApp::spawn(backend).await;
        let document = app.anonymous().get("/api/v1/openapi.json").await.body;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let quote = draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await;
        let quote = quote["id"].as_str().expect("a quote id").to_owned();
        let published = create_notice(&finance, "Pumps up", json!([{"sku": "PUMP-1", "unit_price_minor": 260_000, "effective_on": "2099-01-01"}])).await;
        publish_notice(&finance, &published).await;
        create_notice(&finance, "Still a draft", json!([])).await;
        let r = sam.post_empty(&format!("/api/v1/notices/{published}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);

        let answers = [
            ("UserView", admin.get("/api/v1/users").await),
            ("ProductView", finance.get("/api/v1/products").await),
            ("NoticeView", finance.get("/api/v1/notices").await),
            ("QuoteView", sam.get(&format!("/api/v1/quotes/{quote}")).await),
            ("GateView", sam.get(&format!("/api/v1/quotes/{quote}/gate")).await),
            ("AuditView", finance.get("/api/v1/audit").await),
            ("SettingsView", admin.get("/api/v1/settings").await),
        ];
        for (schema, r) in &answers {
            assert_eq!(r.status, 200, "{schema}: {}", r.text);
            written_as_documented(&document, schema, &r.body);
        }
        let r = finance.get(&format!("/api/v1/notices/{published}/acknowledgements")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        written_as_documented(&document, "AcknowledgedBy", &r.body["acknowledged"]);
    }
}

/// A request with `extra` header fields of `size` bytes each, as `sam`.
async fn with_headers(
    sam: &pricegate_tests::Session,
    path: &str,
    extra: usize,
    size: usize,
) -> pricegate_tests::Response {
    let mut request = sam.request(Method::GET, path);
    for i in 0..extra {
        request = request.header(format!("x-filler-{i}"), "v".repeat(size));
    }
    sam.send(request).await
}

/// The status of `GET /api/v1/me` sent as written, with `fields` header
/// fields in all (`Host`, `Authorization` and `Connection` among them).
async fn status_with_fields(app: &TestApp, token: &str, fields: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut head =
        format!("GET /api/v1/me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n");
    for i in 3..fields {
        head.push_str(&format!("X-Filler-{i}: v\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read the answer");
    String::from_utf8_lossy(&answer).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_address_or_oversized_headers_get_the_error_body_and_the_server_carries_on() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    // Just within the limits (8 KiB of address; 100 fields and 32 KiB of them, the session's own included).
    let r = sam.get(&format!("/healthz?q={}", "a".repeat(8 * 1024 - 20))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(with_headers(&sam, "/api/v1/me", 90, 300).await.status, 200);
    // Counted as the client sent them: exactly 100 pass, 101 do not.
    let token = sam.token().expect("an API token");
    assert_eq!(status_with_fields(&app, token, 100).await, 200);
    assert_eq!(status_with_fields(&app, token, 101).await, 431);

    let r = sam.get(&format!("/api/v1/me?q={}", "a".repeat(9 * 1024))).await;
    assert_error(&r, 414, "uri_too_long");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("8192"), "{}", r.text);
    // A browser at such an address of the pages is shown a page saying so.
    let raw = reqwest::Client::new()
        .get(format!("{}/quotes?search={}", app.base, "a".repeat(9 * 1024)))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 414);
    let page = raw.text().await.unwrap();
    assert!(page.contains("<h1>Address too long</h1>") && page.contains("at most 8192 are accepted"), "{page}");
    // Refused before the request id is given, it carries one all the same.
    let raw = reqwest::get(format!("{}/healthz?q={}", app.base, "a".repeat(9 * 1024))).await.unwrap();
    assert_eq!(raw.status(), 414);
    let id = raw.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a request id: {:?}", raw.headers());
    // The client's own request id comes back, as on any answer; not one
    // that is itself what is too large.
    let too_long = format!("{}/healthz?q={}", app.base, "a".repeat(9 * 1024));
    let client = reqwest::Client::new();
    let raw = client.get(&too_long).header("x-request-id", "trace-414").send().await.unwrap();
    assert_eq!((raw.status().as_u16(), raw.headers().get("x-request-id")), (414, Some(&"trace-414".parse().unwrap())));
    let huge = "i".repeat(40 * 1024);
    let raw = client.get(format!("{}/healthz", app.base)).header("x-request-id", &huge).send().await.unwrap();
    let id = raw.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(raw.status(), 431);
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a request id of the service's: {id:.40}");
    // On any answer: the client's id of at most 128 bytes comes back; a longer one is replaced.
    // Nor one that would write words of its own into the log line it is put in.
    let forged = "abc}: pricegate_web::error: forged status=200".to_owned();
    for (sent, kept) in [
        ("t".repeat(128), true),
        ("t".repeat(129), false),
        ("t".repeat(200), false),
        (forged, false),
        (String::new(), false),
    ] {
        let raw = client.get(format!("{}/healthz", app.base)).header("x-request-id", &sent).send().await.unwrap();
        let id = raw.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(raw.status(), 200);
        match kept {
            true => assert_eq!(id, sent),
            false => assert!(uuid::Uuid::parse_str(id).is_ok(), "{} bytes sent, {id:.40} back", sent.len()),
        }
    }
    // More fields than the service takes, though fewer than the parser makes room for.
    let r = with_headers(&sam, "/api/v1/me", 150, 1).await;
    assert_error(&r, 431, "headers_too_large");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("100"), "{}", r.text);
    // One field of 40 KiB, or a cookie as large: well within the parser's buffer.
    let r = with_headers(&sam, "/api/v1/me", 1, 40 * 1024).await;
    assert_error(&r, 431, "headers_too_large");
    let r = app
        .anonymous()
        .send(
            app.anonymous().request(Method::GET, "/quotes").header("cookie", format!("junk={}", "c".repeat(40 * 1024))),
        )
        .await;
    assert_error(&r, 431, "headers_too_large");
    // Past what the parser holds, it refuses by itself, without a body; the
    // server answers the next request as ever.
    let r = with_headers(&sam, "/api/v1/me", 500, 1).await;
    assert_eq!(r.status, 431, "{}", r.text);
    let r = sam.get("/api/v1/me").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

both_backends! {
    /// A field of a `PATCH` body left out keeps what it is; sent as `null`
    /// it is refused (422, naming it), not taken for left out: nothing is
    /// changed, and the document says the fields are not nullable.
    async fn null_in_a_patch_is_refused_not_ignored(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let product = pricegate_tests::fixtures::create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = pricegate_tests::fixtures::draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await;
        let notice = pricegate_tests::fixtures::create_notice(&finance, "Draft", json!([])).await;
        let (quote_path, notice_path) = (format!("/api/v1/quotes/{}", quote["id"].as_str().unwrap()), format!("/api/v1/notices/{notice}"));
        let product_path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
        let user_path = format!("/api/v1/users/{}", sam.get("/api/v1/me").await.body["id"].as_str().unwrap());
        // Each with where to read what it would change.
        for (session, path, body, named) in [
            (&sam, &quote_path, json!({"customer": null}), "customer"),
            (&sam, &quote_path, json!({"customer": {"name": null}}), "customer.name"),
            (&sam, &quote_path, json!({"valid_until": null}), "valid_until"),
            (&sam, &quote_path, json!({"signer_id": null}), "signer_id"),
            (&sam, &quote_path, json!({"notes": null, "lines": [{"sku": "P-1", "quantity": 3}]}), "notes"),
            (&finance, &notice_path, json!({"title": null}), "title"),
            (&finance, &product_path, json!({"withdrawn": null}), "withdrawn"),
            (&admin, &user_path, json!({"active": null}), "active"),
        ] {
            let read = match path.as_str() {
                p if p.starts_with("/api/v1/products/") => "/api/v1/products",
                p if p.starts_with("/api/v1/users/") => "/api/v1/users",
                p => p,
            };
            let before = session.get(read).await.body;
            let r = session.patch(path, &body).await;
            assert_error(&r, 422, "invalid_body");
            assert_eq!(field(&r), named, "{body}: {}", r.text);
            assert!(r.text.contains("null is not a value here: leave the field out to keep it as it is"), "{}", r.text);
            assert_eq!(session.get(read).await.body, before, "{body} changed nothing");
        }
        // Left out, a field keeps what it is.
        let r = sam.patch(&quote_path, &json!({"notes": "Call first."})).await;
        assert_eq!((r.status.as_u16(), r.body["customer"]["name"].as_str()), (200, Some("Greta Berg")), "{}", r.text);

        let document = app.anonymous().get("/api/v1/openapi.json").await.body;
        let schemas = &document["components"]["schemas"];
        for (schema, member) in [("QuotePatchIn", "valid_until"), ("CustomerPatchIn", "name"), ("UserPatchIn", "active")] {
            let described = &schemas[schema]["properties"][member];
            assert!(described.is_object(), "{schema}.{member}: {}", schemas[schema]);
            assert!(!described.to_string().contains("null"), "{schema}.{member} is not nullable: {described}");
        }
    }
}
