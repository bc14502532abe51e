//! Command line and environment: every flag also reads a `PARLOR_*` variable, so a service
//! manager or container can configure Parlor without a wrapper script.

use crate::limits::{LimitSettings, RoomQuota};
use crate::store::Database;
use clap::{
    error::ErrorKind, parser::ValueSource, Args, CommandFactory, FromArgMatches, Parser, Subcommand,
};
use std::{ffi::OsString, net::SocketAddr};

/// `parlor [serve|migrate] [flags]`; without a subcommand it serves.
#[derive(Debug, Parser)]
#[command(
    name = "parlor",
    version,
    about = "Parlor: a self-hosted real-time chat server",
    // A flag given twice takes its last value (a wrapper script's default, then the
    // operator's own), as most servers do.
    args_override_self = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Serving flags, when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// Parses the process's arguments, or prints the error and exits.
    pub fn load() -> Self {
        Self::try_load_from(std::env::args_os()).unwrap_or_else(|error| error.exit())
    }

    /// Parses `args`. The shared flags (`--database`, `--log`) may stand before or after the
    /// subcommand (`parlor --database f.db migrate` and `parlor migrate --database f.db`);
    /// a serving flag before a subcommand is refused rather than silently ignored.
    pub fn try_load_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            let serving = ServeArgs::augment_args(clap::Command::new("serve"));
            for arg in serving.get_arguments() {
                let id = arg.get_id().as_str();
                if matches.value_source(id) == Some(ValueSource::CommandLine) {
                    let flag = arg.get_long().unwrap_or(id);
                    let message = if name == "serve" {
                        format!("--{flag} goes after `serve`: `parlor serve --{flag} …`")
                    } else {
                        format!(
                            "--{flag} is a flag of `serve`, not of `{name}`: write \
                             `parlor serve --{flag} …` or leave out the subcommand"
                        )
                    };
                    return Err(command.error(ErrorKind::ArgumentConflict, message));
                }
            }
        }
        Self::from_arg_matches(&matches).map_err(|error| error.format(&mut command))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
// Parsed once at start-up: the size of the `serve` flags costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Serve the site, the API and the WebSockets (the default).
    Serve(ServeArgs),
    /// Create or update the database schema, then exit.
    Migrate,
    /// Store a message in a room and publish it through Redis to every running server.
    Broadcast(BroadcastArgs),
}

