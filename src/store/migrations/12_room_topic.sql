-- What a room is about today: a title and tags (JSON array), for choosing its slate.
ALTER TABLE rooms ADD COLUMN title TEXT;
ALTER TABLE rooms ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
