-- Limits on the open internet.
-- A room's activity time (its newest message, or its creation), kept by the message writer, so
-- the room list is read in pages from an index instead of sorting every room.
ALTER TABLE rooms ADD COLUMN active_at INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET active_at = COALESCE(last_message_at, created_at);
CREATE INDEX rooms_active ON rooms (active_at DESC, id DESC);
-- Room quotas count a user's rooms, in all and in the last hour.
CREATE INDEX rooms_owner ON rooms (owner_id, created_at);
-- Revoking an account's sessions bumps its epoch: a session bound under an older epoch is
-- no longer an identity.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
