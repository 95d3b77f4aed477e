//! Password guessing is slowed down without letting anyone lock a member out.
//!
//! Failed password checks (sign-in, and the confirmation a signed-in member gives to change the
//! password or close the account) are counted over [`WINDOW`] three ways:
//! - per email and client address: past [`PAIR_FAILURES`], that address is refused (`429
//!   rate_limited`) for that email, the correct password included, until the window has passed;
//! - per client address, whatever the email: past the configured limit
//!   (`RAPPORT_LOGIN_FAILURES_PER_ADDRESS`, default 50), that address is refused for every email,
//!   so spraying one password over many accounts is slowed;
//! - per email, whatever the address: past [`PAIR_FAILURES`], every attempt for that email is
//!   delayed (a second or two, [`LoginLimiter::delay`]) but never refused, so failures from other
//!   addresses cannot keep the member out.
//!
//! Emails are counted as normalised (trimmed, lower case) and unknown emails exactly like
//! registered ones, so the limit reveals nothing. Memory is bounded: each table keeps at most
//! [`MAX_TRACKED`] keys, dropping the expired and then the oldest.

use rapport_domain::Timestamp;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures of one email from one address before that address is refused for it.
pub(crate) const PAIR_FAILURES: u32 = 10;
const MAX_TRACKED: usize = 100_000;
/// The longest delay failures from elsewhere add to an attempt.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Failures per key within a window, in a bounded table.
struct Counts<K> {
    map: HashMap<K, (u32, Timestamp)>,
    window: Duration,
}

impl<K: Hash + Eq + Clone> Counts<K> {
    fn new(window: Duration) -> Self {
        Counts {
            map: HashMap::new(),
            window,
        }
    }

    fn count(&self, key: &K, now: Timestamp) -> (u32, Timestamp) {
        match self.map.get(key) {
            Some(&(n, since)) if now < since.plus(self.window) => (n, since.plus(self.window)),
            _ => (0, now.plus(self.window)),
        }
    }

    fn add(&mut self, key: K, now: Timestamp) {
        if self.map.len() >= MAX_TRACKED && !self.map.contains_key(&key) {
            let window = self.window;
            self.map.retain(|_, (_, since)| now < since.plus(window));
            if self.map.len() >= MAX_TRACKED {
                let oldest = self
                    .map
                    .iter()
                    .min_by_key(|(_, (_, since))| since.0)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.map.remove(&oldest);
                }
            }
        }
        let entry = self.map.entry(key).or_insert((0, now));
        if now >= entry.1.plus(self.window) {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }
}

pub struct LoginLimiter {
    per_address_limit: u32,
    tables: Mutex<Tables>,
}

struct Tables {
    pair: Counts<(String, IpAddr)>,
    address: Counts<IpAddr>,
    email: Counts<String>,
}

/// The key an email is counted under.
pub(crate) fn normalised(email: &str) -> String {
    email.trim().to_lowercase()
}

impl LoginLimiter {
    pub fn new(per_address_limit: u32) -> LoginLimiter {
        LoginLimiter {
            per_address_limit,
            tables: Mutex::new(Tables {
                pair: Counts::new(WINDOW),
                address: Counts::new(WINDOW),
                email: Counts::new(WINDOW),
            }),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When `client` may try `email` again, if it may not now.
    pub fn blocked_until(&self, email: &str, client: IpAddr, now: Timestamp) -> Option<Timestamp> {
        let t = self.tables();
        let (pair, pair_until) = t.pair.count(&(normalised(email), client), now);
        let (address, address_until) = t.address.count(&client, now);
        let mut until = None;
        if pair >= PAIR_FAILURES {
            until = Some(pair_until);
        }
        if address >= self.per_address_limit {
            until = until.max(Some(address_until));
        }
        until
    }

    /// How long to hold an attempt for `email` back, because of failures from anywhere.
    pub fn delay(&self, email: &str, now: Timestamp) -> Duration {
        let (n, _) = self.tables().email.count(&normalised(email), now);
        let over = n.saturating_sub(PAIR_FAILURES);
        (Duration::from_millis(200) * over).min(MAX_DELAY)
    }

    pub fn failed(&self, email: &str, client: IpAddr, now: Timestamp) {
        let email = normalised(email);
        let mut t = self.tables();
        t.pair.add((email.clone(), client), now);
        t.address.add(client, now);
        t.email.add(email, now);
    }

    /// A correct password from `client` clears that address's failures for the email; failures
    /// from other addresses stay counted.
    pub fn succeeded(&self, email: &str, client: IpAddr) {
        self.tables().pair.clear(&(normalised(email), client));
    }
}

/// Sign-ups per client address per hour (`RAPPORT_SIGNUPS_PER_ADDRESS`), so that sign-up cannot be
/// used to go through a list of addresses asking which are registered.
pub struct SignupLimiter {
    per_hour: u32,
    counts: Mutex<Counts<IpAddr>>,
}

impl SignupLimiter {
    pub fn new(per_hour: u32) -> SignupLimiter {
        SignupLimiter {
            per_hour,
            counts: Mutex::new(Counts::new(Duration::from_secs(3_600))),
        }
    }

    /// Counts an attempt from `client`; when it is one too many, when the next one may come.
    pub fn attempt(&self, client: IpAddr, now: Timestamp) -> Option<Timestamp> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (n, until) = counts.count(&client, now);
        if n >= self.per_hour {
            return Some(until);
        }
        counts.add(client, now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 2));

    #[test]
    fn ten_failures_block_that_address_for_that_email_until_the_window_passes() {
        let l = LoginLimiter::new(50);
        let t0 = Timestamp(1_000_000);
        for _ in 0..9 {
            l.failed("a@x.io", A, t0);
        }
        assert_eq!(l.blocked_until("a@x.io", A, t0), None);
        l.failed(" A@X.io", A, t0);
        assert_eq!(l.blocked_until("a@x.io", A, t0), Some(t0.plus(WINDOW)));
        assert_eq!(l.blocked_until("a@x.io", A, t0.plus(WINDOW)), None);
        assert_eq!(l.blocked_until("b@x.io", A, t0), None);
    }

    #[test]
    fn a_stranger_cannot_lock_out_a_member() {
        let l = LoginLimiter::new(50);
        let t0 = Timestamp(1_000_000);
        for _ in 0..30 {
            l.failed("ada@x.io", A, t0);
        }
        assert!(l.blocked_until("ada@x.io", A, t0).is_some());
        // From her own address, Ada is never refused; at most held back a moment.
        assert_eq!(l.blocked_until("ada@x.io", B, t0), None);
        assert_eq!(l.delay("ada@x.io", t0), MAX_DELAY);
        assert_eq!(l.delay("grace@x.io", t0), Duration::ZERO);
    }

    #[test]
    fn spraying_one_password_over_many_emails_is_refused_per_address() {
        let l = LoginLimiter::new(5);
        let t0 = Timestamp(1_000_000);
        for i in 0..5 {
            l.failed(&format!("m{i}@x.io"), A, t0);
        }
        assert!(l.blocked_until("someone.else@x.io", A, t0).is_some());
        assert_eq!(l.blocked_until("someone.else@x.io", B, t0), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut c: Counts<u32> = Counts::new(WINDOW);
        let t0 = Timestamp(1_000_000);
        for i in 0..(MAX_TRACKED as u32 + 10) {
            c.add(i, t0);
        }
        assert_eq!(c.map.len(), MAX_TRACKED);
    }
}
