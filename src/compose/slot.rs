//! Input slots: what each input of a job reads (its own decoder or a room's feed), the frame it has
//! on screen, the newer frames of this tick, its faces, its audio taps, and whether it stalled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::config::RenderConfig;
use super::live::JobEvent;
use super::source::Source;
use crate::error::{invalid, Error, Result};
use crate::face::{FaceModels, FaceTrack, FaceWorker};
use crate::ingest::{self, Change, FeedReader, Input, InputOptions};
use crate::media::{AudioChunk, Fit, Overflow, Ring, VideoFrame};

/// Live: an input that has not delivered a frame for this long is reported as lost (its tile keeps
/// the last frame).
const STALL_AFTER: Duration = Duration::from_secs(1);

/// What an output slot reads.
pub(crate) enum SlotInput {
    /// Its own decoder; with a pause's hold (its slate, and the input's sound passed through it).
    Owned(Input, Option<FeedReader>),
    Feed {
        name: String,
        reader: FeedReader,
    },
}

impl SlotInput {
    pub fn video(&self) -> &Arc<Ring<Arc<VideoFrame>>> {
        match self {
            SlotInput::Owned(i, _) => &i.video,
            SlotInput::Feed { reader, .. } => &reader.video,
        }
    }
    pub fn audio(&self) -> Option<Arc<Ring<AudioChunk>>> {
        match self {
            SlotInput::Owned(i, None) => i.audio.clone(),
            SlotInput::Owned(_, Some(hold)) => Some(hold.audio.clone()),
            SlotInput::Feed { reader, .. } => Some(reader.audio.clone()),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            SlotInput::Owned(i, _) => &i.info.url,
            SlotInput::Feed { name, .. } => name,
        }
    }
    /// The picture shown instead of this input's own: its room's pause slate, waiting card or
    /// away slate.
    /// And whether that is a pause's slate.
    pub fn slate(&self) -> (Option<Arc<VideoFrame>>, bool) {
        match self {
            SlotInput::Owned(_, None) => (None, false),
            SlotInput::Owned(_, Some(reader)) | SlotInput::Feed { reader, .. } => reader.feed.shown_instead(),
        }
    }

    /// The latest change of what the input's room shows (a pause, a resume, another source).
    fn change(&self) -> Option<Change> {
        match self {
            SlotInput::Owned(_, None) => None,
            SlotInput::Owned(_, Some(reader)) | SlotInput::Feed { reader, .. } => Some(reader.feed.change()),
        }
    }
    /// A pulled input's sound passes through its hold (muted, or replaced by the slate's, while
    /// paused).
    fn relay_audio(&self) {
        if let SlotInput::Owned(Input { audio: Some(a), .. }, Some(hold)) = self {
            while let Some(c) = a.try_pop() {
                hold.feed.relay_audio(c);
            }
        }
    }

    pub fn fps(&self) -> f64 {
        match self {
            SlotInput::Owned(i, _) => i.info.fps.clamp(1.0, 240.0),
            SlotInput::Feed { .. } => 30.0,
        }
    }
}

pub(crate) struct Slot {
    pub key: String,
    pub input: SlotInput,
    /// The frame on screen (uploaded), and live, newer frames taken from the ring this tick: the
    /// newest is uploaded, an older one if that fails.
    pub current: Option<Arc<VideoFrame>>,
    pub fresh: Vec<(Arc<VideoFrame>, Vec<FaceTrack>)>,
    /// Live: the picture shown instead of the input's own this tick (its room is paused, or has
    /// no anchor to show); read once per tick.
    pub slate: Option<Arc<VideoFrame>>,
    /// Live: `slate` is the room's pause slate (read with it: a replay's cut falls where the
    /// pictures change).
    pub paused: bool,
    /// Live: the picture on screen is a pause's slate (set at upload: after a resume the slate
    /// stays on screen until the anchor's next picture is uploaded).
    pub showing_pause: bool,
    /// Live: a change of what the input's room shows, until the first upload that shows it (then
    /// reported with the time it took); and the count of the last change seen.
    pub change: Option<Change>,
    seen_change: u64,
    /// Face tracking of this input: the faces of `current`.
    pub face: Option<FaceWorker>,
    pub faces: Vec<FaceTrack>,
    /// With several views, each view's mixer reads its own copy of this input's audio.
    pub taps: Vec<Arc<Ring<AudioChunk>>>,
    pub uploaded: u64,
    pub ended: bool,
    pub fit: Fit,
    /// Live: when the last new frame arrived, whether the input is stalled now, how often it was.
    last_new: Instant,
    /// A frame of the input's own has arrived (a waiting card in its place is not a stall).
    seen: bool,
    stalled: bool,
    pub stalls: u32,
}

