//! The command line: parses arguments and runs one command. Exit codes:
//! 0 ok, 1 runtime failure, 2 bad configuration or usage.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::adapters::http::signature;
use crate::adapters::sqlite::backup::Sole;
use crate::config::{Config, ConfigError};
use crate::database::{self, Access, Database, with_store};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{AgentEndpoint, AgentToken, AgentUrl, EmailAddress, FullName, NewUser};
use crate::ports::{CreateError, PageRequest, UserRegistry};
use crate::startup::{Application, openapi_spec};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "sms-router",
    version,
    about = "One Twilio number, many users, each with their own AI agent"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve
    Serve {
        /// No signature check; the echo agent answers when no agent URL is set
        #[arg(long)]
        dev: bool,
    },
    /// Migrate the database and exit
    Migrate,
    /// Print the OpenAPI spec
    Openapi,
    /// Manage users without the API
    #[command(subcommand)]
    User(UserCommand),
    /// Check the configuration without serving and say what is wrong
    Doctor {
        /// Check it as for `serve --dev`
        #[arg(long)]
        dev: bool,
    },
    /// Copy the SQLite database, consistently, while it serves
    Backup {
        /// The new file to write
        file: std::path::PathBuf,
    },
    /// Put a backup in place of the SQLite database (the server stopped)
    Restore {
        /// The backup to put back
        file: std::path::PathBuf,
    },
    /// Delete usage-log rows older than DAYS days (the server does so daily, per usage_log_retention_days)
    Purge {
        /// Rows older than this many days go (at least 1)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        older_than: u32,
    },
    /// Copy a SQLite database into the empty PostgreSQL database of SMS_ROUTER_DATABASE_URL
    Import {
        /// The SQLite database file
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Send a Twilio-shaped webhook to a running server and print the reply
    Simulate {
        /// The sender's number
        #[arg(long)]
        from: String,
        /// The number texted (default: SMS_ROUTER_TWILIO_FROM_NUMBER)
        #[arg(long)]
        to: Option<String>,
        /// The server's base URL (default: http:// + SMS_ROUTER_BIND)
        #[arg(long)]
        url: Option<String>,
        /// The message text
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user
    Add {
        #[arg(long)]
        phone: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// The user's own agent (default: SMS_ROUTER_AGENT_URL's)
        #[arg(long)]
        agent_url: Option<String>,
        /// The token sent to the user's own agent (needs --agent-url)
        #[arg(long, requires = "agent_url")]
        agent_token: Option<String>,
    },
    /// List users as a table
    List,
}

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Exit 2.
    #[error("{0}")]
    Usage(String),
    /// Exit 1.
    #[error("{0:#}")]
    Runtime(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Runtime(_) => 1,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        if let Some(config) = err.downcast_ref::<ConfigError>() {
            return Failure::Usage(format!("bad configuration: {config}"));
        }
        if let Some(problems) = err.downcast_ref::<crate::config::ConfigErrors>() {
            let lines: Vec<String> = problems.0.iter().map(|p| format!("  {p}")).collect();
            return Failure::Usage(format!(
                "bad configuration:\n{}\n(`sms-router doctor` checks the whole configuration)",
                lines.join("\n")
            ));
        }
        if let Some(in_use) = err.downcast_ref::<crate::adapters::sqlite::backup::InUseError>() {
            return Failure::Usage(in_use.to_string());
        }
        Failure::Runtime(err)
    }
}

impl From<ConfigError> for Failure {
    fn from(err: ConfigError) -> Self {
        Failure::Usage(format!("bad configuration: {err}"))
    }
}

