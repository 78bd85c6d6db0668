//! The audit log: every refused and accepted finalisation, publication,
//! acknowledgement, override, failed login and role change has a row with
//! its actor and time, and so does every caller denied for their role; and
//! neither the log nor the finalisation evidence can be changed, not even by
//! SQL sent through the application's own connection.

use chrono::{DateTime, Duration, Utc};
use pricegate_domain::Role;
use pricegate_tests::fixtures::{
    assert_error, create_notice, create_product, date_in_days, draft_quote, id_of, publish_notice, publish_price_change,
};
use pricegate_tests::smtp::{SmtpSink, spawn_with_mail};
use pricegate_tests::{Session, TestApp, both_backends};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

/// Every audit row, newest first.
async fn audit_rows(reader: &Session) -> Vec<Value> {
    let r = reader.get("/api/v1/audit?limit=1000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().expect("a list").clone()
}

/// The rows with `action` about `subject`, newest first.
fn rows_for<'a>(rows: &'a [Value], action: &str, subject: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["action"] == action && r["subject_id"] == json!(subject)).collect()
}

/// The one row of `rows` that `pick` chooses.
#[track_caller]
fn only<'a>(rows: &[&'a Value], what: &str, pick: impl Fn(&Value) -> bool) -> &'a Value {
    let found: Vec<&Value> = rows.iter().copied().filter(|r| pick(r)).collect();
    assert_eq!(found.len(), 1, "expected one row for {what}, got {found:?} among {rows:?}");
    found[0]
}

