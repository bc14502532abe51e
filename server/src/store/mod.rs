//! Everything Parlor keeps, behind one port ([`Store`]) with two adapters: SQLite (one
//! machine; `sqlite.rs` and the files named after its tables) and PostgreSQL (many machines;
//! `postgres/`). The services see only [`Store`]; the `--database` value picks the adapter
//! ([`Database`]). All SQL lives under this module.

mod busy;
mod columns;
mod database;
mod events;
mod facade;
mod messages;
mod postgres;
mod reactions;
mod reads;
mod rooms;
mod search;
mod sqlite;
mod users;
mod writer;

pub use database::Database;
pub use facade::{SessionPool, Store};

pub use events::{Changed, Deleter, EarlierText, Refusal, RoomEvent};
pub use messages::{Inserted, MessageRecord, NewMessage, RoomHead, Written};
pub use reactions::{Reacted, ReactionChange, ReactionLimits, Reactions};
pub use reads::{ListedRoom, Unread};
pub use rooms::{RoomCursor, RoomRecord, RoomWithStats};
pub use search::MAX_SEARCH_WORDS;
pub use users::UserRecord;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the row (duplicate slug, …).
    #[error("already exists")]
    Duplicate,
    /// The database failed (I/O, locked beyond the busy timeout, corrupt file, …).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A batch of messages failed as a whole (the first failure was logged with details).
    #[error("the batch failed: {0}")]
    BatchFailed(String),
    /// The message writer's connection refused one row (its room is gone, …).
    #[error("the row was refused: {0}")]
    Constraint(String),
    /// The message writer's connection failed.
    #[error("the message writer failed: {0}")]
    Writer(String),
    /// The database directory (or the migration lock file) could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether this refusal is about one row's content (a constraint), not the database.
    pub fn is_constraint(&self) -> bool {
        match self {
            StoreError::Duplicate | StoreError::Constraint(_) => true,
            StoreError::Database(sqlx::Error::Database(db)) => {
                !matches!(db.kind(), sqlx::error::ErrorKind::Other)
            }
            _ => false,
        }
    }

    /// Maps sqlx's unique-violation error to [`StoreError::Duplicate`].
    fn from_insert(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
            _ => StoreError::Database(error),
        }
    }
}

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 in UTC with milliseconds, as the wire protocol wants it.
pub fn format_millis(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A migrated store on a fresh temporary file (a real SQLite file, not `:memory:`, so
    /// WAL and multi-connection behaviour are the real ones).
    pub async fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("test.db"))
            .await
            .expect("open store");
        (store, dir)
    }
}
