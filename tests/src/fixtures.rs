//! Small builders for the API tests: a product, a quote, a published notice,
//! the one assertion every refusal shares, and the table of every API route
//! with what each caller gets from it.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Response, Session};

/// What `{id}` stands for in a route's path when the role table calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The path has no `{id}`.
    Nothing,
    /// A salesperson no one else in the table is.
    User,
    Product,
    PublishedNotice,
    DraftNotice,
    /// A draft that finance publishes in its row, so it stays a draft until then.
    NoticeToPublish,
    /// The owner's draft quote (the owner signs it).
    Quote,
    /// The owner's draft, finalised in its row.
    QuoteToFinalise,
    /// The owner's draft, cancelled in its row.
    QuoteToCancel,
    /// The owner's draft whose one line's price has risen since: there is a price to override.
    QuoteToOverride,
    OutboxMessage,
}

/// The body a case sends.
#[derive(Clone, Debug)]
pub enum RouteBody {
    None,
    Json(Value),
    Csv(&'static str),
}

/// Who calls, in the order of [`RouteCase::expect`]. "Owner" is the
/// salesperson who owns the target (their quote); on a route whose target has
/// no owner, it is simply one salesperson and "not owner" another.
pub const CALLERS: [&str; 5] = ["anonymous", "sales (owner)", "sales (not owner)", "finance", "admin"];

/// One call of a route: what it targets, what it sends, and what each caller gets.
#[derive(Clone, Debug)]
pub struct RouteCase {
    pub target: Target,
    pub body: RouteBody,
    /// Per caller (see [`CALLERS`]): `"200"`, or a refusal `"403"` / `"403 not_owner"`. A bare
    /// 401 means `unauthenticated`, 403 `forbidden`, 404 `not_found`; any other refusal names its code.
    pub expect: [&'static str; 5],
}

impl RouteCase {
    /// The status and error code (`""` for a success) a caller expects.
    pub fn expected(&self, caller: usize) -> (u16, &'static str) {
        let text = self.expect[caller];
        let (status, code) = text.split_once(' ').unwrap_or((text, ""));
        let status: u16 = status.parse().unwrap_or_else(|_| panic!("`{text}` does not start with a status"));
        let code = match (status, code) {
            (401, "") => "unauthenticated",
            (403, "") => "forbidden",
            (404, "") => "not_found",
            (s, "") if s >= 400 => panic!("`{text}`: a refusal other than 401, 403 or 404 names its code"),
            (_, code) => code,
        };
        (status, code)
    }
}

/// One `(method, path)` of the API and its cases.
#[derive(Clone, Debug)]
pub struct ApiRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub cases: Vec<RouteCase>,
}

fn case(target: Target, body: RouteBody, expect: [&'static str; 5]) -> RouteCase {
    RouteCase { target, body, expect }
}

fn route(method: &'static str, path: &'static str, cases: Vec<RouteCase>) -> ApiRoute {
    ApiRoute { method, path, cases }
}

/// Every `/api/v1` route, once, with what each caller gets from it. The role
/// test walks it in this order (the cases build on each other: the notices are
/// acknowledged before the quote is finalised), and checks it against the
/// OpenAPI document, which the router is built from: a route added without a
/// row here, or a row for a route that is gone, fails that test by name.
pub fn api_routes() -> Vec<ApiRoute> {
    use RouteBody::{Csv, Json, None as Empty};
    use Target::*;
    let lines = json!([{"sku": "P-1", "quantity": 1}]);
    vec![
        route(
            "POST",
            "/api/v1/auth/token",
            vec![case(
                Nothing,
                Json(json!({"email": "nobody@pricegate.test", "password": "not the password"})),
                ["401 invalid_credentials"; 5],
            )],
        ),
        // Ends each caller's session: the role test calls it after every other route.
        route("DELETE", "/api/v1/auth/token", vec![case(Nothing, Empty, ["401", "204", "204", "204", "204"])]),
        route("GET", "/api/v1/me", vec![case(Nothing, Empty, ["401", "200", "200", "200", "200"])]),
        route(
            "POST",
            "/api/v1/me/password",
            // Anyone may change their own password; a wrong current one changes nothing.
            vec![case(
                Nothing,
                Json(json!({"current_password": "not the password", "new_password": "a much longer passphrase"})),
                ["401", "422 wrong_password", "422 wrong_password", "422 wrong_password", "422 wrong_password"],
            )],
        ),
        route("GET", "/api/v1/audit", vec![case(Nothing, Empty, ["401", "403", "403", "200", "200"])]),
        route("GET", "/api/v1/settings", vec![case(Nothing, Empty, ["401", "403", "403", "403", "200"])]),
        route("GET", "/api/v1/users", vec![case(Nothing, Empty, ["401", "403", "403", "200", "200"])]),
        route(
            "POST",
            "/api/v1/users",
            vec![case(
                Nothing,
                Json(
                    json!({"email": "new@pricegate.test", "name": "New", "role": "sales", "password": "a long enough password"}),
                ),
                ["401", "403", "403", "403", "201"],
            )],
        ),
        route(
            "PATCH",
            "/api/v1/users/{id}",
            vec![case(User, Json(json!({"name": "Victor"})), ["401", "403", "403", "403", "200"])],
        ),
        route("GET", "/api/v1/users/{id}", vec![case(User, Empty, ["401", "403", "403", "200", "200"])]),
        route(
            "POST",
            "/api/v1/users/{id}/handover",
            // Nobody with this id takes quotes over; who may ask at all is the point here.
            vec![case(
                User,
                Json(json!({"to": "00000000-0000-4000-8000-000000000001"})),
                ["401", "403", "403", "403", "422 invalid_signer"],
            )],
        ),
        route("POST", "/api/v1/users/{id}/password-link", vec![case(User, Empty, ["401", "403", "403", "403", "202"])]),
        route("GET", "/api/v1/products", vec![case(Nothing, Empty, ["401", "200", "200", "200", "200"])]),
        route("GET", "/api/v1/products/export", vec![case(Nothing, Empty, ["401", "200", "200", "200", "200"])]),
        route(
            "POST",
            "/api/v1/products",
            vec![case(
                Nothing,
                Json(
                    json!({"sku": "P-2", "name": "Valve", "unit": "each", "currency": "EUR", "unit_price_minor": 500}),
                ),
                ["401", "403", "403", "201", "403"],
            )],
        ),
        route(
            "PATCH",
            "/api/v1/products/{id}",
            vec![case(Product, Json(json!({"name": "Pump, renamed"})), ["401", "403", "403", "200", "403"])],
        ),
        route("GET", "/api/v1/products/{id}", vec![case(Product, Empty, ["401", "200", "200", "200", "200"])]),
        route("GET", "/api/v1/products/{id}/prices", vec![case(Product, Empty, ["401", "200", "200", "200", "200"])]),
        route(
            "POST",
            "/api/v1/products/import",
            vec![case(
                Nothing,
                Csv("sku,name,unit,currency,unit_price_minor\nP-3,Hose,roll,EUR,700\n"),
                ["401", "403", "403", "201", "403"],
            )],
        ),
        route("GET", "/api/v1/notices", vec![case(Nothing, Empty, ["401", "200", "200", "200", "200"])]),
        route(
            "POST",
            "/api/v1/notices",
            vec![case(
                Nothing,
                Json(json!({"title": "New", "body": "Text", "changes": []})),
                ["401", "403", "403", "201", "403"],
            )],
        ),
        route(
            "GET",
            "/api/v1/notices/{id}",
            vec![
                case(PublishedNotice, Empty, ["401", "200", "200", "200", "200"]),
                case(DraftNotice, Empty, ["401", "404", "404", "200", "404"]),
            ],
        ),
        route(
            "PATCH",
            "/api/v1/notices/{id}",
            vec![case(DraftNotice, Json(json!({"title": "Edited"})), ["401", "403", "403", "200", "403"])],
        ),
        // Only a draft can be deleted (api_notices deletes one): the published one stays.
        route(
            "DELETE",
            "/api/v1/notices/{id}",
            vec![case(PublishedNotice, Empty, ["401", "403", "403", "409 notice_published", "403"])],
        ),
        route(
            "POST",
            "/api/v1/notices/{id}/publish",
            vec![case(NoticeToPublish, Empty, ["401", "403", "403", "200", "403"])],
        ),
        // The owner acknowledges both published notices here, before finalising below.
        route(
            "POST",
            "/api/v1/notices/{id}/acknowledge",
            vec![
                case(PublishedNotice, Empty, ["401", "200", "200", "200", "200"]),
                case(NoticeToPublish, Empty, ["401", "200", "200", "200", "200"]),
                case(DraftNotice, Empty, ["401", "404", "404", "409 notice_not_published", "404"]),
            ],
        ),
        route(
            "GET",
            "/api/v1/notices/{id}/acknowledgements",
            vec![
                case(PublishedNotice, Empty, ["401", "403", "403", "200", "403"]),
                case(DraftNotice, Empty, ["401", "403", "403", "409 notice_not_published", "403"]),
            ],
        ),
        route(
            "POST",
            "/api/v1/notices/{id}/remind",
            vec![case(PublishedNotice, Empty, ["401", "403", "403", "202", "403"])],
        ),
        route("GET", "/api/v1/outbox", vec![case(Nothing, Empty, ["401", "403", "403", "403", "200"])]),
        route("GET", "/api/v1/outbox/{id}", vec![case(OutboxMessage, Empty, ["401", "403", "403", "403", "200"])]),
        // A message that has not failed: who may ask at all is the point here.
        route(
            "POST",
            "/api/v1/outbox/{id}/resend",
            vec![case(OutboxMessage, Empty, ["401", "403", "403", "403", "409 mail_not_failed"])],
        ),
        route("GET", "/api/v1/quotes", vec![case(Nothing, Empty, ["401", "200", "200", "200", "403"])]),
        route(
            "POST",
            "/api/v1/quotes",
            vec![case(Nothing, Json(quote_request(lines)), ["401", "201", "201", "403", "403"])],
        ),
        route(
            "GET",
            "/api/v1/quotes/{id}",
            vec![case(Quote, Empty, ["401", "200", "403 not_your_quote", "200", "403"])],
        ),
        route(
            "PATCH",
            "/api/v1/quotes/{id}",
            vec![case(Quote, Json(json!({"notes": "Call first"})), ["401", "200", "403 not_owner", "403", "403"])],
        ),
        route(
            "GET",
            "/api/v1/quotes/{id}/gate",
            vec![case(Quote, Empty, ["401", "200", "403 not_your_quote", "200", "403"])],
        ),
        route(
            "GET",
            "/api/v1/quotes/{id}/upcoming-prices",
            vec![case(Quote, Empty, ["401", "200", "403 not_your_quote", "200", "403"])],
        ),
        route(
            "POST",
            "/api/v1/quotes/{id}/reprice",
            vec![case(Quote, Empty, ["401", "200", "403 not_owner", "403", "403"])],
        ),
        // Asked before finance approves below: an approved quote has nothing to ask.
        route(
            "POST",
            "/api/v1/quotes/{id}/approval-request",
            vec![case(
                QuoteToOverride,
                Json(json!({"reason": "Agreed in March"})),
                ["401", "201", "403 not_your_quote", "403 not_owner_or_signer", "403"],
            )],
        ),
        route(
            "GET",
            "/api/v1/quotes/{id}/approval-request",
            vec![case(QuoteToOverride, Empty, ["401", "200", "403 not_your_quote", "200", "403"])],
        ),
        route(
            "POST",
            "/api/v1/quotes/{id}/approval-request/remind",
            vec![case(QuoteToOverride, Empty, ["401", "200", "403 not_your_quote", "403 not_owner_or_signer", "403"])],
        ),
        route(
            "POST",
            "/api/v1/quotes/{id}/approval-request/decline",
            vec![case(QuoteToOverride, Json(json!({"reason": "Not this time"})), ["401", "403", "403", "200", "403"])],
        ),
        route(
            "POST",
            "/api/v1/quotes/{id}/override",
            vec![case(QuoteToOverride, Json(json!({"reason": "Agreed"})), ["401", "403", "403", "201", "403"])],
        ),
        route(
            "POST",
            "/api/v1/quotes/{id}/finalise",
            vec![case(QuoteToFinalise, Empty, ["401", "200", "403 not_signer", "403", "403"])],
        ),
        route(
            "POST",
            "/api/v1/quotes/{id}/cancel",
            vec![case(QuoteToCancel, Empty, ["401", "200", "403 not_owner", "403", "403"])],
        ),
    ]
}

/// The `(method, path)` of every operation in an OpenAPI document, methods in capitals.
pub fn documented_routes(document: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            if item.get(method).is_some_and(Value::is_object) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Where the route table and the OpenAPI document disagree, in words: a
/// documented route with no row or several rows, a row for an undocumented route.
pub fn route_table_mismatches(document: &Value) -> Vec<String> {
    let table = api_routes();
    let documented = documented_routes(document);
    let mut problems = Vec::new();
    for (method, path) in &documented {
        match table.iter().filter(|r| r.method == method && r.path == path).count() {
            1 => {}
            0 => problems.push(format!("{method} {path} is served and documented but has no row in api_routes()")),
            n => problems.push(format!("{method} {path} has {n} rows in api_routes(); it needs exactly one")),
        }
    }
    for r in &table {
        if !documented.iter().any(|(m, p)| m == r.method && p == r.path) {
            problems
                .push(format!("{} {} has a row in api_routes() but is not in the OpenAPI document", r.method, r.path));
        }
        if r.cases.is_empty() {
            problems.push(format!("{} {} has a row with no cases", r.method, r.path));
        }
    }
    problems
}

/// Asserts a refusal: its status, its stable code, and the error body's shape.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "expected {status} `{code}`, got {}: {}", r.status, r.text);
    assert_eq!(r.code(), code, "expected code `{code}`: {}", r.text);
    assert_error_shape(r);
}

/// `{"error":{"code","message"}}` with a non-empty code and a message in the
/// API's words, not Rust's (no type names, no deserialiser preamble).
#[track_caller]
pub fn assert_error_shape(r: &Response) {
    let error = &r.body["error"];
    assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "no error code in {} {}", r.status, r.text);
    let message = error["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "no error message in {} {}", r.status, r.text);
    const RUST_PHRASES: [&str; 9] = [
        "expected struct",
        "expected enum",
        "target type",
        "Vec<",
        "Option<",
        "::",
        "invalid digit found",
        "UUID parsing failed",
        "Cannot parse `",
    ];
    const RUST_TYPES: [&str; 14] =
        ["u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32", "f64"];
    let speaks_rust = RUST_PHRASES.iter().any(|p| message.contains(p))
        || message.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| RUST_TYPES.contains(&w));
    assert!(!speaks_rust, "the message speaks Rust, not the API: {message}");
}

/// The `field` a 422 names.
pub fn field(r: &Response) -> &str {
    r.body["error"]["field"].as_str().unwrap_or("")
}

/// The `id` of a created resource.
#[track_caller]
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// A date `days` from today (UTC, the server's calendar), as `YYYY-MM-DD`.
pub fn date_in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).date_naive().format("%Y-%m-%d").to_string()
}

