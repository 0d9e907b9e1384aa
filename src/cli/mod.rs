//! The command line: parses arguments and runs one command. Exit codes:
//! 0 ok, 1 runtime failure, 2 bad configuration or usage.

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::database::{self, Access, Database};
use crate::domain::user::{AgentEndpoint, AgentToken, AgentUrl};
use crate::startup::openapi_spec;
use crate::telemetry;

mod commands;
mod simulate;

use commands::{add_user, backup, doctor, import, list_users, purge, restore, serve, survive_file_size_limit};
use simulate::simulate;

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
    /// Exit 0 when the server on SMS_ROUTER_BIND answers /healthz, 1 when not (a container's health check: no shell or curl needed)
    Healthcheck,
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
    let _log = telemetry::init(&config.log_filter, config.log_format);
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
        Command::Healthcheck => simulate::healthcheck(&config).await,
        Command::Simulate { from, to, url, text } => simulate(&config, &from, to, url, &text.join(" ")).await,
    }
}
