//! The append-only audit log: one row per state change, written in the same
//! transaction as the change (a refused finalisation commits only its row).
//! Other refusals (publication, acknowledgement, override) and callers denied
//! for their role are recorded after the fact, each in a short write of its
//! own: see [`Store::audit_refusal`] and [`Store::record_access_denied`].

use chrono::{DateTime, Utc};
use pricegate_domain::Invalid;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use crate::db::db_now;
use crate::entity::audit_log;
use crate::views::AuditView;
use crate::{Store, StoreError};

/// A 403 answered to a logged-in caller.
const ACCESS_DENIED: &str = "access.denied";

/// Every action the log is or was written with, in order. A filter by
/// action takes one of these ([`Store::list_audit`] refuses any other), and
/// the audit page offers them as suggestions. `settings.updated` was written
/// by an earlier version, and its rows are kept.
pub const AUDIT_ACTIONS: &[&str] = &[
    "access.denied",
    "auth.login_failed",
    "mail.resent",
    "notice.acknowledge_refused",
    "notice.acknowledged",
    "notice.deleted",
    "notice.drafted",
    "notice.edited",
    "notice.publish_refused",
    "notice.published",
    "notice.reminded",
    "product.created",
    "product.imported",
    "product.returned_to_sale",
    "product.updated",
    "product.withdrawn",
    "quote.approval_declined",
    "quote.approval_reminded",
    "quote.approval_requested",
    "quote.cancelled",
    "quote.drafted",
    "quote.edited",
    "quote.finalise_refused",
    "quote.finalised",
    "quote.handed_over",
    "quote.override_refused",
    "quote.price_override",
    "quote.repriced",
    "quotes.handed_over",
    "settings.updated",
    "user.created",
    "user.password_link_refused",
    "user.password_link_sent",
    "user.password_reset_requested",
    "user.password_set_by_link",
    "user.updated",
];

/// The most `access.denied` rows one person leaves in
/// [`DENIALS_WINDOW_MINUTES`] minutes (see [`Store::record_access_denied`]),
/// and the most of each other refusal recorded on its own (see
/// [`Store::record_refusal`]).
pub const DENIALS_RECORDED: u64 = 100;

/// The time [`DENIALS_RECORDED`] counts over.
pub const DENIALS_WINDOW_MINUTES: i64 = 10;

/// The time now, and how many rows of `action` `actor_id` has left in the
/// last [`DENIALS_WINDOW_MINUTES`] before it, up to [`DENIALS_RECORDED`].
/// One person's are counted and written one at a time (their user row
/// locked on PostgreSQL; SQLite's write transaction excludes every other),
/// so that parallel requests neither pass the bound nor all miss writing
/// the row that says it is reached; the time is read once the lock is
/// held, so that their rows are in the order written.
async fn recent_refusals(
    txn: &sea_orm::DatabaseTransaction,
    actor_id: Uuid,
    action: &str,
) -> Result<(DateTime<Utc>, u64), StoreError> {
    crate::entity::users::Entity::find_by_id(actor_id).lock_exclusive().one(txn).await?;
    let at = db_now(txn).await?;
    let recent = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Id)
        .filter(audit_log::Column::Action.eq(action))
        .filter(audit_log::Column::At.gt(at - chrono::Duration::minutes(DENIALS_WINDOW_MINUTES)))
        .filter(audit_log::Column::ActorId.eq(actor_id))
        .limit(DENIALS_RECORDED)
        .into_tuple::<Uuid>()
        .all(txn)
        .await?;
    Ok((at, recent.len() as u64))
}

/// The note on the last row of `action` [`recent_refusals`] lets one person
/// leave in the window.
fn last_recorded(action: &str) -> String {
    format!(
        "This person's {DENIALS_RECORDED}th refusal in {DENIALS_WINDOW_MINUTES} minutes ({action}): refusals of \
         the kind after it are not recorded until their earliest in that time is {DENIALS_WINDOW_MINUTES} minutes old."
    )
}

#[derive(Clone)]
pub struct AuditEntry<'a> {
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

