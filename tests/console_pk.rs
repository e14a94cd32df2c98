//! A PK run from the console in headless Chromium: a session started from a room's card, an
//! invitation sent from its page, accepted there; both previews show the merged picture (each room
//! first in its own view), and scores changed in the bar's form reach the decoded output.

mod common;

use std::path::PathBuf;

use common::browser::Browser;
use common::*;
use costream::testsrc::Clip;
use serde_json::json;

/// A grey anchor (`level` in 0..=255) with a tone, looped live.
fn grey(d: &std::path::Path, name: &str, level: u8) -> PathBuf {
    let c = Clip::new(format!("color=c=0x{level:02x}{level:02x}{level:02x}:size=320x180:rate=30"), 4.0)
        .with_audio("sine=frequency=440:sample_rate=48000");
    clip(d, name, &c.args(&LIVE_GOP))
}

/// The grey level of a preview's picture at (fx, fy) of its size, read through a canvas.
fn preview_grey(b: &mut Browser, index: usize, fx: f64, fy: f64) -> i64 {
    b.video_rgb("video.preview", index, fx, fy).iter().sum::<i64>() / 3
}

/// The share of the PK bar's row that shows the left anchor's colour (pinkish red) against the
/// right's (light blue), in a decoded frame: the row of the frame with the most of both.
fn left_share(f: &Rgb) -> f64 {
    let pink = |p: [u8; 3]| p[0] > 180 && p[1] < 140 && p[2] > 50 && p[2] < 170;
    let blue = |p: [u8; 3]| p[2] > 180 && p[0] < 140;
    let (mut best, mut share) = (0, 0.0);
    for y in 0..f.h {
        let (a, b) = (0..f.w).fold((0, 0), |(a, b), x| (a + pink(f.at(x, y)) as usize, b + blue(f.at(x, y)) as usize));
        if a + b > best {
            best = a + b;
            share = a as f64 / (a + b) as f64;
        }
    }
    share
}

