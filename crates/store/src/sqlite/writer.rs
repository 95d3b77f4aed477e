//! The one writer of the embedded store: group commit, pipelined with the fsync.
//!
//! Requests hand their transaction to the writer thread as a closure. The writer takes every
//! closure that is waiting (up to [`MAX_BATCH`]), runs them one after the other inside one
//! `BEGIN IMMEDIATE` transaction, and commits once. No `SQLITE_BUSY` can reach a client: there is
//! no other writer.
//!
//! Closures check before they write: a rule that refuses does so before any row changes, so a
//! refused request leaves nothing behind and the rest of the batch goes on. (Savepoints per closure
//! would make that automatic, but cost a copy of every page a closure touches; see BENCHMARKS.md.)
//! A closure that fails or panics after changing rows poisons its batch: the whole batch is rolled
//! back and every request in it is answered with an error, so nothing half-written is ever kept.
//!
//! Durability is the syncer thread's job. The writer commits with `synchronous=NORMAL`, so SQLite
//! writes the batch's WAL frames without waiting for the disk, and hands the batch's answers to the
//! syncer. The syncer `fdatasync`s the WAL file — one sync covers every batch committed before it
//! began — and only then answers those requests. Meanwhile the writer is already running the next
//! batch: the disk's latency overlaps the next batch's work instead of stalling it. So:
//!
//! - every acknowledged write was on disk before its answer left (it survives `kill -9` and power
//!   loss): fsync is never turned off, only moved off the writer's critical path;
//! - a request that failed is answered after the same sync, since its refusal may rest on a write
//!   of an earlier batch that is not yet durable;
//! - if an fsync fails the process aborts (as PostgreSQL does): after a failed fsync the kernel may
//!   have dropped the dirty pages, and no later answer could be trusted.
//!
//! SQLite itself syncs the WAL before each checkpoint copies it into the database, so a WAL restart
//! can never overwrite frames that were not yet durable.
//!
//! A full disk (`SQLITE_FULL`) refuses the write that needed room, as `StorageFull`; when it strikes
//! a closure after others in its batch changed rows, the batch is rolled back and every request in
//! it is answered `StorageFull`. SQLite may roll the whole transaction back by itself on that
//! error: then the rest of the batch runs in a fresh transaction that is rolled back too, so that
//! no closure's writes are ever committed on their own. Nothing else changes: the next batch that
//! finds room commits, so writes resume by themselves once space is freed.

use super::checkpoint::{CheckpointSettings, Checkpoints, Thresholds};
use crate::{Change, CommitHook, StoreError, StoreResult};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most transactions folded into one commit.
pub const MAX_BATCH: usize = 512;

/// What a write closure works with: the connection, and the changes it makes.
pub struct WriteTx<'c> {
    pub conn: &'c Connection,
    changes: Vec<Change>,
}

impl WriteTx<'_> {
    pub fn record(&mut self, change: Change) {
        self.changes.push(change);
    }
}

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A request's transaction: runs on the writer, and says how it ended (its error, if any) and how
/// to answer it once the batch's fate is known.
type Job = Box<dyn FnOnce(&mut WriteTx<'_>) -> (Option<StoreError>, Completion) + Send>;

/// A committed batch waiting for its fsync.
struct Committed {
    outcome: Result<(), StoreError>,
    completions: Vec<Completion>,
    /// Some write of the batch found the disk full.
    full: bool,
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    queue: Arc<Queue>,
}

/// The writer's backlog, as requests see it before they join it.
struct Queue {
    /// Transactions handed to the writer and not yet run.
    waiting: AtomicUsize,
    /// How long one transaction takes the writer, on average lately (nanoseconds, an exponential
    /// moving average over batches).
    per_job_nanos: AtomicU64,
    /// The longest a new write may expect to wait for the writer; beyond, it is refused.
    budget: Option<Duration>,
}

impl Queue {
    /// The writer ran `jobs` transactions in `took`.
    fn ran(&self, jobs: usize, took: Duration) {
        self.waiting.fetch_sub(jobs, Ordering::Relaxed);
        let sample = (took.as_nanos() / jobs.max(1) as u128).min(u64::MAX as u128) as u64;
        let old = self.per_job_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.per_job_nanos.store(new, Ordering::Relaxed);
        metrics::gauge!("rapport_store_write_queue")
            .set(self.waiting.load(Ordering::Relaxed) as f64);
    }

    /// How long a write joining the queue now would wait before the writer runs it.
    fn expected_wait(&self) -> Duration {
        let waiting = self.waiting.load(Ordering::Relaxed) as u64;
        Duration::from_nanos(waiting.saturating_mul(self.per_job_nanos.load(Ordering::Relaxed)))
    }
}

tokio::task_local! {
    /// Set while a member's request runs (see [`refusable`]).
    static REFUSABLE: ();
}

/// Runs `work` (a member's request) so that its writes may be refused with
/// [`StoreError::Overloaded`] when the writer is further behind than its budget. Everything else
/// (background work, commands such as `rapport seed`, the server's own start) waits its turn
/// instead: refusing it would lose work nobody retries.
pub async fn refusable<F: std::future::Future>(work: F) -> F::Output {
    REFUSABLE.scope((), work).await
}

/// How the writer runs: the backlog it accepts and when it checkpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterSettings {
    /// The longest a write may expect to wait behind others before it is refused with
    /// [`StoreError::Overloaded`]; `None` queues without bound.
    pub queue_budget: Option<Duration>,
    pub checkpoints: CheckpointSettings,
}

