//! A moving slate's player: an animation or video plays in a loop on the wall clock, each picture
//! at its time (an animation's frame delays, a video's timestamps), and a video's own sound with
//! it when wanted, from the start again at the end, until nobody wants it. One player per paused
//! room, however many outputs show it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ff::util::channel_layout::ChannelLayout;
use ffmpeg_next as ff;

use super::slate_file::picture_of;
use crate::media::colour::Matrix;
use crate::media::frame::FrameMemory;
use crate::media::{AudioChunk, PlaneLayout, SourceGeom, VideoFrame, AUDIO_CHANNELS, AUDIO_RATE};

/// Where a looping slate's pictures go: `show` gets each at its time; `sound`, when set, gets the
/// file's own sound (48 kHz stereo, laid end to end across loops); `alive` says whether the loop
/// is still wanted (false: the pause ended or shows something else, and the loop stops).
pub struct LoopTarget {
    pub alive: Box<dyn Fn() -> bool + Send>,
    pub show: Box<dyn FnMut(Arc<VideoFrame>) + Send>,
    pub sound: Option<Box<dyn FnMut(AudioChunk) + Send>>,
}

/// Plays the animation or video at `path` in a loop on a thread of its own.
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

/// Sound goes out this far ahead of its time, so the mixer has it when the output needs it.
const SOUND_LEAD: f64 = 0.1;

/// One pass over the file's streams.
struct Pass {
    ictx: ff::format::context::Input,
    video: (usize, ff::Rational, ff::decoder::Video),
    audio: Option<(usize, ff::Rational, ff::decoder::Audio)>,
}

impl Pass {
    fn open(path: &Path, with_sound: bool) -> Result<Pass, ff::Error> {
        let ictx = ff::format::input(path)?;
        let st = ictx.streams().best(ff::media::Type::Video).ok_or(ff::Error::StreamNotFound)?;
        let dec = ff::codec::context::Context::from_parameters(st.parameters())?.decoder().video()?;
        let video = (st.index(), st.time_base(), dec);
        let audio = match ictx.streams().best(ff::media::Type::Audio).filter(|_| with_sound) {
            Some(st) => {
                let dec = ff::codec::context::Context::from_parameters(st.parameters())?.decoder().audio()?;
                Some((st.index(), st.time_base(), dec))
            }
            None => None,
        };
        Ok(Pass { ictx, video, audio })
    }
}

/// Where the loop is: when it started, where this pass starts on its clock, and the sound so far.
struct Clock {
    start: Instant,
    offset: f64,
    /// The pass's first timestamp (its time zero).
    first: Option<f64>,
    resampler: Option<ff::software::resampling::Context>,
    /// The next sound sample's position (continuous across passes).
    pos: i64,
}

impl Clock {
    /// When the frame at `pts` (seconds) is due.
    fn due(&mut self, pts: f64) -> Instant {
        let t = pts - *self.first.get_or_insert(pts);
        self.start + Duration::from_secs_f64((self.offset + t).max(0.0))
    }
}

