use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use pricegate_domain::product_csv::read_products;
use pricegate_domain::{Currency, Sku, Text, limits, parse_unit_price};
use pricegate_store::views::{PriceHistoryView, ProductView};
use pricegate_store::{NewProduct, ProductPatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::ApiRouter;
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, AuthUser, FinanceUser, NoParameters, content_type_essence, in_utf8, read_body,
    readable_as_sent,
};
use crate::{AppError, AppState, ErrorBody};

/// A price-list CSV larger than this is refused with 413.
pub const CSV_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(product_prices))
        .limit_body(DefaultBodyLimit::max(crate::api::JSON_BODY_LIMIT))
        .routes(routes!(import_products))
        .routes(routes!(export_products))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIn {
    pub sku: String,
    pub name: String,
    /// What one of it is: `each`, `m`, `box of 10`.
    pub unit: String,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
    /// In the currency's minor unit (cents of EUR).
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub unit_price_minor: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchIn {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// What one of it is: `each`, `m`, `box of 10`.
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub unit: Option<String>,
    /// `true` withdraws it from sale (the quotes that carry it keep it, in
    /// as many as they carry or fewer; no quote takes it on as a new line or
    /// in more: 422 `product_withdrawn`), `false` puts it back on sale.
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    #[schema(nullable = false)]
    pub withdrawn: Option<bool>,
    /// Not a field of the patch: sent, whatever its value (`null` too), it
    /// is refused with a word on how a price changes (422
    /// `price_by_notice`), not as a field unknown.
    #[serde(default, deserialize_with = "sent")]
    #[schema(ignore)]
    unit_price_minor: Option<()>,
}

/// `Some` for a field sent at all, whatever its value, `null` included.
fn sent<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<()>, D::Error> {
    <serde::de::IgnoredAny as Deserialize>::deserialize(deserializer)?;
    Ok(Some(()))
}

/// Add a product to the price list.
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = ProductIn, security(("bearer" = [])),
    responses((status = 201, body = ProductView, headers(("Location" = String, description = "The new product's address, /api/v1/products/{id}"))), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn create_product(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiJson(body): ApiJson<ProductIn>,
) -> Result<super::precondition::CreatedAt<ProductView>, AppError> {
    let new = NewProduct {
        sku: Sku::parse(&body.sku)?,
        name: Text::parse("name", &body.name, limits::NAME)?,
        unit: Text::parse("unit", &body.unit, limits::UNIT)?,
        currency: Currency::parse(&body.currency)?,
        unit_price_minor: parse_unit_price("unit_price_minor", body.unit_price_minor)?,
    };
    let product = app.store.create_product(&finance.actor, new).await?;
    Ok(super::precondition::created_at(format!("/api/v1/products/{}", product.id), product))
}

/// One product of the price list, with the price in force today; 404 `not_found` for an unknown id.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_product(
    State(app): State<AppState>,
    _user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    _: ApiQuery<NoParameters>,
) -> Result<Json<ProductView>, AppError> {
    Ok(Json(app.store.get_product(id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PricesQuery {
    /// Also tell its price on this day (`YYYY-MM-DD`, a business day, from
    /// 2000-01-01), as people knew it that day.
    #[param(value_type = Option<chrono::NaiveDate>)]
    pub on: Option<String>,
}

/// A product's price history: its price today, every price a published
/// notice set for it (newest first, each with where it stands: `in_force`,
/// `to_come`, `earlier`, or `replaced` if it never held), the list price it
/// was added at, and with `?on=` its price on that day as people then knew
/// it (a change dated before its notice was published counts from the
/// publication). 404 `not_found` for an unknown id; a day that is not one,
/// 400 `invalid_query`.
#[utoipa::path(get, path = "/api/v1/products/{id}/prices", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path), PricesQuery),
    responses((status = 200, body = PriceHistoryView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn product_prices(
    State(app): State<AppState>,
    _user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PricesQuery>,
) -> Result<Json<PriceHistoryView>, AppError> {
    // Read as every date the service takes is (not `+10000-01-01`, not `2026-2-3`).
    let on = query.on.map(|on| pricegate_domain::parse_date("on", &on)).transpose().map_err(|e| {
        AppError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("The query string is invalid: {}", e.message))
    })?;
    Ok(Json(app.store.price_history(id, on).await?))
}

/// Rename a product, change its unit, withdraw it from sale or put it back.
/// Its sku and currency stay, and its price changes only through a
/// published notice. A patch that changes nothing writes nothing.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", request_body = ProductPatchIn, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductView), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn update_product(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ProductPatchIn>,
) -> Result<Json<ProductView>, AppError> {
    if body.unit_price_minor.is_some() {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "price_by_notice",
            "unit_price_minor is not changed here: a product's price changes only through a published price \
             notice, so that every salesperson is told. Draft one (POST /api/v1/notices) with the new price and \
             the day it takes force. Nothing was changed.",
        )
        .with("field", "unit_price_minor"));
    }
    let patch = ProductPatch {
        name: body.name.as_deref().map(|n| Text::parse("name", n, limits::NAME)).transpose()?,
        unit: body.unit.as_deref().map(|u| Text::parse("unit", u, limits::UNIT)).transpose()?,
        withdrawn: body.withdrawn,
        as_seen: None,
    };
    Ok(Json(app.store.update_product(&finance.actor, id, patch).await?))
}

/// The products on sale, at their prices today, as a CSV file the import reads back
/// (`sku,name,unit,currency,unit_price`, the price in the currency's units, `1250.00`), to download: a
/// product withdrawn from sale is left out.
#[utoipa::path(get, path = "/api/v1/products/export", tag = "products", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn export_products(
    State(app): State<AppState>,
    _user: AuthUser,
    _: ApiQuery<NoParameters>,
) -> Result<axum::response::Response, AppError> {
    Ok(price_list_download(&app, false).await?)
}

/// [`export_products`]'s answer, which the price list page's link downloads
/// too, `for_spreadsheets`: with a byte order mark first, by which Excel
/// reads the file as UTF-8 (without, it garbles every name not in ASCII,
/// and saves the file again in another encoding). The import takes it off.
pub(crate) async fn price_list_download(
    app: &AppState,
    for_spreadsheets: bool,
) -> Result<axum::response::Response, pricegate_store::StoreError> {
    use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let products = app.store.list_products().await?;
    let mut on_sale = Vec::with_capacity(products.len());
    for p in products.iter().filter(|p| p.withdrawn_at.is_none()) {
        let currency = Currency::parse(&p.currency)
            .map_err(|_| pricegate_store::StoreError::Internal(format!("product {} has no known currency", p.sku)))?;
        on_sale.push((p, currency));
    }
    let csv = pricegate_domain::product_csv::write_products(on_sale.iter().map(|(p, currency)| {
        pricegate_domain::product_csv::ExportRow {
            sku: &p.sku,
            name: &p.name,
            unit: &p.unit,
            currency,
            unit_price_minor: p.unit_price_minor,
        }
    }));
    let csv = if for_spreadsheets { format!("\u{feff}{csv}") } else { csv };
    let file = format!("attachment; filename=\"pricegate-price-list-{}.csv\"", app.store.calendar().today());
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, file),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        csv,
    )
        .into_response())
}