/// Runs one command.
///
/// # Errors
/// A `Failure` saying what went wrong and which exit code it calls for.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Openapi = cli.command {
        println!("{}", openapi_spec());
        return Ok(());
    }
    let config = Config::load()?;
    telemetry::init(&config.log_filter, config.log_format);
    // A full disk (or a file-size limit) fails a write, and the command
    // cleans up after it, rather than killing the process.
    survive_file_size_limit();
    match cli.command {
        Command::Openapi => Ok(()),
        Command::Serve { dev } => serve(&config, dev).await,
        Command::Migrate => {
            match database::open(&config, Access::Alone, None).await?.database {
                Database::Postgres(_) => println!("the PostgreSQL database is up to date"),
                Database::Sqlite(_) => println!("database {} is up to date", config.database_path.display()),
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            phone,
            name,
            email,
            agent_url,
            agent_token,
        }) => {
            let agent = agent_url
                .map(|url| -> Result<AgentEndpoint, Failure> {
                    Ok(AgentEndpoint {
                        url: AgentUrl::parse(&url).map_err(|e| Failure::Usage(format!("--agent-url {e}")))?,
                        token: agent_token
                            .as_deref()
                            .map(AgentToken::parse)
                            .transpose()
                            .map_err(|e| Failure::Usage(format!("--agent-token {e}")))?,
                    })
                })
                .transpose()?;
            add_user(&config, &phone, &name, email.as_deref(), agent).await
        }
        Command::User(UserCommand::List) => list_users(&config).await,
        Command::Import { from } => import(&config, &from).await,
        Command::Purge { older_than } => purge(&config, older_than).await,
        Command::Backup { file } => backup(&config, &file),
        Command::Doctor { dev } => doctor(&config, dev).await,
        Command::Restore { file } => restore(&config, &file),
        Command::Simulate { from, to, url, text } => simulate(&config, &from, to, url, &text.join(" ")).await,
    }
}

