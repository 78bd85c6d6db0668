//! What the gate sees for one quote: the notices published since it was
//! drafted, its signer's acknowledgements of them, what each pending notice
//! does to the quote's prices, and the lines whose price is no longer in
//! force. Read-only; [`super`] takes the locks and writes the outcome.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::{
    Calendar, GateDecision, NoticeAck, PriceChange, PricedLine, PublishedNotice, decide, impact_of,
};
use sea_orm::sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Statement,
};
use uuid::Uuid;

use super::overrides::{covering_override, superseded_fingerprint, superseded_lines};
use crate::db::IN_LIST_CHUNK;
use crate::entity::{acknowledgements, notices, quote_lines, quotes};
use crate::notices::{PUBLISHED, load_changes_of};
use crate::quotes::{
    LoadedQuote, check_draft, check_visible, load_quote_sql, load_quote_values, load_visible_priced, loaded_quote,
};
use crate::views::{EvidenceNotice, GateView, ImpactView, LineImpactView, PendingNoticeView, PriceStepView};
use crate::{Actor, StoreError};

/// What the gate sees for one quote right now.
pub(super) struct Evaluation {
    pub view: GateView,
    pub evidence: Vec<EvidenceNotice>,
}

pub(crate) fn priced_lines(lines: &[quote_lines::Model]) -> Vec<PricedLine> {
    lines
        .iter()
        .map(|l| PricedLine {
            line_id: l.id,
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            discount_bp: l.discount_bp,
        })
        .collect()
}

/// The unit price of product `p` in force on `today` (both SQL
/// expressions): the latest published change effective by then (by
/// effective date, then publication order, then position in its notice),
/// else the list price. One correlated subquery, so a caller reads its rows
/// and their prices in one statement; the index on `(product_id,
/// effective_on)` makes it a short backward scan whatever the table's size.
pub(crate) fn price_in_force_sql(today: &str) -> String {
    format!("COALESCE({}, p.unit_price_minor)", change_in_force_sql("nc.unit_price_minor", today))
}

/// `column` of the published change to product `p` in force on `today`
/// (the one [`price_in_force_sql`] takes its price from), NULL when the list
/// price stands.
pub(crate) fn change_in_force_sql(column: &str, today: &str) -> String {
    format!(
        "(SELECT {column} FROM notice_changes nc JOIN notices n ON n.id = nc.notice_id \
           WHERE nc.product_id = p.id AND n.state = 'published' AND nc.effective_on <= {today} \
           ORDER BY nc.effective_on DESC, n.seq DESC, nc.position DESC LIMIT 1)"
    )
}

/// One notice published after a quote was drafted, with the signer's
/// acknowledgement of it if there is one, and (when asked for) one of its
/// price changes: a notice with several changes comes back as several rows.
#[derive(FromQueryResult)]
struct LaterNotice {
    id: Uuid,
    seq: Option<i64>,
    title: String,
    /// Not read by [`Reading::All`]: bodies run to thousands of characters,
    /// and the evidence does not keep them.
    body: Option<String>,
    published_at: Option<DateTime<Utc>>,
    acknowledged_at: Option<DateTime<Utc>>,
    channel: Option<String>,
    change_sku: Option<String>,
    change_unit_price_minor: Option<i64>,
    change_effective_on: Option<NaiveDate>,
}

/// Which notices published since drafting to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// Only those the signer has not acknowledged, with their price changes
    /// to the quote's products: enough to answer "what is pending", at a
    /// cost that grows with the pending notices, not with their length.
    Pending,
    /// All of them with the signer's acknowledgements, without bodies or
    /// price changes: the evidence a finalisation stores.
    All,
}

