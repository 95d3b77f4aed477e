//! `rapport seed`: draws a synthetic network (see [`rapport_synth`]) and writes it into an empty
//! embedded store, with a progress bar per step and a summary at the end. Every seeded member can
//! sign in as `member<N>@example.com` with the password the summary prints.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_app::{Config, Database};
use rapport_store::sqlite::bulk::BulkLoader;
use rapport_synth::{Network, Progress};
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

/// A progress bar for each step of the writer.
#[derive(Default)]
struct Bars(Option<ProgressBar>);

impl Progress for Bars {
    fn begin(&mut self, step: &str, rows: u64) {
        self.0 = Some(bar(rows, step));
    }

    fn written(&mut self, rows: u64) {
        if let Some(pb) = &self.0 {
            pb.set_position(rows);
        }
    }

    fn end(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish();
        }
    }
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
        rapport_synth::generate(n, avg, args.seed, &mut |done| pb.set_position(done))
    });
    pb.finish();
    let drawn = started.elapsed();

    let password = args.password.clone();
    let hash = tokio::task::spawn_blocking(move || rapport_app::auth::hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;

    tokio::task::block_in_place(|| {
        rapport_synth::write(
            &mut loader,
            &net,
            &hash,
            now,
            args.seed,
            &mut Bars::default(),
        )
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    loader
        .finish()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("finishing the store")?;
    summary(&net, path, &args, drawn, started.elapsed());
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
