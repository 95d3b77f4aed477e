//! The invitation life cycle: which party may do what, what state follows, and what each party is
//! allowed to know afterwards.
//!
//! ```text
//! pending -> accepted | ignored | withdrawn | expired | cancelled
//! ```
//!
//! Refusals come in the order API.md fixes: the request itself (422), visibility (404), state (409),
//! then who may act (403).

use crate::RuleError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationState {
    Pending,
    Accepted,
    Ignored,
    Withdrawn,
    Expired,
    /// The system ended it: a block, a closed, deactivated or suspended account.
    Cancelled,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "ignored" => Self::Ignored,
            "withdrawn" => Self::Withdrawn,
            "expired" => Self::Expired,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// What `party` may know of this state; `None` means the invitation is simply gone for them.
    ///
    /// The sender never learns that they were ignored: ignored, expired and cancelled all read
    /// `closed`. For the recipient, a withdrawn, expired or cancelled invitation left no trace.
    pub fn seen_by(self, party: Party) -> Option<SeenState> {
        match (party, self) {
            (_, Self::Pending) => Some(SeenState::Pending),
            (_, Self::Accepted) => Some(SeenState::Accepted),
            (Party::Sender, Self::Withdrawn) => Some(SeenState::Withdrawn),
            (Party::Sender, Self::Ignored | Self::Expired | Self::Cancelled) => {
                Some(SeenState::Closed)
            }
            (Party::Recipient, Self::Ignored) => Some(SeenState::Ignored),
            (Party::Recipient, Self::Withdrawn | Self::Expired | Self::Cancelled) => None,
        }
    }

    /// The state that follows `action` by `party`, or why it is refused.
    pub fn next(self, party: Party, action: Action) -> Result<InvitationState, RuleError> {
        if self.seen_by(party).is_none() {
            return Err(RuleError::NotFound);
        }
        if self != Self::Pending {
            return Err(RuleError::NotPending);
        }
        match (action, party) {
            (Action::Accept, Party::Recipient) => Ok(Self::Accepted),
            (Action::Ignore(_), Party::Recipient) => Ok(Self::Ignored),
            (Action::Withdraw, Party::Sender) => Ok(Self::Withdrawn),
            _ => Err(RuleError::WrongParty),
        }
    }
}

/// A state as one party is allowed to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenState {
    Pending,
    Accepted,
    Ignored,
    Withdrawn,
    Closed,
}

impl SeenState {
    /// Every value, in the order the API documents them.
    pub const ALL: [SeenState; 5] = [
        Self::Pending,
        Self::Accepted,
        Self::Ignored,
        Self::Withdrawn,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::Withdrawn => "withdrawn",
            Self::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Sender,
    Recipient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Ignore(Option<IgnoreReason>),
    Withdraw,
}

/// Why a recipient ignored an invitation. Either one bars the sender from inviting again and counts
/// against the sender's standing; `Spam` also files a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    DontKnow,
    Spam,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DontKnow => "dont_know",
            Self::Spam => "spam",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dont_know" => Some(Self::DontKnow),
            "spam" => Some(Self::Spam),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvitationState::*;

    const ALL: [InvitationState; 6] = [Pending, Accepted, Ignored, Withdrawn, Expired, Cancelled];

    #[test]
    fn states_round_trip_through_their_names() {
        for s in ALL {
            assert_eq!(InvitationState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn only_the_recipient_accepts_or_ignores_and_only_the_sender_withdraws() {
        assert_eq!(Pending.next(Party::Recipient, Action::Accept), Ok(Accepted));
        assert_eq!(
            Pending.next(Party::Recipient, Action::Ignore(None)),
            Ok(Ignored)
        );
        assert_eq!(Pending.next(Party::Sender, Action::Withdraw), Ok(Withdrawn));
        assert_eq!(
            Pending.next(Party::Sender, Action::Accept),
            Err(RuleError::WrongParty)
        );
        assert_eq!(
            Pending.next(Party::Sender, Action::Ignore(None)),
            Err(RuleError::WrongParty)
        );
        assert_eq!(
            Pending.next(Party::Recipient, Action::Withdraw),
            Err(RuleError::WrongParty)
        );
    }

    #[test]
    fn nothing_but_pending_can_change() {
        for s in ALL.into_iter().filter(|s| *s != Pending) {
            for party in [Party::Sender, Party::Recipient] {
                for action in [Action::Accept, Action::Ignore(None), Action::Withdraw] {
                    let r = s.next(party, action);
                    assert!(
                        matches!(r, Err(RuleError::NotPending | RuleError::NotFound)),
                        "{s:?} {party:?} {action:?} -> {r:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn withdrawn_invitation_is_gone_for_the_recipient() {
        assert_eq!(Withdrawn.seen_by(Party::Recipient), None);
        assert_eq!(
            Withdrawn.next(Party::Recipient, Action::Accept),
            Err(RuleError::NotFound)
        );
        assert_eq!(Withdrawn.seen_by(Party::Sender), Some(SeenState::Withdrawn));
    }

    #[test]
    fn sender_cannot_tell_ignored_from_expired() {
        assert_eq!(Ignored.seen_by(Party::Sender), Some(SeenState::Closed));
        assert_eq!(Expired.seen_by(Party::Sender), Some(SeenState::Closed));
        assert_eq!(Cancelled.seen_by(Party::Sender), Some(SeenState::Closed));
        assert_eq!(Ignored.seen_by(Party::Recipient), Some(SeenState::Ignored));
    }
}
