//! Our own audience, per room, counted from the viewers' playlist fetches: a fetch keeps a viewer
//! online, no fetch for two segment durations means they left (at their last fetch). Per room:
//! online now, distinct viewers, the peak and a per-minute timeline; per viewer: name, first
//! join, last leave, leaves and watch time. Everything is counted in memory (a fetch is one map
//! update under one lock) and written to the database in batches by a thread of its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Serialize;

use crate::store::{MinuteRow, RoomAudienceRows, Store, ViewerRow};
use crate::sys::lock;

/// A viewer is gone after this long without a fetch: two segment durations.
pub const GONE_AFTER_MS: i64 = 4_000;
/// How often leaves are noticed, and how often changes are written down.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
const WRITE_EVERY: u32 = 4;

/// One viewer as the audience listing shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ViewerStats {
    pub viewer: String,
    pub name: Option<String>,
    pub online: bool,
    /// Unix milliseconds.
    pub first_join_ms: Option<i64>,
    pub last_leave_ms: Option<i64>,
    pub leaves: u64,
    /// Total watch time so far, the stretch going on included.
    pub watch_s: f64,
}

/// A room's audience summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub online: u64,
    /// Distinct viewers ever.
    pub total: u64,
    pub peak: u64,
    pub peak_at_ms: Option<i64>,
    pub timeline: Vec<MinuteRow>,
}

/// How the viewer listing is sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    FirstJoin,
    LastLeave,
    Leaves,
    WatchTime,
}

#[derive(Default)]
struct RoomAudience {
    /// Online viewers: when this stretch began, and their last fetch.
    online: HashMap<String, (i64, i64)>,
    viewers: HashMap<String, ViewerRow>,
    peak: u64,
    peak_at_ms: Option<i64>,
    minutes: BTreeMap<i64, MinuteRow>,
    /// Viewers and minutes changed since the last write.
    dirty: HashSet<String>,
    dirty_minutes: HashSet<i64>,
    changed: bool,
}

impl RoomAudience {
    fn minute(&mut self, at_ms: i64) -> &mut MinuteRow {
        let m = at_ms.div_euclid(60_000) * 60;
        self.dirty_minutes.insert(m);
        self.minutes.entry(m).or_insert(MinuteRow { minute: m, ..Default::default() })
    }

    fn join(&mut self, viewer: &str, now: i64) {
        self.online.insert(viewer.to_string(), (now, now));
        let v = self
            .viewers
            .entry(viewer.to_string())
            .or_insert_with(|| ViewerRow { viewer: viewer.into(), ..Default::default() });
        v.first_join_ms.get_or_insert(now);
        let online = self.online.len() as u64;
        if online > self.peak {
            (self.peak, self.peak_at_ms) = (online, Some(now));
        }
        let m = self.minute(now);
        m.joins += 1;
        m.online_peak = m.online_peak.max(online);
        self.dirty.insert(viewer.to_string());
        self.changed = true;
    }

    /// Viewers whose last fetch is older than the limit leave, at their last fetch.
    fn sweep(&mut self, now: i64) {
        let gone: Vec<(String, (i64, i64))> = self
            .online
            .iter()
            .filter(|(_, (_, last))| now - last > GONE_AFTER_MS)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (viewer, (since, last)) in gone {
            self.online.remove(&viewer);
            if let Some(v) = self.viewers.get_mut(&viewer) {
                v.watch_ms += last - since;
                v.leaves += 1;
                v.last_leave_ms = Some(last);
            }
            self.minute(last).leaves += 1;
            self.dirty.insert(viewer);
            self.changed = true;
        }
    }

    fn stats(&self, v: &ViewerRow, now: i64) -> ViewerStats {
        // The stretch going on counts to its last fetch, as it will when it ends.
        let going = self.online.get(&v.viewer).map(|(since, last)| (last.min(&now) - since).max(0));
        ViewerStats {
            viewer: v.viewer.clone(),
            name: v.name.clone(),
            online: going.is_some(),
            first_join_ms: v.first_join_ms,
            last_leave_ms: v.last_leave_ms,
            leaves: v.leaves,
            watch_s: (v.watch_ms + going.unwrap_or(0)) as f64 / 1000.0,
        }
    }

