//! Moderation plans: a moderator restricts a member or lifts their restriction, and resolves a
//! spam report (dismissed, the reported member restricted, or suspended).

use super::accounts::{plan_status_into, AccountStatus, StatusFacts};
use super::{notice, restrict, restriction, Effect, EventPlan, Plan};
use crate::standing::RestrictionReason;
use crate::{MemberId, NotificationKind, NotificationPrefs, RuleError, Timestamp};

/// What a moderator does with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Dismiss,
    Restrict,
    Suspend,
}

impl Resolution {
    /// The report's status once resolved so.
    pub fn status(self) -> &'static str {
        match self {
            Self::Dismiss => "dismissed",
            Self::Restrict => "restricted",
            Self::Suspend => "suspended",
        }
    }
}

/// What a moderator's restriction reads about the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestrictFacts {
    /// The member has an account (neither missing nor closed).
    pub open: bool,
    pub prefs: NotificationPrefs,
    /// Restrictions they had before, whatever became of them.
    pub restrictions_before: u32,
}

/// A moderator restricts `member` until `until`: whatever restriction is in force is replaced
/// (lifted, its end not told), the new one is one level above the last (at most 3), and the
/// member is told.
pub fn plan_moderator_restriction(
    member: MemberId,
    until: Timestamp,
    f: &RestrictFacts,
    at: Timestamp,
) -> Result<Plan, RuleError> {
    if !f.open {
        return Err(RuleError::NotFound);
    }
    let mut plan = Plan::new(at);
    plan.push(Effect::LiftRestrictions { member });
    let level = u8::try_from(f.restrictions_before.saturating_add(1).min(3)).unwrap_or(3);
    let reason = RestrictionReason::Moderation;
    restriction(&mut plan, (member, &f.prefs), level, reason, until);
    Ok(plan)
}

/// What lifting a member's restriction reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiftFacts {
    /// A restriction of theirs is in force.
    pub restricted: bool,
    pub prefs: NotificationPrefs,
}

/// A moderator lifts `member`'s restrictions in force, and the member is told; `None` when none
/// is in force (nothing to lift).
pub fn plan_lift_restriction(member: MemberId, f: &LiftFacts, at: Timestamp) -> Option<Plan> {
    if !f.restricted {
        return None;
    }
    let mut plan = Plan::new(at);
    plan.push(Effect::LiftRestrictions { member });
    restriction_ended(&mut plan, member, &f.prefs);
    Some(plan)
}

/// A member's restriction ended (by time or lifted): they are told, and `member.unrestricted`.
pub(super) fn restriction_ended(plan: &mut Plan, member: MemberId, prefs: &NotificationPrefs) {
    let kind = NotificationKind::RestrictionLifted;
    plan.push(Effect::Emit {
        notice: notice(member, prefs, kind, None, None),
        event: EventPlan::members("member.unrestricted", member, None),
    });
}

/// What resolving a report reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFacts {
    pub report: i64,
    /// The report is still open (one resolved meanwhile is not found).
    pub open: bool,
    pub reported: MemberId,
    /// The reported member's preferences, restriction in force and past restrictions, for
    /// [`Resolution::Restrict`].
    pub prefs: NotificationPrefs,
    pub restricted_until: Option<Timestamp>,
    pub restrictions_before: u32,
    /// The reported member's account, for [`Resolution::Suspend`] (`None`: no such member).
    pub status: Option<StatusFacts>,
}

/// A moderator resolves a report: it is closed with the resolution, and the reported member is
/// restricted for moderation (unless a restriction is in force already) or suspended.
pub fn plan_resolve_report(
    action: Resolution,
    by: MemberId,
    f: &ReportFacts,
    at: Timestamp,
) -> Result<Plan, RuleError> {
    if !f.open {
        return Err(RuleError::NotFound);
    }
    let mut plan = Plan::new(at);
    plan.push(Effect::ResolveReport {
        report: f.report,
        resolution: action,
        by,
    });
    match action {
        Resolution::Dismiss => {}
        Resolution::Restrict => {
            if f.restricted_until.is_none_or(|u| u <= at) {
                let reason = RestrictionReason::Moderation;
                restrict(
                    &mut plan,
                    f.reported,
                    &f.prefs,
                    reason,
                    f.restrictions_before,
                );
            }
        }
        Resolution::Suspend => {
            let status = f.status.as_ref().ok_or(RuleError::NotFound)?;
            plan_status_into(&mut plan, AccountStatus::Suspended, status)?;
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
