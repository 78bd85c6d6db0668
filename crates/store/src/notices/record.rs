//! What a notice said when it was published, kept in its `notice.published`
//! audit row, which nothing may change: the proof of what its readers were
//! asked to acknowledge, whatever becomes of the notice's own rows.

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{audit_log, notice_changes};
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
