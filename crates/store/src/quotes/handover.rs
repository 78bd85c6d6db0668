//! Handing a salesperson's open quotes to a colleague: someone who leaves,
//! or moves out of sales, can no longer edit or sign the drafts they own or
//! sign, and only an owner may change a draft, so an admin hands them over.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::{DRAFT, check_signer};
use crate::audit::{AuditEntry, record};
use crate::db::{IN_LIST_CHUNK, db_now};
use crate::entity::{quotes, users};
use crate::{Actor, Store, StoreError};

/// A draft quote someone owns or signs (see [`Store::open_drafts_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDraft {
    pub id: Uuid,
    pub customer_name: String,
    pub customer_company: String,
    pub currency: String,
    pub total_minor: i64,
    pub valid_until: chrono::NaiveDate,
    pub owns: bool,
    pub signs: bool,
}

/// A person's open drafts: those they own, those they sign, and those they
/// both own and sign (counted in each of the other two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenDrafts {
    pub owned: u64,
    pub signed: u64,
    pub both: u64,
}

impl OpenDrafts {
    /// Drafts they own or sign, each once.
    pub fn drafts(&self) -> u64 {
        (self.owned + self.signed).saturating_sub(self.both)
    }

    /// Drafts they sign that someone else owns.
    pub fn signed_for_others(&self) -> u64 {
        self.signed.saturating_sub(self.both)
    }
}

/// How many draft quotes changed hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandedOver {
    /// Drafts that changed hands, owned or signed: each counts once here,
    /// and in each of the two below that applies.
    pub drafts: u64,
    /// Drafts `from` owned, now owned by `to`.
    pub owned: u64,
    /// Drafts `from` signed, now signed by `to`.
    pub signed: u64,
}

