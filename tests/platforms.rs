//! Rooms on several platforms: this service, a generic rtmp platform (nginx-rtmp, its keys issued
//! by a signed webhook) and YouTube (a local server speaking the Live Streaming API v3 shapes,
//! its ingestion address a second nginx-rtmp). One publisher reaches all three; a key that
//! expires during the show is replaced and only that push reconnects; platform audience comes in
//! by polling and by signed pushes.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::fake_http::{self, Request};
use common::*;
use costream::session::unlock::sign;
use serde_json::{json, Value};

const YT_TOKEN: &str = "ya29.platform-test-oauth-token";
const HOOK_SECRET: &str = "rtmp-platform-hook-secret";
const PUSH_SECRET: &str = "third-party-audience-secret";

/// YouTube's API as the tests need it: streams, one broadcast per room, bind, transition,
/// status and concurrentViewers; every call must carry the OAuth token.
fn youtube(ingest: String, viewers: Arc<AtomicU64>) -> (String, Arc<Mutex<Vec<String>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (log, n, live) = (calls.clone(), AtomicU64::new(0), Arc::new(Mutex::new(HashMap::<String, bool>::new())));
    let base = fake_http::serve(move |r: &Request| {
        log.lock().unwrap().push(format!("{} {}", r.method, r.path));
        if r.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {YT_TOKEN}")) {
            return (401, json!({"error": {"code": 401, "message": "Invalid Credentials"}}).to_string());
        }
        let i = n.fetch_add(1, Ordering::SeqCst);
        let id = r.query.get("id").cloned().unwrap_or_default();
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/youtube/v3/liveStreams") => (200, json!({"kind": "youtube#liveStream", "id": format!("stream{i}"),
                "cdn": {"ingestionType": "rtmp", "ingestionInfo": {"streamName": format!("ytkey{i}"), "ingestionAddress": ingest}}}).to_string()),
            ("POST", "/youtube/v3/liveBroadcasts") => (200, json!({"kind": "youtube#liveBroadcast", "id": format!("bc{i}"), "status": {"lifeCycleStatus": "created"}}).to_string()),
            ("POST", "/youtube/v3/liveBroadcasts/bind") => (200, json!({"id": id}).to_string()),
            ("POST", "/youtube/v3/liveBroadcasts/transition") => {
                live.lock().unwrap().insert(id.clone(), true);
                (200, json!({"id": id, "status": {"lifeCycleStatus": "live"}}).to_string())
            }
            ("GET", "/youtube/v3/liveBroadcasts") => {
                let s = if live.lock().unwrap().get(&id).copied().unwrap_or(false) { "live" } else { "ready" };
                (200, json!({"items": [{"id": id, "status": {"lifeCycleStatus": s}}]}).to_string())
            }
            ("GET", "/youtube/v3/videos") => (200, json!({"items": [{"id": id, "liveStreamingDetails":
                {"concurrentViewers": viewers.load(Ordering::SeqCst).to_string()}}]}).to_string()),
            ("DELETE", "/youtube/v3/liveStreams") | ("DELETE", "/youtube/v3/liveBroadcasts") => (204, String::new()),
            _ => (404, json!({"error": {"code": 404}}).to_string()),
        }
    });
    (format!("{base}/youtube/v3"), calls)
}

/// A generic platform's key webhook: the first key of a room lives `first_ttl_s`, later ones an
/// hour; calls must be signed.
fn key_hook(first_ttl_s: i64) -> (String, Arc<Mutex<Vec<Value>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let url = fake_http::serve(move |r: &Request| {
        let ts = r.headers.get("x-timestamp").cloned().unwrap_or_default();
        let want = sign(HOOK_SECRET.as_bytes(), format!("{ts}.{}", r.body).as_bytes());
        if r.headers.get("x-signature") != Some(&want) {
            return (401, "{}".into());
        }
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        let mut l = log.lock().unwrap();
        l.push(body);
        let ttl = if l.len() == 1 { first_ttl_s } else { 3600 };
        (200, json!({"key": format!("rt-stream-key-{}", l.len()), "expires_in_s": ttl}).to_string())
    });
    (format!("{url}/hook"), asked)
}

