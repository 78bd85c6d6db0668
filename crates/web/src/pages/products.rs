//! The price list as it stands today, with the prices published to take
//! force later, for everyone logged in. Finance also adds a product here,
//! renames one, and imports a price list from CSV: a preview first, then the
//! import, which takes every row or none. Problems are reported by line
//! number. Prices are not edited here: they change only through notices.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use pricegate_domain::product_csv::{ProductRow as CsvRow, RowError, read_products};
use pricegate_domain::{Calendar, Currency, Invalid, Role, Sku, Text, UnreadablePrice, limits};
use pricegate_store::views::ProductView;
use pricegate_store::{ProductPatch, StoreError};
use uuid::Uuid;

use super::{
    CsrfForm, DoneCookie, Finance, Layout, PageError, PageId, PageQuery, PageSegment, PageUser, Seal, in_words, money,
    price_from, prices_to_come, render, search_text,
};
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/products/import", post(import))
        .route("/products/export.csv", get(export))
        .route("/products/{id}", get(super::product_history::history))
        .route("/products/{id}/edit", get(edit_form).post(update))
        .route("/products/{id}/sale", post(sale))
}

struct ProductRow {
    /// `None` for a row of an import preview, which is not a product yet.
    id: Option<Uuid>,
    sku: String,
    name: String,
    unit: String,
    price: String,
    /// A product's: since when its price is in force ("list price" until a
    /// notice changes it). A preview row's: the line of the file.
    since: String,
    /// A product's prices published to take force later, each with its date
    /// ("905.00 EUR from 2027-01-01"); none for a preview row.
    coming: Vec<String>,
    /// The business's day it was withdrawn from sale, if it is.
    withdrawn_on: Option<String>,
}

struct LineError {
    /// The file's line, 1 the header; 0 for what is said of the whole file.
    line: u64,
    message: String,
}

impl From<pricegate_store::CsvRowError> for LineError {
    fn from(e: pricegate_store::CsvRowError) -> Self {
        LineError { line: e.line, message: e.message }
    }
}

#[derive(Template)]
#[template(path = "pages/products.html")]
struct ProductsPage {
    layout: Layout,
    /// Finance's page, with the forms; everyone else reads the list.
    can_edit: bool,
    csrf: String,
    products: Vec<ProductRow>,
    /// The search as typed.
    q: String,
    /// Whether the list is narrowed by a search.
    searched: bool,
    /// Whether this is a later page of the list.
    later: bool,
    /// What in the address could not be read, said once above the list.
    note: Option<String>,
    /// The next page of the list, when there is one.
    more: Option<String>,
    /// The whole list's first page, when this is not it.
    everything: Option<String>,
    csv: String,
    preview: Vec<ProductRow>,
    /// The previewed lines priced at nought, each with its SKU: a quote
    /// would take them at no charge, which a price column left at 0 by
    /// mistake would make too.
    free: Vec<(u64, String)>,
    errors: Vec<LineError>,
    /// The CSV was sent to import, not to preview: its errors say nothing was imported.
    importing: bool,
    /// "Leave out SKUs already on the price list" was ticked.
    leave_out_listed: bool,
    /// The lines so left out, each with its SKU.
    left_out: Vec<(u64, String)>,
    /// Of those, the lines at a price other than the one in force today.
    repriced: Vec<RepricedLine>,
    /// Of those, the lines at another price not compared, each with why: of
    /// another unit or currency, withdrawn, or at a price published already.
    not_repriced: Vec<String>,
    /// Lines left out that could not be read, each with its problem.
    unreadable: Vec<String>,
    /// A new notice's form filled with those prices, dated `repriced_from`;
    /// `None` when they are too many for an address (then `repriced_lines`
    /// says them, to paste).
    notice_link: Option<String>,
    repriced_from: String,
    repriced_lines: String,
    message: Option<String>,
    new: NewProductInput,
    /// The add-product form's refused fields, each with its sentence.
    new_errors: std::collections::HashMap<String, String>,
}

#[derive(Default)]
struct NewProductInput {
    sku: String,
    name: String,
    unit: String,
    currency: String,
    price: String,
}

impl ProductsPage {
    /// How many products the preview shows, as people read a count.
    fn preview_count(&self) -> String {
        pricegate_domain::count(i64::try_from(self.preview.len()).unwrap_or(i64::MAX))
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        self.new_errors.get(field).map(String::as_str)
    }
}

/// Products on one page of the price list.
const PAGE_SIZE: u64 = 200;

