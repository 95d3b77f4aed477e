//! The facts of the rarer writes (moderation, account status, closing, blocking, a connection
//! removed), read by the PostgreSQL store with a few plain statements inside the write's
//! transaction, after the members concerned are locked ([`lock_members`], in id order). In READ
//! COMMITTED each statement sees what committed before it started, so facts read after the locks
//! are the facts as they are now. The plans are made by the domain and written by
//! [`super::plan::execute`]; nothing here decides.

use super::*;
use crate::Resolution;
use rapport_domain::plan::{
    AccountStatus, BlockFacts, CloseFacts, ClosedInvitation, LiftFacts, ReportFacts, RestrictFacts,
    StatusFacts,
};

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
    Ok(tx
        .query_one(
            "SELECT max(until) FROM restrictions
              WHERE member_id = $1 AND until > $2 AND lifted_at IS NULL",
            &[&member.0, &now.0],
        )
        .await?
        .get::<_, Option<i64>>(0)
        .map(Timestamp))
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
    // Only writes that hold `member` add or end the invitations `member` sent; one to them may
    // have been answered or expired by a write holding its sender: read them again once held.
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
