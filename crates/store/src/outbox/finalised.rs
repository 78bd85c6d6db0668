//! The owner of a draft a colleague signs is told when that colleague
//! finalises it: the owner drafted it, and may be waiting on it to tell the
//! customer, yet only the signer can finalise it.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::signer_named::signed_quote;
use super::{Batch, FINALISED, Letter, OldPricesKept, each_once, recipient};
use crate::entity::{quotes, users};
use crate::{Actor, Store, StoreError};

impl Store {
    /// Queues, in the finalising transaction, the e-mail telling the owner
    /// of `quote` (finalised at `at` for `total_minor`, its evidence keeping
    /// `notices` acknowledged notices, and `approval`, finance's approval of
    /// keeping old prices on it, if any) that `by`, its signer, finalised it.
    /// Nothing when the signer owns it, when the owner's account is
    /// deactivated or is now an administrator's, or when the store sends no mail.
    pub(crate) async fn tell_owner_finalised(
        &self,
        conn: &impl ConnectionTrait,
        by: &Actor,
        (quote, total_minor): (&quotes::Model, i64),
        (notices, approval): (usize, Option<&crate::views::OverrideView>),
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if quote.owner_id == by.id {
            return Ok(());
        }
        let Some(setup) = self.mail.clone() else { return Ok(()) };
        let approver = approval.map(|a| a.approved_by);
        let ids = [Some(quote.owner_id), Some(by.id), approver].into_iter().flatten();
        let people = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(conn).await?;
        // An owner since made an administrator, who does not read quotes, neither.
        let reads_quotes = |u: &&users::Model| u.active && u.role != pricegate_domain::Role::Admin.as_str();
        let Some(owner) = people.iter().filter(reads_quotes).find(|u| u.id == quote.owner_id) else { return Ok(()) };
        let Some(signer) = people.iter().find(|u| u.id == by.id) else { return Ok(()) };
        let to = recipient(owner);
        let signed = signed_quote(&setup.base_url, quote, total_minor, 0);
        let finalised_at = self.calendar.stamp(at, false);
        let skus = approval.map_or_else(Vec::new, |a| each_once(a.waives.iter().map(|line| &line.sku)));
        let approved = approval.map(|a| OldPricesKept {
            by: people.iter().find(|u| u.id == a.approved_by).map_or("", |u| u.name.as_str()),
            skus: &skus,
        });
        let letter =
            Letter::QuoteFinalised { to: &to, by: &signer.name, quote: &signed, at: &finalised_at, notices, approved };
        let mut batch = Batch::new(&setup, at).replying_to(signer);
        batch.push(FINALISED, format!("finalised:{}:{}", quote.id, owner.id), &to, &letter)?;
        batch.write(conn).await?;
        Ok(())
    }
}
