//! `costream bench`: the S1 "PK frame" job (two 720p30 inputs side by side with centre crop, a
//! two-colour bar, a sigma-12 blur over a 200×200 rectangle, both audios mixed, x264 veryfast
//! zerolatency 2500k g=60, AAC 128k, one encode to FLV + HLS), run by our pipeline and by the FFmpeg
//! filter graph in the same invocation, alternating, on the same generated inputs.
//!
//! Both run as child processes so that CPU time and peak RSS come from the kernel (wait4) and cover
//! every thread, lavapipe's included.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use crate::error::{invalid, Error, Result};
use crate::render::{median, RenderReport};
use crate::testsrc::{generate, Clip};

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Short smoke run (3 s inputs, one run each); does not touch BENCHMARKS.md.
    #[arg(long)]
    pub quick: bool,
    /// Skip the RTMP-in to RTMP-out latency and PK accept measurements (they need nginx with the
    /// RTMP module).
    #[arg(long)]
    pub no_latency: bool,
    /// Only the PK measurements: accept → first merged frame (pre-pulled vs cold) and dirty-region
    /// reuse (on vs off).
    #[arg(long)]
    pub pk_only: bool,
    /// Only the masking measurements: face tracking, mask pass per level, service CPU with
    /// 10 / 1 000 / 10 000 viewers.
    #[arg(long)]
    pub masking_only: bool,
    /// Runs of each pipeline (alternating).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Length of the generated inputs in seconds.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Write the figures as flat JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Append the result table to this Markdown file (default BENCHMARKS.md; not in --quick).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Do not append to BENCHMARKS.md.
    #[arg(long)]
    pub no_record: bool,
    /// Working directory for inputs and outputs.
    #[arg(long, default_value = "target/bench")]
    pub dir: PathBuf,
    /// Workgroup of the full-frame pass, in 4x2-pixel blocks; comma-separate several to sweep.
    #[arg(long, default_value = "8x8")]
    pub workgroup: String,
    /// Readback staging buffers in flight; comma-separate several to sweep.
    #[arg(long, default_value = "3")]
    pub readback_depth: String,
    /// Decoder threads per input (0 = cores / inputs, at least 1).
    #[arg(long, default_value_t = 0)]
    pub decode_threads: usize,
    /// Nice value of our decode and software-GPU threads; comma-separate several to sweep.
    #[arg(long, default_value = "4")]
    pub background_nice: String,
}

/// One child process's cost, as the kernel counted it.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mb: f64,
}

/// Runs a command to completion and returns its resource usage (wait4).
pub fn run_measured(cmd: &mut Command) -> Result<Usage> {
    let start = Instant::now();
    let child = cmd.stdin(Stdio::null()).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall_s = start.elapsed().as_secs_f64();
    if r != pid {
        return Err(Error::Io(std::io::Error::last_os_error()));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        return Err(invalid("benchmark child", format!("{cmd:?} exited with status {status}")));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage { wall_s, cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime), max_rss_mb: ru.ru_maxrss as f64 / 1024.0 })
}

const FPS: f64 = 30.0;

