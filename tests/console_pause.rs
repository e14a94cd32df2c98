//! Pause and a poll from the console in headless Chromium: an invalid slate upload shows the
//! API's refusal, a valid one becomes the pause's slate (seen in the decoded output), a poll is
//! opened from the session's page, 50 viewer pages (each a viewer's own link) vote, and the
//! console's bars and the winner match the API.

mod common;

use common::browser::Browser;
use common::*;
use costream::testsrc::Clip;
use serde_json::json;

const VOTERS: usize = 50;

#[test]
fn a_pause_with_an_uploaded_slate_and_a_poll_voted_by_50_viewer_pages_from_the_console() {
    let d = workdir("console-pause");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"暂停 room"}"#));
    let id = room["id"].as_str().unwrap().to_string();
    let grey =
        Clip::new("color=c=0x808080:size=320x180:rate=30", 4.0).with_audio("sine=frequency=440:sample_rate=48000");
    let _anchor =
        publish_live(&clip(&d, "grey.flv", &grey.args(&LIVE_GOP)), svc.rtmp_port, room["key"]["key"].as_str().unwrap());
    let body = json!({"inputs": [{"room": id}], "size": "320x180", "bitrate_kbps": 300});
    let (st, ses) = call("POST", &format!("{h}/sessions"), Some(&body.to_string()));
    assert_eq!(st, 201, "{ses}");
    let ses = ses["id"].as_str().unwrap().to_string();
    let playlist = format!("{h}/sessions/{ses}/hls/index.m3u8");
    wait_segments(&playlist);

    let mut b = Browser::operator_console(&d.join("chromium"), &h);
    b.wait_true("the rooms", 20.0, "document.querySelector('.room')");
    b.navigate(&format!("{h}/console#session/{ses}"));
    b.wait_true(
        "the session's pause form",
        20.0,
        &format!("document.querySelector('.pause-room[data-room={id}]') && document.querySelector('#slate-upload')"),
    );

    // An invalid slate (text posing as a PNG): the API's message, shown by the form.
    let bad = d.join("not-a-picture.png");
    std::fs::write(&bad, "this is not a picture").unwrap();
    b.set_files("#slate-upload input[type=file]", &[&bad]);
    b.eval("{ const f = document.querySelector('#slate-upload'); f.title.value = 'bad'; f.requestSubmit(); } true");
    b.wait_true("the upload's refusal", 20.0, "document.querySelector('#slate-error').textContent.length > 0");
    let shown = b.eval("document.querySelector('#slate-error').textContent").as_str().unwrap().to_string();
    let (_, slates) = call("GET", &format!("{h}/slates"), None);
    assert_eq!(slates.as_array().map(Vec::len), Some(0), "a refused upload leaves nothing ({shown})");
    // A green picture: uploaded, picked, and the pause shows it.
    let good = d.join("green.png");
    assert!(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x00c000:size=640x360", "-frames:v", "1"])
        .arg(&good)
        .status()
        .unwrap()
        .success());
    b.set_files("#slate-upload input[type=file]", &[&good]);
    b.eval(
        "{ const f = document.querySelector('#slate-upload'); f.title.value = '稍后回来'; f.requestSubmit(); } true",
    );
    b.wait_true("the slate in the picker", 20.0, &format!("[...document.querySelectorAll('.pause-room[data-room={id}] select[name=slate] option')].some((o) => o.textContent.includes('稍后回来'))"));
    // "auto" says what it would show, as the API ranks it.
    let (_, sg) = call("GET", &format!("{h}/rooms/{id}/slates/suggest"), None);
    let auto = format!("auto shows {} ({})", sg["pick"].as_str().unwrap(), sg["because"].as_str().unwrap());
    b.wait_true(
        "auto's pick",
        20.0,
        &format!("document.querySelector('.auto-ranking[data-room={id}]').textContent.startsWith({})", json!(auto)),
    );
    // A viewer watches on the viewer page, from before the pause to after the resume.
    let (_, v) = call("POST", &format!("{h}/rooms/{id}/viewers"), Some(r#"{"name":"一直看"}"#));
    let mut viewer = Browser::start(&d.join("chromium-viewer"));
    viewer.navigate(&format!("{h}/watch/{ses}#room={id}&v={}", v["viewer"].as_str().unwrap()));
    let looks = |rgb: [i64; 3], want: [i64; 3]| rgb.iter().zip(want).all(|(c, w)| (c - w).abs() < 40);
    let watched = |viewer: &mut Browser, what: &str, want: [i64; 3]| {
        let mut rgb = [-1; 3];
        let seen = kit::wait_until(std::time::Duration::from_secs(30), || {
            rgb = viewer.video_rgb("#video", 0, 0.5, 0.5);
            looks(rgb, want)
        });
        assert!(seen, "the viewer page shows {what} (centre {rgb:?})");
    };
    viewer.wait_true("the viewer page playing", 60.0, "document.getElementById('video').currentTime > 1");
    watched(&mut viewer, "the anchor's grey", [0x80; 3]);
    let media = |viewer: &mut Browser| viewer.eval("document.getElementById('video').currentTime").as_f64().unwrap();
    let (wall0, media0) = (std::time::Instant::now(), media(&mut viewer));

    b.eval(&format!(
        "{{ const f = document.querySelector('.pause-room[data-room={id}]'); const o = [...f.slate.options].find((o) => o.textContent.includes('稍后回来')); f.slate.value = o.value; f.requestSubmit(); }} true"
    ));
    wait_for("the room paused", 20.0, || call("GET", &format!("{h}/rooms/{id}"), None).1["paused"].is_object());
    let green = |f: &Rgb| {
        let p = f.at(160, 90);
        p[1] > 150 && p[0] < 80 && p[2] < 80
    };
    wait_for("the slate in the output", 30.0, || green(&frame_rgb_url(&playlist, 320, 180)));
    watched(&mut viewer, "the slate's green", [0x00, 0xc0, 0x00]);
    viewer.wait_true("the pause said", 20.0, "document.getElementById('status').textContent.includes('away')");

    // A poll from the session's page.
    b.wait_true("the poll form", 20.0, "document.querySelector('#new-poll')");
    b.eval("{ const f = document.querySelector('#new-poll'); f.question.value = '下一首?'; f.options.value = '红, 蓝, 绿'; f.duration_s.value = 600; f.requestSubmit(); } true");
    b.wait_true("the poll's bars", 20.0, "document.querySelector('.poll .bar-row')");
    let poll = b.eval("document.querySelector('.poll').dataset.poll").as_str().unwrap().to_string();

    // 50 viewers, each on their own link, vote from the viewer page: option i % 3, twice as many
    // for the first.
    for i in 0..VOTERS {
        let (_, v) =
            call("POST", &format!("{h}/rooms/{id}/viewers"), Some(&json!({"name": format!("观众{i}")}).to_string()));
        let token = v["viewer"].as_str().unwrap();
        let choice = if i % 2 == 0 { 0 } else { 1 + i % 3 % 2 };
        let mut tab = b.tab(&format!("{h}/watch/{ses}#room={id}&v={token}"));
        tab.wait_true(
            "the poll on the viewer page",
            20.0,
            "document.querySelectorAll('#poll-options button.vote').length === 3",
        );
        tab.eval(&format!("document.querySelectorAll('#poll-options button.vote')[{choice}].click(); true"));
        tab.wait_true("the vote counted", 20.0, "document.getElementById('toast').textContent === 'Vote counted'");
    }
    let (_, api) = call("GET", &format!("{h}/polls/{poll}"), None);
    let counts: Vec<u64> = api["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert_eq!(counts.iter().sum::<u64>(), VOTERS as u64, "{api}");
    // The console's bars follow the votes live (events, no reload).
    let want = json!(counts.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    b.wait_true("the console's counts", 20.0, &format!("JSON.stringify([...document.querySelectorAll('.poll[data-poll={poll}] .count')].map((c) => c.textContent)) === {}", json!(want.to_string())));
    b.eval(&format!("document.querySelector('.poll[data-poll={poll}] .close-poll').click(); true"));
    wait_for("the poll closed", 20.0, || call("GET", &format!("{h}/polls/{poll}"), None).1["state"] == "closed");
    let winner = call("GET", &format!("{h}/polls/{poll}"), None).1["winner"].as_u64().unwrap();
    b.wait_true("the winner in the console", 20.0, &format!("document.querySelector('.poll[data-poll={poll}] .bar-row.winner') && document.querySelector('.poll[data-poll={poll}] .bar-row.winner').dataset.option === '{winner}'"));
    b.shot("console-pause-poll.png");

    // Resumed from the console: the viewer page shows the anchor again, having played on
    // through the whole pause (no stall: its clock kept up with the wall's).
    b.eval(&format!("document.querySelector('.pause-room[data-room={id}] .resume').click(); true"));
    watched(&mut viewer, "the anchor's grey again", [0x80; 3]);
    viewer.wait_true("the resume said", 20.0, "document.getElementById('status').textContent === ''");
    let (wall, played) = (wall0.elapsed().as_secs_f64(), media(&mut viewer) - media0);
    assert!(played > wall * 0.9 - 2.0, "the viewer page played {played:.1} s of {wall:.1} s through the pause");
    viewer.shot("viewer-after-pause.png");
}
