//! S1 "PK frame": our pipeline and the FFmpeg filter graph doing the same job on the same
//! generated inputs, alternating, each as a child process measured by the kernel (wait4); FFmpeg's
//! floor (decode + crop/stack + mix + encode, no bar or blur) alongside.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

pub use super::usage::{run_measured, Usage};
use super::{command_line, machine, med, now_utc, progress, BenchArgs};
use costream::compose::RenderReport;
use costream::error::{invalid, Result};
use costream::testsrc::{generate, Clip};

pub(super) const FPS: f64 = 30.0;

/// One combination of tuning knobs.
#[derive(Clone, Debug)]
pub(super) struct Variant {
    pub workgroup: String,
    pub depth: usize,
    pub nice: i32,
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "workgroup {}, readback depth {}, nice {}", self.workgroup, self.depth, self.nice)
    }
}

const S1_GRAPH: &str = "[0:v]scale=-2:720,crop=640:720,setsar=1[l];[1:v]scale=-2:720,crop=640:720,setsar=1[r];\
[l][r]hstack=inputs=2,split=2[base][fsrc];\
[fsrc]crop=200:200:220:160,gblur@face=sigma=12:steps=2[face];\
[base][face]overlay@face=x=220:y=160,\
drawbox@bg=x=40:y=20:w=1200:h=24:color=red@0.9:t=fill,\
drawbox@fill=x=40:y=20:w=720:h=24:color=blue@0.9:t=fill,format=yuv420p[v];\
[0:a][1:a]amix=inputs=2:normalize=0[a]";

/// S1 without the bar and the blur: what decoding, the crop/stack, audio mixing and encoding cost on
/// their own. No compositor can beat this; it is printed as the floor, not compared.
const FLOOR_GRAPH: &str = "[0:v]crop=640:720[l];[1:v]crop=640:720[r];[l][r]hstack=inputs=2[v];\
[0:a][1:a]amix=inputs=2:normalize=0[a]";

pub(super) fn ffmpeg_s1(a: &Path, b: &Path, out: &Path) -> Command {
    ffmpeg_job(a, b, out, S1_GRAPH, &[])
}

/// S1 by FFmpeg with more output options (they must come before the output).
pub(super) fn ffmpeg_s1_with(a: &Path, b: &Path, out: &Path, extra: &[&str]) -> Command {
    ffmpeg_job(a, b, out, S1_GRAPH, extra)
}

fn ffmpeg_job(a: &Path, b: &Path, out: &Path, graph: &str, extra: &[&str]) -> Command {
    let hls = out.join("ff_hls");
    let _ = std::fs::create_dir_all(&hls);
    let tee = format!(
        "[f=flv:onfail=ignore]{}|[f=hls:hls_time=2:hls_list_size=6:hls_flags=delete_segments+independent_segments]{}",
        out.join("ff.flv").display(),
        hls.join("pk.m3u8").display()
    );
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-y", "-i"]).arg(a).arg("-i").arg(b);
    c.args(["-filter_complex", graph, "-map", "[v]", "-map", "[a]"]);
    c.args([
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-b:v",
        "2500k",
        "-maxrate",
        "2500k",
        "-bufsize",
        "5000k",
    ]);
    c.args([
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-threads",
        "2",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ar",
        "48000",
    ]);
    c.args(extra);
    c.args(["-flags", "+global_header", "-f", "tee", &tee]);
    c.stdout(Stdio::null());
    c
}

pub(super) fn ours_s1(
    a: &Path,
    b: &Path,
    out: &Path,
    v: &Variant,
    decode_threads: usize,
    report: &Path,
) -> Result<Command> {
    let exe = std::env::current_exe()?;
    let hls = out.join("our_hls");
    let _ = std::fs::create_dir_all(&hls);
    let mut c = Command::new(exe);
    c.arg("render").arg("--input").arg(a).arg("--input").arg(b);
    c.args(["--layout", "side-by-side", "--fit", "fill", "--size", "1280x720", "--fps", "30"]);
    c.args(["--rect", "40,20,1200,24,#ff0000e6", "--rect", "40,20,720,24,#0000ffe6", "--blur", "220,160,200,200,12"]);
    c.args([
        "--preset",
        "veryfast",
        "--bitrate",
        "2500",
        "--gop",
        "60",
        "--x264-threads",
        "2",
        "--audio-bitrate",
        "128",
    ]);
    c.args([
        "--workgroup",
        &v.workgroup,
        "--readback-depth",
        &v.depth.to_string(),
        "--decode-threads",
        &decode_threads.to_string(),
        "--gpu-timing",
    ]);
    c.args(["--background-nice", &v.nice.to_string()]);
    c.arg("--out").arg(out.join("ours.flv")).arg("--out").arg(hls.join("pk.m3u8"));
    c.arg("--report-json").arg(report);
    c.env("RUST_LOG", "warn");
    Ok(c)
}

