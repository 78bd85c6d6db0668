//! A draft's signer and owner are told when finance approves keeping its
//! old prices: the quote was waiting on that approval, and nothing else
//! tells them it came.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::signer_named::signed_quote;
use super::{APPROVAL, Batch, Letter, recipient};
use crate::entity::{quotes, users};
use crate::gate::notices_to_acknowledge;
use crate::{Actor, Store, StoreError};

/// The key of the e-mail telling `user` of approval `override_id`: one each.
fn approval_key(override_id: Uuid, user: Uuid) -> String {
    format!("approval:{override_id}:{user}")
}

impl Store {
    /// Queues, in the caller's transaction, the e-mails telling the signer
    /// of `quote` (worth `total_minor`) and its owner, when that is someone
    /// else, that `by` approved keeping its old prices (approval
    /// `override_id`, for `reason`). Only active accounts are told; nothing
    /// when the store sends no mail.
    pub(crate) async fn tell_prices_approved(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        quote: &quotes::Model,
        total_minor: i64,
        (override_id, reason): (Uuid, &str),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        let ids = [by.id, quote.signer_id, quote.owner_id];
        let people = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(conn).await?;
        let Some(approver) = people.iter().find(|u| u.id == by.id) else { return Ok(()) };
        let signer_name = people.iter().find(|u| u.id == quote.signer_id).map(|u| u.name.clone()).unwrap_or_default();
        let to_acknowledge = notices_to_acknowledge(conn, &[quote.id]).await?.get(&quote.id).copied().unwrap_or(0);
        let signed = signed_quote(&setup.base_url, quote, total_minor, to_acknowledge);
        let mut batch = Batch::new(&setup, now);
        let told = people.iter().filter(|u| u.active && (u.id == quote.signer_id || u.id == quote.owner_id));
        for person in told {
            let to = recipient(person);
            let signs = person.id == quote.signer_id;
            let letter = Letter::PricesApproved {
                to: &to,
                by: &approver.name,
                reason,
                quote: &signed,
                signer: (!signs).then_some(signer_name.as_str()),
            };
            batch.push(APPROVAL, approval_key(override_id, person.id), &to, &letter)?;
        }
        batch.write(conn).await?;
        Ok(())
    }
}
