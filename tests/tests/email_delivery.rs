//! The outbox under weather: reminders on a schedule, escalation, an SMTP
//! outage, and several workers on one PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use pricegate::Settings;
use pricegate_domain::Role;
use pricegate_store::entity::{notices, outbox, publication_fanouts, quotes, reminder_sweeps};
use pricegate_store::views::UserView;
use pricegate_tests::fixtures::{
    assert_error, create_notice, create_product, date_in_days, draft_quote, field, id_of, publish_notice,
    publish_price_change,
};
use pricegate_tests::smtp::{Received, SmtpSink, add_salespeople, spawn_with_mail};
use pricegate_tests::{Backend, Session, both_backends};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(30);

fn subjects(messages: &[Received]) -> Vec<String> {
    messages.iter().map(|m| m.header("subject").unwrap_or_default()).collect()
}

/// Whether a message is about a notice: not the e-mails that tell someone
/// which drafts were handed to them, or where theirs went.
fn about_a_notice(m: &Received) -> bool {
    !m.header("subject").is_some_and(|s| s.contains(" has handed you"))
}

/// The messages to `email` about a notice.
fn notice_mail_to(sink: &SmtpSink, email: &str) -> Vec<Received> {
    sink.to(email).into_iter().filter(about_a_notice).collect()
}

/// Waits until the worker has done with every message: sent, failed or set aside.
async fn until_nothing_pending(admin: &Session) {
    let deadline = Instant::now() + WAIT;
    while outbox(admin).await.iter().any(|r| r["state"] == "pending") {
        assert!(Instant::now() < deadline, "rows still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn outbox(admin: &Session) -> Vec<serde_json::Value> {
    let r = admin.get("/api/v1/outbox?limit=1000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

/// Every row of the outbox, as the database holds it.
async fn outbox_rows(app: &pricegate_tests::TestApp) -> Vec<outbox::Model> {
    outbox::Entity::find().all(app.store.connection()).await.unwrap()
}

/// Every message accepted exactly once per recipient, and no Message-ID twice.
fn assert_each_once(messages: &[Received], expected: &HashSet<String>) {
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    for m in messages {
        for to in &m.to {
            *per_recipient.entry(to.as_str()).or_default() += 1;
        }
    }
    let got: HashSet<String> = per_recipient.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(&got, expected);
    assert!(per_recipient.values().all(|n| *n == 1), "someone got more than one: {per_recipient:?}");
    let ids: HashSet<String> = messages.iter().map(|m| m.header("message-id").unwrap()).collect();
    assert_eq!(ids.len(), messages.len(), "a Message-ID was sent twice");
}

both_backends! {
    async fn finance_reminds_everyone_pending_now_and_a_second_click_mails_nobody_twice(backend: Backend) {
        let sink = SmtpSink::start().await;
        // No scheduled reminder falls due during the test.
        let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(3600)]).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita, rita_user) = app.user(Role::Sales, "Rita").await;
        // Tom has no quote the notice holds up: a reminder now reaches him all the same.
        let (_, tom) = app.user(Role::Sales, "Tom").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await;
        draft_quote(&rita, json!([{"sku": "PUMP-1", "quantity": 40}])).await;
        let nid = create_notice(&finance, "Pumps up", json!([{"sku": "PUMP-1", "unit_price_minor": 275000, "effective_on": "2099-01-01"}])).await;
        publish_notice(&finance, &nid).await;
        sink.wait_until(WAIT, "the publication e-mails", |m| m.len() >= 3).await;
        // Nina joins after the publication: nothing of hers waits on it, so nobody chases her.
        let (_, nina) = app.user(Role::Sales, "Nina").await;

        let r = sam.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Rita and Tom had the publication a moment ago: a click now mails nobody.
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(0), &json!(2)), "{}", r.text);
        // When they can be: ten minutes after the publication's e-mails were written.
        let again: chrono::DateTime<chrono::Utc> =
            r.body["again_from"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("again_from: {}", r.text));
        let after = again - chrono::Utc::now();
        assert!(after > chrono::Duration::minutes(9) && after <= chrono::Duration::minutes(10), "{after}");
        // A quarter of an hour later they are reminded.
        outbox::Entity::update_many()
            .col_expr(outbox::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(15)))
            .exec(app.store.connection())
            .await
            .unwrap();
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(2), &json!(0)), "Rita and Tom: {}", r.text);
        assert!(r.body.get("again_from").is_none(), "nobody was left out: {}", r.text);
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(0), &json!(2)), "{}", r.text);
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{nid}/remind")).await.status, 403);

        sink.wait_until(WAIT, "the reminders now", |m| m.len() >= 5).await;
        for person in [&rita_user, &tom] {
            let subjects = subjects(&sink.to(&person.email));
            assert_eq!(subjects.len(), 2, "{}: the publication and one reminder now: {subjects:?}", person.email);
            assert!(subjects.iter().any(|s| s.starts_with("Reminder: ")), "{subjects:?}");
        }
        assert_eq!(sink.to(&sam_user.email).len(), 1, "no reminder after acknowledging");
        assert_eq!(sink.to(&nina.email).len(), 0, "not pending on the dashboard, not reminded");
    }
}

