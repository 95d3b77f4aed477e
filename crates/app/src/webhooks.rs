//! Webhooks for operators: endpoints registered by admins receive the lifecycle events of the
//! outbox, signed per the Standard Webhooks spec.
//!
//! Two steps, each safe across restarts. The dispatcher reads the outbox after its saved position
//! and, in one transaction, queues a delivery per matching endpoint and moves the position on: an
//! event is queued exactly once. The deliverer sends each endpoint's oldest pending delivery, one
//! at a time, so an endpoint receives its events in order (and so every invitation's); a failure is
//! retried on the configured schedule (about 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, with
//! jitter), with the same `webhook-id` every time. When the last attempt fails the delivery is
//! given up and the endpoint disabled, which its log says.

use crate::keys::Operator;
use crate::outbound::Failure;
use crate::{cursor, App, AppResult, PageRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use rapport_domain::identity::Scope;
use rapport_domain::{MemberId, RuleError, Timestamp};
use rapport_store::{Attempt, DeliveryRecord, EventRecord, NewDelivery, WebhookRecord};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::watch;
use utoipa::ToSchema;

/// The events an endpoint may ask for.
pub const EVENT_TYPES: [&str; 9] = [
    "invitation.sent",
    "invitation.accepted",
    "invitation.ignored",
    "invitation.withdrawn",
    "invitation.expired",
    "invitation.cancelled",
    "connection.created",
    "connection.removed",
    "member.restricted",
];

const CONSUMER: &str = "webhooks";
const TIMEOUT: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);
const MAX_URL: usize = 2000;

/// A registered endpoint as admins see it (the secret only at creation).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_…`: shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
    /// Set when the endpoint was disabled after failing for too long.
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    /// The `webhook-id` header: the same on every attempt.
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub finished_at: Option<String>,
}

fn webhook_view(w: WebhookRecord, secret: bool) -> Webhook {
    Webhook {
        id: w.id.to_string(),
        url: w.url,
        events: w.events,
        secret: secret.then_some(w.secret),
        created_at: w.created_at.to_rfc3339(),
        disabled_at: w.disabled_at.map(|t| t.to_rfc3339()),
        disabled_reason: w.disabled_reason,
    }
}

