//! A closed-loop load client: a fixed number of connections, each sending its
//! next request as soon as the last one answered, for a bounded time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::http::Conn;

#[derive(Clone, Copy)]
pub enum Method {
    Get,
    Post,
}

/// One request to send: path and the bearer token to send it with.
pub struct Job {
    pub path: String,
    pub token: String,
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub requests: usize,
    /// Answers outside 2xx, and requests that got no answer.
    pub failures: usize,
    /// Of the failures, the answers `409 Conflict`: in the race, the gate's refusals.
    pub conflicts: usize,
    /// The first failure other than a `409`, printed when the load ends.
    pub first_failure: Option<String>,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// True when the jobs ran out before the time did.
    pub exhausted: bool,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `jobs` in order (wrapping around when `cycle`, else stopping at the
/// end) from `concurrency` tasks until `duration` has passed.
pub async fn run(
    base: &str,
    method: Method,
    jobs: Vec<Job>,
    cycle: bool,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (jobs, next) = (jobs.clone(), next.clone());
        let mut conn = Conn::new(base);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut failures, mut conflicts) = (0usize, 0usize);
            let mut first_failure = None;
            let mut exhausted = false;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let job = if cycle {
                    &jobs[i % jobs.len()]
                } else if let Some(job) = jobs.get(i) {
                    job
                } else {
                    exhausted = true;
                    break;
                };
                let method = match method {
                    Method::Get => "GET",
                    Method::Post => "POST",
                };
                let sent = Instant::now();
                let ok = match conn.request(method, &job.path, Some(&job.token), None).await {
                    Ok(r) if (200..300).contains(&r.status) => true,
                    Ok(r) if r.status == 409 => {
                        conflicts += 1;
                        false
                    }
                    Ok(r) => {
                        first_failure.get_or_insert_with(|| {
                            format!(
                                "{} {}",
                                r.status,
                                String::from_utf8_lossy(&r.body).chars().take(200).collect::<String>()
                            )
                        });
                        false
                    }
                    Err(e) => {
                        first_failure.get_or_insert_with(|| format!("{e:#}"));
                        false
                    }
                };
                latencies.push(sent.elapsed());
                if !ok {
                    failures += 1;
                }
            }
            (latencies, failures, conflicts, first_failure, exhausted)
        }));
    }
    let mut all = Vec::new();
    let mut outcome = Outcome::default();
    for task in tasks {
        let (latencies, failures, conflicts, first_failure, exhausted) = task.await?;
        all.extend(latencies);
        outcome.failures += failures;
        outcome.conflicts += conflicts;
        outcome.exhausted |= exhausted;
        if outcome.first_failure.is_none() {
            outcome.first_failure = first_failure;
        }
    }
    if let Some(failure) = &outcome.first_failure {
        eprintln!("{} of {} requests failed, the first: {failure}", outcome.failures - outcome.conflicts, all.len());
    }
    // Until the last answer came back, so the tail counts against the rate.
    outcome.elapsed = started.elapsed();
    all.sort();
    outcome.requests = all.len();
    outcome.p50 = percentile(&all, 0.50);
    outcome.p99 = percentile(&all, 0.99);
    Ok(outcome)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
