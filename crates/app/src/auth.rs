//! Passwords and API tokens.
//!
//! Passwords are hashed with argon2id (19 MiB, 2 iterations, OWASP's minimum). Tokens are 256
//! random bits; only their SHA-256 is stored, and a small in-process cache maps a token's hash to
//! its member, with when it was issued and last used, so that authenticating a request does not
//! touch the store.
//!
//! A token dies on the server (`rapport_domain::token`): at its absolute lifetime, or once unused
//! for its idle lifetime. The cache keeps the two times it needs, and every hit checks them against
//! the app's clock, so a cached token dies on time like any other.
//!
//! The cache must never outlive a revocation. This process revokes in its own cache what it
//! revokes in the store. Over a store that other processes write too (PostgreSQL replicas), it
//! also follows their revocations ([`follow_revocations`], from the store's [`Peers`]), and it
//! caches only while it hears every one of them: it starts untrusting, trusts once the store
//! listens, and empties itself and stops caching whenever the store stops listening or falls
//! behind, until it listens again.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rand::RngCore;
use rapport_domain::token::last_use_due;
use rapport_domain::{MemberId, Timestamp};
use rapport_store::{Peers, TokenHash, TokenRecord};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: the floor.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password. CPU-heavy (tens of milliseconds): call it off the async threads.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored hash. A malformed hash simply does not match.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A freshly made bearer token: `rap_` and 43 characters of base64url (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "rap_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Token hash -> its member, issue and last use, for tokens seen recently. Entries leave on logout
/// and when found dead; the cache is emptied when it grows past its bound rather than growing
/// without one.
///
/// Every revocation moves `epoch` on. A token read from the store is cached only if no revocation
/// happened since the read began ([`TokenCache::put_unless_revoked`]), so a lookup racing a
/// logout, password change or suspension cannot put a revoked token back. An untrusted cache (one
/// that may have missed revocations) holds and takes nothing.
pub struct TokenCache {
    state: RwLock<State>,
    epoch: AtomicU64,
}

struct State {
    map: HashMap<TokenHash, TokenRecord>,
    /// Does this cache hear of every revocation?
    trusted: bool,
}

const TOKEN_CACHE_MAX: usize = 200_000;

impl TokenCache {
    /// An empty cache; an untrusted one caches nothing until [`TokenCache::trust`].
    pub fn new(trusted: bool) -> TokenCache {
        TokenCache {
            state: RwLock::new(State {
                map: HashMap::new(),
                trusted,
            }),
            epoch: AtomicU64::new(0),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The token as last seen by this process: whether it is still alive is the caller's check.
    pub fn get(&self, hash: &TokenHash) -> Option<TokenRecord> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(hash)
            .copied()
    }

    /// Caches a token just issued (left out only if a revocation lands at this very moment).
    pub fn put(&self, hash: TokenHash, token: TokenRecord) {
        self.put_unless_revoked(hash, token, self.epoch());
    }

    /// Where revocations stand; pass it to [`TokenCache::put_unless_revoked`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a token read from the store, unless a revocation happened since `epoch` was read. A
    /// later use already cached is kept.
    pub fn put_unless_revoked(&self, hash: TokenHash, token: TokenRecord, epoch: u64) {
        let mut state = self.write();
        if self.epoch.load(Ordering::SeqCst) != epoch || !state.trusted {
            return;
        }
        if state.map.len() >= TOKEN_CACHE_MAX {
            state.map.clear();
        }
        let entry = state.map.entry(hash).or_insert(token);
        entry.last_used_at = entry.last_used_at.max(token.last_used_at);
    }

    /// Should a use of the token at `now` be written to the store? Once a minute at most: the first
    /// caller after the last written use gets `true` and the cache takes `now` as the last use, so
    /// requests racing each other write it once. A token this cache does not hold (it is not
    /// trusted, or was emptied) cannot be deduplicated here: `true` whenever it is due.
    pub fn claim_use(&self, hash: &TokenHash, last_used_at: Timestamp, now: Timestamp) -> bool {
        let mut state = self.write();
        match state.map.get_mut(hash) {
            Some(cached) if last_use_due(cached.last_used_at, now) => {
                cached.last_used_at = now;
                true
            }
            Some(_) => false,
            None => last_use_due(last_used_at, now),
        }
    }

    pub fn forget(&self, hash: &TokenHash) {
        let mut state = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        state.map.remove(hash);
    }

    pub fn forget_member(&self, member: MemberId) {
        let mut state = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        state.map.retain(|_, t| t.member != member);
    }

    /// Empties the cache and caches nothing more until [`TokenCache::trust`]: revocations may be
    /// missed from now on.
    pub fn distrust(&self) {
        let mut state = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        state.map.clear();
        state.trusted = false;
    }

    /// Caches again: every revocation from now on is heard. What was read before (and so may have
    /// missed one) is not cached.
    pub fn trust(&self) {
        let mut state = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        state.trusted = true;
    }

    /// Is it caching?
    pub fn trusted(&self) -> bool {
        self.state.read().unwrap_or_else(|p| p.into_inner()).trusted
    }
}

/// Keeps `cache` in step with the revocations of the processes sharing the store until `stop`
/// resolves: forgets every token revoked anywhere, and caches only while the store listens on one
/// and the same connection without falling behind (anything else empties it first).
pub async fn follow_revocations(
    cache: &TokenCache,
    peers: Peers,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut follower = RevocationFollower::new(peers);
    follower.look(cache);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            more = follower.step(cache) => if !more { break },
        }
    }
    // Nobody follows the revocations any more.
    cache.distrust();
}

