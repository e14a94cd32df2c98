//! Which engine holds the store, and what differs between them: how a connection is taken, how
//! the schema is brought up to date, how the database is named in logs.

use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use super::sql::{p, Sql};
use super::{now_ms, pg, StoreResult};

pub(super) enum Engine {
    Lite(Mutex<Connection>),
    Pg(pg::Pg),
}

/// One connection, held for the caller alone until dropped.
pub(super) enum Db<'a> {
    Lite(MutexGuard<'a, Connection>),
    Pg(MutexGuard<'a, pg::PgConn>),
}

impl std::ops::Deref for Db<'_> {
    type Target = dyn Sql;
    fn deref(&self) -> &Self::Target {
        match self {
            Db::Lite(c) => &**c,
            Db::Pg(c) => &**c,
        }
    }
}

impl std::ops::DerefMut for Db<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Db::Lite(c) => &mut **c,
            Db::Pg(c) => &mut **c,
        }
    }
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `db` as it may be logged: a PostgreSQL URL without its password.
pub fn describe(db: &str) -> String {
    if !has_password(db) {
        return db.to_string();
    }
    let (scheme, rest) = db.split_once("://").unwrap_or(("", db));
    let before_options = rest.split('?').next().unwrap_or("");
    let (user, after) = before_options.rsplit_once('@').unwrap_or(("", before_options));
    let user = user.split(':').next().unwrap_or("");
    let host = after.split('/').next().unwrap_or("");
    // The path and the options may hold a password too (`?password=`): they are left out.
    format!("{scheme}://{user}:***@{host}/…")
}

/// Whether a PostgreSQL URL carries a password (in its user part or its options).
pub fn has_password(db: &str) -> bool {
    let Some((_, rest)) = db.split_once("://").filter(|_| is_postgres(db)) else { return false };
    // The driver reads a user part up to the last `@` before the options, slashes and all.
    let before_options = rest.split('?').next().unwrap_or("");
    let in_user = before_options.rsplit_once('@').is_some_and(|(u, _)| u.contains(':'));
    in_user || rest.to_ascii_lowercase().contains("password=")
}

/// PostgreSQL's steps: the first is SQLite's first 16 at once; every later step is added to both.
const PG_STEPS: [&str; 3] = [
    include_str!("migrations_pg/01_schema.sql"),
    include_str!("migrations_pg/02_nodes.sql"),
    include_str!("migrations_pg/03_room_nodes.sql"),
];

/// Brings a PostgreSQL database up to the newest step. Nodes starting together take turns (an
/// advisory lock held by the transaction), so each step runs once.
pub(super) fn migrate_pg(db: &mut dyn Sql) -> StoreResult<()> {
    let mut tx = db.transaction()?;
    tx.batch("SELECT pg_advisory_xact_lock(7710001)")?;
    // (Created only when missing: IF NOT EXISTS would log a notice at every start.)
    let made: usize = tx.query_row(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'schema_steps' AND table_schema = current_schema()",
        p![],
        |r| r.get(0),
    )?;
    if made == 0 {
        tx.batch("CREATE TABLE schema_steps (step BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")?;
    }
    let done: usize = tx.query_row("SELECT COUNT(*) FROM schema_steps", p![], |r| r.get(0))?;
    for (i, step) in PG_STEPS.iter().enumerate().skip(done) {
        tx.batch(step)?;
        tx.execute("INSERT INTO schema_steps (step, applied_at_ms) VALUES (?1, ?2)", p![i + 1, now_ms()])?;
    }
    tx.commit()
}
