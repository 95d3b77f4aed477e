//! Checkpoints off the write path.
//!
//! SQLite appends every commit to the write-ahead log; a checkpoint copies the log's pages back
//! into the database file, and only a log whose every frame has been copied ("backfilled") can
//! start again from its beginning. Left to itself, the writer connection runs that checkpoint
//! inline every N pages: it copies tens of MB and fsyncs the database while the batch behind it
//! waits (the 30–50 ms write p99 of BENCHMARKS.md before 2026-12-02).
//!
//! Here the work is split in two:
//!
//! - **the checkpointer thread** backfills in the background with its own connection: a `PASSIVE`
//!   checkpoint, which never takes the writer's lock, so commits go on while it copies and
//!   fsyncs. It runs when commits have happened since its last pass, at most every
//!   [`CheckpointSettings::interval`];
//! - **the writer** only closes the gap: once the log is longer than
//!   [`CheckpointSettings::restart_frames`] and a background pass has left at most
//!   [`CheckpointSettings::final_frames`] behind, the checkpointer asks, and the writer, between
//!   two batches, runs a `PASSIVE` checkpoint of its own that copies just those last frames. The log
//!   is then wholly backfilled, so the writer's next transaction starts it again from the
//!   beginning (and `journal_size_limit`, [`CheckpointSettings::wal_size_limit`], trims the
//!   file). A background checkpoint alone can never get there while commits keep coming: each
//!   pass ends behind the writer (tried and measured in BENCHMARKS.md, 2026-11-23).
//!
//! Durability is SQLite's own: a checkpoint fsyncs the log before copying it and the database
//! after, with `synchronous=NORMAL` on both connections, so a restarted log never overwrites a frame
//! whose page is not safely in the database. A `kill -9` during either pass leaves a log that the
//! next open replays (the crash test kills the server during checkpoints).

use rusqlite::Connection;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// When checkpoints run (`RAPPORT_SQLITE_CHECKPOINT_INTERVAL`, `RAPPORT_SQLITE_WAL_RESTART_SIZE`);
/// the defaults suit a server, the crash test shrinks them to checkpoint constantly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointSettings {
    /// The shortest time between two background passes.
    pub interval: Duration,
    /// The log size in bytes past which the writer closes the gap so that the log starts again.
    /// The writer copies at most an eighth of it itself; more, and the background catches up
    /// first.
    pub restart_size: u64,
}

impl Default for CheckpointSettings {
    /// Passes every 10 ms rather than 100: each copies less, and so leaves the writer's final
    /// pass less behind (open-loop write p99 about a third lower: BENCHMARKS.md, the write tail's
    /// second round).
    fn default() -> Self {
        CheckpointSettings {
            interval: Duration::from_millis(10),
            restart_size: 64 << 20,
        }
    }
}

impl CheckpointSettings {
    /// The size the log file is trimmed to when it starts again (`journal_size_limit`): twice the
    /// restart size. The log grows past the restart size while the writer waits for a background
    /// pass to come close (to 1.7 times it under the benchmark's load); trimming it back at every
    /// restart made the next round allocate the file's blocks anew on every append and stalled the
    /// writer in `ftruncate` for up to 6 ms. Kept, the file is overwritten in place.
    pub(super) fn wal_size_limit(&self) -> i64 {
        i64::try_from(self.restart_size.saturating_mul(2)).unwrap_or(i64::MAX)
    }
}

/// [`CheckpointSettings`] in frames of the database's page size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Thresholds {
    interval: Duration,
    /// The log length past which the log should start again.
    restart_frames: i64,
    /// The most frames the writer copies itself.
    final_frames: i64,
}

impl Thresholds {
    pub(super) fn new(settings: CheckpointSettings, page_size: u64) -> Thresholds {
        let restart_frames = (settings.restart_size / page_size.max(512)).max(16);
        Thresholds {
            interval: settings.interval,
            restart_frames: restart_frames as i64,
            final_frames: (restart_frames / 8).max(2) as i64,
        }
    }
}

/// What a `PRAGMA wal_checkpoint` answered.
#[derive(Debug, Clone, Copy)]
struct Pass {
    /// Frames in the log.
    log: i64,
    /// Frames of the log now in the database.
    backfilled: i64,
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Pass {
            log: r.get(1)?,
            backfilled: r.get(2)?,
        })
    })
}

#[derive(Default)]
struct State {
    /// Commits since the last background pass began.
    commits: u64,
    /// The checkpointer asks the writer to close the gap.
    final_pass_wanted: bool,
    /// The writer has stopped: so does the checkpointer.
    stopped: bool,
}

/// What the writer and the checkpointer share.
#[derive(Default)]
pub(super) struct Checkpoints {
    state: Mutex<State>,
    wake: Condvar,
}

impl Checkpoints {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer committed a batch.
    pub(super) fn committed(&self) {
        self.state().commits += 1;
        self.wake.notify_one();
    }

    /// Called by the writer between batches: runs the short final pass if it was asked for.
    pub(super) fn between_batches(&self, conn: &Connection) {
        if !self.state().final_pass_wanted {
            return;
        }
        let started = Instant::now();
        match checkpoint(conn) {
            Ok(pass) => {
                let seconds = started.elapsed().as_secs_f64();
                metrics::histogram!("rapport_store_checkpoint_seconds", "pass" => "final")
                    .record(seconds);
                tracing::debug!(
                    log = pass.log,
                    backfilled = pass.backfilled,
                    seconds,
                    "final checkpoint pass"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "the final checkpoint pass failed; the log keeps growing until the next")
            }
        }
        self.state().final_pass_wanted = false;
        self.wake.notify_one();
    }

    /// The writer stopped.
    pub(super) fn stop(&self) {
        self.state().stopped = true;
        self.wake.notify_one();
    }

    /// The checkpointer thread's loop, until the writer stops.
    pub(super) fn run(self: Arc<Self>, conn: Connection, settings: Thresholds) {
        let mut last_log: i64 = 0;
        loop {
            {
                let mut state = self.state();
                while !state.stopped && (state.commits == 0 || state.final_pass_wanted) {
                    state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                if state.stopped {
                    break;
                }
                state.commits = 0;
            }
            let started = Instant::now();
            match checkpoint(&conn) {
                Ok(pass) => {
                    metrics::histogram!("rapport_store_checkpoint_seconds", "pass" => "background")
                        .record(started.elapsed().as_secs_f64());
                    metrics::gauge!("rapport_store_wal_frames").set(pass.log as f64);
                    if pass.log < last_log {
                        metrics::counter!("rapport_store_wal_restarts_total").increment(1);
                    }
                    last_log = pass.log;
                    let behind = pass.log - pass.backfilled;
                    if pass.log >= settings.restart_frames && behind <= settings.final_frames {
                        self.state().final_pass_wanted = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "background checkpoint failed; trying again"),
            }
            std::thread::sleep(settings.interval.saturating_sub(started.elapsed()));
        }
        tracing::debug!("checkpointer stopped");
    }
}
