//! Standing: restrictions on sending (by the rules or by moderators), spam reports and their
//! resolution, and telling members when a restriction ends.

use super::rules::active_restriction;
use super::*;

#[async_trait]
impl StandingStore for SqliteStore {
    async fn active_restriction(
        &self,
        member: MemberId,
        now: Timestamp,
    ) -> StoreResult<Option<RestrictionRecord>> {
        self.read(move |c| active_restriction(c, member, now)).await
    }

    async fn restrict(&self, member: MemberId, until: Timestamp, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::restrict(tx.conn, member)?;
            let planned =
                rapport_domain::plan::plan_moderator_restriction(member, until, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }

    async fn lift_restriction(&self, member: MemberId, at: Timestamp) -> StoreResult<bool> {
        self.write(move |tx| {
            let facts = facts::lift(tx.conn, member, at)?;
            match rapport_domain::plan::plan_lift_restriction(member, &facts, at) {
                Some(planned) => plan::execute(tx, &planned).map(|_| true),
                None => Ok(false),
            }
        })
        .await
    }

    async fn open_reports(&self, limit: u32) -> StoreResult<Vec<ReportRecord>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT r.id, r.invitation_id, r.reporter_id, r.reported_id, i.note, r.created_at
                   FROM reports r JOIN invitations i ON i.id = r.invitation_id
                  WHERE r.status = 'open' ORDER BY r.id LIMIT ?1",
            )?
            .query_map([limit], |r| {
                Ok(ReportRecord {
                    id: r.get(0)?,
                    invitation: InvitationId(r.get(1)?),
                    reporter: MemberId(r.get(2)?),
                    reported: MemberId(r.get(3)?),
                    note: r.get(4)?,
                    created_at: Timestamp(r.get(5)?),
                })
            })?
            .collect()
        })
        .await
    }

    async fn resolve_report(
        &self,
        id: i64,
        action: Resolution,
        by: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::report(tx.conn, id, action, at)?.ok_or(RuleError::NotFound)?;
            let planned = rapport_domain::plan::plan_resolve_report(action, by, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }

    async fn end_restrictions(&self, now: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let ended = facts::ended_restrictions(tx.conn, now)?;
            let (planned, told) = rapport_domain::plan::plan_restrictions_ended(&ended, now);
            plan::execute(tx, &planned)?;
            Ok(told)
        })
        .await
    }

    async fn prune_wrong_emails(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM wrong_emails WHERE rowid IN (
                        SELECT rowid FROM wrong_emails WHERE at <= ?1 LIMIT ?2)",
                )?
                .execute(params![before.0, limit])?;
            Ok(n as u64)
        })
        .await
    }
}
