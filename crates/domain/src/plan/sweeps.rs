//! Sweep plans: what the background jobs change, one batch at a time — pending invitations
//! expired (and their senders' standing reviewed), reminders sent (and the next one dated), and
//! members told that a restriction ran out.

use super::moderation::restriction_ended;
use super::{
    notice, review_standing, ClosedInvitation, Effect, EventPlan, InvitationRef, Plan, ReviewFacts,
};
use crate::standing;
use crate::{
    InvitationId, InvitationState, MemberId, NotificationKind, NotificationPrefs, Timestamp,
    WithdrawalNotice,
};
use std::time::Duration;

/// A pending invitation the expiry sweep found, with when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiring {
    pub invitation: ClosedInvitation,
    pub created_at: Timestamp,
}

/// What a standing review reads about one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderFacts {
    pub member: MemberId,
    pub prefs: NotificationPrefs,
    /// Their restriction in force ends then.
    pub restricted_until: Option<Timestamp>,
    /// As counted before this sweep.
    pub review: ReviewFacts,
}

/// What an expiry sweep read: the batch of invitations still pending, and each of their senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryFacts {
    pub expiring: Vec<Expiring>,
    pub senders: Vec<SenderFacts>,
}

/// The senders of a batch, each once, in id order (the order their standing is reviewed in, and
/// the order a store locks them in).
pub fn senders_of(expiring: &[Expiring]) -> Vec<MemberId> {
    let mut senders: Vec<MemberId> = expiring.iter().map(|e| e.invitation.sender).collect();
    senders.sort_unstable();
    senders.dedup();
    senders
}

/// Expires each invitation of the batch silently for both sides, then reviews each sender's
/// standing: an expiry counts against their acceptance rate.
pub fn plan_expiry(f: &ExpiryFacts, at: Timestamp) -> Plan {
    let mut plan = Plan::new(at);
    for e in &f.expiring {
        let state = InvitationState::Expired;
        e.invitation
            .plan(&mut plan, state, None, WithdrawalNotice::Silent, None);
    }
    let mut senders: Vec<&SenderFacts> = f.senders.iter().collect();
    senders.sort_unstable_by_key(|s| s.member);
    for s in senders {
        let mut review = s.review;
        // The facts were read before this sweep: count its expiries in the window as decided.
        review.standing.decided += f
            .expiring
            .iter()
            .filter(|e| e.invitation.sender == s.member)
            .filter(|e| e.created_at > at.minus(standing::WINDOW))
            .count() as u32;
        review.standing.withdrawals_to_one_person = 0;
        review_standing(&mut plan, (s.member, &s.prefs), review, s.restricted_until);
    }
    plan
}

/// When the reminder after the `sent`-th one is due, for an invitation sent at `created_at`:
/// the next offset from sending, if there is one.
pub fn next_reminder(offsets: &[Duration], sent: u32, created_at: Timestamp) -> Option<Timestamp> {
    let next = usize::try_from(sent).ok()?.checked_add(1)?;
    offsets.get(next).map(|d| created_at.plus(*d))
}

/// An invitation whose next reminder is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    pub id: InvitationId,
    pub sender: MemberId,
    pub recipient: MemberId,
    /// Reminders sent so far.
    pub sent: u32,
    pub created_at: Timestamp,
    /// Still pending (a reminder is never sent for anything else).
    pub pending: bool,
    /// Either blocked the other: nothing reaches the recipient from the sender.
    pub blocked: bool,
    pub recipient_prefs: NotificationPrefs,
}

/// Reminds the recipient of each due pending invitation (on the channels they chose, unless the
/// two blocked each other) and dates the next reminder from `offsets`; one no longer pending is
/// only taken off the schedule. Returns the plan and how many reminders go out.
pub fn plan_reminders(due: &[DueReminder], offsets: &[Duration], at: Timestamp) -> (Plan, u64) {
    let mut plan = Plan::new(at);
    let mut sent = 0;
    for d in due {
        let next = next_reminder(offsets, d.sent, d.created_at).filter(|_| d.pending);
        plan.push(Effect::NextReminder {
            invitation: d.id,
            sent: d.pending,
            next,
        });
        if !d.pending {
            continue;
        }
        let id = InvitationRef::Existing(d.id);
        let kind = NotificationKind::InvitationReminder;
        let prefs = Some(&d.recipient_prefs).filter(|_| !d.blocked);
        plan.push(Effect::Emit {
            notice: prefs.and_then(|p| notice(d.recipient, p, kind, Some(d.sender), Some(id))),
            event: EventPlan::invitation("invitation.reminder", id, d.sender, d.recipient),
        });
        sent += 1;
    }
    (plan, sent)
}

/// A restriction that ran out and whose end nobody was told of yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedRestriction {
    pub restriction: i64,
    pub member: MemberId,
    /// Another restriction of theirs is in force.
    pub still_restricted: bool,
    pub prefs: NotificationPrefs,
}

/// Notes each ended restriction as told, and tells its member, unless another one is in force.
/// Returns the plan and how many were told.
pub fn plan_restrictions_ended(ended: &[EndedRestriction], at: Timestamp) -> (Plan, u64) {
    let mut plan = Plan::new(at);
    let mut told = 0;
    for e in ended {
        plan.push(Effect::RestrictionEndNoticed {
            restriction: e.restriction,
        });
        if !e.still_restricted {
            restriction_ended(&mut plan, e.member, &e.prefs);
            told += 1;
        }
    }
    (plan, told)
}

#[cfg(test)]
mod tests;
