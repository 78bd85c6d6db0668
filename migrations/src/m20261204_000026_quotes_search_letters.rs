//! `customer_search` written again where [`crate::fold_case`] now folds it
//! otherwise: the Latin letters no decomposition takes apart (`ł`, `ß`,
//! `ø`, …) are written as a keyboard without them types them, so that
//! "lodz" finds "Łódź Water". Only quotes whose search text is not plain
//! ASCII can differ; those that do are written, a statement per text.

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::Uuid;

use crate::m20261203_000023_quotes_customer_search::Quotes;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000026_quotes_search_letters"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let quotes = db
            .query_all(
                &Query::select()
                    .columns([
                        Quotes::Id,
                        Quotes::CustomerName,
                        Quotes::CustomerCompany,
                        Quotes::CustomerEmail,
                        Quotes::CustomerSearch,
                    ])
                    .from(Quotes::Table)
                    .to_owned(),
            )
            .await?;
        let mut by_text: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for row in quotes {
            let stored: String = row.try_get("", "customer_search")?;
            if stored.is_ascii() {
                continue;
            }
            let name: String = row.try_get("", "customer_name")?;
            let company: String = row.try_get("", "customer_company")?;
            let email: String = row.try_get("", "customer_email")?;
            let text = crate::customer_search(&name, &company, &email);
            if text != stored {
                by_text.entry(text).or_default().push(row.try_get("", "id")?);
            }
        }
        crate::write_texts(db, (Quotes::Table, Quotes::Id, Quotes::CustomerSearch), by_text).await
    }

    /// The search text as it is stays: the earlier folding finds less with
    /// it, and nothing wrong.
    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
