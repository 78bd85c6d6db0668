//! Conditional requests: a quote's or draft notice's `ETag` is its revision,
//! which every change moves, and a write sent with `If-Match` is refused
//! with 412 when the thing changed since the client read it.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_MATCH, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pricegate_store::StoreError;

use crate::AppError;

/// A body with its `ETag`.
pub type Tagged<T> = ([(HeaderName, HeaderValue); 1], Json<T>);

/// `body` with the entity tag of `revision` (`QuoteView::revision`,
/// `NoticeView::revision`).
pub fn tagged<T>(revision: i64, body: T) -> Tagged<T> {
    ([(ETAG, entity_tag(revision))], Json(body))
}

fn entity_tag(revision: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// A 201 with the new thing's address and its `ETag`.
pub type Created<T> = (StatusCode, [(HeaderName, HeaderValue); 2], Json<T>);

/// A 201 with the `Location` of what it created, which has no revision ([`created_at`]).
pub type CreatedAt<T> = (StatusCode, [(HeaderName, HeaderValue); 1], Json<T>);

/// What `Idempotency-Key` says of its header, for the API's documents.
pub const IDEMPOTENCY_KEY_DOC: &str = "Any 1 to 255 visible ASCII characters (a UUID, say) that this client \
    chose for this one draft: sent again with the same key, after a timeout or a lost answer, the request drafts \
    nothing more and answers 200 with what the first one drafted (as it is now, with `Idempotency-Replayed: true`). \
    A key is yours alone, and drafts once for good: the same key with a body that does not match what it drafted \
    (another body, or that draft edited or handed over since) is refused, 409 `idempotency_key_reused`, with \
    the draft's `id` where you may still read it.";

/// The `Idempotency-Key` a client sent with a POST that drafts, as the key
/// a form is opened with ([`pricegate_store::form_row_id`]): the same key
/// from the same person names the same row, so a request sent again drafts
/// nothing more. Absent: `None`. One that is empty, longer than 255 bytes
/// or has a character beyond visible ASCII is a 400 `bad_idempotency_key`.
pub struct IdempotencyKey(pub Option<uuid::Uuid>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut given = parts.headers.get_all("idempotency-key").iter();
        let (Some(key), None) = (given.next(), given.next()) else {
            return match parts.headers.contains_key("idempotency-key") {
                true => Err(bad_idempotency_key("Idempotency-Key is given more than once: send it once.")),
                false => Ok(IdempotencyKey(None)),
            };
        };
        let key = key.as_bytes();
        if key.is_empty() || key.len() > 255 || !key.iter().all(|b| b.is_ascii_graphic()) {
            return Err(bad_idempotency_key(
                "Idempotency-Key must be 1 to 255 visible ASCII characters (letters, digits, punctuation; no \
                 spaces), such as a UUID.",
            ));
        }
        Ok(IdempotencyKey(Some(pricegate_store::client_form_key(key))))
    }
}

fn bad_idempotency_key(message: &str) -> AppError {
    AppError::new(StatusCode::BAD_REQUEST, "bad_idempotency_key", message)
}

/// A POST sent again with the `Idempotency-Key` of the quote or notice it
/// drafted before (`id`, when its sender may still read it), which this
/// body does not match: another body, or that draft changed since.
pub fn idempotency_key_reused(what: String, id: Option<uuid::Uuid>) -> AppError {
    let error = AppError::new(
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        format!(
            "This Idempotency-Key drafted {what} already, which this request does not match (another body, or that \
             draft changed since): nothing more was drafted. Read that one before drafting another with a new key."
        ),
    );
    match id {
        Some(id) => error.with("id", id),
        None => error,
    }
}

/// `body`, drafted before by a request with the same `Idempotency-Key`:
/// 200, its `Location` and `ETag` as a 201 gives them, and
/// `Idempotency-Replayed: true`.
pub fn replayed<T: serde::Serialize>(location: String, revision: i64, body: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (_, headers, body) = created(location, revision, body);
    (
        StatusCode::OK,
        headers,
        [(HeaderName::from_static("idempotency-replayed"), HeaderValue::from_static("true"))],
        body,
    )
        .into_response()
}

/// `body`, created at `location` (`/api/v1/quotes/{id}`), as a 201 with
/// its `Location` and the entity tag of `revision`.
pub fn created<T>(location: String, revision: i64, body: T) -> Created<T> {
    (StatusCode::CREATED, [(LOCATION, location_value(&location)), (ETAG, entity_tag(revision))], Json(body))
}

