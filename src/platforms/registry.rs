//! The platforms set up here and each room's place on them: binding a room (the platform-side
//! room and its key), new keys (the pushes that use the old one move to the new one), and what an
//! anchor's console shows per platform: push server, key, live address, statuses, reconnects.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{api_of, Context, Grant, Kind, Platform, PlatformApi, PlatformAudience, PlatformError, RoomRef, Settings};
use crate::session::Sessions;
use crate::store::{now_s, PlatformRecord, Room, RoomPlatform, Store, StoreError};
use crate::sys::lock;

/// What the service tells its platforms' calls, and its own push server (`rtmp://host:port/live`).
#[derive(Clone, Debug, Default)]
pub struct PlatformsConfig {
    pub cx: Context,
    pub own_push: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    Live,
    NotStarted,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Valid,
    Expired,
    Revoked,
}

/// A change of a room's place on a platform, for `/events`.
#[derive(Clone, Debug)]
pub enum PlatformEvent {
    KeyRegenerated { room_id: String, platform: String, expires_at: Option<i64> },
    KeyExpired { room_id: String, platform: String },
    Status { room_id: String, platform: String, status: LiveStatus },
}

pub type PlatformEvents = Arc<dyn Fn(PlatformEvent) + Send + Sync>;

/// A room on one platform, as an anchor's console shows it (the key in full: the API masks it).
#[derive(Clone, Debug)]
pub struct Binding {
    pub platform: String,
    pub kind: &'static str,
    pub push_server: String,
    pub key: String,
    pub live_address: Option<String>,
    pub status: LiveStatus,
    pub key_status: KeyStatus,
    pub key_expires_at: Option<i64>,
    /// Of the pushes there now: reconnections, dropped packets, the last failure.
    pub reconnects: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
}

/// Why a platform operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// What is known of a binding while the service runs.
#[derive(Default)]
pub(super) struct Runtime {
    pub platform_status: Option<LiveStatus>,
    pub pushing: bool,
    pub was_live: bool,
    pub told_live: bool,
    pub expired_told: bool,
    pub last_error: Option<String>,
    pub next_poll_s: i64,
    pub retry_key_at: i64,
}

pub struct Platforms {
    pub(super) store: Arc<Store>,
    pub(super) sessions: Arc<Sessions>,
    pub(super) cfg: PlatformsConfig,
    pub(super) runtime: Mutex<HashMap<(String, String), Runtime>>,
    pub audience: PlatformAudience,
    pub(super) events: Option<PlatformEvents>,
}

pub(super) fn push_url(b: &RoomPlatform) -> String {
    format!("{}/{}", b.push_server.trim_end_matches('/'), b.stream_key)
}

fn any_connected(outs: &[Arc<crate::outputs::OutputStats>]) -> bool {
    outs.iter().any(|o| o.connected.load(Ordering::Relaxed))
}

pub(super) fn to_platform(r: PlatformRecord) -> Result<Platform, PlatformError> {
    let kind = Kind::parse(&r.kind).ok_or_else(|| PlatformError::Invalid(format!("unknown kind {}", r.kind)))?;
    let settings: Settings = serde_json::from_str(&r.settings).map_err(|e| PlatformError::Invalid(e.to_string()))?;
    Ok(Platform { id: r.id, kind, name: r.name, settings, created_at: r.created_at })
}

impl Platforms {
    pub fn new(
        store: Arc<Store>,
        sessions: Arc<Sessions>,
        cfg: PlatformsConfig,
        events: Option<PlatformEvents>,
    ) -> Arc<Platforms> {
        let audience = PlatformAudience::new(store.clone());
        Arc::new(Platforms { store, sessions, cfg, runtime: Mutex::default(), audience, events })
    }

    pub(super) fn emit(&self, e: PlatformEvent) {
        if let Some(f) = &self.events {
            f(e);
        }
    }

    pub fn context(&self) -> &Context {
        &self.cfg.cx
    }

    pub fn list(&self) -> Result<Vec<Platform>, PlatformsError> {
        Ok(self.store.platforms()?.into_iter().map(to_platform).collect::<Result<_, _>>()?)
    }

    pub fn get(&self, id: &str) -> Result<Platform, PlatformsError> {
        Ok(to_platform(self.store.platform(id)?)?)
    }

