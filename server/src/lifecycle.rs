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
    auth::{self, password::Hasher, Accounts, SessionPolicy},
    chat::{ChatService, CommitWindow},
    config,
    http::{
        self,
        admission::Admission,
        gate::Gate,
        origin::OriginPolicy,
        serve::{connection_cap, ConnectionLimits, Stopping},
        sessions::CookiePolicy,
        state::AppState,
    },
    layer::{
        memory::MemoryLayer,
        redis::{RedisLayer, RedisRate},
        ChannelLayer, LayerError,
    },
    limits,
    store::{Database, SessionPool, Store, StoreError},
    tasks::{self, Tasks},
};
use leptos::config::LeptosOptions;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};
use tower_sessions::SessionStore;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// How often expired sessions are deleted.
const SESSION_SWEEP: Duration = Duration::from_secs(3600);
/// How often an active session's expiry is extended (one store write per session per
/// interval, instead of one per request).
const SESSION_TOUCH: Duration = Duration::from_secs(60);
/// How often every connection is asked whether its client is still there (a WebSocket pings,
/// and closes after two heartbeats without a word).
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often the rate limiters forget idle keys.
const FORGET_IDLE_LIMITS: Duration = Duration::from_secs(60);
/// Of the shutdown timeout, the part kept for draining the writer, the layer and the store
/// after the connections' deadline.
const DRAIN_SHARE: f64 = 0.3;

/// Everything `start` needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The database (an SQLite file or a PostgreSQL URL).
    pub database: Database,
    /// The `serve` flags (limits, Redis, origins, guests, sessions, …).
    pub serve: config::ServeArgs,
    /// Leptos' site settings.
    pub leptos: LeptosOptions,
}

impl Settings {
    /// Defaults around a database (tests, tools).
    pub fn new(database: Database) -> Self {
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
            signups_per_ip_per_hour: self.serve.signups_per_ip_per_hour,
            room_quota: self.serve.room_quota,
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

    fn session_policy(&self) -> SessionPolicy {
        const DAY: Duration = Duration::from_secs(86_400);
        SessionPolicy {
            allow_guests: self.serve.allow_guests,
            max_age: DAY * self.serve.session_max_days.max(1),
            touch_every: SESSION_TOUCH,
        }
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
    // cargo-leptos writes the hashes of the site's files beside the binary; a binary run
    // directly (not through `cargo leptos`) finds them there.
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        let beside_binary = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(options.hash_file.as_ref())));
        options.hash_files = beside_binary.is_some_and(|path| path.exists());
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
    /// Stops accepting, then cuts off what is left.
    stopping: Stopping,
    /// The accept loop and its connections.
    serving: JoinHandle<()>,
    /// The private metrics listener's loop, if `--metrics-addr` is set.
    metrics: Option<JoinHandle<()>>,
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
        self.stopping.stop.cancel();
        self.layer.shut_down();
        let connections = async {
            let mut serving = self.serving;
            let served = tokio::time::timeout_at(connections_deadline, &mut serving).await;
            match served {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "the server task failed"),
                Err(_) => {
                    tracing::warn!(
                        "some HTTP connections did not finish in time; cutting them off"
                    );
                    self.stopping.cut_off.cancel();
                    let _ = serving.await;
                }
            }
            let left = connections_deadline.saturating_duration_since(Instant::now());
            if !self.admission.wait_all_closed(left).await {
                tracing::warn!("some connections did not close in time");
            }
        };
        connections.await;
        if let Some(metrics) = self.metrics {
            let _ = tokio::time::timeout_at(deadline, metrics).await;
        }
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
    let layer = channel_layer(&settings)?;
    let mut tasks = Tasks::new();
    // The sessions live in the same database as everything else, on either backend.
    match store.session_pool() {
        SessionPool::Postgres(pool) => {
            let sessions = PostgresStore::new(pool);
            migrate_sessions(|| sessions.migrate()).await?;
            tasks.spawn(
                "session sweeper",
                auth::sessions::sweep_expired(sessions.clone(), SESSION_SWEEP, tasks.stop_signal()),
            );
            serve_with(settings, listener, store, layer, sessions, tasks).await
        }
        SessionPool::Sqlite(pool) => {
            let sessions = SqliteStore::new(pool);
            sessions.migrate().await?;
            tasks.spawn(
                "session sweeper",
                auth::sessions::sweep_expired(sessions.clone(), SESSION_SWEEP, tasks.stop_signal()),
            );
            serve_with(settings, listener, store, layer, sessions, tasks).await
        }
    }
}

