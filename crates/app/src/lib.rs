//! Rapport's use cases, one method of [`App`] each. Every entry point (HTTP API, web pages, CLI,
//! background jobs) goes through here: it parses what came in into domain values, lets the store
//! run the rule inside one transaction, and builds the answer for the member who asked.

pub mod auth;
pub mod config;
pub mod cursor;
mod live;
mod login_limit;
mod mail;
mod network;
pub mod notifications;
mod stats;
pub mod views;
pub mod webhooks;

pub use config::{Config, ConfigError, Database, RawConfig, WithdrawalNotice};
pub use live::{LiveEvent, Subscription};
pub use network::GraphCheck;

use auth::TokenCache;
use rapport_domain::{
    Action, Clock, Email, IgnoreReason, InvitationId, InvitationsFrom, MemberId, Note, Party,
    Password, ProfileField, RuleError, SeenState, Timestamp,
};
use rapport_graph::Graph;
use rapport_store::postgres::PgStore;
use rapport_store::sqlite::SqliteStore;
use rapport_store::{
    AccountStatus, ActPolicy, Change, CommitHook, ConnectionQuery, InvitationRecord, MemberRecord,
    NewMember, ProfilePatch, Resolution, SendInvitation, SendOutcome, SendPolicy, Store,
    StoreError, StoredResponse,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use views::*;

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
    /// Not allowed for this member's role.
    #[error("you are not allowed to do that")]
    Forbidden,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => AppError::Rule(r),
            StoreError::Internal(m) => AppError::Internal(m),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// How long an `Idempotency-Key` replays its first answer.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(86_400);

/// What a member gives at signup.
#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: String,
    pub password: String,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

/// What an admin may change about a member.
#[derive(Debug, Clone, Default)]
pub struct AdminUpdate {
    pub tier: Option<String>,
    pub role: Option<String>,
    pub suspended: Option<bool>,
}

/// A member made by a seeding tool rather than by a person signing up.
#[derive(Debug, Clone, Default)]
pub struct SeedMember {
    pub email: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
}

#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: Option<String>,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SendInput {
    pub recipient_id: String,
    pub note: Option<String>,
    pub recipient_email: Option<String>,
}

/// Waits until `stop` turns true (or nobody is left to turn it).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}

/// Sleeps for `d` between two passes of a worker; `false` when the process is stopping instead.
async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = stopped(stop) => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// What one pass of the sweeper did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub expired: u64,
    pub reminded: u64,
    pub restrictions_ended: u64,
}

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

#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    graph: Arc<Graph>,
    clock: Arc<dyn Clock>,
    config: Config,
    tokens: TokenCache,
    logins: login_limit::LoginLimiter,
    /// A real argon2id hash, checked when the email is unknown so that login takes the same time.
    dummy_hash: String,
    /// This process's live streams.
    hub: Arc<live::Hub>,
    mail: mail::Transport,
    /// For webhook deliveries.
    http: reqwest::Client,
    /// Does this replica hold the lease on background work (always, on the embedded store)?
    leads: std::sync::atomic::AtomicBool,
    /// Who this replica is, in the leases table.
    replica: String,
}

/// The lease on the background work that runs once across replicas (sweeps, mail, webhooks).
const WORK_LEASE: &str = "background-work";
/// How long the lease lasts unless renewed: how soon another replica takes over from one that died.
const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews it.
const LEASE_RENEW: Duration = Duration::from_secs(3);

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

/// Builds the graph index from every connection between active members of `store`, as `serve`
/// does at start.
pub async fn load_graph(store: &dyn Store) -> AppResult<Graph> {
    let mut builder = rapport_graph::Builder::new();
    store
        .scan_connections(&mut |a, b| builder.push(node(a), node(b)))
        .await?;
    Ok(builder.finish())
}