/// `body`, created at `location` (`/api/v1/products/{id}`), as a 201 with
/// its `Location`: what has no revision to send back ([`created`]).
pub fn created_at<T>(location: String, body: T) -> CreatedAt<T> {
    (StatusCode::CREATED, [(LOCATION, location_value(&location))], Json(body))
}

/// A path of ours as a header value: ASCII, so the fallback is never taken.
fn location_value(location: &str) -> HeaderValue {
    HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/api/v1"))
}

/// A refusal as the API answers it: the precondition the client set with
/// `If-Match` failing (`quote_changed`, `notice_changed`) is HTTP's 412;
/// when `If-Match` held only weak tags, which never match, it says so
/// rather than that the thing changed.
fn precondition_failed(e: StoreError, weak_only: bool) -> AppError {
    match e {
        StoreError::Conflict { code: code @ ("quote_changed" | "notice_changed"), .. } if weak_only => AppError::new(
            StatusCode::PRECONDITION_FAILED,
            code,
            "If-Match held only weak tags (W/\"…\"), and a weak tag never matches: HTTP compares If-Match \
             strongly. Send the ETag exactly as GET gave it.",
        ),
        StoreError::Conflict { code: code @ ("quote_changed" | "notice_changed"), message } => {
            AppError::new(StatusCode::PRECONDITION_FAILED, code, message)
        }
        e => e.into(),
    }
}

/// Whether an `If-Match` header held weak tags and nothing else of ours.
#[derive(Debug, Clone, Copy)]
pub struct WeakOnly(bool);

impl WeakOnly {
    /// A refusal of a write sent with this `If-Match`, as the API answers it.
    pub fn failed(self, e: StoreError) -> AppError {
        precondition_failed(e, self.0)
    }
}

/// The revisions an `If-Match` header accepts: `None` without the header
/// or with `*` (nothing is compared); else each strong entity tag of its
/// list. A weak tag, `W/"…"`, matches nothing, as HTTP's strong comparison
/// says, and so does a quoted tag that is none of ours, so that such a
/// header fails the precondition. A header that is no list of quoted entity
/// tags is a 400 `bad_if_match`.
pub struct IfMatch(pub Option<Vec<i64>>, pub WeakOnly);

impl IfMatch {
    pub fn as_deref(&self) -> Option<&[i64]> {
        self.0.as_deref()
    }

    /// A refusal of the write this header came with, as the API answers it.
    pub fn failed(&self, e: StoreError) -> AppError {
        self.1.failed(e)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (revisions, weak_only) = if_match(&parts.headers)?;
        Ok(IfMatch(revisions, WeakOnly(weak_only)))
    }
}

/// The revisions accepted, and whether weak tags were all the header held.
fn if_match(headers: &HeaderMap) -> Result<(Option<Vec<i64>>, bool), AppError> {
    // Every If-Match line, as one list (HTTP allows a list over several lines).
    let lines: Vec<&HeaderValue> = headers.get_all(IF_MATCH).iter().collect();
    if lines.is_empty() {
        return Ok((None, false));
    }
    let bad = || {
        AppError::new(
            StatusCode::BAD_REQUEST,
            "bad_if_match",
            "If-Match must be entity tags as GET /api/v1/quotes/{id} or GET /api/v1/notices/{id} gives them in ETag, \
             such as \"1764684000000000\", or *.",
        )
    };
    let mut tags = Vec::new();
    for line in lines {
        tags.extend(line.to_str().map_err(|_| bad())?.split(',').map(str::trim).filter(|t| !t.is_empty()));
    }
    if tags.contains(&"*") {
        // Any current version matches; `*` among tags is no list of them.
        return if tags.len() == 1 { Ok((None, false)) } else { Err(bad()) };
    }
    if tags.is_empty() {
        return Err(bad());
    }
    let mut accepted = Vec::new();
    let mut weak_seen = false;
    for tag in tags {
        let (weak, tag) = tag.strip_prefix("W/").map_or((false, tag), |t| (true, t));
        weak_seen |= weak;
        let opaque = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        // An entity tag's characters: visible ASCII, no quote, no space.
        let Some(opaque) = opaque.filter(|t| t.bytes().all(|b| b.is_ascii_graphic() && b != b'"')) else {
            return Err(bad());
        };
        // A tag that is no revision of ours is well formed, and matches nothing.
        match opaque.parse::<i64>() {
            Ok(revision) if !weak => accepted.push(revision),
            _ => {}
        }
    }
    let weak_only = weak_seen && accepted.is_empty();
    Ok((Some(accepted), weak_only))
}
