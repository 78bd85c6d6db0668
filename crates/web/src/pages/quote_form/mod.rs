//! The quote form, for drafting a quote (`/quotes/new`) and for editing a
//! draft (`/quotes/{id}/edit`): one template, one parser. A new quote has a
//! fixed number of line rows; an edited one has its lines and a few empty
//! rows to add to; "More lines" brings the form back, as typed, with more
//! empty rows. Rows left without a product, or ticked for removal, are
//! ignored. A refused form comes back as it was typed, with every error
//! beside the field it concerns.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use pricegate_domain::{Currency, Invalid, Role, parse_date};
use pricegate_store::views::{LineView, ProductView, QuoteView};
use pricegate_store::{DRAFTED_ALREADY, NewQuote, QuotePatch, StoreError, form_row_id};
use uuid::Uuid;

use super::quotes::QuoteDone;
use super::{
    EXPIRED_FORM_KEPT, FormFields, KeptForm, Layout, PageError, PageId, PageUser, Sales, in_words, money, price_from,
    prices_to_come, render,
};
use crate::{AppState, filters};

mod parse;

use parse::{form_invalid, parse_quote, percent_text};

/// Line rows on a new quote.
const NEW_ROWS: usize = 5;
/// Empty rows below a draft's lines when it is edited: room to add lines
/// without script.
const SPARE_ROWS: usize = 3;
/// The most rows a posted form is read for (a quote holds at most 200 lines).
const MAX_ROWS: usize = 200 + SPARE_ROWS;
/// The most products a line's list offers; with more on offer, each line
/// takes a SKU typed, suggested from one list of them all (a list per line
/// of a large price list would make the page megabytes long).
const LISTED_AT_MOST: usize = 150;

pub struct ProductOption {
    pub sku: String,
    pub label: String,
    /// The currency it is priced in: a quote's lines share one.
    pub currency: String,
    /// Withdrawn from sale, and not on the draft: not offered, and refused
    /// by name if sent (its name, for saying so).
    pub withdrawn: Option<String>,
    /// Priced in the currency of the quote being edited (always, on a new
    /// one): a product in another is not offered, and refused by its
    /// currency if sent.
    pub in_currency: bool,
}

#[derive(Default, Clone)]
pub struct RowInput {
    pub sku: String,
    pub quantity: String,
    pub discount: String,
    /// Ticked "remove" on an edited draft's line.
    pub remove: bool,
    /// A line the draft carries already (the form's hidden `line_{i}`):
    /// its quantity emptied is refused, not read as the placeholder's one.
    pub existing: bool,
}

impl RowInput {
    /// An empty row: its quantity and discount show 1 and 0 as placeholders,
    /// not values, so that a number typed after a click is not added to
    /// them (a 1 left in the field made 10 typed after it 110).
    fn blank() -> RowInput {
        RowInput::default()
    }

    /// A row for each of `lines`, as the form shows a quote's lines, and
    /// [`SPARE_ROWS`] empty ones to add to them.
    fn rows_of<'a>(lines: impl IntoIterator<Item = &'a LineView>) -> Vec<RowInput> {
        lines
            .into_iter()
            .map(|l| RowInput {
                sku: l.sku.clone(),
                quantity: l.quantity.to_string(),
                discount: percent_text(i64::from(l.discount_bp)),
                remove: false,
                existing: true,
            })
            .chain(std::iter::repeat_n(RowInput::blank(), SPARE_ROWS))
            .collect()
    }
}

