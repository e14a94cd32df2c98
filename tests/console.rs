//! The console in a real browser (Debian's headless Chromium over the DevTools protocol), served by
//! `costream serve` itself: sign-in, rooms on this service and an rtmp platform (nginx-rtmp),
//! live status without a reload, key regeneration refusing the old key, a session's preview
//! showing the anchor's picture; and its security: wrong and revoked tokens, CSRF, an anchor kept
//! to its own room. Each page's screenshot goes to `target/screenshots/`.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::*;
use serde_json::json;

/// Signs the console in with `token` through its sign-in form.
fn sign_in(b: &mut Browser, http: &str, token: &str) {
    b.navigate(&format!("{http}/console"));
    b.wait_true("the sign-in page", 20.0, "document.querySelector('#signin #token')");
    b.eval(&format!(
        "document.querySelector('#token').value = {}; document.querySelector('#signin').requestSubmit(); true",
        json!(token)
    ));
}

/// The JSON status and error code of a `fetch` made by the page itself (its cookie, no header).
fn page_fetch(b: &mut Browser, method: &str, path: &str, csrf: bool) -> (u64, String) {
    let headers = if csrf {
        "{ 'X-CSRF-Token': cs.csrf, 'Content-Type': 'application/json' }"
    } else {
        "{ 'Content-Type': 'application/json' }"
    };
    let v = b.eval(&format!(
        "fetch({}, {{ method: {}, headers: {headers}, body: {} }}).then(async (r) => {{ const t = await r.text(); let c = ''; try {{ c = JSON.parse(t).error.code; }} catch (_) {{}} return [r.status, c || ''] }})",
        json!(path),
        json!(method),
        if method == "GET" { "undefined".to_string() } else { "'{}'".to_string() }
    ));
    (v[0].as_u64().unwrap(), v[1].as_str().unwrap_or("").to_string())
}

/// The picture's colour at the middle of the first preview, read through a canvas.
fn preview_rgb(b: &mut Browser) -> [i64; 3] {
    b.video_rgb("video.preview", 0, 0.5, 0.5)
}

