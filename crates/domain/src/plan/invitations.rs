//! Invitation plans: a send (a new invitation, or the recipient's accepted when both invite each
//! other) and an action on an invitation (accept, ignore, withdraw), with the facts each reads.

use super::{
    accepted, connected, notice, restrict, review_standing, ClosedInvitation, Effect, EventPlan,
    InvitationRef, Plan, ReviewFacts,
};
use crate::standing::{self, RestrictionReason};
use crate::{
    decide_send, Action, Email, IgnoreReason, InvitationId, InvitationState, InvitationsFrom,
    MemberId, Note, NotificationKind, NotificationPrefs, Party, RuleError, SendContext,
    SendDecision, SendLimits, Timestamp, WithdrawalNotice,
};
use std::time::Duration;

/// The configured limits a send is checked against.
#[derive(Debug, Clone, Copy)]
pub struct SendPolicy {
    pub weekly_free: u32,
    pub weekly_premium: u32,
    pub outstanding: u32,
    pub max_connections: u32,
    /// How long after sending the recipient is first reminded (none: no reminders).
    pub first_reminder: Option<Duration>,
}

impl SendPolicy {
    /// The weekly limit of a sender of this tier.
    pub fn weekly_limit(&self, premium: bool) -> u32 {
        if premium {
            self.weekly_premium
        } else {
            self.weekly_free
        }
    }
}

/// What accepting, ignoring and withdrawing are checked against or set.
#[derive(Debug, Clone, Copy)]
pub struct ActPolicy {
    pub max_connections: u32,
    pub reinvite_cooldown: Duration,
    pub withdrawal_notice: WithdrawalNotice,
}

/// A member asks to invite another.
#[derive(Debug, Clone)]
pub struct SendInvitation {
    pub sender: MemberId,
    pub recipient: MemberId,
    pub note: Option<Note>,
    /// The recipient's email as the sender typed it, for members who require it.
    pub recipient_email: Option<Email>,
    /// Sender and recipient share a connection (from the graph index).
    pub shares_connection: bool,
    pub policy: SendPolicy,
    pub at: Timestamp,
}

impl SendInvitation {
    /// The weekly limits whose n-th newest send a store reads ([`SendFacts::nth_newest`]), free
    /// then premium.
    pub fn weekly_limits(&self) -> [u32; 2] {
        [self.policy.weekly_free, self.policy.weekly_premium]
    }
}

/// What the rules read about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFacts {
    pub active: bool,
    pub email: String,
    pub premium: bool,
    pub invitations_from: InvitationsFrom,
    pub pending_sent: u32,
    pub connections: u32,
    pub prefs: NotificationPrefs,
}

/// A pending invitation between two members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingFacts {
    pub id: InvitationId,
    pub sender: MemberId,
}

/// The rules between a sender and a recipient (`pair_rules`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairFacts {
    /// The recipient ignored an invitation from the sender with a reason.
    pub barred: bool,
    pub cooldown_until: Option<Timestamp>,
    /// Withdrawals from the sender to the recipient, ever.
    pub withdrawals: u32,
}

/// Does a send with this many withdrawals behind it need [`ReviewFacts`]? (A re-send after
/// several withdrawals may restrict the sender.)
pub fn send_needs_review(pair_withdrawals: u32) -> bool {
    pair_withdrawals >= standing::RESENDS
}

/// Does this action need [`ReviewFacts`]? (An ignore counts against the sender's standing.)
pub fn act_needs_review(action: Action) -> bool {
    matches!(action, Action::Ignore(_))
}

