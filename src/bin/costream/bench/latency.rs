//! The latency costream adds between an anchor's RTMP publish and the RTMP output it pushes.
//!
//! The input carries its frame number as a 16-bit code of black/white blocks. A reader decodes the
//! stream coming out of a real RTMP server (nginx-rtmp) and stamps each code with the wall time it
//! arrived; the publisher sends frame N at `start + N/30` (`ffmpeg -re`). The same measurement is
//! made with the publisher going straight to nginx (the path every setup has) and through costream
//! (publish to costream's ingest, one-input session, push to nginx): the difference of the medians is
//! what costream adds — ingest, decode, compose, encode, mux.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use costream::api::serve::{run_with, ServeConfig};
use costream::compose::Fps;
use costream::error::{invalid, Result};
use costream::media::geometry::{Fit, Layout};
use costream::session::{SessionInput, SessionSpec};
use costream::testsrc::{generate, Clip};

use crate::kit::{free_port, start_nginx, wait_until, Proc};

const W: u32 = 640;
const H: u32 = 360;
const BITS: u32 = 16;
const BIT_W: u32 = 40;

/// The coded clip: a frame counter in the top rows, a tone for the audio path.
fn coded_clip(dir: &Path, seconds: f64) -> Result<PathBuf> {
    let p = dir.join(format!("latency_{seconds}s.flv"));
    if !p.exists() {
        std::fs::create_dir_all(dir)?;
        let code = format!(
            "color=c=gray:size={W}x{H}:rate=30,format=yuv420p,geq=lum='if(lt(Y,40),if(gt(mod(floor(N/pow(2,floor(X/{BIT_W}))),2),0.5),235,16),128)':cb=128:cr=128"
        );
        generate(
            &p,
            &Clip::new(code, seconds).with_audio("sine=frequency=440:sample_rate=48000").args(&[
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
            ]),
        )?;
    }
    Ok(p)
}

fn read_code(f: &ff::frame::Video) -> u32 {
    let (data, stride) = (f.data(0), f.stride(0));
    (0..BITS).fold(0, |acc, b| {
        let x = (b * BIT_W + BIT_W / 2) as usize;
        if data[20 * stride + x] > 128 {
            acc | (1 << b)
        } else {
            acc
        }
    })
}

/// Reads `url` until `until`, recording (frame code, arrival) for every decoded frame.
fn reader(url: String, until: Instant) -> std::thread::JoinHandle<Vec<(u32, Instant)>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut d = ff::Dictionary::new();
        d.set("rw_timeout", "15000000");
        // The output is already running when the reader joins (a session shows its waiting card
        // before the anchor publishes), and the relay sends video from its next keyframe: give
        // the probe time to see it.
        d.set("analyzeduration", "5000000");
        d.set("fflags", "nobuffer");
        let Ok(mut ictx) = ff::format::input_with_dictionary(&url, d) else { return out };
        let Some(s) = ictx.streams().best(ff::media::Type::Video) else { return out };
        let idx = s.index();
        let Ok(mut dec) =
            ff::codec::context::Context::from_parameters(s.parameters()).and_then(|c| c.decoder().video())
        else {
            return out;
        };
        let mut pkt = ff::Packet::empty();
        while Instant::now() < until {
            if pkt.read(&mut ictx).is_err() {
                break;
            }
            if pkt.stream() != idx || dec.send_packet(&pkt).is_err() {
                continue;
            }
            let mut f = ff::frame::Video::empty();
            while dec.receive_frame(&mut f).is_ok() {
                out.push((read_code(&f), Instant::now()));
            }
        }
        out
    })
}