/// The statement [`record`] sends on PostgreSQL: `$1` the row's id, then
/// `at`, the actor, action, subject type and id, and the detail as JSON text.
pub const RECORD_AUDIT: &str = "INSERT INTO audit_log (id, at, actor_id, action, subject_type, subject_id, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS json))";

/// Writes one audit row. The detail travels as JSON text into the `json`
/// column (`CAST(… AS json)`: one parse on the server). Bound as a
/// `serde_json::Value` it went as `jsonb`, which the server parsed, sorted and
/// printed back to text before parsing it again for the column.
pub(crate) async fn record(conn: &impl ConnectionTrait, entry: AuditEntry<'_>) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => RECORD_AUDIT,
        _ => {
            "INSERT INTO audit_log (id, at, actor_id, action, subject_type, subject_id, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"
        }
    };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, row_values(entry))).await?;
    Ok(())
}

/// An audit row's seven values, in the columns' order: a new id, then the
/// entry's, the detail as JSON text.
fn row_values(entry: AuditEntry<'_>) -> [sea_orm::Value; 7] {
    debug_assert!(
        AUDIT_ACTIONS.contains(&entry.action),
        "{} is written to the audit log but missing from AUDIT_ACTIONS",
        entry.action
    );
    [
        Uuid::new_v4().into(),
        entry.at.into(),
        entry.actor_id.into(),
        entry.action.into(),
        entry.subject_type.into(),
        entry.subject_id.into(),
        storable(entry.detail).to_string().into(),
    ]
}

/// Writes many audit rows, as [`record`] writes one, a few hundred to a
/// statement: an import's row per product, say.
pub(crate) async fn record_many(conn: &impl ConnectionTrait, entries: &[AuditEntry<'_>]) -> Result<(), StoreError> {
    use std::fmt::Write as _;
    let backend = conn.get_database_backend();
    for chunk in entries.chunks(500) {
        let mut sql =
            String::from("INSERT INTO audit_log (id, at, actor_id, action, subject_type, subject_id, detail) VALUES ");
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 7);
        for (i, entry) in chunk.iter().enumerate() {
            let row = match backend {
                DbBackend::Postgres => {
                    let [a, b, c, d, e, f, g] = std::array::from_fn::<usize, 7, _>(|k| i * 7 + k + 1);
                    format!("(${a}, ${b}, ${c}, ${d}, ${e}, ${f}, CAST(${g} AS json))")
                }
                _ => "(?, ?, ?, ?, ?, ?, ?)".to_owned(),
            };
            let _ = write!(sql, "{}{row}", if i == 0 { "" } else { ", " });
            values.extend(row_values(entry.clone()));
        }
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// A refused action, as its audit row will name it. `detail` is an object;
/// the refusal's error code is added to it as `code`.
pub(crate) struct Refused<'a> {
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub subject_type: &'a str,
    /// The id the caller asked for, whether or not such a row exists.
    pub subject_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

/// The stable code of an error that refuses the caller (a 4xx at the web
/// edge); `None` for a failure of ours, which is no refusal and not audited.
pub(crate) fn refusal_code(error: &StoreError) -> Option<&'static str> {
    match error {
        StoreError::Invalid(invalid) => Some(invalid.code),
        StoreError::NotFound { .. } => Some("not_found"),
        StoreError::Forbidden { code, .. } | StoreError::Conflict { code, .. } => Some(code),
        StoreError::PendingAcknowledgements(_) => Some("pending_acknowledgements"),
        StoreError::SupersededPrices(_) => Some("superseded_prices"),
        StoreError::Unavailable(_) | StoreError::Contended(_) | StoreError::Db(_) | StoreError::Internal(_) => None,
    }
}

/// The detail with every NUL character replaced. Some details quote what a
/// caller typed (the e-mail of a failed login), and PostgreSQL's JSON types
/// refuse `\u0000`: one stray byte must not turn a refusal into a 500.
fn storable(detail: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match detail {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', "\u{fffd}")),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k.replace('\0', "\u{fffd}"), storable(v))).collect())
        }
        other => other,
    }
}

