-- Replies: a message may answer another of the same room. The quoted excerpt is read from
-- the original at every read, never copied, so an edit shows and a deletion leaves nothing.
ALTER TABLE messages ADD COLUMN reply_to INTEGER; -- the id of the message answered, if any
