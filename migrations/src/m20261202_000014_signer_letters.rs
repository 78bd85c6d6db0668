//! What each e-mail about signing told its recipient of each draft it
//! names: that they sign it, or that they do not. A signer is told they no
//! longer sign a draft only if the latest such e-mail that went to them said
//! they did, and the e-mail handing someone a colleague's drafts names many
//! drafts at once, which its dedupe key cannot. Rows written before this
//! migration get theirs from the keys of the e-mails naming one draft
//! (`signer:<quote>:<user>:…` says they sign it, `released:<quote>:<user>:…`
//! that they no longer do); hand-overs mailed before it name no draft.
//!
//! `outbox_id` has no foreign key: a letter whose e-mail was skipped as a
//! duplicate of one already queued names a row that is not there, and every
//! reader joins the outbox, which leaves it out.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::prelude::Uuid;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000014_signer_letters"
    }
}

#[derive(DeriveIden)]
enum SignerLetters {
    Table,
    OutboxId,
    QuoteId,
    UserId,
    Signs,
}

const INDEX: &str = "idx_signer_letters_quote_user";

const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// [`letter`] as one `INSERT` on PostgreSQL: keys that do not name two
/// uuids (in their hyphenated form, the only one Pricegate writes) after
/// their kind are left out, so no cast can fail the migration.
fn backfill_on_postgres() -> String {
    format!(
        "INSERT INTO signer_letters (outbox_id, quote_id, user_id, signs) \
         SELECT id, split_part(dedupe_key, ':', 2)::uuid, split_part(dedupe_key, ':', 3)::uuid, \
                split_part(dedupe_key, ':', 1) = 'signer' \
         FROM outbox \
         WHERE kind = 'signer' AND dedupe_key ~ '^(signer|released):{UUID}:{UUID}(:|$)'"
    )
}

/// What the dedupe key of an e-mail naming one draft says: the draft, its
/// recipient, and whether they sign it.
fn letter(dedupe_key: &str) -> Option<(Uuid, Uuid, bool)> {
    let mut parts = dedupe_key.split(':');
    let signs = match parts.next()? {
        "signer" => true,
        "released" => false,
        _ => return None,
    };
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, signs))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too: a start killed half-way through
    /// the backfill must not leave the table half filled and the migration
    /// unrecorded.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SignerLetters::Table)
                .col(uuid(SignerLetters::OutboxId))
                .col(uuid(SignerLetters::QuoteId))
                .col(uuid(SignerLetters::UserId))
                .col(boolean(SignerLetters::Signs))
                .primary_key(Index::create().col(SignerLetters::OutboxId).col(SignerLetters::QuoteId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(SignerLetters::Table)
                .col(SignerLetters::QuoteId)
                .col(SignerLetters::UserId)
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&backfill_on_postgres()).await?;
        } else {
            // SQLite keeps uuids as 16-byte blobs, which its SQL cannot make
            // from text: the keys are read here, a row at a time.
            let rows = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT id, dedupe_key FROM outbox WHERE kind = 'signer'",
                ))
                .await?;
            for row in rows {
                let id: Uuid = row.try_get("", "id")?;
                let key: String = row.try_get("", "dedupe_key")?;
                if let Some((quote, user, signs)) = letter(&key) {
                    db.execute_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "INSERT INTO signer_letters (outbox_id, quote_id, user_id, signs) VALUES (?, ?, ?, ?)",
                        [id.into(), quote.into(), user.into(), signs.into()],
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SignerLetters::Table).to_owned()).await
    }
}

#[cfg(test)]
mod tests {
    use super::letter;
    use sea_orm_migration::sea_orm::prelude::Uuid;

    #[test]
    fn keys_of_mail_naming_one_draft_say_whether_its_recipient_signs_it() {
        let (q, u) = (Uuid::from_u128(0x1a2b), Uuid::from_u128(0x3c4d));
        assert_eq!(letter(&format!("signer:{q}:{u}:1764550000000000")), Some((q, u, true)));
        assert_eq!(letter(&format!("released:{q}:{u}:1764550000000000")), Some((q, u, false)));
        assert_eq!(letter(&format!("handover:{q}:{u}:1764550000000000")), None);
        assert_eq!(letter("signer:not-a-uuid:x"), None);
    }
}