impl Store {
    /// Makes `to`, an active salesperson, the owner of every draft quote
    /// `from` owns and the signer of every draft `from` signs, in one
    /// transaction, audited as `quotes.handed_over`. `drafted_at` does not
    /// move: every notice published since still needs the new signer's
    /// acknowledgement, as when an owner picks another signer. Finalised and
    /// cancelled quotes keep their people.
    pub async fn hand_over_quotes(&self, actor: &Actor, from: Uuid, to: Uuid) -> Result<HandedOver, StoreError> {
        let txn = self.begin_write().await?;
        users::Entity::find_by_id(from).one(&txn).await?.ok_or(StoreError::not_found("user"))?;
        if from == to {
            return Err(pricegate_domain::Invalid::new("to", "Hand the quotes to someone else.").into());
        }
        check_signer(&txn, to, "to").await?;
        let now = db_now(&txn).await?;
        // Every draft `from` owns or signs, locked (on PostgreSQL; SQLite's
        // writers take turns) so that no edit moves one between this read
        // and the moves below: the letters then say what was moved.
        let drafts: Vec<(Uuid, Uuid, Uuid)> = quotes::Entity::find()
            .select_only()
            .columns([quotes::Column::Id, quotes::Column::OwnerId, quotes::Column::SignerId])
            .filter(Condition::any().add(quotes::Column::OwnerId.eq(from)).add(quotes::Column::SignerId.eq(from)))
            .filter(quotes::Column::State.eq(DRAFT))
            // In one order, so two hand-overs sharing drafts cannot deadlock.
            .order_by_asc(quotes::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await?;
        // Every draft that becomes `to`'s, owned or signed, for telling them;
        // and those `to` is about to sign, for telling them of the notices
        // that hold these up and did not hold up theirs.
        let handed: Vec<Uuid> = drafts.iter().map(|(id, _, _)| *id).collect();
        let taken_over: Vec<Uuid> =
            drafts.iter().filter(|(_, _, signer)| *signer == from).map(|(id, _, _)| *id).collect();
        let (mut owned, mut signed) = (0, 0);
        for chunk in handed.chunks(IN_LIST_CHUNK) {
            for (column, count) in [(quotes::Column::OwnerId, &mut owned), (quotes::Column::SignerId, &mut signed)] {
                *count += quotes::Entity::update_many()
                    .col_expr(column, Expr::value(to))
                    .col_expr(quotes::Column::UpdatedAt, Expr::value(now))
                    .filter(column.eq(from))
                    .filter(quotes::Column::Id.is_in(chunk.iter().copied()))
                    .exec(&txn)
                    .await?
                    .rows_affected;
            }
        }
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "quotes.handed_over",
                subject_type: "user",
                subject_id: Some(from),
                detail: json!({ "to": to, "drafts": handed.len(), "owned": owned, "signed": signed, "quotes": handed }),
            },
        )
        .await?;
        // And on each quote, so that its history says who has it since when.
        for (id, owner, signer) in &drafts {
            record(
                &txn,
                AuditEntry {
                    at: now,
                    actor_id: Some(actor.id),
                    action: "quote.handed_over",
                    subject_type: "quote",
                    subject_id: Some(*id),
                    detail: json!({ "from": from, "to": to, "owner": *owner == from, "signer": *signer == from }),
                },
            )
            .await?;
        }
        self.tell_handed_over(&txn, actor, from, to, &handed, now).await?;
        if signed > 0 {
            self.tell_new_signer(&txn, to, &taken_over, crate::Told::TookOver, now).await?;
        }
        txn.commit().await?;
        Ok(HandedOver { drafts: handed.len() as u64, owned, signed })
    }

    /// The draft quotes `person` owns or signs, oldest first: what
    /// deactivating them, or moving them out of sales, leaves for someone to
    /// take over.
    pub async fn open_drafts_of(&self, person: Uuid) -> Result<Vec<OpenDraft>, StoreError> {
        let drafts = quotes::Entity::find()
            .filter(quotes::Column::State.eq(DRAFT))
            .filter(Condition::any().add(quotes::Column::OwnerId.eq(person)).add(quotes::Column::SignerId.eq(person)))
            .order_by_asc(quotes::Column::DraftedAt)
            .all(&self.db)
            .await?;
        let mut totals = self.quote_totals(&drafts.iter().map(|q| q.id).collect::<Vec<_>>()).await?;
        Ok(drafts
            .into_iter()
            .map(|q| OpenDraft {
                total_minor: totals.remove(&q.id).map_or(0, |(_, total)| total),
                id: q.id,
                customer_name: q.customer_name,
                customer_company: q.customer_company,
                currency: q.currency,
                valid_until: q.valid_until,
                owns: q.owner_id == person,
                signs: q.signer_id == person,
            })
            .collect())
    }

    /// Per person, the draft quotes they own and sign: of everyone, or with
    /// `people`, of those alone (a page of users, one user).
    pub async fn open_quote_counts(&self, people: Option<&[Uuid]>) -> Result<HashMap<Uuid, OpenDrafts>, StoreError> {
        let mut counts: HashMap<Uuid, OpenDrafts> = HashMap::new();
        let chunks: Vec<Option<&[Uuid]>> = match people {
            None => vec![None],
            Some(people) => people.chunks(IN_LIST_CHUNK).map(Some).collect(),
        };
        for chunk in chunks {
            // Drafts by owner, by signer, and by owner where the owner signs.
            let by = |column: quotes::Column| {
                let query = quotes::Entity::find()
                    .select_only()
                    .column(column)
                    .column_as(quotes::Column::Id.count(), "n")
                    .filter(quotes::Column::State.eq(DRAFT))
                    .group_by(column);
                match chunk {
                    Some(people) => query.filter(column.is_in(people.iter().copied())),
                    None => query,
                }
            };
            let both =
                by(quotes::Column::OwnerId).filter(Expr::col(quotes::Column::OwnerId).equals(quotes::Column::SignerId));
            // Where each count goes.
            type Count = fn(&mut OpenDrafts, u64);
            let parts: [(_, Count); 3] = [
                (by(quotes::Column::OwnerId), |open, n| open.owned = n),
                (by(quotes::Column::SignerId), |open, n| open.signed = n),
                (both, |open, n| open.both = n),
            ];
            for (query, set) in parts {
                let rows: Vec<(Uuid, i64)> = query.into_tuple().all(&self.db).await?;
                for (person, n) in rows {
                    set(counts.entry(person).or_default(), u64::try_from(n).unwrap_or_default());
                }
            }
        }
        Ok(counts)
    }
}
