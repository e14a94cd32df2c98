-- Several nodes on one PostgreSQL database: each node's lease (a row with an expiry, renewed by its
-- heartbeat), and which node runs each resumable session or invitation, under an epoch that grows
-- with every move (a write carrying an older one is refused). One node on SQLite leaves both empty.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    advertise TEXT NOT NULL,        -- the node's API base URL, for requests it must answer
    capacity INTEGER NOT NULL,      -- sessions it carries in real time
    lease_until_ms INTEGER NOT NULL,
    draining INTEGER NOT NULL DEFAULT 0,
    started_at_ms INTEGER NOT NULL
);
ALTER TABLE resumable ADD COLUMN owner TEXT;
ALTER TABLE resumable ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
