-- The platforms a room is shown on besides this service, each room's push server and key on each,
-- and the audience numbers the platforms report. Settings hold no secret, only where one is read
-- (an environment variable's or a file's name).
CREATE TABLE platforms (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE room_platforms (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    push_server TEXT NOT NULL,
    stream_key TEXT NOT NULL,
    live_address TEXT,
    remote TEXT NOT NULL DEFAULT '{}',
    key_issued_at INTEGER NOT NULL,
    key_expires_at INTEGER,
    key_revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, platform_id)
);
CREATE INDEX room_platforms_platform ON room_platforms(platform_id);
CREATE TABLE platform_audience (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    platform_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    peak INTEGER NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (room_id, platform_id, minute)
);
