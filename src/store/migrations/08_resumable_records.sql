-- Sessions and invitations now write down their own records (the session layer's spec, JSON)
-- instead of the API request that made them. Rows written before keep format 1 (the request)
-- until the service upgrades them once at start.
ALTER TABLE resumable ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
