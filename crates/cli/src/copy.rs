//! `rapport copy --from sqlite://PATH --to postgres://URL`: moves a whole network from the embedded
//! store to an empty PostgreSQL database.
//!
//! The SQLite file is opened read-only and read in one transaction, so the copy is one consistent
//! snapshot even while a server keeps writing. The target's schema is brought up to date first
//! (`PgStore::migrate_url`); a target that already holds data is refused. Every table is then
//! streamed with binary `COPY … FROM STDIN`, all inside one PostgreSQL transaction: a copy that
//! fails anywhere leaves the target as it was. Ids keep their values (clients hold them as opaque
//! strings), outbox events keep their numbers (`events.id` = `events.seq` = SQLite's `seq`), and
//! every identity sequence and the event counter move past what was copied, so the first write on
//! PostgreSQL takes the next id. Foreign keys are taken off for the load and added again after it
//! (one checking join each instead of a check per row), inside the same transaction. Before the
//! commit each table's row count is compared with SQLite's; any difference rolls back and exits
//! non-zero.

use anyhow::{anyhow, bail, Context};
use bytes::BytesMut;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rusqlite::types::ValueRef;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

#[derive(clap::Args)]
pub struct Args {
    /// The embedded store to read: sqlite://PATH (a server may keep running on it).
    #[arg(long, value_name = "sqlite://PATH")]
    from: String,
    /// The PostgreSQL database to fill: postgres://USER@HOST:PORT/DATABASE. Its schema is created
    /// when missing; it must hold no data yet.
    #[arg(long, value_name = "postgres://URL")]
    to: String,
}

/// Rows read from SQLite and handed to the writer at a time.
const CHUNK_ROWS: usize = 4096;

/// Chunks read ahead of the writer.
const CHUNKS_AHEAD: usize = 8;

/// How a column's values are carried across.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// INTEGER → BIGINT.
    Int,
    Text,
    /// BLOB → BYTEA.
    Blob,
    /// INTEGER 0/1 → BOOLEAN.
    Bool,
}

impl Kind {
    fn pg_type(self) -> Type {
        match self {
            Kind::Int => Type::INT8,
            Kind::Text => Type::TEXT,
            Kind::Blob => Type::BYTEA,
            Kind::Bool => Type::BOOL,
        }
    }

    /// The name `information_schema.columns.data_type` gives the PostgreSQL column.
    fn pg_name(self) -> &'static str {
        match self {
            Kind::Int => "bigint",
            Kind::Text => "text",
            Kind::Blob => "bytea",
            Kind::Bool => "boolean",
        }
    }
}

struct Column {
    /// The PostgreSQL column written.
    pg: &'static str,
    /// The SQLite column read.
    sqlite: &'static str,
    kind: Kind,
}

const fn int(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Int,
    }
}

const fn text(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Text,
    }
}

const fn blob(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Blob,
    }
}

const fn boolean(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Bool,
    }
}

struct Table {
    name: &'static str,
    columns: &'static [Column],
}

