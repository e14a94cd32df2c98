//! Several nodes: where each room is published now, so that a new session of the room is placed
//! on the node that decodes its feed. A node alone (SQLite) keeps nothing here.

use super::sql::p;
use super::{Store, StoreResult};

impl Store {
    /// Room `room` is published on this node now, or (`false`) no longer.
    pub fn note_published(&self, room: &str, live: bool) -> StoreResult<()> {
        let Some(me) = self.fence.node() else { return Ok(()) };
        let mut db = self.db();
        if live {
            db.execute(
                "INSERT INTO room_nodes (room_id, node, since_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (room_id) DO UPDATE SET node = excluded.node, since_ms = excluded.since_ms",
                p![room, &me, super::now_ms()],
            )?;
        } else {
            db.execute("DELETE FROM room_nodes WHERE room_id = ?1 AND node = ?2", p![room, &me])?;
        }
        Ok(())
    }

    /// Forgets what this node published before it started (its publishers are gone).
    pub fn forget_published(&self, node: &str) -> StoreResult<()> {
        self.db().execute("DELETE FROM room_nodes WHERE node = ?1", p![node])?;
        Ok(())
    }

    /// The nodes `rooms` are published on, in the rooms' order (a room published nowhere is left
    /// out).
    pub fn published_on(&self, rooms: &[String]) -> StoreResult<Vec<String>> {
        let mut db = self.db();
        let mut out = Vec::new();
        for room in rooms {
            if let Some(n) = db.query_opt("SELECT node FROM room_nodes WHERE room_id = ?1", p![room], |r| r.get(0))? {
                out.push(n);
            }
        }
        Ok(out)
    }
}
