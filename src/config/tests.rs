//! Unit tests of `config`.

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
        ("SMS_ROUTER_CACHE_TTL_SECS", "99999999999"),
        ("SMS_ROUTER_MAX_CONNECTIONS", "1000001"),
    ] {
        let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
        assert_eq!(err.variable, name, "{err}");
    }
}

#[test]
fn every_numeric_default_is_in_its_range_and_both_ends_are_accepted() {
    for (name, default, range) in NUMBERS {
        assert!(default.is_none_or(|d| range.contains(&d)), "{name}");
        for end in [range.start(), range.end()] {
            let config = Config::from_vars(&vars(&[(name, &end.to_string())]));
            assert!(config.is_ok(), "{name}={end}: {config:?}");
        }
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
