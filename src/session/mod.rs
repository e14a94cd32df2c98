//! Live compositions driven by the API: each session is a real-time render job (its own GPU and
//! encode threads) over room feeds and pull URLs, encoding once for its HLS playlist (served by
//! costream) and any RTMP destinations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::ingest::InputOptions;
use crate::rooms::Rooms;

pub mod input_pause;
pub mod invite;
mod live;
pub mod pk_plan;
pub mod polls;
mod reaper;
pub mod records;
pub mod renditions;
pub mod replay;
pub mod resume;
mod spec;
mod start;
mod stop;
pub mod unlock;

pub use renditions::{RenditionStatus, Renditions};
pub use spec::{rooms_in, Masking, SessionInput, SessionSpec};

use crate::compose::{self, JobEvent, LiveHooks};
use crate::sys::{lock, redact_url};

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    /// Told to stop: its outputs are being finished (a DELETE returns before that is done).
    Stopping,
    Stopped,
    Failed,
}

/// A session's state for the API.
#[derive(Clone, Debug, Serialize)]
pub struct SessionStatus {
    pub id: String,
    pub state: SessionState,
    /// Frames composed.
    pub frames: u64,
    /// Ticks skipped because the machine could not compose them in time (the timeline keeps the
    /// wall clock; the frame rate drops).
    pub ticks_skipped: u64,
    /// Whether the session is skipping ticks now (over the last few seconds).
    pub behind: bool,
    /// Path of the HLS playlist on this service.
    pub hls: String,
    pub outputs: Vec<String>,
    /// Recording file on the server, when the session records.
    pub recording: Option<String>,
    pub error: Option<String>,
    /// False while the session waits to be activated (pre-pull: inputs decoded, nothing sent).
    pub active: bool,
    /// A session with several outputs (a PK): each one's name, HLS path and destinations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<ViewStatus>,
    /// The PK bar's settings, when the session shows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pk: Option<crate::compose::PkSettings>,
    /// Milliseconds from activation to the first composed frame and to its first encoded packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_to_first_frame_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_to_first_packet_ms: Option<f64>,
    /// A masked session's renditions in use, with their viewers.
    #[serde(skip)]
    pub renditions: Vec<RenditionStatus>,
    /// Recent time per frame of each stage (ms), in the order of `compose::Stage::ALL`.
    #[serde(skip)]
    pub stages_ms: [f64; 4],
    /// The comments and gifts the anchors' monitors show now, oldest first.
    #[serde(skip)]
    pub comments: Vec<compose::Comment>,
}

/// One output of a multi-output session.
#[derive(Clone, Debug, Serialize)]
pub struct ViewStatus {
    pub name: String,
    pub hls: String,
    pub outputs: Vec<String>,
}

/// A session's counters for the metrics.
pub struct SessionCounters {
    pub id: String,
    pub frames: u64,
    pub ticks_skipped: u64,
    pub outputs: Vec<compose::OutputCounter>,
}

/// Counters of each output of a session: (url, counters).
pub type OutputCounters = Arc<Mutex<Vec<compose::OutputCounter>>>;

