//! A job: `open` (inputs, GPU, encoders, outputs) → `tick` (one output frame of every view) →
//! `finish` (flush, close the outputs, report).
//!
//! An input that ended keeps its last frame until the longest input ends. Live, a stalled input
//! keeps its last frame too, and nothing an input does holds the output clock back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ffmpeg_next as ff;

use super::clock::{Clock, KeyGrid, Lag};
use super::config::RenderConfig;
use super::encoder::{Encoders, FrameSink, Tracks};
use super::live::{LiveHooks, Stage};
use super::masks::face_masks;
use super::overlay::{Comment, FixedLayers, Overlay, PkBar, PollBoard, TextImages};
use super::report::{median, RenderReport, StageMedians};
use super::slot::{PullTimes, Slot, SlotOpener};
use super::view::{shown_inputs, ViewSpec};
use crate::error::{invalid, Error, Result};
use crate::gpu::{Compositor, Gpu, Scene, TileSpec};
use crate::media::geometry::{self as layout, Layout};
use crate::sys::lock;

/// What the loop does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    Continue,
    Done,
}

/// The API's view of a live job, taken once per tick (the lock is not held while drawing).
pub(super) struct LiveView {
    pub(super) active: bool,
    pub(super) solo: bool,
    pub(super) pk: Option<PkBar>,
    pub(super) comments: Vec<Comment>,
    pub(super) poll: Option<PollBoard>,
}

pub struct Job<'a> {
    pub(super) cfg: &'a RenderConfig,
    pub(super) views: Vec<ViewSpec>,
    pub(super) opener: SlotOpener<'a>,
    pub(super) slots: Vec<Slot>,
    pub(super) gpu: Arc<Gpu>,
    pub(super) comp: Compositor,
    pub(super) fixed: FixedLayers,
    pub(super) texts: TextImages,
    pub(super) encoders: Encoders,
    pub(super) sink: FrameSink,
    pub(super) clock: Clock,
    pub(super) layout: Layout,
    pub(super) solo: bool,
    pub(super) was_active: bool,
    pub(super) warmed: bool,
    /// Every input shows its room's pause slate (the replay leaves such spans out).
    pub(super) all_paused: bool,
    pub(super) pulled: PullTimes,
    pub(super) upload_ms: Vec<f32>,
    pub(super) lag: Lag,
    /// Which frames are keyframes (a rendition starts at one).
    pub(super) keys: KeyGrid,
    /// The number of the HLS segment the next keyframe starts (live HLS cuts at every keyframe).
    pub(super) segment: u64,
}

