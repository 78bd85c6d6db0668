//! Who has acknowledged a published notice, who it still waits for, and who
//! was told of it and left without acknowledging, as a CSV file: the
//! dashboard's lists with everything the service keeps of each
//! acknowledgement, for finance's records or an auditor's tools.

use std::collections::{HashMap, HashSet};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_domain::Role;
use pricegate_store::StoreError;
use pricegate_store::views::{AckListView, UserView};
use uuid::Uuid;

use super::download::{Rest, csv_download, file_name, header_line, line, utc};
use super::{PageError, PageId, PageUser};
use crate::AppState;

/// The columns, one row a person. `status` is `acknowledged`, `pending`, or
/// `no_longer_waited_for`: e-mailed about it, never acknowledged, and no
/// longer asked for it (deactivated or moved out of sales since, or, having
/// joined after its publication, no longer signing a draft it holds up),
/// whom the dashboard lists no more.
/// `name_now` and `email_now` are the person's as the file is made;
/// `mailed_to`, the addresses the notice's e-mails to them went to (its
/// publication, its reminders), as they were then, `; ` between two. Times
/// are in UTC and in the business's zone (`zone`); `channel` is how they
/// acknowledged (`web`, `email`, `api`), and `client_address` and
/// `user_agent` where from, as far as they are known. `reminders` counts
/// the e-mails queued to remind them of it (the schedule's and finance's
/// Remind; not one that failed or was set aside), the last at
/// `last_reminded_at_utc`; `drafts_held_up`, for
/// someone not acknowledged, the open quotes they sign that wait on it.
/// `mail_not_delivered`, for someone no e-mail about it has reached though
/// one was tried, is `retrying` (the mail server deferred it) or `failed`
/// (refused for good, or given up on), with the server's last answer in
/// `mail_error`.
const HEADER: [&str; 24] = [
    "notice_id",
    "notice_title",
    "published_at_utc",
    "published_at_local",
    "status",
    "user_id",
    "name_now",
    "email_now",
    "role",
    "active",
    "mailed_to",
    "acknowledged_at_utc",
    "acknowledged_at_local",
    "channel",
    "client_address",
    "user_agent",
    "reminders",
    "last_reminded_at_utc",
    "drafts_held_up",
    "zone",
    "as_of_utc",
    "notice_seq",
    "mail_not_delivered",
    "mail_error",
];

