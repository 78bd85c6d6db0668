//! What the store hands to the edges: plain, serialisable views with the
//! names API.md fixes. Times are UTC, money is integer minor units. A
//! member that may have no value is written `null`, never left out, and is
//! `#[schema(required = true)]`: the OpenAPI document says it is always there
//! (the test `every_member_an_answer_writes_is_marked_required_in_its_schema`
//! holds the answers to it).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entity::users;

/// The values a role takes in the API (the field is a string; OpenAPI
/// lists them).
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum RoleName {
    sales,
    finance,
    admin,
}

/// The values a notice's `state` takes.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum NoticeState {
    draft,
    published,
}

/// The values a quote's `state` takes.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum QuoteState {
    draft,
    finalised,
    cancelled,
}

/// A time as every answer writes it: RFC 3339 in UTC, always to the
/// microsecond (`2026-12-01T09:30:00.120000Z`), as the database keeps it, so
/// that times compare alike as text and as times. (Serde's default drops
/// trailing zeros: `…:00.12Z`.)
pub fn micros<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// [`micros`], of a time that may be absent (`null`).
pub fn micros_opt<S: serde::Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => micros(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `sales`, `finance` or `admin`.
    #[schema(value_type = RoleName)]
    pub role: String,
    pub active: bool,
    /// When an administrator last e-mailed them an invitation to choose
    /// their first password, while they have not chosen one (no password
    /// logs them in meanwhile); `null` once they have, or for an account
    /// made with a password.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub invited_at: Option<DateTime<Utc>>,
    /// When they last logged in (a browser session, or an API token issued
    /// on their password); `null` if they never have.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl UserView {
    /// An active salesperson: someone who may sign (and so finalise) a quote.
    pub fn can_sign(&self) -> bool {
        users::can_sign(self.active, &self.role)
    }
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            active: u.active,
            invited_at: u.invited_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub unit: String,
    pub currency: String,
    /// The price in force today: the product's list price, or the latest
    /// published notice change whose effective date has come.
    pub unit_price_minor: i64,
    /// Since when that price is in force: the effective date of the notice
    /// change that set it; `null` while the list price stands.
    #[schema(required = true)]
    pub price_since: Option<NaiveDate>,
    #[serde(serialize_with = "crate::views::micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::views::micros")]
    pub updated_at: DateTime<Utc>,
    /// When finance withdrew it from sale: a quote that carries it keeps
    /// it, and no quote takes it on as a new line. `null` while on sale.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// A product's prices over time: `GET /api/v1/products/{id}/prices`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceHistoryView {
    /// The product as the price list shows it today.
    pub product: ProductView,
    /// The price it was added at, which stands until a notice changes it.
    pub list_price_minor: i64,
    /// The business's day it was added on.
    pub added_on: NaiveDate,
    /// The business's day it is.
    pub today: NaiveDate,
    /// Every price a published notice set for it, newest first: by date,
    /// then the later notice, then the later line, as the gate weighs them,
    /// reversed.
    pub prices: Vec<PublishedPriceView>,
    /// Its price on the day asked for (`?on=`); `null` when none was.
    #[schema(required = true)]
    pub on: Option<PriceOnView>,
}

/// One price a published notice set for a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedPriceView {
    pub notice_id: Uuid,
    pub title: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub published_at: DateTime<Utc>,
    /// The day finance wrote it holds from.
    pub effective_on: NaiveDate,
    /// The first business day it could hold: `effective_on`, or the day
    /// its notice was published if that was later.
    pub in_force_from: NaiveDate,
    pub unit_price_minor: i64,
    pub state: PriceState,
}

/// Where a published price stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceState {
    /// The price every quote is drafted at today.
    InForce,
    /// Its day has not come.
    ToCome,
    /// It held, and a later one has since.
    Earlier,
    /// It never held: another price for its first day, from a later
    /// notice or a later line, came first.
    Replaced,
}

