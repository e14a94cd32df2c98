//! The embedded RTMP ingest server with real ffmpeg publishers: a valid stream key is decoded
//! through FFmpeg's FLV demuxer fed from memory, a wrong key is refused at publish time.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use costream::ingest::rtmp::{IngestEvent, Refusal, RtmpServer, StreamKeys, StreamName};
use costream::ingest::{self, InputOptions};
use costream::testsrc::Clip;

struct Keys(Vec<&'static str>);

impl StreamKeys for Keys {
    fn check(&self, name: &StreamName) -> Result<String, Refusal> {
        if name.app == "live" && self.0.contains(&name.key.as_str()) {
            Ok(format!("room_{}", name.key))
        } else {
            Err(Refusal::UnknownKey)
        }
    }
}

fn next_event(rt: &tokio::runtime::Runtime, rx: &mut tokio::sync::mpsc::UnboundedReceiver<IngestEvent>) -> IngestEvent {
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(15), rx.recv()).await })
        .expect("an ingest event within 15 s")
        .expect("server running")
}

#[test]
fn valid_key_is_decoded_and_wrong_key_is_refused() {
    let d = workdir("ingest");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, mut events) =
        rt.block_on(RtmpServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Keys(vec!["good-key"])))).unwrap();
    let port = server.addr.port();
    let red = clip(
        &d,
        "red.flv",
        &Clip::new("color=c=0xff0000:size=320x180:rate=30", 3.0).with_audio("sine=frequency=440:sample_rate=48000"),
    );

    // Wrong key: the publish is refused and ffmpeg gives up.
    let bad = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(&red)
        .args(["-t", "1", "-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/wrong-key")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bad.status.success(), "a wrong key must not be able to publish");
    match next_event(&rt, &mut events) {
        IngestEvent::Refused { key, reason, .. } => {
            // Only the key's first characters: refusals are logged and reported, keys are secrets.
            assert_eq!(key, "wrong-…");
            assert_eq!(reason, Refusal::UnknownKey);
        }
        _ => panic!("expected a refusal"),
    }

    // Valid key: decoded frames and audio arrive.
    let mut good = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(&red)
        .args(["-c", "copy", "-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/good-key")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let reader = match next_event(&rt, &mut events) {
        IngestEvent::Published { room, key, reader, .. } => {
            assert_eq!((room.as_str(), key.as_str()), ("room_good-key", "good-key"));
            reader
        }
        _ => panic!("expected the publish to be accepted"),
    };
    let input =
        ingest::open_reader("rtmp live/good-key", "flv", reader, &InputOptions { live: true, ..Default::default() })
            .expect("FLV from the publisher opens");
    assert_eq!((input.info.width, input.info.height), (320, 180));
    assert!(input.info.has_audio);
    let frame = input
        .video
        .peek_with(Some(Duration::from_secs(10)), |_| ())
        .expect("stream open")
        .map(|_| input.video.try_pop());
    let f = frame.flatten().expect("a decoded frame within 10 s");
    let pic = f.picture();
    let (w, h) = (pic.width as usize, pic.height as usize);
    let (y, u, v) = (
        pic.planes[0][(h / 2) * pic.strides[0] + w / 2],
        pic.planes[1][(h / 4) * pic.strides[1] + w / 4],
        pic.planes[2][(h / 4) * pic.strides[2] + w / 4],
    );
    // Pure red in limited-range BT.601 (what ffmpeg's colour source is encoded as): Y 81, U 90, V 240.
    for (got, want, name) in [(y, 81, "Y"), (u, 90, "U"), (v, 240, "V")] {
        assert!((got as i32 - want).abs() <= 6, "{name} = {got}, want {want}");
    }
    let audio = input.audio.as_ref().expect("audio ring");
    wait_for("audio from the publisher to be decoded", 5.0, || !audio.is_empty());
    let _ = good.wait();
    match next_event(&rt, &mut events) {
        IngestEvent::Ended { room, .. } => assert_eq!(room, "room_good-key"),
        _ => panic!("expected the end of the publish"),
    }
    drop(input);
    drop(server);
}
