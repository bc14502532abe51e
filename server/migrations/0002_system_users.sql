-- Authors that are not people: `parlor broadcast --as NAME` and the admin broadcast API post
-- as a system user of that name (created on first use).
ALTER TABLE users ADD COLUMN is_system INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_system_name ON users (display_name) WHERE is_system = 1;