#[track_caller]
fn at(row: &Value) -> DateTime<Utc> {
    let at = row["at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
    at.unwrap_or_else(|| panic!("no time in {row}"))
}

/// Asserts a row names `actor` and a time inside `[from, to]`.
#[track_caller]
fn assert_actor_and_time(row: &Value, actor: &str, from: DateTime<Utc>, to: DateTime<Utc>) {
    assert_eq!(row["actor_id"], json!(actor), "actor of {row}");
    let at = at(row);
    assert!(from <= at && at <= to, "{row}: at {at} is not between {from} and {to}");
}

both_backends! {
    async fn every_finalisation_publication_acknowledgement_override_and_failed_login_is_audited(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        // The database's clock writes `at`; a little slack for a clock read before ours.
        let from = Utc::now() - Duration::seconds(5);
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (fiona, sam_id) = (fiona.id.to_string(), sam_user.id.to_string());

        let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam_user.email, "password": "not it at all"})).await;
        assert_error(&r, 401, "invalid_credentials");
        let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": "nobody@pricegate.test", "password": "whatever"})).await;
        assert_error(&r, 401, "invalid_credentials");
        // Passwords typed into the e-mail field, one of which reads as an address.
        for typed in ["Hunter2-secret!", "Hunter2@secret!"] {
            let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": typed, "password": "x"})).await;
            assert_error(&r, 401, "invalid_credentials");
        }

        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await);
        // A price rise in force today: the quote needs its acknowledgement, then carries a superseded price.
        let notice = publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
        let finalise = format!("/api/v1/quotes/{quote}/finalise");
        assert_error(&sam.post_empty(&finalise).await, 409, "pending_acknowledgements");
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        assert_error(&sam.post_empty(&finalise).await, 409, "superseded_prices");
        let r = finance.post(&format!("/api/v1/quotes/{quote}/override"), &json!({"reason": "Agreed with the customer in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = sam.post_empty(&finalise).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let to = Utc::now() + Duration::seconds(5);

        let rows = audit_rows(&finance).await;
        let failed: Vec<&Value> = rows.iter().filter(|r| r["action"] == "auth.login_failed").collect();
        assert_eq!(failed.len(), 4, "every failed login: {failed:?}");
        let wrong_password = only(&failed, "the wrong password", |r| r["detail"]["reason"] == "wrong_password");
        // The account tried is the subject; who typed the password is not known.
        assert_eq!((&wrong_password["subject_id"], &wrong_password["actor_id"]), (&json!(sam_id), &Value::Null), "{wrong_password}");
        assert!((from..=to).contains(&at(wrong_password)), "{wrong_password}");
        let unknown: Vec<&&Value> = failed.iter().filter(|r| r["detail"]["reason"] == "unknown_email").collect();
        assert_eq!(unknown.len(), 2, "nobody@… and the password that reads as an address: {failed:?}");
        for unknown in unknown {
            assert_eq!(unknown["actor_id"], Value::Null, "an unknown e-mail has no actor");
            assert_eq!(unknown["detail"]["email"], Value::Null, "only an account's address is kept: {unknown}");
            let unknown_at = at(unknown);
            assert!(from <= unknown_at && unknown_at <= to, "{unknown}");
        }
        assert_eq!(wrong_password["detail"]["email"], json!(sam_user.email));
        assert!(!failed.iter().any(|r| r.to_string().contains("not it at all")), "a password is never kept");
        let not_an_address = only(&failed, "what is not an address", |r| r["detail"]["reason"] == "not_an_email_address");
        assert_eq!(not_an_address["detail"]["email"], Value::Null, "what was typed is not kept: {not_an_address}");
        assert!(!rows.iter().any(|r| r.to_string().contains("Hunter2")), "a password in the e-mail field is never kept");

        let published = rows_for(&rows, "notice.published", &notice);
        assert_eq!(published.len(), 1, "{rows:?}");
        assert_actor_and_time(published[0], &fiona, from, to);
        let acked = rows_for(&rows, "notice.acknowledged", &notice);
        assert_eq!(acked.len(), 1, "{rows:?}");
        assert_actor_and_time(acked[0], &sam_id, from, to);

        let refused = rows_for(&rows, "quote.finalise_refused", &quote);
        assert_eq!(refused.len(), 2, "both refusals: {refused:?}");
        let unacknowledged = only(&refused, "the pending notice", |r| r["detail"]["pending"] == json!([notice]));
        assert_actor_and_time(unacknowledged, &sam_id, from, to);
        let superseded = only(&refused, "the superseded price", |r| r["detail"]["pending"] == json!([]));
        assert_actor_and_time(superseded, &sam_id, from, to);
        assert_eq!(superseded["detail"]["superseded"], json!(["P-1"]));
        // Each says the code it was refused with, as every other refusal's row does.
        assert_eq!(unacknowledged["detail"]["code"], "pending_acknowledgements", "{unacknowledged}");
        assert_eq!(superseded["detail"]["code"], "superseded_prices", "{superseded}");

        let overridden = rows_for(&rows, "quote.price_override", &quote);
        assert_eq!(overridden.len(), 1, "{rows:?}");
        assert_actor_and_time(overridden[0], &fiona, from, to);
        assert_eq!(overridden[0]["detail"]["reason"], "Agreed with the customer in March");

        let finalised = rows_for(&rows, "quote.finalised", &quote);
        assert_eq!(finalised.len(), 1, "{rows:?}");
        assert_actor_and_time(finalised[0], &sam_id, from, to);
        assert_eq!(finalised[0]["detail"]["notices"], json!([notice]));
        assert!(finalised[0]["detail"]["override"].is_string(), "the override the finalisation used: {}", finalised[0]);
        let finalised_at = at(&json!({ "at": r.body["finalised_at"].clone() }));
        assert_eq!(at(finalised[0]), finalised_at, "stamped with the clock reading of the finalisation itself");
        assert!(at(unacknowledged) <= at(superseded), "in the order they happened");
        assert!(at(superseded) <= at(overridden[0]) && at(overridden[0]) <= at(finalised[0]), "in the order they happened");
    }
}

both_backends! {
    async fn a_role_change_and_a_deactivation_are_audited_with_the_admin_and_the_time(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let from = Utc::now() - Duration::seconds(5);
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (_, vic) = app.user(Role::Sales, "Vic").await;
        let ada_email = ada.email.clone();
        let (ada, vic) = (ada.id.to_string(), vic.id.to_string());

        let path = format!("/api/v1/users/{vic}");
        let r = admin.patch(&path, &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&path, &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // A refused change (an admin cannot demote themselves) changes nothing and records nothing.
        assert_error(&admin.patch(&format!("/api/v1/users/{ada}"), &json!({"role": "sales"})).await, 409, "cannot_demote_self");
        let to = Utc::now() + Duration::seconds(5);

        let rows = audit_rows(&admin).await;
        let changes = rows_for(&rows, "user.updated", &vic);
        assert_eq!(changes.len(), 2, "{rows:?}");
        let role_change = only(&changes, "the role change", |r| r["detail"]["after"]["role"] == "finance" && r["detail"]["after"]["active"] == true);
        let deactivation = only(&changes, "the deactivation", |r| r["detail"]["after"]["active"] == false);
        assert_actor_and_time(role_change, &ada, from, to);
        assert_eq!(role_change["detail"]["before"]["role"], "sales");
        assert_eq!(role_change["detail"]["after"]["role"], "finance");
        assert_actor_and_time(deactivation, &ada, from, to);
        assert_eq!(deactivation["detail"]["before"]["active"], true);
        assert_eq!(deactivation["detail"]["after"]["active"], false);
        assert!(rows_for(&rows, "user.updated", &ada).is_empty(), "the refused self-demotion is not a change");
        // The page says what changed, in words.
        let (status, html) = page(&app, &ada_email, "/audit?action=user.updated").await;
        assert_eq!(status, 200);
        assert!(html.contains("role sales \u{2192} finance"), "{html}");
        assert!(html.contains("deactivated; sessions and API tokens ended: "), "{html}");
    }
}

/// Runs `sql` through the application's own connection; the error, if any.
async fn execute(app: &TestApp, sql: &str) -> Option<String> {
    let conn = app.store.connection();
    let backend: DbBackend = conn.get_database_backend();
    conn.execute_raw(Statement::from_string(backend, sql)).await.err().map(|e| e.to_string())
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let conn = app.store.connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("counting")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a count")
}

both_backends! {
    /// The acknowledgements and finance's approvals a finalisation rests on
    /// cannot be changed or removed, as the audit log cannot: a later time
    /// or another channel written over an acknowledgement would rewrite
    /// the proof of when a salesperson knew.
    async fn acknowledgements_and_approvals_refuse_update_and_delete(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let rise = publish_price_change(&finance, "P-1", 1_250, &date_in_days(-1)).await;
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
        let r = finance.post(&format!("/api/v1/quotes/{quote}/override"), &json!({"reason": "Old offer"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let acks_before = finance.get(&format!("/api/v1/notices/{rise}/acknowledgements")).await;
        let gate_before = sam.get(&format!("/api/v1/quotes/{quote}/gate")).await;
        assert_eq!(gate_before.body["ready"], json!(true), "{}", gate_before.text);

        // SQLite's REPLACE deletes the row in the way without its delete trigger: refused on insert.
        let truncates: &[&str] = match backend {
            pricegate_tests::Backend::Sqlite => &[
                "REPLACE INTO acknowledgements SELECT * FROM acknowledgements",
                "INSERT OR REPLACE INTO acknowledgements (id, notice_id, user_id, acknowledged_at, notice_published_at, \
                 channel) SELECT randomblob(16), notice_id, user_id, acknowledged_at, notice_published_at, 'web' \
                 FROM acknowledgements",
                "REPLACE INTO price_overrides SELECT * FROM price_overrides",
            ],
            pricegate_tests::Backend::Postgres => &["TRUNCATE acknowledgements", "TRUNCATE price_overrides"],
        };
        for &sql in [
            "UPDATE acknowledgements SET channel = 'web', client_addr = '10.9.9.9'",
            "UPDATE acknowledgements SET acknowledged_at = acknowledged_at",
            "DELETE FROM acknowledgements",
            "UPDATE price_overrides SET reason = 'Another reason'",
            "DELETE FROM price_overrides",
        ]
        .iter()
        .chain(truncates)
        {
            let error = execute(&app, sql).await.unwrap_or_else(|| panic!("{backend:?} accepted `{sql}`"));
            assert!(error.contains("append-only"), "{backend:?}: `{sql}` failed, but not for being append-only: {error}");
        }
        assert_eq!((count(&app, "acknowledgements").await, count(&app, "price_overrides").await), (1, 1));
        let acks = finance.get(&format!("/api/v1/notices/{rise}/acknowledgements")).await;
        assert_eq!(acks.body, acks_before.body, "as they were");
        // The service still reads and adds to them: the quote finalises on the approval.
        assert_eq!(sam.get(&format!("/api/v1/quotes/{quote}/gate")).await.body, gate_before.body);
        let r = sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.stop().await;
    }
}

both_backends! {
    async fn the_audit_log_and_the_finalisation_evidence_refuse_update_and_delete_from_the_application(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let notice = create_notice(&finance, "Read me", json!([])).await;
        publish_notice(&finance, &notice).await;
        sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
        let finalised = sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(finalised.status, 200, "{}", finalised.text);
        let audit_before = audit_rows(&finance).await;
        let (audit_count, finalisation_count) = (count(&app, "audit_log").await, count(&app, "finalisations").await);
        assert!(audit_count >= 5 && finalisation_count == 1, "{audit_count} audit rows, {finalisation_count} finalisations");

        let truncates: &[&str] = match backend {
            // SQLite has no TRUNCATE: a DELETE without WHERE is its truncate. Its REPLACE
            // deletes the row in the way without the delete trigger: refused on insert.
            pricegate_tests::Backend::Sqlite => {
                &["REPLACE INTO finalisations SELECT * FROM finalisations", "REPLACE INTO audit_log SELECT * FROM audit_log"]
            }
            pricegate_tests::Backend::Postgres => &["TRUNCATE audit_log", "TRUNCATE finalisations", "TRUNCATE audit_log, finalisations"],
        };
        for &sql in [
            "UPDATE audit_log SET action = 'nothing.happened'",
            "UPDATE audit_log SET actor_id = NULL",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE action = 'quote.finalised'",
            "UPDATE finalisations SET finalised_at = finalised_at",
            "UPDATE finalisations SET evidence = '{}'",
            "DELETE FROM finalisations",
        ]
        .iter()
        .chain(truncates)
        {
            let error = execute(&app, sql).await.unwrap_or_else(|| panic!("{backend:?} accepted `{sql}`"));
            assert!(error.contains("append-only"), "{backend:?}: `{sql}` failed, but not for being append-only: {error}");
        }

        // Nor is the finalised quote deleted, by a tool that does not ask SQLite to check foreign keys either.
        let outside = sea_orm::Database::connect(app.db.url.as_str()).await.expect("connect");
        let unchecked = match backend {
            pricegate_tests::Backend::Sqlite => "PRAGMA foreign_keys = OFF; DELETE FROM quotes",
            pricegate_tests::Backend::Postgres => "DELETE FROM quotes",
        };
        let refused = outside.execute_unprepared(unchecked).await.expect_err("a finalised quote deleted").to_string();
        assert!(refused.contains("a finalised quote is kept") || refused.contains("foreign key"), "{backend:?}: {refused}");
        outside.close().await.ok();
        assert_eq!(sam.get(&format!("/api/v1/quotes/{quote}")).await.status, 200);

        assert_eq!(audit_rows(&finance).await, audit_before, "the audit log is as it was");
        assert_eq!(count(&app, "audit_log").await, audit_count);
        assert_eq!(count(&app, "finalisations").await, finalisation_count);
        let now = sam.get(&format!("/api/v1/quotes/{quote}")).await;
        assert_eq!(now.body["evidence"], finalised.body["evidence"], "the evidence is as it was");
        assert_eq!(now.body["finalised_at"], finalised.body["finalised_at"]);
        // What was signed is in the evidence, as the quote was.
        let signed = &finalised.body["evidence"]["signed"];
        assert_eq!(signed["lines"], finalised.body["lines"], "{signed}");
        assert_eq!((&signed["total_minor"], &signed["customer"]), (&json!(1_000), &finalised.body["customer"]), "{signed}");
        let (_, page_before) = page(&app, &sam_user.email, &format!("/quotes/{quote}")).await;
        assert!(!page_before.contains("id=\"altered\""), "{page_before}");

        // The quote's own rows changed behind the service's back: the
        // evidence still says what was signed, and the page says they differ.
        // (The test's one quote has the one line.)
        assert_eq!(execute(&app, "UPDATE quote_lines SET quantity = 50").await, None);
        let now = sam.get(&format!("/api/v1/quotes/{quote}")).await;
        assert_eq!(now.body["total_minor"], json!(50_000), "the rows were changed");
        assert_eq!(now.body["evidence"], finalised.body["evidence"], "the proof was not");
        assert_eq!(finalised.body["changed_since_finalised"], json!([]));
        assert_eq!(now.body["changed_since_finalised"], json!(["lines", "total"]), "the API says they differ");
        let (_, html) = page(&app, &sam_user.email, &format!("/quotes/{quote}")).await;
        let altered = html.split("id=\"altered\">").nth(1).and_then(|a| a.split("</p>").next()).unwrap_or_else(|| panic!("{html}"));
        assert!(altered.starts_with("This quote as stored no longer matches what was finalised (its lines, its total)"), "{altered}");
        assert!(altered.contains("1 × P-1 at 10.00 EUR: 10.00 EUR; total 10.00 EUR."), "{altered}");
        // The quotes file says so too, beside the rows' amounts.
        let (_, csv) = page(&app, &sam_user.email, "/quotes/export.csv").await;
        let row = csv.lines().find(|l| l.contains(&quote)).unwrap_or_else(|| panic!("{csv}"));
        assert!(row.contains(",500.00,50000,") && row.ends_with(&format!(",{},\"lines; total\"", sam_user.id)), "{row}");

        // And the API offers no way to change it.
        for method in [reqwest::Method::PATCH, reqwest::Method::DELETE, reqwest::Method::PUT, reqwest::Method::POST] {
            let r = finance.send(finance.request(method.clone(), "/api/v1/audit").json(&json!({}))).await;
            assert_error(&r, 405, "method_not_allowed");
        }
        assert_eq!(count(&app, "audit_log").await, audit_count);

        // So with a published notice's text: its publication's record keeps
        // what was published, and its page says what no longer matches.
        let (_, html) = self::page(&app, &sam_user.email, &format!("/notices/{notice}")).await;
        assert!(!html.contains("id=\"altered\""), "{html}");
        let priced = publish_price_change(&finance, "P-1", 1_200, &date_in_days(30)).await;
        let (_, html) = self::page(&app, &sam_user.email, &format!("/notices/{priced}")).await;
        assert!(html.contains("12.00 EUR") && !html.contains("id=\"altered\""), "as published: {html}");
        assert_eq!(execute(&app, "UPDATE notice_changes SET unit_price_minor = 1100 WHERE unit_price_minor = 1200").await, None);
        let (_, html) = self::page(&app, &sam_user.email, &format!("/notices/{priced}")).await;
        assert!(html.contains("no longer matches what was published (its price changes)") && html.contains("P-1 "), "{html}");
        assert!(html.contains(": 12.00 EUR from "), "the price as published: {html}");
        let published = finance.get(&format!("/api/v1/audit?subject={notice}&action=notice.published")).await;
        let detail = &published.body[0]["detail"];
        assert_eq!((&detail["title"], &detail["body"], &detail["changes"]), (&json!("Read me"), &json!("Please read."), &json!([])), "{detail}");
        assert_eq!(execute(&app, "UPDATE notices SET body = 'Prices unchanged.'").await, None);
        let (_, html) = self::page(&app, &sam_user.email, &format!("/notices/{notice}")).await;
        let altered = html.split("id=\"altered\">").nth(1).and_then(|a| a.split("</div>").next()).unwrap_or_else(|| panic!("{html}"));
        assert!(altered.contains("This notice as stored no longer matches what was published (its text)"), "{altered}");
        assert!(altered.contains("<strong>Read me</strong>") && altered.contains("Please read."), "{altered}");

    }
}

/// Asserts that the rows with `action` about `subject` are exactly one per
/// `(actor, code)` expected, each with its actor and a time in `[from, to]`.
#[track_caller]
fn assert_refusals(
    rows: &[Value],
    action: &str,
    subject: &Value,
    expected: &[(&Value, &str)],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) {
    let found: Vec<&Value> = rows.iter().filter(|r| r["action"] == action && &r["subject_id"] == subject).collect();
    assert_eq!(found.len(), expected.len(), "{action} about {subject}: {found:?}");
    for (actor, code) in expected {
        let row = only(&found, code, |r| &r["actor_id"] == *actor && r["detail"]["code"] == *code);
        let at = at(row);
        assert!(from <= at && at <= to, "{row}: at {at} is not between {from} and {to}");
    }
}

both_backends! {
    async fn refused_publications_acknowledgements_and_overrides_are_audited_once_and_change_nothing(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let from = Utc::now() - Duration::seconds(5);
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (fiona, sam_id) = (json!(fiona.id), json!(sam_user.id));
        let unknown = uuid::Uuid::new_v4().to_string();
        create_product(&finance, "P-1", "EUR", 1_000).await;

        // Publication: a second time, and of a notice that does not exist.
        let notice = create_notice(&finance, "Read me", json!([])).await;
        let draft = create_notice(&finance, "Not yet", json!([])).await;
        let published = publish_notice(&finance, &notice).await;
        assert_error(&finance.post_empty(&format!("/api/v1/notices/{notice}/publish")).await, 409, "notice_published");
        assert_error(&finance.post_empty(&format!("/api/v1/notices/{unknown}/publish")).await, 404, "not_found");

        // Acknowledgement: of a draft (which a salesperson cannot know of), and of nothing.
        assert_error(&sam.post_empty(&format!("/api/v1/notices/{draft}/acknowledge")).await, 404, "not_found");
        assert_error(&finance.post_empty(&format!("/api/v1/notices/{draft}/acknowledge")).await, 409, "notice_not_published");
        assert_error(&sam.post_empty(&format!("/api/v1/notices/{unknown}/acknowledge")).await, 404, "not_found");

        // Override: of a cancelled quote, and of a quote that does not exist.
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{quote}/cancel")).await.status, 200);
        let reason = json!({"reason": "Agreed with the customer in March"});
        assert_error(&finance.post(&format!("/api/v1/quotes/{quote}/override"), &reason).await, 409, "quote_not_draft");
        assert_error(&finance.post(&format!("/api/v1/quotes/{unknown}/override"), &reason).await, 404, "not_found");
        let window = (from, Utc::now() + Duration::seconds(5));

        // Nothing refused changed anything.
        let now = finance.get(&format!("/api/v1/notices/{notice}")).await;
        assert_eq!((&now.body["seq"], &now.body["published_at"]), (&published["seq"], &published["published_at"]));
        assert_eq!(finance.get(&format!("/api/v1/notices/{draft}")).await.body["state"], "draft");
        assert_eq!(count(&app, "acknowledgements").await, 0);
        assert_eq!(sam.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "cancelled");
        assert_eq!(count(&app, "price_overrides").await, 0);

        let rows = audit_rows(&finance).await;
        let (notice, draft, quote, unknown) = (json!(notice), json!(draft), json!(quote), json!(unknown));
        assert_eq!(rows.iter().filter(|r| r["action"] == "notice.published").count(), 1, "only the accepted publication");
        assert_refusals(&rows, "notice.publish_refused", &notice, &[(&fiona, "notice_published")], window);
        assert_refusals(&rows, "notice.publish_refused", &unknown, &[(&fiona, "not_found")], window);
        assert_refusals(&rows, "notice.acknowledge_refused", &draft, &[(&sam_id, "not_found"), (&fiona, "notice_not_published")], window);
        assert_refusals(&rows, "notice.acknowledge_refused", &unknown, &[(&sam_id, "not_found")], window);
        assert_refusals(&rows, "quote.override_refused", &quote, &[(&fiona, "quote_not_draft")], window);
        assert_refusals(&rows, "quote.override_refused", &unknown, &[(&fiona, "not_found")], window);
        let channels: Vec<&Value> = rows.iter().filter(|r| r["action"] == "notice.acknowledge_refused").map(|r| &r["detail"]["channel"]).collect();
        assert_eq!(channels, [&json!("api"); 3]);
        assert!(!rows.iter().any(|r| r["action"] == "notice.acknowledged" || r["action"] == "quote.price_override"), "{rows:?}");
        assert!(!rows.iter().any(|r| r["action"] == "access.denied"), "no refusal here is a 403: {rows:?}");
    }
}

both_backends! {
    async fn a_caller_refused_for_their_role_is_audited_as_access_denied_without_their_token(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let from = Utc::now() - Duration::seconds(5);
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita, rita_user) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let notice = create_notice(&finance, "Not yet", json!([])).await;

        let publish = format!("/api/v1/notices/{notice}/publish");
        let override_path = format!("/api/v1/quotes/{quote}/override");
        let finalise = format!("/api/v1/quotes/{quote}/finalise");
        assert_error(&sam.post_empty(&publish).await, 403, "forbidden");
        assert_error(&sam.post(&override_path, &json!({"reason": "I say so"})).await, 403, "forbidden");
        assert_error(&finance.post_empty(&finalise).await, 403, "forbidden");
        // Not a role but a relation: only the signer finalises.
        assert_error(&rita.post_empty(&finalise).await, 403, "not_signer");
        // The same from the browser: Sam's session posts the publish form.
        let client = pricegate_store::ClientInfo { addr: None, user_agent: None };
        let login = app.store.attempt_login(&sam_user.email, pricegate_tests::PASSWORD, &client).await.expect("a login");
        let pricegate_store::LoginOutcome::LoggedIn(checked) = login else { panic!("Sam logs in: {login:?}") };
        let session = app.store.open_session(&checked).await.expect("a session");
        let page = reqwest::Client::new()
            .post(format!("{}/notices/{notice}/publish", app.base))
            .header("cookie", format!("pricegate_session={}", session.token))
            .form(&[("csrf", "whatever")])
            .send()
            .await
            .expect("the server answers");
        assert_eq!(page.status(), 403);
        // Nobody logged in: refused, but there is no one to name.
        assert_eq!(app.anonymous().post_empty(&publish).await.status, 401);
        let to = Utc::now() + Duration::seconds(5);

        assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["state"], "draft");
        assert_eq!(sam.get(&format!("/api/v1/quotes/{quote}")).await.body["state"], "draft");
        assert_eq!(count(&app, "price_overrides").await, 0);

        let rows = audit_rows(&finance).await;
        let denied: Vec<&Value> = rows.iter().filter(|r| r["action"] == "access.denied").collect();
        assert_eq!(denied.len(), 5, "{denied:?}");
        for (who, route, id, code) in [
            (&sam_user.id, "/api/v1/notices/{id}/publish", &notice, "forbidden"),
            (&sam_user.id, "/api/v1/quotes/{id}/override", &quote, "forbidden"),
            (&fiona.id, "/api/v1/quotes/{id}/finalise", &quote, "forbidden"),
            (&rita_user.id, "/api/v1/quotes/{id}/finalise", &quote, "not_signer"),
        ] {
            let row = only(&denied, route, |r| r["actor_id"] == json!(who) && r["detail"]["route"] == route);
            assert_actor_and_time(row, &who.to_string(), from, to);
            let detail = &row["detail"];
            assert_eq!((&detail["method"], &detail["id"], &detail["code"]), (&json!("POST"), &json!(id), &json!(code)), "{row}");
            // About the quote or notice the route names: found by it too.
            let kind = if route.contains("/quotes/") { "quote" } else { "notice" };
            assert_eq!((&row["subject_type"], &row["subject_id"]), (&json!(kind), &json!(id)), "{row}");
        }
        let about_quote = finance.get(&format!("/api/v1/audit?subject={quote}&action=access.denied")).await;
        assert_eq!(about_quote.body.as_array().map(Vec::len), Some(3), "{}", about_quote.text);
        // The quote's history says who tried what, and why it was refused.
        let (_, html) = self::page(&app, &sam_user.email, &format!("/quotes/{quote}")).await;
        assert!(html.contains("Finalising refused: not its signer"), "Rita's try: {html}");
        assert!(html.contains("Approving old prices refused: not for their role"), "Sam's own: {html}");
        // Knocking on and on keeps the latest fifty knocks in the quote's
        // history, and what happened to the quote with them.
        for _ in 0..60 {
            assert_error(&rita.post_empty(&finalise).await, 403, "not_signer");
        }
        let history = app.store.quote_history(uuid::Uuid::parse_str(&quote).unwrap()).await.expect("the history");
        let knocks = history.iter().filter(|e| e.action == "access.denied").count();
        assert_eq!(knocks, 50, "fifty of them");
        let newest = finance.get("/api/v1/audit?action=access.denied&limit=1").await;
        let newest = uuid::Uuid::parse_str(newest.body[0]["id"].as_str().unwrap()).unwrap();
        assert!(history.iter().any(|e| e.id == newest), "the latest of them");
        assert!(history.iter().any(|e| e.action == "quote.drafted"), "what happened to it stays: {history:?}");
        let page_row = only(&denied, "the page", |r| r["detail"]["route"] == "/notices/{id}/publish");
        assert_actor_and_time(page_row, &sam_user.id.to_string(), from, to);
        let detail = &page_row["detail"];
        assert_eq!((&detail["method"], &detail["id"], &detail["code"]), (&json!("POST"), &json!(notice), &json!("forbidden")));
        assert!(!rows.iter().any(|r| r.to_string().contains(&session.token)), "a session token reached the audit log");
        assert!(!rows.iter().any(|r| r["action"] == "quote.finalise_refused"), "a denial is not a gate refusal: {rows:?}");
        for session in [&sam, &finance, &rita] {
            let token = session.token().expect("a token");
            assert!(!rows.iter().any(|r| r.to_string().contains(token)), "a token reached the audit log");
        }
    }
}

both_backends! {
    /// A salesperson's script refused in a loop leaves a bounded trace: the
    /// first hundred refusals in ten minutes, the last of them saying the rest
    /// are not recorded. Everyone else's are recorded as before.
    async fn one_persons_refusals_are_recorded_up_to_a_bound_the_last_saying_so(backend: Backend) {
        use pricegate_store::{DENIALS_RECORDED, DENIALS_WINDOW_MINUTES};
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita, rita_user) = app.user(Role::Sales, "Rita").await;
        let notice = create_notice(&finance, "Not yet", json!([])).await;
        let publish = format!("/api/v1/notices/{notice}/publish");
        // Sent eight at a time, as a script would: the bound holds, and the row saying so is written once.
        let sam = std::sync::Arc::new(sam);
        let in_a_loop = |path: String, status: u16, code: &'static str| {
            let mut sending = tokio::task::JoinSet::new();
            for worker in 0..8 {
                let (sam, path) = (sam.clone(), path.clone());
                sending.spawn(async move {
                    for _ in (worker..DENIALS_RECORDED + 20).step_by(8) {
                        assert_error(&sam.post_empty(&path).await, status, code);
                    }
                });
            }
            async move {
                while let Some(sent) = sending.join_next().await {
                    sent.expect("the refusals are sent");
                }
            }
        };
        in_a_loop(publish.clone(), 403, "forbidden").await;
        assert_error(&rita.post_empty(&publish).await, 403, "forbidden");
        assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["state"], "draft");

        let rows = audit_rows(&finance).await;
        let denied = |who: uuid::Uuid| -> Vec<&Value> {
            rows.iter().filter(|r| r["action"] == "access.denied" && r["actor_id"] == json!(who)).collect()
        };
        let sams = denied(sam_user.id);
        assert_eq!(sams.len() as u64, DENIALS_RECORDED);
        let notes: Vec<&str> = sams.iter().filter_map(|r| r["detail"]["note"].as_str()).collect();
        assert_eq!(notes.len(), 1, "one row says the rest are not recorded: {notes:?}");
        assert_eq!(sams[0]["detail"]["note"].as_str(), Some(notes[0]), "the newest recorded");
        assert!(notes[0].contains(&format!("{DENIALS_RECORDED}th refusal in {DENIALS_WINDOW_MINUTES} minutes")), "{}", notes[0]);
        assert_eq!(denied(rita_user.id).len(), 1, "another person's refusal is recorded");

        // So do refusals recorded on their own: acknowledging a notice that is not there, in a loop.
        let nowhere = format!("/api/v1/notices/{}/acknowledge", uuid::Uuid::new_v4());
        in_a_loop(nowhere.clone(), 404, "not_found").await;
        assert_error(&rita.post_empty(&nowhere).await, 404, "not_found");
        let rows = audit_rows(&finance).await;
        let refused = |who: uuid::Uuid| -> Vec<&Value> {
            rows.iter().filter(|r| r["action"] == "notice.acknowledge_refused" && r["actor_id"] == json!(who)).collect()
        };
        let sams = refused(sam_user.id);
        assert_eq!(sams.len() as u64, DENIALS_RECORDED);
        let notes: Vec<&str> = sams.iter().filter_map(|r| r["detail"]["note"].as_str()).collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("(notice.acknowledge_refused)"), "{}", notes[0]);
        assert_eq!(refused(rita_user.id).len(), 1, "another person's refusal is recorded");
    }
}

