//! A chat room in the browser: its reactive state, its view and (in WASM) its connection.

#[cfg(feature = "hydrate")]
pub mod client;
mod state;
mod view;

pub use state::{ConnState, PendingSend, RoomState, Transport, TransportStats};
pub use view::{ChatRoom, ConnectionBadge};
