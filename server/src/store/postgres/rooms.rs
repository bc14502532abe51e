//! Rooms, their members, read markers and the room list with unread counts, on PostgreSQL.

use super::{visible_to, PgDb};
use crate::store::{
    now_millis, ListedRoom, RoomCursor, RoomRecord, RoomWithStats, StoreError, Unread,
};
use sqlx::{Postgres, Transaction};

/// The columns of a [`RoomRecord`].
const ROOM: &str = "id, slug, title, owner_id, private";
/// The columns of a [`RoomWithStats`].
const STATS: &str = "slug, title, message_count, last_message_at, owner_id, active_at, id, private";

/// Where the user's reading stands in room `r` (`$1` is the user): the marker, or the floor
/// every user starts from.
const MARKER: &str = "GREATEST(
    COALESCE((SELECT up_to FROM read_markers WHERE user_id = $1 AND room_id = r.id), 0),
    COALESCE((SELECT read_floor FROM users WHERE id = $1), 0))";

/// Unread and mention counts of room `r` for user `$1`, whose mention pattern is `$2`.
fn unread_columns() -> String {
    format!(
        "LEAST({cap}, (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.id > {MARKER}
                        AND m.author_id <> $1 AND m.deleted_at IS NULL)) AS unread,
         CASE WHEN $2 = '' THEN 0::BIGINT ELSE
             LEAST({cap}, (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.id > {MARKER}
                            AND m.author_id <> $1 AND m.text LIKE $2 ESCAPE '\\')) END AS mentions,
         {MARKER} AS up_to",
        cap = app::protocol::UNREAD_CAP,
    )
}

/// A room list query for user `$1` (pattern `$2`), with `tail` after its visibility check.
fn listed_sql(user_id: i64, tail: &str) -> String {
    let unread = if user_id == 0 {
        "0::BIGINT AS unread, 0::BIGINT AS mentions, 0::BIGINT AS up_to".to_owned()
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
        visible = visible_to("$1"),
    )
}