fn platforms_of(h: &str, room: &str) -> HashMap<String, Value> {
    let (st, v) = call("GET", &format!("{h}/rooms/{room}/platforms"), None);
    assert_eq!(st, 200, "{v}");
    v.as_array().unwrap().iter().map(|p| (p["platform"].as_str().unwrap().to_string(), p.clone())).collect()
}

/// The done-when of platforms: one publisher reaches costream's HLS, an rtmp platform and YouTube;
/// the listing has each one's push server, masked key, live address, statuses and expiry; the
/// rtmp key expires during the show and is replaced, that push alone reconnecting; YouTube's
/// polled audience shows in the room's audience.
#[test]
fn a_room_on_three_platforms_reaches_each_and_survives_a_key_expiry() {
    let d = workdir("platforms");
    let (rtmp_peer, yt_peer) = (start_nginx(&d.join("nginx-rtmp")), start_nginx(&d.join("nginx-yt")));
    let yt_viewers = Arc::new(AtomicU64::new(37));
    let (yt_api, yt_calls) = youtube(format!("rtmp://127.0.0.1:{}/live", yt_peer.port), yt_viewers.clone());
    let (hook, hook_calls) = key_hook(45);
    let env = [("COSTREAM_SECRET_YT", YT_TOKEN), ("COSTREAM_SECRET_HOOK", HOOK_SECRET)];
    let log = d.join("service.log");
    let svc =
        start_logged_env(&d.join("db.sqlite"), &["--allow-private-outputs", "--youtube-api-url", &yt_api], &env, &log);
    let h = svc.http.clone();
    let events = Events::subscribe(&h);

    let server = format!("rtmp://127.0.0.1:{}/live", rtmp_peer.port);
    let add = |body: Value| call("POST", &format!("{h}/platforms"), Some(&body.to_string()));
    let (st, p) = add(json!({"id": "peer", "kind": "rtmp", "server": server, "webhook": hook,
        "signing": {"env": "COSTREAM_SECRET_HOOK"}, "live_address": "https://peer.example/{room}"}));
    assert_eq!(st, 201, "{p}");
    let (st, p) = add(json!({"id": "yt-main", "kind": "youtube", "token": {"env": "COSTREAM_SECRET_YT"}, "poll_s": 5}));
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["token"], json!({"env": "COSTREAM_SECRET_YT"}), "a secret is shown by where it is read: {p}");
    let (_, list) = call("GET", &format!("{h}/platforms"), None);
    let ids: Vec<&str> = list.as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, ["costream", "peer", "yt-main"]);
    assert!(!list.to_string().contains(YT_TOKEN) && !list.to_string().contains(HOOK_SECRET));

    let (st, room) =
        call("POST", &format!("{h}/rooms"), Some(r#"{"name":"三台同播","platforms":["costream","peer","yt-main"]}"#));
    assert_eq!(st, 201, "{room}");
    let id = room["id"].as_str().unwrap().to_string();
    let created: HashMap<String, Value> = room["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["platform"].as_str().unwrap().to_string(), p.clone()))
        .collect();
    assert_eq!(created["peer"]["stream_key"], "rt-stream-key-1", "the creating answer has the keys in full");
    assert_eq!(
        created["yt-main"]["push_server"].as_str(),
        Some(format!("rtmp://127.0.0.1:{}/live", yt_peer.port).as_str())
    );
    assert_eq!(hook_calls.lock().unwrap()[0]["action"], "create");
    let yt_key = created["yt-main"]["stream_key"].as_str().unwrap().to_string();
    assert!(yt_calls.lock().unwrap().iter().any(|c| c == "POST /youtube/v3/liveBroadcasts/bind"));

    let listed = platforms_of(&h, &id);
    for (p, v) in &listed {
        assert!(v["stream_key"].as_str().unwrap().starts_with('…'), "{p}: masked in listings: {v}");
        assert_eq!(v["status"], "not_started", "{p}: {v}");
        assert_eq!(v["key_status"], "valid", "{p}: {v}");
        assert!(v["push_server"].as_str().unwrap().starts_with("rtmp://"), "{v}");
        assert!(v["live_address"].is_string(), "{p}: {v}");
    }
    assert!(
        listed["peer"]["key_expires_at"].as_i64().is_some() && listed["costream"]["key_expires_at"].as_i64().is_some()
    );
    assert_eq!(
        listed["yt-main"]["live_address"].as_str(),
        Some(format!("https://www.youtube.com/watch?v=bc1").as_str())
    );
    let (_, reveal) = call("GET", &format!("{h}/rooms/{id}/platforms/peer/key"), None);
    assert_eq!(reveal["stream_key"], "rt-stream-key-1");

    // One publisher, one session: all three receive it.
    let red = red_anchor_with_tone(&d);
    let _anchor = publish_live(&red, svc.rtmp_port, room["key"]["key"].as_str().unwrap());
    let (st, s) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": id}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{s}");
    let peer_url = |k: &str| format!("rtmp://127.0.0.1:{}/live/{k}", rtmp_peer.port);
    let yt_url = format!("rtmp://127.0.0.1:{}/live/{yt_key}", yt_peer.port);
    wait_for("the rtmp platform receives video", 40.0, || has_video(&peer_url("rt-stream-key-1")));
    wait_for("YouTube's ingest receives video", 40.0, || has_video(&yt_url));
    let (_, viewer) = call("POST", &format!("{h}/rooms/{id}/viewers"), None);
    let watch = format!("{h}{}", viewer["url"].as_str().unwrap());
    wait_for("costream's viewer URL plays", 40.0, || has_video(&watch));
    for url in [peer_url("rt-stream-key-1"), yt_url.clone(), watch.clone()] {
        let p = probe_url(&url);
        assert_eq!(stream(&p, "video")["codec_name"], "h264", "{url}");
        assert_eq!(stream(&p, "audio")["codec_name"], "aac", "{url}");
    }
    wait_for("every platform reads live", 20.0, || platforms_of(&h, &id).values().all(|v| v["status"] == "live"));
    assert!(
        yt_calls.lock().unwrap().iter().any(|c| c == "POST /youtube/v3/liveBroadcasts/transition"),
        "YouTube was told"
    );

    // The rtmp key expires 45 s after issue (time for a slow machine to start the show first): it is replaced ahead of time; that push moves.
    let ev = events
        .wait("the key regenerated", 60.0, |e| e["type"] == "platform_key_regenerated" && e["platform"] == "peer");
    assert_eq!(ev["room_id"].as_str(), Some(id.as_str()));
    assert_eq!(hook_calls.lock().unwrap()[1]["action"], "regenerate");
    wait_for("the rtmp platform receives the new key's stream", 30.0, || has_video(&peer_url("rt-stream-key-2")));
    let after = platforms_of(&h, &id);
    assert_eq!(
        (after["peer"]["reconnects"].as_u64(), after["peer"]["key_status"].as_str()),
        (Some(1), Some("valid")),
        "{after:?}"
    );
    assert!(after["peer"]["stream_key"].as_str().unwrap() == "…ey-2", "{:?}", after["peer"]);
    for p in ["yt-main", "costream"] {
        assert_eq!(
            (after[p]["reconnects"].as_u64(), after[p]["dropped"].as_u64()),
            (Some(0), Some(0)),
            "{p}: {:?}",
            after[p]
        );
    }
    assert!(!events.all().iter().any(|e| e["type"] == "platform_key_expired"), "it never expired");
    let metrics = ureq::get(&format!("{h}/metrics"))
        .set("authorization", &format!("Bearer {}", token_for(&h).unwrap()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let hls: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            (l.starts_with("costream_output_dropped") || l.starts_with("costream_output_reconnects"))
                && l.contains("index.m3u8")
        })
        .collect();
    assert!(hls.len() >= 2, "the HLS output's counters: {metrics}");
    assert!(hls.iter().all(|l| l.ends_with(" 0")), "this service's HLS dropped nothing and never reconnected: {hls:?}");

    // YouTube's polled audience joins ours.
    let audience = |w: &str| call("GET", &format!("{h}/rooms/{id}/audience"), None).1[w].clone();
    wait_for("YouTube's concurrentViewers", 20.0, || audience("platforms").to_string().contains("\"online\":37"));
    yt_viewers.store(52, Ordering::SeqCst);
    wait_for("the next poll", 20.0, || audience("all_online").as_u64() >= Some(52));
    let timeline = audience("timeline");
    assert!(timeline.as_array().unwrap().iter().any(|m| m["platforms"]["yt-main"].as_u64() >= Some(37)), "{timeline}");

    // A platform the show is pushed to cannot be left while it is.
    let (st, b) = call("DELETE", &format!("{h}/rooms/{id}/platforms/peer"), None);
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("platform_live")), "{b}");

    // A room whose second platform fails is undone on the first too: its YouTube broadcast and
    // stream are deleted, and no room is left.
    let dead = fake_http::serve(|_r: &Request| (500, r#"{"error":"down"}"#.to_string()));
    let (st, p) = add(json!({"id": "dead", "kind": "rtmp", "server": server, "webhook": format!("{dead}/hook"),
        "signing": {"env": "COSTREAM_SECRET_HOOK"}}));
    assert_eq!(st, 201, "{p}");
    yt_calls.lock().unwrap().clear();
    let (st, b) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"undone","platforms":["yt-main","dead"]}"#));
    assert_eq!((st, b["error"]["code"].as_str()), (502, Some("platform_failed")), "{b}");
    let yt = yt_calls.lock().unwrap().clone();
    for c in ["POST /youtube/v3/liveBroadcasts", "DELETE /youtube/v3/liveBroadcasts", "DELETE /youtube/v3/liveStreams"]
    {
        assert!(yt.iter().any(|x| x == c), "{c} in {yt:?}");
    }
    let rooms = call("GET", &format!("{h}/rooms"), None).1;
    assert!(!rooms.to_string().contains("undone"), "{rooms}");

    // No secret and no platform key reaches the log or the events.
    let (log, events) = (std::fs::read_to_string(&log).unwrap(), serde_json::to_string(&events.all()).unwrap());
    assert!(log.contains("platform key regenerated"), "the log is the service's: {log}");
    for secret in [YT_TOKEN, HOOK_SECRET, "rt-stream-key-1", "rt-stream-key-2", &yt_key] {
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!events.contains(secret), "{secret} in the events");
    }
}

