//! Repeated failed sign-ins for one email are slowed down: after [`MAX_FAILURES`] failures within
//! [`WINDOW`], further attempts answer `429 rate_limited` until the window has passed. Counted the
//! same for registered and unknown emails, so the limit reveals nothing.

use rapport_domain::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Timestamp)>>,
}

impl LoginLimiter {
    pub fn blocked_until(&self, key: &str, now: Timestamp) -> Option<Timestamp> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = *map.get(key)?;
        let until = since.plus(WINDOW);
        (count >= MAX_FAILURES && now < until).then_some(until)
    }

    pub fn failed(&self, key: &str, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| now < since.plus(WINDOW));
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now >= entry.1.plus(WINDOW) {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_block_until_the_window_passes() {
        let l = LoginLimiter::default();
        let t0 = Timestamp(1_000_000);
        for _ in 0..9 {
            l.failed("a@x.io", t0);
        }
        assert_eq!(l.blocked_until("a@x.io", t0), None);
        l.failed("a@x.io", t0);
        assert_eq!(l.blocked_until("a@x.io", t0), Some(t0.plus(WINDOW)));
        assert_eq!(l.blocked_until("a@x.io", t0.plus(WINDOW)), None);
        assert_eq!(l.blocked_until("b@x.io", t0), None);
    }
}
