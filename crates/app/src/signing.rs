//! Signatures under the server's secret: CSRF tokens of sessions and of sign-in forms, one-click
//! unsubscribe links. The secret (32 random bytes) is made the first time a server starts on a
//! store and kept there (`secrets` table), so restarts and every replica sign alike; nothing else
//! about a signature is stored.
//!
//! A signature is HMAC-SHA256 over a purpose and a message, so that a signature made for one use
//! (say, unsubscribing member 7 from reminders) is worth nothing for another (member 8, or a CSRF
//! token), and is checked in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the MAC kept in a signature: 144 bits, 24 characters.
const SIGNATURE_BYTES: usize = 18;

/// What the server signs with.
pub struct Signer {
    key: Vec<u8>,
}

/// The length of a fresh secret.
pub(crate) const SECRET_BYTES: usize = 32;

impl Signer {
    pub(crate) fn new(key: Vec<u8>) -> Signer {
        Signer { key }
    }

    fn mac(&self, purpose: &str, message: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message.as_bytes());
        mac
    }

    /// The signature of `message` for `purpose`, URL-safe.
    pub fn sign(&self, purpose: &str, message: &str) -> String {
        let tag = self.mac(purpose, message).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..SIGNATURE_BYTES])
    }

    /// Whether `signature` is the one of `message` for `purpose` (compared in constant time).
    pub fn verify(&self, purpose: &str, message: &str, signature: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(signature.trim()) else {
            return false;
        };
        tag.len() == SIGNATURE_BYTES
            && self
                .mac(purpose, message)
                .verify_truncated_left(&tag)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_purpose_and_message_only() {
        let signer = Signer::new(vec![7; SECRET_BYTES]);
        let sig = signer.sign("csrf", "session-a");
        assert!(signer.verify("csrf", "session-a", &sig));
        assert!(!signer.verify("csrf", "session-b", &sig));
        assert!(!signer.verify("unsubscribe", "session-a", &sig));
        assert!(!signer.verify("csrf", "session-a", &sig[..sig.len() - 1]));
        assert!(!signer.verify("csrf", "session-a", ""));
        assert!(!signer.verify("csrf", "session-a", "not base64!"));
        let other = Signer::new(vec![8; SECRET_BYTES]);
        assert!(!other.verify("csrf", "session-a", &sig));
    }
}
