//! The audit log as a CSV file: every entry the audit page's filters
//! choose, all its pages, for a spreadsheet or an auditor's own tools.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use pricegate_domain::{Calendar, Role};
use pricegate_store::views::AuditView;
use pricegate_store::{AuditFilter, StoreError};
use uuid::Uuid;

use super::audit::{AuditQuery, action_of, chosen};
use super::download::{Rest, csv_download, header_line, line, refusal, utc};
use super::{PageError, PageQuery, PageUser};
use crate::AppState;

/// Rows read and sent at a time.
const EXPORT_PAGE: u64 = 1000;

/// The columns. `zone` names the zone `at_local` is written in
/// (`PRICEGATE_TIMEZONE` as the export runs): what its abbreviation stands
/// for, and the zone whose days a notice's `effective_on` counts; `id` is
/// the entry's, as the API and its `before=` name it. Those two came last,
/// after the others.
const HEADER: [&str; 11] = [
    "at_utc",
    "at_local",
    "actor_id",
    "actor_name",
    "actor_email",
    "action",
    "subject_type",
    "subject_id",
    "detail",
    "zone",
    "id",
];

/// The entries the page's filters choose, every one, newest first, as a CSV
/// file (with a BOM, for spreadsheets): the time in UTC and in the business's
/// zone, who (id, name, address), the action, the subject and the detail as
/// JSON, as the reader may read it
/// ([`pricegate_store::views::AuditView::for_reader`]). Read and
/// sent [`EXPORT_PAGE`] rows at a time, so that a long log takes no more
/// memory than a page of it. A filter the page would read leniently, or
/// say something of, is refused (see [`refusal`]).
pub(super) async fn export(
    State(app): State<AppState>,
    user: PageUser,
    RawQuery(raw): RawQuery,
    PageQuery { query, unreadable }: PageQuery<AuditQuery>,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance, Role::Admin])?;
    let chosen = chosen(&app, &query).await?;
    const KNOWN: [&str; 5] = ["action", "subject", "actor", "from", "to"];
    if let Some(refused) = refusal(unreadable, raw.as_deref(), &KNOWN, &chosen.notes, "the audit page, /audit") {
        return Err(refused);
    }
    // Owned by the task that reads on (an action is one of the log's own words).
    let AuditFilter { action, subject, actor, since, until } = chosen.filter;
    let filter = AuditFilter { action: action.and_then(action_of), subject, actor, since, until };
    let calendar = app.store.calendar();
    // An address as Pricegate keeps it (in small letters), however it was typed.
    let by = chosen.actor.map(str::to_lowercase);
    let about = chosen.subject.as_deref().map(|subject| match subject.contains('@') {
        true => subject.to_lowercase(),
        false => subject.to_owned(),
    });
    let file = super::download::file_name(
        "audit",
        [
            filter.action.map(|action| ("", action)),
            about.as_deref().map(|subject| ("about", subject)),
            by.as_deref().map(|email| ("by", email)),
            chosen.from.map(|day| ("from", day)),
            chosen.to.map(|day| ("to", day)),
        ],
        calendar.today(),
    );
    let mut entries = Entries { app, filter, reader: user.0.actor.role, calendar, last: None, done: false };
    // The first rows are read before the answer starts: a failure then is an error page, not a cut file.
    let first = header_line(&HEADER) + &entries.next_part().await?.unwrap_or_default();
    Ok(csv_download(&file, first, entries, "the audit export"))
}

/// The entries after `last`, a page at a time, as CSV lines.
struct Entries {
    app: AppState,
    filter: AuditFilter<'static>,
    reader: Role,
    calendar: Calendar,
    /// The last entry sent, `None` before the first page.
    last: Option<Uuid>,
    /// Set once a page came back short: there is no page after it.
    done: bool,
}

impl Rest for Entries {
    async fn next_part(&mut self) -> Result<Option<String>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let rows = self.app.store.list_audit(EXPORT_PAGE, self.last, self.filter).await?;
        self.done = (rows.len() as u64) < EXPORT_PAGE;
        let Some(last) = rows.last() else { return Ok(None) };
        self.last = Some(last.id);
        self.lines(rows).await.map(Some)
    }
}

impl Entries {
    async fn lines(&self, rows: Vec<AuditView>) -> Result<String, StoreError> {
        let ids: Vec<Uuid> = rows.iter().filter_map(|e| e.actor_id).collect();
        let people = self.app.store.users_by_id(&ids).await?;
        let mut part = String::new();
        for e in rows.into_iter().map(|e| e.for_reader(self.reader)) {
            let who = e.actor_id.and_then(|id| people.get(&id));
            line(
                &mut part,
                &[
                    &utc(e.at),
                    &self.calendar.stamp(e.at, true),
                    &e.actor_id.map(|id| id.to_string()).unwrap_or_default(),
                    who.map_or("", |u| u.name.as_str()),
                    who.map_or("", |u| u.email.as_str()),
                    &e.action,
                    &e.subject_type,
                    &e.subject_id.map(|id| id.to_string()).unwrap_or_default(),
                    &e.detail.to_string(),
                    self.calendar.zone_name(),
                    &e.id.to_string(),
                ],
            );
        }
        Ok(part)
    }
}
