//! The running job's side of a live session: what it reports (events), what the API changes while it
//! runs (layout, inputs, activation, the PK bar, comments), and how the API wakes it.

use std::sync::Arc;
use std::time::Instant;

use super::overlay::{Comment, PkBar};
use super::source::Source;
use crate::media::{Fit, Layout};
use crate::sys::lock;

/// Something a live job reports while it runs (inputs by index in the job's input list).
#[derive(Clone, Debug)]
pub enum JobEvent {
    InputLost(usize),
    InputBack(usize),
    OutputConnected(String),
    OutputFailed(String, String),
    /// The session has been skipping ticks for a while (the machine cannot compose every frame):
    /// `percent` of the last window's ticks were skipped.
    FallingBehind {
        percent: u32,
    },
    /// It composes every tick again.
    CaughtUp,
}

/// A live job's counters, read by the API at any time.
#[derive(Debug, Default)]
pub struct JobCounters {
    /// Frames composed.
    pub frames: std::sync::atomic::AtomicU64,
    /// Ticks skipped because the loop was late (the timeline kept the wall clock).
    pub ticks_skipped: std::sync::atomic::AtomicU64,
    /// Whether the last window skipped ticks enough to call the session behind.
    pub behind: std::sync::atomic::AtomicBool,
}

/// A per-frame time a live job reports, for the operator's histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Uploading the tick's new pictures.
    Upload,
    /// The GPU's composite passes (timestamps).
    Composite,
    /// Encoding one view's frame.
    Encode,
    /// How late a tick started against the wall clock.
    TickLateness,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Upload, Stage::Composite, Stage::Encode, Stage::TickLateness];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Upload => "upload",
            Stage::Composite => "composite",
            Stage::Encode => "encode",
            Stage::TickLateness => "tick_lateness",
        }
    }
}

/// Receives a live job's stage times, in milliseconds.
pub type StageSink = Arc<dyn Fn(Stage, f64) + Send + Sync>;

/// Receives a live job's events.
pub type EventSink = Arc<dyn Fn(JobEvent) + Send + Sync>;

/// A layout change of a running job.
#[derive(Clone, Debug)]
pub struct LayoutChange {
    pub layout: Option<Layout>,
    /// One value, or one per input (of the new input list when `inputs` is given).
    pub fits: Option<Vec<Fit>>,
    /// A new input list: inputs kept from the old list keep their decoder and last frame; new ones
    /// are opened; missing ones are closed.
    pub inputs: Option<Vec<Source>>,
}

/// Run-time state of a live job shared with the API; read at every tick.
#[derive(Debug)]
pub struct LiveState {
    /// False: the inputs are pulled and decoded into their rings, but nothing is composed or sent
    /// (a PK invitation waiting for its answer). Becoming true starts the output clock at once.
    pub active: bool,
    /// Each view shows only its first input, full frame (a PK that ended: back to solo).
    pub solo: bool,
    pub pk: Option<PkBar>,
    pub comments: Vec<Comment>,
    /// Set by the API when it activates the job; the loop fills in when the first frame after that
    /// was composed and read back, and when its first packet left the encoder.
    pub activated: Option<Instant>,
    pub first_frame: Option<Instant>,
    pub first_packet: Option<Instant>,
    /// Input pictures that failed to upload and were replaced by an older buffered frame.
    pub upload_retries: u64,
}

impl Default for LiveState {
    fn default() -> Self {
        LiveState {
            active: true,
            solo: false,
            pk: None,
            comments: Vec::new(),
            activated: None,
            first_frame: None,
            first_packet: None,
            upload_retries: 0,
        }
    }
}

/// Wakes a live job's loop before its next tick (an accept must not wait for a tick to come round).
#[derive(Default)]
pub struct Wake {
    flag: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Wake {
    pub fn notify(&self) {
        *lock(&self.flag) = true;
        self.cv.notify_all();
    }

    /// Sleeps for `d` or until notified.
    pub(crate) fn wait(&self, d: std::time::Duration) {
        let g = lock(&self.flag);
        let (mut g, _) = self.cv.wait_timeout_while(g, d, |f| !*f).unwrap_or_else(|p| p.into_inner());
        *g = false;
    }
}
