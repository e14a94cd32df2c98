//! Viewer playback with no header over real RTMP, HTTP and FFmpeg: a room's viewer URL (issued by
//! an operator, the room's anchor or the platform's signed backend) plays in ffprobe and ffmpeg with
//! no Authorization header (and in GStreamer's hlsdemux, which fetches segments on its own), each room of a PK gets its own view, and a tampered or expired segment
//! signature is a 403.

mod common;

use std::process::Command;

use common::*;
use costream::testsrc::Clip;
use serde_json::{json, Value};

const PLATFORM: &str = "platform-secret-w8";

/// The first frame of a live playlist, fetched with no header at all.
fn frame_no_header(url: &str) -> Option<Rgb> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-rw_timeout", "10000000", "-live_start_index", "-1", "-i", url])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .ok()?;
    (o.status.success() && o.stdout.len() == 640 * 360 * 3).then_some(Rgb { w: 640, h: 360, data: o.stdout })
}

/// A frame GStreamer's hlsdemux decodes from a live playlist (no header; it fetches the segments
/// itself), scaled to 64×36: the last one once 3 s of frames have come (its playlist window
/// starts a few segments back).
fn gst_frame(url: &str, dir: &std::path::Path) -> Option<Rgb> {
    let out = dir.join("gst-frames.rgb");
    let _ = std::fs::remove_file(&out);
    let pipeline = format!(
        "souphttpsrc location={url} ! hlsdemux ! tsdemux ! h264parse ! avdec_h264 ! videoconvert ! videoscale \
         ! video/x-raw,format=RGB,width=64,height=36 ! filesink location={}",
        out.display()
    );
    let child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("gst-launch-1.0 (gstreamer1.0-tools, -plugins-bad, -libav)");
    let _gst = Proc(child);
    let frame = 64 * 36 * 3;
    let enough = || std::fs::metadata(&out).is_ok_and(|m| m.len() >= 90 * frame as u64);
    if !kit::wait_until(std::time::Duration::from_secs(30), enough) {
        return None;
    }
    let data = std::fs::read(&out).ok()?;
    let last = data.len() / frame - 1;
    Some(Rgb { w: 64, h: 36, data: data[last * frame..(last + 1) * frame].to_vec() })
}

fn get_no_header(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// A request signed as the platform's backend: HMAC of "<timestamp>.<body>".
fn signed_post(url: &str, secret: &str, ts: i64, body: &str) -> (u16, Value) {
    let sig = costream::session::unlock::sign(secret.as_bytes(), format!("{ts}.{body}").as_bytes());
    let r = ureq::post(url).set("x-timestamp", &ts.to_string()).set("x-signature", &sig).send_string(body);
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    (r.status(), serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null))
}

