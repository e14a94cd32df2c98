//! What the platforms report of their audience: a count (polled, or pushed by the platform) or
//! the viewers who joined and left (pushed). Per room and platform: online now, the peak, the
//! distinct viewers it named; each minute's highest count is kept in the database for the room's
//! timeline.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::store::{now_ms, Store, StoreResult};
use crate::sys::lock;

/// A viewer list pushed at once is bounded; so is what is remembered of one platform's viewers.
pub const MAX_IDS_PER_PUSH: usize = 10_000;
const MAX_REMEMBERED: usize = 1_000_000;

/// A platform's audience of a room.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlatformCount {
    pub platform: String,
    pub online: u64,
    pub peak: u64,
    /// Distinct viewers the platform named in its joins.
    pub total: u64,
}

#[derive(Default)]
struct Counting {
    online: HashSet<String>,
    seen: HashSet<String>,
    /// The last count given (a count wins over the named viewers until viewers are named again).
    count: Option<u64>,
    peak: u64,
}

impl Counting {
    fn online(&self) -> u64 {
        self.count.unwrap_or(self.online.len() as u64)
    }
}

pub struct PlatformAudience {
    store: Arc<Store>,
    counts: Mutex<HashMap<(String, String), Counting>>,
}

impl PlatformAudience {
    pub fn new(store: Arc<Store>) -> PlatformAudience {
        PlatformAudience { store, counts: Mutex::default() }
    }

    fn change(&self, room: &str, platform: &str, f: impl FnOnce(&mut Counting)) -> StoreResult<()> {
        let online = {
            let mut m = lock(&self.counts);
            let c = m.entry((room.to_string(), platform.to_string())).or_default();
            f(c);
            let n = c.online();
            c.peak = c.peak.max(n);
            n
        };
        let minute = now_ms().div_euclid(60_000) * 60;
        self.store.note_platform_audience(room, platform, minute, online)
    }

    /// The platform says this many watch now. Blocking (one database write).
    pub fn count(&self, room: &str, platform: &str, n: u64) {
        if let Err(e) = self.change(room, platform, |c| c.count = Some(n)) {
            tracing::warn!(error = %e, "a platform's audience count could not be written");
        }
    }

    /// The platform names viewers who joined and who left. Blocking (one database write).
    pub fn joins(&self, room: &str, platform: &str, joined: &[String], left: &[String]) -> StoreResult<()> {
        self.change(room, platform, |c| {
            c.count = None;
            for j in joined {
                if c.seen.len() < MAX_REMEMBERED || c.seen.contains(j) {
                    c.seen.insert(j.clone());
                    c.online.insert(j.clone());
                }
            }
            for l in left {
                c.online.remove(l);
            }
        })
    }

    /// Each platform's audience of a room now.
    pub fn of_room(&self, room: &str) -> Vec<PlatformCount> {
        let m = lock(&self.counts);
        let mut v: Vec<PlatformCount> = m
            .iter()
            .filter(|((r, _), _)| r == room)
            .map(|((_, p), c)| PlatformCount {
                platform: p.clone(),
                online: c.online(),
                peak: c.peak,
                total: c.seen.len() as u64,
            })
            .collect();
        v.sort_by(|a, b| a.platform.cmp(&b.platform));
        v
    }

    /// Per minute (Unix seconds of its start), each platform's highest count. Blocking.
    pub fn minutes(&self, room: &str) -> StoreResult<Vec<(String, i64, u64)>> {
        Ok(self.store.platform_audience(room)?.into_iter().map(|(p, m, peak, _)| (p, m, peak)).collect())
    }
}
