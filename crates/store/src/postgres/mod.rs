//! The PostgreSQL store: what several `rapport serve` replicas share.
//!
//! Each [`Store`] method is one transaction at READ COMMITTED. A rule that must hold under races
//! is held the way the embedded store's single writer holds it, by serialising whoever could break
//! it: a write first locks the rows of the members it concerns, in id order (`FOR NO KEY UPDATE`,
//! see [`lock_members`]), then reads what the rule needs, asks the domain and writes. Two sends of
//! one sender, an accept racing a withdrawal, a block racing an accept: each pair of them meets on
//! a member row and runs one after the other, on whichever replica. The database holds the rest
//! itself (one pending invitation per pair is a unique index). Deadlocks and serialization failures
//! (SQLSTATE 40P01, 40001) roll back and run the whole transaction again, a bounded number of
//! times ([`in_tx!`]), so the same code runs on PostgreSQL-compatible databases that report
//! conflicts instead of waiting.
//!
//! What one replica writes, the others learn from the database: numbered outbox events (the
//! [`sequencer`]) for live streams and webhooks; a log of touched pairs for every replica's graph
//! index ([`follower`]); and deleted sign-in tokens, for token caches. Each is announced with a
//! `NOTIFY` at commit, which one connection per replica hears ([`listener`]).
//!
//! Each area's trait ([`AccountStore`](crate::AccountStore) and the others, see the crate doc) is
//! implemented in the module of the area's name, as in the embedded store. [`rules`] holds the
//! steps several areas share; [`facts`] and [`plan`] read what a plan is made of and write it;
//! [`notices`] reads the outbox's rows back.
//!
//! A little over 600 lines because it holds what every area file shares: the pool, the retry of
//! conflicting transactions, the migrations and the `in_tx!`/`read!` macros; each area's queries are
//! in its own file.

mod accounts;
mod caches;
mod facts;
mod follower;
mod identity;
mod invitations;
mod listener;
mod network;
mod notices;
mod outbox;
mod plan;
mod replicas;
mod rules;
pub mod scratch;
mod sequencer;
mod standing;
mod tx;
mod url;

pub use tx::count_statements;
pub(crate) use tx::{sent_statement, Tx};
use url::{parse_url, pool, Url};

use crate::{
    Change, CommitHook, InvitationRecord, MemberRecord, Store, StoreError, StoreResult, TokenHash,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rapport_domain::{
    IgnoreReason, InvitationId, InvitationState, MemberId, NotificationPrefs, RuleError, Timestamp,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};

/// Schema versions, applied in order; `rapport_schema` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_schema.sql"),
    include_str!("../../migrations/postgres/0002_plans.sql"),
    include_str!("../../migrations/postgres/0003_notify.sql"),
    include_str!("../../migrations/postgres/0004_token_lifetimes.sql"),
    include_str!("../../migrations/postgres/0005_secrets.sql"),
    include_str!("../../migrations/postgres/0006_login_failures.sql"),
    include_str!("../../migrations/postgres/0007_wrong_emails.sql"),
    include_str!("../../migrations/postgres/0008_pending_signups.sql"),
    include_str!("../../migrations/postgres/0009_identities.sql"),
];

/// Attempts of one transaction that fails on a deadlock or serialization conflict.
const MAX_ATTEMPTS: u32 = 10;

/// How long a starting replica waits for its read replica to replay the schema.
const REPLICA_WAIT: Duration = Duration::from_secs(30);

/// The `NOTIFY` channel the sequencer announces numbered events on.
const CHANNEL: &str = "rapport_events";

/// Why a transaction stopped: a rule (nothing written, answered as is), the database (retried when
/// it is a conflict), no connection to it, or anything else.
#[derive(Debug)]
pub(crate) enum Failure {
    Rule(RuleError),
    Db(tokio_postgres::Error),
    /// Already classified: the database cannot be reached, or is full.
    Store(StoreError),
    Internal(String),
}

impl From<RuleError> for Failure {
    fn from(e: RuleError) -> Self {
        Failure::Rule(e)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => Failure::Rule(r),
            StoreError::Internal(s) => Failure::Internal(s),
            other => Failure::Store(other),
        }
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Rule(r) => StoreError::Rule(r),
            Failure::Db(e) => classify(&e),
            Failure::Store(e) => e,
            Failure::Internal(s) => StoreError::Internal(s),
        }
    }
}

