//! The audit log as a CSV file: every entry the audit page's filters
//! choose, all its pages, for a spreadsheet or an auditor's own tools.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use pricegate_domain::Role;
use pricegate_domain::csv::{guarded, push_line};
use pricegate_store::AuditFilter;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::audit::{AuditQuery, action_of, chosen};
use super::{PageError, PageQuery, PageUser};
use crate::AppState;

/// Rows read and sent at a time.
const EXPORT_PAGE: u64 = 1000;

/// How long a reader may leave a part of the file unread before the
/// download is given up: a client that stops reading holds no task, rows
/// or connection for ever.
const STALLED: Duration = Duration::from_secs(60);

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

/// What the export's task sends, as a body streams it.
type Part = Result<String, std::io::Error>;

/// The entries the page's filters choose, every one, newest first, as a CSV
/// file (with a BOM, for spreadsheets): the time in UTC and in the business's
/// zone, who (id, name, address), the action, the subject and the detail as
/// JSON, as the reader may read it
/// ([`pricegate_store::views::AuditView::for_reader`]). Read and
/// sent [`EXPORT_PAGE`] rows at a time, so that a long log takes no more
/// memory than a page of it. An address that cannot be read (a filter given
/// twice) is refused rather than taken for no filter at all.
pub(super) async fn export(
    State(app): State<AppState>,
    user: PageUser,
    PageQuery { query, unreadable }: PageQuery<AuditQuery>,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance, Role::Admin])?;
    if unreadable {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This address could not be read",
            "A filter is given twice, or written so that it cannot be read: download from the audit page, /audit, \
             with the filters chosen there.",
        ));
    }
    let reader = user.0.actor.role;
    let chosen = chosen(&app, &query).await?;
    // The first rows are read before the answer starts: a failure then is an error page, not a cut file.
    let first = match chosen.matches_nothing {
        true => Vec::new(),
        false => app.store.list_audit(EXPORT_PAGE, None, chosen.filter).await?,
    };
    // Owned by the task that reads on (an action is one of the log's own words).
    let AuditFilter { action, subject, actor, since, until } = chosen.filter;
    let filter = AuditFilter { action: action.and_then(action_of), subject, actor, since, until };
    let (sender, receiver) = mpsc::channel::<Part>(2);
    // Set once the last part is sent: a file that ends without it was cut
    // short, and is ended as an error rather than as a whole file.
    let whole = Arc::new(AtomicBool::new(false));
    let received = Received { parts: receiver, whole: whole.clone(), cut: false };
    let calendar = app.store.calendar();
    let file = format!("attachment; filename=\"pricegate-audit-{}.csv\"", calendar.today());
    tokio::spawn(async move {
        let mut rows = first;
        let mut part = format!("\u{feff}{}\r\n", HEADER.join(","));
        loop {
            let ids: Vec<Uuid> = rows.iter().filter_map(|e| e.actor_id).collect();
            let people = match app.store.users_by_id(&ids).await {
                Ok(people) => people,
                Err(e) => return give_up(&sender, e).await,
            };
            for e in rows.iter().cloned().map(|e| e.for_reader(reader)) {
                let who = e.actor_id.and_then(|id| people.get(&id));
                line(
                    &mut part,
                    &[
                        &e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                        &calendar.stamp(e.at, true),
                        &e.actor_id.map(|id| id.to_string()).unwrap_or_default(),
                        who.map_or("", |u| u.name.as_str()),
                        who.map_or("", |u| u.email.as_str()),
                        &e.action,
                        &e.subject_type,
                        &e.subject_id.map(|id| id.to_string()).unwrap_or_default(),
                        &e.detail.to_string(),
                        calendar.zone_name(),
                        &e.id.to_string(),
                    ],
                );
            }
            match tokio::time::timeout(STALLED, sender.send(Ok(std::mem::take(&mut part)))).await {
                Ok(Ok(())) => {}
                // The reader went away, or stopped reading.
                Ok(Err(_)) | Err(_) => return,
            }
            let Some(last) = rows.last().filter(|_| rows.len() as u64 == EXPORT_PAGE) else {
                return whole.store(true, Ordering::Release);
            };
            rows = match app.store.list_audit(EXPORT_PAGE, Some(last.id), filter).await {
                Ok(rows) if !rows.is_empty() => rows,
                Ok(_) => return whole.store(true, Ordering::Release),
                Err(e) => return give_up(&sender, e).await,
            };
        }
    });
    let headers = [
        (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (CONTENT_DISPOSITION, file),
        (CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, axum::body::Body::from_stream(received)).into_response())
}

/// Ends a download part way, said in the log: the reader's file is cut
/// short (the connection ends with an error, not as a whole file).
async fn give_up(sender: &mpsc::Sender<Part>, error: pricegate_store::StoreError) {
    tracing::error!(error = %error, "the audit export stopped part way");
    let _ = tokio::time::timeout(STALLED, sender.send(Err(std::io::Error::other(error.to_string())))).await;
}

/// Appends `fields` to `out` as one CSV line, each guarded against being
/// run as a spreadsheet formula and quoted where it must be.
fn line(out: &mut String, fields: &[&str]) {
    let guarded: Vec<String> = fields.iter().map(|f| guarded(f)).collect();
    push_line(out, &guarded.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The parts the export's task sends, as a body streams them; if they end
/// before the last was sent (the task gave up), an error ends the body, so
/// that the reader's download fails rather than looking whole.
struct Received {
    parts: mpsc::Receiver<Part>,
    whole: Arc<AtomicBool>,
    cut: bool,
}

impl futures_core::Stream for Received {
    type Item = Part;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        match self.parts.poll_recv(cx) {
            Poll::Ready(None) if !self.cut && !self.whole.load(Ordering::Acquire) => {
                self.cut = true;
                Poll::Ready(Some(Err(std::io::Error::other("the audit export stopped before its last entry"))))
            }
            polled => polled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(received: &mut Received) -> Option<Part> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut *received), cx)).await
    }

    #[tokio::test]
    async fn a_file_cut_short_ends_in_an_error_and_a_whole_one_does_not() {
        for whole in [false, true] {
            let (sender, parts) = mpsc::channel(2);
            let flag = Arc::new(AtomicBool::new(false));
            let mut received = Received { parts, whole: flag.clone(), cut: false };
            sender.send(Ok("at_utc\r\n".to_owned())).await.expect("sent");
            flag.store(whole, Ordering::Release);
            drop(sender);
            assert!(matches!(next(&mut received).await, Some(Ok(_))), "the part sent");
            if !whole {
                assert!(matches!(next(&mut received).await, Some(Err(_))), "cut short: an error ends it");
            }
            assert!(next(&mut received).await.is_none(), "then it ends");
        }
    }
}
