//! The outbox's tables as the PostgreSQL store reads them back: notifications, events, queued
//! mail, webhooks and deliveries into records, and a member's notification preferences (a fact
//! plans read). What a write tells and appends is the plan's, written by `rapport_apply`.

use super::*;
use crate::{DeliveryRecord, EventRecord, MailItem, NotificationRecord, WebhookRecord};
use rapport_domain::{EmailCadence, NotificationKind};

/// The notification preferences of `member` (the defaults when none are stored, or no such
/// member).
pub(super) async fn prefs_of(c: &Tx, member: MemberId) -> TxResult<NotificationPrefs> {
    let row = c
        .query_opt(
            "SELECT notification_prefs FROM members WHERE id = $1",
            &[&member.0],
        )
        .await?;
    let stored: Option<String> = row.and_then(|r| r.get::<_, Option<String>>(0));
    Ok(NotificationPrefs::decode(stored.as_deref()))
}

// Reading back what the outbox and its consumers keep.

pub(super) const NOTIFICATION_COLS: &str =
    "id, member_id, kind, actor_id, invitation_id, created_at, read_at IS NOT NULL";

/// A row of [`NOTIFICATION_COLS`] as a record.
pub(super) fn notification_row(r: &Row) -> NotificationRecord {
    NotificationRecord {
        id: r.get(0),
        member: MemberId(r.get(1)),
        kind: NotificationKind::parse(r.get::<_, &str>(2))
            .unwrap_or(NotificationKind::InvitationReceived),
        actor: r.get::<_, Option<i64>>(3).map(MemberId),
        invitation: r.get::<_, Option<i64>>(4).map(InvitationId),
        created_at: Timestamp(r.get(5)),
        read: r.get(6),
    }
}

/// Only numbered events are read back: `seq` is never NULL in what these columns are read from.
pub(super) const EVENT_COLS: &str =
    "seq, type, invitation_id, a_id, b_id, notification_id, notified_id, data, created_at";

/// A row of [`EVENT_COLS`] as a record.
pub(super) fn event_row(r: &Row) -> EventRecord {
    let notification = match (r.get::<_, Option<i64>>(5), r.get::<_, Option<i64>>(6)) {
        (Some(n), Some(m)) => Some((n, MemberId(m))),
        _ => None,
    };
    EventRecord {
        seq: r.get::<_, Option<i64>>(0).unwrap_or(0),
        kind: r.get(1),
        invitation: r.get::<_, Option<i64>>(2).map(InvitationId),
        a: r.get::<_, Option<i64>>(3).map(MemberId),
        b: r.get::<_, Option<i64>>(4).map(MemberId),
        notification,
        data: r.get(7),
        created_at: Timestamp(r.get(8)),
    }
}

pub(super) const MAIL_COLS: &str =
    "id, member_id, kind, cadence, actor_id, invitation_id, created_at";

/// A row of [`MAIL_COLS`] as a record.
pub(super) fn mail_row(r: &Row) -> MailItem {
    MailItem {
        id: r.get(0),
        member: MemberId(r.get(1)),
        kind: NotificationKind::parse(r.get::<_, &str>(2))
            .unwrap_or(NotificationKind::InvitationReceived),
        cadence: EmailCadence::parse(r.get::<_, &str>(3)).unwrap_or(EmailCadence::Immediate),
        actor: r.get::<_, Option<i64>>(4).map(MemberId),
        invitation: r.get::<_, Option<i64>>(5).map(InvitationId),
        created_at: Timestamp(r.get(6)),
    }
}

pub(super) const WEBHOOK_COLS: &str =
    "id, url, events, secret, created_at, disabled_at, disabled_reason";

/// A row of [`WEBHOOK_COLS`] as a record (`events` is stored comma-separated).
pub(super) fn webhook_row(r: &Row) -> WebhookRecord {
    WebhookRecord {
        id: r.get(0),
        url: r.get(1),
        events: r
            .get::<_, &str>(2)
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        secret: r.get(3),
        created_at: Timestamp(r.get(4)),
        disabled_at: r.get::<_, Option<i64>>(5).map(Timestamp),
        disabled_reason: r.get(6),
    }
}

pub(super) const DELIVERY_COLS: &str = "id, webhook_id, event_seq, msg_id, type, body, status, attempts, next_attempt_at, last_status, last_error, created_at, finished_at";

/// A row of [`DELIVERY_COLS`] as a record.
pub(super) fn delivery_row(r: &Row) -> DeliveryRecord {
    DeliveryRecord {
        id: r.get(0),
        webhook: r.get(1),
        event_seq: r.get(2),
        msg_id: r.get(3),
        kind: r.get(4),
        body: r.get(5),
        status: r.get(6),
        attempts: u32::try_from(r.get::<_, i64>(7).max(0)).unwrap_or(u32::MAX),
        next_attempt_at: Timestamp(r.get(8)),
        last_status: r.get::<_, Option<i64>>(9).map(|s| s.clamp(0, 999) as u16),
        last_error: r.get(10),
        created_at: Timestamp(r.get(11)),
        finished_at: r.get::<_, Option<i64>>(12).map(Timestamp),
    }
}