/// Every table that carries data, in an order that satisfies the foreign keys. Not copied: the
/// SQLite search index (`member_search`, PostgreSQL's search columns are generated), and what only
/// PostgreSQL has (`graph_changes`, `leases`; `event_sequence` is set from the events).
const TABLES: &[Table] = &[
    Table {
        name: "members",
        columns: &[
            int("id"),
            text("email"),
            text("password_hash"),
            text("name"),
            text("headline"),
            text("company"),
            text("location"),
            text("tier"),
            text("role"),
            text("status"),
            text("invitations_from"),
            int("created_at"),
            int("pending_sent"),
            int("connection_count"),
            text("notification_prefs"),
        ],
    },
    Table {
        name: "tokens",
        columns: &[blob("hash"), int("member_id"), int("created_at")],
    },
    Table {
        name: "invitations",
        columns: &[
            int("id"),
            int("sender_id"),
            int("recipient_id"),
            text("note"),
            text("state"),
            text("ignore_reason"),
            int("created_at"),
            int("decided_at"),
            int("next_reminder_at"),
            int("reminders_sent"),
        ],
    },
    Table {
        name: "connections",
        columns: &[int("member_id"), int("other_id"), int("created_at")],
    },
    Table {
        name: "idempotency_keys",
        columns: &[
            int("member_id"),
            text("key"),
            blob("request_hash"),
            int("status"),
            blob("body"),
            int("created_at"),
        ],
    },
    Table {
        name: "pair_rules",
        columns: &[
            int("sender_id"),
            int("recipient_id"),
            int("cooldown_until"),
            boolean("barred"),
            int("withdrawals"),
        ],
    },
    Table {
        name: "blocks",
        columns: &[int("blocker_id"), int("blocked_id"), int("created_at")],
    },
    Table {
        name: "restrictions",
        columns: &[
            int("id"),
            int("member_id"),
            int("level"),
            text("reason"),
            text("source"),
            int("starts_at"),
            int("until"),
            int("lifted_at"),
            boolean("end_noticed"),
        ],
    },
    Table {
        name: "reports",
        columns: &[
            int("id"),
            int("invitation_id"),
            int("reporter_id"),
            int("reported_id"),
            int("created_at"),
            text("status"),
            int("resolved_at"),
            int("resolved_by"),
        ],
    },
    Table {
        name: "notifications",
        columns: &[
            int("id"),
            int("member_id"),
            text("kind"),
            int("actor_id"),
            int("invitation_id"),
            int("created_at"),
            int("read_at"),
        ],
    },
    Table {
        name: "mail_queue",
        columns: &[
            int("id"),
            int("member_id"),
            text("kind"),
            text("cadence"),
            int("actor_id"),
            int("invitation_id"),
            int("created_at"),
            int("due_at"),
        ],
    },
    Table {
        name: "events",
        columns: &[
            // Numbered already: the sequencer only numbers events whose `seq` is NULL.
            Column {
                pg: "id",
                sqlite: "seq",
                kind: Kind::Int,
            },
            int("seq"),
            text("type"),
            int("invitation_id"),
            int("a_id"),
            int("b_id"),
            int("notification_id"),
            int("notified_id"),
            text("data"),
            int("created_at"),
        ],
    },
    Table {
        name: "consumers",
        columns: &[text("name"), int("seq")],
    },
    Table {
        name: "webhooks",
        columns: &[
            int("id"),
            text("url"),
            text("events"),
            text("secret"),
            int("created_at"),
            int("disabled_at"),
            text("disabled_reason"),
            int("deleted_at"),
        ],
    },
    Table {
        name: "webhook_deliveries",
        columns: &[
            int("id"),
            int("webhook_id"),
            int("event_seq"),
            text("msg_id"),
            text("type"),
            text("body"),
            text("status"),
            int("attempts"),
            int("next_attempt_at"),
            int("last_status"),
            text("last_error"),
            int("created_at"),
            int("finished_at"),
        ],
    },
];

/// SQLite tables that are not data: the search index and its shadow tables, SQLite's own.
fn is_derived_sqlite_table(name: &str) -> bool {
    name.starts_with("sqlite_") || name == "member_search" || name.starts_with("member_search_")
}

