//! Several nodes sharing one PostgreSQL database. Each node holds a lease (its row's expiry,
//! renewed by its heartbeat, in the database's clock so nodes' clocks need not agree) and runs the
//! resumable records whose `owner` it is. A record moves (a dead node's claimed, a draining
//! node's handed over) by raising its `epoch`; every write of a record names the owner and epoch
//! the writer runs it at, so a node that lost a record changes nothing of it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use super::engine::Engine;
use super::sql::p;
use super::{Resumable, Store, StoreResult};

/// This node's name and the epochs it runs its records at (none: one node alone, SQLite's case).
#[derive(Default)]
pub(super) struct Fence {
    node: OnceLock<String>,
    epochs: Mutex<HashMap<String, i64>>,
}

impl Fence {
    pub(super) fn node(&self) -> Option<String> {
        self.node.get().cloned()
    }

    pub(super) fn epoch(&self, id: &str) -> i64 {
        crate::sys::lock(&self.epochs).get(id).copied().unwrap_or(0)
    }

    fn note(&self, id: &str, session: &str, epoch: i64) {
        let mut e = crate::sys::lock(&self.epochs);
        e.insert(id.to_string(), epoch);
        e.insert(session.to_string(), epoch);
    }

    pub(super) fn written(&self, id: &str, rows: usize) {
        if rows == 0 && self.node.get().is_some() {
            tracing::warn!(id, "a record another node runs now was left as it is (stale epoch)");
        }
    }
}

/// Others take a dead node's sessions this long after its lease ended, in the database's clock
/// (a node stops composing before its lease ends, in its own).
pub const GRACE_MS: i64 = 500;

/// A node as the cluster sees it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeRow {
    pub id: String,
    pub advertise: String,
    pub capacity: usize,
    pub lease_until_ms: i64,
    /// Its lease is current.
    pub live: bool,
    pub draining: bool,
    /// Sessions it runs (an invitation's session counted once).
    pub sessions: usize,
}

impl Store {
    /// The database's clock in Unix milliseconds, as SQL.
    fn db_now(&self) -> &'static str {
        match self.engine {
            Engine::Pg(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Engine::Lite(_) => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        }
    }

    /// Registers this node (again, after a restart) with a lease of `lease_ms`.
    pub fn join_cluster(&self, node: &str, advertise: &str, capacity: usize, lease_ms: i64) -> StoreResult<()> {
        let _ = self.fence.node.set(node.to_string());
        let now = self.db_now();
        self.db().execute(
            &format!(
                "INSERT INTO nodes (id, advertise, capacity, lease_until_ms, draining, started_at_ms) \
                 VALUES (?1, ?2, ?3, {now} + ?4, 0, {now}) ON CONFLICT (id) DO UPDATE SET advertise = excluded.advertise, \
                 capacity = excluded.capacity, lease_until_ms = excluded.lease_until_ms, draining = 0, \
                 started_at_ms = excluded.started_at_ms"
            ),
            p![node, advertise, capacity, lease_ms],
        )?;
        Ok(())
    }

