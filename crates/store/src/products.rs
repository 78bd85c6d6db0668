use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::product_csv::{ProductRow, RowError, all_or_nothing};
use pricegate_domain::{Calendar, Currency, Sku, Text};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::db::{IN_LIST_CHUNK, db_now};
use crate::entity::{notice_changes, notices, products, quote_lines};
use crate::notices::PUBLISHED;
use crate::views::{
    PriceFromView, PriceHistoryView, PriceOnView, PriceState, ProductView, PublishedPriceView, QuoteView,
    UpcomingPriceView,
};
use crate::{Actor, Store, StoreError};

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: Text,
    pub unit: Text,
    pub currency: Currency,
    pub unit_price_minor: i64,
}

impl From<ProductRow> for NewProduct {
    fn from(r: ProductRow) -> Self {
        NewProduct {
            sku: r.sku,
            name: r.name,
            unit: r.unit,
            currency: r.currency,
            unit_price_minor: r.unit_price_minor,
        }
    }
}

/// What finance may change about a product in place. The price is not here:
/// it changes only through a published notice, so every salesperson hears of it.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<Text>,
    pub unit: Option<Text>,
    /// `true` withdraws it from sale, `false` puts it back on sale: see
    /// [`products::Model::withdrawn_at`].
    pub withdrawn: Option<bool>,
    /// The product's revisions ([`ProductView::revision`]) the edit was
    /// made on (a form's one), when the caller says: a product changed since
    /// (by a colleague, in another tab) is refused with 409
    /// `product_changed`, not overwritten.
    pub as_seen: Option<Vec<i64>>,
}

/// A CSV line that could not be imported because of the database (a sku
/// that already exists), reported like a parse error.
#[derive(Debug, Clone)]
pub struct CsvRowError {
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl From<RowError> for CsvRowError {
    fn from(e: RowError) -> Self {
        CsvRowError { line: e.line, field: e.field, message: e.message }
    }
}

fn active(new: &NewProduct, now: chrono::DateTime<chrono::Utc>) -> products::ActiveModel {
    products::ActiveModel {
        id: Set(Uuid::new_v4()),
        sku: Set(new.sku.as_str().to_owned()),
        name: Set(new.name.as_str().to_owned()),
        unit: Set(new.unit.as_str().to_owned()),
        currency: Set(new.currency.code().to_owned()),
        unit_price_minor: Set(new.unit_price_minor),
        created_at: Set(now),
        updated_at: Set(now),
        withdrawn_at: Set(None),
    }
}

/// 422 `unknown_sku` for `sku` under `field`. SKUs match exactly; when one
/// differs only in case, the sentence names it, so `pump-100` leads to
/// `PUMP-100` instead of to a dead end.
pub(crate) async fn unknown_sku(
    conn: &impl ConnectionTrait,
    field: &str,
    sku: &str,
) -> Result<pricegate_domain::Invalid, StoreError> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let near = products::Entity::find()
        .filter(ExprTrait::eq(Func::lower(Expr::col(products::Column::Sku)), Func::lower(Expr::val(sku))))
        .order_by_asc(products::Column::Sku)
        .one(conn)
        .await?;
    let message = match near {
        Some(p) => Sku::unknown(sku, Some(&p.sku)),
        None => Sku::unknown(sku, None),
    };
    Ok(pricegate_domain::Invalid::new(field, message).with_code("unknown_sku"))
}

/// A product's price today and since when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InForce {
    pub price: i64,
    /// The product's own list price, which a notice's change replaces.
    pub list_price: i64,
    /// The effective date of the notice change that set it; `None` while
    /// the list price stands.
    pub since: Option<NaiveDate>,
}

/// The last word, so far, on a product's price on a day ahead, by SKU
/// and day ([`last_words_ahead`]).
#[derive(Debug, Default)]
pub(crate) struct LastWords(HashMap<(String, NaiveDate), i64>);

impl LastWords {
    /// The price the notices published so far set last for `sku` on `day`,
    /// if it was among the days asked about.
    pub(crate) fn on(&self, sku: &str, day: NaiveDate) -> Option<i64> {
        self.0.get(&(sku.to_owned(), day)).copied()
    }
}

/// For each of `changes` dated after `today` whose product `product_of`
/// knows by SKU (a quote's lines), the last word on that product's price
/// that day: of the changes published for exactly that day by notices
/// published at `from` or later, the latest published (of two in one
/// notice, the later in its list). A notice published at `from` or later
/// that prices a product for one of those days is replaced for it by a
/// later one here, whatever was published before. One query, and none
/// when no change is dated ahead.
pub(crate) async fn last_words_ahead<'a>(
    conn: &impl ConnectionTrait,
    from: chrono::DateTime<chrono::Utc>,
    today: NaiveDate,
    changes: impl IntoIterator<Item = &'a pricegate_domain::PriceChange>,
    product_of: impl Fn(&str) -> Option<Uuid>,
) -> Result<LastWords, StoreError> {
    use sea_orm::{JoinType, QuerySelect, RelationTrait};
    let mut ids = std::collections::BTreeSet::new();
    let mut dates = std::collections::BTreeSet::new();
    for change in changes.into_iter().filter(|c| c.effective_on > today) {
        if let Some(id) = product_of(&change.sku) {
            ids.insert(id);
            dates.insert(change.effective_on);
        }
    }
    if ids.is_empty() {
        return Ok(LastWords::default());
    }
    let rows = notice_changes::Entity::find()
        .select_only()
        .columns([
            notice_changes::Column::Sku,
            notice_changes::Column::EffectiveOn,
            notice_changes::Column::UnitPriceMinor,
            notice_changes::Column::Position,
        ])
        .column(notices::Column::Seq)
        .join(JoinType::InnerJoin, notice_changes::Relation::Notice.def())
        .filter(notices::Column::State.eq(crate::notices::PUBLISHED))
        .filter(notices::Column::PublishedAt.gte(from))
        .filter(notice_changes::Column::ProductId.is_in(ids))
        .filter(notice_changes::Column::EffectiveOn.is_in(dates))
        .into_tuple::<(String, NaiveDate, i64, i32, Option<i64>)>()
        .all(conn)
        .await?;
    let mut on: HashMap<(String, NaiveDate), ((i64, i32), i64)> = HashMap::new();
    for (sku, date, price, position, seq) in rows {
        let order = (seq.unwrap_or_default(), position);
        let latest = on.entry((sku, date)).or_insert((order, price));
        if order >= latest.0 {
            *latest = (order, price);
        }
    }
    Ok(LastWords(on.into_iter().map(|(key, (_, price))| (key, price)).collect()))
}