/// No connection could be had: the server is down, restarting, refusing connections or too slow
/// to answer (the pool's own timeouts); whatever the cause, trying again later is the cure.
impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Failure::Store(StoreError::Unavailable(format!(
            "no database connection: {e}"
        )))
    }
}

/// A database error as the rest of Rapport sees it: a lost or refused connection and a server
/// shutting down or starting up (SQLSTATE class 08, 57P01, 57P02, 57P03) are
/// [`StoreError::Unavailable`], a full disk (53100) is [`StoreError::StorageFull`], and anything
/// else is [`StoreError::Internal`].
fn classify(e: &tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c)
            if c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW =>
        {
            StoreError::Unavailable(describe(e))
        }
        Some(c) if *c == SqlState::DISK_FULL => StoreError::StorageFull(describe(e)),
        Some(_) => StoreError::Internal(describe(e)),
        // No SQLSTATE: the connection closed under the statement, or its socket failed.
        None if e.is_closed() || io_cause(e) => StoreError::Unavailable(describe(e)),
        None => StoreError::Internal(describe(e)),
    }
}

/// Does an I/O error (a reset or refused connection) lie under `e`?
fn io_cause(e: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

pub(crate) type TxResult<T> = Result<T, Failure>;

/// The database's own message, with its SQLSTATE, for logs.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Failure {
    /// A conflict that running the transaction again resolves.
    fn is_retryable(&self) -> bool {
        let Failure::Db(e) = self else { return false };
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => true,
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => true,
            // Two transactions that both found no pending invitation between a pair: the second
            // one's insert fails; run again, it finds the first one's and answers as the rules say.
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => e
                .as_db_error()
                .and_then(|d| d.constraint())
                .is_some_and(|c| c == "invitations_one_pending_per_pair"),
            _ => false,
        }
    }
}