/// What a store read, inside the write transaction, for a send.
#[derive(Debug, Clone)]
pub struct SendFacts {
    pub sender: MemberFacts,
    /// `None` when there is no such member (or the sender invites themself).
    pub recipient: Option<MemberFacts>,
    /// Either has blocked the other.
    pub blocked: bool,
    pub connected: bool,
    /// The pending invitation between them, whichever way it goes.
    pub pending: Option<PendingFacts>,
    /// Sender towards recipient.
    pub pair: PairFacts,
    /// The recipient is barred from inviting the sender (a send lifts it).
    pub recipient_barred: bool,
    /// When the sender sent their n-th newest invitation, for n = each of
    /// [`SendInvitation::weekly_limits`].
    pub nth_newest: [Option<Timestamp>; 2],
    /// The sender's restriction in force ends then.
    pub restricted_until: Option<Timestamp>,
    /// Read when [`send_needs_review`].
    pub review: Option<ReviewFacts>,
    /// Read when the sender gave an email address ([`SendInvitation::recipient_email`]).
    pub guesses: Option<GuessFacts>,
}

/// What a send with an email address reads about the sender's past addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuessFacts {
    /// Wrong addresses they gave in the last [`standing::WINDOW`], before this send.
    pub wrong_emails: u32,
    /// Restrictions they had before, whatever became of them.
    pub restrictions_before: u32,
}

/// What a send does: a new invitation, or the recipient's invitation accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPlan {
    pub decision: SendDecision,
    pub plan: Plan,
}

/// Decides a send and everything that follows it.
pub fn plan_send(cmd: &SendInvitation, f: &SendFacts) -> Result<SendPlan, RuleError> {
    let at = cmd.at;
    let is_self = cmd.sender == cmd.recipient;
    let recipient = f.recipient.as_ref().filter(|_| !is_self);
    let visible = recipient.is_some_and(|r| r.active) && !f.blocked;
    let pending = f.pending.filter(|_| visible);
    let weekly = cmd.policy.weekly_limit(f.sender.premium);
    let nth = f.nth_newest[usize::from(f.sender.premium)];
    // The weekly limit is reached exactly when the limit-th newest send is inside the window.
    let full_since = nth.filter(|t| *t > at.minus(crate::send::WEEK));
    // A sender who has been guessing addresses is not let through by one any more.
    let trusted = !f
        .guesses
        .is_some_and(|g| standing::guessing(g.wrong_emails));
    let email_matches = trusted && email_is_right(cmd, recipient);
    let ctx = SendContext {
        now: at,
        is_self,
        recipient_visible: visible,
        connected: visible && f.connected,
        pending_sent: pending.is_some_and(|p| p.sender == cmd.sender),
        pending_received: pending.filter(|p| p.sender == cmd.recipient).map(|p| p.id),
        barred: f.pair.barred,
        cooldown_until: f.pair.cooldown_until,
        recipient_accepts: recipient.map_or(InvitationsFrom::default(), |r| r.invitations_from),
        shares_connection: cmd.shares_connection,
        email_supplied: cmd.recipient_email.is_some(),
        email_matches,
        restricted_until: f.restricted_until,
        sender_connections: f.sender.connections,
        recipient_connections: recipient.map_or(0, |r| r.connections),
        outstanding: f.sender.pending_sent,
        sent_this_week: if full_since.is_some() { weekly } else { 0 },
        oldest_this_week: full_since,
        limits: SendLimits {
            weekly,
            outstanding: cmd.policy.outstanding,
            max_connections: cmd.policy.max_connections,
        },
    };
    let decision = decide_send(&ctx)?;
    // `decide_send` refuses an invisible recipient, so there is one from here on.
    let recipient = recipient.ok_or(RuleError::NotFound)?;
    let mut plan = Plan::new(at);
    // Inviting someone lifts the bar they may be under towards you ("unless the recipient
    // invites first").
    if f.recipient_barred {
        plan.push(Effect::LiftBar {
            sender: cmd.recipient,
            recipient: cmd.sender,
        });
    }
    match decision {
        SendDecision::AcceptReverse(theirs) => {
            let prefs = Some(&recipient.prefs);
            accepted(&mut plan, theirs, cmd.recipient, cmd.sender, prefs);
            connected(&mut plan, cmd.sender, cmd.recipient);
        }
        SendDecision::Create => {
            plan.push(Effect::CreateInvitation {
                sender: cmd.sender,
                recipient: cmd.recipient,
                note: cmd.note.clone().map(Note::into_string),
                next_reminder_at: cmd.policy.first_reminder.map(|d| at.plus(d)),
            });
            plan.push(Effect::PendingSent {
                member: cmd.sender,
                delta: 1,
            });
            if let Some(review) = f.review.filter(|_| send_needs_review(f.pair.withdrawals)) {
                let sender = (cmd.sender, &f.sender.prefs);
                review_standing(&mut plan, sender, review, f.restricted_until);
            }
            let notice = notice(
                cmd.recipient,
                &recipient.prefs,
                NotificationKind::InvitationReceived,
                Some(cmd.sender),
                Some(InvitationRef::New),
            );
            plan.push(Effect::Emit {
                notice,
                event: EventPlan::invitation(
                    "invitation.sent",
                    InvitationRef::New,
                    cmd.sender,
                    cmd.recipient,
                ),
            });
        }
    }
    Ok(SendPlan { decision, plan })
}

