//! `rapport-bench graph`: the graph index on seeded networks of growing size, side by side with
//! the same question asked of the store in SQL, in the same run.
//!
//! For each size it draws a network (see [`rapport_synth`]), seeds a fresh embedded store with it
//! (timed), loads the index from the store in this process the way `serve` does (timed, with its
//! bytes per directed edge), then measures:
//! - mutual counts for a page of 20 received invitations (senders mostly two steps away, as real
//!   invitations are), in the index and with one SQL join per card on the same store;
//! - the degree of a pair, by answer (2nd, 3rd, out of network), over pairs drawn uniformly and by
//!   two- and three-step walks (uniform pairs in a large network are almost never 2nd degree).
//!
//! It prints a table, writes the figures as JSON and two SVG plots of how they grow. It measures;
//! it asserts nothing.

use crate::plot::log_plot;
use anyhow::Context;
use hdrhistogram::Histogram;
use plotters::prelude::{BLUE, GREEN, MAGENTA, RED};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_graph::{Degree, Graph};
use rapport_store::sqlite::bulk::BulkLoader;
use rapport_store::sqlite::SqliteStore;
use rapport_synth::Network;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Network sizes, in members.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// Average connections per member.
    #[arg(long, default_value_t = 50)]
    avg_connections: usize,
    /// Pages of 20 invitations to count mutual connections for, in the index.
    #[arg(long, default_value_t = 5_000)]
    pages: usize,
    /// Of those, pages also asked of the store in SQL (slower, so fewer).
    #[arg(long, default_value_t = 500)]
    sql_pages: usize,
    /// Pairs to ask the degree of, per way of drawing them.
    #[arg(long, default_value_t = 20_000)]
    pairs: usize,
    /// Where the seeded stores go (a temporary directory by default; each is removed after use).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where the JSON and SVG plots go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Latency {
    samples: u64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            samples: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct SizeResult {
    members: usize,
    directed_edges: usize,
    max_connections: usize,
    draw_s: f64,
    seed_s: f64,
    store_mib: f64,
    load_s: f64,
    index_bytes: usize,
    bytes_per_directed_edge: f64,
    mutual_page_index: Latency,
    mutual_page_sql: Latency,
    /// p99 of SQL over p99 of the index, for the same pages.
    sql_over_index_p99: f64,
    degree_second: Latency,
    degree_third: Latency,
    degree_out: Latency,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let temp = tempfile::tempdir()?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_owned());
    let mut results = Vec::new();
    for &size in &args.sizes {
        eprintln!(
            "== {size} members, about {} connections each",
            args.avg_connections
        );
        let r = tokio::task::block_in_place(|| one_size(&args, size, &work))?;
        print_row(&r);
        results.push(r);
    }
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let json = args.out.join(format!("graph-{stamp}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)?;
    let latency_svg = args.out.join("graph-latency.svg");
    let build_svg = args.out.join("graph-build.svg");
    plot_latency(&results, &latency_svg)?;
    plot_build(&results, &build_svg)?;
    println!();
    print_table(&results);
    println!(
        "\nwritten: {}, {}, {}",
        json.display(),
        latency_svg.display(),
        build_svg.display()
    );
    Ok(())
}

fn one_size(args: &Args, size: usize, work: &Path) -> anyhow::Result<SizeResult> {
    let started = Instant::now();
    let net = rapport_synth::generate(size, args.avg_connections, args.seed, &mut |_| {});
    let draw_s = started.elapsed().as_secs_f64();

    let dir = work.join(format!("graph-{size}"));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("rapport.db");
    let started = Instant::now();
    seed_store(&net, &path, args.seed)?;
    let seed_s = started.elapsed().as_secs_f64();
    let store_mib = std::fs::metadata(&path)?.len() as f64 / 1_048_576.0;

    let runtime = tokio::runtime::Handle::current();
    let store = SqliteStore::open(&path, Arc::new(|_: &[rapport_store::Change]| {}))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let graph = runtime
        .block_on(rapport_app::load_graph(&store))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let load_s = started.elapsed().as_secs_f64();
    drop(store);
    let index_bytes = graph.memory_bytes();
    let directed_edges = 2 * graph.edge_count();

    let mut rng = StdRng::seed_from_u64(args.seed ^ 0xBE7C);
    let (page_index, page_sql) = mutual_pages(args, &net, &graph, &path, &mut rng)?;
    let (second, third, out) = degrees(args, &net, &graph, &mut rng);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SizeResult {
        members: size,
        directed_edges,
        max_connections: net.max_degree(),
        draw_s,
        seed_s,
        store_mib,
        load_s,
        index_bytes,
        bytes_per_directed_edge: index_bytes as f64 / directed_edges.max(1) as f64,
        sql_over_index_p99: page_sql.p99_us / page_index.p99_us.max(0.001),
        mutual_page_index: page_index,
        mutual_page_sql: page_sql,
        degree_second: second,
        degree_third: third,
        degree_out: out,
    })
}