/// The notices published after `drafted_at`, in publication order, with
/// `signer`'s acknowledgements: one statement where there were two.
///
/// The cost grows with the notices since drafting and with nothing else: not
/// with the signer's acknowledgement history (which grows for years), nor
/// with the price changes ever published. Left to themselves, the planners
/// would rather read those whole: PostgreSQL hashed every acknowledgement the
/// signer ever made and scanned every price change, and SQLite scanned every
/// notice.
///
/// On PostgreSQL, the pending reading takes the signer's acknowledgements of
/// those notices as one range of `acknowledgements_user_published` (the
/// notice's `published_at` is copied into each acknowledgement) and keeps
/// the notices whose id is not in it; their price changes are a `LATERAL`
/// probe (`OFFSET 0` keeps it from being flattened into a join that scans
/// them all). The full reading, which finalisation stores as evidence,
/// probes each notice's acknowledgement by index. Every range is closed with
/// `< 'infinity'`, which excludes nothing: with a bound on both sides, the
/// planner estimates the range of an unknown parameter as narrow, not as a
/// third of the table, so the server keeps one generic plan for the prepared
/// statement instead of planning it anew on every call (half the statement's
/// cost). SQLite, which only nests loops, is told to take the `published_at`
/// range.
async fn later_notices(
    conn: &impl ConnectionTrait,
    loaded: &LoadedQuote,
    reading: Reading,
) -> Result<Vec<LaterNotice>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = later_notices_sql(reading, backend);
    let quote = &loaded.quote;
    let mut values = vec![quote.signer_id.into(), quote.drafted_at.into()];
    if reading == Reading::Pending {
        values.push(match backend {
            DbBackend::Postgres => quote.id.into(),
            // The SKUs of the lines read: the quote's lines are not read again.
            _ => serde_json::to_string(&line_skus(&loaded.lines))
                .map_err(|e| StoreError::Internal(format!("skus as JSON: {e}")))?
                .into(),
        });
    }
    Ok(LaterNotice::find_by_statement(Statement::from_sql_and_values(backend, sql, values)).all(conn).await?)
}

/// The products of `lines`, each once: the only ones whose changes a
/// pending notice's reading takes.
fn line_skus(lines: &[quote_lines::Model]) -> Vec<&str> {
    let mut skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    skus
}

