//! How soon a room's change reaches the output, and how fast a replay exports. A live anchor with
//! two sources (main and camera) in a recorded 1280×720 30 fps session: pause → first slate frame,
//! resume → first live frame, source switch → first frame of the other source, each from the API
//! call to the first composed frame showing it (what the session reports as `input_shown` on
//! `/events`); then the replay export's media seconds per wall second.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::service::Service;
use super::{med, progress, BenchArgs};
use crate::kit::{wait_until, Proc};
use costream::error::{invalid, Result};
use costream::testsrc::{generate, Clip};

/// The figures: each change's times (ms), the frame interval, and the export's speed.
pub struct Pause {
    pub pause_ms: Vec<f64>,
    pub resume_ms: Vec<f64>,
    pub switch_ms: Vec<f64>,
    pub export_x: Option<f64>,
}

const FRAME_MS: f64 = 1000.0 / 30.0;

/// `/events` collected from the moment of subscribing.
fn subscribe(svc: &Service) -> Result<Arc<Mutex<Vec<Value>>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let agent = ureq::AgentBuilder::new().build();
    let r = agent
        .get(&format!("{}/events", svc.api.base))
        .set("authorization", &svc.api.bearer)
        .call()
        .map_err(|e| invalid("bench events", e.to_string()))?;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r.into_reader()).lines().map_while(std::result::Result::ok) {
            if let Some(v) = line.strip_prefix("data:").and_then(|d| serde_json::from_str(d.trim()).ok()) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(v);
            }
        }
    });
    Ok(events)
}

/// Waits for (and takes) the first event matching `f`.
fn take(events: &Mutex<Vec<Value>>, secs: f64, f: impl Fn(&Value) -> bool) -> Option<Value> {
    let mut found = None;
    wait_until(Duration::from_secs_f64(secs), || {
        let mut ev = events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = ev.iter().position(&f) {
            found = Some(ev.remove(i));
        }
        found.is_some()
    });
    found
}

fn publisher(clip: &Path, port: u16, path: &str) -> Result<Proc> {
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(clip)
        .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/{path}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Proc(child))
}

fn clip(dir: &Path, name: &str, colour: &str) -> Result<std::path::PathBuf> {
    let p = dir.join(name);
    if !p.exists() {
        let c = Clip::new(format!("color=c={colour}:size=1280x720:rate=30"), 6.0)
            .with_audio("sine=frequency=440:sample_rate=48000")
            .args(&["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"]);
        generate(&p, &c)?;
    }
    Ok(p)
}

/// One change through the API, and the time to its first composed frame.
fn change(svc: &Service, events: &Mutex<Vec<Value>>, path: &str, body: &str, shows: &str) -> Result<f64> {
    let (st, r) = svc.api.call("POST", path, Some(body));
    if st != 200 {
        return Err(invalid("bench pause", format!("POST {path}: {st} {r}")));
    }
    let e = take(events, 10.0, |e| e["type"] == "input_shown" && e["shows"] == shows)
        .ok_or_else(|| invalid("bench pause", format!("no input_shown for {shows}")))?;
    e["after_ms"].as_f64().ok_or_else(|| invalid("bench pause", "after_ms"))
}

