//! What a state change writes besides itself, inside its own transaction: the member's
//! notification and queued mail (as their preferences say), and the outbox event that live
//! streams and webhooks are delivered from. The port of the embedded store's `sqlite/outbox.rs`,
//! helper by helper; events are appended unnumbered and numbered by the [`super::sequencer`].
//! Also here: how the outbox's tables read back into records.

use super::rules::blocked_either_way;
use super::*;
pub(super) use crate::new_event::Event;
use crate::{DeliveryRecord, EventRecord, MailItem, NotificationRecord, WebhookRecord};
use rapport_domain::{Channels, EmailCadence, NotificationKind, WithdrawalNotice};

/// Appends an event to the outbox, without its number (the sequencer gives it one after the
/// commit), and notes that the transaction wrote events so that the sequencer is woken.
pub(super) async fn emit(tx: &mut Tx, e: Event<'_>, at: Timestamp) -> TxResult<()> {
    tx.execute(
        "INSERT INTO events (type, invitation_id, a_id, b_id, notification_id, notified_id, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &e.kind,
            &e.invitation.map(|i| i.0),
            &e.a.map(|m| m.0),
            &e.b.map(|m| m.0),
            &e.notification.map(|n| n.0),
            &e.notification.map(|n| n.1 .0),
            &e.data,
            &at.0,
        ],
    )
    .await?;
    tx.wrote_events();
    Ok(())
}

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

/// Tells `member` about `kind` on the channels they chose (or `channels`, when a policy decides):
/// a notification in-app, and mail at once or in a digest. Nothing passes between blocked members.
/// Returns the notification's id when one was created.
pub(super) async fn notify(
    c: &Tx,
    member: MemberId,
    kind: NotificationKind,
    actor: Option<MemberId>,
    invitation: Option<InvitationId>,
    channels: Option<Channels>,
    at: Timestamp,
) -> TxResult<Option<i64>> {
    if let Some(actor) = actor {
        if blocked_either_way(c, member, actor).await? {
            return Ok(None);
        }
    }
    let channels = match channels {
        Some(ch) => ch,
        None => prefs_of(c, member).await?.get(kind),
    };
    let actor = actor.map(|m| m.0);
    let invitation = invitation.map(|i| i.0);
    if channels.email != EmailCadence::Off {
        c.execute(
            "INSERT INTO mail_queue (member_id, kind, cadence, actor_id, invitation_id, created_at, due_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &member.0,
                &kind.as_str(),
                &channels.email.as_str(),
                &actor,
                &invitation,
                &at.0,
                &(at.0 + channels.email.delay_ms()),
            ],
        )
        .await?;
    }
    if !channels.in_app {
        return Ok(None);
    }
    let row = c
        .query_one(
            "INSERT INTO notifications (member_id, kind, actor_id, invitation_id, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&member.0, &kind.as_str(), &actor, &invitation, &at.0],
        )
        .await?;
    Ok(Some(row.get(0)))
}

/// Removes every trace, for its recipient, of an invitation that is gone for them: its
/// "received" and reminder notifications and any mail about it not yet sent.
pub(super) async fn forget_for_recipient(c: &Tx, id: InvitationId) -> TxResult<()> {
    c.execute(
        "DELETE FROM notifications WHERE invitation_id = $1 AND kind IN ('invitation_received', 'invitation_reminder')",
        &[&id.0],
    )
    .await?;
    c.execute(
        "DELETE FROM mail_queue WHERE invitation_id = $1 AND kind IN ('invitation_received', 'invitation_reminder')",
        &[&id.0],
    )
    .await?;
    Ok(())
}

/// What follows an invitation's leaving `pending` for anything but acceptance: its traces go from
/// the recipient when it is gone for them, the withdrawal notice policy is applied, and the event
/// is appended.
pub(super) async fn invitation_closed(
    tx: &mut Tx,
    id: InvitationId,
    sender: MemberId,
    recipient: MemberId,
    state: InvitationState,
    notice: WithdrawalNotice,
    at: Timestamp,
) -> TxResult<()> {
    let kind = match state {
        InvitationState::Ignored => "invitation.ignored",
        InvitationState::Withdrawn => "invitation.withdrawn",
        InvitationState::Expired => "invitation.expired",
        InvitationState::Cancelled => "invitation.cancelled",
        InvitationState::Pending | InvitationState::Accepted => return Ok(()),
    };
    if state != InvitationState::Ignored {
        forget_for_recipient(tx, id).await?;
    }
    let event = Event::invitation(kind, id, sender, recipient);
    if state == InvitationState::Withdrawn {
        let prefs = prefs_of(tx, recipient).await?;
        if let Some(channels) = notice.channels(&prefs) {
            let kind = NotificationKind::InvitationWithdrawn;
            return tell(tx, recipient, kind, Some(channels), event, at).await;
        }
    }
    emit(tx, event, at).await
}

/// Tells `who` about `kind` (per their preferences, or `channels` when a policy decides) and
/// appends `event`, pointing at the notification when one was created. The actor is the event's
/// other member, the invitation the event's.
pub(super) async fn tell(
    tx: &mut Tx,
    who: MemberId,
    kind: NotificationKind,
    channels: Option<Channels>,
    event: Event<'_>,
    at: Timestamp,
) -> TxResult<()> {
    let actor = [event.a, event.b].into_iter().flatten().find(|m| *m != who);
    let n = notify(tx, who, kind, actor, event.invitation, channels, at).await?;
    emit(tx, event.notifying(n.map(|n| (n, who))), at).await
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
