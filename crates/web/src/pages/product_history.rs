//! A product's price history, for everyone logged in: its price today,
//! every price a published notice set for it, newest first, and the price
//! on any day as people then knew it (an auditor's "what did P-1 cost on
//! 3 November, and who said so").

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use pricegate_store::PriceHistory;
use uuid::Uuid;

use super::{Layout, PageError, PageId, PageQuery, PageUser, money, render};
use crate::AppState;

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
    /// "In force today", "To come", or nothing for one in the past.
    now: &'static str,
}

/// The price on the day asked for, in words, with the notice that set it.
struct OnDay {
    sentence: String,
    notice: Option<(Uuid, String)>,
}

#[derive(Template)]
#[template(path = "pages/product_history.html")]
struct HistoryPage {
    layout: Layout,
    id: Uuid,
    sku: String,
    name: String,
    unit: String,
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

/// `/products/{id}`, with `?on=YYYY-MM-DD` to tell the price on that day.
pub(super) async fn history(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
    PageQuery { query, unreadable }: PageQuery<HistoryQuery>,
) -> Result<Response, PageError> {
    let history = app.store.price_history(id).await?;
    let calendar = app.store.calendar();
    let mut page = page(&user, &history, calendar);
    let typed = query.on.unwrap_or_default();
    page.on_typed = typed.chars().take(40).collect();
    if unreadable {
        page.on_error = Some("This address could not be read (a day given twice, say): choose the day again.".into());
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(render(StatusCode::OK, &page));
    }
    match NaiveDate::parse_from_str(typed, "%Y-%m-%d") {
        Ok(day) => {
            page.on_day = Some(on_day(&history, day, calendar));
            Ok(render(StatusCode::OK, &page))
        }
        Err(_) => {
            page.on_error =
                Some(format!("“{}” is not a day: write it as 2026-11-03 (year, month, day).", page.on_typed));
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
    }
}

fn page(user: &PageUser, history: &PriceHistory, calendar: pricegate_domain::Calendar) -> HistoryPage {
    let p = &history.product;
    let (_, in_force) = history.on(history.today, calendar);
    let steps = history
        .steps
        .iter()
        .rev()
        .map(|s| StepRow {
            notice_id: s.notice_id,
            title: s.title.clone(),
            price: money(&p.currency, s.unit_price_minor),
            in_force_from: pricegate_mail::compose::in_force_from(s.effective_on, calendar.date_of(s.published_at)),
            published_at: calendar.stamp(s.published_at, false),
            now: if in_force.is_some_and(|f| std::ptr::eq(f, s)) {
                "In force today"
            } else if s.effective_on > history.today {
                "To come"
            } else {
                ""
            },
        })
        .collect();
    HistoryPage {
        layout: user.layout(format!("{}: price history", p.sku)),
        id: p.id,
        sku: p.sku.clone(),
        name: p.name.clone(),
        unit: p.unit.clone(),
        today: history.today.to_string(),
        price_today: money(&p.currency, p.unit_price_minor),
        since: match p.price_since {
            Some(since) => format!("in force since {since}"),
            None => "its list price".to_owned(),
        },
        withdrawn_on: p.withdrawn_at.map(|at| calendar.date_of(at).to_string()),
        steps,
        list_price: money(&p.currency, history.list_price_minor),
        added_on: calendar.date_of(p.created_at).to_string(),
        list_price_stands: in_force.is_none(),
        on_typed: String::new(),
        on_error: None,
        on_day: None,
    }
}

fn on_day(history: &PriceHistory, day: NaiveDate, calendar: pricegate_domain::Calendar) -> OnDay {
    let p = &history.product;
    let added = calendar.date_of(p.created_at);
    if day < added {
        return OnDay {
            sentence: format!("On {day}, {} was not on the price list yet: it was added on {added}.", p.sku),
            notice: None,
        };
    }
    let tense = if day > history.today {
        "will be, as published so far,"
    } else if day == history.today {
        "is"
    } else {
        "was"
    };
    let (price, step) = history.on(day, calendar);
    let price = money(&p.currency, price);
    match step {
        Some(s) => OnDay {
            sentence: format!(
                "On {day}, the price of {} {tense} {price} per {}, set by the notice published {}:",
                p.sku,
                p.unit,
                calendar.stamp(s.published_at, false)
            ),
            notice: Some((s.notice_id, s.title.clone())),
        },
        None => OnDay {
            sentence: format!("On {day}, the price of {} {tense} its list price, {price} per {}.", p.sku, p.unit),
            notice: None,
        },
    }
}
