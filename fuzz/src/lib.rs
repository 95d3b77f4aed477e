//! What Rapport's input parsers promise, one function per parser family, each taking raw bytes and
//! panicking when a promise breaks. "It did not panic" is never the whole property: each checks
//! what the parser made of the input against the rule it implements.
//!
//! libFuzzer calls these from `fuzz_targets/` (`scripts/fuzz`, nightly). The stable smoke run calls
//! the same functions: `crates/http/tests/fuzz_smoke.rs` includes this file as a module, so the
//! main workspace's `cargo test` runs every property over its seeds and pseudo-random inputs
//! without a second build of the dependencies. Keep this file free of `crate::` paths for that.

pub mod smoke;

use rapport_app::config::{Config, Database, RawConfig};
use rapport_app::cursor;
use rapport_app::notifications::{apply_changes, ChannelsInput};
use rapport_domain::clock::parse_duration;
use rapport_domain::{
    Channels, Email, EmailCadence, IgnoreReason, InvitationId, InvitationState, InvitationsFrom,
    MemberId, Note, NotificationKind, NotificationPrefs, Password, ProfileField, RestrictionReason,
    RuleError, SeenState, Timestamp, WithdrawalNotice,
};
use rapport_http::api::accounts::{
    CloseRequest, LoginRequest, ProfileUpdate, SettingsUpdate, SignupRequest,
};
use rapport_http::api::admin::{MemberUpdate, ResolveRequest, RestrictionRequest, WebhookRequest};
use rapport_http::api::invitations::{BulkWithdrawRequest, IgnoreRequest, SendRequest};
use rapport_http::api::notifications::ReadRequest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::OnceLock;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Text from fuzz bytes. Invalid UTF-8 becomes U+FFFD, so every input still reaches the parser.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn i64_at(data: &[u8], at: usize) -> Option<i64> {
    let bytes = data.get(at..at + 8)?;
    bytes.try_into().ok().map(i64::from_le_bytes)
}

/// `Note::parse(raw, max)`. Input: one byte of `max_chars`, then the note.
///
/// A note is the text trimmed and nothing else; blank is no note; a control character other than
/// a line break is refused (anywhere, even in the trimmed-off edges); more than `max_chars`
/// characters (not bytes) is `NoteTooLong`; a parsed note parses to itself.
pub fn note(data: &[u8]) {
    let Some((&max, raw)) = data.split_first() else {
        return;
    };
    let max = usize::from(max);
    let raw = text(raw);
    let bad_control = raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r');
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    match Note::parse(&raw, max) {
        Ok(Some(note)) => {
            assert!(!bad_control, "{raw:?}: a control character was let through");
            assert_eq!(note.as_str(), trimmed, "a note is its text, trimmed");
            assert!(!trimmed.is_empty() && chars <= max, "{raw:?} (max {max})");
            assert_eq!(
                Note::parse(note.as_str(), max),
                Ok(Some(note.clone())),
                "a note parses to itself"
            );
        }
        Ok(None) => assert!(
            !bad_control && trimmed.is_empty(),
            "{raw:?}: only a blank note is no note"
        ),
        Err(RuleError::Validation { field: "note", .. }) => {
            assert!(bad_control, "{raw:?}: refused without a control character")
        }
        Err(RuleError::NoteTooLong { max: said }) => {
            assert_eq!(said, max, "NoteTooLong names the limit in force");
            assert!(!bad_control && chars > max, "{raw:?}: too long at {chars}");
        }
        Err(other) => panic!("{raw:?}: unexpected refusal {other:?}"),
    }
}

