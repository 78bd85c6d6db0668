//! Superseded prices and the finance override that waives them: which lines
//! carry a price no longer in force, and whether the latest override covers
//! exactly those.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{price_overrides, quote_lines, quotes};
use crate::quotes::LoadedQuote;
use crate::views::{OverrideView, SupersededLineView, WaivedLineView};

/// The lines of `loaded` whose snapshot price is not the price in force.
pub(crate) fn superseded_lines(loaded: &LoadedQuote) -> Vec<SupersededLineView> {
    superseded_of(&loaded.lines, |product| loaded.in_force.get(&product).copied())
}

/// Of `lines`, those whose snapshot price is not the price in force
/// (`in_force`, by product; a product it does not know is left out).
pub(crate) fn superseded_of(
    lines: &[quote_lines::Model],
    in_force: impl Fn(Uuid) -> Option<i64>,
) -> Vec<SupersededLineView> {
    lines
        .iter()
        .filter_map(|l| {
            let current = in_force(l.product_id)?;
            (current != l.unit_price_minor).then(|| superseded_line(l, current))
        })
        .collect()
}

/// Line `l`, quoted at a price other than `current`, the price in force.
pub(crate) fn superseded_line(l: &quote_lines::Model, current: i64) -> SupersededLineView {
    SupersededLineView {
        line_id: l.id,
        sku: l.sku.clone(),
        quantity: l.quantity,
        discount_bp: l.discount_bp,
        quoted_unit_price_minor: l.unit_price_minor,
        current_unit_price_minor: current,
    }
}

/// The superseded lines as one string, the same whatever their order: what
/// an approval form carries of the lines it showed, so that the approval is
/// refused if, by the time it is sent, the lines at an old price (or their
/// prices now) are others.
pub fn superseded_fingerprint(lines: &[SupersededLineView]) -> String {
    let mut parts: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{}|{}|{}|{}|{}",
                l.sku, l.quantity, l.discount_bp, l.quoted_unit_price_minor, l.current_unit_price_minor
            )
        })
        .collect();
    parts.sort_unstable();
    parts.join(";")
}

/// One superseded line as finance saw it when approving an override
/// (`price_overrides.covers` holds a list of them): the prices, and how many
/// at what discount, so that an override for one unit is not one for a
/// thousand.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct CoveredPrice {
    pub sku: String,
    /// `None` in overrides approved before quantities were kept: such an
    /// entry covers no line.
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub discount_bp: Option<i32>,
    pub quoted_unit_price_minor: i64,
    pub current_unit_price_minor: i64,
}

impl From<&SupersededLineView> for CoveredPrice {
    fn from(l: &SupersededLineView) -> Self {
        CoveredPrice {
            sku: l.sku.clone(),
            quantity: Some(l.quantity),
            discount_bp: Some(l.discount_bp),
            quoted_unit_price_minor: l.quoted_unit_price_minor,
            current_unit_price_minor: l.current_unit_price_minor,
        }
    }
}

/// Whether `covers` waives every one of `superseded`, each entry one line:
/// a line added at a superseded price, or one whose quantity or discount
/// changed, is not covered.
fn covers_all(mut covers: Vec<CoveredPrice>, superseded: &[SupersededLineView]) -> bool {
    superseded.iter().all(|line| {
        let wanted = CoveredPrice::from(line);
        match covers.iter().position(|c| *c == wanted) {
            Some(at) => {
                covers.swap_remove(at);
                true
            }
            None => false,
        }
    })
}

/// The latest override of the quote, whether or not it still waives anything.
pub(super) async fn latest_override(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
) -> Result<Option<price_overrides::Model>, StoreError> {
    Ok(price_overrides::Entity::find()
        .filter(price_overrides::Column::QuoteId.eq(quote_id))
        .order_by_desc(price_overrides::Column::CreatedAt)
        .order_by_desc(price_overrides::Column::Id)
        .one(conn)
        .await?)
}

