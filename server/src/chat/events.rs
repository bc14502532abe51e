//! Room events beyond new messages: edits and deletions (stored with the room's next seq,
//! then published to the room's group on every process), and the replay of every event
//! after a seq, which is how any transport resumes.

use super::{encode, event_frame, ChatError, ChatService, Room, MAX_PAGE};
use crate::{
    auth::Identity,
    layer::Delivery,
    store::{Changed, Deleter, EarlierText, Refusal, RoomEvent},
};
use app::{domain::MessageText, protocol::ServerFrame};

impl ChatService {
    /// Replaces the text of `who`'s message `id` in `room`. The text is validated like a
    /// new message's and the edit is charged to the author's message rate.
    pub async fn edit(
        &self,
        who: &Identity,
        room: &Room,
        id: i64,
        text: &str,
    ) -> Result<ServerFrame, ChatError> {
        let text = MessageText::parse(text)?;
        self.inner.limits.message(who.user_id).await?;
        let changed = self
            .inner
            .store
            .edit_message(
                room.id,
                id,
                who.user_id,
                text.as_str(),
                crate::store::now_millis(),
            )
            .await?;
        let changed = refused(changed, id, "Only its author can edit a message.")?;
        let event = RoomEvent::Edited {
            seq: changed.seq,
            message: changed.message.clone(),
        };
        self.publish_event(room, &changed, &event).await
    }

    /// Deletes message `id` in `room`: its author may, and so may the room's owner. The text
    /// is removed from the store; everyone sees a tombstone.
    pub async fn delete_message(
        &self,
        who: &Identity,
        room: &Room,
        id: i64,
    ) -> Result<ServerFrame, ChatError> {
        let by = if room.owner_id == Some(who.user_id) {
            Deleter::Owner(who.user_id)
        } else {
            Deleter::Member(who.user_id)
        };
        let changed = self
            .inner
            .store
            .delete_message(room.id, id, by, crate::store::now_millis())
            .await?;
        let changed = refused(
            changed,
            id,
            "Only its author or the room's owner can delete a message.",
        )?;
        let event = RoomEvent::Deleted {
            seq: changed.seq,
            message_id: id,
        };
        let frame = self.publish_event(room, &changed, &event).await?;
        // The room list shows the last message's excerpt: if that one went, every lobby
        // re-reads the room (it now says "message deleted").
        if changed.newest_message == id {
            let note = super::lobby::Note::Changed {
                slug: room.slug.to_string(),
            };
            super::lobby::publish(self.inner.layer.as_ref(), &note).await;
        }
        Ok(frame)
    }

    /// The earlier texts of message `id` (the room's owner only: an edit history is for
    /// moderation, not for everyone).
    pub async fn earlier_texts(
        &self,
        who: &Identity,
        room: &Room,
        id: i64,
    ) -> Result<Vec<EarlierText>, ChatError> {
        if room.owner_id != Some(who.user_id) {
            return Err(ChatError::Forbidden(
                "Only the room's owner can read the edit history.",
            ));
        }
        // A deleted message has no history left to show: its texts were removed with it.
        match self.inner.store.message(room.id, id).await? {
            Some(message) if message.deleted_at.is_none() => {}
            _ => return Err(ChatError::MessageNotFound(id)),
        }
        Ok(self.inner.store.earlier_texts(id).await?)
    }

    /// Up to `limit` room events after seq `since`, in order, as frames: messages as they
    /// stand now (deleted ones as tombstones), edits and deletions.
    pub async fn events_since(
        &self,
        room: &Room,
        since: i64,
        limit: u32,
    ) -> Result<Vec<ServerFrame>, ChatError> {
        let events = self
            .inner
            .store
            .events_between(room.id, since.max(0), i64::MAX, limit.clamp(1, MAX_PAGE))
            .await?;
        Ok(events
            .iter()
            .map(|event| event_frame(event, room.slug.as_str()))
            .collect())
    }

    /// Publishes a stored change to the room's members (as a numbered room event, so feeds
    /// order it among the messages) and returns its frame.
    async fn publish_event(
        &self,
        room: &Room,
        changed: &Changed,
        event: &RoomEvent,
    ) -> Result<ServerFrame, ChatError> {
        let frame = event_frame(event, room.slug.as_str());
        let delivery = Delivery::Message {
            id: changed.message.id,
            seq: changed.seq,
            frame: encode(&frame),
        };
        // Stored already: a member that misses the delivery repairs the gap from the store.
        if let Err(error) = self.inner.layer.group_send(&room.group(), delivery).await {
            tracing::debug!(%error, "publishing a room event failed");
        }
        Ok(frame)
    }
}

/// The store's refusal as the service's error.
fn refused(
    outcome: Result<Changed, Refusal>,
    id: i64,
    not_yours: &'static str,
) -> Result<Changed, ChatError> {
    outcome.map_err(|refusal| match refusal {
        Refusal::NoSuchMessage => ChatError::MessageNotFound(id),
        Refusal::NotYours => ChatError::Forbidden(not_yours),
    })
}
