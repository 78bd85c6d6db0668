//! Price notices: finance drafts them with their price changes, and
//! publishes them through the gate (see [`crate::gate`]); salespeople read
//! and acknowledge them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::{Calendar, Invalid, Role, Sku, Text, parse_unit_price};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::db::{IN_LIST_CHUNK, db_now};
use crate::entity::{acknowledgements, notice_changes, notices, products, quotes, users};
use crate::views::{NoticeView, PriceChangeView, ReplacedBy, still_as_seen};
use crate::{Actor, Store, StoreError};

pub const MAX_CHANGES: usize = 500;

/// A notice's state, as a list is narrowed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeState {
    Draft,
    Published,
}

/// Which notices to list: of one state (finance's choice; everyone else
/// sees published notices only), only those awaiting the reader's
/// acknowledgement, and of the published ones at most `limit`, published
/// before the one numbered `before` (its `seq`: a later page).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoticeFilter {
    pub state: Option<NoticeState>,
    pub awaiting: bool,
    pub limit: Option<u64>,
    pub before: Option<i64>,
    /// Read each notice's price changes too (a list of titles needs none).
    pub with_changes: bool,
    /// The oldest published first (the `limit` oldest), not the newest.
    pub oldest_first: bool,
    /// Only those published after the one numbered `after` (its `seq`).
    pub after: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewPriceChange {
    pub sku: Sku,
    pub unit_price_minor: i64,
    pub effective_on: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct NewNotice {
    /// The key its form was given when opened: the draft's id comes from it
    /// and its sender ([`crate::form_row_id`]), so the same form sent twice
    /// finds the draft saved (or saved and deleted since), and is refused
    /// with 409 [`NOTICE_DRAFTED_ALREADY`]: it is saved once. `None`: a new id.
    pub form_key: Option<Uuid>,
    pub title: Text,
    pub body: Text,
    pub changes: Vec<NewPriceChange>,
}

impl NewNotice {
    /// Whether `notice` is what this would save: its title, text and price
    /// changes as these say, in whatever order they were written (a notice
    /// lists its changes by product, then date).
    pub fn saved_as(&self, notice: &NoticeView) -> bool {
        let sorted = |mut changes: Vec<(String, i64, NaiveDate)>| {
            changes.sort_unstable();
            changes
        };
        let saved = notice.changes.iter().map(|c| (c.sku.clone(), c.unit_price_minor, c.effective_on));
        let new = self.changes.iter().map(|c| (c.sku.as_str().to_owned(), c.unit_price_minor, c.effective_on));
        notice.title == self.title.as_str()
            && notice.body == self.body.as_str()
            && sorted(saved.collect()) == sorted(new.collect())
    }
}

/// The code of a new notice's form sent again after it saved the draft ([`NewNotice::form_key`]).
pub const NOTICE_DRAFTED_ALREADY: &str = "notice_drafted_already";

fn drafted_already() -> StoreError {
    StoreError::conflict(NOTICE_DRAFTED_ALREADY, "This form saved its draft already: it was sent twice.")
}

/// Whether the draft `id` (a form's, [`crate::form_row_id`]) was saved
/// before: it is there, or its deletion is on record.
async fn saved_before(txn: &DatabaseTransaction, id: Uuid) -> Result<bool, StoreError> {
    if crate::db::form_row_made::<notices::Entity>(txn, id).await? {
        return Ok(true);
    }
    let deleted = crate::entity::audit_log::Entity::find()
        .filter(crate::entity::audit_log::Column::SubjectId.eq(id))
        .filter(crate::entity::audit_log::Column::Action.eq("notice.deleted"))
        .one(txn)
        .await?;
    Ok(deleted.is_some())
}

#[derive(Debug, Clone, Default)]
pub struct NoticePatch {
    pub title: Option<Text>,
    pub body: Option<Text>,
    pub changes: Option<Vec<NewPriceChange>>,
    /// The draft's revisions ([`NoticeView::revision`]) the edit was made
    /// on (a form's one, an `If-Match` list), when the caller says: a draft
    /// changed since (another tab) is refused with 409 `notice_changed`,
    /// not overwritten.
    pub as_seen: Option<Vec<i64>>,
}

mod acknowledge;
mod force;
mod record;

pub use acknowledge::{AckCount, AwaitingNotice, Channel, ClientInfo, WaitingQuote};
pub(crate) use acknowledge::{Chased, acknowledge_one_in, pending_sales, refused_acknowledgement};
pub(crate) use force::check_changes_can_take_force;
pub(crate) use record::change_currencies;
pub use record::{PublishedChange, PublishedContent};

pub(crate) const PUBLISHED: &str = "published";
const DRAFT: &str = "draft";

async fn write_changes(
    txn: &DatabaseTransaction,
    notice_id: Uuid,
    changes: &[NewPriceChange],
) -> Result<(), StoreError> {
    if changes.len() > MAX_CHANGES {
        return Err(Invalid::new("changes", format!("A notice may carry at most {MAX_CHANGES} price changes.")).into());
    }
    notice_changes::Entity::delete_many().filter(notice_changes::Column::NoticeId.eq(notice_id)).exec(txn).await?;
    if changes.is_empty() {
        return Ok(());
    }
    let skus: Vec<String> = changes.iter().map(|c| c.sku.as_str().to_owned()).collect();
    let found: HashMap<String, Uuid> = products::Entity::find()
        .filter(products::Column::Sku.is_in(skus))
        .all(txn)
        .await?
        .into_iter()
        .map(|p| (p.sku, p.id))
        .collect();
    let mut rows = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        // Every caller has checked it; a price beyond it would make totals overflow.
        parse_unit_price(&format!("changes[{i}].unit_price_minor"), change.unit_price_minor)?;
        // Two prices for one product on one day: which one holds would be
        // decided by position, which nobody reading the notice sees.
        if let Some(first) =
            changes[..i].iter().position(|c| c.sku == change.sku && c.effective_on == change.effective_on)
        {
            return Err(Invalid::new(
                format!("changes[{i}].sku"),
                format!(
                    "changes[{first}] already changes {} from {}: a notice gives one price per product and date.",
                    change.sku, change.effective_on
                ),
            )
            .with_code("duplicate_change")
            .into());
        }
        let Some(&product_id) = found.get(change.sku.as_str()) else {
            let field = format!("changes[{i}].sku");
            return Err(crate::products::unknown_sku(txn, &field, change.sku.as_str()).await?.into());
        };
        rows.push(notice_changes::ActiveModel {
            id: Set(Uuid::new_v4()),
            notice_id: Set(notice_id),
            position: Set(i as i32),
            product_id: Set(product_id),
            sku: Set(change.sku.as_str().to_owned()),
            unit_price_minor: Set(change.unit_price_minor),
            effective_on: Set(change.effective_on),
            product_name: Set(None),
        });
    }
    notice_changes::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}

