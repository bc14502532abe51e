//! The `messages` table: batched, idempotent inserts (written by the writer's connection,
//! `store::writer`) and the reads behind history, catch-up and gap repair.

use super::{columns::COLUMNS, sqlite::SqliteDb, RoomWithStats, StoreError};

/// A message about to be stored.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The room's row id.
    pub room_id: i64,
    /// The author's user id.
    pub author_id: i64,
    /// The author's display name now.
    pub author_name: String,
    /// Validated text.
    pub text: String,
    /// Idempotency key, if the client sent one.
    pub client_id: Option<String>,
    /// Unix milliseconds.
    pub sent_at: i64,
    /// The message of the same room this one answers (checked by the chat service).
    pub reply_to: Option<i64>,
}

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRecord {
    /// Row id: the message id on the wire.
    pub id: i64,
    /// The room's row id.
    pub room_id: i64,
    /// Position in the room: 1, 2, 3, … in id order.
    pub seq: i64,
    /// The author's user id.
    pub author_id: i64,
    /// The author's name when it was sent.
    pub author_name: String,
    /// The text.
    pub text: String,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// Unix milliseconds.
    pub sent_at: i64,
    /// When it was last edited (unix milliseconds), if ever.
    pub edited_at: Option<i64>,
    /// When it was deleted, if it was: the text is then empty (a tombstone).
    pub deleted_at: Option<i64>,
    /// The message this one answers, if any.
    pub reply_to: Option<i64>,
    /// That message's author, read with this row (`None` when there is none).
    pub reply_author: Option<String>,
    /// That message's text as it stands now (empty once it was deleted).
    pub reply_text: Option<String>,
    /// The emoji on it and who put them there, read with the row.
    #[sqlx(try_from = "String")]
    pub reactions: super::Reactions,
}

/// The outcome of inserting one [`NewMessage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new row.
    New(MessageRecord),
    /// The same author had already sent this `client_id`: the earlier row, unchanged.
    Duplicate(MessageRecord),
}

impl Inserted {
    /// The stored row, new or earlier.
    pub fn record(&self) -> &MessageRecord {
        match self {
            Inserted::New(record) | Inserted::Duplicate(record) => record,
        }
    }
}

/// What a batch write did: one outcome per message, in order, and the new figures of every
/// room that gained a message.
#[derive(Debug)]
pub struct Written {
    /// Per message: the new row, the earlier row of a retry, or its own failure.
    pub outcomes: Vec<Result<Inserted, StoreError>>,
    /// The rooms the batch changed, as the room list shows them.
    pub rooms: Vec<RoomWithStats>,
}

/// The newest message of a room: where a live follower starts counting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomHead {
    /// Its id (0 for an empty room).
    pub id: i64,
    /// Its seq (0 for an empty room).
    pub seq: i64,
}

impl SqliteDb {
    /// Stores a batch of messages in one transaction (one fsync for the lot), in order, on
    /// the writer's own connection (see `writer`): one outcome per message — the new row, the
    /// earlier row for a retried `(author, client_id)`, or that message's own failure. A
    /// failure of the whole batch (disk, lock timeout) is every message's.
    pub async fn write_messages(&self, batch: Vec<NewMessage>) -> Written {
        self.writer.write(batch).await
    }

    /// The room's newest message id and seq (zeros when empty): one primary-key read.
    pub async fn room_head(&self, room_id: i64) -> Result<RoomHead, StoreError> {
        let head = sqlx::query_as::<_, (i64, i64)>(
            "SELECT last_message_id, last_seq FROM rooms WHERE id = ?",
        )
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(head
            .map(|(id, seq)| RoomHead { id, seq })
            .unwrap_or_default())
    }

