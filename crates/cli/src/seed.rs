//! `rapport seed`: draws a synthetic network (see [`crate::synth`]) and writes it into an empty
//! embedded store, with a progress bar per step and a summary at the end. Every seeded member can
//! sign in as `member<N>@example.com` with the password the summary prints.

use crate::synth::{self, Network};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_app::{Config, Database};
use rapport_store::sqlite::bulk::{BulkLoader, BulkMember};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// How many members to create.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(2..=50_000_000))]
    members: u64,
    /// Average connections per member (the spread follows a power law).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    avg_connections: u64,
    /// Seed of the generator: the same seed draws the same network.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The password every seeded member signs in with (at least 10 characters).
    #[arg(long, default_value = "seeded-member-password")]
    password: String,
}

const DAY_MS: i64 = 86_400_000;

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A well-mixed number from two, so generated times look random but repeat with the seed.
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.rotate_left(29);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let Database::Sqlite(path) = &config.database else {
        bail!("rapport seed writes the embedded store; point RAPPORT_DATABASE_URL at sqlite:// (or leave it unset), then move the network to PostgreSQL with rapport copy");
    };
    if args.password.chars().count() < 10 {
        bail!("--password must have at least 10 characters, as every password does");
    }
    let started = Instant::now();
    let mut loader = BulkLoader::open(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (n, avg) = (args.members as usize, args.avg_connections as usize);

    let pb = bar(args.members, "drawing");
    let net = tokio::task::block_in_place(|| {
        synth::generate(n, avg, args.seed, &mut |done| pb.set_position(done))
    });
    pb.finish();
    let drawn = started.elapsed();

    let password = args.password.clone();
    let hash = tokio::task::spawn_blocking(move || rapport_app::auth::hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;

    tokio::task::block_in_place(|| write(&mut loader, &net, &hash, now, args.seed, true))?;
    loader
        .finish()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("finishing the store")?;
    summary(&net, path, &args, drawn, started.elapsed());
    Ok(())
}

/// Writes `net` through `loader`: member `i + 1` for node `i`, every connection both ways, the
/// pending invitations; with progress bars when `show_progress`. `rapport bench-graph` seeds its
/// stores with this too.
pub fn write(
    loader: &mut BulkLoader,
    net: &Network,
    hash: &str,
    now: i64,
    seed: u64,
    show_progress: bool,
) -> anyhow::Result<()> {
    let bar = |len: u64, what: &str| {
        if show_progress {
            bar(len, what)
        } else {
            ProgressBar::hidden()
        }
    };
    let n = net.members();
    let mut pending_sent = vec![0i64; n];
    for &(from, _) in &net.pending {
        pending_sent[from as usize] += 1;
    }
    let pb = bar(n as u64, "members");
    let members = (0..n).map(|i| {
        let p = &net.profiles[i];
        BulkMember {
            id: i as i64 + 1,
            email: format!("member{}@example.com", i + 1),
            password_hash: hash,
            name: p.name(),
            headline: p.headline(),
            company: p.company(),
            location: p.location(),
            created_at: now - 400 * DAY_MS - (mix(seed, i as u64) % (1_000 * DAY_MS as u64)) as i64,
            connection_count: net.neighbours(i as u32).len() as i64,
            pending_sent: pending_sent[i],
        }
    });
    loader
        .members(members, &mut |done| pb.set_position(done))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    pb.finish();

    let pb = bar(net.directed_edges() as u64, "connections");
    let rows = (0..n as u32).flat_map(|a| {
        net.neighbours(a).iter().map(move |&b| {
            let (lo, hi) = (u64::from(a.min(b)), u64::from(a.max(b)));
            let age = (mix(seed ^ lo, hi) % (365 * DAY_MS as u64)) as i64;
            (i64::from(a) + 1, i64::from(b) + 1, now - DAY_MS - age)
        })
    });
    loader
        .connections(rows, &mut |done| pb.set_position(done))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    pb.finish();

    let pb = bar(net.pending.len() as u64, "invitations");
    let rows: Vec<(i64, i64, i64, i64)> = net
        .pending
        .iter()
        .map(|&(from, to)| {
            // Sent within the last six days, so the first reminder is still ahead.
            let at =
                now - (mix(seed ^ u64::from(from), u64::from(to)) % (6 * DAY_MS as u64)) as i64;
            (i64::from(from) + 1, i64::from(to) + 1, at, at + 7 * DAY_MS)
        })
        .collect();
    loader
        .pending_invitations(&rows, &mut |done| pb.set_position(done))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    pb.finish();
    Ok(())
}

fn summary(net: &Network, path: &std::path::Path, args: &Args, drawn: Duration, total: Duration) {
    let n = net.members();
    let edges = net.directed_edges() / 2;
    let mut degrees: Vec<usize> = (0..n as u32).map(|i| net.neighbours(i).len()).collect();
    degrees.sort_unstable();
    let median = degrees.get(n / 2).copied().unwrap_or(0);
    let p99 = degrees.get(n * 99 / 100).copied().unwrap_or(0);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!("Seeded {}:", path.display());
    println!("  members            {n}");
    println!(
        "  connections        {edges} ({:.1} per member; median {median}, p99 {p99}, max {})",
        2.0 * edges as f64 / n as f64,
        net.max_degree()
    );
    println!("  pending invitations {}", net.pending.len());
    println!("  seed               {}", args.seed);
    println!(
        "  time               {:.1} s ({:.1} s drawing, {:.1} s writing)",
        total.as_secs_f64(),
        drawn.as_secs_f64(),
        (total - drawn).as_secs_f64()
    );
    println!("  store size         {:.1} MiB", size as f64 / 1048576.0);
    println!(
        "Sign in as member1@example.com … member{n}@example.com with the password {:?}.",
        args.password
    );
}
