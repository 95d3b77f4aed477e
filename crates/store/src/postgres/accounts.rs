//! Accounts: members, sign-in tokens, profiles and settings, idempotent replays.

use super::*;
use crate::*;
use rapport_domain::{Email, InvitationsFrom, MemberId, NotificationPrefs, RuleError, Timestamp};
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

pub(super) async fn ping(s: &PgStore) -> StoreResult<()> {
    read!(s, |c| {
        c.query_one("SELECT 1", &[]).await?;
        Ok(())
    })
}

pub(super) async fn create_member(s: &PgStore, m: NewMember) -> StoreResult<Arc<MemberRecord>> {
    in_tx!(s, |tx| {
        let inserted = tx
            .query_opt(
                "INSERT INTO members (email, password_hash, name, headline, company, location, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (email) DO NOTHING RETURNING id",
                &[&m.email.as_str(), &m.password_hash, &m.name, &m.headline, &m.company, &m.location, &m.at.0],
            )
            .await?;
        let Some(row) = inserted else {
            return Err(RuleError::EmailTaken.into());
        };
        saved_member(tx, MemberId(row.get(0))).await
    })
}

pub(super) async fn login_lookup(
    s: &PgStore,
    email: &Email,
) -> StoreResult<Option<(MemberId, String)>> {
    todo_port!()
}

pub(super) async fn insert_token(
    s: &PgStore,
    hash: TokenHash,
    member: MemberId,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn token_member(s: &PgStore, hash: TokenHash) -> StoreResult<Option<MemberId>> {
    todo_port!()
}

pub(super) async fn delete_token(s: &PgStore, hash: TokenHash) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn set_password(
    s: &PgStore,
    member: MemberId,
    password_hash: String,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn member(s: &PgStore, id: MemberId) -> StoreResult<Option<Arc<MemberRecord>>> {
    Ok(read!(s, |c| member_by_id(c, id).await)?.map(Arc::new))
}

pub(super) async fn members(s: &PgStore, ids: &[MemberId]) -> StoreResult<Vec<Arc<MemberRecord>>> {
    todo_port!()
}

pub(super) async fn update_profile(
    s: &PgStore,
    id: MemberId,
    patch: ProfilePatch,
) -> StoreResult<Arc<MemberRecord>> {
    todo_port!()
}

pub(super) async fn set_invitations_from(
    s: &PgStore,
    id: MemberId,
    from: InvitationsFrom,
) -> StoreResult<Arc<MemberRecord>> {
    todo_port!()
}

pub(super) async fn set_tier_role(
    s: &PgStore,
    id: MemberId,
    tier: Option<String>,
    role: Option<String>,
) -> StoreResult<Arc<MemberRecord>> {
    todo_port!()
}

pub(super) async fn member_by_email(
    s: &PgStore,
    email: &Email,
) -> StoreResult<Option<Arc<MemberRecord>>> {
    todo_port!()
}

pub(super) async fn set_notification_prefs(
    s: &PgStore,
    member: MemberId,
    prefs: NotificationPrefs,
) -> StoreResult<Arc<MemberRecord>> {
    todo_port!()
}

pub(super) async fn idempotent_get(
    s: &PgStore,
    member: MemberId,
    key: &str,
) -> StoreResult<Option<StoredResponse>> {
    todo_port!()
}

pub(super) async fn idempotent_put(
    s: &PgStore,
    member: MemberId,
    key: &str,
    response: StoredResponse,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}
