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
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png");
    let clip = d.join("face.flv");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&src)
        .args([
            "-vf",
            "zoompan=z='1+0.002*on':x='iw/2-(iw/zoom/2)':y='ih/3-(ih/zoom/3)':d=1:s=384x384:fps=30",
            "-frames:v",
            "600",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
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
    let (alice_t, bob_t) = (issue(), issue());
    for _ in 0..3 {
        call("POST", &format!("{h}/channels/show/viewers/{alice_t}/events"), Some(r#"{"kind":"like"}"#));
    }
    let playlist = |t: &str| get(&format!("{h}/sessions/{id}/viewers/{t}/index.m3u8"));
    assert_eq!(playlist("alice").0, 403, "a token the service did not issue");
    let mut got = None;
    wait_for("both viewers' playlists with two segments", 30.0, || {
        let (a, b) = (playlist(&alice_t), playlist(&bob_t));
        let ok = a.0 == 200 && b.0 == 200 && segments(&String::from_utf8_lossy(&a.1)).len() >= 2;
        got = ok.then(|| (String::from_utf8(a.1).unwrap(), String::from_utf8(b.1).unwrap()));
        ok
    });
    let (alice, bob) = got.unwrap();
    let (sa, sb) = (segments(&alice), segments(&bob));
    assert!(
        sa.iter().all(|u| u.contains("/r/l1/")) && sb.iter().all(|u| u.contains("/r/l0/")),
        "alice (level 1) and bob (level 0) get different renditions:\n{alice}\n{bob}"
    );
    // The renditions are aligned: same segment names in both playlists.
    let name = |u: &str| u.split('/').nth(5).unwrap_or("").split('?').next().unwrap_or("").to_string();
    assert_eq!(name(&sa[0]), name(&sb[0]));
    assert!(!alice.contains("DISCONTINUITY"));
    // Bob's own URL works; the same signature on a higher rendition, a forged one, or a public
    // rendition path does not.
    let url = format!("{h}{}", sb[0]);
    let (st, seg) = get(&url);
    assert_eq!(st, 200);
    assert!(seg.len() > 1000);
    assert_eq!(get(&url.replace("/r/l0/", "/r/l1/")).0, 403, "bob's signature on level 1");
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
    let (_, a2) = playlist(&alice_t);
    assert!(
        segments(&String::from_utf8_lossy(&a2)).iter().all(|u| u.contains("/r/open/")),
        "top level: the open picture"
    );
    let _ = anchor.kill();
    let _ = anchor.wait();
}
