//! The embedded store: one SQLite file in WAL mode, one group-committing writer thread whose
//! commits a syncer thread makes durable before any request is answered ([`writer`]), and a pool of
//! reader connections that run in parallel.

pub mod bulk;
mod facts;
mod notices;
mod plan;
mod writer;

pub use writer::MAX_BATCH;

use crate::member_cache::MemberCache;
use crate::*;
use rapport_domain::standing::RestrictionReason;
use rapport_domain::{IgnoreReason, InvitationState, InvitationsFrom, NotificationPrefs};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use writer::{WriteTx, Writer};

/// Schema versions, applied in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_core.sql"),
    include_str!("../../migrations/sqlite/0002_send_rules.sql"),
    include_str!("../../migrations/sqlite/0003_blocks.sql"),
    include_str!("../../migrations/sqlite/0004_standing.sql"),
    include_str!("../../migrations/sqlite/0005_events.sql"),
    include_str!("../../migrations/sqlite/0006_search.sql"),
];

/// WAL pages after which the writer checkpoints. Larger than SQLite's 1,000 so that a page written
/// many times between checkpoints is copied into the database once (measured in BENCHMARKS.md; a
/// background checkpointer thread was tried too: better p99, lower throughput on two cores).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Prepared statements kept per connection. rusqlite's default of 16 is fewer than the distinct
/// statements a connection runs, and an evicted statement is parsed again on its next use
/// (measured: parsing took 13% of the writer's time).
const STATEMENT_CACHE: usize = 256;

/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 32;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
    members: Arc<MemberCache>,
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(c);
        }
        let c = Connection::open(&self.path)?;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // In WAL mode a connection drops its whole page cache whenever another one has committed,
        // so under steady writes every read starts cold: mapping the file makes those re-reads
        // memory accesses instead of pread calls (measured in BENCHMARKS.md). The first 512 MiB
        // are mapped, the rest read through the kernel's cache: mapped pages count towards the
        // server's resident memory, which stays near 1 GB at a million members this way.
        c.execute_batch(
            "PRAGMA busy_timeout = 5000; PRAGMA query_only = 1; PRAGMA cache_size = -16000;
             PRAGMA mmap_size = 536870912;",
        )?;
        Ok(c)
    }

    fn give_back(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(c);
        }
    }
}

/// Opens the writer connection. `synchronous=NORMAL` lets a commit return once its WAL frames are
/// written; the writer's syncer then fsyncs them before anyone is answered (see [`writer`]).
fn open_writer_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

/// Writes a consistent copy of the database at `path` to `dest` while it serves: `VACUUM INTO`
/// reads one snapshot (a WAL read transaction, so writers go on) and writes a compact file.
/// Refuses to overwrite `dest`. Returns the copy's size in bytes.
pub fn backup(path: &Path, dest: &Path) -> StoreResult<u64> {
    if dest.exists() {
        return Err(StoreError::Internal(format!(
            "{} already exists; choose a new file",
            dest.display()
        )));
    }
    if !path.exists() {
        return Err(StoreError::Internal(format!(
            "there is no store at {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let dest_text = dest
        .to_str()
        .ok_or_else(|| StoreError::Internal("the backup path is not valid UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [dest_text])?;
    let check: String =
        Connection::open(dest)?.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Internal(format!(
            "the copy failed its integrity check: {check}"
        )));
    }
    Ok(std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0))
}

/// Applies the migrations that have not run yet. Returns how many ran.
pub fn migrate(path: &Path) -> StoreResult<usize> {
    let mut conn = open_writer_connection(path)?;
    migrate_connection(&mut conn)
}

fn migrate_connection(conn: &mut Connection) -> StoreResult<usize> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database is at schema version {done}, newer than this binary knows ({}); upgrade rapport",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied migration");
    }
    Ok(MIGRATIONS.len() - done)
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `path`, brings its schema up to date and
    /// starts the writer.
    pub fn open(path: &Path, hook: CommitHook) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = open_writer_connection(path)?;
        migrate_connection(&mut conn)?;
        let members = Arc::new(MemberCache::default());
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let writer = Writer::start(conn, PathBuf::from(wal), members.clone().follow(hook))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
            members,
        })
    }

    /// Runs a read on a pooled connection, on the calling thread. The reads of this store are
    /// indexed point and range look-ups that take microseconds: handing them to a blocking pool
    /// costs more than it saves (measured in BENCHMARKS.md), and WAL readers never wait for the
    /// writer.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.readers.take()?;
        let result = f(&conn);
        self.readers.give_back(conn);
        result.map_err(StoreError::from)
    }

    /// The one row `sql` (taking the id as `?1`) finds, if any.
    async fn by_id<T: Send + 'static>(
        &self,
        sql: String,
        id: i64,
        row: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        self.read(move |c| c.prepare_cached(&sql)?.query_row([id], row).optional())
            .await
    }

    /// The number a `SELECT count(*) …` without parameters answers.
    async fn count(&self, sql: &'static str) -> StoreResult<u64> {
        self.read(move |c| {
            c.prepare_cached(sql)?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(f).await
    }
}

const MEMBER_COLS: &str =
    "id, email, name, headline, company, location, tier, role, status, invitations_from, created_at, notification_prefs";

fn member_row(r: &Row<'_>) -> rusqlite::Result<MemberRecord> {
    member_row_offset(r, 0)
}

const INVITATION_COLS: &str =
    "id, sender_id, recipient_id, note, state, ignore_reason, created_at, decided_at";

fn invitation_row(r: &Row<'_>) -> rusqlite::Result<InvitationRecord> {
    let state: String = r.get(4)?;
    let reason: Option<String> = r.get(5)?;
    Ok(InvitationRecord {
        id: InvitationId(r.get(0)?),
        sender: MemberId(r.get(1)?),
        recipient: MemberId(r.get(2)?),
        note: r.get(3)?,
        state: InvitationState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("state {state}").into(),
            )
        })?,
        ignore_reason: reason.as_deref().and_then(IgnoreReason::parse),
        created_at: Timestamp(r.get(6)?),
        decided_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
    })
}

