//! Upgrading a database in service: migrations applied to rows written under
//! the schema before them, on both backends.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use pricegate_migration::{Migrator, MigratorTrait};
use pricegate_store::entity::{acknowledgements, notice_changes, outbox, signer_letters};
use pricegate_tests::db::{Backend, TestDb};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Statement, Value};
use uuid::Uuid;

async fn insert(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            // `?` placeholders become `$1, $2, …`.
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
        _ => sql.to_owned(),
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql.as_str(), values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Acknowledgements made before `notice_published_at` existed get their
/// notice's `published_at`.
async fn acknowledgements_get_their_notice_published_at(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    Migrator::up(&db, Some(4)).await.expect("the schema before acknowledgements carried published_at");

    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let published_at = now - Duration::hours(3);
    let (user, notice, draft, ack) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    insert(
        &db,
        "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
         VALUES (?, 'old-ack@pricegate.test', 'Old Ack', 'sales', 'x', true, ?, ?)",
        vec![user.into(), now.into(), now.into()],
    )
    .await;
    for (id, seq, at) in [(notice, Some(1i64), Some(published_at)), (draft, None, None)] {
        insert(
            &db,
            "INSERT INTO notices (id, title, body, state, seq, published_at, published_by, created_by, created_at, updated_at) \
             VALUES (?, 'Pumps up 4%', 'From Monday.', ?, ?, ?, ?, ?, ?, ?)",
            vec![
                id.into(),
                if seq.is_some() { "published" } else { "draft" }.into(),
                seq.into(),
                at.into(),
                seq.map(|_| user).into(),
                user.into(),
                now.into(),
                now.into(),
            ],
        )
        .await;
    }
    insert(
        &db,
        "INSERT INTO acknowledgements (id, notice_id, user_id, acknowledged_at, channel, client_addr, user_agent) \
         VALUES (?, ?, ?, ?, 'api', NULL, NULL)",
        vec![ack.into(), notice.into(), user.into(), (published_at + Duration::minutes(5)).into()],
    )
    .await;

    Migrator::up(&db, None).await.expect("the migrations after it");
    let migrated =
        acknowledgements::Entity::find_by_id(ack).one(&db).await.expect("read").expect("the acknowledgement");
    assert_eq!(migrated.notice_published_at, published_at, "{backend:?}: the notice's published_at, copied");
    assert_eq!(migrated.acknowledged_at, published_at + Duration::minutes(5), "{backend:?}: nothing else changed");

    // And back down past 000005, and up again: the column and its index come and go.
    let after_4 = (Migrator::migrations().len() - 4) as u32;
    Migrator::down(&db, Some(after_4)).await.expect("down to schema 4");
    Migrator::up(&db, None).await.expect("up again");
    let again = acknowledgements::Entity::find_by_id(ack).one(&db).await.expect("read").expect("the acknowledgement");
    assert_eq!(again.notice_published_at, published_at, "{backend:?}: filled again after down and up");
    db.close().await.ok();
}

#[tokio::test]
async fn acknowledgements_get_their_notice_published_at_on_postgresql() {
    acknowledgements_get_their_notice_published_at(Backend::Postgres).await;
}

#[tokio::test]
async fn acknowledgements_get_their_notice_published_at_on_sqlite() {
    acknowledgements_get_their_notice_published_at(Backend::Sqlite).await;
}

/// The attribute's compression on PostgreSQL: `l` for lz4, empty for the default.
async fn compression(db: &DatabaseConnection, table: &str, column: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT attcompression::text AS c FROM pg_attribute \
                 WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
            ),
        ))
        .await
        .expect("pg_attribute")
        .expect("the column");
    row.try_get("", "c").expect("attcompression")
}

/// Evidence and audit details written after 000006 are compressed with lz4
/// (this PostgreSQL has it), and going down restores the default.
#[tokio::test]
async fn evidence_and_audit_detail_compress_with_lz4_on_postgresql() {
    let test_db = TestDb::create(Backend::Postgres).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate");
    assert_eq!(compression(&db, "finalisations", "evidence").await, "l");
    assert_eq!(compression(&db, "audit_log", "detail").await, "l");

    // A detail large enough to be compressed, as a finalisation's is.
    let notices: Vec<String> =
        (0..200).map(|i| format!("{{\"notice_id\": \"{}\", \"seq\": {i}}}", Uuid::new_v4())).collect();
    let detail = format!("{{\"notices\": [{}]}}", notices.join(", "));
    insert(
        &db,
        "INSERT INTO audit_log (id, at, actor_id, action, subject_type, subject_id, detail) \
         VALUES (?, now(), NULL, 'quote.finalised', 'quote', NULL, CAST(? AS json))",
        vec![Uuid::new_v4().into(), detail.into()],
    )
    .await;
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_column_compression(detail) AS c FROM audit_log WHERE action = 'quote.finalised'",
        ))
        .await
        .expect("read")
        .expect("the row");
    assert_eq!(row.try_get::<Option<String>>("", "c").expect("c").as_deref(), Some("lz4"));

    // Down to schema 5: through the compression (6) and all that follows it.
    let after_5 = (Migrator::migrations().len() - 5) as u32;
    Migrator::down(&db, Some(after_5)).await.expect("down to schema 5");
    assert_eq!(compression(&db, "finalisations", "evidence").await, "");
    assert_eq!(compression(&db, "audit_log", "detail").await, "");
    db.close().await.ok();
}

