//! The audit log in the browser, for finance and administrators: every
//! state change with who and when, newest first, a page at a time, of one
//! action or all, about one quote, notice, product or user or all, by one
//! person or all. Read only, as the log is (`GET /api/v1/audit` is the same
//! for programs).

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use pricegate_domain::{Currency, Role};
use pricegate_mail::compose::percent;
use pricegate_store::views::AuditView;
use pricegate_store::{AUDIT_ACTIONS, AuditFilter, StoreError};
use uuid::Uuid;

use super::{Layout, PageError, PageQuery, PageUser, render};
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list)).route("/audit/export.csv", get(super::audit_export::export))
}

/// Entries on one page.
const PAGE_SIZE: u64 = 100;

/// What the page shows of an entry's detail before "more".
const DETAIL_SHOWN: usize = 240;

/// The names the page's address takes ([`AuditQuery`]'s; `before` is its
/// paging).
const KNOWN_FILTERS: [&str; 6] = ["action", "subject", "actor", "from", "to", "before"];

/// The page's address: `?action=quote.finalised&subject=<id>&actor=<e-mail>&from=<date>&to=<date>&before=<id>`.
#[derive(serde::Deserialize, Default)]
pub(super) struct AuditQuery {
    action: Option<String>,
    subject: Option<String>,
    actor: Option<String>,
    /// The first business day to list, and the last (`YYYY-MM-DD`).
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
}

struct EntryRow {
    at: String,
    who: String,
    /// This page showing only what `who` did, where that is someone.
    who_href: Option<String>,
    action: String,
    subject_type: String,
    /// The subject's page, where it has one the reader may open.
    subject_href: Option<String>,
    subject: String,
    /// The detail as [`readable`] writes it, cut at [`DETAIL_SHOWN`] characters, and
    /// whole when it was cut.
    detail: String,
    detail_whole: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    layout: Layout,
    actions: &'static [&'static str],
    action: String,
    subject: String,
    actor: String,
    from: String,
    to: String,
    /// The business's time zone, which the dates are days of.
    zone: &'static str,
    entries: Vec<EntryRow>,
    older: Option<String>,
    newest: Option<String>,
    /// The entries listed, every page of them, as a CSV file.
    export: String,
    /// What in the address could not be read, said once above the list.
    note: Option<String>,
}

impl AuditPage {
    /// Whether any filter narrows the list.
    fn filtered(&self) -> bool {
        [&self.action, &self.subject, &self.actor, &self.from, &self.to].iter().any(|f| !f.is_empty())
    }
}

/// An action as typed: one the log writes, spelt as it spells it
/// (`quote.finalised`), or nothing.
pub(super) fn action_of(typed: &str) -> Option<&'static str> {
    AUDIT_ACTIONS.iter().copied().find(|a| *a == typed)
}

/// A subject as typed: its id, or the short reference (the id's first eight
/// hex digits) pages and e-mails show, as written in the address and as the
/// range of ids it stands for.
fn subject_of(typed: &str) -> Option<(String, (Uuid, Uuid))> {
    match Uuid::parse_str(typed) {
        Ok(id) => Some((id.to_string(), (id, id))),
        Err(_) => super::reference_range(typed),
    }
}

/// The product with `typed` as its SKU, else the user with it as their
/// e-mail address.
async fn subject_named(app: &AppState, typed: &str) -> Result<Option<Named>, PageError> {
    if let Some(id) = app.store.product_id_by_sku(typed).await? {
        return Ok(Some(Named { id, formerly: None, before: None }));
    }
    address_holder(app, typed).await
}

/// The person `typed` names: their e-mail address, or their id.
async fn person_named(app: &AppState, typed: &str) -> Result<Option<Named>, PageError> {
    if let Ok(id) = Uuid::parse_str(typed) {
        let known = app.store.users_by_id(&[id]).await?.contains_key(&id);
        return Ok(known.then_some(Named { id, formerly: None, before: None }));
    }
    address_holder(app, typed).await
}

/// Who a filter names, and, when it names them by an address they have
/// since changed, a sentence saying so (their name, and until when).
struct Named {
    id: Uuid,
    formerly: Option<String>,
    /// Someone else had the address before its holder now, said.
    before: Option<String>,
}

