//! The mail worker: expands publications into their e-mails, drains the
//! outbox, and enqueues reminders as they come due.
//!
//! Delivery is at-least-once: a row is marked sent after the SMTP server
//! accepted it, so a crash in between sends it again (with the same
//! Message-ID). Rows are claimed with a lease, so several workers, in one
//! process or many, never send the same row at the same time.
//!
//! Two tasks: the expander turns each published notice's one fan-out row
//! into an e-mail per salesperson, a batch at a time, and wakes the sender;
//! the sender claims the next batch of due mail while it sends the current
//! one, so the database round trips overlap the SMTP conversations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use pricegate_store::entity::outbox;
use pricegate_store::outbox::{FANOUT_BATCH, FanoutStep};
use pricegate_store::{Store, StoreError, causes};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::transport::{MailTransport, SendError, build_message};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often to look for due mail and due reminders when idle.
    pub poll: Duration,
    /// `PRICEGATE_REMINDERS`: delays after publication.
    pub reminders: Vec<Duration>,
    pub from: Mailbox,
    /// Messages claimed at once.
    pub batch: u64,
    /// Salespeople whose publication e-mails are composed and queued at once.
    pub fanout_batch: usize,
    /// Messages in flight at once (SMTP connections in the pool).
    pub concurrency: usize,
    /// The first retry waits about this long; each next one twice as long.
    /// A temporary failure (the server down or busy, a 4xx reply) is retried
    /// for as long as it lasts, at most `retry_cap` apart: an outage of any
    /// length loses no mail. A refusal of the recipient (or an unusable
    /// address) ends a message `failed` at once; any other 5xx is retried
    /// like a temporary failure until the message is `refused_for` old.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How long after it was queued a message the server keeps refusing
    /// (without blaming the recipient) is still tried: time for an
    /// administrator to mend the relay's or our settings, but not for ever.
    pub refused_for: Duration,
    /// How long a claimed row is ours before another worker may take it.
    pub lease: Duration,
    /// The longest one message's SMTP conversation may take. A claimed row
    /// with less of its lease left than this (or than half the lease) is
    /// given back unsent rather than risk another worker sending it too.
    pub send_timeout: Duration,
    /// Stopping, how long a conversation under way may still take before
    /// it is dropped and its message given back, to go when a worker runs
    /// again: a stalled server does not hold up a restart for a minute.
    pub stop_grace: Duration,
}