/// Whether `entry`, a `user.updated` one, changed whether its person may
/// sign quotes: their being active, or their role.
fn changes_signing(entry: &AuditView) -> bool {
    let (before, after) = (&entry.detail["before"], &entry.detail["after"]);
    before["active"] != after["active"] || before["role"] != after["role"]
}

impl Store {
    /// Passes `result` through, first recording `refused` when it is a
    /// refusal. The refused transaction has been dropped by then, rolling back
    /// whatever it wrote, so the row is written on its own, stamped by the
    /// database clock, and outlives the refusal; and no lock the refused
    /// transaction held (the gate's exclusive one for a publication) is kept
    /// a moment longer for it. If the row cannot be written, that failure is
    /// the answer: a refusal is never silently missing from the log (beyond
    /// the bound [`Store::record_refusal`] sets, which its last row says).
    pub(crate) async fn audit_refusal<T>(
        &self,
        refused: Refused<'_>,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Err(error) = result else { return result };
        let Some(code) = refusal_code(&error) else { return Err(error) };
        self.record_refusal(refused, code).await?;
        Err(error)
    }

    /// Writes the audit row of a refusal whose error code is `code`: of
    /// someone known, at most [`DENIALS_RECORDED`] of one action in any
    /// [`DENIALS_WINDOW_MINUTES`] minutes, as [`Store::record_access_denied`]
    /// counts its own (a script finalising a quote finalised already, or
    /// acknowledging a notice that is not there, in a loop, cannot grow the
    /// log at will; the gate's own refusals, written with what they read,
    /// are each recorded).
    pub(crate) async fn record_refusal(&self, refused: Refused<'_>, code: &str) -> Result<(), StoreError> {
        self.write_refusal(refused, code, true).await
    }

    /// [`Store::record_refusal`] of an acknowledgement link refused: not
    /// bounded by the person's count, as whoever holds their link, not they,
    /// may have sent it (a mailbox passed on, a link forwarded), and must
    /// not use up the rows their own refusals are recorded in.
    pub(crate) async fn record_link_refusal(&self, refused: Refused<'_>, code: &str) -> Result<(), StoreError> {
        self.write_refusal(refused, code, false).await
    }

