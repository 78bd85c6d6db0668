//! The gate: publication and finalisation, serialised in the database.
//!
//! On PostgreSQL both first take the gate lock, a transaction-scoped advisory
//! lock on one key: publication exclusively, finalisation shared,
//! so finalisations run side by side but never overlap a publication, across
//! every server process on the database. Drafting a quote takes it shared
//! too (see [`lock_gate_shared`]), so a quote is drafted wholly before or
//! wholly after each publication. Their timestamps are read from the
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

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult,
    QuerySelect, Statement,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, Refused, record};
use crate::db::db_now;
use crate::entity::{finalisations, gate, notices, quotes};
use crate::notices::{PUBLISHED, check_changes_can_take_force};
use crate::quotes::{check_draft, load_quote, to_view};
use crate::views::{
    EvidenceNotice, EvidencePrice, EvidenceView, GateView, OverrideView, PublishedView, QuoteView, SignedQuoteView,
    still_as_seen,
};
use crate::{Actor, Store, StoreError};

mod evaluate;
pub(crate) mod overrides;
mod prices;

pub use overrides::superseded_fingerprint;

use evaluate::{Evaluation, evaluate, gate_view};
pub use evaluate::{Reading, later_notices_sql, notices_to_acknowledge_sql, quote_gate_sql};
pub(crate) use evaluate::{change_in_force_sql, notices_to_acknowledge, price_in_force_sql, priced_lines};
pub(crate) use overrides::{
    CoveredPrice, covering_covers, covering_override, superseded_line, superseded_lines, superseded_of,
};
pub use prices::price_sources_sql;

/// The key of the advisory lock that serialises publication and
/// finalisation on PostgreSQL: "pricegat" in ASCII, as a bigint. Advisory
/// keys are per database, so it only has to be unique among Pricegate's own.
/// A macro, so that the statements below spell it once.
macro_rules! gate_lock_key {
    () => {
        "8102654555216896372"
    };
}

/// Whether the clock may have stepped back: the gate reads "published since
/// drafted" by time (`published_at > drafted_at`), so a stamp taken under the
/// gate lock is never at or before the last one it must follow. A database
/// clock that steps back (NTP, a restored virtual machine, a failover to a
/// server whose clock is behind) would otherwise stamp a notice published
/// after a draft as older than it, and the gate would not ask about it.
/// `after` is the latest stamp taken before, under the lock: the result is
/// the clock, or one microsecond after `after`, whichever is later.
pub(crate) fn in_commit_order(now: DateTime<Utc>, after: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match after {
        Some(after) if after >= now => {
            if after - now > chrono::Duration::minutes(1) {
                tracing::warn!(clock = %now, stamped = %after, "the clock reads earlier than a stamp already taken; stamping after that one, to keep their order");
            }
            after + chrono::Duration::microseconds(1)
        }
        _ => now,
    }
}

/// The latest `published_at`, or with `and_quotes` also the latest
/// `drafted_at` and `finalised_at`: each one index's last entry.
async fn latest_stamp(conn: &impl ConnectionTrait, and_quotes: bool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let published = latest_of::<notices::Entity>(conn, notices::Column::PublishedAt).await?;
    if !and_quotes {
        return Ok(published);
    }
    let drafted = latest_of::<quotes::Entity>(conn, quotes::Column::DraftedAt).await?;
    let finalised = latest_of::<finalisations::Entity>(conn, finalisations::Column::FinalisedAt).await?;
    Ok(published.max(drafted).max(finalised))
}

/// The greatest value of a time `column` of `E`, if any.
async fn latest_of<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    column: E::Column,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(E::find()
        .select_only()
        .column_as(column.max(), "latest")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await?
        .flatten())
}

/// `drafted_at` for a quote drafted now, under the gate lock held shared:
/// after every publication that committed before it (see [`in_commit_order`]).
pub(crate) async fn drafting_stamp(txn: &DatabaseTransaction) -> Result<DateTime<Utc>, StoreError> {
    Ok(in_commit_order(db_now(txn).await?, latest_stamp(txn, false).await?))
}

/// The time of a change made under the gate held exclusively (a signer's
/// deactivation), after every publication, drafting and finalisation that
/// committed before it, whatever the clock says, as a publication's is.
pub(crate) async fn stamp_under_exclusive_gate(txn: &DatabaseTransaction) -> Result<DateTime<Utc>, StoreError> {
    Ok(in_commit_order(db_now(txn).await?, latest_stamp(txn, true).await?))
}

