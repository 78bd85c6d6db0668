//! What a form did to a notice, carried across the redirect to its page and told there once.

use axum::response::Response;
use uuid::Uuid;

use super::dashboard::{DashboardPage, dashboard_path};
use super::remind::{RemindCounts, reminded_one_sentence, reminded_sentence};
use crate::pages::{DoneCookie, Seal};

/// What finance just did to a published notice, carried across the redirect
/// to its dashboard (post, redirect, get: reloading sends nothing again) and
/// told there once. The cookie names the notice.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::pages) enum NoticeDone {
    /// The draft was saved: its confirmation page says so.
    Saved,
    /// The new-notice form sent again after it saved the draft.
    SavedAlready,
    /// A draft's edit form sent as the draft is: nothing written.
    Unchanged,
    Published,
    Reminded {
        /// The salesperson "Remind" in their row reminded alone; `None` for
        /// "Remind now", everyone pending.
        one: Option<Uuid>,
        counts: RemindCounts,
        /// When those left out can be reminded again, in whole seconds of
        /// Unix time rounded up to the minute, as the page says it.
        again_from: Option<i64>,
    },
}

pub(in crate::pages) const NOTICE_DONE: DoneCookie = DoneCookie { name: "pricegate_notice_done", page: "/notices" };

/// The notices list's value of [`NOTICE_DONE`]: a draft was deleted.
pub(in crate::pages) const DRAFT_DELETED: &str = "deleted";

/// …: a draft to delete was gone already (the form sent twice, or the
/// draft deleted by someone else meanwhile).
pub(in crate::pages) const DRAFT_GONE: &str = "gone";

impl NoticeDone {
    pub(super) fn cookie_value(&self, notice: Uuid) -> String {
        match self {
            NoticeDone::Saved => format!("saved.{notice}"),
            NoticeDone::SavedAlready => format!("saved-already.{notice}"),
            NoticeDone::Unchanged => format!("unchanged.{notice}"),
            NoticeDone::Published => format!("published.{notice}"),
            NoticeDone::Reminded { one, counts: RemindCounts { queued, left_out, not_sent }, again_from } => {
                let mut value = match one {
                    None => format!("reminded.{notice}.{queued}.{left_out}.{not_sent}"),
                    Some(user) => format!("reminded-one.{notice}.{user}.{queued}.{left_out}.{not_sent}"),
                };
                if let Some(again) = again_from {
                    value.push_str(&format!(".{again}"));
                }
                value
            }
        }
    }

    /// What the cookie says about `notice`, if it is about that notice.
    pub(super) fn parse(value: &str, notice: Uuid) -> Option<NoticeDone> {
        let (kind, mut parts) = DoneCookie::about(value, notice)?;
        let done = match kind {
            "saved" => NoticeDone::Saved,
            "saved-already" => NoticeDone::SavedAlready,
            "unchanged" => NoticeDone::Unchanged,
            "published" => NoticeDone::Published,
            kind @ ("reminded" | "reminded-one") => {
                let one = match kind {
                    "reminded-one" => Some(parts.next()?.parse().ok()?),
                    _ => None,
                };
                let mut count = || parts.next().and_then(|p| p.parse().ok());
                let counts = RemindCounts { queued: count()?, left_out: count()?, not_sent: count()? };
                let again_from = match parts.next() {
                    Some(again) => Some(again.parse().ok()?),
                    None => None,
                };
                NoticeDone::Reminded { one, counts, again_from }
            }
            _ => return None,
        };
        parts.next().is_none().then_some(done)
    }

    pub(super) fn sentence(&self, page: &DashboardPage, calendar: &pricegate_domain::Calendar) -> String {
        let people = |n: usize| if n == 1 { "1 salesperson".to_owned() } else { format!("{n} salespeople") };
        match self {
            // Told on the confirmation page (see `confirm_publish`), never here.
            NoticeDone::Saved | NoticeDone::SavedAlready | NoticeDone::Unchanged => String::new(),
            NoticeDone::Published => format!(
                "Published {}. It is queued for e-mail to {}, each with their own acknowledgement link, and every \
                 open quote drafted before it waits for its signer to acknowledge it.",
                page.published_at,
                people(page.salespeople)
            ),
            NoticeDone::Reminded { one, counts, again_from } => {
                let again = again_from.and_then(|s| chrono::DateTime::from_timestamp(s, 0));
                let again = again.map(|at| calendar.stamp(at, false));
                match one {
                    None => reminded_sentence(*counts, again),
                    Some(user) => {
                        let mut people = page.pending.iter().chain(&page.acknowledged);
                        let name = people.find(|row| row.id == *user).map(|row| row.name.as_str());
                        reminded_one_sentence(name.unwrap_or("that salesperson"), *counts, again)
                    }
                }
            }
        }
    }

    /// After a draft's form was sent (saved, sent twice, or as the draft
    /// is): its confirmation page, which says which.
    pub(in crate::pages) fn back_to_confirmation(self, seal: &Seal, notice: Uuid) -> Response {
        NOTICE_DONE.redirect_to(seal, &format!("/notices/{notice}/publish"), &self.cookie_value(notice))
    }

    /// Back to the dashboard, listing all of `listing_all`'s drafts again if
    /// the page the form came from did.
    pub(super) fn back_to_dashboard(self, seal: &Seal, notice: Uuid, listing_all: Option<Uuid>) -> Response {
        NOTICE_DONE.redirect_to(seal, &dashboard_path(notice, listing_all), &self.cookie_value(notice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_done_is_told_on_its_own_notice_only() {
        let (notice, other) = (Uuid::new_v4(), Uuid::new_v4());
        let counts = |queued, left_out, not_sent| RemindCounts { queued, left_out, not_sent };
        let reminded = |again_from| NoticeDone::Reminded { one: None, counts: counts(4, 1, 1), again_from };
        let one = |queued, left_out, again_from| NoticeDone::Reminded {
            one: Some(other),
            counts: counts(queued, left_out, 0),
            again_from,
        };
        let all = [
            NoticeDone::Saved,
            NoticeDone::SavedAlready,
            NoticeDone::Unchanged,
            NoticeDone::Published,
            reminded(None),
            reminded(Some(1_796_000_000)),
            one(1, 0, None),
            one(0, 1, Some(1_796_000_000)),
            one(0, 0, None),
        ];
        for done in all {
            assert_eq!(NoticeDone::parse(&done.cookie_value(notice), notice), Some(done));
        }
        assert_eq!(NoticeDone::parse(&NoticeDone::Published.cookie_value(other), notice), None);
        for junk in [
            "",
            "published",
            "published.x",
            "reminded.{n}.1",
            "reminded.{n}.a.0",
            "reminded.{n}.1.0",
            "reminded.{n}.1.0.0.x",
            "reminded.{n}.1.0.0.0.0",
            "reminded-one.{n}.1.0.0",
            "reminded-one.{n}.x.1.0.0",
        ] {
            let junk = junk.replace("{n}", &notice.to_string());
            assert_eq!(NoticeDone::parse(&junk, notice), None, "{junk}");
        }
    }
}