impl Writer {
    /// Starts the writer, syncer and checkpointer threads. `wal` is the database's `-wal` file;
    /// `checkpointer` a second connection to the database, for background checkpoints. The threads
    /// stop once every `Writer` handle is dropped, after committing and syncing what they were
    /// given.
    pub fn start(
        conn: Connection,
        checkpointer: Connection,
        wal: PathBuf,
        hook: CommitHook,
        settings: WriterSettings,
    ) -> std::io::Result<Writer> {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (sync_tx, sync_rx) = mpsc::channel::<Committed>();
        let db = PathBuf::from(wal.to_string_lossy().trim_end_matches("-wal"));
        let queue = Arc::new(Queue {
            waiting: AtomicUsize::new(0),
            per_job_nanos: AtomicU64::new(0),
            budget: settings.queue_budget,
        });
        let checkpoints = Arc::new(Checkpoints::default());
        std::thread::Builder::new()
            .name("rapport-syncer".into())
            .spawn(move || sync_loop(wal, sync_rx))?;
        let page_size: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(std::io::Error::other)?;
        let thresholds = Thresholds::new(settings.checkpoints, page_size);
        let background = checkpoints.clone();
        std::thread::Builder::new()
            .name("rapport-checkpointer".into())
            .spawn(move || background.run(checkpointer, thresholds))?;
        let loop_queue = queue.clone();
        std::thread::Builder::new()
            .name("rapport-writer".into())
            .spawn(move || {
                write_loop(conn, db, job_rx, hook, sync_tx, &loop_queue, &checkpoints);
                checkpoints.stop();
            })?;
        Ok(Writer {
            jobs: job_tx,
            queue,
        })
    }

    /// Runs `f` in the next commit and answers once that commit is durable.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let budget = self
            .queue
            .budget
            .filter(|_| REFUSABLE.try_with(|_| ()).is_ok());
        if let Some(budget) = budget {
            let wait = self.queue.expected_wait();
            if wait > budget {
                metrics::counter!("rapport_store_writes_refused_total").increment(1);
                return Err(StoreError::Overloaded(format!(
                    "the writer is about {} ms behind",
                    wait.as_millis()
                )));
            }
        }
        let (done_tx, done_rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |tx| {
            let result = f(tx);
            let failed = result.as_ref().err().cloned();
            let done: Completion = Box::new(move |commit| {
                let answer = match (commit, result) {
                    (_, Err(e)) => Err(e),
                    (Err(e), Ok(_)) => Err(e),
                    (Ok(()), Ok(v)) => Ok(v),
                };
                let _ = done_tx.send(answer);
            });
            (failed, done)
        });
        self.queue.waiting.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(job).map_err(|_| {
            self.queue.waiting.fetch_sub(1, Ordering::Relaxed);
            StoreError::Internal("the writer has stopped".into())
        })?;
        done_rx
            .await
            .map_err(|_| StoreError::Internal("the write was abandoned".into()))?
    }
}

