//! One owner per room: a room's publisher is decoded once and read by every session and pending
//! invitation that shows it, and its live state follows publishes, departures and returns.

mod common;

use common::*;
use costream::testsrc::Clip;
use serde_json::{json, Value};

/// A picture that changes: red then green, 3.3 s in all, so the first frame of successive
/// segments (2 s each) falls in different halves.
fn changing(d: &std::path::Path, name: &str) -> std::path::PathBuf {
    let gop = ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p"];
    let half = |c: &str| format!("color=c={c}:size=640x360:rate=30:d=1.65");
    let graph = format!("{}[a];{}[b];[a][b]concat=n=2:v=1:a=0", half("0xff0000"), half("0x00ff00"));
    clip(d, name, &Clip::new(graph, 3.3).with_audio("sine=frequency=440:sample_rate=48000").args(&gop))
}

fn red(c: [u8; 3]) -> bool {
    c[0] > 200 && c[1] < 60 && c[2] < 60
}

fn green(c: [u8; 3]) -> bool {
    c[1] > 200 && c[0] < 60 && c[2] < 60
}

/// Waits until the pixel at (x, y) of the playlist's newest segment has been seen red and green.
fn wait_changing(playlist: &str, what: &str, x: usize, y: usize) {
    wait_for("two HLS segments", 30.0, || {
        authed(playlist).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
    let (mut r, mut g) = (false, false);
    wait_for(what, 40.0, || {
        let c = frame_rgb_url(playlist, 1280, 720).at(x, y);
        r |= red(c);
        g |= green(c);
        r && g
    });
}

fn metric(h: &str, name: &str) -> f64 {
    let m = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
    let line = m.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in {m}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn session(h: &str, room: &Value) -> String {
    let req = json!({"inputs": [{"room": room["id"]}]});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{ses}");
    format!("{h}{}", ses["hls"].as_str().unwrap())
}

fn room_status(h: &str, room: &Value) -> String {
    let (st, r) = call("GET", &format!("{h}/rooms/{}", room["id"].as_str().unwrap()), None);
    assert_eq!(st, 200, "{r}");
    r["status"].as_str().unwrap().to_string()
}

#[test]
fn two_sessions_and_a_pending_invitation_share_one_decoder_per_room() {
    let d = workdir("rooms-shared");
    let svc = start(&d.join("db/costream.sqlite"));
    let h = svc.http.clone();
    let (_, a) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (_, b) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"B"}"#));
    let events = Events::subscribe(&h);
    let clip_a = changing(&d, "a.flv");
    let clip_b = changing(&d, "b.flv");
    let mut pa = publish_live(&clip_a, svc.rtmp_port, a["key"]["key"].as_str().unwrap());
    let mut pb = publish_live(&clip_b, svc.rtmp_port, b["key"]["key"].as_str().unwrap());
    wait_for("both rooms live", 20.0, || room_status(&h, &a) == "live" && room_status(&h, &b) == "live");

    // Two sessions on room A, and an invitation from B to A waiting for its answer.
    let (s1, s2) = (session(&h, &a), session(&h, &a));
    let inv = json!({"from": {"room": b["id"]}, "to": {"room": a["id"]}, "timeout_s": 300});
    let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&inv.to_string()));
    assert_eq!(st, 201, "{inv}");
    assert_eq!(inv["state"], "pending");
    for (p, what) in [(&s1, "the first session on A"), (&s2, "the second session on A")] {
        wait_changing(p, &format!("{what} to show A live"), 640, 360);
    }
    // Each room's stream is decoded once, whoever shows it.
    assert_eq!(metric(&h, "costream_decoders_running"), 2.0, "one decoder per room");

    // Accepted: the PK shows A live too, while both sessions still do.
    let id = inv["id"].as_str().unwrap();
    assert_eq!(call("POST", &format!("{h}/invitations/{id}/accept"), None).0, 200);
    let pk = format!("{h}/sessions/{}/views/a/hls/index.m3u8", inv["session"].as_str().unwrap());
    wait_changing(&pk, "the PK's view to show B live on the left", 320, 360);
    wait_changing(&pk, "the PK's view to show A live on the right", 960, 360);
    for p in [&s1, &s2] {
        wait_changing(p, "the sessions on A to stay live after the accept", 640, 360);
    }
    assert_eq!(metric(&h, "costream_decoders_running"), 2.0, "still one decoder per room");

    // Both anchors leave: status and events say so, no decoder is left; both return: live again.
    drop((pa, pb));
    for r in [&a, &b] {
        events.wait("publish_ended", 10.0, |e| e["type"] == "publish_ended" && e["room_id"] == r["id"]);
        assert_eq!(room_status(&h, r), "not_started");
    }
    wait_for("the decoders to stop", 10.0, || metric(&h, "costream_decoders_running") == 0.0);
    assert_eq!(metric(&h, "costream_rooms_live"), 0.0);
    pa = publish_live(&clip_a, svc.rtmp_port, a["key"]["key"].as_str().unwrap());
    pb = publish_live(&clip_b, svc.rtmp_port, b["key"]["key"].as_str().unwrap());
    wait_for("both rooms live again", 20.0, || room_status(&h, &a) == "live" && room_status(&h, &b) == "live");
    for (p, x) in [(&s1, 640), (&s2, 640), (&pk, 320), (&pk, 960)] {
        wait_changing(p, "every output to be live again", x, 360);
    }
    assert_eq!(metric(&h, "costream_decoders_running"), 2.0);
    let accepted =
        |r: &Value| events.all().iter().filter(|e| e["type"] == "publish_accepted" && e["room_id"] == r["id"]).count();
    assert_eq!((accepted(&a), accepted(&b)), (2, 2), "both publishes of both rooms are on the event stream");
    drop((pa, pb));
}
