//! RTMP output against a real RTMP server (nginx-rtmp, started by the test on loopback), with a dead
//! destination beside it that must not disturb the live one.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use costream::testsrc::Clip;

#[test]
fn rtmp_output_reaches_nginx_while_a_dead_destination_fails_alone() {
    let d = workdir("rtmp");
    let nginx = start_nginx(&d);
    let secs = 3.0;
    let a = clip(
        &d,
        "a.mp4",
        &Clip::new("testsrc2=size=640x360:rate=30", secs).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    let b = clip(
        &d,
        "b.mp4",
        &Clip::new("color=c=0x0000ff:size=640x360:rate=30", secs).with_audio("sine=frequency=660:sample_rate=48000"),
    );
    let live = format!("rtmp://127.0.0.1:{}/live/show", nginx.port);
    let dead = format!("rtmp://127.0.0.1:{}/live/nobody", free_port());
    let file = d.join("rec.mp4");
    let o = costream(&[
        "render",
        "-i",
        a.to_str().unwrap(),
        "-i",
        b.to_str().unwrap(),
        "--size",
        "1280x720",
        "--out",
        &live,
        "--out",
        &dead,
        "--out",
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "one dead destination must not fail the job: {err}");
    assert!(err.contains(&dead) && err.contains("failed"), "the dead destination is reported: {err}");
    // nginx finalises the recording when the publisher disconnects.
    let recorded = nginx.rec.join("show.flv");
    wait_for("nginx to finalise the recording", 10.0, || has_video(recorded.to_str().unwrap()));
    drop(nginx);
    for p in [&recorded, &file] {
        let j = probe(p);
        let v = stream(&j, "video");
        assert_eq!(v["codec_name"], "h264", "{}", p.display());
        assert_eq!(v["width"], 1280);
        assert_eq!(v["height"], 720);
        assert_eq!(stream(&j, "audio")["codec_name"], "aac");
        let dur: f64 = j["format"]["duration"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
        assert!((dur - secs).abs() < 0.25, "{}: {dur} s of {secs} s", p.display());
    }
    // The received stream shows both anchors: the right tile is blue.
    let f = frame_rgb(&recorded, 1.5, 1280, 720);
    assert_near(f.at(960, 360), [0, 0, 255], 16, "right tile from the RTMP server");
}

#[test]
fn reads_a_live_rtmp_input_from_nginx() {
    let d = workdir("rtmp-in");
    let nginx = start_nginx(&d);
    let src = clip(
        &d,
        "red.flv",
        &Clip::new("color=c=0xff0000:size=320x180:rate=30", 2.0).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    let url = format!("rtmp://127.0.0.1:{}/live/cam", nginx.port);
    // A live publisher: the clip looped in real time until the test ends.
    let mut publisher = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(&src)
        .args(["-c", "copy", "-f", "flv", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publisher");
    wait_for("the publisher to be live on nginx", 10.0, || has_video(&url));
    let out = d.join("out.mp4");
    let started = Instant::now();
    let o = costream(&[
        "render",
        "-i",
        &url,
        "--size",
        "320x180",
        "--duration",
        "2",
        "--bitrate",
        "4000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A live input is consumed at its own pace: about real time, not faster.
    assert!(took >= Duration::from_millis(1500), "2 s of a live input took {took:?}");
    let p = probe(&out);
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 2.0).abs() < 0.15, "duration {dur}");
    assert_eq!(stream(&p, "audio")["codec_name"], "aac");
    let f = frame_rgb(&out, 1.0, 320, 180);
    assert_near(f.at(160, 90), [255, 0, 0], 16, "the live input's picture");
}

/// A live stream joined between keyframes probes as audio only for a while (nginx-rtmp sends a
/// new subscriber video from the next keyframe). Here the anchor's only keyframe comes every 8 s
/// and every join is timed 2.5 to 4 s after one, so each join waits 4 to 5.5 s for its picture,
/// far past a default probe: every join must still open the input with its picture.
#[test]
fn a_live_input_joined_between_keyframes_still_opens_with_video() {
    const GOP_S: f64 = 8.0;
    let d = workdir("rtmp-gop");
    let nginx = start_nginx(&d);
    let src = d.join("long_gop.flv");
    let gen = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=0x00ff00:size=320x180:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args([
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "240",
            "-keyint_min",
            "240",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ])
        .arg(&src)
        .status()
        .expect("ffmpeg");
    assert!(gen.success());
    let url = format!("rtmp://127.0.0.1:{}/live/gop", nginx.port);
    // Looped in real time: a keyframe at each loop's start, every 8 s from here.
    let published = Instant::now();
    let _publisher = publish_live(&src, nginx.port, "gop");
    wait_for("the publisher to be live on nginx", 30.0, || has_video(&url));
    let phase = || published.elapsed().as_secs_f64() % GOP_S;
    for join in 0..3 {
        wait_for("a moment 2.5 to 4 s after a keyframe", GOP_S + 1.0, || (2.5..4.0).contains(&phase()));
        let joined = phase();
        let out = d.join(format!("join{join}.mp4"));
        let t0 = Instant::now();
        let o =
            costream(&["render", "-i", &url, "--size", "320x180", "--duration", "1", "--out", out.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "join {join} at {joined:.1} s into the GOP: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The picture came with the next keyframe: the join really was mid-GOP.
        let waited = t0.elapsed().as_secs_f64();
        assert!(waited >= GOP_S - joined - 0.5, "join {join} at {joined:.1} s into the GOP took only {waited:.1} s");
        let f = frame_rgb(&out, 0.5, 320, 180);
        assert_near(f.at(160, 90), [0, 255, 0], 24, "the live input's picture");
    }
}

#[test]
fn live_render_keeps_the_last_frame_while_the_anchor_is_gone_and_resumes() {
    let d = workdir("rtmp-loss");
    let nginx = start_nginx(&d);
    // Keyframes every second, like an anchor's encoder: a viewer joining mid-stream starts at one.
    let gop = ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p"];
    let red = clip(
        &d,
        "red.flv",
        &Clip::new("color=c=0xff0000:size=320x180:rate=30", 4.0)
            .with_audio("sine=frequency=440:sample_rate=48000")
            .args(&gop),
    );
    let green = clip(
        &d,
        "green.flv",
        &Clip::new("color=c=0x00ff00:size=320x180:rate=30", 4.0)
            .with_audio("sine=frequency=660:sample_rate=48000")
            .args(&gop),
    );
    let url = format!("rtmp://127.0.0.1:{}/live/anchor", nginx.port);
    let publish = |clip: &Path| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The anchor is live, costream joins, the anchor drops out for 1.5 s and comes back with another
    // picture.
    let mut first = publish(&red);
    wait_for("the anchor to be live on nginx", 10.0, || has_video(&url));
    let out = d.join("live.mp4");
    let report = d.join("report.json");
    let render = Command::new(env!("CARGO_BIN_EXE_costream"))
        .args([
            "render",
            "--realtime",
            "-i",
            &url,
            "--size",
            "320x180",
            "--duration",
            "7",
            "--bitrate",
            "3000",
            "--out",
        ])
        .arg(&out)
        .arg("--report-json")
        .arg(&report)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(first.wait().unwrap().success());
    // The anchor is away for this long (the scenario, not a wait for something to happen).
    std::thread::sleep(Duration::from_millis(1500));
    let mut second = publish(&green);
    let o = render.wait_with_output().unwrap();
    let _ = second.kill();
    let _ = second.wait();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("input lost"), "the loss is reported: {log}");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(rep["input_stalls"][0].as_u64().unwrap_or(0) >= 1, "{rep}");
    let p = probe(&out);
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 7.0).abs() < 0.3, "the output never stopped: {dur} s");
    // Every frame shows the anchor — red, then (after the held last frame) green — never black.
    let colours: Vec<&str> = (0..27)
        .map(|i| {
            let c = frame_rgb(&out, 0.1 + i as f64 * 0.25, 320, 180).at(160, 90);
            if c[0] > 200 && c[1] < 60 {
                "red"
            } else if c[1] > 200 && c[0] < 60 {
                "green"
            } else {
                "other"
            }
        })
        .collect();
    let first_green =
        colours.iter().position(|c| *c == "green").unwrap_or_else(|| panic!("the anchor never came back: {colours:?}"));
    assert!(first_green >= 4, "red was live for a while first: {colours:?}");
    assert!(
        colours[..first_green].iter().all(|c| *c == "red") && colours[first_green..].iter().all(|c| *c == "green"),
        "{colours:?}"
    );
}