    /// Sets up a platform (its settings checked for its kind).
    pub fn add(&self, p: &Platform) -> Result<(), PlatformsError> {
        super::check(p.kind, &p.settings, &self.cfg.cx.policy)?;
        let settings = serde_json::to_string(&p.settings).map_err(|e| PlatformError::Invalid(e.to_string()))?;
        let r = PlatformRecord {
            id: p.id.clone(),
            kind: p.kind.name().into(),
            name: p.name.clone(),
            settings,
            created_at: p.created_at,
        };
        Ok(self.store.add_platform(&r)?)
    }

    pub fn delete(&self, id: &str) -> Result<(), PlatformsError> {
        Ok(self.store.delete_platform(id)?)
    }

    fn api(&self, id: &str) -> Result<Box<dyn PlatformApi>, PlatformsError> {
        Ok(api_of(&self.get(id)?, &self.cfg.cx))
    }

    fn write(&self, room: &str, platform: &str, g: Grant) -> Result<RoomPlatform, PlatformsError> {
        let b = RoomPlatform {
            room_id: room.to_string(),
            platform_id: platform.to_string(),
            push_server: g.push_server,
            stream_key: g.key,
            live_address: g.live_address,
            remote: g.remote.to_string(),
            key_issued_at: now_s(),
            key_expires_at: g.expires_at,
            key_revoked: false,
        };
        self.store.put_room_platform(&b)?;
        Ok(b)
    }

    /// Creates the room on a platform and keeps where and how to push there. Blocking (HTTP).
    pub fn bind(&self, room: &RoomRef, platform: &str) -> Result<RoomPlatform, PlatformsError> {
        let g = self.api(platform)?.create(room)?;
        self.write(&room.id, platform, g)
    }

    /// A room's binding to a platform.
    pub fn binding(&self, room: &str, platform: &str) -> Result<RoomPlatform, PlatformsError> {
        let all = self.store.room_platforms(room)?;
        all.into_iter()
            .find(|b| b.platform_id == platform)
            .ok_or_else(|| StoreError::NoPlatform(format!("{platform} for room {room}")).into())
    }

    /// A new key for a room on a platform: asked of the platform, or `pasted` by the operator. The
    /// pushes there move to it at their next keyframe; the room's other pushes go on untouched.
    pub fn regenerate(
        &self,
        room: &RoomRef,
        platform: &str,
        pasted: Option<(String, Option<i64>)>,
    ) -> Result<RoomPlatform, PlatformsError> {
        let old = self.binding(&room.id, platform)?;
        let g = match pasted {
            Some((key, expires_at)) => {
                super::rtmp::check_key(&key)?;
                Grant {
                    push_server: old.push_server.clone(),
                    key,
                    live_address: old.live_address.clone(),
                    expires_at,
                    remote: serde_json::from_str(&old.remote).unwrap_or_default(),
                }
            }
            None => self.api(platform)?.regenerate(room, &old)?,
        };
        let new = self.write(&room.id, platform, g)?;
        let (from, to) = (push_url(&old), push_url(&new));
        for out in self.sessions.outputs_to(&from) {
            out.retarget(&to);
        }
        self.store.move_push_url(&from, &to)?;
        if let Some(r) = lock(&self.runtime).get_mut(&(room.id.clone(), platform.to_string())) {
            (r.expired_told, r.retry_key_at) = (false, 0);
        }
        tracing::info!(room = %room.id, platform, "platform key regenerated");
        self.emit(PlatformEvent::KeyRegenerated {
            room_id: room.id.clone(),
            platform: platform.into(),
            expires_at: new.key_expires_at,
        });
        Ok(new)
    }

    /// Takes a room off a platform; refused while the show is pushed there (a running output
    /// cannot be dropped from its encode).
    pub fn unbind(&self, room: &str, platform: &str) -> Result<(), PlatformsError> {
        let b = self.binding(room, platform)?;
        if !self.sessions.outputs_to(&push_url(&b)).is_empty() {
            return Err(PlatformError::Live(platform.to_string()).into());
        }
        self.store.delete_room_platform(room, platform)?;
        lock(&self.runtime).remove(&(room.to_string(), platform.to_string()));
        self.take_down(&b);
        Ok(())
    }

