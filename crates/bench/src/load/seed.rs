//! The store a load run measures: a network drawn and written with `rapport seed`'s generator and
//! writer ([`rapport_synth`]), and an API token for each member who makes the load, written as its
//! hash like sign-in writes it, without hashing a password per member.

use super::report::{StoreFigures, MIB};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rapport_store::sqlite::bulk::BulkLoader;
use rapport_synth::Network;
use std::path::Path;
use std::time::Instant;

/// The password every seeded member has (one hash for all), as `rapport seed`'s default.
const PASSWORD: &str = "seeded-member-password";

/// The seeded store: its network, the members who act and their tokens, and its figures.
pub(crate) struct Seeded {
    pub net: Network,
    /// Network nodes with a token (member id is node + 1), in random order.
    pub holders: Vec<u32>,
    pub tokens: Vec<String>,
    pub figures: StoreFigures,
}

/// Draws the network and writes it with `rapport seed`'s writer (one password hash for all), then
/// a token for each of `active` members drawn at random.
pub(crate) fn seed_store(
    path: &Path,
    members: usize,
    avg: usize,
    active: usize,
    seed: u64,
) -> anyhow::Result<Seeded> {
    let err = |e: rapport_store::StoreError| anyhow::anyhow!("{e}");
    let started = Instant::now();
    let net = rapport_synth::generate(members, avg, seed, &mut |_| {});
    let draw_s = started.elapsed().as_secs_f64();
    let hash = rapport_app::auth::hash_password(PASSWORD)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut loader = BulkLoader::open(path).map_err(err)?;
    rapport_synth::write(
        &mut loader,
        &net,
        &hash,
        now,
        seed,
        &mut rapport_synth::Silent,
    )
    .map_err(err)?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x70CE_4005);
    let holders: Vec<u32> = rand::seq::index::sample(&mut rng, members, active)
        .into_iter()
        .map(|i| i as u32)
        .collect();
    let tokens: Vec<String> = holders
        .iter()
        .map(|_| rapport_app::auth::new_token())
        .collect();
    loader
        .tokens(
            holders
                .iter()
                .zip(&tokens)
                .map(|(&n, t)| (rapport_app::auth::token_hash(t), i64::from(n) + 1, now)),
        )
        .map_err(err)?;
    loader.finish().map_err(err)?;
    let figures = StoreFigures {
        members,
        directed_edges: net.directed_edges(),
        max_connections: net.max_degree(),
        pending_invitations: net.pending.len(),
        token_holders: active,
        draw_s,
        seed_s: started.elapsed().as_secs_f64(),
        seeded_db_mib: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / MIB,
        copy_s: None,
    };
    Ok(Seeded {
        net,
        holders,
        tokens,
        figures,
    })
}