#[test]
fn the_console_creates_a_room_goes_live_regenerates_its_key_and_previews_its_session() {
    let d = workdir("console");
    let peer = start_nginx(&d.join("nginx"));
    let svc = start_with(&d.join("db.sqlite"), &["--allow-private-outputs"]);
    let h = svc.http.clone();
    let server = format!("rtmp://127.0.0.1:{}/live", peer.port);
    let (st, p) = call(
        "POST",
        &format!("{h}/platforms"),
        Some(&json!({"id": "peer", "kind": "rtmp", "server": server, "key": "peerkey"}).to_string()),
    );
    assert_eq!(st, 201, "{p}");
    let token = token_for(&h).unwrap();
    let mut b = Browser::start(&d.join("chromium"));
    b.resize(1280, 900, false);

    b.navigate(&format!("{h}/console"));
    b.wait_true("the sign-in page", 20.0, "document.querySelector('#signin #token')");
    b.shot("console-signin.png");
    sign_in(&mut b, &h, &token);
    b.wait_true("the rooms page", 20.0, "document.querySelector('#create-room') && document.querySelector('#rooms')");

    // A room on this service and the rtmp platform, made in the form.
    b.wait_true("the platforms in the form", 20.0, "document.querySelector('#room-platforms input[value=peer]')");
    b.eval("const f = document.querySelector('#create-room'); f.name.value = '主播 Mia'; f.querySelector('input[value=peer]').checked = true; f.requestSubmit(); true");
    b.wait_true(
        "the new room's card",
        20.0,
        "[...document.querySelectorAll('.room h2')].some((h) => h.textContent.includes('主播 Mia'))",
    );
    let id =
        b.eval("[...document.querySelectorAll('.room')].find((r) => r.textContent.includes('主播 Mia')).dataset.room");
    let id = id.as_str().unwrap().to_string();
    let card = format!("#room-{id}");
    assert_eq!(b.eval(&format!("document.querySelector('{card} .status').textContent")), "not_started");
    let platforms =
        b.eval(&format!("[...document.querySelectorAll('{card} tr[data-platform]')].map((r) => r.dataset.platform)"));
    assert_eq!(platforms, json!(["costream", "peer"]), "both platforms are listed");
    // The key is masked until revealed, then shown in full.
    let (_, room) = call("GET", &format!("{h}/rooms/{id}"), None);
    let key = room["key"]["key"].as_str().unwrap().to_string();
    assert!(!b
        .eval(&format!("document.querySelector('{card} code.key').textContent"))
        .as_str()
        .unwrap()
        .contains(&key));
    b.eval(&format!("document.querySelector('{card} .reveal').click(); true"));
    b.wait_true(
        "the key revealed",
        10.0,
        &format!("document.querySelector('{card} code.key').textContent === {}", json!(key)),
    );

    // An anchor goes live: the status turns live with no reload (the marker survives).
    b.eval("window.__same_page = true");
    let red = red_anchor_with_tone(&d);
    let _anchor = publish_live(&red, svc.rtmp_port, &key);
    b.wait_true(
        "the room live in the console",
        30.0,
        &format!("window.__same_page && document.querySelector('{card} .status').textContent === 'live'"),
    );
    b.shot("console-rooms.png");

    // A new key: the console shows it, and the old one is refused at publish.
    b.eval(&format!("document.querySelector('{card} .regenerate').click(); true"));
    let mut new_key = key.clone();
    wait_for("a new key", 20.0, || {
        new_key = call("GET", &format!("{h}/rooms/{id}"), None).1["key"]["key"].as_str().unwrap_or("").to_string();
        new_key != key
    });
    b.wait_true(
        "the new key in the console",
        20.0,
        &format!(
            "document.querySelector('{card} code.key').textContent.endsWith({})",
            json!(&new_key[new_key.len() - 4..])
        ),
    );
    let events = Events::subscribe(&h);
    let mut old = publish(&red, svc.rtmp_port, &key);
    events.wait("the old key refused", 20.0, |e| e["type"] == "publish_refused");
    let _ = old.kill();
    let _ = old.wait();

    // A session from the room's card: its preview plays the anchor's red picture.
    b.eval(&format!("document.querySelector('{card} .start-session').click(); true"));
    b.wait_true(
        "the session page",
        30.0,
        "location.hash.startsWith('#session/') && document.querySelector('video.preview')",
    );
    b.wait_true("the preview playing", 60.0, "document.querySelector('video.preview').currentTime > 1");
    let mut rgb = [0; 3];
    let red_seen = kit::wait_until(Duration::from_secs(20), || {
        rgb = preview_rgb(&mut b);
        rgb[0] > 200 && rgb[1] < 60 && rgb[2] < 60
    });
    assert!(red_seen, "the preview shows the anchor's red: {rgb:?}");
    b.shot("console-session.png");
}