/// `"name"`: column names such as `key`, `type` and `until` are words of SQL.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let source = sqlite_path(&args.from)?;
    let target = Target::parse(&args.to)?;

    // The snapshot: one read transaction from the counts to the last row.
    let reader = tokio::task::block_in_place(|| Snapshot::open(&source))?;
    let last_seq = reader.last_seq;

    let client = target.connect().await?;
    rapport_store::postgres::PgStore::migrate_url(&args.to)
        .await
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("bringing the schema of {} up to date", target.name))?;
    check_pg_schema(&client).await?;

    let mut client = client;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e))
        .context("starting the copy's transaction")?;
    // Nobody writes the tables while they are filled: a server already running on the target
    // waits (or the copy stops after the lock timeout).
    let names: Vec<String> = TABLES.iter().map(|t| quoted(t.name)).collect();
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '10s'; LOCK TABLE {} IN EXCLUSIVE MODE",
        names.join(", ")
    ))
    .await
    .map_err(|e| pg_error(&e))
    .with_context(|| format!("locking the tables of {}", target.name))?;
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(table.name));
        let any: bool = tx
            .query_one(&sql, &[])
            .await
            .map_err(|e| pg_error(&e))?
            .get(0);
        if any {
            bail!(
                "{} already holds data ({} is not empty); rapport copy only fills an empty database, so nothing was written",
                target.name,
                table.name
            );
        }
    }

    // Foreign keys are checked once per constraint after the load, not once per row during it.
    let deferred = defer_foreign_keys(&tx).await?;

    // Progress: a bar per table, drawn only on a terminal.
    let multi = MultiProgress::with_draw_target(if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{msg:>18} [{bar:32}] {human_pos}/{human_len} rows {rate:>12} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        },
    )
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = TABLES
        .iter()
        .zip(&reader.counts)
        .map(|(t, &n)| {
            let pb = multi.add(ProgressBar::new(n as u64));
            pb.set_style(style.clone());
            pb.set_message(t.name);
            pb
        })
        .collect();

    // The reader streams chunks of rows, table after table; the writer copies them in.
    let (send, mut chunks) = tokio::sync::mpsc::channel::<anyhow::Result<Chunk>>(CHUNKS_AHEAD);
    let counts = reader.counts.clone();
    let read = tokio::task::spawn_blocking(move || reader.stream(&send));
    let mut copied: Vec<Duration> = Vec::with_capacity(TABLES.len());
    for (table, pb) in TABLES.iter().zip(&bars) {
        let table_started = Instant::now();
        let result = copy_table(&tx, table, &mut chunks, pb).await;
        if let Err(e) = result {
            multi.clear().ok();
            drop(chunks);
            // A reader's own failure says more than the writer's "the reader stopped".
            if let Ok(Err(read_error)) = read.await {
                return Err(read_error);
            }
            return Err(e.context(format!(
                "copying {}; nothing was written to {}",
                table.name, target.name
            )));
        }
        pb.finish();
        copied.push(table_started.elapsed());
    }
    read.await.context("the SQLite reader")??;
    multi.clear().ok();

    restore_foreign_keys(&tx, &deferred).await?;

    // Ids and event numbers continue after what was copied.
    finish_sequences(&tx, last_seq).await?;

    // The check: every table holds what SQLite held, or nothing is committed.
    let mut pg_counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {}", quoted(table.name));
        let n: i64 = tx
            .query_one(&sql, &[])
            .await
            .map_err(|e| pg_error(&e))?
            .get(0);
        pg_counts.push(n);
    }
    let differ = print_counts(&counts, &pg_counts, &copied);
    if !differ.is_empty() {
        tx.rollback().await.ok();
        bail!(
            "the row counts differ for {}; the copy was rolled back and nothing was written to {}",
            differ.join(", "),
            target.name
        );
    }
    let copy_time = started.elapsed();
    tx.commit()
        .await
        .map_err(|e| pg_error(&e))
        .with_context(|| format!("committing the copy to {}", target.name))?;

    // Fresh statistics, so that the first queries on the new store are planned on real numbers.
    let analyze_started = Instant::now();
    if let Err(e) = client
        .batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await
    {
        eprintln!("rapport: the copy is complete, but ANALYZE failed ({}); autovacuum will gather the statistics later", pg_error(&e));
    }
    let total: i64 = counts.iter().sum();
    println!(
        "{} → {}: {total} rows in {:.1} s ({:.0} rows/s), then ANALYZE in {:.1} s; events continue after {last_seq}",
        source.display(),
        target.name,
        copy_time.as_secs_f64(),
        total as f64 / copy_time.as_secs_f64().max(1e-6),
        analyze_started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// The path of a `sqlite://PATH` URL, which must name an existing file.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        bail!("--from {url:?}: the source must be an embedded store, written sqlite://PATH");
    };
    if rest.is_empty() {
        bail!("--from {url:?}: the path is missing (sqlite://PATH)");
    }
    let path = PathBuf::from(rest);
    if !path.is_file() {
        bail!("--from: there is no SQLite store at {}", path.display());
    }
    Ok(path)
}

/// The PostgreSQL database written.
struct Target {
    config: tokio_postgres::Config,
    /// `host:port/database`, for messages (never the password).
    name: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Target> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--to {url:?}: the target must be a PostgreSQL database, written postgres://USER@HOST:PORT/DATABASE");
        }
        // `pgbouncer=…` is rapport's own option, not the driver's.
        let driver_url = match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|p| !p.is_empty() && !p.starts_with("pgbouncer="))
                    .collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_owned(),
        };
        let mut config: tokio_postgres::Config = driver_url
            .parse()
            .map_err(|e| anyhow!("--to: the PostgreSQL URL is not valid: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres");
        let name = format!("PostgreSQL at {host}:{port}/{database}");
        Ok(Target { config, name })
    }

    async fn connect(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| pg_error(&e))
            .with_context(|| format!("cannot connect to {}", self.name))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "the copy's connection ended");
            }
        });
        Ok(client)
    }
}

/// The database's own message, with its detail and SQLSTATE.
fn pg_error(e: &tokio_postgres::Error) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            anyhow!(text)
        }
        None => {
            // Connection failures say what happened in their source.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            anyhow!(text)
        }
    }
}

