//! Answers kept under an `Idempotency-Key`, replayed for 24 hours. The sweeper deletes them once
//! that window has passed, and a member keeps at most `RAPPORT_IDEMPOTENCY_KEYS_PER_MEMBER` (10,000)
//! at once: storing one more deletes their oldest, so no member can grow the table without bound.

use crate::{App, AppResult};
use rapport_domain::MemberId;
use rapport_store::StoredResponse;
use std::time::Duration;

/// How long an `Idempotency-Key` replays its first answer.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(86_400);

impl App {
    /// The answer stored under `key` by `member` within the last 24 hours (one kept longer, until
    /// the next sweep, is not replayed).
    pub async fn idempotent_replay(
        &self,
        member: MemberId,
        key: &str,
    ) -> AppResult<Option<StoredResponse>> {
        let cutoff = self.now().minus(IDEMPOTENCY_WINDOW);
        Ok(self
            .store()
            .idempotent_get(member, key)
            .await?
            .filter(|r| r.created_at > cutoff))
    }

    pub async fn idempotent_store(
        &self,
        member: MemberId,
        key: &str,
        request_hash: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    ) -> AppResult<()> {
        let now = self.now();
        let resp = StoredResponse {
            request_hash,
            status,
            body,
            created_at: now,
        };
        let keep = self.inner.config.idempotency_keys_per_member;
        Ok(self
            .store()
            .idempotent_put(member, key, resp, now, keep)
            .await?)
    }
}
