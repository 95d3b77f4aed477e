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

/// The failures an attempt is judged on, each with the end of its window: of this email from this
/// address, of this address, of this email.
#[derive(Debug, Clone, Copy)]
pub struct Failures {
    pub pair: (u32, Timestamp),
    pub address: (u32, Timestamp),
    pub email: (u32, Timestamp),
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

    /// The keys failures of `email` from `client` are counted under, as
    /// [`Failures`] orders them: the pair, the address, the email. Over PostgreSQL the replicas
    /// share the counts under these keys (`login_failures`).
    pub fn keys(email: &str, client: IpAddr) -> [String; 3] {
        let email = normalised(email);
        [
            format!("pair:{client}:{email}"),
            format!("address:{client}"),
            format!("email:{email}"),
        ]
    }

    /// This process's own counts for an attempt.
    pub fn local(&self, email: &str, client: IpAddr, now: Timestamp) -> Failures {
        let t = self.tables();
        let email = normalised(email);
        Failures {
            pair: t.pair.count(&(email.clone(), client), now),
            address: t.address.count(&client, now),
            email: t.email.count(&email, now),
        }
    }

    /// What the counts decide: when the attempt may come again if it may not now, and how long to
    /// hold it back.
    pub fn judge(&self, f: &Failures) -> (Option<Timestamp>, Duration) {
        let mut until = None;
        if f.pair.0 >= PAIR_FAILURES {
            until = Some(f.pair.1);
        }
        if f.address.0 >= self.per_address_limit {
            until = until.max(Some(f.address.1));
        }
        let over = f.email.0.saturating_sub(PAIR_FAILURES);
        (until, (Duration::from_millis(200) * over).min(MAX_DELAY))
    }

    /// When `client` may try `email` again, if it may not now (by this process's counts).
    #[cfg(test)]
    pub fn blocked_until(&self, email: &str, client: IpAddr, now: Timestamp) -> Option<Timestamp> {
        self.judge(&self.local(email, client, now)).0
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

impl crate::App {
    /// The failures an attempt of `email` from `client` is judged on: over PostgreSQL the counts
    /// every replica shares, so that spreading guesses over replicas gains nothing; on the
    /// embedded store this process's own.
    pub(crate) async fn login_failures(
        &self,
        email: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> crate::AppResult<Failures> {
        if !self.store().shared() {
            return Ok(self.inner.logins.local(email, client, now));
        }
        let keys = LoginLimiter::keys(email, client);
        let counts = self
            .store()
            .login_failures(&keys, now.minus(WINDOW))
            .await?;
        let window = |i: usize| {
            let (n, oldest) = counts.get(i).copied().unwrap_or((0, None));
            (n, oldest.unwrap_or(now).plus(WINDOW))
        };
        Ok(Failures {
            pair: window(0),
            address: window(1),
            email: window(2),
        })
    }

    /// Counts a failed password check.
    pub(crate) async fn login_failed(
        &self,
        email: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> crate::AppResult<()> {
        if self.store().shared() {
            let keys = LoginLimiter::keys(email, client);
            self.store()
                .add_login_failure(&keys, now, now.minus(WINDOW))
                .await?;
        } else {
            self.inner.logins.failed(email, client, now);
        }
        Ok(())
    }

    /// A correct password from `client` clears that address's failures for `email`.
    pub(crate) async fn login_succeeded(
        &self,
        email: &str,
        client: IpAddr,
    ) -> crate::AppResult<()> {
        if self.store().shared() {
            let [pair, ..] = LoginLimiter::keys(email, client);
            self.store().clear_login_failures(&pair).await?;
        } else {
            self.inner.logins.succeeded(email, client);
        }
        Ok(())
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
        assert_eq!(l.judge(&l.local("ada@x.io", B, t0)).1, MAX_DELAY);
        assert_eq!(l.judge(&l.local("grace@x.io", B, t0)).1, Duration::ZERO);
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
