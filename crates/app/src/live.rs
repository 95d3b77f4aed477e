//! Live updates: the events of the outbox, turned into what each signed-in member's open streams
//! (Server-Sent Events) should see.
//!
//! One feed task per process follows the outbox table in order, woken by this process's commits
//! and by the other replicas' (the store hears them; see `rapport_store::Peers`), with a poll as a
//! safety net: every 5 s while the store hears the other replicas, every 500 ms while it does not
//! (and on the embedded store, which other processes such as `rapport` commands may write to too).
//! Because the feed reads the shared outbox rather than this process's own writes, every replica
//! sees every event.
//!
//! One outbox event may show as two stream events (an invitation's arrival and its notification),
//! so a stream event's id is [`live_id`]: twice the outbox number, plus one for the notification.
//! Ids are strictly increasing on every stream, and a client that reconnects with `Last-Event-ID`
//! is sent exactly what followed that id, from the outbox, then live events, without gaps or
//! repeats, even when it dropped between the two halves of one outbox event.
//!
//! A replayed event says what happened as it happened: `invitation.received` carries the
//! invitation as it arrived (`pending`, undecided), whatever became of it since; the member and
//! mutual-connection details are today's. An invitation withdrawn since is not replayed at all
//! (withdrawal takes it out of the recipient's sight), only its removal.

use crate::{App, AppError, AppResult};
use rapport_domain::MemberId;
use rapport_store::EventRecord;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// Open streams one member may hold at once (tabs, devices).
pub const MAX_STREAMS_PER_MEMBER: usize = 5;
/// Events buffered per stream; a stream that falls this far behind is closed (its client
/// reconnects with `Last-Event-ID` and catches up from the outbox).
const STREAM_BUFFER: usize = 256;
/// How often the feed looks for other processes' events when nothing woke it, unless...
const POLL: Duration = Duration::from_millis(500);
/// ... the store hears the other replicas' commits, and so wakes it: then only as a safety net.
const QUIET_POLL: Duration = Duration::from_secs(5);
/// The most missed events replayed to a reconnecting stream.
const REPLAY_LIMIT: u32 = 10_000;

/// Which half of an outbox event a stream event is.
#[derive(Debug, Clone, Copy)]
enum Half {
    /// `invitation.received`, `invitation.removed` or `invitation.accepted`.
    Invitation = 0,
    /// `notification.created`.
    Notification = 1,
}

/// The stream id of one half of the outbox event numbered `seq`.
fn live_id(seq: i64, half: Half) -> i64 {
    seq.saturating_mul(2).saturating_add(half as i64)
}

/// The outbox event a stream id belongs to.
fn outbox_seq(live_id: i64) -> i64 {
    live_id.div_euclid(2)
}

/// One message of a member's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    /// Strictly increasing on a stream (see [`live_id`]).
    pub id: i64,
    /// `invitation.received`, `invitation.removed`, `invitation.accepted` or
    /// `notification.created`.
    pub event: &'static str,
    pub data: serde_json::Value,
}

type Streams = HashMap<MemberId, Vec<(u64, mpsc::Sender<LiveEvent>)>>;

/// The open streams of this process.
#[derive(Default)]
pub(crate) struct Hub {
    streams: Mutex<Streams>,
    next_id: AtomicU64,
    /// Woken after each local commit that appended events.
    pub(crate) wake: Notify,
    /// Set when the process stops: every stream ends.
    closed: std::sync::atomic::AtomicBool,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn watching(&self, m: MemberId) -> bool {
        self.lock().contains_key(&m)
    }

    fn send(&self, m: MemberId, e: &LiveEvent) {
        let mut streams = self.lock();
        if let Some(list) = streams.get_mut(&m) {
            list.retain(|(_, tx)| match tx.try_send(e.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!(member = %m, "live stream fell behind; closing it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if list.is_empty() {
                streams.remove(&m);
            }
        }
        metrics::counter!("rapport_live_events_total").increment(1);
    }

    fn remove(&self, m: MemberId, id: u64) {
        let mut streams = self.lock();
        if let Some(list) = streams.get_mut(&m) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                streams.remove(&m);
            }
        }
        metrics::gauge!("rapport_live_streams").decrement(1.0);
    }

    /// Ends every stream (the process is stopping).
    pub(crate) fn close_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.lock().clear();
    }
}

/// An open stream: what was missed, then what happens. Dropping it unregisters the stream.
pub struct Subscription {
    /// Events the client missed since its `Last-Event-ID`, oldest first.
    pub backlog: Vec<LiveEvent>,
    /// Live events; those already in `backlog` are skipped.
    rx: mpsc::Receiver<LiveEvent>,
    after: i64,
    _guard: StreamGuard,
}

impl Subscription {
    /// The next live event, or `None` when the stream is over (closed for falling behind, or the
    /// process is stopping).
    pub async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            let e = self.rx.recv().await?;
            if e.id > self.after {
                return Some(e);
            }
        }
    }
}

struct StreamGuard {
    hub: Arc<Hub>,
    member: MemberId,
    id: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.hub.remove(self.member, self.id);
    }
}

/// The members an event concerns on live streams.
fn audience(e: &EventRecord) -> Vec<MemberId> {
    let mut who: Vec<MemberId> = match e.kind.as_str() {
        "invitation.sent"
        | "invitation.withdrawn"
        | "invitation.expired"
        | "invitation.cancelled" => e.b.into_iter().collect(),
        "invitation.accepted" => e.a.into_iter().collect(),
        _ => Vec::new(),
    };
    if let Some((_, m)) = e.notification {
        who.push(m);
    }
    who.dedup();
    who
}

