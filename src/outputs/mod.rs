//! Muxers: one encode, its packets handed to every output (file, FLV, rtmp://, HLS).
//!
//! Each output has its own thread and a bounded queue, so a slow or dead destination never stalls the
//! encoder or the other outputs. When a queue is full the output drops packets (counted) until the next
//! video keyframe, so what it does send stays decodable. Network outputs that fail to connect or
//! break are reopened with backoff and resume at a keyframe; a file output that fails is closed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ffmpeg_next as ff;

use crate::error::{Error, Result};
use crate::sys::{lock, redact_url};
use writer::sink_loop;

pub mod origin;
pub mod replay;
mod writer;

/// Packets an output may have queued before it starts dropping (about 4 s of 30 fps video + audio).
const QUEUE_PACKETS: usize = 256;
/// Longest wait between reconnection attempts of a network output.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The container for an output URL, and the muxer options it needs. `live` HLS keeps a sliding
/// window of segments; otherwise the playlist keeps every segment (a recording).
pub fn container_for(url: &str, live: bool) -> (&'static str, Vec<(&'static str, String)>) {
    let lower = url.to_lowercase();
    if lower.starts_with("rtmp://") || lower.starts_with("rtmps://") || lower.ends_with(".flv") {
        ("flv", vec![("flvflags", "no_duration_filesize".into())])
    } else if lower.ends_with(".m3u8") {
        let seg = std::path::Path::new(url).with_extension("").to_string_lossy().to_string();
        (
            "hls",
            vec![
                // Every keyframe starts a segment (keyframes come every 2 s, and at a pause's
                // edges): whatever a playlist's history, segment n of every rendition of a job
                // starts at the same frame.
                ("hls_time", "0.01".into()),
                ("hls_list_size", if live { "6" } else { "0" }.into()),
                ("hls_flags", hls_flags(url, live).into()),
                ("hls_segment_filename", format!("{seg}_%05d.ts")),
            ],
        )
    } else if lower.ends_with(".ts") {
        ("mpegts", vec![])
    } else if lower.ends_with(".mkv") {
        ("matroska", vec![])
    } else if lower.ends_with(".mov") {
        ("mov", vec![])
    } else {
        ("mp4", vec![])
    }
}

/// Live, a playlist that exists already (a session resumed after a restart) goes on where it
/// stopped, after a discontinuity, instead of starting over; a new one starts plain (FFmpeg's
/// `append_list` would open it with a discontinuity too).
fn hls_flags(url: &str, live: bool) -> &'static str {
    match (live, std::path::Path::new(url).exists()) {
        (true, true) => "delete_segments+independent_segments+append_list",
        (true, false) => "delete_segments+independent_segments",
        (false, _) => "independent_segments",
    }
}

fn is_network(url: &str) -> bool {
    url.contains("://") && !url.starts_with("file:")
}

/// Which packet stream a packet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    Video,
    Audio,
}

/// What the muxers need to know about the encoded streams.
#[derive(Clone)]
pub struct StreamSetup {
    video: ff::codec::Parameters,
    video_tb: ff::Rational,
    audio: Option<(ff::codec::Parameters, ff::Rational)>,
    /// The number of an HLS output's first segment (None: 0, or where its playlist left off).
    hls_start: Option<u64>,
}

// SAFETY: Parameters is plain owned codec parameters (ffmpeg-next marks it Send); it is only read.
unsafe impl Sync for StreamSetup {}

impl StreamSetup {
    pub fn new(
        video: &ff::encoder::Video,
        video_tb: ff::Rational,
        audio: Option<(&ff::encoder::Audio, ff::Rational)>,
    ) -> StreamSetup {
        StreamSetup {
            video: ff::codec::Parameters::from(video),
            video_tb,
            audio: audio.map(|(a, tb)| (ff::codec::Parameters::from(a), tb)),
            hls_start: None,
        }
    }

    /// An HLS output numbers its segments from `n` (a rendition that starts late is numbered
    /// like the renditions that ran all along, segment for segment).
    pub fn with_hls_start(mut self, n: Option<u64>) -> StreamSetup {
        self.hls_start = n;
        self
    }
}

/// Counters of one output, readable while it runs.
#[derive(Default, Debug)]
pub struct OutputStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// Packets waiting in the output's queue now.
    pub queued: AtomicU64,
    /// Whether the output is open (a network one connected) now.
    pub connected: AtomicBool,
    /// Where it pushes now, and where it is to push next (a new stream key).
    target: Mutex<String>,
    next: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
}

impl OutputStats {
    fn new(url: &str) -> OutputStats {
        OutputStats { target: Mutex::new(url.to_string()), ..Default::default() }
    }