impl Named {
    /// Their id, adding to `said` what the page says of how they were
    /// found, ending in what it is `showing` of them.
    fn said(self, showing: &str, said: &mut Vec<String>) -> Uuid {
        said.extend(self.formerly.map(|was| format!("{was} {showing}")));
        said.extend(self.before);
        self.id
    }
}

/// The person with the address `typed`, or, when nobody has it now, the
/// one who last had it before changing it: the log keeps what they did
/// under it, and an auditor comes with the address an e-mail went to. An
/// address given to someone else since names its holder now, and says who
/// had it before.
async fn address_holder(app: &AppState, typed: &str) -> Result<Option<Named>, PageError> {
    let Some(email) = pricegate_domain::Email::for_login(typed) else { return Ok(None) };
    let holder = app.store.user_id_by_email(&email).await?;
    let former = app.store.former_holder_of(&email).await?.filter(|(id, _)| Some(*id) != holder);
    let ids: Vec<Uuid> = holder.into_iter().chain(former.map(|(id, _)| id)).collect();
    let mut people = app.store.users_by_id(&ids).await?;
    let calendar = app.store.calendar();
    let had = former.and_then(|(id, until)| {
        let person = people.remove(&id)?;
        let until = calendar.stamp(until, true);
        Some((id, format!("{} had it until {until}, and is {} now", person.name, person.email)))
    });
    Ok(match (holder, had) {
        (Some(id), had) => Some(Named {
            id,
            formerly: None,
            before: had
                .map(|(_, had)| format!("Before its holder now, {had}: search by that address for what they did.")),
        }),
        (None, Some((id, had))) => Some(Named {
            id,
            formerly: Some(format!("Nobody has the address \u{201c}{email}\u{201d} now: {had}.")),
            before: None,
        }),
        (None, None) => None,
    })
}

/// The filters of one page of the log, as written in its address.
#[derive(Clone, Copy, Default)]
struct Filters<'a> {
    action: Option<&'a str>,
    subject: Option<&'a str>,
    actor: Option<&'a str>,
    from: Option<&'a str>,
    to: Option<&'a str>,
}

/// The address of this page with the filters kept.
fn address(filters: Filters<'_>, before: Option<Uuid>) -> String {
    address_at("/audit", filters, before)
}

/// The address `path` with the filters kept.
fn address_at(path: &str, filters: Filters<'_>, before: Option<Uuid>) -> String {
    let before = before.map(|b| b.to_string());
    super::list_address(
        path,
        &[
            filters.action.map(|a| ("action", a)),
            filters.subject.map(|s| ("subject", s)),
            filters.actor.map(|a| ("actor", a)),
            filters.from.map(|f| ("from", f)),
            filters.to.map(|t| ("to", t)),
            before.as_deref().map(|b| ("before", b)),
        ],
    )
}

/// Where the entry's subject is shown to `reader`, if anywhere: a quote's
/// page is for finance (an admin's role does not open it), a notice's while
/// the reader may read it (a draft deleted since has none).
fn subject_href(reader: Role, entry: &AuditView, readable_notices: &HashSet<Uuid>) -> Option<String> {
    let id = entry.subject_id?;
    match (entry.subject_type.as_str(), reader) {
        ("quote", Role::Finance) => Some(format!("/quotes/{id}")),
        ("notice", _) if readable_notices.contains(&id) => Some(format!("/notices/{id}")),
        ("product", Role::Finance) => Some(format!("/products/{id}/edit")),
        _ => None,
    }
}

/// The filters an address asks for, as read: what to list, the address's
/// own words for them, and what could not be read, said.
pub(super) struct Chosen<'q> {
    pub filter: AuditFilter<'q>,
    /// The subject as the address writes it (a reference in small letters).
    pub subject: Option<String>,
    /// The person as typed, when someone has that address.
    pub actor: Option<&'q str>,
    pub from: Option<&'q str>,
    pub to: Option<&'q str>,
    pub notes: Vec<String>,
    /// A person named by an address they have since changed, said: the
    /// list is theirs, as asked (an export is not refused for it).
    pub formerly: Option<String>,
    /// A filter names nothing there is (an action never written, an address
    /// nobody has): nothing is listed, rather than every entry under its name.
    matches_nothing: bool,
}

