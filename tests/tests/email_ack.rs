//! Publication e-mails through a real SMTP server, and the acknowledgement
//! links in them, followed with an HTTP client as a person (or a mail
//! scanner) would.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pricegate_domain::Role;
use pricegate_store::entity::ack_tokens;
use pricegate_tests::fixtures::{create_notice, create_product, draft_quote, draft_quote_signed_by, publish_notice};
use pricegate_tests::pages::log_in;
use pricegate_tests::smtp::{SmtpSink, spawn_with_mail};
use pricegate_tests::{PASSWORD, Session, both_backends};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// Everything this test process logs, at debug level, to look for tokens in.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(writer.clone()))
            .try_init();
        logs
    })
    .clone()
}

async fn publish_pump_notice(finance: &Session) -> String {
    let r = finance
        .post(
            "/api/v1/notices",
            &json!({
                "title": "Pumps up 10%",
                // The slot the worker fills with the reader's token, typed
                // by finance into links of their own, plainly and as
                // Markdown escapes and entities the renderer turns into it:
                // it must stay text.
                "body": "From **1 December**.\n\n<script>alert('x')</script>\n\n\
                         [Price list](https://prices.example/?ref={ack-token}) \
                         https://prices.example/a?t=\\{ack-token} https://prices.example/b?t={ack\\-token} \
                         https://prices.example/c?t={ack&#45;token}",
                "changes": [{"sku": "PUMP-1", "unit_price_minor": 275000, "effective_on": "2099-01-01"}],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    publish_notice(finance, &id).await;
    id
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn page(method: reqwest::Method, url: &str) -> (u16, String) {
    page_logged_in(method, url, None).await
}

/// [`page`] in a browser where `session` (a session cookie's value) is logged in.
async fn page_logged_in(method: reqwest::Method, url: &str, session: Option<&str>) -> (u16, String) {
    let mut req = client().request(method, url).header("user-agent", "pricegate-test/1");
    if let Some(session) = session {
        req = req.header("cookie", format!("pricegate_session={session}"));
    }
    let r = req.send().await.expect("the server answers");
    let status = r.status().as_u16();
    // A sentence asserted as its words (days and amounts are kept on one line by spans).
    (status, pricegate_tests::pages::unwrapped(&r.text().await.unwrap_or_default()))
}

async fn acknowledgements(finance: &Session, notice: &str) -> Value {
    let r = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

both_backends! {
    async fn publishing_mails_every_salesperson_once_and_the_link_acknowledges_only_on_post(backend: Backend) {
        let logs = captured_logs();
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita_api, rita) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let quote = draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 40}])).await;
        let qid = quote["id"].as_str().unwrap().to_owned();
        // Rita's draft lapsed yesterday: no price is in force for it until she extends it.
        let ritas = draft_quote(&rita_api, json!([{"sku": "PUMP-1", "quantity": 2}])).await;
        let lapsed = pricegate_tests::fixtures::lapse_quote(&app, ritas["id"].as_str().unwrap()).await;

        let nid = publish_pump_notice(&finance).await;
        let messages = sink.wait_until(WAIT, "two publication e-mails", |m| m.len() >= 2).await;
        let recipients: Vec<&str> = messages.iter().flat_map(|m| m.to.iter().map(String::as_str)).collect();
        assert_eq!(recipients.len(), 2, "{recipients:?}");
        assert_eq!(recipients.iter().copied().collect::<HashSet<_>>(), HashSet::from([sam_user.email.as_str(), rita.email.as_str()]));

        let mail = &sink.to(&sam_user.email)[0];
        assert!(mail.header("subject").unwrap().contains("Pumps up 10%"), "{}", mail.data);
        assert!(mail.header("message-id").is_some_and(|id| id.starts_with('<') && id.ends_with('>')));
        assert_eq!(mail.header("auto-submitted").as_deref(), Some("auto-generated"), "no out-of-office reply to it");
        let (text, html) = (mail.text(), mail.html());
        assert!(text.contains("Pumps up 10%") && text.contains("PUMP-1") && text.contains("2,750.00 EUR"), "{text}");
        assert!(
            text.contains("2,500.00 EUR -> 2,750.00 EUR from 2099-01-01, +250.00 EUR (+10.0 %)"),
            "the price it moves from, and by how much: {text}"
        );
        assert!(
            text.contains(
                "(+10,000.00 EUR on its total from 2099-01-01 while it is valid; finalised before 2099-01-01, it keeps its prices as far as this notice goes)"
            ),
            "the blocked quote and its delta are named, from the day the price takes force: {text}"
        );
        assert!(text.contains("A change to a total is counted from the prices the quote carries"), "{text}");
        let ritas_text = sink.to(&rita.email)[0].text();
        assert!(ritas_text.contains(&format!("(expired on {lapsed})")), "{ritas_text}");
        assert!(html.contains("<strong>1 December</strong>"), "Markdown is rendered: {html}");
        assert!(text.contains("1 December") && !text.contains("**"), "and the text part has no marks: {text}");
        assert!(html.contains("<table") && !html.contains("<script>"), "raw HTML is escaped: {html}");
        // How long the link works (PRICEGATE_ACK_LINK_TTL, 14 days by default).
        for part in [&text, &html] {
            assert!(part.contains("it works once, for 14 days after this e-mail was sent"), "{part}");
        }
        let link = mail.ack_link().expect("a link in the text part");
        assert!(html.contains(&link), "the same link in the HTML part");
        let token = link.rsplit('/').next().unwrap();
        for part in [&text, &html] {
            assert!(part.contains("prices.example/?ref=") && part.contains("prices.example/c?t="), "{part}");
            assert_eq!(part.matches(token).count(), 1, "the reader's token is in the ack link alone: {part}");
        }
        assert!(link.starts_with(&format!("{}/ack/", app.base)), "{link}");
        assert!(!sink.to(&rita.email)[0].text().contains("+10,000.00 EUR"), "Rita has no quote of her own");
        assert_ne!(sink.to(&rita.email)[0].ack_link(), Some(link.clone()), "links are personal");

        // A mail scanner, or the person, opens the link: nothing changes.
        for _ in 0..2 {
            let (status, body) = page(reqwest::Method::GET, &link).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.contains("<title>") && body.contains("Pricegate") && body.contains("Pumps up 10%"), "{body}");
            assert!(body.contains("<form method=\"post\">") && !body.contains("<script"), "{body}");
            // Whoever opens it learns how many drafts it holds up, not which.
            assert!(body.contains("It holds up 1 draft Sam signs.") && !body.contains("Greta Berg"), "{body}");
        }
        // Copied from the end of a sentence, with its full stop: the link's page, still nothing changed.
        let r = client().get(format!("{link}.")).send().await.expect("the server answers");
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some(&link[app.base.len()..]));
        // Sam, logged in, reads which, and what the notice does to each, before acknowledging.
        let sam_session = log_in(&app.base, &sam_user.email, PASSWORD).await.session.expect("Sam logs in").0;
        let (status, body) = page_logged_in(reqwest::Method::GET, &link, Some(&sam_session)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Your drafts it holds up"), "{body}");
        let reference = &qid.replace('-', "")[..8];
        let line = format!(
            "<a href=\"/quotes/{qid}\">{reference}</a> Greta Berg: +10,000.00 EUR on its total from 2099-01-01 while it is valid; \
             finalised before 2099-01-01, it keeps its prices as far as this notice goes"
        );
        assert!(body.contains(&line), "{body}");
        assert_eq!(acknowledgements(&finance, &nid).await["acknowledged"], json!([]));
        let gate = sam.get(&format!("/api/v1/quotes/{qid}/gate")).await;
        assert_eq!(gate.body["ready"], false, "{}", gate.text);

        // The button: acknowledged by e-mail, and the gate opens.
        let (status, body) = page(reqwest::Method::POST, &link).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("recorded"), "{body}");
        // Without Sam's session, what it leaves is counted, not named.
        assert!(body.contains("It held up one draft you sign, which is now ready to finalise."), "{body}");
        assert!(body.contains("No other price notice waits for your acknowledgement.") && !body.contains("Greta"), "{body}");
        let acks = acknowledgements(&finance, &nid).await;
        assert_eq!(acks["acknowledged"][0]["user"]["id"], json!(sam_user.id));
        assert_eq!(acks["acknowledged"][0]["channel"], "email");
        // Where the link was pressed from, as kept with it: shown to finance.
        assert_eq!(
            (&acks["acknowledged"][0]["client_address"], &acks["acknowledged"][0]["user_agent"]),
            (&json!("127.0.0.1"), &json!("pricegate-test/1")),
            "{acks}"
        );
        let dashboard = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{nid}/dashboard")).await;
        assert!(dashboard.contains("from 127.0.0.1 · pricegate-test/1"), "{dashboard}");
        let r = sam.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);

        // The link is used up.
        let (status, body) = page(reqwest::Method::POST, &link).await;
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("already been used"), "{body}");
        let at = acks["acknowledged"][0]["acknowledged_at"].as_str().unwrap_or_default().to_owned();
        let (day, time) = (&at[..10], &at[11..19]);
        assert!(
            body.contains(&format!("It recorded your acknowledgement of “Pumps up 10%” at {day} {time} UTC"))
                && body.contains("Nothing new was recorded")
                && body.contains("href=\"/quotes\""),
            "a used link says when it acknowledged, and leads on: {body}"
        );

        // Every row is sent, once; admins see the outbox. The worker marks a
        // batch sent after its last message was accepted, so the sink can
        // hold both messages a moment before their rows say so.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let outbox = loop {
            let outbox = admin.get("/api/v1/outbox").await;
            assert_eq!(outbox.status, 200, "{}", outbox.text);
            let all_sent = outbox.body.as_array().is_some_and(|rows| rows.iter().all(|r| r["state"] == "sent"));
            if all_sent || std::time::Instant::now() >= deadline {
                break outbox;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let rows = outbox.body.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{}", outbox.text);
        assert!(rows.iter().all(|r| r["state"] == "sent" && r["attempts"] == 1), "{}", outbox.text);
        assert!(!outbox.text.contains("/ack/"), "the outbox listing shows no links");
        assert_eq!(sink.messages().len(), 2);
        assert_eq!(sam.get("/api/v1/outbox").await.status, 403);
        let one = admin.get(&format!("/api/v1/outbox/{}", rows[0]["id"].as_str().unwrap())).await;
        assert_eq!(one.status, 200, "{}", one.text);
        // A notice's e-mail lists the drafts it holds up, customers and
        // totals: an administrator, who does not read quotes, is not shown it.
        assert!(one.body["text_body"].as_str().unwrap().starts_with("Withheld: this e-mail names quotes"), "{}", one.text);
        assert!(!one.text.contains("/ack/") && !one.text.contains(link.rsplit('/').next().unwrap()), "{}", one.text);
        assert_eq!(sam.get(&format!("/api/v1/outbox/{}", rows[0]["id"].as_str().unwrap())).await.status, 403);

        // The outbox itself never held a working link: tokens are minted as the message leaves.
        for row in pricegate_store::entity::outbox::Entity::find().all(app.store.connection()).await.unwrap() {
            for m in sink.messages() {
                let token = m.ack_link().unwrap().rsplit('/').next().unwrap().to_owned();
                assert!(!row.text_body.contains(&token) && !row.html_body.contains(&token), "an outbox row holds a token");
            }
        }

        // The requests to the link were logged, the token never.
        let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(logs.contains("/ack/{token}"), "the link requests are in the log");
        for m in sink.messages() {
            let link = m.ack_link().unwrap();
            let token = link.rsplit('/').next().unwrap();
            assert!(!logs.contains(token), "a token reached the log");
        }
    }
}