pub(super) fn make_inputs(dir: &Path, seconds: f64) -> Result<(PathBuf, PathBuf)> {
    make_inputs_sized(dir, seconds, "1280x720")
}

/// S1's two inputs (30 fps, 2.5 Mbps, with a tone each) at another size.
pub(super) fn make_inputs_sized(dir: &Path, seconds: f64, size: &str) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let tag = if size == "1280x720" { String::new() } else { format!("{size}_") };
    let a = dir.join(format!("s1_a_{tag}{seconds}s.flv"));
    let b = dir.join(format!("s1_b_{tag}{seconds}s.flv"));
    let enc = [
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-g",
        "60", "-pix_fmt", "yuv420p",
    ];
    if !a.exists() {
        progress(&format!("generating {} ({seconds} s, {size} 30 fps, 2.5 Mbps)", a.display()));
        generate(
            &a,
            &Clip::new(&format!("testsrc2=size={size}:rate=30"), seconds)
                .with_audio("sine=frequency=440:sample_rate=48000")
                .args(&enc),
        )?;
    }
    if !b.exists() {
        progress(&format!("generating {} ({seconds} s, {size} 30 fps, 2.5 Mbps)", b.display()));
        generate(
            &b,
            &Clip::new(&format!("testsrc2=size={size}:rate=30,hflip,noise=alls=6:allf=t"), seconds)
                .with_audio("sine=frequency=660:sample_rate=48000")
                .args(&enc),
        )?;
    }
    Ok((a, b))
}

/// S1's figures: FFmpeg, its floor, and each of our variants (the fastest is the headline).
pub struct S1 {
    content_s: f64,
    runs: usize,
    variants: Vec<Variant>,
    base: Vec<Usage>,
    floor: Vec<Usage>,
    ours: BTreeMap<usize, Vec<(Usage, RenderReport)>>,
}

/// Runs S1: per round FFmpeg, its floor, then every variant of ours.
pub fn measure(args: &BenchArgs, dir: &Path) -> Result<S1> {
    let seconds = args.seconds.unwrap_or(if args.quick { 3.0 } else { 20.0 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let (a, b) = make_inputs(&dir.join("inputs"), seconds)?;
    let out = dir.join("out");
    std::fs::create_dir_all(&out)?;
    let variants = variants(args)?;
    let frames = (seconds * FPS).round();
    let mut s = S1 { content_s: seconds, runs, variants, base: Vec::new(), floor: Vec::new(), ours: BTreeMap::new() };
    let total = runs * (s.variants.len() + 2);
    let mut k = 0;
    for r in 0..runs {
        // Alternate: baseline, ours (each variant), baseline, ours… so drift hits both alike.
        k += 1;
        progress(&format!("run {k}/{total}: FFmpeg filter graph (round {})", r + 1));
        let u = run_measured(&mut ffmpeg_s1(&a, &b, &out))?;
        progress(&format!(
            "  {:.1} fps, {:.2} CPU-s per content-s, {:.0} MB peak RSS",
            frames / u.wall_s,
            u.cpu_s / seconds,
            u.max_rss_mb
        ));
        s.base.push(u);
        k += 1;
        progress(&format!("run {k}/{total}: FFmpeg floor (decode + crop/stack + mix + encode, no bar/blur)"));
        let u = run_measured(&mut ffmpeg_job(&a, &b, &out, FLOOR_GRAPH, &[]))?;
        progress(&format!("  {:.1} fps, {:.2} CPU-s per content-s", frames / u.wall_s, u.cpu_s / seconds));
        s.floor.push(u);
        for (vi, v) in s.variants.iter().enumerate() {
            k += 1;
            progress(&format!("run {k}/{total}: costream {v} (round {})", r + 1));
            let report = out.join("ours_report.json");
            let u = run_measured(&mut ours_s1(&a, &b, &out, v, args.decode_threads, &report)?)?;
            let rep: RenderReport = serde_json::from_slice(&std::fs::read(&report)?)
                .map_err(|e| invalid("render report", e.to_string()))?;
            progress(&format!(
                "  {:.1} fps, {:.2} CPU-s per content-s, {:.0} MB peak RSS",
                rep.frames as f64 / u.wall_s,
                u.cpu_s / seconds,
                u.max_rss_mb
            ));
            s.ours.entry(vi).or_default().push((u, rep));
        }
    }
    if s.ours.is_empty() {
        return Err(invalid("bench", "no runs"));
    }
    Ok(s)
}

/// Every combination of the swept tuning knobs.
fn variants(args: &BenchArgs) -> Result<Vec<Variant>> {
    let workgroups: Vec<&str> = args.workgroup.split(',').map(str::trim).collect();
    let depths: Vec<usize> = args
        .readback_depth
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| invalid("readback-depth", s.to_string())))
        .collect::<Result<_>>()?;
    let nices: Vec<i32> = args
        .background_nice
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| invalid("background-nice", s.to_string())))
        .collect::<Result<_>>()?;
    let mut v = Vec::new();
    for w in &workgroups {
        for d in &depths {
            for n in &nices {
                v.push(Variant { workgroup: w.to_string(), depth: *d, nice: *n });
            }
        }
    }
    Ok(v)
}