fn run_loop(path: &Path, mut target: LoopTarget) -> Result<(), ff::Error> {
    let mut clock = Clock { start: Instant::now(), offset: 0.0, first: None, resampler: None, pos: 0 };
    while (target.alive)() {
        let mut pass = Pass::open(path, target.sound.is_some())?;
        clock.first = None;
        let (mut last, mut interval, mut shown) = (0.0f64, 0.1f64, 0u64);
        let mut eof = false;
        while !eof {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut pass.ictx) {
                Ok(()) if packet.stream() == pass.video.0 => drop(pass.video.2.send_packet(&packet)),
                Ok(()) => {
                    if let Some((_, tb, dec)) = pass.audio.as_mut().filter(|a| a.0 == packet.stream()) {
                        let _ = dec.send_packet(&packet);
                        if !play_sound(dec, *tb, &mut clock, &mut target) {
                            return Ok(());
                        }
                    }
                    continue;
                }
                Err(ff::Error::Eof) => {
                    let _ = pass.video.2.send_eof();
                    eof = true;
                }
                Err(_) => continue,
            }
            let tb = pass.video.1;
            let mut frame = ff::frame::Video::empty();
            while pass.video.2.receive_frame(&mut frame).is_ok() {
                let pts =
                    frame.timestamp().or(frame.pts()).map(|t| t as f64 * f64::from(tb)).unwrap_or(last + interval);
                let due = clock.due(pts);
                let t = pts - clock.first.unwrap_or(pts);
                if shown > 0 && t > last {
                    interval = t - last;
                }
                last = t;
                if !wait_until(due, &target) {
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
        clock.offset += last + interval;
    }
    Ok(())
}

/// Sends the sound decoded so far, each piece a little ahead of its time; false when the loop is
/// no longer wanted.
fn play_sound(dec: &mut ff::decoder::Audio, tb: ff::Rational, clock: &mut Clock, target: &mut LoopTarget) -> bool {
    let mut frame = ff::frame::Audio::empty();
    while dec.receive_frame(&mut frame).is_ok() {
        let Some(samples) = resampled(&mut frame, &mut clock.resampler) else { continue };
        if let Some(pts) = frame.timestamp().or(frame.pts()).map(|t| t as f64 * f64::from(tb)) {
            let due = clock.due(pts).checked_sub(Duration::from_secs_f64(SOUND_LEAD));
            if !due.is_none_or(|d| wait_until(d, target)) {
                return false;
            }
        }
        let n = (samples.len() / AUDIO_CHANNELS) as i64;
        let chunk = AudioChunk { pos: clock.pos, stream_ts: None, samples, mark: 0 };
        clock.pos += n;
        if let Some(send) = target.sound.as_mut() {
            send(chunk);
        }
    }
    true
}

/// A decoded piece of sound as 48 kHz stereo f32 (the mixer's format).
fn resampled(frame: &mut ff::frame::Audio, rs: &mut Option<ff::software::resampling::Context>) -> Option<Vec<f32>> {
    if frame.samples() == 0 {
        return None;
    }
    if frame.channel_layout().is_empty() {
        frame.set_channel_layout(ChannelLayout::default(frame.channels() as i32));
    }
    let packed = ff::format::Sample::F32(ff::format::sample::Type::Packed);
    if rs.is_none() {
        *rs = ff::software::resampling::Context::get(
            frame.format(),
            frame.channel_layout(),
            frame.rate(),
            packed,
            ChannelLayout::STEREO,
            AUDIO_RATE,
        )
        .ok();
    }
    let rs = rs.as_mut()?;
    let cap = (frame.samples() as u64 * AUDIO_RATE as u64 / frame.rate().max(1) as u64) as usize + 256;
    let mut out = ff::frame::Audio::new(packed, cap, ChannelLayout::STEREO);
    out.set_rate(AUDIO_RATE);
    rs.run(frame, &mut out).ok()?;
    let n = out.samples();
    (n > 0).then(|| bytemuck::pod_collect_to_vec(&out.data(0)[..n * AUDIO_CHANNELS * 4]))
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
            sound: None,
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

    #[test]
    fn a_video_slate_s_sound_runs_on_across_loops() {
        let dir = std::env::temp_dir().join(format!("costream-slate-sound-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mp4 = dir.join("tone.mp4");
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:size=64x64:rate=10"])
            .args(["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000", "-t", "0.5"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"])
            .arg(&mp4)
            .status()
            .unwrap();
        assert!(ok.success());
        let chunks: Arc<Mutex<Vec<AudioChunk>>> = Arc::default();
        let (c1, c2) = (chunks.clone(), chunks.clone());
        let samples = move || c1.lock().unwrap().iter().map(|c| c.samples.len() / AUDIO_CHANNELS).sum::<usize>();
        let target = LoopTarget {
            alive: Box::new(move || samples() < AUDIO_RATE as usize),
            show: Box::new(|_| {}),
            sound: Some(Box::new(move |c| c2.lock().unwrap().push(c))),
        };
        run_loop(&mp4, target).unwrap();
        let got = chunks.lock().unwrap();
        // A second of sound from a half-second file: it looped, and each piece follows the last.
        for w in got.windows(2) {
            assert_eq!(w[1].pos, w[0].pos + (w[0].samples.len() / AUDIO_CHANNELS) as i64, "laid end to end");
        }
        let rms = (got.iter().flat_map(|c| c.samples.iter()).map(|x| x * x).sum::<f32>()
            / got.iter().map(|c| c.samples.len()).sum::<usize>() as f32)
            .sqrt();
        assert!(rms > 0.03, "the tone is there: rms {rms}");
    }
}