/// Writes into each change of notice `id` the name its product has now:
/// at publication, so that the notice keeps naming its products as it did.
pub(crate) async fn keep_product_names(txn: &DatabaseTransaction, id: Uuid) -> Result<(), StoreError> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let name = Query::select()
        .column((products::Entity, products::Column::Name))
        .from(products::Entity)
        .and_where(
            Expr::col((products::Entity, products::Column::Id))
                .equals((notice_changes::Entity, notice_changes::Column::ProductId)),
        )
        .to_owned();
    notice_changes::Entity::update_many()
        .col_expr(notice_changes::Column::ProductName, Expr::SubQuery(None, Box::new(name.into())))
        .filter(notice_changes::Column::NoticeId.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Whether `changes` are those draft `id` has, in the same order.
async fn same_changes(txn: &DatabaseTransaction, id: Uuid, changes: &[NewPriceChange]) -> Result<bool, StoreError> {
    let has = notice_changes::Entity::find()
        .filter(notice_changes::Column::NoticeId.eq(id))
        .order_by_asc(notice_changes::Column::Position)
        .all(txn)
        .await?;
    Ok(has.len() == changes.len()
        && has.iter().zip(changes).all(|(had, new)| {
            (had.sku.as_str(), had.unit_price_minor, had.effective_on)
                == (new.sku.as_str(), new.unit_price_minor, new.effective_on)
        }))
}

/// Draft `id`, locked for the rest of `txn`; a published notice is 409
/// `notice_published`, "This notice is published and {why}; …".
async fn locked_draft(txn: &DatabaseTransaction, id: Uuid, why: &str) -> Result<notices::Model, StoreError> {
    let notice =
        notices::Entity::find_by_id(id).lock_exclusive().one(txn).await?.ok_or(StoreError::not_found("notice"))?;
    if notice.state != DRAFT {
        return Err(StoreError::conflict(
            "notice_published",
            format!("This notice is published and {why}; publish a new notice to correct it."),
        ));
    }
    Ok(notice)
}

/// The changes of each notice, with the product's name and currency.
pub(crate) async fn load_changes(
    conn: &impl ConnectionTrait,
    notice_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<PriceChangeView>>, StoreError> {
    load_changes_of(conn, notice_ids, None).await
}

/// [`load_changes`], only those of the products of `skus` when given (a
/// quote's: a notice of 500 changes prices a few of its lines at most).
pub(crate) async fn load_changes_of(
    conn: &impl ConnectionTrait,
    notice_ids: &[Uuid],
    skus: Option<&[&str]>,
) -> Result<HashMap<Uuid, Vec<PriceChangeView>>, StoreError> {
    if notice_ids.is_empty() || skus.is_some_and(<[&str]>::is_empty) {
        return Ok(HashMap::new());
    }
    // In chunks, as a database takes only so many bound values in a statement
    // (SQLite 32,766): a few hundred notices of 500 changes each exceed it.
    let mut rows = Vec::new();
    for chunk in notice_ids.chunks(IN_LIST_CHUNK) {
        let mut query =
            notice_changes::Entity::find().filter(notice_changes::Column::NoticeId.is_in(chunk.iter().copied()));
        if let Some(skus) = skus {
            query = query.filter(notice_changes::Column::Sku.is_in(skus.iter().copied()));
        }
        rows.extend(query.order_by_asc(notice_changes::Column::Position).all(conn).await?);
    }
    let product_ids: Vec<Uuid> = rows.iter().map(|r| r.product_id).collect::<HashSet<_>>().into_iter().collect();
    let mut products: HashMap<Uuid, products::Model> = HashMap::with_capacity(product_ids.len());
    for chunk in product_ids.chunks(IN_LIST_CHUNK) {
        let found =
            products::Entity::find().filter(products::Column::Id.is_in(chunk.iter().copied())).all(conn).await?;
        products.extend(found.into_iter().map(|p| (p.id, p)));
    }
    let mut by_notice: HashMap<Uuid, Vec<PriceChangeView>> = HashMap::new();
    for row in rows {
        let product = products.get(&row.product_id);
        by_notice.entry(row.notice_id).or_default().push(PriceChangeView {
            sku: row.sku,
            // A published notice names its products as it was published.
            product_name: row.product_name.or_else(|| product.map(|p| p.name.clone())).unwrap_or_default(),
            currency: product.map(|p| p.currency.clone()).unwrap_or_default(),
            unit_price_minor: row.unit_price_minor,
            effective_on: row.effective_on,
            in_force_from: None,
            price_before_minor: None,
            replaced_by: None,
        });
    }
    by_notice.values_mut().for_each(|changes| by_product_then_date(changes));
    Ok(by_notice)
}

/// One notice's changes as a person reads them, each with the price it
/// moves the product from: the price in force on its date before this
/// notice, as the gate reads prices (the published change in force then,
/// the latest by date, then by publication, else the list price), so a
/// change published earlier for the same date is what it replaces. A
/// published notice's is read as of its publication (from notices up to
/// its own, which counts too), so its page says what its e-mails said; a
/// draft's as if it were published now, its own earlier price for a
/// product counting for its later one.
pub(crate) async fn changes_to_read(
    conn: &impl ConnectionTrait,
    notice: &notices::Model,
    calendar: Calendar,
) -> Result<Vec<PriceChangeView>, StoreError> {
    let mut changes = load_changes(conn, &[notice.id]).await?.remove(&notice.id).unwrap_or_default();
    fill_prices_before(conn, &mut changes, AsOf::of(&notice.state, notice.seq), calendar).await?;
    Ok(changes)
}

/// Which publications [`fill_prices_before`] counts.
#[derive(Clone, Copy)]
enum AsOf {
    /// Every one so far, and the changes themselves as published after them.
    Now,
    /// Those up to this `seq`, the changes' own notice's.
    Published(i64),
}

impl AsOf {
    /// For a notice in `state` with `seq`.
    fn of(state: &str, seq: Option<i64>) -> AsOf {
        match (state, seq) {
            (PUBLISHED, Some(seq)) => AsOf::Published(seq),
            _ => AsOf::Now,
        }
    }

    /// The `seq` of the publication it reads as of; `None` for a draft's.
    fn seq(self) -> Option<i64> {
        match self {
            AsOf::Published(seq) => Some(seq),
            AsOf::Now => None,
        }
    }
}

/// Sets each change's `price_before_minor`: see [`changes_to_read`].
async fn fill_prices_before(
    conn: &impl ConnectionTrait,
    changes: &mut [PriceChangeView],
    as_of: AsOf,
    calendar: Calendar,
) -> Result<(), StoreError> {
    fill_prices_before_each(conn, &mut [(changes, as_of)], calendar).await
}

/// [`fill_prices_before`] for the changes of several notices at once, each
/// as of its own publication: the products and their published prices are
/// read once for all of them, not once a notice.
async fn fill_prices_before_each(
    conn: &impl ConnectionTrait,
    notices: &mut [(&mut [PriceChangeView], AsOf)],
    calendar: Calendar,
) -> Result<(), StoreError> {
    let all = || notices.iter().flat_map(|(changes, _)| changes.iter());
    let Some(latest) = all().map(|c| c.effective_on).max() else { return Ok(()) };
    let skus: Vec<String> = all().map(|c| c.sku.clone()).collect::<HashSet<_>>().into_iter().collect();
    // Publications up to the latest notice's (every one, for a draft's).
    let up_to: Option<i64> =
        notices.iter().map(|(_, as_of)| as_of.seq()).try_fold(i64::MIN, |most, seq| seq.map(|seq| most.max(seq)));
    let mut list_prices: HashMap<String, i64> = HashMap::with_capacity(skus.len());
    // Each product's published prices on or before the latest date, as (date, seq, position, price).
    let mut published: HashMap<String, Vec<(NaiveDate, i64, i32, i64)>> = HashMap::new();
    for chunk in skus.chunks(IN_LIST_CHUNK) {
        let found =
            products::Entity::find().filter(products::Column::Sku.is_in(chunk.iter().cloned())).all(conn).await?;
        let skus_by_id: HashMap<Uuid, String> = found.iter().map(|p| (p.id, p.sku.clone())).collect();
        list_prices.extend(found.into_iter().map(|p| (p.sku, p.unit_price_minor)));
        // By product and date, as the gate's index reads them; only the columns used.
        let mut query = notice_changes::Entity::find()
            .select_only()
            .column(notice_changes::Column::ProductId)
            .column(notice_changes::Column::EffectiveOn)
            .column(notice_changes::Column::Position)
            .column(notice_changes::Column::UnitPriceMinor)
            .column(notices::Column::Seq)
            .inner_join(notices::Entity)
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notice_changes::Column::ProductId.is_in(skus_by_id.keys().copied()))
            .filter(notice_changes::Column::EffectiveOn.lte(latest));
        if let Some(seq) = up_to {
            query = query.filter(notices::Column::Seq.lte(seq));
        }
        let rows = query.into_tuple::<(Uuid, NaiveDate, i32, i64, Option<i64>)>().all(conn).await?;
        for (product, on, position, price, seq) in rows {
            if let Some(sku) = skus_by_id.get(&product) {
                published.entry(sku.clone()).or_default().push((on, seq.unwrap_or_default(), position, price));
            }
        }
    }
    for (changes, as_of) in notices.iter_mut() {
        let own: Vec<(String, NaiveDate, i64)> = match as_of {
            AsOf::Now => changes.iter().map(|c| (c.sku.clone(), c.effective_on, c.unit_price_minor)).collect(),
            AsOf::Published(_) => Vec::new(),
        };
        // This notice's place among publications: only those up to it count,
        // and on its own date only those before it (a draft would come
        // after every one published).
        let own_seq = as_of.seq().unwrap_or(i64::MAX);
        for change in changes.iter_mut() {
            let earlier_own =
                own.iter().filter(|(sku, ..)| *sku == change.sku).map(|(_, on, price)| (*on, i64::MAX, 0, *price));
            let steps =
                published.get(&change.sku).into_iter().flatten().copied().filter(|(_, seq, ..)| *seq <= own_seq);
            let in_force = steps
                .chain(earlier_own)
                .filter(|(on, seq, ..)| *on < change.effective_on || (*on == change.effective_on && *seq < own_seq))
                .max_by_key(|(on, seq, position, _)| (*on, *seq, *position))
                .map(|(.., price)| price);
            change.price_before_minor = in_force.or_else(|| list_prices.get(&change.sku).copied());
        }
    }
    fill_replaced_by(conn, notices, &skus, latest, calendar).await
}

/// A published price: its notice's `seq`, its place in that notice, the
/// price, the notice's title and when it was published.
type Published = (i64, i32, i64, String, Option<DateTime<Utc>>);

/// Sets `replaced_by` of each change of the published notices among
/// `notices` that a notice published since prices again for the same
/// product and day: that one's price is the one in force from then, as the
/// gate reads prices, and this one is not, or no longer (`skus` are all
/// the changes' products, dated `latest` at the latest).
async fn fill_replaced_by(
    conn: &impl ConnectionTrait,
    notices: &mut [(&mut [PriceChangeView], AsOf)],
    skus: &[String],
    latest: NaiveDate,
    calendar: Calendar,
) -> Result<(), StoreError> {
    let Some(earliest) = notices.iter().filter_map(|(_, as_of)| as_of.seq()).min() else { return Ok(()) };
    // Each product and day's prices published after the earliest of them.
    let mut later: HashMap<(String, NaiveDate), Vec<Published>> = HashMap::new();
    for chunk in skus.chunks(IN_LIST_CHUNK) {
        let rows = notice_changes::Entity::find()
            .select_only()
            .column(notice_changes::Column::Sku)
            .column(notice_changes::Column::EffectiveOn)
            .column(notice_changes::Column::Position)
            .column(notice_changes::Column::UnitPriceMinor)
            .column(notices::Column::Seq)
            .column(notices::Column::Title)
            .column(notices::Column::PublishedAt)
            .inner_join(notices::Entity)
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notices::Column::Seq.gt(earliest))
            .filter(notice_changes::Column::Sku.is_in(chunk.iter().cloned()))
            .filter(notice_changes::Column::EffectiveOn.lte(latest))
            .into_tuple::<(String, NaiveDate, i32, i64, Option<i64>, String, Option<DateTime<Utc>>)>()
            .all(conn)
            .await?;
        for (sku, on, position, price, seq, title, published_at) in rows {
            later.entry((sku, on)).or_default().push((seq.unwrap_or_default(), position, price, title, published_at));
        }
    }
    for (changes, as_of) in notices.iter_mut() {
        let Some(own_seq) = as_of.seq() else { continue };
        for change in changes.iter_mut() {
            let key = (change.sku.clone(), change.effective_on);
            let since = || later.get(&key).into_iter().flatten().filter(|(seq, ..)| *seq > own_seq);
            let last = since().max_by_key(|(seq, position, ..)| (*seq, *position));
            // The first published since ended this price: it had taken force
            // if that came after its day began (it took force then, or on its
            // own publication if later, which was before that one's).
            let first = since().min_by_key(|(seq, position, ..)| (*seq, *position));
            let day_began = calendar.start_of(change.effective_on);
            let was_in_force = first.is_some_and(|(.., at)| at.is_some_and(|at| at > day_began));
            change.replaced_by = last.map(|(seq, _, price, title, _)| ReplacedBy {
                title: title.clone(),
                unit_price_minor: *price,
                was_in_force,
                ended_by: first
                    .filter(|(first_seq, ..)| was_in_force && first_seq != seq)
                    .map(|(_, _, _, title, _)| title.clone()),
            });
        }
    }
    Ok(())
}

