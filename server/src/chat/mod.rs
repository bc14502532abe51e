//! The chat service: the one path every message takes, whoever sends it (WebSocket, HTTP,
//! server function, admin API, CLI): validate → store (SQLite) → publish (channel layer).
//!
//! Storing goes through a single writer task that commits messages in batches (group
//! commit): one transaction and one fsync for everything that arrived while the previous
//! batch was being written, then the batch is published in id order. Each sender still waits
//! for its own row to be committed before it is acknowledged, so "acknowledged" means "on
//! disk". Reading (history, catch-up, gap repair) also goes through here: transports never
//! touch the store, and the layer never does.

mod feed;
mod watch;
mod writer;

pub use feed::{FeedEvent, RoomFeed};
pub use watch::{RoomWatch, WatchEvent};

use crate::{
    auth::Identity,
    layer::{room_group, ChannelLayer, Delivery, Frame, LayerError},
    store::{
        format_millis, Inserted, MessageRecord, NewMessage, RoomRecord, RoomWithStats, Store,
        StoreError,
    },
};
use app::{
    domain::{ClientId, Invalid, MessageText, RoomSlug, RoomTitle},
    protocol::{codes, ChatMessage, RoomSummary, ServerFrame},
};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most messages one history or catch-up read returns.
pub const MAX_PAGE: u32 = 500;

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
}

impl Room {
    /// The channel-layer group of the room's members.
    pub fn group(&self) -> String {
        room_group(self.slug.as_str())
    }
}

/// The result of a send.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The stored message.
    pub message: ChatMessage,
    /// True when this was a retry of an already stored `client_id`: nothing new was stored
    /// or published, and only the sender should be told.
    pub duplicate: bool,
}

/// A submitted message on its way to the store: await it for the outcome.
pub struct Pending {
    answer: oneshot::Receiver<Result<Inserted, ChatError>>,
    room_id: i64,
    room_slug: RoomSlug,
}

impl std::future::IntoFuture for Pending {
    type Output = Result<Sent, ChatError>;
    type IntoFuture = futures::future::BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let inserted = self.answer.await.map_err(|_| ChatError::WriterGone)??;
            let duplicate = matches!(inserted, Inserted::Duplicate(_));
            if duplicate && inserted.record().room_id != self.room_id {
                return Err(ChatError::Invalid(Invalid {
                    field: "client_id",
                    message: "This client_id was already used for a message in another room."
                        .to_owned(),
                }));
            }
            Ok(Sent {
                message: to_wire(inserted.record(), self.room_slug.as_str()),
                duplicate,
            })
        })
    }
}

/// Why the chat service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Input failed validation.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// No room with that slug.
    #[error("There is no room named '{0}'.")]
    RoomNotFound(String),
    /// The slug is taken.
    #[error("A room named '{0}' already exists.")]
    RoomExists(String),
    /// The action needs an identity.
    #[error("Pick a display name before you post.")]
    LoginRequired,
    /// The identity may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The channel layer failed.
    #[error("channel layer failed: {0}")]
    Layer(#[from] LayerError),
    /// The writer task is gone (the server is shutting down).
    #[error("the message writer has stopped")]
    WriterGone,
}

impl ChatError {
    /// The protocol error code.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::Invalid(_) => codes::INVALID,
            ChatError::RoomNotFound(_) => codes::NOT_FOUND,
            ChatError::RoomExists(_) => codes::CONFLICT,
            ChatError::LoginRequired => codes::LOGIN_REQUIRED,
            ChatError::Forbidden(_) => codes::FORBIDDEN,
            ChatError::Store(_) | ChatError::Layer(_) | ChatError::WriterGone => codes::INTERNAL,
        }
    }

    /// What the client may be told: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ChatError::Store(_) | ChatError::Layer(_) | ChatError::WriterGone => {
                "The server could not complete this; please retry.".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Whether this is the server's fault (logged as an error).
    pub fn is_internal(&self) -> bool {
        self.code() == codes::INTERNAL
    }
}

