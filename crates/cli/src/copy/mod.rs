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
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod snapshot;
mod tables;
mod target;

use snapshot::{Chunk, Snapshot};
use tables::{quoted, TABLES};
use target::{
    check_pg_schema, copy_table, defer_foreign_keys, finish_sequences, pg_error,
    restore_foreign_keys, Target,
};

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
        bail!(
            "--from {:?}: the source must be an embedded store, written sqlite://PATH",
            rapport_app::redact::redact_url(url)
        );
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

#[cfg(test)]
mod tests {
    use super::snapshot::{convert, Value};
    use super::tables::Kind;
    use super::*;
    use rusqlite::types::ValueRef;

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
