//! The channel layer: Django Channels' routing model in Rust.
//!
//! - A **channel** is one consumer's bounded mailbox, named `{process}.{n}` so that
//!   [`ChannelLayer::send`] can address it from any process.
//! - A **group** (`room:{slug}`, `user:{id}`, …) is a named set of channels;
//!   [`ChannelLayer::group_send`] delivers one [`Delivery`] to every member, in this process
//!   and (with Redis) in every other. The frame is encoded once; members get a cheap clone of
//!   the same bytes.
//! - A [`Channel`] handle leaves its groups and closes its mailbox when dropped, so a
//!   consumer cannot leak memberships (no `group_expiry` needed).
//! - A full mailbox means a slow consumer: the layer drops that channel (its receiver sees
//!   the end of the stream) instead of growing memory or slowing the group. The consumer
//!   disconnects its client, which reconnects and catches up from the store.
//!
//! The layer carries bytes only ([`Frame`]) and never touches the store; it knows nothing of
//! HTTP or WebSockets (a [`CloseReason`] says why a connection should end, and each transport
//! says it in its own terms). [`memory::MemoryLayer`] serves one process;
//! [`redis::RedisLayer`] connects many through Redis pub/sub.

mod frame;
pub mod memory;
pub mod presence;
pub mod redis;

pub use frame::Frame;

use async_trait::async_trait;
use std::sync::Arc;

/// A channel's receiving end. flume's bounded queue allocates as it fills and holds nothing
/// while empty; tokio's mpsc allocated a block of 32 deliveries (1.8 KB) per channel up
/// front, the largest part of an idle socket after its read buffer.
pub type Mailbox = flume::Receiver<Delivery>;
/// A channel's sending end (the layer keeps one per channel and per group membership).
pub type MailboxSender = flume::Sender<Delivery>;

/// A new mailbox for at most `capacity` deliveries.
pub fn mailbox(capacity: usize) -> (MailboxSender, Mailbox) {
    flume::bounded(capacity)
}

/// Why [`Channel::try_recv`] returned nothing.
pub type TryRecvError = flume::TryRecvError;

/// A channel's name, unique across processes.
pub type ChannelName = Arc<str>;

/// What travels through the layer to a consumer.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// A stored chat message: its encoded `message` frame, plus its id and its seq in the
    /// room, so a consumer can drop duplicates and notice gaps without decoding the frame.
    Message {
        /// The message id.
        id: i64,
        /// The message's position in its room.
        seq: i64,
        /// The encoded `{"type":"message",…}` frame.
        frame: Frame,
    },
    /// Any other frame, forwarded as is.
    Frame(Frame),
    /// Forward the frame, then end the connection for `reason` (room deleted, …).
    Close {
        /// The last frame to send.
        frame: Frame,
        /// Why the connection ends.
        reason: CloseReason,
    },
    /// A session of the group's user ended (log-out, revocation): its connections close.
    /// `session` is the session's handle, or 0 for every session of the user.
    SessionEnded {
        /// Which session (0: all of them).
        session: u64,
    },
    /// The layer may have lost deliveries (Redis reconnected): re-read from the store.
    Resync,
    /// This process is shutting down: close the connection (1001), the client reconnects
    /// elsewhere. Only ever sent to local channels.
    GoAway,
    /// Time to check that the client is still there (a WebSocket pings). Sent to every
    /// local channel by one process-wide timer, so no connection keeps a timer of its own.
    Heartbeat,
}

/// Why a connection is being ended by the server (each transport maps it: a WebSocket close
/// code, the end of an SSE stream, a poll's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The room was deleted: the client should not come back.
    RoomDeleted,
    /// The client sent a message over the size limit.
    TooLarge,
    /// The client kept sending after being told to slow down.
    TooFast,
    /// The client sent a text frame that is not UTF-8.
    InvalidText,
    /// The client broke the WebSocket protocol (bad framing, an unmasked frame, …).
    ProtocolError,
    /// The session was logged out or revoked: the connection's identity is gone.
    SessionEnded,
}

impl CloseReason {
    /// A byte for the Redis envelope.
    pub fn to_byte(self) -> u8 {
        match self {
            CloseReason::RoomDeleted => 1,
            CloseReason::TooLarge => 2,
            CloseReason::TooFast => 3,
            CloseReason::InvalidText => 4,
            CloseReason::ProtocolError => 5,
            CloseReason::SessionEnded => 6,
        }
    }

    /// The reason a byte from the Redis envelope stands for.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(CloseReason::RoomDeleted),
            2 => Some(CloseReason::TooLarge),
            3 => Some(CloseReason::TooFast),
            4 => Some(CloseReason::InvalidText),
            5 => Some(CloseReason::ProtocolError),
            6 => Some(CloseReason::SessionEnded),
            _ => None,
        }
    }
}