/// The statement [`later_notices`] sends, its placeholders numbered: the
/// signer first, then `drafted_at`, and in the pending form the quote's
/// products, the only ones whose changes it reads of each notice (a notice
/// of 500 changes is a row or two for a quote of a few lines, not 500 rows,
/// each with the notice's text): on PostgreSQL the quote (its lines are read
/// in the statement's snapshot), on SQLite, where the quote's lines are read
/// by a statement of their own, their SKUs as a JSON array. The pending form
/// on PostgreSQL also returns each change's `change_position`, by which
/// [`quote_gate_sql`] orders the rows it embeds this statement's among. The
/// quote's SKUs there are an array read once for the statement (an
/// `InitPlan`), not a semi-join probing the quote's lines again for each
/// pending notice: 15–30 % more gate statements a second under `pgbench`.
pub fn later_notices_sql(reading: Reading, backend: DbBackend) -> String {
    match (reading, backend) {
        (Reading::Pending, DbBackend::Postgres) => format!(
            "SELECT n.id, n.seq, n.title, n.body, n.published_at, NULL AS acknowledged_at, NULL AS channel, \
               c.sku AS change_sku, c.unit_price_minor AS change_unit_price_minor, c.effective_on AS change_effective_on, \
               c.position AS change_position \
             FROM notices n \
             LEFT JOIN LATERAL (SELECT c.sku, c.unit_price_minor, c.effective_on, c.position FROM notice_changes c \
               WHERE c.notice_id = n.id AND c.sku = ANY(ARRAY(SELECT l.sku FROM quote_lines l WHERE l.quote_id = $3)) \
               OFFSET 0) c ON true \
             WHERE n.state = '{PUBLISHED}' AND n.published_at > $2 AND n.published_at < 'infinity' \
               AND n.id NOT IN (SELECT a.notice_id FROM acknowledgements a WHERE a.user_id = $1 \
                 AND a.notice_published_at > $2 AND a.notice_published_at < 'infinity') \
             ORDER BY n.seq, c.position"
        ),
        (Reading::Pending, _) => format!(
            "SELECT n.id, n.seq, n.title, n.body, n.published_at, NULL AS acknowledged_at, NULL AS channel, \
               c.sku AS change_sku, c.unit_price_minor AS change_unit_price_minor, c.effective_on AS change_effective_on \
             FROM notices n INDEXED BY notices_published_at LEFT JOIN notice_changes c ON c.notice_id = n.id \
               AND c.sku IN (SELECT value FROM json_each(?3)) \
             WHERE NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.user_id = ?1 AND a.notice_id = n.id) \
               AND n.state = '{PUBLISHED}' AND n.published_at > ?2 \
             ORDER BY n.seq, c.position"
        ),
        (Reading::All, DbBackend::Postgres) => format!(
            "SELECT n.id, n.seq, n.title, NULL AS body, n.published_at, a.acknowledged_at, a.channel, \
               NULL AS change_sku, NULL AS change_unit_price_minor, NULL AS change_effective_on \
             FROM notices n LEFT JOIN LATERAL (SELECT a.acknowledged_at, a.channel FROM acknowledgements a \
               WHERE a.user_id = $1 AND a.notice_id = n.id LIMIT 1) a ON true \
             WHERE n.state = '{PUBLISHED}' AND n.published_at > $2 AND n.published_at < 'infinity' \
             ORDER BY n.seq"
        ),
        (Reading::All, _) => format!(
            "SELECT n.id, n.seq, n.title, NULL AS body, n.published_at, a.acknowledged_at, a.channel, \
               NULL AS change_sku, NULL AS change_unit_price_minor, NULL AS change_effective_on \
             FROM notices n INDEXED BY notices_published_at \
             LEFT JOIN acknowledgements a ON a.user_id = ? AND a.notice_id = n.id \
             WHERE n.state = '{PUBLISHED}' AND n.published_at > ? \
             ORDER BY n.seq"
        ),
    }
}

/// For each of `drafts`, how many published notices its signer must still
/// acknowledge before it can be finalised: those published after it was
/// drafted that the signer has not acknowledged, as [`decide`] counts them.
/// Drafts with none are left out. One statement per [`IN_LIST_CHUNK`]
/// drafts, counting per draft in a subquery: its signer's acknowledgements
/// are then one index range, where a join of every draft with every notice
/// since drafting led PostgreSQL, at scale L, to hash the whole
/// acknowledgements table (326 ms for ten drafts, against 1 ms so).
pub(crate) async fn notices_to_acknowledge(
    conn: &impl ConnectionTrait,
    drafts: &[Uuid],
) -> Result<HashMap<Uuid, u64>, StoreError> {
    let mut counts = HashMap::new();
    for chunk in drafts.chunks(IN_LIST_CHUNK) {
        let query = notices_to_acknowledge_query(chunk);
        for row in conn.query_all(&query).await? {
            let id: Uuid = row.try_get("", "id")?;
            let pending: i64 = row.try_get("", "pending")?;
            if pending > 0 {
                counts.insert(id, u64::try_from(pending).unwrap_or_default());
            }
        }
    }
    Ok(counts)
}

