//! A published notice's dashboard: who has acknowledged it, who has not and why, and the mail that did not
//! reach them.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pricegate_domain::Role;
use pricegate_store::REMIND_NOW_AGAIN_AFTER_MINUTES as AGAIN;
use uuid::Uuid;

use super::done::{NOTICE_DONE, NoticeDone};
use super::impact::effect_in_words;
use super::remind::RemindCounts;
use crate::pages::{Layout, PageError, PageId, PageQuery, PageUser};
use crate::{AppState, filters};

pub(super) struct AckRow {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) email: String,
    /// The role of someone other than a salesperson who acknowledged anyway.
    pub(super) not_sales: Option<String>,
    /// Someone who acknowledged it and has been deactivated since.
    pub(super) deactivated: bool,
    pub(super) at: String,
    pub(super) channel: String,
    /// Where an acknowledgement came from: the address and the browser or
    /// program, as far as they are known; empty if neither is.
    pub(super) from: String,
    /// Open quotes this person signs that the notice blocks: (id, customer),
    /// the first [`LISTED_EACH`] unless the page lists them all.
    pub(super) blocked: Vec<crate::pages::notices::HeldUpQuote>,
    /// How many more it blocks than `blocked` lists.
    pub(super) more_blocked: usize,
    /// Someone pending: the reminders queued for them so far, in words.
    pub(super) reminded: String,
    /// Someone pending whom no e-mail about the notice has reached, though
    /// one was tried: why, in words.
    pub(super) undelivered: Option<Undelivery>,
}

/// Why no e-mail about the notice has reached someone it waits for.
pub(super) struct Undelivery {
    /// Given up on; else tried again on its own.
    pub(super) failed: bool,
    pub(super) words: String,
    /// What went wrong the last time it was tried (mostly the mail
    /// server's answer), quoted: in the row, unless every row has the same,
    /// which the note above the list then quotes once.
    pub(super) answer: Option<String>,
}

impl Undelivery {
    /// How long a mail server's answer the dashboard quotes, in characters.
    pub(super) const QUOTED: usize = 200;

