//! Small builders for the API tests: a product, a quote, a published notice,
//! and the one assertion every refusal shares.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Response, Session};

/// Every `/api/v1` route the router serves, as `(method, path template)`.
/// The role table walks it and the OpenAPI test checks the document lists it.
pub const API_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/token"),
    ("DELETE", "/api/v1/auth/token"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{id}"),
    ("GET", "/api/v1/products"),
    ("POST", "/api/v1/products"),
    ("POST", "/api/v1/products/import"),
    ("GET", "/api/v1/notices"),
    ("POST", "/api/v1/notices"),
    ("GET", "/api/v1/notices/{id}"),
    ("PATCH", "/api/v1/notices/{id}"),
    ("POST", "/api/v1/notices/{id}/publish"),
    ("POST", "/api/v1/notices/{id}/acknowledge"),
    ("GET", "/api/v1/notices/{id}/acknowledgements"),
    ("POST", "/api/v1/notices/{id}/remind"),
    ("GET", "/api/v1/outbox"),
    ("GET", "/api/v1/quotes"),
    ("POST", "/api/v1/quotes"),
    ("GET", "/api/v1/quotes/{id}"),
    ("PATCH", "/api/v1/quotes/{id}"),
    ("GET", "/api/v1/quotes/{id}/gate"),
    ("POST", "/api/v1/quotes/{id}/finalise"),
    ("POST", "/api/v1/quotes/{id}/reprice"),
    ("POST", "/api/v1/quotes/{id}/cancel"),
    ("POST", "/api/v1/quotes/{id}/override"),
];

/// Asserts a refusal: its status, its stable code, and the error body's shape.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "expected {status} `{code}`, got {}: {}", r.status, r.text);
    assert_eq!(r.code(), code, "expected code `{code}`: {}", r.text);
    assert_error_shape(r);
}

/// `{"error":{"code","message"}}` with a non-empty code and message.
#[track_caller]
pub fn assert_error_shape(r: &Response) {
    let error = &r.body["error"];
    assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "no error code in {} {}", r.status, r.text);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "no error message in {} {}", r.status, r.text);
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
