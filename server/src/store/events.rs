//! Room events other than new messages — edits, deletions (reactions: `reactions.rs`) — and
//! the reads that replay
//! every event of a room after a seq (`since=`).
//!
//! An event takes the room's next seq in the same transaction that changes the message:
//! the transaction's first statement moves `rooms.last_seq`, which takes SQLite's write lock,
//! so the message writer (or another process) cannot take the same seq, and a refused
//! change rolls the seq back with it. Edits and deletions are rare next to messages, so they
//! are written on a pooled connection rather than through the group-commit writer.

use super::{columns::COLUMNS, sqlite::SqliteDb, MessageRecord, RoomHead, StoreError};
use sqlx::{Sqlite, Transaction};

/// A change to a room as it is replayed: a message (as it stands now), or a later change to
/// one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEvent {
    /// A message was posted (its record carries its seq; a deleted one is a tombstone).
    Message(MessageRecord),
    /// A message was edited: its text as it stands now (a message deleted since then
    /// replays as [`RoomEvent::Deleted`] here too, so no replay ever shows its words).
    Edited {
        /// The event's seq.
        seq: i64,
        /// The message now.
        message: MessageRecord,
    },
    /// A message was deleted.
    Deleted {
        /// The event's seq.
        seq: i64,
        /// Which message.
        message_id: i64,
    },
    /// Someone put an emoji on a message, or took theirs off.
    Reaction {
        /// The event's seq.
        seq: i64,
        /// Which message.
        message_id: i64,
        /// Which emoji.
        emoji: String,
        /// Who.
        user_id: i64,
        /// Their display name now.
        user_name: String,
        /// On (true) or off.
        on: bool,
    },
}

impl RoomEvent {
    /// The event's place in its room.
    pub fn seq(&self) -> i64 {
        match self {
            RoomEvent::Message(message) => message.seq,
            RoomEvent::Edited { seq, .. }
            | RoomEvent::Deleted { seq, .. }
            | RoomEvent::Reaction { seq, .. } => *seq,
        }
    }
}

/// Why a change to a message was refused (nothing was changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in this room, or it was deleted.
    NoSuchMessage,
    /// The message is someone else's (and the actor may not delete it either).
    NotYours,
    /// The message carries as many different emoji as it may.
    TooManyEmoji,
    /// The user has put as many emoji on this message as one may.
    TooManyOfYours,
}

/// What an accepted change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The event's seq.
    pub seq: i64,
    /// The message after the change.
    pub message: MessageRecord,
    /// The room's newest message id at the change (a deletion of that one changes what
    /// the room list shows).
    pub newest_message: i64,
}

/// Who may delete what: the author always, the room's owner any message of the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleter {
    /// Only their own messages.
    Member(i64),
    /// The room's owner: any message.
    Owner(i64),
}

/// One earlier text of an edited message.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EarlierText {
    /// The text before the edit.
    pub text: String,
    /// When the edit replaced it (unix milliseconds).
    pub edited_at: i64,
}

/// A change under way: its transaction (holding the write lock), the seq it takes and the
/// message as it stood.
pub(super) type OpenChange = (
    sqlx::Transaction<'static, sqlx::Sqlite>,
    RoomHead,
    MessageRecord,
);

