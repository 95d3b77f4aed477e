//! A member's invitation history as numbers: what they sent and what became of it, in the words
//! the sender may know (ignored, expired and cancelled are all "closed").

use crate::views::{Stats, WeekStats};
use rapport_domain::{InvitationState, Timestamp};
use rapport_store::InvitationRecord;

const WEEK_MS: i64 = 7 * 86_400_000;
/// 1970-01-01 was a Thursday; Mondays fall 4 days later in the week.
const MONDAY_OFFSET_MS: i64 = 4 * 86_400_000;
const WEEKS: i64 = 12;

fn week_start(t: Timestamp) -> i64 {
    (t.0 - MONDAY_OFFSET_MS).div_euclid(WEEK_MS) * WEEK_MS + MONDAY_OFFSET_MS
}

pub fn compute(sent: &[InvitationRecord], now: Timestamp) -> Stats {
    let this_week = week_start(now);
    let first_week = this_week - (WEEKS - 1) * WEEK_MS;
    let mut weeks: Vec<WeekStats> = (0..WEEKS)
        .map(|i| WeekStats {
            week_start: Timestamp(first_week + i * WEEK_MS).to_rfc3339(),
            sent: 0,
            accepted: 0,
            closed: 0,
            withdrawn: 0,
        })
        .collect();
    let (mut accepted, mut closed, mut withdrawn, mut pending) = (0, 0, 0, 0);
    for inv in sent {
        let slot = usize::try_from((week_start(inv.created_at) - first_week) / WEEK_MS).ok();
        let week = slot
            .and_then(|i| weeks.get_mut(i))
            .filter(|_| inv.created_at.0 >= first_week);
        let field: Option<fn(&mut WeekStats) -> &mut u32> = match inv.state {
            InvitationState::Pending => {
                pending += 1;
                None
            }
            InvitationState::Accepted => {
                accepted += 1;
                Some(|w| &mut w.accepted)
            }
            InvitationState::Withdrawn => {
                withdrawn += 1;
                Some(|w| &mut w.withdrawn)
            }
            InvitationState::Ignored | InvitationState::Expired | InvitationState::Cancelled => {
                closed += 1;
                Some(|w| &mut w.closed)
            }
        };
        if let Some(w) = week {
            w.sent += 1;
            if let Some(f) = field {
                *f(w) += 1;
            }
        }
    }
    let decided = accepted + closed;
    Stats {
        sent: sent.len() as u32,
        accepted,
        closed,
        withdrawn,
        pending,
        acceptance_rate: (decided > 0).then(|| f64::from(accepted) / f64::from(decided)),
        weeks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_domain::{InvitationId, MemberId};

    fn inv(state: InvitationState, at: Timestamp) -> InvitationRecord {
        InvitationRecord {
            id: InvitationId(1),
            sender: MemberId(1),
            recipient: MemberId(2),
            note: None,
            state,
            ignore_reason: None,
            created_at: at,
            decided_at: None,
        }
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2027-01-15 was a Friday; its week began on Monday 2027-01-11.
        let friday = Timestamp::parse_rfc3339("2027-01-15T08:00:00Z").unwrap();
        assert_eq!(
            Timestamp(week_start(friday)).to_rfc3339(),
            "2027-01-11T00:00:00Z"
        );
    }

    #[test]
    fn ignored_expired_and_cancelled_all_count_as_closed() {
        let now = Timestamp::parse_rfc3339("2027-01-15T08:00:00Z").unwrap();
        let sent = [
            inv(InvitationState::Accepted, now),
            inv(InvitationState::Ignored, now),
            inv(InvitationState::Expired, now),
            inv(InvitationState::Cancelled, now),
            inv(InvitationState::Withdrawn, now),
            inv(InvitationState::Pending, now),
            inv(InvitationState::Accepted, Timestamp(0)),
        ];
        let s = compute(&sent, now);
        assert_eq!(
            (s.sent, s.accepted, s.closed, s.withdrawn, s.pending),
            (7, 2, 3, 1, 1)
        );
        assert_eq!(s.acceptance_rate, Some(0.4));
        assert_eq!(s.weeks.len(), 12);
        let last = s.weeks.last().unwrap();
        assert_eq!(
            (last.sent, last.accepted, last.closed, last.withdrawn),
            (6, 1, 3, 1)
        );
        assert_eq!(
            s.weeks.iter().map(|w| w.sent).sum::<u32>(),
            6,
            "old sends count in totals only"
        );
    }

    #[test]
    fn no_decision_yet_means_no_rate() {
        assert_eq!(compute(&[], Timestamp(0)).acceptance_rate, None);
    }
}
