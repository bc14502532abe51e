//! Everything Parlor keeps: SQLite through sqlx. All SQL lives under this module (one file per
//! table) so a networked database can replace SQLite without touching the services.
//!
//! The file is opened in WAL mode: readers never block the writer, and several server
//! processes on one machine can share it. Durability is `synchronous = FULL`: a message the
//! sender saw acknowledged survives a power cut, and the cost is paid once per batch by the
//! chat service's group-commit writer, not once per message.

mod busy;
mod events;
mod messages;
mod reactions;
mod reads;
mod rooms;
mod search;
mod users;
mod writer;

pub use events::{Changed, Deleter, EarlierText, Refusal, RoomEvent};
pub use messages::{Inserted, MessageRecord, NewMessage, RoomHead, Written};
pub use reactions::{Reacted, ReactionChange, ReactionLimits, Reactions};
pub use reads::{ListedRoom, Unread};
pub use rooms::{RoomCursor, RoomRecord, RoomWithStats};
pub use search::MAX_SEARCH_WORDS;
pub use users::UserRecord;

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};
use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

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

/// A handle on the database: cheap to clone (the pool and the writer are shared).
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads and small writes (rooms, users, sessions).
    pool: SqlitePool,
    /// The message writer's own connection and thread, so a burst of reads (a thousand
    /// consumers catching up at once) never makes a commit wait for a pooled connection.
    writer: std::sync::Arc<writer::Writer>,
}

/// Migrations compiled into the binary, applied at start-up and by `parlor migrate`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens (creating if needed) the SQLite file at `path`, without migrating.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Temporary b-trees (an IN list, a sort) stay in memory, never in temp files.
            .pragma("temp_store", "memory")
            // Checkpoint the WAL every ~16 MB instead of ~4 MB: fewer, larger copies back
            // into the database file (and fewer fsyncs) under a steady stream of commits.
            .pragma("wal_autocheckpoint", "4000")
            // Another process may hold the write lock for a batch: wait rather than fail
            // (replaced, once connected, by `busy`'s finer handler with the same limit).
            .busy_timeout(Duration::from_secs(10));
        // Reads run concurrently on several connections; writes are funnelled through one
        // task, so a small pool is enough even on many cores.
        // Sessions, users and rooms are written on pooled connections, and wait for the lock
        // the same way as the message writer (see `busy`).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            // sqlx pings a connection each time it leaves the pool: a round trip to its
            // worker thread before every query, for a local file that cannot have gone away
            // (perf on long polling: 12 % of the server's CPU).
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(busy::install(conn)))
            .connect_with(options)
            .await?;
        // The file exists and is in WAL mode now (the pool's first connection made it so).
        let writer = std::sync::Arc::new(writer::Writer::open(path)?);
        Ok(Self { pool, writer })
    }

    /// Opens the file and brings its schema up to date.
    ///
    /// Several processes starting at once on one new file would race: switching it to WAL
    /// needs a moment alone with the file, and SQLite has no migration lock, so two
    /// processes would apply the same migration. They take turns under an exclusive lock on
    /// a sibling `.migrate-lock` file.
    pub async fn open_and_migrate(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let lock = lock_file(path).await?;
        let store = Self::open(path).await?;
        let migrated = store.migrate().await;
        drop(lock); // releases the lock
        migrated?;
        Ok(store)
    }

    /// Applies pending migrations (idempotent). Use [`Store::open_and_migrate`] when other
    /// processes may be starting on the same file.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the session store that shares the database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection (the last step of a shutdown; later calls fail).
    pub async fn close(&self) {
        let writer = self.writer.clone();
        let _ = tokio::task::spawn_blocking(move || writer.close()).await;
        self.pool.close().await;
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Takes an exclusive advisory lock on `{database}.migrate-lock`, waiting for it.
async fn lock_file(database: &Path) -> Result<std::fs::File, StoreError> {
    let mut path = database.as_os_str().to_owned();
    path.push(".migrate-lock");
    let path = PathBuf::from(path);
    let failed = |source| StoreError::CreateDir {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?
        .map_err(failed)
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
        let store = Store::open_and_migrate(&dir.path().join("test.db"))
            .await
            .expect("open store");
        (store, dir)
    }
}