/// The target's columns are the ones this copy writes: a schema that grew a column this binary
/// does not know would otherwise lose it silently.
async fn check_pg_schema(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    for table in TABLES {
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'",
                &[&table.name],
            )
            .await
            .map_err(|e| pg_error(&e))
            .context("reading the target's schema")?;
        let found: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let expected: BTreeSet<(String, String)> = table
            .columns
            .iter()
            .map(|c| (c.pg.to_owned(), c.kind.pg_name().to_owned()))
            .collect();
        if found != expected {
            bail!(
                "the target's table {} has the columns {:?}, but this binary copies {:?}; use the rapport release that matches the database",
                table.name,
                found,
                expected
            );
        }
    }
    Ok(())
}

/// A foreign key taken off for the load: its table, name and definition.
struct ForeignKey {
    table: String,
    name: String,
    definition: String,
}

/// Drops the foreign keys of the copied tables, to add them again once the rows are in: checking
/// a constraint in one join is several times faster than checking it row by row (a network of
/// 10,000 members: connections in 3 s instead of 14). Inside the copy's transaction, so the schema
/// is never seen without them. Only the tables' owner may do this; anyone else copies with the
/// constraints in place.
async fn defer_foreign_keys(
    tx: &tokio_postgres::Transaction<'_>,
) -> anyhow::Result<Vec<ForeignKey>> {
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let rows = tx
        .query(
            "SELECT quote_ident(r.relname), quote_ident(c.conname), pg_get_constraintdef(c.oid)
               FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
              WHERE c.contype = 'f' AND r.relnamespace = current_schema()::regnamespace
                AND r.relname = ANY($1)
              ORDER BY r.relname, c.conname",
            &[&names],
        )
        .await
        .map_err(|e| pg_error(&e))
        .context("reading the target's foreign keys")?;
    let keys: Vec<ForeignKey> = rows
        .iter()
        .map(|r| ForeignKey {
            table: r.get(0),
            name: r.get(1),
            definition: r.get(2),
        })
        .collect();
    let drop: String = keys
        .iter()
        .map(|k| format!("ALTER TABLE {} DROP CONSTRAINT {};", k.table, k.name))
        .collect();
    let attempt = tx
        .batch_execute(&format!(
            "SAVEPOINT defer_keys; {drop} RELEASE SAVEPOINT defer_keys"
        ))
        .await;
    match attempt {
        Ok(()) => Ok(keys),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT defer_keys")
                .await
                .map_err(|e| pg_error(&e))?;
            eprintln!("rapport: not the owner of the tables, so foreign keys are checked row by row (slower)");
            Ok(Vec::new())
        }
        Err(e) => Err(pg_error(&e).context("taking the foreign keys off for the load")),
    }
}

/// Adds the foreign keys taken off for the load again, each checked over the copied rows.
async fn restore_foreign_keys(
    tx: &tokio_postgres::Transaction<'_>,
    keys: &[ForeignKey],
) -> anyhow::Result<()> {
    for k in keys {
        tx.batch_execute(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            k.table, k.name, k.definition
        ))
        .await
        .map_err(|e| pg_error(&e))
        .with_context(|| {
            format!(
                "checking the foreign key {} of {}; nothing was written",
                k.name, k.table
            )
        })?;
    }
    Ok(())
}

/// Moves every identity sequence past the largest id copied, and the event counter past the
/// largest event number SQLite ever gave.
async fn finish_sequences(
    tx: &tokio_postgres::Transaction<'_>,
    last_seq: i64,
) -> anyhow::Result<()> {
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND is_identity = 'YES' AND table_name = ANY($1)",
            &[&names],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    for row in identities {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        // `is_called = false`: the next value is max + 1 (1 on an empty table).
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max({}), 0) + 1, false) FROM {}",
            quoted(&column),
            quoted(&table)
        );
        tx.query_one(&sql, &[&quoted(&table), &column])
            .await
            .map_err(|e| pg_error(&e))
            .with_context(|| format!("moving the id sequence of {table}"))?;
    }
    tx.execute(
        "UPDATE event_sequence SET last_seq = greatest(last_seq, $1)",
        &[&last_seq],
    )
    .await
    .map_err(|e| pg_error(&e))
    .context("setting the event counter")?;
    Ok(())
}

