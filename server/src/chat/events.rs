//! Room events beyond new messages: edits, deletions and reactions (stored with the room's next seq,
//! then published to the room's group on every process), and the replay of every event
//! after a seq, which is how any transport resumes.

use super::{encode, event_frame, ChatError, ChatService, Room, MAX_PAGE};
use crate::{
    auth::Identity,
    layer::Delivery,
    store::{Changed, Deleter, EarlierText, ReactionLimits, Refusal, RoomEvent},
};
use app::{
    domain::MessageText,
    protocol::{ServerFrame, MAX_REACTIONS_PER_USER, MAX_REACTION_EMOJI},
};

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
        self.publish_event(room, id, &event).await
    }

    /// Puts `emoji` on message `id` for `who`, or takes it off if they had put it there.
    /// Anything but one emoji is refused; toggles are charged to the message rate (a
    /// reaction is a room event every member receives, like a message).
    pub async fn react(
        &self,
        who: &Identity,
        room: &Room,
        id: i64,
        emoji: &str,
    ) -> Result<ServerFrame, ChatError> {
        let emoji = super::emoji::one_emoji(emoji)?;
        self.inner.limits.message(who.user_id).await?;
        let limits = ReactionLimits {
            distinct: MAX_REACTION_EMOJI,
            per_user: MAX_REACTIONS_PER_USER,
        };
        let change = self
            .inner
            .store
            .toggle_reaction(
                room.id,
                id,
                who.user_id,
                emoji,
                limits,
                crate::store::now_millis(),
            )
            .await?
            .map_err(|refusal| refusal_error(refusal, id, "Anyone here may react."))?;
        let event = RoomEvent::Reaction {
            seq: change.seq,
            message_id: id,
            emoji: emoji.to_owned(),
            user_id: who.user_id,
            user_name: change.user_name,
            on: change.on,
        };
        self.publish_event(room, id, &event).await
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
        let frame = self.publish_event(room, id, &event).await?;
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

    /// Up to `limit` room events after seq `since`, in order, as frames for `viewer`:
    /// messages as they stand now (deleted ones as tombstones), edits, deletions, reactions.
    pub async fn events_since(
        &self,
        room: &Room,
        since: i64,
        limit: u32,
        viewer: Option<i64>,
    ) -> Result<Vec<ServerFrame>, ChatError> {
        let events = self
            .inner
            .store
            .events_between(room.id, since.max(0), i64::MAX, limit.clamp(1, MAX_PAGE))
            .await?;
        Ok(events
            .iter()
            .map(|event| event_frame(event, room.slug.as_str(), viewer))
            .collect())
    }

    /// Publishes a stored change to the room's members (as a numbered room event, so feeds
    /// order it among the messages) and returns its frame.
    async fn publish_event(
        &self,
        room: &Room,
        message_id: i64,
        event: &RoomEvent,
    ) -> Result<ServerFrame, ChatError> {
        let frame = event_frame(event, room.slug.as_str(), None);
        let delivery = Delivery::Message {
            id: message_id,
            seq: event.seq(),
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
    outcome.map_err(|refusal| refusal_error(refusal, id, not_yours))
}

/// What a refusal of a change to message `id` tells the client.
fn refusal_error(refusal: Refusal, id: i64, not_yours: &'static str) -> ChatError {
    match refusal {
        Refusal::NoSuchMessage => ChatError::MessageNotFound(id),
        Refusal::NotYours => ChatError::Forbidden(not_yours),
        Refusal::TooManyEmoji => ChatError::TooManyReactions(
            "This message already carries 20 different emoji; add to one of those.",
        ),
        Refusal::TooManyOfYours => {
            ChatError::TooManyReactions("You have put 8 emoji on this message; take one off first.")
        }
    }
}
