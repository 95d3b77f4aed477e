//! `rapport-bench`: the benchmarks behind BENCHMARKS.md (`scripts/bench` runs them all), in a
//! binary of their own so that the server carries none of what they need (an HTTP client, latency
//! histograms, plots).
//!
//! `load` drives real `rapport serve` processes over HTTP, started from the `rapport` binary as an
//! operator would run it; `graph` measures the graph index in this process, beside the same
//! questions asked of the store in SQL. Both seed their stores with `rapport seed`'s generator and
//! writer ([`rapport_synth`]).

mod graph;
mod load;
mod plot;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rapport-bench", version, about = "Benchmarks of Rapport")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive rapport servers over HTTP and report throughput and latency per operation.
    Load(Box<load::Args>),
    /// Measure the graph index on seeded networks of growing size, beside the same questions in
    /// SQL.
    Graph(graph::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // What the stores and the index say while the benchmark runs them in this process (the
    // servers it starts log on their own): warnings unless RAPPORT_LOG says otherwise.
    let filter = std::env::var("RAPPORT_LOG").unwrap_or_else(|_| "warn".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rapport-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Load(args) => load::run(*args).await,
            Command::Graph(args) => graph::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rapport-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_command_line_is_well_formed() {
        // Clap's own check: no flag conflicts with or requires one that does not exist.
        Cli::command().debug_assert();
    }

    #[test]
    fn the_load_flags_of_scripts_bench_parse() {
        // scripts/bench's PostgreSQL step, flag for flag.
        let cli = Cli::try_parse_from([
            "rapport-bench",
            "load",
            "--members",
            "2000",
            "--connections",
            "64",
            "--duration",
            "5s",
            "--scenarios",
            "noop,mixed",
            "--open-at-half",
            "--postgres",
            "postgres://postgres@127.0.0.1:5432/test",
            "--replicas",
            "2",
            "--pool-size",
            "4",
            "--json",
            "out.json",
        ]);
        assert!(cli.is_ok(), "{:?}", cli.err());
    }
}