    /// What changed since the last write, as rows; forgets that it changed.
    fn take_rows(&mut self, room: &str) -> Option<RoomAudienceRows> {
        if !self.changed {
            return None;
        }
        self.changed = false;
        let viewers = self.dirty.drain().filter_map(|v| self.viewers.get(&v).cloned()).collect();
        let minutes = self.dirty_minutes.drain().filter_map(|m| self.minutes.get(&m).copied()).collect();
        Some(RoomAudienceRows {
            room_id: room.to_string(),
            viewers,
            peak: self.peak,
            peak_at_ms: self.peak_at_ms,
            minutes,
        })
    }
}

/// Whether a room is paused now (its timeline marks the minutes it was).
pub type IsPaused = Box<dyn Fn(&str) -> bool + Send + Sync>;

pub struct Audience {
    store: Arc<Store>,
    rooms: Mutex<HashMap<String, RoomAudience>>,
    paused: IsPaused,
    /// Off (`audience_stats = false`): fetches are not counted at all.
    counting: std::sync::atomic::AtomicBool,
}

impl Audience {
    /// Reads what was written before (blocking) and starts the thread that notices leaves and
    /// writes changes down.
    pub fn start(store: Arc<Store>, paused: IsPaused) -> Arc<Audience> {
        let mut rooms = HashMap::new();
        for r in store.audiences().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the audience written before could not be read; counting from zero");
            Vec::new()
        }) {
            let a = RoomAudience {
                viewers: r.viewers.into_iter().map(|v| (v.viewer.clone(), v)).collect(),
                peak: r.peak,
                peak_at_ms: r.peak_at_ms,
                minutes: r.minutes.into_iter().map(|m| (m.minute, m)).collect(),
                ..Default::default()
            };
            rooms.insert(r.room_id, a);
        }
        let counting = std::sync::atomic::AtomicBool::new(true);
        let me = Arc::new(Audience { store, rooms: Mutex::new(rooms), paused, counting });
        let weak = Arc::downgrade(&me);
        if let Err(e) = std::thread::Builder::new().name("audience".into()).spawn(move || run(weak)) {
            tracing::error!(error = %e, "no audience thread: leaves are not noticed");
        }
        me
    }

    /// Turns the counting on or off (an operator who does not want statistics, or the benchmark
    /// that measures what they cost).
    pub fn set_counting(&self, on: bool) {
        self.counting.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// A viewer fetched `room`'s playlist now.
    pub fn seen(&self, room: &str, viewer: &str) {
        if !self.counting.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let now = crate::store::now_ms();
        let mut rooms = lock(&self.rooms);
        // A viewer already online (nearly every fetch) is one lookup and one store, no allocation.
        if let Some(s) = rooms.get_mut(room).and_then(|a| a.online.get_mut(viewer)) {
            s.1 = now;
            return;
        }
        rooms.entry(room.to_string()).or_default().join(viewer, now);
    }

    /// The name the platform gave a viewer.
    pub fn named(&self, room: &str, viewer: &str, name: &str) {
        let mut rooms = lock(&self.rooms);
        let a = rooms.entry(room.to_string()).or_default();
        let v = a
            .viewers
            .entry(viewer.to_string())
            .or_insert_with(|| ViewerRow { viewer: viewer.into(), ..Default::default() });
        v.name = Some(name.to_string());
        a.dirty.insert(viewer.to_string());
        a.changed = true;
    }

    pub fn summary(&self, room: &str) -> Summary {
        let rooms = lock(&self.rooms);
        let Some(a) = rooms.get(room) else { return Summary::default() };
        Summary {
            online: a.online.len() as u64,
            total: a.viewers.values().filter(|v| v.first_join_ms.is_some()).count() as u64,
            peak: a.peak,
            peak_at_ms: a.peak_at_ms,
            timeline: a.minutes.values().copied().collect(),
        }
    }

    /// One page of a room's viewers who joined, sorted; and how many there are.
    pub fn viewers(
        &self,
        room: &str,
        by: SortBy,
        descending: bool,
        page: usize,
        per_page: usize,
    ) -> (usize, Vec<ViewerStats>) {
        let now = crate::store::now_ms();
        let rooms = lock(&self.rooms);
        let Some(a) = rooms.get(room) else { return (0, Vec::new()) };
        let mut all: Vec<ViewerStats> =
            a.viewers.values().filter(|v| v.first_join_ms.is_some()).map(|v| a.stats(v, now)).collect();
        drop(rooms);
        all.sort_by(|x, y| {
            let o = match by {
                SortBy::FirstJoin => x.first_join_ms.cmp(&y.first_join_ms),
                SortBy::LastLeave => x.last_leave_ms.cmp(&y.last_leave_ms),
                SortBy::Leaves => x.leaves.cmp(&y.leaves),
                SortBy::WatchTime => x.watch_s.total_cmp(&y.watch_s),
            };
            o.then_with(|| x.viewer.cmp(&y.viewer))
        });
        if descending {
            all.reverse();
        }
        let total = all.len();
        (total, all.into_iter().skip(page.saturating_mul(per_page)).take(per_page).collect())
    }

    /// Notices leaves; writes changes down every few turns (and a last time when it goes).
    fn turn(&self, write: bool) {
        let now = crate::store::now_ms();
        let rows: Vec<RoomAudienceRows> = {
            let mut rooms = lock(&self.rooms);
            for (id, a) in rooms.iter_mut() {
                a.sweep(now);
                if (self.paused)(id) && !a.minute(now).paused {
                    a.minute(now).paused = true;
                    a.changed = true;
                }
            }
            if !write {
                return;
            }
            rooms.iter_mut().filter_map(|(id, a)| a.take_rows(id)).collect()
        };
        if !rows.is_empty() {
            if let Err(e) = self.store.save_audience(&rows) {
                tracing::error!(error = %e, "audience statistics not written; they are kept in memory");
            }
        }
    }
}

