//! Standing: restrictions on sending (by the rules or by moderators), spam reports and their
//! resolution, and telling members when a restriction ends.

use super::accounts::open_member_locked;
use super::*;
use crate::*;
use rapport_domain::standing::RestrictionReason;

pub(super) async fn active_restriction(
    s: &PgStore,
    member: MemberId,
    now: Timestamp,
) -> StoreResult<Option<RestrictionRecord>> {
    read!(s, |c| rules::active_restriction(c, member, now).await)
}

pub(super) async fn restrict(
    s: &PgStore,
    member: MemberId,
    until: Timestamp,
    at: Timestamp,
) -> StoreResult<()> {
    in_tx!(s, |tx| {
        open_member_locked(tx, member).await?;
        // A moderator's restriction replaces whatever is in force.
        tx.execute(
            "UPDATE restrictions SET lifted_at = $2, end_noticed = true
              WHERE member_id = $1 AND until > $2 AND lifted_at IS NULL",
            &[&member.0, &at.0],
        )
        .await?;
        let previous: i64 = tx
            .query_one(
                "SELECT count(*) FROM restrictions WHERE member_id = $1",
                &[&member.0],
            )
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO restrictions (member_id, level, reason, source, starts_at, until)
             VALUES ($1, $2, 'moderation', 'moderator', $3, $4)",
            &[&member.0, &(previous + 1).min(3), &at.0, &until.0],
        )
        .await?;
        notices::restriction_applied(tx, member, "moderation", until, at).await?;
        Ok(())
    })
}

pub(super) async fn lift_restriction(
    s: &PgStore,
    member: MemberId,
    at: Timestamp,
) -> StoreResult<bool> {
    in_tx!(s, |tx| {
        lock_members(tx, &[member]).await?;
        let n = tx
            .execute(
                "UPDATE restrictions SET lifted_at = $2, end_noticed = true
                  WHERE member_id = $1 AND until > $2 AND lifted_at IS NULL",
                &[&member.0, &at.0],
            )
            .await?;
        if n > 0 {
            notices::restriction_ended(tx, member, at).await?;
        }
        Ok(n > 0)
    })
}

pub(super) async fn open_reports(s: &PgStore, limit: u32) -> StoreResult<Vec<ReportRecord>> {
    read!(s, |c| {
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

pub(super) async fn resolve_report(
    s: &PgStore,
    id: i64,
    action: Resolution,
    by: MemberId,
    at: Timestamp,
) -> StoreResult<()> {
    let status = match action {
        Resolution::Dismiss => "dismissed",
        Resolution::Restrict => "restricted",
        Resolution::Suspend => "suspended",
    };
    in_tx!(s, |tx| {
        let reported: i64 = tx
            .query_opt(
                "SELECT reported_id FROM reports WHERE id = $1 AND status = 'open'",
                &[&id],
            )
            .await?
            .ok_or(RuleError::NotFound)?
            .get(0);
        let reported = MemberId(reported);
        lock_members(tx, &[reported]).await?;
        // Resolved by someone else while this waited for the lock: the report is no longer open,
        // as if it had been resolved first.
        if tx
            .execute(
                "UPDATE reports SET status = $2, resolved_at = $3, resolved_by = $4
                  WHERE id = $1 AND status = 'open'",
                &[&id, &status, &at.0, &by.0],
            )
            .await?
            == 0
        {
            return Err(RuleError::NotFound.into());
        }
        match action {
            Resolution::Dismiss => {}
            Resolution::Restrict => {
                rules::apply_restriction(tx, reported, RestrictionReason::Moderation, at).await?
            }
            Resolution::Suspend => {
                rules::change_status(tx, reported, AccountStatus::Suspended, at).await?;
            }
        }
        Ok(())
    })
}

pub(super) async fn end_restrictions(s: &PgStore, now: Timestamp) -> StoreResult<u64> {
    in_tx!(s, |tx| notices::end_restrictions(tx, now).await)
}
