//! The slate library over real HTTP and FFmpeg: uploads (image, animation, video, text card)
//! checked whole, bad ones refused with their code leaving neither a file nor a record, and a
//! paused room showing the slate asked for, its default, or the system card when a slate cannot
//! be shown.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use costream::compose::slate::CARD_BACKGROUND;
use serde_json::{json, Value};

/// A multipart/form-data POST of `file` (as `name`) with text fields, with the operator token.
fn upload(url: &str, file: Option<(&str, &[u8])>, fields: &[(&str, &str)]) -> (u16, Value) {
    let boundary = "costream-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
    }
    if let Some((name, bytes)) = file {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    let req = ureq::post(url)
        .set("authorization", &format!("Bearer {}", token_for(url).unwrap()))
        .set("content-type", &format!("multipart/form-data; boundary={boundary}"));
    let resp = match req.send_bytes(&body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let st = resp.status();
    (st, serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or(Value::Null))
}

/// Runs ffmpeg with `args` writing `out` under `dir`.
fn make(dir: &Path, out: &str, args: &[&str]) -> PathBuf {
    let p = dir.join(out);
    let o = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).arg(&p).output().unwrap();
    assert!(o.status.success(), "{out}: {}", String::from_utf8_lossy(&o.stderr));
    p
}

