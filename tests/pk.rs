//! PK invitations end to end with real processes: two anchors publish to nginx-rtmp, `costream
//! serve` pulls them on the invitation, and the merged outputs are read back over HLS.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use costream::testsrc::Clip;
use serde_json::{json, Value};

const W: usize = 320;
const H: usize = 180;
const BIT_W: usize = 20;
const BITS: usize = 12;
/// Tint of each anchor below the frame code (luma), to tell them apart.
const TINT: [u8; 2] = [60, 200];

/// A tint as ffmpeg's full-range gray output shows it.
fn gray(side: usize) -> i32 {
    ((TINT[side] as f32 - 16.0) * 255.0 / 219.0).round() as i32
}

/// An anchor's clip: a frame counter in the top 40 rows (one bit per 20 pixels), a flat tint below.
fn coded_clip(dir: &Path, name: &str, tint: u8, seconds: f64) -> PathBuf {
    let code = format!("color=c=gray:size={W}x{H}:rate=30,format=yuv420p,geq=lum='if(lt(Y,40),if(lt(X,{bits_w}),if(gt(mod(floor(N/pow(2,floor(X/{BIT_W}))),2),0.5),235,16),16),{tint})':cb=128:cr=128", bits_w = BITS * BIT_W);
    clip(
        dir,
        name,
        &Clip::new(code, seconds).with_audio("sine=frequency=440:sample_rate=48000").args(&[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "15",
            "-pix_fmt",
            "yuv420p",
        ]),
    )
}

