//! What a status change, a closed account, a block and a removed connection change.

use super::*;
use crate::InvitationId;

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const ADA: MemberId = MemberId(1);
const BOB: MemberId = MemberId(2);
const CY: MemberId = MemberId(3);

fn invitation(id: i64, sender: MemberId, recipient: MemberId) -> ClosedInvitation {
    ClosedInvitation {
        id: InvitationId(id),
        sender,
        recipient,
    }
}

fn facts(status: AccountStatus) -> StatusFacts {
    StatusFacts {
        member: ADA,
        status: Some(status),
        active_connections: vec![BOB, CY],
        pending: vec![invitation(7, ADA, BOB), invitation(8, CY, ADA)],
    }
}

#[test]
fn deactivating_cancels_every_pending_invitation_silently_revokes_tokens_and_hides_connections() {
    let plan = plan_status(
        AccountStatus::Deactivated,
        &facts(AccountStatus::Active),
        NOW,
    )
    .unwrap();
    assert_eq!(
        plan.effects[0],
        Effect::SetStatus {
            member: ADA,
            status: AccountStatus::Deactivated
        }
    );
    assert_eq!(
        plan.event_kinds(),
        vec!["invitation.cancelled", "invitation.cancelled"]
    );
    let told = plan.effects.iter().any(|e| {
        matches!(
            e,
            Effect::Emit {
                notice: Some(_),
                ..
            }
        )
    });
    assert!(!told, "a cancellation is silent");
    // Each sender's pending count drops, and the recipient forgets it.
    let dropped: Vec<_> = plan
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::PendingSent { member, delta: -1 } => Some(*member),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, vec![ADA, CY]);
    assert!(plan.effects.contains(&Effect::RevokeTokens { member: ADA }));
    assert_eq!(
        plan.effects.last(),
        Some(&Effect::GraphVisibility {
            member: ADA,
            others: vec![BOB, CY],
            shown: false
        })
    );
}

#[test]
fn suspending_a_deactivated_member_does_not_hide_their_connections_twice() {
    let plan = plan_status(
        AccountStatus::Suspended,
        &facts(AccountStatus::Deactivated),
        NOW,
    )
    .unwrap();
    assert!(!plan
        .effects
        .iter()
        .any(|e| matches!(e, Effect::GraphVisibility { .. })));
    assert!(plan.effects.contains(&Effect::RevokeTokens { member: ADA }));
}

#[test]
fn reactivating_shows_the_connections_again_and_cancels_nothing() {
    let plan = plan_status(AccountStatus::Active, &facts(AccountStatus::Suspended), NOW).unwrap();
    assert_eq!(
        plan.effects,
        vec![
            Effect::SetStatus {
                member: ADA,
                status: AccountStatus::Active
            },
            Effect::GraphVisibility {
                member: ADA,
                others: vec![BOB, CY],
                shown: true
            }
        ]
    );
}

#[test]
fn a_member_already_in_the_status_changes_nothing() {
    let plan = plan_status(
        AccountStatus::Deactivated,
        &facts(AccountStatus::Deactivated),
        NOW,
    )
    .unwrap();
    assert!(plan.effects.is_empty());
}

#[test]
fn a_closed_or_missing_account_has_no_status_to_change() {
    for status in [Some(AccountStatus::Closed), None] {
        let f = StatusFacts {
            status,
            ..facts(AccountStatus::Active)
        };
        assert_eq!(
            plan_status(AccountStatus::Active, &f, NOW),
            Err(RuleError::NotFound)
        );
    }
}

#[test]
fn closing_is_never_a_status_change() {
    let refused = plan_status(AccountStatus::Closed, &facts(AccountStatus::Active), NOW);
    assert!(matches!(refused, Err(RuleError::Validation { .. })));
}

#[test]
fn closing_cancels_pending_removes_every_connection_revokes_tokens_and_erases_the_account() {
    let f = CloseFacts {
        open: true,
        pending: vec![invitation(7, ADA, BOB)],
        connections: vec![BOB, CY],
    };
    let plan = plan_close(ADA, &f, NOW).unwrap();
    assert_eq!(
        plan.event_kinds(),
        vec![
            "invitation.cancelled",
            "connection.removed",
            "connection.removed"
        ]
    );
    assert!(plan.effects.contains(&Effect::Disconnect { a: ADA, b: CY }));
    let n = plan.effects.len();
    assert_eq!(
        plan.effects[n - 2..],
        [
            Effect::RevokeTokens { member: ADA },
            Effect::EraseAccount { member: ADA }
        ]
    );
}

#[test]
fn a_closed_account_cannot_be_closed_again() {
    let f = CloseFacts {
        open: false,
        pending: vec![],
        connections: vec![],
    };
    assert_eq!(plan_close(ADA, &f, NOW), Err(RuleError::NotFound));
}

#[test]
fn blocking_cancels_the_pending_invitation_between_them_and_disconnects_them() {
    let f = BlockFacts {
        pending: Some(invitation(7, BOB, ADA)),
        connected: true,
    };
    let plan = plan_block(ADA, BOB, &f, NOW);
    assert_eq!(
        plan.effects[0],
        Effect::Block {
            blocker: ADA,
            blocked: BOB
        }
    );
    assert_eq!(
        plan.event_kinds(),
        vec!["invitation.cancelled", "connection.removed"]
    );
    assert!(plan.effects.contains(&Effect::PendingSent {
        member: BOB,
        delta: -1
    }));
}

#[test]
fn blocking_a_stranger_only_blocks() {
    let f = BlockFacts {
        pending: None,
        connected: false,
    };
    assert_eq!(plan_block(ADA, BOB, &f, NOW).effects.len(), 1);
}

#[test]
fn removing_a_connection_is_silent_but_for_its_event() {
    let plan = plan_disconnect(ADA, BOB, true, NOW).unwrap();
    assert_eq!(plan.effects[0], Effect::Disconnect { a: ADA, b: BOB });
    assert_eq!(plan.event_kinds(), vec!["connection.removed"]);
}

#[test]
fn removing_a_connection_that_is_not_there_does_nothing() {
    assert_eq!(plan_disconnect(ADA, BOB, false, NOW), None);
}

#[test]
fn a_new_password_revokes_every_token_of_the_member() {
    let hash = PasswordHash("$argon2id$new".into());
    let plan = plan_password(ADA, hash.clone(), NOW);
    assert_eq!(
        plan.effects,
        vec![
            Effect::SetPassword { member: ADA, hash },
            Effect::RevokeTokens { member: ADA }
        ]
    );
}

#[test]
fn a_password_hash_never_shows_in_a_log() {
    let hash = PasswordHash("$argon2id$secret".into());
    assert!(!format!("{:?}", plan_password(ADA, hash, NOW)).contains("secret"));
}

#[test]
fn signing_out_deletes_only_that_token() {
    let plan = plan_sign_out([7; 32], NOW);
    assert_eq!(plan.effects, vec![Effect::DeleteToken { hash: [7; 32] }]);
}
