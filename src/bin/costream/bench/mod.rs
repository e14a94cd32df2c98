//! `costream bench`: the S1 "PK frame" job (two 720p30 inputs side by side with centre crop, a
//! two-colour bar, a sigma-12 blur over a 200×200 rectangle, both audios mixed, x264 veryfast
//! zerolatency 2500k g=60, AAC 128k, one encode to FLV + HLS), run by our pipeline and by the FFmpeg
//! filter graph in the same invocation, alternating, on the same generated inputs.
//!
//! Both run as child processes so that CPU time and peak RSS come from the kernel (wait4) and cover
//! every thread, lavapipe's included.

mod audience;
mod cluster;
mod latency;
mod live;
mod masking;
mod pause;
mod pk;
mod s1;
mod scaled;
mod serve;
mod service;
mod soak;
mod usage;
mod viewers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use serde_json::{json, Value};

use costream::compose::median;
use costream::error::Result;

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
    /// Only the real-time measurements: the demo against the wall clock, a PK session's frame
    /// rate, S1 jobs per machine (ours and FFmpeg's).
    #[arg(long)]
    pub live_only: bool,
    /// Only the masking measurements: face tracking, mask pass per unlock state, service CPU with
    /// 10 / 1 000 / 10 000 viewers over 6 unlock states and 10 000 in one.
    #[arg(long)]
    pub masking_only: bool,
    /// Only the pause measurements: pause, resume and source switch to the first frame showing
    /// them, and the replay export's speed.
    #[arg(long)]
    pub pause_only: bool,
    /// Only the serving measurements: viewer playlists and signed segments per second against
    /// nginx serving the same files.
    #[arg(long)]
    pub serve_only: bool,
    /// Only the audience measurement: the service's CPU with 1 000 viewers, statistics on and off.
    #[arg(long)]
    pub audience_only: bool,
    /// Only the cluster measurements: the API's latency on SQLite and PostgreSQL, and the time a
    /// killed node's session is off the air (`failover_s`).
    #[arg(long)]
    pub cluster_only: bool,
    /// Only the render measurements: S1 against FFmpeg and its floor, S2 (scaled tiles) against
    /// FFmpeg.
    #[arg(long)]
    pub render_only: bool,
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
    /// Run the soak for this many minutes instead (anchors, sessions and viewers coming and going;
    /// the service's memory, open files and threads at the start and the end).
    #[arg(long, value_name = "MINUTES")]
    pub soak: Option<f64>,
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

/// A progress line on stderr.
pub fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub fn med(v: &[f64]) -> f64 {
    let mut f: Vec<f32> = v.iter().map(|x| *x as f32).collect();
    median(&mut f).unwrap_or(0.0)
}

/// "MODEL xCORES", as every table names its machine.
pub fn machine() -> String {
    format!("{} x{}", cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

pub fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Where a run's Markdown goes: `--record`, else BENCHMARKS.md unless `--quick` or `--no-record`.
pub fn record_path(args: &BenchArgs) -> Option<PathBuf> {
    if args.no_record {
        None
    } else {
        args.record.clone().or_else(|| (!args.quick).then(|| PathBuf::from("BENCHMARKS.md")))
    }
}

/// One figure's sentence as the report prints it: a line, or in Markdown a paragraph.
pub fn paragraph(s: &str, md: bool) -> String {
    if md {
        format!("\n{s}\n")
    } else {
        format!("{s}\n")
    }
}

/// Appends `md` to `path`.
pub fn append(path: &Path, md: &str) -> Result<()> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(md.as_bytes())?;
    progress(&format!("table appended to {}", path.display()));
    Ok(())
}

/// The command line, as the tables quote it.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// A part of the bench run on its own (`--pk-only`, `--masking-only`): prints its text, writes its
/// JSON and records it under `title`.
pub fn run_part(
    args: &BenchArgs,
    title: &str,
    j: serde_json::Map<String, Value>,
    text: impl Fn(bool) -> String,
) -> Result<()> {
    println!("\n{}", text(false));
    write_json(args, j)?;
    if let Some(p) = record_path(args) {
        append(
            &p,
            &format!(
                "\n### {title} — {}\n\nMachine: {}. Command: `{}`.\n{}",
                now_utc(),
                machine(),
                command_line(),
                text(true)
            ),
        )?;
    }
    Ok(())
}

/// Writes the JSON figures when `--json` asks for them.
pub fn write_json(args: &BenchArgs, j: serde_json::Map<String, Value>) -> Result<()> {
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&Value::Object(j)).unwrap_or_default())?;
        progress(&format!("figures written to {}", p.display()));
    }
    Ok(())
}

