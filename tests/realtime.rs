//! Live means wall-clock: a session the machine cannot keep up with skips ticks, and its HLS
//! timeline still grows by one second per second, with timestamps that only go forward.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use costream::testsrc::Clip;
use serde_json::json;

/// Packet timestamps (seconds) of one stream kind in a segment file, in file order.
fn packet_times(file: &Path, kind: &str) -> Vec<f64> {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", kind, "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

#[test]
fn an_overloaded_session_keeps_the_wall_clock_and_drops_frames_instead() {
    let d = workdir("realtime-overload");
    // 45 ms of extra work per tick: at most ~22 of the 30 ticks a second can be composed.
    let svc = start_with(&d.join("db.sqlite"), &["--allow-private-inputs", "--test-extra-tick-ms", "45"]);
    let h = &svc.http;
    let gop = LIVE_GOP;
    let live = clip(
        &d,
        "live.flv",
        &Clip::new("testsrc2=size=320x180:rate=30", 4.0).with_audio("sine=frequency=440:sample_rate=48000").args(&gop),
    );
    let (st, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"A"}"#));
    assert_eq!(st, 201, "{room}");
    let _anchor = publish_live(&live, svc.rtmp_port, room["key"]["key"].as_str().unwrap());
    let events = Events::subscribe(h);
    let req = json!({"inputs": [{"room": room["id"]}], "size": "320x180", "fps": "30"});
    let (st, s) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!(st, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let hls = format!("{h}/sessions/{id}/hls");

    // Every segment as it first appears: its duration, the wall time it appeared, and its file.
    let seg_dir = d.join("segments");
    std::fs::create_dir_all(&seg_dir).unwrap();
    let mut seen: BTreeMap<u64, (f64, Instant)> = BTreeMap::new();
    let mut files = Vec::new();
    let mut poll = |seen: &mut BTreeMap<u64, (f64, Instant)>| {
        let Ok(r) = authed(&format!("{hls}/index.m3u8")).call() else { return };
        for (seq, (dur, name)) in segments(&r.into_string().unwrap_or_default()) {
            if seen.contains_key(&seq) {
                continue;
            }
            seen.insert(seq, (dur, Instant::now()));
            // A segment the playlist lists is there to be fetched: a failure fails the test (it
            // would otherwise leave a gap the timestamp checks below never see).
            let r = authed(&format!("{hls}/{name}")).call().unwrap_or_else(|e| panic!("segment {name}: {e}"));
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
            let p = seg_dir.join(format!("{seq:06}.ts"));
            std::fs::write(&p, bytes).unwrap();
            files.push((seq, p));
        }
    };
    wait_for("two segments", 40.0, || {
        poll(&mut seen);
        seen.len() >= 2
    });
    // Measured between two segment arrivals, so the segment length does not blur the figure.
    let first_seq = *seen.keys().last().unwrap();
    let start = seen[&first_seq].1;
    wait_for("60 s of wall time and one more segment", 90.0, || {
        poll(&mut seen);
        seen.last_key_value().is_some_and(|(_, v)| v.1.duration_since(start) >= Duration::from_secs(60))
    });
    let (last_seq, (_, end)) = seen.last_key_value().map(|(k, v)| (*k, *v)).unwrap();
    let wall = end.duration_since(start).as_secs_f64();
    let media: f64 = seen.range(first_seq + 1..=last_seq).map(|(_, v)| v.0).sum();
    assert!((media - wall).abs() <= 0.02 * wall, "{media:.2} s of media in {wall:.2} s of wall time");

    // It really was overloaded: ticks were skipped, and said so.
    let (_, s) = call("GET", &format!("{h}/sessions/{id}"), None);
    let (frames, skipped) = (s["frames"].as_u64().unwrap(), s["ticks_skipped"].as_u64().unwrap());
    assert!(skipped > 0 && frames > 0, "{s}");
    assert!(s["behind"].as_bool().unwrap(), "{s}");
    events.wait("session_behind", 5.0, |e| e["type"] == "session_behind" && e["session_id"] == id.as_str());
    let metrics = authed(&format!("{h}/metrics")).call().unwrap().into_string().unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("costream_ticks_skipped_total{") && l.contains(&id))
        .unwrap_or_else(|| panic!("no skipped-ticks series:\n{metrics}"));
    assert!(line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() > 0.0, "{line}");

    // A machine that is behind takes no new session.
    let (st, body) = call("POST", &format!("{h}/sessions"), Some(&req.to_string()));
    assert_eq!((st, body["error"]["code"].as_str()), (503, Some("machine_behind")), "{body}");

    // Timestamps only go forward, across segments too; the audio runs with the pictures. Every
    // segment from the first seen to the last is here, with no gap in the sequence.
    assert_eq!(files.len(), seen.len(), "every listed segment was fetched");
    assert!(files.len() >= 20, "{} segments for over 60 s", files.len());
    assert!(
        files.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "segments missing: {:?}",
        files.iter().map(|f| f.0).collect::<Vec<_>>()
    );
    let (mut last_v, mut last_a) = (f64::MIN, f64::MIN);
    for (_, f) in &files {
        let v = packet_times(f, "v");
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(
            sorted.first().is_some_and(|t| *t > last_v),
            "{}: video goes back ({sorted:?} after {last_v})",
            f.display()
        );
        last_v = *sorted.last().unwrap();
        let a = packet_times(f, "a");
        assert!(
            a.windows(2).all(|w| w[1] > w[0]) && a.first().is_some_and(|t| *t > last_a),
            "{}: audio goes back",
            f.display()
        );
        last_a = *a.last().unwrap();
    }
    assert!((last_a - last_v).abs() < 0.5, "audio ends at {last_a:.2} s, video at {last_v:.2} s");
}
