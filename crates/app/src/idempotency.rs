//! Answers kept under an `Idempotency-Key`, replayed for 24 hours.

use crate::{App, AppResult};
use rapport_domain::MemberId;
use rapport_store::StoredResponse;
use std::time::Duration;

/// How long an `Idempotency-Key` replays its first answer.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(86_400);

impl App {
    /// The answer stored under `key` by `member` within the last 24 hours.
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
        Ok(self.store().idempotent_put(member, key, resp, now).await?)
    }
}
