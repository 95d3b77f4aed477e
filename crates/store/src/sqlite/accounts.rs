//! Accounts: members, sign-ups waiting for their address, sign-in tokens, profiles and settings,
//! idempotent replays.

use super::*;
use rapport_domain::{InvitationsFrom, NotificationPrefs};

pub(super) fn member_by_id(c: &Connection, id: MemberId) -> rusqlite::Result<Option<MemberRecord>> {
    c.prepare_cached(&format!("SELECT {MEMBER_COLS} FROM members WHERE id = ?1"))?
        .query_row([id.0], member_row)
        .optional()
}

/// Reads a member row just written and reports it, so the member cache follows the commit.
pub(super) fn saved_member(tx: &mut WriteTx<'_>, id: MemberId) -> StoreResult<Arc<MemberRecord>> {
    // The search index (FTS5) keeps what a statement added in memory and writes it out when the
    // next statement opens a savepoint, so those rows would be counted against the next job of the
    // batch, and a job that fails would look as if it had written. Opening one here writes them
    // out as part of this job.
    tx.conn
        .execute_batch("SAVEPOINT search_index; RELEASE search_index;")?;
    let m = Arc::new(member_by_id(tx.conn, id)?.ok_or(RuleError::NotFound)?);
    tx.record(Change::MemberSaved(m.clone()));
    Ok(m)
}

