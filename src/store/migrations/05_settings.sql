-- Values the service keeps across restarts, by name (the key that signs viewers' segment URLs:
-- so a restart does not turn every viewer's URLs invalid).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
