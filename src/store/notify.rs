//! Notifications between the nodes sharing a PostgreSQL database (NOTIFY and LISTEN): each node's
//! events reach every node's `/events`. A node alone (SQLite) has no one to tell.

use super::engine::Engine;
use super::sql::p;
use super::{Store, StoreResult};

pub use super::pg::OnNotify;

/// The most a notification may carry (PostgreSQL's limit is 8000 bytes).
pub const MAX_PAYLOAD: usize = 7900;

impl Store {
    /// Tells every listener on `channel` (a payload over [`MAX_PAYLOAD`] is refused by the server).
    pub fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        if let Engine::Pg(_) = self.engine {
            self.db().execute("SELECT pg_notify(?1, ?2)", p![channel, payload])?;
        }
        Ok(())
    }

    /// Calls `on` with every payload sent on `channel`, this node's own included.
    pub fn listen(&self, channel: &'static str, on: OnNotify) {
        if let Engine::Pg(pg) = &self.engine {
            pg.listen(channel, on);
        }
    }
}
