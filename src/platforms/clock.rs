//! The platforms' clock, once a second on a thread of its own (platform calls block): keys about
//! to expire are regenerated ahead of time where the platform can, an expired key is reported
//! once, a platform is told when our push to it arrives, and polled platforms give their status
//! and audience while the show goes out there.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::registry::{to_platform, PlatformEvent, Platforms, Runtime};
use super::{api_of, Kind, LiveStatus, Platform, RoomRef};
use crate::store::{now_s, RoomPlatform};
use crate::sys::lock;

/// A failed regeneration is tried again after this long.
const RETRY_KEY_S: i64 = 5;
/// A platform's status and audience are polled this often unless it says otherwise.
const DEFAULT_POLL_S: u64 = 30;

/// How long before its expiry a key is replaced: a fifth of its life, 1 s to 2 min.
fn lead_s(b: &RoomPlatform, exp: i64) -> i64 {
    ((exp - b.key_issued_at) / 5).clamp(1, 120)
}

impl Platforms {
    /// Starts the clock; it ends with the last holder of the platforms.
    pub fn start_clock(self: &Arc<Self>) {
        let weak: Weak<Platforms> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("platforms".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let Some(p) = weak.upgrade() else { break };
            p.tick();
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "the platforms' clock could not start");
        }
    }

    fn tick(&self) {
        let (Ok(bindings), Ok(platforms)) = (self.store.all_room_platforms(), self.store.platforms()) else { return };
        let platforms: Vec<Platform> = platforms.into_iter().filter_map(|r| to_platform(r).ok()).collect();
        for b in bindings {
            let Some(p) = platforms.iter().find(|p| p.id == b.platform_id) else { continue };
            self.keys(&b, p);
            self.live_edge(&b, p);
            self.poll(&b, p);
        }
    }

    fn with_runtime<T>(&self, b: &RoomPlatform, f: impl FnOnce(&mut Runtime) -> T) -> T {
        let mut rt = lock(&self.runtime);
        f(rt.entry((b.room_id.clone(), b.platform_id.clone())).or_default())
    }

    fn keys(&self, b: &RoomPlatform, p: &Platform) {
        let Some(exp) = b.key_expires_at.filter(|_| !b.key_revoked) else { return };
        let now = now_s();
        let can = p.kind == Kind::Youtube || p.settings.webhook.is_some();
        let due = now >= exp - lead_s(b, exp) && self.with_runtime(b, |r| now >= r.retry_key_at);
        if can && due {
            let room = match self.store.room(&b.room_id) {
                Ok(r) => RoomRef { id: r.id, name: r.name },
                Err(_) => return,
            };
            match self.regenerate(&room, &p.id, None) {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(room = %b.room_id, platform = %p.id, error = %e, "a platform key could not be regenerated");
                    self.with_runtime(b, |r| (r.last_error, r.retry_key_at) = (Some(e.to_string()), now + RETRY_KEY_S));
                }
            }
        }
        if now >= exp && self.with_runtime(b, |r| !std::mem::replace(&mut r.expired_told, true)) {
            tracing::warn!(room = %b.room_id, platform = %p.id, "a platform key expired");
            self.emit(PlatformEvent::KeyExpired { room_id: b.room_id.clone(), platform: p.id.clone() });
        }
    }

    /// Our push to the platform started or stopped: the platform is told (YouTube's transition),
    /// and the status change is reported.
    fn live_edge(&self, b: &RoomPlatform, p: &Platform) {
        let pushing = self.pushing(b);
        let (was, tell) = self.with_runtime(b, |r| {
            let was = std::mem::replace(&mut r.pushing, pushing);
            r.was_live |= pushing;
            if was && !pushing {
                // What the platform said while we pushed is stale now (it is not polled again).
                r.platform_status = None;
            }
            let tell = pushing && !r.told_live;
            r.told_live |= pushing;
            (was, tell)
        });
        if tell {
            if let Err(e) = api_of(p, &self.cfg.cx).went_live(b) {
                tracing::warn!(room = %b.room_id, platform = %p.id, error = %e, "the platform could not be told the show is live");
                self.with_runtime(b, |r| (r.last_error, r.told_live) = (Some(e.to_string()), false));
            }
        }
        if was != pushing {
            let status = if pushing { LiveStatus::Live } else { LiveStatus::Ended };
            self.emit(PlatformEvent::Status { room_id: b.room_id.clone(), platform: p.id.clone(), status });
        }
    }

    fn poll(&self, b: &RoomPlatform, p: &Platform) {
        let now = now_s();
        let every = p.settings.poll_s.unwrap_or(DEFAULT_POLL_S).max(1) as i64;
        // Only while the show goes out there: a platform's API quota is not spent on rooms that are
        // off the air.
        if p.kind != Kind::Youtube || !self.with_runtime(b, |r| r.pushing && now >= r.next_poll_s) {
            return;
        }
        self.with_runtime(b, |r| r.next_poll_s = now + every);
        let api = api_of(p, &self.cfg.cx);
        match (api.status(b), api.viewers(b)) {
            (Ok(status), Ok(viewers)) => {
                self.with_runtime(b, |r| r.platform_status = status);
                if let Some(n) = viewers {
                    self.audience.count(&b.room_id, &p.id, n);
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(room = %b.room_id, platform = %p.id, error = %e, "a platform poll failed");
                self.with_runtime(b, |r| r.last_error = Some(e.to_string()));
            }
        }
    }
}
