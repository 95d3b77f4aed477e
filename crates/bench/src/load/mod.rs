//! `rapport-bench load`: a load generator that drives a real Rapport server over HTTP and reports,
//! per scenario, throughput and latency percentiles, side by side with the no-op ceiling
//! (`GET /healthz`) measured in the same run.
//!
//! It seeds a fresh store with `rapport seed`'s writer: a power-law network clustered by company
//! and city, `--members` members with about `--avg-connections` each (20 by default, the size of
//! the plain-SQL anchor's ~20 random connections each). `--active` of them (at most 20,000 by
//! default, so that large stores seed fast) get an API token, written as its hash like sign-in
//! writes it, without hashing a password per member; they make the load. Who acts is skewed: each
//! operation draws the token holder `⌊active·u^skew⌋` (u uniform), so with `--skew 3` the busiest
//! 1 % make about a fifth of the draws.
//!
//! It then starts `rapport serve` on the store as a child process (client and server are separate
//! processes, as in production; the `rapport` binary beside this one unless `--rapport` names
//! another), runs each scenario for `--duration` over `--connections` keep-alive connections,
//! reads the server's memory from /proc and the store's size on disk, and stops the server.
//!
//! Scenarios: `noop`, `send`, `accept`, `withdraw`, `inbox` (received list, first page, with
//! mutual counts), `mixed` (per 12 operations: 5 send, 2 accept, 1 withdraw, 4 inbox reads) —
//! as the plain-SQL anchor runs them — and `profile` (another member's profile: relationship,
//! degree, mutual count) and `search` (a full name, surname or company word of the seeded
//! profiles, first page of 20).
//!
//! Closed loop by default: each connection sends its next request when the last is answered.
//! `--rate R` runs open loop instead: request k is due at start + k/R, each connection takes the
//! next due request from a shared counter (waiting if it is early), and latency is measured from
//! when the request was due, so time spent queued behind a slow answer counts (no coordinated
//! omission). `--open-at-half` runs every scenario closed loop, then open loop at half the
//! throughput it reached. `--growth` runs it all on networks of several sizes ([`growth`]).
//!
//! `--postgres URL` runs the servers on PostgreSQL instead: the network is seeded into SQLite as
//! above, a fresh database is created on that server, `rapport copy` (a child process, like the
//! servers) moves the seeded store into it, and `--replicas` `rapport serve` processes are started
//! on it, each on its own port with its own data directory; connection k talks to replica
//! k mod N. The replicas are stopped and the database dropped at the end.
//!
//! The modules: [`seed`] writes the store, [`servers`] runs `rapport` ([`postgres`] with
//! `--postgres`), [`workload`] decides who does what, [`client`] sends it, [`runner`] runs the
//! scenarios closed and open loop, [`report`] prints and keeps the figures, [`pg_cpu`] reads
//! PostgreSQL's CPU from /proc.

mod client;
mod growth;
mod pg_cpu;
mod postgres;
mod report;
mod runner;
mod seed;
mod servers;
mod store_watch;
mod workload;

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;
use report::{load_average, print_summary, Machine, Report, ServerFigures, MIB};
use servers::{Rapport, Server};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{Scenario, World, DEFAULT_SCENARIOS, GROWTH_SCENARIOS};

#[derive(clap::Args)]
pub struct Args {
    /// Members to seed: a power-law network clustered by company and city, as `rapport seed` draws it.
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    /// Average connections per member (about 20 keeps it comparable with the plain-SQL anchor).
    #[arg(long, default_value_t = 20)]
    avg_connections: usize,
    /// Members given a token, who make the load [default: all members, at most 20000].
    #[arg(long)]
    active: Option<usize>,
    /// Who acts: token holder ⌊active·u^skew⌋ for u uniform; 3 makes the busiest 1 % about a fifth
    /// of the draws, 1 draws uniformly.
    #[arg(long, default_value_t = 3.0)]
    skew: f64,
    /// Concurrent connections (closed loop: each sends its next request when the last is answered).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long each scenario runs, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Scenarios to run, in order [default: noop,mixed,inbox,send,accept,withdraw,profile,search;
    /// with --growth: mixed,inbox,profile,search].
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<Scenario>>,
    /// Open loop at this fixed arrival rate (requests per second) instead of closed loop.
    #[arg(long, conflicts_with_all = ["open_at_half", "open_at"])]
    rate: Option<f64>,
    /// After each scenario's closed-loop run, run it open loop at half the throughput it reached
    /// (always on with --growth, unless --rate is given). The same as --open-at 0.5.
    #[arg(long, conflicts_with = "open_at")]
    open_at_half: bool,
    /// After each scenario's closed-loop run, run it open loop at each of these fractions of the
    /// throughput it reached, e.g. 0.5,0.8.
    #[arg(long, value_delimiter = ',')]
    open_at: Option<Vec<f64>>,
    /// Run the workload on networks of each of these sizes in turn (e.g. 10000,100000,1000000),
    /// print a table and write JSON and SVG plots to --out.
    #[arg(long, value_delimiter = ',', conflicts_with = "members")]
    growth: Option<Vec<usize>>,
    /// Where --growth writes its JSON and plots.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the seeded store here instead of a temporary directory (with --growth, one
    /// subdirectory per size).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seed of the network generator (the same seed draws the same network).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run on PostgreSQL: a fresh database on this server (a postgres:// URL of any database
    /// there), filled from the seeded store with `rapport copy` and dropped at the end.
    #[arg(long, value_name = "postgres://URL", conflicts_with = "growth")]
    postgres: Option<String>,
    /// `rapport serve` replicas on the PostgreSQL database, connections spread over them
    /// round-robin (more than one needs --postgres).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Database connections each replica keeps (`pool_size` on its database URL; the server's
    /// default when not given). Needs --postgres.
    #[arg(long, value_name = "N", requires = "postgres")]
    pool_size: Option<usize>,
    /// The `rapport` binary to run [default: the one beside rapport-bench].
    #[arg(long, env = "RAPPORT_BIN", value_name = "PATH")]
    rapport: Option<PathBuf>,
    /// Run each `rapport serve` pinned to these CPUs (`taskset -c` list, e.g. `1`), so that the
    /// open loop's tail measures the server rather than the scheduler sharing cores.
    #[arg(long, value_name = "LIST")]
    server_cpus: Option<String>,
    /// Pin the load generator itself to these CPUs (e.g. `0`).
    #[arg(long, value_name = "LIST")]
    client_cpus: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    rapport_domain::clock::parse_duration(s)
}