/// The filters of `query`.
pub(super) async fn chosen<'q>(app: &AppState, query: &'q AuditQuery) -> Result<Chosen<'q>, PageError> {
    let typed_action = query.action.as_deref().map(str::trim).unwrap_or("");
    let action = action_of(typed_action);
    let typed_subject = query.subject.as_deref().map(str::trim).unwrap_or("");
    // A product by its SKU, or a person by their address, as people name
    // them (the address keeps it so), before a reference: a SKU may be
    // eight hex digits too.
    let named = match Uuid::parse_str(typed_subject).is_err() && !typed_subject.is_empty() {
        true => subject_named(app, typed_subject).await?,
        false => None,
    };
    let mut formerly: Vec<String> = Vec::new();
    let (subject, ids) = match named {
        Some(named) => {
            let id = named.said("Showing the entries about them.", &mut formerly);
            (Some(typed_subject.to_owned()), Some((id, id)))
        }
        None => subject_of(typed_subject).unzip(),
    };
    let typed_actor = query.actor.as_deref().map(str::trim).unwrap_or("");
    let actor = match typed_actor.is_empty() {
        true => None,
        false => person_named(app, typed_actor).await?,
    };
    let actor = actor.map(|named| named.said("Showing what they did.", &mut formerly));
    let mut notes = Vec::new();
    let mut matches_nothing = false;
    if !typed_action.is_empty() && action.is_none() {
        matches_nothing = true;
        notes.push(format!(
            "No entry is written with the action \u{201c}{typed_action}\u{201d}: actions are spelt as the log \
             spells them, such as quote.finalised (the box suggests each one)."
        ));
    }
    if !typed_subject.is_empty() && subject.is_none() {
        matches_nothing = true;
        notes.push(format!(
            "Nothing goes by \u{201c}{typed_subject}\u{201d}: a subject is the id of a quote, notice, product or \
             user, its 8-character reference, a product's SKU or a person's e-mail address."
        ));
    }
    if !typed_actor.is_empty() && actor.is_none() {
        matches_nothing = true;
        notes.push(match Uuid::parse_str(typed_actor) {
            Ok(_) => format!(
                "Nobody here has the id \u{201c}{typed_actor}\u{201d}: who is a person's e-mail address, as the \
                 users page shows it, or their id."
            ),
            Err(_) => format!(
                "Nobody here has the address \u{201c}{typed_actor}\u{201d}: who is a person's e-mail address, as \
                 the users page shows it."
            ),
        });
    }
    // Days of the business, from the first instant of `from` to the first of the day after `to`.
    let days = super::business_days(app.store.calendar(), query.from.as_deref(), query.to.as_deref());
    matches_nothing |= !days.notes.is_empty() || days.reversed.is_some();
    notes.extend(days.notes);
    notes.extend(days.reversed);
    let (since, until) = days.within;
    Ok(Chosen {
        filter: AuditFilter { action, subject: ids, actor, since, until },
        subject,
        actor: actor.map(|_| typed_actor),
        from: days.from,
        to: days.to,
        notes,
        formerly: (!formerly.is_empty()).then(|| formerly.join(" ")),
        matches_nothing,
    })
}

impl Chosen<'_> {
    /// The filters as an address writes them.
    fn filters(&self) -> Filters<'_> {
        Filters {
            action: self.filter.action,
            subject: self.subject.as_deref(),
            actor: self.actor,
            from: self.from,
            to: self.to,
        }
    }
}

