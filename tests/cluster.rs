//! Two compositor nodes on one PostgreSQL database, over real RTMP (nginx-rtmp as the anchors'
//! server), HTTP and FFmpeg: sessions created through one node spread over both, a change sent to
//! the node that does not run a session takes effect, and when a node is killed (-9) the other
//! runs its sessions within 10 s, their HLS going on after a discontinuity (on the nodes and on an
//! nginx origin they copy it to by PUT, where hls.js and ffprobe play it) and their RTMP
//! destination receiving again; the killed node, back under its name, runs nothing twice. Each
//! node's `/events` carries the other's events.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::kit::{self, Proc};
use common::*;
use costream::testsrc::Clip;
use serde_json::{json, Value};

struct Node {
    _proc: Proc,
    http: String,
    rtmp: u16,
}

/// `costream serve` as node `id` of the cluster on `db`, its files in the shared `data`.
fn node(db: &str, data: &Path, id: &str, token: &str, origin: &str) -> Node {
    let (hp, rp) = (free_port(), free_port());
    let http = format!("http://127.0.0.1:{hp}");
    let log = std::fs::File::create(data.join(format!("{id}-{hp}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["serve", "--http", &format!("127.0.0.1:{hp}"), "--rtmp", &format!("127.0.0.1:{rp}")])
        .args(["--db", db, "--data-dir"])
        .arg(data)
        .args(["--node-id", id, "--advertise", &http, "--node-capacity", "4", "--hls-origin", origin])
        .args(["--allow-private-inputs", "--allow-private-outputs"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    remember_token(&http, token);
    wait_for("the node to answer /health", 20.0, || ureq::get(&format!("{http}/health")).call().is_ok());
    Node { _proc: Proc(child), http, rtmp: rp }
}

/// The running sessions node `node` runs, as node `http` lists every node's.
fn runs(http: &str, node: &str) -> Vec<String> {
    let (st, list) = call("GET", &format!("{http}/sessions"), None);
    assert_eq!(st, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "running" && s["node"] == node)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn nodes(http: &str) -> Vec<Value> {
    let (st, n) = call("GET", &format!("{http}/nodes"), None);
    assert_eq!(st, 200, "{n}");
    n.as_array().unwrap().clone()
}

fn playlist_text(url: &str) -> String {
    authed(url).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default()
}

#[test]
fn sessions_spread_over_two_nodes_and_a_killed_nodes_sessions_go_on_on_the_other() {
    let d = workdir("cluster");
    let pg = kit::start_postgres(&d.join("pg")).unwrap();
    let db = pg.create_db("cluster").unwrap();
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let nginx = start_nginx(&d.join("nginx"));
    let clip = clip(&d, "in.flv", &Clip::new("testsrc2=size=320x180:rate=30", 2.0).args(&LIVE_GOP));
    let _anchor = publish_live(&clip, nginx.port, "in");
    let o = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["token", "create", "--role", "operator", "--db", &db])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let origin = kit::start_origin(&d.join("origin")).unwrap();
    let o = format!("http://127.0.0.1:{}", origin.port);
    let a = node(&db, &data, "a", &token, &format!("{o}/hls"));
    let mut b = Some(node(&db, &data, "b", &token, &format!("{o}/hls")));
    let (b_http, b_rtmp) = (b.as_ref().unwrap().http.clone(), b.as_ref().unwrap().rtmp);
    wait_for("both nodes live", 10.0, || nodes(&a.http).iter().filter(|n| n["live"] == true).count() == 2);

    // Four sessions through node a: two run on each node.
    let events_on_a = Events::subscribe(&a.http);
    let input = json!({"url": format!("rtmp://127.0.0.1:{}/live/in", nginx.port)});
    let out = |id: &str| format!("rtmp://127.0.0.1:{}/live/out-{id}", nginx.port);
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let body = json!({"inputs": [input], "size": "320x180", "outputs": [out(&i.to_string())]});
            let (st, s) = call("POST", &format!("{}/sessions", a.http), Some(&body.to_string()));
            assert_eq!(st, 201, "{s}");
            s["id"].as_str().unwrap().to_string()
        })
        .collect();
    let (on_a, on_b) = (runs(&a.http, "a"), runs(&a.http, "b"));
    assert_eq!((on_a.len(), on_b.len()), (2, 2), "a runs {on_a:?}, b runs {on_b:?}");
    // Either node lists every node's sessions.
    assert_eq!(runs(&b_http, "b"), on_b);
    assert_eq!(runs(&b_http, "a"), on_a);
    let counts: Vec<u64> = nodes(&a.http).iter().map(|n| n["sessions"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![2, 2]);
    // Node a's /events carries what happens on b too.
    for id in &on_b {
        events_on_a.wait("b's session starting, on a's /events", 10.0, |e| {
            e["type"] == "session_started" && e["session_id"] == id.as_str()
        });
    }
    // Every session answers through node a, its HLS too; and its HLS is on the origin.
    for id in &ids {
        wait_segments(&format!("{}/sessions/{id}/hls/index.m3u8", a.http));
        wait_segments(&format!("{o}/hls/{id}/index.m3u8"));
    }
    let (st, room) = call("POST", &format!("{b_http}/rooms"), Some(r#"{"name":"后台"}"#));
    assert_eq!(st, 201, "{room}");
    room_on_b(&pg, &a.http, &clip, b_rtmp);

    // A change sent to node a for a session node b runs takes effect there.
    let theirs = &on_b[0];
    let (st, v) = call("POST", &format!("{}/sessions/{theirs}/inputs/0/pause", a.http), Some("{}"));
    assert_eq!(st, 200, "{v}");
    let (_, seen_on_b) = call("GET", &format!("{b_http}/sessions/{theirs}"), None);
    assert_eq!(seen_on_b["paused_inputs"].as_array().map(Vec::len), Some(1), "{seen_on_b}");
    let poll = poll_through_a(&a.http, theirs);

    // Node b dies without a word: within 10 s node a runs its sessions, after a discontinuity.
    let before: Vec<String> =
        on_b.iter().map(|id| playlist_text(&format!("{}/sessions/{id}/hls/index.m3u8", a.http))).collect();
    let before_origin: Vec<String> = on_b.iter().map(|id| playlist_text(&format!("{o}/hls/{id}/index.m3u8"))).collect();
    let killed = Instant::now();
    drop(b.take());
    wait_for("node a to run all four sessions", 15.0, || runs(&a.http, "a").len() == 4);
    let took = killed.elapsed();
    eprintln!("failover: {took:?}");
    assert!(took < Duration::from_secs(10), "failover took {took:?}");
    // On the nodes and on the origin, each moved session's playlist goes on after a discontinuity.
    let node_hls = |id: &String| format!("{}/sessions/{id}/hls/index.m3u8", a.http);
    let origin_hls = |id: &String| format!("{o}/hls/{id}/index.m3u8");
    let mut playlists: Vec<(String, String)> =
        on_b.iter().zip(&before).map(|(id, before)| (node_hls(id), before.clone())).collect();
    playlists.extend(on_b.iter().zip(&before_origin).map(|(id, before)| (origin_hls(id), before.clone())));
    wait_gone_on(&playlists);
    for (url, _) in &playlists {
        assert!(has_video(url), "{url} plays after the failover");
    }
    let (_, moved) = call("GET", &format!("{}/sessions/{theirs}", a.http), None);
    assert_eq!(moved["paused_inputs"].as_array().map(Vec::len), Some(1), "its input's pause moved with it: {moved}");
    let (st, kept) = call("GET", &format!("{}/rooms/{}", a.http, room["id"].as_str().unwrap()), None);
    assert_eq!((st, &kept["name"]), (200, &room["name"]), "the room made through b: {kept}");
    assert_eq!(kept["key"]["key"], room["key"]["key"], "and its key");
    let (_, p) = call("GET", &format!("{}/polls/{poll}", a.http), None);
    assert_eq!((p["voters"].as_u64(), p["counts"].clone()), (Some(3), json!([2, 1])), "the votes stay: {p}");
    let (_, v) = call("GET", &format!("{}/channels/fans/viewers/fan0", a.http), None);
    assert_eq!(v["level"], 1, "and a viewer's level: {v}");
    plays_in_hls_js_from_the_origin(&d, &origin, &on_b[0]);
    // Each moved session's RTMP destination receives again (from node a: b's connection died).
    for (i, id) in ids.iter().enumerate().filter(|(_, id)| on_b.contains(id)) {
        let url = out(&i.to_string());
        wait_for("the destination to receive again", 20.0, || has_video(&url));
        assert!(runs(&a.http, "a").contains(id));
    }

    // Node b comes back under its name: the sessions are a's now, b runs none of them.
    let b = node(&db, &data, "b", &token, &format!("{o}/hls"));
    wait_for("b live again", 10.0, || nodes(&a.http).iter().any(|n| n["id"] == "b" && n["live"] == true));
    let renewed = |n: &[Value]| n.iter().find(|n| n["id"] == "b").and_then(|n| n["lease_until_ms"].as_i64());
    let first = renewed(&nodes(&a.http));
    wait_for("three more heartbeats of b", 10.0, || {
        assert!(runs(&b.http, "b").is_empty(), "b runs a session a runs");
        renewed(&nodes(&a.http)).zip(first).is_some_and(|(now, then)| now >= then + 2500)
    });
    assert_eq!(runs(&b.http, "a").len(), 4);

    // Node a drains: its sessions go on on b.
    let (st, _) = call("POST", &format!("{}/nodes/a/drain", b.http), None);
    assert_eq!(st, 202);
    wait_for("b to run the four sessions", 20.0, || runs(&b.http, "b").len() == 4 && runs(&b.http, "a").is_empty());
    for id in &ids {
        let url = format!("{}/sessions/{id}/hls/index.m3u8", a.http);
        wait_for("the moved session to play on b, asked through a", 20.0, || has_video(&url));
    }
}

/// The number of a segment line (`index_00042.ts` → 42).
fn segment_no(line: &str) -> Option<u64> {
    line.strip_suffix(".ts")?.rsplit('_').next()?.parse().ok()
}

/// Waits until each playlist (URL, its text before) has gone on after a discontinuity: it lists
/// the discontinuity and two segments numbered after the last it listed before. (Each is looked at
/// until it has, while the others are: a 6-segment window moves on.)
fn wait_gone_on(playlists: &[(String, String)]) {
    let mut done = vec![false; playlists.len()];
    let gone_on = kit::wait_until(Duration::from_secs(25), || {
        for ((url, before), done) in playlists.iter().zip(done.iter_mut()) {
            let last = before.lines().filter_map(segment_no).max().expect("segments before the kill");
            let now = playlist_text(url);
            *done |= now.contains("#EXT-X-DISCONTINUITY")
                && now.lines().filter_map(segment_no).filter(|n| *n > last).count() >= 2;
        }
        done.iter().all(|d| *d)
    });
    let late: Vec<String> = playlists
        .iter()
        .zip(&done)
        .filter(|(_, d)| !**d)
        .map(|((url, before), _)| format!("{url}\nbefore:\n{before}\nnow:\n{}", playlist_text(url)))
        .collect();
    assert!(gone_on, "playlists that did not go on after a discontinuity:\n{}", late.join("\n"));
}

/// A moved session plays in hls.js from the origin, on a page the origin serves.
fn plays_in_hls_js_from_the_origin(d: &Path, origin: &kit::Origin, id: &str) {
    let o = format!("http://127.0.0.1:{}", origin.port);
    let hls_js = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor/hls.light.min.js");
    std::fs::copy(hls_js, origin.root.join("hls.js")).unwrap();
    let page = format!(
        r#"<!doctype html><video id="v" muted autoplay></video><script src="/hls.js"></script><script>
const v = document.getElementById("v"); window.fatal = []; window.frags = 0;
const h = new Hls({{ enableWorker: false }}); h.loadSource("/hls/{id}/index.m3u8"); h.attachMedia(v);
h.on(Hls.Events.FRAG_LOADED, () => window.frags++);
h.on(Hls.Events.ERROR, (_, e) => {{ if (e.fatal) window.fatal.push(e.details); }});
</script>"#
    );
    std::fs::write(origin.root.join("play.html"), page).unwrap();
    let mut b = common::browser::Browser::start(&d.join("chromium"));
    b.navigate(&format!("{o}/play.html"));
    b.wait_true(
        "hls.js playing the origin's stream",
        30.0,
        "window.frags >= 2 && document.getElementById('v').currentTime > 1",
    );
    assert_eq!(b.eval("window.fatal"), json!([]), "no fatal player error");
}

/// A room published on node b: its new session, asked of node a, runs on b, where the room's
/// feed is decoded, and shows the anchor. (Stopped again: the nodes' capacity is counted above.)
fn room_on_b(pg: &kit::Postgres, a: &str, clip: &Path, b_rtmp: u16) {
    let (st, room) = call("POST", &format!("{a}/rooms"), Some(r#"{"name":"主播"}"#));
    assert_eq!(st, 201, "{room}");
    let (rid, key) = (room["id"].as_str().unwrap(), room["key"]["key"].as_str().unwrap());
    let _anchor = publish_live(clip, b_rtmp, key);
    let published_on = || pg.psql("cluster", &format!("SELECT node FROM room_nodes WHERE room_id = '{rid}'")).unwrap();
    wait_for("the room written down as published on b", 15.0, || published_on().trim() == "b");
    let body = json!({"inputs": [{"room": rid}], "size": "320x180"});
    let (st, s) = call("POST", &format!("{a}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    assert_eq!(s["node"], "b", "placed where its room is published: {s}");
    let id = s["id"].as_str().unwrap();
    let hls = format!("{a}/sessions/{id}/hls/index.m3u8");
    wait_segments(&hls);
    // testsrc2's colour bars, not a waiting tile.
    let f = frame_rgb_url(&hls, 320, 180);
    let vivid = f.data.chunks(3).filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 100).count();
    assert!(vivid > 320 * 180 / 10, "the anchor's picture is composed ({vivid} vivid pixels)");
    assert_eq!(call("DELETE", &format!("{a}/sessions/{id}"), None).0, 204);
    wait_for("the room's session to stop", 10.0, || {
        call("GET", &format!("{a}/sessions"), None)
            .1
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != id || s["state"] != "running")
    });
}

/// A poll on `session` (which node b runs) opened and voted on through node a (three viewers of a
/// channel, one of whom also likes twice, reaching level 1); the poll's id.
fn poll_through_a(a: &str, session: &str) -> String {
    let rules = json!({"levels": [2], "locked": ["eyes"], "unlock_order": ["eyes"]});
    assert_eq!(call("PUT", &format!("{a}/channels/fans"), Some(&rules.to_string())).0, 200);
    let poll = json!({"question": "下一首?", "options": ["A", "B"], "duration_s": 600, "channel": "fans"});
    let (st, p) = call("POST", &format!("{a}/sessions/{session}/polls"), Some(&poll.to_string()));
    assert_eq!(st, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        let (st, v) = call("POST", &format!("{a}/channels/fans/viewers"), None);
        assert_eq!(st, 201, "{v}");
        let token = v["token"].as_str().unwrap();
        let body = json!({ "option": usize::from(i == 2) }).to_string();
        let (st, r) = call_as(Some(token), "POST", &format!("{a}/polls/{id}/votes"), Some(&body));
        assert_eq!(st, 200, "{r}");
    }
    for _ in 0..2 {
        let like = call("POST", &format!("{a}/channels/fans/viewers/fan0/events"), Some(r#"{"kind":"like"}"#));
        assert_eq!(like.0, 200, "{}", like.1);
    }
    id
}