/// Outbox rows written before they named their notice and user get both
/// from their dedupe keys; other mail gets neither.
async fn outbox_rows_get_their_notice_and_user(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // Up counts migrations to apply: the eight before 000009.
    Migrator::up(&db, Some(8)).await.expect("the schema before outbox rows named their subjects");

    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (notice, sam, fiona) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let rows = [
        ("publication", format!("publish:{notice}:{sam}")),
        ("reminder", format!("remind:{notice}:{sam}:now-1764550000000000")),
        ("escalation", format!("escalate:{notice}:{fiona}")),
        ("welcome", format!("welcome:{sam}")),
        ("publication", "publish:legacy-key:x".to_owned()),
        ("escalation", format!("escalate:{}:{}", "-".repeat(36), "0e7c6a1-b1234-4abc-8def-0123456789ab")),
    ];
    let mut ids = Vec::new();
    for (kind, key) in &rows {
        let id = Uuid::new_v4();
        insert(
            &db,
            "INSERT INTO outbox (id, dedupe_key, kind, to_addr, to_name, subject, text_body, html_body, message_id, \
                                 state, attempts, next_attempt_at, last_error, created_at, sent_at) \
             VALUES (?, ?, ?, 'sam@pricegate.test', 'Sam', 'Pumps up', 'text', '<p>html</p>', ?, 'sent', 1, ?, NULL, ?, ?)",
            vec![
                id.into(),
                key.clone().into(),
                (*kind).into(),
                format!("<{}@pricegate.test>", id.simple()).into(),
                now.into(),
                now.into(),
                now.into(),
            ],
        )
        .await;
        ids.push(id);
    }

    for round in ["up", "down and up again"] {
        if round != "up" {
            // Back to schema 8, however many migrations follow 000009.
            let after_8 = (Migrator::migrations().len() - 8) as u32;
            Migrator::down(&db, Some(after_8)).await.expect("down to schema 8");
        }
        Migrator::up(&db, None).await.expect("the outbox subjects");
        let migrated: std::collections::HashMap<Uuid, outbox::Model> =
            outbox::Entity::find().all(&db).await.expect("read").into_iter().map(|r| (r.id, r)).collect();
        let subjects = |id: &Uuid| (migrated[id].notice_id, migrated[id].user_id);
        assert_eq!(subjects(&ids[0]), (Some(notice), Some(sam)), "{backend:?}, {round}: the publication");
        assert_eq!(subjects(&ids[1]), (Some(notice), Some(sam)), "{backend:?}, {round}: the reminder");
        assert_eq!(subjects(&ids[2]), (Some(notice), Some(fiona)), "{backend:?}, {round}: the escalation");
        assert_eq!(subjects(&ids[3]), (None, None), "{backend:?}, {round}: other mail names no notice");
        assert_eq!(subjects(&ids[4]), (None, None), "{backend:?}, {round}: a key without uuids is left alone");
        assert_eq!(subjects(&ids[5]), (None, None), "{backend:?}, {round}: nor one of uuid-like characters");
        assert_eq!(migrated[&ids[0]].state, "sent", "{backend:?}, {round}: nothing else changed");
    }
    db.close().await.ok();
}

#[tokio::test]
async fn outbox_rows_get_their_notice_and_user_on_postgresql() {
    outbox_rows_get_their_notice_and_user(Backend::Postgres).await;
}

#[tokio::test]
async fn outbox_rows_get_their_notice_and_user_on_sqlite() {
    outbox_rows_get_their_notice_and_user(Backend::Sqlite).await;
}

