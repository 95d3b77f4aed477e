//! What sharing the database with other replicas takes: leases on background work, so that it runs
//! on one replica at a time, and hearing what the others revoke (the [`listener`](super::listener)
//! hears it; [`ReplicaStore::peers`] hands it on).

use super::*;
use crate::{Peers, ReplicaStore};
use async_trait::async_trait;
use rapport_domain::Timestamp;

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

    async fn add_login_failure(
        &self,
        keys: &[String],
        at: Timestamp,
        forget_before: Timestamp,
    ) -> StoreResult<()> {
        let keys = keys.to_vec();
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM login_failures WHERE key = ANY($1) AND at < $2",
                &[&keys, &forget_before.0],
            )
            .await?;
            tx.execute(
                "INSERT INTO login_failures (key, at) SELECT k, $2 FROM unnest($1::text[]) AS k",
                &[&keys, &at.0],
            )
            .await?;
            Ok(())
        })
    }

    async fn login_failures(
        &self,
        keys: &[String],
        since: Timestamp,
    ) -> StoreResult<Vec<(u32, Option<Timestamp>)>> {
        let wanted = keys.to_vec();
        let rows = read!(self, |c| {
            c.query(
                "SELECT key, count(*), min(at) FROM login_failures
                  WHERE key = ANY($1) AND at > $2 GROUP BY key",
                &[&wanted, &since.0],
            )
            .await
        })?;
        Ok(keys
            .iter()
            .map(|k| {
                rows.iter()
                    .find(|r| r.get::<_, String>(0) == *k)
                    .map_or((0, None), |r| {
                        let n: i64 = r.get(1);
                        (
                            n.clamp(0, u32::MAX as i64) as u32,
                            Some(Timestamp(r.get(2))),
                        )
                    })
            })
            .collect())
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute("DELETE FROM login_failures WHERE key = $1", &[&key])
                .await?;
            Ok(())
        })
    }

    async fn prune_login_failures(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let limit = i64::from(limit);
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM login_failures WHERE ctid IN
                   (SELECT ctid FROM login_failures WHERE at < $1 LIMIT $2)",
                &[&before.0, &limit],
            )
            .await
        })
    }

    fn peers(&self) -> Option<Peers> {
        Some(Peers {
            listening: self.inner.listening.subscribe(),
            revoked: self.inner.revoked.subscribe(),
        })
    }
}
