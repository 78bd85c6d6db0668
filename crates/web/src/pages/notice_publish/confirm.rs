//! The publish confirmation: the draft as it will go out, the open quotes it touches, and changes that look
//! like slips.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use pricegate_domain::Role;
use pricegate_mail::render_markdown;
use pricegate_store::views::PriceChangeView;
use uuid::Uuid;

use super::deleted_or;
use super::done::{NOTICE_DONE, NoticeDone};
use super::impact::{TouchedQuote, impact_in_words, touched_quotes, touched_tag};
use crate::pages::ChangeRow;
use crate::pages::{Layout, PageError, PageId, PageUser, money};
use crate::{AppState, filters};

#[derive(Template)]
#[template(path = "pages/notice_publish.html")]
pub(super) struct ConfirmPage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    pub(super) id: Uuid,
    /// The draft as shown (its `updated_at` in microseconds): the form sends
    /// it back, and a draft edited since is not published.
    pub(super) revision: i64,
    /// [`touched_tag`] of `touched`: the form sends it back.
    pub(super) touched_seen: String,
    /// The last notice published before the page was computed
    /// ([`pricegate_store::Store::last_published_seq`]): the form sends it
    /// back, and a notice published since has the page shown again.
    pub(super) last_seq: i64,
    /// Why the form just sent published nothing (it showed the draft
    /// otherwise, or showed no revision).
    pub(super) not_published: Option<String>,
    pub(super) title: String,
    pub(super) body_html: String,
    pub(super) changes: Vec<ChangeRow>,
    pub(super) salespeople: usize,
    /// Empty when the draft cannot be published (`refused`): not shown then.
    pub(super) touched: Vec<TouchedQuote>,
    /// The sentence that sums `touched`, up to its amounts
    /// ([`impact_in_words`]): "1 open quote; while it is valid, its total changes by ".
    pub(super) impact: String,
    /// What the valid ones among `touched` change by together, per currency.
    pub(super) at_stake: Vec<String>,
    /// Why the last press of "Publish now" was refused, or why it would be.
    pub(super) refused: Option<String>,
    /// The draft was just saved, told once, in these words.
    pub(super) saved: Option<&'static str>,
    /// Changes dated before today: each takes force as the notice is published, not on its date.
    pub(super) backdated: Vec<String>,
    /// Changes finance may not have meant, each in a sentence: one that
    /// sets the price it already has, a price of nothing, a date years away.
    pub(super) unusual: Vec<String>,
    /// What publishing holds up, in a sentence: every open draft, until its
    /// signer acknowledges ("That is all 6 open quotes there are now, of 3 signers, …").
    pub(super) held_up: String,
}

/// How far ahead a change's date is unusual enough to point out.
pub(super) const YEARS_AHEAD: i32 = 5;

/// How many times the price before, or what fraction of it, a new price
/// must be to be pointed out as a likely slip.
pub(super) const FACTOR: i64 = 5;

/// The changes of a draft finance may not have meant (see [`ConfirmPage::unusual`]).
/// Each is allowed: a notice may confirm a price, or give a product away.
/// `later`: prices already published for these products, each with its date;
/// `withdrawn`: those of them withdrawn from sale, each with the day it was.
pub(super) fn unusual_changes(
    changes: &[PriceChangeView],
    later: &[pricegate_store::UpcomingPrice],
    withdrawn: &HashMap<String, chrono::NaiveDate>,
    today: chrono::NaiveDate,
) -> Vec<String> {
    let far = today.checked_add_months(chrono::Months::new(12 * YEARS_AHEAD as u32)).unwrap_or(chrono::NaiveDate::MAX);
    let mut said = Vec::new();
    for c in changes {
        let price = money(&c.currency, c.unit_price_minor);
        if let Some(since) = withdrawn.get(&c.sku) {
            said.push(format!(
                "{} has been withdrawn from sale since {since}: no quote takes it on as a new line, so its new price \
                 reaches only the quotes that carry it already.",
                c.sku
            ));
        }
        let overtaken =
            later.iter().filter(|l| l.sku == c.sku && l.effective_on > c.effective_on).min_by_key(|l| l.effective_on);
        if let Some(l) = overtaken {
            said.push(format!(
                "{} at {price} from {} holds only until {}: \u{201c}{}\u{201d}, already published, sets {} from then.",
                c.sku,
                c.effective_on,
                l.effective_on,
                l.title,
                money(&c.currency, l.unit_price_minor)
            ));
        }
        if c.price_before_minor == Some(c.unit_price_minor) {
            said.push(format!("{} is {price} on {} already, so this change changes nothing.", c.sku, c.effective_on));
        } else if c.unit_price_minor == 0 {
            said.push(format!("{} would cost nothing ({price}) from {}.", c.sku, c.effective_on));
        } else if let Some(before) = c.price_before_minor.filter(|before| *before > 0) {
            // A slipped decimal point, or a zero too many or too few.
            let (new, times) = (c.unit_price_minor, |a: i64, b: i64| (a + b / 2) / b);
            let slip = if new >= before.saturating_mul(FACTOR) {
                Some(format!("{} times the price before", times(new, before)))
            } else if new.saturating_mul(FACTOR) <= before {
                Some(format!("1/{} of the price before", times(before, new)))
            } else {
                None
            };
            if let Some(slip) = slip {
                said.push(format!(
                    "{} goes from {} to {price} on {}, {slip}: is a decimal point or a zero out of place?",
                    c.sku,
                    money(&c.currency, before),
                    c.effective_on
                ));
            }
        }
        if c.effective_on > far {
            said.push(format!("{} is dated {}, more than {YEARS_AHEAD} years from today.", c.sku, c.effective_on));
        }
    }
    said
}

