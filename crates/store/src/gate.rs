//! The gate: publication and finalisation, serialised in the database.
//!
//! Both take the single row of the `gate` table first: publication
//! exclusively (`FOR UPDATE`), finalisation shared (`FOR SHARE`), so
//! finalisations run side by side but never overlap a publication. Their
//! timestamps are read from the database clock *after* the lock is held, so
//! `published_at < finalised_at` exactly when the publication committed before
//! the finalisation looked. On SQLite every write transaction is `BEGIN
//! IMMEDIATE`, which already serialises them; the row lock is PostgreSQL's.
//!
//! Lock order is always gate → quote, and publication never locks a quote,
//! so the two cannot deadlock.

use std::collections::HashMap;

use chrono::NaiveDate;
use pricegate_domain::{GateDecision, NoticeAck, PriceChange, PricedLine, PublishedNotice, decide, impact_of};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::db::db_now;
use crate::entity::{acknowledgements, finalisations, gate, notices, price_overrides, quote_lines, quotes};
use crate::notices::{PUBLISHED, load_changes};
use crate::products::prices_in_force;
use crate::quotes::{DRAFT, load_quote_for_update, quote_view};
use crate::views::{
    EvidenceNotice, GateView, ImpactView, LineImpactView, OverrideView, PendingNoticeView, PublishedView, QuoteView,
    SupersededLineView,
};
use crate::{Actor, Store, StoreError};

#[derive(Clone, Copy)]
enum GateLock {
    /// Publication: nothing else may pass the gate meanwhile.
    Exclusive,
    /// Finalisation: many at once, but not during a publication.
    Shared,
}

async fn lock_gate(txn: &DatabaseTransaction, mode: GateLock) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let sql = match mode {
            GateLock::Exclusive => "SELECT last_seq FROM gate WHERE id = 1 FOR UPDATE",
            GateLock::Shared => "SELECT last_seq FROM gate WHERE id = 1 FOR SHARE",
        };
        txn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?
            .ok_or_else(|| StoreError::Internal("the gate row is missing; run the migrations".into()))?;
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

