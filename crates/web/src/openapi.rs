//! The OpenAPI 3 document, generated from the handlers' annotations, and
//! Swagger UI served from the binary (no CDN).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::api::{auth, mail, notices, products, quotes, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Pricegate", description = "Quotes that cannot be finalised at a price the signer has not been told about."),
    paths(
        auth::issue_token, auth::revoke_token, auth::me, auth::audit,
        users::create_user, users::list_users, users::update_user,
        products::create_product, products::list_products, products::import_products,
        notices::create_notice, notices::update_notice, notices::publish_notice, notices::list_notices,
        notices::get_notice, notices::acknowledge_notice, notices::list_acknowledgements,
        mail::remind_now, mail::list_outbox, mail::get_outbox_message,
        quotes::create_quote, quotes::list_quotes, quotes::get_quote, quotes::update_quote, quotes::quote_gate,
        quotes::finalise_quote, quotes::reprice_quote, quotes::cancel_quote, quotes::override_prices,
    ),
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
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
}
