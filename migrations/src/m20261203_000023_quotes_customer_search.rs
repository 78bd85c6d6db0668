//! `customer_search`: a quote's customer's name, company and e-mail address
//! in small letters ([`crate::customer_search`]), which the quotes' search
//! looks in. Lowered here rather than by `lower()` in SQL: SQLite's, and
//! PostgreSQL's in the C locale, leave every capital beyond ASCII (`Ö`) as
//! it is, and "öko" would not find "Öko Pumpen"; and the search folds what
//! is typed by the same function.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;
use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::prelude::Uuid;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000023_quotes_customer_search"
    }
}

#[derive(DeriveIden)]
pub(crate) enum Quotes {
    Table,
    Id,
    CustomerName,
    CustomerCompany,
    CustomerEmail,
    CustomerSearch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too: a start killed half-way through the
    /// backfill must not leave the column added and the migration unrecorded.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Quotes::Table).add_column(string(Quotes::CustomerSearch).default("")).to_owned(),
        )
        .await?;
        let db = m.get_connection();
        let quotes = db
            .query_all(
                &Query::select()
                    .columns([Quotes::Id, Quotes::CustomerName, Quotes::CustomerCompany, Quotes::CustomerEmail])
                    .from(Quotes::Table)
                    .to_owned(),
            )
            .await?;
        let mut by_text: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for row in quotes {
            let id: Uuid = row.try_get("", "id")?;
            let name: String = row.try_get("", "customer_name")?;
            let company: String = row.try_get("", "customer_company")?;
            let email: String = row.try_get("", "customer_email")?;
            by_text.entry(crate::customer_search(&name, &company, &email)).or_default().push(id);
        }
        crate::write_texts(db, (Quotes::Table, Quotes::Id, Quotes::CustomerSearch), by_text).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Quotes::Table).drop_column(Quotes::CustomerSearch).to_owned()).await
    }
}