/// `Email::parse`. A parsed address is the input trimmed and lower-cased, with no whitespace or
/// control character, one `@` between a local part of 1 to 64 bytes and a dotted domain whose
/// labels are non-empty and neither start nor end with `-`, 254 bytes at most; it parses to itself.
pub fn email(data: &[u8]) {
    let raw = text(data);
    match Email::parse(&raw) {
        Ok(email) => {
            let s = email.as_str();
            assert_eq!(s, raw.trim().to_lowercase(), "trimmed and lower-cased");
            assert_eq!(s, s.to_lowercase(), "{s:?} is not lower case");
            assert!(
                !s.chars().any(|c| c.is_whitespace() || c.is_control()),
                "{s:?}"
            );
            assert!(s.len() <= 254, "{s:?} is longer than 254 bytes");
            let (local, domain) = s.split_once('@').expect("a parsed email has an @");
            assert!(
                !local.is_empty() && local.len() <= 64,
                "local part of {s:?}"
            );
            assert!(
                !domain.contains('@') && domain.contains('.'),
                "domain {s:?}"
            );
            for label in domain.split('.') {
                assert!(
                    !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'),
                    "label {label:?} of {s:?}"
                );
            }
            assert_eq!(Email::parse(s), Ok(email.clone()), "parses to itself");
        }
        Err(RuleError::Validation { field: "email", .. }) => {}
        Err(other) => panic!("{raw:?}: unexpected refusal {other:?}"),
    }
}

/// `ProfileField::parse`, `ProfileField::name` and `Password::parse`. Input: one byte (high bit:
/// required; low seven bits: `max_chars`), then the text.
///
/// A field is the text trimmed, refused exactly when it is blank but required, longer than the
/// limit in characters, or holds a control character. A password is kept exactly as typed, taken
/// exactly when it has 10 to 256 characters, and its `Debug` never shows it.
pub fn profile(data: &[u8]) {
    let Some((&mode, raw)) = data.split_first() else {
        return;
    };
    let max = usize::from(mode & 0x7f);
    let required = mode & 0x80 != 0;
    let raw = text(raw);
    let t = raw.trim();
    let refuse = |max: usize, required: bool| {
        (required && t.is_empty()) || t.chars().count() > max || t.chars().any(char::is_control)
    };
    match ProfileField::parse("headline", &raw, max, required) {
        Ok(field) => {
            assert!(!refuse(max, required), "{raw:?} (max {max}) was accepted");
            assert_eq!(field.into_string(), t, "a field is its text, trimmed");
        }
        Err(RuleError::Validation {
            field: "headline", ..
        }) => assert!(refuse(max, required), "{raw:?} (max {max}) was refused"),
        Err(other) => panic!("{raw:?}: unexpected refusal {other:?}"),
    }
    assert_eq!(
        ProfileField::name(&raw).map(ProfileField::into_string).ok(),
        (!refuse(100, true)).then(|| t.to_owned()),
        "name {raw:?}"
    );

    let chars = raw.chars().count();
    let fits = (Password::MIN_CHARS..=Password::MAX_CHARS).contains(&chars);
    match Password::parse(&raw) {
        Ok(password) => {
            assert!(fits, "a password of {chars} characters was accepted");
            assert_eq!(password.expose(), raw, "a password is kept as typed");
            assert_eq!(format!("{password:?}"), "Password(<redacted>)");
        }
        Err(RuleError::Validation {
            field: "password", ..
        }) => assert!(!fits, "a password of {chars} characters was refused"),
        Err(other) => panic!("unexpected refusal {other:?}"),
    }
}

/// `parse_duration`, as settings and `older_than` use it. Whatever it accepts is at most 64
/// bytes once trimmed, and reads back from the way settings write durations; every duration
/// (any `u64` seconds and nanoseconds, from the first 12 bytes) written that way reads back.
pub fn duration(data: &[u8]) {
    let raw = text(data);
    match parse_duration(&raw) {
        Ok(d) => {
            let t = raw.trim();
            assert!(!t.is_empty() && t.len() <= 64, "{raw:?} was accepted");
            let written = write_duration(d);
            assert_eq!(parse_duration(&written), Ok(d), "{raw:?} wrote {written:?}");
        }
        Err(message) => assert!(!message.is_empty(), "{raw:?}: an error says why"),
    }
    if let (Some(secs), Some(nanos)) = (i64_at(data, 0), data.get(8..12)) {
        let nanos = u32::from_le_bytes(nanos.try_into().expect("four bytes")) % 1_000_000_000;
        let d = Duration::new(secs as u64, nanos);
        let written = write_duration(d);
        assert_eq!(parse_duration(&written), Ok(d), "{d:?} wrote {written:?}");
    }
}

