//! `rapport bench`: a load generator that drives a real Rapport server over HTTP and reports, per
//! scenario, throughput and latency percentiles, side by side with the no-op ceiling
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
//! processes, as in production), runs each scenario for `--duration` over `--connections`
//! keep-alive connections, reads the server's memory from /proc and the store's size on disk, and
//! stops the server.
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
//! throughput it reached. `--growth` runs it all on networks of several sizes
//! ([`crate::bench_growth`]).
//!
//! `--postgres URL` runs the servers on PostgreSQL instead: the network is seeded into SQLite as
//! above, a fresh database is created on that server, `rapport copy` (a child process of this
//! binary) moves the seeded store into it, and `--replicas` `rapport serve` processes are started
//! on it, each on its own port with its own data directory; connection k talks to replica
//! k mod N. The replicas are stopped and the database dropped at the end.

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_store::sqlite::bulk::BulkLoader;
use rapport_synth::Network;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    #[arg(long, conflicts_with = "open_at_half")]
    rate: Option<f64>,
    /// After each scenario's closed-loop run, run it open loop at half the throughput it reached
    /// (always on with --growth, unless --rate is given).
    #[arg(long)]
    open_at_half: bool,
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
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    rapport_domain::clock::parse_duration(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scenario {
    Noop,
    Send,
    Accept,
    Withdraw,
    Inbox,
    Mixed,
    Profile,
    Search,
}

impl Scenario {
    pub(crate) fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

const DEFAULT_SCENARIOS: [Scenario; 8] = [
    Scenario::Noop,
    Scenario::Mixed,
    Scenario::Inbox,
    Scenario::Send,
    Scenario::Accept,
    Scenario::Withdraw,
    Scenario::Profile,
    Scenario::Search,
];

const GROWTH_SCENARIOS: [Scenario; 4] = [
    Scenario::Mixed,
    Scenario::Inbox,
    Scenario::Profile,
    Scenario::Search,
];

#[derive(Debug, Clone, Copy)]
enum Op {
    Noop,
    Send,
    Accept,
    Withdraw,
    Inbox,
    Profile,
    Search,
}

/// The 12-operation cycle of the mixed workload: 5 send, 2 accept, 1 withdraw, 4 inbox reads.
const MIXED: [Op; 12] = [
    Op::Send,
    Op::Inbox,
    Op::Send,
    Op::Accept,
    Op::Inbox,
    Op::Send,
    Op::Withdraw,
    Op::Send,
    Op::Inbox,
    Op::Accept,
    Op::Send,
    Op::Inbox,
];

/// Token holders when `--active` is not given, at most.
const DEFAULT_ACTIVE: usize = 20_000;

/// The password every seeded member has (one hash for all), as `rapport seed`'s default.
const PASSWORD: &str = "seeded-member-password";

/// The goal of the performance issue for open loop at half the closed-loop maximum.
pub(crate) const OPEN_P99_GOAL_MS: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Closed,
    Open,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    pub scenario: Scenario,
    /// `closed` (each connection waits for its answer) or `open` (a fixed arrival rate).
    pub mode: Mode,
    /// The arrival rate asked for, open loop only.
    pub target_ops_per_sec: Option<f64>,
    /// Answers per second (achieved rate, open loop).
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub requests: u64,
    pub ok_2xx: u64,
    pub client_4xx: u64,
    pub server_5xx: u64,
    pub transport_errors: u64,
    /// Answers by HTTP status, e.g. {"201": 900, "409": 12}.
    pub statuses: BTreeMap<u16, u64>,
    /// Open loop only: requests that fell due but were never sent, because the run had to be cut
    /// off at twice its duration with the server hopelessly behind.
    pub missed: Option<u64>,
    pub seconds: f64,
    /// On PostgreSQL (a server on this machine), the CPU the whole server spent during the run,
    /// per answer: the database work of one operation (see `pg_cpu`).
    pub pg_cpu_ms_per_op: Option<f64>,
}

/// The network the store was seeded with, and how long that took.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StoreFigures {
    pub members: usize,
    pub directed_edges: usize,
    pub max_connections: usize,
    pub pending_invitations: usize,
    pub token_holders: usize,
    /// Drawing the network in memory.
    pub draw_s: f64,
    /// Everything: drawing, writing members, connections, invitations and tokens, and finishing.
    pub seed_s: f64,
    /// rapport.db right after seeding (the log folded in).
    pub seeded_db_mib: f64,
    /// On PostgreSQL: `rapport copy` of the seeded store into the fresh database.
    pub copy_s: Option<f64>,
}

