//! Persistence for Rapport behind one trait, [`Store`].
//!
//! Each method is one use case's transaction: it reads the facts the rule needs, asks the domain
//! for the plan of everything that follows (`rapport_domain::plan`), and carries the plan out, all
//! inside the same transaction, so a rule that must hold under races (one pending invitation per
//! pair, state transitions) is never a read-then-write in a handler, and no store decides anything
//! itself. The embedded implementation is [`sqlite::SqliteStore`]; [`postgres::PgStore`] serves
//! several replicas over one PostgreSQL database.
//!
//! [`Store`] is split by area, one trait each: [`AccountStore`], [`InvitationStore`],
//! [`NetworkStore`], [`StandingStore`], [`OutboxStore`], [`IdentityStore`] and [`ReplicaStore`];
//! `Store` is all of
//! them (and `ping`). Each store implements an area's trait in the file of the same name,
//! `sqlite/accounts.rs` and `postgres/accounts.rs` and so on, so one area is one file name in both
//! stores, and the file that holds a method is named by its trait. Area traits rather than one
//! `impl Store` that hands each method to an area module: that impl repeated every signature once
//! more in each store and told the reader nothing the area files did not. Callers hold a
//! `dyn Store` and call any area's method on it without importing the area traits (a trait
//! object's supertraits' methods are its own); code that holds a concrete store imports them
//! (`use rapport_store::*`).
//!
//! Every committed change to the connection graph is reported, in commit order, to the
//! [`CommitHook`] given at open, before the writer answers the request that made it: whoever keeps
//! an index of the graph sees a read-after-write consistent view.
//!
//! A store that other processes write to as well (PostgreSQL under several replicas) also says what
//! they revoke, through [`ReplicaStore::peers`]: the hash of every sign-in token deleted anywhere,
//! as its transaction commits, and whether this process is hearing them at all. A cache of tokens
//! keeps what it read only while it hears every revocation; the embedded store has no other
//! writers, so its process makes, and knows, every revocation itself.

mod member_cache;
pub mod model;
mod new_event;
mod outcome;
pub mod postgres;
pub mod sqlite;

pub use model::*;

use async_trait::async_trait;
use rapport_domain::{
    Action, Email, InvitationId, InvitationsFrom, MemberId, NotificationPrefs, RuleError,
    Timestamp, TokenCutoffs,
};
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A rule refused the operation; nothing was written.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The store cannot be reached for now (the database is down, restarting or failing over);
    /// nothing was written. Trying again in a moment is the cure.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The store has no room for this write (the disk, or the embedded database's configured
    /// largest size, is full); nothing was written. Reads go on, and writes succeed again by
    /// themselves once the operator frees space.
    #[error("the database is full: {0}")]
    StorageFull(String),
    /// More writes are queued than the store can run within its budget; nothing was written.
    /// Trying again in a moment is the cure.
    #[error("the store is busy: {0}")]
    Overloaded(String),
    /// The store failed; nothing that was not acknowledged was written.
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A `LIKE … ESCAPE '\'` pattern finding `s` anywhere, for both stores: `%` and `_` typed by a
/// member are literal characters, not patterns.
fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Called on the writer, after each commit, with the graph changes of that commit in order.
pub type CommitHook = Arc<dyn Fn(&[Change]) + Send + Sync>;

/// How a process hears what the other processes sharing its store revoke (see
/// [`ReplicaStore::peers`]).
pub struct Peers {
    /// Which connection this process hears the others on: `Some(n)` while it listens on its `n`th,
    /// `None` while it has none. Revocations made while it had none, or between two of its
    /// connections (the number changed), may have been missed: drop whatever was cached then, and
    /// cache nothing while it is `None`. Also: while `None`, poll for the others' writes.
    pub listening: tokio::sync::watch::Receiver<Option<u64>>,
    /// The hash of every sign-in token deleted by any process, this one included (a logout, a
    /// password change, an account suspended, deactivated or closed), as its transaction commits.
    /// A receiver that lags behind has missed some, as if it had stopped listening.
    pub revoked: tokio::sync::broadcast::Receiver<TokenHash>,
}

/// The whole store, as callers hold it (`Arc<dyn Store>`): every area's trait, and whether it
/// answers. An area's methods are called on a `dyn Store`, or on any `S: Store`, without importing
/// the area's trait.
#[async_trait]
pub trait Store:
    AccountStore
    + InvitationStore
    + NetworkStore
    + StandingStore
    + OutboxStore
    + IdentityStore
    + ReplicaStore
    + 'static
{
    /// Is the store reachable and answering?
    async fn ping(&self) -> StoreResult<()>;
}

