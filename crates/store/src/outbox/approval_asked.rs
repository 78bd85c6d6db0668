//! Finance is told when a salesperson asks it to approve keeping a draft's
//! old prices: each active colleague in finance who may approve it (not its
//! owner or signer) gets the request, with the lines and a link to the quote.
//! When finance declines it, the salespeople on the draft are told why.

use chrono::{DateTime, Utc};
use pricegate_domain::Role;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::signer_named::signed_quote;
use super::{APPROVAL_ASKED, APPROVAL_DECLINED, Batch, Letter, recipient};
use crate::entity::{approval_requests, quotes, users};
use crate::views::SupersededLineView;
use crate::{Actor, Store, StoreError};

const ASKED_KEY: &str = "approval-asked:";
const DECLINED_KEY: &str = "approval-declined:";

/// The quote a letter declining a request is about, from its key.
pub(super) fn declined_quote(row: &crate::entity::outbox::Model) -> Option<Uuid> {
    row.dedupe_key.strip_prefix(DECLINED_KEY)?.split(':').next()?.parse().ok()
}

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

    /// Queues, in the caller's transaction, the e-mails telling the owner
    /// and the signer of `quote` (worth `total_minor`), one of whom asked
    /// for `request` (or did, before a hand-over), that `by` declined it:
    /// each once, while an active salesperson. Returns how many were queued:
    /// none when the store sends no mail.
    pub(crate) async fn tell_approval_declined(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        (quote, total_minor): (&quotes::Model, i64),
        request: &approval_requests::Model,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(0) };
        let ids = [by.id, request.requested_by, quote.owner_id, quote.signer_id];
        let people = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(conn).await?;
        let Some(decliner) = people.iter().find(|u| u.id == by.id) else { return Ok(0) };
        let asker = people.iter().find(|u| u.id == request.requested_by).map(|u| u.name.as_str()).unwrap_or_default();
        let reason = request.declined_reason.as_deref().unwrap_or_default();
        let signed = signed_quote(&setup.base_url, quote, total_minor, 0);
        let mut batch = Batch::new(&setup, now);
        // Whoever asked, while still on the quote: the rest are its owner and signer.
        let told = people.iter().filter(|u| {
            u.id != by.id
                && [quote.owner_id, quote.signer_id].contains(&u.id)
                && u.active
                && u.role == Role::Sales.as_str()
        });
        for person in told {
            let to = recipient(person);
            let asked_by = (person.id != request.requested_by).then_some(asker);
            let letter = Letter::ApprovalDeclined { to: &to, by: &decliner.name, reason, quote: &signed, asked_by };
            let key = format!("{DECLINED_KEY}{}:{}:{}", quote.id, request.id, person.id);
            batch.push(APPROVAL_DECLINED, key, &to, &letter)?;
        }
        batch.write(conn).await
    }
}
