//! One thread per input: demux with FFmpeg, decode video and audio, hand the results to rings.
//!
//! Video frames keep the decoder's own buffers (no CPU copy or conversion for YUV 4:2:0/4:2:2/4:4:4 and
//! NV12); anything else goes through swscale to YUV420P with a warning. Audio is resampled to 48 kHz
//! stereo f32 here, so the mixer only adds numbers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::connect::{connect, connect_with_video, Connected, Reader};
use super::feed::{Feed, Sink};
pub use super::options::{InputInfo, InputOptions, InputState, Playpath};
use crate::error::{Error, Result};
use crate::media::frame::DecoderCount;
use crate::media::{AudioChunk, Overflow, Ring, VideoFrame};
use crate::sys::{lower_thread_priority, redact_url};

/// A decode thread; dropping it stops the thread and waits for it.
struct DecodeThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for DecodeThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running input: its decode thread and the rings it fills.
pub struct Input {
    pub info: InputInfo,
    pub state: Arc<InputState>,
    pub video: Arc<Ring<Arc<VideoFrame>>>,
    pub audio: Option<Arc<Ring<AudioChunk>>>,
    _thread: DecodeThread,
}

impl Drop for Input {
    fn drop(&mut self) {
        self.video.close_and_clear();
        if let Some(a) = &self.audio {
            a.close_and_clear();
        }
    }
}

/// A publisher's decoder filling its room's [`Feed`]; dropping it stops the decoder and leaves the
/// feed (its readers and last frame) alone.
pub struct FeedDecoder {
    pub info: InputInfo,
    _thread: DecodeThread,
}

/// Opens `url` (file, rtmp://, http HLS, anything FFmpeg reads) on its own decode thread and waits
/// until it is open (or failed), so errors surface here. The codec is opened on that thread too, so
/// its worker threads share the thread's priority.
pub fn open(url: &str, opts: &InputOptions) -> Result<Input> {
    own(start(url, None, opts, None)?)
}

/// Decodes `reader` (an RTMP publisher's FLV) into a room's [`Feed`], as its `source`.
pub fn open_reader_into(
    name: &str,
    format: &'static str,
    reader: impl std::io::Read + Send + 'static,
    opts: &InputOptions,
    (feed, source): (&Arc<Feed>, &str),
) -> Result<FeedDecoder> {
    let into = Some((feed.clone(), Arc::from(source)));
    let (info, _, _, thread) = start(name, Some((format, Box::new(reader))), opts, into)?;
    Ok(FeedDecoder { info, _thread: thread })
}

/// Pulls `url` (an RTMP tier's stream of a room, e.g. nginx-rtmp's) into a room's [`Feed`], as its
/// `source`; reconnects as a pulled input does, until the decoder is dropped.
pub fn open_url_into(url: &str, opts: &InputOptions, (feed, source): (&Arc<Feed>, &str)) -> Result<FeedDecoder> {
    let into = Some((feed.clone(), Arc::from(source)));
    let (info, _, _, thread) = start(url, None, opts, into)?;
    Ok(FeedDecoder { info, _thread: thread })
}

/// Opens an input whose bytes come from `reader` in `format` (e.g. the FLV stream of an RTMP
/// publisher), named `name` in logs and errors.
pub fn open_reader(
    name: &str,
    format: &'static str,
    reader: impl std::io::Read + Send + 'static,
    opts: &InputOptions,
) -> Result<Input> {
    own(start(name, Some((format, Box::new(reader))), opts, None)?)
}

fn own((info, sink, state, thread): Started) -> Result<Input> {
    match sink {
        Sink::Own { video, audio } => Ok(Input { info, state, video, audio, _thread: thread }),
        Sink::Feed(..) => Err(Error::StageGone { stage: "decode" }),
    }
}

/// An open input: what is known of it, where its frames go, its state and its thread.
type Started = (InputInfo, Sink, Arc<InputState>, DecodeThread);

/// A room's feed and the source a decoder fills in it.
type FeedSource = (Arc<Feed>, Arc<str>);

