//! Several compositor nodes on one PostgreSQL database. Each node renews a lease every second;
//! it runs the records it owns, takes up a dead node's sessions (up to what it can carry) once
//! that node's lease has run out, and gives its own away when told to drain. A node that misses
//! its renewals stops composing before its lease runs out (`sys::fence`), and others wait a grace
//! after it, so no session is ever pushed by two nodes. Requests for a session another node runs
//! are forwarded to that node by the API.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rooms::Rooms;
use crate::session::invite::Invitations;
use crate::session::resume::resume;
use crate::session::SessionState;
use crate::store::{NodeRow, Store};
use crate::sys::lock;

/// How long a renewal holds.
pub const LEASE_MS: i64 = 3000;
/// How often the lease is renewed, and the cluster looked at.
const BEAT: Duration = Duration::from_millis(500);
/// A node stops composing this long before its lease ends, in its own clock.
const MARGIN: Duration = Duration::from_millis(700);

pub use crate::config::NodeConfig;

pub mod events;

pub struct Cluster {
    store: Arc<Store>,
    invitations: Arc<Invitations>,
    rooms: Arc<Rooms>,
    /// Rooms whose publishers changed since the last look (written down where they are live).
    published: Mutex<HashSet<String>>,
    me: NodeConfig,
    /// Records tried at an epoch (one that failed is not tried again at it).
    tried: Mutex<HashSet<(String, i64)>>,
    /// The database says this node drains.
    draining: AtomicBool,
    stop: AtomicBool,
}

