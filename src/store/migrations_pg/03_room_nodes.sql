-- The node each room is published on now (SQLite's step 18).
CREATE TABLE room_nodes (
    room_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    since_ms BIGINT NOT NULL
);
