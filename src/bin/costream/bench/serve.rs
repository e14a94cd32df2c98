//! Viewer playback served by costream against nginx serving the same files on the same machine in
//! the same run: requests per second of a room's viewer playlist (token checked, audience counted,
//! segment URLs signed) and of its signed segments, against nginx's static `index.m3u8` and
//! segment, each hammered by the same clients over keep-alive connections, alternating.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::service::Service;
use super::{med, progress, BenchArgs};
use crate::kit::{free_port, run_nginx, wait_until, Proc};
use costream::error::{invalid, Result};
use costream::testsrc::{generate, Clip};

/// Requests per second of each (costream, nginx): playlists, then segments.
pub struct Serve {
    pub playlists: (f64, f64),
    pub segments: (f64, f64),
    pub clients: usize,
}

const CLIENTS: usize = 8;

/// Requests answered 200 per second by `CLIENTS` threads fetching `url` for `secs`.
fn rate(url: &str, secs: f64) -> f64 {
    let ok = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (ok, url) = (ok.clone(), url.to_string());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
                let mut buf = Vec::new();
                while Instant::now() < until {
                    if let Ok(r) = agent.get(&url).call() {
                        buf.clear();
                        if r.status() == 200 && std::io::Read::read_to_end(&mut r.into_reader(), &mut buf).is_ok() {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    for t in threads {
        let _ = t.join();
    }
    ok.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64().max(secs)
}

/// nginx (as many workers as cores) serving `root` on a free loopback port.
fn nginx_http(dir: &Path, root: &Path) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let (dir, root) = (std::fs::canonicalize(dir)?, std::fs::canonicalize(root)?);
    let conf = dir.join("nginx-http.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nuser root;\nworker_processes auto;\npid {d}/nginx-http.pid;\nerror_log {d}/nginx-http.log;\n\
             events {{ worker_connections 1024; }}\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port}; root {r}; }} }}\n",
            d = dir.display(),
            r = root.display()
        ),
    )?;
    Ok((run_nginx(&conf, &dir, port, &dir.join("nginx-http.log"), "nginx")?, port))
}

/// A room of a benchmark's service with its anchor publishing (a 640×360 clip, looped in real
/// time) and a session showing it.
pub struct LiveRoom {
    pub room: String,
    pub session: String,
    _anchor: Proc,
}

pub fn live_room(dir: &Path, svc: &Service) -> Result<LiveRoom> {
    let fail = |what: &str, v: &Value| invalid("bench", format!("{what}: {v}"));
    let (_, room) = svc.api.call("POST", "/rooms", Some(r#"{"name":"bench"}"#));
    let (id, key) = (room["id"].as_str().unwrap_or_default(), room["key"]["key"].as_str().unwrap_or_default());
    let clip = dir.join("serve.flv");
    if !clip.exists() {
        let c = Clip::new("testsrc2=size=640x360:rate=30", 6.0)
            .with_audio("sine=frequency=440:sample_rate=48000")
            .args(&["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"]);
        generate(&clip, &c)?;
    }
    let anchor = Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(&clip)
            .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{}/live/{key}", svc.rtmp_port)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let body = json!({"inputs": [{"room": id}], "size": "640x360", "bitrate_kbps": 1000}).to_string();
    let (_, s) = svc.api.call("POST", "/sessions", Some(&body));
    let session = s["id"].as_str().ok_or_else(|| fail("session", &s))?.to_string();
    Ok(LiveRoom { room: id.to_string(), session, _anchor: anchor })
}

fn run(dir: &Path, secs: f64) -> Result<Serve> {
    std::fs::create_dir_all(dir)?;
    let fail = |what: &str, v: &Value| invalid("bench serve", format!("{what}: {v}"));
    let svc = Service::start(&dir.join("serve.sqlite"), &[], None)?;
    let live = live_room(dir, &svc)?;
    let (id, ses) = (live.room.clone(), live.session.clone());
    let (_, v) = svc.api.call("POST", &format!("/rooms/{id}/viewers"), None);
    let playlist = v["url"].as_str().ok_or_else(|| fail("viewer", &v))?.to_string();
    // A signed segment (once the playlist has three), and the same files copied for nginx.
    let fetch = || -> Option<String> {
        let r = svc.api.agent.get(&format!("{}{playlist}", svc.api.base)).call().ok()?;
        r.into_string().ok().filter(|t| t.matches(".ts?").count() >= 3)
    };
    let mut text = None;
    if !wait_until(Duration::from_secs(30), || {
        text = fetch();
        text.is_some()
    }) {
        return Err(invalid("bench serve", "no viewer playlist with segments"));
    }
    let text = text.unwrap_or_default();
    let signed =
        text.lines().find(|l| l.contains(".ts?")).ok_or_else(|| invalid("bench serve", "no segment"))?.to_string();
    let file = signed.split('?').next().and_then(|p| p.rsplit('/').next()).unwrap_or_default().to_string();
    let root = dir.join("nginx-root");
    std::fs::create_dir_all(&root)?;
    let hls = dir.join("hls").join(&ses);
    std::fs::copy(svc_hls(&hls, "index.m3u8")?, root.join("index.m3u8"))?;
    std::fs::copy(svc_hls(&hls, &file)?, root.join(&file))?;
    let (_nginx, port) = nginx_http(dir, &root)?;
    let n = format!("http://127.0.0.1:{port}");
    if !wait_until(Duration::from_secs(10), || ureq::get(&format!("{n}/index.m3u8")).call().is_ok()) {
        return Err(invalid("bench serve", "nginx did not serve"));
    }
    let base = &svc.api.base;
    let (mut p, mut g) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        p.push((rate(&format!("{base}{playlist}"), secs), rate(&format!("{n}/index.m3u8"), secs)));
        g.push((rate(&format!("{base}{signed}"), secs), rate(&format!("{n}/{file}"), secs)));
    }
    let pair = |v: &[(f64, f64)]| {
        (med(&v.iter().map(|x| x.0).collect::<Vec<_>>()), med(&v.iter().map(|x| x.1).collect::<Vec<_>>()))
    };
    Ok(Serve { playlists: pair(&p), segments: pair(&g), clients: CLIENTS })
}

/// A file of the session's HLS directory (the service keeps it under the database's folder).
fn svc_hls(dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(invalid("bench serve", format!("{} is not there", p.display())))
    }
}

pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> Option<Serve> {
    progress("measuring viewer playlists and segments served per second, against nginx");
    let f = run(&dir.join("serve"), if args.quick { 1.0 } else { 4.0 })
        .map_err(|e| tracing::warn!(error = %e, "serving figures not measured"))
        .ok()?;
    j.insert("viewer_playlists_per_s".into(), json!(f.playlists.0));
    j.insert("nginx_playlists_per_s".into(), json!(f.playlists.1));
    j.insert("viewer_segments_per_s".into(), json!(f.segments.0));
    j.insert("nginx_segments_per_s".into(), json!(f.segments.1));
    j.insert("hls_serve_vs_nginx_playlists".into(), json!(f.playlists.0 / f.playlists.1.max(1e-9)));
    j.insert("hls_serve_vs_nginx_segments".into(), json!(f.segments.0 / f.segments.1.max(1e-9)));
    Some(f)
}

impl Serve {
    pub fn text(&self, md: bool) -> String {
        let s = format!(
            "Viewer playback served, {} keep-alive clients on the same machine, median of 2 alternating runs: viewer playlists (token checked, audience counted, segments signed) {:.0}/s against nginx's static playlist {:.0}/s = **{:.2}×** (`hls_serve_vs_nginx_playlists`); signed segments {:.0}/s against nginx {:.0}/s = **{:.2}×** (`hls_serve_vs_nginx_segments`).",
            self.clients,
            self.playlists.0,
            self.playlists.1,
            self.playlists.0 / self.playlists.1.max(1e-9),
            self.segments.0,
            self.segments.1,
            self.segments.0 / self.segments.1.max(1e-9),
        );
        super::paragraph(&s, md)
    }
}

pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(super::machine()));
    let f = measure(args, &args.dir, &mut j).ok_or_else(|| invalid("bench", "serving figures not measured"))?;
    super::run_part(args, "Viewer playback against nginx", j, |md| f.text(md))
}
