//! Invitations: sending, answering and withdrawing them, the lists members see, and the sweeps
//! that expire them and remind their recipients.
//!
//! The steps shared with other areas live in [`super::rules`].

use super::rules::{act_in_tx, invitation_by_id, pending_between, send_in_tx, sent_window};
use super::*;

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn sent_since(
        &self,
        member: MemberId,
        since: Timestamp,
        cap: u32,
    ) -> StoreResult<SentWindow> {
        self.read(move |c| sent_window(c, member, since, cap)).await
    }

    async fn send_invitation(&self, cmd: SendInvitation) -> StoreResult<SendOutcome> {
        Ok(self.write(move |tx| send_in_tx(tx, cmd)).await??)
    }

    async fn invitation(&self, id: InvitationId) -> StoreResult<Option<InvitationRecord>> {
        self.read(move |c| invitation_by_id(c, id)).await
    }

    async fn act(
        &self,
        id: InvitationId,
        actor: MemberId,
        action: Action,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<Acted> {
        self.write(move |tx| act_in_tx(tx, id, actor, action, policy, at))
            .await
    }

    async fn received(
        &self,
        member: MemberId,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INVITATION_COLS} FROM invitations
                  WHERE recipient_id = ?1 AND state = 'pending' AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ))?
            .query_map(params![member.0, before.map_or(i64::MAX, |b| b.0), limit], invitation_row)?
            .collect()
        })
        .await
    }

    async fn sent(
        &self,
        member: MemberId,
        created_by: Option<Timestamp>,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INVITATION_COLS} FROM invitations
                  WHERE sender_id = ?1 AND state = 'pending' AND created_at <= ?2 AND id < ?3
                  ORDER BY id DESC LIMIT ?4"
            ))?
            .query_map(
                params![
                    member.0,
                    created_by.map_or(i64::MAX, |t| t.0),
                    before.map_or(i64::MAX, |b| b.0),
                    limit
                ],
                invitation_row,
            )?
            .collect()
        })
        .await
    }

    async fn withdraw_older(
        &self,
        sender: MemberId,
        created_by: Timestamp,
        dry_run: bool,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<u64> {
        if dry_run {
            return self
                .read(move |c| {
                    c.prepare_cached(
                        "SELECT count(*) FROM invitations WHERE sender_id = ?1 AND state = 'pending' AND created_at <= ?2",
                    )?
                    .query_row(params![sender.0, created_by.0], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                })
                .await;
        }
        self.write(move |tx| {
            let withdrawing = facts::withdrawing(tx.conn, sender, created_by)?;
            let planned = rapport_domain::plan::plan_withdraw_all(&withdrawing, &policy, at);
            plan::execute(tx, &planned)?;
            Ok(withdrawing.len() as u64)
        })
        .await
    }

    async fn pending_between(
        &self,
        a: MemberId,
        b: MemberId,
    ) -> StoreResult<Option<InvitationRecord>> {
        self.read(move |c| pending_between(c, a, b)).await
    }

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
              WHERE state = 'pending' AND sender_id = ?1 AND recipient_id IN (SELECT value FROM json_each(?2))
             UNION ALL
             SELECT {INVITATION_COLS} FROM invitations
              WHERE state = 'pending' AND recipient_id = ?1 AND sender_id IN (SELECT value FROM json_each(?2))"
        );
        let others = id_list(&others);
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(params![viewer.0, others], invitation_row)?
                .collect()
        })
        .await
    }

    async fn not_to_suggest(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT recipient_id FROM invitations
                  WHERE sender_id = ?1 AND (state = 'pending' OR ignore_reason IS NOT NULL)
                 UNION
                 SELECT sender_id FROM invitations
                  WHERE recipient_id = ?1 AND (state = 'pending' OR ignore_reason IS NOT NULL)",
            )?
            .query_map([viewer.0], |r| Ok(MemberId(r.get(0)?)))?
            .collect()
        })
        .await
    }

    async fn all_sent(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        let sql =
            format!("SELECT {INVITATION_COLS} FROM invitations WHERE sender_id = ?1 ORDER BY id");
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([member.0], invitation_row)?
                .collect()
        })
        .await
    }

    async fn all_received(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        let sql = format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE recipient_id = ?1 ORDER BY id"
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([member.0], invitation_row)?
                .collect()
        })
        .await
    }

    async fn expire_pending(&self, created_by: Timestamp, at: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let facts = facts::expiry(tx.conn, created_by, at)?;
            plan::execute(tx, &rapport_domain::plan::plan_expiry(&facts, at))?;
            Ok(facts.expiring.len() as u64)
        })
        .await
    }

    async fn send_reminders(
        &self,
        offsets: Vec<std::time::Duration>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let due = facts::due_reminders(tx.conn, now, 1000)?;
            let (planned, sent) = rapport_domain::plan::plan_reminders(&due, &offsets, now);
            plan::execute(tx, &planned)?;
            Ok(sent)
        })
        .await
    }
}
