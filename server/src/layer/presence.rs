//! The presence registry: who is in which room, across processes. The core
//! (`chat::presence`) counts a process's own connections and tells the registry only when a
//! user arrives in a room on this process or leaves it; the registry answers whether that
//! made the user join or leave the room as a whole (a user with tabs on two processes is one
//! member), and lists the members for a new connection.
//!
//! In memory the registry is this process's list. On Redis each process's entries carry an
//! expiry that the process renews; a process that dies stops renewing, and the next renewal
//! of any other process sweeps its entries and reports those users as gone.

use super::LayerError;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// A user present in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceEntry {
    /// The user id.
    pub user_id: i64,
    /// The display name.
    pub name: String,
}

/// What a renewal found.
#[derive(Debug, Default)]
pub struct Renewed {
    /// Users of this process the registry had lost (Redis restarted): present again.
    pub rejoined: Vec<(String, PresenceEntry)>,
    /// Users of processes that stopped renewing, now gone from their rooms.
    pub left: Vec<(String, PresenceEntry)>,
}

/// Where presence is kept. Implemented in memory (one process) and on Redis (many).
#[async_trait]
pub trait PresenceRegistry: Send + Sync + 'static {
    /// This process now has `who` in `room`. True if no process had them there before.
    async fn arrive(&self, room: &str, who: &PresenceEntry) -> Result<bool, LayerError>;

    /// This process no longer has `user_id` in `room`. True if no process has them now.
    async fn depart(&self, room: &str, user_id: i64) -> Result<bool, LayerError>;

    /// How many members `room` has, and up to `limit` of them.
    async fn members(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<(usize, Vec<PresenceEntry>), LayerError>;

    /// Keeps this process's entries (`here`) alive, and removes those of processes that
    /// stopped renewing theirs.
    async fn renew(&self, here: &[(String, PresenceEntry)]) -> Result<Renewed, LayerError>;
}

/// One process's presence: the registry of the in-memory layer.
#[derive(Default)]
pub struct MemoryPresence {
    rooms: Mutex<HashMap<String, BTreeMap<i64, String>>>,
}

impl MemoryPresence {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<i64, String>>> {
        self.rooms
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[async_trait]
impl PresenceRegistry for MemoryPresence {
    async fn arrive(&self, room: &str, who: &PresenceEntry) -> Result<bool, LayerError> {
        Ok(self
            .rooms()
            .entry(room.to_owned())
            .or_default()
            .insert(who.user_id, who.name.clone())
            .is_none())
    }

    async fn depart(&self, room: &str, user_id: i64) -> Result<bool, LayerError> {
        let mut rooms = self.rooms();
        let Some(members) = rooms.get_mut(room) else {
            return Ok(false);
        };
        let gone = members.remove(&user_id).is_some();
        if members.is_empty() {
            rooms.remove(room);
        }
        Ok(gone)
    }

    async fn members(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<(usize, Vec<PresenceEntry>), LayerError> {
        let rooms = self.rooms();
        Ok(rooms.get(room).map_or((0, Vec::new()), |members| {
            let listed = members
                .iter()
                .take(limit)
                .map(|(id, name)| PresenceEntry {
                    user_id: *id,
                    name: name.clone(),
                })
                .collect();
            (members.len(), listed)
        }))
    }

    async fn renew(&self, _here: &[(String, PresenceEntry)]) -> Result<Renewed, LayerError> {
        Ok(Renewed::default())
    }
}
