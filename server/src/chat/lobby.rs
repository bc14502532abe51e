//! The lobby feed: the room list, live (`GET /ws/lobby`, `GET /api/lobby/events`).
//!
//! The chat service publishes a [`Note`] to the `lobby` group when a room is created,
//! renamed or deleted, and once per commit and room when messages are stored (the room's new
//! figures come back from the writer's own UPDATE, so this costs no read). Each lobby
//! consumer turns notes into `room` / `room_gone` frames for its viewer: unread and mention
//! counts are per viewer, so the consumer keeps them for the rooms it has heard of — read
//! once from the store, then counted up in memory as notes arrive — and re-reads a room when
//! the viewer's read marker moves (the `read` frame on the viewer's own group).

use super::{ChatError, ChatService, FeedEvent};
use crate::{
    auth::{user_group, Identity},
    layer::{Channel, CloseReason, Delivery, Frame},
    store::ListedRoom,
};
use app::protocol::{ErrorBody, ErrorCode, LastMessage, RoomSummary, ServerFrame, UNREAD_CAP};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The group every lobby consumer joins.
pub const LOBBY_GROUP: &str = "lobby";

/// What the chat service tells the lobby group (never sent to a client as is).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Note {
    /// Messages were stored in a room: its figures after the commit, and per message who
    /// wrote it and whom it mentions.
    #[serde(rename = "lobby_activity")]
    Activity {
        /// The room as anyone sees it (no per-viewer counts).
        room: RoomSummary,
        /// The new messages, in order.
        posted: Vec<Posted>,
        /// A private room's members: nobody else hears of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        members: Option<Vec<i64>>,
    },
    /// A room was created or renamed: each consumer reads it for its viewer.
    #[serde(rename = "lobby_changed")]
    Changed {
        /// The room's slug.
        slug: String,
    },
    /// A room was deleted.
    #[serde(rename = "lobby_gone")]
    Gone {
        /// The room's slug.
        slug: String,
        /// A private room's members: nobody else hears of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        members: Option<Vec<i64>>,
    },
}

/// One stored message, as the lobby counts it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Posted {
    /// The author's user id (own messages are never unread).
    pub author_id: i64,
    /// The usernames it mentions, lower-cased.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// Tells the lobby what one commit stored: one note per room that gained messages.
pub(super) async fn announce_activity(
    layer: &dyn crate::layer::ChannelLayer,
    rooms: Vec<crate::store::RoomWithStats>,
    outcomes: &[Result<crate::store::Inserted, crate::store::StoreError>],
) {
    for mut stats in rooms {
        let members = stats.members.take();
        let mut newest: Option<&crate::store::MessageRecord> = None;
        let posted: Vec<Posted> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Ok(crate::store::Inserted::New(record)) if record.room_id == stats.id => {
                    Some(record)
                }
                _ => None,
            })
            .map(|record| {
                newest = Some(record);
                Posted {
                    author_id: record.author_id,
                    mentions: app::protocol::mentioned_usernames(&record.text),
                }
            })
            .collect();
        let mut room = super::wire::summary_from(stats);
        room.last_message = newest.map(super::wire::last_message_of);
        publish(
            layer,
            &Note::Activity {
                room,
                posted,
                members,
            },
        )
        .await;
    }
}

/// Publishes a note to the lobby group (a failure is logged: the lobby is a convenience,
/// and a client that reconnects reads the list again).
pub(super) async fn publish(layer: &dyn crate::layer::ChannelLayer, note: &Note) {
    let Ok(json) = serde_json::to_string(note) else {
        return;
    };
    if let Err(error) = layer
        .group_send(LOBBY_GROUP, Delivery::Frame(Frame::from(json)))
        .await
    {
        tracing::debug!(%error, "publishing to the lobby failed");
    }
}

/// The excerpt of a room's last message when it was deleted.
const DELETED_EXCERPT: &str = "message deleted";

/// The room as the list shows it to the viewer the row was read for.
pub(super) fn summary_of(row: ListedRoom) -> RoomSummary {
    let last_message = match (
        row.last_id,
        row.last_author,
        row.last_text,
        row.last_sent_at,
    ) {
        (Some(id), Some(author), Some(text), Some(sent_at)) => Some(LastMessage {
            id,
            author,
            // A stored text is never empty: an empty one was deleted.
            excerpt: if text.is_empty() {
                DELETED_EXCERPT.to_owned()
            } else {
                LastMessage::excerpt_of(&text)
            },
            sent_at: crate::store::format_millis(sent_at),
        }),
        _ => None,
    };
    let mut summary = super::wire::summary_from(row.room);
    summary.unread = count(row.unread.unread);
    summary.mentions = count(row.unread.mentions);
    summary.read_up_to = row.unread.up_to;
    summary.last_message = last_message;
    summary
}

fn count(value: i64) -> u32 {
    u32::try_from(value.max(0))
        .unwrap_or(u32::MAX)
        .min(UNREAD_CAP)
}

/// One viewer's live room list.
pub struct LobbyFeed {
    chat: ChatService,
    channel: Channel,
    /// The viewer (`None`: anonymous, no counts) and their username, lower-cased.
    viewer: Option<(Identity, Option<String>)>,
    /// Unread and mention counts of the rooms heard of, by slug.
    counts: HashMap<String, (u32, u32)>,
}