both_backends! {
    async fn reminders_follow_the_schedule_stop_on_acknowledgement_and_escalate_to_finance(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(2), Duration::from_secs(3)]).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita, rita_user) = app.user(Role::Sales, "Rita").await;
        // Tom has no quote the notice holds up: the schedule does not chase him.
        let (_, tom) = app.user(Role::Sales, "Tom").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await;
        let rita_quote = draft_quote(&rita, json!([{"sku": "PUMP-1", "quantity": 40}])).await;
        let nid = create_notice(&finance, "Pumps up", json!([{"sku": "PUMP-1", "unit_price_minor": 275000, "effective_on": "2099-01-01"}])).await;
        publish_notice(&finance, &nid).await;
        // Sam acknowledges at once: no reminders for him.
        let r = sam.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Lena joins after the publication: she was never sent the notice, and is not chased for it.
        let (_, lena) = app.user(Role::Sales, "Lena").await;

        let messages = sink.wait_until(WAIT, "the escalation to finance", |m| m.iter().any(|m| m.to.contains(&fiona.email))).await;
        let to_rita = subjects(&sink.to(&rita_user.email));
        assert_eq!(to_rita.len(), 3, "publication, reminders 1 and 2: {to_rita:?}");
        assert!(to_rita.iter().any(|s| s.starts_with("Reminder 1 of 2")), "{to_rita:?}");
        assert!(to_rita.iter().any(|s| s.starts_with("Reminder 2 of 2")), "{to_rita:?}");
        let reminder = sink.to(&rita_user.email).into_iter().find(|m| m.header("subject").unwrap().starts_with("Reminder 2")).unwrap();
        assert!(reminder.text().contains("+10,000.00 EUR on its total from 2099-01-01 while it is valid"), "{}", reminder.text());
        assert!(reminder.text().contains("This is the last reminder: finance is told now"), "{}", reminder.text());
        let first = sink.to(&rita_user.email).into_iter().find(|m| m.header("subject").unwrap().starts_with("Reminder 1")).unwrap();
        assert!(!first.text().contains("last reminder"), "{}", first.text());
        // Each reminder follows the notice's own e-mail, in one conversation.
        let notice = sink.to(&rita_user.email).into_iter().find(|m| m.header("subject").unwrap().starts_with("Price notice")).unwrap();
        let notice_id = notice.header("message-id").expect("the notice's Message-ID");
        // It names who published it: whom a question about it goes to.
        let by = format!("{}, in finance, has published a price notice. Questions about it? Reply to this e-mail to ask them.", fiona.name);
        assert!(notice.text().contains(&by) && notice.html().contains(&by), "{}", notice.text());
        assert!(!reminder.text().contains(&by), "a reminder says it as a reminder: {}", reminder.text());
        assert!(notice.header("in-reply-to").is_none() && notice.header("references").is_none());
        for m in [&first, &reminder] {
            assert_eq!(m.header("in-reply-to"), Some(notice_id.clone()), "{}", m.data);
            assert_eq!(m.header("references"), Some(notice_id.clone()));
            assert_ne!(m.header("message-id"), Some(notice_id.clone()));
        }
        let escalations = sink.to(&fiona.email);
        assert!(escalations.iter().all(|m| m.header("in-reply-to").is_none()), "finance's e-mail starts its own");
        // A reply to the notice or a reminder reaches its publisher; the title
        // comes early in a reminder's subject, where a phone still shows it.
        for m in [&notice, &first, &reminder] {
            assert_eq!(m.header("reply-to"), Some(fiona.email.clone()), "{}", m.data);
        }
        assert_eq!(reminder.header("subject").as_deref(), Some("Reminder 2 of 2: \"Pumps up\" awaits your acknowledgement"));
        assert!(escalations.iter().all(|m| m.header("reply-to").is_none()), "finance's own e-mail: {escalations:?}");
        assert!(reminder.text().contains(&rita_quote["id"].as_str().unwrap().replace('-', "")[..8]), "the blocked quote is named: {}", reminder.text());
        assert!(reminder.ack_link().is_some());
        // A reminder points to every notice awaiting her, on one page; the notice's own e-mail does not.
        let awaiting = format!("{}/notices/awaiting", app.base);
        assert!(reminder.text().contains(&awaiting), "{}", reminder.text());
        assert!(reminder.html().contains(&format!("<a href=\"{awaiting}\">Read every one on one page</a>")), "{}", reminder.html());
        assert!(!notice.text().contains(&awaiting), "{}", notice.text());
        // The quote is linked: its page is where Rita acknowledges and finalises.
        let rita_page = format!("{}/quotes/{}", app.base, rita_quote["id"].as_str().unwrap());
        assert!(reminder.text().contains(&rita_page), "{}", reminder.text());
        assert!(reminder.html().contains(&format!("<a href=\"{rita_page}\">")), "{}", reminder.html());
        // His publication e-mail too, if he acknowledged before it went out.
        let to_sam = subjects(&sink.to(&sam_user.email));
        assert!(to_sam.iter().all(|s| s.starts_with("Price notice")), "no reminders after acknowledging: {to_sam:?}, {:?}", subjects(&messages));
        assert_eq!(subjects(&sink.to(&tom.email)).len(), 1, "the publication only: {:?}", subjects(&sink.to(&tom.email)));
        assert!(sink.to(&lena.email).is_empty(), "{:?}", subjects(&sink.to(&lena.email)));

        let escalation = sink.to(&fiona.email);
        assert_eq!(escalation.len(), 1);
        let text = escalation[0].text();
        assert!(text.contains(&rita_user.email) && !text.contains(&sam_user.email), "{text}");
        assert!(!text.contains(&tom.email) && !text.contains(&lena.email), "only those holding up a quote: {text}");
        // Worth, and moved by the notice, as its dashboard says it: 40 pumps, 250.00 EUR more each.
        let stake = "Held up: 1 draft worth 100,000.00 EUR, +10,000.00 EUR on it while it is valid.";
        assert!(text.contains(stake), "the value at stake: {text}");
        assert!(text.contains("still not acknowledged by 1 salesperson whose drafts it holds up, after every reminder"), "{text}");
        // Remind now skips whoever was e-mailed lately: the last reminder has just gone.
        assert!(text.contains("Remind now e-mails them again from 10 minutes after it"), "{text}");
        assert!(escalation[0].html().contains("Rita"), "{}", escalation[0].html());
        assert!(text.contains(&rita_page), "the blocked quote's page: {text}");
        let dashboard = format!("{}/notices/{nid}/dashboard", app.base);
        assert!(text.contains(&dashboard) && escalation[0].html().contains(&dashboard), "the notice's dashboard: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_reminding_just_after_a_scheduled_reminder_mails_nobody_twice() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |s| {
        s.reminders = vec![Duration::from_millis(500), Duration::from_secs(3600)]
    })
    .await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (rita, _) = app.user(Role::Sales, "Rita").await;
    create_product(&finance, "PUMP-1", "EUR", 250000).await;
    draft_quote(&rita, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
    let nid = create_notice(&finance, "Pumps up", json!([])).await;
    publish_notice(&finance, &nid).await;
    sink.wait_until(WAIT, "the first scheduled reminder", |m| {
        m.iter().any(|m| m.header("subject").is_some_and(|s| s.starts_with("Reminder 1 of 2")))
    })
    .await;

    let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(0), &json!(1)), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_loses_nothing_and_each_message_goes_once_when_it_returns() {
    let sink = SmtpSink::start().await;
    sink.stop();
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let people = add_salespeople(&app, "outage", 7).await;
    let nid = create_notice(&finance, "During the outage", json!([])).await;
    publish_notice(&finance, &nid).await;

    let deadline = Instant::now() + WAIT;
    loop {
        let rows = outbox(&admin).await;
        if rows.len() == 7
            && rows
                .iter()
                .all(|r| r["attempts"].as_i64() >= Some(2) && r["last_error"].is_string() && r["state"] == "pending")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the worker never retried: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.messages().is_empty());
    // While the mail waits, one salesperson reads the notice in the browser
    // and another leaves the company: neither is mailed once it is back.
    let reader = app.login(&people[5].email, pricegate_tests::PASSWORD).await;
    assert_eq!(reader.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await.status, 200);
    let r = admin.patch(&format!("/api/v1/users/{}", people[6].id), &json!({"active": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    sink.restart().await;
    let messages = sink.wait_until(WAIT, "every message after the outage", |m| m.len() >= 5).await;
    let deadline = Instant::now() + WAIT;
    let rows = loop {
        let rows = outbox(&admin).await;
        if rows.iter().all(|r| r["state"] != "pending") {
            break rows;
        }
        assert!(Instant::now() < deadline, "rows not marked sent: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let state_of = |email: &str| {
        let row = rows.iter().find(|r| r["to"] == email).unwrap_or_else(|| panic!("no row to {email}: {rows:?}"));
        (
            row["state"].as_str().unwrap_or_default().to_owned(),
            row["last_error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let (state, reason) = state_of(&people[5].email);
    assert_eq!(state, "skipped", "{rows:?}");
    assert!(reason.contains("acknowledged the notice"), "{reason}");
    let (state, reason) = state_of(&people[6].email);
    assert_eq!(state, "skipped", "{rows:?}");
    assert!(reason.contains("deactivated"), "{reason}");
    for person in &people[..5] {
        assert_eq!(state_of(&person.email).0, "sent", "{rows:?}");
    }
    assert!(rows.iter().all(|r| r["next_attempt_at"].is_null()), "nothing is due again once sent or skipped: {rows:?}");
    assert_each_once(&sink.messages(), &people[..5].iter().map(|u| u.email.clone()).collect());
    assert_eq!(messages.len(), 5);
    let r = admin.get("/api/v1/outbox?state=skipped").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "{}", r.text);
}

/// Settings for one more worker process on the same database.
fn worker_settings(db_url: &str, smtp_url: &str) -> Settings {
    let (db_url, smtp_url) = (db_url.to_owned(), smtp_url.to_owned());
    Settings::from_lookup(move |key| match key {
        "DATABASE_URL" => Some(db_url.clone()),
        "SMTP_URL" => Some(smtp_url.clone()),
        "PRICEGATE_WORKER_POLL" => Some("50ms".into()),
        "PRICEGATE_BASE_URL" => Some("http://127.0.0.1:9".into()),
        _ => None,
    })
    .expect("worker settings are valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_on_one_postgresql_deliver_each_message_once() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Postgres, &sink, |s| s.worker_poll = Duration::from_millis(50)).await;
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = oneshot::channel::<()>();
        stops.push(tx);
        workers.push(tokio::spawn(pricegate::run_worker_until(
            worker_settings(&app.db.url, &sink.url()),
            async move {
                let _ = rx.await;
            },
        )));
    }
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let people = add_salespeople(&app, "crowd", 60).await;
    for round in 0..2 {
        let nid = create_notice(&finance, &format!("Round {round}"), json!([])).await;
        publish_notice(&finance, &nid).await;
    }
    sink.wait_until(WAIT, "120 messages", |m| m.len() >= 120).await;
    let deadline = Instant::now() + WAIT;
    while !outbox(&admin).await.iter().all(|r| r["state"] == "sent") {
        assert!(Instant::now() < deadline, "rows not marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let messages = sink.messages();
    assert_eq!(messages.len(), 120, "each message exactly once");
    let ids: HashSet<String> = messages.iter().map(|m| m.header("message-id").unwrap()).collect();
    assert_eq!(ids.len(), 120, "no Message-ID twice");
    for person in &people {
        assert_eq!(sink.to(&person.email).len(), 2, "{} got each notice once", person.email);
    }
    assert!(outbox(&admin).await.iter().all(|r| r["attempts"] == 1), "no row was claimed twice");
    for stop in stops {
        let _ = stop.send(());
    }
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_server_refuses_ends_as_failed_for_admins_to_see() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let good = add_salespeople(&app, "good", 1).await;
    add_salespeople(&app, "reject", 1).await;
    let nid = create_notice(&finance, "One bounces", json!([])).await;
    publish_notice(&finance, &nid).await;
    let deadline = Instant::now() + WAIT;
    let rows = loop {
        let rows = outbox(&admin).await;
        // The worker writes a publication's e-mails after it commits: wait for both.
        if rows.len() == 2 && rows.iter().all(|r| r["state"] != "pending") {
            break rows;
        }
        assert!(Instant::now() < deadline, "rows still pending: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let failed: Vec<_> = rows.iter().filter(|r| r["state"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(failed[0]["to"], "reject-0@pricegate.test");
    assert_eq!(failed[0]["attempts"], 1, "a permanent refusal is not retried");
    assert!(failed[0]["last_error"].as_str().unwrap().contains("550"), "{:?}", failed[0]);
    let r = admin.get("/api/v1/outbox?state=failed").await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(admin.get("/api/v1/outbox?state=lost").await.status, 422);
    // `limit` is refused out of range, as `/audit` refuses it.
    for limit in ["0", "-1", "1001"] {
        let r = admin.get(&format!("/api/v1/outbox?limit={limit}")).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "limit");
    }
    assert_each_once(&sink.messages(), &HashSet::from([good[0].email.clone()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_every_message_is_written_as_an_eml_file() {
    let app =
        pricegate_tests::TestApp::spawn_with(Backend::Sqlite, |s| s.worker_poll = Duration::from_millis(100)).await;
    let maildir = app.db.dir().join("mail-out");
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    add_salespeople(&app, "file", 3).await;
    let nid = create_notice(&finance, "Written to disk", json!([])).await;
    publish_notice(&finance, &nid).await;
    let deadline = Instant::now() + WAIT;
    let files = loop {
        let files: Vec<_> = std::fs::read_dir(&maildir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if files.len() >= 3 {
            break files;
        }
        assert!(Instant::now() < deadline, "only {} .eml files in {}", files.len(), maildir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(files.len(), 3);
    for file in files {
        let eml = std::fs::read_to_string(&file).unwrap();
        assert!(eml.contains("Subject: Price notice: Written to disk") && eml.contains("/ack/"), "{eml}");
        // Named by its Message-ID, which the outbox lists: a row leads to its file.
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(eml.contains(&format!("Message-ID: <{name}@")), "{name}: {eml}");
    }
}

both_backends! {
    async fn publication_commits_one_fanout_row_and_workers_write_each_salespersons_mail_once(backend: Backend) {
        use pricegate_store::entity::{outbox as outbox_rows, publication_fanouts};
        use pricegate_store::outbox::FanoutStep;

        let sink = SmtpSink::start().await;
        // This server's own worker looks once at start-up and then not for an
        // hour: what the publication's transaction wrote stays in view.
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let people = add_salespeople(&app, "fan", 25).await;
        let nid = create_notice(&finance, "Fanned out", json!([])).await;
        publish_notice(&finance, &nid).await;

        let db = app.store.connection();
        let owed = publication_fanouts::Entity::find().all(db).await.unwrap();
        assert_eq!(owed.len(), 1, "one row owes the publication's e-mails: {owed:?}");
        assert_eq!(owed[0].notice_id.to_string(), nid);
        assert_eq!(owed[0].expanded, 0);
        assert!(
            outbox_rows::Entity::find().all(db).await.unwrap().is_empty(),
            "the publication's transaction composed no e-mail"
        );

        // A worker claims the publication, writes one batch, and dies.
        let lease = Duration::from_secs(2);
        let mut dead = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        assert_eq!(app.store.expand_publication_batch(&mut dead, 10, lease).await.unwrap(), FanoutStep::Queued(10));
        assert_eq!(outbox_rows::Entity::find().all(db).await.unwrap().len(), 10);
        assert!(
            app.store.claim_publication_fanout(lease).await.unwrap().is_none(),
            "no second worker expands a publication while the first holds its lease"
        );

        // Two workers find it once the dead one's lease has run out.
        let mut stops = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = oneshot::channel::<()>();
            stops.push(tx);
            workers.push(tokio::spawn(pricegate::run_worker_until(worker_settings(&app.db.url, &sink.url()), async move {
                let _ = rx.await;
            })));
        }
        sink.wait_until(WAIT, "25 publication e-mails", |m| m.len() >= 25).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let rows = outbox_rows::Entity::find().all(db).await.unwrap();
            let owing = publication_fanouts::Entity::find().all(db).await.unwrap();
            if owing.is_empty() && rows.len() == 25 && rows.iter().all(|r| r.state == "sent") {
                break;
            }
            assert!(Instant::now() < deadline, "{} rows, {owing:?} still owing", rows.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The dead worker wakes up and carries on from where it stopped: refused, nothing written.
        assert_eq!(app.store.expand_publication_batch(&mut dead, 10, lease).await.unwrap(), FanoutStep::Lost);
        assert_eq!(outbox_rows::Entity::find().all(db).await.unwrap().len(), 25);
        for stop in stops {
            let _ = stop.send(());
        }
        for worker in workers {
            worker.await.unwrap().unwrap();
        }
        assert_each_once(&sink.messages(), &people.iter().map(|u| u.email.clone()).collect());
        for m in sink.messages() {
            assert_eq!(m.header("subject").as_deref(), Some("Price notice: Fanned out"));
            assert!(m.ack_link().is_some(), "a personal link: {}", m.text());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_restarted_between_messages_costs_no_attempt() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let people = add_salespeople(&app, "restart", 3).await;
    let first = create_notice(&finance, "Before the restart", json!([])).await;
    publish_notice(&finance, &first).await;
    sink.wait_until(WAIT, "the first three messages", |m| m.len() >= 3).await;

    // The server goes away and comes back: the worker's open connections are dead.
    sink.stop();
    sink.restart().await;
    let second = create_notice(&finance, "After the restart", json!([])).await;
    publish_notice(&finance, &second).await;
    sink.wait_until(WAIT, "the next three messages", |m| m.len() >= 6).await;
    let deadline = Instant::now() + WAIT;
    let rows = loop {
        let rows = outbox(&admin).await;
        if rows.len() == 6 && rows.iter().all(|r| r["state"] == "sent") {
            break rows;
        }
        assert!(Instant::now() < deadline, "rows not marked sent: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(rows.iter().all(|r| r["attempts"] == 1), "a dead connection cost an attempt: {rows:?}");
    for person in &people {
        assert_eq!(sink.to(&person.email).len(), 2, "{} got each notice once", person.email);
    }
}

/// A relay that refuses us (`554 5.7.1`, as after its configuration or our
/// credentials changed) refuses every recipient alike: the mail waits and
/// is retried, and goes once the relay is mended. Only a refusal of the
/// recipient ends a message as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_refuses_every_sender_holds_the_mail_until_it_is_mended() {
    let sink = SmtpSink::start().await;
    sink.refuse_senders(true);
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let people = add_salespeople(&app, "relay", 3).await;
    let nid = create_notice(&finance, "While the relay refuses us", json!([])).await;
    publish_notice(&finance, &nid).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = outbox(&admin).await;
        assert!(rows.iter().all(|r| r["state"] != "failed"), "the relay's refusal is not the recipient's: {rows:?}");
        if rows.len() == 3 && rows.iter().all(|r| r["attempts"].as_i64() >= Some(2) && r["state"] == "pending") {
            let refused = |r: &serde_json::Value| {
                r["last_error"].as_str().is_some_and(|e| e.starts_with("SMTP: permanent error (554)"))
            };
            assert!(rows.iter().all(refused), "{rows:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the worker never retried: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.messages().is_empty());

    sink.refuse_senders(false);
    sink.wait_until(WAIT, "every message once the relay is mended", |m| m.len() >= 3).await;
    let deadline = Instant::now() + WAIT;
    while !outbox(&admin).await.iter().all(|r| r["state"] == "sent") {
        assert!(Instant::now() < deadline, "rows not marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_each_once(&sink.messages(), &people.iter().map(|u| u.email.clone()).collect());
}

/// Stopping (SIGTERM), the worker finishes the messages it is sending and
/// starts no other: the rest of its claim is given back at once, and the
/// next worker sends them without waiting for the claim's lease to run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_finishes_the_messages_it_is_sending_and_gives_the_others_back() {
    let sink = SmtpSink::start().await;
    sink.hold_replies(true);
    let mut app = spawn_with_mail(Backend::Sqlite, &sink, |s| s.mail_lease = Duration::from_secs(600)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let people = add_salespeople(&app, "stop", 40).await;
    let nid = create_notice(&finance, "Before the stop", json!([])).await;
    publish_notice(&finance, &nid).await;

    // The worker's conversations wait for the server's answer: as many as
    // it sends at once (16 connections), and no more start.
    let in_flight = 16;
    let deadline = Instant::now() + WAIT;
    while sink.held() < in_flight {
        assert!(Instant::now() < deadline, "{} conversations started, not {in_flight}", sink.held());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = tokio::spawn(async move {
        app.stop_serving().await;
        app
    });
    // Time for the stop to reach the worker (it has nothing else to wait for).
    tokio::time::sleep(Duration::from_secs(2)).await;
    sink.hold_replies(false);
    let app = tokio::time::timeout(WAIT, stopping).await.expect("the worker stops once its messages are sent").unwrap();
    assert_eq!(sink.count(), in_flight, "the messages being sent went, and no other");

    let (stop, stopped) = oneshot::channel::<()>();
    let next = tokio::spawn(pricegate::run_worker_until(worker_settings(&app.db.url, &sink.url()), async move {
        let _ = stopped.await;
    }));
    // Well within the ten minutes' lease: the rest was given back.
    sink.wait_until(WAIT, "the rest from the next worker", |m| m.len() >= people.len()).await;
    let _ = stop.send(());
    next.await.unwrap().unwrap();
    assert_each_once(&sink.messages(), &people.iter().map(|u| u.email.clone()).collect());
}

/// Told to stop while the SMTP server has stalled, a worker waits for its
/// conversations no longer than its grace (10 s), not the minute a message's
/// conversation may take: the messages are given back, and the next worker
/// sends every one, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_gives_back_what_a_stalled_server_holds_after_its_grace() {
    let sink = SmtpSink::start().await;
    sink.hold_replies(true);
    let mut app = spawn_with_mail(Backend::Sqlite, &sink, |s| s.mail_lease = Duration::from_secs(600)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let people = add_salespeople(&app, "stall", 20).await;
    let nid = create_notice(&finance, "Before the stall", json!([])).await;
    publish_notice(&finance, &nid).await;
    let deadline = Instant::now() + WAIT;
    while sink.held() < 16 {
        assert!(Instant::now() < deadline, "{} conversations started", sink.held());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Instant::now();
    tokio::time::timeout(Duration::from_secs(40), app.stop_serving())
        .await
        .expect("the worker stops after its grace, not after the minute a conversation may take");
    assert_eq!(sink.count(), 0, "nothing was answered, so nothing went");
    let took = stopped.elapsed();
    sink.hold_replies(false);

    let (stop, stopped) = oneshot::channel::<()>();
    let next = tokio::spawn(pricegate::run_worker_until(worker_settings(&app.db.url, &sink.url()), async move {
        let _ = stopped.await;
    }));
    sink.wait_until(WAIT, "every message from the next worker", |m| m.len() >= people.len()).await;
    let _ = stop.send(());
    next.await.unwrap().unwrap();
    assert_each_once(&sink.messages(), &people.iter().map(|u| u.email.clone()).collect());
    assert!(took >= Duration::from_secs(9), "it gave them their grace first: {took:?}");
}

/// Messages are marked sent as they go, not when the slowest of their batch
/// is done: while one recipient's server keeps the worker waiting, the
/// others' rows already say sent, so a worker killed then would send
/// nobody's again but the one it was waiting on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_marked_sent_as_they_go_while_another_of_their_batch_waits() {
    let sink = SmtpSink::start().await;
    sink.hold_slow_mailboxes(true);
    let app = spawn_with_mail(Backend::Sqlite, &sink, |s| s.mail_lease = Duration::from_secs(600)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let slow = add_salespeople(&app, "slow", 1).await;
    let quick = add_salespeople(&app, "quick", 20).await;
    let nid = create_notice(&finance, "While one waits", json!([])).await;
    publish_notice(&finance, &nid).await;
    sink.wait_until(WAIT, "every quick one's message", |m| m.len() >= quick.len()).await;
    assert_eq!(sink.held(), 1, "the slow one's conversation waits");
    let state_of = |rows: &[serde_json::Value], email: &str| {
        rows.iter().find(|r| r["to"].as_str().is_some_and(|to| to.contains(email))).map(|r| r["state"].clone())
    };
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = outbox(&admin).await;
        if quick.iter().all(|u| state_of(&rows, &u.email) == Some(json!("sent"))) {
            assert_eq!(state_of(&rows, &slow[0].email), Some(json!("pending")), "{rows:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "the quick ones' rows are not marked sent while one waits: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sink.hold_slow_mailboxes(false);
    until_nothing_pending(&admin).await;
    let everyone: HashSet<String> = quick.iter().chain(&slow).map(|u| u.email.clone()).collect();
    assert_each_once(&sink.messages(), &everyone);
}

both_backends! {
    async fn a_worker_whose_lease_ran_out_cannot_mark_a_row_another_worker_has_claimed_or_sent(backend: Backend) {
        use pricegate_store::entity::outbox as outbox_rows;

        let sink = SmtpSink::start().await;
        // This server's own worker looks once at start-up and then not for an
        // hour: the claims below are the only ones.
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        add_salespeople(&app, "lease", 2).await;
        let nid = create_notice(&finance, "Leased", json!([])).await;
        publish_notice(&finance, &nid).await;
        let lease = Duration::from_secs(60);
        let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        app.store.expand_publication_batch(&mut claim, 10, lease).await.unwrap();
        let db = app.store.connection();
        let row = |id| async move { outbox_rows::Entity::find_by_id(id).one(db).await.unwrap().unwrap() };

        // The first worker claims one message with a lease that runs out at once.
        let slow = app.store.claim_due_mail(1, Duration::from_millis(1)).await.unwrap();
        assert_eq!(slow.len(), 1);
        let (id, slow_attempts) = (slow[0].id, slow[0].attempts);
        assert_eq!(slow_attempts, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A second worker claims it (and the other message) again.
        let fast = app.store.claim_due_mail(10, lease).await.unwrap();
        let again = fast.iter().find(|r| r.id == id).expect("the lapsed row is claimed again");
        assert_eq!(again.attempts, 2);
        let other = fast.iter().find(|r| r.id != id).expect("the other message").clone();

        // While the second worker sends, the first one's verdicts change nothing.
        assert!(!app.store.mark_mail_attempt_failed(id, slow_attempts, "SMTP: no answer", None).await.unwrap());
        let now = row(id).await;
        assert_eq!((now.state.as_str(), now.attempts, now.last_error.clone()), ("pending", 2, None));
        assert_eq!(app.store.mark_mail_sent(&[(id, slow_attempts)]).await.unwrap(), 0);
        let now = row(id).await;
        assert_eq!((now.state.as_str(), now.sent_at), ("pending", None));

        // The second worker's delivery is recorded; the first still cannot undo it.
        assert_eq!(app.store.mark_mail_sent(&[(id, again.attempts)]).await.unwrap(), 1);
        assert!(!app.store.mark_mail_attempt_failed(id, slow_attempts, "SMTP: 421 try later", None).await.unwrap());
        assert!(
            !app.store.mark_mail_attempt_failed(id, again.attempts, "late", Some(Duration::from_secs(1))).await.unwrap(),
            "a sent row is never marked failed"
        );
        let sent = row(id).await;
        assert_eq!((sent.state.as_str(), sent.attempts, sent.last_error), ("sent", 2, None));
        assert!(sent.sent_at.is_some());

        // A claim given back unsent is due again at once and costs no attempt;
        // given back by a worker whose claim is gone, it stays with its holder.
        assert_eq!(app.store.release_mail(&[(other.id, other.attempts + 1)]).await.unwrap(), 0);
        assert_eq!(app.store.release_mail(&[(other.id, other.attempts)]).await.unwrap(), 1);
        let back = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(back.iter().map(|r| (r.id, r.attempts)).collect::<Vec<_>>(), vec![(other.id, other.attempts)]);
    }
}

both_backends! {
    async fn moot_mail_is_set_aside_in_whole_batches_and_a_late_delivery_still_counts(backend: Backend) {
        use pricegate_store::entity::outbox as outbox_rows;
        use sea_orm::{ColumnTrait, QueryFilter};

        let sink = SmtpSink::start().await;
        // Only the claims below: this server's worker looks once an hour.
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let people = add_salespeople(&app, "moot", 5).await;
        let nid = create_notice(&finance, "Set aside", json!([])).await;
        publish_notice(&finance, &nid).await;
        let lease = Duration::from_secs(60);
        let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        app.store.expand_publication_batch(&mut claim, 10, lease).await.unwrap();
        let db = app.store.connection();
        let row_to = |email: String| async move {
            outbox_rows::Entity::find().filter(outbox_rows::Column::ToAddr.eq(email)).one(db).await.unwrap().unwrap()
        };

        // A worker claims the first message; its lease runs out at once, as
        // if it stalled after the SMTP server accepted it.
        let slow = app.store.claim_due_mail(1, Duration::from_millis(1)).await.unwrap();
        let slow = slow.first().expect("one message").clone();
        // Meanwhile four of the five acknowledge in the browser, and one of
        // those rows is as a process from before migration 9 wrote it: its
        // notice and user only in its dedupe key.
        let live = people.iter().find(|p| p.email != slow.to_addr).expect("someone else").clone();
        for person in people.iter().filter(|p| p.email != live.email) {
            let session = app.login(&person.email, pricegate_tests::PASSWORD).await;
            assert_eq!(session.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await.status, 200);
        }
        let old_style = people.iter().find(|p| p.email != live.email && p.email != slow.to_addr).unwrap().clone();
        outbox_rows::Entity::update_many()
            .col_expr(outbox_rows::Column::NoticeId, Expr::value(Option::<uuid::Uuid>::None))
            .col_expr(outbox_rows::Column::UserId, Expr::value(Option::<uuid::Uuid>::None))
            .filter(outbox_rows::Column::ToAddr.eq(old_style.email.clone()))
            .exec(db)
            .await
            .unwrap();
        // The one still owed is due last, behind every moot one.
        outbox_rows::Entity::update_many()
            .col_expr(outbox_rows::Column::NextAttemptAt, Expr::value(chrono::Utc::now()))
            .filter(outbox_rows::Column::ToAddr.eq(live.email.clone()))
            .exec(db)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        // Batches of two: the moot ones are set aside, batch after batch,
        // and the one message still owed comes back from a single claim.
        let claimed = app.store.claim_due_mail(2, lease).await.unwrap();
        assert_eq!(claimed.iter().map(|r| r.to_addr.clone()).collect::<Vec<_>>(), vec![live.email.clone()]);
        for person in people.iter().filter(|p| p.email != live.email) {
            let row = row_to(person.email.clone()).await;
            assert_eq!(row.state, "skipped", "{}: {row:?}", person.email);
            assert!(row.last_error.as_deref().is_some_and(|e| e.contains("acknowledged")), "{row:?}");
        }

        // The stalled worker's message did go out: recording it wins over the skip.
        assert_eq!(app.store.mark_mail_sent(&[(slow.id, slow.attempts)]).await.unwrap(), 1);
        let sent = row_to(slow.to_addr.clone()).await;
        assert_eq!((sent.state.as_str(), sent.last_error), ("sent", None));
    }
}

/// Makes a published notice unreadable for the mail worker: its row is
/// deleted behind the foreign keys' back, so expanding its publication fails.
async fn delete_notice_row(backend: Backend, app: &pricegate_tests::TestApp, nid: &str) {
    use pricegate_store::entity::notices;
    use sea_orm::{ConnectOptions, ConnectionTrait, Database, EntityTrait, TransactionTrait};
    let id: uuid::Uuid = nid.parse().unwrap();
    match backend {
        Backend::Postgres => {
            // The foreign keys to notices dropped, in this test's own
            // database, whose tables the tests' role owns: switching them
            // off (session_replication_role) would take a superuser.
            let conn = app.store.connection();
            let keys = conn
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT conrelid::regclass::text AS owner, conname::text AS name FROM pg_constraint \
                     WHERE contype = 'f' AND confrelid = 'notices'::regclass",
                ))
                .await
                .unwrap();
            for key in keys {
                let (owner, name): (String, String) =
                    (key.try_get("", "owner").unwrap(), key.try_get("", "name").unwrap());
                conn.execute_unprepared(&format!("ALTER TABLE {owner} DROP CONSTRAINT \"{name}\"")).await.unwrap();
            }
            let txn = conn.begin().await.unwrap();
            assert_eq!(notices::Entity::delete_by_id(id).exec(&txn).await.unwrap().rows_affected, 1);
            txn.commit().await.unwrap();
        }
        Backend::Sqlite => {
            // Foreign keys are switched per connection: use one of our own.
            let mut options = ConnectOptions::new(app.db.url.clone());
            options.max_connections(1).min_connections(1);
            let db = Database::connect(options).await.unwrap();
            db.execute_unprepared("PRAGMA foreign_keys = OFF").await.unwrap();
            assert_eq!(notices::Entity::delete_by_id(id).exec(&db).await.unwrap().rows_affected, 1);
            db.close().await.unwrap();
        }
    }
}

both_backends! {
    async fn a_publication_that_cannot_be_expanded_does_not_hold_up_later_ones(backend: Backend) {
        use pricegate_store::entity::publication_fanouts;

        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let people = add_salespeople(&app, "later", 3).await;
        let broken = create_notice(&finance, "Broken", json!([])).await;
        publish_notice(&finance, &broken).await;
        let later = create_notice(&finance, "Later", json!([])).await;
        publish_notice(&finance, &later).await;
        delete_notice_row(backend, &app, &broken).await;

        let (tx, rx) = oneshot::channel::<()>();
        let worker = tokio::spawn(pricegate::run_worker_until(worker_settings(&app.db.url, &sink.url()), async move {
            let _ = rx.await;
        }));
        sink.wait_until(WAIT, "the later publication's e-mails", |m| m.len() >= 3).await;
        let owing = publication_fanouts::Entity::find().all(app.store.connection()).await.unwrap();
        assert_eq!(owing.len(), 1, "{owing:?}");
        assert_eq!(owing[0].notice_id.to_string(), broken, "the broken publication is still owed, and retried later");
        let _ = tx.send(());
        worker.await.unwrap().unwrap();
        assert_each_once(&sink.messages(), &people.iter().map(|u| u.email.clone()).collect());
        for m in sink.messages() {
            assert_eq!(m.header("subject").as_deref(), Some("Price notice: Later"));
        }
    }
}

/// The schedule changes while a notice waits (a restart with other
/// `PRICEGATE_REMINDERS`): reminders go by the new schedule's times, not
/// by their numbers under the old one. Reminded at 1 s and 2 s under
/// `1s, 2s, 1h`, then the schedule becomes `3s, 4s`: Rita is reminded at
/// 3 s and 4 s, and only then is finance told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_schedule_changes_reminders_go_by_its_times_and_nobody_is_reminded_twice() {
    let sink = SmtpSink::start().await;
    // The running worker's own schedule never comes due here; the test ticks by hand.
    let app = spawn_with_mail(Backend::Sqlite, &sink, |s| s.reminders = vec![Duration::from_secs(3600)]).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (rita, rita_user) = app.user(Role::Sales, "Rita").await;
    create_product(&finance, "PUMP-1", "EUR", 250000).await;
    draft_quote(&rita, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
    let nid = create_notice(
        &finance,
        "Pumps up",
        json!([{"sku": "PUMP-1", "unit_price_minor": 275000, "effective_on": "2099-01-01"}]),
    )
    .await;
    let published = publish_notice(&finance, &nid).await;
    let published_at: chrono::DateTime<chrono::Utc> = published["published_at"].as_str().unwrap().parse().unwrap();
    let at = |seconds: f64| async move {
        let when = published_at + chrono::Duration::milliseconds((seconds * 1000.0) as i64);
        if let Ok(wait) = (when - chrono::Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
    };
    let secs = |list: &[u64]| list.iter().map(|s| Duration::from_secs(*s)).collect::<Vec<_>>();
    let old = secs(&[1, 2, 3600]);
    let new = secs(&[3, 4]);

    at(1.2).await;
    assert_eq!(app.store.enqueue_due_reminders(&old).await.unwrap(), 1, "reminder 1 of the old schedule");
    at(2.2).await;
    assert_eq!(app.store.enqueue_due_reminders(&old).await.unwrap(), 1, "reminder 2 of the old schedule");
    assert_eq!(app.store.enqueue_due_reminders(&new).await.unwrap(), 0, "nothing of the new one is due before 3 s");
    at(3.2).await;
    assert_eq!(app.store.enqueue_due_reminders(&new).await.unwrap(), 1, "3 s: the new schedule's first");
    assert_eq!(app.store.enqueue_due_reminders(&new).await.unwrap(), 0, "and only once");
    at(4.2).await;
    assert_eq!(app.store.enqueue_due_reminders(&new).await.unwrap(), 1, "4 s: its second");
    // Finance is told once it has gone.
    sink.wait_until(WAIT, "Rita's last reminder", |m| {
        m.iter().filter(|m| m.to.contains(&rita_user.email)).count() >= 5
    })
    .await;
    assert_eq!(app.store.enqueue_due_reminders(&new).await.unwrap(), 1, "then the escalation, to Fiona");
    sink.wait_until(WAIT, "the escalation and Rita's four reminders", |m| {
        m.iter().any(|m| m.to.contains(&fiona.email))
            && m.iter().filter(|m| m.to.contains(&rita_user.email)).count() >= 5
    })
    .await;
    let mut to_rita = subjects(&sink.to(&rita_user.email));
    to_rita.sort();
    assert_eq!(to_rita.len(), 5, "publication and four reminders: {to_rita:?}");
    for expected in ["Reminder 1 of 2", "Reminder 1 of 3", "Reminder 2 of 2", "Reminder 2 of 3"] {
        assert!(to_rita.iter().any(|s| s.starts_with(expected)), "{expected} in {to_rita:?}");
    }
    // The dashboard says finance was told.
    let dashboard =
        pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{nid}/dashboard")).await;
    assert!(dashboard.contains("Escalated to finance after the last scheduled reminder: 1 e-mail, at "), "{dashboard}");
}

both_backends! {
    /// Someone who takes over a draft that a notice holds up is mailed the
    /// notice then, with its ack link and the draft, though they joined
    /// after it was published (and so were never mailed it), and even once
    /// its reminders have gone out. The schedule's reminder already due is
    /// not sent to them on top; handing the draft back and forth mails
    /// nobody twice (someone mailed it at its publication, when nothing of
    /// theirs waited on it, is told once more, on first taking it over).
    async fn a_salesperson_who_takes_over_a_held_up_draft_is_mailed_the_notice_once(backend: Backend) {
        let sink = SmtpSink::start().await;
        // The running worker's own schedule never comes due here; the test ticks by hand.
        let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(3600)]).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, olga) = app.user(Role::Sales, "Olga").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        let published = publish_notice(&finance, &nid).await;
        let published_at: chrono::DateTime<chrono::Utc> =
            published["published_at"].as_str().and_then(|t| t.parse().ok()).expect("a published_at");
        sink.wait_until(WAIT, "the notice to Sam and Olga", |m| m.len() >= 2).await;
        // The first reminder falls due after the notice itself was mailed
        // (mailed after a reminder's time, it stands for that reminder), and
        // before now.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let since = (chrono::Utc::now() - published_at).to_std().expect("published in the past");
        let schedule = [since - Duration::from_millis(300), Duration::from_secs(3600)];
        app.store.enqueue_due_reminders(&schedule).await.unwrap();
        sink.wait_until(WAIT, "Sam's first reminder", |m| m.len() >= 3).await;

        // Nina joins after the notice; Sam's drafts become hers.
        let (_, nina) = app.user(Role::Sales, "Nina").await;
        let r = admin.post(&format!("/api/v1/users/{}/handover", sam_user.id), &json!({"to": nina.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let told = sink
            .wait_until(WAIT, "the notice to Nina", |m| m.iter().any(|m| m.to == [nina.email.clone()] && is_notice(m)))
            .await;
        let to_nina: Vec<&Received> = told.iter().filter(|m| m.to == [nina.email.clone()] && is_notice(m)).collect();
        assert_eq!(to_nina[0].header("subject").as_deref(), Some("Price notice: Pumps up"));
        assert!(to_nina[0].ack_link().is_some(), "with her own link: {}", to_nina[0].text());
        assert!(to_nina[0].text().contains("Greta"), "with the draft it holds up: {}", to_nina[0].text());
        assert!(to_nina[0].text().contains("This price notice was published before you took over the quote below"), "{}", to_nina[0].text());

        // The reminder already due is not sent to her on top.
        app.store.enqueue_due_reminders(&schedule).await.unwrap();
        // Handing Olga's (no) drafts or the quote back and forth mails nobody twice.
        let r = admin.post(&format!("/api/v1/users/{}/handover", nina.id), &json!({"to": olga.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.post(&format!("/api/v1/users/{}/handover", olga.id), &json!({"to": nina.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let deadline = Instant::now() + WAIT;
        while !outbox(&admin).await.iter().all(|r| r["state"] == "sent") {
            assert!(Instant::now() < deadline, "rows not marked sent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let notices_to = |email: &str| sink.to(email).into_iter().filter(is_notice).collect::<Vec<_>>();
        assert_eq!(subjects(&notices_to(&nina.email)), ["Price notice: Pumps up"], "Nina is told once");
        // Each hand-over tells its taker which drafts are now theirs.
        let handovers_to = |email: &str| {
            let handed = |m: &Received| m.header("subject").is_some_and(|s| s.contains(" has handed you "));
            let mut told: Vec<Received> = sink.to(email).into_iter().filter(handed).collect();
            told.sort_by_key(|m| m.header("subject"));
            told
        };
        let to_nina = handovers_to(&nina.email);
        assert_eq!(
            subjects(&to_nina),
            ["Ada has handed you the open quote of Olga", "Ada has handed you the open quote of Sam"]
        );
        let text = to_nina[1].text();
        assert!(text.contains("Ada has handed you the open quote of Sam: you now own or sign the draft quote below."), "{text}");
        assert!(
            text.contains(
                "Greta Berg (Nordwind): 10,000.00 EUR, valid until 2099-12-31; \
                 you own and sign it; you must first acknowledge 1 price notice"
            ),
            "{text}"
        );
        assert!(text.contains(&format!("{}/quotes/", app.base)) && to_nina[1].ack_link().is_none(), "{text}");
        assert_eq!(subjects(&handovers_to(&olga.email)), ["Ada has handed you the open quote of Nina"]);
        assert!(handovers_to(&sam_user.email).is_empty());
        // Sam, still active, is told where his drafts went; they are no longer his to open.
        let to_sam: Vec<Received> = sink
            .to(&sam_user.email)
            .into_iter()
            .filter(|m| m.header("subject").is_some_and(|s| s.contains(" has handed your ")))
            .collect();
        assert_eq!(subjects(&to_sam), ["Ada has handed your open quote to Nina"]);
        let text = to_sam[0].text();
        assert!(
            text.contains(
                "Ada has handed the open draft quote you owned or signed to Nina, who takes your place in it."
            ),
            "{text}"
        );
        assert!(text.contains("Greta Berg (Nordwind): 10,000.00 EUR, valid until 2099-12-31") && !text.contains("/quotes/"), "{text}");
        // Olga was told at publication, when nothing of hers waited on it;
        // taking the draft over, she is told again, once, with the draft.
        let to_olga = notices_to(&olga.email);
        assert_eq!(subjects(&to_olga), ["Price notice: Pumps up", "Price notice: Pumps up"]);
        assert!(to_olga[1].text().contains("This price notice was published before you took over the quote below"), "{}", to_olga[1].text());
        assert!(to_olga[1].ack_link().is_some() && to_olga[1].text().contains("Greta"), "{}", to_olga[1].text());
        assert_eq!(to_olga[1].header("in-reply-to"), to_olga[0].header("message-id"), "it follows the first");
    }
}

/// The hand-over tests' schedule, ticked by hand: reminders an hour and
/// two hours after someone is told.
const HOUR: Duration = Duration::from_secs(3600);
const SCHEDULE: [Duration; 2] = [HOUR, Duration::from_secs(2 * 3600)];

/// A notice published and mailed: Sam and Rita each sign a draft it holds
/// up; Olga signs nothing it holds up (mailed it, never chased). The running
/// worker's own schedule never comes due: the tests tick on [`SCHEDULE`]
/// and move time along with [`pass_time`].
struct Published {
    sink: SmtpSink,
    app: pricegate_tests::TestApp,
    fiona: UserView,
    admin: Session,
    sam: UserView,
    rita: UserView,
    olga: UserView,
    nid: String,
    published_at: chrono::DateTime<chrono::Utc>,
}

async fn published_to_sam_rita_and_olga(backend: Backend) -> Published {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(365 * 86_400)]).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (sam_session, sam) = app.user(Role::Sales, "Sam").await;
    let (rita_session, rita) = app.user(Role::Sales, "Rita").await;
    let (_, olga) = app.user(Role::Sales, "Olga").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    draft_quote(&sam_session, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
    draft_quote(&rita_session, json!([{"sku": "PUMP-1", "quantity": 1}])).await;
    let nid = create_notice(&finance, "Pumps up", json!([])).await;
    let published = publish_notice(&finance, &nid).await;
    let published_at = published["published_at"].as_str().and_then(|t| t.parse().ok()).expect("a published_at");
    sink.wait_until(WAIT, "the notice to Sam, Rita and Olga", |m| m.len() >= 3).await;
    Published { sink, app, fiona, admin, sam, rita, olga, nid, published_at }
}

/// Moves a notice's history back by `by`, as the passing of that much time
/// would: with `user`, only the e-mails to them about it (when each was
/// queued, and the start of their own schedule of reminders); without, the
/// notice's publication, every draft's drafting and every e-mail about it.
async fn pass_time(app: &pricegate_tests::TestApp, notice: &str, user: Option<uuid::Uuid>, by: Duration) {
    let by = chrono::Duration::from_std(by).unwrap();
    let db = app.store.connection();
    let notice: uuid::Uuid = notice.parse().unwrap();
    let mut mail = outbox::Entity::find().filter(outbox::Column::NoticeId.eq(notice));
    if let Some(user) = user {
        mail = mail.filter(outbox::Column::UserId.eq(user));
    } else {
        let published = notices::Entity::find_by_id(notice).one(db).await.unwrap().expect("the notice");
        let published_at = published.published_at.expect("published") - by;
        let mut published: notices::ActiveModel = published.into();
        published.published_at = sea_orm::Set(Some(published_at));
        published.update(db).await.unwrap();
        for quote in quotes::Entity::find().all(db).await.unwrap() {
            let drafted_at = quote.drafted_at - by;
            let mut quote: quotes::ActiveModel = quote.into();
            quote.drafted_at = sea_orm::Set(drafted_at);
            quote.update(db).await.unwrap();
        }
    }
    for row in mail.all(db).await.unwrap() {
        let (created_at, reminders_from) = (row.created_at - by, row.reminders_from.map(|t| t - by));
        let sent_at = row.sent_at.map(|t| t - by);
        let mut row: outbox::ActiveModel = row.into();
        row.created_at = sea_orm::Set(created_at);
        row.reminders_from = sea_orm::Set(reminders_from);
        row.sent_at = sea_orm::Set(sent_at);
        row.update(db).await.unwrap();
    }
}

both_backends! {
    /// Finance's file of who has acknowledged a notice names the addresses
    /// its e-mails went to, as they were then, beside each person's address
    /// now; and keeps someone e-mailed it who left without acknowledging,
    /// whom its dashboard no longer waits for.
    async fn the_acknowledgements_file_says_where_each_was_mailed_and_who_left(backend: Backend) {
        let Published { sink, app, fiona, admin, sam, rita, olga, nid, .. } = published_to_sam_rita_and_olga(backend).await;
        let session = app.login(&sam.email, pricegate_tests::PASSWORD).await;
        assert_eq!(session.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await.status, 200);
        pass_time(&app, &nid, None, HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.expect("reminders"), 1, "Rita's first");
        sink.wait_until(WAIT, "Rita's reminder", |m| m.len() >= 4).await;
        let rita_now = format!("rita.new-{}@pricegate.test", uuid::Uuid::new_v4().simple());
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"email": rita_now})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", olga.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);

        let dashboard = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{nid}/dashboard")).await;
        assert!(!dashboard.contains(&olga.email), "no longer waited for: {dashboard}");
        let left = dashboard.split("id=\"no-longer-waited-for\">").nth(1).and_then(|p| p.split("</p>").next());
        assert_eq!(
            left,
            Some(
                "Told of it by e-mail, never acknowledged, and no longer waited for (not in the chart): Olga \
                 (deactivated). The downloaded file lists them with the addresses their e-mails went to."
            ),
            "{dashboard}"
        );
        let csv = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{nid}/acknowledgements.csv")).await;
        let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
        // status, user_id, name_now, email_now, role, active, mailed_to; reminders, last, drafts (after the
        // notice's id, title, and publication in UTC and locally).
        let who = |r: &Vec<&str>| r[4..11].join(",");
        let chased = |r: &Vec<&str>| -> Vec<String> { r[16..19].iter().map(|f| f.chars().take(2).collect()).collect() };
        assert_eq!(rows.len(), 3, "{csv}");
        assert_eq!(who(&rows[0]), format!("acknowledged,{},Sam,{},sales,yes,{}", sam.id, sam.email, sam.email), "{csv}");
        assert_eq!(who(&rows[1]), format!("pending,{},Rita,{rita_now},sales,yes,{}", rita.id, rita.email), "{csv}");
        assert_eq!(chased(&rows[1]), ["1", "20", "1"], "one reminder, one draft: {csv}");
        assert_eq!(who(&rows[2]), format!("no_longer_waited_for,{},Olga,{},sales,no,{}", olga.id, olga.email, olga.email));
        assert_eq!(chased(&rows[2]), ["0", "", "0"], "{csv}");
        app.stop().await;
    }
}

both_backends! {
    /// A reply to the notice goes to whoever published it; once they have
    /// left, a reply to its reminder goes to the sender address, not to a
    /// mailbox nobody reads.
    async fn a_reminder_of_a_notice_whose_publisher_left_is_not_answered_to_them(backend: Backend) {
        let Published { sink, app, fiona, admin, sam, nid, .. } = published_to_sam_rita_and_olga(backend).await;
        until_nothing_pending(&admin).await;
        let notice = sink.to(&sam.email).into_iter().next().expect("the notice to Sam");
        assert_eq!(notice.header("reply-to"), Some(fiona.email.clone()), "{}", notice.data);
        let r = admin.patch(&format!("/api/v1/users/{}", fiona.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pass_time(&app, &nid, None, HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 2, "Sam's and Rita's first reminders");
        let mail = sink.wait_until(WAIT, "Sam's reminder", |m| m.iter().filter(|m| m.to == [sam.email.clone()]).count() == 2).await;
        let reminder = mail.iter().rfind(|m| m.to == [sam.email.clone()]).expect("the reminder");
        assert!(reminder.header("subject").is_some_and(|s| s.starts_with("Reminder 1 of 2")), "{}", reminder.data);
        assert_eq!(reminder.header("reply-to"), None, "{}", reminder.data);
    }
}

both_backends! {
    /// A draft the notice holds up whose signer was deactivated meanwhile:
    /// nobody is chased for it, and the escalation says so, with its value in
    /// the total, as the notice's dashboard does.
    async fn the_escalation_names_the_drafts_held_up_with_nobody_to_sign(backend: Backend) {
        let Published { sink, app, fiona, admin, sam, rita, nid, .. } = published_to_sam_rita_and_olga(backend).await;
        until_nothing_pending(&admin).await;
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pass_time(&app, &nid, None, 3 * HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "Sam's last reminder");
        // The last reminder goes before finance is told.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation");
        let mail = sink.wait_until(WAIT, "the escalation", |m| m.iter().any(|m| m.to == [fiona.email.clone()])).await;
        let escalation = mail.iter().find(|m| m.to == [fiona.email.clone()]).expect("to finance");
        for part in [escalation.text(), escalation.html()] {
            assert!(part.contains("is still not acknowledged by") && part.contains("1 salesperson"), "{part}");
            assert!(part.contains(&sam.email), "{part}");
            assert!(part.contains("It also holds up quotes whose signer can no longer sign, whom nobody reminds"), "{part}");
            assert!(part.contains("Rita (deactivated)") && part.contains(&rita.email), "{part}");
            assert!(part.contains("12,500.00 EUR"), "Sam's 10,000.00 EUR and Rita's 2,500.00 EUR together: {part}");
        }
    }
}

both_backends! {
    /// Rita, mailed a notice at its publication, is deactivated before its
    /// first reminder and back after its escalation, which did not name her:
    /// on return she is told it still waits for her, with a new link, and
    /// reminded on a schedule of her own, escalated in turn. Sam, chased to
    /// the end and named in the escalation, away and back, is not told again.
    async fn a_salesperson_away_while_a_notices_reminders_ran_out_is_chased_again_on_return(backend: Backend) {
        let Published { sink, app, fiona, admin, sam, rita, nid, .. } = published_to_sam_rita_and_olga(backend).await;
        let away = |who: &UserView, active: bool| {
            let (admin, url) = (admin.clone(), format!("/api/v1/users/{}", who.id));
            async move {
                let r = admin.patch(&url, &json!({"active": active})).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        };
        until_nothing_pending(&admin).await;
        away(&rita, false).await;
        pass_time(&app, &nid, None, 3 * HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "Sam's last reminder alone");
        // The last reminder goes before finance is told.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation, about Sam alone");
        until_nothing_pending(&admin).await;
        away(&rita, true).await;
        let is_back = |m: &Received| m.header("subject").is_some_and(|s| s == "Still to acknowledge: Pumps up");
        let told = sink.wait_until(WAIT, "the notice to Rita again", |m| m.iter().any(is_back)).await;
        let back = told.iter().find(|m| is_back(m)).expect("told again");
        assert_eq!(back.to, std::slice::from_ref(&rita.email));
        assert!(back.text().contains("You can sign quotes again, and this price notice, mailed to you before, still waits"), "{}", back.text());
        assert!(back.ack_link().is_some(), "a new link: {}", back.text());
        // Marked sent too (a moment after the server took it): time passed moves when it went.
        until_nothing_pending(&admin).await;
        // Her own schedule from her return: the first, the last, then finance told of her.
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing at once");
        pass_time(&app, &nid, Some(rita.id), HOUR + HOUR / 2).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her first reminder");
        // It goes; an hour later, her second (the step counts from its sending).
        until_nothing_pending(&admin).await;
        pass_time(&app, &nid, Some(rita.id), HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her second reminder");
        // The last reminder goes before finance is told.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her escalation");
        until_nothing_pending(&admin).await;
        // Sam, named in the first escalation, away and back: nothing more.
        away(&sam, false).await;
        away(&sam, true).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing for Sam");
        until_nothing_pending(&admin).await;
        assert!(!sink.to(&sam.email).iter().any(is_back), "{:?}", subjects(&sink.to(&sam.email)));
        let escalations = sink.to(&fiona.email);
        let about = |email: &str| escalations.iter().filter(|m| m.text().contains(email)).count();
        // The first names Sam pending, and Rita's draft as having nobody to sign it; the second names her.
        assert_eq!((escalations.len(), about(&sam.email), about(&rita.email)), (2, 1, 2), "{:?}", subjects(&escalations));
        assert!(escalations.iter().any(|m| m.text().contains("Rita (deactivated)")), "{:?}", subjects(&escalations));
        // Hers says she is one told later, not everyone still pending.
        let later = "still not acknowledged by 1 salesperson whose drafts it holds up, told of it after its publication, on a schedule of their own";
        let said: Vec<bool> = escalations.iter().map(|m| m.text().contains(later)).collect();
        assert_eq!(said, [false, true], "{:?}", escalations.iter().map(Received::text).collect::<Vec<_>>());
        // Her link acknowledges.
        let link = back.ack_link().expect("a link");
        let r = reqwest::Client::new().post(&link).header("Sec-Fetch-Site", "same-origin").send().await.expect("posts");
        assert_eq!(r.status(), 200);
        let finance = app.login(&fiona.email, pricegate_tests::PASSWORD).await;
        let acks = finance.get(&format!("/api/v1/notices/{nid}/acknowledgements")).await;
        let by_email = acks.body["acknowledged"].as_array().into_iter().flatten().any(|a| {
            a["user"]["email"] == rita.email.as_str() && a["channel"] == "email"
        });
        assert!(by_email, "{}", acks.text);
    }
}

both_backends! {
    /// Someone who could not sign while a notice was published (deactivated,
    /// say) and comes back with a draft it holds up is mailed it on return,
    /// saying so, and chased on a schedule of their own from then: not sent
    /// at once the reminders that fell due while they were away, and not
    /// named in the escalation about those told at its publication.
    async fn a_salesperson_back_after_a_notice_is_told_on_return_and_reminded_from_then(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(365 * 86_400)]).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam_session, sam) = app.user(Role::Sales, "Sam").await;
        let (nina_session, nina) = app.user(Role::Sales, "Nina").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        draft_quote(&sam_session, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
        draft_quote(&nina_session, json!([{"sku": "PUMP-1", "quantity": 2}])).await;
        let r = admin.patch(&format!("/api/v1/users/{}", nina.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        sink.wait_until(WAIT, "the notice to Sam", |m| m.iter().any(|m| m.to == [sam.email.clone()] && is_notice(m)))
            .await;
        until_nothing_pending(&admin).await;
        // A day passes while she is away: both reminders' times.
        pass_time(&app, &nid, None, 24 * HOUR).await;

        let r = admin.patch(&format!("/api/v1/users/{}", nina.id), &json!({"active": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let told = sink
            .wait_until(WAIT, "the notice to Nina", |m| m.iter().any(|m| m.to == [nina.email.clone()] && is_notice(m)))
            .await;
        let to_nina = told.iter().find(|m| m.to == [nina.email.clone()] && is_notice(m)).unwrap();
        assert_eq!(to_nina.header("subject").as_deref(), Some("Price notice: Pumps up"));
        let text = to_nina.text();
        assert!(
            text.contains(
                "This price notice was published while you could not sign quotes, and it holds up the quote \
                 below, which you sign."
            ),
            "{text}"
        );
        assert!(to_nina.ack_link().is_some(), "{text}");

        // Sam's second reminder is due, then the escalation about him; nothing of hers yet.
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "Sam's reminder alone");
        // The last reminder goes before finance is told.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation about Sam");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing for her at once");
        // Her own: an hour and a half on, her first; an hour later her second, then her escalation.
        pass_time(&app, &nid, Some(nina.id), HOUR + HOUR / 2).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her first reminder");
        // It goes; the step to her second counts from its sending.
        until_nothing_pending(&admin).await;
        pass_time(&app, &nid, Some(nina.id), HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her second reminder");
        // The last reminder goes before finance is told.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her escalation");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");
        // Sam, mailed it at its publication, away and back: not mailed it
        // again, and his schedule (escalated already) is kept. (His mail is
        // sent first: mail still to go to someone deactivated is set aside.)
        until_nothing_pending(&admin).await;
        for active in [false, true] {
            let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"active": active})).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing for Sam");

        until_nothing_pending(&admin).await;
        let about_it = |s: &String| s.starts_with("Price notice") || s.starts_with("Reminder");
        let mut to_nina: Vec<String> = subjects(&sink.to(&nina.email)).into_iter().filter(about_it).collect();
        to_nina.sort();
        assert_eq!(to_nina.len(), 3, "{to_nina:?}");
        for (subject, expected) in to_nina.iter().zip(["Price notice: Pumps up", "Reminder 1 of 2", "Reminder 2 of 2"]) {
            assert!(subject.starts_with(expected), "{to_nina:?}");
        }
        let mut to_sam: Vec<String> = subjects(&sink.to(&sam.email)).into_iter().filter(about_it).collect();
        to_sam.sort();
        assert_eq!(to_sam.len(), 2, "{to_sam:?}");
        for (subject, expected) in to_sam.iter().zip(["Price notice: Pumps up", "Reminder 2 of 2"]) {
            assert!(subject.starts_with(expected), "{to_sam:?}");
        }
        let escalations = sink.to(&fiona.email);
        assert_eq!(escalations.len(), 2, "{:?}", subjects(&escalations));
        let about = |email: &str| escalations.iter().filter(|m| m.text().contains(email)).count();
        assert_eq!((about(&sam.email), about(&nina.email)), (1, 1), "one each: {:?}", escalations.iter().map(Received::text).collect::<Vec<_>>());
        assert!(escalations.iter().all(|m| !(m.text().contains(&sam.email) && m.text().contains(&nina.email))), "never both");
    }
}

both_backends! {
    /// Mail a process without SMTP_URL writes as files is marked sent, and
    /// its row says it was not e-mailed and where it was written: a worker
    /// started without the deployment's mail settings is seen on the
    /// outbox, not taken for delivery.
    async fn mail_written_as_files_is_not_passed_off_as_e_mailed(backend: Backend) {
        use pricegate_tests::pages::{client, session_cookie, unwrapped};
        let app = pricegate_tests::TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        until_their_row(&admin, &sam, "publication", "written", |r| r["state"] == "sent").await;
        let rows = outbox(&admin).await;
        let written = format!(
            "Not e-mailed: written as a file in {} by a Pricegate process without SMTP_URL.",
            app.db.dir().join("mail-out").display()
        );
        let notice = rows.iter().find(|r| r["kind"] == "publication").expect("the notice's e-mail");
        assert_eq!((&notice["state"], &notice["last_error"]), (&json!("sent"), &json!(written)), "{notice}");
        let cookie = session_cookie(&app.base, &ada.email).await;
        let r = client().get(format!("{}/admin/outbox", app.base)).header("cookie", &cookie).send();
        let html = unwrapped(&r.await.expect("the outbox").text().await.unwrap_or_default());
        assert!(html.contains(&written) && !html.contains("an earlier attempt failed"), "{html}");
    }
}

/// Waits until the outbox's row of `kind` to `user` satisfies `done`.
async fn until_their_row(
    admin: &Session,
    user: &UserView,
    kind: &str,
    what: &str,
    done: fn(&serde_json::Value) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = outbox(admin).await;
        let theirs: Vec<_> = rows.iter().filter(|r| r["kind"] == kind && r["to"] == json!(user.email)).collect();
        if theirs.iter().any(|r| done(r)) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {theirs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tried, and waiting to be tried again after the mail server deferred it.
fn deferred(row: &serde_json::Value) -> bool {
    row["state"] == "pending" && row["attempts"].as_i64() >= Some(1) && row["last_error"].is_string()
}

/// A notice published to `name`, a salesperson with a draft it holds up,
/// whose e-mail about it the mail server (refusing Pricegate's mail until
/// told otherwise) has deferred: the sink, the app, an admin, and them.
async fn a_notice_deferred_to(backend: Backend, name: &str) -> (SmtpSink, pricegate_tests::TestApp, Session, UserView) {
    let sink = SmtpSink::start().await;
    sink.refuse_senders(true);
    let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(365 * 86_400)]).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (session, person) = app.user(Role::Sales, name).await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    draft_quote(&session, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
    let nid = create_notice(&finance, "Pumps up", json!([])).await;
    publish_notice(&finance, &nid).await;
    until_their_row(&admin, &person, "publication", "tried and deferred", deferred).await;
    (sink, app, admin, person)
}

/// Whether a message is a notice's e-mail (at its publication, or on a return).
fn is_notice(m: &Received) -> bool {
    m.header("subject").is_some_and(|s| s.starts_with("Price notice"))
}

both_backends! {
    /// A notice's e-mail the mail server deferred at an address an
    /// administrator has corrected since (a mistyped domain, say) goes at
    /// once to the corrected address, its link working, and never to the
    /// old one: the old one may be a stranger's, and the e-mail names the
    /// drafts the notice holds up.
    async fn mail_deferred_at_an_address_corrected_since_goes_to_the_corrected_one(backend: Backend) {
        let (sink, _app, admin, rita) = a_notice_deferred_to(backend, "Rita").await;
        let right = "rita.right@pricegate.test";
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"email": right})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.refuse_senders(false);
        let told = sink.wait_until(WAIT, "the notice at the corrected address", |m| {
            m.iter().any(|m| m.to == [right.to_owned()] && is_notice(m))
        });
        let told = told.await;
        let mail = told.iter().find(|m| m.to == [right.to_owned()] && is_notice(m)).expect("the notice");
        until_nothing_pending(&admin).await;
        assert!(sink.to(&rita.email).iter().all(|m| !is_notice(m)), "{:?}", subjects(&sink.to(&rita.email)));
        let rows = outbox(&admin).await;
        let theirs: Vec<_> = rows.iter().filter(|r| r["kind"] == "publication").collect();
        assert_eq!(theirs.len(), 1, "{theirs:?}");
        assert_eq!((&theirs[0]["state"], &theirs[0]["to"]), (&json!("sent"), &json!(right)), "{theirs:?}");
        let link = mail.ack_link().expect("a link to acknowledge");
        let r = pricegate_tests::pages::client().get(&link).send().await.expect("the link's page");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
}

both_backends! {
    /// Someone whose e-mail about a notice was set aside because they were
    /// deactivated before it went (the mail server deferring it) is told of
    /// the notice when reactivated, as anyone back after a publication is:
    /// the e-mail set aside never reached them.
    async fn a_salesperson_whose_notice_was_set_aside_while_away_is_told_on_return(backend: Backend) {
        let (sink, _app, admin, nina) = a_notice_deferred_to(backend, "Nina").await;
        let r = admin.patch(&format!("/api/v1/users/{}", nina.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        until_their_row(&admin, &nina, "publication", "set aside", |r| r["state"] == "skipped").await;

        let r = admin.patch(&format!("/api/v1/users/{}", nina.id), &json!({"active": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.refuse_senders(false);
        let told = sink.wait_until(WAIT, "the notice to Nina, back", |m| {
            m.iter().any(|m| m.to == [nina.email.clone()] && is_notice(m))
        });
        let told = told.await;
        let mail = told.iter().find(|m| m.to == [nina.email.clone()] && is_notice(m)).expect("the notice");
        let text = mail.text();
        assert!(text.contains("The e-mail about this price notice was set aside when you could no longer sign"), "{text}");
        assert!(mail.ack_link().is_some(), "{text}");
        until_nothing_pending(&admin).await;
        assert_eq!(sink.to(&nina.email).iter().filter(|m| is_notice(m)).count(), 1, "once");
    }
}

both_backends! {
    /// Someone who takes over drafts after a notice's reminders and
    /// escalation have gone out, even a week and more later, is on a
    /// schedule of their own from then: nothing at once, then each
    /// reminder at its delay, then an escalation naming them alone; whether
    /// they joined later or were mailed the notice at its publication when
    /// nothing of theirs waited on it. The others, escalated already, are
    /// not reminded again.
    async fn a_salesperson_who_takes_over_after_the_escalation_is_reminded_from_then_and_escalated(backend: Backend) {
        let Published { sink, app, fiona, admin, sam: sam_user, rita: rita_user, olga, nid, .. } =
            published_to_sam_rita_and_olga(backend).await;
        // Both reminders fall due: the second goes to Sam and Rita, and on
        // the next tick the escalation to Fiona.
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing due yet");
        pass_time(&app, &nid, None, 2 * HOUR + Duration::from_secs(600)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 2);
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1);
        let first = sink.wait_until(WAIT, "the escalation", |m| m.iter().any(|m| m.to == [fiona.email.clone()])).await;
        let text = first.iter().find(|m| m.to == [fiona.email.clone()]).unwrap().text();
        assert!(text.contains(&sam_user.email) && text.contains(&rita_user.email), "{text}");

        // A week and a day on, Nina joins and takes over Sam's drafts: she is told.
        pass_time(&app, &nid, None, Duration::from_secs(8 * 86_400)).await;
        let (_, nina) = app.user(Role::Sales, "Nina").await;
        let r = admin.post(&format!("/api/v1/users/{}/handover", sam_user.id), &json!({"to": nina.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the notice to Nina", |m| m.iter().any(|m| m.to == [nina.email.clone()] && about_a_notice(m)))
            .await;
        // Marked sent too (a moment after the server took it): time passed moves when it went.
        until_nothing_pending(&admin).await;

        // Her schedule starts now: nothing is due to her, or to anyone.
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing at once");
        // An HOUR and a half on, her first reminder; an HOUR later her second.
        pass_time(&app, &nid, Some(nina.id), HOUR + HOUR / 2).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her first reminder");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");
        // It goes; the step to her second counts from its sending.
        until_nothing_pending(&admin).await;
        pass_time(&app, &nid, Some(nina.id), HOUR).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her second reminder");
        // It goes, then the escalation, naming her alone.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her escalation");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");

        // Nina's drafts go to Olga, mailed the notice at its publication but
        // never chased: she is told again, now that it holds up drafts she
        // signs, and is on a schedule of her own from then.
        let r = admin.post(&format!("/api/v1/users/{}/handover", nina.id), &json!({"to": olga.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the notice to Olga again", |m| {
            m.iter().filter(|m| m.to == [olga.email.clone()] && about_a_notice(m)).count() >= 2
        })
        .await;
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing at once");
        pass_time(&app, &nid, Some(olga.id), 2 * HOUR + HOUR / 2).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the latest reminder due to her");
        // The last reminder goes before finance is told.
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "her escalation");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");
        // Rita, held up by a draft of her own all along, takes them over:
        // she was chased and escalated already, and is not mailed again.
        let r = admin.post(&format!("/api/v1/users/{}/handover", olga.id), &json!({"to": rita_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing for Rita");

        let deadline = Instant::now() + WAIT;
        while !outbox(&admin).await.iter().all(|r| r["state"] == "sent") {
            assert!(Instant::now() < deadline, "rows not marked sent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut to_nina = subjects(&notice_mail_to(&sink, &nina.email));
        to_nina.sort();
        assert_eq!(to_nina.len(), 3, "{to_nina:?}");
        for (subject, expected) in to_nina.iter().zip(["Price notice: Pumps up", "Reminder 1 of 2", "Reminder 2 of 2"]) {
            assert!(subject.starts_with(expected), "{to_nina:?}");
        }
        let mut to_olga = subjects(&notice_mail_to(&sink, &olga.email));
        to_olga.sort();
        assert_eq!(to_olga.len(), 3, "{to_olga:?}");
        for (subject, expected) in to_olga.iter().zip(["Price notice: Pumps up", "Price notice: Pumps up", "Reminder 2 of 2"]) {
            assert!(subject.starts_with(expected), "{to_olga:?}");
        }
        let escalations = sink.to(&fiona.email);
        assert_eq!(escalations.len(), 3, "{:?}", subjects(&escalations));
        let text = escalations[1].text();
        assert!(text.contains(&nina.email), "{text}");
        assert!(!text.contains(&rita_user.email) && !text.contains(&sam_user.email), "Nina alone: {text}");
        let text = escalations[2].text();
        assert!(text.contains(&olga.email) && !text.contains(&nina.email), "Olga alone: {text}");
        // Rita, escalated already, is not reminded again; Sam signs nothing it holds up.
        let to_rita = notice_mail_to(&sink, &rita_user.email);
        assert_eq!(to_rita.len(), 2, "{:?}", subjects(&to_rita));
        let to_sam = notice_mail_to(&sink, &sam_user.email);
        assert_eq!(to_sam.len(), 2, "{:?}", subjects(&to_sam));
    }
}

/// Moves the reminder worker's last tick back to `by` ago, as a stop of
/// every worker since then would leave it.
async fn workers_stopped_for(app: &pricegate_tests::TestApp, by: Duration) {
    let last_at = chrono::Utc::now() - chrono::Duration::from_std(by).unwrap();
    let updated = reminder_sweeps::Entity::update_many()
        .col_expr(reminder_sweeps::Column::LastAt, Expr::value(last_at))
        .exec(app.store.connection())
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 1, "the worker's record of its ticks");
}

both_backends! {
    /// A second stop while the first is still being caught up on keeps the
    /// notices still within a window of the time workers ran, not every one
    /// since the first stop: its start moves on by how long they ran in
    /// between. A record a clock jump left in the future is set right.
    async fn a_stop_during_the_catch_up_of_another_moves_its_start_on_by_the_time_workers_ran(backend: Backend) {
        let Published { app, .. } = published_to_sam_rita_and_olga(backend).await;
        app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap();
        let day = chrono::Duration::days(1);
        let now = chrono::Utc::now();
        // Stopped 15 days ago for 10 days; ran 2 days (within a window of
        // the schedule, 7 days and 6 hours); stopped again since.
        let (first_stop, back) = (now - day * 15, now - day * 5);
        let last_tick = back + day * 2;
        let set = |last_at: chrono::DateTime<chrono::Utc>, stopped_at, resumed_at| {
            reminder_sweeps::Entity::update_many()
                .col_expr(reminder_sweeps::Column::LastAt, Expr::value(last_at))
                .col_expr(reminder_sweeps::Column::StoppedAt, Expr::value(stopped_at))
                .col_expr(reminder_sweeps::Column::ResumedAt, Expr::value(resumed_at))
                .exec(app.store.connection())
        };
        let row = || reminder_sweeps::Entity::find_by_id(1).one(app.store.connection());
        set(last_tick, Some(first_stop), Some(back)).await.unwrap();
        app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap();
        let after = row().await.unwrap().expect("the record");
        let moved_on = first_stop + (last_tick - back);
        assert!((after.stopped_at.unwrap() - moved_on).num_milliseconds().abs() < 1, "{after:?} {moved_on}");
        assert!(after.resumed_at.unwrap() > last_tick && after.last_at > last_tick, "{after:?}");

        // The clock had jumped a year ahead, and is back: the record is set right, no stop is seen.
        set(now + day * 365, Some(now + day * 300), Some(now + day * 365)).await.unwrap();
        app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap();
        let after = row().await.unwrap().expect("the record");
        assert!(after.last_at < now + day && after.stopped_at.is_none() && after.resumed_at.is_none(), "{after:?}");
    }
}

both_backends! {
    /// Every worker stopped a minute after a notice was published and stayed
    /// stopped for three weeks, longer than the window a tick looks back
    /// over: when one is back, each salesperson still pending gets the
    /// latest reminder due, once, and finance the escalation after it.
    async fn after_every_worker_was_stopped_for_weeks_a_notice_is_still_reminded_and_escalated(backend: Backend) {
        let Published { sink, app, fiona, admin, sam, rita, nid, .. } = published_to_sam_rita_and_olga(backend).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nothing due yet");
        let stop = Duration::from_secs(21 * 86_400);
        pass_time(&app, &nid, None, stop).await;
        workers_stopped_for(&app, stop - Duration::from_secs(60)).await;

        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 2, "the last reminder, to Sam and Rita");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation, after them");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");
        until_nothing_pending(&admin).await;

        for person in [&sam, &rita] {
            let mut to_them = subjects(&notice_mail_to(&sink, &person.email));
            to_them.sort();
            assert_eq!(to_them.len(), 2, "{to_them:?}");
            assert!(to_them[0].starts_with("Price notice: Pumps up") && to_them[1].starts_with("Reminder 2 of 2"), "{to_them:?}");
        }
        let escalations = sink.to(&fiona.email);
        assert_eq!(escalations.len(), 1, "{:?}", subjects(&escalations));
        let text = escalations[0].text();
        assert!(text.contains(&sam.email) && text.contains(&rita.email), "{text}");
    }
}

both_backends! {
    /// The workers stopped before the notice's e-mails were written, and
    /// came back after its last reminder's time: the notice itself goes to
    /// the salespeople then, standing for that reminder, and finance is told
    /// half a step later (as after a reminder held up on its way), not a
    /// second after they first heard of it.
    async fn a_notice_written_after_its_last_reminders_time_is_escalated_half_a_step_later(backend: Backend) {
        let Published { app, admin, nid, .. } = published_to_sam_rita_and_olga(backend).await;
        until_nothing_pending(&admin).await;
        pass_time(&app, &nid, None, 2 * HOUR + Duration::from_secs(600)).await;
        // The notice's e-mails, as if written and sent only now.
        let now = chrono::Utc::now();
        let told = outbox::Entity::update_many()
            .col_expr(outbox::Column::CreatedAt, Expr::value(now))
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .filter(outbox::Column::NoticeId.eq(nid.parse::<uuid::Uuid>().unwrap()))
            .filter(outbox::Column::Kind.eq("publication"))
            .exec(app.store.connection())
            .await
            .unwrap();
        assert_eq!(told.rows_affected, 3, "to Sam, Rita and Olga");

        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "no reminder on the notice's heels, no escalation");
        pass_time(&app, &nid, None, HOUR / 2 - Duration::from_secs(60)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nor within half a step of it");
        pass_time(&app, &nid, None, Duration::from_secs(120)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation");
        let kinds: Vec<String> = outbox_rows(&app).await.into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds.iter().filter(|k| *k == "escalation").count(), 1, "{kinds:?}");
        assert!(!kinds.iter().any(|k| k == "reminder"), "the notice stood for the last reminder: {kinds:?}");
    }
}

both_backends! {
    /// A hand-over while the publication's own e-mails are still being
    /// written tells the new signer as at the publication: they are chased
    /// with everyone told then, and named in the one escalation.
    async fn someone_told_while_the_publication_is_still_being_mailed_is_chased_with_everyone(backend: Backend) {
        let Published { sink, app, fiona, admin, sam: sam_user, rita: rita_user, nid, published_at, .. } =
            published_to_sam_rita_and_olga(backend).await;
        // Another worker is still writing the publication's e-mails.
        let now = chrono::Utc::now();
        publication_fanouts::ActiveModel {
            notice_id: sea_orm::Set(nid.parse().unwrap()),
            published_at: sea_orm::Set(published_at),
            expanded_through: sea_orm::Set(None),
            expanded: sea_orm::Set(0),
            claimed_by: sea_orm::Set(Some(uuid::Uuid::new_v4())),
            lease_until: sea_orm::Set(now + chrono::Duration::hours(1)),
            created_at: sea_orm::Set(now),
        }
        .insert(app.store.connection())
        .await
        .unwrap();

        let (_, nina) = app.user(Role::Sales, "Nina").await;
        let r = admin.post(&format!("/api/v1/users/{}/handover", sam_user.id), &json!({"to": nina.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the notice to Nina", |m| m.iter().any(|m| m.to == [nina.email.clone()] && about_a_notice(m)))
            .await;
        // Marked sent too (a moment after the server took it): time passed moves when it went.
        until_nothing_pending(&admin).await;
        // Both reminders fall due for everyone at once, then one escalation names Rita and Nina.
        pass_time(&app, &nid, None, 2 * HOUR + Duration::from_secs(600)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 2, "Rita's and Nina's");
        // They wait for the publication's e-mails; the other worker is done
        // with them; they go, then finance is told.
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "no escalation before they go");
        publication_fanouts::Entity::delete_many().exec(app.store.connection()).await.unwrap();
        until_nothing_pending(&admin).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "once");
        let messages = sink.wait_until(WAIT, "the escalation", |m| m.iter().any(|m| m.to == [fiona.email.clone()])).await;
        let escalation = messages.iter().find(|m| m.to == [fiona.email.clone()]).unwrap().text();
        assert!(escalation.contains(&rita_user.email) && escalation.contains(&nina.email), "{escalation}");
    }
}

/// A server whose worker looks once an hour (so only a test's own claims
/// send mail), Fiona in finance, and Sam with a draft of four PUMP-1.
async fn mail_by_hand(backend: Backend) -> (SmtpSink, pricegate_tests::TestApp, Session, UserView) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam_session, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    draft_quote(&sam_session, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
    (sink, app, finance, sam)
}

/// Makes every e-mail to `email` due a second ago, as time passing would.
async fn due_now(app: &pricegate_tests::TestApp, email: &str) {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .filter(outbox::Column::ToAddr.eq(email))
        .exec(app.store.connection())
        .await
        .unwrap();
}

both_backends! {
    /// After an SMTP outage that outlasted a notice's first reminder, the
    /// salesperson gets the notice, and the reminder at least half a step of
    /// the schedule after it, not on its heels: no reminder is queued while
    /// an earlier e-mail to the same person about the same notice is unsent,
    /// nor, when that went after the reminder fell due, sooner than that
    /// after its sending. Someone whose notice went out is reminded as usual.
    async fn a_reminder_waits_for_the_notice_it_reminds_of(backend: Backend) {
        let (_sink, app, finance, sam) = mail_by_hand(backend).await;
        let (rita_session, rita) = app.user(Role::Sales, "Rita").await;
        draft_quote(&rita_session, json!([{"sku": "PUMP-1", "quantity": 1}])).await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        let lease = Duration::from_secs(60);
        let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        app.store.expand_publication_batch(&mut claim, 10, lease).await.unwrap();
        let db = app.store.connection();
        let rows_to = |email: String| async move {
            let mut rows = outbox::Entity::find().filter(outbox::Column::ToAddr.eq(email)).all(db).await.unwrap();
            rows.sort_by_key(|r| r.created_at);
            rows
        };
        let addressees = |rows: &[outbox::Model]| rows.iter().map(|r| r.to_addr.clone()).collect::<Vec<_>>();

        // The notice reaches Rita; Sam's does not, and is tried again in an hour.
        let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(claimed.len(), 2, "{:?}", addressees(&claimed));
        for row in &claimed {
            if row.to_addr == sam.email {
                let retry = Some(HOUR);
                assert!(app.store.mark_mail_attempt_failed(row.id, row.attempts, "SMTP: down", retry).await.unwrap());
            } else {
                assert_eq!(app.store.mark_mail_sent(&[(row.id, row.attempts)]).await.unwrap(), 1);
            }
        }

        // The first reminder falls due for both: Rita's is queued and goes;
        // Sam's is not queued behind his unsent notice.
        pass_time(&app, &nid, None, HOUR + Duration::from_secs(600)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "Rita's alone");
        let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(addressees(&claimed), vec![rita.email.clone()]);
        assert_eq!(claimed[0].kind, "reminder");
        assert_eq!(app.store.mark_mail_sent(&[(claimed[0].id, claimed[0].attempts)]).await.unwrap(), 1);
        let [notice] = rows_to(sam.email.clone()).await.try_into().expect("Sam's notice alone");
        assert_eq!((notice.kind.as_str(), notice.state.as_str()), ("publication", "pending"), "{notice:?}");

        // The SMTP server is back: the notice goes, and no reminder follows on its heels.
        due_now(&app, &sam.email).await;
        let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![notice.id], "the notice alone");
        assert_eq!(app.store.mark_mail_sent(&[(notice.id, claimed[0].attempts)]).await.unwrap(), 1);
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "not on the notice's heels");
        pass_time(&app, &nid, None, HOUR / 2 - Duration::from_secs(60)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nor within half an hour of it");
        assert_eq!(rows_to(sam.email.clone()).await.len(), 1);

        // Half the step to it after the notice went, the first reminder.
        pass_time(&app, &nid, None, Duration::from_secs(120)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "Sam's first reminder");
        let [_, reminder] = rows_to(sam.email.clone()).await.try_into().expect("the notice, then the reminder");
        assert_eq!(reminder.kind, "reminder");
        assert!(reminder.subject.starts_with("Reminder 1 of 2"), "{}", reminder.subject);
    }
}

both_backends! {
    /// While the publication's e-mails are still being written: "Remind
    /// now" mails nobody, the notice itself being on its way to them; a
    /// reminder due on a schedule shorter than that waits for its notice,
    /// and, overtaken by it, is set aside: not on the notice's heels.
    async fn a_reminder_queued_while_the_publication_is_being_written_is_overtaken_by_the_notice(backend: Backend) {
        let (_sink, app, finance, sam) = mail_by_hand(backend).await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(0), &json!(1)), "{}", r.text);
        assert!(r.body["again_from"].is_string(), "{}", r.text);
        assert!(outbox_rows(&app).await.iter().all(|row| row.kind != "reminder"), "no reminder on the notice's heels");
        pass_time(&app, &nid, None, Duration::from_secs(2)).await;
        let schedule = [Duration::from_secs(1), Duration::from_secs(3600)];
        assert_eq!(app.store.enqueue_due_reminders(&schedule).await.unwrap(), 1, "Sam's first reminder");
        let lease = Duration::from_secs(60);

        // The fan-out has not reached Sam: his reminder waits.
        assert!(app.store.claim_due_mail(10, lease).await.unwrap().is_empty(), "the reminder waits for the notice");
        let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        app.store.expand_publication_batch(&mut claim, 10, lease).await.unwrap();
        due_now(&app, &sam.email).await;
        // Now written, the notice goes first, though queued after the reminder.
        let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(claimed.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), vec!["publication"]);
        assert_eq!(app.store.mark_mail_sent(&[(claimed[0].id, claimed[0].attempts)]).await.unwrap(), 1);
        assert!(app.store.claim_due_mail(10, lease).await.unwrap().is_empty(), "no reminder on the notice's heels");
        let reminder = outbox_rows(&app).await.into_iter().find(|row| row.kind == "reminder").expect("the reminder");
        assert_eq!(reminder.state, "skipped", "{reminder:?}");
        assert!(reminder.last_error.as_deref().is_some_and(|e| e.contains("reached them only after this reminder was queued")), "{reminder:?}");
    }
}

both_backends! {
    /// A notice e-mail claimed to be sent just as its person is deactivated:
    /// its link is born expired, so that it does not come back to life with
    /// them (whoever had their mailbox meanwhile must not acknowledge for them).
    async fn a_link_minted_for_someone_deactivated_since_the_claim_is_born_expired(backend: Backend) {
        let (_sink, app, finance, sam) = mail_by_hand(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        let lease = Duration::from_secs(60);
        let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        app.store.expand_publication_batch(&mut claim, 10, lease).await.unwrap();
        let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(claimed.len(), 1, "Sam's notice");
        let active = |yes: bool| {
            let (admin, url) = (admin.clone(), format!("/api/v1/users/{}", sam.id));
            async move { assert_eq!(admin.patch(&url, &json!({"active": yes})).await.status, 200) }
        };
        active(false).await;
        let minted = app.store.mint_ack_links(claimed).await.unwrap();
        let text = &minted[0].text_body;
        let token: String = text
            .split("/ack/")
            .nth(1)
            .expect("a link in the text")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let refused = |r: Result<_, pricegate_store::AckLinkError>| r.err().map(|e| e.to_string());
        let inactive = refused(app.store.open_ack_link(&token).await);
        assert_eq!(inactive.as_deref(), Some("the acknowledgement link's account is deactivated"));
        active(true).await;
        let expired = refused(app.store.open_ack_link(&token).await);
        assert_eq!(expired.as_deref(), Some("the acknowledgement link has expired"));
    }
}

/// Sam's notice, refused by the SMTP server (`error`, to be tried again in
/// an hour), and a step of the schedule past his last reminder's time: that
/// reminder is queued, behind the notice; finance hears nothing yet.
struct Refused {
    _sink: SmtpSink,
    app: pricegate_tests::TestApp,
    sam: UserView,
    nid: String,
    notice: outbox::Model,
    lease: Duration,
}

/// A notice published (with [`mail_by_hand`]'s Sam to tell), its e-mail
/// written and claimed to be sent under `lease`: its id, and the e-mail.
async fn sams_notice_claimed(
    app: &pricegate_tests::TestApp,
    finance: &Session,
    lease: Duration,
) -> (String, outbox::Model) {
    let nid = create_notice(finance, "Pumps up", json!([])).await;
    publish_notice(finance, &nid).await;
    let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
    app.store.expand_publication_batch(&mut claim, 10, lease).await.unwrap();
    let [notice] = app.store.claim_due_mail(10, lease).await.unwrap().try_into().expect("Sam's notice alone");
    (nid, notice)
}

async fn refused_past_the_last_reminder(backend: Backend, error: &str) -> Refused {
    let (sink, app, finance, sam) = mail_by_hand(backend).await;
    let lease = Duration::from_secs(60);
    let (nid, notice) = sams_notice_claimed(&app, &finance, lease).await;
    assert!(app.store.mark_mail_attempt_failed(notice.id, notice.attempts, error, Some(HOUR)).await.unwrap());
    pass_time(&app, &nid, None, 2 * HOUR + HOUR + Duration::from_secs(60)).await;
    assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the last reminder");
    assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "no escalation before it has left");
    Refused { _sink: sink, app, sam, nid, notice, lease }
}

both_backends! {
    /// An SMTP outage longer than a step of the schedule: the last reminder,
    /// queued behind the notice still unsent, does not follow it on its
    /// heels (set aside, overtaken by it), and finance's escalation waits
    /// until it has left, never reaching finance before the salesperson
    /// has had the notice, and half a step more, for them to acknowledge.
    async fn after_a_long_outage_the_escalation_follows_the_salespeoples_mail(backend: Backend) {
        let Refused { _sink, app, sam, nid, notice, lease } = refused_past_the_last_reminder(backend, "SMTP: down").await;
        let kinds = |rows: Vec<outbox::Model>| {
            let mut kinds: Vec<(String, String)> = rows.into_iter().map(|r| (r.kind, r.state)).collect();
            kinds.sort();
            kinds
        };
        let pending = |kind: &str| (kind.to_owned(), "pending".to_owned());
        assert_eq!(kinds(outbox_rows(&app).await), vec![pending("publication"), pending("reminder")]);

        // The server is back: the notice goes; the reminder queued behind
        // it is set aside; half a step after the notice went, the
        // salesperson's mail long gone, finance's escalation.
        due_now(&app, &sam.email).await;
        let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
        assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![notice.id], "the notice first");
        assert_eq!(app.store.mark_mail_sent(&[(notice.id, claimed[0].attempts)]).await.unwrap(), 1);
        assert!(app.store.claim_due_mail(10, lease).await.unwrap().is_empty(), "no reminder on the notice's heels");
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "not on the notice's heels either");
        pass_time(&app, &nid, None, HOUR / 2 - Duration::from_secs(60)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 0, "nor within half a step of it");
        pass_time(&app, &nid, None, Duration::from_secs(120)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation");
        let state = |kind: &str, state: &str| (kind.to_owned(), state.to_owned());
        assert_eq!(
            kinds(outbox_rows(&app).await),
            vec![state("escalation", "pending"), state("publication", "sent"), state("reminder", "skipped")]
        );
    }
}

both_backends! {
    /// The reminder queued behind the unsent notice is marked so from the
    /// start: first claimed only after the notice went (many messages due
    /// ahead of it), it is still seen to be overtaken, and set aside.
    async fn a_reminder_first_claimed_after_its_notice_went_is_still_set_aside(backend: Backend) {
        let Refused { _sink, app, notice, lease, .. } = refused_past_the_last_reminder(backend, "SMTP: down").await;
        let db = app.store.connection();
        let reminder = outbox_rows(&app).await.into_iter().find(|r| r.kind == "reminder").expect("the reminder");
        assert_eq!(reminder.last_error.as_deref(), Some(pricegate_store::WAITING_BEHIND), "{reminder:?}");
        let due_at = |id: uuid::Uuid, at: chrono::DateTime<chrono::Utc>| {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(at))
                .filter(outbox::Column::Id.eq(id))
                .exec(db)
        };
        let now = chrono::Utc::now();
        due_at(notice.id, now - chrono::Duration::seconds(1)).await.unwrap();
        due_at(reminder.id, now + chrono::Duration::hours(1)).await.unwrap();
        notice_sent_and_reminder_set_aside(&app, notice.id, reminder.id, lease).await;
    }
}

both_backends! {
    /// Finance's "Remind now" while the salesperson's notice is still
    /// unsent, the mail server deferring it for longer than the ten minutes
    /// that leave someone out: nobody is reminded (the reminder would only
    /// wait behind it, and be set aside once it went), and the answer says
    /// why: left out, their e-mail deferred.
    async fn a_reminder_finance_asks_for_behind_a_deferred_notice_is_not_queued(backend: Backend) {
        let (_sink, app, finance, _sam) = mail_by_hand(backend).await;
        let lease = Duration::from_secs(60);
        let (nid, notice) = sams_notice_claimed(&app, &finance, lease).await;
        assert!(app.store.mark_mail_attempt_failed(notice.id, notice.attempts, "SMTP: down", Some(HOUR)).await.unwrap());
        pass_time(&app, &nid, None, Duration::from_secs(11 * 60)).await;
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
        assert_eq!(r.status, 202, "{}", r.text);
        let counts = (&r.body["queued"], &r.body["recently_reminded"], &r.body["mail_deferred"]);
        assert_eq!(counts, (&json!(0), &json!(1), &json!(1)), "{}", r.text);
        assert!(outbox_rows(&app).await.iter().all(|r| r.kind != "reminder"), "nobody is reminded");
    }
}

/// The notice claimed alone and sent; then the reminder queued behind it,
/// due, is not claimed on its heels but set aside, overtaken by it.
async fn notice_sent_and_reminder_set_aside(
    app: &pricegate_tests::TestApp,
    notice: uuid::Uuid,
    reminder: uuid::Uuid,
    lease: Duration,
) {
    let claimed = app.store.claim_due_mail(10, lease).await.unwrap();
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![notice], "the notice first, alone");
    assert_eq!(app.store.mark_mail_sent(&[(notice, claimed[0].attempts)]).await.unwrap(), 1);
    outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .filter(outbox::Column::Id.eq(reminder))
        .exec(app.store.connection())
        .await
        .unwrap();
    assert!(app.store.claim_due_mail(10, lease).await.unwrap().is_empty(), "no reminder on the notice's heels");
    let reminder = outbox::Entity::find_by_id(reminder).one(app.store.connection()).await.unwrap();
    assert_eq!(reminder.as_ref().map(|r| r.state.as_str()), Some("skipped"), "{reminder:?}");
}

both_backends! {
    /// The last reminder itself a few minutes late (a mailbox that asked to
    /// try again) holds finance's escalation up no longer than it took.
    async fn a_last_reminder_a_few_minutes_late_does_not_hold_the_escalation_up(backend: Backend) {
        let (_sink, app, finance, _) = mail_by_hand(backend).await;
        let lease = Duration::from_secs(60);
        let (nid, notice) = sams_notice_claimed(&app, &finance, lease).await;
        assert_eq!(app.store.mark_mail_sent(&[(notice.id, notice.attempts)]).await.unwrap(), 1);
        pass_time(&app, &nid, None, 2 * HOUR + Duration::from_secs(600)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the last reminder");
        let [reminder] = app.store.claim_due_mail(10, lease).await.unwrap().try_into().expect("the reminder alone");
        assert_eq!(app.store.mark_mail_sent(&[(reminder.id, reminder.attempts)]).await.unwrap(), 1);
        // It went five minutes after it was queued.
        outbox::Entity::update_many()
            .col_expr(outbox::Column::CreatedAt, Expr::value(reminder.created_at - chrono::Duration::minutes(5)))
            .filter(outbox::Column::Id.eq(reminder.id))
            .exec(app.store.connection())
            .await
            .unwrap();
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation, at once");
    }
}

both_backends! {
    /// Someone whose mail keeps being refused (never for good) is still
    /// escalated: their last reminder, on its way for a step of the
    /// schedule, counts as having left.
    async fn mail_that_keeps_being_refused_still_leads_to_the_escalation(backend: Backend) {
        let Refused { _sink, app, sam, nid, .. } = refused_past_the_last_reminder(backend, "SMTP: mailbox full").await;
        // A step of the schedule later, both still refused: finance is told.
        pass_time(&app, &nid, None, HOUR + Duration::from_secs(60)).await;
        assert_eq!(app.store.enqueue_due_reminders(&SCHEDULE).await.unwrap(), 1, "the escalation");
        assert!(outbox_rows(&app).await.iter().any(|row| row.kind == "escalation" && row.to_addr != sam.email));
    }
}

both_backends! {
    /// "Remind now" while the publication's e-mails are half written: those
    /// written and those still owed alike count as just mailed.
    async fn remind_now_midway_through_a_publications_e_mails_mails_nobody(backend: Backend) {
        let (_sink, app, finance, _) = mail_by_hand(backend).await;
        app.user(Role::Sales, "Rita").await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        let lease = Duration::from_secs(60);
        let mut claim = app.store.claim_publication_fanout(lease).await.unwrap().expect("the publication is owed");
        app.store.expand_publication_batch(&mut claim, 1, lease).await.unwrap();
        assert_eq!(outbox_rows(&app).await.len(), 1, "one of the two written");
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/remind")).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(0), &json!(2)), "{}", r.text);
        assert!(outbox_rows(&app).await.iter().all(|row| row.kind != "reminder"));
    }
}

both_backends! {
    /// Only a quote's signer can finalise it, so a salesperson named the
    /// signer of a colleague's draft is told, with the quote and its link:
    /// when it is drafted so, and when its signer is changed to them. Naming
    /// oneself, or an edit that keeps the signer, mails nobody.
    async fn a_salesperson_named_the_signer_of_a_colleagues_draft_is_told(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (ana, _) = app.user(Role::Sales, "Ana Owner").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        draft_quote(&ana, json!([{"sku": "PUMP-1", "quantity": 1}])).await;
        let quote = pricegate_tests::fixtures::draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), sam.id).await;
        let qid = quote["id"].as_str().unwrap().to_owned();

        let mail = sink.wait_until(WAIT, "the e-mail to the signer", |m| !m.is_empty()).await;
        assert_eq!(mail.len(), 1, "{:?}", subjects(&mail));
        assert_eq!(mail[0].to, vec![sam.email.clone()]);
        assert_eq!(
            mail[0].header("subject").as_deref(),
            Some("Ana Owner has named you the signer of a quote for Greta Berg (Nordwind)")
        );
        let text = mail[0].text();
        assert!(text.contains("Ana Owner has named you the signer of a draft quote. Only you can finalise it."), "{text}");
        assert!(text.contains("Its page says whether anything must come first"), "nothing to acknowledge: {text}");
        // Signed off with the signature delimiter, which mail programs leave out of a reply's quote.
        assert!(text.replace("\r\n", "\n").trim_end().ends_with("\n-- \nPricegate"), "{text}");
        assert!(text.contains("Total: 10,000.00 EUR") && text.contains("Valid until: 2099-12-31"), "{text}");
        assert!(text.contains(&format!("Quote: {}", &qid[..8])), "its reference, as pages name it: {text}");
        assert!(text.contains(&format!("{}/quotes/{qid}", app.base)), "{text}");
        assert!(mail[0].html().contains(&format!("href=\"{}/quotes/{qid}\"", app.base)), "{}", mail[0].html());
        // A reply goes to the colleague who named him, not to Pricegate.
        let ana_email = ana.get("/api/v1/me").await.body["email"].as_str().unwrap().to_owned();
        assert_eq!(mail[0].header("reply-to"), Some(ana_email.clone()), "{}", mail[0].data);

        // An edit that keeps the signer tells nobody; a new signer is told,
        // and the one they replace, who knew, is told they no longer sign it.
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"notes": "Call first"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": rita.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the e-mails to Rita and Sam", |m| m.len() >= 3).await;
        assert_eq!(subjects(&sink.to(&rita.email)), ["Ana Owner has named you the signer of a quote for Greta Berg (Nordwind)"]);
        let released = &sink.to(&sam.email)[1];
        assert_eq!(released.header("subject").as_deref(), Some("You no longer sign the quote for Greta Berg (Nordwind)"));
        let text = released.text();
        assert!(
            text.contains(
                "Ana Owner named Rita to sign the quote for Greta Berg (Nordwind) in your place. \
                 You can no longer finalise it, and nothing more is needed from you for it."
            ),
            "{text}"
        );
        assert!(!text.contains("/quotes/"), "no longer his to open: {text}");
        assert_eq!(released.header("reply-to"), Some(ana_email.clone()), "{}", released.data);
        // Back to Sam, who is told again (and Rita that she no longer signs);
        // then Ana signs it herself: Sam is told he no longer does.
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": sam.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "Sam told again, Rita released", |m| m.len() >= 5).await;
        let ana_id = ana.get("/api/v1/me").await.body["id"].clone();
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": ana_id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "Sam released again", |m| m.len() >= 6).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let named = |s: &String| if s.contains(" has named you ") { "named" } else { "released" };
        let told = |email: &str| subjects(&sink.to(email)).iter().map(named).collect::<Vec<_>>();
        assert_eq!(told(&sam.email), ["named", "released", "named", "released"]);
        assert_eq!(told(&rita.email), ["named", "released"]);
        let last = sink.to(&sam.email)[3].text();
        assert!(last.contains("Ana Owner named themselves to sign the quote for Greta Berg (Nordwind) in your place."), "{last}");
        assert!(sink.to(ana.get("/api/v1/me").await.body["email"].as_str().unwrap()).is_empty());
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let rows = outbox(&admin).await;
        let signers: Vec<_> = rows.iter().filter(|r| r["kind"] == "signer").collect();
        assert!(signers.len() == 6 && signers.iter().all(|r| r["state"] == "sent"), "nothing more queued: {signers:?}");
    }
}

both_backends! {
    /// A hand-over's e-mails, one to each person it concerns: the taker,
    /// with every draft and their part in it; the leaver; and each owner of
    /// drafts the leaver signed and the taker now signs, with those drafts.
    /// Nobody else: not the taker as an owner, nor a signer who keeps signing.
    async fn a_hand_over_tells_the_taker_the_leaver_and_each_owner_of_a_draft_with_a_new_signer(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (leo, leo_user) = app.user(Role::Sales, "Leo").await;
        let (ana, ana_user) = app.user(Role::Sales, "Ana").await;
        let (bea, bea_user) = app.user(Role::Sales, "Bea").await;
        let (rita, rita_user) = app.user(Role::Sales, "Rita").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let lines = |n: i64| json!([{"sku": "PUMP-1", "quantity": n}]);
        let signed_by = pricegate_tests::fixtures::draft_quote_signed_by;
        let leos_own = id_of(&draft_quote(&leo, lines(1)).await);
        signed_by(&leo, lines(2), sam.id).await;
        signed_by(&ana, lines(3), leo_user.id).await;
        signed_by(&bea, lines(4), leo_user.id).await;
        signed_by(&bea, lines(5), leo_user.id).await;
        signed_by(&rita, lines(6), leo_user.id).await;
        // Sam named for one draft, Leo for four.
        sink.wait_until(WAIT, "the e-mails to the signers", |m| m.len() == 5).await;

        let r = admin.post(&format!("/api/v1/users/{}/handover", leo_user.id), &json!({"to": rita_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((&r.body["owned"], &r.body["signed"]), (&json!(2), &json!(5)), "{}", r.text);
        sink.wait_until(WAIT, "the hand-over's e-mails", |m| m.len() == 9).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.count(), 9, "nobody else: {:?}", subjects(&sink.messages()));

        let to_rita = sink.to(&rita_user.email);
        assert_eq!(subjects(&to_rita), ["Ada has handed you the open quotes of Leo"]);
        let text = to_rita[0].text();
        assert!(text.contains("you now own or sign the 6 draft quotes below."), "{text}");
        // Each by its reference too: the customer of all six is the same.
        let reference = &leos_own[..8];
        assert!(text.contains(&format!("  {reference} Greta Berg (Nordwind): 2,500.00 EUR")), "{text}");
        assert!(to_rita[0].html().contains(&format!("<br>{reference}, valid until ")), "{}", to_rita[0].html());
        for part in [
            "2,500.00 EUR, valid until 2099-12-31; you own and sign it",
            "5,000.00 EUR, valid until 2099-12-31; you own it; Sam signs it",
            "7,500.00 EUR, valid until 2099-12-31; you sign it",
            "10,000.00 EUR, valid until 2099-12-31; you sign it",
            "12,500.00 EUR, valid until 2099-12-31; you sign it",
            "15,000.00 EUR, valid until 2099-12-31; you own and sign it",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert_eq!(subjects(&sink.to(&leo_user.email))[4], "Ada has handed your open quotes to Rita");
        let ada_email = admin.get("/api/v1/me").await.body["email"].as_str().unwrap().to_owned();
        let handover: Vec<Received> = sink.messages().into_iter().filter(|m| m.header("subject").is_some_and(|s| s.starts_with("Ada ") || s.starts_with("Rita now signs"))).collect();
        assert_eq!(handover.len(), 4, "{:?}", subjects(&handover));
        assert!(handover.iter().all(|m| m.header("reply-to").as_ref() == Some(&ada_email)), "replies go to the administrator: {:?}", handover.iter().map(|m| m.header("reply-to")).collect::<Vec<_>>());
        let to_ana = sink.to(&ana_user.email);
        assert_eq!(subjects(&to_ana), ["Rita now signs your quote for Greta Berg (Nordwind)"]);
        assert!(to_ana[0].text().contains("7,500.00 EUR") && !to_ana[0].text().contains("10,000.00 EUR"));
        let to_bea = sink.to(&bea_user.email);
        assert_eq!(subjects(&to_bea), ["Rita now signs 2 of your quotes"]);
        let text = to_bea[0].text();
        assert!(text.contains("so Rita now signs these 2 draft quotes of yours, which Leo signed."), "{text}");
        assert!(text.contains("10,000.00 EUR") && text.contains("12,500.00 EUR") && !text.contains("7,500.00"), "{text}");
        assert_eq!(sink.to(&sam.email).len(), 1, "Sam still signs his draft, and was told so once");
    }
}

both_backends! {
    /// A draft handed over whose signer can no longer sign (moved out of
    /// sales) is said so in the taker's e-mail, with what to do: not that
    /// its old signer signs it, nor what they must acknowledge first.
    async fn a_hand_over_tells_the_taker_which_drafts_need_another_signer(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (maria, maria_user) = app.user(Role::Sales, "Maria").await;
        let (_, sean) = app.user(Role::Sales, "Sean").await;
        let (_, lukasz) = app.user(Role::Sales, "Lukasz").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let quote = pricegate_tests::fixtures::draft_quote_signed_by(&maria, json!([{"sku": "PUMP-1", "quantity": 2}]), sean.id).await;
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        let r = admin.patch(&format!("/api/v1/users/{}", sean.id), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", maria_user.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.post(&format!("/api/v1/users/{}/handover", maria_user.id), &json!({"to": lukasz.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);

        let handed = |m: &Received| m.header("subject").is_some_and(|s| s.contains(" has handed you "));
        let told = sink.wait_until(WAIT, "Lukasz's e-mail", |m| m.iter().any(|m| m.to == [lukasz.email.clone()] && handed(m))).await;
        let mail = told.iter().find(|m| m.to == [lukasz.email.clone()] && handed(m)).unwrap();
        let text = mail.text();
        assert!(
            text.contains("5,000.00 EUR, valid until 2099-12-31; you own it; its signer, Sean, can no longer sign it (now in finance): choose another signer on its page"),
            "{text}"
        );
        assert!(!text.contains("Sean signs it") && !text.contains("must first acknowledge"), "{text}");
        assert!(!text.contains("/notices/awaiting"), "nothing for Lukasz to acknowledge first: {text}");
        assert!(mail.html().contains("its signer, <bdi>Sean</bdi>, can no longer sign it (now in finance)"), "{}", mail.html());
        assert!(text.contains(&format!("/quotes/{}", id_of(&quote))), "{text}");
    }
}

both_backends! {
    /// A hand-over's e-mails count as telling their recipients whether they
    /// sign each draft: the colleague handed a draft to sign is told when
    /// its owner later names someone else, and the salesperson it was taken
    /// from, told it went, is told again when named its signer once more.
    async fn a_draft_handed_over_is_followed_by_the_e_mails_of_its_later_signers(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (ana, _) = app.user(Role::Sales, "Ana Owner").await;
        let (_, leo) = app.user(Role::Sales, "Leo").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let quote = pricegate_tests::fixtures::draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), leo.id).await;
        let qid = id_of(&quote);
        sink.wait_until(WAIT, "the e-mail to Leo", |m| m.len() == 1).await;

        // Leo's drafts go to Rita: she signs Ana's draft now, and both are
        // told, as is Ana, who still owns it.
        let r = admin.post(&format!("/api/v1/users/{}/handover", leo.id), &json!({"to": rita.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the hand-over's three e-mails", |m| m.len() == 4).await;
        assert_eq!(subjects(&sink.to(&rita.email)), ["Ada has handed you the open quote of Leo"]);
        let ana_email = ana.get("/api/v1/me").await.body["email"].as_str().unwrap().to_owned();
        let to_ana = sink.to(&ana_email);
        assert_eq!(subjects(&to_ana), ["Rita now signs your quote for Greta Berg (Nordwind)"]);
        let text = to_ana[0].text();
        assert!(
            text.contains(
                "Ada has handed the open drafts of Leo to Rita, so Rita now signs this draft quote of yours, which Leo \
                 signed. You still own it, and can choose another signer on its page."
            ),
            "{text}"
        );
        assert!(text.contains("Greta Berg (Nordwind): 10,000.00 EUR, valid until 2099-12-31"), "{text}");
        assert!(text.contains(&format!("{}/quotes/{qid}", app.base)), "{text}");
        assert!(!text.contains("counted as of") && !to_ana[0].html().contains("counted as of"), "no notice counted, none said: {text}");

        // Ana names Sam: Rita, who was told she signs it, is told she no longer does.
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": sam.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the e-mails to Sam and Rita", |m| m.len() == 6).await;
        assert_eq!(
            subjects(&sink.to(&rita.email)),
            ["Ada has handed you the open quote of Leo", "You no longer sign the quote for Greta Berg (Nordwind)"]
        );

        // Back to Leo, who was last told his drafts went to Rita: he is told he signs it.
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": leo.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the e-mails to Leo and Sam", |m| m.len() == 8).await;
        assert_eq!(
            subjects(&sink.to(&leo.email)),
            [
                "Ana Owner has named you the signer of a quote for Greta Berg (Nordwind)",
                "Ada has handed your open quote to Rita",
                "Ana Owner has named you the signer of a quote for Greta Berg (Nordwind)",
            ]
        );
        assert_eq!(
            subjects(&sink.to(&sam.email)),
            [
                "Ana Owner has named you the signer of a quote for Greta Berg (Nordwind)",
                "You no longer sign the quote for Greta Berg (Nordwind)",
            ]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.messages().len(), 8, "nobody else: {:?}", subjects(&sink.messages()));
    }
}

both_backends! {
    /// A hand-over's e-mails still queued count too, since only deactivating
    /// their recipient sets them aside: the colleague handed a draft who is
    /// about to read that they sign it is also told when someone else is
    /// named, and the salesperson about to read that it went is told when
    /// named once more. The owner's, that the colleague signs it now, no
    /// longer holds by then and is set aside.
    async fn a_hand_over_still_queued_is_followed_by_the_e_mails_of_its_later_signers(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (ana, _) = app.user(Role::Sales, "Ana Owner").await;
        let (_, leo) = app.user(Role::Sales, "Leo").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let quote = pricegate_tests::fixtures::draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), leo.id).await;
        let qid = id_of(&quote);
        let claimed = app.store.claim_due_mail(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(claimed.len(), 1, "Leo's e-mail");
        let sent: Vec<(uuid::Uuid, i32)> = claimed.iter().map(|r| (r.id, r.attempts)).collect();
        assert_eq!(app.store.mark_mail_sent(&sent).await.unwrap(), 1);

        // Before the hand-over's e-mails go, Ana names Sam, then Leo again.
        let r = admin.post(&format!("/api/v1/users/{}/handover", leo.id), &json!({"to": rita.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for signer in [sam.id, leo.id] {
            let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": signer})).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }

        // Sam's e-mail gave way before it went, so he is told nothing.
        let mut claimed = app.store.claim_due_mail(10, Duration::from_secs(60)).await.unwrap();
        claimed.sort_by_key(|r| r.created_at);
        let to = |email: &str| claimed.iter().filter(|r| r.to_addr == email).map(|r| r.subject.as_str()).collect::<Vec<_>>();
        assert_eq!(
            to(&rita.email),
            ["Ada has handed you the open quote of Leo", "You no longer sign the quote for Greta Berg (Nordwind)"]
        );
        assert_eq!(
            to(&leo.email),
            ["Ada has handed your open quote to Rita", "Ana Owner has named you the signer of a quote for Greta Berg (Nordwind)"]
        );
        // Nor is Ana told that Rita signs it: by then Leo did again.
        let ana_email = ana.get("/api/v1/me").await.body["email"].as_str().unwrap().to_owned();
        assert!(to(&ana_email).is_empty());
        let set_aside = outbox::Entity::find()
            .filter(outbox::Column::ToAddr.eq(ana_email.as_str()))
            .one(app.store.connection())
            .await
            .unwrap()
            .expect("the e-mail to Ana");
        assert_eq!(
            (set_aside.state.as_str(), set_aside.last_error.as_deref()),
            ("skipped", Some("Not sent: the quote's signer or state changed again before it went out."))
        );
        assert_eq!(claimed.len(), 4, "nobody else: {:?}", claimed.iter().map(|r| (&r.to_addr, &r.subject)).collect::<Vec<_>>());
    }
}

both_backends! {
    /// Someone made the signer of a draft, by a colleague or by a hand-over,
    /// is told how many price notices published since it was drafted they
    /// must acknowledge before they can finalise it: those they have not
    /// acknowledged yet. A new owner is told the same of its signer.
    async fn a_new_signer_is_told_the_notices_they_must_acknowledge_first(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (ana, ana_user) = app.user(Role::Sales, "Ana").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        // Neither a notice published before the drafts nor one still a draft counts.
        let before = create_notice(&finance, "Hoses up", json!([])).await;
        publish_notice(&finance, &before).await;
        let signed_by_sam = draft_quote(&ana, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
        let signed_by_ana = draft_quote(&ana, json!([{"sku": "PUMP-1", "quantity": 1}])).await;
        let first = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &first).await;
        let second = create_notice(&finance, "Valves up", json!([])).await;
        publish_notice(&finance, &second).await;
        create_notice(&finance, "Seals up", json!([])).await;
        // Sam has acknowledged one of the two; Ana too, but the draft she signs goes to Rita, who has not.
        for who in [&sam, &ana] {
            assert_eq!(who.post_empty(&format!("/api/v1/notices/{first}/acknowledge")).await.status, 200);
        }
        let pending = |id: String| {
            let finance = finance.clone();
            async move { finance.get(&format!("/api/v1/quotes/{id}/gate")).await.body["pending"].as_array().map(Vec::len) }
        };

        let qid = signed_by_sam["id"].as_str().unwrap();
        let r = ana.patch(&format!("/api/v1/quotes/{qid}"), &json!({"signer_id": sam_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let named = |m: &Received| m.header("subject").is_some_and(|s| s.contains(" has named you "));
        let mail = sink
            .wait_until(WAIT, "the e-mail to Sam", |m| m.iter().any(|m| m.to == [sam_user.email.clone()] && named(m)))
            .await;
        let to_sam = mail.iter().find(|m| m.to == [sam_user.email.clone()] && named(m)).unwrap();
        let (text, html) = (to_sam.text(), to_sam.html());
        assert!(text.contains("Before you can finalise it, you must acknowledge every price notice published"), "{text}");
        assert!(
            html.contains("when this e-mail was written, 1 price notice still awaited your acknowledgement."),
            "{html}"
        );
        assert!(!text.contains("Its page says whether anything must come first"), "{text}");
        assert_eq!(pending(qid.to_owned()).await, Some(1), "as the gate counts them");

        // Ana's drafts go to Rita, who has acknowledged neither notice: she
        // signs the one Ana signed, and Sam still signs the other.
        let r = admin.post(&format!("/api/v1/users/{}/handover", ana_user.id), &json!({"to": rita.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let handed = |m: &Received| m.header("subject").is_some_and(|s| s.contains(" has handed you "));
        let mail = sink
            .wait_until(WAIT, "the e-mail to Rita", |m| m.iter().any(|m| m.to == [rita.email.clone()] && handed(m)))
            .await;
        let to_rita = mail.iter().find(|m| m.to == [rita.email.clone()] && handed(m)).unwrap();
        let text = to_rita.text();
        assert!(
            text.contains(
                "Greta Berg (Nordwind): 10,000.00 EUR, valid until 2099-12-31; \
                 you own it; Sam signs it and must first acknowledge 1 price notice"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "Greta Berg (Nordwind): 2,500.00 EUR, valid until 2099-12-31; \
                 you own and sign it; you must first acknowledge 2 price notices"
            ),
            "{text}"
        );
        // The notices to acknowledge are one link away, as reminders have them.
        let awaiting = format!("    {}/notices/awaiting", app.base);
        let said = text.split_once("Read and acknowledge the price notices waiting for you, all on one page:");
        assert!(said.is_some_and(|(_, after)| after.lines().nth(1) == Some(awaiting.as_str())), "{text}");
        let html = to_rita.html();
        assert!(html.contains(">Quote, and your part in it</th>") && html.contains("You own and sign it; you must first acknowledge 2 price notices</td>"), "{html}");
        assert!(html.contains(&format!("<a href=\"{}/notices/awaiting\">Read and acknowledge", app.base)), "{html}");
        assert_eq!(pending(id_of(&signed_by_ana)).await, Some(2), "Rita's, as the gate counts them");
    }
}

/// A signer's e-mail still queued when the draft is cancelled, or given
/// another signer, is set aside: it would lead to a quote they cannot sign.
/// Named again before the first went out, they get the later one alone.
#[tokio::test]
async fn a_signers_e_mail_queued_for_a_draft_they_no_longer_sign_is_set_aside() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (ana, _) = app.user(Role::Sales, "Ana").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let (_, rita) = app.user(Role::Sales, "Rita").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    let lines = json!([{"sku": "PUMP-1", "quantity": 1}]);
    let cancelled = pricegate_tests::fixtures::draft_quote_signed_by(&ana, lines.clone(), sam.id).await;
    let moved = pricegate_tests::fixtures::draft_quote_signed_by(&ana, lines.clone(), sam.id).await;
    let kept = pricegate_tests::fixtures::draft_quote_signed_by(&ana, lines, rita.id).await;
    let cancel = ana.post_empty(&format!("/api/v1/quotes/{}/cancel", cancelled["id"].as_str().unwrap())).await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    let moved = moved["id"].as_str().unwrap().to_owned();
    let r = ana.patch(&format!("/api/v1/quotes/{moved}"), &json!({"signer_id": rita.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Kept goes to Sam and back to Rita before anything is sent.
    let kept = kept["id"].as_str().unwrap().to_owned();
    for signer in [sam.id, rita.id] {
        let r = ana.patch(&format!("/api/v1/quotes/{kept}"), &json!({"signer_id": signer})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let claimed = app.store.claim_due_mail(10, Duration::from_secs(60)).await.unwrap();
    let mut to: Vec<(String, &str)> = claimed
        .iter()
        .map(|r| (r.to_addr.clone(), if r.text_body.contains(&kept) { "kept" } else { "moved" }))
        .collect();
    to.sort();
    assert_eq!(to, [(rita.email.clone(), "kept"), (rita.email.clone(), "moved")], "one e-mail each");
    let skipped: Vec<outbox::Model> =
        outbox::Entity::find().filter(outbox::Column::State.eq("skipped")).all(app.store.connection()).await.unwrap();
    let mut reasons: Vec<(String, String)> =
        skipped.into_iter().map(|r| (r.to_addr, r.last_error.unwrap_or_default())).collect();
    reasons.sort();
    let replaced = "Not sent: a later e-mail about this quote's signer replaced it.".to_owned();
    let closed = "Not sent: the quote's signer or state changed again before it went out.".to_owned();
    let mut expected = vec![
        // Kept's first, to Rita, gave way to the one to Sam, which gave way to the last.
        (rita.email.clone(), replaced.clone()),
        (sam.email.clone(), replaced.clone()),
        // Moved's, to Sam, gave way to the one to Rita.
        (sam.email.clone(), replaced),
        // Cancelled's, to Sam, is set aside when its turn comes.
        (sam.email.clone(), closed),
    ];
    expected.sort();
    assert_eq!(reasons, expected);

    // Once Rita has been told she signs kept, naming Sam tells her she no
    // longer does; named again before either went out, she is told nothing
    // (as far as she knows, she signs it, and she does), nor is Sam.
    let sent: Vec<(uuid::Uuid, i32)> = claimed.iter().map(|r| (r.id, r.attempts)).collect();
    assert_eq!(app.store.mark_mail_sent(&sent).await.unwrap(), 2);
    let claimed_at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for signer in [sam.id, rita.id] {
        let r = ana.patch(&format!("/api/v1/quotes/{kept}"), &json!({"signer_id": signer})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let claimed = app.store.claim_due_mail(10, Duration::from_secs(60)).await.unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    let mut replaced_since: Vec<(String, String)> = outbox::Entity::find()
        .filter(outbox::Column::State.eq("skipped"))
        .all(app.store.connection())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.created_at > claimed_at)
        .map(|r| (r.to_addr, r.last_error.unwrap_or_default()))
        .collect();
    replaced_since.sort();
    let replaced = "Not sent: a later e-mail about this quote's signer replaced it.".to_owned();
    let mut expected = vec![(rita.email.clone(), replaced.clone()), (sam.email.clone(), replaced)];
    expected.sort();
    assert_eq!(replaced_since, expected, "Rita's release and Sam's naming gave way");

    // Named away once more, she is told she no longer signs it; Sam, that he does.
    let r = ana.patch(&format!("/api/v1/quotes/{kept}"), &json!({"signer_id": sam.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claimed = app.store.claim_due_mail(10, Duration::from_secs(60)).await.unwrap();
    let mut to: Vec<(String, String)> = claimed.iter().map(|r| (r.to_addr.clone(), r.subject.clone())).collect();
    to.sort();
    let mut expected = vec![
        (rita.email.clone(), "You no longer sign the quote for Greta Berg (Nordwind)".to_owned()),
        (sam.email.clone(), "Ana has named you the signer of a quote for Greta Berg (Nordwind)".to_owned()),
    ];
    expected.sort();
    assert_eq!(to, expected);

    // Sam, told, is replaced by Rita and then by Ana herself before anything
    // goes out: Sam is told he no longer signs it, and Rita nothing.
    let sent: Vec<(uuid::Uuid, i32)> = claimed.iter().map(|r| (r.id, r.attempts)).collect();
    assert_eq!(app.store.mark_mail_sent(&sent).await.unwrap(), 2);
    let ana_id = ana.get("/api/v1/me").await.body["id"].clone();
    for signer in [json!(rita.id), ana_id] {
        let r = ana.patch(&format!("/api/v1/quotes/{kept}"), &json!({"signer_id": signer})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let claimed = app.store.claim_due_mail(10, Duration::from_secs(60)).await.unwrap();
    let to: Vec<(String, String)> = claimed.iter().map(|r| (r.to_addr.clone(), r.subject.clone())).collect();
    assert_eq!(to, [(sam.email.clone(), "You no longer sign the quote for Greta Berg (Nordwind)".to_owned())]);
}

/// The outbox rows of the letters telling `owner` that `signer` can no
/// longer sign their drafts, as (state, last_error).
async fn signer_gone_rows(
    app: &pricegate_tests::TestApp,
    signer: uuid::Uuid,
    owner: uuid::Uuid,
) -> Vec<(String, Option<String>)> {
    outbox::Entity::find()
        .filter(outbox::Column::DedupeKey.starts_with(format!("signer-gone:{signer}:{owner}:")))
        .all(app.store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.state, row.last_error))
        .collect()
}

both_backends! {
    async fn the_owner_is_told_when_the_signer_of_their_drafts_can_no_longer_sign(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let (_, otto) = app.user(Role::Sales, "Otto").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let lines = json!([{"sku": "PUMP-1", "quantity": 4}]);
        let first = id_of(&pricegate_tests::fixtures::draft_quote_signed_by(&sam, lines.clone(), rita.id).await);
        let second = id_of(&pricegate_tests::fixtures::draft_quote_signed_by(&sam, lines.clone(), rita.id).await);
        let ottos = id_of(&pricegate_tests::fixtures::draft_quote_signed_by(&sam, lines.clone(), otto.id).await);
        sink.wait_until(WAIT, "the e-mails naming the signers", |m| m.len() >= 3).await;

        // Rita's account is deactivated: Sam, who owns the drafts she
        // signs, is told, once, of both.
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the e-mail to Sam", |m| m.len() >= 4).await;
        let told = sink.to(&sam_user.email);
        assert_eq!(subjects(&told), ["2 of your quotes need another signer"]);
        let text = told[0].text();
        assert!(
            text.contains(&format!(
                "{} has deactivated the account of Rita. Rita signs these 2 draft quotes of yours, and can no longer \
                 finalise them: nobody can until you choose another signer on each one's page",
                ada.name
            )),
            "{text}"
        );
        for quote in [&first, &second] {
            assert!(text.contains(&format!("{}/quotes/{quote}", app.base)), "{text}");
        }
        assert!(!text.contains(&ottos), "Otto still signs his: {text}");
        assert!(text.contains("Greta Berg (Nordwind): 10,000.00 EUR, valid until 2099-12-31"), "{text}");

        // Rita is reactivated: Sam, told she could no longer sign, is told she can again.
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"active": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.wait_until(WAIT, "the e-mail to Sam that Rita is back", |m| m.len() >= 5).await;
        let told = sink.to(&sam_user.email);
        assert_eq!(subjects(&told), ["2 of your quotes need another signer", "Rita can sign 2 of your quotes again"]);
        let text = told[1].text();
        assert!(
            text.contains(&format!(
                "{} has reactivated the account of Rita. Rita signs these 2 draft quotes of yours, and you were told \
                 Rita could no longer finalise them: they can again, once they have acknowledged any price notice \
                 each waits for. None of them needs another signer now.",
                ada.name
            )),
            "{text}"
        );
        assert!(text.contains(&format!("{}/quotes/{first}", app.base)) && !text.contains("hand them"), "{text}");

        // Otto is moved out of sales while the SMTP server is down, and back
        // before the letter goes: it is set aside, though he still signs
        // the draft. Moved out again, and Sam signs the draft himself
        // before it goes: set aside too.
        sink.stop();
        let r = admin.patch(&format!("/api/v1/users/{}", otto.id), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let queued = outbox::Entity::find()
            .filter(outbox::Column::DedupeKey.starts_with(format!("signer-gone:{}:{}:", otto.id, sam_user.id)))
            .one(app.store.connection())
            .await
            .unwrap()
            .expect("a letter to Sam about Otto");
        assert!(queued.text_body.contains(&format!("{} has moved Otto out of sales. Otto signs this draft quote of yours", ada.name)), "{}", queued.text_body);
        let r = admin.patch(&format!("/api/v1/users/{}", otto.id), &json!({"role": "sales"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let set_aside = |n: usize| {
            let app = &app;
            async move {
                let deadline = Instant::now() + WAIT;
                loop {
                    let rows = signer_gone_rows(app, otto.id, sam_user.id).await;
                    if rows.len() == n && rows.iter().all(|(state, _)| state == "skipped") {
                        return rows;
                    }
                    assert!(Instant::now() < deadline, "{n} letters about Otto set aside: {rows:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        set_aside(1).await;
        let signer = sam.get(&format!("/api/v1/quotes/{ottos}")).await.body["signer_id"].clone();
        assert_eq!(signer, json!(otto.id), "Otto still signs it: only his being back set it aside");
        let r = admin.patch(&format!("/api/v1/users/{}", otto.id), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = sam.patch(&format!("/api/v1/quotes/{ottos}"), &json!({"signer_id": sam_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let rows = set_aside(2).await;
        assert!(rows.iter().all(|(_, why)| why.as_deref().is_some_and(|w| w.contains("signer or state changed"))), "{rows:?}");
        sink.restart().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(subjects(&sink.to(&sam_user.email)).len(), 2, "nothing more for Sam: told of Otto's leaving, never sent, nothing of his return");
        app.stop().await;
    }
}

both_backends! {
    /// The confirmation of a deactivation offers a taker for the leaver's
    /// drafts: chosen there, they change hands first, and the owner of a
    /// draft the leaver signed hears only who signs it now, not first that
    /// nobody can until they choose someone.
    async fn deactivating_with_a_taker_hands_the_drafts_over_first(backend: Backend) {
        use pricegate_tests::pages::{csrf_in, page_as, post_form, session_cookie};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (_, ada) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita_session, rita) = app.user(Role::Sales, "Rita").await;
        let (_, otto) = app.user(Role::Sales, "Otto").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let lines = json!([{"sku": "PUMP-1", "quantity": 4}]);
        let signed = id_of(&pricegate_tests::fixtures::draft_quote_signed_by(&sam, lines.clone(), rita.id).await);
        let owned = id_of(&pricegate_tests::fixtures::draft_quote(&rita_session, lines).await);
        sink.wait_until(WAIT, "the e-mail naming Rita the signer", |m| !m.is_empty()).await;

        let confirm = page_as(&app.base, &ada.email, &format!("/admin/users/{}/deactivate", rita.id)).await;
        assert!(confirm.contains(&format!("<option value=\"{}\">Otto", otto.id)), "Otto may take them: {confirm}");
        assert!(!confirm.contains(&format!("<option value=\"{}\">", rita.id)), "not Rita herself: {confirm}");
        let cookie = session_cookie(&app.base, &ada.email).await;
        let users_page = pricegate_tests::pages::client()
            .get(format!("{}/admin/users", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .expect("the users page");
        let csrf = csrf_in(&users_page.text().await.expect("its form"));
        let form = |to: &str| {
            vec![("csrf_token", csrf.clone()), ("active", "false".to_owned()), ("to", to.to_owned())]
        };
        // A taker that is no one is refused, and nothing is done.
        let (_, html) = post_form(format!("{}/admin/users/{}", app.base, rita.id), &cookie, &form("someone")).await;
        assert!(html.contains("Choose who takes the quotes over from the list."), "{html}");
        assert!(app.store.get_user(rita.id).await.unwrap().active, "Rita is still active");
        let (status, html) = post_form(format!("{}/admin/users/{}", app.base, rita.id), &cookie, &form(&otto.id.to_string())).await;
        assert_eq!(status, 303, "{html}");
        assert!(
            html.contains(&format!(
                "Rita ({}) is inactive: they can no longer log in. The 2 open drafts of Rita are handed over: Otto now \
                 owns the one Rita owned and signs all of them.",
                rita.email
            )),
            "the list says both: {html}"
        );
        assert!(!app.store.get_user(rita.id).await.unwrap().active, "Rita is inactive");
        for quote in [&signed, &owned] {
            let q = finance.get(&format!("/api/v1/quotes/{quote}")).await;
            assert_eq!(q.body["signer_id"], json!(otto.id), "{}", q.text);
        }
        sink.wait_until(WAIT, "Sam told who signs his quote now", |m| m.iter().any(|m| m.header("subject").is_some_and(|s| s.starts_with("Otto now signs")))).await;
        // Time for a letter the deactivation might have queued to go.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(subjects(&sink.to(&sam_user.email)), ["Otto now signs your quote for Greta Berg (Nordwind)"], "nothing asks Sam to choose a signer");
        assert!(signer_gone_rows(&app, rita.id, sam_user.id).await.is_empty(), "no such letter queued");
        app.stop().await;
    }
}

both_backends! {
    async fn an_admin_sends_a_failed_message_again_to_the_address_as_corrected(backend: Backend) {
        use pricegate_tests::pages::{client, csrf_in, session_cookie};
        use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sales, sam) = app.user(Role::Sales, "Sam").await;

        // The notice's e-mail to Sam is refused for good (his address was mistyped).
        sink.stop();
        let notice = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &notice).await;
        let deadline = Instant::now() + WAIT;
        let row = loop {
            let row = outbox::Entity::find()
                .filter(outbox::Column::UserId.eq(sam.id))
                .filter(outbox::Column::Kind.eq("publication"))
                .one(app.store.connection())
                .await
                .unwrap();
            if let Some(row) = row {
                break row;
            }
            assert!(Instant::now() < deadline, "the notice's e-mail to Sam is queued");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        outbox::Entity::update_many()
            .col_expr(outbox::Column::State, Expr::value("failed"))
            .col_expr(outbox::Column::LastError, Expr::value("550 5.1.1 mailbox unknown"))
            .filter(outbox::Column::Id.eq(row.id))
            .exec(app.store.connection())
            .await
            .unwrap();
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"email": "sam.new@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_error(&sales.post_empty(&format!("/api/v1/outbox/{}/resend", row.id)).await, 403, "forbidden");

        // On the outbox page, failed ones apart, each with "Send again".
        let cookie = session_cookie(&app.base, &ada.email).await;
        let http = client();
        let html = http.get(format!("{}/admin/outbox?state=failed", app.base)).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("550 5.1.1 mailbox unknown") && html.contains(&format!("action=\"/admin/outbox/{}/resend\"", row.id)), "{html}");
        let r = http
            .post(format!("{}/admin/outbox/{}/resend", app.base, row.id))
            .header(COOKIE, &cookie)
            .form(&[("csrf_token", csrf_in(&html))])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some("/admin/outbox?state=pending"));
        let done = r.headers().get(SET_COOKIE).and_then(|c| c.to_str().ok()).and_then(|c| c.split(';').next()).unwrap().to_owned();
        let html = http.get(format!("{}/admin/outbox", app.base)).header(COOKIE, format!("{cookie}; {done}")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Sent again, to sam.new@pricegate.test"), "{html}");
        assert_error(&admin.post_empty(&format!("/api/v1/outbox/{}/resend", row.id)).await, 409, "mail_not_failed");

        // It reaches the corrected address.
        sink.restart().await;
        let mails = sink.wait_until(WAIT, "the notice's e-mail, sent again", |m| m.iter().any(|m| m.to == ["sam.new@pricegate.test"])).await;
        // The old address is told only that it is no longer Sam's.
        let to_old: Vec<Option<String>> = mails.iter().filter(|m| m.to == [sam.email.clone()]).map(|m| m.header("subject")).collect();
        assert!(to_old.iter().all(|s| s.as_deref() == Some("Your Pricegate e-mail address was changed")), "{to_old:?}");
        let audit = admin.get("/api/v1/audit?action=mail.resent").await.body;
        assert_eq!(audit[0]["detail"]["failed_to"], json!(sam.email), "{audit}");
        assert_eq!(audit[0]["detail"]["to"], "sam.new@pricegate.test");
        app.stop().await;
    }
}

both_backends! {
    /// The outbox comes in pages, newest first, each leading to the next, with
    /// the thousands of messages a publication queues in one instant in a
    /// fixed order: the pages together are the whole outbox, each message once.
    async fn the_outbox_comes_in_pages_that_together_list_each_message_once(backend: Backend) {
        use pricegate_tests::pages::{client, session_cookie};
        use reqwest::header::COOKIE;
        let app = pricegate_tests::TestApp::spawn(backend).await;
        let (admin, admin_user) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let people: Vec<(String, String, &str)> =
            (0..240).map(|i| (format!("rep-{i:03}@pricegate.test"), format!("Rep {i:03}"), "sales")).collect();
        pricegate_tests::fixtures::insert_users(&app, sam.id, &people).await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let nid = create_notice(&finance, "Pumps up", json!([{"sku": "PUMP-1", "unit_price_minor": 275000, "effective_on": "2099-01-01"}])).await;
        publish_notice(&finance, &nid).await;
        let deadline = Instant::now() + WAIT;
        let everything = loop {
            let all = outbox(&admin).await;
            if all.len() >= 241 || Instant::now() > deadline {
                break all;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(everything.len(), 241, "one publication e-mail to each salesperson");
        let ids = |page: &[serde_json::Value]| page.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

        // The API: a hundred at a time, each page from after the last of the one before.
        let mut paged = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let path = match &before {
                Some(id) => format!("/api/v1/outbox?limit=100&before={id}"),
                None => "/api/v1/outbox?limit=100".to_owned(),
            };
            let r = admin.get(&path).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let page = ids(r.body.as_array().unwrap());
            before = page.last().cloned();
            let last_page = page.len() < 100;
            paged.extend(page);
            if last_page {
                break;
            }
        }
        assert_eq!(paged, ids(&everything), "the pages, one after another, are the whole outbox in its order");
        let r = admin.get(&format!("/api/v1/outbox?before={}", uuid::Uuid::new_v4())).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "before");

        // The page: two hundred, then the rest behind "Older messages".
        let cookie = session_cookie(&app.base, &admin_user.email).await;
        let base = app.base.clone();
        let page = |path: String| {
            let (cookie, base) = (cookie.clone(), base.clone());
            async move {
                let r = client().get(format!("{base}{path}")).header(COOKIE, cookie).send().await.unwrap();
                assert_eq!(r.status(), 200, "{path}");
                r.text().await.unwrap()
            }
        };
        let rows = |html: &str| html.matches("<td data-label=\"Queued\" class=\"date\">").count();
        let first = page("/admin/outbox".to_owned()).await;
        assert_eq!(rows(&first), 200);
        assert!(!first.contains("id=\"newest-messages\""), "{first}");
        let link = |html: &str, id: &str| {
            let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} in {html}"));
            let href = html[..at].rfind("href=\"").unwrap() + "href=\"".len();
            html[href..at].split('"').next().unwrap().replace("&#38;", "&")
        };
        assert_eq!(link(&first, "older-messages"), format!("/admin/outbox?before={}", everything[199]["id"].as_str().unwrap()));
        let second = page(link(&first, "older-messages")).await;
        assert_eq!(rows(&second), 41);
        assert!(!second.contains("id=\"older-messages\""));
        assert_eq!(link(&second, "newest-messages"), "/admin/outbox");
        for message in &everything[200..] {
            let to = message["to"].as_str().unwrap();
            assert!(second.contains(to) && !first.contains(&format!(">{to}<")), "{to} on the second page only");
        }
        let gone = page(format!("/admin/outbox?before={}", uuid::Uuid::new_v4())).await;
        assert!(gone.contains("That page of the outbox is gone") && rows(&gone) == 200, "{gone}");
        let unread = page("/admin/outbox?before=not-an-id".to_owned()).await;
        assert!(unread.contains("That page of the outbox is gone") && rows(&unread) == 200);
        // Found by part of the address, whatever its case, on the page and in the API.
        let found = page("/admin/outbox?to=REP-00".to_owned()).await;
        assert_eq!(rows(&found), 10, "rep-000 to rep-009");
        assert!(found.contains("value=\"REP-00\"") && found.contains("id=\"every-address\""), "{found}");
        let r = admin.get("/api/v1/outbox?to=rep-01").await;
        assert_eq!(r.body.as_array().map(Vec::len), Some(10), "{}", r.text);
        let nobody = page("/admin/outbox?state=failed&to=nobody".to_owned()).await;
        assert!(nobody.contains("No failed messages to an address containing “nobody”."), "{nobody}");
        let blank = page("/admin/outbox?state=&before=".to_owned()).await;
        assert!(!blank.contains("That page of the outbox is gone") && rows(&blank) == 200, "an empty field is no field");
        let encoded = page("/admin/outbox?state=set%20aside".to_owned()).await;
        assert!(encoded.contains("There is no such state of a message"), "read as decoded: {encoded}");
        let skipped = page(format!("/admin/outbox?state=sk%69pped&before={}", everything[0]["id"].as_str().unwrap())).await;
        assert!(skipped.contains("No older messages set aside."), "{skipped}");
        app.stop().await;
    }
}

both_backends! {
    /// A quote held up by an old price waits on finance's approval; once
    /// given, its signer and its owner are told, with the reason and the
    /// quote's link: the signer that they can finalise it, the owner who
    /// signs it. Finance, who approved, is not mailed.
    async fn the_signer_and_the_owner_are_told_when_finance_approves_keeping_old_prices(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (ana, ana_user) = app.user(Role::Sales, "Ana Owner").await;
        let (sam_session, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let quote = pricegate_tests::fixtures::draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), sam.id).await;
        let qid = quote["id"].as_str().unwrap().to_owned();
        sink.wait_until(WAIT, "the e-mail naming Sam the signer", |m| !m.is_empty()).await;
        // The price rises today, for a notice Sam acknowledges: only the old price holds the quote up.
        let rise = pricegate_tests::fixtures::publish_price_change(&finance, "PUMP-1", 260_000, &pricegate_tests::fixtures::date_in_days(0)).await;
        let r = sam_session.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_error(&sam_session.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await, 409, "superseded_prices");
        // Ana's; Sam's is set aside, as he acknowledged before it went.
        sink.wait_until(WAIT, "the notice's e-mail to Ana", |m| m.len() >= 2).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        until_nothing_pending(&admin).await;
        let before = sink.messages().len();

        let r = finance.post(&format!("/api/v1/quotes/{qid}/override"), &json!({"reason": "Agreed with Nordwind in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let subject = "Fiona approved keeping the old prices on the quote for Greta Berg (Nordwind)";
        let approvals = |m: &[Received]| m.iter().filter(|m| m.header("subject").as_deref() == Some(subject)).count();
        let mail = sink.wait_until(WAIT, "the approval to Sam and Ana", |m| approvals(m) >= 2).await;
        let to_sam = sink.to(&sam.email).into_iter().find(|m| m.header("subject").as_deref() == Some(subject)).expect("Sam is told");
        let text = to_sam.text();
        assert!(text.contains("Fiona (finance) approved keeping the old prices") && text.contains("Agreed with Nordwind in March"), "{text}");
        assert!(text.contains("You sign it: it can be finalised now") && text.contains("Total: 10,000.00 EUR"), "{text}");
        // The lines it keeps at their old price, and what that waives.
        assert!(
            text.replace("\r\n", "\n").contains(
                "The line kept at its old price:\n  PUMP-1 x 4: quoted 2,500.00 EUR, now 2,600.00 EUR\n\nAt today's \
                 prices this line would add 400.00 EUR to the total: keeping the old price waives that.\n\nOpen it here:"
            ),
            "{text}"
        );
        assert!(to_sam.html().contains("<td>PUMP-1 &#215;&#160;4</td>"), "{}", to_sam.html());
        assert!(to_sam.html().contains(&format!("href=\"{}/quotes/{qid}\"", app.base)), "{}", to_sam.html());
        let to_ana = sink.to(&ana_user.email).into_iter().find(|m| m.header("subject").as_deref() == Some(subject)).expect("Ana is told");
        assert!(to_ana.text().contains("Sam signs it: only they can finalise it."), "{}", to_ana.text());
        // A question about it goes to the approver.
        assert_eq!((to_sam.header("reply-to"), to_ana.header("reply-to")), (Some(fiona.email.clone()), Some(fiona.email.clone())));
        assert!(sink.to(&fiona.email).is_empty(), "the approver is not mailed");
        assert_eq!(mail.len(), before + 2, "{:?}", subjects(&mail));

        // Told so, Sam finalises.
        let r = sam_session.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await;
        assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("finalised")), "{}", r.text);

        // A signer who has left sales is not told; the owner is told to choose another.
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let other = pricegate_tests::fixtures::draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 1}]), rita.id).await;
        let other = other["id"].as_str().unwrap().to_owned();
        pricegate_tests::fixtures::publish_price_change(&finance, "PUMP-1", 270_000, &pricegate_tests::fixtures::date_in_days(0)).await;
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        until_nothing_pending(&admin).await;
        let r = finance.post(&format!("/api/v1/quotes/{other}/override"), &json!({"reason": "Old offer"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        until_nothing_pending(&admin).await;
        let to_ana: Vec<Received> = sink.to(&ana_user.email).into_iter().filter(|m| m.header("subject").as_deref() == Some(subject)).collect();
        assert_eq!(to_ana.len(), 2, "{:?}", subjects(&to_ana));
        assert!(to_ana[1].text().contains("Rita, its signer, can no longer sign quotes: choose another signer"), "{}", to_ana[1].text());
        assert!(!sink.to(&rita.email).iter().any(|m| m.header("subject").as_deref() == Some(subject)), "Rita cannot finalise it");
    }
}

/// An approval e-mail still queued when its quote is closed, or when its
/// recipient no longer signs it, is set aside: it would send them to a
/// quote they can do nothing with. The others still go.
#[tokio::test]
async fn an_approval_e_mail_queued_for_a_quote_closed_or_signed_by_another_is_set_aside() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (ana, ana_user) = app.user(Role::Sales, "Ana").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let (_, rita) = app.user(Role::Sales, "Rita").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    let lines = json!([{"sku": "PUMP-1", "quantity": 1}]);
    let draft = |signer: uuid::Uuid| pricegate_tests::fixtures::draft_quote_signed_by(&ana, lines.clone(), signer);
    let cancelled = id_of(&draft(sam.id).await);
    let moved = id_of(&draft(sam.id).await);
    let kept = id_of(&draft(rita.id).await);
    // Their price rises today: only finance's approval keeps the old one.
    pricegate_tests::fixtures::publish_price_change(
        &finance,
        "PUMP-1",
        260_000,
        &pricegate_tests::fixtures::date_in_days(0),
    )
    .await;
    for quote in [&cancelled, &moved, &kept] {
        let r = finance.post(&format!("/api/v1/quotes/{quote}/override"), &json!({"reason": "Agreed in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = ana.post_empty(&format!("/api/v1/quotes/{cancelled}/cancel")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ana.patch(&format!("/api/v1/quotes/{moved}"), &json!({"signer_id": rita.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let about = |row: &outbox::Model| {
        let quote = [(&cancelled, "cancelled"), (&moved, "moved"), (&kept, "kept")]
            .into_iter()
            .find(|(id, _)| row.text_body.contains(id.as_str()))
            .map_or("?", |(_, name)| name);
        (row.to_addr.clone(), quote)
    };
    let mut sent = Vec::new();
    loop {
        let claimed = app.store.claim_due_mail(100, Duration::from_secs(60)).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        sent.extend(claimed.iter().filter(|r| r.kind == "approval").map(about));
        let done: Vec<(uuid::Uuid, i32)> = claimed.iter().map(|r| (r.id, r.attempts)).collect();
        app.store.mark_mail_sent(&done).await.unwrap();
    }
    sent.sort();
    let mut expected =
        vec![(ana_user.email.clone(), "moved"), (ana_user.email.clone(), "kept"), (rita.email.clone(), "kept")];
    expected.sort();
    assert_eq!(sent, expected, "the owner of both drafts, and the signer of the one unchanged");

    let reason = "Not sent: before this e-mail about its approval went out, the quote was finalised or cancelled, \
                  or its recipient no longer signed or owned it.";
    let mut skipped: Vec<((String, &str), String)> = outbox::Entity::find()
        .filter(outbox::Column::Kind.eq("approval"))
        .filter(outbox::Column::State.eq("skipped"))
        .all(app.store.connection())
        .await
        .unwrap()
        .iter()
        .map(|r| (about(r), r.last_error.clone().unwrap_or_default()))
        .collect();
    skipped.sort();
    let mut expected = vec![
        ((ana_user.email.clone(), "cancelled"), reason.to_owned()),
        ((sam.email.clone(), "cancelled"), reason.to_owned()),
        ((sam.email.clone(), "moved"), reason.to_owned()),
    ];
    expected.sort();
    assert_eq!(skipped, expected);
}

both_backends! {
    /// A draft held up by an old price: its signer asks finance to approve
    /// keeping it. Each active colleague in finance is e-mailed the request,
    /// with the reason, the lines and the quote's link; asked again, nobody is
    /// e-mailed twice. Finance lists the drafts awaiting an approval, and an
    /// approval answers the request.
    async fn finance_is_asked_to_approve_old_prices_once(backend: Backend) {
        use pricegate_tests::fixtures::{date_in_days, draft_quote_signed_by, publish_price_change};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (_, fred) = app.user(Role::Finance, "Fred").await;
        let (_, dora) = app.user(Role::Finance, "Dora").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let r = admin.patch(&format!("/api/v1/users/{}", dora.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let (ana, _) = app.user(Role::Sales, "Ana Owner").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let qid = id_of(&draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), sam_user.id).await);
        let unasked = id_of(&draft_quote(&ana, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let ask = format!("/api/v1/quotes/{qid}/approval-request");
        assert_error(&sam.get(&ask).await, 404, "no_approval_request");
        assert_error(&sam.post(&ask, &json!({"reason": "In advance"})).await, 409, "nothing_to_approve");

        publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
        until_nothing_pending(&admin).await;
        assert_error(&finance.post(&ask, &json!({"reason": "Mine to ask"})).await, 403, "not_owner_or_signer");
        let r = sam.post(&ask, &json!({"reason": " \n "})).await;
        assert_eq!((r.status.as_u16(), field(&r)), (422, "reason"), "{}", r.text);
        let r = sam.post(&ask, &json!({"reason": "Agreed with Nordwind in March\nTotal <b>as signed</b>"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!((&r.body["new"], &r.body["told"], &r.body["open"]), (&json!(true), &json!(2), &json!(true)), "{}", r.text);
        let request = r.body["id"].clone();

        let subject = "Sam asks you to approve old prices on the quote for Greta Berg (Nordwind)";
        let asked = |m: &[Received]| m.iter().filter(|m| m.header("subject").as_deref() == Some(subject)).count();
        sink.wait_until(WAIT, "the request to Fiona and Fred", |m| asked(m) >= 2).await;
        let to_fred = sink.to(&fred.email).into_iter().find(|m| m.header("subject").as_deref() == Some(subject));
        let to_fred = to_fred.expect("Fred is asked");
        let text = to_fred.text().replace("\r\n", "\n");
        assert!(text.contains("Sam asks finance to approve keeping the old prices"), "{text}");
        assert!(text.contains("Owner: Ana Owner; signer: Sam"), "whose draft Sam asks about: {text}");
        assert!(text.contains("Their reason:\n\n  > Agreed with Nordwind in March\n  > Total <b>as signed</b>\n"), "{text}");
        // Its lines kept apart where a mail client shows no style, the markup as text.
        let html = to_fred.html();
        assert!(html.contains("<blockquote>Agreed with Nordwind in March<br>Total &#60;b&#62;as signed&#60;/b&#62;</blockquote>"), "{html}");
        assert!(text.contains("PUMP-1 x 4: quoted 2,500.00 EUR, now 2,600.00 EUR"), "{text}");
        assert!(text.contains("would add 400.00 EUR to the total"), "{text}");
        assert!(to_fred.html().contains(&format!("href=\"{}/quotes/{qid}\"", app.base)), "{}", to_fred.html());
        assert_eq!(to_fred.header("reply-to"), Some(sam_user.email.clone()), "finance's reply goes to Sam");
        // Three columns, to fit a phone: the line, its quoted price, the price now.
        assert!(html.contains("<th style=\"text-align: right;\">Quoted</th><th style=\"text-align: right;\">Now</th></tr>"), "{html}");
        assert!(html.contains("<td>PUMP-1 &#215;&#160;4</td>"), "{html}");
        assert_eq!(asked(&sink.to(&fiona.email)), 1);
        assert!(sink.to(&dora.email).is_empty(), "a deactivated account is not asked");

        // Asked again, by its owner: the same request, and nobody is e-mailed twice.
        let r = ana.post(&ask, &json!({"reason": "Please"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((&r.body["new"], &r.body["told"], &r.body["id"]), (&json!(false), &json!(0), &request), "{}", r.text);
        until_nothing_pending(&admin).await;
        assert_eq!(asked(&sink.messages()), 2, "{:?}", subjects(&sink.messages()));

        let listed = |who: &Session, query: &'static str| {
            let who = who.clone();
            async move {
                let r = who.get(&format!("/api/v1/quotes?{query}")).await;
                assert_eq!(r.status, 200, "{}", r.text);
                r.body.as_array().into_iter().flatten().map(id_of).collect::<Vec<String>>()
            }
        };
        for who in [&finance, &ana, &sam] {
            assert_eq!(listed(who, "awaiting_approval=true").await, [qid.as_str()], "not {unasked}, which nobody asked about");
        }
        assert_eq!(listed(&ana, "at_old_prices=true").await.len(), 2);
        let r = finance.get(&ask).await;
        assert_eq!((r.status.as_u16(), &r.body["open"], &r.body["lines_as_asked"]), (200, &json!(true), &json!(true)), "{}", r.text);
        assert_eq!(r.body["reason"], json!("Agreed with Nordwind in March\nTotal <b>as signed</b>"));
        assert_eq!(r.body["lines"][0]["quantity"], json!(4));
        let page = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/quotes/{qid}")).await;
        assert!(page.contains("Sam asked finance to approve keeping the old prices"), "{page}");
        assert!(page.contains("Asked finance to approve keeping old prices: \u{201c}Agreed with Nordwind in March"), "the history: {page}");
        assert!(!page.contains("<b>as signed"), "the reason's markup shown as text: {page}");
        let audit = finance.get(&format!("/api/v1/audit?action=quote.approval_requested&subject={qid}")).await;
        assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{}", audit.text);

        // Approved: answered, and nothing is left to ask.
        let r = finance.post(&format!("/api/v1/quotes/{qid}/override"), &json!({"reason": "Agreed in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(listed(&finance, "awaiting_approval=true").await.is_empty());
        assert_eq!(finance.get(&ask).await.body["open"], json!(false));
        assert_error(&sam.post(&ask, &json!({"reason": "Again"})).await, 409, "already_overridden");
        app.stop().await;
    }
}

/// The owner reminding finance of the request their draft's signer asked:
/// finance reads who reminds as well as who asked, and a reply goes to the
/// one who reminded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_sent_by_the_owner_of_a_request_the_signer_asked_names_both() {
    use pricegate_tests::fixtures::draft_quote_signed_by;
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (ana, ana_user) = app.user(Role::Sales, "Ana Owner").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    let qid = id_of(&draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), sam_user.id).await);
    publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
    let r = sam.post(&format!("/api/v1/quotes/{qid}/approval-request"), &json!({"reason": "Agreed in March"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    until_nothing_pending(&admin).await;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(15)))
        .exec(app.store.connection())
        .await
        .unwrap();
    // Fred joins finance after the request: he is asked, not reminded.
    let (_, fred) = app.user(Role::Finance, "Fred").await;
    let r = ana.post_empty(&format!("/api/v1/quotes/{qid}/approval-request/remind")).await;
    assert_eq!((r.status.as_u16(), &r.body["told"]), (200, &json!(2)), "{}", r.text);
    let reminder = |m: &Received| m.header("subject").is_some_and(|s| s.starts_with("Reminder: "));
    sink.wait_until(WAIT, "the reminder to Fiona", |m| m.iter().any(reminder)).await;
    let to_fiona = sink.to(&fiona.email).into_iter().find(reminder).expect("Fiona is reminded");
    assert_eq!(
        to_fiona.header("subject").as_deref(),
        Some("Reminder: Ana Owner still waits for approval of old prices on the quote for Greta Berg (Nordwind)")
    );
    let text = to_fiona.text().replace("\r\n", "\n");
    assert!(
        text.contains("A reminder from Ana Owner: on ") && text.contains("Sam asked finance to approve keeping"),
        "{text}"
    );
    assert_eq!(to_fiona.header("reply-to"), Some(ana_user.email.clone()), "a reply goes to who reminded");
    assert!(text.contains("Owner: Ana Owner; signer: Sam"), "whose draft Sam asks about: {text}");
    let request_to_fiona = sink.to(&fiona.email).into_iter().find(|m| !reminder(m)).expect("Fiona was asked");
    assert!(request_to_fiona.header("in-reply-to").is_none(), "{}", request_to_fiona.data);
    assert_eq!(
        (to_fiona.header("in-reply-to"), to_fiona.header("references")),
        (request_to_fiona.header("message-id"), request_to_fiona.header("message-id")),
        "the reminder follows the request, as a mail program shows a conversation"
    );
    let asked = "Sam asks you to approve old prices on the quote for Greta Berg (Nordwind)";
    let to_fred =
        sink.wait_until(WAIT, "the request to Fred", |m| m.iter().any(|m| m.to == [fred.email.clone()])).await;
    let to_fred = to_fred.into_iter().find(|m| m.to == [fred.email.clone()]).expect("Fred is asked");
    assert_eq!(to_fred.header("subject").as_deref(), Some(asked));
    assert!(!to_fred.text().contains("A reminder"), "{}", to_fred.text());
    assert!(to_fred.header("in-reply-to").is_none(), "Fred's is the first he gets about it: {}", to_fred.data);
    app.stop().await;
}

both_backends! {
    /// A request nobody in finance answers: its salesperson reminds finance,
    /// leaving out whoever was e-mailed about it in the last ten minutes;
    /// once that long has passed, everyone who may approve it is e-mailed it
    /// again, as a reminder. Declined, there is nothing left to remind of.
    async fn finance_is_reminded_of_a_request_nobody_answered(backend: Backend) {
        use pricegate_tests::fixtures::{date_in_days, publish_price_change};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (_, fred) = app.user(Role::Finance, "Fred").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sara, _) = app.user(Role::Sales, "Sara").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let qid = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 4}])).await);
        let remind = format!("/api/v1/quotes/{qid}/approval-request/remind");
        publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
        until_nothing_pending(&admin).await;
        assert_error(&sam.post_empty(&remind).await, 409, "no_open_request");
        let r = sam.post(&format!("/api/v1/quotes/{qid}/approval-request"), &json!({"reason": "Agreed in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let request = r.body["id"].clone();

        // At once: both were e-mailed the request a moment ago.
        let r = sam.post_empty(&remind).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((&r.body["told"], &r.body["recently_told"], &r.body["id"]), (&json!(0), &json!(2), &request), "{}", r.text);
        let again: chrono::DateTime<chrono::Utc> =
            r.body["again_from"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("again_from: {}", r.text));
        let after = again - chrono::Utc::now();
        assert!(after > chrono::Duration::minutes(9) && after <= chrono::Duration::minutes(10), "{after}");
        assert_error(&finance.post_empty(&remind).await, 403, "not_owner_or_signer");
        assert_error(&sara.post_empty(&remind).await, 403, "not_your_quote");
        assert_error(&sam.post(&remind, &json!({"request_id": request})).await, 422, "invalid_body");

        // A quarter of an hour later, both are reminded; a second click mails nobody twice.
        until_nothing_pending(&admin).await;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(15)))
            .exec(app.store.connection())
            .await
            .unwrap();
        let r = sam.post_empty(&remind).await;
        assert_eq!((&r.body["told"], &r.body["recently_told"]), (&json!(2), &json!(0)), "{}", r.text);
        assert!(r.body.get("again_from").is_none(), "nobody was left out: {}", r.text);
        let r = sam.post_empty(&remind).await;
        assert_eq!((&r.body["told"], &r.body["recently_told"]), (&json!(0), &json!(2)), "{}", r.text);

        let reminder = |m: &Received| {
            m.header("subject").is_some_and(|s| s.starts_with("Reminder: Sam still waits for approval of old prices"))
        };
        sink.wait_until(WAIT, "the reminders to Fiona and Fred", |m| m.iter().filter(|m| reminder(m)).count() >= 2).await;
        for person in [&fiona, &fred] {
            let got = sink.to(&person.email);
            assert_eq!(got.iter().filter(|m| reminder(m)).count(), 1, "{}: {:?}", person.email, subjects(&got));
        }
        let to_fred = sink.to(&fred.email).into_iter().find(reminder).expect("Fred is reminded");
        let text = to_fred.text().replace("\r\n", "\n");
        assert!(text.contains("A reminder: on ") && text.contains("Sam asked finance to approve keeping"), "{text}");
        assert!(text.contains("nobody has answered yet. Their reason:\n\n  > Agreed in March\n"), "{text}");
        assert!(text.contains("PUMP-1 x 4: quoted 2,500.00 EUR, now 2,600.00 EUR"), "{text}");
        assert!(to_fred.html().contains(&format!("href=\"{}/quotes/{qid}\"", app.base)), "{}", to_fred.html());
        let audit = finance.get(&format!("/api/v1/audit?action=quote.approval_reminded&subject={qid}")).await;
        assert_eq!(audit.body.as_array().map(Vec::len), Some(3), "{}", audit.text);
        let page = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/quotes/{qid}")).await;
        assert!(page.contains("Reminded finance of the request: 2 people e-mailed it again"), "the history: {page}");
        assert!(
            page.contains("Reminded finance of the request: nobody e-mailed, each was e-mailed about it a moment before"),
            "{page}"
        );

        // Declined: nothing is left to remind finance of.
        let decline = format!("/api/v1/quotes/{qid}/approval-request/decline");
        assert_eq!(finance.post(&decline, &json!({"reason": "Not this time"})).await.status, 200);
        assert_error(&sam.post_empty(&remind).await, 409, "no_open_request");
        app.stop().await;
    }
}

both_backends! {
    /// A request for approval still queued when it ends (finance approves,
    /// the draft is repriced, its salesperson asks again about lines changed
    /// since), when its quote is closed, or when its recipient leaves
    /// finance, is set aside: there is nothing left for them to decide. The
    /// others still go.
    async fn a_request_for_approval_ended_before_it_goes_out_is_set_aside(backend: Backend) {
        use pricegate_tests::fixtures::{date_in_days, publish_price_change};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |s| s.worker_poll = Duration::from_secs(3600)).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (_, fred) = app.user(Role::Finance, "Fred").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (ana, _) = app.user(Role::Sales, "Ana").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let lines = json!([{"sku": "PUMP-1", "quantity": 1}]);
        let mut drafts = Vec::new();
        for _ in 0..6 {
            drafts.push(id_of(&draft_quote(&ana, lines.clone()).await));
        }
        let [approved, cancelled, repriced, replaced, edited, kept] = <[String; 6]>::try_from(drafts).unwrap();
        publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
        let ask = |quote: &str| {
            let (ana, path) = (ana.clone(), format!("/api/v1/quotes/{quote}/approval-request"));
            async move {
                let r = ana.post(&path, &json!({"reason": "Agreed"})).await;
                assert_eq!((r.status.as_u16(), &r.body["told"]), (201, &json!(2)), "{}", r.text);
            }
        };
        for quote in [&approved, &cancelled, &repriced, &replaced, &edited, &kept] {
            ask(quote).await;
        }
        let r = finance.post(&format!("/api/v1/quotes/{approved}/override"), &json!({"reason": "Agreed in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(ana.post_empty(&format!("/api/v1/quotes/{cancelled}/cancel")).await.status, 200);
        let r = ana.get(&format!("/api/v1/quotes/{cancelled}/approval-request")).await;
        assert_eq!((r.status.as_u16(), &r.body["open"]), (200, &json!(false)), "{}", r.text);
        assert!(r.body["ended_at"].is_string(), "a cancelled draft's request ended with it: {}", r.text);
        assert_eq!(ana.post_empty(&format!("/api/v1/quotes/{repriced}/reprice")).await.status, 200);
        let r = ana.patch(&format!("/api/v1/quotes/{replaced}"), &json!({"lines": [{"sku": "PUMP-1", "quantity": 3}]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        ask(&replaced).await;
        // Its line edited, the request was about another: ended, unasked again.
        let r = ana.patch(&format!("/api/v1/quotes/{edited}"), &json!({"lines": [{"sku": "PUMP-1", "quantity": 2}]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", fred.id), &json!({"role": "sales"})).await;
        assert_eq!(r.status, 200, "{}", r.text);

        let about = |row: &outbox::Model| {
            let named = [(&approved, "approved"), (&cancelled, "cancelled"), (&repriced, "repriced")];
            let named = named.into_iter().chain([(&replaced, "replaced"), (&edited, "edited"), (&kept, "kept")]);
            let quote = named.into_iter().find(|(id, _)| row.text_body.contains(id.as_str())).map_or("?", |(_, n)| n);
            // The second request for the replaced draft is about three.
            let again = row.text_body.contains("PUMP-1 x 3");
            (row.to_addr.clone(), quote, again)
        };
        let mut sent = Vec::new();
        loop {
            let claimed = app.store.claim_due_mail(100, Duration::from_secs(60)).await.unwrap();
            if claimed.is_empty() {
                break;
            }
            sent.extend(claimed.iter().filter(|r| r.kind == "approval_request").map(about));
            let done: Vec<(uuid::Uuid, i32)> = claimed.iter().map(|r| (r.id, r.attempts)).collect();
            app.store.mark_mail_sent(&done).await.unwrap();
        }
        sent.sort();
        let mut expected = vec![(fiona.email.clone(), "kept", false), (fiona.email.clone(), "replaced", true)];
        expected.sort();
        assert_eq!(sent, expected, "the requests still waiting, to whoever is in finance");

        let reason = "Not sent: before this request for approval went out";
        let mut skipped: Vec<(String, &str, bool)> = outbox::Entity::find()
            .filter(outbox::Column::Kind.eq("approval_request"))
            .filter(outbox::Column::State.eq("skipped"))
            .all(app.store.connection())
            .await
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r.last_error.as_deref().is_some_and(|e| e.starts_with(reason)), "{r:?}");
                about(r)
            })
            .collect();
        skipped.sort();
        let mut expected: Vec<(String, &str, bool)> = ["approved", "cancelled", "repriced", "replaced", "edited"]
            .into_iter()
            .map(|quote| (fiona.email.clone(), quote, false))
            .chain(
                ["approved", "cancelled", "repriced", "replaced", "edited", "kept"]
                    .map(|quote| (fred.email.clone(), quote, false)),
            )
            .chain([(fred.email.clone(), "replaced", true)])
            .collect();
        expected.sort();
        assert_eq!(skipped, expected);
    }
}

both_backends! {
    /// Finance declines a request to approve old prices, with a reason: the
    /// request ends, and the salespeople on the draft are e-mailed why; the
    /// page tells them, and they may ask again.
    async fn finance_declines_a_request_and_the_salespeople_are_told_why(backend: Backend) {
        use pricegate_tests::fixtures::{date_in_days, draft_quote_signed_by, publish_price_change};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (fred, _) = app.user(Role::Finance, "Fred").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (ana, ana_user) = app.user(Role::Sales, "Ana Owner").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let qid = id_of(&draft_quote_signed_by(&ana, json!([{"sku": "PUMP-1", "quantity": 4}]), sam_user.id).await);
        publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
        let ask = format!("/api/v1/quotes/{qid}/approval-request");
        let decline = format!("{ask}/decline");
        assert_error(&finance.post(&decline, &json!({"reason": "No"})).await, 409, "no_open_request");
        let r = sam.post(&ask, &json!({"reason": "Agreed in March"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let request = r.body["id"].clone();
        until_nothing_pending(&admin).await;

        let r = fred.post(&decline, &json!({"reason": ""})).await;
        assert_eq!((r.status.as_u16(), field(&r)), (422, "reason"), "{}", r.text);
        assert_error(&ana.post(&decline, &json!({"reason": "Mine"})).await, 403, "forbidden");
        let stale = json!({"reason": "No", "request_id": uuid::Uuid::new_v4()});
        assert_error(&finance.post(&decline, &stale).await, 409, "quote_changed");
        let r = finance.post(&decline, &json!({"reason": "Prices rose for everyone", "request_id": request})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((&r.body["open"], &r.body["declined_reason"]), (&json!(false), &json!("Prices rose for everyone")));
        assert_error(&fred.post(&decline, &json!({"reason": "Again"})).await, 409, "no_open_request");

        let subject = "Fiona declined to approve the old prices on the quote for Greta Berg (Nordwind)";
        let declined = |m: &[Received]| m.iter().filter(|m| m.header("subject").as_deref() == Some(subject)).count();
        sink.wait_until(WAIT, "the decline to Sam and Ana", |m| declined(m) >= 2).await;
        let find = |email: &str| sink.to(email).into_iter().find(|m| m.header("subject").as_deref() == Some(subject));
        let fiona_email = finance.get("/api/v1/me").await.body["email"].as_str().unwrap().to_owned();
        assert_eq!(find(&sam_user.email).and_then(|m| m.header("reply-to")), Some(fiona_email.clone()), "a reply goes to who declined");
        let to_sam = find(&sam_user.email).expect("Sam, who asked, is told").text().replace("\r\n", "\n");
        assert!(to_sam.contains("declined your request") && to_sam.contains("  > Prices rose for everyone\n"), "{to_sam}");
        let to_ana = find(&ana_user.email).expect("Ana, who owns it, is told").text();
        assert!(to_ana.contains("declined Sam's request"), "{to_ana}");
        until_nothing_pending(&admin).await;
        assert_eq!(declined(&sink.messages()), 2, "{:?}", subjects(&sink.messages()));

        let r = finance.get("/api/v1/quotes?awaiting_approval=true").await;
        assert_eq!(r.body.as_array().map(Vec::len), Some(0), "{}", r.text);
        let page = pricegate_tests::pages::page_as(&app.base, &sam_user.email, &format!("/quotes/{qid}")).await;
        assert!(page.contains("Fiona declined, ") && page.contains("your request of "), "{page}");
        assert!(page.contains("id=\"ask-approval\""), "Sam may ask again: {page}");
        // Asked again about the same lines, finance reads why the last request was declined.
        let r = sam.post(&ask, &json!({"reason": "The customer insists"})).await;
        assert_eq!((r.status.as_u16(), &r.body["new"]), (201, &json!(true)), "{}", r.text);
        let again = |m: &Received| m.text().contains("The customer insists");
        sink.wait_until(WAIT, "the second request to Fiona and Fred", |m| m.iter().filter(|m| again(m)).count() >= 2).await;
        let fred_email = fred.get("/api/v1/me").await.body["email"].as_str().unwrap().to_owned();
        let asked_again = |email: &str| {
            let told = sink.to(email).into_iter().find(again);
            told.map(|m| m.text().replace("\r\n", "\n")).unwrap_or_default()
        };
        let text = asked_again(&fred_email);
        assert!(
            text.contains("Fiona declined the last request about this quote, on ") && text.contains(":\n\n  > Prices rose for everyone\n"),
            "{text}"
        );
        let text = asked_again(&fiona_email);
        assert!(text.contains("You declined the last request about this quote, on "), "to the one who declined: {text}");
        // Repriced, then at an old price again: the decline was about other prices, and is not said.
        assert_eq!(ana.post_empty(&format!("/api/v1/quotes/{qid}/reprice")).await.status, 200);
        publish_price_change(&finance, "PUMP-1", 270_000, &date_in_days(0)).await;
        let page = pricegate_tests::pages::page_as(&app.base, &sam_user.email, &format!("/quotes/{qid}")).await;
        assert!(!page.contains("declined") && page.contains("id=\"ask-approval\""), "{page}");
        let audit = finance.get(&format!("/api/v1/audit?action=quote.approval_declined&subject={qid}")).await;
        assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{}", audit.text);
        let r = sam.post(&ask, &json!({"reason": "The customer has it in writing"})).await;
        assert_eq!((r.status.as_u16(), &r.body["new"]), (201, &json!(true)), "{}", r.text);
        // Approved, the request is answered: a decline after it is told so, and when.
        let r = fred.post(&format!("/api/v1/quotes/{qid}/override"), &json!({"reason": "In writing, agreed"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = finance.post(&decline, &json!({"reason": "Too late"})).await;
        assert_error(&r, 409, "already_overridden");
        assert!(r.text.contains("are approved already, at ") && r.text.contains("In writing, agreed"), "{}", r.text);
        app.stop().await;
    }
}

both_backends! {
    /// The owner of a draft a colleague signs is told when the colleague
    /// finalises it: who, the quote as signed, how many notices its evidence
    /// keeps, and its link. Finalising one's own draft mails nobody, nor is
    /// an owner whose account was deactivated told.
    async fn the_owner_is_told_when_the_colleague_who_signs_their_draft_finalises_it(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (ana_session, ana) = app.user(Role::Sales, "Ana Owner").await;
        let (sam_session, sam) = app.user(Role::Sales, "Sam Signer").await;
        let (rita_session, rita) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let lines = json!([{"sku": "PUMP-1", "quantity": 4}]);
        let anas = pricegate_tests::fixtures::draft_quote_signed_by(&ana_session, lines.clone(), sam.id).await;
        let ritas = pricegate_tests::fixtures::draft_quote_signed_by(&rita_session, lines.clone(), sam.id).await;
        let sams = draft_quote(&sam_session, lines).await;
        let nid = publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(30)).await;
        let r = sam_session.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", rita.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for quote in [&anas, &ritas, &sams] {
            let r = sam_session.post_empty(&format!("/api/v1/quotes/{}/finalise", id_of(quote))).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }

        let qid = id_of(&anas);
        let finalised = |m: &Received| m.header("subject").is_some_and(|s| s.contains(" finalised "));
        let mail = sink.wait_until(WAIT, "the e-mail to Ana", |m| m.iter().any(finalised)).await;
        let told: Vec<Received> = sink.to(&ana.email).into_iter().filter(finalised).collect();
        assert_eq!(subjects(&told), ["Sam Signer finalised your quote for Greta Berg (Nordwind)"], "{:?}", subjects(&mail));
        let text = told[0].text();
        assert!(text.contains("Sam Signer, its signer, finalised your quote at "), "{text}");
        assert!(text.contains("Total: 10,000.00 EUR") && text.contains(&format!("Quote: {}", &qid[..8])), "{text}");
        assert!(
            text.contains("Before finalising it, Sam Signer acknowledged the price notice published")
                && text.contains("since it was drafted: its evidence keeps it."),
            "{text}"
        );
        assert!(text.contains(&format!("{}/quotes/{qid}", app.base)), "{text}");
        assert!(told[0].html().contains(&format!("href=\"{}/quotes/{qid}\"", app.base)), "{}", told[0].html());
        assert_eq!(told[0].header("reply-to"), Some(sam.email.clone()), "a reply goes to the signer");

        // Nothing more is queued for anyone: not Sam for his own draft, not
        // Rita, deactivated.
        until_nothing_pending(&admin).await;
        let finalised: Vec<_> = outbox(&admin).await.into_iter().filter(|r| r["kind"] == "finalised").collect();
        assert_eq!(finalised.len(), 1, "{finalised:?}");
        for person in [&rita, &sam] {
            let subjects = subjects(&sink.to(&person.email));
            assert!(subjects.iter().all(|s| !s.contains("finalised")), "{}: {subjects:?}", person.name);
        }
    }
}

/// Finalised with finance's approval of old prices, the owner's e-mail says
/// who approved keeping which products' old prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_told_of_a_finalisation_reads_who_approved_keeping_which_old_prices() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona Figures").await;
    let (ana_session, ana) = app.user(Role::Sales, "Ana Owner").await;
    let (sam_session, sam) = app.user(Role::Sales, "Sam Signer").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    create_product(&finance, "VALVE-2", "EUR", 1_000).await;
    let lines = json!([{"sku": "PUMP-1", "quantity": 4}, {"sku": "VALVE-2", "quantity": 1}]);
    let qid = id_of(&pricegate_tests::fixtures::draft_quote_signed_by(&ana_session, lines, sam.id).await);
    let nid = publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
    let r = finance.post(&format!("/api/v1/quotes/{qid}/override"), &json!({"reason": "Agreed in March"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(sam_session.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await.status, 200);
    let r = sam_session.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let finalised = |m: &Received| m.header("subject").is_some_and(|s| s.contains(" finalised "));
    sink.wait_until(WAIT, "the e-mail to Ana", |m| m.iter().any(finalised)).await;
    let told = sink.to(&ana.email).into_iter().find(finalised).expect("Ana is told");
    for part in [told.text(), told.html()] {
        let part = part.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(part.contains("Fiona Figures, in finance, approved keeping the old prices of PUMP-1."), "{part}");
    }
    app.stop().await;
}

both_backends! {
    /// Finance reminds one pending salesperson alone, from the API or from
    /// their row of the dashboard, by the rule "Remind now" follows: nobody
    /// e-mailed about the notice in the last ten minutes is reminded again.
    /// Someone the notice no longer waits for is refused, 409 `not_pending`.
    async fn finance_reminds_one_pending_salesperson_alone(backend: Backend) {
        use pricegate_tests::pages::{client, csrf_in, post_form, session_cookie};
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |s| s.reminders = vec![Duration::from_secs(3600)]).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let (_, tom) = app.user(Role::Sales, "Tom").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let nid = create_notice(&finance, "Pumps up", json!([{"sku": "PUMP-1", "unit_price_minor": 275000, "effective_on": "2099-01-01"}])).await;
        publish_notice(&finance, &nid).await;
        sink.wait_until(WAIT, "the publication e-mails", |m| m.len() >= 3).await;
        let r = sam.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // A quarter of an hour on, the publication's e-mails are old enough.
        outbox::Entity::update_many()
            .col_expr(outbox::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(15)))
            .exec(app.store.connection())
            .await
            .unwrap();

        let url = format!("/api/v1/notices/{nid}/remind");
        let remind = |user: &UserView| json!({"user_id": user.id});
        let r = finance.post(&url, &remind(&rita)).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(1), &json!(0)), "{}", r.text);
        let r = finance.post(&url, &remind(&rita)).await;
        assert_eq!((&r.body["queued"], &r.body["recently_reminded"]), (&json!(0), &json!(1)), "again: {}", r.text);
        assert!(r.body["again_from"].is_string(), "{}", r.text);
        assert_error(&finance.post(&url, &remind(&sam_user)).await, 409, "not_pending");
        let r = finance.post(&url, &json!({"user_id": "sam"})).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(field(&r), "user_id", "{}", r.text);
        assert_error(&finance.post(&url, &json!({"user": rita.id})).await, 422, "invalid_body");
        let r = finance.post(&url, &json!({"user_id": null})).await;
        assert_eq!((r.status.as_u16(), field(&r)), (422, "user_id"), "null is not everyone: {}", r.text);
        assert_eq!(sam.post(&url, &remind(&rita)).await.status, 403);

        // On the dashboard, each pending row has its own button.
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let url = format!("{}/notices/{nid}/dashboard", app.base);
        let r = client().get(&url).header("cookie", &cookie).send().await.expect("the dashboard");
        let html = r.text().await.unwrap_or_default();
        for person in [&rita, &tom] {
            let button = format!("name=\"user\" value=\"{}\" class=\"secondary remind-one\" aria-label=\"Remind {} now\"", person.id, person.name);
            assert!(html.contains(&button), "{html}");
        }
        let form = |user: &UserView| vec![("csrf_token", csrf_in(&html)), ("user", user.id.to_string())];
        let (status, page) = post_form(url.clone(), &cookie, &form(&tom)).await;
        assert_eq!(status, 303, "{page}");
        assert!(page.contains("A reminder is queued for Tom."), "{page}");
        let (_, page) = post_form(url.clone(), &cookie, &form(&tom)).await;
        assert!(
            page.contains("No reminder queued: Tom was e-mailed about this notice in the last 10 minutes. They can be reminded again from "),
            "{page}"
        );
        let (status, page) = post_form(url, &cookie, &form(&sam_user)).await;
        assert_eq!(status, 303, "{page}");
        assert!(page.contains("No reminder queued: this notice no longer waits for an acknowledgement from Sam."), "{page}");

        sink.wait_until(WAIT, "the two reminders", |m| m.len() >= 5).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for person in [&rita, &tom] {
            let subjects = subjects(&sink.to(&person.email));
            assert_eq!(subjects.len(), 2, "{}: the publication and one reminder: {subjects:?}", person.name);
            assert!(subjects[1].starts_with("Reminder: "), "{subjects:?}");
        }
        assert_eq!(sink.to(&sam_user.email).len(), 1, "no reminder after acknowledging");
        let audit = finance.get(&format!("/api/v1/audit?action=notice.reminded&subject={nid}")).await;
        let whom: Vec<_> = audit.body.as_array().into_iter().flatten().map(|e| e["detail"]["user_id"].clone()).collect();
        assert!(whom.contains(&json!(rita.id)) && whom.contains(&json!(tom.id)), "{}", audit.text);
    }
}

// A notice's e-mail the mail server has not taken (a relay refusing us:
// deferred and tried again) or has refused for good (a mailbox it does not
// have) is said on the notice's dashboard, in that person's row and above
// the list, with what the server answered, on the notices list and in the
// API: "pending" is not taken for "told, not yet read". "Remind now" then
// does not say they were e-mailed; once a later e-mail reaches them, the
// failed one is not offered to send again.
both_backends! {
    async fn a_notice_s_dashboard_says_whose_e_mail_the_mail_server_has_not_taken(backend: Backend) {
        use pricegate_tests::pages::{client, csrf_in, post_form, session_cookie, unwrapped};
        let sink = SmtpSink::start().await;
        sink.refuse_senders(true);
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let refused = add_salespeople(&app, "reject", 1).await.remove(0);
        let taken = add_salespeople(&app, "ok", 1).await.remove(0);
        let nid = create_notice(&finance, "Mail down", json!([])).await;
        publish_notice(&finance, &nid).await;
        let rows_are = |done: fn(&serde_json::Value) -> bool, what: &'static str| {
            let admin = admin.clone();
            async move {
                let deadline = Instant::now() + WAIT;
                loop {
                    let rows = outbox(&admin).await;
                    if rows.len() >= 2 && rows.iter().all(done) {
                        return;
                    }
                    assert!(Instant::now() < deadline, "{what}: {rows:?}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        rows_are(|r| r["state"] == "pending" && r["attempts"].as_i64() >= Some(1), "tried, and waiting").await;

        let cookie = session_cookie(&app.base, &fiona.email).await;
        let url = format!("{}/notices/{nid}/dashboard", app.base);
        let dashboard = || async {
            let r = client().get(&url).header("cookie", &cookie).send().await.expect("the dashboard");
            unwrapped(&r.text().await.unwrap_or_default())
        };
        let html = dashboard().await;
        for person in [&refused, &taken] {
            // A relay refusing us: our mail, not their address, for an administrator to mend.
            let row = format!("id=\"undelivered-{}\">Not delivered yet: the mail server refuses Pricegate", person.id);
            assert!(html.contains(&row), "{html}");
        }
        // When it is tried next: a time, or at once when that time has come while the page was read.
        let next_at = html.contains("it is tried again meanwhile, next at ");
        let due = html.contains("it is tried again meanwhile, next as soon as the mail worker comes to it.");
        assert!(next_at || due, "{html}");
        // The same answer for both is quoted once, above the list, not in each row.
        let answer = "What went wrong the last time was the same for each: \u{201c}SMTP: permanent error (554)";
        assert!(html.contains(answer), "{html}");
        assert!(!html.contains("What went wrong the last time:"), "{html}");
        assert!(
            html.contains(
                "The mail server has not yet taken the e-mail about this notice to 2 of them: it is tried again on its own."
            ),
            "{html}"
        );
        // The notices list says it beside the counts; the API lists them, with their next try.
        let notices_list = || async {
            let r = client().get(format!("{}/notices", app.base)).header("cookie", &cookie).send();
            unwrapped(&r.await.expect("the notices").text().await.unwrap_or_default())
        };
        let list = notices_list().await;
        assert!(list.contains(&format!("id=\"not-reached-{nid}\">2 of them not reached by e-mail")), "{list}");
        let undelivered = || async {
            let r = finance.get(&format!("/api/v1/notices/{nid}/acknowledgements")).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["undelivered"].as_array().cloned().unwrap_or_default()
        };
        let listed = undelivered().await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        for u in &listed {
            assert_eq!((&u["state"], u["attempts"].as_i64() >= Some(1)), (&json!("retrying"), true), "{u}");
            assert!(u["error"].as_str().is_some_and(|e| e.contains("(554)")) && u["next_attempt_at"].is_string(), "{u}");
        }
        // Remind now sends nothing more behind them, and says why in those words.
        let (status, page) = post_form(url.clone(), &cookie, &[("csrf_token", csrf_in(&html))]).await;
        assert_eq!(status, 303, "{page}");
        let page = unwrapped(&page);
        assert!(
            page.contains(
                "No reminders queued: both salespeople still pending were e-mailed about this notice in the last 10 \
                 minutes, or still have an e-mail about it waiting. The mail server has not yet taken those e-mails"
            ),
            "{page}"
        );
        let r = finance.post(&format!("/api/v1/notices/{nid}/remind"), &json!({})).await;
        assert_eq!((&r.body["queued"], &r.body["mail_deferred"]), (&json!(0), &json!(2)), "{}", r.text);

        // The relay mended: one is delivered, the other's mailbox is refused for good.
        sink.refuse_senders(false);
        rows_are(|r| r["state"] == "sent" || r["state"] == "failed", "delivered or refused").await;
        let html = dashboard().await;
        assert!(!html.contains(&format!("id=\"undelivered-{}\"", taken.id)), "{html}");
        let row = format!("id=\"undelivered-{}\">Not delivered: the mail server refused their address", refused.id);
        let answer = "Remind fails too: tell them another way. What went wrong the last time: \u{201c}SMTP: permanent error (550)";
        assert!(html.contains(&row) && html.contains(answer), "{html}");
        assert!(html.contains("No e-mail about this notice has reached 1 of them: it was given up on."), "{html}");
        assert_eq!(sink.to(&taken.email).len(), 1);
        // Finance's file says the same, in its last two columns.
        let r = client().get(format!("{}/notices/{nid}/acknowledgements.csv", app.base)).header("cookie", &cookie).send();
        let csv = r.await.expect("the file").text().await.unwrap_or_default();
        let row_of =
            |person: &UserView| csv.lines().find(|l| l.contains(&person.id.to_string())).expect("a row").to_owned();
        assert!(row_of(&refused).contains(",failed,SMTP: permanent error (550)"), "{csv}");
        assert!(row_of(&taken).ends_with(",,"), "{csv}");
        let list = notices_list().await;
        assert!(list.contains(&format!("id=\"not-reached-{nid}\">1 of them not reached by e-mail")), "{list}");
        let listed = undelivered().await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!((&listed[0]["user_id"], &listed[0]["state"]), (&json!(refused.id), &json!("failed")), "{listed:?}");
        assert!(listed[0]["next_attempt_at"].is_null(), "given up on: {listed:?}");

        // Their address put right, a reminder reaches them: the publication
        // that failed is not offered to send again, and the warnings are gone.
        let fixed = format!("fixed-{}", refused.email);
        let r = admin.patch(&format!("/api/v1/users/{}", refused.id), &json!({"email": fixed})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        outbox::Entity::update_many()
            .col_expr(outbox::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(15)))
            .exec(app.store.connection())
            .await
            .unwrap();
        let r = finance.post(&format!("/api/v1/notices/{nid}/remind"), &json!({"user_id": refused.id})).await;
        assert_eq!((r.status.as_u16(), &r.body["queued"]), (202, &json!(1)), "{}", r.text);
        sink.wait_until(WAIT, "the reminder at the new address", |m| m.iter().any(|m| m.to.contains(&fixed))).await;
        let deadline = Instant::now() + WAIT;
        while !outbox(&admin).await.iter().any(|r| r["kind"] == "reminder" && r["state"] == "sent") {
            assert!(Instant::now() < deadline, "the reminder marked sent: {:?}", outbox(&admin).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let failed = outbox(&admin).await.into_iter().find(|r| r["kind"] == "publication" && r["state"] == "failed");
        let failed = failed.expect("the publication refused")["id"].as_str().unwrap_or_default().to_owned();
        let r = admin.post_empty(&format!("/api/v1/outbox/{failed}/resend")).await;
        assert_error(&r, 409, "no_longer_needed");
        assert!(r.text.contains("a later e-mail about this notice reached them"), "{}", r.text);
        let admin_cookie = session_cookie(&app.base, &ada.email).await;
        let r = client().get(format!("{}/admin/outbox?state=failed", app.base)).header("cookie", &admin_cookie).send();
        let html = unwrapped(&r.await.expect("the outbox").text().await.unwrap_or_default());
        assert!(html.contains(&format!("id=\"reached-later-{failed}\">Not sent again: a later e-mail")), "{html}");
        assert!(!html.contains(&format!("id=\"resend-{failed}\"")), "{html}");
        assert!(!dashboard().await.contains("id=\"undelivered-"), "reached at last");
        assert!(!notices_list().await.contains("not reached by e-mail"), "reached at last");
        assert!(undelivered().await.is_empty());
    }
}

/// An administrator sends a failed notice e-mail again just as a change to
/// its recipient is being saved, one that goes on to their e-mails about
/// notices as a reactivation does (their row, then their mail, to tell them
/// of the notices that wait on them). The resend waits for the change, then
/// goes out to the address saved; the change is not kept waiting on the
/// resend while the resend waits on it, a deadlock PostgreSQL would end by
/// failing one of the two. PostgreSQL, where the two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_e_mail_sent_again_as_its_recipient_is_changed_waits_for_the_change() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Postgres, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let rita = add_salespeople(&app, "reject", 1).await.remove(0);
    let nid = create_notice(&finance, "Mailbox gone", json!([])).await;
    publish_notice(&finance, &nid).await;
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        let rows = outbox(&admin).await;
        if let Some(row) = rows.iter().find(|r| r["kind"] == "publication" && r["state"] == "failed") {
            break row["id"].as_str().unwrap_or_default().to_owned();
        }
        assert!(Instant::now() < deadline, "Rita's e-mail refused for good: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The change, half saved: her address put right under her row's lock.
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let change = other.begin().await.unwrap();
    let mended = "rita.mended@pricegate.test";
    let update = format!("UPDATE users SET email = '{mended}' WHERE id = '{}'", rita.id);
    change.execute_unprepared(&update).await.unwrap();
    let resend = {
        let admin = admin.clone();
        tokio::spawn(async move { admin.post_empty(&format!("/api/v1/outbox/{failed}/resend")).await })
    };
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    assert!(!resend.is_finished(), "the resend finished before the change was in");
    // The change goes on to her e-mails about notices, as telling her of them does.
    let her_mail = format!("SELECT id FROM outbox WHERE user_id = '{}' AND kind = 'publication' FOR UPDATE", rita.id);
    let locked = tokio::time::timeout(WAIT, change.execute_unprepared(&her_mail)).await;
    assert!(matches!(locked, Ok(Ok(_))), "the change takes her mail while the resend waits: {locked:?}");
    change.commit().await.unwrap();

    let r = tokio::time::timeout(WAIT, resend).await.expect("the resend answers once the change is in").unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["to"], json!(mended), "{}", r.text);
    sink.wait_until(WAIT, "the e-mail sent again, at her new address", |m| {
        m.iter().any(|m| m.to.iter().any(|t| t == mended))
    })
    .await;
    other.close().await.ok();
    app.stop().await;
}

/// Sam's two e-mails about notices, claimed by a worker sending them now,
/// as a second connection (`other`) sees them: `lower` and `higher` by id.
struct BeingSent {
    app: pricegate_tests::TestApp,
    sink: SmtpSink,
    admin: Session,
    sam: UserView,
    other: sea_orm::DatabaseConnection,
    lower: uuid::Uuid,
    higher: uuid::Uuid,
}

/// Sam's two e-mails about notices, sent, then made as a worker's claim
/// leaves them mid-send: still pending, their attempt counted, due again
/// only once its lease ends. The lower id is written last, so that a
/// statement that finds them where they lie (a scan, not the order of
/// their ids) meets it second. PostgreSQL.
async fn sam_s_two_e_mails_being_sent() -> BeingSent {
    use sea_orm::ConnectionTrait;
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Postgres, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    for title in ["Copper up", "Steel up"] {
        let id = create_notice(&finance, title, json!([])).await;
        publish_notice(&finance, &id).await;
    }
    sink.wait_until(WAIT, "both notices mailed to Sam", |m| {
        m.iter().filter(|m| m.to == [sam.email.clone()]).count() == 2
    })
    .await;
    until_nothing_pending(&admin).await;
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let ids: Vec<uuid::Uuid> = outbox_rows(&app)
        .await
        .into_iter()
        .filter(|r| r.user_id == Some(sam.id) && r.kind == "publication")
        .map(|r| r.id)
        .collect();
    let (lower, higher) = match ids.as_slice() {
        [a, b] => (*a.min(b), *a.max(b)),
        _ => panic!("two e-mails to Sam: {ids:?}"),
    };
    let claimed = "SET state = 'pending', sent_at = NULL, attempts = 1, next_attempt_at = now() + interval '1 hour'";
    other.execute_unprepared(&format!("UPDATE outbox {claimed} WHERE id IN ('{lower}', '{higher}')")).await.unwrap();
    let bump =
        format!("UPDATE outbox SET next_attempt_at = next_attempt_at + interval '1 second' WHERE id = '{lower}'");
    other.execute_unprepared(&bump).await.unwrap();
    BeingSent { app, sink, admin, sam, other, lower, higher }
}

/// An administrator corrects Sam's address while the mail worker marks two
/// of his e-mails, sent under one claim, sent. The correction takes his
/// e-mails still to go in the order of their ids, as the worker's mark
/// does, so one waits for the other. Taken in the order each statement
/// found them, each could hold one the other wanted next: a deadlock
/// PostgreSQL ends by failing one of the two. PostgreSQL, where the two run
/// side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_correction_takes_the_person_s_e_mails_in_the_order_the_worker_marks_them() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let BeingSent { app, sink, admin, sam, other, lower, higher } = sam_s_two_e_mails_being_sent().await;
    // The worker's mark, under way: it has the lower.
    let marking = other.begin().await.unwrap();
    let mark = |id: uuid::Uuid| format!("UPDATE outbox SET last_error = last_error WHERE id = '{id}'");
    marking.execute_unprepared(&mark(lower)).await.unwrap();
    let correction = {
        let admin = admin.clone();
        let path = format!("/api/v1/users/{}", sam.id);
        tokio::spawn(async move { admin.patch(&path, &json!({"email": "sam.mended@pricegate.test"})).await })
    };
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    // The mark goes on to the higher, which the correction, waiting for the
    // lower, has not taken.
    let marked = tokio::time::timeout(Duration::from_secs(10), marking.execute_unprepared(&mark(higher))).await;
    assert!(matches!(marked, Ok(Ok(_))), "the mark takes the higher while the correction waits: {marked:?}");
    marking.commit().await.unwrap();
    let r = tokio::time::timeout(WAIT, correction).await.expect("the correction answers once the mark is in").unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    // The worker's claim ended (one more attempt counted): both go again,
    // to the address as corrected.
    sink.wait_until(WAIT, "both sent again, to the corrected address", |m| {
        m.iter().filter(|m| m.to == ["sam.mended@pricegate.test"]).count() == 2
    })
    .await;
    other.close().await.ok();
    app.stop().await;
}

/// The other side: the worker marks Sam's two e-mails sent while an address
/// correction, which takes them in the order of their ids, has the lower.
/// The mark waits for it without holding the higher, and then marks
/// nothing, as the correction ended its claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_marks_a_person_s_e_mails_sent_in_the_order_an_address_correction_takes_them() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let BeingSent { app, other, lower, higher, .. } = sam_s_two_e_mails_being_sent().await;
    let correcting = other.begin().await.unwrap();
    let take = |id: uuid::Uuid| format!("SELECT id FROM outbox WHERE id = '{id}' FOR NO KEY UPDATE");
    correcting.execute_unprepared(&take(lower)).await.unwrap();
    let mark = {
        let store = app.store.clone();
        tokio::spawn(async move { store.mark_mail_sent(&[(lower, 1), (higher, 1)]).await })
    };
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    let taken = tokio::time::timeout(Duration::from_secs(10), correcting.execute_unprepared(&take(higher))).await;
    assert!(matches!(taken, Ok(Ok(_))), "the correction takes the higher while the mark waits: {taken:?}");
    let ended = format!("UPDATE outbox SET attempts = attempts + 1 WHERE id IN ('{lower}', '{higher}')");
    correcting.execute_unprepared(&ended).await.unwrap();
    correcting.commit().await.unwrap();
    let marked = tokio::time::timeout(WAIT, mark).await.expect("the mark ends once the correction is in").unwrap();
    assert_eq!(marked.ok(), Some(0), "the claim ended: nothing marked sent");
    let rows: Vec<_> = outbox_rows(&app).await.into_iter().filter(|r| r.id == lower || r.id == higher).collect();
    assert!(rows.iter().all(|r| r.state == "pending" && r.attempts == 2), "left to go again: {rows:?}");
    other.close().await.ok();
    app.stop().await;
}

/// A change PostgreSQL ends because it met another (a deadlock: here the
/// other takes Sam's e-mails against the order of their ids, as nothing of
/// Pricegate's does) is answered 503 `busy`, saying nothing was changed and
/// to try again; and nothing was: sent again once
/// the other is done, it goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_ended_by_a_deadlock_is_answered_busy_and_goes_through_when_sent_again() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let BeingSent { app, admin, sam, other, lower, higher, .. } = sam_s_two_e_mails_being_sent().await;
    let against_the_order = other.begin().await.unwrap();
    // PostgreSQL looks for a deadlock a second (`deadlock_timeout`) after a
    // statement began to wait, and ends the statement that found it: the
    // correction, which waits first. (Should this side's be the one ended,
    // on a machine stalled for that second, `taken` below says so.)
    let take = |id: uuid::Uuid| format!("SELECT id FROM outbox WHERE id = '{id}' FOR NO KEY UPDATE");
    against_the_order.execute_unprepared(&take(higher)).await.unwrap();
    let path = format!("/api/v1/users/{}", sam.id);
    let correct = || {
        let admin = admin.clone();
        let path = path.clone();
        async move { admin.patch(&path, &json!({"email": "sam.mended@pricegate.test"})).await }
    };
    // Sent as it is, to read the answer's headers.
    let correction = reqwest::Client::new()
        .patch(format!("{}{path}", app.base))
        .bearer_auth(admin.token().expect("a token"))
        .json(&json!({"email": "sam.mended@pricegate.test"}))
        .send();
    let correction = tokio::spawn(correction);
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    let taken = tokio::time::timeout(WAIT, against_the_order.execute_unprepared(&take(lower))).await;
    assert!(matches!(taken, Ok(Ok(_))), "the other goes on once the correction is ended: {taken:?}");
    let r = tokio::time::timeout(WAIT, correction).await.expect("the correction answers").unwrap().unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "sent again at once");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        json!({
            "code": "busy",
            "message": "Nothing was changed: another change to the same data was being saved at that moment. \
                        Please try again."
        })
    );
    // Nothing of it was written: his address is as it was.
    let r = admin.get(&path).await;
    assert_eq!(r.body["email"], json!(sam.email), "{}", r.text);
    against_the_order.commit().await.unwrap();
    let r = correct().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "sam.mended@pricegate.test", "{}", r.text);
    other.close().await.ok();
    app.stop().await;
}

// Someone an administrator moves to another role is e-mailed, at their
// address, what they now do and who moved them; someone who has never
// logged in is not, as for a new password or address.
both_backends! {
    async fn someone_moved_to_another_role_is_e_mailed_what_they_now_do(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (admin, ada) = app.user(Role::Admin, "Ada").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mails = sink.wait_until(WAIT, "Sam told", |m| m.iter().any(|m| m.to == [sam.email.clone()])).await;
        let told = mails.iter().find(|m| m.to == [sam.email.clone()]).expect("to Sam");
        assert_eq!(told.header("subject").as_deref(), Some("Your Pricegate role was changed"));
        let text = told.text().replace("\r\n", "\n");
        for said in [
            format!("The role of your Pricegate account ({}) was changed on ", sam.email),
            format!(
                " by {}, an administrator: you were a salesperson, and now work in finance: you keep the price list, \
                 publish price notices and see who has read them, and approve keeping a quote's old prices. Its pages \
                 show what you can do from now on.\n\nIf you expected it, there is nothing to do.\nIf not, ask {} or another administrator why.",
                ada.name, ada.name
            ),
        ] {
            assert!(text.contains(&said), "{said:?} in {text}");
        }
        let html = told.html();
        assert!(html.contains("you were a salesperson, and now work in finance: you keep the price list"), "{html}");
        assert!(!text.contains("draft quote"), "Sam had no drafts: {text}");
        // Someone moved out of sales with drafts is told they are no longer theirs.
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (lena, lena_user) = app.user(Role::Sales, "Lena").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        for _ in 0..2 {
            draft_quote(&lena, json!([{"sku": "P-1", "quantity": 1}])).await;
        }
        let r = admin.patch(&format!("/api/v1/users/{}", lena_user.id), &json!({"role": "admin"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mails = sink.wait_until(WAIT, "Lena told", |m| m.iter().any(|m| m.to == [lena_user.email.clone()])).await;
        let told = mails.iter().find(|m| m.to == [lena_user.email.clone()]).expect("to Lena");
        let text = told.text().replace("\r\n", "\n");
        let said = "Its pages show what you can do from now on.\nYou can no longer edit or finalise the 2 draft quotes you \
                    own or sign: an administrator can hand them to a salesperson, and the owners of those you only \
                    sign are told to choose another signer.\n";
        assert!(text.contains(said), "{text}");
        assert!(told.html().contains("<p>You can no longer edit or finalise the 2 draft quotes you own or sign"), "{}", told.html());
        // An account's own e-mail: the outbox lists it, and an administrator may read it.
        let row = outbox(&admin).await.into_iter().find(|r| r["kind"] == "role_changed").expect("listed");
        let r = admin.get(&format!("/api/v1/outbox/{}", row["id"].as_str().unwrap_or_default())).await;
        assert!(r.body["text_body"].as_str().is_some_and(|t| t.contains("you were a salesperson")), "{}", r.text);

        // Made with a password and never logged in: nobody is told yet.
        let r = admin
            .post("/api/v1/users", &json!({"email": "nils@pricegate.test", "name": "Nils", "role": "sales", "password": "a long enough password"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", id_of(&r.body)), &json!({"role": "admin"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Nor is someone moved as they are deactivated; and a save that keeps
        // the role tells nobody again.
        let (_, tom) = app.user(Role::Sales, "Tom").await;
        let r = admin.patch(&format!("/api/v1/users/{}", tom.id), &json!({"role": "finance", "active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"role": "finance", "name": "Sam Berg"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        until_nothing_pending(&admin).await;
        assert!(sink.to("nils@pricegate.test").is_empty(), "{:?}", sink.to("nils@pricegate.test"));
        assert!(sink.to(&tom.email).is_empty(), "deactivated: {:?}", sink.to(&tom.email));
        let moved: Vec<_> =
            outbox(&admin).await.into_iter().filter(|r| r["kind"] == "role_changed" && r["to"] == sam.email).collect();
        assert_eq!(moved.len(), 1, "Sam, once: {moved:?}");

        // Someone invited is sent the invitation again, saying their role
        // now: after the first has reached them, as well as it…
        let r = admin.post("/api/v1/users", &json!({"email": "ivy@pricegate.test", "name": "Ivy", "role": "sales"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        sink.wait_until(WAIT, "Ivy invited", |m| m.iter().any(|m| m.to == ["ivy@pricegate.test"])).await;
        let r = admin.patch(&format!("/api/v1/users/{}", id_of(&r.body)), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ivy = sink.wait_until(WAIT, "Ivy invited twice", |m| m.iter().filter(|m| m.to == ["ivy@pricegate.test"]).count() == 2).await;
        let ivy: Vec<_> = ivy.iter().filter(|m| m.to == ["ivy@pricegate.test"]).collect();
        assert!(ivy.iter().all(|m| m.header("subject").as_deref() == Some("Your Pricegate account: choose your password")), "{ivy:?}");
        assert!(ivy[0].text().contains("to work as a salesperson: you draft quotes"), "{ivy:?}");
        assert!(ivy[1].text().contains("to work in finance: you keep the price list"), "{ivy:?}");
        // …and before it went, instead of it: the one in the role she had
        // is set aside, saying why.
        sink.stop();
        let r = admin.post("/api/v1/users", &json!({"email": "iris@pricegate.test", "name": "Iris", "role": "sales"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let iris = id_of(&r.body);
        let r = admin.patch(&format!("/api/v1/users/{iris}"), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sink.restart().await;
        until_nothing_pending(&admin).await;
        let told = sink.to("iris@pricegate.test");
        assert_eq!(told.len(), 1, "one invitation: {told:?}");
        assert_eq!(told[0].header("subject").as_deref(), Some("Your Pricegate account: choose your password"));
        assert!(told[0].text().contains("to work in finance: you keep the price list"), "{told:?}");
        let rows: Vec<_> = outbox(&admin).await.into_iter().filter(|r| r["to"] == "iris@pricegate.test").collect();
        let states: Vec<_> = rows.iter().map(|r| (r["state"].as_str(), r["last_error"].as_str())).collect();
        assert!(
            states.contains(&(Some("skipped"), Some("Not sent: the account's role was changed before it went out; an invitation naming the new role was sent instead."))),
            "{rows:?}"
        );
        app.stop().await;
    }
}

/// Drafts handed to Tom while the mail worker is marking his e-mails about
/// the notices that hold them up sent: the hand-over, which reads those
/// e-mails to tell him of the notices, does not wait for the worker's
/// statement, which may itself be waiting for another of his e-mails the
/// hand-over has read (a deadlock, one of the two failed). PostgreSQL, where
/// the two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_over_does_not_wait_for_the_worker_marking_the_taker_s_e_mails_sent() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Postgres, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    let (_, tom) = app.user(Role::Sales, "Tom").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    create_product(&finance, "P-2", "EUR", 2_000).await;
    draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}, {"sku": "P-2", "quantity": 1}])).await;
    publish_price_change(&finance, "P-1", 1_100, &date_in_days(0)).await;
    publish_price_change(&finance, "P-2", 2_100, &date_in_days(0)).await;
    sink.wait_until(WAIT, "both notices mailed to Tom", |m| {
        m.iter().filter(|m| m.to == [tom.email.clone()]).count() == 2
    })
    .await;
    until_nothing_pending(&admin).await;
    let toms: Vec<outbox::Model> =
        outbox_rows(&app).await.into_iter().filter(|r| r.user_id == Some(tom.id) && r.kind == "publication").collect();
    assert_eq!(toms.len(), 2, "{toms:?}");

    // The worker's statement marking one of them sent, under way.
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let marking = other.begin().await.unwrap();
    let mark = format!("UPDATE outbox SET last_error = last_error WHERE id = '{}'", toms[1].id);
    marking.execute_unprepared(&mark).await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        admin.post(&format!("/api/v1/users/{}/handover", sam_user.id), &json!({"to": tom.id})),
    )
    .await
    .expect("the hand-over answers while the worker's statement is under way");
    assert_eq!(r.status, 200, "{}", r.text);
    // And the worker's statement on his other e-mail goes on too.
    let mark = format!("UPDATE outbox SET last_error = last_error WHERE id = '{}'", toms[0].id);
    tokio::time::timeout(Duration::from_secs(10), marking.execute_unprepared(&mark))
        .await
        .expect("the worker's statement does not wait")
        .unwrap();
    marking.commit().await.unwrap();
    other.close().await.ok();
    app.stop().await;
}
