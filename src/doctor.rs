//! `sms-router doctor`: checks a configuration without serving, and says
//! in plain words what is wrong. Each check answers what it found; nothing
//! is written anywhere (the database is not migrated, no message is sent,
//! the agent is asked no question).

use std::time::Duration;

use crate::adapters::twilio_rest::{Credentials, TwilioMessenger};
use crate::config::Config;
use crate::database::{self, Schema};
use crate::domain::outbound::{stall_notice, stalled};

/// One thing checked.
#[derive(Debug)]
pub struct Finding {
    pub what: &'static str,
    pub ok: bool,
    pub says: String,
}

fn ok(what: &'static str, says: impl Into<String>) -> Finding {
    Finding {
        what,
        ok: true,
        says: says.into(),
    }
}

fn wrong(what: &'static str, says: impl Into<String>) -> Finding {
    Finding {
        what,
        ok: false,
        says: says.into(),
    }
}

/// Every check of `config`; `dev` as for `serve --dev`.
pub async fn examine(config: &Config, dev: bool) -> Vec<Finding> {
    vec![
        settings(config, dev),
        store(config).await,
        outbox(config).await,
        agent(config, dev).await,
        twilio(config, dev).await,
        public_url(config, dev),
        admin_token(config),
    ]
}

/// What `serve` itself would refuse to start without.
fn settings(config: &Config, dev: bool) -> Finding {
    const WHAT: &str = "settings";
    let problems = config.serve_problems(dev);
    if problems.is_empty() {
        ok(WHAT, "every setting `serve` needs is set")
    } else {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        wrong(WHAT, format!("`serve` would not start: {}", problems.join("; ")))
    }
}

fn schema(found: i64, known: usize, migrate_hint: &str) -> Result<String, String> {
    let known = i64::try_from(known).unwrap_or(i64::MAX);
    if found == known {
        Ok(format!("migrated (schema version {found})"))
    } else if found > known {
        Err(format!(
            "has schema version {found}, written by a newer sms-router (this one knows {known}): upgrade sms-router"
        ))
    } else {
        Err(format!(
            "is at schema version {found} of {known}: run `sms-router migrate` ({migrate_hint})"
        ))
    }
}

async fn store(config: &Config) -> Finding {
    const WHAT: &str = "database";
    let postgres = config.database_url.is_some();
    let name = if postgres {
        "PostgreSQL".to_owned()
    } else {
        config.database_path.display().to_string()
    };
    match database::schema(config).await {
        Ok(Schema::Missing) => wrong(
            WHAT,
            format!("{name} does not exist yet: `sms-router migrate` creates it (so does the first start)"),
        ),
        Ok(Schema::At { found, known }) => match schema(found, known, "or start the server, which migrates") {
            Ok(says) if postgres => ok(WHAT, format!("{name} reachable and {says}")),
            Ok(says) => ok(WHAT, format!("{name} {says}")),
            Err(says) => wrong(WHAT, format!("{name} {says}")),
        },
        Err(e) if postgres => wrong(
            WHAT,
            format!("cannot use SMS_ROUTER_DATABASE_URL: {e:#} (is PostgreSQL running, and the URL right?)"),
        ),
        Err(e) => wrong(WHAT, format!("{e:#}")),
    }
}

/// Whether the outbox moves: degraded when its oldest pending message has
/// waited past `SMS_ROUTER_OUTBOX_STALL_SECS`, as `/readyz` says.
async fn outbox(config: &Config) -> Finding {
    const WHAT: &str = "outbox";
    match database::schema(config).await {
        Ok(Schema::At { found, known }) if usize::try_from(found).ok() == Some(known) => {}
        _ => return ok(WHAT, "not read: the database is not ready (above)"),
    }
    match database::backlog(config).await {
        Ok(backlog) => match stalled(&backlog, chrono::Utc::now(), config.outbox_stall) {
            Some(waited) => wrong(
                WHAT,
                format!(
                    "{}: {} waiting; is Twilio refusing them, or is no server running?",
                    stall_notice(waited, config.outbox_stall),
                    backlog.pending
                ),
            ),
            None => ok(
                WHAT,
                format!("{} waiting to be sent, {} being sent", backlog.pending, backlog.sending),
            ),
        },
        Err(e) => wrong(WHAT, format!("cannot read the outbox: {e:#}")),
    }
}

