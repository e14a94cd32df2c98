//! `costream` command line: `render` runs the frame path on inputs, `bench` measures it against FFmpeg,
//! `sample` writes the demo clips.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use costream::compose::{self, Fps, Overlays, RenderConfig};
use costream::encode::{EncoderKind, VideoSettings};
use costream::gpu::GpuOptions;
use costream::ingest::InputOptions;
use costream::media::geometry::{Fit, Layout};
use costream::{testsrc, Error};

mod bench;
mod cli;
mod demo;
mod kit;
mod serve;

#[derive(Parser)]
#[command(name = "costream", version, about = "GPU compositor for live co-streams and PK battles")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compose inputs into one H.264/AAC output (file, FLV, rtmp:// or HLS .m3u8).
    Render(RenderArgs),
    /// Benchmark the S1 "PK frame" job against the FFmpeg filter graph.
    Bench(bench::BenchArgs),
    /// Run the service: HTTP API and RTMP ingest (rooms and stream keys in SQLite).
    Serve(serve::ServeArgs),
    /// The service's configuration: `config print [--config FILE] [flags]` shows what `serve`
    /// would run with (defaults, file, COSTREAM_* environment, flags; secrets masked).
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// API tokens: `token create --role operator|anchor [--room ROOM]` prints a new token.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// The service on embedded defaults with two synthetic anchors publishing into it and a
    /// side-by-side session; prints the HLS URL to watch.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        #[arg(long, default_value = "127.0.0.1:1935")]
        rtmp: std::net::SocketAddr,
        /// Where the demo keeps its database and HLS files.
        #[arg(long, default_value = "costream-demo")]
        dir: PathBuf,
    },
    /// Write the two demo clips (landscape 1080p60 and portrait 720x1280 30 fps, with audio).
    Sample {
        #[arg(long, default_value = "out/samples")]
        dir: PathBuf,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Prints the effective configuration as TOML.
    Print(serve::ServeArgs),
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Creates a token in the service's database and prints it (it is shown this once).
    Create {
        /// The service's SQLite database file, or its PostgreSQL URL (COSTREAM_DB is read when
        /// it holds a password).
        #[arg(long, env = "COSTREAM_DB", default_value = "costream.sqlite")]
        db: String,
        /// operator (everything) or anchor (its room only).
        #[arg(long)]
        role: String,
        /// An anchor token's room.
        #[arg(long)]
        room: Option<String>,
    },
}

fn create_token(db: &str, role: &str, room: Option<&str>) -> Result<(), Error> {
    if std::env::args().any(|a| costream::store::has_password(&a)) {
        let why = "a password on the command line is seen by every user of the machine: put the URL in COSTREAM_DB";
        return Err(costream::error::invalid("db", why));
    }
    let role = costream::api::tokens::parse_role(role, room).map_err(|why| costream::error::invalid("role", why))?;
    let store = costream::store::Store::connect(db).map_err(|e| Error::Database(e.to_string()))?;
    let (token, _) = store.create_token(role, room).map_err(|e| costream::error::invalid("token", e.to_string()))?;
    println!("{token}");
    Ok(())
}

#[derive(Args, Clone)]
struct TuningArgs {
    /// Workgroup of the full-frame pass, in 4x2-pixel blocks (e.g. 8x8, 16x4).
    #[arg(long, default_value = "8x8")]
    workgroup: String,
    /// Staging buffers in flight for readback (>= 2 keeps the GPU from waiting on the CPU).
    #[arg(long, default_value_t = 3)]
    readback_depth: usize,
    /// Decoder threads per input (0 = cores / inputs, at least 1).
    #[arg(long, default_value_t = 0)]
    decode_threads: usize,
    /// Record GPU timestamps per pass (stage timings).
    #[arg(long)]
    gpu_timing: bool,
    /// Draw every frame whole instead of redrawing only the regions that changed.
    #[arg(long)]
    no_dirty_reuse: bool,
    /// Nice value of decode and software-GPU threads, so the encoder (the serial stage) gets the
    /// cores first; 0 leaves priorities alone.
    #[arg(long, default_value_t = 4)]
    background_nice: i32,
}

