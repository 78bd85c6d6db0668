//! Finance: drafting a notice and editing a draft, on one form (title,
//! Markdown body, structured price changes). "Preview" re-renders the form
//! with the notice as salespeople will see it, without saving; with script,
//! /static/app.js keeps that preview current while finance types, through
//! `POST /notices/preview`, which renders with the same renderer.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Datelike, Months, NaiveDate};
use pricegate_domain::{Currency, Role, Sku, Text, UnreadablePrice, limits, parse_date};
use pricegate_mail::render_markdown;
use pricegate_store::views::{NoticeView, PriceChangeView, ProductView};
use pricegate_store::{
    MAX_CHANGES, NOTICE_DRAFTED_ALREADY, NewNotice, NewPriceChange, NoticePatch, StoreError, form_row_id,
};
use uuid::Uuid;

use super::notice_publish::NoticeDone;
use super::{
    ChangeRow, CsrfForm, EXPIRED_FORM_KEPT, Finance, FormFields, KeptForm, Layout, PageError, PageId, PageQuery,
    PageUser, in_words, render,
};
use crate::{AppState, filters};

/// The longest notice text, as the API allows it.
const MAX_BODY: usize = limits::NOTICE_BODY;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/new", get(new_form).post(create))
        .route("/notices/{id}/edit", get(edit_form).post(update))
        .route("/notices/{id}/delete", get(confirm_delete).post(delete))
        .route("/notices/preview", post(preview))
}

#[derive(Template)]
#[template(path = "pages/notice_form.html")]
struct DraftPage {
    layout: Layout,
    csrf: String,
    heading: String,
    /// Where the form posts, and where "Back" leads.
    action: String,
    back: String,
    title: String,
    body: String,
    changes_text: String,
    errors: HashMap<&'static str, String>,
    /// The notice as it will read: the body rendered, and the price changes
    /// when they can be read.
    body_html: String,
    changes: Vec<ChangeRow>,
    /// Shown after "Preview": nothing was saved.
    previewed: bool,
    /// The changes field's placeholder: a line about a product on the price
    /// list, as finance would write it.
    example: String,
    /// An edited draft's revision as the form was opened on: saving a draft
    /// changed since is refused, not overwritten. `None` for a new draft.
    revision: Option<i64>,
    /// Why the form just sent saved nothing, when no field is to blame.
    not_saved: Option<String>,
    /// The draft this form saved already, when sent again changed: linked,
    /// to change that one rather than save another.
    saved_draft: Option<Uuid>,
    /// The notice an edit form was for, published while it was open: what
    /// was typed comes back as a new notice's form, linking to it.
    published_meanwhile: Option<Uuid>,
    /// A new draft's form key, made when its form was first opened: the form
    /// sent twice saves it once ([`pricegate_store::NewNotice::form_key`]).
    /// `None` when editing.
    draft_id: Option<Uuid>,
    /// The notice a new one's form was filled from: (id, title).
    copied_from: Option<(Uuid, String)>,
}

