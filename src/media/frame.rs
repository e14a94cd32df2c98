//! Frames as every stage sees them: decoded pictures with their timing, audio chunks, and the
//! borrowed plane view the GPU uploads. Counts the memory decoded pictures hold.

use std::sync::atomic::{AtomicI64, Ordering};

use ffmpeg_next as ff;

use super::geometry::SourceGeom;
use crate::media::colour::Matrix;

/// How the planes of a decoded picture are laid out. Anything else is converted before upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlaneLayout {
    /// Three planes; chroma subsampled by (sx, sy): 4:2:0 is (2, 2), 4:2:2 (2, 1), 4:4:4 (1, 1).
    Planar { sx: u32, sy: u32 },
    /// Luma plane + one interleaved UV plane at half size.
    Nv12,
}

/// A borrowed decoded picture: plane bytes as the decoder left them, with their strides.
pub struct Picture<'a> {
    pub layout: PlaneLayout,
    pub width: u32,
    pub height: u32,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub matrix: Matrix,
    pub full_range: bool,
}

/// Output audio format of every input: what the mixer and the AAC encoder work in.
pub const AUDIO_RATE: u32 = 48_000;
pub const AUDIO_CHANNELS: usize = 2;

/// A decoded picture with its time on the input's own timeline (seconds from the input's start).
pub struct VideoFrame {
    pub frame: ff::frame::Video,
    pub pts: f64,
    /// Increments per decoded frame: the GPU thread re-uploads only when it changes.
    pub seq: u64,
    pub geom: SourceGeom,
    pub layout: PlaneLayout,
    pub matrix: Matrix,
    pub full_range: bool,
    /// Wall time the decoder spent producing this frame.
    pub decode_ms: f32,
    /// Counts this frame's pixel memory in [`memory`] while it lives.
    pub mem: FrameMemory,
}

static FRAME_BYTES: AtomicI64 = AtomicI64::new(0);
static DECODERS: AtomicI64 = AtomicI64::new(0);

/// Process-wide: bytes of decoded pictures alive (in rings and on screen) and decode threads running.
/// Freed rings and stopped decoders show here (the service exports both as metrics).
pub fn memory() -> (u64, u64) {
    (FRAME_BYTES.load(Ordering::Relaxed).max(0) as u64, DECODERS.load(Ordering::Relaxed).max(0) as u64)
}

/// A decoded frame's share of [`memory`].
#[derive(Debug)]
pub struct FrameMemory(i64);

impl FrameMemory {
    /// A picture that is not a decoder's frame in flight (a slate, the waiting card): held once
    /// per paused room or process, not per reader, so it stays out of [`memory`], which measures
    /// what the decoders' rings hold.
    pub fn uncounted() -> FrameMemory {
        FrameMemory(0)
    }

    pub fn new(bytes: usize) -> FrameMemory {
        FRAME_BYTES.fetch_add(bytes as i64, Ordering::Relaxed);
        FrameMemory(bytes as i64)
    }
}

impl Drop for FrameMemory {
    fn drop(&mut self) {
        FRAME_BYTES.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// Counts a running decode thread in [`memory`].
pub struct DecoderCount;

impl DecoderCount {
    pub fn new() -> DecoderCount {
        DECODERS.fetch_add(1, Ordering::Relaxed);
        DecoderCount
    }
}

impl Drop for DecoderCount {
    fn drop(&mut self) {
        DECODERS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl VideoFrame {
    /// The planes as the GPU uploads them.
    pub fn picture(&self) -> Picture<'_> {
        let f = &self.frame;
        let n = f.planes().min(3);
        let mut planes: [&[u8]; 3] = [&[], &[], &[]];
        let mut strides = [0usize; 3];
        for i in 0..n {
            planes[i] = f.data(i);
            strides[i] = f.stride(i);
        }
        Picture {
            layout: self.layout,
            width: f.width(),
            height: f.height(),
            planes,
            strides,
            matrix: self.matrix,
            full_range: self.full_range,
        }
    }
}

/// Interleaved stereo f32 samples at [`AUDIO_RATE`], placed on the input's timeline.
#[derive(Clone)]
pub struct AudioChunk {
    /// Index of the first sample, counted from the input's start.
    pub pos: i64,
    /// The stream's own timestamp of the first sample, in seconds (not rebased): two streams of one
    /// anchor (microphone and app audio) are aligned by it.
    pub stream_ts: Option<f64>,
    pub samples: Vec<f32>,
    /// What the input's room showed when this sound was taken (its pause count): the mixer
    /// reports where the first sound after a change lands, so a replay cuts sound where it
    /// changed.
    pub mark: u64,
}
