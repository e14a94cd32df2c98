//! `costream bench --soak MINUTES`: the service under a steady churn for that long — anchors
//! publishing, leaving and coming back, sessions created and deleted, viewers fetching playlists
//! and segments, the operator polling — and its resident memory, open files and threads at the
//! start and at the end, each taken when nothing is running, so they compare like with like. A
//! leak shows as growth; a panic or a failed session shows in the count.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::service::{Api, Service};
use crate::kit::{wait_until, Proc};
use costream::error::{invalid, Result};
use costream::testsrc::{generate, Clip};

/// Turns before the first measurement.
const WARM_TURNS: usize = 3;

/// What the kernel says of the service process.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    rss_mb: f64,
    fds: usize,
    threads: usize,
}

/// The service at rest — no session, no publisher, no request (`quiet` holds the pollers): the
/// least of each figure over 12 s (the runtime's idle blocking threads leave after 10 s).
fn usage_at_rest(pid: u32, quiet: &AtomicBool) -> Usage {
    quiet.store(true, Ordering::Relaxed);
    let mut least = usage(pid);
    for _ in 0..12 {
        std::thread::sleep(Duration::from_secs(1));
        let u = usage(pid);
        least = Usage {
            rss_mb: least.rss_mb.min(u.rss_mb),
            fds: least.fds.min(u.fds),
            threads: least.threads.min(u.threads),
        };
    }
    quiet.store(false, Ordering::Relaxed);
    least
}

fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    Usage { rss_mb: field("VmRSS:") / 1024.0, fds, threads: field("Threads:") as usize }
}