/// One pipeline's medians: fps, CPU-s per content-s, peak RSS (MB).
struct Row {
    fps: f64,
    cpu: f64,
    rss: f64,
}

const STAGES: [&str; 7] = ["decode", "upload", "composite", "blur", "convert", "readback", "encode"];

impl S1 {
    fn frames(&self) -> f64 {
        (self.content_s * FPS).round()
    }

    fn ffmpeg(&self, runs: &[Usage]) -> Row {
        Row {
            fps: med(&runs.iter().map(|u| self.frames() / u.wall_s).collect::<Vec<_>>()),
            cpu: med(&runs.iter().map(|u| u.cpu_s / self.content_s).collect::<Vec<_>>()),
            rss: runs.iter().map(|u| u.max_rss_mb).fold(0.0, f64::max),
        }
    }

    /// Our rows by variant, and the index of the fastest.
    fn rows(&self) -> (Vec<(usize, Row)>, usize) {
        let rows: Vec<(usize, Row)> = self
            .ours
            .iter()
            .map(|(vi, r)| {
                let fps = med(&r.iter().map(|(u, rep)| rep.frames as f64 / u.wall_s).collect::<Vec<_>>());
                let cpu = med(&r.iter().map(|(u, _)| u.cpu_s / self.content_s).collect::<Vec<_>>());
                (*vi, Row { fps, cpu, rss: r.iter().map(|(u, _)| u.max_rss_mb).fold(0.0, f64::max) })
            })
            .collect();
        let best = rows.iter().max_by(|x, y| x.1.fps.total_cmp(&y.1.fps)).map(|r| r.0).unwrap_or(0);
        (rows, best)
    }

    fn device(&self) -> String {
        self.ours.values().flatten().next().map(|(_, r)| r.device.clone()).unwrap_or_default()
    }

    /// The flat JSON figures of S1.
    pub fn json(&self) -> serde_json::Map<String, Value> {
        let (ff, fl) = (self.ffmpeg(&self.base), self.ffmpeg(&self.floor));
        let (rows, best) = self.rows();
        let o = &rows.iter().find(|r| r.0 == best).expect("best is a row").1;
        let reports: Vec<&RenderReport> = self.ours[&best].iter().map(|(_, r)| r).collect();
        let stage = |f: fn(&RenderReport) -> Option<f64>| -> Value {
            let v: Vec<f64> = reports.iter().filter_map(|r| f(r)).collect();
            if v.is_empty() {
                Value::Null
            } else {
                json!(med(&v))
            }
        };
        let v = &self.variants[best];
        let mut j = serde_json::Map::new();
        for (k, val) in [
            ("device", json!(self.device())),
            ("cpu", json!(machine())),
            ("content_seconds", json!(self.content_s)),
            ("runs", json!(self.runs)),
            ("s1_ours_fps", json!(o.fps)),
            ("s1_ffmpeg_fps", json!(ff.fps)),
            ("s1_fps_ratio", json!(o.fps / ff.fps)),
            ("s1_ours_cpu_per_content_s", json!(o.cpu)),
            ("s1_ffmpeg_cpu_per_content_s", json!(ff.cpu)),
            ("s1_cpu_ratio", json!(o.cpu / ff.cpu)),
            ("s1_ours_peak_rss_mb", json!(o.rss)),
            ("s1_floor_fps", json!(fl.fps)),
            // How close S1 comes to what decoding, stacking, mixing and encoding cost alone.
            ("s1_fraction_of_floor", json!(o.fps / fl.fps)),
            ("s1_floor_cpu_per_content_s", json!(fl.cpu)),
            ("s1_ffmpeg_peak_rss_mb", json!(ff.rss)),
            ("s1_workgroup", json!(v.workgroup)),
            ("s1_readback_depth", json!(v.depth)),
            ("s1_background_nice", json!(v.nice)),
            ("s1_stage_decode_ms", stage(|r| r.stages_ms.decode)),
            ("s1_stage_upload_ms", stage(|r| r.stages_ms.upload)),
            ("s1_stage_composite_ms", stage(|r| r.stages_ms.composite)),
            ("s1_stage_blur_ms", stage(|r| r.stages_ms.blur)),
            ("s1_stage_convert_ms", stage(|r| r.stages_ms.convert)),
            ("s1_stage_readback_ms", stage(|r| r.stages_ms.readback)),
            ("s1_stage_encode_ms", stage(|r| r.stages_ms.encode)),
            ("s1_stage_note", json!("composite and blur are GPU timestamps of their passes; there is no separate colour conversion: each tile's matrix maps its YUV straight to BT.709 NV12 inside the composite dispatches, so convert is 0")),
        ] {
            j.insert(k.into(), val);
        }
        j
    }

