//! Live compositions driven by the API: each session is a real-time render job (its own GPU and
//! encode threads) over room feeds and pull URLs, encoding once for its HLS playlist (served by
//! costream) and any RTMP destinations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::ingest::{Feed, InputOptions};
use crate::media::geometry::{Fit, Layout};
pub mod invite;
pub mod pk_plan;
mod start;
pub mod unlock;

use crate::compose::{self, Fps, LayoutChange, LiveState, Source, ViewSpec, Wake};
use crate::sys::{lock, redact_url};

/// One input of a session, as the API names it.
#[derive(Clone, Debug)]
pub enum SessionInput {
    Room(String),
    Url(String),
}

#[derive(Clone, Debug)]
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
}

/// Face masking of a session.
#[derive(Clone, Debug)]
pub struct Masking {
    /// Whose unlock rules and viewers' levels apply.
    pub channel: String,
    pub rules: unlock::UnlockRules,
    pub tracker: crate::face::TrackerConfig,
    /// Whether viewers at the top level may get the unmasked picture.
    pub open_allowed: bool,
}

/// One rendition of a masked session: its view name and what it masks (None: the open picture).
#[derive(Clone, Debug)]
pub struct Rendition {
    pub name: String,
    pub mask: Option<compose::MaskLevel>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    /// Told to stop: its outputs are being finished (a DELETE returns before that is done).
    Stopping,
    Stopped,
    Failed,
}

/// A session's state for the API.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
}

/// One output of a multi-output session.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    #[error("{0}")]
    Invalid(String),
    /// The session's job could not open (its inputs, the GPU, the encoders or the outputs).
    #[error(transparent)]
    Start(#[from] crate::Error),
}

struct Running {
    /// The output frame size (what a PK bar must fit in).
    size: (u32, u32),
    stop: Arc<AtomicBool>,
    changes: Arc<Mutex<Option<LayoutChange>>>,
    inputs: usize,
    /// The rooms among the inputs (an anchor token sees the sessions its room takes part in).
    rooms: Vec<String>,
    counters: Arc<compose::JobCounters>,
    output_stats: OutputCounters,
    state: Arc<Mutex<(SessionState, Option<String>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    outputs: Vec<String>,
    recording: Option<String>,
    live: Arc<Mutex<LiveState>>,
    wake: Arc<Wake>,
    views: Vec<ViewStatus>,
    masking: Option<(Masking, Vec<Rendition>)>,
}

/// Feeds of the rooms, shared with the ingest: created on first use by either side.
pub type Feeds = Arc<Mutex<HashMap<String, Arc<Feed>>>>;

pub fn feed(feeds: &Feeds, room: &str) -> Arc<Feed> {
    let mut f = lock(feeds);
    f.entry(room.to_string()).or_insert_with(|| Feed::new(4)).clone()
}

/// What sessions report: started, stopped (with the error if it failed), an input lost or back.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    Started(String),
    Stopped(String, Option<String>),
    InputLost(String, usize),
    InputBack(String, usize),
    /// Session, output (push keys redacted).
    OutputConnected(String, String),
    OutputFailed(String, String, String),
    /// Session, percent of recent ticks skipped.
    FallingBehind(String, u32),
    CaughtUp(String),
}

pub type SessionEvents = Arc<dyn Fn(SessionEvent) + Send + Sync>;

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
    feeds: Feeds,
    /// Sessions by id, running or stopped (a stopped one is listed until its files go).
    running: Arc<Mutex<HashMap<String, Running>>>,
    events: Option<SessionEvents>,
    input: InputOptions,
    /// Test knob: extra work per tick, in ms (0 in service).
    extra_tick_ms: u32,
}

impl Sessions {
    pub fn new(dir: PathBuf, feeds: Feeds) -> Sessions {
        Sessions {
            retention: std::time::Duration::from_secs(120),
            max_sessions: crate::limits::Caps::default().max_sessions,
            starting: Default::default(),
            stages: StageHistograms::new_with_constructor(stage_histogram),
            dir,
            feeds,
            running: Arc::default(),
            events: None,
            input: InputOptions { protocols: Some(crate::policy::INPUT_PROTOCOLS), ..InputOptions::default() },
            extra_tick_ms: 0,
        }
    }

    /// Memory budget of each pulled input's frame ring (0: a fixed depth of 4 frames).
    pub fn with_ring_budget(mut self, bytes: u64) -> Sessions {
        self.input.ring_budget_bytes = bytes;
        self.input.ring_frames = if bytes > 0 { 8 } else { 4 };
        self
    }

