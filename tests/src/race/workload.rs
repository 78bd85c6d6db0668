//! The workload: salespeople and finance people at once, on random servers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::seed::{Company, quote_body, random_lines};
use super::{Person, RaceConfig, Rng, Servers, time_at, uuid_at};
use crate::client::Response;

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
    time_limit: Instant,
    min_attempts: u64,
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
        let (now, attempts) = (Instant::now(), self.attempts.load(Ordering::Relaxed));
        self.stop.load(Ordering::Relaxed)
            || attempts >= self.max_attempts
            || (now >= self.deadline && attempts >= self.min_attempts)
            || now >= self.time_limit
    }
}

/// One request of the workload: counts it, and files any 5xx, timeout or
/// status outside `ok` as a failure (returning `None`).
async fn step(
    shared: &Shared,
    tally: &mut Tally,
    who: &Person,
    method: Method,
    path: &str,
    body: Option<&Value>,
    ok: &[u16],
) -> Option<Response> {
    // A fresh generator per call: which server answers is independent of the caller's choices.
    let server = Rng::seeded().below(shared.servers.len());
    tally.requests += 1;
    match shared.servers.call(server, Some(&who.token), method.clone(), path, body).await {
        Err(e) => {
            tally.failures.push(e);
            None
        }
        Ok(r) if r.status.is_server_error() || !ok.contains(&r.status.as_u16()) => {
            tally
                .failures
                .push(format!("{method} {path} as {} on server {server}: {} {}", who.email, r.status, r.text));
            None
        }
        Ok(r) => Some(r),
    }
}

fn pending_ids(r: &Response) -> Vec<Uuid> {
    r.body["error"]["pending"]
        .as_array()
        .map(|a| a.iter().map(|p| uuid_at(&p["notice_id"])).collect())
        .unwrap_or_default()
}

async fn acknowledge(shared: &Shared, tally: &mut Tally, s: usize, notice: Uuid) {
    let who = &shared.company.sales[s];
    if let Some(r) =
        step(shared, tally, who, Method::POST, &format!("/api/v1/notices/{notice}/acknowledge"), None, &[200]).await
    {
        tally.acknowledgements += 1;
        if r.body["user_id"] != json!(who.id) || r.body["notice_id"] != json!(notice) {
            tally.failures.push(format!("acknowledging {notice} answered about someone else: {}", r.text));
        }
        shared.acked[s].lock().unwrap().insert(notice);
    }
}

/// Asks to finalise; on a refusal, usually acknowledges what it lists (or
/// reprices) and asks again at once — the moment a publication can slip in.
async fn try_to_finalise(
    shared: &Shared,
    tally: &mut Tally,
    rng: &mut Rng,
    s: usize,
    drafts: &mut Vec<Uuid>,
    at: usize,
) {
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
        let Some(r) = step(shared, tally, who, Method::POST, &path, None, &[200, 409]).await else { return };
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
                    tally
                        .failures
                        .push(format!("{quote}: still pending after {} acknowledged it: {}", who.email, r.text));
                    return;
                }
                if !rng.chance(0.8) {
                    return;
                }
                just_acknowledged.clear();
                for notice in pending {
                    acknowledge(shared, tally, s, notice).await;
                    just_acknowledged.insert(notice);
                }
            }
            "superseded_prices" => {
                tally.refused_superseded += 1;
                if !rng.chance(0.8) {
                    return;
                }
                if step(shared, tally, who, Method::POST, &format!("/api/v1/quotes/{quote}/reprice"), None, &[200])
                    .await
                    .is_some()
                {
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
                if let Some(r) =
                    step(shared, &mut tally, &who, Method::POST, "/api/v1/quotes", Some(&body), &[201]).await
                {
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
                if step(shared, &mut tally, &who, Method::PATCH, &path, Some(&body), &[200]).await.is_some() {
                    tally.edits += 1;
                }
            }
            (70..75, Some(at)) => {
                let path = format!("/api/v1/quotes/{}/reprice", drafts[at]);
                if step(shared, &mut tally, &who, Method::POST, &path, None, &[200]).await.is_some() {
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
                    acknowledge(shared, &mut tally, s, notice).await;
                }
            }
            (90..95, Some(at)) => {
                let path = format!("/api/v1/quotes/{}/gate", drafts[at]);
                if step(shared, &mut tally, &who, Method::GET, &path, None, &[200]).await.is_some() {
                    tally.reads += 1;
                }
            }
            _ => {
                if let Some(r) = step(shared, &mut tally, &who, Method::GET, "/api/v1/notices", None, &[200]).await {
                    tally.reads += 1;
                    let unacked: Vec<Uuid> = r.body.as_array().map_or(vec![], |a| {
                        a.iter()
                            .filter(|n| n["acknowledged_by_me"] == json!(false))
                            .map(|n| uuid_at(&n["id"]))
                            .collect()
                    });
                    if let Some(&notice) = unacked.first() {
                        acknowledge(shared, &mut tally, s, notice).await;
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
            0..55 => vec![
                json!({ "sku": rng.pick(&shared.company.spare_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": today }),
            ],
            55..80 => vec![
                json!({ "sku": rng.pick(&shared.company.quote_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": "2098-01-01" }),
            ],
            80..88 => vec![
                json!({ "sku": rng.pick(&shared.company.quote_skus), "unit_price_minor": 1_000 + rng.below(100_000), "effective_on": today }),
            ],
            _ => vec![],
        };
        let body = json!({ "title": format!("Notice {}", rng.below(1_000_000)), "body": "Please read **this**.", "changes": changes });
        let Some(r) = step(shared, &mut tally, &who, Method::POST, "/api/v1/notices", Some(&body), &[201]).await else {
            continue;
        };
        let id = uuid_at(&r.body["id"]);
        if rng.chance(0.2) {
            let path = format!("/api/v1/notices/{id}");
            if step(
                shared,
                &mut tally,
                &who,
                Method::PATCH,
                &path,
                Some(&json!({ "body": "Corrected before publication." })),
                &[200],
            )
            .await
            .is_some()
            {
                tally.edits += 1;
            }
        }
        let sent = Instant::now();
        let Some(r) =
            step(shared, &mut tally, &who, Method::POST, &format!("/api/v1/notices/{id}/publish"), None, &[200]).await
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

/// Runs the workload until it has done enough (see [`RaceConfig`]).
pub async fn drive(servers: &Servers, company: Company, cfg: &RaceConfig) -> (Tally, Arc<Company>) {
    let company = Arc::new(company);
    let shared = Arc::new(Shared {
        servers: servers.clone(),
        company: company.clone(),
        deadline: Instant::now() + cfg.duration,
        time_limit: Instant::now() + cfg.time_limit,
        min_attempts: cfg.min_finalise_attempts,
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
