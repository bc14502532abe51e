//! The message writer's connection: one thread that owns one SQLite connection and writes
//! each batch of messages in one transaction, with plain synchronous calls on cached
//! statements.
//!
//! Why not sqlx here: sqlx's SQLite driver runs every statement on a worker thread and
//! hands each one over through a channel, so a batch of five statements costs ten thread
//! wake-ups — at a trickle of one message per commit that was most of a message's CPU. This
//! thread is woken once per batch and answers once.
//!
//! The transaction is `BEGIN IMMEDIATE`: it takes SQLite's write lock before reading the
//! rooms' heads, so another process sharing the file cannot slip a message in between and
//! seqs stay gap-free and in commit order. A message whose own row fails (its room was just
//! deleted) fails alone: SQLite undoes that statement, not the transaction.

use super::{
    busy, columns::COLUMNS, Inserted, MessageRecord, NewMessage, RoomWithStats, StoreError, Written,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::{collections::HashMap, path::Path, sync::mpsc, thread::JoinHandle};
use tokio::sync::oneshot;

/// One batch and where its outcome goes.
struct Job {
    batch: Vec<NewMessage>,
    reply: oneshot::Sender<Written>,
}

/// The writer thread's handle. Dropping every sender ends the thread.
pub(super) struct Writer {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens the connection (WAL, `synchronous = FULL`, foreign keys, the busy handler) and
    /// starts the thread.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = connect(path).map_err(writer_error)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("parlor-store-writer".to_owned())
            .spawn(move || run(connection, queue))
            .map_err(|e| StoreError::BatchFailed(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            jobs: std::sync::Mutex::new(Some(jobs)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Writes a batch; one outcome per message, in order, and the rooms it changed.
    pub(super) async fn write(&self, batch: Vec<NewMessage>) -> Written {
        let count = batch.len();
        let (reply, outcome) = oneshot::channel();
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_ref()
            .map(|jobs| jobs.send(Job { batch, reply }));
        match sent {
            Some(Ok(())) => match outcome.await {
                Ok(outcomes) => outcomes,
                Err(_) => failed(count, "the writer thread stopped"),
            },
            _ => failed(count, "the store is closed"),
        }
    }

    /// Ends the thread once the queued batches are written.
    pub(super) fn close(&self) {
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn failed(count: usize, why: &str) -> Written {
    Written {
        outcomes: (0..count)
            .map(|_| Err(StoreError::BatchFailed(why.to_owned())))
            .collect(),
        rooms: Vec::new(),
    }
}

fn writer_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Constraint(error.to_string())
        }
        _ => StoreError::Writer(error.to_string()),
    }
}

fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.pragma_update(None, "wal_autocheckpoint", 4000)?;
    connection.set_prepared_statement_cache_capacity(32);
    connection.busy_handler(Some(busy::retry_soon))?;
    Ok(connection)
}

fn run(mut connection: Connection, queue: mpsc::Receiver<Job>) {
    for job in queue {
        let outcomes = match write_batch(&mut connection, &job.batch) {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let reason = error.to_string();
                tracing::error!(%error, batch = job.batch.len(), "storing a batch of messages failed");
                failed(job.batch.len(), &reason)
            }
        };
        let _ = job.reply.send(outcomes);
    }
}

/// Writes the batch in one transaction. Whole-batch failures (disk, lock timeout) are the
/// error; a message whose own row fails gets its error in its place.
fn write_batch(
    connection: &mut Connection,
    batch: &[NewMessage],
) -> Result<Written, rusqlite::Error> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut next_seq: HashMap<i64, i64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    // room -> (messages added, newest sent_at, newest seq, newest id)
    let mut rooms: HashMap<i64, (i64, i64, i64, i64)> = HashMap::new();
    for message in batch {
        let outcome = write_one(&tx, message, &mut next_seq);
        if let Ok(Inserted::New(record)) = &outcome {
            let entry = rooms.entry(record.room_id).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(record.sent_at);
            entry.2 = entry.2.max(record.seq);
            entry.3 = entry.3.max(record.id);
        }
        outcomes.push(outcome.map_err(writer_error));
    }
    // The batch's words, in one statement: FTS5 tokenizes them into one segment, where a
    // trigger per row would flush a segment per message. The write lock is held since
    // BEGIN IMMEDIATE, so every row from the batch's first new id on is this batch's.
    let first_new = outcomes.iter().find_map(|outcome| match outcome {
        Ok(Inserted::New(record)) => Some(record.id),
        _ => None,
    });
    if let Some(first_new) = first_new {
        tx.prepare_cached(
            "INSERT INTO message_search (rowid, text)
             SELECT id, text FROM messages WHERE id >= ?1",
        )?
        .execute(params![first_new])?;
    }
    // The rooms' new figures come back from the same statement (the lobby feed shows them),
    // so announcing a room's activity costs no read.
    let mut changed = Vec::with_capacity(rooms.len());
    {
        let mut update = tx.prepare_cached(
            "UPDATE rooms SET
                 message_count = message_count + ?1,
                 last_message_at = MAX(COALESCE(last_message_at, 0), ?2),
                 active_at = MAX(active_at, ?2),
                 last_seq = ?3,
                 last_message_id = ?4
             WHERE id = ?5
             RETURNING slug, title, message_count, last_message_at, owner_id, active_at, id,
                       private",
        )?;
        for (room, (added, sent_at, seq, id)) in &rooms {
            let stats = update
                .query_row(params![added, sent_at, seq, id, room], |row| {
                    Ok(RoomWithStats {
                        slug: row.get(0)?,
                        title: row.get(1)?,
                        message_count: row.get(2)?,
                        last_message_at: row.get(3)?,
                        owner_id: row.get(4)?,
                        active_at: row.get(5)?,
                        id: row.get(6)?,
                        private: row.get(7)?,
                        members: None,
                    })
                })
                .optional()?;
            // A private room's activity is told to its members alone: who they are, read
            // here (one index range) so the lobby needs no read per viewer.
            let stats = match stats {
                Some(mut stats) if stats.private => {
                    let members = tx
                        .prepare_cached("SELECT user_id FROM room_members WHERE room_id = ?1")?
                        .query_map(params![stats.id], |row| row.get::<_, i64>(0))?
                        .collect::<Result<Vec<i64>, _>>()?;
                    stats.members = Some(members);
                    Some(stats)
                }
                other => other,
            };
            changed.extend(stats);
        }
    }
    tx.commit()?;
    Ok(Written {
        outcomes,
        rooms: changed,
    })
}