/// [`follow_revocations`] one message at a time.
struct RevocationFollower {
    peers: Peers,
    /// The store's listening connection the cache was last trusted for (`None`: not trusted).
    heard: Option<u64>,
}

impl RevocationFollower {
    fn new(peers: Peers) -> RevocationFollower {
        RevocationFollower { peers, heard: None }
    }

    /// Trusts or distrusts `cache` as the store's listening stands now. A different connection
    /// than before may have missed revocations in between: the cache is emptied first.
    fn look(&mut self, cache: &TokenCache) {
        let now = *self.peers.listening.borrow_and_update();
        if now != self.heard {
            cache.distrust();
            if now.is_some() {
                cache.trust();
            }
            self.heard = now;
        }
    }

    /// Waits for the next revocation or change of listening and applies it; `false` once the
    /// store is gone.
    async fn step(&mut self, cache: &TokenCache) -> bool {
        use tokio::sync::broadcast::error::RecvError;
        tokio::select! {
            changed = self.peers.listening.changed() => {
                if changed.is_err() {
                    return false;
                }
                self.look(cache);
            }
            hash = self.peers.revoked.recv() => match hash {
                Ok(hash) => cache.forget(&hash),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "token revocations came too fast; emptying the token cache");
                    cache.distrust();
                    if self.heard.is_some() {
                        cache.trust();
                    }
                }
                Err(RecvError::Closed) => return false,
            },
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery").expect("hashes");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    /// A cache following the revocations of a store that can be told what to hear, one step at a
    /// time.
    struct Shared {
        cache: TokenCache,
        follower: RevocationFollower,
        listening: tokio::sync::watch::Sender<Option<u64>>,
        revoked: tokio::sync::broadcast::Sender<TokenHash>,
    }

    impl Shared {
        fn new(buffer: usize) -> Shared {
            let (listening, listening_rx) = tokio::sync::watch::channel(None);
            let (revoked, revoked_rx) = tokio::sync::broadcast::channel(buffer);
            let mut follower = RevocationFollower::new(Peers {
                listening: listening_rx,
                revoked: revoked_rx,
            });
            let cache = TokenCache::new(false);
            follower.look(&cache);
            Shared {
                cache,
                follower,
                listening,
                revoked,
            }
        }

        async fn listen(&mut self, connection: Option<u64>) {
            self.listening.send_replace(connection);
            assert!(self.follower.step(&self.cache).await);
        }

        async fn revoke(&mut self, hash: TokenHash) {
            self.revoked.send(hash).expect("a receiver");
            assert!(self.follower.step(&self.cache).await);
        }
    }