    /// How a room's publisher is decoded: live, into a ring sized by the same memory budget as
    /// pulled inputs once its first frame shows the frame size.
    pub fn feed_input_options(&self) -> InputOptions {
        InputOptions { live: true, ring_budget_bytes: self.input.ring_budget_bytes, ..InputOptions::default() }
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

    /// Adds `ms` of work to every tick of every session (tests overload a session with it).
    pub fn with_extra_tick_ms(mut self, ms: u32) -> Sessions {
        self.extra_tick_ms = ms;
        self
    }

    /// Whether any running session is behind real time now (a new one would only make it worse).
    pub(crate) fn any_behind(&self) -> Option<String> {
        self.running()
            .iter()
            .find(|(_, r)| r.counters.behind.load(Ordering::Relaxed) && lock(&r.state).0 == SessionState::Running)
            .map(|(id, _)| id.clone())
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

    /// Where session events go (the service's event stream).
    pub fn with_events(mut self, events: SessionEvents) -> Sessions {
        self.events = Some(events);
        self
    }

    fn emit(&self, e: SessionEvent) {
        if let Some(f) = &self.events {
            f(e);
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
        if state == SessionState::Running && r.stop.load(Ordering::Relaxed) {
            state = SessionState::Stopping;
        }
        let l = lock(&r.live);
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
            frames: r.counters.frames.load(Ordering::Relaxed),
            ticks_skipped: r.counters.ticks_skipped.load(Ordering::Relaxed),
            behind: r.counters.behind.load(Ordering::Relaxed),
            // A multi-output session's first output stands for it.
            hls: r.views.first().map(|v| v.hls.clone()).unwrap_or_else(|| format!("/sessions/{id}/hls/index.m3u8")),
            outputs: r.outputs.clone(),
            recording: r.recording.clone(),
            error,
        })
    }

    pub fn list(&self) -> Vec<SessionStatus> {
        let ids: Vec<String> = self.running().keys().cloned().collect();
        ids.iter().filter_map(|id| self.status(id)).collect()
    }

    /// Changes a running session's layout and/or fits, without interrupting its outputs; refused
    /// when the fits do not match the inputs.
    pub fn change(
        &self,
        id: &str,
        layout: Option<Layout>,
        fits: Option<Vec<Fit>>,
        inputs: Option<Vec<SessionInput>>,
    ) -> Result<(), SessionError> {
        let mut m = self.running();
        let r = m.get_mut(id).ok_or_else(|| SessionError::NotFound(id.into()))?;
        let count = inputs.as_ref().map_or(r.inputs, Vec::len);
        if let Some(f) = &fits {
            if !(f.len() == 1 || f.len() == count) {
                return Err(SessionError::Invalid(format!("fit: one value, or one per input ({count} inputs)")));
            }
        }
        let sources = inputs.map(|i| i.iter().map(|x| self.source(x)).collect());
        r.inputs = count;
        *lock(&r.changes) = Some(LayoutChange { layout, fits, inputs: sources });
        Ok(())
    }

    /// The rooms a session takes part in (None: no such session).
    pub fn rooms_of(&self, id: &str) -> Option<Vec<String>> {
        self.running().get(id).map(|r| r.rooms.clone())
    }

    /// A masked session's masking and renditions (None: no such session or not masked).
    pub fn masking(&self, id: &str) -> Option<(Masking, Vec<Rendition>)> {
        self.running().get(id)?.masking.clone()
    }

    /// Runs `f` on a session's live state and wakes its loop (None: no such session).
    pub fn with_live<R>(&self, id: &str, f: impl FnOnce(&mut LiveState) -> R) -> Option<R> {
        let m = self.running();
        let r = m.get(id)?;
        let out = f(&mut lock(&r.live));
        r.wake.notify();
        Some(out)
    }

    /// Starts a pending session's output now, from the latest frames in its rings.
    pub fn activate(&self, id: &str) -> Option<()> {
        self.with_live(id, |l| {
            if !l.active {
                l.activated = Some(std::time::Instant::now());
                l.first_frame = None;
                l.first_packet = None;
                l.active = true;
            }
        })
    }

    /// Applies a partial PK bar update (a session without a bar gets one); an invalid one changes
    /// nothing.
    pub fn update_pk(&self, id: &str, patch: &serde_json::Value) -> Result<(), SessionError> {
        let size = self.running().get(id).map(|r| r.size).ok_or_else(|| SessionError::NotFound(id.into()))?;
        let r = self.with_live(id, |l| {
            let now = std::time::Instant::now();
            match &mut l.pk {
                Some(bar) => bar.update(patch, now, size),
                None => {
                    let mut bar = crate::compose::PkBar::new(crate::compose::PkSettings::default(), now);
                    bar.update(patch, now, size)?;
                    l.pk = Some(bar);
                    Ok(())
                }
            }
        });
        r.ok_or_else(|| SessionError::NotFound(id.into()))?.map_err(|e| SessionError::Invalid(format!("pk: {e}")))
    }

    /// Adds a comment or gift line to `anchor`'s monitor output.
    pub fn comment(&self, id: &str, anchor: &str, text: &str) -> Option<()> {
        self.with_live(id, |l| {
            let now = std::time::Instant::now();
            l.comments.retain(|c| now.saturating_duration_since(c.at) < compose::COMMENT_TTL);
            l.comments.push(compose::Comment { anchor: anchor.to_string(), text: text.to_string(), at: now });
            // Only the newest lines are ever shown.
            let excess = l.comments.len().saturating_sub(64);
            l.comments.drain(..excess);
        })
    }

    fn source(&self, i: &SessionInput) -> Source {
        match i {
            SessionInput::Room(r) => Source::Feed { name: format!("room {r}"), feed: feed(&self.feeds, r) },
            SessionInput::Url(u) => Source::Url(u.clone()),
        }
    }

    /// Stops a session: the current HLS segment and the RTMP streams are finished properly.
    pub fn stop(&self, id: &str) -> bool {
        match self.signal_stop(id) {
            None => false,
            Some(handle) => {
                if let Some(t) = handle {
                    let _ = t.join();
                }
                true
            }
        }
    }

    /// Stops a session without waiting: its outputs are finished by a thread of their own, and it
    /// no longer counts against the cap.
    pub fn stop_in_background(&self, id: &str) -> bool {
        match self.signal_stop(id) {
            None => false,
            Some(handle) => {
                if let Some(t) = handle {
                    let (dir, keep, grace) = (
                        self.hls_dir(id),
                        self.running().get(id).is_some_and(|r| r.recording.is_some()),
                        self.retention,
                    );
                    let (all, sid, stages) = (self.running.clone(), id.to_string(), self.stages.clone());
                    let spawned = std::thread::Builder::new().name(format!("stop {id}")).spawn(move || {
                        let _ = t.join();
                        crate::sys::release_memory();
                        // Its files go once players have had time for the end of the stream, and
                        // so does its entry (the list does not grow with every session ever run).
                        std::thread::sleep(grace);
                        if !keep {
                            let _ = std::fs::remove_dir_all(&dir);
                        }
                        lock(&all).remove(&sid);
                        // Its histograms leave /metrics with it.
                        for stage in crate::compose::Stage::ALL {
                            stages.remove(&vec![
                                ("session".to_string(), sid.clone()),
                                ("stage".to_string(), stage.name().to_string()),
                            ]);
                        }
                    });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no thread to finish a session in the background");
                    }
                }
                true
            }
        }
    }