/// Mia's publication e-mail sent: the SMTP server it went to, the app, an
/// admin's session, Mia, the notice and her message's outbox row.
struct MiaMailed {
    sink: SmtpSink,
    app: pricegate_tests::TestApp,
    admin: Session,
    mia: pricegate_store::views::UserView,
    notice: String,
    sent: pricegate_store::entity::outbox::Model,
}

async fn mia_mailed(backend: pricegate_tests::Backend) -> MiaMailed {
    use pricegate_store::entity::outbox;
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (_, mia) = app.user(Role::Sales, "Mia").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    let notice = publish_pump_notice(&finance).await;
    sink.wait_until(WAIT, "Mia's publication e-mail", |m| !m.is_empty()).await;
    let sent = outbox::Entity::find()
        .filter(outbox::Column::UserId.eq(mia.id))
        .filter(outbox::Column::Kind.eq("publication"))
        .one(app.store.connection())
        .await
        .unwrap()
        .expect("Mia's message");
    MiaMailed { sink, app, admin, mia, notice, sent }
}

/// A message tried before at an address corrected since keeps that address
/// when tried again, but its new link is dead: whoever reads mail there
/// cannot acknowledge for the person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_to_a_corrected_address_carries_no_working_link() {
    use pricegate_store::entity::outbox;
    let MiaMailed { sink: _sink, app, admin, mia, sent, .. } = mia_mailed(pricegate_tests::Backend::Sqlite).await;
    assert_eq!(sent.to_addr, mia.email);
    let r = admin.patch(&format!("/api/v1/users/{}", mia.id), &json!({"email": "mia.right@pricegate.test"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The message as a worker would try it again: at the address it was tried at, and at the corrected one.
    let link_in = |row: outbox::Model| {
        let store = app.store.clone();
        async move {
            let minted = store.mint_ack_links(vec![row]).await.expect("minted");
            let text = &minted[0].text_body;
            let at = text.find("/ack/").expect("a link") + "/ack/".len();
            text[at..at + 48].to_owned()
        }
    };
    let old_address = link_in(sent.clone()).await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let (status, body) = page(method, &format!("{}/ack/{old_address}", app.base)).await;
        assert_eq!(status, 410, "{body}");
    }
    let corrected = link_in(outbox::Model { to_addr: "mia.right@pricegate.test".into(), ..sent }).await;
    let (status, body) = page(reqwest::Method::GET, &format!("{}/ack/{corrected}", app.base)).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

/// A retry minted while an administrator's correction of the address is
/// being written waits for it, and its link is born expired: the
/// correction ends the person's links when it writes the address, so a link
/// minted from the old address just before the correction commits would
/// otherwise be left working. PostgreSQL, where the two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_minted_during_an_address_correction_carries_no_working_link() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let MiaMailed { sink: _sink, app, mia, sent, .. } = mia_mailed(pricegate_tests::Backend::Postgres).await;
    // The correction, half written: the address changed and the person's links
    // ended, as `update_user` does under the row's lock, not yet committed.
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let correction = other.begin().await.unwrap();
    let id = mia.id.to_string();
    correction
        .execute_unprepared(&format!("UPDATE users SET email = 'mia.right@pricegate.test' WHERE id = '{id}'"))
        .await
        .unwrap();
    correction
        .execute_unprepared(&format!(
            "UPDATE ack_tokens SET expires_at = now() WHERE user_id = '{id}' AND used_at IS NULL AND expires_at > now()"
        ))
        .await
        .unwrap();
    // The worker tries the message again meanwhile, at the address it was tried at.
    let store = app.store.clone();
    let retry = tokio::spawn(async move { store.mint_ack_links(vec![sent]).await.expect("minted") });
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    assert!(!retry.is_finished(), "the mint finished before the correction was in");
    correction.commit().await.unwrap();
    let minted = tokio::time::timeout(WAIT, retry).await.expect("the mint went on once the correction was in").unwrap();
    let text = &minted[0].text_body;
    let at = text.find("/ack/").expect("a link") + "/ack/".len();
    let token = &text[at..at + 48];
    let (status, body) = page(reqwest::Method::POST, &format!("{}/ack/{token}", app.base)).await;
    assert_eq!(status, 410, "{body}");
    other.close().await.ok();
    app.stop().await;
}

/// Mia presses her e-mail's link just as she acknowledges in the browser,
/// whose acknowledgement commits after the link found none and before it
/// writes its own. The link then says the notice was acknowledged already
/// (409), as it does when pressed after, and stays unused: one
/// acknowledgement, the browser's. PostgreSQL, where the two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_pressed_as_the_notice_is_acknowledged_another_way_says_it_was() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let MiaMailed { sink, app, mia, notice, .. } = mia_mailed(pricegate_tests::Backend::Postgres).await;
    let link = sink.to(&mia.email)[0].ack_link().expect("Mia's link");
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let browser = other.begin().await.unwrap();
    browser
        .execute_unprepared(&format!(
            "INSERT INTO acknowledgements (id, notice_id, user_id, acknowledged_at, notice_published_at, channel) \
             SELECT '{}', id, '{}', clock_timestamp(), published_at, 'web' FROM notices WHERE id = '{notice}'",
            uuid::Uuid::new_v4(),
            mia.id
        ))
        .await
        .unwrap();
    let url = link.clone();
    let pressed = tokio::spawn(async move { page(reqwest::Method::POST, &url).await });
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    assert!(!pressed.is_finished(), "the link's acknowledgement waits for the browser's");
    browser.commit().await.unwrap();
    let (status, body) = tokio::time::timeout(WAIT, pressed).await.expect("the link answers").unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("Already acknowledged") && body.contains("You already acknowledged"), "{body}");
    use pricegate_store::entity::acknowledgements as acks;
    let recorded: Vec<String> = acks::Entity::find()
        .filter(acks::Column::UserId.eq(mia.id))
        .all(app.store.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.channel)
        .collect();
    assert_eq!(recorded, ["web"]);
    let used = ack_tokens::Entity::find()
        .filter(ack_tokens::Column::UserId.eq(mia.id))
        .filter(ack_tokens::Column::UsedAt.is_not_null())
        .count(app.store.connection())
        .await
        .unwrap();
    assert_eq!(used, 0, "the link was not used up");
    other.close().await.ok();
    app.stop().await;
}

