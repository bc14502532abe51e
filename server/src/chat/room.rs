//! A room as the chat service holds it once resolved from its slug.

use crate::store::RoomRecord;
use app::domain::RoomSlug;

/// A room, resolved from its slug once per request or connection.
#[derive(Clone, Debug)]
pub struct Room {
    /// Row id.
    pub id: i64,
    /// URL name.
    pub slug: RoomSlug,
    /// Human title.
    pub title: String,
    /// Who created it.
    pub owner_id: Option<i64>,
    /// Visible to its members only.
    pub private: bool,
}

impl Room {
    /// The room from its stored row and its (already parsed) slug.
    pub(super) fn from_record(record: RoomRecord, slug: RoomSlug) -> Self {
        Self {
            id: record.id,
            slug,
            title: record.title,
            owner_id: record.owner_id,
            private: record.private,
        }
    }

    /// The channel-layer group of the room's members.
    pub fn group(&self) -> String {
        room_group(self.slug.as_str())
    }
}

/// The group of a room's members (`room:{slug}`).
pub fn room_group(slug: &str) -> String {
    format!("room:{slug}")
}