/// How often, at most, the writer repeats what the operator must do about a full disk.
const FULL_LOG_EVERY: Duration = Duration::from_secs(60);

fn write_loop(
    conn: Connection,
    db: PathBuf,
    rx: mpsc::Receiver<Job>,
    hook: CommitHook,
    synced: mpsc::Sender<Committed>,
    queue: &Queue,
    checkpoints: &Checkpoints,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut full_logged: Option<Instant> = None;
    let mut busy = BusyShare::new();
    while let Ok(first) = rx.recv() {
        checkpoints.between_batches(&conn);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let started = Instant::now();
        let committed = commit_batch(&conn, &mut batch, &hook);
        let took = started.elapsed();
        queue.ran(size, took);
        busy.add(took);
        checkpoints.committed();
        let full = committed.as_ref().is_some_and(|c| c.full);
        let said_lately = matches!(full_logged, Some(at) if at.elapsed() < FULL_LOG_EVERY);
        if full && !said_lately {
            full_logged = Some(Instant::now());
            tracing::error!(
                database = %db.display(),
                "the embedded database is full: free disk space where it lives (or raise \
                 RAPPORT_SQLITE_MAX_SIZE and restart); until then writes are refused with \
                 503 storage_full while reads go on, and writes resume by themselves once there \
                 is room"
            );
        }
        if let Some(committed) = committed {
            if synced.send(committed).is_err() {
                tracing::error!("the syncer has stopped");
                break;
            }
        }
    }
    tracing::debug!("writer stopped");
}

/// The share of the last second the writer spent running batches (`rapport_store_writer_busy`, 0
/// to 1): near 1, writes queue.
struct BusyShare {
    since: Instant,
    busy: Duration,
}

impl BusyShare {
    const WINDOW: Duration = Duration::from_secs(1);

    fn new() -> BusyShare {
        BusyShare {
            since: Instant::now(),
            busy: Duration::ZERO,
        }
    }

    fn add(&mut self, took: Duration) {
        self.busy += took;
        let window = self.since.elapsed();
        if window >= Self::WINDOW {
            metrics::gauge!("rapport_store_writer_busy")
                .set(self.busy.as_secs_f64() / window.as_secs_f64());
            *self = BusyShare::new();
        }
    }
}

/// Executes one cached statement that takes no parameters and returns no rows.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Job>, hook: &CommitHook) -> Option<Committed> {
    let size = batch.len();
    let started = Instant::now();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        // Nothing runs: dropping the jobs answers each request with an error.
        tracing::error!(error = %e, "could not begin a write transaction");
        batch.clear();
        return None;
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(size);
    let mut changes: Vec<Change> = Vec::new();
    let mut poisoned = false;
    let mut full = false;
    for job in batch.drain(..) {
        let before = conn.total_changes();
        let mut tx = WriteTx {
            conn,
            changes: Vec::new(),
        };
        match catch_unwind(AssertUnwindSafe(|| job(&mut tx))) {
            Ok((None, done)) => {
                changes.append(&mut tx.changes);
                completions.push(done);
            }
            Ok((Some(e), done)) => {
                full |= matches!(e, StoreError::StorageFull(_));
                if conn.total_changes() != before {
                    tracing::error!(
                        "a write transaction failed after changing rows; rolling back its batch"
                    );
                    poisoned = true;
                }
                completions.push(done);
            }
            Err(_) => {
                // Its request is answered with an error when its sender is dropped.
                tracing::error!("a write transaction panicked");
                poisoned |= conn.total_changes() != before;
            }
        }
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (it may, on a full disk or an I/O error):
            // what ran before is gone, and what runs after must not commit on its own.
            tracing::error!("the write transaction was rolled back under its batch");
            poisoned = true;
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                tracing::error!(error = %e, "could not begin a write transaction");
                // The rest are dropped with the drain: each request is answered with an error.
                break;
            }
        }
    }
    let jobs_done = Instant::now();
    let outcome = if poisoned {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        changes.clear();
        Err(if full {
            StoreError::StorageFull(
                "the disk filled up under this batch of writes; nothing was written".into(),
            )
        } else {
            StoreError::Internal(
                "a transaction in this batch failed midway; nothing was written".into(),
            )
        })
    } else {
        exec(conn, "COMMIT").map_err(|e| {
            tracing::error!(error = %e, "commit failed");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            match StoreError::from(e) {
                StoreError::StorageFull(m) => {
                    full = true;
                    StoreError::StorageFull(format!("commit: {m}"))
                }
                StoreError::Internal(m) => StoreError::Internal(format!("commit: {m}")),
                other => other,
            }
        })
    };
    if outcome.is_ok() && !changes.is_empty() {
        hook(&changes);
    }
    metrics::histogram!("rapport_store_commit_batch_size").record(size as f64);
    metrics::histogram!("rapport_store_batch_run_seconds")
        .record((jobs_done - started).as_secs_f64());
    metrics::histogram!("rapport_store_commit_seconds").record(jobs_done.elapsed().as_secs_f64());
    Some(Committed {
        outcome,
        completions,
        full,
    })
}

