//! Finance, once a notice is drafted: the publish confirmation with the
//! open quotes it touches and how their totals change, publishing, and afterwards
//! the dashboard of who has acknowledged it, with a "remind now" button.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use pricegate_domain::Role;
use pricegate_mail::render_markdown;
use pricegate_store::REMIND_NOW_AGAIN_AFTER_MINUTES as AGAIN;
use pricegate_store::StoreError;
use uuid::Uuid;

use super::ChangeRow;
use super::{CsrfForm, Finance, Layout, PageError, PageId, PageUser, money, render, stamp};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/{id}/publish", get(confirm_publish).post(publish))
        .route("/notices/{id}/dashboard", get(dashboard).post(remind))
}

#[derive(Template)]
#[template(path = "pages/notice_publish.html")]
struct ConfirmPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    title: String,
    body_html: String,
    changes: Vec<ChangeRow>,
    salespeople: usize,
    touched: Vec<TouchedQuote>,
    at_stake: Vec<String>,
    /// Why the last press of "Publish now" was refused, if it was.
    refused: Option<String>,
}

/// An open quote that the notice will block, and what it does to its total.
struct TouchedQuote {
    id: Uuid,
    customer: String,
    signer: String,
    total: String,
    delta: String,
}

/// Open quotes the changes touch, with how each total moves, and the sum
/// per currency. Every open quote is blocked until its signer acknowledges;
/// these are the ones whose price moves.
async fn touched_quotes(
    app: &AppState,
    user: &PageUser,
    changes: &[pricegate_store::views::PriceChangeView],
) -> Result<(Vec<TouchedQuote>, Vec<String>), PageError> {
    let filter = pricegate_store::QuoteFilter { state: Some("draft".into()), ..Default::default() };
    let quotes = app.store.list_quotes(&user.0.actor, filter).await?;
    let names: HashMap<Uuid, String> = app.store.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    let mut touched = Vec::new();
    let mut sums: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for q in quotes {
        let delta: i64 = q
            .lines
            .iter()
            .filter_map(|l| {
                let change = changes.iter().find(|c| c.sku == l.sku && c.currency == q.currency)?;
                let new_total = pricegate_domain::line_total(change.unit_price_minor, l.quantity, l.discount_bp);
                Some(new_total.saturating_sub(l.total_minor))
            })
            .fold(0i64, i64::saturating_add);
        if q.lines.iter().any(|l| changes.iter().any(|c| c.sku == l.sku)) {
            let sum = sums.entry(q.currency.clone()).or_default();
            *sum = sum.saturating_add(delta);
            touched.push(TouchedQuote {
                id: q.id,
                customer: q.customer.name.clone(),
                signer: names.get(&q.signer_id).cloned().unwrap_or_default(),
                total: money(&q.currency, q.total_minor),
                delta: super::signed_money(&q.currency, delta),
            });
        }
    }
    let at_stake = sums.into_iter().map(|(currency, sum)| super::signed_money(&currency, sum)).collect();
    Ok((touched, at_stake))
}

async fn confirm_publish(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    confirm_page(&app, &user, id, None).await
}

/// The confirmation, with the reason the draft cannot be published when it
/// was just refused (409) or would be now: the draft is still there to
/// edit, and there is no button to publish it.
async fn confirm_page(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    refused: Option<String>,
) -> Result<Response, PageError> {
    let n = app.store.get_notice(&user.0.actor, id).await?;
    if n.state == "published" {
        return Ok(Redirect::to(&format!("/notices/{}/dashboard", n.id)).into_response());
    }
    // 409 answers a publication just refused; a page opened is a 200 either way.
    let status = if refused.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    let refused = match refused {
        Some(why) => Some(why),
        None => app.store.why_publishing_would_be_refused(id).await?,
    };
    let salespeople = app.store.list_users().await?.iter().filter(|u| u.active && u.role == "sales").count();
    let (touched, at_stake) = touched_quotes(app, user, &n.changes).await?;
    let page = ConfirmPage {
        layout: user.layout(format!("Publish: {}", n.title)),
        csrf: user.csrf().to_owned(),
        id: n.id,
        body_html: render_markdown(&n.body),
        changes: n.changes.iter().map(ChangeRow::from).collect(),
        title: n.title,
        salespeople,
        touched,
        at_stake,
        refused,
    };
    Ok(render(status, &page))
}

