//! The gate: a quote may be finalised only when its signer has acknowledged
//! every notice published after the quote was drafted.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A published notice, as far as the gate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedNotice {
    pub id: Uuid,
    pub seq: i64,
    pub published_at: DateTime<Utc>,
}

/// The signer's acknowledgement of one notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeAck {
    pub notice_id: Uuid,
    pub acknowledged_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    pub notice_id: Uuid,
}

/// The outcome of checking a quote against the notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Every relevant notice is acknowledged; `checked` is the evidence:
    /// each notice with the time the signer acknowledged it, in `seq` order.
    Ready { checked: Vec<(PublishedNotice, DateTime<Utc>)> },
    /// These notices (in `seq` order) still need the signer's acknowledgement.
    Pending { pending: Vec<PublishedNotice> },
}

impl GateDecision {
    pub fn is_ready(&self) -> bool {
        matches!(self, GateDecision::Ready { .. })
    }
}

/// Decide the gate for a quote drafted at `drafted_at`, given the published
/// notices and the signer's acknowledgements. Notices published at or before
/// `drafted_at` are not the gate's business: the quote was priced with them
/// already in force.
pub fn decide(drafted_at: DateTime<Utc>, notices: &[PublishedNotice], signer_acks: &[NoticeAck]) -> GateDecision {
    let mut relevant: Vec<&PublishedNotice> = notices.iter().filter(|n| n.published_at > drafted_at).collect();
    relevant.sort_by_key(|n| n.seq);
    let ack_time = |id: Uuid| signer_acks.iter().find(|a| a.notice_id == id).map(|a| a.acknowledged_at);
    let pending: Vec<PublishedNotice> =
        relevant.iter().filter(|n| ack_time(n.id).is_none()).map(|n| (*n).clone()).collect();
    if pending.is_empty() {
        let checked = relevant.into_iter().filter_map(|n| ack_time(n.id).map(|at| (n.clone(), at))).collect();
        GateDecision::Ready { checked }
    } else {
        GateDecision::Pending { pending }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 10, minute, 0).unwrap()
    }

    fn notice(seq: i64, minute: u32) -> PublishedNotice {
        PublishedNotice { id: Uuid::from_u128(seq as u128), seq, published_at: at(minute) }
    }

    #[test]
    fn notices_published_before_drafting_do_not_block() {
        let decision = decide(at(30), &[notice(1, 10), notice(2, 30)], &[]);
        assert_eq!(decision, GateDecision::Ready { checked: vec![] });
    }

    #[test]
    fn every_later_notice_must_be_acknowledged() {
        let notices = [notice(1, 10), notice(3, 50), notice(2, 40)];
        let acks = [NoticeAck { notice_id: notices[2].id, acknowledged_at: at(45) }];
        match decide(at(30), &notices, &acks) {
            GateDecision::Pending { pending } => assert_eq!(pending, vec![notices[1].clone()]),
            other => panic!("expected pending, got {other:?}"),
        }
    }

    #[test]
    fn the_evidence_lists_each_checked_notice_with_its_ack_time_in_seq_order() {
        let notices = [notice(2, 40), notice(1, 35)];
        let acks = [
            NoticeAck { notice_id: notices[0].id, acknowledged_at: at(41) },
            NoticeAck { notice_id: notices[1].id, acknowledged_at: at(36) },
        ];
        let decision = decide(at(30), &notices, &acks);
        assert_eq!(
            decision,
            GateDecision::Ready { checked: vec![(notices[1].clone(), at(36)), (notices[0].clone(), at(41))] }
        );
    }
}
