//! A draft's signer and owner are told when finance approves keeping its
//! old prices: the quote was waiting on that approval, and nothing else
//! tells them it came.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::signer_named::signed_quote;
use pricegate_domain::Role;

use super::{APPROVAL, ApprovedFor, Batch, Letter, recipient};
use crate::entity::{quotes, users};
use crate::gate::notices_to_acknowledge;
use crate::{Actor, Store, StoreError};

/// The key of the e-mail telling `user` of approval `override_id` of
/// `quote`'s old prices: one each.
fn approval_key(quote: Uuid, override_id: Uuid, user: Uuid) -> String {
    format!("{APPROVAL_KEY}{quote}:{override_id}:{user}")
}

const APPROVAL_KEY: &str = "approval:";

/// The quote an approval e-mail is about, from its key.
pub(super) fn approved_quote(row: &crate::entity::outbox::Model) -> Option<Uuid> {
    row.dedupe_key.strip_prefix(APPROVAL_KEY)?.split(':').next()?.parse().ok()
}

impl Store {
    /// Queues, in the caller's transaction, the e-mails telling the signer
    /// of `quote` (worth `total_minor`; `expired` when its validity has
    /// ended) and its owner, when that is someone else, that `by` approved
    /// keeping its old prices (approval `override_id`, for `reason`). The
    /// signer is told only while they can sign (an active salesperson); the
    /// owner, while active, is told who signs it, or that nobody can until
    /// they choose another signer. Nothing when the store sends no mail.
    pub(crate) async fn tell_prices_approved(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        (quote, total_minor, expired): (&quotes::Model, i64, bool),
        (override_id, reason, lines): (Uuid, &str, &[crate::views::SupersededLineView]),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        let ids = [by.id, quote.signer_id, quote.owner_id];
        let people = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(conn).await?;
        let Some(approver) = people.iter().find(|u| u.id == by.id) else { return Ok(()) };
        let signer = people.iter().find(|u| u.id == quote.signer_id);
        let signer_can_sign = signer.is_some_and(|u| u.active && u.role == Role::Sales.as_str());
        let signer_name = signer.map(|u| u.name.clone()).unwrap_or_default();
        let to_acknowledge = notices_to_acknowledge(conn, &[quote.id]).await?.get(&quote.id).copied().unwrap_or(0);
        let signed = signed_quote(&setup.base_url, quote, total_minor, to_acknowledge);
        let mut batch = Batch::new(&setup, now).replying_to(approver);
        let told = people.iter().filter(|u| match u.id == quote.signer_id {
            true => signer_can_sign,
            false => u.id == quote.owner_id && u.active,
        });
        for person in told {
            let to = recipient(person);
            let signer = match person.id == quote.signer_id {
                true => ApprovedFor::Signer,
                false if signer_can_sign => ApprovedFor::Owner { signer: &signer_name },
                false => ApprovedFor::OwnerWithoutSigner { signer: &signer_name },
            };
            let letter =
                Letter::PricesApproved { to: &to, by: &approver.name, reason, quote: &signed, lines, signer, expired };
            batch.push(APPROVAL, approval_key(quote.id, override_id, person.id), &to, &letter)?;
        }
        batch.write(conn).await?;
        Ok(())
    }
}