/// A notice's changes as people read them: the products in the order
/// finance listed them, each product's prices by date.
fn by_product_then_date(changes: &mut [PriceChangeView]) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        first.entry(change.sku.clone()).or_insert(i);
    }
    changes.sort_by_key(|c| (first.get(&c.sku).copied(), c.effective_on));
}

/// Finance sees drafts; everyone else sees only what has been published.
fn visible_to(actor: &Actor, notice: &notices::Model) -> bool {
    visible_in_state(actor, &notice.state)
}

/// [`visible_to`], of a notice in `state`.
fn visible_in_state(actor: &Actor, state: &str) -> bool {
    state == PUBLISHED || actor.role == Role::Finance
}

impl Store {
    /// Those of the notices `ids` that `actor` may read: a deleted draft is
    /// none, and a draft is finance's (the audit log links only these).
    pub async fn readable_notices(&self, actor: &Actor, ids: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        let mut readable = HashSet::new();
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            // Only the columns used: a notice's body runs to thousands of characters.
            let found = notices::Entity::find()
                .select_only()
                .columns([notices::Column::Id, notices::Column::State])
                .filter(notices::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple::<(Uuid, String)>()
                .all(&self.db)
                .await?;
            readable.extend(found.into_iter().filter(|(_, state)| visible_in_state(actor, state)).map(|(id, _)| id));
        }
        Ok(readable)
    }

