//! Background work: the sweeper, the lease that makes it run on one replica only, and the task
//! that runs every worker until the process stops.

use crate::{auth, App, AppResult};
use std::time::Duration;

/// Waits until `stop` turns true (or nobody is left to turn it).
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}

/// Sleeps for `d` between two passes of a worker; `false` when the process is stopping instead.
pub(crate) async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = stopped(stop) => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// Runs `prune` (which deletes at most [`PRUNE_BATCH`] rows) until a batch comes back short;
/// returns how many rows went in all.
async fn in_batches<F, Fut>(mut prune: F) -> AppResult<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = rapport_store::StoreResult<u64>>,
{
    let mut pruned = 0;
    loop {
        let n = prune().await?;
        pruned += n;
        if n < u64::from(PRUNE_BATCH) {
            return Ok(pruned);
        }
    }
}

/// What one pass of the sweeper did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub expired: u64,
    pub reminded: u64,
    pub restrictions_ended: u64,
    /// Sign-in tokens deleted past their absolute or idle lifetime.
    pub tokens_pruned: u64,
    /// `Idempotency-Key` answers deleted after their 24 hours.
    pub replays_pruned: u64,
}

/// Rows a pruning statement deletes at once, so that no one transaction grows without bound.
const PRUNE_BATCH: u32 = 1_000;

/// The lease on the background work that runs once across replicas (sweeps, mail, webhooks).
const WORK_LEASE: &str = "background-work";
/// How long the lease lasts unless renewed: how soon another replica takes over from one that died.
const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews it.
const LEASE_RENEW: Duration = Duration::from_secs(3);

impl App {
    /// Does this replica run the background work that must run once (see [`App::run_workers`])?
    pub(crate) fn leads(&self) -> bool {
        self.inner.leads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes and renews the background-work lease until `stop`, then gives it up, so that exactly
    /// one replica sweeps, mails and delivers webhooks, and another takes over within
    /// [`LEASE_TTL`] when it dies.
    async fn run_lease(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self.store().shared() {
            return;
        }
        let set = |on: bool| {
            let was = self
                .inner
                .leads
                .swap(on, std::sync::atomic::Ordering::SeqCst);
            if was != on {
                tracing::info!(replica = %self.inner.replica, leads = on, "background work lease");
                metrics::gauge!("rapport_background_lease").set(if on { 1.0 } else { 0.0 });
            }
        };
        loop {
            match self
                .store()
                .lease(WORK_LEASE, &self.inner.replica, LEASE_TTL)
                .await
            {
                Ok(held) => set(held),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the background work lease");
                    set(false);
                }
            }
            if !pause(&mut stop, LEASE_RENEW).await {
                break;
            }
        }
        set(false);
        if let Err(e) = self.store().release(WORK_LEASE, &self.inner.replica).await {
            tracing::warn!(error = %e, "could not give the background work lease up");
        }
    }

    /// One pass of the sweeper: expires invitations pending for longer than the expiry (silently),
    /// sends the reminders that are due, tells members whose restriction ended, prunes the outbox,
    /// dead sign-in tokens and `Idempotency-Key` answers past their window.
    /// Idempotent, so a pass interrupted by a restart is simply done again.
    pub async fn sweep(&self) -> AppResult<Swept> {
        let cutoff = self.now().minus(self.inner.config.invitation_expiry);
        let mut expired = 0;
        loop {
            let n = self.store().expire_pending(cutoff, self.now()).await?;
            expired += n;
            if n == 0 {
                break;
            }
        }
        if expired > 0 {
            tracing::info!(expired, "invitations expired");
        }
        let now = self.now();
        let reminders = self.inner.config.reminders.clone();
        let mut reminded = 0;
        loop {
            let n = self.store().send_reminders(reminders.clone(), now).await?;
            reminded += n;
            if n == 0 {
                break;
            }
        }
        if reminded > 0 {
            tracing::info!(reminded, "reminders sent");
        }
        let ended = self.store().end_restrictions(now).await?;
        if ended > 0 {
            tracing::info!(ended, "restrictions ended");
        }
        // The outbox keeps a week of events, for streams that reconnect and consumers that lag.
        self.store()
            .prune_events(now.minus(Duration::from_secs(7 * 86_400)))
            .await?;
        let tokens_pruned = self.prune_dead_tokens(now).await?;
        let replays_pruned = self.prune_replays(now).await?;
        // Failed sign-ins the replicas share count for the limiter's window only; sign-up links
        // work for a day; wrong email addresses count against a sender for the standing window.
        let store = self.store();
        let cutoff = now.minus(crate::login_limit::WINDOW);
        in_batches(|| store.prune_login_failures(cutoff, PRUNE_BATCH)).await?;
        let cutoff = now.minus(crate::SIGNUP_LINK_LIFETIME);
        in_batches(|| store.prune_pending_signups(cutoff, PRUNE_BATCH)).await?;
        let cutoff = now.minus(rapport_domain::standing::WINDOW);
        in_batches(|| store.prune_wrong_emails(cutoff, PRUNE_BATCH)).await?;
        Ok(Swept {
            expired,
            reminded,
            restrictions_ended: ended,
            tokens_pruned,
            replays_pruned,
        })
    }

    /// Deletes every sign-in token dead at `now` (they are refused already; this frees their rows).
    async fn prune_dead_tokens(&self, now: rapport_domain::Timestamp) -> AppResult<u64> {
        // A use of a token this process is still writing would keep it alive: wait for those.
        self.settle_recorded_uses().await;
        let dead = self.inner.config.token_lifetime.cutoffs(now);
        let pruned = in_batches(|| self.store().prune_tokens(dead, PRUNE_BATCH)).await?;
        if pruned > 0 {
            tracing::info!(pruned, "expired sign-in tokens deleted");
        }
        Ok(pruned)
    }

    /// Deletes the `Idempotency-Key` answers older than their replay window.
    async fn prune_replays(&self, now: rapport_domain::Timestamp) -> AppResult<u64> {
        let cutoff = now.minus(crate::IDEMPOTENCY_WINDOW);
        in_batches(|| self.store().prune_idempotent(cutoff, PRUNE_BATCH)).await
    }

    /// Runs every background worker (sweeper, live feed, mailer, webhooks, and over a shared store
    /// the token cache's following of other replicas' revocations) until `stop` turns true; live
    /// streams end as soon as it does.
    pub async fn run_workers(self, stop: tokio::sync::watch::Receiver<bool>) {
        let mut closer = stop.clone();
        let hub = self.inner.hub.clone();
        let close_streams = async move {
            stopped(&mut closer).await;
            hub.close_all();
        };
        let mut sweeper_stop = stop.clone();
        let sweeper = self
            .clone()
            .run_sweeper(async move { stopped(&mut sweeper_stop).await });
        let mut revocations_stop = stop.clone();
        let revocations = async {
            if let Some(peers) = self.store().peers() {
                let stop = &mut revocations_stop;
                auth::follow_revocations(&self.inner.tokens, peers, stopped(stop)).await;
            }
        };
        tokio::join!(
            close_streams,
            revocations,
            self.run_lease(stop.clone()),
            sweeper,
            self.run_feed(stop.clone()),
            self.run_mailer(stop.clone()),
            self.run_webhooks(stop),
        );
    }

    /// Runs [`App::sweep`] every `sweep_interval` until `stop` completes.
    pub async fn run_sweeper(self, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.inner.config.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    if !self.leads() {
                        continue;
                    }
                    if let Err(e) = self.sweep().await {
                        tracing::warn!(error = %e, "sweep failed; will try again");
                    }
                }
            }
        }
    }
}
