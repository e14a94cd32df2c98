//! The viewer page (`/watch/{session}#v=<token>`) of a masked session in headless Chromium: it
//! plays the viewer's own rendition, a like from its button raises their level, and the player
//! moves to the rendition that unmasks the next organ at a segment boundary, with no
//! discontinuity and no stop.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::browser::Browser;
use common::*;
use serde_json::{json, Value};

/// Records every fragment hls.js loads (sequence number and URL) and its errors.
const FRAGS: &str = r#"(() => {
const v = document.getElementById("video");
window.frags = [];
window.fatal = [];
v.hls.on(Hls.Events.FRAG_LOADED, (_, d) => window.frags.push({ sn: d.frag.sn, url: d.frag.url }));
v.hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.fatal.push(d.details + " " + (d.reason || (d.error && d.error.message) || "") + " " + (d.url || "") + " after " + window.frags.length + " fragments; status " + (d.networkDetails && d.networkDetails.status) + " body " + JSON.stringify(d.networkDetails && String(d.networkDetails.responseText).slice(0, 300))); });
return true;
})()"#;

/// Mean absolute difference of each 16×16 block of two 384×384 pictures, the blocks above `tol`.
fn changed_blocks(a: &Rgb, b: &Rgb, tol: f64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for by in 0..24 {
        for bx in 0..24 {
            let mut sum = 0u32;
            for y in by * 16..by * 16 + 16 {
                for x in bx * 16..bx * 16 + 16 {
                    let (p, q) = (a.at(x, y), b.at(x, y));
                    sum += (0..3).map(|c| p[c].abs_diff(q[c]) as u32).sum::<u32>();
                }
            }
            if sum as f64 / 768.0 > tol {
                out.push((bx, by));
            }
        }
    }
    out
}

fn fetch(url: &str, to: &PathBuf) {
    let r = ureq::get(url).call().unwrap_or_else(|e| panic!("{url}: {e}"));
    let mut b = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut b).unwrap();
    std::fs::write(to, b).unwrap();
}

#[test]
fn a_like_on_the_viewer_page_unmasks_the_next_organ_at_a_segment_boundary() {
    let d = workdir("viewer-page");
    let nginx = start_nginx(&d);
    let clip = face_clip(&d);
    let mut anchor = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(&clip)
        .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{}/live/face", nginx.port)])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let gift = "http://127.0.0.1:9/pay?channel={channel}&token={token}";
    let svc = start_with(&d.join("costream.sqlite"), &["--allow-private-inputs", "--gift-url", gift]);
    let h = svc.http.clone();
    let rules = json!({"levels": [3, 10], "locked": ["eyes", "mouth"], "unlock_order": ["mouth", "eyes"]});
    assert_eq!(call("PUT", &format!("{h}/channels/show"), Some(&rules.to_string())).0, 200);
    let body = json!({"inputs": [{"url": format!("rtmp://127.0.0.1:{}/live/face", nginx.port)}], "size": "384x384", "masking": {"channel": "show"}});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    let issue = || call("POST", &format!("{h}/channels/show/viewers"), None).1["token"].as_str().unwrap().to_string();
    let (viewer, bob) = (issue(), issue());
    // A playlist asked for the moment the session starts waits for its first segment: players
    // take a 404 there as fatal.
    let first = ureq::get(&format!("{h}/sessions/{id}/viewers/{bob}/index.m3u8")).call().expect("first playlist");
    assert!(first.into_string().unwrap().contains("#EXTINF"), "the first playlist lists a segment");
    // Two likes before the page opens: still level 0 (eyes and mouth masked).
    for _ in 0..2 {
        assert_eq!(
            call("POST", &format!("{h}/channels/show/viewers/{viewer}/events"), Some(r#"{"kind":"like"}"#)).0,
            200
        );
    }

    let mut b = Browser::start(&d.join("chromium"));
    b.resize(400, 800, true);
    b.navigate(&format!("{h}/watch/{id}#v={viewer}"));
    b.wait_true("the page's player", 30.0, "document.getElementById('video').hls");
    b.eval(FRAGS);
    b.wait_true("level 0 shown", 20.0, "document.getElementById('level').dataset.level === '0'");
    // The gift button opens the platform's payment page for this viewer, nothing more.
    let href = b.eval("document.getElementById('gift').hidden ? '' : document.getElementById('gift').href");
    assert_eq!(href, format!("http://127.0.0.1:9/pay?channel=show&token={viewer}"));
    b.wait_true(
        "level 0's rendition playing",
        60.0,
        "window.frags.length >= 2 && document.getElementById('video').currentTime > 1",
    );
    let frags: Value = b.eval("window.frags");
    assert!(
        frags.as_array().unwrap().iter().all(|f| f["url"].as_str().unwrap().contains("/r/l0/")),
        "level 0 plays l0: {frags}"
    );
    b.shot("watch-level0.png");

    // The like button: level 1, which unmasks the mouth.
    b.eval("document.getElementById('like').click(); true");
    b.wait_true("level 1 shown", 20.0, "document.getElementById('level').dataset.level === '1'");
    b.wait_true("level 1's rendition loaded", 60.0, "window.frags.some((f) => f.url.includes('/r/eyes-'))");
    let played = b.eval("document.getElementById('video').currentTime").as_f64().unwrap();
    b.wait_true(
        "playing on after the switch",
        30.0,
        &format!("document.getElementById('video').currentTime > {played} + 3"),
    );
    b.shot("watch-level1.png");
    let frags: Vec<Value> = b.eval("window.frags").as_array().unwrap().clone();
    assert_eq!(b.eval("window.fatal"), json!([]), "no fatal player error");
    let first = frags.iter().position(|f| f["url"].as_str().unwrap().contains("/r/eyes-")).unwrap();
    let (before, after) = (&frags[first - 1], &frags[first]);
    assert!(before["url"].as_str().unwrap().contains("/r/l0/"), "{frags:?}");
    assert_eq!(
        after["sn"].as_u64(),
        before["sn"].as_u64().map(|n| n + 1),
        "the switch is at the next segment: {frags:?}"
    );
    assert!(
        frags[first..].iter().all(|f| f["url"].as_str().unwrap().contains("/r/eyes-")),
        "and stays there: {frags:?}"
    );

    // That segment, against level 0's of the same number (bob's): one organ's region differs.
    // (the rendition's second segment: its first may begin where the switch cut it)
    b.wait_true("a second segment of level 1", 30.0, &format!("window.frags.length > {}", first + 1));
    let seg = b.eval(&format!("window.frags[{}].url", first + 1)).as_str().unwrap().to_string();
    let name = seg.split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
    let mut l0 = None;
    wait_for("bob's playlist listing the same segment", 20.0, || {
        let text = ureq::get(&format!("{h}/sessions/{id}/viewers/{bob}/index.m3u8"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok());
        l0 = text.unwrap_or_default().lines().find(|l| l.contains(&format!("/{name}?"))).map(str::to_string);
        l0.is_some()
    });
    let (p1, p0) = (d.join("level1.ts"), d.join("level0.ts"));
    fetch(&seg, &p1);
    fetch(&format!("{h}{}", l0.unwrap()), &p0);
    let changed = changed_blocks(&frame_rgb(&p1, 0.0, 384, 384), &frame_rgb(&p0, 0.0, 384, 384), 6.0);
    assert!(changed.len() >= 3, "level 1 shows an organ level 0 masks ({} blocks differ)", changed.len());
    assert!(changed.len() * 5 < 24 * 24, "one organ, not the picture ({} blocks differ)", changed.len());
    let _ = anchor.kill();
    let _ = anchor.wait();
}