fn run(dir: &Path, rounds: usize) -> Result<Pause> {
    std::fs::create_dir_all(dir)?;
    let svc = Service::start(&dir.join("pause.sqlite"), &[], None)?;
    let (_, room) = svc.api.call("POST", "/rooms", Some(r#"{"name":"bench"}"#));
    let (id, key) = (room["id"].as_str().unwrap_or_default(), room["key"]["key"].as_str().unwrap_or_default());
    let (red, blue) = (clip(dir, "pause_red.flv", "red")?, clip(dir, "pause_blue.flv", "blue")?);
    let _main = publisher(&red, svc.rtmp_port, key)?;
    let _camera = publisher(&blue, svc.rtmp_port, &format!("{key}/camera"))?;
    let live = || svc.api.get(&format!("/rooms/{id}")).1["sources"].as_array().map_or(0, Vec::len) == 2;
    if !wait_until(Duration::from_secs(20), live) {
        return Err(invalid("bench pause", "the two sources did not go live"));
    }
    let events = subscribe(&svc)?;
    let body = json!({"inputs": [{"room": id}], "size": "1280x720", "fps": 30, "record": true}).to_string();
    let (_, s) = svc.api.call("POST", "/sessions", Some(&body));
    let ses = s["id"].as_str().unwrap_or_default().to_string();
    let frames = || svc.api.get(&format!("/sessions/{ses}")).1["frames"].as_u64().unwrap_or(0);
    if !wait_until(Duration::from_secs(30), || frames() >= 60) {
        return Err(invalid("bench pause", "the session did not run"));
    }
    let mut f = Pause { pause_ms: Vec::new(), resume_ms: Vec::new(), switch_ms: Vec::new(), export_x: None };
    let settle = |n: u64| wait_until(Duration::from_secs(10), || frames() >= n);
    for _ in 0..rounds {
        f.pause_ms.push(change(&svc, &events, &format!("/rooms/{id}/pause"), "{}", "slate")?);
        settle(frames() + 15);
        f.resume_ms.push(change(&svc, &events, &format!("/rooms/{id}/resume"), "{}", "live")?);
        settle(frames() + 15);
        f.switch_ms.push(change(&svc, &events, &format!("/rooms/{id}/source"), r#"{"name":"camera"}"#, "source")?);
        settle(frames() + 15);
        f.switch_ms.push(change(&svc, &events, &format!("/rooms/{id}/source"), r#"{"name":"main"}"#, "source")?);
        settle(frames() + 15);
    }
    svc.api.call("DELETE", &format!("/sessions/{ses}"), None);
    let t0 = Instant::now();
    let (st, _) = svc.api.call("POST", &format!("/sessions/{ses}/replay/export"), None);
    if st == 202 {
        let done = take(&events, 120.0, |e| e["type"] == "replay_export" && e["state"] != "running");
        let wall = t0.elapsed().as_secs_f64();
        f.export_x = done.and_then(|d| d["duration_s"].as_f64()).map(|d| d / wall);
    }
    Ok(f)
}

pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> Option<Pause> {
    progress("measuring pause, resume and source switch to the first frame, and the replay export");
    let f = run(&dir.join("pause"), if args.quick { 2 } else { 5 })
        .map_err(|e| tracing::warn!(error = %e, "pause figures not measured"))
        .ok()?;
    j.insert("pause_to_slate_ms".into(), json!(med(&f.pause_ms)));
    j.insert("resume_to_live_ms".into(), json!(med(&f.resume_ms)));
    j.insert("source_switch_ms".into(), json!(med(&f.switch_ms)));
    j.insert("frame_interval_ms".into(), json!(FRAME_MS));
    j.insert("replay_export_x_realtime".into(), f.export_x.map_or(Value::Null, |x| json!(x)));
    Some(f)
}

impl Pause {
    pub fn text(&self, md: bool) -> String {
        let most = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let s = format!(
            "Room changes to the first composed frame showing them (1280×720 30 fps recorded session, {} pauses and resumes, {} switches; target ≤ 2 frame intervals = {:.1} ms): pause → slate median {:.1} ms (max {:.1}, `pause_to_slate_ms`), resume → live {:.1} ms (max {:.1}, `resume_to_live_ms`), source switch {:.1} ms (max {:.1}, `source_switch_ms`). Replay export (remux, pauses cut): {} (`replay_export_x_realtime`).",
            self.pause_ms.len(),
            self.switch_ms.len(),
            2.0 * FRAME_MS,
            med(&self.pause_ms),
            most(&self.pause_ms),
            med(&self.resume_ms),
            most(&self.resume_ms),
            med(&self.switch_ms),
            most(&self.switch_ms),
            self.export_x.map_or("not measured".into(), |x| format!("{x:.0}× real time")),
        );
        super::paragraph(&s, md)
    }
}

pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(super::machine()));
    let f = measure(args, &args.dir, &mut j).ok_or_else(|| invalid("bench", "pause figures not measured"))?;
    super::run_part(args, "Pause, resume, source switch, replay export", j, |md| f.text(md))
}
