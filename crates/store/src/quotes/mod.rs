//! Quotes: drafting, editing, repricing, cancelling and price overrides,
//! each in one transaction with its audit row. Finalising is the gate's
//! (see [`crate::gate`]).

use std::collections::HashMap;

use chrono::NaiveDate;
use pricegate_domain::{Currency, CustomerEmail, DiscountBp, Invalid, Quantity, Role, Sku, Text, quote_total};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, Refused, record};
use crate::db::{IN_LIST_CHUNK, db_now};
use crate::entity::{finalisations, price_overrides, quote_lines, quotes, users};
use crate::gate::{
    CoveredPrice, covering_override, priced_lines, superseded_fingerprint, superseded_line, superseded_lines,
};
use crate::views::{OverrideView, QuoteView, RepriceView, SupersededLineView, still_as_seen};
use crate::{Actor, Store, StoreError};

mod approval;
mod handover;
mod lines;
mod load;
mod view;

pub use approval::{ApprovalAsked, ApprovalDeclined, ApprovalRequestView, FinanceReminded};
pub use handover::{HandedOver, OpenDraft, OpenDrafts};
pub use lines::NewLine;
use lines::{Carried, line_changes, names_refreshed, price_lines, replace_lines, same_lines};
use load::load_owned;
pub use load::load_quote_sql;
pub(crate) use load::{
    LoadedQuote, check_draft, check_visible, load_lines, load_quote, load_quote_values, load_visible,
    load_visible_priced, loaded_quote, lock_quote,
};
use view::evidence_view;
pub(crate) use view::{quote_view, to_view};

pub(crate) const DRAFT: &str = "draft";
const FINALISED: &str = "finalised";

/// Who may send a request about one quote (see [`Store::check_quote_right`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteRight {
    /// Its owner: an edit, a reprice, a cancellation.
    Change,
    /// Its signer: finalising it.
    Finalise,
    /// Its owner or signer, in sales: a request for approval of its old prices.
    AskApproval,
    /// Its owner or signer, in sales: a reminder to finance of that request.
    RemindFinance,
}

#[derive(Debug, Clone)]
pub struct NewQuote {
    /// The key its form was given when opened (the page's hidden
    /// `draft_id`): the quote's id comes from it and its sender
    /// ([`crate::form_row_id`]), so the same form sent twice finds the quote
    /// drafted, and is refused with 409 [`DRAFTED_ALREADY`]: it is drafted
    /// once. `None`: a new id.
    pub form_key: Option<Uuid>,
    pub customer_name: Text,
    pub customer_email: CustomerEmail,
    pub customer_company: Text,
    pub currency: Currency,
    pub valid_until: NaiveDate,
    pub notes: Text,
    pub signer_id: Option<Uuid>,
    pub lines: Vec<NewLine>,
    /// The quote its form was filled from ("Copy as a new quote"), kept in
    /// its `quote.drafted` audit row when the drafter may see that quote.
    pub copied_from: Option<Uuid>,
}

impl NewQuote {
    /// Whether `quote` is what this would draft: its customer, validity,
    /// notes, signer and lines (in order) as these say. The same form sent
    /// twice is; one changed before it was sent again is not.
    pub fn drafted_as(&self, quote: &crate::views::QuoteView) -> bool {
        quote.currency == self.currency.code()
            && quote.customer.name == self.customer_name.as_str()
            && quote.customer.email == self.customer_email.as_str()
            && quote.customer.company == self.customer_company.as_str()
            && quote.valid_until == self.valid_until
            && quote.notes == self.notes.as_str()
            && quote.signer_id == self.signer_id.unwrap_or(quote.owner_id)
            && quote.lines.len() == self.lines.len()
            && quote.lines.iter().zip(&self.lines).all(|(line, new)| {
                line.sku == new.sku.as_str()
                    && line.quantity == new.quantity.get()
                    && line.discount_bp == new.discount.get()
            })
    }
}

/// The code of a quote's form sent again after it drafted the quote ([`NewQuote::form_key`]).
pub const DRAFTED_ALREADY: &str = "quote_drafted_already";

fn drafted_already() -> StoreError {
    StoreError::conflict(DRAFTED_ALREADY, "This form drafted its quote already: it was sent twice.")
}

