//! The race: many people at once, on one server or several, trying to slip a
//! finalisation past a publication. Shared by the race tests and the
//! benchmarks: seed a company through the API, drive the workload, then check
//! the gate invariant from the API alone.
//!
//! The invariant (DESIGN.md, "The gate"): for every finalised quote Q, every
//! notice whose publication committed before Q's finalisation committed, and
//! whose `published_at` is after Q's `drafted_at`, was acknowledged by Q's
//! signer before Q was finalised.
//!
//! Two independent checks of it:
//! - from the API alone, trusting the service's clock: `published_at` and
//!   `finalised_at` are both read under the gate lock, so their order is the
//!   order of the commits;
//! - from this process's own clock, trusting nothing the service says about
//!   time: a notice whose publish call had *returned* before a finalise call
//!   was *sent* had certainly committed first, so it must be in the evidence.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::PASSWORD;
use crate::client::Response;

/// How hard to push, and for how long.
#[derive(Debug, Clone)]
pub struct RaceConfig {
    pub salespeople: usize,
    /// Concurrent request loops per salesperson; each owns its own quotes.
    pub tasks_per_salesperson: usize,
    /// Finance people publishing at the same time (their publications race each other too).
    pub finance_people: usize,
    /// Products that appear on quotes.
    pub quote_products: usize,
    /// Products that never appear on quotes: most price changes go here, so
    /// that refusals are about acknowledgements, not superseded prices.
    pub spare_products: usize,
    pub initial_quotes: usize,
    /// The race stops at whichever comes first: this much time, or this many finalise attempts.
    pub duration: Duration,
    pub max_finalise_attempts: u64,
    /// Each finance person waits a random time in this range between publications.
    pub publish_pause: (Duration, Duration),
}

/// A tiny xorshift64* generator: the workload only needs to be varied, not secure.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let s = Uuid::new_v4().as_u128();
        Rng(((s as u64) ^ ((s >> 64) as u64)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(if span == 0 { 0 } else { self.next_u64() % span })
    }
}

/// Someone logged in: their id and bearer token (valid on every server of one database).
#[derive(Debug, Clone)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

/// One HTTP client for every server of the race, with a timeout on each request.
#[derive(Clone)]
pub struct Servers {
    client: Client,
    bases: Arc<Vec<String>>,
    timeout: Duration,
    per_server: Arc<Vec<AtomicU64>>,
}

impl Servers {
    pub fn new(bases: Vec<String>, timeout: Duration) -> Servers {
        let client = Client::builder().pool_max_idle_per_host(64).build().expect("an HTTP client");
        let per_server = Arc::new(bases.iter().map(|_| AtomicU64::new(0)).collect());
        Servers { client, bases: Arc::new(bases), timeout, per_server }
    }

    pub fn len(&self) -> usize {
        self.bases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    /// Requests answered by each server so far.
    pub fn requests_per_server(&self) -> Vec<u64> {
        self.per_server.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    /// Sends one request; `Err` only when no HTTP answer came back in time.
    pub async fn call(
        &self,
        server: usize,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, String> {
        let base = &self.bases[server % self.bases.len()];
        let mut req = self.client.request(method.clone(), format!("{base}{path}")).timeout(self.timeout);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| format!("{method} {path} on {base}: no answer: {e}"))?;
        self.per_server[server % self.bases.len()].fetch_add(1, Ordering::Relaxed);
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{method} {path} on {base}: body lost: {e}"))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Response { status, body, text })
    }

    pub async fn login(&self, server: usize, email: &str, password: &str) -> Person {
        let r = self
            .call(server, None, Method::POST, "/api/v1/auth/token", Some(&json!({ "email": email, "password": password })))
            .await
            .expect("the login answers");
        assert_eq!(r.status, 200, "login of {email} failed: {}", r.text);
        Person {
            id: uuid_at(&r.body["user"]["id"]),
            email: email.to_owned(),
            token: r.body["token"].as_str().expect("a token").to_owned(),
        }
    }

    /// A request during seeding or checking: anything but `expect` fails the test.
    async fn must(&self, server: usize, who: &Person, method: Method, path: &str, body: Option<&Value>, expect: u16) -> Value {
        let r = self.call(server, Some(&who.token), method.clone(), path, body).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status.as_u16(), expect, "{method} {path} as {}: {}", who.email, r.text);
        r.body
    }
}

fn uuid_at(v: &Value) -> Uuid {
    v.as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_else(|| panic!("expected a uuid, got {v}"))
}

fn time_at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("expected an RFC 3339 time, got {v}"))
}

