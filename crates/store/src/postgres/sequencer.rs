//! Numbers outbox events in an order every replica can follow, and tells the replicas.
//!
//! Transactions on several replicas commit in an order that no number taken inside them can
//! follow: a transaction that took number 10 may commit after one that took 11, and a reader that
//! had moved past 11 would never see 10. So events are written unnumbered, and numbered afterwards,
//! one pass at a time (an advisory lock held to the pass's commit): a pass numbers, in id order,
//! the unnumbered events it can see — all committed — after the last number given. An event
//! committed later is seen only by a later pass, which starts after this one committed, so it gets
//! a larger number; and a reader sees a pass's numbers all at once. Numbers therefore only ever
//! appear in increasing order. A pass that numbered something sends `NOTIFY rapport_events`; every
//! replica's listener wakes its live feed, which reads `seq > position` as on the embedded store.

use super::*;

/// How often a replica numbers events when nothing woke it (another replica may have written).
const TICK: Duration = Duration::from_millis(250);

/// Events numbered by one pass at most.
const PASS: i64 = 10_000;

const NUMBER: &str = "
WITH todo AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n
      FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT $1) AS waiting),
bump AS (
    UPDATE event_sequence SET last_seq = last_seq + (SELECT count(*) FROM todo)
     WHERE EXISTS (SELECT 1 FROM todo)
    RETURNING last_seq - (SELECT count(*) FROM todo) AS base),
numbered AS (
    UPDATE events e SET seq = bump.base + todo.n FROM todo, bump WHERE e.id = todo.id RETURNING 1)
SELECT count(*) FROM numbered";

/// Is an event waiting for its number? Ordered by id so that the partial index on unnumbered
/// events answers it (and the pass's own query), however many numbered events the table keeps and
/// whatever the planner's statistics say.
pub(super) const WAITING: &str = "SELECT 1 FROM events WHERE seq IS NULL ORDER BY id LIMIT 1";

/// One pass: how many events it numbered, and whether more are waiting (past the pass's limit).
pub(super) async fn pass(store: &PgStore) -> StoreResult<(i64, bool)> {
    in_tx!(store, |tx| {
        tx.batch("SELECT pg_advisory_xact_lock(72617002)").await?;
        let numbered: i64 = tx.query_one(NUMBER, &[&PASS]).await?.get(0);
        if numbered > 0 {
            tx.batch(&format!("NOTIFY {CHANNEL}")).await?;
        }
        let waiting = tx.exists(WAITING, &[]).await?;
        Ok((numbered, waiting))
    })
}

/// Runs passes when this replica wrote events, every [`TICK`] otherwise, until the store is
/// dropped.
pub(super) fn start(store: &PgStore) {
    let weak = Arc::downgrade(&store.inner);
    let wake = store.inner.events_written.clone();
    let mut stop = store.inner.stop.subscribe();
    tokio::spawn(async move {
        let mut soon = false;
        loop {
            let wait = if soon {
                Duration::from_millis(10)
            } else {
                TICK
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            let Some(inner) = weak.upgrade() else { break };
            let store = PgStore { inner };
            match pass(&store).await {
                Ok((numbered, waiting)) => {
                    if numbered > 0 {
                        metrics::counter!("rapport_events_numbered_total")
                            .increment(numbered as u64);
                        (store.inner.hook)(&[Change::Event]);
                    }
                    soon = waiting;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "numbering events failed; will try again");
                    soon = false;
                }
            }
        }
    });
}

/// Listens for `NOTIFY rapport_events` on a connection of its own (reconnecting when it drops) and
/// wakes this replica's live feed and graph follower. Behind a transaction-mode pooler
/// notifications may not arrive; the feed and the follower poll as well.
pub(super) fn listen(store: &PgStore, follower: Arc<tokio::sync::Notify>) {
    let weak = Arc::downgrade(&store.inner);
    let config = store.inner.config.clone();
    let mut stop = store.inner.stop.subscribe();
    tokio::spawn(async move {
        loop {
            let session = async {
                let (client, mut connection) = config.connect(NoTls).await?;
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    use futures_util::StreamExt;
                    while let Some(Ok(m)) = messages.next().await {
                        if let tokio_postgres::AsyncMessage::Notification(_) = m {
                            if tx.send(()).is_err() {
                                break;
                            }
                        }
                    }
                });
                client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                while rx.recv().await.is_some() {
                    let Some(inner) = weak.upgrade() else { break };
                    (inner.hook)(&[Change::Event]);
                    follower.notify_one();
                }
                driver.abort();
                Ok::<(), tokio_postgres::Error>(())
            };
            tokio::select! {
                r = session => {
                    if weak.upgrade().is_none() { break }
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "listening for other replicas' events failed; reconnecting");
                    }
                }
                _ = stop.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => break,
            }
        }
    });
}