/// Flags of `parlor broadcast`.
#[derive(Debug, Clone, Args)]
pub struct BroadcastArgs {
    /// The room's slug.
    #[arg(long)]
    pub room: String,
    /// The message text.
    #[arg(long)]
    pub text: String,
    /// The author name shown with the message.
    #[arg(long = "as", default_value = "Parlor")]
    pub author: String,
    /// The Redis the running servers use (required: a server's in-memory layer cannot be
    /// reached from another process).
    #[arg(long, env = "PARLOR_REDIS_URL")]
    pub redis: Option<String>,
    /// Prefix of Parlor's Redis topics (must match the servers').
    #[arg(long, env = "PARLOR_REDIS_PREFIX", default_value = "parlor")]
    pub redis_prefix: String,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Where users, rooms, messages and sessions are kept: an SQLite file path (created if
    /// missing) or `sqlite://path` for one machine, a `postgres://user:pass@host/db` URL for
    /// many. Any other URL is refused rather than taken for a file name.
    #[arg(
        long,
        env = "PARLOR_DATABASE",
        default_value = "data/parlor.db",
        global = true,
        value_parser = parse_database
    )]
    pub database: Database,
    /// Log filter in tracing's syntax, e.g. `info` or `parlor=debug,info`.
    #[arg(long, env = "PARLOR_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// Flags of `parlor serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: LEPTOS_SITE_ADDR, else 127.0.0.1:3000].
    #[arg(long, env = "PARLOR_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Extra origins allowed to open WebSockets and make state-changing requests, besides
    /// the server's own (repeatable; comma-separated in the variable), e.g.
    /// `https://chat.example.com`.
    #[arg(
        long = "allowed-origin",
        env = "PARLOR_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Deliveries a connection may fall behind before it is disconnected (it then
    /// reconnects and catches up from the database).
    #[arg(long, env = "PARLOR_MAILBOX_CAPACITY", default_value_t = 512)]
    pub mailbox_capacity: usize,
    /// Most simultaneous connections (TCP, and among them WebSockets, SSE streams and waiting
    /// long polls); more are refused with 503. Lowered to what the open-file limit allows.
    #[arg(long, env = "PARLOR_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,
    /// Most simultaneous TCP connections from one client address (an IPv6 /64 counts as one;
    /// 0: no cap). Off behind `--trust-proxy`, where every connection comes from the proxy.
    #[arg(long, env = "PARLOR_MAX_CONNECTIONS_PER_IP", default_value_t = 128)]
    pub max_connections_per_ip: u32,
    /// Most WebSockets, SSE streams and waiting long polls open at once for one client
    /// address (0: no cap); more get 429 with `Retry-After`.
    #[arg(long, env = "PARLOR_MAX_STREAMS_PER_IP", default_value_t = 64)]
    pub max_streams_per_ip: u32,
    /// Seconds a client has to send its request headers, and that a kept-alive connection may
    /// stay idle between requests.
    #[arg(long, env = "PARLOR_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a client has to send a request body.
    #[arg(long, env = "PARLOR_BODY_TIMEOUT", default_value_t = 30)]
    pub body_timeout: u64,
    /// Seconds a write to a client may wait without progress (the client reads nothing)
    /// before its connection is dropped: SSE streams, long polls, WebSockets alike.
    #[arg(long, env = "PARLOR_STALL_TIMEOUT", default_value_t = 60)]
    pub stall_timeout: u64,
    /// Redis for the channel layer, so several `parlor serve` processes serve the same rooms:
    /// `redis://127.0.0.1:6379` for one server, `redis+cluster://h1:p1,h2:p2,h3:p3` for a
    /// Redis Cluster (sharded pub/sub). Without it the layer is in-memory (one process).
    #[arg(long, env = "PARLOR_REDIS_URL")]
    pub redis: Option<String>,
    /// Prefix of Parlor's Redis topics, so several deployments can share one Redis.
    #[arg(long, env = "PARLOR_REDIS_PREFIX", default_value = "parlor")]
    pub redis_prefix: String,
    /// Bearer token for the admin API (`POST /api/admin/rooms/{slug}/broadcast`); without
    /// it the admin API is off. Prefer the environment variable: flags show in `ps`.
    #[arg(long, env = "PARLOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer token for `/metrics` and the detailed `/healthz` on the public listener;
    /// without it they are not served there (the public `/healthz` says only ok or degraded).
    #[arg(long, env = "PARLOR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A private address for `/metrics`, `/healthz` and `/livez` without a token, e.g.
    /// `127.0.0.1:9100` (keep it off the internet).
    #[arg(long, env = "PARLOR_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Let visitors post under a display name without an account (demos, load tests).
    #[arg(long, env = "PARLOR_ALLOW_GUESTS")]
    pub allow_guests: bool,
    /// The address users type, e.g. `https://chat.example.com`: an https URL makes the
    /// session cookie `Secure`, and the origin is allowed for WebSockets and posts.
    #[arg(long, env = "PARLOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Days a session lasts without use (use extends it, at most once a minute).
    #[arg(long, env = "PARLOR_SESSION_DAYS", default_value_t = 14)]
    pub session_days: u32,
    /// Days after which a session ends however active it is (log in again).
    #[arg(long, env = "PARLOR_SESSION_MAX_DAYS", default_value_t = 30)]
    pub session_max_days: u32,
    /// New identities (accounts and guests) per hour per client IP (0: no limit).
    #[arg(long, env = "PARLOR_SIGNUPS_PER_IP_PER_HOUR", default_value_t = LimitSettings::default().signups_per_ip_per_hour)]
    pub signups_per_ip_per_hour: u32,
    /// Rooms one user may create, `PER_HOUR/TOTAL` (0 turns either off).
    #[arg(long, env = "PARLOR_ROOM_QUOTA", default_value_t = RoomQuota::default())]
    pub room_quota: RoomQuota,
    /// Password hashes (Argon2id, 19 MiB each) computed at once (0: one per core).
    #[arg(long, env = "PARLOR_ARGON2_CONCURRENCY", default_value_t = 0)]
    pub argon2_concurrency: usize,
    /// Log-ins and sign-ups that may wait for a hash; beyond them, 503 with `Retry-After`.
    #[arg(long, env = "PARLOR_ARGON2_QUEUE", default_value_t = 16)]
    pub argon2_queue: usize,
    /// Log-in, sign-up and guest attempts allowed per minute per client IP (0: no limit).
    /// 30 lets a class or an office behind one NAT address arrive together; guessing one
    /// account's password is stopped by the per-account limit, not by this one.
    #[arg(long, env = "PARLOR_AUTH_PER_MINUTE", default_value_t = LimitSettings::default().auth_per_minute)]
    pub auth_per_minute: u32,
    /// Log-in attempts allowed per minute per account (0: no limit).
    #[arg(long, env = "PARLOR_LOGIN_PER_ACCOUNT_PER_MINUTE", default_value_t = LimitSettings::default().login_per_account_per_minute)]
    pub login_per_account_per_minute: u32,
    /// Messages per second a user may send on one connection (0: no limit): well above
    /// typing speed, well below a flood.
    #[arg(long, env = "PARLOR_MESSAGE_RATE", default_value_t = LimitSettings::default().message_rate)]
    pub message_rate: u32,
    /// Messages a user may send at once before `--message-rate` applies.
    #[arg(long, env = "PARLOR_MESSAGE_BURST", default_value_t = LimitSettings::default().message_burst)]
    pub message_burst: u32,
    /// Take the client IP (for rate limits) from the last `X-Forwarded-For` entry: only
    /// behind a reverse proxy that sets it.
    #[arg(long, env = "PARLOR_TRUST_PROXY")]
    pub trust_proxy: bool,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) may take: connections are told to go away, then
    /// queued messages are stored and published; whatever is still open after this is cut
    /// off.
    #[arg(long, env = "PARLOR_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,
    /// Microseconds the message writer holds a commit open for more messages when they
    /// arrive faster than one per window (0: commit each batch at once). Senders are
    /// answered after the commit either way.
    #[arg(long, env = "PARLOR_COMMIT_WINDOW_US", default_value_t = 1000)]
    pub commit_window_us: u64,
}