#[derive(Args)]
struct RenderArgs {
    /// An input: file path or any URL FFmpeg reads (rtmp://, http HLS). Repeat for more.
    #[arg(long = "input", short = 'i', required = true)]
    inputs: Vec<String>,
    #[arg(long, default_value = "side-by-side")]
    layout: String,
    /// fit (letterbox) or fill (centre crop); one value, or comma-separated per input.
    #[arg(long, default_value = "fill")]
    fit: String,
    #[arg(long, default_value = "1280x720")]
    size: String,
    #[arg(long, default_value = "30")]
    fps: String,
    /// Output: .mp4, .flv, .mkv, .ts, .m3u8 (HLS) or rtmp://. Repeat to fan one encode out.
    #[arg(long = "out", short = 'o', required = true)]
    outputs: Vec<String>,
    /// Solid rectangle layer: X,Y,W,H,#RRGGBB[AA]. Repeatable.
    #[arg(long = "rect")]
    rects: Vec<String>,
    /// Image layer over the video: PATH@X,Y,W,H. Repeatable.
    #[arg(long = "image")]
    images: Vec<String>,
    /// Image beneath the video (a background): PATH@X,Y,W,H. Repeatable.
    #[arg(long = "under-image")]
    under_images: Vec<String>,
    /// Gaussian blur over a rectangle: X,Y,W,H[,SIGMA]. Repeatable.
    #[arg(long = "blur")]
    blurs: Vec<String>,
    /// x264 (default) or nvenc (falls back to x264 when NVENC does not open).
    #[arg(long, default_value = "x264")]
    encoder: String,
    #[arg(long, default_value_t = 2500)]
    bitrate: u32,
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Keyframe interval in frames (default: 2 seconds).
    #[arg(long)]
    gop: Option<u32>,
    /// x264 threads (0 = auto).
    #[arg(long, default_value_t = 0)]
    x264_threads: usize,
    #[arg(long, default_value_t = 128)]
    audio_bitrate: u32,
    /// Stop after this many seconds of output.
    #[arg(long)]
    duration: Option<f64>,
    /// Live: follow the wall clock; stalled inputs keep their last frame, network inputs reconnect.
    #[arg(long)]
    realtime: bool,
    /// Write the run's figures (frames, stage medians) as JSON.
    #[arg(long)]
    report_json: Option<PathBuf>,
    #[command(flatten)]
    tuning: TuningArgs,
}

fn parse_wh(s: &str, what: &'static str) -> Result<(u32, u32), Error> {
    let (a, b) = s.split_once('x').ok_or_else(|| Error::Invalid { what, why: format!("{s:?}: expected AxB") })?;
    match (a.parse(), b.parse()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(Error::Invalid { what, why: format!("{s:?}: expected AxB") }),
    }
}

fn render_config(a: &RenderArgs) -> Result<RenderConfig, Error> {
    let size = compose::parse_size(&a.size)?;
    let fps: Fps = a.fps.parse()?;
    let fits = a.fit.split(',').map(|s| s.trim().parse::<Fit>()).collect::<Result<Vec<_>, _>>()?;
    let overlays = Overlays {
        images: a.images.iter().map(|s| cli::parse_image(s)).collect::<Result<_, _>>()?,
        under_images: a.under_images.iter().map(|s| cli::parse_image(s)).collect::<Result<_, _>>()?,
        rects: a.rects.iter().map(|s| cli::parse_rect(s)).collect::<Result<_, _>>()?,
        blurs: a.blurs.iter().map(|s| cli::parse_blur(s)).collect::<Result<_, _>>()?,
    };
    let encoder: EncoderKind = a.encoder.parse()?;
    let gop = a.gop.unwrap_or((fps.as_f64() * 2.0).round() as u32).max(1);
    Ok(RenderConfig {
        inputs: a.inputs.iter().map(|u| compose::Source::Url(u.clone())).collect(),
        layout: a.layout.parse::<Layout>()?,
        fits,
        size,
        fps,
        outputs: a.outputs.clone(),
        // The command line's user chooses where to write.
        public_outputs_only: false,
        overlays,
        video: VideoSettings {
            encoder,
            width: size.0,
            height: size.1,
            fps: (fps.num, fps.den),
            bitrate_kbps: a.bitrate,
            preset: a.preset.clone(),
            gop,
            threads: a.x264_threads,
        },
        audio_kbps: a.audio_bitrate,
        gpu: GpuOptions {
            workgroup: parse_wh(&a.tuning.workgroup, "workgroup")?,
            readback_depth: a.tuning.readback_depth.max(1),
            gpu_timing: a.tuning.gpu_timing,
            dirty_reuse: !a.tuning.no_dirty_reuse,
            ..GpuOptions::default()
        },
        input: InputOptions { decode_threads: a.tuning.decode_threads, ..Default::default() },
        max_seconds: a.duration,
        realtime: a.realtime,
        views: vec![],
        audio_of: vec![],
        faces: None,
        hooks: None,
        background_nice: a.tuning.background_nice,
    })
}

