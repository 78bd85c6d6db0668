//! Every 403 answered to someone who is logged in becomes an `access.denied`
//! audit row naming them, the method and the route: a salesperson trying to
//! publish a notice, or to finalise a quote they do not sign, leaves a trace.
//!
//! One middleware around every route does it, so no handler can forget. The
//! extractors that authenticate a request note the caller in a slot the
//! middleware put in the request; the token they authenticated with is never
//! noted, logged or stored.

use std::sync::{Arc, OnceLock};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::error::ErrorCode;
use crate::{AppError, AppState};

/// Who the request turned out to be, once an extractor has authenticated it.
#[derive(Clone, Default)]
pub(crate) struct Caller(Arc<OnceLock<Uuid>>);

impl Caller {
    /// Notes the authenticated caller of the request `parts` belong to, and
    /// names them on the request's span: every line logged while answering
    /// it then says whose request it was.
    pub(crate) fn note(parts: &Parts, user_id: Uuid) {
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        if let Some(caller) = parts.extensions.get::<Caller>() {
            let _ = caller.0.set(user_id);
        }
    }
}

/// Audits a 403 to an authenticated caller. If the row cannot be written, the
/// caller gets that failure instead of the 403: a denial is never silently
/// missing from the log. (One person's are recorded up to a bound in a
/// window of time, the last saying so: see
/// [`pricegate_store::Store::record_access_denied`].)
pub(crate) async fn audit_denials(
    State(app): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = Caller::default();
    req.extensions_mut().insert(caller.clone());
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    // The row the caller asked for, when the route names one: only a
    // well-formed id is kept, never other text from the address.
    let id = params.ok().and_then(|params| {
        params.iter().find(|(name, _)| *name == "id").and_then(|(_, value)| Uuid::parse_str(value).ok())
    });
    let response = next.run(req).await;
    if response.status() != StatusCode::FORBIDDEN {
        return response;
    }
    let (Some(&actor_id), Some(route)) = (caller.0.get(), route) else { return response };
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    match app.store.record_access_denied(actor_id, method.as_str(), &route, id, code).await {
        Ok(()) => response,
        Err(e) => AppError::from(e).into_response(),
    }
}