fn member_by_id(c: &Connection, id: MemberId) -> rusqlite::Result<Option<MemberRecord>> {
    c.prepare_cached(&format!("SELECT {MEMBER_COLS} FROM members WHERE id = ?1"))?
        .query_row([id.0], member_row)
        .optional()
}

fn invitation_by_id(
    c: &Connection,
    id: InvitationId,
) -> rusqlite::Result<Option<InvitationRecord>> {
    c.prepare_cached(&format!(
        "SELECT {INVITATION_COLS} FROM invitations WHERE id = ?1"
    ))?
    .query_row([id.0], invitation_row)
    .optional()
}

fn pending_between(
    c: &Connection,
    a: MemberId,
    b: MemberId,
) -> rusqlite::Result<Option<InvitationRecord>> {
    c.prepare_cached(&format!(
        "SELECT {INVITATION_COLS} FROM invitations
          WHERE min(sender_id, recipient_id) = min(?1, ?2) AND max(sender_id, recipient_id) = max(?1, ?2)
            AND state = 'pending'"
    ))?
    .query_row([a.0, b.0], invitation_row)
    .optional()
}

/// Directed connections between active members in primary-key order, handed to `sink`.
fn scan_connections(
    c: &Connection,
    sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
) -> rusqlite::Result<()> {
    let mut inactive: Vec<i64> = c
        .prepare("SELECT id FROM members WHERE status <> 'active'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    inactive.sort_unstable();
    let mut stmt =
        c.prepare("SELECT member_id, other_id FROM connections ORDER BY member_id, other_id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (a, b): (i64, i64) = (r.get(0)?, r.get(1)?);
        if inactive.binary_search(&a).is_err() && inactive.binary_search(&b).is_err() {
            sink(MemberId(a), MemberId(b));
        }
    }
    Ok(())
}

/// Ids as a JSON array, for `json_each` in an `IN (…)`.
fn id_list(ids: &[MemberId]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.0.to_string());
    }
    out.push(']');
    out
}

fn are_connected(c: &Connection, a: MemberId, b: MemberId) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM connections WHERE member_id = ?1 AND other_id = ?2")?
        .exists([a.0, b.0])
}

/// Reads a member row just written and reports it, so the member cache follows the commit.
fn saved_member(tx: &mut WriteTx<'_>, id: MemberId) -> StoreResult<Arc<MemberRecord>> {
    // The search index (FTS5) keeps what a statement added in memory and writes it out when the
    // next statement opens a savepoint, so those rows would be counted against the next job of the
    // batch, and a job that fails would look as if it had written. Opening one here writes them
    // out as part of this job.
    tx.conn
        .execute_batch("SAVEPOINT search_index; RELEASE search_index;")?;
    let m = Arc::new(member_by_id(tx.conn, id)?.ok_or(RuleError::NotFound)?);
    tx.record(Change::MemberSaved(m.clone()));
    Ok(m)
}

/// Connects two members both ways, counts it on both and reports it to the graph (the event, if
/// any, is the plan's).
fn connect(
    tx: &mut WriteTx<'_>,
    a: MemberId,
    b: MemberId,
    at: Timestamp,
) -> rusqlite::Result<ConnectionRecord> {
    let mut stmt = tx.conn.prepare_cached(
        "INSERT OR IGNORE INTO connections (member_id, other_id, created_at) VALUES (?1, ?2, ?3)",
    )?;
    let new = stmt.execute(params![a.0, b.0, at.0])? > 0;
    stmt.execute(params![b.0, a.0, at.0])?;
    if new {
        add_connection_count(tx.conn, a, b, 1)?;
        tx.record(Change::Connected(a, b));
    }
    Ok(ConnectionRecord {
        member: b,
        connected_at: at,
    })
}

