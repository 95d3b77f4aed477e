//! Accounts: members, sign-ups waiting for their address, sign-in tokens, profiles and settings,
//! idempotent replays.

use super::*;
use crate::*;
use async_trait::async_trait;
use rapport_domain::{
    Email, InvitationsFrom, MemberId, NotificationPrefs, RuleError, Timestamp, TokenCutoffs,
};
use std::sync::Arc;

pub(super) async fn member_by_id(c: &Tx, id: MemberId) -> TxResult<Option<MemberRecord>> {
    Ok(c.query_opt(
        &format!("SELECT {MEMBER_COLS} FROM members WHERE id = $1"),
        &[&id.0],
    )
    .await?
    .as_ref()
    .map(member_row))
}

/// Reads a member row just written and reports it (as the embedded store does).
pub(super) async fn saved_member(tx: &mut Tx, id: MemberId) -> TxResult<Arc<MemberRecord>> {
    let m = Arc::new(member_by_id(tx, id).await?.ok_or(RuleError::NotFound)?);
    tx.record(Change::MemberSaved(m.clone()));
    Ok(m)
}

/// Locks a member's row and reads it: the first step of a write that changes what the rules read
/// about a member who must still have an account. `NotFound` when they are missing or closed (as
/// the embedded store answers), and then nothing is written.
pub(super) async fn open_member_locked(tx: &mut Tx, id: MemberId) -> TxResult<MemberRecord> {
    lock_members(tx, &[id]).await?;
    Ok(member_by_id(tx, id)
        .await?
        .filter(|m| !m.status.is_closed())
        .ok_or(RuleError::NotFound)?)
}

/// Inserts a new member; `None` when the address is a member's already.
pub(super) async fn insert_member(
    tx: &mut Tx,
    m: &NewMember,
) -> TxResult<Option<Arc<MemberRecord>>> {
    let inserted = tx
        .query_opt(
            "INSERT INTO members (email, password_hash, name, headline, company, location, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (email) DO NOTHING RETURNING id",
            &[&m.email.as_str(), &m.password_hash, &m.name, &m.headline, &m.company, &m.location, &m.at.0],
        )
        .await?;
    match inserted {
        Some(row) => Ok(Some(saved_member(tx, MemberId(row.get(0))).await?)),
        None => Ok(None),
    }
}

#[async_trait]
impl AccountStore for PgStore {
    async fn server_secret(
        &self,
        name: &str,
        fresh: Vec<u8>,
        at: Timestamp,
    ) -> StoreResult<Vec<u8>> {
        in_tx!(self, |tx| {
            tx.execute(
                "INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh, &at.0],
            )
            .await?;
            Ok(tx
                .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
                .await?
                .get(0))
        })
    }

    async fn create_member(&self, m: NewMember) -> StoreResult<Arc<MemberRecord>> {
        in_tx!(self, |tx| {
            insert_member(tx, &m)
                .await?
                .ok_or_else(|| RuleError::EmailTaken.into())
        })
    }