impl LobbyFeed {
    /// Joins the lobby group (and the viewer's own, for read markers and session ends).
    pub(super) async fn open(
        chat: ChatService,
        viewer: Option<&Identity>,
    ) -> Result<Self, ChatError> {
        let mut channel = Channel::open(chat.layer().clone());
        channel.join(LOBBY_GROUP).await?;
        let mut counts = HashMap::new();
        if let Some(viewer) = viewer {
            channel.join(&user_group(viewer.user_id)).await?;
            // The counts of the first page of rooms in one read: rooms that then get
            // messages need no read of their own, and a wave of reconnecting viewers costs
            // one query each, not one per room. Joined first: a message committed in between
            // may be counted twice (until the next read), never missed.
            let handle = super::mention_handle(viewer);
            let rows = Box::pin(chat.store().list_rooms_for(
                viewer.user_id,
                Some(handle),
                super::MAX_ROOM_PAGE,
                None,
            ))
            .await?;
            for row in rows {
                let summary = summary_of(row);
                counts.insert(summary.slug, (summary.unread, summary.mentions));
            }
        }
        Ok(Self {
            chat,
            channel,
            viewer: viewer.map(|v| (v.clone(), Some(super::mention_handle(v).to_lowercase()))),
            counts,
        })
    }

    /// The next event for the viewer's connection (frames, heartbeats, the end).
    pub async fn next(&mut self) -> Result<FeedEvent, ChatError> {
        loop {
            let Some(delivery) = self.channel.recv().await else {
                return Ok(FeedEvent::Overflowed);
            };
            if let Some(event) = self.accept(delivery).await? {
                return Ok(event);
            }
        }
    }

    async fn accept(&mut self, delivery: Delivery) -> Result<Option<FeedEvent>, ChatError> {
        let frame = match delivery {
            Delivery::Frame(frame) => frame,
            Delivery::Heartbeat => return Ok(Some(FeedEvent::Heartbeat)),
            Delivery::GoAway => return Ok(Some(FeedEvent::ShuttingDown)),
            Delivery::SessionEnded { session } => {
                let ends = self
                    .viewer
                    .as_ref()
                    .is_some_and(|(v, _)| v.session != 0 && (session == 0 || session == v.session));
                return Ok(ends.then(|| FeedEvent::Close {
                    frame: super::encode(&ServerFrame::Error(ErrorBody::new(
                        ErrorCode::LoginRequired,
                        "Your session ended (logged out); log in again to continue.",
                    ))),
                    reason: CloseReason::SessionEnded,
                }));
            }
            Delivery::Message { .. } | Delivery::Close { .. } | Delivery::Resync => {
                return Ok(None)
            }
        };
        let out = if let Ok(note) = serde_json::from_str::<Note>(frame.as_str()) {
            self.on_note(note).await?
        } else if let Ok(ServerFrame::Read { room, .. }) =
            serde_json::from_str::<ServerFrame>(frame.as_str())
        {
            // The viewer read a room (here or in another tab): its counts are re-read.
            self.counts.remove(&room);
            self.reread(&room).await?
        } else {
            Some(frame)
        };
        Ok(out.map(|frame| FeedEvent::Frame { seq: None, frame }))
    }

    /// Whether the viewer may hear of a room with these `members` (`None`: public).
    fn may_see(&self, members: Option<&Vec<i64>>) -> bool {
        match (members, &self.viewer) {
            (None, _) => true,
            (Some(members), Some((viewer, _))) => members.contains(&viewer.user_id),
            (Some(_), None) => false,
        }
    }

    async fn on_note(&mut self, note: Note) -> Result<Option<Frame>, ChatError> {
        match note {
            Note::Activity { members, .. } | Note::Gone { members, .. }
                if !self.may_see(members.as_ref()) =>
            {
                Ok(None)
            }
            Note::Activity {
                mut room, posted, ..
            } => {
                let Some((viewer, username)) = &self.viewer else {
                    return Ok(Some(room_frame(room)));
                };
                match self.counts.get_mut(&room.slug) {
                    Some((unread, mentions)) => {
                        for message in posted.iter().filter(|p| p.author_id != viewer.user_id) {
                            *unread = (*unread + 1).min(UNREAD_CAP);
                            if username
                                .as_ref()
                                .is_some_and(|u| message.mentions.contains(u))
                            {
                                *mentions = (*mentions + 1).min(UNREAD_CAP);
                            }
                        }
                        room.unread = *unread;
                        room.mentions = *mentions;
                        Ok(Some(room_frame(room)))
                    }
                    // First news of this room: its counts (these messages included) from
                    // the store, once.
                    None => self.reread(&room.slug).await,
                }
            }
            Note::Changed { slug } => self.reread(&slug).await,
            Note::Gone { slug, .. } => {
                self.counts.remove(&slug);
                Ok(Some(super::encode(&ServerFrame::RoomGone { slug })))
            }
        }
    }

    /// The room as the viewer sees it now, from the store.
    async fn reread(&mut self, slug: &str) -> Result<Option<Frame>, ChatError> {
        let (user_id, username) = match &self.viewer {
            Some((viewer, username)) => (viewer.user_id, username.as_deref()),
            None => (0, None),
        };
        let row = Box::pin(self.chat.store().listed_room(user_id, username, slug)).await?;
        Ok(row.map(|row| {
            let summary = summary_of(row);
            if self.viewer.is_some() {
                self.counts
                    .insert(summary.slug.clone(), (summary.unread, summary.mentions));
            }
            room_frame(summary)
        }))
    }
}

fn room_frame(room: RoomSummary) -> Frame {
    super::encode(&ServerFrame::Room { room })
}
