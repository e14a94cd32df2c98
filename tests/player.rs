//! The demo as a viewer sees it: its watch page (`/watch/{session}`, served by the service, hls.js
//! embedded in the binary) in headless Chromium, with no header and no link: the demo's show is
//! public.

mod common;

use std::time::Instant;

use common::browser::Browser;
use common::*;

/// Counts the page player's stalls (hls.js's `bufferStalledError`, the element's `waiting` once
/// playing) and errors, apart from the skip to where the first segment's pictures begin before
/// playback starts (`bufferSeekOverHole`, a fraction of a frame interval).
const STATS: &str = r#"(() => {
const stats = { started: null, stalls: 0, waiting: 0, errors: [] };
window.stats = stats;
const v = document.getElementById("video");
if (!v.paused && v.readyState > 2) stats.started = v.currentTime;
v.hls.on(Hls.Events.ERROR, (_, d) => {
  if (d.details === "bufferStalledError") stats.stalls++;
  else if (!(d.details === "bufferSeekOverHole" && stats.started === null)) stats.errors.push(d.details + (d.fatal ? " (fatal)" : "") + " at " + v.currentTime);
});
v.addEventListener("playing", () => { if (stats.started === null) stats.started = v.currentTime; });
v.addEventListener("waiting", () => { if (stats.started !== null) stats.waiting++; });
return true;
})()"#;

#[test]
fn the_demo_watch_page_plays_60_seconds_in_chromium_without_a_stall_or_a_header() {
    let d = workdir("player");
    let demo = start_demo(&d.join("demo"));
    wait_for("the demo's first segments", 30.0, || {
        authed(&demo.hls).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
    let mut b = Browser::start(&d.join("chromium"));
    // The console link opens signed in (the token in the fragment, never sent), on the rooms.
    b.navigate(&demo.console);
    b.wait_true("the demo's console, signed in", 30.0, "document.querySelectorAll('.room').length === 2");
    assert_eq!(b.eval("location.hash"), "#rooms", "the token leaves the address bar");
    b.navigate(&demo.watch);
    b.wait_true("the watch page's player", 30.0, "document.getElementById('video').hls");
    b.eval(STATS);
    wait_for("playback to start", 40.0, || b.eval("window.stats ? window.stats.started !== null : false") == true);
    let (wall0, media0) = (Instant::now(), b.eval("document.getElementById('video').currentTime").as_f64().unwrap());
    let mut now = media0;
    let played = kit::wait_until(std::time::Duration::from_secs(90), || {
        now = b.eval("document.getElementById('video').currentTime").as_f64().unwrap_or(now);
        now - media0 >= 60.0
    });
    let wall = wall0.elapsed().as_secs_f64();
    let stats = b.eval("JSON.stringify(Object.assign({}, window.stats, { quality: document.getElementById('video').getVideoPlaybackQuality() }))");
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
