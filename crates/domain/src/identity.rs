//! Members known by another system's id: the community's own member ids (provisioning) and the
//! subjects of its OpenID provider (sign-in). What a provisioning request does to the member it
//! names is decided here; the stores read the facts and carry it out.

use crate::{MemberId, RuleError};

/// The issuer under which the community's own member ids are kept (provisioning, `ext:` ids).
/// OpenID subjects are kept under their provider's issuer URL.
pub const COMMUNITY: &str = "";

/// The profile a provisioning request wants a member to have: a field left out (`None`) keeps
/// what the member has (they may have written it themselves); an empty one clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProvisionedProfile {
    pub email: String,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

/// A member's profile as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentProfile {
    pub email: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
}

impl CurrentProfile {
    /// Does `want` change anything of it?
    pub fn differs(&self, want: &ProvisionedProfile) -> bool {
        let changes =
            |have: &str, want: &Option<String>| want.as_deref().is_some_and(|w| w != have);
        self.email != want.email
            || self.name != want.name
            || changes(&self.headline, &want.headline)
            || changes(&self.company, &want.company)
            || changes(&self.location, &want.location)
    }
}

/// A member as a provisioning request finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionCandidate {
    pub member: MemberId,
    pub profile: CurrentProfile,
    /// Does the member already carry a community id (this one or another)?
    pub has_external_id: bool,
    /// Does the member sign in with a password of their own?
    pub has_password: bool,
    pub is_admin: bool,
}

/// What a provisioning store reads: the member the external id names, and the member who holds
/// the wanted address, if either exists (closed accounts are neither).
#[derive(Debug, Clone, Default)]
pub struct ProvisionFacts {
    pub by_external_id: Option<ProvisionCandidate>,
    pub by_email: Option<ProvisionCandidate>,
}

/// What provisioning does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// A new member, without a password, carrying the external id.
    Create,
    /// A member without a password and without a community id (one who signed in through the
    /// provider before being provisioned) gets the external id, and the profile when it differs.
    Link { member: MemberId, update: bool },
    /// The member with this external id takes the new profile.
    Update { member: MemberId },
    /// The member with this external id has this profile already.
    Unchanged { member: MemberId },
}

impl Provision {
    /// `created`, `updated` or `unchanged`, as the answer and `rapport import` report it.
    pub fn outcome(self) -> &'static str {
        match self {
            Provision::Create => "created",
            Provision::Link { .. } | Provision::Update { .. } => "updated",
            Provision::Unchanged { .. } => "unchanged",
        }
    }
}

/// The refusal to change an administrator by provisioning: a key with `members:write` must not
/// be able to redirect an administrator's address (and so their sign-in).
pub fn administrator_refused() -> RuleError {
    RuleError::validation(
        "external_id",
        "names an administrator: provisioning does not change administrators; change them on the admin page",
    )
}