/// An override as the API and the evidence show it, with the lines it
/// waives (none for one approved before it named them, or unreadable).
pub(super) fn override_view(o: price_overrides::Model) -> OverrideView {
    let covers: Vec<CoveredPrice> = o.covers.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    view_with(o, covers)
}

fn view_with(o: price_overrides::Model, covers: Vec<CoveredPrice>) -> OverrideView {
    OverrideView {
        id: o.id,
        approved_by: o.approved_by,
        reason: o.reason,
        created_at: o.created_at,
        waives: covers.into_iter().map(WaivedLineView::from).collect(),
    }
}

impl From<CoveredPrice> for WaivedLineView {
    fn from(c: CoveredPrice) -> Self {
        WaivedLineView {
            sku: c.sku,
            quantity: c.quantity,
            discount_bp: c.discount_bp,
            quoted_unit_price_minor: c.quoted_unit_price_minor,
            current_unit_price_minor: c.current_unit_price_minor,
        }
    }
}

/// The latest override of the quote, if it waives every one of `superseded`:
/// an override waives the lines finance saw, not a price published or come
/// into force after it, nor a line changed or added since. Nor one its
/// approver has since come to own or sign (moved into sales, then named
/// signer, or handed the draft): one person does not both approve keeping
/// old prices and draft or finalise at them.
pub(crate) async fn covering_override(
    conn: &impl ConnectionTrait,
    quote: &quotes::Model,
    superseded: &[SupersededLineView],
) -> Result<Option<OverrideView>, StoreError> {
    let Some(o) = latest_override(conn, quote.id).await? else {
        return Ok(None);
    };
    Ok(covering_covers(&o, quote, superseded)?.map(|covers| view_with(o, covers)))
}

/// What override `o` of `quote` waives, when it waives every one of
/// `superseded` (see [`covering_override`]).
pub(crate) fn covering_covers(
    o: &price_overrides::Model,
    quote: &quotes::Model,
    superseded: &[SupersededLineView],
) -> Result<Option<Vec<CoveredPrice>>, StoreError> {
    if approver_is_party(o, quote) {
        return Ok(None);
    }
    let covers: Vec<CoveredPrice> = match o.covers.as_deref().map(serde_json::from_str) {
        Some(Ok(covers)) => covers,
        // Approved before overrides named what they waive: waives nothing.
        None => return Ok(None),
        Some(Err(e)) => return Err(StoreError::Internal(format!("override {} has unreadable covers: {e}", o.id))),
    };
    Ok(covers_all(covers.clone(), superseded).then_some(covers))
}

/// Whether override `o` was approved by someone who now owns or signs
/// `quote`, for whom it waives nothing.
pub(crate) fn approver_is_party(o: &price_overrides::Model, quote: &quotes::Model) -> bool {
    o.approved_by == quote.owner_id || o.approved_by == quote.signer_id
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::{CoveredPrice, SupersededLineView, covers_all};

    fn line(quantity: i64, discount_bp: i32) -> SupersededLineView {
        SupersededLineView {
            line_id: Uuid::new_v4(),
            sku: "P".into(),
            quantity,
            discount_bp,
            quoted_unit_price_minor: 10_000,
            current_unit_price_minor: 12_000,
        }
    }

    #[test]
    fn an_override_covers_the_lines_finance_saw_and_no_more() {
        let seen = vec![CoveredPrice::from(&line(1, 0))];
        assert!(covers_all(seen.clone(), &[line(1, 0)]));
        assert!(covers_all(seen.clone(), &[]), "a line since repriced needs nothing");
        assert!(!covers_all(seen.clone(), &[line(50_000, 0)]), "more units");
        assert!(!covers_all(seen.clone(), &[line(1, 2_000)]), "a new discount");
        assert!(!covers_all(seen, &[line(1, 0), line(1, 0)]), "a second line at the old price");
        let before_quantities: Vec<CoveredPrice> =
            serde_json::from_str(r#"[{"sku":"P","quoted_unit_price_minor":10000,"current_unit_price_minor":12000}]"#)
                .unwrap();
        assert!(!covers_all(before_quantities, &[line(1, 0)]), "an entry without a quantity covers nothing");
    }
}
