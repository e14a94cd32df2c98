//! What must survive a restart — rooms, their stream keys, their destinations — in an embedded
//! SQLite database (one file by default), or in PostgreSQL when several nodes share it.
//!
//! Stream keys are issued per room, expire (24 h by default) and can be regenerated, which revokes
//! every earlier key of the room. A key is checked at publish time, so an expired or revoked key is
//! refused before any media is accepted.

use std::path::Path;
use std::sync::Mutex;

use rand::RngCore;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

mod audience;
mod engine;
mod nodes;
mod notify;
mod pauses;
mod pg;
mod platforms;
mod polls;
mod resumable;
mod room_nodes;
mod slates;
mod sql;
mod sqlite;
mod tokens;
mod viewers;
pub use audience::{MinuteRow, RoomAudienceRows, ViewerRow};
pub use engine::{describe, has_password, is_postgres};
use engine::{migrate_pg, Db, Engine};
pub use nodes::NodeRow;
pub use notify::{OnNotify, MAX_PAYLOAD as MAX_NOTIFY_PAYLOAD};
pub use pauses::Pause;
pub use platforms::{PlatformRecord, RoomPlatform};
pub use polls::{OpenRefusal, PollRecord, VoteOutcome};
pub use resumable::{Resumable, ResumeKind};
use serde::Serialize;
pub use slates::Slate;
use sql::{p, Sql};
pub use tokens::{token_hash, Role, TokenInfo};