/// Publication's lock (and a signer's deactivation's): nothing else may
/// pass the gate meanwhile.
pub const LOCK_GATE_EXCLUSIVELY: &str = concat!("SELECT pg_advisory_xact_lock(", gate_lock_key!(), ")");

pub(crate) async fn lock_gate_exclusively(txn: &DatabaseTransaction) -> Result<(), StoreError> {
    lock_on_postgres(txn, LOCK_GATE_EXCLUSIVELY).await
}

/// Runs one of the gate's lock statements; SQLite's write transaction
/// already holds the only write lock there is.
async fn lock_on_postgres(txn: &DatabaseTransaction, statement: &'static str) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(DbBackend::Postgres, statement)).await?;
    }
    Ok(())
}

/// Drafting's lock: the gate shared, so that a quote is drafted wholly
/// before or wholly after any publication. Its `drafted_at` is read after
/// the lock is held and its prices after that, so a publication stamped
/// earlier has committed and its prices are the ones the quote takes, and a
/// publication stamped later waits for the quote and needs its signer's
/// acknowledgement. Without it, a quote drafted between a publication's
/// stamp and its commit would be stamped after the notice yet priced
/// without it, and the gate would never ask about it.
const LOCK_GATE_SHARED: &str = concat!("SELECT pg_advisory_xact_lock_shared(", gate_lock_key!(), ")");

pub(crate) async fn lock_gate_shared(txn: &DatabaseTransaction) -> Result<(), StoreError> {
    lock_on_postgres(txn, LOCK_GATE_SHARED).await
}

/// What the sender of a publication was shown, as far as they say.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishSeen<'a> {
    /// The draft's revisions ([`crate::views::NoticeView::revision`]) the
    /// sender accepts: a confirmation's one, an `If-Match` list.
    pub revisions: Option<&'a [i64]>,
    /// [`Store::last_published_seq`] when the confirmation was computed:
    /// the prices published by then are those it weighed the draft against
    /// (quotes drafted or edited since, or a day begun, refuse nothing).
    pub last_seq: Option<i64>,
}

/// What holds a quote whose gate is not ready up, the first of them in
/// the order finalising tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeldUp {
    Pending,
    SignerCannotSign,
    Expired,
    Superseded,
}

impl HeldUp {
    /// `None`: the gate is ready.
    fn by(view: &GateView) -> Option<HeldUp> {
        if view.ready {
            None
        } else if !view.pending.is_empty() {
            Some(HeldUp::Pending)
        } else if !view.signer_can_sign {
            Some(HeldUp::SignerCannotSign)
        } else if view.expired {
            Some(HeldUp::Expired)
        } else {
            Some(HeldUp::Superseded)
        }
    }

    /// The error code the refusal is answered with.
    fn code(self) -> &'static str {
        match self {
            HeldUp::Pending => "pending_acknowledgements",
            HeldUp::SignerCannotSign => "signer_cannot_sign",
            HeldUp::Expired => "quote_expired",
            HeldUp::Superseded => "superseded_prices",
        }
    }
}

/// The audit row of a finalisation the gate refused: what held the quote up
/// as `view` read it, and the `code` it was refused with, as every other
/// refusal's row has.
fn finalise_refused(at: DateTime<Utc>, actor: &Actor, id: Uuid, view: &GateView) -> AuditEntry<'static> {
    AuditEntry {
        at,
        actor_id: Some(actor.id),
        action: "quote.finalise_refused",
        subject_type: "quote",
        subject_id: Some(id),
        detail: json!({
            "pending": view.pending.iter().map(|p| p.notice_id).collect::<Vec<_>>(),
            "superseded": view.superseded.iter().map(|l| l.sku.clone()).collect::<Vec<_>>(),
            "expired": view.expired,
            "signer_can_sign": view.signer_can_sign,
            "code": HeldUp::by(view).map(HeldUp::code),
        }),
    }
}

impl Store {
    /// Audits an attempt to finalise quote `id` that stopped at what `view`
    /// (its gate, not ready) says, before reaching [`Store::finalise_quote`]:
    /// the quote page's button, which never finalises.
    pub async fn audit_finalise_refused(&self, actor: &Actor, id: Uuid, view: &GateView) -> Result<(), StoreError> {
        let at = db_now(&self.db).await?;
        record(&self.db, finalise_refused(at, actor, id, view)).await
    }

