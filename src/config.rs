//! The typed configuration, read once from the environment and `.env`
//! (the environment wins). A bad value names its variable.
//!
//! Over 300 lines: every variable is read, bounded and named in this one place,
//! so that a bad value always names its variable the same way.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::phone::{PhoneNumber, Region};

/// A secret: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_path: PathBuf,
    /// `postgres://…` or `postgresql://…`: PostgreSQL instead of the SQLite
    /// file. It may hold a password: never logged.
    pub database_url: Option<Secret>,
    /// Certificate authorities (PEM) trusted for PostgreSQL's TLS besides
    /// the public ones.
    pub database_ca_file: Option<PathBuf>,
    /// The deadline of every database call on the request path: connect,
    /// pool wait, statement.
    pub database_timeout: Duration,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret>,
    pub twilio_from_number: Option<PhoneNumber>,
    pub twilio_api_base: reqwest::Url,
    /// Without a trailing `/`.
    pub public_url: Option<String>,
    pub agent_url: Option<reqwest::Url>,
    pub agent_token: Option<Secret>,
    pub agent_timeout: Duration,
    pub admin_token: Option<Secret>,
    pub sync_reply_budget: Duration,
    pub async_agent_timeout: Duration,
    /// How long a stop waits for in-flight requests and late replies.
    pub shutdown_grace: Duration,
    pub rate_limit_per_minute: NonZeroU32,
    pub cache_ttl: Duration,
    /// How long the oldest pending outbox message may wait before
    /// `/readyz` says the outbox is stalled.
    pub outbox_stall: Duration,
    /// How long a client may take to send its request line and headers.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit idle.
    pub idle_timeout: Duration,
    /// Open client connections at most; `None`: what the open-file limit
    /// allows, less a reserve.
    pub max_connections: Option<NonZeroU32>,
    pub default_region: Region,
    /// A tracing filter directive, from `SMS_ROUTER_LOG_LEVEL`, else `RUST_LOG`.
    pub log_filter: String,
    pub log_format: LogFormat,
}

/// Every setting that stops `serve` from starting, told at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// A variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {why}")]
pub struct ConfigError {
    pub variable: String,
    pub why: String,
}

fn invalid(variable: &str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        why: why.into(),
    }
}

/// Every numeric variable: its default and the range it must be in. The
/// README and DESIGN list the same.
pub const NUMBERS: [(&str, Option<u64>, RangeInclusive<u64>); 11] = [
    ("SMS_ROUTER_AGENT_TIMEOUT_MS", Some(10_000), 1..=600_000),
    ("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", Some(8_000), 1..=14_000),
    ("SMS_ROUTER_ASYNC_AGENT_TIMEOUT_MS", Some(120_000), 1..=3_600_000),
    ("SMS_ROUTER_SHUTDOWN_GRACE_MS", Some(30_000), 1..=3_600_000),
    ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", Some(60), 1..=1_000_000),
    ("SMS_ROUTER_CACHE_TTL_SECS", Some(3_600), 1..=86_400),
    ("SMS_ROUTER_OUTBOX_STALL_SECS", Some(300), 1..=86_400),
    ("SMS_ROUTER_HEADER_TIMEOUT_MS", Some(10_000), 1..=600_000),
    ("SMS_ROUTER_IDLE_TIMEOUT_MS", Some(60_000), 1..=3_600_000),
    ("SMS_ROUTER_MAX_CONNECTIONS", None, 1..=1_000_000),
    ("SMS_ROUTER_DATABASE_TIMEOUT_MS", Some(5_000), 100..=60_000),
];

