//! The embedded store: one SQLite file in WAL mode, one group-committing writer thread whose
//! commits a syncer thread makes durable before any request is answered ([`writer`]), and a pool of
//! reader connections that run in parallel.
//!
//! Each area's trait ([`AccountStore`] and the others, see the crate doc) is implemented in the
//! module of the area's name, as in the PostgreSQL store. [`rules`] holds the steps several areas
//! share; [`facts`] and [`plan`] read what a plan is made of and carry it out; [`notices`] writes
//! what a plan tells and reads the outbox's rows back.

mod accounts;
pub mod bulk;
mod checkpoint;
mod facts;
mod identity;
mod invitations;
mod network;
mod notices;
mod outbox;
mod plan;
mod rules;
mod standing;
mod writer;

pub use checkpoint::CheckpointSettings;
pub use writer::{refusable, WriterSettings, MAX_BATCH};

use crate::member_cache::MemberCache;
use crate::*;
use rapport_domain::{IgnoreReason, InvitationState, NotificationPrefs};
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
    include_str!("../../migrations/sqlite/0007_token_lifetimes.sql"),
    include_str!("../../migrations/sqlite/0008_secrets.sql"),
    include_str!("../../migrations/sqlite/0009_wrong_emails.sql"),
    include_str!("../../migrations/sqlite/0010_pending_signups.sql"),
    include_str!("../../migrations/sqlite/0011_identities.sql"),
    include_str!("../../migrations/sqlite/0012_fewer_pages.sql"),
];

/// The size the write-ahead log file is trimmed to when it starts again from its beginning (it
/// may grow past it between two restarts; see [`checkpoint`]), where no [`CheckpointSettings`]
/// say otherwise: the bulk loader's connection. The server's is twice its restart size.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 << 20;

/// Prepared statements kept per connection. rusqlite's default of 16 is fewer than the distinct
/// statements a connection runs, and an evicted statement is parsed again on its next use
/// (measured: parsing took 13% of the writer's time).
const STATEMENT_CACHE: usize = 256;

/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 32;

/// A full disk (`SQLITE_FULL`: the file system, or the largest size the operator set with
/// `RAPPORT_SQLITE_MAX_SIZE`) is [`StoreError::StorageFull`]: the write is refused, nothing of it
/// is kept, and the next write that finds room succeeds. Anything else is a failure.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if is_full(&e) {
            StoreError::StorageFull(e.to_string())
        } else {
            StoreError::Internal(e.to_string())
        }
    }
}

/// Is `e` SQLite's `SQLITE_FULL`?
fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

/// What the operator may set about the embedded store.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteOptions {
    /// The largest size in bytes the database may grow to (`RAPPORT_SQLITE_MAX_SIZE`): past it,
    /// writes are refused as [`StoreError::StorageFull`], exactly as when the disk is full. A
    /// database already larger keeps its size and cannot grow.
    pub max_size: Option<u64>,
    /// The writer's backlog budget and checkpoints.
    pub writer: WriterSettings,
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
/// written; the writer's syncer then fsyncs them before anyone is answered (see [`writer`]). The
/// connection never checkpoints by itself: the checkpointer does (see [`checkpoint`]).
fn open_writer_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
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

/// Opens the checkpointer's connection: `synchronous=NORMAL`, so that its checkpoints fsync the
/// log before copying it and the database after.
fn open_checkpointer_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")?;
    Ok(conn)
}

/// Caps the database the writer connection writes at `bytes` (`PRAGMA max_page_count`, which
/// SQLite does not let go below the pages already in use).
fn limit_size(conn: &Connection, bytes: u64) -> StoreResult<()> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages = (bytes / page_size.max(1) as u64).max(1);
    let set: i64 =
        conn.pragma_update_and_check(None, "max_page_count", pages as i64, |r| r.get(0))?;
    if set as u64 > pages {
        tracing::warn!(
            max_size = bytes,
            size = set as u64 * page_size as u64,
            "the database is already larger than RAPPORT_SQLITE_MAX_SIZE: it keeps its size, \
             and writes that need more room are refused"
        );
    }
    Ok(())
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
        Self::open_with(path, SqliteOptions::default(), hook)
    }

    /// [`SqliteStore::open`] with the operator's [`SqliteOptions`].
    pub fn open_with(
        path: &Path,
        options: SqliteOptions,
        hook: CommitHook,
    ) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = open_writer_connection(path)?;
        conn.pragma_update(
            None,
            "journal_size_limit",
            options.writer.checkpoints.wal_size_limit(),
        )?;
        migrate_connection(&mut conn)?;
        if let Some(bytes) = options.max_size {
            limit_size(&conn, bytes)?;
        }
        let members = Arc::new(MemberCache::default());
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let writer = Writer::start(
            conn,
            open_checkpointer_connection(path)?,
            PathBuf::from(wal),
            members.clone().follow(hook),
            options.writer,
        )
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

fn member_row_offset(r: &Row<'_>, o: usize) -> rusqlite::Result<MemberRecord> {
    let id = MemberId(r.get(o)?);
    let (tier, role, status, invitations_from) = MemberRecord::decode_state(
        id,
        r.get_ref(o + 6)?.as_str()?,
        r.get_ref(o + 7)?.as_str()?,
        r.get_ref(o + 8)?.as_str()?,
        r.get_ref(o + 9)?.as_str()?,
    );
    Ok(MemberRecord {
        id,
        email: r.get(o + 1)?,
        name: r.get(o + 2)?,
        headline: r.get(o + 3)?,
        company: r.get(o + 4)?,
        location: r.get(o + 5)?,
        tier,
        role,
        status,
        invitations_from,
        created_at: Timestamp(r.get(o + 10)?),
        notification_prefs: NotificationPrefs::decode(
            r.get::<_, Option<String>>(o + 11)?.as_deref(),
        ),
    })
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

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

/// One process writes the embedded store: its leases are always its own, and nobody else revokes
/// its tokens.
impl ReplicaStore for SqliteStore {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_database_is_storage_full_and_other_failures_are_internal() {
        let conn = Connection::open_in_memory().expect("opens");
        conn.execute_batch("CREATE TABLE t (x BLOB)")
            .expect("a table");
        limit_size(&conn, 64 * 1024).expect("limits");
        let full = (0..1000)
            .map(|_| conn.execute("INSERT INTO t VALUES (zeroblob(4000))", []))
            .find_map(Result::err)
            .expect("64 KiB fill up");
        assert!(
            matches!(StoreError::from(full), StoreError::StorageFull(_)),
            "a full database"
        );
        let other = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .unwrap_err();
        assert!(matches!(StoreError::from(other), StoreError::Internal(_)));
        // Reads go on.
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("reads");
        assert!(n > 0);
    }
}
