//! One thread per input: demux with FFmpeg, decode video and audio, hand the results to rings.
//!
//! Video frames keep the decoder's own buffers (no CPU copy or conversion for YUV 4:2:0/4:2:2/4:4:4 and
//! NV12); anything else goes through swscale to YUV420P with a warning. Audio is resampled to 48 kHz
//! stereo f32 here, so the mixer only adds numbers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ff::format::Pixel;
use ff::util::channel_layout::ChannelLayout;
use ffmpeg_next as ff;

use crate::error::{Error, Result};
use crate::media::frame::{DecoderCount, FrameMemory};
use crate::media::{
    AudioChunk, Matrix, Overflow, PlaneLayout, Ring, SourceGeom, VideoFrame, AUDIO_CHANNELS, AUDIO_RATE,
};
use crate::sys::lower_thread_priority;

#[derive(Clone, Debug)]
pub struct InputOptions {
    /// Live sources drop the oldest frames when the consumer falls behind; files block instead.
    pub live: bool,
    /// Decoder threads; 0 lets FFmpeg choose.
    pub decode_threads: usize,
    /// Depth of the decoded-frame ring (the most it holds when a memory budget is set).
    pub ring_frames: usize,
    /// Memory budget of the ring in bytes (0: always `ring_frames`): once the frame size is known the
    /// ring holds as many frames as fit, from 1 when memory is tight up to `ring_frames`.
    pub ring_budget_bytes: u64,
    /// Nice value for the decode thread and the codec's worker threads (0 = unchanged). The encoder
    /// is the pipeline's serial bottleneck; decoders have rings to absorb a delay.
    pub nice: i32,
    /// Network inputs reopen with backoff when they end or fail, until the input is dropped.
    pub reconnect: bool,
    /// FFmpeg's `protocol_whitelist` for URL inputs (None: any protocol, as a local command line
    /// wants; the service restricts what a request may make it open).
    pub protocols: Option<&'static str>,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            live: false,
            decode_threads: 0,
            ring_frames: 4,
            ring_budget_bytes: 0,
            nice: 0,
            reconnect: false,
            protocols: None,
        }
    }
}

/// What is known about an input once it is open.
#[derive(Clone, Debug)]
pub struct InputInfo {
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub rotation: u32,
    pub has_audio: bool,
    /// Container duration in seconds, when the container says.
    pub duration: Option<f64>,
}

/// Connection state of an input, readable while it runs.
#[derive(Default, Debug)]
pub struct InputState {
    pub connected: AtomicBool,
    pub reconnects: std::sync::atomic::AtomicU64,
    /// Decoded video frames (for fps in the metrics).
    pub frames: std::sync::atomic::AtomicU64,
    /// Bytes of compressed video and audio read (for bitrate in the metrics).
    pub bytes: std::sync::atomic::AtomicU64,
}

/// A room's picture and sound across publishes: rings (and a connection flag) that outlive each
/// publisher's decoder, so whoever composes the room keeps its last frame while the anchor is away
/// and resumes when they publish again.
pub struct Feed {
    pub video: Arc<Ring<VideoFrame>>,
    pub audio: Arc<Ring<AudioChunk>>,
    pub state: Arc<InputState>,
}

impl Feed {
    pub fn new(ring_frames: usize) -> Arc<Feed> {
        Arc::new(Feed {
            video: Arc::new(Ring::new(ring_frames.max(1), Overflow::DropOldest)),
            audio: Arc::new(Ring::new(512, Overflow::DropOldest)),
            state: Arc::default(),
        })
    }
}

