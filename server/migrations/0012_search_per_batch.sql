-- New messages are indexed once per commit batch by the message writer (one
-- `INSERT INTO message_search … SELECT` over the batch's rows, in the batch's own
-- transaction) instead of by a trigger per row: FTS5 flushes its pending terms at every
-- statement's savepoint, so the trigger wrote one index segment per message and spent the
-- writer's time merging them (bench/RESULTS.md, 2026-12-03). Edits and deletions keep
-- their triggers: they are one statement each anyway.
DROP TRIGGER messages_search_insert;
