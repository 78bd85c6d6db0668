//! The same generated data on SQLite: the PostgreSQL database `generate`
//! filled is copied, table by table, through the service's own entity
//! models, so every id, timestamp and date is stored exactly as the service
//! would store it (SQLite compares timestamps as text: a hand-written
//! generator that formatted one differently would answer wrongly, not slowly).

use std::path::Path;
use std::time::{Duration, Instant};

use pricegate_store::entity::{
    acknowledgements, api_tokens, gate, notice_changes, notices, products, quote_lines, quotes, users,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

/// Rows read from PostgreSQL per page (keyset on the primary key).
const PAGE: u64 = 20_000;
/// Rows per multi-row INSERT: under SQLite's 32,766 bound parameters for the widest table.
const CHUNK: usize = 1_000;

macro_rules! copy_table {
    ($from:expr, $to:expr, $module:ident, $column:ident, $field:ident) => {{
        use $module::{ActiveModel, Column, Entity};
        let mut after = None;
        loop {
            let mut page = Entity::find().order_by_asc(Column::$column).limit(PAGE);
            if let Some(last) = after {
                page = page.filter(Column::$column.gt(last));
            }
            let rows = page.all($from).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.$field.clone());
            for chunk in rows.chunks(CHUNK) {
                Entity::insert_many(chunk.iter().cloned().map(ActiveModel::from)).exec_without_returning($to).await?;
            }
        }
    }};
}

/// Copies the generated data from `pg` into the migrated, empty SQLite
/// database `lite`, in one transaction.
pub async fn copy(pg: &DatabaseConnection, lite: &DatabaseConnection) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let txn = lite.begin().await?;
    copy_table!(pg, &txn, users, Id, id);
    copy_table!(pg, &txn, api_tokens, TokenHash, token_hash);
    copy_table!(pg, &txn, products, Id, id);
    copy_table!(pg, &txn, notices, Id, id);
    copy_table!(pg, &txn, notice_changes, Id, id);
    copy_table!(pg, &txn, acknowledgements, Id, id);
    copy_table!(pg, &txn, quotes, Id, id);
    copy_table!(pg, &txn, quote_lines, Id, id);
    let last_seq = gate::Entity::find_by_id(1).one(pg).await?.map(|g| g.last_seq).unwrap_or_default();
    gate::Entity::update(gate::ActiveModel { id: Set(1), last_seq: Set(last_seq) }).exec(&txn).await?;
    txn.commit().await?;
    lite.execute_unprepared("ANALYZE").await?;
    Ok(started.elapsed())
}

/// `sqlite://…` for a fresh file at `path`, created on first connection.
pub fn url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}