    pub(super) fn of(
        u: &pricegate_store::views::UndeliveredView,
        now: chrono::DateTime<chrono::Utc>,
        calendar: &pricegate_domain::Calendar,
    ) -> Undelivery {
        let failed = u.state == "failed";
        // What went wrong, quoted: the page says it after the words, in the row or above the list.
        let answer = u.error.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(|e| {
            let cut: String = e.chars().take(Self::QUOTED).collect();
            let cut = if cut.len() < e.len() { format!("{cut}\u{2026}") } else { cut };
            format!("\u{201c}{cut}\u{201d}")
        });
        let queued = calendar.stamp(u.queued_at, true);
        // The worker's words for a reply in 5xx: a refusal, of the address
        // when it failed at once, of our mail (a relay's) when it is tried again.
        let refused = u.error.as_deref().is_some_and(|e| e.starts_with("SMTP: permanent error"));
        let tries = match u.attempts {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        // When the worker tries it next: a time past is due now (the worker
        // is busy, or stopped, which the outbox page shows an administrator).
        let next = match u.next_attempt_at {
            Some(at) if at > now => format!("next at {}", calendar.stamp(at, true)),
            _ => "next as soon as the mail worker comes to it".to_owned(),
        };
        let words = match (failed, refused) {
            (true, true) => format!(
                "Not delivered: the mail server refused their address for the e-mail queued {queued}. Until an \
                 administrator corrects it, Remind fails too: tell them another way."
            ),
            (true, false) => format!(
                "Not delivered: the e-mail queued {queued} was given up on. An administrator can check their \
                 address and send it again from the outbox; Remind sends a new one."
            ),
            (false, true) => format!(
                "Not delivered yet: the mail server refuses Pricegate's mail, not their address (tried {tries}), \
                 which an administrator must mend in the mail settings; it is tried again meanwhile, {next}."
            ),
            (false, false) => {
                format!(
                    "Not delivered yet: the e-mail queued {queued} was tried {tries}, and is tried again on its own, {next}."
                )
            }
        };
        Undelivery { failed, words, answer }
    }
}

/// The reminders of a notice queued for someone: how many, and when the
/// last was. The schedule reminds only those with a draft it holds up
/// (`holds_up`): anyone else is reminded only by "Remind now".
pub(super) fn reminded_words(
    reminded: Option<&(u64, chrono::DateTime<chrono::Utc>)>,
    holds_up: bool,
    calendar: &pricegate_domain::Calendar,
) -> String {
    match reminded {
        None if holds_up => "None yet".to_owned(),
        None => "None: no draft of theirs waits for it, so only Remind reminds them".to_owned(),
        Some((1, last)) => format!("1, at {}", calendar.stamp(*last, true)),
        Some((n, last)) => format!("{n}, the last at {}", calendar.stamp(*last, true)),
    }
}

/// A signer who can no longer sign, with the open quotes they sign that the
/// notice holds up: nobody is asked to acknowledge for them.
pub(super) struct StrandedRow {
    pub(super) name: String,
    pub(super) email: String,
    /// "deactivated", or the role they were moved to: "now in finance".
    pub(super) why: String,
    pub(super) id: Uuid,
    /// As [`AckRow::blocked`], and `more` as its `more_blocked`.
    pub(super) quotes: Vec<crate::pages::notices::HeldUpQuote>,
    pub(super) more: usize,
}

/// How many of one person's drafts the dashboard lists before "and 40
/// more": a notice that holds up a thousand drafts stays a page finance can
/// read (the sums above count them all), and each person's list opens in
/// full from its link (`?all=<their id>`).
pub(super) const LISTED_EACH: usize = 10;

/// The dashboard's address: `?all=<user id>` lists all that person's drafts.
#[derive(serde::Deserialize, Default)]
pub(super) struct DashboardQuery {
    pub(super) all: Option<String>,
}

/// Cuts `quotes` to [`LISTED_EACH`] unless `all`; how many it cut.
pub(super) fn listed_each(quotes: &mut Vec<crate::pages::notices::HeldUpQuote>, all: bool) -> usize {
    let more = if all { 0 } else { quotes.len().saturating_sub(LISTED_EACH) };
    quotes.truncate(quotes.len() - more);
    more
}

/// Acknowledgements over time as an SVG polyline (`x,y` pairs in a 600×160
/// box): from publication to now, the share of salespeople who have acknowledged.
pub(super) fn chart_points(
    published: chrono::DateTime<chrono::Utc>,
    acks: &[chrono::DateTime<chrono::Utc>],
    people: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let now = now.max(published);
    let span = (now - published).num_milliseconds().max(1) as f64;
    let people = people.max(1) as f64;
    let x =
        |t: chrono::DateTime<chrono::Utc>| ((t - published).num_milliseconds().max(0) as f64 / span * 600.0).min(600.0);
    let y = |n: usize| 160.0 - (n as f64 / people * 160.0).min(160.0);
    let mut points = vec![format!("0,{:.1}", y(0))];
    for (i, at) in acks.iter().enumerate() {
        points.push(format!("{:.1},{:.1}", x(*at), y(i)));
        points.push(format!("{:.1},{:.1}", x(*at), y(i + 1)));
    }
    points.push(format!("600,{:.1}", y(acks.len())));
    points.join(" ")
}

#[derive(Template)]
#[template(path = "pages/notice_dashboard.html")]
pub(super) struct DashboardPage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    pub(super) id: Uuid,
    pub(super) title: String,
    pub(super) published_at: String,
    pub(super) acknowledged: Vec<AckRow>,
    pub(super) pending: Vec<AckRow>,
    /// How many of `acknowledged` are not salespeople (not in the chart's count).
    pub(super) acknowledged_others: usize,
    /// Drafts the notice holds up whose signer can no longer sign.
    pub(super) stranded: Vec<StrandedRow>,
    /// How many drafts `stranded` names.
    pub(super) stranded_quotes: usize,
    /// Of those, the ones summed in [`DashboardPage::at_stake`]: not past their validity.
    pub(super) stranded_counted: usize,
    /// When the salespeople still pending were escalated to finance, in words.
    pub(super) escalated: Option<String>,
    /// A `?all=` that names nobody listed here, said.
    pub(super) all_note: Option<String>,
    /// The person a `?all=` named whose drafts are all listed: Refresh and
    /// the reminder form keep listing them.
    pub(super) listing_all: Option<Uuid>,
    /// Those told of it by e-mail who never acknowledged it and are no
    /// longer waited for (deactivated, moved out of sales, or no longer
    /// signing a draft it holds up), each with why: the chart no longer
    /// counts them, and the page says who they were.
    pub(super) no_longer_waited_for: Vec<String>,
    /// Salespeople, acknowledged or not.
    pub(super) salespeople: usize,
    pub(super) message: Option<String>,
    /// The message tells of a form that changed nothing (no reminder queued).
    pub(super) nothing_done: bool,
    pub(super) chart: String,
    /// Where the chart ends, in words: "Now 3 of 4 (75%), as of 2026-12-06 14:05:12 UTC."
    pub(super) chart_now: String,
    /// How long after someone was mailed about it "Remind now" leaves them out.
    pub(super) again_after_minutes: i64,
    /// What the drafts held up are worth and what the notice does to them,
    /// in words ([`pricegate_mail::compose::Stake::in_words`]).
    pub(super) at_stake: Option<String>,
    /// Those past their validity, in a sentence ([`pricegate_mail::compose::Stake::past_validity`]).
    pub(super) past_validity: Option<String>,
    /// What went wrong the last time, when every undelivered row has the
    /// same ([`DashboardPage::shared_answer`]): said once, above the list.
    pub(super) shared_answer: Option<String>,
}