/// The price list, with the price in force today (the business's day, `PRICEGATE_TIMEZONE`).
#[utoipa::path(get, path = "/api/v1/products", tag = "products", security(("bearer" = [])),
    responses((status = 200, body = Vec<ProductView>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_products(
    State(app): State<AppState>,
    _user: AuthUser,
    _: ApiQuery<NoParameters>,
) -> Result<Json<Vec<ProductView>>, AppError> {
    Ok(Json(app.store.list_products().await?))
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    pub imported: usize,
    pub products: Vec<ProductView>,
}

#[derive(Serialize, ToSchema)]
pub struct CsvError {
    /// The line of the file (the header is line 1).
    pub line: u64,
    #[schema(required = true)]
    pub field: Option<String>,
    pub message: String,
}

impl From<pricegate_store::CsvRowError> for CsvError {
    fn from(e: pricegate_store::CsvRowError) -> Self {
        CsvError { line: e.line, field: e.field, message: e.message }
    }
}

/// `text/csv` (or `application/csv`, or `text/plain` for a file sent as is),
/// with or without parameters.
fn is_csv(headers: &HeaderMap) -> bool {
    matches!(content_type_essence(headers).as_str(), "text/csv" | "application/csv" | "text/plain")
}

/// Import new products from CSV (`sku,name,unit,currency,unit_price_minor`, header first; or
/// `unit_price` last, the price as `1250.00`): every row or none.
#[utoipa::path(post, path = "/api/v1/products/import", tag = "products", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportResult), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn import_products(
    State(app): State<AppState>,
    FinanceUser(finance): FinanceUser,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ImportResult>), AppError> {
    readable_as_sent(&headers)?;
    if !is_csv(&headers) {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the file as CSV with the header Content-Type: text/csv.",
        ));
    }
    in_utf8(&headers)?;
    let body = read_body(body, CSV_BODY_LIMIT).await?;
    let refuse = |errors: Vec<CsvError>| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_csv",
            format!(
                "The file has {} problem{}; nothing was imported. The first is on line {}.",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                errors.first().map_or(1, |e| e.line)
            ),
        )
        .with("errors", errors)
    };
    let rows = app
        .store
        .products_to_import(read_products(&body))
        .await?
        .map_err(|errors| refuse(errors.into_iter().map(CsvError::from).collect()))?;
    match app.store.import_products(&finance.actor, rows).await? {
        Ok(products) => Ok((StatusCode::CREATED, Json(ImportResult { imported: products.len(), products }))),
        Err(errors) => Err(refuse(errors.into_iter().map(CsvError::from).collect())),
    }
}
