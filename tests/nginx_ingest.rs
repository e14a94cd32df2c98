//! An nginx-rtmp tier in front of the service, over real RTMP and HTTP: nginx's `on_publish` asks
//! the service whether a stream key may publish; a valid key's stream is pulled from nginx and
//! composed, a wrong or an expired key is refused by nginx itself, and nginx's `on_publish_done`
//! ends the room's stream. The callbacks refuse a missing or wrong secret.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const SECRET: &str = "nginx-callback-secret-9f2c";
/// A new key's life here: long enough for the first part, short enough to wait out.
const KEY_TTL_S: i64 = 20;

/// Publishes `clip` to nginx with `key` and says whether nginx refused it (ffmpeg gave up within
/// 10 s with an error; a publish nginx lets in plays the 4 s clip through and exits cleanly).
fn refused_by_nginx(clip: &std::path::Path, port: u16, key: &str) -> bool {
    let mut p = publish(clip, port, key);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = p.try_wait().unwrap() {
            return !st.success();
        }
        if Instant::now() > until {
            let _ = p.kill();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_key_published_to_nginx_is_checked_by_the_service_then_pulled_and_composed_and_bad_keys_are_refused_by_nginx() {
    let d = workdir("nginx-ingest");
    let port = free_port();
    let tier = format!("rtmp://127.0.0.1:{port}");
    let ttl = KEY_TTL_S.to_string();
    let args = ["--nginx-ingest-url", tier.as_str(), "--key-ttl", ttl.as_str()];
    let svc = start_with_env(&d.join("db.sqlite"), &args, &[("COSTREAM_NGINX_SECRET", SECRET)]);
    let h = svc.http.clone();
    let hook = |event: &str| format!(" {event} {h}/ingest/nginx/{event}?secret={SECRET};");
    let hooks = hook("on_publish") + &hook("on_publish_done");
    let _nginx = kit::start_nginx_at(&d.join("nginx"), port, false, &hooks).expect("nginx-rtmp");
    let events = Events::subscribe(&h);
    let room = |name: &str| call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string())).1;
    let (expiring, a) = (room("expiring"), room("A"));
    let id = a["id"].as_str().unwrap().to_string();
    let red = red_anchor_with_tone(&d);

    // A valid key: nginx lets the anchor in, the service pulls the stream and composes it.
    let anchor = publish_live(&red, port, a["key"]["key"].as_str().unwrap());
    events.wait("publish_accepted", 20.0, |e| e["type"] == "publish_accepted" && e["room_id"] == id.as_str());
    wait_for("room A live", 20.0, || call("GET", &format!("{h}/rooms/{id}"), None).1["status"] == "live");
    let body = json!({"inputs": [{"room": id}], "size": "320x180"});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let hls = format!("{h}/sessions/{}/hls/index.m3u8", s["id"].as_str().unwrap());
    wait_segments(&hls);
    wait_for("the anchor's red, pulled from nginx", 30.0, || {
        let c = frame_rgb_url(&hls, 320, 180).at(160, 90);
        c[0] > 200 && c[1] < 60 && c[2] < 60
    });

    // A wrong key: nginx refuses the publisher, on the service's answer.
    assert!(refused_by_nginx(&red, port, "sk_00000000000000000000000000000000"), "nginx let a wrong key in");
    let refused = events.wait("publish_refused", 10.0, |e| e["type"] == "publish_refused");
    assert_eq!(refused["reason"], "unknown stream key", "{refused}");
    assert!(!refused.to_string().contains("sk_00000000000000000000000000000000"), "the key is redacted: {refused}");

    // The callbacks take nginx's secret only.
    for url in [format!("{h}/ingest/nginx/on_publish"), format!("{h}/ingest/nginx/on_publish?secret=wrong")] {
        let r = ureq::post(&url).send_form(&[("app", "live"), ("name", a["key"]["key"].as_str().unwrap())]);
        assert!(matches!(r, Err(ureq::Error::Status(401, _))), "{url}: {r:?}");
    }

    // The anchor stops: nginx's on_publish_done ends the room's stream.
    drop(anchor);
    events.wait("publish_ended", 20.0, |e| e["type"] == "publish_ended" && e["room_id"] == id.as_str());
    wait_for("room A no longer live", 20.0, || call("GET", &format!("{h}/rooms/{id}"), None).1["status"] != "live");

    // An expired key: refused by nginx too.
    let expires = expiring["key"]["expires_at"].as_i64().unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    wait_for("the key's expiry", (KEY_TTL_S + 5) as f64, || now() > expires);
    assert!(refused_by_nginx(&red, port, expiring["key"]["key"].as_str().unwrap()), "nginx let an expired key in");
    events.wait("the expired key's refusal", 10.0, |e| {
        e["type"] == "publish_refused" && e["reason"] == "stream key expired"
    });
}
