//! Identities from outside: service keys, and the ids members carry in other systems
//! (provisioning by the community's ids, sign-in through an OpenID provider).

use super::accounts::{insert_member, member_by_id, saved_member};
use super::*;
use crate::*;
use async_trait::async_trait;
use rapport_domain::identity::{
    plan_provision, CurrentProfile, Provision, ProvisionCandidate, ProvisionFacts,
    ProvisionedProfile, COMMUNITY,
};

const KEY_COLS: &str = "id, name, scopes, created_at, last_used_at";

fn key_row(r: &Row) -> KeyRecord {
    KeyRecord {
        id: r.get(0),
        name: r.get(1),
        scopes: KeyRecord::scopes_from_text(r.get(2)),
        created_at: Timestamp(r.get(3)),
        last_used_at: r.get::<_, Option<i64>>(4).map(Timestamp),
    }
}

async fn candidate(c: &Tx, m: MemberRecord) -> TxResult<ProvisionCandidate> {
    let has_external_id = c
        .query_opt(
            "SELECT 1 FROM external_ids WHERE issuer = $1 AND member_id = $2 LIMIT 1",
            &[&COMMUNITY, &m.id.0],
        )
        .await?
        .is_some();
    let has_password: bool = c
        .query_one(
            "SELECT password_hash <> '' FROM members WHERE id = $1",
            &[&m.id.0],
        )
        .await?
        .get(0);
    Ok(ProvisionCandidate {
        member: m.id,
        is_admin: m.is_admin(),
        profile: CurrentProfile {
            email: m.email,
            name: m.name,
            headline: m.headline,
            company: m.company,
            location: m.location,
        },
        has_external_id,
        has_password,
    })
}

/// What provisioning reads: the members named by the external id and by the address, closed
/// accounts left out.
async fn provision_facts(c: &Tx, external_id: &str, email: &str) -> TxResult<ProvisionFacts> {
    let by_external_id: Option<i64> = c
        .query_opt(
            "SELECT member_id FROM external_ids WHERE issuer = $1 AND subject = $2",
            &[&COMMUNITY, &external_id],
        )
        .await?
        .map(|r| r.get(0));
    let by_email: Option<i64> = c
        .query_opt("SELECT id FROM members WHERE email = $1", &[&email])
        .await?
        .map(|r| r.get(0));
    let mut facts = ProvisionFacts::default();
    for (id, slot) in [
        (by_external_id, &mut facts.by_external_id),
        (by_email, &mut facts.by_email),
    ] {
        if let Some(id) = id {
            let m = member_by_id(c, MemberId(id))
                .await?
                .filter(|m| !m.status.is_closed());
            if let Some(m) = m {
                *slot = Some(candidate(c, m).await?);
            }
        }
    }
    Ok(facts)
}

async fn update_profile(tx: &Tx, id: MemberId, p: &ProvisionedProfile) -> TxResult<()> {
    tx.execute(
        "UPDATE members SET email = $2, name = $3, headline = coalesce($4, headline),
                company = coalesce($5, company), location = coalesce($6, location)
          WHERE id = $1",
        &[
            &id.0,
            &p.email,
            &p.name,
            &p.headline,
            &p.company,
            &p.location,
        ],
    )
    .await?;
    Ok(())
}