/// The people and products of a race, created through the API.
pub struct Company {
    pub finance: Vec<Person>,
    pub sales: Vec<Person>,
    pub quote_skus: Vec<String>,
    pub spare_skus: Vec<String>,
    /// The drafts each salesperson starts with.
    pub drafts: Vec<Vec<Uuid>>,
}

fn quote_body(rng: &mut Rng, skus: &[String]) -> Value {
    json!({
        "customer": { "name": format!("Customer {}", rng.below(10_000)), "email": "buyer@customer.example", "company": "Customer Ltd" },
        "currency": "EUR",
        "valid_until": "2099-12-31",
        "notes": "drafted during the race",
        "lines": random_lines(rng, skus),
    })
}

fn random_lines(rng: &mut Rng, skus: &[String]) -> Value {
    let n = 1 + rng.below(3);
    let mut chosen: Vec<&String> = Vec::new();
    while chosen.len() < n.min(skus.len()) {
        let sku = rng.pick(skus);
        if !chosen.contains(&sku) {
            chosen.push(sku);
        }
    }
    Value::Array(
        chosen
            .into_iter()
            .map(|sku| json!({ "sku": sku, "quantity": 1 + rng.below(50), "discount_bp": rng.below(4) * 250 }))
            .collect(),
    )
}

/// Creates the finance people, salespeople, products and initial drafts
/// through the API (as `admin`), spreading the calls over every server.
pub async fn seed_company(servers: &Servers, admin: &Person, cfg: &RaceConfig) -> Company {
    let run = Uuid::new_v4().simple().to_string();
    let people: Vec<(&str, String)> = (0..cfg.finance_people)
        .map(|i| ("finance", i))
        .chain((0..cfg.salespeople).map(|i| ("sales", i)))
        .map(|(role, i)| (role, format!("{role}{i}-{}@race.pricegate.test", &run[..8])))
        .collect();
    let mut logins = Vec::new();
    for (i, (role, email)) in people.iter().enumerate() {
        let body = json!({ "email": email, "name": format!("Race {role} {i}"), "role": role, "password": PASSWORD });
        servers.must(i, admin, Method::POST, "/api/v1/users", Some(&body), 201).await;
        let servers = servers.clone();
        let (role, email) = (role.to_string(), email.clone());
        logins.push(tokio::spawn(async move { (role, servers.login(i, &email, PASSWORD).await) }));
    }
    let mut finance = Vec::new();
    let mut sales = Vec::new();
    for login in logins {
        let (role, person) = login.await.expect("login task");
        if role == "finance" { finance.push(person) } else { sales.push(person) }
    }

    let mut rng = Rng::seeded();
    let quote_skus: Vec<String> = (0..cfg.quote_products).map(|i| format!("RACE-Q{i}")).collect();
    let spare_skus: Vec<String> = (0..cfg.spare_products).map(|i| format!("RACE-S{i}")).collect();
    for (i, sku) in quote_skus.iter().chain(&spare_skus).enumerate() {
        let body = json!({ "sku": sku, "name": format!("Product {sku}"), "unit": "each", "currency": "EUR",
                           "unit_price_minor": 1_000 + rng.below(100_000) });
        servers.must(i, &finance[0], Method::POST, "/api/v1/products", Some(&body), 201).await;
    }

    let mut tasks = Vec::new();
    for (s, person) in sales.iter().enumerate() {
        let count = cfg.initial_quotes / cfg.salespeople + usize::from(s < cfg.initial_quotes % cfg.salespeople);
        let (servers, person, skus) = (servers.clone(), person.clone(), quote_skus.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::seeded();
            let mut ids = Vec::new();
            for i in 0..count {
                let body = quote_body(&mut rng, &skus);
                let q = servers.must(s + i, &person, Method::POST, "/api/v1/quotes", Some(&body), 201).await;
                ids.push(uuid_at(&q["id"]));
            }
            ids
        }));
    }
    let mut drafts = Vec::new();
    for t in tasks {
        drafts.push(t.await.expect("seeding task"));
    }
    Company { finance, sales, quote_skus, spare_skus, drafts }
}

