//! What a notice said when it was published, kept in its `notice.published`
//! audit row, which nothing may change: the proof of what its readers were
//! asked to acknowledge, whatever becomes of the notice's own rows.

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{audit_log, notice_changes, products};
use crate::views::NoticeView;
use crate::{Store, StoreError};

/// A notice as published: its title, text and price changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedContent {
    pub title: String,
    pub body: String,
    pub changes: Vec<PublishedChange>,
}

/// One price change as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedChange {
    pub sku: String,
    pub product_name: String,
    pub unit_price_minor: i64,
    pub effective_on: NaiveDate,
}

/// The currency of each product notice `id` prices, by SKU as the notice
/// writes it: an audit row's prices are read with it (13001 is 130.01 EUR,
/// or 13,001 JPY).
pub(crate) async fn change_currencies(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    let changes = notice_changes::Entity::find()
        .select_only()
        .column(notice_changes::Column::Sku)
        .column(notice_changes::Column::ProductId)
        .filter(notice_changes::Column::NoticeId.eq(id))
        .into_tuple::<(String, Uuid)>()
        .all(conn)
        .await?;
    let mut of_product = std::collections::HashMap::new();
    for chunk in changes.chunks(crate::db::IN_LIST_CHUNK) {
        let rows = products::Entity::find()
            .select_only()
            .column(products::Column::Id)
            .column(products::Column::Currency)
            .filter(products::Column::Id.is_in(chunk.iter().map(|(_, product)| *product)))
            .into_tuple::<(Uuid, String)>()
            .all(conn)
            .await?;
        of_product.extend(rows);
    }
    Ok(changes.into_iter().filter_map(|(sku, product)| Some((sku, of_product.get(&product)?.clone()))).collect())
}

impl PublishedContent {
    /// Notice `id` as it stands in `txn`, being published: its changes with
    /// the product names it keeps.
    pub(crate) async fn read(txn: &DatabaseTransaction, id: Uuid, title: &str, body: &str) -> Result<Self, StoreError> {
        let changes = notice_changes::Entity::find()
            .filter(notice_changes::Column::NoticeId.eq(id))
            .order_by_asc(notice_changes::Column::Position)
            .all(txn)
            .await?
            .into_iter()
            .map(|c| PublishedChange {
                sku: c.sku,
                product_name: c.product_name.unwrap_or_default(),
                unit_price_minor: c.unit_price_minor,
                effective_on: c.effective_on,
            })
            .collect();
        Ok(PublishedContent { title: title.to_owned(), body: body.to_owned(), changes })
    }

    /// What of `notice` is no longer as it was published, in words ("its
    /// text"): nothing, unless its rows were changed behind the service's
    /// back, which changes nothing of a published notice.
    pub fn differences(&self, notice: &NoticeView) -> Vec<&'static str> {
        let changes: Vec<(&str, &str, i64, NaiveDate)> = notice
            .changes
            .iter()
            .map(|c| (c.sku.as_str(), c.product_name.as_str(), c.unit_price_minor, c.effective_on))
            .collect();
        let published: Vec<(&str, &str, i64, NaiveDate)> = self
            .changes
            .iter()
            .map(|c| (c.sku.as_str(), c.product_name.as_str(), c.unit_price_minor, c.effective_on))
            .collect();
        crate::views::differing([
            ("its title", self.title == notice.title),
            ("its text", self.body == notice.body),
            ("its price changes", published == changes),
        ])
    }
}

impl Store {
    /// What notice `id` said when it was published, as its publication's
    /// audit row keeps it; `None` for a draft, or a notice published before
    /// the row kept it.
    pub async fn published_content(&self, id: Uuid) -> Result<Option<PublishedContent>, StoreError> {
        published_content(&self.db, id).await
    }
}

async fn published_content(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<PublishedContent>, StoreError> {
    let row = audit_log::Entity::find()
        .filter(audit_log::Column::SubjectId.eq(id))
        .filter(audit_log::Column::Action.eq("notice.published"))
        .order_by_asc(audit_log::Column::At)
        .one(conn)
        .await?;
    Ok(row.and_then(|r| serde_json::from_value(r.detail).ok()))
}
