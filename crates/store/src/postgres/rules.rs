//! The steps the use cases share inside a transaction, ported from the embedded store: reading an
//! invitation or a pair, moving invitations out of `pending` in bulk with what follows, the send
//! and act plans, and the sender's standing.
//!
//! Helpers that decide on members' state expect their members locked ([`lock_members`]) by the
//! transaction they run in; [`send_in_tx`] and [`act_in_tx`] take those locks themselves, so that
//! every caller gets them.

use super::plan;
use super::*;
use crate::*;
use rapport_domain::standing::RestrictionReason;

/// The invitation `id`, if any.
pub(super) async fn invitation_by_id(
    c: &Tx,
    id: InvitationId,
) -> TxResult<Option<InvitationRecord>> {
    c.query_opt(
        &format!("SELECT {INVITATION_COLS} FROM invitations WHERE id = $1"),
        &[&id.0],
    )
    .await?
    .as_ref()
    .map(invitation_row)
    .transpose()
}

/// The pending invitation between `a` and `b`, whoever sent it (there is at most one: the
/// `invitations_one_pending_per_pair` index, which this query uses).
pub(super) async fn pending_between(
    c: &Tx,
    a: MemberId,
    b: MemberId,
) -> TxResult<Option<InvitationRecord>> {
    c.query_opt(
        &format!(
            "SELECT {INVITATION_COLS} FROM invitations
              WHERE LEAST(sender_id, recipient_id) = LEAST($1::bigint, $2::bigint)
                AND GREATEST(sender_id, recipient_id) = GREATEST($1::bigint, $2::bigint)
                AND state = 'pending'"
        ),
        &[&a.0, &b.0],
    )
    .await?
    .as_ref()
    .map(invitation_row)
    .transpose()
}

/// A stored count as the rules read it: never negative, at most `u32::MAX`.
pub(super) fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Sends an invitation, or accepts the recipient's pending one, as the domain plans it: BEGIN,
/// the facts read with sender and recipient locked (two sends of one sender, and sends between one
/// pair, run one after the other), the plan written, COMMIT.
///
/// A refusal that still changes something (a wrong address counted) is written and committed,
/// and then answered: the outer `Ok` commits, the inner `Err` is the refusal.
pub(super) async fn send_in_tx(
    tx: &mut Tx,
    cmd: &SendInvitation,
) -> TxResult<Result<SendOutcome, RuleError>> {
    let (facts, pending) = plan::send_facts(tx, cmd)
        .await?
        .ok_or(RuleError::NotFound)?;
    let planned = match rapport_domain::plan::plan_send(cmd, &facts) {
        Ok(planned) => planned,
        Err(refused) => {
            match rapport_domain::plan::plan_refused_send(cmd, &facts, &refused) {
                Some(plan) => plan::execute(tx, &plan).await?,
                None => return Err(refused.into()),
            };
            return Ok(Err(refused));
        }
    };
    let created = plan::execute(tx, &planned.plan).await?;
    Ok(Ok(crate::outcome::sent(cmd, &planned, pending, created)?))
}

/// Accepts, ignores or withdraws an invitation as the domain plans it. Both members and then the
/// invitation are locked before the facts are read: an accept racing a withdrawal (or a block, or
/// a second accept) runs after the other and finds it decided.
pub(super) async fn act_in_tx(
    tx: &mut Tx,
    id: InvitationId,
    actor: MemberId,
    action: Action,
    policy: ActPolicy,
    at: Timestamp,
) -> TxResult<Acted> {
    let (facts, inv) = plan::act_facts(tx, id, action, at)
        .await?
        .ok_or(RuleError::NotFound)?;
    let planned = rapport_domain::plan::plan_act(actor, action, &policy, &facts, at)?;
    plan::execute(tx, &planned.plan).await?;
    Ok(crate::outcome::acted(inv, &planned))
}

/// The restriction in force on `member` at `now` (the one lasting longest), if any.
pub(super) async fn active_restriction(
    c: &Tx,
    member: MemberId,
    now: Timestamp,
) -> TxResult<Option<RestrictionRecord>> {
    Ok(c
        .query_opt(
            "SELECT level, reason, until FROM restrictions
              WHERE member_id = $1 AND until > $2 AND lifted_at IS NULL ORDER BY until DESC LIMIT 1",
            &[&member.0, &now.0],
        )
        .await?
        .map(|r| RestrictionRecord {
            member,
            level: r.get::<_, i64>(0).clamp(0, 255) as u8,
            reason: RestrictionReason::parse(r.get(1)).unwrap_or(RestrictionReason::Moderation),
            until: Timestamp(r.get(2)),
        }))
}

/// Of the `cap` invitations `member` sent last, how many were sent after `since`, and the oldest.
pub(super) async fn sent_window(
    c: &Tx,
    member: MemberId,
    since: Timestamp,
    cap: u32,
) -> TxResult<SentWindow> {
    let r = c
        .query_one(
            "SELECT count(*), min(created_at) FROM
               (SELECT created_at FROM invitations WHERE sender_id = $1 ORDER BY id DESC LIMIT $3) last
              WHERE created_at > $2",
            &[&member.0, &since.0, &i64::from(cap)],
        )
        .await?;
    Ok(SentWindow {
        count: r.get::<_, i64>(0).max(0) as u64,
        oldest: r.get::<_, Option<i64>>(1).map(Timestamp),
    })
}
