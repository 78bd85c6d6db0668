//! `/quotes/new`: drafting a quote. A fixed number of line rows; the rows
//! left empty are ignored. A refused form comes back as it was typed, with
//! the error beside the field it concerns.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pricegate_domain::{Currency, CustomerEmail, DiscountBp, Invalid, Quantity, Role, Sku, Text, parse_date};
use pricegate_store::views::{ProductView, UserView};
use pricegate_store::{NewLine, NewQuote, StoreError};
use uuid::Uuid;

use super::{CsrfForm, Layout, PageError, PageUser, Sales, money, render};
use crate::AppState;

const ROWS: usize = 5;

pub struct ProductOption {
    pub sku: String,
    pub label: String,
}

#[derive(Default, Clone)]
pub struct RowInput {
    pub sku: String,
    pub quantity: String,
    pub discount: String,
}

#[derive(Template)]
#[template(path = "pages/quote_new.html")]
pub struct QuoteFormPage {
    layout: Layout,
    csrf: String,
    products: Vec<ProductOption>,
    signers: Vec<UserView>,
    customer_name: String,
    customer_email: String,
    customer_company: String,
    signer_id: String,
    valid_until: String,
    notes: String,
    rows: Vec<RowInput>,
    errors: HashMap<String, String>,
    general_error: Option<String>,
}

impl QuoteFormPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn row_error(&self, index: &usize, part: &str) -> Option<&str> {
        self.errors.get(&format!("lines[{index}].{part}")).map(String::as_str)
    }
}

async fn choices(app: &AppState) -> Result<(Vec<ProductView>, Vec<UserView>), PageError> {
    let products = app.store.list_products().await?;
    let signers = app.store.list_users().await?.into_iter().filter(|u| u.active && u.role == "sales").collect();
    Ok((products, signers))
}

fn blank(user: &PageUser, products: &[ProductView], signers: Vec<UserView>) -> QuoteFormPage {
    QuoteFormPage {
        layout: user.layout("New quote"),
        csrf: user.csrf().to_owned(),
        products: products
            .iter()
            .map(|p| ProductOption {
                sku: p.sku.clone(),
                label: format!("{} — {} ({} per {})", p.sku, p.name, money(&p.currency, p.unit_price_minor), p.unit),
            })
            .collect(),
        signers,
        customer_name: String::new(),
        customer_email: String::new(),
        customer_company: String::new(),
        signer_id: user.0.actor.id.to_string(),
        valid_until: (chrono::Utc::now() + chrono::Duration::days(30)).date_naive().to_string(),
        notes: String::new(),
        rows: vec![RowInput { quantity: "1".into(), discount: "0".into(), ..Default::default() }; ROWS],
        errors: HashMap::new(),
        general_error: None,
    }
}

pub async fn new_quote_form(State(app): State<AppState>, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Sales])?;
    let (products, signers) = choices(&app).await?;
    Ok(render(StatusCode::OK, &blank(&user, &products, signers)))
}

