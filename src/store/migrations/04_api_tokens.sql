-- API tokens: only a SHA-256 of each token is kept (the token itself is shown once, when created).
-- An operator token may do everything; an anchor token only what concerns its room.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('operator', 'anchor')),
    room TEXT,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
