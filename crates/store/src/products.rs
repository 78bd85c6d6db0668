use std::collections::HashMap;

use chrono::NaiveDate;
use pricegate_domain::product_csv::ProductRow;
use pricegate_domain::{Currency, Sku, Text};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::db::db_now;
use crate::entity::{notice_changes, notices, products};
use crate::views::ProductView;
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

/// A CSV line that could not be imported because of the database (a sku
/// that already exists), reported like a parse error.
#[derive(Debug, Clone)]
pub struct CsvRowError {
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
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
    }
}

/// The price in force on `today` for each product: its list price, replaced
/// by the latest published change (by effective date, then publication
/// order) whose effective date has come. `None` for `ids` means every product.
pub(crate) async fn prices_in_force(
    conn: &impl ConnectionTrait,
    ids: Option<&[Uuid]>,
    today: NaiveDate,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let mut base = products::Entity::find();
    let mut changes = notice_changes::Entity::find()
        .join(JoinType::InnerJoin, notice_changes::Relation::Notice.def())
        .filter(notices::Column::State.eq("published"))
        .filter(notice_changes::Column::EffectiveOn.lte(today))
        .select_only()
        .column(notice_changes::Column::ProductId)
        .column(notice_changes::Column::UnitPriceMinor)
        .order_by_asc(notice_changes::Column::EffectiveOn)
        .order_by_asc(notices::Column::Seq)
        .order_by_asc(notice_changes::Column::Position);
    if let Some(ids) = ids {
        base = base.filter(products::Column::Id.is_in(ids.iter().copied()));
        changes = changes.filter(notice_changes::Column::ProductId.is_in(ids.iter().copied()));
    }
    let mut prices: HashMap<Uuid, i64> =
        base.all(conn).await?.into_iter().map(|p| (p.id, p.unit_price_minor)).collect();
    // Ascending order: the last change written wins.
    for (product_id, price) in changes.into_tuple::<(Uuid, i64)>().all(conn).await? {
        prices.insert(product_id, price);
    }
    Ok(prices)
}

impl Store {
    pub async fn create_product(&self, actor: &Actor, new: NewProduct) -> Result<ProductView, StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        let row = products::Entity::insert(active(&new, now)).exec_with_returning(&txn).await.map_err(|e| {
            StoreError::unique_as(e, "sku_taken", format!("A product with sku {} already exists.", new.sku))
        })?;
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

    /// Imports a whole price list in one transaction: every row, or none.
    /// A sku that already exists is reported against its line.
    pub async fn import_products(
        &self,
        actor: &Actor,
        rows: Vec<ProductRow>,
    ) -> Result<Result<Vec<ProductView>, Vec<CsvRowError>>, StoreError> {
        let txn = self.begin_write().await?;
        let skus: Vec<String> = rows.iter().map(|r| r.sku.as_str().to_owned()).collect();
        let mut existing = Vec::new();
        for chunk in skus.chunks(500) {
            existing.extend(
                products::Entity::find()
                    .filter(products::Column::Sku.is_in(chunk.iter().cloned()))
                    .select_only()
                    .column(products::Column::Sku)
                    .into_tuple::<String>()
                    .all(&txn)
                    .await?,
            );
        }
        if !existing.is_empty() {
            let errors = rows
                .iter()
                .filter(|r| existing.iter().any(|s| s == r.sku.as_str()))
                .map(|r| CsvRowError {
                    line: r.line,
                    field: Some("sku".into()),
                    message: format!(
                        "A product with sku {} already exists; the price list changes only through notices.",
                        r.sku
                    ),
                })
                .collect();
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

    pub async fn list_products(&self) -> Result<Vec<ProductView>, StoreError> {
        let today = db_now(&self.db).await?.date_naive();
        let prices = prices_in_force(&self.db, None, today).await?;
        let rows = products::Entity::find().order_by_asc(products::Column::Sku).all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|p| {
                let price = prices.get(&p.id).copied();
                view(p, price)
            })
            .collect())
    }
}

fn view(p: products::Model, price_in_force: Option<i64>) -> ProductView {
    ProductView {
        id: p.id,
        unit_price_minor: price_in_force.unwrap_or(p.unit_price_minor),
        sku: p.sku,
        name: p.name,
        unit: p.unit,
        currency: p.currency,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}
