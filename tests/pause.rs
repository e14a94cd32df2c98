//! Pausing a room over real RTMP, HTTP and FFmpeg: the slate in the room's tile from the next
//! frames on while the anchor is still heard, silence when muted, the anchor back at the resume,
//! and a pause that survives a restart and shows in a session whose anchor is not there.

mod common;

use common::*;
use costream::compose::slate::CARD_BACKGROUND;
use costream::testsrc::Clip;
use serde_json::json;

fn is_card(f: &Rgb) -> bool {
    let c = f.at(8, 8);
    (0..3).all(|k| (c[k] as i32 - CARD_BACKGROUND[k] as i32).abs() <= 14)
}

fn is_red(f: &Rgb) -> bool {
    let c = f.at(8, 8);
    c[0] > 200 && c[1] < 50 && c[2] < 50
}

#[test]
fn a_paused_room_shows_the_slate_keeps_its_sound_and_comes_back_and_the_pause_survives_a_restart() {
    let d = workdir("pause");
    let db = d.join("db.sqlite");
    let nginx = start_nginx(&d);
    let svc = start_with(&db, &["--allow-private-outputs"]);
    let h = svc.http.clone();
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    let red = red_anchor_with_tone(&d);
    let anchor = publish_live(&red, svc.rtmp_port, &key);
    let events = Events::subscribe(&h);
    // Pushed to an RTMP destination too, which must stay connected through the pause.
    let push = format!("rtmp://127.0.0.1:{}/live/paused", nginx.port);
    let body = json!({"inputs": [{"room": a}], "size": "320x180", "outputs": [push]});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let hls = format!("{h}/sessions/{id}/hls/index.m3u8");
    wait_segments(&hls);
    wait_for("the anchor's red", 30.0, || is_red(&frame_rgb_url(&hls, 320, 180)));

    // Bad pauses change nothing.
    let pause = format!("{h}/rooms/{a}/pause");
    let (st, body) = call("POST", &pause, Some(r#"{"audio":"loud"}"#));
    assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{body}");
    let (st, body) = call("POST", &pause, Some(r#"{"slate":"slate_nope"}"#));
    assert_eq!((st, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    assert_eq!(call("POST", &format!("{h}/rooms/room_nope/pause"), None).0, 404);
    assert_eq!(call("GET", &format!("{h}/rooms/{a}"), None).1["paused"], json!(null), "not paused");

    // Paused: the card in the room's tile, the anchor still heard.
    let (st, r) = call("POST", &pause, Some("{}"));
    assert_eq!(st, 200, "{r}");
    assert_eq!((r["paused"]["slate"].as_str(), r["paused"]["audio"].as_str()), (Some("system"), Some("keep")), "{r}");
    let since = r["paused"]["paused_since"].as_i64().expect("since");
    events.wait("room_paused", 5.0, |e| e["type"] == "room_paused" && e["room_id"] == a.as_str());
    wait_for("the slate", 20.0, || is_card(&frame_rgb_url(&hls, 320, 180)));
    wait_for("a whole segment of the slate", 20.0, || {
        let seg = newest_segment(&hls, &d);
        is_card(&frame_rgb(&seg, 0.0, 320, 180))
    });
    // (A machine too busy to mix every chunk in time can click in one segment: the next is clean.)
    let mut heard = Vec::new();
    let kept = kit::wait_until(std::time::Duration::from_secs(20), || {
        let seg = newest_segment(&hls, &d);
        let (rms, share) = tone(&samples(&seg), 440.0);
        heard.push((rms, share));
        is_card(&frame_rgb(&seg, 0.0, 320, 180)) && rms > 0.05 && share > 0.5
    });
    assert!(kept, "the anchor's tone goes on under the slate: (rms, 440 Hz share) per segment {heard:?}");
    // Muted: the slate, and silence on the same timeline.
    let (st, r) = call("POST", &pause, Some(r#"{"audio":"mute"}"#));
    assert_eq!(
        (st, r["paused"]["audio"].as_str(), r["paused"]["paused_since"].as_i64()),
        (200, Some("mute"), Some(since))
    );
    wait_for("a silent segment", 20.0, || tone(&samples(&newest_segment(&hls, &d)), 440.0).0 < 0.005);

    // Resumed: the anchor's picture and sound on the next frames they send.
    let (st, r) = call("POST", &format!("{h}/rooms/{a}/resume"), None);
    assert_eq!((st, &r["paused"]), (200, &json!(null)), "{r}");
    events.wait("room_resumed", 5.0, |e| e["type"] == "room_resumed" && e["room_id"] == a.as_str());
    wait_for("the anchor's red again", 20.0, || is_red(&frame_rgb_url(&hls, 320, 180)));
    wait_for("the anchor's tone again", 20.0, || tone(&samples(&newest_segment(&hls, &d)), 440.0).1 > 0.5);

    // The RTMP destination never reconnected, and what it received is one continuous stream.
    assert_pushed_as_one_stream(&h, &nginx, "paused", || {
        assert_eq!(call("DELETE", &format!("{h}/sessions/{id}"), None).0, 204);
    });

    // A pause survives a restart, and a session on the paused room shows the card even though
    // its anchor is not back.
    let (st, r) = call("POST", &pause, None);
    assert_eq!(st, 200, "{r}");
    let since = r["paused"]["paused_since"].as_i64().unwrap();
    drop(anchor);
    drop(svc);
    let svc = start(&db);
    let h = svc.http.clone();
    let (st, r) = call("GET", &format!("{h}/rooms/{a}"), None);
    assert_eq!((st, r["paused"]["paused_since"].as_i64()), (200, Some(since)), "{r}");
    let (st, s) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": a}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{s}");
    let hls = format!("{h}/sessions/{}/hls/index.m3u8", s["id"].as_str().unwrap());
    wait_segments(&hls);
    wait_for("the slate after the restart", 30.0, || is_card(&frame_rgb_url(&hls, 320, 180)));
}

fn colour_at(f: &Rgb, x: usize, y: usize, want: [u8; 3], tol: i32) -> bool {
    let c = f.at(x, y);
    (0..3).all(|k| (c[k] as i32 - want[k] as i32).abs() <= tol)
}

/// One anchor of a PK pauses: only their tile shows the slate, in both mirrored views; the other
/// anchor stays live; the resume brings them back in both.
#[test]
fn pausing_one_anchor_of_a_pk_changes_only_their_tile_in_both_views() {
    let d = workdir("pause-pk");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let gop = LIVE_GOP;
    let mut anchors = Vec::new();
    let mut rooms = Vec::new();
    for (name, colour) in [("A", "0xff0000"), ("B", "0x0000ff")] {
        let (st, room) = call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string()));
        assert_eq!(st, 201, "{room}");
        let c = clip(
            &d,
            &format!("{name}.flv"),
            &Clip::new(format!("color=c={colour}:size=320x180:rate=30"), 4.0).args(&gop),
        );
        anchors.push(publish_live(&c, svc.rtmp_port, room["key"]["key"].as_str().unwrap()));
        rooms.push(room["id"].as_str().unwrap().to_string());
    }
    let inv = json!({"from": {"room": rooms[0]}, "to": {"room": rooms[1]}, "size": "640x360", "timeout_s": 300});
    let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&inv.to_string()));
    assert_eq!(st, 201, "{inv}");
    assert_eq!(call("POST", &format!("{h}/invitations/{}/accept", inv["id"].as_str().unwrap()), None).0, 200);
    let ses = inv["session"].as_str().unwrap().to_string();
    let view = |v: &str| frame_rgb_url(&format!("{h}/sessions/{ses}/views/{v}/hls/index.m3u8"), 640, 360);
    let card = CARD_BACKGROUND;
    let (red, blue) = ([255, 0, 0], [0, 0, 255]);
    // View a: A left, B right; view b (B's room): B left, A right. Points near each tile's top.
    let shows = |v: &str, left: [u8; 3], right: [u8; 3]| {
        let f = view(v);
        colour_at(&f, 20, 20, left, 40) && colour_at(&f, 340, 20, right, 40)
    };
    for v in ["a", "b"] {
        wait_segments(&format!("{h}/sessions/{ses}/views/{v}/hls/index.m3u8"));
    }
    wait_for("both anchors live in both views", 40.0, || shows("a", red, blue) && shows("b", blue, red));
    assert_eq!(call("POST", &format!("{h}/rooms/{}/pause", rooms[1]), None).0, 200);
    wait_for("B's tile paused in both views", 20.0, || shows("a", red, card) && shows("b", card, red));
    let (_, s) = call("GET", &format!("{h}/sessions/{ses}"), None);
    assert_eq!(s["paused"][0]["room_id"].as_str(), Some(rooms[1].as_str()), "{s}");
    assert_eq!(s["paused"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(call("POST", &format!("{h}/rooms/{}/resume", rooms[1]), None).0, 200);
    wait_for("B back in both views", 20.0, || shows("a", red, blue) && shows("b", blue, red));
    drop(anchors);
}

fn is_green(f: &Rgb) -> bool {
    let c = f.at(8, 8);
    c[1] > 200 && c[0] < 60 && c[2] < 60
}

/// An absent anchor never stops the output: a session started before its anchor publishes, and
/// one resumed after a restart with its anchor not back, grow at one media second per wall
/// second showing the waiting card; an anchor gone longer than the hold is replaced by the slate
/// (with an event) and comes back on the next frame they send.
#[test]
fn an_absent_anchor_never_stops_the_output() {
    let d = workdir("absent");
    let db = d.join("db.sqlite");
    let hold = ["--anchor-hold", "2"];
    let svc = start_with(&db, &hold);
    let h = svc.http.clone();
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    let events = Events::subscribe(&h);
    let (st, s) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": a}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let hls = format!("{h}/sessions/{id}/hls/index.m3u8");
    wait_segments(&hls);
    let rate = media_per_wall_second(&hls, 8.0);
    assert!((rate - 1.0).abs() <= 0.05, "before the anchor: {rate:.3} media s per wall s");
    assert!(is_card(&frame_rgb_url(&hls, 320, 180)), "the waiting card");
    let (_, r) = call("GET", &format!("{h}/rooms/{a}"), None);
    assert_eq!((&r["away_since"], &r["paused"]), (&json!(null), &json!(null)), "{r}");

    // The anchor arrives, then leaves: their last frame, then the slate once the hold is over.
    let gop = LIVE_GOP;
    let colour = |name: &str, c: &str| {
        clip(
            &d,
            name,
            &Clip::new(format!("color=c={c}:size=320x180:rate=30"), 4.0)
                .with_audio("sine=frequency=440:sample_rate=48000")
                .args(&gop),
        )
    };
    let (red, green) = (colour("red.flv", "0xff0000"), colour("green.flv", "0x00ff00"));
    let anchor = publish_live(&red, svc.rtmp_port, &key);
    wait_for("the anchor's red", 30.0, || is_red(&frame_rgb_url(&hls, 320, 180)));
    drop(anchor);
    let ended = std::time::Instant::now();
    events.wait("publish_ended", 10.0, |e| e["type"] == "publish_ended" && e["room_id"] == a.as_str());
    let away = events.wait("room_away", 10.0, |e| e["type"] == "room_away" && e["room_id"] == a.as_str());
    assert_eq!(away["hold_s"], 2, "{away}");
    assert!(ended.elapsed().as_secs_f64() >= 1.5, "not before the hold is over: {away}");
    let (_, r) = call("GET", &format!("{h}/rooms/{a}"), None);
    assert_eq!(r["away_since"], away["since"], "{r}");
    wait_for("the slate in place of the anchor", 20.0, || is_card(&frame_rgb_url(&hls, 320, 180)));
    let rate = media_per_wall_second(&hls, 6.0);
    assert!((rate - 1.0).abs() <= 0.05, "while the anchor is away: {rate:.3} media s per wall s");

    // Back: the anchor's picture again, and the room is no longer away.
    let anchor = publish_live(&green, svc.rtmp_port, &key);
    wait_for("the anchor back in green", 30.0, || is_green(&frame_rgb_url(&hls, 320, 180)));
    assert_eq!(call("GET", &format!("{h}/rooms/{a}"), None).1["away_since"], json!(null));

    // A restart with the anchor gone: the resumed session shows the waiting card on time.
    drop(anchor);
    drop(svc);
    let svc = start_with(&db, &hold);
    let h = svc.http.clone();
    let hls = format!("{h}/sessions/{id}/hls/index.m3u8");
    let rate = media_per_wall_second(&hls, 8.0);
    assert!((rate - 1.0).abs() <= 0.05, "resumed without its anchor: {rate:.3} media s per wall s");
    assert!(is_card(&frame_rgb_url(&hls, 320, 180)), "the waiting card after the restart");
}

/// A masked session on a paused room: every viewer's rendition (a masked level and the open
/// picture) shows the slate, with no mask drawn over it, and the anchor again after the resume.
#[test]
fn every_rendition_of_a_masked_session_shows_the_slate() {
    let d = workdir("pause-masked");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let channel = r#"{"levels":[3,10],"locked":["eyes","mouth"],"unlock_order":["mouth","eyes"]}"#;
    assert_eq!(call("PUT", &format!("{h}/channels/show"), Some(channel)).0, 200);
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    let _anchor = publish_live(&face_clip(&d), svc.rtmp_port, &key);
    let body = json!({"inputs": [{"room": a}], "size": "384x384", "masking": {"channel": "show"}});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    let issue = || call("POST", &format!("{h}/channels/show/viewers"), None).1["token"].as_str().unwrap().to_string();
    let (bob, carol) = (issue(), issue());
    for _ in 0..10 {
        assert_eq!(
            call("POST", &format!("{h}/channels/show/viewers/{carol}/events"), Some(r#"{"kind":"like"}"#)).0,
            200
        );
    }
    // A viewer's newest segment (through their own signed playlist), decoded at its start.
    let newest = |viewer: &str| -> Option<Rgb> {
        let text =
            ureq::get(&format!("{h}/sessions/{id}/viewers/{viewer}/index.m3u8")).call().ok()?.into_string().ok()?;
        let url = text.lines().filter(|l| l.starts_with('/')).last()?.to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut ureq::get(&format!("{h}{url}")).call().ok()?.into_reader(), &mut bytes).ok()?;
        let p = d.join(format!("{viewer}.ts"));
        std::fs::write(&p, bytes).ok()?;
        Some(frame_rgb(&p, 0.0, 384, 384))
    };
    let corners = [(8, 8), (376, 8), (8, 376), (376, 376)];
    let card = |f: &Rgb| corners.iter().all(|&(x, y)| colour_at(f, x, y, CARD_BACKGROUND, 14));
    for v in [&bob, &carol] {
        wait_for("the viewer's rendition showing the anchor", 60.0, || newest(v).is_some_and(|f| !card(&f)));
    }
    assert_eq!(call("POST", &format!("{h}/rooms/{a}/pause"), None).0, 200);
    for v in [&bob, &carol] {
        wait_for("the slate in the viewer's rendition", 30.0, || newest(v).is_some_and(|f| card(&f)));
    }
    assert_eq!(call("POST", &format!("{h}/rooms/{a}/resume"), None).0, 200);
    for v in [&bob, &carol] {
        wait_for("the anchor again in the viewer's rendition", 30.0, || newest(v).is_some_and(|f| !card(&f)));
    }
}