#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// A streaming read replica, and whether its statements are cached (see `cache_statements`).
    replica: Option<(Pool, bool)>,
    /// Statements are prepared once per connection and kept; off behind a transaction-mode pooler
    /// (PgBouncer), where a connection's statements belong to whichever client used it last, so
    /// every statement is prepared inside its own transaction and closed there.
    cache_statements: bool,
    hook: CommitHook,
    /// Wakes the sequencer after a commit that appended events.
    events_written: Arc<tokio::sync::Notify>,
    /// Pairs whose graph change this replica applied itself, and when (see [`follower`]).
    local_graph: Mutex<HashMap<(i64, i64), u64>>,
    local_graph_clock: AtomicU64,
    /// Where the graph follower starts: the snapshot xmin of the last full scan.
    graph_from: Mutex<Option<String>>,
    /// Member rows and block lists, kept in step with the other replicas (see [`caches`]).
    caches: caches::Caches,
    /// The connection string, for the listener's own connection.
    config: tokio_postgres::Config,
    /// Which connection the [`listener`] hears the other replicas on, if any.
    listening: tokio::sync::watch::Sender<Option<u64>>,
    /// Sign-in tokens deleted by any replica, as the listener hears of them.
    revoked: tokio::sync::broadcast::Sender<TokenHash>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl PgStore {
    /// Connects to the database at `url`, brings its schema up to date and starts following what
    /// the other replicas write. `hook` is called after each commit of this replica with its graph
    /// changes, and with the changes of other replicas as they are learnt.
    ///
    /// With `read_url` (a streaming replica of the same database), the graph index's full load and
    /// member search read from the replica; everything else stays on the primary.
    pub async fn open(url: &str, read_url: Option<&str>, hook: CommitHook) -> StoreResult<PgStore> {
        let mut store = Self::connect(url, hook)?;
        if let Some(read_url) = read_url {
            let read = parse_url(read_url)?;
            let inner = Arc::get_mut(&mut store.inner)
                .ok_or_else(|| StoreError::Internal("the store is already shared".into()))?;
            inner.replica = Some((pool(read.config, read.pool_size)?, read.cache_statements));
        }
        store.migrate().await?;
        store.await_replica().await;
        sequencer::start(&store);
        follower::start(&store);
        Ok(store)
    }

    /// Waits (a bounded time) until the read replica has replayed this binary's schema; one that
    /// lags further is left unused by this process, with a warning, and everything reads from the
    /// primary. Without it a first start (or an upgrade) would read tables the replica has not yet
    /// replayed.
    async fn await_replica(&mut self) {
        let Some((pool, _)) = &self.inner.replica else {
            return;
        };
        let wanted = MIGRATIONS.len() as i64;
        let deadline = tokio::time::Instant::now() + REPLICA_WAIT;
        let mut last = String::from("never answered");
        while tokio::time::Instant::now() < deadline {
            let version = async {
                let c = pool.get().await.map_err(|e| e.to_string())?;
                c.query_one("SELECT coalesce(max(version), 0) FROM rapport_schema", &[])
                    .await
                    .map(|r| r.get::<_, i64>(0))
                    .map_err(|e| describe(&e))
            }
            .await;
            match version {
                Ok(v) if v >= wanted => return,
                Ok(v) => last = format!("at schema version {v} of {wanted}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!(replica = %last, "the read replica has not caught up with the schema; reading from the primary");
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.replica = None;
        }
    }

    /// Brings the schema of the database at `url` up to date; returns how many migrations ran.
    pub async fn migrate_url(url: &str) -> StoreResult<usize> {
        Self::connect(url, Arc::new(|_: &[Change]| {}))?
            .migrate()
            .await
    }

    /// A store over the database at `url`, nothing started and nothing checked yet.
    fn connect(url: &str, hook: CommitHook) -> StoreResult<PgStore> {
        let Url {
            config,
            cache_statements,
            pool_size,
        } = parse_url(url)?;
        let pool = pool(config.clone(), pool_size)?;
        let (stop, _) = tokio::sync::watch::channel(false);
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                replica: None,
                cache_statements,
                hook,
                events_written: Arc::new(tokio::sync::Notify::new()),
                local_graph: Mutex::new(HashMap::new()),
                local_graph_clock: AtomicU64::new(0),
                graph_from: Mutex::new(None),
                caches: caches::Caches::default(),
                config,
                listening: tokio::sync::watch::channel(None).0,
                revoked: tokio::sync::broadcast::channel(listener::REVOCATIONS_BUFFER).0,
                stop,
            }),
        })
    }

    /// Applies the migrations that have not run yet, one transaction each, under a lock so that
    /// replicas starting together migrate once. Returns how many ran.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let mut ran = 0;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = (i + 1) as i64;
            let applied = in_tx!(self, |tx| {
                tx.batch("SELECT pg_advisory_xact_lock(72617001)").await?;
                tx.batch("CREATE TABLE IF NOT EXISTS rapport_schema (version BIGINT NOT NULL)")
                    .await?;
                let done: i64 = tx
                    .query_one("SELECT coalesce(max(version), 0) FROM rapport_schema", &[])
                    .await?
                    .get(0);
                if done > MIGRATIONS.len() as i64 {
                    return Err(Failure::Internal(format!(
                        "the database is at schema version {done}, newer than this binary knows ({}); upgrade rapport",
                        MIGRATIONS.len()
                    )));
                }
                if done >= version {
                    return Ok(false);
                }
                tx.batch(sql).await?;
                tx.execute(
                    "INSERT INTO rapport_schema (version) VALUES ($1)",
                    &[&version],
                )
                .await?;
                Ok(true)
            })?;
            if applied {
                tracing::info!(version, "applied migration");
                ran += 1;
            }
        }
        Ok(ran)
    }

    pub(crate) async fn connection(&self) -> TxResult<deadpool_postgres::Object> {
        Ok(self.inner.pool.get().await?)
    }

    /// Starts a transaction (see [`in_tx!`]).
    pub(crate) async fn begin(&self) -> TxResult<Tx> {
        let conn = self.connection().await?;
        sent_statement();
        conn.batch_execute("BEGIN").await?;
        Ok(Tx {
            conn,
            cache: self.inner.cache_statements,
            changes: Vec::new(),
            events: false,
        })
    }

    /// Ends a transaction started by [`PgStore::begin`]: commits on success and reports its
    /// changes, rolls back otherwise. `Err(None)` asks the caller to run it again.
    pub(crate) async fn finish<T>(
        &self,
        tx: Tx,
        result: TxResult<T>,
        attempt: u32,
    ) -> Result<StoreResult<T>, ()> {
        let failure = match result {
            Ok(value) => match tx.sent().conn.batch_execute("COMMIT").await {
                Ok(()) => {
                    self.committed(tx.changes, tx.events);
                    return Ok(Ok(value));
                }
                Err(e) => Failure::Db(e),
            },
            Err(f) => {
                let _ = tx.sent().conn.batch_execute("ROLLBACK").await;
                f
            }
        };
        if failure.is_retryable() && attempt < MAX_ATTEMPTS {
            metrics::counter!("rapport_store_retries_total").increment(1);
            // Back off a little, more each time, with jitter so that the two sides of a conflict
            // do not meet again.
            let jitter = u64::from(std::process::id() ^ attempt) % 3;
            tokio::time::sleep(Duration::from_millis((1u64 << attempt.min(6)) + jitter)).await;
            return Err(());
        }
        if let Failure::Db(e) = &failure {
            match classify(e) {
                StoreError::Internal(_) => {
                    tracing::error!(error = %describe(e), "database transaction failed")
                }
                StoreError::StorageFull(_) => tracing::error!(
                    error = %describe(e),
                    "the database server's disk is full: free space on it (writes are refused \
                     with 503 storage_full until then, and resume by themselves)"
                ),
                _ => tracing::warn!(error = %describe(e), "database transaction failed"),
            }
        }
        Ok(Err(failure.into()))
    }

    /// After a commit of this replica: its graph changes go to the hook at once (read-after-write
    /// on this replica), and the sequencer is woken when it appended events.
    fn committed(&self, changes: Vec<Change>, events: bool) {
        for c in &changes {
            if let Change::MemberSaved(m) = c {
                self.inner.caches.saved(m);
            }
        }
        if !changes.is_empty() {
            let stamp = self.inner.local_graph_clock.fetch_add(1, Ordering::SeqCst) + 1;
            {
                let mut local = self
                    .inner
                    .local_graph
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                for c in &changes {
                    if let Change::Connected(a, b) | Change::Disconnected(a, b) = c {
                        local.insert(pair(*a, *b), stamp);
                    }
                }
            }
            (self.inner.hook)(&changes);
        }
        if events {
            self.inner.events_written.notify_one();
        }
    }

    /// A connection for reads outside a transaction (each statement its own), on the primary or,
    /// with `replica` and a read replica configured, on the replica. Behind a transaction-mode
    /// pooler reads run in a transaction too (see [`read!`]).
    pub(crate) async fn reader(&self, replica: bool) -> TxResult<Tx> {
        let (conn, cache) = match &self.inner.replica {
            Some((pool, cache)) if replica => (pool.get().await?, *cache),
            _ => (self.connection().await?, self.inner.cache_statements),
        };
        if !cache {
            sent_statement();
            conn.batch_execute("BEGIN READ ONLY").await?;
        }
        Ok(Tx {
            conn,
            cache,
            changes: Vec::new(),
            events: false,
        })
    }

    pub(crate) async fn reader_done(&self, tx: Tx) {
        if !tx.cache {
            let _ = tx.sent().conn.batch_execute("COMMIT").await;
        }
    }

    /// A connection for the graph's full load: the read replica's when there is one.
    pub(crate) async fn bulk_reader(&self) -> TxResult<deadpool_postgres::Object> {
        Ok(match &self.inner.replica {
            Some((pool, _)) => pool.get().await?,
            None => self.connection().await?,
        })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        read!(self, |c| {
            c.query_one("SELECT 1", &[]).await?;
            Ok(())
        })
    }
}

