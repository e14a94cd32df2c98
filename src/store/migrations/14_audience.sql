-- Our own viewers of each room, counted from their playlist fetches and written in batches: each
-- viewer's first join, last leave, leaves and watch time; the room's peak; a per-minute timeline.
CREATE TABLE audience_viewers (
    room_id TEXT NOT NULL,
    viewer TEXT NOT NULL,           -- the first 16 bytes of the viewer token's SHA-256, hex
    name TEXT,
    first_join_ms INTEGER,
    last_leave_ms INTEGER,
    leaves INTEGER NOT NULL DEFAULT 0,
    watch_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, viewer)
);
CREATE TABLE audience_rooms (
    room_id TEXT PRIMARY KEY,
    peak INTEGER NOT NULL DEFAULT 0,
    peak_at_ms INTEGER
);
CREATE TABLE audience_minutes (
    room_id TEXT NOT NULL,
    minute INTEGER NOT NULL,        -- Unix seconds of the minute's start
    online_peak INTEGER NOT NULL,
    joins INTEGER NOT NULL,
    leaves INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,  -- the room was paused during the minute
    PRIMARY KEY (room_id, minute)
);
