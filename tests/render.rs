//! `costream render` end to end: real clips made by ffmpeg, the real binary, ffprobe and decoded
//! pixels of the output.

mod common;

use common::*;
use costream::testsrc::Clip;

#[test]
fn landscape_1080p60_and_portrait_phone_clip_make_720p30_h264_aac() {
    let d = workdir("mixed");
    let secs = 3.0;
    let a = clip(
        &d,
        "a.mp4",
        &Clip::new("testsrc2=size=1920x1080:rate=60", secs).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    let b = clip(
        &d,
        "b.mp4",
        &Clip::new("testsrc2=size=720x1280:rate=30", secs).with_audio("sine=frequency=660:sample_rate=44100"),
    );
    let out = d.join("out.mp4");
    render_ok(&[
        "render",
        "-i",
        a.to_str().unwrap(),
        "-i",
        b.to_str().unwrap(),
        "--layout",
        "side-by-side",
        "--fit",
        "fill,fit",
        "--size",
        "1280x720",
        "--fps",
        "30",
        "--out",
        out.to_str().unwrap(),
    ]);
    let p = probe(&out);
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["width"], 1280);
    assert_eq!(v["height"], 720);
    assert_eq!(v["r_frame_rate"], "30/1");
    assert_eq!(v["color_space"], "bt709");
    let a = stream(&p, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - secs).abs() < 0.15, "output lasts {dur} s, inputs {secs} s");
    let frames: u64 = v["nb_frames"].as_str().unwrap().parse().unwrap();
    assert_eq!(frames, 90, "3 s at 30 fps");
    // The mixed audio is not silent.
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "info", "-i"])
        .arg(&out)
        .args(["-map", "0:a", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    let mean: f64 = log
        .lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|s| s.trim().trim_end_matches(" dB").parse().ok())
        .expect("volumedetect output");
    assert!(mean > -30.0, "mixed audio mean volume {mean} dB");
}