impl DraftPage {
    fn max_changes(&self) -> usize {
        MAX_CHANGES
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn new(user: &PageUser) -> DraftPage {
        DraftPage {
            layout: user.layout("New price notice"),
            csrf: user.csrf().to_owned(),
            heading: "New price notice".into(),
            action: "/notices/new".into(),
            back: "/notices".into(),
            title: String::new(),
            body: String::new(),
            changes_text: String::new(),
            errors: HashMap::new(),
            body_html: String::new(),
            changes: Vec::new(),
            previewed: false,
            // Every handler sets it, with the products and the business day.
            example: String::new(),
            revision: None,
            not_saved: None,
            saved_draft: None,
            published_meanwhile: None,
            draft_id: Some(Uuid::new_v4()),
            copied_from: None,
        }
    }

    /// The form for editing `notice`, filled with what it holds now (its
    /// changes as shown are the caller's: read as published today).
    fn edit(user: &PageUser, notice: &NoticeView) -> DraftPage {
        let mut page = DraftPage::new(user);
        page.layout = user.layout(format!("Edit: {}", notice.title));
        page.heading = format!("Edit “{}”", notice.title);
        page.action = format!("/notices/{}/edit", notice.id);
        page.back = format!("/notices/{}", notice.id);
        page.title = notice.title.clone();
        page.body = notice.body.clone();
        page.changes_text = change_lines(&notice.changes);
        page.body_html = render_markdown(&page.body, 3);
        page.revision = Some(notice.revision());
        page.draft_id = None;
        page
    }

    fn keep_input(&mut self, form: &FormFields) {
        // The draft as the form was opened on; a form without it is from a
        // page older than the field, and saves nothing until shown the draft.
        if self.revision.is_some() {
            self.revision = Some(form.seen().unwrap_or(i64::MIN));
        }
        if self.draft_id.is_some() {
            // A page from before the field: an id of its own, as it had.
            self.draft_id = Some(Uuid::parse_str(form.get("draft_id")).unwrap_or_else(|_| Uuid::new_v4()));
        }
        self.title = form.get("title").to_owned();
        self.body = form.get("body").to_owned();
        self.changes_text = form.get("changes").to_owned();
        self.body_html = render_markdown(&self.body, 3);
    }
}

/// A change line for the placeholder: the first product on the price list at
/// its price today, from the first of next month.
fn example_line(products: &[ProductView], today: NaiveDate) -> String {
    let next_month = today.checked_add_months(Months::new(1)).and_then(|d| d.with_day(1)).unwrap_or(today);
    match products.first() {
        Some(p) => format!("{}, {}, {next_month}", p.sku, amount_text(&p.currency, p.unit_price_minor)),
        None => format!("SKU, 1390.00, {next_month}"),
    }
}

/// An amount as finance types it: `1390.00` for 139000 EUR cents.
fn amount_text(currency: &str, minor: i64) -> String {
    Currency::parse(currency).map_or_else(|_| minor.to_string(), |c| c.decimal(minor))
}

/// What an address may fill a new notice's form with: its price changes,
/// one per line, as the form takes them (the price list's import links here
/// with the new prices a file named), or a notice to copy (`copy`, its id:
/// a published notice never changes, so a correction starts from a copy).
/// Only filled in: nothing is saved.
#[derive(serde::Deserialize, Default)]
struct Prefill {
    #[serde(default)]
    changes: String,
    #[serde(default)]
    copy: String,
}

async fn new_form(
    State(app): State<AppState>,
    user: PageUser,
    PageQuery { query, .. }: PageQuery<Prefill>,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    let mut page = DraftPage::new(&user);
    page.changes_text = query.changes;
    if !query.copy.trim().is_empty() {
        // A notice to copy that is none is said so, not an empty form.
        let source = Uuid::parse_str(query.copy.trim()).map_err(|_| super::forms::not_found())?;
        let notice = app.store.read_notice(&user.0.actor, source).await?;
        page.copied_from = Some((notice.id, notice.title.clone()));
        page.title = notice.title;
        page.body = notice.body;
        page.changes_text = change_lines(&notice.changes);
    }
    page.example = example_line(&app.store.list_products().await?, app.store.today().await?);
    Ok(render(StatusCode::OK, &page))
}

/// A notice's changes as the form's lines: `SKU, new unit price, date`.
fn change_lines(changes: &[PriceChangeView]) -> String {
    let lines: Vec<String> = changes
        .iter()
        .map(|c| format!("{}, {}, {}", c.sku, amount_text(&c.currency, c.unit_price_minor), c.effective_on))
        .collect();
    lines.join("\n")
}

/// One change per line: `SKU, new unit price, effective date`.
fn parse_changes(text: &str, products: &[ProductView]) -> Result<Vec<NewPriceChange>, String> {
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    let catalogue = Catalogue::new(products);
    // A spreadsheet's header row, pasted with the rest, is no change: a
    // first line whose SKU is on no product and whose price and date hold
    // no digit (`SKU,Price,Date`).
    let header = |line: &str| {
        let wordy = |field: &str| !field.chars().any(|c| c.is_ascii_digit());
        change_fields(line)
            .is_some_and(|[sku, price, date]| !catalogue.exact.contains_key(sku) && wordy(price) && wordy(date))
    };
    let lines = match lines.split_first() {
        Some(((_, first), [])) if header(first) => {
            return Err("Line 1 is a header row with no price changes under it.".to_owned());
        }
        Some(((_, first), rest)) if header(first) => rest.to_vec(),
        _ => lines,
    };
    // Too many is said at once, before any line is read: the answer to a
    // pasted spreadsheet of thousands of rows is this sentence, not a page
    // of sentences (nor the time to work them out).
    if lines.len() > MAX_CHANGES {
        let there_are = pricegate_domain::count(i64::try_from(lines.len()).unwrap_or(i64::MAX));
        return Err(format!("There are {there_are} price changes; a notice may carry at most {MAX_CHANGES}."));
    }
    // Each change with the line it was read from; every refused line is
    // reported, one sentence per line, not just the first.
    let mut read: HashMap<(Sku, NaiveDate), usize> = HashMap::new();
    let mut changes = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for (n, line) in lines {
        match parse_change(line, &catalogue).and_then(|change| {
            match read.entry((change.sku.clone(), change.effective_on)) {
                Entry::Occupied(first) => Err(format!(
                    "{} from {} is already priced on line {}; give one price per product and date.",
                    change.sku,
                    change.effective_on,
                    first.get()
                )),
                Entry::Vacant(slot) => {
                    slot.insert(n);
                    Ok(change)
                }
            }
        }) {
            Ok(change) => changes.push(change),
            Err(why) => refused.push(format!("Line {n}: {why}")),
        }
    }
    if refused.is_empty() { Ok(changes) } else { Err(refused.join("\n")) }
}

/// The price list by SKU, and by SKU in lower case for the "did you mean" hint.
struct Catalogue<'a> {
    exact: HashMap<&'a str, &'a ProductView>,
    folded: HashMap<String, &'a str>,
}

impl<'a> Catalogue<'a> {
    fn new(products: &'a [ProductView]) -> Self {
        Catalogue {
            exact: products.iter().map(|p| (p.sku.as_str(), p)).collect(),
            folded: products.iter().map(|p| (p.sku.to_lowercase(), p.sku.as_str())).collect(),
        }
    }
}

