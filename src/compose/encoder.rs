//! One encode per view, each on its own thread behind a short queue: the compositor's thread never
//! waits long on it, and a stalled encoder cannot make frames pile up in memory. Each thread encodes
//! its view's pictures and mixed audio and hands the packets to that view's outputs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use ffmpeg_next as ff;

use super::config::{Fps, RenderConfig};
use super::live::{JobEvent, LiveState, Stage, StageSink};
use super::report::Timings;
use super::slot::Slot;
use super::view::{shown_inputs, ViewSpec};
use crate::encode::audio::AAC_FRAME;
use crate::encode::{self, AudioEncoder, MixInput, Mixer, VideoEncoder};
use crate::error::{Error, Result};
use crate::gpu::Ready;
use crate::media::AUDIO_RATE;
use crate::outputs::{OutputEvent, OutputEvents, Outputs, StreamSetup, Track};
use crate::sys::lock;

/// What an encode thread reports when it ends.
pub(crate) struct EncodeReport {
    pub encode_ms: Vec<f32>,
    pub failed: Vec<String>,
}

/// The encode threads of a job's views, and the channels that feed them new audio track lists.
pub(crate) struct Encoders {
    tracks: Vec<mpsc::Sender<Vec<MixInput>>>,
    threads: Vec<JoinHandle<Result<EncodeReport>>>,
    pub name: String,
}

/// Where finished frames go: each view's encode queue, with the stage times and the live job's
/// first-frame mark taken on the way.
pub(crate) struct FrameSink {
    txs: Vec<mpsc::SyncSender<ff::frame::Video>>,
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
    fn of(&self, v: usize) -> Vec<MixInput> {
        view_tracks(self.slots, v, &self.views[v], self.solo, self.tapped, self.audio_of)
    }
}

impl Encoders {
    /// Opens every view's encoders and outputs and starts their threads.
    pub fn open(cfg: &RenderConfig, tracks: &Tracks<'_>) -> Result<(Encoders, FrameSink)> {
        let any_audio = tracks.slots.iter().any(|s| s.input.audio().is_some());
        let out_events: Option<OutputEvents> = cfg.hooks.as_ref().map(|h| {
            let f = h.events.clone();
            Arc::new(move |e: OutputEvent| f(JobEvent::Output(e))) as OutputEvents
        });
        let (stages, state) =
            (cfg.hooks.as_ref().map(|h| h.stages.clone()), cfg.hooks.as_ref().map(|h| h.state.clone()));
        let mut enc = Encoders { tracks: Vec::new(), threads: Vec::new(), name: String::new() };
        let mut txs = Vec::new();
        let mut all_stats = Vec::new();
        for (v, spec) in tracks.views.iter().enumerate() {
            let global = Outputs::need_global_header(&spec.outputs);
            let venc = VideoEncoder::open(&cfg.video, global)?;
            let aenc = if any_audio { Some(AudioEncoder::open(cfg.audio_kbps, global)?) } else { None };
            let setup =
                StreamSetup::new(venc.encoder(), venc.time_base, aenc.as_ref().map(|a| (a.encoder(), a.time_base)));
            let outputs =
                Outputs::open(&spec.outputs, &setup, cfg.realtime, cfg.public_outputs_only, out_events.clone())?;
            all_stats.extend(outputs.stats().into_iter().map(|(url, st)| (spec.name.clone(), url, st)));
            let t = tracks.of(v);
            let mut mixer = if cfg.realtime { Mixer::live(t) } else { Mixer::new(t) };
            if let (0, Some(h)) = (v, &cfg.hooks) {
                // Where the first view hears a room's pause or resume (its sound's own edge).
                let f = h.events.clone();
                mixer = mixer.with_marks(Box::new(move |at_s| f(JobEvent::SoundEdge { at_s })));
            }
            enc.name = venc.name.to_string();
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
                gauges: stages.clone(),
                live: if v == 0 { state.clone() } else { None },
            };
            enc.threads.push(std::thread::Builder::new().name(format!("encode {v}")).spawn(move || th.run())?);
            txs.push(tx);
            enc.tracks.push(tracks_tx);
        }
        if let Some(slot) = cfg.hooks.as_ref().map(|h| &h.output_stats) {
            *lock(slot) = all_stats;
        }
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

    /// Gives every view's mixer its new track list (inputs changed, or solo switched).
    pub fn set_tracks(&self, tracks: &Tracks<'_>) {
        for (v, tx) in self.tracks.iter().enumerate() {
            let _ = tx.send(tracks.of(v));
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
        if self.txs[r.view].send(f).is_err() {
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

/// One view's encode thread: pictures in, packets out to the view's outputs, audio mixed in step.
struct EncodeThread {
    rx: mpsc::Receiver<ff::frame::Video>,
    tracks: mpsc::Receiver<Vec<MixInput>>,
    venc: VideoEncoder,
    aenc: Option<AudioEncoder>,
    mixer: Mixer,
    outputs: Outputs,
    fps: Fps,
    gauges: Option<StageSink>,
    live: Option<Arc<Mutex<LiveState>>>,
}

impl EncodeThread {
    fn run(self) -> Result<EncodeReport> {
        let EncodeThread { rx, tracks, mut venc, mut aenc, mut mixer, mut outputs, fps, gauges, live } = self;
        let _span = tracing::info_span!("encode").entered();
        let mut packets = Vec::new();
        let mut encode_ms = Vec::new();
        let mut frames: i64 = 0;
        let samples_at = |frame: i64| frame * AUDIO_RATE as i64 * fps.den as i64 / fps.num as i64;
        let pump_audio = |aenc: &mut Option<AudioEncoder>,
                          mixer: &mut Mixer,
                          outputs: &mut Outputs,
                          until: i64,
                          finishing: bool|
         -> Result<()> {
            let Some(a) = aenc.as_mut() else { return Ok(()) };
            let mut pk = Vec::new();
            while mixer.position() < until {
                let n = ((until - mixer.position()) as usize).min(AAC_FRAME);
                if n < AAC_FRAME && !finishing {
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
                g(Stage::Encode, ms as f64);
            }
            if !packets.is_empty() {
                if let Some(l) = &live {
                    let mut l = lock(l);
                    if l.activated.is_some() && l.first_packet.is_none() {
                        l.first_packet = Some(Instant::now());
                    }
                }
            }
            for p in packets.drain(..) {
                outputs.write(Track::Video, &p, venc.time_base);
            }
            // Audio follows the frame's timestamp, not the frame count: ticks a late live job
            // skipped still get their audio.
            frames = frame.pts().map_or(frames + 1, |p| p + 1).max(frames + 1);
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
