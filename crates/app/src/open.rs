//! The composition root: the store, graph index, mail transport and HTTP client an [`App`] is
//! made of, wired together at start.

use crate::{
    auth, blocking, hashing, live, login_limit, mail, node, oidc, signing, App, AppError,
    AppResult, Config, Database, Inner,
};
use rapport_domain::Clock;
use rapport_graph::Graph;
use rapport_store::postgres::PgStore;
use rapport_store::sqlite::{SqliteOptions, SqliteStore, WriterSettings};
use rapport_store::{Change, CommitHook, Store};
use std::sync::Arc;
use std::time::Duration;

/// Builds the graph index from every connection between active members of `store`, as `serve`
/// does at start.
pub async fn load_graph(store: &dyn Store) -> AppResult<Graph> {
    let mut builder = rapport_graph::Builder::new();
    store
        .scan_connections(&mut |a, b| builder.push(node(a), node(b)))
        .await?;
    Ok(builder.finish())
}

impl App {
    /// Opens the configured store, loads the graph index from it and returns a ready app.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> AppResult<App> {
        let graph = Arc::new(Graph::new());
        let hub = Arc::new(live::Hub::default());
        let hook_graph = graph.clone();
        let hook_hub = hub.clone();
        let hook: CommitHook = Arc::new(move |changes: &[Change]| {
            for change in changes {
                match *change {
                    Change::Connected(a, b) => hook_graph.connect(node(a), node(b)),
                    Change::Disconnected(a, b) => hook_graph.disconnect(node(a), node(b)),
                    Change::Event => hook_hub.wake.notify_one(),
                    Change::MemberSaved(_) => {}
                }
            }
        });
        let mail = mail::Transport::from_config(&config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            // Deliveries go straight to the endpoint, through a resolver that keeps them off
            // private addresses (a proxy would resolve the name itself).
            .no_proxy()
            .dns_resolver(Arc::new(crate::outbound::GuardedResolver {
                allow_private: config.webhook_allow_private,
            }))
            .build()
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let store: Arc<dyn Store> = match &config.database {
            Database::Sqlite(path) => Arc::new(SqliteStore::open_with(
                path,
                SqliteOptions {
                    max_size: config.sqlite_max_size,
                    writer: WriterSettings {
                        queue_budget: config.write_queue_budget,
                        checkpoints: config.sqlite_checkpoints,
                    },
                },
                hook,
            )?),
            Database::Postgres(url) => {
                Arc::new(PgStore::open(url, config.database_read_url.as_deref(), hook).await?)
            }
        };
        let shared = store.shared();
        let started = std::time::Instant::now();
        graph.replace_with(load_graph(store.as_ref()).await?);
        tracing::info!(
            edges = graph.edge_count(),
            ms = started.elapsed().as_millis() as u64,
            bytes = graph.memory_bytes() as u64,
            "graph index loaded"
        );
        let fresh: Vec<u8> = {
            use rand::RngCore;
            let mut key = vec![0; signing::SECRET_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut key);
            key
        };
        let secret = store.server_secret("signing", fresh, clock.now()).await?;
        let dummy_hash = blocking(|| auth::hash_password("a password nobody has"))
            .await?
            .map_err(AppError::Internal)?;
        let logins = login_limit::LoginLimiter::new(config.login_failures_per_address);
        let signups = login_limit::SignupLimiter::new(config.signups_per_address);
        let oidc = config
            .oidc
            .iter()
            .cloned()
            .map(oidc::Provider::new)
            .collect();
        let oidc_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| AppError::Internal(format!("HTTP client: {e}")))?;
        Ok(App {
            inner: Arc::new(Inner {
                oidc,
                oidc_http,
                store,
                graph,
                clock,
                config,
                // Over a shared store, trusted once it hears the other replicas' revocations.
                tokens: auth::TokenCache::new(!shared),
                recording_uses: Default::default(),
                logins,
                signups,
                hashing: hashing::HashGate::per_core(),
                dummy_hash,
                hub,
                mail,
                http,
                signer: signing::Signer::new(secret),
                leads: std::sync::atomic::AtomicBool::new(!shared),
                replica: replica_name(),
            }),
        })
    }
}

/// This process, as the leases table names it: host, process id and a random part (a restarted
/// replica is a new holder).
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rapport".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