/// Writes `net` to a fresh store the way `rapport seed` does (ids from 1: node `i` is member
/// `i + 1`), without progress bars.
fn seed_store(net: &Network, path: &Path, seed: u64) -> anyhow::Result<()> {
    let err = |e: rapport_store::StoreError| anyhow::anyhow!("{e}");
    let mut loader = BulkLoader::open(path).map_err(err)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    rapport_synth::write(&mut loader, net, "", now, seed, &mut rapport_synth::Silent)
        .map_err(err)?;
    loader.finish().map_err(err)
}

/// A member `steps` random steps from `from` (or a random member where a walk runs dry).
fn walk(net: &Network, rng: &mut StdRng, from: u32, steps: usize) -> u32 {
    let mut at = from;
    for _ in 0..steps {
        let next = net.neighbours(at);
        if next.is_empty() {
            return rng.gen_range(0..net.members() as u32);
        }
        at = next[rng.gen_range(0..next.len())];
    }
    at
}

/// Graph nodes are store ids, member `i + 1` for network node `i`.
fn id(n: u32) -> u32 {
    n + 1
}

fn mutual_pages(
    args: &Args,
    net: &Network,
    graph: &Graph,
    path: &Path,
    rng: &mut StdRng,
) -> anyhow::Result<(Latency, Latency)> {
    let n = net.members() as u32;
    let pages: Vec<(u32, Vec<u32>)> = (0..args.pages)
        .map(|_| {
            let viewer = rng.gen_range(0..n);
            let mut senders = Vec::with_capacity(20);
            while senders.len() < 20 {
                let s = if rng.gen_bool(0.7) {
                    walk(net, rng, viewer, 2)
                } else {
                    rng.gen_range(0..n)
                };
                // Nobody invites themself.
                if s != viewer {
                    senders.push(s);
                }
            }
            (viewer, senders)
        })
        .collect();
    let mut index = histogram();
    let mut sink = 0usize;
    for (viewer, senders) in &pages {
        let ids: Vec<u32> = senders.iter().map(|&s| id(s)).collect();
        let t = Instant::now();
        let v = graph.view();
        sink += v
            .mutual_counts(id(*viewer), &ids, &[])
            .iter()
            .sum::<usize>();
        drop(v);
        index.record(t.elapsed().as_nanos().max(1) as u64)?;
    }
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare(
        // The same question the index answers: shared connections who are active members.
        "SELECT count(*) FROM connections a
           JOIN connections b ON b.member_id = ?2 AND b.other_id = a.other_id
           JOIN members m ON m.id = a.other_id AND m.status = 'active'
          WHERE a.member_id = ?1",
    )?;
    let mut sql = histogram();
    let mut check = 0usize;
    for (viewer, senders) in pages.iter().take(args.sql_pages) {
        let t = Instant::now();
        for &s in senders {
            let c: i64 =
                stmt.query_row([i64::from(id(*viewer)), i64::from(id(s))], |r| r.get(0))?;
            check += c as usize;
        }
        sql.record(t.elapsed().as_nanos().max(1) as u64)?;
    }
    // The same pages must get the same answers both ways.
    let index_check: usize = pages
        .iter()
        .take(args.sql_pages)
        .flat_map(|(v, ss)| ss.iter().map(move |s| (v, s)))
        .map(|(v, s)| graph.view().mutual_count(id(*v), id(*s), &[]))
        .sum();
    anyhow::ensure!(
        index_check == check,
        "the index and SQL disagree on mutual counts ({index_check} vs {check})"
    );
    std::hint::black_box(sink);
    Ok((Latency::of(&index), Latency::of(&sql)))
}