/// A quote as an approval of its old prices, or a reprice, was shown it, as
/// far as the sender says: its revision (the page's, or the revisions an
/// `If-Match` accepts), and its lines at an old price with the prices then
/// in force ([`crate::views::GateView::superseded_tag`]).
#[derive(Debug, Clone)]
pub struct PricesSeen {
    pub revisions: Option<Vec<i64>>,
    pub superseded: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct QuotePatch {
    pub customer_name: Option<Text>,
    pub customer_email: Option<CustomerEmail>,
    pub customer_company: Option<Text>,
    pub valid_until: Option<NaiveDate>,
    pub notes: Option<Text>,
    pub signer_id: Option<Uuid>,
    pub lines: Option<Vec<NewLine>>,
    /// The quote's revisions the edit was made on ([`QuoteView::revision`]),
    /// when the caller says: a quote changed since (by another tab, or
    /// someone else) is refused with 409 `quote_changed`, not overwritten.
    pub as_seen: Option<Vec<i64>>,
    /// A form sent again (its Save pressed twice, or resent after a reload),
    /// with the signer and date it names whether or not the patch changes
    /// them: on a quote changed since `as_seen`, an edit that would change
    /// nothing is no conflict, as the quote says what the form does already
    /// (the form's own first sending, most often). `None` (an API client's
    /// `If-Match`): the revision holds whatever the edit.
    pub resent: Option<ResentForm>,
}

/// What an edit form names of its quote's signing, as typed.
#[derive(Debug, Clone, Copy)]
pub struct ResentForm {
    pub signer_id: Uuid,
    pub valid_until: NaiveDate,
}

impl QuotePatch {
    /// Whether the patch, a form sent again, would leave `quote`, with its
    /// `lines`, as it is: the signer and date it was typed with, and each
    /// field it names, say what the quote does, and its lines name the
    /// same products, quantities and discounts in the same order (a product
    /// on the quote keeps its price, so they would be priced as they are).
    fn says_what_is(&self, quote: &quotes::Model, lines: &[quote_lines::Model]) -> bool {
        fn same<T>(field: &Option<T>, now: impl FnOnce(&T) -> bool) -> bool {
            field.as_ref().is_none_or(now)
        }
        let Some(resent) = self.resent else { return false };
        (resent.signer_id, resent.valid_until) == (quote.signer_id, quote.valid_until)
            && same(&self.customer_name, |v| v.as_str() == quote.customer_name)
            && same(&self.customer_email, |v| v.as_str() == quote.customer_email)
            && same(&self.customer_company, |v| v.as_str() == quote.customer_company)
            && same(&self.valid_until, |v| *v == quote.valid_until)
            && same(&self.notes, |v| v.as_str() == quote.notes)
            && same(&self.signer_id, |v| *v == quote.signer_id)
            && same(&self.lines, |new| {
                new.len() == lines.len()
                    && new.iter().zip(lines).all(|(n, l)| {
                        (n.sku.as_str(), n.quantity.get(), n.discount.get())
                            == (l.sku.as_str(), l.quantity, l.discount_bp)
                    })
            })
    }
}

/// Which quotes to list: of one state, at most `limit` of them, and those
/// after (older than) the quote `before` in the list's order, newest
/// drafted first.
#[derive(Debug, Clone, Default)]
pub struct QuoteFilter {
    pub state: Option<String>,
    pub limit: Option<u64>,
    pub before: Option<Uuid>,
    /// The page after this place in the list, a quote's drafting time (its
    /// finalising time, `by_finalising`) and id as the caller read them: for
    /// a reader going on through the whole list, whose last quote may no
    /// longer be theirs to see (handed away meanwhile), so no longer a
    /// `before`. Used instead of `before`.
    pub after_listed: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    /// Finalised quotes only, newest finalised first (month-end reads them
    /// so), where the list is otherwise newest drafted first.
    pub by_finalising: bool,
    /// Only quotes finalised at or after the first instant and before the
    /// second (either left open): month-end's "finalised in November".
    pub finalised_within: (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>),
    /// Only quotes with a line of one of these products (by sku).
    pub with_skus: Option<Vec<String>>,
    /// Only quotes found by what a person typed to look for them.
    pub search: Option<QuoteSearch>,
    /// Only drafts with a line quoted at a price no longer in force today:
    /// each must be repriced, or finance approve keeping the old price,
    /// before it is finalised (approved already or not: its gate says).
    pub at_old_prices: bool,
    /// Only drafts whose owner or signer asked finance to approve keeping
    /// their old prices, no approval having come since, and which still
    /// have a line at an old price (see [`Store::request_approval`]).
    pub awaiting_approval: bool,
}

/// What a person typed to find a quote: part of its customer's name, company
/// or e-mail address, in any case, or the reference its pages and e-mails
/// print (the first eight hexadecimal digits of its id), or its whole id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteSearch {
    typed: String,
    ids: Option<(Uuid, Uuid)>,
}

impl QuoteSearch {
    /// The longest text looked for, in characters: a customer's name at most.
    pub const MAX_CHARS: usize = pricegate_domain::limits::NAME;

    /// `None` for text that is empty once trimmed, which looks for nothing.
    pub fn parse(field: &str, typed: &str) -> Result<Option<Self>, Invalid> {
        let text = Text::parse_optional(field, typed, Self::MAX_CHARS)?;
        let typed = text.as_str();
        if typed.is_empty() {
            return Ok(None);
        }
        // A whole id (copied from a quote's address) is that quote.
        let ids = match Uuid::parse_str(typed) {
            Ok(id) => Some((id, id)),
            Err(_) => pricegate_domain::reference_range(typed).map(|(_, ids)| ids),
        };
        Ok(Some(Self { typed: typed.to_owned(), ids }))
    }

    /// The text looked for, trimmed, as typed.
    pub fn as_str(&self) -> &str {
        &self.typed
    }

