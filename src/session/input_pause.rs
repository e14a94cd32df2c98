//! Pausing one pulled input of a session (`POST /sessions/{id}/inputs/{k}/pause`): its tile shows a
//! slate from the next frame on, in every view and rendition, while the pull goes on; its sound is
//! kept, muted or replaced by the slate's. Each pulled input has a hold (a feed that carries only
//! the pause) that its slot reads the slate from and passes its sound through, so a pause works
//! the way a room's does. Pauses are written down with the session and come back after a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Running, SessionError, SessionInput, Sessions};
use crate::compose::{JobEvent, Source};
use crate::ingest::Feed;
use crate::rooms::PauseAudio;

/// A paused input: since when (Unix seconds), the slate it shows and what is heard (`keep`,
/// `mute` or `slate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputPause {
    pub since: i64,
    pub slate: String,
    pub audio: String,
}

/// Each pulled input's hold, by URL.
pub(super) type Holds = HashMap<String, Arc<Feed>>;

/// The holds of `inputs`: the ones in `kept` for URLs it has, new ones for the others.
pub(super) fn holds_for(inputs: &[SessionInput], kept: &Holds) -> Holds {
    inputs
        .iter()
        .filter_map(|i| if let SessionInput::Url(u) = i { Some(u) } else { None })
        .map(|u| (u.clone(), kept.get(u).cloned().unwrap_or_else(|| Feed::new(1))))
        .collect()
}

/// Pauses of the new input list: a paused URL stays paused wherever it moved; others go.
pub(super) fn moved_pauses(
    old: &[SessionInput],
    new: &[SessionInput],
    pauses: &BTreeMap<usize, InputPause>,
) -> BTreeMap<usize, InputPause> {
    pauses
        .iter()
        .filter_map(|(k, p)| {
            let input = old.get(*k)?;
            new.iter().position(|i| i == input).map(|j| (j, p.clone()))
        })
        .collect()
}

impl Sessions {
    /// What a session input is read from (a pulled one through its hold).
    pub(super) fn source(&self, i: &SessionInput, holds: &Holds) -> Source {
        match i {
            SessionInput::Room(r) => Source::Feed { name: format!("room {r}"), feed: self.rooms.feed(r) },
            SessionInput::Url(u) => match holds.get(u) {
                Some(hold) => Source::Pulled { url: u.clone(), hold: hold.clone() },
                None => Source::Url(u.clone()),
            },
        }
    }

    /// Pauses pulled input `k` of a running session with `slate` (see
    /// [`crate::rooms::Rooms::pause_hold`]); pausing it again changes its slate and keeps its
    /// start. Blocking (it may decode the slate; it writes the pause down).
    pub fn pause_input(
        &self,
        id: &str,
        k: usize,
        slate: &str,
        audio: Option<PauseAudio>,
    ) -> Result<InputPause, SessionError> {
        let (hold, size, since) = {
            let m = self.running();
            let r = m.get(id).ok_or_else(|| SessionError::NotFound(id.into()))?;
            (hold_of(r, k)?, r.size, r.spec.input_pauses.get(&k).map(|p| p.since))
        };
        let (slate, audio) = self.rooms.pause_hold(&hold, slate, audio, size)?;
        let p = InputPause { since: since.unwrap_or_else(crate::store::now_s), slate, audio: audio.as_str().into() };
        self.write_pauses(id, |pauses| {
            pauses.insert(k, p.clone());
        });
        self.emit(id, JobEvent::InputPaused { input: k, slate: p.slate.clone(), audio: p.audio.clone() });
        Ok(p)
    }

    /// Shows pulled input `k` again from its next picture; the pause that ended, if it was
    /// paused. Blocking (it writes the change down).
    pub fn resume_input(&self, id: &str, k: usize) -> Result<Option<InputPause>, SessionError> {
        let hold = {
            let m = self.running();
            hold_of(m.get(id).ok_or_else(|| SessionError::NotFound(id.into()))?, k)?
        };
        hold.set_slate(None);
        let mut ended = None;
        self.write_pauses(id, |pauses| ended = pauses.remove(&k));
        if ended.is_some() {
            self.emit(id, JobEvent::InputResumed { input: k });
        }
        Ok(ended)
    }

    /// A session's paused inputs.
    pub fn input_pauses(&self, id: &str) -> BTreeMap<usize, InputPause> {
        self.running().get(id).map(|r| r.spec.input_pauses.clone()).unwrap_or_default()
    }

    /// After a start: the pauses its spec carries (a restart's) show again.
    pub(super) fn restore_input_pauses(&self, id: &str, pauses: &BTreeMap<usize, InputPause>) {
        for (k, p) in pauses {
            if let Err(e) = self.pause_input(id, *k, &p.slate, PauseAudio::parse(&p.audio)) {
                tracing::warn!(session = id, input = k, error = %e, "an input's pause did not come back");
            }
        }
    }

    fn write_pauses(&self, id: &str, f: impl FnOnce(&mut BTreeMap<usize, InputPause>)) {
        let spec = {
            let mut m = self.running();
            let Some(r) = m.get_mut(id) else { return };
            f(&mut r.spec.input_pauses);
            r.spec.clone()
        };
        self.records.session_changed(id, &spec);
    }
}

/// Input `k`'s hold: refused for an input that does not exist or is a room (a room is paused as
/// a room, in every session that shows it).
fn hold_of(r: &Running, k: usize) -> Result<Arc<Feed>, SessionError> {
    match r.spec.inputs.get(k) {
        None => Err(SessionError::NoInput(k)),
        Some(SessionInput::Room(room)) => Err(SessionError::InputIsRoom { input: k, room: room.clone() }),
        Some(SessionInput::Url(u)) => r.holds.get(u).cloned().ok_or(SessionError::NoInput(k)),
    }
}