/// The server process (with several replicas, the first) and the store on disk (on PostgreSQL,
/// `pg_database_size` as `db_mib`, and no WAL figure).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerFigures {
    /// From spawning `rapport serve` to the first `200` from `/readyz` (polled every 10 ms).
    pub startup_s: f64,
    /// VmRSS when ready, before any load, and its anonymous and mapped-file parts (loading the
    /// graph index reads the whole connections table through the readers' memory map).
    pub rss_ready_mib: f64,
    pub rss_anon_ready_mib: f64,
    pub rss_file_ready_mib: f64,
    /// VmRSS after the last scenario.
    pub rss_end_mib: f64,
    /// VmHWM after the last scenario: the peak resident set.
    pub rss_peak_mib: f64,
    /// Of the resident set at the end: anonymous memory (heap, the graph index, caches) and
    /// mapped file pages (the store, which readers map).
    pub rss_anon_end_mib: f64,
    pub rss_file_end_mib: f64,
    /// rapport.db and rapport.db-wal after the last scenario, server still running.
    pub db_mib: f64,
    pub wal_mib: f64,
    pub db_total_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub cores: usize,
    /// 1-minute load average before seeding and after the last scenario.
    pub load_avg_start: Option<f64>,
    pub load_avg_end: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub date: String,
    pub started_at: String,
    /// Where the servers keep their data: `sqlite` (the seeded file) or `postgres` (a copy of it).
    pub backend: String,
    /// `rapport serve` processes the load was spread over.
    pub replicas: usize,
    pub members: usize,
    pub avg_connections: usize,
    pub active: usize,
    pub skew: f64,
    pub connections: usize,
    pub duration_s: f64,
    pub rate: Option<f64>,
    pub open_at_half: bool,
    pub machine: Machine,
    pub store: StoreFigures,
    pub server: ServerFigures,
    pub results: Vec<Outcome>,
}

impl Report {
    pub(crate) fn row(&self, scenario: Scenario, mode: Mode) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|r| r.scenario == scenario && r.mode == mode)
    }
}

/// What to run on each store, from the flags.
pub(crate) struct Plan {
    pub avg_connections: usize,
    pub active: Option<usize>,
    pub skew: f64,
    pub connections: usize,
    pub duration: Duration,
    pub scenarios: Vec<Scenario>,
    pub rate: Option<f64>,
    pub open_at_half: bool,
    pub seed: u64,
    /// The PostgreSQL server to create the database on; SQLite when `None`.
    pub postgres: Option<String>,
    /// Servers to start (more than one only on PostgreSQL).
    pub replicas: usize,
    /// Database connections each replica keeps (PostgreSQL).
    pub pool_size: Option<usize>,
}

/// One keep-alive HTTP/1.1 connection, owned by one worker, and the host:port it talks to.
struct Conn {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

async fn connect(addr: &str) -> anyhow::Result<Conn> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn {
        send: sender,
        host: addr.to_owned(),
    })
}

/// What all workers share.
struct World {
    /// host:port of each server; worker k connects to `addrs[k % addrs.len()]`.
    addrs: Vec<String>,
    /// The token holders: their tokens, member ids (as the API writes them) and network nodes.
    tokens: Vec<String>,
    ids: Vec<String>,
    nodes: Vec<u32>,
    /// The seeded network, for choosing whose profile to look at.
    net: Network,
    /// Search queries, URL-encoded, drawn from the seeded profiles (common words come up often).
    queries: Vec<String>,
    skew: f64,
    /// Pending invitations this run created: (invitation id, sender index, recipient index).
    pending: Mutex<Vec<(String, usize, usize)>>,
}

impl World {
    /// A token holder, skewed towards the first ones.
    fn actor(&self, rng: &mut StdRng) -> usize {
        let n = self.tokens.len();
        let u: f64 = rng.gen();
        ((u.powf(self.skew) * n as f64) as usize).min(n - 1)
    }

    /// Whose profile `viewer` looks at: a connection (1 in 4), someone two steps away (1 in 2, as
    /// people browse their 2nd degree) or anyone (1 in 4); never themself.
    fn profile_of(&self, viewer: u32, rng: &mut StdRng) -> u32 {
        let n = self.net.members() as u32;
        let r: f64 = rng.gen();
        let steps = if r < 0.25 {
            1
        } else if r < 0.75 {
            2
        } else {
            0
        };
        let mut at = viewer;
        for _ in 0..steps {
            let next = self.net.neighbours(at);
            if next.is_empty() {
                break;
            }
            at = next[rng.gen_range(0..next.len())];
        }
        while at == viewer {
            at = rng.gen_range(0..n);
        }
        at
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    c4: u64,
    c5: u64,
    err: u64,
    /// Answers by HTTP status.
    statuses: BTreeMap<u16, u64>,
}

impl Tally {
    fn count(&mut self, status: Option<u16>) {
        if let Some(s) = status {
            *self.statuses.entry(s).or_default() += 1;
        }
        match status {
            Some(s) if s < 300 => self.ok += 1,
            Some(s) if s < 500 => self.c4 += 1,
            Some(_) => self.c5 += 1,
            None => self.err += 1,
        }
    }