/// Any request with a raw body and an optional content type.
pub async fn send_raw(
    session: &Session,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut req = session.request(method, path).body(body);
    if let Some(ct) = content_type {
        req = req.header(reqwest::header::CONTENT_TYPE, ct);
    }
    session.send(req).await
}

/// The `ETag` of `GET {path}` as `session`: a quote's revision, for `If-Match`.
pub async fn etag_of(session: &Session, path: &str) -> String {
    let r = session.request(Method::GET, path).send().await.expect("the server answers");
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers().get("etag").and_then(|v| v.to_str().ok()).expect("an ETag").to_owned()
}

/// Adds a product to the price list (as finance).
pub async fn create_product(finance: &Session, sku: &str, currency: &str, unit_price_minor: i64) -> Value {
    let r = finance
        .post(
            "/api/v1/products",
            &json!({"sku": sku, "name": format!("Product {sku}"), "unit": "each", "currency": currency, "unit_price_minor": unit_price_minor}),
        )
        .await;
    assert_eq!(r.status, 201, "creating product {sku}: {}", r.text);
    r.body
}

/// The body of `POST /api/v1/quotes` in EUR for `lines`.
pub fn quote_request(lines: Value) -> Value {
    json!({
        "customer": {"name": "Greta Berg", "email": "greta@nordwind.example", "company": "Nordwind"},
        "currency": "EUR",
        "valid_until": "2099-12-31",
        "lines": lines,
    })
}

