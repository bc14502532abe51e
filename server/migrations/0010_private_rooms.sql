-- Private rooms and direct messages. A private room is visible only to its members, on
-- every path (a non-member is told it does not exist). A direct-message room is the one
-- private room of two users, found again through `dm_key` ("{lower id}:{higher id}").
ALTER TABLE rooms ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN dm_key TEXT;
CREATE UNIQUE INDEX rooms_dm_key ON rooms (dm_key) WHERE dm_key IS NOT NULL;

CREATE TABLE room_members (
    room_id  INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL, -- unix milliseconds
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_user ON room_members (user_id, room_id);