/// E-mails about signing written before `signer_letters` say, from their
/// dedupe keys, whom they told of which draft and whether they sign it;
/// a hand-over's, which names no draft in its key, says nothing.
async fn signer_mail_gets_its_letters(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // Up counts migrations to apply: the thirteen before 000014.
    Migrator::up(&db, Some(13)).await.expect("the schema before signer letters");

    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (quote, sam, rita) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let keys = [
        format!("signer:{quote}:{sam}:1764550000000000"),
        format!("released:{quote}:{sam}:1764550000000001"),
        format!("signer:{quote}:{rita}:1764550000000001"),
        format!("handover:{sam}:{rita}:1764550000000002"),
        "signer:legacy-key:x".to_owned(),
    ];
    let mut ids = Vec::new();
    for key in &keys {
        let id = Uuid::new_v4();
        insert(
            &db,
            "INSERT INTO outbox (id, dedupe_key, kind, to_addr, to_name, subject, text_body, html_body, message_id, \
                                 state, attempts, next_attempt_at, last_error, created_at, sent_at) \
             VALUES (?, ?, 'signer', 'sam@pricegate.test', 'Sam', 'A quote', 'text', '<p>html</p>', ?, 'sent', 1, ?, NULL, ?, ?)",
            vec![
                id.into(),
                key.clone().into(),
                format!("<{}@pricegate.test>", id.simple()).into(),
                now.into(),
                now.into(),
                now.into(),
            ],
        )
        .await;
        ids.push(id);
    }

    for round in ["up", "down and up again"] {
        if round != "up" {
            let after_13 = (Migrator::migrations().len() - 13) as u32;
            Migrator::down(&db, Some(after_13)).await.expect("down to schema 13");
        }
        Migrator::up(&db, None).await.expect("the signer letters");
        let mut letters: Vec<(Uuid, Uuid, Uuid, bool)> = signer_letters::Entity::find()
            .all(&db)
            .await
            .expect("read")
            .into_iter()
            .map(|l| (l.outbox_id, l.quote_id, l.user_id, l.signs))
            .collect();
        letters.sort_by_key(|l| ids.iter().position(|id| *id == l.0));
        assert_eq!(
            letters,
            [(ids[0], quote, sam, true), (ids[1], quote, sam, false), (ids[2], quote, rita, true)],
            "{backend:?}, {round}: one letter for each e-mail naming one draft, none for the hand-over or a key without uuids"
        );
    }
    db.close().await.ok();
}

#[tokio::test]
async fn signer_mail_gets_its_letters_on_postgresql() {
    signer_mail_gets_its_letters(Backend::Postgres).await;
}

#[tokio::test]
async fn signer_mail_gets_its_letters_on_sqlite() {
    signer_mail_gets_its_letters(Backend::Sqlite).await;
}

/// Changes of notices published before `product_name` existed get their
/// product's name as it is; a draft's stay unnamed, to follow the product.
async fn published_notices_get_their_product_names(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // Up counts migrations to apply: the fourteen before 000015.
    Migrator::up(&db, Some(14)).await.expect("the schema before notices kept product names");

    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (user, product, published, draft) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    insert(
        &db,
        "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
         VALUES (?, 'fiona-old@pricegate.test', 'Fiona', 'finance', 'x', true, ?, ?)",
        vec![user.into(), now.into(), now.into()],
    )
    .await;
    insert(
        &db,
        "INSERT INTO products (id, sku, name, unit, currency, unit_price_minor, created_at, updated_at) \
         VALUES (?, 'PUMP-1', 'Pump, 1 kW', 'each', 'EUR', 1000, ?, ?)",
        vec![product.into(), now.into(), now.into()],
    )
    .await;
    let mut changes = Vec::new();
    for (id, seq) in [(published, Some(1i64)), (draft, None)] {
        insert(
            &db,
            "INSERT INTO notices (id, title, body, state, seq, published_at, published_by, created_by, created_at, updated_at) \
             VALUES (?, 'Pumps up', 'From Monday.', ?, ?, ?, ?, ?, ?, ?)",
            vec![
                id.into(),
                if seq.is_some() { "published" } else { "draft" }.into(),
                seq.into(),
                seq.map(|_| now).into(),
                seq.map(|_| user).into(),
                user.into(),
                now.into(),
                now.into(),
            ],
        )
        .await;
        let change = Uuid::new_v4();
        insert(
            &db,
            "INSERT INTO notice_changes (id, notice_id, position, product_id, sku, unit_price_minor, effective_on) \
             VALUES (?, ?, 0, ?, 'PUMP-1', 1100, ?)",
            vec![change.into(), id.into(), product.into(), now.date_naive().into()],
        )
        .await;
        changes.push(change);
    }

    for round in ["up", "down and up again"] {
        if round != "up" {
            let after_14 = (Migrator::migrations().len() - 14) as u32;
            Migrator::down(&db, Some(after_14)).await.expect("down to schema 14");
        }
        Migrator::up(&db, None).await.expect("the product names");
        let mut names = Vec::new();
        for id in &changes {
            let change = notice_changes::Entity::find_by_id(*id).one(&db).await.expect("read").expect("the change");
            names.push(change.product_name);
        }
        assert_eq!(names, [Some("Pump, 1 kW".to_owned()), None], "{backend:?}, {round}: the published notice's, named");
    }
    db.close().await.ok();
}

#[tokio::test]
async fn published_notices_get_their_product_names_on_postgresql() {
    published_notices_get_their_product_names(Backend::Postgres).await;
}

#[tokio::test]
async fn published_notices_get_their_product_names_on_sqlite() {
    published_notices_get_their_product_names(Backend::Sqlite).await;
}

