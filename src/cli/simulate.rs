//! Commands that call a running server: `simulate` sends it a signed
//! webhook, as Twilio would, and prints its answer; `healthcheck` asks it
//! `/healthz`.

use std::time::Duration;

use anyhow::Context;

use crate::adapters::http::signature;
use crate::config::Config;

use super::Failure;

const WEBHOOK_PATH: &str = "/sms-router/webhook/sms";

pub(super) async fn simulate(
    config: &Config,
    from: &str,
    to: Option<String>,
    url: Option<String>,
    text: &str,
) -> Result<(), Failure> {
    let base = url.unwrap_or_else(|| format!("http://{}", config.bind));
    let base = base.trim_end_matches('/');
    let to = to
        .or_else(|| config.twilio_from_number.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| "+15005550006".to_owned());
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let account = config
        .twilio_account_sid
        .clone()
        .unwrap_or_else(|| format!("AC{}", "0".repeat(32)));
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("SmsMessageSid", sid.as_str()),
        ("AccountSid", account.as_str()),
        ("From", from),
        ("To", to.as_str()),
        ("Body", text),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let client = crate::adapters::http_client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("failed to build an HTTP client")?;
    let mut request = client.post(format!("{base}{WEBHOOK_PATH}")).form(&params);
    if let Some(token) = &config.twilio_auth_token {
        let signed_base = config.public_url.as_deref().unwrap_or(base);
        request = request.header(
            "X-Twilio-Signature",
            signature::sign(token.expose(), &format!("{signed_base}{WEBHOOK_PATH}"), &params),
        );
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("failed to reach {base}"))?;
    let status = response.status();
    let body = response.text().await.context("failed to read the answer")?;
    if !status.is_success() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the server answered {status}: {body}"
        )));
    }
    let doc = roxmltree::Document::parse(&body).context("the answer is not TwiML")?;
    let messages: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Message"))
        .map(|n| n.text().unwrap_or_default())
        .collect();
    if messages.is_empty() {
        eprintln!("(no reply)");
    }
    for message in messages {
        println!("{message}");
    }
    Ok(())
}

/// Asks the server on `config.bind` (on loopback when it listens on every
/// address) for `/healthz`.
pub(super) async fn healthcheck(config: &Config) -> Result<(), Failure> {
    let mut address = config.bind;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{address}/healthz");
    let client = crate::adapters::http_client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("failed to build an HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} cannot be reached"))?;
    if !response.status().is_success() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{url} answered {}",
            response.status()
        )));
    }
    Ok(())
}