    fn stage_list(&self, sep: &str) -> String {
        let j = self.json();
        STAGES
            .iter()
            .map(|s| {
                format!(
                    "{s} {}",
                    j[&format!("s1_stage_{s}_ms")].as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())
                )
            })
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// The summary printed at the end of a run.
    pub fn text(&self) -> String {
        let (ff, fl) = (self.ffmpeg(&self.base), self.ffmpeg(&self.floor));
        let (rows, best) = self.rows();
        let o = &rows.iter().find(|r| r.0 == best).expect("best is a row").1;
        let mut t = format!(
            "\nS1 PK frame, {} s of 720p30 x2, {} run(s) each; device {}\n",
            self.content_s,
            self.runs,
            self.device()
        );
        t.push_str(&format!("{:<34} {:>9} {:>14} {:>12}\n", "pipeline", "fps", "CPU-s/content-s", "peak RSS MB"));
        t.push_str(&format!("{:<34} {:>9.1} {:>14.2} {:>12.0}\n", "FFmpeg filter graph", ff.fps, ff.cpu, ff.rss));
        t.push_str(&format!(
            "{:<34} {:>9.1} {:>14.2} {:>12}\n",
            "(floor: FFmpeg without bar/blur)", fl.fps, fl.cpu, "-"
        ));
        for (vi, r) in &rows {
            t.push_str(&format!(
                "{:<34} {:>9.1} {:>14.2} {:>12.0}\n",
                format!("costream ({})", self.variants[*vi]),
                r.fps,
                r.cpu,
                r.rss
            ));
        }
        t.push_str(&format!(
            "ratio ours/FFmpeg: fps {:.2}x, CPU {:.2}x; ours at {:.0} % of the floor\n",
            o.fps / ff.fps,
            o.cpu / ff.cpu,
            100.0 * o.fps / fl.fps
        ));
        t.push_str(&format!("stage medians (ms): {}", self.stage_list(" ")));
        t
    }

    /// The BENCHMARKS.md entry.
    pub fn markdown(&self) -> String {
        let (ff, fl) = (self.ffmpeg(&self.base), self.ffmpeg(&self.floor));
        let (rows, best) = self.rows();
        let o = &rows.iter().find(|r| r.0 == best).expect("best is a row").1;
        let mut md = format!("\n### S1 PK frame — {}\n\n", now_utc());
        md.push_str(&format!(
            "Machine: {}, {}. Command: `{}`. {} s inputs, {} alternating runs each, medians.\n\n",
            machine(),
            self.device(),
            command_line(),
            self.content_s,
            self.runs
        ));
        md.push_str("| pipeline | fps (unpaced) | CPU-s per content-s | peak RSS MB |\n|---|---:|---:|---:|\n");
        md.push_str(&format!("| FFmpeg filter graph | {:.1} | {:.2} | {:.0} |\n", ff.fps, ff.cpu, ff.rss));
        md.push_str(&format!(
            "| *floor: FFmpeg decode + crop/stack + mix + encode, no bar/blur* | {:.1} | {:.2} | |\n",
            fl.fps, fl.cpu
        ));
        for (vi, r) in &rows {
            md.push_str(&format!(
                "| costream ({}) | {:.1} | {:.2} | {:.0} |\n",
                self.variants[*vi], r.fps, r.cpu, r.rss
            ));
        }
        md.push_str(&format!("| **ratio ours/FFmpeg** | **{:.2}×** | {:.2}× | |\n", o.fps / ff.fps, o.cpu / ff.cpu));
        md.push_str(&format!("| **ours / floor** (`s1_fraction_of_floor`) | **{:.2}** | | |\n\n", o.fps / fl.fps));
        md.push_str(&format!("Stage medians (ms): {}", self.stage_list(", ")));
        md.push_str(" (composite and blur: GPU timestamps of their passes; colour conversion happens inside the composite dispatches, so convert is 0).\n");
        md
    }
}