/// Sam, and a draft of his for each of `customers` (name, company, e-mail,
/// and the search text as the schema of its day wrote it, if it had one),
/// inserted as the schema migrated so far holds them: the quotes' ids.
async fn sams_quotes(db: &DatabaseConnection, customers: &[(&str, &str, &str, Option<&str>)]) -> Vec<Uuid> {
    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let user = Uuid::new_v4();
    insert(
        db,
        "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
         VALUES (?, 'sam-old@pricegate.test', 'Sam', 'sales', 'x', true, ?, ?)",
        vec![user.into(), now.into(), now.into()],
    )
    .await;
    let mut ids = Vec::new();
    for (name, company, email, search) in customers {
        let id = Uuid::new_v4();
        let (column, value) = match search {
            Some(_) => (", customer_search", ", ?"),
            None => ("", ""),
        };
        let mut values: Vec<Value> =
            vec![id.into(), user.into(), user.into(), (*name).into(), (*email).into(), (*company).into()];
        values.extend(search.map(|s| s.into()));
        values.extend([now.date_naive().into(), now.into(), now.into()]);
        insert(
            db,
            &format!(
                "INSERT INTO quotes (id, owner_id, signer_id, customer_name, customer_email, customer_company{column}, \
                 currency, valid_until, notes, state, drafted_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?{value}, 'EUR', ?, '', 'draft', ?, ?)"
            ),
            values,
        )
        .await;
        ids.push(id);
    }
    ids
}

/// Quotes drafted before `customer_search` existed are found by the search
/// as later ones are: their customer in small letters without accents,
/// capitals beyond ASCII included, which SQL's own `lower` leaves on SQLite.
async fn earlier_quotes_get_their_customer_search(backend: Backend) {
    use pricegate_store::entity::quotes;
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // The twenty-two before 000023.
    Migrator::up(&db, Some(22)).await.expect("the schema before quotes kept their customer's search text");
    let customers = [
        ("Jürgen Öztürk", "ÖKO Pumpen", "JO@Oeko.example", None),
        ("Jürgen Öztürk", "ÖKO Pumpen", "JO@Oeko.example", None),
        ("Greta Berg", "", "greta@nordwind.example", None),
    ];
    let ids = sams_quotes(&db, &customers).await;

    Migrator::up(&db, None).await.expect("the search text");
    let mut texts = Vec::new();
    for id in &ids {
        texts.push(quotes::Entity::find_by_id(*id).one(&db).await.expect("read").expect("the quote").customer_search);
    }
    let juergen = "jurgen ozturk\noko pumpen\njo@oeko.example".to_owned();
    assert_eq!(texts, [juergen.clone(), juergen, "greta berg\n\ngreta@nordwind.example".to_owned()], "{backend:?}");
    db.close().await.ok();
}

#[tokio::test]
async fn earlier_quotes_get_their_customer_search_on_postgresql() {
    earlier_quotes_get_their_customer_search(Backend::Postgres).await;
}

#[tokio::test]
async fn earlier_quotes_get_their_customer_search_on_sqlite() {
    earlier_quotes_get_their_customer_search(Backend::Sqlite).await;
}

/// Quotes whose customer has letters the search once left as they were
/// (`ł`, `ß`) get their search text written again, and "lodz" finds
/// "Łódź"; plain ones are left alone.
async fn quotes_searched_by_letters_typed_without_them(backend: Backend) {
    use pricegate_store::entity::quotes;
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // The twenty-five before 000026.
    Migrator::up(&db, Some(25)).await.expect("the schema before the search folded ł and ß");
    // As the search wrote them before.
    let customers = [
        ("Łódź Water", "Straße AG", "lodz@water.example", Some("łodz water\nstraße ag\nlodz@water.example")),
        ("Greta Berg", "", "greta@nordwind.example", Some("greta berg\n\ngreta@nordwind.example")),
        // Plain text, whatever it says, is not read again.
        ("Hugo Lind", "", "hugo@nordwind.example", Some("written by hand")),
    ];
    let ids = sams_quotes(&db, &customers).await;

    Migrator::up(&db, None).await.expect("the search text written again");
    let mut texts = Vec::new();
    for id in &ids {
        texts.push(quotes::Entity::find_by_id(*id).one(&db).await.expect("read").expect("the quote").customer_search);
    }
    let expected =
        ["lodz water\nstrasse ag\nlodz@water.example", "greta berg\n\ngreta@nordwind.example", "written by hand"];
    assert_eq!(texts, expected, "{backend:?}");
    db.close().await.ok();
}

#[tokio::test]
async fn quotes_searched_by_letters_typed_without_them_on_postgresql() {
    quotes_searched_by_letters_typed_without_them(Backend::Postgres).await;
}

#[tokio::test]
async fn quotes_searched_by_letters_typed_without_them_on_sqlite() {
    quotes_searched_by_letters_typed_without_them(Backend::Sqlite).await;
}