/// `/notices/{id}/acknowledgements.csv`: everyone who has acknowledged the
/// notice, earliest first, then everyone it waits for (those its dashboard
/// lists), then those e-mailed about it it no longer waits for, each part
/// by name; read from `as_of_utc` on (on every row, as the file's name has
/// its day). A draft has none: 409, as its dashboard. The file takes no
/// filters: an address with any is refused rather than ignored.
pub(super) async fn export(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    if raw.is_some_and(|query| !query.is_empty()) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This address could not be read",
            format!(
                "The acknowledgements file takes nothing after its address: download it from the notice's \
                 dashboard, /notices/{id}/dashboard."
            ),
        ));
    }
    let n = app.store.get_notice(&user.0.actor, id).await?;
    let Some(published) = n.published_at else {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "A draft has no acknowledgements",
            format!(
                "Nobody is asked to acknowledge \u{201c}{}\u{201d} until it is published: its acknowledgements \
                 can be downloaded from its dashboard then.",
                n.title
            ),
        )
        .with_next(format!("/notices/{id}"), "Open the draft"));
    };
    let now = app.store.now().await?;
    let (acks, undelivered) = app.store.acknowledgements_and_mail(id).await?;
    let reminded = app.store.reminders_of(id).await?;
    let mut mailed = app.store.mailed_about(id).await?;
    let mut held_up: HashMap<Uuid, usize> = HashMap::new();
    for q in app.store.quotes_waiting_on(id).await? {
        *held_up.entry(q.signer_id).or_default() += 1;
    }
    let gone = no_longer_waited_for(&mailed, &acks);
    let mut gone: Vec<UserView> = app.store.users_by_id(&gone).await?.into_values().collect();
    let calendar = app.store.calendar();
    let by_name = |u: &UserView| (pricegate_store::name_key(&u.name), u.email.clone());
    let (notice_id, published_utc, published_local) = (id.to_string(), utc(published), calendar.stamp(published, true));
    let (as_of, seq) = (utc(now), n.seq.map(|seq| seq.to_string()).unwrap_or_default());
    let mut file = header_line(&HEADER);
    let mut row = |status: &str, user: &UserView, ack: [&str; 5]| {
        let reminders = reminded.get(&user.id);
        let not_acknowledged = status != ACKNOWLEDGED;
        let held = held_up.get(&user.id).copied().unwrap_or_default();
        let not_delivered = undelivered.get(&user.id).filter(|_| not_acknowledged);
        line(
            &mut file,
            &[
                &notice_id,
                &n.title,
                &published_utc,
                &published_local,
                status,
                &user.id.to_string(),
                &user.name,
                &user.email,
                &user.role,
                if user.active { "yes" } else { "no" },
                &mailed.remove(&user.id).unwrap_or_default().join("; "),
                ack[0],
                ack[1],
                ack[2],
                ack[3],
                ack[4],
                &reminders.map_or(0, |(count, _)| *count).to_string(),
                &reminders.map(|(_, last)| utc(*last)).unwrap_or_default(),
                &if not_acknowledged { held.to_string() } else { String::new() },
                calendar.zone_name(),
                &as_of,
                &seq,
                not_delivered.map_or("", |u| if u.failed { "failed" } else { "retrying" }),
                not_delivered.and_then(|u| u.error.as_deref()).unwrap_or_default(),
            ],
        );
    };
    let mut acknowledged = acks.acknowledged;
    acknowledged.sort_by_key(|a| (a.acknowledged_at, a.user.id));
    for a in &acknowledged {
        let at = (utc(a.acknowledged_at), calendar.stamp(a.acknowledged_at, true));
        let (address, agent) = (a.client_address.as_deref(), a.user_agent.as_deref());
        let ack = [at.0.as_str(), &at.1, &a.channel, address.unwrap_or_default(), agent.unwrap_or_default()];
        row(ACKNOWLEDGED, &a.user, ack);
    }
    let mut pending = acks.pending;
    pending.sort_by_cached_key(by_name);
    for u in &pending {
        row(PENDING, u, [""; 5]);
    }
    gone.sort_by_cached_key(by_name);
    for u in &gone {
        row(NO_LONGER_WAITED_FOR, u, [""; 5]);
    }
    let name = file_name(
        "acknowledgements",
        [Some(("notice", seq.as_str())), Some(("", n.title.as_str()))],
        calendar.date_of(now),
    );
    Ok(csv_download(&name, file, Whole, "the acknowledgements export"))
}

/// Those an e-mail about the notice reached (`mailed`, from
/// [`pricegate_store::Store::mailed_about`]) who have neither acknowledged
/// it nor are waited for now (`acks`): told of it, and gone without
/// acknowledging. The file lists them, and the dashboard names them.
pub(super) fn no_longer_waited_for(mailed: &HashMap<Uuid, Vec<String>>, acks: &AckListView) -> Vec<Uuid> {
    let listed: HashSet<Uuid> =
        acks.acknowledged.iter().map(|a| a.user.id).chain(acks.pending.iter().map(|u| u.id)).collect();
    mailed.keys().filter(|id| !listed.contains(id)).copied().collect()
}

/// The `status` column's values (see [`HEADER`]).
const ACKNOWLEDGED: &str = "acknowledged";
const PENDING: &str = "pending";
const NO_LONGER_WAITED_FOR: &str = "no_longer_waited_for";

/// A file read whole before it is sent: a notice's people fit in memory, as
/// its dashboard lists them all.
struct Whole;

impl Rest for Whole {
    async fn next_part(&mut self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
}