/// Which products the list shows: those whose sku or name contains `q`
/// (every product without it), by sku, after the sku `after` (the last of
/// the page before).
#[derive(serde::Deserialize, Default)]
struct Listing {
    #[serde(default)]
    q: String,
    after: Option<String>,
    /// After an import that left out lines at new prices: those prices, as
    /// a notice's lines, for the link to draft one (the list's own links
    /// do not carry it on).
    #[serde(default)]
    changes: String,
}

impl Listing {
    /// The list's address, from after the sku `last` on.
    fn address(&self, last: Option<&str>) -> String {
        let text = search_text(&self.q);
        super::list_address("/products", &[text.as_deref().map(|q| ("q", q)), last.map(|sku| ("after", sku))])
    }

    /// Where the list goes on from, if this is a later page.
    fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|after| !after.is_empty())
    }
}

async fn page(app: &AppState, user: &PageUser, listing: &Listing, csv: String) -> Result<ProductsPage, PageError> {
    let mut coming = prices_to_come(app, None, app.store.today().await?).await?;
    let calendar = app.store.calendar();
    let text = search_text(&listing.q);
    let mut found = app.store.find_products(text.as_deref(), listing.after(), PAGE_SIZE + 1).await?;
    let more = super::cut_to_page(&mut found, PAGE_SIZE, |last| listing.address(last.map(|p| p.sku.as_str())));
    let products = found
        .into_iter()
        .map(|p| ProductRow {
            id: Some(p.id),
            price: money(&p.currency, p.unit_price_minor),
            since: p.price_since.map_or_else(|| "list price".to_owned(), |d| d.to_string()),
            coming: coming.remove(&p.sku).unwrap_or_default().iter().map(|c| price_from(&p.currency, c)).collect(),
            withdrawn_on: p.withdrawn_at.map(|at| calendar.date_of(at).to_string()),
            sku: p.sku,
            name: p.name,
            unit: p.unit,
        })
        .collect();
    Ok(ProductsPage {
        layout: user.layout("Price list"),
        can_edit: user.0.actor.role == Role::Finance,
        csrf: user.csrf().to_owned(),
        products,
        q: text.clone().unwrap_or_default(),
        searched: text.is_some(),
        later: listing.after().is_some(),
        note: None,
        more,
        everything: (text.is_some() || listing.after().is_some()).then(|| "/products".to_owned()),
        csv,
        preview: Vec::new(),
        errors: Vec::new(),
        importing: false,
        leave_out_listed: false,
        repriced: Vec::new(),
        not_repriced: Vec::new(),
        free: Vec::new(),
        unreadable: Vec::new(),
        notice_link: None,
        repriced_from: String::new(),
        repriced_lines: String::new(),
        left_out: Vec::new(),
        message: None,
        new: NewProductInput { unit: "each".into(), currency: "EUR".into(), ..NewProductInput::default() },
        new_errors: Default::default(),
    })
}

/// What a form on these pages did, carried across the redirect back to the
/// price list (post, redirect, get: reloading the list repeats nothing) in a
/// cookie that lives for a minute and is read once. It names ids and counts,
/// never text: the list says what happened from the products as they are.
#[derive(Debug, PartialEq)]
enum Done {
    Added(Uuid),
    Saved(Uuid),
    /// Products imported, and lines left out as their SKUs were listed already.
    Imported(usize, LeftOut),
    Withdrawn(Uuid),
    BackOnSale(Uuid),
    /// Withdrawn, or put back on sale, when it was so already (a second
    /// press, a page from before): nothing changed.
    AsItWas(Uuid),
    /// The edit form sent as the product is: nothing was written.
    Unchanged(Uuid),
}

const DONE: DoneCookie = DoneCookie { name: "pricegate_products_done", page: "/products" };

/// The lines an import left out as their SKUs were listed already: how
/// many, how many of those at another price, and how many could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct LeftOut {
    lines: usize,
    repriced: usize,
    unreadable: usize,
}

impl Done {
    fn cookie_value(&self) -> String {
        match self {
            Done::Added(id) => format!("added.{id}"),
            Done::Saved(id) => format!("saved.{id}"),
            Done::Unchanged(id) => format!("unchanged.{id}"),
            Done::Imported(n, LeftOut { lines: 0, .. }) => format!("imported.{n}"),
            Done::Imported(n, LeftOut { lines, repriced, unreadable: 0 }) => format!("imported.{n}.{lines}.{repriced}"),
            Done::Imported(n, LeftOut { lines, repriced, unreadable }) => {
                format!("imported.{n}.{lines}.{repriced}.{unreadable}")
            }
            Done::Withdrawn(id) => format!("withdrawn.{id}"),
            Done::BackOnSale(id) => format!("on-sale.{id}"),
            Done::AsItWas(id) => format!("as-it-was.{id}"),
        }
    }