fn start(url: &str, reader: Option<Reader>, opts: &InputOptions, feed: Option<FeedSource>) -> Result<Started> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (u, o) = (url.to_string(), opts.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let state: Arc<InputState> = feed.as_ref().map(|f| f.0.state.clone()).unwrap_or_default();
    let state2 = state.clone();
    // (A URL's last part may be a stream key: it never names the thread.)
    let shown = if reader.is_some() { short(url) } else { short(&crate::sys::redact_url(url)) };
    let thread = std::thread::Builder::new().name(format!("decode {shown}")).spawn(move || {
        lower_thread_priority(o.nice);
        crate::policy::resolve::public_only_on_this_thread(o.public_only && reader.is_none());
        match open_here(&u, reader, &o, stop2, state2, feed) {
            Ok((info, sink, worker)) => {
                let _ = tx.send(Ok((info, sink)));
                worker.run();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    })?;
    let thread = DecodeThread { stop, thread: Some(thread) };
    match rx.recv() {
        Ok(Ok((info, sink))) => Ok((info, sink, state, thread)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::StageGone { stage: "decode" }),
    }
}

type Opened = (InputInfo, Sink, Worker);

fn open_here(
    url: &str,
    reader: Option<Reader>,
    opts: &InputOptions,
    stop: Arc<AtomicBool>,
    state: Arc<InputState>,
    feed: Option<FeedSource>,
) -> Result<Opened> {
    let network = reader.is_none() && url.contains("://") && !url.starts_with("file:");
    let c = if network { connect_with_video(url, opts, &stop)? } else { connect(url, reader, opts, &stop)? };
    let info = c.info.clone();
    let overflow = if opts.live { Overflow::DropOldest } else { Overflow::Block };
    let sink = match feed {
        Some((f, source)) => Sink::Feed(f, source),
        None => Sink::Own {
            video: Arc::new(Ring::new(opts.ring_frames.max(1), overflow)),
            // Audio is tiny (384 kB/s) and must never make the demuxer wait while video is consumed:
            // keep several seconds. Live inputs always get a track, as a reconnection may bring audio.
            audio: (c.adec.is_some() || opts.live).then(|| Arc::new(Ring::new(512, overflow))),
        },
    };
    state.connected.store(true, Ordering::Relaxed);
    let worker = Worker {
        url: url.to_string(),
        conn: c,
        sink: sink.clone(),
        stop,
        reconnect: opts.reconnect && network,
        opts: opts.clone(),
        state,
    };
    Ok((info, sink, worker))
}

fn short(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).chars().take(12).collect()
}

pub(super) struct Worker {
    pub(super) url: String,
    pub(super) conn: Connected,
    pub(super) sink: Sink,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) reconnect: bool,
    pub(super) opts: InputOptions,
    pub(super) state: Arc<InputState>,
}

impl Worker {
    fn run(mut self) {
        let _span = tracing::info_span!("decode", url = %redact_url(&self.url)).entered();
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
        self.sink.close();
        tracing::debug!(frames = vs.seq, "input finished");
    }

    /// Reopens a lost network input with backoff (0.5 s doubling to 10 s) until it answers or the
    /// input is dropped. The last frame stays on screen meanwhile.
    fn reopen(&mut self) -> bool {
        self.state.connected.store(false, Ordering::Relaxed);
        tracing::warn!(url = %redact_url(&self.url), "input lost; reconnecting");
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
                    tracing::info!(url = %redact_url(&self.url), "input back");
                    return true;
                }
                Err(e) => {
                    tracing::debug!(url = %redact_url(&self.url), error = %e, "reconnect failed");
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
}

pub(super) struct VideoState {
    pub(super) seq: u64,
    pub(super) scaler: Option<(ff::software::scaling::Context, ff::format::Pixel, u32, u32)>,
    pub(super) warned: bool,
    pub(super) busy: f32,
}

pub(super) struct AudioState {
    pub(super) resampler: Option<ff::software::resampling::Context>,
    pub(super) next_pos: Option<i64>,
}
