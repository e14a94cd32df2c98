//! The frame path end to end, as `costream render` runs it: inputs → decode threads → GPU thread (this
//! one) → encode thread → outputs.
//!
//! One output clock: tick n is at n/fps on every input's own timeline, and each input contributes the
//! latest frame whose timestamp is not after the tick (a 60 fps input gives every other frame, a 15 fps
//! input repeats). An input that ended keeps its last frame until the longest input ends.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use crate::encode::{self, AudioEncoder, MixInput, Mixer, Outputs, StreamSetup, Track, VideoEncoder, VideoSettings};
use crate::error::{invalid, Error, Result};
use crate::gpu::{BlurSpec, Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, Scene, TextRenderer, TextStyle, TileSpec};
use crate::ingest::{self, Feed, Input, InputOptions, Ring, VideoFrame};
use crate::layout::{self, Fit, Layout, Rect};

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

/// What to draw besides the inputs.
#[derive(Clone, Debug, Default)]
pub struct Overlays {
    pub images: Vec<(PathBuf, Rect)>,
    /// Images beneath the video (backgrounds): drawn once, redrawn only where the video leaves them.
    pub under_images: Vec<(PathBuf, Rect)>,
    pub rects: Vec<LayerSpec>,
    pub blurs: Vec<BlurSpec>,
}

/// Where an input's pictures come from.
#[derive(Clone)]
pub enum Source {
    /// Anything FFmpeg opens.
    Url(String),
    /// A room's feed from the RTMP ingest (survives the anchor leaving and returning).
    Feed { name: String, feed: Arc<Feed> },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(u) => write!(f, "{u}"),
            Source::Feed { name, .. } => write!(f, "feed {name}"),
        }
    }
}

impl Source {
    /// Identity of the source across a change of a job's inputs (a kept input keeps its decoder).
    fn key(&self) -> String {
        match self {
            Source::Url(u) => format!("url:{u}"),
            Source::Feed { name, .. } => format!("feed:{name}"),
        }
    }
}

impl From<&str> for Source {
    fn from(u: &str) -> Source {
        Source::Url(u.to_string())
    }
}

/// Something a live job reports while it runs (inputs by index in the job's input list).
#[derive(Clone, Debug)]
pub enum JobEvent {
    InputLost(usize),
    InputBack(usize),
    OutputConnected(String),
    OutputFailed(String, String),
}

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

/// Something drawn over a view that is decided frame by frame (the PK bar, an anchor's comments).
#[derive(Clone, Debug)]
pub enum Element {
    Layer(LayerSpec),
    /// Text, rasterised only when it changes; `key` names the box so its image slot is reused.
    Text { key: String, rect: Rect, text: String, style: TextStyle },
}

/// One picture a job produces, with its own encode and outputs, from the job's shared inputs (each
/// input is decoded and uploaded once however many views show it).
#[derive(Clone, Debug, Default)]
pub struct ViewSpec {
    pub name: String,
    pub outputs: Vec<String>,
    /// Inputs in layout order: cell k shows input `order[k]` (a mirrored PK view: [1, 0]). Empty:
    /// the job's order.
    pub order: Vec<usize>,
    /// Draw the PK bar with its sides swapped (the other anchor's room).
    pub mirrored: bool,
    /// An anchor's monitor: also draws the comments and gifts posted for this anchor.
    pub monitor: Option<String>,
    /// Audio gain per input (job order); missing entries are 1.
    pub gains: Vec<f32>,
    /// A rendition of an earlier view: its finished picture plus this view's face masks (see
    /// [`crate::gpu::Scene::copy_of`]); the view's own layout and overlays are not drawn.
    pub copy_of: Option<usize>,
    /// Face organs to mask in this view, and how strongly (needs [`RenderConfig::faces`]).
    pub mask: Option<MaskLevel>,
}

/// What a masked view hides: organs of every tracked face, blurred with `sigma` (0: nothing) or
/// covered by the bundled sticker.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskLevel {
    pub organs: Vec<crate::face::Organ>,
    pub sigma: f32,
    /// Soft edge, pixels.
    pub feather: f32,
    pub style: MaskStyle,
}

/// How an organ is hidden.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskStyle {
    /// A graduated blur (strength by level).
    #[default]
    Blur,
    /// A sticker (assets/stickers/blush.png) fitted and turned to each organ.
    Sticker,
}

/// The bundled sticker.
const STICKER_PNG: &[u8] = include_bytes!("../assets/stickers/blush.png");

/// Face tracking of a job's inputs.
#[derive(Clone, Debug, Default)]
pub struct FaceSettings {
    pub tracker: crate::face::TrackerConfig,
    /// Inputs to track (job order); empty: every input that is shown.
    pub inputs: Vec<usize>,
}

/// A comment or gift notification for an anchor's monitor output.
#[derive(Clone, Debug)]
pub struct Comment {
    pub anchor: String,
    pub text: String,
    pub at: Instant,
}

/// How long a comment stays on the monitor, and how many lines are shown.
pub const COMMENT_TTL: std::time::Duration = std::time::Duration::from_secs(30);
pub const COMMENT_LINES: usize = 6;

