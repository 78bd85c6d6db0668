//! Finance, once a notice is drafted: the publish confirmation with the
//! open quotes it touches and how their totals change, publishing, and afterwards
//! the dashboard of who has acknowledged it, with a "remind now" button.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_domain::{PriceChange, PricedLine, Role, impact_of};
use pricegate_mail::render_markdown;
use pricegate_store::REMIND_NOW_AGAIN_AFTER_MINUTES as AGAIN;
use pricegate_store::views::PriceChangeView;
use pricegate_store::{AuditFilter, PublishSeen, StoreError};
use uuid::Uuid;

use super::ChangeRow;
use super::{CsrfForm, DoneCookie, Finance, Layout, PageError, PageId, PageQuery, PageUser, Seal, money, render};
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/{id}/publish", get(confirm_publish).post(publish))
        .route("/notices/{id}/dashboard", get(dashboard).post(remind))
        .route("/notices/{id}/acknowledgements.csv", get(super::acknowledgements_export::export))
}

#[derive(Template)]
#[template(path = "pages/notice_publish.html")]
struct ConfirmPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    /// The draft as shown (its `updated_at` in microseconds): the form sends
    /// it back, and a draft edited since is not published.
    revision: i64,
    /// [`touched_tag`] of `touched`: the form sends it back.
    touched_seen: String,
    /// The last notice published before the page was computed
    /// ([`pricegate_store::Store::last_published_seq`]): the form sends it
    /// back, and a notice published since has the page shown again.
    last_seq: i64,
    /// Why the form just sent published nothing (it showed the draft
    /// otherwise, or showed no revision).
    not_published: Option<String>,
    title: String,
    body_html: String,
    changes: Vec<ChangeRow>,
    salespeople: usize,
    /// Empty when the draft cannot be published (`refused`): not shown then.
    touched: Vec<TouchedQuote>,
    /// The sentence that sums `touched`, up to its amounts
    /// ([`impact_in_words`]): "1 open quote; while it is valid, its total changes by ".
    impact: String,
    /// What the valid ones among `touched` change by together, per currency.
    at_stake: Vec<String>,
    /// Why the last press of "Publish now" was refused, or why it would be.
    refused: Option<String>,
    /// The draft was just saved, told once, in these words.
    saved: Option<&'static str>,
    /// Changes dated before today: each takes force as the notice is published, not on its date.
    backdated: Vec<String>,
    /// Changes finance may not have meant, each in a sentence: one that
    /// sets the price it already has, a price of nothing, a date years away.
    unusual: Vec<String>,
    /// What publishing holds up, in a sentence: every open draft, until its
    /// signer acknowledges ("That is all 6 open quotes there are now, of 3 signers, …").
    held_up: String,
}

/// How far ahead a change's date is unusual enough to point out.
const YEARS_AHEAD: i32 = 5;

/// How many times the price before, or what fraction of it, a new price
/// must be to be pointed out as a likely slip.
const FACTOR: i64 = 5;