/// A duration as a person writes one in a setting: weeks down to nanoseconds, zero parts left out.
fn write_duration(d: Duration) -> String {
    let mut parts = Vec::new();
    let mut secs = d.as_secs();
    for (unit, len) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= len {
            parts.push(format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    let nanos = d.subsec_nanos();
    for (unit, len) in [("ms", 1_000_000), ("us", 1_000), ("ns", 1)] {
        let n = nanos / len % 1_000;
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// The first and last instants RFC 3339 can write (four-digit years), in milliseconds.
const FIRST_WRITABLE: i64 = -62_167_219_200_000;
const LAST_WRITABLE: i64 = 253_402_300_799_999;

/// `Timestamp::parse_rfc3339` and `to_rfc3339`. A parsed time is the instant written, truncated
/// to the millisecond (before 1970 too), and within what RFC 3339 can write; it writes back to
/// itself. Every timestamp (any `i64` from the first 8 bytes, and that modulo ±12,000 years)
/// writes an RFC 3339 time that reads back: itself, or the nearest writable instant.
pub fn timestamp(data: &[u8]) {
    let raw = text(data);
    let written = OffsetDateTime::parse(&raw, &Rfc3339).ok();
    match Timestamp::parse_rfc3339(&raw) {
        Some(t) => {
            let dt = written.expect("read a time that RFC 3339 does not");
            let below = dt.unix_timestamp_nanos() - i128::from(t.0) * 1_000_000;
            assert!(
                (0..1_000_000).contains(&below),
                "{raw:?} read as {t:?}, {below} ns from the instant written"
            );
            assert!(
                (FIRST_WRITABLE..=LAST_WRITABLE).contains(&t.0),
                "{raw:?} read as {t:?}, which RFC 3339 cannot write"
            );
            let out = t.to_rfc3339();
            assert_eq!(
                Timestamp::parse_rfc3339(&out),
                Some(t),
                "{raw:?} -> {out:?}"
            );
        }
        None => {
            if let Some(dt) = written {
                let ms = dt.unix_timestamp_nanos().div_euclid(1_000_000);
                assert!(
                    !(i128::from(FIRST_WRITABLE)..=i128::from(LAST_WRITABLE)).contains(&ms),
                    "{raw:?} is a writable RFC 3339 time, yet was refused"
                );
            }
        }
    }
    if let Some(n) = i64_at(data, 0) {
        for t in [Timestamp(n), Timestamp(n % 380_000_000_000_000)] {
            let out = t.to_rfc3339();
            let back = Timestamp::parse_rfc3339(&out);
            let nearest = Timestamp(t.0.clamp(FIRST_WRITABLE, LAST_WRITABLE));
            assert_eq!(back, Some(nearest), "{t:?} wrote {out:?}");
        }
    }
}

/// `MemberId` and `InvitationId` from a client's string: exactly the positive decimal numbers of at
/// most 18 digits, whatever else; an id writes back to itself when it has at most 18 digits.
pub fn ids(data: &[u8]) {
    let raw = text(data);
    let expected = (!raw.is_empty() && raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .filter(|&n| n > 0);
    assert_eq!(
        raw.parse::<MemberId>().ok(),
        expected.map(MemberId),
        "{raw:?}"
    );
    assert_eq!(
        raw.parse::<InvitationId>().ok(),
        expected.map(InvitationId),
        "{raw:?}"
    );
    if let Some(n) = expected {
        assert_eq!(MemberId(n).to_string(), raw.trim_start_matches('0'));
    }
    if let Some(n) = i64_at(data, 0) {
        let fits = n > 0 && n < 1_000_000_000_000_000_000;
        let written = MemberId(n).to_string();
        assert_eq!(
            written.parse::<MemberId>().ok(),
            fits.then_some(MemberId(n)),
            "{written:?}"
        );
    }
}

/// Every word-to-enum parser (invitation states, ignore and restriction reasons, who may invite,
/// notification kinds, email cadences, withdrawal notices): a word reads as the variant whose name
/// it is, exactly (no case folding, no trimming), and as nothing else.
pub fn enums(data: &[u8]) {
    let raw = text(data);
    words(
        &raw,
        &[
            InvitationState::Pending,
            InvitationState::Accepted,
            InvitationState::Ignored,
            InvitationState::Withdrawn,
            InvitationState::Expired,
            InvitationState::Cancelled,
        ],
        InvitationState::as_str,
        InvitationState::parse,
    );
    words(
        &raw,
        &[IgnoreReason::DontKnow, IgnoreReason::Spam],
        IgnoreReason::as_str,
        IgnoreReason::parse,
    );
    words(
        &raw,
        &[
            RestrictionReason::IgnoredAsUnknown,
            RestrictionReason::LowAcceptance,
            RestrictionReason::RepeatedResends,
            RestrictionReason::Moderation,
        ],
        RestrictionReason::as_str,
        RestrictionReason::parse,
    );
    words(
        &raw,
        &[
            InvitationsFrom::Everyone,
            InvitationsFrom::SecondDegree,
            InvitationsFrom::EmailRequired,
            InvitationsFrom::Nobody,
        ],
        InvitationsFrom::as_str,
        InvitationsFrom::parse,
    );
    words(
        &raw,
        &NotificationKind::ALL,
        NotificationKind::as_str,
        NotificationKind::parse,
    );
    words(
        &raw,
        &[
            EmailCadence::Off,
            EmailCadence::Immediate,
            EmailCadence::Daily,
            EmailCadence::Weekly,
        ],
        EmailCadence::as_str,
        EmailCadence::parse,
    );
    words(
        &raw,
        &[
            WithdrawalNotice::Silent,
            WithdrawalNotice::Notify,
            WithdrawalNotice::Digest,
        ],
        |w| match w {
            WithdrawalNotice::Silent => "silent",
            WithdrawalNotice::Notify => "notify",
            WithdrawalNotice::Digest => "digest",
        },
        WithdrawalNotice::parse,
    );
    // Seen states are only written, never read; their words must stay the states' words.
    for seen in [SeenState::Pending, SeenState::Accepted, SeenState::Ignored] {
        assert!(InvitationState::parse(seen.as_str()).is_some());
    }
}

fn words<T: Copy + PartialEq + Debug>(
    raw: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    parse: fn(&str) -> Option<T>,
) {
    let expected = all.iter().copied().find(|v| name(*v) == raw);
    assert_eq!(parse(raw), expected, "{raw:?}");
}

/// Notification settings. The stored form: whatever text is read, the preferences write a valid
/// stored form that reads back to them, a valid stored form reads back to itself, and anything but
/// twelve characters reads as the defaults. The JSON of `PATCH /me/settings`: a change that reads
/// is applied exactly (what it names changes, nothing else) or refused whole, as `notifications`,
/// exactly when it names a kind or a cadence that does not exist.
pub fn settings(data: &[u8]) {
    let raw = text(data);
    let prefs = NotificationPrefs::decode(Some(&raw));
    let stored = prefs.encode();
    assert!(is_stored_form(&stored), "{raw:?} -> {stored:?}");
    assert_eq!(NotificationPrefs::decode(Some(&stored)), prefs);
    if is_stored_form(&raw) {
        assert_eq!(stored, raw, "a stored form reads back to itself");
    } else if raw.chars().count() != 12 {
        assert_eq!(prefs, NotificationPrefs::default(), "{raw:?}");
    }

    let Ok(update) = serde_json::from_slice::<SettingsUpdate>(data) else {
        return;
    };
    if let Some(from) = update.invitations_from.as_deref() {
        if let Some(parsed) = InvitationsFrom::parse(from) {
            assert_eq!(parsed.as_str(), from);
        }
    }
    let Some(changes) = update.notifications else {
        return;
    };
    let changes: BTreeMap<String, ChannelsInput> = changes
        .into_iter()
        .map(|(kind, c)| {
            let input = ChannelsInput {
                in_app: c.in_app,
                email: c.email,
            };
            (kind, input)
        })
        .collect();
    let valid = changes.iter().all(|(kind, c)| {
        NotificationKind::parse(kind).is_some()
            && match c.email.as_deref() {
                Some(e) => EmailCadence::parse(e).is_some(),
                None => true,
            }
    });
    match apply_changes(prefs, &changes) {
        Ok(after) => {
            assert!(valid, "{changes:?} was applied");
            for kind in NotificationKind::ALL {
                let before = prefs.get(kind);
                let expected = match changes.get(kind.as_str()) {
                    None => before,
                    Some(c) => Channels {
                        in_app: c.in_app.unwrap_or(before.in_app),
                        email: match c.email.as_deref() {
                            Some(e) => EmailCadence::parse(e).expect("checked above"),
                            None => before.email,
                        },
                    },
                };
                assert_eq!(after.get(kind), expected, "{kind:?} after {changes:?}");
            }
            assert_eq!(NotificationPrefs::decode(Some(&after.encode())), after);
        }
        Err(RuleError::Validation {
            field: "notifications",
            ..
        }) => assert!(!valid, "{changes:?} was refused"),
        Err(other) => panic!("{changes:?}: unexpected refusal {other:?}"),
    }
}

fn is_stored_form(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b.chunks(2)
            .all(|p| matches!(p[0], b'0' | b'1') && matches!(p[1], b'o' | b'i' | b'd' | b'w'))
}

/// The widest cursor checked; the lists make cursors of one or two numbers.
const CURSOR_PARTS: usize = 3;

/// List cursors. Any text decodes to exactly the count of numbers asked for, or is refused as a
/// `cursor` validation error; what decodes re-encodes to a cursor that decodes the same. Every
/// cursor made (up to three numbers from the input's 8-byte chunks) is URL-safe, at most 128
/// bytes, and decodes back to its numbers, and to nothing with another count.
pub fn cursor(data: &[u8]) {
    let raw = text(data);
    for n in 1..=CURSOR_PARTS {
        match cursor::decode(&raw, n) {
            Ok(parts) => {
                assert_eq!(parts.len(), n, "{raw:?}");
                assert!(raw.len() <= 128, "{raw:?} is longer than any cursor made");
                let again = cursor::encode(&parts);
                assert_eq!(cursor::decode(&again, n), Ok(parts), "{raw:?} -> {again:?}");
            }
            Err(RuleError::Validation {
                field: "cursor", ..
            }) => {}
            Err(other) => panic!("{raw:?}: unexpected refusal {other:?}"),
        }
    }
    assert_eq!(
        cursor::before(Some(&raw)),
        cursor::decode(&raw, 1).map(|p| p.first().copied())
    );

    let parts: Vec<i64> = data
        .chunks_exact(8)
        .take(CURSOR_PARTS)
        .filter_map(|c| c.try_into().ok().map(i64::from_le_bytes))
        .collect();
    if !parts.is_empty() {
        let made = cursor::encode(&parts);
        assert!(made.len() <= 128, "{parts:?} made {made:?}");
        assert!(
            made.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{made:?} is not URL-safe"
        );
        assert_eq!(cursor::decode(&made, parts.len()), Ok(parts.clone()));
        assert!(cursor::decode(&made, parts.len() + 1).is_err());
    }
}

/// The settings' names, from `RawConfig` itself so that a new setting is fuzzed the day it lands.
fn setting_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| match serde_json::to_value(RawConfig::default()) {
        Ok(Value::Object(fields)) => fields.keys().cloned().collect(),
        other => panic!("RawConfig serialises as {other:?}"),
    })
}

/// `Config::load`: defaults, then `rapport.toml`, then `RAPPORT_*` variables. Input: the TOML text,
/// then for each NUL-separated chunk after it an environment variable (first byte: which setting;
/// the rest: its value).
///
/// Loading either refuses with a message that names the setting (`RAPPORT_X` and `x`) or the key
/// whose value has the wrong type, or says where the TOML is broken; or it yields settings within
/// their bounds (limits at least 1, a sweep interval above zero, timeouts of at least 1 s, sorted
/// reminders, retries, an http(s) base URL without a trailing slash, a database URL of a known
/// scheme).
pub fn config(data: &[u8]) {
    let names = setting_names();
    let mut chunks = data.split(|&b| b == 0);
    let toml = text(chunks.next().unwrap_or_default());
    let env: Vec<(String, String)> = chunks
        .take(4)
        .filter_map(|chunk| {
            let (&which, value) = chunk.split_first()?;
            let name = &names[usize::from(which) % names.len()];
            Some((format!("RAPPORT_{}", name.to_uppercase()), text(value)))
        })
        .collect();

    match with_env(&env, || with_toml_file(&toml, Config::load)) {
        Ok(c) => {
            for (name, limit) in [
                ("weekly_invitation_limit", c.weekly_invitation_limit),
                (
                    "premium_weekly_invitation_limit",
                    c.premium_weekly_invitation_limit,
                ),
                ("outstanding_limit", c.outstanding_limit),
                ("max_connections", c.max_connections),
            ] {
                assert!(limit >= 1, "{name} = {limit}");
            }
            assert!(c.note_max_chars >= 1 && c.max_in_flight >= 1);
            assert!(c.request_timeout >= Duration::from_secs(1));
            assert!(c.header_timeout >= Duration::from_secs(1));
            assert!(!c.sweep_interval.is_zero());
            assert!(c.reminders.windows(2).all(|w| w[0] <= w[1]), "{c:?}");
            assert!(!c.webhook_retries.is_empty());
            assert!(
                (c.base_url.starts_with("http://") || c.base_url.starts_with("https://"))
                    && !c.base_url.ends_with('/'),
                "base_url {:?}",
                c.base_url
            );
            if let Database::Postgres(url) = &c.database {
                assert!(url.starts_with("postgres://") || url.starts_with("postgresql://"));
            }
            assert_ne!(c.smtp_url.as_deref(), Some(""));
        }
        Err(e) => {
            let message = e.to_string();
            let said = message
                .strip_prefix("configuration: ")
                .unwrap_or_else(|| panic!("{message:?}"));
            if let Some(rest) = said.strip_prefix("RAPPORT_") {
                // Refused by a check: `RAPPORT_X (`x` in rapport.toml): why`.
                let (var, rest) = rest.split_once(" (`").unwrap_or_else(|| panic!("{said:?}"));
                let (name, why) = rest
                    .split_once("` in rapport.toml): ")
                    .unwrap_or_else(|| panic!("{said:?}"));
                assert!(names.iter().any(|n| n == name), "{said:?}");
                assert_eq!(var, name.to_uppercase(), "{said:?}");
                assert!(!why.is_empty(), "{said:?}");
            } else if let Some(key) = said.split("for key \"").nth(1) {
                // Refused by figment: a value of the wrong type names its key (`default.x` from
                // the file, `X` from the environment).
                let key = key.split('"').next().unwrap_or_default();
                let key = key.strip_prefix("default.").unwrap_or(key).to_lowercase();
                let setting = key.split('.').next().unwrap_or_default();
                assert!(names.iter().any(|n| n == setting), "{said:?}");
            } else {
                // Refused by the TOML parser: it says where.
                assert!(
                    said.contains("TOML") && said.contains("line"),
                    "neither names a setting nor a place in the file: {said:?}"
                );
            }
        }
    }
}

/// Runs `f` with `vars` set, then puts the environment back as it was.
fn with_env<T>(vars: &[(String, String)], f: impl FnOnce() -> T) -> T {
    let saved: Vec<(&String, Option<std::ffi::OsString>)> =
        vars.iter().map(|(k, _)| (k, std::env::var_os(k))).collect();
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let out = f();
    for (k, v) in saved.into_iter().rev() {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    out
}

/// Runs `f` on a file holding `toml` (one per process: the config target writes no other file).
fn with_toml_file<T>(toml: &str, f: impl FnOnce(&std::path::Path) -> T) -> T {
    let path = std::env::temp_dir().join(format!("rapport-fuzz-{}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    let out = f(&path);
    let _ = std::fs::remove_file(&path);
    out
}

/// Every JSON request body of the API. Arbitrary bytes read as each body type or are refused
/// (never a panic, so never a 500); what reads is a JSON object (or serde's array-of-fields form)
/// whose every key is a field of the type, and the values the handler hands on go through their
/// parsers without a panic.
pub fn api_json(data: &[u8]) {
    body::<SignupRequest>(data, |r| {
        let _ = Email::parse(&r.email);
        let _ = Password::parse(&r.password);
        let _ = ProfileField::name(&r.name);
        for f in [r.headline, r.company, r.location].iter().flatten() {
            let _ = ProfileField::parse("headline", f, 200, false);
        }
    });
    body::<LoginRequest>(data, |r| {
        let _ = Email::parse(&r.email);
    });
    body::<ProfileUpdate>(data, |r| {
        if let Some(name) = &r.name {
            let _ = ProfileField::name(name);
        }
    });
    body::<SettingsUpdate>(data, |r| {
        if let Some(from) = &r.invitations_from {
            let _ = InvitationsFrom::parse(from);
        }
    });
    body::<CloseRequest>(data, |_| {});
    body::<WebhookRequest>(data, |_| {});
    body::<RestrictionRequest>(data, |r| {
        let _ = Timestamp::parse_rfc3339(&r.until);
    });
    body::<ResolveRequest>(data, |_| {});
    body::<MemberUpdate>(data, |_| {});
    body::<SendRequest>(data, |r| {
        let _ = r.recipient_id.parse::<MemberId>();
        if let Some(note) = &r.note {
            let _ = Note::parse(note, 300);
        }
        if let Some(email) = &r.recipient_email {
            let _ = Email::parse(email);
        }
    });
    body::<IgnoreRequest>(data, |_| {});
    body::<BulkWithdrawRequest>(data, |r| {
        let _ = parse_duration(&r.older_than);
    });
    body::<ReadRequest>(data, |r| {
        for id in r.ids.iter().flatten() {
            let _ = id.parse::<i64>();
        }
    });
}

fn body<T: serde::de::DeserializeOwned>(data: &[u8], then: impl FnOnce(T)) {
    let Ok(request) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let name = std::any::type_name::<T>();
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut fields)) => {
            fields.insert("zz_not_a_field".into(), Value::Null);
            assert!(
                serde_json::from_value::<T>(Value::Object(fields)).is_err(),
                "{name} takes a field it does not have"
            );
        }
        Ok(Value::Array(_)) => {}
        other => panic!("{name} read from {other:?}"),
    }
    then(request);
}

#[cfg(test)]
mod properties_hold {
    //! Each target over its seeds and pseudo-random inputs (`FUZZ_SMOKE_ITERATIONS` to change how
    //! many; the default keeps the whole run to a few seconds).

    macro_rules! smoke {
        ($($target:ident: $iterations:expr,)*) => {$(
            #[test]
            fn $target() {
                let runs = super::smoke::run(stringify!($target), super::$target, $iterations);
                println!("{}: {runs} inputs", stringify!($target));
            }
        )*};
    }

    smoke! {
        note: 50_000,
        email: 50_000,
        profile: 50_000,
        duration: 50_000,
        timestamp: 50_000,
        ids: 50_000,
        enums: 50_000,
        settings: 50_000,
        cursor: 50_000,
        config: 20_000,
        api_json: 50_000,
    }
}