both_backends! {
    async fn refused_acknowledgement_links_are_audited_with_their_person_and_notice(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let notice = create_notice(&finance, "Read me", json!([])).await;
        publish_notice(&finance, &notice).await;
        sink.wait_until(std::time::Duration::from_secs(20), "two publication e-mails", |m| m.len() >= 2).await;
        let link_of = |email: &str| sink.to(email)[0].ack_link().expect("a link");
        let (sam_link, rita_link) = (link_of(&sam_user.email), link_of(&rita.email));
        let post = |link: String| async move {
            reqwest::Client::new().post(&link).send().await.expect("the server answers").status().as_u16()
        };
        let from = Utc::now() - Duration::seconds(5);

        // Sam acknowledged through the API first; Rita uses her link twice; someone tries a made-up one,
        // which writes nothing: it names nobody, and an anonymous caller must not make the server write.
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        assert_eq!(post(sam_link.clone()).await, 409);
        assert_eq!(post(rita_link.clone()).await, 200);
        assert_eq!(post(rita_link.clone()).await, 409);
        let made_up = format!("{}/ack/{}", app.base, "A".repeat(43));
        assert_eq!(post(made_up).await, 404);
        let window = (from, Utc::now() + Duration::seconds(5));

        let acks = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await;
        let channels: Vec<&Value> = acks.body["acknowledged"].as_array().expect("a list").iter().map(|a| &a["channel"]).collect();
        assert_eq!(channels.len(), 2, "{}", acks.text);
        assert!(channels.contains(&&json!("api")) && channels.contains(&&json!("email")), "{}", acks.text);

        let rows = audit_rows(&finance).await;
        let (sam_id, rita_id) = (json!(sam_user.id), json!(rita.id));
        assert_refusals(&rows, "notice.acknowledge_refused", &json!(notice), &[(&sam_id, "already_acknowledged"), (&rita_id, "used_link")], window);
        assert_refusals(&rows, "notice.acknowledge_refused", &Value::Null, &[], window);
        let refused = rows.iter().filter(|r| r["action"] == "notice.acknowledge_refused");
        assert!(refused.clone().all(|r| r["detail"]["channel"] == "email"), "{rows:?}");
        for link in [&sam_link, &rita_link] {
            let token = link.rsplit('/').next().expect("a token");
            assert!(!rows.iter().any(|r| r.to_string().contains(token)), "a token reached the audit log");
        }
    }
}

