-- Slates: what a paused room shows. A text card (its words), or a file under the data
-- directory's slates/ (image, animation or video loop) that passed validation at upload.
CREATE TABLE slates (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,            -- text, image, animation, video
    title TEXT NOT NULL,
    tags TEXT NOT NULL,            -- JSON array of strings
    text TEXT,                     -- a text card's words
    file TEXT,                     -- the file's name in slates/
    width INTEGER,
    height INTEGER,
    duration_s REAL,
    has_audio INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,          -- approved, pending, rejected
    created_at INTEGER NOT NULL
);
-- The slate a room shows when a pause names none that can be shown.
ALTER TABLE rooms ADD COLUMN default_slate TEXT REFERENCES slates(id) ON DELETE SET NULL;
