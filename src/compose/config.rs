//! What a job is asked to do: its inputs, layout, size and rate, views and outputs, and the hooks a
//! live session reads and writes while it runs.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::live::{EventSink, JobCounters, LayoutChange, LiveState, StageSink, Wake};
use super::overlay::Overlays;
use super::source::Source;
use super::view::{FaceSettings, ViewSpec};
use crate::encode::VideoSettings;
use crate::error::{invalid, Error, Result};
use crate::gpu::GpuOptions;
use crate::ingest::InputOptions;
use crate::media::{Fit, Layout};
use crate::outputs::OutputStats;

/// One output's counters, with the view it belongs to: (view, url, counters).
pub type OutputCounter = (String, String, Arc<OutputStats>);

/// Frame rate as a fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Parses "1280x720".
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let bad = || invalid("size", format!("{s:?}; expected WIDTHxHEIGHT, e.g. 1280x720"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(bad());
    }
    Ok((w, h))
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
    /// Set to stop the job at the next tick (outputs are finished properly).
    pub stop: Option<Arc<AtomicBool>>,
    /// Frames composed and ticks skipped so far, for a live job's status and metrics.
    pub counters: Option<Arc<JobCounters>>,
    /// Test knob: extra milliseconds of work per tick (to overload a session on purpose).
    pub extra_tick_ms: u32,
    /// Live: told when an input is lost (stalls) and when it is back.
    pub events: Option<EventSink>,
    /// Live changes: a new layout and/or fit per input, picked up at the next tick.
    pub changes: Option<Arc<Mutex<Option<LayoutChange>>>>,
    /// Live: told each frame's stage times (upload, GPU composite, encode) and each tick's lateness.
    pub stages: Option<StageSink>,
    /// Filled with each output's counters once the outputs are open (for the metrics).
    pub output_stats: Option<Arc<Mutex<Vec<OutputCounter>>>>,
    /// Several pictures from the same inputs (mirrored PK outputs, monitors); empty: one view made
    /// of `outputs`.
    pub views: Vec<ViewSpec>,
    /// Live: state changed by the API while the job runs (activation, PK bar, comments).
    pub live: Option<Arc<Mutex<LiveState>>>,
    /// Live: wakes the loop at once after a change.
    pub wake: Option<Arc<Wake>>,
    /// Per input: `Some(k)` when the input only brings more audio of input k's anchor (app audio
    /// beside a microphone); it is mixed wherever k is heard, aligned to k by stream timestamp, and
    /// its pictures are not shown. Empty: every input is its own.
    pub audio_of: Vec<Option<usize>>,
    /// Track faces (for masked views). A tracked input's frames reach the compositor only once their
    /// faces are known, from a tracker thread that never holds up a tick.
    pub faces: Option<FaceSettings>,
}
