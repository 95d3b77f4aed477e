//! Invitations: sending, answering and withdrawing them, the lists members see, and the sweeps
//! that expire them and remind their recipients.
//!
//! The rules themselves are shared with other areas and live in [`super::rules`]; the sweeps
//! change each invitation once, whichever replicas run them together (each acts only on the rows
//! its own `UPDATE … WHERE state = 'pending' … RETURNING` moved).

use super::rules;
use super::*;
use crate::*;

/// Invitations one sweep moves at most, so that a long backlog never holds its locks for long.
const SWEEP_BATCH: i64 = 1000;

/// Reminders one sweep sends at most.
const REMINDER_BATCH: u32 = 1000;

/// `before` as the exclusive upper bound of an id range (none: from the newest).
fn before_id(before: Option<InvitationId>) -> i64 {
    before.map_or(i64::MAX, |b| b.0)
}

pub(super) async fn sent_since(
    s: &PgStore,
    member: MemberId,
    since: Timestamp,
    cap: u32,
) -> StoreResult<SentWindow> {
    read!(s, |c| rules::sent_window(c, member, since, cap).await)
}

pub(super) async fn send_invitation(s: &PgStore, cmd: SendInvitation) -> StoreResult<SendOutcome> {
    in_tx!(s, |tx| rules::send_in_tx(tx, &cmd).await)
}

pub(super) async fn invitation(
    s: &PgStore,
    id: InvitationId,
) -> StoreResult<Option<InvitationRecord>> {
    read!(s, |c| rules::invitation_by_id(c, id).await)
}

pub(super) async fn act(
    s: &PgStore,
    id: InvitationId,
    actor: MemberId,
    action: Action,
    policy: ActPolicy,
    at: Timestamp,
) -> StoreResult<Acted> {
    in_tx!(s, |tx| rules::act_in_tx(tx, id, actor, action, policy, at)
        .await)
}

pub(super) async fn received(
    s: &PgStore,
    member: MemberId,
    before: Option<InvitationId>,
    limit: u32,
) -> StoreResult<Vec<InvitationRecord>> {
    let sql = format!(
        "SELECT {INVITATION_COLS} FROM invitations
          WHERE recipient_id = $1 AND state = 'pending' AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    read!(s, |c| {
        let rows = c
            .query(&sql, &[&member.0, &before_id(before), &i64::from(limit)])
            .await?;
        invitation_rows(&rows)
    })
}

pub(super) async fn sent(
    s: &PgStore,
    member: MemberId,
    created_by: Option<Timestamp>,
    before: Option<InvitationId>,
    limit: u32,
) -> StoreResult<Vec<InvitationRecord>> {
    let sql = format!(
        "SELECT {INVITATION_COLS} FROM invitations
          WHERE sender_id = $1 AND state = 'pending' AND created_at <= $2 AND id < $3
          ORDER BY id DESC LIMIT $4"
    );
    let created_by = created_by.map_or(i64::MAX, |t| t.0);
    read!(s, |c| {
        let rows = c
            .query(
                &sql,
                &[
                    &member.0,
                    &created_by,
                    &before_id(before),
                    &i64::from(limit),
                ],
            )
            .await?;
        invitation_rows(&rows)
    })
}

/// Withdraws every pending invitation `sender` sent by `created_by` (or, `dry_run`, counts them).
/// Each one is an ordinary withdrawal, as the domain plans it. The sender is locked first, so an
/// answer to one of them runs before or after, never in between.
pub(super) async fn withdraw_older(
    s: &PgStore,
    sender: MemberId,
    created_by: Timestamp,
    dry_run: bool,
    policy: ActPolicy,
    at: Timestamp,
) -> StoreResult<u64> {
    if dry_run {
        return read!(s, |c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM invitations WHERE sender_id = $1 AND state = 'pending' AND created_at <= $2",
                    &[&sender.0, &created_by.0],
                )
                .await?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        });
    }
    in_tx!(s, |tx| {
        let withdrawing = facts::withdrawing(tx, sender, created_by).await?;
        let planned = rapport_domain::plan::plan_withdraw_all(&withdrawing, &policy, at);
        plan::execute(tx, &planned).await?;
        Ok(withdrawing.len() as u64)
    })
}