/// Mia presses her e-mail's link while an administrator deactivates her:
/// the deactivation has locked her row and goes on to end her links. The
/// link waits for her row before it takes its own lock, in the order the
/// deactivation takes them, so neither waits for the other (PostgreSQL
/// would end one of them as a deadlock, a 500 or a "try again"); once the
/// deactivation is in, the link acknowledges nothing. PostgreSQL, where the
/// two run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_pressed_while_its_person_is_deactivated_waits_and_acknowledges_nothing() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let MiaMailed { sink, app, mia, .. } = mia_mailed(pricegate_tests::Backend::Postgres).await;
    let link = sink.to(&mia.email)[0].ack_link().expect("Mia's link");
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    // The deactivation, as `update_user` takes its locks: her row first.
    let deactivation = other.begin().await.unwrap();
    let id = mia.id.to_string();
    deactivation.execute_unprepared(&format!("SELECT id FROM users WHERE id = '{id}' FOR UPDATE")).await.unwrap();
    let url = link.clone();
    let pressed = tokio::spawn(async move { page(reqwest::Method::POST, &url).await });
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    // Then her links, which the link being pressed must not be holding.
    let ended = format!("UPDATE ack_tokens SET expires_at = now() WHERE user_id = '{id}' AND used_at IS NULL");
    let ended = tokio::time::timeout(Duration::from_secs(5), deactivation.execute_unprepared(&ended)).await;
    assert!(ended.as_ref().is_ok_and(Result::is_ok), "ending her links waited on the link, or deadlocked: {ended:?}");
    deactivation.execute_unprepared(&format!("UPDATE users SET active = false WHERE id = '{id}'")).await.unwrap();
    deactivation.commit().await.unwrap();
    let (status, body) = tokio::time::timeout(WAIT, pressed).await.expect("the link answers").unwrap();
    assert!((400..500).contains(&status), "{status}: {body}");
    use pricegate_store::entity::acknowledgements as acks;
    let recorded = acks::Entity::find().filter(acks::Column::UserId.eq(mia.id)).count(app.store.connection()).await;
    assert_eq!(recorded.unwrap(), 0, "{body}");
    other.close().await.ok();
    app.stop().await;
}

/// The other order: a retry's link being minted when an administrator
/// corrects the address. The correction waits for the mint, then ends the
/// link with the person's others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_corrected_while_a_link_is_minted_ends_that_link_too() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let MiaMailed { sink: _sink, app, admin, mia, notice, .. } = mia_mailed(pricegate_tests::Backend::Postgres).await;
    // The mint, half done: the address read under a share of the row's lock, the link written, not yet committed.
    let other = sea_orm::Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let mint = other.begin().await.unwrap();
    let id = mia.id.to_string();
    mint.execute_unprepared(&format!("SELECT email FROM users WHERE id = '{id}' FOR SHARE")).await.unwrap();
    mint.execute_unprepared(&format!(
        "INSERT INTO ack_tokens (token_hash, notice_id, user_id, created_at, expires_at, used_at) \
         VALUES ('minted-during-the-correction', '{notice}', '{id}', now(), now() + interval '14 days', NULL)"
    ))
    .await
    .unwrap();
    // The administrator corrects the address meanwhile.
    let corrected = tokio::spawn(async move {
        admin.patch(&format!("/api/v1/users/{id}"), &json!({"email": "mia.right@pricegate.test"})).await
    });
    pricegate_tests::db::until_one_waits_for_a_lock(&other).await;
    assert!(!corrected.is_finished(), "the correction went ahead of the mint");
    mint.commit().await.unwrap();
    let r = tokio::time::timeout(WAIT, corrected).await.expect("the correction went on once the mint was in").unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let link = ack_tokens::Entity::find_by_id("minted-during-the-correction".to_owned())
        .one(app.store.connection())
        .await
        .unwrap()
        .expect("the link");
    assert!(link.expires_at <= chrono::Utc::now(), "the link minted meanwhile was ended: {link:?}");
    other.close().await.ok();
    app.stop().await;
}

