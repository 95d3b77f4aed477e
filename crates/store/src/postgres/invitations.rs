//! Invitations: sending, answering and withdrawing them, the lists members see, and the sweeps
//! that expire them and remind their recipients.
//!
//! The rules themselves are shared with other areas and live in [`super::rules`]; the sweeps
//! change each invitation once, whichever replicas run them together (each acts only on the rows
//! its own `UPDATE … WHERE state = 'pending' … RETURNING` moved).

use super::rules;
use super::*;
use crate::*;
use async_trait::async_trait;

/// Invitations one sweep moves at most, so that a long backlog never holds its locks for long.
const SWEEP_BATCH: i64 = 1000;

/// Reminders one sweep sends at most.
const REMINDER_BATCH: u32 = 1000;

/// `before` as the exclusive upper bound of an id range (none: from the newest).
fn before_id(before: Option<InvitationId>) -> i64 {
    before.map_or(i64::MAX, |b| b.0)
}

#[async_trait]
impl InvitationStore for PgStore {
    async fn sent_since(
        &self,
        member: MemberId,
        since: Timestamp,
        cap: u32,
    ) -> StoreResult<SentWindow> {
        read!(self, |c| rules::sent_window(c, member, since, cap).await)
    }

    async fn send_invitation(&self, cmd: SendInvitation) -> StoreResult<SendOutcome> {
        Ok(in_tx!(self, |tx| rules::send_in_tx(tx, &cmd).await)??)
    }

    async fn invitation(&self, id: InvitationId) -> StoreResult<Option<InvitationRecord>> {
        read!(self, |c| rules::invitation_by_id(c, id).await)
    }

    async fn act(
        &self,
        id: InvitationId,
        actor: MemberId,
        action: Action,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<Acted> {
        in_tx!(self, |tx| rules::act_in_tx(
            tx, id, actor, action, policy, at
        )
        .await)
    }

    async fn received(
        &self,
        member: MemberId,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        let sql = format!(
            "SELECT {INVITATION_COLS} FROM invitations
              WHERE recipient_id = $1 AND state = 'pending' AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        read!(self, |c| {
            let rows = c
                .query(&sql, &[&member.0, &before_id(before), &i64::from(limit)])
                .await?;
            invitation_rows(&rows)
        })
    }

    async fn sent(
        &self,
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
        read!(self, |c| {
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

    /// Withdraws every pending invitation `sender` sent by `created_by` (or, `dry_run`, counts
    /// them). Each one is an ordinary withdrawal, as the domain plans it. The sender is locked
    /// first, so an answer to one of them runs before or after, never in between.
    async fn withdraw_older(
        &self,
        sender: MemberId,
        created_by: Timestamp,
        dry_run: bool,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<u64> {
        if dry_run {
            return read!(self, |c| {
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
        in_tx!(self, |tx| {
            let withdrawing = facts::withdrawing(tx, sender, created_by).await?;
            let planned = rapport_domain::plan::plan_withdraw_all(&withdrawing, &policy, at);
            plan::execute(tx, &planned).await?;
            Ok(withdrawing.len() as u64)
        })
    }

    async fn pending_between(
        &self,
        a: MemberId,
        b: MemberId,
    ) -> StoreResult<Option<InvitationRecord>> {
        read!(self, |c| rules::pending_between(c, a, b).await)
    }

    /// The pending invitations between `viewer` and any of `others`, either way.
    async fn pending_with(
        &self,
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
        read!(self, |c| {
            let rows = c.query(&sql, &[&viewer.0, &others]).await?;
            invitation_rows(&rows)
        })
    }

    /// The members `viewer` has a pending invitation with, or ignored with a reason either way:
    /// never suggested to them.
    async fn not_to_suggest(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        read!(self, |c| {
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

    async fn all_sent(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        let sql =
            format!("SELECT {INVITATION_COLS} FROM invitations WHERE sender_id = $1 ORDER BY id");
        read!(self, |c| invitation_rows(
            &c.query(&sql, &[&member.0]).await?
        ))
    }

    async fn all_received(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        let sql = format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE recipient_id = $1 ORDER BY id"
        );
        read!(self, |c| invitation_rows(
            &c.query(&sql, &[&member.0]).await?
        ))
    }

    /// Expires the pending invitations sent by `created_by`, at most [`SWEEP_BATCH`] per call, and
    /// reviews the standing of their senders (an expiry counts against the acceptance rate), as the
    /// domain plans it (see [`facts::expiry`] for the locking: each expired invitation is followed
    /// up once, whichever replicas sweep together).
    async fn expire_pending(&self, created_by: Timestamp, at: Timestamp) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            let Some(f) = facts::expiry(tx, created_by, at, SWEEP_BATCH).await? else {
                return Ok(0);
            };
            plan::execute(tx, &rapport_domain::plan::plan_expiry(&f, at)).await?;
            Ok(f.expiring.len() as u64)
        })
    }

    /// Reminds the recipients of invitations whose next reminder is due, at most [`REMINDER_BATCH`]
    /// per call (see [`facts::due_reminders`]: each due invitation is taken by one sweep only).
    async fn send_reminders(
        &self,
        offsets: Vec<std::time::Duration>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            let due = facts::due_reminders(tx, now, REMINDER_BATCH).await?;
            let (planned, sent) = rapport_domain::plan::plan_reminders(&due, &offsets, now);
            plan::execute(tx, &planned).await?;
            Ok(sent)
        })
    }
}
