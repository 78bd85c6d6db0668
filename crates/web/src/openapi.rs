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
    info(title = "Pricegate", description = "Quotes that cannot be finalised at a price the signer has not been told about."),
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
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(api::router().into_inner()).split_for_parts()
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
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP)));
    api.merge(docs)
}
