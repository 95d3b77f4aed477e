//! Administration and moderation: tiers, roles and suspension, restrictions, spam reports.

use crate::views::*;
use crate::{summary, App, AppError, AppResult};
use rapport_domain::{Email, MemberId, RuleError, Timestamp};
use rapport_store::{AccountStatus, MemberRecord, Resolution, Role, Tier};
use std::collections::HashMap;
use std::sync::Arc;

/// What an admin may change about a member.
#[derive(Debug, Clone, Default)]
pub struct AdminUpdate {
    pub tier: Option<String>,
    pub role: Option<String>,
    pub suspended: Option<bool>,
}

impl App {
    /// A member who still has an account (closed ones are `not_found`).
    pub(crate) async fn open_member(&self, id: MemberId) -> AppResult<Arc<MemberRecord>> {
        Ok(self
            .store()
            .member(id)
            .await?
            .filter(|m| !m.status.is_closed())
            .ok_or(RuleError::NotFound)?)
    }

    pub(crate) async fn require_admin(&self, viewer: MemberId) -> AppResult<()> {
        match self.store().member(viewer).await? {
            Some(m) if m.is_admin() && m.is_active() => Ok(()),
            _ => Err(AppError::Forbidden),
        }
    }

    /// An admin changes a member's tier, role or suspension.
    pub async fn admin_update_member(
        &self,
        admin: MemberId,
        id: &str,
        update: AdminUpdate,
    ) -> AppResult<Me> {
        self.require_admin(admin).await?;
        let id: MemberId = id.parse().map_err(|_| RuleError::NotFound)?;
        self.open_member(id).await?;
        self.apply_admin_update(id, update).await
    }

    /// The same, from the command line (`rapport admin ...`), by email.
    pub async fn admin_update_by_email(&self, email: &str, update: AdminUpdate) -> AppResult<Me> {
        let email = Email::parse(email)?;
        let m = self
            .store()
            .member_by_email(&email)
            .await?
            .ok_or(RuleError::NotFound)?;
        self.apply_admin_update(m.id, update).await
    }

    async fn apply_admin_update(&self, id: MemberId, u: AdminUpdate) -> AppResult<Me> {
        let tier = u
            .tier
            .as_deref()
            .map(|t| {
                Tier::parse(t)
                    .ok_or_else(|| RuleError::validation("tier", "must be free or premium"))
            })
            .transpose()?;
        let role = u
            .role
            .as_deref()
            .map(|r| {
                Role::parse(r)
                    .ok_or_else(|| RuleError::validation("role", "must be member or admin"))
            })
            .transpose()?;
        let mut m = self.store().set_tier_role(id, tier, role).await?;
        if let Some(suspend) = u.suspended {
            let status = if suspend {
                AccountStatus::Suspended
            } else {
                AccountStatus::Active
            };
            m = self.store().set_status(id, status, self.now()).await?;
            if suspend {
                self.inner.tokens.forget_member(id);
            }
        }
        tracing::info!(member = %id, "member updated by an admin");
        self.me_view(m).await
    }

    /// A moderator restricts a member's invitations until a time.
    pub async fn admin_restrict(&self, admin: MemberId, id: &str, until: &str) -> AppResult<()> {
        self.require_admin(admin).await?;
        let id: MemberId = id.parse().map_err(|_| RuleError::NotFound)?;
        let until = Timestamp::parse_rfc3339(until).ok_or_else(|| {
            RuleError::validation(
                "until",
                "must be an RFC 3339 time such as 2027-01-31T00:00:00Z",
            )
        })?;
        if until <= self.now() {
            return Err(RuleError::validation("until", "must be in the future").into());
        }
        self.store().restrict(id, until, self.now()).await?;
        tracing::info!(member = %id, "restricted by a moderator");
        Ok(())
    }

    pub async fn admin_lift_restriction(&self, admin: MemberId, id: &str) -> AppResult<()> {
        self.require_admin(admin).await?;
        let id: MemberId = id.parse().map_err(|_| RuleError::NotFound)?;
        if !self.store().lift_restriction(id, self.now()).await? {
            return Err(RuleError::NotFound.into());
        }
        Ok(())
    }

    /// Open spam reports, oldest first, with who reported whom and the note.
    pub async fn admin_reports(&self, admin: MemberId) -> AppResult<Page<Report>> {
        self.require_admin(admin).await?;
        let reports = self.store().open_reports(100).await?;
        let mut ids: Vec<MemberId> = reports
            .iter()
            .flat_map(|r| [r.reporter, r.reported])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let members: HashMap<MemberId, Arc<MemberRecord>> = self
            .store()
            .members(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let items = reports
            .into_iter()
            .filter_map(|r| {
                Some(Report {
                    id: r.id.to_string(),
                    invitation_id: r.invitation.to_string(),
                    reporter: summary(members.get(&r.reporter)?),
                    reported: summary(members.get(&r.reported)?),
                    note: r.note,
                    created_at: r.created_at.to_rfc3339(),
                })
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: None,
            total: None,
        })
    }

    /// Resolves a report: `dismiss`, `restrict` (the next restriction level) or `suspend`.
    pub async fn admin_resolve_report(
        &self,
        admin: MemberId,
        id: &str,
        action: &str,
    ) -> AppResult<()> {
        self.require_admin(admin).await?;
        let id: i64 = id.parse().map_err(|_| RuleError::NotFound)?;
        let action = match action {
            "dismiss" => Resolution::Dismiss,
            "restrict" => Resolution::Restrict,
            "suspend" => Resolution::Suspend,
            _ => {
                return Err(
                    RuleError::validation("action", "must be dismiss, restrict or suspend").into(),
                )
            }
        };
        self.store()
            .resolve_report(id, action, admin, self.now())
            .await?;
        Ok(())
    }
}
