//! The store port: what the services may ask of the database, whichever adapter holds it.
//!
//! Every call is forwarded to the adapter `--database` chose: SQLite ([`SqliteDb`]) or
//! PostgreSQL ([`PgDb`]). Both answer the same contract (the store contract tests run it
//! against each), so the chat service, the transports and the CLI never know which it is.

use super::{
    postgres::PgDb, sqlite::SqliteDb, Changed, Database, Deleter, EarlierText, Inserted,
    ListedRoom, MessageRecord, NewMessage, ReactionChange, ReactionLimits, Refusal, RoomCursor,
    RoomEvent, RoomHead, RoomRecord, RoomWithStats, StoreError, Unread, UserRecord, Written,
};
use std::path::Path;

/// A handle on the database: cheap to clone (pools and writers are shared).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

/// A connection pool of either backend, for the session store.
pub enum SessionPool {
    /// SQLite's.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL's.
    Postgres(sqlx::PgPool),
}

/// The adapter behind the port.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// Forwards each listed call to the adapter, with the same arguments.
macro_rules! forward {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        Backend::Sqlite(db) => db.$name($($arg),*).await,
                        Backend::Postgres(db) => db.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

impl Store {
    /// Opens the database `--database` names and brings its schema up to date (several
    /// processes may start at once on one database: they take turns).
    pub async fn open_and_migrate(database: &Database) -> Result<Self, StoreError> {
        match database {
            Database::Sqlite(path) => Self::open_sqlite(path).await,
            Database::Postgres(url) => Ok(Self {
                backend: Backend::Postgres(PgDb::open_and_migrate(url).await?),
            }),
        }
    }

    /// Opens (creating if needed) and migrates the SQLite file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            backend: Backend::Sqlite(SqliteDb::open_and_migrate(path).await?),
        })
    }

    /// The pool the session store shares (sessions live in the same database).
    pub fn session_pool(&self) -> SessionPool {
        match &self.backend {
            Backend::Sqlite(db) => SessionPool::Sqlite(db.pool().clone()),
            Backend::Postgres(db) => SessionPool::Postgres(db.pool().clone()),
        }
    }

    /// The SQLite pool (`None` on PostgreSQL), for tests that look at the file itself.
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.backend {
            Backend::Sqlite(db) => Some(db.pool()),
            Backend::Postgres(_) => None,
        }
    }

    /// How many message batches may be written at once: SQLite has one writer at a time,
    /// PostgreSQL takes several transactions at once (each locks only its rooms' rows).
    pub fn writer_lanes(&self) -> usize {
        match &self.backend {
            Backend::Sqlite(_) => 1,
            Backend::Postgres(_) => PgDb::WRITER_LANES,
        }
    }

    /// Closes every connection (the last step of a shutdown; later calls fail).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(db) => db.close().await,
            Backend::Postgres(db) => db.close().await,
        }
    }

    /// Stores a batch of messages in one transaction (one commit for the lot), in order: one
    /// outcome per message — the new row, the earlier row for a retried
    /// `(author, client_id)`, or that message's own failure. A failure of the whole batch
    /// (disk, lock timeout, a lost connection) is every message's.
    pub async fn write_messages(&self, batch: Vec<NewMessage>) -> Written {
        match &self.backend {
            Backend::Sqlite(db) => db.write_messages(batch).await,
            Backend::Postgres(db) => db.write_messages(batch).await,
        }
    }

    /// [`Store::write_messages`] for callers that want all or nothing (tests, tools).
    pub async fn insert_messages(
        &self,
        batch: &[&NewMessage],
    ) -> Result<Vec<Inserted>, StoreError> {
        let owned = batch.iter().map(|message| (*message).clone()).collect();
        self.write_messages(owned)
            .await
            .outcomes
            .into_iter()
            .collect()
    }

    /// Up to `limit` messages after `after`, oldest first.
    pub async fn messages_after(
        &self,
        room_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.messages_between(room_id, after, i64::MAX, limit).await
    }

    /// Creates a public room; `Duplicate` if the slug is taken.
    pub async fn create_room(
        &self,
        slug: &str,
        title: &str,
        owner_id: Option<i64>,
    ) -> Result<RoomRecord, StoreError> {
        self.create_room_with(slug, title, owner_id, None).await
    }
}