async fn publish(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    match app.store.publish_notice(&user.0.actor, id).await {
        Ok(_) => Ok(Redirect::to(&format!("/notices/{id}/dashboard")).into_response()),
        Err(StoreError::Conflict { code: "change_never_in_force", message }) => {
            confirm_page(&app, &user, id, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

struct AckRow {
    name: String,
    email: String,
    /// The role of someone other than a salesperson who acknowledged anyway.
    not_sales: Option<String>,
    at: String,
    channel: String,
    /// Open quotes this person signs that the notice blocks: (id, customer).
    blocked: Vec<(Uuid, String)>,
}

/// Acknowledgements over time as an SVG polyline (`x,y` pairs in a 600×160
/// box): from publication to now, the share of salespeople who have acknowledged.
fn chart_points(
    published: chrono::DateTime<chrono::Utc>,
    acks: &[chrono::DateTime<chrono::Utc>],
    people: usize,
) -> String {
    let now = chrono::Utc::now().max(published);
    let span = (now - published).num_milliseconds().max(1) as f64;
    let people = people.max(1) as f64;
    let x =
        |t: chrono::DateTime<chrono::Utc>| ((t - published).num_milliseconds().max(0) as f64 / span * 600.0).min(600.0);
    let y = |n: usize| 160.0 - (n as f64 / people * 160.0).min(160.0);
    let mut points = vec![format!("0,{:.1}", y(0))];
    for (i, at) in acks.iter().enumerate() {
        points.push(format!("{:.1},{:.1}", x(*at), y(i)));
        points.push(format!("{:.1},{:.1}", x(*at), y(i + 1)));
    }
    points.push(format!("600,{:.1}", y(acks.len())));
    points.join(" ")
}

#[derive(Template)]
#[template(path = "pages/notice_dashboard.html")]
struct DashboardPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    title: String,
    published_at: String,
    acknowledged: Vec<AckRow>,
    pending: Vec<AckRow>,
    message: Option<String>,
    chart: String,
}

async fn dashboard_page(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    message: Option<String>,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    let n = app.store.get_notice(&user.0.actor, id).await?;
    let acks = app.store.list_acknowledgements(id).await?;
    let published = n.published_at.unwrap_or_else(chrono::Utc::now);
    // The chart is the salespeople's: finance and admins may acknowledge too.
    let mut times: Vec<_> =
        acks.acknowledged.iter().filter(|a| a.user.role == Role::Sales.as_str()).map(|a| a.acknowledged_at).collect();
    times.sort();
    let people = times.len() + acks.pending.len();
    let open = app
        .store
        .list_quotes(&user.0.actor, pricegate_store::QuoteFilter { state: Some("draft".into()), ..Default::default() })
        .await?;
    let page = DashboardPage {
        layout: user.layout(format!("Acknowledgements: {}", n.title)),
        csrf: user.csrf().to_owned(),
        id,
        published_at: n.published_at.map(stamp).unwrap_or_default(),
        title: n.title,
        chart: chart_points(published, &times, people),
        acknowledged: acks
            .acknowledged
            .into_iter()
            .map(|a| AckRow {
                not_sales: (a.user.role != Role::Sales.as_str()).then_some(a.user.role),
                name: a.user.name,
                email: a.user.email,
                at: stamp(a.acknowledged_at),
                channel: a.channel,
                blocked: Vec::new(),
            })
            .collect(),
        pending: acks
            .pending
            .into_iter()
            .map(|u| AckRow {
                blocked: open
                    .iter()
                    .filter(|q| q.signer_id == u.id && q.drafted_at < published)
                    .map(|q| (q.id, q.customer.name.clone()))
                    .collect(),
                not_sales: None,
                name: u.name,
                email: u.email,
                at: String::new(),
                channel: String::new(),
            })
            .collect(),
        message,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn dashboard(State(app): State<AppState>, PageId(id): PageId, user: PageUser) -> Result<Response, PageError> {
    dashboard_page(&app, &user, id, None).await
}

async fn remind(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let reminded = app.store.remind_now(&user.0.actor, id).await?;
    let mut message = format!("{} reminder{} queued.", reminded.queued, if reminded.queued == 1 { "" } else { "s" });
    match reminded.recently_reminded {
        0 => {}
        1 => message.push_str(&format!(" 1 salesperson was left out: mailed about it in the last {AGAIN} minutes.")),
        n => message.push_str(&format!(" {n} salespeople were left out: mailed about it in the last {AGAIN} minutes.")),
    }
    dashboard_page(&app, &user, id, Some(message)).await
}