/// Why a layer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// `send` to a channel this layer cannot reach (gone, or in another process without a
    /// cross-process layer).
    #[error("no such channel: {0}")]
    NoSuchChannel(String),
    /// The cross-process transport (Redis) is unavailable; local members were still served.
    #[error("channel layer unavailable: {0}")]
    Unavailable(String),
}

/// Whether the layer can reach every process it should.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerHealth {
    /// Fully working.
    Ok,
    /// Serving this process only (Redis down); deliveries to other processes are missed and
    /// will be recovered from the store after reconnecting.
    Degraded,
}

/// A router between channels and groups. Implemented in memory (one process) and over Redis
/// pub/sub (many processes); both pass the same contract tests.
#[async_trait]
pub trait ChannelLayer: Send + Sync + 'static {
    /// Registers a new mailbox and returns its name and receiving end.
    fn new_channel(&self) -> (ChannelName, Mailbox);

    /// Removes a mailbox and all its memberships (idempotent).
    fn remove_channel(&self, channel: &ChannelName);

    /// Adds a channel to a group. Returns once deliveries to the group will reach it, even
    /// from other processes.
    async fn group_add(&self, group: &str, channel: &ChannelName) -> Result<(), LayerError>;

    /// Removes a channel from a group (idempotent).
    fn group_discard(&self, group: &str, channel: &ChannelName);

    /// Delivers to one channel, wherever it lives.
    async fn send(&self, channel: &str, delivery: Delivery) -> Result<(), LayerError>;

    /// Delivers to every member of a group, in every process.
    async fn group_send(&self, group: &str, delivery: Delivery) -> Result<(), LayerError>;

    /// Delivers several deliveries to every member of a group, in order: what one commit
    /// stored for one room. One Redis PUBLISH for all of them, one pass over the members.
    async fn group_send_many(
        &self,
        group: &str,
        deliveries: Vec<Delivery>,
    ) -> Result<(), LayerError> {
        for delivery in deliveries {
            self.group_send(group, delivery).await?;
        }
        Ok(())
    }

    /// This process is shutting down: every local channel gets [`Delivery::GoAway`], and so
    /// does every channel opened from now on (a handshake that was under way).
    fn shut_down(&self);

    /// Delivers [`Delivery::Heartbeat`] to every local channel.
    fn heartbeat(&self);

    /// Current health, for `/healthz`.
    fn health(&self) -> LayerHealth;

    /// A short name for logs and `/healthz` (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Where this layer keeps presence: this process's memory, or Redis shared by every
    /// process the layer connects.
    fn presence(&self) -> Arc<dyn presence::PresenceRegistry>;

    /// The state of each part the layer depends on (Redis: its publisher and subscriber),
    /// for `/healthz`.
    fn parts(&self) -> Vec<(&'static str, bool)> {
        Vec::new()
    }

    /// Waits until everything sent so far has left this process (a short-lived publisher
    /// such as `parlor broadcast` calls it before exiting).
    async fn flush(&self) -> Result<(), LayerError> {
        Ok(())
    }

    /// Flushes what is queued, then stops the layer's background tasks and waits for them
    /// (the last step of a shutdown; the layer delivers nothing afterwards).
    async fn close(&self) {}
}

/// A consumer's mailbox and memberships. Dropping it leaves every group it joined.
pub struct Channel {
    /// This channel's name, for `send`.
    name: ChannelName,
    /// Incoming deliveries.
    mailbox: Mailbox,
    /// The layer, to leave groups on drop.
    layer: Arc<dyn ChannelLayer>,
    /// Groups joined, to leave on drop.
    groups: Vec<String>,
}

impl Channel {
    /// Opens a new channel on `layer`.
    pub fn open(layer: Arc<dyn ChannelLayer>) -> Self {
        let (name, mailbox) = layer.new_channel();
        Self {
            name,
            mailbox,
            layer,
            groups: Vec::new(),
        }
    }

    /// The channel's name, for [`ChannelLayer::send`].
    pub fn name(&self) -> &ChannelName {
        &self.name
    }

    /// Joins a group until this channel is dropped.
    pub async fn join(&mut self, group: &str) -> Result<(), LayerError> {
        self.layer.group_add(group, &self.name).await?;
        self.groups.push(group.to_owned());
        Ok(())
    }

    /// The next delivery; `None` once the layer dropped this channel (it overflowed).
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.mailbox.recv_async().await.ok()
    }

    /// A delivery if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Result<Delivery, TryRecvError> {
        self.mailbox.try_recv()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        for group in &self.groups {
            self.layer.group_discard(group, &self.name);
        }
        self.layer.remove_channel(&self.name);
    }
}

/// A random process id: the prefix of this process's channel names, so that names are unique
/// across processes and restarts.
pub fn new_process_id() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness is extraordinary; time and pid still separate processes.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mixed = nanos ^ (u128::from(std::process::id()) << 40);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod contract;