fn publish(clip: &Path, url: &str) -> Result<Proc> {
    Ok(Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

/// Median of (arrival - send time) in ms over frames after the first second. Only a code's first
/// arrival counts: a held last frame (the anchor has stopped) repeats its code.
fn median_latency(samples: &[(u32, Instant)], sent_start: Instant) -> Option<f64> {
    let mut seen = std::collections::HashSet::new();
    let mut v: Vec<f64> = samples
        .iter()
        .filter(|(n, _)| *n >= 30 && seen.insert(*n))
        .map(|(n, t)| {
            t.saturating_duration_since(sent_start + Duration::from_secs_f64(*n as f64 / 30.0)).as_secs_f64() * 1e3
        })
        .collect();
    if std::env::var_os("COSTREAM_DEBUG_LATENCY").is_some() {
        let pick: Vec<String> = v.iter().step_by((v.len() / 12).max(1)).map(|x| format!("{x:.0}")).collect();
        eprintln!("latency over time (ms): {}", pick.join(" "));
    }
    if v.len() < 10 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// One measurement: the publisher goes to `publish_url`, the reader watches `read_url`.
fn measure(clip: &Path, seconds: f64, publish_url: &str, read_url: &str) -> Result<Option<f64>> {
    let until = Instant::now() + Duration::from_secs_f64(seconds + 8.0);
    let r = reader(read_url.to_string(), until);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut p = publish(clip, publish_url)?;
    let _ = p.0.wait();
    drop(p);
    let samples = r.join().map_err(|_| invalid("latency reader", "panicked"))?;
    Ok(median_latency(&samples, start))
}

/// Runs both measurements; returns (direct ms, through costream ms, added ms).
pub fn run(dir: &Path, seconds: f64) -> Result<(f64, f64, f64)> {
    ff::init().map_err(|e| invalid("ffmpeg", e.to_string()))?;
    let clip = coded_clip(&dir.join("inputs"), seconds)?;
    let nginx = start_nginx(&dir.join("nginx"), false)?;
    let nport = nginx.port;
    let direct = measure(
        &clip,
        seconds,
        &format!("rtmp://127.0.0.1:{nport}/live/direct"),
        &format!("rtmp://127.0.0.1:{nport}/live/direct"),
    )?
    .ok_or_else(|| invalid("latency", "the direct path delivered too few frames"))?;

    // costream in-process: ingest on a free port, one room, a session pushing to nginx.
    let (http, rtmp): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{}", free_port()?).parse().map_err(|_| invalid("addr", ""))?,
        format!("127.0.0.1:{}", free_port()?).parse().map_err(|_| invalid("addr", ""))?,
    );
    let key: Arc<Mutex<Option<(String, SocketAddr)>>> = Arc::default();
    let k2 = key.clone();
    let out_url = format!("rtmp://127.0.0.1:{nport}/live/out");
    let o2 = out_url.clone();
    let ready: costream::api::serve::OnReady = Box::new(move |state, _http, rtmp| {
        let room = match state.store.create_room("latency", "costream", 3600) {
            Ok(r) => r,
            Err(e) => return tracing::error!(error = %e, "latency room"),
        };
        let spec = SessionSpec {
            inputs: vec![SessionInput::Room(room.id.clone())],
            layout: Layout::SideBySide,
            fits: vec![Fit::Fill],
            size: (W, H),
            fps: Fps { num: 30, den: 1 },
            outputs: vec![o2],
            bitrate_kbps: 1500,
            record: false,
            views: vec![],
            pending: false,
            pk: None,
            audio_of: vec![],
            masking: None,
            input_pauses: Default::default(),
        };
        if let Err(e) = state.sessions.start(spec) {
            return tracing::error!(error = %e, "latency session");
        }
        if let (Some(k), Ok(mut slot)) = (room.key, k2.lock()) {
            *slot = Some((k.key, rtmp));
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let db = dir.join("latency.sqlite");
    let _ = std::fs::remove_file(&db);
    let service = costream::config::ServiceConfig {
        http,
        rtmp,
        db,
        key_ttl_s: 3600,
        allow_private_inputs: true,
        allow_private_outputs: true,
        ..Default::default()
    };
    let cfg = ServeConfig { service, ..Default::default() };
    let svc = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(run_with(
            cfg,
            async move {
                let _ = stop_rx.await;
            },
            Some(ready),
        ))
    });
    let started = || key.lock().ok().and_then(|k| k.clone());
    if !wait_until(Duration::from_secs(20), || started().is_some()) {
        return Err(invalid("latency", "costream did not start"));
    }
    let (k, ingest) = started().ok_or_else(|| invalid("latency", "costream did not start"))?;
    let through = measure(&clip, seconds, &format!("rtmp://127.0.0.1:{}/live/{k}", ingest.port()), &out_url)?;
    let _ = stop_tx.send(());
    let _ = svc.join();
    let through = through.ok_or_else(|| invalid("latency", "the costream path delivered too few frames"))?;
    Ok((direct, through, through - direct))
}

/// Accept → first merged frame of a PK, with pre-pull (the invitation pulled and decoded both
/// anchors for 4 s before the accept, a quick answer) against a cold start (the pulls begin at the accept), both
/// through nginx-rtmp in the same run. Returns the medians over `runs` of each, in ms: (pre-pull
/// first frame, pre-pull first packet, cold first frame, cold first packet).
pub fn pk_accept(dir: &Path, runs: usize) -> Result<(f64, f64, f64, f64)> {
    use costream::session::invite::{Invitations, InviteState};
    use costream::session::Sessions;
    ff::init().map_err(|e| invalid("ffmpeg", e.to_string()))?;
    let clip = coded_clip(&dir.join("inputs"), 120.0)?;
    let nginx = start_nginx(&dir.join("nginx-pk"), false)?;
    let nport = nginx.port;
    let urls = [format!("rtmp://127.0.0.1:{nport}/live/pk_a"), format!("rtmp://127.0.0.1:{nport}/live/pk_b")];
    let _publishers = [publish(&clip, &urls[0])?, publish(&clip, &urls[1])?];
    std::thread::sleep(Duration::from_secs(2));
    // URL inputs only: the rooms (and their store) are never asked.
    let store =
        costream::store::Store::open(&dir.join("pk.sqlite")).map_err(|e| costream::Error::Database(e.to_string()))?;
    let store = Arc::new(store);
    let rooms = Arc::new(costream::rooms::Rooms::new(store, 64 << 20, 1));
    let sessions = Arc::new(
        Sessions::new(dir.join("pk-hls"), rooms)
            .with_ring_budget(64 << 20)
            // The anchors are pulled from a relay on loopback.
            .with_url_policy(costream::policy::UrlPolicy { allow_private_inputs: true, allow_private_outputs: true }),
    );
    let invitations = Invitations::new(sessions.clone(), None, costream::limits::Caps::default());
    let spec = |pending: bool| SessionSpec {
        inputs: urls.iter().map(|u| SessionInput::Url(u.clone())).collect(),
        layout: Layout::SideBySide,
        fits: vec![Fit::Fill],
        size: (1280, 720),
        fps: Fps { num: 30, den: 1 },
        outputs: vec![],
        bitrate_kbps: 2500,
        record: false,
        views: ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, n)| costream::compose::ViewSpec {
                name: n.to_string(),
                order: if i == 0 { vec![0, 1] } else { vec![1, 0] },
                mirrored: i == 1,
                ..Default::default()
            })
            .collect(),
        pending,
        pk: Some(Default::default()),
        audio_of: vec![],
        masking: None,
        input_pauses: Default::default(),
    };
    // Waits for the session's first frame and packet after its activation.
    let first = |id: &str| -> Result<(f64, f64)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = sessions.status(id).ok_or_else(|| invalid("pk bench", "session vanished"))?;
            if let (Some(f), Some(p)) = (st.activation_to_first_frame_ms, st.activation_to_first_packet_ms) {
                return Ok((f, p));
            }
            if Instant::now() > deadline || st.error.is_some() {
                return Err(invalid("pk bench", format!("no first frame: {:?}", st.error)));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let inv = invitations
            .create(spec(true), "A".into(), "B".into(), Duration::from_secs(60))
            .map_err(|e| invalid("invitation", e.to_string()))?;
        std::thread::sleep(Duration::from_secs(4));
        invitations.accept(&inv.id).map_err(|e| invalid("accept", e.to_string()))?;
        warm.push(first(&inv.session)?);
        sessions.stop(&inv.session);
        debug_assert!(invitations.status(&inv.id).is_some_and(|s| s.state == InviteState::Accepted));
        let st = sessions.start(spec(false))?;
        cold.push(first(&st.id)?);
        sessions.stop(&st.id);
    }
    let med = |v: &[(f64, f64)], k: usize| {
        let mut x: Vec<f32> = v.iter().map(|p| if k == 0 { p.0 } else { p.1 } as f32).collect();
        costream::compose::median(&mut x).unwrap_or(f64::NAN)
    };
    Ok((med(&warm, 0), med(&warm, 1), med(&cold, 0), med(&cold, 1)))
}