#[test]
fn a_rooms_viewer_url_plays_without_a_header_and_its_segments_are_signed() {
    let d = workdir("watch");
    let svc =
        start_with_env(&d.join("db.sqlite"), &["--segment-url-ttl", "3"], &[("COSTREAM_PLATFORM_SECRET", PLATFORM)]);
    let h = svc.http.clone();
    let mut rooms = Vec::new();
    let mut anchors = Vec::new();
    for (name, colour) in [("A", "0xff0000"), ("B", "0x0000ff")] {
        let (st, room) = call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string()));
        assert_eq!(st, 201, "{room}");
        let c = clip(
            &d,
            &format!("{name}.flv"),
            &Clip::new(format!("color=c={colour}:size=320x180:rate=30"), 4.0).args(&LIVE_GOP),
        );
        anchors.push(publish_live(&c, svc.rtmp_port, room["key"]["key"].as_str().unwrap()));
        rooms.push(room["id"].as_str().unwrap().to_string());
    }
    let (a, b) = (rooms[0].clone(), rooms[1].clone());
    let issue = |room: &str| {
        let (st, v) = call("POST", &format!("{h}/rooms/{room}/viewers"), None);
        assert_eq!(st, 201, "{v}");
        (v["viewer"].as_str().unwrap().to_string(), format!("{h}{}", v["url"].as_str().unwrap()))
    };
    let (viewer_a, url_a) = issue(&a);
    let (st, body) = get_no_header(&url_a);
    assert_eq!(st, 404, "nothing on air yet: {body}");

    // Who may issue: no credential 401; another room's anchor 403; the room's own anchor, and the
    // platform's backend signing (once), 201.
    assert_eq!(call_as(None, "POST", &format!("{h}/rooms/{a}/viewers"), None).0, 401);
    let (_, t) = call("POST", &format!("{h}/tokens"), Some(&json!({"role": "anchor", "room": b}).to_string()));
    let anchor_b = t["token"].as_str().unwrap().to_string();
    assert_eq!(call_as(Some(&anchor_b), "POST", &format!("{h}/rooms/{a}/viewers"), None).0, 403);
    assert_eq!(call_as(Some(&anchor_b), "POST", &format!("{h}/rooms/{b}/viewers"), None).0, 201);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let viewers_a = format!("{h}/rooms/{a}/viewers");
    assert_eq!(signed_post(&viewers_a, PLATFORM, now, "").0, 201);
    assert_eq!(signed_post(&viewers_a, PLATFORM, now, "").0, 409, "a replayed signature");
    assert_eq!(signed_post(&viewers_a, "not-the-secret", now + 1, "").0, 401);
    assert_eq!(signed_post(&viewers_a, PLATFORM, now - 3600, "").0, 401, "a stale signature");
    assert_eq!(call("POST", &format!("{h}/rooms/room_nope/viewers"), None).0, 404);

    // A PK of A and B: each room's viewers get the room's own view, its anchor on the left.
    let inv = json!({"from": {"room": a}, "to": {"room": b}, "size": "640x360", "timeout_s": 300});
    let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&inv.to_string()));
    assert_eq!(st, 201, "{inv}");
    assert_eq!(call("POST", &format!("{h}/invitations/{}/accept", inv["id"].as_str().unwrap()), None).0, 200);
    let (_, url_b) = issue(&b);
    let left_is = |url: &str, want: [u8; 3]| {
        frame_no_header(url).is_some_and(|f| (0..3).all(|k| (f.at(20, 20)[k] as i32 - want[k] as i32).abs() <= 40))
    };
    wait_for("A's viewers see A on the left, with no header", 40.0, || left_is(&url_a, [255, 0, 0]));
    wait_for("B's viewers see B on the left", 20.0, || left_is(&url_b, [0, 0, 255]));
    let gst = gst_frame(&url_a, &d).expect("GStreamer's hlsdemux plays the viewer URL");
    let px = gst.at(2, 2);
    assert!(px[0] > 200 && px[1] < 60 && px[2] < 60, "hlsdemux decodes A on the left: {px:?}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", &url_a])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&probe.stdout).contains("video"), "ffprobe reads the viewer URL");

    // Tokens: forged, or another room's, 403.
    let forged = format!("{h}/rooms/{a}/viewers/v1.1700000000.0011223344556677.{:032x}/index.m3u8", 7);
    assert_eq!(get_no_header(&forged).0, 403);
    assert_eq!(get_no_header(&url_a.replace(&a, &b)).0, 403, "A's viewer token on B's room");
    assert!(url_a.contains(&viewer_a));

    // Segments: signed, a tampered signature 403, and an expired one 403 once its 3 s are up.
    let (st, playlist) = get_no_header(&url_a);
    assert_eq!(st, 200, "{playlist}");
    let seg = playlist.lines().find(|l| l.contains(".ts?")).expect("a signed segment").to_string();
    let seg = format!("{h}{seg}");
    assert_eq!(get_no_header(&seg).0, 200);
    let last = seg.chars().last().unwrap();
    let tampered = format!("{}{}", &seg[..seg.len() - 1], if last == '0' { '1' } else { '0' });
    assert_eq!(get_no_header(&tampered).0, 403);
    assert_eq!(get_no_header(&seg.replace("sig=", "nosig=")).0, 403, "unsigned");
    wait_for("the segment URL to expire", 10.0, || get_no_header(&seg).0 == 403);

    // Public playback: A marked public plays at /rooms/{a}/live/index.m3u8 with no token at all,
    // its segments cacheable for good; B, not public, is a 404 there.
    let live_a = format!("{h}/rooms/{a}/live/index.m3u8");
    assert_eq!(get_no_header(&live_a).0, 404, "not public yet");
    let public = Some(r#"{"public":true}"#);
    assert_eq!(call_as(Some(&anchor_b), "PUT", &format!("{h}/rooms/{a}/public"), public).0, 403);
    let (st, r) = call("PUT", &format!("{h}/rooms/{a}/public"), public);
    assert_eq!((st, r["public"].as_bool()), (200, Some(true)), "{r}");
    wait_for("A's public playback, with no header", 20.0, || left_is(&live_a, [255, 0, 0]));
    let (_, text) = get_no_header(&live_a);
    let seg = text.lines().find(|l| l.ends_with(".ts")).expect("a segment").to_string();
    let r = ureq::get(&format!("{h}/rooms/{a}/live/{seg}")).call().unwrap();
    assert_eq!(r.header("cache-control"), Some("public, max-age=86400, immutable"));
    assert_eq!(get_no_header(&format!("{h}/rooms/{b}/live/index.m3u8")).0, 404, "B is not public");
    let b_view = seg.replacen(".a.", ".b.", 1);
    assert_eq!(get_no_header(&format!("{h}/rooms/{a}/live/{b_view}")).0, 404, "B's view through A's path");
    drop(anchors);
}