/// A publication as this process saw it.
#[derive(Debug, Clone)]
pub struct SeenPublication {
    pub notice_id: Uuid,
    pub sent: Instant,
    pub answered: Instant,
    pub seq: i64,
    pub published_at: DateTime<Utc>,
}

/// A successful finalisation as this process saw it.
#[derive(Debug, Clone)]
pub struct SeenFinalisation {
    pub quote_id: Uuid,
    pub signer_id: Uuid,
    pub sent: Instant,
    pub answered: Instant,
    pub drafted_at: DateTime<Utc>,
    pub finalised_at: DateTime<Utc>,
    pub evidence: HashSet<Uuid>,
}

/// What the workload did.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub finalise_attempts: u64,
    pub finalised: u64,
    pub refused_pending: u64,
    pub refused_superseded: u64,
    /// Retries refused because a notice was published between acknowledging
    /// everything the previous refusal listed and asking again: lost races.
    pub refused_by_a_fresh_notice: u64,
    pub acknowledgements: u64,
    pub quotes_created: u64,
    pub edits: u64,
    pub reprices: u64,
    pub reads: u64,
    pub notices_published: u64,
    /// Every 5xx, timeout or unexpected answer, described.
    pub failures: Vec<String>,
    pub finalisations: Vec<SeenFinalisation>,
    pub publications: Vec<SeenPublication>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.finalise_attempts += other.finalise_attempts;
        self.finalised += other.finalised;
        self.refused_pending += other.refused_pending;
        self.refused_superseded += other.refused_superseded;
        self.refused_by_a_fresh_notice += other.refused_by_a_fresh_notice;
        self.acknowledgements += other.acknowledgements;
        self.quotes_created += other.quotes_created;
        self.edits += other.edits;
        self.reprices += other.reprices;
        self.reads += other.reads;
        self.notices_published += other.notices_published;
        self.failures.extend(other.failures);
        self.finalisations.extend(other.finalisations);
        self.publications.extend(other.publications);
    }

    pub fn refused(&self) -> u64 {
        self.refused_pending + self.refused_superseded
    }
}

struct Shared {
    servers: Servers,
    company: Arc<Company>,
    deadline: Instant,
    max_attempts: u64,
    attempts: AtomicU64,
    stop: AtomicBool,
    /// Published notices, for salespeople who go looking for something to acknowledge.
    published: Mutex<Vec<Uuid>>,
    /// What each salesperson has acknowledged (shared by their loops).
    acked: Vec<Mutex<HashSet<Uuid>>>,
    cfg: RaceConfig,
}

impl Shared {
    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || Instant::now() >= self.deadline
            || self.attempts.load(Ordering::Relaxed) >= self.max_attempts
    }
}

/// One request of the workload: counts it, and files any 5xx, timeout or
/// status outside `ok` as a failure (returning `None`).
async fn step(
    shared: &Shared,
    tally: &mut Tally,
    rng: &mut Rng,
    who: &Person,
    method: Method,
    path: &str,
    body: Option<&Value>,
    ok: &[u16],
) -> Option<Response> {
    let server = rng.below(shared.servers.len());
    tally.requests += 1;
    match shared.servers.call(server, Some(&who.token), method.clone(), path, body).await {
        Err(e) => {
            tally.failures.push(e);
            None
        }
        Ok(r) if r.status.is_server_error() || !ok.contains(&r.status.as_u16()) => {
            tally.failures.push(format!("{method} {path} as {} on server {server}: {} {}", who.email, r.status, r.text));
            None
        }
        Ok(r) => Some(r),
    }
}

fn pending_ids(r: &Response) -> Vec<Uuid> {
    r.body["error"]["pending"].as_array().map(|a| a.iter().map(|p| uuid_at(&p["notice_id"])).collect()).unwrap_or_default()
}

async fn acknowledge(shared: &Shared, tally: &mut Tally, rng: &mut Rng, s: usize, notice: Uuid) {
    let who = &shared.company.sales[s];
    if let Some(r) = step(shared, tally, rng, who, Method::POST, &format!("/api/v1/notices/{notice}/acknowledge"), None, &[200]).await {
        tally.acknowledgements += 1;
        if r.body["user_id"] != json!(who.id) || r.body["notice_id"] != json!(notice) {
            tally.failures.push(format!("acknowledging {notice} answered about someone else: {}", r.text));
        }
        shared.acked[s].lock().unwrap().insert(notice);
    }
}

