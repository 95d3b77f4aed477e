//! Running the scenarios: closed loop (each connection sends its next request when the last is
//! answered) and open loop at a fixed arrival rate (wrk2-style, without coordinated omission),
//! each run's latencies in a histogram and its answers tallied by status.

use super::client::Conn;
use super::report::{print_header, print_row, Mode, Outcome};
use super::store_watch::{Counters, StoreDuringRun, WalWatch};
use super::workload::{Op, World};
use super::{pg_cpu, Plan};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers of a run, by class and by HTTP status.
#[derive(Default)]
pub(crate) struct Tally {
    pub ok: u64,
    pub c4: u64,
    pub c5: u64,
    pub err: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
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
pub(crate) struct Run {
    /// Latency of each answer, in microseconds.
    pub hist: Histogram<u64>,
    pub tally: Tally,
    pub secs: f64,
    /// Open loop only: requests that fell due but were never sent.
    pub missed: Option<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Runs the plan's scenarios in order, printing a row for each run as it ends: closed loop (with
/// the PostgreSQL server's CPU per operation when `postmaster` is known) and, with
/// `plan.open_at`, open loop at those fractions of the rate it reached; or, with `plan.rate`, open loop
/// at that rate only.
pub(crate) async fn run_scenarios(
    world: &Arc<World>,
    plan: &Plan,
    postmaster: Option<u32>,
) -> Vec<Outcome> {
    print_header();
    let mut results = Vec::new();
    for &scenario in &plan.scenarios {
        let ops = scenario.ops();
        if let Some(rate) = plan.rate {
            if scenario.acts_on_pending() {
                fill_pending(world, plan, rate).await;
            }
            let run = run_open(world, plan.connections, plan.duration, ops, rate).await;
            let open = Outcome::of(scenario, Mode::Open, Some(rate), run);
            print_row(&open);
            results.push(open);
            continue;
        }
        if scenario.acts_on_pending() {
            // Fill the pool of pending invitations these scenarios act on (not measured).
            let secs = plan.duration / 2;
            run_closed(world, plan.connections, secs, &[Op::Send], None).await;
        }
        let cpu_before = postmaster.and_then(pg_cpu::cpu_ms);
        let watch = Watch::start(world).await;
        let run = run_closed(world, plan.connections, plan.duration, ops, None).await;
        let cpu_after = postmaster.and_then(pg_cpu::cpu_ms);
        let mut closed = Outcome::of(scenario, Mode::Closed, None, run);
        closed.store = watch.finish(world).await;
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            closed.pg_cpu_ms_per_op = Some((after - before) / closed.requests.max(1) as f64);
        }
        let reached = closed.ops_per_sec;
        print_row(&closed);
        results.push(closed);
        for &fraction in &plan.open_at {
            let rate = reached * fraction;
            if rate <= 0.0 {
                continue;
            }
            if scenario.acts_on_pending() {
                fill_pending(world, plan, rate).await;
            }
            let watch = Watch::start(world).await;
            let run = run_open(world, plan.connections, plan.duration, ops, rate).await;
            let mut open = Outcome::of(scenario, Mode::Open, Some(rate), run);
            open.store = watch.finish(world).await;
            print_row(&open);
            results.push(open);
        }
    }
    results
}

/// The embedded store's log and checkpoints, watched over one run.
struct Watch {
    wal: Option<(WalWatch, Counters)>,
}

impl Watch {
    async fn start(world: &World) -> Watch {
        Watch {
            wal: match &world.wal {
                Some(path) => Some((
                    WalWatch::start(path.clone()),
                    Counters::read(world.addr(0)).await,
                )),
                None => None,
            },
        }
    }

    async fn finish(self, world: &World) -> Option<StoreDuringRun> {
        let (watch, before) = self.wal?;
        let wal_max_mib = watch.finish();
        Some(
            Counters::read(world.addr(0))
                .await
                .since(&before, wal_max_mib),
        )
    }
}

/// Sends (closed loop, not measured) until the pool of pending invitations holds enough for an
/// open-loop run at `rate`, or for at most one `--duration`.
async fn fill_pending(world: &Arc<World>, plan: &Plan, rate: f64) {
    let want = (rate * plan.duration.as_secs_f64() * 1.1).ceil() as usize;
    run_closed(
        world,
        plan.connections,
        plan.duration,
        &[Op::Send],
        Some(want),
    )
    .await;
}

/// Closed loop: each connection sends its next request when the last is answered.
pub(crate) async fn run_closed(
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
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                let op = ops[i % ops.len()];
                i += 1;
                let t = Instant::now();
                if conn.as_ref().is_none_or(Conn::is_closed) {
                    conn = Conn::open(world.addr(w)).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    tally.err += 1;
                    continue;
                };
                tally.count(world.one(c, op, &mut rng).await);
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
    let pending = world.pending();
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
        conns.push(Conn::open(world.addr(w)).await.ok());
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
                if conn.as_ref().is_none_or(Conn::is_closed) {
                    conn = Conn::open(world.addr(w)).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    tally.err += 1;
                    continue;
                };
                tally.count(world.one(c, op, &mut rng).await);
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
