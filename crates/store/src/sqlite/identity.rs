//! Identities from outside: service keys, and the ids members carry in other systems
//! (provisioning by the community's ids, sign-in through an OpenID provider).

use super::accounts::{insert_member, member_by_id, saved_member};
use super::*;
use rapport_domain::identity::{
    plan_provision, CurrentProfile, Provision, ProvisionCandidate, ProvisionFacts,
    ProvisionedProfile, COMMUNITY,
};

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: KeyRecord::scopes_from_text(&r.get::<_, String>(2)?),
        created_at: Timestamp(r.get(3)?),
        last_used_at: r.get::<_, Option<i64>>(4)?.map(Timestamp),
    })
}

const KEY_COLS: &str = "id, name, scopes, created_at, last_used_at";

fn candidate(c: &Connection, m: MemberRecord) -> rusqlite::Result<ProvisionCandidate> {
    let has_external_id = c
        .prepare_cached("SELECT 1 FROM external_ids WHERE issuer = ?1 AND member_id = ?2")?
        .exists(params![COMMUNITY, m.id.0])?;
    let has_password = c
        .prepare_cached("SELECT password_hash <> '' FROM members WHERE id = ?1")?
        .query_row([m.id.0], |r| r.get(0))?;
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
fn provision_facts(
    c: &Connection,
    external_id: &str,
    email: &str,
) -> rusqlite::Result<ProvisionFacts> {
    let by_external_id = c
        .prepare_cached("SELECT member_id FROM external_ids WHERE issuer = ?1 AND subject = ?2")?
        .query_row(params![COMMUNITY, external_id], |r| r.get::<_, i64>(0))
        .optional()?;
    let open = |m: Option<MemberRecord>| m.filter(|m| !m.status.is_closed());
    let by_external_id = match by_external_id {
        Some(id) => open(member_by_id(c, MemberId(id))?),
        None => None,
    };
    let by_email = c
        .prepare_cached("SELECT id FROM members WHERE email = ?1")?
        .query_row([email], |r| r.get::<_, i64>(0))
        .optional()?;
    let by_email = match by_email {
        Some(id) => open(member_by_id(c, MemberId(id))?),
        None => None,
    };
    Ok(ProvisionFacts {
        by_external_id: by_external_id.map(|m| candidate(c, m)).transpose()?,
        by_email: by_email.map(|m| candidate(c, m)).transpose()?,
    })
}

fn update_profile(c: &Connection, id: MemberId, p: &ProvisionedProfile) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE members SET email = ?2, name = ?3, headline = coalesce(?4, headline),
                company = coalesce(?5, company), location = coalesce(?6, location)
          WHERE id = ?1",
    )?
    .execute(params![
        id.0, p.email, p.name, p.headline, p.company, p.location
    ])?;
    Ok(())
}

fn link(
    c: &Connection,
    issuer: &str,
    subject: &str,
    member: MemberId,
    at: Timestamp,
) -> rusqlite::Result<bool> {
    Ok(c.prepare_cached(
        "INSERT INTO external_ids (issuer, subject, member_id, created_at)
         SELECT ?1, ?2, id, ?4 FROM members WHERE id = ?3 AND status <> 'closed'
         ON CONFLICT (issuer, subject) DO NOTHING",
    )?
    .execute(params![issuer, subject, member.0, at.0])?
        == 1)
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn create_key(&self, k: NewKey) -> StoreResult<KeyRecord> {
        self.write(move |tx| {
            let scopes = KeyRecord::scopes_text(&k.scopes);
            tx.conn
                .prepare_cached(
                    "INSERT INTO service_keys (name, scopes, secret_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![k.name, scopes, &k.hash[..], k.at.0])?;
            let id = tx.conn.last_insert_rowid();
            Ok(tx
                .conn
                .prepare_cached(&format!(
                    "SELECT {KEY_COLS} FROM service_keys WHERE id = ?1"
                ))?
                .query_row([id], key_row)?)
        })
        .await
    }

    async fn keys(&self) -> StoreResult<Vec<KeyRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {KEY_COLS} FROM service_keys ORDER BY id"))?
                .query_map([], key_row)?
                .collect()
        })
        .await
    }

    async fn key_by_hash(&self, hash: TokenHash) -> StoreResult<Option<KeyRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM service_keys WHERE secret_hash = ?1"
            ))?
            .query_row([&hash[..]], key_row)
            .optional()
        })
        .await
    }

    async fn delete_key(&self, id: i64) -> StoreResult<bool> {
        self.write(move |tx| {
            Ok(tx
                .conn
                .prepare_cached("DELETE FROM service_keys WHERE id = ?1")?
                .execute([id])?
                == 1)
        })
        .await
    }

    async fn touch_key(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("UPDATE service_keys SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id, at.0])?;
            Ok(())
        })
        .await
    }

    async fn external_member(&self, issuer: &str, subject: &str) -> StoreResult<Option<MemberId>> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT member_id FROM external_ids WHERE issuer = ?1 AND subject = ?2",
            )?
            .query_row(params![issuer, subject], |r| Ok(MemberId(r.get(0)?)))
            .optional()
        })
        .await
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.write(move |tx| Ok(link(tx.conn, &issuer, &subject, member, at)?))
            .await
    }

    async fn provision(
        &self,
        external_id: String,
        want: ProvisionedProfile,
        at: Timestamp,
    ) -> StoreResult<(Provision, Arc<MemberRecord>)> {
        self.write(move |tx| {
            let facts = provision_facts(tx.conn, &external_id, &want.email)?;
            let planned = plan_provision(&facts, &want)?;
            let id = match planned {
                Provision::Create => {
                    let m = insert_member(
                        tx,
                        &NewMember {
                            email: Email::parse(&want.email)?,
                            password_hash: String::new(),
                            name: want.name.clone(),
                            headline: want.headline.clone().unwrap_or_default(),
                            company: want.company.clone().unwrap_or_default(),
                            location: want.location.clone().unwrap_or_default(),
                            at,
                        },
                    )?;
                    link(tx.conn, COMMUNITY, &external_id, m.id, at)?;
                    return Ok((planned, m));
                }
                Provision::Link { member, update } => {
                    link(tx.conn, COMMUNITY, &external_id, member, at)?;
                    if update {
                        update_profile(tx.conn, member, &want)?;
                    }
                    member
                }
                Provision::Update { member } => {
                    update_profile(tx.conn, member, &want)?;
                    member
                }
                Provision::Unchanged { member } => member,
            };
            Ok((planned, saved_member(tx, id)?))
        })
        .await
    }
}
