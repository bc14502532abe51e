-- Each room remembers its newest message (id and seq), kept by the message writer in the
-- same UPDATE as the counters: finding where a room stands is then one primary-key read,
-- for the writer (next seq) and for every connection that opens (where live starts).
ALTER TABLE rooms ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN last_message_id INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET
    last_seq = COALESCE((SELECT seq FROM messages WHERE room_id = rooms.id ORDER BY id DESC LIMIT 1), 0),
    last_message_id = COALESCE((SELECT id FROM messages WHERE room_id = rooms.id ORDER BY id DESC LIMIT 1), 0);