    pub async fn create_notice(&self, actor: &Actor, new: NewNotice) -> Result<NoticeView, StoreError> {
        let txn = self.begin_write().await?;
        let id = crate::db::form_row_id(actor.id, new.form_key);
        if new.form_key.is_some() && saved_before(&txn, id).await? {
            return Err(drafted_already());
        }
        let now = db_now(&txn).await?;
        let notice = notices::ActiveModel {
            id: Set(id),
            title: Set(new.title.into_inner()),
            body: Set(new.body.into_inner()),
            state: Set(DRAFT.into()),
            seq: Set(None),
            published_at: Set(None),
            published_by: Set(None),
            created_by: Set(actor.id),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        // The same form sent twice at once: the second finds the id taken.
        .map_err(|e| match StoreError::unique_as(e, NOTICE_DRAFTED_ALREADY, "") {
            StoreError::Conflict { .. } => drafted_already(),
            other => other,
        })?;
        write_changes(&txn, notice.id, &new.changes).await?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "notice.drafted",
                subject_type: "notice",
                subject_id: Some(notice.id),
                detail: json!({ "title": notice.title, "changes": new.changes.len() }),
            },
        )
        .await?;
        let view = self.notice_view(&txn, actor, notice).await?;
        txn.commit().await?;
        Ok(view)
    }

    /// Edits a draft. A published notice is immutable: a correction is a new notice.
    pub async fn update_notice(&self, actor: &Actor, id: Uuid, patch: NoticePatch) -> Result<NoticeView, StoreError> {
        let txn = self.begin_write().await?;
        let notice = locked_draft(&txn, id, "can no longer change").await?;
        if !still_as_seen(patch.as_seen.as_deref(), notice.updated_at) {
            return Err(StoreError::conflict(
                "notice_changed",
                "The draft changed after you opened it: your edit was made on an earlier version, so it is not saved.",
            ));
        }
        let now = db_now(&txn).await?;
        // Only what differs is written, so that an edit that changes
        // nothing writes nothing: its revision stays, and a confirmation
        // open elsewhere is still the draft.
        let mut model: notices::ActiveModel = notice.clone().into();
        if let Some(title) = patch.title {
            model.title.set_ne(title.into_inner());
        }
        if let Some(body) = patch.body {
            model.body.set_ne(body.into_inner());
        }
        let changes = match patch.changes {
            Some(changes) if !same_changes(&txn, id, &changes).await? => Some(changes),
            _ => None,
        };
        if !model.is_changed() && changes.is_none() {
            return self.notice_view(&txn, actor, notice).await;
        }
        // What the edit changed, in words, for the audit log.
        let parts: Vec<&str> =
            [(model.title.is_set(), "title"), (model.body.is_set(), "text"), (changes.is_some(), "price changes")]
                .into_iter()
                .filter_map(|(changed, part)| changed.then_some(part))
                .collect();
        let edited = match parts.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        model.updated_at = Set(now);
        let notice = model.update(&txn).await?;
        if let Some(changes) = &changes {
            write_changes(&txn, id, changes).await?;
        }
        let detail = match &changes {
            Some(changes) => json!({ "title": notice.title, "edited": edited, "changes": changes.len() }),
            None => json!({ "title": notice.title, "edited": edited }),
        };
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "notice.edited",
                subject_type: "notice",
                subject_id: Some(id),
                detail,
            },
        )
        .await?;
        let view = self.notice_view(&txn, actor, notice).await?;
        txn.commit().await?;
        Ok(view)
    }

    /// Deletes a draft nobody but finance has seen, with its price changes. A
    /// published notice stays on record (409 `notice_published`): it gated
    /// quotes, and acknowledgements and evidence name it. `as_seen`, when
    /// given, holds the revisions the caller read (`If-Match`): a draft
    /// changed since is not deleted (409 `notice_changed`).
    pub async fn delete_draft_notice(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: Option<&[i64]>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let notice = locked_draft(&txn, id, "stays on record").await?;
        if !still_as_seen(as_seen, notice.updated_at) {
            return Err(StoreError::conflict(
                "notice_changed",
                "The draft changed after you read it: it is not deleted. Read it again, then delete it.",
            ));
        }
        let now = db_now(&txn).await?;
        notice_changes::Entity::delete_many().filter(notice_changes::Column::NoticeId.eq(id)).exec(&txn).await?;
        notices::Entity::delete_by_id(id).exec(&txn).await?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "notice.deleted",
                subject_type: "notice",
                subject_id: Some(id),
                detail: json!({ "title": notice.title }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Why publishing draft `id` now would be refused because one of its
    /// changes could never take force (409 `change_never_in_force`'s
    /// sentence), for a confirmation page to say before the click; `None`
    /// when nothing stands in the way today. Publishing checks again under
    /// the gate's lock: a notice published meanwhile may still refuse it.
    pub async fn why_publishing_would_be_refused(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        let today = self.today().await?;
        match check_changes_can_take_force(&self.db, id, &self.calendar, today).await {
            Ok(()) => Ok(None),
            Err(StoreError::Conflict { code: "change_never_in_force", message }) => Ok(Some(message)),
            Err(e) => Err(e),
        }
    }

    pub async fn get_notice(&self, actor: &Actor, id: Uuid) -> Result<NoticeView, StoreError> {
        let notice = notices::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|n| visible_to(actor, n))
            .ok_or(StoreError::not_found("notice"))?;
        self.notice_view(&self.db, actor, notice).await
    }

    /// Published notices, newest first (finance also sees drafts, first of
    /// all), as `filter` narrows them. `limit` and `before` page the
    /// published notices; drafts have no place in publication order and are
    /// all listed, on the first page only.
    pub async fn list_notices(&self, actor: &Actor, filter: NoticeFilter) -> Result<Vec<NoticeView>, StoreError> {
        let finance = actor.role == Role::Finance;
        let drafts = finance
            && filter.state != Some(NoticeState::Published)
            && filter.before.is_none()
            && filter.after.is_none()
            && !filter.awaiting;
        let published = filter.state != Some(NoticeState::Draft);
        let mut rows = Vec::new();
        if drafts {
            let query = notices::Entity::find().filter(notices::Column::State.eq(DRAFT));
            rows = query.order_by_desc(notices::Column::CreatedAt).all(&self.db).await?;
        }
        let asked = Asked::of(&self.db, actor).await?;
        if published {
            let mut query = notices::Entity::find().filter(notices::Column::State.eq(PUBLISHED));
            if let Some(before) = filter.before {
                query = query.filter(notices::Column::Seq.lt(before));
            }
            if let Some(after) = filter.after {
                query = query.filter(notices::Column::Seq.gt(after));
            }
            if filter.awaiting {
                query = query.filter(asked.unacknowledged_by(actor.id));
            }
            if let Some(limit) = filter.limit {
                query = query.limit(limit);
            }
            let query = match filter.oldest_first {
                true => query.order_by_asc(notices::Column::Seq),
                false => query.order_by_desc(notices::Column::Seq),
            };
            rows.extend(query.all(&self.db).await?);
        }
        let ids: Vec<Uuid> = rows.iter().map(|n| n.id).collect();
        let mut changes = match filter.with_changes {
            true => load_changes(&self.db, &ids).await?,
            false => HashMap::new(),
        };
        let acks = acknowledge::acknowledgements_of(&self.db, actor.id, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|n| {
                let changes = changes.remove(&n.id).unwrap_or_default();
                let ack = acks.get(&n.id);
                to_view(n, changes, ack, &asked, self.calendar)
            })
            .collect())
    }

    /// The price each of a draft's changes, not yet saved (a preview),
    /// moves its product from: see [`changes_to_read`].
    pub async fn prices_before(&self, changes: &mut [PriceChangeView]) -> Result<(), StoreError> {
        fill_prices_before(&self.db, changes, AsOf::Now, self.calendar).await
    }

    /// The notices awaiting `actor`'s acknowledgement, oldest first, at most
    /// `at_most` of them, each as [`Store::read_notice`] reads it; and how
    /// many await in all (as many as it returns, unless there are more).
    pub async fn notices_to_read(&self, actor: &Actor, at_most: u64) -> Result<(Vec<NoticeView>, u64), StoreError> {
        let filter = NoticeFilter {
            awaiting: true,
            limit: Some(at_most.saturating_add(1)),
            with_changes: true,
            oldest_first: true,
            ..Default::default()
        };
        let mut notices = self.list_notices(actor, filter).await?;
        let more = notices.len() as u64 > at_most;
        notices.truncate(usize::try_from(at_most).unwrap_or(usize::MAX));
        let mut each: Vec<(&mut [PriceChangeView], AsOf)> =
            notices.iter_mut().map(|n| (n.changes.as_mut_slice(), AsOf::of(&n.state, n.seq))).collect();
        fill_prices_before_each(&self.db, &mut each, self.calendar).await?;
        // Counted apart, so perhaps as another acknowledgement or publication
        // left it: more than shown, when there are more, and else as many.
        let total = match more {
            true => self.notices_awaiting(actor, 0).await?.1.max(at_most.saturating_add(1)),
            false => notices.len() as u64,
        };
        Ok((notices, total))
    }

    /// [`Store::get_notice`] for a person to read: each change with the
    /// price it moves the product from (see [`changes_to_read`]), which the
    /// API's answers leave out.
    pub async fn read_notice(&self, actor: &Actor, id: Uuid) -> Result<NoticeView, StoreError> {
        let mut view = self.get_notice(actor, id).await?;
        fill_prices_before(&self.db, &mut view.changes, AsOf::of(&view.state, view.seq), self.calendar).await?;
        Ok(view)
    }

    async fn notice_view(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        notice: notices::Model,
    ) -> Result<NoticeView, StoreError> {
        let changes = load_changes(conn, &[notice.id]).await?.remove(&notice.id).unwrap_or_default();
        let ack = acknowledgements::Entity::find()
            .filter(acknowledgements::Column::NoticeId.eq(notice.id))
            .filter(acknowledgements::Column::UserId.eq(actor.id))
            .one(conn)
            .await?;
        Ok(to_view(notice, changes, ack.as_ref(), &Asked::of(conn, actor).await?, self.calendar))
    }
}