impl App {
    /// Opens a live stream for `member`, replaying what they missed after `last_event_id`.
    pub async fn subscribe(
        &self,
        member: MemberId,
        last_event_id: Option<i64>,
    ) -> AppResult<Subscription> {
        let hub = &self.inner.hub;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut streams = hub.lock();
            let list = streams.entry(member).or_default();
            if list.len() >= MAX_STREAMS_PER_MEMBER || hub.closed.load(Ordering::SeqCst) {
                return Err(AppError::RateLimited {
                    retry_at: self.now().plus(Duration::from_secs(5)),
                    retry_after: 5,
                });
            }
            list.push((id, tx));
        }
        metrics::gauge!("rapport_live_streams").increment(1.0);
        let guard = StreamGuard {
            hub: hub.clone(),
            member,
            id,
        };
        let mut backlog = Vec::new();
        // Live events up to `after` were considered for the backlog already.
        let mut after = 0;
        if let Some(last) = last_event_id {
            after = last;
            // The outbox event `last` is half of may still have its second half to send.
            let mut from = outbox_seq(last) - 1;
            let mut scanned = 0;
            loop {
                let events = self.store().events_after(from, 1000).await?;
                let Some(tail) = events.last() else { break };
                from = tail.seq;
                for e in &events {
                    if audience(e).contains(&member) {
                        let missed = self.live_events(e, member).await?;
                        backlog.extend(missed.into_iter().filter(|l| l.id > last));
                    }
                }
                after = after.max(live_id(from, Half::Notification));
                scanned += events.len() as u32;
                if events.len() < 1000 || scanned >= REPLAY_LIMIT {
                    break;
                }
            }
        }
        Ok(Subscription {
            backlog,
            rx,
            after,
            _guard: guard,
        })
    }

    /// What `member`'s streams show for one event.
    async fn live_events(&self, e: &EventRecord, member: MemberId) -> AppResult<Vec<LiveEvent>> {
        let mut out = Vec::new();
        let live = |half: Half, event: &'static str, data: serde_json::Value| LiveEvent {
            id: live_id(e.seq, half),
            event,
            data,
        };
        let invitation_id = e.invitation.map(|i| i.to_string());
        match e.kind.as_str() {
            "invitation.sent" if e.b == Some(member) => {
                // Gone since (withdrawn before the stream saw it): nothing to show.
                if let Some(id) = &invitation_id {
                    match self.invitation(member, id).await {
                        Ok(mut inv) => {
                            // As it arrived, whatever became of it since.
                            inv.state = "pending";
                            inv.decided_at = None;
                            out.push(live(
                                Half::Invitation,
                                "invitation.received",
                                json!({ "invitation": inv }),
                            ))
                        }
                        Err(AppError::Rule(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            "invitation.withdrawn" | "invitation.expired" | "invitation.cancelled"
                if e.b == Some(member) =>
            {
                let unread = self.store().unread_count(member).await?;
                out.push(live(
                    Half::Invitation,
                    "invitation.removed",
                    json!({ "invitation_id": invitation_id, "unread": unread }),
                ));
            }
            "invitation.accepted" if e.a == Some(member) => {
                if let Some(other) = e.b {
                    let connection = self.connection_view(other, e.created_at).await?;
                    out.push(live(
                        Half::Invitation,
                        "invitation.accepted",
                        json!({ "invitation_id": invitation_id, "connection": connection }),
                    ));
                }
            }
            _ => {}
        }
        if let Some((n, whose)) = e.notification {
            if whose == member {
                if let Some(record) = self.store().notification(n).await? {
                    let unread = self.store().unread_count(member).await?;
                    if let Some(view) = self.notification_views(vec![record]).await?.pop() {
                        out.push(live(
                            Half::Notification,
                            "notification.created",
                            json!({ "notification": view, "unread": unread }),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Follows the outbox and fans its events out to this process's streams until `stop`.
    pub async fn run_feed(&self, mut stop: watch::Receiver<bool>) {
        let mut position = loop {
            match self.store().last_event_seq().await {
                Ok(seq) => break seq,
                Err(e) => {
                    tracing::warn!(error = %e, "live feed cannot read the outbox; retrying");
                    tokio::time::sleep(POLL).await;
                }
            }
        };
        let mut listening = self.store().peers().map(|p| p.listening);
        while !*stop.borrow() {
            match self.feed_once(position).await {
                Ok(next) if next != position => {
                    position = next;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "live feed failed; retrying"),
            }
            let poll = match &listening {
                Some(l) if l.borrow().is_some() => QUIET_POLL,
                _ => POLL,
            };
            // The store starting or stopping to hear the others changes how often to poll.
            let heard = async {
                let changed = match listening.as_mut() {
                    Some(l) => l.changed().await.is_ok(),
                    None => false,
                };
                if !changed {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                go = crate::workers::pause(&mut stop, poll) => if !go { break },
                _ = self.inner.hub.wake.notified() => {}
                _ = heard => {}
            }
        }
    }

    async fn feed_once(&self, position: i64) -> AppResult<i64> {
        let events = self.store().events_after(position, 500).await?;
        let mut last = position;
        for e in &events {
            last = e.seq;
            for member in audience(e) {
                if !self.inner.hub.watching(member) {
                    continue;
                }
                for live in self.live_events(e, member).await? {
                    self.inner.hub.send(member, &live);
                }
            }
        }
        if let Some(e) = events.last() {
            let lag = (self.now().0 - e.created_at.0).max(0) as f64 / 1000.0;
            metrics::gauge!("rapport_live_lag_seconds").set(lag);
        }
        Ok(last)
    }
}
