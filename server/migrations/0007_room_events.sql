-- Room events: everything that changes what a room shows shares the room's `seq` (1, 2, 3, …
-- gap-free, commit order). A message takes its seq in `messages` (as before); an edit or a
-- deletion takes the next one in `room_events`. `rooms.last_seq` is the head of both, moved
-- under the write lock by whoever commits, so seqs stay gap-free across processes.
ALTER TABLE messages ADD COLUMN edited_at INTEGER;  -- unix milliseconds of the last edit
ALTER TABLE messages ADD COLUMN deleted_at INTEGER; -- set with the text emptied: a tombstone

-- Resuming by seq (`since=`) reads the room's messages after a seq.
CREATE INDEX messages_room_seq ON messages (room_id, seq);

CREATE TABLE room_events (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('edit', 'delete')),
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL, -- unix milliseconds
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;

-- Earlier texts of edited messages, for the room's owner. A deletion removes them with the
-- text itself: a deleted message's words are gone from the store, not hidden.
CREATE TABLE message_edits (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    text       TEXT    NOT NULL, -- the text before this edit
    edited_at  INTEGER NOT NULL
);
CREATE INDEX message_edits_message ON message_edits (message_id, edited_at);