/// The log, newest first, [`PAGE_SIZE`] at a time. A filter that cannot be
/// read (mistyped, or a stale link) is said above the list, which shows
/// every entry the rest of the address allows.
async fn list(
    State(app): State<AppState>,
    user: PageUser,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    PageQuery { query, unreadable }: PageQuery<AuditQuery>,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance, Role::Admin])?;
    let mut chosen = chosen(&app, &query).await?;
    if unreadable {
        chosen
            .notes
            .insert(0, "This address could not be read (a filter given twice, say): showing every entry.".to_owned());
    } else if let Some(unknown) = super::download::unknown_filter(raw.as_deref(), &KNOWN_FILTERS) {
        // Mistyped (`since=` for `from=`): the list is not what was asked for.
        chosen.notes.insert(0, format!("{unknown} It was left out."));
    }
    let (filter, filters, matches_nothing) = (chosen.filter, chosen.filters(), chosen.matches_nothing);
    let mut notes = chosen.notes.clone();
    notes.extend(chosen.formerly.clone());
    let calendar = app.store.calendar();
    // An id that names no entry, or no id at all (a stale or edited link),
    // shows the newest, and says so.
    const GONE: &str = "That page of the log is gone: its link names no entry. Showing the newest.";
    let typed_before = query.before.as_deref().map(str::trim).filter(|b| !b.is_empty());
    let before = typed_before.and_then(|id| Uuid::parse_str(id).ok());
    if typed_before.is_some() && before.is_none() {
        notes.push(GONE.to_owned());
    }
    let (entries, before) = match matches_nothing {
        true => (Vec::new(), None),
        false => match app.store.list_audit(PAGE_SIZE + 1, before, filter).await {
            Err(StoreError::Invalid(_)) => {
                notes.push(GONE.to_owned());
                (app.store.list_audit(PAGE_SIZE + 1, None, filter).await?, None)
            }
            listed => (listed?, before),
        },
    };
    // A subject nothing in the log is about (an id mistyped, or from
    // elsewhere) is said, not left to look like a quiet one.
    if let (true, None, Some(subject)) = (entries.is_empty(), before, filter.subject) {
        let about = AuditFilter { subject: Some(subject), ..AuditFilter::default() };
        if app.store.list_audit(1, None, about).await?.is_empty() {
            let typed = chosen.subject.as_deref().unwrap_or_default();
            notes.push(format!(
                "No entry in the log is about \u{201c}{typed}\u{201d}, with these filters or without them: check the \
                 id, a quote's, notice's, product's or user's, or its 8-character reference."
            ));
        }
    }
    let mut entries: Vec<AuditView> = entries.into_iter().map(|e| e.for_reader(user.0.actor.role)).collect();
    let newest = before.is_some().then(|| address(filters, None));
    let older = super::cut_to_page(&mut entries, PAGE_SIZE, |last| address(filters, last.map(|e| e.id)));
    let mut people: Vec<Uuid> = entries
        .iter()
        .flat_map(|e| [e.actor_id, e.subject_id.filter(|_| e.subject_type == "user")])
        .flatten()
        .collect();
    entries.iter().for_each(|e| ids_in(&e.detail, &mut people));
    let people = app.store.users_by_id(&people).await?;
    let names: HashMap<Uuid, String> = people.iter().map(|(id, u)| (*id, u.name.clone())).collect();
    let notices: Vec<Uuid> =
        entries.iter().filter(|e| e.subject_type == "notice").filter_map(|e| e.subject_id).collect();
    let readable_notices = app.store.readable_notices(&user.0.actor, &notices).await?;
    let rows = entries
        .into_iter()
        .map(|e| {
            let detail = match e.action.as_str() {
                // As the quote's history says it: each field, product and the total.
                "quote.edited" if e.detail["changed"].is_array() => {
                    let currency = e.detail["currency"].as_str().unwrap_or_default();
                    let signer = e.detail["signer_id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
                    super::quotes::edited_row(&e.detail, currency, signer.and_then(|id| names.get(&id).cloned()))
                }
                "user.updated" if e.detail["before"].is_object() => user_changes(&e.detail),
                _ => readable(&e.detail, &names),
            };
            let cut = detail.chars().count() > DETAIL_SHOWN;
            EntryRow {
                at: calendar.stamp(e.at, true),
                who: match e.actor_id {
                    // The account a failed login tried is its subject; who typed it is not known.
                    _ if e.action == "auth.login_failed" => "unknown (not logged in)".to_owned(),
                    Some(id) => names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                    // Made by a command on the server (`pricegate user create`, the demo).
                    None if e.action == "user.created" => "a command on the server".to_owned(),
                    // Asked for from the login page or an e-mailed link, by whoever had it.
                    None => "unknown (not logged in)".to_owned(),
                },
                who_href: e
                    .actor_id
                    .and_then(|id| people.get(&id))
                    .filter(|u| filter.actor != Some(u.id))
                    .map(|u| address(Filters { actor: Some(&u.email), ..Filters::default() }, None)),
                subject_href: subject_href(user.0.actor.role, &e, &readable_notices),
                subject: match e.subject_id {
                    Some(id) if e.subject_type == "user" => names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                    Some(id) => pricegate_domain::quote_reference(id),
                    None => String::new(),
                },
                detail: match cut {
                    true => format!("{}…", detail.chars().take(DETAIL_SHOWN).collect::<String>()),
                    false => detail.clone(),
                },
                detail_whole: cut.then_some(detail),
                action: e.action,
                subject_type: e.subject_type,
            }
        })
        .collect();
    let page = AuditPage {
        layout: user.layout("Audit log"),
        actions: AUDIT_ACTIONS,
        action: filter.action.unwrap_or_default().to_owned(),
        subject: chosen.subject.clone().unwrap_or_default(),
        actor: query.actor.as_deref().map(str::trim).unwrap_or_default().to_owned(),
        from: query.from.as_deref().map(str::trim).unwrap_or_default().to_owned(),
        to: query.to.as_deref().map(str::trim).unwrap_or_default().to_owned(),
        zone: calendar.zone_name(),
        entries: rows,
        export: address_at("/audit/export.csv", filters, None),
        older,
        newest,
        note: (!notes.is_empty()).then(|| notes.join(" ")),
    };
    Ok(render(StatusCode::OK, &page))
}