/// The price in force on `today` for each product, and since when: its list
/// price, replaced by the latest published change (by effective date, then
/// publication order) whose effective date has come. `None` for `ids` means
/// every product.
pub(crate) async fn prices_in_force(
    conn: &impl ConnectionTrait,
    ids: Option<&[Uuid]>,
    today: NaiveDate,
) -> Result<HashMap<Uuid, InForce>, StoreError> {
    use sea_orm::FromQueryResult as _;
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        id: Uuid,
        price: i64,
        list_price: i64,
        since: Option<NaiveDate>,
    }
    let backend = conn.get_database_backend();
    let placeholder = |n| crate::db::placeholder(backend, n);
    // One statement, with the same rule the gate reads quotes' lines with;
    // today is its first value, in both places.
    let mut sql = format!(
        "SELECT p.id, {} AS price, p.unit_price_minor AS list_price, {} AS since FROM products p",
        crate::gate::price_in_force_sql(&placeholder(1)),
        crate::gate::change_in_force_sql("nc.effective_on", &placeholder(1)),
    );
    let mut values: Vec<sea_orm::Value> = vec![today.into()];
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list: Vec<String> = (0..ids.len()).map(|i| placeholder(i + 2)).collect();
        sql.push_str(&format!(" WHERE p.id IN ({})", list.join(", ")));
        values.extend(ids.iter().map(|id| sea_orm::Value::from(*id)));
    }
    let rows = Row::find_by_statement(sea_orm::Statement::from_sql_and_values(backend, sql, values)).all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, InForce { price: r.price, list_price: r.list_price, since: r.since })).collect())
}

/// The price in force on `day` as people then knew it, and the change that
/// set it (`None` for the list price): the last word among the changes
/// dated by then and published by then, `steps` being in the gate's order
/// (by date, then the later notice, then the later line). A change dated
/// before its publication counts from the publication; today's is the
/// price every quote is drafted at now.
fn last_word(steps: &[PublishedPriceView], day: NaiveDate) -> Option<usize> {
    steps.iter().rposition(|s| s.in_force_from <= day)
}

/// The last word at instant `at` of business day `day` (`None`: as the day
/// opens): a change for the day holds from the day's start if its notice
/// was published before it, else from its publication.
fn word_at(
    steps: &[PublishedPriceView],
    day: NaiveDate,
    at: Option<DateTime<Utc>>,
    calendar: Calendar,
) -> Option<usize> {
    steps.iter().rposition(|s| {
        s.in_force_from <= day && (calendar.date_of(s.published_at) != day || at.is_some_and(|at| s.published_at <= at))
    })
}

/// When `step` would begin to hold: its first day, from the day's start
/// (`None`) or from its publication that day.
fn first_instant(step: &PublishedPriceView, calendar: Calendar) -> (NaiveDate, Option<DateTime<Utc>>) {
    let day = step.in_force_from;
    (day, (calendar.date_of(step.published_at) == day).then_some(step.published_at))
}

/// Whether change `i` holds at any instant: the changes that could hold
/// only grow with time, so if it is not the last word the moment it could
/// begin, it never is (a later price for its day came first).
fn ever_holds(steps: &[PublishedPriceView], i: usize, calendar: Calendar) -> bool {
    let (day, at) = first_instant(&steps[i], calendar);
    word_at(steps, day, at, calendar) == Some(i)
}

/// The last words of business day `day` in the order they held, each from
/// when: the one the day opened with (`None`), then each that a notice
/// published that day brought in on publication; one alone when one word
/// held all day. A notice restating the price is a word of its own: the
/// price is the same, but from its publication it is the notice a
/// finalisation's evidence names as having set it (`set_by`), and the one
/// whose acknowledgement an auditor looks up.
fn words_of_the_day(
    steps: &[PublishedPriceView],
    day: NaiveDate,
    calendar: Calendar,
) -> Vec<(Option<DateTime<Utc>>, Option<usize>)> {
    let mut instants: Vec<DateTime<Utc>> = steps
        .iter()
        .filter(|s| s.in_force_from <= day && calendar.date_of(s.published_at) == day)
        .map(|s| s.published_at)
        .collect();
    instants.sort_unstable();
    instants.dedup();
    let mut words = vec![(None, word_at(steps, day, None, calendar))];
    for at in instants {
        let word = word_at(steps, day, Some(at), calendar);
        if words.last().is_some_and(|(_, last)| *last != word) {
            words.push((Some(at), word));
        }
    }
    words
}

