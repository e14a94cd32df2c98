//! `costream serve` as a real process: HTTP API over loopback, RTMP publishers made with ffmpeg,
//! SQLite on disk across a restart.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use costream::testsrc::Clip;
use serde_json::json;

fn publish_fails(clip: &Path, port: u16, key: &str) -> bool {
    !publish(clip, port, key).wait().unwrap().success()
}

#[test]
fn rooms_keys_and_errors_over_http_and_rtmp() {
    let d = workdir("service");
    let db = d.join("costream.sqlite");
    let short = clip(&d, "short.flv", &Clip::new("testsrc2=size=320x180:rate=30", 0.5));
    let clip = clip(
        &d,
        "a.flv",
        &Clip::new("testsrc2=size=320x180:rate=30", 2.0).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    // Destinations name a platform's host, which does not resolve here: private outputs are allowed
    // so the URL policy lets it through (tests/security.rs checks what it refuses).
    let svc = start_with(&db, &["--allow-private-outputs"]);
    let h = svc.http.clone();

    // Create a room: it comes with a key and is not started.
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"主播 A","platform":"costream"}"#));
    assert_eq!(st, 201, "{room}");
    let id = room["id"].as_str().unwrap().to_string();
    let key = room["key"]["key"].as_str().unwrap().to_string();
    assert_eq!(room["status"], "not_started");
    assert_eq!(room["name"], "主播 A");
    let exp = room["key"]["expires_at"].as_i64().unwrap() - room["key"]["issued_at"].as_i64().unwrap();
    assert_eq!(exp, 24 * 3600, "keys last 24 h by default");

    // Publishing with its key: accepted, the room reads live.
    let mut anchor = publish(&clip, svc.rtmp_port, &key);
    wait_for("the room to go live", 10.0, || call("GET", &format!("{h}/rooms/{id}"), None).1["status"] == "live");
    // A wrong key is refused at publish time.
    assert!(publish_fails(&clip, svc.rtmp_port, "sk_wrong"), "wrong key accepted");
    assert!(anchor.wait().unwrap().success(), "the valid publisher ran to the end");

    // Regenerate: the old key stops working, the new one works.
    let (st, k2) = call("POST", &format!("{h}/rooms/{id}/key"), None);
    assert_eq!(st, 200);
    let key2 = k2["key"].as_str().unwrap().to_string();
    assert_ne!(key, key2);
    assert!(publish_fails(&clip, svc.rtmp_port, &key), "old key still accepted");
    assert!(publish(&short, svc.rtmp_port, &key2).wait().unwrap().success(), "new key refused");

    // An expired key is refused and the room says so.
    let (_, r2) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"B","key_ttl_s":1}"#));
    let room2 = format!("{h}/rooms/{}", r2["id"].as_str().unwrap());
    wait_for("the 1 s key to expire", 5.0, || call("GET", &room2, None).1["status"] == "key_expired");
    assert!(publish_fails(&short, svc.rtmp_port, r2["key"]["key"].as_str().unwrap()), "expired key accepted");

    // Destinations.
    let (st, dst) = call(
        "POST",
        &format!("{h}/rooms/{id}/destinations"),
        Some(&json!({"url": "rtmp://push.example/app/KEY"}).to_string()),
    );
    assert_eq!(st, 201, "{dst}");

    // Bad requests are 4xx JSON with stable codes, and the service stays up.
    for (method, path, body, status, code) in [
        ("POST", "/rooms".to_string(), Some("{not json"), 400, "bad_json"),
        ("POST", "/rooms".to_string(), Some(r#"{"name":""}"#), 400, "invalid_parameter"),
        ("POST", "/rooms".to_string(), Some(r#"{"name":"x","key_ttl_s":-5}"#), 400, "invalid_parameter"),
        ("POST", "/rooms".to_string(), Some(r#"{"name":"x","bogus":1}"#), 400, "bad_json"),
        ("GET", "/rooms/room_missing".to_string(), None, 404, "not_found"),
        ("POST", "/rooms/room_missing/key".to_string(), None, 404, "not_found"),
        ("POST", format!("/rooms/{id}/destinations"), Some(r#"{"url":"http://not-rtmp"}"#), 400, "invalid_parameter"),
        ("GET", "/nowhere".to_string(), None, 404, "not_found"),
    ] {
        let (st, b) = call(method, &format!("{h}{path}"), body);
        assert_eq!(st, status, "{method} {path}: {b}");
        assert_eq!(b["error"]["code"], code, "{method} {path}: {b}");
        assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(call("GET", &format!("{h}/health"), None).0, 200);
    let (_, doc) = call("GET", &format!("{h}/openapi.json"), None);
    assert!(doc["paths"]["/rooms/{id}/key"].is_object(), "OpenAPI lists the key endpoint");

    // Restart on the same database: rooms, keys and destinations are still there.
    drop(svc);
    let svc = start_with(&db, &["--allow-private-outputs"]);
    let (_, again) = call("GET", &format!("{}/rooms/{id}", svc.http), None);
    assert_eq!(again["key"]["key"], key2.as_str());
    let (_, dsts) = call("GET", &format!("{}/rooms/{id}/destinations", svc.http), None);
    assert_eq!(dsts[0]["url"], "rtmp://push.example/app/KEY");
    assert!(publish(&short, svc.rtmp_port, &key2).wait().unwrap().success(), "key works after restart");
}

#[test]
fn session_of_two_published_rooms_reaches_nginx_rtmp_and_costream_hls() {
    let d = workdir("session");
    let nginx = start_nginx(&d);
    let svc = start_with(&d.join("db/costream.sqlite"), &["--allow-private-outputs"]);
    let h = svc.http.clone();
    let gop = ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p"];
    let red = clip(
        &d,
        "red.flv",
        &Clip::new("color=c=0xff0000:size=640x360:rate=30", 2.0)
            .with_audio("sine=frequency=440:sample_rate=48000")
            .args(&gop),
    );
    let blue = clip(
        &d,
        "blue.flv",
        &Clip::new("color=c=0x0000ff:size=640x360:rate=30", 2.0)
            .with_audio("sine=frequency=660:sample_rate=48000")
            .args(&gop),
    );
    let (_, a) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (_, b) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"B"}"#));
    let _pa = publish_live(&red, svc.rtmp_port, a["key"]["key"].as_str().unwrap());
    let _pb = publish_live(&blue, svc.rtmp_port, b["key"]["key"].as_str().unwrap());

    // Bad session requests are refused with JSON errors.
    for body in [
        r#"{"inputs":[]}"#,
        r#"{"inputs":[{"room":"room_nope"}]}"#,
        r#"{"inputs":[{"url":"x"}],"layout":"diagonal"}"#,
        r#"{"inputs":[{"url":"x"}],"outputs":["http://x"]}"#,
    ] {
        let (st, e) = call("POST", &format!("{h}/sessions"), Some(body));
        assert!(st == 400 || st == 404, "{body}: {st} {e}");
        assert!(e["error"]["code"].is_string(), "{e}");
    }

    let pk = format!("rtmp://127.0.0.1:{}/live/pk", nginx.port);
    let req = json!({"inputs": [{"room": a["id"]}, {"room": b["id"]}], "layout": "side-by-side", "size": "1280x720", "fps": "30", "outputs": [pk], "record": true});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    let playlist = format!("{h}{}", ses["hls"].as_str().unwrap());

    // Wait for a few HLS segments.
    wait_for("two HLS segments", 30.0, || {
        authed(&playlist).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
    let cors = authed(&playlist).call().unwrap();
    assert_eq!(cors.header("access-control-allow-origin"), Some("*"), "HLS is served with CORS");

    // Both outputs: costream's HLS over HTTP and the RTMP destination on nginx.
    let rtmp_probe = probe_url(&pk);
    for j in [probe_url(&playlist), rtmp_probe] {
        let v = stream(&j, "video");
        assert_eq!(v["codec_name"], "h264", "{j}");
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(1280), Some(720)));
        assert_eq!(v["r_frame_rate"], "30/1");
        assert_eq!(stream(&j, "audio")["codec_name"], "aac");
    }
    for url in [&playlist, &pk] {
        let f = frame_rgb_url(url, 1280, 720);
        assert_near(f.at(320, 360), [255, 0, 0], 20, &format!("anchor A left in {url}"));
        assert_near(f.at(960, 360), [0, 0, 255], 20, &format!("anchor B right in {url}"));
    }
    let (_, st) = call("GET", &format!("{h}/sessions/{id}"), None);
    assert_eq!(st["state"], "running");
    assert!(st["frames"].as_u64().unwrap() > 30, "{st}");
    // Prometheus metrics: inputs, the session, each output (push keys redacted).
    let m = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
    assert!(m.contains("costream_rooms_live 2"), "{m}");
    for (name, label) in [
        ("costream_input_frames_total", a["id"].as_str().unwrap()),
        ("costream_session_frames_total", id.as_str()),
        ("costream_output_packets_total", "/live/…"),
    ] {
        let line = m
            .lines()
            .find(|l| l.starts_with(name) && l.contains(label))
            .unwrap_or_else(|| panic!("{name} {label} missing:\n{m}"));
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v > 0.0, "{line}");
    }
    assert!(!m.contains("/live/pk"), "push keys never appear in metrics");
    assert!(
        m.lines().any(|l| l.starts_with("costream_stage_ms") && l.contains("stage=\"encode\"") && !l.ends_with(" 0")),
        "{m}"
    );

    // Changed while live: stacked vertically, A on top. Bad changes are refused.
    assert_eq!(call("PATCH", &format!("{h}/sessions/{id}"), Some(r#"{"layout":"diagonal"}"#)).0, 400);
    assert_eq!(call("PATCH", &format!("{h}/sessions/{id}"), Some(r#"{"fit":"fit,fit,fit"}"#)).0, 400);
    assert_eq!(call("PATCH", &format!("{h}/sessions/ses_missing"), Some(r#"{"layout":"grid"}"#)).0, 404);
    assert_eq!(call("PATCH", &format!("{h}/sessions/{id}"), Some(r#"{"layout":"vstack"}"#)).0, 200);
    wait_for("the layout to change to vstack (A red on top, B blue below)", 20.0, || {
        let f = frame_rgb_url(&pk, 1280, 720);
        let (top, bottom) = (f.at(640, 180), f.at(640, 540));
        top[0] > 200 && top[2] < 60 && bottom[2] > 200 && bottom[0] < 60
    });

    // Inputs changed while live: B alone fills the frame; then A joins again on the right.
    let only_b = json!({"inputs": [{"room": b["id"]}], "layout": "side-by-side"});
    assert_eq!(call("PATCH", &format!("{h}/sessions/{id}"), Some(&only_b.to_string())).0, 200);
    let wait_picture =
        |what: &str, ok: &dyn Fn(&Rgb) -> bool| wait_for(what, 20.0, || ok(&frame_rgb_url(&pk, 1280, 720)));
    let blue = |c: [u8; 3]| c[2] > 200 && c[0] < 60;
    let red_ = |c: [u8; 3]| c[0] > 200 && c[2] < 60;
    wait_picture("B alone", &|f| blue(f.at(320, 360)) && blue(f.at(960, 360)));
    let b_then_a = json!({"inputs": [{"room": b["id"]}, {"room": a["id"]}]});
    assert_eq!(call("PATCH", &format!("{h}/sessions/{id}"), Some(&b_then_a.to_string())).0, 200);
    wait_picture("B left, A right", &|f| blue(f.at(320, 360)) && red_(f.at(960, 360)));

    // Stopping finishes the playlist.
    assert_eq!(call("DELETE", &format!("{h}/sessions/{id}"), None).0, 204);
    // DELETE returns at once; the outputs are finished in the background.
    wait_for("the session to be stopped", 10.0, || {
        call("GET", &format!("{h}/sessions/{id}"), None).1["state"] == "stopped"
    });
    let text = authed(&playlist).call().unwrap().into_string().unwrap();
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(call("DELETE", &format!("{h}/sessions/ses_missing"), None).0, 404);
    // The recording holds the whole session.
    let rec = st["recording"].as_str().map(Path::new).expect("recording path");
    let j = probe(rec);
    assert_eq!(stream(&j, "video")["codec_name"], "h264");
    assert_eq!(stream(&j, "audio")["codec_name"], "aac");
    let dur: f64 = j["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(dur > 5.0, "recording of {dur} s");
}

#[test]
fn demo_serves_playable_hls_within_15_seconds() {
    let d = workdir("demo");
    let started = Instant::now();
    let mut demo = start_demo(&d.join("demo"));
    let hls = demo.hls.clone();
    // The demo's HLS needs the operator token it printed.
    assert_eq!(
        ureq::get(&hls).call().map_err(|e| matches!(e, ureq::Error::Status(401, _))).err(),
        Some(true),
        "HLS without a token"
    );
    let left = 15.0 - started.elapsed().as_secs_f64();
    wait_for("an HLS segment within 15 s of the start", left, || {
        authed(&hls).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().contains(".ts")
    });
    let took = started.elapsed();
    let j = probe_url(&hls);
    let v = stream(&j, "video");
    assert_eq!(
        (v["codec_name"].as_str(), v["width"].as_u64(), v["height"].as_u64()),
        (Some("h264"), Some(1280), Some(720))
    );
    assert_eq!(stream(&j, "audio")["codec_name"], "aac");
    eprintln!("demo HLS playable after {took:?}");
    // SIGTERM: a graceful stop.
    unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) };
    let status = demo.child.wait().unwrap();
    assert!(status.success(), "demo exits cleanly on SIGTERM: {status:?}");
    // Shutting down finished the session's HLS: the playlist on disk is closed.
    let ses = hls.split("/sessions/").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    let text = std::fs::read_to_string(d.join("demo/hls").join(&ses).join("index.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
}

#[test]
fn anchor_leaving_freezes_its_tile_and_returning_resumes_it() {
    let d = workdir("loss");
    let svc = start_with(&d.join("db/costream.sqlite"), &["--allow-private-outputs"]);
    let h = svc.http.clone();
    let gop = ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p"];
    let red = clip(
        &d,
        "red.flv",
        &Clip::new("color=c=0xff0000:size=640x360:rate=30", 2.0)
            .with_audio("sine=frequency=440:sample_rate=48000")
            .args(&gop),
    );
    let green = clip(
        &d,
        "green.flv",
        &Clip::new("color=c=0x00ff00:size=640x360:rate=30", 2.0)
            .with_audio("sine=frequency=440:sample_rate=48000")
            .args(&gop),
    );
    let blue = clip(
        &d,
        "blue.flv",
        &Clip::new("color=c=0x0000ff:size=640x360:rate=30", 2.0)
            .with_audio("sine=frequency=660:sample_rate=48000")
            .args(&gop),
    );
    let (_, a) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (_, b) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"B"}"#));
    let (ka, kb) = (a["key"]["key"].as_str().unwrap().to_string(), b["key"]["key"].as_str().unwrap().to_string());

    // Watch the event stream from the start.
    let events = Events::subscribe(&h);
    let mut pa = publish_live(&red, svc.rtmp_port, &ka);
    let _pb = publish_live(&blue, svc.rtmp_port, &kb);
    // A destination nobody listens on: reported as failed, the rest goes on.
    let dead = format!("rtmp://127.0.0.1:{}/live/secret-key", free_port());
    let req = json!({"inputs": [{"room": a["id"]}, {"room": b["id"]}], "outputs": [dead]});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    let playlist = format!("{h}{}", ses["hls"].as_str().unwrap());
    wait_for("two HLS segments", 30.0, || {
        authed(&playlist).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
    let left = || frame_rgb_url(&playlist, 1280, 720).at(320, 360);
    let l = left();
    assert!(l[0] > 200 && l[1] < 60, "A live and red: {l:?}");

    // A stops publishing: the event stream says so, the output keeps going with A's last frame.
    drop(pa);
    events.wait("A's publish_ended event", 10.0, |e| e["type"] == "publish_ended" && e["room_id"] == a["id"]);
    let frames = || call("GET", &format!("{h}/sessions/{id}"), None).1["frames"].as_u64().unwrap();
    let frames_then = frames();
    wait_for("the output to keep going without A (50 more frames)", 10.0, || frames() >= frames_then + 50);
    let l = left();
    assert!(l[0] > 200 && l[1] < 60, "A's last frame stays: {l:?}");

    // A publishes again (a different picture): the tile resumes.
    pa = publish_live(&green, svc.rtmp_port, &ka);
    wait_for("A's tile to resume with the green picture", 20.0, || {
        let l = frame_rgb_url(&playlist, 1280, 720).at(320, 360);
        l[1] > 200 && l[0] < 60
    });
    let accepted = events.all().iter().filter(|e| e["type"] == "publish_accepted" && e["room_id"] == a["id"]).count();
    assert_eq!(accepted, 2, "both publishes of A are on the event stream");
    let ev = events.all();
    let seen = |t: &str| {
        ev.iter()
            .any(|e| e["type"] == t && e["session_id"] == id.as_str() && (t == "session_started" || e["input"] == 0))
    };
    assert!(seen("session_started") && seen("input_lost") && seen("input_back"), "session events: {ev:?}");
    assert!(ev.iter().any(|e| e["type"] == "output_connected" && e["output"] == "index.m3u8"), "{ev:?}");
    let failed =
        ev.iter().find(|e| e["type"] == "output_failed").unwrap_or_else(|| panic!("dead destination reported: {ev:?}"));
    assert!(failed["output"].as_str().unwrap().ends_with("/live/…"), "push key redacted: {failed}");
    drop(pa);
}
