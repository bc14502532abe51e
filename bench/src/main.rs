//! Parlor's benchmarks.
//!
//! - `bench load …`: the load generator. It opens WebSockets to one or more Parlor servers
//!   (round-robin over `--url`), sends timestamped messages at a fixed rate from some of them,
//!   and measures what every client receives: deliveries, losses, order, end-to-end latency,
//!   and the servers' memory and CPU from `/proc`. Output: a table and one JSON line.
//! - `bench bare …`: a bare tokio broadcast WebSocket server speaking the same frames (no
//!   store, no sessions, no checks): the ceiling every Parlor figure is compared with.
//!
//! `bench/run.py` (`make bench`) runs the load scenarios and prints markdown tables for
//! `bench/RESULTS.md`. The load generator shares the machine with the server, so it is built
//! to be cheap: one runtime, no JSON decoding on the hot path, one histogram per client.

mod bare;
mod load;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The server's allocator and options (server/src/main.rs), so the bare ceiling and the
/// load generator run on what Parlor runs on.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// As the server's (server/src/main.rs).
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_OPTIONS: &[u8; 19] = b"tcache_max:1048576\0";

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Parlor's load generator and ceiling server",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    /// What to run (default: `load`, with the flags below).
    #[command(subcommand)]
    command: Option<Command>,
    /// `load` flags, when no subcommand is given.
    #[command(flatten)]
    load: load::Options,
}

#[derive(Subcommand)]
enum Command {
    /// Generate load and measure it.
    Load(load::Options),
    /// Serve the bare broadcast server (the ceiling).
    Bare(bare::Options),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            None => load::run(cli.load).await,
            Some(Command::Load(options)) => load::run(options).await,
            Some(Command::Bare(options)) => bare::run(options).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: {message}");
            ExitCode::FAILURE
        }
    }
}
