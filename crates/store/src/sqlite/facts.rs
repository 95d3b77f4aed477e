//! The embedded store's facts for the writes other than a send or an action (moderation,
//! account status, closing, blocking, a connection removed, the sweeps), read by prepared
//! statements inside the writer's transaction. The domain makes the plan of them
//! (`rapport_domain::plan`) and [`super::plan::execute`] carries it out; nothing here decides.

use super::notices;
use super::plan::{count, exists, restricted_until, review_facts};
use super::rules::pending_between;
use crate::*;
use rapport_domain::plan::{
    AccountStatus, BlockFacts, CloseFacts, ClosedInvitation, DueReminder, EndedRestriction,
    Expiring, ExpiryFacts, LiftFacts, ReportFacts, RestrictFacts, SenderFacts, StatusFacts,
    Withdrawing,
};
use rapport_domain::NotificationPrefs;
use rusqlite::{params, Connection, OptionalExtension};

/// Has the member an account (neither missing nor closed)?
fn is_open(c: &Connection, member: MemberId) -> rusqlite::Result<bool> {
    exists(
        c,
        "SELECT 1 FROM members WHERE id = ?1 AND status <> 'closed'",
        [member.0],
    )
}

/// The member's notification preferences (the defaults when none are stored or no such member).
fn prefs(c: &Connection, member: MemberId) -> rusqlite::Result<NotificationPrefs> {
    notices::prefs_of(c, member)
}

/// How many restrictions the member ever had.
fn restrictions_before(c: &Connection, member: MemberId) -> rusqlite::Result<u32> {
    c.prepare_cached("SELECT count(*) FROM restrictions WHERE member_id = ?1")?
        .query_row([member.0], |r| r.get(0).map(count))
}

/// The facts of a moderator's restriction of `member`.
pub(super) fn restrict(c: &Connection, member: MemberId) -> rusqlite::Result<RestrictFacts> {
    Ok(RestrictFacts {
        open: is_open(c, member)?,
        prefs: prefs(c, member)?,
        restrictions_before: restrictions_before(c, member)?,
    })
}

/// The facts of lifting `member`'s restriction at `at`.
pub(super) fn lift(c: &Connection, member: MemberId, at: Timestamp) -> rusqlite::Result<LiftFacts> {
    Ok(LiftFacts {
        restricted: restricted_until(c, member, at)?.is_some(),
        prefs: prefs(c, member)?,
    })
}

/// The facts of resolving report `id` with `action`; `None` when there is no such report.
pub(super) fn report(
    c: &Connection,
    id: i64,
    action: Resolution,
    at: Timestamp,
) -> rusqlite::Result<Option<ReportFacts>> {
    let Some((reported, open)) = c
        .prepare_cached("SELECT reported_id, status = 'open' FROM reports WHERE id = ?1")?
        .query_row([id], |r| Ok((MemberId(r.get(0)?), r.get(1)?)))
        .optional()?
    else {
        return Ok(None);
    };
    let status = match action {
        Resolution::Suspend => status(c, reported)?,
        _ => None,
    };
    Ok(Some(ReportFacts {
        report: id,
        open,
        reported,
        prefs: prefs(c, reported)?,
        restricted_until: restricted_until(c, reported, at)?,
        restrictions_before: restrictions_before(c, reported)?,
        status,
    }))
}

/// The pending invitations `member` sent or received, by id.
fn pending_of(c: &Connection, member: MemberId) -> rusqlite::Result<Vec<ClosedInvitation>> {
    c.prepare_cached(
        "SELECT id, sender_id, recipient_id FROM invitations
          WHERE state = 'pending' AND (sender_id = ?1 OR recipient_id = ?1) ORDER BY id",
    )?
    .query_map([member.0], |r| {
        Ok(ClosedInvitation {
            id: InvitationId(r.get(0)?),
            sender: MemberId(r.get(1)?),
            recipient: MemberId(r.get(2)?),
        })
    })?
    .collect()
}

