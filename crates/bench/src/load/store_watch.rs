//! What the embedded store does while a run lasts: the write-ahead log's largest size (its file
//! polled every 10 ms) and the checkpoints the server counted on `/metrics` (read before and after
//! the run).

use super::client::Conn;
use hyper::Method;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MIB: f64 = 1_048_576.0;

/// The checkpoint figures of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StoreDuringRun {
    /// The `-wal` file's largest size during the run.
    pub wal_max_mib: f64,
    /// Background passes (the checkpointer thread; commits go on meanwhile).
    pub background: Passes,
    /// Final passes (the writer closes the gap between two batches; writes wait).
    pub final_pass: Passes,
    /// Times the log started again from its beginning.
    pub wal_restarts: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Passes {
    pub count: u64,
    pub mean_ms: f64,
    /// The slowest pass the server's summary holds (its last minute or so, so it may include the
    /// end of the run before).
    pub max_ms: f64,
}

/// Polls the log's size until [`WalWatch::finish`].
pub(crate) struct WalWatch {
    stop: Arc<AtomicBool>,
    poller: std::thread::JoinHandle<u64>,
}

impl WalWatch {
    pub(crate) fn start(wal: PathBuf) -> WalWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = stop.clone();
        let poller = std::thread::spawn(move || {
            let mut max = 0u64;
            while !seen.load(Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(&wal) {
                    max = max.max(m.len());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            max
        });
        WalWatch { stop, poller }
    }

    /// The largest size seen, in MiB.
    pub(crate) fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.poller.join().unwrap_or(0) as f64 / MIB
    }
}

/// The server's checkpoint counters, as `/metrics` shows them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    background: (u64, f64, f64),
    final_pass: (u64, f64, f64),
    restarts: u64,
}

impl Counters {
    pub(crate) async fn read(addr: &str) -> Counters {
        let Ok(mut conn) = Conn::open(addr).await else {
            return Counters::default();
        };
        match conn.request(Method::GET, "/metrics", None, None).await {
            Some((200, body)) => Counters::parse(&String::from_utf8_lossy(&body)),
            _ => Counters::default(),
        }
    }

    fn parse(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let pass = if name.contains("pass=\"final\"") {
                &mut c.final_pass
            } else if name.contains("pass=\"background\"") {
                &mut c.background
            } else {
                if name == "rapport_store_wal_restarts_total" {
                    c.restarts = value as u64;
                }
                continue;
            };
            if name.starts_with("rapport_store_checkpoint_seconds_count") {
                pass.0 = value as u64;
            } else if name.starts_with("rapport_store_checkpoint_seconds_sum") {
                pass.1 = value;
            } else if name.starts_with("rapport_store_checkpoint_seconds{")
                && name.contains("quantile=\"1\"")
            {
                pass.2 = value * 1000.0;
            }
        }
        c
    }

    /// What happened between `before` and `self`.
    pub(crate) fn since(&self, before: &Counters, wal_max_mib: f64) -> StoreDuringRun {
        let passes = |now: (u64, f64, f64), then: (u64, f64, f64)| {
            let count = now.0.saturating_sub(then.0);
            Passes {
                count,
                mean_ms: if count == 0 {
                    0.0
                } else {
                    (now.1 - then.1) * 1000.0 / count as f64
                },
                max_ms: if count == 0 { 0.0 } else { now.2 },
            }
        };
        StoreDuringRun {
            wal_max_mib,
            background: passes(self.background, before.background),
            final_pass: passes(self.final_pass, before.final_pass),
            wal_restarts: self.restarts.saturating_sub(before.restarts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_lines_of_metrics_are_read() {
        let text = "\
rapport_store_checkpoint_seconds{pass=\"final\",quantile=\"0.99\"} 0.002
rapport_store_checkpoint_seconds{pass=\"final\",quantile=\"1\"} 0.004
rapport_store_checkpoint_seconds_sum{pass=\"final\"} 0.03
rapport_store_checkpoint_seconds_count{pass=\"final\"} 10
rapport_store_checkpoint_seconds_count{pass=\"background\"} 100
rapport_store_wal_restarts_total 9
";
        let c = Counters::parse(text);
        let r = c.since(&Counters::default(), 12.0);
        assert_eq!(r.final_pass.count, 10);
        assert!((r.final_pass.mean_ms - 3.0).abs() < 1e-9);
        assert!((r.final_pass.max_ms - 4.0).abs() < 1e-9);
        assert_eq!(r.background.count, 100);
        assert_eq!(r.wal_restarts, 9);
    }
}