/// People who were users before names were folded for the list get their
/// `name_key`: Łukasz Wójcik's is "lukasz wojcik".
async fn users_get_their_name_key(backend: Backend) {
    use pricegate_store::entity::users;
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // The twenty-nine before 000030.
    Migrator::up(&db, Some(29)).await.expect("the schema before names were folded");
    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let mut ids = Vec::new();
    for (email, name) in [("lukasz@pricegate.test", "Łukasz Wójcik"), ("anna@pricegate.test", "anna Berg")] {
        let id = Uuid::new_v4();
        insert(
            &db,
            "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
             VALUES (?, ?, ?, 'sales', 'x', true, ?, ?)",
            vec![id.into(), email.into(), name.into(), now.into(), now.into()],
        )
        .await;
        ids.push(id);
    }

    Migrator::up(&db, None).await.expect("the names folded");
    let mut keys = Vec::new();
    for id in &ids {
        keys.push(users::Entity::find_by_id(*id).one(&db).await.expect("read").expect("the user").name_key);
    }
    assert_eq!(keys, ["lukasz wojcik", "anna berg"], "{backend:?}");
    db.close().await.ok();
}

#[tokio::test]
async fn users_get_their_name_key_on_postgresql() {
    users_get_their_name_key(Backend::Postgres).await;
}

#[tokio::test]
async fn users_get_their_name_key_on_sqlite() {
    users_get_their_name_key(Backend::Sqlite).await;
}

/// People who logged in before `last_login_at` was kept get the time of
/// their latest session or API token; someone who never did, none.
async fn users_get_their_last_login(backend: Backend) {
    use pricegate_store::entity::users;
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // The twenty-seven before 000028.
    Migrator::up(&db, Some(27)).await.expect("the schema before logins were kept");
    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (both, browser, never) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (id, email) in
        [(both, "both@pricegate.test"), (browser, "browser@pricegate.test"), (never, "never@pricegate.test")]
    {
        insert(
            &db,
            "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
             VALUES (?, ?, 'Someone', 'sales', 'x', true, ?, ?)",
            vec![id.into(), email.into(), now.into(), now.into()],
        )
        .await;
    }
    let (earlier, later) = (now - Duration::days(3), now - Duration::hours(2));
    for (user, at) in [(both, earlier), (browser, earlier), (browser, now - Duration::days(9))] {
        insert(
            &db,
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, 'c', ?, ?)",
            vec![Uuid::new_v4().to_string().into(), user.into(), at.into(), (at + Duration::hours(12)).into()],
        )
        .await;
    }
    insert(
        &db,
        "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        vec![Uuid::new_v4().to_string().into(), both.into(), later.into(), (later + Duration::hours(12)).into()],
    )
    .await;

    Migrator::up(&db, None).await.expect("the logins kept");
    let mut logins = Vec::new();
    for id in [both, browser, never] {
        logins.push(users::Entity::find_by_id(id).one(&db).await.expect("read").expect("the user").last_login_at);
    }
    assert_eq!(logins, [Some(later), Some(earlier), None], "{backend:?}");
    db.close().await.ok();
}

#[tokio::test]
async fn users_get_their_last_login_on_postgresql() {
    users_get_their_last_login(Backend::Postgres).await;
}

#[tokio::test]
async fn users_get_their_last_login_on_sqlite() {
    users_get_their_last_login(Backend::Sqlite).await;
}

