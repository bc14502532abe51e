//! The `messages` table: batched, idempotent inserts and the reads behind history, catch-up
//! and gap repair.

use super::{Store, StoreError};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use std::collections::HashMap;

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

/// The newest message of a room: where a live follower starts counting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomHead {
    /// Its id (0 for an empty room).
    pub id: i64,
    /// Its seq (0 for an empty room).
    pub seq: i64,
}

const COLUMNS: &str = "id, room_id, seq, author_id, author_name, text, client_id, sent_at";

impl Store {
    /// Stores a batch of messages in one transaction (one fsync for the lot), in order.
    ///
    /// The transaction starts with `BEGIN IMMEDIATE`, taking SQLite's write lock before it
    /// reads anything: another process sharing the file cannot slip a message in between, so
    /// seqs stay gap-free and in id order. The whole batch is a handful of statements
    /// whatever its size: the rooms' heads in one read, multi-row inserts, the rooms'
    /// counters and heads in one update. Retries (a `client_id` already stored) are rare:
    /// the inserts skip them, and only then is the batch redone with a lookup first.
    pub async fn insert_messages(
        &self,
        batch: &[&NewMessage],
    ) -> Result<Vec<Inserted>, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(results) = write_batch(&mut tx, batch, &HashMap::new()).await? {
            tx.commit().await?;
            return Ok(results);
        }
        // Some message was a retry: start over, knowing which.
        tx.rollback().await?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let earlier = earlier_rows(&mut tx, batch).await?;
        let results = write_batch(&mut tx, batch, &earlier)
            .await?
            .ok_or_else(|| StoreError::BatchFailed("a retry was not recognised".into()))?;
        tx.commit().await?;
        Ok(results)
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

    /// Up to `limit` messages after `after`, oldest first.
    pub async fn messages_after(
        &self,
        room_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.messages_between(room_id, after, i64::MAX, limit).await
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

/// Rows per multi-row INSERT: 7 parameters each stays far below SQLite's 32,766.
const INSERT_ROWS: usize = 256;

/// Inserts a batch, given the rows already stored for retried `client_id`s. Returns `None`
/// when an insert met a `client_id` that `earlier` did not know (the caller rolls back and
/// asks again with a lookup): seqs were assigned assuming it was new.
async fn write_batch(
    tx: &mut Transaction<'_, Sqlite>,
    batch: &[&NewMessage],
    earlier: &HashMap<(i64, String), MessageRecord>,
) -> Result<Option<Vec<Inserted>>, StoreError> {
    // Decide what each draft is: a retry of an earlier row, a retry of a row earlier in
    // this batch, or a new row with the next seq of its room.
    enum Outcome {
        Earlier(MessageRecord),
        SameAs(usize),
        New(usize),
    }
    let mut next_seq = heads(tx, batch).await?;
    let mut fresh: Vec<(&NewMessage, i64)> = Vec::with_capacity(batch.len());
    let mut in_batch: HashMap<(i64, &str), usize> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for message in batch {
        let key = message.client_id.as_deref().map(|c| (message.author_id, c));
        if let Some(key) = key {
            if let Some(row) = earlier.get(&(key.0, key.1.to_owned())) {
                outcomes.push(Outcome::Earlier(row.clone()));
                continue;
            }
            if let Some(first) = in_batch.get(&key) {
                outcomes.push(Outcome::SameAs(*first));
                continue;
            }
        }
        let seq = next_seq.entry(message.room_id).or_insert(0);
        *seq += 1;
        if let Some(key) = key {
            in_batch.insert(key, fresh.len());
        }
        outcomes.push(Outcome::New(fresh.len()));
        fresh.push((message, *seq));
    }

    let mut stored: HashMap<(i64, i64), MessageRecord> = HashMap::with_capacity(fresh.len());
    for rows in fresh.chunks(INSERT_ROWS) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (room_id, seq, author_id, author_name, text, client_id, sent_at) ",
        );
        insert.push_values(rows, |mut row, (message, seq)| {
            row.push_bind(message.room_id)
                .push_bind(*seq)
                .push_bind(message.author_id)
                .push_bind(&message.author_name)
                .push_bind(&message.text)
                .push_bind(&message.client_id)
                .push_bind(message.sent_at);
        });
        // Only the ids come back: the rest of each row is the draft we already hold.
        insert.push(" ON CONFLICT (author_id, client_id) DO NOTHING RETURNING id, room_id, seq");
        let ids = insert
            .build_query_as::<(i64, i64, i64)>()
            .fetch_all(&mut **tx)
            .await?;
        if ids.len() != rows.len() {
            return Ok(None);
        }
        let drafts: HashMap<(i64, i64), &NewMessage> = rows
            .iter()
            .map(|(message, seq)| ((message.room_id, *seq), *message))
            .collect();
        for (id, room_id, seq) in ids {
            if let Some(message) = drafts.get(&(room_id, seq)) {
                stored.insert((room_id, seq), record_from(id, seq, message));
            }
        }
    }
    update_rooms(tx, &fresh, &stored).await?;