/// A pair in a fixed order.
fn pair(a: MemberId, b: MemberId) -> (i64, i64) {
    (a.0.min(b.0), a.0.max(b.0))
}

/// Runs `$body` (which uses `$tx`, a `&mut Tx`) in a transaction of `$store`, committing when it
/// returns `Ok` and running it again from the start on a deadlock or serialization failure.
/// Evaluates to a `StoreResult`.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::postgres::PgStore = $store;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut tx = match store.begin().await {
                Ok(tx) => tx,
                Err(f) => break Err($crate::StoreError::from(f)),
            };
            let result = {
                let $tx = &mut tx;
                async { $body }.await
            };
            match store.finish(tx, result, attempt).await {
                Ok(done) => break done,
                Err(()) => continue,
            }
        }
    }};
}
pub(crate) use in_tx;

/// Runs `$body` (which uses `$c`, a `&mut Tx`) on a connection for reads. Evaluates to a
/// `StoreResult`.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {
        $crate::postgres::read_from!($store, false, |$c| $body)
    };
}
pub(crate) use read;

/// [`read!`] on the read replica when one is configured (search), on the primary otherwise.
macro_rules! read_replica {
    ($store:expr, |$c:ident| $body:expr) => {
        $crate::postgres::read_from!($store, true, |$c| $body)
    };
}
pub(crate) use read_replica;