    /// Renews this node's lease while it holds (a lease that ran out is not renewed: the others
    /// may be taking its sessions); whether it is draining, or None: it ran out.
    pub fn renew_lease(&self, node: &str, lease_ms: i64) -> StoreResult<Option<bool>> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE nodes SET lease_until_ms = {now} + ?2 WHERE id = ?1 AND lease_until_ms > {now} RETURNING draining"
        );
        self.lease_db().query_opt(&sql, p![node, lease_ms], |r| r.get::<bool>(0))
    }

    pub fn set_draining(&self, node: &str) -> StoreResult<bool> {
        Ok(self.db().execute("UPDATE nodes SET draining = 1 WHERE id = ?1", p![node])? == 1)
    }

    /// Every node, with how many sessions each runs.
    pub fn nodes(&self) -> StoreResult<Vec<NodeRow>> {
        let now = self.db_now();
        self.db().query_all(
            &format!(
                "SELECT n.id, n.advertise, n.capacity, n.lease_until_ms, CASE WHEN n.lease_until_ms > {now} THEN 1 ELSE 0 END, \
                 n.draining, (SELECT COUNT(DISTINCT r.session_id) FROM resumable r WHERE r.owner = n.id) \
                 FROM nodes n ORDER BY n.id"
            ),
            p![],
            |r| {
                Ok(NodeRow {
                    id: r.get(0)?,
                    advertise: r.get(1)?,
                    capacity: r.get(2)?,
                    lease_until_ms: r.get(3)?,
                    live: r.get(4)?,
                    draining: r.get(5)?,
                    sessions: r.get(6)?,
                })
            },
        )
    }

    /// Nodes whose lease ran out more than [`GRACE_MS`] ago and that still own records.
    pub fn dead_nodes(&self) -> StoreResult<Vec<String>> {
        let grace_ms = GRACE_MS;
        let now = self.db_now();
        self.db().query_all(
            &format!(
                "SELECT id FROM nodes WHERE lease_until_ms + ?1 < {now} \
                 AND EXISTS (SELECT 1 FROM resumable r WHERE r.owner = nodes.id) ORDER BY id"
            ),
            p![grace_ms],
            |r| r.get(0),
        )
    }

    /// Takes up to `max` of `from`'s sessions (each with its invitation) for this node, raising
    /// their epoch; the sessions taken. Two nodes claiming at once take different sessions.
    pub fn claim_sessions(&self, from: &str, max: usize) -> StoreResult<Vec<String>> {
        let Some(me) = self.fence.node() else { return Ok(Vec::new()) };
        // The dead node's row is locked while its sessions move (another claimer skips it), and
        // it must still be dead: a node that renewed meanwhile keeps its sessions.
        let skip = if matches!(self.engine, Engine::Pg(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
        let now = self.db_now();
        let mut db = self.db();
        let mut tx = db.transaction()?;
        let dead = tx.query_opt(
            &format!("SELECT id FROM nodes WHERE id = ?1 AND lease_until_ms + ?2 < {now}{skip}"),
            p![from, GRACE_MS],
            |r| r.get::<String>(0),
        )?;
        if dead.is_none() {
            return Ok(Vec::new());
        }
        let rows: Vec<String> =
            tx.query_all("SELECT session_id FROM resumable WHERE owner = ?1 ORDER BY created_at, id", p![from], |r| {
                r.get(0)
            })?;
        let mut sessions: Vec<String> = Vec::new();
        for s in rows {
            if !sessions.contains(&s) && sessions.len() < max {
                sessions.push(s);
            }
        }
        for s in &sessions {
            let moved = tx.query_all(
                "UPDATE resumable SET owner = ?1, epoch = epoch + 1 WHERE owner = ?2 AND session_id = ?3 RETURNING id, epoch",
                p![&me, from, s],
                |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
            )?;
            for (id, epoch) in moved {
                self.fence.note(&id, s, epoch);
            }
        }
        tx.commit()?;
        Ok(sessions)
    }

    /// Gives this node's session (with its invitation) to node `to`; false if it is not this
    /// node's at the epoch it runs it.
    pub fn hand_over(&self, session: &str, to: &str) -> StoreResult<bool> {
        let (Some(me), epoch) = (self.fence.node(), self.fence.epoch(session)) else { return Ok(false) };
        let n = self.db().execute(
            "UPDATE resumable SET owner = ?1, epoch = epoch + 1 WHERE session_id = ?2 AND owner = ?3 AND epoch = ?4",
            p![to, session, &me, epoch],
        )?;
        Ok(n > 0)
    }

    /// The records this node is to run (each one's epoch noted for its writes).
    pub fn owned_resumables(&self) -> StoreResult<Vec<Resumable>> {
        let Some(me) = self.fence.node() else { return self.resumables() };
        let owned: Vec<(String, String, i64)> =
            self.db().query_all("SELECT id, session_id, epoch FROM resumable WHERE owner = ?1", p![&me], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        for (id, session, epoch) in &owned {
            self.fence.note(id, session, *epoch);
        }
        Ok(self.resumables()?.into_iter().filter(|r| owned.iter().any(|(id, ..)| *id == r.id)).collect())
    }

    /// The epoch this node runs record `id` at.
    pub fn record_epoch(&self, id: &str) -> i64 {
        self.fence.epoch(id)
    }

    /// The node that runs session or invitation `id` and its address, when another node does.
    pub fn runner_of(&self, id: &str) -> StoreResult<Option<(String, String)>> {
        let me = self.fence.node().unwrap_or_default();
        self.db().query_opt(
            "SELECT n.id, n.advertise FROM resumable r JOIN nodes n ON n.id = r.owner \
             WHERE (r.id = ?1 OR r.session_id = ?1) AND n.id <> ?2 LIMIT 1",
            p![id, &me],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}