impl WorkerConfig {
    pub fn new(from: Mailbox, poll: Duration, reminders: Vec<Duration>) -> Self {
        WorkerConfig {
            poll,
            reminders,
            from,
            batch: 200,
            fanout_batch: FANOUT_BATCH,
            // Each SMTP conversation spends most of its time waiting on
            // round trips, so connections in parallel are what make a
            // publication to thousands go out quickly; 16 stays well under
            // the per-client connection limits of common MTAs.
            concurrency: 16,
            retry_base: poll.max(Duration::from_millis(100)) * 2,
            retry_cap: Duration::from_secs(3600),
            refused_for: Duration::from_secs(3 * 24 * 3600),
            lease: Duration::from_secs(300),
            // A pooled connection's send, then connecting and sending once
            // more on a fresh one: 20 s each at most.
            send_timeout: Duration::from_secs(60),
            // Within the 30 s an orchestrator gives a stop (docker-compose.yml).
            stop_grace: Duration::from_secs(10),
        }
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then a
/// random half to the full of it, so that many failed rows (or workers) do
/// not all come back in the same instant.
pub fn retry_delay(config: &WorkerConfig, attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
    let full = config.retry_base.saturating_mul(1u32 << exp).min(config.retry_cap);
    let mut bytes = [0u8; 4];
    let unit = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    full.mul_f64(0.5 + 0.5 * unit)
}

/// How long a row's conversation may take: at most half the lease.
fn send_margin(config: &WorkerConfig) -> Duration {
    config.send_timeout.min(config.lease / 2)
}

/// How much of a claim's lease must be left to start sending one of its
/// rows: its conversation's time, and then the time to mark it sent (the
/// [`MARK_SENT_AFTER`] a mark may wait, and its write with the retries of
/// [`mark_sent`]). A row marked after the lease ran out may have been
/// claimed and sent again by another worker meanwhile.
fn lease_needed(config: &WorkerConfig) -> Duration {
    let marking = MARK_SENT_AFTER + MARK_SENT_GIVES_UP;
    send_margin(config) + marking.min(config.lease / 10)
}

/// Whether the worker should stop: `shutdown` turned true, or whoever held
/// its sender is gone (a task that ended without saying so must not leave the
/// worker waking at once on every `changed()`, busy at full speed forever).
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Runs until `shutdown` turns true (or its sender is dropped). The messages
/// being sent then are finished; every other claimed row is given back at
/// once, so that another worker sends it without waiting for the lease.
#[tracing::instrument(name = "mail_worker", skip_all)]
pub async fn run_worker<T: MailTransport>(
    store: Store,
    transport: T,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let queued = Arc::new(Notify::new());
    tracing::info!(poll = ?config.poll, "mail worker started");
    let outage = Arc::new(Outage::default());
    let expander = tokio::spawn(expand_publications(
        store.clone(),
        config.clone(),
        shutdown.clone(),
        queued.clone(),
        outage.clone(),
    ));
    send_outbox(store, transport, config, shutdown, queued, outage).await;
    if let Err(e) = expander.await {
        tracing::error!(error = %causes(&e), "the publication expander stopped abnormally");
    }
    tracing::info!("mail worker stopped");
}

/// Writes each published notice's e-mails into the outbox, one batch of
/// salespeople at a time, waking the sender after each batch.
#[tracing::instrument(name = "publication_expander", skip_all)]
async fn expand_publications(
    store: Store,
    config: Arc<WorkerConfig>,
    mut shutdown: watch::Receiver<bool>,
    queued: Arc<Notify>,
    outage: Arc<Outage>,
) {
    // Consecutive failed batches per publication, for this worker's backoff.
    let mut failures: HashMap<uuid::Uuid, i32> = HashMap::new();
    while !stopping(&shutdown) {
        let asked = Instant::now();
        // Told to stop while waiting for the database (a connection, a
        // lock): stopped at once; a claim made meanwhile lapses with its lease.
        let claimed = tokio::select! {
            claimed = store.claim_publication_fanout(config.lease) => claimed,
            _ = shutdown.changed() => break,
        };
        let claim = match claimed {
            Ok(claim) => {
                outage.answered();
                claim
            }
            Err(e) => {
                if !outage.noted(&e, asked) {
                    tracing::warn!(error = %causes(&e), "could not look for publications to expand; retrying");
                }
                None
            }
        };
        let Some(mut claim) = claim else {
            tokio::select! {
                _ = tokio::time::sleep(config.poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        loop {
            if stopping(&shutdown) {
                if let Err(e) = store.release_publication_fanout(&claim).await {
                    tracing::warn!(notice = %claim.notice_id, error = %causes(&e), "could not release the publication; its lease will");
                }
                break;
            }
            match store.expand_publication_batch(&mut claim, config.fanout_batch, config.lease).await {
                Ok(FanoutStep::Queued(_)) => queued.notify_one(),
                Ok(FanoutStep::Finished(_)) => {
                    failures.remove(&claim.notice_id);
                    queued.notify_one();
                    tracing::info!(notice = %claim.notice_id, messages = claim.expanded, "publication e-mails queued");
                    break;
                }
                Ok(FanoutStep::Lost) => {
                    failures.remove(&claim.notice_id);
                    tracing::info!(notice = %claim.notice_id, "this publication's e-mails moved on without this claim");
                    // A no-op if another worker holds it; if it was our own
                    // batch whose commit answer was lost, it is free again at once.
                    if let Err(e) = store.release_publication_fanout(&claim).await {
                        tracing::warn!(notice = %claim.notice_id, error = %causes(&e), "could not release the publication; its lease will");
                    }
                    break;
                }
                Err(e) => {
                    // Give the publication back, due again after a backoff
                    // that grows with each failure in a row, and move on: a
                    // publication that cannot be expanded must not hold up
                    // the later ones. The cursor in its row says where the
                    // next claim goes on from, so nothing is written twice.
                    let failed = failures.entry(claim.notice_id).or_insert(0);
                    *failed += 1;
                    let delay = retry_delay(&config, *failed);
                    tracing::error!(notice = %claim.notice_id, failures = *failed, retry_in = ?delay, error = %causes(&e), "could not queue publication e-mails; trying the others first");
                    if let Err(e) = store.defer_publication_fanout(&claim, delay).await {
                        tracing::warn!(notice = %claim.notice_id, error = %causes(&e), "could not set the publication back; its lease will");
                    }
                    break;
                }
            }
        }
    }
}

/// Due mail, claimed and with its ack links minted: ready to send.
#[derive(Default)]
struct Claimed {
    rows: Vec<outbox::Model>,
    /// When the claim's lease runs out, by this process's clock: taken before
    /// the database set the lease, so never later than the lease itself.
    lease_ends: Option<Instant>,
}

/// Whether the worker's database is unavailable, since when, and when it
/// last answered: an outage is logged as it starts, with its cause, and as
/// it ends, not on every poll of each of the worker's loops (three lines a
/// second, for as long as it lasts).
#[derive(Default)]
struct Outage {
    state: std::sync::Mutex<OutageState>,
}

#[derive(Default)]
struct OutageState {
    since: Option<Instant>,
    last_answer: Option<Instant>,
}

impl Outage {
    /// Notes `error`, from a call made at `asked`, if it is the database
    /// being unavailable (logged if it is the first of an outage); false for
    /// any other error, which the caller logs. A call that waited out the
    /// pool's timeout may fail after a later one succeeded: that is no new
    /// outage.
    fn noted(&self, error: &StoreError, asked: Instant) -> bool {
        let StoreError::Unavailable(cause) = error else { return false };
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stale = state.last_answer.is_some_and(|answered| answered > asked);
        if state.since.is_none() && !stale {
            state.since = Some(Instant::now());
            tracing::warn!(cause = %cause, "the database is unavailable; the mail worker keeps trying, and says when it answers again");
        }
        true
    }

    /// The database answered: the end of an outage, if there was one.
    fn answered(&self) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.last_answer = Some(Instant::now());
        if let Some(since) = state.since.take() {
            tracing::info!(after = ?since.elapsed(), "the database answers again; the mail worker goes on");
        }
    }
}

async fn next_batch(store: Store, config: Arc<WorkerConfig>, outage: Arc<Outage>) -> Claimed {
    let asked = Instant::now();
    let lease_ends = asked + config.lease;
    let claimed = match store.claim_due_mail(config.batch, config.lease).await {
        Ok(rows) => {
            outage.answered();
            rows
        }
        Err(e) => {
            if !outage.noted(&e, asked) {
                tracing::warn!(error = %causes(&e), "could not claim mail; retrying");
            }
            return Claimed::default();
        }
    };
    if claimed.is_empty() {
        return Claimed::default();
    }
    match store.mint_ack_links(claimed).await {
        Ok(rows) => Claimed { rows, lease_ends: Some(lease_ends) },
        Err(e) => {
            // The claim's lease brings these rows back once the database answers again.
            tracing::error!(error = %causes(&e), "could not mint acknowledgement links; the batch waits for its lease");
            Claimed::default()
        }
    }
}

/// The batch claimed ahead; none if its task failed (its rows, if it had
/// claimed any, come back with their lease).
async fn prefetched_batch(batch: JoinHandle<Claimed>) -> Claimed {
    batch.await.unwrap_or_else(|e| {
        tracing::error!(error = %causes(&e), "claiming the next mail failed; what it claimed goes after its lease");
        Claimed::default()
    })
}

/// How often the worker deletes the sessions and API tokens that ended long
/// ago (see [`Store::forget_ended_sessions`]).
const FORGET_EVERY: Duration = Duration::from_secs(3600);

/// When it first does, after starting: not at once, so that a process
/// restarted in a loop does not sweep each time.
const FORGET_FIRST_AFTER: Duration = Duration::from_secs(60);

async fn send_outbox<T: MailTransport>(
    store: Store,
    transport: T,
    config: Arc<WorkerConfig>,
    mut shutdown: watch::Receiver<bool>,
    queued: Arc<Notify>,
    outage: Arc<Outage>,
) {
    let mut next_tick = Instant::now();
    let mut next_forgetting = Instant::now() + FORGET_FIRST_AFTER;
    let mut forgetting: Option<JoinHandle<()>> = None;
    let mut prefetched: Option<JoinHandle<Claimed>> = None;
    let mut trouble = Trouble::default();
    loop {
        if stopping(&shutdown) {
            if let Some(batch) = prefetched.take() {
                let rows = prefetched_batch(batch).await.rows;
                give_back(&store, &rows.iter().map(|r| (r.id, r.attempts)).collect::<Vec<_>>(), "stopping").await;
            }
            break;
        }
        if Instant::now() >= next_tick {
            let asked = Instant::now();
            next_tick = asked + config.poll;
            match store.enqueue_due_reminders(&config.reminders).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(queued = n, "reminders and escalations queued"),
                Err(e) if outage.noted(&e, asked) => {}
                Err(e) => tracing::warn!(error = %causes(&e), "could not enqueue reminders"),
            }
        }
        // Housekeeping: every login leaves a session or a token row. On a
        // task of its own, so that mail does not wait for it; one at a time.
        if Instant::now() >= next_forgetting && forgetting.as_ref().is_none_or(JoinHandle::is_finished) {
            next_forgetting = Instant::now() + FORGET_EVERY;
            let (store, outage) = (store.clone(), outage.clone());
            forgetting = Some(tokio::spawn(async move {
                match store.forget_ended_sessions().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "sessions and API tokens that ended long ago deleted"),
                    Err(e) if outage.noted(&e, Instant::now()) => {}
                    Err(e) => tracing::warn!(error = %causes(&e), "could not delete sessions that ended long ago"),
                }
            }));
        }
        let batch = match prefetched.take() {
            Some(batch) => prefetched_batch(batch).await,
            None => next_batch(store.clone(), config.clone(), outage.clone()).await,
        };
        let Claimed { rows, lease_ends: Some(lease_ends) } = batch else {
            if stopping(&shutdown) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(config.poll) => {}
                _ = shutdown.changed() => {}
                _ = queued.notified() => {}
            }
            continue;
        };
        if !stopping(&shutdown) {
            prefetched = Some(tokio::spawn(next_batch(store.clone(), config.clone(), outage.clone())));
        }
        send_batch(&store, &transport, &config, rows, lease_ends, &shutdown, &mut trouble).await;
    }
}