/// A line's fields between commas outside double quotes, as a spreadsheet
/// writes CSV (`PUMP-100,"1,390.50",2027-01-01`).
fn csv_fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (at, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                fields.push(&line[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    fields.push(&line[start..]);
    fields
}

/// A line's three fields, trimmed and out of any double quotes around them
/// (a spreadsheet may quote every field), if it has three (see [`parse_change`]).
/// Separators after the date (an empty column a spreadsheet copied too) are
/// left out: a date ends with none.
fn change_fields(line: &str) -> Option<[&str; 3]> {
    let separator = |c: char| c == ',' || c == ';' || c.is_whitespace();
    match three_fields(line) {
        Some(fields) if !fields[2].ends_with(separator) => Some(fields),
        _ => three_fields(line.trim_end_matches(separator)),
    }
}

fn three_fields(line: &str) -> Option<[&str; 3]> {
    let by_semicolons_or_tabs: Vec<&str> = line.split(';').flat_map(|p| p.split('\t')).collect();
    let parts = [by_semicolons_or_tabs, csv_fields(line), line.splitn(3, ", ").collect()]
        .into_iter()
        .find(|parts| parts.len() == 3)?;
    Some([bare(parts[0]), bare(parts[1]), bare(parts[2])])
}

/// A field trimmed, and out of the double quotes around it if it has them.
fn bare(field: &str) -> &str {
    let field = field.trim();
    field.strip_prefix('"').and_then(|f| f.strip_suffix('"')).map_or(field, str::trim)
}

/// One line of the changes: `SKU, price, date`, its fields between
/// semicolons, tabs, or commas (a comma followed by a space when the price
/// is written with thousands commas, `PUMP-100, 1,390.50, 2027-01-01`).
fn parse_change(line: &str, catalogue: &Catalogue) -> Result<NewPriceChange, String> {
    let Some([sku, price, date]) = change_fields(line) else {
        return Err("Write SKU, new unit price, effective date (YYYY-MM-DD), separated by commas, semicolons or tabs."
            .to_owned());
    };
    if sku.is_empty() {
        return Err("The SKU is missing.".to_owned());
    }
    let sku = Sku::parse(sku).map_err(|e| in_words(e.message, &[("sku", "The SKU")]))?;
    let Some(product) = catalogue.exact.get(sku.as_str()) else {
        // SKUs match exactly; one that differs only in case is named.
        let near = catalogue.folded.get(&sku.as_str().to_lowercase()).copied();
        return Err(Sku::unknown(sku.as_str(), near));
    };
    // The price and the date are both read, so a line wrong in both says both.
    let currency = Currency::parse(&product.currency).map_err(|e| e.message)?;
    // A price in quotes, as a spreadsheet writes one with a comma: the price.
    let price = price.trim();
    let price = price.strip_prefix('"').and_then(|p| p.strip_suffix('"')).unwrap_or(price);
    // Between semicolons or tabs, as a spreadsheet in much of Europe copies
    // its cells, a comma is the decimal sign where it can only be that
    // (`392,88`, `16.575,09`), as the price list's import reads it; one that
    // could as well group thousands (`1,250`) is not guessed at.
    // As written, for what is said of it.
    let written = price;
    // Copied with its currency (`1 250,50 €`): that is what is wrong with it, not its comma.
    let sign = pricegate_domain::product_csv::currency_written_in(price);
    let between_semicolons = line.contains([';', '\t']);
    let decimal_point;
    let price = match pricegate_domain::product_csv::decimal_comma(price, currency.minor_digits()) {
        Some(read) if between_semicolons => {
            decimal_point = read;
            decimal_point.as_str()
        }
        None if between_semicolons && sign.is_none() && price.contains(',') && !price.contains('.') => {
            return Err(format!(
                "\u{201c}{price}\u{201d} has a comma, which between semicolons or tabs may be the decimal sign or a \
                 thousands separator: write the price {}.",
                pricegate_domain::product_csv::price_written_for(&currency)
            ));
        }
        _ => price,
    };
    let unit_price_minor = currency.read_unit_price(price).map_err(|why| {
        match (why, super::decimal_comma_refused(&currency, price, "it")) {
            (UnreadablePrice::BelowZero, _) => format!("{} is below zero: a price cannot be.", written.trim()),
            (UnreadablePrice::TooHigh, _) => {
                format!(
                    "{} is more than the highest unit price there can be, {}.",
                    written.trim(),
                    currency.highest_unit_price()
                )
            }
            (UnreadablePrice::NotAnAmount, _) if price.is_empty() => "The price is missing.".to_owned(),
            (UnreadablePrice::NotAnAmount, _) if sign.is_some() => format!(
                "\u{201c}{}\u{201d} has the currency written in it ({}): write the price alone, {} ({} is the \
                 currency of {}).",
                written.trim(),
                sign.as_deref().unwrap_or_default(),
                pricegate_domain::product_csv::price_written_for_fields(&currency, between_semicolons),
                currency.code(),
                product.sku
            ),
            (UnreadablePrice::NotAnAmount, Some(refused)) => refused,
            (UnreadablePrice::NotAnAmount, None) => {
                let (plain, grouped) = currency.written_examples();
                format!(
                    "\u{201c}{}\u{201d} is not a price in {}: write it like {plain} or {grouped}.",
                    price.trim(),
                    currency.code()
                )
            }
        }
    });
    let effective_on = parse_date("date", date).map_err(|_| match date.trim() {
        "" => "The date is missing.".to_owned(),
        d if !pricegate_domain::is_date_shaped(d) => format!("\u{201c}{d}\u{201d} is not a date written YYYY-MM-DD."),
        d if d < pricegate_domain::EARLIEST_DATE => {
            format!("\u{201c}{d}\u{201d} is too far back: dates start at {}.", pricegate_domain::EARLIEST_DATE)
        }
        d => format!("\u{201c}{d}\u{201d} is not a day of the calendar."),
    });
    match (unit_price_minor, effective_on) {
        (Ok(unit_price_minor), Ok(effective_on)) => Ok(NewPriceChange { sku, unit_price_minor, effective_on }),
        (Err(price), Err(date)) => Err(format!("{price} {date}")),
        (Err(why), _) | (_, Err(why)) => Err(why),
    }
}

/// A parsed form: the notice, or the errors by field (the page is left with
/// the changes it could read, for the preview).
async fn parse_form(app: &AppState, page: &mut DraftPage) -> Result<Option<NewNotice>, PageError> {
    let products = app.store.list_products().await?;
    page.example = example_line(&products, app.store.today().await?);
    let title = Text::parse("title", &page.title, limits::TITLE);
    let body = Text::parse_multiline("body", &page.body, MAX_BODY);
    let changes = parse_changes(&page.changes_text, &products);
    if let Ok(changes) = &changes {
        page.changes = change_rows(app, changes, &products).await?;
    }
    match (title, body, changes) {
        (Ok(title), Ok(body), Ok(changes)) => Ok(Some(NewNotice { form_key: page.draft_id, title, body, changes })),
        (title, body, changes) => {
            if let Err(e) = title {
                page.errors.insert("title", in_words(e.message, &[("title", "The title")]));
            }
            if let Err(e) = body {
                page.errors.insert("body", in_words(e.message, &[("body", "The text")]));
            }
            if let Err(e) = changes {
                page.errors.insert("changes", e);
            }
            Ok(None)
        }
    }
}

/// The changes as typed, as the notice will show them published today (the
/// confirmation's words: a change dated today or before takes force on
/// publication): each with the price it moves its product from.
async fn change_rows(
    app: &AppState,
    changes: &[NewPriceChange],
    products: &[ProductView],
) -> Result<Vec<ChangeRow>, PageError> {
    let mut read: Vec<PriceChangeView> = changes.iter().map(|c| change_view(c, products)).collect();
    app.store.prices_before(&mut read).await?;
    let today = app.store.today().await?;
    Ok(read.iter().map(|c| ChangeRow::published(c, today)).collect())
}

/// A change as typed, as the notice will show it once saved.
fn change_view(c: &NewPriceChange, products: &[ProductView]) -> PriceChangeView {
    let product = products.iter().find(|p| p.sku == c.sku.as_str());
    PriceChangeView {
        sku: c.sku.as_str().to_owned(),
        product_name: product.map(|p| p.name.clone()).unwrap_or_default(),
        currency: product.map(|p| p.currency.clone()).unwrap_or_default(),
        unit_price_minor: c.unit_price_minor,
        effective_on: c.effective_on,
        in_force_from: None,
        price_before_minor: None,
        replaced_by: None,
    }
}

/// "Preview" pressed: the form again, as typed, with the notice rendered and
/// nothing saved. Only a change list that cannot be read is pointed out (it
/// is why the preview has no table); a missing title waits for "Save".
fn previewed(mut page: DraftPage) -> Response {
    page.previewed = true;
    page.errors.retain(|field, _| *field == "changes");
    render(StatusCode::OK, &page)
}

/// The store's own refusal goes beside the field it names (the changes, unless
/// it is the title or the text).
fn refused(mut page: DraftPage, e: StoreError) -> Result<Response, PageError> {
    match e {
        StoreError::Invalid(invalid) => {
            let field = match invalid.field.as_str() {
                "title" => "title",
                "body" => "body",
                _ => "changes",
            };
            page.errors.insert(field, invalid.message);
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        e => Err(e.into()),
    }
}

/// A notice's form, long to type (its text and price changes), opened
/// before the person last logged in: shown again as typed, nothing saved.
fn kept_unsaved(mut page: DraftPage) -> Response {
    page.not_saved = Some(EXPIRED_FORM_KEPT.to_owned());
    render(StatusCode::CONFLICT, &page)
}

async fn create(
    State(app): State<AppState>,
    KeptForm { user, form, expired, .. }: KeptForm<Finance>,
) -> Result<Response, PageError> {
    let mut page = DraftPage::new(&user);
    page.keep_input(&form);
    let parsed = parse_form(&app, &mut page).await?;
    // A preview saves nothing, whatever the token.
    if form.get("action") == "preview" {
        return Ok(previewed(page));
    }
    if expired {
        return Ok(kept_unsaved(page));
    }
    let Some(new) = parsed else { return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page)) };
    match app.store.create_notice(&user.0.actor, new.clone()).await {
        Ok(n) => Ok(NoticeDone::Saved.back_to_confirmation(&user.seal(&app), n.id)),
        Err(StoreError::Conflict { code: NOTICE_DRAFTED_ALREADY, .. }) => {
            let id = form_row_id(user.0.actor.id, page.draft_id);
            let saved = match app.store.read_notice(&user.0.actor, id).await {
                Ok(saved) => Some(saved),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            // Sent twice as it was: the draft its first sending saved.
            if let Some(saved) = saved.as_ref().filter(|saved| new.saved_as(saved)) {
                return Ok(NoticeDone::SavedAlready.back_to_confirmation(&user.seal(&app), saved.id));
            }
            // Changed, then sent again, or its draft deleted since: what was
            // typed is kept, to save anew.
            page.draft_id = Some(Uuid::new_v4());
            page.saved_draft = saved.as_ref().map(|saved| saved.id);
            page.not_saved = Some(match saved {
                Some(saved) => format!(
                    "This form saved a draft already (\u{201c}{}\u{201d}), and nothing more was saved. What you typed \
                     is below: save again to save it as another draft, or open the draft saved already to change \
                     that one instead.",
                    saved.title
                ),
                None => "This form saved a draft already, and it has since been deleted: nothing was saved. What you \
                         typed is below: save again to save it anew."
                    .to_owned(),
            });
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(e) => refused(page, e),
    }
}

/// An edit form whose draft is no more (published or deleted since it was
/// opened), as a new notice's form holding what was typed, saying `why`
/// nothing was saved and linking to the notice `published`.
async fn typed_as_new(
    app: &AppState,
    user: &PageUser,
    form: &FormFields,
    why: String,
    published: Option<Uuid>,
) -> Result<Response, PageError> {
    let mut page = DraftPage::new(user);
    page.keep_input(form);
    parse_form(app, &mut page).await?;
    page.not_saved = Some(why);
    page.published_meanwhile = published;
    Ok(render(StatusCode::CONFLICT, &page))
}

/// A draft finance may still change; a published notice is the 409 page.
async fn draft(app: &AppState, user: &PageUser, id: Uuid) -> Result<NoticeView, PageError> {
    let notice = app.store.read_notice(&user.0.actor, id).await?;
    if notice.state != "draft" {
        return Err(StoreError::conflict(
            "notice_published",
            "This notice is published and can no longer change; publish a new notice to correct it.",
        )
        .into());
    }
    Ok(notice)
}

async fn edit_form(State(app): State<AppState>, PageId(id): PageId, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    let notice = draft(&app, &user, id).await?;
    let today = app.store.today().await?;
    let mut page = DraftPage::edit(&user, &notice);
    page.changes = notice.changes.iter().map(|c| ChangeRow::published(c, today)).collect();
    page.example = example_line(&app.store.list_products().await?, today);
    Ok(render(StatusCode::OK, &page))
}

async fn update(
    State(app): State<AppState>,
    PageId(id): PageId,
    KeptForm { user, form, expired, .. }: KeptForm<Finance>,
) -> Result<Response, PageError> {
    let notice = match app.store.read_notice(&user.0.actor, id).await {
        Ok(notice) if notice.state == "draft" => notice,
        // Published or deleted while the form was open (another tab): what
        // was typed is not lost, but comes back as a new notice's form.
        Ok(notice) => {
            let when = notice.published_at.map(|at| app.store.calendar().stamp(at, false)).unwrap_or_default();
            let why = format!(
                "Not saved: \u{201c}{}\u{201d} was published {when} while this form was open, and a published \
                 notice never changes. What you typed is below as a new notice: save it to draft a correction, \
                 published on its own, or leave it.",
                notice.title,
            );
            return typed_as_new(&app, &user, &form, why, Some(notice.id)).await;
        }
        Err(StoreError::NotFound { .. }) => {
            let why = "Not saved: this draft was deleted while the form was open. What you typed is below as a new \
                       notice: save it to draft it anew.";
            return typed_as_new(&app, &user, &form, why.to_owned(), None).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut page = DraftPage::edit(&user, &notice);
    page.keep_input(&form);
    let parsed = parse_form(&app, &mut page).await?;
    if form.get("action") == "preview" {
        return Ok(previewed(page));
    }
    if expired {
        return Ok(kept_unsaved(page));
    }
    let Some(NewNotice { title, body, changes, .. }) = parsed else {
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let as_seen = page.revision.map(|revision| vec![revision]);
    let patch = NoticePatch { title: Some(title), body: Some(body), changes: Some(changes), as_seen };
    match app.store.update_notice(&user.0.actor, id, patch).await {
        // Sent as the draft is, nothing was written (its revision stands), and the page says so.
        Ok(n) if page.revision == Some(n.revision()) => {
            Ok(NoticeDone::Unchanged.back_to_confirmation(&user.seal(&app), id))
        }
        Ok(_) => Ok(NoticeDone::Saved.back_to_confirmation(&user.seal(&app), id)),
        // Changed since the form was opened (another tab): the form as
        // typed, now on the draft as it is, to save again knowingly.
        Err(StoreError::Conflict { code: "notice_changed", .. }) => {
            let now = draft(&app, &user, id).await?;
            page.revision = Some(now.revision());
            // The changes it has now, so that finance sees what saving would undo.
            const LISTED: usize = 10;
            let listed: Vec<String> = now
                .changes
                .iter()
                .take(LISTED)
                .map(|c| {
                    format!("{} at {} from {}", c.sku, super::money(&c.currency, c.unit_price_minor), c.effective_on)
                })
                .collect();
            let changes = match now.changes.len() {
                0 => "no price change".to_owned(),
                1 => format!("1 price change: {}", listed.join("; ")),
                n if n > LISTED => format!("{n} price changes: {}; and {} more", listed.join("; "), n - LISTED),
                n => format!("{n} price changes: {}", listed.join("; ")),
            };
            page.not_saved = Some(format!(
                "Not saved: the draft changed after you opened this form. As it is now, it is titled \u{201c}{}\u{201d} with {changes}. What you typed is below: save again to replace the draft with it.",
                now.title,
            ));
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(e) => refused(page, e),
    }
}

#[derive(Template)]
#[template(path = "pages/notice_delete.html")]
struct DeletePage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    /// The draft as shown ([`NoticeView::revision`]): one edited since is
    /// shown again rather than deleted.
    revision: i64,
    title: String,
    changes: usize,
    /// Why the form just sent deleted nothing.
    not_deleted: Option<String>,
}

/// "Delete the draft …?": a draft only; a published notice is the 409 page.
async fn confirm_delete(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    Ok(render(StatusCode::OK, &delete_page(&app, &user, id, None).await?))
}

async fn delete_page(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    not_deleted: Option<String>,
) -> Result<DeletePage, PageError> {
    let notice = draft(app, user, id).await?;
    Ok(DeletePage {
        layout: user.layout(format!("Delete the draft “{}”", notice.title)),
        csrf: user.csrf().to_owned(),
        id,
        revision: notice.revision(),
        changes: notice.changes.len(),
        title: notice.title,
        not_deleted,
    })
}

/// Deletes the draft as the confirmation showed it, then the notices list
/// says so once. Sent again (Back to the confirmation), the draft is gone
/// already: the list says that. A draft edited since the confirmation was
/// opened (by someone else in finance, or in another tab) is shown again.
async fn delete(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    use super::notice_publish::{DRAFT_DELETED, DRAFT_GONE, NOTICE_DONE};
    let Some(as_seen) = form.seen() else {
        let why = format!("Not deleted: {}. This is the draft as it is now.", super::OUT_OF_DATE);
        return Ok(render(StatusCode::CONFLICT, &delete_page(&app, &user, id, Some(why)).await?));
    };
    match app.store.delete_draft_notice(&user.0.actor, id, Some(&[as_seen])).await {
        Ok(()) => Ok(NOTICE_DONE.redirect(&user.seal(&app), DRAFT_DELETED)),
        Err(StoreError::NotFound { .. }) => Ok(NOTICE_DONE.redirect(&user.seal(&app), DRAFT_GONE)),
        Err(StoreError::Conflict { code: "notice_changed", .. }) => {
            let why = "Not deleted: the draft changed after you opened this page. This is the draft as it is now: \
                       delete it still?";
            Ok(render(StatusCode::CONFLICT, &delete_page(&app, &user, id, Some(why.to_owned())).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The live preview's fragment: what the preview section holds.
#[derive(Template)]
#[template(path = "pages/notice_content_live.html")]
struct LivePreview {
    body_html: String,
    changes: Vec<ChangeRow>,
    /// Price changes were typed that cannot be read yet.
    unread_changes: bool,
}

/// The notice as the notice page will render it (raw HTML shown as text),
/// with its price changes as typed (`changes`, if sent) each with the price
/// it moves from: an HTML fragment for the live preview. Finance only, and
/// posted with the form's CSRF token like any other form.
async fn preview(State(app): State<AppState>, CsrfForm { form, .. }: CsrfForm<Finance>) -> Result<Response, PageError> {
    let body = form.get("body");
    if body.chars().count() > MAX_BODY {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("The text is longer than {MAX_BODY} characters."),
        )
            .into_response());
    }
    let typed = form.get("changes");
    let mut page = LivePreview { body_html: render_markdown(body, 3), changes: Vec::new(), unread_changes: false };
    if !typed.trim().is_empty() {
        let products = app.store.list_products().await?;
        match parse_changes(typed, &products) {
            Ok(changes) => page.changes = change_rows(&app, &changes, &products).await?,
            Err(_) => page.unread_changes = true,
        }
    }
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use pricegate_domain::{MAX_UNIT_PRICE_MINOR, parse_amount};

    use super::*;

    #[test]
    fn amounts_are_read_in_the_currency_s_minor_units() {
        assert_eq!(parse_amount("1390", 2), Some(139_000));
        assert_eq!(parse_amount("1,390.5", 2), Some(139_050));
        assert_eq!(parse_amount("12", 0), Some(12));
        assert_eq!(parse_amount("1.234", 2), None);
        assert_eq!(parse_amount("1,234,567.89", 2), Some(123_456_789));
        assert_eq!(parse_amount("1 390.50", 2), Some(139_050));
        assert_eq!(parse_amount("1'390", 2), Some(139_000));
        assert_eq!(parse_amount("1390,50", 2), None, "a decimal comma is not a thousands separator");
        assert_eq!(parse_amount("1,39", 2), None);
        assert_eq!(parse_amount("1,390 000", 2), None, "one separator throughout");
        assert_eq!(parse_amount("1,390.5,0", 2), None);
        assert_eq!(parse_amount("-5", 2), None);
        assert_eq!(parse_amount("", 2), None);
    }

    fn product(sku: &str, currency: &str) -> ProductView {
        ProductView {
            id: uuid::Uuid::new_v4(),
            sku: sku.into(),
            name: sku.into(),
            unit: "pc".into(),
            currency: currency.into(),
            unit_price_minor: 1_500,
            price_since: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            withdrawn_at: None,
        }
    }

    #[test]
    fn a_price_beyond_the_highest_unit_price_is_refused_on_its_line() {
        let products = [product("JP-1", "JPY"), product("EU-1", "EUR")];
        let refused = parse_changes("EU-1, 10, 2026-12-01\nJP-1, 90000000000000000, 2026-12-01", &products);
        assert_eq!(
            refused.unwrap_err(),
            "Line 2: 90000000000000000 is more than the highest unit price there can be, 10,000,000,000 JPY."
        );
        let refused = parse_changes("EU-1, 100000000.01, 2026-12-01", &products).unwrap_err();
        assert!(refused.contains("100,000,000.00 EUR"), "{refused}");
        let refused = parse_changes("EU-1, 99999999999999999.00, 2026-12-01", &products).unwrap_err();
        assert!(refused.contains("is more than the highest unit price there can be, 100,000,000.00 EUR"), "{refused}");
        let quoted = parse_changes("EU-1, \"1,650.00\", 2026-12-01", &products).unwrap();
        assert_eq!(quoted[0].unit_price_minor, 165_000, "a spreadsheet's quotes around a price");
        let highest = parse_changes("EU-1, 100,000,000.00, 2026-12-01", &products).unwrap();
        assert_eq!(highest[0].unit_price_minor, MAX_UNIT_PRICE_MINOR);
        // A decimal comma quoted between commas is not read, and said so.
        let comma = parse_changes("EU-1, \"1650,5\", 2026-12-01", &products).unwrap_err();
        assert_eq!(
            comma,
            "Line 1: “1650,5” has a decimal comma, which is not read here: write it with a point, as 1650.5."
        );
    }

    #[test]
    fn between_semicolons_or_tabs_a_comma_is_the_decimal_sign_where_it_can_only_be_that() {
        let products = [product("EU-1", "EUR"), product("JP-1", "JPY")];
        for (line, minor) in [
            ("EU-1; 392,88; 2027-01-01", 39_288),
            ("EU-1\t16.575,09\t2027-01-01", 1_657_509),
            ("EU-1;1250,5;2027-01-01", 125_050),
            ("EU-1; 1,390.50; 2027-01-01", 139_050),
        ] {
            let changes = parse_changes(line, &products).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(changes[0].unit_price_minor, minor, "{line:?}");
        }
        let refused = parse_changes("EU-1; 1,250; 2027-01-01", &products).unwrap_err();
        assert!(
            refused.contains("may be the decimal sign or a thousands separator: write the price as 1250,00 or 1250.00"),
            "{refused}"
        );
        assert!(parse_changes("JP-1; 1,5; 2027-01-01", &products).is_err(), "yen have no decimals");
        // A minus is below zero, said of the price as written; before nought, nought.
        let below = parse_changes("EU-1; -5,00; 2027-01-01", &products).unwrap_err();
        assert!(below.contains("-5,00 is below zero"), "{below}");
        let nought = parse_changes("EU-1; -0,00; 2027-01-01", &products).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nought[0].unit_price_minor, 0);
        // The currency copied with the price is said to be what is wrong, not its comma.
        let signed = parse_changes("EU-1; 1 250,50 €; 2027-01-01", &products).unwrap_err();
        assert_eq!(
            signed,
            "Line 1: \u{201c}1 250,50 €\u{201d} has the currency written in it (€): write the price alone, as \
             1250,00 or 1250.00 (EUR is the currency of EU-1)."
        );
        // Between commas a decimal comma is no way out; and the date is said too.
        let both = parse_changes("EU-1, €12, soon", &products).unwrap_err();
        assert_eq!(
            both,
            "Line 1: \u{201c}€12\u{201d} has the currency written in it (€): write the price alone, as 1250.00 \
             (EUR is the currency of EU-1). \u{201c}soon\u{201d} is not a date written YYYY-MM-DD."
        );
    }

    #[test]
    fn separators_after_the_date_are_an_empty_column_left_out() {
        let products = [product("EU-1", "EUR")];
        for line in [
            "EU-1 , 9.50 , 2027-01-01 ,",
            "EU-1;9.50;2027-01-01;;",
            "EU-1\t9.50\t2027-01-01\t",
            "EU-1,9.50,2027-01-01,",
        ] {
            let changes = parse_changes(line, &products).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!((changes[0].unit_price_minor, changes[0].effective_on.to_string()), (950, "2027-01-01".into()));
        }
    }

    #[test]
    fn the_placeholder_is_a_line_about_a_product_on_the_list() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap();
        assert_eq!(example_line(&[product("EU-1", "EUR")], today), "EU-1, 15.00, 2027-01-01");
        assert_eq!(example_line(&[], today), "SKU, 1390.00, 2027-01-01");
        let end_of_january = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
        assert_eq!(example_line(&[product("JP-1", "JPY")], end_of_january), "JP-1, 1500, 2027-02-01");
    }

    #[test]
    fn every_refused_line_is_named_at_once() {
        let products = [product("EU-1", "EUR")];
        let text = "NOPE-1, 10, 2026-12-01\nEU-1, 12.50, 2026-12-01\n\nEU-1, cheap, 2026-12-01\nEU-1, 13, 2026-12-01\neu-1, 9, 2026-12-02";
        let refused = parse_changes(text, &products).unwrap_err();
        let lines: Vec<&str> = refused.lines().collect();
        assert_eq!(lines.len(), 4, "{refused}");
        assert!(lines[0].starts_with("Line 1: There is no product with the SKU NOPE-1."), "{refused}");
        assert!(lines[1].starts_with("Line 4: \u{201c}cheap\u{201d} is not a price in EUR"), "{refused}");
        let both = parse_changes("EU-1, cheap, soon", &products).unwrap_err();
        assert_eq!(
            both,
            "Line 1: \u{201c}cheap\u{201d} is not a price in EUR: write it like 1390.50 or 1,390.50. \u{201c}soon\u{201d} is \
             not a date written YYYY-MM-DD."
        );
        assert!(lines[2].starts_with("Line 5: EU-1 from 2026-12-01 is already priced on line 2;"), "{refused}");
        // What is missing is said so, and the SKU in words, not as a field.
        assert_eq!(
            parse_changes("EU-1, , ", &products).unwrap_err(),
            "Line 1: The price is missing. The date is missing."
        );
        assert_eq!(parse_changes(", 12, 2026-12-01", &products).unwrap_err(), "Line 1: The SKU is missing.");
        let odd = parse_changes("EU 1, 12, 2026-12-01", &products).unwrap_err();
        assert!(odd.starts_with("Line 1: The SKU must be 1 to 64 characters"), "{odd}");
        let jpy = parse_changes("JP-1, cheap, 2026-12-01", &[product("JP-1", "JPY")]).unwrap_err();
        assert!(jpy.ends_with("is not a price in JPY: write it like 1390 or 1,390."), "{jpy}");
        let below = parse_changes("EU-1, -5, 2026-12-01", &products).unwrap_err();
        assert_eq!(below, "Line 1: -5 is below zero: a price cannot be.");
        assert!(lines[3].ends_with("did you mean EU-1?"), "a SKU in the wrong case is named: {refused}");
        let dates = |date: &str| parse_changes(&format!("EU-1, 12, {date}"), &products).unwrap_err();
        assert_eq!(dates("2026-02-30"), "Line 1: \u{201c}2026-02-30\u{201d} is not a day of the calendar.");
        assert_eq!(
            dates("0000-01-01"),
            "Line 1: \u{201c}0000-01-01\u{201d} is too far back: dates start at 2000-01-01."
        );
    }

    #[test]
    fn lines_pasted_from_a_spreadsheet_are_read_with_their_header_left_out() {
        let products = [product("EU-1", "EUR")];
        let read = |text: &str| {
            parse_changes(text, &products).map(|c| c.iter().map(|c| c.unit_price_minor).collect::<Vec<_>>())
        };
        assert_eq!(read("EU-1,5000.00,2027-02-16"), Ok(vec![500_000]), "plain CSV");
        assert_eq!(read("EU-1,\"1,650.00\",2027-02-16"), Ok(vec![165_000]), "a quoted price with a comma");
        assert_eq!(read("sku,new price,date\nEU-1,12.50,2027-02-16"), Ok(vec![1_250]), "the header row");
        assert_eq!(read("EU-1\t12.50\t2027-02-16"), Ok(vec![1_250]), "tabs");
        assert_eq!(read("EU-1, 1,390.50, 2027-02-16"), Ok(vec![139_050]), "thousands commas after a comma and a space");
        let refused = read("EU-1,1,390.50,2027-02-16").unwrap_err();
        assert!(refused.starts_with("Line 1: Write SKU, new unit price, effective date"), "{refused}");
        let refused = read("EU-1,12.50,2027-02-16\nsku,price,date").unwrap_err();
        assert!(refused.starts_with("Line 2: "), "a header is only the first line: {refused}");
        assert_eq!(
            read("\"SKU\",\"Price\",\"Date\"\n\"EU-1\",\"1,390.50\",\"2027-02-16\""),
            Ok(vec![139_050]),
            "every field quoted"
        );
        assert_eq!(read("Product;New price;From\nEU-1;12.50;2027-02-16"), Ok(vec![1_250]), "a header in other words");
        assert_eq!(read("sku,price,date").unwrap_err(), "Line 1 is a header row with no price changes under it.");
        let refused = read("EU-1X, 10, 2027-01-01").unwrap_err();
        assert!(refused.starts_with("Line 1: There is no product"), "a line with figures is no header: {refused}");
    }

    #[test]
    fn more_lines_than_a_notice_may_carry_are_refused_in_one_sentence() {
        let products = [product("EU-1", "EUR")];
        let days = |n: usize| (0..n).map(|d| format!("EU-1, 10, {}\n", date(d))).collect::<String>();
        let refused = parse_changes(&format!("{}\n\n", days(MAX_CHANGES + 1)), &products).unwrap_err();
        assert_eq!(refused, "There are 501 price changes; a notice may carry at most 500.");
        let refused = parse_changes(&days(1_500), &products).unwrap_err();
        assert_eq!(refused, "There are 1,500 price changes; a notice may carry at most 500.", "grouped as a count");
        assert_eq!(parse_changes(&days(MAX_CHANGES), &products).unwrap().len(), MAX_CHANGES);
        let with_header = format!("SKU,Price,Date\n{}", days(MAX_CHANGES));
        assert_eq!(parse_changes(&with_header, &products).unwrap().len(), MAX_CHANGES, "a header row is not counted");
    }

    fn date(days: usize) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(days as u64)
    }
}
