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
//! replica's [`listener`] wakes its live feed, which reads `seq > position` as on the embedded store.
//!
//! A replica numbers the events it wrote itself, woken by its own commit, so an idle replica has
//! nothing to do. It still runs a pass every [`TICK`], as a safety net for events whose writer
//! died between its commit and its pass.

use super::*;

/// How often a replica numbers events when nothing woke it: events left unnumbered by a replica
/// that died right after committing them wait at most this long.
const TICK: Duration = Duration::from_secs(5);

/// How soon a pass that failed is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// Events numbered by one pass at most.
const PASS: i64 = 10_000;

/// Is an event waiting for its number? Ordered by id so that the partial index on unnumbered
/// events answers it (and the pass's own query), however many numbered events the table keeps and
/// whatever the planner's statistics say.
pub(super) const WAITING: &str = "SELECT 1 FROM events WHERE seq IS NULL ORDER BY id LIMIT 1";

/// One pass: how many events it numbered, and whether more are waiting (past the pass's limit).
/// One statement (`rapport_number_events`, in `0003_notify.sql`) that runs on its own, so its
/// transaction, and the advisory lock that orders passes, end with it; behind a transaction-mode
/// pooler, where reads are wrapped in read-only transactions, in a transaction of its own.
pub(super) async fn pass(store: &PgStore) -> StoreResult<(i64, bool)> {
    async fn number(c: &Tx) -> TxResult<(i64, bool)> {
        let r = c
            .query_one("SELECT * FROM rapport_number_events($1)", &[&PASS])
            .await?;
        Ok((r.get(0), r.get(1)))
    }
    if store.inner.cache_statements {
        read!(store, |c| number(c).await)
    } else {
        in_tx!(store, |tx| number(tx).await)
    }
}

/// Runs passes when this replica wrote events, every [`TICK`] otherwise, until the store is
/// dropped.
pub(super) fn start(store: &PgStore) {
    let weak = Arc::downgrade(&store.inner);
    let wake = store.inner.events_written.clone();
    let mut stop = store.inner.stop.subscribe();
    tokio::spawn(async move {
        let mut wait = TICK;
        loop {
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
                    wait = if waiting {
                        Duration::from_millis(10)
                    } else {
                        TICK
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "numbering events failed; will try again");
                    wait = RETRY;
                }
            }
        }
    });
}
