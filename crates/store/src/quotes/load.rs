//! Reading quotes: with their lines, with each line's price in force (the
//! gate check's hot path), locked for an edit, and only for whoever may see
//! or change them.

use std::collections::HashMap;

use pricegate_domain::{Calendar, Role};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, Statement,
};
use uuid::Uuid;

use super::DRAFT;
use crate::db::IN_LIST_CHUNK;
use crate::entity::{quote_lines, quotes};
use crate::{Actor, StoreError};

pub(crate) async fn load_lines(
    conn: &impl ConnectionTrait,
    quote_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<quote_lines::Model>>, StoreError> {
    let mut by_quote: HashMap<Uuid, Vec<quote_lines::Model>> = HashMap::new();
    for chunk in quote_ids.chunks(IN_LIST_CHUNK) {
        let rows = quote_lines::Entity::find()
            .filter(quote_lines::Column::QuoteId.is_in(chunk.iter().copied()))
            .order_by_asc(quote_lines::Column::Position)
            .all(conn)
            .await?;
        for row in rows {
            by_quote.entry(row.quote_id).or_default().push(row);
        }
    }
    Ok(by_quote)
}

/// The quote row, locked against concurrent edits (`FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already excludes them).
pub(crate) async fn lock_quote(txn: &DatabaseTransaction, id: Uuid) -> Result<quotes::Model, StoreError> {
    quotes::Entity::find_by_id(id).lock_exclusive().one(txn).await?.ok_or(StoreError::not_found("quote"))
}

/// A quote and its lines, the quote row locked ([`lock_quote`]).
async fn load_quote_for_update(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<(quotes::Model, Vec<quote_lines::Model>), StoreError> {
    let quote = lock_quote(txn, id).await?;
    let lines = load_lines(txn, &[id]).await?.remove(&id).unwrap_or_default();
    Ok((quote, lines))
}

pub(super) fn may_view(actor: &Actor, quote: &quotes::Model) -> bool {
    actor.role == Role::Finance || quote.owner_id == actor.id || quote.signer_id == actor.id
}

/// A quote with its lines and the unit price in force today of each line's
/// product, as one statement read them.
pub(crate) struct LoadedQuote {
    pub quote: quotes::Model,
    pub lines: Vec<quote_lines::Model>,
    /// Product id → unit price in force on the business day it is by the database's clock.
    pub in_force: HashMap<Uuid, i64>,
    /// `valid_until` is before that business day.
    pub expired: bool,
    /// That business day.
    pub today: chrono::NaiveDate,
    /// The signer is an active salesperson, as the same statement read them.
    pub signer_can_sign: bool,
    /// When the signer's account last changed: a deactivation, a
    /// reactivation or a role change is stamped in commit order under the
    /// gate held exclusively, and a finalisation after it, after that.
    pub signer_changed_at: chrono::DateTime<chrono::Utc>,
    /// The business's calendar it was read by.
    pub calendar: Calendar,
}

/// `q.a AS q_a, q.b AS q_b, …` for every column of an entity, so one row of a
/// join can be read back into each entity's model by prefix.
fn prefixed_columns<C: sea_orm::Iterable + sea_orm::IdenStatic>(alias: &str) -> String {
    C::iter().map(|c| format!("{alias}.{0} AS {alias}_{0}", c.as_str())).collect::<Vec<_>>().join(", ")
}

/// The statement [`load_quote`] sends, with two placeholders: the quote's
/// id, then the business day. On PostgreSQL the second is the calendar's
/// zone name and today is read from the database's clock in that zone, as
/// [`crate::Store::today`] reads it; on SQLite, which runs in this process and
/// so shares its clock, it is today's date ([`load_quote_values`] binds
/// both).
pub fn load_quote_sql(backend: DbBackend) -> String {
    let (today, param) = match backend {
        DbBackend::Postgres => ("(clock_timestamp() AT TIME ZONE $2)::date", "$1"),
        _ => ("?2", "?1"),
    };
    format!(
        "SELECT {quote}, {line}, {price} AS l_in_force, q.valid_until < {today} AS quote_expired, {today} AS quote_today, \
                (s.active AND s.role = '{sales}') AS signer_can_sign, s.updated_at AS signer_changed_at \
         FROM quotes q JOIN users s ON s.id = q.signer_id LEFT JOIN quote_lines l ON l.quote_id = q.id LEFT JOIN products p ON p.id = l.product_id \
         WHERE q.id = {param} ORDER BY l.position",
        quote = prefixed_columns::<quotes::Column>("q"),
        line = prefixed_columns::<quote_lines::Column>("l"),
        price = crate::gate::price_in_force_sql(today),
        sales = Role::Sales.as_str(),
    )
}

/// The values of [`load_quote_sql`] (and of the gate's statement that embeds
/// it) for quote `id` by `calendar`.
pub(crate) fn load_quote_values(backend: DbBackend, id: Uuid, calendar: Calendar) -> [sea_orm::Value; 2] {
    match backend {
        DbBackend::Postgres => [id.into(), calendar.zone_name().into()],
        _ => [id.into(), calendar.today().into()],
    }
}

/// Reads a quote, its lines and their prices in force in one round trip
/// (the gate check's hot path). Does not lock: a caller that must see the
/// lines as of a lock takes the lock first, in an earlier statement, so that
/// this statement's snapshot starts after it.
pub(crate) async fn load_quote(
    conn: &impl ConnectionTrait,
    id: Uuid,
    calendar: Calendar,
) -> Result<LoadedQuote, StoreError> {
    let backend = conn.get_database_backend();
    let statement =
        Statement::from_sql_and_values(backend, load_quote_sql(backend), load_quote_values(backend, id, calendar));
    loaded_quote(&conn.query_all_raw(statement).await?, calendar)
}

/// A quote read back from the rows of [`load_quote_sql`] (or of a statement
/// that embeds it): one row per line, the quote's columns on every row.
pub(crate) fn loaded_quote(rows: &[QueryResult], calendar: Calendar) -> Result<LoadedQuote, StoreError> {
    let first = rows.first().ok_or(StoreError::not_found("quote"))?;
    let quote = quotes::Model::from_query_result(first, "q_")?;
    let expired = first.try_get::<bool>("", "quote_expired")?;
    let today = first.try_get::<chrono::NaiveDate>("", "quote_today")?;
    let signer_can_sign = first.try_get::<bool>("", "signer_can_sign")?;
    let signer_changed_at = first.try_get::<chrono::DateTime<chrono::Utc>>("", "signer_changed_at")?;
    let mut lines = Vec::with_capacity(rows.len());
    let mut in_force = HashMap::with_capacity(rows.len());
    for row in rows {
        // A quote without lines comes back as one row of NULL line columns.
        if row.try_get::<Option<Uuid>>("", "l_id")?.is_none() {
            continue;
        }
        let line = quote_lines::Model::from_query_result(row, "l_")?;
        if let Some(price) = row.try_get::<Option<i64>>("", "l_in_force")? {
            in_force.insert(line.product_id, price);
        }
        lines.push(line);
    }
    Ok(LoadedQuote { quote, lines, in_force, expired, today, signer_can_sign, signer_changed_at, calendar })
}

/// [`load_quote`] for someone who may see it: finance, its owner or its signer.
pub(crate) async fn load_visible_priced(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    calendar: Calendar,
) -> Result<LoadedQuote, StoreError> {
    let loaded = load_quote(conn, id, calendar).await?;
    check_visible(actor, &loaded.quote)?;
    Ok(loaded)
}

/// Refuses a quote to anyone but finance, its owner and its signer.
pub(crate) fn check_visible(actor: &Actor, quote: &quotes::Model) -> Result<(), StoreError> {
    if !may_view(actor, quote) {
        return Err(StoreError::forbidden("not_your_quote", "This quote belongs to someone else."));
    }
    Ok(())
}

/// Refuses a quote that is no longer a draft (finalised or cancelled) with
/// 409 `quote_not_draft`; `why` ends the sentence: "This quote is
/// finalised and {why}."
pub(crate) fn check_draft(quote: &quotes::Model, why: &str) -> Result<(), StoreError> {
    if quote.state != DRAFT {
        return Err(StoreError::conflict("quote_not_draft", format!("This quote is {} and {why}.", quote.state)));
    }
    Ok(())
}

pub(crate) async fn load_visible(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    calendar: Calendar,
) -> Result<(quotes::Model, Vec<quote_lines::Model>), StoreError> {
    let LoadedQuote { quote, lines, .. } = load_visible_priced(conn, actor, id, calendar).await?;
    Ok((quote, lines))
}

pub(super) async fn load_owned(
    txn: &DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
) -> Result<(quotes::Model, Vec<quote_lines::Model>), StoreError> {
    let (quote, lines) = load_quote_for_update(txn, id).await?;
    check_owner(actor, &quote)?;
    check_draft(&quote, "can no longer change")?;
    Ok((quote, lines))
}

/// Refuses anyone but the quote's owner a change to it (403 `not_owner`).
pub(super) fn check_owner(actor: &Actor, quote: &quotes::Model) -> Result<(), StoreError> {
    if quote.owner_id != actor.id {
        return Err(StoreError::forbidden("not_owner", "Only the quote's owner can change it."));
    }
    Ok(())
}
