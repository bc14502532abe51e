//! The `read_markers` table: how far each user has read each room, and the unread and
//! mention counts that follow from it.

use super::{sqlite::SqliteDb, RoomCursor, RoomWithStats, StoreError};

/// Unread figures of one room for one user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Unread {
    /// Messages by others after the marker (at most [`app::protocol::UNREAD_CAP`]).
    pub unread: i64,
    /// How many of them contain `@username`.
    pub mentions: i64,
    /// The marker (or the user's floor when they never read the room).
    pub up_to: i64,
}

/// A room of the list with the viewer's figures and its newest message.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ListedRoom {
    /// The room's figures.
    #[sqlx(flatten)]
    pub room: RoomWithStats,
    /// The viewer's unread figures.
    #[sqlx(flatten)]
    pub unread: Unread,
    /// The newest message's id, author, text and time, if any.
    pub last_id: Option<i64>,
    /// Its author's name.
    pub last_author: Option<String>,
    /// Its text.
    pub last_text: Option<String>,
    /// Its time (Unix milliseconds).
    pub last_sent_at: Option<i64>,
}

/// The viewer's marker in room `r` (the user's floor when there is none); bound: ?1 user id.
const MARKER: &str = "MAX(
    COALESCE((SELECT up_to FROM read_markers WHERE user_id = ?1 AND room_id = r.id), 0),
    COALESCE((SELECT read_floor FROM users WHERE id = ?1), 0))";

/// The unread columns for room `r`; bound: ?1 user id, ?2 the `%@name%` pattern ('' for
/// none). Counted along the (room_id, id) index from the marker on; deleted messages are
/// nothing to read (and, their text gone, mention no one).
fn unread_columns() -> String {
    format!(
        "MIN({cap}, (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.id > {MARKER}
                      AND m.author_id != ?1 AND m.deleted_at IS NULL)) AS unread,
         CASE WHEN ?2 = '' THEN 0 ELSE
             MIN({cap}, (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.id > {MARKER}
                          AND m.author_id != ?1 AND m.text LIKE ?2 ESCAPE '\\')) END AS mentions,
         {MARKER} AS up_to",
        cap = app::protocol::UNREAD_CAP,
    )
}

/// `%@name%` for LIKE, with LIKE's wildcards in the name escaped; '' for no name.
pub(super) fn mention_pattern(username: Option<&str>) -> String {
    match username {
        Some(name) if !name.is_empty() => {
            let escaped = name
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%@{escaped}%")
        }
        _ => String::new(),
    }
}

