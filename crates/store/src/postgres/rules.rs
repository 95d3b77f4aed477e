//! The steps the use cases share inside a transaction, ported from the embedded store: reading an
//! invitation or a pair, moving invitations out of `pending` in bulk with what follows, the send
//! and act plans, and the sender's standing.
//!
//! Helpers that decide on members' state expect their members locked ([`lock_members`]) by the
//! transaction they run in; [`send_in_tx`] and [`act_in_tx`] take those locks themselves, so that
//! every caller gets them.

use super::*;
use super::{notices, plan};
use crate::*;
use rapport_domain::standing::RestrictionReason;
use rapport_domain::WithdrawalNotice;

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

/// Takes invitations that left `pending` off their senders' pending counts (one id per
/// invitation, so a sender listed twice loses two). Several senders are locked in id order first,
/// the order every transaction locks members in.
pub(super) async fn no_longer_pending(c: &Tx, senders: &[i64]) -> TxResult<()> {
    let mut distinct = senders.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct.as_slice() {
        [] => {}
        [one] => {
            let n = senders.len() as i64;
            c.execute(
                "UPDATE members SET pending_sent = pending_sent - $2 WHERE id = $1",
                &[one, &n],
            )
            .await?;
        }
        _ => {
            let ids: Vec<MemberId> = distinct.iter().copied().map(MemberId).collect();
            lock_members(c, &ids).await?;
            c.execute(
                "UPDATE members m SET pending_sent = m.pending_sent - d.n
                   FROM (SELECT s, count(*) AS n FROM unnest($1::bigint[]) AS s GROUP BY s) d
                  WHERE m.id = d.s",
                &[&senders],
            )
            .await?;
        }
    }
    Ok(())
}

/// Starts the re-invite cooldown of `sender` towards `recipient` after a withdrawal, and counts the
/// withdrawal (repeated withdraw-and-resend cycles weigh on the sender's standing).
pub(super) async fn note_withdrawal(
    c: &Tx,
    sender: MemberId,
    recipient: MemberId,
    until: Timestamp,
) -> TxResult<()> {
    c.execute(
        "INSERT INTO pair_rules (sender_id, recipient_id, cooldown_until, withdrawals) VALUES ($1, $2, $3, 1)
         ON CONFLICT (sender_id, recipient_id)
         DO UPDATE SET cooldown_until = excluded.cooldown_until, withdrawals = pair_rules.withdrawals + 1",
        &[&sender.0, &recipient.0, &until.0],
    )
    .await?;
    Ok(())
}

/// A stored count as the rules read it: never negative, at most `u32::MAX`.
pub(super) fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Sends an invitation, or accepts the recipient's pending one, as the domain plans it: BEGIN,
/// the facts read with sender and recipient locked (two sends of one sender, and sends between one
/// pair, run one after the other), the plan written, COMMIT.
pub(super) async fn send_in_tx(tx: &mut Tx, cmd: &SendInvitation) -> TxResult<SendOutcome> {
    let (facts, pending) = plan::send_facts(tx, cmd)
        .await?
        .ok_or(RuleError::NotFound)?;
    let planned = rapport_domain::plan::plan_send(cmd, &facts)?;
    let created = plan::execute(tx, &planned.plan).await?;
    Ok(crate::outcome::sent(cmd, &planned, pending, created)?)
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

/// Has either of `a` and `b` blocked the other?
pub(super) async fn blocked_either_way(c: &Tx, a: MemberId, b: MemberId) -> TxResult<bool> {
    c.exists(
        "SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)",
        &[&a.0, &b.0],
    )
    .await
}

/// `(id, sender, recipient)` of an invitation a bulk update ended (`RETURNING id, sender_id,
/// recipient_id`).
pub(super) fn ended_row(r: &Row) -> (InvitationId, MemberId, MemberId) {
    (
        InvitationId(r.get(0)),
        MemberId(r.get(1)),
        MemberId(r.get(2)),
    )
}

/// What follows each invitation a bulk update moved out of `pending`.
pub(super) async fn closed_in_bulk(
    tx: &mut Tx,
    ended: &[(InvitationId, MemberId, MemberId)],
    state: InvitationState,
    notice: WithdrawalNotice,
    at: Timestamp,
) -> TxResult<()> {
    let senders: Vec<i64> = ended.iter().map(|e| e.1 .0).collect();
    no_longer_pending(tx, &senders).await?;
    for &(id, sender, recipient) in ended {
        notices::invitation_closed(tx, id, sender, recipient, state, notice, at).await?;
    }
    Ok(())
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

/// A `LIKE … ESCAPE '\'` pattern finding `s` anywhere: `%` and `_` typed by a member are literal
/// characters, not patterns.
pub(super) fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}