/// Run-time state of a live job shared with the API; read at every tick.
#[derive(Debug)]
pub struct LiveState {
    /// False: the inputs are pulled and decoded into their rings, but nothing is composed or sent
    /// (a PK invitation waiting for its answer). Becoming true starts the output clock at once.
    pub active: bool,
    /// Each view shows only its first input, full frame (a PK that ended: back to solo).
    pub solo: bool,
    pub pk: Option<crate::session::pk::PkBar>,
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
        LiveState { active: true, solo: false, pk: None, comments: Vec::new(), activated: None, first_frame: None, first_packet: None, upload_retries: 0 }
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
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Sleeps for `d` or until notified.
    fn wait(&self, d: std::time::Duration) {
        let g = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, _) = self.cv.wait_timeout_while(g, d, |f| !*f).unwrap_or_else(|p| p.into_inner());
        *g = false;
    }
}

/// Text boxes rasterised into compositor images, re-rasterised only when their content changes.
#[derive(Default)]
struct TextImages {
    renderer: Option<TextRenderer>,
    boxes: std::collections::HashMap<String, (usize, String, u32, u32, TextStyle)>,
}

impl TextImages {
    fn layer(&mut self, comp: &mut Compositor, key: &str, rect: Rect, text: &str, style: &TextStyle) -> Result<LayerSpec> {
        let (w, h) = (rect.w.round().max(1.0) as u32, rect.h.round().max(1.0) as u32);
        let idx = match self.boxes.get(key) {
            Some((i, t, bw, bh, st)) if t == text && *bw == w && *bh == h && st == style => *i,
            found => {
                let i = found.map(|f| f.0).unwrap_or_else(|| comp.image_count());
                let img = self.renderer.get_or_insert_with(TextRenderer::new).render(text, w, h, style);
                comp.set_image(i, &img)?;
                self.boxes.insert(key.to_string(), (i, text.to_string(), w, h, *style));
                i
            }
        };
        Ok(LayerSpec { rect: Rect { x: rect.x.round(), y: rect.y.round(), w: w as f32, h: h as f32 }, color: [1.0; 4], kind: LayerKind::Image(idx) })
    }
}

/// What an output slot reads.
enum SlotInput {
    Owned(Input),
    Feed { name: String, feed: Arc<Feed> },
}

impl SlotInput {
    fn video(&self) -> &Arc<Ring<VideoFrame>> {
        match self {
            SlotInput::Owned(i) => &i.video,
            SlotInput::Feed { feed, .. } => &feed.video,
        }
    }
    fn audio(&self) -> Option<Arc<Ring<ingest::AudioChunk>>> {
        match self {
            SlotInput::Owned(i) => i.audio.clone(),
            SlotInput::Feed { feed, .. } => Some(feed.audio.clone()),
        }
    }
    fn name(&self) -> &str {
        match self {
            SlotInput::Owned(i) => &i.info.url,
            SlotInput::Feed { name, .. } => name,
        }
    }
    fn fps(&self) -> f64 {
        match self {
            SlotInput::Owned(i) => i.info.fps.clamp(1.0, 240.0),
            SlotInput::Feed { .. } => 30.0,
        }
    }
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
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Frames produced so far, for a live job's status.
    pub frames_out: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Live: told when an input is lost (stalls) and when it is back.
    pub events: Option<EventSink>,
    /// Live changes: a new layout and/or fit per input, picked up at the next tick.
    pub changes: Option<Arc<std::sync::Mutex<Option<LayoutChange>>>>,
    /// Latest per-frame stage times in ms, for a live job's metrics: [upload, composite (GPU), encode].
    pub stage_ms: Option<Arc<[std::sync::atomic::AtomicU32; 3]>>,
    /// Filled with each output's counters once the outputs are open (for the metrics).
    pub output_stats: Option<Arc<std::sync::Mutex<Vec<(String, Arc<crate::encode::OutputStats>)>>>>,
    /// Several pictures from the same inputs (mirrored PK outputs, monitors); empty: one view made
    /// of `outputs`.
    pub views: Vec<ViewSpec>,
    /// Live: state changed by the API while the job runs (activation, PK bar, comments).
    pub live: Option<Arc<std::sync::Mutex<LiveState>>>,
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

/// Median time of each stage, in milliseconds (None when the stage was not measured).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageMedians {
    pub decode: Option<f64>,
    pub upload: Option<f64>,
    pub composite: Option<f64>,
    pub blur: Option<f64>,
    pub convert: Option<f64>,
    pub readback: Option<f64>,
    pub encode: Option<f64>,
    /// Face tracking per analysed frame (its own thread per input).
    #[serde(default)]
    pub faces: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenderReport {
    pub device: String,
    pub encoder: String,
    pub frames: u64,
    pub content_seconds: f64,
    pub wall_seconds: f64,
    pub stages_ms: StageMedians,
    pub failed_outputs: Vec<String>,
    /// Per input, how many times it stalled (live) — each stall was logged when it began and ended.
    #[serde(default)]
    pub input_stalls: Vec<u32>,
}

pub fn median(v: &mut [f32]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2] as f64)
}

struct Slot {
    key: String,
    input: SlotInput,
    /// The frame on screen (uploaded), and live, newer frames taken from the ring this tick: the
    /// newest is uploaded, an older one if that fails.
    current: Option<Arc<VideoFrame>>,
    fresh: Vec<(Arc<VideoFrame>, Vec<crate::face::FaceTrack>)>,
    /// Face tracking of this input: the faces of `current`.
    face: Option<crate::face::FaceWorker>,
    faces: Vec<crate::face::FaceTrack>,
    /// With several views, each view's mixer reads its own copy of this input's audio.
    taps: Vec<Arc<Ring<ingest::AudioChunk>>>,
    uploaded: u64,
    ended: bool,
    fit: Fit,
    /// Live: when the last new frame arrived, whether the input is stalled now, how often it was.
    last_new: Instant,
    stalled: bool,
    stalls: u32,
}

