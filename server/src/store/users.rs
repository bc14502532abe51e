//! The `users` table: every identity that can author a message.

use super::{now_millis, sqlite::SqliteDb, StoreError};

/// One identity as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    /// Row id, the author id of their messages.
    pub id: i64,
    /// The name shown next to their messages.
    pub display_name: String,
    /// A display-name-only guest (no password).
    pub is_guest: bool,
    /// Bumped when the account's sessions are revoked: a session bound under an older epoch
    /// no longer counts.
    pub session_epoch: i64,
}

impl SqliteDb {
    /// Creates a guest identity.
    pub async fn create_guest(&self, display_name: &str) -> Result<UserRecord, StoreError> {
        let record = sqlx::query_as::<_, UserRecord>(
            "INSERT INTO users (display_name, is_guest, created_at) VALUES (?, 1, ?)
             RETURNING id, display_name, is_guest, session_epoch",
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
             RETURNING id, display_name, is_guest, session_epoch",
        )
        .bind(display_name)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(record)
    }

    /// The system author named `display_name`, created on first use.
    pub async fn system_user(&self, display_name: &str) -> Result<UserRecord, StoreError> {
        sqlx::query(
            "INSERT INTO users (display_name, is_guest, is_system, created_at) VALUES (?, 0, 1, ?)
             ON CONFLICT (display_name) WHERE is_system = 1 DO NOTHING",
        )
        .bind(display_name)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        let record = sqlx::query_as::<_, UserRecord>(
            "SELECT id, display_name, is_guest, session_epoch FROM users
             WHERE is_system = 1 AND display_name = ?",
        )
        .bind(display_name)
        .fetch_one(&self.pool)
        .await?;
        Ok(record)
    }

    /// Creates an account; [`StoreError::Duplicate`] if the name (its key) is taken.
    pub async fn create_account(
        &self,
        username: &str,
        username_key: &str,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        sqlx::query_as::<_, UserRecord>(
            "INSERT INTO users (display_name, is_guest, username, username_key, password_hash, created_at)
             VALUES (?, 0, ?, ?, ?, ?)
             RETURNING id, display_name, is_guest, session_epoch",
        )
        .bind(username)
        .bind(username)
        .bind(username_key)
        .bind(password_hash)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_insert)
    }

    /// An account and its password hash, by the username's key.
    pub async fn account_by_key(
        &self,
        username_key: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError> {
        let row = sqlx::query_as::<_, (i64, String, bool, i64, String)>(
            "SELECT id, display_name, is_guest, session_epoch, password_hash FROM users
             WHERE username_key = ? AND password_hash IS NOT NULL",
        )
        .bind(username_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(id, display_name, is_guest, session_epoch, hash)| {
                (
                    UserRecord {
                        id,
                        display_name,
                        is_guest,
                        session_epoch,
                    },
                    hash,
                )
            }),
        )
    }

    /// Whether an account (not a guest or system user) has this username key.
    pub async fn username_taken(&self, username_key: &str) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<_, i64>("SELECT 1 FROM users WHERE username_key = ?")
            .bind(username_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Revokes every session of the user: bumps its epoch and returns the new one.
    pub async fn revoke_sessions(&self, id: i64) -> Result<i64, StoreError> {
        let epoch = sqlx::query_scalar::<_, i64>(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ? RETURNING session_epoch",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(epoch)
    }

    /// The accounts (not guests) whose username keys are among `keys`, as `(id, key)`:
    /// whom a message's `@mentions` name. One query for a whole batch's mentions.
    pub async fn accounts_by_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned());
        let rows = sqlx::query_as::<_, (i64, String)>(
            "SELECT id, username_key FROM users
             WHERE password_hash IS NOT NULL AND username_key IS NOT NULL
               AND username_key IN (SELECT value FROM json_each(?))",
        )
        .bind(list)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let record = sqlx::query_as::<_, UserRecord>(
            "SELECT id, display_name, is_guest, session_epoch FROM users WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn system_users_are_created_once_per_name() {
        let (store, _dir) = temp_store().await;
        let first = store.system_user("Parlor").await.expect("create");
        let again = store.system_user("Parlor").await.expect("reuse");
        assert_eq!(first.id, again.id);
        assert!(!first.is_guest);
        let other = store.system_user("Ops").await.expect("create");
        assert_ne!(first.id, other.id);
        // A guest may pick the same display name: it is a different user.
        let guest = store.create_guest("Parlor").await.expect("guest");
        assert_ne!(guest.id, first.id);
    }
}
