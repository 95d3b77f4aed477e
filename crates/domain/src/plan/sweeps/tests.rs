//! What an expiry sweep, a reminder sweep and the end-of-restriction sweep change.

use super::*;
use crate::standing::{RestrictionReason, Standing};

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const ADA: MemberId = MemberId(1);
const BOB: MemberId = MemberId(2);
const CY: MemberId = MemberId(3);
const DAY: Duration = Duration::from_secs(86_400);

fn expiring(id: i64, sender: MemberId, recipient: MemberId, age: Duration) -> Expiring {
    Expiring {
        invitation: ClosedInvitation {
            id: InvitationId(id),
            sender,
            recipient,
        },
        created_at: NOW.minus(age),
    }
}

fn sender(member: MemberId, standing: Standing) -> SenderFacts {
    SenderFacts {
        member,
        prefs: NotificationPrefs::default(),
        restricted_until: None,
        review: ReviewFacts {
            standing,
            restrictions_before: 0,
        },
    }
}

fn restrictions(plan: &Plan) -> Vec<(MemberId, RestrictionReason)> {
    plan.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Restrict { member, reason, .. } => Some((*member, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn expiry_is_silent_for_both_sides_and_drops_each_senders_pending_count() {
    let f = ExpiryFacts {
        expiring: vec![
            expiring(1, ADA, BOB, 200 * DAY),
            expiring(2, CY, BOB, 200 * DAY),
        ],
        senders: vec![
            sender(ADA, Standing::default()),
            sender(CY, Standing::default()),
        ],
    };
    let plan = plan_expiry(&f, NOW);
    assert_eq!(
        plan.event_kinds(),
        vec!["invitation.expired", "invitation.expired"]
    );
    assert!(!plan.effects.iter().any(|e| matches!(
        e,
        Effect::Emit {
            notice: Some(_),
            ..
        }
    )));
    assert!(plan
        .effects
        .contains(&Effect::ForgetForRecipient(InvitationId(2))));
    assert!(plan.effects.contains(&Effect::PendingSent {
        member: CY,
        delta: -1
    }));
    assert!(restrictions(&plan).is_empty());
}

#[test]
fn an_expiry_inside_the_window_counts_against_the_senders_acceptance_rate() {
    // 49 decided, 9 accepted: the 50th decision, an expiry, tips it under 20%.
    let standing = Standing {
        decided: 49,
        accepted: 9,
        ..Standing::default()
    };
    let f = ExpiryFacts {
        expiring: vec![expiring(1, ADA, BOB, 10 * DAY)],
        senders: vec![sender(ADA, standing)],
    };
    let plan = plan_expiry(&f, NOW);
    assert_eq!(
        restrictions(&plan),
        vec![(ADA, RestrictionReason::LowAcceptance)]
    );
    assert_eq!(
        plan.event_kinds(),
        vec!["invitation.expired", "member.restricted"]
    );
}

#[test]
fn an_expiry_older_than_the_window_does_not_count() {
    let standing = Standing {
        decided: 49,
        accepted: 9,
        ..Standing::default()
    };
    let f = ExpiryFacts {
        expiring: vec![expiring(1, ADA, BOB, 180 * DAY)],
        senders: vec![sender(ADA, standing)],
    };
    assert!(restrictions(&plan_expiry(&f, NOW)).is_empty());
}

#[test]
fn a_sender_restricted_already_is_not_restricted_again_by_an_expiry() {
    let standing = Standing {
        decided: 60,
        accepted: 1,
        ..Standing::default()
    };
    let f = ExpiryFacts {
        expiring: vec![expiring(1, ADA, BOB, 10 * DAY)],
        senders: vec![SenderFacts {
            restricted_until: Some(NOW.plus(DAY)),
            ..sender(ADA, standing)
        }],
    };
    assert!(restrictions(&plan_expiry(&f, NOW)).is_empty());
}

#[test]
fn senders_are_listed_once_in_id_order() {
    let batch = [
        expiring(1, CY, BOB, DAY),
        expiring(2, ADA, BOB, DAY),
        expiring(3, CY, ADA, DAY),
    ];
    assert_eq!(senders_of(&batch), vec![ADA, CY]);
}

#[test]
fn the_next_reminder_is_the_next_offset_from_sending() {
    let offsets = [7 * DAY, 21 * DAY];
    let sent_at = NOW.minus(7 * DAY);
    assert_eq!(
        next_reminder(&offsets, 0, sent_at),
        Some(sent_at.plus(21 * DAY))
    );
    assert_eq!(next_reminder(&offsets, 1, sent_at), None);
}

fn due(id: i64) -> DueReminder {
    DueReminder {
        id: InvitationId(id),
        sender: ADA,
        recipient: BOB,
        sent: 0,
        created_at: NOW.minus(7 * DAY),
        pending: true,
        blocked: false,
        recipient_prefs: NotificationPrefs::default(),
    }
}

#[test]
fn a_due_reminder_tells_the_recipient_and_dates_the_next() {
    let (plan, sent) = plan_reminders(&[due(4)], &[7 * DAY, 21 * DAY], NOW);
    assert_eq!(sent, 1);
    assert_eq!(
        plan.effects[0],
        Effect::NextReminder {
            invitation: InvitationId(4),
            sent: true,
            next: Some(NOW.plus(14 * DAY))
        }
    );
    let Effect::Emit { notice, event } = &plan.effects[1] else {
        panic!("no event")
    };
    let n = notice.expect("the recipient is told");
    assert_eq!(
        (n.member, n.kind),
        (BOB, NotificationKind::InvitationReminder)
    );
    assert_eq!(n.actor, Some(ADA));
    assert_eq!(event.kind, "invitation.reminder");
}

#[test]
fn no_reminder_reaches_a_recipient_who_blocked_the_sender_or_was_blocked() {
    let blocked = DueReminder {
        blocked: true,
        ..due(4)
    };
    let (plan, sent) = plan_reminders(&[blocked], &[7 * DAY], NOW);
    assert_eq!(sent, 1);
    assert!(matches!(plan.effects[1], Effect::Emit { notice: None, .. }));
}

#[test]
fn an_invitation_no_longer_pending_is_only_taken_off_the_schedule() {
    let answered = DueReminder {
        pending: false,
        ..due(4)
    };
    let (plan, sent) = plan_reminders(&[answered], &[7 * DAY, 21 * DAY], NOW);
    assert_eq!(sent, 0);
    assert_eq!(
        plan.effects,
        vec![Effect::NextReminder {
            invitation: InvitationId(4),
            sent: false,
            next: None
        }]
    );
}

fn ended(restriction: i64, still_restricted: bool) -> EndedRestriction {
    EndedRestriction {
        restriction,
        member: ADA,
        still_restricted,
        prefs: NotificationPrefs::default(),
    }
}

#[test]
fn a_member_is_told_when_their_restriction_runs_out() {
    let (plan, told) = plan_restrictions_ended(&[ended(8, false)], NOW);
    assert_eq!(told, 1);
    assert_eq!(
        plan.effects[0],
        Effect::RestrictionEndNoticed { restriction: 8 }
    );
    assert_eq!(plan.event_kinds(), vec!["member.unrestricted"]);
}

#[test]
fn a_member_under_another_restriction_is_not_told_but_the_end_is_noted() {
    let (plan, told) = plan_restrictions_ended(&[ended(8, true)], NOW);
    assert_eq!(told, 0);
    assert_eq!(
        plan.effects,
        vec![Effect::RestrictionEndNoticed { restriction: 8 }]
    );
}