fn degrees(
    args: &Args,
    net: &Network,
    graph: &Graph,
    rng: &mut StdRng,
) -> (Latency, Latency, Latency) {
    let n = net.members() as u32;
    let (mut second, mut third, mut out) = (histogram(), histogram(), histogram());
    for steps in [0usize, 2, 3] {
        for _ in 0..args.pairs {
            let a = rng.gen_range(0..n);
            let b = if steps == 0 {
                rng.gen_range(0..n)
            } else {
                walk(net, rng, a, steps)
            };
            let t = Instant::now();
            let d = graph.view().degree(id(a), id(b), &[]);
            let ns = t.elapsed().as_nanos().max(1) as u64;
            let h = match d {
                Degree::Second => &mut second,
                Degree::Third => &mut third,
                Degree::OutOfNetwork => &mut out,
                Degree::First => continue,
            };
            let _ = h.record(ns);
        }
    }
    (Latency::of(&second), Latency::of(&third), Latency::of(&out))
}

fn print_row(r: &SizeResult) {
    eprintln!(
        "   seed {:.1} s, load {:.2} s, {:.2} B/edge, page of 20: index p99 {:.1} µs vs SQL p99 {:.0} µs ({:.0}×), degree p99: 2nd {:.1} µs, 3rd {:.1} µs",
        r.seed_s,
        r.load_s,
        r.bytes_per_directed_edge,
        r.mutual_page_index.p99_us,
        r.mutual_page_sql.p99_us,
        r.sql_over_index_p99,
        r.degree_second.p99_us,
        r.degree_third.p99_us
    );
}

fn print_table(results: &[SizeResult]) {
    println!("| members | directed edges | max conn. | seed | load | index B/edge | page of 20 mutual counts, index p50 / p99 | same in SQL p50 / p99 | SQL ÷ index (p99) | degree 2nd p50 / p99 | degree 3rd p50 / p99 | out of network p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        println!(
            "| {} | {} | {} | {:.1} s | {:.2} s | {:.2} | {:.1} / {:.1} µs | {:.0} / {:.0} µs | {:.0}× | {:.1} / {:.1} µs | {:.1} / {:.1} µs | {} |",
            r.members,
            r.directed_edges,
            r.max_connections,
            r.seed_s,
            r.load_s,
            r.bytes_per_directed_edge,
            r.mutual_page_index.p50_us,
            r.mutual_page_index.p99_us,
            r.mutual_page_sql.p50_us,
            r.mutual_page_sql.p99_us,
            r.sql_over_index_p99,
            r.degree_second.p50_us,
            r.degree_second.p99_us,
            r.degree_third.p50_us,
            r.degree_third.p99_us,
            if r.degree_out.samples == 0 {
                "none drawn".to_owned()
            } else {
                format!("{:.0} µs", r.degree_out.p99_us)
            },
        );
    }
}

fn plot_latency(results: &[SizeResult], path: &Path) -> anyhow::Result<()> {
    let pick = |f: fn(&SizeResult) -> f64| -> Vec<(f64, f64)> {
        results.iter().map(|r| (r.members as f64, f(r))).collect()
    };
    log_plot(
        path,
        "Graph questions, p99 (log-log)",
        "members",
        "microseconds",
        &[
            (
                "page of 20 mutual counts, SQL",
                RED,
                pick(|r| r.mutual_page_sql.p99_us),
            ),
            (
                "page of 20 mutual counts, index",
                BLUE,
                pick(|r| r.mutual_page_index.p99_us),
            ),
            (
                "degree, 3rd-degree answers",
                MAGENTA,
                pick(|r| r.degree_third.p99_us),
            ),
            (
                "degree, 2nd-degree answers",
                GREEN,
                pick(|r| r.degree_second.p99_us),
            ),
        ],
    )
}

fn plot_build(results: &[SizeResult], path: &Path) -> anyhow::Result<()> {
    let pick = |f: fn(&SizeResult) -> f64| -> Vec<(f64, f64)> {
        results.iter().map(|r| (r.members as f64, f(r))).collect()
    };
    log_plot(
        path,
        "Seeding the store and loading the index (log-log)",
        "members",
        "seconds",
        &[
            ("seed (write the store)", RED, pick(|r| r.seed_s)),
            ("load the index from the store", BLUE, pick(|r| r.load_s)),
            ("draw the network in memory", GREEN, pick(|r| r.draw_s)),
        ],
    )
}
