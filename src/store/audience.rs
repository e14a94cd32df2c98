//! Our own viewers' statistics per room, as the audience counter writes them in batches.

use serde::Serialize;

use super::sql::p;
use super::{Store, StoreResult};

/// One viewer of a room.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ViewerRow {
    pub viewer: String,
    pub name: Option<String>,
    /// Unix milliseconds.
    pub first_join_ms: Option<i64>,
    pub last_leave_ms: Option<i64>,
    pub leaves: u64,
    /// Watch time of the stretches that ended.
    pub watch_ms: i64,
}

/// One minute of a room's timeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MinuteRow {
    /// Unix seconds of the minute's start.
    pub minute: i64,
    pub online_peak: u64,
    pub joins: u64,
    pub leaves: u64,
    /// The room was paused during the minute.
    pub paused: bool,
}

/// What a room's audience has: its viewers, its peak (and when) and its timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoomAudienceRows {
    pub room_id: String,
    pub viewers: Vec<ViewerRow>,
    pub peak: u64,
    pub peak_at_ms: Option<i64>,
    pub minutes: Vec<MinuteRow>,
}

impl Store {
    /// Writes what changed (rows replace the stored ones), in one transaction.
    pub fn save_audience(&self, rooms: &[RoomAudienceRows]) -> StoreResult<()> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        for r in rooms {
            for v in &r.viewers {
                tx.execute(
                    "INSERT INTO audience_viewers (room_id, viewer, name, first_join_ms, last_leave_ms, leaves, watch_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (room_id, viewer) DO UPDATE SET name = excluded.name,
                       first_join_ms = excluded.first_join_ms, last_leave_ms = excluded.last_leave_ms,
                       leaves = excluded.leaves, watch_ms = excluded.watch_ms",
                    p![&r.room_id, &v.viewer, &v.name, v.first_join_ms, v.last_leave_ms, v.leaves as i64, v.watch_ms],
                )?;
            }
            tx.execute(
                "INSERT INTO audience_rooms (room_id, peak, peak_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room_id) DO UPDATE SET peak = excluded.peak, peak_at_ms = excluded.peak_at_ms",
                p![&r.room_id, r.peak as i64, r.peak_at_ms],
            )?;
            for m in &r.minutes {
                tx.execute(
                    "INSERT INTO audience_minutes (room_id, minute, online_peak, joins, leaves, paused)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (room_id, minute) DO UPDATE SET online_peak = excluded.online_peak,
                       joins = excluded.joins, leaves = excluded.leaves, paused = excluded.paused",
                    p![&r.room_id, m.minute, m.online_peak as i64, m.joins as i64, m.leaves as i64, m.paused],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every room's audience as written (read once at start).
    pub fn audiences(&self) -> StoreResult<Vec<RoomAudienceRows>> {
        let mut db = self.db();
        let mut rooms: std::collections::BTreeMap<String, RoomAudienceRows> = Default::default();
        let found = db.query_all("SELECT room_id, peak, peak_at_ms FROM audience_rooms", p![], |r| {
            Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<Option<i64>>(2)?))
        })?;
        for (room_id, peak, peak_at_ms) in found {
            rooms.insert(
                room_id.clone(),
                RoomAudienceRows { room_id, peak: peak as u64, peak_at_ms, ..Default::default() },
            );
        }
        let viewers = db.query_all(
            "SELECT room_id, viewer, name, first_join_ms, last_leave_ms, leaves, watch_ms FROM audience_viewers",
            p![],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    ViewerRow {
                        viewer: r.get(1)?,
                        name: r.get(2)?,
                        first_join_ms: r.get(3)?,
                        last_leave_ms: r.get(4)?,
                        leaves: r.get::<i64>(5)? as u64,
                        watch_ms: r.get(6)?,
                    },
                ))
            },
        )?;
        for (room, v) in viewers {
            rooms
                .entry(room.clone())
                .or_insert_with(|| RoomAudienceRows { room_id: room, ..Default::default() })
                .viewers
                .push(v);
        }
        let minutes = db.query_all(
            "SELECT room_id, minute, online_peak, joins, leaves, paused FROM audience_minutes ORDER BY minute",
            p![],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    MinuteRow {
                        minute: r.get(1)?,
                        online_peak: r.get::<i64>(2)? as u64,
                        joins: r.get::<i64>(3)? as u64,
                        leaves: r.get::<i64>(4)? as u64,
                        paused: r.get(5)?,
                    },
                ))
            },
        )?;
        for (room, m) in minutes {
            rooms
                .entry(room.clone())
                .or_insert_with(|| RoomAudienceRows { room_id: room, ..Default::default() })
                .minutes
                .push(m);
        }
        Ok(rooms.into_values().collect())
    }
}

impl Store {
    /// Marks a room public (its playback needs no viewer token) or not.
    pub fn set_room_public(&self, room: &str, public: bool) -> StoreResult<()> {
        let n = self.db().execute("UPDATE rooms SET public = ?2 WHERE id = ?1", p![room, public])?;
        if n == 0 {
            return Err(super::StoreError::NoRoom(room.to_string()));
        }
        Ok(())
    }

    /// The public rooms.
    pub fn public_rooms(&self) -> StoreResult<Vec<String>> {
        self.db().query_all("SELECT id FROM rooms WHERE public = 1", p![], |r| r.get(0))
    }
}