/// The link's page says why a notice changes a draft's total by nothing, as
/// the e-mail does: a later notice has set the price since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_page_says_why_a_notice_changes_a_total_by_nothing() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    let qid = draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await["id"].as_str().unwrap().to_owned();
    let today = chrono::Utc::now().date_naive().to_string();
    let first = create_notice(
        &finance,
        "Pumps up",
        json!([{"sku": "PUMP-1", "unit_price_minor": 260_000, "effective_on": today}]),
    )
    .await;
    publish_notice(&finance, &first).await;
    let mails = sink.wait_until(WAIT, "the first notice's e-mail", |m| !m.is_empty()).await;
    let link = mails[0].ack_link().expect("a link");
    let second = create_notice(
        &finance,
        "Pumps up again",
        json!([{"sku": "PUMP-1", "unit_price_minor": 270_000, "effective_on": today}]),
    )
    .await;
    publish_notice(&finance, &second).await;

    let sam_session = log_in(&app.base, &sam_user.email, PASSWORD).await.session.expect("Sam logs in").0;
    let (status, body) = page_logged_in(reqwest::Method::GET, &link, Some(&sam_session)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(
            "Greta Berg: its total does not change by this notice: a later notice has set the price of PUMP-1 since"
        ) && !body.contains("0.00 EUR on its total"),
        "{qid}: {body}"
    );
    app.stop().await;
}

/// A notice of more changes than an e-mail lists: each salesperson's lists
/// those of the products on the drafts it holds up, or else the first, and
/// says how many more there are; the page its link opens lists every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_notice_mails_the_changes_on_the_readers_drafts_and_its_link_opens_them_all() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    let (_, rita) = app.user(Role::Sales, "Rita").await;
    let skus: Vec<String> = (0..60).map(|i| format!("VALVE-{i:02}")).collect();
    for sku in &skus {
        create_product(&finance, sku, "EUR", 10_000).await;
    }
    let lines = json!([{"sku": "VALVE-42", "quantity": 1}, {"sku": "VALVE-07", "quantity": 3}, {"sku": "VALVE-13", "quantity": 1}]);
    draft_quote(&sam, lines).await;
    // VALVE-13's price is restated, not changed: not one of Sam's to list.
    let price = |sku: &str| if sku == "VALVE-13" { 10_000 } else { 11_000 };
    let changes: Vec<Value> = skus
        .iter()
        .map(|sku| json!({"sku": sku, "unit_price_minor": price(sku), "effective_on": "2099-01-01"}))
        .collect();
    let notice = create_notice(&finance, "Valves up 10%", json!(changes)).await;
    publish_notice(&finance, &notice).await;
    sink.wait_until(WAIT, "Sam's and Rita's e-mails", |m| m.len() >= 2).await;
    let listed = |part: &str| skus.iter().filter(|sku| part.contains(sku.as_str())).cloned().collect::<Vec<_>>();
    let words = |part: String| part.split_whitespace().collect::<Vec<_>>().join(" ");

    let sams = &sink.to(&sam_user.email)[0];
    let (text, html) = (words(sams.text()), words(sams.html()));
    for part in [&text, &html] {
        assert_eq!(
            listed(part),
            ["VALVE-07", "VALVE-42"],
            "the changes on Sam's draft, as the notice lists them: {part}"
        );
        assert!(
            part.contains(
                "It makes 60 price changes. Listed below are the 2 on your quote, then the one quote of yours it holds up; \
                 the link to acknowledge it, after them, opens all 60."
            ) && part.contains("Price changes on your quote")
                && part.contains("And 58 more changes, not listed here: the link to acknowledge the notice, below,")
                && part.contains("Read all 60 changes, then acknowledge the notice"),
            "{part}"
        );
    }
    assert!(text.contains("100.00 EUR -> 110.00 EUR from 2099-01-01"), "{text}");

    let ritas = &sink.to(&rita.email)[0];
    let text = words(ritas.text());
    assert_eq!(listed(&text), skus[..20], "no draft of Rita's: the first 20: {text}");
    assert!(
        text.contains("Listed below are the first 20; the link to acknowledge it, after them, opens all 60.")
            && text.contains("The first 20 price changes:")
            && text.contains("And 40 more changes, not listed here"),
        "{text}"
    );
    let (status, page) = page(reqwest::Method::GET, &ritas.ack_link().expect("a link")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(listed(&page), skus, "the link's page lists every change, before its button");
    assert!(page.find("VALVE-59") < page.find("I have read this notice"), "{page}");
    app.stop().await;
}

/// The parts of `html` after `from` and before the next `to`, each begun by `each`.
fn pieces<'a>(html: &'a str, from: &str, to: &str, each: &str) -> Vec<&'a str> {
    html.split(from).nth(1).and_then(|rest| rest.split(to).next()).unwrap_or_default().split(each).skip(1).collect()
}