/// One message: a new row with the room's next seq, or the earlier row for a retried
/// `(author, client_id)` (the insert skips it; only then is the earlier row read).
fn write_one(
    tx: &rusqlite::Transaction<'_>,
    message: &NewMessage,
    next_seq: &mut HashMap<i64, i64>,
) -> Result<Inserted, rusqlite::Error> {
    let seq = match next_seq.get(&message.room_id) {
        Some(seq) => *seq,
        None => tx
            .prepare_cached("SELECT last_seq FROM rooms WHERE id = ?1")?
            .query_row(params![message.room_id], |row| row.get::<_, i64>(0))
            .optional()?
            .ok_or_else(|| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some("the room no longer exists".to_owned()),
                )
            })?,
    } + 1;
    // No RETURNING: it would build a temporary b-tree per row; the row id is the
    // connection's last insert id when a row was inserted.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages
                 (room_id, seq, author_id, author_name, text, client_id, sent_at, reply_to)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (author_id, client_id) DO NOTHING",
        )?
        .execute(params![
            message.room_id,
            seq,
            message.author_id,
            message.author_name,
            message.text,
            message.client_id,
            message.sent_at,
            message.reply_to
        ])?;
    let id = (inserted == 1).then(|| tx.last_insert_rowid());
    let Some(id) = id else {
        // A retry: the row this author stored under this client_id (in this batch or any
        // earlier one), unchanged; no seq is used.
        return tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE author_id = ?1 AND client_id = ?2"
            ))?
            .query_row(params![message.author_id, message.client_id], record_of)
            .map(Inserted::Duplicate);
    };
    next_seq.insert(message.room_id, seq);
    // The quote as it stands at this commit (the chat service checked the room).
    let quoted = match message.reply_to {
        Some(answered) => tx
            .prepare_cached("SELECT author_name, text FROM messages WHERE id = ?1")?
            .query_row(params![answered], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?,
        None => None,
    };
    let (reply_author, reply_text) = quoted.unzip();
    Ok(Inserted::New(MessageRecord {
        id,
        room_id: message.room_id,
        seq,
        author_id: message.author_id,
        author_name: message.author_name.clone(),
        text: message.text.clone(),
        client_id: message.client_id.clone(),
        sent_at: message.sent_at,
        edited_at: None,
        deleted_at: None,
        reply_to: message.reply_to,
        reply_author,
        reply_text,
        reactions: super::Reactions::default(),
    }))
}

/// A row of [`COLUMNS`], in its order.
fn record_of(row: &rusqlite::Row<'_>) -> Result<MessageRecord, rusqlite::Error> {
    Ok(MessageRecord {
        id: row.get(0)?,
        room_id: row.get(1)?,
        seq: row.get(2)?,
        author_id: row.get(3)?,
        author_name: row.get(4)?,
        text: row.get(5)?,
        client_id: row.get(6)?,
        sent_at: row.get(7)?,
        edited_at: row.get(8)?,
        deleted_at: row.get(9)?,
        reply_to: row.get(10)?,
        reply_author: row.get(11)?,
        reply_text: row.get(12)?,
        reactions: super::Reactions::try_from(row.get::<_, String>(13)?).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(13, rusqlite::types::Type::Text, error.into())
        })?,
    })
}
