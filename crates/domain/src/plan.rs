//! Plans: everything a write changes, decided from the facts a store read.
//!
//! The "decider" shape: a store reads one facts value inside its transaction (with the rows it
//! concerns locked), hands it to a `plan_*` function ([`plan_send`] and [`plan_act`] in
//! `invitations`, the account, moderation and sweep plans in their modules) with the command, and
//! carries out the returned [`Plan`] effect by effect, in order. Every consequence of a rule — the
//! state change, the pair's bar and cooldown, the pending count, the spam report, the standing
//! review and the restriction it leads to, who is told on which channel, the outbox events, the
//! reminder date — is decided here, once, with its tests beside it. The stores only translate
//! effects into their SQL; neither decides anything.

use crate::standing::{self, RestrictionReason, Standing};
use crate::{
    Channels, EmailCadence, IgnoreReason, InvitationId, InvitationState, MemberId,
    NotificationKind, NotificationPrefs, Timestamp, WithdrawalNotice,
};
pub use accounts::{
    plan_block, plan_close, plan_disconnect, plan_password, plan_sign_out, plan_status,
    AccountStatus, BlockFacts, CloseFacts, PasswordHash, StatusFacts,
};
pub use invitations::{
    act_needs_review, plan_act, plan_refused_send, plan_send, send_needs_review, ActFacts, ActPlan,
    ActPolicy, GuessFacts, InvitationFacts, MemberFacts, PairFacts, PendingFacts, SendFacts,
    SendInvitation, SendPlan, SendPolicy,
};
pub use invitations::{plan_withdraw_all, Withdrawing};
pub use moderation::{
    plan_lift_restriction, plan_moderator_restriction, plan_resolve_report, LiftFacts, ReportFacts,
    Resolution, RestrictFacts,
};
pub use sweeps::{
    next_reminder, plan_expiry, plan_reminders, plan_restrictions_ended, senders_of, DueReminder,
    EndedRestriction, Expiring, ExpiryFacts, SenderFacts,
};

/// Which invitation an effect concerns: one that exists, or the one this plan creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationRef {
    Existing(InvitationId),
    New,
}

/// A member told about something: an in-app notification and mail, on the channels decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub member: MemberId,
    pub kind: NotificationKind,
    pub actor: Option<MemberId>,
    pub invitation: Option<InvitationRef>,
    pub channels: Channels,
}

impl Notice {
    /// When its mail is due (meaningful when `channels.email` is not off).
    pub fn mail_due(&self, at: Timestamp) -> Timestamp {
        Timestamp(at.0 + self.channels.email.delay_ms())
    }
}

/// One outbox event: what live streams and webhooks are delivered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPlan {
    pub kind: &'static str,
    pub invitation: Option<InvitationRef>,
    pub a: Option<MemberId>,
    pub b: Option<MemberId>,
    /// The event's JSON payload, when it has one.
    pub data: Option<String>,
}

impl EventPlan {
    fn invitation(kind: &'static str, id: InvitationRef, sender: MemberId, to: MemberId) -> Self {
        EventPlan {
            kind,
            invitation: Some(id),
            a: Some(sender),
            b: Some(to),
            data: None,
        }
    }

    fn members(kind: &'static str, a: MemberId, b: Option<MemberId>) -> Self {
        EventPlan {
            kind,
            invitation: None,
            a: Some(a),
            b,
            data: None,
        }
    }
}

