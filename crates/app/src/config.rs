//! Configuration: defaults, then an optional `rapport.toml`, then `RAPPORT_*` environment variables
//! (the environment wins). Every value is checked once at start, with a message that names the
//! setting and says what it takes.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use rapport_domain::clock::parse_duration;
use rapport_domain::token::LAST_USE_GRANULARITY;
use rapport_domain::TokenLifetime;
use rapport_store::sqlite::CheckpointSettings;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings as written: strings and numbers, before they are checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub listen: String,
    pub data_dir: String,
    pub database_url: Option<String>,
    pub database_read_url: Option<String>,
    pub sqlite_max_size: Option<RawSize>,
    pub weekly_invitation_limit: u32,
    pub premium_weekly_invitation_limit: u32,
    pub outstanding_limit: u32,
    pub max_connections: u32,
    pub note_max_chars: u32,
    pub reinvite_cooldown: String,
    pub invitation_expiry: String,
    pub reminders: String,
    pub withdrawal_notice: String,
    pub sweep_interval: String,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub webhook_retries: String,
    pub webhook_allow_private: bool,
    pub trusted_proxies: String,
    pub login_failures_per_address: u32,
    pub signups_per_address: u32,
    pub signup_confirmation: String,
    pub base_url: Option<String>,
    pub log: String,
    pub log_format: String,
    pub max_in_flight: u32,
    pub request_timeout: String,
    pub header_timeout: String,
    pub token_lifetime: String,
    pub token_idle_lifetime: String,
    pub idempotency_keys_per_member: u32,
    pub metrics_token: Option<String>,
    pub write_queue_budget: String,
    pub sqlite_checkpoint_interval: String,
    pub sqlite_wal_restart_size: RawSize,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret: Option<String>,
    pub oidc_name: String,
    pub oidc_scopes: String,
    pub oidc_on_first_sign_in: String,
    /// More providers, in rapport.toml: `[[oidc_providers]]` tables with the same keys
    /// (`issuer`, `client_id`, `client_secret`, `name`, `scopes`, `on_first_sign_in`).
    pub oidc_providers: Vec<oidc::RawProvider>,
    pub password_sign_in: bool,
}

/// A size as written: a plain number of bytes (which the environment hands over as a number) or
/// text with a unit, `500MB`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Written(String),
}

impl RawSize {
    fn text(&self) -> String {
        match self {
            RawSize::Bytes(n) => n.to_string(),
            RawSize::Written(s) => s.trim().to_owned(),
        }
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: "./rapport-data".into(),
            database_url: None,
            database_read_url: None,
            sqlite_max_size: None,
            weekly_invitation_limit: 100,
            premium_weekly_invitation_limit: 200,
            outstanding_limit: 2500,
            max_connections: 30_000,
            note_max_chars: 300,
            reinvite_cooldown: "21d".into(),
            invitation_expiry: "180d".into(),
            reminders: "7d,21d".into(),
            withdrawal_notice: "silent".into(),
            sweep_interval: "1m".into(),
            smtp_url: None,
            mail_from: "Rapport <rapport@localhost>".into(),
            webhook_retries: "0s,5s,5m,30m,2h,5h,10h".into(),
            webhook_allow_private: false,
            trusted_proxies: String::new(),
            login_failures_per_address: 50,
            signups_per_address: 20,
            signup_confirmation: "none".into(),
            base_url: None,
            log: "info".into(),
            log_format: "text".into(),
            max_in_flight: 512,
            request_timeout: "30s".into(),
            header_timeout: "10s".into(),
            token_lifetime: "30d".into(),
            token_idle_lifetime: "7d".into(),
            idempotency_keys_per_member: 10_000,
            metrics_token: None,
            write_queue_budget: "250ms".into(),
            sqlite_checkpoint_interval: "10ms".into(),
            sqlite_wal_restart_size: RawSize::Written("64MiB".into()),
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_name: "your community".into(),
            oidc_scopes: "openid email profile".into(),
            oidc_on_first_sign_in: "create".into(),
            oidc_providers: Vec::new(),
            password_sign_in: true,
        }
    }
}

pub use rapport_domain::WithdrawalNotice;

/// The smallest `sqlite_max_size` taken: less could not hold the schema and a few members.
const MIN_SQLITE_SIZE: u64 = 1_000_000;

