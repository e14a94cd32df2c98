//! Several sources per anchor over real RTMP, HTTP and FFmpeg: one key publishes its main source
//! and a camera (ffmpeg's URL) and a game screen (OBS's split of server and stream key); the room's
//! tile switches between them on the next frame, each switch's first frame is reported within two
//! frame intervals of the request, and a shown source that stops keeps its last frame.

mod common;

use std::process::{Command, Stdio};

use common::*;
use costream::testsrc::Clip;
use serde_json::{json, Value};

const FPS: f64 = 30.0;

/// Publishes `clip` looped as `source` of `key` the way OBS does: application `live`, stream key
/// `KEY/SOURCE`.
fn publish_obs_style(clip: &std::path::Path, port: u16, key: &str, source: &str) -> Proc {
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(clip)
        .args(["-c", "copy", "-f", "flv", "-rtmp_app", "live", "-rtmp_playpath", &format!("{key}/{source}")])
        .arg(format!("rtmp://127.0.0.1:{port}/live"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

fn near(f: &Rgb, want: [u8; 3]) -> bool {
    let c = f.at(8, 8);
    (0..3).all(|k| (c[k] as i32 - want[k] as i32).abs() <= 40)
}

fn source_names(room: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        room["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

#[test]
fn a_room_switches_between_its_sources_on_the_next_frame_and_holds_a_stopped_one() {
    let d = workdir("sources");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    let gop = LIVE_GOP;
    let make = |name: &str, colour: &str| {
        clip(&d, name, &Clip::new(format!("color=c={colour}:size=320x180:rate=30"), 4.0).args(&gop))
    };
    let (red, blue, green) = ([255, 0, 0], [0, 0, 255], [0, 255, 0]);
    let events = Events::subscribe(&h);
    let _main = publish_live(&make("red.flv", "0xff0000"), svc.rtmp_port, &key);
    let camera = publish_live(&make("blue.flv", "0x0000ff"), svc.rtmp_port, &format!("{key}/camera"));
    let _game = publish_obs_style(&make("green.flv", "0x00ff00"), svc.rtmp_port, &key, "game");
    let room_url = format!("{h}/rooms/{a}");
    wait_for("three sources published", 20.0, || {
        source_names(&call("GET", &room_url, None).1) == ["camera", "game", "main"]
    });
    assert_eq!(call("GET", &room_url, None).1["source"], "main");
    let accepted = events.wait("camera's publish", 5.0, |e| e["type"] == "publish_accepted" && e["source"] == "camera");
    assert_eq!(accepted["room_id"].as_str(), Some(a.as_str()), "{accepted}");

    let body = json!({"inputs": [{"room": a}], "size": "320x180", "fps": FPS}).to_string();
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body));
    assert_eq!(st, 201, "{s}");
    let ses = s["id"].as_str().unwrap().to_string();
    let hls = format!("{h}/sessions/{ses}/hls/index.m3u8");
    wait_segments(&hls);
    wait_for("the main source's red", 40.0, || near(&frame_rgb_url(&hls, 320, 180), red));

    // Switches that cannot be made change nothing.
    let switch = format!("{room_url}/source");
    let (st, b) = call("POST", &switch, Some(r#"{"name":"Game/../x"}"#));
    assert_eq!((st, b["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{b}");
    let (st, b) = call("POST", &switch, Some(r#"{"name":"screen"}"#));
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("source_not_live")), "{b}");
    assert_eq!(call("POST", &format!("{h}/rooms/room_nope/source"), Some(r#"{"name":"main"}"#)).0, 404);
    assert_eq!(call("GET", &room_url, None).1["source"], "main");

    // Three switches, each on the next frame or the one after.
    let mut shown = 0;
    for (source, colour) in [("camera", blue), ("game", green), ("main", red)] {
        let (st, r) = call("POST", &switch, Some(&json!({ "name": source }).to_string()));
        assert_eq!((st, r["source"].as_str()), (200, Some(source)), "{r}");
        events.wait("room_source", 5.0, |e| e["type"] == "room_source" && e["source"] == source);
        let first = events.wait("the switch's first frame", 10.0, |e| {
            e["type"] == "input_shown" && e["session_id"] == ses.as_str() && e["shows"] == "source"
        });
        let after_ms = first["after_ms"].as_f64().unwrap();
        eprintln!("switch to {source}: {after_ms} ms");
        assert!(after_ms <= 2.0 * 1000.0 / FPS, "switch to {source}: first frame {after_ms} ms after the request");
        events.clear();
        wait_for(&format!("{source}'s colour in the output"), 20.0, || near(&frame_rgb_url(&hls, 320, 180), colour));
        shown += 1;
    }
    assert_eq!(shown, 3);

    // The shown source stops: its last frame stays (no waiting card, no other source).
    let (st, _) = call("POST", &switch, Some(r#"{"name":"camera"}"#));
    assert_eq!(st, 200);
    wait_for("the camera's blue", 20.0, || near(&frame_rgb_url(&hls, 320, 180), blue));
    drop(camera);
    events.wait("the camera's end", 10.0, |e| e["type"] == "publish_ended" && e["source"] == "camera");
    let newest = || segments(&authed(&hls).call().unwrap().into_string().unwrap()).keys().last().copied().unwrap();
    let at_stop = newest();
    wait_for("three segments after the stop", 20.0, || newest() >= at_stop + 3);
    let seg = newest_segment(&hls, &d);
    assert!(near(&frame_rgb(&seg, 0.0, 320, 180), blue), "the stopped camera's last frame holds");
    let r = call("GET", &room_url, None).1;
    assert_eq!((r["source"].as_str(), source_names(&r)), (Some("camera"), vec!["game".to_string(), "main".into()]));
    let (st, b) = call("POST", &switch, Some(r#"{"name":"camera"}"#));
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("source_not_live")), "{b}");
    assert_eq!(call("POST", &switch, Some(r#"{"name":"game"}"#)).0, 200);
    wait_for("the game's green after the stopped camera", 20.0, || near(&frame_rgb_url(&hls, 320, 180), green));
}
