//! Who may do what: every API route for each role, and which quotes a
//! salesperson may see, change and finalise.

use pricegate_domain::Role;
use pricegate_tests::fixtures::{
    API_ROUTES, assert_error, assert_error_shape, create_notice, create_product, draft_quote, id_of, publish_notice,
    quote_request, send_raw,
};
use pricegate_tests::{Session, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

/// One route, and the status each of sales, finance and admin gets.
struct Row {
    method: &'static str,
    template: &'static str,
    id: String,
    body: Body,
    expect: [u16; 3],
}

fn row(method: &'static str, template: &'static str, id: &str, body: Body, expect: [u16; 3]) -> Row {
    Row { method, template, id: id.to_owned(), body, expect }
}

async fn call(session: &Session, r: &Row) -> pricegate_tests::Response {
    let method = Method::from_bytes(r.method.as_bytes()).unwrap();
    let path = r.template.replace("{id}", &r.id);
    match &r.body {
        Body::None => session.send(session.request(method, &path)).await,
        Body::Json(v) => session.send(session.request(method, &path).json(v)).await,
        Body::Csv(text) => send_raw(session, method, &path, Some("text/csv"), *text).await,
    }
}

both_backends! {
    async fn every_route_admits_exactly_the_roles_it_names(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sales, _) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (_, vic) = app.user(Role::Sales, "Vic").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let lines = json!([{"sku": "P-1", "quantity": 1}]);
        let quote = id_of(&draft_quote(&sales, lines.clone()).await);
        let to_finalise = id_of(&draft_quote(&sales, lines.clone()).await);
        let to_cancel = id_of(&draft_quote(&sales, lines.clone()).await);
        let draft = create_notice(&finance, "Still a draft", json!([])).await;
        let to_publish = create_notice(&finance, "To publish", json!([])).await;
        let published = create_notice(&finance, "Published", json!([])).await;
        publish_notice(&finance, &published).await;
        let vic = vic.id.to_string();
        let user = json!({"email": "new@pricegate.test", "name": "New", "role": "sales", "password": "a long enough password"});
        let product = json!({"sku": "P-2", "name": "Valve", "unit": "each", "currency": "EUR", "unit_price_minor": 500});
        let csv = "sku,name,unit,currency,unit_price_minor\nP-3,Hose,roll,EUR,700\n";
        let notice = json!({"title": "New", "body": "Text", "changes": []});

        let rows = vec![
            row("GET", "/api/v1/me", "", Body::None, [200, 200, 200]),
            row("GET", "/api/v1/audit", "", Body::None, [403, 200, 200]),
            row("GET", "/api/v1/users", "", Body::None, [403, 200, 200]),
            row("POST", "/api/v1/users", "", Body::Json(user), [403, 403, 201]),
            row("PATCH", "/api/v1/users/{id}", &vic, Body::Json(json!({"name": "Victor"})), [403, 403, 200]),
            row("GET", "/api/v1/products", "", Body::None, [200, 200, 200]),
            row("POST", "/api/v1/products", "", Body::Json(product), [403, 201, 403]),
            row("POST", "/api/v1/products/import", "", Body::Csv(csv), [403, 201, 403]),
            row("GET", "/api/v1/notices", "", Body::None, [200, 200, 200]),
            row("POST", "/api/v1/notices", "", Body::Json(notice), [403, 201, 403]),
            row("GET", "/api/v1/notices/{id}", &published, Body::None, [200, 200, 200]),
            row("GET", "/api/v1/notices/{id}", &draft, Body::None, [404, 200, 404]),
            row("PATCH", "/api/v1/notices/{id}", &draft, Body::Json(json!({"title": "Edited"})), [403, 200, 403]),
            row("POST", "/api/v1/notices/{id}/publish", &to_publish, Body::None, [403, 200, 403]),
            row("POST", "/api/v1/notices/{id}/acknowledge", &published, Body::None, [200, 200, 200]),
            // The salesperson must acknowledge what was just published before finalising below.
            row("POST", "/api/v1/notices/{id}/acknowledge", &to_publish, Body::None, [200, 200, 200]),
            row("POST", "/api/v1/notices/{id}/acknowledge", &draft, Body::None, [404, 409, 404]),
            row("GET", "/api/v1/notices/{id}/acknowledgements", &published, Body::None, [403, 200, 403]),
            row("POST", "/api/v1/notices/{id}/remind", &published, Body::None, [403, 202, 403]),
            row("GET", "/api/v1/outbox", "", Body::None, [403, 403, 200]),
            row("GET", "/api/v1/quotes", "", Body::None, [200, 200, 403]),
            row("POST", "/api/v1/quotes", "", Body::Json(quote_request(lines.clone())), [201, 403, 403]),
            row("GET", "/api/v1/quotes/{id}", &quote, Body::None, [200, 200, 403]),
            row("PATCH", "/api/v1/quotes/{id}", &quote, Body::Json(json!({"notes": "Call first"})), [200, 403, 403]),
            row("GET", "/api/v1/quotes/{id}/gate", &quote, Body::None, [200, 200, 403]),
            row("POST", "/api/v1/quotes/{id}/reprice", &quote, Body::None, [200, 403, 403]),
            row("POST", "/api/v1/quotes/{id}/override", &quote, Body::Json(json!({"reason": "Agreed"})), [403, 201, 403]),
            row("POST", "/api/v1/quotes/{id}/finalise", &to_finalise, Body::None, [200, 403, 403]),
            row("POST", "/api/v1/quotes/{id}/cancel", &to_cancel, Body::None, [200, 403, 403]),
        ];
        for (method, template) in API_ROUTES.iter().filter(|(_, t)| *t != "/api/v1/auth/token") {
            assert!(rows.iter().any(|r| r.method == *method && r.template == *template), "the table misses {method} {template}");
        }

        let anonymous = app.anonymous();
        for r in &rows {
            let what = format!("{} {}", r.method, r.template.replace("{id}", &r.id));
            assert_error(&call(&anonymous, r).await, 401, "unauthenticated");
            for ((role, session), expected) in [("sales", &sales), ("finance", &finance), ("admin", &admin)].into_iter().zip(r.expect) {
                let got = call(session, r).await;
                assert_eq!(got.status.as_u16(), expected, "{role} {what}: {}", got.text);
                match expected {
                    403 => assert_error(&got, 403, "forbidden"),
                    404 => assert_error(&got, 404, "not_found"),
                    409 => assert_error(&got, 409, "notice_not_published"),
                    _ => {}
                }
            }
        }
    }
}

