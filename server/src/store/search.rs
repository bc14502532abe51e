//! Full-text search (SQLite FTS5, kept in step with `messages` by triggers in the same
//! transaction): the newest messages matching every word, in the rooms a user may read.

use super::{columns::COLUMNS, rooms::visible_to, sqlite::SqliteDb, MessageRecord, StoreError};

/// Most words a search query may have (each is matched as a word prefix).
pub const MAX_SEARCH_WORDS: usize = 8;

impl SqliteDb {
    /// Up to `limit` messages, newest first, whose text has every word of `words` (as word
    /// prefixes), in the rooms `user_id` (0: anonymous) may read, or only in room `slug`.
    /// Each comes with its room's slug. Deleted messages (their text gone) match nothing.
    pub async fn search_messages(
        &self,
        words: &[String],
        user_id: i64,
        slug: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(MessageRecord, String)>, StoreError> {
        let Some(query) = fts_query(words) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM messages
              WHERE id IN (SELECT rowid FROM message_search WHERE message_search MATCH ?1)
                AND deleted_at IS NULL
                AND room_id IN (SELECT r.id FROM rooms r
                                 WHERE {visible} AND (?3 IS NULL OR r.slug = ?3))
              ORDER BY id DESC LIMIT ?4",
            visible = visible_to("?2"),
        );
        let rows = sqlx::query_as::<_, MessageRecord>(&sql)
            .bind(&query)
            .bind(user_id)
            .bind(slug)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let room_ids: Vec<i64> = rows.iter().map(|m| m.room_id).collect();
        let slugs: std::collections::HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
            "SELECT id, slug FROM rooms WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&room_ids).unwrap_or_else(|_| "[]".to_owned()))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        Ok(rows
            .into_iter()
            .filter_map(|m| slugs.get(&m.room_id).cloned().map(|slug| (m, slug)))
            .collect())
    }
}

/// The pieces of `words` a search looks for: each word cut where the index's tokenizer cuts
/// (at anything but letters, digits and combining marks), at most [`MAX_SEARCH_WORDS`].
/// Each piece holds only letters, digits and marks, so no input is query syntax on either
/// backend.
pub(super) fn search_terms(words: &[String]) -> Vec<&str> {
    let is_separator = |c: char| !(c.is_alphanumeric() || ('\u{300}'..='\u{36f}').contains(&c));
    words
        .iter()
        .flat_map(|word| word.split(is_separator))
        .filter(|piece| !piece.is_empty())
        .take(MAX_SEARCH_WORDS)
        .collect()
}