fn email_is_right(cmd: &SendInvitation, recipient: Option<&MemberFacts>) -> bool {
    matches!((&cmd.recipient_email, recipient), (Some(e), Some(r)) if e.as_str() == r.email)
}

/// What a refused send still changes: when the address the sender gave was wrong and the answer
/// turned on it (`email_required`, or `restricted` that a right address would have got past), the
/// wrong address is counted against the sender, and the one that makes them a guesser restricts
/// them ([`standing::WRONG_EMAILS`]). `None` when the refusal changes nothing.
pub fn plan_refused_send(cmd: &SendInvitation, f: &SendFacts, refused: &RuleError) -> Option<Plan> {
    if !matches!(
        refused,
        RuleError::EmailRequired | RuleError::Restricted { .. }
    ) {
        return None;
    }
    let recipient = f.recipient.as_ref().filter(|_| cmd.sender != cmd.recipient);
    let guesses = f.guesses?;
    if cmd.recipient_email.is_none() || email_is_right(cmd, recipient) {
        return None;
    }
    let mut plan = Plan::new(cmd.at);
    plan.push(Effect::WrongEmail {
        sender: cmd.sender,
        recipient: cmd.recipient,
    });
    let restricted = f.restricted_until.is_some_and(|u| u > cmd.at);
    if standing::guessing(guesses.wrong_emails + 1) && !restricted {
        restrict(
            &mut plan,
            cmd.sender,
            &f.sender.prefs,
            RestrictionReason::WrongEmails,
            guesses.restrictions_before,
        );
    }
    Some(plan)
}

/// The invitation an action concerns, as the store read it (locked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationFacts {
    pub id: InvitationId,
    pub sender: MemberId,
    pub recipient: MemberId,
    pub state: InvitationState,
    pub created_at: Timestamp,
}

/// What a store read, inside the write transaction, for an accept, ignore or withdrawal.
#[derive(Debug, Clone)]
pub struct ActFacts {
    pub invitation: InvitationFacts,
    pub sender_connections: u32,
    pub recipient_connections: u32,
    /// Either party has blocked the other.
    pub blocked: bool,
    pub sender_prefs: NotificationPrefs,
    pub recipient_prefs: NotificationPrefs,
    /// The sender's restriction in force ends then.
    pub restricted_until: Option<Timestamp>,
    /// The sender's, read when [`act_needs_review`].
    pub review: Option<ReviewFacts>,
}

/// An accept, ignore or withdrawal decided: the invitation's next state and the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActPlan {
    pub state: InvitationState,
    pub reason: Option<IgnoreReason>,
    pub plan: Plan,
}

