-- Several nodes: the node each room is published on now (anchors publish to any node's RTMP or,
-- through an nginx tier, to whichever node answered its callback). A new session of the room goes
-- to that node, where the room's feed is decoded. A dead node's rows are ignored with it.
CREATE TABLE room_nodes (
    room_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    since_ms INTEGER NOT NULL
);
