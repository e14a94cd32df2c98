//! Slate files: what an uploaded file must be to become a slate, judged by FFmpeg from its bytes
//! (never by its name), and its picture. Allowed: PNG and JPEG images, GIF and APNG animations,
//! MP4 and WebM videos (H.264, VP8, VP9, AV1; AAC, Opus, Vorbis or MP3 sound), 64×64 to
//! 3840×2160, videos up to a configured length, whole files only.

use std::path::Path;
use std::sync::Arc;

use ffmpeg_next as ff;

use super::slate::{rgb_picture, CARD_BACKGROUND};
use crate::media::VideoFrame;

/// The smallest and largest picture a slate may have.
pub const MIN_SIZE: (u32, u32) = (64, 64);
pub const MAX_SIZE: (u32, u32) = (3840, 2160);

/// What kind of slate a file makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlateKind {
    Image,
    Animation,
    Video,
}

impl SlateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlateKind::Image => "image",
            SlateKind::Animation => "animation",
            SlateKind::Video => "video",
        }
    }

    /// The file name extension it is stored under.
    pub fn extension(self, format: &str) -> &'static str {
        match (self, format) {
            (SlateKind::Image, "jpeg_pipe") => "jpg",
            (SlateKind::Image, _) => "png",
            (SlateKind::Animation, "gif") => "gif",
            (SlateKind::Animation, _) => "apng",
            (SlateKind::Video, f) if f.contains("webm") => "webm",
            (SlateKind::Video, _) => "mp4",
        }
    }
}

/// What the probe found in a valid file.
#[derive(Clone, Debug)]
pub struct Probed {
    pub kind: SlateKind,
    pub format: String,
    pub width: u32,
    pub height: u32,
    /// Videos and animations: their length in seconds.
    pub duration_s: Option<f64>,
    pub has_audio: bool,
}

/// Why a file is not a slate; each has its stable code.
#[derive(Debug, thiserror::Error)]
pub enum SlateFileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a picture or video that can be read")]
    Unreadable,
    #[error("{0} is not an allowed slate format: PNG, JPEG, GIF, APNG, MP4 or WebM (H.264, VP8, VP9, AV1)")]
    Format(String),
    #[error("{0}×{1} is outside 64×64 to 3840×2160")]
    Dimensions(u32, u32),
    #[error("the video lasts {0:.1} s, longer than the {1:.0} s allowed")]
    TooLong(f64, f64),
    #[error("the file is cut short or damaged")]
    Truncated,
    #[error("its picture cannot be decoded")]
    Undecodable,
}

impl SlateFileError {
    pub fn code(&self) -> &'static str {
        match self {
            SlateFileError::Empty => "slate_empty",
            SlateFileError::Unreadable => "slate_unreadable",
            SlateFileError::Format(_) => "slate_format",
            SlateFileError::Dimensions(..) => "slate_dimensions",
            SlateFileError::TooLong(..) => "slate_too_long",
            SlateFileError::Truncated => "slate_truncated",
            SlateFileError::Undecodable => "slate_undecodable",
        }
    }
}

const IMAGE_FORMATS: &[&str] = &["png_pipe", "jpeg_pipe", "image2"];
const ANIMATION_FORMATS: &[&str] = &["gif", "apng"];
const VIDEO_FORMATS: &[&str] = &["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"];

fn kind_of(format: &str, codec: ff::codec::Id) -> Option<SlateKind> {
    use ff::codec::Id;
    match codec {
        Id::PNG | Id::MJPEG if IMAGE_FORMATS.contains(&format) => Some(SlateKind::Image),
        Id::GIF | Id::APNG if ANIMATION_FORMATS.contains(&format) => Some(SlateKind::Animation),
        Id::H264 | Id::VP8 | Id::VP9 | Id::AV1 if VIDEO_FORMATS.contains(&format) => Some(SlateKind::Video),
        _ => None,
    }
}

fn audio_allowed(codec: ff::codec::Id) -> bool {
    use ff::codec::Id;
    matches!(codec, Id::AAC | Id::OPUS | Id::VORBIS | Id::MP3)
}

