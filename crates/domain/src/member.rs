//! A member's state as types: their tier, their role and where their account stands. Stores decode
//! these where rows are read; nothing above the store compares them as strings.

/// Which weekly invitation limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    #[default]
    Free,
    Premium,
}

impl Tier {
    /// Every value, in the order the API documents them.
    pub const ALL: [Tier; 2] = [Self::Free, Self::Premium];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Premium => "premium",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "free" => Self::Free,
            "premium" => Self::Premium,
            _ => return None,
        })
    }
}

/// What a member may do beyond their own network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Member,
    /// Moderates reports, restricts and suspends members, manages webhooks.
    Admin,
}

impl Role {
    /// Every value, in the order the API documents them.
    pub const ALL: [Role; 2] = [Self::Member, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "member" => Self::Member,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

/// Where an account stands. Only an active member is in the graph, visible and able to act; a
/// deactivated one comes back by signing in; a suspended one by an administrator; a closed
/// account is gone for good (its row stays, emptied, so ids are never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountStatus {
    #[default]
    Active,
    Deactivated,
    Suspended,
    Closed,
}

impl AccountStatus {
    /// Every value, in the order the API documents them.
    pub const ALL: [AccountStatus; 4] = [
        Self::Active,
        Self::Deactivated,
        Self::Suspended,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "deactivated" => Self::Deactivated,
            "suspended" => Self::Suspended,
            "closed" => Self::Closed,
            _ => return None,
        })
    }

    pub fn is_active(self) -> bool {
        self == Self::Active
    }

    pub fn is_closed(self) -> bool {
        self == Self::Closed
    }

    /// May the member sign in (a deactivated member signing in comes back)?
    pub fn may_sign_in(self) -> bool {
        matches!(self, Self::Active | Self::Deactivated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_it_was_written() {
        for t in [Tier::Free, Tier::Premium] {
            assert_eq!(Tier::parse(t.as_str()), Some(t));
        }
        for r in [Role::Member, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for s in [
            AccountStatus::Active,
            AccountStatus::Deactivated,
            AccountStatus::Suspended,
            AccountStatus::Closed,
        ] {
            assert_eq!(AccountStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Tier::parse("gold"), None);
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(AccountStatus::parse(""), None);
    }
}
