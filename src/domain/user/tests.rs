//! Unit tests of `user`.

use super::*;

#[test]
fn an_agent_url_is_http_and_shown_without_credentials_or_query() {
    let url = AgentUrl::parse("https://bot:s3cret@agents.example.com/ada/ask?key=k#x").unwrap();
    assert_eq!(url.shown(), "https://agents.example.com/ada/ask");
    for bad in [
        "ftp://x",
        "https://",
        "https://a b",
        "agents.example.com",
        "http://127.0.0.1:99999/agent",
        "http://[::1/agent",
        "mailto:ada@example.com",
    ] {
        assert!(AgentUrl::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        format!("{:?}", AgentToken::parse("t0ken").unwrap()),
        "AgentToken([redacted])"
    );
    assert!(AgentToken::parse("two words").is_err());
}

/// What is shown is where messages go: the host is the parse's, not
/// whatever follows the last `@`.
#[test]
fn an_agent_url_shows_the_host_messages_go_to() {
    let at = AgentUrl::parse("http://127.0.0.1:4000/agent@127.0.0.1:5000/agent").unwrap();
    assert_eq!(at.shown(), "http://127.0.0.1:4000/agent@127.0.0.1:5000/agent");
    let backslash = AgentUrl::parse("http://127.0.0.1:4000/agent\\@127.0.0.1:5000/agent").unwrap();
    assert!(
        backslash.shown().starts_with("http://127.0.0.1:4000/"),
        "{}",
        backslash.shown()
    );
    assert_eq!(
        AgentUrl::parse("HTTP://Agents.Example.com:80/a").unwrap().as_str(),
        "http://agents.example.com/a"
    );
}

#[test]
fn agent_urls_share_an_origin_by_scheme_host_and_port() {
    let url = |u: &str| AgentUrl::parse(u).unwrap();
    assert!(url("https://a.example.com/x").same_origin(&url("https://a.example.com:443/y?z")));
    assert!(!url("https://a.example.com/x").same_origin(&url("http://a.example.com/x")));
    assert!(!url("https://a.example.com/x").same_origin(&url("https://b.example.com/x")));
    assert!(!url("https://a.example.com/x").same_origin(&url("https://a.example.com:8443/x")));
}

#[test]
fn emails() {
    assert!(EmailAddress::parse("ada@example.com").is_ok());
    assert!(EmailAddress::parse("ada.example.com").is_err());
    assert!(EmailAddress::parse("").is_err());
}

#[test]
fn names() {
    assert_eq!(FullName::parse("  Ada Lovelace ").unwrap().as_ref(), "Ada Lovelace");
    assert!(FullName::parse(" ").is_err());
    assert!(FullName::parse(&"x".repeat(201)).is_err());
}
