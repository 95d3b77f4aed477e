//! `rapport bench`: a closed-loop load generator that drives a real Rapport server over HTTP and
//! reports, per scenario, throughput and latency percentiles, side by side with the no-op ceiling
//! (`GET /healthz`) measured in the same run.
//!
//! By default it seeds a fresh store with `--members` members, starts `rapport serve` on it as a
//! child process (so client and server are separate processes, as in production), runs each
//! scenario for `--duration` with `--connections` concurrent connections, and stops the server.
//!
//! The store is seeded like the plain-SQL anchor: members with about 20 connections each, at
//! random. Scenarios: `noop`, `send`, `accept`, `withdraw`, `inbox` (received list, first page, with
//! mutual counts) and `mixed` (per 12 operations: 5 send, 2 accept, 1 withdraw, 4 inbox reads).

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_app::{App, Config, SeedMember};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Members to seed (each with a token).
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    /// Concurrent connections (closed loop: each sends its next request when the last is answered).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long each scenario runs, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "noop,mixed,inbox,send,accept,withdraw"
    )]
    scenarios: Vec<Scenario>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the seeded store here instead of a temporary directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    rapport_domain::clock::parse_duration(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
    Noop,
    Send,
    Accept,
    Withdraw,
    Inbox,
    Mixed,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Noop,
    Send,
    Accept,
    Withdraw,
    Inbox,
}

/// Connections each seeded member makes (so about twice as many each, on average).
const HALF_DEGREE: usize = 10;

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

#[derive(Debug, Serialize)]
struct Outcome {
    scenario: Scenario,
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    requests: u64,
    ok_2xx: u64,
    client_4xx: u64,
    server_5xx: u64,
    transport_errors: u64,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    date: String,
    members: usize,
    connections: usize,
    duration_s: f64,
    results: Vec<Outcome>,
}

/// One keep-alive HTTP/1.1 connection, owned by one worker.
type Conn = SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> anyhow::Result<Conn> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// What all workers share.
struct World {
    /// host:port of the server.
    addr: String,
    tokens: Vec<String>,
    ids: Vec<String>,
    /// Pending invitations this run created: (invitation id, sender index, recipient index).
    pending: Mutex<Vec<(String, usize, usize)>>,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    c4: u64,
    c5: u64,
    err: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.members < 2 {
        bail!("--members must be at least 2");
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let tmp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.0.clone()
        }
    };
    eprintln!("seeding {} members in {} ...", args.members, dir.display());
    let started = Instant::now();
    let (ids, tokens) = seed(&dir, args.members).await?;
    eprintln!("seeded in {:.1}s", started.elapsed().as_secs_f64());

    let port = free_port()?;
    let mut server = Server::start(&dir, port)?;
    let addr = format!("127.0.0.1:{port}");
    wait_ready(&addr).await?;

    let world = Arc::new(World {
        addr,
        tokens,
        ids,
        pending: Mutex::new(Vec::new()),
    });
    let mut results = Vec::new();
    println!(
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>6}",
        "scenario", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "requests", "4xx", "5xx", "errors"
    );
    for scenario in &args.scenarios {
        if matches!(scenario, Scenario::Accept | Scenario::Withdraw) {
            // Fill the pool of pending invitations these scenarios act on (not measured).
            run_ops(&world, args.connections, args.duration / 2, &[Op::Send]).await;
        }
        let ops: &[Op] = match scenario {
            Scenario::Noop => &[Op::Noop],
            Scenario::Send => &[Op::Send],
            Scenario::Accept => &[Op::Accept],
            Scenario::Withdraw => &[Op::Withdraw],
            Scenario::Inbox => &[Op::Inbox],
            Scenario::Mixed => &MIXED,
        };
        let (hist, tally, secs) = run_ops(&world, args.connections, args.duration, ops).await;
        let requests = hist.len();
        let o = Outcome {
            scenario: *scenario,
            ops_per_sec: requests as f64 / secs,
            p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
            p999_ms: hist.value_at_quantile(0.999) as f64 / 1000.0,
            requests,
            ok_2xx: tally.ok,
            client_4xx: tally.c4,
            server_5xx: tally.c5,
            transport_errors: tally.err,
            seconds: secs,
        };
        println!(
            "{:<10} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>7} {:>6} {:>6}",
            format!("{:?}", o.scenario).to_lowercase(),
            o.ops_per_sec,
            o.p50_ms,
            o.p99_ms,
            o.p999_ms,
            o.requests,
            o.client_4xx,
            o.server_5xx,
            o.transport_errors
        );
        results.push(o);
    }
    let noop = results
        .iter()
        .find(|r| r.scenario == Scenario::Noop)
        .map(|r| r.ops_per_sec);
    let mixed = results
        .iter()
        .find(|r| r.scenario == Scenario::Mixed)
        .map(|r| r.ops_per_sec);
    if let (Some(n), Some(m)) = (noop, mixed) {
        println!("mixed / noop = {:.0}%", 100.0 * m / n);
    }
    server.stop();
    let report = Report {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        members: args.members,
        connections: args.connections,
        duration_s: args.duration.as_secs_f64(),
        results,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

/// Creates the members directly through the app (one shared password hash) on a fresh store.
async fn seed(dir: &std::path::Path, n: usize) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let raw = rapport_app::RawConfig {
        data_dir: dir.display().to_string(),
        ..Default::default()
    };
    let config: Config = raw.check()?;
    let app = App::open(config, Arc::new(rapport_domain::SystemClock)).await?;
    let members = (0..n)
        .map(|i| SeedMember {
            email: format!("bench{i}@example.com"),
            name: format!("Bench Member {i}"),
            headline: "Load tester".into(),
            company: format!("Company {}", i % 97),
            location: String::new(),
        })
        .collect();
    let seeded = app.seed_members(members, "bench-password").await?;
    // About 2 x HALF_DEGREE connections each, uniformly at random, as the plain-SQL anchor seeds.
    let mut rng = StdRng::seed_from_u64(42);
    let pairs = (0..n)
        .flat_map(|i| (0..HALF_DEGREE).map(move |_| i))
        .map(|i| (seeded[i].0, seeded[rng.gen_range(0..n)].0))
        .collect();
    let added = app.seed_connections(pairs).await?;
    eprintln!("seeded {added} connections");
    Ok(seeded
        .into_iter()
        .map(|(id, t)| (id.to_string(), t))
        .unzip())
}