    const T0: Timestamp = Timestamp(1_800_000_000_000);
    const ADA: TokenRecord = TokenRecord {
        member: MemberId(1),
        created_at: T0,
        last_used_at: T0,
    };

    #[tokio::test]
    async fn a_shared_cache_caches_only_while_the_store_listens() {
        let mut s = Shared::new(16);
        s.cache.put([1; 32], ADA);
        assert_eq!(
            s.cache.get(&[1; 32]),
            None,
            "nothing is cached before it listens"
        );

        s.listen(Some(1)).await;
        s.cache.put([1; 32], ADA);
        assert_eq!(s.cache.get(&[1; 32]), Some(ADA));

        s.listen(None).await;
        assert_eq!(
            s.cache.get(&[1; 32]),
            None,
            "a lost listener empties the cache"
        );
        s.cache.put([1; 32], ADA);
        assert_eq!(
            s.cache.get(&[1; 32]),
            None,
            "and it caches nothing until it listens again"
        );

        s.listen(Some(2)).await;
        s.cache.put([1; 32], ADA);
        assert_eq!(s.cache.get(&[1; 32]), Some(ADA));
    }

    #[tokio::test]
    async fn a_new_listening_connection_empties_the_cache_even_unseen_the_loss_between() {
        let mut s = Shared::new(16);
        s.listen(Some(1)).await;
        s.cache.put([1; 32], ADA);
        // Lost and back before the follower looked: revocations in between may have been missed.
        s.listening.send_replace(None);
        s.listen(Some(2)).await;
        assert_eq!(s.cache.get(&[1; 32]), None);
        assert!(s.cache.trusted());
    }

    #[tokio::test]
    async fn a_token_revoked_by_another_replica_leaves_the_cache() {
        let mut s = Shared::new(16);
        s.listen(Some(1)).await;
        s.cache.put([1; 32], ADA);
        s.cache.put([2; 32], ADA);
        s.revoke([1; 32]).await;
        assert_eq!(s.cache.get(&[1; 32]), None);
        assert_eq!(s.cache.get(&[2; 32]), Some(ADA));
    }

    #[tokio::test]
    async fn a_lookup_that_read_before_a_revocation_is_not_cached_after_it() {
        let mut s = Shared::new(16);
        s.listen(Some(1)).await;
        let epoch = s.cache.epoch();
        s.revoke([1; 32]).await;
        s.cache.put_unless_revoked([1; 32], ADA, epoch);
        assert_eq!(s.cache.get(&[1; 32]), None);
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_empties_the_cache_and_goes_on() {
        let mut s = Shared::new(1);
        s.listen(Some(1)).await;
        s.cache.put([9; 32], ADA);
        s.revoked.send([1; 32]).expect("a receiver");
        s.revoked.send([2; 32]).expect("a receiver");
        assert!(s.follower.step(&s.cache).await);
        assert_eq!(
            s.cache.get(&[9; 32]),
            None,
            "missed revocations empty the cache"
        );
        s.cache.put([9; 32], ADA);
        assert_eq!(s.cache.get(&[9; 32]), Some(ADA), "and it caches again");
    }

    #[test]
    fn a_use_is_written_once_a_minute_whoever_races_for_it() {
        let cache = TokenCache::new(true);
        cache.put([1; 32], ADA);
        let later = T0.plus(std::time::Duration::from_secs(61));
        assert!(!cache.claim_use(&[1; 32], T0, T0.plus(std::time::Duration::from_secs(59))));
        assert!(
            cache.claim_use(&[1; 32], T0, later),
            "the first request after a minute writes"
        );
        assert!(
            !cache.claim_use(&[1; 32], T0, later),
            "the next one does not"
        );
        assert_eq!(cache.get(&[1; 32]).map(|t| t.last_used_at), Some(later));
        // A read from the store that saw an older use does not take the later one back.
        cache.put_unless_revoked([1; 32], ADA, cache.epoch());
        assert_eq!(cache.get(&[1; 32]).map(|t| t.last_used_at), Some(later));
        // A token the cache does not hold is written whenever it is due.
        assert!(cache.claim_use(&[2; 32], T0, later));
        assert!(!cache.claim_use(&[2; 32], later, later));
    }

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
