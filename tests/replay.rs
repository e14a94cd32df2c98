//! The replay of a recorded session leaves its pause out, over real RTMP, HTTP and FFmpeg: 30 s
//! recorded with a 10 s pause in the middle give a 20 s replay (an HLS VOD and an exported MP4),
//! within a frame, every frame decodable, no slate frame in it, and the sound cut where the
//! picture is. And a live anchor's sound stays with their picture.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use costream::testsrc::Clip;
use serde_json::json;

const FPS: f64 = 30.0;

/// Every video frame of `input` (a file, or a URL of the service) as a 16×9 RGB thumbnail; fails
/// the test on any decoding error.
fn thumbnails(input: &str) -> Vec<[u8; 3]> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(ffmpeg_auth(input))
        .args(["-i", input, "-vf", "scale=16:9", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success() && errors.trim().is_empty(), "every frame of {input} decodes: {errors}");
    // Each thumbnail's centre pixel, (8, 4).
    let centre = (4 * 16 + 8) * 3;
    o.stdout.chunks_exact(16 * 9 * 3).map(|f| [f[centre], f[centre + 1], f[centre + 2]]).collect()
}

/// The times of a file's video frames, from its first (by its packets).
fn video_times(path: &Path) -> Vec<f64> {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    // (MPEG-TS packets end their line with a comma.)
    let text = String::from_utf8_lossy(&o.stdout);
    let mut t: Vec<f64> = text.lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect();
    t.sort_by(f64::total_cmp);
    let first = t.first().copied().unwrap_or(0.0);
    t.iter().map(|x| x - first).collect()
}

/// Waits until the session has composed `n` frames in all.
fn wait_frames(session: &str, n: u64) {
    wait_for(&format!("{n} frames composed"), n as f64 / FPS + 30.0, || {
        call("GET", session, None).1["frames"].as_u64().unwrap_or(0) >= n
    });
}

