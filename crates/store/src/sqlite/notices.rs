//! How the embedded store writes what a plan tells and appends, inside the write's transaction:
//! the notification and queued mail on the channels the plan chose, the traces removed for a
//! recipient, and the outbox event that live streams and webhooks are delivered from. Also here:
//! how the outbox's tables read back into records.

use super::writer::WriteTx;
pub(super) use crate::new_event::Event;
use crate::Change;
use rapport_domain::{
    Channels, EmailCadence, InvitationId, MemberId, NotificationKind, NotificationPrefs, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension};

/// Appends an event to the outbox.
pub(super) fn emit(tx: &mut WriteTx<'_>, e: Event<'_>, at: Timestamp) -> rusqlite::Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO events (type, invitation_id, a_id, b_id, notification_id, notified_id, data, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            e.kind,
            e.invitation.map(|i| i.0),
            e.a.map(|m| m.0),
            e.b.map(|m| m.0),
            e.notification.map(|n| n.0),
            e.notification.map(|n| n.1 .0),
            e.data,
            at.0
        ])?;
    tx.record(Change::Event);
    Ok(())
}

pub(super) fn prefs_of(c: &Connection, member: MemberId) -> rusqlite::Result<NotificationPrefs> {
    let stored: Option<Option<String>> = c
        .prepare_cached("SELECT notification_prefs FROM members WHERE id = ?1")?
        .query_row([member.0], |r| r.get(0))
        .optional()?;
    Ok(NotificationPrefs::decode(stored.flatten().as_deref()))
}

/// Writes what `channels` say: mail queued (at once or for a digest) and the in-app notification,
/// whose id is returned.
pub(super) fn deliver(
    c: &Connection,
    member: MemberId,
    kind: NotificationKind,
    actor: Option<MemberId>,
    invitation: Option<InvitationId>,
    channels: Channels,
    at: Timestamp,
) -> rusqlite::Result<Option<i64>> {
    if channels.email != EmailCadence::Off {
        c.prepare_cached(
            "INSERT INTO mail_queue (member_id, kind, cadence, actor_id, invitation_id, created_at, due_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            member.0,
            kind.as_str(),
            channels.email.as_str(),
            actor.map(|m| m.0),
            invitation.map(|i| i.0),
            at.0,
            at.0 + channels.email.delay_ms()
        ])?;
    }
    if !channels.in_app {
        return Ok(None);
    }
    c.prepare_cached(
        "INSERT INTO notifications (member_id, kind, actor_id, invitation_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        member.0,
        kind.as_str(),
        actor.map(|m| m.0),
        invitation.map(|i| i.0),
        at.0
    ])?;
    Ok(Some(c.last_insert_rowid()))
}

/// Removes every trace, for its recipient, of an invitation that is gone for them: its
/// "received" and reminder notifications and any mail about it not yet sent.
pub(super) fn forget_for_recipient(c: &Connection, id: InvitationId) -> rusqlite::Result<()> {
    c.prepare_cached(
        "DELETE FROM notifications WHERE invitation_id = ?1 AND kind IN ('invitation_received', 'invitation_reminder')",
    )?
    .execute([id.0])?;
    c.prepare_cached(
        "DELETE FROM mail_queue WHERE invitation_id = ?1 AND kind IN ('invitation_received', 'invitation_reminder')",
    )?
    .execute([id.0])?;
    Ok(())
}

// Reading back what the outbox and its consumers keep.

pub(super) const NOTIFICATION_COLS: &str =
    "id, member_id, kind, actor_id, invitation_id, created_at, read_at IS NOT NULL";

pub(super) fn notification_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<crate::NotificationRecord> {
    let kind: String = r.get(2)?;
    Ok(crate::NotificationRecord {
        id: r.get(0)?,
        member: MemberId(r.get(1)?),
        kind: NotificationKind::parse(&kind).unwrap_or(NotificationKind::InvitationReceived),
        actor: r.get::<_, Option<i64>>(3)?.map(MemberId),
        invitation: r.get::<_, Option<i64>>(4)?.map(InvitationId),
        created_at: Timestamp(r.get(5)?),
        read: r.get(6)?,
    })
}

pub(super) const EVENT_COLS: &str =
    "seq, type, invitation_id, a_id, b_id, notification_id, notified_id, data, created_at";

pub(super) fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::EventRecord> {
    let notification = match (r.get::<_, Option<i64>>(5)?, r.get::<_, Option<i64>>(6)?) {
        (Some(n), Some(m)) => Some((n, MemberId(m))),
        _ => None,
    };
    Ok(crate::EventRecord {
        seq: r.get(0)?,
        kind: r.get(1)?,
        invitation: r.get::<_, Option<i64>>(2)?.map(InvitationId),
        a: r.get::<_, Option<i64>>(3)?.map(MemberId),
        b: r.get::<_, Option<i64>>(4)?.map(MemberId),
        notification,
        data: r.get(7)?,
        created_at: Timestamp(r.get(8)?),
    })
}

pub(super) const MAIL_COLS: &str =
    "id, member_id, kind, cadence, actor_id, invitation_id, created_at";

pub(super) fn mail_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::MailItem> {
    let kind: String = r.get(2)?;
    let cadence: String = r.get(3)?;
    Ok(crate::MailItem {
        id: r.get(0)?,
        member: MemberId(r.get(1)?),
        kind: NotificationKind::parse(&kind).unwrap_or(NotificationKind::InvitationReceived),
        cadence: EmailCadence::parse(&cadence).unwrap_or(EmailCadence::Immediate),
        actor: r.get::<_, Option<i64>>(4)?.map(MemberId),
        invitation: r.get::<_, Option<i64>>(5)?.map(InvitationId),
        created_at: Timestamp(r.get(6)?),
    })
}

pub(super) const WEBHOOK_COLS: &str =
    "id, url, events, secret, created_at, disabled_at, disabled_reason";

pub(super) fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::WebhookRecord> {
    let events: String = r.get(2)?;
    Ok(crate::WebhookRecord {
        id: r.get(0)?,
        url: r.get(1)?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        secret: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        disabled_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        disabled_reason: r.get(6)?,
    })
}

pub(super) const DELIVERY_COLS: &str = "id, webhook_id, event_seq, msg_id, type, body, status, attempts, next_attempt_at, last_status, last_error, created_at, finished_at";

pub(super) fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::DeliveryRecord> {
    Ok(crate::DeliveryRecord {
        id: r.get(0)?,
        webhook: r.get(1)?,
        event_seq: r.get(2)?,
        msg_id: r.get(3)?,
        kind: r.get(4)?,
        body: r.get(5)?,
        status: r.get(6)?,
        attempts: r.get::<_, i64>(7)?.max(0) as u32,
        next_attempt_at: Timestamp(r.get(8)?),
        last_status: r.get::<_, Option<i64>>(9)?.map(|s| s.clamp(0, 999) as u16),
        last_error: r.get(10)?,
        created_at: Timestamp(r.get(11)?),
        finished_at: r.get::<_, Option<i64>>(12)?.map(Timestamp),
    })
}
