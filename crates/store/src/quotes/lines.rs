//! A quote's lines: priced from the price list in force when they are
//! written, and replaced whole on every edit.

use std::collections::HashMap;

use chrono::NaiveDate;
use pricegate_domain::{DiscountBp, Invalid, Quantity, Sku, quote_total};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{products, quote_lines};
use crate::gate::priced_lines;
use crate::products::prices_in_force;

/// More lines than any real quote has; a bound on one request's work.
const MAX_LINES: usize = 200;

#[derive(Debug, Clone)]
pub struct NewLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub discount: DiscountBp,
}

/// A product an edited quote carries already: the price its lines have,
/// and how many of it they come to.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Kept {
    pub price: i64,
    pub quantity: i64,
}

/// What each product on `lines` is kept at by an edit (see [`Kept`]).
pub(super) fn kept(lines: &[quote_lines::Model]) -> HashMap<String, Kept> {
    let mut kept: HashMap<String, Kept> = HashMap::new();
    for line in lines {
        let entry = kept.entry(line.sku.clone()).or_default();
        entry.price = line.unit_price_minor;
        entry.quantity = entry.quantity.saturating_add(line.quantity);
    }
    kept
}

/// What the quote being written carries already, for [`price_lines`].
pub(super) enum Carried<'a> {
    /// Nothing: a new quote.
    Nothing,
    /// The products it carries (by sku) at the prices it has for them,
    /// which an edit keeps: editing a quantity must not silently reprice a
    /// line.
    AtPrices(&'a HashMap<String, Kept>),
    /// Every requested line, each to be priced again (a reprice).
    Everything,
}

impl Carried<'_> {
    fn price(&self, sku: &str) -> Option<i64> {
        match self {
            Carried::AtPrices(kept) => kept.get(sku).map(|k| k.price),
            Carried::Nothing | Carried::Everything => None,
        }
    }

    /// How many of `sku` the quote may carry in all once it is withdrawn
    /// from sale: what it carried, no more (`None`: no bound).
    fn at_most(&self, sku: &str) -> Option<i64> {
        match self {
            Carried::AtPrices(kept) => Some(kept.get(sku).map_or(0, |k| k.quantity)),
            Carried::Nothing => Some(0),
            Carried::Everything => None,
        }
    }

    fn carries(&self, sku: &str) -> bool {
        match self {
            Carried::Nothing => false,
            Carried::AtPrices(kept) => kept.contains_key(sku),
            Carried::Everything => true,
        }
    }
}

/// Turns requested lines into rows priced from the price list in force on
/// `today`, except where `carried` keeps a price. A product withdrawn from
/// sale stays on a quote that carries it, in as many as it carried or fewer,
/// and is not taken on as a new line (422 `product_withdrawn`).
pub(super) async fn price_lines(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
    currency: &str,
    lines: &[NewLine],
    carried: Carried<'_>,
    today: NaiveDate,
) -> Result<Vec<quote_lines::Model>, StoreError> {
    if lines.is_empty() {
        return Err(Invalid::new("lines", "A quote needs at least one line.").into());
    }
    if lines.len() > MAX_LINES {
        return Err(Invalid::new("lines", format!("A quote may have at most {MAX_LINES} lines.")).into());
    }
    let skus: Vec<String> = lines.iter().map(|l| l.sku.as_str().to_owned()).collect();
    // Shared: a change to a product's unit (refused once a quote has carried
    // it) waits for this line to commit, then sees it; and a withdrawal
    // committed first is read here.
    let found: HashMap<String, products::Model> = products::Entity::find()
        .filter(products::Column::Sku.is_in(skus))
        .lock_shared()
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect();
    let ids: Vec<Uuid> = found.values().map(|p| p.id).collect();
    let in_force = prices_in_force(conn, Some(&ids), today).await?;
    let mut rows = Vec::with_capacity(lines.len());
    // Of each withdrawn product, how many the lines so far come to.
    let mut withdrawn_taken: HashMap<&str, i64> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        let field = format!("lines[{i}].sku");
        let Some(product) = found.get(line.sku.as_str()) else {
            return Err(crate::products::unknown_sku(conn, &field, line.sku.as_str()).await?.into());
        };
        if product.currency != currency {
            return Err(Invalid::new(&field, Sku::other_currency(&product.sku, &product.currency, currency))
                .with_code("currency_mismatch")
                .into());
        }
        if product.withdrawn_at.is_some() && !carried.carries(line.sku.as_str()) {
            return Err(Invalid::new(&field, Sku::withdrawn(&product.sku, &product.name))
                .with_code("product_withdrawn")
                .into());
        }
        if product.withdrawn_at.is_some() {
            let taken = withdrawn_taken.entry(line.sku.as_str()).or_default();
            *taken = taken.saturating_add(line.quantity.get());
            if let Some(most) = carried.at_most(line.sku.as_str()).filter(|most| *taken > *most) {
                let message = Sku::withdrawn_beyond(&product.sku, &product.name, most);
                return Err(Invalid::new(format!("lines[{i}].quantity"), message)
                    .with_code("product_withdrawn")
                    .into());
            }
        }
        let unit_price_minor = carried
            .price(line.sku.as_str())
            .unwrap_or_else(|| in_force.get(&product.id).map_or(product.unit_price_minor, |f| f.price));
        rows.push(quote_lines::Model {
            id: Uuid::new_v4(),
            quote_id,
            position: i as i32,
            product_id: product.id,
            sku: product.sku.clone(),
            product_name: product.name.clone(),
            unit: product.unit.clone(),
            quantity: line.quantity.get(),
            unit_price_minor,
            discount_bp: line.discount.get(),
        });
    }
    quote_total(&priced_lines(&rows))?;
    Ok(rows)
}

