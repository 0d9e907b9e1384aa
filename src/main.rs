//! The `sms-router` binary: parse the command line, run, exit.

use std::process::ExitCode;

use clap::Parser;
use sms_router::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("sms-router: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