both_backends! {
    async fn a_salesperson_can_neither_see_nor_touch_another_salespersons_quote(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 3}])).await);

        assert_error(&sue.get(&format!("/api/v1/quotes/{quote}")).await, 403, "not_your_quote");
        assert_error(&sue.get(&format!("/api/v1/quotes/{quote}/gate")).await, 403, "not_your_quote");
        assert_error(&sue.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await, 403, "not_signer");
        let r = sue.patch(&format!("/api/v1/quotes/{quote}"), &json!({"notes": "mine now"})).await;
        assert_error(&r, 403, "not_owner");
        assert_error(&sue.post_empty(&format!("/api/v1/quotes/{quote}/reprice")).await, 403, "not_owner");
        assert_error(&sue.post_empty(&format!("/api/v1/quotes/{quote}/cancel")).await, 403, "not_owner");
        let list = sue.get("/api/v1/quotes").await;
        assert_eq!(list.status, 200);
        assert_eq!(list.body, json!([]), "Sue's list does not show Sam's quote");

        let mine = sam.get(&format!("/api/v1/quotes/{quote}")).await;
        assert_eq!(mine.status, 200);
        assert_eq!(mine.body["state"], "draft", "nothing Sue tried changed the quote");
        assert_eq!(mine.body["notes"], "");
    }
}

both_backends! {
    async fn the_signer_finalises_and_only_the_owner_edits(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sue, sue_user) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let mut body = quote_request(json!([{"sku": "P-1", "quantity": 3}]));
        body["signer_id"] = json!(sue_user.id);
        let r = sam.post("/api/v1/quotes", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["signer_id"], json!(sue_user.id));
        let quote = id_of(&r.body);

        assert_eq!(sue.get(&format!("/api/v1/quotes/{quote}")).await.status, 200);
        assert_eq!(sue.get(&format!("/api/v1/quotes/{quote}/gate")).await.status, 200);
        let listed = sue.get("/api/v1/quotes").await;
        assert_eq!(listed.body[0]["id"], json!(quote));
        let r = sue.patch(&format!("/api/v1/quotes/{quote}"), &json!({"notes": "signer edit"})).await;
        assert_error(&r, 403, "not_owner");
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await, 403, "not_signer");

        let r = sue.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["state"], "finalised");
        assert_eq!(r.body["evidence"]["finalised_by"], json!(sue_user.id));
    }
}

both_backends! {
    async fn draft_notices_are_invisible_to_salespeople(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let draft = create_notice(&finance, "Not yet", json!([])).await;

        assert_error(&sam.get(&format!("/api/v1/notices/{draft}")).await, 404, "not_found");
        assert_error(&sam.post_empty(&format!("/api/v1/notices/{draft}/acknowledge")).await, 404, "not_found");
        let list = sam.get("/api/v1/notices").await;
        assert_eq!(list.status, 200);
        assert_eq!(list.body, json!([]));

        let finance_list = finance.get("/api/v1/notices").await;
        assert_eq!(finance_list.body[0]["id"], json!(draft));
        assert_eq!(finance_list.body[0]["state"], "draft");
    }
}

both_backends! {
    async fn a_refusal_for_the_wrong_role_comes_before_the_body_is_read(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let r = send_raw(&sam, Method::POST, "/api/v1/products", Some("application/json"), "{not json").await;
        assert_error(&r, 403, "forbidden");
        let r = send_raw(&sam, Method::POST, "/api/v1/products/import", Some("text/csv"), "garbage").await;
        assert_error(&r, 403, "forbidden");
        assert_error_shape(&r);
    }
}