/// Decides what `actor`'s `action` on an invitation does, and everything that follows it.
pub fn plan_act(
    actor: MemberId,
    action: Action,
    policy: &ActPolicy,
    f: &ActFacts,
    at: Timestamp,
) -> Result<ActPlan, RuleError> {
    let inv = f.invitation;
    let party = party_of(&inv, actor).ok_or(RuleError::NotFound)?;
    let next = inv.state.next(party, action)?;
    if next == InvitationState::Accepted
        && (f.sender_connections >= policy.max_connections
            || f.recipient_connections >= policy.max_connections)
    {
        return Err(RuleError::ConnectionLimit);
    }
    let reason = match action {
        Action::Ignore(r) => r,
        _ => None,
    };
    let mut plan = Plan::new(at);
    if next == InvitationState::Accepted {
        let prefs = Some(&f.sender_prefs).filter(|_| !f.blocked);
        accepted(&mut plan, inv.id, inv.sender, inv.recipient, prefs);
    } else {
        let closed = ClosedInvitation {
            id: inv.id,
            sender: inv.sender,
            recipient: inv.recipient,
        };
        let prefs = Some(&f.recipient_prefs).filter(|_| !f.blocked);
        closed.plan(&mut plan, next, reason, policy.withdrawal_notice, prefs);
    }
    match next {
        InvitationState::Withdrawn => plan.push(Effect::Withdrawal {
            sender: inv.sender,
            recipient: inv.recipient,
            cooldown_until: at.plus(policy.reinvite_cooldown),
        }),
        InvitationState::Ignored => {
            if reason.is_some() {
                plan.push(Effect::Bar {
                    sender: inv.sender,
                    recipient: inv.recipient,
                });
            }
            if reason == Some(IgnoreReason::Spam) {
                plan.push(Effect::Report {
                    invitation: inv.id,
                    reporter: inv.recipient,
                    reported: inv.sender,
                });
            }
            if let Some(mut review) = f.review {
                // The facts were read before this ignore: count it.
                if inv.created_at > at.minus(standing::WINDOW) {
                    review.standing.decided += 1;
                    review.standing.ignored_with_reason += u32::from(reason.is_some());
                }
                review.standing.withdrawals_to_one_person = 0;
                let sender = (inv.sender, &f.sender_prefs);
                review_standing(&mut plan, sender, review, f.restricted_until);
            }
        }
        InvitationState::Accepted => connected(&mut plan, inv.recipient, inv.sender),
        _ => {}
    }
    Ok(ActPlan {
        state: next,
        reason,
        plan,
    })
}

/// Which party `member` is to the invitation, if any.
fn party_of(inv: &InvitationFacts, member: MemberId) -> Option<Party> {
    if member == inv.sender {
        Some(Party::Sender)
    } else if member == inv.recipient {
        Some(Party::Recipient)
    } else {
        None
    }
}

/// One of the pending invitations a sender withdraws in bulk, as the store read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawing {
    pub invitation: ClosedInvitation,
    /// Either party has blocked the other: nothing reaches the recipient from the sender.
    pub blocked: bool,
    pub recipient_prefs: NotificationPrefs,
}

/// A sender withdraws all these pending invitations at once: each one an ordinary withdrawal
/// (gone for the recipient, told only as the withdrawal notice policy says, the sender's pending
/// count, the re-invite cooldown and the pair's withdrawal count).
pub fn plan_withdraw_all(withdrawing: &[Withdrawing], policy: &ActPolicy, at: Timestamp) -> Plan {
    let mut plan = Plan::new(at);
    for w in withdrawing {
        let inv = w.invitation;
        let prefs = Some(&w.recipient_prefs).filter(|_| !w.blocked);
        let state = InvitationState::Withdrawn;
        inv.plan(&mut plan, state, None, policy.withdrawal_notice, prefs);
        plan.push(Effect::Withdrawal {
            sender: inv.sender,
            recipient: inv.recipient,
            cooldown_until: at.plus(policy.reinvite_cooldown),
        });
    }
    plan
}
