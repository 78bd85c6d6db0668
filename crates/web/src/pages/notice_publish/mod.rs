//! Finance, once a notice is drafted: the publish confirmation with the
//! open quotes it touches and how their totals change, publishing, and afterwards
//! the dashboard of who has acknowledged it, with a "remind now" button.

mod confirm;
mod dashboard;
mod done;
mod impact;
mod remind;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use pricegate_store::{AuditFilter, PublishSeen, StoreError};
use uuid::Uuid;

use super::{CsrfForm, Finance, PageError, PageId, PageUser, render};
use crate::AppState;
use confirm::{Confirmation, confirm_page, confirm_publish};
use dashboard::dashboard;
pub(super) use done::{DRAFT_DELETED, DRAFT_GONE, NOTICE_DONE, NoticeDone};
pub(super) use impact::effect_in_words;
use impact::{touched_quotes, touched_tag};
use remind::remind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/{id}/publish", get(confirm_publish).post(publish))
        .route("/notices/{id}/dashboard", get(dashboard).post(remind))
        .route("/notices/{id}/acknowledgements.csv", get(super::acknowledgements_export::export))
}

#[tracing::instrument(name = "publish_notice_page", skip_all, fields(notice = %id))]
async fn publish(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    // The draft as the confirmation showed it, the last publication then,
    // and the open quotes it touched: a form without any of them (sent by
    // hand, or from a page of an older version), or with one unreadable, is
    // shown the draft again to confirm, as one that compares nothing would
    // publish what nobody saw.
    let last_seq = form.get("seen_seq").parse::<i64>();
    let shown = form.get("seen_touched");
    let (Some(as_seen), Ok(last_seq), false) = (form.seen(), last_seq, shown.is_empty()) else {
        let why = format!("Not published: {}. Check the draft below, then publish again.", super::OUT_OF_DATE);
        return shown_again(&app, &user, id, why).await;
    };
    let last_seq = Some(last_seq);
    // The open quotes it touches, as the confirmation showed them: a quote
    // drafted, edited or finalised meanwhile changes what publishing does.
    // (Checked just before publishing: a quote written between the two is
    // not compared; the notice's page and e-mails then show it.)
    let n = match app.store.read_notice(&user.0.actor, id).await {
        Err(e @ StoreError::NotFound { .. }) => return Err(deleted_or(&app, id, e.into()).await),
        n => n?,
    };
    // (A draft edited since is the store's to refuse, and say so.)
    if n.state == "draft"
        && n.revision() == as_seen
        && shown != touched_tag(&touched_quotes(&app, &user, &n.changes).await?.0)
    {
        let why = "Not published: the open quotes this notice touches changed after you opened this confirmation \
                   (a quote drafted, edited or finalised meanwhile). Check them below, then publish again.";
        return shown_again(&app, &user, id, why.to_owned()).await;
    }
    match app.store.publish_notice(&user.0.actor, id, PublishSeen { revisions: Some(&[as_seen]), last_seq }).await {
        Ok(_) => Ok(NoticeDone::Published.back_to_dashboard(&user.seal(&app), id, None)),
        // Published already (the form sent twice, or from a second tab): its
        // dashboard, as after publishing, without saying this form did it.
        Err(StoreError::Conflict { code: "notice_published", .. }) => {
            Ok(Redirect::to(&format!("/notices/{id}/dashboard")).into_response())
        }
        Err(StoreError::Conflict { code: "notice_changed", .. }) => {
            let why = "Not published: the draft changed after you opened this confirmation. Check it below, then publish again.";
            shown_again(&app, &user, id, why.to_owned()).await
        }
        Err(StoreError::Conflict { code: "notice_published_since", .. }) => {
            let why = "Not published: another notice was published after you opened this confirmation, so the prices \
                       and quotes it weighed the draft against may have changed. Check them below, then publish again.";
            shown_again(&app, &user, id, why.to_owned()).await
        }
        // 409 answers a publication just refused.
        Err(StoreError::Conflict { code: "change_never_in_force", message }) => {
            Ok(match confirm_page(&app, &user, id, Some(message), None).await? {
                Confirmation::Page(page) => render(StatusCode::CONFLICT, page.as_ref()),
                Confirmation::Published(redirect) => redirect,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A draft notice not found (`refused`, a 404) because it was deleted
/// (another tab, another person), said so, naming who deleted it and when;
/// any other refusal as it is.
async fn deleted_or(app: &AppState, id: Uuid, refused: PageError) -> PageError {
    if refused.status() != StatusCode::NOT_FOUND {
        return refused;
    }
    let filter = AuditFilter { action: Some("notice.deleted"), subject: Some((id, id)), ..Default::default() };
    let Ok(Some(entry)) = app.store.list_audit(1, None, filter).await.map(|found| found.into_iter().next()) else {
        return refused;
    };
    let by = match entry.actor_id {
        Some(actor) => app.store.user_names(&[actor]).await.ok().and_then(|mut names| names.remove(&actor)),
        None => None,
    };
    let when = app.store.calendar().stamp(entry.at, false);
    let by = by.map(|name| format!(" by {name}")).unwrap_or_default();
    refused
        .told("Deleted", format!("Nothing was published: this draft was deleted {when}{by}."))
        .with_next("/notices", "Notices")
}

/// The confirmation again, with the draft as it is now, saying `why` the
/// one sent was not published (409).
async fn shown_again(app: &AppState, user: &PageUser, id: Uuid, why: String) -> Result<Response, PageError> {
    Ok(match confirm_page(app, user, id, None, None).await? {
        Confirmation::Page(mut page) => {
            page.not_published = Some(why);
            render(StatusCode::CONFLICT, page.as_ref())
        }
        Confirmation::Published(redirect) => redirect,
    })
}