impl SqliteDb {
    /// Begins a change of `message_id` in `room_id`: takes the room's next seq (and so the
    /// write lock) and reads the message. A missing or deleted message, or one `may` refuses,
    /// is a refusal; the transaction then rolls back and no seq is used.
    pub(super) async fn open_change(
        &self,
        room_id: i64,
        message_id: i64,
        may: impl FnOnce(&MessageRecord) -> bool,
    ) -> Result<Result<OpenChange, Refusal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(head) = take_seq(&mut tx, room_id).await? else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        let Some(before) = live_message(&mut tx, room_id, message_id).await? else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        if !may(&before) {
            return Ok(Err(Refusal::NotYours));
        }
        Ok(Ok((tx, head, before)))
    }

    /// Replaces the text of `message_id` in `room_id`, if `editor_id` wrote it and it is not
    /// deleted; keeps the earlier text for the room's owner.
    pub async fn edit_message(
        &self,
        room_id: i64,
        message_id: i64,
        editor_id: i64,
        text: &str,
        at: i64,
    ) -> Result<Result<Changed, Refusal>, StoreError> {
        let (mut tx, head, before) = match self
            .open_change(room_id, message_id, |m| m.author_id == editor_id)
            .await?
        {
            Ok(opened) => opened,
            Err(refusal) => return Ok(Err(refusal)),
        };
        sqlx::query("INSERT INTO message_edits (message_id, text, edited_at) VALUES (?, ?, ?)")
            .bind(message_id)
            .bind(&before.text)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE messages SET text = ?, edited_at = ? WHERE id = ?")
            .bind(text)
            .bind(at)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        record_event(&mut tx, room_id, head.seq, ("edit", message_id), at, None).await?;
        tx.commit().await?;
        Ok(Ok(Changed {
            seq: head.seq,
            newest_message: head.id,
            message: MessageRecord {
                text: text.to_owned(),
                edited_at: Some(at),
                ..before
            },
        }))
    }

    /// Deletes `message_id` in `room_id`: its text and earlier texts are removed from the
    /// store; the row stays as a tombstone, so ids, seqs and replies keep their places.
    pub async fn delete_message(
        &self,
        room_id: i64,
        message_id: i64,
        by: Deleter,
        at: i64,
    ) -> Result<Result<Changed, Refusal>, StoreError> {
        let may = |m: &MessageRecord| match by {
            Deleter::Owner(_) => true,
            Deleter::Member(user) => m.author_id == user,
        };
        let (mut tx, head, before) = match self.open_change(room_id, message_id, may).await? {
            Ok(opened) => opened,
            Err(refusal) => return Ok(Err(refusal)),
        };
        sqlx::query("DELETE FROM message_edits WHERE message_id = ?")
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        // A tombstone carries nothing: its reactions go with its text.
        sqlx::query("DELETE FROM reactions WHERE message_id = ?")
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE messages SET text = '', deleted_at = ? WHERE id = ?")
            .bind(at)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        record_event(&mut tx, room_id, head.seq, ("delete", message_id), at, None).await?;
        tx.commit().await?;
        Ok(Ok(Changed {
            seq: head.seq,
            newest_message: head.id,
            message: MessageRecord {
                text: String::new(),
                deleted_at: Some(at),
                ..before
            },
        }))
    }

    /// The earlier texts of a message, oldest first (empty once it is deleted).
    pub async fn earlier_texts(&self, message_id: i64) -> Result<Vec<EarlierText>, StoreError> {
        Ok(sqlx::query_as::<_, EarlierText>(
            "SELECT text, edited_at FROM message_edits WHERE message_id = ? ORDER BY edited_at, rowid",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One message of a room, deleted or not.
    pub async fn message(
        &self,
        room_id: i64,
        message_id: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        Ok(sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages WHERE id = ? AND room_id = ?"
        ))
        .bind(message_id)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Up to `limit` events of the room with `after < seq <= until`, in seq order: messages
    /// as they stand now, edits, deletions and reactions.
    pub async fn events_between(
        &self,
        room_id: i64,
        after: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        let messages = sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND seq > ? AND seq <= ?
             ORDER BY seq LIMIT ?"
        ))
        .bind(room_id)
        .bind(after)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let changes = sqlx::query_as::<_, ChangeRow>(
            "SELECT e.seq, e.kind, e.message_id, e.emoji, e.user_id, u.display_name AS user_name
               FROM room_events e LEFT JOIN users u ON u.id = e.user_id
              WHERE e.room_id = ? AND e.seq > ? AND e.seq <= ?
              ORDER BY e.seq LIMIT ?",
        )
        .bind(room_id)
        .bind(after)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        // The messages the edits replay, as they are now (one read for all of them).
        let edited: std::collections::HashMap<i64, MessageRecord> =
            if changes.iter().any(|change| change.kind == "edit") {
                sqlx::query_as::<_, MessageRecord>(&format!(
                    "SELECT {COLUMNS} FROM messages WHERE id IN (
                     SELECT message_id FROM room_events
                     WHERE room_id = ? AND seq > ? AND seq <= ? AND kind = 'edit'
                     ORDER BY seq LIMIT ?)"
                ))
                .bind(room_id)
                .bind(after)
                .bind(until)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|message| (message.id, message))
                .collect()
            } else {
                std::collections::HashMap::new()
            };
        Ok(merge_events(messages, changes, &edited, limit as usize))
    }
}