/// Which published notices ask someone for an acknowledgement: every one
/// published since a salesperson joined, and an earlier one only while it
/// holds up a draft they sign (one handed to them). The rule of the
/// pending list (see [`Store::list_acknowledgements`]), for one person.
pub(super) struct Asked {
    /// When the salesperson joined; `None` for anyone else.
    joined: Option<DateTime<Utc>>,
    /// When the oldest draft they sign was drafted.
    oldest_draft: Option<DateTime<Utc>>,
}

impl Asked {
    pub(super) async fn of(conn: &impl ConnectionTrait, actor: &Actor) -> Result<Asked, StoreError> {
        if actor.role != Role::Sales {
            return Ok(Asked { joined: None, oldest_draft: None });
        }
        let joined = users::Entity::find_by_id(actor.id)
            .select_only()
            .column(users::Column::CreatedAt)
            .into_tuple::<DateTime<Utc>>()
            .one(conn)
            .await?;
        let oldest_draft = quotes::Entity::find()
            .select_only()
            .column(quotes::Column::DraftedAt)
            .filter(quotes::Column::SignerId.eq(actor.id))
            .filter(quotes::Column::State.eq(crate::quotes::DRAFT))
            .order_by_asc(quotes::Column::DraftedAt)
            .into_tuple::<DateTime<Utc>>()
            .one(conn)
            .await?;
        Ok(Asked { joined, oldest_draft })
    }