/// Checks `quote` against the notices published after it was drafted, the
/// signer's acknowledgements, and the prices in force on `today`.
pub(crate) async fn evaluate(
    conn: &impl ConnectionTrait,
    quote: &quotes::Model,
    lines: &[quote_lines::Model],
    today: NaiveDate,
) -> Result<Evaluation, StoreError> {
    let later: Vec<notices::Model> = notices::Entity::find()
        .filter(notices::Column::State.eq(PUBLISHED))
        .filter(notices::Column::PublishedAt.gt(quote.drafted_at))
        .order_by_asc(notices::Column::Seq)
        .all(conn)
        .await?;
    let acks: HashMap<Uuid, acknowledgements::Model> = if later.is_empty() {
        HashMap::new()
    } else {
        acknowledgements::Entity::find()
            .filter(acknowledgements::Column::UserId.eq(quote.signer_id))
            .filter(acknowledgements::Column::NoticeId.is_in(later.iter().map(|n| n.id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|a| (a.notice_id, a))
            .collect()
    };
    let published: Vec<PublishedNotice> = later
        .iter()
        .filter_map(|n| Some(PublishedNotice { id: n.id, seq: n.seq?, published_at: n.published_at? }))
        .collect();
    let signer_acks: Vec<NoticeAck> =
        acks.values().map(|a| NoticeAck { notice_id: a.notice_id, acknowledged_at: a.acknowledged_at }).collect();
    let by_id: HashMap<Uuid, &notices::Model> = later.iter().map(|n| (n.id, n)).collect();

    let mut view = GateView { ready: false, pending: vec![], superseded: vec![], price_override: None };
    let mut evidence = Vec::new();
    match decide(quote.drafted_at, &published, &signer_acks) {
        GateDecision::Pending { pending } => {
            let ids: Vec<Uuid> = pending.iter().map(|p| p.id).collect();
            let mut changes = load_changes(conn, &ids).await?;
            let priced = priced_lines(lines);
            for p in pending {
                let notice = by_id[&p.id];
                let notice_changes: Vec<PriceChange> = changes
                    .remove(&p.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| PriceChange {
                        sku: c.sku,
                        unit_price_minor: c.unit_price_minor,
                        effective_on: c.effective_on,
                    })
                    .collect();
                let impact = impact_of(&priced, &notice_changes);
                view.pending.push(PendingNoticeView {
                    notice_id: p.id,
                    seq: p.seq,
                    title: notice.title.clone(),
                    body: notice.body.clone(),
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
                evidence.push(EvidenceNotice {
                    notice_id: p.id,
                    seq: p.seq,
                    title: by_id[&p.id].title.clone(),
                    published_at: p.published_at,
                    acknowledged_at,
                    channel: acks.get(&p.id).map(|a| a.channel.clone()).unwrap_or_default(),
                });
            }
        }
    }

    let product_ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let in_force = prices_in_force(conn, Some(&product_ids), today).await?;
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
    /// earlier needs its signer's acknowledgement of this notice.
    pub async fn publish_notice(&self, actor: &Actor, id: Uuid) -> Result<PublishedView, StoreError> {
        let txn = self.begin_write().await?;
        lock_gate(&txn, GateLock::Exclusive).await?;
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
        if let Some(mail) = &self.mail {
            crate::outbox::enqueue_publication(&txn, mail, &notice, published_at).await?;
        }
        txn.commit().await?;
        Ok(PublishedView { id, state: PUBLISHED.into(), seq, published_at })
    }

    /// What finalising would say now, without finalising.
    pub async fn quote_gate(&self, actor: &Actor, id: Uuid) -> Result<GateView, StoreError> {
        let (quote, lines) = crate::quotes::load_visible(&self.db, actor, id).await?;
        let today = db_now(&self.db).await?.date_naive();
        Ok(evaluate(&self.db, &quote, &lines, today).await?.view)
    }

    /// Finalises a draft if, and only if, its signer has acknowledged every
    /// notice published since it was drafted (and no line carries a superseded
    /// price without a finance override). A refusal is audited and committed.
    pub async fn finalise_quote(&self, actor: &Actor, id: Uuid) -> Result<QuoteView, StoreError> {
        let txn = self.begin_write().await?;
        lock_gate(&txn, GateLock::Shared).await?;
        let (quote, lines) = load_quote_for_update(&txn, id).await?;
        if quote.signer_id != actor.id {
            return Err(StoreError::forbidden("not_signer", "Only the quote's signer can finalise it."));
        }
        if quote.state != DRAFT {
            return Err(StoreError::conflict(
                "quote_not_draft",
                format!("This quote is {} and cannot be finalised.", quote.state),
            ));
        }
        let today = db_now(&txn).await?.date_naive();
        let Evaluation { view, evidence } = evaluate(&txn, &quote, &lines, today).await?;
        // Read after the notices and acknowledgements: everything the check saw
        // was committed before this instant, so every acknowledgement in the
        // evidence precedes `finalised_at`.
        let finalised_at = db_now(&txn).await?;

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
            record(
                &txn,
                AuditEntry {
                    at: finalised_at,
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

        let evidence_json = json!({
            "notices": evidence,
            "override": view.price_override,
        });
        finalisations::Entity::insert(finalisations::ActiveModel {
            quote_id: Set(id),
            finalised_by: Set(actor.id),
            finalised_at: Set(finalised_at),
            evidence: Set(evidence_json),
            override_id: Set(view.price_override.as_ref().map(|o| o.id)),
        })
        .exec_without_returning(&txn)
        .await?;
        quotes::Entity::update(quotes::ActiveModel {
            id: Set(id),
            state: Set("finalised".into()),
            finalised_at: Set(Some(finalised_at)),
            updated_at: Set(finalised_at),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
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
                    "override": view.price_override.as_ref().map(|o| o.id),
                }),
            },
        )
        .await?;
        let quote = quotes::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::not_found("quote"))?;
        let view = quote_view(&txn, quote, lines).await?;
        txn.commit().await?;
        Ok(view)
    }
}
