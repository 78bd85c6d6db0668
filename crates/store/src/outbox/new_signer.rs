//! A salesperson who takes over drafts (a hand-over, or a draft's signer
//! changed) is told of the notices that hold them up, as if they had been
//! there when each was published.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Batch, Letter, PUBLICATION, blocked_quotes, notice_content, publication_key, recipient};
use crate::entity::{acknowledgements, notices, quotes, users};
use crate::notices::PUBLISHED;
use crate::quotes::DRAFT;
use crate::{Store, StoreError};

impl Store {
    /// Queues, in the caller's transaction, the publication e-mail of every
    /// published notice that holds up one of `signer`'s drafts and that they
    /// have not acknowledged: each with the drafts it holds up and an ack
    /// link. One they were mailed already (at publication, or at an earlier
    /// hand-over) has its dedupe key in the outbox and is not queued again;
    /// so only someone who was not there to be told is told now. Their
    /// reminders then follow the schedule counted from now, and the
    /// escalation after the last names them (see
    /// `Store::enqueue_due_reminders`).
    pub(crate) async fn tell_new_signer(
        &self,
        conn: &impl ConnectionTrait,
        signer: Uuid,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(setup) = self.mail.clone() else { return Ok(0) };
        let Some(user) = users::Entity::find_by_id(signer).one(conn).await? else { return Ok(0) };
        let earliest: Option<DateTime<Utc>> = quotes::Entity::find()
            .select_only()
            .column_as(quotes::Column::DraftedAt.min(), "earliest")
            .filter(quotes::Column::SignerId.eq(signer))
            .filter(quotes::Column::State.eq(DRAFT))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(conn)
            .await?
            .flatten();
        let Some(earliest) = earliest else { return Ok(0) };
        let acknowledged = acknowledgements::Entity::find()
            .select_only()
            .column(acknowledgements::Column::NoticeId)
            .filter(acknowledgements::Column::UserId.eq(signer))
            .filter(acknowledgements::Column::NoticePublishedAt.gt(earliest))
            .into_tuple::<Uuid>()
            .all(conn)
            .await?;
        let later = notices::Entity::find()
            .filter(notices::Column::State.eq(PUBLISHED))
            .filter(notices::Column::PublishedAt.gt(earliest))
            .order_by_asc(notices::Column::Seq)
            .all(conn)
            .await?;
        let to = recipient(&user);
        let mut batch = Batch::new(&setup, now).restarting_reminders();
        for notice in later.iter().filter(|n| !acknowledged.contains(&n.id)) {
            let content = notice_content(conn, notice).await?;
            let blocked =
                blocked_quotes(conn, &setup.base_url, &content, Some(&[signer]), self.calendar.date_of(now)).await?;
            let Some(quotes) = blocked.get(&signer) else { continue };
            let ack_url = batch.ack_link();
            let letter = Letter::Publication { notice: &content, to: &to, quotes, ack_url: &ack_url, taken_over: true };
            batch.push(PUBLICATION, publication_key(notice.id, signer), &to, &letter)?;
        }
        batch.write(conn).await
    }
}