fn publish_to(clip: &Path, url: &str) -> Proc {
    Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Luma of one decoded frame of an HLS output: the first frame of its first segment (`first`) or
/// of its newest one.
fn luma_frame(base: &str, playlist: &str, first: bool, w: usize, h: usize) -> Vec<u8> {
    let text = authed(&format!("{base}{playlist}")).call().unwrap().into_string().unwrap();
    let segs: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    let seg =
        if first { segs.first() } else { segs.last() }.unwrap_or_else(|| panic!("no segment in {playlist}: {text}"));
    let dir = playlist.rsplit_once('/').unwrap().0;
    let url = format!("{base}{dir}/{seg}");
    let o = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(ffmpeg_auth(&url))
        .args(["-i", &url, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(o.status.success() && o.stdout.len() == w * h, "decode {url}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// The frame code of the tile whose left edge is at `x0`.
fn code_at(y: &[u8], w: usize, x0: usize) -> u32 {
    (0..BITS).fold(0, |acc, b| if y[20 * w + x0 + b * BIT_W + BIT_W / 2] > 128 { acc | (1 << b) } else { acc })
}

fn metric(h: &str, name: &str) -> f64 {
    let m = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn invite(h: &str, nginx: u16, timeout_s: f64) -> (String, String) {
    let body = json!({
        "from": {"url": format!("rtmp://127.0.0.1:{nginx}/live/a"), "name": "主播小美", "monitor": true},
        "to": {"url": format!("rtmp://127.0.0.1:{nginx}/live/b"), "name": "Bob"},
        "timeout_s": timeout_s,
        "size": format!("{}x{}", 2 * W, H),
        "bitrate_kbps": 800,
        "pk": {"scores": [300, 100], "countdown_s": 120},
    });
    let (st, inv) = call("POST", &format!("{h}/invitations"), Some(&body.to_string()));
    assert_eq!(st, 201, "{inv}");
    assert_eq!(inv["state"], "pending");
    (inv["id"].as_str().unwrap().to_string(), inv["session"].as_str().unwrap().to_string())
}

#[test]
fn invitation_prepulls_then_accept_merges_mirrored_outputs_and_decline_or_timeout_free_the_rings() {
    let d = workdir("pk");
    let nginx = start_nginx(&d);
    let (ca, cb) = (coded_clip(&d, "a.flv", TINT[0], 60.0), coded_clip(&d, "b.flv", TINT[1], 60.0));
    let t_a = Instant::now();
    let _pa = publish_to(&ca, &format!("rtmp://127.0.0.1:{}/live/a", nginx.port));
    let t_b = Instant::now();
    let _pb = publish_to(&cb, &format!("rtmp://127.0.0.1:{}/live/b", nginx.port));
    let svc = start_with(&d.join("costream.sqlite"), &["--allow-private-inputs"]);
    let h = svc.http.clone();
    for side in ["a", "b"] {
        wait_for("the anchors to be live on nginx", 10.0, || {
            has_video(&format!("rtmp://127.0.0.1:{}/live/{side}", nginx.port))
        });
    }
    assert_eq!(metric(&h, "costream_decoders_running"), 0.0);
    assert_eq!(metric(&h, "costream_decoded_frame_bytes"), 0.0);

    // Timeout: both anchors are pulled and decoded while it waits, then everything is released.
    let (inv, _) = invite(&h, nginx.port, 3.0);
    wait_for("both pulls decoding", 10.0, || {
        metric(&h, "costream_decoders_running") == 2.0
            && metric(&h, "costream_decoded_frame_bytes") >= (2 * W * H * 3 / 2) as f64
    });
    let held = metric(&h, "costream_decoded_frame_bytes");
    wait_for("the invitation to expire", 10.0, || {
        call("GET", &format!("{h}/invitations/{inv}"), None).1["state"] == "expired"
    });
    wait_for("decoders stopped and rings freed after the timeout", 5.0, || {
        metric(&h, "costream_decoders_running") == 0.0 && metric(&h, "costream_decoded_frame_bytes") == 0.0
    });
    assert_eq!(
        call("POST", &format!("{h}/invitations/{inv}/accept"), None).0,
        409,
        "an expired invitation cannot be accepted"
    );

    // Decline: the same.
    let (inv, _) = invite(&h, nginx.port, 30.0);
    wait_for("both pulls decoding", 10.0, || {
        metric(&h, "costream_decoders_running") == 2.0 && metric(&h, "costream_decoded_frame_bytes") > 0.0
    });
    let (st, body) = call("POST", &format!("{h}/invitations/{inv}/decline"), None);
    assert_eq!((st, body["state"].as_str()), (200, Some("declined")), "{body}");
    wait_for("decoders stopped and rings freed after the decline", 5.0, || {
        metric(&h, "costream_decoders_running") == 0.0 && metric(&h, "costream_decoded_frame_bytes") == 0.0
    });
    println!("rings held {held} bytes while pending; 0 after timeout and decline");

    // Accept: the merged outputs start at once from the frames of that moment.
    let (inv, ses) = invite(&h, nginx.port, 30.0);
    wait_for("both pulls decoding", 10.0, || metric(&h, "costream_decoded_frame_bytes") > 0.0);
    // The invitation stays unanswered this long (the scenario): the rings keep only the newest frames.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        call("GET", &format!("{h}/sessions/{ses}"), None).1["frames"],
        0,
        "nothing is composed before the answer"
    );
    let accepted = Instant::now();
    let (st, body) = call("POST", &format!("{h}/invitations/{inv}/accept"), None);
    assert_eq!((st, body["state"].as_str()), (200, Some("accepted")), "{body}");
    let mut s = Value::Null;
    wait_for("the first merged frame", 5.0, || {
        s = call("GET", &format!("{h}/sessions/{ses}"), None).1;
        s["activation_to_first_packet_ms"].is_number()
    });
    let first_ms = s["activation_to_first_frame_ms"].as_f64().unwrap();
    println!(
        "accept -> first merged frame {first_ms:.1} ms, first packet {:.1} ms",
        s["activation_to_first_packet_ms"].as_f64().unwrap()
    );
    assert!(first_ms <= 1000.0 / 30.0, "first merged frame {first_ms:.1} ms after the accept; one frame is 33.3 ms");
    let views: Vec<Value> = s["views"].as_array().unwrap().clone();
    let hls = |name: &str| views.iter().find(|v| v["name"] == name).unwrap()["hls"].as_str().unwrap().to_string();
    let (hls_a, hls_b, hls_mon) = (hls("a"), hls("b"), hls("a_monitor"));
    wait_for("the first segments", 15.0, || {
        authed(&format!("{h}{hls_b}")).call().is_ok_and(|r| r.into_string().unwrap_or_default().contains(".ts"))
    });

    // The first merged frame: each tile shows its anchor's frame of the accept moment (the code the
    // publisher sent then, less the relay's latency), A left in A's room, B left in B's.
    let expect = |t0: Instant| accepted.duration_since(t0).as_secs_f64() * 30.0;
    for (playlist, left, right) in [(&hls_a, 0, 1), (&hls_b, 1, 0)] {
        let y = luma_frame(&h, playlist, true, 2 * W, H);
        for (side, x0) in [(left, 0), (right, W)] {
            let tint = y[120 * 2 * W + x0 + W / 2];
            assert!(
                (tint as i32 - gray(side)).abs() < 12,
                "{playlist}: tile at x={x0} has tint {tint}, anchor {side} has {}",
                gray(side)
            );
            let code = code_at(&y, 2 * W, x0) as f64;
            let want = expect(if side == 0 { t_a } else { t_b });
            assert!(
                code <= want + 2.0 && code >= want - 30.0,
                "{playlist}: anchor {side}'s first merged frame is #{code}, it was sending #{want:.0} at the accept"
            );
        }
    }

    // Run-time PK change and a comment for A's monitor only.
    let (st, body) = call(
        "PATCH",
        &format!("{h}/sessions/{ses}/pk"),
        Some(r##"{"scores":[500,500],"colors_b":["#00ff00","#00aa00"]}"##),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["pk"]["scores"], json!([500, 500]));
    assert_eq!(call("PATCH", &format!("{h}/sessions/{ses}/pk"), Some(r##"{"colors_a":["red","#000000"]}"##)).0, 400);
    assert_eq!(
        call(
            "POST",
            &format!("{h}/sessions/{ses}/comments"),
            Some(r#"{"anchor":"a","user":"粉丝","text":"加油加油加油 WWWWWWWW","kind":"comment"}"#)
        )
        .0,
        204
    );
    for i in 0..5 {
        assert_eq!(
            call(
                "POST",
                &format!("{h}/sessions/{ses}/comments"),
                Some(&format!(
                    r#"{{"anchor":"a","user":"fan{i}","text":"MMMMMMMMMMMMMMMM","kind":"gift","value":{i}}}"#
                ))
            )
            .0,
            204
        );
    }
    assert_eq!(call("POST", &format!("{h}/sessions/{ses}/comments"), Some(r#"{"anchor":"c","text":"x"}"#)).0, 400);
    // The panel sits over A's flat tint: white glyphs there on the monitor, none on public outputs.
    let glyphs = |y: &[u8]| {
        (63..140).flat_map(|r| (16..250).map(move |x| (x, r))).filter(|&(x, r)| y[r * 2 * W + x] > 150).count()
    };
    wait_for("the comments on A's monitor (over 100 glyph pixels)", 20.0, || {
        glyphs(&luma_frame(&h, &hls_mon, false, 2 * W, H)) > 100
    });
    let public = glyphs(&luma_frame(&h, &hls_a, false, 2 * W, H));
    assert_eq!(public, 0, "no comment pixels on A's public output");

    // Hang-up: each room's output goes on with its own anchor alone, same playlist, no gap.
    let (st, body) = call("POST", &format!("{h}/invitations/{inv}/hangup"), None);
    assert_eq!((st, body["state"].as_str()), (200, Some("ended")), "{body}");
    let frames = call("GET", &format!("{h}/sessions/{ses}"), None).1["frames"].as_u64().unwrap();
    for (playlist, side) in [(&hls_a, 0), (&hls_b, 1)] {
        let solo = |y: &[u8]| [W / 2, W + W / 2].iter().all(|&x| (y[120 * 2 * W + x] as i32 - gray(side)).abs() < 12);
        wait_for("each room's output to show its own anchor alone", 20.0, || {
            solo(&luma_frame(&h, playlist, false, 2 * W, H))
        });
        let text = authed(&format!("{h}{playlist}")).call().unwrap().into_string().unwrap();
        assert!(!text.contains("DISCONTINUITY"), "{text}");
    }
    wait_for("the output to keep going through the hang-up (120 more frames)", 10.0, || {
        call("GET", &format!("{h}/sessions/{ses}"), None).1["frames"].as_u64().unwrap() >= frames + 120
    });
    assert_eq!(call("DELETE", &format!("{h}/sessions/{ses}"), None).0, 204);
    wait_for("everything released", 5.0, || {
        metric(&h, "costream_decoders_running") == 0.0 && metric(&h, "costream_decoded_frame_bytes") == 0.0
    });
}
