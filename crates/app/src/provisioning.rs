//! A community's own applications at work: members provisioned by the community's ids
//! (`PUT /admin/members/by-external-id/{id}`, `rapport import`), read back by them, and the
//! relationship of any two members for a host site's "2nd · 14 mutual".
//!
//! What provisioning does to the member (create, link, update, leave unchanged, refuse) is
//! `rapport_domain::identity::plan_provision`; a status of `deactivated` is the member's own
//! deactivation, and `active` brings a deactivated member back as signing in does (a suspension
//! is the moderators' and stays).

use crate::keys::Operator;
use crate::views::MemberSummary;
use crate::{optional_field, summary, App, AppResult};
use rapport_domain::identity::{ProvisionedProfile, Scope, COMMUNITY};
use rapport_domain::{AccountStatus, Email, MemberId, ProfileField, RuleError};
use rapport_store::MemberRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// The longest community id.
const EXTERNAL_ID_MAX: usize = 200;
/// Mutual connections named in a relationship's preview.
const MUTUAL_PREVIEW: usize = 3;

/// A member as the community's systems describe them.
#[derive(Debug, Clone, Default)]
pub struct ProvisionInput {
    pub email: String,
    pub name: String,
    /// Left out, the member's own stays; empty clears it. So with `company` and `location`.
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    /// `active` or `deactivated`; left out, the status stays as it is.
    pub status: Option<String>,
}

/// A provisioned member as the community's systems read them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProvisionedMember {
    pub id: String,
    pub external_id: String,
    pub email: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
    /// `active`, `deactivated` or `suspended`.
    #[schema(example = "active")]
    pub status: &'static str,
    pub created_at: String,
}

/// What provisioning did: `created`, `updated` or `unchanged`, and the member now.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub outcome: &'static str,
    pub member: ProvisionedMember,
}

/// How one member stands to another, for a host site.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PairRelationship {
    /// `self`, `none`, `invitation_sent`, `invitation_received` or `connected`, as `from` sees it.
    #[schema(example = "none")]
    pub state: &'static str,
    /// 1, 2, 3, or null when out of network.
    pub degree: Option<u8>,
    pub mutual_connections: u32,
    /// Up to three of the mutual connections.
    pub mutual_preview: Vec<MemberSummary>,
}

fn member_view(m: &MemberRecord, external_id: &str) -> ProvisionedMember {
    ProvisionedMember {
        id: m.id.to_string(),
        external_id: external_id.to_owned(),
        email: m.email.clone(),
        name: m.name.clone(),
        headline: m.headline.clone(),
        company: m.company.clone(),
        location: m.location.clone(),
        status: m.status.as_str(),
        created_at: m.created_at.to_rfc3339(),
    }
}

