//! What a job is asked to do: its inputs, layout, size and rate, views and outputs, and the hooks a
//! live session reads and writes while it runs.

use super::live::LiveHooks;
use super::overlay::Overlays;
use super::source::Source;
use super::view::{FaceSettings, ViewSpec};
use crate::encode::VideoSettings;
use crate::error::{invalid, Error, Result};
use crate::gpu::GpuOptions;
use crate::ingest::InputOptions;
use crate::media::{Fit, Layout};

/// Frame rate as a fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fps {
    pub num: i32,
    pub den: i32,
}

impl Fps {
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl std::str::FromStr for Fps {
    type Err = Error;
    fn from_str(s: &str) -> Result<Fps> {
        let bad = || invalid("fps", format!("{s:?}; expected e.g. 30, 29.97 or 30000/1001"));
        let f = if let Some((n, d)) = s.split_once('/') {
            Fps { num: n.trim().parse().map_err(|_| bad())?, den: d.trim().parse().map_err(|_| bad())? }
        } else if s.contains('.') {
            let v: f64 = s.parse().map_err(|_| bad())?;
            Fps { num: (v * 1000.0).round() as i32, den: 1000 }
        } else {
            Fps { num: s.parse().map_err(|_| bad())?, den: 1 }
        };
        if f.num <= 0 || f.den <= 0 || f.as_f64() > 240.0 {
            return Err(bad());
        }
        Ok(f)
    }
}

/// Parses "1280x720" into a size the pipeline can produce (see [`crate::media::FrameSize`]).
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    Ok(s.parse::<crate::media::FrameSize>()?.get())
}

#[derive(Clone)]
pub struct RenderConfig {
    pub inputs: Vec<Source>,
    pub layout: Layout,
    /// One per input, or a single value for all.
    pub fits: Vec<Fit>,
    pub size: (u32, u32),
    pub fps: Fps,
    pub outputs: Vec<String>,
    /// Outputs connect to public addresses only (see [`crate::policy::resolve`]).
    pub public_outputs_only: bool,
    pub overlays: Overlays,
    pub video: VideoSettings,
    pub audio_kbps: u32,
    pub gpu: GpuOptions,
    pub input: InputOptions,
    /// Nice value for decode and software-GPU threads so the encoder (the serial stage) runs first.
    pub background_nice: i32,
    /// Stop after this much output (seconds).
    pub max_seconds: Option<f64>,
    /// Live: ticks follow the wall clock, inputs never hold the output back (a stalled input keeps
    /// its last frame, network inputs reconnect), audio is mixed as it arrives.
    pub realtime: bool,
    /// Several pictures from the same inputs (mirrored PK outputs, monitors); empty: one view made
    /// of `outputs`.
    pub views: Vec<ViewSpec>,
    /// Per input: `Some(k)` when the input only brings more audio of input k's anchor (app audio
    /// beside a microphone); it is mixed wherever k is heard, aligned to k by stream timestamp, and
    /// its pictures are not shown. Empty: every input is its own.
    pub audio_of: Vec<Option<usize>>,
    /// Track faces (for masked views). A tracked input's frames reach the compositor only once their
    /// faces are known, from a tracker thread that never holds up a tick.
    pub faces: Option<FaceSettings>,
    /// A live session's side of the job (None: a command-line render).
    pub hooks: Option<LiveHooks>,
}
