//! Users on PostgreSQL: guests, accounts, system senders, session epochs.

use super::PgDb;
use crate::store::{now_millis, StoreError, UserRecord};

/// The columns of a [`UserRecord`].
const USER: &str = "id, display_name, is_guest, session_epoch";

/// A new user's read floor: every message that exists already counts as read.
const READ_FLOOR: &str = "(SELECT COALESCE(MAX(id), 0) FROM messages)";

impl PgDb {
    /// Creates a guest identity.
    pub async fn create_guest(&self, display_name: &str) -> Result<UserRecord, StoreError> {
        Ok(sqlx::query_as::<_, UserRecord>(&format!(
            "INSERT INTO users (display_name, is_guest, created_at, read_floor)
             VALUES ($1, TRUE, $2, {READ_FLOOR}) RETURNING {USER}"
        ))
        .bind(display_name)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Changes a user's display name.
    pub async fn rename_user(
        &self,
        id: i64,
        display_name: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as::<_, UserRecord>(&format!(
            "UPDATE users SET display_name = $1 WHERE id = $2 RETURNING {USER}"
        ))
        .bind(display_name)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The system user of that name, created on first use.
    pub async fn system_user(&self, display_name: &str) -> Result<UserRecord, StoreError> {
        sqlx::query(&format!(
            "INSERT INTO users (display_name, is_guest, is_system, created_at, read_floor)
             VALUES ($1, FALSE, TRUE, $2, {READ_FLOOR})
             ON CONFLICT (display_name) WHERE is_system DO NOTHING"
        ))
        .bind(display_name)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_as::<_, UserRecord>(&format!(
            "SELECT {USER} FROM users WHERE is_system AND display_name = $1"
        ))
        .bind(display_name)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Creates an account; `Duplicate` when the username is taken.
    pub async fn create_account(
        &self,
        username: &str,
        username_key: &str,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        sqlx::query_as::<_, UserRecord>(&format!(
            "INSERT INTO users
                 (display_name, is_guest, username, username_key, password_hash, created_at,
                  read_floor)
             VALUES ($1, FALSE, $1, $2, $3, $4, {READ_FLOOR}) RETURNING {USER}"
        ))
        .bind(username)
        .bind(username_key)
        .bind(password_hash)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_insert)
    }

    /// An account and its password hash.
    pub async fn account_by_key(
        &self,
        username_key: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError> {
        let row = sqlx::query_as::<_, (i64, String, bool, i64, String)>(
            "SELECT id, display_name, is_guest, session_epoch, password_hash FROM users
             WHERE username_key = $1 AND password_hash IS NOT NULL",
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

    /// Whether the normalised username is taken.
    pub async fn username_taken(&self, username_key: &str) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<_, bool>("SELECT TRUE FROM users WHERE username_key = $1")
            .bind(username_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Ends every session of the user.
    pub async fn revoke_sessions(&self, id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1
             RETURNING session_epoch",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The accounts among `keys`.
    pub async fn accounts_by_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as::<_, (i64, String)>(
            "SELECT id, username_key FROM users
             WHERE password_hash IS NOT NULL AND username_key = ANY($1)",
        )
        .bind(keys)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        Ok(
            sqlx::query_as::<_, UserRecord>(&format!("SELECT {USER} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
