//! What the store keeps and hands back: plain records, no behaviour.

use rapport_domain::{
    Email, IgnoreReason, InvitationId, InvitationState, InvitationsFrom, MemberId, Timestamp,
};

pub type TokenHash = [u8; 32];

/// A sign-in token as the store holds it (by its hash): whose it is, when it was issued, and its
/// last use as last written (which lags the real one by less than
/// `rapport_domain::token::LAST_USE_GRANULARITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRecord {
    pub member: MemberId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub id: MemberId,
    pub email: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
    pub tier: Tier,
    pub role: Role,
    pub status: AccountStatus,
    pub invitations_from: InvitationsFrom,
    pub created_at: Timestamp,
    pub notification_prefs: rapport_domain::NotificationPrefs,
}

impl MemberRecord {
    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// A member's state as stored (tier, role, status, who may invite them), decoded. The schema's
    /// CHECK constraints admit only values that decode; should one not, it is logged and read as
    /// the most cautious value (free, member, suspended, nobody) rather than failing every read of
    /// the member.
    pub fn decode_state(
        id: MemberId,
        tier: &str,
        role: &str,
        status: &str,
        invitations_from: &str,
    ) -> (Tier, Role, AccountStatus, InvitationsFrom) {
        fn or_cautious<T>(id: MemberId, what: &str, raw: &str, v: Option<T>, cautious: T) -> T {
            v.unwrap_or_else(|| {
                tracing::error!(member = %id, what, raw, "a stored member state does not decode");
                cautious
            })
        }
        (
            or_cautious(id, "tier", tier, Tier::parse(tier), Tier::Free),
            or_cautious(id, "role", role, Role::parse(role), Role::Member),
            or_cautious(
                id,
                "status",
                status,
                AccountStatus::parse(status),
                AccountStatus::Suspended,
            ),
            or_cautious(
                id,
                "invitations_from",
                invitations_from,
                InvitationsFrom::parse(invitations_from),
                InvitationsFrom::Nobody,
            ),
        )
    }
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub email: Email,
    pub password_hash: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub sender: MemberId,
    pub recipient: MemberId,
    pub note: Option<String>,
    pub state: InvitationState,
    pub ignore_reason: Option<IgnoreReason>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

impl InvitationRecord {
    /// The invitation as the rules of an action read it.
    pub fn facts(&self) -> rapport_domain::plan::InvitationFacts {
        rapport_domain::plan::InvitationFacts {
            id: self.id,
            sender: self.sender,
            recipient: self.recipient,
            state: self.state,
            created_at: self.created_at,
        }
    }
}

pub use rapport_domain::plan::{ActPolicy, SendInvitation, SendPolicy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// The other member, seen from whoever asked.
    pub member: MemberId,
    pub connected_at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum SendOutcome {
    Created(InvitationRecord),
    /// The recipient had invited the sender: that invitation is accepted and they are connected.
    Connected {
        accepted: InvitationRecord,
        connection: ConnectionRecord,
    },
}

/// The invitation after an action, and the connection when the action was an accept.
#[derive(Debug, Clone)]
pub struct Acted {
    pub invitation: InvitationRecord,
    pub connection: Option<ConnectionRecord>,
}

/// How many invitations a member sent in a window, and when the oldest of them was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct SentWindow {
    pub count: u64,
    pub oldest: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionQuery {
    /// Case-insensitive part of the other member's name.
    pub name: Option<String>,
    /// Continue after this (connected_at, member) position, newest first.
    pub after: Option<(Timestamp, MemberId)>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct ConnectionPage {
    pub items: Vec<(ConnectionRecord, std::sync::Arc<MemberRecord>)>,
    pub total: u64,
}

/// A change reported after its commit, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Connected(MemberId, MemberId),
    Disconnected(MemberId, MemberId),
    /// A member's row was written; this is what it holds now.
    MemberSaved(std::sync::Arc<MemberRecord>),
    /// Events were appended to the outbox.
    Event,
}

impl Change {
    /// `member`'s connections to `others` shown in the graph index again, or hidden from it (an
    /// account leaving or coming back to `active`).
    pub fn visibility(member: MemberId, others: &[MemberId], shown: bool) -> Vec<Change> {
        others
            .iter()
            .map(|&other| {
                if shown {
                    Change::Connected(member, other)
                } else {
                    Change::Disconnected(member, other)
                }
            })
            .collect()
    }
}

/// A response kept for `Idempotency-Key` replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
    pub created_at: Timestamp,
}

/// A member's state, as the domain types it.
pub use rapport_domain::{AccountStatus, Role, Tier};

/// A restriction on sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestrictionRecord {
    pub member: MemberId,
    pub level: u8,
    pub reason: rapport_domain::RestrictionReason,
    pub until: Timestamp,
}

/// A spam report filed by ignoring an invitation as spam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: i64,
    pub invitation: InvitationId,
    pub reporter: MemberId,
    pub reported: MemberId,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

/// What a moderator does with a report (the domain's, which decides what it does).
pub use rapport_domain::plan::Resolution;

/// An in-app notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: i64,
    pub member: MemberId,
    pub kind: rapport_domain::NotificationKind,
    pub actor: Option<MemberId>,
    pub invitation: Option<InvitationId>,
    pub created_at: Timestamp,
    pub read: bool,
}

/// One event of the transactional outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub seq: i64,
    /// `invitation.sent`, `connection.created`, … (the webhook event names), or one of the internal
    /// `invitation.reminder` and `member.unrestricted`.
    pub kind: String,
    pub invitation: Option<InvitationId>,
    /// Sender (invitation events), first member (connection events) or the member (member events).
    pub a: Option<MemberId>,
    /// Recipient (invitation events) or second member (connection events).
    pub b: Option<MemberId>,
    /// The notification the event created, and whose it is.
    pub notification: Option<(i64, MemberId)>,
    pub data: Option<String>,
    pub created_at: Timestamp,
}

/// One queued mail item: a mail of its own (`immediate`) or a line of a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailItem {
    pub id: i64,
    pub member: MemberId,
    pub kind: rapport_domain::NotificationKind,
    pub cadence: rapport_domain::EmailCadence,
    pub actor: Option<MemberId>,
    pub invitation: Option<InvitationId>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

/// A delivery to be queued for a webhook.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub webhook: i64,
    pub event_seq: i64,
    pub msg_id: String,
    pub kind: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub webhook: i64,
    pub event_seq: i64,
    pub msg_id: String,
    pub kind: String,
    pub body: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// What came of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Failed; tried again at `retry_at`.
    Retry {
        status: Option<u16>,
        error: String,
        retry_at: Timestamp,
    },
    /// Failed for the last time: the delivery is given up and the endpoint disabled.
    GiveUp {
        status: Option<u16>,
        error: String,
        disable_reason: String,
    },
}

/// One member found by a text search, with its full-text rank (lower is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    pub member: MemberId,
    pub rank: f64,
    /// Every word of the query matched the name.
    pub in_name: bool,
}

/// A service key to create: its secret is kept only as `hash`.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<rapport_domain::identity::Scope>,
    pub hash: TokenHash,
    pub at: Timestamp,
}

/// A service key as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<rapport_domain::identity::Scope>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl KeyRecord {
    /// Scopes as stored: space-separated names.
    pub fn scopes_text(scopes: &[rapport_domain::identity::Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Scopes as read back; a name no longer known is dropped (a key never gains by it).
    pub fn scopes_from_text(text: &str) -> Vec<rapport_domain::identity::Scope> {
        text.split_whitespace()
            .filter_map(rapport_domain::identity::Scope::parse)
            .collect()
    }
}
