//! What sharing the database with other replicas takes: leases on background work, so that it runs
//! on one replica at a time, and hearing what the others revoke (the [`listener`](super::listener)
//! hears it; [`ReplicaStore::peers`] hands it on).

use super::*;
use crate::{Peers, ReplicaStore};
use async_trait::async_trait;

#[async_trait]
impl ReplicaStore for PgStore {
    /// Takes `name` for `holder` until `ttl` from now, or renews it: `true` while `holder` has it.
    /// A holder that stops renewing (a replica that died) loses it when it runs out.
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        in_tx!(self, |tx| {
            Ok(tx
                .query_opt(
                    "INSERT INTO leases (name, holder, expires_at)
                     VALUES ($1, $2, now() + $3 * interval '1 millisecond')
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                      WHERE leases.holder = excluded.holder OR leases.expires_at < now()
                     RETURNING holder",
                    &[&name, &holder, &(ms as f64)],
                )
                .await?
                .is_some())
        })
    }

    /// Gives `name` up if `holder` has it, so another replica takes over at once (a clean
    /// shutdown).
    async fn release(&self, name: &str, holder: &str) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await?;
            Ok(())
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn peers(&self) -> Option<Peers> {
        Some(Peers {
            listening: self.inner.listening.subscribe(),
            revoked: self.inner.revoked.subscribe(),
        })
    }
}