/// Which published change, if any, a line signed at `price` on a quote
/// drafted at `drafted_at` took its price from: the last word when it was
/// drafted if that was its price (`None` for `list_price`), else the last
/// word to have held that price before `until` (the line was priced since,
/// by an edit or a repricing). `None` when no published change held it
/// (the list price).
pub(crate) fn source_of_price(
    steps: &[PublishedPriceView],
    list_price: i64,
    price: i64,
    drafted_at: DateTime<Utc>,
    until: DateTime<Utc>,
    calendar: Calendar,
) -> Option<usize> {
    let at_drafting = word_at(steps, calendar.date_of(drafted_at), Some(drafted_at), calendar);
    if at_drafting.map_or(list_price, |i| steps[i].unit_price_minor) == price {
        return at_drafting;
    }
    // Each change that held, from when, in time order; the last to have
    // held the price before `until`.
    let mut starts: Vec<(DateTime<Utc>, usize)> = (0..steps.len())
        .filter(|&i| ever_holds(steps, i, calendar))
        .map(|i| {
            let (day, at) = first_instant(&steps[i], calendar);
            (at.unwrap_or_else(|| calendar.start_of(day)), i)
        })
        .filter(|(start, _)| *start <= until)
        .collect();
    starts.sort_unstable();
    starts.into_iter().rev().find(|(_, i)| steps[*i].unit_price_minor == price).map(|(_, i)| i)
}

/// Every change published notices made to product `id`'s price, in the
/// gate's order (by date, then the later notice, then the later line),
/// each with the first business day it could hold; `state` is left to the
/// caller.
pub(crate) async fn published_prices(
    conn: &impl ConnectionTrait,
    id: Uuid,
    calendar: Calendar,
) -> Result<Vec<PublishedPriceView>, StoreError> {
    // The notice, its title and publication; the change's date and price.
    type Row = (Uuid, String, Option<DateTime<Utc>>, NaiveDate, i64);
    let rows: Vec<Row> = notice_changes::Entity::find()
        .select_only()
        .column(notices::Column::Id)
        .column(notices::Column::Title)
        .column(notices::Column::PublishedAt)
        .column(notice_changes::Column::EffectiveOn)
        .column(notice_changes::Column::UnitPriceMinor)
        .join(JoinType::InnerJoin, notice_changes::Relation::Notice.def())
        .filter(notice_changes::Column::ProductId.eq(id))
        .filter(notices::Column::State.eq(PUBLISHED))
        .order_by_asc(notice_changes::Column::EffectiveOn)
        .order_by_asc(notices::Column::Seq)
        .order_by_asc(notice_changes::Column::Position)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(notice_id, title, published_at, effective_on, unit_price_minor)| {
            let published_at = published_at?;
            Some(PublishedPriceView {
                notice_id,
                title,
                published_at,
                effective_on,
                in_force_from: calendar.takes_force_on(effective_on, published_at),
                unit_price_minor,
                state: PriceState::Earlier,
            })
        })
        .collect())
}

/// [`prices_in_force`] for the price list, where "since" is the first day
/// from which the price has been what it is now, day after day; none if it
/// has always been the list price (every change so far restated it).
///
/// On a day, the price was the one in force as people then knew it: the
/// last word (the latest date, then the later notice, then the later line)
/// among the changes dated by then and published by then (the business's
/// day, by `calendar`). So a change dated before its notice's publication
/// starts on the publication, and a later notice restating a price does
/// not move it.
async fn listed_prices(
    conn: &impl ConnectionTrait,
    ids: Option<&[Uuid]>,
    today: NaiveDate,
    calendar: Calendar,
) -> Result<HashMap<Uuid, InForce>, StoreError> {
    let mut prices = prices_in_force(conn, ids, today).await?;
    if prices.values().all(|f| f.since.is_none()) {
        return Ok(prices);
    }
    let mut history = notice_changes::Entity::find()
        .select_only()
        .column(notice_changes::Column::ProductId)
        .column(notice_changes::Column::EffectiveOn)
        .column(notice_changes::Column::UnitPriceMinor)
        .column(notices::Column::PublishedAt)
        .join(JoinType::InnerJoin, notice_changes::Relation::Notice.def())
        .filter(notices::Column::State.eq(PUBLISHED))
        .filter(notice_changes::Column::EffectiveOn.lte(today));
    if let Some(ids) = ids {
        history = history.filter(notice_changes::Column::ProductId.is_in(ids.iter().copied()));
    }
    let history = history
        .order_by_asc(notice_changes::Column::ProductId)
        .order_by_desc(notice_changes::Column::EffectiveOn)
        .order_by_desc(notices::Column::Seq)
        .order_by_desc(notice_changes::Column::Position)
        .into_tuple::<(Uuid, NaiveDate, i64, Option<DateTime<Utc>>)>()
        .all(conn)
        .await?;
    // Per product, its changes as (start, price), last word first.
    let mut by_product: HashMap<Uuid, Vec<(NaiveDate, i64)>> = HashMap::new();
    for (product, effective_on, price, published_at) in history {
        let start = published_at.map_or(effective_on, |at| calendar.takes_force_on(effective_on, at));
        by_product.entry(product).or_default().push((start, price));
    }
    for (product, changes) in by_product {
        let Some(in_force) = prices.get_mut(&product) else { continue };
        in_force.since = price_since(&changes, in_force.price, in_force.list_price);
    }
    Ok(prices)
}

