//! Service keys: how the community's own applications call Rapport.
//!
//! An administrator creates a key with a name and scopes; its secret (`rsk_` and 256 random bits)
//! is shown once and kept only as its SHA-256, like a sign-in token. A key is looked up in the
//! store on every request (no cache), so a revoked key stops working at once on every replica.
//!
//! A request made with a key is an [`Operator::Key`]: administrators' routes that a scope opens
//! check it with [`App::authorize`]; what only administrators do (keys themselves, moderation,
//! roles) no key does. A key with `invitations:act` acts for a member ([`App::act_as`]) on the
//! member routes, where every rule applies exactly as if the member acted.

use crate::{auth, App, AppError, AppResult};
use rapport_domain::identity::{Scope, COMMUNITY};
use rapport_domain::token::last_use_due;
use rapport_domain::{AccountStatus, MemberId, ProfileField, RuleError};
use rapport_store::{KeyRecord, NewKey};
use serde::Serialize;
use utoipa::ToSchema;

/// What a service key's secret starts with (sign-in tokens start with `rap_`).
pub const KEY_PREFIX: &str = "rsk_";

/// A service key as administrators see it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceKey {
    pub id: String,
    pub name: String,
    #[schema(example = json!(["network:read"]))]
    pub scopes: Vec<String>,
    pub created_at: String,
    /// Within a minute.
    pub last_used_at: Option<String>,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewServiceKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Send it as `Authorization: Bearer <secret>`. It is never shown again.
    #[schema(example = "rsk_3q2-7wE…")]
    pub secret: String,
    pub created_at: String,
}

/// A key that authenticated a request: which, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Grant {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Who calls an administrators' route: a signed-in member, or a service key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Member(MemberId),
    Key(Grant),
}

fn view(k: &KeyRecord) -> ServiceKey {
    ServiceKey {
        id: k.id.to_string(),
        name: k.name.clone(),
        scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: k.created_at.to_rfc3339(),
        last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
    }
}

impl App {
    /// Lets `by` do what `scope` opens: an active administrator may do it all, a key what its
    /// scopes say (`403 insufficient_scope` otherwise).
    pub async fn authorize(&self, by: &Operator, scope: Scope) -> AppResult<()> {
        match by {
            Operator::Member(m) => self.require_admin(*m).await,
            Operator::Key(k) if k.allows(scope) => Ok(()),
            Operator::Key(_) => Err(AppError::InsufficientScope(scope.as_str())),
        }
    }

    /// An administrator creates a key (`rapport keys create` calls it with no administrator).
    pub async fn admin_create_key(
        &self,
        admin: Option<MemberId>,
        name: &str,
        scopes: &[String],
    ) -> AppResult<NewServiceKey> {
        if let Some(admin) = admin {
            self.require_admin(admin).await?;
        }
        let name = ProfileField::parse("name", name, 100, true)?.into_string();
        let scopes = Scope::parse_list(scopes)?;
        let secret = format!("{KEY_PREFIX}{}", &auth::new_token()[4..]);
        let k = self
            .store()
            .create_key(NewKey {
                name,
                scopes,
                hash: auth::token_hash(&secret),
                at: self.now(),
            })
            .await?;
        tracing::info!(target: "rapport::audit", key = k.id, name = %k.name, scopes = %KeyRecord::scopes_text(&k.scopes), by = ?admin, "service key created");
        let v = view(&k);
        Ok(NewServiceKey {
            id: v.id,
            name: v.name,
            scopes: v.scopes,
            secret,
            created_at: v.created_at,
        })
    }

    /// Every key, oldest first, without secrets.
    pub async fn admin_keys(&self, admin: Option<MemberId>) -> AppResult<Vec<ServiceKey>> {
        if let Some(admin) = admin {
            self.require_admin(admin).await?;
        }
        Ok(self.store().keys().await?.iter().map(view).collect())
    }

    /// Revokes a key: the next request made with it is `401 unauthenticated`, on every replica.
    pub async fn admin_revoke_key(&self, admin: Option<MemberId>, id: &str) -> AppResult<()> {
        if let Some(admin) = admin {
            self.require_admin(admin).await?;
        }
        let id: i64 = id.parse().map_err(|_| RuleError::NotFound)?;
        if !self.store().delete_key(id).await? {
            return Err(RuleError::NotFound.into());
        }
        tracing::info!(target: "rapport::audit", key = id, by = ?admin, "service key revoked");
        Ok(())
    }

    /// The key whose secret this is; `401 unauthenticated` for anything else.
    pub async fn authenticate_key(&self, secret: &str) -> AppResult<Grant> {
        if secret.len() > 200 || !secret.starts_with(KEY_PREFIX) {
            return Err(AppError::Unauthenticated);
        }
        let k = self
            .store()
            .key_by_hash(auth::token_hash(secret))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let now = self.now();
        if k.last_used_at.is_none_or(|last| last_use_due(last, now)) {
            // When it was last used is for administrators, to the minute: written off the request.
            let store = self.inner.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(k.id, now).await {
                    tracing::warn!(key = k.id, error = %e, "could not record a key's use");
                }
            });
        }
        Ok(Grant {
            id: k.id,
            name: k.name,
            scopes: k.scopes,
        })
    }

    /// The member a key with `invitations:act` acts for: `who` is a member id, or `ext:` and the
    /// community's id of them. Unknown and closed members are `404 not_found`; administrators,
    /// and members who may not act now (deactivated or suspended), are `403 forbidden`.
    pub async fn act_as(&self, key: &Grant, who: &str) -> AppResult<MemberId> {
        if !key.allows(Scope::InvitationsAct) {
            return Err(AppError::InsufficientScope(Scope::InvitationsAct.as_str()));
        }
        let id = self.member_named(who).await?;
        let m = self.open_member(id).await?;
        // An administrator's powers are theirs alone: no key acts as one.
        if m.is_admin() {
            return Err(AppError::Refused(
                "a service key does not act for administrators".into(),
            ));
        }
        if m.status != AccountStatus::Active {
            return Err(AppError::Refused(
                "this member's account is deactivated or suspended: nobody can act for them now"
                    .into(),
            ));
        }
        Ok(id)
    }

    /// A member named by their id, or by `ext:` and the community's id of them (not checked
    /// further: unknown ids are `not_found`).
    pub(crate) async fn member_named(&self, who: &str) -> AppResult<MemberId> {
        let who = who.trim();
        match who.strip_prefix("ext:") {
            Some(ext) => Ok(self
                .store()
                .external_member(COMMUNITY, ext)
                .await?
                .ok_or(RuleError::NotFound)?),
            None => Ok(who.parse().map_err(|_| RuleError::NotFound)?),
        }
    }
}