forward! {
    /// Checks that the database answers (for `/healthz`).
    fn ping(&self) -> Result<(), StoreError>;

    /// The room's newest message id and seq (zeros when empty).
    fn room_head(&self, room_id: i64) -> Result<RoomHead, StoreError>;
    /// Up to `limit` messages with `after < id <= until`, oldest first.
    fn messages_between(&self, room_id: i64, after: i64, until: i64, limit: u32)
        -> Result<Vec<MessageRecord>, StoreError>;
    /// The `limit` newest messages before `before` (all when `None`), oldest first.
    fn messages_before(&self, room_id: i64, before: Option<i64>, limit: u32)
        -> Result<Vec<MessageRecord>, StoreError>;

    /// Replaces the text of a message its author edits (the earlier text is kept for the
    /// room's owner); takes the room's next seq.
    fn edit_message(&self, room_id: i64, message_id: i64, editor_id: i64, text: &str, at: i64)
        -> Result<Result<Changed, Refusal>, StoreError>;
    /// Deletes a message (its text and earlier texts are removed; a tombstone stays).
    fn delete_message(&self, room_id: i64, message_id: i64, by: Deleter, at: i64)
        -> Result<Result<Changed, Refusal>, StoreError>;
    /// The earlier texts of a message, oldest first (empty once it is deleted).
    fn earlier_texts(&self, message_id: i64) -> Result<Vec<EarlierText>, StoreError>;
    /// One message of a room, deleted or not.
    fn message(&self, room_id: i64, message_id: i64) -> Result<Option<MessageRecord>, StoreError>;
    /// Up to `limit` events with `after < seq <= until`, in seq order.
    fn events_between(&self, room_id: i64, after: i64, until: i64, limit: u32)
        -> Result<Vec<RoomEvent>, StoreError>;
    /// Puts `emoji` on a message for `user_id`, or takes it off; takes the room's next seq.
    fn toggle_reaction(&self, room_id: i64, message_id: i64, user_id: i64, emoji: &str,
        limits: ReactionLimits, at: i64) -> Result<Result<ReactionChange, Refusal>, StoreError>;

    /// Moves the user's read marker in the room forward to `up_to` (never back); returns
    /// where it stands.
    fn mark_read(&self, user_id: i64, room_id: i64, up_to: i64) -> Result<i64, StoreError>;
    /// Whether message `id` is in the room.
    fn message_in_room(&self, id: i64, room_id: i64) -> Result<bool, StoreError>;
    /// The user's unread and mention counts in one room.
    fn unread(&self, user_id: i64, username: Option<&str>, room_id: i64)
        -> Result<Unread, StoreError>;
    /// The rooms `user_id` may see, most active first, with their unread counts.
    fn list_rooms_for(&self, user_id: i64, username: Option<&str>, limit: u32,
        cursor: Option<RoomCursor>) -> Result<Vec<ListedRoom>, StoreError>;
    /// One room as the room list shows it to `user_id` (`None`: missing or invisible).
    fn listed_room(&self, user_id: i64, username: Option<&str>, slug: &str)
        -> Result<Option<ListedRoom>, StoreError>;

    /// Creates a room; with `members`, a private one (the owner is a member too).
    fn create_room_with(&self, slug: &str, title: &str, owner_id: Option<i64>,
        members: Option<&[i64]>) -> Result<RoomRecord, StoreError>;
    /// Opens (or returns) the one private room of two users; true when it was created.
    fn open_direct_room(&self, pair: (i64, i64), slug: &str, title: &str)
        -> Result<(RoomRecord, bool), StoreError>;
    /// Adds a member to a private room (idempotent).
    fn add_room_member(&self, room_id: i64, user_id: i64) -> Result<(), StoreError>;
    /// The members of a private room.
    fn room_member_ids(&self, room_id: i64) -> Result<Vec<i64>, StoreError>;
    /// A room by slug, private or not (callers check visibility).
    fn room_by_slug(&self, slug: &str) -> Result<Option<RoomRecord>, StoreError>;
    /// A room by slug if `user_id` may see it.
    fn visible_room(&self, slug: &str, user_id: i64) -> Result<Option<RoomRecord>, StoreError>;
    /// Whether the room still exists.
    fn room_exists(&self, room_id: i64) -> Result<bool, StoreError>;
    /// Public rooms, most active first, after `cursor`.
    fn list_rooms(&self, limit: u32, cursor: Option<RoomCursor>)
        -> Result<Vec<RoomWithStats>, StoreError>;
    /// How many rooms the user owns, and how many of them were created since `since`.
    fn rooms_owned(&self, owner_id: i64, since: i64) -> Result<(i64, i64), StoreError>;
    /// One room's figures.
    fn room_stats(&self, room_id: i64) -> Result<Option<RoomWithStats>, StoreError>;
    /// Renames a room; false when it does not exist.
    fn rename_room(&self, room_id: i64, title: &str) -> Result<bool, StoreError>;
    /// Deletes a room and everything in it; false when it did not exist.
    fn delete_room(&self, room_id: i64) -> Result<bool, StoreError>;

    /// Full-text search over the rooms `user_id` may read, newest first, with each
    /// message's room slug.
    fn search_messages(&self, words: &[String], user_id: i64, slug: Option<&str>, limit: u32)
        -> Result<Vec<(MessageRecord, String)>, StoreError>;

    /// Creates a guest identity.
    fn create_guest(&self, display_name: &str) -> Result<UserRecord, StoreError>;
    /// Changes a user's display name.
    fn rename_user(&self, id: i64, display_name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// The system user of that name (created on first use), for broadcasts.
    fn system_user(&self, display_name: &str) -> Result<UserRecord, StoreError>;
    /// Creates an account; `Duplicate` when the username is taken.
    fn create_account(&self, username: &str, username_key: &str, password_hash: &str)
        -> Result<UserRecord, StoreError>;
    /// An account and its password hash, by normalised username.
    fn account_by_key(&self, username_key: &str)
        -> Result<Option<(UserRecord, String)>, StoreError>;
    /// Whether the normalised username is taken.
    fn username_taken(&self, username_key: &str) -> Result<bool, StoreError>;
    /// Ends every session of the user (bumps its epoch); returns the new epoch.
    fn revoke_sessions(&self, id: i64) -> Result<i64, StoreError>;
    /// The accounts among `keys` (normalised usernames): their ids and keys.
    fn accounts_by_keys(&self, keys: &[String]) -> Result<Vec<(i64, String)>, StoreError>;
    /// A user by id.
    fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
}