fn add_connection_count(
    c: &Connection,
    a: MemberId,
    b: MemberId,
    delta: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE members SET connection_count = connection_count + ?3 WHERE id IN (?1, ?2)",
    )?
    .execute(params![a.0, b.0, delta])?;
    Ok(())
}

/// Starts the re-invite cooldown of `sender` towards `recipient` after a withdrawal, and counts the
/// withdrawal (repeated withdraw-and-resend cycles weigh on the sender's standing).
fn note_withdrawal(
    c: &Connection,
    sender: MemberId,
    recipient: MemberId,
    until: Timestamp,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO pair_rules (sender_id, recipient_id, cooldown_until, withdrawals) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (sender_id, recipient_id)
         DO UPDATE SET cooldown_until = excluded.cooldown_until, withdrawals = withdrawals + 1",
    )?
    .execute(params![sender.0, recipient.0, until.0])?;
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Sends an invitation, or accepts the recipient's pending one, as the domain plans it.
fn send_in_tx(tx: &mut WriteTx<'_>, cmd: SendInvitation) -> StoreResult<SendOutcome> {
    let (facts, pending) = plan::send_facts(tx.conn, &cmd)?.ok_or(RuleError::NotFound)?;
    let planned = rapport_domain::plan::plan_send(&cmd, &facts)?;
    let created = plan::execute(tx, &planned.plan)?;
    crate::outcome::sent(&cmd, &planned, pending, created)
}

/// Accepts, ignores or withdraws an invitation as the domain plans it.
fn act_in_tx(
    tx: &mut WriteTx<'_>,
    id: InvitationId,
    actor: MemberId,
    action: Action,
    policy: ActPolicy,
    at: Timestamp,
) -> StoreResult<Acted> {
    let (facts, inv) = plan::act_facts(tx.conn, id, action, at)?.ok_or(RuleError::NotFound)?;
    let planned = rapport_domain::plan::plan_act(actor, action, &policy, &facts, at)?;
    plan::execute(tx, &planned.plan)?;
    Ok(crate::outcome::acted(inv, &planned))
}

fn active_restriction(
    c: &Connection,
    member: MemberId,
    now: Timestamp,
) -> rusqlite::Result<Option<RestrictionRecord>> {
    c.prepare_cached(
        "SELECT level, reason, until FROM restrictions
          WHERE member_id = ?1 AND until > ?2 AND lifted_at IS NULL ORDER BY until DESC LIMIT 1",
    )?
    .query_row(params![member.0, now.0], |r| {
        let reason: String = r.get(1)?;
        Ok(RestrictionRecord {
            member,
            level: r.get::<_, i64>(0)?.clamp(0, 255) as u8,
            reason: RestrictionReason::parse(&reason).unwrap_or(RestrictionReason::Moderation),
            until: Timestamp(r.get(2)?),
        })
    })
    .optional()
}