    fn add(&mut self, t: &Tally) {
        self.ok += t.ok;
        self.c4 += t.c4;
        self.c5 += t.c5;
        self.err += t.err;
        for (&s, &n) in &t.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
    }
}

/// One measured run of a scenario.
struct Run {
    hist: Histogram<u64>,
    tally: Tally,
    secs: f64,
    missed: Option<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
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
        open_at_half: args.open_at_half || (growing && args.rate.is_none()),
        seed: args.seed,
        postgres: args.postgres.clone(),
        replicas: args.replicas,
        pool_size: args.pool_size,
    };
    if let Some(sizes) = &args.growth {
        if sizes.is_empty() || sizes.iter().any(|&s| s < 2) {
            bail!("--growth takes sizes of at least 2 members, e.g. 10000,100000,1000000");
        }
        return crate::bench_growth::run(
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
pub(crate) async fn run_size(plan: &Plan, members: usize, dir: &Path) -> anyhow::Result<Report> {
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
        seed_store(&path, members, plan.avg_connections, active, plan.seed)
    })?;
    let store = seeded.figures.clone();
    eprintln!(
        "seeded in {:.1}s: {} directed edges, {:.1} MiB",
        store.seed_s, store.directed_edges, store.seeded_db_mib
    );

    // Declared before the servers, so that on an early return they stop before it is dropped.
    let database = match &plan.postgres {
        Some(server) => Some(copy_to_postgres(server, &path).await?),
        None => None,
    };
    let (backend, location) = match &database {
        Some((db, _)) => ("postgres", db.url.clone()),
        None => ("sqlite", path.display().to_string()),
    };

    // Every port is taken before any is given back, so no two servers are given the same one.
    let listeners = (0..plan.replicas)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut addrs = Vec::new();
    for l in &listeners {
        addrs.push(format!("127.0.0.1:{}", l.local_addr()?.port()));
    }
    drop(listeners);
    let spawned = Instant::now();
    let mut servers = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        servers.push(match &database {
            Some((db, _)) => {
                let data = dir.join(format!("replica-{i}"));
                std::fs::create_dir_all(&data)?;
                let url = match plan.pool_size {
                    Some(n) => format!("{}?pool_size={n}", db.url),
                    None => db.url.clone(),
                };
                Server::start(&data, addr, Some(&url))?
            }
            None => Server::start(dir, addr, None)?,
        });
    }
    for (addr, server) in addrs.iter().zip(&mut servers) {
        wait_ready(addr, server).await?;
    }
    let startup_s = spawned.elapsed().as_secs_f64();
    // The first server's memory stands for each replica's.
    let ready = servers[0].memory();

    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x5EA2C4);
    let queries = search_queries(&seeded.net, &mut rng);
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
        Some(server) => crate::pg_cpu::postmaster(server).await,
        None => None,
    };
    if let Some((db, _)) = &database {
        warm_up(&world, plan, &db.url).await?;
    }
    print_header();
    let mut results = Vec::new();
    for &scenario in &plan.scenarios {
        let ops: &'static [Op] = match scenario {
            Scenario::Noop => &[Op::Noop],
            Scenario::Send => &[Op::Send],
            Scenario::Accept => &[Op::Accept],
            Scenario::Withdraw => &[Op::Withdraw],
            Scenario::Inbox => &[Op::Inbox],
            Scenario::Mixed => &MIXED,
            Scenario::Profile => &[Op::Profile],
            Scenario::Search => &[Op::Search],
        };
        let acts_on_pending = matches!(scenario, Scenario::Accept | Scenario::Withdraw);
        if let Some(rate) = plan.rate {
            if acts_on_pending {
                fill_pending(&world, plan, rate).await;
            }
            let run = run_open(&world, plan.connections, plan.duration, ops, rate).await;
            results.push(outcome(scenario, Mode::Open, Some(rate), run));
            print_row(results.last().expect("just pushed"));
            continue;
        }
        if acts_on_pending {
            // Fill the pool of pending invitations these scenarios act on (not measured).
            run_ops(
                &world,
                plan.connections,
                plan.duration / 2,
                &[Op::Send],
                None,
            )
            .await;
        }
        let cpu_before = postmaster.and_then(crate::pg_cpu::cpu_ms);
        let run = run_ops(&world, plan.connections, plan.duration, ops, None).await;
        let cpu_after = postmaster.and_then(crate::pg_cpu::cpu_ms);
        let mut closed = outcome(scenario, Mode::Closed, None, run);
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            closed.pg_cpu_ms_per_op = Some((after - before) / closed.requests.max(1) as f64);
        }
        let half = closed.ops_per_sec / 2.0;
        print_row(&closed);
        results.push(closed);
        if plan.open_at_half && half > 0.0 {
            if acts_on_pending {
                fill_pending(&world, plan, half).await;
            }
            let run = run_open(&world, plan.connections, plan.duration, ops, half).await;
            results.push(outcome(scenario, Mode::Open, Some(half), run));
            print_row(results.last().expect("just pushed"));
        }
    }
    let memory = servers[0].memory();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / MIB;
    let (db_mib, wal_mib) = match &database {
        Some((db, _)) => (postgres_size(&db.url).await.unwrap_or(0.0), 0.0),
        None => (size(&path), size(&dir.join("rapport.db-wal"))),
    };
    for server in &mut servers {
        server.stop();
    }
    let mut store = store;
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
        open_at_half: plan.open_at_half,
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

