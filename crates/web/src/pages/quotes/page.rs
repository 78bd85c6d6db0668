//! One quote's page: its lines, its gate, its history and the forms that apply to it.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pricegate_domain::Role;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_store::views::{GateView, QuoteView, UserView};
use uuid::Uuid;

use crate::pages::{Layout, PageError, PageSegment, PageUser, money, signed_money};
use crate::{AppState, filters};

use super::approval::approval_asked;
use super::done::{QUOTE_DONE, QuoteDone};
use super::gate_forms::altered;
use super::history::{HistoryRow, history_row, parties, with_parties_changes, without_repeats};
use super::list::AcknowledgeAll;
use super::pending::{TogetherNote, TogetherWhy, last_words, later_changes, together};
use super::rows::{
    EvidenceRow, LineRow, PendingRow, PriceNoticeRow, PriceSourceRow, Repriced, SupersededGap, SupersededRow,
    UpcomingRow, gate_marks, line_rows, pending_row, upcoming_rows,
};
use super::{QUOTE_ROLES, open_gate};

#[derive(Template)]
#[template(path = "pages/quote.html")]
pub(super) struct QuotePage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    pub(super) id: Uuid,
    /// How the e-mails name it.
    pub(super) reference: String,
    /// The quote as shown ([`QuoteView::revision`]): its Finalise form sends
    /// it back, and a quote changed since is not finalised.
    pub(super) revision: i64,
    pub(super) customer: String,
    pub(super) customer_email: String,
    pub(super) signer: String,
    pub(super) owner: String,
    /// The owner signs it too: the page names one person.
    pub(super) owner_signs: bool,
    pub(super) i_am_signer: bool,
    /// For the signer who can sign, with two or more notices pending: the
    /// notices "Acknowledge all" sends back, those the page shows.
    pub(super) acknowledge_all: Option<AcknowledgeAll>,
    /// The reader owns it and is in sales: they may edit, reprice and cancel a draft.
    pub(super) i_am_owner: bool,
    /// Its owner is an active salesperson, who can change it.
    pub(super) owner_can_edit: bool,
    /// The reader is in sales, and may draft a new quote from this one.
    pub(super) i_can_copy: bool,
    pub(super) state: String,
    pub(super) valid_until: String,
    pub(super) drafted_at: String,
    pub(super) notes: String,
    pub(super) lines: Vec<LineRow>,
    pub(super) total: String,
    pub(super) ready: bool,
    pub(super) expired: bool,
    /// False when the signer was deactivated or left sales (a draft only).
    pub(super) signer_can_sign: bool,
    pub(super) pending: Vec<PendingRow>,
    pub(super) superseded: Vec<SupersededRow>,
    /// What today's prices would do to the total of the lines at an old
    /// price: what keeping the old ones forgoes.
    pub(super) superseded_gap: Option<SupersededGap>,
    pub(super) has_override: bool,
    /// Finance's approval of the old prices: who, when and why.
    pub(super) override_note: Option<String>,
    /// Finance's latest approval of old prices, which no longer covers the
    /// lines at an old price, in words.
    pub(super) lapsed_override: Option<String>,
    pub(super) finalised_at: String,
    /// Who finalised it (the signer, by the gate's rule).
    pub(super) finalised_by: String,
    pub(super) cancelled_at: String,
    pub(super) evidence: Vec<EvidenceRow>,
    /// Where each price signed came from; `None` for evidence kept before
    /// that was recorded.
    pub(super) price_sources: Option<Vec<PriceSourceRow>>,
    /// What of a finalised quote's rows no longer matches its finalisation
    /// record, and what that record says was finalised, in words.
    pub(super) altered: Option<String>,
    /// What happened to the quote, oldest first, as the audit log keeps it.
    pub(super) history: Vec<HistoryRow>,
    pub(super) override_reason: String,
    /// What the pending notices do to the total together, when their own totals do not say it.
    pub(super) together: Option<TogetherNote>,
    pub(super) message: Option<String>,
    /// What the last form did to this quote, told once.
    pub(super) done: Option<String>,
    /// `done` is said of the gate (an acknowledgement), and shown there, at
    /// the notices still pending and the Finalise button, not above the lines.
    pub(super) done_at_gate: bool,
    pub(super) repriced: Option<Repriced>,
    /// Prices published to take force while the draft is valid, other than
    /// the pending notices' (which have their own cards).
    pub(super) upcoming: Vec<UpcomingRow>,
    /// Pending notices are listed above the prices due: those are the others.
    pub(super) upcoming_besides_pending: bool,
    pub(super) is_finance: bool,
    /// The reader owns or signs it: they may not approve its old prices.
    pub(super) mine: bool,
    pub(super) override_error: Option<String>,
    /// The reason typed into a refused approval, to send again.
    pub(super) override_reason_typed: String,
    /// The open request that finance approve the old prices, in words.
    pub(super) approval_asked: Option<String>,
    /// The reader, the quote's owner or signer in sales, may ask finance to
    /// approve its old prices (none asked about these lines yet).
    pub(super) may_ask_approval: bool,
    /// The reader may remind finance of the open request, about these lines.
    pub(super) may_remind_finance: bool,
    pub(super) ask_error: Option<String>,
    /// The reason typed into a refused request, to send again.
    pub(super) ask_reason_typed: String,
    /// The open request for approval, which finance may decline.
    pub(super) open_request: Option<Uuid>,
    pub(super) decline_error: Option<String>,
    /// The reason typed into a refused decline, to send again.
    pub(super) decline_reason_typed: String,
    /// The lines at an old price as shown ([`pricegate_store::views::GateView::superseded_tag`]):
    /// the approval form sends them back, and is refused if they are others by then.
    pub(super) superseded_seen: String,
}

