//! Viewer polls over real RTMP, HTTP and FFmpeg: a paused anchor's room opens its poll in a PK,
//! 1 000 viewer tokens vote (some twice, some forged), the counts are exact, the bars and then the
//! winner are drawn on the paused anchor's slate in both mirrored views and on their monitor, the
//! votes survive a restart, and polls close by request, by timeout and by the resume.

mod common;

use common::*;
use costream::compose::{poll_geometry, POLL_BAR, POLL_WINNER};
use costream::media::Rect;
use costream::testsrc::Clip;
use serde_json::{json, Value};

const OPTIONS: [&str; 3] = ["唱歌", "讲笑话", "发红包"];

/// Each viewer's final choice: 60 % sing, 20 % joke, 20 % red packet.
fn choice(i: usize) -> usize {
    match i % 5 {
        0..=2 => 0,
        3 => 1,
        _ => 2,
    }
}

fn rgb(c: [f32; 4]) -> [u8; 3] {
    [(c[0] * 255.0).round() as u8, (c[1] * 255.0).round() as u8, (c[2] * 255.0).round() as u8]
}

fn near(got: [u8; 3], want: [u8; 3], tol: i32) -> bool {
    (0..3).all(|k| (got[k] as i32 - want[k] as i32).abs() <= tol)
}

/// Whether option `k`'s bar in the poll drawn over `cell` shows `colour` at `share` of its track.
fn bar_at(f: &Rgb, cell: Rect, k: usize, share: f32, colour: [u8; 3]) -> bool {
    let t = poll_geometry(cell, OPTIONS.len()).tracks[k];
    near(f.at((t.x + t.w * share) as usize, (t.y + t.h / 2.0) as usize), colour, 45)
}

fn vote(http: &str, poll: &str, token: &str, option: Value) -> (u16, Value) {
    call_as(Some(token), "POST", &format!("{http}/polls/{poll}/votes"), Some(&json!({ "option": option }).to_string()))
}

/// Every viewer votes from a few threads at once; each answer must be `want`.
fn vote_all(http: &str, poll: &str, votes: &[(String, Value)], want: u16) {
    std::thread::scope(|s| {
        for part in votes.chunks(votes.len().div_ceil(6)) {
            s.spawn(move || {
                for (token, option) in part {
                    let (st, body) = vote(http, poll, token, option.clone());
                    assert_eq!(st, want, "vote {option} with {token}: {body}");
                }
            });
        }
    });
}

