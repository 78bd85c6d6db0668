//! The audit log: every refused and accepted finalisation, publication,
//! acknowledgement, override, failed login and role change has a row with
//! its actor and time; and neither the log nor the finalisation evidence can
//! be changed, not even by SQL sent through the application's own connection.

use chrono::{DateTime, Duration, Utc};
use pricegate_domain::Role;
use pricegate_tests::fixtures::{
    assert_error, create_notice, create_product, date_in_days, draft_quote, id_of, publish_notice, publish_price_change,
};
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
        assert_eq!(failed.len(), 2, "both failed logins: {failed:?}");
        let wrong_password = only(&failed, "the wrong password", |r| r["detail"]["reason"] == "wrong_password");
        assert_actor_and_time(wrong_password, &sam_id, from, to);
        let unknown = only(&failed, "the unknown e-mail", |r| r["detail"]["reason"] == "unknown_email");
        assert_eq!(unknown["actor_id"], Value::Null, "an unknown e-mail has no actor");
        assert_eq!(unknown["detail"]["email"], "nobody@pricegate.test");
        let unknown_at = at(unknown);
        assert!(from <= unknown_at && unknown_at <= to, "{unknown}");
        assert!(!failed.iter().any(|r| r.to_string().contains("not it at all")), "a password is never kept");

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

        let overridden = rows_for(&rows, "quote.price_override", &quote);
        assert_eq!(overridden.len(), 1, "{rows:?}");
        assert_actor_and_time(overridden[0], &fiona, from, to);
        assert_eq!(overridden[0]["detail"]["reason"], "Agreed with the customer in March");

        let finalised = rows_for(&rows, "quote.finalised", &quote);
        assert_eq!(finalised.len(), 1, "{rows:?}");
        assert_actor_and_time(finalised[0], &sam_id, from, to);
        assert_eq!(finalised[0]["detail"]["notices"], json!([notice]));
        assert!(finalised[0]["detail"]["override"].is_string(), "the override the finalisation used: {}", finalised[0]);
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
    async fn the_audit_log_and_the_finalisation_evidence_refuse_update_and_delete_from_the_application(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
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

        for sql in [
            "UPDATE audit_log SET action = 'nothing.happened'",
            "UPDATE audit_log SET actor_id = NULL",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE action = 'quote.finalised'",
            "UPDATE finalisations SET finalised_at = finalised_at",
            "UPDATE finalisations SET evidence = '{}'",
            "DELETE FROM finalisations",
        ] {
            let error = execute(&app, sql).await.unwrap_or_else(|| panic!("{backend:?} accepted `{sql}`"));
            assert!(error.contains("append-only"), "{backend:?}: `{sql}` failed, but not for being append-only: {error}");
        }

        assert_eq!(audit_rows(&finance).await, audit_before, "the audit log is as it was");
        assert_eq!(count(&app, "audit_log").await, audit_count);
        assert_eq!(count(&app, "finalisations").await, finalisation_count);
        let now = sam.get(&format!("/api/v1/quotes/{quote}")).await;
        assert_eq!(now.body["evidence"], finalised.body["evidence"], "the evidence is as it was");
        assert_eq!(now.body["finalised_at"], finalised.body["finalised_at"]);

        // And the API offers no way to change it.
        for method in [reqwest::Method::PATCH, reqwest::Method::DELETE, reqwest::Method::PUT, reqwest::Method::POST] {
            let r = finance.send(finance.request(method.clone(), "/api/v1/audit").json(&json!({}))).await;
            assert_error(&r, 405, "method_not_allowed");
        }
        assert_eq!(count(&app, "audit_log").await, audit_count);
    }
}