impl Slot {
    /// With several views, each view's mixer gets its own copy of this input's audio.
    fn fan_out_audio(&self) {
        if self.taps.is_empty() {
            return;
        }
        if let Some(a) = self.input.audio() {
            while let Some(c) = a.try_pop() {
                for tap in &self.taps {
                    tap.push(c.clone());
                }
            }
        }
    }
}

/// Live: an input that has not delivered a frame for this long is reported as lost (its tile keeps
/// the last frame).
const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Per-frame times gathered by the readback callback (decode and upload are gathered by the loop).
#[derive(Default)]
struct Timings {
    composite: Vec<f32>,
    blur: Vec<f32>,
    readback: Vec<f32>,
}

/// A view's audio mix: each shown input's audio at its gain (solo: only the view's own anchor), and
/// the inputs that carry more audio of a shown anchor, fused with it by timestamp.
fn view_tracks(slots: &[Slot], view: usize, spec: &ViewSpec, solo: bool, tapped: bool, audio_of: &[Option<usize>]) -> Vec<MixInput> {
    let ring = |i: usize| if tapped { slots[i].taps.get(view).cloned() } else { slots[i].input.audio() };
    let gain = |i: usize| spec.gains.get(i).copied().unwrap_or(1.0);
    let mut out = Vec::new();
    for i in shown_inputs(spec, slots.len(), solo, audio_of) {
        let Some(r) = ring(i) else { continue };
        let primary = out.len();
        out.push(MixInput::new(r, gain(i)));
        for (j, owner) in audio_of.iter().enumerate().take(slots.len()) {
            if *owner == Some(i) {
                if let Some(r) = ring(j) {
                    out.push(MixInput { fused_with: Some(primary), ..MixInput::new(r, gain(i)) });
                }
            }
        }
    }
    out
}

/// Inputs a view shows, in layout order (inputs that only bring another anchor's audio are not shown).
fn shown_inputs(spec: &ViewSpec, inputs: usize, solo: bool, audio_of: &[Option<usize>]) -> Vec<usize> {
    let visual = |i: &usize| *i < inputs && audio_of.get(*i).is_none_or(Option::is_none);
    let order: Vec<usize> = if spec.order.is_empty() { (0..inputs).filter(visual).collect() } else { spec.order.iter().copied().filter(visual).collect() };
    if solo {
        order.into_iter().take(1).collect()
    } else {
        order
    }
}

