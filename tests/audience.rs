//! Our own audience, counted over real HTTP: 2 000 simulated viewers fetch their own playlists in
//! two staggered waves (some rejoin in the second), and the room's online, total and peak, and
//! each viewer's first join, last leave, leaves and watch time come out exact to within one
//! segment duration; forged viewer tokens are refused and not counted.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// One HLS segment (the tolerance of every time below), in milliseconds.
const SEGMENT_MS: i64 = 2_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A viewer's plan: stretches of watching, each (start, end) in ms after the test's start.
struct Viewer {
    url: String,
    stretches: Vec<(u64, u64)>,
    /// Per stretch, the wall times (Unix ms) of the first and last fetch answered 200.
    fetched: Vec<(i64, i64)>,
}

/// Plays every viewer's plan from a few threads: a fetch every 2 s during each stretch.
fn play(viewers: &mut [Viewer], t0: Instant) {
    std::thread::scope(|s| {
        for part in viewers.chunks_mut(50) {
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
                let mut next: Vec<(usize, u64)> = part.iter().map(|v| (0, v.stretches[0].0)).collect();
                loop {
                    let t = t0.elapsed().as_millis() as u64;
                    let mut busy = false;
                    for (v, (k, at)) in part.iter_mut().zip(next.iter_mut()) {
                        let Some(&(start, end)) = v.stretches.get(*k) else { continue };
                        busy = true;
                        if t < *at {
                            continue;
                        }
                        if t > end {
                            *k += 1;
                            *at = v.stretches.get(*k).map_or(u64::MAX, |s| s.0);
                            continue;
                        }
                        let st = agent.get(&v.url).call().map(|r| r.status()).unwrap_or(0);
                        assert_eq!(st, 200, "a viewer's playlist");
                        let when = now_ms();
                        match v.fetched.get_mut(*k) {
                            Some(f) => f.1 = when,
                            None => v.fetched.push((when, when)),
                        }
                        *at = (t.max(start) + 2_000).min(end.max(t + 1));
                    }
                    if !busy {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
    });
}

#[test]
fn two_thousand_viewers_are_counted_exactly_from_their_own_fetches() {
    let d = workdir("audience");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let a = room["id"].as_str().unwrap().to_string();
    let _anchor = publish_live(&red_anchor_with_tone(&d), svc.rtmp_port, room["key"]["key"].as_str().unwrap());
    let req = json!({"inputs": [{"room": a}], "size": "320x180", "fps": 10});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{s}");
    wait_segments(&format!("{h}/sessions/{}/hls/index.m3u8", s["id"].as_str().unwrap()));

    // Wave one: viewers 0..1200 from 0 s to about 10 s; wave two: 800..2000 from 18 s to about
    // 28 s (800..1200 come back). Joins and leaves are staggered over 3 s and 2 s.
    let mut viewers: Vec<Viewer> = (0..2000)
        .map(|i| {
            let body = if i % 100 == 0 { json!({"name": format!("观众{i}")}).to_string() } else { String::new() };
            let (st, v) = call("POST", &format!("{h}/rooms/{a}/viewers"), Some(&body));
            assert_eq!(st, 201, "{v}");
            let url = format!("{h}{}", v["url"].as_str().unwrap());
            let (j, l) = ((i % 100) as u64 * 30, (i % 100) as u64 * 20);
            let mut stretches = Vec::new();
            if i < 1200 {
                stretches.push((j, 8_000 + l));
            }
            if i >= 800 {
                stretches.push((18_000 + j, 26_000 + l));
            }
            Viewer { url, stretches, fetched: Vec::new() }
        })
        .collect();
    let audience = || call("GET", &format!("{h}/rooms/{a}/audience"), None).1;
    // Forged tokens: refused, never counted.
    for n in 0..50 {
        let forged = format!("{h}/rooms/{a}/viewers/v1.{}.{n:016x}.{:032x}/index.m3u8", 1_700_000_000 + n, n);
        assert_eq!(ureq::get(&forged).call().err().and_then(|e| e.into_response()).map(|r| r.status()), Some(403));
    }
    let t0 = Instant::now();
    let watcher = std::thread::spawn({
        let audience_url = format!("{h}/rooms/{a}/audience");
        let token = token_for(&h).unwrap();
        move || {
            // Online counts seen while the waves run (each wave has 1 200 viewers at its height).
            let mut seen = Vec::new();
            while t0.elapsed() < Duration::from_secs(31) {
                let (_, v) = call_as(Some(&token), "GET", &audience_url, None);
                seen.push((t0.elapsed().as_millis() as u64, v["online"].as_u64().unwrap_or(0)));
                std::thread::sleep(Duration::from_millis(500));
            }
            seen
        }
    });
    play(&mut viewers, t0);
    let seen = watcher.join().unwrap();
    let at = |from: u64, to: u64| seen.iter().filter(|(t, _)| (from..to).contains(t)).map(|s| s.1).collect::<Vec<_>>();
    assert!(at(4_000, 7_500).contains(&1200), "wave one at its height: {seen:?}");
    assert!(at(13_500, 17_500).contains(&0), "between the waves, nobody: {seen:?}");
    assert!(at(22_000, 25_500).contains(&1200), "wave two at its height: {seen:?}");
    wait_for("everyone to have left", 15.0, || audience()["online"] == 0);

    let sum = audience();
    assert_eq!((sum["total"].as_u64(), sum["peak"].as_u64()), (Some(2000), Some(1200)), "{sum}");
    let minutes = sum["timeline"].as_array().unwrap();
    let joins: u64 = minutes.iter().map(|m| m["joins"].as_u64().unwrap()).sum();
    let leaves: u64 = minutes.iter().map(|m| m["leaves"].as_u64().unwrap()).sum();
    assert_eq!((joins, leaves), (2400, 2400), "one join and one leave per stretch: {sum}");

    // Every viewer, page by page, against what they did.
    let mut listed: HashMap<String, Value> = HashMap::new();
    for page in 0..4 {
        let url = format!("{h}/rooms/{a}/audience/viewers?sort=watch_time&order=desc&per_page=500&page={page}");
        let (st, p) = call("GET", &url, None);
        assert_eq!((st, p["total"].as_u64()), (200, Some(2000)), "{p}");
        for v in p["viewers"].as_array().unwrap() {
            listed.insert(v["viewer"].as_str().unwrap().to_string(), v.clone());
        }
    }
    assert_eq!(listed.len(), 2000);
    for (i, v) in viewers.iter().enumerate() {
        let token = v.url.split("/viewers/").nth(1).unwrap().trim_end_matches("/index.m3u8");
        let got = &listed[&costream::store::token_hash(token)[..32]];
        assert_eq!(v.fetched.len(), v.stretches.len(), "viewer {i} fetched in each stretch");
        let (first, last) = (v.fetched[0].0, v.fetched.last().unwrap().1);
        let watch: i64 = v.fetched.iter().map(|(a, b)| b - a).sum();
        let near = |x: Option<i64>, want: i64| x.is_some_and(|x| (x - want).abs() <= SEGMENT_MS);
        assert!(near(got["first_join_ms"].as_i64(), first), "viewer {i}'s first join: {got}");
        assert!(near(got["last_leave_ms"].as_i64(), last), "viewer {i}'s last leave: {got}");
        assert_eq!(got["leaves"].as_u64(), Some(v.stretches.len() as u64), "viewer {i}: {got}");
        let w = (got["watch_s"].as_f64().unwrap() * 1000.0) as i64;
        assert!((w - watch).abs() <= SEGMENT_MS, "viewer {i} watched {watch} ms: {got}");
        if i % 100 == 0 {
            assert_eq!(got["name"].as_str(), Some(format!("观众{i}").as_str()));
        }
    }
    let (st, _) = call("GET", &format!("{h}/rooms/{a}/audience/viewers?sort=loudest"), None);
    assert_eq!(st, 400);
}
