//! Real-time figures: whether live jobs keep up with the wall clock on this machine. The demo's HLS
//! media seconds per wall second and the share of its ticks composed; a PK session's composed
//! frame rate (three 1280×720 views: mirrored a and b, and a's monitor, with the bar and comments);
//! and how many S1 jobs run at once in real time from paced RTMP inputs, ours against FFmpeg's.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::service::{Api, Service};
use super::{progress, BenchArgs};
use crate::kit::{free_port, start_nginx, wait_until, Proc};
use costream::error::{invalid, Result};
use costream::testsrc::{generate, Clip};

/// A job keeps up when it composes at least this share of its ticks.
const REAL_TIME: f64 = 0.99;

/// The live figures of a run (None: not measured, with the reason logged).
#[derive(Default)]
pub struct Live {
    /// (HLS media seconds per wall second, share of ticks composed, seconds measured).
    pub demo: Option<(f64, f64, f64)>,
    /// (frames composed per second, share of ticks composed).
    pub pk: Option<(f64, f64)>,
    /// (ours, FFmpeg's) S1 jobs at once in real time, out of the most tried.
    pub sessions: Option<(usize, usize, usize)>,
}

/// A media playlist's segments: media sequence number → duration.
fn segments(text: &str) -> BTreeMap<u64, f64> {
    let mut seq = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0u64);
    let (mut out, mut dur) = (BTreeMap::new(), None);
    for l in text.lines() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            dur = d.split(',').next().and_then(|v| v.parse::<f64>().ok());
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            out.insert(seq, dur.take().unwrap_or(0.0));
            seq += 1;
        }
    }
    out
}

