//! What a planned send or action answers, built from what the transaction already holds (the
//! command, the rows its facts read and the id its plan created): nothing is read after the commit.

use crate::{Acted, ConnectionRecord, InvitationRecord, SendOutcome, StoreError, StoreResult};
use rapport_domain::plan::{ActPlan, SendPlan};
use rapport_domain::{InvitationId, InvitationState, SendDecision, SendInvitation};

/// The answer to a send: the invitation created, or the recipient's accepted and the connection.
/// `pending` is the invitation between the two that the facts found; `created` the id the plan's
/// new invitation got.
pub(crate) fn sent(
    cmd: &SendInvitation,
    planned: &SendPlan,
    pending: Option<InvitationRecord>,
    created: Option<InvitationId>,
) -> StoreResult<SendOutcome> {
    let at = cmd.at;
    match planned.decision {
        SendDecision::Create => {
            let id = created.ok_or_else(|| StoreError::Internal("no invitation created".into()))?;
            Ok(SendOutcome::Created(InvitationRecord {
                id,
                sender: cmd.sender,
                recipient: cmd.recipient,
                note: cmd.note.clone().map(|n| n.into_string()),
                state: InvitationState::Pending,
                ignore_reason: None,
                created_at: at,
                decided_at: None,
            }))
        }
        SendDecision::AcceptReverse(theirs) => {
            let inv = pending
                .filter(|p| p.id == theirs)
                .ok_or_else(|| StoreError::Internal("pending invitation vanished".into()))?;
            Ok(SendOutcome::Connected {
                accepted: InvitationRecord {
                    state: InvitationState::Accepted,
                    decided_at: Some(at),
                    ..inv
                },
                connection: ConnectionRecord {
                    member: cmd.recipient,
                    connected_at: at,
                },
            })
        }
    }
}

/// The answer to an action on `inv` (as read before it): the invitation after it, and for an
/// accept the connection, seen from the recipient who accepted.
pub(crate) fn acted(inv: InvitationRecord, planned: &ActPlan) -> Acted {
    let at = planned.plan.at;
    let connection = (planned.state == InvitationState::Accepted).then_some(ConnectionRecord {
        member: inv.sender,
        connected_at: at,
    });
    Acted {
        invitation: InvitationRecord {
            state: planned.state,
            ignore_reason: planned.reason,
            decided_at: Some(at),
            ..inv
        },
        connection,
    }
}