/// The changes of a draft finance may not have meant (see [`ConfirmPage::unusual`]).
/// Each is allowed: a notice may confirm a price, or give a product away.
/// `later`: prices already published for these products, each with its date;
/// `withdrawn`: those of them withdrawn from sale, each with the day it was.
fn unusual_changes(
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

/// The quotes a confirmation showed as touched, and what it said the notice
/// does to each, as one short string: the form sends it back, and a
/// publication whose touched quotes are others by then is shown again.
fn touched_tag(touched: &[TouchedQuote]) -> String {
    let mut said: Vec<String> = touched.iter().map(|q| format!("{}|{}|{}", q.id, q.total, q.delta)).collect();
    said.sort_unstable();
    super::digest_128(&said.join("\n"))
}

/// An open quote that the notice will block, and what it does to its total.
struct TouchedQuote {
    id: Uuid,
    /// As every page and letter names a quote: a customer may have several.
    reference: String,
    customer: String,
    signer: String,
    /// Its signer is inactive or out of sales: it waits for another signer
    /// whatever they acknowledge.
    signer_unable: bool,
    valid_until: String,
    total: String,
    delta: String,
    /// `delta` is a sentence, not an amount: it wraps.
    in_words: bool,
    /// The notice changes its total or prices ([`pricegate_domain::pricing::changes_draft`]):
    /// listed first, as every other list of held-up drafts does.
    changed: bool,
    drafted_at: chrono::DateTime<chrono::Utc>,
}

/// The drafts of one currency the publish confirmation sums: how many,
/// their rises and falls, and how many change for a while only.
#[derive(Default)]
struct Sums {
    /// How many drafts, past their validity aside.
    drafts: usize,
    moves: pricegate_mail::compose::Moves,
    for_a_while: usize,
}

impl Sums {
    /// "+15.00 EUR on 1 of them and -13.00 EUR on 2, +2.00 EUR in all" ("…, -13.00
    /// EUR on 2 and none on 1" where one does not change), so that rises and
    /// falls never cancel into nothing; "+2.00 EUR" where all
    /// go one way (on all of them); with how many change for a while, of
    /// the one quote the confirmation lists where it is `alone`.
    fn in_words(&self, currency: &str, alone: bool) -> String {
        let money = |sum| sum_in_words(currency, sum);
        let net = money(self.moves.net());
        let unchanged = self.drafts.saturating_sub(self.moves.changed() + self.for_a_while);
        let sum = match (self.moves.apart(money, unchanged), self.moves.of_them(self.drafts)) {
            (Some(apart), _) => format!("{apart}, {net} in all"),
            // "on them" where every draft changes goes without saying.
            (None, Some(of_them)) if self.moves.changed() > 0 => format!("{net} on {of_them}"),
            (None, _) => net,
        };
        match self.for_a_while {
            0 => sum,
            1 if alone => format!("{sum} in the end, though it moves meanwhile"),
            1 => format!("{sum}, though 1 of them changes for a while"),
            n => format!("{sum}, though {n} of them change for a while"),
        }
    }
}

/// Open quotes the changes touch, with how each total moves, and the sum
/// per currency. Every open quote is blocked until its signer acknowledges;
/// these are the ones whose price moves.
async fn touched_quotes(
    app: &AppState,
    user: &PageUser,
    changes: &[pricegate_store::views::PriceChangeView],
) -> Result<(Vec<TouchedQuote>, Vec<String>), PageError> {
    // The drafts with a line of a product the notice changes, not every draft.
    let skus: std::collections::BTreeSet<String> = changes.iter().map(|c| c.sku.clone()).collect();
    if skus.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let filter = pricegate_store::QuoteFilter {
        state: Some("draft".into()),
        with_skus: Some(skus.into_iter().collect()),
        ..Default::default()
    };
    let quotes = app.store.list_quotes(&user.0.actor, filter).await?;
    let signers: Vec<Uuid> = quotes.iter().map(|q| q.signer_id).collect();
    let people = app.store.users_by_id(&signers).await?;
    let today = app.store.today().await?;
    let mut touched = Vec::new();
    // Summed wide: many quotes near the largest amount must not wrap or stop at it;
    // with how many change and change back meanwhile (their 0 is not nothing).
    let mut sums: std::collections::BTreeMap<String, Sums> = std::collections::BTreeMap::new();
    for q in quotes {
        // The gate's own rule, so the quote's page will say the same: per
        // product, the last of the notice's prices in force while the quote is valid.
        let in_currency: Vec<PriceChange> =
            changes.iter().filter(|c| c.currency == q.currency).map(PriceChange::from).collect();
        let priced: Vec<PricedLine> = q.lines.iter().map(PricedLine::from).collect();
        let impact = impact_of(&priced, &in_currency);
        let delta = impact.delta_while_valid(q.valid_until, today);
        let after = impact.total_delta_minor.saturating_sub(delta);
        // An expired draft is finalised at no price until its owner extends it.
        let expired = q.valid_until < today;
        if !impact.lines.is_empty() {
            let to_come = ChangesAhead::of(&impact.change_days(q.valid_until, today), today);
            // Listed first where the notice changes it, by the e-mails' rule.
            let changed = pricegate_domain::pricing::changes_draft(delta, after, to_come.as_ref());
            // What is to come is said of a draft it leaves where it was by the end of its validity.
            let ahead = to_come.filter(|_| !expired && delta == 0);
            let meanwhile = ahead.filter(ChangesAhead::moves_total).map(|ahead| changed_for_a_while(ahead, after, &q));
            // Lines that offset one another: the total stays, the prices do not.
            let prices_from = ahead.filter(|ahead| after == 0 && !ahead.prices_in_force_already);
            let sums = sums.entry(q.currency.clone()).or_default();
            if !expired {
                sums.drafts += 1;
                sums.moves.add(delta);
            }
            sums.for_a_while += usize::from(meanwhile.is_some());
            // When a change still to come starts, as the dashboard says it: "+480.00 EUR from 2026-12-20".
            let when = pricegate_mail::compose::AheadWords::of(to_come);
            let dated = !when.from.is_empty() || !when.steps.is_empty();
            let in_words = expired || meanwhile.is_some() || delta == 0 || after != 0 || dated;
            touched.push(TouchedQuote {
                id: q.id,
                reference: pricegate_mail::compose::quote_reference(q.id),
                customer: q.customer.name.clone(),
                signer: people.get(&q.signer_id).map(|u| u.name.clone()).unwrap_or_default(),
                signer_unable: people.get(&q.signer_id).is_some_and(|u| !u.can_sign()),
                valid_until: q.valid_until.to_string(),
                total: money(&q.currency, q.total_minor),
                delta: if expired {
                    format!("expired on {}", q.valid_until)
                } else if let Some(meanwhile) = meanwhile {
                    meanwhile
                } else if let Some(ahead) = prices_from {
                    format!("none to its total, though its prices change from {}", ahead.prices_next)
                } else if delta == 0 && after != 0 {
                    // Not a change of nothing: one that comes after the quote's validity.
                    format!("none while it is valid; {}", from_prices_after(&q.currency, after, q.valid_until))
                } else if after != 0 {
                    // Prices dated after its validity change it further: what it comes to with them.
                    let in_all = super::signed_money(&q.currency, delta.saturating_add(after));
                    let delta = super::signed_money(&q.currency, delta);
                    format!("{delta} while it is valid; {in_all} in all with prices dated after {}", q.valid_until)
                } else if !changed {
                    // Its prices restated, or lines that offset one another all in force today.
                    "none while it is valid".to_owned()
                } else if let Some(ahead) = ahead {
                    // Lines that offset one another, some in force already, more to come.
                    format!("none to its total, though its prices change again from {}", ahead.prices_next)
                } else {
                    format!("{}{}{}", super::signed_money(&q.currency, delta), when.from, when.steps)
                },
                in_words,
                changed,
                drafted_at: q.drafted_at,
            });
        }
    }
    // Those it changes first, each part in drafting order, as the e-mails,
    // the dashboard and the link's page list a person's held-up drafts.
    touched.sort_by_key(|q| (!q.changed, q.drafted_at, q.id));
    // A draft past its validity cannot be finalised at any price until it is extended: listed, not summed.
    let alone = touched.len() == 1;
    let at_stake = sums
        .iter()
        .filter(|(_, sums)| sums.drafts > 0)
        .map(|(currency, sums)| sums.in_words(currency, alone))
        .collect();
    Ok((touched, at_stake))
}

/// The confirmation's sentence over the quotes it lists, up to the sums
/// that follow it: in the singular for one quote, and without sums where
/// every quote listed is past its validity.
fn impact_in_words(touched: usize, summed: bool) -> String {
    match (touched, summed) {
        (1, true) => "1 open quote; while it is valid, its total changes by ".to_owned(),
        (1, false) => {
            "1 open quote, past its validity: it cannot be finalised at any price until its owner extends it".to_owned()
        }
        (n, true) => format!("{n} open quotes; together, while each is valid, their totals change by "),
        (n, false) => {
            format!(
                "{n} open quotes, all past their validity: none can be finalised at any price until their owners \
                 extend them"
            )
        }
    }
}

/// What a notice does to a draft it holds up, as finance's dashboard and
/// the signer's page of the notice say it: "+5.00 EUR from 2026-12-20 while
/// it is valid", "no change while it is valid", …
pub(super) fn effect_in_words(e: &pricegate_store::BlockedQuote) -> String {
    match (e.expired_on, e.delta_minor) {
        (Some(day), _) => format!("valid only until {day}: its owner must extend it"),
        // Changed and changed back while it is valid: not nothing meanwhile.
        (None, 0) if let Some(ahead) = e.changes_ahead.filter(|ahead| ahead.moves_total()) => {
            pricegate_mail::compose::changed_for_a_while(&e.currency, ahead)
        }
        // Lines that offset one another: the total stays, the prices do not.
        (None, 0) if let Some(ahead) = e.changes_ahead.filter(|ahead| !ahead.prices_in_force_already) => {
            format!("no change to its total while it is valid, though its prices change from {}", ahead.prices_next)
        }
        // Not a change of nothing: one that comes after the quote's validity.
        (None, 0) if e.delta_after_minor != 0 => format!(
            "no change while it is valid; {}",
            from_prices_after(&e.currency, e.delta_after_minor, e.valid_until)
        ),
        (None, 0) => "no change while it is valid".to_owned(),
        (None, delta) => {
            let delta = pricegate_mail::compose::signed_money(&e.currency, delta);
            let when = pricegate_mail::compose::AheadWords::of(e.changes_ahead);
            format!("{delta}{} while it is valid{}", when.from, when.steps)
        }
    }
}

/// "+360.00 EUR from prices dated after 2027-01-05": what a notice's prices
/// dated after a draft's validity (`valid_until`) would do to its total.
fn from_prices_after(currency: &str, after: i64, valid_until: chrono::NaiveDate) -> String {
    format!("{} from prices dated after {valid_until}", super::signed_money(currency, after))
}

/// What the publish confirmation says of a draft whose total the notice
/// changes and changes back while it is valid (its change by the end is 0,
/// `after` the change from prices dated after), when some of that is still
/// to come (`ahead`): not "0.00 EUR".
fn changed_for_a_while(ahead: ChangesAhead, after: i64, q: &pricegate_store::views::QuoteView) -> String {
    let beyond = match after {
        0 => String::new(),
        after => format!("; {}", from_prices_after(&q.currency, after, q.valid_until)),
    };
    let meanwhile = pricegate_mail::compose::changed_for_a_while(&q.currency, ahead);
    format!("none by the end of its validity: its total {meanwhile}{beyond}")
}

/// A sum of changes as money; one past what an amount can hold (only
/// absurd prices and quantities reach it) as "beyond" the largest.
fn sum_in_words(currency: &str, sum: i128) -> String {
    match i64::try_from(sum) {
        Ok(sum) => super::signed_money(currency, sum),
        Err(_) if sum > 0 => format!("beyond {}", super::signed_money(currency, i64::MAX)),
        Err(_) => format!("beyond {}", super::signed_money(currency, -i64::MAX)),
    }
}

async fn confirm_publish(
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
enum Confirmation {
    Page(Box<ConfirmPage>),
    Published(Response),
}

/// The confirmation, with the reason the draft cannot be published when it
/// was just refused (409) or would be now: the draft is still there to
/// edit, and there is no button to publish it.
async fn confirm_page(
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

async fn publish(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Finance>,
) -> Result<Response, PageError> {
    // The draft as the confirmation showed it, the last publication then,
    // and the open quotes it touched: a form without any of them (sent by
    // hand, or from a page of an older version), or with one unreadable, is
    // shown the draft again to confirm, as one that compares nothing would
    // publish what nobody saw.
    let last_seq = form.get("seen_seq").parse::<i64>();
    let shown = form.get("seen_touched");
    let (Some(as_seen), Ok(last_seq), false) = (form.seen(), last_seq, shown.is_empty()) else {
        let why = format!("Not published: {}. Check the draft below, then publish again.", super::OUT_OF_DATE);
        return shown_again(&app, &user, id, why).await;
    };
    let last_seq = Some(last_seq);
    // The open quotes it touches, as the confirmation showed them: a quote
    // drafted, edited or finalised meanwhile changes what publishing does.
    // (Checked just before publishing: a quote written between the two is
    // not compared; the notice's page and e-mails then show it.)
    let n = match app.store.read_notice(&user.0.actor, id).await {
        Err(e @ StoreError::NotFound { .. }) => return Err(deleted_or(&app, id, e.into()).await),
        n => n?,
    };
    // (A draft edited since is the store's to refuse, and say so.)
    if n.state == "draft"
        && n.revision() == as_seen
        && shown != touched_tag(&touched_quotes(&app, &user, &n.changes).await?.0)
    {
        let why = "Not published: the open quotes this notice touches changed after you opened this confirmation \
                   (a quote drafted, edited or finalised meanwhile). Check them below, then publish again.";
        return shown_again(&app, &user, id, why.to_owned()).await;
    }
    match app.store.publish_notice(&user.0.actor, id, PublishSeen { revisions: Some(&[as_seen]), last_seq }).await {
        Ok(_) => Ok(NoticeDone::Published.back_to_dashboard(&user.seal(&app), id, None)),
        // Published already (the form sent twice, or from a second tab): its
        // dashboard, as after publishing, without saying this form did it.
        Err(StoreError::Conflict { code: "notice_published", .. }) => {
            Ok(Redirect::to(&format!("/notices/{id}/dashboard")).into_response())
        }
        Err(StoreError::Conflict { code: "notice_changed", .. }) => {
            let why = "Not published: the draft changed after you opened this confirmation. Check it below, then publish again.";
            shown_again(&app, &user, id, why.to_owned()).await
        }
        Err(StoreError::Conflict { code: "notice_published_since", .. }) => {
            let why = "Not published: another notice was published after you opened this confirmation, so the prices \
                       and quotes it weighed the draft against may have changed. Check them below, then publish again.";
            shown_again(&app, &user, id, why.to_owned()).await
        }
        // 409 answers a publication just refused.
        Err(StoreError::Conflict { code: "change_never_in_force", message }) => {
            Ok(match confirm_page(&app, &user, id, Some(message), None).await? {
                Confirmation::Page(page) => render(StatusCode::CONFLICT, page.as_ref()),
                Confirmation::Published(redirect) => redirect,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A draft notice not found (`refused`, a 404) because it was deleted
/// (another tab, another person), said so, naming who deleted it and when;
/// any other refusal as it is.
async fn deleted_or(app: &AppState, id: Uuid, refused: PageError) -> PageError {
    if refused.status() != StatusCode::NOT_FOUND {
        return refused;
    }
    let filter = AuditFilter { action: Some("notice.deleted"), subject: Some((id, id)), ..Default::default() };
    let Ok(Some(entry)) = app.store.list_audit(1, None, filter).await.map(|found| found.into_iter().next()) else {
        return refused;
    };
    let by = match entry.actor_id {
        Some(actor) => app.store.user_names(&[actor]).await.ok().and_then(|mut names| names.remove(&actor)),
        None => None,
    };
    let when = app.store.calendar().stamp(entry.at, false);
    let by = by.map(|name| format!(" by {name}")).unwrap_or_default();
    refused
        .told("Deleted", format!("Nothing was published: this draft was deleted {when}{by}."))
        .with_next("/notices", "Notices")
}

/// The confirmation again, with the draft as it is now, saying `why` the
/// one sent was not published (409).
async fn shown_again(app: &AppState, user: &PageUser, id: Uuid, why: String) -> Result<Response, PageError> {
    Ok(match confirm_page(app, user, id, None, None).await? {
        Confirmation::Page(mut page) => {
            page.not_published = Some(why);
            render(StatusCode::CONFLICT, page.as_ref())
        }
        Confirmation::Published(redirect) => redirect,
    })
}

struct AckRow {
    id: Uuid,
    name: String,
    email: String,
    /// The role of someone other than a salesperson who acknowledged anyway.
    not_sales: Option<String>,
    /// Someone who acknowledged it and has been deactivated since.
    deactivated: bool,
    at: String,
    channel: String,
    /// Where an acknowledgement came from: the address and the browser or
    /// program, as far as they are known; empty if neither is.
    from: String,
    /// Open quotes this person signs that the notice blocks: (id, customer),
    /// the first [`LISTED_EACH`] unless the page lists them all.
    blocked: Vec<super::notices::HeldUpQuote>,
    /// How many more it blocks than `blocked` lists.
    more_blocked: usize,
    /// Someone pending: the reminders queued for them so far, in words.
    reminded: String,
    /// Someone pending whom no e-mail about the notice has reached, though
    /// one was tried: why, in words.
    undelivered: Option<Undelivery>,
}

/// Why no e-mail about the notice has reached someone it waits for.
struct Undelivery {
    /// Given up on; else tried again on its own.
    failed: bool,
    words: String,
    /// What went wrong the last time it was tried (mostly the mail
    /// server's answer), quoted: in the row, unless every row has the same,
    /// which the note above the list then quotes once.
    answer: Option<String>,
}

impl Undelivery {
    /// How long a mail server's answer the dashboard quotes, in characters.
    const QUOTED: usize = 200;

    fn of(
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
fn reminded_words(
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
struct StrandedRow {
    name: String,
    email: String,
    /// "deactivated", or the role they were moved to: "now in finance".
    why: String,
    id: Uuid,
    /// As [`AckRow::blocked`], and `more` as its `more_blocked`.
    quotes: Vec<super::notices::HeldUpQuote>,
    more: usize,
}

/// How many of one person's drafts the dashboard lists before "and 40
/// more": a notice that holds up a thousand drafts stays a page finance can
/// read (the sums above count them all), and each person's list opens in
/// full from its link (`?all=<their id>`).
const LISTED_EACH: usize = 10;

/// The dashboard's address: `?all=<user id>` lists all that person's drafts.
#[derive(serde::Deserialize, Default)]
struct DashboardQuery {
    all: Option<String>,
}

/// Cuts `quotes` to [`LISTED_EACH`] unless `all`; how many it cut.
fn listed_each(quotes: &mut Vec<super::notices::HeldUpQuote>, all: bool) -> usize {
    let more = if all { 0 } else { quotes.len().saturating_sub(LISTED_EACH) };
    quotes.truncate(quotes.len() - more);
    more
}

/// Acknowledgements over time as an SVG polyline (`x,y` pairs in a 600×160
/// box): from publication to now, the share of salespeople who have acknowledged.
fn chart_points(
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
struct DashboardPage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    title: String,
    published_at: String,
    acknowledged: Vec<AckRow>,
    pending: Vec<AckRow>,
    /// How many of `acknowledged` are not salespeople (not in the chart's count).
    acknowledged_others: usize,
    /// Drafts the notice holds up whose signer can no longer sign.
    stranded: Vec<StrandedRow>,
    /// How many drafts `stranded` names.
    stranded_quotes: usize,
    /// Of those, the ones summed in [`DashboardPage::at_stake`]: not past their validity.
    stranded_counted: usize,
    /// When the salespeople still pending were escalated to finance, in words.
    escalated: Option<String>,
    /// A `?all=` that names nobody listed here, said.
    all_note: Option<String>,
    /// The person a `?all=` named whose drafts are all listed: Refresh and
    /// the reminder form keep listing them.
    listing_all: Option<Uuid>,
    /// Those told of it by e-mail who never acknowledged it and are no
    /// longer waited for (deactivated, moved out of sales, or no longer
    /// signing a draft it holds up), each with why: the chart no longer
    /// counts them, and the page says who they were.
    no_longer_waited_for: Vec<String>,
    /// Salespeople, acknowledged or not.
    salespeople: usize,
    message: Option<String>,
    /// The message tells of a form that changed nothing (no reminder queued).
    nothing_done: bool,
    chart: String,
    /// Where the chart ends, in words: "Now 3 of 4 (75%), as of 2026-12-06 14:05:12 UTC."
    chart_now: String,
    /// How long after someone was mailed about it "Remind now" leaves them out.
    again_after_minutes: i64,
    /// What the drafts held up are worth and what the notice does to them,
    /// in words ([`pricegate_mail::compose::Stake::in_words`]).
    at_stake: Option<String>,
    /// Those past their validity, in a sentence ([`pricegate_mail::compose::Stake::past_validity`]).
    past_validity: Option<String>,
    /// What went wrong the last time, when every undelivered row has the
    /// same ([`DashboardPage::shared_answer`]): said once, above the list.
    shared_answer: Option<String>,
}

impl DashboardPage {
    /// How many of those pending the mail server has yet to take an e-mail
    /// about the notice for, and has refused (or been given up on) for good.
    fn undelivered(&self) -> (usize, usize) {
        let undelivered = self.pending.iter().filter_map(|p| p.undelivered.as_ref());
        undelivered
            .fold((0, 0), |(waiting, failed), u| if u.failed { (waiting, failed + 1) } else { (waiting + 1, failed) })
    }

    /// What went wrong the last time, when more than one row has one and
    /// all have the same (the relay down for everyone, say): the note above
    /// the list quotes it once, and the rows do not repeat it.
    fn shared_answer(pending: &[AckRow]) -> Option<String> {
        let mut answers = pending.iter().filter_map(|p| p.undelivered.as_ref()).map(|u| u.answer.as_deref());
        let first = answers.next()??;
        let mut rest = answers.peekable();
        rest.peek()?;
        rest.all(|a| a == Some(first)).then(|| first.to_owned())
    }

    /// A row's answer from the mail server, unless the note above quotes it for all.
    fn answer_in_row<'a>(&self, u: &'a Undelivery) -> Option<&'a str> {
        u.answer.as_deref().filter(|_| self.shared_answer.is_none())
    }

    /// Above the pending list: that e-mail about the notice has not reached
    /// some of them, so that "pending" is not read as "told, not yet read".
    fn undelivered_note(&self) -> Option<String> {
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

/// What finance just did to a published notice, carried across the redirect
/// to its dashboard (post, redirect, get: reloading sends nothing again) and
/// told there once. The cookie names the notice.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoticeDone {
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

pub(super) const NOTICE_DONE: DoneCookie = DoneCookie { name: "pricegate_notice_done", page: "/notices" };

/// The notices list's value of [`NOTICE_DONE`]: a draft was deleted.
pub(super) const DRAFT_DELETED: &str = "deleted";
/// …: a draft to delete was gone already (the form sent twice, or the
/// draft deleted by someone else meanwhile).
pub(super) const DRAFT_GONE: &str = "gone";

impl NoticeDone {
    fn cookie_value(&self, notice: Uuid) -> String {
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
    fn parse(value: &str, notice: Uuid) -> Option<NoticeDone> {
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

    fn sentence(&self, page: &DashboardPage, calendar: &pricegate_domain::Calendar) -> String {
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
    pub(super) fn back_to_confirmation(self, seal: &Seal, notice: Uuid) -> Response {
        NOTICE_DONE.redirect_to(seal, &format!("/notices/{notice}/publish"), &self.cookie_value(notice))
    }

    /// Back to the dashboard, listing all of `listing_all`'s drafts again if
    /// the page the form came from did.
    fn back_to_dashboard(self, seal: &Seal, notice: Uuid, listing_all: Option<Uuid>) -> Response {
        NOTICE_DONE.redirect_to(seal, &dashboard_path(notice, listing_all), &self.cookie_value(notice))
    }
}

/// The dashboard's address, listing all of one person's held-up drafts
/// (`?all=`) or each person's first [`LISTED_EACH`]. Not at their row: the
/// message saying what the form did is at the top.
fn dashboard_path(notice: Uuid, listing_all: Option<Uuid>) -> String {
    match listing_all {
        Some(person) => format!("/notices/{notice}/dashboard?all={person}"),
        None => format!("/notices/{notice}/dashboard"),
    }
}

/// `part` of `whole` in whole percent, rounded to the nearest, but 100 only
/// when it is all and 0 only when it is none (199 of 200 is 99%, not 100%).
fn share_percent(part: usize, whole: usize) -> usize {
    let Some(rounded) = (part * 100 + whole / 2).checked_div(whole) else { return 0 };
    match part {
        0 => 0,
        _ if part >= whole => 100,
        _ => rounded.clamp(1, 99),
    }
}

async fn dashboard(
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
    let left = super::acknowledgements_export::no_longer_waited_for(&app.store.mailed_about(id).await?, &acks);
    let calendar = app.store.calendar();
    let escalated = app.store.escalations_of(id).await?.map(|(n, last)| {
        let mails = if n == 1 { "1 e-mail, at".to_owned() } else { format!("{n} e-mails, the last at") };
        format!("Escalated to finance after the last scheduled reminder: {mails} {}.", calendar.stamp(last, true))
    });
    let mut waiting: HashMap<Uuid, Vec<super::notices::HeldUpQuote>> = HashMap::new();
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
        waiting.entry(q.signer_id).or_default().push(super::notices::HeldUpQuote {
            total,
            effect,
            ..super::notices::HeldUpQuote::from(q)
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
                channel: super::channel_in_words(&a.channel).to_owned(),
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
    let counted = |q: &&super::notices::HeldUpQuote| effects.get(&q.id).is_some_and(|e| e.expired_on.is_none());
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

/// "Remind now", or "Remind" in one pending salesperson's row (`user`).
async fn remind(
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
    let again_from = reminded.again_from.map(super::minute_from);
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
fn reminded_one_sentence(name: &str, counts: RemindCounts, again: Option<String>) -> String {
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
fn reminded_again(them: &str, again: &str) -> String {
    // A scheduled reminder sent before then is an e-mail too, and puts it off.
    format!(" {them} be reminded again from {again}, unless a scheduled reminder reaches them first.")
}

/// What "Remind now" (or "Remind" in a row) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RemindCounts {
    /// Reminders queued.
    queued: usize,
    /// Salespeople skipped as e-mailed about the notice lately.
    left_out: usize,
    /// Of those, how many have that e-mail still in the outbox, not taken
    /// by the mail server yet: not said to have been e-mailed.
    not_sent: usize,
}

/// That the mail server has not yet taken `not_sent` of the e-mails about
/// the notice to the `left_out` skipped.
fn not_taken_yet(not_sent: usize, left_out: usize) -> String {
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
fn reminded_sentence(counts: RemindCounts, again: Option<String>) -> String {
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
    fn the_confirmation_sums_rises_and_falls_apart() {
        let sums = |deltas: &[i64], for_a_while| {
            let mut moves = pricegate_mail::compose::Moves::default();
            deltas.iter().for_each(|delta| moves.add(*delta));
            Sums { drafts: deltas.len(), moves, for_a_while }.in_words("EUR", deltas.len() == 1)
        };
        assert_eq!(sums(&[1_500, -500, -800], 0), "+15.00 EUR on 1 of them and -13.00 EUR on 2, +2.00 EUR in all");
        assert_eq!(
            sums(&[1_500, -500, 0, -800, 0], 0),
            "+15.00 EUR on 1 of them, -13.00 EUR on 2 and none on 2, +2.00 EUR in all",
            "each of the 5 accounted for"
        );
        assert_eq!(
            sums(&[1_000, -1_000, 0], 1),
            "+10.00 EUR on 1 of them and -10.00 EUR on 1, 0.00 EUR in all, though 1 of them changes for a while"
        );
        assert_eq!(sums(&[500, 1_500], 0), "+20.00 EUR");
        assert_eq!(sums(&[0, -4_200, 0], 0), "-42.00 EUR on 1 of them", "not all of them change");
        assert_eq!(sums(&[0, 0], 2), "0.00 EUR, though 2 of them change for a while");
        assert_eq!(sums(&[0], 1), "0.00 EUR in the end, though it moves meanwhile", "the one quote listed");
        let one_of_two = Sums { drafts: 1, moves: Default::default(), for_a_while: 1 }.in_words("EUR", false);
        assert_eq!(
            one_of_two, "0.00 EUR, though 1 of them changes for a while",
            "another is listed, past its validity"
        );
    }

    #[test]
    fn a_share_rounds_to_the_nearest_percent_but_never_to_all_or_none() {
        let shares: Vec<usize> = [(2, 3), (1, 3), (0, 3), (3, 3), (199, 200), (1, 1000), (0, 0), (5, 4)]
            .into_iter()
            .map(|(part, whole)| share_percent(part, whole))
            .collect();
        assert_eq!(shares, [67, 33, 0, 100, 99, 1, 0, 100]);
    }

    #[test]
    fn a_sum_past_the_largest_amount_says_so() {
        assert_eq!(sum_in_words("EUR", -12_345), "-123.45 EUR");
        let huge = i128::from(i64::MAX) * 6;
        assert_eq!(sum_in_words("EUR", huge), "beyond +92,233,720,368,547,758.07 EUR");
        assert_eq!(sum_in_words("EUR", -huge), "beyond -92,233,720,368,547,758.07 EUR");
    }

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
