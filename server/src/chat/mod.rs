//! The chat service: the one path every message takes, whoever sends it (WebSocket, HTTP,
//! server function, admin API, CLI): validate → rate limit → store (SQLite) → publish
//! (channel layer).
//!
//! Storing goes through a single writer task that commits messages in batches (group
//! commit): one transaction and one fsync for everything that arrived while the previous
//! batch was being written, then the batch is published in id order. Each sender still waits
//! for its own row to be committed before it is acknowledged, so "acknowledged" means "on
//! disk". Reading (history, catch-up, gap repair) also goes through here: transports never
//! touch the store, and the layer never does.
//!
//! The service knows identities ([`Identity`]), its own errors ([`ChatError`]) and two ports,
//! the [`Store`] and the [`ChannelLayer`]; nothing here knows HTTP.

mod emoji;
mod error;
mod events;
mod feed;
pub mod lobby;
mod mentions;
pub mod presence;
mod private;
mod room;
mod search;
mod typing;
mod watch;
mod wire;
mod writer;

pub use error::ChatError;
pub use feed::{FeedEvent, Resume, RoomFeed};
pub use lobby::LobbyFeed;
pub use presence::{Presence, PresenceGuard};
pub use room::{room_group, Room};
pub use watch::{RoomWatch, WatchEvent};
pub use wire::{encode, event_frame, to_wire, to_wire_for};
pub use writer::CommitWindow;

use crate::{
    auth::Identity,
    layer::{ChannelLayer, CloseReason, Delivery},
    limits::Limits,
    store::{Inserted, NewMessage, RoomCursor, Store},
};
use app::{
    domain::{ClientId, DisplayName, Invalid, MessageText, RoomSlug, RoomTitle},
    protocol::{ChatMessage, RoomList, RoomSummary, ServerFrame},
};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most messages one history or catch-up read returns.
pub const MAX_PAGE: u32 = 500;
/// Most rooms one page of the room list holds.
pub const MAX_ROOM_PAGE: u32 = 200;

/// A room-list cursor: `{active_at}.{id}` of the last room of the previous page.
fn parse_cursor(text: &str) -> Result<RoomCursor, ChatError> {
    let (active_at, id) = text.split_once('.').ok_or(ChatError::BadCursor)?;
    Ok(RoomCursor {
        active_at: active_at.parse().map_err(|_| ChatError::BadCursor)?,
        id: id.parse().map_err(|_| ChatError::BadCursor)?,
    })
}

/// What `@…` mentions a user by: the username of an account (which is its display name),
/// or a guest's display name.
pub(crate) fn mention_handle(who: &Identity) -> &str {
    &who.name
}

/// What a member sends, as every transport receives it: the text, an optional
/// idempotency key and the message of the same room it answers, if any.
#[derive(Clone, Copy, Debug, Default)]
pub struct Draft<'a> {
    /// The text as typed (validated by the service).
    pub text: &'a str,
    /// The client's idempotency key.
    pub client_id: Option<&'a str>,
    /// The id of the message answered (a reply).
    pub reply_to: Option<i64>,
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
    /// Message rates per user.
    limits: Arc<Limits>,
    /// The group-commit writer.
    writer: writer::Writer,
    /// Store reads that repair feeds after a resync, at once at most.
    repairs: tokio::sync::Semaphore,
    /// Who is in which room.
    presence: Presence,
    /// How often typing frames are relayed.
    typing: typing::TypingThrottle,
}

/// Feeds that may re-read the store at once after a resync (the pool has 8 connections:
/// the rest stay free for pages, history and sends).
const REPAIR_READS: usize = 4;

impl ChatService {
    /// Starts the service and its writer task; [`ChatService::close`] drains and stops it.
    pub fn start(store: Store, layer: Arc<dyn ChannelLayer>, limits: Arc<Limits>) -> Self {
        Self::start_with(store, layer, limits, CommitWindow::default())
    }

    /// [`ChatService::start`] with a chosen commit window (`--commit-window-us`).
    pub fn start_with(
        store: Store,
        layer: Arc<dyn ChannelLayer>,
        limits: Arc<Limits>,
        window: CommitWindow,
    ) -> Self {
        let typing = Arc::new(typing::PendingTyping::default());
        let writer = writer::Writer::start(store.clone(), layer.clone(), window, typing.clone());
        let presence = Presence::start(layer.clone(), typing);
        Self {
            inner: Arc::new(Inner {
                store,
                layer,
                limits,
                writer,
                repairs: tokio::sync::Semaphore::new(REPAIR_READS),
                presence,
                typing: typing::TypingThrottle::default(),
            }),
        }
    }