/// `path` as the browser of the user with `email` gets it: status and page.
async fn page(app: &TestApp, email: &str, path: &str) -> (u16, String) {
    let cookie = pricegate_tests::pages::session_cookie(&app.base, email).await;
    let r = pricegate_tests::pages::client()
        .get(format!("{}{path}", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

both_backends! {
    async fn finance_and_admins_read_the_audit_log_in_the_browser_a_page_at_a_time(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (_, ada) = app.user(Role::Admin, "Ada").await;
        let (sales, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let quote = id_of(&draft_quote(&sales, json!([{"sku": "PUMP-1", "quantity": 2}])).await);
        for n in 0..105 {
            create_notice(&finance, &format!("Draft {n}"), json!([])).await;
        }
        let r = sales.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);

        // Finance: newest first, named, linked; 100 to a page, then older ones.
        let (status, html) = page(&app, &fiona.email, "/audit").await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("href=\"/audit\" aria-current=\"page\">Audit log</a>"), "in the menu: {html}");
        let action = |a: &str| format!("<td data-label=\"Action\">{a}</td>");
        let finalised = html.find(&action("quote.finalised")).expect("the finalisation is listed");
        assert!(finalised < html.find(&action("notice.drafted")).unwrap(), "newest first");
        let reference = &quote.replace('-', "")[..8];
        assert!(html.contains(&format!("<a href=\"/quotes/{quote}\">{reference}</a>")), "{html}");
        let sams_doing = format!("/audit?actor={}", sam.email.replace('@', "%40"));
        assert!(
            html.contains(&format!("<td data-label=\"Who\"><a href=\"{sams_doing}\" title=\"Only what this person did\">Sam</a></td>")),
            "the actor by name, linked to what they did: {html}"
        );
        assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), 100);
        let older = html.split("id=\"older-entries\"").next().and_then(|h| h.rsplit("href=\"").next()).unwrap().trim_end_matches("\" ").to_owned();
        assert!(older.starts_with("/audit?before="), "{older}");
        let (status, rest) = page(&app, &fiona.email, &older.replace("&amp;", "&")).await;
        assert_eq!(status, 200);
        assert!(
            rest.contains(&action("quote.drafted")) && rest.contains(&action("product.created")) && !rest.contains(&action("quote.finalised")),
            "{rest}"
        );
        assert!(rest.contains("id=\"newest-entries\""), "{rest}");
        // A page whose link names no entry, or no id at all: the newest, said so.
        for stale in [format!("/audit?before={}", uuid::Uuid::new_v4()), "/audit?before=garbage".to_owned()] {
            let (status, html) = page(&app, &fiona.email, &stale).await;
            assert_eq!(status, 200, "{stale}");
            assert!(html.contains("That page of the log is gone: its link names no entry. Showing the newest."), "{stale}: {html}");
            assert!(html.contains(&action("quote.finalised")), "{stale}: the newest first: {html}");
        }

        // One action, one subject; what cannot be read is said, not an error.
        let (_, html) = page(&app, &fiona.email, "/audit?action=quote.finalised").await;
        assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), 1, "{html}");
        let (_, html) = page(&app, &fiona.email, &format!("/audit?subject={quote}")).await;
        assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), 2, "drafted and finalised: {html}");
        assert!(html.contains("signer: Sam"), "an id in the detail that names someone reads as their name: {html}");
        // The short reference the pages and e-mails show finds it too, in capitals or not.
        for typed in [reference.to_owned(), reference.to_uppercase()] {
            let (_, html) = page(&app, &fiona.email, &format!("/audit?subject={typed}")).await;
            assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), 2, "{typed}: {html}");
            assert!(html.contains(&format!("value=\"{reference}\"")), "the filter shows it: {html}");
        }
        // A product by its SKU, in capitals or not, as finance names it; one of eight hex digits too.
        let (_, html) = page(&app, &fiona.email, "/audit?subject=pump-1").await;
        assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), 1, "{html}");
        assert!(html.contains(&action("product.created")) && html.contains("value=\"pump-1\""), "{html}");
        create_product(&finance, "CAFEBABE", "EUR", 100).await;
        let (_, html) = page(&app, &fiona.email, "/audit?subject=cafebabe").await;
        assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), 1, "{html}");
        assert!(html.contains(&action("product.created")), "{html}");
        // A filter that matches nothing shows nothing, and says why; an address that cannot be read shows everything.
        for (query, says, rows) in [
            ("action=%3Cscript%3E", "No entry is written with the action \u{201c}&#60;script&#62;\u{201d}", 0),
            ("action=quote.finalized", "such as quote.finalised (the box suggests each one).", 0),
            ("subject=nope", "Nothing goes by \u{201c}nope\u{201d}: a subject is the id of a quote", 0),
            ("subject=abcdefgh", "its 8-character reference, a product", 0),
            // An id, or a reference, that nothing in the log is about.
            (
                "subject=00000000-0000-0000-0000-000000000000",
                "No entry in the log is about \u{201c}00000000-0000-0000-0000-000000000000\u{201d}, with these filters or without them",
                0,
            ),
            ("action=quote.finalised&subject=0BADF00D", "No entry in the log is about \u{201c}0badf00d\u{201d}", 0),
            ("before=nope&before=again", "This address could not be read", 100),
            // A control character, which PostgreSQL cannot hold in a query's text.
            ("subject=a%00b", "This address could not be read", 100),
        ] {
            let (status, html) = page(&app, &fiona.email, &format!("/audit?{query}")).await;
            assert_eq!(status, 200, "{query}");
            assert!(html.contains(says) && !html.contains("<script>"), "{query}: {html}");
            assert_eq!(html.matches("<td data-label=\"When\" class=\"date\">").count(), rows, "{query}: {html}");
        }
        // About something that has entries, though not with the other filters: nothing to say of it.
        let (_, html) = page(&app, &fiona.email, &format!("/audit?subject={quote}&action=notice.published")).await;
        assert!(html.contains("No entries match.") && !html.contains("No entry in the log is about"), "{html}");
        let (status, html) = page(&app, &fiona.email, "/audit/export.csv?subject=a%00b").await;
        assert_eq!(status, 400, "the download is refused rather than taken for every entry: {html}");

        // A failed login names the account tried, not as the one who typed it; its detail reads as words.
        assert_eq!(pricegate_tests::pages::log_in(&app.base, &sam.email, "not it at all").await.status, 401);
        let (_, html) = page(&app, &fiona.email, "/audit?action=auth.login_failed").await;
        assert!(html.contains("<td data-label=\"Who\">unknown (not logged in)</td>"), "{html}");
        assert!(html.contains(&format!("<code>email: {}; reason: wrong_password</code>", sam.email)), "{html}");
        // A person by their e-mail address, as typed (spaces and capitals aside).
        let (_, html) = page(&app, &fiona.email, &format!("/audit?subject=%20{}", sam.email.to_uppercase())).await;
        assert!(html.contains(&action("auth.login_failed")) && !html.contains(&action("quote.drafted")), "{html}");
        let failed = finance.get("/api/v1/audit?action=auth.login_failed").await;
        assert_eq!(failed.body[0]["subject_id"], json!(sam.id), "{}", failed.text);
        assert_eq!(failed.body[0]["actor_id"], Value::Null, "nobody known typed it: {}", failed.text);

        // Admins read it too, a quote not linked (its page is not for their role); salespeople do not.
        let (status, html) = page(&app, &ada.email, &format!("/audit?subject={quote}")).await;
        assert_eq!(status, 200);
        assert!(!html.contains(&format!("href=\"/quotes/{quote}\"")) && html.contains(reference), "{html}");
        // A draft notice deleted since is named, not linked.
        let gone = create_notice(&finance, "Soon gone", json!([])).await;
        assert_eq!(finance.delete(&format!("/api/v1/notices/{gone}")).await.status.as_u16(), 204);
        let (_, html) = page(&app, &fiona.email, &format!("/audit?subject={gone}")).await;
        assert!(html.contains(&action("notice.deleted")) && !html.contains(&format!("href=\"/notices/{gone}\"")), "{html}");
        let (status, html) = page(&app, &sam.email, "/audit").await;
        assert_eq!(status, 403, "{html}");
        assert!(!html.contains("href=\"/audit\""), "not in a salesperson's menu");
        assert_eq!(sales.get("/api/v1/audit").await.status, 403);
        let r = finance.get(&format!("/api/v1/audit?subject={quote}")).await;
        assert_eq!(r.body.as_array().map(Vec::len), Some(2), "the API filters by subject too: {}", r.text);
        app.stop().await;
    }
}