/// Identities from outside: service keys of the community's applications, and the ids members
/// carry in other systems (the community's own, and their OpenID providers' subjects).
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn create_key(&self, k: NewKey) -> StoreResult<KeyRecord>;
    /// Every key, oldest first.
    async fn keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// The key whose secret hashes to `hash`.
    async fn key_by_hash(&self, hash: TokenHash) -> StoreResult<Option<KeyRecord>>;
    /// Revokes a key; `false` when there is none with that id.
    async fn delete_key(&self, id: i64) -> StoreResult<bool>;
    async fn touch_key(&self, id: i64, at: Timestamp) -> StoreResult<()>;
    /// The member who carries `subject` under `issuer` (`identity::COMMUNITY` for the community's
    /// own ids).
    async fn external_member(&self, issuer: &str, subject: &str) -> StoreResult<Option<MemberId>>;
    /// Gives `member` the id `subject` under `issuer`; `false` when it names someone already, or
    /// the member's account is closed.
    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Makes the member with the community id `external_id` have `want`, as
    /// `identity::plan_provision` decides, in one transaction. A new member has no password.
    async fn provision(
        &self,
        external_id: String,
        want: rapport_domain::identity::ProvisionedProfile,
        at: Timestamp,
    ) -> StoreResult<(rapport_domain::identity::Provision, Arc<MemberRecord>)>;
}

