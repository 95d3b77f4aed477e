//! May this member invite that one now? Every rule of sending, in one function, in the order the
//! API contract fixes: the request itself (422), visibility (404), state (409), privacy and standing
//! (403), limits (429).

use crate::{InvitationId, RuleError, Timestamp};
use std::time::Duration;

/// Who may send a member an invitation (`invitations_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvitationsFrom {
    #[default]
    Everyone,
    /// Only people who share a connection with the recipient.
    SecondDegree,
    /// Only people who supply the recipient's email address.
    EmailRequired,
    Nobody,
}

impl InvitationsFrom {
    /// Every value, in the order the API documents them.
    pub const ALL: [InvitationsFrom; 4] = [
        Self::Everyone,
        Self::SecondDegree,
        Self::EmailRequired,
        Self::Nobody,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::SecondDegree => "second_degree",
            Self::EmailRequired => "email_required",
            Self::Nobody => "nobody",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "everyone" => Self::Everyone,
            "second_degree" => Self::SecondDegree,
            "email_required" => Self::EmailRequired,
            "nobody" => Self::Nobody,
            _ => return None,
        })
    }
}

/// The limits in force for this sender (their tier already applied).
#[derive(Debug, Clone, Copy)]
pub struct SendLimits {
    pub weekly: u32,
    pub outstanding: u32,
    pub max_connections: u32,
}

pub const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// When a sender who has sent `used` of their weekly `limit` may send again: never held back
/// below the limit; at it, when the oldest send of the window (`oldest`, the limit-th newest)
/// leaves it. The one quota rule, for the send itself and for every view of the quota.
pub fn next_send_at(
    limit: u32,
    used: u32,
    oldest: Option<Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    (used >= limit).then(|| oldest.unwrap_or(now).plus(WEEK))
}

/// What the store found, inside the write transaction, about a sender and a recipient.
#[derive(Debug, Clone)]
pub struct SendContext {
    pub now: Timestamp,
    pub is_self: bool,
    /// The recipient exists and is visible to the sender (active, no block either way).
    pub recipient_visible: bool,
    pub connected: bool,
    /// The sender already has a pending invitation to the recipient.
    pub pending_sent: bool,
    /// The recipient has a pending invitation to the sender.
    pub pending_received: Option<InvitationId>,
    /// The recipient ignored an invitation from the sender as "don't know" or spam, and has not
    /// invited the sender since.
    pub barred: bool,
    /// The sender withdrew an invitation to the recipient and may not invite again before this.
    pub cooldown_until: Option<Timestamp>,
    pub recipient_accepts: InvitationsFrom,
    /// Sender and recipient share at least one connection.
    pub shares_connection: bool,
    /// The sender supplied an email address for the recipient.
    pub email_supplied: bool,
    /// The sender supplied the recipient's email address, and it is theirs.
    pub email_matches: bool,
    /// The sender is restricted from sending until then (unless they supply the email).
    pub restricted_until: Option<Timestamp>,
    pub sender_connections: u32,
    pub recipient_connections: u32,
    /// The sender's pending sent invitations.
    pub outstanding: u32,
    /// Of the sender's last `limits.weekly` invitations, how many were sent within the last week,
    /// and the oldest of those.
    pub sent_this_week: u32,
    pub oldest_this_week: Option<Timestamp>,
    pub limits: SendLimits,
}