#[test]
fn a_pk_from_the_console_merges_both_previews_and_its_scores_reach_the_output() {
    let d = workdir("console-pk");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let room = |name: &str| call("POST", &format!("{h}/rooms"), Some(&json!({"name": name}).to_string())).1;
    let (a, b_room) = (room("主播 A"), room("Anchor B"));
    let (a_id, b_id) = (a["id"].as_str().unwrap().to_string(), b_room["id"].as_str().unwrap().to_string());
    let _pa = publish_live(&grey(&d, "a.flv", 0x30), svc.rtmp_port, a["key"]["key"].as_str().unwrap());
    let _pb = publish_live(&grey(&d, "b.flv", 0xc0), svc.rtmp_port, b_room["key"]["key"].as_str().unwrap());
    wait_for("both rooms live", 20.0, || {
        let (_, rs) = call("GET", &format!("{h}/rooms"), None);
        rs.as_array().unwrap().iter().filter(|r| r["status"] == "live").count() == 2
    });

    let mut b = Browser::operator_console(&d.join("chromium"), &h);
    b.wait_true("the rooms", 20.0, "document.querySelectorAll('.room').length === 2");
    b.eval(&format!("document.querySelector('#room-{a_id} .start-session').click(); true"));
    b.wait_true(
        "A's session page",
        30.0,
        "location.hash.startsWith('#session/') && document.querySelector('#invite select[name=to] option')",
    );
    // The invitation: from A to B, sent from the form, accepted from the list.
    b.eval(&format!(
        "const f = document.querySelector('#invite'); f.from.value = '{a_id}'; f.to.value = '{b_id}'; f.requestSubmit(); true"
    ));
    b.wait_true("the pending invitation", 20.0, "document.querySelector('.invitation button.accept')");
    b.eval("document.querySelector('.invitation button.accept').click(); true");
    b.wait_true(
        "the PK session's page with two previews",
        40.0,
        "document.querySelectorAll('video.preview').length === 2 && document.querySelector('#pk-bar')",
    );
    let ses = b.eval("location.hash.split('/')[1]").as_str().unwrap().to_string();
    b.wait_true(
        "both previews playing",
        60.0,
        "[...document.querySelectorAll('video.preview')].every((v) => v.currentTime > 1)",
    );
    // Each preview is the merged picture, its own room first: dark A | light B, and mirrored.
    let views: Vec<String> = b
        .eval("[...document.querySelectorAll('video.preview')].map((v) => v.dataset.view)")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let merged = kit::wait_until(std::time::Duration::from_secs(30), || {
        (0..2).all(|i| {
            let (l, r) = (preview_grey(&mut b, i, 0.25, 0.6), preview_grey(&mut b, i, 0.75, 0.6));
            let (dark, light) =
                ((l - 0x30).abs() < 25 && (r - 0xc0).abs() < 25, (l - 0xc0).abs() < 25 && (r - 0x30).abs() < 25);
            dark || light
        })
    });
    assert!(merged, "both previews show both anchors ({views:?})");
    let firsts: Vec<bool> = (0..2).map(|i| preview_grey(&mut b, i, 0.25, 0.6) < 0x78).collect();
    assert_ne!(firsts[0], firsts[1], "each room's view shows its own anchor first");
    b.shot("console-pk.png");

    // The bar's scores from the form: 900 to 100 fills nine tenths of the bar with A's colour.
    let (_, s) = call("GET", &format!("{h}/sessions/{ses}"), None);
    let view = s["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str().is_some_and(|n| views.contains(&n.to_string())))
        .unwrap()["hls"]
        .as_str()
        .unwrap()
        .to_string();
    let probe = probe_url(&format!("{h}{view}"));
    let v = stream(&probe, "video");
    let (w, hgt) = (v["width"].as_u64().unwrap() as usize, v["height"].as_u64().unwrap() as usize);
    let before = left_share(&frame_rgb_url(&format!("{h}{view}"), w, hgt));
    assert!((before - 0.5).abs() < 0.1, "an even bar before the change ({before:.2})");
    b.eval("{ const f = document.querySelector('#pk-bar'); f.score0.value = 900; f.score1.value = 100; f.requestSubmit(); } true");
    wait_for("the scores in the session", 20.0, || {
        call("GET", &format!("{h}/sessions/{ses}"), None).1["pk"]["scores"] == json!([900, 100])
    });
    let mut share = 0.0;
    let shown = kit::wait_until(std::time::Duration::from_secs(30), || {
        share = left_share(&frame_rgb_url(&format!("{h}{view}"), w, hgt));
        // (one side's view puts A on the right: its share is B's)
        (share - 0.9).abs() < 0.06 || (share - 0.1).abs() < 0.06
    });
    assert!(shown, "the decoded bar shows 900:100 (A's share {share:.2})");

    // A comment for anchor b reaches the session page's panel live, under b only, as the API
    // lists it for the monitors.
    let body = json!({"anchor": "b", "user": "小明", "text": "加油 go"}).to_string();
    assert_eq!(call("POST", &format!("{h}/sessions/{ses}/comments"), Some(&body)).0, 204);
    b.wait_true(
        "the comment under anchor b",
        20.0,
        "document.querySelector('#comments-b li')?.textContent === '小明: 加油 go'",
    );
    assert_eq!(b.eval("document.querySelectorAll('#comments-a li').length"), 0, "anchor a's monitor has no comment");
    let (_, s) = call("GET", &format!("{h}/sessions/{ses}"), None);
    assert_eq!(s["comments"][0]["text"], "小明: 加油 go");
    assert_eq!(s["comments"][0]["anchor"], "b");
    // A page opened afterwards lists it from the session's status.
    b.navigate(&format!("{h}/console#sessions"));
    b.navigate(&format!("{h}/console#session/{ses}"));
    b.wait_true(
        "the comment after a reload",
        20.0,
        "document.querySelector('#comments-b li')?.textContent === '小明: 加油 go'",
    );
}
