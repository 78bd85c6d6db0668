//! A product's price history, for everyone logged in: its price today,
//! every price a published notice set for it, the latest date first, and the price
//! on any day as people then knew it (an auditor's "what did P-1 cost on
//! 3 November, and who said so"). The API's `GET /api/v1/products/{id}/prices`
//! in a page.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_store::views::{PriceHistoryView, PriceOnView, PriceState};
use uuid::Uuid;

use super::{Layout, PageError, PageQuery, PageSegment, PageUser, money, render};
use crate::{AppState, filters};

#[derive(serde::Deserialize, Default)]
pub(super) struct HistoryQuery {
    /// The day to tell the price of, as `YYYY-MM-DD`.
    on: Option<String>,
}

/// One price a notice set, as the history lists it.
struct StepRow {
    notice_id: Uuid,
    title: String,
    price: String,
    in_force_from: String,
    published_at: String,
    /// Where it stands today, in words.
    now: &'static str,
}

/// The price on the day asked for, in words, with the notice that set it.
struct OnDay {
    sentence: String,
    notice: Option<(Uuid, String)>,
    /// The prices of a day it changed, in words; empty for a day of one price.
    during: String,
}

#[derive(Template)]
#[template(path = "pages/product_history.html")]
struct HistoryPage {
    layout: Layout,
    id: Uuid,
    sku: String,
    name: String,
    /// Finance, who keeps the price list: the page leads to the product's edit form.
    can_edit: bool,
    /// "per m", or "each".
    per_unit: String,
    today: String,
    price_today: String,
    /// Since when that price holds, in words.
    since: String,
    withdrawn_on: Option<String>,
    /// Newest first.
    steps: Vec<StepRow>,
    list_price: String,
    added_on: String,
    /// The list price is today's: no notice has changed it yet.
    list_price_stands: bool,
    on_typed: String,
    on_error: Option<String>,
    on_day: Option<OnDay>,
}