/// `pricegate <args>` on `url`, to completion: whether it succeeded, its
/// standard output and its error output.
async fn pricegate_on(url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let out = pricegate_tests::process::command_output(args, &[("DATABASE_URL", url)], stdin).await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Since PostgreSQL 15 an ordinary role may not create tables in `public`:
/// a deployment migrates as the schema's owner, and serves as a role that
/// may only read and write rows. That role starts the server, makes a user
/// and serves them, on a database with nothing left to migrate; with a
/// migration left, it is told to have the owner apply it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_only_read_and_write_rows_serves_a_database_already_migrated() {
    let test_db = TestDb::create(Backend::Postgres).await;
    let (migrated, said, err) = pricegate_on(&test_db.url, &["migrate"], "").await;
    assert!(migrated, "the owner migrates: {err}");
    assert_eq!(said.trim(), applied_all());
    let (again, said, err) = pricegate_on(&test_db.url, &["migrate"], "").await;
    assert!(again && said.trim() == "the database is up to date: no migration to apply", "{said}{err}");

    let role = format!("pricegate_app_{}", Uuid::new_v4().simple());
    let db = Database::connect(test_db.url.as_str()).await.expect("connect as the owner");
    let database = test_db.url.rsplit('/').next().expect("a database name").to_owned();
    for grant in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
        format!("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        db.execute_unprepared(&grant).await.unwrap_or_else(|e| panic!("{grant}: {e}"));
    }
    let app_url = test_db.url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(app_url, test_db.url, "the test server's URL names its user as postgres@");

    // The role cannot create a table: what a migration would need.
    let app = Database::connect(app_url.as_str()).await.expect("connect as the role");
    let refused = app.execute_unprepared("CREATE TABLE IF NOT EXISTS seaql_migrations (version text)").await;
    assert!(refused.is_err(), "the role may not create tables, so the check below means something");
    app.close().await.expect("close");

    let (made, _, err) = pricegate_on(
        &app_url,
        &[
            "user",
            "create",
            "--email",
            "rowan@pricegate.test",
            "--name",
            "Rowan",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "rows-only-password",
    )
    .await;
    assert!(made, "user create as the role: {err}");
    let server = pricegate_tests::process::ServerProcess::start(&[("DATABASE_URL", app_url.as_str())]).await;
    let login = serde_json::json!({"email": "rowan@pricegate.test", "password": "rows-only-password"});
    let r = pricegate_tests::Session::new(&server.base, None).post("/api/v1/auth/token", &login).await;
    assert_eq!(r.status, 200, "served as the role: {}", r.text);
    server.kill().await;

    // An upgrade's migration not applied yet: the role is told whose it is
    // to apply, rather than PostgreSQL's bare "permission denied".
    let newest = Migrator::migrations().last().expect("migrations").name().to_owned();
    db.execute_unprepared(&format!("DELETE FROM seaql_migrations WHERE version = '{newest}'")).await.expect("unapply");
    let (started, _, err) = pricegate_on(&app_url, &["migrate"], "").await;
    assert!(!started, "the role cannot migrate");
    assert!(
        err.contains(&format!("1 migration(s) of this version are not applied yet (the newest: {newest})"))
            && err.contains("run `pricegate migrate` with the DATABASE_URL of the role that owns the schema"),
        "{err}"
    );

    db.execute_unprepared(&format!("DROP OWNED BY {role}")).await.expect("drop the role's grants");
    db.close().await.expect("close");
    let server_db = Database::connect(pricegate_tests::db::pg_server_url()).await.expect("connect to the server");
    drop(test_db);
    server_db.execute_unprepared(&format!("DROP ROLE IF EXISTS {role}")).await.expect("drop the role");
}

/// A database a newer Pricegate migrated further is refused by this one,
/// which would write rows without what the newer migrations keep up to
/// date; saying so, and what to run, and changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_a_newer_version_migrated_is_refused_naming_the_newer_migration() {
    let test_db = TestDb::create(Backend::Sqlite).await;
    let (migrated, _, err) = pricegate_on(&test_db.url, &["migrate"], "").await;
    assert!(migrated, "{err}");
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    let newer = "m20991231_000099_from_a_newer_pricegate";
    db.execute_unprepared(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{newer}', 4102444800)"
    ))
    .await
    .expect("a newer version's migration");
    for args in [
        &["migrate"][..],
        &["user", "create", "--email", "nell@pricegate.test", "--name", "Nell", "--role", "sales", "--password-stdin"],
    ] {
        let (ok, _, err) = pricegate_on(&test_db.url, args, "newer-schema-password").await;
        assert!(!ok, "{args:?} refused");
        assert!(
            err.contains(&format!("this database was migrated by a newer Pricegate (up to {newer})"))
                && err.contains("run the newer version"),
            "{args:?}: {err}"
        );
    }
    let users = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT count(*) AS n FROM users"))
        .await
        .expect("count")
        .and_then(|row| row.try_get::<i64>("", "n").ok());
    assert_eq!(users, Some(0), "nobody was made");
    db.close().await.expect("close");
}

/// Two processes migrating one empty database at once: one applies the
/// migrations and says how many, the other, its turn come, finds them done
/// and says so. One that finds another migrating says it waits for it, as
/// long as that takes: longer than a request's statements may wait for a lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_processes_migrating_at_once_one_applies_them_and_a_waiting_one_says_so() {
    let test_db = TestDb::create(Backend::Postgres).await;
    let env = [("DATABASE_URL", test_db.url.as_str()), ("RUST_LOG", "info"), ("PRICEGATE_REQUEST_TIMEOUT", "1s")];
    let migrate = || pricegate_tests::process::command_output(&["migrate"], &env, "");
    // Another process's migrations under way, as the lock they take says.
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    let holder = sea_orm::TransactionTrait::begin(&db).await.expect("a transaction");
    holder.execute_unprepared("SELECT pg_advisory_xact_lock(8102654555216896373)").await.expect("the lock");
    let (first, second, ()) = tokio::join!(migrate(), migrate(), async {
        // Let go once both wait for it.
        // In this test's database only: other tests wait on locks of their own meanwhile.
        let waiting = "SELECT count(*) AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), waiting)).await;
            let row = row.expect("pg_locks is read").expect("a row");
            if row.try_get::<i64>("", "waiting").expect("a count") >= 2 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "both processes wait for the lock within 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Past the bound on lock waits the request timeout sets.
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        holder.commit().await.expect("the lock let go");
    });
    let said: Vec<(String, String)> = [first, second]
        .iter()
        .map(|out| {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            (String::from_utf8_lossy(&out.stdout).trim().to_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        })
        .collect();
    for (_, log) in &said {
        assert!(log.contains("waiting for another process applying the database migrations"), "{log}");
    }
    let mut outputs: Vec<&str> = said.iter().map(|(out, _)| out.as_str()).collect();
    outputs.sort();
    let applied = applied_all();
    assert_eq!(outputs, [applied.as_str(), "the database is up to date: no migration to apply"]);
}

