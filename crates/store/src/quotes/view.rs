//! A quote as the API shows it: its lines with their totals, and the
//! evidence kept when it was finalised.

use pricegate_domain::PricedLine;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::StoreError;
use crate::entity::{finalisations, quote_lines, quotes};
use crate::views::{
    CustomerView, EvidenceNotice, EvidencePrice, EvidenceView, LineView, OverrideView, QuoteView, SignedQuoteView,
};

fn line_views(lines: &[quote_lines::Model]) -> Vec<LineView> {
    lines
        .iter()
        .map(|l| LineView {
            id: l.id,
            sku: l.sku.clone(),
            product_name: l.product_name.clone(),
            unit: l.unit.clone(),
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            discount_bp: l.discount_bp,
            total_minor: PricedLine {
                line_id: l.id,
                sku: String::new(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                discount_bp: l.discount_bp,
            }
            .total(),
        })
        .collect()
}

pub(super) fn evidence_view(f: finalisations::Model) -> EvidenceView {
    let notices: Vec<EvidenceNotice> =
        serde_json::from_value(f.evidence.get("notices").cloned().unwrap_or_default()).unwrap_or_default();
    let price_override: Option<OverrideView> =
        serde_json::from_value(f.evidence.get("override").cloned().unwrap_or_default()).unwrap_or_default();
    let signed: Option<SignedQuoteView> =
        serde_json::from_value(f.evidence.get("signed").cloned().unwrap_or_default()).unwrap_or_default();
    let prices: Option<Vec<EvidencePrice>> =
        serde_json::from_value(f.evidence.get("prices").cloned().unwrap_or_default()).unwrap_or_default();
    EvidenceView { finalised_by: f.finalised_by, finalised_at: f.finalised_at, notices, price_override, signed, prices }
}

pub(crate) fn to_view(q: quotes::Model, lines: Vec<quote_lines::Model>, evidence: Option<EvidenceView>) -> QuoteView {
    let lines = line_views(&lines);
    let total_minor = lines.iter().fold(0i64, |sum, l| sum.saturating_add(l.total_minor));
    let mut view = QuoteView {
        id: q.id,
        owner_id: q.owner_id,
        signer_id: q.signer_id,
        customer: CustomerView { name: q.customer_name, email: q.customer_email, company: q.customer_company },
        currency: q.currency,
        valid_until: q.valid_until,
        notes: q.notes,
        state: q.state,
        drafted_at: q.drafted_at,
        updated_at: q.updated_at,
        finalised_at: q.finalised_at,
        cancelled_at: q.cancelled_at,
        lines,
        total_minor,
        evidence,
        changed_since_finalised: Vec::new(),
    };
    let signed = view.evidence.as_ref().and_then(|e| e.signed.as_ref());
    let changed = signed.map(|signed| signed.differences(&view)).unwrap_or_default();
    view.changed_since_finalised = changed.into_iter().map(str::to_owned).collect();
    view
}

pub(crate) async fn quote_view(
    conn: &impl ConnectionTrait,
    quote: quotes::Model,
    lines: Vec<quote_lines::Model>,
) -> Result<QuoteView, StoreError> {
    let evidence =
        if quote.finalised_at.is_some() { finalisations::Entity::find_by_id(quote.id).one(conn).await? } else { None };
    Ok(to_view(quote, lines, evidence.map(evidence_view)))
}