/// `/products/{id}`, with `?on=YYYY-MM-DD` to tell the price on that day;
/// `/products/PUMP-S60`, the product by its SKU (in any case), leads there,
/// as does a SKU shaped like an id that no product has.
pub(super) async fn history(
    State(app): State<AppState>,
    PageSegment(raw): PageSegment,
    user: PageUser,
    uri: axum::http::Uri,
    PageQuery { query, unreadable }: PageQuery<HistoryQuery>,
) -> Result<Response, PageError> {
    let id = match Uuid::parse_str(&raw) {
        Ok(id) => id,
        Err(_) => return by_sku(&app, &raw, ProductPage::History, uri.query()).await,
    };
    let typed = query.on.unwrap_or_default();
    // A day pasted with a space around it is that day.
    let on = pricegate_domain::parse_date("on", typed.trim());
    let history = match app.store.price_history(id, on.as_ref().ok().copied()).await {
        Ok(history) => history,
        // No product has that id: a SKU may be shaped like one.
        Err(e @ pricegate_store::StoreError::NotFound { .. }) => {
            let sku = pricegate_domain::Sku::parse(&raw).ok();
            let Some(found) = sku else { return Err(e.into()) };
            let Some(found) = app.store.product_id_by_sku(found.as_str()).await? else { return Err(e.into()) };
            return Ok(to_product(found, ProductPage::History, uri.query()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut page = page(&user, &history, app.store.calendar());
    page.on_typed = typed.trim().chars().take(40).collect();
    page.on_error = if unreadable {
        Some("This address could not be read (a day given twice, say): choose the day again.".to_owned())
    } else if on.is_err() && !typed.trim().is_empty() {
        Some(format!("“{}” is not a day from 2000 on: write it as 2026-11-03 (year, month, day).", page.on_typed))
    } else {
        None
    };
    let status = if page.on_error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(render(status, &page))
}

/// A product's pages, as its SKU leads to them.
#[derive(Debug, Clone, Copy)]
pub(super) enum ProductPage {
    /// `/products/{id}`: its prices, past and to come.
    History,
    /// `/products/{id}/edit`: finance's form.
    Edit,
}

/// The page of the product whose SKU is `typed`, with the query it was
/// asked with (`?on=`), or a 404 saying no product has that SKU.
pub(super) async fn by_sku(
    app: &AppState,
    typed: &str,
    then: ProductPage,
    query: Option<&str>,
) -> Result<Response, PageError> {
    // Not shaped like a SKU (a NUL, which PostgreSQL cannot compare, or too long): nothing is here.
    let Ok(sku) = pricegate_domain::Sku::parse(typed) else { return Err(super::forms::not_found()) };
    let typed = sku.as_str();
    match app.store.product_id_by_sku(typed).await? {
        Some(id) => Ok(to_product(id, then, query)),
        None => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("No product has the SKU \u{201c}{typed}\u{201d}: the price list has every product."),
        )
        .with_next("/products", "Open the price list")),
    }
}

/// The way to product `id`'s page `then`, with the query it was asked with.
fn to_product(id: Uuid, then: ProductPage, query: Option<&str>) -> Response {
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let then = match then {
        ProductPage::History => "",
        ProductPage::Edit => "/edit",
    };
    axum::response::IntoResponse::into_response(axum::response::Redirect::to(&format!("/products/{id}{then}{query}")))
}

fn page(user: &PageUser, history: &PriceHistoryView, calendar: pricegate_domain::Calendar) -> HistoryPage {
    let p = &history.product;
    let steps = history
        .prices
        .iter()
        .map(|s| StepRow {
            notice_id: s.notice_id,
            title: s.title.clone(),
            price: money(&p.currency, s.unit_price_minor),
            in_force_from: pricegate_mail::compose::in_force_from(s.effective_on, calendar.date_of(s.published_at)),
            // To the second: two notices of one minute are told apart.
            published_at: calendar.stamp(s.published_at, true),
            now: match s.state {
                PriceState::InForce => "In force today",
                PriceState::ToCome => "To come",
                PriceState::Earlier => "No longer in force",
                PriceState::Replaced => "Never in force: a later price for its day came first",
            },
        })
        .collect();
    HistoryPage {
        layout: user.layout(format!("{}: price history", p.sku)),
        can_edit: user.0.actor.role == pricegate_domain::Role::Finance,
        id: p.id,
        sku: p.sku.clone(),
        name: p.name.clone(),
        per_unit: per_unit(&p.unit),
        today: history.today.to_string(),
        price_today: money(&p.currency, p.unit_price_minor),
        since: match p.price_since {
            Some(since) => format!("in force since {since}"),
            // A notice may have restated it.
            None => "as it was when added".to_owned(),
        },
        withdrawn_on: p.withdrawn_at.map(|at| calendar.date_of(at).to_string()),
        list_price: money(&p.currency, history.list_price_minor),
        added_on: history.added_on.to_string(),
        list_price_stands: !history.prices.iter().any(|s| s.state == PriceState::InForce),
        steps,
        on_typed: String::new(),
        on_error: None,
        on_day: history.on.as_ref().map(|on| on_day(history, on, calendar)),
    }
}

/// "per m", "per box of 10", but "each".
fn per_unit(unit: &str) -> String {
    if unit.eq_ignore_ascii_case("each") { "each".to_owned() } else { format!("per {unit}") }
}

fn on_day(history: &PriceHistoryView, on: &PriceOnView, calendar: pricegate_domain::Calendar) -> OnDay {
    let (p, day) = (&history.product, on.day);
    let Some(price) = on.unit_price_minor else {
        return OnDay {
            sentence: format!(
                "On {day}, {} was not on the price list yet: it was added on {}.",
                p.sku, history.added_on
            ),
            notice: None,
            during: String::new(),
        };
    };
    let tense = match day.cmp(&history.today) {
        std::cmp::Ordering::Less => "was",
        std::cmp::Ordering::Equal => "is",
        std::cmp::Ordering::Greater => "will be, as published so far,",
    };
    let price = money(&p.currency, price);
    let withdrawn = match p.withdrawn_at.map(|at| calendar.date_of(at)) {
        Some(on) if on <= day => {
            format!(" ({} was withdrawn from sale on {on}: no quote takes it on as a new line)", p.sku)
        }
        _ => String::new(),
    };
    let source = |notice_id: Option<Uuid>| notice_id.and_then(|id| history.prices.iter().find(|s| s.notice_id == id));
    // The prices of a day it changed, each from when.
    let during: Vec<String> = on
        .during_the_day
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let price = money(&p.currency, d.unit_price_minor);
            // The same price set again: said so, not as a change.
            let again = i > 0 && on.during_the_day[i - 1].unit_price_minor == d.unit_price_minor;
            let price = if again { format!("{price} again") } else { price };
            let by =
                source(d.notice_id).map_or_else(|| "the list price".to_owned(), |s| format!("set by “{}”", s.title));
            match d.from {
                None => format!("{price} ({by}) from the day's start"),
                Some(from) => format!("{price} ({by}) from {}", calendar.stamp(from, true)),
            }
        })
        .collect();
    let restated = on.during_the_day.windows(2).all(|w| w[0].unit_price_minor == w[1].unit_price_minor);
    let during = if during.is_empty() {
        String::new()
    } else if restated {
        format!(
            " A notice published that day set the same price again, so which notice a quote finalised that day \
             names as having set it depends on the hour: {}.",
            during.join(", then ")
        )
    } else {
        format!(
            " It changed during the day, a notice taking force on its publication, so a quote drafted that day got the price of its hour: {}.",
            during.join(", then ")
        )
    };
    // A notice with two lines for the product is listed twice, alike but for the price.
    match source(on.notice_id) {
        Some(s) => OnDay {
            sentence: format!(
                "On {day}, the price of {} {tense} {price} {}{withdrawn}, set by the notice published {}:",
                p.sku,
                per_unit(&p.unit),
                calendar.stamp(s.published_at, true)
            ),
            notice: Some((s.notice_id, s.title.clone())),
            during,
        },
        None => OnDay {
            sentence: format!(
                "On {day}, the price of {} {tense} its list price, {price} {}{withdrawn}.",
                p.sku,
                per_unit(&p.unit)
            ),
            notice: None,
            during,
        },
    }
}
