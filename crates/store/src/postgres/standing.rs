//! Standing: restrictions on sending (by the rules or by moderators), spam reports and their
//! resolution, and telling members when a restriction ends.

use super::*;
use crate::*;
use async_trait::async_trait;

#[async_trait]
impl StandingStore for PgStore {
    async fn active_restriction(
        &self,
        member: MemberId,
        now: Timestamp,
    ) -> StoreResult<Option<RestrictionRecord>> {
        read!(self, |c| rules::active_restriction(c, member, now).await)
    }

    /// A moderator restricts `member` until `until`, as the domain plans it.
    async fn restrict(&self, member: MemberId, until: Timestamp, at: Timestamp) -> StoreResult<()> {
        in_tx!(self, |tx| {
            let f = facts::restrict(tx, member).await?;
            let planned = rapport_domain::plan::plan_moderator_restriction(member, until, &f, at)?;
            plan::execute(tx, &planned).await?;
            Ok(())
        })
    }

    /// A moderator lifts `member`'s restriction in force, as the domain plans it; `false` when none
    /// is in force.
    async fn lift_restriction(&self, member: MemberId, at: Timestamp) -> StoreResult<bool> {
        in_tx!(self, |tx| {
            let f = facts::lift(tx, member, at).await?;
            match rapport_domain::plan::plan_lift_restriction(member, &f, at) {
                Some(planned) => plan::execute(tx, &planned).await.map(|_| true),
                None => Ok(false),
            }
        })
    }

    async fn open_reports(&self, limit: u32) -> StoreResult<Vec<ReportRecord>> {
        read!(self, |c| {
            let rows = c
                .query(
                    "SELECT r.id, r.invitation_id, r.reporter_id, r.reported_id, i.note, r.created_at
                       FROM reports r JOIN invitations i ON i.id = r.invitation_id
                      WHERE r.status = 'open' ORDER BY r.id LIMIT $1",
                    &[&i64::from(limit)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| ReportRecord {
                    id: r.get(0),
                    invitation: InvitationId(r.get(1)),
                    reporter: MemberId(r.get(2)),
                    reported: MemberId(r.get(3)),
                    note: r.get(4),
                    created_at: Timestamp(r.get(5)),
                })
                .collect())
        })
    }

    /// A moderator resolves report `id`, as the domain plans it. The reported member is locked
    /// before the report is read again: a report resolved meanwhile is not found.
    async fn resolve_report(
        &self,
        id: i64,
        action: Resolution,
        by: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            let f = facts::report(tx, id, action, at)
                .await?
                .ok_or(RuleError::NotFound)?;
            let planned = rapport_domain::plan::plan_resolve_report(action, by, &f, at)?;
            plan::execute(tx, &planned).await?;
            Ok(())
        })
    }

    async fn end_restrictions(&self, now: Timestamp) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            let ended = facts::ended_restrictions(tx, now).await?;
            let (planned, told) = rapport_domain::plan::plan_restrictions_ended(&ended, now);
            plan::execute(tx, &planned).await?;
            Ok(told)
        })
    }

    async fn prune_wrong_emails(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM wrong_emails WHERE ctid IN (
                    SELECT ctid FROM wrong_emails WHERE at <= $1 LIMIT $2)",
                &[&before.0, &i64::from(limit)],
            )
            .await
        })
    }
}
