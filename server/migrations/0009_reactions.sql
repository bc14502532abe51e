-- Reactions: who put which emoji on which message. The current state, read with every
-- message; each toggle is also a room event (kind 'react' / 'unreact') with the room's next
-- seq, so a client that was away replays it in order.
CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT    NOT NULL, -- one emoji, as the emoji table spells it (fully qualified)
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL, -- unix milliseconds
    PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;

-- Room events gain reaction toggles, which name who and which emoji. SQLite cannot change a
-- CHECK constraint in place: the table is rebuilt with its rows.
CREATE TABLE room_events_next (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('edit', 'delete', 'react', 'unreact')),
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL, -- unix milliseconds
    user_id    INTEGER,          -- reactions: who
    emoji      TEXT,             -- reactions: which
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
INSERT INTO room_events_next (room_id, seq, kind, message_id, at)
    SELECT room_id, seq, kind, message_id, at FROM room_events;
DROP TABLE room_events;
ALTER TABLE room_events_next RENAME TO room_events;