/// Drafts a quote in EUR (as a salesperson) and returns it.
pub async fn draft_quote(sales: &Session, lines: Value) -> Value {
    let r = sales.post("/api/v1/quotes", &quote_request(lines)).await;
    assert_eq!(r.status, 201, "drafting a quote: {}", r.text);
    r.body
}

/// Drafts a quote in EUR that `owner` owns and `signer` (another
/// salesperson's id) signs, and returns it.
pub async fn draft_quote_signed_by(owner: &Session, lines: Value, signer: uuid::Uuid) -> Value {
    let mut request = quote_request(lines);
    request["signer_id"] = json!(signer);
    let r = owner.post("/api/v1/quotes", &request).await;
    assert_eq!(r.status, 201, "drafting a quote signed by {signer}: {}", r.text);
    r.body
}

/// Drafts a notice (as finance) and returns its id.
pub async fn create_notice(finance: &Session, title: &str, changes: Value) -> String {
    let r = finance.post("/api/v1/notices", &json!({"title": title, "body": "Please read.", "changes": changes})).await;
    assert_eq!(r.status, 201, "drafting notice {title}: {}", r.text);
    id_of(&r.body)
}

/// Publishes a draft notice and returns the publication (`seq`, `published_at`).
pub async fn publish_notice(finance: &Session, id: &str) -> Value {
    let r = finance.post_empty(&format!("/api/v1/notices/{id}/publish")).await;
    assert_eq!(r.status, 200, "publishing notice {id}: {}", r.text);
    r.body
}

