//! Platforms (their settings, no secrets) and each room's push server and key on each of them.

use super::sql::{p, Row};
use super::{now_s, Store, StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq)]
pub struct PlatformRecord {
    pub id: String,
    pub kind: String,
    pub name: String,
    /// The kind's settings, JSON.
    pub settings: String,
    pub created_at: i64,
}

/// A room on one platform: where to push, with which key, and where viewers watch.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomPlatform {
    pub room_id: String,
    pub platform_id: String,
    pub push_server: String,
    pub stream_key: String,
    pub live_address: Option<String>,
    /// The platform's own ids for it (JSON), e.g. a broadcast and its stream.
    pub remote: String,
    pub key_issued_at: i64,
    pub key_expires_at: Option<i64>,
    pub key_revoked: bool,
}

const BINDING: &str = "SELECT room_id, platform_id, push_server, stream_key, live_address, remote, key_issued_at, \
                       key_expires_at, key_revoked FROM room_platforms";

fn binding(r: &Row) -> StoreResult<RoomPlatform> {
    Ok(RoomPlatform {
        room_id: r.get(0)?,
        platform_id: r.get(1)?,
        push_server: r.get(2)?,
        stream_key: r.get(3)?,
        live_address: r.get(4)?,
        remote: r.get(5)?,
        key_issued_at: r.get(6)?,
        key_expires_at: r.get(7)?,
        key_revoked: r.get(8)?,
    })
}

fn platform(r: &Row) -> StoreResult<PlatformRecord> {
    Ok(PlatformRecord { id: r.get(0)?, kind: r.get(1)?, name: r.get(2)?, settings: r.get(3)?, created_at: r.get(4)? })
}

impl Store {
    pub fn add_platform(&self, p: &PlatformRecord) -> StoreResult<()> {
        let done = self.db().execute(
            "INSERT INTO platforms (id, kind, name, settings, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(id) DO NOTHING",
            p![&p.id, &p.kind, &p.name, &p.settings, p.created_at],
        )?;
        if done == 0 {
            return Err(StoreError::PlatformExists(p.id.clone()));
        }
        Ok(())
    }

    pub fn platforms(&self) -> StoreResult<Vec<PlatformRecord>> {
        self.db().query_all(
            "SELECT id, kind, name, settings, created_at FROM platforms ORDER BY created_at, id",
            p![],
            platform,
        )
    }

    pub fn platform(&self, id: &str) -> StoreResult<PlatformRecord> {
        self.db()
            .query_opt("SELECT id, kind, name, settings, created_at FROM platforms WHERE id = ?1", p![id], platform)?
            .ok_or_else(|| StoreError::NoPlatform(id.to_string()))
    }

    /// Deletes a platform that carries no room (their pushes would go on with nothing to manage them).
    pub fn delete_platform(&self, id: &str) -> StoreResult<()> {
        let mut db = self.db();
        let rooms: Vec<String> =
            db.query_all("SELECT room_id FROM room_platforms WHERE platform_id = ?1 LIMIT 5", p![id], |r| r.get(0))?;
        if !rooms.is_empty() {
            return Err(StoreError::PlatformInUse(id.to_string(), rooms.join(", ")));
        }
        if db.execute("DELETE FROM platforms WHERE id = ?1", p![id])? == 0 {
            return Err(StoreError::NoPlatform(id.to_string()));
        }
        Ok(())
    }