/// Decides what provisioning `want` under an external id does. The address must stay one
/// member's: another member holding it is `email_taken`, unless they have neither a password nor
/// a community id yet (they came in through the provider), when they are linked. A member who
/// signed up with a password is never taken over by provisioning (nor is an administrator):
/// whoever controls the community's list must not gain their sign-in.
pub fn plan_provision(
    f: &ProvisionFacts,
    want: &ProvisionedProfile,
) -> Result<Provision, RuleError> {
    let email_holder = f.by_email.as_ref();
    match &f.by_external_id {
        Some(known) => {
            if email_holder.is_some_and(|o| o.member != known.member) {
                return Err(RuleError::EmailTaken);
            }
            if !known.profile.differs(want) {
                return Ok(Provision::Unchanged {
                    member: known.member,
                });
            }
            if known.is_admin {
                return Err(administrator_refused());
            }
            Ok(Provision::Update {
                member: known.member,
            })
        }
        None => match email_holder {
            None => Ok(Provision::Create),
            Some(o) if o.has_external_id || o.has_password || o.is_admin => {
                Err(RuleError::EmailTaken)
            }
            Some(o) => Ok(Provision::Link {
                member: o.member,
                update: o.profile.differs(want),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(email: &str, name: &str) -> ProvisionedProfile {
        ProvisionedProfile {
            email: email.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn current(email: &str, name: &str) -> CurrentProfile {
        CurrentProfile {
            email: email.into(),
            name: name.into(),
            headline: "Written by them".into(),
            ..Default::default()
        }
    }

    fn candidate(id: i64, p: CurrentProfile, has_external_id: bool) -> ProvisionCandidate {
        ProvisionCandidate {
            member: MemberId(id),
            profile: p,
            has_external_id,
            has_password: false,
            is_admin: false,
        }
    }

    #[test]
    fn a_new_id_and_address_create_a_member() {
        let w = want("a@example.com", "Ada");
        assert_eq!(
            plan_provision(&ProvisionFacts::default(), &w),
            Ok(Provision::Create)
        );
    }

    #[test]
    fn a_known_id_is_updated_only_when_something_given_differs() {
        let w = want("a@example.com", "Ada");
        let same = ProvisionFacts {
            by_external_id: Some(candidate(7, current("a@example.com", "Ada"), true)),
            by_email: Some(candidate(7, current("a@example.com", "Ada"), true)),
        };
        // The headline they wrote is not given: kept, not a change.
        assert_eq!(
            plan_provision(&same, &w),
            Ok(Provision::Unchanged {
                member: MemberId(7)
            })
        );
        let mut cleared = w.clone();
        cleared.headline = Some(String::new());
        assert_eq!(
            plan_provision(&same, &cleared),
            Ok(Provision::Update {
                member: MemberId(7)
            })
        );
        let renamed = ProvisionFacts {
            by_external_id: Some(candidate(7, current("a@example.com", "Ada L."), true)),
            by_email: Some(candidate(7, current("a@example.com", "Ada L."), true)),
        };
        assert_eq!(
            plan_provision(&renamed, &w),
            Ok(Provision::Update {
                member: MemberId(7)
            })
        );
    }

    #[test]
    fn an_address_stays_one_members() {
        let w = want("b@example.com", "Ada");
        let moved_onto_another = ProvisionFacts {
            by_external_id: Some(candidate(7, current("a@example.com", "Ada"), true)),
            by_email: Some(candidate(8, current("b@example.com", "Bea"), false)),
        };
        assert_eq!(
            plan_provision(&moved_onto_another, &w),
            Err(RuleError::EmailTaken)
        );
        let held_by_another_community_id = ProvisionFacts {
            by_external_id: None,
            by_email: Some(candidate(8, current("b@example.com", "Bea"), true)),
        };
        assert_eq!(
            plan_provision(&held_by_another_community_id, &w),
            Err(RuleError::EmailTaken)
        );
    }

    #[test]
    fn only_a_member_without_a_password_is_linked() {
        let w = want("b@example.com", "Bea");
        let mut f = ProvisionFacts {
            by_external_id: None,
            by_email: Some(candidate(8, current("b@example.com", "Bea"), false)),
        };
        assert_eq!(
            plan_provision(&f, &w),
            Ok(Provision::Link {
                member: MemberId(8),
                update: false
            })
        );
        assert_eq!(
            plan_provision(&f, &w).map(Provision::outcome),
            Ok("updated")
        );
        if let Some(c) = f.by_email.as_mut() {
            c.has_password = true;
        }
        assert_eq!(plan_provision(&f, &w), Err(RuleError::EmailTaken));
    }

    #[test]
    fn administrators_are_not_changed_by_provisioning() {
        let w = want("new@example.com", "Root");
        let mut admin = candidate(1, current("root@example.com", "Root"), true);
        admin.is_admin = true;
        let f = ProvisionFacts {
            by_external_id: Some(admin.clone()),
            by_email: None,
        };
        assert_eq!(plan_provision(&f, &w), Err(administrator_refused()));
        let linked = ProvisionFacts {
            by_external_id: None,
            by_email: Some(ProvisionCandidate {
                has_external_id: false,
                ..admin
            }),
        };
        assert_eq!(
            plan_provision(&linked, &want("root@example.com", "Root")),
            Err(RuleError::EmailTaken)
        );
    }
}

/// What a service key may do. Keys act only within their scopes; what only administrators do
/// (keys themselves, moderation, roles) no key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read members by their community id.
    MembersRead,
    /// Provision members by their community id.
    MembersWrite,
    /// Act for a member on the member routes (`Rapport-Act-As`).
    InvitationsAct,
    /// Read the relationship of any two members.
    NetworkRead,
    /// Register, list and remove webhooks.
    WebhooksManage,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::MembersRead,
        Scope::MembersWrite,
        Scope::InvitationsAct,
        Scope::NetworkRead,
        Scope::WebhooksManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MembersRead => "members:read",
            Scope::MembersWrite => "members:write",
            Scope::InvitationsAct => "invitations:act",
            Scope::NetworkRead => "network:read",
            Scope::WebhooksManage => "webhooks:manage",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|sc| sc.as_str() == s)
    }

    /// A key's scopes as given: each known, none twice, at least one; sorted.
    pub fn parse_list<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Scope>, RuleError> {
        let mut scopes = Vec::with_capacity(raw.len());
        for s in raw {
            let s = s.as_ref();
            let scope = Scope::parse(s).ok_or_else(|| {
                RuleError::validation(
                    "scopes",
                    format!(
                        "{s:?} is not a scope; use members:read, members:write, invitations:act, network:read or webhooks:manage"
                    ),
                )
            })?;
            scopes.push(scope);
        }
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(RuleError::validation(
                "scopes",
                "give the key at least one scope",
            ));
        }
        Ok(scopes)
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn scopes_parse_strictly_and_sorted() {
        assert_eq!(
            Scope::parse_list(&["network:read", "members:read", "network:read"]),
            Ok(vec![Scope::MembersRead, Scope::NetworkRead])
        );
        assert!(Scope::parse_list(&["admin"]).is_err());
        assert!(Scope::parse_list::<&str>(&[]).is_err());
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }
}
