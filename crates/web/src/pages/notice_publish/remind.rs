//! "Remind now" on a notice's dashboard, and what it did, in words.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_store::REMIND_NOW_AGAIN_AFTER_MINUTES as AGAIN;
use pricegate_store::StoreError;
use uuid::Uuid;

use super::done::NoticeDone;
use crate::AppState;
use crate::pages::{CsrfForm, Finance, PageError, PageId};

/// "Remind now", or "Remind" in one pending salesperson's row (`user`).
pub(super) async fn remind(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    let one = match form.get("user") {
        "" => None,
        user => Some(user.parse::<Uuid>().map_err(|_| {
            PageError::new(StatusCode::BAD_REQUEST, "Nobody reminded", "The form named nobody this page lists.")
                .with_code("bad_request")
        })?),
    };
    // The page listed all of someone's drafts: so does the one it goes back to.
    let listing_all = Uuid::parse_str(form.get("all")).ok();
    let reminded = match app.store.remind_now(&user.0.actor, id, one).await {
        // Acknowledged since the dashboard was read: it says so, as it lists them now.
        Err(StoreError::Conflict { code: "not_pending", .. }) => {
            let counts = RemindCounts { queued: 0, left_out: 0, not_sent: 0 };
            let done = NoticeDone::Reminded { one, counts, again_from: None };
            return Ok(done.back_to_dashboard(&user.seal(&app), id, listing_all));
        }
        reminded => reminded?,
    };
    // Said to the minute, so rounded up to the next one.
    let again_from = reminded.again_from.map(crate::pages::minute_from);
    let counts = RemindCounts {
        queued: reminded.queued,
        left_out: reminded.recently_reminded,
        not_sent: reminded.mail_deferred,
    };
    let done = NoticeDone::Reminded { one, counts, again_from };
    Ok(done.back_to_dashboard(&user.seal(&app), id, listing_all))
}

/// What "Remind" in `name`'s row did: a reminder `queued`, or none, as they
/// were e-mailed about the notice lately (`left_out`, again from `again`),
/// or as the notice no longer waits for them.
pub(super) fn reminded_one_sentence(name: &str, counts: RemindCounts, again: Option<String>) -> String {
    if counts.queued > 0 {
        return format!("A reminder is queued for {name}.");
    }
    if counts.left_out == 0 {
        return format!("No reminder queued: this notice no longer waits for an acknowledgement from {name}.");
    }
    let mut sentence = match counts.not_sent {
        0 => format!("No reminder queued: {name} was e-mailed about this notice in the last {AGAIN} minutes."),
        _ => {
            format!("No reminder queued: {name} still has an e-mail about this notice waiting. {}", not_taken_yet(1, 1))
        }
    };
    if let Some(again) = again {
        sentence.push_str(&reminded_again("They can", &again));
    }
    sentence
}

/// When those left out (`them`: "They can", "They can both", …) can be
/// reminded again: from `again`, or sooner by the schedule.
pub(super) fn reminded_again(them: &str, again: &str) -> String {
    // A scheduled reminder sent before then is an e-mail too, and puts it off.
    format!(" {them} be reminded again from {again}, unless a scheduled reminder reaches them first.")
}

/// What "Remind now" (or "Remind" in a row) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::pages) struct RemindCounts {
    /// Reminders queued.
    pub(super) queued: usize,
    /// Salespeople skipped as e-mailed about the notice lately.
    pub(super) left_out: usize,
    /// Of those, how many have that e-mail still in the outbox, not taken
    /// by the mail server yet: not said to have been e-mailed.
    pub(super) not_sent: usize,
}

/// That the mail server has not yet taken `not_sent` of the e-mails about
/// the notice to the `left_out` skipped.
pub(super) fn not_taken_yet(not_sent: usize, left_out: usize) -> String {
    let behind = "and a reminder would only wait behind it";
    match (not_sent, left_out) {
        (_, 1) => format!("The mail server has not yet taken that e-mail: it is tried again on its own, {behind}."),
        (n, m) if n == m => "The mail server has not yet taken those e-mails: they are tried again on their own, \
                              and reminders would only wait behind them."
            .to_owned(),
        (1, _) => {
            format!("The mail server has not yet taken 1 of those e-mails: it is tried again on its own, {behind}.")
        }
        (n, _) => format!(
            "The mail server has not yet taken {n} of those e-mails: they are tried again on their own, and \
             reminders would only wait behind them."
        ),
    }
}

