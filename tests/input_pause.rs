//! Pausing a pulled input of a session over real RTMP (nginx-rtmp as the pulled server), HTTP and
//! FFmpeg: only that input's tile shows the slate, its sound is muted while the room beside it
//! goes on, the pause survives a restart, and the resume brings its pictures and sound back.

mod common;

use common::*;
use costream::compose::slate::CARD_BACKGROUND;
use costream::testsrc::Clip;
use serde_json::json;

fn near(c: [u8; 3], want: [u8; 3], tol: i32) -> bool {
    (0..3).all(|k| (c[k] as i32 - want[k] as i32).abs() <= tol)
}

/// Left tile (the room) and right tile (the pulled input) of a 640×360 side-by-side frame.
fn tiles(hls: &str) -> ([u8; 3], [u8; 3]) {
    let f = frame_rgb_url(hls, 640, 360);
    (f.at(20, 20), f.at(340, 20))
}

#[test]
fn a_paused_pulled_input_shows_the_slate_in_its_tile_only_muted_through_a_restart() {
    let d = workdir("input-pause");
    let db = d.join("db.sqlite");
    let nginx = start_nginx(&d.join("nginx"));
    let flags = ["--allow-private-inputs"];
    let svc = start_with(&db, &flags);
    let h = svc.http.clone();
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let a = room["id"].as_str().unwrap().to_string();
    let _anchor = publish_live(&red_anchor_with_tone(&d), svc.rtmp_port, room["key"]["key"].as_str().unwrap());
    // The pulled input: green with an 880 Hz tone, served by nginx-rtmp.
    let green = Clip::new("color=c=0x00ff00:size=320x180:rate=30", 4.0)
        .with_audio("sine=frequency=880:sample_rate=48000")
        .args(&LIVE_GOP);
    let _pulled = publish_live(&clip(&d, "green.flv", &green), nginx.port, "cam");
    let url = format!("rtmp://127.0.0.1:{}/live/cam", nginx.port);
    let body = json!({"inputs": [{"room": a}, {"url": url}], "size": "640x360"});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let hls = format!("{h}/sessions/{id}/hls/index.m3u8");
    let (red, green) = ([255, 0, 0], [0, 255, 0]);
    wait_segments(&hls);
    wait_for("the room and the pulled input", 30.0, || {
        let (l, r) = tiles(&hls);
        near(l, red, 40) && near(r, green, 40)
    });

    // Bad pauses change nothing: no such input, an input that is a room, a bad index or audio.
    let pause = |k: &str, body: &str| call("POST", &format!("{h}/sessions/{id}/inputs/{k}/pause"), Some(body));
    assert_eq!(pause("5", "{}").0, 404);
    let (st, b) = pause("0", "{}");
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("input_is_room")), "{b}");
    assert_eq!(pause("x", "{}").0, 400);
    assert_eq!(pause("1", r#"{"audio":"loud"}"#).0, 400);
    assert_eq!(call("POST", &format!("{h}/sessions/ses_nope/inputs/1/pause"), Some("{}")).0, 404);

    let events = Events::subscribe(&h);
    let (st, v) = pause("1", r#"{"audio":"mute"}"#);
    assert_eq!(st, 200, "{v}");
    let p = &v["paused_inputs"][0];
    assert_eq!(
        (p["input"].as_u64(), p["slate"].as_str(), p["audio"].as_str()),
        (Some(1), Some("system"), Some("mute"))
    );
    let since = p["paused_since"].as_i64().unwrap();
    events.wait("input_paused", 5.0, |e| e["type"] == "input_paused" && e["input"] == 1);
    let e = events.wait("input_shown", 10.0, |e| e["type"] == "input_shown" && e["input"] == 1);
    assert!(e["after_ms"].as_f64().unwrap() <= 66.7, "on the next frame or the one after: {e}");
    wait_for("the slate in the pulled input's tile only", 20.0, || {
        let (l, r) = tiles(&hls);
        near(l, red, 40) && near(r, CARD_BACKGROUND, 14)
    });
    wait_for("the pulled input muted, the room heard", 20.0, || {
        let s = samples(&newest_segment(&hls, &d));
        tone(&s, 880.0).1 < 0.02 && tone(&s, 440.0).1 > 0.5
    });

    // A restart keeps the pause (from its first start).
    drop(svc);
    let svc = start_with(&db, &flags);
    let h = svc.http.clone();
    let hls = format!("{h}/sessions/{id}/hls/index.m3u8");
    let (st, v) = call("GET", &format!("{h}/sessions/{id}"), None);
    assert_eq!((st, v["paused_inputs"][0]["paused_since"].as_i64()), (200, Some(since)), "{v}");
    wait_segments(&hls);
    wait_for("the slate again after the restart", 30.0, || near(tiles(&hls).1, CARD_BACKGROUND, 14));

    let (st, v) = call("POST", &format!("{h}/sessions/{id}/inputs/1/resume"), None);
    assert_eq!((st, v.get("paused_inputs")), (200, None), "{v}");
    wait_for("the pulled input's green again", 20.0, || near(tiles(&hls).1, green, 40));
    wait_for("and its tone", 20.0, || tone(&samples(&newest_segment(&hls, &d)), 880.0).1 > 0.2);
    drop(nginx);
}