/// Copies one table's chunks as the reader sends them; returns the rows PostgreSQL took.
async fn copy_table(
    tx: &tokio_postgres::Transaction<'_>,
    table: &Table,
    chunks: &mut tokio::sync::mpsc::Receiver<anyhow::Result<Chunk>>,
    pb: &ProgressBar,
) -> anyhow::Result<u64> {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(c.pg)).collect();
    let types: Vec<Type> = table.columns.iter().map(|c| c.kind.pg_type()).collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        quoted(table.name),
        columns.join(", ")
    );
    let sink = tx.copy_in(&sql).await.map_err(|e| pg_error(&e))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    loop {
        match chunks.recv().await {
            Some(Ok(Chunk::Rows(values))) => {
                let rows = values.len() / types.len();
                for row in values.chunks_exact(types.len()) {
                    writer
                        .as_mut()
                        .write_raw(row.iter())
                        .await
                        .map_err(|e| pg_error(&e))?;
                }
                pb.inc(rows as u64);
            }
            Some(Ok(Chunk::End)) => break,
            Some(Err(e)) => return Err(e),
            None => bail!("the SQLite reader stopped"),
        }
    }
    writer.as_mut().finish().await.map_err(|e| pg_error(&e))
}

/// Prints SQLite's and PostgreSQL's count of each table; returns the tables whose counts differ.
fn print_counts(sqlite: &[i64], pg: &[i64], copied: &[Duration]) -> Vec<&'static str> {
    let mut differ = Vec::new();
    println!(
        "{:<20} {:>12} {:>12} {:>9}",
        "table", "SQLite", "PostgreSQL", "seconds"
    );
    for (i, table) in TABLES.iter().enumerate() {
        let ok = sqlite[i] == pg[i];
        if !ok {
            differ.push(table.name);
        }
        let seconds = copied.get(i).map(|c| c.as_secs_f64()).unwrap_or(0.0);
        println!(
            "{:<20} {:>12} {:>12} {:>9.2}  {}",
            table.name,
            sqlite[i],
            pg[i],
            seconds,
            if ok { "ok" } else { "DIFFERS" }
        );
    }
    differ
}

/// What the reader hands the writer: the values of up to [`CHUNK_ROWS`] rows, row after row, or
/// the end of the current table.
enum Chunk {
    Rows(Vec<Value>),
    End,
}

/// One value on its way to PostgreSQL.
#[derive(Debug)]
enum Value {
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

fn convert(v: ValueRef<'_>, kind: Kind) -> Result<Value, String> {
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
struct Snapshot {
    conn: rusqlite::Connection,
    path: PathBuf,
    /// Each table's rows, in [`TABLES`] order.
    counts: Vec<i64>,
    /// The largest event number SQLite gave, pruned events included.
    last_seq: i64,
}

impl Snapshot {
    fn open(path: &Path) -> anyhow::Result<Snapshot> {
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
    fn stream(self, send: &tokio::sync::mpsc::Sender<anyhow::Result<Chunk>>) -> anyhow::Result<()> {
        let result = self.stream_tables(send);
        if let Err(e) = &result {
            let _ = send.blocking_send(Err(anyhow!("{e:#}")));
        }
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    fn stream_tables(
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
fn check_sqlite_schema(conn: &rusqlite::Connection) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table and column of a freshly migrated embedded store is copied.
    #[test]
    fn the_copy_covers_the_whole_sqlite_schema() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("rapport.db");
        rapport_store::sqlite::migrate(&path).expect("migrates");
        let snapshot = Snapshot::open(&path).expect("the schema is the one copied");
        assert_eq!(snapshot.counts, vec![0; TABLES.len()]);
        assert_eq!(snapshot.last_seq, 0);
    }

    #[test]
    fn urls_are_checked() {
        assert!(sqlite_path("mysql://x").is_err());
        assert!(sqlite_path("sqlite://").is_err());
        let e = sqlite_path("sqlite:///no/such/file.db").expect_err("missing");
        assert!(e.to_string().contains("no SQLite store"), "{e}");
        assert!(Target::parse("sqlite:///x").is_err());
        let t = Target::parse("postgres://u:secret@db.example:6543/net?pgbouncer=true")
            .expect("a valid URL");
        assert_eq!(t.name, "PostgreSQL at db.example:6543/net");
    }

    #[test]
    fn values_keep_their_kind() {
        assert!(matches!(
            convert(ValueRef::Integer(1), Kind::Bool),
            Ok(Value::Bool(true))
        ));
        assert!(matches!(
            convert(ValueRef::Integer(0), Kind::Bool),
            Ok(Value::Bool(false))
        ));
        assert!(convert(ValueRef::Integer(2), Kind::Bool).is_err());
        assert!(convert(ValueRef::Text(b"x"), Kind::Int).is_err());
        assert!(matches!(
            convert(ValueRef::Null, Kind::Text),
            Ok(Value::Null)
        ));
        assert!(matches!(
            convert(ValueRef::Blob(&[1, 2]), Kind::Blob),
            Ok(Value::Blob(b)) if b == [1, 2]
        ));
    }
}