/// Gives claimed rows back unsent: due again now, the attempt not counted.
async fn give_back(store: &Store, unsent: &[(uuid::Uuid, i32)], why: &str) {
    if unsent.is_empty() {
        return;
    }
    match store.release_mail(unsent).await {
        Ok(released) => tracing::info!(count = unsent.len(), released, why, "mail given back unsent"),
        Err(e) => {
            tracing::warn!(error = %causes(&e), count = unsent.len(), why, "could not give back unsent mail; its lease will")
        }
    }
}

#[tracing::instrument(name = "mail_batch", skip_all, fields(messages = rows.len()))]
async fn send_batch<T: MailTransport>(
    store: &Store,
    transport: &T,
    config: &Arc<WorkerConfig>,
    rows: Vec<outbox::Model>,
    lease_ends: Instant,
    shutdown: &watch::Receiver<bool>,
    trouble: &mut Trouble,
) {
    // A row is sent only if its conversation can end, and be marked, before
    // the lease does; after that another worker may claim and send it too. This matters for
    // a prefetched batch, claimed while the one before it was still being
    // sent, and for rows waiting for a connection behind a slow server.
    let send_by = lease_ends.checked_sub(lease_needed(config)).unwrap_or_else(Instant::now);
    let conversations = config.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(conversations));
    let mut tasks = JoinSet::new();
    for row in rows {
        let transport = transport.clone();
        let config = config.clone();
        let slots = slots.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            // Stopping, a worker finishes the messages it is sending and
            // starts no other.
            if Instant::now() >= send_by || stopping(&shutdown) {
                return (row, None);
            }
            // However slow the server, the conversation ends before the
            // lease does (lettre's own timeouts are per command).
            let limit = send_margin(&config);
            let message = match build_message(&config.from, &row) {
                Ok(message) => message,
                Err(e) => return (row, Some(Err(e))),
            };
            let sent = tokio::time::timeout(limit, transport.send(message));
            // Stopping, it has `stop_grace` to end; then it is given back,
            // counting no attempt (it may have gone: mail goes at least once).
            let stop_waited = async {
                let mut watching = shutdown.clone();
                while !stopping(&watching) {
                    if watching.changed().await.is_err() {
                        break;
                    }
                }
                tokio::time::sleep(config.stop_grace).await;
            };
            tokio::select! {
                // A send that ended as the grace did counts as sent.
                biased;
                sent = sent => (row, Some(sent.unwrap_or_else(|_| {
                    Err(SendError::transient(format!(
                        "the SMTP conversation took longer than {limit:?} (the most one may: {:?}, or half of \
                         PRICEGATE_MAIL_LEASE if shorter)",
                        config.send_timeout
                    )))
                }))),
                () = stop_waited => (row, None),
            }
        });
    }
    // Marked sent as they go, a few at a time (also while the rest wait on
    // a slow server): a worker killed mid-batch leaves only the last
    // moment's messages to go out again when the lease brings them back,
    // not the whole batch.
    let mut sent = Vec::new();
    let how = transport.not_emailed();
    let mut unsent = Vec::new();
    let mut failures = Failures::default();
    let mut sent_any = false;
    let mut mark_by = Instant::now() + MARK_SENT_AFTER;
    // Told to stop with messages still being sent: said once, as the stop
    // then waits on them (at most the grace), which is otherwise silent.
    let mut watching = shutdown.clone();
    let mut told_stop = stopping(&watching);
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next() => joined,
            () = tokio::time::sleep_until(mark_by.into()), if !sent.is_empty() => None,
            changed = watching.changed(), if !told_stop => {
                told_stop = changed.is_err() || stopping(&watching);
                // Those waiting for a slot start none: only those in a conversation count.
                let sending = conversations - slots.available_permits();
                if told_stop && sending > 0 {
                    tracing::info!(
                        sending,
                        grace = ?config.stop_grace,
                        "stopping: waiting for the messages being sent, for the grace at most; those left are given back"
                    );
                }
                None
            }
        };
        match joined {
            Some(Ok((row, result))) => match result {
                Some(Ok(())) => {
                    sent.push((row.id, row.attempts));
                    sent_any = true;
                }
                Some(Err(e)) => {
                    let retry = record_failure(store, config, &row, &e).await;
                    failures.add(&e.message, retry);
                }
                None => unsent.push((row.id, row.attempts)),
            },
            // Its row is neither marked nor given back: the lease brings it back.
            Some(Err(e)) => {
                tracing::error!(error = %causes(&e), "a mail send task failed; its message goes again after its lease")
            }
            None if tasks.is_empty() => break,
            None => {}
        }
        if sent.len() >= MARK_SENT_EVERY || (!sent.is_empty() && Instant::now() >= mark_by) {
            mark_sent(store, &std::mem::take(&mut sent), how.as_deref()).await;
            mark_by = Instant::now() + MARK_SENT_AFTER;
        }
    }
    mark_sent(store, &sent, how.as_deref()).await;
    failures.log(config.refused_for, trouble, sent_any);
    let why = if stopping(shutdown) { "stopping" } else { "its lease was running out" };
    give_back(store, &unsent, why).await;
}