/// Of the `cap` invitations `member` sent last, how many were sent after `since`, and the oldest.
fn sent_window(
    c: &Connection,
    member: MemberId,
    since: Timestamp,
    cap: u32,
) -> rusqlite::Result<SentWindow> {
    c.prepare_cached(
        "SELECT count(*), min(created_at) FROM
           (SELECT created_at FROM invitations WHERE sender_id = ?1 ORDER BY id DESC LIMIT ?3)
          WHERE created_at > ?2",
    )?
    .query_row(params![member.0, since.0, cap], |r| {
        Ok(SentWindow {
            count: r.get::<_, i64>(0)? as u64,
            oldest: r.get::<_, Option<i64>>(1)?.map(Timestamp),
        })
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_member(&self, m: NewMember) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            let inserted = tx
                .conn
                .prepare_cached(
                    "INSERT INTO members (email, password_hash, name, headline, company, location, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![m.email.as_str(), m.password_hash, m.name, m.headline, m.company, m.location, m.at.0]);
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(RuleError::EmailTaken.into()),
                Err(e) => return Err(e.into()),
            }
            let id = MemberId(tx.conn.last_insert_rowid());
            saved_member(tx, id)
        })
        .await
    }

    async fn login_lookup(&self, email: &Email) -> StoreResult<Option<(MemberId, String)>> {
        let email = email.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT id, password_hash FROM members WHERE email = ?1")?
                .query_row([email], |r| Ok((MemberId(r.get(0)?), r.get(1)?)))
                .optional()
        })
        .await
    }

    async fn insert_token(
        &self,
        hash: TokenHash,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO tokens (hash, member_id, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![&hash[..], member.0, at.0])?;
            Ok(())
        })
        .await
    }

    async fn token_member(&self, hash: TokenHash) -> StoreResult<Option<MemberId>> {
        self.read(move |c| {
            c.prepare_cached("SELECT member_id FROM tokens WHERE hash = ?1")?
                .query_row([&hash[..]], |r| Ok(MemberId(r.get(0)?)))
                .optional()
        })
        .await
    }

    async fn delete_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            plan::execute(tx, &rapport_domain::plan::plan_sign_out(hash, at))?;
            Ok(())
        })
        .await
    }

    async fn set_password(
        &self,
        member: MemberId,
        password_hash: String,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let hash = rapport_domain::plan::PasswordHash(password_hash);
            plan::execute(tx, &rapport_domain::plan::plan_password(member, hash, at))?;
            Ok(())
        })
        .await
    }

    async fn member(&self, id: MemberId) -> StoreResult<Option<Arc<MemberRecord>>> {
        // Read fresh: role, tier and status may be changed by another process (`rapport admin`).
        Ok(self.read(move |c| member_by_id(c, id)).await?.map(Arc::new))
    }

    async fn members(&self, ids: &[MemberId]) -> StoreResult<Vec<Arc<MemberRecord>>> {
        let (mut out, missing) = self.members.get_many(ids);
        if !missing.is_empty() {
            let found = self
                .read(move |c| {
                    missing
                        .into_iter()
                        .filter_map(|id| member_by_id(c, id).transpose())
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .await?;
            out.extend(found.into_iter().map(|m| self.members.fill(m)));
        }
        Ok(out)
    }

    async fn update_profile(
        &self,
        id: MemberId,
        p: ProfilePatch,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE members SET name = coalesce(?2, name), headline = coalesce(?3, headline),
                            company = coalesce(?4, company), location = coalesce(?5, location)
                      WHERE id = ?1",
                )?
                .execute(params![id.0, p.name, p.headline, p.company, p.location])?;
            saved_member(tx, id)
        })
        .await
    }

    async fn set_invitations_from(
        &self,
        id: MemberId,
        from: InvitationsFrom,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("UPDATE members SET invitations_from = ?2 WHERE id = ?1")?
                .execute(params![id.0, from.as_str()])?;
            saved_member(tx, id)
        })
        .await
    }

    async fn set_tier_role(
        &self,
        id: MemberId,
        tier: Option<String>,
        role: Option<String>,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            member_by_id(tx.conn, id)?.filter(|m| m.status != "closed").ok_or(RuleError::NotFound)?;
            tx.conn
                .prepare_cached("UPDATE members SET tier = coalesce(?2, tier), role = coalesce(?3, role) WHERE id = ?1")?
                .execute(params![id.0, tier, role])?;
            saved_member(tx, id)
        })
        .await
    }

    async fn member_by_email(&self, email: &Email) -> StoreResult<Option<Arc<MemberRecord>>> {
        let email = email.as_str().to_owned();
        let sql = format!("SELECT {MEMBER_COLS} FROM members WHERE email = ?1");
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_row([email], member_row)
                .optional()
        })
        .await
        .map(|m| m.map(Arc::new))
    }

    async fn set_notification_prefs(
        &self,
        member: MemberId,
        prefs: NotificationPrefs,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            member_by_id(tx.conn, member)?
                .filter(|m| m.status != "closed")
                .ok_or(RuleError::NotFound)?;
            tx.conn
                .prepare_cached("UPDATE members SET notification_prefs = ?2 WHERE id = ?1")?
                .execute(params![member.0, prefs.encode()])?;
            saved_member(tx, member)
        })
        .await
    }

    async fn idempotent_get(
        &self,
        member: MemberId,
        key: &str,
    ) -> StoreResult<Option<StoredResponse>> {
        let key = key.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE member_id = ?1 AND key = ?2",
            )?
            .query_row(params![member.0, key], |r| {
                Ok(StoredResponse {
                    request_hash: r.get(0)?,
                    status: r.get::<_, i64>(1)? as u16,
                    body: r.get(2)?,
                    created_at: Timestamp(r.get(3)?),
                })
            })
            .optional()
        })
        .await
    }

    async fn idempotent_put(
        &self,
        member: MemberId,
        key: &str,
        resp: StoredResponse,
        at: Timestamp,
    ) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO idempotency_keys (member_id, key, request_hash, status, body, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![member.0, key, resp.request_hash, resp.status as i64, resp.body, at.0])?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn sent_since(
        &self,
        member: MemberId,
        since: Timestamp,
        cap: u32,
    ) -> StoreResult<SentWindow> {
        self.read(move |c| sent_window(c, member, since, cap)).await
    }

    async fn send_invitation(&self, cmd: SendInvitation) -> StoreResult<SendOutcome> {
        self.write(move |tx| send_in_tx(tx, cmd)).await
    }

    async fn invitation(&self, id: InvitationId) -> StoreResult<Option<InvitationRecord>> {
        self.read(move |c| invitation_by_id(c, id)).await
    }

    async fn act(
        &self,
        id: InvitationId,
        actor: MemberId,
        action: Action,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<Acted> {
        self.write(move |tx| act_in_tx(tx, id, actor, action, policy, at))
            .await
    }

    async fn received(
        &self,
        member: MemberId,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INVITATION_COLS} FROM invitations
                  WHERE recipient_id = ?1 AND state = 'pending' AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ))?
            .query_map(params![member.0, before.map_or(i64::MAX, |b| b.0), limit], invitation_row)?
            .collect()
        })
        .await
    }

    async fn sent(
        &self,
        member: MemberId,
        created_by: Option<Timestamp>,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INVITATION_COLS} FROM invitations
                  WHERE sender_id = ?1 AND state = 'pending' AND created_at <= ?2 AND id < ?3
                  ORDER BY id DESC LIMIT ?4"
            ))?
            .query_map(
                params![
                    member.0,
                    created_by.map_or(i64::MAX, |t| t.0),
                    before.map_or(i64::MAX, |b| b.0),
                    limit
                ],
                invitation_row,
            )?
            .collect()
        })
        .await
    }

    async fn withdraw_older(
        &self,
        sender: MemberId,
        created_by: Timestamp,
        dry_run: bool,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<u64> {
        if dry_run {
            return self
                .read(move |c| {
                    c.prepare_cached(
                        "SELECT count(*) FROM invitations WHERE sender_id = ?1 AND state = 'pending' AND created_at <= ?2",
                    )?
                    .query_row(params![sender.0, created_by.0], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                })
                .await;
        }
        self.write(move |tx| {
            let withdrawing = facts::withdrawing(tx.conn, sender, created_by)?;
            let planned = rapport_domain::plan::plan_withdraw_all(&withdrawing, &policy, at);
            plan::execute(tx, &planned)?;
            Ok(withdrawing.len() as u64)
        })
        .await
    }

    async fn pending_between(
        &self,
        a: MemberId,
        b: MemberId,
    ) -> StoreResult<Option<InvitationRecord>> {
        self.read(move |c| pending_between(c, a, b)).await
    }

    async fn pending_with(
        &self,
        viewer: MemberId,
        others: Vec<MemberId>,
    ) -> StoreResult<Vec<InvitationRecord>> {
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {INVITATION_COLS} FROM invitations
              WHERE state = 'pending' AND sender_id = ?1 AND recipient_id IN (SELECT value FROM json_each(?2))
             UNION ALL
             SELECT {INVITATION_COLS} FROM invitations
              WHERE state = 'pending' AND recipient_id = ?1 AND sender_id IN (SELECT value FROM json_each(?2))"
        );
        let others = id_list(&others);
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(params![viewer.0, others], invitation_row)?
                .collect()
        })
        .await
    }

    async fn not_to_suggest(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT recipient_id FROM invitations
                  WHERE sender_id = ?1 AND (state = 'pending' OR ignore_reason IS NOT NULL)
                 UNION
                 SELECT sender_id FROM invitations
                  WHERE recipient_id = ?1 AND (state = 'pending' OR ignore_reason IS NOT NULL)",
            )?
            .query_map([viewer.0], |r| Ok(MemberId(r.get(0)?)))?
            .collect()
        })
        .await
    }

    async fn all_sent(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        let sql =
            format!("SELECT {INVITATION_COLS} FROM invitations WHERE sender_id = ?1 ORDER BY id");
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([member.0], invitation_row)?
                .collect()
        })
        .await
    }

    async fn all_received(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        let sql = format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE recipient_id = ?1 ORDER BY id"
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([member.0], invitation_row)?
                .collect()
        })
        .await
    }

    async fn expire_pending(&self, created_by: Timestamp, at: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let facts = facts::expiry(tx.conn, created_by, at)?;
            plan::execute(tx, &rapport_domain::plan::plan_expiry(&facts, at))?;
            Ok(facts.expiring.len() as u64)
        })
        .await
    }

    async fn send_reminders(
        &self,
        offsets: Vec<std::time::Duration>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let due = facts::due_reminders(tx.conn, now, 1000)?;
            let (planned, sent) = rapport_domain::plan::plan_reminders(&due, &offsets, now);
            plan::execute(tx, &planned)?;
            Ok(sent)
        })
        .await
    }
}

