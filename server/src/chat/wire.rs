//! Stored rows in the protocol's shapes, encoded once for every recipient.

use crate::{
    layer::Frame,
    store::{MessageRecord, RoomEvent, RoomWithStats},
};
use app::protocol::{ChatMessage, ReplyRef, RoomSummary, ServerFrame};

/// A stored row as the protocol's message.
pub fn to_wire(record: &MessageRecord, room_slug: &str) -> ChatMessage {
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
    }
}

/// A stored room event as the frame every member gets.
pub fn event_frame(event: &RoomEvent, room_slug: &str) -> ServerFrame {
    match event {
        RoomEvent::Message(record) => ServerFrame::Message(to_wire(record, room_slug)),
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
    }
}

/// Encodes a server frame once, into shareable bytes.
pub fn encode(frame: &ServerFrame) -> Frame {
    // Serialising these plain structs cannot fail; an empty frame would be dropped by
    // clients as unknown, which is the safest fallback if it ever did.
    Frame::from(serde_json::to_string(frame).unwrap_or_default())
}