    fn parse(value: &str) -> Option<Done> {
        let (kind, rest) = value.split_once('.')?;
        match kind {
            "added" => Uuid::parse_str(rest).ok().map(Done::Added),
            "saved" => Uuid::parse_str(rest).ok().map(Done::Saved),
            "unchanged" => Uuid::parse_str(rest).ok().map(Done::Unchanged),
            "imported" => {
                let mut counts = rest.split('.').map(str::parse::<usize>);
                let n = counts.next()?.ok()?;
                let mut count = || counts.next().map(Result::ok).unwrap_or(Some(0));
                let left_out = LeftOut { lines: count()?, repriced: count()?, unreadable: count()? };
                counts.next().is_none().then_some(Done::Imported(n, left_out))
            }
            "withdrawn" => Uuid::parse_str(rest).ok().map(Done::Withdrawn),
            "on-sale" => Uuid::parse_str(rest).ok().map(Done::BackOnSale),
            "as-it-was" => Uuid::parse_str(rest).ok().map(Done::AsItWas),
            _ => None,
        }
    }

    /// The product it was about, as it is now (`None` for an import, or a
    /// product gone since).
    fn about(&self) -> Option<Uuid> {
        match self {
            Done::Added(id)
            | Done::Saved(id)
            | Done::Unchanged(id)
            | Done::Withdrawn(id)
            | Done::BackOnSale(id)
            | Done::AsItWas(id) => Some(*id),
            Done::Imported(..) => None,
        }
    }

    /// What was done, said of `product`, the product it was about as it is
    /// now; `offered`: the page offers a notice with an import's new prices.
    fn sentence(&self, product: Option<&ProductView>, offered: bool) -> Option<String> {
        match (self, product) {
            (Done::Imported(n, LeftOut { lines: left_out, repriced, unreadable }), _) => {
                let plural = |n: usize| if n == 1 { "" } else { "s" };
                let left = match left_out {
                    0 => String::new(),
                    m => format!(
                        " Left out {m} line{} whose SKU{} already on the price list.",
                        plural(*m),
                        if *m == 1 { " was" } else { "s were" }
                    ),
                };
                let left = match unreadable {
                    0 => left,
                    1 if *left_out == 1 => format!("{left} It could not be read: preview the file to see why."),
                    u => format!("{left} {u} of them could not be read: preview the file to see why."),
                };
                let left = match repriced {
                    0 => left,
                    r if offered => format!(
                        "{left} {r} of them name{} another price than today's: a price changes only by a notice, \
                         which you can draft with {} below.",
                        if *r == 1 { "s" } else { "" },
                        if *r == 1 { "its new price" } else { "their new prices" }
                    ),
                    r => format!(
                        "{left} {r} of them name{} another price than today's: a price changes only by a notice. \
                         Preview a file before importing it to be offered one with {}.",
                        if *r == 1 { "s" } else { "" },
                        if *r == 1 { "its new price" } else { "their new prices" }
                    ),
                };
                let n_said = pricegate_domain::count(i64::try_from(*n).unwrap_or(i64::MAX));
                Some(format!("Imported {n_said} product{}.{left}", plural(*n)))
            }
            (_, None) => None,
            (Done::Added(_), Some(p)) => Some(format!("Added {}.", p.sku)),
            (Done::Saved(_), Some(p)) => Some(format!("Saved {}: {} (unit: {}).", p.sku, p.name, p.unit)),
            (Done::Unchanged(_), Some(p)) => {
                Some(format!("Nothing to save: the form was as {} is ({}, unit: {}).", p.sku, p.name, p.unit))
            }
            (Done::Withdrawn(_), Some(p)) => Some(format!(
                "Withdrew {} ({}) from sale: the quotes that carry it keep it, and no quote takes it on anew.",
                p.sku, p.name
            )),
            (Done::BackOnSale(_), Some(p)) => {
                Some(format!("{} ({}) is on sale again: quotes can take it on.", p.sku, p.name))
            }
            (Done::AsItWas(_), Some(p)) => Some(match p.withdrawn_at {
                Some(_) => format!("{} ({}) was withdrawn from sale already: nothing changed.", p.sku, p.name),
                None => format!("{} ({}) is on sale already: nothing changed.", p.sku, p.name),
            }),
        }
    }

    /// The redirect to the price list that reports this: to the product it
    /// was about, `sku`, found by its SKU, wherever the whole list would
    /// place it; to the list's first page after an import.
    fn back_to_list(self, seal: &Seal, sku: Option<&str>) -> Response {
        self.back_to_list_with(seal, sku.map(|sku| ("q", sku)))
    }

