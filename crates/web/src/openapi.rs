//! The OpenAPI 3 document, built by the same calls that register the API's
//! routes, and Swagger UI served from the binary (no CDN).

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::{AppState, api};

/// What the document says beyond its paths; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(title = "Pricegate", description = include_str!("api_conventions.md")),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in and out; the audit log"),
        (name = "users", description = "People and their roles"),
        (name = "products", description = "The price list"),
        (name = "notices", description = "Price notices and their acknowledgements"),
        (name = "quotes", description = "Quotes and the gate"),
        (name = "mail", description = "The mail outbox"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.components.get_or_insert_with(Default::default).add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes and the document that describes exactly those routes.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(api::router().into_inner()).split_for_parts();
    describe_responses(&mut document);
    (router, document)
}

/// Gives every answer that has no description of its own one by its
/// status: OpenAPI requires it, and generators and validators refuse a
/// document without.
fn describe_responses(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        for operation in operations.into_iter().flatten().chain(item.additional_operations.values_mut()) {
            for (status, response) in &mut operation.responses.responses {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = answer_described(status).to_owned();
                }
            }
        }
    }
}

/// What an answer of `status` is, in general.
fn answer_described(status: &str) -> &'static str {
    match status {
        "200" => "Done, or what was asked for.",
        "201" => "Created.",
        "202" => "Accepted: it happens in the background.",
        "204" => "Done; nothing to return.",
        "304" => "Not modified since the ETag sent.",
        "4XX" => "Refused: `error.code` says why, and `error.message` in a sentence.",
        "5XX" => {
            "The server failed, or its database is unavailable (503 `unavailable`, with Retry-After), or the change met \
             another saved at the same moment and nothing of it was written (503 `busy`: send it again); the body \
             shows no internals."
        }
        _ => "See `error.code` and `error.message` in the body.",
    }
}

/// The document alone, as `/api/v1/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    api().1
}

/// Swagger UI's own policy: its scripts and styles come from this server
/// only; it sets inline styles and draws `data:` icons, and nothing may
/// frame it.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// The API, its document at `/api/v1/openapi.json`, and Swagger UI at `/api/docs`.
pub fn router() -> Router<AppState> {
    let (api, document) = api();
    let docs = Router::from(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", document))
        .layer(axum::middleware::from_fn(docs_not_found))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP)));
    api.merge(docs)
}

/// Swagger UI answers an address under `/api/docs/` it has no file for with
/// an empty 404: it gets the service's own, a page or an error body, as
/// every other unknown address does.
async fn docs_not_found(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let (method, uri, headers) = (request.method().clone(), request.uri().clone(), request.headers().clone());
    let response = next.run(request).await;
    if response.status() == axum::http::StatusCode::NOT_FOUND && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return crate::not_found(method, uri, headers).await;
    }
    response
}