impl<'a> Job<'a> {
    /// Opens the inputs first (decoding starts while the GPU and the encoders get ready: live
    /// inputs must not be missed meanwhile), then the GPU, the overlays and one encode per view.
    pub fn open(cfg: &'a RenderConfig) -> Result<Job<'a>> {
        let views = checked_views(cfg)?;
        ff::init().map_err(|e| Error::Output { url: "ffmpeg".into(), why: e.to_string() })?;
        // FFmpeg's own info lines (x264 statistics) would drown our log; warnings and errors still show.
        ff::util::log::set_level(ff::util::log::Level::Warning);
        let opener = SlotOpener::new(cfg, views.len())?;
        let slots = opener.open_all()?;
        let gpu = Arc::new(Gpu::open_with_nice(cfg.background_nice)?);
        let mut comp = Compositor::with_views(gpu.clone(), cfg.size.0, cfg.size.1, cfg.gpu, views.len())?;
        let fixed = FixedLayers::load(&cfg.overlays, &views, &mut comp)?;
        let solo = cfg.hooks.as_ref().is_some_and(|h| lock(&h.state).solo);
        let tracks = Tracks { slots: &slots, views: &views, solo, tapped: views.len() > 1, audio_of: &cfg.audio_of };
        // (read before the encoders open the playlist)
        let segment = super::clock::first_segment(
            views.first().and_then(|v| v.outputs.iter().find(|u| u.ends_with(".m3u8"))).map(String::as_str),
        );
        let (encoders, sink) = Encoders::open(cfg, &tracks)?;
        Ok(Job {
            cfg,
            views,
            opener,
            slots,
            gpu,
            comp,
            fixed,
            texts: TextImages::default(),
            encoders,
            sink,
            clock: Clock::new(cfg.fps.as_f64()),
            layout: cfg.layout,
            solo,
            was_active: true,
            warmed: false,
            all_paused: false,
            pulled: PullTimes::default(),
            upload_ms: Vec::new(),
            lag: Lag::new(cfg.fps.as_f64()),
            keys: KeyGrid::new(cfg.video.gop),
            segment,
        })
    }

    /// One turn of the loop: picks up live changes, waits for the tick (live) or the inputs
    /// (offline), uploads new pictures and composes every view.
    pub fn tick(&mut self) -> Result<Tick> {
        let cfg = self.cfg;
        let now = self.clock.now();
        if cfg.max_seconds.is_some_and(|m| now >= m - 1e-9) || cfg.hooks.as_ref().is_some_and(LiveHooks::stopped) {
            return Ok(Tick::Done);
        }
        let live = self.live_view();
        let mut tracks_changed = live.solo != self.solo;
        self.solo = live.solo;
        if let Some(change) = cfg.hooks.as_ref().and_then(|h| lock(&h.state).change.take()) {
            tracks_changed |= self.apply_change(change);
        }
        if tracks_changed {
            self.encoders.set_tracks(&self.tracks());
        }
        if cfg.realtime && !live.active {
            self.pre_pull(&live)?;
            return Ok(Tick::Continue);
        }
        let first_after_activation = !self.was_active;
        self.was_active = true;
        if cfg.realtime {
            let Some(due) = self.clock.wait_due(cfg.hooks.as_ref().map(|h| &*h.wake)) else {
                return Ok(Tick::Continue);
            };
            if let Some(g) = cfg.hooks.as_ref().map(|h| &h.stages) {
                g(Stage::TickLateness, due.late_ms);
            }
            self.note_skips(due.skipped);
            self.pull_live();
            if self.slots.iter().all(|s| s.ended) {
                return Ok(Tick::Done);
            }
        } else {
            for s in &mut self.slots {
                s.advance_offline(now, &mut self.pulled);
            }
        }
        if self.slots.iter().all(|s| s.ended) {
            let end = self.slots.iter().filter_map(Slot::end_time).fold(0.0f64, f64::max);
            if now >= end - 1e-6 {
                return Ok(Tick::Done);
            }
        }
        let audio_only = |i: usize| cfg.audio_of.get(i).is_some_and(Option::is_some);
        if let Some((_, s)) = self.slots.iter().enumerate().find(|(i, s)| s.is_empty_for_good() && !audio_only(*i)) {
            return Err(s.no_picture());
        }
        // Nothing to show yet (a paused room's slate counts as something).
        if self.slots.iter().all(|s| s.current.is_none() && s.fresh.is_empty() && s.slate.is_none()) {
            self.clock.delay_start();
            return Ok(Tick::Continue);
        }
        self.upload()?;
        self.note_pause();
        let n = self.clock.n;
        if self.keys.next(self.sink.forced(n)) {
            self.sink.force_key(n);
            self.switch_renditions(n);
            self.segment += 1;
        }
        self.compose(&live, first_after_activation)?;
        self.count_frame();
        Ok(Tick::Continue)
    }

    /// Flushes the frames in flight, closes the encoders and outputs, and reports.
    pub fn finish(mut self) -> Result<RenderReport> {
        let sink = &mut self.sink;
        self.comp.flush(&mut |r| sink.deliver(r))?;
        let Job { sink, encoders, gpu, clock, slots, mut pulled, mut upload_ms, .. } = self;
        let (mut timings, send_err) = sink.close();
        let encoder = encoders.name.clone();
        let mut enc = encoders.finish()?;
        if send_err {
            return Err(Error::StageGone { stage: "encode" });
        }
        let stages = StageMedians {
            decode: median(&mut pulled.decode_ms),
            upload: median(&mut upload_ms),
            composite: median(&mut timings.composite),
            blur: median(&mut timings.blur),
            // Colour conversion happens inside the composite dispatches (YUV to BT.709 NV12 by
            // matrix): it has no time of its own.
            convert: if timings.composite.is_empty() { None } else { Some(0.0) },
            readback: median(&mut timings.readback),
            encode: median(&mut enc.encode_ms),
            faces: median(&mut pulled.face_ms),
        };
        Ok(RenderReport {
            device: gpu.describe(),
            encoder,
            frames: clock.composed,
            content_seconds: clock.now(),
            wall_seconds: clock.elapsed(),
            stages_ms: stages,
            failed_outputs: enc.failed,
            input_stalls: slots.iter().map(|s| s.stalls).collect(),
        })
    }

    fn live_view(&self) -> LiveView {
        match self.cfg.hooks.as_ref().map(|h| &h.state) {
            Some(l) => {
                let l = lock(l);
                let poll = l.poll.clone();
                LiveView { active: l.active, solo: l.solo, pk: l.pk.clone(), comments: l.comments.clone(), poll }
            }
            None => LiveView { active: true, solo: false, pk: None, comments: Vec::new(), poll: None },
        }
    }

    pub(super) fn tracks(&self) -> Tracks<'_> {
        Tracks {
            slots: &self.slots,
            views: &self.views,
            solo: self.solo,
            tapped: self.views.len() > 1,
            audio_of: &self.cfg.audio_of,
        }
    }

