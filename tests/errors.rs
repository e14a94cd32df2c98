//! The service's error model and its state across versions, against a real `costream serve`:
//! server faults answer 5xx with their code (never a 400 that blames the caller), invitation
//! events reach `/events`, and a database made before schema migrations is upgraded in place.

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_session_without_a_usable_gpu_is_refused_with_503_and_its_code_and_a_bad_input_with_400() {
    let d = workdir("errors-gpu");
    // No adapter matches this name: the job cannot get a GPU.
    let svc =
        start_with_env(&d.join("db.sqlite"), &["--allow-private-inputs"], &[("WGPU_ADAPTER_NAME", "no-such-gpu")]);
    let h = &svc.http;
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let req = json!({"inputs": [{"room": room["id"]}], "size": "320x180"});
    let (st, body) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["error"]["code"], "gpu_unavailable", "{body}");
    let (_, list) = call("GET", &format!("{h}/sessions"), None);
    assert_eq!(list, json!([]), "a refused session is not left behind");
    drop(svc);

    // The same request on a machine with a GPU (lavapipe here) works; an input nobody serves is
    // the caller's fault, and so is one the service will not open at all.
    let svc = start_with(&d.join("db.sqlite"), &["--allow-private-inputs"]);
    let h = &svc.http;
    let (st, body) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{body}");
    let nobody = json!({"inputs": [{"url": format!("rtmp://127.0.0.1:{}/live/x", free_port())}], "size": "320x180"});
    let (st, body) = call("POST", &format!("{h}/sessions"), Some(&nobody.to_string()));
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["code"], "input_unavailable", "{body}");
    let file = json!({"inputs": [{"url": d.join("db.sqlite").to_str().unwrap()}], "size": "320x180"});
    let (st, body) = call("POST", &format!("{h}/sessions"), Some(&file.to_string()));
    assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{body}");
    let (_, list) = call("GET", &format!("{h}/sessions"), None);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "only the session that opened: {list}");
}

#[test]
fn invitation_events_reach_the_event_stream_under_serve() {
    let d = workdir("errors-invite-events");
    let svc = start(&d.join("db.sqlite"));
    let h = &svc.http;
    let events = Events::subscribe(h);
    let (_, a) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (_, b) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"B"}"#));
    let req = json!({"from": {"room": a["id"]}, "to": {"room": b["id"]}, "size": "640x180", "timeout_s": 60});
    let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&req.to_string()));
    assert_eq!(st, 201, "{inv}");
    let id = inv["id"].as_str().unwrap().to_string();
    let is = |e: &serde_json::Value, state: &str| {
        e["type"] == "invitation" && e["invitation_id"] == id.as_str() && e["state"] == state
    };
    events.wait("the invitation's pending event", 10.0, |e| is(e, "pending"));
    assert_eq!(call("POST", &format!("{h}/invitations/{id}/accept"), None).0, 200);
    let accepted = events.wait("the invitation's accepted event", 10.0, |e| is(e, "accepted"));
    assert_eq!(accepted["session_id"], inv["session"], "{accepted}");
    assert_eq!(call("POST", &format!("{h}/invitations/{id}/hangup"), None).0, 200);
    events.wait("the invitation's ended event", 10.0, |e| is(e, "ended"));
}

#[test]
fn a_database_from_before_migrations_is_upgraded_in_place_with_its_rows_kept() {
    let d = workdir("errors-upgrade");
    let db = d.join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(include_str!("data/schema_before_migrations.sql")).unwrap();
        let far = 4_000_000_000i64;
        c.execute_batch(&format!(
            "INSERT INTO rooms VALUES ('room_old', 'Old room', 'costream', 1700000000);
             INSERT INTO stream_keys VALUES ('sk_old', 'room_old', 1700000000, {far}, 0);
             INSERT INTO destinations VALUES ('dst_old', 'room_old', 'rtmp://example.invalid/live/k', 1700000000);
             INSERT INTO channels VALUES ('ch_old', '{{\"levels\":[10]}}');
             INSERT INTO viewer_points VALUES ('ch_old', 'viewer1', 12.5);"
        ))
        .unwrap();
        let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 0, "the old schema has no version");
    }
    let svc = start(&db);
    let h = &svc.http;
    let (st, room) = call("GET", &format!("{h}/rooms/room_old"), None);
    assert_eq!(st, 200, "{room}");
    assert_eq!(room["name"], "Old room");
    assert_eq!(room["key"]["key"], "sk_old", "the stream key is kept: {room}");
    let (_, dst) = call("GET", &format!("{h}/rooms/room_old/destinations"), None);
    assert_eq!(dst[0]["id"], "dst_old", "{dst}");
    let (st, ch) = call("GET", &format!("{h}/channels/ch_old"), None);
    assert_eq!(st, 200, "the channel's rules are kept: {ch}");
    // New rows go in next to the old ones.
    let (st, _) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"New room"}"#));
    assert_eq!(st, 201);
    drop(svc);
    let c = rusqlite::Connection::open(&db).unwrap();
    let v: usize = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, costream::store::schema_version(), "stamped with the newest schema step");
    let index: i64 = c
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'destinations_room'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(index, 1, "the newest step ran");
    let rooms: i64 = c.query_row("SELECT count(*) FROM rooms", [], |r| r.get(0)).unwrap();
    assert_eq!(rooms, 2);
    let points: f64 =
        c.query_row("SELECT points FROM viewer_points WHERE token = 'viewer1'", [], |r| r.get(0)).unwrap();
    assert_eq!(points, 12.5);
}
