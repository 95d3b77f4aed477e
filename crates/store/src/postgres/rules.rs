//! The steps the use cases share inside a transaction, ported from the embedded store: reading an
//! invitation or a pair, connecting and disconnecting, moving invitations out of `pending` with
//! what follows, the send and act rules, and the sender's standing.
//!
//! Helpers that decide on members' state expect their members locked ([`lock_members`]) by the
//! transaction they run in; [`send_in_tx`], [`act_in_tx`] and [`change_status`] take those locks
//! themselves, so that every caller gets them.

use super::accounts::{member_by_id, saved_member};
use super::notices;
use super::*;
use crate::*;
use rapport_domain::standing::{self, RestrictionReason, Standing};
use rapport_domain::{
    decide_send, InvitationsFrom, SendContext, SendDecision, SendLimits, WithdrawalNotice,
};
use std::sync::Arc;

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

/// The invitation `id`, locked until the transaction ends: what an action re-reads once both
/// members are locked, so that it decides on the state no other transaction can change under it.
async fn invitation_for_update(c: &Tx, id: InvitationId) -> TxResult<Option<InvitationRecord>> {
    c.query_opt(
        &format!("SELECT {INVITATION_COLS} FROM invitations WHERE id = $1 FOR UPDATE"),
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

/// Are `a` and `b` connected (whatever their status)?
pub(super) async fn are_connected(c: &Tx, a: MemberId, b: MemberId) -> TxResult<bool> {
    c.exists(
        "SELECT 1 FROM connections WHERE member_id = $1 AND other_id = $2",
        &[&a.0, &b.0],
    )
    .await
}

/// Connects two members both ways, counts it on both, reports it to the graph and, unless
/// `quiet` (seeding), appends `connection.created`.
pub(super) async fn connect(
    tx: &mut Tx,
    a: MemberId,
    b: MemberId,
    at: Timestamp,
    quiet: bool,
) -> TxResult<ConnectionRecord> {
    const INSERT: &str =
        "INSERT INTO connections (member_id, other_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING";
    let new = tx.execute(INSERT, &[&a.0, &b.0, &at.0]).await? > 0;
    tx.execute(INSERT, &[&b.0, &a.0, &at.0]).await?;
    if new {
        add_connection_count(tx, a, b, 1).await?;
        tx.graph_change(Change::Connected(a, b), at).await?;
        if !quiet {
            notices::emit(
                tx,
                notices::Event::members("connection.created", a, Some(b)),
                at,
            )
            .await?;
        }
    }
    Ok(ConnectionRecord {
        member: b,
        connected_at: at,
    })
}

/// Adds `delta` to the connection counts of `a` and `b`.
pub(super) async fn add_connection_count(
    c: &Tx,
    a: MemberId,
    b: MemberId,
    delta: i64,
) -> TxResult<()> {
    c.execute(
        "UPDATE members SET connection_count = connection_count + $3 WHERE id IN ($1, $2)",
        &[&a.0, &b.0, &delta],
    )
    .await?;
    Ok(())
}

/// Moves a pending invitation to `state`, takes it off its sender's pending count, and writes
/// what follows (notifications, traces removed, the outbox event). Nothing happens when it is no
/// longer pending.
pub(super) async fn set_state(
    tx: &mut Tx,
    inv: &InvitationRecord,
    state: InvitationState,
    reason: Option<IgnoreReason>,
    notice: WithdrawalNotice,
    at: Timestamp,
) -> TxResult<()> {
    let changed = tx
        .execute(
            "UPDATE invitations SET state = $2, ignore_reason = $3, decided_at = $4, next_reminder_at = NULL
              WHERE id = $1 AND state = 'pending'",
            &[&inv.id.0, &state.as_str(), &reason.map(IgnoreReason::as_str), &at.0],
        )
        .await?;
    if changed == 0 {
        return Ok(());
    }
    no_longer_pending(tx, &[inv.sender.0]).await?;
    if state == InvitationState::Accepted {
        notices::invitation_accepted(tx, inv.id, inv.sender, inv.recipient, at).await
    } else {
        notices::invitation_closed(tx, inv.id, inv.sender, inv.recipient, state, notice, at).await
    }
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

/// What the send rules need to know about one member.
pub(super) struct SendSide {
    pub active: bool,
    pub email: String,
    pub tier: String,
    pub invitations_from: String,
    pub pending_sent: u32,
    pub connection_count: u32,
}

/// What the send rules need to know about member `id`, if it exists.
pub(super) async fn send_side(c: &Tx, id: MemberId) -> TxResult<Option<SendSide>> {
    Ok(c.query_opt(
        "SELECT status = 'active', email, tier, invitations_from, pending_sent, connection_count
               FROM members WHERE id = $1",
        &[&id.0],
    )
    .await?
    .map(|r| SendSide {
        active: r.get(0),
        email: r.get(1),
        tier: r.get(2),
        invitations_from: r.get(3),
        pending_sent: count_u32(r.get(4)),
        connection_count: count_u32(r.get(5)),
    }))
}

/// A stored count as the rules read it: never negative, at most `u32::MAX`.
fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Sends an invitation, or accepts the recipient's pending one, as the send rules decide. Sender
/// and recipient are locked first: two sends of one sender (its weekly and outstanding limits) and
/// sends between one pair (one pending invitation) run one after the other.
pub(super) async fn send_in_tx(tx: &mut Tx, cmd: SendInvitation) -> TxResult<SendOutcome> {
    lock_members(tx, &[cmd.sender, cmd.recipient]).await?;
    let sender = send_side(tx, cmd.sender)
        .await?
        .ok_or(RuleError::NotFound)?;
    let recipient = if cmd.sender == cmd.recipient {
        None
    } else {
        send_side(tx, cmd.recipient).await?
    };
    let recipient_visible = recipient.as_ref().is_some_and(|r| r.active)
        && !blocked_either_way(tx, cmd.sender, cmd.recipient).await?;
    let pending = if recipient_visible {
        pending_between(tx, cmd.sender, cmd.recipient).await?
    } else {
        None
    };
    let (barred, cooldown_until, withdrawals) = tx
        .query_opt(
            "SELECT barred, cooldown_until, withdrawals FROM pair_rules WHERE sender_id = $1 AND recipient_id = $2",
            &[&cmd.sender.0, &cmd.recipient.0],
        )
        .await?
        .map(|r| (r.get::<_, bool>(0), r.get::<_, Option<i64>>(1), r.get::<_, i64>(2)))
        .unwrap_or((false, None, 0));
    let weekly = if sender.tier == "premium" {
        cmd.policy.weekly_premium
    } else {
        cmd.policy.weekly_free
    };
    // The weekly limit is reached exactly when the limit-th newest send is inside the window:
    // one index seek, whatever the sender's history.
    let nth_newest: Option<i64> = tx
        .query_opt(
            "SELECT created_at FROM invitations WHERE sender_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
            &[&cmd.sender.0, &(i64::from(weekly.max(1)) - 1)],
        )
        .await?
        .map(|r| r.get(0));
    let full_since = nth_newest
        .map(Timestamp)
        .filter(|t| *t > cmd.at.minus(rapport_domain::send::WEEK));
    let connected = recipient_visible && are_connected(tx, cmd.sender, cmd.recipient).await?;
    let restricted_until = active_restriction(tx, cmd.sender, cmd.at)
        .await?
        .map(|r| r.until);
    let ctx = SendContext {
        now: cmd.at,
        is_self: cmd.sender == cmd.recipient,
        recipient_visible,
        connected,
        pending_sent: pending.as_ref().is_some_and(|p| p.sender == cmd.sender),
        pending_received: pending
            .as_ref()
            .filter(|p| p.sender == cmd.recipient)
            .map(|p| p.id),
        barred,
        cooldown_until: cooldown_until.map(Timestamp),
        recipient_accepts: recipient
            .as_ref()
            .and_then(|r| InvitationsFrom::parse(&r.invitations_from))
            .unwrap_or_default(),
        shares_connection: cmd.shares_connection,
        email_matches: matches!((&cmd.recipient_email, &recipient), (Some(e), Some(r)) if e.as_str() == r.email),
        restricted_until,
        sender_connections: sender.connection_count,
        recipient_connections: recipient.as_ref().map_or(0, |r| r.connection_count),
        outstanding: sender.pending_sent,
        sent_this_week: if full_since.is_some() { weekly } else { 0 },
        oldest_this_week: full_since,
        limits: SendLimits {
            weekly,
            outstanding: cmd.policy.outstanding,
            max_connections: cmd.policy.max_connections,
        },
    };
    let decision = decide_send(&ctx)?;
    // Inviting someone lifts the bar they may be under towards you ("unless the recipient invites first").
    tx.execute(
        "UPDATE pair_rules SET barred = false WHERE sender_id = $1 AND recipient_id = $2 AND barred",
        &[&cmd.recipient.0, &cmd.sender.0],
    )
    .await?;
    match decision {
        SendDecision::AcceptReverse(theirs) => {
            let inv = invitation_by_id(tx, theirs)
                .await?
                .ok_or_else(|| Failure::Internal("pending invitation vanished".into()))?;
            set_state(
                tx,
                &inv,
                InvitationState::Accepted,
                None,
                WithdrawalNotice::Silent,
                cmd.at,
            )
            .await?;
            let connection = connect(tx, cmd.sender, cmd.recipient, cmd.at, false).await?;
            let accepted = InvitationRecord {
                state: InvitationState::Accepted,
                decided_at: Some(cmd.at),
                ..inv
            };
            Ok(SendOutcome::Connected {
                accepted,
                connection,
            })
        }
        SendDecision::Create => {
            let note = cmd.note.map(|n| n.into_string());
            // With both members locked and no pending invitation found, the insert cannot meet
            // another pending one; if it ever did, the unique violation runs the transaction again
            // (see `Failure::is_retryable`) and the rules answer `InvitationPending`.
            let id = InvitationId(
                tx.query_one(
                    "INSERT INTO invitations (sender_id, recipient_id, note, created_at) VALUES ($1, $2, $3, $4)
                     RETURNING id",
                    &[&cmd.sender.0, &cmd.recipient.0, &note, &cmd.at.0],
                )
                .await?
                .get(0),
            );
            tx.execute(
                "UPDATE members SET pending_sent = pending_sent + 1 WHERE id = $1",
                &[&cmd.sender.0],
            )
            .await?;
            if withdrawals >= 3 {
                // A re-send after several withdrawals: count the cycles of the last 90 days.
                let recent: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM invitations
                          WHERE recipient_id = $2 AND sender_id = $1 AND state = 'withdrawn' AND decided_at > $3",
                        &[&cmd.sender.0, &cmd.recipient.0, &cmd.at.minus(standing::WINDOW).0],
                    )
                    .await?
                    .get(0);
                review_standing(tx, cmd.sender, count_u32(recent), cmd.at).await?;
            }
            let first_reminder = cmd.policy.first_reminder.map(|d| cmd.at.plus(d));
            notices::invitation_sent(tx, id, cmd.sender, cmd.recipient, first_reminder, cmd.at)
                .await?;
            Ok(SendOutcome::Created(InvitationRecord {
                id,
                sender: cmd.sender,
                recipient: cmd.recipient,
                note,
                state: InvitationState::Pending,
                ignore_reason: None,
                created_at: cmd.at,
                decided_at: None,
            }))
        }
    }
}

/// Accepts, ignores or withdraws an invitation as the state machine decides. The invitation is
/// read to learn its members, both are locked, and it is read again locked: an accept racing a
/// withdrawal (or a block, or a second accept) runs after the other and finds it decided.
pub(super) async fn act_in_tx(
    tx: &mut Tx,
    id: InvitationId,
    actor: MemberId,
    action: Action,
    policy: ActPolicy,
    at: Timestamp,
) -> TxResult<Acted> {
    // Who sent and who received an invitation never changes: a stranger is turned away here,
    // before taking any lock.
    let seen = invitation_by_id(tx, id).await?.ok_or(RuleError::NotFound)?;
    let party = if actor == seen.sender {
        rapport_domain::Party::Sender
    } else if actor == seen.recipient {
        rapport_domain::Party::Recipient
    } else {
        return Err(RuleError::NotFound.into());
    };
    lock_members(tx, &[seen.sender, seen.recipient]).await?;
    let inv = invitation_for_update(tx, id)
        .await?
        .ok_or(RuleError::NotFound)?;
    let next = inv.state.next(party, action)?;
    if next == InvitationState::Accepted {
        let full: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM members WHERE id IN ($1, $2) AND connection_count >= $3)",
                &[&inv.sender.0, &inv.recipient.0, &i64::from(policy.max_connections)],
            )
            .await?
            .get(0);
        if full {
            return Err(RuleError::ConnectionLimit.into());
        }
    }
    let reason = match action {
        Action::Ignore(r) => r,
        _ => None,
    };
    set_state(tx, &inv, next, reason, policy.withdrawal_notice, at).await?;
    match next {
        InvitationState::Withdrawn => {
            note_withdrawal(
                tx,
                inv.sender,
                inv.recipient,
                at.plus(policy.reinvite_cooldown),
            )
            .await?
        }
        InvitationState::Ignored => {
            if reason.is_some() {
                tx.execute(
                    "INSERT INTO pair_rules (sender_id, recipient_id, barred) VALUES ($1, $2, true)
                     ON CONFLICT (sender_id, recipient_id) DO UPDATE SET barred = true",
                    &[&inv.sender.0, &inv.recipient.0],
                )
                .await?;
            }
            if reason == Some(IgnoreReason::Spam) {
                tx.execute(
                    "INSERT INTO reports (invitation_id, reporter_id, reported_id, created_at) VALUES ($1, $2, $3, $4)",
                    &[&inv.id.0, &inv.recipient.0, &inv.sender.0, &at.0],
                )
                .await?;
            }
            review_standing(tx, inv.sender, 0, at).await?;
        }
        _ => {}
    }
    let connection = if next == InvitationState::Accepted {
        let mut conn = connect(tx, inv.recipient, inv.sender, at, false).await?;
        conn.member = inv.sender;
        Some(conn)
    } else {
        None
    };
    Ok(Acted {
        invitation: InvitationRecord {
            state: next,
            ignore_reason: reason,
            decided_at: Some(at),
            ..inv
        },
        connection,
    })
}