    /// Writes a room's binding to a platform, replacing an earlier one (a new key).
    pub fn put_room_platform(&self, b: &RoomPlatform) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO room_platforms (room_id, platform_id, push_server, stream_key, live_address, remote, \
             key_issued_at, key_expires_at, key_revoked, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT(room_id, platform_id) DO UPDATE SET push_server = ?3, stream_key = ?4, live_address = ?5, \
             remote = ?6, key_issued_at = ?7, key_expires_at = ?8, key_revoked = ?9",
            p![
                &b.room_id,
                &b.platform_id,
                &b.push_server,
                &b.stream_key,
                &b.live_address,
                &b.remote,
                b.key_issued_at,
                b.key_expires_at,
                b.key_revoked,
                now_s()
            ],
        )?;
        Ok(())
    }

    /// Takes a room off a platform.
    pub fn delete_room_platform(&self, room: &str, platform: &str) -> StoreResult<()> {
        let n = self
            .db()
            .execute("DELETE FROM room_platforms WHERE room_id = ?1 AND platform_id = ?2", p![room, platform])?;
        if n == 0 {
            return Err(StoreError::NoPlatform(format!("{platform} for room {room}")));
        }
        Ok(())
    }

    /// A room's platforms, in the order they were added.
    pub fn room_platforms(&self, room: &str) -> StoreResult<Vec<RoomPlatform>> {
        self.db().query_all(
            &format!("{BINDING} WHERE room_id = ?1 ORDER BY created_at, platform_id"),
            p![room],
            binding,
        )
    }

    /// Every room's binding, for the key clock and the audience polls.
    pub fn all_room_platforms(&self) -> StoreResult<Vec<RoomPlatform>> {
        self.db().query_all(BINDING, p![], binding)
    }

    /// A push URL's key was replaced: what a restart resumes pushes to the new one. The URLs are
    /// matched as whole JSON strings in the written records.
    pub fn move_push_url(&self, old: &str, new: &str) -> StoreResult<usize> {
        let (old, new) =
            (serde_json::to_string(old).unwrap_or_default(), serde_json::to_string(new).unwrap_or_default());
        // A record holds `old` when taking it out changes the record (`instr` is SQLite's alone;
        // `old` is a JSON string, never empty).
        let n = self.db().execute(
            "UPDATE resumable SET request = replace(request, ?1, ?2) WHERE replace(request, ?1, '') <> request",
            p![&old, &new],
        )?;
        Ok(n)
    }

    /// Keeps the highest count a platform reported for a room in a minute, and its latest.
    pub fn note_platform_audience(&self, room: &str, platform: &str, minute: i64, count: u64) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO platform_audience (room_id, platform_id, minute, peak, last) VALUES (?1, ?2, ?3, ?4, ?4) \
             ON CONFLICT(room_id, platform_id, minute) DO UPDATE SET peak = CASE WHEN platform_audience.peak > \
             excluded.peak THEN platform_audience.peak ELSE excluded.peak END, last = excluded.last",
            p![room, platform, minute, count as i64],
        )?;
        Ok(())
    }

    /// A room's per-minute platform counts: (platform, minute, peak, last), oldest first.
    pub fn platform_audience(&self, room: &str) -> StoreResult<Vec<(String, i64, u64, u64)>> {
        self.db().query_all(
            "SELECT platform_id, minute, peak, last FROM platform_audience WHERE room_id = ?1 ORDER BY minute, platform_id",
            p![room],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<i64>(2)? as u64, r.get::<i64>(3)? as u64)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Resumable, ResumeKind};
    use super::*;

    #[test]
    fn a_new_key_reaches_what_a_restart_resumes() {
        let store = Store::open_in_memory().unwrap();
        let (old, new) = ("rtmp://push.example/app/key-1", "rtmp://push.example/app/key-2");
        let request = serde_json::json!({"outputs": [old, "rtmp://push.example/app/key-10"]}).to_string();
        let r = Resumable {
            id: "ses_1".into(),
            kind: ResumeKind::Session,
            request,
            format: 2,
            session_id: "ses_1".into(),
            state: None,
            pk: None,
            deadline_ms: None,
        };
        store.save_resumable(&r).unwrap();
        assert_eq!(store.move_push_url(old, new).unwrap(), 1);
        let got = store.resumable("ses_1").unwrap().unwrap().request;
        assert_eq!(got, serde_json::json!({"outputs": [new, "rtmp://push.example/app/key-10"]}).to_string());
    }
}
