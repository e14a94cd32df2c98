-- Nodes and who runs what (SQLite's step 17).
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    advertise TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    draining BIGINT NOT NULL DEFAULT 0,
    started_at_ms BIGINT NOT NULL
);
ALTER TABLE resumable ADD COLUMN owner TEXT;
ALTER TABLE resumable ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX resumable_owner ON resumable(owner);