const MIB: f64 = 1_048_576.0;

fn outcome(scenario: Scenario, mode: Mode, target: Option<f64>, run: Run) -> Outcome {
    let requests = run.hist.len();
    let ms = |q: f64| run.hist.value_at_quantile(q) as f64 / 1000.0;
    Outcome {
        scenario,
        mode,
        target_ops_per_sec: target,
        ops_per_sec: requests as f64 / run.secs.max(1e-9),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        requests,
        ok_2xx: run.tally.ok,
        client_4xx: run.tally.c4,
        server_5xx: run.tally.c5,
        transport_errors: run.tally.err,
        statuses: run.tally.statuses,
        missed: run.missed,
        seconds: run.secs,
        pg_cpu_ms_per_op: None,
    }
}

/// The table's columns 1 to 9 are the same for every row (scripts/test reads 5xx and errors in
/// columns 8 and 9); the last says how the load was applied.
fn print_header() {
    println!(
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>6}  load",
        "scenario", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "requests", "4xx", "5xx", "errors"
    );
}

fn print_row(o: &Outcome) {
    let load = match (o.mode, o.target_ops_per_sec) {
        (Mode::Open, Some(r)) => match o.missed {
            Some(m) if m > 0 => format!("open@{r:.0}/s missed={m}"),
            _ => format!("open@{r:.0}/s"),
        },
        _ => "closed".to_owned(),
    };
    println!(
        "{:<10} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>7} {:>6} {:>6}  {}",
        o.scenario.name(),
        o.ops_per_sec,
        o.p50_ms,
        o.p99_ms,
        o.p999_ms,
        o.requests,
        o.client_4xx,
        o.server_5xx,
        o.transport_errors,
        load
    );
    if let Some(ms) = o.pg_cpu_ms_per_op {
        println!("  postgres CPU {ms:.3} ms per operation");
    }
}

