-- Per-viewer unlocks: behaviour points per channel, paid entitlements (one row per payment, so a
-- replayed callback counts once), and each channel's unlock rules.
CREATE TABLE IF NOT EXISTS viewer_points (
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    points REAL NOT NULL,
    PRIMARY KEY (channel, token)
);
CREATE TABLE IF NOT EXISTS entitlements (
    payment_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    organ TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entitlements_viewer ON entitlements(channel, token);
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    rules TEXT NOT NULL
);