pub(super) async fn confirm_publish(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    user.require(&[Role::Finance])?;
    let seal = user.seal(&app);
    let saved = match NOTICE_DONE.read(&headers, &seal).and_then(|v| NoticeDone::parse(v, id)) {
        Some(NoticeDone::Saved) => Some("Draft saved. It changes nothing until it is published."),
        Some(NoticeDone::SavedAlready) => Some(
            "The form was sent twice: the draft was saved once, and this is it. It changes nothing until it is \
             published.",
        ),
        Some(NoticeDone::Unchanged) => {
            Some("Nothing to save: the form was as the draft is. It changes nothing until it is published.")
        }
        _ => None,
    };
    let page = match confirm_page(&app, &user, id, None, saved).await {
        Ok(Confirmation::Page(page)) => page,
        Ok(Confirmation::Published(redirect)) => return Ok(redirect),
        Err(e) => return Err(deleted_or(&app, id, e).await),
    };
    Ok(NOTICE_DONE.told(&headers, &seal, page.as_ref()))
}

/// The confirmation page, or the way to the dashboard of a notice already published.
pub(super) enum Confirmation {
    Page(Box<ConfirmPage>),
    Published(Response),
}

/// The confirmation, with the reason the draft cannot be published when it
/// was just refused (409) or would be now: the draft is still there to
/// edit, and there is no button to publish it.
pub(super) async fn confirm_page(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    refused: Option<String>,
    saved: Option<&'static str>,
) -> Result<Confirmation, PageError> {
    // Read first: what follows is of the prices as they stand until the next publication.
    let last_seq = app.store.last_published_seq().await?;
    let n = app.store.read_notice(&user.0.actor, id).await?;
    if n.state == "published" {
        return Ok(Confirmation::Published(Redirect::to(&format!("/notices/{}/dashboard", n.id)).into_response()));
    }
    let refused = match refused {
        Some(why) => Some(why),
        None => app.store.why_publishing_would_be_refused(id).await?,
    };
    let salespeople = app.store.list_users().await?.iter().filter(|u| u.can_sign()).count();
    // A draft that cannot be published changes no quote: what its changes
    // would do, one of which can never take force, is not shown beside the refusal.
    let (touched, at_stake) =
        if refused.is_none() { touched_quotes(app, user, &n.changes).await? } else { (vec![], vec![]) };
    let today = app.store.today().await?;
    let backdated = n
        .changes
        .iter()
        .filter(|c| c.effective_on < today)
        .map(|c| format!("{} from {}", c.sku, c.effective_on))
        .collect();
    // Prices already published for the same products on later dates: each
    // takes over from this notice's price when its date comes.
    let skus: Vec<&str> = n.changes.iter().map(|c| c.sku.as_str()).collect();
    let first = n.changes.iter().map(|c| c.effective_on).min().unwrap_or(today);
    // The last day a date can be written as, YYYY-MM-DD (SQLite compares them as text).
    let last_day = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(chrono::NaiveDate::MAX);
    let later = app.store.upcoming_prices(&skus, first, last_day).await?;
    let calendar = app.store.calendar();
    let withdrawn = app.store.withdrawn_from_sale(&skus).await?;
    let withdrawn = withdrawn.into_iter().map(|(sku, at)| (sku, calendar.date_of(at))).collect();
    let unusual = unusual_changes(&n.changes, &later, &withdrawn, today);
    let signed: Vec<u64> =
        app.store.open_quote_counts(None).await?.into_values().map(|o| o.signed).filter(|n| *n > 0).collect();
    let held_up = match (signed.iter().sum::<u64>(), signed.len()) {
        (0, _) => "There is no open quote now.".to_owned(),
        (1, _) => "That is the 1 open quote there is now, whatever the notice's prices.".to_owned(),
        (drafts, 1) => {
            format!("That is all {drafts} open quotes there are now, of 1 signer, whatever the notice's prices.")
        }
        (drafts, signers) => {
            format!(
                "That is all {drafts} open quotes there are now, of {signers} signers, whatever the notice's prices."
            )
        }
    };
    let page = ConfirmPage {
        layout: user.layout(format!("Publish: {}", n.title)),
        csrf: user.csrf().to_owned(),
        id: n.id,
        revision: n.revision(),
        touched_seen: touched_tag(&touched),
        last_seq,
        not_published: None,
        body_html: render_markdown(&n.body, 1),
        // As they would read published today: a backdated change takes force then.
        changes: n.changes.iter().map(|c| ChangeRow::published(c, today)).collect(),
        title: n.title,
        salespeople,
        impact: impact_in_words(touched.len(), !at_stake.is_empty()),
        touched,
        at_stake,
        refused,
        saved,
        backdated,
        unusual,
        held_up,
    };
    Ok(Confirmation::Page(Box::new(page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_that_changes_nothing_gives_away_or_lies_years_ahead_is_pointed_out() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).expect("a date");
        let change = |sku: &str, before: Option<i64>, price: i64, on: (i32, u32, u32)| PriceChangeView {
            sku: sku.into(),
            product_name: sku.into(),
            currency: "EUR".into(),
            unit_price_minor: price,
            effective_on: chrono::NaiveDate::from_ymd_opt(on.0, on.1, on.2).expect("a date"),
            in_force_from: None,
            price_before_minor: before,
            replaced_by: None,
        };
        let later = pricegate_store::UpcomingPrice {
            sku: "OVERTAKEN".into(),
            unit_price_minor: 650,
            effective_on: chrono::NaiveDate::from_ymd_opt(2026, 12, 20).expect("a date"),
            notice_id: Uuid::new_v4(),
            title: "Valve and pump rise".into(),
        };
        let said = unusual_changes(
            &[
                change("SAME", Some(42_000), 42_000, (2027, 2, 15)),
                change("FREE", Some(100), 0, (2027, 1, 1)),
                change("FAR", Some(100), 200, (9999, 12, 31)),
                change("FINE", Some(100), 200, (2031, 12, 2)),
                change("NEW", None, 200, (2027, 1, 1)),
                change("SLIP", Some(17_900), 1_990_000, (2027, 1, 1)),
                change("DOWN", Some(12_000), 1_200, (2027, 1, 1)),
                change("HALF", Some(12_000), 6_000, (2027, 1, 1)),
                change("OVERTAKEN", Some(600), 700, (2026, 12, 15)),
                change("GONE", Some(600), 700, (2027, 1, 1)),
            ],
            &[later],
            &HashMap::from([("GONE".to_owned(), chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"))]),
            today,
        );
        assert_eq!(
            said,
            [
                "SAME is 420.00 EUR on 2027-02-15 already, so this change changes nothing.",
                "FREE would cost nothing (0.00 EUR) from 2027-01-01.",
                "FAR is dated 9999-12-31, more than 5 years from today.",
                "SLIP goes from 179.00 EUR to 19,900.00 EUR on 2027-01-01, 111 times the price before: is a decimal \
                 point or a zero out of place?",
                "DOWN goes from 120.00 EUR to 12.00 EUR on 2027-01-01, 1/10 of the price before: is a decimal point \
                 or a zero out of place?",
                "OVERTAKEN at 7.00 EUR from 2026-12-15 holds only until 2026-12-20: \u{201c}Valve and pump rise\u{201d}, already published, sets 6.50 EUR from then.",
                "GONE has been withdrawn from sale since 2026-11-30: no quote takes it on as a new line, so its new \
                 price reaches only the quotes that carry it already.",
            ]
        );
    }
}