both_backends! {
    async fn an_auditor_reads_everything_one_person_did(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sales, sam) = app.user(Role::Sales, "Sam").await;
        let (other, _) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let sams = id_of(&draft_quote(&sales, json!([{"sku": "PUMP-1", "quantity": 2}])).await);
        let sues = id_of(&draft_quote(&other, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let notice = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &notice).await;
        assert_eq!(sales.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        let r = sales.post_empty(&format!("/api/v1/quotes/{sams}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Someone failing to log in as Sam is not Sam's doing.
        assert_eq!(pricegate_tests::pages::log_in(&app.base, &sam.email, "not it at all").await.status, 401);

        // The API: Sam's rows only, newest first, with the other filters too.
        let rows = finance.get(&format!("/api/v1/audit?actor={}", sam.id)).await;
        assert_eq!(rows.status, 200, "{}", rows.text);
        let actions: Vec<&str> = rows.body.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["quote.finalised", "notice.acknowledged", "quote.drafted"], "{}", rows.text);
        assert!(rows.body.as_array().unwrap().iter().all(|r| r["actor_id"] == json!(sam.id)), "{}", rows.text);
        let drafted = finance.get(&format!("/api/v1/audit?actor={}&action=quote.drafted", sam.id)).await;
        assert_eq!(drafted.body.as_array().map(Vec::len), Some(1), "{}", drafted.text);
        assert_eq!(drafted.body[0]["subject_id"], json!(sams), "not Sue's draft: {}", drafted.text);
        let none = finance.get(&format!("/api/v1/audit?actor={}&subject={sues}", sam.id)).await;
        assert_eq!(none.body, json!([]), "{}", none.text);
        let nobody = finance.get(&format!("/api/v1/audit?actor={}", uuid::Uuid::new_v4())).await;
        assert_eq!(nobody.status, 200, "{}", nobody.text);
        assert_eq!(nobody.body, json!([]), "nobody by that id: {}", nobody.text);
        let r = finance.get("/api/v1/audit?actor=sam").await;
        assert_error(&r, 400, "invalid_query");
        assert!(r.text.contains("actor"), "the field is named: {}", r.text);

        // The page: by e-mail address as the users page shows it, in capitals or not.
        let row = |html: &str| html.matches("<td data-label=\"When\" class=\"date\">").count();
        let action = |a: &str| format!("<td data-label=\"Action\">{a}</td>");
        let typed = format!("%20{}", sam.email.to_uppercase().replace('@', "%40"));
        let (status, html) = page(&app, &fiona.email, &format!("/audit?actor={typed}")).await;
        assert_eq!(status, 200, "{html}");
        assert_eq!(row(&html), 3, "{html}");
        assert!(html.contains(&action("notice.acknowledged")) && !html.contains(&action("notice.published")), "{html}");
        assert!(html.contains("id=\"actor\" name=\"actor\" value=\""), "the filter shows what was typed: {html}");
        assert!(html.contains("id=\"all-entries\""), "and the way back to every entry: {html}");
        assert!(html.contains("<td data-label=\"Who\">Sam</td>"), "no link to the page it is: {html}");
        // The same by id, and with an action.
        let (_, html) = page(&app, &fiona.email, &format!("/audit?actor={}&action=quote.drafted", sam.id)).await;
        assert_eq!(row(&html), 1, "{html}");
        // Fiona's own doing: the product, the notice, its publication.
        let (_, html) = page(&app, &fiona.email, &format!("/audit?actor={}", fiona.email.replace('@', "%40"))).await;
        assert!(html.contains(&action("notice.published")) && !html.contains(&action("quote.drafted")), "{html}");
        // Within days of the business, and within times by the API.
        let today = app.store.calendar().today();
        let (yesterday, tomorrow) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
        let (_, html) = page(&app, &fiona.email, &format!("/audit?actor={}&from={today}&to={today}", sam.id)).await;
        assert_eq!(row(&html), 3, "today: {html}");
        assert!(html.contains(&format!("id=\"from\" name=\"from\" value=\"{today}\"")), "{html}");
        let (_, html) = page(&app, &fiona.email, &format!("/audit?actor={}&to={yesterday}", sam.id)).await;
        assert_eq!(row(&html), 0, "nothing before today: {html}");
        let (_, html) = page(&app, &fiona.email, &format!("/audit?from={tomorrow}")).await;
        assert_eq!(row(&html), 0, "nothing yet tomorrow: {html}");
        let (_, html) = page(&app, &fiona.email, &format!("/audit?from={tomorrow}&to={yesterday}")).await;
        assert_eq!(row(&html), 0, "{html}");
        assert!(html.contains(&format!("The first day, {tomorrow}, is after the last, {yesterday}")), "{html}");
        let (_, html) = page(&app, &fiona.email, "/audit?since=2026-01-01").await;
        assert!(html.contains("\u{201c}since\u{201d} is not a filter here: the filters are action, subject, actor, from, to, before. It was left out."), "{html}");
        let (_, html) = page(&app, &fiona.email, "/audit?from=last%20week").await;
        assert_eq!(row(&html), 0, "{html}");
        assert!(html.contains("\u{201c}last week\u{201d} is not a date like 2026-12-01, for the first day."), "{html}");
        let within = |since: String, until: String| {
            let finance = &finance;
            let path = format!("/api/v1/audit?actor={}&since={since}&until={until}", sam.id);
            async move {
                let r = finance.get(&path).await;
                assert_eq!(r.status, 200, "{path}: {}", r.text);
                r.body.as_array().map_or(0, Vec::len)
            }
        };
        let (hour_ago, in_an_hour) = (Utc::now() - Duration::hours(1), Utc::now() + Duration::hours(1));
        let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(within(rfc(hour_ago), rfc(in_an_hour)).await, 3);
        assert_eq!(within(rfc(in_an_hour), rfc(in_an_hour + Duration::hours(1))).await, 0);
        // A zone ahead of UTC written with its `+` as it is (which an address reads as a space) is that zone.
        let ahead = |t: DateTime<Utc>, hours: i32| {
            let zone = chrono::FixedOffset::east_opt(hours * 3600).expect("a zone");
            t.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        };
        assert!(ahead(hour_ago, 13).ends_with("+13:00"));
        assert_eq!(within(ahead(hour_ago, 13), ahead(in_an_hour, 1)).await, 3, "the zones read as written");
        assert_eq!(within(ahead(in_an_hour, 13), ahead(in_an_hour + Duration::hours(1), 1)).await, 0);
        let r = finance.get(&format!("/api/v1/audit?since={}&until={}", rfc(in_an_hour), rfc(hour_ago))).await;
        assert_error(&r, 400, "invalid_query");
        assert!(r.text.contains("since is after until: the times are the wrong way round"), "{}", r.text);
        for (since, said) in [("yesterday", "since: expected a time like"), ("2026-01-01T00:00:00", "since: expected a time like")] {
            let r = finance.get(&format!("/api/v1/audit?since={since}")).await;
            assert_error(&r, 400, "invalid_query");
            assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains(said)), "{since}: {}", r.text);
        }

        // Accounts made by a command on the server name it, not a person.
        let (_, html) = page(&app, &fiona.email, "/audit?action=user.created").await;
        assert!(html.contains("<td data-label=\"Who\">a command on the server</td>"), "{html}");
        // Nobody by that address: nothing listed, and said so.
        let (status, html) = page(&app, &fiona.email, "/audit?actor=nobody%40nowhere.example").await;
        assert_eq!(status, 200);
        assert_eq!(row(&html), 0, "{html}");
        assert!(html.contains("Nobody here has the address \u{201c}nobody@nowhere.example\u{201d}"), "{html}");
        app.stop().await;
    }
}