#[async_trait]
impl NetworkStore for SqliteStore {
    async fn connections(
        &self,
        member: MemberId,
        q: ConnectionQuery,
    ) -> StoreResult<ConnectionPage> {
        self.read(move |c| {
            let pattern = q.name.as_deref().map(crate::like_pattern);
            let (after_at, after_id) = q.after.map_or((None, None), |(t, m)| (Some(t.0), Some(m.0)));
            let total: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM connections c JOIN members m ON m.id = c.other_id
                      WHERE c.member_id = ?1 AND m.status = 'active' AND (?2 IS NULL OR m.name LIKE ?2 ESCAPE '\\')",
                )?
                .query_row(params![member.0, pattern], |r| r.get(0))?;
            let sql = format!(
                "SELECT c.created_at, {} FROM connections c JOIN members m ON m.id = c.other_id
                  WHERE c.member_id = ?1 AND m.status = 'active' AND (?2 IS NULL OR m.name LIKE ?2 ESCAPE '\\')
                    AND (?3 IS NULL OR (c.created_at, c.other_id) < (?3, ?4))
                  ORDER BY c.created_at DESC, c.other_id DESC LIMIT ?5",
                MEMBER_COLS.split(", ").map(|col| format!("m.{col}")).collect::<Vec<_>>().join(", ")
            );
            let items = c
                .prepare_cached(&sql)?
                .query_map(params![member.0, pattern, after_at, after_id, q.limit], |r| {
                    let at = Timestamp(r.get(0)?);
                    let m = Arc::new(member_row_offset(r, 1)?);
                    Ok((ConnectionRecord { member: m.id, connected_at: at }, m))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ConnectionPage { items, total: total as u64 })
        })
        .await
    }