/// One combination of tuning knobs.
#[derive(Clone, Debug)]
struct Variant {
    workgroup: String,
    depth: usize,
    nice: i32,
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

fn ffmpeg_s1(a: &Path, b: &Path, out: &Path) -> Command {
    ffmpeg_job(a, b, out, S1_GRAPH)
}

fn ffmpeg_job(a: &Path, b: &Path, out: &Path, graph: &str) -> Command {
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
    c.args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k"]);
    c.args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-threads", "2", "-c:a", "aac", "-b:a", "128k", "-ar", "48000"]);
    c.args(["-flags", "+global_header", "-f", "tee", &tee]);
    c.stdout(Stdio::null());
    c
}

fn ours_s1(a: &Path, b: &Path, out: &Path, v: &Variant, decode_threads: usize, report: &Path) -> Result<Command> {
    let exe = std::env::current_exe()?;
    let hls = out.join("our_hls");
    let _ = std::fs::create_dir_all(&hls);
    let mut c = Command::new(exe);
    c.arg("render").arg("--input").arg(a).arg("--input").arg(b);
    c.args(["--layout", "side-by-side", "--fit", "fill", "--size", "1280x720", "--fps", "30"]);
    c.args(["--rect", "40,20,1200,24,#ff0000e6", "--rect", "40,20,720,24,#0000ffe6", "--blur", "220,160,200,200,12"]);
    c.args(["--preset", "veryfast", "--bitrate", "2500", "--gop", "60", "--x264-threads", "2", "--audio-bitrate", "128"]);
    c.args(["--workgroup", &v.workgroup, "--readback-depth", &v.depth.to_string(), "--decode-threads", &decode_threads.to_string(), "--gpu-timing"]);
    c.args(["--background-nice", &v.nice.to_string()]);
    c.arg("--out").arg(out.join("ours.flv")).arg("--out").arg(hls.join("pk.m3u8"));
    c.arg("--report-json").arg(report);
    c.env("RUST_LOG", "warn");
    Ok(c)
}

/// A progress line on stderr (for the other benchmark modules).
pub fn progress_line(msg: &str) {
    progress(msg)
}

fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

fn make_inputs(dir: &Path, seconds: f64) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let a = dir.join(format!("s1_a_{seconds}s.flv"));
    let b = dir.join(format!("s1_b_{seconds}s.flv"));
    let enc = ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-g", "60", "-pix_fmt", "yuv420p"];
    if !a.exists() {
        progress(&format!("generating {} ({seconds} s, 720p30, 2.5 Mbps)", a.display()));
        generate(&a, &Clip::new("testsrc2=size=1280x720:rate=30", seconds).with_audio("sine=frequency=440:sample_rate=48000").args(&enc))?;
    }
    if !b.exists() {
        progress(&format!("generating {} ({seconds} s, 720p30, 2.5 Mbps)", b.display()));
        generate(&b, &Clip::new("testsrc2=size=1280x720:rate=30,hflip,noise=alls=6:allf=t", seconds).with_audio("sine=frequency=660:sample_rate=48000").args(&enc))?;
    }
    Ok((a, b))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

fn med(v: &[f64]) -> f64 {
    let mut f: Vec<f32> = v.iter().map(|x| *x as f32).collect();
    median(&mut f).unwrap_or(0.0)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.pk_only {
        return run_pk_only(args);
    }
    if args.masking_only {
        return run_masking_only(args);
    }
    let seconds = args.seconds.unwrap_or(if args.quick { 3.0 } else { 20.0 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let dir = args.dir.clone();
    let (a, b) = make_inputs(&dir.join("inputs"), seconds)?;
    let out = dir.join("out");
    std::fs::create_dir_all(&out)?;
    let content_s = seconds;
    let frames = (seconds * FPS).round();
    let workgroups: Vec<&str> = args.workgroup.split(',').map(str::trim).collect();
    let depths: Vec<usize> = args.readback_depth.split(',').map(|s| s.trim().parse().map_err(|_| invalid("readback-depth", s.to_string()))).collect::<Result<_>>()?;
    let nices: Vec<i32> = args.background_nice.split(',').map(|s| s.trim().parse().map_err(|_| invalid("background-nice", s.to_string()))).collect::<Result<_>>()?;
    let mut variants = Vec::new();
    for w in &workgroups {
        for d in &depths {
            for n in &nices {
                variants.push(Variant { workgroup: w.to_string(), depth: *d, nice: *n });
            }
        }
    }

    let mut ours: BTreeMap<usize, Vec<(Usage, RenderReport)>> = BTreeMap::new();
    let mut base: Vec<Usage> = Vec::new();
    let mut floor: Vec<Usage> = Vec::new();
    let total = runs * (variants.len() + 2);
    let mut k = 0;
    for r in 0..runs {
        // Alternate: baseline, ours (each variant), baseline, ours… so drift hits both alike.
        k += 1;
        progress(&format!("run {k}/{total}: FFmpeg filter graph (round {})", r + 1));
        let u = run_measured(&mut ffmpeg_s1(&a, &b, &out))?;
        progress(&format!("  {:.1} fps, {:.2} CPU-s per content-s, {:.0} MB peak RSS", frames / u.wall_s, u.cpu_s / content_s, u.max_rss_mb));
        base.push(u);
        k += 1;
        progress(&format!("run {k}/{total}: FFmpeg floor (decode + crop/stack + mix + encode, no bar/blur)"));
        let u = run_measured(&mut ffmpeg_job(&a, &b, &out, FLOOR_GRAPH))?;
        progress(&format!("  {:.1} fps, {:.2} CPU-s per content-s", frames / u.wall_s, u.cpu_s / content_s));
        floor.push(u);
        for (vi, v) in variants.iter().enumerate() {
            k += 1;
            progress(&format!("run {k}/{total}: costream {v} (round {})", r + 1));
            let report = out.join("ours_report.json");
            let u = run_measured(&mut ours_s1(&a, &b, &out, v, args.decode_threads, &report)?)?;
            let rep: RenderReport = serde_json::from_slice(&std::fs::read(&report)?).map_err(|e| invalid("render report", e.to_string()))?;
            progress(&format!("  {:.1} fps, {:.2} CPU-s per content-s, {:.0} MB peak RSS", rep.frames as f64 / u.wall_s, u.cpu_s / content_s, u.max_rss_mb));
            ours.entry(vi).or_default().push((u, rep));
        }
    }

    let ff_fps = med(&base.iter().map(|u| frames / u.wall_s).collect::<Vec<_>>());
    let ff_cpu = med(&base.iter().map(|u| u.cpu_s / content_s).collect::<Vec<_>>());
    let ff_rss = base.iter().map(|u| u.max_rss_mb).fold(0.0, f64::max);
    let fl_fps = med(&floor.iter().map(|u| frames / u.wall_s).collect::<Vec<_>>());
    let fl_cpu = med(&floor.iter().map(|u| u.cpu_s / content_s).collect::<Vec<_>>());
    // The best variant is the headline; every variant is listed.
    let mut rows = Vec::new();
    for (vi, results) in &ours {
        let fps = med(&results.iter().map(|(u, rep)| rep.frames as f64 / u.wall_s).collect::<Vec<_>>());
        let cpu = med(&results.iter().map(|(u, _)| u.cpu_s / content_s).collect::<Vec<_>>());
        let rss = results.iter().map(|(u, _)| u.max_rss_mb).fold(0.0, f64::max);
        rows.push((*vi, fps, cpu, rss));
    }
    let Some(&(best, o_fps, o_cpu, o_rss)) = rows.iter().max_by(|x, y| x.1.total_cmp(&y.1)) else {
        return Err(invalid("bench", "no runs"));
    };
    let best_reports: Vec<&RenderReport> = ours[&best].iter().map(|(_, r)| r).collect();
    let stage = |f: fn(&RenderReport) -> Option<f64>| -> Value {
        let v: Vec<f64> = best_reports.iter().filter_map(|r| f(r)).collect();
        if v.is_empty() { Value::Null } else { json!(med(&v)) }
    };
    let device = best_reports.first().map(|r| r.device.clone()).unwrap_or_default();
    let mut j = serde_json::Map::new();
    j.insert("device".into(), json!(device));
    j.insert("cpu".into(), json!(format!("{} x{}", cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))));
    j.insert("content_seconds".into(), json!(content_s));
    j.insert("runs".into(), json!(runs));
    j.insert("s1_ours_fps".into(), json!(o_fps));
    j.insert("s1_ffmpeg_fps".into(), json!(ff_fps));
    j.insert("s1_fps_ratio".into(), json!(o_fps / ff_fps));
    j.insert("s1_ours_cpu_per_content_s".into(), json!(o_cpu));
    j.insert("s1_ffmpeg_cpu_per_content_s".into(), json!(ff_cpu));
    j.insert("s1_cpu_ratio".into(), json!(o_cpu / ff_cpu));
    j.insert("s1_ours_peak_rss_mb".into(), json!(o_rss));
    j.insert("s1_floor_fps".into(), json!(fl_fps));
    j.insert("s1_floor_cpu_per_content_s".into(), json!(fl_cpu));
    j.insert("s1_ffmpeg_peak_rss_mb".into(), json!(ff_rss));
    j.insert("s1_workgroup".into(), json!(variants[best].workgroup));
    j.insert("s1_readback_depth".into(), json!(variants[best].depth));
    j.insert("s1_background_nice".into(), json!(variants[best].nice));
    j.insert("s1_stage_decode_ms".into(), stage(|r| r.stages_ms.decode));
    j.insert("s1_stage_upload_ms".into(), stage(|r| r.stages_ms.upload));
    j.insert("s1_stage_composite_ms".into(), stage(|r| r.stages_ms.composite));
    j.insert("s1_stage_blur_ms".into(), stage(|r| r.stages_ms.blur));
    j.insert("s1_stage_convert_ms".into(), stage(|r| r.stages_ms.convert));
    j.insert("s1_stage_readback_ms".into(), stage(|r| r.stages_ms.readback));
    j.insert("s1_stage_encode_ms".into(), stage(|r| r.stages_ms.encode));
    j.insert("s1_stage_note".into(), json!("composite and blur are GPU timestamps of their passes; there is no separate colour conversion: each tile's matrix maps its YUV straight to BT.709 NV12 inside the composite dispatches, so convert is 0"));
    // Latency costream adds between an RTMP publish and its RTMP output.
    let latency = if args.no_latency {
        None
    } else {
        progress("measuring RTMP publish -> RTMP out latency (direct through nginx, then through costream)");
        match crate::bench_latency::run(&dir, if args.quick { 5.0 } else { 10.0 }) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "latency not measured");
                None
            }
        }
    };
    j.insert("rtmp_direct_latency_ms".into(), latency.map(|l| json!(l.0)).unwrap_or(Value::Null));
    j.insert("rtmp_costream_latency_ms".into(), latency.map(|l| json!(l.1)).unwrap_or(Value::Null));
    j.insert("rtmp_added_latency_ms".into(), latency.map(|l| json!(l.2)).unwrap_or(Value::Null));
    let (pk, reuse) = pk_measurements(args, &dir, &mut j);
    let masking = masking_measurements(args, &dir, &mut j);
    let j = Value::Object(j);

    // Human-readable summary.
    let mut text = String::new();
    text.push_str(&format!("\nS1 PK frame, {content_s} s of 720p30 x2, {runs} run(s) each; device {device}\n"));
    text.push_str(&format!("{:<34} {:>9} {:>14} {:>12}\n", "pipeline", "fps", "CPU-s/content-s", "peak RSS MB"));
    text.push_str(&format!("{:<34} {:>9.1} {:>14.2} {:>12.0}\n", "FFmpeg filter graph", ff_fps, ff_cpu, ff_rss));
    text.push_str(&format!("{:<34} {:>9.1} {:>14.2} {:>12}\n", "(floor: FFmpeg without bar/blur)", fl_fps, fl_cpu, "-"));
    for (vi, fps, cpu, rss) in &rows {
        text.push_str(&format!("{:<34} {:>9.1} {:>14.2} {:>12.0}\n", format!("costream ({})", variants[*vi]), fps, cpu, rss));
    }
    text.push_str(&format!("ratio ours/FFmpeg: fps {:.2}x, CPU {:.2}x\n", o_fps / ff_fps, o_cpu / ff_cpu));
    text.push_str("stage medians (ms): ");
    for s in ["decode", "upload", "composite", "blur", "convert", "readback", "encode"] {
        let v = &j[format!("s1_stage_{s}_ms")];
        text.push_str(&format!("{s} {} ", v.as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())));
    }
    if let Some((d, t, a)) = latency {
        text.push_str(&format!("\nRTMP in -> RTMP out (median): direct through nginx {d:.0} ms, through costream {t:.0} ms; costream adds {a:.0} ms\n"));
    }
    text.push_str(&pk_text(pk, reuse, false));
    text.push_str(&masking_text(&masking, false));
    println!("{text}");

    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&j).unwrap_or_default())?;
        progress(&format!("figures written to {}", p.display()));
    }
    let record = if args.no_record {
        None
    } else if let Some(p) = &args.record {
        Some(p.clone())
    } else if args.quick {
        None
    } else {
        Some(PathBuf::from("BENCHMARKS.md"))
    };
    if let Some(p) = record {
        let cmdline: Vec<String> = std::env::args().collect();
        let mut md = String::new();
        md.push_str(&format!("\n### S1 PK frame — {}\n\n", now_utc()));
        md.push_str(&format!("Machine: {}, {}. Command: `{}`. {content_s} s inputs, {runs} alternating runs each, medians.\n\n", j["cpu"].as_str().unwrap_or(""), device, cmdline.join(" ")));
        md.push_str("| pipeline | fps (unpaced) | CPU-s per content-s | peak RSS MB |\n|---|---:|---:|---:|\n");
        md.push_str(&format!("| FFmpeg filter graph | {ff_fps:.1} | {ff_cpu:.2} | {ff_rss:.0} |\n"));
        md.push_str(&format!("| *floor: FFmpeg decode + crop/stack + mix + encode, no bar/blur* | {fl_fps:.1} | {fl_cpu:.2} | |\n"));
        for (vi, fps, cpu, rss) in &rows {
            md.push_str(&format!("| costream ({}) | {fps:.1} | {cpu:.2} | {rss:.0} |\n", variants[*vi]));
        }
        md.push_str(&format!("| **ratio ours/FFmpeg** | **{:.2}×** | {:.2}× | |\n\n", o_fps / ff_fps, o_cpu / ff_cpu));
        md.push_str("Stage medians (ms): ");
        let parts: Vec<String> = ["decode", "upload", "composite", "blur", "convert", "readback", "encode"]
            .iter()
            .map(|s| format!("{s} {}", j[format!("s1_stage_{s}_ms")].as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())))
            .collect();
        md.push_str(&parts.join(", "));
        md.push_str(" (composite and blur: GPU timestamps of their passes; colour conversion happens inside the composite dispatches, so convert is 0).\n");
        if let Some((d, t, a)) = latency {
            md.push_str(&format!("\nRTMP publish → RTMP out, median over a 10 s 640×360 30 fps stream with a frame counter: direct through nginx-rtmp {d:.0} ms, through costream (ingest, decode, compose, x264 veryfast zerolatency, push to nginx) {t:.0} ms: **costream adds {a:.0} ms** (`rtmp_added_latency_ms`).\n"));
        }
        md.push_str(&pk_text(pk, reuse, true));
        md.push_str(&masking_text(&masking, true));
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p)?;
        f.write_all(md.as_bytes())?;
        progress(&format!("table appended to {}", p.display()));
    }
    Ok(())
}

fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Frames per second of compose + readback on a PK room scene — a full-frame 1920×1080 background
/// image beneath two 640×720 video tiles (new pictures every frame), two avatars, decorative frames
/// around the tiles and a static title — with dirty-region reuse on and off, alternating, in one
/// process on one device. Returns (on, off).
pub fn dirty_reuse(frames: usize, runs: usize) -> Result<(f64, f64)> {
    use crate::gpu::{Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, Picture, PlaneLayout, Scene, TextRenderer, TextStyle, TileSpec};
    use crate::layout::{place, Fit, Rect, SourceGeom};
    let gpu = std::sync::Arc::new(Gpu::open()?);
    let (w, h) = (1920u32, 1080u32);
    let bg = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x * 255 / w) as u8, (y * 255 / h) as u8, 140, 255]));
    let avatar = image::RgbaImage::from_fn(128, 128, |x, y| {
        let d = (x as i32 - 64).pow(2) + (y as i32 - 64).pow(2);
        image::Rgba(if d < 60 * 60 { [240, 200, 180, 255] } else if d < 64 * 64 { [255, 255, 255, 255] } else { [0, 0, 0, 0] })
    });
    let ornament = image::RgbaImage::from_fn(64, 64, |x, y| image::Rgba([255, 215, 0, if x < 12 || y < 12 { 255 } else { 0 }]));
    let title = TextRenderer::new().render("PK 大战 · Round 1", 600, 64, &TextStyle { size: 48.0, ..TextStyle::default() });
    // Two pictures per tile, alternated: every frame uploads new content.
    let pics: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = (0..4u8)
        .map(|k| {
            let y = (0..640 * 720).map(|i| ((i % 640) as u32 * 3 + (i / 640) as u32 + k as u32 * 40) as u8).collect();
            (y, vec![128u8 + k * 8; 320 * 360], vec![128u8; 320 * 360])
        })
        .collect();
    let geom = SourceGeom { width: 640, height: 720, rotation: 0, sar: 1.0 };
    let tiles = [(320.0f32, 180.0f32), (960.0, 180.0)];
    let mut layers = Vec::new();
    for (x, y) in tiles {
        for r in [Rect::new(x - 8.0, y - 8.0, 656.0, 8.0), Rect::new(x - 8.0, y + 720.0, 656.0, 8.0), Rect::new(x - 8.0, y, 8.0, 720.0), Rect::new(x + 640.0, y, 8.0, 720.0)] {
            layers.push(LayerSpec { rect: r, color: [1.0, 0.84, 0.0, 1.0], kind: LayerKind::Solid });
        }
        layers.push(LayerSpec { rect: Rect::new(x - 8.0, y - 8.0, 64.0, 64.0), color: [1.0; 4], kind: LayerKind::Image(2) });
    }
    layers.push(LayerSpec { rect: Rect::new(80.0, 940.0, 128.0, 128.0), color: [1.0; 4], kind: LayerKind::Image(1) });
    layers.push(LayerSpec { rect: Rect::new(1712.0, 940.0, 128.0, 128.0), color: [1.0; 4], kind: LayerKind::Image(1) });
    layers.push(LayerSpec { rect: Rect::new(660.0, 60.0, 600.0, 64.0), color: [1.0; 4], kind: LayerKind::Image(3) });
    let scene = Scene {
        background: [0.0; 3],
        under: vec![LayerSpec { rect: Rect::new(0.0, 0.0, w as f32, h as f32), color: [1.0; 4], kind: LayerKind::Image(0) }],
        tiles: tiles.iter().enumerate().map(|(i, &(x, y))| TileSpec { slot: i, placement: place(geom, Rect::new(x, y, 640.0, 720.0), Fit::Fill) }).collect(),
        layers,
        blurs: vec![],
        masks: vec![],
        copy_of: None,
    };
    let run = |reuse: bool| -> Result<f64> {
        let mut comp = Compositor::new(gpu.clone(), w, h, GpuOptions { dirty_reuse: reuse, ..GpuOptions::default() })?;
        comp.set_images(&[bg.clone(), avatar.clone(), ornament.clone(), title.clone()])?;
        let mut sink = |_r: crate::gpu::Ready<'_>| Ok(());
        let mut start = Instant::now();
        for n in 0..frames + 10 {
            if n == 10 {
                // Warm-up frames (pipelines, first full frame) are not counted.
                comp.flush(&mut sink)?;
                start = Instant::now();
            }
            for slot in 0..2 {
                let (y, u, v) = &pics[(n + slot) % 4];
                let pic = Picture { layout: PlaneLayout::Planar { sx: 2, sy: 2 }, width: 640, height: 720, planes: [y, u, v], strides: [640, 320, 320], matrix: crate::gpu::Matrix::Bt709, full_range: false };
                comp.upload(slot, &pic)?;
            }
            if comp.needs_upload(0) {
                let (y, u, v) = &pics[n % 4];
                comp.upload(0, &Picture { layout: PlaneLayout::Planar { sx: 2, sy: 2 }, width: 640, height: 720, planes: [y, u, v], strides: [640, 320, 320], matrix: crate::gpu::Matrix::Bt709, full_range: false })?;
            }
            comp.render(&scene, n as u64, &mut sink)?;
        }
        comp.flush(&mut sink)?;
        Ok(frames as f64 / start.elapsed().as_secs_f64())
    };
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        off.push(run(false)? as f32);
        on.push(run(true)? as f32);
    }
    Ok((median(&mut on).unwrap_or(f64::NAN), median(&mut off).unwrap_or(f64::NAN)))
}

