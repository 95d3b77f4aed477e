//! How a replica hears the others: one connection of its own that `LISTEN`s, and wakes whoever
//! waits for what another replica wrote.
//!
//! Three channels, each sent only when the writing transaction commits:
//! - `rapport_events`: the [`sequencer`] numbered outbox events; the live feed reads them.
//! - `rapport_graph`: a transaction logged pairs to `graph_changes` (a trigger sends it); the graph
//!   [`follower`] reads them.
//! - `rapport_revocations`: a sign-in token was deleted (a trigger sends its hash in hex); it goes
//!   out to [`Peers::revoked`](crate::Peers), so that token caches drop it.
//! - `rapport_cache`: a member's shown columns or a block changed (triggers send which); the
//!   replica's [`caches`] drop what they held of it.
//!
//! Whether the replica is listening is [`Peers::listening`](crate::Peers): the number of the
//! connection it listens on, set once its `LISTEN` has returned (a transaction that commits after
//! that is heard), and `None` from the moment the connection is lost until the next one listens.
//! Notifications sent in between are lost, so the follower and the live feed poll often while it
//! is `None` and are woken once it listens again, and token caches are emptied. TCP keepalives make
//! a connection that died silently count as lost within seconds rather than hours.
//!
//! Behind a transaction-mode pooler (`?pgbouncer=true`) a `LISTEN` lasts only as long as the
//! transaction that sent it holds its server connection, so notifications cannot be relied on and
//! the replica does not listen at all: it stays `None`, polls, and caches no tokens.

use super::caches::CACHE_CHANNEL;
use super::*;

/// The channels the listener hears.
pub(super) const GRAPH_CHANNEL: &str = "rapport_graph";
pub(super) const REVOCATIONS_CHANNEL: &str = "rapport_revocations";

/// How long before trying again when the listening connection could not be made or was lost.
const RECONNECT: Duration = Duration::from_secs(1);

/// Revocations buffered for a slow receiver before it lags (and empties its cache).
pub(super) const REVOCATIONS_BUFFER: usize = 4096;

/// A token hash from its hex form (the `rapport_revocations` payload).
fn parse_hash(hex: &str) -> Option<TokenHash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

/// Listens until the store is dropped, reconnecting when the connection drops; `graph` wakes the
/// follower.
pub(super) fn start(store: &PgStore, graph: Arc<tokio::sync::Notify>) {
    if !store.inner.cache_statements {
        tracing::info!("behind a transaction-mode pooler: polling for other replicas' writes");
        return;
    }
    let weak = Arc::downgrade(&store.inner);
    let mut config = store.inner.config.clone();
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3);
    let mut stop = store.inner.stop.subscribe();
    tokio::spawn(async move {
        let mut connections: u64 = 0;
        loop {
            let session = async {
                let (client, mut connection) = config.connect(NoTls).await?;
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    use futures_util::StreamExt;
                    while let Some(Ok(m)) = messages.next().await {
                        if let tokio_postgres::AsyncMessage::Notification(n) = m {
                            if tx.send(n).is_err() {
                                break;
                            }
                        }
                    }
                });
                client
                    .batch_execute(&format!(
                        "LISTEN {CHANNEL}; LISTEN {GRAPH_CHANNEL}; LISTEN {REVOCATIONS_CHANNEL}; LISTEN {CACHE_CHANNEL}"
                    ))
                    .await?;
                connections += 1;
                {
                    let Some(inner) = weak.upgrade() else {
                        return Ok(());
                    };
                    inner.listening.send_replace(Some(connections));
                    inner.caches.reset(true);
                    // Whatever was sent while nobody listened: read it now.
                    (inner.hook)(&[Change::Event]);
                    graph.notify_one();
                }
                while let Some(n) = rx.recv().await {
                    let Some(inner) = weak.upgrade() else { break };
                    match n.channel() {
                        REVOCATIONS_CHANNEL => match parse_hash(n.payload()) {
                            Some(hash) => {
                                // No receiver (no token cache) is fine.
                                let _ = inner.revoked.send(hash);
                            }
                            None => tracing::warn!(
                                payload = n.payload(),
                                "a revocation that is not a token hash"
                            ),
                        },
                        GRAPH_CHANNEL => graph.notify_one(),
                        CACHE_CHANNEL => inner.caches.invalidate(n.payload()),
                        _ => (inner.hook)(&[Change::Event]),
                    }
                }
                driver.abort();
                Ok::<(), tokio_postgres::Error>(())
            };
            let ended = tokio::select! {
                r = session => r,
                _ = stop.changed() => break,
            };
            let Some(inner) = weak.upgrade() else { break };
            inner.listening.send_replace(None);
            inner.caches.reset(false);
            // Poll at once rather than at the next tick: the follower and the feed see `None`.
            graph.notify_one();
            drop(inner);
            match ended {
                Ok(()) => tracing::warn!(
                    "the connection listening to other replicas closed; reconnecting"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "listening to other replicas failed; reconnecting")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(RECONNECT) => {}
                _ = stop.changed() => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_payload_is_a_token_hash_in_hex() {
        let hash: TokenHash = std::array::from_fn(|i| (i * 7) as u8);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_hash(&hex), Some(hash));
        assert_eq!(parse_hash(&hex[2..]), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
        assert_eq!(parse_hash(&"é".repeat(32)), None);
    }
}