/// The first day from which a product's price has been `price` every day
/// since, given its `changes` as (start, price), last word first; none if
/// it has been `price` since before any change and that is its `list_price`.
/// The price only moves on a change's start, so those are the days to look at.
fn price_since(changes: &[(NaiveDate, i64)], price: i64, list_price: i64) -> Option<NaiveDate> {
    let price_on = |day: NaiveDate| changes.iter().find(|(start, _)| *start <= day).map_or(list_price, |(_, p)| *p);
    let mut starts: Vec<NaiveDate> = changes.iter().map(|(start, _)| *start).collect();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    starts.dedup();
    let mut since = None;
    for start in starts {
        if price_on(start) != price {
            return since;
        }
        since = Some(start);
    }
    // The same price since the first change: since then, unless it was the
    // list price before that too.
    since.filter(|_| price != list_price)
}

/// A published price that takes force later: which product, at what price,
/// from when, and the notice that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcomingPrice {
    pub sku: String,
    pub unit_price_minor: i64,
    pub effective_on: NaiveDate,
    pub notice_id: Uuid,
    pub title: String,
}

impl Store {
    /// The published prices for `skus` that take force after `after` and by
    /// `until` (a quote's validity), by sku and date, one per date (the one
    /// in force, as the gate reads prices): what a quote drafted at today's
    /// prices meets if it is finalised later.
    pub async fn upcoming_prices(
        &self,
        skus: &[&str],
        after: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<UpcomingPrice>, StoreError> {
        if skus.is_empty() || until <= after {
            return Ok(Vec::new());
        }
        self.published_after(Some(skus), after, Some(until)).await
    }

    /// The prices published for a draft's products that take force after
    /// today and by its `valid_until`, one per product and date as in
    /// [`Store::upcoming_prices`], but those set by a notice in `pending` (the
    /// gate lists those, with what they do to the quote), each with the
    /// quote's unit price for the product and whether its signer has
    /// acknowledged the notice.
    pub async fn upcoming_for_quote(
        &self,
        quote: &QuoteView,
        pending: &HashSet<Uuid>,
    ) -> Result<Vec<UpcomingPriceView>, StoreError> {
        let mut skus: Vec<&str> = quote.lines.iter().map(|l| l.sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        let today = self.today().await?;
        let prices: Vec<UpcomingPrice> = self
            .upcoming_prices(&skus, today, quote.valid_until)
            .await?
            .into_iter()
            .filter(|p| !pending.contains(&p.notice_id))
            .collect();
        let notices: Vec<Uuid> = prices.iter().map(|p| p.notice_id).collect();
        let read = self.acknowledged_among(quote.signer_id, &notices).await?;
        Ok(prices
            .into_iter()
            .filter_map(|p| {
                let quoted = quote.lines.iter().find(|l| l.sku == p.sku)?.unit_price_minor;
                Some(UpcomingPriceView {
                    acknowledged_by_signer: read.contains(&p.notice_id),
                    quoted_unit_price_minor: quoted,
                    unit_price_minor: p.unit_price_minor,
                    effective_on: p.effective_on,
                    sku: p.sku,
                    notice_id: p.notice_id,
                    title: p.title,
                })
            })
            .collect())
    }

    /// Every published price that takes force after `after` (of `skus`
    /// only, when given), by sku and date, one per date as in
    /// [`Store::upcoming_prices`]: the prices to come, for the price list,
    /// the quote form and a product's page.
    pub async fn prices_to_come(
        &self,
        skus: Option<&[&str]>,
        after: NaiveDate,
    ) -> Result<Vec<UpcomingPrice>, StoreError> {
        if skus.is_some_and(<[&str]>::is_empty) {
            return Ok(Vec::new());
        }
        self.published_after(skus, after, None).await
    }

    async fn published_after(
        &self,
        skus: Option<&[&str]>,
        after: NaiveDate,
        until: Option<NaiveDate>,
    ) -> Result<Vec<UpcomingPrice>, StoreError> {
        // Only the columns used: a notice's body runs to thousands of
        // characters, and the price list and quote form read this each time.
        let mut query = notice_changes::Entity::find()
            .select_only()
            .column(notice_changes::Column::Sku)
            .column(notice_changes::Column::UnitPriceMinor)
            .column(notice_changes::Column::EffectiveOn)
            .column(notices::Column::Id)
            .column(notices::Column::Title)
            .inner_join(notices::Entity)
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notice_changes::Column::EffectiveOn.gt(after));
        if let Some(skus) = skus {
            query = query.filter(notice_changes::Column::Sku.is_in(skus.iter().map(|s| s.to_string())));
        }
        if let Some(until) = until {
            query = query.filter(notice_changes::Column::EffectiveOn.lte(until));
        }
        let rows = query
            .order_by_asc(notice_changes::Column::Sku)
            .order_by_asc(notice_changes::Column::EffectiveOn)
            .order_by_desc(notices::Column::Seq)
            .order_by_desc(notice_changes::Column::Position)
            .into_tuple::<(String, i64, NaiveDate, Uuid, String)>()
            .all(&self.db)
            .await?;
        // Of two prices for one product on one date, the one in force (the
        // later publication, then the later in its notice) comes first: keep it.
        let mut seen = HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|(sku, _, effective_on, ..)| seen.insert((sku.clone(), *effective_on)))
            .map(|(sku, unit_price_minor, effective_on, notice_id, title)| UpcomingPrice {
                sku,
                unit_price_minor,
                effective_on,
                notice_id,
                title,
            })
            .collect())
    }

    /// Of `skus`, those withdrawn from sale, each with when.
    pub async fn withdrawn_from_sale(&self, skus: &[&str]) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = products::Entity::find()
            .select_only()
            .columns([products::Column::Sku, products::Column::WithdrawnAt])
            .filter(products::Column::Sku.is_in(skus.iter().map(|s| s.to_string())))
            .filter(products::Column::WithdrawnAt.is_not_null())
            .into_tuple::<(String, Option<DateTime<Utc>>)>()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(sku, at)| Some((sku, at?))).collect())
    }

    /// Which of `skus` are on the price list exactly as written (a SKU
    /// differing only in case is not among them).
    pub async fn listed_exactly(&self, skus: &[&str]) -> Result<HashSet<String>, StoreError> {
        Ok(listed_as(&self.db, skus).await?.into_values().filter(|listed| skus.contains(&listed.as_str())).collect())
    }

    /// The product on the list whose SKU is `sku`, or differs from it only
    /// in case, if there is one: for a form to name a taken SKU together
    /// with its other refusals (creating checks again as it writes).
    pub async fn listed_sku(&self, sku: &str) -> Result<Option<String>, StoreError> {
        Ok(listed_as(&self.db, &[sku]).await?.into_values().next())
    }

    /// The product whose SKU is `typed`, or differs from it only in case:
    /// what finance types to find a product's history.
    pub async fn product_id_by_sku(&self, typed: &str) -> Result<Option<Uuid>, StoreError> {
        let Some(sku) = self.listed_sku(typed.trim()).await? else { return Ok(None) };
        Ok(products::Entity::find().filter(products::Column::Sku.eq(sku)).one(&self.db).await?.map(|p| p.id))
    }

    pub async fn create_product(&self, actor: &Actor, new: NewProduct) -> Result<ProductView, StoreError> {
        let txn = self.begin_write().await?;
        one_adder_at_a_time(&txn).await?;
        if let Some(listed) = listed_as(&txn, &[new.sku.as_str()]).await?.into_values().next() {
            return Err(StoreError::conflict("sku_taken", Sku::taken(new.sku.as_str(), &listed)));
        }
        let now = db_now(&txn).await?;
        let row = products::Entity::insert(active(&new, now))
            .exec_with_returning(&txn)
            .await
            .map_err(|e| StoreError::unique_as(e, "sku_taken", Sku::taken(new.sku.as_str(), new.sku.as_str())))?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "product.created",
                subject_type: "product",
                subject_id: Some(row.id),
                detail: json!({ "sku": row.sku, "unit_price_minor": row.unit_price_minor, "currency": row.currency }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(view(row, None))
    }

    /// A price list as [`read_products`] read it, ready to import: its rows,
    /// or every line it refuses in the order of the file. Where some lines
    /// cannot be read, the others are checked against the price list too,
    /// so the refusal names every problem at once.
    pub async fn products_to_import(
        &self,
        (rows, unread): (Vec<ProductRow>, Vec<RowError>),
    ) -> Result<Result<Vec<ProductRow>, Vec<CsvRowError>>, StoreError> {
        if unread.is_empty() {
            return Ok(all_or_nothing((rows, unread)).map_err(|errors| errors.into_iter().map(Into::into).collect()));
        }
        let mut errors: Vec<CsvRowError> = unread.into_iter().map(Into::into).collect();
        errors.extend(self.check_import(&rows).await?);
        errors.sort_by_key(|e| e.line);
        Ok(Err(errors))
    }

    /// What importing `rows` now would refuse: each line whose sku already
    /// exists (the import's preview; the import checks again as it writes).
    pub async fn check_import(&self, rows: &[ProductRow]) -> Result<Vec<CsvRowError>, StoreError> {
        taken_skus(&self.db, rows).await
    }

    /// Imports a whole price list in one transaction: every row, or none.
    /// A sku that already exists is reported against its line.
    pub async fn import_products(
        &self,
        actor: &Actor,
        rows: Vec<ProductRow>,
    ) -> Result<Result<Vec<ProductView>, Vec<CsvRowError>>, StoreError> {
        let txn = self.begin_write().await?;
        one_adder_at_a_time(&txn).await?;
        let errors = taken_skus(&txn, &rows).await?;
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let now = db_now(&txn).await?;
        let models: Vec<products::ActiveModel> = rows.into_iter().map(|r| active(&NewProduct::from(r), now)).collect();
        let mut created = Vec::with_capacity(models.len());
        for chunk in models.chunks(500) {
            created.extend(products::Entity::insert_many(chunk.to_vec()).exec_with_returning(&txn).await.map_err(
                |e| {
                    StoreError::unique_as(
                        e,
                        "sku_taken",
                        "A sku in the file was created by someone else meanwhile; import again.",
                    )
                },
            )?);
        }
        // Each product its own row too, as one added by the form has: the
        // audit log answers who added this product, and when, by its id.
        let each: Vec<AuditEntry> = created
            .iter()
            .map(|p| AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "product.created",
                subject_type: "product",
                subject_id: Some(p.id),
                detail: json!({ "sku": p.sku, "unit_price_minor": p.unit_price_minor, "currency": p.currency, "imported": true }),
            })
            .collect();
        crate::audit::record_many(&txn, &each).await?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "product.imported",
                subject_type: "product",
                subject_id: None,
                detail: json!({ "count": created.len(), "skus": created.iter().map(|p| p.sku.clone()).collect::<Vec<_>>() }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(Ok(created.into_iter().map(|p| view(p, None)).collect()))
    }

    /// Renames a product or changes its unit. The sku and the currency stay
    /// (quotes and notices refer to them), and so does the price.
    pub async fn update_product(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: ProductPatch,
    ) -> Result<ProductView, StoreError> {
        Ok(self.edit_product(actor, id, patch).await?.0)
    }

    /// [`Store::update_product`], saying also whether it changed anything:
    /// withdrawn twice at once, the second finds it withdrawn already.
    pub async fn edit_product(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: ProductPatch,
    ) -> Result<(ProductView, bool), StoreError> {
        let txn = self.begin_write().await?;
        if patch.unit.is_some() {
            // Before the product: a publication pricing it (which holds the
            // gate exclusively) commits before this reads whether any has, or
            // starts after this has committed the unit.
            crate::gate::lock_gate_shared(&txn).await?;
        }
        let product = products::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(StoreError::not_found("product"))?;
        if !crate::views::still_as_seen(patch.as_seen.as_deref(), product.updated_at) {
            return Err(StoreError::conflict(
                "product_changed",
                format!(
                    "{} changed after you opened it: your edit was made on an earlier version, so it is not saved.",
                    product.sku
                ),
            ));
        }
        let now = db_now(&txn).await?;
        if patch.unit.as_ref().is_some_and(|unit| unit.as_str() != product.unit) {
            // A price is a price per unit. Once a quote has carried the
            // product, or a notice has priced it, a new unit would change what
            // those prices mean (a draft repriced per piece where it said per
            // pallet, an announced price read per another unit) with no notice.
            let (quoted, priced) = uses_of(&txn, product.id).await?;
            if quoted || priced {
                let by = match (quoted, priced) {
                    (true, true) => "quoted and priced by a published notice",
                    (true, false) => "quoted",
                    _ => "priced by a published notice",
                };
                return Err(StoreError::conflict(
                    "unit_in_use",
                    format!(
                        "{} has been {by} with its unit \u{201c}{}\u{201d}: the unit is part of what those prices mean, so it cannot change. For another unit, add a product with its own SKU.",
                        product.sku, product.unit
                    ),
                ));
            }
        }
        let said =
            |p: &products::Model| json!({ "name": p.name, "unit": p.unit, "withdrawn": p.withdrawn_at.is_some() });
        let before = said(&product);
        let was_withdrawn = product.withdrawn_at.is_some();
        let mut model: products::ActiveModel = product.clone().into();
        if let Some(name) = patch.name {
            model.name.set_ne(name.into_inner());
        }
        if let Some(unit) = patch.unit {
            model.unit.set_ne(unit.into_inner());
        }
        match patch.withdrawn {
            // Withdrawn again, it stays withdrawn since the first time.
            Some(true) if !was_withdrawn => model.withdrawn_at = Set(Some(now)),
            Some(false) if was_withdrawn => model.withdrawn_at = Set(None),
            _ => {}
        }
        if !model.is_changed() {
            // Nothing to write: no new time, no audit entry.
            txn.rollback().await?;
            return Ok((self.get_product(product.id).await?, false));
        }
        model.updated_at = Set(now);
        let row = model.update(&txn).await?;
        let action = match (was_withdrawn, row.withdrawn_at.is_some()) {
            (false, true) => "product.withdrawn",
            (true, false) => "product.returned_to_sale",
            _ => "product.updated",
        };
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action,
                subject_type: "product",
                subject_id: Some(row.id),
                detail: json!({ "sku": row.sku, "before": before, "after": said(&row) }),
            },
        )
        .await?;
        let price = listed_prices(&txn, Some(&[row.id]), self.calendar.date_of(now), self.calendar)
            .await?
            .get(&row.id)
            .copied();
        txn.commit().await?;
        Ok((view(row, price), true))
    }

    pub async fn get_product(&self, id: Uuid) -> Result<ProductView, StoreError> {
        let row = products::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::not_found("product"))?;
        let today = self.today().await?;
        let price = listed_prices(&self.db, Some(&[row.id]), today, self.calendar).await?.get(&row.id).copied();
        Ok(view(row, price))
    }

    /// Product `id` with every price its published notices have set, for
    /// its price history: what it costs today, what it cost (or will) on
    /// `on` as people then knew it, and which notice said so.
    pub async fn price_history(&self, id: Uuid, on: Option<NaiveDate>) -> Result<PriceHistoryView, StoreError> {
        let product = products::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::not_found("product"))?;
        let list_price_minor = product.unit_price_minor;
        let added_on = self.calendar.date_of(product.created_at);
        let today = self.today().await?;
        let mut steps = published_prices(&self.db, id, self.calendar).await?;
        let now = last_word(&steps, today);
        let states: Vec<PriceState> = (0..steps.len())
            .map(|i| {
                if Some(i) == now {
                    PriceState::InForce
                } else if !ever_holds(&steps, i, self.calendar) {
                    PriceState::Replaced
                } else if steps[i].in_force_from > today {
                    PriceState::ToCome
                } else {
                    PriceState::Earlier
                }
            })
            .collect();
        let on = on.map(|day| {
            if day < added_on {
                return PriceOnView { day, unit_price_minor: None, notice_id: None, during_the_day: Vec::new() };
            }
            let price_of = |word: Option<usize>| word.map_or(list_price_minor, |i| steps[i].unit_price_minor);
            let during = words_of_the_day(&steps, day, self.calendar);
            let during_the_day = match during.as_slice() {
                [_] => Vec::new(),
                _ => during
                    .into_iter()
                    .map(|(from, word)| PriceFromView {
                        from,
                        unit_price_minor: price_of(word),
                        notice_id: word.map(|i| steps[i].notice_id),
                    })
                    .collect(),
            };
            let word = last_word(&steps, day);
            PriceOnView {
                day,
                unit_price_minor: Some(price_of(word)),
                notice_id: word.map(|i| steps[i].notice_id),
                during_the_day,
            }
        });
        for (step, state) in steps.iter_mut().zip(states) {
            step.state = state;
        }
        // Today's price and since when, from the same rows as the rest (the
        // price list reads them by the same rule, in SQL).
        let price = now.map_or(list_price_minor, |i| steps[i].unit_price_minor);
        steps.reverse();
        // Those that have held by today, last word first, as `price_since` reads them.
        let changes: Vec<(NaiveDate, i64)> =
            steps.iter().filter(|s| s.in_force_from <= today).map(|s| (s.in_force_from, s.unit_price_minor)).collect();
        let since = price_since(&changes, price, list_price_minor);
        let price = Some(InForce { price, list_price: list_price_minor, since });
        Ok(PriceHistoryView { product: view(product, price), list_price_minor, added_on, today, prices: steps, on })
    }

    /// A page of the price list, by sku: the products whose sku or name
    /// contains `text` (every product without it), after the sku `after`
    /// (the last of the page before), at most `limit`.
    pub async fn find_products(
        &self,
        text: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ProductView>, StoreError> {
        let mut query = products::Entity::find();
        if let Some(text) = text {
            query = query.filter(crate::db::containing(self.db.get_database_backend(), &["sku", "name"], text));
        }
        if let Some(after) = after {
            query = query.filter(products::Column::Sku.gt(after));
        }
        let rows = query.order_by_asc(products::Column::Sku).limit(limit).all(&self.db).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
        self.priced(rows, Some(&ids)).await
    }

    pub async fn list_products(&self) -> Result<Vec<ProductView>, StoreError> {
        let rows = products::Entity::find().order_by_asc(products::Column::Sku).all(&self.db).await?;
        self.priced(rows, None).await
    }

    /// `rows` with their prices today, read for the products `ids` (all of
    /// them without).
    async fn priced(&self, rows: Vec<products::Model>, ids: Option<&[Uuid]>) -> Result<Vec<ProductView>, StoreError> {
        let prices = listed_prices(&self.db, ids, self.today().await?, self.calendar).await?;
        Ok(rows
            .into_iter()
            .map(|p| {
                let price = prices.get(&p.id).copied();
                view(p, price)
            })
            .collect())
    }
}

