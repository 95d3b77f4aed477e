//! The SQLite side of `rapport copy`: one read-only snapshot of the store, its schema checked
//! against what the copy knows, read in chunks and converted value by value.

use super::tables::{is_derived_sqlite_table, quoted, Kind, TABLES};
use super::CHUNK_ROWS;
use anyhow::{anyhow, bail, Context};
use bytes::BytesMut;
use rusqlite::types::ValueRef;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// What the reader hands the writer: the values of up to [`CHUNK_ROWS`] rows, row after row, or
/// the end of the current table.
pub(super) enum Chunk {
    Rows(Vec<Value>),
    End,
}

/// One value on its way to PostgreSQL.
#[derive(Debug)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // Each checks its own type against the column's, so a mismatch is an error, not garbage.
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => v.to_sql_checked(ty, out),
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Blob(v) => v.to_sql_checked(ty, out),
            Value::Bool(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(super) fn convert(v: ValueRef<'_>, kind: Kind) -> Result<Value, String> {
    Ok(match (v, kind) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), Kind::Int) => Value::Int(i),
        (ValueRef::Integer(0), Kind::Bool) => Value::Bool(false),
        (ValueRef::Integer(1), Kind::Bool) => Value::Bool(true),
        (ValueRef::Text(t), Kind::Text) => Value::Text(
            String::from_utf8(t.to_vec()).map_err(|_| "text that is not UTF-8".to_owned())?,
        ),
        (ValueRef::Blob(b), Kind::Blob) => Value::Blob(b.to_vec()),
        (ValueRef::Text(t), Kind::Blob) => Value::Blob(t.to_vec()),
        (other, kind) => {
            return Err(format!(
                "{} where {kind:?} belongs",
                match other {
                    ValueRef::Integer(i) => format!("the integer {i}"),
                    ValueRef::Real(r) => format!("the real {r}"),
                    ValueRef::Text(_) => "text".into(),
                    ValueRef::Blob(_) => "a blob".into(),
                    ValueRef::Null => "NULL".into(),
                }
            ))
        }
    })
}

/// The source, read-only, inside one read transaction from the counts to the last row.
pub(super) struct Snapshot {
    pub(super) conn: rusqlite::Connection,
    pub(super) path: PathBuf,
    /// Each table's rows, in [`TABLES`] order.
    pub(super) counts: Vec<i64>,
    /// The largest event number SQLite gave, pruned events included.
    pub(super) last_seq: i64,
}

impl Snapshot {
    pub(super) fn open(path: &Path) -> anyhow::Result<Snapshot> {
        let what = || format!("reading the SQLite store at {}", path.display());
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .with_context(what)?;
        conn.busy_timeout(Duration::from_secs(5))
            .with_context(what)?;
        // A deferred transaction takes its snapshot at the first read, the check below; every
        // later read sees the same state, whatever a running server commits meanwhile.
        conn.execute_batch("BEGIN").with_context(what)?;
        check_sqlite_schema(&conn).with_context(what)?;
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {}", quoted(table.name)),
                    [],
                    |r| r.get(0),
                )
                .with_context(what)?;
            counts.push(n);
        }
        // AUTOINCREMENT never gives a number twice: the counter in sqlite_sequence is past every
        // event ever written, pruned ones too. Consumers and live clients hold such numbers.
        let last_seq: i64 = conn
            .query_row(
                "SELECT max(coalesce((SELECT max(seq) FROM events), 0),
                            coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
                            coalesce((SELECT max(seq) FROM consumers), 0))",
                [],
                |r| r.get(0),
            )
            .with_context(what)?;
        Ok(Snapshot {
            conn,
            path: path.to_owned(),
            counts,
            last_seq,
        })
    }

    /// Sends every table's rows, in chunks, then its end; stops early when the writer has gone.
    pub(super) fn stream(
        self,
        send: &tokio::sync::mpsc::Sender<anyhow::Result<Chunk>>,
    ) -> anyhow::Result<()> {
        let result = self.stream_tables(send);
        if let Err(e) = &result {
            let _ = send.blocking_send(Err(anyhow!("{e:#}")));
        }
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    pub(super) fn stream_tables(
        &self,
        send: &tokio::sync::mpsc::Sender<anyhow::Result<Chunk>>,
    ) -> anyhow::Result<()> {
        for (table, &count) in TABLES.iter().zip(&self.counts) {
            let columns: Vec<String> = table.columns.iter().map(|c| quoted(c.sqlite)).collect();
            let sql = format!("SELECT {} FROM {}", columns.join(", "), quoted(table.name));
            let mut stmt = self
                .conn
                .prepare(&sql)
                .with_context(|| format!("reading {} from {}", table.name, self.path.display()))?;
            let mut rows = stmt.query([])?;
            let width = table.columns.len();
            let mut values = Vec::with_capacity(CHUNK_ROWS * width);
            let mut read: i64 = 0;
            while let Some(row) = rows.next()? {
                for (i, column) in table.columns.iter().enumerate() {
                    let value = convert(row.get_ref(i)?, column.kind).map_err(|e| {
                        anyhow!("{}.{} (row {}): {e}", table.name, column.sqlite, read + 1)
                    })?;
                    values.push(value);
                }
                read += 1;
                if values.len() >= CHUNK_ROWS * width {
                    let full =
                        std::mem::replace(&mut values, Vec::with_capacity(CHUNK_ROWS * width));
                    if send.blocking_send(Ok(Chunk::Rows(full))).is_err() {
                        return Ok(());
                    }
                }
            }
            if read != count {
                bail!(
                    "{}: read {read} rows but counted {count} in the same snapshot",
                    table.name
                );
            }
            if !values.is_empty() && send.blocking_send(Ok(Chunk::Rows(values))).is_err() {
                return Ok(());
            }
            if send.blocking_send(Ok(Chunk::End)).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The source's tables and columns are the ones this copy reads: anything else is a store of
/// another version, which would lose data silently.
pub(super) fn check_sqlite_schema(conn: &rusqlite::Connection) -> anyhow::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        bail!("this is not a rapport store (its schema version is 0)");
    }
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let tables: BTreeSet<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    let known: BTreeSet<String> = TABLES.iter().map(|t| t.name.to_owned()).collect();
    let data: BTreeSet<String> = tables
        .iter()
        .filter(|t| !is_derived_sqlite_table(t))
        .cloned()
        .collect();
    if let Some(missing) = known.difference(&data).next() {
        bail!("the store has no table {missing} (schema version {version}); bring it up to date with `rapport migrate` first");
    }
    if let Some(unknown) = data.difference(&known).next() {
        bail!("the store has a table {unknown} this binary does not know how to copy (schema version {version}); use the rapport release that wrote it");
    }
    for table in TABLES {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
        let found: BTreeSet<String> = stmt
            .query_map([table.name], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        let expected: BTreeSet<String> =
            table.columns.iter().map(|c| c.sqlite.to_owned()).collect();
        if let Some(missing) = expected.difference(&found).next() {
            bail!("the store's table {} has no column {missing} (schema version {version}); bring it up to date with `rapport migrate` first", table.name);
        }
        if let Some(unknown) = found.difference(&expected).next() {
            bail!("the store's table {} has a column {unknown} this binary does not copy (schema version {version}); use the rapport release that wrote it", table.name);
        }
    }
    Ok(())
}
