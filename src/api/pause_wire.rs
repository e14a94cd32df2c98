//! Wire types of pausing a room.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::rooms::{PauseAudio, AUTO_SLATE};
use crate::store::Pause;

/// A pause: which slate (`auto`, the default: the room's default slate, else the system text
/// card; `system`: the system card; or a slate's id) and whether viewers keep hearing the anchor
/// (`keep`, the default) or silence (`mute`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PauseRequest {
    pub slate: Option<String>,
    pub audio: Option<String>,
}

/// A checked pause request: the slate asked for, and the audio.
pub struct PauseChoice {
    pub slate: String,
    pub audio: PauseAudio,
}

impl TryFrom<PauseRequest> for PauseChoice {
    type Error = ApiError;

    fn try_from(r: PauseRequest) -> Result<PauseChoice, ApiError> {
        let slate = r.slate.unwrap_or_else(|| AUTO_SLATE.to_string());
        if slate.is_empty() || slate.len() > 64 {
            return Err(ApiError::invalid("slate: \"auto\", \"system\" or a slate's id"));
        }
        let audio = match r.audio.as_deref() {
            None => PauseAudio::Keep,
            Some(a) => PauseAudio::parse(a).ok_or_else(|| ApiError::invalid("audio: \"keep\" or \"mute\""))?,
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
    /// `keep` or `mute`.
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
