//! One encode per view, each on its own thread behind a short queue: the compositor's thread never
//! waits long on it, and a stalled encoder cannot make frames pile up in memory. Each thread encodes
//! its view's pictures and mixed audio and hands the packets to that view's outputs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use ffmpeg_next as ff;

use super::config::RenderConfig;
use super::encode_thread::{samples_at, EncodeReport, EncodeThread};
use super::live::{JobEvent, LiveState, Stage, StageSink};
use super::report::Timings;
use super::slot::Slot;
use super::view::{shown_inputs, ViewSpec};
use crate::encode::{self, AudioEncoder, MixInput, Mixer, VideoEncoder};
use crate::error::{Error, Result};
use crate::gpu::Ready;
use crate::outputs::{OutputEvent, OutputEvents, Outputs, StreamSetup};
use crate::sys::lock;

/// The encode threads of a job's views, and the channels that feed them new audio track lists
/// (none for an idle rendition).
pub(crate) struct Encoders {
    tracks: Vec<Option<mpsc::Sender<Vec<MixInput>>>>,
    threads: Vec<JoinHandle<Result<EncodeReport>>>,
    pub name: String,
    any_audio: bool,
    out_events: Option<OutputEvents>,
}

/// Where a view's encode starts: the number of its first frame (a keyframe), and the number of
/// its first HLS segment (None: its muxer's own, or where an existing playlist left off).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Start {
    pub frame: u64,
    pub hls_segment: Option<u64>,
}

/// Where finished frames go: each view's encode queue (none for an idle rendition), with the
/// stage times and the live job's first-frame mark taken on the way.
pub(crate) struct FrameSink {
    txs: Vec<Option<mpsc::SyncSender<ff::frame::Video>>>,
    size: (u32, u32),
    pub timings: Timings,
    gauges: Option<StageSink>,
    live: Option<Arc<Mutex<LiveState>>>,
    pub send_err: bool,
    /// Frames (by number) that must be keyframes, in every view.
    keys: std::collections::BTreeSet<u64>,
}

/// The slots' audio as each view hears it.
pub(crate) struct Tracks<'a> {
    pub slots: &'a [Slot],
    pub views: &'a [ViewSpec],
    pub solo: bool,
    pub tapped: bool,
    pub audio_of: &'a [Option<usize>],
}

impl Tracks<'_> {
    pub(super) fn of(&self, v: usize) -> Vec<MixInput> {
        view_tracks(self.slots, v, &self.views[v], self.solo, self.tapped, self.audio_of)
    }
}

impl Encoders {
    /// Opens every view's encoders and outputs and starts their threads (a pooled view's later,
    /// when it is given a rendition).
    pub fn open(cfg: &RenderConfig, tracks: &Tracks<'_>) -> Result<(Encoders, FrameSink)> {
        let out_events: Option<OutputEvents> = cfg.hooks.as_ref().map(|h| {
            let f = h.events.clone();
            Arc::new(move |e: OutputEvent| f(JobEvent::Output(e))) as OutputEvents
        });
        let any_audio = tracks.slots.iter().any(|s| s.input.audio().is_some());
        let mut enc = Encoders { tracks: Vec::new(), threads: Vec::new(), name: String::new(), any_audio, out_events };
        if let Some(slot) = cfg.hooks.as_ref().map(|h| &h.output_stats) {
            lock(slot).clear();
        }
        let mut txs = Vec::new();
        for (v, spec) in tracks.views.iter().enumerate() {
            enc.tracks.push(None);
            txs.push(match spec.pooled {
                true => None,
                false => Some(enc.open_view(cfg, v, &spec.name, &spec.outputs, tracks.of(v), Start::default())?),
            });
        }
        let (stages, state) =
            (cfg.hooks.as_ref().map(|h| h.stages.clone()), cfg.hooks.as_ref().map(|h| h.state.clone()));
        let sink = FrameSink {
            txs,
            size: cfg.size,
            timings: Timings::default(),
            gauges: stages,
            live: state,
            send_err: false,
            keys: Default::default(),
        };
        Ok((enc, sink))
    }

    /// Opens view `v`'s encoders and outputs (a pooled view's when it is given a rendition, at a
    /// keyframe, `start`) and starts its thread; its outputs' counters join the job's under the
    /// view's `name`. Hands back its frame queue.
    pub fn open_view(
        &mut self,
        cfg: &RenderConfig,
        v: usize,
        name: &str,
        urls: &[String],
        tracks: Vec<MixInput>,
        start: Start,
    ) -> Result<mpsc::SyncSender<ff::frame::Video>> {
        let hooks = cfg.hooks.as_ref();
        let global = Outputs::need_global_header(urls);
        let venc = VideoEncoder::open(&cfg.video, global)?;
        let first = start.frame as i64;
        let aenc = match self.any_audio {
            true => Some(AudioEncoder::open(cfg.audio_kbps, global)?.starting_at(samples_at(cfg.fps, first))),
            false => None,
        };
        let setup = StreamSetup::new(venc.encoder(), venc.time_base, aenc.as_ref().map(|a| (a.encoder(), a.time_base)))
            .with_hls_start(start.hls_segment);
        let outputs = Outputs::open(urls, &setup, cfg.realtime, cfg.public_outputs_only, self.out_events.clone())?;
        if let Some(h) = hooks {
            lock(&h.output_stats).extend(outputs.stats().into_iter().map(|(url, st)| (name.to_string(), url, st)));
        }
        let mut mixer = if cfg.realtime { Mixer::live(tracks) } else { Mixer::new(tracks) };
        mixer = mixer.starting_at(samples_at(cfg.fps, first));
        if let (0, Some(h)) = (v, hooks) {
            // Where the first view hears a room's pause or resume (its sound's own edge).
            let f = h.events.clone();
            mixer = mixer.with_marks(Box::new(move |at_s| f(JobEvent::SoundEdge { at_s })));
        }
        self.name = venc.name.to_string();
        let (tx, rx) = mpsc::sync_channel::<ff::frame::Video>(2);
        // New audio track lists (inputs changed while live) go to the mixer in the encode thread.
        let (tracks_tx, tracks_rx) = mpsc::channel::<Vec<MixInput>>();
        let th = EncodeThread {
            rx,
            tracks: tracks_rx,
            venc,
            aenc,
            mixer,
            outputs,
            fps: cfg.fps,
            gauges: hooks.map(|h| h.stages.clone()),
            live: if v == 0 { hooks.map(|h| h.state.clone()) } else { None },
            first_frame: first,
        };
        self.threads.push(std::thread::Builder::new().name(format!("encode {v}")).spawn(move || th.run())?);
        self.tracks[v] = Some(tracks_tx);
        Ok(tx)
    }

