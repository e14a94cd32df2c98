-- A public room's playback needs no viewer token, and its segments may be cached by a CDN.
ALTER TABLE rooms ADD COLUMN public INTEGER NOT NULL DEFAULT 0;
