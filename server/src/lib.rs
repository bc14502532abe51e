//! Parlor's server: a real-time chat service on axum, Leptos SSR, SQLite and a channel layer.
//!
//! A map of the crate, in the order a message travels:
//! - [`routes`] assembles the router: pages (Leptos SSR), the REST API ([`api`]), the
//!   WebSocket transport ([`transport`]), `/healthz`, and the middleware around them
//!   (sessions, [`origin`] checks, compression, tracing).
//! - [`auth`] resolves the session cookie into an [`auth::Identity`], once per request or
//!   connection.
//! - [`chat`] is the chat service: validate → store → publish, and the ordered, gap-free
//!   [`chat::RoomFeed`] that every consumer reads.
//! - [`store`] holds all SQL (SQLite through sqlx; migrations in `server/migrations/`).
//! - [`layer`] is the channel layer: channels, groups and fan-out, in memory (one process)
//!   or over Redis pub/sub (many processes).
//! - [`backend`] implements the UI's port so server functions use the same services.
//! - [`config`] is the command line; `main.rs` runs it.
//!
//! [`start`] wires these together on a listener; the binary and the integration tests both
//! use it.

pub mod api;
pub mod auth;
pub mod backend;
pub mod chat;
pub mod config;
pub mod error;
pub mod layer;
pub mod limits;
pub mod origin;
pub mod routes;
pub mod state;
pub mod store;
pub mod transport;

use axum::serve::ListenerExt;
use chat::ChatService;
use layer::{memory::MemoryLayer, redis::RedisLayer, ChannelLayer};
use leptos::config::LeptosOptions;
use origin::OriginPolicy;
use state::AppState;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use store::{Store, StoreError};
use tokio::{
    net::TcpListener,
    sync::{watch, Semaphore},
    task::JoinHandle,
};
use tower_sessions::{session_store::ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::SqliteStore;

/// How long shutdown waits for connections to close after telling them to.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often expired sessions are deleted.
const SESSION_SWEEP: Duration = Duration::from_secs(3600);

/// Everything `start` needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The SQLite file.
    pub database: PathBuf,
    /// The `serve` flags (limits, Redis, origins, guests, sessions, …).
    pub serve: config::ServeArgs,
    /// Leptos' site settings.
    pub leptos: LeptosOptions,
}

impl Settings {
    /// Defaults around a database path (tests, tools).
    pub fn new(database: PathBuf) -> Self {
        Self {
            database,
            serve: config::ServeArgs::default(),
            leptos: leptos_options(),
        }
    }

    /// The rate limits these flags ask for.
    pub fn limits(&self) -> limits::LimitSettings {
        limits::LimitSettings {
            auth_per_minute: self.serve.auth_per_minute,
            login_per_account_per_minute: self.serve.login_per_account_per_minute,
            message_rate: self.serve.message_rate,
            message_burst: self.serve.message_burst,
        }
    }

    /// Origins allowed besides the request's own: `--allowed-origin` and `--public-url`.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins = self.serve.allowed_origins.clone();
        if let Some(public) = &self.serve.public_url {
            origins.push(public.trim_end_matches('/').to_owned());
        }
        origins
    }
}

/// Leptos' options from cargo-leptos' environment, with Parlor's output name when the binary
/// was built without cargo-leptos (plain `cargo test`).
pub fn leptos_options() -> LeptosOptions {
    let mut options = leptos::config::get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("parlor").build());
    if options.output_name.is_empty() {
        options.output_name = "parlor".into();
    }
    options
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session table could not be created.
    #[error("session store: {0}")]
    Sessions(#[from] sqlx::Error),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The channel layer could not be set up (a malformed Redis URL).
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
}

/// A server running in this process.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    serving: JoinHandle<std::io::Result<()>>,
    /// To tell every local connection to go away.
    layer: Arc<dyn ChannelLayer>,
    connections: Arc<Semaphore>,
    max_connections: u32,
}

impl RunningServer {
    /// Stops accepting, tells every connection to close (1001), and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.layer.broadcast_local(layer::Delivery::GoAway);
        match self.serving.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "server stopped with an error"),
            Err(error) => tracing::error!(%error, "server task failed"),
        }
        let all = self.connections.acquire_many(self.max_connections);
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!("some connections did not close in time");
        }
    }
}

/// Opens the store, builds the services and serves on `listener` until shut down.
pub async fn start(settings: Settings, listener: TcpListener) -> Result<RunningServer, StartError> {
    let store = Store::open_and_migrate(&settings.database).await?;
    let sessions = SqliteStore::new(store.pool().clone());
    sessions.migrate().await?;
    tokio::spawn(sessions.clone().continuously_delete_expired(SESSION_SWEEP));
    let layer = channel_layer(&settings)?;
    tokio::spawn(auth::password::warm_up());
    serve_with(settings, listener, store, layer, sessions).await
}

/// The in-memory layer, or the Redis layer when a Redis URL is configured.
pub fn channel_layer(settings: &Settings) -> Result<Arc<dyn ChannelLayer>, layer::LayerError> {
    let serve = &settings.serve;
    Ok(match &serve.redis {
        Some(url) => Arc::new(RedisLayer::start(
            url,
            &serve.redis_prefix,
            serve.mailbox_capacity,
        )?),
        None => Arc::new(MemoryLayer::new(serve.mailbox_capacity)),
    })
}

/// Prunes the rate limiters' idle keys once a minute until shutdown.
async fn forget_idle_limits(limits: Arc<limits::Limits>, mut stopping: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => limits.forget_idle(),
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}

async fn serve_with<S: SessionStore + Clone>(
    settings: Settings,
    listener: TcpListener,
    store: Store,
    layer: Arc<dyn ChannelLayer>,
    sessions: S,
) -> Result<RunningServer, StartError> {
    let chat = ChatService::start(store.clone(), layer.clone());
    let max_connections = u32::try_from(settings.serve.max_connections).unwrap_or(u32::MAX);
    let connections = Arc::new(Semaphore::new(max_connections as usize));
    let (stop, stopping) = watch::channel(false);
    let limits = Arc::new(limits::Limits::new(settings.limits()));
    tokio::spawn(forget_idle_limits(limits.clone(), stopping.clone()));
    let state = AppState {
        chat,
        store,
        origins: Arc::new(OriginPolicy::new(&settings.allowed_origins())),
        connections: connections.clone(),
        admin_token: settings
            .serve
            .admin_token
            .clone()
            .filter(|token| !token.is_empty())
            .map(Arc::from),
        allow_guests: settings.serve.allow_guests,
        trust_proxy: settings.serve.trust_proxy,
        limits,
        leptos: settings.leptos.clone(),
    };
    let cookies = routes::CookiePolicy {
        secure: settings
            .serve
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://")),
        idle_days: settings.serve.session_days,
    };
    let app = routes::router(state, sessions, cookies);
    let addr = listener.local_addr()?;
    let mut stopping = stopping;
    // Small frames must leave at once: without TCP_NODELAY, Nagle's algorithm and delayed
    // ACKs add up to 40 ms to a delivery.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
    });
    Ok(RunningServer {
        addr,
        stop,
        serving,
        layer,
        connections,
        max_connections,
    })
}