impl Default for ServeArgs {
    fn default() -> Self {
        let limits = LimitSettings::default();
        Self {
            addr: None,
            allowed_origins: Vec::new(),
            mailbox_capacity: 512,
            max_connections: 100_000,
            max_connections_per_ip: 128,
            max_streams_per_ip: 64,
            header_timeout: 10,
            body_timeout: 30,
            stall_timeout: 60,
            redis: None,
            redis_prefix: "parlor".to_owned(),
            admin_token: None,
            metrics_token: None,
            metrics_addr: None,
            allow_guests: false,
            public_url: None,
            session_days: 14,
            session_max_days: 30,
            signups_per_ip_per_hour: limits.signups_per_ip_per_hour,
            room_quota: limits.room_quota,
            argon2_concurrency: 0,
            argon2_queue: 16,
            auth_per_minute: limits.auth_per_minute,
            login_per_account_per_minute: limits.login_per_account_per_minute,
            message_rate: limits.message_rate,
            message_burst: limits.message_burst,
            trust_proxy: false,
            shutdown_timeout: 10,
            commit_window_us: 1000,
        }
    }
}

/// `--database`: see [`Database::parse`].
fn parse_database(value: &str) -> Result<Database, String> {
    Database::parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn database_urls_choose_the_backend_and_unknown_ones_are_refused() {
        let parse = |value: &str| {
            Cli::try_load_from(["parlor", "migrate", "--database", value])
                .map(|c| c.global.database)
        };
        let file = |path: &str| Database::Sqlite(PathBuf::from(path));
        assert_eq!(parse("x.db").expect("path"), file("x.db"));
        assert_eq!(parse("./data/a:b.db").expect("path"), file("./data/a:b.db"));
        assert_eq!(parse("sqlite://data/p.db").expect("url"), file("data/p.db"));
        assert_eq!(parse("sqlite:///tmp/p.db").expect("url"), file("/tmp/p.db"));
        assert_eq!(parse("sqlite:p.db").expect("url"), file("p.db"));
        assert_eq!(
            parse("postgres://parlor@127.0.0.1:5432/parlor").expect("postgres"),
            Database::Postgres("postgres://parlor@127.0.0.1:5432/parlor".to_owned())
        );
        assert!(matches!(
            parse("postgresql://h/db"),
            Ok(Database::Postgres(_))
        ));
        for refused in [
            "mysql://h/db",
            "sqlite://",
            "sqlite://p.db?mode=ro",
            "postgres://h:notaport/db",
            "",
        ] {
            let error = parse(refused).expect_err(refused);
            assert_eq!(
                error.kind(),
                ErrorKind::ValueValidation,
                "{refused}: {error}"
            );
        }
        let error = parse("mysql://h/db").expect_err("mysql");
        assert!(error.to_string().contains("postgres://"), "{error}");
    }

    #[test]
    fn serve_is_the_default_and_flags_work_without_a_subcommand() {
        let cli = Cli::try_load_from(["parlor", "--addr", "127.0.0.1:4000", "--database", "x.db"])
            .expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(
            cli.serve.addr,
            Some("127.0.0.1:4000".parse().expect("addr"))
        );
        assert_eq!(cli.global.database, Database::Sqlite(PathBuf::from("x.db")));
    }

    #[test]
    fn subcommands_take_their_flags() {
        let cli = Cli::try_load_from([
            "parlor",
            "serve",
            "--allowed-origin",
            "https://a.example",
            "--allowed-origin",
            "https://b.example",
        ])
        .expect("parses");
        match cli.command {
            Some(Command::Serve(args)) => assert_eq!(args.allowed_origins.len(), 2),
            other => panic!("expected serve, got {other:?}"),
        }
        let cli = Cli::try_load_from(["parlor", "migrate", "--database", "y.db"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Migrate)));
        assert_eq!(cli.global.database, Database::Sqlite(PathBuf::from("y.db")));
    }

    #[test]
    fn shared_flags_may_come_before_the_subcommand_and_serving_flags_may_not() {
        let cli = Cli::try_load_from(["parlor", "--database", "z.db", "migrate"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Migrate)));
        assert_eq!(cli.global.database, Database::Sqlite(PathBuf::from("z.db")));
        let error = Cli::try_load_from(["parlor", "--addr", "127.0.0.1:4000", "migrate"])
            .expect_err("--addr does nothing for migrate");
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        assert!(error.to_string().contains("--addr"), "{error}");
    }
}