    /// Every view's scene for this tick, with input i's picture of geometry `geom(i)` (None: not
    /// shown yet).
    pub(super) fn scenes(
        &mut self,
        live: &LiveView,
        geom: impl Fn(usize) -> Option<layout::SourceGeom>,
    ) -> Result<Vec<Scene>> {
        let (w, h) = self.cfg.size;
        let overlay = Overlay {
            pk: live.pk.as_ref().filter(|_| !self.solo),
            comments: &live.comments,
            poll: live.poll.as_ref(),
            now: Instant::now(),
            size: (w, h),
        };
        let mut scenes = Vec::with_capacity(self.views.len());
        for spec in &self.views {
            let shown = shown_inputs(spec, self.slots.len(), self.solo, &self.cfg.audio_of);
            let cells = layout::cells(self.layout, shown.len(), w, h);
            let slots = &self.slots;
            let tiles: Vec<TileSpec> = shown
                .iter()
                .enumerate()
                .filter_map(|(k, &i)| {
                    geom(i).map(|g| TileSpec { slot: i, placement: layout::place(g, cells[k], slots[i].fit) })
                })
                .collect();
            // A poll is drawn over the cells whose input shows its room's pause slate.
            let paused: Vec<_> = shown
                .iter()
                .zip(&cells)
                .filter(|(&i, _)| slots[i].showing_pause && geom(i).is_some())
                .map(|(_, c)| *c)
                .collect();
            let layers = overlay.layers(&mut self.comp, &mut self.texts, &self.fixed.over, spec, &paused)?;
            let masks =
                spec.mask.as_ref().map(|m| face_masks(m, slots, &tiles, self.fixed.sticker)).unwrap_or_default();
            scenes.push(Scene {
                background: [0.0; 3],
                under: self.fixed.under.clone(),
                tiles,
                layers,
                blurs: self.cfg.overlays.blurs.clone(),
                masks,
                copy_of: spec.copy_of,
                skip: spec.pooled && spec.mask.is_none(),
            });
        }
        Ok(scenes)
    }

    /// Every view's scene for this tick, composed in one submission.
    fn compose(&mut self, live: &LiveView, first_after_activation: bool) -> Result<()> {
        let geoms: Vec<_> = self.slots.iter().map(|s| s.current.as_ref().map(|f| f.geom)).collect();
        let scenes = self.scenes(live, |i| geoms[i])?;
        let sink = &mut self.sink;
        self.comp.render_views(&scenes, self.clock.n, &mut |r| sink.deliver(r))?;
        if first_after_activation {
            // The first merged frame goes out now, not a readback cycle later.
            self.comp.flush(&mut |r| sink.deliver(r))?;
        }
        Ok(())
    }

    fn count_frame(&mut self) {
        let extra_ms = super::live::test_extra_tick_ms();
        if extra_ms > 0 {
            // The test knob: this tick costs that much more, as if the machine were busier.
            std::thread::sleep(std::time::Duration::from_millis(extra_ms as u64));
        }
        let c = &mut self.clock;
        c.advance();
        if let Some(k) = self.cfg.hooks.as_ref().map(|h| &h.counters) {
            k.frames.store(c.composed, Ordering::Relaxed);
        }
        let fps = self.cfg.fps.as_f64();
        if c.composed % (fps as u64 * 10).max(1) == 0 {
            tracing::info!(
                frames = c.composed,
                skipped = c.skipped,
                content_s = format!("{:.1}", c.now()),
                fps = format!("{:.1}", c.composed as f64 / c.elapsed()),
                "rendering"
            );
        }
    }

    /// Counts skipped ticks, and tells when the session starts or stops falling behind.
    fn note_skips(&mut self, skipped: u64) {
        let Some(k) = self.cfg.hooks.as_ref().map(|h| &h.counters) else { return };
        if skipped > 0 {
            k.ticks_skipped.fetch_add(skipped, Ordering::Relaxed);
        }
        let Some(behind) = self.lag.note(self.clock.n, skipped) else { return };
        k.behind.store(behind.is_some(), Ordering::Relaxed);
        match behind {
            Some(percent) => tracing::warn!(
                percent,
                skipped_total = self.clock.skipped,
                "falling behind real time: ticks are being skipped"
            ),
            None => tracing::info!("composing every tick again"),
        }
        if let Some(sink) = self.cfg.hooks.as_ref().map(|h| &h.events) {
            sink(match behind {
                Some(percent) => super::live::JobEvent::FallingBehind { percent },
                None => super::live::JobEvent::CaughtUp,
            });
        }
    }
}

/// The job's views (one made of `outputs` when none are given), checked.
fn checked_views(cfg: &RenderConfig) -> Result<Vec<ViewSpec>> {
    if cfg.inputs.is_empty() {
        return Err(invalid("inputs", "at least one --input is needed"));
    }
    let views = if cfg.views.is_empty() {
        vec![ViewSpec { name: "main".into(), outputs: cfg.outputs.clone(), ..ViewSpec::default() }]
    } else {
        cfg.views.clone()
    };
    if views.iter().any(|v| v.outputs.is_empty() && !v.pooled) {
        return Err(invalid("outputs", "at least one --out is needed"));
    }
    if !(cfg.fits.len() == 1 || cfg.fits.len() == cfg.inputs.len()) {
        return Err(invalid("fit", format!("give one value or one per input ({} inputs)", cfg.inputs.len())));
    }
    Ok(views)
}