    let record_of = |index: usize| {
        let (message, seq) = fresh[index];
        stored
            .get(&(message.room_id, seq))
            .cloned()
            .ok_or_else(|| StoreError::BatchFailed("an inserted row was not returned".into()))
    };
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Earlier(row) => Ok(Inserted::Duplicate(row)),
            Outcome::SameAs(index) => record_of(index).map(Inserted::Duplicate),
            Outcome::New(index) => record_of(index).map(Inserted::New),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The stored row of a draft, given its id and seq.
fn record_from(id: i64, seq: i64, message: &NewMessage) -> MessageRecord {
    MessageRecord {
        id,
        room_id: message.room_id,
        seq,
        author_id: message.author_id,
        author_name: message.author_name.clone(),
        text: message.text.clone(),
        client_id: message.client_id.clone(),
        sent_at: message.sent_at,
    }
}

/// The latest seq of every room in the batch, in one read.
async fn heads(
    tx: &mut Transaction<'_, Sqlite>,
    batch: &[&NewMessage],
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut rooms: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut query = QueryBuilder::<Sqlite>::new("SELECT id, last_seq FROM rooms WHERE id IN (");
    let mut ids = query.separated(", ");
    for room in &rooms {
        ids.push_bind(*room);
    }
    query.push(")");
    let rows = query
        .build_query_as::<(i64, i64)>()
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Adds the batch to its rooms' counters and heads, in one statement.
async fn update_rooms(
    tx: &mut Transaction<'_, Sqlite>,
    fresh: &[(&NewMessage, i64)],
    stored: &HashMap<(i64, i64), MessageRecord>,
) -> Result<(), StoreError> {
    // room -> (messages added, newest sent_at, newest seq, newest id)
    let mut rooms: HashMap<i64, (i64, i64, i64, i64)> = HashMap::new();
    for (message, seq) in fresh {
        let id = stored
            .get(&(message.room_id, *seq))
            .map_or(0, |record| record.id);
        let entry = rooms.entry(message.room_id).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(message.sent_at);
        entry.2 = entry.2.max(*seq);
        entry.3 = entry.3.max(id);
    }
    if rooms.is_empty() {
        return Ok(());
    }
    let mut update =
        QueryBuilder::<Sqlite>::new("WITH batch (id, added, sent_at, seq, message_id) AS (");
    update.push_values(&rooms, |mut row, (room, (added, sent_at, seq, id))| {
        row.push_bind(*room)
            .push_bind(*added)
            .push_bind(*sent_at)
            .push_bind(*seq)
            .push_bind(*id);
    });
    update.push(
        ") UPDATE rooms SET
             message_count = message_count + batch.added,
             last_message_at = MAX(COALESCE(last_message_at, 0), batch.sent_at),
             active_at = MAX(active_at, batch.sent_at),
             last_seq = batch.seq,
             last_message_id = batch.message_id
         FROM batch WHERE rooms.id = batch.id",
    );
    update.build().execute(&mut **tx).await?;
    Ok(())
}

/// Rows already stored for the batch's `(author, client_id)` pairs (retries), in one query.
async fn earlier_rows(
    tx: &mut Transaction<'_, Sqlite>,
    batch: &[&NewMessage],
) -> Result<HashMap<(i64, String), MessageRecord>, StoreError> {
    let keyed: Vec<(i64, &str)> = batch
        .iter()
        .filter_map(|m| m.client_id.as_deref().map(|c| (m.author_id, c)))
        .collect();
    let mut earlier = HashMap::new();
    for keys in keyed.chunks(INSERT_ROWS) {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {COLUMNS} FROM messages WHERE (author_id, client_id) IN (VALUES "
        ));
        let mut values = query.separated(", ");
        for (author_id, client_id) in keys {
            values.push("(");
            values.push_bind_unseparated(*author_id);
            values.push_unseparated(", ");
            values.push_bind_unseparated(*client_id);
            values.push_unseparated(")");
        }
        query.push(")");
        let rows = query
            .build_query_as::<MessageRecord>()
            .fetch_all(&mut **tx)
            .await?;
        for row in rows {
            if let Some(client_id) = row.client_id.clone() {
                earlier.insert((row.author_id, client_id), row);
            }
        }
    }
    Ok(earlier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    fn draft(room_id: i64, author_id: i64, text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room_id,
            author_id,
            author_name: format!("user{author_id}"),
            text: text.to_owned(),
            client_id: client_id.map(str::to_owned),
            sent_at: 1_700_000_000_000,
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
            let store = Store::open_and_migrate(&path).await.expect("open");
            let ann = store.create_guest("ann").await.expect("guest");
            let room = store.create_room("keep", "Keep", None).await.expect("room");
            let drafts = [draft(room.id, ann.id, "persisted", None)];
            let refs: Vec<&NewMessage> = drafts.iter().collect();
            store.insert_messages(&refs).await.expect("insert");
            store.pool().close().await;
        }
        let store = Store::open_and_migrate(&path).await.expect("reopen");
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
