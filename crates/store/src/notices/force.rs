//! Whether a notice's price changes can take force, checked as it is
//! published.

use std::collections::HashMap;

use chrono::NaiveDate;
use pricegate_domain::Calendar;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::PUBLISHED;
use crate::StoreError;
use crate::entity::notice_changes;
use crate::entity::notices;

/// Refuses to publish a change that could never take force: one dated
/// before another change to the same product, published or in this notice,
/// that is in force by `today`. Prices in force go by effective date first
/// (see `price_in_force_sql`), so such a change would be outranked on every
/// day from now on, yet the gate would still show salespeople its impact.
/// 409 `change_never_in_force`, naming the change, the change in the way and
/// the earliest date that would take force. One statement, however many
/// changes are backdated: publication holds the gate exclusively meanwhile.
pub(crate) async fn check_changes_can_take_force(
    conn: &impl ConnectionTrait,
    notice_id: Uuid,
    calendar: &Calendar,
    today: NaiveDate,
) -> Result<(), StoreError> {
    let changes = notice_changes::Entity::find()
        .filter(notice_changes::Column::NoticeId.eq(notice_id))
        .order_by_asc(notice_changes::Column::Position)
        .all(conn)
        .await?;
    // Each change is named by its product and date, as every page lists them
    // (by product, then date), not by its place in the stored list.
    let backdated: Vec<&notice_changes::Model> = changes.iter().filter(|c| c.effective_on < today).collect();
    if backdated.is_empty() {
        return Ok(());
    }
    // Per product, the latest change in force by today: its date, where it
    // is from, whether that is this notice, and the day it took force (a
    // published change dated before its notice was published took force on
    // the day of publication, as the price list says).
    let mut in_force: HashMap<Uuid, (NaiveDate, String, bool, NaiveDate)> = HashMap::new();
    let published = notice_changes::Entity::find()
        .find_also_related(notices::Entity)
        .filter(notice_changes::Column::ProductId.is_in(backdated.iter().map(|c| c.product_id)))
        .filter(notices::Column::State.eq(PUBLISHED))
        .filter(notice_changes::Column::EffectiveOn.lte(today))
        .all(conn)
        .await?;
    let from_published = published.into_iter().filter_map(|(change, notice)| {
        let notice = notice?;
        let took_force =
            notice.published_at.map_or(change.effective_on, |at| calendar.takes_force_on(change.effective_on, at));
        Some((change.product_id, change.effective_on, format!("“{}”", notice.title), false, took_force))
    });
    let from_this_notice = changes
        .iter()
        .filter(|c| c.effective_on <= today)
        .map(|c| (c.product_id, c.effective_on, format!("this notice's own {} change", c.sku), true, c.effective_on));
    for (product, effective_on, source, own, took_force) in from_published.chain(from_this_notice) {
        let latest = in_force.entry(product).or_insert((effective_on, source.clone(), own, took_force));
        if effective_on > latest.0 {
            *latest = (effective_on, source, own, took_force);
        }
    }
    for change in backdated {
        let Some((since, source, own, took_force)) =
            in_force.get(&change.product_id).filter(|(since, ..)| *since > change.effective_on)
        else {
            continue;
        };
        let in_force_since = if took_force > since {
            format!("{took_force} (on its publication; dated {since})")
        } else {
            since.to_string()
        };
        // Redating it would only outrank the other change of this notice.
        let remedy = if *own {
            "Leave one of the two out.".to_owned()
        } else {
            format!("Date it {since} or later, or leave it out.")
        };
        return Err(StoreError::conflict(
            "change_never_in_force",
            format!(
                "The {} change dated {} would never take force: the price from {source} is in force since \
                 {in_force_since}. {remedy}",
                change.sku, change.effective_on,
            ),
        ));
    }
    Ok(())
}
