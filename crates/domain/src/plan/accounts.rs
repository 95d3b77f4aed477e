//! Account and network plans: a member deactivated, reactivated, suspended or closed, a block,
//! a connection removed. What ends with them (pending invitations cancelled silently,
//! connections hidden or removed, sign-in tokens revoked) is decided here once.

use super::{ClosedInvitation, Effect, EventPlan, Plan};
pub use crate::member::AccountStatus;
use crate::{InvitationState, MemberId, RuleError, Timestamp, WithdrawalNotice};

/// What a status change reads about the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFacts {
    pub member: MemberId,
    /// `None`: there is no such member.
    pub status: Option<AccountStatus>,
    /// The members they are connected to who are active (the ones the graph index shows).
    pub active_connections: Vec<MemberId>,
    /// Their pending invitations, sent or received.
    pub pending: Vec<ClosedInvitation>,
}

/// Moves a member to `status`: shown again in the graph when active; otherwise every pending
/// invitation of theirs cancelled silently, their tokens revoked, and (when they were active)
/// their connections hidden. Nothing changes when they are in `status` already; a closed account
/// is not found.
pub fn plan_status(
    status: AccountStatus,
    f: &StatusFacts,
    at: Timestamp,
) -> Result<Plan, RuleError> {
    let mut plan = Plan::new(at);
    plan_status_into(&mut plan, status, f)?;
    Ok(plan)
}

/// [`plan_status`] as part of another plan (a report resolved by suspending).
pub(super) fn plan_status_into(
    plan: &mut Plan,
    status: AccountStatus,
    f: &StatusFacts,
) -> Result<(), RuleError> {
    // A closed account is not found; closing is its own plan (`plan_close`), never a move here.
    let before = f
        .status
        .filter(|s| !s.is_closed())
        .ok_or(RuleError::NotFound)?;
    if status.is_closed() {
        return Err(RuleError::validation(
            "status",
            "an account is closed by closing it, not by a status change",
        ));
    }
    if before == status {
        return Ok(());
    }
    let member = f.member;
    plan.push(Effect::SetStatus { member, status });
    if status == AccountStatus::Active {
        plan.push(Effect::GraphVisibility {
            member,
            others: f.active_connections.clone(),
            shown: true,
        });
        return Ok(());
    }
    cancel_all(plan, &f.pending);
    plan.push(Effect::RevokeTokens { member });
    if before == AccountStatus::Active {
        plan.push(Effect::GraphVisibility {
            member,
            others: f.active_connections.clone(),
            shown: false,
        });
    }
    Ok(())
}

/// Each invitation cancelled by the system: silently, for both sides.
fn cancel_all(plan: &mut Plan, pending: &[ClosedInvitation]) {
    for inv in pending {
        let state = InvitationState::Cancelled;
        inv.plan(plan, state, None, WithdrawalNotice::Silent, None);
    }
}

/// The connection between `a` and `b` removed, and `connection.removed`.
fn disconnected(plan: &mut Plan, a: MemberId, b: MemberId) {
    plan.push(Effect::Disconnect { a, b });
    plan.push(Effect::Emit {
        notice: None,
        event: EventPlan::members("connection.removed", a, Some(b)),
    });
}

/// What closing an account reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFacts {
    /// The account exists and is not closed yet.
    pub open: bool,
    /// Their pending invitations, sent or received.
    pub pending: Vec<ClosedInvitation>,
    /// Everyone they are connected to.
    pub connections: Vec<MemberId>,
}

/// Closes `member`'s account: every pending invitation cancelled silently, every connection
/// removed (each with its event), every token revoked, and the account erased.
pub fn plan_close(member: MemberId, f: &CloseFacts, at: Timestamp) -> Result<Plan, RuleError> {
    if !f.open {
        return Err(RuleError::NotFound);
    }
    let mut plan = Plan::new(at);
    cancel_all(&mut plan, &f.pending);
    for &other in &f.connections {
        disconnected(&mut plan, member, other);
    }
    plan.push(Effect::RevokeTokens { member });
    plan.push(Effect::EraseAccount { member });
    Ok(plan)
}

/// What a block reads about the two members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFacts {
    /// The pending invitation between them, whoever sent it.
    pub pending: Option<ClosedInvitation>,
    pub connected: bool,
}

/// `blocker` blocks `blocked`: the pending invitation between them is cancelled silently and
/// they are disconnected.
pub fn plan_block(blocker: MemberId, blocked: MemberId, f: &BlockFacts, at: Timestamp) -> Plan {
    let mut plan = Plan::new(at);
    plan.push(Effect::Block { blocker, blocked });
    cancel_all(&mut plan, f.pending.as_slice());
    if f.connected {
        disconnected(&mut plan, blocker, blocked);
    }
    plan
}

/// `a` removes their connection to `b`, silently (only the event); `None` when they are not
/// connected.
pub fn plan_disconnect(a: MemberId, b: MemberId, connected: bool, at: Timestamp) -> Option<Plan> {
    connected.then(|| {
        let mut plan = Plan::new(at);
        disconnected(&mut plan, a, b);
        plan
    })
}

/// A stored password hash: kept out of logs (its `Debug` shows nothing of it).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// `member` sets a new password: every sign-in token of theirs stops working, so every session
/// signs in again with the new one.
pub fn plan_password(member: MemberId, hash: PasswordHash, at: Timestamp) -> Plan {
    let mut plan = Plan::new(at);
    plan.push(Effect::SetPassword { member, hash });
    plan.push(Effect::RevokeTokens { member });
    plan
}

/// A member signs out: the token (by its hash) stops working, and no other.
pub fn plan_sign_out(token: [u8; 32], at: Timestamp) -> Plan {
    let mut plan = Plan::new(at);
    plan.push(Effect::DeleteToken { hash: token });
    plan
}

#[cfg(test)]
mod tests;