/// An entry's detail for a person to read: each field of an object as
/// `name: value`, text without its quotes, a list with commas, an object
/// within as `(name: value, …)`, no value as "none"; an id that names a
/// person (`names`) as their name, any other id as its short reference; an
/// amount in minor units (`total_minor`) as money (`total: 3,030.00 EUR`)
/// where the entry, or the object it is in, says its `currency`.
/// A `user.updated` row as what changed: "deactivated", "role sales →
/// finance", "name …", "e-mail …", "new password", then what that ended.
fn user_changes(detail: &serde_json::Value) -> String {
    let (before, after) = (&detail["before"], &detail["after"]);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let mut said = Vec::new();
    if before["active"] != after["active"] {
        said.push(if after["active"] == true { "reactivated" } else { "deactivated" }.to_owned());
    }
    for (field, words) in [("role", "role"), ("name", "name"), ("email", "e-mail")] {
        if before[field] != after[field] {
            said.push(format!("{words} {} \u{2192} {}", text(&before[field]), text(&after[field])));
        }
    }
    if detail["password_changed"] == true {
        said.push("new password".to_owned());
    }
    for (field, words) in [
        ("sessions_and_tokens_ended", "sessions and API tokens ended"),
        ("password_links_ended", "password links ended"),
        ("ack_links_ended", "acknowledgement links ended"),
        ("failed_logins_forgotten", "failed logins forgotten"),
    ] {
        if let Some(n) = detail[field].as_u64().filter(|n| *n > 0) {
            said.push(format!("{words}: {n}"));
        }
    }
    if said.is_empty() { "nothing changed".to_owned() } else { said.join("; ") }
}