/// [`notices_to_acknowledge`]'s statement for `drafts`.
fn notices_to_acknowledge_query(drafts: &[Uuid]) -> SelectStatement {
    let acknowledged = Query::select()
        .expr(Expr::value(1))
        .from(acknowledgements::Entity)
        .and_where(
            Expr::col((acknowledgements::Entity, acknowledgements::Column::UserId))
                .equals((quotes::Entity, quotes::Column::SignerId)),
        )
        .and_where(
            Expr::col((acknowledgements::Entity, acknowledgements::Column::NoticeId))
                .equals((notices::Entity, notices::Column::Id)),
        )
        .to_owned();
    let pending = Query::select()
        .expr(Expr::col((notices::Entity, notices::Column::Id)).count())
        .from(notices::Entity)
        .and_where(Expr::col((notices::Entity, notices::Column::State)).eq(PUBLISHED))
        .and_where(
            Expr::col((notices::Entity, notices::Column::PublishedAt))
                .gt(Expr::col((quotes::Entity, quotes::Column::DraftedAt))),
        )
        .and_where(Expr::exists(acknowledged).not())
        .to_owned();
    Query::select()
        .column((quotes::Entity, quotes::Column::Id))
        .expr_as(Expr::SubQuery(None, Box::new(pending.into())), "pending")
        .from(quotes::Entity)
        .and_where(Expr::col((quotes::Entity, quotes::Column::Id)).is_in(drafts.iter().copied()))
        .to_owned()
}

/// [`notices_to_acknowledge`]'s statement as PostgreSQL gets it for
/// `drafts`, values in place, for the benchmark to explain.
pub fn notices_to_acknowledge_sql(drafts: &[Uuid]) -> String {
    notices_to_acknowledge_query(drafts).to_string(PostgresQueryBuilder)
}

/// Checks a loaded quote against the notices published after it was
/// drafted, the signer's acknowledgements, and the prices in force today.
/// With [`Reading::Pending`] the evaluation has no evidence: it is for
/// showing the gate, not for finalising.
pub(super) async fn evaluate(
    conn: &impl ConnectionTrait,
    loaded: &LoadedQuote,
    reading: Reading,
) -> Result<Evaluation, StoreError> {
    let later = later_notices(conn, loaded, reading).await?;
    evaluate_read(conn, loaded, reading, later).await
}

