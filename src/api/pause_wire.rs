//! Wire types of pausing a room.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::rooms::{PauseAudio, SYSTEM_SLATE};
use crate::store::Pause;

/// A pause: which slate (`auto`, the default, picks the room's best; today that is the system
/// text card) and whether viewers keep hearing the anchor (`keep`, the default) or silence (`mute`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PauseRequest {
    pub slate: Option<String>,
    pub audio: Option<String>,
}

impl TryFrom<PauseRequest> for PauseAudio {
    type Error = ApiError;

    fn try_from(r: PauseRequest) -> Result<PauseAudio, ApiError> {
        match r.slate.as_deref() {
            None | Some("auto") => {}
            Some(s) if s == SYSTEM_SLATE => {}
            Some(other) => {
                let other: String = other.chars().take(64).collect();
                return Err(ApiError::not_found(format!("no slate {other:?}: use \"auto\" or \"{SYSTEM_SLATE}\"")));
            }
        }
        match r.audio.as_deref() {
            None => Ok(PauseAudio::Keep),
            Some(a) => PauseAudio::parse(a).ok_or_else(|| ApiError::invalid("audio: \"keep\" or \"mute\"")),
        }
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
