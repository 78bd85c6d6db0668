//! Each outbox row names the notice it is about and the user it is for
//! (`notice_id`, `user_id`; both empty for any other mail), indexed by
//! notice and kind. The worker used to find a notice's escalation and
//! reminders by matching the start of their dedupe keys, which no index
//! serves (`LIKE 'prefix%'` under a non-C collation, and SQLite's
//! case-insensitive `LIKE`): a scan of the whole outbox per notice on every
//! tick. Rows written before this migration get both from their dedupe keys
//! (`publish:<notice>:<user>`, `remind:<notice>:<user>:…`,
//! `escalate:<notice>:<finance user>`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::prelude::Uuid;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000009_outbox_subjects"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    NoticeId,
    UserId,
    Kind,
    CreatedAt,
}

const INDEX: &str = "idx_outbox_notice_kind_created";

/// [`subjects`] as one `UPDATE` on PostgreSQL: keys that do not name two
/// uuids (in their hyphenated form, the only one Pricegate writes) after
/// their kind are left alone, so no cast can fail the migration.
const BACKFILL_ON_POSTGRES: &str = "UPDATE outbox \
     SET notice_id = split_part(dedupe_key, ':', 2)::uuid, user_id = split_part(dedupe_key, ':', 3)::uuid \
     WHERE kind IN ('publication', 'reminder', 'escalation') \
       AND dedupe_key ~ '^(publish|remind|escalate):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}:\
       [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(:|$)'";

/// The (notice, user) a dedupe key names, for the keys that name one.
fn subjects(dedupe_key: &str) -> Option<(Uuid, Uuid)> {
    let mut parts = dedupe_key.split(':');
    if !matches!(parts.next()?, "publish" | "remind" | "escalate") {
        return None;
    }
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (PostgreSQL's is the default): a
    /// start killed half-way through the backfill must not leave the columns
    /// added and the migration unrecorded.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Outbox::NoticeId, Outbox::UserId] {
            m.alter_table(Table::alter().table(Outbox::Table).add_column(uuid_null(column)).to_owned()).await?;
        }
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Postgres {
            // One statement: the table is locked by the ALTERs above until
            // the migrations commit (all of them, in one transaction: see
            // `Store::migrate`), so it must not take a round trip a row.
            db.execute_unprepared(BACKFILL_ON_POSTGRES).await?;
        } else {
            // SQLite keeps uuids as 16-byte blobs, which its SQL cannot make
            // from text: the keys are read here, a row at a time.
            let rows = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT id, dedupe_key FROM outbox WHERE kind IN ('publication', 'reminder', 'escalation')",
                ))
                .await?;
            for row in rows {
                let id: Uuid = row.try_get("", "id")?;
                let key: String = row.try_get("", "dedupe_key")?;
                if let Some((notice, user)) = subjects(&key) {
                    db.execute_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "UPDATE outbox SET notice_id = ?, user_id = ? WHERE id = ?",
                        [notice.into(), user.into(), id.into()],
                    ))
                    .await?;
                }
            }
        }
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Outbox::Table)
                .col(Outbox::NoticeId)
                .col(Outbox::Kind)
                .col(Outbox::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Outbox::Table).to_owned()).await?;
        for column in [Outbox::UserId, Outbox::NoticeId] {
            m.alter_table(Table::alter().table(Outbox::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::subjects;
    use sea_orm_migration::sea_orm::prelude::Uuid;

    #[test]
    fn keys_of_notice_mail_name_their_notice_and_user() {
        let (n, u) = (Uuid::from_u128(0x1a2b), Uuid::from_u128(0x3c4d));
        assert_eq!(subjects(&format!("publish:{n}:{u}")), Some((n, u)));
        assert_eq!(subjects(&format!("remind:{n}:{u}:now-1764550000000000")), Some((n, u)));
        assert_eq!(subjects(&format!("escalate:{n}:{u}")), Some((n, u)));
        assert_eq!(subjects(&format!("fanout:{n}")), None);
        assert_eq!(subjects("publish:not-a-uuid:x"), None);
    }
}
