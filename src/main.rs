//! The `sms-router` binary: parse the command line, run, exit.

use std::process::ExitCode;

use clap::Parser;
use sms_router::cli::{Cli, run};

/// jemalloc: the webhook allocates a few hundred times a message, and
/// glibc's malloc and free were a tenth of the server's CPU under load;
/// with jemalloc the server's CPU per webhook fell by a fifth, its p99 too,
/// for 20 MiB more at its peak (mimalloc: the same CPU, 60 MiB more and a
/// worse p99). Measured in docs/performance.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: one arena and small thread
/// caches keep the peak under load within 100 MB (four arenas and the
/// default caches: 105 MiB), for a little of the CPU it saves.
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 26] = b"narenas:1,tcache_max:1024\0";

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