/// The messages of a batch not sent and to be tried again, by what the
/// server said: logged once a batch, one line per reason with how many,
/// so that an outage with thousands of messages queued is a line a batch,
/// not one per message per try.
#[derive(Default)]
struct Failures {
    by_error: std::collections::BTreeMap<String, (usize, Duration)>,
}

impl Failures {
    fn add(&mut self, error: &str, retry: Option<Duration>) {
        // One that failed for good is logged on its own, as an error.
        let Some(retry) = retry else { return };
        let (count, soonest) = self.by_error.entry(error.to_owned()).or_insert((0, retry));
        *count += 1;
        *soonest = (*soonest).min(retry);
    }

    /// One line a reason, with what to do about it where the reason says
    /// (`refused_for`: how long a message the server refuses is tried), as
    /// far as `trouble` has not told it lately; `sent_any`: the batch sent
    /// some mail, so reasons it did not meet are over.
    fn log(self, refused_for: Duration, trouble: &mut Trouble, sent_any: bool) {
        let now = Instant::now();
        for (error, (count, retry_in)) in &self.by_error {
            // To the second: a retry is no more exact than that.
            let retry_in = Duration::from_secs(retry_in.as_secs().max(1));
            let advice = if error.starts_with(SendError::REFUSED_PREFIX) {
                format!(
                    "mail refused by the mail server, not for its recipient: the relay's permission for this \
                     sender, or SMTP_URL's login, is an administrator's to mend; tried again until it is {} old",
                    crate::compose::lifetime(chrono::Duration::from_std(refused_for).unwrap_or(chrono::Duration::MAX))
                )
            } else if refused_connection(error) {
                "mail not sent: no mail server answers at SMTP_URL's address (is it running, and is the address \
                 right?); will retry"
                    .to_owned()
            } else {
                "mail not sent; will retry".to_owned()
            };
            // One message's own trouble (its recipient's mailbox) is told each time.
            let met = if server_wide(error) { trouble.met(error, *count, now) } else { Said::First };
            match met {
                Said::First => tracing::warn!(count, retry_in = ?retry_in, error = %error, "{advice}"),
                Said::Still { lasted, failed } => tracing::warn!(
                    count,
                    retry_in = ?retry_in,
                    error = %error,
                    failed_since = failed,
                    "{advice} (still: {failed} tries have failed this way in the last {:?})",
                    Duration::from_secs(lasted.as_secs())
                ),
                Said::Lately => tracing::debug!(count, retry_in = ?retry_in, error = %error, "{advice}"),
            }
        }
        trouble.forget_quiet(now);
        if sent_any {
            for (error, lasting) in trouble.over(&self) {
                tracing::info!(
                    error = %error,
                    failed = lasting.failed,
                    "mail is going out again: none failed this way in the last batch, after {} tries did over {:?}",
                    lasting.failed,
                    Duration::from_secs(now.duration_since(lasting.since).as_secs())
                );
            }
        }
    }
}