    /// [`Asked::asks`] as a condition on `notices`, for a query to filter by.
    pub(super) fn condition(&self) -> Condition {
        let Some(joined) = self.joined else { return Condition::all().add(sea_orm::sea_query::Expr::value(false)) };
        let mut asks = Condition::any().add(notices::Column::PublishedAt.gte(joined));
        if let Some(drafted) = self.oldest_draft {
            asks = asks.add(notices::Column::PublishedAt.gt(drafted));
        }
        asks
    }

    /// The published notices this asks of `reader`, which they have not
    /// acknowledged: those awaiting their acknowledgement.
    pub(super) fn unacknowledged_by(&self, reader: Uuid) -> Condition {
        let acknowledged = Query::select()
            .column(acknowledgements::Column::NoticeId)
            .from(acknowledgements::Entity)
            .and_where(acknowledgements::Column::UserId.eq(reader))
            .to_owned();
        Condition::all()
            .add(notices::Column::State.eq(PUBLISHED))
            .add(self.condition())
            .add(notices::Column::Id.not_in_subquery(acknowledged))
    }

    pub(super) fn asks(&self, published_at: Option<DateTime<Utc>>) -> bool {
        let Some(published_at) = published_at else { return false };
        self.joined.is_some_and(|joined| joined <= published_at)
            || (self.joined.is_some() && self.oldest_draft.is_some_and(|drafted| drafted < published_at))
    }
}