impl Cluster {
    /// Registers this node and starts its heartbeat.
    pub fn start(
        store: Arc<Store>,
        invitations: Arc<Invitations>,
        rooms: Arc<Rooms>,
        me: NodeConfig,
    ) -> crate::Result<Arc<Cluster>> {
        let started = Instant::now();
        let db = |e: crate::store::StoreError| crate::Error::Database(e.to_string());
        store.join_cluster(&me.id, &me.advertise, me.capacity, LEASE_MS).map_err(db)?;
        store.forget_published(&me.id).map_err(db)?;
        crate::sys::fence::hold_until(started + Duration::from_millis(LEASE_MS as u64) - MARGIN);
        let c = Arc::new(Cluster {
            store,
            invitations,
            rooms,
            published: Mutex::default(),
            me,
            tried: Mutex::default(),
            draining: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        // The lease on a thread of its own: taking sessions over (which opens their inputs) must
        // never hold up a renewal.
        c.every("cluster-lease", Cluster::renew)?;
        c.every("cluster", Cluster::look)?;
        tracing::info!(node = %c.me.id, advertise = %c.me.advertise, capacity = c.me.capacity, "joined the cluster");
        Ok(c)
    }

    pub fn node_id(&self) -> &str {
        &self.me.id
    }

    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn every(self: &Arc<Self>, name: &str, f: fn(&Cluster)) -> crate::Result<()> {
        let me = self.clone();
        std::thread::Builder::new().name(name.into()).spawn(move || {
            while !me.stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                f(&me);
                std::thread::sleep(BEAT.saturating_sub(t0.elapsed()));
            }
        })?;
        Ok(())
    }

    fn renew(&self) {
        let t0 = Instant::now();
        match self.store.renew_lease(&self.me.id, LEASE_MS) {
            Ok(Some(draining)) => {
                crate::sys::fence::hold_until(t0 + Duration::from_millis(LEASE_MS as u64) - MARGIN);
                self.draining.store(draining, Ordering::Relaxed);
            }
            // The lease ran out (we were cut off or paused): our sessions stopped at their tick
            // (the fence lapsed before it); we join again, owning only what is still ours.
            Ok(None) if !crate::sys::fence::holds() => {
                tracing::warn!("lease ran out; joining the cluster again");
                let _ = self.store.join_cluster(&self.me.id, &self.me.advertise, self.me.capacity, LEASE_MS);
                crate::sys::fence::hold_until(t0 + Duration::from_millis(LEASE_MS as u64) - MARGIN);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "lease not renewed"),
        }
    }

    fn look(&self) {
        if !crate::sys::fence::holds() {
            // Our sessions stop at their next tick; they are someone else's once the lease is out.
            // What is still ours when the lease is back is run again.
            lock(&self.tried).clear();
            return self.give_up_lost();
        }
        self.give_up_lost();
        self.write_published();
        if self.draining.load(Ordering::Relaxed) {
            return self.drain();
        }
        self.claim();
        self.adopt();
    }

    /// Stops a session here (another node runs it now, or will), with its invitations.
    fn hand_off(&self, session: &str) {
        self.invitations.sessions().hand_off(session);
        self.invitations.forget_session(session);
    }

    /// Sessions running here that another node runs now stop here (their files and record stay).
    fn give_up_lost(&self) {
        let sessions = self.invitations.sessions();
        for st in sessions.list() {
            let theirs = !crate::sys::fence::holds() || matches!(self.store.runner_of(&st.id), Ok(Some(_)));
            if theirs {
                tracing::warn!(session = %st.id, "another node runs this session now; stopped here");
                self.hand_off(&st.id);
            }
        }
    }

    /// Takes up dead nodes' sessions, as many as this node has room for.
    fn claim(&self) {
        let Ok(dead) = self.store.dead_nodes() else { return };
        for node in dead {
            let free = self.me.capacity.saturating_sub(self.owned_sessions());
            if free == 0 {
                return;
            }
            match self.store.claim_sessions(&node, free) {
                Ok(s) if !s.is_empty() => {
                    tracing::warn!(dead = %node, sessions = ?s, "took over a dead node's sessions")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(dead = %node, error = %e, "could not take over a dead node's sessions"),
            }
        }
    }

    fn owned_sessions(&self) -> usize {
        let all = self.store.owned_resumables().unwrap_or_default();
        all.iter().map(|r| r.session_id.as_str()).collect::<HashSet<_>>().len()
    }

    /// Runs what this node owns and does not run yet (claimed, handed over, or after a restart):
    /// each session on a thread of its own (opening inputs takes a while), its records in order.
    fn adopt(&self) {
        let Ok(owned) = self.store.owned_resumables() else { return };
        let sessions = self.invitations.sessions();
        let mut groups: Vec<(String, Vec<crate::store::Resumable>)> = Vec::new();
        for r in owned {
            let running = sessions.status(&r.session_id).is_some_and(|s| s.state == SessionState::Running);
            let key = (r.id.clone(), self.store.record_epoch(&r.id));
            if running || !lock(&self.tried).insert(key) {
                continue;
            }
            match groups.iter_mut().find(|(s, _)| *s == r.session_id) {
                Some((_, g)) => g.push(r),
                None => groups.push((r.session_id.clone(), vec![r])),
            }
        }
        for (session, records) in groups {
            // A stopped session's entry (fenced, failed) gives way.
            self.hand_off(&session);
            let (invitations, store) = (self.invitations.clone(), self.store.clone());
            let spawned = std::thread::Builder::new().name(format!("adopt {session}")).spawn(move || {
                for r in records {
                    match resume(&invitations, &store, &r) {
                        Ok(()) => tracing::info!(id = %r.id, session = %r.session_id, "running here now"),
                        Err(why) => tracing::warn!(id = %r.id, error = %why, "could not be run here"),
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(%session, error = %e, "no thread to run a session");
            }
        }
    }

    /// Drains this node (blocking) until it runs nothing or `limit` passes.
    pub fn drain_and_wait(&self, limit: Duration) {
        if let Err(e) = self.store.set_draining(&self.me.id) {
            return tracing::warn!(error = %e, "could not drain");
        }
        let until = Instant::now() + limit;
        let running = || self.invitations.sessions().list().iter().filter(|s| s.state == SessionState::Running).count();
        while running() > 0 && Instant::now() < until {
            std::thread::sleep(BEAT / 4);
        }
        tracing::info!(left = running(), "drained");
    }

    /// Gives every session of this node to the live node with the most room.
    fn drain(&self) {
        let sessions = self.invitations.sessions();
        for st in sessions.list() {
            let Some(to) = self.place_elsewhere() else {
                return tracing::warn!("draining: no other node has room");
            };
            // Stopped here before it is theirs: never run by both.
            self.hand_off(&st.id);
            match self.store.hand_over(&st.id, &to.id) {
                Ok(true) => tracing::info!(session = %st.id, to = %to.id, "draining: handed over"),
                // Still ours: run again here by `adopt` (after the drain is called off).
                Ok(false) | Err(_) => {
                    tracing::warn!(session = %st.id, "draining: not handed over");
                    // (an invitation's records too: they run with its session)
                    let owned = self.store.owned_resumables().unwrap_or_default();
                    let its: HashSet<String> =
                        owned.into_iter().filter(|r| r.session_id == st.id).map(|r| r.id).collect();
                    lock(&self.tried).retain(|(id, _)| *id != st.id && !its.contains(id));
                }
            }
        }
    }

    /// A room's publishers changed on this node (written down at the next look).
    pub fn room_changed(&self, room: &str) {
        lock(&self.published).insert(room.to_string());
    }

    fn write_published(&self) {
        let changed: Vec<String> = lock(&self.published).drain().collect();
        for room in changed {
            if let Err(e) = self.store.note_published(&room, self.rooms.live(&room).is_some()) {
                tracing::warn!(room, error = %e, "could not write down where the room is published");
                lock(&self.published).insert(room);
            }
        }
    }

    /// Where a new session or invitation showing `rooms` goes: the first node one of them is
    /// published on (its feed is decoded there) if it has room, else as [`Cluster::place`].
    pub fn place_for(&self, rooms: &[String]) -> Option<NodeRow> {
        let nodes = self.store.nodes().ok()?;
        let on = self.store.published_on(rooms).unwrap_or_default();
        let fits = |id: &String| nodes.iter().find(|n| n.id == *id && n.live && !n.draining && n.sessions < n.capacity);
        match on.iter().find_map(fits) {
            Some(n) => (n.id != self.me.id).then(|| n.clone()),
            None => self.most_room(nodes),
        }
    }

    /// The live, undrained node with the most room (ties to this node): None when it is this one.
    pub fn place(&self) -> Option<NodeRow> {
        self.most_room(self.store.nodes().ok()?)
    }

    /// Of `nodes`, the live, undrained one with the most room (ties to this node), unless it is
    /// this one.
    fn most_room(&self, nodes: Vec<NodeRow>) -> Option<NodeRow> {
        let best = nodes
            .into_iter()
            .filter(|n| n.live && !n.draining)
            .max_by_key(|n| (n.capacity.saturating_sub(n.sessions), n.id == self.me.id))?;
        (best.id != self.me.id).then_some(best)
    }

    fn place_elsewhere(&self) -> Option<NodeRow> {
        let nodes = self.store.nodes().ok()?;
        nodes
            .into_iter()
            .filter(|n| n.live && !n.draining && n.id != self.me.id && n.sessions < n.capacity)
            .max_by_key(|n| n.capacity - n.sessions)
    }
}