/// Per-frame times the slots gather: decode (from the decoder's frames) and face tracking.
#[derive(Default)]
pub(crate) struct PullTimes {
    pub decode_ms: Vec<f32>,
    pub face_ms: Vec<f32>,
}

impl Slot {
    /// With several views, each view's mixer gets its own copy of this input's audio.
    pub fn fan_out_audio(&self) {
        self.input.relay_audio();
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

    /// Pre-pull: audio that will never be played is discarded.
    pub fn discard_audio(&self) {
        self.input.relay_audio();
        if let Some(a) = self.input.audio() {
            while a.try_pop().is_some() {}
        }
    }

    /// True when the slot has nothing to show and never will.
    pub fn is_empty_for_good(&self) -> bool {
        self.ended && self.current.is_none() && self.fresh.is_empty()
    }

    /// The error of an input that ended without a single picture.
    pub fn no_picture(&self) -> Error {
        Error::Decoder { url: self.input.name().to_string(), source: ff::Error::InvalidData }
    }

    /// Live: whatever arrived, newest wins; nothing waits. Older frames of this tick stay as
    /// fallbacks for the upload. Returns the event when the input was lost or came back.
    pub fn pull_live(&mut self, i: usize, times: &mut PullTimes) -> Option<JobEvent> {
        self.fresh.clear();
        // Read before the pictures: those taken after a change are of what it shows.
        if let Some(c) = self.input.change().filter(|c| c.count != self.seen_change) {
            self.seen_change = c.count;
            self.change = Some(c);
        }
        (self.slate, self.paused) = self.input.slate();
        let paused = self.slate.is_some();
        let mut newest = None;
        while let Some(f) = self.input.video().try_pop() {
            times.decode_ms.push(f.decode_ms);
            newest = Some(f);
            if self.face.is_none() && !paused {
                self.fresh.extend(newest.clone().map(|f| (f, Vec::new())));
            }
        }
        // Paused: the anchor's pictures keep arriving (they count as the input being there) but
        // are neither tracked nor shown until the resume; what the tracker finishes meanwhile is
        // dropped, so no picture from before the pause comes back after it.
        if let Some(w) = &self.face {
            // Frames come to the screen only through the tracker, with their faces.
            if let (Some(f), false) = (&newest, paused) {
                w.offer(f.clone(), f.pts);
            }
            for a in w.take() {
                times.face_ms.push(a.ms);
                if !paused {
                    self.fresh.push((a.frame, a.faces));
                }
            }
        }
        let event = self.stall_check(i, newest.is_some());
        self.ended = self.input.video().is_finished();
        self.fan_out_audio();
        event
    }

    fn stall_check(&mut self, i: usize, got_new: bool) -> Option<JobEvent> {
        if got_new {
            self.last_new = Instant::now();
            self.seen = true;
            if self.stalled {
                self.stalled = false;
                tracing::info!(input = i, url = %crate::sys::redact_url(self.input.name()), "input resumed");
                return Some(JobEvent::InputBack(i));
            }
        } else if !self.stalled && self.seen && self.last_new.elapsed() > STALL_AFTER {
            self.stalled = true;
            self.stalls += 1;
            tracing::warn!(input = i, url = %crate::sys::redact_url(self.input.name()), "input lost: showing its last frame");
            return Some(JobEvent::InputLost(i));
        }
        None
    }

    /// Offline: advances to the latest frame at or before `now` (blocking on the decoder).
    pub fn advance_offline(&mut self, now: f64, times: &mut PullTimes) {
        loop {
            match self.input.video().peek_with(None, |f| f.pts) {
                Ok(Some(pts)) if self.current.is_none() || pts <= now + 1e-3 => {
                    let Some(f) = self.input.video().try_pop() else { continue };
                    times.decode_ms.push(f.decode_ms);
                    if let Some(w) = &self.face {
                        // Offline, every shown frame is analysed before it is shown.
                        w.offer(f.clone(), f.pts);
                        if let Some(a) = w.wait() {
                            times.face_ms.push(a.ms);
                            self.faces = a.faces;
                        }
                    }
                    self.current = Some(f);
                }
                Ok(_) => break,
                Err(()) => {
                    self.ended = true;
                    break;
                }
            }
        }
        self.fan_out_audio();
    }

    /// When the slot's last frame stops being shown (its timestamp plus one frame).
    pub fn end_time(&self) -> Option<f64> {
        self.current.as_ref().map(|f| f.pts + 1.0 / self.input.fps())
    }
}

/// Opens a job's input slots: decoders for URLs, readers of room feeds, face trackers, audio taps.
pub(crate) struct SlotOpener<'a> {
    cfg: &'a RenderConfig,
    opts: InputOptions,
    views: usize,
    models: Option<Arc<FaceModels>>,
}