/// The lines after a run's table: the no-op ratio, the open-loop goal, the store and the server.
pub(crate) fn print_summary(r: &Report) {
    let closed = |s| r.row(s, Mode::Closed).map(|o| o.ops_per_sec);
    if let (Some(n), Some(m)) = (closed(Scenario::Noop), closed(Scenario::Mixed)) {
        println!("mixed / noop = {:.0}%", 100.0 * m / n);
    }
    let open: Vec<&Outcome> = r.results.iter().filter(|o| o.mode == Mode::Open).collect();
    if !open.is_empty() {
        let within: Vec<String> = open
            .iter()
            .filter(|o| o.p99_ms <= OPEN_P99_GOAL_MS)
            .map(|o| o.scenario.name())
            .collect();
        println!(
            "open loop: p99 ≤ {OPEN_P99_GOAL_MS} ms in {} of {} runs ({})",
            within.len(),
            open.len(),
            if within.is_empty() {
                "none".to_owned()
            } else {
                within.join(", ")
            }
        );
    }
    let s = &r.store;
    println!(
        "store: {} members, {} directed edges ({:.1} per member, max {}), {} pending invitations, {} token holders; seed {:.1} s ({:.1} s drawing)",
        s.members,
        s.directed_edges,
        s.directed_edges as f64 / s.members.max(1) as f64,
        s.max_connections,
        s.pending_invitations,
        s.token_holders,
        s.seed_s,
        s.draw_s
    );
    if let Some(c) = s.copy_s {
        println!("copied into PostgreSQL with rapport copy in {c:.1} s");
    }
    let v = &r.server;
    if r.backend == "postgres" {
        println!(
            "server{}: start-up {:.2} s, RSS {:.1} MiB ready, {:.1} MiB at the end, {:.1} MiB peak; PostgreSQL database {:.1} MiB (seeded SQLite file {:.1} MiB)",
            if r.replicas == 1 {
                String::new()
            } else {
                format!(" (the first of {} replicas; start-up until all were ready)", r.replicas)
            },
            v.startup_s,
            v.rss_ready_mib,
            v.rss_end_mib,
            v.rss_peak_mib,
            v.db_mib,
            s.seeded_db_mib
        );
    } else {
        println!(
        "server: start-up {:.2} s, RSS {:.1} MiB ready ({:.1} anonymous, {:.1} mapped file), {:.1} MiB at the end ({:.1} anonymous, {:.1} mapped file), {:.1} MiB peak; database {:.1} MiB + {:.1} MiB WAL = {:.1} MiB (seeded {:.1} MiB)",
        v.startup_s,
        v.rss_ready_mib,
        v.rss_anon_ready_mib,
        v.rss_file_ready_mib,
        v.rss_end_mib,
        v.rss_anon_end_mib,
        v.rss_file_end_mib,
        v.rss_peak_mib,
        v.db_mib,
        v.wal_mib,
        v.db_total_mib,
        s.seeded_db_mib
    );
    }
    println!(
        "machine: {} cores, load average {} before, {} after",
        r.machine.cores,
        r.machine
            .load_avg_start
            .map_or("?".to_owned(), |l| format!("{l:.2}")),
        r.machine
            .load_avg_end
            .map_or("?".to_owned(), |l| format!("{l:.2}"))
    );
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

struct Seeded {
    net: Network,
    /// Network nodes with a token (member id is node + 1), in random order.
    holders: Vec<u32>,
    tokens: Vec<String>,
    figures: StoreFigures,
}

/// Draws the network and writes it with `rapport seed`'s writer (one password hash for all), then
/// a token for each of `active` members drawn at random.
fn seed_store(
    path: &Path,
    members: usize,
    avg: usize,
    active: usize,
    seed: u64,
) -> anyhow::Result<Seeded> {
    let err = |e: rapport_store::StoreError| anyhow::anyhow!("{e}");
    let started = Instant::now();
    let net = rapport_synth::generate(members, avg, seed, &mut |_| {});
    let draw_s = started.elapsed().as_secs_f64();
    let hash = rapport_app::auth::hash_password(PASSWORD)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut loader = BulkLoader::open(path).map_err(err)?;
    rapport_synth::write(
        &mut loader,
        &net,
        &hash,
        now,
        seed,
        &mut rapport_synth::Silent,
    )
    .map_err(err)?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x70CE_4005);
    let holders: Vec<u32> = rand::seq::index::sample(&mut rng, members, active)
        .into_iter()
        .map(|i| i as u32)
        .collect();
    let tokens: Vec<String> = holders
        .iter()
        .map(|_| rapport_app::auth::new_token())
        .collect();
    loader
        .tokens(
            holders
                .iter()
                .zip(&tokens)
                .map(|(&n, t)| (rapport_app::auth::token_hash(t), i64::from(n) + 1, now)),
        )
        .map_err(err)?;
    loader.finish().map_err(err)?;
    let figures = StoreFigures {
        members,
        directed_edges: net.directed_edges(),
        max_connections: net.max_degree(),
        pending_invitations: net.pending.len(),
        token_holders: active,
        draw_s,
        seed_s: started.elapsed().as_secs_f64(),
        seeded_db_mib: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / MIB,
        copy_s: None,
    };
    Ok(Seeded {
        net,
        holders,
        tokens,
        figures,
    })
}

/// 4,096 search queries from random profiles, a third each: a full name, a surname, the first word
/// of a company. Drawn from profiles, so common words come up as often as they are common.
fn search_queries(net: &Network, rng: &mut StdRng) -> Vec<String> {
    (0..4096)
        .map(|i| {
            let p = &net.profiles[rng.gen_range(0..net.members())];
            let q = match i % 3 {
                0 => p.name(),
                1 => p
                    .name()
                    .split(' ')
                    .next_back()
                    .unwrap_or_default()
                    .to_owned(),
                _ => p.company().split(' ').next().unwrap_or_default().to_owned(),
            };
            // Profile words are ASCII letters; only the space needs encoding in a query string.
            q.replace(' ', "%20")
        })
        .collect()
}

