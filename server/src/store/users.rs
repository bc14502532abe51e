//! The `users` table: every identity that can author a message.

use super::{now_millis, Store, StoreError};

/// One identity as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    /// Row id, the author id of their messages.
    pub id: i64,
    /// The name shown next to their messages.
    pub display_name: String,
    /// A display-name-only guest (no password).
    pub is_guest: bool,
}

impl Store {
    /// Creates a guest identity.
    pub async fn create_guest(&self, display_name: &str) -> Result<UserRecord, StoreError> {
        let record = sqlx::query_as::<_, UserRecord>(
            "INSERT INTO users (display_name, is_guest, created_at) VALUES (?, 1, ?)
             RETURNING id, display_name, is_guest",
        )
        .bind(display_name)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(record)
    }

    /// Changes a user's display name (past messages keep the name they were sent with).
    pub async fn rename_user(
        &self,
        id: i64,
        display_name: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let record = sqlx::query_as::<_, UserRecord>(
            "UPDATE users SET display_name = ? WHERE id = ?
             RETURNING id, display_name, is_guest",
        )
        .bind(display_name)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(record)
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let record = sqlx::query_as::<_, UserRecord>(
            "SELECT id, display_name, is_guest FROM users WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(record)
    }
}
