-- Viewer polls: at most one open poll per session; one vote per viewer token (a second replaces
-- the first), the token kept only as its SHA-256; and when each option first reached each count,
-- so a tie goes to the option that got there first. A room may name the poll its pauses open.
CREATE TABLE polls (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    question TEXT NOT NULL,
    options TEXT NOT NULL,          -- JSON array of 2 to 6 strings
    opened_at_ms INTEGER NOT NULL,
    closes_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER,
    closed_by TEXT,                 -- timeout, resume, request, session_stopped
    winner INTEGER,
    votes INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX polls_one_open ON polls (session_id) WHERE closed_at_ms IS NULL;
CREATE TABLE poll_votes (
    poll_id TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    option INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (poll_id, token_hash)
);
CREATE TABLE poll_reached (
    poll_id TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    option INTEGER NOT NULL,
    count INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (poll_id, option, count)
);
ALTER TABLE rooms ADD COLUMN poll TEXT;