    /// Stops taking messages, stores and publishes every one already queued (each sender
    /// gets its answer), and waits for the writer to end. Sends after this fail with
    /// [`ChatError::WriterGone`].
    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.presence.close().await;
    }

    /// Presence: transports mark their users present, and read the first frame from it.
    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    /// Relays "`who` is typing" to the room (every process), at most once per
    /// [`app::protocol::TYPING_RELAY_MS`] per user; faster ones are dropped silently.
    /// Relays are gathered per room for up to [`presence::TYPING_GATHER`] and sent together.
    pub async fn typing(&self, who: &Identity, room: &Room) -> Result<(), ChatError> {
        if !self.inner.typing.allow(room.id, who.user_id) {
            return Ok(());
        }
        self.inner.presence.typing(
            room.slug.as_str(),
            app::protocol::Member {
                id: who.user_id,
                name: who.name.clone(),
            },
        );
        Ok(())
    }

    /// Moves `who`'s read marker in `room` to message `up_to` (never back) and tells their
    /// other tabs and lobby feeds. `up_to` must be a message of this room. Returns where the
    /// marker stands.
    pub async fn mark_read(
        &self,
        who: &Identity,
        room: &Room,
        up_to: i64,
    ) -> Result<i64, ChatError> {
        if up_to <= 0 || !self.inner.store.message_in_room(up_to, room.id).await? {
            return Err(ChatError::Invalid(Invalid {
                field: "up_to",
                message: format!("Message {up_to} is not a message of this room."),
            }));
        }
        let stands = self
            .inner
            .store
            .mark_read(who.user_id, room.id, up_to)
            .await?;
        let frame = encode(&ServerFrame::Read {
            room: room.slug.to_string(),
            up_to: stands,
        });
        self.inner
            .layer
            .group_send(
                &crate::auth::user_group(who.user_id),
                Delivery::Frame(frame),
            )
            .await?;
        Ok(stands)
    }

    /// The live room list for `viewer` (the lobby feed).
    pub async fn lobby(&self, viewer: Option<&Identity>) -> Result<LobbyFeed, ChatError> {
        LobbyFeed::open(self.clone(), viewer).await
    }

    /// The channel layer (for consumers opening channels and for health checks).
    pub fn layer(&self) -> &Arc<dyn ChannelLayer> {
        &self.inner.layer
    }

    /// A fresh per-connection limiter for frames that carry no message (a WebSocket counts
    /// its malformed frames with it; `None`: unlimited).
    pub fn connection_frames(&self) -> Option<governor::DefaultDirectRateLimiter> {
        self.inner.limits.connection_frames()
    }

    /// A turn to re-read the store for a feed's repair (bounded, so a resync of every feed
    /// of the process does not queue every read at the pool at once).
    pub(crate) async fn repair_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.inner.repairs.acquire().await.ok()
    }

    /// Whether the database answers (for `/healthz`).
    pub async fn store_ok(&self) -> bool {
        self.inner.store.ping().await.is_ok()
    }

    /// Whether the writer task still takes messages (for `/healthz`).
    pub fn writer_ok(&self) -> bool {
        self.inner.writer.is_running()
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
        let draft = Draft {
            text,
            client_id,
            reply_to: None,
        };
        self.submit(author, room, draft).await?.await
    }

    /// [`ChatService::send`] of a [`Draft`] into the room named `slug` (the REST API and
    /// server functions).
    pub async fn post(
        &self,
        author: &Identity,
        slug: &str,
        draft: Draft<'_>,
    ) -> Result<Sent, ChatError> {
        let room = self.room(slug, Some(author)).await?;
        self.submit(author, &room, draft).await?.await
    }

    /// Posts as the system author `name` (the admin API, `parlor broadcast`): stored and
    /// published like any message, without a rate limit.
    pub async fn announce(
        &self,
        name: &str,
        slug: &str,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<Sent, ChatError> {
        let name = DisplayName::parse(name)?;
        let author: Identity = self.inner.store.system_user(name.as_str()).await?.into();
        // The system author is no member of private rooms: announcements are public.
        let room = self.room(slug, None).await?;
        let draft = Draft {
            text,
            client_id,
            reply_to: None,
        };
        self.queue(&author, &room, draft, false).await?.await
    }

    /// Validates a message, charges it to the author's message rate and queues it for
    /// storing, returning as soon as it is queued: a connection can read its client's next
    /// message while this one is committed (messages from one submitter are stored in the
    /// order they were submitted). Await the returned [`Pending`] for the outcome.
    pub async fn submit(
        &self,
        author: &Identity,
        room: &Room,
        draft: Draft<'_>,
    ) -> Result<Pending, ChatError> {
        self.queue(author, room, draft, true).await
    }

    /// Validates and queues a message; `limited` charges it to the author's message rate
    /// (after validating the text, so a refused text costs nothing; before looking up the
    /// answered message, so a flood of bad replies costs the flooder, not the store).
    async fn queue(
        &self,
        author: &Identity,
        room: &Room,
        draft: Draft<'_>,
        limited: bool,
    ) -> Result<Pending, ChatError> {
        let text = MessageText::parse(draft.text)?;
        let client_id = draft.client_id.map(ClientId::parse).transpose()?;
        if limited {
            self.inner.limits.message(author.user_id).await?;
        }
        if let Some(answered) = draft.reply_to {
            // Only a live message of this very room can be answered.
            match self.inner.store.message(room.id, answered).await? {
                Some(message) if message.deleted_at.is_none() => {}
                _ => return Err(ChatError::MessageNotFound(answered)),
            }
        }
        self.enqueue(author, room, text, client_id, draft.reply_to)
            .await
    }

    async fn enqueue(
        &self,
        author: &Identity,
        room: &Room,
        text: MessageText,
        client_id: Option<ClientId>,
        reply_to: Option<i64>,
    ) -> Result<Pending, ChatError> {
        let draft = NewMessage {
            room_id: room.id,
            author_id: author.user_id,
            author_name: author.name.clone(),
            text: text.into(),
            client_id: client_id.map(String::from),
            sent_at: crate::store::now_millis(),
            reply_to,
        };
        let answer = self.inner.writer.queue(draft, room.slug.clone()).await?;
        Ok(Pending {
            answer,
            room_id: room.id,
            room_slug: room.slug.clone(),
        })
    }

    /// Resolves a slug to a room as `viewer` (`None`: anonymous) may see it. An invalid slug,
    /// and a private room the viewer is no member of, are simply not found: every path
    /// goes through here, so a private room's existence leaks nowhere.
    pub async fn room(&self, slug: &str, viewer: Option<&Identity>) -> Result<Room, ChatError> {
        let not_found = || ChatError::RoomNotFound(slug.to_owned());
        let slug = RoomSlug::parse(slug).map_err(|_| not_found())?;
        let record = self
            .inner
            .store
            .visible_room(slug.as_str(), viewer.map_or(0, |v| v.user_id))
            .await?
            .ok_or_else(not_found)?;
        Ok(Room::from_record(record, slug))
    }

    /// Creates a public room owned by `owner`, within the owner's room quota.
    pub async fn create_room(
        &self,
        owner: &Identity,
        slug: &str,
        title: &str,
    ) -> Result<Room, ChatError> {
        self.create_room_with(owner, slug, title, None).await
    }

    /// Refuses a room beyond the owner's quota (per rolling hour, and in all).
    async fn check_room_quota(&self, owner: &Identity) -> Result<(), ChatError> {
        const HOUR_MS: i64 = 3_600_000;
        let quota = self.inner.limits.room_quota();
        if quota.per_hour == 0 && quota.total == 0 {
            return Ok(());
        }
        let since = crate::store::now_millis() - HOUR_MS;
        let (total, last_hour) = self.inner.store.rooms_owned(owner.user_id, since).await?;
        let refusal = if quota.total > 0 && total >= i64::from(quota.total) {
            Some(ChatError::Quota {
                message: format!(
                    "You own {total} rooms, the most one person may; delete one to make another."
                ),
                retry_after: None,
            })
        } else if quota.per_hour > 0 && last_hour >= i64::from(quota.per_hour) {
            Some(ChatError::Quota {
                message: format!(
                    "You created {last_hour} rooms in the last hour, the most allowed; try again later."
                ),
                retry_after: Some(600),
            })
        } else {
            None
        };
        match refusal {
            Some(refusal) => {
                crate::telemetry::refused("quota_exceeded");
                Err(refusal)
            }
            None => Ok(()),
        }
    }

    /// Deletes a room (owner only): removes it and its messages, then tells every member in
    /// every process and closes their connections.
    pub async fn delete_room(&self, by: &Identity, slug: &str) -> Result<(), ChatError> {
        let room = self.room(slug, Some(by)).await?;
        if room.owner_id != Some(by.user_id) {
            return Err(ChatError::Forbidden("Only the room's owner can delete it."));
        }
        // A private room's end is news to its members alone.
        let members = if room.private {
            Some(self.inner.store.room_member_ids(room.id).await?)
        } else {
            None
        };
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
                    reason: CloseReason::RoomDeleted,
                },
            )
            .await?;
        lobby::publish(
            self.inner.layer.as_ref(),
            &lobby::Note::Gone {
                slug: room.slug.to_string(),
                members,
            },
        )
        .await;
        Ok(())
    }

    /// Renames a room (owner only) and tells its members in every process.
    pub async fn rename_room(
        &self,
        by: &Identity,
        slug: &str,
        title: &str,
    ) -> Result<Room, ChatError> {
        let mut room = self.room(slug, Some(by)).await?;
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
        lobby::publish(
            self.inner.layer.as_ref(),
            &lobby::Note::Changed {
                slug: room.slug.to_string(),
            },
        )
        .await;
        Ok(room)
    }

    /// A page of the room list, most recently active first: up to `limit` rooms (1–200)
    /// after `cursor` (from the previous page), and the cursor of the next page if there is
    /// one. With a `viewer`, each room carries their unread and mention counts.
    pub async fn list_rooms(
        &self,
        viewer: Option<&Identity>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RoomList, ChatError> {
        let limit = limit.clamp(1, MAX_ROOM_PAGE);
        let cursor = cursor.map(parse_cursor).transpose()?;
        let (user_id, username) = match viewer {
            Some(viewer) => (viewer.user_id, Some(mention_handle(viewer).to_owned())),
            None => (0, None),
        };
        let mut rows = self
            .inner
            .store
            .list_rooms_for(user_id, username.as_deref(), limit + 1, cursor)
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                rows.last()
                    .map(|row| format!("{}.{}", row.room.active_at, row.room.id))
            })
            .flatten();
        Ok(RoomList {
            rooms: rows.into_iter().map(lobby::summary_of).collect(),
            next_cursor,
        })
    }

    /// One room's figures.
    pub async fn summary(&self, room: &Room) -> Result<RoomSummary, ChatError> {
        self.inner
            .store
            .room_stats(room.id)
            .await?
            .map(wire::summary_from)
            .ok_or_else(|| ChatError::RoomNotFound(room.slug.to_string()))
    }

    /// The newest `limit` messages before `before` (or the newest overall), oldest first, as
    /// `viewer` sees them.
    pub async fn history(
        &self,
        room: &Room,
        before: Option<i64>,
        limit: u32,
        viewer: Option<i64>,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let rows = self
            .inner
            .store
            .messages_before(room.id, before, limit.clamp(1, MAX_PAGE))
            .await?;
        Ok(rows
            .iter()
            .map(|r| to_wire_for(r, room.slug.as_str(), viewer))
            .collect())
    }

    /// Up to `limit` messages after `after`, oldest first, as `viewer` sees them.
    pub async fn after(
        &self,
        room: &Room,
        after: i64,
        limit: u32,
        viewer: Option<i64>,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let rows = self
            .inner
            .store
            .messages_after(room.id, after, limit.clamp(1, MAX_PAGE))
            .await?;
        Ok(rows
            .iter()
            .map(|r| to_wire_for(r, room.slug.as_str(), viewer))
            .collect())
    }

    /// Joins the room's group and returns a feed that yields, in order and once each: what
    /// `resume` asks for from the store (messages after an id, or every event after a seq)
    /// and then every new event. With a `viewer` from a session, the feed also ends when that
    /// session does.
    pub async fn follow(
        &self,
        room: &Room,
        resume: Resume,
        viewer: Option<&Identity>,
    ) -> Result<RoomFeed, ChatError> {
        RoomFeed::open(self.clone(), room.clone(), resume, viewer).await
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties {
    use super::parse_cursor;
    use proptest::prelude::*;

    proptest! {
        /// A cursor is ours or refused, never a panic.
        #[test]
        fn cursors_parse_or_are_refused(raw in any::<String>()) {
            let _ = parse_cursor(&raw);
        }

        #[test]
        fn our_cursors_round_trip(active_at in any::<i64>(), id in any::<i64>()) {
            let cursor = parse_cursor(&format!("{active_at}.{id}")).expect("ours");
            prop_assert_eq!((cursor.active_at, cursor.id), (active_at, id));
        }
    }
}