/// Token holders when `--active` is not given, at most.
const DEFAULT_ACTIVE: usize = 20_000;

/// What to run on each store, from the flags.
pub(crate) struct Plan {
    pub avg_connections: usize,
    pub active: Option<usize>,
    pub skew: f64,
    pub connections: usize,
    pub duration: Duration,
    pub scenarios: Vec<Scenario>,
    pub rate: Option<f64>,
    /// Fractions of the closed-loop throughput to run open loop at, after each closed-loop run.
    pub open_at: Vec<f64>,
    pub seed: u64,
    /// The PostgreSQL server to create the database on; SQLite when `None`.
    pub postgres: Option<String>,
    /// Servers to start (more than one only on PostgreSQL).
    pub replicas: usize,
    /// Database connections each replica keeps (PostgreSQL).
    pub pool_size: Option<usize>,
    /// What runs the servers and the copy.
    pub rapport: Rapport,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !(args.skew.is_finite() && args.skew > 0.0) {
        bail!("--skew must be a positive number (1 draws uniformly)");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of requests per second");
    }
    if args
        .open_at
        .iter()
        .flatten()
        .any(|f| !(f.is_finite() && *f > 0.0))
    {
        bail!("--open-at takes positive fractions of the closed-loop rate, e.g. 0.5,0.8");
    }
    if args.avg_connections == 0 {
        bail!("--avg-connections must be at least 1");
    }
    if args.replicas == 0 {
        bail!("--replicas must be at least 1");
    }
    if args.replicas > 1 && args.postgres.is_none() {
        bail!(
            "--replicas {} needs --postgres: replicas share a PostgreSQL database",
            args.replicas
        );
    }
    if let Some(cpus) = &args.client_cpus {
        servers::pin_self(cpus)?;
    }
    let growing = args.growth.is_some();
    let plan = Plan {
        avg_connections: args.avg_connections,
        active: args.active,
        skew: args.skew,
        connections: args.connections,
        duration: args.duration,
        scenarios: args.scenarios.clone().unwrap_or_else(|| {
            if growing {
                GROWTH_SCENARIOS.to_vec()
            } else {
                DEFAULT_SCENARIOS.to_vec()
            }
        }),
        rate: args.rate,
        open_at: match &args.open_at {
            Some(fractions) => fractions.clone(),
            None if args.open_at_half || (growing && args.rate.is_none()) => vec![0.5],
            None => Vec::new(),
        },
        seed: args.seed,
        postgres: args.postgres.clone(),
        replicas: args.replicas,
        pool_size: args.pool_size,
        rapport: Rapport::find(args.rapport.clone(), args.server_cpus.clone())?,
    };
    if let Some(sizes) = &args.growth {
        if sizes.is_empty() || sizes.iter().any(|&s| s < 2) {
            bail!("--growth takes sizes of at least 2 members, e.g. 10000,100000,1000000");
        }
        return growth::run(
            &plan,
            sizes,
            args.data_dir.as_deref(),
            &args.out,
            args.json.as_deref(),
        )
        .await;
    }
    if args.members < 2 {
        bail!("--members must be at least 2");
    }
    let tmp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("rapport-bench-")
                .tempdir()?;
            tmp.path().to_owned()
        }
    };
    let report = run_size(&plan, args.members, &dir).await?;
    print_summary(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

/// Seeds a store of `members` in `dir`, starts a server on it (or, with `plan.postgres`, copies it
/// into a fresh PostgreSQL database and starts `plan.replicas` servers there), runs the plan's
/// scenarios (printing a row for each as it ends) and stops the servers.
async fn run_size(plan: &Plan, members: usize, dir: &Path) -> anyhow::Result<Report> {
    let now = time::OffsetDateTime::now_utc();
    let load_avg_start = load_average();
    let active = plan.active.unwrap_or(DEFAULT_ACTIVE).min(members);
    if active < 2 {
        bail!("--active must be at least 2");
    }
    eprintln!(
        "seeding {members} members (about {} connections each, {active} with a token) in {} ...",
        plan.avg_connections,
        dir.display()
    );
    let path = dir.join("rapport.db");
    let seeded = tokio::task::block_in_place(|| {
        seed::seed_store(&path, members, plan.avg_connections, active, plan.seed)
    })?;
    let mut store = seeded.figures.clone();
    eprintln!(
        "seeded in {:.1}s: {} directed edges, {:.1} MiB",
        store.seed_s, store.directed_edges, store.seeded_db_mib
    );

    // Declared before the servers, so that on an early return they stop before it is dropped.
    let database = match &plan.postgres {
        Some(server) => {
            Some(postgres::copy_into_fresh_database(&plan.rapport, server, &path).await?)
        }
        None => None,
    };
    let (backend, location) = match &database {
        Some((db, _)) => ("postgres", db.url.clone()),
        None => ("sqlite", path.display().to_string()),
    };

    let addrs = servers::free_addrs(plan.replicas)?;
    let spawned = Instant::now();
    let mut servers: Vec<Server> = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        servers.push(match &database {
            Some((db, _)) => {
                let data = dir.join(format!("replica-{i}"));
                std::fs::create_dir_all(&data)?;
                let url = match plan.pool_size {
                    Some(n) => format!("{}?pool_size={n}", db.url),
                    None => db.url.clone(),
                };
                plan.rapport.serve(&data, addr, Some(&url))?
            }
            None => plan.rapport.serve(dir, addr, None)?,
        });
    }
    for (addr, server) in addrs.iter().zip(&mut servers) {
        server.wait_ready(addr).await?;
    }
    let startup_s = spawned.elapsed().as_secs_f64();
    // The first server's memory stands for each replica's.
    let ready = servers[0].memory();

    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x5EA2C4);
    let queries = workload::search_queries(&seeded.net, &mut rng);
    let world = Arc::new(World {
        addrs: addrs.clone(),
        ids: seeded
            .holders
            .iter()
            .map(|&n| (n + 1).to_string())
            .collect(),
        nodes: seeded.holders,
        tokens: seeded.tokens,
        net: seeded.net,
        queries,
        skew: plan.skew,
        pending: Mutex::new(Vec::new()),
        wal: database.is_none().then(|| dir.join("rapport.db-wal")),
    });
    println!(
        "store under test: {backend} ({location}), {} {} ({})",
        plan.replicas,
        if plan.replicas == 1 {
            "server"
        } else {
            "replicas, connections round-robin"
        },
        addrs.join(", ")
    );
    // The PostgreSQL server's process, when it runs on this machine, for its CPU per operation.
    let postmaster = match &plan.postgres {
        Some(server) => pg_cpu::postmaster(server).await,
        None => None,
    };
    if let Some((db, _)) = &database {
        postgres::warm_up(&world, plan, &db.url).await?;
    }
    let results = runner::run_scenarios(&world, plan, postmaster).await;

    let memory = servers[0].memory();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / MIB;
    let (db_mib, wal_mib) = match &database {
        Some((db, _)) => (postgres::size_mib(&db.url).await.unwrap_or(0.0), 0.0),
        None => (size(&path), size(&dir.join("rapport.db-wal"))),
    };
    for server in &mut servers {
        server.stop();
    }
    if let Some((db, copy_s)) = database {
        store.copy_s = Some(copy_s);
        drop(db);
        eprintln!("replicas stopped and the PostgreSQL database dropped");
    }
    Ok(Report {
        date: now.date().to_string(),
        started_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        backend: backend.to_owned(),
        replicas: plan.replicas,
        members,
        avg_connections: plan.avg_connections,
        active,
        skew: plan.skew,
        connections: plan.connections,
        duration_s: plan.duration.as_secs_f64(),
        rate: plan.rate,
        open_at: plan.open_at.clone(),
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_avg_start,
            load_avg_end: load_average(),
        },
        store,
        server: ServerFigures {
            startup_s,
            rss_ready_mib: ready.rss,
            rss_anon_ready_mib: ready.anon,
            rss_file_ready_mib: ready.file,
            rss_end_mib: memory.rss,
            rss_peak_mib: memory.peak,
            rss_anon_end_mib: memory.anon,
            rss_file_end_mib: memory.file,
            db_mib,
            wal_mib,
            db_total_mib: db_mib + wal_mib,
        },
        results,
    })
}