fn run(me: Weak<Audience>) {
    let mut n = 0u32;
    loop {
        std::thread::sleep(SWEEP_EVERY);
        let Some(a) = me.upgrade() else { return };
        n += 1;
        a.turn(n.is_multiple_of(WRITE_EVERY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_make_stretches_and_silence_ends_them_at_the_last_fetch() {
        let mut a = RoomAudience::default();
        a.join("v1", 1_000);
        a.online.get_mut("v1").unwrap().1 = 9_000;
        a.join("v2", 2_000);
        a.sweep(9_500);
        assert_eq!((a.online.len(), a.peak), (1, 2), "v2 left: no fetch since 2 s");
        a.sweep(13_500);
        assert_eq!(a.online.len(), 0);
        let v1 = a.viewers["v1"].clone();
        assert_eq!((v1.watch_ms, v1.leaves, v1.last_leave_ms), (8_000, 1, Some(9_000)));
        a.join("v1", 20_000);
        a.online.get_mut("v1").unwrap().1 = 21_000;
        let s = a.stats(&a.viewers["v1"].clone(), 21_500);
        assert!(s.online && (s.watch_s - 9.0).abs() < 1e-9, "{s:?}");
        let rows = a.take_rows("r").unwrap();
        assert_eq!((rows.viewers.len(), rows.peak), (2, 2));
        assert!(a.take_rows("r").is_none(), "nothing new to write");
    }

    #[test]
    fn minutes_of_a_pause_are_marked_and_written() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let room = store.create_room("A", "costream", 60).unwrap().id;
        let paused = room.clone();
        let a = Audience::start(store.clone(), Box::new(move |r| r == paused));
        a.seen(&room, "v1");
        a.seen("room_other", "v2");
        a.turn(true);
        let marked = |r: &str| a.summary(r).timeline.iter().any(|m| m.paused);
        assert!(marked(&room) && !marked("room_other"));
        let written = store.audiences().unwrap();
        assert!(written.iter().find(|r| r.room_id == room).is_some_and(|r| r.minutes.iter().any(|m| m.paused)));
    }
}
