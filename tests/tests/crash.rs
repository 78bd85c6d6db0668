//! Crash safety: `kill -9` a real `pricegate serve` in the middle of a load of
//! quotes drafted, edited and repriced, publications, acknowledgements and
//! finalisations, restart it on the same database, and check that everything a client was told succeeded is
//! still there and whole, that the gate invariant holds, and that the outbox
//! still delivers every e-mail a publication owes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pricegate_domain::line_total;
use pricegate_tests::process::{ServerProcess, run_command};
use pricegate_tests::race::{
    Company, Person, RaceConfig, Rng, SeenFinalisation, SeenPublication, Servers, Tally, check_gate_invariant,
    seed_company,
};
use pricegate_tests::{Backend, PASSWORD, TestDb};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// Kills per backend.
const KILLS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_write_survives_kill_9_on_sqlite() {
    crash_and_recover(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_write_survives_kill_9_on_postgresql() {
    crash_and_recover(Backend::Postgres).await;
}

/// What the clients were told, with a 2xx, before and between the kills.
#[derive(Default)]
struct Answered {
    /// Each quote as the last 2xx about it (drafting, an edit, a reprice) showed it.
    quotes: HashMap<Uuid, (Uuid, Value)>,
    /// Quotes whose last write was sent but never answered (the server died):
    /// it may or may not have committed.
    unanswered: HashMap<Uuid, UnansweredWrite>,
    edits: usize,
    reprices: usize,
    /// Reprices that changed a price: the ones a kill could half-apply.
    reprices_that_moved_a_price: usize,
    publications: Vec<SeenPublication>,
    acks: HashMap<(Uuid, Uuid), DateTime<Utc>>,
    finalisations: Vec<SeenFinalisation>,
    /// Published notices, for salespeople to acknowledge.
    published: Vec<Uuid>,
}

/// A write to a quote that the server never answered.
#[derive(Clone, Debug)]
enum UnansweredWrite {
    /// An edit: if it committed, the quote has these notes and lines (sku, quantity, discount).
    Edit { notes: Value, lines: Vec<(Value, Value, Value)> },
    /// A reprice: if it committed, the lines are the same but re-snapshotted.
    Reprice,
}

async fn crash_and_recover(backend: Backend) {
    let db = TestDb::create(backend).await;
    let maildir = db.dir().join("mail-out");
    let maildir_str = maildir.to_str().expect("a UTF-8 path").to_owned();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("PRICEGATE_MAILDIR", maildir_str.as_str()),
        ("PRICEGATE_WORKER_POLL", "200ms"),
        // Mail the killed worker had claimed goes out again once its lease passes.
        ("PRICEGATE_MAIL_LEASE", "3s"),
    ];
    let admin_email = "admin@crash.pricegate.test";
    run_command(
        &["user", "create", "--email", admin_email, "--name", "Crash Admin", "--role", "admin", "--password-stdin"],
        &env,
        PASSWORD,
    )
    .await;

    let mut server = ServerProcess::start(&env).await;
    let servers = Servers::new(vec![server.base.clone()], Duration::from_secs(10));
    let admin = servers.login(0, admin_email, PASSWORD).await;
    let cfg = RaceConfig {
        salespeople: 4,
        tasks_per_salesperson: 1,
        finance_people: 1,
        quote_products: 4,
        spare_products: 4,
        initial_quotes: 0,
        duration: Duration::from_secs(1),
        time_limit: Duration::from_secs(1),
        min_finalise_attempts: 0,
        max_finalise_attempts: 0,
        publish_pause: (Duration::ZERO, Duration::ZERO),
    };
    let company = Arc::new(seed_company(&servers, &admin, &cfg).await);
    let answered = Arc::new(Mutex::new(Answered::default()));
    let mut rng = Rng::seeded();
    let mut survived = 0;

    for round in 0..KILLS {
        let servers = Servers::new(vec![server.base.clone()], Duration::from_secs(10));
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Vec::new();
        load.push(tokio::spawn(publish_until_gone(servers.clone(), company.clone(), answered.clone(), stop.clone())));
        for s in 0..company.sales.len() {
            load.push(tokio::spawn(sell_until_gone(
                servers.clone(),
                company.clone(),
                s,
                answered.clone(),
                stop.clone(),
            )));
        }
        // Let the load get going, then kill at a random moment within it.
        let (finalised_before, published_before) = {
            let a = answered.lock().unwrap();
            (a.finalisations.len(), a.publications.len())
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let going = {
                let a = answered.lock().unwrap();
                a.finalisations.len() >= finalised_before + 3 && a.publications.len() >= published_before + 3
            };
            if going {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(rng.between(Duration::from_millis(50), Duration::from_millis(600))).await;
        server.kill().await;
        stop.store(true, Ordering::Relaxed);
        for task in load {
            task.await.expect("a load task");
        }

        server = ServerProcess::start(&env).await;
        let servers = Servers::new(vec![server.base.clone()], Duration::from_secs(30));
        let problems = check_everything_answered_is_there(&servers, &company, &answered).await;
        assert!(
            problems.is_empty(),
            "{backend:?}, after kill {}: {} problems:\n  - {}",
            round + 1,
            problems.len(),
            problems.iter().take(20).cloned().collect::<Vec<_>>().join("\n  - ")
        );
        survived += 1;
    }

    let servers = Servers::new(vec![server.base.clone()], Duration::from_secs(30));
    let owed = check_every_publication_mail_is_delivered(&servers, &company, &admin, &answered, &maildir).await;
    server.kill().await;
    let a = answered.lock().unwrap();
    assert!(
        a.edits > 0 && a.reprices > 0,
        "the load edited {} quotes and repriced {}: too few to prove anything",
        a.edits,
        a.reprices
    );
    println!(
        "crash({backend:?}): {survived} kills survived; {} quotes, {} edits, {} reprices ({} moving a price), \
         {} publications, {} acknowledgements, {} finalisations answered 2xx and all still there \
         ({} writes cut off by a kill); {owed} publication e-mails delivered after the kills; 0 violations",
        a.quotes.len(),
        a.edits,
        a.reprices,
        a.reprices_that_moved_a_price,
        a.publications.len(),
        a.acks.len(),
        a.finalisations.len(),
        a.unanswered.len()
    );
}

/// A finance person creating and publishing notices until the server is gone.
async fn publish_until_gone(
    servers: Servers,
    company: Arc<Company>,
    answered: Arc<Mutex<Answered>>,
    stop: Arc<AtomicBool>,
) {
    let who = &company.finance[0];
    let mut rng = Rng::seeded();
    let today = Utc::now().date_naive().to_string();
    while !stop.load(Ordering::Relaxed) {
        // Some change a quoted product's price today: drafts then carry a
        // superseded price, and salespeople reprice them.
        let changes = match rng.below(10) {
            0..3 => {
                json!([{ "sku": rng.pick(&company.spare_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": today }])
            }
            3..8 => {
                json!([{ "sku": rng.pick(&company.quote_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": today }])
            }
            _ => json!([]),
        };
        let body =
            json!({ "title": format!("Notice {}", rng.below(1_000_000)), "body": "Read this.", "changes": changes });
        let Ok(r) = servers.call(0, Some(&who.token), Method::POST, "/api/v1/notices", Some(&body)).await else {
            return;
        };
        if r.status != 201 {
            continue;
        }
        let id = uuid_of(&r.body["id"]);
        let sent = Instant::now();
        let path = format!("/api/v1/notices/{id}/publish");
        let Ok(r) = servers.call(0, Some(&who.token), Method::POST, &path, None).await else { return };
        if r.status == 200 {
            let mut a = answered.lock().unwrap();
            a.publications.push(SeenPublication {
                notice_id: id,
                sent,
                answered: Instant::now(),
                seq: r.body["seq"].as_i64().unwrap_or(-1),
                published_at: time_of(&r.body["published_at"]),
            });
            a.published.push(id);
        }
        tokio::time::sleep(rng.between(Duration::from_millis(20), Duration::from_millis(150))).await;
    }
}

/// A salesperson drafting quotes, acknowledging notices and finalising, until the server is gone.
async fn sell_until_gone(
    servers: Servers,
    company: Arc<Company>,
    s: usize,
    answered: Arc<Mutex<Answered>>,
    stop: Arc<AtomicBool>,
) {
    let who = &company.sales[s];
    let mut rng = Rng::seeded();
    let mut drafts: Vec<Uuid> = Vec::new();
    let mut acked: HashSet<Uuid> =
        answered.lock().unwrap().acks.keys().filter(|(_, u)| *u == who.id).map(|(n, _)| *n).collect();
    while !stop.load(Ordering::Relaxed) {
        let lines = random_lines(&mut rng, &company.quote_skus);
        let body = json!({
            "customer": { "name": "Crash Customer", "email": "buyer@customer.example", "company": "Customer Ltd" },
            "currency": "EUR", "valid_until": "2099-12-31", "lines": lines,
        });
        let Ok(r) = servers.call(0, Some(&who.token), Method::POST, "/api/v1/quotes", Some(&body)).await else {
            return;
        };
        if r.status == 201 {
            let id = uuid_of(&r.body["id"]);
            answered.lock().unwrap().quotes.insert(id, (who.id, r.body.clone()));
            drafts.push(id);
        }

        let to_ack: Vec<Uuid> =
            answered.lock().unwrap().published.iter().filter(|n| !acked.contains(n)).copied().collect();
        for notice in to_ack {
            if !acknowledge(&servers, who, notice, &answered).await {
                return;
            }
            acked.insert(notice);
        }

        let Some(quote) = drafts.first().copied() else { continue };
        if rng.chance(0.5) && !edit(&servers, who, quote, &mut rng, &company, &answered).await {
            return;
        }
        if rng.chance(0.3) && !reprice(&servers, who, quote, &answered).await {
            return;
        }
        for _ in 0..3 {
            let sent = Instant::now();
            let path = format!("/api/v1/quotes/{quote}/finalise");
            let Ok(r) = servers.call(0, Some(&who.token), Method::POST, &path, None).await else { return };
            if r.status == 200 {
                drafts.remove(0);
                answered.lock().unwrap().finalisations.push(SeenFinalisation {
                    quote_id: quote,
                    signer_id: who.id,
                    sent,
                    answered: Instant::now(),
                    drafted_at: time_of(&r.body["drafted_at"]),
                    finalised_at: time_of(&r.body["finalised_at"]),
                    evidence: r.body["evidence"]["notices"]
                        .as_array()
                        .map(|a| a.iter().map(|n| uuid_of(&n["notice_id"])).collect())
                        .unwrap_or_default(),
                });
                break;
            }
            if r.body["error"]["code"] == "superseded_prices" {
                if !reprice(&servers, who, quote, &answered).await {
                    return;
                }
                continue;
            }
            let pending: Vec<Uuid> = r.body["error"]["pending"]
                .as_array()
                .map(|a| a.iter().map(|p| uuid_of(&p["notice_id"])).collect())
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            for notice in pending {
                if !acknowledge(&servers, who, notice, &answered).await {
                    return;
                }
                acked.insert(notice);
            }
        }
    }
}

/// One to three lines of quoted products.
fn random_lines(rng: &mut Rng, skus: &[String]) -> Vec<Value> {
    (0..1 + rng.below(3))
        .map(|i| json!({ "sku": skus[i], "quantity": 1 + rng.below(50), "discount_bp": rng.below(4) * 250 }))
        .collect()
}

/// Edits a draft's notes, or its lines and notes; false once the server no longer answers.
async fn edit(
    servers: &Servers,
    who: &Person,
    quote: Uuid,
    rng: &mut Rng,
    company: &Company,
    answered: &Mutex<Answered>,
) -> bool {
    let notes = json!(format!("edited {}", rng.below(1_000_000)));
    let lines: Option<Vec<Value>> = rng.chance(0.6).then(|| random_lines(rng, &company.quote_skus));
    let mut body = json!({ "notes": notes });
    if let Some(lines) = &lines {
        body["lines"] = json!(lines);
    }
    let path = format!("/api/v1/quotes/{quote}");
    match servers.call(0, Some(&who.token), Method::PATCH, &path, Some(&body)).await {
        Ok(r) if r.status == 200 => {
            let mut a = answered.lock().unwrap();
            a.edits += 1;
            a.quotes.insert(quote, (who.id, r.body));
            a.unanswered.remove(&quote);
            true
        }
        Ok(_) => true,
        Err(_) => {
            let mut a = answered.lock().unwrap();
            let lines = match lines {
                Some(lines) => {
                    lines.iter().map(|l| (l["sku"].clone(), l["quantity"].clone(), l["discount_bp"].clone())).collect()
                }
                None => a.quotes.get(&quote).map(|(_, q)| requested(q)).unwrap_or_default(),
            };
            a.unanswered.insert(quote, UnansweredWrite::Edit { notes, lines });
            false
        }
    }
}

/// Reprices a draft; false once the server no longer answers.
async fn reprice(servers: &Servers, who: &Person, quote: Uuid, answered: &Mutex<Answered>) -> bool {
    let path = format!("/api/v1/quotes/{quote}/reprice");
    match servers.call(0, Some(&who.token), Method::POST, &path, None).await {
        Ok(r) if r.status == 200 => {
            let mut a = answered.lock().unwrap();
            a.reprices += 1;
            if r.body["old_total_minor"] != r.body["new_total_minor"] {
                a.reprices_that_moved_a_price += 1;
            }
            a.quotes.insert(quote, (who.id, r.body["quote"].clone()));
            a.unanswered.remove(&quote);
            true
        }
        Ok(_) => true,
        Err(_) => {
            answered.lock().unwrap().unanswered.insert(quote, UnansweredWrite::Reprice);
            false
        }
    }
}

/// What was asked of a quote's lines: (sku, quantity, discount) each.
fn requested(q: &Value) -> Vec<(Value, Value, Value)> {
    q["lines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|l| (l["sku"].clone(), l["quantity"].clone(), l["discount_bp"].clone()))
        .collect()
}

/// Everything a client could see of a quote's content: notes, total, and each
/// line with its id and price snapshot.
fn content(q: &Value) -> Value {
    let lines: Vec<Value> = q["lines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|l| json!([l["id"], l["sku"], l["quantity"], l["discount_bp"], l["unit_price_minor"]]))
        .collect();
    json!({ "notes": q["notes"], "total_minor": q["total_minor"], "lines": lines })
}

/// Acknowledges; false once the server no longer answers.
async fn acknowledge(servers: &Servers, who: &Person, notice: Uuid, answered: &Mutex<Answered>) -> bool {
    let path = format!("/api/v1/notices/{notice}/acknowledge");
    match servers.call(0, Some(&who.token), Method::POST, &path, None).await {
        Err(_) => false,
        Ok(r) => {
            if r.status == 200 {
                answered.lock().unwrap().acks.insert((notice, who.id), time_of(&r.body["acknowledged_at"]));
            }
            true
        }
    }
}

async fn get(servers: &Servers, who: &Person, path: &str, problems: &mut Vec<String>) -> Value {
    match servers.call(0, Some(&who.token), Method::GET, path, None).await {
        Ok(r) if r.status == 200 => r.body,
        Ok(r) => {
            problems.push(format!("GET {path}: {} {}", r.status, r.text));
            Value::Null
        }
        Err(e) => {
            problems.push(e);
            Value::Null
        }
    }
}

/// Lost writes, half-written quotes and gate violations, described.
async fn check_everything_answered_is_there(
    servers: &Servers,
    company: &Company,
    answered: &Mutex<Answered>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let finance = &company.finance[0];
    let (quotes, unanswered, publications, acks, finalisations) = {
        let a = answered.lock().unwrap();
        (a.quotes.clone(), a.unanswered.clone(), a.publications.clone(), a.acks.clone(), a.finalisations.clone())
    };

    // No quote is half-written: each one, answered or not, has its lines and a total that adds up.
    let all = get(servers, finance, "/api/v1/quotes", &mut problems).await;
    let mut listed = HashMap::new();
    for q in all.as_array().map(Vec::as_slice).unwrap_or_default() {
        let id = uuid_of(&q["id"]);
        listed.insert(id, q);
        let detail = q;
        let lines = detail["lines"].as_array().map(Vec::as_slice).unwrap_or_default();
        if lines.is_empty() {
            problems.push(format!("quote {id} has no lines: {detail}"));
        }
        let mut sum = 0;
        for l in lines {
            let (p, n, d) = (l["unit_price_minor"].as_i64(), l["quantity"].as_i64(), l["discount_bp"].as_i64());
            let want = match (p, n, d) {
                (Some(p), Some(n), Some(d)) => line_total(p, n, d as i32),
                _ => i64::MIN,
            };
            if l["total_minor"].as_i64() != Some(want) {
                problems.push(format!("quote {id}: a line total does not add up: {l}"));
            }
            sum += want;
        }
        if detail["total_minor"].as_i64() != Some(sum) {
            problems.push(format!("quote {id}: total {} is not the sum of its lines {sum}", detail["total_minor"]));
        }
    }
    // Each quote is as the last 2xx about it said, to the line and the price;
    // or, where a later write was cut off by the kill, wholly as that write
    // would have left it. `drafted_at` never moves.
    for (id, (_, last)) in &quotes {
        let Some(now) = listed.get(id).copied() else {
            problems.push(format!("quote {id} was answered 201 but is gone"));
            continue;
        };
        let as_answered = content(now) == content(last);
        let as_cut_off = match unanswered.get(id) {
            None => false,
            Some(UnansweredWrite::Edit { notes, lines }) => now["notes"] == *notes && requested(now) == *lines,
            Some(UnansweredWrite::Reprice) => now["notes"] == last["notes"] && requested(now) == requested(last),
        };
        if !(as_answered || as_cut_off) || now["drafted_at"] != last["drafted_at"] {
            problems.push(format!(
                "quote {id} is not as its last answer said ({:?} was cut off): answered {last}, now {now}",
                unanswered.get(id)
            ));
        }
    }
    for f in &finalisations {
        let q = listed.get(&f.quote_id).copied().unwrap_or(&Value::Null);
        if q["state"] != "finalised"
            || q["evidence"].is_null()
            || time_of_opt(&q["finalised_at"]) != Some(f.finalised_at)
        {
            problems.push(format!("quote {} was answered 200 to finalise but is now {q}", f.quote_id));
        }
    }

    let notices = get(servers, finance, "/api/v1/notices", &mut problems).await;
    let by_id: HashMap<Uuid, &Value> =
        notices.as_array().map(Vec::as_slice).unwrap_or_default().iter().map(|n| (uuid_of(&n["id"]), n)).collect();
    for p in &publications {
        match by_id.get(&p.notice_id) {
            Some(n)
                if n["state"] == "published"
                    && n["seq"].as_i64() == Some(p.seq)
                    && time_of_opt(&n["published_at"]) == Some(p.published_at) => {}
            other => problems.push(format!(
                "notice {} was published as seq {} but is now {}",
                p.notice_id,
                p.seq,
                other.map_or("missing".to_owned(), |n| n.to_string())
            )),
        }
    }
    let mut by_notice: HashMap<Uuid, Vec<(Uuid, DateTime<Utc>)>> = HashMap::new();
    for ((notice, user), at) in &acks {
        by_notice.entry(*notice).or_default().push((*user, *at));
    }
    for (notice, users) in by_notice {
        let list = get(servers, finance, &format!("/api/v1/notices/{notice}/acknowledgements"), &mut problems).await;
        let there: HashMap<Uuid, Option<DateTime<Utc>>> = list["acknowledged"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|a| (uuid_of(&a["user"]["id"]), time_of_opt(&a["acknowledged_at"])))
            .collect();
        for (user, at) in users {
            if there.get(&user) != Some(&Some(at)) {
                problems
                    .push(format!("{user}'s acknowledgement of {notice} at {at} was answered 200 but is not there"));
            }
        }
    }

    // The gate invariant, from the API alone and against what the clients saw.
    let tally = Tally { finalisations, publications, ..Tally::default() };
    let audit = check_gate_invariant(servers, finance, &company.sales, &tally).await;
    problems.extend(audit.violations);
    // A finalisation that committed just before the kill was never answered: that is expected.
    problems.extend(audit.inconsistencies.into_iter().filter(|i| !i.contains("no finalise call was answered 200")));
    problems
}

/// Waits until every published notice's e-mail to every salesperson is sent
/// and written as an .eml file, or was rightly left unsent because its
/// recipient had acknowledged the notice before it went out; returns how
/// many there are.
async fn check_every_publication_mail_is_delivered(
    servers: &Servers,
    company: &Company,
    admin: &Person,
    answered: &Mutex<Answered>,
    maildir: &std::path::Path,
) -> usize {
    let finance = &company.finance[0];
    let mut problems = Vec::new();
    let notices = get(servers, finance, "/api/v1/notices", &mut problems).await;
    let published: Vec<Uuid> = notices
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|n| n["state"] == "published")
        .map(|n| uuid_of(&n["id"]))
        .collect();
    assert!(published.len() >= answered.lock().unwrap().publications.len());
    let owed: HashSet<String> =
        published.iter().flat_map(|n| company.sales.iter().map(move |s| format!("publish:{n}:{}", s.id))).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut problems = Vec::new();
        let outbox = get(servers, admin, "/api/v1/outbox?limit=1000", &mut problems).await;
        let mut missing: HashSet<&String> = owed.iter().collect();
        let mut not_written = Vec::new();
        let written = message_ids_written(maildir);
        for m in outbox.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(key) = m["dedupe_key"].as_str() else { continue };
            if !owed.contains(key) {
                continue;
            }
            if m["state"] == "skipped" {
                let (notice, user) = key_target(key);
                if acknowledged_by(servers, finance, notice, &mut problems).await.contains(&user) {
                    missing.remove(&key.to_owned());
                } else {
                    not_written.push(format!("{key}: skipped ({}) with no acknowledgement", m["last_error"]));
                }
                continue;
            }
            if m["state"] != "sent" {
                not_written.push(format!(
                    "{key}: {} after {} attempts, next at {}",
                    m["state"], m["attempts"], m["next_attempt_at"]
                ));
                continue;
            }
            let id = m["message_id"].as_str().unwrap_or_default().trim_matches(['<', '>']).to_owned();
            if written.contains(&id) {
                missing.remove(&key.to_owned());
            } else {
                not_written.push(id);
            }
        }
        if missing.is_empty() && problems.is_empty() {
            return owed.len();
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} publication e-mails were not delivered 90 s after the last restart (e.g. {:?}); \
             not sent or not among the .eml files: {not_written:?}; {problems:?}",
            missing.len(),
            owed.len(),
            missing.iter().take(3).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The (notice, user) of a publication e-mail's dedupe key, `publish:<notice>:<user>`.
fn key_target(key: &str) -> (Uuid, Uuid) {
    let mut parts = key.split(':').skip(1).map(|part| Uuid::parse_str(part).unwrap_or_default());
    (parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
}

/// Who has acknowledged `notice`, as finance sees it.
async fn acknowledged_by(
    servers: &Servers,
    finance: &Person,
    notice: Uuid,
    problems: &mut Vec<String>,
) -> HashSet<Uuid> {
    let list = get(servers, finance, &format!("/api/v1/notices/{notice}/acknowledgements"), problems).await;
    list["acknowledged"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| uuid_of(&a["user"]["id"]))
        .collect()
}

/// The Message-IDs of the .eml files the worker wrote, as each file states its own.
fn message_ids_written(maildir: &std::path::Path) -> HashSet<String> {
    let Ok(entries) = std::fs::read_dir(maildir) else { return HashSet::new() };
    entries
        .filter_map(Result::ok)
        // Not a message still being written under its hidden name.
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| {
            text.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(|l| l["message-id:".len()..].trim().trim_matches(['<', '>']).to_owned())
        })
        .collect()
}

fn uuid_of(v: &Value) -> Uuid {
    v.as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default()
}

fn time_of_opt(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

fn time_of(v: &Value) -> DateTime<Utc> {
    time_of_opt(v).unwrap_or_default()
}
