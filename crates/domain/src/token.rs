//! How long a sign-in token works: at most its absolute lifetime after it was issued, and only
//! while it is used at least once per idle lifetime. One rule, read by the request that presents a
//! token and by the sweeper that prunes dead ones, so the two can never disagree.
//!
//! The last use a store holds is written at most once per [`LAST_USE_GRANULARITY`]: a token used
//! many times a minute costs one write a minute, not one per request. So the recorded last use
//! lags the real one by less than that, and an idle token dies up to that much *before* its idle
//! lifetime has passed since its real last use, never after: a lagging write can shorten a
//! token's life by a minute, never lengthen it.

use crate::Timestamp;
use std::time::Duration;

/// How often a token's last use is written, at most.
pub const LAST_USE_GRANULARITY: Duration = Duration::from_secs(60);

/// A token's lifetimes (`RAPPORT_TOKEN_LIFETIME`, `RAPPORT_TOKEN_IDLE_LIFETIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetime {
    /// From issue, however often the token is used.
    pub absolute: Duration,
    /// From its last recorded use.
    pub idle: Duration,
}

/// The times at or before which a token is dead: issued then, or last used then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCutoffs {
    pub issued_at_or_before: Timestamp,
    pub used_at_or_before: Timestamp,
}

impl TokenLifetime {
    /// Which tokens are dead at `now`; what [`TokenLifetime::alive`] refuses, as a store selects
    /// it.
    pub fn cutoffs(&self, now: Timestamp) -> TokenCutoffs {
        TokenCutoffs {
            issued_at_or_before: now.minus(self.absolute),
            used_at_or_before: now.minus(self.idle),
        }
    }

    /// Does a token issued at `created_at` and last used at `last_used_at` still work at `now`?
    pub fn alive(&self, created_at: Timestamp, last_used_at: Timestamp, now: Timestamp) -> bool {
        let dead = self.cutoffs(now);
        created_at > dead.issued_at_or_before && last_used_at > dead.used_at_or_before
    }
}

/// Is a use at `now` worth writing, the last one written being `last_used_at`?
pub fn last_use_due(last_used_at: Timestamp, now: Timestamp) -> bool {
    now.minus(LAST_USE_GRANULARITY) >= last_used_at
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_800_000_000_000);
    const DAY: Duration = Duration::from_secs(86_400);
    const LIFE: TokenLifetime = TokenLifetime {
        absolute: Duration::from_secs(30 * 86_400),
        idle: Duration::from_secs(7 * 86_400),
    };

    #[test]
    fn a_token_used_every_day_dies_at_its_absolute_lifetime() {
        let just_before = T0.plus(30 * DAY).minus(Duration::from_millis(1));
        assert!(LIFE.alive(T0, just_before.minus(DAY), just_before));
        assert!(!LIFE.alive(T0, T0.plus(29 * DAY), T0.plus(30 * DAY)));
    }

    #[test]
    fn a_token_left_unused_dies_at_its_idle_lifetime() {
        let used = T0.plus(3 * DAY);
        assert!(LIFE.alive(T0, used, used.plus(7 * DAY).minus(Duration::from_millis(1))));
        assert!(!LIFE.alive(T0, used, used.plus(7 * DAY)));
    }

    #[test]
    fn the_cutoffs_select_exactly_the_dead_tokens() {
        let now = T0.plus(40 * DAY);
        let c = LIFE.cutoffs(now);
        for (created, used) in [
            (c.issued_at_or_before, now),
            (c.issued_at_or_before.plus(Duration::from_millis(1)), now),
            (now, c.used_at_or_before),
            (now, c.used_at_or_before.plus(Duration::from_millis(1))),
        ] {
            let selected = created <= c.issued_at_or_before || used <= c.used_at_or_before;
            assert_eq!(selected, !LIFE.alive(created, used, now));
        }
    }

    #[test]
    fn a_last_use_is_written_at_most_once_a_minute() {
        assert!(!last_use_due(T0, T0));
        assert!(!last_use_due(T0, T0.plus(Duration::from_secs(59))));
        assert!(last_use_due(T0, T0.plus(Duration::from_secs(60))));
    }
}
