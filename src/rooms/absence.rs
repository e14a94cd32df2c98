//! An absent anchor never stops an output. Before the anchor's first picture (a session started
//! ahead of them, or resumed after a restart before they are back) the room's tile shows the
//! waiting card; an anchor gone longer than the hold is replaced by the room's slate, with an
//! event, until their next frame. Like MediaLive's input loss (last frame, then a slate), but on
//! the output clock: every output keeps one frame per tick.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{RoomEvent, Rooms};
use crate::compose::slate;
use crate::ingest::rtmp::RoomId;
use crate::media::VideoFrame;
use crate::store;
use crate::sys::lock;

/// Seconds an anchor who stopped sending keeps their last frame before the slate replaces it.
pub const DEFAULT_HOLD_S: u64 = 10;

/// The card's size while the anchor's picture size is not known.
pub(super) const DEFAULT_CARD: (u32, u32) = (1280, 720);

/// The waiting card, drawn once for every room (it is the same picture everywhere).
pub(super) fn waiting_card() -> Arc<VideoFrame> {
    static CARD: OnceLock<Arc<VideoFrame>> = OnceLock::new();
    CARD.get_or_init(|| slate::text_card(slate::WAITING_CARD_TEXT, DEFAULT_CARD)).clone()
}

impl Rooms {
    /// An anchor who stops sending for longer than this is replaced by the room's slate.
    pub fn with_hold(mut self, hold: Duration) -> Rooms {
        self.hold = hold;
        self
    }

    /// Since when (Unix seconds) the room shows its slate for an anchor who has been gone longer
    /// than the hold; None while the anchor is there, or was never seen.
    pub fn away_since(&self, room: &str) -> Option<i64> {
        let m = lock(&self.rooms);
        let r = m.get(room)?;
        r.feed.as_ref().is_some_and(|f| f.is_away()).then_some(r.away_since).flatten()
    }

    /// The shown source's publisher left (`epoch`: the room's shown epoch then): once the hold is
    /// over with nobody back and no other source shown, the room's slate replaces their last frame.
    pub(super) fn hold_then_slate(self: &Arc<Self>, room: RoomId, epoch: u64) {
        let rooms = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(rooms.hold).await;
            let r = rooms.clone();
            let _ = tokio::task::spawn_blocking(move || r.away(&room, epoch)).await;
        });
    }

    /// Shows the slate for an anchor still gone after the hold (blocking: it draws the card).
    fn away(&self, room: &str, epoch: u64) {
        let gone = |m: &std::collections::HashMap<RoomId, super::RoomLive>| {
            let r = m.get(room).filter(|r| r.shown_epoch == epoch)?;
            let feed = r.feed.clone()?;
            r.sources.get(&feed.shown()).is_none_or(|s| s.publisher.is_none()).then_some(feed)
        };
        let Some(feed) = gone(&lock(&self.rooms)) else { return };
        let size = feed.picture_size().unwrap_or(DEFAULT_CARD);
        // Its first picture: an away anchor's slate does not move.
        let card = self.slate_picture(room, super::AUTO_SLATE, size).1.first;
        // Checked again and set under the lock: a publisher who came back meanwhile keeps the tile.
        let since = store::now_s();
        {
            let mut m = lock(&self.rooms);
            if gone(&m).is_none() || !feed.set_away(card) {
                return;
            }
            if let Some(r) = m.get_mut(room) {
                r.away_since = Some(since);
            }
        }
        tracing::info!(room, hold_s = self.hold.as_secs(), "anchor gone longer than the hold: showing the slate");
        self.emit(RoomEvent::Away { room_id: room.to_string(), since, hold_s: self.hold.as_secs() });
    }
}