    async fn remove_connection(
        &self,
        a: MemberId,
        b: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let connected = facts::connected(tx.conn, a, b)?;
            match rapport_domain::plan::plan_disconnect(a, b, connected, at) {
                Some(planned) => plan::execute(tx, &planned).map(|_| true),
                None => Ok(false),
            }
        })
        .await
    }

    async fn scan_connections(
        &self,
        sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
    ) -> StoreResult<()> {
        let conn = self.readers.take()?;
        let result = scan_connections(&conn, sink);
        self.readers.give_back(conn);
        result.map_err(StoreError::from)
    }

    async fn search_members(
        &self,
        query: String,
        within: Option<Vec<MemberId>>,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        let within = within.map(|ids| id_list(&ids));
        self.read(move |c| {
            // Name weighs most, then company, then headline.
            c.prepare_cached(
                "SELECT s.rowid, bm25(member_search, 10.0, 2.0, 5.0) AS rank,
                        s.rowid IN (SELECT rowid FROM member_search WHERE member_search MATCH ?4)
                   FROM member_search s JOIN members m ON m.id = s.rowid
                  WHERE member_search MATCH ?1 AND m.status = 'active'
                    AND (?2 IS NULL OR s.rowid IN (SELECT value FROM json_each(?2)))
                  ORDER BY rank LIMIT ?3",
            )?
            .query_map(
                params![query, within, limit, format!("{{name}} : ({query})")],
                |r| {
                    Ok(SearchHit {
                        member: MemberId(r.get(0)?),
                        rank: r.get(1)?,
                        in_name: r.get(2)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }

    async fn search_members_unranked(
        &self,
        query: String,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT s.rowid, s.rowid IN (SELECT rowid FROM member_search WHERE member_search MATCH ?3)
                   FROM member_search s JOIN members m ON m.id = s.rowid
                  WHERE member_search MATCH ?1 AND m.status = 'active'
                  LIMIT ?2",
            )?
            .query_map(
                params![query, limit, format!("{{name}} : ({query})")],
                |r| {
                    Ok(SearchHit {
                        member: MemberId(r.get(0)?),
                        rank: 0.0,
                        in_name: r.get(1)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }

    async fn seed_connections(
        &self,
        pairs: Vec<(MemberId, MemberId)>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let mut added = 0;
            for (a, b) in pairs {
                if a != b && !are_connected(tx.conn, a, b)? {
                    connect(tx, a, b, at)?;
                    added += 1;
                }
            }
            Ok(added)
        })
        .await
    }

    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::block(tx.conn, blocker, blocked)?;
            let planned = rapport_domain::plan::plan_block(blocker, blocked, &facts, at);
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }

    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached("DELETE FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2")?
                .execute([blocker.0, blocked.0])?;
            Ok(n > 0)
        })
        .await
    }

    async fn blocked_by(&self, blocker: MemberId) -> StoreResult<Vec<Arc<MemberRecord>>> {
        let sql = format!(
            "SELECT {} FROM blocks b JOIN members m ON m.id = b.blocked_id
              WHERE b.blocker_id = ?1 AND m.status <> 'closed' ORDER BY b.created_at DESC",
            MEMBER_COLS
                .split(", ")
                .map(|col| format!("m.{col}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([blocker.0], |r| member_row(r).map(Arc::new))?
                .collect()
        })
        .await
    }

    async fn hidden_from(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT blocked_id FROM blocks WHERE blocker_id = ?1
                 UNION SELECT blocker_id FROM blocks WHERE blocked_id = ?1",
            )?
            .query_map([viewer.0], |r| Ok(MemberId(r.get(0)?)))?
            .collect()
        })
        .await
    }

    async fn set_status(
        &self,
        id: MemberId,
        status: AccountStatus,
        at: Timestamp,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            let facts = facts::status(tx.conn, id)?.ok_or(RuleError::NotFound)?;
            let planned = rapport_domain::plan::plan_status(status, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(Arc::new(
                member_by_id(tx.conn, id)?.ok_or(RuleError::NotFound)?,
            ))
        })
        .await
    }

    async fn close_member(&self, id: MemberId, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::close(tx.conn, id)?;
            let planned = rapport_domain::plan::plan_close(id, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl StandingStore for SqliteStore {
    async fn active_restriction(
        &self,
        member: MemberId,
        now: Timestamp,
    ) -> StoreResult<Option<RestrictionRecord>> {
        self.read(move |c| active_restriction(c, member, now)).await
    }

    async fn restrict(&self, member: MemberId, until: Timestamp, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::restrict(tx.conn, member)?;
            let planned =
                rapport_domain::plan::plan_moderator_restriction(member, until, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }

    async fn lift_restriction(&self, member: MemberId, at: Timestamp) -> StoreResult<bool> {
        self.write(move |tx| {
            let facts = facts::lift(tx.conn, member, at)?;
            match rapport_domain::plan::plan_lift_restriction(member, &facts, at) {
                Some(planned) => plan::execute(tx, &planned).map(|_| true),
                None => Ok(false),
            }
        })
        .await
    }

    async fn open_reports(&self, limit: u32) -> StoreResult<Vec<ReportRecord>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT r.id, r.invitation_id, r.reporter_id, r.reported_id, i.note, r.created_at
                   FROM reports r JOIN invitations i ON i.id = r.invitation_id
                  WHERE r.status = 'open' ORDER BY r.id LIMIT ?1",
            )?
            .query_map([limit], |r| {
                Ok(ReportRecord {
                    id: r.get(0)?,
                    invitation: InvitationId(r.get(1)?),
                    reporter: MemberId(r.get(2)?),
                    reported: MemberId(r.get(3)?),
                    note: r.get(4)?,
                    created_at: Timestamp(r.get(5)?),
                })
            })?
            .collect()
        })
        .await
    }

    async fn resolve_report(
        &self,
        id: i64,
        action: Resolution,
        by: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::report(tx.conn, id, action, at)?.ok_or(RuleError::NotFound)?;
            let planned = rapport_domain::plan::plan_resolve_report(action, by, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }

    async fn end_restrictions(&self, now: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let ended = facts::ended_restrictions(tx.conn, now)?;
            let (planned, told) = rapport_domain::plan::plan_restrictions_ended(&ended, now);
            plan::execute(tx, &planned)?;
            Ok(told)
        })
        .await
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn notifications(
        &self,
        member: MemberId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {} FROM notifications WHERE member_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            notices::NOTIFICATION_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![member.0, before.unwrap_or(i64::MAX), limit],
                    notices::notification_row,
                )?
                .collect()
        })
        .await
    }

    async fn notification(&self, id: i64) -> StoreResult<Option<NotificationRecord>> {
        let sql = format!(
            "SELECT {} FROM notifications WHERE id = ?1",
            notices::NOTIFICATION_COLS
        );
        self.by_id(sql, id, notices::notification_row).await
    }

    async fn unread_count(&self, member: MemberId) -> StoreResult<u64> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT count(*) FROM notifications WHERE member_id = ?1 AND read_at IS NULL",
            )?
            .query_row([member.0], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
        })
        .await
    }

    async fn mark_read(
        &self,
        member: MemberId,
        ids: Option<Vec<i64>>,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            match ids {
                None => {
                    tx.conn
                        .prepare_cached(
                            "UPDATE notifications SET read_at = ?2 WHERE member_id = ?1 AND read_at IS NULL",
                        )?
                        .execute(params![member.0, at.0])?;
                }
                Some(ids) => {
                    let mut stmt = tx.conn.prepare_cached(
                        "UPDATE notifications SET read_at = ?3 WHERE id = ?2 AND member_id = ?1 AND read_at IS NULL",
                    )?;
                    for id in ids {
                        stmt.execute(params![member.0, id, at.0])?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn events_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<EventRecord>> {
        let sql = format!(
            "SELECT {} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            notices::EVENT_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(params![seq, limit], notices::event_row)?
                .collect()
        })
        .await
    }

    async fn last_event_seq(&self) -> StoreResult<i64> {
        self.read(|c| {
            c.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
                .query_row([], |r| r.get(0))
        })
        .await
    }

    async fn consumer_position(&self, name: &str) -> StoreResult<i64> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT seq FROM consumers WHERE name = ?1")?
                    .query_row([name], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        })
        .await
    }

    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM events WHERE seq IN (
                        SELECT seq FROM events
                         WHERE created_at < ?1 AND seq <= (SELECT coalesce(min(seq), 0) FROM consumers)
                         ORDER BY seq LIMIT 10000)",
                )?
                .execute([before.0])?;
            Ok(n as u64)
        })
        .await
    }

    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<MailItem>> {
        let due_sql = format!(
            "SELECT {} FROM mail_queue WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2",
            notices::MAIL_COLS
        );
        let digest_sql = format!(
            "SELECT {} FROM mail_queue WHERE member_id = ?1 AND cadence = ?2 ORDER BY id",
            notices::MAIL_COLS
        );
        self.read(move |c| {
            let due: Vec<MailItem> = c
                .prepare_cached(&due_sql)?
                .query_map(params![now.0, limit], notices::mail_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            let mut digests = std::collections::BTreeSet::new();
            for item in due {
                if item.cadence == rapport_domain::EmailCadence::Immediate {
                    out.push(item);
                } else {
                    digests.insert((item.member, item.cadence.as_str()));
                }
            }
            for (member, cadence) in digests {
                out.extend(
                    c.prepare_cached(&digest_sql)?
                        .query_map(params![member.0, cadence], notices::mail_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn mail_done(&self, ids: Vec<i64>) -> StoreResult<()> {
        self.write(move |tx| {
            let mut stmt = tx
                .conn
                .prepare_cached("DELETE FROM mail_queue WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    async fn mail_queue_depth(&self) -> StoreResult<u64> {
        self.count("SELECT count(*) FROM mail_queue").await
    }

    async fn create_webhook(
        &self,
        url: String,
        events: Vec<String>,
        secret: String,
        at: Timestamp,
    ) -> StoreResult<WebhookRecord> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE id = ?1",
            notices::WEBHOOK_COLS
        );
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO webhooks (url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![url, events.join(","), secret, at.0])?;
            let id = tx.conn.last_insert_rowid();
            Ok(tx
                .conn
                .prepare_cached(&sql)?
                .query_row([id], notices::webhook_row)?)
        })
        .await
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE deleted_at IS NULL ORDER BY id",
            notices::WEBHOOK_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([], notices::webhook_row)?
                .collect()
        })
        .await
    }

    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE id = ?1 AND deleted_at IS NULL",
            notices::WEBHOOK_COLS
        );
        self.by_id(sql, id, notices::webhook_row).await
    }

    async fn delete_webhook(&self, id: i64, at: Timestamp) -> StoreResult<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE webhooks SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                )?
                .execute(params![id, at.0])?;
            if n > 0 {
                tx.conn
                    .prepare_cached(
                        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', finished_at = ?2
                          WHERE webhook_id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, at.0])?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn deliveries(
        &self,
        webhook: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {} FROM webhook_deliveries WHERE webhook_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            notices::DELIVERY_COLS
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![webhook, before.unwrap_or(i64::MAX), limit],
                    notices::delivery_row,
                )?
                .collect()
        })
        .await
    }

    async fn queue_deliveries(
        &self,
        consumer: String,
        seq: i64,
        deliveries: Vec<NewDelivery>,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let mut insert = tx.conn.prepare_cached(
                "INSERT INTO webhook_deliveries (webhook_id, event_seq, msg_id, type, body, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?;
            for d in deliveries {
                insert.execute(params![d.webhook, d.event_seq, d.msg_id, d.kind, d.body, at.0])?;
            }
            tx.conn
                .prepare_cached(
                    "INSERT INTO consumers (name, seq) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)",
                )?
                .execute(params![consumer, seq])?;
            Ok(())
        })
        .await
    }

    async fn delivery_heads(&self) -> StoreResult<Vec<DeliveryRecord>> {
        let cols = notices::DELIVERY_COLS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM webhooks w JOIN webhook_deliveries d
                ON d.id = (SELECT min(id) FROM webhook_deliveries WHERE webhook_id = w.id AND status = 'pending')
              WHERE w.disabled_at IS NULL AND w.deleted_at IS NULL"
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([], notices::delivery_row)?
                .collect()
        })
        .await
    }

    async fn record_attempt(&self, id: i64, attempt: Attempt, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let c = tx.conn;
            match attempt {
                Attempt::Delivered { status } => {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                                last_status = ?2, last_error = NULL, finished_at = ?3
                          WHERE id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, status, at.0])?;
                }
                Attempt::Retry {
                    status,
                    error,
                    retry_at,
                } => {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?2,
                                last_error = ?3, next_attempt_at = ?4
                          WHERE id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, status, error, retry_at.0])?;
                }
                Attempt::GiveUp {
                    status,
                    error,
                    disable_reason,
                } => {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                                last_status = ?2, last_error = ?3, finished_at = ?4
                          WHERE id = ?1 AND status = 'pending'",
                    )?
                    .execute(params![id, status, error, at.0])?;
                    c.prepare_cached(
                        "UPDATE webhooks SET disabled_at = ?2, disabled_reason = ?3
                          WHERE id = (SELECT webhook_id FROM webhook_deliveries WHERE id = ?1) AND disabled_at IS NULL",
                    )?
                    .execute(params![id, at.0, disable_reason])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        self.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .await
    }
}

/// One process writes the embedded store: its leases are always its own, and nobody else revokes
/// its tokens.
impl ReplicaStore for SqliteStore {}

fn member_row_offset(r: &Row<'_>, o: usize) -> rusqlite::Result<MemberRecord> {
    Ok(MemberRecord {
        id: MemberId(r.get(o)?),
        email: r.get(o + 1)?,
        name: r.get(o + 2)?,
        headline: r.get(o + 3)?,
        company: r.get(o + 4)?,
        location: r.get(o + 5)?,
        tier: r.get(o + 6)?,
        role: r.get(o + 7)?,
        status: r.get(o + 8)?,
        invitations_from: r.get(o + 9)?,
        created_at: Timestamp(r.get(o + 10)?),
        notification_prefs: NotificationPrefs::decode(
            r.get::<_, Option<String>>(o + 11)?.as_deref(),
        ),
    })
}
