//! Finance: the price list as it stands today, and importing a price list
//! from CSV: a preview first, then the import, which takes every row or none.
//! Problems are reported by line number.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use pricegate_domain::Role;
use pricegate_domain::product_csv::{ProductRow as CsvRow, parse_products};

use super::{FormFields, Layout, PageError, PageUser, money, render, stamp};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/products", get(list)).route("/products/import", post(import))
}

struct ProductRow {
    sku: String,
    name: String,
    unit: String,
    price: String,
    updated_at: String,
}

struct LineError {
    line: u64,
    message: String,
}

#[derive(Template)]
#[template(path = "pages/products.html")]
struct ProductsPage {
    layout: Layout,
    csrf: String,
    products: Vec<ProductRow>,
    csv: String,
    preview: Vec<ProductRow>,
    errors: Vec<LineError>,
    message: Option<String>,
}

async fn page(app: &AppState, user: &PageUser, csv: String) -> Result<ProductsPage, PageError> {
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
    Ok(ProductsPage {
        layout: user.layout("Price list"),
        csrf: user.csrf().to_owned(),
        products,
        csv,
        preview: Vec::new(),
        errors: Vec::new(),
        message: None,
    })
}

async fn list(State(app): State<AppState>, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    Ok(render(StatusCode::OK, &page(&app, &user, String::new()).await?))
}

fn preview_row(r: &CsvRow) -> ProductRow {
    ProductRow {
        sku: r.sku.as_str().to_owned(),
        name: r.name.as_str().to_owned(),
        unit: r.unit.as_str().to_owned(),
        price: r.currency.format(r.unit_price_minor),
        updated_at: format!("line {}", r.line),
    }
}

async fn import(State(app): State<AppState>, user: PageUser, form: FormFields) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    user.check_csrf(&form)?;
    let csv = form.get("csv").to_owned();
    let rows = parse_products(csv.as_bytes());
    let mut page = page(&app, &user, csv).await?;
    let rows = match rows {
        Ok(rows) => rows,
        Err(errors) => {
            page.errors = errors.into_iter().map(|e| LineError { line: e.line, message: e.message }).collect();
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    if form.get("action") != "import" {
        page.preview = rows.iter().map(preview_row).collect();
        return Ok(render(StatusCode::OK, &page));
    }
    match app.store.import_products(&user.0.actor, rows).await? {
        Ok(imported) => {
            let mut done = self::page(&app, &user, String::new()).await?;
            done.message =
                Some(format!("Imported {} product{}.", imported.len(), if imported.len() == 1 { "" } else { "s" }));
            Ok(render(StatusCode::OK, &done))
        }
        Err(errors) => {
            page.errors = errors.into_iter().map(|e| LineError { line: e.line, message: e.message }).collect();
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
