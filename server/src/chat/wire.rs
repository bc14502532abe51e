//! Stored rows in the protocol's shapes, encoded once for every recipient.

use crate::{
    layer::Frame,
    store::{MessageRecord, Reactions, RoomEvent, RoomWithStats},
};
use app::protocol::{
    ChatMessage, Member, ReactionCount, ReplyRef, RoomSummary, ServerFrame, REACTION_NAMES,
};

/// A stored row as the protocol's message (as everyone sees it: no reaction is `mine`).
pub fn to_wire(record: &MessageRecord, room_slug: &str) -> ChatMessage {
    to_wire_for(record, room_slug, None)
}

/// A stored row as the protocol's message, as `viewer` sees it (their reactions `mine`).
pub fn to_wire_for(record: &MessageRecord, room_slug: &str, viewer: Option<i64>) -> ChatMessage {
    ChatMessage {
        id: record.id,
        seq: record.seq,
        room: room_slug.to_owned(),
        author_id: record.author_id,
        author: record.author_name.clone(),
        text: record.text.clone(),
        client_id: record.client_id.clone(),
        sent_at: crate::store::format_millis(record.sent_at),
        edited_at: record.edited_at.map(crate::store::format_millis),
        deleted: record.deleted_at.is_some(),
        reply_to: match (record.reply_to, &record.reply_author, &record.reply_text) {
            (Some(id), Some(author), Some(text)) => {
                Some(ReplyRef::quoting(id, author.clone(), text))
            }
            _ => None,
        },
        reactions: reaction_counts(&record.reactions, viewer),
    }
}

/// Who put which emoji on a message, counted per emoji in the order each first appeared.
fn reaction_counts(reactions: &Reactions, viewer: Option<i64>) -> Vec<ReactionCount> {
    let mut counts: Vec<ReactionCount> = Vec::new();
    for reacted in &reactions.0 {
        let at = match counts.iter().position(|c| c.emoji == reacted.emoji) {
            Some(at) => at,
            None => {
                counts.push(ReactionCount {
                    emoji: reacted.emoji.clone(),
                    count: 0,
                    mine: false,
                    users: Vec::new(),
                });
                counts.len() - 1
            }
        };
        let count = &mut counts[at];
        count.count += 1;
        count.mine |= viewer == Some(reacted.user_id);
        if count.users.len() < REACTION_NAMES {
            count.users.push(Member {
                id: reacted.user_id,
                name: reacted.user_name.clone(),
            });
        }
    }
    counts
}

/// A stored room event as the frame every member gets (`viewer`: whose reactions a replayed
/// message marks `mine`).
pub fn event_frame(event: &RoomEvent, room_slug: &str, viewer: Option<i64>) -> ServerFrame {
    match event {
        RoomEvent::Message(record) => ServerFrame::Message(to_wire_for(record, room_slug, viewer)),
        RoomEvent::Edited { seq, message } => ServerFrame::MessageEdited {
            seq: *seq,
            id: message.id,
            text: message.text.clone(),
            edited_at: crate::store::format_millis(message.edited_at.unwrap_or(message.sent_at)),
        },
        RoomEvent::Deleted { seq, message_id } => ServerFrame::MessageDeleted {
            seq: *seq,
            id: *message_id,
        },
        RoomEvent::Reaction {
            seq,
            message_id,
            emoji,
            user_id,
            user_name,
            on,
        } => ServerFrame::Reaction {
            seq: *seq,
            id: *message_id,
            emoji: emoji.clone(),
            user: Member {
                id: *user_id,
                name: user_name.clone(),
            },
            on: *on,
        },
    }
}

/// A room's stored figures as the room list shows them.
pub(super) fn summary_from(room: RoomWithStats) -> RoomSummary {
    RoomSummary {
        slug: room.slug,
        title: room.title,
        message_count: room.message_count,
        last_message_at: room.last_message_at.map(crate::store::format_millis),
        owner_id: room.owner_id,
        unread: 0,
        mentions: 0,
        read_up_to: 0,
        last_message: None,
        private: room.private,
    }
}

/// A stored message as the room list and mention frames quote it.
pub(super) fn last_message_of(record: &crate::store::MessageRecord) -> app::protocol::LastMessage {
    app::protocol::LastMessage {
        id: record.id,
        author: record.author_name.clone(),
        excerpt: app::protocol::LastMessage::excerpt_of(&record.text),
        sent_at: crate::store::format_millis(record.sent_at),
    }
}

/// Encodes a server frame once, into shareable bytes.
pub fn encode(frame: &ServerFrame) -> Frame {
    // Serialising these plain structs cannot fail; an empty frame would be dropped by
    // clients as unknown, which is the safest fallback if it ever did.
    Frame::from(serde_json::to_string(frame).unwrap_or_default())
}
