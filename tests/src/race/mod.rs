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

mod check;
mod seed;
mod workload;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::client::Response;

pub use check::{Audit, RaceReport, check_gate_invariant};
pub use seed::{Company, seed_company};
pub use workload::{SeenFinalisation, SeenPublication, Tally, drive};

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
    /// The race stops after `max_finalise_attempts`, or once `duration` has
    /// passed and at least `min_finalise_attempts` were made (a slow machine
    /// races longer rather than proving nothing), but never after `time_limit`.
    pub duration: Duration,
    pub time_limit: Duration,
    pub min_finalise_attempts: u64,
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
            .call(
                server,
                None,
                Method::POST,
                "/api/v1/auth/token",
                Some(&json!({ "email": email, "password": password })),
            )
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
    async fn must(
        &self,
        server: usize,
        who: &Person,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expect: u16,
    ) -> Value {
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

/// Seeds, races, checks, and prints the summary: the whole race on `servers`.
pub async fn run_race(label: &str, servers: &Servers, admin: &Person, cfg: &RaceConfig) -> RaceReport {
    let company = seed_company(servers, admin, cfg).await;
    let started = Instant::now();
    let (tally, company) = drive(servers, company, cfg).await;
    let elapsed = started.elapsed();
    let audit = check_gate_invariant(servers, &company.finance[0], &company.sales, &tally).await;
    let report = RaceReport {
        label: label.to_owned(),
        tally,
        audit,
        elapsed,
        requests_per_server: servers.requests_per_server(),
    };
    println!("{}", report.summary());
    println!("{}", report.details());
    report
}
