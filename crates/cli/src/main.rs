//! The `rapport` binary: a thin shell over the library crates.

mod copy;
mod import;
mod seed;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rapport_app::{App, Config, Database};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "rapport",
    version,
    about = "Connections and invitations for a professional network"
)]
struct Cli {
    /// The configuration file (optional; `RAPPORT_*` environment variables override it).
    #[arg(
        long,
        global = true,
        env = "RAPPORT_CONFIG",
        default_value = "rapport.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API, health, metrics), migrating the store first.
    Serve,
    /// Bring the store's schema up to date and exit.
    Migrate,
    /// Write a consistent copy of the embedded store to FILE, while the server keeps running.
    Backup {
        /// The new file to write (it must not exist).
        file: PathBuf,
    },
    /// Fill an empty embedded store with a realistic synthetic network (members sign in as
    /// member<N>@example.com).
    Seed(seed::Args),
    /// Copy a whole network from the embedded store into an empty PostgreSQL database.
    Copy(copy::Args),
    /// Administrative tasks on the store this configuration names.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Service keys for the community's own applications.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create or update members by the community's ids from a JSON Lines or CSV file; prints
    /// `created N, updated N, unchanged N, refused N` and each refused line with its reason.
    /// Exits 1 when any line was refused.
    Import(import::Args),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create {
        /// What the key is for, e.g. the application that holds it.
        #[arg(long)]
        name: String,
        /// A scope the key has (repeat for more): members:read, members:write, invitations:act,
        /// network:read, webhooks:manage.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List the keys (never their secrets).
    List,
    /// Revoke a key: requests made with it are refused from now on.
    Revoke {
        /// The key's id, as `rapport keys list` shows it.
        id: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make a member an administrator, or a member again.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["member", "admin"])]
        role: String,
    },
    /// Set a member's tier, which decides their weekly invitation limit.
    SetTier {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["free", "premium"])]
        tier: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rapport: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rapport: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Backup { file } => backup(config, &file),
            Command::Seed(args) => seed::run(config, args).await,
            Command::Copy(args) => copy::run(args).await,
            Command::Admin(task) => admin(config, task).await,
            Command::Keys(task) => keys(config, task).await,
            Command::Import(args) => {
                let app = App::open(config, Arc::new(rapport_domain::SystemClock))
                    .await
                    .context("opening the store")?;
                let summary = import::run(&app, args).await?;
                if summary.refused > 0 {
                    return Err(LinesRefused(summary.refused).into());
                }
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Already reported line by line, and in the summary.
        Err(e) if e.is::<LinesRefused>() => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rapport: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: a file or a log collector gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let app = App::open(config, Arc::new(rapport_domain::SystemClock))
        .await
        .context("opening the store")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (set RAPPORT_LISTEN)"))?;
    tracing::info!(address = %listener.local_addr()?, "rapport is listening");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(app.clone().run_workers(stopped));
    // On a signal the workers stop and every live stream ends, so that the server's drain of the
    // requests in flight is not held up by streams that would never finish.
    let signalled = async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
    };
    rapport_http::serve(listener, app, signalled).await?;
    let _ = workers.await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn admin(config: Config, task: AdminCommand) -> anyhow::Result<()> {
    let app = App::open(config, Arc::new(rapport_domain::SystemClock))
        .await
        .context("opening the store")?;
    let (email, update) = match task {
        AdminCommand::SetRole { email, role } => (
            email,
            rapport_app::AdminUpdate {
                role: Some(role),
                ..Default::default()
            },
        ),
        AdminCommand::SetTier { email, tier } => (
            email,
            rapport_app::AdminUpdate {
                tier: Some(tier),
                ..Default::default()
            },
        ),
    };
    let me = app
        .admin_update_by_email(&email, update)
        .await
        .map_err(|e| match e {
            rapport_app::AppError::Rule(rapport_domain::RuleError::NotFound) => {
                anyhow::anyhow!("no member has the email {email}")
            }
            other => anyhow::anyhow!("{other}"),
        })?;
    println!(
        "{} ({}): role {}, tier {}",
        me.name, me.email, me.role, me.tier
    );
    Ok(())
}

/// `rapport import` refused some lines (each reported already).
#[derive(Debug)]
struct LinesRefused(u64);

impl std::fmt::Display for LinesRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line(s) refused", self.0)
    }
}

impl std::error::Error for LinesRefused {}

async fn keys(config: Config, task: KeysCommand) -> anyhow::Result<()> {
    let app = App::open(config, Arc::new(rapport_domain::SystemClock))
        .await
        .context("opening the store")?;
    let said = |e: rapport_app::AppError| anyhow::anyhow!("{e}");
    match task {
        KeysCommand::Create { name, scopes } => {
            let k = app
                .admin_create_key(None, &name, &scopes)
                .await
                .map_err(said)?;
            println!("key {} ({}): {}", k.id, k.name, k.scopes.join(" "));
            println!("secret: {}", k.secret);
            println!("Keep the secret now: it is not shown again. Send it as Authorization: Bearer <secret>.");
        }
        KeysCommand::List => {
            let keys = app.admin_keys(None).await.map_err(said)?;
            if keys.is_empty() {
                println!("no keys; create one with rapport keys create --name NAME --scope SCOPE");
            }
            for k in keys {
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}",
                    k.id,
                    k.name,
                    k.scopes.join(" "),
                    k.created_at,
                    k.last_used_at.as_deref().unwrap_or("never")
                );
            }
        }
        KeysCommand::Revoke { id } => {
            app.admin_revoke_key(None, &id).await.map_err(|e| match e {
                rapport_app::AppError::Rule(rapport_domain::RuleError::NotFound) => {
                    anyhow::anyhow!("there is no key {id}; rapport keys list shows them")
                }
                other => anyhow::anyhow!("{other}"),
            })?;
            println!("key {id} revoked");
        }
    }
    Ok(())
}

fn backup(config: Config, file: &std::path::Path) -> anyhow::Result<()> {
    let Database::Sqlite(path) = &config.database else {
        anyhow::bail!("rapport backup copies the embedded store; back PostgreSQL up with pg_dump");
    };
    let started = std::time::Instant::now();
    let bytes = rapport_store::sqlite::backup(path, file).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{} → {}: {:.1} MiB in {:.1} s, integrity check ok",
        path.display(),
        file.display(),
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    println!("To restore: stop rapport, remove rapport.db-wal and rapport.db-shm, and put the copy in place of rapport.db.");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    match &config.database {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let n = rapport_store::sqlite::migrate(path)?;
            println!(
                "{}: {n} migration(s) applied; schema is up to date",
                path.display()
            );
            Ok(())
        }
        Database::Postgres(url) => {
            let n = rapport_store::postgres::PgStore::migrate_url(url).await?;
            println!("PostgreSQL: {n} migration(s) applied; schema is up to date");
            Ok(())
        }
    }
}