#[test]
fn a_replay_leaves_the_pause_out_and_plays_as_one_stream() {
    let d = workdir("replay");
    let svc = start_logged(&d.join("db.sqlite"), &[], &d.join("serve.log"));
    let h = svc.http.clone();
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    let red = red_anchor_with_tone(&d);
    let _anchor = publish_live(&red, svc.rtmp_port, &key);
    let events = Events::subscribe(&h);
    let body = json!({"inputs": [{"room": a}], "size": "320x180", "fps": FPS, "record": true});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let session = format!("{h}/sessions/{id}");
    let hls = format!("{session}/hls/index.m3u8");
    wait_segments(&hls);
    wait_for("the anchor's red", 30.0, || {
        let c = frame_rgb_url(&hls, 320, 180).at(8, 8);
        c[0] > 200 && c[1] < 60
    });
    // Before anything was recorded as paused, the replay is the recording as it stands.
    let (st, _) = call("GET", &format!("{h}/sessions/ses_000000000000/replay.m3u8"), None);
    assert_eq!(st, 404);

    // 10 s, then a muted 10 s pause (silence in it would show at a badly cut join), then 10 s.
    let frames_at = || call("GET", &session, None).1["frames"].as_u64().unwrap();
    wait_frames(&session, (10.0 * FPS) as u64);
    assert_eq!(call("POST", &format!("{h}/rooms/{a}/pause"), Some(r#"{"audio":"mute"}"#)).0, 200);
    let paused =
        events.wait("session_paused", 10.0, |e| e["type"] == "session_paused" && e["session_id"] == id.as_str());
    let p = paused["at_s"].as_f64().unwrap();
    wait_frames(&session, frames_at() + (10.0 * FPS) as u64);
    assert_eq!(call("POST", &format!("{h}/rooms/{a}/resume"), None).0, 200);
    let resumed =
        events.wait("session_resumed", 10.0, |e| e["type"] == "session_resumed" && e["session_id"] == id.as_str());
    let q = resumed["at_s"].as_f64().unwrap();
    assert!((q - p - 10.0).abs() < 1.5, "a pause of about 10 s: {p} to {q}");
    wait_frames(&session, frames_at() + (10.0 * FPS) as u64);
    assert_eq!(call("DELETE", &session, None).0, 204);

    let recording = d.join("hls").join(&id).join("recording.ts");
    // The frames of the pause (a busy machine may have skipped a few ticks in it).
    let times = video_times(&recording);
    let (recorded, cut) = (times.len(), times.iter().filter(|t| **t >= p - 0.001 && **t < q - 0.001).count());
    assert!(cut.abs_diff(((q - p) * FPS) as usize) < 30, "{cut} frames in the pause");
    // The HLS replay: the recording's frames less the pause's, in one VOD playlist.
    let (st, body) = call("GET", &format!("{session}/replay.m3u8"), None);
    assert_eq!(st, 200, "{body} {}", std::fs::read_to_string(d.join("serve.log")).unwrap());
    let playlist = authed(&format!("{session}/replay.m3u8")).call().unwrap().into_string().unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST") && playlist.contains("replay/"), "{playlist}");
    let listed: f64 = segments(&playlist).values().map(|(d, _)| d).sum();
    let want = (recorded - cut) as f64 / FPS;
    // 10 s, 10 s paused, 10 s (and the moments the test takes to start and stop the session).
    assert!((19.9..21.5).contains(&want), "the recording less its pause is about 20 s: {want} s");
    assert!(
        (listed - want).abs() <= 1.5 / FPS,
        "the playlist lists {listed} s, want {want} s (recorded {recorded} frames, cut {cut})"
    );
    let shown = thumbnails(&format!("{session}/replay.m3u8"));
    assert!(shown.len().abs_diff(recorded - cut) <= 1, "{} frames played, want {}", shown.len(), recorded - cut);
    // The waiting card may open the recording (the session started as the anchor's first picture
    // was on its way); from the anchor's first frame on, every frame is theirs.
    let is_red = |c: &[u8; 3]| c[0] > 180 && c[1] < 80 && c[2] < 80;
    let no_slate_after_the_anchor = |frames: &[[u8; 3]], what: &str| {
        let first = frames.iter().position(is_red).expect("the anchor's frames");
        assert!(first < (5.0 * FPS) as usize, "the anchor appears within 5 s of the {what}: frame {first}");
        let slate = frames[first..].iter().position(|c| !is_red(c)).map(|i| i + first);
        assert_eq!(
            slate,
            None,
            "every frame of the {what} after the first is the anchor's: {:?}",
            slate.map(|i| (i, frames[i]))
        );
    };
    no_slate_after_the_anchor(&shown, "HLS replay");

    // The MP4 export: progress on /events, then the file.
    let (st, ex) = call("POST", &format!("{session}/replay/export"), None);
    assert_eq!((st, ex["state"].as_str()), (202, Some("running")), "{ex}");
    let done = events.wait("the export", 60.0, |e| e["type"] == "replay_export" && e["state"] != "running");
    assert_eq!(done["state"], "done", "{done}");
    let mp4 = d.join("replay.mp4");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut authed(&format!("{session}/replay.mp4")).call().unwrap().into_reader(), &mut bytes)
        .unwrap();
    std::fs::write(&mp4, &bytes).unwrap();
    let frames = thumbnails(mp4.to_str().unwrap());
    assert!(frames.len().abs_diff(recorded - cut) <= 1, "{} frames exported, want {}", frames.len(), recorded - cut);
    no_slate_after_the_anchor(&frames, "MP4");
    let j = probe(&mp4);
    let v = stream(&j, "video")["duration"].as_str().unwrap().parse::<f64>().unwrap();
    let au = stream(&j, "audio")["duration"].as_str().unwrap().parse::<f64>().unwrap();
    assert!((v - want).abs() <= 1.5 / FPS, "the MP4's picture lasts {v} s, want {want} s");
    assert!((au - v).abs() < 0.1, "sound and picture end together: {au} s and {v} s");
    // At the join the anchor's tone goes on: no silence from the muted pause, no gap.
    let sound = samples(&mp4);
    let around = &sound[((p - 1.0) * 48_000.0) as usize..((p + 1.0) * 48_000.0) as usize];
    let quiet: Vec<usize> =
        around.chunks(480).enumerate().filter(|(_, w)| tone(w, 440.0).0 < 0.02).map(|(i, _)| i).collect();
    eprintln!("silent 10 ms windows around the join: {quiet:?}");
    // A badly cut join (at the picture's edges instead of the sound's, which follow them by up to
    // a few frames) keeps the muted pause's silence right at the join: windows 100 to 106. The
    // anchor's sound coming back may run short once, for up to 30 ms, a few frames later (its
    // jitter buffer refilling; seen on both engines); nothing else may be silent.
    let at_join: Vec<&usize> = quiet.iter().filter(|w| (95..107).contains(*w)).collect();
    let longest = quiet.chunk_by(|a, b| b - a == 1).map(<[usize]>::len).max().unwrap_or(0);
    assert!(
        at_join.is_empty() && longest <= 3 && quiet.len() <= 6,
        "no silence at the join at {p} s and no more than 30 ms in one piece within a second of it: windows {quiet:?}"
    );
    // (Each side on its own: the tone's phase jumps at the join.)
    let (before, after) = (&around[..43_200], &around[52_800..]);
    assert!(tone(before, 440.0).1 > 0.5 && tone(after, 440.0).1 > 0.5, "the anchor's tone on both sides of the join");
}

/// Onsets of a flash (frames whose centre turns bright) and of a beep (10 ms windows that turn
/// loud) in a recording, in seconds from its first frame.
fn flashes_and_beeps(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let bright: Vec<bool> = thumbnails(path.to_str().unwrap()).iter().map(|c| c[0] > 128).collect();
    let flashes = (1..bright.len()).filter(|&i| bright[i] && !bright[i - 1]).map(|i| i as f64 / FPS).collect();
    let loud: Vec<bool> = samples(path).chunks(480).map(|w| tone(w, 1000.0).0 > 0.05).collect();
    let beeps = (1..loud.len()).filter(|&i| loud[i] && !loud[i - 1]).map(|i| i as f64 * 0.01).collect();
    (flashes, beeps)
}

/// An anchor's sound and picture stay together through a live session: a flash and a beep sent
/// at the same instant come out within ITU-R BT.1359's acceptable range of each other (sound at
/// most 90 ms early, 185 ms late; 20 to 60 ms early here, more when the machine is busy), where
/// sound that arrived in a burst, as a new publisher's first packets do, used to lag by 0.63 s.
#[test]
fn a_live_anchor_s_sound_stays_with_their_picture() {
    let d = workdir("lipsync");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    let (a, key) = (room["id"].as_str().unwrap().to_string(), room["key"]["key"].as_str().unwrap().to_string());
    // A white flash and a 1 kHz beep at 1.0 s of every 2 s.
    let video = "color=c=black:size=320x180:rate=30,geq=lum='if(between(mod(T,2),1,1.1),235,16)':cb=128:cr=128";
    let sound = "aevalsrc='if(between(mod(t,2),1,1.1),0.5*sin(2*PI*1000*t),0)':s=48000";
    let c = clip(&d, "flash.flv", &Clip::new(video, 20.0).with_audio(sound).args(&LIVE_GOP));
    let _anchor = publish(&c, svc.rtmp_port, &key);
    let body = json!({"inputs": [{"room": a}], "size": "320x180", "fps": FPS, "record": true});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{s}");
    let session = format!("{h}/sessions/{}", s["id"].as_str().unwrap());
    // A session that does not record has no replay.
    let (st, plain) = call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": a}]}).to_string()));
    assert_eq!(st, 201, "{plain}");
    let (st, e) = call("GET", &format!("{h}/sessions/{}/replay.m3u8", plain["id"].as_str().unwrap()), None);
    assert_eq!((st, e["error"]["code"].as_str()), (409, Some("not_recorded")), "{e}");
    wait_frames(&session, (13.0 * FPS) as u64);
    assert_eq!(call("DELETE", &session, None).0, 204);
    let (flashes, beeps) = flashes_and_beeps(&d.join("hls").join(s["id"].as_str().unwrap()).join("recording.ts"));
    assert!(flashes.len() >= 5, "flashes at {flashes:?}");
    for f in &flashes {
        let nearest = beeps.iter().map(|b| b - f).min_by(|x, y| x.abs().total_cmp(&y.abs()));
        assert!(
            nearest.is_some_and(|o| (-0.090..=0.185).contains(&o)),
            "the beep of the flash at {f:.3} s is {nearest:?} s off (flashes {flashes:?}, beeps {beeps:?})"
        );
    }
}