/// HLS media seconds per wall second over `seconds`, measured between two segment arrivals.
fn media_per_wall(api: &Api, playlist: &str, seconds: f64) -> Result<f64> {
    let mut seen: BTreeMap<u64, (f64, Instant)> = BTreeMap::new();
    let poll = |seen: &mut BTreeMap<u64, (f64, Instant)>| {
        let text = api
            .agent
            .get(&format!("{}{playlist}", api.base))
            .set("authorization", &api.bearer)
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .unwrap_or_default();
        for (k, d) in segments(&text) {
            seen.entry(k).or_insert((d, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !wait_until(Duration::from_secs(60), || {
        poll(&mut seen);
        seen.len() >= 2
    }) {
        return Err(invalid("bench", "no HLS segments"));
    }
    let (first, start) = seen.last_key_value().map(|(k, v)| (*k, v.1)).unwrap_or((0, Instant::now()));
    wait_until(Duration::from_secs_f64(seconds + 30.0), || {
        poll(&mut seen);
        seen.last_key_value().is_some_and(|(_, v)| v.1.duration_since(start).as_secs_f64() >= seconds)
    });
    let (last, end) = seen.last_key_value().map(|(k, v)| (*k, v.1)).unwrap_or((first, start));
    let media: f64 = seen.range(first + 1..=last).map(|(_, v)| v.0).sum();
    Ok(media / end.duration_since(start).as_secs_f64().max(1e-9))
}

/// (frames composed, ticks skipped) of a session now.
fn ticks(api: &Api, id: &str) -> (u64, u64) {
    let s = api.get(&format!("/sessions/{id}")).1;
    (s["frames"].as_u64().unwrap_or(0), s["ticks_skipped"].as_u64().unwrap_or(0))
}

fn composed_share(a: (u64, u64), b: (u64, u64)) -> f64 {
    let (f, s) = (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1));
    f as f64 / (f + s).max(1) as f64
}

/// `costream demo` as a new user runs it (its own synthetic anchors beside it).
fn demo(dir: &Path, seconds: f64) -> Result<(f64, f64, f64)> {
    let (hp, rp) = (free_port()?, free_port()?);
    let _ = std::fs::remove_dir_all(dir);
    let mut child = Command::new(std::env::current_exe()?)
        .args(["demo", "--http", &format!("127.0.0.1:{hp}"), "--rtmp", &format!("127.0.0.1:{rp}"), "--dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().ok_or_else(|| invalid("bench", "demo stdout"))?;
    let _demo = Proc(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(std::result::Result::ok) {
            let _ = tx.send(l);
        }
    });
    let (mut token, mut hls) = (None, None);
    while token.is_none() || hls.is_none() {
        let l = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| invalid("bench", "the demo printed no token and HLS URL"))?;
        token = token.or_else(|| l.trim().strip_prefix("TOKEN:").map(|t| t.trim().to_string()));
        hls = hls.or_else(|| l.trim().strip_prefix("HLS:").map(|u| u.trim().to_string()));
    }
    let base = format!("http://127.0.0.1:{hp}");
    let path = hls.unwrap_or_default().trim_start_matches(&base).to_string();
    let id = path.split('/').nth(2).unwrap_or_default().to_string();
    let api = Api {
        base,
        bearer: format!("Bearer {}", token.unwrap_or_default()),
        agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build(),
    };
    let before = ticks(&api, &id);
    let per_wall = media_per_wall(&api, &path, seconds)?;
    Ok((per_wall, composed_share(before, ticks(&api, &id)), seconds))
}

/// An anchor publishing a looped clip in real time, copied (no encode beside the service).
fn publisher(clip: &Path, url: &str) -> Result<Proc> {
    Ok(Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

/// A PK through the API: two 640×360 anchors, 1280×720, a's monitor, the bar and a comment.
fn pk_session(dir: &Path, seconds: f64) -> Result<(f64, f64)> {
    std::fs::create_dir_all(dir)?;
    let clip = dir.join("anchor_640x360.flv");
    if !clip.exists() {
        generate(
            &clip,
            &Clip::new("testsrc2=size=640x360:rate=30", 6.0)
                .with_audio("sine=frequency=440:sample_rate=48000")
                .args(&["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p"]),
        )?;
    }
    let svc = Service::start(&dir.join("pk.sqlite"), &[], None)?;
    let api = &svc.api;
    let mut rooms = Vec::new();
    let mut anchors = Vec::new();
    for name in ["小美", "Leo"] {
        let (st, r) = api.call("POST", "/rooms", Some(&json!({ "name": name }).to_string()));
        let id = r["id"].as_str().ok_or_else(|| invalid("bench", format!("room: {st} {r}")))?.to_string();
        anchors.push(publisher(
            &clip,
            &format!("rtmp://127.0.0.1:{}/live/{}", svc.rtmp_port, r["key"]["key"].as_str().unwrap_or_default()),
        )?);
        rooms.push(id);
    }
    wait_until(Duration::from_secs(20), || rooms.iter().all(|r| api.get(&format!("/rooms/{r}")).1["status"] == "live"));
    let inv = json!({"from": {"room": rooms[0], "monitor": true}, "to": {"room": rooms[1]}, "size": "1280x720", "pk": {"scores": [1200, 800], "countdown_s": 300}});
    let (st, i) = api.call("POST", "/invitations", Some(&inv.to_string()));
    let (iid, ses) =
        (i["id"].as_str().unwrap_or_default().to_string(), i["session"].as_str().unwrap_or_default().to_string());
    if st != 201 || api.call("POST", &format!("/invitations/{iid}/accept"), None).0 != 200 {
        return Err(invalid("bench", format!("PK invitation: {st} {i}")));
    }
    api.call("POST", &format!("/sessions/{ses}/comments"), Some(r#"{"anchor":"a","user":"粉丝","text":"加油 Leo!"}"#));
    wait_until(Duration::from_secs(20), || ticks(api, &ses).0 > 60);
    let (a, t0) = (ticks(api, &ses), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (b, wall) = (ticks(api, &ses), t0.elapsed().as_secs_f64());
    drop(anchors);
    Ok(((b.0 - a.0) as f64 / wall, composed_share(a, b)))
}

/// `n` S1 jobs of ours at once from the live streams: whether each composed its ticks.
fn ours_keep_up(dir: &Path, a: &str, b: &str, n: usize, seconds: f64) -> Result<bool> {
    let variant = super::s1::Variant { workgroup: "8x8".into(), depth: 3, nice: 4 };
    let mut jobs = Vec::new();
    for k in 0..n {
        let out = dir.join(format!("ours_{n}_{k}"));
        std::fs::create_dir_all(&out)?;
        let report = out.join("report.json");
        let mut c = super::s1::ours_s1(Path::new(a), Path::new(b), &out, &variant, 0, &report)?;
        c.args(["--realtime", "--duration", &seconds.to_string()]).stderr(Stdio::null());
        jobs.push((Proc(c.spawn()?), report));
    }
    let mut all = true;
    for (mut p, report) in jobs {
        let _ = p.0.wait();
        let r: Value = std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        let share =
            r["frames"].as_f64().unwrap_or(0.0) / (r["content_seconds"].as_f64().unwrap_or(0.0) * 30.0).max(1.0);
        all &= share >= REAL_TIME;
    }
    Ok(all)
}

/// `n` FFmpeg S1 processes at once from the live streams: whether each kept the media clock, past
/// its first 3 s (connecting).
fn ffmpeg_keeps_up(dir: &Path, a: &str, b: &str, n: usize, seconds: f64) -> Result<bool> {
    let mut jobs = Vec::new();
    for k in 0..n {
        let out = dir.join(format!("ff_{n}_{k}"));
        std::fs::create_dir_all(&out)?;
        let secs = seconds.to_string();
        let mut c = super::s1::ffmpeg_s1_with(
            Path::new(a),
            Path::new(b),
            &out,
            &["-t", &secs, "-progress", "pipe:1", "-stats_period", "0.5"],
        );
        c.stdout(Stdio::piped());
        let mut child = c.spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| invalid("bench", "ffmpeg stdout"))?;
        let reader = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut points = Vec::new();
            for l in std::io::BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
                if let Some(us) = l.strip_prefix("out_time_us=").and_then(|v| v.parse::<f64>().ok()) {
                    points.push((t0.elapsed().as_secs_f64(), us / 1e6));
                }
            }
            points
        });
        jobs.push((Proc(child), reader));
    }
    let mut all = true;
    for (mut p, reader) in jobs {
        let _ = p.0.wait();
        let mut pts = reader.join().unwrap_or_default();
        // The last report comes after the flush at the end; the first seconds connect.
        pts.pop();
        pts.retain(|p| p.0 >= 3.0 && p.1 > 0.0);
        let rate = slope(&pts);
        progress(&format!("  FFmpeg job: {rate:.3} media s per wall s"));
        all &= rate >= REAL_TIME;
    }
    Ok(all)
}

/// Least-squares slope of (wall s, media s): media seconds per wall second, the 0.5 s steps of the
/// progress reports averaged out.
fn slope(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if var > 0.0 {
        cov / var
    } else {
        0.0
    }
}

/// How many S1 jobs run at once in real time, ours and FFmpeg's, from two paced 720p30 RTMP
/// streams (the S1 inputs looped through nginx-rtmp), trying 1, 2, … up to `max`.
fn sessions(dir: &Path, seconds: f64, max: usize) -> Result<(usize, usize, usize)> {
    // Longer than a run: a looped input jumps its timestamps, which FFmpeg's graph stalls on.
    let (a, b) = super::s1::make_inputs(&dir.join("inputs"), (seconds + 15.0).ceil())?;
    let nginx = start_nginx(&dir.join("nginx-sessions"), false)?;
    let (ua, ub) =
        (format!("rtmp://127.0.0.1:{}/live/a", nginx.port), format!("rtmp://127.0.0.1:{}/live/b", nginx.port));
    let _pubs = (publisher(&a, &ua)?, publisher(&b, &ub)?);
    wait_until(Duration::from_secs(15), || {
        Command::new("ffprobe")
            .args(["-v", "error", "-rw_timeout", "3000000", "-show_streams", &ub])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let mut best = [0usize; 2];
    for (i, best) in best.iter_mut().enumerate() {
        for n in 1..=max {
            let ok = if i == 0 {
                ours_keep_up(dir, &ua, &ub, n, seconds)?
            } else {
                ffmpeg_keeps_up(dir, &ua, &ub, n, seconds)?
            };
            progress(&format!(
                "{} S1 job(s) of {} at once: {}",
                n,
                ["costream", "FFmpeg"][i],
                if ok { "real time" } else { "behind" }
            ));
            if !ok {
                break;
            }
            *best = n;
        }
    }
    Ok((best[0], best[1], max))
}

/// Runs what `args` asks for, filling `j`.
pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> Live {
    let quick = args.quick;
    let warn = |what: &str, e: &costream::Error| tracing::warn!(error = %e, "{what} not measured");
    progress("measuring the demo against the wall clock");
    let demo = demo(&dir.join("demo"), if quick { 20.0 } else { 120.0 }).map_err(|e| warn("demo", &e)).ok();
    progress("measuring a PK session's frame rate (3 views, 1280x720)");
    let pk = pk_session(&dir.join("pk-live"), if quick { 10.0 } else { 30.0 }).map_err(|e| warn("PK session", &e)).ok();
    progress("measuring S1 jobs per machine in real time, ours and FFmpeg's");
    let sessions = sessions(&dir.join("sessions"), if quick { 8.0 } else { 20.0 }, if quick { 2 } else { 5 })
        .map_err(|e| warn("sessions per machine", &e))
        .ok();
    let put = |j: &mut serde_json::Map<String, Value>, k: &str, v: Option<f64>| {
        j.insert(k.into(), v.map(|v| json!(v)).unwrap_or(Value::Null));
    };
    put(j, "demo_media_s_per_wall_s", demo.map(|d| d.0));
    put(j, "demo_ticks_composed_share", demo.map(|d| d.1));
    put(j, "pk_session_fps", pk.map(|p| p.0));
    put(j, "pk_session_ticks_composed_share", pk.map(|p| p.1));
    put(j, "live_sessions_at_30fps", sessions.map(|s| s.0 as f64));
    put(j, "ffmpeg_sessions_at_30fps", sessions.map(|s| s.1 as f64));
    Live { demo, pk, sessions }
}

impl Live {
    pub fn text(&self, md: bool) -> String {
        let mut t = String::new();
        let line = |t: &mut String, s: String| t.push_str(&super::paragraph(&s, md));
        if let Some((m, c, s)) = self.demo {
            line(&mut t, format!("Demo (`costream demo`, its two synthetic anchors beside it), over {s:.0} s: {m:.3} HLS media seconds per wall second (`demo_media_s_per_wall_s`), {:.1} % of its ticks composed ({:.1} fps).", c * 100.0, c * 30.0));
        }
        if let Some((fps, c)) = self.pk {
            line(&mut t, format!("PK session through the API (two 640×360 anchors, 1280×720, views a, b and a's monitor, bar and comments): {fps:.1} fps composed (`pk_session_fps`), {:.1} % of its ticks.", c * 100.0));
        }
        if let Some((ours, ff, max)) = self.sessions {
            line(&mut t, format!("S1 jobs at once in real time (≥ 99 % of ticks, paced 720p30 RTMP inputs, up to {max} tried): costream {ours} (`live_sessions_at_30fps`), FFmpeg {ff} (`ffmpeg_sessions_at_30fps`)."));
        }
        t
    }
}

/// `costream bench --live-only`.
pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(super::machine()));
    let live = measure(args, &args.dir, &mut j);
    super::run_part(args, "Real time", j, |md| live.text(md))
}
