//! Superseded prices and the finance override that waives them: which lines
//! carry a price no longer in force, and whether the latest override covers
//! exactly those.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::price_overrides;
use crate::quotes::LoadedQuote;
use crate::views::{OverrideView, SupersededLineView};

/// The lines of `loaded` whose snapshot price is not the price in force.
pub(crate) fn superseded_lines(loaded: &LoadedQuote) -> Vec<SupersededLineView> {
    loaded
        .lines
        .iter()
        .filter_map(|l| {
            let current = *loaded.in_force.get(&l.product_id)?;
            (current != l.unit_price_minor).then(|| SupersededLineView {
                line_id: l.id,
                sku: l.sku.clone(),
                quoted_unit_price_minor: l.unit_price_minor,
                current_unit_price_minor: current,
            })
        })
        .collect()
}

/// One superseded price as finance saw it when approving an override
/// (`price_overrides.covers` holds a list of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CoveredPrice {
    pub sku: String,
    pub quoted_unit_price_minor: i64,
    pub current_unit_price_minor: i64,
}

impl From<&SupersededLineView> for CoveredPrice {
    fn from(l: &SupersededLineView) -> Self {
        CoveredPrice {
            sku: l.sku.clone(),
            quoted_unit_price_minor: l.quoted_unit_price_minor,
            current_unit_price_minor: l.current_unit_price_minor,
        }
    }
}

/// The latest override of the quote, if it waives every one of `superseded`:
/// an override waives the gaps finance saw, not a price published or come
/// into force after it, nor a line's price changed since.
pub(super) async fn covering_override(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
    superseded: &[SupersededLineView],
) -> Result<Option<OverrideView>, StoreError> {
    let Some(o) = price_overrides::Entity::find()
        .filter(price_overrides::Column::QuoteId.eq(quote_id))
        .order_by_desc(price_overrides::Column::CreatedAt)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let covers: Vec<CoveredPrice> = match o.covers.as_deref().map(serde_json::from_str) {
        Some(Ok(covers)) => covers,
        // Approved before overrides named what they waive: waives nothing.
        None => return Ok(None),
        Some(Err(e)) => return Err(StoreError::Internal(format!("override {} has unreadable covers: {e}", o.id))),
    };
    let covered = superseded.iter().all(|l| covers.contains(&CoveredPrice::from(l)));
    Ok(covered.then_some(OverrideView {
        id: o.id,
        approved_by: o.approved_by,
        reason: o.reason,
        created_at: o.created_at,
    }))
}
