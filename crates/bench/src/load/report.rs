//! What a load run reports: a row per run (throughput, latency percentiles, answers by status),
//! the store it ran on, the server's start-up and memory, and the machine; printed as a table as
//! the runs end, and written as JSON with `--json`.

use super::runner::Run;
use super::store_watch::StoreDuringRun;
use super::workload::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;

pub(crate) const MIB: f64 = 1_048_576.0;

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
    /// On the embedded store: the log's largest size and the checkpoints during the run.
    pub store: Option<StoreDuringRun>,
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
    /// Fractions of each closed-loop throughput that were run open loop.
    pub open_at: Vec<f64>,
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

impl Outcome {
    /// The figures of a measured run.
    pub(crate) fn of(scenario: Scenario, mode: Mode, target: Option<f64>, run: Run) -> Outcome {
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
            store: None,
        }
    }
}

/// The table's columns 1 to 9 are the same for every row (scripts/test reads 5xx and errors in
/// columns 8 and 9); the last says how the load was applied.
pub(crate) fn print_header() {
    println!(
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>6}  load",
        "scenario", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "requests", "4xx", "5xx", "errors"
    );
}

pub(crate) fn print_row(o: &Outcome) {
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
    if let Some(s) = &o.store {
        println!(
            "  WAL max {:.1} MiB, {} restarts; checkpoints: {} background (mean {:.1} ms, max {:.1}), {} final on the writer (mean {:.2} ms, max {:.2})",
            s.wal_max_mib,
            s.wal_restarts,
            s.background.count,
            s.background.mean_ms,
            s.background.max_ms,
            s.final_pass.count,
            s.final_pass.mean_ms,
            s.final_pass.max_ms
        );
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

/// The 1-minute load average.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