fn delivery_view(d: DeliveryRecord) -> Delivery {
    let pending = d.status == "pending";
    Delivery {
        id: d.id.to_string(),
        message_id: d.msg_id,
        kind: d.kind,
        status: d.status,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: d.created_at.to_rfc3339(),
        next_attempt_at: pending.then(|| d.next_attempt_at.to_rfc3339()),
        finished_at: d.finished_at.map(|t| t.to_rfc3339()),
    }
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the key inside `whsec_<base64>`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The body of an event as endpoints receive it, or `None` for internal events.
fn event_body(e: &EventRecord, msg_id: &str) -> Option<String> {
    if !EVENT_TYPES.contains(&e.kind.as_str()) {
        return None;
    }
    let id = |m: Option<MemberId>| m.map(|m| m.to_string());
    let data = if e.kind.starts_with("invitation.") {
        json!({
            "invitation_id": e.invitation.map(|i| i.to_string()),
            "sender_id": id(e.a),
            "recipient_id": id(e.b),
        })
    } else if e.kind.starts_with("connection.") {
        json!({ "member_ids": [id(e.a), id(e.b)] })
    } else {
        let stored: serde_json::Value = e
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        json!({
            "member_id": id(e.a),
            "reason": stored.get("reason"),
            "until": stored.get("until").and_then(|u| u.as_i64()).map(|u| Timestamp(u).to_rfc3339()),
        })
    };
    Some(
        json!({
            "id": msg_id,
            "type": e.kind,
            "created_at": e.created_at.to_rfc3339(),
            "data": data,
        })
        .to_string(),
    )
}

impl App {
    /// Registers an endpoint: any http(s) URL, but not a literal private address (or `localhost`)
    /// unless the operator allows them; names are checked when they are resolved, at delivery.
    pub async fn admin_create_webhook(
        &self,
        by: &Operator,
        url: &str,
        events: &[String],
    ) -> AppResult<Webhook> {
        self.authorize(by, Scope::WebhooksManage).await?;
        let parsed = reqwest::Url::parse(url).map_err(|_| {
            RuleError::validation("url", "must be an absolute http:// or https:// URL")
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(RuleError::validation(
                "url",
                "must be an absolute http:// or https:// URL",
            )
            .into());
        }
        if crate::outbound::literal_refused(&parsed, self.inner.config.webhook_allow_private) {
            return Err(RuleError::validation(
                "url",
                "must be a public address: this server does not deliver to loopback, private or link-local addresses",
            )
            .into());
        }
        if url.len() > MAX_URL {
            return Err(
                RuleError::validation("url", format!("at most {MAX_URL} characters")).into(),
            );
        }
        if events.is_empty() {
            return Err(RuleError::validation("events", "name at least one event").into());
        }
        let mut wanted: Vec<String> = Vec::new();
        for e in events {
            if !EVENT_TYPES.contains(&e.as_str()) {
                return Err(RuleError::validation(
                    "events",
                    format!("{e:?} is not an event (one of {})", EVENT_TYPES.join(", ")),
                )
                .into());
            }
            if !wanted.contains(e) {
                wanted.push(e.clone());
            }
        }
        let key: [u8; 32] = rand::thread_rng().gen();
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let w = self
            .store()
            .create_webhook(parsed.to_string(), wanted, secret, self.now())
            .await?;
        tracing::info!(webhook = w.id, url = %crate::redact::redact_url(&w.url), "webhook registered");
        Ok(webhook_view(w, true))
    }

    pub async fn admin_webhooks(&self, by: &Operator) -> AppResult<Vec<Webhook>> {
        self.authorize(by, Scope::WebhooksManage).await?;
        Ok(self
            .store()
            .webhooks()
            .await?
            .into_iter()
            .map(|w| webhook_view(w, false))
            .collect())
    }

    pub async fn admin_delete_webhook(&self, by: &Operator, id: &str) -> AppResult<()> {
        self.authorize(by, Scope::WebhooksManage).await?;
        let id: i64 = id.parse().map_err(|_| RuleError::NotFound)?;
        if !self.store().delete_webhook(id, self.now()).await? {
            return Err(RuleError::NotFound.into());
        }
        tracing::info!(webhook = id, "webhook deleted");
        Ok(())
    }

    /// The endpoint's delivery log, newest first.
    pub async fn admin_deliveries(
        &self,
        by: &Operator,
        id: &str,
        page: PageRequest,
    ) -> AppResult<crate::views::Page<Delivery>> {
        self.authorize(by, Scope::WebhooksManage).await?;
        let id: i64 = id.parse().map_err(|_| RuleError::NotFound)?;
        self.store().webhook(id).await?.ok_or(RuleError::NotFound)?;
        let before = cursor::before(page.cursor.as_deref())?;
        let limit = page.limit();
        let records = self.store().deliveries(id, before, limit).await?;
        let next_cursor = cursor::after(&records, limit, |r| r.id);
        Ok(crate::views::Page {
            items: records.into_iter().map(delivery_view).collect(),
            next_cursor,
            total: None,
        })
    }

    /// Queues deliveries for the outbox events after the dispatcher's position. Returns how many
    /// events it read.
    pub async fn dispatch_webhooks(&self) -> AppResult<usize> {
        let position = self.store().consumer_position(CONSUMER).await?;
        let events = self.store().events_after(position, 500).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let hooks: Vec<WebhookRecord> = self
            .store()
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| w.disabled_at.is_none())
            .collect();
        let mut deliveries = Vec::new();
        for e in &events {
            let msg_id = format!("msg_{}", e.seq);
            let Some(body) = event_body(e, &msg_id) else {
                continue;
            };
            for w in &hooks {
                if w.created_at <= e.created_at && w.events.contains(&e.kind) {
                    deliveries.push(NewDelivery {
                        webhook: w.id,
                        event_seq: e.seq,
                        msg_id: msg_id.clone(),
                        kind: e.kind.clone(),
                        body: body.clone(),
                    });
                }
            }
        }
        self.store()
            .queue_deliveries(CONSUMER.to_owned(), last, deliveries, self.now())
            .await?;
        Ok(events.len())
    }

    /// Sends every endpoint's next due delivery, as long as they keep succeeding. Returns how
    /// many were delivered.
    pub async fn deliver_webhooks(&self) -> AppResult<usize> {
        let mut delivered = 0;
        loop {
            let now = self.now();
            let due: Vec<DeliveryRecord> = self
                .store()
                .delivery_heads()
                .await?
                .into_iter()
                .filter(|d| d.next_attempt_at <= now)
                .collect();
            if due.is_empty() {
                return Ok(delivered);
            }
            let mut attempts = tokio::task::JoinSet::new();
            for d in due {
                let app = self.clone();
                attempts.spawn(async move { app.attempt(d).await });
            }
            let mut progress = false;
            while let Some(done) = attempts.join_next().await {
                match done {
                    Ok(Ok(true)) => {
                        delivered += 1;
                        progress = true;
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "webhook delivery not recorded"),
                    Err(e) => tracing::warn!(error = %e, "webhook delivery task failed"),
                }
            }
            if !progress {
                return Ok(delivered);
            }
        }
    }

    /// One attempt at one delivery; `true` when it was delivered.
    async fn attempt(&self, d: DeliveryRecord) -> AppResult<bool> {
        let Some(hook) = self.store().webhook(d.webhook).await? else {
            return Ok(false);
        };
        let timestamp = self.now().0 / 1000;
        let signature = sign(&hook.secret, &d.msg_id, timestamp, &d.body);
        let started = std::time::Instant::now();
        let refused = reqwest::Url::parse(&hook.url).map_or(true, |u| {
            crate::outbound::literal_refused(&u, self.inner.config.webhook_allow_private)
        });
        let result = if refused {
            Err(Failure::NotPublic)
        } else {
            self.inner
                .http
                .post(&hook.url)
                .header("content-type", "application/json")
                .header("user-agent", "Rapport-Webhooks/1")
                .header("webhook-id", &d.msg_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(d.body.clone())
                .send()
                .await
                .map_err(|e| Failure::of(&e))
        };
        metrics::histogram!("rapport_webhook_attempt_seconds")
            .record(started.elapsed().as_secs_f64());
        let (status, error) = match result {
            Ok(r) if r.status().is_success() => {
                self.store()
                    .record_attempt(
                        d.id,
                        Attempt::Delivered {
                            status: r.status().as_u16(),
                        },
                        self.now(),
                    )
                    .await?;
                metrics::counter!("rapport_webhook_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                let lag = (self.now().0 - d.created_at.0).max(0) as f64 / 1000.0;
                metrics::gauge!("rapport_webhook_lag_seconds").set(lag);
                return Ok(true);
            }
            Ok(r) => (
                Some(r.status().as_u16()),
                format!("answered {}", r.status()),
            ),
            Err(failure) => {
                metrics::counter!("rapport_webhook_failures_total", "class" => failure.label())
                    .increment(1);
                (None, failure.explain(TIMEOUT))
            }
        };
        metrics::counter!("rapport_webhook_deliveries_total", "outcome" => "failed").increment(1);
        let schedule = &self.inner.config.webhook_retries;
        let next = d.attempts as usize + 1;
        let attempt = match schedule.get(next) {
            Some(delay) => {
                let jitter = rand::thread_rng().gen_range(0.9..1.1);
                let retry_at = self.now().plus(delay.mul_f64(jitter));
                tracing::info!(webhook = hook.id, delivery = d.id, %error, retry_at = %retry_at.to_rfc3339(), "webhook delivery failed; will retry");
                Attempt::Retry {
                    status,
                    error,
                    retry_at,
                }
            }
            None => {
                let disable_reason = format!(
                    "disabled after {} failed attempts over {}; last: {error}",
                    next,
                    humantime::format_duration(Duration::from_secs(
                        ((self.now().0 - d.created_at.0).max(0) / 1000) as u64
                    ))
                );
                tracing::warn!(webhook = hook.id, url = %crate::redact::redact_url(&hook.url), reason = %disable_reason, "webhook endpoint disabled");
                metrics::counter!("rapport_webhook_endpoints_disabled_total").increment(1);
                Attempt::GiveUp {
                    status,
                    error,
                    disable_reason,
                }
            }
        };
        self.store()
            .record_attempt(d.id, attempt, self.now())
            .await?;
        Ok(false)
    }

    /// Dispatches and delivers every second until `stop`.
    pub(crate) async fn run_webhooks(&self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if !self.leads() {
                if !crate::workers::pause(&mut stop, TICK).await {
                    break;
                }
                continue;
            }
            if let Err(e) = self.dispatch_webhooks().await {
                tracing::warn!(error = %e, "webhook dispatch failed; will try again");
            }
            if let Err(e) = self.deliver_webhooks().await {
                tracing::warn!(error = %e, "webhook delivery pass failed; will try again");
            }
            if let Ok(depth) = self.store().pending_deliveries().await {
                metrics::gauge!("rapport_webhook_queue_depth").set(depth as f64);
            }
            if let (Ok(pos), Ok(last)) = (
                self.store().consumer_position(CONSUMER).await,
                self.store().last_event_seq().await,
            ) {
                metrics::gauge!("rapport_outbox_backlog").set((last - pos).max(0) as f64);
            }
            if !crate::workers::pause(&mut stop, TICK).await {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
