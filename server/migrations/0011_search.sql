-- Full-text search over message texts (SQLite FTS5). An external-content index: it holds
-- the words, `messages` the text; triggers keep it in the same transaction as every insert,
-- edit and deletion, so a deleted or edited-away word is never found. `secure-delete`
-- removes a word's entries at once instead of leaving them until the next merge.
CREATE VIRTUAL TABLE message_search USING fts5(
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);

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
