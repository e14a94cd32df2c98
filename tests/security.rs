//! The service as an attacker on the network meets it: requests that set sizes past the frame, more
//! sessions than the service takes, a second publisher on a live key, a publisher that says nothing,
//! idle sockets, key guessing, and secrets that must not reach logs or events.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use costream::testsrc::Clip;
use serde_json::json;

fn live_clip(d: &Path) -> std::path::PathBuf {
    let gop = LIVE_GOP;
    clip(
        d,
        "live.flv",
        &Clip::new("testsrc2=size=320x180:rate=30", 2.0).with_audio("sine=frequency=440:sample_rate=48000").args(&gop),
    )
}

fn room(h: &str, name: &str) -> (String, String) {
    let (st, r) = call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string()));
    assert_eq!(st, 201, "{r}");
    (r["id"].as_str().unwrap().to_string(), r["key"]["key"].as_str().unwrap().to_string())
}

fn status(h: &str, room: &str) -> String {
    call("GET", &format!("{h}/rooms/{room}"), None).1["status"].as_str().unwrap_or("").to_string()
}

/// An RTMP client that shakes hands, connects to `live` and asks to publish on `key`, then sends
/// nothing at all.
fn silent_publisher(port: u16, key: &str) -> TcpStream {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    use rml_rtmp::sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
    };
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hs = Handshake::new(PeerType::Client);
    sock.write_all(&hs.generate_outbound_p0_and_p1().unwrap()).unwrap();
    let mut buf = vec![0u8; 8192];
    let rest = loop {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed the handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => sock.write_all(&response_bytes).unwrap(),
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                sock.write_all(&response_bytes).unwrap();
                break remaining_bytes;
            }
        }
    };
    let (mut session, initial) = ClientSession::new(ClientSessionConfig::new()).unwrap();
    let send = |results: Vec<ClientSessionResult>, sock: &mut TcpStream| -> Vec<ClientSessionEvent> {
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => sock.write_all(&p.bytes).unwrap(),
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                _ => {}
            }
        }
        events
    };
    send(initial, &mut sock);
    send(session.handle_input(&rest).unwrap(), &mut sock);
    let r = session.request_connection("live".into()).unwrap();
    send(vec![r], &mut sock);
    let mut wait_event = |session: &mut ClientSession, sock: &mut TcpStream, want: fn(&ClientSessionEvent) -> bool| loop {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed the connection");
        let results = session.handle_input(&buf[..n]).unwrap();
        if send(results, sock).iter().any(want) {
            return;
        }
    };
    wait_event(&mut session, &mut sock, |e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted));
    let r = session.request_publishing(key.to_string(), PublishRequestType::Live).unwrap();
    send(vec![r], &mut sock);
    wait_event(&mut session, &mut sock, |e| matches!(e, ClientSessionEvent::PublishRequestAccepted));
    sock
}

