//! Starting and stopping a server: the composition root, where the adapters (store, layer,
//! session store) are built and handed to the core services, the edge is mounted on a
//! listener, and every background task is owned ([`Tasks`]) so that shutdown can stop them
//! in order.
//!
//! Shutdown order, all within `--shutdown-timeout`:
//! 1. stop accepting connections;
//! 2. tell every connection to go away (WebSockets get 1001, SSE streams end, waiting long
//!    polls answer), including ones still in their handshake;
//! 3. wait for the connections to end (a client that never reads is cut off at the
//!    deadline);
//! 4. drain the message writer: every queued message is stored, published and answered;
//! 5. flush the channel layer (the queued Redis publishes go out) and stop its tasks;
//! 6. stop the background tasks, close the store.

use crate::{
    auth::{self, Accounts},
    chat::ChatService,
    config,
    http::{
        self, admission::Admission, origin::OriginPolicy, sessions::CookiePolicy, state::AppState,
    },
    layer::{memory::MemoryLayer, redis::RedisLayer, ChannelLayer, LayerError},
    limits,
    store::{Store, StoreError},
    tasks::{self, Tasks},
};
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
use tower_sessions::SessionStore;
use tower_sessions_sqlx_store::SqliteStore;

/// How often expired sessions are deleted.
const SESSION_SWEEP: Duration = Duration::from_secs(3600);
/// How often the rate limiters forget idle keys.
const FORGET_IDLE_LIMITS: Duration = Duration::from_secs(60);
/// Of the shutdown timeout, the part kept for draining the writer, the layer and the store
/// after the connections' deadline.
const DRAIN_SHARE: f64 = 0.3;

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

    fn cookies(&self) -> CookiePolicy {
        CookiePolicy {
            secure: self
                .serve
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://")),
            idle_days: self.serve.session_days,
        }
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
    Layer(#[from] LayerError),
}

/// A server running in this process.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops accepting (axum's graceful shutdown).
    stop_accepting: CancellationToken,
    /// The accept loop and its connections.
    serving: JoinHandle<std::io::Result<()>>,
    /// The services and adapters, closed in order.
    chat: ChatService,
    layer: Arc<dyn ChannelLayer>,
    store: Store,
    admission: Admission,
    /// Background tasks (session sweeper, limiter pruning, start-up work).
    tasks: Tasks,
    /// The whole shutdown's budget.
    shutdown_timeout: Duration,
}

impl RunningServer {
    /// Shuts down in the order the module documentation gives, within the timeout.
    pub async fn shutdown(self) {
        let started = Instant::now();
        let deadline = started + self.shutdown_timeout;
        let connections_deadline = started + self.shutdown_timeout.mul_f64(1.0 - DRAIN_SHARE);
        self.stop_accepting.cancel();
        self.layer.shut_down();
        let connections = async {
            let mut serving = self.serving;
            let served = tokio::time::timeout_at(connections_deadline, &mut serving).await;
            match served {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => tracing::error!(%error, "the listener failed"),
                Ok(Err(error)) => tracing::error!(%error, "the server task failed"),
                Err(_) => {
                    tracing::warn!(
                        "some HTTP connections did not finish in time; cutting them off"
                    );
                    serving.abort();
                }
            }
            let left = connections_deadline.saturating_duration_since(Instant::now());
            if !self.admission.wait_all_closed(left).await {
                tracing::warn!("some connections did not close in time");
            }
        };
        connections.await;
        if tokio::time::timeout_at(deadline, self.chat.close())
            .await
            .is_err()
        {
            tracing::warn!("the message writer did not drain in time");
        }
        if tokio::time::timeout_at(deadline, self.layer.close())
            .await
            .is_err()
        {
            tracing::warn!("the channel layer did not close in time");
        }
        self.tasks.stop(deadline).await;
        self.store.close().await;
        tracing::info!(took_ms = started.elapsed().as_millis() as u64, "shut down");
    }
}

/// Opens the store, builds the services and serves on `listener` until shut down.
pub async fn start(settings: Settings, listener: TcpListener) -> Result<RunningServer, StartError> {
    let store = Store::open_and_migrate(&settings.database).await?;
    let sessions = SqliteStore::new(store.pool().clone());
    sessions.migrate().await?;
    let layer = channel_layer(&settings)?;
    let mut tasks = Tasks::new();
    tasks.spawn(
        "session sweeper",
        auth::sessions::sweep_expired(sessions.clone(), SESSION_SWEEP, tasks.stop_signal()),
    );
    tasks.spawn("password warm-up", auth::password::warm_up());
    serve_with(settings, listener, store, layer, sessions, tasks).await
}

/// The edge's state over the core services, with the edge's own policies from the flags.
fn app_state(settings: &Settings, chat: ChatService, accounts: Accounts) -> AppState {
    let origins = Arc::new(OriginPolicy::new(&settings.allowed_origins()));
    AppState {
        chat,
        accounts,
        admission: Admission::new(origins, settings.serve.max_connections),
        admin_token: settings
            .serve
            .admin_token
            .clone()
            .filter(|token| !token.is_empty())
            .map(Arc::from),
        trust_proxy: settings.serve.trust_proxy,
        leptos: settings.leptos.clone(),
    }
}

/// The in-memory layer, or the Redis layer when a Redis URL is configured.
pub fn channel_layer(settings: &Settings) -> Result<Arc<dyn ChannelLayer>, LayerError> {
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

async fn serve_with<S: SessionStore + Clone>(
    settings: Settings,
    listener: TcpListener,
    store: Store,
    layer: Arc<dyn ChannelLayer>,
    sessions: S,
    mut tasks: Tasks,
) -> Result<RunningServer, StartError> {
    let limits = Arc::new(limits::Limits::new(settings.limits()));
    let pruned = limits.clone();
    tasks.spawn(
        "rate limiter pruning",
        tasks::every(FORGET_IDLE_LIMITS, tasks.stop_signal(), move || {
            pruned.forget_idle()
        }),
    );
    let chat = ChatService::start(store.clone(), layer.clone(), limits.clone());
    let accounts = Accounts::new(store.clone(), limits, settings.serve.allow_guests);
    let state = app_state(&settings, chat.clone(), accounts);
    let admission = state.admission.clone();
    let app = http::router(state, sessions, settings.cookies());
    let addr = listener.local_addr()?;
    // Small frames must leave at once: without TCP_NODELAY, Nagle's algorithm and delayed
    // ACKs add up to 40 ms to a delivery.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let stop_accepting = CancellationToken::new();
    let stopped = stop_accepting.clone();
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stopped.cancelled().await })
        .await
    });
    Ok(RunningServer {
        addr,
        stop_accepting,
        serving,
        chat,
        layer,
        store,
        admission,
        tasks,
        shutdown_timeout: Duration::from_secs(settings.serve.shutdown_timeout.max(1)),
    })
}