/// Asks to finalise; on a refusal, usually acknowledges what it lists (or
/// reprices) and asks again at once — the moment a publication can slip in.
async fn try_to_finalise(shared: &Shared, tally: &mut Tally, rng: &mut Rng, s: usize, drafts: &mut Vec<Uuid>, at: usize) {
    let who = &shared.company.sales[s];
    let quote = drafts[at];
    let path = format!("/api/v1/quotes/{quote}/finalise");
    let mut just_acknowledged: HashSet<Uuid> = HashSet::new();
    for _ in 0..5 {
        if shared.attempts.fetch_add(1, Ordering::Relaxed) >= shared.max_attempts {
            return;
        }
        tally.finalise_attempts += 1;
        let sent = Instant::now();
        let Some(r) = step(shared, tally, rng, who, Method::POST, &path, None, &[200, 409]).await else { return };
        let answered = Instant::now();
        if r.status == StatusCode::OK {
            tally.finalised += 1;
            drafts.swap_remove(at);
            let evidence = r.body["evidence"]["notices"]
                .as_array()
                .map(|a| a.iter().map(|n| uuid_at(&n["notice_id"])).collect())
                .unwrap_or_default();
            tally.finalisations.push(SeenFinalisation {
                quote_id: quote,
                signer_id: who.id,
                sent,
                answered,
                drafted_at: time_at(&r.body["drafted_at"]),
                finalised_at: time_at(&r.body["finalised_at"]),
                evidence,
            });
            return;
        }
        match r.code() {
            "pending_acknowledgements" => {
                tally.refused_pending += 1;
                let pending = pending_ids(&r);
                if pending.is_empty() {
                    tally.failures.push(format!("a pending_acknowledgements refusal listed nothing: {}", r.text));
                    return;
                }
                if !just_acknowledged.is_empty() && pending.iter().all(|p| !just_acknowledged.contains(p)) {
                    tally.refused_by_a_fresh_notice += 1;
                } else if pending.iter().any(|p| just_acknowledged.contains(p)) {
                    tally.failures.push(format!("{quote}: still pending after {} acknowledged it: {}", who.email, r.text));
                    return;
                }
                if !rng.chance(0.8) {
                    return;
                }
                just_acknowledged.clear();
                for notice in pending {
                    acknowledge(shared, tally, rng, s, notice).await;
                    just_acknowledged.insert(notice);
                }
            }
            "superseded_prices" => {
                tally.refused_superseded += 1;
                if !rng.chance(0.8) {
                    return;
                }
                if step(shared, tally, rng, who, Method::POST, &format!("/api/v1/quotes/{quote}/reprice"), None, &[200]).await.is_some() {
                    tally.reprices += 1;
                }
                just_acknowledged.clear();
            }
            _ => {
                tally.failures.push(format!("finalising {quote} as {}: {} {}", who.email, r.status, r.text));
                return;
            }
        }
    }
}

