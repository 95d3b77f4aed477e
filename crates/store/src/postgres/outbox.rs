//! The outbox and its consumers: notifications, numbered events, queued mail, webhooks and their
//! deliveries. How their rows read back into records is in [`super::notices`]; what a state change
//! writes into them is its plan's, written by `rapport_apply`.

use super::notices::{
    delivery_row, event_row, mail_row, notification_row, webhook_row, DELIVERY_COLS, EVENT_COLS,
    MAIL_COLS, NOTIFICATION_COLS, WEBHOOK_COLS,
};
use super::*;
use crate::*;
use async_trait::async_trait;
use rapport_domain::EmailCadence;
use std::collections::BTreeSet;

/// Runs a `SELECT count(*) …` without parameters.
async fn count(s: &PgStore, sql: &'static str) -> StoreResult<u64> {
    read!(s, |c| {
        let n: i64 = c.query_one(sql, &[]).await?.get(0);
        Ok(n.max(0) as u64)
    })
}

/// Numbers the events waiting for the sequencer before a read, so that a reader sees what was
/// committed before it asked, as on the embedded store where an event is numbered by its own
/// transaction: a request's writes are in the outbox when it has been answered, for the webhook
/// dispatcher and the live feed alike. One probe of the index of unnumbered events when there is
/// nothing to do. Best effort: when the pass fails, the reader reads what is numbered and the
/// background sequencer numbers the rest.
async fn number_waiting_events(s: &PgStore) {
    let waiting = read!(s, |c| c.exists(sequencer::WAITING, &[]).await);
    let result = match waiting {
        Ok(true) => sequencer::pass(s).await,
        Ok(false) => return,
        Err(e) => Err(e),
    };
    match result {
        Ok((numbered, _)) if numbered > 0 => (s.inner.hook)(&[Change::Event]),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "numbering events before a read failed"),
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn notifications(
        &self,
        member: MemberId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLS} FROM notifications WHERE member_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        read!(self, |c| {
            let rows = c.query(&sql, &[&member.0, &before, &limit]).await?;
            Ok(rows.iter().map(notification_row).collect())
        })
    }

    async fn notification(&self, id: i64) -> StoreResult<Option<NotificationRecord>> {
        let sql = format!("SELECT {NOTIFICATION_COLS} FROM notifications WHERE id = $1");
        read!(self, |c| {
            Ok(c.query_opt(&sql, &[&id])
                .await?
                .as_ref()
                .map(notification_row))
        })
    }

    async fn unread_count(&self, member: MemberId) -> StoreResult<u64> {
        read!(self, |c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM notifications WHERE member_id = $1 AND read_at IS NULL",
                    &[&member.0],
                )
                .await?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    async fn mark_read(
        &self,
        member: MemberId,
        ids: Option<Vec<i64>>,
        at: Timestamp,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            match &ids {
                None => {
                    tx.execute(
                        "UPDATE notifications SET read_at = $2 WHERE member_id = $1 AND read_at IS NULL",
                        &[&member.0, &at.0],
                    )
                    .await?;
                }
                Some(ids) => {
                    tx.execute(
                        "UPDATE notifications SET read_at = $3
                          WHERE id = ANY($2) AND member_id = $1 AND read_at IS NULL",
                        &[&member.0, ids, &at.0],
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }

    /// Numbered events only: an event is read once the sequencer has given it its place.
    async fn events_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<EventRecord>> {
        number_waiting_events(self).await;
        let sql = format!("SELECT {EVENT_COLS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let limit = i64::from(limit);
        read!(self, |c| {
            let rows = c.query(&sql, &[&seq, &limit]).await?;
            Ok(rows.iter().map(event_row).collect())
        })
    }

    /// The last number the sequencer gave (events pruned since still count).
    async fn last_event_seq(&self) -> StoreResult<i64> {
        read!(self, |c| {
            Ok(c.query_one("SELECT last_seq FROM event_sequence", &[])
                .await?
                .get(0))
        })
    }

    async fn consumer_position(&self, name: &str) -> StoreResult<i64> {
        read!(self, |c| {
            Ok(
                c.query_opt("SELECT seq FROM consumers WHERE name = $1", &[&name])
                    .await?
                    .map_or(0, |r| r.get(0)),
            )
        })
    }

    /// Deletes events older than `before` that every consumer has passed (10 000 at most); events
    /// not numbered yet are never touched.
    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM events WHERE id IN (
                    SELECT id FROM events
                     WHERE created_at < $1 AND seq <= (SELECT coalesce(min(seq), 0) FROM consumers)
                     ORDER BY seq LIMIT 10000)",
                &[&before.0],
            )
            .await
        })
    }

    /// Mail due by `now` (at most `limit` items read): immediate items as they are, and for each
    /// member and cadence with a digest due, every item of that digest.
    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<MailItem>> {
        let due_sql = format!(
            "SELECT {MAIL_COLS} FROM mail_queue WHERE due_at <= $1 ORDER BY due_at LIMIT $2"
        );
        let digest_sql = format!(
            "SELECT {MAIL_COLS} FROM mail_queue WHERE member_id = $1 AND cadence = $2 ORDER BY id"
        );
        let limit = i64::from(limit);
        read!(self, |c| {
            let due = c.query(&due_sql, &[&now.0, &limit]).await?;
            let mut out = Vec::new();
            let mut digests = BTreeSet::new();
            for item in due.iter().map(mail_row) {
                if item.cadence == EmailCadence::Immediate {
                    out.push(item);
                } else {
                    digests.insert((item.member, item.cadence.as_str()));
                }
            }
            for (member, cadence) in digests {
                let rows = c.query(&digest_sql, &[&member.0, &cadence]).await?;
                out.extend(rows.iter().map(mail_row));
            }
            Ok(out)
        })
    }

    async fn mail_done(&self, ids: Vec<i64>) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute("DELETE FROM mail_queue WHERE id = ANY($1)", &[&ids])
                .await?;
            Ok(())
        })
    }

    async fn mail_queue_depth(&self) -> StoreResult<u64> {
        count(self, "SELECT count(*) FROM mail_queue").await
    }

    async fn create_webhook(
        &self,
        url: String,
        events: Vec<String>,
        secret: String,
        at: Timestamp,
    ) -> StoreResult<WebhookRecord> {
        let sql = format!(
            "INSERT INTO webhooks (url, events, secret, created_at) VALUES ($1, $2, $3, $4)
             RETURNING {WEBHOOK_COLS}"
        );
        let events = events.join(",");
        in_tx!(self, |tx| {
            Ok(webhook_row(
                &tx.query_one(&sql, &[&url, &events, &secret, &at.0]).await?,
            ))
        })
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let sql =
            format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE deleted_at IS NULL ORDER BY id");
        read!(self, |c| Ok(c
            .query(&sql, &[])
            .await?
            .iter()
            .map(webhook_row)
            .collect()))
    }

    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        let sql =
            format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1 AND deleted_at IS NULL");
        read!(self, |c| {
            Ok(c.query_opt(&sql, &[&id]).await?.as_ref().map(webhook_row))
        })
    }

    /// Deletes a webhook (kept, marked deleted) and fails its pending deliveries. Returns whether
    /// there was one to delete.
    async fn delete_webhook(&self, id: i64, at: Timestamp) -> StoreResult<bool> {
        in_tx!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                    &[&id, &at.0],
                )
                .await?;
            if n > 0 {
                tx.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', finished_at = $2
                      WHERE webhook_id = $1 AND status = 'pending'",
                    &[&id, &at.0],
                )
                .await?;
            }
            Ok(n > 0)
        })
    }

    async fn deliveries(
        &self,
        webhook: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        read!(self, |c| {
            let rows = c.query(&sql, &[&webhook, &before, &limit]).await?;
            Ok(rows.iter().map(delivery_row).collect())
        })
    }

    /// Queues the deliveries of the events up to `seq` and moves `consumer` there, in one
    /// transaction. The consumer's row is locked first, so that two replicas queueing for one
    /// consumer (a lease changing hands) run one after the other: the second queues only the
    /// deliveries of events past where the first left the consumer, and the position never goes
    /// backwards.
    async fn queue_deliveries(
        &self,
        consumer: String,
        seq: i64,
        deliveries: Vec<NewDelivery>,
        at: Timestamp,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute(
                "INSERT INTO consumers (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
                &[&consumer],
            )
            .await?;
            let position: i64 = tx
                .query_one(
                    "SELECT seq FROM consumers WHERE name = $1 FOR UPDATE",
                    &[&consumer],
                )
                .await?
                .get(0);
            for d in deliveries.iter().filter(|d| d.event_seq > position) {
                tx.execute(
                    "INSERT INTO webhook_deliveries (webhook_id, event_seq, msg_id, type, body, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    &[&d.webhook, &d.event_seq, &d.msg_id, &d.kind, &d.body, &at.0],
                )
                .await?;
            }
            if seq > position {
                tx.execute(
                    "UPDATE consumers SET seq = $2 WHERE name = $1",
                    &[&consumer, &seq],
                )
                .await?;
            }
            Ok(())
        })
    }

    /// The oldest pending delivery of each webhook that is neither disabled nor deleted: deliveries
    /// of one endpoint go out in order, one at a time.
    async fn delivery_heads(&self) -> StoreResult<Vec<DeliveryRecord>> {
        let cols = DELIVERY_COLS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM webhooks w JOIN webhook_deliveries d
                ON d.id = (SELECT min(id) FROM webhook_deliveries WHERE webhook_id = w.id AND status = 'pending')
              WHERE w.disabled_at IS NULL AND w.deleted_at IS NULL"
        );
        read!(self, |c| Ok(c
            .query(&sql, &[])
            .await?
            .iter()
            .map(delivery_row)
            .collect()))
    }

    /// Records one attempt at a pending delivery: delivered, to be retried, or given up (which
    /// disables the endpoint).
    async fn record_attempt(&self, id: i64, attempt: Attempt, at: Timestamp) -> StoreResult<()> {
        in_tx!(self, |tx| {
            match &attempt {
                Attempt::Delivered { status } => {
                    tx.execute(
                        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                                last_status = $2, last_error = NULL, finished_at = $3
                          WHERE id = $1 AND status = 'pending'",
                        &[&id, &i64::from(*status), &at.0],
                    )
                    .await?;
                }
                Attempt::Retry {
                    status,
                    error,
                    retry_at,
                } => {
                    tx.execute(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2,
                                last_error = $3, next_attempt_at = $4
                          WHERE id = $1 AND status = 'pending'",
                        &[&id, &status.map(i64::from), error, &retry_at.0],
                    )
                    .await?;
                }
                Attempt::GiveUp {
                    status,
                    error,
                    disable_reason,
                } => {
                    tx.execute(
                        "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                                last_status = $2, last_error = $3, finished_at = $4
                          WHERE id = $1 AND status = 'pending'",
                        &[&id, &status.map(i64::from), error, &at.0],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE webhooks SET disabled_at = $2, disabled_reason = $3
                          WHERE id = (SELECT webhook_id FROM webhook_deliveries WHERE id = $1) AND disabled_at IS NULL",
                        &[&id, &at.0, disable_reason],
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        count(
            self,
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .await
    }
}