/// `costream bench`: S1 against FFmpeg, the RTMP latency, the PK and the masking measurements.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.pk_only {
        return pk::run_only(args);
    }
    if args.masking_only {
        return masking::run_only(args);
    }
    if args.live_only {
        return live::run_only(args);
    }
    if args.pause_only {
        return pause::run_only(args);
    }
    if args.serve_only {
        return serve::run_only(args);
    }
    if args.audience_only {
        return audience::run_only(args);
    }
    if args.cluster_only {
        return cluster::run_only(args);
    }
    if let Some(m) = args.soak {
        return soak::run(args, m);
    }
    let dir = args.dir.clone();
    let s1 = s1::measure(args, &dir)?;
    let mut j = s1.json();
    let s2 = scaled::measure(args, &dir).map_err(|e| tracing::warn!(error = %e, "S2 scaled not measured")).ok();
    if let Some(s) = &s2 {
        s.json(&mut j);
    }
    let mut text = s1.text();
    text.push_str(&s2.map(|s| format!("\n{}", s.text(false))).unwrap_or_default());
    let mut md = s1.markdown();
    md.push_str(&s2.map(|s| s.text(true)).unwrap_or_default());
    if args.render_only {
        return finish(args, j, &text, &md);
    }
    let latency = latency_measurement(args, &dir);
    j.insert("rtmp_direct_latency_ms".into(), latency.map(|l| json!(l.0)).unwrap_or(Value::Null));
    j.insert("rtmp_costream_latency_ms".into(), latency.map(|l| json!(l.1)).unwrap_or(Value::Null));
    j.insert("rtmp_added_latency_ms".into(), latency.map(|l| json!(l.2)).unwrap_or(Value::Null));
    let pk = pk::measure(args, &dir, &mut j);
    let masking = masking::measure(args, &dir, &mut j);
    let live = live::measure(args, &dir, &mut j);
    let paused = pause::measure(args, &dir, &mut j);
    let served = serve::measure(args, &dir, &mut j);
    let counted = audience::measure(args, &dir, &mut j);
    let nodes = cluster::measure(args, &dir, &mut j);

    if let Some((d, t, a)) = latency {
        text.push_str(&format!("\nRTMP in -> RTMP out (median): direct through nginx {d:.0} ms, through costream {t:.0} ms; costream adds {a:.0} ms\n"));
    }
    text.push_str(&pk.text(false));
    text.push_str(&masking.text(false));
    text.push_str(&live.text(false));
    text.push_str(&paused.as_ref().map(|p| p.text(false)).unwrap_or_default());
    text.push_str(&served.as_ref().map(|p| p.text(false)).unwrap_or_default());
    text.push_str(&counted.as_ref().map(|p| p.text(false)).unwrap_or_default());
    text.push_str(&nodes.as_ref().map(|p| p.text(false)).unwrap_or_default());
    if let Some((d, t, a)) = latency {
        md.push_str(&format!("\nRTMP publish → RTMP out, median over a 10 s 640×360 30 fps stream with a frame counter: direct through nginx-rtmp {d:.0} ms, through costream (ingest, decode, compose, x264 veryfast zerolatency, push to nginx) {t:.0} ms: **costream adds {a:.0} ms** (`rtmp_added_latency_ms`).\n"));
    }
    md.push_str(&pk.text(true));
    md.push_str(&masking.text(true));
    md.push_str(&live.text(true));
    md.push_str(&paused.as_ref().map(|p| p.text(true)).unwrap_or_default());
    md.push_str(&served.as_ref().map(|p| p.text(true)).unwrap_or_default());
    md.push_str(&counted.as_ref().map(|p| p.text(true)).unwrap_or_default());
    md.push_str(&nodes.as_ref().map(|p| p.text(true)).unwrap_or_default());
    finish(args, j, &text, &md)
}

/// Prints the text, writes the JSON and appends the Markdown to BENCHMARKS.md (unless told not to).
fn finish(args: &BenchArgs, j: serde_json::Map<String, Value>, text: &str, md: &str) -> Result<()> {
    println!("{text}");
    write_json(args, j)?;
    if let Some(p) = record_path(args) {
        append(&p, md)?;
    }
    Ok(())
}

/// The latency costream adds between an RTMP publish and its RTMP output: (direct, through
/// costream, added) in ms, unless `--no-latency`.
fn latency_measurement(args: &BenchArgs, dir: &Path) -> Option<(f64, f64, f64)> {
    if args.no_latency {
        return None;
    }
    progress("measuring RTMP publish -> RTMP out latency (direct through nginx, then through costream)");
    latency::run(dir, if args.quick { 5.0 } else { 10.0 })
        .map_err(|e| tracing::warn!(error = %e, "latency not measured"))
        .ok()
}
