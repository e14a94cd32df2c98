-- Rooms on pause ("be right back"): since when, which slate, and what happens to the anchor's
-- sound. A row exists while the room is paused, so a pause survives a restart.
CREATE TABLE room_pauses (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
    since INTEGER NOT NULL,
    slate TEXT NOT NULL,
    audio TEXT NOT NULL
);