#[derive(Template)]
#[template(path = "pages/quote_form.html")]
pub struct QuoteFormPage {
    layout: Layout,
    csrf: String,
    heading: String,
    /// Where the form posts, and where "Back" leads.
    action: String,
    back: String,
    /// An edited draft keeps its `drafted_at`; the page says so.
    editing: bool,
    products: Vec<ProductOption>,
    signers: Vec<super::Signer>,
    /// An edited draft's signer who was deactivated or left sales: offered
    /// first, so that saving other changes keeps them until another is chosen.
    gone_signer: Option<GoneSigner>,
    /// The superseded lines finance approved keeping (`PUMP-100 × 2`), when
    /// an approval covers the draft: changing them ends it.
    approved_old_prices: Option<String>,
    /// After "More lines", the first of the new rows, which takes the focus.
    first_new_row: Option<usize>,
    customer_name: String,
    customer_email: String,
    customer_company: String,
    signer_id: String,
    valid_until: String,
    /// The earliest validity the date field offers: the business's today,
    /// or an edited quote's own earlier date, which it may keep.
    min_valid_until: String,
    /// The validity date the person was asked about and sent again: a date
    /// more than [`parse::FAR_YEARS`] years ahead is kept only so.
    valid_until_confirmed: String,
    /// The day the form was read on: how far ahead its date is.
    today: NaiveDate,
    notes: String,
    rows: Vec<RowInput>,
    errors: HashMap<String, String>,
    general_error: Option<String>,
    /// An edited draft's revision as the form was opened on
    /// ([`pricegate_store::views::QuoteView::revision`]): saving a quote
    /// changed since is refused, not overwritten. `None` for a new quote.
    revision: Option<i64>,
    /// The form was sent from a page without [`QuoteFormPage::revision`].
    out_of_date: bool,
    /// A new quote's form key, made when its form was first opened and kept
    /// through "More lines" and refusals: the form sent twice drafts it once
    /// ([`pricegate_store::NewQuote::form_key`]). `None` when editing.
    draft_id: Option<Uuid>,
    /// A new quote's form: the number of the last notice published when it
    /// was first shown (0 for none), read before its prices, and kept when it
    /// is shown again ("More lines", a refusal). A notice published
    /// after, before the quote is saved, changes prices the form showed
    /// without the gate asking about it (the quote is drafted after it):
    /// the page that says the quote was drafted names it.
    notices_seen: Option<i64>,
    /// The quote a new one's form was filled from, said above it.
    copied_from: Option<CopiedFrom>,
}

pub struct CopiedFrom {
    id: Uuid,
    reference: String,
    customer: String,
    /// Its lines' products no longer sold (`SKU (name)`), not copied.
    left_out: Vec<String>,
}

impl QuoteFormPage {
    /// Whether a line's product is typed (see [`LISTED_AT_MOST`]), not chosen from its own list.
    fn typed_products(&self) -> bool {
        self.products.iter().filter(|p| p.withdrawn.is_none() && p.in_currency).nth(LISTED_AT_MOST).is_some()
    }

