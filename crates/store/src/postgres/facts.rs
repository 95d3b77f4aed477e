//! The facts of the rarer writes (moderation, account status, closing, blocking, a connection
//! removed, a bulk withdrawal, the sweeps), read by the PostgreSQL store with a few plain
//! statements inside the write's transaction, after the members concerned are locked
//! ([`lock_members`], in id order). In READ
//! COMMITTED each statement sees what committed before it started, so facts read after the locks
//! are the facts as they are now. The plans are made by the domain and written by
//! [`super::plan::execute`]; nothing here decides.

use super::*;
use crate::Resolution;
use rapport_domain::plan::{
    AccountStatus, BlockFacts, CloseFacts, ClosedInvitation, DueReminder, EndedRestriction,
    Expiring, ExpiryFacts, LiftFacts, ReportFacts, RestrictFacts, ReviewFacts, SenderFacts,
    StatusFacts, Withdrawing,
};
use rapport_domain::standing::{self, Standing};

/// Has the member an account (neither missing nor closed)?
async fn is_open(tx: &Tx, member: MemberId) -> TxResult<bool> {
    tx.exists(
        "SELECT 1 FROM members WHERE id = $1 AND status <> 'closed'",
        &[&member.0],
    )
    .await
}

/// How many restrictions the member ever had.
async fn restrictions_before(tx: &Tx, member: MemberId) -> TxResult<u32> {
    let n: i64 = tx
        .query_one(
            "SELECT count(*) FROM restrictions WHERE member_id = $1",
            &[&member.0],
        )
        .await?
        .get(0);
    Ok(rules::count_u32(n))
}

/// When the member's restriction in force at `now` ends (the one lasting longest), if any.
async fn restricted_until(
    tx: &Tx,
    member: MemberId,
    now: Timestamp,
) -> TxResult<Option<Timestamp>> {
    Ok(rules::active_restriction(tx, member, now)
        .await?
        .map(|r| r.until))
}

/// Locks `member` and reads the facts of a moderator's restriction of them.
pub(super) async fn restrict(tx: &Tx, member: MemberId) -> TxResult<RestrictFacts> {
    lock_members(tx, &[member]).await?;
    Ok(RestrictFacts {
        open: is_open(tx, member).await?,
        prefs: notices::prefs_of(tx, member).await?,
        restrictions_before: restrictions_before(tx, member).await?,
    })
}

/// Locks `member` and reads the facts of lifting their restriction at `at`.
pub(super) async fn lift(tx: &Tx, member: MemberId, at: Timestamp) -> TxResult<LiftFacts> {
    lock_members(tx, &[member]).await?;
    Ok(LiftFacts {
        restricted: restricted_until(tx, member, at).await?.is_some(),
        prefs: notices::prefs_of(tx, member).await?,
    })
}

/// Locks the reported member (and, to suspend them, the senders of their pending invitations)
/// and reads the facts of resolving report `id`; `None` when there is no such report.
pub(super) async fn report(
    tx: &Tx,
    id: i64,
    action: Resolution,
    at: Timestamp,
) -> TxResult<Option<ReportFacts>> {
    let Some(row) = tx
        .query_opt("SELECT reported_id FROM reports WHERE id = $1", &[&id])
        .await?
    else {
        return Ok(None);
    };
    let reported = MemberId(row.get(0));
    lock_members(tx, &[reported]).await?;
    let status = match action {
        Resolution::Suspend => status(tx, reported).await?,
        _ => None,
    };
    // Resolved by someone else while this waited for the lock: no longer open.
    let open = tx
        .exists(
            "SELECT 1 FROM reports WHERE id = $1 AND status = 'open' FOR UPDATE",
            &[&id],
        )
        .await?;
    Ok(Some(ReportFacts {
        report: id,
        open,
        reported,
        prefs: notices::prefs_of(tx, reported).await?,
        restricted_until: restricted_until(tx, reported, at).await?,
        restrictions_before: restrictions_before(tx, reported).await?,
        status,
    }))
}

/// Locks the senders of `member`'s pending invitations (whose pending counts a cancellation
/// changes), in id order, and reads those invitations as they are then. The caller holds
/// `member`'s lock.
async fn pending_of(tx: &Tx, member: MemberId) -> TxResult<Vec<ClosedInvitation>> {
    const PENDING: &str = "SELECT id, sender_id, recipient_id FROM invitations
                            WHERE state = 'pending' AND (sender_id = $1 OR recipient_id = $1)
                            ORDER BY id";
    let mut rows = tx.query(PENDING, &[&member.0]).await?;
    let senders: Vec<MemberId> = rows
        .iter()
        .map(|r| MemberId(r.get(1)))
        .filter(|s| *s != member)
        .collect();
    // Every write that adds one of these invitations, or ends one `member` sent, holds `member`;
    // one sent to them may be ended by a write holding only its sender (an expiry, a bulk
    // withdrawal): so they are read again once their senders are held too.
    if !senders.is_empty() {
        lock_members(tx, &senders).await?;
        rows = tx.query(PENDING, &[&member.0]).await?;
    }
    Ok(rows
        .iter()
        .map(|r| ClosedInvitation {
            id: InvitationId(r.get(0)),
            sender: MemberId(r.get(1)),
            recipient: MemberId(r.get(2)),
        })
        .collect())
}