    /// Back to the list after an import, with the new prices of the lines
    /// it left out (`changes`, a notice's lines), if any, for the list to
    /// offer a notice with them, as the preview did.
    fn back_to_list_offering(self, seal: &Seal, changes: Option<&str>) -> Response {
        self.back_to_list_with(seal, changes.map(|changes| ("changes", changes)))
    }

    fn back_to_list_with(self, seal: &Seal, pair: Option<(&str, &str)>) -> Response {
        DONE.redirect_to(seal, &super::list_address("/products", &[pair]), &self.cookie_value())
    }
}

/// The address of a new notice's form filled in with `changes` (a notice's
/// lines), unless it would be too long for one.
fn notice_with(changes: &str) -> Option<String> {
    let link = super::list_address("/notices/new", &[Some(("changes", changes))]);
    (link.len() <= crate::limits::MAX_TARGET_BYTES / 2).then_some(link)
}

/// A line of an import left out for naming a product on the price list, at
/// a price other than the one in force today.
struct RepricedLine {
    line: u64,
    sku: String,
    /// Today's price, and the file's, with their currency.
    listed: String,
    file: String,
    /// The file's price as finance types it (`229.00`), for a notice's line.
    typed: String,
}

/// Of the lines `out` (left out, their SKUs on the list), those at another
/// price than today's, for the product's unit and in its currency: what a
/// notice would change. Besides, each line at another price not so compared,
/// said with why: another unit or currency (a price per pack is no price per
/// piece), a product withdrawn from sale, a price published already to come.
async fn repriced_lines(app: &AppState, out: &[CsvRow]) -> Result<(Vec<RepricedLine>, Vec<String>), PageError> {
    if out.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let listed: std::collections::HashMap<String, ProductView> =
        app.store.list_products().await?.into_iter().map(|p| (p.sku.clone(), p)).collect();
    let skus: Vec<&str> = out.iter().map(|r| r.sku.as_str()).collect();
    let to_come = prices_to_come(app, Some(&skus), app.store.today().await?).await?;
    let (mut repriced, mut not_compared) = (Vec::new(), Vec::new());
    for r in out {
        let Some(product) = listed.get(r.sku.as_str()) else { continue };
        if product.unit_price_minor == r.unit_price_minor && product.currency == r.currency.code() {
            continue;
        }
        let at = format!("line {} {}", r.line, product.sku);
        let published =
            to_come.get(&product.sku).and_then(|c| c.iter().find(|p| p.unit_price_minor == r.unit_price_minor));
        if product.currency != r.currency.code() {
            not_compared.push(format!("{at}: in {}, the list's in {}", r.currency.code(), product.currency));
        } else if product.unit != r.unit.as_str() {
            not_compared.push(format!("{at}: per {}, the list's per {}", r.unit.as_str(), product.unit));
        } else if product.withdrawn_at.is_some() {
            not_compared.push(format!("{at}: withdrawn from sale"));
        } else if let Some(published) = published {
            let price = r.currency.format(published.unit_price_minor);
            not_compared.push(format!("{at}: {price} is published already, from {}", published.effective_on));
        } else {
            repriced.push(RepricedLine {
                line: r.line,
                sku: product.sku.clone(),
                listed: r.currency.format(product.unit_price_minor),
                file: r.currency.format(r.unit_price_minor),
                typed: r.currency.decimal(r.unit_price_minor),
            });
        }
    }
    Ok((repriced, not_compared))
}

/// The products on sale at their prices today, as a CSV file to download
/// and open in a spreadsheet (the import reads it back).
/// The products on sale as a CSV file, whole: an address with a query (a
/// search typed onto it, say) is refused rather than answered with every
/// product as if it had been read.
async fn export(
    State(app): State<AppState>,
    _user: PageUser,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    if raw.is_some_and(|q| !q.is_empty()) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This address could not be read",
            "The price list downloads whole, and this address takes no filter. Download it from the price list, \
             /products.",
        ));
    }
    Ok(crate::api::products::price_list_download(&app, true).await?)
}