/// A running input: its decode thread and the rings it fills.
pub struct Input {
    pub info: InputInfo,
    pub state: Arc<InputState>,
    /// False when the rings belong to a [`Feed`] and must outlive this decoder.
    owns_rings: bool,
    pub video: Arc<Ring<VideoFrame>>,
    pub audio: Option<Arc<Ring<AudioChunk>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.owns_rings {
            self.video.close_and_clear();
            if let Some(a) = &self.audio {
                a.close_and_clear();
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Clockwise display rotation from the stream's display matrix, snapped to a quarter turn.
fn stream_rotation(stream: &ff::format::stream::Stream) -> u32 {
    for sd in stream.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix && sd.data().len() >= 36 {
            // SAFETY: a display matrix is nine i32s; the slice is at least that long.
            let ccw = unsafe { ff::ffi::av_display_rotation_get(sd.data().as_ptr() as *const i32) };
            if ccw.is_nan() {
                return 0;
            }
            let cw = (-ccw).rem_euclid(360.0);
            return (((cw / 90.0).round() as u32) % 4) * 90;
        }
    }
    0
}

fn plane_layout(p: Pixel) -> Option<(PlaneLayout, bool)> {
    Some(match p {
        Pixel::YUV420P => (PlaneLayout::Planar { sx: 2, sy: 2 }, false),
        Pixel::YUVJ420P => (PlaneLayout::Planar { sx: 2, sy: 2 }, true),
        Pixel::YUV422P => (PlaneLayout::Planar { sx: 2, sy: 1 }, false),
        Pixel::YUVJ422P => (PlaneLayout::Planar { sx: 2, sy: 1 }, true),
        Pixel::YUV444P => (PlaneLayout::Planar { sx: 1, sy: 1 }, false),
        Pixel::YUVJ444P => (PlaneLayout::Planar { sx: 1, sy: 1 }, true),
        Pixel::NV12 => (PlaneLayout::Nv12, false),
        _ => return None,
    })
}

/// Opens `url` (file, rtmp://, http HLS, anything FFmpeg reads) on its own decode thread and waits
/// until it is open (or failed), so errors surface here. The codec is opened on that thread too, so
/// its worker threads share the thread's priority.
pub fn open(url: &str, opts: &InputOptions) -> Result<Input> {
    start(url, None, opts, None)
}

/// Decodes `reader` (an RTMP publisher's FLV) into a room's [`Feed`]. Dropping the returned input
/// stops this decoder and leaves the feed's rings and last frame alone.
pub fn open_reader_into(
    name: &str,
    format: &'static str,
    reader: impl std::io::Read + Send + 'static,
    opts: &InputOptions,
    feed: &Arc<Feed>,
) -> Result<Input> {
    start(name, Some((format, Box::new(reader))), opts, Some(feed.clone()))
}

/// Opens an input whose bytes come from `reader` in `format` (e.g. the FLV stream of an RTMP
/// publisher), named `name` in logs and errors.
pub fn open_reader(
    name: &str,
    format: &'static str,
    reader: impl std::io::Read + Send + 'static,
    opts: &InputOptions,
) -> Result<Input> {
    start(name, Some((format, Box::new(reader))), opts, None)
}

type Reader = (&'static str, Box<dyn std::io::Read + Send>);

fn start(url: &str, reader: Option<Reader>, opts: &InputOptions, feed: Option<Arc<Feed>>) -> Result<Input> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (u, o) = (url.to_string(), opts.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let owns_rings = feed.is_none();
    let state = feed.as_ref().map(|f| f.state.clone()).unwrap_or_default();
    let state2 = state.clone();
    let thread = std::thread::Builder::new().name(format!("decode {}", short(url))).spawn(move || {
        lower_thread_priority(o.nice);
        match open_here(&u, reader, &o, stop2, state2, feed) {
            Ok((info, video, audio, worker)) => {
                let _ = tx.send(Ok((info, video, audio)));
                worker.run();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    })?;
    match rx.recv() {
        Ok(Ok((info, video, audio))) => Ok(Input { info, state, owns_rings, video, audio, stop, thread: Some(thread) }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(Error::StageGone { stage: "decode" })
        }
    }
}

type Opened = (InputInfo, Arc<Ring<VideoFrame>>, Option<Arc<Ring<AudioChunk>>>, Worker);

/// An open container with its decoders: what a (re)connection produces.
struct Connected {
    ictx: ff::format::context::Input,
    vidx: usize,
    vtb: ff::Rational,
    vdec: ff::decoder::Video,
    adec: Option<(usize, ff::Rational, ff::decoder::Audio)>,
    t0: Option<f64>,
    rotation: u32,
    info: InputInfo,
}

fn connect(url: &str, reader: Option<Reader>, opts: &InputOptions, stop: &Arc<AtomicBool>) -> Result<Connected> {
    let mut dict = ff::Dictionary::new();
    if url.starts_with("rtmp") || url.starts_with("http") {
        // Network reads must not hang forever on a dead peer, and a live stream should start after
        // a second of probing, not FFmpeg's default five.
        dict.set("rw_timeout", "10000000");
        dict.set("analyzeduration", "1000000");
        tracing::info!(url, "connecting to input");
    }
    if let Some(p) = opts.protocols {
        dict.set("protocol_whitelist", p);
    }
    // Closing the input (stop) interrupts a blocked network read at once instead of after rw_timeout.
    let interrupt = stop.clone();
    let stopped = move || interrupt.load(Ordering::Relaxed);
    let ictx = match reader {
        None => ff::format::input_with_interrupt_and_dictionary(&url, stopped, dict),
        Some((format, r)) => {
            // A publisher's live stream: start after half a second of probing, not five.
            let mut d = ff::Dictionary::new();
            d.set("analyzeduration", "500000");
            ff::format::context::StreamIo::from_read(r)
                .and_then(|io| ff::format::input_from_stream_with_interrupt(io, Some(format), Some(d), stopped))
        }
    }
    .map_err(|source| Error::OpenInput { url: url.into(), source })?;
    let vstream = ictx.streams().best(ff::media::Type::Video).ok_or_else(|| Error::NoVideo { url: url.into() })?;
    let vidx = vstream.index();
    let rotation = stream_rotation(&vstream);
    let vtb = vstream.time_base();
    let fps = {
        let r = vstream.avg_frame_rate();
        if r.denominator() != 0 && r.numerator() > 0 {
            f64::from(r)
        } else {
            f64::from(vstream.rate())
        }
    };
    let mut vctx = ff::codec::context::Context::from_parameters(vstream.parameters())
        .map_err(|source| Error::Decoder { url: url.into(), source })?;
    vctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: opts.decode_threads,
        ..Default::default()
    });
    let vdec = vctx.decoder().video().map_err(|source| Error::Decoder { url: url.into(), source })?;
    let astream = ictx.streams().best(ff::media::Type::Audio);
    let adec = match &astream {
        Some(s) => ff::codec::context::Context::from_parameters(s.parameters())
            .and_then(|c| c.decoder().audio())
            .map(|d| Some((s.index(), s.time_base(), d)))
            .unwrap_or_else(|e| {
                tracing::warn!(url, error = %e, "audio stream cannot be decoded; input is treated as silent");
                None
            }),
        None => None,
    };
    // SAFETY: reading a plain field of the open format context.
    let start = unsafe { (*ictx.as_ptr()).start_time };
    let t0 =
        if start == ff::ffi::AV_NOPTS_VALUE { None } else { Some(start as f64 / f64::from(ff::ffi::AV_TIME_BASE)) };
    let duration = (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    let info = InputInfo {
        url: url.into(),
        width: vdec.width(),
        height: vdec.height(),
        fps,
        rotation,
        has_audio: adec.is_some(),
        duration,
    };
    tracing::info!(
        url,
        width = info.width,
        height = info.height,
        fps,
        rotation,
        audio = info.has_audio,
        "input opened"
    );
    Ok(Connected { ictx, vidx, vtb, vdec, adec, t0, rotation, info })
}

/// A live stream joined between keyframes can probe as audio only: nginx-rtmp and similar relays
/// send a new subscriber video from the next keyframe, which may be seconds after the second of
/// probing. A network input probes again until video shows up, for as long as a long GOP lasts.
fn connect_with_video(url: &str, opts: &InputOptions, stop: &Arc<AtomicBool>) -> Result<Connected> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        match connect(url, None, opts, stop) {
            Err(Error::NoVideo { .. }) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {
                tracing::info!(
                    url,
                    "no video in the probed part of the stream yet (joined between keyframes); probing again"
                );
            }
            r => return r,
        }
    }
}

fn open_here(
    url: &str,
    reader: Option<Reader>,
    opts: &InputOptions,
    stop: Arc<AtomicBool>,
    state: Arc<InputState>,
    feed: Option<Arc<Feed>>,
) -> Result<Opened> {
    let network = reader.is_none() && url.contains("://") && !url.starts_with("file:");
    let c = if network { connect_with_video(url, opts, &stop)? } else { connect(url, reader, opts, &stop)? };
    let info = c.info.clone();
    let overflow = if opts.live { Overflow::DropOldest } else { Overflow::Block };
    let owns_rings = feed.is_none();
    let (video, audio) = match feed {
        Some(f) => (f.video.clone(), Some(f.audio.clone())),
        None => (
            Arc::new(Ring::new(opts.ring_frames.max(1), overflow)),
            // Audio is tiny (384 kB/s) and must never make the demuxer wait while video is consumed:
            // keep several seconds. Live inputs always get a track, as a reconnection may bring audio.
            (c.adec.is_some() || opts.live).then(|| Arc::new(Ring::new(512, overflow))),
        ),
    };
    state.connected.store(true, Ordering::Relaxed);
    let worker = Worker {
        url: url.to_string(),
        conn: c,
        video: video.clone(),
        audio: audio.clone(),
        stop,
        reconnect: opts.reconnect && network,
        opts: opts.clone(),
        state,
        owns_rings,
    };
    Ok((info, video, audio, worker))
}

fn short(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).chars().take(12).collect()
}

struct Worker {
    url: String,
    conn: Connected,
    video: Arc<Ring<VideoFrame>>,
    audio: Option<Arc<Ring<AudioChunk>>>,
    stop: Arc<AtomicBool>,
    reconnect: bool,
    opts: InputOptions,
    state: Arc<InputState>,
    owns_rings: bool,
}

struct VideoState {
    seq: u64,
    scaler: Option<(ff::software::scaling::Context, Pixel, u32, u32)>,
    warned: bool,
    busy: f32,
}

struct AudioState {
    resampler: Option<ff::software::resampling::Context>,
    next_pos: Option<i64>,
}

impl Worker {
    fn run(mut self) {
        let _span = tracing::info_span!("decode", url = %self.url).entered();
        let _running = DecoderCount::new();
        let mut vs = VideoState { seq: 0, scaler: None, warned: false, busy: 0.0 };
        let mut aud = AudioState { resampler: None, next_pos: None };
        loop {
            self.demux(&mut vs, &mut aud);
            let _ = self.conn.vdec.send_eof();
            self.drain_video(&mut vs);
            if let Some((_, _, dec)) = self.conn.adec.as_mut() {
                let _ = dec.send_eof();
                self.drain_audio(&mut aud);
            }
            if !self.reconnect || self.stop.load(Ordering::Relaxed) || !self.reopen() {
                break;
            }
            // A new connection has its own timeline and maybe another audio format.
            aud = AudioState { resampler: None, next_pos: None };
        }
        self.state.connected.store(false, Ordering::Relaxed);
        if self.owns_rings {
            self.video.close();
            if let Some(a) = &self.audio {
                a.close();
            }
        }
        tracing::debug!(frames = vs.seq, "input finished");
    }