    /// Up to `limit` messages with `after < id <= until`, oldest first.
    pub async fn messages_between(
        &self,
        room_id: i64,
        after: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let rows = sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND id > ? AND id <= ?
             ORDER BY id LIMIT ?"
        ))
        .bind(room_id)
        .bind(after)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The `limit` newest messages before `before` (all when `None`), oldest first.
    pub async fn messages_before(
        &self,
        room_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut rows = sqlx::query_as::<_, MessageRecord>(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND id < ?
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(room_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.reverse();
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;
    use crate::store::Store;

    fn draft(room_id: i64, author_id: i64, text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room_id,
            author_id,
            author_name: format!("user{author_id}"),
            text: text.to_owned(),
            client_id: client_id.map(str::to_owned),
            sent_at: 1_700_000_000_000,
            reply_to: None,
        }
    }

    #[tokio::test]
    async fn batch_assigns_ids_and_per_room_seqs_in_order() {
        let (store, _dir) = temp_store().await;
        let user = store.create_guest("ann").await.expect("guest");
        let a = store.create_room("a", "A", None).await.expect("room a");
        let b = store.create_room("b", "B", None).await.expect("room b");
        let drafts = [
            draft(a.id, user.id, "a1", None),
            draft(b.id, user.id, "b1", None),
            draft(a.id, user.id, "a2", None),
        ];
        let refs: Vec<&NewMessage> = drafts.iter().collect();
        let done = store.insert_messages(&refs).await.expect("insert");
        let seqs: Vec<(String, i64)> = done
            .iter()
            .map(|i| (i.record().text.clone(), i.record().seq))
            .collect();
        assert_eq!(
            seqs,
            vec![("a1".into(), 1), ("b1".into(), 1), ("a2".into(), 2)]
        );
        assert!(done[0].record().id < done[1].record().id);
        assert!(done[1].record().id < done[2].record().id);

        let more = [draft(a.id, user.id, "a3", None)];
        let refs: Vec<&NewMessage> = more.iter().collect();
        let done = store.insert_messages(&refs).await.expect("insert");
        assert_eq!(done[0].record().seq, 3, "seq continues across batches");
        let head = store.room_head(a.id).await.expect("head");
        assert_eq!(head.seq, 3);

        let stats = store.room_stats(a.id).await.expect("stats").expect("room");
        assert_eq!(stats.message_count, 3);
        assert_eq!(stats.last_message_at, Some(1_700_000_000_000));
    }

    #[tokio::test]
    async fn same_author_and_client_id_is_stored_once() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest");
        let bob = store.create_guest("bob").await.expect("guest");
        let room = store.create_room("r", "R", None).await.expect("room");
        let drafts = [
            draft(room.id, ann.id, "hello", Some("c1")),
            draft(room.id, ann.id, "hello again", Some("c1")),
            draft(room.id, bob.id, "bob's own c1", Some("c1")),
        ];
        let refs: Vec<&NewMessage> = drafts.iter().collect();
        let done = store.insert_messages(&refs).await.expect("insert");
        assert!(matches!(done[0], Inserted::New(_)));
        match &done[1] {
            Inserted::Duplicate(earlier) => {
                assert_eq!(earlier.id, done[0].record().id);
                assert_eq!(earlier.text, "hello");
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
        assert!(
            matches!(done[2], Inserted::New(_)),
            "another author may reuse a client_id"
        );
        assert_eq!(done[2].record().seq, 2, "a duplicate does not use up a seq");

        // And across batches.
        let again = [draft(room.id, ann.id, "retry", Some("c1"))];
        let refs: Vec<&NewMessage> = again.iter().collect();
        let done_again = store.insert_messages(&refs).await.expect("insert");
        assert_eq!(done_again[0], Inserted::Duplicate(done[0].record().clone()));
        let all = store.messages_after(room.id, 0, 100).await.expect("read");
        assert_eq!(all.len(), 2);
    }

    #[tokio::test]
    async fn reads_page_in_id_order() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest");
        let room = store.create_room("r", "R", None).await.expect("room");
        let drafts: Vec<NewMessage> = (1..=10)
            .map(|i| draft(room.id, ann.id, &format!("m{i}"), None))
            .collect();
        let refs: Vec<&NewMessage> = drafts.iter().collect();
        let done = store.insert_messages(&refs).await.expect("insert");
        let ids: Vec<i64> = done.iter().map(|i| i.record().id).collect();

        let after = store
            .messages_after(room.id, ids[6], 100)
            .await
            .expect("after");
        assert_eq!(
            after.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["m8", "m9", "m10"]
        );
        let latest = store
            .messages_before(room.id, None, 3)
            .await
            .expect("latest");
        assert_eq!(
            latest.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["m8", "m9", "m10"]
        );
        let older = store
            .messages_before(room.id, Some(ids[2]), 5)
            .await
            .expect("older");
        assert_eq!(
            older.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        let between = store
            .messages_between(room.id, ids[0], ids[3], 100)
            .await
            .expect("between");
        assert_eq!(between.len(), 3);
    }

    #[tokio::test]
    async fn data_survives_reopening_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/dir/parlor.db");
        {
            let store = Store::open_sqlite(&path).await.expect("open");
            let ann = store.create_guest("ann").await.expect("guest");
            let room = store.create_room("keep", "Keep", None).await.expect("room");
            let drafts = [draft(room.id, ann.id, "persisted", None)];
            let refs: Vec<&NewMessage> = drafts.iter().collect();
            store.insert_messages(&refs).await.expect("insert");
            store.sqlite_pool().expect("an SQLite store").close().await;
        }
        let store = Store::open_sqlite(&path).await.expect("reopen");
        let room = store
            .room_by_slug("keep")
            .await
            .expect("query")
            .expect("room exists");
        let messages = store.messages_after(room.id, 0, 10).await.expect("read");
        assert_eq!(messages[0].text, "persisted");
    }

    #[tokio::test]
    async fn duplicate_room_slug_is_reported() {
        let (store, _dir) = temp_store().await;
        store.create_room("dup", "One", None).await.expect("first");
        let err = store
            .create_room("dup", "Two", None)
            .await
            .expect_err("second must fail");
        assert!(matches!(err, StoreError::Duplicate), "{err:?}");
    }
}