/// A percentage with at most two decimals (`5`, `2.5`, `12.25`) as basis points.
fn parse_percent(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(0);
    }
    let (whole, frac) = raw.split_once(['.', ',']).unwrap_or((raw, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 2
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

/// The typed rows that are not empty, with their row number on the form.
fn parse_rows(rows: &[RowInput]) -> Result<Vec<(usize, NewLine)>, Invalid> {
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.sku.trim().is_empty() {
            continue;
        }
        let sku = Sku::parse(&row.sku).map_err(|e| e.within(&format!("lines[{i}]")))?;
        let quantity =
            row.quantity.trim().parse::<i64>().ok().and_then(|q| Quantity::parse(q).ok()).ok_or_else(|| {
                Invalid::new(format!("lines[{i}].quantity"), "Enter a whole number from 1 to 1,000,000.")
            })?;
        let discount = parse_percent(&row.discount)
            .and_then(|bp| DiscountBp::parse(bp).ok())
            .ok_or_else(|| Invalid::new(format!("lines[{i}].discount"), "Enter a percentage from 0 to 100."))?;
        lines.push((i, NewLine { sku, quantity, discount }));
    }
    if lines.is_empty() {
        return Err(Invalid::new("lines[0].sku", "Pick at least one product."));
    }
    Ok(lines)
}

fn parse_quote(page: &QuoteFormPage, products: &[ProductView]) -> Result<(NewQuote, Vec<usize>), Invalid> {
    let rows = parse_rows(&page.rows)?;
    let first = rows.first().map(|(_, l)| l.sku.as_str().to_owned()).unwrap_or_default();
    let currency = products.iter().find(|p| p.sku == first).map_or("EUR", |p| p.currency.as_str());
    let signer_id = Uuid::parse_str(page.signer_id.trim())
        .map_err(|_| Invalid::new("signer_id", "Pick the salesperson who will sign."))?;
    let new = NewQuote {
        customer_name: Text::parse("customer.name", &page.customer_name, 200)?,
        customer_email: CustomerEmail::parse(&page.customer_email)
            .map_err(|e| Invalid { field: "customer.email".into(), ..e })?,
        customer_company: Text::parse_optional("customer.company", &page.customer_company, 200)?,
        currency: Currency::parse(currency)?,
        valid_until: parse_date("valid_until", &page.valid_until)?,
        notes: Text::parse_optional("notes", &page.notes, 5_000)?,
        signer_id: Some(signer_id),
        lines: rows.iter().map(|(_, l)| l.clone()).collect(),
    };
    Ok((new, rows.iter().map(|(i, _)| *i).collect()))
}

/// `lines[j].x` from the store counts only the rows sent; the form counts all.
fn to_form_field(field: &str, row_of_line: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("lines[") else { return field.to_owned() };
    let Some((index, tail)) = rest.split_once(']') else { return field.to_owned() };
    match index.parse::<usize>().ok().and_then(|j| row_of_line.get(j)) {
        Some(row) => format!("lines[{row}]{tail}"),
        None => field.to_owned(),
    }
}

/// Domain messages name the field as the API spells it; the page says it in words.
const LABELS: &[(&str, &str)] = &[
    ("customer.name", "The customer's name"),
    ("customer.email", "The customer's e-mail"),
    ("customer.company", "The company"),
    ("valid_until", "The validity date"),
    ("notes", "The notes"),
];

const FIELDS: &[&str] = &["customer.name", "customer.email", "customer.company", "signer_id", "valid_until", "notes"];

pub async fn create_quote(
    State(app): State<AppState>,
    CsrfForm { user, form, .. }: CsrfForm<Sales>,
) -> Result<Response, PageError> {
    let (products, signers) = choices(&app).await?;
    let mut page = blank(&user, &products, signers);
    page.customer_name = form.get("customer_name").to_owned();
    page.customer_email = form.get("customer_email").to_owned();
    page.customer_company = form.get("customer_company").to_owned();
    page.signer_id = form.get("signer_id").to_owned();
    page.valid_until = form.get("valid_until").to_owned();
    page.notes = form.get("notes").to_owned();
    page.rows = (0..ROWS)
        .map(|i| RowInput {
            sku: form.get(&format!("sku_{i}")).to_owned(),
            quantity: form.get(&format!("quantity_{i}")).to_owned(),
            discount: form.get(&format!("discount_{i}")).to_owned(),
        })
        .collect();
    let invalid = match parse_quote(&page, &products) {
        Ok((new, row_of_line)) => match app.store.create_quote(&user.0.actor, new).await {
            Ok(quote) => return Ok(Redirect::to(&format!("/quotes/{}", quote.id)).into_response()),
            Err(StoreError::Invalid(e)) => Invalid { field: to_form_field(&e.field, &row_of_line), ..e },
            Err(e) => return Err(e.into()),
        },
        Err(e) => e,
    };
    if FIELDS.contains(&invalid.field.as_str()) || invalid.field.starts_with("lines[") {
        let message = match LABELS.iter().find(|(field, _)| invalid.message.starts_with(field)) {
            Some((field, label)) => invalid.message.replacen(field, label, 1),
            None => invalid.message,
        };
        page.errors.insert(invalid.field, message);
    } else {
        page.general_error = Some(invalid.message);
    }
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(parse_percent(""), Some(0));
        assert_eq!(parse_percent("5"), Some(500));
        assert_eq!(parse_percent("2.5"), Some(250));
        assert_eq!(parse_percent("12,25"), Some(1225));
        assert_eq!(parse_percent("1.234"), None);
        assert_eq!(parse_percent("-1"), None);
        assert_eq!(parse_percent("."), None);
    }

    #[test]
    fn store_line_numbers_map_to_form_rows() {
        assert_eq!(to_form_field("lines[1].sku", &[0, 3]), "lines[3].sku");
        assert_eq!(to_form_field("valid_until", &[0]), "valid_until");
    }
}