    /// The `seq` of the last notice published, 0 before the first: a
    /// confirmation computed after reading it shows the prices as they
    /// stand until the next publication ([`PublishSeen::last_seq`]).
    pub async fn last_published_seq(&self) -> Result<i64, StoreError> {
        let gate = gate::Entity::find_by_id(1).one(&self.db).await?;
        Ok(gate.ok_or_else(|| StoreError::Internal("the gate row is missing; run the migrations".into()))?.last_seq)
    }

    /// How many notices were published after `at` (a quote's drafting):
    /// those its finalisation keeps as evidence.
    pub async fn published_since(&self, at: DateTime<Utc>) -> Result<u64, StoreError> {
        use sea_orm::{PaginatorTrait, QueryFilter};
        Ok(notices::Entity::find()
            .filter(sea_orm::ColumnTrait::eq(&notices::Column::State, PUBLISHED))
            .filter(sea_orm::ColumnTrait::gt(&notices::Column::PublishedAt, at))
            .count(&self.db)
            .await?)
    }

    /// Publishes a draft: assigns the next `seq` and `published_at` under the
    /// exclusive gate lock. From the moment this commits, every quote drafted
    /// earlier needs its signer's acknowledgement of this notice. A refusal
    /// (unknown notice, already published) is audited once the gate is free.
    ///
    /// `as_seen` says what the sender was shown ([`PublishSeen`]): a draft
    /// edited since is refused with 409 `notice_changed`, and one whose
    /// confirmation compared it with prices another publication has since
    /// changed with 409 `notice_published_since`, so that nobody publishes
    /// prices they did not see, or weighed against prices that are no more.
    pub async fn publish_notice(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: PublishSeen<'_>,
    ) -> Result<PublishedView, StoreError> {
        let published = self.publish_under_gate(actor, id, as_seen).await;
        let refused = Refused {
            actor_id: Some(actor.id),
            action: "notice.publish_refused",
            subject_type: "notice",
            subject_id: Some(id),
            detail: json!({}),
        };
        self.audit_refusal(refused, published).await
    }