    async fn put_pending_signup(&self, hash: TokenHash, m: NewMember) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM pending_signups WHERE email = $1",
                &[&m.email.as_str()],
            )
            .await?;
            tx.execute(
                "INSERT INTO pending_signups
                   (token_hash, email, password_hash, name, headline, company, location, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &&hash[..],
                    &m.email.as_str(),
                    &m.password_hash,
                    &m.name,
                    &m.headline,
                    &m.company,
                    &m.location,
                    &m.at.0,
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn confirm_signup(
        &self,
        hash: TokenHash,
        made_after: Timestamp,
        at: Timestamp,
    ) -> StoreResult<Result<Arc<MemberRecord>, RuleError>> {
        in_tx!(self, |tx| {
            let pending = tx
                .query_opt(
                    "DELETE FROM pending_signups WHERE token_hash = $1
                     RETURNING email, password_hash, name, headline, company, location, created_at",
                    &[&&hash[..]],
                )
                .await?
                .filter(|r| r.get::<_, i64>(6) > made_after.0);
            let Some(r) = pending else {
                return Ok(Err(RuleError::NotFound));
            };
            let m = NewMember {
                email: Email::parse(r.get(0))?,
                password_hash: r.get(1),
                name: r.get(2),
                headline: r.get(3),
                company: r.get(4),
                location: r.get(5),
                at,
            };
            Ok(insert_member(tx, &m).await?.ok_or(RuleError::EmailTaken))
        })
    }

    async fn prune_pending_signups(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM pending_signups WHERE token_hash IN (
                    SELECT token_hash FROM pending_signups WHERE created_at <= $1 LIMIT $2)",
                &[&before.0, &i64::from(limit)],
            )
            .await
        })
    }

    async fn login_lookup(&self, email: &Email) -> StoreResult<Option<(MemberId, String)>> {
        read!(self, |c| {
            Ok(c.query_opt(
                "SELECT id, password_hash FROM members WHERE email = $1",
                &[&email.as_str()],
            )
            .await?
            .map(|r| (MemberId(r.get(0)), r.get(1))))
        })
    }

    async fn insert_token(
        &self,
        hash: TokenHash,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute(
                "INSERT INTO tokens (hash, member_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)",
                &[&&hash[..], &member.0, &at.0],
            )
            .await?;
            Ok(())
        })
    }

    async fn token(&self, hash: TokenHash) -> StoreResult<Option<TokenRecord>> {
        read!(self, |c| {
            Ok(c.query_opt(
                "SELECT member_id, created_at, last_used_at FROM tokens WHERE hash = $1",
                &[&&hash[..]],
            )
            .await?
            .map(|r| TokenRecord {
                member: MemberId(r.get(0)),
                created_at: Timestamp(r.get(1)),
                last_used_at: Timestamp(r.get(2)),
            }))
        })
    }

    async fn touch_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute(
                "UPDATE tokens SET last_used_at = $2 WHERE hash = $1 AND last_used_at < $2",
                &[&&hash[..], &at.0],
            )
            .await?;
            Ok(())
        })
    }

    /// Each token deleted is heard as a revocation by every replica (`0003_notify.sql`).
    async fn prune_tokens(&self, dead: TokenCutoffs, limit: u32) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM tokens WHERE hash IN (
                    SELECT hash FROM tokens WHERE created_at <= $1 OR last_used_at <= $2 LIMIT $3)",
                &[
                    &dead.issued_at_or_before.0,
                    &dead.used_at_or_before.0,
                    &i64::from(limit),
                ],
            )
            .await
        })
    }

    /// Signs a token out, as the domain plans it.
    async fn delete_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        in_tx!(self, |tx| {
            plan::execute(tx, &rapport_domain::plan::plan_sign_out(hash, at)).await?;
            Ok(())
        })
    }

    /// Sets a new password and revokes every token of the member, as the domain plans it.
    async fn set_password(
        &self,
        member: MemberId,
        password_hash: String,
        at: Timestamp,
    ) -> StoreResult<()> {
        let hash = rapport_domain::plan::PasswordHash(password_hash);
        let planned = rapport_domain::plan::plan_password(member, hash, at);
        in_tx!(self, |tx| {
            plan::execute(tx, &planned).await?;
            Ok(())
        })
    }

    async fn member(&self, id: MemberId) -> StoreResult<Option<Arc<MemberRecord>>> {
        Ok(read!(self, |c| member_by_id(c, id).await)?.map(Arc::new))
    }

    async fn members(&self, ids: &[MemberId]) -> StoreResult<Vec<Arc<MemberRecord>>> {
        // From this replica's cache, which other replicas' commits invalidate (see `caches`).
        let caches = &self.inner.caches;
        let (mut found, missing) = caches.members(ids);
        if missing.is_empty() {
            return Ok(found);
        }
        let epoch = caches.epoch();
        let ids = ids_of(&missing);
        let read: Vec<Arc<MemberRecord>> = read!(self, |c| {
            Ok(c.query(
                &format!("SELECT {MEMBER_COLS} FROM members WHERE id = ANY($1)"),
                &[&ids],
            )
            .await?
            .iter()
            .map(|r| Arc::new(member_row(r)))
            .collect())
        })?;
        caches.fill_members(&read, epoch);
        found.extend(read);
        Ok(found)
    }

    async fn update_profile(
        &self,
        id: MemberId,
        patch: ProfilePatch,
    ) -> StoreResult<Arc<MemberRecord>> {
        in_tx!(self, |tx| {
            tx.execute(
                "UPDATE members SET name = coalesce($2, name), headline = coalesce($3, headline),
                        company = coalesce($4, company), location = coalesce($5, location)
                  WHERE id = $1",
                &[
                    &id.0,
                    &patch.name,
                    &patch.headline,
                    &patch.company,
                    &patch.location,
                ],
            )
            .await?;
            saved_member(tx, id).await
        })
    }

    async fn set_invitations_from(
        &self,
        id: MemberId,
        from: InvitationsFrom,
    ) -> StoreResult<Arc<MemberRecord>> {
        in_tx!(self, |tx| {
            // Who may invite this member is a send rule: sends to them wait for this to commit.
            lock_members(tx, &[id]).await?;
            tx.execute(
                "UPDATE members SET invitations_from = $2 WHERE id = $1",
                &[&id.0, &from.as_str()],
            )
            .await?;
            saved_member(tx, id).await
        })
    }

    async fn set_tier_role(
        &self,
        id: MemberId,
        tier: Option<Tier>,
        role: Option<Role>,
    ) -> StoreResult<Arc<MemberRecord>> {
        in_tx!(self, |tx| {
            open_member_locked(tx, id).await?;
            tx.execute(
                "UPDATE members SET tier = coalesce($2, tier), role = coalesce($3, role) WHERE id = $1",
                &[&id.0, &tier.map(Tier::as_str), &role.map(Role::as_str)],
            )
            .await?;
            saved_member(tx, id).await
        })
    }

    async fn member_by_email(&self, email: &Email) -> StoreResult<Option<Arc<MemberRecord>>> {
        read!(self, |c| {
            Ok(c.query_opt(
                &format!("SELECT {MEMBER_COLS} FROM members WHERE email = $1"),
                &[&email.as_str()],
            )
            .await?
            .map(|r| Arc::new(member_row(&r))))
        })
    }

    async fn set_notification_prefs(
        &self,
        member: MemberId,
        prefs: NotificationPrefs,
    ) -> StoreResult<Arc<MemberRecord>> {
        in_tx!(self, |tx| {
            open_member_locked(tx, member).await?;
            tx.execute(
                "UPDATE members SET notification_prefs = $2 WHERE id = $1",
                &[&member.0, &prefs.encode()],
            )
            .await?;
            saved_member(tx, member).await
        })
    }

    async fn idempotent_get(
        &self,
        member: MemberId,
        key: &str,
    ) -> StoreResult<Option<StoredResponse>> {
        read!(self, |c| {
            let Some(r) = c
                .query_opt(
                    "SELECT request_hash, status, body, created_at FROM idempotency_keys
                      WHERE member_id = $1 AND key = $2",
                    &[&member.0, &key],
                )
                .await?
            else {
                return Ok(None);
            };
            let status: i64 = r.get(1);
            Ok(Some(StoredResponse {
                request_hash: r.get(0),
                status: u16::try_from(status).map_err(|_| {
                    Failure::Internal(format!(
                        "stored response status {status} is not an HTTP status"
                    ))
                })?,
                body: r.get(2),
                created_at: Timestamp(r.get(3)),
            }))
        })
    }

    async fn idempotent_put(
        &self,
        member: MemberId,
        key: &str,
        response: StoredResponse,
        at: Timestamp,
        keep: u32,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            // A key used again replaces what it held (the embedded store's INSERT OR REPLACE):
            // after the replay window the old answer is stale, and the new one is what later
            // replays get.
            tx.execute(
                "INSERT INTO idempotency_keys (member_id, key, request_hash, status, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (member_id, key) DO UPDATE
                    SET request_hash = excluded.request_hash, status = excluded.status,
                        body = excluded.body, created_at = excluded.created_at",
                &[
                    &member.0,
                    &key,
                    &response.request_hash,
                    &i64::from(response.status),
                    &response.body,
                    &at.0,
                ],
            )
            .await?;
            // Past the bound, the oldest go (walks the member's newest `keep` index entries).
            tx.execute(
                "DELETE FROM idempotency_keys WHERE member_id = $1 AND key IN (
                    SELECT key FROM idempotency_keys WHERE member_id = $1
                     ORDER BY created_at DESC, key DESC OFFSET $2)",
                &[&member.0, &i64::from(keep)],
            )
            .await?;
            Ok(())
        })
    }

    async fn prune_idempotent(&self, cutoff: Timestamp, limit: u32) -> StoreResult<u64> {
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM idempotency_keys WHERE (member_id, key) IN (
                    SELECT member_id, key FROM idempotency_keys WHERE created_at <= $1 LIMIT $2)",
                &[&cutoff.0, &i64::from(limit)],
            )
            .await
        })
    }
}