impl<'a> SlotOpener<'a> {
    pub fn new(cfg: &'a RenderConfig, views: usize) -> Result<SlotOpener<'a>> {
        // Inputs decode in parallel with each other; frame threads on top only pay off when there
        // are more cores than inputs (and they hide the decode cost from the stage timing).
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let decode_threads = if cfg.input.decode_threads == 0 {
            (cores / cfg.inputs.len().max(1)).max(1)
        } else {
            cfg.input.decode_threads
        };
        let opts = InputOptions {
            nice: cfg.background_nice,
            decode_threads,
            live: cfg.realtime || cfg.input.live,
            reconnect: cfg.realtime,
            ..cfg.input.clone()
        };
        let models = match &cfg.faces {
            Some(f) => Some(Arc::new(FaceModels::load(f.tracker.range).map_err(|e| invalid("faces", e.to_string()))?)),
            None => None,
        };
        Ok(SlotOpener { cfg, opts, views, models })
    }

    /// Whether input `i` is face-tracked (inputs that only bring audio never are).
    fn tracked(&self, i: usize) -> bool {
        let cfg = self.cfg;
        cfg.faces.as_ref().is_some_and(|f| {
            (f.inputs.is_empty() || f.inputs.contains(&i)) && cfg.audio_of.get(i).is_none_or(Option::is_none)
        })
    }

    pub fn open(&self, i: usize, source: &Source, fit: Fit) -> Result<Slot> {
        let input = match source {
            Source::Url(url) => SlotInput::Owned(ingest::open(url, &self.opts)?, None),
            Source::Pulled { url, hold } => SlotInput::Owned(ingest::open(url, &self.opts)?, Some(hold.subscribe())),
            Source::Feed { name, feed } => SlotInput::Feed { name: name.clone(), reader: feed.subscribe() },
        };
        let taps = if self.views > 1 {
            (0..self.views).map(|_| Arc::new(Ring::new(512, Overflow::DropOldest))).collect()
        } else {
            Vec::new()
        };
        let face = match (&self.models, &self.cfg.faces) {
            (Some(m), Some(f)) if self.tracked(i) => {
                Some(FaceWorker::start(m.clone(), f.tracker.clone(), input.name())?)
            }
            _ => None,
        };
        let now = Instant::now();
        let seen_change = input.change().map_or(0, |c| c.count);
        Ok(Slot {
            key: source.key(),
            input,
            current: None,
            fresh: Vec::new(),
            slate: None,
            paused: false,
            showing_pause: false,
            change: None,
            seen_change,
            face,
            faces: Vec::new(),
            taps,
            uploaded: 0,
            ended: false,
            fit,
            last_new: now,
            seen: false,
            stalled: false,
            stalls: 0,
        })
    }

    /// Opens every input of the job at once (network inputs take a while to connect and probe).
    pub fn open_all(&self) -> Result<Vec<Slot>> {
        let cfg = self.cfg;
        let opened: Vec<Result<Slot>> = std::thread::scope(|sc| {
            let handles: Vec<_> = cfg
                .inputs
                .iter()
                .enumerate()
                .map(|(i, source)| {
                    let fit = if cfg.fits.len() == 1 { cfg.fits[0] } else { cfg.fits[i] };
                    sc.spawn(move || self.open(i, source, fit))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(invalid("input", "opening it panicked"))))
                .collect()
        });
        opened.into_iter().collect()
    }
}