fn readable(detail: &serde_json::Value, names: &HashMap<Uuid, String>) -> String {
    use serde_json::Value;
    struct Reader<'a> {
        names: &'a HashMap<Uuid, String>,
    }
    impl Reader<'_> {
        fn value(&self, value: &Value, currency: Option<Currency>) -> String {
            match value {
                Value::String(s) => match Uuid::parse_str(s) {
                    Ok(id) => self.names.get(&id).cloned().unwrap_or_else(|| pricegate_domain::quote_reference(id)),
                    Err(_) => s.clone(),
                },
                Value::Null => "none".to_owned(),
                Value::Bool(_) | Value::Number(_) => value.to_string(),
                Value::Array(items) if items.is_empty() => "none".to_owned(),
                Value::Array(items) => {
                    items.iter().map(|item| self.value(item, currency)).collect::<Vec<_>>().join(", ")
                }
                Value::Object(fields) => format!("({})", self.fields(fields, ", ", currency)),
            }
        }

        /// A field's name in words: `signer_id` holding a person's id is
        /// "signer", as its value reads as their name.
        fn label(&self, name: &str, value: &Value) -> String {
            let person =
                value.as_str().and_then(|s| Uuid::parse_str(s).ok()).is_some_and(|id| self.names.contains_key(&id));
            let name = match name.strip_suffix("_id") {
                Some(base) if person => base,
                _ => name,
            };
            name.replace('_', " ")
        }

        /// `currency` is the enclosing object's; this object's own, when
        /// it has amounts to give it, is said with them and not again alone.
        fn fields(&self, fields: &serde_json::Map<String, Value>, between: &str, outer: Option<Currency>) -> String {
            let own = fields.get("currency").and_then(Value::as_str).and_then(|c| Currency::parse(c).ok());
            let said_with_amounts = own.is_some()
                && (fields.keys().any(|name| name.ends_with("_minor")) || fields.values().any(has_amounts));
            let currency = own.or(outer);
            fields
                .iter()
                .filter(|(name, _)| !(*name == "currency" && said_with_amounts))
                .map(|(name, value)| {
                    let as_money = |minor: i64| currency.map(|c| c.format(minor));
                    // Basis points (`discount_bp`) as the pages write a discount.
                    let as_percent = |bp: i64| i32::try_from(bp).ok().map(percent);
                    let said = match (name.strip_suffix("_minor"), name.strip_suffix("_bp")) {
                        (Some(name), _) => amounts(value, &as_money).map(|said| (name, said)),
                        (_, Some(name)) => amounts(value, &as_percent).map(|said| (name, said)),
                        _ => None,
                    };
                    match said {
                        Some((name, said)) => format!("{}: {said}", name.replace('_', " ")),
                        None => format!("{}: {}", self.label(name, value), self.value(value, currency)),
                    }
                })
                .collect::<Vec<_>>()
                .join(between)
        }
    }
    /// An amount (`say` writes one), a list of them, or a line's before
    /// and after (`unit_prices_minor: [[1000, 1200], [1100]]`), as the
    /// quote's history says it: "10.00 EUR and 12.00 EUR → 11.00 EUR".
    /// `None` for anything else, or what `say` cannot write (no currency):
    /// said as it is.
    fn amounts(value: &Value, say: &dyn Fn(i64) -> Option<String>) -> Option<String> {
        let list = |items: &[Value], between: &str| -> Option<String> {
            let said: Option<Vec<String>> = items.iter().map(|v| v.as_i64().and_then(say)).collect();
            said.filter(|said| !said.is_empty()).map(|said| said.join(between))
        };
        match value {
            Value::Array(sides) => match sides.as_slice() {
                [Value::Array(before), Value::Array(after)] => {
                    Some(format!("{} \u{2192} {}", list(before, " and ")?, list(after, " and ")?))
                }
                items => list(items, ", "),
            },
            _ => value.as_i64().and_then(say),
        }
    }
    /// Whether an amount in minor units is anywhere in `value`.
    fn has_amounts(value: &Value) -> bool {
        match value {
            Value::Array(items) => items.iter().any(has_amounts),
            Value::Object(fields) => fields.iter().any(|(name, value)| name.ends_with("_minor") || has_amounts(value)),
            _ => false,
        }
    }
    let reader = Reader { names };
    match detail {
        Value::Object(fields) => reader.fields(fields, "; ", None),
        _ => reader.value(detail, None),
    }
}

