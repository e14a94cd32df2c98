//! Renditions on demand over real HTTP, RTMP and SQLite: one per unlock state viewers are in, a
//! paid organ seen sharp, a cap that never gives a less masked picture, retirement after the last
//! viewer leaves.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use costream::face::{FaceModels, Organ, Range, Roi};
use costream::session::unlock::sign;
use serde_json::{json, Value};

const SECRET: &str = "test-secret-rend";

fn get(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// The rendition and segment number of each segment URL of a viewer's playlist.
fn listed(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| l.starts_with('/'))
        .filter_map(|u| {
            let mut parts = u.split('?').next()?.rsplit('/');
            let file = parts.next()?;
            let rendition = parts.next()?.to_string();
            let n = file.strip_prefix("index_")?.strip_suffix(".ts")?.parse().ok()?;
            Some((rendition, n))
        })
        .collect()
}

/// Viewers' players: every token in `tokens` fetches its playlist every second until `stop`.
fn keep_watching(h: String, id: String, tokens: Arc<Mutex<Vec<String>>>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let now: Vec<String> = tokens.lock().unwrap().clone();
            for t in now {
                let _ = ureq::get(&format!("{h}/sessions/{id}/viewers/{t}/index.m3u8")).call();
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
}

/// Variance of the Laplacian of the luma at the pixels inside `poly`.
fn sharpness(f: &Rgb, poly: &[[f32; 2]]) -> f64 {
    let luma = |x: usize, y: usize| {
        let p = f.at(x, y);
        0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64
    };
    let inside = |x: f32, y: f32| {
        let mut odd = false;
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0] {
                odd = !odd;
            }
        }
        odd
    };
    let v: Vec<f64> = (1..f.h - 1)
        .flat_map(|y| (1..f.w - 1).map(move |x| (x, y)))
        .filter(|&(x, y)| inside(x as f32 + 0.5, y as f32 + 0.5))
        .map(|(x, y)| 4.0 * luma(x, y) - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1))
        .collect();
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64
}

/// The first frame of the newest segment all of `viewers` list under one name, decoded per viewer.
fn same_frame(d: &std::path::Path, h: &str, id: &str, viewers: &[&str]) -> Vec<Rgb> {
    let mut frames = Vec::new();
    wait_for("a segment every viewer lists", 20.0, || {
        let lists: Vec<String> =
            viewers.iter().map(|t| get(&format!("{h}/sessions/{id}/viewers/{t}/index.m3u8")).1).collect();
        let names: Vec<Vec<(String, u64)>> = lists.iter().map(|l| listed(l)).collect();
        let Some(n) = names[0].iter().rev().map(|x| x.1).find(|n| names.iter().all(|l| l.iter().any(|x| x.1 == *n)))
        else {
            return false;
        };
        let file = format!("/index_{n:05}.ts");
        frames = lists
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let url = l.lines().find(|u| u.split('?').next().unwrap_or("").ends_with(&file)).unwrap();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(
                    &mut ureq::get(&format!("{h}{url}")).call().unwrap().into_reader(),
                    &mut bytes,
                )
                .unwrap();
                let p = d.join(format!("viewer{i}.ts"));
                std::fs::write(&p, bytes).unwrap();
                frame_rgb(&p, 0.0, 384, 384)
            })
            .collect();
        true
    });
    frames
}

/// Each organ's polygon in a frame of the astronaut, from the face the bundled models find.
fn organs(f: &Rgb) -> Vec<(Organ, Vec<[f32; 2]>)> {
    let img = image::RgbImage::from_raw(f.w as u32, f.h as u32, f.data.clone()).unwrap();
    let m = FaceModels::load(Range::Short).unwrap();
    let d = m.detect(&img).unwrap()[0];
    let pts: Vec<[f32; 2]> =
        m.landmarks(&img, &Roi::from_detection(&d)).unwrap().unwrap().iter().map(|p| [p[0], p[1]]).collect();
    [Organ::Eyes, Organ::Nose, Organ::Mouth]
        .iter()
        .flat_map(|o| o.polygons(&pts).into_iter().map(|p| (*o, p)))
        .collect()
}