/// Inserts a new member; `EmailTaken` when the address is a member's already.
pub(super) fn insert_member(tx: &mut WriteTx<'_>, m: &NewMember) -> StoreResult<Arc<MemberRecord>> {
    let inserted = tx
        .conn
        .prepare_cached(
            "INSERT INTO members (email, password_hash, name, headline, company, location, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![m.email.as_str(), m.password_hash, m.name, m.headline, m.company, m.location, m.at.0]);
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(RuleError::EmailTaken.into()),
        Err(e) => return Err(e.into()),
    }
    let id = MemberId(tx.conn.last_insert_rowid());
    saved_member(tx, id)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn server_secret(
        &self,
        name: &str,
        fresh: Vec<u8>,
        at: Timestamp,
    ) -> StoreResult<Vec<u8>> {
        let name = name.to_owned();
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO NOTHING",
                )?
                .execute(params![name, fresh, at.0])?;
            Ok(tx
                .conn
                .prepare_cached("SELECT value FROM secrets WHERE name = ?1")?
                .query_row([&name], |r| r.get(0))?)
        })
        .await
    }

    async fn create_member(&self, m: NewMember) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| insert_member(tx, &m)).await
    }

    async fn put_pending_signup(&self, hash: TokenHash, m: NewMember) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM pending_signups WHERE email = ?1")?
                .execute([m.email.as_str()])?;
            tx.conn
                .prepare_cached(
                    "INSERT INTO pending_signups
                       (token_hash, email, password_hash, name, headline, company, location, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![&hash[..], m.email.as_str(), m.password_hash, m.name, m.headline, m.company, m.location, m.at.0])?;
            Ok(())
        })
        .await
    }

    async fn confirm_signup(
        &self,
        hash: TokenHash,
        made_after: Timestamp,
        at: Timestamp,
    ) -> StoreResult<Result<Arc<MemberRecord>, RuleError>> {
        self.write(move |tx| {
            let pending = tx
                .conn
                .prepare_cached(
                    "DELETE FROM pending_signups WHERE token_hash = ?1
                     RETURNING email, password_hash, name, headline, company, location, created_at",
                )?
                .query_row([&hash[..]], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                        Timestamp(r.get(6)?),
                    ))
                })
                .optional()?;
            let Some((email, [password_hash, name, headline, company, location], _)) =
                pending.filter(|(_, _, made)| *made > made_after)
            else {
                return Ok(Err(RuleError::NotFound));
            };
            let taken = tx
                .conn
                .prepare_cached("SELECT 1 FROM members WHERE email = ?1")?
                .exists([&email])?;
            if taken {
                return Ok(Err(RuleError::EmailTaken));
            }
            let m = NewMember {
                email: Email::parse(&email)?,
                password_hash,
                name,
                headline,
                company,
                location,
                at,
            };
            insert_member(tx, &m).map(Ok)
        })
        .await
    }

    async fn prune_pending_signups(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM pending_signups WHERE token_hash IN (
                        SELECT token_hash FROM pending_signups WHERE created_at <= ?1 LIMIT ?2)",
                )?
                .execute(params![before.0, limit])?;
            Ok(n as u64)
        })
        .await
    }

    async fn login_lookup(&self, email: &Email) -> StoreResult<Option<(MemberId, String)>> {
        let email = email.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT id, password_hash FROM members WHERE email = ?1")?
                .query_row([email], |r| Ok((MemberId(r.get(0)?), r.get(1)?)))
                .optional()
        })
        .await
    }

    async fn insert_token(
        &self,
        hash: TokenHash,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO tokens (hash, member_id, created_at, last_used_at) VALUES (?1, ?2, ?3, ?3)",
                )?
                .execute(params![&hash[..], member.0, at.0])?;
            Ok(())
        })
        .await
    }

    async fn token(&self, hash: TokenHash) -> StoreResult<Option<TokenRecord>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT member_id, created_at, last_used_at FROM tokens WHERE hash = ?1",
            )?
            .query_row([&hash[..]], |r| {
                Ok(TokenRecord {
                    member: MemberId(r.get(0)?),
                    created_at: Timestamp(r.get(1)?),
                    last_used_at: Timestamp(r.get(2)?),
                })
            })
            .optional()
        })
        .await
    }

    async fn touch_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE tokens SET last_used_at = ?2 WHERE hash = ?1 AND last_used_at < ?2",
                )?
                .execute(params![&hash[..], at.0])?;
            Ok(())
        })
        .await
    }

    async fn prune_tokens(&self, dead: TokenCutoffs, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM tokens WHERE hash IN (
                        SELECT hash FROM tokens WHERE created_at <= ?1 OR last_used_at <= ?2 LIMIT ?3)",
                )?
                .execute(params![
                    dead.issued_at_or_before.0,
                    dead.used_at_or_before.0,
                    limit
                ])?;
            Ok(n as u64)
        })
        .await
    }

    async fn delete_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            plan::execute(tx, &rapport_domain::plan::plan_sign_out(hash, at))?;
            Ok(())
        })
        .await
    }

    async fn set_password(
        &self,
        member: MemberId,
        password_hash: String,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let hash = rapport_domain::plan::PasswordHash(password_hash);
            plan::execute(tx, &rapport_domain::plan::plan_password(member, hash, at))?;
            Ok(())
        })
        .await
    }

    async fn member(&self, id: MemberId) -> StoreResult<Option<Arc<MemberRecord>>> {
        // Read fresh: role, tier and status may be changed by another process (`rapport admin`).
        Ok(self.read(move |c| member_by_id(c, id)).await?.map(Arc::new))
    }

    async fn members(&self, ids: &[MemberId]) -> StoreResult<Vec<Arc<MemberRecord>>> {
        let (mut out, missing) = self.members.get_many(ids);
        if !missing.is_empty() {
            let found = self
                .read(move |c| {
                    missing
                        .into_iter()
                        .filter_map(|id| member_by_id(c, id).transpose())
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .await?;
            out.extend(found.into_iter().map(|m| self.members.fill(m)));
        }
        Ok(out)
    }

    async fn update_profile(
        &self,
        id: MemberId,
        p: ProfilePatch,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE members SET name = coalesce(?2, name), headline = coalesce(?3, headline),
                            company = coalesce(?4, company), location = coalesce(?5, location)
                      WHERE id = ?1",
                )?
                .execute(params![id.0, p.name, p.headline, p.company, p.location])?;
            saved_member(tx, id)
        })
        .await
    }

    async fn set_invitations_from(
        &self,
        id: MemberId,
        from: InvitationsFrom,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("UPDATE members SET invitations_from = ?2 WHERE id = ?1")?
                .execute(params![id.0, from.as_str()])?;
            saved_member(tx, id)
        })
        .await
    }

    async fn set_tier_role(
        &self,
        id: MemberId,
        tier: Option<Tier>,
        role: Option<Role>,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            member_by_id(tx.conn, id)?.filter(|m| !m.status.is_closed()).ok_or(RuleError::NotFound)?;
            tx.conn
                .prepare_cached("UPDATE members SET tier = coalesce(?2, tier), role = coalesce(?3, role) WHERE id = ?1")?
                .execute(params![id.0, tier.map(Tier::as_str), role.map(Role::as_str)])?;
            saved_member(tx, id)
        })
        .await
    }

    async fn member_by_email(&self, email: &Email) -> StoreResult<Option<Arc<MemberRecord>>> {
        let email = email.as_str().to_owned();
        let sql = format!("SELECT {MEMBER_COLS} FROM members WHERE email = ?1");
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_row([email], member_row)
                .optional()
        })
        .await
        .map(|m| m.map(Arc::new))
    }

    async fn set_notification_prefs(
        &self,
        member: MemberId,
        prefs: NotificationPrefs,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            member_by_id(tx.conn, member)?
                .filter(|m| !m.status.is_closed())
                .ok_or(RuleError::NotFound)?;
            tx.conn
                .prepare_cached("UPDATE members SET notification_prefs = ?2 WHERE id = ?1")?
                .execute(params![member.0, prefs.encode()])?;
            saved_member(tx, member)
        })
        .await
    }

    async fn idempotent_get(
        &self,
        member: MemberId,
        key: &str,
    ) -> StoreResult<Option<StoredResponse>> {
        let key = key.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE member_id = ?1 AND key = ?2",
            )?
            .query_row(params![member.0, key], |r| {
                Ok(StoredResponse {
                    request_hash: r.get(0)?,
                    status: r.get::<_, i64>(1)? as u16,
                    body: r.get(2)?,
                    created_at: Timestamp(r.get(3)?),
                })
            })
            .optional()
        })
        .await
    }

    async fn idempotent_put(
        &self,
        member: MemberId,
        key: &str,
        resp: StoredResponse,
        at: Timestamp,
        keep: u32,
    ) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO idempotency_keys (member_id, key, request_hash, status, body, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![member.0, key, resp.request_hash, resp.status as i64, resp.body, at.0])?;
            // Past the bound, the oldest go (walks the member's newest `keep` index entries).
            tx.conn
                .prepare_cached(
                    "DELETE FROM idempotency_keys WHERE member_id = ?1 AND key IN (
                        SELECT key FROM idempotency_keys WHERE member_id = ?1
                         ORDER BY created_at DESC, key DESC LIMIT -1 OFFSET ?2)",
                )?
                .execute(params![member.0, keep])?;
            Ok(())
        })
        .await
    }

    async fn prune_idempotent(&self, cutoff: Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM idempotency_keys WHERE (member_id, key) IN (
                        SELECT member_id, key FROM idempotency_keys WHERE created_at <= ?1 LIMIT ?2)",
                )?
                .execute(params![cutoff.0, limit])?;
            Ok(n as u64)
        })
        .await
    }
}