/// A community id as given: 1 to 200 characters, no control characters, kept exactly.
fn external_id(raw: &str) -> Result<&str, RuleError> {
    if raw.is_empty() || raw.chars().count() > EXTERNAL_ID_MAX {
        return Err(RuleError::validation(
            "external_id",
            "must be 1 to 200 characters",
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(RuleError::validation(
            "external_id",
            "must not contain control characters",
        ));
    }
    Ok(raw)
}

/// The wanted profile and status, checked as a sign-up's are.
fn wanted(input: &ProvisionInput) -> AppResult<(ProvisionedProfile, Option<AccountStatus>)> {
    let status = match input.status.as_deref().map(str::trim) {
        None => None,
        Some("active") => Some(AccountStatus::Active),
        Some("deactivated") => Some(AccountStatus::Deactivated),
        Some(_) => {
            return Err(RuleError::validation("status", "must be active or deactivated").into())
        }
    };
    let profile = ProvisionedProfile {
        email: Email::parse(&input.email)?.as_str().to_owned(),
        name: ProfileField::name(&input.name)?.into_string(),
        headline: optional_field("headline", input.headline.as_deref(), 200)?,
        company: optional_field("company", input.company.as_deref(), 100)?,
        location: optional_field("location", input.location.as_deref(), 100)?,
    };
    Ok((profile, status))
}

impl App {
    /// `PUT /admin/members/by-external-id/{id}`: an administrator or a key with `members:write`.
    pub async fn provision_member(
        &self,
        by: &Operator,
        external: &str,
        input: ProvisionInput,
    ) -> AppResult<Provisioned> {
        self.authorize(by, Scope::MembersWrite).await?;
        let p = self.provision(external, input).await?;
        tracing::info!(target: "rapport::audit", by = ?by, member = %p.member.id, outcome = p.outcome, "member provisioned");
        Ok(p)
    }

    /// Makes the member with the community id `external` what `input` says (also `rapport
    /// import`, line by line): nothing is written when the input is refused.
    pub async fn provision(&self, external: &str, input: ProvisionInput) -> AppResult<Provisioned> {
        let external = external_id(external)?;
        let (profile, status) = wanted(&input)?;
        let (planned, mut m) = self
            .store()
            .provision(external.to_owned(), profile, self.now())
            .await?;
        let mut outcome = planned.outcome();
        let changes_status = matches!(
            (status, m.status),
            (Some(AccountStatus::Deactivated), AccountStatus::Active)
                | (Some(AccountStatus::Active), AccountStatus::Deactivated)
        );
        if changes_status && m.is_admin() {
            return Err(rapport_domain::identity::administrator_refused().into());
        }
        match (status, m.status) {
            (Some(AccountStatus::Deactivated), AccountStatus::Active) => {
                self.deactivate(m.id).await?;
                m = self
                    .store()
                    .member(m.id)
                    .await?
                    .ok_or(RuleError::NotFound)?;
                outcome = if outcome == "created" {
                    outcome
                } else {
                    "updated"
                };
            }
            (Some(AccountStatus::Active), AccountStatus::Deactivated) => {
                m = self
                    .store()
                    .set_status(m.id, AccountStatus::Active, self.now())
                    .await?;
                outcome = "updated";
            }
            _ => {}
        }
        Ok(Provisioned {
            outcome,
            member: member_view(&m, external),
        })
    }

    /// `GET /admin/members/by-external-id/{id}`: an administrator or a key with `members:read`.
    pub async fn external_member_view(
        &self,
        by: &Operator,
        external: &str,
    ) -> AppResult<ProvisionedMember> {
        self.authorize(by, Scope::MembersRead).await?;
        let id = self
            .store()
            .external_member(COMMUNITY, external)
            .await?
            .ok_or(RuleError::NotFound)?;
        let m = self.open_member(id).await?;
        Ok(member_view(&m, external))
    }

    /// `GET /admin/relationship`: how `from` stands to `to` (member ids or `ext:` ids), as `from`
    /// would see it on `to`'s profile: an administrator or a key with `network:read`. Members
    /// `from` may not see (blocked either way, not active) are `404 not_found`.
    pub async fn relationship_between(
        &self,
        by: &Operator,
        from: &str,
        to: &str,
    ) -> AppResult<PairRelationship> {
        self.authorize(by, Scope::NetworkRead).await?;
        let from = self.member_named(from).await?;
        let to = self.member_named(to).await?;
        let viewer = self.visible_member(from, from).await?;
        if !viewer.is_active() {
            return Err(RuleError::NotFound.into());
        }
        self.visible_member(from, to).await?;
        let r = self.relationship(from, to).await?;
        let hidden = self.hidden(from).await?;
        let (_, shown) = self
            .mutual_page(&hidden, from, &[to], MUTUAL_PREVIEW)
            .pop()
            .unwrap_or_default();
        let by_id = self.members_by_id(&shown).await?;
        let mutual_preview = shown
            .iter()
            .filter_map(|id: &MemberId| by_id.get(id).map(|m| summary(m)))
            .collect();
        Ok(PairRelationship {
            state: r.state,
            degree: r.degree,
            mutual_connections: r.mutual_connections,
            mutual_preview,
        })
    }
}