/// Sends (closed loop, not measured) until the pool of pending invitations holds enough for an
/// open-loop run at `rate`, or for at most one `--duration`.
async fn fill_pending(world: &Arc<World>, plan: &Plan, rate: f64) {
    let want = (rate * plan.duration.as_secs_f64() * 1.1).ceil() as usize;
    run_ops(
        world,
        plan.connections,
        plan.duration,
        &[Op::Send],
        Some(want),
    )
    .await;
}

/// Closed loop: each connection sends its next request when the last is answered.
async fn run_ops(
    world: &Arc<World>,
    connections: usize,
    duration: Duration,
    ops: &'static [Op],
    until_pending: Option<usize>,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..connections {
        let (world, stop) = (world.clone(), stop.clone());
        workers.spawn(async move {
            let mut hist = histogram();
            let mut tally = Tally::default();
            let mut rng =
                StdRng::seed_from_u64(w as u64 * 7919 + started.elapsed().as_nanos() as u64);
            let mut i = w % ops.len();
            let addr = &world.addrs[w % world.addrs.len()];
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                let op = ops[i % ops.len()];
                i += 1;
                let t = Instant::now();
                if conn.as_ref().is_none_or(|c| c.send.is_closed()) {
                    conn = connect(addr).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    tally.err += 1;
                    continue;
                };
                tally.count(one(&world, c, op, &mut rng).await);
                let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
            }
            (hist, tally)
        });
    }
    // Stop early if an accept/withdraw run drains the pool (or a fill reaches its goal);
    // otherwise after `duration`.
    let deadline = started + duration;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if stop_now(world, ops, until_pending) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut hist = histogram();
    let mut tally = Tally::default();
    while let Some(Ok((h, t))) = workers.join_next().await {
        let _ = hist.add(&h);
        tally.add(&t);
    }
    Run {
        hist,
        tally,
        secs: started.elapsed().as_secs_f64(),
        missed: None,
    }
}

/// Whether a run should end before its time: an accept or withdraw run has nothing left to act
/// on, or a fill has reached the pool size it wanted.
fn stop_now(world: &World, ops: &[Op], until_pending: Option<usize>) -> bool {
    let pending = world.pending.lock().map(|p| p.len()).unwrap_or(0);
    let drained = matches!(ops, [Op::Accept] | [Op::Withdraw]) && pending == 0;
    drained || until_pending.is_some_and(|n| pending >= n)
}

/// The pacer's shortest sleep: at high rates it releases requests in small batches rather than
/// waking for each one.
const PACER_MIN_SLEEP: Duration = Duration::from_micros(50);

