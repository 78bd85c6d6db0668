//! Where each price a finalisation signs came from: the price list or a
//! published notice, with the signer's acknowledgement of that notice.

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::Calendar;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::quote_lines;
use crate::views::{EvidencePrice, PriceSetBy, SignedPrice};

/// One product of the quote with the change in force on its day, if any.
#[derive(FromQueryResult)]
struct Row {
    product_id: Uuid,
    sku: String,
    unit_price_minor: i64,
    list_price_minor: i64,
    notice_id: Option<Uuid>,
    seq: Option<i64>,
    title: Option<String>,
    published_at: Option<DateTime<Utc>>,
    effective_on: Option<NaiveDate>,
    acknowledged_at: Option<DateTime<Utc>>,
    channel: Option<String>,
}

/// The statement of [`price_sources`]: its values are `today`, the signer
/// and the quote. The change in force is
/// chosen by the rule the gate reads prices with
/// ([`super::change_in_force_sql`]).
pub fn price_sources_sql(backend: DbBackend) -> String {
    let placeholder = |n| crate::db::placeholder(backend, n);
    format!(
        "SELECT p.id AS product_id, p.sku, COALESCE(c.unit_price_minor, p.unit_price_minor) AS unit_price_minor, \
                p.unit_price_minor AS list_price_minor, \
                sn.id AS notice_id, sn.seq, sn.title, sn.published_at, c.effective_on, a.acknowledged_at, a.channel \
         FROM products p \
         LEFT JOIN notice_changes c ON c.id = {change} \
         LEFT JOIN notices sn ON sn.id = c.notice_id \
         LEFT JOIN acknowledgements a ON a.notice_id = sn.id AND a.user_id = {signer} \
         WHERE p.id IN (SELECT l.product_id FROM quote_lines l WHERE l.quote_id = {quote}) \
         ORDER BY p.sku, p.id",
        change = super::change_in_force_sql("nc.id", &placeholder(1)),
        signer = placeholder(2),
        quote = placeholder(3),
    )
}

/// The statement reading a notice with the signer's acknowledgement of it:
/// the notice, the signer.
fn notice_read_sql(backend: DbBackend) -> String {
    let placeholder = |n| crate::db::placeholder(backend, n);
    format!(
        "SELECT sn.seq, a.acknowledged_at, a.channel \
         FROM notices sn LEFT JOIN acknowledgements a ON a.notice_id = sn.id AND a.user_id = {signer} \
         WHERE sn.id = {notice}",
        notice = placeholder(1),
        signer = placeholder(2),
    )
}

/// A notice's number with the signer's acknowledgement of it.
#[derive(FromQueryResult)]
struct NoticeRead {
    seq: Option<i64>,
    acknowledged_at: Option<DateTime<Utc>>,
    channel: Option<String>,
}

/// For each product on quote `quote_id`, its price in force on `today` and
/// the notice that set it, with `signer`'s acknowledgement of that notice:
/// what a finalisation keeps so that the proof shows the source of every
/// price signed, not only the notices published since drafting. A line of
/// `lines` (the quote's, drafted at `drafted_at`) signed at another price,
/// which finance approved keeping, has that price's source too (see
/// [`crate::products::source_of_price`]).
pub(super) async fn price_sources(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
    signer: Uuid,
    today: NaiveDate,
    calendar: Calendar,
    lines: &[quote_lines::Model],
    drafted_at: DateTime<Utc>,
) -> Result<Vec<EvidencePrice>, StoreError> {
    let backend = conn.get_database_backend();
    let statement = Statement::from_sql_and_values(
        backend,
        price_sources_sql(backend),
        [today.into(), signer.into(), quote_id.into()],
    );
    let mut prices = Vec::new();
    // The clock, read once, for the first line signed at another price.
    let mut now = None;
    for row in Row::find_by_statement(statement).all(conn).await? {
        let mut signed: Vec<i64> = lines
            .iter()
            .filter(|l| l.product_id == row.product_id && l.unit_price_minor != row.unit_price_minor)
            .map(|l| l.unit_price_minor)
            .collect();
        signed.sort_unstable();
        signed.dedup();
        // Only under finance's approval of old prices: from the product's
        // published prices, the one the line took.
        let mut signed_at = Vec::with_capacity(signed.len());
        if !signed.is_empty() {
            let steps = crate::products::published_prices(conn, row.product_id, calendar).await?;
            let now = match now {
                Some(now) => now,
                None => *now.insert(crate::db::db_now(conn).await?),
            };
            for price in signed {
                let source =
                    crate::products::source_of_price(&steps, row.list_price_minor, price, drafted_at, now, calendar);
                let set_by = match source.map(|i| &steps[i]) {
                    Some(step) => {
                        let statement = Statement::from_sql_and_values(
                            backend,
                            notice_read_sql(backend),
                            [step.notice_id.into(), signer.into()],
                        );
                        let read = NoticeRead::find_by_statement(statement).one(conn).await?;
                        let Some(NoticeRead { seq: Some(seq), acknowledged_at, channel, .. }) = read else {
                            return Err(StoreError::Internal(format!("the notice {} has no number", step.notice_id)));
                        };
                        Some(PriceSetBy {
                            notice_id: step.notice_id,
                            seq,
                            title: step.title.clone(),
                            published_at: step.published_at,
                            effective_on: step.effective_on,
                            in_force_from: step.in_force_from,
                            acknowledged_at,
                            channel,
                        })
                    }
                    None => None,
                };
                signed_at.push(SignedPrice { unit_price_minor: price, set_by });
            }
        }
        let (product_id, sku, unit_price_minor) = (row.product_id, row.sku.clone(), row.unit_price_minor);
        prices.push(EvidencePrice { product_id, sku, unit_price_minor, set_by: set_by(row, calendar)?, signed_at });
    }
    Ok(prices)
}

/// The notice a row names as setting its price, if it names one.
fn set_by(r: Row, calendar: Calendar) -> Result<Option<PriceSetBy>, StoreError> {
    let Some(notice_id) = r.notice_id else { return Ok(None) };
    // A change setting a price is a published notice's: every column is there.
    match (r.seq, r.title, r.published_at, r.effective_on) {
        (Some(seq), Some(title), Some(published_at), Some(effective_on)) => Ok(Some(PriceSetBy {
            notice_id,
            seq,
            title,
            published_at,
            effective_on,
            in_force_from: calendar.takes_force_on(effective_on, published_at),
            acknowledged_at: r.acknowledged_at,
            channel: r.channel,
        })),
        _ => Err(StoreError::Internal(format!(
            "the notice {notice_id} setting a price has no number, title, publication or date"
        ))),
    }
}
