//! The outbox and its consumers: notifications, numbered events, queued mail, webhooks and their
//! deliveries. How their rows read back into records, and what a plan writes into them, is in
//! [`super::notices`].

use super::*;

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn notifications(
        &self,
        member: MemberId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {} FROM notifications WHERE member_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            notices::NOTIFICATION_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![member.0, before.unwrap_or(i64::MAX), limit],
                    notices::notification_row,
                )?
                .collect()
        })
        .await
    }

    async fn notification(&self, id: i64) -> StoreResult<Option<NotificationRecord>> {
        let sql = format!(
            "SELECT {} FROM notifications WHERE id = ?1",
            notices::NOTIFICATION_COLS
        );
        self.by_id(sql, id, notices::notification_row).await
    }

    async fn unread_count(&self, member: MemberId) -> StoreResult<u64> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT count(*) FROM notifications WHERE member_id = ?1 AND read_at IS NULL",
            )?
            .query_row([member.0], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
        })
        .await
    }

    async fn mark_read(
        &self,
        member: MemberId,
        ids: Option<Vec<i64>>,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            match ids {
                None => {
                    tx.conn
                        .prepare_cached(
                            "UPDATE notifications SET read_at = ?2 WHERE member_id = ?1 AND read_at IS NULL",
                        )?
                        .execute(params![member.0, at.0])?;
                }
                Some(ids) => {
                    let mut stmt = tx.conn.prepare_cached(
                        "UPDATE notifications SET read_at = ?3 WHERE id = ?2 AND member_id = ?1 AND read_at IS NULL",
                    )?;
                    for id in ids {
                        stmt.execute(params![member.0, id, at.0])?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn events_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<EventRecord>> {
        let sql = format!(
            "SELECT {} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            notices::EVENT_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(params![seq, limit], notices::event_row)?
                .collect()
        })
        .await
    }

    async fn last_event_seq(&self) -> StoreResult<i64> {
        self.read(|c| {
            c.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
                .query_row([], |r| r.get(0))
        })
        .await
    }

    async fn consumer_position(&self, name: &str) -> StoreResult<i64> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT seq FROM consumers WHERE name = ?1")?
                    .query_row([name], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        })
        .await
    }

    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM events WHERE seq IN (
                        SELECT seq FROM events
                         WHERE created_at < ?1 AND seq <= (SELECT coalesce(min(seq), 0) FROM consumers)
                         ORDER BY seq LIMIT 10000)",
                )?
                .execute([before.0])?;
            Ok(n as u64)
        })
        .await
    }

    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<MailItem>> {
        let due_sql = format!(
            "SELECT {} FROM mail_queue WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2",
            notices::MAIL_COLS
        );
        let digest_sql = format!(
            // `cadence <> 'immediate'` lets SQLite use the partial index of digests.
            "SELECT {} FROM mail_queue WHERE member_id = ?1 AND cadence = ?2 AND cadence <> 'immediate' ORDER BY id",
            notices::MAIL_COLS
        );
        self.read(move |c| {
            let due: Vec<MailItem> = c
                .prepare_cached(&due_sql)?
                .query_map(params![now.0, limit], notices::mail_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            let mut digests = std::collections::BTreeSet::new();
            for item in due {
                if item.cadence == rapport_domain::EmailCadence::Immediate {
                    out.push(item);
                } else {
                    digests.insert((item.member, item.cadence.as_str()));
                }
            }
            for (member, cadence) in digests {
                out.extend(
                    c.prepare_cached(&digest_sql)?
                        .query_map(params![member.0, cadence], notices::mail_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn mail_done(&self, ids: Vec<i64>) -> StoreResult<()> {
        self.write(move |tx| {
            let mut stmt = tx
                .conn
                .prepare_cached("DELETE FROM mail_queue WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    async fn mail_queue_depth(&self) -> StoreResult<u64> {
        self.count("SELECT count(*) FROM mail_queue").await
    }

    async fn create_webhook(
        &self,
        url: String,
        events: Vec<String>,
        secret: String,
        at: Timestamp,
    ) -> StoreResult<WebhookRecord> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE id = ?1",
            notices::WEBHOOK_COLS
        );
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO webhooks (url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![url, events.join(","), secret, at.0])?;
            let id = tx.conn.last_insert_rowid();
            Ok(tx
                .conn
                .prepare_cached(&sql)?
                .query_row([id], notices::webhook_row)?)
        })
        .await
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE deleted_at IS NULL ORDER BY id",
            notices::WEBHOOK_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([], notices::webhook_row)?
                .collect()
        })
        .await
    }

    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE id = ?1 AND deleted_at IS NULL",
            notices::WEBHOOK_COLS
        );
        self.by_id(sql, id, notices::webhook_row).await
    }

    async fn delete_webhook(&self, id: i64, at: Timestamp) -> StoreResult<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE webhooks SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                )?
                .execute(params![id, at.0])?;
            if n > 0 {
                tx.conn
                    .prepare_cached(
                        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', finished_at = ?2
                          WHERE webhook_id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, at.0])?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn deliveries(
        &self,
        webhook: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {} FROM webhook_deliveries WHERE webhook_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            notices::DELIVERY_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![webhook, before.unwrap_or(i64::MAX), limit],
                    notices::delivery_row,
                )?
                .collect()
        })
        .await
    }

    async fn queue_deliveries(
        &self,
        consumer: String,
        seq: i64,
        deliveries: Vec<NewDelivery>,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let mut insert = tx.conn.prepare_cached(
                "INSERT INTO webhook_deliveries (webhook_id, event_seq, msg_id, type, body, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?;
            for d in deliveries {
                insert.execute(params![d.webhook, d.event_seq, d.msg_id, d.kind, d.body, at.0])?;
            }
            tx.conn
                .prepare_cached(
                    "INSERT INTO consumers (name, seq) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)",
                )?
                .execute(params![consumer, seq])?;
            Ok(())
        })
        .await
    }

    async fn delivery_heads(&self) -> StoreResult<Vec<DeliveryRecord>> {
        let cols = notices::DELIVERY_COLS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM webhooks w JOIN webhook_deliveries d
                ON d.id = (SELECT min(id) FROM webhook_deliveries WHERE webhook_id = w.id AND status = 'pending')
              WHERE w.disabled_at IS NULL AND w.deleted_at IS NULL"
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([], notices::delivery_row)?
                .collect()
        })
        .await
    }

    async fn record_attempt(&self, id: i64, attempt: Attempt, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let c = tx.conn;
            match attempt {
                Attempt::Delivered { status } => {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                                last_status = ?2, last_error = NULL, finished_at = ?3
                          WHERE id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, status, at.0])?;
                }
                Attempt::Retry {
                    status,
                    error,
                    retry_at,
                } => {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?2,
                                last_error = ?3, next_attempt_at = ?4
                          WHERE id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, status, error, retry_at.0])?;
                }
                Attempt::GiveUp {
                    status,
                    error,
                    disable_reason,
                } => {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                                last_status = ?2, last_error = ?3, finished_at = ?4
                          WHERE id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, status, error, at.0])?;
                    c.prepare_cached(
                        "UPDATE webhooks SET disabled_at = ?2, disabled_reason = ?3
                          WHERE id = (SELECT webhook_id FROM webhook_deliveries WHERE id = ?1) AND disabled_at IS NULL",
                    )?
                    .execute(params![id, at.0, disable_reason])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        self.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .await
    }
}