/// The smallest `sqlite_wal_restart_size` taken: 16 pages.
const MIN_WAL_RESTART_SIZE: u64 = 64 << 10;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Database,
    /// A streaming read replica of the PostgreSQL primary: serves the graph index's initial load
    /// and member search, while every write and every other read goes to the primary.
    pub database_read_url: Option<String>,
    /// The largest the embedded database may grow, in bytes (none by default: as large as the
    /// disk allows). Writes past it are refused with `503 storage_full`, as on a full disk.
    pub sqlite_max_size: Option<u64>,
    pub weekly_invitation_limit: u32,
    pub premium_weekly_invitation_limit: u32,
    pub outstanding_limit: u32,
    pub max_connections: u32,
    pub note_max_chars: usize,
    pub reinvite_cooldown: Duration,
    pub invitation_expiry: Duration,
    pub reminders: Vec<Duration>,
    pub withdrawal_notice: WithdrawalNotice,
    pub sweep_interval: Duration,
    pub smtp_url: Option<String>,
    /// The `From` of every mail.
    pub mail_from: String,
    /// When each webhook delivery attempt is made, after the event (first) or after the previous
    /// failure (the others); after the last, the delivery is given up and the endpoint disabled.
    pub webhook_retries: Vec<Duration>,
    /// May webhook deliveries reach loopback, private and link-local addresses (see `outbound`)?
    pub webhook_allow_private: bool,
    /// Proxies whose `X-Forwarded-For` is believed: the client is the right-most address it names
    /// that is not one of them (none by default: the client is the peer).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed password checks from one client address, per 15 minutes, before it is refused.
    pub login_failures_per_address: u32,
    /// Sign-ups from one client address per hour.
    pub signups_per_address: u32,
    /// Does a sign-up wait for a link mailed to its address (`email`), or sign in at once (`none`)?
    pub signup_confirmation: SignupConfirmation,
    pub base_url: String,
    pub log: String,
    pub log_json: bool,
    /// Requests being answered at once; past it the server sheds load with `503 overloaded`.
    pub max_in_flight: usize,
    /// The longest a request may take, body upload included (`408 request_timeout`).
    pub request_timeout: Duration,
    /// The longest a connection may take to send a request's headers (slow clients are dropped).
    pub header_timeout: Duration,
    /// How long a sign-in token works: from issue (however often it is used), and from its last
    /// use. Checked at every request and enforced by the sweeper, whatever the cookie says.
    pub token_lifetime: TokenLifetime,
    /// How many `Idempotency-Key` answers a member may have kept at once; past it, the oldest go.
    pub idempotency_keys_per_member: u32,
    /// When set, `/metrics` answers only requests that carry it as a bearer token.
    pub metrics_token: Option<String>,
    /// The embedded store's write backlog budget: a write that would wait longer than this behind
    /// others is refused with `503 overloaded` (`off`: never refused).
    pub write_queue_budget: Option<Duration>,
    /// When the embedded store checkpoints its write-ahead log (see `rapport_store::sqlite`).
    pub sqlite_checkpoints: CheckpointSettings,
    /// The OpenID providers members may sign in with (`RAPPORT_OIDC_*` names one).
    pub oidc: Vec<OidcSettings>,
    /// May members sign in (and sign up) with an email and a password?
    pub password_sign_in: bool,
}

/// How a sign-up becomes a member (`RAPPORT_SIGNUP_CONFIRMATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupConfirmation {
    /// At once: the answer signs the new member in (`201`), or says the address is taken (`409`).
    None,
    /// Through a link mailed to the address: every well-formed sign-up answers `202` alike, so
    /// sign-up cannot tell who is registered; the owner of a taken address is told someone tried.
    Email,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn setting_err(var: &str, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!(
        "RAPPORT_{} (`{}` in rapport.toml): {msg}",
        var.to_uppercase(),
        var
    ))
}

impl Config {
    /// Reads defaults, then `toml_path` when it exists, then the environment.
    pub fn load(toml_path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(Toml::file(toml_path))
            .merge(Env::prefixed("RAPPORT_").ignore(&["config"]))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        raw.check()
    }

    /// The defaults, checked: what tests start from.
    pub fn defaults() -> Config {
        RawConfig::default()
            .check()
            .unwrap_or_else(|e| panic!("defaults are valid: {e}"))
    }
}

