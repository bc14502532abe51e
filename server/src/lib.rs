//! Parlor's server: a real-time chat service on axum, Leptos SSR, SQLite and a channel layer.
//!
//! A map of the crate, from the outside in (arrows point inward only: the edge uses the
//! core, the core uses the ports, the adapters implement them):
//!
//! - **Edge** — everything that knows HTTP:
//!   - [`http`] admits requests (body limits, origin checks, connection slots, the session
//!     cookie resolved into an identity), maps errors to statuses, and mounts the rest;
//!   - [`api`]: the REST resources; [`transport`]: WebSocket, SSE, long and short polling.
//! - **Core** — what Parlor does, in its own terms:
//!   - [`chat`]: the chat service (validate → store → publish) and the ordered, gap-free
//!     [`chat::RoomFeed`] every consumer reads;
//!   - [`auth`]: identities and the account service (sign-up, log-in, guests, log-out);
//!   - [`limits`]: the rate limits both apply; [`fault`]: how a core error describes itself
//!     to any edge.
//! - **Ports and adapters**:
//!   - [`store`]: all SQL (SQLite through sqlx; migrations in `server/migrations/`);
//!   - [`layer`]: the channel layer — channels, groups and fan-out, in memory (one process)
//!     or over Redis pub/sub (many processes).
//! - **Running it**: [`lifecycle`] builds everything, serves, and shuts down in order, owning
//!   every background task through [`tasks`]; [`telemetry`] names every metric; [`config`]
//!   is the command line; `main.rs` runs it.

pub mod api;
pub mod auth;
pub mod chat;
pub mod config;
pub mod fault;
pub mod http;
pub mod layer;
pub mod lifecycle;
pub mod limits;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod transport;

pub use lifecycle::{channel_layer, leptos_options, start, RunningServer, Settings, StartError};