fn view(p: products::Model, in_force: Option<InForce>) -> ProductView {
    ProductView {
        id: p.id,
        unit_price_minor: in_force.map_or(p.unit_price_minor, |f| f.price),
        price_since: in_force.and_then(|f| f.since),
        sku: p.sku,
        name: p.name,
        unit: p.unit,
        currency: p.currency,
        created_at: p.created_at,
        updated_at: p.updated_at,
        withdrawn_at: p.withdrawn_at,
    }
}

/// Puts transactions that add products one after another, so that the check
/// for a SKU already listed (in any case) holds until the new rows commit:
/// the unique index knows only the exact SKU. SQLite's writers are one at a
/// time already; on PostgreSQL, a lock on the table that lets readers in
/// and keeps other writers of products waiting (adding a product is rare).
async fn one_adder_at_a_time(txn: &DatabaseTransaction) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE").await?;
    }
    Ok(())
}

/// The products whose sku is one of `skus` but for case, by the lower-case
/// sku (SKUs match exactly, so a product that differs only in case from
/// one on the list would be taken for it).
async fn listed_as(conn: &impl ConnectionTrait, skus: &[&str]) -> Result<HashMap<String, String>, StoreError> {
    let folded: Vec<String> = skus.iter().map(|s| s.to_lowercase()).collect();
    let mut listed = HashMap::new();
    for chunk in folded.chunks(IN_LIST_CHUNK) {
        let found = products::Entity::find()
            .filter(Expr::expr(Func::lower(Expr::col(products::Column::Sku))).is_in(chunk.iter().cloned()))
            .select_only()
            .column(products::Column::Sku)
            .into_tuple::<String>()
            .all(conn)
            .await?;
        for sku in found {
            // Of twins already on the list, the one asked for exactly.
            let exact = skus.contains(&sku.as_str());
            match listed.entry(sku.to_lowercase()) {
                Entry::Vacant(slot) => {
                    slot.insert(sku);
                }
                Entry::Occupied(mut slot) if exact => {
                    slot.insert(sku);
                }
                Entry::Occupied(_) => {}
            }
        }
    }
    Ok(listed)
}