/// A salesperson with more drafts than the link's page lists sees first
/// those the notice changes, not the first drafted, nor those it prices
/// at the price they carry; the publish confirmation, the e-mail, the
/// notice's page and finance's dashboard list them in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_page_lists_first_the_drafts_the_notice_changes() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "PUMP-1", "EUR", 250_000).await;
    create_product(&finance, "HOSE-1", "EUR", 1_000).await;
    let mut hoses = Vec::new();
    for _ in 0..11 {
        hoses.push(
            draft_quote(&sam, json!([{"sku": "HOSE-1", "quantity": 1}])).await["id"].as_str().unwrap().to_owned(),
        );
    }
    let pumps = draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await["id"].as_str().unwrap().to_owned();
    // Changed only by a price dated after its validity (2099-12-31): changed all the same.
    create_product(&finance, "VALVE-1", "EUR", 1_000).await;
    let valves = draft_quote(&sam, json!([{"sku": "VALVE-1", "quantity": 1}])).await["id"].as_str().unwrap().to_owned();
    let today = chrono::Utc::now().date_naive().to_string();
    let notice = create_notice(
        &finance,
        "Pumps up",
        // The hoses' price restated: it prices the 11 others, and changes none of them.
        json!([
            {"sku": "HOSE-1", "unit_price_minor": 1_000, "effective_on": today},
            {"sku": "PUMP-1", "unit_price_minor": 260_000, "effective_on": today},
            {"sku": "VALVE-1", "unit_price_minor": 1_500, "effective_on": "2100-01-05"},
        ]),
    )
    .await;
    // Its publish confirmation lists the drafts it changes first (the pumps',
    // then the valves'), then the hoses' in drafting order, each changed by
    // nothing (not "0.00 EUR").
    let confirm = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    // Its heading's row, then the drafts'.
    let rows = pieces(&confirm, "<table id=\"touched\"", "</tbody>", "<tr>");
    let rows = &rows[1..];
    assert_eq!(rows.len(), 13, "{confirm}");
    assert!(rows[0].contains(&format!("/quotes/{pumps}")) && rows[0].contains("+200.00 EUR"), "{confirm}");
    assert!(
        rows[1].contains(&format!("/quotes/{valves}"))
            && rows[1].contains(">none while it is valid; +5.00 EUR from prices dated after 2099-12-31</td>"),
        "{confirm}"
    );
    for (row, hose) in rows[2..].iter().zip(&hoses) {
        assert!(row.contains(&format!("/quotes/{hose}")) && row.contains(">none while it is valid</td>"), "{row}");
    }
    assert!(!confirm.contains(">0.00 EUR</td>"), "{confirm}");
    publish_notice(&finance, &notice).await;
    let mails = sink.wait_until(WAIT, "the notice's e-mail", |m| !m.is_empty()).await;
    // The e-mail lists all 12, the pumps' draft, the one it changes, first.
    let text = mails[0].text();
    let held = text.split("drafted before the notice):").nth(1).unwrap_or_default();
    assert_eq!(held.matches("/quotes/").count(), 13, "{text}");
    let first = held.find("/quotes/").expect("a quote's address");
    assert_eq!(held.find(&format!("/quotes/{pumps}")), Some(first), "the pumps' draft first: {text}");
    let valves_at = held.find(&format!("/quotes/{valves}")).expect("the valves' draft in the e-mail");
    assert!(hoses.iter().all(|h| held.find(&format!("/quotes/{h}")).is_some_and(|at| at > valves_at)), "{text}");
    let link = mails[0].ack_link().expect("a link");
    let sam_session = log_in(&app.base, &sam_user.email, PASSWORD).await.session.expect("Sam logs in").0;
    let (status, body) = page_logged_in(reqwest::Method::GET, &link, Some(&sam_session)).await;
    assert_eq!(status, 200, "{body}");
    let listed = body.split("id=\"held-up\"").nth(1).and_then(|rest| rest.split("</ul>").next()).unwrap_or_default();
    assert!(
        listed.split("<li>").nth(1).is_some_and(
            |first| first.contains(&format!("/quotes/{pumps}")) && first.contains("+200.00 EUR on its total")
        ),
        "the pumps' draft first, with what the notice does to it: {listed}"
    );
    assert!(
        body.contains("And 3 more: <a href=\"/quotes?state=draft\">your draft quotes</a> show each."),
        "13 drafts, 10 listed, and where the rest are: {body}"
    );
    // So does the notice's own page, with what it does to each, where the link's page leads to log in.
    let notice_page =
        page_logged_in(reqwest::Method::GET, &format!("{}/notices/{notice}", app.base), Some(&sam_session)).await.1;
    let entries = pieces(&notice_page, "<ul class=\"held-up\" id=\"held-up\">", "</ul>", "<li>");
    assert_eq!(entries.len(), 13, "{notice_page}");
    assert!(notice_page.contains("includes any earlier notice's change the quote does not carry yet"), "{notice_page}");
    assert!(
        entries[0].contains(&format!("/quotes/{pumps}"))
            && entries[0].contains("· total 5,000.00 EUR · +200.00 EUR while it is valid"),
        "{notice_page}"
    );
    assert!(
        entries[1].contains(&format!("/quotes/{valves}"))
            && entries[1].contains("· no change while it is valid; +5.00 EUR from prices dated after 2099-12-31"),
        "{notice_page}"
    );
    for (entry, hose) in entries[2..].iter().zip(&hoses) {
        assert!(
            entry.contains(&format!("/quotes/{hose}")) && entry.contains("· no change while it is valid<"),
            "{entry}"
        );
    }
    // Finance's dashboard lists Sam's first ten, one to a line, those the notice changes first,
    // and all 13 from the link under them.
    let dashboard =
        pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    let cell = |page: &str| {
        page.split("<ul class=\"held-up\">").nth(1).and_then(|c| c.split("</ul>").next()).unwrap_or_default().to_owned()
    };
    assert_eq!(cell(&dashboard).matches("<li>").count(), 10, "{dashboard}");
    let all = format!("/notices/{notice}/dashboard?all={}", sam_user.id);
    assert!(dashboard.contains(&format!("and 3 more · <a href=\"{all}#person-{}\">list all 13</a>", sam_user.id)));
    let dashboard = pricegate_tests::pages::page_as(&app.base, &fiona.email, &all).await;
    assert_eq!(cell(&dashboard).matches("<li>").count(), 13, "{dashboard}");
    assert!(
        cell(&dashboard)
            .split("<li>")
            .nth(1)
            .is_some_and(|first| first.contains(&format!("/quotes/{pumps}")) && first.contains("+200.00 EUR")),
        "{dashboard}"
    );
    app.stop().await;
}