impl SqliteDb {
    /// Moves `user_id`'s marker in `room_id` to `up_to` unless it is already further, and
    /// returns where it stands.
    pub async fn mark_read(
        &self,
        user_id: i64,
        room_id: i64,
        up_to: i64,
    ) -> Result<i64, StoreError> {
        let stands = sqlx::query_scalar::<_, i64>(
            "INSERT INTO read_markers (user_id, room_id, up_to) VALUES (?, ?, ?)
             ON CONFLICT (user_id, room_id) DO UPDATE SET up_to = MAX(up_to, excluded.up_to)
             RETURNING up_to",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(up_to)
        .fetch_one(&self.pool)
        .await?;
        Ok(stands)
    }

    /// Whether message `id` is in room `room_id`.
    pub async fn message_in_room(&self, id: i64, room_id: i64) -> Result<bool, StoreError> {
        let found =
            sqlx::query_scalar::<_, i64>("SELECT 1 FROM messages WHERE id = ? AND room_id = ?")
                .bind(id)
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// `user_id`'s unread figures in one room (`username` for the mention count).
    pub async fn unread(
        &self,
        user_id: i64,
        username: Option<&str>,
        room_id: i64,
    ) -> Result<Unread, StoreError> {
        let sql = format!("SELECT {} FROM rooms r WHERE r.id = ?3", unread_columns());
        let unread = sqlx::query_as::<_, Unread>(&sql)
            .bind(user_id)
            .bind(mention_pattern(username))
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(unread.unwrap_or_default())
    }

    /// [`Store::list_rooms`] with `user_id`'s unread figures and each room's newest message
    /// (one query; anonymous viewers pass user id 0 and get zeros).
    pub async fn list_rooms_for(
        &self,
        user_id: i64,
        username: Option<&str>,
        limit: u32,
        cursor: Option<RoomCursor>,
    ) -> Result<Vec<ListedRoom>, StoreError> {
        let cursor = cursor.unwrap_or(RoomCursor {
            active_at: i64::MAX,
            id: i64::MAX,
        });
        let sql = listed_sql(
            user_id,
            "(r.active_at, r.id) < (?3, ?4) ORDER BY r.active_at DESC, r.id DESC LIMIT ?5",
        );
        let rooms = sqlx::query_as::<_, ListedRoom>(&sql)
            .bind(user_id)
            .bind(mention_pattern(username))
            .bind(cursor.active_at)
            .bind(cursor.id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rooms)
    }

    /// One room of [`Store::list_rooms_for`], by slug.
    pub async fn listed_room(
        &self,
        user_id: i64,
        username: Option<&str>,
        slug: &str,
    ) -> Result<Option<ListedRoom>, StoreError> {
        let sql = listed_sql(user_id, "r.slug = ?3");
        let room = sqlx::query_as::<_, ListedRoom>(&sql)
            .bind(user_id)
            .bind(mention_pattern(username))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(room)
    }
}

/// The room-list query for `user_id` (0: anonymous, bound at ?1) over the rooms they may see,
/// with `tail` (the rest of the WHERE, ORDER, LIMIT, binding from ?3 on).
fn listed_sql(user_id: i64, tail: &str) -> String {
    let unread = if user_id == 0 {
        "0 AS unread, 0 AS mentions, 0 AS up_to".to_owned()
    } else {
        unread_columns()
    };
    format!(
        "SELECT r.slug, r.title, r.message_count, r.last_message_at, r.owner_id, r.active_at,
                r.id, r.private, {unread},
                lm.id AS last_id, lm.author_name AS last_author, lm.text AS last_text,
                lm.sent_at AS last_sent_at
         FROM rooms r LEFT JOIN messages lm ON lm.id = r.last_message_id AND r.last_message_id > 0
         WHERE {visible} AND {tail}",
        visible = super::rooms::visible_to("?1"),
    )
}

#[cfg(test)]
mod tests {
    use crate::store::{test_support::temp_store, NewMessage};

    fn draft(room_id: i64, author_id: i64, text: &str) -> NewMessage {
        NewMessage {
            room_id,
            author_id,
            author_name: format!("u{author_id}"),
            text: text.to_owned(),
            client_id: None,
            sent_at: crate::store::now_millis(),
            reply_to: None,
        }
    }

    #[tokio::test]
    async fn markers_only_move_forward_and_counts_follow_them() {
        let (store, _dir) = temp_store().await;
        let ann = store.create_guest("ann").await.expect("ann").id;
        let bo = store.create_guest("bo").await.expect("bo").id;
        let room = store.create_room("r", "R", None).await.expect("room").id;
        let texts = ["hi", "hey @ann", "@ann_x not you", "bye"];
        let drafts: Vec<NewMessage> = texts.iter().map(|t| draft(room, bo, t)).collect();
        let refs: Vec<&NewMessage> = drafts.iter().collect();
        let rows = store.insert_messages(&refs).await.expect("insert");
        let ids: Vec<i64> = rows.iter().map(|r| r.record().id).collect();
        // ann arrived before the messages: all four are unread, one mentions her.
        let unread = store.unread(ann, Some("ann"), room).await.expect("unread");
        assert_eq!(
            (unread.unread, unread.mentions),
            (4, 2),
            "LIKE counts @ann_x too"
        );
        assert_eq!(
            store.mark_read(ann, room, ids[1]).await.expect("mark"),
            ids[1]
        );
        assert_eq!(
            store.mark_read(ann, room, ids[0]).await.expect("mark"),
            ids[1],
            "a marker never moves back"
        );
        let unread = store.unread(ann, Some("ann"), room).await.expect("unread");
        assert_eq!(unread.unread, 2);
        // A deleted message is nothing to read any more.
        let deleted = store
            .delete_message(room, ids[2], crate::store::Deleter::Member(bo), 1)
            .await
            .expect("delete")
            .is_ok();
        assert!(deleted);
        let unread = store.unread(ann, Some("ann"), room).await.expect("unread");
        assert_eq!(unread.unread, 1);
        // bo's own messages are never unread to him.
        assert_eq!(
            store.unread(bo, None, room).await.expect("unread").unread,
            0
        );
        // A user who arrives later starts from the newest message.
        let cy = store.create_guest("cy").await.expect("cy").id;
        assert_eq!(
            store.unread(cy, None, room).await.expect("unread").unread,
            0
        );
        let listed = store
            .list_rooms_for(ann, Some("ann"), 10, None)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].unread.unread, 1);
        assert_eq!(listed[0].last_text.as_deref(), Some("bye"));
        assert!(store.message_in_room(ids[0], room).await.expect("in room"));
        assert!(!store
            .message_in_room(ids[0] + 100, room)
            .await
            .expect("not"));
    }
}
