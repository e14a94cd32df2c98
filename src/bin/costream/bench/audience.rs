//! What counting our own audience costs: the service's CPU with 1 000 viewers fetching their
//! viewer playlists (one fetch per segment duration each), with statistics on and off
//! (`--no-audience-stats`), each with the same live room and session, alternating.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::service::Service;
use super::viewers::{cpu_per_s, Fetchers};
use super::{progress, BenchArgs};
use crate::kit::wait_until;
use costream::error::{invalid, Result};

/// The service's CPU-seconds per second, statistics on and off: with no viewer and with `viewers`.
pub struct AudienceCost {
    pub viewers: usize,
    pub idle: (f64, f64),
    pub busy: (f64, f64),
    pub failed: u64,
}

impl AudienceCost {
    /// How much more CPU the whole service used with statistics on (`audience_cpu_overhead`).
    pub fn overhead(&self) -> f64 {
        self.busy.0 / self.busy.1.max(1e-9) - 1.0
    }

    /// CPU-seconds per second the viewers themselves cost, per 1 000 viewers: (on, off).
    pub fn per_thousand(&self) -> (f64, f64) {
        let k = 1000.0 / self.viewers.max(1) as f64;
        ((self.busy.0 - self.idle.0).max(0.0) * k, (self.busy.1 - self.idle.1).max(0.0) * k)
    }
}

/// One service, statistics `on` or off: (idle, with the viewers, failed fetches).
fn one(dir: &Path, on: bool, viewers: usize, window_s: f64) -> Result<(f64, f64, u64)> {
    let extra: &[&str] = if on { &[] } else { &["--no-audience-stats"] };
    let svc = Service::start(&dir.join("audience.sqlite"), extra, None)?;
    let live = super::serve::live_room(dir, &svc)?;
    let mut urls = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        let (st, v) = svc.api.call("POST", &format!("/rooms/{}/viewers", live.room), None);
        let url = v["url"].as_str().ok_or_else(|| invalid("bench audience", format!("viewer: {st} {v}")))?;
        urls.push(format!("{}{url}", svc.api.base));
    }
    if !wait_until(Duration::from_secs(30), || svc.api.fetch_public(&urls[0][svc.api.base.len()..]).0 == 200) {
        return Err(invalid("bench audience", "no viewer playlist"));
    }
    // Past the start-up (encoders, the first segments) before anything is measured.
    std::thread::sleep(Duration::from_secs_f64(window_s / 2.0));
    let idle = cpu_per_s(svc.pid(), window_s)?;
    let fetchers = Fetchers::start(Arc::new(urls), Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(2));
    let busy = cpu_per_s(svc.pid(), window_s)?;
    let (ok, failed) = fetchers.stop();
    let (_, a) = svc.api.call("GET", &format!("/rooms/{}/audience", live.room), None);
    progress(&format!(
        "statistics {}: {idle:.2} CPU-s/s idle, {busy:.2} with {viewers} viewers ({ok} fetches, {failed} failed; {} counted online)",
        if on { "on" } else { "off" },
        a["online"]
    ));
    Ok((idle, busy, failed))
}

pub fn run(dir: &Path, viewers: usize, window_s: f64, rounds: usize) -> Result<AudienceCost> {
    std::fs::create_dir_all(dir)?;
    let mut on = Vec::new();
    let mut off = Vec::new();
    // On and off alternating, so a drift of the machine cannot pass for a cost of the counting.
    for round in 0..2 * rounds {
        let counting = round % 2 == 0;
        let r = one(dir, counting, viewers, window_s)?;
        if counting {
            on.push(r);
        } else {
            off.push(r);
        }
    }
    let mean =
        |v: &[(f64, f64, u64)], f: fn(&(f64, f64, u64)) -> f64| v.iter().map(f).sum::<f64>() / v.len().max(1) as f64;
    Ok(AudienceCost {
        viewers,
        idle: (mean(&on, |r| r.0), mean(&off, |r| r.0)),
        busy: (mean(&on, |r| r.1), mean(&off, |r| r.1)),
        failed: on.iter().chain(&off).map(|r| r.2).sum(),
    })
}

pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> Option<AudienceCost> {
    progress("measuring the service's CPU with 1 000 viewers, audience statistics on and off");
    let (viewers, window_s, rounds) = if args.quick { (200, 2.0, 1) } else { (1000, 10.0, 2) };
    let c = run(&dir.join("audience"), viewers, window_s, rounds)
        .map_err(|e| tracing::warn!(error = %e, "audience cost not measured"))
        .ok()?;
    let (on_k, off_k) = c.per_thousand();
    j.insert("audience_cpu_on".into(), json!(c.busy.0));
    j.insert("audience_cpu_off".into(), json!(c.busy.1));
    j.insert("audience_viewers_cpu_per_1000_on".into(), json!(on_k));
    j.insert("audience_viewers_cpu_per_1000_off".into(), json!(off_k));
    j.insert("audience_cpu_overhead".into(), json!(c.overhead()));
    Some(c)
}

impl AudienceCost {
    pub fn text(&self, md: bool) -> String {
        let (on_k, off_k) = self.per_thousand();
        let s = format!(
            "Audience statistics with {} viewers fetching their viewer playlists every 2 s (a live 640×360 room and its session; mean of alternating runs): the service used {:.2} CPU-s/s with statistics on and {:.2} off = **{:+.1} %** (`audience_cpu_overhead`); the viewers themselves cost {:.3} CPU-s/s per 1 000 on and {:.3} off ({} fetches failed).",
            self.viewers,
            self.busy.0,
            self.busy.1,
            self.overhead() * 100.0,
            on_k,
            off_k,
            self.failed
        );
        super::paragraph(&s, md)
    }
}

pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(super::machine()));
    let c = measure(args, &args.dir, &mut j).ok_or_else(|| invalid("bench", "audience cost not measured"))?;
    super::run_part(args, "Audience statistics cost", j, |md| c.text(md))
}
