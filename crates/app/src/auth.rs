//! Passwords and API tokens.
//!
//! Passwords are hashed with argon2id (19 MiB, 2 iterations, OWASP's minimum). Tokens are 256
//! random bits; only their SHA-256 is stored, and a small in-process cache maps a token's hash to
//! its member so that authenticating a request does not touch the store.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rand::RngCore;
use rapport_domain::MemberId;
use rapport_store::TokenHash;
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

/// Token hash -> member, for tokens seen recently. Entries leave on logout; the cache is emptied
/// when it grows past its bound rather than growing without one.
///
/// Every revocation moves `epoch` on. A token read from the store is cached only if no revocation
/// happened since the read began ([`TokenCache::put_unless_revoked`]), so a lookup racing a
/// logout, password change or suspension cannot put a revoked token back.
#[derive(Default)]
pub struct TokenCache {
    map: RwLock<HashMap<TokenHash, MemberId>>,
    epoch: AtomicU64,
}

const TOKEN_CACHE_MAX: usize = 200_000;

impl TokenCache {
    pub fn get(&self, hash: &TokenHash) -> Option<MemberId> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .copied()
    }

    /// Caches a token just issued (left out only if a revocation lands at this very moment).
    pub fn put(&self, hash: TokenHash, member: MemberId) {
        self.put_unless_revoked(hash, member, self.epoch());
    }

    /// Where revocations stand; pass it to [`TokenCache::put_unless_revoked`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a token read from the store, unless a revocation happened since `epoch` was read.
    pub fn put_unless_revoked(&self, hash: TokenHash, member: MemberId, epoch: u64) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if map.len() >= TOKEN_CACHE_MAX {
            map.clear();
        }
        map.insert(hash, member);
    }

    pub fn forget(&self, hash: &TokenHash) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        map.remove(hash);
    }

    pub fn forget_member(&self, member: MemberId) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        map.retain(|_, m| *m != member);
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

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
