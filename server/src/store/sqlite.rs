//! The SQLite backend's handle: one file in WAL mode, a small pool for reads and small
//! writes, and the message writer's own connection (`writer`). Its SQL lives in the files
//! named after the tables (`rooms.rs`, `messages.rs`, …), beside the types they return.
//!
//! The file is opened in WAL mode: readers never block the writer, and several server
//! processes on one machine can share it. Durability is `synchronous = FULL`: a message the
//! sender saw acknowledged survives a power cut, and the cost is paid once per batch by the
//! chat service's group-commit writer, not once per message.

use super::{busy, writer::Writer, StoreError};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};
use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

/// The SQLite backend: cheap to clone (the pool and the writer are shared).
#[derive(Clone, Debug)]
pub struct SqliteDb {
    /// Reads and small writes (rooms, users, sessions).
    pub(super) pool: SqlitePool,
    /// The message writer's own connection and thread, so a burst of reads (a thousand
    /// consumers catching up at once) never makes a commit wait for a pooled connection.
    pub(super) writer: std::sync::Arc<Writer>,
}

/// Migrations compiled into the binary, applied at start-up and by `parlor migrate`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteDb {
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
        let writer = std::sync::Arc::new(Writer::open(path)?);
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