/// Default lifetime of a stream key.
pub const DEFAULT_KEY_TTL_S: i64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL's code and message, never its detail (which quotes the row: a key, say).
    #[error("database: {0}")]
    Pg(String),
    #[error("database: {0}")]
    Column(String),
    #[error("no room {0}")]
    NoRoom(String),
    #[error("no destination {0}")]
    NoDestination(String),
    #[error("no token {0}")]
    NoToken(String),
    #[error("no slate {0}")]
    NoSlate(String),
    #[error("no poll {0}")]
    NoPoll(String),
    #[error("no platform {0}")]
    NoPlatform(String),
    #[error("platform {0} already exists")]
    PlatformExists(String),
    #[error("platform {0} still carries rooms: {1}")]
    PlatformInUse(String, String),
    #[error("schema migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("database task: {0}")]
    Task(String),
    #[error("the service holds {0} rooms, its most; delete one first")]
    TooManyRooms(usize),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Pg(match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        })
    }
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    Unknown,
    Expired,
    Revoked,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyProblem::Unknown => "unknown stream key",
            KeyProblem::Expired => "stream key expired",
            KeyProblem::Revoked => "stream key was regenerated",
        })
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StreamKey {
    pub key: String,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Room {
    pub id: String,
    pub name: String,
    /// "costream" for this service itself, or a third-party platform's name.
    pub platform: String,
    pub created_at: i64,
    pub key: Option<StreamKey>,
    /// The slate a pause shows when it names none that can be shown ("auto").
    pub default_slate: Option<String>,
    /// What the room is about today (its slate is chosen by it).
    pub title: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Destination {
    pub id: String,
    pub room_id: String,
    pub url: String,
    pub created_at: i64,
}

pub struct Store {
    engine: Engine,
    /// Who writes: this node and the epoch of each record it runs (see nodes.rs).
    fence: nodes::Fence,
}

pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The schema, one step per file: a database is brought up to the newest step when it is opened
/// (its `user_version` says which steps it has). Steps are only ever added, never edited.
const STEPS: [&str; 18] = [
    include_str!("migrations/01_rooms_keys_destinations.sql"),
    include_str!("migrations/02_unlocks.sql"),
    include_str!("migrations/03_destinations_by_room.sql"),
    include_str!("migrations/04_api_tokens.sql"),
    include_str!("migrations/05_settings.sql"),
    include_str!("migrations/06_viewer_watch.sql"),
    include_str!("migrations/07_resumable.sql"),
    include_str!("migrations/08_resumable_records.sql"),
    include_str!("migrations/09_room_pauses.sql"),
    include_str!("migrations/10_deadline_ms.sql"),
    include_str!("migrations/11_slates.sql"),
    include_str!("migrations/12_room_topic.sql"),
    include_str!("migrations/13_polls.sql"),
    include_str!("migrations/14_audience.sql"),
    include_str!("migrations/15_public_rooms.sql"),
    include_str!("migrations/16_platforms.sql"),
    include_str!("migrations/17_nodes.sql"),
    include_str!("migrations/18_room_nodes.sql"),
];

fn migrations() -> Migrations<'static> {
    Migrations::new(STEPS.iter().map(|s| M::up(s)).collect())
}

/// How many schema steps this build knows (a database opened by it is at this version).
pub fn schema_version() -> usize {
    STEPS.len()
}

impl Store {
    /// A PostgreSQL database (`postgres://…`) or a SQLite file (anything else).
    pub fn connect(db: &str) -> StoreResult<Store> {
        if !is_postgres(db) {
            return Self::open(Path::new(db));
        }
        let pg = pg::Pg::connect(db)?;
        migrate_pg(&mut *pg.conn())?;
        Ok(Store { engine: Engine::Pg(pg), fence: Default::default() })
    }

    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> StoreResult<Store> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        Self::init(Connection::open(path)?)
    }

    pub fn open_in_memory() -> StoreResult<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut c: Connection) -> StoreResult<Store> {
        c.pragma_update(None, "foreign_keys", "ON")?;
        migrations().to_latest(&mut c)?;
        Ok(Store { engine: Engine::Lite(Mutex::new(c)), fence: Default::default() })
    }

    /// The connection lease renewals use (their own, on PostgreSQL).
    fn lease_db(&self) -> Db<'_> {
        match &self.engine {
            Engine::Pg(pg) => Db::Pg(pg.lease_conn()),
            Engine::Lite(_) => self.db(),
        }
    }

    fn db(&self) -> Db<'_> {
        match &self.engine {
            Engine::Lite(c) => Db::Lite(crate::sys::lock(c)),
            Engine::Pg(pg) => Db::Pg(pg.conn()),
        }
    }

    /// Creates a room and issues its first stream key.
    pub fn create_room(&self, name: &str, platform: &str, key_ttl_s: i64) -> StoreResult<Room> {
        self.create_room_within(name, platform, key_ttl_s, usize::MAX)
    }

    /// [`Store::create_room`] unless `max_rooms` exist (counted and made under one lock: SQLite's
    /// connection, or on PostgreSQL a lock every node's room creation takes).
    pub fn create_room_within(&self, name: &str, platform: &str, ttl_s: i64, max_rooms: usize) -> StoreResult<Room> {
        let (id, now) = (format!("room_{}", random_hex(6)), now_s());
        {
            let mut db = self.db();
            let mut tx = db.transaction()?;
            if let Engine::Pg(_) = self.engine {
                tx.batch("SELECT pg_advisory_xact_lock(7710002)")?;
            }
            let n: usize = tx.query_row("SELECT COUNT(*) FROM rooms", p![], |r| r.get(0))?;
            if n >= max_rooms {
                return Err(StoreError::TooManyRooms(n));
            }
            tx.execute(
                "INSERT INTO rooms (id, name, platform, created_at) VALUES (?1, ?2, ?3, ?4)",
                p![&id, name, platform, now],
            )?;
            tx.commit()?;
        }
        self.regenerate_key(&id, ttl_s)?;
        self.room(&id)
    }

    pub fn room(&self, id: &str) -> StoreResult<Room> {
        let mut db = self.db();
        let r = db.query_opt(
            "SELECT id, name, platform, created_at, default_slate, title, tags FROM rooms WHERE id = ?1",
            p![id],
            |r| {
                let tags: String = r.get(6)?;
                Ok(Room {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    platform: r.get(2)?,
                    created_at: r.get(3)?,
                    key: None,
                    default_slate: r.get(4)?,
                    title: r.get(5)?,
                    tags: serde_json::from_str(&tags).unwrap_or_default(),
                })
            },
        )?;
        let mut room = r.ok_or_else(|| StoreError::NoRoom(id.to_string()))?;
        room.key = Self::current_key(&mut *db, id)?;
        Ok(room)
    }

    pub fn rooms(&self) -> StoreResult<Vec<Room>> {
        let ids: Vec<String> =
            self.db().query_all("SELECT id FROM rooms ORDER BY created_at, id", p![], |r| r.get(0))?;
        ids.iter().map(|id| self.room(id)).collect()
    }

    /// Sets what the room is about (each part left as it is when None).
    pub fn set_room_topic(&self, id: &str, title: Option<&str>, tags: Option<&[String]>) -> StoreResult<()> {
        let mut db = self.db();
        let mut n: usize = db.query_row("SELECT COUNT(*) FROM rooms WHERE id = ?1", p![id], |r| r.get(0))?;
        if let Some(t) = title {
            n = db.execute("UPDATE rooms SET title = ?2 WHERE id = ?1", p![id, t])?;
        }
        if let Some(tags) = tags {
            let tags = serde_json::to_string(tags).unwrap_or_else(|_| "[]".into());
            n = db.execute("UPDATE rooms SET tags = ?2 WHERE id = ?1", p![id, tags])?;
        }
        if n == 0 {
            return Err(StoreError::NoRoom(id.to_string()));
        }
        Ok(())
    }

    pub fn delete_room(&self, id: &str) -> StoreResult<()> {
        let n = self.db().execute("DELETE FROM rooms WHERE id = ?1", p![id])?;
        if n == 0 {
            return Err(StoreError::NoRoom(id.to_string()));
        }
        Ok(())
    }

    /// A room has one key that is not revoked: regenerating revokes the others in its transaction.
    fn current_key(db: &mut dyn Sql, room: &str) -> StoreResult<Option<StreamKey>> {
        db.query_opt(
            "SELECT key, issued_at, expires_at FROM stream_keys WHERE room_id = ?1 AND revoked = 0 ORDER BY issued_at DESC, key LIMIT 1",
            p![room],
            |r| Ok(StreamKey { key: r.get(0)?, issued_at: r.get(1)?, expires_at: r.get(2)? }),
        )
    }

    /// Issues a new key for the room; every earlier key stops working.
    pub fn regenerate_key(&self, room: &str, ttl_s: i64) -> StoreResult<StreamKey> {
        let mut db = self.db();
        let mut tx = db.transaction()?;
        // FOR UPDATE on PostgreSQL (SQLite's writer lock does the same): two regenerations of one
        // room take turns, so one key is left.
        let lock = if matches!(self.engine, Engine::Pg(_)) { " FOR UPDATE" } else { "" };
        let exists: Option<String> =
            tx.query_opt(&format!("SELECT id FROM rooms WHERE id = ?1{lock}"), p![room], |r| r.get(0))?;
        if exists.is_none() {
            return Err(StoreError::NoRoom(room.to_string()));
        }
        tx.execute("UPDATE stream_keys SET revoked = 1 WHERE room_id = ?1", p![room])?;
        let now = now_s();
        let k = StreamKey { key: format!("sk_{}", random_hex(16)), issued_at: now, expires_at: now + ttl_s };
        tx.execute(
            "INSERT INTO stream_keys (key, room_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            p![&k.key, room, k.issued_at, k.expires_at],
        )?;
        tx.commit()?;
        Ok(k)
    }

    /// The room a key publishes to, if the key is valid at `now`.
    pub fn check_key(&self, key: &str, now: i64) -> StoreResult<std::result::Result<String, KeyProblem>> {
        let row: Option<(String, i64, bool)> = self.db().query_opt(
            "SELECT room_id, expires_at, revoked FROM stream_keys WHERE key = ?1",
            p![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(match row {
            None => Err(KeyProblem::Unknown),
            Some((_, _, true)) => Err(KeyProblem::Revoked),
            Some((_, exp, _)) if exp <= now => Err(KeyProblem::Expired),
            Some((room, _, _)) => Ok(room),
        })
    }

    pub fn add_destination(&self, room: &str, url: &str) -> StoreResult<Destination> {
        self.room(room)?;
        let d = Destination {
            id: format!("dst_{}", random_hex(6)),
            room_id: room.to_string(),
            url: url.to_string(),
            created_at: now_s(),
        };
        self.db().execute(
            "INSERT INTO destinations (id, room_id, url, created_at) VALUES (?1, ?2, ?3, ?4)",
            p![&d.id, &d.room_id, &d.url, d.created_at],
        )?;
        Ok(d)
    }

    pub fn destinations(&self, room: &str) -> StoreResult<Vec<Destination>> {
        self.room(room)?;
        self.db().query_all(
            "SELECT id, room_id, url, created_at FROM destinations WHERE room_id = ?1 ORDER BY created_at, id",
            p![room],
            |r| Ok(Destination { id: r.get(0)?, room_id: r.get(1)?, url: r.get(2)?, created_at: r.get(3)? }),
        )
    }

    pub fn delete_destination(&self, room: &str, id: &str) -> StoreResult<()> {
        let n = self.db().execute("DELETE FROM destinations WHERE id = ?1 AND room_id = ?2", p![id, room])?;
        if n == 0 {
            return Err(StoreError::NoDestination(id.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