#[test]
fn a_thousand_viewers_vote_on_a_paused_anchors_poll_and_the_winner_is_drawn() {
    let d = workdir("polls");
    let db = d.join("db.sqlite");
    let svc = start(&db);
    let h = svc.http.clone();
    let mut anchors = Vec::new();
    let mut rooms = Vec::new();
    for (name, colour) in [("A", "0xff0000"), ("B", "0x00ff00")] {
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
    // B's pauses open this poll.
    let poll = json!({"question": "接下来做什么?", "options": OPTIONS, "duration_s": 900});
    let (st, set) = call("PUT", &format!("{h}/rooms/{b}/poll"), Some(&poll.to_string()));
    assert_eq!((st, set["options"].clone()), (200, json!(OPTIONS)), "{set}");
    let bad = json!({"question": "?", "options": ["only one"]});
    assert_eq!(call("PUT", &format!("{h}/rooms/{b}/poll"), Some(&bad.to_string())).0, 400);

    let inv = json!({"from": {"room": a}, "to": {"room": b, "monitor": true}, "size": "640x360", "timeout_s": 300});
    let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&inv.to_string()));
    assert_eq!(st, 201, "{inv}");
    assert_eq!(call("POST", &format!("{h}/invitations/{}/accept", inv["id"].as_str().unwrap()), None).0, 200);
    let ses = inv["session"].as_str().unwrap().to_string();
    let url = |v: &str| format!("{h}/sessions/{ses}/views/{v}/hls/index.m3u8");
    for v in ["a", "b", "b_monitor"] {
        wait_segments(&url(v));
    }
    let events = Events::subscribe(&h);
    assert_eq!(call("POST", &format!("{h}/rooms/{b}/pause"), None).0, 200);
    let opened = events.wait("poll_opened", 20.0, |e| e["type"] == "poll_opened");
    let id = opened["poll"]["id"].as_str().unwrap().to_string();
    assert_eq!((opened["poll"]["session_id"].as_str(), opened["poll"]["channel"].as_str()), (Some(&*ses), Some(&*b)));
    let (st, again) = call("POST", &format!("{h}/sessions/{ses}/polls"), Some(&poll.to_string()));
    assert_eq!((st, again["error"]["code"].as_str()), (409, Some("poll_open")), "one open poll per session");

    // 1 000 viewers of B's channel; every tenth changes their mind, every seventh says it twice.
    let issue = |channel: &str| {
        let (st, v) = call("POST", &format!("{h}/channels/{channel}/viewers"), None);
        assert_eq!(st, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    };
    let tokens: Vec<String> = (0..1000).map(|_| issue(&b)).collect();
    let mut first = Vec::new();
    let mut second = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let by_text = i % 2 == 0;
        let pick = |k: usize| if by_text { json!(OPTIONS[k]) } else { json!(k) };
        if i % 10 == 0 {
            first.push((t.clone(), pick((choice(i) + 2) % 3)));
            second.push((t.clone(), pick(choice(i))));
        } else {
            first.push((t.clone(), pick(choice(i))));
            if i % 7 == 0 {
                second.push((t.clone(), pick(choice(i))));
            }
        }
    }
    vote_all(&h, &id, &first, 200);
    vote_all(&h, &id, &second, 200);
    // Forged: a real token with its signature changed, one of another channel, and made-up ones.
    let mut forged: Vec<(String, Value)> = tokens[..50]
        .iter()
        .map(|t| {
            let flipped = if t.ends_with('0') { '1' } else { '0' };
            (format!("{}{flipped}", &t[..t.len() - 1]), json!(0))
        })
        .collect();
    forged.push((issue(&a), json!(0)));
    forged.extend((0..20).map(|n| (format!("v1.{}.{n:016x}.{:032x}", 1_700_000_000 + n, n), json!(1))));
    vote_all(&h, &id, &forged, 401);
    assert_eq!(vote(&h, &id, &tokens[1], json!(7)).0, 400, "no such option");
    assert_eq!(vote(&h, &id, &tokens[1], json!("跳舞")).0, 400, "no such option");
    assert_eq!(vote(&h, &id, &token_for(&h).unwrap(), json!(0)).0, 403, "an operator does not vote");
    // One more viewer votes too often: three quick changes of mind, then a 429.
    let eager = issue(&b);
    let codes: Vec<u16> = (0..5).map(|_| vote(&h, &id, &eager, json!(1)).0).collect();
    assert_eq!(&codes[..3], &[200, 200, 200], "{codes:?}");
    assert!(codes[3..].contains(&429), "rate limited: {codes:?}");
    let accepted_votes = first.len() + second.len() + codes.iter().filter(|c| **c == 200).count();

    let (st, p) = call("GET", &format!("{h}/polls/{id}"), None);
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["counts"], json!([600, 201, 200]), "exact counts: {p}");
    assert_eq!((p["voters"].as_u64(), p["votes"].as_u64()), (Some(1001), Some(accepted_votes as u64)), "{p}");
    assert_eq!((p["state"].as_str(), p["leader"].as_u64()), (Some("open"), Some(0)), "{p}");
    assert_eq!(call_as(Some(&tokens[3]), "GET", &format!("{h}/polls/{id}"), None).1["counts"], p["counts"]);
    events
        .wait("the last counts on /events", 10.0, |e| e["type"] == "poll_counts" && e["poll"]["counts"] == p["counts"]);

    // The bars over B's slate: B is on the left of its own views, on the right of A's.
    let (left, right) = (Rect { x: 0.0, y: 0.0, w: 320.0, h: 360.0 }, Rect { x: 320.0, y: 0.0, w: 320.0, h: 360.0 });
    let bars = |v: &str, cell: Rect, colour: [f32; 4]| {
        let f = frame_rgb_url(&url(v), 640, 360);
        // 600 of 1001 votes: the bar reaches past half its track, option 3's (200) does not.
        bar_at(&f, cell, 0, 0.5, rgb(colour)) && !bar_at(&f, cell, 2, 0.5, rgb(POLL_BAR))
    };
    for (v, cell) in [("b", left), ("b_monitor", left), ("a", right)] {
        wait_for(&format!("the poll's bars over B's slate in view {v}"), 20.0, || bars(v, cell, POLL_BAR));
    }
    let f = frame_rgb_url(&url("a"), 640, 360);
    assert!(near(f.at(20, 20), [255, 0, 0], 40) && !bar_at(&f, left, 0, 0.5, rgb(POLL_BAR)), "A stays live, no poll");

    // A restart keeps the votes: one viewer changes their mind once more, and is still one voter.
    drop(svc);
    let svc = start(&db);
    let h2 = svc.http.clone();
    let (st, p2) = call("GET", &format!("{h2}/polls/{id}"), None);
    assert_eq!((st, p2["counts"].clone(), p2["state"].as_str()), (200, json!([600, 201, 200]), Some("open")), "{p2}");
    let (st, p3) = vote(&h2, &id, &tokens[1], json!(1));
    assert_eq!((st, p3["counts"].clone(), p3["voters"].as_u64()), (200, json!([599, 202, 200]), Some(1001)), "{p3}");
    let url = |v: &str| format!("{h2}/sessions/{ses}/views/{v}/hls/index.m3u8");
    wait_segments(&url("b"));

    // The close: option 0 wins, drawn in gold; no vote counts after it.
    let (st, closed) = call("POST", &format!("{h2}/polls/{id}/close"), None);
    assert_eq!(st, 200, "{closed}");
    assert_eq!((closed["state"].as_str(), closed["winner"].as_u64()), (Some("closed"), Some(0)), "{closed}");
    assert_eq!(closed["closed_by"].as_str(), Some("request"));
    for (v, cell) in [("b", left), ("b_monitor", left), ("a", right)] {
        wait_for(&format!("the winner over B's slate in view {v}"), 20.0, || {
            let f = frame_rgb_url(&url(v), 640, 360);
            bar_at(&f, cell, 0, 0.5, rgb(POLL_WINNER))
        });
    }
    let (st, late) = vote(&h2, &id, &tokens[2], json!(1));
    assert_eq!((st, late["error"]["code"].as_str()), (409, Some("poll_closed")), "{late}");

    // A short poll closes by its timeout; the next one by B's resume.
    let short = json!({"question": "再来一首?", "options": ["要", "不要"], "duration_s": 5});
    let events = Events::subscribe(&h2);
    let (st, s1) = call("POST", &format!("{h2}/sessions/{ses}/polls"), Some(&short.to_string()));
    assert_eq!(st, 201, "{s1}");
    let e = events.wait("the timeout", 15.0, |e| e["type"] == "poll_closed" && e["poll"]["id"] == s1["id"]);
    assert_eq!(e["poll"]["closed_by"].as_str(), Some("timeout"), "{e}");
    let (st, s2) = call("POST", &format!("{h2}/sessions/{ses}/polls"), Some(&short.to_string()));
    assert_eq!(st, 201, "{s2}");
    assert_eq!(call("POST", &format!("{h2}/rooms/{b}/resume"), None).0, 200);
    let (_, s2) = call("GET", &format!("{h2}/polls/{}", s2["id"].as_str().unwrap()), None);
    assert_eq!((s2["state"].as_str(), s2["closed_by"].as_str()), (Some("closed"), Some("resume")), "{s2}");
    let (_, list) = call("GET", &format!("{h2}/sessions/{ses}/polls"), None);
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
    let (_, doc) = call("GET", &format!("{h2}/openapi.json"), None);
    for p in ["/sessions/{id}/polls", "/polls/{id}", "/polls/{id}/votes", "/polls/{id}/close", "/rooms/{id}/poll"] {
        assert!(doc["paths"][p].is_object(), "OpenAPI lists {p}");
    }
    drop(anchors);
}
