//! The gate invariant, checked from the API alone and against what the clients saw.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use uuid::Uuid;

use super::workload::Tally;
use super::{Person, RaceConfig, Servers, time_at, uuid_at};

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
            audit.violations.push(format!(
                "notice {id} has seq {} where {} was expected (seqs must be 1, 2, 3, …)",
                p.seq,
                i + 1
            ));
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
            (
                id,
                servers
                    .must(i, &finance, Method::GET, &format!("/api/v1/notices/{id}/acknowledgements"), None, 200)
                    .await,
            )
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
            audit
                .violations
                .push(format!("quote {id}: the evidence disagrees with the quote about when or by whom: {evidence}"));
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
            audit
                .inconsistencies
                .push(format!("quote {id} is finalised, but no finalise call was answered 200 for it"));
        }
    }
    // The clients' own clock: a publication answered before a finalise call
    // was sent had committed before it, whatever the timestamps say; one sent
    // after a finalise call was answered had not.
    let sales_ids: HashSet<Uuid> = sales.iter().map(|p| p.id).collect();
    for f in &tally.finalisations {
        match finalised_at_of.get(&f.quote_id) {
            None => audit
                .inconsistencies
                .push(format!("quote {} was answered 200 to finalise but is not finalised", f.quote_id)),
            Some(at) if *at != f.finalised_at => {
                audit.inconsistencies.push(format!("quote {} has changed its finalised_at", f.quote_id))
            }
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

fn mean_ms(times: &[Duration]) -> u128 {
    if times.is_empty() { 0 } else { times.iter().sum::<Duration>().as_millis() / times.len() as u128 }
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
        let publish_times: Vec<Duration> = t.publications.iter().map(|p| p.answered - p.sent).collect();
        format!(
            "race({}) in {:.1} s: {} requests ({} per server), refusals: {} pending acknowledgements ({} by a notice published \
             after the previous refusal's list was acknowledged), {} superseded prices; {} acknowledgements, {} quotes created, \
             {} edits, {} reprices, {} reads; {} quote×notice pairs checked; publish took {} ms on average, {} ms at most; \
             {} failures, {} inconsistencies",
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
            mean_ms(&publish_times),
            publish_times.iter().max().map_or(0, Duration::as_millis),
            t.failures.len(),
            self.audit.inconsistencies.len()
        )
    }

    /// Fails unless the invariant held, nothing failed, and the race was
    /// real enough for that to mean something.
    pub fn assert_held_and_meaningful(&self, cfg: &RaceConfig) {
        let min_attempts = cfg.min_finalise_attempts;
        let show = |items: &[String]| items.iter().take(15).map(|s| format!("\n  - {s}")).collect::<String>();
        assert!(
            self.audit.violations.is_empty(),
            "{}\nthe gate invariant was broken:{}",
            self.summary(),
            show(&self.audit.violations)
        );
        assert!(
            self.tally.failures.is_empty(),
            "{}\nrequests failed (5xx, timeout or unexpected answer):{}",
            self.summary(),
            show(&self.tally.failures)
        );
        assert!(
            self.audit.inconsistencies.is_empty(),
            "{}\ninconsistencies:{}",
            self.summary(),
            show(&self.audit.inconsistencies)
        );
        let t = &self.tally;
        assert!(
            t.finalise_attempts >= min_attempts,
            "{}: too few finalise attempts for the race to mean anything",
            self.summary()
        );
        assert!(t.finalised >= min_attempts / 20, "{}: too few finalisations", self.summary());
        assert!(
            t.refused_pending >= min_attempts / 10,
            "{}: too few refusals for pending acknowledgements",
            self.summary()
        );
        assert!(
            t.refused_by_a_fresh_notice > 0,
            "{}: no retry ever lost a race to a publication, so the race did not test the gate",
            self.summary()
        );
        assert!(self.audit.published_notices >= 10, "{}: too few publications", self.summary());
        assert!(self.audit.pairs_checked >= 50, "{}: too few quote×notice pairs to check", self.summary());
        assert_eq!(self.audit.finalised_quotes as u64, t.finalised, "{}", self.summary());
        assert_eq!(self.audit.published_notices as u64, t.notices_published, "{}", self.summary());
        if self.requests_per_server.len() > 1 {
            let total: u64 = self.requests_per_server.iter().sum();
            for (i, n) in self.requests_per_server.iter().enumerate() {
                assert!(
                    *n * 4 >= total / self.requests_per_server.len() as u64,
                    "server {i} took only {n} of {total} requests"
                );
            }
        }
    }
}
