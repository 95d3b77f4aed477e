//! Keeps this replica's graph index in step with what the other replicas write.
//!
//! Every transaction that may change whether two members are connected (an accept, a removal, a
//! block, an account hidden or shown) writes the pair to `graph_changes`. The follower reads, in a
//! REPEATABLE READ snapshot, the pairs written by transactions it may not have seen (`xid` at or
//! above the previous snapshot's xmin: whatever committed since was still running then, so its
//! xid is at least that) together with each pair's state in the same snapshot, and applies the
//! state. Applying a state is idempotent and does not depend on order, so pairs read twice do no
//! harm; a pair this replica changed itself after the snapshot was taken is left for the next
//! pass, so a replica never shows its own write undone, even for a moment.
//!
//! A replica that starts later loads the graph with a full scan in one snapshot and follows from
//! that snapshot's xmin.
//!
//! A trigger on `graph_changes` sends `NOTIFY rapport_graph` with every transaction that logs
//! pairs, and the [`listener`] wakes the follower when it arrives, after the commit: an idle
//! replica reads nothing. It reads every [`SAFETY_TICK`] all the same, and every [`TICK`] while the
//! listener has no connection (notifications sent then are lost). Passes are at least [`MIN_GAP`]
//! apart: under load one pass reads what many commits logged.

use super::*;

/// How often the follower reads when nothing woke it while the listener is down: the other
/// replicas' changes show within it.
const TICK: Duration = Duration::from_millis(200);

/// How often it reads when nothing woke it while the listener hears every commit: a safety net.
const SAFETY_TICK: Duration = Duration::from_secs(5);

/// The shortest time between two passes: under load, commits that log pairs arrive faster than
/// passes are worth running, and one pass reads them all.
const MIN_GAP: Duration = Duration::from_millis(50);

/// How often old `graph_changes` rows are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How long `graph_changes` rows are kept: a replica that stops following for longer reloads.
const KEEP_MS: i64 = 24 * 3_600_000;

const CHANGED: &str = "
SELECT DISTINCT g.a_id, g.b_id,
       EXISTS (SELECT 1 FROM connections c WHERE c.member_id = g.a_id AND c.other_id = g.b_id)
       AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id IN (g.a_id, g.b_id) AND m.status <> 'active')
  FROM graph_changes g
 WHERE g.xid >= $1::text::xid8";

/// The snapshot's xmin as text (xid8 has no binary form in the driver).
pub(super) const SNAPSHOT_XMIN: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text";

/// One pass from `from`: the next starting point and the changes to apply.
async fn read_changes(store: &PgStore, from: &str) -> StoreResult<(String, Vec<Change>)> {
    in_tx!(store, |tx| {
        // Planned for the position actually asked for: a generic plan guesses a third of the
        // table (changes are kept a day) and hashes every connection to check a handful of pairs.
        tx.batch(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;
             SET LOCAL plan_cache_mode = force_custom_plan",
        )
        .await?;
        let next: String = tx.query_one(SNAPSHOT_XMIN, &[]).await?.get(0);
        let rows = tx.query(CHANGED, &[&from]).await?;
        let changes = rows
            .iter()
            .map(|r| {
                let (a, b) = (MemberId(r.get(0)), MemberId(r.get(1)));
                if r.get::<_, bool>(2) {
                    Change::Connected(a, b)
                } else {
                    Change::Disconnected(a, b)
                }
            })
            .collect();
        Ok((next, changes))
    })
}

pub(super) fn start(store: &PgStore) {
    let weak = Arc::downgrade(&store.inner);
    let wake = Arc::new(tokio::sync::Notify::new());
    listener::start(store, wake.clone());
    let listening = store.inner.listening.subscribe();
    let mut stop = store.inner.stop.subscribe();
    tokio::spawn(async move {
        let mut pruned = tokio::time::Instant::now();
        let mut last_pass = tokio::time::Instant::now();
        loop {
            let tick = if listening.borrow().is_some() {
                SAFETY_TICK
            } else {
                TICK
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep_until(last_pass + MIN_GAP) => {}
                _ = stop.changed() => break,
            }
            last_pass = tokio::time::Instant::now();
            let Some(inner) = weak.upgrade() else { break };
            let store = PgStore { inner };
            let Some(from) = store.graph_position() else {
                continue;
            };
            let started = store.inner.local_graph_clock.load(Ordering::SeqCst);
            match read_changes(&store, &from).await {
                Ok((next, changes)) => {
                    let apply: Vec<Change> = {
                        let mut local = store
                            .inner
                            .local_graph
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        let apply = changes
                            .into_iter()
                            .filter(|c| match c {
                                Change::Connected(a, b) | Change::Disconnected(a, b) => local
                                    .get(&pair(*a, *b))
                                    .is_none_or(|&stamp| stamp <= started),
                                _ => true,
                            })
                            .collect();
                        // What this replica applied before this pass began is in its snapshot.
                        local.retain(|_, stamp| *stamp > started);
                        apply
                    };
                    if !apply.is_empty() {
                        (store.inner.hook)(&apply);
                    }
                    store.set_graph_position(next);
                }
                Err(e) => tracing::warn!(error = %e, "following the graph failed; will try again"),
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                let cutoff = now_ms() - KEEP_MS;
                let deleted = in_tx!(&store, |tx| {
                    tx.execute(
                        "DELETE FROM graph_changes WHERE created_at < $1",
                        &[&cutoff],
                    )
                    .await
                });
                if let Err(e) = deleted {
                    tracing::warn!(error = %e, "pruning graph changes failed");
                }
            }
        }
    });
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl PgStore {
    fn graph_position(&self) -> Option<String> {
        self.inner
            .graph_from
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_graph_position(&self, xmin: String) {
        *self
            .inner
            .graph_from
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(xmin);
    }

    /// Every connection between active members, streamed to `sink` in order, from one snapshot
    /// whose xmin the follower then starts from. On a read replica when one is configured: a
    /// transaction the replica had not replayed yet was running in its snapshot, so its xid is at
    /// least that snapshot's xmin and the follower, reading the primary, sees it.
    pub(super) async fn scan_graph(
        &self,
        sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
    ) -> StoreResult<()> {
        let conn = self.bulk_reader().await.map_err(StoreError::from)?;
        let result: TxResult<String> = async {
            conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
            let xmin: String = conn.query_one(SNAPSHOT_XMIN, &[]).await?.get(0);
            let st = conn
                .prepare(
                    "SELECT c.member_id, c.other_id FROM connections c
                       JOIN members a ON a.id = c.member_id AND a.status = 'active'
                       JOIN members b ON b.id = c.other_id AND b.status = 'active'
                      ORDER BY c.member_id, c.other_id",
                )
                .await?;
            let params: [&(dyn ToSql + Sync); 0] = [];
            let rows = conn.query_raw(&st, params).await?;
            use futures_util::StreamExt;
            futures_util::pin_mut!(rows);
            while let Some(row) = rows.next().await {
                let row = row?;
                sink(MemberId(row.get(0)), MemberId(row.get(1)));
            }
            conn.batch_execute("COMMIT").await?;
            Ok(xmin)
        }
        .await;
        match result {
            Ok(xmin) => {
                // Keep the earliest position: a later scan must not skip what an earlier
                // follower pass has not yet read.
                let mut from = self
                    .inner
                    .graph_from
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if from.is_none() {
                    *from = Some(xmin);
                }
                Ok(())
            }
            Err(f) => {
                let _ = conn.batch_execute("ROLLBACK").await;
                Err(f.into())
            }
        }
    }
}
