//! Members known by another system's id: the community's own member ids (provisioning) and the
//! subjects of its OpenID provider (sign-in). What a provisioning request does to the member it
//! names is decided here; the stores read the facts and carry it out.

use crate::{MemberId, RuleError};

/// The issuer under which the community's own member ids are kept (provisioning, `ext:` ids).
/// OpenID subjects are kept under their provider's issuer URL.
pub const COMMUNITY: &str = "";

/// The profile a provisioning request wants a member to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedProfile {
    pub email: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
}

/// A member as a provisioning request finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionCandidate {
    pub member: MemberId,
    pub profile: ProvisionedProfile,
    /// Does the member already carry a community id (this one or another)?
    pub has_external_id: bool,
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
    /// A member who signed up by themselves with this address gets the external id (and the
    /// profile, when it differs).
    Link { member: MemberId, update: bool },
    /// The member with this external id takes the new profile.
    Update { member: MemberId },
    /// The member with this external id has this profile already.
    Unchanged { member: MemberId },
}

impl Provision {
    /// The member it concerns, once it exists.
    pub fn member(self) -> Option<MemberId> {
        match self {
            Provision::Create => None,
            Provision::Link { member, .. }
            | Provision::Update { member }
            | Provision::Unchanged { member } => Some(member),
        }
    }

    /// `created`, `updated` or `unchanged`, as the answer and `rapport import` report it.
    pub fn outcome(self) -> &'static str {
        match self {
            Provision::Create => "created",
            Provision::Link { .. } | Provision::Update { .. } => "updated",
            Provision::Unchanged { .. } => "unchanged",
        }
    }
}

/// Decides what provisioning `want` under an external id does. The address must stay one
/// member's: another member holding it is `email_taken`, unless they signed up by themselves and
/// carry no community id yet, when they are linked (the community says the address is its
/// member's; their connections and invitations stay theirs).
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
            Ok(if known.profile == *want {
                Provision::Unchanged {
                    member: known.member,
                }
            } else {
                Provision::Update {
                    member: known.member,
                }
            })
        }
        None => match email_holder {
            None => Ok(Provision::Create),
            Some(o) if o.has_external_id => Err(RuleError::EmailTaken),
            Some(o) => Ok(Provision::Link {
                member: o.member,
                update: o.profile != *want,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(email: &str, name: &str) -> ProvisionedProfile {
        ProvisionedProfile {
            email: email.into(),
            name: name.into(),
            headline: String::new(),
            company: String::new(),
            location: String::new(),
        }
    }

    fn candidate(id: i64, p: ProvisionedProfile, has_external_id: bool) -> ProvisionCandidate {
        ProvisionCandidate {
            member: MemberId(id),
            profile: p,
            has_external_id,
        }
    }

    #[test]
    fn a_new_id_and_address_create_a_member() {
        let want = profile("a@example.com", "Ada");
        assert_eq!(
            plan_provision(&ProvisionFacts::default(), &want),
            Ok(Provision::Create)
        );
    }

    #[test]
    fn a_known_id_is_updated_only_when_something_differs() {
        let want = profile("a@example.com", "Ada");
        let same = ProvisionFacts {
            by_external_id: Some(candidate(7, want.clone(), true)),
            by_email: Some(candidate(7, want.clone(), true)),
        };
        assert_eq!(
            plan_provision(&same, &want),
            Ok(Provision::Unchanged {
                member: MemberId(7)
            })
        );
        let renamed = ProvisionFacts {
            by_external_id: Some(candidate(7, profile("a@example.com", "Ada L."), true)),
            by_email: Some(candidate(7, profile("a@example.com", "Ada L."), true)),
        };
        assert_eq!(
            plan_provision(&renamed, &want),
            Ok(Provision::Update {
                member: MemberId(7)
            })
        );
    }

    #[test]
    fn an_address_stays_one_members() {
        let want = profile("b@example.com", "Ada");
        let moved_onto_another = ProvisionFacts {
            by_external_id: Some(candidate(7, profile("a@example.com", "Ada"), true)),
            by_email: Some(candidate(8, profile("b@example.com", "Bea"), false)),
        };
        assert_eq!(
            plan_provision(&moved_onto_another, &want),
            Err(RuleError::EmailTaken)
        );
        let held_by_another_community_id = ProvisionFacts {
            by_external_id: None,
            by_email: Some(candidate(8, profile("b@example.com", "Bea"), true)),
        };
        assert_eq!(
            plan_provision(&held_by_another_community_id, &want),
            Err(RuleError::EmailTaken)
        );
    }

    #[test]
    fn a_member_who_signed_up_alone_is_linked() {
        let want = profile("b@example.com", "Bea");
        let f = ProvisionFacts {
            by_external_id: None,
            by_email: Some(candidate(8, want.clone(), false)),
        };
        assert_eq!(
            plan_provision(&f, &want),
            Ok(Provision::Link {
                member: MemberId(8),
                update: false
            })
        );
        assert_eq!(
            plan_provision(&f, &want).map(Provision::outcome),
            Ok("updated")
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