impl DashboardPage {
    /// How many of those pending the mail server has yet to take an e-mail
    /// about the notice for, and has refused (or been given up on) for good.
    pub(super) fn undelivered(&self) -> (usize, usize) {
        let undelivered = self.pending.iter().filter_map(|p| p.undelivered.as_ref());
        undelivered
            .fold((0, 0), |(waiting, failed), u| if u.failed { (waiting, failed + 1) } else { (waiting + 1, failed) })
    }

    /// What went wrong the last time, when more than one row has one and
    /// all have the same (the relay down for everyone, say): the note above
    /// the list quotes it once, and the rows do not repeat it.
    pub(super) fn shared_answer(pending: &[AckRow]) -> Option<String> {
        let mut answers = pending.iter().filter_map(|p| p.undelivered.as_ref()).map(|u| u.answer.as_deref());
        let first = answers.next()??;
        let mut rest = answers.peekable();
        rest.peek()?;
        rest.all(|a| a == Some(first)).then(|| first.to_owned())
    }

    /// A row's answer from the mail server, unless the note above quotes it for all.
    pub(super) fn answer_in_row<'a>(&self, u: &'a Undelivery) -> Option<&'a str> {
        u.answer.as_deref().filter(|_| self.shared_answer.is_none())
    }

    /// Above the pending list: that e-mail about the notice has not reached
    /// some of them, so that "pending" is not read as "told, not yet read".
    pub(super) fn undelivered_note(&self) -> Option<String> {
        let (waiting, failed) = self.undelivered();
        let them = |n: usize| if n == 1 { "1 of them".to_owned() } else { format!("{n} of them") };
        let said = match (waiting, failed) {
            (0, 0) => return None,
            (w, 0) => format!(
                "The mail server has not yet taken the e-mail about this notice to {}: it is tried again on its own.",
                them(w)
            ),
            (0, f) => format!("No e-mail about this notice has reached {}: it was given up on.", them(f)),
            (w, f) => format!(
                "No e-mail about this notice has reached {}: for {w} it is tried again on its own, for {f} it was \
                 given up on.",
                them(w + f)
            ),
        };
        let answered = match &self.shared_answer {
            Some(answer) => format!("What went wrong the last time was the same for each: {answer}."),
            None => "Their rows say what went wrong the last time each was tried.".to_owned(),
        };
        Some(format!(
            "{said} {answered} An administrator sees each e-mail on the outbox page. Meanwhile, tell them another \
             way: the drafts it holds up wait for their acknowledgement."
        ))
    }
}

/// The dashboard's address, listing all of one person's held-up drafts
/// (`?all=`) or each person's first [`LISTED_EACH`]. Not at their row: the
/// message saying what the form did is at the top.
pub(super) fn dashboard_path(notice: Uuid, listing_all: Option<Uuid>) -> String {
    match listing_all {
        Some(person) => format!("/notices/{notice}/dashboard?all={person}"),
        None => format!("/notices/{notice}/dashboard"),
    }
}

/// `part` of `whole` in whole percent, rounded to the nearest, but 100 only
/// when it is all and 0 only when it is none (199 of 200 is 99%, not 100%).
pub(super) fn share_percent(part: usize, whole: usize) -> usize {
    let Some(rounded) = (part * 100 + whole / 2).checked_div(whole) else { return 0 };
    match part {
        0 => 0,
        _ if part >= whole => 100,
        _ => rounded.clamp(1, 99),
    }
}

