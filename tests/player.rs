//! The demo as a viewer sees it: its HLS played by hls.js in headless Chromium, on a page of
//! another origin (as a platform's player page is), with the operator token the demo prints.

mod common;

use std::time::Instant;

use common::browser::{serve_pages, Browser};
use common::*;

/// The player page: hls.js on a <video>, counting stalls (hls.js's `bufferStalledError`, the
/// element's `waiting` once playing) and errors, apart from the skip to where the first segment's
/// pictures begin before playback starts (`bufferSeekOverHole`, a fraction of a frame interval).
fn page(hls: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>player</title>
<video id="v" muted autoplay playsinline></video>
<script src="/hls.js"></script>
<script>
const stats = {{ started: null, stalls: 0, waiting: 0, errors: [] }};
window.stats = stats;
const v = document.getElementById("v");
const hls = new Hls({{ xhrSetup: (xhr) => xhr.setRequestHeader("Authorization", "Bearer {token}") }});
hls.on(Hls.Events.ERROR, (_, d) => {{
  if (d.details === "bufferStalledError") stats.stalls++;
  else if (!(d.details === "bufferSeekOverHole" && stats.started === null)) stats.errors.push(d.details + (d.fatal ? " (fatal)" : "") + " at " + v.currentTime);
}});
v.addEventListener("playing", () => {{ if (stats.started === null) stats.started = v.currentTime; }});
v.addEventListener("waiting", () => {{ if (stats.started !== null) stats.waiting++; }});
hls.loadSource("{hls}");
hls.attachMedia(v);
v.play().catch((e) => stats.errors.push("play: " + e));
</script>"#
    )
}

#[test]
fn chromium_plays_the_demo_for_60_seconds_with_hls_js_without_a_stall() {
    let d = workdir("player");
    let demo = start_demo(&d.join("demo"));
    wait_for("the demo's first segments", 30.0, || {
        authed(&demo.hls).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
    let hls_js = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/assets/hls.js/hls.light.min.js")).unwrap();
    let base = serve_pages(vec![
        ("/", "text/html; charset=utf-8", page(&demo.hls, &demo.token).into_bytes()),
        ("/hls.js", "text/javascript", hls_js),
    ]);
    let mut b = Browser::start(&d.join("chromium"));
    b.navigate(&format!("{base}/"));
    wait_for("playback to start", 40.0, || b.eval("window.stats ? window.stats.started !== null : false") == true);
    let (wall0, media0) = (Instant::now(), b.eval("document.getElementById('v').currentTime").as_f64().unwrap());
    let mut now = media0;
    let played = kit::wait_until(std::time::Duration::from_secs(90), || {
        now = b.eval("document.getElementById('v').currentTime").as_f64().unwrap_or(now);
        now - media0 >= 60.0
    });
    let wall = wall0.elapsed().as_secs_f64();
    let stats = b.eval("JSON.stringify(Object.assign({}, window.stats, { quality: document.getElementById('v').getVideoPlaybackQuality() }))");
    eprintln!("played {:.1} s of media in {wall:.1} s: {stats}", now - media0);
    let stats: serde_json::Value = serde_json::from_str(stats.as_str().unwrap()).unwrap();
    assert!(played, "only {:.1} s of media played in {wall:.1} s: {stats}", now - media0);
    assert_eq!(
        (stats["stalls"].as_u64(), stats["waiting"].as_u64()),
        (Some(0), Some(0)),
        "stalls while playing: {stats}"
    );
    assert_eq!(stats["errors"], serde_json::json!([]), "player errors: {stats}");
    // Real time: 60 s of media took about 60 s of wall time (a player that waits takes longer).
    assert!(wall < 60.0 * 1.05, "60 s of media took {wall:.1} s to play");
}