    /// The URL it pushes to now.
    pub fn target(&self) -> String {
        lock(&self.target).clone()
    }

    /// Pushes to `url` from the next keyframe on: the output closes and opens again there (one
    /// reconnect), its queue and the other outputs untouched.
    pub fn retarget(&self, url: &str) {
        *lock(&self.next) = Some(url.to_string());
    }

    /// The last failure, its URL redacted.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// What an event says of the output: connected or not, and its last failure.
    pub(super) fn record(&self, e: &OutputEvent) {
        if let OutputEvent::Failed(_, why) = e {
            *lock(&self.last_error) = Some(why.clone());
        }
        self.connected.store(matches!(e, OutputEvent::Connected(_)), Ordering::Relaxed);
    }
}

/// An output connecting (at start or after a reconnection) or failing; its URL as logs and
/// events show it (the push key redacted).
#[derive(Clone, Debug, PartialEq)]
pub enum OutputEvent {
    Connected(String),
    Failed(String, String),
}

pub type OutputEvents = Arc<dyn Fn(OutputEvent) + Send + Sync>;

pub(crate) enum Msg {
    Packet(Track, ff::Packet, ff::Rational),
    Finish,
}

struct Sink {
    url: String,
    tx: SyncSender<Msg>,
    /// Dropping until the next video keyframe after a full queue.
    dropping: bool,
    stats: Arc<OutputStats>,
    thread: Option<JoinHandle<bool>>,
}

pub struct Outputs {
    sinks: Vec<Sink>,
}

impl Outputs {
    /// True when any of these URLs needs codec parameters in extradata (global header).
    pub fn need_global_header(urls: &[String]) -> bool {
        urls.iter().any(|u| {
            // Containers that carry parameter sets once, out of band. HLS is included because its
            // segments are written from the same encode as the FLV in a fan-out.
            let (fmt, _) = container_for(u, false);
            matches!(fmt, "flv" | "mp4" | "mov" | "matroska" | "hls")
        })
    }

    /// Opens every output. Files must open now (a bad path is the caller's error); network outputs
    /// that cannot connect yet keep trying in the background. `public_only`: network outputs
    /// connect to public addresses only, whatever their names resolve to by then.
    pub fn open(
        urls: &[String],
        setup: &StreamSetup,
        live: bool,
        public_only: bool,
        events: Option<OutputEvents>,
    ) -> Result<Outputs> {
        let mut sinks = Vec::new();
        for url in urls {
            let opened = {
                let _rule = crate::policy::resolve::PublicOnly::while_alive(public_only);
                Muxer::open(url, setup, live)
            };
            let (first, event) = match opened {
                Ok(m) => (Some(m), OutputEvent::Connected(redact_url(url))),
                Err(e) if is_network(url) => {
                    tracing::warn!(url = %redact_url(url), error = %e, "output not reachable yet; retrying in the background");
                    (None, OutputEvent::Failed(redact_url(url), e.to_string()))
                }
                Err(e) => return Err(e),
            };
            let stats = Arc::new(OutputStats::new(url));
            stats.record(&event);
            if let Some(f) = &events {
                f(event);
            }
            let (tx, rx) = sync_channel(QUEUE_PACKETS);
            let (u, st, s2, ev) = (url.clone(), setup.clone(), stats.clone(), events.clone());
            let thread = std::thread::Builder::new().name(format!("out {}", short(url))).spawn(move || {
                crate::policy::resolve::public_only_on_this_thread(public_only);
                sink_loop(u, st, first, rx, s2, live, ev)
            })?;
            sinks.push(Sink { url: url.clone(), tx, dropping: false, stats, thread: Some(thread) });
        }
        Ok(Outputs { sinks })
    }