both_backends! {
    /// An auditor comes with the address an e-mail went to: the log finds
    /// who had it, if they have changed it since, and says so; an address
    /// someone has now is theirs, whoever had it before.
    async fn the_audit_log_finds_a_person_by_an_address_they_have_since_changed(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam Seller").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let old = sam_user.email.clone();
        let new = format!("samuel-{}@pricegate.test", uuid::Uuid::new_v4().simple());
        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"name": "Samuel Novak", "email": new})).await;
        assert_eq!(r.status, 200, "{}", r.text);

        let escaped = old.replace('@', "%40");
        let (status, html) = page(&app, &fiona.email, &format!("/audit?actor={escaped}")).await;
        assert_eq!(status, 200);
        let said = format!("Nobody has the address \u{201c}{old}\u{201d} now: Samuel Novak had it until 20");
        assert!(html.contains(&said) && html.contains(&format!(", and is {new} now. Showing what they did.")), "{html}");
        let drafted = "<td data-label=\"Action\">quote.drafted</td>";
        assert!(html.contains(drafted) && html.contains(&format!("href=\"/quotes/{quote}\"")), "{html}");
        // The file downloads too, with the same entries.
        let cookie = pricegate_tests::pages::session_cookie(&app.base, &fiona.email).await;
        let r = pricegate_tests::pages::client()
            .get(format!("{}/audit/export.csv?actor={escaped}", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let csv = r.text().await.unwrap();
        assert!(csv.lines().skip(1).all(|l| l.contains(&format!(",{},Samuel Novak,{new},", sam_user.id))), "{csv}");
        assert!(csv.contains(",quote.drafted,quote,"), "{csv}");
        // As the subject: the entries about them, the change of address among them.
        let (_, html) = page(&app, &fiona.email, &format!("/audit?subject={escaped}")).await;
        assert!(html.contains("Showing the entries about them.") && html.contains(">user.updated</td>"), "{html}");

        // Someone given the old address since is who it names now.
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"email": old})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let (_, html) = page(&app, &fiona.email, &format!("/audit?actor={escaped}")).await;
        assert!(!html.contains("Nobody has the address") && !html.contains(drafted), "Rita's, who drafted nothing: {html}");
        // And the page says who had it before her.
        let before = format!(", and is {new} now: search by that address for what they did.");
        assert!(html.contains("Before its holder now, Samuel Novak had it until 20") && html.contains(&before), "{html}");
        app.stop().await;
    }
}