fn push(h: &str, platform: &str, body: &str, secret: &str, ts: i64) -> (u16, Value) {
    let sig = sign(secret.as_bytes(), format!("{ts}.{body}").as_bytes());
    let r = ureq::post(&format!("{h}/platforms/{platform}/audience"))
        .set("content-type", "application/json")
        .set("x-timestamp", &ts.to_string())
        .set("x-signature", &sig)
        .send_string(body);
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            (r.status(), serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null))
        }
        Err(e) => panic!("{e}"),
    }
}

/// A platform pushes its audience signed with its own secret: unsigned, badly signed, stale or
/// replayed pushes are refused and count nothing; signed counts and joins are counted.
#[test]
fn a_platform_pushes_its_audience_signed_and_only_signed_pushes_count() {
    let d = workdir("platform-audience");
    let svc =
        start_with_env(&d.join("db.sqlite"), &["--allow-private-outputs"], &[("COSTREAM_SECRET_PUSH", PUSH_SECRET)]);
    let h = svc.http.clone();
    let events = Events::subscribe(&h);
    let (st, p) = call(
        "POST",
        &format!("{h}/platforms"),
        Some(
            &json!({"id": "kuai", "kind": "rtmp",
        "server": "rtmp://127.0.0.1:1/live", "key": "pasted-key-0001", "signing": {"env": "COSTREAM_SECRET_PUSH"}})
            .to_string(),
        ),
    );
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["key_set"], true);
    assert!(p.get("key").is_none(), "a pasted key is not shown: {p}");
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A","platforms":["costream","kuai"]}"#));
    let id = room["id"].as_str().unwrap().to_string();
    let now = costream::store::now_s();
    let body = json!({"room": id, "count": 120}).to_string();
    let url = format!("{h}/platforms/kuai/audience");
    let unsigned = ureq::post(&url).set("content-type", "application/json").send_string(&body);
    assert!(matches!(unsigned, Err(ureq::Error::Status(401, _))), "unsigned");
    assert_eq!(push(&h, "kuai", &body, "wrong-secret", now).0, 401, "badly signed");
    assert_eq!(push(&h, "kuai", &body, PUSH_SECRET, now - 3600).0, 401, "stale");
    assert_eq!(push(&h, "other", &body, PUSH_SECRET, now).0, 401, "an unknown platform");
    let audience = || call("GET", &format!("{h}/rooms/{id}/audience"), None).1;
    assert_eq!(audience()["all_online"], 0, "refused pushes count nothing: {}", audience());

    assert_eq!(push(&h, "kuai", &body, PUSH_SECRET, now).0, 204);
    assert_eq!(push(&h, "kuai", &body, PUSH_SECRET, now).0, 409, "a replay");
    let a = audience();
    assert_eq!((a["all_online"].as_u64(), a["platforms"][0]["online"].as_u64()), (Some(120), Some(120)), "{a}");
    let joins = json!({"room": id, "joined": ["u1", "u2", "u3"], "left": []}).to_string();
    assert_eq!(push(&h, "kuai", &joins, PUSH_SECRET, now + 1).0, 204);
    let leaves = json!({"room": id, "joined": [], "left": ["u2"]}).to_string();
    assert_eq!(push(&h, "kuai", &leaves, PUSH_SECRET, now + 2).0, 204);
    let a = audience();
    let k = &a["platforms"][0];
    assert_eq!((k["online"].as_u64(), k["total"].as_u64(), k["peak"].as_u64()), (Some(2), Some(3), Some(120)), "{a}");
    let other_room = json!({"room": "room_nothere", "count": 5}).to_string();
    assert_eq!(push(&h, "kuai", &other_room, PUSH_SECRET, now + 3).0, 404, "a room not on the platform");

    // Regenerating a pasted key: a new one pasted in; asked of a platform with no webhook: 409.
    let regen = format!("{h}/rooms/{id}/platforms/kuai/key");
    assert_eq!(call("POST", &regen, None).0, 409);
    let (st, v) = call("POST", &regen, Some(r#"{"key":"pasted-key-0002","expires_at":1}"#));
    assert_eq!(
        (st, v["stream_key"].as_str(), v["key_status"].as_str()),
        (200, Some("pasted-key-0002"), Some("expired")),
        "{v}"
    );
    let ev = events.wait("the expired key's event", 10.0, |e| e["type"] == "platform_key_expired");
    assert_eq!((ev["platform"].as_str(), ev["room_id"].as_str()), (Some("kuai"), Some(id.as_str())));
    assert_eq!(call("DELETE", &format!("{h}/platforms/kuai"), None).0, 409, "a platform that carries a room stays");
    assert_eq!(call("DELETE", &format!("{h}/rooms/{id}/platforms/kuai"), None).0, 204, "the room leaves it");
    assert_eq!(call("DELETE", &format!("{h}/rooms/{id}/platforms/kuai"), None).0, 404);
    assert!(!platforms_of(&h, &id).contains_key("kuai"));
    assert_eq!(call("DELETE", &format!("{h}/platforms/kuai"), None).0, 204, "then the platform goes");
    let (_, doc) = call("GET", &format!("{h}/openapi.json"), None);
    for p in [
        "/platforms",
        "/platforms/{id}",
        "/platforms/{id}/audience",
        "/rooms/{id}/platforms",
        "/rooms/{id}/platforms/{p}",
        "/rooms/{id}/platforms/{p}/key",
    ] {
        assert!(doc["paths"][p].is_object(), "OpenAPI documents {p}");
    }
    assert!(doc["components"]["schemas"]["RoomPlatformView"].is_object());
    assert_eq!(call("POST", &format!("{h}/rooms"), Some(r#"{"name":"B","platforms":["nope"]}"#)).0, 404);
}
