//! The PostgreSQL side of a load run (`--postgres`): a fresh database filled from the seeded store
//! with `rapport copy`, warmed up before anything is measured, its size at the end.

use super::report::MIB;
use super::runner::run_closed;
use super::servers::Rapport;
use super::workload::{World, MIXED};
use super::Plan;
use rapport_store::postgres::scratch::ScratchDatabase;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Creates a fresh database on the PostgreSQL server at `server` and fills it from the seeded
/// store at `path` with `rapport copy`. Returns the database (dropped when it is) and how long the
/// copy took.
pub(crate) async fn copy_into_fresh_database(
    rapport: &Rapport,
    server: &str,
    path: &Path,
) -> anyhow::Result<(ScratchDatabase, f64)> {
    let db = ScratchDatabase::create(server, "rapport_bench")
        .await
        .map_err(|e| anyhow::anyhow!("creating the benchmark's database: {e}"))?;
    eprintln!("copying the seeded store into {} ...", db.url);
    let started = Instant::now();
    rapport.copy(path, &db.url)?;
    Ok((db, started.elapsed().as_secs_f64()))
}

/// Brings a freshly copied PostgreSQL database to the state of one in service before anything is
/// measured: the tables the copy left empty (notifications, mail, events, pair rules) get rows, and
/// `ANALYZE` gives the planner their statistics. Without it every connection keeps the plans it
/// made for empty tables (sequential scans) until autovacuum's next analyze, a minute or more
/// later, and a 10 s run measures that instead of the steady state.
pub(crate) async fn warm_up(world: &Arc<World>, plan: &Plan, url: &str) -> anyhow::Result<()> {
    let secs = plan.duration.min(Duration::from_secs(5));
    run_closed(world, plan.connections, secs, &MIXED, None).await;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client.batch_execute("ANALYZE").await?;
    drop(client);
    let _ = driver.await;
    eprintln!(
        "warmed up with {:.0} s of the mixed workload, then ANALYZE",
        secs.as_secs_f64()
    );
    Ok(())
}

/// `pg_database_size` of the database at `url`, in MiB.
pub(crate) async fn size_mib(url: &str) -> anyhow::Result<f64> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let bytes: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    drop(client);
    let _ = driver.await;
    Ok(bytes as f64 / MIB)
}
