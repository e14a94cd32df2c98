//! The running job's side of a live session: what it reports (events, counters, stage times), what
//! the API changes while it runs (layout, inputs, activation, the PK bar, comments), and how the
//! API wakes or stops it. A job run from the command line has none of this ([`LiveHooks`]).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::overlay::{Comment, PkBar, PollBoard};
use super::source::Source;
use crate::media::{Fit, Layout};
use crate::outputs::OutputEvent;
use crate::sys::lock;

/// One output's counters, with the view it belongs to: (view, url, counters).
pub type OutputCounter = (String, String, Arc<crate::outputs::OutputStats>);

/// Something a live job reports (inputs by index in the job's input list); whoever runs the job
/// tags it with its session.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    /// The job opened and runs.
    Started,
    /// The job ended, with the reason when it failed.
    Stopped {
        error: Option<String>,
    },
    InputLost(usize),
    InputBack(usize),
    /// A pulled input shows a slate (`slate`; `audio`: `keep`, `mute` or `slate`), or its own
    /// pictures again.
    InputPaused {
        input: usize,
        slate: String,
        audio: String,
    },
    InputResumed {
        input: usize,
    },
    /// Every input of the session shows its room's pause slate from output time `at_s` on
    /// (`paused`), or no longer does; the frame at `at_s` is a keyframe.
    PauseEdge {
        paused: bool,
        at_s: f64,
    },
    /// The first sound of an input after its room was paused or resumed is heard from output time
    /// `at_s` (a live mix places sound a little behind the picture it went with).
    SoundEdge {
        at_s: f64,
    },
    /// Input `input`'s room was switched to show `shows` (`slate`, `live` or `source`), and the
    /// first output frame showing it is composed `after_ms` after the switch was asked for.
    Shown {
        input: usize,
        shows: &'static str,
        after_ms: f64,
    },
    /// An output connected or failed (its URL redacted).
    Output(OutputEvent),
    /// The session has been skipping ticks for a while (the machine cannot compose every frame):
    /// `percent` of the last window's ticks were skipped.
    FallingBehind {
        percent: u32,
    },
    /// It composes every tick again.
    CaughtUp,
    /// A masked session's rendition was `created` (its first viewer asked for its state), or
    /// `retired` (no viewer since the grace period), or its state was `capped` (no place left:
    /// its viewers get a more masked one).
    Rendition {
        what: &'static str,
        rendition: String,
        masked: Vec<crate::face::Organ>,
        sigma: f32,
    },
}

/// What a live job shares with whoever runs it (a session); none of it for a command-line render.
#[derive(Clone)]
pub struct LiveHooks {
    /// Set to stop the job at the next tick (outputs are finished properly).
    pub stop: Arc<AtomicBool>,
    /// Frames composed and ticks skipped so far.
    pub counters: Arc<JobCounters>,
    pub events: EventSink,
    /// Each frame's stage times (upload, GPU composite, encode) and each tick's lateness.
    pub stages: StageSink,
    /// Filled with each output's counters once the outputs are open.
    pub output_stats: Arc<Mutex<Vec<OutputCounter>>>,
    /// What the API changes while the job runs; read at every tick.
    pub state: Arc<Mutex<LiveState>>,
    /// Wakes the loop at once after a change.
    pub wake: Arc<Wake>,
}

impl LiveHooks {
    /// Told to stop, or this node lost its lease (see `sys::fence`).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || !crate::sys::fence::holds()
    }
}

/// Test knob: extra milliseconds of work per tick in every live job, to overload the machine on
/// purpose (a hidden flag of `costream serve`; 0 otherwise).
static TEST_EXTRA_TICK_MS: AtomicU32 = AtomicU32::new(0);

pub fn set_test_extra_tick_ms(ms: u32) {
    TEST_EXTRA_TICK_MS.store(ms, Ordering::Relaxed);
}

pub(crate) fn test_extra_tick_ms() -> u32 {
    TEST_EXTRA_TICK_MS.load(Ordering::Relaxed)
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
    /// Each stage's recent time per frame (ms, an exponential average as `f64` bits), in the
    /// order of `Stage::ALL`: what an operator's page shows without a Prometheus server.
    stage_ms: [std::sync::atomic::AtomicU64; 4],
}

impl JobCounters {
    /// Folds one frame's time of a stage into its recent average (about the last 30 frames).
    pub fn note_stage(&self, stage: Stage, ms: f64) {
        let slot = &self.stage_ms[stage as usize];
        let old = f64::from_bits(slot.load(Ordering::Relaxed));
        // The first time seeds the average. Views encode on their own threads: an update lost
        // between two of them only delays the average a frame.
        let new = if old == 0.0 { ms } else { old + (ms - old) / 30.0 };
        slot.store(new.to_bits(), Ordering::Relaxed);
    }

    /// The recent average of every stage, in the order of `Stage::ALL` (0: none yet).
    pub fn stage_ms(&self) -> [f64; 4] {
        Stage::ALL.map(|s| f64::from_bits(self.stage_ms[s as usize].load(Ordering::Relaxed)))
    }
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

/// What a session wants a pooled view to show.
#[derive(Clone, Debug, PartialEq)]
pub struct RenditionWant {
    /// Never reused for another mask within a session.
    pub name: String,
    pub mask: super::view::MaskLevel,
    /// Its live HLS playlist (a new directory: nothing of another rendition's is in it).
    pub playlist: String,
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
    /// The session's viewer poll, while it is open and for a while after.
    pub poll: Option<PollBoard>,
    /// Set by the API when it activates the job; the loop fills in when the first frame after that
    /// was composed and read back, and when its first packet left the encoder.
    pub activated: Option<Instant>,
    pub first_frame: Option<Instant>,
    pub first_packet: Option<Instant>,
    /// Input pictures that failed to upload and were replaced by an older buffered frame.
    pub upload_retries: u64,
    /// A change of layout, fits or inputs, picked up at the next tick.
    pub change: Option<LayoutChange>,
    /// What each pooled view (in view order) is to show (None: idle); taken up at a keyframe.
    pub renditions: Vec<Option<RenditionWant>>,
}

impl Default for LiveState {
    fn default() -> Self {
        LiveState {
            active: true,
            solo: false,
            pk: None,
            comments: Vec::new(),
            poll: None,
            activated: None,
            first_frame: None,
            first_packet: None,
            upload_retries: 0,
            change: None,
            renditions: Vec::new(),
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