/// Accounts: members, sign-in tokens, profiles and settings, idempotent replays.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_member(&self, m: NewMember) -> StoreResult<Arc<MemberRecord>>;
    /// The member id and password hash behind an email, whatever the account's state.
    async fn login_lookup(&self, email: &Email) -> StoreResult<Option<(MemberId, String)>>;
    async fn insert_token(
        &self,
        hash: TokenHash,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The token with this hash, dead or alive: whether it still works is the caller's rule
    /// (`rapport_domain::TokenLifetime`).
    async fn token(&self, hash: TokenHash) -> StoreResult<Option<TokenRecord>>;
    /// Records a use of the token at `at`; a later use already recorded is kept.
    async fn touch_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()>;
    /// Deletes up to `limit` tokens that are dead: issued, or last used, at or before the cutoffs.
    /// Returns how many went.
    async fn prune_tokens(&self, dead: TokenCutoffs, limit: u32) -> StoreResult<u64>;
    async fn delete_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()>;
    /// Replaces the member's password hash and revokes every token they hold, in one transaction.
    async fn set_password(
        &self,
        member: MemberId,
        password_hash: String,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// One member as the store holds it now (not from a cache: roles and states may be changed by
    /// another process).
    async fn member(&self, id: MemberId) -> StoreResult<Option<Arc<MemberRecord>>>;
    /// The members of `ids` that exist, in no particular order, from the member cache where
    /// possible: for building views, where names and headlines are what matter.
    async fn members(&self, ids: &[MemberId]) -> StoreResult<Vec<Arc<MemberRecord>>>;
    async fn update_profile(
        &self,
        id: MemberId,
        patch: ProfilePatch,
    ) -> StoreResult<Arc<MemberRecord>>;
    /// Changes who may invite the member.
    async fn set_invitations_from(
        &self,
        id: MemberId,
        from: InvitationsFrom,
    ) -> StoreResult<Arc<MemberRecord>>;
    async fn set_tier_role(
        &self,
        id: MemberId,
        tier: Option<Tier>,
        role: Option<Role>,
    ) -> StoreResult<Arc<MemberRecord>>;
    async fn member_by_email(&self, email: &Email) -> StoreResult<Option<Arc<MemberRecord>>>;
    async fn set_notification_prefs(
        &self,
        member: MemberId,
        prefs: NotificationPrefs,
    ) -> StoreResult<Arc<MemberRecord>>;

    // Idempotency-Key replays
    async fn idempotent_get(
        &self,
        member: MemberId,
        key: &str,
    ) -> StoreResult<Option<StoredResponse>>;
    /// Keeps `response` under the member's `key` (replacing what the key held), then deletes the
    /// member's oldest kept answers past the newest `keep`, in the same transaction.
    async fn idempotent_put(
        &self,
        member: MemberId,
        key: &str,
        response: StoredResponse,
        at: Timestamp,
        keep: u32,
    ) -> StoreResult<()>;
    /// Deletes up to `limit` kept answers made at or before `cutoff`; returns how many went.
    async fn prune_idempotent(&self, cutoff: Timestamp, limit: u32) -> StoreResult<u64>;

    // Sign-ups waiting for their address to be confirmed (`RAPPORT_SIGNUP_CONFIRMATION=email`)
    /// Keeps `m` until its address is confirmed with the token whose hash is `hash`, replacing
    /// any sign-up that was waiting for the same address.
    async fn put_pending_signup(&self, hash: TokenHash, m: NewMember) -> StoreResult<()>;
    /// Confirms the sign-up behind `hash` if it was made after `made_after`: the member is created
    /// as it was asked for (joining at `at`) and the sign-up is gone, in one transaction. Inner
    /// `Err(NotFound)` when there is no such sign-up or it is too old, `Err(EmailTaken)` when the
    /// address became a member's meanwhile: the sign-up is gone then too.
    async fn confirm_signup(
        &self,
        hash: TokenHash,
        made_after: Timestamp,
        at: Timestamp,
    ) -> StoreResult<Result<Arc<MemberRecord>, RuleError>>;
    /// Deletes up to `limit` sign-ups made at or before `before`; returns how many went.
    async fn prune_pending_signups(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;

    // Server secrets
    /// The secret kept under `name`, keeping `fresh` as it first when there is none yet. Every
    /// process sharing the store gets the same value, whichever asked first.
    async fn server_secret(
        &self,
        name: &str,
        fresh: Vec<u8>,
        at: Timestamp,
    ) -> StoreResult<Vec<u8>>;
}

/// Invitations: sending, answering and withdrawing them, the lists members see, and the sweeps
/// that expire them and remind their recipients.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Of the `cap` invitations the member sent last (whatever became of them), how many were sent
    /// after `since`, and the oldest of those: the weekly count, which never needs more than the
    /// limit's worth of rows.
    async fn sent_since(
        &self,
        member: MemberId,
        since: Timestamp,
        cap: u32,
    ) -> StoreResult<SentWindow>;
    async fn send_invitation(&self, cmd: SendInvitation) -> StoreResult<SendOutcome>;
    async fn invitation(&self, id: InvitationId) -> StoreResult<Option<InvitationRecord>>;
    /// Accept, ignore or withdraw: the domain's state machine decides, the store applies.
    async fn act(
        &self,
        id: InvitationId,
        actor: MemberId,
        action: Action,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<Acted>;
    /// Pending invitations received, newest first, with ids below `before` when given.
    async fn received(
        &self,
        member: MemberId,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>>;
    /// Pending invitations sent at or before `created_by`, newest first, with ids below `before`.
    async fn sent(
        &self,
        member: MemberId,
        created_by: Option<Timestamp>,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>>;
    /// Withdraw (or with `dry_run`, count) every pending invitation sent at or before `created_by`.
    async fn withdraw_older(
        &self,
        sender: MemberId,
        created_by: Timestamp,
        dry_run: bool,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<u64>;
    /// The pending invitation between two members, whichever way it goes.
    async fn pending_between(
        &self,
        a: MemberId,
        b: MemberId,
    ) -> StoreResult<Option<InvitationRecord>>;
    /// The pending invitations between `viewer` and any of `others`, whichever way they go.
    async fn pending_with(
        &self,
        viewer: MemberId,
        others: Vec<MemberId>,
    ) -> StoreResult<Vec<InvitationRecord>>;
    /// Members never to suggest to `viewer`: a pending invitation either way, or an invitation
    /// either way ignored with a reason.
    async fn not_to_suggest(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>>;
    /// Every invitation the member sent, whatever became of it, oldest first: stats and export.
    async fn all_sent(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>>;
    /// Every invitation the member received, oldest first: export.
    async fn all_received(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>>;

    // Sweeps
    /// Expires every invitation pending since `created_by`; returns how many.
    async fn expire_pending(&self, created_by: Timestamp, at: Timestamp) -> StoreResult<u64>;
    /// Reminds recipients of invitations pending since the next of `offsets` (after sending);
    /// returns how many reminders went out.
    async fn send_reminders(
        &self,
        offsets: Vec<std::time::Duration>,
        now: Timestamp,
    ) -> StoreResult<u64>;
}

/// The network: connections, member search, blocks and account states.
#[async_trait]
pub trait NetworkStore: Send + Sync {
    async fn connections(
        &self,
        member: MemberId,
        query: ConnectionQuery,
    ) -> StoreResult<ConnectionPage>;
    /// Removes the connection both ways; `false` when there was none.
    async fn remove_connection(&self, a: MemberId, b: MemberId, at: Timestamp)
        -> StoreResult<bool>;
    /// Every connection between active members, both ways, in order of the first member then
    /// the second: what the graph index is built from, streamed so it is never held twice.
    async fn scan_connections(
        &self,
        sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
    ) -> StoreResult<()>;
    /// Active members whose name, headline or company match the full-text `query` (FTS5 syntax,
    /// built by the caller), best match first, at most `limit`; with `within`, only those.
    async fn search_members(
        &self,
        query: String,
        within: Option<Vec<MemberId>>,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>>;
    /// The first `limit` active members matching `query`, in id order and unranked (`rank` 0): cheap
    /// however many members match, since it stops at `limit`.
    async fn search_members_unranked(
        &self,
        query: String,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>>;
    /// Connects each pair (both ways) in one transaction, skipping pairs already connected and
    /// pairs of a member with themself: for seeding a network. Returns how many were new.
    async fn seed_connections(
        &self,
        pairs: Vec<(MemberId, MemberId)>,
        at: Timestamp,
    ) -> StoreResult<u64>;

    // Blocks and account states
    /// `blocker` blocks `blocked`: every pending invitation between them is cancelled and their
    /// connection removed. Blocking twice is harmless.
    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()>;
    /// Lifts a block; `false` when there was none.
    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool>;
    /// The members `blocker` has blocked, most recent first.
    async fn blocked_by(&self, blocker: MemberId) -> StoreResult<Vec<Arc<MemberRecord>>>;
    /// Members hidden from `viewer` by a block, either way.
    async fn hidden_from(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>>;
    /// Moves a member to `status` (`active`, `deactivated` or `suspended`). Leaving `active`
    /// cancels every pending invitation they sent or received, revokes their tokens and hides their
    /// connections from the graph (kept in the store); coming back shows them again.
    async fn set_status(
        &self,
        id: MemberId,
        status: AccountStatus,
        at: Timestamp,
    ) -> StoreResult<Arc<MemberRecord>>;
    /// Closes an account: pending invitations cancelled, connections, blocks and tokens removed,
    /// personal data erased (the email may sign up again).
    async fn close_member(&self, id: MemberId, at: Timestamp) -> StoreResult<()>;
}

/// Standing: restrictions on sending (by the rules or by moderators), spam reports and their
/// resolution, and telling members when a restriction ends.
#[async_trait]
pub trait StandingStore: Send + Sync {
    /// The member's restriction in force at `now`, if any.
    async fn active_restriction(
        &self,
        member: MemberId,
        now: Timestamp,
    ) -> StoreResult<Option<RestrictionRecord>>;
    /// A moderator restricts a member until a time.
    async fn restrict(&self, member: MemberId, until: Timestamp, at: Timestamp) -> StoreResult<()>;
    /// Lifts the member's restrictions in force; `false` when there was none.
    async fn lift_restriction(&self, member: MemberId, at: Timestamp) -> StoreResult<bool>;
    /// Open spam reports, oldest first.
    async fn open_reports(&self, limit: u32) -> StoreResult<Vec<ReportRecord>>;
    /// Resolves an open report; `NotFound` when it is not open.
    async fn resolve_report(
        &self,
        id: i64,
        action: Resolution,
        by: MemberId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Tells members whose restriction ran out; returns how many.
    async fn end_restrictions(&self, now: Timestamp) -> StoreResult<u64>;
    /// Forgets up to `limit` wrong email addresses given at or before `before` (out of the
    /// standing window); returns how many.
    async fn prune_wrong_emails(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// The outbox and its consumers: notifications, numbered events, queued mail, webhooks and their
/// deliveries.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    // Notifications
    /// The member's notifications, newest first, with ids below `before` when given.
    async fn notifications(
        &self,
        member: MemberId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRecord>>;
    async fn notification(&self, id: i64) -> StoreResult<Option<NotificationRecord>>;
    async fn unread_count(&self, member: MemberId) -> StoreResult<u64>;
    /// Marks the member's notifications read: those of `ids` (others' ids are ignored), or all.
    async fn mark_read(
        &self,
        member: MemberId,
        ids: Option<Vec<i64>>,
        at: Timestamp,
    ) -> StoreResult<()>;

    // Events
    /// Events after `seq`, oldest first.
    async fn events_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<EventRecord>>;
    /// The newest event's number (0 when there is none).
    async fn last_event_seq(&self) -> StoreResult<i64>;
    /// How far a consumer has got (0 when it never ran).
    async fn consumer_position(&self, name: &str) -> StoreResult<i64>;
    /// Deletes events older than `before` that every consumer has passed; returns how many.
    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64>;

    // Mail
    /// Mail due at `now`: every immediate item due, and for each member with a digest item due,
    /// all their items of that cadence (a digest takes everything waiting).
    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<MailItem>>;
    /// Removes items whose mail went out (or that no longer need one).
    async fn mail_done(&self, ids: Vec<i64>) -> StoreResult<()>;
    /// Queued mail items, for metrics.
    async fn mail_queue_depth(&self) -> StoreResult<u64>;

    // Webhooks
    async fn create_webhook(
        &self,
        url: String,
        events: Vec<String>,
        secret: String,
        at: Timestamp,
    ) -> StoreResult<WebhookRecord>;
    /// Registered webhooks (deleted ones left out), oldest first.
    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookRecord>>;
    /// `false` when there was none.
    async fn delete_webhook(&self, id: i64, at: Timestamp) -> StoreResult<bool>;
    /// The webhook's deliveries, newest first, with ids below `before` when given.
    async fn deliveries(
        &self,
        webhook: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Queues deliveries and moves `consumer` to `seq`, in one transaction: each event is queued
    /// exactly once, whatever crashes.
    async fn queue_deliveries(
        &self,
        consumer: String,
        seq: i64,
        deliveries: Vec<NewDelivery>,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// For each enabled webhook, its oldest pending delivery: deliveries go out one at a time per
    /// endpoint, in order.
    async fn delivery_heads(&self) -> StoreResult<Vec<DeliveryRecord>>;
    async fn record_attempt(&self, id: i64, attempt: Attempt, at: Timestamp) -> StoreResult<()>;
    /// Pending deliveries, for metrics.
    async fn pending_deliveries(&self) -> StoreResult<u64>;
}

/// Sharing the store with other processes (replicas of `rapport serve` over one database): leases
/// on background work, and hearing what the others revoke. The embedded store serves one process
/// and takes the defaults.
#[async_trait]
pub trait ReplicaStore: Send + Sync {
    /// Takes the lease `name` for `holder` until `ttl` from now, or renews it: `true` while
    /// `holder` has it. Background work that must run once (sweeps, mail, webhooks) runs only
    /// while its replica holds the lease. The embedded store serves one process: always `true`.
    async fn lease(
        &self,
        _name: &str,
        _holder: &str,
        _ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        Ok(true)
    }
    /// Gives the lease up, if `holder` has it (a clean shutdown hands the work on at once).
    async fn release(&self, _name: &str, _holder: &str) -> StoreResult<()> {
        Ok(())
    }
    /// Do other processes write to this store (several replicas)? Then nothing read from it may be
    /// cached on the strength of this process's own writes: sign-in tokens, for one, are cached
    /// only while [`ReplicaStore::peers`] says every revocation is heard.
    fn shared(&self) -> bool {
        false
    }
    /// What the other processes writing to this store revoke, from now on; `None` when there are
    /// none (the embedded store).
    fn peers(&self) -> Option<Peers> {
        None
    }

    // Failed password checks, counted across replicas (the embedded store's one process counts
    // them in memory, so these are never called on it and keep nothing).
    /// Counts one failure under each of `keys` at `at`, and forgets those keys' failures older than
    /// `forget_before`.
    async fn add_login_failure(
        &self,
        _keys: &[String],
        _at: Timestamp,
        _forget_before: Timestamp,
    ) -> StoreResult<()> {
        Ok(())
    }
    /// For each of `keys`: the failures after `since` (a failure exactly at `since` has left the
    /// window), and when the oldest of them happened.
    async fn login_failures(
        &self,
        keys: &[String],
        _since: Timestamp,
    ) -> StoreResult<Vec<(u32, Option<Timestamp>)>> {
        Ok(vec![(0, None); keys.len()])
    }
    /// Forgets every failure counted under `key`.
    async fn clear_login_failures(&self, _key: &str) -> StoreResult<()> {
        Ok(())
    }
    /// Deletes failures older than `before`, at most `limit`; returns how many went.
    async fn prune_login_failures(&self, _before: Timestamp, _limit: u32) -> StoreResult<u64> {
        Ok(0)
    }
}