/// How long a reason mail fails for, once told, goes untold while it lasts:
/// a mail server down for an hour with hundreds of messages queued is a line
/// now and then in the log, not one a batch (fifty in forty seconds).
const RETOLD_EVERY: Duration = Duration::from_secs(10 * 60);

/// Whether `error` is the mail server's as a whole (none answers, it answers
/// too slowly, or it refuses us), rather than one message's: what fails every
/// message alike, batch after batch, and is told once while it lasts.
fn server_wide(error: &str) -> bool {
    error.starts_with(SendError::REFUSED_PREFIX)
        || error.starts_with("SMTP: Connection error:")
        || error.starts_with("SMTP: cannot connect to")
        || error.starts_with("the SMTP conversation took longer than")
}

/// How many reasons of failure [`Trouble`] keeps at most.
const REASONS_KEPT: usize = 256;

/// The reasons mail has been failing for, from one batch to the next.
#[derive(Default)]
struct Trouble {
    lasting: std::collections::BTreeMap<String, Lasting>,
}

struct Lasting {
    since: Instant,
    told_at: Instant,
    /// The last batch it was met in.
    met_at: Instant,
    /// The tries that have failed for the reason since.
    failed: usize,
    /// The batches it was met in.
    batches: usize,
}

/// What the log says of a reason met in a batch.
#[derive(Debug, PartialEq)]
enum Said {
    /// Not met in the batch before: said at once.
    First,
    /// Met since, and said more than [`RETOLD_EVERY`] ago: said again, with
    /// how long and how many.
    Still { lasted: Duration, failed: usize },
    /// Said lately: at debug level only.
    Lately,
}

