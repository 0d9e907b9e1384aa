//! The typed configuration, read once from the environment and `.env`
//! (the environment wins). A bad value names its variable.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
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
    pub default_region: Region,
    /// A tracing filter directive, from `SMS_ROUTER_LOG_LEVEL`, else `RUST_LOG`.
    pub log_filter: String,
    pub log_format: LogFormat,
}

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

/// The longest a stop may wait.
const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(3600);

/// The shortest admin token accepted: anything shorter is guessable.
const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl Config {
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
        let parse_ms = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| invalid(name, format!("`{v}` is not a positive whole number of milliseconds"))),
            }
        };
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
        let rate = get("SMS_ROUTER_RATE_LIMIT_PER_MINUTE").unwrap_or_else(|| "60".to_owned());
        let rate_limit_per_minute = rate.parse().map_err(|_| {
            invalid(
                "SMS_ROUTER_RATE_LIMIT_PER_MINUTE",
                format!("`{rate}` is not a whole number from 1"),
            )
        })?;
        let ttl = get("SMS_ROUTER_CACHE_TTL_SECS").unwrap_or_else(|| "3600".to_owned());
        let cache_ttl = ttl
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                invalid(
                    "SMS_ROUTER_CACHE_TTL_SECS",
                    format!("`{ttl}` is not a whole number of seconds from 1"),
                )
            })?;
        let shutdown_grace = parse_ms("SMS_ROUTER_SHUTDOWN_GRACE_MS", 30_000)?;
        if shutdown_grace > MAX_SHUTDOWN_GRACE {
            return Err(invalid(
                "SMS_ROUTER_SHUTDOWN_GRACE_MS",
                "must be at most 3600000 (an hour)",
            ));
        }
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
        Ok(Config {
            bind,
            database_path: PathBuf::from(get("SMS_ROUTER_DATABASE_PATH").unwrap_or_else(|| "sms-router.db".to_owned())),
            twilio_account_sid: get("SMS_ROUTER_TWILIO_ACCOUNT_SID"),
            twilio_auth_token: secret("SMS_ROUTER_TWILIO_AUTH_TOKEN"),
            twilio_from_number,
            twilio_api_base: parse_url("SMS_ROUTER_TWILIO_API_BASE")?
                .unwrap_or_else(|| reqwest::Url::parse("https://api.twilio.com").unwrap_or_else(|_| unreachable!())),
            public_url,
            agent_url: parse_url("SMS_ROUTER_AGENT_URL")?,
            agent_token: secret("SMS_ROUTER_AGENT_TOKEN"),
            agent_timeout: parse_ms("SMS_ROUTER_AGENT_TIMEOUT_MS", 10_000)?,
            admin_token,
            sync_reply_budget: parse_ms("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", 8_000)?,
            async_agent_timeout: parse_ms("SMS_ROUTER_ASYNC_AGENT_TIMEOUT_MS", 120_000)?,
            shutdown_grace,
            rate_limit_per_minute,
            cache_ttl,
            default_region,
            log_filter,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults() {
        let config = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.database_path, PathBuf::from("sms-router.db"));
        assert_eq!(config.agent_timeout, Duration::from_secs(10));
        assert_eq!(config.sync_reply_budget, Duration::from_secs(8));
        assert_eq!(config.async_agent_timeout, Duration::from_secs(120));
        assert_eq!(config.shutdown_grace, Duration::from_secs(30));
        assert_eq!(config.rate_limit_per_minute.get(), 60);
        assert_eq!(config.cache_ttl, Duration::from_secs(3600));
        assert_eq!(config.twilio_api_base.as_str(), "https://api.twilio.com/");
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_filter, "info");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("SMS_ROUTER_BIND", "nowhere"),
            ("SMS_ROUTER_AGENT_URL", "ftp://x"),
            ("SMS_ROUTER_AGENT_TIMEOUT_MS", "-1"),
            ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "0"),
            ("SMS_ROUTER_DEFAULT_REGION", "XX"),
            ("SMS_ROUTER_LOG_FORMAT", "xml"),
            ("SMS_ROUTER_ADMIN_TOKEN", "short"),
            ("SMS_ROUTER_TWILIO_FROM_NUMBER", "12"),
            ("SMS_ROUTER_SHUTDOWN_GRACE_MS", "0"),
            ("SMS_ROUTER_SHUTDOWN_GRACE_MS", "3600001"),
        ] {
            let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name, "{err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config::from_vars(&vars(&[
            ("SMS_ROUTER_TWILIO_AUTH_TOKEN", "tw-secret-value"),
            ("SMS_ROUTER_ADMIN_TOKEN", "admin-secret-value-long"),
        ]))
        .unwrap();
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("tw-secret-value") && !printed.contains("admin-secret-value"),
            "{printed}"
        );
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        let config = Config::from_vars(&vars(&[("SMS_ROUTER_PUBLIC_URL", "https://sms.example.com/prefix/")])).unwrap();
        assert_eq!(config.public_url.as_deref(), Some("https://sms.example.com/prefix"));
    }
}
