//! `costream demo`: the service on embedded defaults with two synthetic anchors publishing over RTMP
//! into it with their own keys, a side-by-side session, a console link that opens signed in, and
//! a watch page any browser plays.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use costream::api::serve::{run_with, shutdown_signal, OnReady, ServeConfig};
use costream::compose::{Fps, PkSettings};
use costream::error::Result;
use costream::media::geometry::{Fit, Layout};
use costream::session::{SessionInput, SessionSpec};
use costream::store::{Store, DEFAULT_KEY_TTL_S};

const NAMES: [&str; 2] = ["Demo anchor A", "Demo anchor B"];

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

/// The demo's two rooms (reused across runs) with a fresh key each, and an operator token for this
/// run.
fn prepare(db: &std::path::Path) -> Result<(Vec<String>, Vec<String>, String)> {
    let db_err = |e: costream::store::StoreError| costream::Error::Database(e.to_string());
    let store = Store::open(db).map_err(db_err)?;
    let mut rooms = store.rooms().map_err(db_err)?;
    rooms.retain(|r| NAMES.contains(&r.name.as_str()));
    for name in NAMES {
        if !rooms.iter().any(|r| r.name == name) {
            rooms.push(store.create_room(name, "costream", DEFAULT_KEY_TTL_S).map_err(db_err)?);
        }
    }
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    let mut keys = Vec::new();
    for r in &rooms {
        keys.push(store.regenerate_key(&r.id, DEFAULT_KEY_TTL_S).map_err(db_err)?.key);
    }
    // Shown once: the API needs it, and so does the HLS player.
    let (token, _) = store.create_token(costream::store::Role::Operator, None).map_err(db_err)?;
    Ok((rooms.into_iter().map(|r| r.id).collect(), keys, token))
}

/// The side-by-side PK session of the two rooms.
fn session(rooms: &[String]) -> SessionSpec {
    SessionSpec {
        inputs: rooms.iter().map(|r| SessionInput::Room(r.clone())).collect(),
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
        input_pauses: Default::default(),
        pk: Some(PkSettings {
            names: ["小美".into(), "Leo".into()],
            scores: [1200, 800],
            countdown_s: Some(300),
            ..Default::default()
        }),
    }
}

pub fn run(http: std::net::SocketAddr, rtmp: std::net::SocketAddr, dir: PathBuf) -> Result<()> {
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("costream.sqlite");
    let (room_ids, keys, token) = prepare(&db)?;
    let anchors: Arc<Mutex<Vec<Child>>> = Arc::default();
    let spawned = anchors.clone();
    let ready: OnReady = Box::new(move |state, http, rtmp| {
        let patterns = [("testsrc2=size=1280x720:rate=30", 440), ("smptehdbars=size=720x1280:rate=30", 660)];
        for (key, (pattern, tone)) in keys.iter().zip(patterns) {
            match anchor(rtmp, key, pattern, tone) {
                Ok(c) => costream::sys::lock(&spawned).push(c),
                Err(e) => tracing::error!(error = %e, "cannot start a demo anchor (is ffmpeg installed?)"),
            }
        }
        // The demo's show is public: its watch page plays in any browser, with no link.
        for r in &room_ids {
            if let Err(e) = state.rooms.set_public(r, true) {
                tracing::error!(error = %e, "cannot make a demo room public");
            }
        }
        match state.sessions.start(session(&room_ids)) {
            Ok(s) => {
                let url = format!("http://{http}{}", s.hls);
                println!("costream demo is running: two anchors publish over RTMP to rtmp://{rtmp}/live/<key>");
                println!("  CONSOLE: http://{http}/console#token={token}");
                println!("  WATCH:   http://{http}/watch/{}", s.id);
                println!("  TOKEN:   {token}");
                println!("  HLS:     {url}");
                println!("  ffplay:  ffplay -headers 'Authorization: Bearer {token}' {url}");
                println!("  API:     curl -H 'Authorization: Bearer {token}' http://{http}/sessions   (also /rooms, /openapi.json)");
                println!("  stop:    Ctrl-C");
            }
            Err(e) => tracing::error!(error = %e, "cannot start the demo session"),
        }
    });
    let rt = tokio::runtime::Runtime::new()?;
    let service = costream::config::ServiceConfig { http, rtmp, db, ..Default::default() };
    let r = rt.block_on(run_with(ServeConfig { service, ..Default::default() }, shutdown_signal(), Some(ready)));
    for mut c in costream::sys::lock(&anchors).drain(..) {
        let _ = c.kill();
        let _ = c.wait();
    }
    r
}
