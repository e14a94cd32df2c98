//! S2 "scaled PK frame": S1's job with 640×360 anchors, each filling its 640×720 half (upscaled
//! 2× and cropped), the co-stream case that S1's 1:1 crops do not exercise. Ours against FFmpeg's
//! S1 graph, whose scale + crop is the same fill, on the same inputs, alternating.

use std::path::Path;

use serde_json::{json, Value};

use super::s1::{ffmpeg_s1, make_inputs_sized, ours_s1, run_measured, Variant, FPS};
use super::{med, progress, BenchArgs};
use costream::compose::RenderReport;
use costream::error::{invalid, Result};

/// Medians of the runs: frames per second and CPU-seconds per content-second, ours and FFmpeg's.
#[derive(Clone, Copy)]
pub struct Scaled {
    ours_fps: f64,
    ffmpeg_fps: f64,
    ours_cpu: f64,
    ffmpeg_cpu: f64,
}

pub fn measure(args: &BenchArgs, dir: &Path) -> Result<Scaled> {
    let seconds = args.seconds.unwrap_or(if args.quick { 3.0 } else { 20.0 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let (a, b) = make_inputs_sized(&dir.join("inputs"), seconds, "640x360")?;
    let out = dir.join("out-scaled");
    std::fs::create_dir_all(&out)?;
    let variant = Variant { workgroup: "8x8".into(), depth: 3, nice: 4 };
    let (mut ours, mut ff) = (Vec::new(), Vec::new());
    for r in 0..runs {
        progress(&format!("S2 scaled, round {}: FFmpeg filter graph", r + 1));
        let u = run_measured(&mut ffmpeg_s1(&a, &b, &out))?;
        ff.push((seconds * FPS / u.wall_s, u.cpu_s / seconds));
        progress(&format!("S2 scaled, round {}: costream", r + 1));
        let report = out.join("ours_report.json");
        let u = run_measured(&mut ours_s1(&a, &b, &out, &variant, args.decode_threads, &report)?)?;
        let rep: RenderReport =
            serde_json::from_slice(&std::fs::read(&report)?).map_err(|e| invalid("render report", e.to_string()))?;
        ours.push((rep.frames as f64 / u.wall_s, u.cpu_s / seconds));
        progress(&format!("  FFmpeg {:.1} fps, costream {:.1} fps", ff[r].0, ours[r].0));
    }
    let m = |v: &[(f64, f64)], k: usize| med(&v.iter().map(|p| if k == 0 { p.0 } else { p.1 }).collect::<Vec<_>>());
    Ok(Scaled { ours_fps: m(&ours, 0), ffmpeg_fps: m(&ff, 0), ours_cpu: m(&ours, 1), ffmpeg_cpu: m(&ff, 1) })
}

impl Scaled {
    pub fn json(&self, j: &mut serde_json::Map<String, Value>) {
        j.insert("s2_scaled_ours_fps".into(), json!(self.ours_fps));
        j.insert("s2_scaled_ffmpeg_fps".into(), json!(self.ffmpeg_fps));
        j.insert("s2_scaled_fps_ratio".into(), json!(self.ours_fps / self.ffmpeg_fps));
        j.insert("s2_scaled_ours_cpu_per_content_s".into(), json!(self.ours_cpu));
        j.insert("s2_scaled_ffmpeg_cpu_per_content_s".into(), json!(self.ffmpeg_cpu));
    }

    pub fn text(&self, md: bool) -> String {
        let s = format!(
            "S2 scaled PK frame (S1 with two 640×360 anchors upscaled 2× to fill 640×720 each, unpaced): costream {:.1} fps, FFmpeg {:.1} fps: **{:.2}×** (`s2_scaled_fps_ratio`); CPU-s per content-s {:.2} vs {:.2}.",
            self.ours_fps,
            self.ffmpeg_fps,
            self.ours_fps / self.ffmpeg_fps,
            self.ours_cpu,
            self.ffmpeg_cpu
        );
        if md {
            format!("\n{s}\n")
        } else {
            format!("{}\n", s.replace("**", ""))
        }
    }
}
