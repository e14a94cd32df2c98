-- The schema as costream created it before migrations existed (one CREATE TABLE IF NOT
-- EXISTS batch, user_version 0): databases made then must be upgraded in place.
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_keys (
    key TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS stream_keys_room ON stream_keys(room_id);
CREATE TABLE IF NOT EXISTS destinations (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS viewer_points (
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    points REAL NOT NULL,
    PRIMARY KEY (channel, token)
);
CREATE TABLE IF NOT EXISTS entitlements (
    payment_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    organ TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entitlements_viewer ON entitlements(channel, token);
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    rules TEXT NOT NULL
);