#[test]
fn a_pk_bar_past_the_frame_is_refused_and_the_service_stays_up() {
    let d = workdir("sec-rect");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    let (ra, _) = room(h, "A");
    let (st, ses) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": ra}], "size": "640x360"}).to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap();
    // The request that once made the service allocate 28.8 TB and abort.
    let (st, body) =
        call("PATCH", &format!("{h}/sessions/{id}/pk"), Some(r#"{"rect":[0,0,8,1000000],"countdown_s":60}"#));
    assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{body}");
    for bad in [
        r#"{"rect":[-5,0,100,20]}"#,
        r#"{"rect":[600,0,100,20]}"#,
        r#"{"text_size":100000}"#,
        r#"{"countdown_s":4000000000}"#,
    ] {
        assert_eq!(call("PATCH", &format!("{h}/sessions/{id}/pk"), Some(bad)).0, 400, "{bad}");
    }
    // A colour is parsed once, when it is given: a bad one is a 400 naming its field.
    let (st, body) = call("PATCH", &format!("{h}/sessions/{id}/pk"), Some(r##"{"colors_a":["red","#000000"]}"##));
    assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("colors_a"), "{body}");
    assert_eq!(call("GET", &format!("{h}/health"), None).0, 200);
    let (_, s) = call("GET", &format!("{h}/sessions/{id}"), None);
    assert_eq!(s["state"], "running", "{s}");
    assert!(s["pk"].is_null(), "nothing changed: {s}");
    // A bar inside the frame is taken.
    assert_eq!(
        call("PATCH", &format!("{h}/sessions/{id}/pk"), Some(r#"{"rect":[20,300,600,24],"countdown_s":60}"#)).0,
        200
    );
    // The invitation path checks the same.
    let (rb, _) = room(h, "B");
    let inv = json!({"from": {"room": ra}, "to": {"room": rb}, "size": "640x180", "pk": {"rect": [0, 0, 8, 1000000]}});
    let (st, body) = call("POST", &format!("{h}/invitations"), Some(&inv.to_string()));
    assert_eq!(st, 400, "{body}");
    assert_eq!(call("GET", &format!("{h}/health"), None).0, 200);
}

#[test]
fn sessions_past_the_cap_get_429_and_delete_returns_at_once() {
    let d = workdir("sec-caps");
    let svc = start_with(&d.join("db.sqlite"), &["--max-sessions", "2"]);
    let h = &svc.http;
    // A room's session runs until it is stopped, publisher or not.
    let (a, _) = room(h, "A");
    let req = json!({"inputs": [{"room": a}], "size": "320x180"}).to_string();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (st, s) = call("POST", &format!("{h}/sessions"), Some(&req));
        assert_eq!(st, 201, "{s}");
        ids.push(s["id"].as_str().unwrap().to_string());
    }
    let (st, body) = call("POST", &format!("{h}/sessions"), Some(&req));
    assert_eq!((st, body["error"]["code"].as_str()), (429, Some("too_many_sessions")), "{body}");
    for id in &ids {
        let t0 = Instant::now();
        assert_eq!(call("DELETE", &format!("{h}/sessions/{id}"), None).0, 204);
        assert!(t0.elapsed() < Duration::from_secs(1), "DELETE took {:?}", t0.elapsed());
    }
    // The places are free again.
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&req));
    assert_eq!(st, 201, "{s}");
}

#[test]
fn a_second_publish_on_a_live_key_is_refused_and_the_anchor_keeps_its_room() {
    let d = workdir("sec-hijack");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    let c = live_clip(&d);
    let (id, key) = room(h, "A");
    let _anchor = publish_live(&c, svc.rtmp_port, &key);
    wait_for("the anchor's room to go live", 10.0, || status(h, &id) == "live");
    let events = Events::subscribe(h);
    // The same key again: refused at publish time.
    let second = publish(&c, svc.rtmp_port, &key).wait().unwrap();
    assert!(!second.success(), "a second publisher on a live key was accepted");
    events.wait("the refusal on /events", 5.0, |e| e["type"] == "publish_refused");
    // The real anchor is untouched: its room stays live and its frames keep coming.
    let frames = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("costream_input_frames_total") && l.contains(&id))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let metrics = || authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
    let before = frames(&metrics());
    wait_for("the anchor's frames to keep coming", 5.0, || frames(&metrics()) > before + 30.0);
    assert_eq!(status(h, &id), "live");
}

#[test]
fn a_silent_publisher_does_not_hold_up_another_room() {
    let d = workdir("sec-silent");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    let c = live_clip(&d);
    let (_b, kb) = room(h, "B");
    let (rc, kc) = room(h, "C");
    // B is accepted and then says nothing; its decoder waits for media that never comes.
    let _silent = silent_publisher(svc.rtmp_port, &kb);
    let t0 = Instant::now();
    let _anchor = publish_live(&c, svc.rtmp_port, &kc);
    wait_for("room C to go live", 10.0, || status(h, &rc) == "live");
    assert!(t0.elapsed() < Duration::from_secs(2), "room C went live {:?} after its publish", t0.elapsed());
}

#[test]
fn idle_sockets_are_closed_at_their_deadlines() {
    let d = workdir("sec-idle");
    let svc = start(&d.join("db.sqlite"));
    let port: u16 = svc.http.rsplit(':').next().unwrap().parse().unwrap();
    // RTMP: a connection that never shakes hands. HTTP: a request whose headers never end, and an
    // authorised one whose body stops after 5 of its 100 bytes.
    let mut rtmp = TcpStream::connect(("127.0.0.1", svc.rtmp_port)).unwrap();
    let mut http = TcpStream::connect(("127.0.0.1", port)).unwrap();
    http.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut body = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let token = token_for(&svc.http).unwrap();
    write!(body, "POST /rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na").unwrap();
    let t0 = Instant::now();
    // A read that times out is not a close: a socket still open at 20 s fails the test.
    let closed_at = |sock: &mut TcpStream| closed_within(sock, t0, 20.0).expect("the socket is still open after 20 s");
    body.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = [0u8; 12];
    body.read_exact(&mut answer).unwrap();
    let b = t0.elapsed();
    assert_eq!(&answer, b"HTTP/1.1 408", "a body that stops is answered 408");
    assert!(
        b >= Duration::from_secs(9) && b < Duration::from_secs(15),
        "the body was given up after {b:?}; its deadline is 10 s"
    );
    let (h, r) = (closed_at(&mut http), closed_at(&mut rtmp));
    assert!(
        h >= Duration::from_secs(9) && h < Duration::from_secs(15),
        "HTTP closed after {h:?}; the header deadline is 10 s"
    );
    assert!(
        r >= Duration::from_secs(9) && r < Duration::from_secs(15),
        "RTMP closed after {r:?}; the handshake deadline is 10 s"
    );
}

#[test]
fn keys_and_push_urls_never_reach_logs_or_events_and_key_guessing_is_throttled() {
    let d = workdir("sec-secrets");
    let log = d.join("serve.log");
    let svc = start_logged(&d.join("db.sqlite"), &["--allow-private-outputs", "--allow-private-inputs"], &log);
    let h = &svc.http;
    let c = live_clip(&d);
    let events = Events::subscribe(h);
    let guessed = "sk_guessed0123456789abcdef";
    for _ in 0..25 {
        let _ = publish(&c, svc.rtmp_port, guessed).wait();
    }
    // A session pushing to a destination nobody listens on: its failure is reported, its key not.
    let (ra, key_a) = room(h, "A");
    let _anchor = publish_live(&c, svc.rtmp_port, &key_a);
    // A pull URL with a password and a key that does not open: refused, neither logged.
    let pull = format!("rtmp://viewer:pull-pass-9d1e@127.0.0.1:{}/live/pull-key-5c2b", free_port());
    let (st, b) = call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"url": pull}]}).to_string()));
    assert_eq!((st, b["error"]["code"].as_str()), (400, Some("input_unavailable")), "{b}");
    let push = format!("rtmp://127.0.0.1:{}/live/push-secret-7f3a9c", free_port());
    let (st, s) = call(
        "POST",
        &format!("{h}/sessions"),
        Some(&json!({"inputs": [{"room": ra}], "size": "320x180", "outputs": [push]}).to_string()),
    );
    assert_eq!(st, 201, "{s}");
    events.wait("the dead destination on /events", 15.0, |e| e["type"] == "output_failed");
    let ev = serde_json::to_string(&events.all()).unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    let token = token_for(h).unwrap();
    for secret in [guessed, "push-secret-7f3a9c", token.as_str(), key_a.as_str(), "pull-pass-9d1e", "pull-key-5c2b"] {
        assert!(!ev.contains(secret), "{secret} in /events: {ev}");
        assert!(!logs.contains(secret), "{secret} in the log");
    }
    assert!(!s.to_string().contains("push-secret-7f3a9c"), "{s}");
    let refused = events.all().iter().filter(|e| e["type"] == "publish_refused").count();
    assert_eq!(refused, 1, "one refusal event per peer and minute, not one per attempt");
    assert_eq!(logs.matches("publish refused").count(), 1, "one log line per burst");
    assert!(logs.contains("throttled"), "the burst is named once it is throttled");
}

#[test]
fn inputs_and_outputs_that_name_files_or_internal_hosts_are_refused_without_a_connection() {
    let d = workdir("sec-urls");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    // A listener standing for an internal service: nothing may connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let inputs = [
        "concat:/etc/passwd|/etc/hostname".to_string(),
        "/etc/shadow".to_string(),
        "file:/etc/passwd".to_string(),
        "pipe:0".to_string(),
        "subfile:,start,0,end,100,:/etc/passwd".to_string(),
        format!("gopher://127.0.0.1:{port}/"),
        format!("tcp://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/latest/meta-data/iam/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("rtmp://localhost:{port}/live/x"),
        // A name that does not resolve now could resolve to an internal address at connect time.
        "rtmp://does-not-resolve.invalid/live/x".to_string(),
    ];
    for url in &inputs {
        let (st, body) = call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"url": url}]}).to_string()));
        assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{url}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            !msg.contains("No such file") && !msg.contains("Invalid data"),
            "the answer tells nothing about this machine: {msg}"
        );
    }
    let (ra, _) = room(h, "A");
    for out in
        [format!("rtmp://127.0.0.1:{port}/live/k"), "http://8.8.8.8/x".to_string(), "file:/tmp/out.flv".to_string()]
    {
        let (st, body) = call(
            "POST",
            &format!("{h}/sessions"),
            Some(&json!({"inputs": [{"room": ra}], "outputs": [out]}).to_string()),
        );
        assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{out}: {body}");
        let (st, _) = call("POST", &format!("{h}/rooms/{ra}/destinations"), Some(&json!({ "url": out }).to_string()));
        assert_eq!(st, 400, "destination {out}");
    }
    assert!(listener.accept().is_err(), "the service connected to the internal listener");
    let (_, list) = call("GET", &format!("{h}/sessions"), None);
    assert_eq!(list, json!([]), "nothing was started");
}

