//! What a request's address and headers may weigh. hyper refuses what it
//! cannot hold with a bare status and no body: more headers than it has
//! room for ([`PARSER_MAX_HEADERS`], set by `pricegate`'s accept loop), a
//! head larger than its read buffer (about 400 KiB), an address over 64 KiB.
//! Below those, these narrower limits answer first, with the error body
//! every refusal has, so a client with an overgrown cookie or query string
//! is told what is wrong.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppError;

/// The longest request target (path and query string) accepted, in bytes.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;
/// The most bytes a request's header fields may take in all (each counted
/// as `name: value` and its line end), cookies included.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// How many header fields the HTTP parser makes room for: enough above
/// [`MAX_HEADERS`] that a request with somewhat too many is answered by
/// [`refuse_oversized`], not dropped by the parser.
pub const PARSER_MAX_HEADERS: usize = 4 * MAX_HEADERS;

/// Refuses a request whose address or headers exceed the limits above:
/// 414 `uri_too_long` or 431 `headers_too_large`, before anything reads it.
/// The refusal runs before a request id is given (it counts what the client
/// sent), so it gives one itself, as every answer carries one: the client's
/// own, as for any request, unless that is part of what is too large.
pub(crate) async fn refuse_oversized(request: Request, next: Next) -> Response {
    match oversized(&request) {
        Some(Refusal { status, code, heading, message }) => {
            // A browser is shown a page saying so; anyone else the error body.
            let mut response = if crate::wants_page(request.uri(), request.headers()) {
                crate::pages::page_headers(crate::pages::PageError::new(status, heading, message).into_response()).await
            } else {
                AppError::new(status, code, message).into_response()
            };
            let id = request
                .headers()
                .get("x-request-id")
                .filter(|id| usable_request_id(id))
                .cloned()
                .or_else(|| axum::http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok());
            if let Some(id) = id {
                let shown = id.to_str().unwrap_or_default();
                tracing::debug!(request_id = %shown, status = %response.status(), method = %request.method(), "oversized request refused");
                response.headers_mut().insert("x-request-id", id);
            }
            response
        }
        None => {
            // The client's own id names the request only if it is usable;
            // otherwise the request is given one, as if it had sent none.
            let mut request = request;
            if request.headers().get("x-request-id").is_some_and(|id| !usable_request_id(id)) {
                request.headers_mut().remove("x-request-id");
            }
            next.run(request).await
        }
    }
}

/// A request whose body was left unread, refused before it was read (no
/// token, a media type not taken, an id that is none) or sent to a route
/// that reads none, ends its connection, and its answer says so: hyper
/// cannot take the next request from behind an unread body, and a client
/// that was not told would send it down a connection being closed. One
/// whose body was read to its end keeps its connection, refused or not.
pub(crate) async fn close_after_unread_body(request: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Nothing to read (a GET's): nothing to watch, no cost on the hot path.
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let watched = Arc::clone(&read);
    let request = request.map(|body| axum::body::Body::new(ReadToItsEnd { body, read: watched }));
    let mut response = next.run(request).await;
    if !read.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request's body that marks when it has been read to its end.
struct ReadToItsEnd {
    body: axum::body::Body,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for ReadToItsEnd {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.body.is_end_stream() {
            self.read.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The longest request id of the client's that an answer repeats.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// Whether the client's `x-request-id` is one to repeat and log: 1 to
/// [`MAX_CLIENT_REQUEST_ID`] bytes of letters, digits, `-`, `_`, `.` and `:`.
/// One with spaces or braces would write, into the log line it is put in,
/// words of the client's own making.
fn usable_request_id(id: &axum::http::HeaderValue) -> bool {
    (1..=MAX_CLIENT_REQUEST_ID).contains(&id.len())
        && id.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// What a request too large is told: its status and code (the API's), the
/// heading of a browser's page, and a sentence for either.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    heading: &'static str,
    message: String,
}

/// The refusal a request's address or headers earn, if any.
fn oversized(request: &Request) -> Option<Refusal> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len()) + uri.authority().map_or(0, |a| a.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Some(Refusal {
            status: StatusCode::URI_TOO_LONG,
            code: "uri_too_long",
            heading: "Address too long",
            message: format!("The address is {target} bytes long; at most {MAX_TARGET_BYTES} are accepted."),
        });
    }
    let too_large = |message: String| Refusal {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        code: "headers_too_large",
        heading: "Request too large",
        message,
    };
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Some(too_large(format!(
            "The request has {} header fields; at most {MAX_HEADERS} are accepted.",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if bytes > MAX_HEADER_BYTES {
        return Some(too_large(format!(
            "The request's header fields take {bytes} bytes (cookies included); at most {MAX_HEADER_BYTES} are \
             accepted."
        )));
    }
    None
}