impl PgDb {
    /// Creates a room; with `members`, a private one.
    pub async fn create_room_with(
        &self,
        slug: &str,
        title: &str,
        owner_id: Option<i64>,
        members: Option<&[i64]>,
    ) -> Result<RoomRecord, StoreError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let room = sqlx::query_as::<_, RoomRecord>(&format!(
            "INSERT INTO rooms (slug, title, owner_id, created_at, active_at, private)
             VALUES ($1, $2, $3, $4, $4, $5) RETURNING {ROOM}"
        ))
        .bind(slug)
        .bind(title)
        .bind(owner_id)
        .bind(now)
        .bind(members.is_some())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_insert)?;
        if let Some(members) = members {
            for user_id in owner_id.iter().chain(members) {
                add_member(&mut tx, room.id, *user_id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(room)
    }

    /// Opens (or returns) the one private room of two users.
    pub async fn open_direct_room(
        &self,
        pair: (i64, i64),
        slug: &str,
        title: &str,
    ) -> Result<(RoomRecord, bool), StoreError> {
        let (a, b) = pair;
        let key = format!("{}:{}", a.min(b), a.max(b));
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let created = sqlx::query_as::<_, RoomRecord>(&format!(
            "INSERT INTO rooms (slug, title, owner_id, created_at, active_at, private, dm_key)
             VALUES ($1, $2, NULL, $3, $3, TRUE, $4)
             ON CONFLICT (dm_key) WHERE dm_key IS NOT NULL DO NOTHING
             RETURNING {ROOM}"
        ))
        .bind(slug)
        .bind(title)
        .bind(now)
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from_insert)?;
        let (room, new) = match created {
            Some(room) => {
                for user_id in [a, b] {
                    add_member(&mut tx, room.id, user_id, now).await?;
                }
                (room, true)
            }
            None => (
                sqlx::query_as::<_, RoomRecord>(&format!(
                    "SELECT {ROOM} FROM rooms WHERE dm_key = $1"
                ))
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?,
                false,
            ),
        };
        tx.commit().await?;
        Ok((room, new))
    }

    /// Adds a member to a private room (idempotent).
    pub async fn add_room_member(&self, room_id: i64, user_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        add_member(&mut tx, room_id, user_id, now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The members of a private room.
    pub async fn room_member_ids(&self, room_id: i64) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT user_id FROM room_members WHERE room_id = $1")
                .bind(room_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A room by slug, private or not.
    pub async fn room_by_slug(&self, slug: &str) -> Result<Option<RoomRecord>, StoreError> {
        Ok(
            sqlx::query_as::<_, RoomRecord>(&format!("SELECT {ROOM} FROM rooms WHERE slug = $1"))
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// A room by slug if the user may see it.
    pub async fn visible_room(
        &self,
        slug: &str,
        user_id: i64,
    ) -> Result<Option<RoomRecord>, StoreError> {
        Ok(sqlx::query_as::<_, RoomRecord>(&format!(
            "SELECT {ROOM} FROM rooms r WHERE slug = $1 AND {}",
            visible_to("$2")
        ))
        .bind(slug)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether the room exists.
    pub async fn room_exists(&self, room_id: i64) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<_, bool>("SELECT TRUE FROM rooms WHERE id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Public rooms, most active first, after `cursor`.
    pub async fn list_rooms(
        &self,
        limit: u32,
        cursor: Option<RoomCursor>,
    ) -> Result<Vec<RoomWithStats>, StoreError> {
        let cursor = cursor.unwrap_or(RoomCursor {
            active_at: i64::MAX,
            id: i64::MAX,
        });
        Ok(sqlx::query_as::<_, RoomWithStats>(&format!(
            "SELECT {STATS} FROM rooms WHERE (active_at, id) < ($1, $2) AND NOT private
             ORDER BY active_at DESC, id DESC LIMIT $3"
        ))
        .bind(cursor.active_at)
        .bind(cursor.id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Rooms the user owns, in all and created since `since`.
    pub async fn rooms_owned(&self, owner_id: i64, since: i64) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE created_at >= $1) FROM rooms
              WHERE owner_id = $2",
        )
        .bind(since)
        .bind(owner_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// One room's figures.
    pub async fn room_stats(&self, room_id: i64) -> Result<Option<RoomWithStats>, StoreError> {
        Ok(
            sqlx::query_as::<_, RoomWithStats>(&format!("SELECT {STATS} FROM rooms WHERE id = $1"))
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Renames a room.
    pub async fn rename_room(&self, room_id: i64, title: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE rooms SET title = $1 WHERE id = $2")
            .bind(title)
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a room and everything in it.
    pub async fn delete_room(&self, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM rooms WHERE id = $1")
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves the user's read marker forward (never back); returns where it stands.
    pub async fn mark_read(
        &self,
        user_id: i64,
        room_id: i64,
        up_to: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "INSERT INTO read_markers (user_id, room_id, up_to) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, room_id)
             DO UPDATE SET up_to = GREATEST(read_markers.up_to, excluded.up_to)
             RETURNING up_to",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(up_to)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Whether message `id` is in the room.
    pub async fn message_in_room(&self, id: i64, room_id: i64) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<_, bool>(
            "SELECT TRUE FROM messages WHERE id = $1 AND room_id = $2",
        )
        .bind(id)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// The user's unread and mention counts in one room.
    pub async fn unread(
        &self,
        user_id: i64,
        username: Option<&str>,
        room_id: i64,
    ) -> Result<Unread, StoreError> {
        let sql = format!("SELECT {} FROM rooms r WHERE r.id = $3", unread_columns());
        let unread = sqlx::query_as::<_, Unread>(&sql)
            .bind(user_id)
            .bind(crate::store::reads::mention_pattern(username))
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(unread.unwrap_or_default())
    }

    /// The rooms the user may see, most active first, with unread counts.
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
            "(r.active_at, r.id) < ($3, $4) ORDER BY r.active_at DESC, r.id DESC LIMIT $5",
        );
        Ok(sqlx::query_as::<_, ListedRoom>(&sql)
            .bind(user_id)
            .bind(crate::store::reads::mention_pattern(username))
            .bind(cursor.active_at)
            .bind(cursor.id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    /// One room as the room list shows it to the user.
    pub async fn listed_room(
        &self,
        user_id: i64,
        username: Option<&str>,
        slug: &str,
    ) -> Result<Option<ListedRoom>, StoreError> {
        let sql = listed_sql(user_id, "r.slug = $3");
        Ok(sqlx::query_as::<_, ListedRoom>(&sql)
            .bind(user_id)
            .bind(crate::store::reads::mention_pattern(username))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// Adds a member (idempotent).
async fn add_member(
    tx: &mut Transaction<'_, Postgres>,
    room_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO room_members (room_id, user_id, added_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