/// Files in the service's slate directory.
fn slate_files(db: &Path) -> Vec<String> {
    let dir = db.parent().unwrap().join("slates");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The colour at the centre of every frame of a segment.
fn centre_colours(segment: &Path) -> Vec<[u8; 3]> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(segment)
        .args(["-vf", "scale=32:18", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
        .chunks_exact(32 * 18 * 3)
        .map(|f| [f[(9 * 32 + 16) * 3], f[(9 * 32 + 16) * 3 + 1], f[(9 * 32 + 16) * 3 + 2]])
        .collect()
}

fn near(f: &Rgb, want: [u8; 3]) -> bool {
    let c = f.at(8, 8);
    (0..3).all(|k| (c[k] as i32 - want[k] as i32).abs() <= 24)
}

#[test]
fn slates_are_checked_at_upload_and_a_pause_shows_the_one_asked_for_or_a_fallback() {
    let d = workdir("slates");
    let db = d.join("db.sqlite");
    let svc = start_with(&db, &["--allow-private-outputs"]);
    let h = svc.http.clone();
    let slates = format!("{h}/slates");
    let read = |p: &Path| std::fs::read(p).unwrap();
    let lavfi = |src: &str| ["-f", "lavfi", "-i"].into_iter().chain([src]).map(str::to_string).collect::<Vec<_>>();
    let args = |src: &str, rest: &[&str]| {
        let mut a = lavfi(src);
        a.extend(rest.iter().map(|s| s.to_string()));
        a
    };
    let run = |out: &str, a: Vec<String>| make(&d, out, &a.iter().map(String::as_str).collect::<Vec<_>>());

    // Good ones: a green PNG, a GIF, an MP4 with its own tone, and a text card.
    let png = run("green.png", args("color=c=0x00ff00:size=320x180", &["-frames:v", "1"]));
    // Half a second of yellow, half a second of magenta.
    let two = "color=c=yellow:size=160x120:rate=10:d=0.5[a];color=c=magenta:size=160x120:rate=10:d=0.5[b];[a][b]concat=n=2:v=1:a=0,format=rgb24";
    let gif = make(&d, "blink.gif", &["-filter_complex", two]);
    let mut mp4_args = lavfi("color=c=0x0000ff:size=320x180:rate=25");
    mp4_args.extend(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=880:sample_rate=48000",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ]
        .map(str::to_string),
    );
    mp4_args.extend(["-c:a", "aac", "-movflags", "+faststart"].map(str::to_string));
    let mp4 = run("loop.mp4", mp4_args.clone());
    let (st, image) =
        upload(&slates, Some(("green.png", &read(&png))), &[("title", "休息一下"), ("tags", "游戏,game")]);
    assert_eq!(st, 201, "{image}");
    assert_eq!(
        (image["kind"].as_str(), image["width"].as_u64(), image["height"].as_u64(), image["status"].as_str()),
        (Some("image"), Some(320), Some(180), Some("approved")),
        "{image}"
    );
    assert_eq!(image["tags"], json!(["游戏", "game"]));
    let (st, anim) = upload(&slates, Some(("blink.gif", &read(&gif))), &[("title", "blink")]);
    assert_eq!((st, anim["kind"].as_str()), (201, Some("animation")), "{anim}");
    assert!((anim["duration_s"].as_f64().unwrap() - 1.0).abs() < 0.2, "{anim}");
    let (st, video) = upload(&slates, Some(("loop.mp4", &read(&mp4))), &[("title", "loop"), ("tags", "美食")]);
    assert_eq!((st, video["kind"].as_str(), video["has_audio"].as_bool()), (201, Some("video"), Some(true)), "{video}");
    assert!((video["duration_s"].as_f64().unwrap() - 3.0).abs() < 0.2, "{video}");
    let (st, text) = call("POST", &slates, Some(r#"{"title":"card","tags":["chat"],"text":"马上回来 · brb"}"#));
    assert_eq!((st, text["kind"].as_str()), (201, Some("text")), "{text}");
    let kept = slate_files(&db);
    assert_eq!(kept.len(), 3, "three files kept: {kept:?}");
    let listed = || call("GET", &slates, None).1.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(listed(), 4);

    // Bad ones: each refused with its code; no file and no record are left.
    let mp4_bytes = read(&mp4);
    let truncated = &mp4_bytes[..mp4_bytes.len() * 6 / 10];
    let mut long_args = lavfi("color=c=gray:size=64x64:rate=1");
    long_args
        .extend(["-t", "600", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"].map(str::to_string));
    let long = run("ten-minutes.mp4", long_args);
    let huge = run("huge.png", args("color=c=red:size=8000x8000", &["-frames:v", "1"]));
    let big = vec![7u8; 25 << 20];
    let bad: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("cut.mp4", truncated.to_vec(), "cut", 422, "slate_truncated"),
        ("notes.png", b"just some words, not a picture\n".repeat(20), "notes", 422, "slate_unreadable"),
        ("huge.png", read(&huge), "huge", 422, "slate_dimensions"),
        ("ten-minutes.mp4", read(&long), "long", 422, "slate_too_long"),
        ("big.mp4", big, "big", 413, "slate_too_large"),
        ("empty.png", Vec::new(), "empty", 422, "slate_empty"),
        ("green.png", read(&png), "赌博之夜", 422, "slate_blocked"),
    ];
    for (name, bytes, title, status, code) in &bad {
        let (st, body) = upload(&slates, Some((name, bytes)), &[("title", title)]);
        assert_eq!((st, body["error"]["code"].as_str()), (*status, Some(*code)), "{name}: {body}");
    }
    let (st, body) = upload(&slates, Some(("green.png", &read(&png))), &[("title", "ok"), ("tags", "NSFW")]);
    assert_eq!((st, body["error"]["code"].as_str()), (422, Some("slate_blocked")), "a tag: {body}");
    let (st, body) = upload(&slates, None, &[("title", "no file")]);
    assert_eq!(st, 400, "{body}");
    let (st, body) = call("POST", &slates, Some(r#"{"title":"x","text":"porn"}"#));
    assert_eq!((st, body["error"]["code"].as_str()), (422, Some("slate_blocked")), "{body}");
    let long = json!({"title": "x", "text": "y".repeat(100_000)}).to_string();
    let (st, body) = call("POST", &slates, Some(&long));
    assert_eq!((st, body["error"]["code"].as_str()), (400, Some("invalid_parameter")), "a card's body is bounded");
    assert_eq!(slate_files(&db), kept, "refused uploads leave no file");
    assert_eq!(listed(), 4, "and no record");

    // A live anchor, paused with the image: their tile shows it.
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    let red = red_anchor_with_tone(&d);
    let _anchor = publish_live(&red, svc.rtmp_port, &key);
    // Pushed to an RTMP destination too, which stays connected through every kind of slate.
    let nginx = start_nginx(&d);
    let push = format!("rtmp://127.0.0.1:{}/live/slates", nginx.port);
    let body = json!({"inputs": [{"room": a}], "size": "320x180", "outputs": [push]});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let ses = s["id"].as_str().unwrap().to_string();
    let hls = format!("{h}/sessions/{ses}/hls/index.m3u8");
    wait_for("two HLS segments", 30.0, || {
        authed(&hls).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default().matches(".ts").count() >= 2
    });
    wait_for("the anchor's red", 40.0, || near(&frame_rgb_url(&hls, 320, 180), [255, 0, 0]));
    let pause = format!("{h}/rooms/{a}/pause");
    let image_id = image["id"].as_str().unwrap();
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": image_id }).to_string()));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some(image_id)), "{r}");
    assert_eq!(r["paused"]["audio"].as_str(), Some("keep"), "an image has no sound: the anchor's goes on: {r}");
    wait_for("the green image in the anchor's tile", 20.0, || near(&frame_rgb_url(&hls, 320, 180), [0, 255, 0]));
    // A segment's sound: (RMS, share at the anchor's 440 Hz, share at the video slate's 880 Hz).
    let heard = || {
        let s = samples(&newest_segment(&hls, &d));
        (tone(&s, 440.0).1, tone(&s, 880.0).1)
    };
    wait_for("the anchor's tone under the image", 20.0, || heard().0 > 0.5);

    // An animation plays in a loop with its frame delays: both of its colours come by within a
    // segment; a video shows its own picture.
    let (yellow, magenta) = ([255, 255, 0], [255, 0, 255]);
    let video_id = video["id"].as_str().unwrap();
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": video_id }).to_string()));
    assert_eq!((st, r["paused"]["audio"].as_str()), (200, Some("slate")), "a video's own sound by default: {r}");
    wait_for("the video's blue", 20.0, || near(&frame_rgb_url(&hls, 320, 180), [0, 0, 255]));
    wait_for("the video's own 880 Hz tone instead of the anchor's", 20.0, || {
        let (anchor, slate) = heard();
        slate > 0.5 && anchor < 0.1
    });
    // "keep": the video's picture, the anchor's voice.
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": video_id, "audio": "keep" }).to_string()));
    assert_eq!((st, r["paused"]["audio"].as_str()), (200, Some("keep")), "{r}");
    wait_for("the anchor's tone under the video", 20.0, || {
        let (anchor, slate) = heard();
        anchor > 0.5 && slate < 0.1
    });

    let anim_id = anim["id"].as_str().unwrap();
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": anim_id }).to_string()));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some(anim_id)), "{r}");
    wait_for("the animation's yellow and magenta in one segment", 30.0, || {
        let seen = centre_colours(&newest_segment(&hls, &d));
        let close = |want: [u8; 3]| seen.iter().any(|c| (0..3).all(|k| (c[k] as i32 - want[k] as i32).abs() <= 24));
        close(yellow) && close(magenta)
    });
    wait_for("the anchor's tone under the animation", 20.0, || heard().0 > 0.5);
    // "auto" is the room's default slate (the text card here).
    let text_id = text["id"].as_str().unwrap();
    let (st, r) = call("PUT", &format!("{h}/rooms/{a}/slate"), Some(&json!({ "slate": text_id }).to_string()));
    assert_eq!((st, r["default_slate"].as_str()), (200, Some(text_id)), "{r}");
    let (st, r) = call("PUT", &format!("{h}/rooms/{a}/slate"), Some(r#"{"slate":"slate_nope"}"#));
    assert_eq!((st, r["error"]["code"].as_str()), (404, Some("not_found")), "{r}");
    let (st, r) = call("POST", &pause, Some(r#"{"slate":"auto"}"#));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some(text_id)), "{r}");
    wait_for("the text card", 20.0, || near(&frame_rgb_url(&hls, 320, 180), CARD_BACKGROUND));

    // A slate whose file is gone at play time: the room's default stands in; without one, the
    // system card. The pause says which is shown.
    std::fs::remove_file(
        db.parent().unwrap().join("slates").join(slate_files(&db).iter().find(|f| f.ends_with(".png")).unwrap()),
    )
    .unwrap();
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": image_id }).to_string()));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some(text_id)), "the default stands in: {r}");
    assert_eq!(call("PUT", &format!("{h}/rooms/{a}/slate"), Some(r#"{"slate":null}"#)).0, 200);
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": image_id }).to_string()));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some("system")), "then the system card: {r}");
    wait_for("the system card", 20.0, || near(&frame_rgb_url(&hls, 320, 180), CARD_BACKGROUND));
    let (st, body) = call("POST", &pause, Some(r#"{"slate":"slate_nope"}"#));
    assert_eq!((st, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");

    // Resumed: the anchor's picture and tone; the push went through five slates as one stream.
    assert_eq!(call("POST", &format!("{h}/rooms/{a}/resume"), None).0, 200);
    wait_for("the anchor's red again", 20.0, || near(&frame_rgb_url(&hls, 320, 180), [255, 0, 0]));
    wait_for("the anchor's tone again", 20.0, || heard().0 > 0.5);
    assert_pushed_as_one_stream(&h, &nginx, "slates", || {
        assert_eq!(call("DELETE", &format!("{h}/sessions/{ses}"), None).0, 204);
    });

    // Deleting a slate removes its record and its file.
    assert_eq!(call("DELETE", &format!("{slates}/{video_id}"), None).0, 204);
    assert_eq!(call("GET", &format!("{slates}/{video_id}"), None).0, 404);
    assert!(!slate_files(&db).iter().any(|f| f.starts_with(video_id)), "{:?}", slate_files(&db));
}

/// "auto" picks the slate whose words match what the room is about (its title, tags and recent
/// comments): a game room the game slate, a cooking room the cooking one; with no match, the
/// room's default, else the system card. The ranking shows its scores.
#[test]
fn auto_picks_the_slate_that_fits_the_room() {
    let d = workdir("slates-auto");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let text_slate = |title: &str, tags: &[&str], text: &str| {
        let (st, s) = call(
            "POST",
            &format!("{h}/slates"),
            Some(&json!({"title": title, "tags": tags, "text": text}).to_string()),
        );
        assert_eq!(st, 201, "{s}");
        s["id"].as_str().unwrap().to_string()
    };
    let game = text_slate("游戏时间", &["游戏", "game"], "打完这局就回来");
    let food = text_slate("美食 break", &["美食", "cooking"], "去做饭了");
    let chat = text_slate("聊会天", &["chat"], "马上回来");
    let room = |name: &str, topic: Value| {
        let (_, r) = call("POST", &format!("{h}/rooms"), Some(&json!({ "name": name }).to_string()));
        let id = r["id"].as_str().unwrap().to_string();
        let (st, r) = call("PATCH", &format!("{h}/rooms/{id}"), Some(&topic.to_string()));
        assert_eq!(st, 200, "{r}");
        id
    };
    let game_room = room("G", json!({"title": "王者荣耀上分 游戏直播", "tags": ["游戏", "game"]}));
    let food_room = room("F", json!({"title": "今晚做红烧肉", "tags": ["美食", "cooking"]}));
    let plain = room("P", json!({"title": "数学课", "tags": ["study"]}));
    let (st, r) = call("PATCH", &format!("{h}/rooms/{plain}"), Some(r#"{"tags":[""]}"#));
    assert_eq!((st, r["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{r}");
    let auto = |room: &str| {
        let (st, r) = call("POST", &format!("{h}/rooms/{room}/pause"), Some(r#"{"slate":"auto"}"#));
        assert_eq!(st, 200, "{r}");
        r["paused"]["slate"].as_str().unwrap().to_string()
    };
    let suggest = |room: &str| call("GET", &format!("{h}/rooms/{room}/slates/suggest"), None).1;

    let s = suggest(&game_room);
    assert_eq!((s["pick"].as_str(), s["because"].as_str()), (Some(game.as_str()), Some("match")), "{s}");
    assert!(s["ranking"][0]["score"].as_f64().unwrap() >= s["threshold"].as_f64().unwrap(), "{s}");
    assert!(s["ranking"][0]["matched"].as_array().unwrap().contains(&json!("游戏")), "{s}");
    assert_eq!(auto(&game_room), game);
    assert_eq!(auto(&food_room), food);
    // No match: the system card, then the room's default once it has one.
    let s = suggest(&plain);
    assert_eq!((s["pick"].as_str(), s["because"].as_str()), (Some("system"), Some("system")), "{s}");
    assert_eq!(auto(&plain), "system");
    assert_eq!(call("PUT", &format!("{h}/rooms/{plain}/slate"), Some(&json!({ "slate": chat }).to_string())).0, 200);
    assert_eq!(auto(&plain), chat);
    // What viewers say counts too: comments about cooking on the plain room's session.
    let (st, ses) = call(
        "POST",
        &format!("{h}/sessions"),
        Some(&json!({"inputs": [{"room": plain}], "size": "320x180"}).to_string()),
    );
    assert_eq!(st, 201, "{ses}");
    let ses = ses["id"].as_str().unwrap();
    for text in ["主播去做美食了吗", "cooking time!", "想看美食"] {
        let c = json!({"anchor": "a", "text": text}).to_string();
        assert_eq!(call("POST", &format!("{h}/sessions/{ses}/comments"), Some(&c)).0, 204);
    }
    let s = suggest(&plain);
    assert_eq!(s["pick"].as_str(), Some(food.as_str()), "{s}");
    assert_eq!(auto(&plain), food);
}

/// A moderator on loopback: each POST it gets, as (X-Signature, body).
fn moderator() -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/moderate", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let (mut len, mut sig) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-signature:") {
                    sig = line["x-signature:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0u8; len];
            std::io::Read::read_exact(&mut r, &mut body).unwrap();
            let _ = (&conn).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((sig, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (url, rx)
}

/// With a moderator, a new slate waits (`pending`, not shown: a pause falls back) until the
/// moderator's signed answer; the moderator gets a signed notice with a signed URL of the file;
/// a rejected slate leaves no file and no record; unsigned or forged answers change nothing.
#[test]
fn a_moderated_slate_waits_for_the_signed_answer() {
    const SECRET: &str = "moderation-test-secret";
    let d = workdir("slates-moderation");
    let db = d.join("db.sqlite");
    let (url, notices) = moderator();
    let svc = start_with_env(&db, &["--moderation-url", &url], &[("COSTREAM_MODERATION_SECRET", SECRET)]);
    let h = svc.http.clone();
    let png = make(&d, "green.png", &["-f", "lavfi", "-i", "color=c=0x00ff00:size=320x180", "-frames:v", "1"]);
    let bytes = std::fs::read(&png).unwrap();
    let (st, slate) = upload(&format!("{h}/slates"), Some(("green.png", &bytes)), &[("title", "brb")]);
    assert_eq!((st, slate["status"].as_str()), (201, Some("pending")), "{slate}");
    let id = slate["id"].as_str().unwrap().to_string();
    let (sig, body) = notices.recv_timeout(std::time::Duration::from_secs(10)).expect("the moderator is told");
    assert_eq!(sig, costream::session::unlock::sign(SECRET.as_bytes(), body.as_bytes()), "the notice is signed");
    let notice: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(notice["slate"]["id"].as_str(), Some(id.as_str()), "{notice}");
    // The moderator fetches the file with the signed URL (no token); a changed signature fails.
    let fetch = notice["fetch_url"].as_str().unwrap().to_string();
    let r = ureq::get(&fetch).call().unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut got).unwrap();
    assert_eq!(got, bytes, "the signed URL serves the uploaded file");
    let forged = format!("{}0000", &fetch[..fetch.len() - 4]);
    assert!(matches!(ureq::get(&forged).call(), Err(ureq::Error::Status(403, _))), "a forged signature");

    // Pending: not shown, a pause falls back.
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let pause = format!("{h}/rooms/{}/pause", room["id"].as_str().unwrap());
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": id }).to_string()));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some("system")), "a pending slate is not shown: {r}");

    // Answers: unsigned and forged ones are refused and change nothing; a signed one counts.
    let answer = |body: &str, sig: Option<String>| {
        let mut req = ureq::post(&format!("{h}/slates/{id}/moderation")).set("content-type", "application/json");
        if let Some(s) = sig {
            req = req.set("x-signature", &s);
        }
        match req.send_string(body) {
            Ok(r) => (r.status(), serde_json::from_str::<Value>(&r.into_string().unwrap()).unwrap()),
            Err(ureq::Error::Status(st, r)) => {
                (st, serde_json::from_str(&r.into_string().unwrap()).unwrap_or(Value::Null))
            }
            Err(e) => panic!("{e}"),
        }
    };
    let approve = r#"{"status":"approved"}"#;
    assert_eq!(answer(approve, None).0, 401);
    assert_eq!(answer(approve, Some(costream::session::unlock::sign(b"wrong", approve.as_bytes()))).0, 401);
    assert_eq!(call("GET", &format!("{h}/slates/{id}"), None).1["status"], "pending");
    let signed = |b: &str| Some(costream::session::unlock::sign(SECRET.as_bytes(), b.as_bytes()));
    let (st, r) = answer(approve, signed(approve));
    assert_eq!((st, r["status"].as_str()), (200, Some("approved")), "{r}");
    let (st, r) = call("POST", &pause, Some(&json!({ "slate": id }).to_string()));
    assert_eq!((st, r["paused"]["slate"].as_str()), (200, Some(id.as_str())), "approved, it is shown: {r}");

    // Rejected: the slate and its file are gone.
    let (st, other) = upload(&format!("{h}/slates"), Some(("green.png", &bytes)), &[("title", "other")]);
    assert_eq!(st, 201, "{other}");
    let other_id = other["id"].as_str().unwrap().to_string();
    notices.recv_timeout(std::time::Duration::from_secs(10)).expect("the second notice");
    let reject = r#"{"status":"rejected"}"#;
    let mut req = ureq::post(&format!("{h}/slates/{other_id}/moderation")).set("content-type", "application/json");
    req = req.set("x-signature", &signed(reject).unwrap());
    assert_eq!(req.send_string(reject).unwrap().status(), 200);
    assert_eq!(call("GET", &format!("{h}/slates/{other_id}"), None).0, 404);
    assert_eq!(slate_files(&db).len(), 1, "only the approved slate's file is left: {:?}", slate_files(&db));
}

/// A slate upload may take longer than other bodies (a 20 MiB file on a slow uplink): one that
/// trickles in over 12 s, past the 10 s every other body has, is kept.
#[test]
fn a_slow_upload_is_kept() {
    use std::io::{Read, Write};
    let d = workdir("slates-slow");
    let svc = start(&d.join("db.sqlite"));
    let png = make(&d, "green.png", &["-f", "lavfi", "-i", "color=c=0x00ff00:size=320x180", "-frames:v", "1"]);
    let boundary = "slow-upload-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nslow\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"g.png\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::fs::read(&png).unwrap());
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    let port = svc.http.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let token = token_for(&svc.http).unwrap();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "POST /slates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let started = std::time::Instant::now();
    for chunk in body.chunks(body.len().div_ceil(12)) {
        conn.write_all(chunk).unwrap();
        // The pace of a slow uplink is the point of this test.
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let mut answer = String::new();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    conn.read_to_string(&mut answer).unwrap();
    assert!(started.elapsed().as_secs_f64() > 10.0, "it took longer than the usual body deadline");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(call("GET", &format!("{}/slates", svc.http), None).1.as_array().map(Vec::len), Some(1));
}
