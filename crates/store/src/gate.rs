//! The gate: publication and finalisation, serialised in the database.
//!
//! On PostgreSQL both first take the gate lock, a transaction-scoped advisory
//! lock on one key: publication exclusively, finalisation shared,
//! so finalisations run side by side but never overlap a publication, across
//! every server process on the database. Their timestamps are read from the
//! database clock *after* the lock is held, so `published_at < finalised_at`
//! exactly when the publication committed before the finalisation looked. On
//! SQLite every write transaction is `BEGIN IMMEDIATE`, which already
//! serialises them.
//!
//! The lock used to be a row lock on the `gate` table's one row (`FOR
//! UPDATE` / `FOR SHARE`). Each shared row lock rewrites the row's lock
//! word, which concurrent holders share through a MultiXact, so every
//! finalisation queued on one row and wrote WAL for it: in a `pgbench` script
//! of lock-then-commit at 16 clients, 9,100 transactions/s against 27,800
//! with the advisory lock, whose holders only meet in the lock manager. The
//! semantics (shared/exclusive, released at commit or rollback, seen by the
//! deadlock detector) are the same. The row still holds `last_seq`.
//!
//! Lock order is always gate → quote, and publication never locks a quote,
//! so the two cannot deadlock.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use pricegate_domain::{GateDecision, NoticeAck, PriceChange, PricedLine, PublishedNotice, decide, impact_of};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, Refused, record};
use crate::db::db_now;
use crate::entity::{gate, notices, price_overrides, quote_lines, quotes};
use crate::notices::{PUBLISHED, load_changes};
use crate::quotes::{DRAFT, LoadedQuote, load_quote, to_view};
use crate::views::{
    EvidenceNotice, EvidenceView, GateView, ImpactView, LineImpactView, OverrideView, PendingNoticeView, PublishedView,
    QuoteView, SupersededLineView,
};
use crate::{Actor, Store, StoreError};

/// The key of the advisory lock that serialises publication and
/// finalisation on PostgreSQL: "pricegat" in ASCII, as a bigint. Advisory
/// keys are per database, so it only has to be unique among Pricegate's own.
/// A macro, so that the statements below spell it once.
macro_rules! gate_lock_key {
    () => {
        "8102654555216896372"
    };
}

/// Publication's lock: nothing else may pass the gate meanwhile.
const LOCK_GATE_EXCLUSIVELY: &str = concat!("SELECT pg_advisory_xact_lock(", gate_lock_key!(), ")");

async fn lock_gate_exclusively(txn: &DatabaseTransaction) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(DbBackend::Postgres, LOCK_GATE_EXCLUSIVELY)).await?;
    }
    Ok(())
}