/// [`evaluate`] with the notices already read (`later`, as
/// [`later_notices`] returns them for `reading`).
async fn evaluate_read(
    conn: &impl ConnectionTrait,
    loaded: &LoadedQuote,
    reading: Reading,
    later: Vec<LaterNotice>,
) -> Result<Evaluation, StoreError> {
    let LoadedQuote { quote, lines, .. } = loaded;

    // Rows are in `seq` order, a notice's change rows next to each other.
    let mut published: Vec<PublishedNotice> = Vec::new();
    let mut signer_acks: Vec<NoticeAck> = Vec::new();
    let mut by_id: HashMap<Uuid, &LaterNotice> = HashMap::new();
    let mut changes: HashMap<Uuid, Vec<PriceChange>> = HashMap::new();
    for n in &later {
        if let (Some(sku), Some(unit_price_minor), Some(effective_on)) =
            (&n.change_sku, n.change_unit_price_minor, n.change_effective_on)
        {
            changes.entry(n.id).or_default().push(PriceChange { sku: sku.clone(), unit_price_minor, effective_on });
        }
        if by_id.insert(n.id, n).is_some() {
            continue;
        }
        let (Some(seq), Some(published_at)) = (n.seq, n.published_at) else { continue };
        published.push(PublishedNotice { id: n.id, seq, published_at });
        if let Some(acknowledged_at) = n.acknowledged_at {
            signer_acks.push(NoticeAck { notice_id: n.id, acknowledged_at });
        }
    }

    let mut view = GateView {
        ready: false,
        expired: loaded.expired,
        signer_can_sign: loaded.signer_can_sign,
        pending: vec![],
        superseded: vec![],
        superseded_tag: String::new(),
        price_override: None,
    };
    view.superseded = superseded_lines(loaded);
    view.superseded_tag = superseded_fingerprint(&view.superseded);
    if !view.superseded.is_empty() {
        view.price_override = covering_override(conn, quote, &view.superseded).await?;
    }
    // The lines finance approved finalising at the prices they carry: what
    // a pending notice does to them is waived.
    let approved: Vec<Uuid> = match view.price_override {
        Some(_) => view.superseded.iter().map(|l| l.line_id).collect(),
        None => Vec::new(),
    };
    let mut evidence = Vec::new();
    match decide(quote.drafted_at, &published, &signer_acks) {
        GateDecision::Pending { pending } => {
            let mut bodies = HashMap::new();
            if reading == Reading::All {
                // Only a refusal needs them: finalising reads them then,
                // those of the quote's products, as the pending reading does.
                let ids: Vec<Uuid> = pending.iter().map(|p| p.id).collect();
                for (id, list) in load_changes_of(conn, &ids, Some(&line_skus(lines))).await? {
                    changes.insert(id, list.iter().map(PriceChange::from).collect());
                }
                for chunk in ids.chunks(IN_LIST_CHUNK) {
                    let read = notices::Entity::find()
                        .select_only()
                        .columns([notices::Column::Id, notices::Column::Body])
                        .filter(notices::Column::Id.is_in(chunk.iter().copied()))
                        .into_tuple::<(Uuid, String)>()
                        .all(conn)
                        .await?;
                    bodies.extend(read);
                }
            }
            let priced = priced_lines(lines);
            let in_force_by_sku: HashMap<&str, i64> =
                lines.iter().filter_map(|l| Some((l.sku.as_str(), *loaded.in_force.get(&l.product_id)?))).collect();
            // The last word on each day ahead the pending notices price this
            // quote's products on (one query, only when one prices ahead): a
            // correction published since may have set another price for it.
            let product_of: HashMap<&str, Uuid> = lines.iter().map(|l| (l.sku.as_str(), l.product_id)).collect();
            let last_words = match pending.iter().map(|p| p.published_at).min() {
                Some(first) => {
                    let ahead = pending.iter().flat_map(|p| changes.get(&p.id).into_iter().flatten());
                    let product = |sku: &str| product_of.get(sku).copied();
                    crate::products::last_words_ahead(conn, first, loaded.today, ahead, product).await?
                }
                None => crate::products::LastWords::default(),
            };
            let scheduled = |sku: &str, on| last_words.on(sku, on);
            for p in pending {
                let notice = by_id[&p.id];
                let published_on = loaded.calendar.date_of(p.published_at);
                let notice_changes = changes.remove(&p.id).unwrap_or_default();
                // A price a later publication replaced, by today or for its day, is history here.
                let in_force = |sku: &str| in_force_by_sku.get(sku).copied();
                let impact = impact_of(&priced, &notice_changes)
                    .overtaken(loaded.today, in_force)
                    .overtaken_later(loaded.today, scheduled)
                    .waived(loaded.today, |line| approved.contains(&line));
                view.pending.push(PendingNoticeView {
                    notice_id: p.id,
                    seq: p.seq,
                    title: notice.title.clone(),
                    body: bodies.remove(&p.id).or_else(|| notice.body.clone()).unwrap_or_default(),
                    published_at: p.published_at,
                    impact: ImpactView {
                        total_delta_minor: impact.total_delta_minor,
                        delta_while_valid_minor: impact.delta_while_valid(quote.valid_until, published_on),
                        change_days: impact.change_days(quote.valid_until, published_on),
                        lines: impact
                            .lines
                            .into_iter()
                            .map(|l| LineImpactView {
                                line_id: l.line_id,
                                sku: l.sku,
                                quantity: l.quantity,
                                old_unit_price_minor: l.old_unit_price_minor,
                                new_unit_price_minor: l.new_unit_price_minor,
                                effective_on: l.effective_on,
                                old_total_minor: l.old_total_minor,
                                new_total_minor: l.new_total_minor,
                                delta_minor: l.delta_minor,
                                overtaken_by_unit_price_minor: l.overtaken_by,
                                waived_by_approval: l.waived,
                                earlier: l
                                    .earlier
                                    .into_iter()
                                    .map(|s| PriceStepView {
                                        unit_price_minor: s.unit_price_minor,
                                        effective_on: s.effective_on,
                                        delta_minor: s.delta_minor,
                                        overtaken_by_unit_price_minor: s.overtaken_by,
                                    })
                                    .collect(),
                            })
                            .collect(),
                    },
                });
            }
        }
        GateDecision::Ready { checked } => {
            for (p, acknowledged_at) in checked {
                let notice = by_id[&p.id];
                evidence.push(EvidenceNotice {
                    notice_id: p.id,
                    seq: p.seq,
                    title: notice.title.clone(),
                    published_at: p.published_at,
                    acknowledged_at,
                    channel: notice.channel.clone().unwrap_or_default(),
                });
            }
        }
    }

    view.ready = view.pending.is_empty()
        && !view.expired
        && view.signer_can_sign
        && (view.superseded.is_empty() || view.price_override.is_some());
    Ok(Evaluation { view, evidence })
}

