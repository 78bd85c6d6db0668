//! On SQLite, a finalised quote's row cannot be deleted: PostgreSQL's
//! foreign key from its finalisation record refuses that, but SQLite
//! checks foreign keys only on connections that ask it to, which a tool
//! opening the file need not, and a deleted quote would leave its record
//! shown nowhere (its page, the lists and the files read the quote). Its
//! other rows changed behind the service's back are said on its page, in
//! the API and in the files (`changed_since_finalised`); gone, nothing
//! could say so. Pricegate never deletes a quote.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000037_finalised_quotes_kept"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared(
                "CREATE TRIGGER quotes_finalised_kept BEFORE DELETE ON quotes \
                 WHEN EXISTS (SELECT 1 FROM finalisations WHERE quote_id = OLD.id) \
                 BEGIN SELECT RAISE(ABORT, 'a finalised quote is kept'); END;",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        m.get_connection().execute_unprepared("DROP TRIGGER quotes_finalised_kept;").await?;
        Ok(())
    }
}
