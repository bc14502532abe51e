-- Read markers: the newest message each user has read in each room. Unread counts are the
-- messages after it (by others). The marker only moves forward (see store::reads).
CREATE TABLE read_markers (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    up_to   INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;

-- Where a user's unread counts start in rooms they never read: the newest message when they
-- arrived, so a new account is not greeted by every message ever posted as "unread".
ALTER TABLE users ADD COLUMN read_floor INTEGER NOT NULL DEFAULT 0;
UPDATE users SET read_floor = (SELECT COALESCE(MAX(id), 0) FROM messages);
CREATE TRIGGER users_read_floor AFTER INSERT ON users
BEGIN
    UPDATE users SET read_floor = (SELECT COALESCE(MAX(id), 0) FROM messages) WHERE id = NEW.id;
END;