both_backends! {
    /// The audit page's entries, every page of them, download as one CSV
    /// file with the page's filters: newest first, each entry once.
    async fn the_audit_log_downloads_as_csv_with_the_pages_filters(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sales, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        draft_quote(&sales, json!([{"sku": "P-1", "quantity": 1}])).await;
        // More entries than are read at a time, all in the last hour; the
        // twenty about where one read ends and the next begins at one instant,
        // as one transaction's entries are.
        let conn = app.store.connection();
        let backend_db = conn.get_database_backend();
        let (placeholders, detail) = match backend_db {
            DbBackend::Postgres => ("($1, $2, $3, $4, $5, $6, CAST($7 AS json))", "detail"),
            _ => ("(?, ?, ?, ?, ?, ?, ?)", "detail"),
        };
        let start = Utc::now() - Duration::minutes(30);
        for n in 0..2_050i64 {
            let sql = format!("INSERT INTO audit_log (id, at, actor_id, action, subject_type, subject_id, {detail}) VALUES {placeholders}");
            let values: Vec<sea_orm::Value> = vec![
                uuid::Uuid::new_v4().into(),
                (start + Duration::milliseconds(if (2_050 - 1_010..2_050 - 990).contains(&n) { 1_045 } else { n })).into(),
                fiona.id.into(),
                "product.updated".into(),
                "product".into(),
                Option::<uuid::Uuid>::None.into(),
                json!({"n": n}).to_string().into(),
            ];
            conn.execute_raw(Statement::from_sql_and_values(backend_db, sql, values)).await.expect("an entry");
        }

        let download = |path: String, email: String| {
            let base = app.base.clone();
            async move {
                let cookie = pricegate_tests::pages::session_cookie(&base, &email).await;
                let r = pricegate_tests::pages::client().get(format!("{base}{path}")).header(reqwest::header::COOKIE, cookie).send().await.unwrap();
                let status = r.status().as_u16();
                let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                (status, kind, r.text().await.unwrap())
            }
        };
        let (status, kind, csv) = download("/audit/export.csv?action=product.updated".into(), fiona.email.clone()).await;
        assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"), "{csv}");
        let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, "/audit/export.csv?action=product.updated").await;
        assert_eq!(named, format!("pricegate-audit-product.updated-as-of-{}.csv", date_in_days(0)));
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("\u{feff}at_utc,at_local,actor_id,actor_name,actor_email,action,subject_type,subject_id,detail,zone,id"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 2_050, "every entry of the action, once");
        let numbers: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.split("\"{\"\"n\"\":").nth(1).and_then(|n| n.split("}\"").next()?.parse().ok()))
            .collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..2_050).collect::<Vec<_>>(), "none twice, none missing");
        let apart = |n: &&i64| !(2_050 - 1_010..2_050 - 990).contains(*n);
        let in_order: Vec<i64> = numbers.iter().filter(apart).copied().collect();
        assert!(in_order.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert!(rows[0].contains(&format!(",{},Fiona,{},product.updated,product,,", fiona.id, fiona.email)), "{}", rows[0]);
        // Each row ends in the business's zone and the entry's id, as the API names it.
        let newest = finance.get("/api/v1/audit?action=product.updated&limit=1").await;
        assert!(rows[0].ends_with(&format!(",UTC,{}", newest.body[0]["id"].as_str().expect("an id"))), "{}\n{}", rows[0], newest.text);

        // The page's other filters, and a filter naming nobody: the header alone.
        let (_, _, csv) = download(format!("/audit/export.csv?actor={}", sam.email.replace('@', "%40")), fiona.email.clone()).await;
        let sams: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(sams.len(), 1, "{csv}");
        assert!(sams[0].contains(",quote.drafted,quote,"), "{csv}");
        // Named by the address as Pricegate keeps it, however it was typed.
        let as_typed = |email: String| format!("/audit/export.csv?actor={}", email.replace('@', "%40"));
        let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, &as_typed(sam.email.clone())).await;
        assert!(named.starts_with("pricegate-audit-by-sam-"), "{named}");
        let shouted = as_typed(sam.email.to_uppercase());
        assert_eq!(pricegate_tests::pages::download_name(&app.base, &fiona.email, &shouted).await, named);
        let about = |email: String| format!("/audit/export.csv?subject={}", email.replace('@', "%40"));
        let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, &about(sam.email.clone())).await;
        assert!(named.starts_with("pricegate-audit-about-sam-"), "{named}");
        let shouted = about(sam.email.to_uppercase());
        assert_eq!(pricegate_tests::pages::download_name(&app.base, &fiona.email, &shouted).await, named);
        // A filter the page would say something of is refused: a file has nowhere to say it, and an empty
        // or whole log would be taken for the entries asked for.
        for (query, says) in [
            ("actor=nobody%40nowhere.example", "Nobody here has the address \u{201c}nobody@nowhere.example\u{201d}"),
            ("action=quote.finalised&from=2026-13-45", "\u{201c}2026-13-45\u{201d} is not a date like 2026-12-01"),
            ("action=nonsense", "No entry is written with the action \u{201c}nonsense\u{201d}"),
            (
                "actor=00000000-0000-0000-0000-000000000000",
                "Nobody here has the id \u{201c}00000000-0000-0000-0000-000000000000\u{201d}",
            ),
            ("action=quote.finalised&since=2026-12-01", "\u{201c}since\u{201d} is not a filter here: the filters are action, subject, actor, from, to."),
        ] {
            let (status, _, body) = download(format!("/audit/export.csv?{query}"), fiona.email.clone()).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert!(body.contains(says) && body.contains("Download from the audit page, /audit"), "{query}: {body}");
        }
        // The page offers it with its filters; a salesperson gets neither.
        let (_, html) = page(&app, &fiona.email, &format!("/audit?actor={}", sam.id)).await;
        assert!(html.contains(&format!("href=\"/audit/export.csv?actor={}\" id=\"export-audit\"", sam.id)), "{html}");
        let (status, _, _) = download("/audit/export.csv".into(), sam.email.clone()).await;
        assert_eq!(status, 403);
        // An address that cannot be read is refused, not taken for no filter at all.
        let (status, _, body) = download("/audit/export.csv?action=a&action=b".into(), fiona.email.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("This address could not be read"), "{body}");
        app.stop().await;
    }
}