type PkFigures = (f64, f64, f64, f64);

/// The PK measurements (accept latency pre-pulled vs cold; dirty-region reuse on vs off), added to
/// the JSON figures.
fn pk_measurements(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> (Option<PkFigures>, Option<(f64, f64)>) {
    // PK accept: pre-pulled against a cold start, same publishers, same run.
    let pk = if args.no_latency {
        None
    } else {
        progress("measuring PK accept -> first merged frame, pre-pulled and cold");
        match crate::bench_latency::pk_accept(dir, if args.quick { 1 } else { 3 }) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "PK accept latency not measured");
                None
            }
        }
    };
    j.insert("pk_accept_first_frame_ms_prepull".into(), pk.map(|p| json!(p.0)).unwrap_or(Value::Null));
    j.insert("pk_accept_first_packet_ms_prepull".into(), pk.map(|p| json!(p.1)).unwrap_or(Value::Null));
    j.insert("pk_accept_first_frame_ms_cold".into(), pk.map(|p| json!(p.2)).unwrap_or(Value::Null));
    j.insert("pk_accept_first_packet_ms_cold".into(), pk.map(|p| json!(p.3)).unwrap_or(Value::Null));
    progress("measuring dirty-region reuse on a PK room scene (compose + readback, on vs off)");
    let reuse = dirty_reuse(if args.quick { 30 } else { 150 }, if args.quick { 1 } else { 3 });
    if let Err(e) = &reuse {
        tracing::warn!(error = %e, "dirty-region reuse not measured");
    }
    let reuse = reuse.ok();
    j.insert("dirty_reuse_fps_on".into(), reuse.map(|r| json!(r.0)).unwrap_or(Value::Null));
    j.insert("dirty_reuse_fps_off".into(), reuse.map(|r| json!(r.1)).unwrap_or(Value::Null));
    j.insert("dirty_reuse_ratio".into(), reuse.map(|r| json!(r.0 / r.1)).unwrap_or(Value::Null));
    (pk, reuse)
}

