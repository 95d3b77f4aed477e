//! What a moderator's restriction, its lifting and a report's resolution change.

use super::*;
use crate::plan::ClosedInvitation;
use crate::{InvitationId, InvitationState};
use std::time::Duration;

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const ADA: MemberId = MemberId(1);
const BOB: MemberId = MemberId(2);
const MOD: MemberId = MemberId(9);
const DAY: Duration = Duration::from_secs(86_400);

fn restrict_facts(before: u32) -> RestrictFacts {
    RestrictFacts {
        open: true,
        prefs: NotificationPrefs::default(),
        restrictions_before: before,
    }
}

fn restricted(plan: &Plan) -> Vec<(u8, RestrictionReason, &'static str, Timestamp)> {
    plan.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Restrict {
                level,
                reason,
                source,
                until,
                ..
            } => Some((*level, *reason, *source, *until)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_moderator_restriction_replaces_the_one_in_force_one_level_up_until_the_date_given() {
    let until = NOW.plus(3 * DAY);
    let plan = plan_moderator_restriction(ADA, until, &restrict_facts(1), NOW).unwrap();
    assert_eq!(plan.effects[0], Effect::LiftRestrictions { member: ADA });
    let moderation = RestrictionReason::Moderation;
    assert_eq!(restricted(&plan), vec![(2, moderation, "moderator", until)]);
    assert_eq!(plan.event_kinds(), vec!["member.restricted"]);
}

#[test]
fn a_moderator_restriction_is_level_three_at_most() {
    let until = NOW.plus(DAY);
    let plan = plan_moderator_restriction(ADA, until, &restrict_facts(7), NOW).unwrap();
    assert_eq!(restricted(&plan)[0].0, 3);
}

#[test]
fn a_moderator_restriction_tells_the_member_with_the_reason_and_the_end() {
    let until = NOW.plus(DAY);
    let plan = plan_moderator_restriction(ADA, until, &restrict_facts(0), NOW).unwrap();
    let Some(Effect::Emit { notice, event }) = plan.effects.last() else {
        panic!("no event")
    };
    assert_eq!(notice.unwrap().kind, NotificationKind::RestrictionApplied);
    let data = format!(
        r#"{{"member_id":"1","reason":"moderation","until":{}}}"#,
        until.0
    );
    assert_eq!(event.data.as_deref(), Some(data.as_str()));
}

#[test]
fn a_closed_or_missing_member_cannot_be_restricted_by_a_moderator() {
    let f = RestrictFacts {
        open: false,
        ..restrict_facts(0)
    };
    assert_eq!(
        plan_moderator_restriction(ADA, NOW.plus(DAY), &f, NOW),
        Err(RuleError::NotFound)
    );
}

#[test]
fn lifting_a_restriction_in_force_tells_the_member() {
    let f = LiftFacts {
        restricted: true,
        prefs: NotificationPrefs::default(),
    };
    let plan = plan_lift_restriction(ADA, &f, NOW).unwrap();
    assert_eq!(plan.effects[0], Effect::LiftRestrictions { member: ADA });
    assert_eq!(plan.event_kinds(), vec!["member.unrestricted"]);
    let Some(Effect::Emit { notice, .. }) = plan.effects.last() else {
        panic!("no event")
    };
    assert_eq!(notice.unwrap().kind, NotificationKind::RestrictionLifted);
}

#[test]
fn lifting_when_no_restriction_is_in_force_does_nothing() {
    let f = LiftFacts {
        restricted: false,
        prefs: NotificationPrefs::default(),
    };
    assert_eq!(plan_lift_restriction(ADA, &f, NOW), None);
}

fn report() -> ReportFacts {
    ReportFacts {
        report: 5,
        open: true,
        reported: ADA,
        prefs: NotificationPrefs::default(),
        restricted_until: None,
        restrictions_before: 0,
        status: None,
    }
}

#[test]
fn dismissing_a_report_only_closes_it() {
    let plan = plan_resolve_report(Resolution::Dismiss, MOD, &report(), NOW).unwrap();
    let resolved = Effect::ResolveReport {
        report: 5,
        resolution: Resolution::Dismiss,
        by: MOD,
    };
    assert_eq!(plan.effects, vec![resolved]);
}

#[test]
fn a_report_resolved_meanwhile_is_not_found() {
    let f = ReportFacts {
        open: false,
        ..report()
    };
    assert_eq!(
        plan_resolve_report(Resolution::Dismiss, MOD, &f, NOW),
        Err(RuleError::NotFound)
    );
}

#[test]
fn restricting_from_a_report_uses_the_next_level_and_its_length() {
    let f = ReportFacts {
        restrictions_before: 1,
        ..report()
    };
    let plan = plan_resolve_report(Resolution::Restrict, MOD, &f, NOW).unwrap();
    let moderation = RestrictionReason::Moderation;
    assert_eq!(
        restricted(&plan),
        vec![(2, moderation, "moderator", NOW.plus(7 * DAY))]
    );
}

#[test]
fn restricting_from_a_report_leaves_a_restriction_in_force_alone() {
    let f = ReportFacts {
        restricted_until: Some(NOW.plus(DAY)),
        ..report()
    };
    let plan = plan_resolve_report(Resolution::Restrict, MOD, &f, NOW).unwrap();
    assert!(restricted(&plan).is_empty());
    assert!(matches!(plan.effects[..], [Effect::ResolveReport { .. }]));
}

#[test]
fn suspending_from_a_report_cancels_the_members_pending_invitations_and_hides_them() {
    let pending = ClosedInvitation {
        id: InvitationId(3),
        sender: ADA,
        recipient: BOB,
    };
    let f = ReportFacts {
        status: Some(StatusFacts {
            member: ADA,
            status: Some(AccountStatus::Active),
            active_connections: vec![BOB],
            pending: vec![pending],
        }),
        ..report()
    };
    let plan = plan_resolve_report(Resolution::Suspend, MOD, &f, NOW).unwrap();
    assert!(plan.effects.contains(&Effect::SetStatus {
        member: ADA,
        status: AccountStatus::Suspended
    }));
    assert!(plan.effects.contains(&Effect::Decide {
        invitation: InvitationId(3),
        state: InvitationState::Cancelled,
        reason: None
    }));
    assert_eq!(plan.event_kinds(), vec!["invitation.cancelled"]);
}

#[test]
fn suspending_a_member_who_is_gone_is_not_found() {
    let plan = plan_resolve_report(Resolution::Suspend, MOD, &report(), NOW);
    assert_eq!(plan, Err(RuleError::NotFound));
}