/// Once finance approves keeping a draft's old price, a notice that raised
/// it changes that draft by nothing while it waits to be acknowledged: the
/// quote's page, the gate, the link's page, the reminders and finance's own
/// escalation all say so, and count nothing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_finance_approved_keeping_counts_nothing_in_the_notice_s_figures() {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |s| {
        s.reminders = vec![Duration::from_secs(3), Duration::from_secs(4)]
    })
    .await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "PUMP-C250", "EUR", 149_000).await;
    create_product(&finance, "VALVE-1", "EUR", 10_000).await;
    let qid = draft_quote(&sam, json!([{"sku": "PUMP-C250", "quantity": 40}, {"sku": "VALVE-1", "quantity": 2}])).await
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = chrono::Utc::now().date_naive().to_string();
    let nid = create_notice(
        &finance,
        "Pump prices rise 8%",
        json!([
            {"sku": "PUMP-C250", "unit_price_minor": 161_000, "effective_on": today},
            {"sku": "VALVE-1", "unit_price_minor": 11_000, "effective_on": today}
        ]),
    )
    .await;
    publish_notice(&finance, &nid).await;
    let mails = sink.wait_until(WAIT, "the notice's e-mail", |m| !m.is_empty()).await;
    let link = mails[0].ack_link().expect("a link");
    let gate = sam.get(&format!("/api/v1/quotes/{qid}/gate")).await;
    assert_eq!(gate.body["pending"][0]["impact"]["total_delta_minor"], json!(40 * 12_000 + 2 * 1_000), "{}", gate.text);

    // Finance keeps the old prices: both lines carry one no longer in force.
    let r = finance.post(&format!("/api/v1/quotes/{qid}/override"), &json!({"reason": "Framework agreement"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gate = sam.get(&format!("/api/v1/quotes/{qid}/gate")).await;
    let impact = &gate.body["pending"][0]["impact"];
    assert_eq!(impact["total_delta_minor"], json!(0), "{}", gate.text);
    assert_eq!(impact["delta_while_valid_minor"], json!(0), "{}", gate.text);
    assert_eq!(impact["lines"][0]["waived_by_approval"], json!(true), "{}", gate.text);

    let sam_session = log_in(&app.base, &sam_user.email, PASSWORD).await.session.expect("Sam logs in").0;
    let (status, body) =
        page_logged_in(reqwest::Method::GET, &format!("{}/quotes/{qid}", app.base), Some(&sam_session)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("finance approved keeping the price quoted"), "the card's lines say why: {body}");
    let card = body.split("pending-notice\">").nth(1).expect("the notice's card");
    let card = card.split("</tfoot>").next().expect("its table");
    assert!(
        card.contains("</span>)</th><td class=\"num\">0.00 EUR</td>")
            && card.contains(
                "<th colspan=\"6\" scope=\"row\">Change to the total while this quote is valid (until <span class=\"date\">"
            ),
        "nothing counted: {card}"
    );
    assert!(body.contains("the approval waives that"), "the approval's own section says what it waives: {body}");
    let (status, body) = page_logged_in(reqwest::Method::GET, &link, Some(&sam_session)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(
            "its total does not change by this notice: finance approved keeping the price quoted for PUMP-C250, VALVE-1"
        ),
        "{body}"
    );

    let messages = sink.wait_until(WAIT, "the escalation", |m| m.iter().any(|m| m.to.contains(&fiona.email))).await;
    let escalation = messages.iter().find(|m| m.to.contains(&fiona.email)).expect("the escalation");
    assert_eq!(
        escalation.header("subject"),
        Some(format!("Escalation: {} has not acknowledged \"Pump prices rise 8%\"", sam_user.name)),
        "who, in the subject"
    );
    let reminders: Vec<_> =
        sink.to(&sam_user.email).into_iter().filter(|m| m.header("subject").unwrap().starts_with("Reminder")).collect();
    assert_eq!(reminders.len(), 2, "two reminders");
    for said in reminders.iter().map(|m| m.text()).chain([escalation.text()]) {
        assert!(
            said.contains("its total does not change by this notice: finance approved keeping the price quoted for PUMP-C250, VALVE-1"),
            "{said}"
        );
        assert!(!said.contains("+4,820.00 EUR"), "{said}");
    }
    app.stop().await;
}

both_backends! {
    async fn tampered_expired_used_and_foreign_links_are_refused_and_record_nothing(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = spawn_with_mail(backend, &sink, |_| {}).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        let (_, olga) = app.user(Role::Sales, "Olga").await;
        let (_, dora) = app.user(Role::Sales, "Dora").await;
        let (_, mia) = app.user(Role::Sales, "Mia").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        create_product(&finance, "PUMP-1", "EUR", 250000).await;
        let nid = publish_pump_notice(&finance).await;
        sink.wait_until(WAIT, "five publication e-mails", |m| m.len() >= 5).await;
        let link_of = |email: &str| sink.to(email)[0].ack_link().expect("a link");
        let sam_link = link_of(&sam_user.email);

        // Tampered: one character changed, cut short, or not a token at all.
        let last = sam_link.chars().last().unwrap();
        let tampered = format!("{}{}", &sam_link[..sam_link.len() - 1], if last == 'A' { 'B' } else { 'A' });
        for bad in [tampered.clone(), sam_link[..sam_link.len() - 5].to_owned(), format!("{}/ack/%00%ff", app.base), format!("{}/ack/x", app.base)] {
            for method in [reqwest::Method::GET, reqwest::Method::POST] {
                let (status, body) = page(method.clone(), &bad).await;
                assert_eq!(status, 404, "{method} {bad}: {body}");
                assert!(body.contains("not valid: it has been altered") && body.contains("Nothing was recorded"), "{body}");
            }
        }
        // A link mailed before links carried check bytes (43 characters) still works.
        let legacy = pricegate_store::random_token().unwrap();
        let now = chrono::Utc::now();
        pricegate_store::entity::ack_tokens::Entity::insert(pricegate_store::entity::ack_tokens::ActiveModel {
            token_hash: sea_orm::ActiveValue::Set(pricegate_store::hash_token(&legacy)),
            notice_id: sea_orm::ActiveValue::Set(uuid::Uuid::parse_str(&nid).unwrap()),
            user_id: sea_orm::ActiveValue::Set(rita.id),
            created_at: sea_orm::ActiveValue::Set(now),
            expires_at: sea_orm::ActiveValue::Set(now + chrono::Duration::days(1)),
            used_at: sea_orm::ActiveValue::Set(None),
        })
        .exec_without_returning(app.store.connection())
        .await
        .unwrap();
        let (status, body) = page(reqwest::Method::GET, &format!("{}/ack/{legacy}", app.base)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Pumps up 10%"), "{body}");
        // Whole, with check bytes that match, but never sent here.
        let token = sam_link.rsplit('/').next().unwrap();
        assert_eq!(token.len(), 48, "{sam_link}");
        let unknown = pricegate_store::new_link_token().unwrap();
        let (status, body) = page(reqwest::Method::POST, &format!("{}/ack/{unknown}", app.base)).await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("not valid: it is unknown here") && body.contains("Nothing was recorded"), "{body}");

        // Foreign: a genuine link of another Pricegate (another database).
        let other_sink = SmtpSink::start().await;
        let other = spawn_with_mail(pricegate_tests::Backend::Sqlite, &other_sink, |_| {}).await;
        let (other_finance, _) = other.user(Role::Finance, "Fiona").await;
        let (_, other_sam) = other.user(Role::Sales, "Sam").await;
        create_product(&other_finance, "PUMP-1", "EUR", 250000).await;
        publish_pump_notice(&other_finance).await;
        other_sink.wait_until(WAIT, "the other publication e-mail", |m| !m.is_empty()).await;
        let foreign = other_sink.to(&other_sam.email)[0].ack_link().unwrap();
        let foreign_here = foreign.replace(&other.base, &app.base);
        let (status, body) = page(reqwest::Method::POST, &foreign_here).await;
        assert_eq!(status, 404);
        assert!(body.contains("unknown here") && body.contains("never sent it"), "{body}");

        // A cross-site form post is refused even with a valid token.
        let r = client().post(&sam_link).header("origin", "https://evil.example").header("sec-fetch-site", "cross-site").send().await.unwrap();
        assert_eq!(r.status(), 403);

        // Already acknowledged through the API: the link says so.
        let r = sam.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let (status, body) = page(reqwest::Method::POST, &sam_link).await;
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("You already acknowledged “Pumps up 10%” at "), "which notice: {body}");
        // Opened where Olga is logged in, the page does not tell her she did.
        let olga_session = log_in(&app.base, &olga.email, PASSWORD).await.session.expect("Olga logs in").0;
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, body) = page_logged_in(method.clone(), &sam_link, Some(&olga_session)).await;
            assert_eq!(status, 409, "{method}: {body}");
            assert!(
                body.contains("This link is Sam&#39;s, and you are logged in as Olga. Sam already acknowledged “Pumps up 10%” at "),
                "{method}: {body}"
            );
            assert!(!body.contains("You already") && body.contains("Nothing was recorded for you"), "{method}: {body}");
        }

        // Expired: Rita's link runs out (moved into the past in the database).
        let rita_link = link_of(&rita.email);
        let past = chrono::Utc::now() - chrono::Duration::hours(1);
        ack_tokens::Entity::update_many()
            .col_expr(ack_tokens::Column::ExpiresAt, Expr::value(past))
            .filter(ack_tokens::Column::UserId.eq(rita.id))
            .exec(app.store.connection())
            .await
            .unwrap();
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, body) = page(method, &rita_link).await;
            assert_eq!(status, 410, "{body}");
            assert!(body.contains("expired") && body.contains("This link, to acknowledge “Pumps up 10%”, no longer works"), "{body}");
        }

        // Deactivated: Dora has left; her link says so, and acknowledges nothing.
        let r = admin.patch(&format!("/api/v1/users/{}", dora.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, body) = page(method, &link_of(&dora.email)).await;
            assert_eq!(status, 403, "{body}");
            assert!(body.contains("no longer active"), "{body}");
            assert!(!body.contains("id=\"your-notices\""), "no notices to open for a deactivated account: {body}");
        }
        // Back, her link does not come back with her: whoever had her mailbox
        // meanwhile cannot acknowledge for her with it.
        let r = admin.patch(&format!("/api/v1/users/{}", dora.id), &json!({"active": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, body) = page(method, &link_of(&dora.email)).await;
            assert_eq!(status, 410, "{body}");
            assert!(body.contains("expired"), "{body}");
        }

        // Mia's address was mistyped, and is corrected: whoever reads mail there cannot acknowledge for her.
        let mia_link = link_of(&mia.email);
        let r = admin.patch(&format!("/api/v1/users/{}", mia.id), &json!({"email": "mia.right@pricegate.test"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, body) = page(method, &mia_link).await;
            assert_eq!(status, 410, "{body}");
            assert!(body.contains("expired") && body.contains("see whether this one still waits for you, and acknowledge it there.") && !body.contains("reminder"), "{body}");
        }
        let audit = admin.get("/api/v1/audit?action=user.updated").await;
        assert_eq!(audit.body[0]["detail"]["ack_links_ended"], 1, "{}", audit.text);

        // Nothing of that recorded an acknowledgement: only Sam's (by API).
        let acks = acknowledgements(&finance, &nid).await;
        assert_eq!(acks["acknowledged"].as_array().unwrap().len(), 1, "{acks}");
        assert_eq!(acks["acknowledged"][0]["channel"], "api");
        let pending: HashSet<String> = acks["pending"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect();
        assert_eq!(
            pending,
            HashSet::from([rita.email.clone(), olga.email.clone(), dora.email.clone(), "mia.right@pricegate.test".to_owned()])
        );

        // Olga's untouched link, forwarded to Sam and pressed where he is
        // logged in: refused, recording nothing; the page has no button.
        let sam_session = log_in(&app.base, &sam_user.email, PASSWORD).await.session.expect("Sam logs in").0;
        let (status, body) = page_logged_in(reqwest::Method::GET, &link_of(&olga.email), Some(&sam_session)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Only Olga acknowledges with it.") && !body.contains("<form method=\"post\""), "{body}");
        let (status, body) = page_logged_in(reqwest::Method::POST, &link_of(&olga.email), Some(&sam_session)).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("This link is Olga&#39;s, and you are logged in as Sam: nothing was recorded."), "{body}");
        assert_eq!(acknowledgements(&finance, &nid).await["acknowledged"].as_array().unwrap().len(), 1);
        // It still works for Olga.
        let (status, body) = page(reqwest::Method::POST, &link_of(&olga.email)).await;
        assert_eq!(status, 200, "{body}");
        // Used, it is Olga's acknowledgement it recorded: hers, logged in
        // or not; Sam's, logged in, reads her name.
        let (status, body) = page_logged_in(reqwest::Method::GET, &link_of(&olga.email), Some(&olga_session)).await;
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("It recorded your acknowledgement of “Pumps up 10%” at "), "{body}");
        let (status, body) = page_logged_in(reqwest::Method::POST, &link_of(&olga.email), Some(&sam_session)).await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body.contains("This link is Olga&#39;s, and you are logged in as Sam. It recorded Olga&#39;s acknowledgement of “Pumps up 10%” at "),
            "{body}"
        );
        assert!(!body.contains("your acknowledgement"), "{body}");

        // Mia acknowledges in Pricegate; the link that went to the mistyped
        // address still reads as expired, telling its holder nothing of her
        // (only the notice it was for, which the e-mail they hold says).
        let mia_session = app.login("mia.right@pricegate.test", PASSWORD).await;
        assert_eq!(mia_session.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await.status, 200);
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let (status, body) = page(method, &mia_link).await;
            assert_eq!(status, 410, "{body}");
            assert!(body.contains("This link has expired") && !body.contains("already") && !body.contains("Mia"), "{body}");
        }
        drop(other);
    }
}

