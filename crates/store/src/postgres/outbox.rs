//! outbox

use super::*;
use crate::*;

pub(super) async fn notifications(
    s: &PgStore,
    member: MemberId,
    before: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<NotificationRecord>> {
    todo_port!()
}

pub(super) async fn notification(s: &PgStore, id: i64) -> StoreResult<Option<NotificationRecord>> {
    todo_port!()
}

pub(super) async fn unread_count(s: &PgStore, member: MemberId) -> StoreResult<u64> {
    todo_port!()
}

pub(super) async fn mark_read(
    s: &PgStore,
    member: MemberId,
    ids: Option<Vec<i64>>,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn events_after(
    s: &PgStore,
    seq: i64,
    limit: u32,
) -> StoreResult<Vec<EventRecord>> {
    todo_port!()
}

pub(super) async fn last_event_seq(s: &PgStore) -> StoreResult<i64> {
    todo_port!()
}

pub(super) async fn consumer_position(s: &PgStore, name: &str) -> StoreResult<i64> {
    todo_port!()
}

pub(super) async fn prune_events(s: &PgStore, before: Timestamp) -> StoreResult<u64> {
    todo_port!()
}

pub(super) async fn due_mail(
    s: &PgStore,
    now: Timestamp,
    limit: u32,
) -> StoreResult<Vec<MailItem>> {
    todo_port!()
}

pub(super) async fn mail_done(s: &PgStore, ids: Vec<i64>) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn mail_queue_depth(s: &PgStore) -> StoreResult<u64> {
    todo_port!()
}

pub(super) async fn create_webhook(
    s: &PgStore,
    url: String,
    events: Vec<String>,
    secret: String,
    at: Timestamp,
) -> StoreResult<WebhookRecord> {
    todo_port!()
}

pub(super) async fn webhooks(s: &PgStore) -> StoreResult<Vec<WebhookRecord>> {
    todo_port!()
}

pub(super) async fn webhook(s: &PgStore, id: i64) -> StoreResult<Option<WebhookRecord>> {
    todo_port!()
}

pub(super) async fn delete_webhook(s: &PgStore, id: i64, at: Timestamp) -> StoreResult<bool> {
    todo_port!()
}

pub(super) async fn deliveries(
    s: &PgStore,
    webhook: i64,
    before: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<DeliveryRecord>> {
    todo_port!()
}

pub(super) async fn queue_deliveries(
    s: &PgStore,
    consumer: String,
    seq: i64,
    deliveries: Vec<NewDelivery>,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn delivery_heads(s: &PgStore) -> StoreResult<Vec<DeliveryRecord>> {
    todo_port!()
}

pub(super) async fn record_attempt(
    s: &PgStore,
    id: i64,
    attempt: Attempt,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn pending_deliveries(s: &PgStore) -> StoreResult<u64> {
    todo_port!()
}