/// Checks `path` as a slate: FFmpeg must read it (allowed containers and codecs only), its
/// picture size and length must be within bounds, every packet must be there and its first
/// picture must decode. Returns what it is and that picture.
pub fn probe(path: &Path, max_duration_s: f64) -> Result<(Probed, Arc<VideoFrame>), SlateFileError> {
    let len = std::fs::metadata(path).map_err(|_| SlateFileError::Unreadable)?.len();
    if len == 0 {
        return Err(SlateFileError::Empty);
    }
    ff::init().map_err(|_| SlateFileError::Unreadable)?;
    let mut ictx = ff::format::input(path).map_err(|_| SlateFileError::Unreadable)?;
    let format = ictx.format().name().to_string();
    let vstream = ictx.streams().best(ff::media::Type::Video).ok_or(SlateFileError::Format(format.clone()))?;
    let codec = vstream.parameters().id();
    let kind = kind_of(&format, codec).ok_or_else(|| SlateFileError::Format(format!("{format} ({codec:?})")))?;
    let (vi, vtb, expected) = (vstream.index(), vstream.time_base(), vstream.frames());
    let audio: Vec<ff::codec::Id> = ictx
        .streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Audio)
        .map(|s| s.parameters().id())
        .collect();
    if let Some(a) = audio.iter().find(|a| !audio_allowed(**a)) {
        return Err(SlateFileError::Format(format!("{format} with {a:?} sound")));
    }
    let mut decoder = ff::codec::context::Context::from_parameters(vstream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|_| SlateFileError::Undecodable)?;
    let (w, h) = (decoder.width(), decoder.height());
    if w < MIN_SIZE.0 || h < MIN_SIZE.1 || w > MAX_SIZE.0 || h > MAX_SIZE.1 {
        return Err(SlateFileError::Dimensions(w, h));
    }
    let container_s = (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    if let Some(d) = container_s.filter(|d| *d > max_duration_s + 0.5) {
        return Err(SlateFileError::TooLong(d, max_duration_s));
    }
    // Every packet, to the end: a file cut short fails here, not on air.
    let (mut first, mut packets, mut last_ts) = (None, 0i64, 0.0f64);
    let mut packet = ff::Packet::empty();
    loop {
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(_) => return Err(SlateFileError::Truncated),
        }
        let end = packet.position() as i64 + packet.size() as i64;
        if packet.position() >= 0 && end as u64 > len {
            return Err(SlateFileError::Truncated);
        }
        if packet.stream() != vi {
            continue;
        }
        packets += 1;
        if let Some(ts) = packet.pts().or(packet.dts()) {
            last_ts = last_ts.max((ts + packet.duration().max(0)) as f64 * f64::from(vtb));
        }
        if first.is_none() {
            first = first_picture(&mut decoder, Some(&packet));
        }
    }
    if first.is_none() {
        first = first_picture(&mut decoder, None);
    }
    if packets == 0 || (expected > 0 && packets < expected) {
        return Err(SlateFileError::Truncated);
    }
    let first = first.ok_or(SlateFileError::Undecodable)?;
    let duration_s = match kind {
        SlateKind::Image => None,
        _ => Some(container_s.unwrap_or(last_ts)),
    };
    if let Some(d) = duration_s.filter(|d| *d > max_duration_s + 0.5) {
        return Err(SlateFileError::TooLong(d, max_duration_s));
    }
    let picture = picture_of(&first).ok_or(SlateFileError::Undecodable)?;
    let has_audio = !audio.is_empty();
    Ok((Probed { kind, format, width: w, height: h, duration_s, has_audio }, picture))
}

/// Sends `packet` (None: the end of the stream) and takes the first picture that comes out.
fn first_picture(dec: &mut ff::decoder::Video, packet: Option<&ff::Packet>) -> Option<ff::frame::Video> {
    let sent = match packet {
        Some(p) => dec.send_packet(p),
        None => dec.send_eof(),
    };
    sent.ok()?;
    let mut frame = ff::frame::Video::empty();
    dec.receive_frame(&mut frame).ok().map(|()| frame)
}

/// A decoded picture as a slate frame: converted to RGBA, laid over the card's background (for
/// transparent pixels), then to BT.709 like the text card, so its colours are the file's.
pub(super) fn picture_of(frame: &ff::frame::Video) -> Option<Arc<VideoFrame>> {
    let (w, h) = (frame.width(), frame.height());
    let flags = ff::software::scaling::Flags::BILINEAR;
    let mut sc =
        ff::software::scaling::Context::get(frame.format(), w, h, ff::format::Pixel::RGBA, w, h, flags).ok()?;
    let mut rgba = ff::frame::Video::empty();
    sc.run(frame, &mut rgba).ok()?;
    let (data, stride) = (rgba.data(0), rgba.stride(0));
    let bg = CARD_BACKGROUND.map(|c| c as f32 / 255.0);
    Some(rgb_picture((w, h), |x, y| {
        let p = &data[y as usize * stride + x as usize * 4..][..4];
        let a = p[3] as f32 / 255.0;
        [0, 1, 2].map(|c| bg[c] * (1.0 - a) + p[c] as f32 / 255.0 * a)
    }))
}

/// The first picture of a stored slate file (blocking). The file was checked whole at upload, so
/// this reads only as far as that picture, not every packet again.
pub fn still(path: &Path) -> Result<Arc<VideoFrame>, SlateFileError> {
    ff::init().map_err(|_| SlateFileError::Unreadable)?;
    let mut ictx = ff::format::input(path).map_err(|_| SlateFileError::Unreadable)?;
    let vstream = ictx.streams().best(ff::media::Type::Video).ok_or(SlateFileError::Undecodable)?;
    let vi = vstream.index();
    let mut decoder = ff::codec::context::Context::from_parameters(vstream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|_| SlateFileError::Undecodable)?;
    let mut packet = ff::Packet::empty();
    let first = loop {
        match packet.read(&mut ictx) {
            Ok(()) if packet.stream() != vi => continue,
            Ok(()) => {
                if let Some(f) = first_picture(&mut decoder, Some(&packet)) {
                    break Some(f);
                }
            }
            Err(ff::Error::Eof) => break first_picture(&mut decoder, None),
            Err(_) => return Err(SlateFileError::Truncated),
        }
    };
    first.as_ref().and_then(picture_of).ok_or(SlateFileError::Undecodable)
}
