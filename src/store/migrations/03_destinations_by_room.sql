-- A room's destinations are read at every session start: look them up by room, not by scan.
CREATE INDEX destinations_room ON destinations(room_id);
