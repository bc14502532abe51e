//! The `parlor` binary: `parlor serve` (the default) and `parlor migrate`. See the library
//! crate (`server/src/lib.rs`) for a map of the code.

use clap::Parser;
use parlor::{
    config::{Cli, Command, GlobalArgs, ServeArgs},
    leptos_options, start, Settings,
};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global.log);
    let outcome = match cli.command {
        None => serve(cli.global, cli.serve).await,
        Some(Command::Serve(args)) => serve(cli.global, args).await,
        Some(Command::Migrate) => migrate(cli.global).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("parlor: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("parlor: bad --log filter {filter:?} ({error}); using 'info'");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn serve(global: GlobalArgs, args: ServeArgs) -> Result<(), String> {
    let leptos = leptos_options();
    let addr = args.addr.unwrap_or(leptos.site_addr);
    let settings = Settings {
        database: global.database.clone(),
        allowed_origins: args.allowed_origins,
        mailbox_capacity: args.mailbox_capacity,
        max_connections: args.max_connections,
        leptos,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let server = start(settings, listener)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    tracing::info!(
        "Parlor is serving http://{} (database {}, in-memory channel layer)",
        server.addr,
        global.database.display()
    );
    shutdown_signal().await;
    tracing::info!("shutting down: closing connections");
    server.shutdown().await;
    Ok(())
}

async fn migrate(global: GlobalArgs) -> Result<(), String> {
    parlor::store::Store::open_and_migrate(&global.database)
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    println!("database {} is up to date", global.database.display());
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