    fn condition(&self) -> Condition {
        use sea_orm::sea_query::LikeExpr;
        // `%` and `_` typed are looked for as themselves.
        let folded = pricegate_migration::fold_case(&self.typed);
        let escaped = folded.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let mut any = Condition::any()
            .add(quotes::Column::CustomerSearch.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
        if let Some((low, high)) = self.ids {
            any = any.add(quotes::Column::Id.between(low, high));
        }
        any
    }
}

/// The signer (named by `field`) must be an active salesperson.
async fn check_signer(conn: &impl ConnectionTrait, signer_id: Uuid, field: &str) -> Result<(), StoreError> {
    // Shared: a deactivation or a role change (which lock the row to
    // write it) waits for this draft, or this draft for it, so a draft is
    // never signed by someone who left while it was saved, unseen by the
    // e-mail that tells owners their signer left.
    let signer = users::Entity::find_by_id(signer_id).lock_shared().one(conn).await?;
    match signer {
        Some(u) if u.can_sign() => Ok(()),
        _ => Err(Invalid::new(field, format!("{field} must be an active salesperson."))
            .with_code("invalid_signer")
            .into()),
    }
}

fn audit<'a>(
    at: chrono::DateTime<chrono::Utc>,
    actor: &Actor,
    action: &'a str,
    id: Uuid,
    detail: serde_json::Value,
) -> AuditEntry<'a> {
    AuditEntry { at, actor_id: Some(actor.id), action, subject_type: "quote", subject_id: Some(id), detail }
}

/// An edited draft, and who is e-mailed that they no longer sign it.
#[derive(Debug, Clone)]
pub struct QuoteEdited {
    pub quote: QuoteView,
    /// The former signer, who had been told they sign it and is now told
    /// they do not (an edit that names another signer).
    pub released: Option<Uuid>,
    /// Whether the edit changed anything. One that changes nothing writes
    /// nothing: the revision stays, so a page open elsewhere is still current.
    pub changed: bool,
    /// The edit moved the lines an open request for finance's approval of
    /// old prices was about, which ended it.
    pub request_ended: bool,
}

impl QuoteEdited {
    fn unchanged(quote: QuoteView) -> Self {
        QuoteEdited { quote, released: None, changed: false, request_ended: false }
    }
}

/// Whether `quote` and its lines at an old price (`superseded`, with the
/// prices in force for them) are still as `seen` says they were read.
fn priced_as_seen(quote: &quotes::Model, superseded: &[SupersededLineView], seen: PricesSeen) -> bool {
    still_as_seen(seen.revisions.as_deref(), quote.updated_at)
        && seen.superseded.is_none_or(|shown| shown == superseded_fingerprint(superseded))
}

impl Store {
    /// Drafts a quote. `drafted_at` is fixed now and never moves: the gate
    /// asks about every notice published after it.
    pub async fn create_quote(&self, actor: &Actor, new: NewQuote) -> Result<QuoteView, StoreError> {
        let txn = self.begin_write().await?;
        crate::gate::lock_gate_shared(&txn).await?;
        let id = crate::db::form_row_id(actor.id, new.form_key);
        if new.form_key.is_some() && crate::db::form_row_made::<quotes::Entity>(&txn, id).await? {
            return Err(drafted_already());
        }
        let now = crate::gate::drafting_stamp(&txn).await?;
        self.calendar.refuse_past("valid_until", new.valid_until, self.calendar.date_of(now))?;
        let signer_id = new.signer_id.unwrap_or(actor.id);
        check_signer(&txn, signer_id, "signer_id").await?;
        // Named only if the drafter may see it: a form's hidden field can say anything.
        let copied_from = match new.copied_from {
            Some(source) => {
                quotes::Entity::find_by_id(source).one(&txn).await?.filter(|q| load::may_view(actor, q)).map(|q| q.id)
            }
            None => None,
        };
        let lines =
            price_lines(&txn, id, new.currency.code(), &new.lines, Carried::Nothing, self.calendar.date_of(now))
                .await?;
        let (name, email, company) =
            (new.customer_name.into_inner(), new.customer_email.as_str().to_owned(), new.customer_company.into_inner());
        let quote = quotes::Model {
            id,
            owner_id: actor.id,
            signer_id,
            customer_search: pricegate_migration::customer_search(&name, &company, &email),
            customer_name: name,
            customer_email: email,
            customer_company: company,
            currency: new.currency.code().to_owned(),
            valid_until: new.valid_until,
            notes: new.notes.into_inner(),
            state: DRAFT.into(),
            drafted_at: now,
            updated_at: now,
            finalised_at: None,
            cancelled_at: None,
        };
        // The same form sent twice at once: the second waits on the first's
        // row, then finds the id taken.
        quotes::Entity::insert(quotes::ActiveModel::from(quote.clone())).exec_without_returning(&txn).await.map_err(
            |e| match StoreError::unique_as(e, DRAFTED_ALREADY, "") {
                StoreError::Conflict { .. } => drafted_already(),
                other => other,
            },
        )?;
        replace_lines(&txn, id, lines.clone()).await?;
        let view = to_view(quote.clone(), lines, None);
        // Each line as drafted: what the customer was first quoted, which a
        // later edit or repricing replaces on the quote itself.
        let drafted: Vec<serde_json::Value> = view
            .lines
            .iter()
            .map(|l| {
                json!({
                    "sku": l.sku,
                    "quantity": l.quantity,
                    "discount_bp": l.discount_bp,
                    "unit_price_minor": l.unit_price_minor,
                })
            })
            .collect();
        let mut detail = json!({
            "total_minor": view.total_minor,
            "currency": view.currency,
            "signer_id": signer_id,
            "lines": drafted,
        });
        if let Some(source) = copied_from {
            detail["copied_from"] = json!(source);
        }
        record(&txn, audit(now, actor, "quote.drafted", id, detail)).await?;
        // A draft its creator signs has no e-mail to write, nor any to set aside.
        if signer_id != actor.id {
            self.tell_named_signer(&txn, actor, &quote, view.total_minor, now).await?;
        }
        txn.commit().await?;
        Ok(view)
    }