async fn run_ops(
    world: &Arc<World>,
    connections: usize,
    duration: Duration,
    ops: &'static [Op],
) -> (Histogram<u64>, Tally, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..connections {
        let (world, stop) = (world.clone(), stop.clone());
        workers.spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let mut tally = Tally::default();
            let mut rng =
                StdRng::seed_from_u64(w as u64 * 7919 + started.elapsed().as_nanos() as u64);
            let mut i = w % ops.len();
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                let op = ops[i % ops.len()];
                i += 1;
                let t = Instant::now();
                if conn.as_ref().is_none_or(|c| c.is_closed()) {
                    conn = connect(&world.addr).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    tally.err += 1;
                    continue;
                };
                match one(&world, c, op, &mut rng).await {
                    Some(status) if status < 300 => tally.ok += 1,
                    Some(status) if status < 500 => tally.c4 += 1,
                    Some(_) => tally.c5 += 1,
                    None => tally.err += 1,
                }
                let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
            }
            (hist, tally)
        });
    }
    // Stop early if an accept/withdraw run drains the pool; otherwise after `duration`.
    let deadline = started + duration;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let drained = matches!(ops, [Op::Accept] | [Op::Withdraw])
            && world.pending.lock().map(|p| p.is_empty()).unwrap_or(true);
        if drained {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut tally = Tally::default();
    while let Some(Ok((h, t))) = workers.join_next().await {
        let _ = hist.add(&h);
        tally.ok += t.ok;
        tally.c4 += t.c4;
        tally.c5 += t.c5;
        tally.err += t.err;
    }
    (hist, tally, started.elapsed().as_secs_f64())
}

/// One operation; the HTTP status, or `None` on a transport error.
async fn one(world: &World, c: &mut Conn, op: Op, rng: &mut StdRng) -> Option<u16> {
    let n = world.tokens.len();
    match op {
        Op::Noop => request(world, c, Method::GET, "/healthz", None, None)
            .await
            .map(|(s, _)| s),
        Op::Inbox => read_inbox(world, c, rng).await,
        Op::Send => {
            let a = rng.gen_range(0..n);
            let mut b = rng.gen_range(0..n - 1);
            if b >= a {
                b += 1;
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
    }
}

/// The first page of a random member's received invitations.
async fn read_inbox(world: &World, c: &mut Conn, rng: &mut StdRng) -> Option<u16> {
    let m = rng.gen_range(0..world.tokens.len());
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
        .header("host", world.addr.as_str());
    if let Some(m) = member {
        req = req.header("authorization", format!("Bearer {}", world.tokens[m]));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .ok()?;
    c.ready().await.ok()?;
    let resp = c.send_request(req).await.ok()?;
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

async fn wait_ready(addr: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(mut c) = connect(addr).await {
            let req = Request::get("/readyz")
                .header("host", addr)
                .body(Full::new(Bytes::new()))?;
            if let Ok(resp) = c.send_request(req).await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not become ready within 30 s")
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("rapport-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(TempDir(dir))
}

/// `rapport serve` as a child process, stopped with SIGTERM.
struct Server(std::process::Child);

impl Server {
    fn start(dir: &std::path::Path, port: u16) -> anyhow::Result<Server> {
        let exe = std::env::current_exe()?;
        let child = std::process::Command::new(exe)
            .arg("serve")
            .env("RAPPORT_DATA_DIR", dir)
            .env_remove("RAPPORT_DATABASE_URL")
            .env("RAPPORT_LISTEN", format!("127.0.0.1:{port}"))
            .env("RAPPORT_LOG", "warn")
            // The benchmark measures the engine, not the platform's weekly limits.
            .env("RAPPORT_WEEKLY_INVITATION_LIMIT", "100000000")
            .env("RAPPORT_PREMIUM_WEEKLY_INVITATION_LIMIT", "100000000")
            .env("RAPPORT_OUTSTANDING_LIMIT", "100000000")
            .spawn()
            .context("starting rapport serve")?;
        Ok(Server(child))
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