/// Runs a render job to completion.
pub fn run(cfg: &RenderConfig) -> Result<RenderReport> {
    let _span = tracing::info_span!("render").entered();
    if cfg.inputs.is_empty() {
        return Err(invalid("inputs", "at least one --input is needed"));
    }
    let views: Vec<ViewSpec> = if cfg.views.is_empty() { vec![ViewSpec { name: "main".into(), outputs: cfg.outputs.clone(), ..ViewSpec::default() }] } else { cfg.views.clone() };
    if views.iter().any(|v| v.outputs.is_empty()) {
        return Err(invalid("outputs", "at least one --out is needed"));
    }
    if !(cfg.fits.len() == 1 || cfg.fits.len() == cfg.inputs.len()) {
        return Err(invalid("fit", format!("give one value or one per input ({} inputs)", cfg.inputs.len())));
    }
    ff::init().map_err(|e| Error::Output { url: "ffmpeg".into(), why: e.to_string() })?;
    // FFmpeg's own info lines (x264 statistics) would drown our log; warnings and errors still show.
    ff::util::log::set_level(ff::util::log::Level::Warning);
    // Inputs open first: decoding starts while the GPU and the encoder get ready (live inputs
    // must not be missed meanwhile). They decode in parallel with each other; frame threads on top only pay off when there are
    // more cores than inputs (and they hide the decode cost from the stage timing).
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let decode_threads = if cfg.input.decode_threads == 0 { (cores / cfg.inputs.len()).max(1) } else { cfg.input.decode_threads };
    let opts = InputOptions { nice: cfg.background_nice, decode_threads, live: cfg.realtime || cfg.input.live, reconnect: cfg.realtime, ..cfg.input.clone() };
    let tapped = views.len() > 1;
    let models = match &cfg.faces {
        Some(f) => Some(Arc::new(crate::face::FaceModels::load(f.tracker.range).map_err(|e| invalid("faces", e.to_string()))?)),
        None => None,
    };
    let tracked = |i: usize| cfg.faces.as_ref().is_some_and(|f| (f.inputs.is_empty() || f.inputs.contains(&i)) && cfg.audio_of.get(i).is_none_or(Option::is_none));
    let open_slot = |source: &Source, fit: Fit, track: bool| -> Result<Slot> {
        let input = match source {
            Source::Url(url) => SlotInput::Owned(ingest::open(url, &opts)?),
            Source::Feed { name, feed } => SlotInput::Feed { name: name.clone(), feed: feed.clone() },
        };
        let taps = if tapped { views.iter().map(|_| Arc::new(Ring::new(512, ingest::Overflow::DropOldest))).collect() } else { Vec::new() };
        let face = match (&models, &cfg.faces) {
            (Some(m), Some(f)) if track => Some(crate::face::FaceWorker::start(m.clone(), f.tracker.clone(), input.name())?),
            _ => None,
        };
        Ok(Slot { key: source.key(), input, current: None, fresh: Vec::new(), face, faces: Vec::new(), taps, uploaded: 0, ended: false, fit, last_new: Instant::now(), stalled: false, stalls: 0 })
    };
    // Network inputs take a while to connect and probe: open them all at once.
    let opened: Vec<Result<Slot>> = std::thread::scope(|sc| {
        let open_slot = &open_slot;
        let handles: Vec<_> = cfg
            .inputs
            .iter()
            .enumerate()
            .map(|(i, source)| {
                let fit = if cfg.fits.len() == 1 { cfg.fits[0] } else { cfg.fits[i] };
                let track = tracked(i);
                sc.spawn(move || open_slot(source, fit, track))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(invalid("input", "opening it panicked")))).collect()
    });
    let mut slots = Vec::new();
    for s in opened {
        slots.push(s?);
    }
    let gpu = Arc::new(Gpu::open_with_nice(cfg.background_nice)?);
    let mut comp = Compositor::with_views(gpu.clone(), cfg.size.0, cfg.size.1, cfg.gpu, views.len())?;

    let mut images = Vec::new();
    for (path, _) in cfg.overlays.images.iter().chain(&cfg.overlays.under_images) {
        let img = image::open(path).map_err(|e| Error::Image { path: path.display().to_string(), why: e.to_string() })?;
        images.push(img.to_rgba8());
    }
    // The sticker joins the images when a view uses it.
    let sticker_image = if views.iter().any(|v| v.mask.as_ref().is_some_and(|m| m.style == MaskStyle::Sticker)) {
        let img = image::load_from_memory(STICKER_PNG).map_err(|e| Error::Image { path: "assets/stickers/blush.png".into(), why: e.to_string() })?;
        images.push(img.to_rgba8());
        Some(images.len() - 1)
    } else {
        None
    };
    if !images.is_empty() {
        comp.set_images(&images)?;
    }
    let mut layers: Vec<LayerSpec> = cfg
        .overlays
        .images
        .iter()
        .enumerate()
        .map(|(i, (_, r))| LayerSpec { rect: *r, color: [1.0; 4], kind: LayerKind::Image(i) })
        .collect();
    layers.extend(cfg.overlays.rects.iter().copied());
    let n_over = cfg.overlays.images.len();
    let under: Vec<LayerSpec> = cfg.overlays.under_images.iter().enumerate().map(|(i, (_, r))| LayerSpec { rect: *r, color: [1.0; 4], kind: LayerKind::Image(n_over + i) }).collect();
    let mut texts = TextImages::default();

    let any_audio = slots.iter().any(|s| s.input.audio().is_some());
    let solo0 = cfg.live.as_ref().is_some_and(|l| l.lock().map(|l| l.solo).unwrap_or(false));

    let out_events: Option<crate::encode::OutputEvents> = cfg.events.clone().map(|f| {
        Arc::new(move |e: crate::encode::OutputEvent| match e {
            crate::encode::OutputEvent::Connected(u) => f(JobEvent::OutputConnected(u)),
            crate::encode::OutputEvent::Failed(u, why) => f(JobEvent::OutputFailed(u, why)),
        }) as crate::encode::OutputEvents
    });
    // One encode per view, each on its own thread behind a short queue: the GPU thread never waits
    // long on it, and a stalled encoder cannot make frames pile up in memory.
    let mut txs = Vec::new();
    let mut tracks_txs = Vec::new();
    let mut enc_threads = Vec::new();
    let mut all_stats = Vec::new();
    let mut encoder_name = String::new();
    let fps = cfg.fps;
    for (v, spec) in views.iter().enumerate() {
        let global = Outputs::need_global_header(&spec.outputs);
        let venc = VideoEncoder::open(&cfg.video, global)?;
        let aenc = if any_audio { Some(AudioEncoder::open(cfg.audio_kbps, global)?) } else { None };
        let setup = StreamSetup::new(venc.encoder(), venc.time_base, aenc.as_ref().map(|a| (a.encoder(), a.time_base)));
        let outputs = Outputs::open(&spec.outputs, &setup, cfg.realtime, out_events.clone())?;
        all_stats.extend(outputs.stats());
        let tracks = view_tracks(&slots, v, spec, solo0, tapped, &cfg.audio_of);
        let mixer = if cfg.realtime { Mixer::live(tracks) } else { Mixer::new(tracks) };
        encoder_name = venc.name.to_string();
        let (tx, rx) = mpsc::sync_channel::<ff::frame::Video>(2);
        // New audio track lists (inputs changed while live) go to the mixer in the encode thread.
        let (tracks_tx, tracks_rx) = mpsc::channel::<Vec<MixInput>>();
        let gauges = cfg.stage_ms.clone();
        let live = if v == 0 { cfg.live.clone() } else { None };
        enc_threads.push(std::thread::Builder::new().name(format!("encode {v}")).spawn(move || encode_loop(rx, tracks_rx, venc, aenc, mixer, outputs, fps, gauges, live))?);
        txs.push(tx);
        tracks_txs.push(tracks_tx);
    }
    if let Some(slot) = &cfg.output_stats {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = all_stats;
    }
    let stage_gauges = cfg.stage_ms.clone();
    let input_stalls = |slots: &[Slot]| slots.iter().map(|s| s.stalls).collect::<Vec<_>>();

    let (w, h) = cfg.size;
    let mut current_layout = cfg.layout;
    let mut t = Timings::default();
    let mut start = Instant::now();
    let frame_s = 1.0 / fps.as_f64();
    let mut n: u64 = 0;
    let mut send_err = false;
    let live_state = cfg.live.clone();
    let mut deliver = |r: crate::gpu::Ready<'_>| -> Result<()> {
        let t0 = Instant::now();
        let mut f = encode::video::nv12_frame(w, h);
        encode::video::fill_nv12(&mut f, r.nv12);
        f.set_pts(Some(r.tag as i64));
        if r.view == 0 {
            t.readback.push((r.wait_ms + t0.elapsed().as_secs_f64() * 1e3) as f32);
        }
        if let Some(g) = r.gpu {
            t.composite.push(g.composite_ms as f32);
            if let Some(s) = &stage_gauges {
                s[1].store((g.composite_ms as f32).to_bits(), std::sync::atomic::Ordering::Relaxed);
            }
            if g.blur_ms > 0.0 {
                t.blur.push(g.blur_ms as f32);
            }
        }
        if txs[r.view].send(f).is_err() {
            send_err = true;
            return Err(Error::StageGone { stage: "encode" });
        }
        if r.view == 0 {
            if let Some(l) = &live_state {
                let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                if l.activated.is_some() && l.first_frame.is_none() {
                    l.first_frame = Some(Instant::now());
                }
            }
        }
        Ok(())
    };
    let mut decode_ms = Vec::new();
    let mut upload_ms = Vec::new();
    let mut face_ms: Vec<f32> = Vec::new();
    let mut was_active = true;
    let mut warmed = false;
    let mut solo = solo0;
    loop {
        let now = n as f64 * frame_s;
        if cfg.max_seconds.is_some_and(|m| now >= m - 1e-9) {
            break;
        }
        if cfg.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
            break;
        }
        // The API's view of this job: taken once per tick, the lock is not held while drawing.
        let (active, pk, comments, new_solo) = match &cfg.live {
            Some(l) => {
                let l = l.lock().unwrap_or_else(|p| p.into_inner());
                (l.active, l.pk.clone(), l.comments.clone(), l.solo)
            }
            None => (true, None, Vec::new(), false),
        };
        let mut tracks_changed = new_solo != solo;
        solo = new_solo;
        if let Some(change) = cfg.changes.as_ref().and_then(|c| c.lock().ok().and_then(|mut c| c.take())) {
            // Takes effect on this tick; the encode and outputs go on untouched.
            if let Some(sources) = &change.inputs {
                let mut old: Vec<Option<Slot>> = slots.drain(..).map(Some).collect();
                for (i, src) in sources.iter().enumerate() {
                    let key = src.key();
                    let kept = old.iter_mut().find(|o| o.as_ref().is_some_and(|o| o.key == key)).and_then(Option::take);
                    let fit = change.fits.as_ref().map(|f| if f.len() == 1 { f[0] } else { f.get(i).copied().unwrap_or_default() });
                    match kept {
                        Some(mut s) => {
                            s.fit = fit.unwrap_or(s.fit);
                            // Slot numbers in the compositor may have moved: upload again.
                            s.uploaded = 0;
                            slots.push(s);
                        }
                        None => match open_slot(src, fit.unwrap_or_default(), tracked(i)) {
                            Ok(s) => slots.push(s),
                            Err(e) => tracing::error!(error = %e, "input could not be added"),
                        },
                    }
                }
                // Inputs left in `old` are closed when it drops here.
                tracks_changed = true;
                tracing::info!(inputs = slots.len(), "inputs changed");
            }
            current_layout = change.layout.unwrap_or(current_layout);
            if let (Some(f), None) = (change.fits, &change.inputs) {
                for (i, s) in slots.iter_mut().enumerate() {
                    s.fit = if f.len() == 1 { f[0] } else { f.get(i).copied().unwrap_or(s.fit) };
                }
            }
            tracing::info!("layout changed");
        }
        if tracks_changed {
            for (v, spec) in views.iter().enumerate() {
                let _ = tracks_txs[v].send(view_tracks(&slots, v, spec, solo, tapped, &cfg.audio_of));
            }
        }
        if cfg.realtime && !active {
            // Pre-pull: the decoders keep the rings filled with the latest frames (the oldest are
            // dropped); audio that will never be played is discarded. The clock starts on activation.
            // Overlay text is rasterised now, so the first frame has only the frame itself to do.
            let overlay = Overlay { pk: pk.as_ref().filter(|_| !solo), comments: &comments, now: Instant::now(), size: (w, h) };
            let mut warm = Vec::new();
            for (v, spec) in views.iter().enumerate() {
                let l = overlay.layers(&mut comp, &mut texts, &layers, v, spec)?;
                warm.push(Scene { background: [0.0; 3], under: under.clone(), tiles: vec![], layers: l, blurs: cfg.overlays.blurs.clone(), masks: vec![], copy_of: None });
            }
            if !warmed {
                // One frame composed and read back but never sent: buffers, mappings and the
                // software rasteriser's first-use costs are paid before the accept, not after.
                comp.render_views(&warm, 0, &mut |_| Ok(()))?;
                comp.flush(&mut |_| Ok(()))?;
                warmed = true;
            }
            for s in &slots {
                if let Some(a) = s.input.audio() {
                    while a.try_pop().is_some() {}
                }
            }
            was_active = false;
            match &cfg.wake {
                Some(wk) => wk.wait(std::time::Duration::from_secs_f64(frame_s)),
                None => std::thread::sleep(std::time::Duration::from_secs_f64(frame_s)),
            }
            start = Instant::now();
            continue;
        }
        let first_after_activation = !was_active;
        was_active = true;
        if cfg.realtime {
            // The wall clock drives the ticks; a late tick is rendered at once rather than skipped.
            let due = start + std::time::Duration::from_secs_f64(now);
            let wait = due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                match &cfg.wake {
                    Some(wk) => wk.wait(wait),
                    None => std::thread::sleep(wait),
                }
                if Instant::now() < due {
                    // Woken early by a change: pick it up before this tick is drawn.
                    continue;
                }
            }
            for (i, s) in slots.iter_mut().enumerate() {
                // Live: whatever arrived, newest wins; nothing waits. Older frames of this tick stay
                // as fallbacks for the upload.
                s.fresh.clear();
                let mut newest = None;
                while let Some(f) = s.input.video().try_pop() {
                    decode_ms.push(f.decode_ms);
                    newest = Some(Arc::new(f));
                    if s.face.is_none() {
                        s.fresh.extend(newest.clone().map(|f| (f, Vec::new())));
                    }
                }
                if let Some(w) = &s.face {
                    // Frames come to the screen only through the tracker, with their faces.
                    if let Some(f) = &newest {
                        w.offer(f.clone(), f.pts);
                    }
                    for a in w.take() {
                        face_ms.push(a.ms);
                        s.fresh.push((a.frame, a.faces));
                    }
                }
                if newest.is_some() {
                    s.last_new = Instant::now();
                    if s.stalled {
                        s.stalled = false;
                        tracing::info!(input = i, url = %s.input.name(), "input resumed");
                        if let Some(e) = &cfg.events {
                            e(JobEvent::InputBack(i));
                        }
                    }
                } else if !s.stalled && s.current.is_some() && s.last_new.elapsed() > STALL_AFTER {
                    s.stalled = true;
                    s.stalls += 1;
                    tracing::warn!(input = i, url = %s.input.name(), "input lost: showing its last frame");
                    if let Some(e) = &cfg.events {
                        e(JobEvent::InputLost(i));
                    }
                }
                s.ended = s.input.video().is_finished();
                s.fan_out_audio();
            }
            if slots.iter().all(|s| s.ended) {
                break;
            }
        }
        // Offline: advance every input to the latest frame at or before this tick (blocking).
        for s in slots.iter_mut().filter(|_| !cfg.realtime) {
            loop {
                match s.input.video().peek_with(None, |f| f.pts) {
                    Ok(Some(pts)) => {
                        if s.current.is_none() || pts <= now + 1e-3 {
                            if let Some(f) = s.input.video().try_pop() {
                                decode_ms.push(f.decode_ms);
                                let f = Arc::new(f);
                                if let Some(w) = &s.face {
                                    // Offline, every shown frame is analysed before it is shown.
                                    w.offer(f.clone(), f.pts);
                                    if let Some(a) = w.wait() {
                                        face_ms.push(a.ms);
                                        s.faces = a.faces;
                                    }
                                }
                                s.current = Some(f);
                            }
                        } else {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(()) => {
                        s.ended = true;
                        break;
                    }
                }
            }
            s.fan_out_audio();
        }
        if slots.iter().all(|s| s.ended) {
            let end = slots
                .iter()
                .filter_map(|s| s.current.as_ref().map(|f| f.pts + 1.0 / s.input.fps()))
                .fold(0.0f64, f64::max);
            if now >= end - 1e-6 {
                break;
            }
        }
        let audio_only = |i: usize| cfg.audio_of.get(i).is_some_and(Option::is_some);
        if let Some((_, s)) = slots.iter().enumerate().find(|(i, s)| s.ended && s.current.is_none() && s.fresh.is_empty() && !audio_only(*i)) {
            return Err(Error::Decoder { url: s.input.name().to_string(), source: ff::Error::InvalidData });
        }
        if slots.iter().all(|s| s.current.is_none() && s.fresh.is_empty()) {
            // Live: nothing has arrived yet. The output starts with the first picture, so the clock
            // starts later too (its timestamps stay 0-based and in step with the audio).
            start += std::time::Duration::from_secs_f64(frame_s);
            continue;
        }
        let t_up = Instant::now();
        let mut uploaded_any = false;
        for (i, s) in slots.iter_mut().enumerate() {
            // Live: the newest frame of this tick, or an older one if its upload fails (a damaged
            // picture must not cost the tick); the frame on screen stays when all fail.
            while let Some((f, faces)) = s.fresh.pop() {
                match comp.upload(i, &f.picture()) {
                    Ok(()) => {
                        s.uploaded = f.seq;
                        s.current = Some(f);
                        s.faces = faces;
                        uploaded_any = true;
                        s.fresh.clear();
                    }
                    Err(e) => {
                        tracing::warn!(input = i, error = %e, "frame could not be uploaded; trying an older one");
                        if let Some(l) = &cfg.live {
                            l.lock().unwrap_or_else(|p| p.into_inner()).upload_retries += 1;
                        }
                    }
                }
            }
            if let Some(f) = &s.current {
                if f.seq != s.uploaded || comp.needs_upload(i) {
                    comp.upload(i, &f.picture())?;
                    s.uploaded = f.seq;
                    uploaded_any = true;
                }
            }
        }
        // A slot that first appeared or changed size above rebuilt the plane buffer, dropping the
        // slots uploaded before it: upload those again so this frame already shows them.
        for (i, s) in slots.iter_mut().enumerate() {
            if let (Some(f), true) = (&s.current, comp.needs_upload(i)) {
                comp.upload(i, &f.picture())?;
                s.uploaded = f.seq;
            }
        }
        if uploaded_any {
            let ms = t_up.elapsed().as_secs_f32() * 1e3;
            upload_ms.push(ms);
            if let Some(g) = &cfg.stage_ms {
                g[0].store(ms.to_bits(), std::sync::atomic::Ordering::Relaxed);
            }
        }
        let clock = Instant::now();
        let mut scenes = Vec::with_capacity(views.len());
        for (v, spec) in views.iter().enumerate() {
            let shown = shown_inputs(spec, slots.len(), solo, &cfg.audio_of);
            let cells = layout::cells(current_layout, shown.len(), w, h);
            let tiles: Vec<TileSpec> = shown
                .iter()
                .enumerate()
                .filter_map(|(k, &i)| slots[i].current.as_ref().map(|f| TileSpec { slot: i, placement: layout::place(f.geom, cells[k], slots[i].fit) }))
                .collect();
            let overlay = Overlay { pk: pk.as_ref().filter(|_| !solo), comments: &comments, now: clock, size: (w, h) };
            let view_layers = overlay.layers(&mut comp, &mut texts, &layers, v, spec)?;
            let masks = spec.mask.as_ref().map(|m| face_masks(m, &slots, &tiles, sticker_image)).unwrap_or_default();
            scenes.push(Scene { background: [0.0; 3], under: under.clone(), tiles, layers: view_layers, blurs: cfg.overlays.blurs.clone(), masks, copy_of: spec.copy_of });
        }
        comp.render_views(&scenes, n, &mut deliver)?;
        if first_after_activation {
            // The first merged frame goes out now, not a readback cycle later.
            comp.flush(&mut deliver)?;
        }
        n += 1;
        if let Some(c) = &cfg.frames_out {
            c.store(n, std::sync::atomic::Ordering::Relaxed);
        }
        if n % (fps.as_f64() as u64 * 10).max(1) == 0 {
            tracing::info!(frames = n, content_s = format!("{:.1}", now + frame_s), fps = format!("{:.1}", n as f64 / start.elapsed().as_secs_f64()), "rendering");
        }
    }
    comp.flush(&mut deliver)?;
    drop(deliver);
    drop(txs);
    let mut enc_ms = Vec::new();
    let mut failed = Vec::new();
    for th in enc_threads {
        let enc = th.join().map_err(|_| Error::StageGone { stage: "encode" })??;
        if enc_ms.is_empty() {
            enc_ms = enc.encode_ms;
        }
        failed.extend(enc.failed);
    }
    if send_err {
        return Err(Error::StageGone { stage: "encode" });
    }
    let wall = start.elapsed().as_secs_f64();
    let stages = StageMedians {
        decode: median(&mut decode_ms),
        upload: median(&mut upload_ms),
        composite: median(&mut t.composite),
        blur: median(&mut t.blur),
        // Colour conversion happens inside the composite dispatches (YUV to BT.709 NV12 by matrix):
        // it has no time of its own.
        convert: if t.composite.is_empty() { None } else { Some(0.0) },
        readback: median(&mut t.readback),
        encode: median(&mut enc_ms),
        faces: median(&mut face_ms),
    };
    Ok(RenderReport {
        device: gpu.describe(),
        encoder: encoder_name,
        frames: n,
        content_seconds: n as f64 * frame_s,
        wall_seconds: wall,
        stages_ms: stages,
        failed_outputs: failed,
        input_stalls: input_stalls(&slots),
    })
}