    /// The quotes `actor` may see whose ids are within `(low, high)`: the
    /// range a reference stands for, the 8 hexadecimal digits the pages and
    /// e-mails name a quote by (at most a few quotes: 2^32 references). Both
    /// databases order ids as their hexadecimal digits.
    pub async fn quotes_by_reference(&self, actor: &Actor, (low, high): (Uuid, Uuid)) -> Result<Vec<Uuid>, StoreError> {
        let rows = quotes::Entity::find()
            .filter(quotes::Column::Id.between(low, high))
            .order_by_asc(quotes::Column::Id)
            .limit(16)
            .all(&self.db)
            .await?;
        Ok(rows.iter().filter(|q| load::may_view(actor, q)).map(|q| q.id).collect())
    }

    /// The currency and total of each of the quotes `ids`, as their lines
    /// are now (the notice dashboard's held-up drafts, what each is worth).
    pub async fn quote_totals(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, (String, i64)>, StoreError> {
        let mut totals = HashMap::new();
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            let currencies: Vec<(Uuid, String)> = quotes::Entity::find()
                .select_only()
                .columns([quotes::Column::Id, quotes::Column::Currency])
                .filter(quotes::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await?;
            let mut lines = load_lines(&self.db, chunk).await?;
            for (id, currency) in currencies {
                let total = quote_total(&priced_lines(&lines.remove(&id).unwrap_or_default()))?;
                totals.insert(id, (currency, total));
            }
        }
        Ok(totals)
    }

    pub async fn get_quote(&self, actor: &Actor, id: Uuid) -> Result<QuoteView, StoreError> {
        let (quote, lines) = load_visible(&self.db, actor, id, self.calendar).await?;
        quote_view(&self.db, quote, lines).await
    }

    /// The quotes `filter` chooses among those `actor` may list (every
    /// filter but the page's place and size), and the time the list is
    /// ordered by, newest first, before the id.
    fn filtered(&self, actor: &Actor, filter: &QuoteFilter) -> (Select<quotes::Entity>, quotes::Column) {
        let mut query = quotes::Entity::find();
        if actor.role != Role::Finance {
            query = query.filter(
                Condition::any().add(quotes::Column::OwnerId.eq(actor.id)).add(quotes::Column::SignerId.eq(actor.id)),
            );
        }
        if let Some(state) = &filter.state {
            query = query.filter(quotes::Column::State.eq(state.as_str()));
        }
        let by = match filter.by_finalising {
            true => {
                query =
                    query.filter(quotes::Column::State.eq(FINALISED)).filter(quotes::Column::FinalisedAt.is_not_null());
                quotes::Column::FinalisedAt
            }
            false => quotes::Column::DraftedAt,
        };
        if let Some(skus) = &filter.with_skus {
            let with_lines = Query::select()
                .column(quote_lines::Column::QuoteId)
                .from(quote_lines::Entity)
                .and_where(quote_lines::Column::Sku.is_in(skus.iter().map(String::as_str)))
                .to_owned();
            query = query.filter(quotes::Column::Id.in_subquery(with_lines));
        }
        if let Some(search) = &filter.search {
            query = query.filter(search.condition());
        }
        if let (Some(since), _) = filter.finalised_within {
            query = query.filter(quotes::Column::FinalisedAt.gte(since));
        }
        if let (_, Some(until)) = filter.finalised_within {
            query = query.filter(quotes::Column::FinalisedAt.lt(until));
        }
        if filter.at_old_prices || filter.awaiting_approval {
            // The gate's own test of a line (see `superseded_lines`), in SQL;
            // sea-query's placeholder for a value is `$1` on PostgreSQL.
            let today = match self.db.get_database_backend() {
                sea_orm::DbBackend::Postgres => "$1",
                _ => "?",
            };
            let old = format!(
                "EXISTS (SELECT 1 FROM quote_lines l JOIN products p ON p.id = l.product_id \
                   WHERE l.quote_id = quotes.id AND l.unit_price_minor <> {})",
                crate::gate::price_in_force_sql(today)
            );
            let today = self.calendar.today();
            query = query
                .filter(quotes::Column::State.eq(DRAFT))
                .filter(Expr::cust_with_values(old, [sea_orm::Value::from(today)]));
        }
        if filter.awaiting_approval {
            query = query.filter(Expr::cust(approval::AWAITING_APPROVAL_SQL));
        }
        if filter.awaiting_approval && actor.role == Role::Finance {
            // Someone moved to finance with their drafts cannot answer for those.
            query = query.filter(quotes::Column::OwnerId.ne(actor.id)).filter(quotes::Column::SignerId.ne(actor.id));
        }
        (query, by)
    }

    /// What the quotes `filter` chooses (its page's place and size aside)
    /// come to, by currency: how many, and their totals summed wide (month-end's
    /// "finalised in November: 1,234,567.00 EUR"), each as its list shows
    /// it; `None` when there are more than `at_most`, whose lines are not
    /// read. Two reads: a quote the filter gains between them (finalised
    /// meanwhile) is left out.
    pub async fn quote_sums(
        &self,
        actor: &Actor,
        filter: &QuoteFilter,
        at_most: u64,
    ) -> Result<Option<std::collections::BTreeMap<String, (u64, i128)>>, StoreError> {
        let (query, _) = self.filtered(actor, filter);
        let chosen: HashMap<Uuid, String> = query
            .clone()
            .select_only()
            .columns([quotes::Column::Id, quotes::Column::Currency])
            .limit(at_most.saturating_add(1))
            .into_tuple::<(Uuid, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        if chosen.len() as u64 > at_most {
            return Ok(None);
        }
        let mut sums = std::collections::BTreeMap::<String, (u64, i128)>::new();
        for currency in chosen.values() {
            sums.entry(currency.clone()).or_default().0 += 1;
        }
        // Only what a line's total needs, of every line at once.
        let ids = sea_orm::QueryTrait::into_query(query.select_only().column(quotes::Column::Id));
        let lines: Vec<(Uuid, i64, i64, i32)> = quote_lines::Entity::find()
            .select_only()
            .columns([
                quote_lines::Column::QuoteId,
                quote_lines::Column::UnitPriceMinor,
                quote_lines::Column::Quantity,
                quote_lines::Column::DiscountBp,
            ])
            .filter(quote_lines::Column::QuoteId.in_subquery(ids))
            .into_tuple()
            .all(&self.db)
            .await?;
        for (quote, price, quantity, discount) in lines {
            if let Some((_, sum)) = chosen.get(&quote).and_then(|currency| sums.get_mut(currency)) {
                *sum += i128::from(pricegate_domain::pricing::line_total(price, quantity, discount));
            }
        }
        Ok(Some(sums))
    }

    /// Quotes the actor owns or signs (finance: every quote), newest first.
    pub async fn list_quotes(&self, actor: &Actor, filter: QuoteFilter) -> Result<Vec<QuoteView>, StoreError> {
        let (mut query, by) = self.filtered(actor, &filter);
        let cursor = match (filter.after_listed, filter.before) {
            (Some(place), _) => Some(place),
            // The page after `before`: by drafting (or finalising) time, then
            // id, as ordered below. A quote the caller may not see is no
            // cursor (its place in the order would tell when it was drafted).
            (None, Some(before)) => {
                let cursor = quotes::Entity::find_by_id(before)
                    .one(&self.db)
                    .await?
                    .filter(|q| check_visible(actor, q).is_ok())
                    .and_then(|q| match filter.by_finalising {
                        true => q.finalised_at.map(|at| (at, q.id)),
                        false => Some((q.drafted_at, q.id)),
                    })
                    .ok_or_else(|| {
                        Invalid::new(
                            "before",
                            "before must be the id of one of your quotes, the last of the page before.",
                        )
                    })?;
                Some(cursor)
            }
            (None, None) => None,
        };
        if let Some((at, id)) = cursor {
            // `at <= X` first, so the (time, id) index starts the scan at
            // the cursor instead of at the newest quote.
            query = query.filter(by.lte(at)).filter(Condition::any().add(by.lt(at)).add(quotes::Column::Id.lt(id)));
        }
        let mut query = query.order_by_desc(by).order_by_desc(quotes::Column::Id);
        if let Some(limit) = filter.limit {
            query = query.limit(limit);
        }
        let rows = query.all(&self.db).await?;
        let ids: Vec<Uuid> = rows.iter().map(|q| q.id).collect();
        let mut lines = load_lines(&self.db, &ids).await?;
        let finalised: Vec<Uuid> = rows.iter().filter(|q| q.finalised_at.is_some()).map(|q| q.id).collect();
        let mut evidence: HashMap<Uuid, finalisations::Model> = HashMap::new();
        for chunk in finalised.chunks(IN_LIST_CHUNK) {
            for f in finalisations::Entity::find()
                .filter(finalisations::Column::QuoteId.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?
            {
                evidence.insert(f.quote_id, f);
            }
        }
        Ok(rows
            .into_iter()
            .map(|q| {
                let id = q.id;
                to_view(q, lines.remove(&id).unwrap_or_default(), evidence.remove(&id).map(evidence_view))
            })
            .collect())
    }

    /// Refuses `actor` a request of kind `right` about quote `id` as that
    /// request is refused whatever it says (404 `not_found`, 403), without
    /// a lock. Asked when a request's body is refused, before saying so:
    /// only whoever may send the request is told what is wrong with it
    /// (anyone else gets the 403 a good body would have, audited as every
    /// 403 is, not a 422 that tells them the quote is there).
    pub async fn check_quote_right(&self, actor: &Actor, id: Uuid, right: QuoteRight) -> Result<(), StoreError> {
        let quote = quotes::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::not_found("quote"))?;
        match right {
            QuoteRight::Change => load::check_owner(actor, &quote),
            QuoteRight::Finalise => crate::gate::check_signer(actor, &quote),
            QuoteRight::AskApproval => approval::check_its_salesperson(actor, &quote, approval::ONLY_SALES_ASK),
            QuoteRight::RemindFinance => approval::check_its_salesperson(actor, &quote, approval::ONLY_SALES_REMIND),
        }
    }

    /// Edits a draft's customer, validity, notes, signer or lines. `drafted_at`
    /// does not move, so an edit cannot dodge a notice.
    pub async fn update_quote(&self, actor: &Actor, id: Uuid, patch: QuotePatch) -> Result<QuoteView, StoreError> {
        Ok(self.edit_quote(actor, id, patch).await?.quote)
    }

    /// [`Store::update_quote`], saying also whom it e-mails that they no
    /// longer sign the quote, if anyone: the browser's form tells its sender.
    pub async fn edit_quote(&self, actor: &Actor, id: Uuid, patch: QuotePatch) -> Result<QuoteEdited, StoreError> {
        let txn = self.begin_write().await?;
        let (quote, lines) = load_owned(&txn, actor, id).await?;
        let changed_since = || {
            StoreError::conflict(
                "quote_changed",
                "The quote changed after you opened it: your edit was made on an earlier version, so it is not saved.",
            )
        };
        if !still_as_seen(patch.as_seen.as_deref(), quote.updated_at) {
            // Before anything is checked: what the form names may be gone
            // (a signer moved to finance), which the conflict explains.
            return match patch.says_what_is(&quote, &lines) {
                true => Ok(QuoteEdited::unchanged(to_view(quote, lines, None))),
                false => Err(changed_since()),
            };
        }
        let signed_by = quote.signer_id;
        let now = db_now(&txn).await?;
        // Each field is written only where it differs, so that
        // `is_changed` says whether the edit changes anything.
        let mut model: quotes::ActiveModel = quote.clone().into();
        if let Some(v) = patch.customer_name {
            model.customer_name.set_ne(v.into_inner());
        }
        if let Some(v) = patch.customer_email {
            model.customer_email.set_ne(v.as_str().to_owned());
        }
        if let Some(v) = patch.customer_company {
            model.customer_company.set_ne(v.into_inner());
        }
        if [&model.customer_name, &model.customer_email, &model.customer_company].iter().any(|v| v.is_set()) {
            let text = |v: &sea_orm::ActiveValue<String>| v.try_as_ref().cloned().unwrap_or_default();
            let (name, company, email) =
                (text(&model.customer_name), text(&model.customer_company), text(&model.customer_email));
            model.customer_search.set_ne(pricegate_migration::customer_search(&name, &company, &email));
        }
        if let Some(v) = patch.valid_until {
            // The date it has is kept, past or not (as the edit form sends
            // it back); a new one must not be in the past.
            if v != quote.valid_until {
                self.calendar.refuse_past("valid_until", v, self.calendar.date_of(now))?;
            }
            model.valid_until.set_ne(v);
        }
        if let Some(v) = patch.notes {
            model.notes.set_ne(v.into_inner());
        }
        if let Some(signer_id) = patch.signer_id {
            check_signer(&txn, signer_id, "signer_id").await?;
            model.signer_id.set_ne(signer_id);
        }
        // What the edit changes, named as the API names each field.
        let fields = [
            ("customer_name", model.customer_name.is_set()),
            ("customer_email", model.customer_email.is_set()),
            ("customer_company", model.customer_company.is_set()),
            ("valid_until", model.valid_until.is_set()),
            ("notes", model.notes.is_set()),
            ("signer_id", model.signer_id.is_set()),
        ];
        let mut changed: Vec<&str> = fields.iter().filter(|(_, set)| *set).map(|(field, _)| *field).collect();
        let old_lines = lines.clone();
        let mut request_ended = false;
        let (lines, lines_changed) = match &patch.lines {
            Some(new_lines) => {
                let kept = lines::kept(&lines);
                let rows = price_lines(
                    &txn,
                    id,
                    &quote.currency,
                    new_lines,
                    Carried::AtPrices(&kept),
                    self.calendar.date_of(now),
                )
                .await?;
                let changed = !same_lines(&rows, &lines);
                if changed {
                    replace_lines(&txn, id, rows.clone()).await?;
                    // A request for approval was about the lines as they were.
                    request_ended = approval::end_if_lines_moved(&txn, id, self.calendar, now).await?;
                }
                (if changed { rows } else { lines }, changed)
            }
            None => (lines, false),
        };
        if !model.is_changed() && !lines_changed {
            // Nothing to write, audit or tell anyone.
            return Ok(QuoteEdited::unchanged(to_view(quote, lines, None)));
        }
        if lines_changed {
            changed.push("lines");
        }
        model.updated_at = Set(now);
        quotes::Entity::update(model).exec(&txn).await?;
        let total_before = quote_total(&priced_lines(&old_lines))?;
        let valid_until_before = quote.valid_until;
        let before = quote.clone();
        let line_changes = line_changes(&old_lines, &lines);
        let names_refreshed = lines_changed && names_refreshed(&old_lines, &lines);
        let quote = quotes::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::not_found("quote"))?;
        let view = to_view(quote.clone(), lines, None);
        let mut detail = json!({
            "total_minor": view.total_minor,
            "total_before_minor": total_before,
            "currency": view.currency,
            "signer_id": view.signer_id,
            "changed": changed,
            "valid_until_before": valid_until_before,
            "valid_until": view.valid_until,
            "lines": line_changes,
            "names_refreshed": names_refreshed,
            "approval_request_ended": request_ended,
        });
        // The words that changed, as they were and are: the party to the
        // contract and its terms can be read back from the log alone.
        for (field, was, is) in [
            ("customer_name", &before.customer_name, &quote.customer_name),
            ("customer_email", &before.customer_email, &quote.customer_email),
            ("customer_company", &before.customer_company, &quote.customer_company),
            ("notes", &before.notes, &quote.notes),
        ] {
            if was != is {
                detail[format!("{field}_before")] = json!(was);
                detail[field] = json!(is);
            }
        }
        if before.signer_id != quote.signer_id {
            detail["signer_before_id"] = json!(before.signer_id);
        }
        record(&txn, audit(now, actor, "quote.edited", id, detail)).await?;
        let mut released = None;
        if view.signer_id != signed_by {
            // Whoever believed they signed it is told they no longer do.
            let old_signer_knew = self.signer_was_told(&txn, id, signed_by).await?;
            self.tell_named_signer(&txn, actor, &quote, view.total_minor, now).await?;
            if old_signer_knew
                && self.tell_released_signer(&txn, actor, signed_by, &quote, view.total_minor, now).await?
            {
                released = Some(signed_by);
            }
            self.tell_new_signer(&txn, view.signer_id, &[id], crate::Told::TookOver, now).await?;
        }
        txn.commit().await?;
        Ok(QuoteEdited { quote: view, released, changed: true, request_ended })
    }

    /// Re-snapshots every line at the price in force today. `as_seen`, when
    /// given, is the quote as the caller read it: a quote changed since, or
    /// whose lines at an old price (or those prices now) are others by now,
    /// is refused with 409 `quote_changed`, so that nobody takes prices
    /// they were not shown.
    pub async fn reprice_quote(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: Option<PricesSeen>,
    ) -> Result<RepriceView, StoreError> {
        let txn = self.begin_write().await?;
        let (quote, lines) = load_owned(&txn, actor, id).await?;
        let now = db_now(&txn).await?;
        let old_total_minor = quote_total(&priced_lines(&lines))?;
        let requested: Vec<NewLine> = lines
            .iter()
            .map(|l| -> Result<NewLine, StoreError> {
                Ok(NewLine {
                    sku: Sku::parse(&l.sku)?,
                    quantity: Quantity::parse(l.quantity)?,
                    discount: DiscountBp::parse(i64::from(l.discount_bp))?,
                })
            })
            .collect::<Result<_, _>>()?;
        let mut rows =
            price_lines(&txn, id, &quote.currency, &requested, Carried::Everything, self.calendar.date_of(now)).await?;
        // The same lines at today's prices: each keeps its id, so a
        // `line_id` read from the gate names the same line afterwards.
        for (row, line) in rows.iter_mut().zip(&lines) {
            row.id = line.id;
        }
        let new_total_minor = quote_total(&priced_lines(&rows))?;
        // What repricing takes, from the prices it writes: compared with
        // what the caller was shown, in the same read.
        let taken: Vec<SupersededLineView> = lines
            .iter()
            .zip(&rows)
            .filter(|(line, row)| line.unit_price_minor != row.unit_price_minor)
            .map(|(line, row)| superseded_line(line, row.unit_price_minor))
            .collect();
        if as_seen.is_some_and(|seen| !priced_as_seen(&quote, &taken, seen)) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The quote, or the prices now in force for it, changed after you read it: it is not repriced. \
                 Read it again, then reprice.",
            ));
        }
        if same_lines(&rows, &lines) {
            // Every line is at today's price already: nothing is written,
            // and the revision (and the lines' ids) stay. A request for
            // approval still recorded has nothing left to ask: with no line
            // at an old price it was no longer open, and ends unsaid.
            approval::end_requests(&txn, id, now).await?;
            txn.commit().await?;
            return Ok(RepriceView {
                old_total_minor,
                new_total_minor,
                approval_request_ended: false,
                quote: to_view(quote, lines, None),
            });
        }
        replace_lines(&txn, id, rows.clone()).await?;
        quotes::Entity::update(quotes::ActiveModel { id: Set(id), updated_at: Set(now), ..Default::default() })
            .exec(&txn)
            .await?;
        // At today's prices, there is nothing left for finance to approve.
        // A request was open only while lines were at an old price (a
        // rename alone, say, rewrites lines none of which were).
        let approval_request_ended = approval::end_requests(&txn, id, now).await? && !taken.is_empty();
        record(
            &txn,
            audit(
                now,
                actor,
                "quote.repriced",
                id,
                json!({
                    "old_total_minor": old_total_minor,
                    "new_total_minor": new_total_minor,
                    "currency": quote.currency,
                    // Each product's unit prices before and after, as an edit's row says them.
                    "lines": line_changes(&lines, &rows),
                    "approval_request_ended": approval_request_ended,
                }),
            ),
        )
        .await?;
        let quote = quotes::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::not_found("quote"))?;
        txn.commit().await?;
        Ok(RepriceView { old_total_minor, new_total_minor, approval_request_ended, quote: to_view(quote, rows, None) })
    }

    /// Cancels a draft. `as_seen`, when given, holds the revisions the
    /// caller read (`If-Match`, the confirmation's): a quote changed since
    /// is not cancelled (409 `quote_changed`).
    pub async fn cancel_quote(
        &self,
        actor: &Actor,
        id: Uuid,
        as_seen: Option<&[i64]>,
    ) -> Result<QuoteView, StoreError> {
        let txn = self.begin_write().await?;
        let (quote, lines) = load_owned(&txn, actor, id).await?;
        if !still_as_seen(as_seen, quote.updated_at) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The quote changed after you read it: it is not cancelled. Read it again, then cancel.",
            ));
        }
        let now = db_now(&txn).await?;
        quotes::Entity::update(quotes::ActiveModel {
            id: Set(id),
            state: Set("cancelled".into()),
            cancelled_at: Set(Some(now)),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        // A cancelled draft leaves finance nothing to approve.
        approval::end_requests(&txn, id, now).await?;
        record(&txn, audit(now, actor, "quote.cancelled", id, json!({}))).await?;
        let quote = quotes::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::not_found("quote"))?;
        txn.commit().await?;
        Ok(to_view(quote, lines, None))
    }

    /// Finance approves finalising a draft at prices that are no longer in
    /// force. The reason is kept with the evidence and in the audit log. The
    /// acknowledgements are still required: an override is about price, never
    /// about having read the notices. A refusal is audited.
    ///
    /// Not by whoever owns or signs the quote: one person does not both
    /// approve an override and draft or finalise what it waives. `as_seen`,
    /// when given, is the quote as the approver was shown it: a quote changed
    /// since, or whose lines at an old price (or those prices now) are others
    /// by now (a publication, or a price come into force, moves no revision),
    /// is refused with 409 `quote_changed`, so that the approval covers the
    /// lines finance read. Lines an approval covers already are refused
    /// with 409 `already_overridden`: sent twice, it is one approval.
    pub async fn override_prices(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Text,
        as_seen: Option<PricesSeen>,
    ) -> Result<OverrideView, StoreError> {
        let overridden = self.write_override(actor, id, reason, as_seen).await;
        // A 403 is the web layer's `access.denied`, as for finalising.
        if matches!(overridden, Err(StoreError::Forbidden { .. })) {
            return overridden;
        }
        let refused = Refused {
            actor_id: Some(actor.id),
            action: "quote.override_refused",
            subject_type: "quote",
            subject_id: Some(id),
            detail: json!({}),
        };
        self.audit_refusal(refused, overridden).await
    }

    async fn write_override(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Text,
        as_seen: Option<PricesSeen>,
    ) -> Result<OverrideView, StoreError> {
        let txn = self.begin_write().await?;
        // The gate shared, as finalising takes it: a change of the
        // approver's role (which takes it exclusively) is wholly before
        // this approval, and read below, or wholly after it.
        crate::gate::lock_gate_shared(&txn).await?;
        crate::users::still_in_role(&txn, actor, Role::Finance).await?;
        let quote = lock_quote(&txn, id).await?;
        if actor.id == quote.owner_id || actor.id == quote.signer_id {
            return Err(StoreError::forbidden(
                "own_quote",
                "You own or sign this quote: someone else in finance must approve keeping its old prices.",
            ));
        }
        check_draft(&quote, "can no longer change")?;
        // After the lock: the lines as the last edit committed them, and
        // the prices in force, read once: checked, then approved.
        let loaded = load_quote(&txn, id, self.calendar).await?;
        let superseded = superseded_lines(&loaded);
        // The same approval sent twice (a form resent, a client retrying)
        // is one approval, not a second one with its own reason.
        if !superseded.is_empty()
            && let Some(approved) = covering_override(&txn, &quote, &superseded).await?
        {
            return Err(StoreError::conflict(
                "already_overridden",
                format!(
                    "Its lines at an old price are approved already, at {} (\u{201c}{}\u{201d}): no second approval was \
                     written.",
                    self.calendar.stamp(approved.created_at, false),
                    approved.reason
                ),
            ));
        }
        if as_seen.is_some_and(|seen| !priced_as_seen(&quote, &superseded, seen)) {
            return Err(StoreError::conflict(
                "quote_changed",
                "The quote, or the prices now in force for it, changed after you opened it: check its lines at an old price again, then approve.",
            ));
        }
        let covers: Vec<CoveredPrice> = superseded.iter().map(Into::into).collect();
        if covers.is_empty() {
            return Err(StoreError::conflict(
                "nothing_to_override",
                "Every line of this quote is at the price in force: there is no price to override.",
            ));
        }
        let covers_json = serde_json::to_value(&covers)
            .map_err(|e| StoreError::Internal(format!("override covers not serialisable: {e}")))?;
        let now = db_now(&txn).await?;
        let row = price_overrides::Model {
            id: Uuid::new_v4(),
            quote_id: id,
            approved_by: actor.id,
            reason: reason.into_inner(),
            created_at: now,
            covers: Some(covers_json.to_string()),
        };
        price_overrides::Entity::insert(price_overrides::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        // A salesperson's request for this approval is answered.
        approval::end_requests(&txn, id, now).await?;
        // What the quote may be finalised at has changed: a confirmation
        // shown before is no longer what finalising would do.
        quotes::Entity::update(quotes::ActiveModel { id: Set(id), updated_at: Set(now), ..Default::default() })
            .exec(&txn)
            .await?;
        record(
            &txn,
            audit(
                now,
                actor,
                "quote.price_override",
                id,
                json!({ "override_id": row.id, "reason": row.reason, "covers": covers_json, "currency": quote.currency }),
            ),
        )
        .await?;
        // Its signer, and its owner, were waiting on this: they are told.
        let total = quote_total(&priced_lines(&loaded.lines))?;
        let approved = (row.id, row.reason.as_str(), superseded.as_slice());
        self.tell_prices_approved(&txn, actor, (&quote, total, loaded.expired), approved, now).await?;
        txn.commit().await?;
        Ok(OverrideView {
            id: row.id,
            approved_by: row.approved_by,
            reason: row.reason,
            created_at: row.created_at,
            waives: covers.into_iter().map(Into::into).collect(),
        })
    }
}
