//! Where each price a finalisation signs came from: the price list or a
//! published notice, with the signer's acknowledgement of that notice.

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::Calendar;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::StoreError;
use crate::views::{EvidencePrice, PriceSetBy};

/// One product of the quote with the change in force on its day, if any.
#[derive(FromQueryResult)]
struct Row {
    product_id: Uuid,
    sku: String,
    unit_price_minor: i64,
    notice_id: Option<Uuid>,
    seq: Option<i64>,
    title: Option<String>,
    published_at: Option<DateTime<Utc>>,
    effective_on: Option<NaiveDate>,
    acknowledged_at: Option<DateTime<Utc>>,
    channel: Option<String>,
}

/// The statement of [`price_sources`]: `today`, the signer, the quote, in
/// that order (SQLite's `?` are taken in order). The change in force is
/// chosen by the rule the gate reads prices with
/// ([`super::change_in_force_sql`]).
pub fn price_sources_sql(backend: DbBackend) -> String {
    let placeholder = |n| crate::db::placeholder(backend, n);
    format!(
        "SELECT p.id AS product_id, p.sku, COALESCE(c.unit_price_minor, p.unit_price_minor) AS unit_price_minor, \
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

/// For each product on quote `quote_id`, its price in force on `today` and
/// the notice that set it, with `signer`'s acknowledgement of that notice:
/// what a finalisation keeps so that the proof shows the source of every
/// price signed, not only the notices published since drafting.
pub(super) async fn price_sources(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
    signer: Uuid,
    today: NaiveDate,
    calendar: Calendar,
) -> Result<Vec<EvidencePrice>, StoreError> {
    let backend = conn.get_database_backend();
    let statement = Statement::from_sql_and_values(
        backend,
        price_sources_sql(backend),
        [today.into(), signer.into(), quote_id.into()],
    );
    let rows = Row::find_by_statement(statement).all(conn).await?;
    rows.into_iter()
        .map(|r| {
            // A change in force is a published notice's: every column is there.
            let set_by = match r.notice_id {
                None => None,
                Some(notice_id) => match (r.seq, r.title, r.published_at, r.effective_on) {
                    (Some(seq), Some(title), Some(published_at), Some(effective_on)) => Some(PriceSetBy {
                        notice_id,
                        seq,
                        title,
                        published_at,
                        effective_on,
                        in_force_from: calendar.takes_force_on(effective_on, published_at),
                        acknowledged_at: r.acknowledged_at,
                        channel: r.channel,
                    }),
                    _ => {
                        return Err(StoreError::Internal(format!(
                            "the notice {notice_id} setting a price in force has no number, title, publication or date"
                        )));
                    }
                },
            };
            Ok(EvidencePrice { product_id: r.product_id, sku: r.sku, unit_price_minor: r.unit_price_minor, set_by })
        })
        .collect()
}
