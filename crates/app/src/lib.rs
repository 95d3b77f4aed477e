//! Rapport's use cases, one method of [`App`] each. Every entry point (HTTP API, web pages, CLI,
//! background jobs) goes through here: it parses what came in into domain values, lets the store
//! run the rule inside one transaction, and builds the answer for the member who asked.
//!
//! The use cases live in one file per area (`accounts`, `invitations`, `connections`, `network`,
//! `moderation`, `notifications`, `webhooks`), each an `impl App` block; `open` is the composition
//! root and `workers` the background work.

mod accounts;
pub mod auth;
pub mod config;
mod connections;
pub mod cursor;
mod hashing;
mod idempotency;
mod invitations;
pub mod keys;
mod live;
mod login_limit;
mod mail;
mod moderation;
mod network;
pub mod notifications;
pub mod oidc;
mod open;
pub mod outbound;
mod provisioning;
pub mod redact;
pub mod signing;
mod signup;
mod stats;
pub mod views;
pub mod webhooks;
mod workers;

pub use accounts::{ProfileInput, SeedMember};
pub use config::{Config, ConfigError, Database, RawConfig, SignupConfirmation, WithdrawalNotice};
pub use idempotency::IDEMPOTENCY_WINDOW;
pub use invitations::SendInput;
pub use live::{LiveEvent, Subscription};
pub use moderation::AdminUpdate;
pub use network::GraphCheck;
pub use open::load_graph;
pub use provisioning::{PairRelationship, ProvisionInput, Provisioned, ProvisionedMember};
/// Wraps a member's request: its writes may be refused as `WritesQueued` when the embedded store's
/// writer is behind its budget; other work waits its turn.
pub use rapport_store::sqlite::refusable as refusable_writes;
pub use signup::{SignedUp, SignupInput, SIGNUP_LINK_LIFETIME};
pub use workers::Swept;

use auth::TokenCache;
use rapport_domain::{Clock, MemberId, Party, ProfileField, RuleError, Timestamp};
use rapport_graph::Graph;
use rapport_store::{InvitationRecord, MemberRecord, Store, StoreError};
use std::sync::Arc;
use views::MemberSummary;

/// Why a use case did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("sign in first")]
    Unauthenticated,
    /// Too many attempts; `retry_after` is in whole seconds from now.
    #[error("too many attempts; try again later")]
    RateLimited {
        retry_at: Timestamp,
        retry_after: u64,
    },
    /// Too much work queued (password hashing): try again in a moment.
    #[error("the server is busy; try again in a moment")]
    Overloaded { retry_at: Timestamp },
    /// The store has more writes queued than it can run within its budget: try again in a moment.
    #[error("the server is busy: {0}")]
    WritesQueued(String),
    /// Not allowed for this member's role.
    #[error("you are not allowed to do that")]
    Forbidden,
    /// A service key without the scope this needs (named).
    #[error("this key lacks the scope {0}")]
    InsufficientScope(&'static str),
    /// Not allowed, for the reason given (a sentence for the caller).
    #[error("{0}")]
    Refused(String),
    /// The database cannot be reached for now (down, restarting, failing over): try again in a
    /// moment.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The database has no room for this write; reads go on, and writes succeed again once the
    /// operator frees space.
    #[error("the database is full: {0}")]
    StorageFull(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => AppError::Rule(r),
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::StorageFull(m) => AppError::StorageFull(m),
            StoreError::Overloaded(m) => AppError::WritesQueued(m),
            StoreError::Internal(m) => AppError::Internal(m),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// A list request: at most `limit` items after `cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl PageRequest {
    /// 20 by default, never more than 100.
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(20).clamp(1, 100)
    }
}

/// Every use case, one method each; cheap to clone (one shared [`Inner`]).
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

/// What an [`App`] is made of (see `open`, the composition root).
struct Inner {
    store: Arc<dyn Store>,
    graph: Arc<Graph>,
    clock: Arc<dyn Clock>,
    config: Config,
    tokens: TokenCache,
    /// Held shared by each write of a token's last use while it is in flight (see
    /// `App::settle_recorded_uses`).
    recording_uses: Arc<tokio::sync::RwLock<()>>,
    logins: login_limit::LoginLimiter,
    signups: login_limit::SignupLimiter,
    /// At most one password hash per core at a time.
    hashing: hashing::HashGate,
    /// A real argon2id hash, checked when the email is unknown so that login takes the same time.
    dummy_hash: String,
    /// This process's live streams.
    hub: Arc<live::Hub>,
    mail: mail::Transport,
    /// For webhook deliveries.
    http: reqwest::Client,
    /// Signs CSRF tokens and unsubscribe links under the server's secret.
    signer: signing::Signer,
    /// The OpenID providers members sign in with.
    oidc: Vec<oidc::Provider>,
    /// For the providers: no redirects followed (a provider's redirect is not followed blindly).
    oidc_http: reqwest::Client,
    /// Does this replica hold the lease on background work (always, on the embedded store)?
    leads: std::sync::atomic::AtomicBool,
    /// Who this replica is, in the leases table.
    replica: String,
}

fn node(id: MemberId) -> rapport_graph::Node {
    id.0 as rapport_graph::Node
}

fn member_id(n: rapport_graph::Node) -> MemberId {
    MemberId(i64::from(n))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

impl App {
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// What the server signs CSRF tokens and unsubscribe links with.
    pub fn signer(&self) -> &signing::Signer {
        &self.inner.signer
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn graph(&self) -> &Graph {
        &self.inner.graph
    }

    /// Is the store answering?
    pub async fn ready(&self) -> AppResult<()> {
        Ok(self.store().ping().await?)
    }
}

fn party_of(inv: &InvitationRecord, viewer: MemberId) -> Option<Party> {
    if inv.sender == viewer {
        Some(Party::Sender)
    } else if inv.recipient == viewer {
        Some(Party::Recipient)
    } else {
        None
    }
}

fn summary(m: &MemberRecord) -> MemberSummary {
    MemberSummary {
        id: m.id.to_string(),
        name: m.name.clone(),
        headline: m.headline.clone(),
        company: m.company.clone(),
    }
}

fn optional_field(field: &'static str, raw: Option<&str>, max: usize) -> AppResult<Option<String>> {
    Ok(raw
        .map(|r| ProfileField::parse(field, r, max, false))
        .transpose()?
        .map(ProfileField::into_string))
}
