//! What a session runs: its inputs, layout, size, rate, outputs, views, PK bar and masking. A
//! spec is what the session layer writes down and resumes (see [`super::records`]).

use serde::{Deserialize, Serialize};

use super::unlock;
use crate::compose::{Fps, ViewSpec};
use crate::media::geometry::{Fit, Layout};

/// One input of a session: a room of this service, or a URL FFmpeg pulls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionInput {
    Room(String),
    Url(String),
}

/// The rooms among a session's inputs.
pub fn rooms_in(inputs: &[SessionInput]) -> Vec<String> {
    inputs.iter().filter_map(|i| if let SessionInput::Room(r) = i { Some(r.clone()) } else { None }).collect()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionSpec {
    pub inputs: Vec<SessionInput>,
    pub layout: Layout,
    pub fits: Vec<Fit>,
    pub size: (u32, u32),
    pub fps: Fps,
    pub outputs: Vec<String>,
    pub bitrate_kbps: u32,
    /// Also record the output to a file (MPEG-TS, readable even if the service stops abruptly).
    pub record: bool,
    /// Several outputs from the same inputs (a PK's two mirrored room outputs and the anchors'
    /// monitors), each with its own HLS under `views/{name}/`; empty: one output.
    pub views: Vec<ViewSpec>,
    /// Start with inputs pulled and decoded but no output until [`Sessions::activate`] (a PK
    /// invitation waiting for its answer).
    pub pending: bool,
    pub pk: Option<crate::compose::PkSettings>,
    /// Per input: `Some(k)` when it only brings more audio of input k's anchor (see
    /// [`RenderConfig::audio_of`]).
    pub audio_of: Vec<Option<usize>>,
    /// Per-viewer face masking: the session produces one rendition per unlock level (plus the open
    /// picture), all from one composition, served only through per-viewer signed playlists.
    pub masking: Option<Masking>,
    /// Pulled inputs shown paused (by input index), with their slates.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub input_pauses: std::collections::BTreeMap<usize, super::input_pause::InputPause>,
}

/// Face masking of a session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Masking {
    /// Whose unlock rules and viewers' levels apply.
    pub channel: String,
    pub rules: unlock::UnlockRules,
    pub tracker: crate::face::TrackerConfig,
    /// Whether viewers at the top level may get the unmasked picture.
    pub open_allowed: bool,
}