/// Reads the facts of a status change of `member` (locked by the caller), after locking the
/// senders of their pending invitations; `None` when there is no such member.
pub(super) async fn status(tx: &Tx, member: MemberId) -> TxResult<Option<StatusFacts>> {
    let Some(row) = tx
        .query_opt("SELECT status FROM members WHERE id = $1", &[&member.0])
        .await?
    else {
        return Ok(None);
    };
    let status = AccountStatus::parse(row.get(0));
    let pending = pending_of(tx, member).await?;
    let active_connections = tx
        .query(
            "SELECT c.other_id FROM connections c JOIN members m ON m.id = c.other_id
              WHERE c.member_id = $1 AND m.status = 'active'",
            &[&member.0],
        )
        .await?
        .iter()
        .map(|r| MemberId(r.get(0)))
        .collect();
    Ok(Some(StatusFacts {
        member,
        status,
        active_connections,
        pending,
    }))
}

/// Reads the facts of closing `member`'s account (locked by the caller).
pub(super) async fn close(tx: &Tx, member: MemberId) -> TxResult<CloseFacts> {
    Ok(CloseFacts {
        open: is_open(tx, member).await?,
        pending: pending_of(tx, member).await?,
        connections: tx
            .query(
                "SELECT other_id FROM connections WHERE member_id = $1",
                &[&member.0],
            )
            .await?
            .iter()
            .map(|r| MemberId(r.get(0)))
            .collect(),
    })
}

/// Are `a` and `b` connected?
pub(super) async fn connected(tx: &Tx, a: MemberId, b: MemberId) -> TxResult<bool> {
    tx.exists(
        "SELECT 1 FROM connections WHERE member_id = $1 AND other_id = $2",
        &[&a.0, &b.0],
    )
    .await
}

/// Reads the facts of a block between `a` and `b` (both locked by the caller).
pub(super) async fn block(tx: &Tx, a: MemberId, b: MemberId) -> TxResult<BlockFacts> {
    Ok(BlockFacts {
        pending: rules::pending_between(tx, a, b)
            .await?
            .map(|p| ClosedInvitation {
                id: p.id,
                sender: p.sender,
                recipient: p.recipient,
            }),
        connected: connected(tx, a, b).await?,
    })
}

/// The batch of pending invitations sent by `created_by` that an expiry sweep ends (at most
/// `batch`), and each of their senders. The senders are locked first, in id order like every
/// write, and only then are the invitations read again, those still pending: so an expiry never
/// deadlocks with an answer (which holds the members and waits for the invitation), a sweep on
/// another replica finds the batch already moved, and each expired invitation is followed up
/// once. `None` when nothing is due.
pub(super) async fn expiry(
    tx: &Tx,
    created_by: Timestamp,
    at: Timestamp,
    batch: i64,
) -> TxResult<Option<ExpiryFacts>> {
    let candidates = tx
        .query(
            "SELECT id, sender_id FROM invitations
              WHERE state = 'pending' AND created_at <= $1 ORDER BY created_at LIMIT $2",
            &[&created_by.0, &batch],
        )
        .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = candidates.iter().map(|r| r.get(0)).collect();
    let senders: Vec<MemberId> = candidates.iter().map(|r| MemberId(r.get(1))).collect();
    lock_members(tx, &senders).await?;
    let expiring: Vec<Expiring> = tx
        .query(
            "SELECT id, sender_id, recipient_id, created_at FROM invitations
              WHERE id = ANY($1) AND state = 'pending' ORDER BY id",
            &[&ids],
        )
        .await?
        .iter()
        .map(|r| Expiring {
            invitation: ClosedInvitation {
                id: InvitationId(r.get(0)),
                sender: MemberId(r.get(1)),
                recipient: MemberId(r.get(2)),
            },
            created_at: Timestamp(r.get(3)),
        })
        .collect();
    let senders = ids_of(&rapport_domain::plan::senders_of(&expiring));
    let senders = tx
        .query(
            "SELECT m.id, m.notification_prefs, s.ignored, s.decided, s.accepted, s.restrictions,
                    (SELECT max(x.until) FROM restrictions x
                      WHERE x.member_id = m.id AND x.until > $3 AND x.lifted_at IS NULL)
               FROM members m, LATERAL rapport_standing(m.id, $2) s
              WHERE m.id = ANY($1)",
            &[&senders, &at.minus(standing::WINDOW).0, &at.0],
        )
        .await?
        .iter()
        .map(|r| SenderFacts {
            member: MemberId(r.get(0)),
            prefs: NotificationPrefs::decode(r.get::<_, Option<&str>>(1)),
            restricted_until: r.get::<_, Option<i64>>(6).map(Timestamp),
            review: ReviewFacts {
                standing: Standing {
                    ignored_with_reason: rules::count_u32(r.get(2)),
                    decided: rules::count_u32(r.get(3)),
                    accepted: rules::count_u32(r.get(4)),
                    withdrawals_to_one_person: 0,
                },
                restrictions_before: rules::count_u32(r.get(5)),
            },
        })
        .collect();
    Ok(Some(ExpiryFacts { expiring, senders }))
}

