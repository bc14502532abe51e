-- Full-text search over message texts (SQLite FTS5). An external-content index: it holds
-- the words, `messages` the text; triggers keep it in the same transaction as every insert,
-- edit and deletion, so a deleted or edited-away word is never found. `secure-delete`
-- removes a word's entries at once instead of leaving them until the next merge.
-- Queries are word prefixes, never phrases, and are ordered by recency, not rank: no
-- positions (`detail = none`) and no column sizes are kept, and segments are merged less
-- eagerly (`automerge` 16): less work per stored message (bench/RESULTS.md, 2026-12-02).
CREATE VIRTUAL TABLE message_search USING fts5(
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    detail = none,
    columnsize = 0
);
INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO message_search (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, text) VALUES ('delete', old.id, old.text);
END;

-- Messages stored before this migration.
INSERT INTO message_search (message_search) VALUES ('rebuild');