    /// Reopens a lost network input with backoff (0.5 s doubling to 10 s) until it answers or the
    /// input is dropped. The last frame stays on screen meanwhile.
    fn reopen(&mut self) -> bool {
        self.state.connected.store(false, Ordering::Relaxed);
        tracing::warn!(url = %self.url, "input lost; reconnecting");
        let mut backoff = Duration::from_millis(500);
        loop {
            let until = Instant::now() + backoff;
            while Instant::now() < until {
                if self.stop.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            match connect(&self.url, None, &self.opts, &self.stop) {
                Ok(c) => {
                    self.conn = c;
                    self.state.connected.store(true, Ordering::Relaxed);
                    self.state.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(url = %self.url, "input back");
                    return true;
                }
                Err(e) => {
                    tracing::debug!(url = %self.url, error = %e, "reconnect failed");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Reads and decodes until the end of the stream, a persistent error, or stop.
    fn demux(&mut self, vs: &mut VideoState, aud: &mut AudioState) {
        let mut errors = 0u32;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.conn.ictx) {
                Ok(()) => {}
                Err(ff::Error::Eof) => break,
                Err(e) => {
                    // Corrupt data or a network hiccup: skip, but give up on a stream that only errs.
                    errors += 1;
                    if errors > 100 {
                        tracing::warn!(error = %e, "input keeps failing; closing it");
                        break;
                    }
                    continue;
                }
            }
            let idx = packet.stream();
            self.state.bytes.fetch_add(packet.size() as u64, Ordering::Relaxed);
            if idx == self.conn.vidx {
                let t = Instant::now();
                if let Err(e) = self.conn.vdec.send_packet(&packet) {
                    tracing::debug!(error = %e, "video packet rejected by the decoder");
                }
                vs.busy += t.elapsed().as_secs_f32() * 1e3;
                if !self.drain_video(vs) {
                    self.stop.store(true, Ordering::Relaxed);
                    break;
                }
            } else if let Some((aidx, _, dec)) = self.conn.adec.as_mut() {
                if idx == *aidx {
                    if let Err(e) = dec.send_packet(&packet) {
                        tracing::debug!(error = %e, "audio packet rejected by the decoder");
                    }
                    if !self.drain_audio(aud) {
                        self.stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }

    fn rel_time(&mut self, ts: Option<i64>, tb: ff::Rational) -> Option<f64> {
        let ts = ts?;
        let secs = ts as f64 * f64::from(tb);
        let t0 = *self.conn.t0.get_or_insert(secs);
        Some(secs - t0)
    }

    /// Returns false when the consumer closed the ring.
    fn drain_video(&mut self, vs: &mut VideoState) -> bool {
        loop {
            let t = Instant::now();
            let mut frame = ff::frame::Video::empty();
            if self.conn.vdec.receive_frame(&mut frame).is_err() {
                vs.busy += t.elapsed().as_secs_f32() * 1e3;
                return true;
            }
            let ts = frame.timestamp().or(frame.pts());
            let Some(pts) = self.rel_time(ts, self.conn.vtb) else { continue };
            let format = frame.format();
            let (layout, mut full) = match plane_layout(format) {
                Some(l) => l,
                None => {
                    if !vs.warned {
                        tracing::warn!(format = ?format, "pixel format not uploaded directly; converting to yuv420p on the CPU");
                        vs.warned = true;
                    }
                    let (w, h) = (frame.width(), frame.height());
                    let rebuild = !matches!(&vs.scaler, Some((_, f, sw, sh)) if *f == format && *sw == w && *sh == h);
                    if rebuild {
                        match ff::software::scaling::Context::get(
                            format,
                            w,
                            h,
                            Pixel::YUV420P,
                            w,
                            h,
                            ff::software::scaling::Flags::BILINEAR,
                        ) {
                            Ok(s) => vs.scaler = Some((s, format, w, h)),
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot convert pixel format; frame dropped");
                                continue;
                            }
                        }
                    }
                    let mut out = ff::frame::Video::empty();
                    let Some((s, ..)) = vs.scaler.as_mut() else { continue };
                    if s.run(&frame, &mut out).is_err() {
                        continue;
                    }
                    out.set_color_space(frame.color_space());
                    out.set_color_range(frame.color_range());
                    frame = out;
                    (PlaneLayout::Planar { sx: 2, sy: 2 }, false)
                }
            };
            if frame.color_range() == ff::util::color::Range::JPEG {
                full = true;
            }
            let sar = frame.aspect_ratio();
            let sar = if sar.numerator() > 0 && sar.denominator() > 0 { f64::from(sar) as f32 } else { 1.0 };
            let geom = SourceGeom { width: frame.width(), height: frame.height(), rotation: self.conn.rotation, sar };
            let matrix = Matrix::from_stream(frame.color_space(), frame.height());
            vs.seq += 1;
            let decode_ms = vs.busy + t.elapsed().as_secs_f32() * 1e3;
            vs.busy = 0.0;
            let bytes: usize = (0..frame.planes()).map(|i| frame.data(i).len()).sum();
            if vs.seq == 1 && self.opts.ring_budget_bytes > 0 {
                let fit = (self.opts.ring_budget_bytes / bytes.max(1) as u64) as usize;
                let depth = fit.clamp(1, self.opts.ring_frames.max(1));
                self.video.set_capacity(depth);
                tracing::info!(url = %self.url, frame_bytes = bytes, depth, "ring sized by the memory budget");
            }
            let vf = VideoFrame {
                frame,
                pts,
                seq: vs.seq,
                geom,
                layout,
                matrix,
                full_range: full,
                decode_ms,
                mem: FrameMemory::new(bytes),
            };
            self.state.frames.fetch_add(1, Ordering::Relaxed);
            if !self.video.push(vf) {
                return false;
            }
        }
    }

    fn drain_audio(&mut self, st: &mut AudioState) -> bool {
        let Some((_, atb, _)) = self.conn.adec.as_ref() else { return true };
        let atb = *atb;
        loop {
            let mut frame = ff::frame::Audio::empty();
            {
                let Some((_, _, dec)) = self.conn.adec.as_mut() else { return true };
                if dec.receive_frame(&mut frame).is_err() {
                    return true;
                }
            }
            if frame.samples() == 0 {
                continue;
            }
            if frame.channel_layout().is_empty() {
                frame.set_channel_layout(ChannelLayout::default(frame.channels() as i32));
            }
            if st.resampler.is_none() {
                match ff::software::resampling::Context::get(
                    frame.format(),
                    frame.channel_layout(),
                    frame.rate(),
                    ff::format::Sample::F32(ff::format::sample::Type::Packed),
                    ChannelLayout::STEREO,
                    AUDIO_RATE,
                ) {
                    Ok(r) => st.resampler = Some(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot resample audio; input is treated as silent");
                        self.conn.adec = None;
                        if let Some(a) = &self.audio {
                            a.close();
                        }
                        return true;
                    }
                }
            }
            let Some(rs) = st.resampler.as_mut() else { return true };
            let cap = (frame.samples() as u64 * AUDIO_RATE as u64 / frame.rate().max(1) as u64) as usize + 256;
            let mut out = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                cap,
                ChannelLayout::STEREO,
            );
            out.set_rate(AUDIO_RATE);
            if rs.run(&frame, &mut out).is_err() {
                continue;
            }
            let n = out.samples();
            if n == 0 {
                continue;
            }
            let bytes = &out.data(0)[..n * AUDIO_CHANNELS * 4];
            let samples: Vec<f32> = bytemuck::pod_collect_to_vec(bytes);
            let ts = frame.timestamp().or(frame.pts());
            let by_pts = self.rel_time(ts, atb).map(|s| (s * AUDIO_RATE as f64).round() as i64);
            // Audio is laid end to end; timestamps only re-anchor it after a real gap or jump (>100 ms).
            let pos = match (st.next_pos, by_pts) {
                (Some(next), Some(p)) if (p - next).abs() > AUDIO_RATE as i64 / 10 => p,
                (Some(next), _) => next,
                (None, Some(p)) => p,
                (None, None) => 0,
            };
            st.next_pos = Some(pos + n as i64);
            if let Some(a) = &self.audio {
                let stream_ts = ts.map(|t| t as f64 * f64::from(atb));
                if !a.push(AudioChunk { pos, stream_ts, samples }) {
                    return false;
                }
            }
        }
    }
}