/// The invitations whose next reminder is due at `now` (at most `limit`), locked as they are
/// read, skipping any another transaction holds: a sweep on another replica, or an answer being
/// written, which moves `next_reminder_at` or the state so that the next sweep sees the
/// invitation as it is then. So each reminder goes out once, and never for an invitation
/// answered meanwhile.
pub(super) async fn due_reminders(
    tx: &Tx,
    now: Timestamp,
    limit: u32,
) -> TxResult<Vec<DueReminder>> {
    Ok(tx
        .query(
            "SELECT i.id, i.sender_id, i.recipient_id, i.reminders_sent, i.created_at,
                    i.state = 'pending',
                    EXISTS (SELECT 1 FROM blocks b
                             WHERE (b.blocker_id = i.sender_id AND b.blocked_id = i.recipient_id)
                                OR (b.blocker_id = i.recipient_id AND b.blocked_id = i.sender_id)),
                    m.notification_prefs
               FROM invitations i LEFT JOIN members m ON m.id = i.recipient_id
              WHERE i.next_reminder_at <= $1
              ORDER BY i.next_reminder_at LIMIT $2
                FOR UPDATE OF i SKIP LOCKED",
            &[&now.0, &i64::from(limit)],
        )
        .await?
        .iter()
        .map(|r| DueReminder {
            id: InvitationId(r.get(0)),
            sender: MemberId(r.get(1)),
            recipient: MemberId(r.get(2)),
            sent: rules::count_u32(r.get(3)),
            created_at: Timestamp(r.get(4)),
            pending: r.get(5),
            blocked: r.get(6),
            recipient_prefs: NotificationPrefs::decode(r.get::<_, Option<&str>>(7)),
        })
        .collect())
}

/// The restrictions that ran out by `now` and whose end nobody was told of yet (at most a
/// thousand), locked as they are read and skipping rows another sweep holds, so each end is told
/// once whichever replicas sweep together. Their members are locked next: a moderator or a rule
/// may be restricting one of them right now, and whether another restriction is in force is read
/// once that is done, so no "lifted" goes out under a new one.
pub(super) async fn ended_restrictions(tx: &Tx, now: Timestamp) -> TxResult<Vec<EndedRestriction>> {
    let ended: Vec<(i64, MemberId)> = tx
        .query(
            "SELECT id, member_id FROM restrictions WHERE NOT end_noticed AND until <= $1
              ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED",
            &[&now.0],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), MemberId(r.get(1))))
        .collect();
    if ended.is_empty() {
        return Ok(Vec::new());
    }
    let members: Vec<MemberId> = ended.iter().map(|(_, m)| *m).collect();
    lock_members(tx, &members).await?;
    let facts: HashMap<i64, (bool, NotificationPrefs)> = tx
        .query(
            "SELECT m.id,
                    EXISTS (SELECT 1 FROM restrictions x
                             WHERE x.member_id = m.id AND x.until > $2 AND x.lifted_at IS NULL),
                    m.notification_prefs
               FROM members m WHERE m.id = ANY($1)",
            &[&ids_of(&members), &now.0],
        )
        .await?
        .iter()
        .map(|r| {
            let prefs = NotificationPrefs::decode(r.get::<_, Option<&str>>(2));
            (r.get(0), (r.get(1), prefs))
        })
        .collect();
    Ok(ended
        .into_iter()
        .map(|(restriction, member)| {
            let (still_restricted, prefs) = facts.get(&member.0).cloned().unwrap_or_default();
            EndedRestriction {
                restriction,
                member,
                still_restricted,
                prefs,
            }
        })
        .collect())
}

/// Locks `sender` and reads the pending invitations they sent by `created_by`, which a bulk
/// withdrawal ends: an answer to one of them runs before or after, never in between.
pub(super) async fn withdrawing(
    tx: &Tx,
    sender: MemberId,
    created_by: Timestamp,
) -> TxResult<Vec<Withdrawing>> {
    lock_members(tx, &[sender]).await?;
    Ok(tx
        .query(
            "SELECT i.id, i.recipient_id,
                    EXISTS (SELECT 1 FROM blocks b
                             WHERE (b.blocker_id = i.sender_id AND b.blocked_id = i.recipient_id)
                                OR (b.blocker_id = i.recipient_id AND b.blocked_id = i.sender_id)),
                    m.notification_prefs
               FROM invitations i LEFT JOIN members m ON m.id = i.recipient_id
              WHERE i.sender_id = $1 AND i.state = 'pending' AND i.created_at <= $2
              ORDER BY i.id",
            &[&sender.0, &created_by.0],
        )
        .await?
        .iter()
        .map(|r| Withdrawing {
            invitation: ClosedInvitation {
                id: InvitationId(r.get(0)),
                sender,
                recipient: MemberId(r.get(1)),
            },
            blocked: r.get(2),
            recipient_prefs: NotificationPrefs::decode(r.get::<_, Option<&str>>(3)),
        })
        .collect())
}