#[test]
fn the_console_refuses_wrong_and_revoked_tokens_changes_without_csrf_and_other_rooms() {
    let d = workdir("console-security");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let room = |name: &str| {
        call("POST", &format!("{h}/rooms"), Some(&json!({"name": name}).to_string())).1["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, other) = (room("Anchor A"), room("Anchor B"));
    let (st, t) = call("POST", &format!("{h}/tokens"), Some(&json!({"role": "anchor", "room": a}).to_string()));
    assert_eq!(st, 201, "{t}");
    let (anchor, anchor_id) = (t["token"].as_str().unwrap().to_string(), t["id"].as_str().unwrap().to_string());
    let mut b = Browser::start(&d.join("chromium"));

    // A wrong token: the sign-in page again, with the API's message, and no data.
    sign_in(&mut b, &h, "cst_0000000000000000000000000000000000000000000000000000000000000000");
    b.wait_true("the refusal", 20.0, "document.querySelector('#signin-error').textContent.length > 0");
    assert_eq!(b.eval("document.querySelector('#rooms') === null && document.querySelector('#signin') !== null"), true);
    assert_eq!(page_fetch(&mut b, "GET", "/rooms", false), (401, "unauthorized".into()));

    // The anchor sees its own room only, and cannot reach the other one.
    sign_in(&mut b, &h, &anchor);
    b.wait_true("the anchor's rooms", 20.0, "document.querySelectorAll('.room').length > 0");
    let shown = b.eval("[...document.querySelectorAll('.room')].map((r) => r.dataset.room)");
    assert_eq!(shown, json!([a]), "an anchor's console lists its own room only");
    assert_eq!(b.eval("document.querySelector('#create-room') === null"), true, "rooms are made by operators");
    assert_eq!(page_fetch(&mut b, "GET", &format!("/rooms/{other}"), false).0, 403);
    assert_eq!(page_fetch(&mut b, "POST", &format!("/rooms/{other}/key"), true).0, 403);
    // Its event stream carries its own room's events, not the other room's.
    b.eval("window.__ev = []; window.__es = new EventSource('/events'); window.__es.onmessage = (m) => window.__ev.push(JSON.parse(m.data)); true");
    b.wait_true("the anchor's event stream open", 10.0, "window.__es.readyState === 1");
    for r in [&other, &a] {
        let (st, body) = call("POST", &format!("{h}/rooms/{r}/pause"), Some("{}"));
        assert_eq!(st, 200, "{body}");
    }
    b.wait_true(
        "its own room's pause event",
        20.0,
        &format!("window.__ev.some((e) => e.type === 'room_paused' && e.room_id === '{a}')"),
    );
    let seen = b.eval("JSON.stringify(window.__ev)");
    assert!(!seen.as_str().unwrap().contains(&other), "another room's events reach the anchor: {seen}");
    // A change with the cookie but not the CSRF token is refused and changes nothing; with it, it goes.
    let key = || call("GET", &format!("{h}/rooms/{a}"), None).1["key"]["key"].clone();
    let before = key();
    assert_eq!(page_fetch(&mut b, "POST", &format!("/rooms/{a}/key"), false), (403, "csrf".into()));
    assert_eq!(key(), before, "a refused change changes nothing");
    assert_eq!(page_fetch(&mut b, "POST", &format!("/rooms/{a}/key"), true).0, 200);
    assert_ne!(key(), before);
    // The cookie: HttpOnly (the page cannot read it), and another site's sign-in is refused.
    assert_eq!(b.eval("document.cookie"), "", "the session cookie is HttpOnly");
    let (st, _) = call_as(None, "POST", &format!("{h}/console/signin"), Some(&json!({"token": anchor}).to_string()));
    assert_eq!(st, 200, "a sign-in with no Origin (not a browser) is fine");
    let r = ureq::post(&format!("{h}/console/signin"))
        .set("origin", "http://other.test")
        .send_string(&json!({"token": anchor}).to_string());
    assert!(matches!(r, Err(ureq::Error::Status(403, _))), "another origin's sign-in is refused");

    // The token revoked: the next page load is the sign-in page, and the cookie reads nothing.
    let (st, _) = call("DELETE", &format!("{h}/tokens/{anchor_id}"), None);
    assert!(st == 200 || st == 204, "revoked: {st}");
    b.call("Page.reload", json!({}));
    b.wait_true("the sign-in page after the revocation", 20.0, "document.querySelector('#signin #token')");
    assert_eq!(page_fetch(&mut b, "GET", "/rooms", false), (401, "unauthorized".into()));

    // Sign-out clears the cookie.
    let op = token_for(&h).unwrap();
    sign_in(&mut b, &h, &op);
    b.wait_true("the operator's rooms", 20.0, "document.querySelectorAll('.room').length === 2");
    assert_eq!(page_fetch(&mut b, "GET", "/console/me", false).0, 200);
    b.eval("document.querySelector('#signout').click(); true");
    b.wait_true("signed out", 20.0, "document.querySelector('#signin #token')");
    assert_eq!(page_fetch(&mut b, "GET", "/console/me", false).0, 401);

    // A console stays signed in across a restart (the key is the service's stored one), and the
    // cookie is Secure only when the service is told TLS is in front of it.
    let sign_in_cookie = |h: &str| {
        let r = ureq::post(&format!("{h}/console/signin"))
            .set("content-type", "application/json")
            .send_string(&json!({"token": op}).to_string())
            .unwrap();
        r.header("set-cookie").unwrap().to_string()
    };
    let cookie = sign_in_cookie(&h);
    assert!(!cookie.contains("Secure"), "{cookie}");
    let me = |h: &str, cookie: &str| {
        let value = cookie.split(';').next().unwrap();
        match ureq::get(&format!("{h}/console/me")).set("cookie", value).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(me(&h, &cookie), 200);
    drop(svc);
    let svc = start_with(&d.join("db.sqlite"), &["--secure-cookie"]);
    assert_eq!(me(&svc.http, &cookie), 200, "signed in across the restart");
    let secure = sign_in_cookie(&svc.http);
    assert!(secure.contains("; Secure") && secure.contains("HttpOnly"), "{secure}");
}