pub(super) async fn dashboard(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
    PageQuery { query, unreadable }: PageQuery<DashboardQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    // One that names nobody (a stale or mistyped link) lists each person's first drafts, and says so.
    let asked_all = query.all.as_deref().is_some_and(|raw| !raw.trim().is_empty()) || unreadable;
    let all_of = query.all.and_then(|raw| Uuid::parse_str(raw.trim()).ok());
    let n = app.store.get_notice(&user.0.actor, id).await?;
    let Some(published) = n.published_at else {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "A draft has no dashboard",
            format!(
                "Nobody is asked to acknowledge \u{201c}{}\u{201d} until it is published: review it on its page \
                 and publish it from there. Its dashboard starts then.",
                n.title
            ),
        )
        .with_next(format!("/notices/{id}"), "Open the draft"));
    };
    // Read before the acknowledgements: the page says who had by then, at least.
    let now = app.store.now().await?;
    let acks = app.store.list_acknowledgements(id).await?;
    // The chart is the salespeople's: finance and admins may acknowledge too.
    let mut times: Vec<_> =
        acks.acknowledged.iter().filter(|a| a.user.role == Role::Sales.as_str()).map(|a| a.acknowledged_at).collect();
    times.sort();
    let salespeople = times.len() + acks.pending.len();
    let acknowledged_others = acks.acknowledged.len() - times.len();
    let reminded = app.store.reminders_of(id).await?;
    let undelivered: HashMap<Uuid, _> = acks.undelivered.iter().map(|u| (u.user_id, u)).collect();
    // Told of it, and neither acknowledged nor waited for now, as its file lists them.
    let left = crate::pages::acknowledgements_export::no_longer_waited_for(&app.store.mailed_about(id).await?, &acks);
    let calendar = app.store.calendar();
    let escalated = app.store.escalations_of(id).await?.map(|(n, last)| {
        let mails = if n == 1 { "1 e-mail, at".to_owned() } else { format!("{n} e-mails, the last at") };
        format!("Escalated to finance after the last scheduled reminder: {mails} {}.", calendar.stamp(last, true))
    });
    let mut waiting: HashMap<Uuid, Vec<crate::pages::notices::HeldUpQuote>> = HashMap::new();
    let mut held_up = app.store.quotes_waiting_on(id).await?;
    // What each held-up draft is worth (what a late acknowledgement costs),
    // and what the notice does to it while it is valid, as its e-mails say.
    let mut signers: Vec<Uuid> = held_up.iter().map(|q| q.signer_id).collect();
    signers.sort_unstable();
    signers.dedup();
    let effects = app.store.notice_effects(id, signers).await?;
    // Each person's drafts the notice changes first, as its e-mails and the
    // link's page list them, each part in drafting order.
    pricegate_store::WaitingQuote::sort_changed_first(&mut held_up, &effects);
    // Summed over every draft it holds up, as the escalation's e-mail sums
    // them: those with nobody to sign, listed apart, too.
    let mut at_stake = pricegate_mail::compose::Stake::default();
    for q in held_up {
        let effect_of = effects.get(&q.id);
        let total = effect_of.map(|e| pricegate_mail::compose::money(&e.currency, e.total_minor));
        let effect = effect_of.map(|e| {
            at_stake.add(e);
            effect_in_words(e)
        });
        waiting.entry(q.signer_id).or_default().push(crate::pages::notices::HeldUpQuote {
            total,
            effect,
            ..crate::pages::notices::HeldUpQuote::from(q)
        });
    }
    let mut page = DashboardPage {
        layout: user.layout(format!("Acknowledgements: {}", n.title)),
        csrf: user.csrf().to_owned(),
        id,
        published_at: n.published_at.map(|at| app.store.calendar().stamp(at, true)).unwrap_or_default(),
        title: n.title,
        chart: chart_points(published, &times, salespeople, now),
        chart_now: format!(
            "Now {} of {salespeople} ({}%), as of {}.",
            times.len(),
            share_percent(times.len(), salespeople),
            calendar.stamp(now, true)
        ),
        salespeople,
        again_after_minutes: AGAIN,
        at_stake: at_stake.in_words(),
        past_validity: at_stake.past_validity(),
        acknowledged: acks
            .acknowledged
            .into_iter()
            .map(|a| AckRow {
                not_sales: (a.user.role != Role::Sales.as_str()).then_some(a.user.role),
                deactivated: !a.user.active,
                id: a.user.id,
                name: a.user.name,
                email: a.user.email,
                at: calendar.stamp(a.acknowledged_at, true),
                channel: crate::pages::channel_in_words(&a.channel).to_owned(),
                from: [a.client_address, a.user_agent].into_iter().flatten().collect::<Vec<_>>().join(" · "),
                blocked: Vec::new(),
                more_blocked: 0,
                reminded: String::new(),
                undelivered: None,
            })
            .collect(),
        pending: acks
            .pending
            .into_iter()
            .map(|u| {
                let blocked = waiting.remove(&u.id).unwrap_or_default();
                AckRow {
                    reminded: reminded_words(reminded.get(&u.id), !blocked.is_empty(), &calendar),
                    undelivered: undelivered.get(&u.id).map(|why| Undelivery::of(why, now, &calendar)),
                    blocked,
                    more_blocked: 0,
                    not_sales: None,
                    deactivated: false,
                    id: u.id,
                    name: u.name,
                    email: u.email,
                    at: String::new(),
                    channel: String::new(),
                    from: String::new(),
                }
            })
            .collect(),
        stranded: Vec::new(),
        stranded_quotes: 0,
        stranded_counted: 0,
        escalated,
        no_longer_waited_for: Vec::new(),
        all_note: None,
        listing_all: None,
        acknowledged_others,
        message: None,
        nothing_done: false,
        shared_answer: None,
    };
    page.shared_answer = DashboardPage::shared_answer(&page.pending);
    // Those whose drafts the notice holds up first, most drafts first; then by name.
    page.pending.sort_by_cached_key(|r| {
        (std::cmp::Reverse(r.blocked.len()), pricegate_store::name_key(&r.name), r.email.clone())
    });
    // What is left waits on someone no longer an active salesperson, whom no
    // reminder reaches: the drafts need another signer.
    let signers: Vec<Uuid> = waiting.keys().copied().chain(left.iter().copied()).collect();
    let mut people = app.store.users_by_id(&signers).await?;
    let mut gone: Vec<&pricegate_store::views::UserView> = left.iter().filter_map(|u| people.get(u)).collect();
    gone.sort_by_cached_key(|u| (pricegate_store::name_key(&u.name), u.email.clone()));
    page.no_longer_waited_for = gone
        .into_iter()
        .map(|u| match (u.active, u.can_sign()) {
            (false, _) => format!("{} (deactivated)", u.name),
            (true, false) => format!("{} (now in {})", u.name, u.role),
            (true, true) => format!("{} (no draft of theirs waits for it now)", u.name),
        })
        .collect();
    page.stranded = waiting
        .into_iter()
        .filter_map(|(signer, quotes)| {
            // One made a salesperson again since the list was read is left out.
            let u = people.remove(&signer).filter(|u| !u.can_sign())?;
            let why = if u.active { format!("now in {}", u.role) } else { "deactivated".to_owned() };
            Some(StrandedRow { name: u.name, email: u.email, why, id: signer, quotes, more: 0 })
        })
        .collect();
    page.stranded.sort_by_cached_key(|s| (pricegate_store::name_key(&s.name), s.email.clone()));
    page.stranded_quotes = page.stranded.iter().map(|s| s.quotes.len()).sum();
    let counted = |q: &&crate::pages::notices::HeldUpQuote| effects.get(&q.id).is_some_and(|e| e.expired_on.is_none());
    page.stranded_counted = page.stranded.iter().flat_map(|s| &s.quotes).filter(counted).count();
    // Counted and ordered by every draft; listed, past the first few, from a link.
    for p in &mut page.pending {
        p.more_blocked = listed_each(&mut p.blocked, all_of == Some(p.id));
    }
    for s in &mut page.stranded {
        s.more = listed_each(&mut s.quotes, all_of == Some(s.id));
    }
    let listed_all =
        page.pending.iter().map(|p| p.id).chain(page.stranded.iter().map(|s| s.id)).any(|id| Some(id) == all_of);
    page.listing_all = all_of.filter(|_| listed_all);
    if asked_all && !listed_all {
        page.all_note = Some(
            "That link names nobody whose drafts the notice holds up now: each person's first ten are listed, \
             and each list's own link lists them all."
                .to_owned(),
        );
    }
    let seal = user.seal(&app);
    // A draft's form sent is the confirmation page's to tell.
    let done = NOTICE_DONE
        .read(&headers, &seal)
        .and_then(|v| NoticeDone::parse(v, id))
        .filter(|d| !matches!(d, NoticeDone::Saved | NoticeDone::SavedAlready | NoticeDone::Unchanged));
    page.message = done.as_ref().map(|d| d.sentence(&page, &app.store.calendar()));
    page.nothing_done = matches!(done, Some(NoticeDone::Reminded { counts: RemindCounts { queued: 0, .. }, .. }));
    Ok(NOTICE_DONE.told(&headers, &seal, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_rounds_to_the_nearest_percent_but_never_to_all_or_none() {
        let shares: Vec<usize> = [(2, 3), (1, 3), (0, 3), (3, 3), (199, 200), (1, 1000), (0, 0), (5, 4)]
            .into_iter()
            .map(|(part, whole)| share_percent(part, whole))
            .collect();
        assert_eq!(shares, [67, 33, 0, 100, 99, 1, 0, 100]);
    }
}
