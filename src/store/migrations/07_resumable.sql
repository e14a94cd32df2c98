-- What a restart resumes: running sessions and live invitations, each as the request that made it
-- (the same checks apply again when it is resumed), with what changed since.
CREATE TABLE resumable (
    id TEXT PRIMARY KEY,
    -- 'session' or 'invitation'
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    -- the session it runs as (an invitation's PK session; a session's own id)
    session_id TEXT NOT NULL,
    -- an invitation's state: pending, accepted or ended
    state TEXT,
    -- the PK bar's settings as last changed (JSON)
    pk TEXT,
    -- unix seconds: when a pending invitation expires
    deadline INTEGER,
    created_at INTEGER NOT NULL
);