    async fn publish_under_gate(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: PublishSeen<'_>,
    ) -> Result<PublishedView, StoreError> {
        let txn = self.begin_write().await?;
        lock_gate_exclusively(&txn).await?;
        let notice =
            notices::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or(StoreError::not_found("notice"))?;
        if notice.state == PUBLISHED {
            return Err(StoreError::conflict("notice_published", "This notice is already published."));
        }
        if !still_as_seen(as_seen.revisions, notice.updated_at) {
            return Err(StoreError::conflict(
                "notice_changed",
                "The draft changed after you read it: it is not published. Read it again, then publish.",
            ));
        }
        let last_seq = gate::Entity::find_by_id(1)
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Internal("the gate row is missing; run the migrations".into()))?
            .last_seq;
        if as_seen.last_seq.is_some_and(|shown| shown != last_seq) {
            return Err(StoreError::conflict(
                "notice_published_since",
                "Another notice was published after this confirmation was shown: the prices it weighed the draft \
                 against may have changed. Check it again, then publish.",
            ));
        }
        let seq = last_seq + 1;
        gate::Entity::update(gate::ActiveModel { id: Set(1), last_seq: Set(seq) }).exec(&txn).await?;
        // After every draft, finalisation and publication that committed
        // before: with the lock held exclusively, they all have.
        let published_at = stamp_under_exclusive_gate(&txn).await?;
        check_changes_can_take_force(&txn, id, &self.calendar, self.calendar.date_of(published_at)).await?;
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
        // What it says of each product stays what its readers read: a
        // product renamed later does not rename it here.
        crate::notices::keep_product_names(&txn, id).await?;
        // What it says, kept where nothing may change it: the proof of what
        // its readers acknowledge.
        let content = crate::notices::PublishedContent::read(&txn, id, &notice.title, &notice.body).await?;
        let mut detail = serde_json::to_value(&content)
            .map_err(|e| StoreError::Internal(format!("notice not serialisable: {e}")))?;
        detail["seq"] = json!(seq);
        // From when each change counts (one dated before today, from today),
        // and in which currency its price is.
        let currencies = crate::notices::change_currencies(&txn, id).await?;
        for (change, written) in detail["changes"].as_array_mut().into_iter().flatten().zip(&content.changes) {
            change["in_force_from"] = json!(self.calendar.takes_force_on(written.effective_on, published_at));
            change["currency"] = json!(currencies.get(&written.sku));
        }
        record(
            &txn,
            AuditEntry {
                at: published_at,
                actor_id: Some(actor.id),
                action: "notice.published",
                subject_type: "notice",
                subject_id: Some(id),
                detail,
            },
        )
        .await?;
        // Whichever process publishes (`pricegate demo` has no mail set up),
        // the notice owes its e-mails; a worker composes them.
        crate::outbox::owe_publication_mail(&txn, &notice, published_at).await?;
        txn.commit().await?;
        Ok(PublishedView { id, state: PUBLISHED.into(), seq, published_at })
    }

    /// What finalising would say now, without finalising: the notices the
    /// quote's signer has not acknowledged, what each does to its prices,
    /// and the lines whose price is no longer in force.
    pub async fn quote_gate(&self, actor: &Actor, id: Uuid) -> Result<GateView, StoreError> {
        gate_view(&self.db, actor, id, self.calendar).await
    }

    /// The latest price override finance approved for quote `id`, whether or
    /// not it still waives its superseded lines: the quote page tells of one
    /// that a later edit or price has left behind. The caller has already
    /// read the quote as `actor` (the page shows it).
    pub async fn latest_price_override(&self, id: Uuid) -> Result<Option<OverrideView>, StoreError> {
        Ok(overrides::latest_override(&self.db, id).await?.map(overrides::override_view))
    }

    /// Finalises a draft if, and only if, its signer has acknowledged every
    /// notice published since it was drafted (and no line carries a superseded
    /// price without a finance override). Every refusal is audited: the
    /// gate's in the transaction that read what it refused on; an unknown
    /// quote, or one no longer a draft, once that transaction is gone (a 403
    /// is the web layer's `access.denied`).
    ///
    /// `as_seen`, when given, holds the quote's [`QuoteView::revision`] as
    /// the signer was shown it (or, through `If-Match`, the revisions the
    /// caller accepts): a quote edited, repriced, handed over or given a
    /// price override since is refused with 409 `quote_changed`, so nobody
    /// finalises lines, a total or an approval they did not see.
    pub async fn finalise_quote(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: Option<&[i64]>,
    ) -> Result<QuoteView, StoreError> {
        let finalised = self.finalise_under_gate(actor, id, as_seen).await;
        let audited_here = matches!(
            finalised,
            Err(StoreError::NotFound { .. }
                | StoreError::Conflict { code: "quote_not_draft", .. }
                | StoreError::Conflict { code: "quote_changed", .. })
        );
        if !audited_here {
            return finalised;
        }
        let refused = Refused {
            actor_id: Some(actor.id),
            action: "quote.finalise_refused",
            subject_type: "quote",
            subject_id: Some(id),
            detail: json!({}),
        };
        self.audit_refusal(refused, finalised).await
    }

    async fn finalise_under_gate(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: Option<&[i64]>,
    ) -> Result<QuoteView, StoreError> {
        let txn = self.begin_write().await?;
        lock_gate_and_quote(&txn, id).await?;
        // After the locks: the lines are as the last edit committed them.
        let loaded = load_quote(&txn, id, self.calendar).await?;
        let quote = &loaded.quote;
        check_signer(actor, quote)?;
        check_draft(quote, "cannot be finalised")?;
        if !still_as_seen(as_seen, quote.updated_at) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The quote changed after you opened it: check its lines and total, then finalise again.",
            ));
        }
        let Evaluation { view, evidence } = evaluate(&txn, &loaded, Reading::All).await?;

        let refusal = HeldUp::by(&view).map(|held_up| match held_up {
            HeldUp::Pending => StoreError::PendingAcknowledgements(Box::new(view.clone())),
            // The route let a salesperson in; they left sales, or were
            // deactivated, before this transaction read them.
            HeldUp::SignerCannotSign => StoreError::conflict(
                held_up.code(),
                "The signer is no longer an active salesperson: the quote's owner must choose another signer before it can be finalised.",
            ),
            HeldUp::Expired => StoreError::conflict(
                held_up.code(),
                format!(
                    "This quote was valid until {}: its owner must extend valid_until before it can be finalised.",
                    quote.valid_until
                ),
            ),
            HeldUp::Superseded => StoreError::SupersededPrices(Box::new(view.clone())),
        });
        if let Some(refusal) = refusal {
            let at = db_now(&txn).await?;
            record(&txn, finalise_refused(at, actor, id, &view)).await?;
            txn.commit().await?;
            return Err(refusal);
        }

        let override_id = view.price_override.as_ref().map(|o| o.id);
        let signed = SignedQuoteView::of(&to_view(quote.clone(), loaded.lines.clone(), None));
        // A statement of its own, so the gate check's hot path stays as it
        // is: nothing it reads can have moved since the evaluation but an
        // acknowledgement (publications wait on the gate lock held shared;
        // a list price, a product's SKU, the quote's lines, not at all or not
        // under the quote's lock), and an acknowledgement read here is
        // followed by the stamp as those of the evidence are.
        let prices = prices::price_sources(
            &txn,
            id,
            quote.signer_id,
            loaded.today,
            self.calendar,
            &loaded.lines,
            quote.drafted_at,
        )
        .await?;
        let stored = serde_json::to_string(&StoredEvidence {
            notices: &evidence,
            price_override: &view.price_override,
            signed: &signed,
            prices: &prices,
        })
        .map_err(|e| StoreError::Internal(format!("evidence not serialisable: {e}")))?;
        // Stamped after the notices and acknowledgements were read: everything
        // the check saw was committed before this instant, so every
        // acknowledgement in the evidence precedes `finalised_at`.
        // After the quote's drafting, its acknowledgements and the last
        // change to its signer's account (a reactivation, a move back into
        // sales), whatever the clock says: the record reads in the order
        // things happened.
        let follows = evidence
            .iter()
            .map(|e| e.acknowledged_at)
            .chain(prices.iter().flat_map(|p| p.acknowledgements()))
            .max()
            .max(Some(quote.drafted_at))
            .max(Some(loaded.signer_changed_at));
        let (quote, finalised_at) = record_finalisation(&txn, id, actor.id, stored, override_id, follows).await?;
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
                    "currency": signed.currency,
                    "total_minor": signed.total_minor,
                }),
            },
        )
        .await?;
        let told = (evidence.len(), view.price_override.as_ref());
        self.tell_owner_finalised(&txn, actor, (&quote, signed.total_minor), told, finalised_at).await?;
        txn.commit().await?;
        let evidence = EvidenceView {
            finalised_by: actor.id,
            finalised_at,
            notices: evidence,
            price_override: view.price_override,
            signed: Some(signed),
            prices: Some(prices),
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
    signed: &'a SignedQuoteView,
    prices: &'a [EvidencePrice],
}

