//! One error type for the web edge: each variant a status and a stable code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pricegate_domain::Invalid;
use pricegate_store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// `{"error":{"code","message", …}}`: the body of every 4xx and 5xx.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case, for programs.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// 409 `pending_acknowledgements`: each notice the signer has yet to
    /// acknowledge, with its impact, as in `GET /quotes/{id}/gate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<pricegate_store::views::PendingNoticeView>>)]
    pub pending: Option<Vec<Value>>,
    /// 409 `superseded_prices` (and with 409 `pending_acknowledgements`):
    /// the lines still at a price no longer in force, as in `GET /quotes/{id}/gate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<pricegate_store::views::SupersededLineView>>)]
    pub superseded: Option<Vec<Value>>,
    /// 422 `invalid_csv`: every refused line of the file, `{line, field, message}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<Vec<Value>>,
}

/// The code of an error response, kept in the response's extensions for the
/// middleware that audits denials (see [`crate::denied`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorCode(pub &'static str);

#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Map<String, Value>,
    /// The cause of a 5xx, for the log only.
    cause: Option<String>,
    /// Said in the log already, or on purpose not: not logged again as it is answered.
    logged: bool,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError { status, code, message: message.into(), extra: Map::new(), cause: None, logged: false }
    }

    /// What the log says of this error: its code and, for a 5xx, its cause.
    pub(crate) fn logged_as(&self) -> (&'static str, Option<&str>) {
        (self.code, self.cause.as_deref())
    }

    /// This error as answered without a line in the log of its own.
    pub(crate) fn logged(mut self) -> Self {
        self.logged = true;
        self
    }

    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.extra.insert(key.to_owned(), serde_json::to_value(value).unwrap_or(Value::Null));
        self
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        AppError {
            cause: Some(cause.into()),
            ..AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Something went wrong on our side. It has been logged; please try again.",
            )
        }
    }

    pub fn forbidden_role(allowed: &str) -> Self {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", format!("Only {allowed} may do this."))
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code, e.message).with("field", e.field)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(invalid) => invalid.into(),
            StoreError::NotFound { what } => {
                AppError::new(StatusCode::NOT_FOUND, "not_found", format!("There is no such {what}."))
            }
            StoreError::Forbidden { code, message } => AppError::new(StatusCode::FORBIDDEN, code, message),
            StoreError::Conflict { code, message } => AppError::new(StatusCode::CONFLICT, code, message),
            StoreError::PendingAcknowledgements(gate) => {
                AppError::new(StatusCode::CONFLICT, "pending_acknowledgements", pending_sentence(&gate))
                    .with("pending", &gate.pending)
                    .with("superseded", &gate.superseded)
            }
            // The lines at an old price, as the gate read them when it refused.
            StoreError::SupersededPrices(gate) => {
                AppError::new(StatusCode::CONFLICT, "superseded_prices", pricegate_store::SUPERSEDED_PRICES)
                    .with("superseded", &gate.superseded)
            }
            ref e @ StoreError::Unavailable(ref cause) => AppError {
                cause: Some(format!("{cause}")),
                ..AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    if e.cannot_write() {
                        "The service cannot write to its database right now (its disk is full, its file is \
                         read-only, or its server takes no writes), so nothing was changed. Please try again later."
                    } else {
                        "The service cannot reach its database right now. Please try again in a moment."
                    },
                )
            },
            StoreError::Contended(cause) => AppError {
                cause: Some(format!("{cause}")),
                ..AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "Nothing was changed: another change to the same data was being saved at that moment. \
                     Please try again.",
                )
            },
            other => AppError::internal(pricegate_store::causes(&other)),
        }
    }
}

/// Why the gate refused a finalisation, in words (the API's message and
/// the quote page's): the notices to acknowledge, and the lines at an old
/// price if those would hold it up too. Said to the signer, the only one
/// whom the gate answers (anyone else is refused before it).
pub fn pending_sentence(gate: &pricegate_store::views::GateView) -> String {
    let pending = gate.pending.len();
    let mut sentence = format!(
        "You must first acknowledge {pending} price notice{} published since this quote was drafted.",
        if pending == 1 { "" } else { "s" }
    );
    if !gate.superseded.is_empty() && gate.price_override.is_none() {
        sentence.push_str(
            " Its lines at a price no longer in force must also be repriced, or finance must approve keeping them.",
        );
    }
    sentence
}

impl AppError {
    /// Logs the error once, as it is answered (by this JSON, or by a page):
    /// a 5xx at error level with its cause, a refusal at debug level.
    pub(crate) fn log(&self) {
        match (self.logged, self.status.is_server_error()) {
            // Said already, or on purpose not.
            (true, _) => {}
            (false, true) => {
                tracing::error!(status = %self.status, code = self.code, cause = self.cause.as_deref().unwrap_or(""), "request failed")
            }
            (false, false) => tracing::debug!(status = %self.status, code = self.code, "request refused"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.extend(self.extra);
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        match self.status {
            // A change that met another may go again at once; a database
            // away is given a moment.
            StatusCode::SERVICE_UNAVAILABLE => {
                let after = if self.code == "busy" { "1" } else { "5" };
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(after));
            }
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
