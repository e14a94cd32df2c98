//! Wire types of pausing a room.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::rooms::{PauseAudio, AUTO_SLATE};
use crate::store::Pause;

/// A pause: which slate (`auto`, the default: the slate that fits the room, else its default
/// slate, else the system text card; `system`: the system card; or a slate's id) and what viewers
/// hear: the anchor (`keep`), silence (`mute`) or the slate's own sound (`slate`). By default, a
/// video slate's own sound if it has one, else the anchor.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PauseRequest {
    pub slate: Option<String>,
    pub audio: Option<String>,
}

/// A checked pause request: the slate asked for, and the audio.
pub struct PauseChoice {
    pub slate: String,
    /// None: the slate's sound if it has one, else the anchor's.
    pub audio: Option<PauseAudio>,
}

impl TryFrom<PauseRequest> for PauseChoice {
    type Error = ApiError;

    fn try_from(r: PauseRequest) -> Result<PauseChoice, ApiError> {
        let slate = r.slate.unwrap_or_else(|| AUTO_SLATE.to_string());
        if slate.is_empty() || slate.len() > 64 {
            return Err(ApiError::invalid("slate: \"auto\", \"system\" or a slate's id"));
        }
        let audio = match r.audio.as_deref() {
            None => None,
            Some(a) => {
                Some(PauseAudio::parse(a).ok_or_else(|| ApiError::invalid("audio: \"keep\", \"mute\" or \"slate\""))?)
            }
        };
        Ok(PauseChoice { slate, audio })
    }
}

/// A room's pause, while it lasts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PauseView {
    /// When it started, Unix seconds.
    pub paused_since: i64,
    /// The slate shown in the room's tile.
    pub slate: String,
    /// `keep`, `mute` or `slate`.
    pub audio: String,
}

impl From<Pause> for PauseView {
    fn from(p: Pause) -> PauseView {
        PauseView { paused_since: p.since, slate: p.slate, audio: p.audio }
    }
}

/// A room's pause as the room's and its sessions' status show it.
pub fn pause_of(s: &super::AppState, room: &str) -> Option<PauseView> {
    s.rooms.paused(room).map(Into::into)
}

/// A paused room of a session.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PausedRoomView {
    pub room_id: String,
    #[serde(flatten)]
    pub pause: PauseView,
}

/// A paused pulled input of a session (`POST /sessions/{id}/inputs/{k}/pause`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PausedInputView {
    /// The input's index in the session's inputs.
    pub input: usize,
    #[serde(flatten)]
    pub pause: PauseView,
}

impl From<(usize, crate::session::input_pause::InputPause)> for PausedInputView {
    fn from((input, p): (usize, crate::session::input_pause::InputPause)) -> PausedInputView {
        PausedInputView { input, pause: PauseView { paused_since: p.since, slate: p.slate, audio: p.audio } }
    }
}