/// The masks of a view: the chosen organs of every face of every tile, mapped from the input's
/// pixels to the output's. A face that is held (not seen in this frame) gets a wider mask.
fn face_masks(level: &MaskLevel, slots: &[Slot], tiles: &[TileSpec], sticker: Option<usize>) -> Vec<crate::gpu::MaskSpec> {
    if (level.sigma <= 0.0 && level.style == MaskStyle::Blur) || level.organs.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in tiles {
        let p = &t.placement;
        // Output = M⁻¹ (source − origin), M = [axis_x axis_y].
        let det = p.axis_x.x * p.axis_y.y - p.axis_y.x * p.axis_x.y;
        if det.abs() < 1e-9 {
            continue;
        }
        let to_out = |s: [f32; 2]| {
            let (dx, dy) = (s[0] - p.origin.x, s[1] - p.origin.y);
            [(dx * p.axis_y.y - dy * p.axis_y.x) / det, (p.axis_x.x * dy - p.axis_x.y * dx) / det]
        };
        let scale = (1.0 / det.abs()).sqrt();
        for face in &slots[t.slot].faces {
            let pts: Vec<[f32; 2]> = face.landmarks.iter().map(|&q| to_out(q)).collect();
            let polygons = level.organs.iter().flat_map(|o| o.polygons(&pts)).collect();
            let feather = level.feather * scale.max(0.25);
            // The soft edge lies outside the organ, which is covered fully; a held face's mask grows.
            // The face's roll from the eye corners, for the sticker.
            let (r, l) = (pts.get(33).copied().unwrap_or([0.0, 0.0]), pts.get(263).copied().unwrap_or([1.0, 0.0]));
            let sticker = match (level.style, sticker) {
                (MaskStyle::Sticker, Some(image)) => Some(crate::gpu::compositor::Sticker { image, angle: (l[1] - r[1]).atan2(l[0] - r[0]), scale: 1.15 }),
                _ => None,
            };
            out.push(crate::gpu::MaskSpec { polygons, feather, dilate: if face.held { 3.0 * feather + 4.0 } else { feather }, sigma: level.sigma * scale.max(0.25), sticker });
        }
    }
    out
}

