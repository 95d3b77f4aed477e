//! Password hashing, bounded. Each argon2id hash takes 19 MiB and tens of milliseconds of one
//! core, so at most one runs per core at a time; a request beyond waits in a short queue, and
//! past that queue (or after waiting [`MAX_WAIT`]) it is answered `503 overloaded` at once. A
//! flood of sign-ins then costs a bounded amount of memory and leaves the other requests their
//! share of the machine.

use crate::{AppError, AppResult};
use rapport_domain::Timestamp;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The longest a request waits for a hashing slot.
const MAX_WAIT: Duration = Duration::from_secs(3);
/// Requests that may wait for a slot, per slot.
const QUEUE_PER_SLOT: usize = 32;

pub(crate) struct HashGate {
    slots: Semaphore,
    waiting: AtomicUsize,
    queue: usize,
}

impl HashGate {
    /// One slot per core.
    pub(crate) fn per_core() -> HashGate {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashGate::new(cores, cores * QUEUE_PER_SLOT)
    }

    fn new(slots: usize, queue: usize) -> HashGate {
        HashGate {
            slots: Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` (a hash or a verification) on a blocking thread once a slot is free.
    /// Refused, it answers `overloaded`, to try again a second after `now`.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        now: Timestamp,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let busy = || AppError::Overloaded {
            retry_at: now.plus(Duration::from_secs(1)),
        };
        let permit = match self.slots.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    metrics::counter!("rapport_password_hashes_refused_total").increment(1);
                    return Err(busy());
                }
                let waited = tokio::time::timeout(MAX_WAIT, self.slots.acquire()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match waited {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        metrics::counter!("rapport_password_hashes_refused_total").increment(1);
                        return Err(busy());
                    }
                }
            }
        };
        let out = crate::blocking(work).await;
        drop(permit);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_flood_of_sign_ins_waits_in_a_short_queue_and_the_rest_are_turned_away() {
        let gate = Arc::new(HashGate::new(1, 2));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        // One hash holds the only slot until released.
        let busy = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(Timestamp(0), move || {
                    let _ = started_tx.send(());
                    held.recv().ok();
                })
                .await
            }
        });
        started.await.expect("the first hash runs");
        // Two more wait in the queue...
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.run(Timestamp(0), || ()).await })
            })
            .collect();
        while gate.waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        // ...and the next is refused at once.
        assert!(matches!(
            gate.run(Timestamp(0), || ()).await,
            Err(AppError::Overloaded { .. })
        ));
        release.send(()).expect("the first hash is waiting");
        busy.await.expect("joins").expect("the first hash ran");
        for q in queued {
            q.await
                .expect("joins")
                .expect("a queued hash ran once the slot was free");
        }
    }
}
