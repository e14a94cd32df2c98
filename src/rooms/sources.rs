//! A room's sources. A key may publish several (`live/KEY/camera`, `live/KEY/game`; the bare key
//! is `main`), each decoded all the time into the room's feed; the room's tile shows one of them,
//! switched on the next output frame. When the shown source stops, its last frame stays (then the
//! hold and the slate, as for any absent anchor) until it is back or another is shown.

use super::{LiveSources, Publisher, RoomEvent, RoomLive, Rooms};
use crate::ingest::rtmp::MAIN_SOURCE;
use crate::store::StoreError;
use crate::sys::lock;

/// Sources a room may have at once, unless configured otherwise.
pub const DEFAULT_MAX_SOURCES: usize = 4;

/// A source being published.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub peer: String,
    /// Unix seconds.
    pub since: i64,
}

/// Why a room cannot show a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("a source's name is 1 to 32 of a-z, 0-9, _ and -")]
    BadName,
    #[error("source {0:?} of this room is not being published")]
    NotLive(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A source's name: 1 to 32 of a-z, 0-9, `_` and `-` (it is part of a URL and of logs).
pub(super) fn valid_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl RoomLive {
    /// The sources being published, by name.
    pub(super) fn publishers(&self) -> impl Iterator<Item = (&String, &Publisher)> {
        self.sources.iter().filter_map(|(n, s)| Some((n, s.publisher.as_ref()?)))
    }

    /// Sources taken by a publisher.
    pub(super) fn reserved(&self) -> usize {
        self.sources.values().filter(|s| s.reserved).count()
    }

    /// Forgets `source` once nobody holds it (its last picture stays in the feed).
    pub(super) fn prune(&mut self, source: &str) {
        if self.sources.get(source).is_some_and(|s| !s.reserved && s.publisher.is_none()) {
            self.sources.remove(source);
        }
    }

    fn live_sources(&self) -> LiveSources {
        let shown = self.feed.as_ref().map_or_else(|| MAIN_SOURCE.to_string(), |f| f.shown());
        let sources: Vec<_> = self
            .publishers()
            .map(|(n, p)| super::SourceInfo { name: n.clone(), peer: p.info.peer.clone(), since: p.info.since })
            .collect();
        let shown_publisher = self.sources.get(&shown).and_then(|s| s.publisher.as_ref());
        let live = shown_publisher.or_else(|| self.publishers().next().map(|(_, p)| p)).map(|p| p.info.clone());
        LiveSources { live, shown, sources }
    }
}

impl Rooms {
    /// A room has at most `n` sources at once.
    pub fn with_max_sources(mut self, n: usize) -> Rooms {
        self.max_sources = n.max(1);
        self
    }

    /// What the room shows and who publishes to it.
    pub fn sources(&self, room: &str) -> LiveSources {
        match lock(&self.rooms).get(room) {
            Some(r) => r.live_sources(),
            None => LiveSources { shown: MAIN_SOURCE.to_string(), ..LiveSources::default() },
        }
    }

    /// Shows `source` in the room's tile from the next output frame on, in every output that shows
    /// the room. It must be being published: its decoder already has its newest picture.
    pub fn show_source(&self, room: &str, source: &str) -> Result<LiveSources, SourceError> {
        self.store.room(room)?;
        if !valid_name(source) {
            return Err(SourceError::BadName);
        }
        let sources = {
            let mut m = lock(&self.rooms);
            let r = m.entry(room.to_string()).or_default();
            if r.sources.get(source).is_none_or(|s| s.publisher.is_none()) {
                return Err(SourceError::NotLive(source.to_string()));
            }
            r.feed().show(source);
            r.shown_epoch += 1;
            r.away_since = None;
            r.live_sources()
        };
        tracing::info!(room, source, "room shows another source");
        self.emit(RoomEvent::SourceShown { room_id: room.to_string(), source: source.to_string() });
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_short_and_plain() {
        for ok in ["main", "camera", "game-2", "a_b"] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", "Camera", "a/b", "a b", "../x", &"x".repeat(33)] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