    /// Whether the products offered are priced in more than one currency.
    fn several_currencies(&self) -> bool {
        let offered: Vec<&str> = self.products.iter().filter(|p| p.in_currency).map(|p| p.currency.as_str()).collect();
        offered.windows(2).any(|pair| pair[0] != pair[1])
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// Nothing is refused but the validity date far ahead, which is asked
    /// about: saved again, it is kept.
    fn only_asks_far_ahead(&self) -> bool {
        self.errors.len() == 1 && self.error("valid_until").is_some_and(|e| e.ends_with(parse::FAR_AHEAD_ASKED))
    }

    fn row_error(&self, index: &usize, part: &str) -> Option<&str> {
        self.errors.get(&format!("lines[{index}].{part}")).map(String::as_str)
    }

    /// Fills a new quote's form from `quote`: its customer, notes, signer
    /// (while they can sign) and lines (but a line of a product no longer
    /// sold, named in [`CopiedFrom`]), with the form's own validity, and
    /// prices taken on saving.
    fn copy(&mut self, quote: &QuoteView) {
        self.customer_name = quote.customer.name.clone();
        self.customer_email = quote.customer.email.clone();
        self.customer_company = quote.customer.company.clone();
        self.notes = quote.notes.clone();
        // Its signer again, while they can sign; else the form's own (the copier).
        if self.signers.iter().any(|u| u.id == quote.signer_id) {
            self.signer_id = quote.signer_id.to_string();
        }
        let sold = |sku: &str| self.products.iter().any(|p| p.sku == sku && p.withdrawn.is_none());
        let (kept, left_out): (Vec<&LineView>, Vec<&LineView>) = quote.lines.iter().partition(|l| sold(&l.sku));
        let mut named = std::collections::HashSet::new();
        let left_out: Vec<String> = left_out
            .iter()
            .filter(|l| named.insert(l.sku.as_str()))
            .map(|l| format!("{} ({})", l.sku, l.product_name))
            .collect();
        self.rows = RowInput::rows_of(kept);
        self.copied_from(quote, left_out);
    }

    /// Says, above the form and in its heading, that it was filled from
    /// `quote` (with the products `left_out`, when it was filled), whose
    /// page Cancel leads back to.
    fn copied_from(&mut self, quote: &QuoteView, left_out: Vec<String>) {
        let reference = pricegate_domain::quote_reference(quote.id);
        self.heading = format!("New quote, copied from {reference}");
        self.layout.title = self.heading.clone();
        self.back = format!("/quotes/{}", quote.id);
        self.copied_from =
            Some(CopiedFrom { id: quote.id, reference, customer: quote.customer.name.clone(), left_out });
    }

    /// Takes what was typed into the form, rows included.
    fn keep_input(&mut self, form: &FormFields) {
        // The quote as the form was first opened on, through "More lines"
        // too; a form without it is from a page older than the field, and
        // saves nothing until shown the quote as it is.
        if self.revision.is_some() {
            self.revision = Some(form.seen().unwrap_or(i64::MIN));
            self.out_of_date = form.seen().is_none();
        }
        if self.draft_id.is_some() {
            // A page from before the field: an id of its own, as it had.
            self.draft_id = Some(Uuid::parse_str(form.get("draft_id")).unwrap_or_else(|_| Uuid::new_v4()));
        }
        self.customer_name = form.get("customer_name").to_owned();
        self.customer_email = form.get("customer_email").to_owned();
        self.customer_company = form.get("customer_company").to_owned();
        self.signer_id = form.get("signer_id").to_owned();
        self.valid_until = form.get("valid_until").to_owned();
        self.valid_until_confirmed = form.get("confirm_valid_until").to_owned();
        self.notes = form.get("notes").to_owned();
        let count = form.get("rows").trim().parse::<usize>().unwrap_or(NEW_ROWS).clamp(1, MAX_ROWS);
        self.rows = (0..count)
            .map(|i| RowInput {
                sku: form.get(&format!("sku_{i}")).to_owned(),
                quantity: form.get(&format!("quantity_{i}")).to_owned(),
                discount: form.get(&format!("discount_{i}")).to_owned(),
                remove: !form.get(&format!("remove_{i}")).is_empty(),
                existing: !form.get(&format!("line_{i}")).is_empty(),
            })
            .collect();
    }

    /// Whether the validity date was sent as the one asked about and confirmed.
    fn validity_confirmed(&self) -> bool {
        self.valid_until_confirmed.trim() == self.valid_until.trim()
    }

    /// The date to send as confirmed with the form: its validity date, when
    /// that is further ahead than a quote is usually valid and the person
    /// has been asked about it (the question is on this page, or they sent
    /// it confirmed), so that saving again keeps it. A page shown for
    /// another reason ("More lines") asks nothing, and confirms nothing.
    fn far_valid_until(&self) -> Option<&str> {
        let date = parse_date("valid_until", &self.valid_until).ok()?;
        let asked = self.error("valid_until").is_some() || self.validity_confirmed();
        (date > parse::far_from(self.today) && asked).then_some(self.valid_until.as_str())
    }

    fn is_first_new_row(&self, row: &usize) -> bool {
        self.first_new_row == Some(*row)
    }

    /// Asked for more rows ("More lines"): the form comes back as typed,
    /// with [`NEW_ROWS`] more empty rows (up to [`MAX_ROWS`]), nothing saved.
    fn more_rows(&mut self, form: &FormFields) -> Option<Response> {
        if form.get("more_rows").is_empty() {
            return None;
        }
        let room = MAX_ROWS.saturating_sub(self.rows.len()).min(NEW_ROWS);
        if room == 0 {
            self.general_error = Some(format!(
                "There is no room for more lines: a quote holds at most {} lines.",
                MAX_ROWS - SPARE_ROWS
            ));
        } else {
            // The first new row takes the focus, where the typing goes on.
            self.first_new_row = Some(self.rows.len());
        }
        self.rows.extend(std::iter::repeat_n(RowInput::blank(), room));
        Some(render(StatusCode::OK, self))
    }

    /// Puts a refusal beside its field, in words, or above the form when no field fits.
    fn show_invalid(&mut self, invalid: Invalid) {
        if FIELDS.contains(&invalid.field.as_str()) || invalid.field.starts_with("lines[") {
            self.errors.insert(invalid.field, in_words(invalid.message, LABELS));
        } else {
            self.general_error = Some(invalid.message);
        }
    }
}

pub struct GoneSigner {
    id: String,
    name: String,
}

async fn choices(app: &AppState, today: NaiveDate) -> Result<(Vec<ProductOption>, Vec<super::Signer>), PageError> {
    let products = product_options(app, today, &[]).await?;
    Ok((products, super::signers_by_name(app).await?))
}

/// The products to choose from, each with its price today and the next
/// published price it is to have, if any: a quote priced today meets that
/// price if it is finalised on or after its date.
///
/// On an edited draft, a product already on it says the price it was
/// quoted at, which its lines keep, before today's when the two differ
/// (each of its prices, should its lines carry more than one). A product
/// withdrawn from sale is offered only to a draft that carries it.
async fn product_options(
    app: &AppState,
    today: NaiveDate,
    quoted: &[LineView],
) -> Result<Vec<ProductOption>, PageError> {
    let products = app.store.list_products().await?;
    let coming = prices_to_come(app, None, today).await?;
    Ok(products
        .iter()
        .map(|p| {
            let quoted: std::collections::BTreeSet<i64> =
                quoted.iter().filter(|l| l.sku == p.sku).map(|l| l.unit_price_minor).collect();
            ProductOption::of(p, &quoted, coming.get(&p.sku).and_then(|c| c.first()))
        })
        .collect())
}

impl ProductOption {
    fn of(
        p: &ProductView,
        quoted: &std::collections::BTreeSet<i64>,
        next: Option<&pricegate_store::UpcomingPrice>,
    ) -> ProductOption {
        let today = money(&p.currency, p.unit_price_minor);
        // "each" is its own "per": 98.00 EUR each, 12.00 EUR per hour.
        let per = if p.unit.eq_ignore_ascii_case("each") { "each".to_owned() } else { format!("per {}", p.unit) };
        let price = if quoted.iter().all(|q| *q == p.unit_price_minor) {
            format!("{today} {per}")
        } else {
            let quoted: Vec<String> = quoted.iter().map(|q| money(&p.currency, *q)).collect();
            format!("quoted at {} {per}; {today} today", quoted.join(" and "))
        };
        let coming = next.map(|n| format!("; {}", price_from(&p.currency, n))).unwrap_or_default();
        let withdrawn = match (p.withdrawn_at, quoted.is_empty()) {
            (Some(_), false) => "; withdrawn from sale, kept on this quote",
            (Some(_), true) => "; withdrawn from sale",
            (None, _) => "",
        };
        ProductOption {
            sku: p.sku.clone(),
            label: format!("{} — {} ({price}{coming}{withdrawn})", p.sku, p.name),
            currency: p.currency.clone(),
            withdrawn: p.withdrawn_at.filter(|_| quoted.is_empty()).map(|_| p.name.clone()),
            in_currency: true,
        }
    }
}

/// The form for editing `quote` ([`edit_form`]) on the business's `today`,
/// with its signer offered even if they can no longer sign.
async fn edit_page(
    app: &AppState,
    user: &PageUser,
    quote: &QuoteView,
    today: NaiveDate,
) -> Result<QuoteFormPage, PageError> {
    let mut products = product_options(app, today, &quote.lines).await?;
    // Its lines share its currency: a product priced in another is not offered.
    products.iter_mut().for_each(|p| p.in_currency = p.currency == quote.currency);
    let signers = super::signers_by_name(app).await?;
    let gone_signer = match signers.iter().any(|u| u.id == quote.signer_id) {
        true => None,
        // One who became able to sign since the list was read is not gone.
        false => app.store.users_by_id(&[quote.signer_id]).await?.remove(&quote.signer_id).filter(|u| !u.can_sign()),
    };
    let mut page = edit_form(user, products, signers, quote, today);
    page.revision = Some(quote.revision());
    page.gone_signer = gone_signer.map(|u| GoneSigner { id: u.id.to_string(), name: u.name });
    let gate = app.store.quote_gate(&user.0.actor, quote.id).await?;
    if gate.price_override.is_some() && !gate.superseded.is_empty() {
        let lines: Vec<String> = gate.superseded.iter().map(|l| format!("{} × {}", l.sku, l.quantity)).collect();
        page.approved_old_prices = Some(lines.join(", "));
    }
    Ok(page)
}

fn blank(
    user: &PageUser,
    products: Vec<ProductOption>,
    signers: Vec<super::Signer>,
    today: NaiveDate,
) -> QuoteFormPage {
    QuoteFormPage {
        layout: user.layout("New quote"),
        csrf: user.csrf().to_owned(),
        heading: "New quote".into(),
        action: "/quotes/new".into(),
        back: "/quotes".into(),
        editing: false,
        products,
        signers,
        gone_signer: None,
        approved_old_prices: None,
        first_new_row: None,
        customer_name: String::new(),
        customer_email: String::new(),
        customer_company: String::new(),
        signer_id: user.0.actor.id.to_string(),
        valid_until: (today + chrono::Days::new(30)).to_string(),
        min_valid_until: today.to_string(),
        valid_until_confirmed: String::new(),
        today,
        notes: String::new(),
        rows: vec![RowInput::blank(); NEW_ROWS],
        errors: HashMap::new(),
        general_error: None,
        revision: None,
        out_of_date: false,
        draft_id: Some(Uuid::new_v4()),
        notices_seen: None,
        copied_from: None,
    }
}

/// The form for editing `quote`, filled with what it holds now.
fn edit_form(
    user: &PageUser,
    products: Vec<ProductOption>,
    signers: Vec<super::Signer>,
    quote: &QuoteView,
    today: NaiveDate,
) -> QuoteFormPage {
    let mut page = blank(user, products, signers, today);
    page.min_valid_until = today.min(quote.valid_until).to_string();
    page.layout = user.layout(format!("Edit quote for {}", quote.customer.name));
    page.heading = format!("Edit quote for {}", quote.customer.name);
    page.action = format!("/quotes/{}/edit", quote.id);
    page.back = format!("/quotes/{}", quote.id);
    page.editing = true;
    page.draft_id = None;
    page.customer_name = quote.customer.name.clone();
    page.customer_email = quote.customer.email.clone();
    page.customer_company = quote.customer.company.clone();
    page.signer_id = quote.signer_id.to_string();
    page.valid_until = quote.valid_until.to_string();
    page.notes = quote.notes.clone();
    page.rows = RowInput::rows_of(&quote.lines);
    page
}

/// `/quotes/new?copy=<id>`: a new quote's form filled from one the
/// salesperson may see, in any state.
#[derive(serde::Deserialize, Default)]
pub struct NewQuery {
    copy: Option<String>,
}

pub async fn new_quote_form(
    State(app): State<AppState>,
    user: PageUser,
    super::PageQuery { query, unreadable }: super::PageQuery<NewQuery>,
) -> Result<Response, PageError> {
    user.require(&[Role::Sales])?;
    let today = app.store.today().await?;
    let notices_seen = app.store.last_published_seq().await?;
    let (products, signers) = choices(&app, today).await?;
    let mut page = blank(&user, products, signers, today);
    page.notices_seen = Some(notices_seen);
    let nothing_to_copy = || {
        PageError::new(
            StatusCode::NOT_FOUND,
            "No quote to copy",
            "This address names no quote of yours to copy. Open the quote and use its \u{201c}Copy as a new \
             quote\u{201d} button.",
        )
    };
    if unreadable {
        return Err(nothing_to_copy());
    }
    if let Some(raw) = query.copy.as_deref().map(str::trim).filter(|raw| !raw.is_empty()) {
        // By its id, or by the reference its pages and e-mails print.
        let id = match (Uuid::parse_str(raw), super::reference_range(raw)) {
            (Ok(id), _) => id,
            (Err(_), Some((_, ids))) => match app.store.quotes_by_reference(&user.0.actor, ids).await?[..] {
                [id] => id,
                _ => return Err(nothing_to_copy()),
            },
            _ => return Err(nothing_to_copy()),
        };
        page.copy(&app.store.get_quote(&user.0.actor, id).await?);
    }
    Ok(render(StatusCode::OK, &page))
}

/// Domain messages name the field as the API spells it; the page says it in words.
const LABELS: &[(&str, &str)] = &[
    ("customer.name", "The customer's name"),
    ("customer.email", "The customer's e-mail"),
    ("customer.company", "The company"),
    ("valid_until", "The validity date"),
    ("notes", "The notes"),
    ("signer_id", "The signer"),
];

const FIELDS: &[&str] = &["customer.name", "customer.email", "customer.company", "signer_id", "valid_until", "notes"];

pub async fn create_quote(
    State(app): State<AppState>,
    KeptForm { user, form, expired, .. }: KeptForm<Sales>,
) -> Result<Response, PageError> {
    let today = app.store.today().await?;
    // What this form was first shown with (a number no form was given names
    // nothing): a page shown again ("More lines", a refusal) keeps it, as a
    // notice published since changed what was read first.
    let notices_now = app.store.last_published_seq().await?;
    let notices_seen =
        form.get("notices_seen").trim().parse::<i64>().ok().filter(|seen| (0..=notices_now).contains(seen));
    let (products, signers) = choices(&app, today).await?;
    let mut page = blank(&user, products, signers, today);
    page.notices_seen = Some(notices_seen.unwrap_or(notices_now));
    page.keep_input(&form);
    // A copied form says so again (through "More lines" or a refusal), and
    // the quote drafted from it names its source.
    if let Ok(source) = Uuid::parse_str(form.get("copied_from").trim())
        && let Ok(quote) = app.store.get_quote(&user.0.actor, source).await
    {
        page.copied_from(&quote, Vec::new());
    }
    // "More lines" saves nothing: it adds rows whatever the token, and the
    // page it answers with carries the current one.
    if let Some(more) = page.more_rows(&form) {
        return Ok(more);
    }
    if expired {
        page.general_error = Some(EXPIRED_FORM_KEPT.to_owned());
        return Ok(render(StatusCode::CONFLICT, &page));
    }
    let invalid = match parse_quote(&page, None, None, (app.store.calendar(), today)) {
        Ok(input) => {
            // A quote is in the currency of its first product.
            let first = input.lines.first().map(|l| l.sku.as_str()).unwrap_or_default();
            let currency = page.products.iter().find(|p| p.sku == first).map_or("EUR", |p| p.currency.as_str());
            let new = Currency::parse(currency).map(|currency| NewQuote {
                form_key: page.draft_id,
                customer_name: input.customer_name,
                customer_email: input.customer_email,
                customer_company: input.customer_company,
                currency,
                valid_until: input.valid_until,
                notes: input.notes,
                signer_id: Some(input.signer_id),
                lines: input.lines,
                copied_from: page.copied_from.as_ref().map(|c| c.id),
            });
            match new {
                Ok(new) => match app.store.create_quote(&user.0.actor, new.clone()).await {
                    Ok(quote) => {
                        let done = QuoteDone::Drafted { notices_seen };
                        return Ok(done.back_to_quote(&user.seal(&app), quote.id));
                    }
                    Err(StoreError::Conflict { code: DRAFTED_ALREADY, .. }) => {
                        let id = form_row_id(user.0.actor.id, page.draft_id);
                        let drafted = app.store.get_quote(&user.0.actor, id).await?;
                        // Sent twice as it was: the quote its first sending drafted.
                        if new.drafted_as(&drafted) {
                            return Ok(QuoteDone::DraftedAlready.back_to_quote(&user.seal(&app), id));
                        }
                        // Changed, then sent again (Back, then Save): what was
                        // typed is kept, to draft another quote from it.
                        page.draft_id = Some(Uuid::new_v4());
                        page.general_error = Some(format!(
                            "This form drafted a quote already, for {} (reference {}), and nothing more was \
                             drafted. What you typed is below: save again to draft another quote from it.",
                            drafted.customer.name,
                            pricegate_domain::quote_reference(id),
                        ));
                        return Ok(render(StatusCode::CONFLICT, &page));
                    }
                    Err(e) => form_invalid(e, &input.row_of_line)?,
                },
                Err(e) => vec![e],
            }
        }
        Err(e) => e,
    };
    for invalid in invalid {
        page.show_invalid(invalid);
    }
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// The draft, if the person may edit it: its owner, while it is a draft.
/// Finalised or cancelled (its edit form opened from an old link, or sent
/// from a tab opened before), the quote's page, which says so and offers
/// to copy it; `sent` says the form's changes were not saved.
async fn editable(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    sent: bool,
) -> Result<Result<QuoteView, Response>, PageError> {
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    if quote.owner_id != user.0.actor.id {
        return Err(StoreError::forbidden("not_owner", "Only the quote's owner can change it.").into());
    }
    if quote.state != "draft" {
        return Ok(Err(super::quotes::QuoteDone::NotEditable { sent }.back_to_quote(&user.seal(app), id)));
    }
    Ok(Ok(quote))
}

pub async fn edit_quote_form(
    State(app): State<AppState>,
    super::PageSegment(raw): super::PageSegment,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Sales])?;
    // By the reference the e-mails print, as the quote's own page is.
    let Ok(id) = Uuid::parse_str(&raw) else { return super::quotes::by_reference(&app, &user, &raw, "/edit").await };
    let quote = match editable(&app, &user, id, false).await? {
        Ok(quote) => quote,
        Err(closed) => return Ok(closed),
    };
    Ok(render(StatusCode::OK, &edit_page(&app, &user, &quote, app.store.today().await?).await?))
}

