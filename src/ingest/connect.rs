//! Opening an input with FFmpeg: the container, its video and audio decoders, and what is known
//! of the stream (size, rate, rotation, its pixel layout as the GPU uploads it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ff::format::Pixel;
use ffmpeg_next as ff;

use super::options::{InputInfo, InputOptions};
use crate::error::{Error, Result};
use crate::media::PlaneLayout;
use crate::sys::redact_url;

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

pub(super) fn plane_layout(p: Pixel) -> Option<(PlaneLayout, bool)> {
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

pub(super) type Reader = (&'static str, Box<dyn std::io::Read + Send>);

/// An open container with its decoders: what a (re)connection produces.
pub(super) struct Connected {
    pub(super) ictx: ff::format::context::Input,
    pub(super) vidx: usize,
    pub(super) vtb: ff::Rational,
    pub(super) vdec: ff::decoder::Video,
    pub(super) adec: Option<(usize, ff::Rational, ff::decoder::Audio)>,
    pub(super) t0: Option<f64>,
    pub(super) rotation: u32,
    pub(super) info: InputInfo,
}

/// Opens `url` (or the stream `reader` gives) and its decoders.
pub(super) fn connect(
    url: &str,
    reader: Option<Reader>,
    opts: &InputOptions,
    stop: &Arc<AtomicBool>,
) -> Result<Connected> {
    let ictx = open_container(url, reader, opts, stop)?;
    let vstream = ictx.streams().best(ff::media::Type::Video).ok_or_else(|| Error::NoVideo { url: url.into() })?;
    let (vidx, vtb, rotation, fps) =
        (vstream.index(), vstream.time_base(), stream_rotation(&vstream), frame_rate(&vstream));
    let mut vctx = ff::codec::context::Context::from_parameters(vstream.parameters())
        .map_err(|source| Error::Decoder { url: url.into(), source })?;
    vctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: opts.decode_threads,
        ..Default::default()
    });
    let vdec = vctx.decoder().video().map_err(|source| Error::Decoder { url: url.into(), source })?;
    let adec = audio_decoder(&ictx, url);
    // SAFETY: reading a plain field of the open format context.
    let start = unsafe { (*ictx.as_ptr()).start_time };
    let t0 =
        if start == ff::ffi::AV_NOPTS_VALUE { None } else { Some(start as f64 / f64::from(ff::ffi::AV_TIME_BASE)) };
    let duration = (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    let (width, height, has_audio) = (vdec.width(), vdec.height(), adec.is_some());
    let info = InputInfo { url: url.into(), width, height, fps, rotation, has_audio, duration };
    tracing::info!(url = %redact_url(url), width, height, fps, rotation, audio = has_audio, "input opened");
    Ok(Connected { ictx, vidx, vtb, vdec, adec, t0, rotation, info })
}

/// The container, opened with what a live input needs: a read timeout and a short probe over the
/// network, only the allowed protocols, and a stop that interrupts a blocked read at once.
fn open_container(
    url: &str,
    reader: Option<Reader>,
    opts: &InputOptions,
    stop: &Arc<AtomicBool>,
) -> Result<ff::format::context::Input> {
    let mut dict = ff::Dictionary::new();
    if url.starts_with("rtmp") || url.starts_with("http") {
        // Network reads must not hang forever on a dead peer, and a live stream should start after
        // a second of probing, not FFmpeg's default five.
        dict.set("rw_timeout", "10000000");
        dict.set("analyzeduration", "1000000");
        tracing::info!(url = %redact_url(url), "connecting to input");
    }
    if let Some(p) = opts.protocols {
        dict.set("protocol_whitelist", p);
    }
    if let Some(p) = &opts.rtmp_playpath {
        dict.set("rtmp_playpath", &p.0);
    }
    let interrupt = stop.clone();
    let stopped = move || interrupt.load(Ordering::Relaxed);
    match reader {
        None => ff::format::input_with_interrupt_and_dictionary(&url, stopped, dict),
        Some((format, r)) => {
            // A publisher's live stream: start after half a second of probing, not five.
            let mut d = ff::Dictionary::new();
            d.set("analyzeduration", "500000");
            ff::format::context::StreamIo::from_read(r)
                .and_then(|io| ff::format::input_from_stream_with_interrupt(io, Some(format), Some(d), stopped))
        }
    }
    .map_err(|source| Error::OpenInput { url: url.into(), source })
}

/// The stream's frame rate: its average, else its base rate.
fn frame_rate(vstream: &ff::format::stream::Stream) -> f64 {
    let r = vstream.avg_frame_rate();
    if r.denominator() != 0 && r.numerator() > 0 {
        f64::from(r)
    } else {
        f64::from(vstream.rate())
    }
}

/// The best audio stream's decoder, when there is one that decodes (else the input is silent).
fn audio_decoder(ictx: &ff::format::context::Input, url: &str) -> Option<(usize, ff::Rational, ff::decoder::Audio)> {
    let s = ictx.streams().best(ff::media::Type::Audio)?;
    ff::codec::context::Context::from_parameters(s.parameters())
        .and_then(|c| c.decoder().audio())
        .map(|d| (s.index(), s.time_base(), d))
        .map_err(|e| tracing::warn!(url = %redact_url(url), error = %e, "audio stream cannot be decoded; input is treated as silent"))
        .ok()
}

/// A live stream joined between keyframes can probe as audio only: nginx-rtmp and similar relays
/// send a new subscriber video from the next keyframe, which may be seconds after the second of
/// probing. A network input probes again until video shows up, for as long as a long GOP lasts.
pub(super) fn connect_with_video(url: &str, opts: &InputOptions, stop: &Arc<AtomicBool>) -> Result<Connected> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        match connect(url, None, opts, stop) {
            Err(Error::NoVideo { .. }) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {
                tracing::info!(
                    url = %redact_url(url),
                    "no video in the probed part of the stream yet (joined between keyframes); probing again"
                );
            }
            r => return r,
        }
    }
}
