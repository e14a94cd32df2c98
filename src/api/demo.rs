//! `costream demo`: the service on embedded defaults with two synthetic anchors publishing over RTMP
//! into it with their own keys, a side-by-side session, and an HLS URL to watch.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::serve::{run_with, ServeConfig};
use crate::compose::Fps;
use crate::media::geometry::{Fit, Layout};
use crate::session::{SessionInput, SessionSpec};
use crate::store::{Store, DEFAULT_KEY_TTL_S};

/// One synthetic anchor: a test pattern and a tone, encoded like a streaming app does (x264,
/// keyframe every second, AAC) and published in real time.
fn anchor(rtmp: std::net::SocketAddr, key: &str, pattern: &str, tone: u32) -> std::io::Result<Child> {
    Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            pattern,
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={tone}:sample_rate=48000"),
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
        ])
        .args(["-f", "flv", &format!("rtmp://127.0.0.1:{}/live/{key}", rtmp.port())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

pub fn run(http: std::net::SocketAddr, rtmp: std::net::SocketAddr, dir: PathBuf) -> crate::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("costream.sqlite");
    let store = Store::open(&db).map_err(|e| crate::Error::Invalid { what: "database", why: e.to_string() })?;
    // Two rooms, reused across runs, each with a fresh key.
    let mut rooms = store.rooms().map_err(|e| crate::Error::Invalid { what: "database", why: e.to_string() })?;
    rooms.retain(|r| r.name == "Demo anchor A" || r.name == "Demo anchor B");
    for name in ["Demo anchor A", "Demo anchor B"] {
        if !rooms.iter().any(|r| r.name == name) {
            rooms.push(
                store
                    .create_room(name, "costream", DEFAULT_KEY_TTL_S)
                    .map_err(|e| crate::Error::Invalid { what: "room", why: e.to_string() })?,
            );
        }
    }
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    let mut keys = Vec::new();
    for r in &rooms {
        keys.push(
            store
                .regenerate_key(&r.id, DEFAULT_KEY_TTL_S)
                .map_err(|e| crate::Error::Invalid { what: "key", why: e.to_string() })?
                .key,
        );
    }
    // An operator token for this run, shown once (the API needs it; the HLS player too).
    let (token, _) = store
        .create_token(crate::store::Role::Operator, None)
        .map_err(|e| crate::Error::Invalid { what: "token", why: e.to_string() })?;
    drop(store);
    let anchors: Arc<Mutex<Vec<Child>>> = Arc::default();
    let spawned = anchors.clone();
    let room_ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let ready: super::serve::OnReady = Box::new(move |state, http, rtmp| {
        let patterns = [("testsrc2=size=1280x720:rate=30", 440), ("smptehdbars=size=720x1280:rate=30", 660)];
        for (key, (pattern, tone)) in keys.iter().zip(patterns) {
            match anchor(rtmp, key, pattern, tone) {
                Ok(c) => crate::sys::lock(&spawned).push(c),
                Err(e) => tracing::error!(error = %e, "cannot start a demo anchor (is ffmpeg installed?)"),
            }
        }
        let spec = SessionSpec {
            inputs: room_ids.iter().map(|r| SessionInput::Room(r.clone())).collect(),
            layout: Layout::SideBySide,
            fits: vec![Fit::Fill, Fit::Fit],
            size: (1280, 720),
            fps: Fps { num: 30, den: 1 },
            outputs: Vec::new(),
            bitrate_kbps: 2500,
            record: false,
            views: vec![],
            pending: false,
            audio_of: vec![],
            masking: None,
            pk: Some(crate::compose::PkSettings {
                names: ["小美".into(), "Leo".into()],
                scores: [1200, 800],
                countdown_s: Some(300),
                ..Default::default()
            }),
        };
        match state.sessions.start(spec) {
            Ok(s) => {
                let url = format!("http://{http}{}", s.hls);
                println!("costream demo is running: two anchors publish over RTMP to rtmp://{rtmp}/live/<key>");
                println!("  TOKEN:  {token}");
                println!("  HLS:    {url}");
                println!("  watch:  ffplay -headers 'Authorization: Bearer {token}' {url}");
                println!("  API:    curl -H 'Authorization: Bearer {token}' http://{http}/sessions   (also /rooms, /openapi.json)");
                println!("  stop:   Ctrl-C");
            }
            Err(e) => tracing::error!(error = %e, "cannot start the demo session"),
        }
    });
    let rt = tokio::runtime::Runtime::new()?;
    let cfg = ServeConfig {
        http,
        rtmp,
        db,
        key_ttl_s: DEFAULT_KEY_TTL_S,
        ring_budget_bytes: 64 << 20,
        payment_secret: None,
        segment_url_ttl_s: 120,
        caps: Default::default(),
        url_policy: Default::default(),
        cors_origins: Vec::new(),
        hls_retention_s: 120,
        extra_tick_ms: 0,
        platform_secret: None,
    };
    let r = rt.block_on(run_with(cfg, super::serve::shutdown_signal(), Some(ready)));
    for mut c in crate::sys::lock(&anchors).drain(..) {
        let _ = c.kill();
        let _ = c.wait();
    }
    r
}
