//! An nginx-rtmp tier in front of the service, over real RTMP and HTTP: nginx's `on_publish` asks
//! the service whether a stream key may publish; a valid key's stream is pulled from nginx and
//! composed (another source of the room too), a second publisher on a live key, a wrong and an
//! expired key are refused by nginx itself without touching the live one, and nginx's
//! `on_publish_done` ends the room's stream. The callbacks refuse a missing or wrong secret, and
//! no key reaches the service's log.

mod common;

use std::time::Duration;

use common::*;
use costream::testsrc::Clip;
use serde_json::json;

const SECRET: &str = "nginx-callback-secret-9f2c";
/// A new key's life here: long enough for the first part, short enough to wait out.
const KEY_TTL_S: i64 = 20;

/// Publishes `clip` to nginx with `key` and says whether nginx refused it (ffmpeg gave up within
/// 10 s with an error; a publish nginx lets in plays the 4 s clip through and exits cleanly).
fn refused_by_nginx(clip: &std::path::Path, port: u16, key: &str) -> bool {
    let mut p = publish(clip, port, key);
    let mut ended = None;
    if !kit::wait_until(Duration::from_secs(10), || {
        ended = p.try_wait().unwrap();
        ended.is_some()
    }) {
        let _ = p.kill();
        return false;
    }
    ended.is_some_and(|st| !st.success())
}

#[test]
fn a_key_published_to_nginx_is_checked_by_the_service_then_pulled_and_composed_and_bad_keys_are_refused_by_nginx() {
    let d = workdir("nginx-ingest");
    let port = free_port();
    let tier = format!("rtmp://127.0.0.1:{port}");
    let ttl = KEY_TTL_S.to_string();
    let args = ["--nginx-ingest-url", tier.as_str(), "--key-ttl", ttl.as_str()];
    let log = d.join("serve.log");
    let svc = start_logged_env(&d.join("db.sqlite"), &args, &[("COSTREAM_NGINX_SECRET", SECRET)], &log);
    let h = svc.http.clone();
    let hook = |event: &str| format!(" {event} {h}/ingest/nginx/{event}?secret={SECRET};");
    let hooks = hook("on_publish") + &hook("on_publish_done");
    let _nginx = kit::start_nginx_at(&d.join("nginx"), port, false, &hooks).expect("nginx-rtmp");
    let events = Events::subscribe(&h);
    let room = |name: &str| call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string())).1;
    let (expiring, a) = (room("expiring"), room("A"));
    let id = a["id"].as_str().unwrap().to_string();
    let key = a["key"]["key"].as_str().unwrap().to_string();
    let red = red_anchor_with_tone(&d);

    // A valid key: nginx lets the anchor in, the service pulls the stream and composes it.
    let anchor = publish_live(&red, port, &key);
    events.wait("publish_accepted", 20.0, |e| e["type"] == "publish_accepted" && e["room_id"] == id.as_str());
    wait_for("room A live", 20.0, || call("GET", &format!("{h}/rooms/{id}"), None).1["status"] == "live");
    let body = json!({"inputs": [{"room": id}], "size": "320x180"});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let hls = format!("{h}/sessions/{}/hls/index.m3u8", s["id"].as_str().unwrap());
    wait_segments(&hls);
    let red_now = || {
        let c = frame_rgb_url(&hls, 320, 180).at(160, 90);
        c[0] > 200 && c[1] < 60 && c[2] < 60
    };
    wait_for("the anchor's red, pulled from nginx", 30.0, &red_now);

    // A second publisher on the live key: refused, and the first goes on (nginx reports the end
    // of the one it refused as well).
    assert!(refused_by_nginx(&red, port, &key), "nginx let a second publisher in on a live key");
    events.wait("the second publisher's refusal", 10.0, |e| {
        e["type"] == "publish_refused" && e["reason"] == "this stream key is already publishing"
    });
    let before = segments(&authed(&hls).call().unwrap().into_string().unwrap()).keys().max().copied();
    wait_for("a new segment", 20.0, || {
        segments(&authed(&hls).call().unwrap().into_string().unwrap()).keys().max().copied() > before
    });
    assert_eq!(call("GET", &format!("{h}/rooms/{id}"), None).1["status"], "live", "the first publisher goes on");
    assert!(red_now(), "and is still composed");
    assert!(!events.all().iter().any(|e| e["type"] == "publish_ended"), "nothing ended");

    // Another source of the room, published OBS's way (stream KEY/camera), pulled and shown.
    let blue = clip(&d, "blue.flv", &Clip::new("color=c=0x0000ff:size=320x180:rate=30", 4.0).args(&LIVE_GOP));
    let camera = kit::Proc(
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(&blue)
            .args(["-c", "copy", "-f", "flv", "-rtmp_playpath", &format!("{key}/camera")])
            .arg(format!("rtmp://127.0.0.1:{port}/live"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    events.wait("the camera", 20.0, |e| e["type"] == "publish_accepted" && e["source"] == "camera");
    let show = json!({"name": "camera"}).to_string();
    wait_for("the camera shown", 20.0, || call("POST", &format!("{h}/rooms/{id}/source"), Some(&show)).0 == 200);
    wait_for("the camera's blue, pulled from nginx", 30.0, || {
        let c = frame_rgb_url(&hls, 320, 180).at(160, 90);
        c[2] > 200 && c[0] < 60 && c[1] < 60
    });

    // The callbacks take nginx's secret only.
    for url in [format!("{h}/ingest/nginx/on_publish"), format!("{h}/ingest/nginx/on_publish?secret=wrong")] {
        let r = ureq::post(&url).send_form(&[("app", "live"), ("name", a["key"]["key"].as_str().unwrap())]);
        assert!(matches!(r, Err(ureq::Error::Status(401, _))), "{url}: {r:?}");
    }

    // The anchor's main source stops: nginx's on_publish_done ends it here (the camera goes on).
    drop(anchor);
    events.wait("publish_ended", 20.0, |e| {
        e["type"] == "publish_ended" && e["room_id"] == id.as_str() && e["source"] == "main"
    });
    let (_, r) = call("GET", &format!("{h}/rooms/{id}"), None);
    let sources = r["sources"].to_string();
    assert!(!sources.contains("\"main\"") && sources.contains("\"camera\""), "main ended, the camera goes on: {r}");
    drop(camera);

    // A wrong key: nginx refuses the publisher, on the service's answer.
    assert!(refused_by_nginx(&red, port, "sk_00000000000000000000000000000000"), "nginx let a wrong key in");
    let refused = events.wait("the wrong key's refusal", 10.0, |e| {
        e["type"] == "publish_refused" && e["reason"] == "unknown stream key"
    });
    assert!(!refused.to_string().contains("sk_00000000000000000000000000000000"), "the key is redacted: {refused}");

    // An expired key: refused by nginx too.
    let expires = expiring["key"]["expires_at"].as_i64().unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    wait_for("the key's expiry", (KEY_TTL_S + 5) as f64, || now() > expires);
    assert!(refused_by_nginx(&red, port, expiring["key"]["key"].as_str().unwrap()), "nginx let an expired key in");
    events.wait("the expired key's refusal", 10.0, |e| {
        e["type"] == "publish_refused" && e["reason"] == "stream key expired"
    });
    // No key, and not the callbacks' secret, in the service's log.
    let logged = std::fs::read_to_string(&log).unwrap();
    for secret in [key.as_str(), expiring["key"]["key"].as_str().unwrap(), SECRET] {
        assert!(!logged.contains(secret), "{secret} is in the log:\n{logged}");
    }
}
