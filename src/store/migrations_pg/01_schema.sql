-- The schema as SQLite's steps 1 to 16 left it, in PostgreSQL's types: every integer is BIGINT
-- (times are in milliseconds), every real DOUBLE PRECISION. Later steps are added to both lists.
CREATE TABLE slates (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    text TEXT,
    file TEXT,
    width BIGINT,
    height BIGINT,
    duration_s DOUBLE PRECISION,
    has_audio BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    default_slate TEXT REFERENCES slates(id) ON DELETE SET NULL,
    title TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    poll TEXT,
    public BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE stream_keys (
    key TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX stream_keys_room ON stream_keys(room_id);
CREATE TABLE destinations (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX destinations_room ON destinations(room_id);
CREATE TABLE viewer_points (
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    points DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (channel, token)
);
CREATE TABLE entitlements (
    payment_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    organ TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX entitlements_viewer ON entitlements(channel, token);
CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    rules TEXT NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('operator', 'anchor')),
    room TEXT,
    created_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE viewer_watch (
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    seconds DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (channel, token)
);
CREATE TABLE resumable (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    session_id TEXT NOT NULL,
    state TEXT,
    pk TEXT,
    deadline BIGINT,
    created_at BIGINT NOT NULL,
    format BIGINT NOT NULL DEFAULT 1,
    deadline_ms BIGINT
);
CREATE TABLE room_pauses (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
    since BIGINT NOT NULL,
    slate TEXT NOT NULL,
    audio TEXT NOT NULL
);
CREATE TABLE polls (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    question TEXT NOT NULL,
    options TEXT NOT NULL,
    opened_at_ms BIGINT NOT NULL,
    closes_at_ms BIGINT NOT NULL,
    closed_at_ms BIGINT,
    closed_by TEXT,
    winner BIGINT,
    votes BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX polls_one_open ON polls (session_id) WHERE closed_at_ms IS NULL;
CREATE TABLE poll_votes (
    poll_id TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    option BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (poll_id, token_hash)
);
CREATE TABLE poll_reached (
    poll_id TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    option BIGINT NOT NULL,
    count BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (poll_id, option, count)
);
CREATE TABLE audience_viewers (
    room_id TEXT NOT NULL,
    viewer TEXT NOT NULL,
    name TEXT,
    first_join_ms BIGINT,
    last_leave_ms BIGINT,
    leaves BIGINT NOT NULL DEFAULT 0,
    watch_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, viewer)
);
CREATE TABLE audience_rooms (
    room_id TEXT PRIMARY KEY,
    peak BIGINT NOT NULL DEFAULT 0,
    peak_at_ms BIGINT
);
CREATE TABLE audience_minutes (
    room_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    online_peak BIGINT NOT NULL,
    joins BIGINT NOT NULL,
    leaves BIGINT NOT NULL,
    paused BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, minute)
);
CREATE TABLE platforms (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE room_platforms (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    push_server TEXT NOT NULL,
    stream_key TEXT NOT NULL,
    live_address TEXT,
    remote TEXT NOT NULL DEFAULT '{}',
    key_issued_at BIGINT NOT NULL,
    key_expires_at BIGINT,
    key_revoked BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, platform_id)
);
CREATE INDEX room_platforms_platform ON room_platforms(platform_id);
CREATE TABLE platform_audience (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    platform_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    peak BIGINT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (room_id, platform_id, minute)
);