impl SendContext {
    /// A context in which every rule allows the send: a starting point for tests and seeding.
    pub fn allowing(now: Timestamp) -> SendContext {
        SendContext {
            now,
            is_self: false,
            recipient_visible: true,
            connected: false,
            pending_sent: false,
            pending_received: None,
            barred: false,
            cooldown_until: None,
            recipient_accepts: InvitationsFrom::Everyone,
            shares_connection: false,
            email_supplied: false,
            email_matches: false,
            restricted_until: None,
            sender_connections: 0,
            recipient_connections: 0,
            outstanding: 0,
            sent_this_week: 0,
            oldest_this_week: None,
            limits: SendLimits {
                weekly: 100,
                outstanding: 2_500,
                max_connections: 30_000,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendDecision {
    /// Insert a new pending invitation.
    Create,
    /// Both invited each other: accept the recipient's invitation and connect them.
    AcceptReverse(InvitationId),
}

fn limited(now: Timestamp, retry_at: Timestamp) -> (Timestamp, u64) {
    let secs = ((retry_at.0 - now.0).max(1_000) as u64).div_ceil(1_000);
    (retry_at, secs)
}

/// Can the sender invite the recipient, and what happens if so.
pub fn decide_send(c: &SendContext) -> Result<SendDecision, RuleError> {
    if c.is_self {
        return Err(RuleError::SelfInvitation);
    }
    if !c.recipient_visible {
        return Err(RuleError::NotFound);
    }
    if c.connected {
        return Err(RuleError::AlreadyConnected);
    }
    let at_cap = c.sender_connections >= c.limits.max_connections
        || c.recipient_connections >= c.limits.max_connections;
    if let Some(theirs) = c.pending_received {
        // They asked first: accepting needs only room for one more connection on both sides.
        if at_cap {
            return Err(RuleError::ConnectionLimit);
        }
        return Ok(SendDecision::AcceptReverse(theirs));
    }
    if c.pending_sent {
        return Err(RuleError::InvitationPending);
    }
    if c.barred {
        return Err(RuleError::InvitationsClosed);
    }
    // What the sender supplied as the recipient's address decides last, after every limit of the
    // sender: a sender at a limit gets the same answer whether the address is right or wrong, so
    // the answers cannot be used to confirm a member's address. Without an address there is
    // nothing to confirm, and privacy and standing answer first, as the contract orders them.
    let needs_email = c.recipient_accepts == InvitationsFrom::EmailRequired;
    let email_supplied = c.email_supplied || c.email_matches;
    let restricted = c.restricted_until.filter(|u| *u > c.now);
    match c.recipient_accepts {
        InvitationsFrom::Nobody => return Err(RuleError::InvitationsClosed),
        InvitationsFrom::SecondDegree if !c.shares_connection => {
            return Err(RuleError::InvitationsClosed)
        }
        InvitationsFrom::EmailRequired if !email_supplied => return Err(RuleError::EmailRequired),
        _ => {}
    }
    if let Some(until) = restricted.filter(|_| !email_supplied) {
        return Err(RuleError::Restricted { until });
    }
    if at_cap {
        return Err(RuleError::ConnectionLimit);
    }
    if let Some(until) = c.cooldown_until.filter(|u| *u > c.now) {
        let (retry_at, retry_after) = limited(c.now, until);
        return Err(RuleError::CooldownActive {
            retry_at,
            retry_after,
        });
    }
    if c.outstanding >= c.limits.outstanding {
        return Err(RuleError::OutstandingLimit);
    }
    if let Some(next) = next_send_at(c.limits.weekly, c.sent_this_week, c.oldest_this_week, c.now) {
        let (retry_at, retry_after) = limited(c.now, next);
        return Err(RuleError::QuotaExceeded {
            retry_at,
            retry_after,
        });
    }
    // A restricted sender may still invite someone whose address they know.
    if !c.email_matches {
        if needs_email {
            return Err(RuleError::EmailRequired);
        }
        if let Some(until) = restricted {
            return Err(RuleError::Restricted { until });
        }
    }
    Ok(SendDecision::Create)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn the_next_send_is_when_the_oldest_of_a_full_week_leaves_it() {
        let oldest = NOW.minus(Duration::from_secs(3_600));
        assert_eq!(next_send_at(100, 99, Some(oldest), NOW), None);
        assert_eq!(
            next_send_at(100, 100, Some(oldest), NOW),
            Some(oldest.plus(WEEK))
        );
    }

    fn ctx() -> SendContext {
        SendContext::allowing(NOW)
    }

    /// Guessing a member's address through the send: a sender at any limit hears that limit,
    /// whether the address they gave is right or wrong.
    #[test]
    fn a_sender_at_a_limit_cannot_confirm_an_address() {
        let later = NOW.plus(Duration::from_secs(3_600));
        let at_limit = [
            SendContext {
                outstanding: 2_500,
                ..ctx()
            },
            SendContext {
                sent_this_week: 100,
                oldest_this_week: Some(NOW),
                ..ctx()
            },
            SendContext {
                cooldown_until: Some(later),
                ..ctx()
            },
            SendContext {
                sender_connections: 30_000,
                ..ctx()
            },
        ];
        for limited in at_limit {
            for restricted_until in [None, Some(later)] {
                let answer = |matches: bool| {
                    decide_send(&SendContext {
                        recipient_accepts: InvitationsFrom::EmailRequired,
                        email_supplied: true,
                        email_matches: matches,
                        restricted_until,
                        ..limited.clone()
                    })
                };
                assert!(answer(true).is_err());
                assert_eq!(answer(true), answer(false), "{limited:?}");
            }
        }
        // Under every limit, the address decides: the right one is let through, restricted or not.
        for restricted_until in [None, Some(later)] {
            let c = SendContext {
                recipient_accepts: InvitationsFrom::EmailRequired,
                email_supplied: true,
                restricted_until,
                ..ctx()
            };
            assert_eq!(decide_send(&c), Err(RuleError::EmailRequired));
            let right = SendContext {
                email_matches: true,
                ..c
            };
            assert_eq!(decide_send(&right), Ok(SendDecision::Create));
        }
    }

    #[test]
    fn refusals_come_in_contract_order() {
        let c = SendContext {
            is_self: true,
            recipient_visible: false,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::SelfInvitation));
        let c = SendContext {
            recipient_visible: false,
            connected: true,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::NotFound));
        let c = SendContext {
            connected: true,
            barred: true,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::AlreadyConnected));
        let c = SendContext {
            pending_sent: true,
            barred: true,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::InvitationPending));
        let c = SendContext {
            barred: true,
            outstanding: 9_999,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::InvitationsClosed));
        assert_eq!(decide_send(&ctx()), Ok(SendDecision::Create));
    }

    #[test]
    fn inviting_someone_who_invited_you_accepts_their_invitation() {
        // Even when the recipient would otherwise bar the sender: they asked first.
        let c = SendContext {
            pending_received: Some(InvitationId(7)),
            barred: true,
            recipient_accepts: InvitationsFrom::Nobody,
            sent_this_week: 1_000,
            ..ctx()
        };
        assert_eq!(
            decide_send(&c),
            Ok(SendDecision::AcceptReverse(InvitationId(7)))
        );
        let full = SendContext {
            recipient_connections: 30_000,
            ..c
        };
        assert_eq!(decide_send(&full), Err(RuleError::ConnectionLimit));
    }

    #[test]
    fn privacy_settings_decide_who_may_invite() {
        let with = |accepts, shares, email| SendContext {
            recipient_accepts: accepts,
            shares_connection: shares,
            email_matches: email,
            ..ctx()
        };
        use InvitationsFrom::*;
        assert_eq!(
            decide_send(&with(Nobody, true, true)),
            Err(RuleError::InvitationsClosed)
        );
        assert_eq!(
            decide_send(&with(SecondDegree, false, true)),
            Err(RuleError::InvitationsClosed)
        );
        assert_eq!(
            decide_send(&with(SecondDegree, true, false)),
            Ok(SendDecision::Create)
        );
        assert_eq!(
            decide_send(&with(EmailRequired, true, false)),
            Err(RuleError::EmailRequired)
        );
        assert_eq!(
            decide_send(&with(EmailRequired, false, true)),
            Ok(SendDecision::Create)
        );
        for s in [Everyone, SecondDegree, EmailRequired, Nobody] {
            assert_eq!(InvitationsFrom::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_member_at_the_connection_cap_can_neither_invite_nor_be_invited() {
        let c = SendContext {
            sender_connections: 30_000,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::ConnectionLimit));
        let c = SendContext {
            recipient_connections: 30_000,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::ConnectionLimit));
    }

    #[test]
    fn the_cooldown_after_a_withdrawal_says_when_it_ends() {
        let until = NOW.plus(Duration::from_secs(3_600));
        let c = SendContext {
            cooldown_until: Some(until),
            ..ctx()
        };
        assert_eq!(
            decide_send(&c),
            Err(RuleError::CooldownActive {
                retry_at: until,
                retry_after: 3_600
            })
        );
        let over = SendContext {
            cooldown_until: Some(NOW),
            ..ctx()
        };
        assert_eq!(decide_send(&over), Ok(SendDecision::Create));
    }

    #[test]
    fn the_weekly_limit_reopens_when_the_oldest_send_leaves_the_window() {
        let oldest = NOW.minus(Duration::from_secs(6 * 86_400));
        let c = SendContext {
            sent_this_week: 100,
            oldest_this_week: Some(oldest),
            ..ctx()
        };
        assert_eq!(
            decide_send(&c),
            Err(RuleError::QuotaExceeded {
                retry_at: oldest.plus(WEEK),
                retry_after: 86_400
            })
        );
        let under = SendContext {
            sent_this_week: 99,
            ..c
        };
        assert_eq!(decide_send(&under), Ok(SendDecision::Create));
    }

    #[test]
    fn a_restricted_sender_may_still_invite_someone_whose_email_they_know() {
        let until = NOW.plus(Duration::from_secs(86_400));
        let c = SendContext {
            restricted_until: Some(until),
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::Restricted { until }));
        let known = SendContext {
            email_matches: true,
            ..c.clone()
        };
        assert_eq!(decide_send(&known), Ok(SendDecision::Create));
        let over = SendContext { now: until, ..c };
        assert_eq!(decide_send(&over), Ok(SendDecision::Create));
    }

    #[test]
    fn the_outstanding_cap_counts_pending_sent_invitations() {
        let c = SendContext {
            outstanding: 2_500,
            ..ctx()
        };
        assert_eq!(decide_send(&c), Err(RuleError::OutstandingLimit));
    }
}