    async fn write_refusal(&self, refused: Refused<'_>, code: &str, bounded: bool) -> Result<(), StoreError> {
        let mut detail = match refused.detail {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        detail.insert("code".into(), code.into());
        let txn = self.begin_write().await?;
        let at = match refused.actor_id.filter(|_| bounded) {
            Some(actor_id) => {
                let (at, recent) = recent_refusals(&txn, actor_id, refused.action).await?;
                if recent >= DENIALS_RECORDED {
                    txn.rollback().await?;
                    return Ok(());
                }
                if recent + 1 == DENIALS_RECORDED {
                    detail.insert("note".into(), last_recorded(refused.action).into());
                }
                at
            }
            None => db_now(&txn).await?,
        };
        record(
            &txn,
            AuditEntry {
                at,
                actor_id: refused.actor_id,
                action: refused.action,
                subject_type: refused.subject_type,
                subject_id: refused.subject_id,
                detail: detail.into(),
            },
        )
        .await?;
        Ok(txn.commit().await?)
    }

    /// Records that an authenticated caller was answered 403: their role, or
    /// their relation to the row, does not allow what they asked. `route` is
    /// the route's pattern (`/api/v1/notices/{id}/publish`), never the path
    /// the caller sent, so nothing they typed reaches the log but the `id`
    /// of the row they asked for.
    ///
    /// At most [`DENIALS_RECORDED`] of one person's in any
    /// [`DENIALS_WINDOW_MINUTES`] minutes: a script refused in a loop cannot
    /// grow the log at will. The last row recorded says so in its detail's
    /// `note`, so the log never goes quiet without a word.
    pub async fn record_access_denied(
        &self,
        actor_id: Uuid,
        method: &str,
        route: &str,
        id: Option<Uuid>,
        code: Option<&str>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let (at, recent) = recent_refusals(&txn, actor_id, ACCESS_DENIED).await?;
        if recent >= DENIALS_RECORDED {
            txn.rollback().await?;
            return Ok(());
        }
        let mut detail = serde_json::json!({ "method": method, "route": route, "id": id, "code": code });
        if recent + 1 == DENIALS_RECORDED {
            detail["note"] = serde_json::Value::from(last_recorded(ACCESS_DENIED));
        }
        let (subject_type, subject_id) = match id.and_then(|id| Some((subject_of_route(route)?, id))) {
            Some((kind, id)) => (kind, Some(id)),
            None => ("route", None),
        };
        record(
            &txn,
            AuditEntry { at, actor_id: Some(actor_id), action: ACCESS_DENIED, subject_type, subject_id, detail },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// What happened to quote `id`, oldest first, as the audit log keeps it:
    /// drafting, edits, reprices, approvals, refusals, finalising or
    /// cancelling (the first 500), and the latest 50 tries of people it is
    /// not for, refused at the door: anyone may knock as often as the
    /// bound on refusals lets them, and that must not push what happened
    /// to the quote off its page.
    pub async fn quote_history(&self, id: Uuid) -> Result<Vec<AuditView>, StoreError> {
        let about = || {
            audit_log::Entity::find()
                .filter(audit_log::Column::SubjectId.eq(id))
                .filter(audit_log::Column::SubjectType.eq("quote"))
        };
        let mut rows = about()
            .filter(audit_log::Column::Action.ne(ACCESS_DENIED))
            .order_by_asc(audit_log::Column::At)
            .order_by_asc(audit_log::Column::Id)
            .limit(500)
            .all(&self.db)
            .await?;
        let refused = about()
            .filter(audit_log::Column::Action.eq(ACCESS_DENIED))
            .order_by_desc(audit_log::Column::At)
            .order_by_desc(audit_log::Column::Id)
            .limit(50)
            .all(&self.db)
            .await?;
        rows.extend(refused);
        rows.sort_by_key(|r| (r.at, r.id));
        Ok(rows.into_iter().map(audit_view).collect())
    }

    /// What changed, from `from` until `until` (or now), in the accounts of
    /// `people` that decides whether they may sign and change quotes: each
    /// deactivated or reactivated, moved into or out of sales. A quote's
    /// history tells those of its owner and signer: why it waits for another.
    pub async fn signing_changes(
        &self,
        people: &[Uuid],
        from: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditView>, StoreError> {
        if people.is_empty() {
            return Ok(Vec::new());
        }
        let mut changes = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("user.updated"))
            .filter(audit_log::Column::SubjectType.eq("user"))
            .filter(audit_log::Column::SubjectId.is_in(people.iter().copied()))
            .filter(audit_log::Column::At.gte(from));
        if let Some(until) = until {
            changes = changes.filter(audit_log::Column::At.lte(until));
        }
        // The newest 500 of every change to their accounts (names and
        // passwords too), oldest first.
        let mut rows = changes
            .order_by_desc(audit_log::Column::At)
            .order_by_desc(audit_log::Column::Id)
            .limit(500)
            .all(&self.db)
            .await?;
        rows.reverse();
        Ok(rows.into_iter().map(audit_view).filter(changes_signing).collect())
    }

    /// The newest audit rows first: those older than the row `before` (the
    /// last of the previous page) that `filter` lets through. An action the
    /// log is never written with is refused (422, field `action`), as an
    /// unknown state is by the other lists.
    pub async fn list_audit(
        &self,
        limit: u64,
        before: Option<Uuid>,
        filter: AuditFilter<'_>,
    ) -> Result<Vec<AuditView>, StoreError> {
        let AuditFilter { action, subject, actor, since, until } = filter;
        if let Some(action) = action.filter(|a| !AUDIT_ACTIONS.contains(a)) {
            return Err(Invalid::new(
                "action",
                format!(
                    "No audit entry is written with the action “{}”: actions are spelt as the log spells them, such as \
                     quote.finalised.",
                    action.chars().take(64).collect::<String>()
                ),
            )
            .into());
        }
        let mut query = audit_log::Entity::find();
        if let Some(before) = before {
            let Some(last) = audit_log::Entity::find_by_id(before).one(&self.db).await? else {
                return Err(Invalid::new("before", "before must be the id of an audit entry.").into());
            };
            // The first condition alone lets an index by time start at the
            // cursor; the second leaves out the rows up to it within its instant.
            query = query.filter(audit_log::Column::At.lte(last.at)).filter(
                Condition::any().add(audit_log::Column::At.lt(last.at)).add(
                    Condition::all().add(audit_log::Column::At.eq(last.at)).add(audit_log::Column::Id.lt(last.id)),
                ),
            );
        }
        if let Some(action) = action {
            query = query.filter(audit_log::Column::Action.eq(action));
        }
        match subject {
            Some((id, last)) if id == last => query = query.filter(audit_log::Column::SubjectId.eq(id)),
            Some((first, last)) => query = query.filter(audit_log::Column::SubjectId.between(first, last)),
            None => {}
        }
        if let Some(actor) = actor {
            query = query.filter(audit_log::Column::ActorId.eq(actor));
        }
        if let Some(since) = since {
            query = query.filter(audit_log::Column::At.gte(since));
        }
        if let Some(until) = until {
            query = query.filter(audit_log::Column::At.lt(until));
        }
        let rows = query
            .order_by_desc(audit_log::Column::At)
            .order_by_desc(audit_log::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(audit_view).collect())
    }
}

/// Which audit rows to list; each part left `None` lets every row through.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter<'a> {
    /// Only this action's rows, spelt as the log spells it (`quote.finalised`).
    pub action: Option<&'a str>,
    /// Only the rows whose subject's id is within this range (first and
    /// last, the same id for one subject).
    pub subject: Option<(Uuid, Uuid)>,
    /// Only the rows of what this person did (a failed login's row names
    /// the account tried as its subject, and no actor).
    pub actor: Option<Uuid>,
    /// Only the rows written at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only the rows written before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// What a route's `{id}` names (`/api/v1/quotes/{id}/finalise`, a quote),
/// as the log names subjects: a refusal there is found by that subject too.
fn subject_of_route(route: &str) -> Option<&'static str> {
    let before = route.split_once("/{id}")?.0.rsplit('/').next()?;
    match before {
        "quotes" => Some("quote"),
        "notices" => Some("notice"),
        "products" => Some("product"),
        "users" => Some("user"),
        _ => None,
    }
}

fn audit_view(r: audit_log::Model) -> AuditView {
    AuditView {
        id: r.id,
        at: r.at,
        actor_id: r.actor_id,
        action: r.action,
        subject_type: r.subject_type,
        subject_id: r.subject_id,
        detail: r.detail,
    }
}

#[cfg(test)]
mod tests {
    use super::{storable, subject_of_route};
    use serde_json::json;

    #[test]
    fn a_refusal_on_a_route_naming_a_row_is_about_that_row() {
        let subjects: Vec<Option<&str>> = [
            "/api/v1/quotes/{id}/finalise",
            "/quotes/{id}",
            "/notices/{id}/dashboard",
            "/api/v1/users/{id}",
            "/admin/users/{id}/password",
            "/products/{id}/edit",
            "/api/v1/notices",
            "/api/v1/outbox/{id}/resend",
        ]
        .into_iter()
        .map(subject_of_route)
        .collect();
        assert_eq!(
            subjects,
            [Some("quote"), Some("quote"), Some("notice"), Some("user"), Some("user"), Some("product"), None, None]
        );
    }

    #[test]
    fn nul_characters_never_reach_the_stored_detail() {
        let detail = storable(json!({ "email": "ann\u{0}@x", "list": ["a\u{0}"], "n": 1 }));
        assert_eq!(detail, json!({ "email": "ann\u{fffd}@x", "list": ["a\u{fffd}"], "n": 1 }));
    }
}