/// One change a store makes. Effects are carried out in the order of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A new pending invitation: the plan's [`InvitationRef::New`].
    CreateInvitation {
        sender: MemberId,
        recipient: MemberId,
        note: Option<String>,
        next_reminder_at: Option<Timestamp>,
    },
    /// A pending invitation moves to `state`; no reminder follows it any more.
    Decide {
        invitation: InvitationId,
        state: InvitationState,
        reason: Option<IgnoreReason>,
    },
    /// The member's count of pending sent invitations changes by `delta`.
    PendingSent { member: MemberId, delta: i64 },
    /// `sender` may invite `recipient` again: the bar an ignore with a reason set is lifted.
    LiftBar {
        sender: MemberId,
        recipient: MemberId,
    },
    /// `sender` may not invite `recipient` until `recipient` invites them.
    Bar {
        sender: MemberId,
        recipient: MemberId,
    },
    /// `sender` withdrew an invitation to `recipient`: a cooldown until then, and one more
    /// withdrawal counted for the pair.
    Withdrawal {
        sender: MemberId,
        recipient: MemberId,
        cooldown_until: Timestamp,
    },
    /// The two are connected, both ways, counted on both and reported to the graph index.
    Connect { a: MemberId, b: MemberId },
    /// A spam report.
    Report {
        invitation: InvitationId,
        reporter: MemberId,
        reported: MemberId,
    },
    /// The invitation is gone for its recipient: its "received" and reminder notifications and
    /// any mail about it not yet sent are removed.
    ForgetForRecipient(InvitationId),
    /// `sender` gave a wrong email address for `recipient` and was refused for it.
    WrongEmail {
        sender: MemberId,
        recipient: MemberId,
    },
    /// The member may not send invitations until `until`.
    Restrict {
        member: MemberId,
        level: u8,
        reason: RestrictionReason,
        source: &'static str,
        until: Timestamp,
    },
    /// The event is appended, after the notice (if any) is written; the event points at the
    /// notification when the notice created one.
    Emit {
        notice: Option<Notice>,
        event: EventPlan,
    },
    /// Every restriction of the member in force is lifted (its end is not told again).
    LiftRestrictions { member: MemberId },
    /// A spam report is closed with the moderator's resolution.
    ResolveReport {
        report: i64,
        resolution: Resolution,
        by: MemberId,
    },
    /// The member's account moves to `status`.
    SetStatus {
        member: MemberId,
        status: AccountStatus,
    },
    /// Every sign-in token of the member stops working.
    RevokeTokens { member: MemberId },
    /// The member's connections to `others` are shown in (or hidden from) the graph index; the
    /// connections themselves stay.
    GraphVisibility {
        member: MemberId,
        others: Vec<MemberId>,
        shown: bool,
    },
    /// The two are no longer connected: both ways, uncounted on both, and gone from the graph.
    Disconnect { a: MemberId, b: MemberId },
    /// `blocker` blocks `blocked`.
    Block {
        blocker: MemberId,
        blocked: MemberId,
    },
    /// A closed account's personal data is erased: its blocks, its replayable answers, its
    /// profile, email and password, and the notes it wrote; it reads as a former member.
    EraseAccount { member: MemberId },
    /// A reminder went out (`sent`) or the invitation is off the schedule; the next one is due
    /// then (none: no more reminders).
    NextReminder {
        invitation: InvitationId,
        sent: bool,
        next: Option<Timestamp>,
    },
    /// The member was told (or need not be) that this restriction ended.
    RestrictionEndNoticed { restriction: i64 },
    /// The member signs in with a new password from now on.
    SetPassword {
        member: MemberId,
        hash: PasswordHash,
    },
    /// One sign-in token (by its hash) stops working.
    DeleteToken { hash: [u8; 32] },
}

/// Everything one write changes, at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub at: Timestamp,
    pub effects: Vec<Effect>,
}

impl Plan {
    fn new(at: Timestamp) -> Plan {
        Plan {
            at,
            effects: Vec::new(),
        }
    }

    fn push(&mut self, e: Effect) {
        self.effects.push(e);
    }

    /// The kinds of the events the plan appends, in order.
    pub fn event_kinds(&self) -> Vec<&'static str> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Emit { event, .. } => Some(event.kind),
                _ => None,
            })
            .collect()
    }

    /// Does the plan append outbox events?
    pub fn emits(&self) -> bool {
        self.effects
            .iter()
            .any(|e| matches!(e, Effect::Emit { .. }))
    }
}

/// What a standing review reads about a sender, beyond their restriction in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReviewFacts {
    /// Their invitations created in the last [`standing::WINDOW`], as counted so far (before this
    /// write); `withdrawals_to_one_person` is the count of withdrawn invitations to the recipient
    /// of this send decided in the window.
    pub standing: Standing,
    /// Restrictions they had before, whatever became of them.
    pub restrictions_before: u32,
}

/// An invitation leaving `pending` for anything but acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedInvitation {
    pub id: InvitationId,
    pub sender: MemberId,
    pub recipient: MemberId,
}

impl ClosedInvitation {
    /// What follows: the state change, the sender's pending count, its traces gone from the
    /// recipient when it is gone for them, the withdrawal notice policy (`recipient_prefs` is
    /// `None` when nothing may reach the recipient from the sender), and the event.
    pub fn plan(
        self,
        plan: &mut Plan,
        state: InvitationState,
        reason: Option<IgnoreReason>,
        withdrawal_notice: WithdrawalNotice,
        recipient_prefs: Option<&NotificationPrefs>,
    ) {
        let kind = match state {
            InvitationState::Ignored => "invitation.ignored",
            InvitationState::Withdrawn => "invitation.withdrawn",
            InvitationState::Expired => "invitation.expired",
            InvitationState::Cancelled => "invitation.cancelled",
            InvitationState::Pending | InvitationState::Accepted => return,
        };
        plan.push(Effect::Decide {
            invitation: self.id,
            state,
            reason,
        });
        plan.push(Effect::PendingSent {
            member: self.sender,
            delta: -1,
        });
        if state != InvitationState::Ignored {
            plan.push(Effect::ForgetForRecipient(self.id));
        }
        let id = InvitationRef::Existing(self.id);
        let notice = match (state, recipient_prefs) {
            (InvitationState::Withdrawn, Some(prefs)) => {
                withdrawal_notice.channels(prefs).and_then(|channels| {
                    on(
                        channels,
                        self.recipient,
                        NotificationKind::InvitationWithdrawn,
                        Some(self.sender),
                        Some(id),
                    )
                })
            }
            _ => None,
        };
        plan.push(Effect::Emit {
            notice,
            event: EventPlan::invitation(kind, id, self.sender, self.recipient),
        });
    }
}