/// The chat service. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where messages and rooms live.
    store: Store,
    /// Where messages are published.
    layer: Arc<dyn ChannelLayer>,
    /// The group-commit writer's queue.
    writer: mpsc::Sender<writer::WriteJob>,
}

impl ChatService {
    /// Starts the service and its writer task (which ends when the last clone is dropped).
    pub fn start(store: Store, layer: Arc<dyn ChannelLayer>) -> Self {
        let writer = writer::spawn(store.clone(), layer.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                layer,
                writer,
            }),
        }
    }

    /// The channel layer (for consumers opening channels and for health checks).
    pub fn layer(&self) -> &Arc<dyn ChannelLayer> {
        &self.inner.layer
    }

    /// Validates, stores, then publishes a message to the room's group. Returns once the row
    /// is committed. A repeated `(author, client_id)` returns the first message, marked as a
    /// duplicate, and publishes nothing.
    pub async fn send(
        &self,
        author: &Identity,
        room: &Room,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<Sent, ChatError> {
        self.submit(author, room, text, client_id).await?.await
    }

    /// Validates a message and queues it for storing, returning as soon as it is queued: a
    /// connection can read its client's next message while this one is committed (messages
    /// from one submitter are stored in the order they were submitted). Await the returned
    /// [`Pending`] for the outcome.
    pub async fn submit(
        &self,
        author: &Identity,
        room: &Room,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<Pending, ChatError> {
        let text = MessageText::parse(text)?;
        let client_id = client_id.map(ClientId::parse).transpose()?;
        let (reply, answer) = oneshot::channel();
        let job = writer::WriteJob {
            draft: NewMessage {
                room_id: room.id,
                author_id: author.user_id,
                author_name: author.name.clone(),
                text: text.into(),
                client_id: client_id.map(String::from),
                sent_at: crate::store::now_millis(),
            },
            room_slug: room.slug.clone(),
            reply,
        };
        self.inner
            .writer
            .send(job)
            .await
            .map_err(|_| ChatError::WriterGone)?;
        Ok(Pending {
            answer,
            room_id: room.id,
            room_slug: room.slug.clone(),
        })
    }

    /// Resolves a slug to a room; an invalid slug is simply not found.
    pub async fn room(&self, slug: &str) -> Result<Room, ChatError> {
        let not_found = || ChatError::RoomNotFound(slug.to_owned());
        let slug = RoomSlug::parse(slug).map_err(|_| not_found())?;
        let record = self
            .inner
            .store
            .room_by_slug(slug.as_str())
            .await?
            .ok_or_else(not_found)?;
        Ok(room_from(record, slug))
    }

    /// Creates a room owned by `owner`.
    pub async fn create_room(
        &self,
        owner: &Identity,
        slug: &str,
        title: &str,
    ) -> Result<Room, ChatError> {
        let slug = RoomSlug::parse(slug)?;
        let title = RoomTitle::parse(title)?;
        let record = self
            .inner
            .store
            .create_room(slug.as_str(), title.as_str(), Some(owner.user_id))
            .await
            .map_err(|e| match e {
                StoreError::Duplicate => ChatError::RoomExists(slug.to_string()),
                other => ChatError::Store(other),
            })?;
        Ok(room_from(record, slug))
    }

    /// Deletes a room (owner only): removes it and its messages, then tells every member in
    /// every process and closes their connections.
    pub async fn delete_room(&self, by: &Identity, slug: &str) -> Result<(), ChatError> {
        let room = self.room(slug).await?;
        if room.owner_id != Some(by.user_id) {
            return Err(ChatError::Forbidden("Only the room's owner can delete it."));
        }
        self.inner.store.delete_room(room.id).await?;
        let frame = encode(&ServerFrame::RoomDeleted {
            room: room.slug.to_string(),
        });
        self.inner
            .layer
            .group_send(
                &room.group(),
                Delivery::Close {
                    frame,
                    code: app::protocol::close_codes::ROOM_DELETED,
                },
            )
            .await?;
        Ok(())
    }

    /// Renames a room (owner only) and tells its members in every process.
    pub async fn rename_room(
        &self,
        by: &Identity,
        slug: &str,
        title: &str,
    ) -> Result<Room, ChatError> {
        let mut room = self.room(slug).await?;
        if room.owner_id != Some(by.user_id) {
            return Err(ChatError::Forbidden("Only the room's owner can rename it."));
        }
        let title = RoomTitle::parse(title)?;
        if !self
            .inner
            .store
            .rename_room(room.id, title.as_str())
            .await?
        {
            return Err(ChatError::RoomNotFound(room.slug.to_string()));
        }
        room.title = title.into();
        let frame = encode(&ServerFrame::RoomRenamed {
            room: room.slug.to_string(),
            title: room.title.clone(),
        });
        self.inner
            .layer
            .group_send(&room.group(), Delivery::Frame(frame))
            .await?;
        Ok(room)
    }

    /// Every room with its figures, most recently active first.
    pub async fn list_rooms(&self) -> Result<Vec<RoomSummary>, ChatError> {
        let rooms = self.inner.store.list_rooms().await?;
        Ok(rooms.into_iter().map(summary_from).collect())
    }

    /// One room's figures.
    pub async fn summary(&self, room: &Room) -> Result<RoomSummary, ChatError> {
        self.inner
            .store
            .room_stats(room.id)
            .await?
            .map(summary_from)
            .ok_or_else(|| ChatError::RoomNotFound(room.slug.to_string()))
    }

    /// The newest `limit` messages before `before` (or the newest overall), oldest first.
    pub async fn history(
        &self,
        room: &Room,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let rows = self
            .inner
            .store
            .messages_before(room.id, before, limit.clamp(1, MAX_PAGE))
            .await?;
        Ok(rows
            .iter()
            .map(|r| to_wire(r, room.slug.as_str()))
            .collect())
    }

    /// Up to `limit` messages after `after`, oldest first.
    pub async fn after(
        &self,
        room: &Room,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let rows = self
            .inner
            .store
            .messages_after(room.id, after, limit.clamp(1, MAX_PAGE))
            .await?;
        Ok(rows
            .iter()
            .map(|r| to_wire(r, room.slug.as_str()))
            .collect())
    }

    /// Joins the room's group and returns a feed that yields, in order and once each: the
    /// messages after `after` (if given) and then every new one.
    pub async fn follow(&self, room: &Room, after: Option<i64>) -> Result<RoomFeed, ChatError> {
        RoomFeed::open(self.clone(), room.clone(), after).await
    }

    /// Joins the room's group only to be woken when something is published to it (a long
    /// poll, which reads the messages themselves from the store).
    pub async fn watch(&self, room: &Room) -> Result<RoomWatch, ChatError> {
        RoomWatch::open(self.layer().clone(), room).await
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }
}

fn room_from(record: RoomRecord, slug: RoomSlug) -> Room {
    Room {
        id: record.id,
        slug,
        title: record.title,
        owner_id: record.owner_id,
    }
}

fn summary_from(room: RoomWithStats) -> RoomSummary {
    RoomSummary {
        slug: room.slug,
        title: room.title,
        message_count: room.message_count,
        last_message_at: room.last_message_at.map(format_millis),
        owner_id: room.owner_id,
    }
}

/// A stored row as the protocol's message.
pub fn to_wire(record: &MessageRecord, room_slug: &str) -> ChatMessage {
    ChatMessage {
        id: record.id,
        room: room_slug.to_owned(),
        author: record.author_name.clone(),
        text: record.text.clone(),
        client_id: record.client_id.clone(),
        sent_at: format_millis(record.sent_at),
    }
}

/// Encodes a server frame once, into shareable bytes.
pub fn encode(frame: &ServerFrame) -> Frame {
    // Serialising these plain structs cannot fail; an empty frame would be dropped by
    // clients as unknown, which is the safest fallback if it ever did.
    Frame::from(serde_json::to_string(frame).unwrap_or_default())
}

#[cfg(test)]
mod tests;
