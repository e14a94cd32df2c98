//! Rooms on pause: a row while a room is paused, so a pause survives a restart.

use serde::Serialize;

use super::sql::p;
use super::{Store, StoreError, StoreResult};

/// A paused room: since when (Unix seconds), the slate it shows and what happens to its anchor's
/// sound (`keep` or `mute`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pause {
    pub room_id: String,
    pub since: i64,
    pub slate: String,
    pub audio: String,
}

impl Store {
    /// Writes the room's pause (a paused room's pause is replaced, its `since` kept).
    pub fn set_pause(&self, p: &Pause) -> StoreResult<Pause> {
        let mut db = self.db();
        let exists: Option<String> =
            db.query_opt("SELECT id FROM rooms WHERE id = ?1", p![&p.room_id], |r| r.get(0))?;
        if exists.is_none() {
            return Err(StoreError::NoRoom(p.room_id.clone()));
        }
        db.execute(
            "INSERT INTO room_pauses (room_id, since, slate, audio) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (room_id) DO UPDATE SET slate = excluded.slate, audio = excluded.audio",
            p![&p.room_id, p.since, &p.slate, &p.audio],
        )?;
        let since: i64 =
            db.query_row("SELECT since FROM room_pauses WHERE room_id = ?1", p![&p.room_id], |r| r.get(0))?;
        Ok(Pause { since, ..p.clone() })
    }

    /// Ends the room's pause; the pause that ended, if it was paused.
    pub fn clear_pause(&self, room: &str) -> StoreResult<Option<Pause>> {
        let mut db = self.db();
        let p = db.query_opt("SELECT since, slate, audio FROM room_pauses WHERE room_id = ?1", p![room], |r| {
            Ok(Pause { room_id: room.to_string(), since: r.get(0)?, slate: r.get(1)?, audio: r.get(2)? })
        })?;
        db.execute("DELETE FROM room_pauses WHERE room_id = ?1", p![room])?;
        Ok(p)
    }

    /// Every paused room's pause.
    pub fn pauses(&self) -> StoreResult<Vec<Pause>> {
        self.db().query_all("SELECT room_id, since, slate, audio FROM room_pauses ORDER BY room_id", p![], |r| {
            Ok(Pause { room_id: r.get(0)?, since: r.get(1)?, slate: r.get(2)?, audio: r.get(3)? })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_kept_until_it_is_cleared_and_keeps_its_start() {
        let s = Store::open_in_memory().unwrap();
        let room = s.create_room("A", "costream", 60).unwrap();
        let p = Pause { room_id: room.id.clone(), since: 100, slate: "system".into(), audio: "keep".into() };
        assert_eq!(s.set_pause(&p).unwrap().since, 100);
        let again = s.set_pause(&Pause { since: 200, audio: "mute".into(), ..p.clone() }).unwrap();
        assert_eq!((again.since, again.audio.as_str()), (100, "mute"), "a second pause keeps the first's start");
        assert_eq!(s.pauses().unwrap().len(), 1);
        assert_eq!(s.clear_pause(&room.id).unwrap().map(|p| p.since), Some(100));
        assert_eq!(s.pauses().unwrap(), vec![]);
        assert!(matches!(s.set_pause(&Pause { room_id: "room_x".into(), ..p }), Err(StoreError::NoRoom(_))));
    }
}
