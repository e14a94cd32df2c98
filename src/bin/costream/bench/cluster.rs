//! Several nodes: the API's latency on SQLite and on PostgreSQL (the same requests, in turn, on
//! one machine), and how long a killed node's session is off the air until another node runs it
//! (`failover_s`: the last segment written before the kill to the first after, in the shared
//! data directory).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::service::{Api, Service};
use super::{progress, BenchArgs};
use crate::kit::{start_nginx, start_postgres, wait_until};
use costream::error::{invalid, Result};

pub struct Cluster {
    /// (p50, p99) in milliseconds.
    pub sqlite_ms: (f64, f64),
    pub postgres_ms: (f64, f64),
    pub failover_s: Option<f64>,
    pub requests: usize,
}

/// What a console sends: a room, the rooms, the sessions, and a key regenerated (a transaction).
fn latencies(api: &Api, n: usize) -> Result<(f64, f64)> {
    let (st, room) = api.call("POST", "/rooms", Some(r#"{"name":"bench"}"#));
    let room = room["id"].as_str().filter(|_| st == 201).ok_or_else(|| invalid("bench", "no room"))?.to_string();
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let st = match i % 4 {
            0 => api.get(&format!("/rooms/{room}")).0,
            1 => api.get("/rooms").0,
            2 => api.get("/sessions").0,
            _ => api.call("POST", &format!("/rooms/{room}/key"), None).0,
        };
        if !(200..300).contains(&st) {
            return Err(invalid("bench", format!("API answered {st}")));
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[n / 2], ms[(n * 99 / 100).min(n - 1)]))
}

fn newest_segment(dir: &Path) -> Option<(PathBuf, SystemTime)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .max_by_key(|(_, t)| *t)
}

/// Two nodes on `db`, one session on the first, the first killed: seconds without a new segment.
fn failover(dir: &Path, db: &str) -> Result<f64> {
    let data = dir.join("data");
    let nginx = start_nginx(&dir.join("nginx"), false)?;
    let clip = dir.join("in.flv");
    let gop = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"];
    costream::testsrc::generate(&clip, &costream::testsrc::Clip::new("testsrc2=size=320x180:rate=30", 2.0).args(&gop))?;
    let _anchor = super::service::publish_loop(&clip, nginx.port, "in")?;
    let node = |id: &str| {
        let extra = ["--node-id", id, "--advertise", "{http}", "--allow-private-inputs", "--node-capacity", "4"];
        Service::start_db(db, &data, &extra, None)
    };
    let a = node("a")?;
    let b = node("b")?;
    let body = json!({"inputs": [{"url": format!("rtmp://127.0.0.1:{}/live/in", nginx.port)}], "size": "320x180"});
    let (st, s) = a.api.call("POST", "/sessions", Some(&body.to_string()));
    let id = s["id"].as_str().filter(|_| st == 201).ok_or_else(|| invalid("bench", format!("no session: {s}")))?;
    let hls = data.join("hls").join(id);
    if !wait_until(Duration::from_secs(20), || std::fs::read_dir(&hls).map(|d| d.count() >= 3).unwrap_or(false)) {
        return Err(invalid("bench", "the session wrote no segments"));
    }
    // Killed on whichever node runs it (a: both are empty, ties go to the node asked).
    let runs_on_a = a.api.get("/sessions").1.as_array().is_some_and(|l| l.iter().any(|s| s["node"] == "a"));
    let (victim, _survivor) = if runs_on_a { (a, b) } else { (b, a) };
    let (_, last) = newest_segment(&hls).ok_or_else(|| invalid("bench", "no segment"))?;
    drop(victim);
    let killed = SystemTime::now();
    let mut first = None;
    wait_until(Duration::from_secs(30), || {
        first = newest_segment(&hls).filter(|(_, t)| *t > killed).map(|(_, t)| t);
        first.is_some()
    });
    let first = first.ok_or_else(|| invalid("bench", "no segment after the failover"))?;
    Ok(first.duration_since(last).map(|d| d.as_secs_f64()).unwrap_or(0.0))
}

fn run(dir: &Path, n: usize) -> Result<Cluster> {
    std::fs::create_dir_all(dir)?;
    let lite = Service::start(&dir.join("db.sqlite"), &[], None)?;
    let sqlite_ms = latencies(&lite.api, n)?;
    drop(lite);
    let pg = start_postgres(&dir.join("pg"))?;
    let on_pg = Service::start_db(&pg.create_db("bench_api")?, &dir.join("pgdata"), &[], None)?;
    let postgres_ms = latencies(&on_pg.api, n)?;
    drop(on_pg);
    let failover_s = failover(&dir.join("failover"), &pg.create_db("bench_failover")?)
        .map_err(|e| tracing::warn!(error = %e, "failover not measured"))
        .ok();
    Ok(Cluster { sqlite_ms, postgres_ms, failover_s, requests: n })
}

pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> Option<Cluster> {
    progress("measuring the API's latency on SQLite and PostgreSQL, and a node's failover");
    let c = run(&dir.join("cluster"), if args.quick { 200 } else { 2000 })
        .map_err(|e| tracing::warn!(error = %e, "cluster figures not measured"))
        .ok()?;
    j.insert("api_p50_ms_sqlite".into(), json!(c.sqlite_ms.0));
    j.insert("api_p99_ms_sqlite".into(), json!(c.sqlite_ms.1));
    j.insert("api_p50_ms_postgres".into(), json!(c.postgres_ms.0));
    j.insert("api_p99_ms_postgres".into(), json!(c.postgres_ms.1));
    j.insert("failover_s".into(), json!(c.failover_s));
    Some(c)
}

impl Cluster {
    pub fn text(&self, md: bool) -> String {
        let failover = self.failover_s.map_or("not measured".to_string(), |s| format!("**{s:.1} s**"));
        let s = format!(
            "API latency, {} requests in turn (a room, the rooms, the sessions, a key regenerated): SQLite p50 {:.2} ms, p99 {:.2} ms; PostgreSQL on the same machine p50 {:.2} ms, p99 {:.2} ms. A node killed (-9) with a session: the last segment before to the first after on the other node, {failover} (`failover_s`).",
            self.requests, self.sqlite_ms.0, self.sqlite_ms.1, self.postgres_ms.0, self.postgres_ms.1
        );
        super::paragraph(&s, md)
    }
}

pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(super::machine()));
    let c = measure(args, &args.dir, &mut j).ok_or_else(|| invalid("bench", "cluster figures not measured"))?;
    super::run_part(args, "Several nodes: API latency and failover", j, |md| c.text(md))
}