/// Open loop, wrk2-style: request k is due at start + k/rate. A pacer thread releases each request
/// when it falls due (a thread of its own, because the async timer has millisecond granularity
/// and would add its own lateness to every figure); each connection takes the next released
/// request from a shared counter, so an idle connection sends as soon as a request is due and a
/// busy one leaves it to another. Latency runs from when the request was due, so time spent
/// queued behind slow answers counts (no coordinated omission). Requests due before the end are
/// all sent; if the server is so far behind that this takes another `duration`, the rest are
/// counted as missed.
async fn run_open(
    world: &Arc<World>,
    connections: usize,
    duration: Duration,
    ops: &'static [Op],
    rate: f64,
) -> Run {
    // Connect first, so that no request's time includes opening its connection.
    let mut conns = Vec::with_capacity(connections);
    for w in 0..connections {
        conns.push(connect(&world.addrs[w % world.addrs.len()]).await.ok());
    }
    let total = ((duration.as_secs_f64() * rate).ceil() as u64).max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let released = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Instant::now();
    let due = move |k: u64| started + Duration::from_secs_f64(k as f64 / rate);
    let pacer = {
        let (stop, released) = (stop.clone(), released.clone());
        std::thread::spawn(move || {
            let mut given = 0u64;
            while given < total && !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                // Requests 0..=k are due once k/rate has passed.
                let due_now = ((now - started).as_secs_f64() * rate).floor() as u64 + 1;
                let due_now = due_now.min(total);
                if due_now > given {
                    released.add_permits((due_now - given) as usize);
                    given = due_now;
                }
                if given < total {
                    let wait = due(given).saturating_duration_since(Instant::now());
                    std::thread::sleep(wait.max(PACER_MIN_SLEEP));
                }
            }
            // One more for each connection, so that every one wakes and sees the end.
            released.add_permits(connections);
        })
    };
    let mut workers = tokio::task::JoinSet::new();
    for (w, mut conn) in conns.into_iter().enumerate() {
        let (world, stop, next, released) =
            (world.clone(), stop.clone(), next.clone(), released.clone());
        workers.spawn(async move {
            let mut hist = histogram();
            let mut tally = Tally::default();
            let mut rng =
                StdRng::seed_from_u64(w as u64 * 7919 + started.elapsed().as_nanos() as u64);
            loop {
                match released.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total || stop.load(Ordering::Relaxed) {
                    break;
                }
                let op = ops[k as usize % ops.len()];
                if conn.as_ref().is_none_or(|c| c.send.is_closed()) {
                    conn = connect(&world.addrs[w % world.addrs.len()]).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    tally.err += 1;
                    continue;
                };
                tally.count(one(&world, c, op, &mut rng).await);
                let _ = hist.record(due(k).elapsed().as_micros().max(1) as u64);
            }
            (hist, tally)
        });
    }
    let cut_off = started + 2 * duration;
    let mut cut = false;
    while !pacer.is_finished() || next.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if stop_now(world, ops, None) {
            break;
        }
        if Instant::now() >= cut_off {
            cut = true;
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    // Wake any connection still waiting for a request to send.
    released.close();
    let mut hist = histogram();
    let mut tally = Tally::default();
    while let Some(Ok((h, t))) = workers.join_next().await {
        let _ = hist.add(&h);
        tally.add(&t);
    }
    let _ = pacer.join();
    Run {
        missed: Some(if cut {
            total.saturating_sub(hist.len() + tally.err)
        } else {
            0
        }),
        hist,
        tally,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// One operation; the HTTP status, or `None` on a transport error.
async fn one(world: &World, c: &mut Conn, op: Op, rng: &mut StdRng) -> Option<u16> {
    match op {
        Op::Noop => request(world, c, Method::GET, "/healthz", None, None)
            .await
            .map(|(s, _)| s),
        Op::Inbox => read_inbox(world, c, rng).await,
        Op::Send => {
            let a = world.actor(rng);
            let mut b = world.actor(rng);
            while b == a {
                b = world.actor(rng);
            }
            let body = format!(
                r#"{{"recipient_id":"{}","note":"Hello from the load test"}}"#,
                world.ids[b]
            );
            let (status, bytes) = request(
                world,
                c,
                Method::POST,
                "/api/v1/invitations",
                Some(a),
                Some(body),
            )
            .await?;
            if status == 201 {
                if let Some(id) = leading_id(&bytes) {
                    if let Ok(mut p) = world.pending.lock() {
                        p.push((id, a, b));
                    }
                }
            }
            Some(status)
        }
        Op::Accept | Op::Withdraw => {
            let taken = world.pending.lock().ok().and_then(|mut p| {
                if p.is_empty() {
                    None
                } else {
                    let i = rng.gen_range(0..p.len());
                    Some(p.swap_remove(i))
                }
            });
            let Some((id, sender, recipient)) = taken else {
                // Nothing to act on yet: read the inbox instead of spinning.
                return read_inbox(world, c, rng).await;
            };
            let (who, verb) = if matches!(op, Op::Accept) {
                (recipient, "accept")
            } else {
                (sender, "withdraw")
            };
            request(
                world,
                c,
                Method::POST,
                &format!("/api/v1/invitations/{id}/{verb}"),
                Some(who),
                None,
            )
            .await
            .map(|(s, _)| s)
        }
        Op::Profile => {
            let m = world.actor(rng);
            let other = world.profile_of(world.nodes[m], rng);
            let path = format!("/api/v1/members/{}", other + 1);
            request(world, c, Method::GET, &path, Some(m), None)
                .await
                .map(|(s, _)| s)
        }
        Op::Search => {
            let m = world.actor(rng);
            let q = &world.queries[rng.gen_range(0..world.queries.len())];
            let path = format!("/api/v1/members?q={q}&limit=20");
            request(world, c, Method::GET, &path, Some(m), None)
                .await
                .map(|(s, _)| s)
        }
    }
}

/// The first page of a member's received invitations.
async fn read_inbox(world: &World, c: &mut Conn, rng: &mut StdRng) -> Option<u16> {
    let m = world.actor(rng);
    let path = "/api/v1/invitations/received?limit=20";
    request(world, c, Method::GET, path, Some(m), None)
        .await
        .map(|(s, _)| s)
}

async fn request(
    world: &World,
    c: &mut Conn,
    method: Method,
    path: &str,
    member: Option<usize>,
    body: Option<String>,
) -> Option<(u16, Bytes)> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", c.host.as_str());
    if let Some(m) = member {
        req = req.header("authorization", format!("Bearer {}", world.tokens[m]));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .ok()?;
    c.send.ready().await.ok()?;
    let resp = c.send.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, bytes))
}