/// Moves the room's head to its next seq (taking the write lock) and returns the head: that
/// seq and the newest message id; `None`: no such room.
async fn take_seq(
    tx: &mut Transaction<'_, Sqlite>,
    room_id: i64,
) -> Result<Option<RoomHead>, StoreError> {
    let head = sqlx::query_as::<_, (i64, i64)>(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_message_id, last_seq",
    )
    .bind(room_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(head.map(|(id, seq)| RoomHead { id, seq }))
}

/// The message, if it is in this room and not deleted.
async fn live_message(
    tx: &mut Transaction<'_, Sqlite>,
    room_id: i64,
    message_id: i64,
) -> Result<Option<MessageRecord>, StoreError> {
    Ok(sqlx::query_as::<_, MessageRecord>(&format!(
        "SELECT {COLUMNS} FROM messages WHERE id = ? AND room_id = ? AND deleted_at IS NULL"
    ))
    .bind(message_id)
    .bind(room_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// One row of `room_events` as a replay reads it (the same columns on both backends).
#[derive(sqlx::FromRow)]
pub(super) struct ChangeRow {
    seq: i64,
    /// `edit`, `delete`, `react` or `unreact`.
    pub(super) kind: String,
    /// The message it changed.
    pub(super) message_id: i64,
    emoji: Option<String>,
    user_id: Option<i64>,
    user_name: Option<String>,
}

/// A replay from its reads, on either backend: the messages and the changes (each in seq
/// order, at most `limit` long) merged, an edit shown with the message as it is now (`edited`,
/// by id) or as a deletion once the message is gone, and cut to the first `limit` events.
pub(super) fn merge_events(
    messages: Vec<MessageRecord>,
    changes: Vec<ChangeRow>,
    edited: &std::collections::HashMap<i64, MessageRecord>,
    limit: usize,
) -> Vec<RoomEvent> {
    let mut events: Vec<RoomEvent> = messages.into_iter().map(RoomEvent::Message).collect();
    for change in changes {
        let ChangeRow {
            seq,
            kind,
            message_id,
            emoji,
            user_id,
            user_name,
        } = change;
        events.push(match (kind.as_str(), emoji, user_id) {
            ("react" | "unreact", Some(emoji), Some(user_id)) => RoomEvent::Reaction {
                seq,
                message_id,
                emoji,
                user_id,
                user_name: user_name.unwrap_or_default(),
                on: kind == "react",
            },
            ("edit", ..) => match edited.get(&message_id) {
                Some(message) if message.deleted_at.is_none() => RoomEvent::Edited {
                    seq,
                    message: message.clone(),
                },
                _ => RoomEvent::Deleted { seq, message_id },
            },
            _ => RoomEvent::Deleted { seq, message_id },
        });
    }
    // Both lists are in seq order and at most `limit` long: the first `limit` of the merged
    // list are the first `limit` events.
    events.sort_by_key(RoomEvent::seq);
    events.truncate(limit);
    events
}

/// Records event `seq` of the room: `what` is its kind and message; a reaction also names
/// who and which emoji.
pub(super) async fn record_event(
    tx: &mut Transaction<'_, Sqlite>,
    room_id: i64,
    seq: i64,
    (kind, message_id): (&str, i64),
    at: i64,
    reaction: Option<(i64, &str)>,
) -> Result<(), StoreError> {
    let (user_id, emoji) = reaction.unzip();
    sqlx::query(
        "INSERT INTO room_events (room_id, seq, kind, message_id, at, user_id, emoji)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(room_id)
    .bind(seq)
    .bind(kind)
    .bind(message_id)
    .bind(at)
    .bind(user_id)
    .bind(emoji)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::{test_support::temp_store, NewMessage};

    async fn post(store: &Store, room: i64, author: i64, text: &str) -> MessageRecord {
        let draft = NewMessage {
            room_id: room,
            author_id: author,
            author_name: format!("user{author}"),
            text: text.to_owned(),
            client_id: None,
            sent_at: 1_700_000_000_000,
            reply_to: None,
        };
        store
            .insert_messages(&[&draft])
            .await
            .expect("insert")
            .remove(0)
            .record()
            .clone()
    }

    #[tokio::test]
    async fn edits_and_deletions_share_the_rooms_seq_with_messages() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let first = post(&store, room, ann, "frist").await;
        let second = post(&store, room, ann, "secret").await;
        let edit = store
            .edit_message(room, first.id, ann, "first", 1)
            .await
            .expect("edit")
            .expect("allowed");
        assert_eq!(edit.seq, 3);
        let third = post(&store, room, ann, "after the edit").await;
        assert_eq!(third.seq, 4, "the writer continues after the event's seq");
        let gone = store
            .delete_message(room, second.id, Deleter::Member(ann), 2)
            .await
            .expect("delete")
            .expect("allowed");
        assert_eq!(gone.seq, 5);
        assert_eq!(store.room_head(room).await.expect("head").seq, 5);

        let events = store
            .events_between(room, 0, i64::MAX, 100)
            .await
            .expect("replay");
        let seqs: Vec<i64> = events.iter().map(RoomEvent::seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert!(
            matches!(&events[0], RoomEvent::Message(m) if m.text == "first" && m.edited_at == Some(1))
        );
        assert!(
            matches!(&events[1], RoomEvent::Message(m) if m.text.is_empty() && m.deleted_at == Some(2))
        );
        assert!(matches!(&events[2], RoomEvent::Edited { message, .. } if message.text == "first"));
        assert!(
            matches!(events[4], RoomEvent::Deleted { message_id, .. } if message_id == second.id)
        );
        let tail = store
            .events_between(room, 3, i64::MAX, 1)
            .await
            .expect("page");
        assert_eq!(tail.iter().map(RoomEvent::seq).collect::<Vec<_>>(), [4]);
    }

    #[tokio::test]
    async fn a_deleted_texts_are_gone_including_earlier_ones() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let message = post(&store, room, ann, "my password is hunter2").await;
        store
            .edit_message(room, message.id, ann, "oops", 1)
            .await
            .expect("edit")
            .expect("allowed");
        assert_eq!(
            store.earlier_texts(message.id).await.expect("history")[0].text,
            "my password is hunter2"
        );
        store
            .delete_message(room, message.id, Deleter::Member(ann), 2)
            .await
            .expect("delete")
            .expect("allowed");
        assert!(store
            .earlier_texts(message.id)
            .await
            .expect("history")
            .is_empty());
        let texts: Vec<String> = sqlx::query_scalar(
            "SELECT text FROM messages UNION ALL SELECT text FROM message_edits",
        )
        .fetch_all(store.sqlite_pool().expect("an SQLite store"))
        .await
        .expect("scan");
        assert!(
            texts
                .iter()
                .all(|t| !t.contains("hunter2") && !t.contains("oops")),
            "{texts:?}"
        );
        // The edit's replay no longer shows the words either.
        let events = store
            .events_between(room, 1, i64::MAX, 10)
            .await
            .expect("replay");
        assert!(
            events
                .iter()
                .all(|e| matches!(e, RoomEvent::Deleted { .. })),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn refusals_change_nothing_and_use_no_seq() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let bo = store.create_guest("bo").await.expect("guest").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let other = store.create_room("o", "O", None).await.expect("room").id;
        let message = post(&store, room, ann, "ann's").await;
        let elsewhere = post(&store, other, ann, "elsewhere").await;
        assert_eq!(
            store
                .edit_message(room, message.id, bo, "bo's now", 1)
                .await
                .expect("edit"),
            Err(Refusal::NotYours)
        );
        assert_eq!(
            store
                .delete_message(room, message.id, Deleter::Member(bo), 1)
                .await
                .expect("delete"),
            Err(Refusal::NotYours)
        );
        assert_eq!(
            store
                .edit_message(room, elsewhere.id, ann, "x", 1)
                .await
                .expect("edit"),
            Err(Refusal::NoSuchMessage),
            "a message of another room is not one of this room"
        );
        assert_eq!(
            store
                .edit_message(room, 999_999, ann, "x", 1)
                .await
                .expect("edit"),
            Err(Refusal::NoSuchMessage)
        );
        assert_eq!(store.room_head(room).await.expect("head").seq, 1);
        // The owner may delete anyone's; nobody may touch a deleted one.
        store
            .delete_message(room, message.id, Deleter::Owner(bo), 1)
            .await
            .expect("delete")
            .expect("the owner may");
        assert_eq!(
            store
                .edit_message(room, message.id, ann, "back", 2)
                .await
                .expect("edit"),
            Err(Refusal::NoSuchMessage)
        );
        assert_eq!(
            store
                .delete_message(room, message.id, Deleter::Member(ann), 2)
                .await
                .expect("delete"),
            Err(Refusal::NoSuchMessage)
        );
        assert_eq!(store.room_head(room).await.expect("head").seq, 2);
    }
}