/// Drafts and publishes a notice that sets `sku` to `unit_price_minor` from
/// `effective_on`; returns its id.
pub async fn publish_price_change(finance: &Session, sku: &str, unit_price_minor: i64, effective_on: &str) -> String {
    let id = create_notice(
        finance,
        &format!("{sku} now {unit_price_minor}"),
        json!([{"sku": sku, "unit_price_minor": unit_price_minor, "effective_on": effective_on}]),
    )
    .await;
    publish_notice(finance, &id).await;
    id
}

/// Moves a quote's `valid_until` to yesterday (by the app's business
/// calendar), as the days passing would: the API refuses a date in the past.
/// Returns that date.
pub async fn lapse_quote(app: &crate::TestApp, quote_id: &str) -> chrono::NaiveDate {
    use pricegate_store::entity::quotes;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let yesterday = app.store.calendar().date_of(Utc::now()) - chrono::Days::new(1);
    let id: uuid::Uuid = quote_id.parse().expect("a quote id");
    let lapsed = quotes::Entity::update_many()
        .col_expr(quotes::Column::ValidUntil, Expr::value(yesterday))
        .filter(quotes::Column::Id.eq(id))
        .exec(app.store.connection())
        .await
        .expect("the quote's valid_until is moved");
    assert_eq!(lapsed.rows_affected, 1, "no quote {quote_id}");
    yesterday
}

/// People straight into the users table, each `(email, name, role)`, with
/// `like`'s password (what its owner logs in with): for tests about many
/// people, where hashing each one's password is not what is measured.
pub async fn insert_users(app: &crate::TestApp, like: uuid::Uuid, people: &[(String, String, &str)]) {
    use pricegate_store::entity::users;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let conn = app.store.connection();
    let hash = users::Entity::find_by_id(like).one(conn).await.expect("a user").expect("that user").password_hash;
    let now = Utc::now();
    let rows: Vec<users::ActiveModel> = people
        .iter()
        .map(|(email, name, role)| users::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            email: Set(email.clone()),
            name: Set(name.clone()),
            role: Set((*role).to_owned()),
            password_hash: Set(hash.clone()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            invited_at: Set(None),
            last_login_at: Set(None),
            name_key: Set(pricegate_store::name_key(name)),
        })
        .collect();
    for chunk in rows.chunks(500) {
        users::Entity::insert_many(chunk.to_vec()).exec_without_returning(conn).await.expect("the users are written");
    }
}