/// The `id` of an Invitation answer, which the server writes first: `{"id":"123",...`.
fn leading_id(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(br#"{"id":""#)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    String::from_utf8(rest[..end].to_vec()).ok()
}

/// Polls `/readyz` every 10 ms until it answers `200` (loading a 1M-member graph takes seconds).
async fn wait_ready(addr: &str, server: &mut Server) -> anyhow::Result<()> {
    let limit = Instant::now() + Duration::from_secs(600);
    while Instant::now() < limit {
        if let Ok(mut c) = connect(addr).await {
            let req = Request::get("/readyz")
                .header("host", addr)
                .body(Full::new(Bytes::new()))?;
            if let Ok(resp) = c.send.send_request(req).await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            bail!("rapport serve exited before it was ready ({status})");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("the server did not become ready within 600 s")
}

/// Creates a fresh database on the PostgreSQL server at `server` and fills it from the seeded
/// store at `path` with `rapport copy`, run as a child process of this binary (its report goes to
/// stderr). Returns the database (dropped when it is) and how long the copy took.
async fn copy_to_postgres(
    server: &str,
    path: &Path,
) -> anyhow::Result<(rapport_store::postgres::scratch::ScratchDatabase, f64)> {
    let db = rapport_store::postgres::scratch::ScratchDatabase::create(server, "rapport_bench")
        .await
        .map_err(|e| anyhow::anyhow!("creating the benchmark's database: {e}"))?;
    eprintln!("copying the seeded store into {} ...", db.url);
    let started = Instant::now();
    let mut copy = std::process::Command::new(std::env::current_exe()?);
    copy.arg("copy")
        .arg("--from")
        .arg(format!("sqlite://{}", path.display()))
        .arg("--to")
        .arg(&db.url)
        .env("RAPPORT_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    let out = tokio::task::block_in_place(|| copy.output()).context("running rapport copy")?;
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!("rapport copy failed ({})", out.status);
    }
    Ok((db, started.elapsed().as_secs_f64()))
}

/// Brings a freshly copied PostgreSQL database to the state of one in service before anything is
/// measured: the tables the copy left empty (notifications, mail, events, pair rules) get rows, and
/// `ANALYZE` gives the planner their statistics. Without it every connection keeps the plans it
/// made for empty tables (sequential scans) until autovacuum's next analyze, a minute or more
/// later, and a 10 s run measures that instead of the steady state.
async fn warm_up(world: &Arc<World>, plan: &Plan, url: &str) -> anyhow::Result<()> {
    let secs = plan.duration.min(Duration::from_secs(5));
    run_ops(world, plan.connections, secs, &MIXED, None).await;
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
async fn postgres_size(url: &str) -> anyhow::Result<f64> {
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

/// Resident memory in MiB: VmRSS, VmHWM (the peak), and the RSS's anonymous and file parts.
struct Memory {
    rss: f64,
    peak: f64,
    anon: f64,
    file: f64,
}

/// `rapport serve` as a child process, stopped with SIGTERM.
struct Server(std::process::Child);

impl Server {
    /// On the store in `dir`, or on the PostgreSQL database at `database` with `dir` for its files.
    fn start(dir: &Path, addr: &str, database: Option<&str>) -> anyhow::Result<Server> {
        let exe = std::env::current_exe()?;
        let mut command = std::process::Command::new(exe);
        command
            .env_remove("RAPPORT_DATABASE_URL")
            .env_remove("RAPPORT_DATABASE_READ_URL");
        if let Some(url) = database {
            command.env("RAPPORT_DATABASE_URL", url);
        }
        let child = command
            .arg("serve")
            .env("RAPPORT_DATA_DIR", dir)
            .env("RAPPORT_LISTEN", addr)
            .env("RAPPORT_LOG", "warn")
            // The benchmark measures the engine, not the platform's weekly limits.
            .env("RAPPORT_WEEKLY_INVITATION_LIMIT", "100000000")
            .env("RAPPORT_PREMIUM_WEEKLY_INVITATION_LIMIT", "100000000")
            .env("RAPPORT_OUTSTANDING_LIMIT", "100000000")
            .spawn()
            .context("starting rapport serve")?;
        Ok(Server(child))
    }

    /// The process's memory from /proc/<pid>/status (zeros where it cannot be read).
    fn memory(&self) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }

    fn stop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
