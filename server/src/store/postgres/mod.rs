//! The PostgreSQL backend: the same contract as the SQLite one, for deployments where
//! several machines share one database.
//!
//! What differs from SQLite, and why:
//! - **Numbering.** Any number of processes on any number of machines write at once. A batch
//!   takes the row locks of its rooms (`SELECT … FOR UPDATE`, in id order so two batches
//!   never wait on each other in a circle) before it numbers anything, so each room's `seq`
//!   has no gaps and no duplicates, and ids grow with seqs within a room. Edits, deletions
//!   and reactions take the same lock with `UPDATE rooms SET last_seq = last_seq + 1`.
//! - **Round trips.** A network database answers in tens of microseconds, not one: a batch
//!   is a fixed handful of statements (arrays through `UNNEST`), not one per message.
//! - **Search** is a `tsvector` column generated from the text with a GIN index (the
//!   `simple` configuration: no stemming, any language), so an edit or a deletion changes
//!   what is found in the same statement.
//! - **Schema**: `migrations-postgres/`, applied under sqlx's advisory lock, so processes
//!   starting together take turns.

mod events;
mod messages;
mod rooms;
mod search;
mod users;

use super::StoreError;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};
use std::{str::FromStr, time::Duration};

/// Migrations of the PostgreSQL schema, compiled into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-postgres");

/// Connections one process keeps to PostgreSQL: enough for the message writer's lanes, a burst of
/// catch-up reads and the session store; small enough that many processes fit under the
/// server's `max_connections` (100 by default: nine processes at ten).
const POOL_SIZE: u32 = 10;

/// The PostgreSQL backend: a connection pool (cheap to clone).
#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
}

impl PgDb {
    /// Message batches one process writes at once (each on its own pooled connection,
    /// rooms spread over them by id): while one waits for its commit, another inserts. The
    /// store bench (256 senders, 8 rooms, 2 cores) gave 17,257 msg/s on one lane, 23,364 –
    /// 27,019 on two, 20,890 – 24,975 on four and 19,725 on eight; four leaves headroom for a
    /// database on its own machine and six of the pool's ten connections for reads.
    pub const WRITER_LANES: usize = 4;

    /// Connects to the database at `url` and brings its schema up to date.
    pub async fn open_and_migrate(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            .application_name("parlor")
            // Statements are built at run time, a few dozen shapes: cache them all.
            .statement_cache_capacity(256);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            // A database that does not answer should fail a request, not hang it.
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for the session store that shares the database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The columns of a [`super::MessageRecord`] on PostgreSQL (see `messages::COLUMNS` for
/// SQLite): the quoted message read with the row, the reactions as one JSON array.
const COLUMNS: &str =
    "id, room_id, seq, author_id, author_name, text, client_id, sent_at, edited_at, deleted_at,
     reply_to,
     (SELECT q.author_name FROM messages q WHERE q.id = messages.reply_to) AS reply_author,
     (SELECT q.text FROM messages q WHERE q.id = messages.reply_to) AS reply_text,
     COALESCE((SELECT json_agg(json_build_array(r.emoji, r.user_id, u.display_name)
                               ORDER BY r.at, r.user_id)::TEXT
                 FROM reactions r JOIN users u ON u.id = r.user_id
                WHERE r.message_id = messages.id), '[]') AS reactions";

/// The condition that room `r` is visible to the user bound at `user` (public, or a member).
fn visible_to(user: &str) -> String {
    format!(
        "(NOT r.private OR EXISTS (SELECT 1 FROM room_members rm
                                   WHERE rm.room_id = r.id AND rm.user_id = {user}))"
    )
}

/// Whether a failed transaction may simply be tried again (a deadlock or a serialization
/// failure: PostgreSQL rolled it back as a whole).
fn is_retryable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01"))
    )
}