/// The FTS5 query for `words`: each piece a quoted prefix (`"lunc"*`), all required; `None`
/// when nothing is left.
fn fts_query(words: &[String]) -> Option<String> {
    let terms: Vec<String> = search_terms(words)
        .into_iter()
        .map(|piece| format!("\"{piece}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::store::{test_support::temp_store, Deleter, NewMessage};

    async fn post(store: &Store, room: i64, author: i64, text: &str) -> i64 {
        let draft = NewMessage {
            room_id: room,
            author_id: author,
            author_name: "ann".into(),
            text: text.to_owned(),
            client_id: None,
            sent_at: 1,
            reply_to: None,
        };
        store.insert_messages(&[&draft]).await.expect("insert")[0]
            .record()
            .id
    }

    fn words(q: &str) -> Vec<String> {
        q.split_whitespace().map(str::to_owned).collect()
    }

    async fn found(store: &Store, q: &str, user: i64) -> Vec<String> {
        store
            .search_messages(&words(q), user, None, 50)
            .await
            .expect("search")
            .into_iter()
            .map(|(m, _)| m.text)
            .collect()
    }

    #[tokio::test]
    async fn finds_words_and_prefixes_and_forgets_edited_and_deleted_text() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let lunch = post(&store, room, ann, "Lunch at the café?").await;
        let secret = post(&store, room, ann, "the password is hunter2").await;
        post(&store, room, ann, "한국어 검색도 됩니다").await;
        assert_eq!(
            found(&store, "lunch cafe", ann).await,
            ["Lunch at the café?"]
        );
        assert_eq!(found(&store, "lun", ann).await.len(), 1, "a prefix");
        assert_eq!(found(&store, "검색도", ann).await.len(), 1, "Hangul words");
        assert!(
            found(&store, "lunch hunter2", ann).await.is_empty(),
            "every word"
        );
        // FTS5 syntax typed by a user is just text.
        for hostile in [
            "\"",
            "*",
            "NEAR(",
            "text:lunch",
            "a OR b",
            "-lunch",
            "^",
            "e-mail",
            "don't",
        ] {
            store
                .search_messages(&words(hostile), ann, None, 50)
                .await
                .unwrap_or_else(|e| panic!("{hostile}: {e}"));
        }
        store
            .edit_message(room, lunch, ann, "Dinner instead", 2)
            .await
            .expect("edit")
            .expect("allowed");
        assert!(found(&store, "lunch", ann).await.is_empty(), "edited away");
        assert_eq!(found(&store, "dinner", ann).await.len(), 1);
        store
            .delete_message(room, secret, Deleter::Member(ann), 3)
            .await
            .expect("delete")
            .expect("allowed");
        assert!(found(&store, "hunter2", ann).await.is_empty(), "deleted");
        assert!(found(&store, "password", ann).await.is_empty());
        // SQLite 3.46's check reports a secure-delete in a `detail = none` index as corrupt
        // until its segments are merged; merged, the index must match the texts exactly.
        sqlx::query("INSERT INTO message_search (message_search) VALUES ('optimize')")
            .execute(store.sqlite_pool().expect("an SQLite store"))
            .await
            .expect("merge");
        assert_index_matches(&store).await;
    }

    /// FTS5's own check that the index holds exactly the words of the messages' texts
    /// (nothing missing, nothing twice, nothing left of edited or deleted text).
    async fn assert_index_matches(store: &Store) {
        sqlx::query(
            "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)",
        )
        .execute(store.sqlite_pool().expect("an SQLite store"))
        .await
        .expect("the search index matches the messages");
    }

    #[tokio::test]
    async fn every_new_message_of_a_batch_is_indexed_once_and_a_retry_not_again() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let one = store
            .create_room("one", "One", None)
            .await
            .expect("room")
            .id;
        let two = store
            .create_room("two", "Two", None)
            .await
            .expect("room")
            .id;
        post(&store, one, ann, "before the batch: walrus").await;
        let draft = |room: i64, text: &str, client_id: Option<&str>| NewMessage {
            room_id: room,
            author_id: ann,
            author_name: "ann".into(),
            text: text.to_owned(),
            client_id: client_id.map(str::to_owned),
            sent_at: 2,
            reply_to: None,
        };
        let batch = vec![
            draft(one, "walrus one", Some("a")),
            draft(two, "walrus two", None),
            draft(one, "walrus one", Some("a")), // a retry of the first: stored once
            draft(9_999, "walrus nowhere", None), // no such room: refused alone
            draft(two, "walrus three", None),
        ];
        let written = store.write_messages(batch).await;
        assert!(matches!(
            written.outcomes[2],
            Ok(crate::store::Inserted::Duplicate(_))
        ));
        assert!(written.outcomes[3].is_err());
        let mut texts = found(&store, "walrus", ann).await;
        texts.sort();
        assert_eq!(
            texts,
            [
                "before the batch: walrus",
                "walrus one",
                "walrus three",
                "walrus two"
            ]
        );
        assert_index_matches(&store).await;
        // The next batch indexes its own rows only.
        post(&store, two, ann, "after: walrus").await;
        assert_eq!(found(&store, "walrus", ann).await.len(), 5);
        assert_index_matches(&store).await;
    }

    #[tokio::test]
    async fn a_private_rooms_messages_are_found_by_its_members_alone() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("guest").id;
        let bo = store.create_guest("bo").await.expect("guest").id;
        let room = store
            .create_room_with("p", "P", Some(ann), Some(&[]))
            .await
            .expect("room")
            .id;
        post(&store, room, ann, "our secret plan").await;
        assert_eq!(found(&store, "plan", ann).await.len(), 1);
        assert!(found(&store, "plan", bo).await.is_empty());
        assert!(found(&store, "plan", 0).await.is_empty());
    }
}