/// Why a session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session {0}")]
    NotFound(String),
    #[error("fit: one value, or one per input ({inputs} inputs)")]
    Fits { inputs: usize },
    #[error("audio_url must not be empty")]
    EmptyAudioUrl,
    #[error("the session has no input {0}")]
    NoInput(usize),
    #[error("input {input} is room {room}: pause the room (POST /rooms/{room}/pause)")]
    InputIsRoom { input: usize, room: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The PK bar's settings were refused; nothing changed.
    #[error(transparent)]
    Pk(#[from] crate::compose::PkError),
    /// The session's job could not open (its inputs, the GPU, the encoders or the outputs).
    #[error(transparent)]
    Start(#[from] crate::Error),
}

struct Running {
    /// The output frame size (what a PK bar must fit in).
    size: (u32, u32),
    /// What the session shares with its job.
    hooks: LiveHooks,
    inputs: usize,
    /// The rooms among the inputs (an anchor token sees the sessions its room takes part in).
    rooms: Vec<String>,
    state: Arc<Mutex<(SessionState, Option<String>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    outputs: Vec<String>,
    recording: Option<String>,
    views: Vec<ViewStatus>,
    /// A masked session's renditions.
    renditions: Option<Arc<Renditions>>,
    /// What it runs, as changed since it started (its record).
    spec: SessionSpec,
    /// Each pulled input's pause hold, by URL.
    holds: input_pause::Holds,
    /// The copy of its HLS on the origin, if there is one.
    origin: Option<crate::outputs::origin::Mirror>,
}

/// Where a session's events go: the session's id and what its job reports (`Started` and
/// `Stopped` come from the session itself).
pub type SessionEvents = Arc<dyn Fn(&str, JobEvent) + Send + Sync>;

/// Per session and stage, a histogram of the per-frame times (ms).
pub type StageHistograms = prometheus_client::metrics::family::Family<
    Vec<(String, String)>,
    prometheus_client::metrics::histogram::Histogram,
    fn() -> prometheus_client::metrics::histogram::Histogram,
>;

/// Buckets from 0.25 ms to ~1 s, each twice the last: a frame interval at 30 fps is 33 ms.
fn stage_histogram() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.25, 2.0, 13,
    ))
}

pub struct Sessions {
    /// How long a stopped session's HLS files stay (players fetch the end of the stream).
    retention: std::time::Duration,
    /// Sessions running at once, at most (past it a start is refused), and those opening now.
    max_sessions: usize,
    starting: std::sync::atomic::AtomicUsize,
    stages: StageHistograms,
    dir: PathBuf,
    /// Where room inputs come from (each room decoded once, read by every session showing it).
    rooms: Arc<Rooms>,
    /// Sessions by id, running or stopped (a stopped one is listed until its files go).
    running: Arc<Mutex<HashMap<String, Running>>>,
    events: Option<SessionEvents>,
    /// Where sessions write themselves down.
    records: records::Records,
    /// Runs what is due later (invitations' deadlines, stopped sessions' cleanup).
    reaper: Arc<reaper::Reaper>,
    input: InputOptions,
    /// What a session may connect to (checked again where FFmpeg resolves names).
    url_policy: crate::policy::UrlPolicy,
    replays: replay::Replays,
    /// Masked renditions per session at most, and how long one outlives its last viewer.
    rendition_cap: (usize, std::time::Duration),
    /// The HTTP origin sessions' HLS is copied to (`{origin}/{session}/…`).
    origin: Option<String>,
}