fn sync_loop(wal: PathBuf, rx: mpsc::Receiver<Committed>) {
    let mut file: Option<std::fs::File> = None;
    let mut pending: Vec<Committed> = Vec::new();
    while let Ok(first) = rx.recv() {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let started = Instant::now();
        if pending.iter().any(|c| c.outcome.is_ok()) {
            if let Err(e) = sync_wal(&wal, &mut file) {
                tracing::error!(error = %e, wal = %wal.display(), "fsync of the write-ahead log failed; stopping");
                std::process::abort();
            }
        }
        metrics::histogram!("rapport_store_fsync_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("rapport_store_commits_per_fsync").record(pending.len() as f64);
        for committed in pending.drain(..) {
            let Committed {
                outcome,
                completions,
                ..
            } = committed;
            for done in completions {
                done(outcome.clone());
            }
        }
    }
    tracing::debug!("syncer stopped");
}

/// `fdatasync` of the WAL file, opening it on first use (SQLite creates it with the first write).
/// Never retried: after a failed fsync the kernel may have dropped the dirty pages, so a retry that
/// succeeds proves nothing.
fn sync_wal(wal: &std::path::Path, file: &mut Option<std::fs::File>) -> std::io::Result<()> {
    if file.is_none() {
        *file = Some(std::fs::File::open(wal)?);
    }
    match file {
        Some(f) => f.sync_data(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn writer(dir: &std::path::Path, budget: Duration) -> Writer {
        let db = dir.join("w.db");
        let conn = super::super::open_writer_connection(&db).expect("opens");
        let checkpointer = super::super::open_checkpointer_connection(&db).expect("opens");
        let mut wal = db.into_os_string();
        wal.push("-wal");
        let settings = WriterSettings {
            queue_budget: Some(budget),
            checkpoints: CheckpointSettings::default(),
        };
        Writer::start(conn, checkpointer, wal.into(), Arc::new(|_| {}), settings)
            .expect("the writer starts")
    }

    /// The refusal rests on counts and on how long a job took at least (a sleep), never on how
    /// fast the machine is.
    #[tokio::test]
    async fn a_write_that_would_wait_past_the_budget_is_refused_and_nothing_else_is() {
        let dir = tempfile::tempdir().expect("a directory");
        let w = writer(dir.path(), Duration::from_millis(10));
        // One transaction that takes at least 50 ms teaches the writer what a job costs.
        w.write(|_| {
            std::thread::sleep(Duration::from_millis(50));
            Ok(())
        })
        .await
        .expect("an idle writer takes a write");
        // Now one holds the writer: whoever comes next would wait about 50 ms.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let holder = w.clone();
        let holding = tokio::spawn(async move {
            holder
                .write(move |_| {
                    let _ = started_tx.send(());
                    let _ = held.recv();
                    Ok(())
                })
                .await
        });
        started.await.expect("the writer runs the holder");
        // Background work waits its turn; a request is refused.
        let waits = w.clone();
        let background = tokio::spawn(async move { waits.write(|_| Ok(())).await });
        let refused = refusable(w.write(|_| Ok(()))).await;
        assert!(
            matches!(refused, Err(StoreError::Overloaded(_))),
            "refused: {refused:?}"
        );
        release.send(()).expect("the holder waits");
        holding.await.expect("joins").expect("the holder commits");
        background
            .await
            .expect("joins")
            .expect("background work is never refused");
        // The queue is empty again: writes are taken.
        w.write(|_| Ok(())).await.expect("taken again");
    }
}