/// What is drawn over a view's tiles at one tick besides the fixed layers.
struct Overlay<'a> {
    pk: Option<&'a crate::session::pk::PkBar>,
    comments: &'a [Comment],
    now: Instant,
    size: (u32, u32),
}

impl Overlay<'_> {
    /// The fixed layers plus the PK bar and (on a monitor) the comments of view `v`; text boxes are
    /// rasterised into compositor images when their content changed.
    fn layers(&self, comp: &mut Compositor, texts: &mut TextImages, fixed: &[LayerSpec], v: usize, spec: &ViewSpec) -> Result<Vec<LayerSpec>> {
        let (w, h) = self.size;
        let mut elements = Vec::new();
        if let Some(bar) = self.pk {
            elements.extend(bar.elements(self.now, spec.mirrored, w, h, &format!("v{v}.")));
        }
        if let Some(anchor) = &spec.monitor {
            elements.extend(comment_elements(self.comments, anchor, self.now, w, h, &format!("v{v}.")));
        }
        let mut out = fixed.to_vec();
        for e in elements {
            match e {
                Element::Layer(l) => out.push(l),
                Element::Text { key, rect, text, style } => out.push(texts.layer(comp, &key, rect, &text, &style)?),
            }
        }
        Ok(out)
    }
}

/// The latest comments for `anchor` as a panel in the lower left of a monitor view.
fn comment_elements(comments: &[Comment], anchor: &str, now: Instant, w: u32, h: u32, prefix: &str) -> Vec<Element> {
    let lines: Vec<&str> = comments.iter().filter(|c| c.anchor == anchor && now.saturating_duration_since(c.at) < COMMENT_TTL).map(|c| c.text.as_str()).collect();
    let lines = &lines[lines.len().saturating_sub(COMMENT_LINES)..];
    if lines.is_empty() {
        return Vec::new();
    }
    let size = (h as f32 / 30.0).round().max(12.0);
    let panel = Rect { x: 16.0, y: (h as f32 * 0.35).round(), w: (w as f32 * 0.42).round(), h: (size * 1.2 * COMMENT_LINES as f32 + size).round() };
    vec![
        Element::Layer(LayerSpec { rect: panel, color: [0.0, 0.0, 0.0, 0.45], kind: LayerKind::Solid }),
        Element::Text {
            key: format!("{prefix}comments"),
            rect: Rect { x: panel.x + 8.0, y: panel.y, w: panel.w - 16.0, h: panel.h },
            text: lines.join("\n"),
            style: TextStyle { size, ..TextStyle::default() },
        },
    ]
}