/// A new session's id.
pub fn new_session_id() -> String {
    format!("ses_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

impl Sessions {
    pub fn new(dir: PathBuf, rooms: Arc<Rooms>) -> Sessions {
        Sessions {
            retention: std::time::Duration::from_secs(crate::config::DEFAULT_HLS_RETENTION_S),
            max_sessions: crate::limits::Caps::default().max_sessions,
            starting: Default::default(),
            stages: StageHistograms::new_with_constructor(stage_histogram),
            dir,
            rooms,
            running: Arc::default(),
            events: None,
            records: records::Records::default(),
            reaper: Arc::default(),
            input: InputOptions {
                protocols: Some(crate::policy::INPUT_PROTOCOLS),
                public_only: true,
                ..InputOptions::default()
            },
            url_policy: crate::policy::UrlPolicy::default(),
            replays: replay::Replays::default(),
            rendition_cap: (
                crate::config::DEFAULT_MAX_RENDITIONS,
                std::time::Duration::from_secs(crate::config::DEFAULT_RENDITION_GRACE_S),
            ),
            origin: None,
        }
    }

    /// Which hosts sessions may pull from and push to (public ones only by default).
    pub fn with_url_policy(mut self, p: crate::policy::UrlPolicy) -> Sessions {
        self.url_policy = p;
        self.input.public_only = !p.allow_private_inputs;
        self
    }

    /// Memory budget of each pulled input's frame ring (0: a fixed depth of 4 frames).
    pub fn with_ring_budget(mut self, bytes: u64) -> Sessions {
        self.input.ring_budget_bytes = bytes;
        self.input.ring_frames = if bytes > 0 { 8 } else { 4 };
        self
    }

    /// How long a stopped session's files stay before they are removed (a recording stays).
    pub fn with_retention(mut self, d: std::time::Duration) -> Sessions {
        self.retention = d;
        self
    }

    /// Removes what sessions of an earlier run left behind (their sessions are gone), keeping the
    /// folders that hold a recording.
    /// Those of sessions about to be resumed (`keep`) stay too.
    pub fn remove_leftovers(&self, keep: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() && !p.join("recording.ts").exists() && name.starts_with("ses_") && !keep.contains(&name) {
                if let Err(err) = std::fs::remove_dir_all(&p) {
                    tracing::warn!(dir = %p.display(), error = %err, "cannot remove a stopped session's files");
                }
            }
        }
    }

    /// Whether any running session is behind real time now (a new one would only make it worse).
    pub(crate) fn any_behind(&self) -> Option<String> {
        self.running()
            .iter()
            .find(|(_, r)| r.hooks.counters.behind.load(Ordering::Relaxed) && lock(&r.state).0 == SessionState::Running)
            .map(|(id, _)| id.clone())
    }

    /// Copies every session's public HLS to `origin` (`{origin}/{session}/…`).
    pub fn with_hls_origin(mut self, origin: Option<String>) -> Sessions {
        self.origin = origin.map(|o| o.trim_end_matches('/').to_string());
        self
    }

    /// At most `n` sessions at once.
    pub fn with_max_sessions(mut self, n: usize) -> Sessions {
        self.max_sessions = n;
        self
    }

    /// Sessions running now (stopped and failed ones no longer count).
    pub(crate) fn running_count(&self) -> usize {
        self.running().values().filter(|r| lock(&r.state).0 == SessionState::Running && r.thread.is_some()).count()
    }

    /// Where sessions (and invitations) write themselves down, so a restart resumes them.
    pub fn with_records(mut self, records: records::Records) -> Sessions {
        self.records = records;
        self
    }

    pub fn records(&self) -> &records::Records {
        &self.records
    }

    pub(crate) fn reaper(&self) -> &Arc<reaper::Reaper> {
        &self.reaper
    }

    /// Where session events go (the service's event stream).
    pub fn with_events(mut self, events: SessionEvents) -> Sessions {
        self.events = Some(events);
        self
    }

    fn emit(&self, id: &str, e: JobEvent) {
        if let Some(f) = &self.events {
            f(id, e);
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        lock(&self.running)
    }

    /// Where a session's HLS files are written.
    pub fn hls_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn status(&self, id: &str) -> Option<SessionStatus> {
        let m = self.running();
        let r = m.get(id)?;
        let (mut state, error) = lock(&r.state).clone();
        if state == SessionState::Running && r.hooks.stop.load(Ordering::Relaxed) {
            state = SessionState::Stopping;
        }
        // (Before the live state's lock: a rendition being made takes its own lock, then that one.)
        let renditions = r.renditions.as_ref().map(|x| x.list()).unwrap_or_default();
        let l = lock(&r.hooks.state);
        let since =
            |t: Option<std::time::Instant>| Some(t?.saturating_duration_since(l.activated?).as_secs_f64() * 1e3);
        Some(SessionStatus {
            active: l.active,
            views: r.views.clone(),
            pk: l.pk.as_ref().map(|p| p.settings.clone()),
            activation_to_first_frame_ms: since(l.first_frame),
            activation_to_first_packet_ms: since(l.first_packet),
            id: id.to_string(),
            state,
            frames: r.hooks.counters.frames.load(Ordering::Relaxed),
            ticks_skipped: r.hooks.counters.ticks_skipped.load(Ordering::Relaxed),
            behind: r.hooks.counters.behind.load(Ordering::Relaxed),
            // A multi-output session's first output stands for it.
            hls: r.views.first().map(|v| v.hls.clone()).unwrap_or_else(|| format!("/sessions/{id}/hls/index.m3u8")),
            outputs: r.outputs.clone(),
            recording: r.recording.clone(),
            error,
            renditions,
            stages_ms: r.hooks.counters.stage_ms(),
            comments: l.comments.iter().filter(|c| c.at.elapsed() < compose::COMMENT_TTL).cloned().collect(),
        })
    }

    pub fn list(&self) -> Vec<SessionStatus> {
        let ids: Vec<String> = self.running().keys().cloned().collect();
        ids.iter().filter_map(|id| self.status(id)).collect()
    }

    /// The rooms a session takes part in (None: no such session).
    pub fn rooms_of(&self, id: &str) -> Option<Vec<String>> {
        self.running().get(id).map(|r| r.rooms.clone())
    }

    /// The running sessions that show a room.
    pub fn showing(&self, room: &str) -> Vec<String> {
        let m = self.running();
        m.iter()
            .filter(|(_, r)| r.rooms.iter().any(|x| x == room) && lock(&r.state).0 == SessionState::Running)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Where a room's viewers watch it: an active, unmasked running session that shows the room,
    /// and the view that is the room's own (a PK's mirrored view with its anchor first; None: the
    /// session's one output). Sessions showing the room alone come first.
    pub fn output_of_room(&self, room: &str) -> Option<(String, Option<String>)> {
        let m = self.running();
        let mut found: Vec<(usize, String, Option<String>)> = m
            .iter()
            .filter(|(_, r)| lock(&r.state).0 == SessionState::Running && r.spec.masking.is_none())
            .filter(|(_, r)| lock(&r.hooks.state).active)
            .filter_map(|(id, r)| {
                let i = r.spec.inputs.iter().position(|x| matches!(x, SessionInput::Room(x) if x == room))?;
                let own = |v: &&compose::ViewSpec| {
                    v.monitor.is_none() && v.copy_of.is_none() && v.mask.is_none() && v.order.first() == Some(&i)
                };
                match r.spec.views.is_empty() {
                    true => Some((r.spec.inputs.len(), id.clone(), None)),
                    false => {
                        r.spec.views.iter().find(own).map(|v| (r.spec.inputs.len(), id.clone(), Some(v.name.clone())))
                    }
                }
            })
            .collect();
        found.sort();
        found.into_iter().next().map(|(_, id, view)| (id, view))
    }

    /// A masked session's renditions (None: no such session or not masked).
    pub fn renditions(&self, id: &str) -> Option<Arc<Renditions>> {
        self.running().get(id)?.renditions.clone()
    }

    /// Each session makes `max` masked renditions at most; one outlives its last viewer by `grace`.
    pub fn with_renditions(mut self, max: usize, grace: std::time::Duration) -> Sessions {
        self.rendition_cap = (max.max(1), grace);
        self
    }

    /// Each session's frame counters and its outputs' counters (push keys redacted).
    pub fn session_counters(&self) -> Vec<SessionCounters> {
        let m = self.running();
        m.iter()
            .map(|(id, r)| SessionCounters {
                id: id.clone(),
                frames: r.hooks.counters.frames.load(Ordering::Relaxed),
                ticks_skipped: r.hooks.counters.ticks_skipped.load(Ordering::Relaxed),
                outputs: lock(&r.hooks.output_stats)
                    .iter()
                    .map(|(v, u, s)| (v.clone(), redact_url(u), s.clone()))
                    .collect(),
            })
            .collect()
    }

    /// The outputs of running sessions that push to `url` now (a platform's push URL).
    pub fn outputs_to(&self, url: &str) -> Vec<Arc<crate::outputs::OutputStats>> {
        let m = self.running();
        let all =
            m.values().flat_map(|r| lock(&r.hooks.output_stats).iter().map(|(_, _, s)| s.clone()).collect::<Vec<_>>());
        all.filter(|s| s.target() == url).collect()
    }

    /// The stage-time histograms of every session (labels: session, stage).
    pub fn stage_histograms(&self) -> &StageHistograms {
        &self.stages
    }
}