/// Why a finalised or cancelled quote has no gate to show.
const GATE_OF_A_CLOSED_QUOTE: &str = "has no gate to pass: only a draft can be finalised";

/// What finalising `id` would say now, for someone who may see the quote;
/// 409 `quote_not_draft` for a finalised or cancelled one.
/// On PostgreSQL one statement reads the quote, its lines with their prices
/// in force, and the notices its signer has not acknowledged
/// ([`quote_gate_sql`]); SQLite, in this process, reads them as two.
pub(super) async fn gate_view(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    calendar: Calendar,
) -> Result<GateView, StoreError> {
    let backend = conn.get_database_backend();
    if backend != DbBackend::Postgres {
        let loaded = load_visible_priced(conn, actor, id, calendar).await?;
        check_draft(&loaded.quote, GATE_OF_A_CLOSED_QUOTE)?;
        return Ok(evaluate(conn, &loaded, Reading::Pending).await?.view);
    }
    let values = load_quote_values(backend, id, calendar);
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, quote_gate_sql(), values)).await?;
    // The quote's rows first (they carry its id), then the notices'.
    let split = rows.iter().position(|row| !matches!(row.try_get::<Option<Uuid>>("", "q_id"), Ok(Some(_))));
    let (quote_rows, notice_rows) = rows.split_at(split.unwrap_or(rows.len()));
    let loaded = loaded_quote(quote_rows, calendar)?;
    check_visible(actor, &loaded.quote)?;
    check_draft(&loaded.quote, GATE_OF_A_CLOSED_QUOTE)?;
    let later = notice_rows.iter().map(|row| LaterNotice::from_query_result(row, "")).collect::<Result<_, _>>()?;
    Ok(evaluate_read(conn, &loaded, Reading::Pending, later).await?.view)
}

/// The gate check's statement on PostgreSQL (`$1` the quote, `$2` the
/// calendar's zone, as [`load_quote_sql`] takes them): the rows of
/// [`load_quote_sql`] and, after them, those of the pending reading of
/// [`later_notices_sql`] for the quote's signer and drafting time, in one
/// round trip where there were two. `FULL JOIN … ON false` puts the two row
/// sets one after the other, each with the other's columns empty; their
/// column names do not meet. Composed once, on first use: every gate check
/// sends it.
pub fn quote_gate_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let pg = DbBackend::Postgres;
        let later = later_notices_sql(Reading::Pending, pg)
            .replace("$1", "g.signer_id")
            .replace("$2", "g.drafted_at")
            .replace("$3", "g.id");
        format!(
            "WITH quote AS ({}), \
             later AS (SELECT later.* FROM quotes g, LATERAL ({later}) later WHERE g.id = $1) \
             SELECT * FROM quote FULL JOIN later ON false \
             ORDER BY q_id IS NULL, l_position, seq, change_position",
            load_quote_sql(pg),
        )
    });
    &SQL
}
