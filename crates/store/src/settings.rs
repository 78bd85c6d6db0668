//! Settings an admin changes while the service runs, kept in the database
//! so that every server process and worker reads the same: for now the
//! reminder schedule, which otherwise comes from `PRICEGATE_REMINDERS`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pricegate_domain::reminders::{format_schedule, parse_schedule};
use sea_orm::{ActiveValue::Set, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::db::db_now;
use crate::entity::settings;
use crate::{Actor, Store, StoreError};

/// The key of the reminder schedule's row.
const REMINDERS: &str = "reminders";

/// A reminder schedule an admin set.
#[derive(Debug, Clone)]
pub struct SetSchedule {
    pub schedule: Vec<Duration>,
    pub set_at: DateTime<Utc>,
    pub set_by: Option<Uuid>,
}

impl Store {
    /// The reminder schedule an admin set, if one did; without one, the
    /// environment's is in force.
    pub async fn reminder_schedule_set(&self) -> Result<Option<SetSchedule>, StoreError> {
        let Some(row) = settings::Entity::find_by_id(REMINDERS).one(&self.db).await? else { return Ok(None) };
        let schedule = parse_schedule(REMINDERS, row.value.split(',')).map_err(|e| {
            StoreError::Internal(format!("the stored reminder schedule {:?}: {}", row.value, e.message))
        })?;
        Ok(Some(SetSchedule { schedule, set_at: row.updated_at, set_by: row.updated_by }))
    }

    /// Sets the reminder schedule every worker follows from its next tick,
    /// or with `None` returns to the environment's. Audited as
    /// `settings.updated` with the schedule before and after (`null` for the
    /// environment's). Notices already published follow the new schedule
    /// from then on: a reminder whose time has come under it goes out.
    pub async fn set_reminder_schedule(&self, actor: &Actor, schedule: Option<&[Duration]>) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        let before = settings::Entity::find_by_id(REMINDERS).lock_exclusive().one(&txn).await?.map(|row| row.value);
        settings::Entity::delete_by_id(REMINDERS).exec(&txn).await?;
        let after = schedule.map(format_schedule);
        if let Some(value) = &after {
            settings::Entity::insert(settings::ActiveModel {
                key: Set(REMINDERS.to_owned()),
                value: Set(value.clone()),
                updated_at: Set(now),
                updated_by: Set(Some(actor.id)),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "settings.updated",
                subject_type: "setting",
                subject_id: None,
                detail: json!({ "setting": REMINDERS, "before": before, "after": after }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
