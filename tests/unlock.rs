//! Unlock levels over real HTTP and SQLite: behaviour events, signed payment callbacks, a restart.

mod common;

use common::*;
use costream::session::unlock::sign;
use serde_json::json;

const SECRET: &str = "test-secret-9f2";

fn callback(h: &str, body: &str, signature: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = ureq::post(&format!("{h}/payments/callback")).set("content-type", "application/json");
    if let Some(s) = signature {
        req = req.set("x-signature", s);
    }
    let resp = match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let st = resp.status();
    (st, serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or_default())
}

#[test]
fn behaviour_raises_levels_and_only_signed_confirmed_payments_unlock_and_persist() {
    let d = workdir("unlock");
    let db = d.join("costream.sqlite");
    let svc = start_with_env(&db, &[], &[("COSTREAM_PAYMENT_SECRET", SECRET)]);
    let h = svc.http.clone();
    let rules =
        json!({"levels": [3, 10], "locked": ["eyes", "mouth"], "unlock_order": ["mouth", "eyes"], "sigma": 10.0});
    let (st, r) = call("PUT", &format!("{h}/channels/ch1"), Some(&rules.to_string()));
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        call("PUT", &format!("{h}/channels/ch1"), Some(r#"{"levels":[5,2]}"#)).0,
        400,
        "descending thresholds refused"
    );

    let v = |t: &str| call("GET", &format!("{h}/channels/ch1/viewers/{t}"), None).1;
    assert_eq!(v("alice")["level"], 0);
    assert_eq!(v("alice")["masked"], json!(["eyes", "mouth"]));
    for _ in 0..3 {
        assert_eq!(call("POST", &format!("{h}/channels/ch1/viewers/alice/events"), Some(r#"{"kind":"like"}"#)).0, 200);
    }
    let a = v("alice");
    assert_eq!((a["points"].as_f64(), a["level"].as_u64()), (Some(3.0), Some(1)), "{a}");
    assert_eq!(a["masked"], json!(["eyes"]), "level 1 unlocks the mouth");
    assert!((a["sigma"].as_f64().unwrap() - 9.0).abs() < 1e-6, "and weakens the blur 10 %");
    let (st, g) = call("POST", &format!("{h}/channels/ch1/viewers/alice/events"), Some(r#"{"kind":"gift","value":7}"#));
    assert_eq!((st, g["level"].as_u64()), (200, Some(2)), "{g}");
    assert_eq!(g["masked"], json!([]), "the top level is unmasked");
    // A payment is not behaviour; malformed events are refused.
    assert_eq!(
        call("POST", &format!("{h}/channels/ch1/viewers/bob/events"), Some(r#"{"kind":"payment","organ":"eyes"}"#)).0,
        400
    );
    assert_eq!(call("POST", &format!("{h}/channels/ch1/viewers/bob/events"), Some("{nope")).0, 400);

    // Payment callbacks: unsigned, badly signed and unconfirmed ones change nothing.
    let pay = |id: &str, status: &str| {
        json!({"payment_id": id, "channel": "ch1", "token": "bob", "organ": "eyes", "status": status, "amount": 6.0})
            .to_string()
    };
    let body = pay("pay_1", "confirmed");
    assert_eq!(callback(&h, &body, None).0, 401);
    assert_eq!(callback(&h, &body, Some(&sign(b"wrong-secret", body.as_bytes()))).0, 401);
    let bare = sign(SECRET.as_bytes(), body.as_bytes()).trim_start_matches("sha256=").to_string();
    assert_eq!(callback(&h, &body, Some(&bare)).0, 401, "a signature without its sha256= is refused");
    let tampered = body.replace("bob", "eve");
    assert_eq!(
        callback(&h, &tampered, Some(&sign(SECRET.as_bytes(), body.as_bytes()))).0,
        401,
        "signature of another body"
    );
    let pending = pay("pay_0", "pending");
    let (st, r) = callback(&h, &pending, Some(&sign(SECRET.as_bytes(), pending.as_bytes())));
    assert_eq!((st, r["counted"].as_bool()), (202, Some(false)));
    assert_eq!(v("bob")["paid"], json!([]));
    assert_eq!(v("bob")["masked"], json!(["eyes", "mouth"]));
    // A confirmed, correctly signed payment unlocks its organ, once.
    let (st, r) = callback(&h, &body, Some(&sign(SECRET.as_bytes(), body.as_bytes())));
    assert_eq!((st, r["counted"].as_bool()), (200, Some(true)), "{r}");
    assert_eq!(callback(&h, &body, Some(&sign(SECRET.as_bytes(), body.as_bytes()))).1["counted"], false, "replayed");
    assert_eq!(v("bob")["paid"], json!(["eyes"]));
    assert_eq!(v("bob")["masked"], json!(["mouth"]));
    drop(svc);

    // After a restart: rules, points and the paid unlock are still there.
    let svc = start_with_env(&db, &[], &[("COSTREAM_PAYMENT_SECRET", SECRET)]);
    let h = svc.http.clone();
    let b = call("GET", &format!("{h}/channels/ch1/viewers/bob"), None).1;
    assert_eq!((b["paid"].clone(), b["masked"].clone()), (json!(["eyes"]), json!(["mouth"])), "{b}");
    assert_eq!(call("GET", &format!("{h}/channels/ch1/viewers/alice"), None).1["level"], 2);
    drop(svc);

    // Without a secret, payment callbacks are refused outright.
    let svc = start(&db);
    assert_eq!(callback(&svc.http, &body, Some(&sign(SECRET.as_bytes(), body.as_bytes()))).0, 503);
}

/// Segment URLs of a playlist.
fn segments(text: &str) -> Vec<String> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(str::to_string).collect()
}

fn get(url: &str) -> (u16, Vec<u8>) {
    match ureq::get(url).call() {
        Ok(r) => {
            let st = r.status();
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut b).unwrap();
            (st, b)
        }
        Err(ureq::Error::Status(c, _)) => (c, Vec::new()),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn viewers_get_their_levels_rendition_through_signed_playlists() {
    use std::process::{Command, Stdio};
    let d = workdir("viewers");
    let nginx = start_nginx(&d);
    let clip = face_clip(&d);
    let mut anchor = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(&clip)
        .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{}/live/face", nginx.port)])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let svc = start_with_env(
        &d.join("costream.sqlite"),
        &["--segment-url-ttl", "3", "--allow-private-inputs"],
        &[("COSTREAM_PAYMENT_SECRET", SECRET)],
    );
    let h = svc.http.clone();
    assert_eq!(
        call(
            "PUT",
            &format!("{h}/channels/show"),
            Some(r#"{"levels":[3,10],"locked":["eyes","mouth"],"unlock_order":["mouth","eyes"]}"#)
        )
        .0,
        200
    );
    let body = json!({"inputs": [{"url": format!("rtmp://127.0.0.1:{}/live/face", nginx.port)}], "size": "384x384", "masking": {"channel": "show"}});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    // Viewers get their tokens from the service (the platform asks for them).
    let issue = || call("POST", &format!("{h}/channels/show/viewers"), None).1["token"].as_str().unwrap().to_string();
    let (alice_t, bob_t, carol_t) = (issue(), issue(), issue());
    let like = |t: &str| call("POST", &format!("{h}/channels/show/viewers/{t}/events"), Some(r#"{"kind":"like"}"#)).0;
    for _ in 0..3 {
        assert_eq!(like(&alice_t), 200);
    }
    // Carol is at the top level from the start: the open picture.
    for _ in 0..10 {
        assert_eq!(like(&carol_t), 200);
    }
    let playlist = |t: &str| get(&format!("{h}/sessions/{id}/viewers/{t}/index.m3u8"));
    assert_eq!(playlist("alice").0, 403, "a token the service did not issue");
    // Alice's level-1 state gets its rendition (eyes blurred at 9.0) once she asks for it; until it
    // has a segment she gets level 0's, which masks more.
    let mut got = None;
    wait_for("alice's own rendition with two segments", 30.0, || {
        let (a, b) = (playlist(&alice_t), playlist(&bob_t));
        let (la, lb) = (String::from_utf8_lossy(&a.1).to_string(), String::from_utf8_lossy(&b.1).to_string());
        let sa = segments(&la);
        assert!(sa.iter().all(|u| u.contains("/r/eyes-90/") || u.contains("/r/l0/")), "never less masked: {la}");
        let ok = a.0 == 200 && b.0 == 200 && sa.len() >= 2 && sa.iter().all(|u| u.contains("/r/eyes-90/"));
        got = ok.then_some((la, lb));
        ok
    });
    let (alice, bob) = got.unwrap();
    let (sa, sb) = (segments(&alice), segments(&bob));
    assert!(sb.iter().all(|u| u.contains("/r/l0/")), "bob (level 0) gets level 0's:\n{bob}");
    organs_masked_as_their_levels_say(&d, &h, &[&bob_t, &alice_t, &carol_t], &playlist);
    // The renditions are aligned: alice's segments, made since she asked, have the names bob's
    // have at the same times.
    let name = |u: &str| u.split('/').nth(5).unwrap_or("").split('?').next().unwrap_or("").to_string();
    assert!(sa.iter().any(|a| sb.iter().any(|b| name(a) == name(b))), "{alice}\n{bob}");
    assert!(!alice.contains("DISCONTINUITY"));
    // Bob's own URL works; the same signature on a higher rendition, a forged one, or a public
    // rendition path does not.
    let url = format!("{h}{}", sb[0]);
    let (st, seg) = get(&url);
    assert_eq!(st, 200);
    assert!(seg.len() > 1000);
    assert_eq!(get(&url.replace("/r/l0/", "/r/eyes-90/")).0, 403, "bob's signature on level 1's rendition");
    assert_eq!(get(&url.replace("/r/l0/", "/r/open/")).0, 403, "bob's signature on the open picture");
    let forged = format!("{}sig=00000000000000000000000000000000", &url[..url.find("sig=").unwrap()]);
    assert_eq!(get(&forged).0, 403, "forged signature");
    assert_eq!(get(&url[..url.find('?').unwrap()]).0, 403, "unsigned");
    // Not even with the operator's token: a rendition is reached only through a viewer's playlist.
    assert_eq!(
        call("GET", &format!("{h}/sessions/{id}/views/open/hls/index.m3u8"), None).0,
        403,
        "no public path to a rendition"
    );
    // Signed URLs expire (3 s here).
    wait_for("bob's signed URL to expire", 10.0, || get(&url).0 == 403);
    // Alice unlocks more: her next playlist switches rendition.
    for _ in 0..7 {
        call("POST", &format!("{h}/channels/show/viewers/{alice_t}/events"), Some(r#"{"kind":"like"}"#));
    }
    // Her next segments come from the open picture; those already listed to her stay as they were
    // (a player refuses a segment whose URL changed), so the switch is at the next segment.
    let mut a2 = Vec::new();
    wait_for("alice's playlist to go on with the open picture", 20.0, || {
        let (st, text) = playlist(&alice_t);
        a2 = segments(&String::from_utf8_lossy(&text));
        st == 200 && a2.last().is_some_and(|u| u.contains("/r/open/"))
    });
    let first_open = a2.iter().position(|u| u.contains("/r/open/")).unwrap();
    assert!(a2[first_open..].iter().all(|u| u.contains("/r/open/")), "no way back: {a2:?}");
    assert!(a2[..first_open].iter().all(|u| u.contains("/r/eyes-90/")), "listed before stays: {a2:?}");
    let _ = anchor.kill();
    let _ = anchor.wait();
}

/// The same segment of three viewers' renditions — level 0 (eyes and mouth masked), level 1 (eyes
/// masked) and the top level (the open picture) — decoded and compared block by block: level 1
/// differs from the open picture in one region (the eyes), level 0 in that region and one more
/// below it (the mouth); where level 1 is open, it is the open picture.
fn organs_masked_as_their_levels_say(
    d: &std::path::Path,
    h: &str,
    tokens: &[&str; 3],
    playlist: &dyn Fn(&str) -> (u16, Vec<u8>),
) {
    let mut frames = Vec::new();
    let mut seg = None;
    wait_for("one segment in all three renditions", 20.0, || {
        let lists: Vec<Vec<String>> =
            tokens.iter().map(|t| segments(&String::from_utf8_lossy(&playlist(t).1))).collect();
        let name = |u: &str| u.split('?').next().unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
        // The newest segment all three list, fetched at once (the signed URLs are short-lived).
        let Some(common) =
            lists[0].iter().rev().map(|u| name(u)).find(|n| lists.iter().all(|l| l.iter().any(|u| name(u) == *n)))
        else {
            return false;
        };
        let urls: Vec<String> = lists.iter().map(|l| l.iter().find(|u| name(u) == common).unwrap().clone()).collect();
        frames = urls
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let (st, bytes) = get(&format!("{h}{u}"));
                assert_eq!(st, 200, "{u}");
                let p = d.join(format!("rendition{i}.ts"));
                std::fs::write(&p, bytes).unwrap();
                frame_rgb(&p, 0.0, 384, 384)
            })
            .collect();
        seg = Some(common);
        true
    });
    // Mean absolute difference of each 8x8 block against the open picture.
    let blocks = |a: &Rgb| -> Vec<(usize, usize, f64)> {
        let open = &frames[2];
        let mut out = Vec::new();
        for by in 0..48 {
            for bx in 0..48 {
                let mut sum = 0u32;
                for y in by * 8..by * 8 + 8 {
                    for x in bx * 8..bx * 8 + 8 {
                        let (p, q) = (a.at(x, y), open.at(x, y));
                        sum += (0..3).map(|c| p[c].abs_diff(q[c]) as u32).sum::<u32>();
                    }
                }
                out.push((bx, by, sum as f64 / 192.0));
            }
        }
        out
    };
    let changed =
        |a: &Rgb| -> Vec<(usize, usize)> { blocks(a).into_iter().filter(|b| b.2 > 6.0).map(|b| (b.0, b.1)).collect() };
    let (l0, l1) = (changed(&frames[0]), changed(&frames[1]));
    let mean_y = |b: &[(usize, usize)]| b.iter().map(|p| p.1 as f64).sum::<f64>() / b.len().max(1) as f64;
    let only_l0: Vec<(usize, usize)> = l0.iter().filter(|b| !l1.contains(b)).copied().collect();
    let seg = seg.unwrap();
    assert!(l1.len() >= 4, "{seg}: level 1 masks its eyes ({} blocks differ from the open picture)", l1.len());
    assert!(only_l0.len() >= 4, "{seg}: level 0 masks more than level 1 ({l0:?} vs {l1:?})");
    assert!(
        mean_y(&only_l0) > mean_y(&l1) + 2.0,
        "{seg}: what level 0 masks beyond level 1 (the mouth, rows {:.1}) lies below level 1's (the eyes, rows {:.1})",
        mean_y(&only_l0),
        mean_y(&l1)
    );
    assert!(l0.len() * 4 < 48 * 48, "{seg}: masks cover organs, not the picture ({} blocks)", l0.len());
}