/// A product's price on one day, as people knew it that day: the last word
/// among the changes dated by then and published by then.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceOnView {
    pub day: NaiveDate,
    /// `null` before the product was added to the price list.
    #[schema(required = true)]
    pub unit_price_minor: Option<i64>,
    /// The notice that set it; `null` for the list price.
    #[schema(required = true)]
    pub notice_id: Option<Uuid>,
    /// When the price changed during the day (a notice published that day
    /// took force on its publication): each price it held, in order, the
    /// first from the day's start, the last the one above. Empty when one
    /// price, set by one notice (or the list), held all day; when not, what
    /// a quote drafted that day was priced at, or which notice had set it
    /// (a notice may restate the price), depends on the hour.
    pub during_the_day: Vec<PriceFromView>,
}

/// One of the prices a product held during one day, and from when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceFromView {
    /// When it began to hold; `null` for the price the day opened with.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub from: Option<DateTime<Utc>>,
    pub unit_price_minor: i64,
    /// The notice that set it; `null` for the list price.
    #[schema(required = true)]
    pub notice_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceChangeView {
    pub sku: String,
    pub product_name: String,
    pub currency: String,
    pub unit_price_minor: i64,
    /// The day from which finance wrote that the price holds.
    pub effective_on: NaiveDate,
    /// On a published notice, the business's day from which this change
    /// counts (`PRICEGATE_TIMEZONE`): its `effective_on`, or, for one dated
    /// before its notice was published, the day of the publication. For any
    /// change dated on or before that day, from the notice's `published_at`
    /// on, not from the day's start: until then the gate read the price
    /// before it. A later notice may set another price for the same product
    /// and day, which then counts instead. `null` on a draft.
    #[schema(required = true)]
    pub in_force_from: Option<NaiveDate>,
    /// The price this change moves the product from, on a notice read by
    /// a person (its page, its e-mails): see [`crate::notices::changes_to_read`].
    /// Not part of the API's answer, which lists notices without it.
    #[serde(skip)]
    pub price_before_minor: Option<i64>,
    /// On a published notice read by a person: the notice published since
    /// that sets another price for the same product from the same day, so
    /// that this one is not in force from then on (the last such, when
    /// several do).
    #[serde(skip)]
    pub replaced_by: Option<ReplacedBy>,
}

/// A later notice's price for a change's product and day (see
/// [`PriceChangeView::replaced_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedBy {
    /// That notice's title.
    pub title: String,
    pub unit_price_minor: i64,
    /// That it was published once this price had taken force (on its day),
    /// which was then in force until that publication; `false` when it was
    /// replaced before its day began, and so never in force.
    pub was_in_force: bool,
    /// The notice whose publication ended it, when that is not this one
    /// (several priced the product again since): by its title.
    pub ended_by: Option<String>,
}

