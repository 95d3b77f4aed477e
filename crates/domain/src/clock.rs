//! Time as the rules see it: a millisecond timestamp, and a clock that the server reads and a test
//! drives by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// The first and last instants RFC 3339 can write: its years have four digits.
    const EARLIEST: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
    const LATEST: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

    /// RFC 3339 in UTC with millisecond precision, as every API answer writes times. A time beyond
    /// the years 0000 to 9999 (a far-off expiry that saturated) is written as the nearest one
    /// RFC 3339 can hold, never as nothing or as 1970.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0.clamp(Self::EARLIEST, Self::LATEST)) * 1_000_000;
        let dt =
            OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        dt.format(&Rfc3339).unwrap_or_default()
    }

    /// Reads an RFC 3339 time, truncated to the millisecond at or before it (before 1970 too).
    /// `None` for anything else, and for an instant [`Self::to_rfc3339`] could not write back
    /// (an offset can push year 0000 or 9999 past the edge).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let millis = i64::try_from(dt.unix_timestamp_nanos().div_euclid(1_000_000)).ok()?;
        (Self::EARLIEST..=Self::LATEST)
            .contains(&millis)
            .then_some(Timestamp(millis))
    }
}

/// Where "now" comes from. The server uses [`SystemClock`]; tests use [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }

    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// Parses a duration as settings and requests write them: `21d`, `12h`, `90s`, `3w`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return Err("expected a duration such as 21d, 12h or 90s".into());
    }
    humantime::parse_duration(s)
        .map_err(|_| format!("{s:?} is not a duration such as 21d, 12h or 90s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339_utc_with_millis() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(1_700_000_000_123).to_rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(Timestamp(1_700_000_000_123))
        );
    }

    #[test]
    fn times_before_1970_truncate_down_to_the_millisecond() {
        assert_eq!(
            Timestamp::parse_rfc3339("1969-12-31T23:59:59.9995Z"),
            Some(Timestamp(-1))
        );
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn times_rfc3339_cannot_write_are_clamped_on_the_way_out_and_refused_on_the_way_in() {
        assert_eq!(Timestamp(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp(i64::MIN).to_rfc3339(), "0000-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse_rfc3339("9999-12-31T23:59:59.999-01:00"),
            None
        );
        assert_eq!(Timestamp::parse_rfc3339("0000-01-01T00:30:00+01:00"), None);
    }

    #[test]
    fn durations_read_like_settings() {
        assert_eq!(parse_duration("21d"), Ok(Duration::from_secs(21 * 86400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("3w"), Ok(Duration::from_secs(21 * 86400)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-3d").is_err());
    }
}
