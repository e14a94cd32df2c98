-- An invitation's deadline to the millisecond: in whole seconds, a restart could move it by up
-- to two seconds (one lost when it was written, one when it was read back).
ALTER TABLE resumable ADD COLUMN deadline_ms INTEGER;
UPDATE resumable SET deadline_ms = deadline * 1000 WHERE deadline IS NOT NULL;
