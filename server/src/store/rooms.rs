//! The `rooms` table.

use super::{now_millis, sqlite::SqliteDb, StoreError};

/// One room as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomRecord {
    /// Row id (messages reference it).
    pub id: i64,
    /// URL name, unique.
    pub slug: String,
    /// Human title.
    pub title: String,
    /// Who created it, if it was created by a known identity.
    pub owner_id: Option<i64>,
    /// Visible to its members only.
    pub private: bool,
}

/// A room with the figures the room list shows.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomWithStats {
    /// URL name.
    pub slug: String,
    /// Human title.
    pub title: String,
    /// Number of messages.
    pub message_count: i64,
    /// Unix milliseconds of the newest message.
    pub last_message_at: Option<i64>,
    /// Who owns it.
    pub owner_id: Option<i64>,
    /// Its activity time (newest message, else creation), Unix milliseconds: with the id,
    /// the room list's order and cursor.
    pub active_at: i64,
    /// Row id (the cursor's tie-breaker).
    pub id: i64,
    /// Visible to its members only.
    pub private: bool,
    /// A private room's members, where the reader needed them (the writer's lobby notes).
    #[sqlx(skip)]
    pub members: Option<Vec<i64>>,
}

/// Where a page of the room list starts: after this room in activity order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomCursor {
    /// The last listed room's activity time.
    pub active_at: i64,
    /// The last listed room's id.
    pub id: i64,
}

impl SqliteDb {
    /// Creates a room; with `members` it is private to them (the owner included), in one
    /// transaction. [`StoreError::Duplicate`] if the slug is taken.
    pub async fn create_room_with(
        &self,
        slug: &str,
        title: &str,
        owner_id: Option<i64>,
        members: Option<&[i64]>,
    ) -> Result<RoomRecord, StoreError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let room = sqlx::query_as::<_, RoomRecord>(
            "INSERT INTO rooms (slug, title, owner_id, created_at, active_at, private)
             VALUES (?, ?, ?, ?, ?, ?)
             RETURNING id, slug, title, owner_id, private",
        )
        .bind(slug)
        .bind(title)
        .bind(owner_id)
        .bind(now)
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

    /// The one private room of users `a` and `b` (`slug` and `title` name it when it is
    /// created now); whether it was created.
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
        let created = sqlx::query_as::<_, RoomRecord>(
            "INSERT INTO rooms (slug, title, owner_id, created_at, active_at, private, dm_key)
             VALUES (?, ?, NULL, ?, ?, 1, ?)
             ON CONFLICT (dm_key) WHERE dm_key IS NOT NULL DO NOTHING
             RETURNING id, slug, title, owner_id, private",
        )
        .bind(slug)
        .bind(title)
        .bind(now)
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
                sqlx::query_as::<_, RoomRecord>(
                    "SELECT id, slug, title, owner_id, private FROM rooms WHERE dm_key = ?",
                )
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?,
                false,
            ),
        };
        tx.commit().await?;
        Ok((room, new))
    }

    /// Adds `user_id` to a private room's members (nothing if they already are one).
    pub async fn add_room_member(&self, room_id: i64, user_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        add_member(&mut tx, room_id, user_id, now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user ids of a room's members (private rooms; a public room has none listed).
    pub async fn room_member_ids(&self, room_id: i64) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT user_id FROM room_members WHERE room_id = ?")
                .bind(room_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Looks a room up by slug, whoever asks (the service decides who may see it).
    pub async fn room_by_slug(&self, slug: &str) -> Result<Option<RoomRecord>, StoreError> {
        let record = sqlx::query_as::<_, RoomRecord>(
            "SELECT id, slug, title, owner_id, private FROM rooms WHERE slug = ?",
        )
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        Ok(record)
    }

    /// Looks a room up by slug as `user_id` (0: anonymous) may see it: a private room of
    /// which they are not a member is `None`, exactly as a room that does not exist.
    pub async fn visible_room(
        &self,
        slug: &str,
        user_id: i64,
    ) -> Result<Option<RoomRecord>, StoreError> {
        let record = sqlx::query_as::<_, RoomRecord>(&format!(
            "SELECT id, slug, title, owner_id, private FROM rooms r WHERE slug = ? AND {}",
            visible_to("?")
        ))
        .bind(slug)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await;
        Ok(record?)
    }

    /// Whether the room still exists (it may be deleted while someone connects).
    pub async fn room_exists(&self, room_id: i64) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<_, i64>("SELECT 1 FROM rooms WHERE id = ?")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Up to `limit` public rooms, the most recently active first, after `cursor` (one index
    /// walk).
    pub async fn list_rooms(
        &self,
        limit: u32,
        cursor: Option<RoomCursor>,
    ) -> Result<Vec<RoomWithStats>, StoreError> {
        let cursor = cursor.unwrap_or(RoomCursor {
            active_at: i64::MAX,
            id: i64::MAX,
        });
        let rooms = sqlx::query_as::<_, RoomWithStats>(
            "SELECT slug, title, message_count, last_message_at, owner_id, active_at, id, private
             FROM rooms WHERE (active_at, id) < (?, ?) AND private = 0
             ORDER BY active_at DESC, id DESC LIMIT ?",
        )
        .bind(cursor.active_at)
        .bind(cursor.id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rooms)
    }

    /// How many rooms `owner_id` owns, and how many of them were created at or after `since`
    /// (Unix milliseconds): the room quota's counts.
    pub async fn rooms_owned(&self, owner_id: i64, since: i64) -> Result<(i64, i64), StoreError> {
        let counts = sqlx::query_as::<_, (i64, i64)>(
            "SELECT COUNT(*), COALESCE(SUM(created_at >= ?), 0) FROM rooms WHERE owner_id = ?",
        )
        .bind(since)
        .bind(owner_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(counts)
    }

    /// One room's figures.
    pub async fn room_stats(&self, room_id: i64) -> Result<Option<RoomWithStats>, StoreError> {
        let room = sqlx::query_as::<_, RoomWithStats>(
            "SELECT slug, title, message_count, last_message_at, owner_id, active_at, id, private
             FROM rooms WHERE id = ?",
        )
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(room)
    }

    /// Changes a room's title. Returns whether the room exists.
    pub async fn rename_room(&self, room_id: i64, title: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE rooms SET title = ? WHERE id = ?")
            .bind(title)
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a room and (by cascade) its messages. Returns whether it existed.
    pub async fn delete_room(&self, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM rooms WHERE id = ?")
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// The SQL condition "room `r` is visible to the user bound at `user`" (0: anonymous): public,
/// or private with them among its members.
pub(super) fn visible_to(user: &str) -> String {
    format!(
        "(r.private = 0 OR EXISTS (SELECT 1 FROM room_members rm
                                  WHERE rm.room_id = r.id AND rm.user_id = {user}))"
    )
}

/// Adds a member inside a transaction (nothing if already one).
async fn add_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    room_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO room_members (room_id, user_id, added_at) VALUES (?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