fn to_view(
    n: notices::Model,
    mut changes: Vec<PriceChangeView>,
    ack: Option<&acknowledgements::Model>,
    asked: &Asked,
    calendar: Calendar,
) -> NoticeView {
    if let Some(published_at) = n.published_at {
        for change in &mut changes {
            change.in_force_from = Some(calendar.takes_force_on(change.effective_on, published_at));
        }
    }
    NoticeView {
        awaiting_my_acknowledgement: ack.is_none() && asked.asks(n.published_at),
        id: n.id,
        title: n.title,
        body: n.body,
        state: n.state,
        seq: n.seq,
        published_at: n.published_at,
        created_by: n.created_by,
        published_by: n.published_by,
        created_at: n.created_at,
        updated_at: n.updated_at,
        changes,
        acknowledged_by_me: ack.is_some(),
        acknowledged_at: ack.map(|a| a.acknowledged_at),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    use super::*;

    #[test]
    fn a_notice_s_changes_keep_the_products_order_and_give_each_product_s_prices_by_date() {
        let change = |sku: &str, day: u32| PriceChangeView {
            sku: sku.into(),
            product_name: String::new(),
            currency: "EUR".into(),
            unit_price_minor: 100,
            effective_on: NaiveDate::from_ymd_opt(2027, 1, day).unwrap(),
            in_force_from: None,
            price_before_minor: None,
            replaced_by: None,
        };
        let mut changes =
            [change("PUMP", 20), change("HOSE", 30), change("PUMP", 5), change("HOSE", 1), change("TAP", 9)];
        by_product_then_date(&mut changes);
        let read: Vec<(&str, u32)> = changes.iter().map(|c| (c.sku.as_str(), c.effective_on.day())).collect();
        assert_eq!(read, [("PUMP", 5), ("PUMP", 20), ("HOSE", 1), ("HOSE", 30), ("TAP", 9)]);
    }
}
