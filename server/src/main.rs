//! The `parlor` binary: `parlor serve` (the default), `parlor migrate` and `parlor broadcast`.
//! See the library crate (`server/src/lib.rs`) for a map of the code.

use parlor::{
    chat::ChatService,
    config::{BroadcastArgs, Cli, Command, GlobalArgs, ServeArgs},
    layer::{redis::RedisLayer, ChannelLayer},
    leptos_options,
    limits::{LimitSettings, Limits},
    start,
    store::Store,
    Settings,
};
use std::{process::ExitCode, sync::Arc, time::Duration};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: a page render allocates thousands of short-lived
/// values across worker threads, where glibc spent a quarter of the CPU in malloc, free and
/// consolidation (room page +55 % requests/s; bench/RESULTS.md, "the allocator"). mimalloc
/// rendered as fast but cost 18 % more CPU per delivery and 28 % more memory per idle socket.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at start-up. Thread caches up to 1 MiB: the compressors of a
/// response allocate buffers of a few hundred KiB each time, which past the default cache
/// limit (32 KiB) went to the shared arena and back to the kernel, and the page faults and
/// TLB flushes that followed made a brotli page 6× slower than an uncompressed one.
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_OPTIONS: &[u8; 19] = b"tcache_max:1048576\0";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::load();
    init_logging(&cli.global.log);
    let outcome = match cli.command {
        None => serve(cli.global, cli.serve).await,
        Some(Command::Serve(args)) => serve(cli.global, args).await,
        Some(Command::Migrate) => migrate(cli.global).await,
        Some(Command::Broadcast(args)) => broadcast(cli.global, args).await,
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
    // Logs go to stderr, like every well-behaved server: stdout stays for command output.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(global: GlobalArgs, args: ServeArgs) -> Result<(), String> {
    let leptos = leptos_options();
    let addr = args.addr.unwrap_or(leptos.site_addr);
    let layer_name = if args.redis.is_some() {
        "Redis channel layer"
    } else {
        "in-memory channel layer"
    };
    let guests = if args.allow_guests {
        "guests allowed"
    } else {
        "accounts only"
    };
    let settings = Settings {
        database: global.database.clone(),
        serve: args,
        leptos,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let server = start(settings, listener)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    tracing::info!(
        "Parlor is serving http://{} (database {}, {layer_name}, {guests})",
        server.addr,
        global.database
    );
    shutdown_signal().await;
    tracing::info!("shutting down: telling connections to go away, then storing what is queued");
    server.shutdown().await;
    Ok(())
}

async fn migrate(global: GlobalArgs) -> Result<(), String> {
    parlor::store::Store::open_and_migrate(&global.database)
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    println!("database {} is up to date", global.database);
    Ok(())
}

/// Stores a message and publishes it through Redis, so every running server delivers it.
async fn broadcast(global: GlobalArgs, args: BroadcastArgs) -> Result<(), String> {
    let Some(redis) = args.redis else {
        return Err(
            "parlor broadcast needs --redis (or PARLOR_REDIS_URL): a running server's \
             in-memory channel layer lives inside that server's process and cannot be reached \
             from here. Run the servers with --redis, or use the admin API of the server: \
             curl -X POST -H \"Authorization: Bearer $PARLOR_ADMIN_TOKEN\" \
             -H 'content-type: application/json' -d '{\"text\":\"...\"}' \
             http://HOST:PORT/api/admin/rooms/SLUG/broadcast"
                .to_owned(),
        );
    };
    let store = Store::open_and_migrate(&global.database)
        .await
        .map_err(|e| format!("cannot open {}: {e}", global.database))?;
    let layer =
        Arc::new(RedisLayer::start(&redis, &args.redis_prefix, 16).map_err(|e| e.to_string())?);
    if !layer.wait_connected(Duration::from_secs(5)).await {
        return Err(format!("cannot reach Redis at {redis}; nothing was stored"));
    }
    let limits = Arc::new(Limits::new(LimitSettings::default()));
    let chat = ChatService::start(
        store.clone(),
        layer.clone() as Arc<dyn ChannelLayer>,
        limits,
    );
    let sent = chat
        .announce(&args.author, &args.room, &args.text, None)
        .await
        .map_err(|e| e.to_string());
    chat.close().await;
    let sent = sent?;
    let published = layer.flush().await;
    layer.close().await;
    store.close().await;
    published.map_err(|e| {
        format!(
            "message {} is stored, but publishing it failed ({e}): connected clients will see \
             it when they next resync",
            sent.message.id
        )
    })?;
    println!(
        "broadcast message {} to room {} as {}",
        sent.message.id, sent.message.room, sent.message.author
    );
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