    /// Queues one encoded packet (time base `from`) for every output; never blocks.
    pub fn write(&mut self, track: Track, packet: &ff::Packet, from: ff::Rational) {
        let key = track == Track::Video && packet.is_key();
        for s in &mut self.sinks {
            if s.dropping && track == Track::Video && !key {
                s.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match s.tx.try_send(Msg::Packet(track, packet.clone(), from)) {
                Ok(()) => {
                    s.stats.queued.fetch_add(1, Ordering::Relaxed);
                    if key {
                        s.dropping = false;
                    }
                }
                Err(TrySendError::Full(_)) => {
                    if !s.dropping {
                        tracing::warn!(url = %redact_url(&s.url), "output is falling behind; dropping until the next keyframe");
                    }
                    s.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    s.dropping = true;
                }
                Err(TrySendError::Disconnected(_)) => {
                    s.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn stats(&self) -> Vec<(String, Arc<OutputStats>)> {
        self.sinks.iter().map(|s| (s.url.clone(), s.stats.clone())).collect()
    }

    /// Finishes every output (trailers, final playlist) and returns the URLs that failed.
    pub fn finish(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        for s in &mut self.sinks {
            // Blocking here is fine: the encode is over, and each sink drains its queue and exits.
            let _ = s.tx.send(Msg::Finish);
        }
        for s in &mut self.sinks {
            let ok = s.thread.take().map(|t| t.join().unwrap_or(false)).unwrap_or(false);
            let dropped = s.stats.dropped.load(Ordering::Relaxed);
            if !ok {
                failed.push(s.url.clone());
            }
            tracing::info!(url = %redact_url(&s.url), ok, packets = s.stats.packets.load(Ordering::Relaxed), dropped, "output finished");
        }
        failed
    }
}

fn short(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).chars().take(12).collect()
}

/// An output context for `url`. A muxer that writes its own files (HLS) gets no file opened for
/// it: ffmpeg-next's `output_as` opens (and so empties) the URL, which for HLS is the playlist a
/// resumed session's muxer reads to go on where it stopped (numbering, discontinuity).
fn output_context(url: &str, fmt: &str) -> std::result::Result<ff::format::context::Output, String> {
    if fmt != "hls" {
        return ff::format::output_as(&url, fmt).map_err(|e| e.to_string());
    }
    let path = std::ffi::CString::new(url).map_err(|e| e.to_string())?;
    let format = std::ffi::CString::new(fmt).map_err(|e| e.to_string())?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: both strings outlive the call; on success `ps` is a new context that `wrap` owns
    // (its destructor closes a null `pb`, which FFmpeg allows, and frees it).
    unsafe {
        match ff::ffi::avformat_alloc_output_context2(&mut ps, std::ptr::null_mut(), format.as_ptr(), path.as_ptr()) {
            0 => Ok(ff::format::context::Output::wrap(ps)),
            e => Err(ff::Error::from(e).to_string()),
        }
    }
}

/// One open muxer.
pub(crate) struct Muxer {
    pub(crate) ctx: ff::format::context::Output,
    /// Output stream time bases after write_header (muxers may change them, FLV does).
    video_tb: ff::Rational,
    audio_tb: Option<ff::Rational>,
}

impl Muxer {
    pub(crate) fn open(url: &str, setup: &StreamSetup, live: bool) -> Result<Muxer> {
        let fail = |e: &dyn std::fmt::Display| Error::Output { url: redact_url(url), why: e.to_string() };
        let (fmt, opts) = container_for(url, live);
        if !is_network(url) {
            if let Some(parent) = std::path::Path::new(url).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
                }
            }
        }
        let mut ctx = output_context(url, fmt).map_err(|e| fail(&e))?;
        {
            let mut vs = ctx.add_stream(ff::encoder::find(ff::codec::Id::H264)).map_err(|e| fail(&e))?;
            vs.set_parameters(setup.video.clone());
            vs.set_time_base(setup.video_tb);
        }
        if let Some((p, tb)) = &setup.audio {
            let mut s = ctx.add_stream(ff::encoder::find(ff::codec::Id::AAC)).map_err(|e| fail(&e))?;
            s.set_parameters(p.clone());
            s.set_time_base(*tb);
        }
        let mut d = ff::Dictionary::new();
        for (k, v) in &opts {
            d.set(k, v);
        }
        if let (Some(n), "hls") = (setup.hls_start, fmt) {
            d.set("start_number", &n.to_string());
        }
        ctx.write_header_with(d).map_err(|e| fail(&e))?;
        let video_tb = ctx.stream(0).map(|s| s.time_base()).unwrap_or(setup.video_tb);
        let audio_tb = setup.audio.as_ref().and_then(|_| ctx.stream(1).map(|s| s.time_base()));
        tracing::info!(url = %redact_url(url), format = fmt, "output open");
        Ok(Muxer { ctx, video_tb, audio_tb })
    }

    pub(crate) fn write(
        &mut self,
        track: Track,
        mut p: ff::Packet,
        from: ff::Rational,
    ) -> std::result::Result<usize, ff::Error> {
        let (idx, tb) = match track {
            Track::Video => (0, self.video_tb),
            Track::Audio => match self.audio_tb {
                Some(tb) => (1, tb),
                None => return Ok(0),
            },
        };
        if track == Track::Video && p.duration() == 0 {
            // x264 leaves durations unset; HLS needs them to cut segments precisely.
            p.set_duration(1);
        }
        let size = p.size();
        p.set_stream(idx);
        p.rescale_ts(from, tb);
        p.set_position(-1);
        p.write_interleaved(&mut self.ctx)?;
        Ok(size)
    }
}
