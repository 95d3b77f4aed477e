//! The steps the use cases share inside a transaction: reading an invitation or the pending one
//! between a pair, the send and act plans, and the sender's standing (the restriction in force,
//! the weekly window).

use super::*;
use rapport_domain::standing::RestrictionReason;

pub(super) fn invitation_by_id(
    c: &Connection,
    id: InvitationId,
) -> rusqlite::Result<Option<InvitationRecord>> {
    c.prepare_cached(&format!(
        "SELECT {INVITATION_COLS} FROM invitations WHERE id = ?1"
    ))?
    .query_row([id.0], invitation_row)
    .optional()
}

pub(super) fn pending_between(
    c: &Connection,
    a: MemberId,
    b: MemberId,
) -> rusqlite::Result<Option<InvitationRecord>> {
    c.prepare_cached(&format!(
        "SELECT {INVITATION_COLS} FROM invitations
          WHERE min(sender_id, recipient_id) = min(?1, ?2) AND max(sender_id, recipient_id) = max(?1, ?2)
            AND state = 'pending'"
    ))?
    .query_row([a.0, b.0], invitation_row)
    .optional()
}

/// Sends an invitation, or accepts the recipient's pending one, as the domain plans it. A refusal
/// that still changes something (a wrong address counted) is written, and then answered: the
/// outer `Ok` commits, the inner `Err` is the refusal.
pub(super) fn send_in_tx(
    tx: &mut WriteTx<'_>,
    cmd: SendInvitation,
) -> StoreResult<Result<SendOutcome, RuleError>> {
    let (facts, pending) = plan::send_facts(tx.conn, &cmd)?.ok_or(RuleError::NotFound)?;
    let planned = match rapport_domain::plan::plan_send(&cmd, &facts) {
        Ok(planned) => planned,
        Err(refused) => {
            match rapport_domain::plan::plan_refused_send(&cmd, &facts, &refused) {
                Some(plan) => plan::execute(tx, &plan)?,
                None => return Err(refused.into()),
            };
            return Ok(Err(refused));
        }
    };
    let created = plan::execute(tx, &planned.plan)?;
    crate::outcome::sent(&cmd, &planned, pending, created).map(Ok)
}

/// Accepts, ignores or withdraws an invitation as the domain plans it.
pub(super) fn act_in_tx(
    tx: &mut WriteTx<'_>,
    id: InvitationId,
    actor: MemberId,
    action: Action,
    policy: ActPolicy,
    at: Timestamp,
) -> StoreResult<Acted> {
    let (facts, inv) = plan::act_facts(tx.conn, id, action, at)?.ok_or(RuleError::NotFound)?;
    let planned = rapport_domain::plan::plan_act(actor, action, &policy, &facts, at)?;
    plan::execute(tx, &planned.plan)?;
    Ok(crate::outcome::acted(inv, &planned))
}

pub(super) fn active_restriction(
    c: &Connection,
    member: MemberId,
    now: Timestamp,
) -> rusqlite::Result<Option<RestrictionRecord>> {
    c.prepare_cached(
        "SELECT level, reason, until FROM restrictions
          WHERE member_id = ?1 AND until > ?2 AND lifted_at IS NULL ORDER BY until DESC LIMIT 1",
    )?
    .query_row(params![member.0, now.0], |r| {
        let reason: String = r.get(1)?;
        Ok(RestrictionRecord {
            member,
            level: r.get::<_, i64>(0)?.clamp(0, 255) as u8,
            reason: RestrictionReason::parse(&reason).unwrap_or(RestrictionReason::Moderation),
            until: Timestamp(r.get(2)?),
        })
    })
    .optional()
}

/// Of the `cap` invitations `member` sent last, how many were sent after `since`, and the oldest.
pub(super) fn sent_window(
    c: &Connection,
    member: MemberId,
    since: Timestamp,
    cap: u32,
) -> rusqlite::Result<SentWindow> {
    c.prepare_cached(
        "SELECT count(*), min(created_at) FROM
           (SELECT created_at FROM invitations WHERE sender_id = ?1 ORDER BY id DESC LIMIT ?3)
          WHERE created_at > ?2",
    )?
    .query_row(params![member.0, since.0, cap], |r| {
        Ok(SentWindow {
            count: r.get::<_, i64>(0)? as u64,
            oldest: r.get::<_, Option<i64>>(1)?.map(Timestamp),
        })
    })
}