/// What `pricegate migrate` says once it has applied every migration to an
/// empty database: how many, then each by name, oldest first.
fn applied_all() -> String {
    let names: Vec<String> = Migrator::migrations().iter().map(|m| format!("  {}", m.name())).collect();
    format!("migrations applied: {}\n{}", names.len(), names.join("\n"))
}

/// A server waiting to migrate (another process's migrations under way)
/// does not listen yet: a client or a load balancer's probe connecting then
/// is refused, as if it were not started, rather than accepted and left
/// waiting; once migrated, it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_listens_only_once_its_database_is_migrated() {
    use tokio::io::AsyncBufReadExt;
    let test_db = TestDb::create(Backend::Postgres).await;
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    let holder = sea_orm::TransactionTrait::begin(&db).await.expect("a transaction");
    holder.execute_unprepared("SELECT pg_advisory_xact_lock(8102654555216896373)").await.expect("the lock");
    let dir = tempfile::tempdir().expect("a directory");
    let mut server = tokio::process::Command::new(pricegate_tests::process::server_binary())
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &test_db.url)
        .env("PRICEGATE_BIND", format!("127.0.0.1:{port}"))
        .env("PRICEGATE_MAILDIR", dir.path().join("mail"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("pricegate starts");
    let waiting = "SELECT count(*) AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), waiting)).await;
        if row.expect("pg_locks").and_then(|r| r.try_get::<i64>("", "waiting").ok()).unwrap_or(0) > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server never came to wait for the migration lock");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "a connection while the server waits to migrate is refused"
    );
    holder.commit().await.expect("the lock let go");
    let mut lines = tokio::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    let listening = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("listening on ") {
                return line;
            }
        }
        String::new()
    })
    .await
    .expect("the server listens once migrated");
    assert_eq!(listening.trim(), format!("listening on http://127.0.0.1:{port}"));
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.expect("an answer");
    assert_eq!(r.status(), 200);
    server.kill().await.expect("stop the server");
    db.close().await.expect("close");
}

/// The start-up's check of a role's grants asks about Pricegate's own
/// tables (`pricegate_store::TABLES`): the list is every table the
/// migrations make but their own record.
#[tokio::test]
async fn the_list_of_pricegates_tables_is_every_table_the_migrations_make() {
    let test = TestDb::create(Backend::Postgres).await;
    let db = Database::connect(test.url.as_str()).await.expect("the test database");
    Migrator::up(&db, None).await.expect("migrated");
    let rows = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename <> 'seaql_migrations' ORDER BY tablename",
        ))
        .await
        .expect("the tables");
    let made: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "name").expect("a name")).collect();
    assert_eq!(made, pricegate_store::TABLES);
    let _ = db.close().await;
}

/// The indexes of `notice_changes`, by name, with the columns each is on.
async fn notice_change_indexes(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT i.relname || ' (' || string_agg(a.attname, ', ' ORDER BY k.n) || ')' AS index \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE t.relname = 'notice_changes' AND NOT x.indisprimary GROUP BY i.relname ORDER BY i.relname"
        }
        _ => {
            "SELECT m.name || ' (' || (SELECT group_concat(name, ', ') FROM \
             (SELECT c.name FROM pragma_index_info(m.name) c ORDER BY c.seqno)) || ')' AS \"index\" \
             FROM sqlite_master m WHERE m.type = 'index' AND m.tbl_name = 'notice_changes' \
             AND m.name NOT LIKE 'sqlite_autoindex%' ORDER BY m.name"
        }
    };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.expect("the indexes");
    rows.iter().map(|r| r.try_get::<String>("", "index").expect("an index")).collect()
}

/// The gate reads a pending notice's changes to the quote's products by
/// notice and SKU: an index on both replaces the one on the notice alone
/// (which it serves too), and down brings the old one back.
async fn notice_changes_are_indexed_by_notice_and_sku(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // The thirty-two before 000033.
    Migrator::up(&db, Some(32)).await.expect("the schema before");
    let before = vec![
        "notice_changes_notice (notice_id)".to_owned(),
        "notice_changes_product_effective (product_id, effective_on)".to_owned(),
    ];
    assert_eq!(notice_change_indexes(&db).await, before, "{backend:?}: before 000033");

    Migrator::up(&db, None).await.expect("up");
    assert_eq!(
        notice_change_indexes(&db).await,
        ["notice_changes_notice_sku (notice_id, sku)", "notice_changes_product_effective (product_id, effective_on)"],
        "{backend:?}: after 000033"
    );
    let after_32 = (Migrator::migrations().len() - 32) as u32;
    Migrator::down(&db, Some(after_32)).await.expect("down to 32");
    assert_eq!(notice_change_indexes(&db).await, before, "{backend:?}: down again");
    db.close().await.ok();
}

#[tokio::test]
async fn notice_changes_are_indexed_by_notice_and_sku_on_postgresql() {
    notice_changes_are_indexed_by_notice_and_sku(Backend::Postgres).await;
}

