//! Pausing a room ("be right back"): every session, PK tile, mirrored view and masked rendition
//! that shows the room shows a slate in the room's tile from the next frame on, while the anchor
//! keeps publishing and, unless muted, keeps being heard. Nothing reconnects: the slate is a
//! picture of the room's feed, so every output keeps its encoder, GOP and timestamps.

use super::absence::DEFAULT_CARD;
use super::{RoomEvent, Rooms};
use crate::compose::slate;
use crate::store::{self, Pause, StoreError};
use crate::sys::lock;

/// The one slate there is so far: the system text card.
pub const SYSTEM_SLATE: &str = "system";

/// What happens to the anchor's sound during a pause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PauseAudio {
    /// Viewers keep hearing the anchor (the default for a picture slate).
    #[default]
    Keep,
    /// Silence, on the same timeline.
    Mute,
}

impl PauseAudio {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseAudio::Keep => "keep",
            PauseAudio::Mute => "mute",
        }
    }

    pub fn parse(s: &str) -> Option<PauseAudio> {
        match s {
            "keep" => Some(PauseAudio::Keep),
            "mute" => Some(PauseAudio::Mute),
            _ => None,
        }
    }
}

/// Why a pause or resume did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the slate could not be drawn: {0}")]
    Slate(crate::Error),
}

impl Rooms {
    /// Pauses `room` (blocking: it writes the pause down, so it survives a restart). Pausing a
    /// paused room changes its audio choice and keeps its start.
    pub fn pause(&self, room: &str, audio: PauseAudio) -> Result<Pause, PauseError> {
        let p = Pause {
            room_id: room.to_string(),
            since: store::now_s(),
            slate: SYSTEM_SLATE.to_string(),
            audio: audio.as_str().to_string(),
        };
        let p = self.store.set_pause(&p)?;
        self.show(&p)?;
        let Pause { room_id, since, slate, audio } = p.clone();
        self.emit(RoomEvent::Paused { room_id, since, slate, audio });
        Ok(p)
    }

    /// Shows `room`'s anchor again from the next frame they send (blocking); the pause that
    /// ended, if the room was paused.
    pub fn resume(&self, room: &str) -> Result<Option<Pause>, PauseError> {
        let ended = self.store.clear_pause(room)?;
        self.feed(room).set_slate(None);
        if let Some(r) = lock(&self.rooms).get_mut(room) {
            r.pause = None;
        }
        if let Some(p) = &ended {
            let paused_s = store::now_s() - p.since;
            self.emit(RoomEvent::Resumed { room_id: room.to_string(), paused_s });
        }
        Ok(ended)
    }

    /// The room's pause, while it is paused.
    pub fn paused(&self, room: &str) -> Option<Pause> {
        lock(&self.rooms).get(room)?.pause.clone()
    }

    /// Shows the pauses written down before a restart again (blocking).
    pub fn restore_pauses(&self) {
        match self.store.pauses() {
            Ok(pauses) => {
                for p in pauses {
                    if let Err(e) = self.show(&p) {
                        tracing::error!(room = %p.room_id, error = %e, "a pause could not be shown again");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "paused rooms could not be read"),
        }
    }

    /// Puts the pause's slate on the room's feed: the card at the anchor's picture size, so it
    /// fills the room's tile the way the anchor did.
    fn show(&self, p: &Pause) -> Result<(), PauseError> {
        let feed = self.feed(&p.room_id);
        let size = feed.picture_size().unwrap_or(DEFAULT_CARD);
        let card = slate::text_card(slate::SYSTEM_CARD_TEXT, size).map_err(PauseError::Slate)?;
        feed.set_slate(Some((card, p.audio == PauseAudio::Mute.as_str())));
        lock(&self.rooms).entry(p.room_id.clone()).or_default().pause = Some(p.clone());
        Ok(())
    }
}
