//! Who may do what: every API route for each role, and which quotes a
//! salesperson may see, change and finalise.

use std::time::{Duration, Instant};

use pricegate_domain::Role;
use pricegate_tests::fixtures::{
    ApiRoute, CALLERS, RouteBody, RouteCase, Target, api_routes, assert_error, assert_error_shape, create_notice,
    create_product, date_in_days, documented_routes, draft_quote, draft_quote_signed_by, id_of, publish_notice,
    publish_price_change, route_table_mismatches, send_raw,
};
use pricegate_tests::{Session, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

/// The ids the table's targets stand for in one test's database.
struct Targets {
    user: String,
    product: String,
    published: String,
    draft: String,
    to_publish: String,
    quote: String,
    to_finalise: String,
    to_cancel: String,
    to_override: String,
    outbox_message: String,
}

impl Targets {
    fn id(&self, target: Target) -> &str {
        match target {
            Target::Nothing => "",
            Target::User => &self.user,
            Target::Product => &self.product,
            Target::PublishedNotice => &self.published,
            Target::DraftNotice => &self.draft,
            Target::NoticeToPublish => &self.to_publish,
            Target::Quote => &self.quote,
            Target::QuoteToFinalise => &self.to_finalise,
            Target::QuoteToCancel => &self.to_cancel,
            Target::QuoteToOverride => &self.to_override,
            Target::OutboxMessage => &self.outbox_message,
        }
    }
}

async fn call(session: &Session, route: &ApiRoute, case: &RouteCase, path: &str) -> pricegate_tests::Response {
    let method = Method::from_bytes(route.method.as_bytes()).unwrap();
    match &case.body {
        RouteBody::None => session.send(session.request(method, path)).await,
        RouteBody::Json(v) => session.send(session.request(method, path).json(v)).await,
        RouteBody::Csv(text) => send_raw(session, method, path, Some("text/csv"), *text).await,
    }
}

/// The id of a message in the outbox, once the worker has written the publication's e-mails.
async fn first_outbox_message(admin: &Session) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outbox = admin.get("/api/v1/outbox").await;
        if let Some(id) = outbox.body[0]["id"].as_str() {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "no message in the outbox 30 s after a publication: {}", outbox.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends! {
    async fn the_route_table_has_exactly_one_row_for_every_documented_route(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let r = app.anonymous().get("/api/v1/openapi.json").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let problems = route_table_mismatches(&r.body);
        assert!(problems.is_empty(), "the route table and the API disagree:\n  - {}", problems.join("\n  - "));

        // And a documented path serves no method its document does not name.
        let documented = documented_routes(&r.body);
        let anonymous = app.anonymous();
        let id = uuid::Uuid::new_v4().to_string();
        let mut probed = 0;
        let paths: std::collections::BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
        for path in paths {
            for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                if documented.iter().any(|(m, p)| p == path && m == method.as_str()) {
                    continue;
                }
                let got = anonymous.send(anonymous.request(method.clone(), &path.replace("{id}", &id))).await;
                assert_eq!(got.status, 405, "{method} {path} is served but not documented: {}", got.text);
                assert_error(&got, 405, "method_not_allowed");
                probed += 1;
            }
        }
        assert!(probed > 0);
    }
}

/// The people the route table names, in the order of [`CALLERS`]: nobody
/// logged in, Sam, Sue, Fiona (finance) and Ada (admin).
struct Callers {
    anonymous: Session,
    sam: Session,
    sue: Session,
    finance: Session,
    admin: Session,
}

impl Callers {
    fn all(&self) -> [&Session; 5] {
        [&self.anonymous, &self.sam, &self.sue, &self.finance, &self.admin]
    }
}

/// The callers and the targets of the route table in a new database.
async fn set_up(app: &TestApp) -> (Callers, Targets) {
    let document = app.anonymous().get("/api/v1/openapi.json").await;
    let problems = route_table_mismatches(&document.body);
    assert!(problems.is_empty(), "the route table and the API disagree:\n  - {}", problems.join("\n  - "));

    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    let (sue, _) = app.user(Role::Sales, "Sue").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (_, vic) = app.user(Role::Sales, "Vic").await;
    let product = id_of(&create_product(&finance, "P-1", "EUR", 1_000).await);
    let lines = json!([{"sku": "P-1", "quantity": 1}]);
    // Drafted before a rise of its product's price, which the others are drafted after.
    create_product(&finance, "RISE-1", "EUR", 2_000).await;
    let to_override = id_of(&draft_quote(&sam, json!([{"sku": "RISE-1", "quantity": 1}])).await);
    let rise = publish_price_change(&finance, "RISE-1", 2_200, &date_in_days(-1)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
    let quote = id_of(&draft_quote(&sam, lines.clone()).await);
    let to_finalise = id_of(&draft_quote(&sam, lines.clone()).await);
    let to_cancel = id_of(&draft_quote(&sam, lines.clone()).await);
    let draft = create_notice(&finance, "Still a draft", json!([])).await;
    let to_publish = create_notice(&finance, "To publish", json!([])).await;
    let published = create_notice(&finance, "Published", json!([])).await;
    publish_notice(&finance, &published).await;
    let outbox_message = first_outbox_message(&admin).await;
    let targets = Targets {
        user: vic.id.to_string(),
        product,
        published,
        draft,
        to_publish,
        quote,
        to_finalise,
        to_cancel,
        to_override,
        outbox_message,
    };
    (Callers { anonymous: app.anonymous(), sam, sue, finance, admin }, targets)
}

/// Every route in the table's order, logging out last: it ends the
/// sessions every other row needs.
fn routes_in_order() -> Vec<ApiRoute> {
    let mut routes = api_routes();
    routes.sort_by_key(|r| (r.method, r.path) == ("DELETE", "/api/v1/auth/token"));
    routes
}

both_backends! {
    async fn every_route_admits_exactly_the_callers_its_row_names(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (people, targets) = set_up(&app).await;
        let callers = people.all();
        let routes = routes_in_order();
        let (mut cases, mut calls) = (0, 0);
        for route in &routes {
            for case in &route.cases {
                cases += 1;
                let path = route.path.replace("{id}", targets.id(case.target));
                // Refusals first: a success (a cancel, a publication) must not decide what a refusal sees.
                let mut order: Vec<usize> = (0..CALLERS.len()).collect();
                order.sort_by_key(|&c| c != 0 && case.expected(c).0 < 400);
                for caller in order {
                    let (status, code) = case.expected(caller);
                    let got = call(callers[caller], route, case, &path).await;
                    let who = CALLERS[caller];
                    assert_eq!(got.status.as_u16(), status, "{who}: {} {path} ({:?}): {}", route.method, case.target, got.text);
                    if status >= 400 {
                        assert_error(&got, status, code);
                    }
                    calls += 1;
                }
            }
        }
        assert_error(&people.sam.get("/api/v1/me").await, 401, "invalid_token");
        println!("{backend:?}: {} routes, {cases} cases, {calls} calls as {} callers each, all as the table says", routes.len(), CALLERS.len());
    }
}

both_backends! {
    /// A change sent with a query string is refused (400 `invalid_query`),
    /// on every route that changes something, and only once the caller is
    /// known to be allowed the route at all: whoever is not logged in, or
    /// has the wrong role, is told that first, as without the query. Nothing
    /// is changed: the table's own calls after all this still see every
    /// target as it was.
    async fn a_change_with_a_query_string_is_refused_after_the_caller_is_checked(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (people, targets) = set_up(&app).await;
        let callers = people.all();
        let mut refused = 0;
        for route in routes_in_order().iter().filter(|r| r.method != "GET") {
            for case in &route.cases {
                let path = format!("{}?dry_run=true", route.path.replace("{id}", targets.id(case.target)));
                for (caller, session) in callers.iter().enumerate() {
                    let (status, code) = case.expected(caller);
                    let who = CALLERS[caller];
                    let got = call(session, route, case, &path).await;
                    // Logging in (401 `invalid_credentials`) needs no caller: its query is refused first.
                    let before_the_route =
                        matches!((status, code), (401, "unauthenticated" | "invalid_token") | (403, "forbidden"));
                    if before_the_route {
                        assert_error(&got, status, code);
                    } else {
                        assert_eq!(got.status, 400, "{who}: {} {path}: {}", route.method, got.text);
                        assert_error(&got, 400, "invalid_query");
                        refused += 1;
                    }
                }
            }
        }
        assert!(refused > 20, "{refused}");
        // Nothing was changed: the session logged out with a query is still
        // logged in, and the quote to finalise is still a draft.
        let quote = people.sam.get(&format!("/api/v1/quotes/{}", targets.to_finalise)).await;
        assert_eq!((quote.status.as_u16(), quote.body["state"].as_str()), (200, Some("draft")), "{}", quote.text);
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
        // A body that does not parse, or a field refused, is said only to
        // whoever may send it: Sue is refused as with a good body (and the
        // refusal audited), not told what is wrong with hers.
        let path = format!("/api/v1/quotes/{quote}");
        for body in [json!({"bogus": 1}), json!({"customer": {"name": ""}}), json!([1])] {
            assert_error(&sue.patch(&path, &body).await, 403, "not_owner");
        }
        for body in [json!({}), json!({"reason": 1}), json!({"reason": ""})] {
            assert_error(&sue.post(&format!("{path}/approval-request"), &body).await, 403, "not_your_quote");
        }
        assert_error(&finance.post(&format!("{path}/approval-request"), &json!({})).await, 403, "not_owner_or_signer");
        // A body sent where none is taken likewise.
        for (to, code) in [("finalise", "not_signer"), ("reprice", "not_owner"), ("cancel", "not_owner"), ("approval-request/remind", "not_your_quote")] {
            assert_error(&sue.post(&format!("{path}/{to}"), &json!({"x": 1})).await, 403, code);
        }
        assert_error(&sam.post(&format!("{path}/reprice"), &json!({"x": 1})).await, 422, "invalid_body");
        let nobodys = format!("/api/v1/quotes/{}", uuid::Uuid::new_v4());
        assert_error(&sue.patch(&nobodys, &json!({"bogus": 1})).await, 404, "not_found");
        assert_error(&sam.patch(&path, &json!({"bogus": 1})).await, 422, "invalid_body");
        assert_error(&sam.post(&format!("{path}/approval-request"), &json!({"reason": ""})).await, 422, "invalid_field");
        let denied = finance.get(&format!("/api/v1/audit?subject={quote}&action=access.denied")).await;
        assert_eq!(denied.body.as_array().map(Vec::len), Some(17), "each 403 but the unknown quote's: {}", denied.text);
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
        let drafted = draft_quote_signed_by(&sam, json!([{"sku": "P-1", "quantity": 3}]), sue_user.id).await;
        assert_eq!(drafted["signer_id"], json!(sue_user.id));
        let quote = id_of(&drafted);

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