async fn serve(config: &Config, dev: bool) -> Result<(), Failure> {
    let app = Application::build(config, dev).await?;
    app.run_until_stopped(stop_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// A write past the process's file-size limit raises SIGXFSZ, which would
/// kill the process; handled, the write fails instead: the server's store
/// answers 503 until there is room again, as on a full disk, and a backup
/// removes what it began.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        // The handler stays installed after the stream is dropped.
        let kind = tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ);
        if let Err(e) = tokio::signal::unix::signal(kind) {
            tracing::warn!(error = %e, "cannot handle SIGXFSZ: a file-size limit would stop the server");
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("stop signal received: finishing in-flight requests");
}

async fn add_user(
    config: &Config,
    phone: &str,
    name: &str,
    email: Option<&str>,
    agent: Option<AgentEndpoint>,
) -> Result<(), Failure> {
    let user = NewUser {
        full_name: FullName::parse(name).map_err(|e| Failure::Usage(format!("--name {e}")))?,
        email: email
            .map(EmailAddress::parse)
            .transpose()
            .map_err(|e| Failure::Usage(format!("--email {e}")))?,
        phone_number: Some(
            PhoneNumber::parse(phone, config.default_region)
                .map_err(|e| Failure::Usage(format!("--phone `{phone}` {e}")))?,
        ),
        is_active: true,
        agent,
    };
    let opened = database::open(config, Access::Beside, None).await?;
    let user = with_store!(&opened.database, store => store.create_user(user).await);
    let user = user.map_err(|e| match e {
        CreateError::Store(e) => Failure::Runtime(e.into()),
        CreateError::Taken(taken) => Failure::Runtime(taken.into()),
    })?;
    let number = user.phone_number.map(|n| n.to_string()).unwrap_or_default();
    println!("added user {}: {} {number}", user.id, user.full_name);
    Ok(())
}

async fn doctor(config: &Config, dev: bool) -> Result<(), Failure> {
    let findings = crate::doctor::examine(config, dev).await;
    for finding in &findings {
        let mark = if finding.ok { "ok  " } else { "FAIL" };
        println!("{mark} {:11} {}", finding.what, finding.says);
    }
    let problems = findings.iter().filter(|f| !f.ok).count();
    if problems == 0 {
        println!("all is well");
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!(
            "{problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        )))
    }
}

/// Backups and restores are SQLite's: PostgreSQL has its own tools.
fn sqlite_only(config: &Config, what: &str) -> Result<(), Failure> {
    if config.database_url.is_some() {
        return Err(Failure::Usage(format!(
            "{what} is for the SQLite database; with SMS_ROUTER_DATABASE_URL set, use PostgreSQL's pg_dump and pg_restore"
        )));
    }
    Ok(())
}

fn backup(config: &Config, file: &std::path::Path) -> Result<(), Failure> {
    sqlite_only(config, "backup")?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("backing up [{bar:40}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    crate::adapters::sqlite::backup::backup(&config.database_path, file, |written, size| {
        bar.set_length(size);
        bar.set_position(written);
    })?;
    bar.finish_and_clear();
    println!("backed up {} into {}", config.database_path.display(), file.display());
    Ok(())
}

fn restore(config: &Config, file: &std::path::Path) -> Result<(), Failure> {
    sqlite_only(config, "restore")?;
    let _sole = Sole::take(&config.database_path)?;
    let kept = crate::adapters::sqlite::backup::restore(file, &config.database_path)?;
    println!("restored {} from {}", config.database_path.display(), file.display());
    if let Some(kept) = kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}

async fn purge(config: &Config, older_than: u32) -> Result<(), Failure> {
    let days = std::num::NonZeroU32::new(older_than)
        .ok_or_else(|| Failure::Usage("--older-than must be at least 1".into()))?;
    let cutoff = crate::domain::retention::cutoff(chrono::Utc::now(), days);
    let opened = database::open(config, Access::Beside, None).await?;
    let purged = with_store!(&opened.database, store => purge_with_progress(store, cutoff).await?);
    println!("purged {purged} usage-log rows older than {older_than} days");
    Ok(())
}

/// `retention::purge`, with a progress bar on a terminal.
async fn purge_with_progress(
    store: &impl crate::ports::Retention,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<u64, Failure> {
    let total = store
        .count_before(cutoff)
        .await
        .map_err(|e| Failure::Runtime(e.into()))?;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("purging [{bar:40}] {pos}/{len} rows, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let purged = crate::adapters::retention::purge(store, cutoff, |rows| bar.inc(rows))
        .await
        .map_err(|e| Failure::Runtime(e.into()))?;
    bar.finish_and_clear();
    Ok(purged)
}

async fn import(config: &Config, from: &std::path::Path) -> Result<(), Failure> {
    let into_postgres =
        || Failure::Usage("import copies into PostgreSQL: set SMS_ROUTER_DATABASE_URL to the (empty) database".into());
    if config.database_url.is_none() {
        return Err(into_postgres());
    }
    let _sole = Sole::take(from)?;
    let Database::Postgres(store) = database::open(config, Access::Beside, None).await?.database else {
        return Err(into_postgres());
    };
    let imported = crate::adapters::import::import(from, &store).await?;
    for (table, rows) in imported.tables {
        println!("{table:24} {rows} rows");
    }
    println!("imported {}", from.display());
    Ok(())
}

async fn list_users(config: &Config) -> Result<(), Failure> {
    let opened = database::open(config, Access::Beside, None).await?;
    with_store!(&opened.database, store => print_users(store).await)
}

/// Every user of `store`, as a table.
async fn print_users(store: &impl UserRegistry) -> Result<(), Failure> {
    let mut users = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 500,
    };
    loop {
        let found = store
            .list_users(Default::default(), page)
            .await
            .map_err(|e| Failure::Runtime(e.into()))?;
        users.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let rows: Vec<[String; 5]> = users
        .into_iter()
        .map(|u| {
            [
                u.id.to_string(),
                u.full_name,
                u.phone_number.map(|n| n.to_string()).unwrap_or_default(),
                u.email.unwrap_or_default(),
                if u.is_active { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "PHONE", "EMAIL", "ACTIVE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

const WEBHOOK_PATH: &str = "/sms-router/webhook/sms";

async fn simulate(
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