#[test]
fn solid_inputs_land_in_their_tiles_with_fit_and_fill() {
    let d = workdir("tiles");
    // Red landscape 16:9 and blue portrait 9:16, no audio.
    let red = clip(&d, "red.mp4", &Clip::new("color=c=0xff0000:size=640x360:rate=30", 1.0));
    let blue = clip(&d, "blue.mp4", &Clip::new("color=c=0x0000ff:size=360x640:rate=30", 1.0));
    let (r, b) = (red.to_str().unwrap(), blue.to_str().unwrap());

    // fit: red letterboxed top/bottom in the left cell, blue pillarboxed in the right cell.
    let out = d.join("fit.mp4");
    render_ok(&["render", "-i", r, "-i", b, "--fit", "fit", "--bitrate", "8000", "--out", out.to_str().unwrap()]);
    let f = frame_rgb(&out, 0.5, 1280, 720);
    let black = [0, 0, 0];
    assert_near(f.at(320, 360), [255, 0, 0], 12, "red centre");
    assert_near(f.at(320, 100), black, 12, "bar above red");
    assert_near(f.at(320, 640), black, 12, "bar below red");
    assert_near(f.at(960, 360), [0, 0, 255], 12, "blue centre");
    assert_near(f.at(960, 20), [0, 0, 255], 12, "blue reaches the top");
    assert_near(f.at(700, 360), black, 12, "bar left of blue");
    assert_near(f.at(1230, 360), black, 12, "bar right of blue");

    // A background beneath the video shows in the bars and nowhere else.
    let bg = d.join("bg.png");
    image::RgbImage::from_pixel(64, 36, image::Rgb([0, 200, 0])).save(&bg).unwrap();
    let out = d.join("under.mp4");
    let under = format!("{}@0,0,1280,720", bg.display());
    render_ok(&[
        "render",
        "-i",
        r,
        "-i",
        b,
        "--fit",
        "fit",
        "--under-image",
        &under,
        "--bitrate",
        "8000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let f = frame_rgb(&out, 0.5, 1280, 720);
    assert_near(f.at(320, 100), [0, 200, 0], 16, "background above red");
    assert_near(f.at(1230, 360), [0, 200, 0], 16, "background right of blue");
    assert_near(f.at(320, 360), [255, 0, 0], 12, "red over the background");
    assert_near(f.at(960, 360), [0, 0, 255], 12, "blue over the background");

    // fill: both cells fully covered.
    let out = d.join("fill.mp4");
    render_ok(&["render", "-i", r, "-i", b, "--fit", "fill", "--bitrate", "8000", "--out", out.to_str().unwrap()]);
    let f = frame_rgb(&out, 0.5, 1280, 720);
    for (x, y) in [(10, 10), (320, 360), (630, 710)] {
        assert_near(f.at(x, y), [255, 0, 0], 12, "red fills its cell");
    }
    for (x, y) in [(650, 10), (960, 360), (1270, 710)] {
        assert_near(f.at(x, y), [0, 0, 255], 12, "blue fills its cell");
    }
}

#[test]
fn layouts_place_inputs_in_their_cells() {
    let d = workdir("layouts");
    let colours = ["0xff0000", "0x00ff00", "0x0000ff", "0xffffff"];
    let inputs: Vec<_> = colours
        .iter()
        .enumerate()
        .map(|(i, c)| clip(&d, &format!("c{i}.mp4"), &Clip::new(format!("color=c={c}:size=320x180:rate=30"), 1.0)))
        .collect();
    let want = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
    let mut args: Vec<String> = vec!["render".into()];
    for p in &inputs {
        args.push("-i".into());
        args.push(p.to_str().unwrap().into());
    }
    // grid: 2x2 quadrants in input order.
    let out = d.join("grid.mp4");
    let mut a = args.clone();
    a.extend(["--layout", "grid", "--bitrate", "8000", "--out", out.to_str().unwrap()].map(String::from));
    render_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let f = frame_rgb(&out, 0.5, 1280, 720);
    for (i, (x, y)) in [(320, 180), (960, 180), (320, 540), (960, 540)].into_iter().enumerate() {
        assert_near(f.at(x, y), want[i], 14, &format!("grid cell {i}"));
    }
    // vstack of two: top and bottom halves.
    let out = d.join("vstack.mp4");
    render_ok(&[
        "render",
        "-i",
        inputs[0].to_str().unwrap(),
        "-i",
        inputs[1].to_str().unwrap(),
        "--layout",
        "vstack",
        "--size",
        "720x1280",
        "--bitrate",
        "8000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let f = frame_rgb(&out, 0.5, 720, 1280);
    assert_near(f.at(360, 320), want[0], 14, "vstack top");
    assert_near(f.at(360, 960), want[1], 14, "vstack bottom");
    // pip: second input in a small window at the bottom right, first everywhere else.
    let out = d.join("pip.mp4");
    render_ok(&[
        "render",
        "-i",
        inputs[0].to_str().unwrap(),
        "-i",
        inputs[2].to_str().unwrap(),
        "--layout",
        "pip",
        "--bitrate",
        "8000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let f = frame_rgb(&out, 0.5, 1280, 720);
    assert_near(f.at(100, 100), want[0], 14, "pip main");
    assert_near(f.at(1100, 600), want[2], 14, "pip window");
}

#[test]
fn rotation_metadata_turns_the_picture_like_ffmpeg_does() {
    let d = workdir("rotate");
    // Coded 320x180: left half red, right half blue, with a display rotation like a phone writes.
    for deg in [90u32, 270] {
        let mut c = Clip::new(
            "color=c=0xff0000:size=160x180:rate=30[l];color=c=0x0000ff:size=160x180:rate=30[r];[l][r]hstack",
            1.0,
        );
        c.rotate = Some(deg);
        let src = clip(&d, &format!("rot{deg}.mp4"), &c);
        let out = d.join(format!("out{deg}.mp4"));
        render_ok(&[
            "render",
            "-i",
            src.to_str().unwrap(),
            "--size",
            "180x320",
            "--bitrate",
            "4000",
            "--out",
            out.to_str().unwrap(),
        ]);
        let got = frame_rgb(&out, 0.5, 180, 320);
        // Ground truth: FFmpeg's own autorotated decode of the source (portrait, 180x320).
        let want = frame_rgb(&src, 0.5, 180, 320);
        for (x, y) in [(90, 60), (90, 260)] {
            let w = want.at(x, y);
            assert!(w[0] > 200 || w[2] > 200, "reference pixel is red or blue: {w:?}");
            assert_near(got.at(x, y), w, 16, &format!("rotate {deg} at ({x},{y})"));
        }
        assert_ne!(want.at(90, 60), want.at(90, 260), "top and bottom differ");
    }
}

#[test]
fn one_encode_fans_out_to_flv_and_hls() {
    let d = workdir("fanout");
    let a = clip(
        &d,
        "a.flv",
        &Clip::new("testsrc2=size=640x360:rate=30", 2.5).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    let flv = d.join("out.flv");
    let hls = d.join("hls/out.m3u8");
    render_ok(&[
        "render",
        "-i",
        a.to_str().unwrap(),
        "--size",
        "640x360",
        "--out",
        flv.to_str().unwrap(),
        "--out",
        hls.to_str().unwrap(),
    ]);
    for p in [&flv, &hls] {
        let j = probe(p);
        assert_eq!(stream(&j, "video")["codec_name"], "h264", "{}", p.display());
        assert_eq!(stream(&j, "video")["width"], 640);
        assert_eq!(stream(&j, "audio")["codec_name"], "aac");
    }
    let playlist = std::fs::read_to_string(&hls).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST") && playlist.contains(".ts"), "{playlist}");
}

#[test]
fn bad_inputs_and_arguments_get_clear_errors() {
    let d = workdir("bad");
    let out = d.join("o.mp4");
    let o = costream(&["render", "-i", "/nonexistent/clip.mp4", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot open input"), "{}", String::from_utf8_lossy(&o.stderr));

    let junk = d.join("junk.mp4");
    std::fs::write(&junk, vec![0x5au8; 100_000]).unwrap();
    let o = costream(&["render", "-i", junk.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("error:"));

    let good = clip(&d, "g.mp4", &Clip::new("testsrc2=size=320x180:rate=30", 0.5));
    for (flag, value, word) in [
        ("--layout", "diagonal", "layout"),
        ("--size", "1281x720", "output size"),
        ("--rect", "1,2,3", "rect"),
        ("--fps", "abc", "fps"),
    ] {
        let o = costream(&["render", "-i", good.to_str().unwrap(), flag, value, "--out", out.to_str().unwrap()]);
        assert!(!o.status.success(), "{flag} {value} accepted");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(word), "{flag} {value}: {e}");
    }
}

#[test]
fn bench_quick_writes_the_figures() {
    let d = workdir("bench");
    let json = d.join("bench.json");
    let o =
        costream(&["bench", "--quick", "--dir", d.join("work").to_str().unwrap(), "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // S1 and its scaled variant S2 (640x360 anchors upscaled to fill).
    for k in [
        "s1_ours_fps",
        "s1_ffmpeg_fps",
        "s1_fps_ratio",
        "s1_ours_cpu_per_content_s",
        "s1_ffmpeg_cpu_per_content_s",
        "s1_ours_peak_rss_mb",
        "s2_scaled_ours_fps",
        "s2_scaled_ffmpeg_fps",
        "s2_scaled_fps_ratio",
    ] {
        assert!(j[k].as_f64().is_some_and(|v| v > 0.0), "{k} = {}", j[k]);
    }
    assert!(j["device"].as_str().is_some_and(|s| !s.is_empty()));
    // RTMP publish -> RTMP out through costream, against the same path straight through nginx-rtmp.
    let added = j["rtmp_added_latency_ms"].as_f64().unwrap_or_else(|| panic!("latency measured: {j}"));
    assert!(j["rtmp_costream_latency_ms"].as_f64().unwrap() > j["rtmp_direct_latency_ms"].as_f64().unwrap(), "{j}");
    assert!(added > 0.0 && added < 5000.0, "{added}");
    for s in ["decode", "upload", "composite", "blur", "convert", "readback", "encode"] {
        assert!(j.get(format!("s1_stage_{s}_ms")).is_some(), "stage {s} missing");
    }
    // Serving against nginx, and the audience statistics' cost (on against off).
    for k in ["hls_serve_vs_nginx_playlists", "audience_cpu_on", "audience_cpu_off"] {
        assert!(j[k].as_f64().is_some_and(|v| v > 0.0), "{k} = {}", j[k]);
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ratio ours/FFmpeg"), "{stdout}");
}

#[test]
fn reads_an_hls_stream_over_http() {
    let d = workdir("hls-in");
    let site = d.join("site");
    std::fs::create_dir_all(&site).unwrap();
    // An HLS rendition of a green clip, served by a real HTTP server on loopback.
    let o = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=0x00ff00:size=320x180:rate=30",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-g",
            "30",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "0",
        ])
        .arg(site.join("in.m3u8"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = std::process::Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
        .arg(&site)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let url = format!("http://127.0.0.1:{port}/in.m3u8");
    wait_for("the HTTP server to answer", 5.0, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let out = d.join("out.mp4");
    let r = costream(&["render", "-i", &url, "--size", "320x180", "--bitrate", "4000", "--out", out.to_str().unwrap()]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let f = frame_rgb(&out, 1.0, 320, 180);
    assert_near(f.at(160, 90), [0, 255, 0], 14, "green from the HLS input");
    let dur: f64 = probe(&out)["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 2.0).abs() < 0.2, "duration {dur}");
}

#[test]
fn nvenc_request_falls_back_to_x264_without_nvidia() {
    let d = workdir("nvenc");
    let a = clip(&d, "a.mp4", &Clip::new("testsrc2=size=320x180:rate=30", 1.0));
    let out = d.join("out.mp4");
    render_ok(&[
        "render",
        "-i",
        a.to_str().unwrap(),
        "--size",
        "320x180",
        "--encoder",
        "nvenc",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stream(&probe(&out), "video")["codec_name"], "h264");
}

#[test]
fn shorter_input_holds_its_last_frame_until_the_longest_ends() {
    let d = workdir("hold");
    // 1 s red (no audio) and 2 s blue with audio.
    let red = clip(&d, "red.mp4", &Clip::new("color=c=0xff0000:size=320x180:rate=30", 1.0));
    let blue = clip(
        &d,
        "blue.mp4",
        &Clip::new("color=c=0x0000ff:size=320x180:rate=30", 2.0).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    let out = d.join("out.mp4");
    render_ok(&[
        "render",
        "-i",
        red.to_str().unwrap(),
        "-i",
        blue.to_str().unwrap(),
        "--size",
        "640x180",
        "--bitrate",
        "4000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let p = probe(&out);
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 2.0).abs() < 0.15, "lasts as long as the longest input: {dur}");
    assert_eq!(stream(&p, "audio")["codec_name"], "aac", "the input with audio is heard");
    let f = frame_rgb(&out, 1.7, 640, 180);
    assert_near(f.at(160, 90), [255, 0, 0], 14, "ended input keeps its last frame");
    assert_near(f.at(480, 90), [0, 0, 255], 14, "running input");
}

#[test]
fn ten_bit_input_is_converted_with_a_warning() {
    let d = workdir("tenbit");
    let src = clip(
        &d,
        "p10.mkv",
        &Clip::new("color=c=0x00ff00:size=320x180:rate=30", 1.0).args(&["-c:v", "libx264", "-pix_fmt", "yuv420p10le"]),
    );
    let out = d.join("out.mp4");
    let o = costream(&[
        "render",
        "-i",
        src.to_str().unwrap(),
        "--size",
        "320x180",
        "--bitrate",
        "4000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("converting to yuv420p"), "the CPU conversion is logged: {err}");
    let f = frame_rgb(&out, 0.5, 320, 180);
    assert_near(f.at(160, 90), [0, 255, 0], 16, "10-bit green");
}

#[test]
fn corrupt_bytes_mid_stream_do_not_stop_the_render() {
    let d = workdir("corrupt");
    let src = clip(
        &d,
        "a.ts",
        &Clip::new("testsrc2=size=320x180:rate=30", 3.0).with_audio("sine=frequency=440:sample_rate=48000"),
    );
    // Overwrite a stretch in the middle with garbage (MPEG-TS resynchronises after it).
    let mut bytes = std::fs::read(&src).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 20_000] {
        *b = 0xa5;
    }
    std::fs::write(&src, &bytes).unwrap();
    let out = d.join("out.mp4");
    render_ok(&["render", "-i", src.to_str().unwrap(), "--size", "320x180", "--out", out.to_str().unwrap()]);
    let dur: f64 = probe(&out)["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(dur > 2.5, "the render went on past the damage: {dur} s");
}