/// Saves an edited draft. The validity date and the signer are sent only
/// when they changed, so that a draft whose date has passed, or whose signer
/// has left, can still have its lines corrected.
pub async fn update_quote(
    State(app): State<AppState>,
    PageId(id): PageId,
    KeptForm { user, form, expired, .. }: KeptForm<Sales>,
) -> Result<Response, PageError> {
    let quote = match editable(&app, &user, id, true).await? {
        Ok(quote) => quote,
        Err(closed) => return Ok(closed),
    };
    // One reading of the day for the form and for its check.
    let today = app.store.today().await?;
    let mut page = edit_page(&app, &user, &quote, today).await?;
    page.keep_input(&form);
    // "More lines" saves nothing: it adds rows whatever the token, and the
    // page it answers with carries the current one.
    if let Some(more) = page.more_rows(&form) {
        return Ok(more);
    }
    if expired {
        page.general_error = Some(EXPIRED_FORM_KEPT.to_owned());
        return Ok(render(StatusCode::CONFLICT, &page));
    }
    let invalid = match parse_quote(
        &page,
        Some(quote.valid_until),
        Some(&quote.currency),
        (app.store.calendar(), today),
    ) {
        Ok(input) => {
            let new_signer = input.signer_id != quote.signer_id;
            let patch = QuotePatch {
                customer_name: Some(input.customer_name),
                customer_email: Some(input.customer_email),
                customer_company: Some(input.customer_company),
                valid_until: (input.valid_until != quote.valid_until).then_some(input.valid_until),
                notes: Some(input.notes),
                signer_id: new_signer.then_some(input.signer_id),
                lines: Some(input.lines),
                as_seen: page.revision.map(|r| vec![r]),
                // Save pressed twice saves once, and says so.
                resent: Some(pricegate_store::ResentForm {
                    signer_id: input.signer_id,
                    valid_until: input.valid_until,
                }),
            };
            match app.store.edit_quote(&user.0.actor, id, patch).await {
                Ok(edited) => {
                    // An approval of old prices covers exact lines. The form
                    // says whether one covered the quote (from the gate as it
                    // stood); the gate now says whether one does: lapsed with
                    // this edit, or covering again lines put back as approved.
                    let now_covered = match edited.changed {
                        true => app.store.quote_gate(&user.0.actor, id).await.ok().map(|g| g.price_override.is_some()),
                        false => None,
                    };
                    let was_covered = page.approved_old_prices.is_some();
                    let lapsed = was_covered && now_covered == Some(false);
                    let covered_again = !was_covered && now_covered == Some(true);
                    let done = match (lapsed, new_signer) {
                        _ if !edited.changed => QuoteDone::Unchanged,
                        (_, false) if edited.request_ended => QuoteDone::SavedRequestEnded,
                        _ if covered_again => QuoteDone::SavedApprovalCoversAgain,
                        (true, _) => QuoteDone::SavedApprovalLapsed,
                        (false, true) => {
                            QuoteDone::SavedNewSigner { released: edited.released, request_ended: edited.request_ended }
                        }
                        (false, false) => QuoteDone::Saved,
                    };
                    return Ok(done.back_to_quote(&user.seal(&app), id));
                }
                // Changed since the form was opened: the form as typed,
                // now on the quote as it is, for its owner to save again
                // knowingly (or not).
                Err(StoreError::Conflict { code: "quote_changed", .. }) => {
                    let now = app.store.get_quote(&user.0.actor, id).await?;
                    let signer = app.store.get_user(now.signer_id).await.map(|u| u.name).unwrap_or_default();
                    let why = if page.out_of_date {
                        format!("Not saved: {}.", super::OUT_OF_DATE)
                    } else {
                        "Not saved: the quote changed after you opened this form.".to_owned()
                    };
                    page.revision = Some(now.revision());
                    // A signer typed who can no longer sign (handed over
                    // meanwhile) is not on the list: the form names who signs
                    // now, rather than whichever name the list starts with.
                    if !page.signers.iter().any(|u| u.id.to_string() == page.signer_id) {
                        page.signer_id = now.signer_id.to_string();
                    }
                    page.general_error = Some(format!(
                        "{why} As it is now, {signer} signs it, it is valid until {} and it totals {}. What you typed is below, every field of it: open the quote in another tab to compare, then save again to replace the quote with this.",
                        now.valid_until,
                        money(&now.currency, now.total_minor)
                    ));
                    return Ok(render(StatusCode::CONFLICT, &page));
                }
                Err(e) => form_invalid(e, &input.row_of_line)?,
            }
        }
        Err(e) => e,
    };
    for invalid in invalid {
        page.show_invalid(invalid);
    }
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
