//! The one writer of the embedded store, with group commit.
//!
//! Requests hand their transaction to this thread as a closure. The thread takes every closure that
//! is waiting (up to [`MAX_BATCH`]), runs each inside its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, and commits once. With `synchronous=FULL` that commit is one fsync for the whole
//! batch; only after it returns is any request in the batch answered. So an acknowledged write
//! survives `kill -9` and power loss, and throughput grows with concurrency instead of being capped
//! at one fsync per request. A closure that fails rolls back to its savepoint and leaves the rest
//! of the batch untouched. No `SQLITE_BUSY` can reach a client: there is no other writer.

use crate::{Change, CommitHook, StoreError, StoreResult};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most transactions folded into one commit.
pub const MAX_BATCH: usize = 512;

/// What a write closure works with: the connection, and the graph changes it makes.
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
type Job = Box<dyn FnOnce(&mut WriteTx<'_>) -> (bool, Completion) + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`. It stops once every `Writer` handle is dropped, after
    /// committing what it was given.
    pub fn start(conn: Connection, hook: CommitHook) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("rapport-writer".into())
            .spawn(move || run(conn, rx, hook))?;
        Ok(Writer { jobs: tx })
    }

    /// Runs `f` in the next commit and answers once that commit is durable.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |tx| {
            let result = f(tx);
            let ok = result.is_ok();
            let done: Completion = Box::new(move |commit| {
                let answer = match (commit, result) {
                    (_, Err(e)) => Err(e),
                    (Err(e), Ok(_)) => Err(e),
                    (Ok(()), Ok(v)) => Ok(v),
                };
                let _ = done_tx.send(answer);
            });
            (ok, done)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Internal("the writer has stopped".into()))?;
        done_rx
            .await
            .map_err(|_| StoreError::Internal("the write was abandoned".into()))?
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>, hook: CommitHook) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch, &hook);
    }
    tracing::debug!("writer stopped");
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Job>, hook: &CommitHook) {
    let size = batch.len();
    let mut completions: Vec<Completion> = Vec::with_capacity(size);
    let mut changes: Vec<Change> = Vec::new();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Nothing runs: dropping the jobs answers each request with an error.
        tracing::error!(error = %e, "could not begin a write transaction");
        batch.clear();
        return;
    }
    for job in batch.drain(..) {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            tracing::error!(error = %e, "savepoint failed");
        }
        let mut tx = WriteTx {
            conn,
            changes: Vec::new(),
        };
        match catch_unwind(AssertUnwindSafe(|| job(&mut tx))) {
            Ok((true, done)) => {
                let _ = conn.execute_batch("RELEASE job");
                changes.append(&mut tx.changes);
                completions.push(done);
            }
            Ok((false, done)) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                completions.push(done);
            }
            Err(_) => {
                // The closure panicked: its request is answered with an error when its sender is
                // dropped; the rest of the batch goes on.
                tracing::error!("a write transaction panicked; it was rolled back");
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| {
        tracing::error!(error = %e, "commit failed");
        let _ = conn.execute_batch("ROLLBACK");
        StoreError::Internal(format!("commit: {e}"))
    });
    if commit.is_ok() && !changes.is_empty() {
        hook(&changes);
    }
    metrics::histogram!("rapport_store_commit_batch_size").record(size as f64);
    for done in completions {
        done(commit.clone());
    }
}