pub(super) async fn replace_lines(
    txn: &DatabaseTransaction,
    quote_id: Uuid,
    rows: Vec<quote_lines::Model>,
) -> Result<(), StoreError> {
    quote_lines::Entity::delete_many().filter(quote_lines::Column::QuoteId.eq(quote_id)).exec(txn).await?;
    let models: Vec<quote_lines::ActiveModel> = rows.into_iter().map(Into::into).collect();
    quote_lines::Entity::insert_many(models).exec_without_returning(txn).await?;
    Ok(())
}

/// Whether `new` rows say what `old` ones do: the same products, in the
/// same order, at the same quantities, discounts, prices, names and units
/// (a row's id says nothing: an edit writes new ones, a reprice keeps them).
pub(super) fn same_lines(new: &[quote_lines::Model], old: &[quote_lines::Model]) -> bool {
    fn said(l: &quote_lines::Model) -> (i32, Uuid, &str, &str, &str, i64, i64, i32) {
        (l.position, l.product_id, &l.sku, &l.product_name, &l.unit, l.quantity, l.unit_price_minor, l.discount_bp)
    }
    new.len() == old.len() && new.iter().zip(old).all(|(n, o)| said(n) == said(o))
}

/// What an edit did to one product's place on a quote, for the audit row
/// and the quote's history: its quantity and number of lines before and
/// after (0: not on the quote), and, where they differ, the discounts and
/// unit prices its lines have before and after (each once, in order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct LineChange {
    sku: String,
    quantity_before: i64,
    quantity_after: i64,
    lines_before: usize,
    lines_after: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    discounts_bp: Option<[Vec<i32>; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_prices_minor: Option<[Vec<i64>; 2]>,
    /// The same units, discounts and prices, but units moved between its
    /// lines of different discounts or prices.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    units_moved: bool,
}

/// One product's lines on a quote: their SKU, quantity summed, how many,
/// and their discounts and unit prices, each once, in order.
#[derive(Clone, Default)]
struct OnQuote {
    sku: String,
    quantity: i64,
    lines: usize,
    discounts: Vec<i32>,
    prices: Vec<i64>,
    /// Each line's discount, price and quantity, in order.
    split: Vec<(i32, i64, i64)>,
}

fn by_product(lines: &[quote_lines::Model]) -> Vec<(Uuid, OnQuote)> {
    let mut products: Vec<(Uuid, OnQuote)> = Vec::new();
    for line in lines {
        let at = match products.iter().position(|(id, _)| *id == line.product_id) {
            Some(at) => at,
            None => {
                products.push((line.product_id, OnQuote { sku: line.sku.clone(), ..OnQuote::default() }));
                products.len() - 1
            }
        };
        let on = &mut products[at].1;
        on.quantity = on.quantity.saturating_add(line.quantity);
        on.lines += 1;
        on.discounts.push(line.discount_bp);
        on.prices.push(line.unit_price_minor);
        on.split.push((line.discount_bp, line.unit_price_minor, line.quantity));
    }
    for (_, on) in &mut products {
        on.discounts.sort_unstable();
        on.discounts.dedup();
        on.prices.sort_unstable();
        on.prices.dedup();
        on.split.sort_unstable();
    }
    products
}

/// Each product whose lines `old` and `new` do not say the same of, in the
/// order the edited quote lists them, then those it no longer has. An edit
/// that only reorders the lines, or splits one in two on the same terms,
/// changes no product's quantity, discounts or prices, but may change how
/// many lines it is on.
pub(super) fn line_changes(old: &[quote_lines::Model], new: &[quote_lines::Model]) -> Vec<LineChange> {
    let (before, after) = (by_product(old), by_product(new));
    let find = |products: &[(Uuid, OnQuote)], id: Uuid| {
        products.iter().find(|(p, _)| *p == id).map(|(_, on)| on.clone()).unwrap_or_default()
    };
    let now = after.iter().map(|(id, _)| *id);
    let gone = before.iter().map(|(id, _)| *id).filter(|id| !after.iter().any(|(p, _)| p == id));
    now.chain(gone)
        .filter_map(|id| {
            let (was, is) = (find(&before, id), find(&after, id));
            // Both sides say something of them only while it is on the quote before and after.
            let both = was.lines > 0 && is.lines > 0;
            let discounts_bp =
                (both && was.discounts != is.discounts).then(|| [was.discounts.clone(), is.discounts.clone()]);
            let unit_prices_minor = (both && was.prices != is.prices).then(|| [was.prices.clone(), is.prices.clone()]);
            let split = |on: &OnQuote| on.split.iter().map(|(d, p, _)| (*d, *p)).collect::<Vec<_>>();
            // Units moved between lines of other terms: the lines' terms are as they were, their units are not.
            let units_moved = both
                && was.quantity == is.quantity
                && was.lines == is.lines
                && split(&was) == split(&is)
                && was.split != is.split;
            let changed = was.quantity != is.quantity
                || was.lines != is.lines
                || discounts_bp.is_some()
                || unit_prices_minor.is_some()
                || units_moved;
            changed.then_some(LineChange {
                sku: if is.lines > 0 { is.sku } else { was.sku },
                quantity_before: was.quantity,
                quantity_after: is.quantity,
                lines_before: was.lines,
                lines_after: is.lines,
                discounts_bp,
                unit_prices_minor,
                units_moved,
            })
        })
        .collect()
}

/// Whether a product on the quote before and after carries another name or
/// unit in `new` than in `old`: an edit rewrites every line with the
/// product as it is named now.
pub(super) fn names_refreshed(old: &[quote_lines::Model], new: &[quote_lines::Model]) -> bool {
    new.iter().any(|n| {
        old.iter().any(|o| o.product_id == n.product_id && (o.product_name != n.product_name || o.unit != n.unit))
    })
}