impl RawConfig {
    pub fn check(self) -> Result<Config, ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            setting_err(
                "listen",
                format!("{:?} is not an address such as 127.0.0.1:8080", self.listen),
            )
        })?;
        let data_dir = PathBuf::from(&self.data_dir);
        let database = match self.database_url.as_deref() {
            None | Some("") => Database::Sqlite(data_dir.join("rapport.db")),
            Some(url) if url.starts_with("sqlite://") => {
                Database::Sqlite(PathBuf::from(&url["sqlite://".len()..]))
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres(url.to_owned())
            }
            Some(other) => {
                return Err(setting_err(
                    "database_url",
                    format!(
                        "{:?} must start with sqlite:// or postgres://",
                        crate::redact::redact_url(other)
                    ),
                ))
            }
        };
        let database_read_url = match self.database_read_url.as_deref() {
            None | Some("") => None,
            Some(url) if !matches!(database, Database::Postgres(_)) => {
                return Err(setting_err(
                    "database_read_url",
                    format!("{:?} is a read replica of PostgreSQL; set RAPPORT_DATABASE_URL to the primary's postgres:// URL too", crate::redact::redact_url(url)),
                ))
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(url.to_owned())
            }
            Some(other) => {
                return Err(setting_err(
                    "database_read_url",
                    format!(
                        "{:?} must start with postgres://",
                        crate::redact::redact_url(other)
                    ),
                ))
            }
        };
        let sqlite_max_size = self.sqlite_max_size.as_ref().map(RawSize::text);
        let sqlite_max_size = match sqlite_max_size.as_deref() {
            None | Some("") => None,
            Some(size) if !matches!(database, Database::Sqlite(_)) => {
                return Err(setting_err(
                    "sqlite_max_size",
                    format!("{size:?} limits the embedded SQLite store, but RAPPORT_DATABASE_URL names PostgreSQL"),
                ))
            }
            Some(size) => match size.parse::<bytesize::ByteSize>() {
                Ok(b) if b.as_u64() >= MIN_SQLITE_SIZE => Some(b.as_u64()),
                Ok(_) => {
                    return Err(setting_err(
                        "sqlite_max_size",
                        format!("{size:?} is too small: the schema alone takes more than 1MB"),
                    ))
                }
                Err(_) => {
                    return Err(setting_err(
                        "sqlite_max_size",
                        format!("{size:?} is not a size such as 500MB, 20GiB or 1048576 (bytes)"),
                    ))
                }
            },
        };
        let duration = |var: &str, v: &str| parse_duration(v).map_err(|e| setting_err(var, e));
        let positive = |var: &str, v: u32| {
            if v == 0 {
                Err(setting_err(var, "must be at least 1"))
            } else {
                Ok(v)
            }
        };
        let mut reminders = Vec::new();
        for part in self
            .reminders
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            reminders.push(duration("reminders", part)?);
        }
        reminders.sort();
        let withdrawal_notice =
            WithdrawalNotice::parse(&self.withdrawal_notice).ok_or_else(|| {
                setting_err(
                    "withdrawal_notice",
                    format!(
                        "{:?} must be silent, notify or digest",
                        self.withdrawal_notice
                    ),
                )
            })?;
        let signup_confirmation = match self.signup_confirmation.trim() {
            "none" => SignupConfirmation::None,
            "email" => SignupConfirmation::Email,
            other => {
                return Err(setting_err(
                    "signup_confirmation",
                    format!("{other:?} must be none or email"),
                ))
            }
        };
        let mut webhook_retries = Vec::new();
        for part in self.webhook_retries.split(',').map(str::trim) {
            webhook_retries.push(duration("webhook_retries", part)?);
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(setting_err(
                "mail_from",
                format!(
                    "{:?} is not a mailbox such as Rapport <rapport@example.com>",
                    self.mail_from
                ),
            ));
        }
        let at_least_a_second = |var: &str, v: &str| {
            let d = duration(var, v)?;
            if d < Duration::from_secs(1) {
                return Err(setting_err(var, "must be at least 1s"));
            }
            Ok(d)
        };
        let sweep_interval = duration("sweep_interval", &self.sweep_interval)?;
        if sweep_interval.is_zero() {
            return Err(setting_err("sweep_interval", "must be longer than zero"));
        }
        let token_lifetime = TokenLifetime {
            absolute: duration("token_lifetime", &self.token_lifetime)?,
            idle: duration("token_idle_lifetime", &self.token_idle_lifetime)?,
        };
        // A token's last use is written once a minute: an idle lifetime shorter than that could
        // end a token in use.
        if token_lifetime.idle < 2 * LAST_USE_GRANULARITY {
            return Err(setting_err("token_idle_lifetime", "must be at least 2m"));
        }
        if token_lifetime.absolute < token_lifetime.idle {
            return Err(setting_err(
                "token_lifetime",
                format!(
                    "must be at least the idle lifetime ({})",
                    self.token_idle_lifetime
                ),
            ));
        }
        let log_json = match self.log_format.as_str() {
            "text" | "" => false,
            "json" => true,
            other => {
                return Err(setting_err(
                    "log_format",
                    format!("{other:?} must be text or json"),
                ))
            }
        };
        let mut trusted_proxies = Vec::new();
        for part in self
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let net = part
                .parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    setting_err(
                        "trusted_proxies",
                        format!("{part:?} is not an address or a CIDR such as 10.0.0.0/8"),
                    )
                })?;
            trusted_proxies.push(net);
        }
        let base_url = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        // Links are written as `{base_url}/path`, so the trailing slashes go, and a host must stay.
        let base_url = base_url.trim_end_matches('/');
        let host = base_url
            .strip_prefix("https://")
            .or_else(|| base_url.strip_prefix("http://"));
        if !matches!(host, Some(h) if !h.is_empty()) {
            return Err(setting_err(
                "base_url",
                "must start with http:// or https:// and name a host",
            ));
        }
        let oidc = oidc::check(&self)?;
        if !self.password_sign_in && oidc.is_empty() {
            return Err(setting_err(
                "password_sign_in",
                "can be false only when members sign in through a provider: set RAPPORT_OIDC_ISSUER too",
            ));
        }
        Ok(Config {
            oidc,
            password_sign_in: self.password_sign_in,
            listen,
            data_dir,
            database,
            database_read_url,
            sqlite_max_size,
            weekly_invitation_limit: positive(
                "weekly_invitation_limit",
                self.weekly_invitation_limit,
            )?,
            premium_weekly_invitation_limit: positive(
                "premium_weekly_invitation_limit",
                self.premium_weekly_invitation_limit,
            )?,
            outstanding_limit: positive("outstanding_limit", self.outstanding_limit)?,
            max_connections: positive("max_connections", self.max_connections)?,
            note_max_chars: positive("note_max_chars", self.note_max_chars)? as usize,
            reinvite_cooldown: duration("reinvite_cooldown", &self.reinvite_cooldown)?,
            invitation_expiry: duration("invitation_expiry", &self.invitation_expiry)?,
            reminders,
            withdrawal_notice,
            sweep_interval,
            smtp_url: self.smtp_url.filter(|s| !s.is_empty()),
            mail_from: self.mail_from,
            webhook_retries,
            webhook_allow_private: self.webhook_allow_private,
            trusted_proxies,
            login_failures_per_address: positive(
                "login_failures_per_address",
                self.login_failures_per_address,
            )?,
            signups_per_address: positive("signups_per_address", self.signups_per_address)?,
            signup_confirmation,
            base_url: base_url.to_owned(),
            log: self.log,
            log_json,
            max_in_flight: positive("max_in_flight", self.max_in_flight)? as usize,
            request_timeout: at_least_a_second("request_timeout", &self.request_timeout)?,
            header_timeout: at_least_a_second("header_timeout", &self.header_timeout)?,
            token_lifetime,
            idempotency_keys_per_member: positive(
                "idempotency_keys_per_member",
                self.idempotency_keys_per_member,
            )?,
            metrics_token: match self.metrics_token.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(t) if t.len() < 16 || t.chars().any(|c| c.is_whitespace()) => {
                    return Err(setting_err(
                        "metrics_token",
                        "must be at least 16 characters, without spaces",
                    ))
                }
                Some(t) => Some(t.to_owned()),
            },
            write_queue_budget: match self.write_queue_budget.trim() {
                "off" => None,
                v => {
                    let d = duration("write_queue_budget", v)?;
                    if d < Duration::from_millis(10) {
                        return Err(setting_err(
                            "write_queue_budget",
                            "must be at least 10ms (or off)",
                        ));
                    }
                    Some(d)
                }
            },
            sqlite_checkpoints: CheckpointSettings {
                interval: duration(
                    "sqlite_checkpoint_interval",
                    &self.sqlite_checkpoint_interval,
                )?,
                restart_size: match self
                    .sqlite_wal_restart_size
                    .text()
                    .parse::<bytesize::ByteSize>()
                {
                    Ok(b) if b.as_u64() >= MIN_WAL_RESTART_SIZE => b.as_u64(),
                    _ => {
                        return Err(setting_err(
                            "sqlite_wal_restart_size",
                            format!(
                                "{:?} must be a size of at least 64KiB, such as 64MiB",
                                self.sqlite_wal_restart_size.text()
                            ),
                        ))
                    }
                },
            },
        })
    }
}

mod oidc;
pub use oidc::{FirstSignIn, OidcSettings};

#[cfg(test)]
mod tests;
