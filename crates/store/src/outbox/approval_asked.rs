//! Finance is told when a salesperson asks it to approve keeping a draft's
//! old prices: each active colleague in finance who may approve it (not its
//! owner or signer) gets the request, with the lines and a link to the quote.

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::signer_named::signed_quote;
use super::{APPROVAL_ASKED, Batch, Letter, recipient};
use crate::entity::{approval_requests, quotes, users};
use crate::views::SupersededLineView;
use crate::{Actor, Store, StoreError};

const ASKED_KEY: &str = "approval-asked:";

/// The key of the e-mail telling `user` of request `request` about `quote`.
fn asked_key(quote: Uuid, request: Uuid, user: Uuid) -> String {
    format!("{ASKED_KEY}{quote}:{request}:{user}")
}

/// The quote and the request a request's e-mail is about, from its key.
pub(super) fn asked_about(row: &crate::entity::outbox::Model) -> Option<(Uuid, Uuid)> {
    let mut parts = row.dedupe_key.strip_prefix(ASKED_KEY)?.split(':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

impl Store {
    /// Queues, in the caller's transaction, the e-mails telling finance that
    /// `by` asks it to approve keeping the old prices of `quote` (worth
    /// `total_minor`), as `request` keeps it, with its `lines` at an old
    /// price. Returns how many were queued: none when the store sends no
    /// mail, or nobody in finance may approve it.
    pub(crate) async fn ask_finance_to_approve(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        (quote, total_minor): (&quotes::Model, i64),
        (request, lines): (&approval_requests::Model, &[SupersededLineView]),
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(0) };
        let Some(asker) = users::Entity::find_by_id(by.id).one(conn).await? else { return Ok(0) };
        let finance = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Finance.as_str()))
            .filter(users::Column::Active.eq(true))
            .filter(users::Column::Id.is_not_in([quote.owner_id, quote.signer_id]))
            .all(conn)
            .await?;
        let signed = signed_quote(&setup.base_url, quote, total_minor, 0);
        let mut batch = Batch::new(&setup, now);
        for person in &finance {
            let to = recipient(person);
            let letter =
                Letter::ApprovalAsked { to: &to, by: &asker.name, reason: &request.reason, quote: &signed, lines };
            batch.push(APPROVAL_ASKED, asked_key(quote.id, request.id, person.id), &to, &letter)?;
        }
        batch.write(conn).await
    }
}