struct EncodeReport {
    encode_ms: Vec<f32>,
    failed: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn encode_loop(
    rx: mpsc::Receiver<ff::frame::Video>,
    tracks: mpsc::Receiver<Vec<MixInput>>,
    mut venc: VideoEncoder,
    mut aenc: Option<AudioEncoder>,
    mut mixer: Mixer,
    mut outputs: Outputs,
    fps: Fps,
    gauges: Option<Arc<[std::sync::atomic::AtomicU32; 3]>>,
    live: Option<Arc<std::sync::Mutex<LiveState>>>,
) -> Result<EncodeReport> {
    let _span = tracing::info_span!("encode").entered();
    let mut packets = Vec::new();
    let mut encode_ms = Vec::new();
    let mut frames: i64 = 0;
    let samples_at = |frame: i64| frame * crate::ingest::decode::AUDIO_RATE as i64 * fps.den as i64 / fps.num as i64;
    let pump_audio = |aenc: &mut Option<AudioEncoder>, mixer: &mut Mixer, outputs: &mut Outputs, until: i64, finishing: bool| -> Result<()> {
        let Some(a) = aenc.as_mut() else { return Ok(()) };
        let mut pk = Vec::new();
        while mixer.position() < until {
            let n = ((until - mixer.position()) as usize).min(encode::audio::AAC_FRAME);
            if n < encode::audio::AAC_FRAME && !finishing {
                break;
            }
            let Some(s) = mixer.next(n, finishing) else { break };
            a.encode(&s, &mut pk)?;
        }
        if finishing {
            a.finish(&mut pk)?;
        }
        for p in &pk {
            outputs.write(Track::Audio, p, a.time_base);
        }
        Ok(())
    };
    while let Ok(frame) = rx.recv() {
        if let Some(t) = tracks.try_iter().last() {
            mixer.set_tracks(t);
        }
        let t0 = Instant::now();
        venc.encode(&frame, &mut packets)?;
        let ms = t0.elapsed().as_secs_f32() * 1e3;
        encode_ms.push(ms);
        if let Some(g) = &gauges {
            g[2].store(ms.to_bits(), std::sync::atomic::Ordering::Relaxed);
        }
        if !packets.is_empty() {
            if let Some(l) = &live {
                let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                if l.activated.is_some() && l.first_packet.is_none() {
                    l.first_packet = Some(Instant::now());
                }
            }
        }
        for p in packets.drain(..) {
            outputs.write(Track::Video, &p, venc.time_base);
        }
        frames += 1;
        pump_audio(&mut aenc, &mut mixer, &mut outputs, samples_at(frames), false)?;
    }
    venc.finish(&mut packets)?;
    for p in packets.drain(..) {
        outputs.write(Track::Video, &p, venc.time_base);
    }
    pump_audio(&mut aenc, &mut mixer, &mut outputs, samples_at(frames), true)?;
    let failed = outputs.finish();
    Ok(EncodeReport { encode_ms, failed })
}