async fn sales_loop(shared: Arc<Shared>, s: usize, mut drafts: Vec<Uuid>) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng::seeded();
    let shared = &*shared;
    let who = shared.company.sales[s].clone();
    let skus = &shared.company.quote_skus;
    while !shared.over() && tally.failures.len() < 20 {
        let roll = rng.below(100);
        let draft = (!drafts.is_empty()).then(|| rng.below(drafts.len()));
        match (roll, draft) {
            (0..50, Some(at)) => try_to_finalise(shared, &mut tally, &mut rng, s, &mut drafts, at).await,
            (50..60, _) | (_, None) => {
                let body = quote_body(&mut rng, skus);
                if let Some(r) = step(shared, &mut tally, &mut rng, &who, Method::POST, "/api/v1/quotes", Some(&body), &[201]).await {
                    tally.quotes_created += 1;
                    drafts.push(uuid_at(&r.body["id"]));
                }
            }
            (60..70, Some(at)) => {
                let body = if rng.chance(0.5) {
                    json!({ "notes": format!("edited {}", rng.next_u64()) })
                } else {
                    json!({ "lines": random_lines(&mut rng, skus), "customer": { "company": "Renamed Ltd" } })
                };
                let path = format!("/api/v1/quotes/{}", drafts[at]);
                if step(shared, &mut tally, &mut rng, &who, Method::PATCH, &path, Some(&body), &[200]).await.is_some() {
                    tally.edits += 1;
                }
            }
            (70..75, Some(at)) => {
                let path = format!("/api/v1/quotes/{}/reprice", drafts[at]);
                if step(shared, &mut tally, &mut rng, &who, Method::POST, &path, None, &[200]).await.is_some() {
                    tally.reprices += 1;
                }
            }
            (75..90, _) => {
                let unacked: Vec<Uuid> = {
                    let acked = shared.acked[s].lock().unwrap();
                    shared.published.lock().unwrap().iter().filter(|n| !acked.contains(n)).copied().collect()
                };
                if !unacked.is_empty() {
                    let notice = *rng.pick(&unacked);
                    acknowledge(shared, &mut tally, &mut rng, s, notice).await;
                }
            }
            (90..95, Some(at)) => {
                let path = format!("/api/v1/quotes/{}/gate", drafts[at]);
                if step(shared, &mut tally, &mut rng, &who, Method::GET, &path, None, &[200]).await.is_some() {
                    tally.reads += 1;
                }
            }
            _ => {
                if let Some(r) = step(shared, &mut tally, &mut rng, &who, Method::GET, "/api/v1/notices", None, &[200]).await {
                    tally.reads += 1;
                    let unacked: Vec<Uuid> = r.body.as_array().map_or(vec![], |a| {
                        a.iter().filter(|n| n["acknowledged_by_me"] == json!(false)).map(|n| uuid_at(&n["id"])).collect()
                    });
                    if let Some(&notice) = unacked.first() {
                        acknowledge(shared, &mut tally, &mut rng, s, notice).await;
                    }
                }
            }
        }
    }
    tally
}

