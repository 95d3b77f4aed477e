//! `rapport-bench load --growth 10000,100000,1000000`: the same workload on networks of growing
//! size, one after the other, each on a freshly seeded store with its own server. For each size it
//! prints the run's table as it goes; at the end a table of how the figures grow (seed time,
//! start-up, memory, store size, throughput and p99 closed loop, p99 open loop at half the
//! closed-loop rate), the runs as JSON and four SVG plots, in the output directory.

use super::report::{print_summary, Mode, Outcome, Report};
use super::workload::Scenario;
use super::{run_size, Plan};
use crate::plot::{log_plot, log_plot_with_dashed, Series, PALETTE};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct Growth<'a> {
    date: String,
    sizes: &'a [usize],
    runs: &'a [Report],
}

pub(crate) async fn run(
    plan: &Plan,
    sizes: &[usize],
    data_dir: Option<&Path>,
    out: &Path,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let temp = tempfile::Builder::new()
        .prefix("rapport-bench-growth-")
        .tempdir()?;
    let base = data_dir.unwrap_or(temp.path()).to_owned();
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let json_path = json
        .map(Path::to_owned)
        .unwrap_or_else(|| out.join(format!("bench-growth-{stamp}.json")));
    let mut runs = Vec::new();
    for &size in sizes {
        println!();
        println!("== {size} members");
        let dir = base.join(format!("members-{size}"));
        let report = run_size(plan, size, &dir).await?;
        print_summary(&report);
        if data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        runs.push(report);
        // Written after every size, so a long run that fails late keeps what it measured.
        write_json(&json_path, sizes, &runs)?;
    }
    let plots = plot(&runs, out)?;
    println!();
    print_table(&runs);
    println!(
        "\nwritten: {}{}",
        json_path.display(),
        plots
            .iter()
            .map(|p| format!(", {}", p.display()))
            .collect::<String>()
    );
    Ok(())
}

fn write_json(path: &Path, sizes: &[usize], runs: &[Report]) -> anyhow::Result<()> {
    let growth = Growth {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        sizes,
        runs,
    };
    std::fs::write(path, serde_json::to_vec_pretty(&growth)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn closed(r: &Report, s: Scenario) -> Option<&Outcome> {
    r.row(s, Mode::Closed)
}

fn open(r: &Report, s: Scenario) -> Option<&Outcome> {
    r.row(s, Mode::Open)
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.digits$}"))
}

fn print_table(runs: &[Report]) {
    println!("| members | directed edges | seed s | start-up s | RSS MiB end / peak | DB MiB | mixed ops/s | mixed p99 ms | mixed open @½ p99 ms | inbox ops/s | profile ops/s | search ops/s | 4xx % | 5xx + errors | load avg |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let ops = |s| closed(r, s).map(|o| o.ops_per_sec);
        let (requests, c4, bad) = r.results.iter().fold((0, 0, 0), |(n, c4, bad), o| {
            (
                n + o.requests,
                c4 + o.client_4xx,
                bad + o.server_5xx + o.transport_errors,
            )
        });
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.0} / {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            r.members,
            r.store.directed_edges,
            r.store.seed_s,
            r.server.startup_s,
            r.server.rss_end_mib,
            r.server.rss_peak_mib,
            r.server.db_total_mib,
            cell(ops(Scenario::Mixed), 0),
            cell(closed(r, Scenario::Mixed).map(|o| o.p99_ms), 2),
            cell(open(r, Scenario::Mixed).map(|o| o.p99_ms), 2),
            cell(ops(Scenario::Inbox), 0),
            cell(ops(Scenario::Profile), 0),
            cell(ops(Scenario::Search), 0),
            100.0 * c4 as f64 / requests.max(1) as f64,
            bad,
            cell(r.machine.load_avg_end, 2),
        );
    }
}