impl Trouble {
    /// `count` tries failed for `error` in a batch at `now`.
    fn met(&mut self, error: &str, count: usize, now: Instant) -> Said {
        let Some(lasting) = self.lasting.get_mut(error) else {
            // Reasons that name their message (a recipient's mailbox) may be
            // many, with no batch sending anything to end them: the longest
            // untold goes first, and is told anew if it comes back.
            if self.lasting.len() >= REASONS_KEPT
                && let Some(stalest) = self.lasting.iter().min_by_key(|(_, l)| l.told_at).map(|(e, _)| e.clone())
            {
                self.lasting.remove(&stalest);
            }
            let lasting = Lasting { since: now, told_at: now, met_at: now, failed: count, batches: 1 };
            self.lasting.insert(error.to_owned(), lasting);
            return Said::First;
        };
        lasting.failed += count;
        lasting.batches += 1;
        lasting.met_at = now;
        if now.duration_since(lasting.told_at) < RETOLD_EVERY {
            return Said::Lately;
        }
        lasting.told_at = now;
        Said::Still { lasted: now.duration_since(lasting.since), failed: lasting.failed }
    }

    /// Forgets the reasons no batch has met for [`RETOLD_EVERY`]: whatever
    /// ended them (their mail given up, say), one met again is a new trouble.
    fn forget_quiet(&mut self, now: Instant) {
        self.lasting.retain(|_, lasting| now.duration_since(lasting.met_at) < RETOLD_EVERY);
    }

    /// The reasons not met in a batch that sent mail, forgotten: those met in
    /// more than one batch, to say that they are over.
    fn over(&mut self, batch: &Failures) -> Vec<(String, Lasting)> {
        let ended: Vec<String> = self.lasting.keys().filter(|e| !batch.by_error.contains_key(*e)).cloned().collect();
        ended
            .into_iter()
            .filter_map(|e| self.lasting.remove(&e).map(|lasting| (e, lasting)))
            .filter(|(_, lasting)| lasting.batches > 1)
            .collect()
    }
}

/// Whether `error` is our connection to the mail server refused: no server
/// at SMTP_URL's address (not a relay that answered with a reply about a
/// connection of its own, "450 … connect to mx…: Connection refused").
fn refused_connection(error: &str) -> bool {
    let connecting = error.starts_with("SMTP: Connection error:") || error.starts_with("SMTP: cannot connect to");
    connecting && error.contains("Connection refused")
}

/// Sent messages are marked when this many have gone since the last mark…
const MARK_SENT_EVERY: usize = 100;
/// …or when this long has passed since it.
const MARK_SENT_AFTER: Duration = Duration::from_millis(200);
/// How long marking waits for a database away for a moment before it gives up.
const MARK_SENT_GIVES_UP: Duration = Duration::from_secs(8);

async fn mark_sent(store: &Store, sent: &[(uuid::Uuid, i32)], how: Option<&str>) {
    let count = sent.len();
    if count == 0 {
        return;
    }
    // A database away for a moment (a restart, a failover) is waited for,
    // a few seconds, and a mark that met another change is made again:
    // unmarked, what went out goes out again once the lease brings it back.
    let give_up = Instant::now() + MARK_SENT_GIVES_UP;
    let mut wait = Duration::from_millis(250);
    let mut marked = store.mark_mail_sent_as(sent, how).await;
    // A try that failed may have marked some before it did: the next marks the rest.
    let mut tried_again = false;
    while matches!(marked, Err(StoreError::Unavailable(_) | StoreError::Contended(_)))
        && Instant::now() + wait < give_up
    {
        tried_again = true;
        tokio::time::sleep(wait).await;
        wait *= 2;
        // Each try within what is left: the pool's own wait for a
        // connection to a database that hangs is longer.
        let left = give_up.saturating_duration_since(Instant::now());
        marked = match tokio::time::timeout(left, store.mark_mail_sent_as(sent, how)).await {
            Ok(marked) => marked,
            Err(_) => break,
        };
    }
    match marked {
        // They went out; the lease brings them back and they go out again,
        // with the same Message-ID. At-least-once, as designed.
        Err(e) => tracing::error!(error = %causes(&e), count, "mail sent but not marked sent"),
        Ok(marked) if marked < count as u64 && !tried_again => {
            // Our lease ran out mid-send and another worker claimed (and
            // perhaps sent) these since: theirs is the row's state now.
            tracing::warn!(count, marked, "mail sent after its lease ran out; another worker holds some rows now")
        }
        Ok(marked) => tracing::debug!(count, marked, "mail sent"),
    }
}

