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