/// Has either of `a` and `b` blocked the other?
pub(super) async fn blocked_either_way(c: &Tx, a: MemberId, b: MemberId) -> TxResult<bool> {
    c.exists(
        "SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)",
        &[&a.0, &b.0],
    )
    .await
}

/// Cancels every pending invitation `id` sent or received (a block, a closed, deactivated or
/// suspended account): silently, and off each sender's pending count.
pub(super) async fn cancel_pending_of(tx: &mut Tx, id: MemberId, at: Timestamp) -> TxResult<()> {
    let ended = tx
        .query(
            "UPDATE invitations SET state = 'cancelled', decided_at = $2, next_reminder_at = NULL
              WHERE state = 'pending' AND (sender_id = $1 OR recipient_id = $1)
              RETURNING id, sender_id, recipient_id",
            &[&id.0, &at.0],
        )
        .await?
        .iter()
        .map(ended_row)
        .collect::<Vec<_>>();
    closed_in_bulk(
        tx,
        &ended,
        InvitationState::Cancelled,
        WithdrawalNotice::Silent,
        at,
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

/// The members `id` is connected to who are active (the ones the graph index shows).
pub(super) async fn active_connections_of(c: &Tx, id: MemberId) -> TxResult<Vec<MemberId>> {
    Ok(c.query(
        "SELECT c.other_id FROM connections c JOIN members m ON m.id = c.other_id
              WHERE c.member_id = $1 AND m.status = 'active'",
        &[&id.0],
    )
    .await?
    .iter()
    .map(|r| MemberId(r.get(0)))
    .collect())
}

/// Removes the connection between two members, if any, from the store, the counts and the graph.
/// Returns whether there was one.
pub(super) async fn disconnect(
    tx: &mut Tx,
    a: MemberId,
    b: MemberId,
    at: Timestamp,
) -> TxResult<bool> {
    let n = tx
        .execute(
            "DELETE FROM connections WHERE (member_id = $1 AND other_id = $2) OR (member_id = $2 AND other_id = $1)",
            &[&a.0, &b.0],
        )
        .await?;
    if n > 0 {
        add_connection_count(tx, a, b, -1).await?;
        tx.graph_change(Change::Disconnected(a, b), at).await?;
        notices::emit(
            tx,
            notices::Event::members("connection.removed", a, Some(b)),
            at,
        )
        .await?;
    }
    Ok(n > 0)
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

/// The sender's last 90 days, as the standing rules read them.
pub(super) async fn standing_of(c: &Tx, sender: MemberId, now: Timestamp) -> TxResult<Standing> {
    let r = c
        .query_one(
            "SELECT count(*) FILTER (WHERE ignore_reason IS NOT NULL),
                    count(*) FILTER (WHERE state IN ('accepted', 'ignored', 'expired')),
                    count(*) FILTER (WHERE state = 'accepted')
               FROM invitations WHERE sender_id = $1 AND created_at > $2",
            &[&sender.0, &now.minus(standing::WINDOW).0],
        )
        .await?;
    Ok(Standing {
        ignored_with_reason: count_u32(r.get(0)),
        decided: count_u32(r.get(1)),
        accepted: count_u32(r.get(2)),
        withdrawals_to_one_person: 0,
    })
}

/// Restricts `member` for `reason` at the next level, unless a restriction is already in force.
/// The caller holds the member's lock, so two of these cannot both find none in force.
pub(super) async fn apply_restriction(
    tx: &mut Tx,
    member: MemberId,
    reason: RestrictionReason,
    at: Timestamp,
) -> TxResult<()> {
    if active_restriction(tx, member, at).await?.is_some() {
        return Ok(());
    }
    let previous: i64 = tx
        .query_one(
            "SELECT count(*) FROM restrictions WHERE member_id = $1",
            &[&member.0],
        )
        .await?
        .get(0);
    let (level, length) = standing::next_restriction(count_u32(previous));
    let source = if reason == RestrictionReason::Moderation {
        "moderator"
    } else {
        "automatic"
    };
    let until = at.plus(length);
    tx.execute(
        "INSERT INTO restrictions (member_id, level, reason, source, starts_at, until) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&member.0, &i64::from(level), &reason.as_str(), &source, &at.0, &until.0],
    )
    .await?;
    tracing::info!(member = %member, reason = reason.as_str(), level, "sender restricted");
    notices::restriction_applied(tx, member, reason.as_str(), until, at).await
}

/// Re-evaluates the sender's standing after something that can only make it worse.
pub(super) async fn review_standing(
    tx: &mut Tx,
    sender: MemberId,
    withdrawals_to_one_person: u32,
    at: Timestamp,
) -> TxResult<()> {
    let mut s = standing_of(tx, sender, at).await?;
    s.withdrawals_to_one_person = withdrawals_to_one_person;
    if let Some(reason) = standing::assess(&s) {
        apply_restriction(tx, sender, reason, at).await?;
    }
    Ok(())
}

/// Moves a member between active, deactivated and suspended, with everything that goes with it.
/// The member is locked first (a no-op when the caller already holds the lock).
pub(super) async fn change_status(
    tx: &mut Tx,
    id: MemberId,
    status: AccountStatus,
    at: Timestamp,
) -> TxResult<Arc<MemberRecord>> {
    lock_members(tx, &[id]).await?;
    let before = member_by_id(tx, id).await?.ok_or(RuleError::NotFound)?;
    if before.status == "closed" {
        return Err(RuleError::NotFound.into());
    }
    if before.status == status.as_str() {
        return Ok(Arc::new(before));
    }
    let was_active = before.is_active();
    let others = active_connections_of(tx, id).await?;
    tx.execute(
        "UPDATE members SET status = $2 WHERE id = $1",
        &[&id.0, &status.as_str()],
    )
    .await?;
    if status == AccountStatus::Active {
        let shown = others.iter().map(|&o| Change::Connected(id, o)).collect();
        tx.graph_changes(shown, at).await?;
    } else {
        cancel_pending_of(tx, id, at).await?;
        tx.execute("DELETE FROM tokens WHERE member_id = $1", &[&id.0])
            .await?;
        if was_active {
            let hidden = others
                .iter()
                .map(|&o| Change::Disconnected(id, o))
                .collect();
            tx.graph_changes(hidden, at).await?;
        }
    }
    saved_member(tx, id).await
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