/// The shortest admin token accepted: anything shorter is guessable.
const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl Config {
    /// What keeps `serve` (`--dev` when `dev`) from starting with this
    /// configuration, every setting at once; `doctor` asks the same.
    pub fn serve_problems(&self, dev: bool) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if dev && !self.bind.ip().is_loopback() {
            problems.push(invalid(
                "SMS_ROUTER_BIND",
                format!(
                    "{} is not a loopback address: `serve --dev` checks no signatures, so it serves this machine only (127.0.0.1 or [::1])",
                    self.bind
                ),
            ));
        }
        if !dev && self.twilio_auth_token.is_none() {
            problems.push(invalid(
                "SMS_ROUTER_TWILIO_AUTH_TOKEN",
                "is required to check Twilio's signatures (or run `serve --dev`)",
            ));
        }
        if !dev && self.agent_url.is_none() {
            problems.push(invalid(
                "SMS_ROUTER_AGENT_URL",
                "is required (or run `serve --dev` for the echo agent)",
            ));
        }
        problems
    }

    /// What `serve` starts without but should not run long without.
    pub fn serve_warnings(&self, dev: bool) -> Vec<String> {
        let mut warnings = Vec::new();
        if !dev && self.public_url.is_none() {
            warnings.push(
                "SMS_ROUTER_PUBLIC_URL is not set: behind a proxy, Twilio's signatures will not match; set it to the base URL Twilio calls (`sms-router doctor` checks the whole configuration)"
                    .to_owned(),
            );
        }
        warnings
    }

    /// Reads the process environment over `.env` in the working directory.
    ///
    /// # Errors
    /// A `ConfigError` naming the first variable with a bad value, or
    /// `.env` when that file cannot be read.
    pub fn load() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        let dotenv = Path::new(".env");
        if dotenv.exists() {
            let entries = dotenvy::from_path_iter(dotenv).map_err(|e| invalid(".env", e.to_string()))?;
            for entry in entries {
                let (key, value) = entry.map_err(|e| invalid(".env", e.to_string()))?;
                vars.insert(key, value);
            }
        }
        vars.extend(std::env::vars());
        Self::from_vars(&vars)
    }

    /// # Errors
    /// A `ConfigError` naming the first variable with a bad value.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // A numeric variable, checked against its range in `NUMBERS`.
        let number = |name: &str| -> Result<Option<u64>, ConfigError> {
            let (_, default, range) = NUMBERS
                .iter()
                .find(|(n, _, _)| *n == name)
                .ok_or_else(|| invalid(name, "is not a numeric variable"))?;
            let Some(v) = get(name) else {
                return Ok(*default);
            };
            v.parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    invalid(
                        name,
                        format!("`{v}` is not a whole number from {} to {}", range.start(), range.end()),
                    )
                })
        };
        let millis = |name: &str| Ok::<_, ConfigError>(Duration::from_millis(number(name)?.unwrap_or_default()));
        let parse_url = |name: &str| -> Result<Option<reqwest::Url>, ConfigError> {
            get(name)
                .map(|v| {
                    reqwest::Url::parse(&v)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                        .ok_or_else(|| invalid(name, format!("`{v}` is not an http(s) URL")))
                })
                .transpose()
        };
        let secret = |name: &str| get(name).map(Secret);

        let bind = get("SMS_ROUTER_BIND").unwrap_or_else(|| "127.0.0.1:8000".to_owned());
        let bind = bind.parse().map_err(|_| {
            invalid(
                "SMS_ROUTER_BIND",
                format!("`{bind}` is not an address such as 127.0.0.1:8000"),
            )
        })?;
        let default_region = match get("SMS_ROUTER_DEFAULT_REGION") {
            None => Region::default(),
            Some(v) => v.parse().map_err(|_| {
                invalid(
                    "SMS_ROUTER_DEFAULT_REGION",
                    format!("`{v}` is not a region code such as US"),
                )
            })?,
        };
        let twilio_from_number = get("SMS_ROUTER_TWILIO_FROM_NUMBER")
            .map(|v| {
                PhoneNumber::parse(&v, default_region)
                    .map_err(|e| invalid("SMS_ROUTER_TWILIO_FROM_NUMBER", format!("`{v}` {e}")))
            })
            .transpose()?;
        let public_url = parse_url("SMS_ROUTER_PUBLIC_URL")?.map(|u| u.as_str().trim_end_matches('/').to_owned());
        let admin_token = secret("SMS_ROUTER_ADMIN_TOKEN");
        if admin_token
            .as_ref()
            .is_some_and(|t| t.expose().chars().count() < MIN_ADMIN_TOKEN_LEN)
        {
            return Err(invalid(
                "SMS_ROUTER_ADMIN_TOKEN",
                format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters"),
            ));
        }
        let rate_limit_per_minute = number("SMS_ROUTER_RATE_LIMIT_PER_MINUTE")?
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        let cache_ttl = Duration::from_secs(number("SMS_ROUTER_CACHE_TTL_SECS")?.unwrap_or_default());
        let outbox_stall = Duration::from_secs(number("SMS_ROUTER_OUTBOX_STALL_SECS")?.unwrap_or_default());
        let max_connections = number("SMS_ROUTER_MAX_CONNECTIONS")?
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new);
        let log_filter = get("SMS_ROUTER_LOG_LEVEL")
            .or_else(|| get("RUST_LOG"))
            .unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
            return Err(invalid(
                "SMS_ROUTER_LOG_LEVEL",
                format!("`{log_filter}` is not a level or filter"),
            ));
        }
        let log_format = match get("SMS_ROUTER_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "SMS_ROUTER_LOG_FORMAT",
                    format!("`{other}` is neither text nor json"),
                ));
            }
        };
        let database_url = secret("SMS_ROUTER_DATABASE_URL");
        if let Some(url) = &database_url {
            let rest = ["postgres://", "postgresql://"]
                .iter()
                .find_map(|scheme| url.expose().strip_prefix(scheme))
                .ok_or_else(|| {
                    invalid(
                        "SMS_ROUTER_DATABASE_URL",
                        "is not a PostgreSQL URL: it starts with postgres:// or postgresql://",
                    )
                })?;
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            if authority.matches('@').count() > 1 {
                return Err(invalid(
                    "SMS_ROUTER_DATABASE_URL",
                    "holds more than one `@` before its host: write an `@` in the user name or password as %40",
                ));
            }
        }
        Ok(Config {
            bind,
            database_url,
            database_ca_file: get("SMS_ROUTER_DATABASE_CA_FILE").map(PathBuf::from),
            database_timeout: millis("SMS_ROUTER_DATABASE_TIMEOUT_MS")?,
            database_path: PathBuf::from(get("SMS_ROUTER_DATABASE_PATH").unwrap_or_else(|| "sms-router.db".to_owned())),
            twilio_account_sid: get("SMS_ROUTER_TWILIO_ACCOUNT_SID"),
            twilio_auth_token: secret("SMS_ROUTER_TWILIO_AUTH_TOKEN"),
            twilio_from_number,
            twilio_api_base: parse_url("SMS_ROUTER_TWILIO_API_BASE")?
                .unwrap_or_else(|| reqwest::Url::parse("https://api.twilio.com").unwrap_or_else(|_| unreachable!())),
            public_url,
            agent_url: parse_url("SMS_ROUTER_AGENT_URL")?,
            agent_token: secret("SMS_ROUTER_AGENT_TOKEN"),
            agent_timeout: millis("SMS_ROUTER_AGENT_TIMEOUT_MS")?,
            admin_token,
            sync_reply_budget: millis("SMS_ROUTER_SYNC_REPLY_BUDGET_MS")?,
            async_agent_timeout: millis("SMS_ROUTER_ASYNC_AGENT_TIMEOUT_MS")?,
            shutdown_grace: millis("SMS_ROUTER_SHUTDOWN_GRACE_MS")?,
            rate_limit_per_minute,
            cache_ttl,
            outbox_stall,
            header_timeout: millis("SMS_ROUTER_HEADER_TIMEOUT_MS")?,
            idle_timeout: millis("SMS_ROUTER_IDLE_TIMEOUT_MS")?,
            max_connections,
            default_region,
            log_filter,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests;
