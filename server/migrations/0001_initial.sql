-- Parlor's first schema. Identities, rooms and messages; sessions live in the table that
-- tower-sessions-sqlx-store creates itself (see store::Store::open).

-- Every identity that can author a message. A guest (display name only) is a row too, so
-- messages always point at a stable author id and accounts can be added as columns.
CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    display_name TEXT    NOT NULL,
    is_guest     INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL -- unix milliseconds
);

CREATE TABLE rooms (
    id              INTEGER PRIMARY KEY,
    slug            TEXT    NOT NULL UNIQUE,
    title           TEXT    NOT NULL,
    owner_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL,
    -- Kept by the message writer (one UPDATE per room per batch) so the room list never
    -- scans the messages table.
    message_count   INTEGER NOT NULL DEFAULT 0,
    last_message_at INTEGER
);

-- The message id is the rowid: unique and increasing in commit order, so `after=ID` resumes
-- without gaps. `seq` numbers a room's messages 1, 2, 3, … in the same order (assigned by the
-- single writer inside a BEGIN IMMEDIATE transaction); a consumer that sees seq jump knows it
-- missed a delivery and re-reads the gap from the store (see chat::feed).
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after a delete
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    author_id   INTEGER NOT NULL REFERENCES users (id),
    author_name TEXT    NOT NULL, -- the name at the time of sending
    text        TEXT    NOT NULL,
    client_id   TEXT,
    sent_at     INTEGER NOT NULL  -- unix milliseconds
);

-- History, catch-up (`id > after`) and the room's latest seq all walk this index.
CREATE INDEX messages_room_id ON messages (room_id, id);
-- Idempotent sends: one message per (author, client_id). NULL client_ids never collide.
CREATE UNIQUE INDEX messages_author_client_id ON messages (author_id, client_id);
