//! A room watch: what a waiting long poll holds. It does not carry messages (the poll reads
//! them from the store by id, which also orders them); it only says *when* there may be
//! something new to read. That spares the two store reads a [`super::RoomFeed`] makes to
//! open (the room's head, the room still existing): a long poll opens one per request, so
//! they were two of its five queries.

use super::{ChatError, Room};
use crate::layer::{Channel, ChannelLayer, Delivery};
use std::sync::Arc;

/// What a watch saw.
#[derive(Clone, Debug)]
pub enum WatchEvent {
    /// A message was published to the room, or the layer lost some (resync): read the
    /// store.
    Changed,
    /// The layer dropped this watch's mailbox (it fell behind a busy room): read the store
    /// once and answer, whatever the read finds — the watch hears nothing more.
    Overflowed,
    /// The room was deleted.
    Deleted,
    /// The server is shutting down.
    ShuttingDown,
    /// A frame that is not stored (presence, typing, a rename): a poll answers with it.
    Ephemeral(crate::layer::Frame),
}

/// A channel in a room's group, for waiting only.
pub struct RoomWatch {
    channel: Channel,
}

impl RoomWatch {
    /// Joins the room's group. Whatever is committed from now on wakes the watch, so a store
    /// read made after this call and the wake-ups together miss nothing. (A room deleted
    /// just before the join never wakes it; the poll then times out, and the next one gets
    /// a 404.)
    pub(super) async fn open(layer: Arc<dyn ChannelLayer>, room: &Room) -> Result<Self, ChatError> {
        let mut channel = Channel::open(layer);
        channel.join(&room.group()).await?;
        Ok(Self { channel })
    }

    /// Waits for the next event that concerns a poll. Cancel-safe (it only awaits the
    /// mailbox).
    pub async fn next(&mut self) -> WatchEvent {
        loop {
            match self.channel.recv().await {
                Some(Delivery::Message { .. } | Delivery::Resync) => return WatchEvent::Changed,
                None => return WatchEvent::Overflowed,
                Some(Delivery::Close { .. }) => return WatchEvent::Deleted,
                Some(Delivery::GoAway) => return WatchEvent::ShuttingDown,
                Some(Delivery::Frame(frame)) => return WatchEvent::Ephemeral(frame),
                Some(Delivery::SessionEnded { .. } | Delivery::Heartbeat) => {}
            }
        }
    }
}
