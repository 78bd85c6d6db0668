//! The proof that the gate holds: many salespeople and finance people at once,
//! on two server processes sharing one PostgreSQL, or on one server over
//! SQLite, trying to slip a finalisation past a publication. Afterwards the
//! invariant is checked from the API alone (see `pricegate_tests::race`).

use std::time::Duration;

use pricegate_domain::Role;
use pricegate_tests::process::{ServerProcess, run_command};
use pricegate_tests::race::{Person, RaceConfig, Servers, run_race};
use pricegate_tests::{Backend, PASSWORD, TestApp, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_invariant_holds_across_two_server_processes_on_postgresql() {
    let db = TestDb::create(Backend::Postgres).await;
    let maildir = db.dir().join("mail-out");
    let maildir = maildir.to_str().expect("a UTF-8 path");
    let env = [("DATABASE_URL", db.url.as_str()), ("PRICEGATE_MAILDIR", maildir)];

    // The first admin comes from the command line, as in a real deployment;
    // it also applies the migrations before either server starts.
    let admin_email = "admin@race.pricegate.test";
    run_command(
        &["user", "create", "--email", admin_email, "--name", "Race Admin", "--role", "admin", "--password-stdin"],
        &env,
        PASSWORD,
    )
    .await;
    let first = ServerProcess::start(&env).await;
    let second = ServerProcess::start(&env).await;

    let servers = Servers::new(vec![first.base.clone(), second.base.clone()], Duration::from_secs(30));
    let admin = servers.login(0, admin_email, PASSWORD).await;
    let cfg = RaceConfig {
        salespeople: 8,
        tasks_per_salesperson: 3,
        finance_people: 2,
        quote_products: 6,
        spare_products: 6,
        initial_quotes: 160,
        duration: Duration::from_secs(30),
        time_limit: Duration::from_secs(70),
        min_finalise_attempts: 1_500,
        max_finalise_attempts: 6_000,
        publish_pause: (Duration::from_millis(50), Duration::from_millis(400)),
    };
    let report = run_race("postgres, 2 processes", &servers, &admin, &cfg).await;
    first.kill().await;
    second.kill().await;
    report.assert_held_and_meaningful(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_invariant_holds_under_concurrent_requests_on_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (session, user) = app.user(Role::Admin, "Race Admin").await;
    let admin = Person { id: user.id, email: user.email.clone(), token: session.token().expect("a token").to_owned() };
    let servers = Servers::new(vec![app.base.clone()], Duration::from_secs(30));
    let cfg = RaceConfig {
        salespeople: 6,
        tasks_per_salesperson: 4,
        finance_people: 2,
        quote_products: 6,
        spare_products: 6,
        initial_quotes: 120,
        duration: Duration::from_secs(20),
        time_limit: Duration::from_secs(60),
        min_finalise_attempts: 1_000,
        max_finalise_attempts: 3_000,
        publish_pause: (Duration::from_millis(50), Duration::from_millis(400)),
    };
    let report = run_race("sqlite, 1 process", &servers, &admin, &cfg).await;
    app.stop().await;
    report.assert_held_and_meaningful(&cfg);
}

/// A quote drafted while a notice is being published is priced on the side
/// of the publication its `drafted_at` puts it: drafted after (so the gate
/// will not ask about the notice), it must carry the notice's prices; drafted
/// before, the old ones. A quote stamped after a publication it could not yet
/// see would let its signer finalise at a price nobody told them about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_drafted_during_a_publication_is_priced_on_the_side_of_it_its_drafted_at_says() {
    use chrono::{DateTime, Utc};
    use pricegate_tests::fixtures::{create_notice, create_product, publish_notice, quote_request};
    use serde_json::json;

    let app = TestApp::spawn(Backend::Postgres).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sales, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "WITNESS", "EUR", 100_000).await;
    let today = Utc::now().date_naive().to_string();
    let time = |v: &serde_json::Value| v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).expect("a time");
    let mut price = 100_000;
    let mut problems = Vec::new();
    let mut drafted_across = 0;
    for trial in 0..20 {
        let new_price = price + 1_000;
        let changes = json!([{"sku": "WITNESS", "unit_price_minor": new_price, "effective_on": today}]);
        let notice = create_notice(&finance, &format!("Witness {trial}"), changes).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let drafters: Vec<_> = (0..4)
            .map(|_| {
                let (sales, stop) = (sales.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut drafted = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let r = sales
                            .post("/api/v1/quotes", &quote_request(json!([{"sku": "WITNESS", "quantity": 1}])))
                            .await;
                        assert_eq!(r.status, 201, "{}", r.text);
                        drafted.push((time(&r.body["drafted_at"]), r.body["lines"][0]["unit_price_minor"].as_i64()));
                    }
                    drafted
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let published_at = time(&publish_notice(&finance, &notice).await["published_at"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for drafter in drafters {
            for (drafted_at, unit_price) in drafter.await.expect("a drafter") {
                let expected = if drafted_at > published_at { new_price } else { price };
                if unit_price != Some(expected) {
                    problems.push(format!(
                        "trial {trial}: drafted at {drafted_at}, notice published at {published_at}: priced {unit_price:?}, not {expected}"
                    ));
                }
                drafted_across += usize::from(drafted_at > published_at);
            }
        }
        price = new_price;
    }
    app.stop().await;
    assert!(drafted_across > 0, "no quote was drafted after a publication: the test proves nothing");
    assert!(problems.is_empty(), "{} quotes priced on the wrong side:\n{}", problems.len(), problems.join("\n"));
}

/// The gate's proof reads each statement of a finalisation in a snapshot
/// taken after the gate lock is held, which READ COMMITTED gives. A server
/// (or database) whose default is REPEATABLE READ would take the snapshot
/// before the lock: the store asks for READ COMMITTED on every connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reads_committed_whatever_the_database_default_is() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let db = TestDb::create(Backend::Postgres).await;
    let admin = pricegate_store::Store::connect(&db.url, 1).await.expect("connects");
    let name: String = admin
        .connection()
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_database() AS name"))
        .await
        .expect("asks")
        .expect("a row")
        .try_get("", "name")
        .expect("a name");
    admin
        .connection()
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'repeatable read'"))
        .await
        .expect("sets the database's default");
    admin.close().await;

    let store = pricegate_store::Store::connect(&db.url, 1).await.expect("connects again");
    let txn = store.connection().begin().await.expect("begins");
    let level: String = txn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW transaction_isolation"))
        .await
        .expect("asks")
        .expect("a row")
        .try_get("", "transaction_isolation")
        .expect("a level");
    assert_eq!(level, "read committed");
    txn.rollback().await.expect("rolls back");
    store.close().await;
}

/// A signer deactivated while their finalisations are under way: each
/// finalisation either committed before the deactivation took effect, and is
/// stamped before it, or reads them deactivated and is refused. None is
/// finalised by someone no longer able to sign, stamped after they left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_quote_is_finalised_by_its_signer_after_they_were_deactivated() {
    use chrono::{DateTime, Utc};
    use pricegate_store::entity::users;
    use pricegate_tests::fixtures::{create_product, draft_quote, id_of};
    use sea_orm::EntityTrait;
    use serde_json::json;

    let app = TestApp::spawn(Backend::Postgres).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let sam_url = format!("/api/v1/users/{}", sam.id);
    let (mut finalised, mut refused, mut late) = (0, 0, Vec::new());
    for round in 0..4 {
        let sales = app.login(&sam.email, PASSWORD).await;
        let mut quotes = Vec::new();
        for _ in 0..30 {
            quotes.push(id_of(&draft_quote(&sales, json!([{"sku": "P-1", "quantity": 1}])).await));
        }
        let finalising: Vec<_> = quotes
            .iter()
            .enumerate()
            .map(|(i, quote)| {
                let (sales, path) = (sales.clone(), format!("/api/v1/quotes/{quote}/finalise"));
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i as u64)).await;
                    sales.post_empty(&path).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let r = admin.patch(&sam_url, &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let deactivated_at = users::Entity::find_by_id(sam.id)
            .one(app.store.connection())
            .await
            .expect("reads")
            .expect("Sam")
            .updated_at;
        for task in finalising {
            let r = task.await.expect("a finalisation");
            match r.status.as_u16() {
                200 => {
                    finalised += 1;
                    let at: DateTime<Utc> =
                        r.body["finalised_at"].as_str().and_then(|t| t.parse().ok()).expect("finalised_at");
                    if at >= deactivated_at {
                        late.push(format!(
                            "round {round}: {} finalised at {at}, Sam deactivated at {deactivated_at}",
                            r.body["id"]
                        ));
                    }
                }
                401 | 409 => refused += 1,
                _ => panic!("round {round}: {} {}", r.status, r.text),
            }
        }
        let r = admin.patch(&sam_url, &json!({"active": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    app.stop().await;
    assert!(finalised > 0 && refused > 0, "{finalised} finalised, {refused} refused: the race never met");
    assert!(late.is_empty(), "{} finalised after the signer left:\n{}", late.len(), late.join("\n"));
}

/// Two admins, each taking away the other's admin role (or deactivating
/// them) at the same instant, on PostgreSQL: one of them wins, the other
/// finds they are no longer an admin and changes nothing, and the company
/// always keeps an admin who can put things right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    use pricegate_store::entity::users;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use serde_json::json;

    let app = TestApp::spawn(Backend::Postgres).await;
    let (_, ada) = app.user(Role::Admin, "Ada").await;
    let (_, bea) = app.user(Role::Admin, "Bea").await;
    let changes = [json!({"role": "sales"}), json!({"active": false}), json!({"role": "finance"})];
    // Rounds whose two changes met in the database: the loser was let in as
    // an admin and found under the lock that it no longer was one.
    let mut met = 0;
    for round in 0..20 {
        let (a, b) = (app.login(&ada.email, PASSWORD).await, app.login(&bea.email, PASSWORD).await);
        let (ada_url, bea_url) = (format!("/api/v1/users/{}", ada.id), format!("/api/v1/users/{}", bea.id));
        let (by_ada, by_bea) = (&changes[round % 3], &changes[(round + 1) % 3]);
        let (to_bea, to_ada) = tokio::join!(a.patch(&bea_url, by_ada), b.patch(&ada_url, by_bea));
        let admins = users::Entity::find()
            .filter(users::Column::Role.eq("admin"))
            .filter(users::Column::Active.eq(true))
            .count(app.store.connection())
            .await
            .expect("counts");
        assert_eq!(
            admins, 1,
            "round {round}: Ada's change {} {}, Bea's {} {}",
            to_bea.status, to_bea.text, to_ada.status, to_ada.text
        );
        // The loser is refused: as no longer an admin (403), or, deactivated
        // before its request was let in, as no longer logged in (401).
        let (winner, loser, restore) = match (to_bea.status.as_u16(), to_ada.status.as_u16()) {
            (200, 401 | 403) => (&a, &to_ada, &bea_url),
            (401 | 403, 200) => (&b, &to_bea, &ada_url),
            (x, y) => panic!(
                "round {round}: one change goes through and the other is refused, not {x} and {y}: {} / {}",
                to_bea.text, to_ada.text
            ),
        };
        if loser.body["error"]["message"].as_str().is_some_and(|m| m.contains("you are no longer one")) {
            met += 1;
        }
        let r = winner.patch(restore, &json!({"role": "admin", "active": true})).await;
        assert_eq!(r.status, 200, "the admin left puts the other back: {}", r.text);
    }
    app.stop().await;
    assert!(met > 0, "in no round did the two changes meet in the database");
}
