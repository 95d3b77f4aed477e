//! Loading a whole network into an empty store at once, for `rapport seed`: plain inserts in key
//! order through one connection, committed every [`CHUNK`] rows. It goes around the writer (and
//! its commit hook) on purpose: no member exists yet to see the rows, nothing is notified, and the
//! server is not running. Counters the writer keeps (`connection_count`, `pending_sent`) are
//! written with the rows.

use super::{migrate_connection, open_writer_connection};
use crate::{StoreError, StoreResult};
use rusqlite::{params, CachedStatement, Connection};
use std::path::Path;

/// Rows per transaction.
const CHUNK: usize = 100_000;

pub struct BulkLoader {
    conn: Connection,
}

/// A member row as the seed writes it. Ids are given, from 1, so that connections can name them.
pub struct BulkMember<'a> {
    pub id: i64,
    pub email: String,
    pub password_hash: &'a str,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: &'a str,
    pub created_at: i64,
    pub connection_count: i64,
    pub pending_sent: i64,
}

impl BulkLoader {
    /// Opens the store at `path` (creating and migrating it) and checks that it holds no member.
    pub fn open(path: &Path) -> StoreResult<BulkLoader> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = open_writer_connection(path)?;
        // A bulk load has no one waiting on it: SQLite's own checkpoints keep the log short.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        migrate_connection(&mut conn)?;
        let members: i64 = conn.query_row("SELECT count(*) FROM members", [], |r| r.get(0))?;
        if members > 0 {
            return Err(StoreError::Internal(format!(
                "{} already holds {members} members; seed a new store (another --data-dir)",
                path.display()
            )));
        }
        Ok(BulkLoader { conn })
    }

    /// Runs `sql` once per row, binding each with `bind`, committing every [`CHUNK`] rows and
    /// reporting the rows written so far after each commit. Returns how many were written.
    fn insert_in_chunks<R>(
        &mut self,
        sql: &str,
        rows: impl Iterator<Item = R>,
        mut bind: impl FnMut(&mut CachedStatement<'_>, R) -> rusqlite::Result<usize>,
        progress: &mut dyn FnMut(u64),
    ) -> StoreResult<u64> {
        let mut rows = rows.peekable();
        let mut written = 0u64;
        while rows.peek().is_some() {
            let tx = self.conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(sql)?;
                for row in rows.by_ref().take(CHUNK) {
                    bind(&mut insert, row)?;
                    written += 1;
                }
            }
            tx.commit()?;
            progress(written);
        }
        Ok(written)
    }

    /// Writes members, which must have no email in common.
    pub fn members<'a>(
        &mut self,
        rows: impl Iterator<Item = BulkMember<'a>>,
        progress: &mut dyn FnMut(u64),
    ) -> StoreResult<u64> {
        self.insert_in_chunks(
            "INSERT INTO members (id, email, password_hash, name, headline, company, location,
                                  created_at, connection_count, pending_sent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            rows,
            |insert, m| {
                insert.execute(params![
                    m.id,
                    m.email,
                    m.password_hash,
                    m.name,
                    m.headline,
                    m.company,
                    m.location,
                    m.created_at,
                    m.connection_count,
                    m.pending_sent
                ])
            },
            progress,
        )
    }

    /// Writes directed connections `(member, other, created_at)`, which must come in key order.
    pub fn connections(
        &mut self,
        rows: impl Iterator<Item = (i64, i64, i64)>,
        progress: &mut dyn FnMut(u64),
    ) -> StoreResult<u64> {
        self.insert_in_chunks(
            "INSERT INTO connections (member_id, other_id, created_at) VALUES (?1, ?2, ?3)",
            rows,
            |insert, (a, b, at)| insert.execute(params![a, b, at]),
            progress,
        )
    }

    /// Writes pending invitations `(sender, recipient, created_at, next_reminder_at)` without
    /// notes; at most one per pair (the store's unique index refuses a second).
    pub fn pending_invitations(
        &mut self,
        rows: &[(i64, i64, i64, i64)],
        progress: &mut dyn FnMut(u64),
    ) -> StoreResult<()> {
        self.insert_in_chunks(
            "INSERT INTO invitations (sender_id, recipient_id, created_at, next_reminder_at)
             VALUES (?1, ?2, ?3, ?4)",
            rows.iter().copied(),
            |insert, (from, to, at, remind)| insert.execute(params![from, to, at, remind]),
            progress,
        )?;
        Ok(())
    }

    /// Writes API tokens `(token hash, member, created_at)`: only the SHA-256 of a token is stored,
    /// as sign-in stores it, so the load generator can hand tokens to seeded members without
    /// hashing a password for each. Hashes must be distinct.
    pub fn tokens(
        &mut self,
        rows: impl Iterator<Item = (crate::TokenHash, i64, i64)>,
    ) -> StoreResult<u64> {
        self.insert_in_chunks(
            "INSERT INTO tokens (hash, member_id, created_at, last_used_at) VALUES (?1, ?2, ?3, ?3)",
            rows,
            |insert, (hash, member, at)| insert.execute(params![&hash[..], member, at]),
            &mut |_| {},
        )
    }

    /// Updates the planner's statistics and folds the log into the database file.
    pub fn finish(self) -> StoreResult<()> {
        self.conn
            .execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}