impl From<&PriceChangeView> for pricegate_domain::PriceChange {
    /// The change as the pricing rules read it.
    fn from(c: &PriceChangeView) -> Self {
        pricegate_domain::PriceChange {
            sku: c.sku.clone(),
            unit_price_minor: c.unit_price_minor,
            effective_on: c.effective_on,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: Uuid,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// `draft` or `published`.
    #[schema(value_type = NoticeState)]
    pub state: String,
    #[schema(required = true)]
    pub seq: Option<i64>,
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub published_at: Option<DateTime<Utc>>,
    /// Who in finance drafted it.
    pub created_by: Uuid,
    /// Who published it, once published.
    #[schema(required = true)]
    pub published_by: Option<Uuid>,
    #[serde(serialize_with = "crate::views::micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::views::micros")]
    pub updated_at: DateTime<Utc>,
    pub changes: Vec<PriceChangeView>,
    pub acknowledged_by_me: bool,
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Published, not yet acknowledged by me, and mine to acknowledge: I am
    /// a salesperson whose account was created before it was published (or
    /// in the same instant), or who signs a draft it holds up. False for finance and admins, who need not.
    pub awaiting_my_acknowledgement: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedView {
    pub id: Uuid,
    #[schema(value_type = NoticeState)]
    pub state: String,
    pub seq: i64,
    #[serde(serialize_with = "crate::views::micros")]
    pub published_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AckView {
    pub notice_id: Uuid,
    pub user_id: Uuid,
    #[serde(serialize_with = "crate::views::micros")]
    pub acknowledged_at: DateTime<Utc>,
    /// `web`, `email` or `api`.
    #[schema(value_type = crate::notices::Channel)]
    pub channel: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcknowledgedBy {
    pub user: UserView,
    #[serde(serialize_with = "crate::views::micros")]
    pub acknowledged_at: DateTime<Utc>,
    #[schema(value_type = crate::notices::Channel)]
    pub channel: String,
    /// The address the acknowledgement came from (the client's, behind a
    /// trusted proxy), when known.
    #[schema(required = true)]
    pub client_address: Option<String>,
    /// The browser or program that sent it, as it named itself.
    #[schema(required = true)]
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AckListView {
    pub acknowledged: Vec<AcknowledgedBy>,
    /// Active salespeople who have not acknowledged the notice.
    pub pending: Vec<UserView>,
    /// Of those pending, each whom no e-mail about the notice has reached
    /// though one was tried: told of it by e-mail only once it is delivered,
    /// they may not know of it at all.
    pub undelivered: Vec<UndeliveredView>,
}

/// Why no e-mail about a notice (its publication, a reminder) has reached
/// someone it waits for: the latest one tried, as the outbox has it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UndeliveredView {
    pub user_id: Uuid,
    /// `retrying` (the mail server deferred it, or refused Pricegate's mail
    /// as a relay: it is tried again on its own) or `failed` (the server
    /// refused the address, or the tries ran out: given up on).
    #[schema(value_type = UndeliveredState)]
    pub state: String,
    /// How many times it was tried.
    pub attempts: i32,
    /// What the mail server answered, or what else went wrong, the last time.
    #[schema(required = true)]
    pub error: Option<String>,
    #[serde(serialize_with = "crate::views::micros")]
    pub queued_at: DateTime<Utc>,
    /// When it is tried next; null once given up on.
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// [`UndeliveredView::state`]'s values.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum UndeliveredState {
    retrying,
    failed,
}

impl UndeliveredView {
    pub fn of(user_id: Uuid, why: &crate::Undelivered) -> UndeliveredView {
        UndeliveredView {
            user_id,
            state: if why.failed { "failed" } else { "retrying" }.to_owned(),
            attempts: why.attempts,
            error: why.error.clone(),
            queued_at: why.queued_at,
            next_attempt_at: why.next_try_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct CustomerView {
    pub name: String,
    pub email: String,
    pub company: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct LineView {
    pub id: Uuid,
    pub sku: String,
    pub product_name: String,
    pub unit: String,
    pub quantity: i64,
    /// The price snapshot taken when the line was added (or last repriced).
    pub unit_price_minor: i64,
    pub discount_bp: i32,
    pub total_minor: i64,
}

impl From<&LineView> for pricegate_domain::PricedLine {
    /// The line as the pricing rules read it.
    fn from(l: &LineView) -> Self {
        pricegate_domain::PricedLine {
            line_id: l.id,
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            discount_bp: l.discount_bp,
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct EvidenceNotice {
    pub notice_id: Uuid,
    pub seq: i64,
    pub title: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub published_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::views::micros")]
    pub acknowledged_at: DateTime<Utc>,
    #[schema(value_type = crate::notices::Channel)]
    pub channel: String,
}

#[derive(Debug, Clone, Serialize, ToSchema, serde::Deserialize)]
pub struct OverrideView {
    pub id: Uuid,
    pub approved_by: Uuid,
    pub reason: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub created_at: DateTime<Utc>,
    /// The lines at an old price it waives, as finance saw them when
    /// approving: kept with a finalisation's evidence. Empty in evidence
    /// kept before it was recorded there.
    #[serde(default)]
    pub waives: Vec<WaivedLineView>,
}

/// How much today's prices would move the total of `lines`, quoted at an
/// old price: positive when keeping the old prices charges the customer less.
pub fn old_price_gap(lines: &[SupersededLineView]) -> i64 {
    lines.iter().fold(0i64, |sum, s| {
        let at = |price| pricegate_domain::line_total(price, s.quantity, s.discount_bp);
        sum.saturating_add(at(s.current_unit_price_minor).saturating_sub(at(s.quoted_unit_price_minor)))
    })
}

/// A line an override lets be finalised at a price no longer in force.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, serde::Deserialize)]
pub struct WaivedLineView {
    pub sku: String,
    #[schema(required = true)]
    pub quantity: Option<i64>,
    #[schema(required = true)]
    pub discount_bp: Option<i32>,
    pub quoted_unit_price_minor: i64,
    /// The price in force when finance approved.
    pub current_unit_price_minor: i64,
}

/// What the gate checked when the quote was finalised: the proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceView {
    pub finalised_by: Uuid,
    #[serde(serialize_with = "crate::views::micros")]
    pub finalised_at: DateTime<Utc>,
    /// Every notice published after the quote was drafted and before it was
    /// finalised, with the signer's acknowledgement time.
    pub notices: Vec<EvidenceNotice>,
    /// The finance approval that let superseded prices through, if one was needed.
    #[serde(rename = "override")]
    #[schema(required = true)]
    pub price_override: Option<OverrideView>,
    /// The quote as it was finalised, kept with the proof; `null` in
    /// evidence kept before it was recorded there.
    #[schema(required = true)]
    pub signed: Option<SignedQuoteView>,
    /// Where each of its products' price in force came from when it was
    /// finalised, by SKU; `null` in evidence kept before it was recorded
    /// there.
    #[schema(required = true)]
    pub prices: Option<Vec<EvidencePrice>>,
}

/// Where the price in force of one of a finalised quote's products came
/// from on the day it was finalised: the price list, or a published
/// notice's change, with the signer's acknowledgement of that notice if they
/// had made one. The gate asks only for the notices published since the
/// quote was drafted, so a price set by an earlier notice may stand
/// unacknowledged: the evidence says so rather than leave it unsaid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct EvidencePrice {
    pub product_id: Uuid,
    pub sku: String,
    /// The unit price in force, in minor units (a line finance let keep an
    /// old price was signed at another: see `override.waives`).
    pub unit_price_minor: i64,
    /// The notice whose change set that price; `null` when it was the price
    /// list's own.
    #[schema(required = true)]
    pub set_by: Option<PriceSetBy>,
    /// The other unit prices its lines were signed at, which finance
    /// approved keeping (see `override.waives`), each with the last notice
    /// dated by then to set it; empty when every line was signed at the
    /// price in force.
    #[serde(default)]
    pub signed_at: Vec<SignedPrice>,
}

impl EvidencePrice {
    /// The signer's acknowledgements of the notices it names.
    pub fn acknowledgements(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let named = self.set_by.iter().chain(self.signed_at.iter().filter_map(|s| s.set_by.as_ref()));
        named.filter_map(|n| n.acknowledged_at)
    }
}

/// A unit price a line was signed at other than the one in force, and
/// where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct SignedPrice {
    pub unit_price_minor: i64,
    /// The notice it was taken from: the price in force when the quote was
    /// drafted, if that was this one, else the last published price of this
    /// amount to have held since (an edit or a repricing took it); `null`
    /// when none did (the price list's own).
    #[schema(required = true)]
    pub set_by: Option<PriceSetBy>,
}

/// The published notice whose change set a price in force (see [`EvidencePrice`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct PriceSetBy {
    pub notice_id: Uuid,
    pub seq: i64,
    pub title: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub published_at: DateTime<Utc>,
    /// The change's date.
    pub effective_on: NaiveDate,
    /// The first business day it held: `effective_on`, or the day its
    /// notice was published if that was later.
    pub in_force_from: NaiveDate,
    /// When the signer acknowledged the notice; `null` if they had not by
    /// the finalisation (possible only for a notice published before the
    /// quote was drafted).
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// How they acknowledged it; `null` with `acknowledged_at`.
    #[schema(value_type = Option<crate::notices::Channel>, required = true)]
    pub channel: Option<String>,
}

/// What was finalised: the customer, terms, lines and total, as the
/// finalisation record keeps them whatever becomes of the quote's own rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct SignedQuoteView {
    pub customer: CustomerView,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub notes: String,
    pub lines: Vec<LineView>,
    pub total_minor: i64,
}

impl SignedQuoteView {
    /// `quote` as it stands, to keep or to compare with what was kept.
    pub fn of(quote: &QuoteView) -> Self {
        SignedQuoteView {
            customer: quote.customer.clone(),
            currency: quote.currency.clone(),
            valid_until: quote.valid_until,
            notes: quote.notes.clone(),
            lines: quote.lines.clone(),
            total_minor: quote.total_minor,
        }
    }

    /// What of `quote` is no longer as it was finalised, as the API's
    /// [`QuoteView::changed_since_finalised`] names it (`lines`, `total`):
    /// nothing, unless its rows were changed behind the service's back,
    /// which refuses any change to a finalised quote.
    pub fn differences(&self, quote: &QuoteView) -> Vec<&'static str> {
        let now = SignedQuoteView::of(quote);
        differing([
            ("customer", self.customer == now.customer),
            ("currency", self.currency == now.currency),
            ("validity", self.valid_until == now.valid_until),
            ("notes", self.notes == now.notes),
            ("lines", self.lines == now.lines),
            ("total", self.total_minor == now.total_minor),
        ])
    }
}

/// The names of the parts `compared` (each a name and whether it is as it
/// was kept) that are not: what a record kept as proof says changed since.
pub(crate) fn differing<const N: usize>(compared: [(&'static str, bool); N]) -> Vec<&'static str> {
    compared.into_iter().filter(|(_, same)| !same).map(|(what, _)| what).collect()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuoteView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub signer_id: Uuid,
    pub customer: CustomerView,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub notes: String,
    /// `draft`, `finalised` or `cancelled`.
    #[schema(value_type = QuoteState)]
    pub state: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub drafted_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::views::micros")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub finalised_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::views::micros_opt")]
    #[schema(required = true)]
    pub cancelled_at: Option<DateTime<Utc>>,
    pub lines: Vec<LineView>,
    pub total_minor: i64,
    #[schema(required = true)]
    pub evidence: Option<EvidenceView>,
    /// Of a finalised quote, what of its rows no longer matches what its
    /// finalisation record keeps as signed (`evidence.signed`): `customer`,
    /// `currency`, `validity`, `notes`, `lines`, `total`. The service
    /// changes nothing of a finalised quote, so any is a change made in the
    /// database behind its back, and the record is the proof. Empty while
    /// they match, and for a draft or a quote finalised before the record
    /// kept what was signed.
    pub changed_since_finalised: Vec<String>,
}

impl QuoteView {
    /// Which version of the quote this is: its `updated_at` in microseconds,
    /// which every change to a draft moves. A confirmation carries it, so
    /// that finalising refuses a quote changed since it was shown
    /// ([`crate::Store::finalise_quote`]).
    pub fn revision(&self) -> i64 {
        revision(self.updated_at)
    }
}

impl ProductView {
    /// Which version of a product's name, unit and sale this is, as
    /// [`QuoteView::revision`]: its edit form carries it.
    pub fn revision(&self) -> i64 {
        revision(self.updated_at)
    }
}

impl NoticeView {
    /// Which version of a draft notice this is, as [`QuoteView::revision`]:
    /// the publish confirmation carries it ([`crate::Store::publish_notice`]).
    pub fn revision(&self) -> i64 {
        revision(self.updated_at)
    }
}

/// The revision of a row last changed `at`.
pub(crate) fn revision(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Whether a row last changed `at` is still a version its caller read:
/// `as_seen` holds the revisions the caller accepts (a form's one, the list
/// of an `If-Match` header); `None` compares nothing.
pub(crate) fn still_as_seen(as_seen: Option<&[i64]>, at: DateTime<Utc>) -> bool {
    as_seen.is_none_or(|seen| seen.contains(&revision(at)))
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct LineImpactView {
    pub line_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    pub old_unit_price_minor: i64,
    pub new_unit_price_minor: i64,
    pub effective_on: NaiveDate,
    pub old_total_minor: i64,
    pub new_total_minor: i64,
    pub delta_minor: i64,
    /// The notice's other prices for this product, in force before
    /// `new_unit_price_minor`: by `effective_on`, each with what it does to
    /// the line's total. Empty when the notice prices the product once.
    pub earlier: Vec<PriceStepView>,
    /// Set when every price of the notice for this line took force by today
    /// and the last is not the price in force today, which this is: another
    /// notice has the last word. Or when the last, dated ahead, will never be
    /// in force: a notice published since sets this price for its day (a
    /// correction). That price counts 0 in the totals, and so does the line
    /// when every one of its `earlier` is overtaken too.
    #[schema(required = true)]
    pub overtaken_by_unit_price_minor: Option<i64>,
    /// Finance approved finalising this line at the price it carries (the
    /// gate's `price_override` waives it), and every price of the notice
    /// for it took force by today: the notice changes nothing on it, and
    /// the line counts 0 in the totals.
    pub waived_by_approval: bool,
}

/// A price a notice sets until its next change to the same product.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct PriceStepView {
    pub unit_price_minor: i64,
    pub effective_on: NaiveDate,
    pub delta_minor: i64,
    /// Set when this price will never be in force, or is not now: a notice
    /// published since sets this price for its day ahead (a correction), or
    /// its day has come and this is the price in force today, another
    /// notice's. It counts 0 until the notice's next price for the product.
    #[schema(required = true)]
    pub overtaken_by_unit_price_minor: Option<i64>,
}

/// The view's reading of what `pricegate_domain::pricing::LineImpact`
/// says of the same line, for the pages that only have the view.
impl LineImpactView {
    /// Whether the notice still prices this line: a price of it for the
    /// line is neither overtaken nor waived by an approval (`LineImpact::counts`).
    pub fn counts(&self) -> bool {
        !self.waived_by_approval
            && (self.overtaken_by_unit_price_minor.is_none()
                || self.earlier.iter().any(|s| s.overtaken_by_unit_price_minor.is_none()))
    }

    /// The notice's prices for this line by date, as (effective date, change
    /// to the line's total), as `LineImpact::steps` gives them: one another
    /// notice overtook changes nothing, 0.
    pub fn steps(&self) -> impl Iterator<Item = (NaiveDate, i64)> + '_ {
        let counted = |delta, overtaken: Option<i64>| if overtaken.is_some() { 0 } else { delta };
        let earlier =
            self.earlier.iter().map(move |s| (s.effective_on, counted(s.delta_minor, s.overtaken_by_unit_price_minor)));
        earlier
            .chain(std::iter::once((self.effective_on, counted(self.delta_minor, self.overtaken_by_unit_price_minor))))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ImpactView {
    pub lines: Vec<LineImpactView>,
    /// The change to the quote's total once every price of the notice is in
    /// force, whatever the dates.
    pub total_delta_minor: i64,
    /// The change to the quote's total by its last valid day: each line at
    /// the last of the notice's prices in force by `valid_until` (a change
    /// dated after it does nothing to this quote as it stands, nor one
    /// published after it, whatever its date).
    pub delta_while_valid_minor: i64,
    /// The days on which the notice changes the quote's prices while it is
    /// valid, in order (a price restating the one before it changes
    /// nothing; a day one line rises by as much as another falls is one; a
    /// price dated before the notice was published, its `in_force_from`,
    /// the day of the publication):
    /// finalised before the first, when that is after today, the
    /// quote keeps its prices; several days are steps, and
    /// `delta_while_valid_minor` is where the last leaves it. Each is held
    /// with the change to the total from then; only the days are shown.
    #[serde(serialize_with = "days_only")]
    #[schema(value_type = Vec<NaiveDate>)]
    pub change_days: Vec<(NaiveDate, i64)>,
}

fn days_only<S: serde::Serializer>(days: &[(NaiveDate, i64)], to: S) -> Result<S::Ok, S::Error> {
    to.collect_seq(days.iter().map(|(day, _)| day))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingNoticeView {
    pub notice_id: Uuid,
    pub seq: i64,
    pub title: String,
    pub body: String,
    #[serde(serialize_with = "crate::views::micros")]
    pub published_at: DateTime<Utc>,
    pub impact: ImpactView,
}

/// A line whose snapshot price is no longer the price in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupersededLineView {
    pub line_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    pub discount_bp: i32,
    pub quoted_unit_price_minor: i64,
    pub current_unit_price_minor: i64,
}

/// A price already published that takes force after today and while a
/// draft is valid, for one of its products, by a notice the gate does not
/// wait for (acknowledged, or published before the quote was drafted):
/// finalised before then the quote keeps its price; finalised from then on,
/// its line is at a price no longer in force.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct UpcomingPriceView {
    pub sku: String,
    /// The unit price the quote carries for the product.
    pub quoted_unit_price_minor: i64,
    /// The unit price from `effective_on`.
    pub unit_price_minor: i64,
    pub effective_on: NaiveDate,
    pub notice_id: Uuid,
    pub title: String,
    /// The quote's signer has acknowledged the notice. A notice published
    /// before drafting does not hold the quote up, but may be news to them.
    pub acknowledged_by_signer: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GateView {
    /// True when finalisation would succeed now.
    pub ready: bool,
    /// The quote's `valid_until` has passed, by the business's day
    /// (`PRICEGATE_TIMEZONE`) on the database's clock, the day prices take
    /// force by: its owner must extend it before the quote can be finalised.
    pub expired: bool,
    /// The signer is an active salesperson. Only the signer can finalise, so
    /// a quote whose signer was deactivated or moved out of sales waits for
    /// its owner to choose another signer.
    pub signer_can_sign: bool,
    /// Notices published after the quote was drafted that the signer has not
    /// acknowledged, in publication order, with their effect on this quote.
    pub pending: Vec<PendingNoticeView>,
    /// Lines still priced at a superseded price: reprice the quote, or have
    /// finance approve an override, before finalising.
    pub superseded: Vec<SupersededLineView>,
    /// `superseded`, and the prices in force for those lines, as one opaque
    /// string: finance sends it with an override (`superseded_tag`), which
    /// is refused (412 `quote_changed`) when the lines at an old price, or
    /// the prices now in force for them, are others by then.
    pub superseded_tag: String,
    #[schema(required = true)]
    pub price_override: Option<OverrideView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepriceView {
    pub old_total_minor: i64,
    pub new_total_minor: i64,
    /// Whether a request for finance's approval of the old prices was open
    /// (lines at an old price, asked about), and repricing ended it: at
    /// today's prices there is nothing to approve.
    pub approval_request_ended: bool,
    pub quote: QuoteView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    #[serde(serialize_with = "crate::views::micros")]
    pub at: DateTime<Utc>,
    #[schema(required = true)]
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub subject_type: String,
    #[schema(required = true)]
    pub subject_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// What an entry about a quote may say of its customer and notes, as they
/// were and are: read only by those who read quotes (finance).
const QUOTE_WORDS: [&str; 9] = [
    "customer_name",
    "customer_name_before",
    "customer_email",
    "customer_email_before",
    "customer_company",
    "customer_company_before",
    "notes",
    "notes_before",
    // Why a salesperson asked, or finance decided, about a quote's old prices.
    "reason",
];

impl AuditView {
    /// The entry as `reader` may read it: an administrator, who does not
    /// read quotes, is not shown the words of a quote's customer or notes
    /// (the entry still names the fields that changed).
    pub fn for_reader(mut self, reader: pricegate_domain::Role) -> Self {
        if reader != pricegate_domain::Role::Finance
            && self.subject_type == "quote"
            && let Some(detail) = self.detail.as_object_mut()
        {
            detail.retain(|key, _| !QUOTE_WORDS.contains(&key.as_str()));
        }
        self
    }
}