#[test]
fn every_protected_route_needs_a_token_and_an_anchor_token_reaches_its_own_room_only() {
    let d = workdir("sec-auth");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    let (a, _) = room(h, "A");
    let (b, _) = room(h, "B");
    let (_, ses) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": b}], "size": "320x180"}).to_string()));
    let ses_b = ses["id"].as_str().unwrap().to_string();
    let ask = json!({"question": "?", "options": ["x", "y"]}).to_string();
    let (st, poll) = call("POST", &format!("{h}/sessions/{ses_b}/polls"), Some(&ask));
    assert_eq!(st, 201, "{poll}");
    let poll_b = poll["id"].as_str().unwrap().to_string();
    let protected = [
        ("GET", "/rooms".to_string()),
        ("POST", "/rooms".to_string()),
        ("GET", format!("/rooms/{a}")),
        ("GET", format!("/rooms/{a}/destinations")),
        ("POST", format!("/rooms/{a}/key")),
        ("POST", format!("/rooms/{a}/pause")),
        ("POST", format!("/rooms/{a}/resume")),
        ("POST", format!("/rooms/{a}/source")),
        ("PUT", format!("/rooms/{a}/slate")),
        ("PATCH", format!("/rooms/{a}")),
        ("GET", format!("/rooms/{a}/slates/suggest")),
        ("GET", "/slates".to_string()),
        ("POST", "/slates".to_string()),
        ("GET", "/slates/slate_0123456789ab".to_string()),
        ("DELETE", "/slates/slate_0123456789ab".to_string()),
        ("GET", "/sessions".to_string()),
        ("POST", "/sessions".to_string()),
        ("GET", format!("/sessions/{ses_b}")),
        ("DELETE", format!("/sessions/{ses_b}")),
        ("GET", format!("/sessions/{ses_b}/hls/index.m3u8")),
        ("GET", format!("/sessions/{ses_b}/hls/recording.ts")),
        ("GET", format!("/sessions/{ses_b}/replay.m3u8")),
        ("GET", format!("/sessions/{ses_b}/replay/index_00000.ts")),
        ("POST", format!("/sessions/{ses_b}/replay/export")),
        ("GET", format!("/sessions/{ses_b}/replay.mp4")),
        ("POST", format!("/sessions/{ses_b}/comments")),
        ("POST", format!("/sessions/{ses_b}/polls")),
        ("GET", format!("/sessions/{ses_b}/polls")),
        ("POST", format!("/sessions/{ses_b}/inputs/0/pause")),
        ("POST", format!("/sessions/{ses_b}/inputs/0/resume")),
        ("GET", format!("/polls/{poll_b}")),
        ("POST", format!("/polls/{poll_b}/votes")),
        ("POST", format!("/polls/{poll_b}/close")),
        ("PUT", format!("/rooms/{a}/poll")),
        ("POST", format!("/rooms/{a}/viewers")),
        ("PUT", format!("/rooms/{a}/public")),
        ("GET", format!("/rooms/{a}/audience")),
        ("GET", format!("/rooms/{a}/audience/viewers")),
        ("GET", format!("/rooms/{a}/poll")),
        ("DELETE", format!("/rooms/{a}/poll")),
        ("GET", "/invitations".to_string()),
        ("POST", "/invitations".to_string()),
        ("GET", "/events".to_string()),
        ("GET", "/console/me".to_string()),
        ("GET", "/metrics".to_string()),
        ("GET", "/openapi.json".to_string()),
        ("GET", "/tokens".to_string()),
        ("PUT", "/channels/show".to_string()),
        ("POST", "/channels/show/viewers/v1/events".to_string()),
        ("GET", "/platforms".to_string()),
        ("POST", "/platforms".to_string()),
        ("GET", "/platforms/yt-main".to_string()),
        ("DELETE", "/platforms/yt-main".to_string()),
        ("GET", "/nodes".to_string()),
        ("POST", "/nodes/a/drain".to_string()),
        ("GET", format!("/rooms/{a}/platforms")),
        ("POST", format!("/rooms/{a}/platforms")),
        ("DELETE", format!("/rooms/{a}/platforms/yt-main")),
        ("GET", format!("/rooms/{a}/platforms/yt-main/key")),
        ("POST", format!("/rooms/{a}/platforms/yt-main/key")),
    ];
    for (m, p) in &protected {
        for token in [None, Some("cst_not_a_token")] {
            let (st, body) = call_as(token, m, &format!("{h}{p}"), Some("{}"));
            assert_eq!(
                (st, body["error"]["code"].as_str()),
                (401, Some("unauthorized")),
                "{m} {p} with {token:?}: {body}"
            );
        }
    }
    // A behaviour event: without a token 401; past what one report carries 400, and nothing counted.
    let ev = format!("{h}/channels/show/viewers/v1/events");
    assert_eq!(call_as(None, "POST", &ev, Some(r#"{"kind":"gift","value":1e12}"#)).0, 401);
    for over in
        [r#"{"kind":"gift","value":1e12}"#, r#"{"kind":"watch","seconds":86400}"#, r#"{"kind":"reading","percent":-5}"#]
    {
        assert_eq!(call("POST", &ev, Some(over)).0, 400, "{over}");
    }
    assert_eq!(call("GET", &format!("{h}/channels/show/viewers/v1"), None).1["points"], 0.0, "nothing was counted");
    // Open: health, and what carries its own signature.
    assert_eq!(call_as(None, "GET", &format!("{h}/health"), None).0, 200);
    // The payment callback carries its own signature: no token needed, it is reached (and says that
    // payments are off here).
    let (st, body) = call_as(None, "POST", &format!("{h}/payments/callback"), Some("{}"));
    assert_eq!((st, body["error"]["code"].as_str()), (503, Some("payments_off")), "{body}");
    // So do an RTMP tier's callbacks (a shared secret): with no tier configured, they say so.
    let (st, body) = call_as(None, "POST", &format!("{h}/ingest/nginx/on_publish?secret=x"), Some("app=live&name=k"));
    assert_eq!((st, body["error"]["code"].as_str()), (503, Some("nginx_off")), "{body}");
    // So do a moderator's answer and file URL: with no moderator configured, they say so.
    for (m, p) in [("POST", "/slates/slate_0123456789ab/moderation"), ("GET", "/slates/slate_0123456789ab/file")] {
        let (st, body) = call_as(None, m, &format!("{h}{p}"), Some("{}"));
        assert_eq!((st, body["error"]["code"].as_str()), (503, Some("moderation_off")), "{m} {p}: {body}");
    }

    // An anchor token of room A: its room, not B's; no operator routes.
    let (st, t) = call("POST", &format!("{h}/tokens"), Some(&json!({"role": "anchor", "room": a}).to_string()));
    assert_eq!(st, 201, "{t}");
    let anchor = t["token"].as_str().unwrap().to_string();
    let me = |m: &str, p: &str, body: Option<&str>| call_as(Some(&anchor), m, &format!("{h}{p}"), body);
    assert_eq!(me("GET", &format!("/rooms/{a}"), None).0, 200);
    let (_, list) = me("GET", "/rooms", None);
    assert_eq!(
        list.as_array().map(|l| l.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(a)]),
        "only its own room is listed"
    );
    for (m, p) in [
        ("GET", format!("/rooms/{b}")),
        ("POST", format!("/rooms/{b}/key")),
        ("POST", format!("/rooms/{b}/pause")),
        ("POST", format!("/rooms/{b}/resume")),
        ("POST", format!("/rooms/{b}/source")),
        ("PUT", format!("/rooms/{b}/slate")),
        ("PATCH", format!("/rooms/{b}")),
        ("GET", format!("/rooms/{b}/slates/suggest")),
        ("GET", format!("/sessions/{ses_b}")),
        ("DELETE", format!("/sessions/{ses_b}")),
        ("GET", format!("/sessions/{ses_b}/hls/index.m3u8")),
        ("GET", format!("/sessions/{ses_b}/replay.m3u8")),
        ("POST", format!("/sessions/{ses_b}/replay/export")),
        ("GET", format!("/sessions/{ses_b}/replay.mp4")),
        ("GET", format!("/sessions/{ses_b}/replay/index_00000.ts")),
        ("POST", format!("/sessions/{ses_b}/comments")),
        ("POST", format!("/sessions/{ses_b}/polls")),
        ("GET", format!("/sessions/{ses_b}/polls")),
        ("POST", format!("/sessions/{ses_b}/inputs/0/pause")),
        ("POST", format!("/sessions/{ses_b}/inputs/0/resume")),
        ("GET", format!("/polls/{poll_b}")),
        ("POST", format!("/polls/{poll_b}/votes")),
        ("POST", format!("/polls/{poll_b}/close")),
        ("PUT", format!("/rooms/{b}/poll")),
        ("POST", format!("/rooms/{b}/viewers")),
        ("PUT", format!("/rooms/{b}/public")),
        ("GET", format!("/rooms/{b}/audience")),
        ("GET", format!("/rooms/{b}/audience/viewers")),
        ("GET", format!("/rooms/{b}/poll")),
        ("DELETE", format!("/rooms/{b}/poll")),
        ("GET", format!("/rooms/{b}/platforms")),
        ("POST", format!("/rooms/{b}/platforms")),
        ("DELETE", format!("/rooms/{b}/platforms/yt-main")),
        ("GET", format!("/rooms/{b}/platforms/yt-main/key")),
        ("POST", format!("/rooms/{b}/platforms/yt-main/key")),
        ("POST", "/platforms".to_string()),
        ("GET", "/platforms/yt-main".to_string()),
        ("DELETE", "/platforms/yt-main".to_string()),
        ("GET", "/nodes".to_string()),
        ("POST", "/nodes/a/drain".to_string()),
    ] {
        assert_eq!(me(&m, &p, None).0, 403, "{m} {p}");
    }
    assert_eq!(me("GET", &format!("/rooms/{a}/platforms"), None).0, 200, "its own room's platforms");
    // A platform's audience push carries its own signature: without one, 401 and nothing counted.
    let (st, body) = call_as(None, "POST", &format!("{h}/platforms/yt-main/audience"), Some("{}"));
    assert_eq!((st, body["error"]["code"].as_str()), (401, Some("bad_signature")), "{body}");
    for p in ["/tokens", "/metrics", "/channels/show", "/slates", "/platforms"] {
        assert_eq!(me("GET", p, None).0, 403, "{p}");
    }
    let text_slate = r#"{"title":"brb","text":"back soon"}"#;
    assert_eq!(me("POST", "/slates", Some(text_slate)).0, 403, "the slate library is the operator's");
    let (st, slate) = call("POST", &format!("{h}/slates"), Some(text_slate));
    assert_eq!(st, 201, "{slate}");
    let slate = slate["id"].as_str().unwrap().to_string();
    assert_eq!(me("DELETE", &format!("/slates/{slate}"), None).0, 403);
    assert_eq!(me("GET", &format!("/slates/{slate}"), None).0, 403, "the slate library is the operator's");
    // Its own room's default slate it sets; B's it does not.
    let pick = json!({ "slate": slate }).to_string();
    assert_eq!(me("PUT", &format!("/rooms/{b}/slate"), Some(&pick)).0, 403);
    assert_eq!(me("PUT", &format!("/rooms/{a}/slate"), Some(&pick)).0, 200);
    assert_eq!(me("PATCH", &format!("/rooms/{a}"), Some(r#"{"title":"唱歌","tags":["music"]}"#)).0, 200);
    assert_eq!(me("GET", &format!("/rooms/{a}/slates/suggest"), None).1["pick"].as_str(), Some(slate.as_str()));
    assert_eq!(me("POST", "/rooms", Some(r#"{"name":"mine"}"#)).0, 403, "anchors do not create rooms");
    assert_eq!(call("GET", &format!("{h}/rooms/{b}"), None).1["paused"], json!(null), "B was not paused");
    assert_eq!(call("GET", &format!("{h}/polls/{poll_b}"), None).1["state"].as_str(), Some("open"), "B's poll is open");
    // Its own room it pauses and resumes.
    let (st, r) = me("POST", &format!("/rooms/{a}/pause"), None);
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some(slate.as_str())), "its default slate: {r}");
    assert_eq!(r["default_slate"].as_str(), Some(slate.as_str()), "{r}");
    let (st, r) = me("POST", &format!("/rooms/{a}/resume"), None);
    assert_eq!((st, &r["paused"]), (200, &json!(null)), "{r}");
    // Its own room's source it may switch (nobody publishes one: the switch is refused as such).
    let (st, r) = me("POST", &format!("/rooms/{a}/source"), Some(r#"{"name":"camera"}"#));
    assert_eq!((st, r["error"]["code"].as_str()), (409, Some("source_not_live")), "{r}");
    let (st, _) = me("POST", "/sessions", Some(&json!({"inputs": [{"room": b}]}).to_string()));
    assert_eq!(st, 403, "a session of another room");
    let (st, mine) = me("POST", "/sessions", Some(&json!({"inputs": [{"room": a}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{mine}");
    let (_, sessions) = me("GET", "/sessions", None);
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "only its own session is listed: {sessions}");
    // Its session shows its own room only, after a change too.
    let mine = mine["id"].as_str().unwrap();
    let to_b = json!({"inputs": [{"room": a}, {"room": b}]}).to_string();
    assert_eq!(me("PATCH", &format!("/sessions/{mine}"), Some(&to_b)).0, 403, "another room into its session");
    // It invites from its own room; the invited room's anchor (or an operator) answers, not it.
    let b_to_a = json!({"from": {"room": b}, "to": {"room": a}, "size": "320x180"}).to_string();
    assert_eq!(me("POST", "/invitations", Some(&b_to_a)).0, 403, "an invitation in another room's name");
    let a_to_b = json!({"from": {"room": a}, "to": {"room": b}, "size": "320x180", "timeout_s": 300}).to_string();
    let (st, inv) = me("POST", "/invitations", Some(&a_to_b));
    assert_eq!(st, 201, "{inv}");
    let inv = inv["id"].as_str().unwrap();
    for answer in ["accept", "decline"] {
        let (st, body) = me("POST", &format!("/invitations/{inv}/{answer}"), None);
        assert_eq!(st, 403, "the inviter answers for the invited room: {answer} {body}");
    }
    assert_eq!(call("GET", &format!("{h}/invitations/{inv}"), None).1["state"], "pending", "nothing changed");
    // Room B's own anchor answers it: the PK session starts.
    let (_, tb) = call("POST", &format!("{h}/tokens"), Some(&json!({"role": "anchor", "room": b}).to_string()));
    let anchor_b = tb["token"].as_str().unwrap();
    let (st, acc) = call_as(Some(anchor_b), "POST", &format!("{h}/invitations/{inv}/accept"), None);
    assert_eq!((st, acc["state"].as_str()), (200, Some("accepted")), "the invited room's anchor accepts: {acc}");
    let pk = acc["session"].as_str().unwrap();
    let (st, ses) = call_as(Some(anchor_b), "GET", &format!("{h}/sessions/{pk}"), None);
    assert_eq!(st, 200, "{ses}");
    assert!(ses["state"] != "failed" && ses["state"] != "stopped", "the PK session runs: {ses}");
    // Tokens are listed without themselves and can be revoked.
    let (_, tokens) = call("GET", &format!("{h}/tokens"), None);
    assert!(!tokens.to_string().contains(&anchor), "{tokens}");
    let id = t["id"].as_str().unwrap();
    assert_eq!(call("DELETE", &format!("{h}/tokens/{id}"), None).0, 204);
    assert_eq!(me("GET", &format!("/rooms/{a}"), None).0, 401, "a revoked token");
    // The database keeps a hash, not the token.
    let stored = stored_rows(&d.join("db.sqlite"), "SELECT hash FROM api_tokens");
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|s| !s.contains("cst_") && s.len() == 64), "{stored:?}");
}

#[test]
fn stopped_sessions_leave_no_files_behind_after_their_grace_or_a_restart() {
    let d = workdir("sec-cleanup");
    let db = d.join("db.sqlite");
    let hls = d.join("hls");
    let svc = start_with(&db, &["--hls-retention", "1"]);
    let h = &svc.http;
    let (a, _) = room(h, "A");
    let req = json!({"inputs": [{"room": a}], "size": "320x180"}).to_string();
    let (_, s1) = call("POST", &format!("{h}/sessions"), Some(&req));
    let (_, s2) = call("POST", &format!("{h}/sessions"), Some(&req));
    let (id1, id2) = (s1["id"].as_str().unwrap().to_string(), s2["id"].as_str().unwrap().to_string());
    assert!(hls.join(&id1).is_dir() && hls.join(&id2).is_dir());
    assert_eq!(call("DELETE", &format!("{h}/sessions/{id1}"), None).0, 204);
    wait_for("the stopped session's files to go after the 1 s grace", 10.0, || !hls.join(&id1).exists());
    // The second is still running when the service goes away: the next start resumes it and
    // keeps its files. Files of a session nothing will resume are cleared.
    drop(svc);
    let orphan = hls.join("ses_00000000dead");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("index_00001.ts"), b"old").unwrap();
    let _svc = start(&db);
    assert!(!orphan.exists(), "a session of the earlier run left its files");
    assert!(hls.join(&id2).is_dir(), "the resumed session keeps its files");
}

/// A behaviour report as the platform's backend sends it: `X-Timestamp` and an HMAC of
/// "<timestamp>.<body>" under the platform secret.
fn platform_report(url: &str, secret: &str, ts: i64, body: &str) -> u16 {
    let sig = costream::session::unlock::sign(secret.as_bytes(), format!("{ts}.{body}").as_bytes());
    match ureq::post(url)
        .set("content-type", "application/json")
        .set("x-timestamp", &ts.to_string())
        .set("x-signature", &sig)
        .send_string(body)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(c, _)) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn behaviour_counts_only_from_issued_viewer_tokens_signed_platform_reports_or_operators() {
    const PLATFORM: &str = "platform-secret-31c";
    let d = workdir("sec-behaviour");
    let svc = start_with_env(&d.join("db.sqlite"), &[], &[("COSTREAM_PLATFORM_SECRET", PLATFORM)]);
    let h = &svc.http;
    let (st, v) = call("POST", &format!("{h}/channels/show/viewers"), None);
    assert_eq!(st, 201, "{v}");
    let t = v["token"].as_str().unwrap().to_string();
    let points = || call("GET", &format!("{h}/channels/show/viewers/{t}"), None).1["points"].as_f64().unwrap();
    let ev = format!("{h}/channels/show/viewers/{t}/events");

    // Made-up and forged tokens count nothing.
    for fake in ["alice", "v1.1700000000.0011223344556677.00000000000000000000000000000000"] {
        let (st, body) =
            call_as(None, "POST", &format!("{h}/channels/show/viewers/{fake}/events"), Some(r#"{"kind":"like"}"#));
        assert_eq!(st, 401, "{fake}: {body}");
    }
    // The issued token is its own viewer page's credential: likes count, then get rate limited.
    assert_eq!(call_as(None, "POST", &ev, Some(r#"{"kind":"like"}"#)).0, 200);
    let statuses: Vec<u16> = (0..15).map(|_| call_as(None, "POST", &ev, Some(r#"{"kind":"like"}"#)).0).collect();
    assert!(statuses.contains(&429), "15 likes at once are throttled: {statuses:?}");
    let after_likes = points();
    let counted = 1 + statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(after_likes, counted as f64, "a point per like answered 200 ({statuses:?})");
    // No gifts from the page, and no more watch time than has passed since the token was issued.
    assert_eq!(call_as(None, "POST", &ev, Some(r#"{"kind":"gift","value":5}"#)).0, 403);
    assert_eq!(call_as(None, "POST", &ev, Some(r#"{"kind":"watch","seconds":600}"#)).0, 400);
    assert_eq!(points(), after_likes, "nothing counted");
    assert_eq!(call_as(None, "POST", &ev, Some(r#"{"kind":"watch","seconds":1}"#)).0, 200);

    // The platform's signed reports count once, while fresh.
    let now = costream::store::now_s();
    let gift = r#"{"kind":"gift","value":5}"#;
    let before = points();
    assert_eq!(platform_report(&ev, PLATFORM, now, gift), 200);
    assert!((points() - before - 5.0).abs() < 1e-9, "the gift counted");
    assert_eq!(platform_report(&ev, PLATFORM, now, gift), 409, "a replay");
    assert_eq!(platform_report(&ev, PLATFORM, now - 1000, gift), 401, "a stale timestamp");
    assert_eq!(platform_report(&ev, "not-the-secret", now, gift), 401, "a wrong secret");
    assert!((points() - before - 5.0).abs() < 1e-9, "nothing more counted");
}

/// The HLS playlist's media sequence and segment files, in order.
fn playlist(url: &str) -> (u64, Vec<String>, bool) {
    let text = authed(url).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default();
    let seq = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let files = text.lines().filter(|l| l.ends_with(".ts")).map(str::to_string).collect();
    (seq, files, text.contains("#EXT-X-DISCONTINUITY"))
}

#[test]
fn a_restart_keeps_a_running_session_going() {
    let d = workdir("sec-restart");
    let db = d.join("db.sqlite");
    let nginx = start_nginx(&d.join("nginx"));
    let _anchor = publish_live(&live_clip(&d), nginx.port, "in");
    let flags = ["--allow-private-inputs", "--allow-private-outputs"];
    let svc = start_with(&db, &flags);
    let h = svc.http.clone();
    let out = format!("rtmp://127.0.0.1:{}/live/out", nginx.port);
    let req = json!({"inputs": [{"url": format!("rtmp://127.0.0.1:{}/live/in", nginx.port)}], "size": "320x180", "outputs": [out]});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    wait_for("two segments", 30.0, || playlist(&format!("{h}/sessions/{id}/hls/index.m3u8")).1.len() >= 2);
    let (seq_before, files_before, _) = playlist(&format!("{h}/sessions/{id}/hls/index.m3u8"));
    let last_before = files_before.last().unwrap().clone();
    // A PK invitation waiting for its answer survives too.
    let anchor = json!({"url": format!("rtmp://127.0.0.1:{}/live/in", nginx.port)});
    let (st, inv) = call(
        "POST",
        &format!("{h}/invitations"),
        Some(&json!({"from": anchor, "to": anchor, "size": "320x180", "timeout_s": 300}).to_string()),
    );
    assert_eq!(st, 201, "{inv}");
    let inv = inv["id"].as_str().unwrap().to_string();
    let inv_created = Instant::now();

    // The process dies (no chance to write anything down on the way out) and comes back.
    drop(svc);
    // A session written down by the previous version: the API request that made it (format 1).
    let old = "ses_0123456789ab";
    let old_request = json!({"inputs": [{"url": format!("rtmp://127.0.0.1:{}/live/in", nginx.port)}], "size": "320x180", "fps": "25"});
    let store = costream::store::Store::connect(&db_arg(&db)).unwrap();
    let kind = costream::store::ResumeKind::Session;
    let (request, id_) = (old_request.to_string(), old.to_string());
    let r = costream::store::Resumable {
        id: id_.clone(),
        kind,
        request,
        format: 1,
        session_id: id_,
        state: None,
        pk: None,
        deadline_ms: None,
    };
    store.save_resumable(&r).unwrap();
    // And a PK invitation of the previous version, waiting for its answer.
    let old_inv = "inv_0123456789ab";
    let anchor_url = format!("rtmp://127.0.0.1:{}/live/in", nginx.port);
    let inv_request =
        json!({"from": {"url": anchor_url}, "to": {"url": anchor_url}, "size": "320x180", "timeout_s": 300});
    let deadline = Some(costream::store::now_ms() + 300_000);
    let kind = costream::store::ResumeKind::Invitation;
    let (id_, session_id) = (old_inv.to_string(), "ses_ba9876543210".to_string());
    let pending = Some("pending".to_string());
    let request = inv_request.to_string();
    let r = costream::store::Resumable {
        id: id_,
        kind,
        request,
        format: 1,
        session_id,
        state: pending,
        pk: None,
        deadline_ms: deadline,
    };
    store.save_resumable(&r).unwrap();
    drop(store);
    let svc = start_with(&db, &flags);
    let h = svc.http.clone();
    wait_for("the session to run again under its id", 30.0, || {
        let (st, s) = call("GET", &format!("{h}/sessions/{id}"), None);
        st == 200 && s["state"] == "running" && s["frames"].as_u64().unwrap_or(0) > 30
    });
    wait_for("the previous version's session to run", 30.0, || {
        let (st, s) = call("GET", &format!("{h}/sessions/{old}"), None);
        st == 200 && s["state"] == "running" && s["frames"].as_u64().unwrap_or(0) > 25
    });
    let upgraded = costream::store::Store::connect(&db_arg(&db)).unwrap().resumable(old).unwrap().expect("its record");
    assert_eq!(upgraded.format, 2, "upgraded to the session layer's record: {}", upgraded.request);
    assert!(upgraded.request.contains("\"spec\""), "{}", upgraded.request);
    assert_eq!(call("DELETE", &format!("{h}/sessions/{old}"), None).0, 204);
    let (st, i) = call("GET", &format!("{h}/invitations/{old_inv}"), None);
    assert_eq!((st, i["state"].as_str()), (200, Some("pending")), "the previous version's invitation: {i}");
    assert_eq!(call("DELETE", &format!("{h}/invitations/{old_inv}"), None).0, 200);
    // Its playlist goes on where it stopped (after a discontinuity), and its push is back.
    let url = format!("{h}/sessions/{id}/hls/index.m3u8");
    wait_for("new segments after the ones from before", 30.0, || {
        playlist(&url).1.last().is_some_and(|f| *f > last_before)
    });
    let (seq_after, files_after, discontinuity) = playlist(&url);
    assert!(
        seq_after >= seq_before && discontinuity,
        "sequence {seq_before} → {seq_after}, files {files_before:?} → {files_after:?}"
    );
    wait_for("the push destination to carry video again", 30.0, || has_video(&out));
    let (st, i) = call("GET", &format!("{h}/invitations/{inv}"), None);
    assert_eq!((st, i["state"].as_str()), (200, Some("pending")), "{i}");
    // It keeps the deadline it was given at its creation (not 300 s from the restart).
    let left = 300.0 - inv_created.elapsed().as_secs_f64();
    let expires = i["expires_in_s"].as_f64().unwrap();
    assert!((expires - left).abs() <= 2.0, "it keeps its deadline: {expires} s left, want {left:.1}: {i}");
    let (st, i) = call("POST", &format!("{h}/invitations/{inv}/accept"), None);
    assert_eq!((st, i["state"].as_str()), (200, Some("accepted")), "{i}");
    let pk = i["session"].as_str().unwrap().to_string();
    wait_for("the PK session to compose", 20.0, || {
        call("GET", &format!("{h}/sessions/{pk}"), None).1["frames"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(call("POST", &format!("{h}/invitations/{inv}/hangup"), None).0, 200);
    assert_eq!(call("DELETE", &format!("{h}/sessions/{pk}"), None).0, 204);
    // A session stopped on request is not resumed.
    assert_eq!(call("DELETE", &format!("{h}/sessions/{id}"), None).0, 204);
    drop(svc);
    let svc = start_with(&db, &flags);
    let h = svc.http.clone();
    let (_, list) = call("GET", &format!("{h}/sessions"), None);
    assert_eq!(list, json!([]), "stopped sessions stay stopped");
    assert_eq!(call("GET", &format!("{h}/invitations"), None).1, json!([]), "and so does an ended PK");
}

#[test]
fn a_room_feed_holds_no_more_decoded_frames_than_its_memory_budget() {
    let d = workdir("sec-feed-budget");
    // 1280x720 4:2:0 is 1.4 MB a frame; a 2 MB budget leaves room for one in the ring.
    let svc = start_with(&d.join("db.sqlite"), &["--ring-budget-mb", "2"]);
    let h = &svc.http;
    let gop = LIVE_GOP;
    let big = clip(&d, "720p.flv", &Clip::new("testsrc2=size=1280x720:rate=30", 3.0).args(&gop));
    let (r, key) = room(h, "A");
    let _anchor = publish_live(&big, svc.rtmp_port, &key);
    wait_for("the room to go live", 15.0, || status(h, &r) == "live");
    // A session shows the room: its reader's ring is what the budget sizes.
    let (st, s) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": r}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{s}");
    let held = || {
        let m = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix("costream_decoded_frame_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    wait_for("frames decoded", 15.0, || held() > 0.0);
    let metric = |name: &str| {
        let m = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
        m.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.trim().parse::<f64>().ok())
    };
    // The budget sized the reader's ring from the first frame: one 1.4 MB frame fits in 2 MB.
    assert_eq!(metric("costream_input_ring_frames{"), Some(1.0), "the ring's depth under a 2 MB budget");
    // Sampled for a while: the decoder keeps pushing, the ring keeps dropping the oldest. At most
    // two frames exist: the newest in the ring, and the one on screen until the next tick.
    let frame = 1280.0 * 720.0 * 1.5;
    let samples: Vec<f64> = (0..40)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            held() / frame
        })
        .collect();
    let most = samples.iter().copied().fold(0.0, f64::max);
    assert!(most <= 2.1, "frames held under a 2 MB budget (a 1.4 MB frame fits once): {samples:?}");
}

#[test]
fn a_chunk_stream_that_contradicts_itself_ends_only_its_own_connection() {
    let d = workdir("sec-chunks");
    let log = d.join("serve.log");
    let svc = start_logged(&d.join("db.sqlite"), &[], &log);
    let h = &svc.http;
    let (r, key) = room(h, "A");
    let mut s = TcpStream::connect(("127.0.0.1", svc.rtmp_port)).unwrap();
    s.write_all(&contradicting_chunk_stream()).unwrap();
    // Closed at once (the handshake and idle deadlines are 10 s and 30 s, so no deadline did it).
    let closed = closed_within(&mut s, Instant::now(), 5.0);
    assert!(closed.is_some(), "the connection is closed");
    // The ingest goes on: a real anchor publishes.
    let _anchor = publish_live(&live_clip(&d), svc.rtmp_port, &key);
    wait_for("room A to go live", 15.0, || status(h, &r) == "live");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("malformed chunk stream"), "the bad connection is logged as the peer's error");
}

fn health_ms(h: &str) -> f64 {
    let t = Instant::now();
    let r = ureq::get(&format!("{h}/health")).timeout(Duration::from_secs(5)).call();
    assert!(r.is_ok_and(|r| r.status() == 200), "/health answers");
    t.elapsed().as_secs_f64() * 1000.0
}

#[test]
fn a_trickled_body_gets_408_at_its_deadline_and_silent_connections_are_closed() {
    let d = workdir("sec-trickle");
    let svc = start(&d.join("db.sqlite"));
    let port: u16 = svc.http.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&svc.http).unwrap();
    // A 20-byte body, one byte every 2 s: each read is quick, the whole is not.
    let mut trickle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(trickle, "POST /rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n").unwrap();
    let t0 = Instant::now();
    let mut writer = trickle.try_clone().unwrap();
    std::thread::spawn(move || {
        for b in br#"{"name":"slowroom"}"#.iter().chain(b" ") {
            std::thread::sleep(Duration::from_secs(2));
            if writer.write_all(&[*b]).is_err() {
                return;
            }
        }
    });
    // 200 connections that never send a byte, and one kept alive after a request.
    let mut silent: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let mut kept = TcpStream::connect(("127.0.0.1", port)).unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut slowest: f64 = 0.0;
    while t0.elapsed() < Duration::from_secs(8) {
        slowest = slowest.max(health_ms(&svc.http));
    }
    assert!(slowest < 100.0, "/health took {slowest:.0} ms beside 200 silent connections");
    trickle.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = [0u8; 12];
    trickle.read_exact(&mut answer).unwrap();
    let at = t0.elapsed();
    assert_eq!(&answer, b"HTTP/1.1 408", "a trickled body is answered 408");
    assert!(at < Duration::from_secs(13), "the trickled body was given up after {at:?}; its deadline is 10 s");
    let (st, rooms) = call("GET", &format!("{}/rooms", svc.http), None);
    assert_eq!(st, 200);
    assert!(!rooms.to_string().contains("slowroom"), "the trickled request changed nothing: {rooms}");
    for (i, s) in silent.iter_mut().enumerate() {
        let at = closed_within(s, t0, 16.0).unwrap_or_else(|| panic!("silent connection {i} still open after 16 s"));
        assert!(at >= Duration::from_secs(9), "silent connection {i} closed after {at:?}, before its deadline");
    }
    let at = closed_within(&mut kept, t0, 16.0).expect("an idle kept-alive connection is closed");
    assert!(at >= Duration::from_secs(9), "the kept-alive connection closed after {at:?}");
    assert!(health_ms(&svc.http) < 100.0);
}

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let d = workdir("sec-peers");
    let svc = start_with(&d.join("db.sqlite"), &["--max-connections-per-peer", "4"]);
    let port: u16 = svc.http.rsplit(':').next().unwrap().parse().unwrap();
    // Five connections at once from one address, each asking for /health: at most four are
    // served (the test's own client may hold a pooled one too), the others are closed unheard
    // at once, well before the header deadline (10 s); none is left hanging.
    let mut held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let (mut served, mut refused) = (0, 0);
    for s in &mut held {
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").ok();
        s.set_read_timeout(Some(Duration::from_secs(9))).unwrap();
        let mut b = [0u8; 12];
        match std::io::Read::read(s, &mut b) {
            Ok(0) => refused += 1,
            Ok(_) if b.starts_with(b"HTTP/1.1 200") => served += 1,
            Ok(n) => panic!("unexpected answer {:?}", String::from_utf8_lossy(&b[..n])),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("a connection was neither served nor closed within 9 s")
            }
            Err(_) => refused += 1,
        }
    }
    assert!(served <= 4 && refused >= 1, "served {served}, refused {refused}");
    held.clear();
    wait_for("the address's connections to be free again", 10.0, || {
        ureq::get(&format!("{}/health", svc.http)).timeout(Duration::from_secs(1)).call().is_ok()
    });
}

#[test]
fn rooms_are_capped_and_a_valid_key_gets_in_from_an_address_that_guessed() {
    let d = workdir("sec-caps");
    let svc = start_with(&d.join("db.sqlite"), &["--max-rooms", "2"]);
    let h = &svc.http;
    let (ra, key) = room(h, "A");
    let (rb, _) = room(h, "B");
    let (st, e) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"C"}"#));
    assert_eq!((st, e["error"]["code"].as_str()), (429, Some("too_many_rooms")), "{e}");
    assert_eq!(
        call("GET", &format!("{h}/rooms"), None).1.as_array().unwrap().len(),
        2,
        "the refused room was not made"
    );
    assert_eq!(call("DELETE", &format!("{h}/rooms/{rb}"), None).0, 204);
    room(h, "C");
    // 25 wrong keys from this address (past the refusal limit of the minute), then the right one.
    let c = live_clip(&d);
    for _ in 0..25 {
        let _ = publish(&c, svc.rtmp_port, "sk_wrong0123456789abcdef").wait();
    }
    let _anchor = publish_live(&c, svc.rtmp_port, &key);
    wait_for("room A live from the address that guessed", 20.0, || status(h, &ra) == "live");
}

#[test]
fn a_bad_json_field_is_named_with_its_rule_not_the_parser() {
    let d = workdir("sec-json");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    for (body, field) in [
        (r#"{"inputs":[{"room":"a"}],"fps":true}"#, "fps"),
        (r#"{"inputs":[{"room":"a"}],"bitrate_kbps":"lots"}"#, "bitrate_kbps"),
    ] {
        let (st, e) = call("POST", &format!("{h}/sessions"), Some(body));
        assert_eq!((st, e["error"]["code"].as_str()), (400, Some("bad_json")), "{e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.starts_with(field), "the field is named first: {m}");
        for internal in ["Failed to deserialize", "line 1", "column", "untagged enum", "FpsWire", "u32", "f64"] {
            assert!(!m.contains(internal), "{internal:?} in {m}");
        }
    }
}

#[test]
fn a_destination_whose_name_turns_internal_after_its_check_reaches_nothing() {
    let d = workdir("sec-rebind");
    // A listener standing for an internal service, and a resolver the test controls: the name
    // answers a public address when the destination is checked and loopback when it is used.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let hosts = d.join("hosts");
    std::fs::write(&hosts, "rebind.test 198.18.0.7\n").unwrap();
    let svc = start_with(&d.join("db.sqlite"), &["--test-hosts", hosts.to_str().unwrap()]);
    let h = &svc.http;
    let (ra, key) = room(h, "A");
    assert_eq!(
        call(
            "POST",
            &format!("{h}/rooms/{ra}/destinations"),
            Some("{\"url\":\"rtmp://does-not-resolve.invalid/live/k\"}")
        )
        .0,
        400,
        "a name that does not resolve is refused"
    );
    let dst = format!("rtmp://rebind.test:{port}/live/k");
    let (st, r) = call("POST", &format!("{h}/rooms/{ra}/destinations"), Some(&json!({ "url": dst }).to_string()));
    assert_eq!(st, 201, "a name with a public answer passes its check: {r}");
    std::fs::write(&hosts, "rebind.test 127.0.0.1\n").unwrap();
    let events = Events::subscribe(h);
    let _anchor = publish_live(&live_clip(&d), svc.rtmp_port, &key);
    let (st, s) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": ra}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{s}");
    events.wait("the destination refused where it connects", 20.0, |e| e["type"] == "output_failed");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        assert!(listener.accept().is_err(), "a connection reached the internal listener");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_hundred_pending_invitations_share_the_rooms_decodes_and_give_their_memory_back() {
    let d = workdir("sec-invitations");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    let (ra, ka) = room(h, "A");
    let (rb, kb) = room(h, "B");
    let c = live_clip(&d);
    let (_pa, _pb) = (publish_live(&c, svc.rtmp_port, &ka), publish_live(&c, svc.rtmp_port, &kb));
    wait_for("both rooms live", 20.0, || status(h, &ra) == "live" && status(h, &rb) == "live");
    let body = json!({"from": {"room": ra}, "to": {"room": rb}, "timeout_s": 600}).to_string();
    let mib = |b: u64| b as f64 / 1048576.0;
    // n pending invitations, then all cancelled; the service's memory and threads at their most.
    let round = |n: usize| -> (u64, u64) {
        let ids: Vec<String> = (0..n)
            .map(|i| {
                let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&body));
                assert_eq!(st, 201, "invitation {i}: {inv}");
                inv["id"].as_str().unwrap().to_string()
            })
            .collect();
        let (_, list) = call("GET", &format!("{h}/invitations"), None);
        let pending: Vec<&serde_json::Value> =
            list.as_array().unwrap().iter().filter(|i| i["state"] == "pending").collect();
        assert_eq!(pending.len(), n);
        let prepared = pending.iter().filter(|i| i["prepared"] == true).count();
        assert_eq!(prepared, n.min(2), "the first ones compose ahead (warm_invitations is 2), the rest wait");
        let most = svc.rss_and_threads();
        for id in &ids {
            let (st, r) = call("DELETE", &format!("{h}/invitations/{id}"), None);
            assert_eq!((st, r["state"].as_str()), (200, Some("cancelled")), "{r}");
        }
        most
    };
    // Where it starts: a service that has composed (the GPU driver, its compiled kernels and the
    // fonts are loaded once per process and stay).
    round(2);
    let (rss0, threads0) = svc.rss_and_threads();
    for r in 0..2 {
        let (rss1, threads1) = round(100);
        eprintln!(
            "round {r}: 100 pending invitations: RSS {:.0} -> {:.0} MiB, threads {threads0} -> {threads1}",
            mib(rss0),
            mib(rss1)
        );
        assert!(rss1 < rss0 + (300 << 20), "RSS {:.0} -> {:.0} MiB for 100 pending invitations", mib(rss0), mib(rss1));
        assert!(threads1 < threads0 + 100, "threads {threads0} -> {threads1} for 100 pending invitations");
        wait_for("the memory back within 20 % of where it started", 30.0, || {
            svc.rss_and_threads().0 as f64 <= rss0 as f64 * 1.2
        });
        // (a few request threads of the runtime's pool may still be idling)
        wait_for("the sessions' threads gone", 30.0, || svc.rss_and_threads().1 <= threads0 + 4);
        eprintln!("round {r}: cancelled: RSS {:.0} MiB", mib(svc.rss_and_threads().0));
    }
}
