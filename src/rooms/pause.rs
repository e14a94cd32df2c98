//! Pausing a room ("be right back"): every session, PK tile, mirrored view and masked rendition
//! that shows the room shows a slate in the room's tile from the next frame on, while the anchor
//! keeps publishing and, unless muted, keeps being heard. Nothing reconnects: the slate is a
//! picture of the room's feed, so every output keeps its encoder, GOP and timestamps.

use std::sync::Arc;

use super::absence::DEFAULT_CARD;
use super::slates::SlatePicture;
use super::{RoomEvent, Rooms};
use crate::compose::slate;
use crate::compose::slate_loop::{self, LoopTarget};
use crate::ingest::{Feed, SlateSound};
use crate::store::{self, Pause, StoreError};
use crate::sys::lock;

/// The system text card: the slate that is always there.
pub const SYSTEM_SLATE: &str = "system";

/// What happens to the anchor's sound during a pause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PauseAudio {
    /// Viewers keep hearing the anchor (the default for a slate without sound).
    #[default]
    Keep,
    /// Silence, on the same timeline.
    Mute,
    /// The slate's own sound (the default for a video slate that has one; silence for one that
    /// has none).
    Slate,
}

impl PauseAudio {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseAudio::Keep => "keep",
            PauseAudio::Mute => "mute",
            PauseAudio::Slate => "slate",
        }
    }

    pub fn parse(s: &str) -> Option<PauseAudio> {
        match s {
            "keep" => Some(PauseAudio::Keep),
            "mute" => Some(PauseAudio::Mute),
            "slate" => Some(PauseAudio::Slate),
            _ => None,
        }
    }
}

/// The slate a pause asks for: the room's pick (the best match for what the room is about, else
/// its default, else the system card), the system card, or a slate by id.
pub const AUTO_SLATE: &str = "auto";

impl Rooms {
    /// Pauses `room` with `slate` (an id, [`AUTO_SLATE`] or [`SYSTEM_SLATE`]; blocking: it may
    /// decode the slate, and writes the pause down, so it survives a restart). Pausing a paused
    /// room changes its slate and audio and keeps its start. A slate that cannot be shown gives
    /// way to the room's default, then the system card; the pause names the one shown.
    /// `audio` None: the slate's own sound if it has one, else the anchor's.
    pub fn pause(&self, room: &str, slate: &str, audio: Option<PauseAudio>) -> Result<Pause, StoreError> {
        self.store.room(room)?;
        if slate != AUTO_SLATE && slate != SYSTEM_SLATE {
            self.store.slate(slate)?;
        }
        let feed = self.feed(room);
        let (shown, picture) = self.slate_picture(room, slate, feed.picture_size().unwrap_or(DEFAULT_CARD));
        let audio = audio.unwrap_or(if picture.sound { PauseAudio::Slate } else { PauseAudio::Keep });
        let p =
            Pause { room_id: room.to_string(), since: store::now_s(), slate: shown, audio: audio.as_str().to_string() };
        let p = self.store.set_pause(&p)?;
        put_on(&feed, picture, audio);
        lock(&self.rooms).entry(p.room_id.clone()).or_default().pause = Some(p.clone());
        let Pause { room_id, since, slate, audio } = p.clone();
        self.emit(RoomEvent::Paused { room_id, since, slate, audio });
        Ok(p)
    }

    /// The slate `wanted` for `room` at `size`, or what stands in for it: the room's default
    /// slate, then the system card (never nothing: a pause must not show black). Its id, and it.
    pub(super) fn slate_picture(&self, room: &str, wanted: &str, size: (u32, u32)) -> (String, SlatePicture) {
        let default = self.store.default_slate(room).ok().flatten();
        let first = if wanted == AUTO_SLATE {
            // The best match for the room, when one scores enough.
            self.suggest(room).ok().filter(|s| s.because == "match").map(|s| s.pick)
        } else {
            Some(wanted.to_string())
        };
        let tried = [first, default];
        if let Some(slates) = &self.slates {
            for id in tried.into_iter().flatten().filter(|id| id != SYSTEM_SLATE) {
                match slates.picture(&id, size) {
                    Ok(p) => return (id, p),
                    Err(e) => tracing::warn!(room, slate = %id, error = %e, "slate not shown; falling back"),
                }
            }
        }
        let card = slate::text_card(slate::SYSTEM_CARD_TEXT, size);
        (SYSTEM_SLATE.to_string(), SlatePicture { first: card, looped: None, sound: false })
    }

