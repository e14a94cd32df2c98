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

use crate::encode::{self, AudioEncoder, Mixer, Outputs, StreamSetup, Track, VideoEncoder, VideoSettings};
use crate::error::{invalid, Error, Result};
use crate::gpu::{BlurSpec, Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, Scene, TileSpec};
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
    current: Option<VideoFrame>,
    uploaded: u64,
    ended: bool,
    fit: Fit,
    /// Live: when the last new frame arrived, whether the input is stalled now, how often it was.
    last_new: Instant,
    stalled: bool,
    stalls: u32,
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

/// Runs a render job to completion.
pub fn run(cfg: &RenderConfig) -> Result<RenderReport> {
    let _span = tracing::info_span!("render").entered();
    if cfg.inputs.is_empty() {
        return Err(invalid("inputs", "at least one --input is needed"));
    }
    if cfg.outputs.is_empty() {
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
    let open_slot = |source: &Source, fit: Fit| -> Result<Slot> {
        let input = match source {
            Source::Url(url) => SlotInput::Owned(ingest::open(url, &opts)?),
            Source::Feed { name, feed } => SlotInput::Feed { name: name.clone(), feed: feed.clone() },
        };
        Ok(Slot { key: source.key(), input, current: None, uploaded: 0, ended: false, fit, last_new: Instant::now(), stalled: false, stalls: 0 })
    };
    let mut slots = Vec::new();
    for (i, source) in cfg.inputs.iter().enumerate() {
        let fit = if cfg.fits.len() == 1 { cfg.fits[0] } else { cfg.fits[i] };
        slots.push(open_slot(source, fit)?);
    }
    let gpu = Arc::new(Gpu::open_with_nice(cfg.background_nice)?);
    let mut comp = Compositor::new(gpu.clone(), cfg.size.0, cfg.size.1, cfg.gpu)?;

    let mut images = Vec::new();
    for (path, _) in &cfg.overlays.images {
        let img = image::open(path).map_err(|e| Error::Image { path: path.display().to_string(), why: e.to_string() })?;
        images.push(img.to_rgba8());
    }
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

    let any_audio = slots.iter().any(|s| s.input.audio().is_some());

    let global = Outputs::need_global_header(&cfg.outputs);
    let venc = VideoEncoder::open(&cfg.video, global)?;
    let aenc = if any_audio { Some(AudioEncoder::open(cfg.audio_kbps, global)?) } else { None };
    let setup = StreamSetup::new(venc.encoder(), venc.time_base, aenc.as_ref().map(|a| (a.encoder(), a.time_base)));
    let out_events: Option<crate::encode::OutputEvents> = cfg.events.clone().map(|f| {
        Arc::new(move |e: crate::encode::OutputEvent| match e {
            crate::encode::OutputEvent::Connected(u) => f(JobEvent::OutputConnected(u)),
            crate::encode::OutputEvent::Failed(u, why) => f(JobEvent::OutputFailed(u, why)),
        }) as crate::encode::OutputEvents
    });
    let outputs = Outputs::open(&cfg.outputs, &setup, cfg.realtime, out_events)?;
    if let Some(slot) = &cfg.output_stats {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = outputs.stats();
    }
    let tracks = slots.iter().filter_map(|s| s.input.audio().map(|r| (r, 1.0))).collect();
    let mixer = if cfg.realtime { Mixer::live(tracks) } else { Mixer::new(tracks) };
    let encoder_name = venc.name.to_string();

    // The encoder gets frames through a short queue: the GPU thread never waits long on it, and a
    // stalled encoder cannot make frames pile up in memory.
    let (tx, rx) = mpsc::sync_channel::<ff::frame::Video>(2);
    // New audio track lists (inputs changed while live) go to the mixer in the encode thread.
    let (tracks_tx, tracks_rx) = mpsc::channel::<Vec<(Arc<Ring<ingest::AudioChunk>>, f32)>>();
    let fps = cfg.fps;
    let enc_thread = std::thread::Builder::new()
        .name("encode".into())
        .spawn({
            let gauges = cfg.stage_ms.clone();
            move || encode_loop(rx, tracks_rx, venc, aenc, mixer, outputs, fps, gauges)
        })?;
    let stage_gauges = cfg.stage_ms.clone();
    let input_stalls = |slots: &[Slot]| slots.iter().map(|s| s.stalls).collect::<Vec<_>>();

    let (w, h) = cfg.size;
    let mut current_layout = cfg.layout;
    let mut cells = layout::cells(current_layout, slots.len(), w, h);
    let mut t = Timings::default();
    let mut start = Instant::now();
    let frame_s = 1.0 / fps.as_f64();
    let mut n: u64 = 0;
    let mut send_err = false;
    let mut deliver = |r: crate::gpu::Ready<'_>| -> Result<()> {
        let t0 = Instant::now();
        let mut f = encode::video::nv12_frame(w, h);
        encode::video::fill_nv12(&mut f, r.nv12);
        f.set_pts(Some(r.tag as i64));
        t.readback.push((r.wait_ms + t0.elapsed().as_secs_f64() * 1e3) as f32);
        if let Some(g) = r.gpu {
            t.composite.push(g.composite_ms as f32);
            if let Some(s) = &stage_gauges {
                s[1].store((g.composite_ms as f32).to_bits(), std::sync::atomic::Ordering::Relaxed);
            }
            if g.blur_ms > 0.0 {
                t.blur.push(g.blur_ms as f32);
            }
        }
        if tx.send(f).is_err() {
            send_err = true;
            return Err(Error::StageGone { stage: "encode" });
        }
        Ok(())
    };
    let mut decode_ms = Vec::new();
    let mut upload_ms = Vec::new();
    loop {
        let now = n as f64 * frame_s;
        if cfg.max_seconds.is_some_and(|m| now >= m - 1e-9) {
            break;
        }
        if cfg.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
            break;
        }
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
                        None => match open_slot(src, fit.unwrap_or_default()) {
                            Ok(s) => slots.push(s),
                            Err(e) => tracing::error!(error = %e, "input could not be added"),
                        },
                    }
                }
                // Inputs left in `old` are closed when it drops here.
                let _ = tracks_tx.send(slots.iter().filter_map(|s| s.input.audio().map(|r| (r, 1.0))).collect());
                tracing::info!(inputs = slots.len(), "inputs changed");
            }
            cells = layout::cells(change.layout.unwrap_or(current_layout), slots.len(), w, h);
            current_layout = change.layout.unwrap_or(current_layout);
            if let (Some(f), None) = (change.fits, &change.inputs) {
                for (i, s) in slots.iter_mut().enumerate() {
                    s.fit = if f.len() == 1 { f[0] } else { f.get(i).copied().unwrap_or(s.fit) };
                }
            }
            tracing::info!("layout changed");
        }
        if cfg.realtime {
            // The wall clock drives the ticks; a late tick is rendered at once rather than skipped.
            let due = start + std::time::Duration::from_secs_f64(now);
            let wait = due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            for (i, s) in slots.iter_mut().enumerate() {
                // Live: whatever arrived, newest wins; nothing waits.
                let mut got = false;
                while let Some(f) = s.input.video().try_pop() {
                    decode_ms.push(f.decode_ms);
                    s.current = Some(f);
                    got = true;
                }
                if got {
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
        if let Some(s) = slots.iter().find(|s| s.ended && s.current.is_none()) {
            return Err(Error::Decoder { url: s.input.name().to_string(), source: ff::Error::InvalidData });
        }
        if slots.iter().all(|s| s.current.is_none()) {
            // Live: nothing has arrived yet. The output starts with the first picture, so the clock
            // starts later too (its timestamps stay 0-based and in step with the audio).
            start += std::time::Duration::from_secs_f64(frame_s);
            continue;
        }
        let t_up = Instant::now();
        let mut uploaded_any = false;
        for (i, s) in slots.iter_mut().enumerate() {
            if let Some(f) = &s.current {
                if f.seq != s.uploaded || comp.needs_upload(i) {
                    comp.upload(i, &f.picture())?;
                    s.uploaded = f.seq;
                    uploaded_any = true;
                }
            }
        }
        if uploaded_any {
            let ms = t_up.elapsed().as_secs_f32() * 1e3;
            upload_ms.push(ms);
            if let Some(g) = &cfg.stage_ms {
                g[0].store(ms.to_bits(), std::sync::atomic::Ordering::Relaxed);
            }
        }
        let tiles = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.current.as_ref().map(|f| TileSpec { slot: i, placement: layout::place(f.geom, cells[i], s.fit) }))
            .collect();
        let scene = Scene { background: [0.0; 3], tiles, layers: layers.clone(), blurs: cfg.overlays.blurs.clone() };
        comp.render(&scene, n, &mut deliver)?;
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
    drop(tx);
    let enc = enc_thread.join().map_err(|_| Error::StageGone { stage: "encode" })??;
    if send_err {
        return Err(Error::StageGone { stage: "encode" });
    }
    let wall = start.elapsed().as_secs_f64();
    let mut enc_ms = enc.encode_ms;
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
    };
    Ok(RenderReport {
        device: gpu.describe(),
        encoder: encoder_name,
        frames: n,
        content_seconds: n as f64 * frame_s,
        wall_seconds: wall,
        stages_ms: stages,
        failed_outputs: enc.failed,
        input_stalls: input_stalls(&slots),
    })
}

struct EncodeReport {
    encode_ms: Vec<f32>,
    failed: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn encode_loop(
    rx: mpsc::Receiver<ff::frame::Video>,
    tracks: mpsc::Receiver<Vec<(Arc<Ring<ingest::AudioChunk>>, f32)>>,
    mut venc: VideoEncoder,
    mut aenc: Option<AudioEncoder>,
    mut mixer: Mixer,
    mut outputs: Outputs,
    fps: Fps,
    gauges: Option<Arc<[std::sync::atomic::AtomicU32; 3]>>,
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
