-- Accounts: a username (unique without regard to case, through its lower-cased key) and an
-- Argon2id password hash (PHC string). Guests and system users have neither.
ALTER TABLE users ADD COLUMN username TEXT;
ALTER TABLE users ADD COLUMN username_key TEXT;
ALTER TABLE users ADD COLUMN password_hash TEXT;
CREATE UNIQUE INDEX users_username_key ON users (username_key) WHERE username_key IS NOT NULL;
