//! Synthetic inputs made with the `ffmpeg` command-line tool: the demo's sample clips, the benchmark's
//! inputs and the tests' known patterns all come from here, so no media files are shipped.

use std::path::Path;
use std::process::Command;

use crate::error::{invalid, Error, Result};

#[derive(Clone, Debug)]
pub struct Clip {
    /// lavfi video source, e.g. `testsrc2=size=1280x720:rate=30`.
    pub video: String,
    /// lavfi audio source, e.g. `sine=frequency=440:sample_rate=48000`.
    pub audio: Option<String>,
    pub seconds: f64,
    /// Extra encoder arguments (defaults: libx264 veryfast, yuv420p).
    pub video_args: Vec<String>,
    /// Display rotation metadata (FFmpeg's `rotate` tag), as phones write it.
    pub rotate: Option<u32>,
}

impl Clip {
    pub fn new(video: impl Into<String>, seconds: f64) -> Clip {
        Clip { video: video.into(), audio: None, seconds, video_args: Vec::new(), rotate: None }
    }
    pub fn with_audio(mut self, audio: impl Into<String>) -> Clip {
        self.audio = Some(audio.into());
        self
    }
    pub fn args(mut self, a: &[&str]) -> Clip {
        self.video_args.extend(a.iter().map(|s| s.to_string()));
        self
    }
}

/// Writes `clip` to `out` (container from the extension).
pub fn generate(out: &Path, clip: &Clip) -> Result<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", &clip.video]);
    if let Some(a) = &clip.audio {
        cmd.args(["-f", "lavfi", "-i", a]);
    }
    cmd.args(["-t", &format!("{:.3}", clip.seconds), "-map", "0:v"]);
    if clip.audio.is_some() {
        cmd.args(["-map", "1:a", "-c:a", "aac", "-b:a", "128k"]);
    }
    if clip.video_args.is_empty() {
        cmd.args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]);
    } else {
        cmd.args(&clip.video_args);
    }
    // FFmpeg 5.1 turns the rotate tag into a display matrix only when stream-copying: encode first,
    // then remux with the tag.
    let encoded = if clip.rotate.is_some() { out.with_extension("unrotated.mp4") } else { out.to_path_buf() };
    cmd.arg(&encoded);
    run(cmd, out)?;
    if let Some(r) = clip.rotate {
        let mut remux = Command::new("ffmpeg");
        remux.args(["-hide_banner", "-loglevel", "error", "-y", "-i"]).arg(&encoded);
        remux.args(["-c", "copy", "-metadata:s:v:0", &format!("rotate={r}")]).arg(out);
        run(remux, out)?;
        let _ = std::fs::remove_file(&encoded);
    }
    Ok(())
}

fn run(mut cmd: Command, out: &Path) -> Result<()> {
    let o =
        cmd.output().map_err(|e| invalid("ffmpeg", format!("cannot run ffmpeg ({e}); install the ffmpeg package")))?;
    if !o.status.success() {
        return Err(Error::Output {
            url: out.display().to_string(),
            why: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
    }
    Ok(())
}

/// The demo's two anchors: a landscape 1080p60 game-like clip and a portrait 720×1280 30 fps phone clip,
/// each with its own tone.
pub fn demo_clips(dir: &Path, seconds: f64) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let a = dir.join("anchor_a_1080p60.mp4");
    let b = dir.join("anchor_b_720x1280_30.mp4");
    generate(
        &a,
        &Clip::new("testsrc2=size=1920x1080:rate=60", seconds).with_audio("sine=frequency=440:sample_rate=48000"),
    )?;
    generate(
        &b,
        &Clip::new("smptehdbars=size=720x1280:rate=30", seconds).with_audio("sine=frequency=660:sample_rate=44100"),
    )?;
    Ok((a, b))
}