/// An invitation accepted: its state, its sender's pending count, and the sender told
/// (`sender_prefs` is `None` when nothing may reach them from the recipient).
fn accepted(
    plan: &mut Plan,
    id: InvitationId,
    sender: MemberId,
    recipient: MemberId,
    sender_prefs: Option<&NotificationPrefs>,
) {
    plan.push(Effect::Decide {
        invitation: id,
        state: InvitationState::Accepted,
        reason: None,
    });
    plan.push(Effect::PendingSent {
        member: sender,
        delta: -1,
    });
    let id = InvitationRef::Existing(id);
    let kind = NotificationKind::InvitationAccepted;
    plan.push(Effect::Emit {
        notice: sender_prefs.and_then(|p| notice(sender, p, kind, Some(recipient), Some(id))),
        event: EventPlan::invitation("invitation.accepted", id, sender, recipient),
    });
}

/// Two members connected, and the event.
fn connected(plan: &mut Plan, a: MemberId, b: MemberId) {
    plan.push(Effect::Connect { a, b });
    plan.push(Effect::Emit {
        notice: None,
        event: EventPlan::members("connection.created", a, Some(b)),
    });
}

/// `member` told about `kind` on the channels their preferences choose; `None` when they chose
/// none.
fn notice(
    member: MemberId,
    prefs: &NotificationPrefs,
    kind: NotificationKind,
    actor: Option<MemberId>,
    invitation: Option<InvitationRef>,
) -> Option<Notice> {
    on(prefs.get(kind), member, kind, actor, invitation)
}

fn on(
    channels: Channels,
    member: MemberId,
    kind: NotificationKind,
    actor: Option<MemberId>,
    invitation: Option<InvitationRef>,
) -> Option<Notice> {
    (channels.in_app || channels.email != EmailCadence::Off).then_some(Notice {
        member,
        kind,
        actor,
        invitation,
        channels,
    })
}

/// Re-evaluates a sender's standing after something that can only make it worse: a restriction
/// at the next level, and the sender told, unless one is already in force.
fn review_standing(
    plan: &mut Plan,
    (member, prefs): (MemberId, &NotificationPrefs),
    review: ReviewFacts,
    restricted_until: Option<Timestamp>,
) {
    if restricted_until.is_some_and(|u| u > plan.at) {
        return;
    }
    let Some(reason) = standing::assess(&review.standing) else {
        return;
    };
    restrict(plan, member, prefs, reason, review.restrictions_before);
}

/// Restricts `member` for `reason` at the level that follows `restrictions_before`, and tells them.
pub fn restrict(
    plan: &mut Plan,
    member: MemberId,
    prefs: &NotificationPrefs,
    reason: RestrictionReason,
    restrictions_before: u32,
) {
    let (level, length) = standing::next_restriction(restrictions_before);
    let until = plan.at.plus(length);
    restriction(plan, (member, prefs), level, reason, until);
}

/// A restriction of `member` at `level` until `until`, the member told, and `member.restricted`.
fn restriction(
    plan: &mut Plan,
    (member, prefs): (MemberId, &NotificationPrefs),
    level: u8,
    reason: RestrictionReason,
    until: Timestamp,
) {
    let source = if reason == RestrictionReason::Moderation {
        "moderator"
    } else {
        "automatic"
    };
    plan.push(Effect::Restrict {
        member,
        level,
        reason,
        source,
        until,
    });
    let data = format!(
        r#"{{"member_id":"{}","reason":"{}","until":{}}}"#,
        member.0,
        reason.as_str(),
        until.0
    );
    plan.push(Effect::Emit {
        notice: notice(
            member,
            prefs,
            NotificationKind::RestrictionApplied,
            None,
            None,
        ),
        event: EventPlan {
            data: Some(data),
            ..EventPlan::members("member.restricted", member, None)
        },
    });
}

mod accounts;
mod invitations;
mod moderation;
mod sweeps;
#[cfg(test)]
mod tests;