/// Every scenario that was run closed loop (or open loop) in any of the runs, in plan order.
fn scenarios(runs: &[Report], mode: Mode) -> Vec<Scenario> {
    let mut out: Vec<Scenario> = Vec::new();
    for o in runs.iter().flat_map(|r| &r.results) {
        if o.mode == mode && !out.contains(&o.scenario) {
            out.push(o.scenario);
        }
    }
    out
}

fn index(all: &[Scenario], s: Scenario) -> usize {
    all.iter().position(|&a| a == s).unwrap_or(0)
}

fn plot(runs: &[Report], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let x = |r: &Report| r.members as f64;
    let points = |f: &dyn Fn(&Report) -> Option<f64>| -> Vec<(f64, f64)> {
        runs.iter()
            .filter_map(|r| f(r).map(|y| (x(r), y)))
            .collect()
    };
    // One colour per scenario: solid closed loop, dashed open loop.
    let mut all = scenarios(runs, Mode::Closed);
    for s in scenarios(runs, Mode::Open) {
        if !all.contains(&s) {
            all.push(s);
        }
    }
    let color = |i: usize| PALETTE[i % PALETTE.len()];
    let closed_names: Vec<(usize, Scenario, String)> = scenarios(runs, Mode::Closed)
        .into_iter()
        .map(|s| (index(&all, s), s, format!("{} closed", s.name())))
        .collect();
    let open_names: Vec<(usize, Scenario, String)> = scenarios(runs, Mode::Open)
        .into_iter()
        .map(|s| {
            (
                index(&all, s),
                s,
                format!("{} open loop at half rate", s.name()),
            )
        })
        .collect();
    let throughput: Vec<Series<'_>> = closed_names
        .iter()
        .map(|(i, s, name)| {
            (
                name.as_str(),
                color(*i),
                points(&|r| closed(r, *s).map(|o| o.ops_per_sec)),
            )
        })
        .collect();
    let p99_closed: Vec<Series<'_>> = closed_names
        .iter()
        .map(|(i, s, name)| {
            (
                name.as_str(),
                color(*i),
                points(&|r| closed(r, *s).map(|o| o.p99_ms)),
            )
        })
        .collect();
    let p99_open: Vec<Series<'_>> = open_names
        .iter()
        .map(|(i, s, name)| {
            (
                name.as_str(),
                color(*i),
                points(&|r| open(r, *s).map(|o| o.p99_ms)),
            )
        })
        .collect();
    let memory: Vec<Series<'_>> = vec![
        (
            "server RSS at the end",
            color(0),
            points(&|r| Some(r.server.rss_end_mib)),
        ),
        (
            "server RSS peak",
            color(1),
            points(&|r| Some(r.server.rss_peak_mib)),
        ),
        (
            "database + WAL on disk",
            color(2),
            points(&|r| Some(r.server.db_total_mib)),
        ),
    ];
    let time: Vec<Series<'_>> = vec![
        (
            "server start-up (to /readyz)",
            color(0),
            points(&|r| Some(r.server.startup_s)),
        ),
        (
            "seeding the store",
            color(1),
            points(&|r| Some(r.store.seed_s)),
        ),
    ];
    let mut written = Vec::new();
    let path = out.join("growth-throughput.svg");
    log_plot(
        &path,
        "Throughput, closed loop (log-log)",
        "members",
        "requests per second",
        &throughput,
    )?;
    written.push(path);
    let path = out.join("growth-p99.svg");
    log_plot_with_dashed(
        &path,
        "p99 latency: closed loop, and open loop at half that rate (log-log)",
        "members",
        "milliseconds",
        &p99_closed,
        &p99_open,
    )?;
    written.push(path);
    let path = out.join("growth-memory.svg");
    log_plot(
        &path,
        "Server memory and store size (log-log)",
        "members",
        "MiB",
        &memory,
    )?;
    written.push(path);
    let path = out.join("growth-startup.svg");
    log_plot(
        &path,
        "Server start-up and seeding (log-log)",
        "members",
        "seconds",
        &time,
    )?;
    written.push(path);
    Ok(written)
}