async fn link(
    tx: &Tx,
    issuer: &str,
    subject: &str,
    member: MemberId,
    at: Timestamp,
) -> TxResult<bool> {
    Ok(tx
        .execute(
            "INSERT INTO external_ids (issuer, subject, member_id, created_at)
             SELECT $1, $2, id, $4 FROM members WHERE id = $3 AND status <> 'closed'
             ON CONFLICT (issuer, subject) DO NOTHING",
            &[&issuer, &subject, &member.0, &at.0],
        )
        .await?
        == 1)
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn create_key(&self, k: NewKey) -> StoreResult<KeyRecord> {
        in_tx!(self, |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO service_keys (name, scopes, secret_hash, created_at)
                         VALUES ($1, $2, $3, $4) RETURNING {KEY_COLS}"
                    ),
                    &[
                        &k.name,
                        &KeyRecord::scopes_text(&k.scopes),
                        &&k.hash[..],
                        &k.at.0,
                    ],
                )
                .await?;
            Ok(key_row(&row))
        })
    }

    async fn keys(&self) -> StoreResult<Vec<KeyRecord>> {
        read!(self, |c| {
            Ok(c.query(
                &format!("SELECT {KEY_COLS} FROM service_keys ORDER BY id"),
                &[],
            )
            .await?
            .iter()
            .map(key_row)
            .collect())
        })
    }

    async fn key_by_hash(&self, hash: TokenHash) -> StoreResult<Option<KeyRecord>> {
        read!(self, |c| {
            Ok(c.query_opt(
                &format!("SELECT {KEY_COLS} FROM service_keys WHERE secret_hash = $1"),
                &[&&hash[..]],
            )
            .await?
            .as_ref()
            .map(key_row))
        })
    }

    async fn delete_key(&self, id: i64) -> StoreResult<bool> {
        in_tx!(self, |tx| {
            Ok(tx
                .execute("DELETE FROM service_keys WHERE id = $1", &[&id])
                .await?
                == 1)
        })
    }

    async fn touch_key(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        in_tx!(self, |tx| {
            tx.execute(
                "UPDATE service_keys SET last_used_at = greatest(last_used_at, $2) WHERE id = $1",
                &[&id, &at.0],
            )
            .await?;
            Ok(())
        })
    }

    async fn external_member(&self, issuer: &str, subject: &str) -> StoreResult<Option<MemberId>> {
        read!(self, |c| {
            Ok(c.query_opt(
                "SELECT member_id FROM external_ids WHERE issuer = $1 AND subject = $2",
                &[&issuer, &subject],
            )
            .await?
            .map(|r| MemberId(r.get(0))))
        })
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        in_tx!(self, |tx| link(tx, issuer, subject, member, at).await)
    }

    async fn provision(
        &self,
        external_id: String,
        want: ProvisionedProfile,
        at: Timestamp,
    ) -> StoreResult<(Provision, Arc<MemberRecord>)> {
        in_tx!(self, |tx| {
            // Two requests provisioning the same id run one after the other, on any replica.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 19))",
                &[&external_id],
            )
            .await?;
            // The members it may change are locked, then read: a close, sign-in or other
            // provisioning of theirs commits before or after this, never in between.
            let first = provision_facts(tx, &external_id, &want.email).await?;
            let named: Vec<MemberId> = [&first.by_external_id, &first.by_email]
                .into_iter()
                .flatten()
                .map(|c| c.member)
                .collect();
            lock_members(tx, &named).await?;
            let facts = provision_facts(tx, &external_id, &want.email).await?;
            let planned = plan_provision(&facts, &want)?;
            let id = match planned {
                Provision::Create => {
                    let new = NewMember {
                        email: Email::parse(&want.email)?,
                        password_hash: String::new(),
                        name: want.name.clone(),
                        headline: want.headline.clone().unwrap_or_default(),
                        company: want.company.clone().unwrap_or_default(),
                        location: want.location.clone().unwrap_or_default(),
                        at,
                    };
                    let m = insert_member(tx, &new)
                        .await?
                        .ok_or(RuleError::EmailTaken)?;
                    link(tx, COMMUNITY, &external_id, m.id, at).await?;
                    return Ok((planned, m));
                }
                Provision::Link { member, update } => {
                    link(tx, COMMUNITY, &external_id, member, at).await?;
                    if update {
                        update_profile(tx, member, &want).await?;
                    }
                    member
                }
                Provision::Update { member } => {
                    update_profile(tx, member, &want).await?;
                    member
                }
                Provision::Unchanged { member } => member,
            };
            Ok((planned, saved_member(tx, id).await?))
        })
    }
}