/// What the gate sees for one quote right now.
pub(crate) struct Evaluation {
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
    format!(
        "COALESCE((SELECT nc.unit_price_minor FROM notice_changes nc JOIN notices n ON n.id = nc.notice_id \
           WHERE nc.product_id = p.id AND n.state = 'published' AND nc.effective_on <= {today} \
           ORDER BY nc.effective_on DESC, n.seq DESC, nc.position DESC LIMIT 1), p.unit_price_minor)"
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
    /// Only those the signer has not acknowledged, with their price changes:
    /// enough to answer "what is pending", at a cost that grows with the
    /// pending notices.
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
    drafted_at: DateTime<Utc>,
    signer: Uuid,
    reading: Reading,
) -> Result<Vec<LaterNotice>, StoreError> {
    let backend = conn.get_database_backend();
    let sql = later_notices_sql(reading, backend);
    Ok(LaterNotice::find_by_statement(Statement::from_sql_and_values(backend, sql, [signer.into(), drafted_at.into()]))
        .all(conn)
        .await?)
}

/// The statement [`later_notices`] sends: two placeholders, the signer's
/// first in every form, then `drafted_at`.
pub fn later_notices_sql(reading: Reading, backend: DbBackend) -> String {
    match (reading, backend) {
        (Reading::Pending, DbBackend::Postgres) => format!(
            "SELECT n.id, n.seq, n.title, n.body, n.published_at, NULL AS acknowledged_at, NULL AS channel, \
               c.sku AS change_sku, c.unit_price_minor AS change_unit_price_minor, c.effective_on AS change_effective_on \
             FROM notices n \
             LEFT JOIN LATERAL (SELECT c.sku, c.unit_price_minor, c.effective_on, c.position FROM notice_changes c \
               WHERE c.notice_id = n.id OFFSET 0) c ON true \
             WHERE n.state = '{PUBLISHED}' AND n.published_at > $2 AND n.published_at < 'infinity' \
               AND n.id NOT IN (SELECT a.notice_id FROM acknowledgements a WHERE a.user_id = $1 \
                 AND a.notice_published_at > $2 AND a.notice_published_at < 'infinity') \
             ORDER BY n.seq, c.position"
        ),
        (Reading::Pending, _) => format!(
            "SELECT n.id, n.seq, n.title, n.body, n.published_at, NULL AS acknowledged_at, NULL AS channel, \
               c.sku AS change_sku, c.unit_price_minor AS change_unit_price_minor, c.effective_on AS change_effective_on \
             FROM notices n INDEXED BY notices_published_at LEFT JOIN notice_changes c ON c.notice_id = n.id \
             WHERE NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.user_id = ? AND a.notice_id = n.id) \
               AND n.state = '{PUBLISHED}' AND n.published_at > ? \
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

/// Checks a loaded quote against the notices published after it was
/// drafted, the signer's acknowledgements, and the prices in force today.
/// With [`Reading::Pending`] the evaluation has no evidence: it is for
/// showing the gate, not for finalising.
async fn evaluate(
    conn: &impl ConnectionTrait,
    loaded: &LoadedQuote,
    reading: Reading,
) -> Result<Evaluation, StoreError> {
    let LoadedQuote { quote, lines, in_force, .. } = loaded;
    let later = later_notices(conn, quote.drafted_at, quote.signer_id, reading).await?;

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

    let mut view = GateView { ready: false, pending: vec![], superseded: vec![], price_override: None };
    let mut evidence = Vec::new();
    match decide(quote.drafted_at, &published, &signer_acks) {
        GateDecision::Pending { pending } => {
            let mut bodies = HashMap::new();
            if reading == Reading::All {
                // Only a refusal needs them: finalising reads them then.
                let ids: Vec<Uuid> = pending.iter().map(|p| p.id).collect();
                for (id, list) in load_changes(conn, &ids).await? {
                    changes.insert(id, list.iter().map(PriceChange::from).collect());
                }
                bodies = notices::Entity::find()
                    .select_only()
                    .columns([notices::Column::Id, notices::Column::Body])
                    .filter(notices::Column::Id.is_in(ids))
                    .into_tuple::<(Uuid, String)>()
                    .all(conn)
                    .await?
                    .into_iter()
                    .collect();
            }
            let priced = priced_lines(lines);
            for p in pending {
                let notice = by_id[&p.id];
                let notice_changes = changes.remove(&p.id).unwrap_or_default();
                let impact = impact_of(&priced, &notice_changes);
                view.pending.push(PendingNoticeView {
                    notice_id: p.id,
                    seq: p.seq,
                    title: notice.title.clone(),
                    body: bodies.remove(&p.id).or_else(|| notice.body.clone()).unwrap_or_default(),
                    published_at: p.published_at,
                    impact: ImpactView {
                        total_delta_minor: impact.total_delta_minor,
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

    view.superseded = lines
        .iter()
        .filter_map(|l| {
            let current = *in_force.get(&l.product_id)?;
            (current != l.unit_price_minor).then(|| SupersededLineView {
                line_id: l.id,
                sku: l.sku.clone(),
                quoted_unit_price_minor: l.unit_price_minor,
                current_unit_price_minor: current,
            })
        })
        .collect();
    if !view.superseded.is_empty() {
        view.price_override = latest_override(conn, quote.id).await?;
    }
    view.ready = view.pending.is_empty() && (view.superseded.is_empty() || view.price_override.is_some());
    Ok(Evaluation { view, evidence })
}

pub(crate) async fn latest_override(
    conn: &impl ConnectionTrait,
    quote_id: Uuid,
) -> Result<Option<OverrideView>, StoreError> {
    Ok(price_overrides::Entity::find()
        .filter(price_overrides::Column::QuoteId.eq(quote_id))
        .order_by_desc(price_overrides::Column::CreatedAt)
        .one(conn)
        .await?
        .map(|o| OverrideView { id: o.id, approved_by: o.approved_by, reason: o.reason, created_at: o.created_at }))
}

impl Store {
    /// Publishes a draft: assigns the next `seq` and `published_at` under the
    /// exclusive gate lock. From the moment this commits, every quote drafted
    /// earlier needs its signer's acknowledgement of this notice. A refusal
    /// (unknown notice, already published) is audited once the gate is free.
    pub async fn publish_notice(&self, actor: &Actor, id: Uuid) -> Result<PublishedView, StoreError> {
        let published = self.publish_under_gate(actor, id).await;
        let refused = Refused {
            actor_id: Some(actor.id),
            action: "notice.publish_refused",
            subject_type: "notice",
            subject_id: Some(id),
            detail: json!({}),
        };
        self.audit_refusal(refused, published).await
    }

    async fn publish_under_gate(&self, actor: &Actor, id: Uuid) -> Result<PublishedView, StoreError> {
        let txn = self.begin_write().await?;
        lock_gate_exclusively(&txn).await?;
        let notice =
            notices::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or(StoreError::not_found("notice"))?;
        if notice.state == PUBLISHED {
            return Err(StoreError::conflict("notice_published", "This notice is already published."));
        }
        let last_seq = gate::Entity::find_by_id(1)
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Internal("the gate row is missing; run the migrations".into()))?
            .last_seq;
        let seq = last_seq + 1;
        gate::Entity::update(gate::ActiveModel { id: Set(1), last_seq: Set(seq) }).exec(&txn).await?;
        let published_at = db_now(&txn).await?;
        notices::Entity::update(notices::ActiveModel {
            id: Set(id),
            state: Set(PUBLISHED.into()),
            seq: Set(Some(seq)),
            published_at: Set(Some(published_at)),
            published_by: Set(Some(actor.id)),
            updated_at: Set(published_at),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        record(
            &txn,
            AuditEntry {
                at: published_at,
                actor_id: Some(actor.id),
                action: "notice.published",
                subject_type: "notice",
                subject_id: Some(id),
                detail: json!({ "seq": seq, "title": notice.title }),
            },
        )
        .await?;
        if self.mail.is_some() {
            crate::outbox::owe_publication_mail(&txn, &notice, published_at).await?;
        }
        txn.commit().await?;
        Ok(PublishedView { id, state: PUBLISHED.into(), seq, published_at })
    }

    /// What finalising would say now, without finalising. Two statements
    /// after authentication: the quote with its lines and prices in force,
    /// then the notices its signer has not acknowledged with their changes.
    pub async fn quote_gate(&self, actor: &Actor, id: Uuid) -> Result<GateView, StoreError> {
        let loaded = crate::quotes::load_visible_priced(&self.db, actor, id).await?;
        Ok(evaluate(&self.db, &loaded, Reading::Pending).await?.view)
    }

    /// Finalises a draft if, and only if, its signer has acknowledged every
    /// notice published since it was drafted (and no line carries a superseded
    /// price without a finance override). A refusal is audited and committed.
    pub async fn finalise_quote(&self, actor: &Actor, id: Uuid) -> Result<QuoteView, StoreError> {
        let txn = self.begin_write().await?;
        lock_gate_and_quote(&txn, id).await?;
        // After the locks: the lines are as the last edit committed them.
        let loaded = load_quote(&txn, id).await?;
        let quote = &loaded.quote;
        if quote.signer_id != actor.id {
            return Err(StoreError::forbidden("not_signer", "Only the quote's signer can finalise it."));
        }
        if quote.state != DRAFT {
            return Err(StoreError::conflict(
                "quote_not_draft",
                format!("This quote is {} and cannot be finalised.", quote.state),
            ));
        }
        let Evaluation { view, evidence } = evaluate(&txn, &loaded, Reading::All).await?;

        let refusal = if !view.pending.is_empty() {
            Some(StoreError::PendingAcknowledgements(Box::new(view.clone())))
        } else if !view.ready {
            Some(StoreError::conflict(
                "superseded_prices",
                "Some lines carry a price that is no longer in force: reprice the quote, or ask finance to approve an override.",
            ))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let at = db_now(&txn).await?;
            record(
                &txn,
                AuditEntry {
                    at,
                    actor_id: Some(actor.id),
                    action: "quote.finalise_refused",
                    subject_type: "quote",
                    subject_id: Some(id),
                    detail: json!({
                        "pending": view.pending.iter().map(|p| p.notice_id).collect::<Vec<_>>(),
                        "superseded": view.superseded.iter().map(|l| l.sku.clone()).collect::<Vec<_>>(),
                    }),
                },
            )
            .await?;
            txn.commit().await?;
            return Err(refusal);
        }

        let override_id = view.price_override.as_ref().map(|o| o.id);
        let stored =
            serde_json::to_string(&StoredEvidence { notices: &evidence, price_override: &view.price_override })
                .map_err(|e| StoreError::Internal(format!("evidence not serialisable: {e}")))?;
        // Stamped after the notices and acknowledgements were read: everything
        // the check saw was committed before this instant, so every
        // acknowledgement in the evidence precedes `finalised_at`.
        let (quote, finalised_at) = record_finalisation(&txn, id, actor.id, stored, override_id).await?;
        record(
            &txn,
            AuditEntry {
                at: finalised_at,
                actor_id: Some(actor.id),
                action: "quote.finalised",
                subject_type: "quote",
                subject_id: Some(id),
                detail: json!({
                    "notices": evidence.iter().map(|e| e.notice_id).collect::<Vec<_>>(),
                    "override": override_id,
                }),
            },
        )
        .await?;
        txn.commit().await?;
        let evidence = EvidenceView {
            finalised_by: actor.id,
            finalised_at,
            notices: evidence,
            price_override: view.price_override,
        };
        Ok(to_view(quote, loaded.lines, Some(evidence)))
    }
}

/// The statement of [`lock_gate_and_quote`] (PostgreSQL; `$1` the quote).
/// The row lock on the quote is taken by the plan's top node, on the rows
/// the join returns, so after the join has taken the gate lock.
pub const LOCK_GATE_AND_QUOTE: &str = concat!(
    "SELECT q.id FROM (SELECT pg_advisory_xact_lock_shared(",
    gate_lock_key!(),
    ")) g, quotes q WHERE q.id = $1 FOR UPDATE OF q"
);

/// Finalisation's locks: the gate shared, then the quote's row exclusively,
/// in one statement on PostgreSQL. SQLite's write transaction already holds
/// the only write lock there is.
async fn lock_gate_and_quote(txn: &DatabaseTransaction, id: Uuid) -> Result<(), StoreError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, LOCK_GATE_AND_QUOTE, [id.into()]))
        .await?
        .ok_or(StoreError::not_found("quote"))?;
    Ok(())
}

/// The finalisation record's `evidence`, as [`crate::quotes`] reads it back
/// into an [`EvidenceView`].
#[derive(serde::Serialize)]
struct StoredEvidence<'a> {
    notices: &'a [EvidenceNotice],
    #[serde(rename = "override")]
    price_override: &'a Option<OverrideView>,
}

/// The statement [`record_finalisation`] sends on PostgreSQL: `$1` the
/// quote, `$2` the signer, `$3` the evidence as JSON text, `$4` the override.
pub const RECORD_FINALISATION: &str = "WITH f AS (INSERT INTO finalisations \
       (quote_id, finalised_by, finalised_at, evidence, override_id) \
       VALUES ($1, $2, date_trunc('microseconds', clock_timestamp()), CAST($3 AS json), $4) RETURNING finalised_at) \
     UPDATE quotes SET state = 'finalised', finalised_at = f.finalised_at, updated_at = f.finalised_at \
     FROM f WHERE quotes.id = $1 RETURNING quotes.*";

/// Writes the finalisation record and marks the quote finalised, stamping
/// both with the database clock read now, which it returns with the quote.
/// On PostgreSQL that is one statement, the clock read inside it. The
/// evidence goes as JSON text into the `json` column, parsed once there.
async fn record_finalisation(
    txn: &DatabaseTransaction,
    id: Uuid,
    finalised_by: Uuid,
    evidence: String,
    override_id: Option<Uuid>,
) -> Result<(quotes::Model, DateTime<Utc>), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                RECORD_FINALISATION,
                [id.into(), finalised_by.into(), evidence.into(), override_id.into()],
            ))
            .await?
            .ok_or(StoreError::not_found("quote"))?;
        let quote = quotes::Model::from_query_result(&row, "")?;
        let finalised_at =
            quote.finalised_at.ok_or_else(|| StoreError::Internal("finalised quote without finalised_at".into()))?;
        return Ok((quote, finalised_at));
    }
    let finalised_at = db_now(txn).await?;
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "INSERT INTO finalisations (quote_id, finalised_by, finalised_at, evidence, override_id) VALUES (?, ?, ?, ?, ?)",
        [id.into(), finalised_by.into(), finalised_at.into(), evidence.into(), override_id.into()],
    ))
    .await?;
    let quote = quotes::Entity::update(quotes::ActiveModel {
        id: Set(id),
        state: Set("finalised".into()),
        finalised_at: Set(Some(finalised_at)),
        updated_at: Set(finalised_at),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok((quote, finalised_at))
}
