//! `users.name_key`: a person's name as [`crate::fold_case`] folds it, by
//! which the users list is sorted and searched, so that Łukasz sorts among
//! the Ls rather than after Z, and "wojcik" finds Wójcik (the database's
//! own `lower()` and ordering leave letters beyond ASCII as they are).

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;
use sea_orm_migration::sea_orm::prelude::Uuid;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000030_users_name_key"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    NameKey,
    Email,
}

const INDEX: &str = "idx_users_name_key_email";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too, as the column and its backfill belong together.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).add_column(string(Users::NameKey).default("")).to_owned())
            .await?;
        let db = m.get_connection();
        let users =
            db.query_all(&Query::select().columns([Users::Id, Users::Name]).from(Users::Table).to_owned()).await?;
        let mut by_key: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for row in users {
            let name: String = row.try_get("", "name")?;
            by_key.entry(crate::fold_case(&name)).or_default().push(row.try_get("", "id")?);
        }
        crate::write_texts(db, (Users::Table, Users::Id, Users::NameKey), by_key).await?;
        m.create_index(Index::create().name(INDEX).table(Users::Table).col(Users::NameKey).col(Users::Email).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Users::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::NameKey).to_owned()).await
    }
}