/// The lines of `rows` whose sku is already a product's, or differs from
/// one only in case.
async fn taken_skus(conn: &impl ConnectionTrait, rows: &[ProductRow]) -> Result<Vec<CsvRowError>, StoreError> {
    let skus: Vec<&str> = rows.iter().map(|r| r.sku.as_str()).collect();
    let listed = listed_as(conn, &skus).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let taken = listed.get(&r.sku.as_str().to_lowercase())?;
            Some(CsvRowError {
                line: r.line,
                field: Some("sku".into()),
                message: if taken == r.sku.as_str() {
                    format!("{} Its price changes only through a notice.", Sku::taken(taken, taken))
                } else {
                    Sku::taken(r.sku.as_str(), taken)
                },
            })
        })
        .collect())
}

/// Whether any quote, in any state, has a line of product `id`, and whether
/// any published notice prices it.
async fn uses_of(conn: &impl ConnectionTrait, id: Uuid) -> Result<(bool, bool), StoreError> {
    let quoted = quote_lines::Entity::find().filter(quote_lines::Column::ProductId.eq(id)).one(conn).await?.is_some();
    let priced = notice_changes::Entity::find()
        .join(JoinType::InnerJoin, notice_changes::Relation::Notice.def())
        .filter(notice_changes::Column::ProductId.eq(id))
        .filter(notices::Column::State.eq(PUBLISHED))
        .one(conn)
        .await?
        .is_some();
    Ok((quoted, priced))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use chrono::{DateTime, TimeZone, Utc};
    use pricegate_domain::Calendar;
    use uuid::Uuid;

    use super::{ever_holds, price_since, source_of_price, words_of_the_day};
    use crate::views::{PriceState, PublishedPriceView};

    /// A change dated November `effective`, published November `published` at `hour` UTC.
    fn step(n: u128, effective: u32, published: u32, hour: u32, price: i64) -> PublishedPriceView {
        let published_at = at(published, hour);
        PublishedPriceView {
            notice_id: Uuid::from_u128(n),
            title: format!("notice {n}"),
            published_at,
            effective_on: day(effective),
            in_force_from: Calendar::UTC.takes_force_on(day(effective), published_at),
            unit_price_minor: price,
            state: PriceState::Earlier,
        }
    }

    fn at(d: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, hour, 0, 0).single().expect("a time")
    }

    #[test]
    fn a_price_replaced_after_it_held_part_of_its_day_held_and_one_replaced_before_it_began_did_not() {
        let utc = Calendar::UTC;
        // In the gate's order. A: day 10, published on day 9 (from day 10's
        // start); B: day 10, published on day 10 at 10:00 (then the last word).
        let steps = [step(1, 10, 9, 18, 130), step(2, 10, 10, 10, 125)];
        assert!(ever_holds(&steps, 0, utc), "A held from midnight to 10:00");
        assert!(ever_holds(&steps, 1, utc));
        let words = words_of_the_day(&steps, day(10), utc);
        assert_eq!(words, vec![(None, Some(0)), (Some(at(10, 10)), Some(1))]);
        // C: day 20, published day 5; D: day 20, published day 6: D replaced
        // C before its day began.
        let steps = [step(3, 20, 5, 9, 140), step(4, 20, 6, 9, 150)];
        assert!(!ever_holds(&steps, 0, utc), "C never held");
        // A restatement published during the day changes no price, but
        // from then on it is the notice that set it.
        let steps = [step(5, 10, 10, 10, 100)];
        assert_eq!(words_of_the_day(&steps, day(10), utc), vec![(None, None), (Some(at(10, 10)), Some(0))]);
        // One published that day dated ahead is no word of that day.
        let steps = [step(6, 12, 10, 10, 100)];
        assert_eq!(words_of_the_day(&steps, day(10), utc), vec![(None, None)]);
    }

    #[test]
    fn a_price_signed_came_from_the_price_in_force_at_drafting_else_from_the_last_to_hold_it() {
        let utc = Calendar::UTC;
        // 100 (list), then 80 on day 3, 100 again on day 4, 130 on day 5.
        let steps = [step(1, 3, 3, 9, 80), step(2, 4, 4, 9, 100), step(3, 5, 5, 9, 130)];
        // Drafted on day 2 at the list price: the list's, not day 4's notice.
        assert_eq!(source_of_price(&steps, 100, 100, at(2, 12), at(6, 12), utc), None);
        // Drafted on day 4 after the notice: that notice's.
        assert_eq!(source_of_price(&steps, 100, 100, at(4, 12), at(6, 12), utc), Some(1));
        // Drafted on day 3 at 80, the line later given 100 by an edit: day 4's.
        assert_eq!(source_of_price(&steps, 100, 100, at(3, 12), at(6, 12), utc), Some(1));
        // A price dated ahead of the finalisation is nobody's source yet.
        let ahead = [step(1, 3, 3, 9, 80), step(2, 20, 4, 9, 100)];
        assert_eq!(source_of_price(&ahead, 100, 100, at(3, 12), at(6, 12), utc), None);
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("a day in November")
    }

    #[test]
    fn a_price_stands_since_the_first_day_it_has_been_what_it_is_now() {
        // Last word first: (start, price).
        assert_eq!(price_since(&[], 100, 100), None, "the list price");
        assert_eq!(price_since(&[(day(5), 120)], 120, 100), Some(day(5)));
        assert_eq!(price_since(&[(day(9), 120), (day(5), 120)], 120, 100), Some(day(5)), "restated");
        assert_eq!(price_since(&[(day(9), 100)], 100, 100), None, "the list price restated");
        assert_eq!(price_since(&[(day(9), 100), (day(5), 120)], 100, 100), Some(day(9)), "back to the list price");
        // Two notices on day 3: the earlier published on day 3 at 200, the
        // later (its last word) published on day 10 at 250, over 250 from day 1.
        let same_day = [(day(10), 250), (day(3), 200), (day(1), 250)];
        assert_eq!(price_since(&same_day, 250, 100), Some(day(10)));
        let same_price = [(day(10), 250), (day(3), 250), (day(1), 180)];
        assert_eq!(price_since(&same_price, 250, 100), Some(day(3)));
        // Dated day 2 and published day 8, under a change dated day 5 (the
        // last word, by its later date): whatever its price, it never took force.
        assert_eq!(price_since(&[(day(5), 300), (day(8), 300)], 300, 100), Some(day(5)));
        assert_eq!(price_since(&[(day(5), 300), (day(8), 280)], 300, 100), Some(day(5)));
    }
}