async fn list(
    State(app): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    // An address that cannot be read (a search given twice) lists every product, and says so.
    PageQuery { query: listing, unreadable }: PageQuery<Listing>,
) -> Result<Response, PageError> {
    let mut page = page(&app, &user, &listing, String::new()).await?;
    if unreadable {
        page.note = Some("This address could not be read (a search given twice, say): showing every product.".into());
    }
    let seal = user.seal(&app);
    if let Some(done) = DONE.read(&headers, &seal).and_then(Done::parse) {
        let product = match done.about() {
            Some(id) => match app.store.get_product(id).await {
                Ok(p) => Some(p),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let changes = listing.changes.trim();
        let offered = matches!(done, Done::Imported(_, left) if left.repriced > 0) && !changes.is_empty();
        if offered {
            page.notice_link = notice_with(changes);
        }
        page.message = done.sentence(product.as_ref(), page.notice_link.is_some());
    }
    Ok(DONE.told(&headers, &seal, &page))
}

fn preview_row(r: &CsvRow) -> ProductRow {
    ProductRow {
        id: None,
        sku: r.sku.as_str().to_owned(),
        name: r.name.as_str().to_owned(),
        unit: r.unit.as_str().to_owned(),
        price: r.currency.format(r.unit_price_minor),
        since: format!("line {}", r.line),
        coming: Vec::new(),
        withdrawn_on: None,
    }
}

async fn import(
    State(app): State<AppState>,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let csv = form.get("csv").to_owned();
    let (mut rows, mut unread) = read_products(csv.as_bytes());
    let mut page = page(&app, &user, &Listing::default(), csv).await?;
    page.importing = form.get("action") == "import";
    page.leave_out_listed = form.get("leave_out_listed") == "1";
    if page.leave_out_listed {
        // SKUs already on the list exactly as written: their prices change
        // only through notices, so the lines are left out, not refused.
        // A listed SKU's line that cannot be read is left out as well: its
        // problem is said, and it holds nothing up.
        let skus: Vec<&str> =
            rows.iter().map(|r| r.sku.as_str()).chain(unread.iter().filter_map(|e| e.sku.as_deref())).collect();
        let listed = app.store.listed_exactly(&skus).await?;
        let (kept, out): (Vec<CsvRow>, Vec<CsvRow>) = rows.into_iter().partition(|r| !listed.contains(r.sku.as_str()));
        let is_listed = |e: &RowError| e.sku.as_deref().is_some_and(|sku| listed.contains(sku));
        let (unreadable, still): (Vec<RowError>, Vec<RowError>) = unread.into_iter().partition(is_listed);
        unread = still;
        page.left_out = out.iter().map(|r| (r.line, r.sku.as_str().to_owned())).collect();
        (page.repriced, page.not_repriced) = repriced_lines(&app, &out).await?;
        for RowError { line, sku, message, .. } in unreadable {
            let sku = sku.unwrap_or_default();
            page.unreadable.push(format!("line {line} {sku}: {}", message.trim_end_matches('.')));
            page.left_out.push((line, sku));
        }
        page.left_out.sort_unstable();
        if !page.repriced.is_empty() {
            let from = app.store.today().await? + chrono::Days::new(1);
            let lines: Vec<String> = page.repriced.iter().map(|r| format!("{}, {}, {from}", r.sku, r.typed)).collect();
            page.repriced_lines = lines.join("\n");
            page.notice_link = notice_with(&page.repriced_lines);
            page.repriced_from = from.to_string();
        }
        rows = kept;
        if rows.is_empty() && unread.is_empty() && !page.left_out.is_empty() {
            // Of the whole file, not of a line (line 0: said without one).
            page.errors = vec![LineError {
                line: 0,
                message: "Every SKU in it is on the price list already: there is nothing new to import.".to_owned(),
            }];
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    }
    let rows = match app.store.products_to_import((rows, unread)).await? {
        Ok(rows) => rows,
        Err(errors) => {
            page.errors = errors.into_iter().map(LineError::from).collect();
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    if form.get("action") != "import" {
        // What the import would refuse, the preview says first.
        let taken = app.store.check_import(&rows).await?;
        if !taken.is_empty() {
            page.errors = as_imported_already(&app, &rows, taken).await?;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        page.preview = rows.iter().map(preview_row).collect();
        page.free =
            rows.iter().filter(|r| r.unit_price_minor == 0).map(|r| (r.line, r.sku.as_str().to_owned())).collect();
        return Ok(render(StatusCode::OK, &page));
    }
    let left_out =
        LeftOut { lines: page.left_out.len(), repriced: page.repriced.len(), unreadable: page.unreadable.len() };
    // Kept to tell a refusal of them all (see `as_imported_already`).
    let sent = rows.clone();
    match app.store.import_products(&user.0.actor, rows).await? {
        Ok(imported) => {
            let changes = page.notice_link.is_some().then_some(page.repriced_lines.as_str());
            Ok(Done::Imported(imported.len(), left_out).back_to_list_offering(&user.seal(&app), changes))
        }
        Err(errors) => {
            page.errors = as_imported_already(&app, &sent, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// A file's refusals, as the page says them: line by line, but for a file
/// imported already (Import pressed twice, or in another tab), every line
/// refused for a SKU listed exactly so at the price the file names, which
/// is said as one.
async fn as_imported_already(
    app: &AppState,
    rows: &[CsvRow],
    refused: Vec<pricegate_store::CsvRowError>,
) -> Result<Vec<LineError>, PageError> {
    let every_line = !rows.is_empty() && refused.len() == rows.len();
    let skus: Vec<&str> = rows.iter().map(|r| r.sku.as_str()).collect();
    if every_line && app.store.listed_exactly(&skus).await?.len() == rows.len() {
        let (repriced, not_repriced) = repriced_lines(app, rows).await?;
        if repriced.is_empty() && not_repriced.is_empty() {
            return Ok(vec![LineError { line: 0, message: IMPORTED_ALREADY.to_owned() }]);
        }
    }
    Ok(refused.into_iter().map(LineError::from).collect())
}

/// What a file imported already is told.
const IMPORTED_ALREADY: &str = "Every product in it is on the price list already, at the price it names: a file \
    imported once (Import pressed twice, say, or in another tab) is there in full, in the list above.";

/// The add-product form parsed, or every field it refuses (the price only
/// once the currency is known: it is read in that currency's minor units).
fn parse_new_product(input: &NewProductInput) -> Result<pricegate_store::NewProduct, Vec<Invalid>> {
    let currency = Currency::parse(&input.currency);
    const BELOW_ZERO: &str = "The unit price cannot be below zero.";
    let price = currency.as_ref().ok().map(|currency| {
        currency.read_unit_price(&input.price).map_err(|why| {
            let message = match why {
                UnreadablePrice::BelowZero => BELOW_ZERO.to_owned(),
                UnreadablePrice::TooHigh => format!("The unit price can be {} at most.", currency.highest_unit_price()),
                UnreadablePrice::NotAnAmount => {
                    match pricegate_domain::product_csv::currency_written_in(&input.price) {
                        Some(sign) => format!(
                            "Write the unit price alone, without its currency ({sign}), such as {}: its currency is \
                             chosen beside it.",
                            currency.example()
                        ),
                        None => super::decimal_comma_refused(currency, &input.price, "the unit price").unwrap_or_else(
                            || format!("Write the unit price in {}, such as {}.", currency.code(), currency.example()),
                        ),
                    }
                }
            };
            Invalid::new("price", message)
        })
    });
    // Without a currency the price cannot be read in its units, but one that
    // is no amount at all is named with the rest.
    let price = price.or_else(|| {
        // Below zero, that is, but for nought (`-0.00`), which a currency reads as 0.
        let below_zero = input.price.trim().strip_prefix('-').and_then(|p| pricegate_domain::parse_amount(p, 3));
        if below_zero.is_some_and(|minor| minor != 0) {
            return Some(Err(Invalid::new("price", BELOW_ZERO)));
        }
        pricegate_domain::parse_amount(&input.price, 3)
            .is_none()
            .then(|| Err(Invalid::new("price", "Write the unit price as an amount, such as 1250.00.")))
    });
    let sku = Sku::parse(&input.sku);
    let name = Text::parse("name", &input.name, limits::NAME);
    let unit = Text::parse("unit", &input.unit, limits::UNIT);
    match (sku, name, unit, currency, price) {
        (Ok(sku), Ok(name), Ok(unit), Ok(currency), Some(Ok(unit_price_minor))) => {
            Ok(pricegate_store::NewProduct { sku, name, unit, currency, unit_price_minor })
        }
        (sku, name, unit, currency, price) => {
            Err([sku.err(), name.err(), unit.err(), currency.err(), price.and_then(Result::err)]
                .into_iter()
                .flatten()
                .collect())
        }
    }
}

/// Domain messages name the field as the API spells it; the page says it in words.
const LABELS: &[(&str, &str)] = &[
    ("sku", "The SKU"),
    ("name", "The name"),
    ("unit", "The unit"),
    ("currency", "The currency"),
    ("price", "The price"),
];

/// Adds one product to the price list.
async fn create(
    State(app): State<AppState>,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let input = NewProductInput {
        sku: form.get("sku").to_owned(),
        name: form.get("name").to_owned(),
        unit: form.get("unit").to_owned(),
        currency: form.get("currency").to_owned(),
        price: form.get("price").to_owned(),
    };
    let errors = match parse_new_product(&input) {
        Ok(new) => match app.store.create_product(&user.0.actor, new).await {
            Ok(p) => return Ok(Done::Added(p.id).back_to_list(&user.seal(&app), Some(&p.sku))),
            Err(StoreError::Invalid(e)) => vec![e],
            Err(StoreError::Conflict { message, .. }) => vec![Invalid::new("sku", message)],
            Err(e) => return Err(e.into()),
        },
        Err(mut errors) => {
            // A SKU already on the list is named with the rest, not after they are put right.
            if let Ok(sku) = pricegate_domain::Sku::parse(&input.sku)
                && let Some(listed) = app.store.listed_sku(sku.as_str()).await?
            {
                errors.push(Invalid::new("sku", pricegate_domain::Sku::taken(sku.as_str(), &listed)));
            }
            errors
        }
    };
    let mut page = page(&app, &user, &Listing::default(), String::new()).await?;
    for invalid in errors {
        let field = if ["sku", "name", "unit", "currency", "price"].contains(&invalid.field.as_str()) {
            invalid.field
        } else {
            "sku".to_owned()
        };
        page.new_errors.entry(field).or_insert(in_words(invalid.message, LABELS));
    }
    page.new = input;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "pages/product_edit.html")]
struct EditPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    sku: String,
    currency: String,
    price: String,
    name: String,
    unit: String,
    /// The business's day it was withdrawn from sale, if it is.
    withdrawn_on: Option<String>,
    /// Refused fields (`name`, `unit`), each with its sentence.
    errors: Vec<(String, String)>,
    /// The version of the product the form is for ([`ProductView::revision`]).
    revision: i64,
    /// The product as a colleague changed it after the form was opened.
    changed: Option<Changed>,
    /// Its prices published already to take force later ("905.00 EUR from
    /// 2027-01-01"): a notice about it starts from them.
    to_come: Vec<String>,
}

/// A product changed after its edit form was opened: what it is now.
struct Changed {
    message: String,
    name: String,
    unit: String,
    /// Withdrawing it, or putting it back on sale, is a change too.
    on_sale: bool,
}

impl EditPage {
    fn new(user: &PageUser, p: &ProductView, calendar: Calendar) -> EditPage {
        EditPage {
            layout: user.layout(format!("Edit {}", p.sku)),
            csrf: user.csrf().to_owned(),
            id: p.id,
            sku: p.sku.clone(),
            currency: p.currency.clone(),
            price: money(&p.currency, p.unit_price_minor),
            name: p.name.clone(),
            unit: p.unit.clone(),
            withdrawn_on: p.withdrawn_at.map(|at| calendar.date_of(at).to_string()),
            errors: Vec::new(),
            revision: p.revision(),
            changed: None,
            to_come: Vec::new(),
        }
    }

    /// [`EditPage::new`], with the product's prices to come.
    async fn of(app: &AppState, user: &PageUser, p: &ProductView) -> Result<EditPage, PageError> {
        let mut page = EditPage::new(user, p, app.store.calendar());
        let to_come = app.store.prices_to_come(Some(&[p.sku.as_str()]), app.store.today().await?).await?;
        page.to_come = to_come.iter().map(|c| price_from(&p.currency, c)).collect();
        Ok(page)
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

/// `/products/{id}/edit`; `/products/PUMP-S60/edit`, by the product's SKU, leads there.
async fn edit_form(
    State(app): State<AppState>,
    PageSegment(raw): PageSegment,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    let Ok(id) = Uuid::parse_str(&raw) else {
        return super::product_history::by_sku(&app, &raw, super::product_history::ProductPage::Edit, None).await;
    };
    let product = app.store.get_product(id).await?;
    Ok(render(StatusCode::OK, &EditPage::of(&app, &user, &product).await?))
}

/// Renames a product or changes its unit; back to the price list, which says so.
/// Each form that changes the price list redirects to it when it succeeds.
async fn update(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let product = app.store.get_product(id).await?;
    let mut page = EditPage::of(&app, &user, &product).await?;
    page.name = form.get("name").to_owned();
    page.unit = form.get("unit").to_owned();
    // The version the form was opened on, kept through a refusal; a form
    // without it is from a page older than the field, and saves nothing
    // until shown the product as it is.
    page.revision = form.seen().unwrap_or(i64::MIN);
    // Both fields are checked, so the form comes back with all its problems at once.
    let refused = match (Text::parse("name", &page.name, limits::NAME), Text::parse("unit", &page.unit, limits::UNIT)) {
        (Ok(name), Ok(unit)) => {
            // A colleague's change since the form was opened is not saved over.
            let as_seen = Some(vec![page.revision]);
            let patch = ProductPatch { name: Some(name), unit: Some(unit), withdrawn: None, as_seen };
            match app.store.edit_product(&user.0.actor, id, patch).await {
                Ok((p, true)) => return Ok(Done::Saved(p.id).back_to_list(&user.seal(&app), Some(&p.sku))),
                Ok((p, false)) => return Ok(Done::Unchanged(p.id).back_to_list(&user.seal(&app), Some(&p.sku))),
                Err(StoreError::Invalid(e)) => vec![e],
                // The form as it was sent, beside what the product is now, to save again on it.
                Err(StoreError::Conflict { code: "product_changed", message }) => {
                    let now = app.store.get_product(id).await?;
                    page.revision = now.revision();
                    let on_sale = now.withdrawn_at.is_none();
                    page.changed = Some(Changed { message, name: now.name, unit: now.unit, on_sale });
                    return Ok(render(StatusCode::CONFLICT, &page));
                }
                // Said beside the unit, with the form as it was sent.
                Err(StoreError::Conflict { code: "unit_in_use", message }) => {
                    page.errors.push(("unit".to_owned(), message));
                    return Ok(render(StatusCode::CONFLICT, &page));
                }
                Err(e) => return Err(e.into()),
            }
        }
        (name, unit) => [name.err(), unit.err()].into_iter().flatten().collect(),
    };
    for invalid in refused {
        let field = if invalid.field == "unit" { "unit" } else { "name" };
        page.errors.push((field.to_owned(), in_words(invalid.message, LABELS)));
    }
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Withdraws a product from sale (`on_sale=no`) or puts it back on sale
/// (`on_sale=yes`); back to the price list, which says so.
async fn sale(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let withdrawn = match form.get("on_sale") {
        "no" => true,
        "yes" => false,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "This form could not be read",
                "It says neither to withdraw the product nor to put it back on sale: open the product's page and use its button.",
            ));
        }
    };
    // Whether it changed is the store's word, read under the product's lock:
    // pressed twice at once, the second finds it done already.
    let patch = ProductPatch { withdrawn: Some(withdrawn), ..ProductPatch::default() };
    let (product, changed) = app.store.edit_product(&user.0.actor, id, patch).await?;
    let done = match (changed, withdrawn) {
        (false, _) => Done::AsItWas(product.id),
        (true, true) => Done::Withdrawn(product.id),
        (true, false) => Done::BackOnSale(product.id),
    };
    Ok(done.back_to_list(&user.seal(&app), Some(&product.sku)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_done_survives_its_cookie_and_nothing_else_parses() {
        let id = Uuid::new_v4();
        for done in [
            Done::Added(id),
            Done::Saved(id),
            Done::Imported(12, LeftOut::default()),
            Done::Imported(12, LeftOut { lines: 3, ..LeftOut::default() }),
            Done::Imported(12, LeftOut { lines: 3, repriced: 2, unreadable: 0 }),
            Done::Imported(12, LeftOut { lines: 3, repriced: 0, unreadable: 1 }),
            Done::Withdrawn(id),
            Done::BackOnSale(id),
            Done::AsItWas(id),
        ] {
            assert_eq!(Done::parse(&done.cookie_value()), Some(done));
        }
        for junk in
            ["", "added", "added.", "added.not-a-uuid", "imported.-1", "imported.1.2.3.4.5", "deleted.1", "<script>.1"]
        {
            assert_eq!(Done::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn every_refused_field_of_a_new_product_is_named_at_once() {
        let input = |currency: &str, price: &str| NewProductInput {
            sku: "bad sku!".into(),
            name: String::new(),
            unit: "each".into(),
            currency: currency.into(),
            price: price.into(),
        };
        let fields = |errors: Vec<Invalid>| errors.into_iter().map(|e| e.field).collect::<Vec<_>>();
        let refused = parse_new_product(&input("eu", "abc")).err().map(fields);
        assert_eq!(refused, Some(vec!["sku".into(), "name".into(), "currency".into(), "price".into()]));
        let refused = parse_new_product(&input("eu", "1250.00")).err().map(fields);
        assert_eq!(
            refused,
            Some(vec!["sku".into(), "name".into(), "currency".into()]),
            "an amount waits for its currency"
        );
        let price_said = |price: &str| {
            let errors = parse_new_product(&input("EUR", price)).err().unwrap_or_default();
            errors.into_iter().find(|e| e.field == "price").map(|e| e.message)
        };
        assert_eq!(
            price_said("92233720368547758.07").as_deref(),
            Some("The unit price can be 100,000,000.00 EUR at most.")
        );
        assert_eq!(price_said("-1").as_deref(), Some("The unit price cannot be below zero."));
        assert_eq!(
            price_said("1.234,50").as_deref(),
            Some(
                "“1.234,50” has a decimal comma, which is not read here: write the unit price with a point, as 1234.50."
            )
        );
        assert_eq!(price_said("cheap").as_deref(), Some("Write the unit price in EUR, such as 1250.00."));
        assert_eq!(
            price_said("€ 1,234.50").as_deref(),
            Some(
                "Write the unit price alone, without its currency (€), such as 1250.00: its currency is chosen beside it."
            )
        );
        assert_eq!(price_said("1,234.50"), None);
    }
}