/// The PK measurements as text (`md`: as BENCHMARKS.md lines).
fn pk_text(pk: Option<PkFigures>, reuse: Option<(f64, f64)>, md: bool) -> String {
    let mut t = String::new();
    if let Some(p) = pk {
        if md {
            t.push_str(&format!("\nPK accept → first merged frame (two 640×360 anchors pulled from nginx-rtmp, 1280×720 mirrored outputs, median of the runs): **pre-pulled {:.1} ms** (first encoded packet {:.1} ms; the invitation was answered after 4 s) against a **cold start {:.0} ms** (pulls begin at the accept; first packet {:.0} ms) (`pk_accept_first_frame_ms_prepull`, `pk_accept_first_frame_ms_cold`).\n", p.0, p.1, p.2, p.3));
        } else {
            t.push_str(&format!("PK accept -> first merged frame (median): pre-pulled {:.1} ms (first packet {:.1} ms), cold start {:.0} ms (first packet {:.0} ms)\n", p.0, p.1, p.2, p.3));
        }
    }
    if let Some(r) = reuse {
        if md {
            t.push_str(&format!("\nDirty-region reuse, 1920×1080 PK room scene (full-frame background image, two 640×720 tiles with new pictures every frame, two avatars, decorative frames, a title), compose + readback: **{:.1} fps with reuse, {:.1} fps without = {:.2}×** (`dirty_reuse_fps_on`, `dirty_reuse_fps_off`).\n", r.0, r.1, r.0 / r.1));
        } else {
            t.push_str(&format!("dirty-region reuse, 1920x1080 PK room scene, compose + readback: {:.1} fps on, {:.1} fps off ({:.2}x)\n", r.0, r.1, r.0 / r.1));
        }
    }
    t
}