impl App {
    /// Opens the configured store, loads the graph index from it and returns a ready app.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> AppResult<App> {
        let graph = Arc::new(Graph::new());
        let hub = Arc::new(live::Hub::default());
        let hook_graph = graph.clone();
        let hook_hub = hub.clone();
        let hook: CommitHook = Arc::new(move |changes: &[Change]| {
            for change in changes {
                match *change {
                    Change::Connected(a, b) => hook_graph.connect(node(a), node(b)),
                    Change::Disconnected(a, b) => hook_graph.disconnect(node(a), node(b)),
                    Change::Event => hook_hub.wake.notify_one(),
                    Change::MemberSaved(_) => {}
                }
            }
        });
        let mail = mail::Transport::from_config(&config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let store: Arc<dyn Store> = match &config.database {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(path, hook)?),
            Database::Postgres(url) => {
                Arc::new(PgStore::open(url, config.database_read_url.as_deref(), hook).await?)
            }
        };
        let shared = store.shared();
        let started = std::time::Instant::now();
        graph.replace_with(load_graph(store.as_ref()).await?);
        tracing::info!(
            edges = graph.edge_count(),
            ms = started.elapsed().as_millis() as u64,
            bytes = graph.memory_bytes() as u64,
            "graph index loaded"
        );
        let dummy_hash = blocking(|| auth::hash_password("a password nobody has"))
            .await?
            .map_err(AppError::Internal)?;
        Ok(App {
            inner: Arc::new(Inner {
                store,
                graph,
                clock,
                config,
                // Over a shared store, trusted once it hears the other replicas' revocations.
                tokens: TokenCache::new(!shared),
                logins: login_limit::LoginLimiter::default(),
                dummy_hash,
                hub,
                mail,
                http,
                leads: std::sync::atomic::AtomicBool::new(!shared),
                replica: replica_name(),
            }),
        })
    }

    /// Does this replica run the background work that must run once (see [`App::run_workers`])?
    pub(crate) fn leads(&self) -> bool {
        self.inner.leads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes and renews the background-work lease until `stop`, then gives it up, so that exactly
    /// one replica sweeps, mails and delivers webhooks, and another takes over within
    /// [`LEASE_TTL`] when it dies.
    async fn run_lease(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self.store().shared() {
            return;
        }
        let set = |on: bool| {
            let was = self
                .inner
                .leads
                .swap(on, std::sync::atomic::Ordering::SeqCst);
            if was != on {
                tracing::info!(replica = %self.inner.replica, leads = on, "background work lease");
                metrics::gauge!("rapport_background_lease").set(if on { 1.0 } else { 0.0 });
            }
        };
        loop {
            match self
                .store()
                .lease(WORK_LEASE, &self.inner.replica, LEASE_TTL)
                .await
            {
                Ok(held) => set(held),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the background work lease");
                    set(false);
                }
            }
            if !pause(&mut stop, LEASE_RENEW).await {
                break;
            }
        }
        set(false);
        if let Err(e) = self.store().release(WORK_LEASE, &self.inner.replica).await {
            tracing::warn!(error = %e, "could not give the background work lease up");
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
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

    // ----- accounts -------------------------------------------------------------------------

    pub async fn signup(&self, input: SignupInput) -> AppResult<(Me, String)> {
        let email = Email::parse(&input.email)?;
        let password = Password::parse(&input.password)?;
        let name = ProfileField::name(&input.name)?.into_string();
        let headline =
            optional_field("headline", input.headline.as_deref(), 200)?.unwrap_or_default();
        let company = optional_field("company", input.company.as_deref(), 100)?.unwrap_or_default();
        let location =
            optional_field("location", input.location.as_deref(), 100)?.unwrap_or_default();
        let password_hash = blocking(move || auth::hash_password(password.expose()))
            .await?
            .map_err(AppError::Internal)?;
        let record = self
            .store()
            .create_member(NewMember {
                email,
                password_hash,
                name,
                headline,
                company,
                location,
                at: self.now(),
            })
            .await?;
        let token = self.issue_token(record.id).await?;
        tracing::info!(member = %record.id, "member signed up");
        Ok((self.me_view(record).await?, token))
    }

    /// Creates members who all share `password` (hashed once) and signs each in, for seeding a
    /// network and for benchmarks. Runs many creates at once so the writer folds them into few
    /// commits. Returns each member's id and token, in input order.
    pub async fn seed_members(
        &self,
        members: Vec<SeedMember>,
        password: &str,
    ) -> AppResult<Vec<(MemberId, String)>> {
        let password = Password::parse(password)?;
        let password_hash = blocking(move || auth::hash_password(password.expose()))
            .await?
            .map_err(AppError::Internal)?;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, m) in members.into_iter().enumerate() {
            let (app, password_hash) = (self.clone(), password_hash.clone());
            tasks.spawn(async move {
                let record = app
                    .store()
                    .create_member(NewMember {
                        email: Email::parse(&m.email)?,
                        password_hash,
                        name: ProfileField::name(&m.name)?.into_string(),
                        headline: m.headline.clone(),
                        company: m.company.clone(),
                        location: m.location.clone(),
                        at: app.now(),
                    })
                    .await?;
                let token = app.issue_token(record.id).await?;
                Ok::<_, AppError>((i, record.id, token))
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            out.push(joined.map_err(|e| AppError::Internal(e.to_string()))??);
        }
        out.sort_by_key(|(i, _, _)| *i);
        Ok(out.into_iter().map(|(_, id, token)| (id, token)).collect())
    }

    /// Connects each pair of members, for seeding a network; returns how many connections were new.
    /// Large lists are written in chunks so that no single transaction holds the writer for long.
    pub async fn seed_connections(&self, pairs: Vec<(MemberId, MemberId)>) -> AppResult<u64> {
        let mut added = 0;
        for chunk in pairs.chunks(5_000) {
            added += self
                .store()
                .seed_connections(chunk.to_vec(), self.now())
                .await?;
        }
        Ok(added)
    }

    /// Signs in. An unknown email and a wrong password get the same answer after the same work.
    pub async fn login(&self, email: &str, password: &str) -> AppResult<(Me, String)> {
        let now = self.now();
        let key = email.trim().to_lowercase();
        self.password_attempts_allowed(&key, now)?;
        let found = match Email::parse(email) {
            Ok(e) => self.store().login_lookup(&e).await?,
            Err(_) => None,
        };
        let hash = found
            .as_ref()
            .map_or_else(|| self.inner.dummy_hash.clone(), |(_, h)| h.clone());
        let password = password.to_owned();
        let matches = blocking(move || auth::verify_password(&password, &hash)).await?;
        let member = match found {
            Some((id, _)) if matches => self.store().member(id).await?,
            _ => None,
        };
        let Some(member) = member.filter(|m| m.status == "active" || m.status == "deactivated")
        else {
            self.inner.logins.failed(&key, now);
            return Err(RuleError::InvalidCredentials.into());
        };
        self.inner.logins.succeeded(&key);
        // Signing in brings a deactivated account back, connections and all.
        let member = if member.status == "deactivated" {
            tracing::info!(member = %member.id, "account reactivated");
            self.store()
                .set_status(member.id, AccountStatus::Active, now)
                .await?
        } else {
            member
        };
        let token = self.issue_token(member.id).await?;
        Ok((self.me_view(member).await?, token))
    }

    async fn issue_token(&self, member: MemberId) -> AppResult<String> {
        let token = auth::new_token();
        let hash = auth::token_hash(&token);
        self.store().insert_token(hash, member, self.now()).await?;
        self.inner.tokens.put(hash, member);
        Ok(token)
    }

    pub async fn logout(&self, token: &str) -> AppResult<()> {
        // The store first: a lookup that read the token before it went cannot be cached after.
        let hash = auth::token_hash(token);
        self.store().delete_token(hash, self.now()).await?;
        self.inner.tokens.forget(&hash);
        Ok(())
    }

    /// The member a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> AppResult<MemberId> {
        if token.len() > 200 {
            return Err(AppError::Unauthenticated);
        }
        let hash = auth::token_hash(token);
        if let Some(id) = self.inner.tokens.get(&hash) {
            metrics::counter!("rapport_token_lookups_total", "from" => "cache").increment(1);
            return Ok(id);
        }
        metrics::counter!("rapport_token_lookups_total", "from" => "store").increment(1);
        let epoch = self.inner.tokens.epoch();
        let id = self
            .store()
            .token_member(hash)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.inner.tokens.put_unless_revoked(hash, id, epoch);
        Ok(id)
    }

    pub async fn me(&self, id: MemberId) -> AppResult<Me> {
        let record = self
            .store()
            .member(id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.me_view(record).await
    }

    /// Changes the member's settings: who may invite them, and how they are notified. Every part
    /// is checked before anything is written.
    pub async fn update_settings(
        &self,
        id: MemberId,
        invitations_from: Option<&str>,
        notifications: Option<&std::collections::BTreeMap<String, notifications::ChannelsInput>>,
    ) -> AppResult<Me> {
        let from = invitations_from
            .map(|raw| {
                InvitationsFrom::parse(raw).ok_or_else(|| {
                    RuleError::validation(
                        "invitations_from",
                        "must be everyone, second_degree, email_required or nobody",
                    )
                })
            })
            .transpose()?;
        let prefs = match notifications {
            Some(changes) => {
                let current = self
                    .store()
                    .member(id)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                Some(notifications::apply_changes(
                    current.notification_prefs,
                    changes,
                )?)
            }
            None => None,
        };
        if let Some(from) = from {
            self.store().set_invitations_from(id, from).await?;
        }
        if let Some(prefs) = prefs {
            self.store().set_notification_prefs(id, prefs).await?;
        }
        self.me(id).await
    }

    fn act_policy(&self) -> ActPolicy {
        ActPolicy {
            max_connections: self.inner.config.max_connections,
            reinvite_cooldown: self.inner.config.reinvite_cooldown,
            withdrawal_notice: self.inner.config.withdrawal_notice,
        }
    }

    pub async fn update_me(&self, id: MemberId, input: ProfileInput) -> AppResult<Me> {
        let patch = ProfilePatch {
            name: input
                .name
                .as_deref()
                .map(ProfileField::name)
                .transpose()?
                .map(ProfileField::into_string),
            headline: optional_field("headline", input.headline.as_deref(), 200)?,
            company: optional_field("company", input.company.as_deref(), 100)?,
            location: optional_field("location", input.location.as_deref(), 100)?,
        };
        let record = self.store().update_profile(id, patch).await?;
        self.me_view(record).await
    }

    /// The configured limits a send is checked against.
    fn send_policy(&self) -> SendPolicy {
        let c = &self.inner.config;
        SendPolicy {
            weekly_free: c.weekly_invitation_limit,
            weekly_premium: c.premium_weekly_invitation_limit,
            outstanding: c.outstanding_limit,
            max_connections: c.max_connections,
            first_reminder: c.reminders.first().copied(),
        }
    }

    async fn me_view(&self, m: Arc<MemberRecord>) -> AppResult<Me> {
        let now = self.now();
        // The quota as the send rule counts it (rapport_domain::send).
        let limit = self.send_policy().weekly_limit(m.tier == "premium");
        let window = self
            .store()
            .sent_since(m.id, now.minus(rapport_domain::send::WEEK), limit)
            .await?;
        let used = window.count.min(u64::from(u32::MAX)) as u32;
        let next_available_at = window
            .oldest
            .and_then(|oldest| rapport_domain::send::next_send_at(limit, used, Some(oldest), now))
            .map(Timestamp::to_rfc3339);
        Ok(Me {
            id: m.id.to_string(),
            relationship: Relationship {
                state: "self",
                degree: None,
                mutual_connections: 0,
                invitation_id: None,
            },
            email: m.email.clone(),
            tier: m.tier.clone(),
            role: m.role.clone(),
            status: m.status.clone(),
            settings: Settings {
                invitations_from: m.invitations_from.clone(),
                notifications: notifications::settings_view(&m.notification_prefs),
            },
            quota: Quota {
                weekly_limit: limit,
                used,
                remaining: limit.saturating_sub(used),
                next_available_at,
            },
            restriction: self
                .store()
                .active_restriction(m.id, now)
                .await?
                .map(|r| Restriction {
                    reason: r.reason.explain().to_owned(),
                    until: r.until.to_rfc3339(),
                    level: r.level,
                }),
            created_at: m.created_at.to_rfc3339(),
            name: m.name.clone(),
            headline: m.headline.clone(),
            company: m.company.clone(),
            location: m.location.clone(),
        })
    }

    // ----- invitations ------------------------------------------------------------------------

    pub async fn send_invitation(&self, sender: MemberId, input: SendInput) -> AppResult<Sent> {
        let note = match input.note.as_deref() {
            Some(raw) => Note::parse(raw, self.inner.config.note_max_chars)?,
            None => None,
        };
        if input.recipient_id.trim() == sender.to_string() {
            return Err(RuleError::SelfInvitation.into());
        }
        // A malformed address is simply not the recipient's: it gets the answer a wrong or missing
        // one gets, so the reply never tells whether an address belongs to someone.
        let recipient_email = input
            .recipient_email
            .as_deref()
            .and_then(|raw| Email::parse(raw).ok());
        let recipient: MemberId = input
            .recipient_id
            .trim()
            .parse()
            .map_err(|_| RuleError::NotFound)?;
        let outcome = self
            .store()
            .send_invitation(SendInvitation {
                sender,
                recipient,
                note,
                recipient_email,
                shares_connection: self.graph().mutual_count(node(sender), node(recipient)) > 0,
                policy: self.send_policy(),
                at: self.now(),
            })
            .await?;
        match outcome {
            SendOutcome::Created(inv) => {
                tracing::info!(invitation = %inv.id, "invitation sent");
                let mut views = self.invitation_views(sender, vec![inv]).await?;
                views
                    .pop()
                    .map(|v| Sent::Invitation(Box::new(v)))
                    .ok_or_else(|| AppError::Internal("view".into()))
            }
            SendOutcome::Connected {
                accepted,
                connection,
            } => {
                tracing::info!(invitation = %accepted.id, "mutual invitations connected");
                Ok(Sent::Connected(
                    self.connection_view(connection.member, connection.connected_at)
                        .await?,
                ))
            }
        }
    }

    /// One invitation, as the party who asks may see it.
    pub async fn invitation(&self, viewer: MemberId, id: &str) -> AppResult<Invitation> {
        let id: InvitationId = id.parse().map_err(|_| RuleError::NotFound)?;
        let inv = self
            .store()
            .invitation(id)
            .await?
            .ok_or(RuleError::NotFound)?;
        if !self.sees(viewer, &inv).await? {
            return Err(RuleError::NotFound.into());
        }
        let mut views = self.invitation_views(viewer, vec![inv]).await?;
        views.pop().ok_or_else(|| RuleError::NotFound.into())
    }

    /// Whether `viewer` may see `inv`: they are a party to it, its state is one that party may
    /// know, and the other party is visible to them (not blocked either way, not deactivated,
    /// suspended or closed).
    async fn sees(&self, viewer: MemberId, inv: &InvitationRecord) -> AppResult<bool> {
        if party_of(inv, viewer)
            .and_then(|p| inv.state.seen_by(p))
            .is_none()
        {
            return Ok(false);
        }
        let other = if inv.sender == viewer {
            inv.recipient
        } else {
            inv.sender
        };
        match self.visible_member(viewer, other).await {
            Ok(_) => Ok(true),
            Err(AppError::Rule(RuleError::NotFound)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn accept(&self, viewer: MemberId, id: &str) -> AppResult<Connection> {
        let acted = self.act(viewer, id, Action::Accept).await?;
        let c = acted
            .connection
            .ok_or_else(|| AppError::Internal("accept made no connection".into()))?;
        tracing::info!(invitation = %acted.invitation.id, "invitation accepted");
        self.connection_view(c.member, c.connected_at).await
    }

    pub async fn ignore(
        &self,
        viewer: MemberId,
        id: &str,
        reason: Option<IgnoreReason>,
    ) -> AppResult<()> {
        let acted = self.act(viewer, id, Action::Ignore(reason)).await?;
        tracing::info!(invitation = %acted.invitation.id, "invitation ignored");
        Ok(())
    }

    pub async fn withdraw(&self, viewer: MemberId, id: &str) -> AppResult<()> {
        let acted = self.act(viewer, id, Action::Withdraw).await?;
        tracing::info!(invitation = %acted.invitation.id, "invitation withdrawn");
        Ok(())
    }

    async fn act(
        &self,
        viewer: MemberId,
        id: &str,
        action: Action,
    ) -> AppResult<rapport_store::Acted> {
        let id: InvitationId = id.parse().map_err(|_| RuleError::NotFound)?;
        match self
            .store()
            .act(id, viewer, action, self.act_policy(), self.now())
            .await
        {
            // 404 comes before 409: an invitation the viewer cannot see (its other party is now
            // hidden from them) is not found, whatever its state, as reading it is.
            Err(StoreError::Rule(refusal)) if refusal != RuleError::NotFound => {
                let visible = match self.store().invitation(id).await? {
                    Some(inv) => self.sees(viewer, &inv).await?,
                    None => false,
                };
                Err(if visible {
                    refusal
                } else {
                    RuleError::NotFound
                }
                .into())
            }
            acted => Ok(acted?),
        }
    }

    pub async fn received(
        &self,
        viewer: MemberId,
        page: PageRequest,
    ) -> AppResult<Page<Invitation>> {
        let before = cursor::before(page.cursor.as_deref())?.map(InvitationId);
        let limit = page.limit();
        let records = self.store().received(viewer, before, limit).await?;
        self.invitation_page(viewer, records, limit).await
    }

    /// How many pending invitations `viewer` received, counting at most `up_to`: the badge of
    /// the pages, without building the invitations' views.
    pub async fn pending_received_count(&self, viewer: MemberId, up_to: u32) -> AppResult<usize> {
        Ok(self.store().received(viewer, None, up_to).await?.len())
    }

    pub async fn sent(
        &self,
        viewer: MemberId,
        older_than: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Page<Invitation>> {
        let created_by = older_than.map(|o| self.cutoff(o)).transpose()?;
        let before = cursor::before(page.cursor.as_deref())?.map(InvitationId);
        let limit = page.limit();
        let records = self.store().sent(viewer, created_by, before, limit).await?;
        self.invitation_page(viewer, records, limit).await
    }

    /// Withdraws every pending invitation older than `older_than` (or, with `dry_run`, counts them).
    pub async fn bulk_withdraw(
        &self,
        viewer: MemberId,
        older_than: &str,
        dry_run: bool,
    ) -> AppResult<Count> {
        let created_by = self.cutoff(older_than)?;
        let count = self
            .store()
            .withdraw_older(viewer, created_by, dry_run, self.act_policy(), self.now())
            .await?;
        if !dry_run {
            tracing::info!(count, "bulk withdrawal");
        }
        Ok(Count { count })
    }

    fn cutoff(&self, older_than: &str) -> AppResult<Timestamp> {
        let d = rapport_domain::clock::parse_duration(older_than)
            .map_err(|m| RuleError::validation("older_than", m))?;
        Ok(self.now().minus(d))
    }

    async fn invitation_page(
        &self,
        viewer: MemberId,
        records: Vec<InvitationRecord>,
        limit: u32,
    ) -> AppResult<Page<Invitation>> {
        let next_cursor = cursor::after(&records, limit, |r| r.id.0);
        let items = self.invitation_views(viewer, records).await?;
        Ok(Page {
            items,
            next_cursor,
            total: None,
        })
    }

    /// Builds the views of several invitations with one look-up of every member they name.
    async fn invitation_views(
        &self,
        viewer: MemberId,
        records: Vec<InvitationRecord>,
    ) -> AppResult<Vec<Invitation>> {
        let hidden = self.hidden(viewer).await?;
        // Mutual connections are the same from either side: ask them from the viewer's.
        let others: Vec<MemberId> = records
            .iter()
            .map(|r| {
                if r.sender == viewer {
                    r.recipient
                } else {
                    r.sender
                }
            })
            .collect();
        let mutuals = self.mutual_page(&hidden, viewer, &others, 3);
        let mut wanted: Vec<MemberId> = records
            .iter()
            .flat_map(|r| [r.sender, r.recipient])
            .collect();
        wanted.extend(mutuals.iter().flat_map(|(_, p)| p));
        wanted.sort_unstable();
        wanted.dedup();
        let members: HashMap<MemberId, Arc<MemberRecord>> = self
            .store()
            .members(&wanted)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut out = Vec::with_capacity(records.len());
        for (r, (mutual_connections, preview)) in records.into_iter().zip(mutuals) {
            let (Some(sender), Some(recipient)) =
                (members.get(&r.sender), members.get(&r.recipient))
            else {
                continue;
            };
            let Some(state) = party_of(&r, viewer).and_then(|p| r.state.seen_by(p)) else {
                continue;
            };
            out.push(Invitation {
                id: r.id.to_string(),
                sender: summary(sender),
                recipient: summary(recipient),
                note: r.note,
                state: state.as_str(),
                created_at: r.created_at.to_rfc3339(),
                // When a "closed" invitation was closed would tell the sender when the recipient
                // acted: ignored, expired and cancelled must read the same, so it has no date.
                decided_at: r
                    .decided_at
                    .filter(|_| state != SeenState::Closed)
                    .map(Timestamp::to_rfc3339),
                mutual_connections,
                mutual_preview: preview
                    .iter()
                    .filter_map(|id| {
                        members
                            .get(id)
                            .filter(|m| m.is_active())
                            .map(|m| summary(m))
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    // ----- connections ------------------------------------------------------------------------

    pub async fn connections(
        &self,
        viewer: MemberId,
        name: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Page<Connection>> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 100) {
            return Err(RuleError::validation("q", "must be at most 100 characters").into());
        }
        let after = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, 2))
            .transpose()?
            .map(|p| (Timestamp(p[0]), MemberId(p[1])));
        let limit = page.limit();
        let result = self
            .store()
            .connections(
                viewer,
                ConnectionQuery {
                    name: name.map(str::to_owned),
                    after,
                    limit,
                },
            )
            .await?;
        let next_cursor = (result.items.len() as u32 == limit)
            .then(|| {
                result
                    .items
                    .last()
                    .map(|(c, _)| cursor::encode(&[c.connected_at.0, c.member.0]))
            })
            .flatten();
        let items = result
            .items
            .iter()
            .map(|(c, m)| Connection {
                member: summary(m),
                connected_at: c.connected_at.to_rfc3339(),
            })
            .collect();
        Ok(Page {
            items,
            next_cursor,
            total: Some(result.total),
        })
    }

    /// Removes a connection, silently for the other side.
    pub async fn remove_connection(&self, viewer: MemberId, other: &str) -> AppResult<()> {
        let other: MemberId = other.parse().map_err(|_| RuleError::NotFound)?;
        self.visible_member(viewer, other).await?;
        if !self
            .store()
            .remove_connection(viewer, other, self.now())
            .await?
        {
            return Err(RuleError::NotFound.into());
        }
        tracing::info!("connection removed");
        Ok(())
    }

    async fn connection_view(&self, other: MemberId, at: Timestamp) -> AppResult<Connection> {
        // A name for the card: from the member cache (the member was active inside the
        // transaction that connected them).
        let m = self
            .store()
            .members(&[other])
            .await?
            .pop()
            .ok_or(RuleError::NotFound)?;
        Ok(Connection {
            member: summary(&m),
            connected_at: at.to_rfc3339(),
        })
    }

    // ----- stats and export ---------------------------------------------------------------------

    /// The member's own invitation history: totals and the last twelve weeks.
    pub async fn stats(&self, id: MemberId) -> AppResult<Stats> {
        let sent = self.store().all_sent(id).await?;
        Ok(stats::compute(&sent, self.now()))
    }

    /// Everything about the member, as they may see it.
    pub async fn export(&self, id: MemberId) -> AppResult<Export> {
        let profile = self.me(id).await?;
        let sent = self.store().all_sent(id).await?;
        let received = self.store().all_received(id).await?;
        let invitations_sent = self.invitation_views(id, sent).await?;
        let invitations_received = self.invitation_views(id, received).await?;
        let mut connections = Vec::new();
        let mut page = PageRequest {
            cursor: None,
            limit: Some(100),
        };
        loop {
            let p = self.connections(id, None, page.clone()).await?;
            connections.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let blocks = self.blocks(id).await?.items;
        Ok(Export {
            exported_at: self.now().to_rfc3339(),
            profile,
            invitations_sent,
            invitations_received,
            connections,
            blocks,
        })
    }

    // ----- blocks -------------------------------------------------------------------------------

    /// Blocks a member: pending invitations between the two are cancelled, their connection is
    /// removed, and from now on each is not found to the other.
    pub async fn block(&self, viewer: MemberId, other: &str) -> AppResult<()> {
        let other: MemberId = other.parse().map_err(|_| RuleError::NotFound)?;
        if other == viewer {
            return Err(RuleError::validation("member_id", "you cannot block yourself").into());
        }
        if self
            .store()
            .blocked_by(viewer)
            .await?
            .iter()
            .any(|b| b.id == other)
        {
            return Ok(()); // already blocked: blocking again changes nothing
        }
        // Someone who blocked the viewer, or is hidden for any other reason, reads as unknown.
        self.visible_member(viewer, other).await?;
        self.store().block(viewer, other, self.now()).await?;
        tracing::info!("member blocked");
        Ok(())
    }

    pub async fn unblock(&self, viewer: MemberId, other: &str) -> AppResult<()> {
        let other: MemberId = other.parse().map_err(|_| RuleError::NotFound)?;
        if !self.store().unblock(viewer, other).await? {
            return Err(RuleError::NotFound.into());
        }
        Ok(())
    }

    pub async fn blocks(&self, viewer: MemberId) -> AppResult<Page<MemberSummary>> {
        let items: Vec<MemberSummary> = self
            .store()
            .blocked_by(viewer)
            .await?
            .iter()
            .map(|m| summary(m))
            .collect();
        let total = Some(items.len() as u64);
        Ok(Page {
            items,
            next_cursor: None,
            total,
        })
    }

    // ----- account life cycle -----------------------------------------------------------------

    /// Hides the member: pending invitations both ways are cancelled silently, connections are kept
    /// for their return, tokens stop working. Signing in again reactivates.
    pub async fn deactivate(&self, id: MemberId) -> AppResult<()> {
        self.store()
            .set_status(id, AccountStatus::Deactivated, self.now())
            .await?;
        self.inner.tokens.forget_member(id);
        tracing::info!(member = %id, "account deactivated");
        Ok(())
    }

    /// Refuses with `429 rate_limited` while `key` (an email) has failed too often.
    fn password_attempts_allowed(&self, key: &str, now: Timestamp) -> AppResult<()> {
        match self.inner.logins.blocked_until(key, now) {
            Some(retry_at) => Err(AppError::RateLimited {
                retry_at,
                retry_after: ((retry_at.0 - now.0).max(1000) as u64).div_ceil(1000),
            }),
            None => Ok(()),
        }
    }

    /// Refuses with `invalid_credentials` unless `password` is the member's. Failures count
    /// towards the same limit as failed sign-ins, so a stolen token cannot guess the password.
    async fn confirm_password(&self, id: MemberId, password: &str) -> AppResult<()> {
        let m = self
            .store()
            .member(id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let now = self.now();
        self.password_attempts_allowed(&m.email, now)?;
        let email = Email::parse(&m.email)?;
        let (_, hash) = self
            .store()
            .login_lookup(&email)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let password = password.to_owned();
        if !blocking(move || auth::verify_password(&password, &hash)).await? {
            self.inner.logins.failed(&m.email, now);
            return Err(RuleError::InvalidCredentials.into());
        }
        Ok(())
    }

    /// Changes the password once the current one confirms it. Every session and token of the
    /// member stops working; the new token returned is the only one.
    pub async fn change_password(
        &self,
        id: MemberId,
        current: &str,
        new: &str,
    ) -> AppResult<String> {
        let new = Password::parse(new).map_err(|_| {
            RuleError::validation("new_password", "must be between 10 and 256 characters")
        })?;
        self.confirm_password(id, current).await?;
        let hash = blocking(move || auth::hash_password(new.expose()))
            .await?
            .map_err(AppError::Internal)?;
        self.store().set_password(id, hash, self.now()).await?;
        self.inner.tokens.forget_member(id);
        tracing::info!(member = %id, "password changed; every other session signed out");
        self.issue_token(id).await
    }

    /// Closes the account for good, once the password confirms it.
    pub async fn close(&self, id: MemberId, password: &str) -> AppResult<()> {
        self.confirm_password(id, password).await?;
        self.store().close_member(id, self.now()).await?;
        self.inner.tokens.forget_member(id);
        tracing::info!(member = %id, "account closed");
        Ok(())
    }

    // ----- administration ---------------------------------------------------------------------

    async fn require_admin(&self, viewer: MemberId) -> AppResult<()> {
        match self.store().member(viewer).await? {
            Some(m) if m.role == "admin" && m.is_active() => Ok(()),
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
        self.store()
            .member(id)
            .await?
            .filter(|m| m.status != "closed")
            .ok_or(RuleError::NotFound)?;
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
        if let Some(t) = u.tier.as_deref() {
            if !matches!(t, "free" | "premium") {
                return Err(RuleError::validation("tier", "must be free or premium").into());
            }
        }
        if let Some(r) = u.role.as_deref() {
            if !matches!(r, "member" | "admin") {
                return Err(RuleError::validation("role", "must be member or admin").into());
            }
        }
        let mut m = self.store().set_tier_role(id, u.tier, u.role).await?;
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

    // ----- background work --------------------------------------------------------------------

    /// One pass of the sweeper: expires invitations pending for longer than the expiry (silently),
    /// sends the reminders that are due, tells members whose restriction ended, prunes the outbox.
    /// Idempotent, so a pass interrupted by a restart is simply done again.
    pub async fn sweep(&self) -> AppResult<Swept> {
        let cutoff = self.now().minus(self.inner.config.invitation_expiry);
        let mut expired = 0;
        loop {
            let n = self.store().expire_pending(cutoff, self.now()).await?;
            expired += n;
            if n == 0 {
                break;
            }
        }
        if expired > 0 {
            tracing::info!(expired, "invitations expired");
        }
        let now = self.now();
        let reminders = self.inner.config.reminders.clone();
        let mut reminded = 0;
        loop {
            let n = self.store().send_reminders(reminders.clone(), now).await?;
            reminded += n;
            if n == 0 {
                break;
            }
        }
        if reminded > 0 {
            tracing::info!(reminded, "reminders sent");
        }
        let ended = self.store().end_restrictions(now).await?;
        if ended > 0 {
            tracing::info!(ended, "restrictions ended");
        }
        // The outbox keeps a week of events, for streams that reconnect and consumers that lag.
        self.store()
            .prune_events(now.minus(Duration::from_secs(7 * 86_400)))
            .await?;
        Ok(Swept {
            expired,
            reminded,
            restrictions_ended: ended,
        })
    }

    /// Runs every background worker (sweeper, live feed, mailer, webhooks, and over a shared store
    /// the token cache's following of other replicas' revocations) until `stop` turns true; live
    /// streams end as soon as it does.
    pub async fn run_workers(self, stop: tokio::sync::watch::Receiver<bool>) {
        let mut closer = stop.clone();
        let hub = self.inner.hub.clone();
        let close_streams = async move {
            stopped(&mut closer).await;
            hub.close_all();
        };
        let mut sweeper_stop = stop.clone();
        let sweeper = self
            .clone()
            .run_sweeper(async move { stopped(&mut sweeper_stop).await });
        let mut revocations_stop = stop.clone();
        let revocations = async {
            if let Some(peers) = self.store().peers() {
                let stop = &mut revocations_stop;
                auth::follow_revocations(&self.inner.tokens, peers, stopped(stop)).await;
            }
        };
        tokio::join!(
            close_streams,
            revocations,
            self.run_lease(stop.clone()),
            sweeper,
            self.run_feed(stop.clone()),
            self.run_mailer(stop.clone()),
            self.run_webhooks(stop),
        );
    }

    /// Runs [`App::sweep`] every `sweep_interval` until `stop` completes.
    pub async fn run_sweeper(self, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.inner.config.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    if !self.leads() {
                        continue;
                    }
                    if let Err(e) = self.sweep().await {
                        tracing::warn!(error = %e, "sweep failed; will try again");
                    }
                }
            }
        }
    }

    // ----- idempotency ------------------------------------------------------------------------

    /// The answer stored under `key` by `member` within the last 24 hours.
    pub async fn idempotent_replay(
        &self,
        member: MemberId,
        key: &str,
    ) -> AppResult<Option<StoredResponse>> {
        let cutoff = self.now().minus(IDEMPOTENCY_WINDOW);
        Ok(self
            .store()
            .idempotent_get(member, key)
            .await?
            .filter(|r| r.created_at > cutoff))
    }

    pub async fn idempotent_store(
        &self,
        member: MemberId,
        key: &str,
        request_hash: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    ) -> AppResult<()> {
        let now = self.now();
        let resp = StoredResponse {
            request_hash,
            status,
            body,
            created_at: now,
        };
        Ok(self.store().idempotent_put(member, key, resp, now).await?)
    }
}

/// This process, as the leases table names it: host, process id and a random part (a restarted
/// replica is a new holder).
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rapport".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
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