pub(super) async fn pending_between(
    s: &PgStore,
    a: MemberId,
    b: MemberId,
) -> StoreResult<Option<InvitationRecord>> {
    read!(s, |c| rules::pending_between(c, a, b).await)
}

/// The pending invitations between `viewer` and any of `others`, either way.
pub(super) async fn pending_with(
    s: &PgStore,
    viewer: MemberId,
    others: Vec<MemberId>,
) -> StoreResult<Vec<InvitationRecord>> {
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {INVITATION_COLS} FROM invitations
          WHERE state = 'pending' AND sender_id = $1 AND recipient_id = ANY($2)
         UNION ALL
         SELECT {INVITATION_COLS} FROM invitations
          WHERE state = 'pending' AND recipient_id = $1 AND sender_id = ANY($2)"
    );
    let others = ids_of(&others);
    read!(s, |c| {
        let rows = c.query(&sql, &[&viewer.0, &others]).await?;
        invitation_rows(&rows)
    })
}

/// The members `viewer` has a pending invitation with, or ignored with a reason either way: never
/// suggested to them.
pub(super) async fn not_to_suggest(s: &PgStore, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
    read!(s, |c| {
        Ok(c.query(
            "SELECT recipient_id FROM invitations
                  WHERE sender_id = $1 AND (state = 'pending' OR ignore_reason IS NOT NULL)
                 UNION
                 SELECT sender_id FROM invitations
                  WHERE recipient_id = $1 AND (state = 'pending' OR ignore_reason IS NOT NULL)",
            &[&viewer.0],
        )
        .await?
        .iter()
        .map(|r| MemberId(r.get(0)))
        .collect())
    })
}

pub(super) async fn all_sent(s: &PgStore, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
    let sql = format!("SELECT {INVITATION_COLS} FROM invitations WHERE sender_id = $1 ORDER BY id");
    read!(s, |c| invitation_rows(&c.query(&sql, &[&member.0]).await?))
}

pub(super) async fn all_received(
    s: &PgStore,
    member: MemberId,
) -> StoreResult<Vec<InvitationRecord>> {
    let sql =
        format!("SELECT {INVITATION_COLS} FROM invitations WHERE recipient_id = $1 ORDER BY id");
    read!(s, |c| invitation_rows(&c.query(&sql, &[&member.0]).await?))
}

/// Expires the pending invitations sent by `created_by`, at most [`SWEEP_BATCH`] per call, and
/// reviews the standing of their senders (an expiry counts against the acceptance rate), as the
/// domain plans it (see [`facts::expiry`] for the locking: each expired invitation is followed
/// up once, whichever replicas sweep together).
pub(super) async fn expire_pending(
    s: &PgStore,
    created_by: Timestamp,
    at: Timestamp,
) -> StoreResult<u64> {
    in_tx!(s, |tx| {
        let Some(f) = facts::expiry(tx, created_by, at, SWEEP_BATCH).await? else {
            return Ok(0);
        };
        plan::execute(tx, &rapport_domain::plan::plan_expiry(&f, at)).await?;
        Ok(f.expiring.len() as u64)
    })
}

/// Reminds the recipients of invitations whose next reminder is due, at most [`REMINDER_BATCH`]
/// per call (see [`facts::due_reminders`]: each due invitation is taken by one sweep only).
pub(super) async fn send_reminders(
    s: &PgStore,
    offsets: Vec<std::time::Duration>,
    now: Timestamp,
) -> StoreResult<u64> {
    in_tx!(s, |tx| {
        let due = facts::due_reminders(tx, now, REMINDER_BATCH).await?;
        let (planned, sent) = rapport_domain::plan::plan_reminders(&due, &offsets, now);
        plan::execute(tx, &planned).await?;
        Ok(sent)
    })
}