/// The statement [`record_finalisation`] sends on PostgreSQL: `$1` the
/// quote, `$2` the signer, `$3` the evidence as JSON text, `$4` the override,
/// `$5` the latest of the quote's drafting and the acknowledgements in the
/// evidence. The stamp is the clock, but after `$5` and every publication
/// (the gate lock, held shared, keeps publications still), as
/// [`in_commit_order`] keeps them.
pub const RECORD_FINALISATION: &str = "WITH f AS (INSERT INTO finalisations \
       (quote_id, finalised_by, finalised_at, evidence, override_id) \
       VALUES ($1, $2, GREATEST(date_trunc('microseconds', clock_timestamp()), \
         (SELECT max(published_at) FROM notices) + interval '1 microsecond', \
         CAST($5 AS timestamptz) + interval '1 microsecond'), \
         CAST($3 AS json), $4) RETURNING finalised_at) \
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
    follows: Option<DateTime<Utc>>,
) -> Result<(quotes::Model, DateTime<Utc>), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                RECORD_FINALISATION,
                [id.into(), finalised_by.into(), evidence.into(), override_id.into(), follows.into()],
            ))
            .await?
            .ok_or(StoreError::not_found("quote"))?;
        let quote = quotes::Model::from_query_result(&row, "")?;
        let finalised_at =
            quote.finalised_at.ok_or_else(|| StoreError::Internal("finalised quote without finalised_at".into()))?;
        return Ok((quote, finalised_at));
    }
    let after = latest_stamp(txn, false).await?.max(follows);
    let finalised_at = in_commit_order(db_now(txn).await?, after);
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

/// Refuses anyone but the quote's signer its finalisation (403 `not_signer`).
pub(crate) fn check_signer(actor: &Actor, quote: &quotes::Model) -> Result<(), StoreError> {
    if quote.signer_id != actor.id {
        return Err(StoreError::forbidden("not_signer", "Only the quote's signer can finalise it."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_stamp_under_the_lock_follows_the_last_one_even_when_the_clock_stepped_back() {
        let at = |s: u32| Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, s).unwrap();
        let just_after = |s: u32| at(s) + chrono::Duration::microseconds(1);
        assert_eq!(super::in_commit_order(at(10), None), at(10));
        assert_eq!(super::in_commit_order(at(10), Some(at(5))), at(10));
        assert_eq!(super::in_commit_order(at(10), Some(at(30))), just_after(30), "the clock stepped back 20 s");
        assert_eq!(super::in_commit_order(at(10), Some(at(10))), just_after(10));
    }
}
