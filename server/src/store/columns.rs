//! SQLite's column list of a message record, shared by the reads (`messages`, `events`,
//! `search`) and the message writer, in a module of its own so the writer need not import
//! the reads (which import the backend that owns the writer).

/// The columns of a [`super::MessageRecord`], for `SELECT … FROM messages`. The answered message's
/// author and text are read from it each time (a primary-key lookup, only for replies), so a
/// quote follows its edits and loses its text with a deletion; the reactions come as one JSON
/// array of `[emoji, user id, name]` (a range read of the reactions' primary key).
pub(super) const COLUMNS: &str =
    "id, room_id, seq, author_id, author_name, text, client_id, sent_at, edited_at, deleted_at,
     reply_to,
     (SELECT q.author_name FROM messages q WHERE q.id = messages.reply_to) AS reply_author,
     (SELECT q.text FROM messages q WHERE q.id = messages.reply_to) AS reply_text,
     (SELECT json_group_array(json_array(r.emoji, r.user_id, u.display_name) ORDER BY r.at, r.user_id)
        FROM reactions r JOIN users u ON u.id = r.user_id
       WHERE r.message_id = messages.id) AS reactions";
