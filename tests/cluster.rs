//! Two compositor nodes on one PostgreSQL database, over real RTMP (nginx-rtmp as the anchors'
//! server), HTTP and FFmpeg: sessions created through one node spread over both, a change sent to
//! the node that does not run a session takes effect, and when a node is killed (-9) the other
//! runs its sessions within 10 s, their HLS going on after a discontinuity; the killed node, back
//! under its name, runs nothing twice.

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
}

/// `costream serve` as node `id` of the cluster on `db`, its files in the shared `data`.
fn node(db: &str, data: &Path, id: &str, token: &str) -> Node {
    let (hp, rp) = (free_port(), free_port());
    let http = format!("http://127.0.0.1:{hp}");
    let log = std::fs::File::create(data.join(format!("{id}-{hp}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["serve", "--http", &format!("127.0.0.1:{hp}"), "--rtmp", &format!("127.0.0.1:{rp}")])
        .args(["--db", db, "--data-dir"])
        .arg(data)
        .args(["--node-id", id, "--advertise", &http, "--node-capacity", "4"])
        .args(["--allow-private-inputs", "--allow-private-outputs"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    remember_token(&http, token);
    wait_for("the node to answer /health", 20.0, || ureq::get(&format!("{http}/health")).call().is_ok());
    Node { _proc: Proc(child), http }
}

fn local_sessions(http: &str) -> Vec<String> {
    let (st, list) = call("GET", &format!("{http}/sessions"), None);
    assert_eq!(st, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "running")
        .map(|s| s["id"].as_str().unwrap().into())
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
    let a = node(&db, &data, "a", &token);
    let mut b = Some(node(&db, &data, "b", &token));
    let b_http = b.as_ref().unwrap().http.clone();
    wait_for("both nodes live", 10.0, || nodes(&a.http).iter().filter(|n| n["live"] == true).count() == 2);

    // Four sessions through node a: two run on each node.
    let input = json!({"url": format!("rtmp://127.0.0.1:{}/live/in", nginx.port)});
    let ids: Vec<String> = (0..4)
        .map(|_| {
            let body = json!({"inputs": [input], "size": "320x180"});
            let (st, s) = call("POST", &format!("{}/sessions", a.http), Some(&body.to_string()));
            assert_eq!(st, 201, "{s}");
            s["id"].as_str().unwrap().to_string()
        })
        .collect();
    let (on_a, on_b) = (local_sessions(&a.http), local_sessions(&b_http));
    assert_eq!((on_a.len(), on_b.len()), (2, 2), "a runs {on_a:?}, b runs {on_b:?}");
    let counts: Vec<u64> = nodes(&a.http).iter().map(|n| n["sessions"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![2, 2]);
    // Every session answers through node a, its HLS too.
    for id in &ids {
        wait_segments(&format!("{}/sessions/{id}/hls/index.m3u8", a.http));
    }
    // A change sent to node a for a session node b runs takes effect there.
    let theirs = &on_b[0];
    let (st, v) = call("POST", &format!("{}/sessions/{theirs}/inputs/0/pause", a.http), Some("{}"));
    assert_eq!(st, 200, "{v}");
    let (_, seen_on_b) = call("GET", &format!("{b_http}/sessions/{theirs}"), None);
    assert_eq!(seen_on_b["paused_inputs"].as_array().map(Vec::len), Some(1), "{seen_on_b}");

    // Node b dies without a word: within 10 s node a runs its sessions, after a discontinuity.
    let before: Vec<String> =
        on_b.iter().map(|id| playlist_text(&format!("{}/sessions/{id}/hls/index.m3u8", a.http))).collect();
    let killed = Instant::now();
    drop(b.take());
    wait_for("node a to run all four sessions", 15.0, || local_sessions(&a.http).len() == 4);
    let took = killed.elapsed();
    eprintln!("failover: {took:?}");
    assert!(took < Duration::from_secs(10), "failover took {took:?}");
    for (id, before) in on_b.iter().zip(&before) {
        let url = format!("{}/sessions/{id}/hls/index.m3u8", a.http);
        let last_before = before.lines().filter(|l| l.ends_with(".ts")).last().unwrap().to_string();
        wait_for("segments after the failover", 20.0, || {
            let now = playlist_text(&url);
            now.contains("#EXT-X-DISCONTINUITY")
                && now.lines().skip_while(|l| *l != last_before).filter(|l| l.ends_with(".ts")).count() >= 3
        });
        assert!(has_video(&url), "{id} plays after the failover");
    }
    let (_, moved) = call("GET", &format!("{}/sessions/{theirs}", a.http), None);
    assert_eq!(moved["paused_inputs"].as_array().map(Vec::len), Some(1), "its input's pause moved with it: {moved}");

    // Node b comes back under its name: the sessions are a's now, b runs none of them.
    let b = node(&db, &data, "b", &token);
    wait_for("b live again", 10.0, || nodes(&a.http).iter().any(|n| n["id"] == "b" && n["live"] == true));
    let renewed = |n: &[Value]| n.iter().find(|n| n["id"] == "b").and_then(|n| n["lease_until_ms"].as_i64());
    let first = renewed(&nodes(&a.http));
    wait_for("three more heartbeats of b", 10.0, || {
        assert!(local_sessions(&b.http).is_empty(), "b runs a session a runs");
        renewed(&nodes(&a.http)).zip(first).is_some_and(|(now, then)| now >= then + 2500)
    });
    assert_eq!(local_sessions(&a.http).len(), 4);

    // Node a drains: its sessions go on on b.
    let (st, _) = call("POST", &format!("{}/nodes/a/drain", b.http), None);
    assert_eq!(st, 202);
    wait_for("b to run the four sessions", 20.0, || {
        local_sessions(&b.http).len() == 4 && local_sessions(&a.http).is_empty()
    });
    for id in &ids {
        let url = format!("{}/sessions/{id}/hls/index.m3u8", a.http);
        wait_for("the moved session to play on b, asked through a", 20.0, || has_video(&url));
    }
}
