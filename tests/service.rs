//! `costream serve` as a real process: HTTP API over loopback, RTMP publishers made with ffmpeg,
//! SQLite on disk across a restart.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use costream::testsrc::Clip;
use serde_json::{json, Value};

struct Service {
    child: Child,
    http: String,
    rtmp_port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &Path) -> Service {
    let (hp, rp) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args(["serve", "--http", &format!("127.0.0.1:{hp}"), "--rtmp", &format!("127.0.0.1:{rp}"), "--db"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = format!("http://127.0.0.1:{hp}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{http}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Service { child, http, rtmp_port: rp }
}

/// (status, JSON body) of a request; error statuses are returned, not raised.
fn call(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let req = ureq::request(method, url).set("content-type", "application/json");
    let r = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Publishes `clip` in real time; returns whether ffmpeg succeeded.
fn publish(clip: &Path, port: u16, key: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(clip)
        .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/{key}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn publish_fails(clip: &Path, port: u16, key: &str) -> bool {
    !publish(clip, port, key).wait().unwrap().success()
}

#[test]
fn rooms_keys_and_errors_over_http_and_rtmp() {
    let d = workdir("service");
    let db = d.join("costream.sqlite");
    let short = clip(&d, "short.flv", &Clip::new("testsrc2=size=320x180:rate=30", 0.5));
    let clip = clip(&d, "a.flv", &Clip::new("testsrc2=size=320x180:rate=30", 2.0).with_audio("sine=frequency=440:sample_rate=48000"));
    let svc = start(&db);
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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, r) = call("GET", &format!("{h}/rooms/{id}"), None);
        if r["status"] == "live" {
            break;
        }
        assert!(Instant::now() < deadline, "room never went live: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    std::thread::sleep(Duration::from_millis(2100));
    assert!(publish_fails(&short, svc.rtmp_port, r2["key"]["key"].as_str().unwrap()), "expired key accepted");
    let (_, r2v) = call("GET", &format!("{h}/rooms/{}", r2["id"].as_str().unwrap()), None);
    assert_eq!(r2v["status"], "key_expired");

    // Destinations.
    let (st, dst) = call("POST", &format!("{h}/rooms/{id}/destinations"), Some(&json!({"url": "rtmp://push.example/app/KEY"}).to_string()));
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
    let svc = start(&db);
    let (_, again) = call("GET", &format!("{}/rooms/{id}", svc.http), None);
    assert_eq!(again["key"]["key"], key2.as_str());
    let (_, dsts) = call("GET", &format!("{}/rooms/{id}/destinations", svc.http), None);
    assert_eq!(dsts[0]["url"], "rtmp://push.example/app/KEY");
    assert!(publish(&short, svc.rtmp_port, &key2).wait().unwrap().success(), "key works after restart");
}