/// `costream bench --pk-only`: the PK measurements alone.
fn run_pk_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(format!("{} x{}", cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))));
    let (pk, reuse) = pk_measurements(args, &args.dir, &mut j);
    println!("\n{}", pk_text(pk, reuse, false));
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&Value::Object(j)).unwrap_or_default())?;
    }
    if let (Some(p), false) = (args.record.clone().or_else(|| (!args.quick).then(|| PathBuf::from("BENCHMARKS.md"))), args.no_record) {
        let cmdline: Vec<String> = std::env::args().collect();
        let md = format!("\n### PK measurements — {}\n\nMachine: {} x{}. Command: `{}`.\n{}", now_utc(), cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), cmdline.join(" "), pk_text(pk, reuse, true));
        std::fs::OpenOptions::new().create(true).append(true).open(&p)?.write_all(md.as_bytes())?;
        progress(&format!("PK figures appended to {}", p.display()));
    }
    Ok(())
}

/// Masking figures: face tracking ms/frame, mask pass ms per extra level, (viewers, CPU-s per
/// content-s, failed requests).
#[derive(Default)]
struct MaskingFigures {
    face_ms: Option<f64>,
    mask_ms: Option<f64>,
    viewers: Vec<(usize, f64, u64)>,
}

fn masking_measurements(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> MaskingFigures {
    let mut m = MaskingFigures::default();
    progress("measuring face tracking per frame");
    m.face_ms = crate::bench_viewers::face_track_ms(&dir.join("inputs")).map_err(|e| tracing::warn!(error = %e, "face tracking not measured")).ok();
    progress("measuring the mask pass per extra level");
    m.mask_ms = crate::bench_viewers::mask_pass_ms_per_level(dir).map_err(|e| tracing::warn!(error = %e, "mask pass not measured")).ok();
    if !args.no_latency {
        progress("measuring the service with 10, 1000 and 10000 viewers fetching their playlists");
        m.viewers = crate::bench_viewers::viewers_cpu(dir, &[10, 1000, 10_000], if args.quick { 4.0 } else { 10.0 }).map_err(|e| tracing::warn!(error = %e, "viewers not measured")).unwrap_or_default();
    }
    j.insert("face_track_ms_per_frame".into(), m.face_ms.map(|v| json!(v)).unwrap_or(Value::Null));
    j.insert("mask_pass_ms_per_level".into(), m.mask_ms.map(|v| json!(v)).unwrap_or(Value::Null));
    for n in [10usize, 1000, 10_000] {
        let v = m.viewers.iter().find(|x| x.0 == n);
        j.insert(format!("viewers_cpu_s_{n}"), v.map(|x| json!(x.1)).unwrap_or(Value::Null));
    }
    m
}

fn masking_text(m: &MaskingFigures, md: bool) -> String {
    let mut t = String::new();
    let f = |v: Option<f64>| v.map(|x| format!("{x:.1} ms")).unwrap_or_else(|| "n/a".into());
    if md {
        t.push_str(&format!("\nFace tracking (BlazeFace short range every 5th frame + FaceMesh every frame, 1280×720 moving portrait, one thread): **{} per frame** (`face_track_ms_per_frame`). Mask pass (blur of eyes, mouth and nose in a 1280×720 rendition copied from the composed frame), per extra level: **{}** (`mask_pass_ms_per_level`).\n", f(m.face_ms), f(m.mask_ms)));
        if !m.viewers.is_empty() {
            t.push_str("\nOne masked 640×360 session (3 masked levels + the open picture, all in use), viewers each fetching their personalised playlist once per 2 s segment; the service process's CPU-seconds per content-second:\n\n| viewers | CPU-s per content-s | failed requests |\n|---:|---:|---:|\n");
            for (n, c, failed) in &m.viewers {
                t.push_str(&format!("| {n} | {c:.2} | {failed} |\n"));
            }
            if let (Some(a), Some(b)) = (m.viewers.iter().find(|x| x.0 == 10), m.viewers.iter().find(|x| x.0 == 10_000)) {
                t.push_str(&format!("\n10 000 viewers cost **{:.2}×** the 10-viewer figure (`viewers_cpu_s_10`, `viewers_cpu_s_1000`, `viewers_cpu_s_10000`; target < 1.5×).\n", b.1 / a.1));
            }
        }
    } else {
        t.push_str(&format!("face tracking {} per frame; mask pass {} per extra level\n", f(m.face_ms), f(m.mask_ms)));
        for (n, c, failed) in &m.viewers {
            t.push_str(&format!("{n} viewers: {c:.2} CPU-s per content-s ({failed} failed)\n"));
        }
    }
    t
}

/// `costream bench --masking-only`.
fn run_masking_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    let m = masking_measurements(args, &args.dir, &mut j);
    println!("\n{}", masking_text(&m, false));
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&Value::Object(j)).unwrap_or_default())?;
    }
    if let (Some(p), false) = (args.record.clone().or_else(|| (!args.quick).then(|| PathBuf::from("BENCHMARKS.md"))), args.no_record) {
        let cmdline: Vec<String> = std::env::args().collect();
        let md = format!("\n### Masking measurements — {}\n\nMachine: {} x{}. Command: `{}`.\n{}", now_utc(), cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), cmdline.join(" "), masking_text(&m, true));
        std::fs::OpenOptions::new().create(true).append(true).open(&p)?.write_all(md.as_bytes())?;
    }
    Ok(())
}