async fn finance_loop(shared: Arc<Shared>, f: usize) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng::seeded();
    let shared = &*shared;
    let who = shared.company.finance[f].clone();
    let today = Utc::now().date_naive().to_string();
    while !shared.over() && tally.failures.len() < 20 {
        tokio::time::sleep(rng.between(shared.cfg.publish_pause.0, shared.cfg.publish_pause.1)).await;
        if shared.over() {
            break;
        }
        // Mostly changes to products no quote carries, some to quoted products
        // from a distant date, a few to quoted products from today (those
        // make quotes need a reprice), and some with no price change at all.
        let roll = rng.below(100);
        let changes: Vec<Value> = match roll {
            0..55 => vec![json!({ "sku": rng.pick(&shared.company.spare_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": today })],
            55..80 => vec![json!({ "sku": rng.pick(&shared.company.quote_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": "2098-01-01" })],
            80..88 => vec![json!({ "sku": rng.pick(&shared.company.quote_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": today })],
            _ => vec![],
        };
        let body = json!({ "title": format!("Notice {}", rng.below(1_000_000)), "body": "Please read **this**.", "changes": changes });
        let Some(r) = step(shared, &mut tally, &mut rng, &who, Method::POST, "/api/v1/notices", Some(&body), &[201]).await else { continue };
        let id = uuid_at(&r.body["id"]);
        if rng.chance(0.2) {
            let path = format!("/api/v1/notices/{id}");
            if step(shared, &mut tally, &mut rng, &who, Method::PATCH, &path, Some(&json!({ "body": "Corrected before publication." })), &[200]).await.is_some() {
                tally.edits += 1;
            }
        }
        let sent = Instant::now();
        let Some(r) = step(shared, &mut tally, &mut rng, &who, Method::POST, &format!("/api/v1/notices/{id}/publish"), None, &[200]).await
        else {
            continue;
        };
        let answered = Instant::now();
        tally.notices_published += 1;
        tally.publications.push(SeenPublication {
            notice_id: id,
            sent,
            answered,
            seq: r.body["seq"].as_i64().unwrap_or(-1),
            published_at: time_at(&r.body["published_at"]),
        });
        shared.published.lock().unwrap().push(id);
    }
    tally
}

/// Runs the workload until `cfg.duration` has passed or `cfg.max_finalise_attempts` were made.
pub async fn drive(servers: &Servers, company: Company, cfg: &RaceConfig) -> (Tally, Arc<Company>) {
    let company = Arc::new(company);
    let shared = Arc::new(Shared {
        servers: servers.clone(),
        company: company.clone(),
        deadline: Instant::now() + cfg.duration,
        max_attempts: cfg.max_finalise_attempts,
        attempts: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        published: Mutex::new(Vec::new()),
        acked: company.sales.iter().map(|_| Mutex::new(HashSet::new())).collect(),
        cfg: cfg.clone(),
    });
    let finance: Vec<_> = (0..company.finance.len()).map(|f| tokio::spawn(finance_loop(shared.clone(), f))).collect();
    let mut sales = Vec::new();
    for (s, drafts) in company.drafts.iter().enumerate() {
        let per_task = cfg.tasks_per_salesperson.max(1);
        for t in 0..per_task {
            let mine: Vec<Uuid> = drafts.iter().skip(t).step_by(per_task).copied().collect();
            sales.push(tokio::spawn(sales_loop(shared.clone(), s, mine)));
        }
    }
    let mut tally = Tally::default();
    for task in sales {
        tally.merge(task.await.expect("a salesperson's loop"));
    }
    shared.stop.store(true, Ordering::Relaxed);
    for task in finance {
        tally.merge(task.await.expect("a finance loop"));
    }
    (tally, company)
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Audit {
    pub finalised_quotes: usize,
    pub published_notices: usize,
    /// (quote, notice) pairs the invariant covers: notices published between drafting and finalising.
    pub pairs_checked: usize,
    /// Breaches of the invariant, described.
    pub violations: Vec<String>,
    /// Other disagreements (between what clients were told and what the API now says).
    pub inconsistencies: Vec<String>,
}

/// Checks the invariant from the API alone (as `finance`), then again
/// against what the clients saw and when.
pub async fn check_gate_invariant(servers: &Servers, finance: &Person, sales: &[Person], tally: &Tally) -> Audit {
    let mut audit = Audit::default();
    let notices = servers.must(0, finance, Method::GET, "/api/v1/notices", None, 200).await;
    struct Published {
        seq: i64,
        published_at: DateTime<Utc>,
    }
    let mut published: HashMap<Uuid, Published> = HashMap::new();
    for n in notices.as_array().expect("a list of notices") {
        if n["state"] == "published" {
            let seq = n["seq"].as_i64().expect("a published notice has a seq");
            published.insert(uuid_at(&n["id"]), Published { seq, published_at: time_at(&n["published_at"]) });
        }
    }
    audit.published_notices = published.len();

    // seq is unique, gapless, and orders publications as published_at does.
    let mut by_seq: Vec<(&Uuid, &Published)> = published.iter().collect();
    by_seq.sort_by_key(|(_, p)| p.seq);
    for (i, (id, p)) in by_seq.iter().enumerate() {
        if p.seq != i as i64 + 1 {
            audit.violations.push(format!("notice {id} has seq {} where {} was expected (seqs must be 1, 2, 3, …)", p.seq, i + 1));
        }
        if i > 0 && by_seq[i - 1].1.published_at >= p.published_at {
            audit.violations.push(format!(
                "seq {} was published at {} but seq {} at {}: seq and published_at disagree",
                by_seq[i - 1].1.seq,
                by_seq[i - 1].1.published_at,
                p.seq,
                p.published_at
            ));
        }
    }

    // Every acknowledgement, as finance sees them.
    let mut acks: HashMap<(Uuid, Uuid), DateTime<Utc>> = HashMap::new();
    let ids: Vec<Uuid> = published.keys().copied().collect();
    let mut fetches = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (servers, finance, id) = (servers.clone(), finance.clone(), *id);
        fetches.push(tokio::spawn(async move {
            (id, servers.must(i, &finance, Method::GET, &format!("/api/v1/notices/{id}/acknowledgements"), None, 200).await)
        }));
    }
    for f in fetches {
        let (notice, list) = f.await.expect("acknowledgement fetch");
        for a in list["acknowledged"].as_array().expect("acknowledged") {
            acks.insert((notice, uuid_at(&a["user"]["id"])), time_at(&a["acknowledged_at"]));
        }
        // Nobody who acknowledged may also be listed as pending.
        for p in list["pending"].as_array().expect("pending") {
            if acks.contains_key(&(notice, uuid_at(&p["id"]))) {
                audit.inconsistencies.push(format!("notice {notice}: {} is both acknowledged and pending", p["email"]));
            }
        }
    }

    let quotes = servers.must(0, finance, Method::GET, "/api/v1/quotes?state=finalised", None, 200).await;
    let quotes = quotes.as_array().expect("a list of quotes");
    audit.finalised_quotes = quotes.len();
    let mut finalised_at_of: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for q in quotes {
        let id = uuid_at(&q["id"]);
        let signer = uuid_at(&q["signer_id"]);
        let drafted_at = time_at(&q["drafted_at"]);
        let finalised_at = time_at(&q["finalised_at"]);
        finalised_at_of.insert(id, finalised_at);
        let evidence = &q["evidence"];
        if evidence.is_null() {
            audit.violations.push(format!("quote {id} is finalised without evidence"));
            continue;
        }
        if time_at(&evidence["finalised_at"]) != finalised_at || uuid_at(&evidence["finalised_by"]) != signer {
            audit.violations.push(format!("quote {id}: the evidence disagrees with the quote about when or by whom: {evidence}"));
        }
        let listed: HashMap<Uuid, DateTime<Utc>> = evidence["notices"]
            .as_array()
            .expect("evidence notices")
            .iter()
            .map(|n| (uuid_at(&n["notice_id"]), time_at(&n["acknowledged_at"])))
            .collect();
        for (notice, p) in &published {
            let due = drafted_at < p.published_at && p.published_at < finalised_at;
            let in_evidence = listed.get(notice);
            if !due {
                if in_evidence.is_some() {
                    audit.violations.push(format!(
                        "quote {id} (drafted {drafted_at}, finalised {finalised_at}) lists notice seq {} published at {} that was not due",
                        p.seq, p.published_at
                    ));
                }
                continue;
            }
            audit.pairs_checked += 1;
            let acked_at = acks.get(&(*notice, signer));
            match (acked_at, in_evidence) {
                (None, _) => audit.violations.push(format!(
                    "quote {id} was finalised at {finalised_at} but its signer never acknowledged notice seq {} published at {} (drafted {drafted_at})",
                    p.seq, p.published_at
                )),
                (Some(a), _) if *a >= finalised_at => audit.violations.push(format!(
                    "quote {id} was finalised at {finalised_at} before its signer acknowledged notice seq {} (published {}, acknowledged {a})",
                    p.seq, p.published_at
                )),
                (Some(_), None) => audit.violations.push(format!(
                    "quote {id} (finalised {finalised_at}) leaves notice seq {} (published {}) out of its evidence",
                    p.seq, p.published_at
                )),
                (Some(a), Some(e)) if a != e => audit.violations.push(format!(
                    "quote {id}: the evidence says notice seq {} was acknowledged at {e}, the acknowledgements say {a}",
                    p.seq
                )),
                _ => {}
            }
        }
    }

    // What the clients saw agrees with what the API says now.
    let seen: HashSet<Uuid> = tally.finalisations.iter().map(|f| f.quote_id).collect();
    for id in finalised_at_of.keys() {
        if !seen.contains(id) {
            audit.inconsistencies.push(format!("quote {id} is finalised, but no finalise call was answered 200 for it"));
        }
    }
    // The clients' own clock: a publication answered before a finalise call
    // was sent had committed before it, whatever the timestamps say; one sent
    // after a finalise call was answered had not.
    let sales_ids: HashSet<Uuid> = sales.iter().map(|p| p.id).collect();
    for f in &tally.finalisations {
        match finalised_at_of.get(&f.quote_id) {
            None => audit.inconsistencies.push(format!("quote {} was answered 200 to finalise but is not finalised", f.quote_id)),
            Some(at) if *at != f.finalised_at => audit.inconsistencies.push(format!("quote {} has changed its finalised_at", f.quote_id)),
            _ => {}
        }
        if !sales_ids.contains(&f.signer_id) {
            continue;
        }
        for p in &tally.publications {
            if p.answered < f.sent && p.published_at > f.drafted_at && !f.evidence.contains(&p.notice_id) {
                audit.violations.push(format!(
                    "quote {} was finalised after the publication of seq {} had been answered, yet its evidence leaves it out",
                    f.quote_id, p.seq
                ));
            }
            if p.answered < f.sent && p.published_at >= f.finalised_at {
                audit.violations.push(format!(
                    "seq {} was published (at {}) before quote {} was asked to finalise, yet finalised_at is earlier ({})",
                    p.seq, p.published_at, f.quote_id, f.finalised_at
                ));
            }
            if f.answered < p.sent && p.published_at <= f.finalised_at {
                audit.violations.push(format!(
                    "quote {} was finalised (at {}) before seq {} was asked to publish, yet published_at is earlier ({})",
                    f.quote_id, f.finalised_at, p.seq, p.published_at
                ));
            }
        }
    }
    audit
}

/// A race's outcome, with the line it prints.
pub struct RaceReport {
    pub label: String,
    pub tally: Tally,
    pub audit: Audit,
    pub elapsed: Duration,
    pub requests_per_server: Vec<u64>,
}

impl RaceReport {
    pub fn summary(&self) -> String {
        format!(
            "race({}): {} finalise attempts, {} finalised, {} refused, {} notices published, {} violations",
            self.label,
            self.tally.finalise_attempts,
            self.tally.finalised,
            self.tally.refused(),
            self.audit.published_notices,
            self.audit.violations.len()
        )
    }

    pub fn details(&self) -> String {
        let t = &self.tally;
        format!(
            "race({}) in {:.1} s: {} requests ({} per server), refusals: {} pending acknowledgements ({} by a notice published \
             after the previous refusal's list was acknowledged), {} superseded prices; {} acknowledgements, {} quotes created, \
             {} edits, {} reprices, {} reads; {} quote×notice pairs checked; {} failures, {} inconsistencies",
            self.label,
            self.elapsed.as_secs_f64(),
            t.requests,
            self.requests_per_server.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"),
            t.refused_pending,
            t.refused_by_a_fresh_notice,
            t.refused_superseded,
            t.acknowledgements,
            t.quotes_created,
            t.edits,
            t.reprices,
            t.reads,
            self.audit.pairs_checked,
            t.failures.len(),
            self.audit.inconsistencies.len()
        )
    }

    /// Fails unless the invariant held, nothing failed, and the race was
    /// real enough for that to mean something.
    pub fn assert_held_and_meaningful(&self, min_attempts: u64) {
        let show = |items: &[String]| items.iter().take(15).map(|s| format!("\n  - {s}")).collect::<String>();
        assert!(self.audit.violations.is_empty(), "{}\nthe gate invariant was broken:{}", self.summary(), show(&self.audit.violations));
        assert!(self.tally.failures.is_empty(), "{}\nrequests failed (5xx, timeout or unexpected answer):{}", self.summary(), show(&self.tally.failures));
        assert!(self.audit.inconsistencies.is_empty(), "{}\ninconsistencies:{}", self.summary(), show(&self.audit.inconsistencies));
        let t = &self.tally;
        assert!(t.finalise_attempts >= min_attempts, "{}: too few finalise attempts for the race to mean anything", self.summary());
        assert!(t.finalised >= min_attempts / 20, "{}: too few finalisations", self.summary());
        assert!(t.refused_pending >= min_attempts / 10, "{}: too few refusals for pending acknowledgements", self.summary());
        assert!(self.audit.published_notices >= 10, "{}: too few publications", self.summary());
        assert!(self.audit.pairs_checked >= 50, "{}: too few quote×notice pairs to check", self.summary());
        assert_eq!(self.audit.finalised_quotes as u64, t.finalised, "{}", self.summary());
        assert_eq!(self.audit.published_notices as u64, t.notices_published, "{}", self.summary());
        if self.requests_per_server.len() > 1 {
            let total: u64 = self.requests_per_server.iter().sum();
            for (i, n) in self.requests_per_server.iter().enumerate() {
                assert!(*n * 4 >= total / self.requests_per_server.len() as u64, "server {i} took only {n} of {total} requests");
            }
        }
    }
}

/// Seeds, races, checks, and prints the summary: the whole race on `servers`.
pub async fn run_race(label: &str, servers: &Servers, admin: &Person, cfg: &RaceConfig) -> RaceReport {
    let company = seed_company(servers, admin, cfg).await;
    let started = Instant::now();
    let (tally, company) = drive(servers, company, cfg).await;
    let elapsed = started.elapsed();
    let audit = check_gate_invariant(servers, &company.finance[0], &company.sales, &tally).await;
    let report = RaceReport { label: label.to_owned(), tally, audit, elapsed, requests_per_server: servers.requests_per_server() };
    println!("{}", report.summary());
    println!("{}", report.details());
    report
}