#[tokio::test]
async fn notice_changes_are_indexed_by_notice_and_sku_on_sqlite() {
    notice_changes_are_indexed_by_notice_and_sku(Backend::Sqlite).await;
}

/// An index by the new one's name that a failed `CREATE INDEX CONCURRENTLY`
/// left invalid (here: a unique one, refused by two changes of one notice)
/// is built again, not kept while the old one is dropped, which would leave
/// the changes with no usable index on their notice.
#[tokio::test]
async fn an_index_a_failed_build_left_invalid_is_built_again() {
    let test_db = TestDb::create(Backend::Postgres).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    Migrator::up(&db, Some(32)).await.expect("the schema before");
    let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    let (user, notice, product) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    insert(
        &db,
        "INSERT INTO users (id, email, name, name_key, role, password_hash, active, created_at, updated_at) \
         VALUES (?, 'fin@pricegate.test', 'Fin', 'fin', 'finance', 'x', true, ?, ?)",
        vec![user.into(), now.into(), now.into()],
    )
    .await;
    insert(
        &db,
        "INSERT INTO products (id, sku, name, unit, currency, unit_price_minor, created_at, updated_at) \
         VALUES (?, 'P-1', 'Pump', 'each', 'EUR', 100, ?, ?)",
        vec![product.into(), now.into(), now.into()],
    )
    .await;
    insert(
        &db,
        "INSERT INTO notices (id, title, body, state, seq, published_at, published_by, created_by, created_at, updated_at) \
         VALUES (?, 'Twice', 'Two dates.', 'published', 1, ?, ?, ?, ?, ?)",
        vec![notice.into(), now.into(), user.into(), user.into(), now.into(), now.into()],
    )
    .await;
    for (position, on) in [(0, "2026-12-01"), (1, "2027-01-01")] {
        insert(
            &db,
            "INSERT INTO notice_changes (id, notice_id, position, product_id, sku, unit_price_minor, effective_on) \
             VALUES (?, ?, ?, ?, 'P-1', 110, CAST(? AS date))",
            vec![Uuid::new_v4().into(), notice.into(), position.into(), product.into(), on.into()],
        )
        .await;
    }
    let failed = db
        .execute_unprepared("CREATE UNIQUE INDEX CONCURRENTLY notice_changes_notice_sku ON notice_changes (notice_id)")
        .await;
    assert!(failed.is_err(), "two changes of one notice: the unique build fails");
    assert!(notice_change_indexes(&db).await.contains(&"notice_changes_notice_sku (notice_id)".to_owned()));

    Migrator::up(&db, None).await.expect("up");
    assert_eq!(
        notice_change_indexes(&db).await,
        ["notice_changes_notice_sku (notice_id, sku)", "notice_changes_product_effective (product_id, effective_on)"]
    );
    let invalid = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname LIKE 'notice_changes%' AND NOT i.indisvalid",
        ))
        .await
        .expect("the indexes");
    assert!(invalid.is_empty(), "none left invalid");
    db.close().await.ok();
}

/// The triggers on `table`, by name: what refuses its updates and deletes.
async fn triggers_on(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => format!(
            "SELECT DISTINCT tgname AS name FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = '{table}'::regclass \
             ORDER BY name"
        ),
        _ => format!("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{table}' ORDER BY name"),
    };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.expect("the triggers");
    rows.iter().map(|r| r.try_get::<String>("", "name").expect("a name")).collect()
}

/// The acknowledgements and finance's approvals are append-only from
/// migrations 35 and 36 on, as the audit log is; going down past them lifts
/// that, and up again restores it.
async fn acknowledgements_and_approvals_become_append_only(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = Database::connect(test_db.url.as_str()).await.expect("connect");
    // On SQLite, 000036 adds the insert that would replace a row.
    let expected: &[&str] = match backend {
        Backend::Postgres => &["_append_only", "_no_truncate"],
        Backend::Sqlite => &["_no_delete", "_no_replace", "_no_update"],
    };
    for round in ["up", "down", "up again"] {
        match round {
            // 000038, 000037, 000036 and 000035.
            "down" => Migrator::down(&db, Some(4)).await.expect("down past 000035"),
            _ => Migrator::up(&db, None).await.expect("up"),
        }
        for table in ["acknowledgements", "price_overrides"] {
            let want: Vec<String> = match round {
                "down" => Vec::new(),
                _ => expected.iter().map(|suffix| format!("{table}{suffix}")).collect(),
            };
            assert_eq!(triggers_on(&db, table).await, want, "{backend:?}, {round}");
        }
    }
    db.close().await.ok();
}

#[tokio::test]
async fn acknowledgements_and_approvals_become_append_only_on_postgresql() {
    acknowledgements_and_approvals_become_append_only(Backend::Postgres).await;
}

#[tokio::test]
async fn acknowledgements_and_approvals_become_append_only_on_sqlite() {
    acknowledgements_and_approvals_become_append_only(Backend::Sqlite).await;
}