/// An anchor publishing a looped clip in real time until dropped.
fn publisher(clip: &Path, port: u16, key: &str) -> Result<Proc> {
    Ok(Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/{key}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

fn room_live(api: &Api, id: &str, live: bool) -> bool {
    (api.get(&format!("/rooms/{id}")).1["status"] == "live") == live
}

/// Viewers of the session in `current`: playlist and newest segment every 500 ms; the operator
/// lists sessions and scrapes metrics every 2 s (not while `quiet`). Counts fetches and failures.
fn viewers(
    api: Api,
    current: Arc<std::sync::Mutex<Option<String>>>,
    quiet: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut round = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if quiet.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let id = current.lock().map(|c| c.clone()).unwrap_or(None);
            if let Some(id) = id {
                let (st, _) = api.fetch(&format!("/sessions/{id}/hls/index.m3u8"));
                // A session just created has no playlist yet, one just deleted none any more.
                if st == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                    let text = api
                        .agent
                        .get(&format!("{}/sessions/{id}/hls/index.m3u8", api.base))
                        .set("authorization", &api.bearer)
                        .call()
                        .ok()
                        .and_then(|r| r.into_string().ok())
                        .unwrap_or_default();
                    if let Some(seg) = text.lines().rev().find(|l| l.ends_with(".ts")) {
                        match api.fetch(&format!("/sessions/{id}/hls/{seg}")).0 {
                            200 | 404 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                } else if st == 0 || st >= 500 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            if round % 4 == 0 {
                for p in ["/sessions", "/metrics", "/rooms"] {
                    match api.get(p).0 {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
            round += 1;
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

struct Rooms {
    ids: [String; 2],
    keys: [String; 2],
}

fn rooms(api: &Api) -> Result<Rooms> {
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for name in ["Soak A", "Soak B"] {
        let (st, r) = api.call("POST", "/rooms", Some(&json!({ "name": name }).to_string()));
        let id = r["id"].as_str().ok_or_else(|| invalid("soak", format!("room: {st} {r}")))?;
        ids.push(id.to_string());
        keys.push(r["key"]["key"].as_str().unwrap_or_default().to_string());
    }
    Ok(Rooms { ids: [ids[0].clone(), ids[1].clone()], keys: [keys[0].clone(), keys[1].clone()] })
}

/// One turn of the churn; returns whether its session started.
fn cycle(svc: &Service, clip: &Path, r: &Rooms, current: &Arc<std::sync::Mutex<Option<String>>>) -> Result<bool> {
    let api = &svc.api;
    let a = publisher(clip, svc.rtmp_port, &r.keys[0])?;
    let mut b = Some(publisher(clip, svc.rtmp_port, &r.keys[1])?);
    wait_until(Duration::from_secs(15), || room_live(api, &r.ids[0], true) && room_live(api, &r.ids[1], true));
    let req = json!({"inputs": [{"room": r.ids[0]}, {"room": r.ids[1]}], "size": "640x360", "fit": "fit"});
    let (st, s) = api.call("POST", "/sessions", Some(&req.to_string()));
    let id = s["id"].as_str().map(str::to_string);
    if id.is_none() {
        super::progress(&format!("soak: session refused: {st} {s}"));
    }
    *current.lock().map_err(|_| invalid("soak", "lock"))? = id.clone();
    std::thread::sleep(Duration::from_secs(8));
    // Anchor B drops out and comes back while the session runs.
    b.take();
    wait_until(Duration::from_secs(40), || room_live(api, &r.ids[1], false));
    std::thread::sleep(Duration::from_secs(2));
    b = Some(publisher(clip, svc.rtmp_port, &r.keys[1])?);
    wait_until(Duration::from_secs(15), || room_live(api, &r.ids[1], true));
    std::thread::sleep(Duration::from_secs(8));
    *current.lock().map_err(|_| invalid("soak", "lock"))? = None;
    if let Some(id) = &id {
        api.call("DELETE", &format!("/sessions/{id}"), None);
    }
    drop((a, b));
    // Quiet again: no publisher, no session left (stopped ones go after the retention).
    wait_until(Duration::from_secs(60), || {
        room_live(api, &r.ids[0], false)
            && room_live(api, &r.ids[1], false)
            && api.get("/sessions").1.as_array().is_some_and(|l| l.is_empty())
    });
    Ok(id.is_some())
}

/// Panics and failed sessions in the service's log.
fn failures(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("panicked") || l.contains("session failed"))
        .count()
}

pub fn run(args: &super::BenchArgs, minutes: f64) -> Result<()> {
    let dir = args.dir.join("soak");
    std::fs::create_dir_all(&dir)?;
    let clip = dir.join("anchor.flv");
    if !clip.exists() {
        generate(
            &clip,
            &Clip::new("testsrc2=size=640x360:rate=30", 4.0)
                .with_audio("sine=frequency=440:sample_rate=48000")
                .args(&["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"]),
        )?;
    }
    let log = dir.join("serve.log");
    let svc = Service::start(&dir.join("soak.sqlite"), &["--hls-retention", "3"], Some(&log))?;
    let r = rooms(&svc.api)?;
    let current = Arc::new(std::sync::Mutex::new(None));
    let (stop, ok, failed, quiet) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let watcher = viewers(svc.api.clone(), current.clone(), quiet.clone(), stop.clone(), ok.clone(), failed.clone());
    super::progress(&format!("soak: {minutes} minutes of churn after {WARM_TURNS} turns of warm-up"));
    // The first turns pay one-time costs (GPU device, encoder libraries, allocator pools).
    let mut sessions = 0;
    for _ in 0..WARM_TURNS {
        sessions += cycle(&svc, &clip, &r, &current)? as u64;
    }
    let start = usage_at_rest(svc.pid(), &quiet);
    let t0 = Instant::now();
    let mut cycles = 0u64;
    let mut peak = start.rss_mb;
    while t0.elapsed() < Duration::from_secs_f64(minutes * 60.0) {
        sessions += cycle(&svc, &clip, &r, &current)? as u64;
        cycles += 1;
        let u = usage(svc.pid());
        peak = peak.max(u.rss_mb);
        super::progress(&format!(
            "soak: turn {cycles}, {:.1} min: RSS {:.0} MB, {} fds, {} threads",
            t0.elapsed().as_secs_f64() / 60.0,
            u.rss_mb,
            u.fds,
            u.threads
        ));
    }
    let end = usage_at_rest(svc.pid(), &quiet);
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let mut svc = svc;
    let alive = svc.proc.0.try_wait().ok().flatten().is_none();
    let panics = failures(&log) + usize::from(!alive);
    let growth = |a: f64, b: f64| if a > 0.0 { b / a - 1.0 } else { 0.0 };
    let flat = growth(start.rss_mb, end.rss_mb) <= 0.10
        && growth(start.fds as f64, end.fds as f64) <= 0.10
        && growth(start.threads as f64, end.threads as f64) <= 0.10;
    let mut j = serde_json::Map::new();
    for (k, v) in [
        ("soak_minutes", json!(minutes)),
        ("soak_turns", json!(cycles)),
        ("soak_sessions", json!(sessions)),
        ("soak_fetches", json!(ok.load(Ordering::Relaxed))),
        ("soak_failed_fetches", json!(failed.load(Ordering::Relaxed))),
        ("soak_rss_mb_start", json!(start.rss_mb)),
        ("soak_rss_mb_end", json!(end.rss_mb)),
        ("soak_rss_mb_peak", json!(peak)),
        ("soak_fds_start", json!(start.fds)),
        ("soak_fds_end", json!(end.fds)),
        ("soak_threads_start", json!(start.threads)),
        ("soak_threads_end", json!(end.threads)),
        ("soak_panics", json!(panics)),
        ("soak_flat", Value::Bool(flat)),
    ] {
        j.insert(k.into(), v);
    }
    let text = move |md: bool| {
        let rows = [
            ("resident memory (MB)", format!("{:.0}", start.rss_mb), format!("{:.0} (peak {peak:.0})", end.rss_mb)),
            ("open files", start.fds.to_string(), end.fds.to_string()),
            ("threads", start.threads.to_string(), end.threads.to_string()),
        ];
        let mut t = format!(
            "\nSoak, {minutes} min: {cycles} turns, {sessions} sessions created and deleted, anchors leaving and rejoining each turn, {} fetches ({} failed), {panics} panics or failed sessions; flat within 10 %: {}\n",
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
            if flat { "yes" } else { "NO" }
        );
        if md {
            t.push_str(&format!(
                "\n| service process, at rest | after {WARM_TURNS} turns of warm-up | at the end |\n|---|---|---|\n"
            ));
        }
        for (what, a, b) in rows {
            t.push_str(&if md { format!("| {what} | {a} | {b} |\n") } else { format!("  {what}: {a} -> {b}\n") });
        }
        t
    };
    super::run_part(args, "Soak", j, text)
}
