//! The objects of the API contract (API.md "Objects"), built for one viewer: what that member may
//! see, and nothing else.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct MemberSummary {
    pub id: String,
    pub name: String,
    pub headline: String,
    pub company: String,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Relationship {
    /// `self`, `none`, `invitation_sent`, `invitation_received` or `connected`.
    #[schema(example = "none")]
    pub state: &'static str,
    /// 1, 2, 3, or null when out of network (and for oneself).
    pub degree: Option<u8>,
    pub mutual_connections: u32,
    /// The pending invitation between the two, when there is one.
    pub invitation_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
    pub relationship: Relationship,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Quota {
    pub weekly_limit: u32,
    pub used: u32,
    pub remaining: u32,
    /// When the next invitation becomes possible, if the limit is reached now.
    pub next_available_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Restriction {
    pub reason: String,
    pub until: String,
    pub level: u8,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Settings {
    /// `everyone`, `second_degree`, `email_required` or `nobody`.
    pub invitations_from: String,
    /// Per notification kind: in-app on or off, and email off, at once or in a digest.
    pub notifications: std::collections::BTreeMap<&'static str, ChannelSettings>,
}

/// The signed-in member, with what only they may see.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
    pub relationship: Relationship,
    pub email: String,
    /// `free` or `premium`.
    pub tier: String,
    /// `member` or `admin`.
    pub role: String,
    pub status: String,
    pub settings: Settings,
    pub quota: Quota,
    pub restriction: Option<Restriction>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub sender: MemberSummary,
    pub recipient: MemberSummary,
    pub note: Option<String>,
    /// What this party may know: the sender reads `pending`, `accepted`, `withdrawn` or `closed`;
    /// the recipient reads `pending`, `accepted` or `ignored`.
    #[schema(example = "pending")]
    pub state: &'static str,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub mutual_connections: u32,
    /// Up to three of the mutual connections.
    pub mutual_preview: Vec<MemberSummary>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Connection {
    pub member: MemberSummary,
    pub connected_at: String,
}

/// One page of a list. `next_cursor` continues it; `total` is there where it is cheap.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Count {
    pub count: u64,
}

/// What sending an invitation did.
#[derive(Debug, Clone)]
pub enum Sent {
    Invitation(Box<Invitation>),
    /// The recipient had already invited the sender: they are now connected.
    Connected(Connection),
}

/// One week of a member's invitation history (weeks start on Monday, UTC).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct WeekStats {
    pub week_start: String,
    pub sent: u32,
    pub accepted: u32,
    /// Ignored, expired or cancelled: never told apart.
    pub closed: u32,
    pub withdrawn: u32,
}

/// A member's own invitation history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stats {
    /// Every invitation sent, whatever became of it.
    pub sent: u32,
    pub accepted: u32,
    pub closed: u32,
    pub withdrawn: u32,
    pub pending: u32,
    /// Accepted out of those decided (accepted or closed); null before any was decided.
    pub acceptance_rate: Option<f64>,
    /// The last twelve weeks, oldest first.
    pub weeks: Vec<WeekStats>,
}

/// Everything Rapport keeps about a member, for them to download.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Export {
    pub exported_at: String,
    pub profile: Me,
    pub invitations_sent: Vec<Invitation>,
    pub invitations_received: Vec<Invitation>,
    pub connections: Vec<Connection>,
    pub blocks: Vec<MemberSummary>,
}

/// An open spam report, for moderators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub id: String,
    pub invitation_id: String,
    pub reporter: MemberSummary,
    pub reported: MemberSummary,
    /// The note of the reported invitation.
    pub note: Option<String>,
    pub created_at: String,
}

/// One kind's channels, as a member sets them.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ChannelSettings {
    pub in_app: bool,
    /// `off`, `immediate`, `daily` or `weekly`.
    #[schema(example = "immediate")]
    pub email: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    /// `invitation_received`, `invitation_accepted`, `invitation_reminder`,
    /// `invitation_withdrawn`, `restriction_applied` or `restriction_lifted`.
    #[schema(example = "invitation_received")]
    pub kind: &'static str,
    pub created_at: String,
    pub read: bool,
    pub actor: Option<MemberSummary>,
    pub invitation_id: Option<String>,
}

/// A page of notifications and how many are unread.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
    pub unread: u64,
}