/// The facts of a status change of `member`; `None` when there is no such member.
pub(super) fn status(c: &Connection, member: MemberId) -> rusqlite::Result<Option<StatusFacts>> {
    let Some(status) = c
        .prepare_cached("SELECT status FROM members WHERE id = ?1")?
        .query_row([member.0], |r| r.get::<_, String>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let active_connections = c
        .prepare_cached(
            "SELECT c.other_id FROM connections c JOIN members m ON m.id = c.other_id
              WHERE c.member_id = ?1 AND m.status = 'active'",
        )?
        .query_map([member.0], |r| Ok(MemberId(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(StatusFacts {
        member,
        status: AccountStatus::parse(&status),
        active_connections,
        pending: pending_of(c, member)?,
    }))
}

/// The facts of closing `member`'s account.
pub(super) fn close(c: &Connection, member: MemberId) -> rusqlite::Result<CloseFacts> {
    Ok(CloseFacts {
        open: is_open(c, member)?,
        pending: pending_of(c, member)?,
        connections: c
            .prepare_cached("SELECT other_id FROM connections WHERE member_id = ?1")?
            .query_map([member.0], |r| Ok(MemberId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?,
    })
}

/// Are `a` and `b` connected?
pub(super) fn connected(c: &Connection, a: MemberId, b: MemberId) -> rusqlite::Result<bool> {
    exists(
        c,
        "SELECT 1 FROM connections WHERE member_id = ?1 AND other_id = ?2",
        [a.0, b.0],
    )
}

/// The facts of a block between `a` and `b`.
pub(super) fn block(c: &Connection, a: MemberId, b: MemberId) -> rusqlite::Result<BlockFacts> {
    Ok(BlockFacts {
        pending: pending_between(c, a, b)?.map(|p| ClosedInvitation {
            id: p.id,
            sender: p.sender,
            recipient: p.recipient,
        }),
        connected: connected(c, a, b)?,
    })
}

/// The batch of pending invitations sent by `created_by` that an expiry sweep ends (at most a
/// thousand, so a long backlog never holds the writer for long), and each of their senders.
pub(super) fn expiry(
    c: &Connection,
    created_by: Timestamp,
    at: Timestamp,
) -> rusqlite::Result<ExpiryFacts> {
    let expiring: Vec<Expiring> = c
        .prepare_cached(
            "SELECT id, sender_id, recipient_id, created_at FROM invitations
              WHERE state = 'pending' AND created_at <= ?1 LIMIT 1000",
        )?
        .query_map([created_by.0], |r| {
            Ok(Expiring {
                invitation: ClosedInvitation {
                    id: InvitationId(r.get(0)?),
                    sender: MemberId(r.get(1)?),
                    recipient: MemberId(r.get(2)?),
                },
                created_at: Timestamp(r.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let senders = rapport_domain::plan::senders_of(&expiring)
        .into_iter()
        .map(|member| {
            Ok(SenderFacts {
                member,
                prefs: prefs(c, member)?,
                restricted_until: restricted_until(c, member, at)?,
                review: review_facts(c, member, at)?,
            })
        })
        .collect::<rusqlite::Result<_>>()?;
    Ok(ExpiryFacts { expiring, senders })
}

/// The invitations whose next reminder is due at `now` (at most `limit`).
pub(super) fn due_reminders(
    c: &Connection,
    now: Timestamp,
    limit: u32,
) -> rusqlite::Result<Vec<DueReminder>> {
    c.prepare_cached(
        "SELECT i.id, i.sender_id, i.recipient_id, i.reminders_sent, i.created_at,
                i.state = 'pending',
                EXISTS (SELECT 1 FROM blocks b
                         WHERE (b.blocker_id = i.sender_id AND b.blocked_id = i.recipient_id)
                            OR (b.blocker_id = i.recipient_id AND b.blocked_id = i.sender_id)),
                m.notification_prefs
           FROM invitations i LEFT JOIN members m ON m.id = i.recipient_id
          WHERE i.next_reminder_at <= ?1 ORDER BY i.next_reminder_at LIMIT ?2",
    )?
    .query_map(params![now.0, limit], |r| {
        Ok(DueReminder {
            id: InvitationId(r.get(0)?),
            sender: MemberId(r.get(1)?),
            recipient: MemberId(r.get(2)?),
            sent: count(r.get(3)?),
            created_at: Timestamp(r.get(4)?),
            pending: r.get(5)?,
            blocked: r.get(6)?,
            recipient_prefs: NotificationPrefs::decode(r.get::<_, Option<String>>(7)?.as_deref()),
        })
    })?
    .collect()
}

/// The restrictions that ran out by `now` and whose end nobody was told of yet (at most a
/// thousand), with whether their member is under another one.
pub(super) fn ended_restrictions(
    c: &Connection,
    now: Timestamp,
) -> rusqlite::Result<Vec<EndedRestriction>> {
    c.prepare_cached(
        "SELECT r.id, r.member_id,
                EXISTS (SELECT 1 FROM restrictions x
                         WHERE x.member_id = r.member_id AND x.until > ?1 AND x.lifted_at IS NULL),
                m.notification_prefs
           FROM restrictions r LEFT JOIN members m ON m.id = r.member_id
          WHERE r.end_noticed = 0 AND r.until <= ?1 ORDER BY r.id LIMIT 1000",
    )?
    .query_map([now.0], |r| {
        Ok(EndedRestriction {
            restriction: r.get(0)?,
            member: MemberId(r.get(1)?),
            still_restricted: r.get(2)?,
            prefs: NotificationPrefs::decode(r.get::<_, Option<String>>(3)?.as_deref()),
        })
    })?
    .collect()
}

/// The pending invitations `sender` sent by `created_by`, which a bulk withdrawal ends.
pub(super) fn withdrawing(
    c: &Connection,
    sender: MemberId,
    created_by: Timestamp,
) -> rusqlite::Result<Vec<Withdrawing>> {
    c.prepare_cached(
        "SELECT i.id, i.recipient_id,
                EXISTS (SELECT 1 FROM blocks b
                         WHERE (b.blocker_id = i.sender_id AND b.blocked_id = i.recipient_id)
                            OR (b.blocker_id = i.recipient_id AND b.blocked_id = i.sender_id)),
                m.notification_prefs
           FROM invitations i LEFT JOIN members m ON m.id = i.recipient_id
          WHERE i.sender_id = ?1 AND i.state = 'pending' AND i.created_at <= ?2 ORDER BY i.id",
    )?
    .query_map(params![sender.0, created_by.0], |r| {
        Ok(Withdrawing {
            invitation: ClosedInvitation {
                id: InvitationId(r.get(0)?),
                sender,
                recipient: MemberId(r.get(1)?),
            },
            blocked: r.get(2)?,
            recipient_prefs: NotificationPrefs::decode(r.get::<_, Option<String>>(3)?.as_deref()),
        })
    })?
    .collect()
}
