//! Helpers shared by the integration tests: real ffmpeg/ffprobe processes, real files, real GPU
//! (lavapipe without one).
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use costream::testsrc::{generate, Clip};
use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory for one test.
pub fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "costream-test-{}-{}-{}",
        name,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub fn clip(dir: &Path, name: &str, c: &Clip) -> PathBuf {
    let p = dir.join(name);
    generate(&p, c).expect("ffmpeg generates the test clip");
    p
}

/// Runs the real `costream` binary.
pub fn costream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costream")).args(args).env("RUST_LOG", "warn").output().expect("run costream")
}

pub fn render_ok(args: &[&str]) {
    let o = costream(args);
    assert!(o.status.success(), "costream {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// ffprobe's view of a media file.
pub fn probe(path: &Path) -> serde_json::Value {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_format", "-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(o.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("ffprobe json")
}

pub fn stream<'a>(p: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    p["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} stream in {p}"))
}

/// One decoded frame at `t` seconds as RGB24.
pub struct Rgb {
    pub w: usize,
    pub h: usize,
    pub data: Vec<u8>,
}

impl Rgb {
    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

pub fn frame_rgb(path: &Path, t: f64, w: usize, h: usize) -> Rgb {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(o.status.success(), "decode {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len(), w * h * 3, "decoded frame size");
    Rgb { w, h, data: o.stdout }
}

/// Asserts a pixel is within `tol` of `want` on every channel.
pub fn assert_near(got: [u8; 3], want: [u8; 3], tol: i32, what: &str) {
    let ok = (0..3).all(|c| (got[c] as i32 - want[c] as i32).abs() <= tol);
    assert!(ok, "{what}: got {got:?}, want {want:?} ±{tol}");
}

#[path = "../../src/bin/costream/kit.rs"]
pub mod kit;

pub mod browser;
pub mod fake_http;

/// A TCP port that was free a moment ago on loopback.
pub fn free_port() -> u16 {
    kit::free_port().expect("a free loopback port")
}

pub use kit::{Nginx, Proc};

/// The presentation times of a recording's video packets, in order (empty while it cannot be
/// read).
pub fn video_packet_times(path: &Path) -> Vec<f64> {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let mut t: Vec<f64> = String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
    t.sort_by(f64::total_cmp);
    t
}

/// Asserts that a session's push to nginx (its stream `name`) never reconnected, and that what
/// nginx recorded of it, once `stop` stopped the session, is one stream: timestamps that only
/// grow, no step over 0.2 s.
pub fn assert_pushed_as_one_stream(http: &str, nginx: &Nginx, name: &str, stop: impl FnOnce()) {
    let m = authed(&format!("{http}/metrics")).call().unwrap().into_string().unwrap();
    let reconnects = m.lines().find(|l| l.starts_with("costream_output_reconnects") && l.contains("/live/…"));
    assert_eq!(reconnects.and_then(|l| l.rsplit(' ').next()), Some("0"), "no reconnect: {m}");
    stop();
    let recorded = nginx.rec.join(format!("{name}.flv"));
    let times = || video_packet_times(&recorded);
    wait_for("nginx to finalise the recording", 15.0, || times().len() > 30);
    let t = times();
    let gap = t.windows(2).map(|w| w[1] - w[0]).fold(0.0f64, f64::max);
    assert!(gap < 0.2, "the pushed stream has no gap or jump: largest step {gap} s over {} frames", t.len());
    assert!(t.windows(2).all(|w| w[1] > w[0]), "its timestamps only grow");
}

/// A real RTMP server (nginx-rtmp) on a free loopback port, recording what it receives under `rec`.
pub fn start_nginx(dir: &Path) -> Nginx {
    kit::start_nginx(dir, true).expect("nginx-rtmp")
}

/// ffprobe of a network URL (HLS over HTTP, rtmp://), reading a few seconds at most.
pub fn probe_url(url: &str) -> serde_json::Value {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "10000000", "-show_streams", "-show_format", "-of", "json"])
        .args(ffmpeg_auth(url))
        .arg(url)
        .output()
        .expect("run ffprobe");
    assert!(o.status.success(), "ffprobe {url}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("ffprobe json")
}

/// Whether a file or stream can be read and has a video stream now (a live stream being
/// published, a recording that was finalised).
pub fn has_video(url: &str) -> bool {
    Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "3000000",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .args(ffmpeg_auth(url))
        .arg(url)
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// The first decoded frame of a network URL as RGB24 (for live HLS: of its newest segment).
pub fn frame_rgb_url(url: &str, w: usize, h: usize) -> Rgb {
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "error", "-rw_timeout", "10000000"]);
    if url.ends_with(".m3u8") {
        c.args(["-live_start_index", "-1"]);
    }
    c.args(ffmpeg_auth(url));
    let o =
        c.args(["-i", url, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).output().expect("run ffmpeg");
    assert!(o.status.success(), "decode {url}: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len(), w * h * 3, "decoded frame size of {url}");
    Rgb { w, h, data: o.stdout }
}

/// `costream serve` as a child process on free loopback ports.
pub struct Service {
    child: Child,
    pub http: String,
    pub rtmp_port: u16,
}

impl Service {
    /// The service's resident memory (bytes) and threads, from /proc.
    pub fn rss_and_threads(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:") * 1024, field("Threads:"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(db: &Path) -> Service {
    start_with(db, &[])
}

pub fn start_with(db: &Path, extra: &[&str]) -> Service {
    start_with_env(db, extra, &[])
}

/// `costream serve` with extra arguments and environment variables.
pub fn start_with_env(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Service {
    start_full(db, extra, env, None)
}

/// `costream serve` writing its log (INFO and up, no colours) to `log`.
pub fn start_logged(db: &Path, extra: &[&str], log: &Path) -> Service {
    start_full(db, extra, &[], Some(log))
}

/// [`start_logged`] with environment variables.
pub fn start_logged_env(db: &Path, extra: &[&str], env: &[(&str, &str)], log: &Path) -> Service {
    start_full(db, extra, env, Some(log))
}

/// With `TEST_DATABASE=postgres` every service the tests start keeps its state in PostgreSQL (one
/// server per test process, one database per database file a test names) instead of that file.
/// A file a test prepared itself (an old schema, say) stays SQLite.
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

fn postgres() -> &'static kit::Postgres {
    static PG: std::sync::OnceLock<kit::Postgres> = std::sync::OnceLock::new();
    PG.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("costream-test-pg-{}", std::process::id()));
        kit::start_postgres(&dir).expect("PostgreSQL for TEST_DATABASE=postgres")
    })
}

/// What `--db` names for the database file `db`: the file, or its PostgreSQL database.
pub fn db_arg(db: &Path) -> String {
    if !on_postgres() || db.exists() {
        return db.to_string_lossy().into_owned();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    postgres().create_db(&format!("t_{:016x}", h.finish())).unwrap()
}

/// Rows of `sql` in the service's database (columns joined by `|`), on either engine.
pub fn stored_rows(db: &Path, sql: &str) -> Vec<String> {
    let url = db_arg(db);
    if !url.starts_with("postgres://") {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        let rows = st.query_map([], |r| {
            (0..n).map(|i| r.get::<_, rusqlite::types::Value>(i).map(sqlite_text)).collect::<Result<Vec<_>, _>>()
        });
        return rows.unwrap().map(|r| r.unwrap().join("|")).collect();
    }
    let name = url.rsplit('/').next().unwrap();
    postgres().psql(name, sql).unwrap().lines().map(str::to_string).collect()
}

fn sqlite_text(v: rusqlite::types::Value) -> String {
    use rusqlite::types::Value as V;
    match v {
        V::Null => String::new(),
        V::Integer(i) => i.to_string(),
        V::Real(f) => f.to_string(),
        V::Text(t) => t,
        V::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
    }
}

fn start_full(db: &Path, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Service {
    let token = operator_token(db);
    let (hp, rp) = (free_port(), free_port());
    let stderr = match log {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let child = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["serve", "--http", &format!("127.0.0.1:{hp}"), "--rtmp", &format!("127.0.0.1:{rp}"), "--db"])
        .arg(db_arg(db))
        .arg("--data-dir")
        .arg(db.parent().unwrap_or(Path::new(".")))
        .args(extra)
        .envs(env.iter().copied())
        .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let http = format!("http://127.0.0.1:{hp}");
    remember_token(&http, &token);
    wait_for("the service to answer /health", 20.0, || ureq::get(&format!("{http}/health")).call().is_ok());
    Service { child, http, rtmp_port: rp }
}

/// Operator tokens of the services the tests started, by their HTTP base URL.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// An operator token in the service's database (made with `costream token create`, as an
/// operator would), before the service starts.
pub fn operator_token(db: &Path) -> String {
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["token", "create", "--role", "operator", "--db"])
        .arg(db_arg(db))
        .output()
        .unwrap();
    assert!(o.status.success(), "token create: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

pub fn remember_token(http: &str, token: &str) {
    TOKENS.lock().unwrap().push((http.to_string(), token.to_string()));
}

/// The token of the service `url` belongs to.
pub fn token_for(url: &str) -> Option<String> {
    TOKENS.lock().unwrap().iter().find(|(base, _)| url.starts_with(base.as_str())).map(|(_, t)| t.clone())
}

/// A GET carrying the service's operator token.
pub fn authed(url: &str) -> ureq::Request {
    with_token(ureq::get(url), url)
}

fn with_token(req: ureq::Request, url: &str) -> ureq::Request {
    match token_for(url) {
        Some(t) => req.set("authorization", &format!("Bearer {t}")),
        None => req,
    }
}

/// FFmpeg's `-headers` option carrying the service's token, for an HLS URL of a service.
pub fn ffmpeg_auth(url: &str) -> Vec<String> {
    token_for(url).map(|t| vec!["-headers".to_string(), format!("Authorization: Bearer {t}\r\n")]).unwrap_or_default()
}

/// (status, JSON body) of a request with the operator token of the service it goes to; error
/// statuses are returned, not raised.
pub fn call(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    call_as(token_for(url).as_deref(), method, url, body)
}

/// [`call`] with a given bearer token, or none.
pub fn call_as(token: Option<&str>, method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let mut req = ureq::request(method, url).set("content-type", "application/json");
    if let Some(t) = token {
        req = req.set("authorization", &format!("Bearer {t}"));
    }
    let r = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Publishes `clip` looped in real time until dropped (an anchor that stays live).
pub fn publish_live(clip: &Path, port: u16, key: &str) -> Proc {
    Proc(publish_args(clip, port, key, &["-stream_loop", "-1"]))
}

/// Publishes `clip` once in real time.
pub fn publish(clip: &Path, port: u16, key: &str) -> Child {
    publish_args(clip, port, key, &[])
}

pub fn publish_args(clip: &Path, port: u16, key: &str, extra: &[&str]) -> Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re"])
        .args(extra)
        .arg("-i")
        .arg(clip)
        .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/{key}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A media playlist's segments: media sequence number → (duration, file name).
pub fn segments(text: &str) -> std::collections::BTreeMap<u64, (f64, String)> {
    let mut seq = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0u64);
    let mut out = std::collections::BTreeMap::new();
    let mut dur = None;
    for l in text.lines() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            dur = d.trim_end_matches(',').split(',').next().and_then(|v| v.parse::<f64>().ok());
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            out.insert(seq, (dur.take().unwrap_or(0.0), l.trim().to_string()));
            seq += 1;
        }
    }
    out
}

/// A segment's sound as mono samples at 48 kHz.
pub fn samples(segment: &Path) -> Vec<f32> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(segment)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// (RMS of the whole, share of the energy at `hz`) by the Goertzel algorithm.
pub fn tone(s: &[f32], hz: f32) -> (f32, f32) {
    let n = s.len().max(1) as f32;
    let w = 2.0 * std::f32::consts::PI * hz / 48_000.0;
    let (mut a, mut b) = (0.0f32, 0.0f32);
    for x in s {
        let c = x + 2.0 * w.cos() * a - b;
        b = a;
        a = c;
    }
    let power = (a * a + b * b - 2.0 * w.cos() * a * b) / (n * n / 2.0);
    let total: f32 = s.iter().map(|x| x * x).sum::<f32>() / n;
    (total.sqrt(), if total > 0.0 { power / total } else { 0.0 })
}

/// A 4 s 320×180 red anchor with a 440 Hz tone, a keyframe every second (loop it to stay live).
pub fn red_anchor_with_tone(dir: &Path) -> PathBuf {
    let c = Clip::new("color=c=0xff0000:size=320x180:rate=30", 4.0).with_audio("sine=frequency=440:sample_rate=48000");
    clip(dir, "red.flv", &c.args(&LIVE_GOP))
}

/// Waits until a live playlist lists two segments (its newest frame can be decoded then).
pub fn wait_segments(playlist: &str) {
    wait_for("two HLS segments", 30.0, || {
        authed(playlist).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
}

/// Media seconds a live playlist adds per wall second, measured between the arrivals of two of
/// its segments at least `secs` apart (so the segment length does not blur the figure).
pub fn media_per_wall_second(playlist: &str, secs: f64) -> f64 {
    let mut seen: std::collections::BTreeMap<u64, (f64, Instant)> = Default::default();
    let poll = |seen: &mut std::collections::BTreeMap<u64, (f64, Instant)>| {
        let text = authed(playlist).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default();
        for (seq, (dur, _)) in segments(&text) {
            seen.entry(seq).or_insert((dur, Instant::now()));
        }
    };
    poll(&mut seen);
    let known = seen.keys().last().copied();
    wait_for("a new segment", 30.0, || {
        poll(&mut seen);
        seen.keys().last().copied() != known
    });
    let (first, start) = seen.last_key_value().map(|(k, v)| (*k, v.1)).unwrap();
    wait_for("a segment arriving after the measured time", secs * 2.0 + 20.0, || {
        poll(&mut seen);
        seen.last_key_value().is_some_and(|(_, v)| v.1.duration_since(start).as_secs_f64() >= secs)
    });
    let (last, end) = seen.last_key_value().map(|(k, v)| (*k, v.1)).unwrap();
    let media: f64 = seen.range(first + 1..=last).map(|(_, v)| v.0).sum();
    media / end.duration_since(start).as_secs_f64()
}

/// The newest segment of a live playlist, saved under `dir`.
pub fn newest_segment(playlist: &str, dir: &Path) -> PathBuf {
    let text = authed(playlist).call().unwrap().into_string().unwrap();
    let name = text.lines().filter(|l| l.ends_with(".ts")).last().expect("a segment").to_string();
    let base = &playlist[..playlist.rfind('/').unwrap()];
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut authed(&format!("{base}/{name}")).call().unwrap().into_reader(), &mut bytes)
        .unwrap();
    let p = dir.join(&name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// 20 s of a real face (tests/data/astronaut.png, zooming slowly) at 384×384, 30 fps, H.264 with
/// a keyframe every second, in FLV under `dir`.
pub fn face_clip(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png");
    let clip = dir.join("face.flv");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&src)
        .args([
            "-vf",
            "zoompan=z='1+0.002*on':x='iw/2-(iw/zoom/2)':y='ih/3-(ih/zoom/3)':d=1:s=384x384:fps=30",
            "-frames:v",
            "600",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    clip
}

/// H.264 for a live test clip: fast to make, a keyframe every second at 30 fps.
pub const LIVE_GOP: [&str; 8] = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"];

/// Polls `f` until it holds; fails the test with `what` after `secs` seconds.
pub fn wait_for(what: &str, secs: f64, f: impl FnMut() -> bool) {
    assert!(kit::wait_until(Duration::from_secs_f64(secs), f), "timed out after {secs} s waiting for {what}");
}

/// The service's `/events` stream, collected from the moment of subscribing.
pub struct Events(std::sync::Arc<std::sync::Mutex<Vec<Value>>>);

impl Events {
    pub fn subscribe(http: &str) -> Events {
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
        let sink = events.clone();
        let sse = authed(&format!("{http}/events")).call().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(sse.into_reader()).lines().map_while(Result::ok) {
                if let Some(j) = line.strip_prefix("data:").and_then(|d| serde_json::from_str::<Value>(d.trim()).ok()) {
                    sink.lock().unwrap().push(j);
                }
            }
        });
        Events(events)
    }

    pub fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    /// Forgets the events so far (the next [`Events::wait`] sees only newer ones).
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Waits until an event matching `f` has arrived, and returns it.
    pub fn wait(&self, what: &str, secs: f64, f: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        wait_for(what, secs, || {
            found = self.0.lock().unwrap().iter().find(|e| f(e)).cloned();
            found.is_some()
        });
        found.unwrap()
    }
}

/// `costream demo` on free ports in `dir`, once it has printed its HLS URL and operator token
/// (the token is remembered for [`authed`]).
pub struct Demo {
    pub child: Child,
    pub hls: String,
    pub token: String,
    /// The console link that opens signed in (the token in its fragment).
    pub console: String,
    /// The demo show's viewer page (public: no link needed).
    pub watch: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_demo(dir: &Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args([
            "demo",
            "--http",
            &format!("127.0.0.1:{}", free_port()),
            "--rtmp",
            &format!("127.0.0.1:{}", free_port()),
            "--dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut hls, mut token, mut console, mut watch) = (None, None, None, None);
    while hls.is_none() {
        let line = rx.recv_timeout(Duration::from_secs(15)).expect("the demo prints its token and HLS URL");
        let field = |name: &str| line.trim().strip_prefix(name).map(|t| t.trim().to_string());
        token = token.or_else(|| field("TOKEN:"));
        console = console.or_else(|| field("CONSOLE:"));
        watch = watch.or_else(|| field("WATCH:"));
        hls = field("HLS:");
    }
    let (hls, token) = (hls.unwrap(), token.expect("the demo prints an operator token"));
    remember_token(hls.split("/sessions/").next().unwrap(), &token);
    let console = console.expect("the demo prints a console link");
    Demo { child, hls, token, console, watch: watch.expect("the demo prints a watch link") }
}

/// When `sock` is closed by its peer (EOF or reset), waiting until `secs` after `t0`; `None` if it
/// stays open. A read that times out is not a close.
pub fn closed_within(sock: &mut TcpStream, t0: Instant, secs: f64) -> Option<Duration> {
    let mut b = [0u8; 512];
    while t0.elapsed().as_secs_f64() < secs {
        sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match sock.read(&mut b) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

/// An RTMP handshake (C0, C1, C2), then a 200-byte message's first 128-byte chunk, then a
/// continuation header on the same chunk stream saying the message is 10 bytes long: what the
/// property test's long run found making rml_rtmp's chunk parser panic.
pub fn contradicting_chunk_stream() -> Vec<u8> {
    let mut bytes = vec![3u8];
    bytes.extend(std::iter::repeat_n(0u8, 1536 * 2));
    bytes.extend([0x03, 0, 0, 0, 0, 0, 200, 20, 0, 0, 0, 0]);
    bytes.extend(std::iter::repeat_n(0u8, 128));
    bytes.extend([0x43, 0, 0, 0, 0, 0, 10, 20]);
    bytes.extend(std::iter::repeat_n(0u8, 10));
    bytes
}
