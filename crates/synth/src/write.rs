//! Writing a drawn [`Network`] into an empty embedded store through the store's bulk loader:
//! member `i + 1` for node `i` (signing in as `member<i + 1>@example.com`), every connection both
//! ways, the pending invitations. Times are spread over the past and repeat with the seed.

use crate::Network;
use rapport_store::sqlite::bulk::{BulkLoader, BulkMember};
use rapport_store::StoreResult;

const DAY_MS: i64 = 86_400_000;

/// What the writer says as it goes: each step (`members`, `connections`, `invitations`) as it
/// begins, with the rows it will write, then the rows written so far, then its end. `rapport seed`
/// draws a progress bar per step; [`Silent`] says nothing.
pub trait Progress {
    fn begin(&mut self, step: &str, rows: u64);
    fn written(&mut self, rows: u64);
    fn end(&mut self);
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {
    fn begin(&mut self, _step: &str, _rows: u64) {}
    fn written(&mut self, _rows: u64) {}
    fn end(&mut self) {}
}

/// Writes `net` through `loader`, every member with the password hash `hash`, at `now` (Unix
/// milliseconds). The caller finishes the loader (and may write more through it first).
pub fn write(
    loader: &mut BulkLoader,
    net: &Network,
    hash: &str,
    now: i64,
    seed: u64,
    progress: &mut dyn Progress,
) -> StoreResult<()> {
    let n = net.members();
    let mut pending_sent = vec![0i64; n];
    for &(from, _) in &net.pending {
        pending_sent[from as usize] += 1;
    }
    progress.begin("members", n as u64);
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
    loader.members(members, &mut |done| progress.written(done))?;
    progress.end();

    progress.begin("connections", net.directed_edges() as u64);
    let rows = (0..n as u32).flat_map(|a| {
        net.neighbours(a).iter().map(move |&b| {
            let (lo, hi) = (u64::from(a.min(b)), u64::from(a.max(b)));
            let age = (mix(seed ^ lo, hi) % (365 * DAY_MS as u64)) as i64;
            (i64::from(a) + 1, i64::from(b) + 1, now - DAY_MS - age)
        })
    });
    loader.connections(rows, &mut |done| progress.written(done))?;
    progress.end();

    progress.begin("invitations", net.pending.len() as u64);
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
    loader.pending_invitations(&rows, &mut |done| progress.written(done))?;
    progress.end();
    Ok(())
}

/// A well-mixed number from two, so generated times look random but repeat with the seed.
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.rotate_left(29);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}
