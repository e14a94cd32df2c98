//! How an input is decoded, what is known of it once open, and its state while it runs.

use std::sync::atomic::AtomicBool;

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
    /// URL inputs connect to public addresses only, checked where FFmpeg resolves the name (see
    /// [`crate::policy::resolve`]); the service sets it unless private inputs are allowed.
    pub public_only: bool,
    /// The stream an `rtmp://host/app` URL plays (an RTMP tier's `KEY` or `KEY/source`): given
    /// apart from the URL, so the key is never in what is logged, and so a source's slash does
    /// not move FFmpeg's split between application and stream.
    pub rtmp_playpath: Option<Playpath>,
}

/// An RTMP stream name that holds a stream key (shown as `…`).
#[derive(Clone)]
pub struct Playpath(pub String);

impl std::fmt::Debug for Playpath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
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
            public_only: false,
            rtmp_playpath: None,
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
