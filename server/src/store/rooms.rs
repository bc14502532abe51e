//! The `rooms` table.

use super::{now_millis, Store, StoreError};

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
}

/// Where a page of the room list starts: after this room in activity order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomCursor {
    /// The last listed room's activity time.
    pub active_at: i64,
    /// The last listed room's id.
    pub id: i64,
}

impl Store {
    /// Creates a room; [`StoreError::Duplicate`] if the slug is taken.
    pub async fn create_room(
        &self,
        slug: &str,
        title: &str,
        owner_id: Option<i64>,
    ) -> Result<RoomRecord, StoreError> {
        let now = now_millis();
        sqlx::query_as::<_, RoomRecord>(
            "INSERT INTO rooms (slug, title, owner_id, created_at, active_at) VALUES (?, ?, ?, ?, ?)
             RETURNING id, slug, title, owner_id",
        )
        .bind(slug)
        .bind(title)
        .bind(owner_id)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_insert)
    }

    /// Looks a room up by slug.
    pub async fn room_by_slug(&self, slug: &str) -> Result<Option<RoomRecord>, StoreError> {
        let record = sqlx::query_as::<_, RoomRecord>(
            "SELECT id, slug, title, owner_id FROM rooms WHERE slug = ?",
        )
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        Ok(record)
    }

    /// Whether the room still exists (it may be deleted while someone connects).
    pub async fn room_exists(&self, room_id: i64) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<_, i64>("SELECT 1 FROM rooms WHERE id = ?")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Up to `limit` rooms, the most recently active first, after `cursor` (one index walk).
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
            "SELECT slug, title, message_count, last_message_at, owner_id, active_at, id
             FROM rooms WHERE (active_at, id) < (?, ?)
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
            "SELECT slug, title, message_count, last_message_at, owner_id, active_at, id
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
