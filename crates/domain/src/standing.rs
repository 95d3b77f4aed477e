//! A sender's standing: when their recent invitations say they are inviting people who do not
//! want it, they are restricted from sending for a while, and told why and until when.
//!
//! Over the last 90 days, a sender is restricted when
//! - 5 or more of their invitations were ignored as "I don't know this person" or spam; or
//! - at least 50 were decided and fewer than 20% of those were accepted; or
//! - they withdrew and re-sent an invitation to the same person 3 or more times; or
//! - 10 or more of the email addresses they gave for members who need one, or to get past a
//!   restriction, were wrong: guessing addresses ([`WRONG_EMAILS`]). From then on an address
//!   they give no longer lets them past any rule until the wrong ones leave the window, so a
//!   guesser cannot go on telling right addresses from wrong ones.
//!
//! The first restriction lasts a day, the second a week, every later one 30 days.

use std::time::Duration;

pub const WINDOW: Duration = Duration::from_secs(90 * 86_400);
/// Withdraw-and-resend cycles to one person that restrict the sender.
pub const RESENDS: u32 = 3;
/// Wrong email addresses given in the window that make a sender a guesser.
pub const WRONG_EMAILS: u32 = 10;
const DAY: u64 = 86_400;

/// What the last 90 days of a sender's invitations add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Ignored with a reason (`dont_know` or `spam`).
    pub ignored_with_reason: u32,
    /// Accepted, ignored or expired.
    pub decided: u32,
    pub accepted: u32,
    /// The most withdrawals of invitations to one person, counting the one being re-sent.
    pub withdrawals_to_one_person: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionReason {
    IgnoredAsUnknown,
    LowAcceptance,
    RepeatedResends,
    /// Gave [`WRONG_EMAILS`] wrong email addresses.
    WrongEmails,
    /// Set by an administrator.
    Moderation,
}

impl RestrictionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IgnoredAsUnknown => "ignored_as_unknown",
            Self::LowAcceptance => "low_acceptance",
            Self::RepeatedResends => "repeated_resends",
            Self::WrongEmails => "wrong_emails",
            Self::Moderation => "moderation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ignored_as_unknown" => Self::IgnoredAsUnknown,
            "low_acceptance" => Self::LowAcceptance,
            "repeated_resends" => Self::RepeatedResends,
            "wrong_emails" => Self::WrongEmails,
            "moderation" => Self::Moderation,
            _ => return None,
        })
    }

    /// The reason in words a member understands.
    pub fn explain(self) -> &'static str {
        match self {
            Self::IgnoredAsUnknown => {
                "Five or more people you invited in the last 90 days said they don't know you or reported the invitation as spam."
            }
            Self::LowAcceptance => {
                "Fewer than 1 in 5 of your last 50 or more answered invitations (90 days) were accepted."
            }
            Self::RepeatedResends => "You withdrew and re-sent an invitation to the same person three or more times.",
            Self::WrongEmails => {
                "Ten or more of the email addresses you gave when inviting people in the last 90 days were wrong. Until they are 90 days old, an address no longer lets an invitation through."
            }
            Self::Moderation => "A moderator restricted your invitations.",
        }
    }
}

/// Whether this standing calls for a restriction, and why.
pub fn assess(s: &Standing) -> Option<RestrictionReason> {
    if s.ignored_with_reason >= 5 {
        Some(RestrictionReason::IgnoredAsUnknown)
    } else if s.decided >= 50 && u64::from(s.accepted) * 5 < u64::from(s.decided) {
        Some(RestrictionReason::LowAcceptance)
    } else if s.withdrawals_to_one_person >= RESENDS {
        Some(RestrictionReason::RepeatedResends)
    } else {
        None
    }
}

/// Has a sender who gave `wrong_emails` wrong addresses in the window been guessing? Then an
/// address they give no longer counts, right or wrong.
pub fn guessing(wrong_emails: u32) -> bool {
    wrong_emails >= WRONG_EMAILS
}

/// The level and length of a sender's next automatic restriction, given how many they had.
pub fn next_restriction(previous: u32) -> (u8, Duration) {
    match previous {
        0 => (1, Duration::from_secs(DAY)),
        1 => (2, Duration::from_secs(7 * DAY)),
        _ => (3, Duration::from_secs(30 * DAY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_ignored_as_unknown_restrict() {
        assert_eq!(
            assess(&Standing {
                ignored_with_reason: 4,
                ..Default::default()
            }),
            None
        );
        assert_eq!(
            assess(&Standing {
                ignored_with_reason: 5,
                ..Default::default()
            }),
            Some(RestrictionReason::IgnoredAsUnknown)
        );
    }

    #[test]
    fn a_low_acceptance_rate_needs_fifty_decisions() {
        let s = |decided, accepted| Standing {
            decided,
            accepted,
            ..Default::default()
        };
        assert_eq!(assess(&s(49, 0)), None);
        assert_eq!(assess(&s(50, 9)), Some(RestrictionReason::LowAcceptance));
        assert_eq!(assess(&s(50, 10)), None, "exactly 20% is not under 20%");
    }

    #[test]
    fn three_withdraw_and_resend_cycles_restrict() {
        let s = Standing {
            withdrawals_to_one_person: 3,
            ..Default::default()
        };
        assert_eq!(assess(&s), Some(RestrictionReason::RepeatedResends));
    }

    #[test]
    fn restrictions_escalate_from_a_day_to_a_week_to_a_month() {
        assert_eq!(next_restriction(0), (1, Duration::from_secs(DAY)));
        assert_eq!(next_restriction(1), (2, Duration::from_secs(7 * DAY)));
        assert_eq!(next_restriction(2), (3, Duration::from_secs(30 * DAY)));
        assert_eq!(next_restriction(9), (3, Duration::from_secs(30 * DAY)));
        for r in [
            RestrictionReason::IgnoredAsUnknown,
            RestrictionReason::LowAcceptance,
            RestrictionReason::RepeatedResends,
            RestrictionReason::WrongEmails,
            RestrictionReason::Moderation,
        ] {
            assert_eq!(RestrictionReason::parse(r.as_str()), Some(r));
        }
    }
}