    /// Pauses a pulled input: its `hold` shows `slate` (an id; [`AUTO_SLATE`] and
    /// [`SYSTEM_SLATE`]: the system card, as an input has no room to pick by; a slate that cannot
    /// be shown: the system card), looped like a room's. The slate shown, and the audio.
    pub fn pause_hold(
        &self,
        hold: &Arc<Feed>,
        slate: &str,
        audio: Option<PauseAudio>,
        size: (u32, u32),
    ) -> Result<(String, PauseAudio), StoreError> {
        let wanted = (slate != AUTO_SLATE && slate != SYSTEM_SLATE).then_some(slate);
        if let Some(id) = wanted {
            self.store.slate(id)?;
        }
        let picture = wanted.zip(self.slates.as_ref()).and_then(|(id, s)| match s.picture(id, size) {
            Ok(p) => Some((id.to_string(), p)),
            Err(e) => {
                tracing::warn!(slate = %id, error = %e, "slate not shown; the system card stands in");
                None
            }
        });
        let (shown, picture) = picture.unwrap_or_else(|| {
            let card = slate::text_card(slate::SYSTEM_CARD_TEXT, size);
            (SYSTEM_SLATE.to_string(), SlatePicture { first: card, looped: None, sound: false })
        });
        let audio = audio.unwrap_or(if picture.sound { PauseAudio::Slate } else { PauseAudio::Keep });
        put_on(hold, picture, audio);
        Ok((shown, audio))
    }

    /// Shows `room`'s anchor again from the next frame they send (blocking); the pause that
    /// ended, if the room was paused.
    pub fn resume(&self, room: &str) -> Result<Option<Pause>, StoreError> {
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

    /// Draws (or decodes) the slates a pause of `room` would most likely show, its "auto" pick
    /// and its default, so the pause itself finds them ready (blocking).
    pub fn preload_slates(&self, room: &str) {
        let size = self.feed(room).picture_size().unwrap_or(DEFAULT_CARD);
        let _ = self.slate_picture(room, AUTO_SLATE, size);
        if let (Some(slates), Ok(Some(default))) = (&self.slates, self.store.default_slate(room)) {
            let _ = slates.picture(&default, size);
        }
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
                    self.show(&p);
                }
            }
            Err(e) => tracing::error!(error = %e, "paused rooms could not be read"),
        }
    }

    /// Puts a pause written down before a restart back on the room's feed.
    fn show(&self, p: &Pause) {
        let feed = self.feed(&p.room_id);
        let size = feed.picture_size().unwrap_or(DEFAULT_CARD);
        let (_, picture) = self.slate_picture(&p.room_id, &p.slate, size);
        put_on(&feed, picture, PauseAudio::parse(&p.audio).unwrap_or_default());
        lock(&self.rooms).entry(p.room_id.clone()).or_default().pause = Some(p.clone());
    }
}

/// Shows `slate` on the room's feed; an animation or video plays on in a loop from its first
/// picture (with its own sound, if that is what viewers hear), until the feed shows something
/// else.
fn put_on(feed: &Arc<Feed>, slate: SlatePicture, audio: PauseAudio) {
    let sound = match audio {
        PauseAudio::Keep => SlateSound::Anchor,
        PauseAudio::Mute => SlateSound::Silence,
        PauseAudio::Slate => SlateSound::Slate,
    };
    let generation = feed.set_slate(Some((slate.first, sound)));
    let Some(path) = slate.looped else { return };
    let (f1, f2, f3) = (feed.clone(), feed.clone(), feed.clone());
    let target = LoopTarget {
        alive: Box::new(move || f1.shows_slate(generation)),
        show: Box::new(move |p| f2.update_slate(generation, p)),
        sound: (sound == SlateSound::Slate && slate.sound)
            .then(|| Box::new(move |c| f3.push_slate_sound(generation, c)) as Box<dyn FnMut(_) + Send>),
    };
    if let Err(e) = slate_loop::play_loop(path, target) {
        tracing::error!(error = %e, "a slate loop could not start; its first picture stays");
    }
}