/// When a failed message is tried again: never after a refusal of its
/// recipient, nor after other refusals once it is `refused_for` old (`age`)
/// and was refused the time before too (`refused_before`: a first refusal
/// after a long outage gets one more try); otherwise after [`retry_delay`],
/// however many attempts came before.
fn next_retry(
    config: &WorkerConfig,
    attempts: i32,
    age: Duration,
    refused_before: bool,
    e: &SendError,
) -> Option<Duration> {
    let given_up = e.permanent || (e.refused && refused_before && age >= config.refused_for);
    (!given_up).then(|| retry_delay(config, attempts))
}

/// Records a failed attempt of `row`; returns when it is tried again, if it is.
async fn record_failure(store: &Store, config: &WorkerConfig, row: &outbox::Model, e: &SendError) -> Option<Duration> {
    let age = (chrono::Utc::now() - row.created_at).to_std().unwrap_or_default();
    let refused_before = row.last_error.as_deref().is_some_and(|m| m.starts_with(SendError::REFUSED_PREFIX));
    let retry = next_retry(config, row.attempts, age, refused_before, e);
    match retry {
        Some(delay) => {
            tracing::debug!(id = %row.id, kind = %row.kind, attempts = row.attempts, retry_in = ?delay, error = %causes(&e), "mail not sent; will retry")
        }
        None => {
            tracing::error!(
                id = %row.id,
                kind = %row.kind,
                to = %row.to_addr,
                attempts = row.attempts,
                error = %causes(&e),
                "mail failed for good: once the address is corrected (an account's on the users page), an admin \
                 sends it again from /admin/outbox"
            )
        }
    }
    match store.mark_mail_attempt_failed(row.id, row.attempts, &e.message, retry).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(id = %row.id, "failed attempt not recorded: the row's lease ran out and another worker holds it")
        }
        Err(db) => tracing::error!(id = %row.id, error = %db, "could not record the failed attempt"),
    }
    retry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_connection_refused_is_told_as_no_mail_server() {
        assert!(refused_connection("SMTP: Connection error: Connection refused (os error 111)"));
        assert!(refused_connection("SMTP: cannot connect to 127.0.0.1:2525: Connection refused (os error 111)"));
        let relay = "SMTP: transient error (450): 4.1.1 <a@b.example>: Recipient address rejected: unverified \
                     address: connect to mx.b.example[192.0.2.1]:25: Connection refused";
        assert!(!refused_connection(relay), "a relay that answered");
        assert!(server_wide("SMTP: Connection error: Connection refused (os error 111)"));
        assert!(
            !server_wide(relay) && !server_wide("SMTP: transient error (452): 4.2.2 mailbox full"),
            "one message's"
        );
    }

    #[test]
    fn a_batch_s_failures_are_told_once_per_reason_with_how_many() {
        let mut failures = Failures::default();
        let refused = "SMTP: Connection error: Connection refused (os error 111)";
        failures.add(refused, Some(Duration::from_secs(120)));
        failures.add(refused, Some(Duration::from_secs(30)));
        failures.add("SMTP: 451 4.3.0 try later", Some(Duration::from_secs(60)));
        failures.add("SMTP: 550 5.1.1 no such mailbox", None);
        let told: Vec<(&str, usize, Duration)> =
            failures.by_error.iter().map(|(e, (count, soonest))| (e.as_str(), *count, *soonest)).collect();
        assert_eq!(
            told,
            [("SMTP: 451 4.3.0 try later", 1, Duration::from_secs(60)), (refused, 2, Duration::from_secs(30))],
            "one line per reason, the soonest retry; one failed for good is told on its own"
        );
    }

    #[test]
    fn a_reason_mail_fails_for_is_told_when_first_met_then_now_and_then_while_it_lasts() {
        let mut trouble = Trouble::default();
        let refused = "SMTP: Connection error: Connection refused (os error 111)";
        let start = Instant::now();
        assert_eq!(trouble.met(refused, 20, start), Said::First);
        for batch in 1..50 {
            let at = start + Duration::from_secs(batch);
            assert_eq!(trouble.met(refused, 20, at), Said::Lately, "batch {batch}: said a moment ago");
        }
        let later = start + RETOLD_EVERY + Duration::from_secs(1);
        assert_eq!(
            trouble.met(refused, 2, later),
            Said::Still { lasted: RETOLD_EVERY + Duration::from_secs(1), failed: 50 * 20 + 2 }
        );
        assert_eq!(trouble.met(refused, 1, later + Duration::from_secs(1)), Said::Lately);
        // A batch that sent mail and met another reason: the outage is over, said once.
        let mut next = Failures::default();
        next.add("SMTP: 452 4.2.2 mailbox full", Some(Duration::from_secs(60)));
        let over = trouble.over(&next);
        assert_eq!(over.iter().map(|(e, l)| (e.as_str(), l.failed)).collect::<Vec<_>>(), [(refused, 1003)]);
        assert_eq!(trouble.met(refused, 1, later + Duration::from_secs(2)), Said::First, "a new outage");
        // A reason no batch has met for a while is forgotten, sent or not.
        let mut quiet = Trouble::default();
        assert_eq!(quiet.met(refused, 1, start), Said::First);
        quiet.forget_quiet(start + RETOLD_EVERY);
        assert_eq!(quiet.met(refused, 1, start + RETOLD_EVERY), Said::First, "told anew");
        // However many reasons come, no more than REASONS_KEPT are kept.
        let mut many = Trouble::default();
        for n in 0..REASONS_KEPT + 10 {
            many.met(
                &format!("SMTP: 452 <person-{n}@example.com>: mailbox full"),
                1,
                start + Duration::from_secs(n as u64),
            );
        }
        assert_eq!(many.lasting.len(), REASONS_KEPT);
        assert!(!many.lasting.contains_key("SMTP: 452 <person-0@example.com>: mailbox full"), "the stalest went");
        // A reason met in one batch only ends without a word.
        assert_eq!(trouble.met("SMTP: 451 try later", 1, later), Said::First);
        let over = trouble.over(&Failures::default());
        assert_eq!(over.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(), Vec::<&str>::new());
    }

    #[test]
    fn the_worker_stops_when_told_to_or_when_nobody_can_tell_it_any_more() {
        let (stop, shutdown) = watch::channel(false);
        assert!(!stopping(&shutdown));
        stop.send(true).unwrap();
        assert!(stopping(&shutdown));
        let (stop, shutdown) = watch::channel(false);
        drop(stop);
        assert!(stopping(&shutdown), "a dropped sender would make every changed() return at once");
    }

    #[test]
    fn a_row_is_sent_only_with_a_whole_conversation_and_its_mark_of_its_lease_left() {
        let mut config = WorkerConfig::new("P <p@example.com>".parse().unwrap(), Duration::from_secs(1), vec![]);
        assert_eq!(send_margin(&config), Duration::from_secs(60), "the default lease leaves room for many");
        assert_eq!(lease_needed(&config), Duration::from_millis(68_200), "and for marking one sent, retries and all");
        // A lease shorter than two conversations (PRICEGATE_MAIL_LEASE=3s in
        // the crash test) must still leave time to send something.
        config.lease = Duration::from_secs(3);
        assert_eq!(send_margin(&config), Duration::from_millis(1500));
        assert_eq!(lease_needed(&config), Duration::from_millis(1800));
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        let config = WorkerConfig::new("P <p@example.com>".parse().unwrap(), Duration::from_secs(1), vec![]);
        for attempt in 1..=30 {
            let d = retry_delay(&config, attempt);
            let full = (Duration::from_secs(2) * 2u32.pow((attempt as u32 - 1).min(20))).min(config.retry_cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} vs {full:?}");
        }
    }

    #[test]
    fn a_temporary_failure_is_retried_however_long_it_lasts_and_a_refusal_is_not() {
        let config = WorkerConfig::new("P <p@example.com>".parse().unwrap(), Duration::from_secs(1), vec![]);
        let down = SendError::transient("SMTP: connection refused");
        // Attempt 200 comes after days of an outage, an hour apart at most.
        let days = |n: u64| Duration::from_secs(n * 24 * 3600);
        for attempts in [1, 12, 13, 200, i32::MAX] {
            let retry = next_retry(&config, attempts, days(30), true, &down);
            assert!(retry.is_some_and(|d| d <= config.retry_cap), "attempt {attempts}: {retry:?}");
        }
        let refused = SendError { message: "SMTP: 550 no such user".into(), permanent: true, refused: false };
        assert_eq!(next_retry(&config, 1, Duration::ZERO, false, &refused), None);
        // The relay refuses us: tried again for three days, then no more.
        let relay =
            SendError { message: "SMTP: 554 5.7.1 Relay access denied".into(), permanent: false, refused: true };
        assert!(next_retry(&config, 40, days(2), true, &relay).is_some());
        assert_eq!(next_retry(&config, 41, days(3), true, &relay), None);
        // Refused for the first time after a longer outage: one more try.
        assert!(next_retry(&config, 80, days(4), false, &relay).is_some());
    }
}