/// What "Remind now" did (`counts`), those skipped able to be reminded
/// again from `again` (a time as people read it).
pub(super) fn reminded_sentence(counts: RemindCounts, again: Option<String>) -> String {
    let RemindCounts { queued, left_out, not_sent } = counts;
    // Said after "was" or "were" (and "has" or "have"): someone whose e-mail
    // the mail server deferred is left out however long ago.
    let why_of = |has: &str| match not_sent {
        0 => format!("e-mailed about this notice in the last {AGAIN} minutes"),
        _ => {
            format!("e-mailed about this notice in the last {AGAIN} minutes, or still {has} an e-mail about it waiting")
        }
    };
    let (why, why_one) = (why_of("have"), why_of("has"));
    let reminders = |n: usize| if n == 1 { "1 reminder".to_owned() } else { format!("{n} reminders") };
    let mut sentence = match (queued, left_out) {
        (0, 0) => "No reminders queued.".to_owned(),
        (q, 0) => format!("{} queued.", reminders(q)),
        (0, 1) => format!("No reminders queued: the one salesperson still pending was {why_one}."),
        (0, 2) => format!("No reminders queued: both salespeople still pending were {why}."),
        (0, n) => format!("No reminders queued: all {n} salespeople still pending were {why}."),
        (q, 1) => format!("{} queued. 1 salesperson was skipped: they were {why}.", reminders(q)),
        (q, n) => format!("{} queued. {n} salespeople were skipped: they were {why}.", reminders(q)),
    };
    if not_sent > 0 && left_out > 0 {
        sentence.push(' ');
        sentence.push_str(&not_taken_yet(not_sent, left_out));
    }
    // Those left out for an e-mail still waiting are not reminded again from a time.
    if let Some(again) = again.filter(|_| left_out > not_sent) {
        let them = match left_out {
            1 => "They can",
            2 => "They can both",
            _ => "They can all",
        };
        sentence.push_str(&reminded_again(them, &again));
    }
    sentence
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_remind_now_did_reads_right_for_every_count() {
        let at = || Some("10:17 UTC".to_owned());
        let cases = [
            (0, 0, None, "No reminders queued."),
            (1, 0, None, "1 reminder queued."),
            (3, 0, None, "3 reminders queued."),
            (
                0,
                1,
                at(),
                "No reminders queued: the one salesperson still pending was e-mailed about this notice in the last \
                 10 minutes. They can be reminded again from 10:17 UTC, unless a \
                 scheduled reminder reaches them first.",
            ),
            (
                0,
                2,
                at(),
                "No reminders queued: both salespeople still pending were e-mailed about this notice in the last \
                 10 minutes. They can both be reminded again from 10:17 UTC, unless a \
                 scheduled reminder reaches them first.",
            ),
            (
                0,
                4,
                at(),
                "No reminders queued: all 4 salespeople still pending were e-mailed about this notice in the last \
                 10 minutes. They can all be reminded again from 10:17 UTC, unless a \
                 scheduled reminder reaches them first.",
            ),
            (
                2,
                1,
                at(),
                "2 reminders queued. 1 salesperson was skipped: they were e-mailed about this notice in the last \
                 10 minutes. They can be reminded again from 10:17 UTC, unless a \
                 scheduled reminder reaches them first.",
            ),
            (
                1,
                3,
                None,
                "1 reminder queued. 3 salespeople were skipped: they were e-mailed about this notice in the last \
                 10 minutes.",
            ),
        ];
        for (queued, left_out, again, said) in cases {
            let counts = RemindCounts { queued, left_out, not_sent: 0 };
            assert_eq!(reminded_sentence(counts, again), said, "{queued} queued, {left_out} skipped");
        }
        // Some of those left out have an e-mail the mail server has not taken: not said only to be e-mailed.
        let cases = [
            (
                (0, 1, 1),
                "No reminders queued: the one salesperson still pending was e-mailed about this notice in the last \
                 10 minutes, or still has an e-mail about it waiting. The mail server has not yet taken that e-mail: it \
                 is tried again on its own, and a reminder would only wait behind it.",
            ),
            (
                (0, 2, 2),
                "No reminders queued: both salespeople still pending were e-mailed about this notice in the last 10 \
                 minutes, or still have an e-mail about it waiting. The mail server has not yet taken those e-mails: \
                 they are tried again on their own, and reminders would only wait behind them.",
            ),
            (
                (3, 4, 1),
                "3 reminders queued. 4 salespeople were skipped: they were e-mailed about this notice in the last 10 \
                 minutes, or still have an e-mail about it waiting. The mail server has not yet taken 1 of those \
                 e-mails: it is tried again on its own, and a reminder would only wait behind it.",
            ),
        ];
        for ((queued, left_out, not_sent), said) in cases {
            assert_eq!(reminded_sentence(RemindCounts { queued, left_out, not_sent }, None), said);
        }
        let counts = RemindCounts { queued: 0, left_out: 1, not_sent: 1 };
        assert_eq!(
            reminded_one_sentence("Tom", counts, None),
            "No reminder queued: Tom still has an e-mail about this notice waiting. The mail \
             server has not yet taken that e-mail: it is tried again on its own, and a reminder would only wait \
             behind it."
        );
    }
}
