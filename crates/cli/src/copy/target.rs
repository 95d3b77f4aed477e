//! The PostgreSQL side of `rapport copy`: the target database, its schema check, foreign keys
//! taken off and put back, sequences moved on, and the binary `COPY` of each table.

use super::snapshot::Chunk;
use super::tables::{quoted, Table, TABLES};
use anyhow::{anyhow, bail, Context};
use indicatif::ProgressBar;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::NoTls;

/// The PostgreSQL database written.
pub(super) struct Target {
    pub(super) config: tokio_postgres::Config,
    /// `host:port/database`, for messages (never the password).
    pub(super) name: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> anyhow::Result<Target> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--to {:?}: the target must be a PostgreSQL database, written postgres://USER@HOST:PORT/DATABASE", rapport_app::redact::redact_url(url));
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

    pub(super) async fn connect(&self) -> anyhow::Result<tokio_postgres::Client> {
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
pub(super) fn pg_error(e: &tokio_postgres::Error) -> anyhow::Error {
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
pub(super) async fn check_pg_schema(client: &tokio_postgres::Client) -> anyhow::Result<()> {
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
pub(super) struct ForeignKey {
    pub(super) table: String,
    pub(super) name: String,
    pub(super) definition: String,
}

/// Drops the foreign keys of the copied tables, to add them again once the rows are in: checking
/// a constraint in one join is several times faster than checking it row by row (a network of
/// 10,000 members: connections in 3 s instead of 14). Inside the copy's transaction, so the schema
/// is never seen without them. Only the tables' owner may do this; anyone else copies with the
/// constraints in place.
pub(super) async fn defer_foreign_keys(
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
pub(super) async fn restore_foreign_keys(
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
pub(super) async fn finish_sequences(
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
pub(super) async fn copy_table(
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