macro_rules! read_from {
    ($store:expr, $replica:expr, |$c:ident| $body:expr) => {{
        let store: &$crate::postgres::PgStore = $store;
        match store.reader($replica).await {
            Ok(mut conn) => {
                let result: $crate::postgres::TxResult<_> = {
                    let $c = &mut conn;
                    async { $body }.await
                };
                store.reader_done(conn).await;
                result.map_err($crate::StoreError::from)
            }
            Err(f) => Err($crate::StoreError::from(f)),
        }
    }};
}
pub(crate) use read_from;

/// Locks the rows of `ids` (that exist), in id order, until the transaction ends: what every write
/// that decides on those members' state does first, so that writes concerning the same member run
/// one after the other on whichever replica.
pub(crate) async fn lock_members(tx: &Tx, ids: &[MemberId]) -> TxResult<()> {
    let mut ids: Vec<i64> = ids.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    ids.dedup();
    tx.query(
        "SELECT id FROM members WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        &[&ids],
    )
    .await?;
    Ok(())
}

pub(crate) const MEMBER_COLS: &str =
    "id, email, name, headline, company, location, tier, role, status, invitations_from, created_at, notification_prefs";

pub(crate) fn member_row(r: &Row) -> MemberRecord {
    member_row_offset(r, 0)
}

pub(crate) fn member_row_offset(r: &Row, o: usize) -> MemberRecord {
    let id = MemberId(r.get(o));
    let (tier, role, status, invitations_from) =
        MemberRecord::decode_state(id, r.get(o + 6), r.get(o + 7), r.get(o + 8), r.get(o + 9));
    MemberRecord {
        id,
        email: r.get(o + 1),
        name: r.get(o + 2),
        headline: r.get(o + 3),
        company: r.get(o + 4),
        location: r.get(o + 5),
        tier,
        role,
        status,
        invitations_from,
        created_at: Timestamp(r.get(o + 10)),
        notification_prefs: NotificationPrefs::decode(r.get::<_, Option<&str>>(o + 11)),
    }
}

pub(crate) const INVITATION_COLS: &str =
    "id, sender_id, recipient_id, note, state, ignore_reason, created_at, decided_at";

pub(crate) fn invitation_row(r: &Row) -> TxResult<InvitationRecord> {
    let state: &str = r.get(4);
    let reason: Option<&str> = r.get(5);
    Ok(InvitationRecord {
        id: InvitationId(r.get(0)),
        sender: MemberId(r.get(1)),
        recipient: MemberId(r.get(2)),
        note: r.get(3),
        state: InvitationState::parse(state)
            .ok_or_else(|| Failure::Internal(format!("unknown invitation state {state}")))?,
        ignore_reason: reason.and_then(IgnoreReason::parse),
        created_at: Timestamp(r.get(6)),
        decided_at: r.get::<_, Option<i64>>(7).map(Timestamp),
    })
}

pub(crate) fn invitation_rows(rows: &[Row]) -> TxResult<Vec<InvitationRecord>> {
    rows.iter().map(invitation_row).collect()
}

pub(crate) fn ids_of(ids: &[MemberId]) -> Vec<i64> {
    ids.iter().map(|m| m.0).collect()
}