    /// Ends pooled view `v`'s encode (its thread finishes once its queue is dropped) and forgets
    /// its outputs' counters.
    pub fn close_view(&mut self, cfg: &RenderConfig, v: usize, name: &str) {
        self.tracks[v] = None;
        if let Some(slot) = cfg.hooks.as_ref().map(|h| &h.output_stats) {
            lock(slot).retain(|(view, _, _)| view != name);
        }
    }

    /// Gives every view's mixer its new track list (inputs changed, or solo switched).
    pub fn set_tracks(&self, tracks: &Tracks<'_>) {
        for (v, tx) in self.tracks.iter().enumerate() {
            if let Some(tx) = tx {
                let _ = tx.send(tracks.of(v));
            }
        }
    }

    /// Waits for every encode thread (their queues must be closed first: drop the [`FrameSink`]).
    pub fn finish(self) -> Result<EncodeReport> {
        let mut out = EncodeReport { encode_ms: Vec::new(), failed: Vec::new() };
        for th in self.threads {
            let enc = th.join().map_err(|_| Error::StageGone { stage: "encode" })??;
            if out.encode_ms.is_empty() {
                out.encode_ms = enc.encode_ms;
            }
            out.failed.extend(enc.failed);
        }
        Ok(out)
    }
}

impl FrameSink {
    /// Closes the encode queues (the encode threads finish what they have) and hands back the
    /// times gathered, and whether an encode thread had gone.
    pub fn close(self) -> (Timings, bool) {
        (self.timings, self.send_err)
    }

    /// Frame `n` is encoded as a keyframe (an IDR) in every view.
    pub fn force_key(&mut self, n: u64) {
        self.keys.insert(n);
    }

    /// Whether frame `n` was asked to be a keyframe.
    pub fn forced(&self, n: u64) -> bool {
        self.keys.contains(&n)
    }

    /// Pooled view `v` gets its frames from now on (None: no more; its encode finishes).
    pub fn set_view(&mut self, v: usize, tx: Option<mpsc::SyncSender<ff::frame::Video>>) {
        self.txs[v] = tx;
    }

    /// Takes one finished view frame from the compositor into its encode queue.
    pub fn deliver(&mut self, r: Ready<'_>) -> Result<()> {
        let t0 = Instant::now();
        let (w, h) = self.size;
        let mut f = encode::video::nv12_frame(w, h);
        encode::video::fill_nv12(&mut f, r.nv12);
        f.set_pts(Some(r.tag as i64));
        if self.keys.contains(&r.tag) {
            f.set_kind(ff::picture::Type::I);
        }
        // Frames come back in order: older marks are done with.
        self.keys.retain(|k| *k + 8 >= r.tag);
        let t = &mut self.timings;
        if r.view == 0 {
            t.readback.push((r.wait_ms + t0.elapsed().as_secs_f64() * 1e3) as f32);
        }
        if let Some(g) = r.gpu {
            t.composite.push(g.composite_ms as f32);
            if let Some(s) = &self.gauges {
                s(Stage::Composite, g.composite_ms);
            }
            if g.blur_ms > 0.0 {
                t.blur.push(g.blur_ms as f32);
            }
        }
        // A rendition retired while this frame was on its way: nobody wants it.
        let Some(tx) = &self.txs[r.view] else { return Ok(()) };
        if tx.send(f).is_err() {
            self.send_err = true;
            return Err(Error::StageGone { stage: "encode" });
        }
        if r.view == 0 {
            if let Some(l) = &self.live {
                let mut l = lock(l);
                if l.activated.is_some() && l.first_frame.is_none() {
                    l.first_frame = Some(Instant::now());
                }
            }
        }
        Ok(())
    }
}

/// A view's audio mix: each shown input's audio at its gain (solo: only the view's own anchor), and
/// the inputs that carry more audio of a shown anchor, fused with it by timestamp.
fn view_tracks(
    slots: &[Slot],
    view: usize,
    spec: &ViewSpec,
    solo: bool,
    tapped: bool,
    audio_of: &[Option<usize>],
) -> Vec<MixInput> {
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