async fn agent(config: &Config, dev: bool) -> Finding {
    const WHAT: &str = "agent";
    let Some(url) = &config.agent_url else {
        return if dev {
            ok(
                WHAT,
                "no SMS_ROUTER_AGENT_URL: `serve --dev` answers with the echo agent",
            )
        } else {
            wrong(
                WHAT,
                "SMS_ROUTER_AGENT_URL is not set: every message needs an agent (or run `serve --dev` to try the echo agent)",
            )
        };
    };
    // A GET, not a question: it shows that something answers at the URL
    // without costing the agent a reply.
    let client = match crate::adapters::http_client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(e) => return wrong(WHAT, format!("cannot make an HTTP client: {e}")),
    };
    let shown = without_secrets(url);
    match client.get(url.clone()).send().await {
        Ok(answer) if answer.status().is_server_error() => wrong(
            WHAT,
            format!(
                "{shown} answers {} (a server error): is the agent healthy?",
                answer.status().as_u16()
            ),
        ),
        Ok(answer) if answer.status().is_redirection() => wrong(
            WHAT,
            format!(
                "{shown} answers with a redirect (HTTP {}), which sms-router does not follow: give the agent's own URL",
                answer.status().as_u16()
            ),
        ),
        Ok(answer) => ok(WHAT, format!("{shown} answers (HTTP {})", answer.status().as_u16())),
        Err(e) => wrong(
            WHAT,
            format!(
                "{shown} does not answer: {} (is the agent running, and the URL right?)",
                crate::adapters::http_client::failure(&e)
            ),
        ),
    }
}

/// The URL as it may be shown: no user, password or query.
fn without_secrets(url: &reqwest::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    )
}

async fn twilio(config: &Config, dev: bool) -> Finding {
    const WHAT: &str = "twilio";
    if !dev && config.twilio_auth_token.is_none() {
        return wrong(
            WHAT,
            "SMS_ROUTER_TWILIO_AUTH_TOKEN is not set: Twilio's signatures cannot be checked (only `serve --dev` runs without it)",
        );
    }
    match (
        &config.twilio_account_sid,
        &config.twilio_auth_token,
        &config.twilio_from_number,
    ) {
        (Some(account), Some(token), Some(from)) => {
            let messenger =
                match TwilioMessenger::new(&config.twilio_api_base, account, token.expose(), from.clone(), None) {
                    Ok(messenger) => messenger,
                    Err(e) => return wrong(WHAT, format!("cannot reach Twilio's API: {e}")),
                };
            match messenger.check_credentials().await {
                Credentials::Accepted => ok(
                    WHAT,
                    format!(
                        "Twilio accepts the account SID and auth token; sending is set up; {}",
                        signatures(true, dev)
                    ),
                ),
                Credentials::Refused => wrong(
                    WHAT,
                    "Twilio refuses the account SID and auth token: check SMS_ROUTER_TWILIO_ACCOUNT_SID and SMS_ROUTER_TWILIO_AUTH_TOKEN",
                ),
                Credentials::Unknown(why) => wrong(WHAT, format!("cannot check the credentials with Twilio: {why}")),
            }
        }
        (None, token, None) => ok(
            WHAT,
            format!(
                "{}; sending is not set up (slow agents' replies, messages and codes need SMS_ROUTER_TWILIO_ACCOUNT_SID and SMS_ROUTER_TWILIO_FROM_NUMBER)",
                signatures(token.is_some(), dev)
            ),
        ),
        _ => wrong(
            WHAT,
            "sending is half set up: it needs SMS_ROUTER_TWILIO_ACCOUNT_SID, SMS_ROUTER_TWILIO_AUTH_TOKEN and SMS_ROUTER_TWILIO_FROM_NUMBER together",
        ),
    }
}

/// Whether Twilio's signatures are checked, as `serve` would do it.
fn signatures(token: bool, dev: bool) -> &'static str {
    match (token, dev) {
        (_, true) => "signatures are NOT checked (`--dev`)",
        (true, false) => "signatures are checked",
        (false, false) => "signatures cannot be checked: SMS_ROUTER_TWILIO_AUTH_TOKEN is not set",
    }
}

fn public_url(config: &Config, dev: bool) -> Finding {
    const WHAT: &str = "public URL";
    match (&config.public_url, dev) {
        (Some(url), _) => ok(WHAT, format!("Twilio calls {url}")),
        (None, true) => ok(WHAT, "not set; `serve --dev` checks no signatures"),
        (None, false) => wrong(
            WHAT,
            "SMS_ROUTER_PUBLIC_URL is not set: Twilio signs the URL it calls, which behind a proxy the server cannot know; set it to the base URL Twilio is given",
        ),
    }
}

fn admin_token(config: &Config) -> Finding {
    const WHAT: &str = "admin API";
    match &config.admin_token {
        Some(_) => ok(WHAT, "a token is set"),
        None => ok(WHAT, "no SMS_ROUTER_ADMIN_TOKEN: every admin call is refused (401)"),
    }
}