    /// Takes down what was made for a room on each of its platforms, before the room goes (a
    /// room deleted, or undone because another platform failed).
    pub fn release_room(&self, room: &str) {
        for b in self.store.room_platforms(room).unwrap_or_default() {
            lock(&self.runtime).remove(&(room.to_string(), b.platform_id.clone()));
            self.take_down(&b);
        }
    }

    /// Best effort: a platform that cannot be reached keeps its side (logged), ours goes anyway.
    fn take_down(&self, b: &RoomPlatform) {
        if let Err(e) = self.api(&b.platform_id).and_then(|api| api.remove(b).map_err(Into::into)) {
            tracing::warn!(room = %b.room_id, platform = %b.platform_id, error = %e, "the platform's side of the room could not be taken down");
        }
    }

    /// Whether our push to the room's place on the platform is connected now.
    pub(super) fn pushing(&self, b: &RoomPlatform) -> bool {
        any_connected(&self.sessions.outputs_to(&push_url(b)))
    }

    /// The URLs a room's encode is pushed to on its platforms.
    pub fn push_urls(&self, room: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.store.room_platforms(room)?.iter().filter(|b| !b.key_revoked).map(push_url).collect())
    }

    /// A room on each of its platforms, this service first when the room is shown here (`own`:
    /// whether its anchor is live, and where its viewers watch).
    pub fn bindings(&self, room: &Room, own: Option<(bool, String)>) -> Result<Vec<Binding>, PlatformsError> {
        let now = now_s();
        let mut out = Vec::new();
        if let Some((anchor_live, live_address)) = own {
            out.push(self.own_binding(room, anchor_live, live_address, now));
        }
        let platforms: HashMap<String, Platform> = self.list()?.into_iter().map(|p| (p.id.clone(), p)).collect();
        for b in self.store.room_platforms(&room.id)? {
            let kind = platforms.get(&b.platform_id).map_or("rtmp", |p| p.kind.name());
            out.push(self.third_party(&b, kind, now));
        }
        Ok(out)
    }

    fn own_binding(&self, room: &Room, anchor_live: bool, live_address: String, now: i64) -> Binding {
        let key = room.key.clone();
        let status = if anchor_live { LiveStatus::Live } else { LiveStatus::NotStarted };
        let key_status = match &key {
            Some(k) if k.expires_at > now => KeyStatus::Valid,
            Some(_) => KeyStatus::Expired,
            None => KeyStatus::Revoked,
        };
        Binding {
            platform: super::OWN.into(),
            kind: super::OWN,
            push_server: self.cfg.own_push.clone(),
            key: key.as_ref().map(|k| k.key.clone()).unwrap_or_default(),
            live_address: Some(live_address),
            status,
            key_status,
            key_expires_at: key.map(|k| k.expires_at),
            reconnects: 0,
            dropped: 0,
            last_error: None,
        }
    }

    fn third_party(&self, b: &RoomPlatform, kind: &'static str, now: i64) -> Binding {
        let outs = self.sessions.outputs_to(&push_url(b));
        let pushing = any_connected(&outs);
        let rt = lock(&self.runtime);
        let r = rt.get(&(b.room_id.clone(), b.platform_id.clone()));
        let status = match r.and_then(|r| r.platform_status) {
            Some(s) => s,
            None if pushing => LiveStatus::Live,
            None if r.is_some_and(|r| r.was_live) => LiveStatus::Ended,
            None => LiveStatus::NotStarted,
        };
        let key_status = match (b.key_revoked, b.key_expires_at) {
            (true, _) => KeyStatus::Revoked,
            (false, Some(e)) if e <= now => KeyStatus::Expired,
            _ => KeyStatus::Valid,
        };
        let last_error = outs.iter().find_map(|o| o.last_error()).or_else(|| r.and_then(|r| r.last_error.clone()));
        Binding {
            platform: b.platform_id.clone(),
            kind,
            push_server: b.push_server.clone(),
            key: b.stream_key.clone(),
            live_address: b.live_address.clone(),
            status,
            key_status,
            key_expires_at: b.key_expires_at,
            reconnects: outs.iter().map(|o| o.reconnects.load(Ordering::Relaxed)).sum(),
            dropped: outs.iter().map(|o| o.dropped.load(Ordering::Relaxed)).sum(),
            last_error,
        }
    }
}
