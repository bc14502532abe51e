//! A chat room in the browser: its reactive state, its view and (in WASM) its connection.

#[cfg(feature = "hydrate")]
pub mod client;
mod days;
#[cfg(feature = "hydrate")]
mod live;
mod lobby;
mod mentions;
mod message;
mod notify;
mod present;
mod reactions;
mod sidebar;
mod state;
mod view;

pub use lobby::Lobby;
pub use sidebar::{private_mark, Sidebar};
pub use state::{ConnState, PendingSend, RoomState, Transport, TransportStats};
pub use view::{ChatRoom, ConnectionBadge};
