//! Reading `GET /api/v1/events` (Server-Sent Events) in tests: one parser of the wire format, and
//! `Events`, a client that waits for a named event.

use crate::helpers::{header, Api};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// One event as it came over the wire (data still text).
pub struct RawEvent {
    pub id: String,
    pub event: String,
    pub data: String,
}

/// Takes the next complete event out of `buffer`, skipping heartbeat comments; `None` when the
/// buffer holds no complete event yet.
pub fn take_event(buffer: &mut String) -> Option<RawEvent> {
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            }
        }
        if !event.is_empty() {
            return Some(RawEvent { id, event, data });
        }
    }
    None
}

/// A Server-Sent Events client of `GET /api/v1/events` on one server.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
    seen: Vec<String>,
}

impl Events {
    pub async fn open(api: &Api, token: &str) -> Events {
        let response = api
            .client
            .get(format!("{}/api/v1/events", api.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("the stream is answered");
        assert_eq!(response.status(), 200);
        let content_type = header(&response, "content-type");
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            response,
            buffer: String::new(),
            seen: Vec::new(),
        }
    }

    /// The next event as its name and data, or `None` when none comes before `deadline` or the
    /// stream ends.
    pub async fn next(&mut self, deadline: Instant) -> Option<(String, Value)> {
        loop {
            if let Some(e) = take_event(&mut self.buffer) {
                let data = serde_json::from_str(&e.data).unwrap_or_else(|err| {
                    panic!("event {}: data not JSON ({err}): {}", e.event, e.data)
                });
                self.seen.push(format!("{} {data}", e.event));
                return Some((e.event, data));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until an event called `name` whose data passes `matches`; fails after `wait`.
    pub async fn expect(
        &mut self,
        name: &str,
        wait: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + wait;
        while let Some((event, data)) = self.next(deadline).await {
            if event == name && matches(&data) {
                return data;
            }
        }
        panic!(
            "no {name} event within {wait:?}; the stream carried: {:#?}",
            self.seen
        );
    }
}