/// Creates the session table, trying again a few times: processes starting together on one
/// PostgreSQL race on its `CREATE SCHEMA IF NOT EXISTS`, and the loser gets a unique
/// violation although the schema is there.
async fn migrate_sessions<F, Fut>(migrate: F) -> Result<(), sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match migrate().await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < 5 => {
                attempt += 1;
                tracing::debug!(%error, attempt, "creating the session table raced; again");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The edge's state over the core services, with the edge's own policies from the flags.
fn app_state(settings: &Settings, chat: ChatService, accounts: Accounts) -> AppState {
    let origins = Arc::new(OriginPolicy::new(
        &settings.allowed_origins(),
        settings.serve.public_url.as_deref(),
        settings.serve.trust_proxy,
    ));
    AppState {
        chat,
        accounts,
        admission: Admission::new(
            origins,
            connection_cap(settings.serve.max_connections),
            settings.serve.max_streams_per_ip,
        ),
        admin_token: token(&settings.serve.admin_token),
        metrics_token: token(&settings.serve.metrics_token),
        trust_proxy: settings.serve.trust_proxy,
        leptos: settings.leptos.clone(),
    }
}

fn token(flag: &Option<String>) -> Option<Arc<str>> {
    flag.clone()
        .filter(|token| !token.is_empty())
        .map(Arc::from)
}

/// Every TCP connection passes this gate: the total cap, and the per-address cap (off behind
/// a trusted proxy, where every connection comes from the proxy's address).
fn connection_gate(settings: &Settings) -> Gate {
    let per_address = if settings.serve.trust_proxy {
        0
    } else {
        settings.serve.max_connections_per_ip
    };
    Gate::new(connection_cap(settings.serve.max_connections), per_address)
}

fn connection_limits(settings: &Settings) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(settings.serve.header_timeout.max(1)),
        stall_timeout: Duration::from_secs(settings.serve.stall_timeout.max(1)),
    }
}

fn body_timeout(settings: &Settings) -> Duration {
    Duration::from_secs(settings.serve.body_timeout.max(1))
}

/// The limits the flags ask for; with Redis, the message rate is shared by every process.
fn limits(settings: &Settings) -> Result<limits::Limits, LayerError> {
    let limits = limits::Limits::new(settings.limits());
    Ok(match &settings.serve.redis {
        Some(url) => {
            let shared = RedisRate::new(url, &settings.serve.redis_prefix)
                .map_err(LayerError::Unavailable)?;
            limits.with_shared_rate(Arc::new(shared))
        }
        None => limits,
    })
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
    let limits = Arc::new(limits(&settings)?);
    let pruned = limits.clone();
    tasks.spawn(
        "rate limiter pruning",
        tasks::every(FORGET_IDLE_LIMITS, tasks.stop_signal(), move || {
            pruned.forget_idle()
        }),
    );
    crate::telemetry::install();
    let beating = layer.clone();
    tasks.spawn(
        "heartbeat",
        tasks::every(HEARTBEAT, tasks.stop_signal(), move || beating.heartbeat()),
    );
    let chat = ChatService::start_with(
        store.clone(),
        layer.clone(),
        limits.clone(),
        CommitWindow {
            window: Duration::from_micros(settings.serve.commit_window_us),
        },
    );
    let hasher = Hasher::new(
        settings.serve.argon2_concurrency,
        settings.serve.argon2_queue,
    );
    let accounts = Accounts::new(
        store.clone(),
        limits,
        settings.session_policy(),
        hasher,
        layer.clone(),
    );
    let state = app_state(&settings, chat.clone(), accounts);
    let admission = state.admission.clone();
    let private = http::health::private_router(state.clone());
    let app = http::router(state, sessions, settings.cookies(), body_timeout(&settings));
    let addr = listener.local_addr()?;
    let stopping = Stopping::default();
    let serving = tokio::spawn(http::serve::serve(
        listener,
        app,
        connection_gate(&settings),
        connection_limits(&settings),
        stopping.clone(),
    ));
    let metrics = match settings.serve.metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(%addr, "metrics and health on a private listener");
            Some(tokio::spawn(http::serve::serve(
                listener,
                private,
                Gate::new(64, 0),
                connection_limits(&settings),
                stopping.clone(),
            )))
        }
        None => None,
    };
    Ok(RunningServer {
        addr,
        stopping,
        serving,
        metrics,
        chat,
        layer,
        store,
        admission,
        tasks,
        shutdown_timeout: Duration::from_secs(settings.serve.shutdown_timeout.max(1)),
    })
}
