//! One module per route.

mod account;
mod home;
mod not_found;
mod room;
mod search;
mod transports;

pub use account::{LoginPage, SignupPage};
pub use home::HomePage;
pub use not_found::NotFound;
pub use room::RoomPage;
pub use search::{SearchBox, SearchPage};
pub use transports::TransportsPage;

use crate::protocol::{ChatMessage, RoomSummary};
use serde::{Deserialize, Serialize};

/// Everything the room page renders on the server: the room and its latest messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPageData {
    /// The room.
    pub room: RoomSummary,
    /// The latest messages, oldest first.
    pub messages: Vec<ChatMessage>,
}
