//! Slate files: what an uploaded file must be to become a slate, judged by FFmpeg from its bytes
//! (never by its name), and its picture. Allowed: PNG and JPEG images, GIF and APNG animations,
//! MP4 and WebM videos (H.264, VP8, VP9, AV1; AAC, Opus, Vorbis or MP3 sound), 64×64 to
//! 3840×2160, videos up to a configured length, whole files only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::slate::{rgb_picture, CARD_BACKGROUND};
use crate::media::colour::Matrix;
use crate::media::frame::FrameMemory;
use crate::media::{PlaneLayout, SourceGeom, VideoFrame};

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
fn picture_of(frame: &ff::frame::Video) -> Option<Arc<VideoFrame>> {
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

/// Where a looping slate's pictures go: `show` gets each at its time; `alive` says whether the
/// loop is still wanted (false: the pause ended or shows something else, and the loop stops).
pub struct LoopTarget {
    pub alive: Box<dyn Fn() -> bool + Send>,
    pub show: Box<dyn FnMut(Arc<VideoFrame>) + Send>,
}

/// Plays the animation or video at `path` in a loop on the wall clock, on a thread of its own:
/// each picture at its time (an animation's frame delays, a video's timestamps), from the start
/// again at the end, until the target no longer wants it. One player per paused room, however many
/// outputs show it.
pub fn play_loop(path: PathBuf, target: LoopTarget) -> std::io::Result<()> {
    std::thread::Builder::new().name("slate-loop".into()).spawn(move || {
        if let Err(e) = run_loop(&path, target) {
            tracing::warn!(error = %e, "slate loop stopped");
        }
    })?;
    Ok(())
}

/// Shortest wait between checks that the loop is still wanted.
const ALIVE_CHECK: Duration = Duration::from_millis(40);

fn run_loop(path: &Path, mut target: LoopTarget) -> Result<(), ff::Error> {
    let start = Instant::now();
    let mut offset = 0.0f64;
    while (target.alive)() {
        let mut ictx = ff::format::input(path)?;
        let st = ictx.streams().best(ff::media::Type::Video).ok_or(ff::Error::StreamNotFound)?;
        let (vi, tb) = (st.index(), st.time_base());
        let mut dec = ff::codec::context::Context::from_parameters(st.parameters())?.decoder().video()?;
        let (mut first, mut last, mut interval, mut shown) = (None, 0.0f64, 0.1f64, 0u64);
        let mut eof = false;
        while !eof {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut ictx) {
                Ok(()) if packet.stream() == vi => drop(dec.send_packet(&packet)),
                Ok(()) => continue,
                Err(ff::Error::Eof) => {
                    let _ = dec.send_eof();
                    eof = true;
                }
                Err(_) => continue,
            }
            let mut frame = ff::frame::Video::empty();
            while dec.receive_frame(&mut frame).is_ok() {
                let pts =
                    frame.timestamp().or(frame.pts()).map(|t| t as f64 * f64::from(tb)).unwrap_or(last + interval);
                let t = pts - *first.get_or_insert(pts);
                if shown > 0 && t > last {
                    interval = t - last;
                }
                last = t;
                if !wait_until(start + Duration::from_secs_f64(offset + t.max(0.0)), &target) {
                    return Ok(());
                }
                if let Some(p) = loop_picture(&frame) {
                    (target.show)(p);
                    shown += 1;
                }
            }
        }
        if shown == 0 {
            return Err(ff::Error::InvalidData);
        }
        // The last picture keeps its own time before the loop starts again.
        offset += last + interval;
    }
    Ok(())
}

/// Sleeps until `at`, checking that the loop is still wanted; false when it is not.
fn wait_until(at: Instant, target: &LoopTarget) -> bool {
    loop {
        if !(target.alive)() {
            return false;
        }
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(ALIVE_CHECK));
    }
}

/// A decoded picture of a looping slate: 4:2:0 video as it is; anything else (an animation's
/// palette or RGBA) drawn into a BT.709 picture like a still slate.
fn loop_picture(frame: &ff::frame::Video) -> Option<Arc<VideoFrame>> {
    use ff::format::Pixel;
    let (w, h, format) = (frame.width(), frame.height(), frame.format());
    if !matches!(format, Pixel::YUV420P | Pixel::YUVJ420P) {
        return picture_of(frame);
    }
    Some(Arc::new(VideoFrame {
        frame: frame.clone(),
        pts: 0.0,
        seq: super::slate::next_seq(),
        geom: SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 },
        layout: PlaneLayout::Planar { sx: 2, sy: 2 },
        matrix: Matrix::from_stream(frame.color_space(), h),
        full_range: format == Pixel::YUVJ420P,
        decode_ms: 0.0,
        mem: FrameMemory::uncounted(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_looping_animation_keeps_its_colours() {
        let dir = std::env::temp_dir().join(format!("costream-slate-loop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gif = dir.join("yellow.gif");
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=yellow:size=160x120:rate=10:d=0.3"])
            .arg(&gif)
            .status()
            .unwrap();
        assert!(ok.success());
        let got: Arc<Mutex<Vec<Arc<VideoFrame>>>> = Arc::default();
        let (g1, g2) = (got.clone(), got.clone());
        let target = LoopTarget {
            alive: Box::new(move || g1.lock().unwrap().len() < 2),
            show: Box::new(move |p| g2.lock().unwrap().push(p)),
        };
        run_loop(&gif, target).unwrap();
        let f = got.lock().unwrap()[1].clone();
        let p = f.picture();
        let rgb =
            crate::media::colour::yuv_to_rgb(p.matrix, p.full_range, [p.planes[0][0], p.planes[1][0], p.planes[2][0]]);
        assert!(
            rgb[0] > 0.9 && rgb[1] > 0.9 && rgb[2] < 0.1,
            "yellow: {rgb:?} from {:?}",
            (p.planes[0][0], p.planes[1][0], p.planes[2][0], p.matrix, f.frame.format())
        );
    }
}
