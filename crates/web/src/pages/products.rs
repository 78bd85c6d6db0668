//! Finance: the price list as it stands today.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use pricegate_domain::Role;

use super::{Layout, PageError, PageUser, money, render, stamp};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/products", get(list))
}

struct ProductRow {
    sku: String,
    name: String,
    unit: String,
    price: String,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "pages/products.html")]
struct ProductsPage {
    layout: Layout,
    products: Vec<ProductRow>,
}

async fn list(State(app): State<AppState>, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    let products = app
        .store
        .list_products()
        .await?
        .into_iter()
        .map(|p| ProductRow {
            price: money(&p.currency, p.unit_price_minor),
            updated_at: stamp(p.updated_at),
            sku: p.sku,
            name: p.name,
            unit: p.unit,
        })
        .collect();
    Ok(render(StatusCode::OK, &ProductsPage { layout: user.layout("Price list"), products }))
}