    /// Tells a session to stop; its thread (None when already stopping), or None: no such session.
    fn signal_stop(&self, id: &str) -> Option<Option<std::thread::JoinHandle<()>>> {
        let mut m = self.running();
        let r = m.get_mut(id)?;
        r.stop.store(true, Ordering::Relaxed);
        Some(r.thread.take())
    }

    /// Each room feed's counters: (room, frames decoded, bytes received, frames dropped, connected).
    pub fn feed_counters(&self) -> Vec<(String, u64, u64, u64, bool)> {
        lock(&self.feeds)
            .iter()
            .map(|(room, f)| {
                (
                    room.clone(),
                    f.state.frames.load(Ordering::Relaxed),
                    f.state.bytes.load(Ordering::Relaxed),
                    f.video.dropped(),
                    f.state.connected.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Each session's frame counters and its outputs' counters (push keys redacted).
    pub fn session_counters(&self) -> Vec<SessionCounters> {
        let m = self.running();
        m.iter()
            .map(|(id, r)| SessionCounters {
                id: id.clone(),
                frames: r.counters.frames.load(Ordering::Relaxed),
                ticks_skipped: r.counters.ticks_skipped.load(Ordering::Relaxed),
                outputs: lock(&r.output_stats).iter().map(|(v, u, s)| (v.clone(), redact_url(u), s.clone())).collect(),
            })
            .collect()
    }

    /// The stage-time histograms of every session (labels: session, stage).
    pub fn stage_histograms(&self) -> &StageHistograms {
        &self.stages
    }

    /// Stops every session (service shutdown).
    pub fn stop_all(&self) {
        let ids: Vec<String> = self.running().keys().cloned().collect();
        for id in ids {
            self.stop(&id);
        }
    }
}