fn renditions(h: &str, id: &str) -> Vec<Value> {
    call("GET", &format!("{h}/sessions/{id}"), None).1["renditions"].as_array().cloned().unwrap_or_default()
}

#[test]
fn renditions_follow_the_states_viewers_are_in_and_a_paid_organ_is_seen() {
    let d = workdir("renditions");
    let svc = start_with_env(
        &d.join("db.sqlite"),
        &["--rendition-grace", "3", "--max-renditions", "3"],
        &[("COSTREAM_PAYMENT_SECRET", SECRET)],
    );
    let h = svc.http.clone();
    // The default rules: levels at 10, 30 and 60 points; eyes, mouth and nose locked; nose, then
    // mouth, then eyes unlocked; blur 10, 10 % weaker per level.
    assert_eq!(call("PUT", &format!("{h}/channels/show"), Some("{}")).0, 200);
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let key = room["key"]["key"].as_str().unwrap().to_string();
    let _anchor = publish_live(&face_clip(&d), svc.rtmp_port, &key);
    let events = Events::subscribe(&h);
    let body = json!({"inputs": [{"room": room["id"]}], "size": "384x384", "masking": {"channel": "show"}});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    let issue = || call("POST", &format!("{h}/channels/show/viewers"), None).1["token"].as_str().unwrap().to_string();
    let gift = |t: &str, v: u32| {
        let body = format!(r#"{{"kind":"gift","value":{v}}}"#);
        assert_eq!(call("POST", &format!("{h}/channels/show/viewers/{t}/events"), Some(&body)).0, 200);
    };
    // 200 viewers over two levels: 100 at level 0, 100 at level 2 (30 points).
    let level0: Vec<String> = (0..100).map(|_| issue()).collect();
    let level2: Vec<String> = (0..100).map(|_| issue()).collect();
    level2.iter().for_each(|t| gift(t, 30));
    let watching = Arc::new(Mutex::new([level0.clone(), level2.clone()].concat()));
    let stop = Arc::new(AtomicBool::new(false));
    keep_watching(h.clone(), id.clone(), watching.clone(), stop.clone());
    let playlist = |t: &str| get(&format!("{h}/sessions/{id}/viewers/{t}/index.m3u8")).1;
    wait_for("level 2's own rendition", 40.0, || {
        let l = listed(&playlist(&level2[7]));
        !l.is_empty() && l.iter().all(|x| x.0 == "eyes-80")
    });
    wait_for("every viewer counted", 20.0, || {
        let r = renditions(&h, &id);
        r.iter().map(|x| x["viewers"].as_u64().unwrap_or(0)).sum::<u64>() == 200
    });
    let r = renditions(&h, &id);
    let names: HashSet<&str> = r.iter().filter_map(|x| x["name"].as_str()).collect();
    assert_eq!(names, HashSet::from(["open", "l0", "eyes-80"]), "two masked renditions, none for level 1: {r:?}");
    let viewers = |name: &str| r.iter().find(|x| x["name"] == name).unwrap()["viewers"].as_u64();
    assert_eq!((viewers("l0"), viewers("eyes-80"), viewers("open")), (Some(100), Some(100), Some(0)));
    let created: Vec<Value> = events.all().into_iter().filter(|e| e["type"] == "rendition_created").collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!((created[0]["rendition"].as_str(), created[0]["masked"].clone()), (Some("eyes-80"), json!(["eyes"])));
    let metrics = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
    assert!(
        metrics.contains(&format!(
            r#"costream_rendition_viewers{{session="{id}",rendition="eyes-80",masked="eyes"}} 100"#
        )),
        "{metrics}"
    );

    // A level-0 viewer pays for the mouth: within two segments, theirs come from a rendition with
    // the mouth open and the eyes and nose blurred as level 0 blurs them.
    // The session in its stride first: a playlist asked for as a session starts waits for its
    // first segment, so the steps above can be done while it is still making them, and the
    // renditions made in those seconds take longer.
    wait_for("three level-0 segments", 30.0, || listed(&playlist(&level0[1])).len() >= 3);
    let payer = level0[0].clone();
    let pay = json!({"payment_id": "p1", "channel": "show", "token": payer, "organ": "mouth", "status": "confirmed"});
    let pay = pay.to_string();
    let resp = ureq::post(&format!("{h}/payments/callback"))
        .set("x-signature", &sign(SECRET.as_bytes(), pay.as_bytes()))
        .send_string(&pay)
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The newest segment as the payment is counted (read after it: one read before could miss a
    // segment that came out while the payment was on its way).
    let before = listed(&playlist(&payer)).iter().map(|x| x.1).max().unwrap();
    let mut first = 0;
    wait_for("the payer's own rendition", 30.0, || {
        let l = listed(&playlist(&payer));
        assert!(l.iter().all(|x| x.0 == "l0" || x.0 == "eyes-nose-100"), "never less masked: {l:?}");
        first = l.iter().filter(|x| x.0 == "eyes-nose-100").map(|x| x.1).min().unwrap_or(0);
        !l.is_empty() && l.iter().all(|x| x.0 == "eyes-nose-100")
    });
    // (Segment `before` was the newest listed; the next was being made; the one after starts at
    // the first keyframe after the payment, or one later when the tick came late.)
    assert!(first <= before + 3, "the paid rendition's first segment is {first}, the newest at payment {before}");
    let top = issue();
    gift(&top, 60);
    watching.lock().unwrap().push(top.clone());
    let f = same_frame(&d, &h, &id, &[&payer, &level0[1], &top]);
    for (organ, poly) in organs(&f[2]) {
        let open = sharpness(&f[2], &poly);
        let (paid, other) = (sharpness(&f[0], &poly) / open, sharpness(&f[1], &poly) / open);
        eprintln!("{organ:?}: open {open:.1}, payer {paid:.2}, other level 0 {other:.2}");
        assert!(
            other < 0.2,
            "{organ:?} blurred for the other level-0 viewers ({other:.2} of the open picture's sharpness)"
        );
        match organ {
            // (The nose's soft edge reaches the upper lip: a blurred organ keeps 2 % at most.)
            Organ::Mouth => assert!(paid > 0.5, "the paid mouth is sharp ({paid:.2} of the open picture's)"),
            _ => assert!(paid < 0.2, "{organ:?} still blurred for the payer ({paid:.2})"),
        }
    }

    // Past the cap (3: level 0 and two on demand), a level-1 viewer's state gets no rendition: they
    // get the least masked one that masks all theirs does, level 0's, never one without the mouth.
    let one = issue();
    gift(&one, 10);
    watching.lock().unwrap().push(one.clone());
    let capped = events.wait("the cap", 20.0, |e| e["type"] == "rendition_cap_reached");
    assert_eq!(capped["rendition"], "eyes-mouth-90", "{capped}");
    let l = listed(&playlist(&one));
    assert!(!l.is_empty() && l.iter().all(|x| x.0 == "l0"), "{l:?}");

    // The payer leaves: their rendition goes after the grace period, and the level-1 state gets
    // the freed place.
    watching.lock().unwrap().retain(|t| *t != payer);
    let retired = events.wait("the payer's rendition retired", 30.0, |e| e["type"] == "rendition_retired");
    assert_eq!(retired["rendition"], "eyes-nose-100", "{retired}");
    wait_for("level 1's own rendition", 30.0, || {
        let l = listed(&playlist(&one));
        assert!(l.iter().all(|x| x.0 == "l0" || x.0 == "eyes-mouth-90"), "never less masked: {l:?}");
        !l.is_empty() && l.iter().all(|x| x.0 == "eyes-mouth-90")
    });
    let names: HashSet<String> =
        renditions(&h, &id).iter().filter_map(|x| x["name"].as_str().map(str::to_string)).collect();
    assert!(names.contains("eyes-80") && !names.contains("eyes-nose-100"), "{names:?}");
    stop.store(true, Ordering::Relaxed);
}