/// The ids anywhere in an entry's detail, to be named.
fn ids_in(detail: &serde_json::Value, ids: &mut Vec<Uuid>) {
    use serde_json::Value;
    match detail {
        Value::String(s) => ids.extend(Uuid::parse_str(s).ok()),
        Value::Array(items) => items.iter().for_each(|item| ids_in(item, ids)),
        Value::Object(fields) => fields.values().for_each(|value| ids_in(value, ids)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_an_id_or_its_short_reference() {
        let id = Uuid::parse_str("bcd9aa1d-1234-4000-8000-000000000000").unwrap();
        assert_eq!(subject_of(&id.to_string()), Some((id.to_string(), (id, id))));
        let (written, (first, last)) = subject_of("BCD9AA1D").unwrap();
        assert_eq!(written, "bcd9aa1d");
        assert!(first <= id && id <= last);
        assert!(last < Uuid::parse_str("bcd9aa1e-0000-0000-0000-000000000000").unwrap());
        for typed in ["bcd9aa1", "bcd9aa1dd", "bcd9aa1g", "", "bcd9aa1-"] {
            assert_eq!(subject_of(typed), None, "{typed}");
        }
    }

    #[test]
    fn a_detail_reads_as_fields_and_values() {
        use serde_json::json;
        let sam = Uuid::from_u128(1);
        let notice = Uuid::parse_str("bcd9aa1d-0000-4000-8000-000000000000").unwrap();
        let names = HashMap::from([(sam, "Sam".to_owned())]);
        let read = |detail: serde_json::Value| readable(&detail, &names);
        assert_eq!(
            read(json!({"email": "nina@pricegate.example", "role": "sales", "invited": true})),
            "email: nina@pricegate.example; invited: true; role: sales"
        );
        assert_eq!(
            read(json!({"notices": ["a", "b"], "reason": null, "count": 3})),
            "count: 3; notices: a, b; reason: none"
        );
        assert_eq!(read(json!({"acknowledged_notices": []})), "acknowledged notices: none");
        assert_eq!(
            read(json!({"before": {"role": "sales", "active": true}, "after": {"role": "finance", "active": true}})),
            "after: (active: true, role: finance); before: (active: true, role: sales)"
        );
        assert_eq!(read(json!({"signer_id": sam, "pending": [notice]})), "pending: bcd9aa1d; signer: Sam");
        assert_eq!(read(json!({"lines": [{"sku": "P", "quantity": 2}]})), "lines: (quantity: 2, sku: P)");
        assert_eq!(
            read(json!({"currency": "EUR", "lines": [{"sku": "P", "discount_bp": 1250, "unit_price_minor": 1050}]})),
            "lines: (discount: 12.50 %, sku: P, unit price: 10.50 EUR)",
            "a line as drafted, in the pages' words"
        );
        assert_eq!(
            read(
                json!({"total_minor": 303000, "currency": "EUR", "covers": [{"sku": "P", "quoted_unit_price_minor": 1050}]})
            ),
            "covers: (quoted unit price: 10.50 EUR, sku: P); total: 3,030.00 EUR"
        );
        assert_eq!(
            read(json!({"sku": "P", "unit_price_minor": 150, "currency": "JPY"})),
            "sku: P; unit price: 150 JPY"
        );
        assert_eq!(
            read(json!({"currency": "EUR", "lines": [{"sku": "P", "unit_prices_minor": [[100000, 90000], [110000]]}]})),
            "lines: (sku: P, unit prices: 1,000.00 EUR and 900.00 EUR \u{2192} 1,100.00 EUR)",
            "a repriced line's prices, before and after, as the quote's history says them"
        );
        assert_eq!(read(json!({"discounts_bp": [[0], [500]]})), "discounts: 0.00 % \u{2192} 5.00 %");
        assert_eq!(read(json!({"currency": "EUR", "prices_minor": [100, 250]})), "prices: 1.00 EUR, 2.50 EUR");
        assert_eq!(read(json!({"prices_minor": [[100], [250]]})), "prices minor: 100, 250", "no currency, no money");
        assert_eq!(read(json!({"currency": "EUR", "reason": "agreed"})), "currency: EUR; reason: agreed");
        assert_eq!(
            read(json!({"total_minor": 303000, "currency": "XXQ"})),
            "currency: XXQ; total minor: 303000",
            "a code that is no currency makes no money"
        );
        assert_eq!(read(json!({"total_minor": 303000})), "total minor: 303000", "no currency said, no money made up");
        assert_eq!(read(json!({})), "");
        assert_eq!(read(json!("text")), "text");
        let mut ids = Vec::new();
        ids_in(&json!({"a": [sam, {"b": notice}], "c": "not an id"}), &mut ids);
        assert_eq!(ids, [sam, notice]);
    }

    #[test]
    fn an_action_is_taken_as_the_log_spells_it_and_the_filters_stay_in_the_address() {
        assert_eq!(action_of("quote.finalised"), Some("quote.finalised"));
        assert_eq!(action_of(""), None);
        assert_eq!(action_of("Quote.Finalised"), None);
        assert_eq!(action_of("quote.finalised&x=<b>"), None);
        assert_eq!(action_of(&"a".repeat(65)), None);
        assert_eq!(action_of("quote.finalized"), None, "no entry is written so");
        let id = Uuid::nil();
        assert_eq!(address(Filters::default(), None), "/audit");
        let filters = Filters {
            action: Some("quote.finalised"),
            subject: Some(&id.to_string()),
            actor: Some("sam+eu@x.example"),
            from: Some("2026-12-01"),
            to: None,
        };
        assert_eq!(
            address(filters, Some(id)),
            format!(
                "/audit?action=quote.finalised&subject={id}&actor=sam%2Beu%40x.example&from=2026-12-01&before={id}"
            )
        );
    }
}