pub(super) async fn quote_page(
    app: &AppState,
    user: &PageUser,
    quote: QuoteView,
    gate: Option<GateView>,
    message: Option<String>,
) -> Result<QuotePage, PageError> {
    let currency = quote.currency.clone();
    let calendar = app.store.calendar();
    let today = calendar.today();
    let name_of = |id| async move { app.store.get_user(id).await.map(|u| u.name).unwrap_or_else(|_| "unknown".into()) };
    let signer_user = app.store.get_user(quote.signer_id).await.ok();
    let owner_user = match quote.owner_id == quote.signer_id {
        true => signer_user.clone(),
        false => app.store.get_user(quote.owner_id).await.ok(),
    };
    let name = |u: &Option<UserView>| u.as_ref().map_or_else(|| "unknown".to_owned(), |u| u.name.clone());
    let (signer, owner) = (name(&signer_user), name(&owner_user));
    // Only a salesperson can change a draft: an owner out of sales waits for
    // an admin to hand it over.
    let owner_can_edit = quote.state != "draft" || owner_user.as_ref().is_none_or(UserView::can_sign);
    let finalised_by = match quote.evidence.as_ref().map(|e| e.finalised_by) {
        Some(by) if by == quote.signer_id => signer.clone(),
        Some(by) => name_of(by).await,
        None => String::new(),
    };
    let gate = match gate {
        Some(g) => Some(g),
        None => open_gate(app, user, &quote).await?,
    };
    let (together, later) = match &gate {
        Some(g) => {
            let words = last_words(&g.pending, quote.valid_until);
            let note = together(&words, &g.pending)
                .map(|t| TogetherNote { why: t.why, delta: signed_money(&currency, t.delta_minor) });
            (note, later_changes(&words, &g.pending))
        }
        None => (None, HashMap::new()),
    };
    let upcoming = upcoming_rows(app, &quote, gate.as_ref()).await?;
    // Who approved keeping the old prices, and why, for the signer to read before finalising.
    let override_note = match gate.as_ref().and_then(|g| g.price_override.as_ref()) {
        Some(o) => Some(format!(
            "{} approved this {}: \u{201c}{}\u{201d}",
            name_of(o.approved_by).await,
            calendar.stamp(o.created_at, true),
            o.reason
        )),
        None => None,
    };
    let superseded_seen = gate.as_ref().map(|g| g.superseded_tag.clone()).unwrap_or_default();
    let superseded_gap = gate.as_ref().filter(|g| !g.superseded.is_empty()).map(|g| {
        let gap = pricegate_store::views::old_price_gap(&g.superseded);
        if gap < 0 {
            SupersededGap { amount: money(&currency, gap.saturating_neg()), falls: true }
        } else {
            SupersededGap { amount: signed_money(&currency, gap), falls: false }
        }
    });
    // The request for finance's approval, while the gate has lines at an old
    // price that no approval covers: read with the gate's own lines.
    let awaiting = gate.as_ref().filter(|g| !g.superseded.is_empty() && g.price_override.is_none());
    let asked = approval_asked(app, user, &quote, awaiting.map(|g| g.superseded.as_slice())).await?;
    let marks = gate.as_ref().map(|g| gate_marks(g, quote.valid_until, calendar)).unwrap_or_default();
    let (ready, expired, signer_can_sign, pending, superseded, has_override) = match gate {
        Some(g) => (
            g.ready,
            g.expired,
            g.signer_can_sign,
            g.pending
                .into_iter()
                .map(|p| (ChangesAhead::of(&p.impact.change_days, today), p))
                .map(|(ahead, p)| pending_row(p, ahead, &quote, &later, (calendar, today)))
                .collect(),
            g.superseded
                .iter()
                .map(|s| SupersededRow {
                    sku: s.sku.clone(),
                    quantity: pricegate_domain::count(s.quantity),
                    quoted: money(&currency, s.quoted_unit_price_minor),
                    current: money(&currency, s.current_unit_price_minor),
                })
                .collect(),
            g.price_override.is_some(),
        ),
        None => (false, false, true, Vec::new(), Vec::new(), false),
    };
    // An approval that an edit, or a price since, has left behind: said, so
    // that the page does not seem to have forgotten it.
    let lapsed_override = match superseded.is_empty() || has_override {
        true => None,
        false => match app.store.latest_price_override(quote.id).await? {
            Some(o) if o.approved_by == quote.signer_id || o.approved_by == quote.owner_id => Some(format!(
                "{} approved keeping old prices {}, and now {} this quote, so that approval no longer applies: one \
                 person does not both approve old prices and draft or finalise at them. Someone else in finance \
                 must approve them.",
                name_of(o.approved_by).await,
                calendar.stamp(o.created_at, true),
                if o.approved_by == quote.signer_id { "signs" } else { "owns" },
            )),
            Some(o) => Some(format!(
                "{} approved keeping old prices {}, but the quote or its prices have changed since, so that approval no longer applies: an approval waives only the lines as finance saw them.",
                name_of(o.approved_by).await,
                calendar.stamp(o.created_at, true),
            )),
            None => None,
        },
    };
    let evidence = quote.evidence.as_ref();
    let upcoming_besides_pending = !pending.is_empty();
    let entries = app.store.quote_history(quote.id).await?;
    // Its owner's and signer's accounts while it was open: why it waited for another.
    let parties = parties(&entries);
    let closed_at = entries.iter().find(|e| matches!(e.action.as_str(), "quote.finalised" | "quote.cancelled"));
    let changes = match entries.first() {
        Some(first) => app.store.signing_changes(&parties, first.at, closed_at.map(|e| e.at)).await?,
        None => Vec::new(),
    };
    let mut people: Vec<Uuid> = entries.iter().chain(&changes).filter_map(|e| e.actor_id).collect();
    people.extend(parties);
    people.sort_unstable();
    people.dedup();
    let names = app.store.user_names(&people).await?;
    let told = with_parties_changes(&entries, &changes, &names);
    let history = without_repeats(told.into_iter().map(|(e, said)| HistoryRow {
        at: calendar.stamp(e.at, true),
        actor: e.actor_id,
        who: e.actor_id.and_then(|id| names.get(&id).cloned()).unwrap_or_default(),
        what: said.unwrap_or_else(|| history_row(e, &currency, &names, &quote.state)),
        repeated: None,
    }));
    let reference = pricegate_domain::quote_reference(quote.id);
    Ok(QuotePage {
        history,
        // Two quotes for one customer are told apart in the browser's tabs and history.
        layout: user
            .layout(format!("Quote {reference} for {}", quote.customer.name))
            .at(format!("/quotes/{}", quote.id)),
        reference,
        csrf: user.csrf().to_owned(),
        id: quote.id,
        revision: quote.revision(),
        customer: if quote.customer.company.is_empty() {
            quote.customer.name.clone()
        } else {
            format!("{} ({})", quote.customer.name, quote.customer.company)
        },
        customer_email: quote.customer.email.clone(),
        signer,
        owner,
        owner_signs: quote.owner_id == quote.signer_id,
        i_am_signer: quote.signer_id == user.0.actor.id,
        // Only a salesperson changes a quote, even one they own.
        i_am_owner: quote.owner_id == user.0.actor.id && user.0.actor.role == Role::Sales,
        i_can_copy: user.0.actor.role == Role::Sales,
        owner_can_edit,
        state: quote.state.clone(),
        valid_until: quote.valid_until.to_string(),
        drafted_at: calendar.stamp(quote.drafted_at, true),
        notes: quote.notes.clone(),
        lines: line_rows(app, &quote)
            .await?
            .into_iter()
            .zip(&quote.lines)
            .map(|(row, line)| LineRow { gate_mark: marks.get(&line.id).copied(), ..row })
            .collect(),
        total: money(&currency, quote.total_minor),
        ready,
        expired,
        signer_can_sign,
        // The first of them when there are more than one form may name.
        acknowledge_all: (quote.signer_id == user.0.actor.id && signer_can_sign && pending.len() >= 2).then(|| {
            let ids: Vec<String> = pending
                .iter()
                .take(crate::pages::ACKNOWLEDGED_TOGETHER_AT_MOST)
                .map(|p| p.notice_id.to_string())
                .collect();
            AcknowledgeAll { count: ids.len(), ids: ids.join(",") }
        }),
        pending,
        superseded,
        superseded_gap,
        has_override,
        override_note,
        lapsed_override,
        finalised_at: evidence.map(|e| calendar.stamp(e.finalised_at, true)).unwrap_or_default(),
        finalised_by,
        cancelled_at: quote.cancelled_at.map(|at| calendar.stamp(at, true)).unwrap_or_default(),
        altered: evidence.and_then(|e| e.signed.as_ref()).and_then(|signed| altered(signed, &quote)),
        evidence: evidence
            .map(|e| {
                e.notices
                    .iter()
                    .map(|n| EvidenceRow {
                        notice_id: n.notice_id,
                        title: n.title.clone(),
                        published_at: calendar.stamp(n.published_at, true),
                        acknowledged_at: calendar.stamp(n.acknowledged_at, true),
                        channel: crate::pages::channel_in_words(&n.channel).to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        price_sources: evidence.and_then(|e| e.prices.as_ref()).map(|prices| {
            let row = |sku: &str, price: i64, signed: bool, set_by: Option<&pricegate_store::views::PriceSetBy>| {
                PriceSourceRow {
                    sku: sku.to_owned(),
                    price: money(&currency, price),
                    signed,
                    kept_below: false,
                    notice: set_by.map(|n| PriceNoticeRow::of(n, calendar)),
                }
            };
            prices
                .iter()
                .flat_map(|p| {
                    let kept = p.signed_at.iter().map(|s| row(&p.sku, s.unit_price_minor, true, s.set_by.as_ref()));
                    let in_force = PriceSourceRow {
                        kept_below: !p.signed_at.is_empty(),
                        ..row(&p.sku, p.unit_price_minor, false, p.set_by.as_ref())
                    };
                    std::iter::once(in_force).chain(kept)
                })
                .collect()
        }),
        override_reason: match evidence.and_then(|e| e.price_override.as_ref()) {
            // Who approved it, and when, is part of the proof.
            Some(o) => {
                let by = name_of(o.approved_by).await;
                let waived: Vec<String> = o
                    .waives
                    .iter()
                    .map(|w| {
                        format!(
                            "{} × {} at {} ({} in force)",
                            w.sku,
                            w.quantity.map_or_else(|| "?".to_owned(), |q| q.to_string()),
                            money(&quote.currency, w.quoted_unit_price_minor),
                            money(&quote.currency, w.current_unit_price_minor)
                        )
                    })
                    .collect();
                let waiving =
                    if waived.is_empty() { String::new() } else { format!(", waiving {}", waived.join(", ")) };
                format!("approved by {by}, {}{waiving}: {}", calendar.stamp(o.created_at, true), o.reason)
            }
            None => String::new(),
        },
        together,
        upcoming_besides_pending,
        upcoming,
        message,
        done: None,
        done_at_gate: false,
        repriced: None,
        is_finance: user.0.actor.role == Role::Finance,
        mine: quote.owner_id == user.0.actor.id || quote.signer_id == user.0.actor.id,
        override_error: None,
        override_reason_typed: String::new(),
        approval_asked: asked.note,
        may_ask_approval: asked.may_ask,
        may_remind_finance: asked.may_remind,
        open_request: asked.open,
        ask_error: None,
        ask_reason_typed: String::new(),
        decline_error: None,
        decline_reason_typed: String::new(),
        superseded_seen,
    })
}

pub(super) async fn show(
    State(app): State<AppState>,
    user: PageUser,
    PageSegment(raw): PageSegment,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    user.require(QUOTE_ROLES)?;
    let id = match Uuid::parse_str(&raw) {
        Ok(id) => id,
        Err(_) => return by_reference(&app, &user, &raw, "").await,
    };
    let quote = app.store.get_quote(&user.0.actor, id).await?;
    let quote_currency = quote.currency.clone();
    let mut page = quote_page(&app, &user, quote, None, None).await?;
    let seal = user.seal(&app);
    if let Some(done) = QUOTE_DONE.read(&headers, &seal).and_then(|v| QuoteDone::parse(v, id)) {
        if let QuoteDone::Repriced { old_minor, new_minor, .. } = done {
            let currency = quote_currency.as_str();
            page.repriced =
                Some(Repriced { old_total: money(currency, old_minor), new_total: money(currency, new_minor) });
        }
        // A draft's only: a quote cancelled meanwhile has no gate to show it at.
        page.done_at_gate = done.is_of_the_gate() && page.state == "draft";
        page.done = Some(done.sentence(&app, &user, &page).await);
    }
    Ok(QUOTE_DONE.told(&headers, &seal, &page))
}

/// `/quotes/3fc2b0b8`: the quote by the reference its e-mails and lists
/// print, among those the person may see; `then` is the rest of the
/// address (`/edit`), kept on the way to it.
pub(in crate::pages) async fn by_reference(
    app: &AppState,
    user: &PageUser,
    typed: &str,
    then: &str,
) -> Result<Response, PageError> {
    let Some((reference, ids)) = crate::pages::reference_range(typed) else {
        return Err(crate::pages::forms::not_found());
    };
    match app.store.quotes_by_reference(&user.0.actor, ids).await?.as_slice() {
        [id] => Ok(axum::response::IntoResponse::into_response(axum::response::Redirect::to(&format!(
            "/quotes/{id}{then}"
        )))),
        [] => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("None of the quotes you may see has the reference {reference}."),
        )),
        _ => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "More than one quote",
            format!(
                "Several quotes you may see have the reference {reference}: open the one you mean from the list of quotes."
            ),
        )),
    }
}