/// The link as a person follows it: Chromium opens it from the e-mail and the
/// button records the acknowledgement, by the `email` channel. (The page
/// keeps its address out of every Referer to other sites; a browser posting
/// the form back to its own site must still be let through.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_acknowledges_from_the_e_mail_in_a_browser() {
    use pricegate_tests::browser::{Page, with_browsers};

    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(pricegate_tests::Backend::Sqlite, &sink, |_| {}).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    let (ana_api, ana) = app.user(Role::Sales, "Ana").await;
    create_product(&finance, "PUMP-1", "EUR", 250000).await;
    create_product(&finance, "VALVE-1", "EUR", 5000).await;
    // Two drafts Sam signs: his own, and Ana's whose validity has ended;
    // then three notices.
    let current = draft_quote(&sam_api, json!([{"sku": "PUMP-1", "quantity": 4}])).await;
    let current = current["id"].as_str().unwrap().to_owned();
    let lapsed = draft_quote_signed_by(&ana_api, json!([{"sku": "VALVE-1", "quantity": 10}]), sam.id).await;
    let lapsed = lapsed["id"].as_str().unwrap().to_owned();
    pricegate_tests::fixtures::lapse_quote(&app, &lapsed).await;
    let nid = publish_pump_notice(&finance).await;
    let valves = create_notice(
        &finance,
        "Valves down",
        json!([{"sku": "VALVE-1", "unit_price_minor": 4500, "effective_on": "2099-01-01"}]),
    )
    .await;
    publish_notice(&finance, &valves).await;
    let seals = create_notice(&finance, "Seals", json!([])).await;
    publish_notice(&finance, &seals).await;
    let notice_mail =
        |m: &pricegate_tests::smtp::Received| m.header("subject").is_some_and(|s| s.starts_with("Price notice"));
    sink.wait_until(WAIT, "three publication e-mails each to Sam and Ana", |m| {
        m.iter().filter(|m| notice_mail(m)).count() >= 6
    })
    .await;
    let link_about = |subject: &str| {
        let mails = sink.to(&sam.email);
        let mail = mails.iter().find(|m| m.header("subject").is_some_and(|s| s.contains(subject)));
        mail.and_then(|m| m.ack_link()).unwrap_or_else(|| panic!("a link in the e-mail about {subject}"))
    };
    let (link, valves_link, seals_link) = (link_about("Pumps up 10%"), link_about("Valves down"), link_about("Seals"));
    let anas_link = sink
        .to(&ana.email)
        .iter()
        .find(|m| m.header("subject").is_some_and(|s| s.contains("Seals")))
        .and_then(|m| m.ack_link())
        .expect("Ana's link about the seals");
    let base = app.base.clone();
    let sam_email = sam.email.clone();
    // The e-mail itself, as a phone's mail app shows its HTML part.
    let letter = app.db.dir().join("pumps-up-letter.html");
    let mails = sink.to(&sam.email);
    let pumps = mails.iter().find(|m| m.header("subject").is_some_and(|s| s.contains("Pumps up 10%")));
    std::fs::write(&letter, pumps.expect("the e-mail about the pumps").html()).expect("write the letter");
    let letter = format!("file://{}", letter.display());
    let log_in_to_see = format!("/login?next=/notices/{nid}");

    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        let path = link.strip_prefix(&base).expect("the link points at this server").to_owned();
        // Opened from a phone's mail app, most often: it fits one.
        page.client.set_window_size(390, 844).await.expect("a phone-sized window");
        page.client.goto(&letter).await.expect("the letter opens");
        let text = page.body().await;
        assert!(text.contains("PUMP-1") && text.contains("What the notice does to it"), "{text}");
        let widths = page
            .client
            .execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];", vec![])
            .await
            .expect("the letter's width");
        let (wide, window) = (widths[0].as_i64().unwrap_or(0), widths[1].as_i64().unwrap_or(0));
        assert!(wide <= window + 1, "the e-mail is {wide} px wide in a {window} px window");
        page.screenshot("49-notice-e-mail-phone").await;
        page.goto(&path).await;
        assert!(page.text("h1").await.contains("Pumps up 10%"));
        // Not logged in: the drafts it holds up are counted, with the way to them.
        let count = page.text("#held-up-count").await;
        assert!(
            count.starts_with(
                "It holds up 2 drafts Sam signs. Log in as Sam to see them on the notice's page in Pricegate, with what \
                 the notice does to each."
            ),
            "{count}"
        );
        // Logging in leads to the notice's page, never with the link's token in an address.
        assert_eq!(page.attribute("#log-in-to-see", "href").await, Some(log_in_to_see));
        let problems = page.usability_problems().await;
        assert!(problems.is_empty(), "the link's page at 390 px:\n{}", problems.join("\n"));
        page.screenshot("50-ack-link-phone").await;
        page.submit("button[type=submit]").await;
        let done = page.text("h1").await;
        assert!(done.contains("Thank you"), "after pressing the button: {done}; {}", page.body().await);
        // The time recorded, to the second, as the evidence keeps it.
        let body = page.body().await;
        let at = body.split("was recorded at ").nth(1).and_then(|rest| rest.get(..23)).unwrap_or_default();
        assert!(chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S UTC").is_ok(), "{at:?} in {body}");
        // Not logged in here (the link may have been forwarded): what it
        // leaves is counted, not named.
        assert_eq!(
            page.text("#held-up-summary").await,
            "It held up 2 drafts you sign; something else still holds up each of them."
        );
        assert_eq!(page.text("#still-summary").await, "2 more price notices wait for your acknowledgement.");
        assert!(!body.contains("Greta") && !body.contains("Valves down"), "{body}");
        let problems = page.usability_problems().await;
        assert!(problems.is_empty(), "the thank-you page at 390 px:\n{}", problems.join("\n"));
        // From there to the quotes: not logged in, so by way of the login.
        page.submit("#your-quotes").await;
        assert_eq!(page.path().await, "/login");
        page.log_in(&sam.email, pricegate_tests::PASSWORD).await;
        assert_eq!(page.path().await, "/quotes", "logging in leads to the quotes asked for");

        // Logged in, the next link's page names each draft it held up, with
        // what holds it up now, and the notice still to acknowledge.
        page.goto(valves_link.strip_prefix(&base).expect("the link points at this server")).await;
        page.submit("button[type=submit]").await;
        let reference = |id: &str| id.replace('-', "")[..8].to_owned();
        let row = |id: &str| format!("#held-up-{id}");
        assert_eq!(
            page.text(&row(&current)).await,
            format!("Greta Berg ({}): still waits for your acknowledgement of \u{201c}Seals\u{201d}", reference(&current))
        );
        assert_eq!(
            page.text(&row(&lapsed)).await,
            format!(
                "Greta Berg ({}): still waits for your acknowledgement of \u{201c}Seals\u{201d}; its validity has ended: \
                 its owner must extend it before it is finalised",
                reference(&lapsed)
            )
        );
        assert!(page.exists(&format!("{} a[href='/quotes/{lapsed}']", row(&lapsed))).await, "each draft is linked");
        let still = page.text("#still-to-acknowledge").await;
        assert!(
            still.starts_with("One more notice waits for your acknowledgement. Acknowledge it before finalising")
                && still.contains("Seals"),
            "{still}"
        );
        // The way to them all at once: the page of notices awaiting acknowledgement.
        assert!(page.exists("#still-to-acknowledge a#your-notices[href='/notices/awaiting']").await, "{still}");
        let problems = page.usability_problems().await;
        assert!(problems.is_empty(), "the thank-you page at 390 px:\n{}", problems.join("\n"));
        page.screenshot("51-ack-done-phone").await;
        // The last notice's link: Sam's own draft is ready, and nothing else waits.
        page.goto(seals_link.strip_prefix(&base).expect("the link points at this server")).await;
        page.submit("button[type=submit]").await;
        assert!(page.text(&row(&current)).await.ends_with(": ready to finalise"));
        assert_eq!(page.text("#nothing-else").await, "No other price notice waits for your acknowledgement.");
        // Ana's link, forwarded to Sam and opened where he is logged in: the
        // page says it is hers, offers no button, and names nothing of hers.
        page.goto(anas_link.strip_prefix(&base).expect("the link points at this server")).await;
        let warning = page.text("#not-yours").await;
        assert!(
            warning.starts_with("This link is Ana's, and you are logged in as Sam. Only Ana acknowledges with it."),
            "{warning}"
        );
        assert!(!page.exists("form[method=post]").await, "no button acknowledges for Ana: {}", page.body().await);
    })
    .await;
    let seals_acks = acknowledgements(&finance, &seals).await;
    let by: Vec<&Value> = seals_acks["acknowledged"].as_array().unwrap().iter().map(|a| &a["user"]["email"]).collect();
    assert_eq!(by, [&json!(sam_email)], "Sam's own, not Ana's: {seals_acks}");
    let acks = acknowledgements(&finance, &nid).await;
    let channel = acks["acknowledged"].as_array().and_then(|a| a.first()).map(|a| a["channel"].clone());
    assert_eq!(channel, Some(json!("email")), "{acks}");
}