/// The payment secret from its file, else from COSTREAM_PAYMENT_SECRET.
fn main() -> ExitCode {
    // Parsed first: how the allocator is tuned depends on the command (nothing has started a
    // thread yet).
    let cli = Cli::parse();
    // Frames are multi-megabyte allocations made and freed every few milliseconds (decoder buffers,
    // GPU staging). Served from fresh mmaps, each costs page faults and zeroing; keep them in the
    // heap instead (measured: ~5% less wall time per frame).
    #[cfg(target_os = "linux")]
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        if matches!(cli.cmd, Cmd::Serve(_) | Cmd::Demo { .. }) {
            // A long-lived service runs a thread per session, encoder and decoder: with one arena
            // per thread (up to 8 per core), each arena keeps its peak of frames resident for good
            // (measured: +20 MB per session started, 30 MB per arena). A few shared arenas, trimmed
            // when a session ends (`sys::release_memory`), keep memory at rest flat.
            libc::mallopt(libc::M_ARENA_MAX, 4);
        }
    }
    // Software Vulkan (lavapipe) spreads each dispatch over LP_NUM_THREADS threads (default: all
    // cores). Our dispatches are small and decode/encode already keep the cores busy, so half the
    // cores wastes less in thread hand-offs (measured on 2 cores: ~6% less CPU per frame). Set before
    // any thread starts; an explicit LP_NUM_THREADS wins.
    if std::env::var_os("LP_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        std::env::set_var("LP_NUM_THREADS", (cores / 2).max(1).to_string());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wgpu_core=warn,wgpu_hal=warn,naga=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let r = match cli.cmd {
        Cmd::Render(a) => render_config(&a).and_then(|cfg| {
            let rep = compose::run(&cfg)?;
            eprintln!(
                "rendered {} frames ({:.2} s of output) in {:.2} s: {:.1} fps on {} with {}",
                rep.frames,
                rep.content_seconds,
                rep.wall_seconds,
                rep.frames as f64 / rep.wall_seconds.max(1e-9),
                rep.device,
                rep.encoder
            );
            if !rep.failed_outputs.is_empty() {
                eprintln!("outputs that failed: {}", rep.failed_outputs.join(", "));
            }
            if let Some(p) = &a.report_json {
                std::fs::write(p, serde_json::to_vec_pretty(&rep).unwrap_or_default())?;
            }
            if rep.failed_outputs.len() == cfg.outputs.len() {
                return Err(Error::Output { url: rep.failed_outputs.join(", "), why: "every output failed".into() });
            }
            Ok(())
        }),
        Cmd::Bench(a) => bench::run(&a),
        Cmd::Demo { http, rtmp, dir } => demo::run(http, rtmp, dir),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Config { cmd: ConfigCmd::Print(a) } => serve::print(a),
        Cmd::Token { cmd: TokenCmd::Create { db, role, room } } => create_token(&db, &role, room.as_deref()),
        Cmd::Sample { dir, seconds } => testsrc::demo_clips(&dir, seconds).map(|(a, b)| {
            println!("{}\n{}", a.display(), b.display());
        }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
