//! Benchmarks of per-viewer masking: face tracking per frame, the mask pass per extra level, and the
//! service's CPU with 10 / 1 000 / 10 000 simulated viewers each fetching its personalised playlist
//! once per segment duration (segments themselves are a CDN's job and are not fetched).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kit::{start_nginx, wait_until, Proc};
use costream::error::{invalid, Result};
use costream::face::{FaceModels, Organ, Range, Roi, Tracker, TrackerConfig};

const PORTRAIT: &[u8] = include_bytes!("../../../../tests/data/astronaut.png");

/// A moving-portrait clip (the public-domain astronaut), made once.
fn face_clip(dir: &Path, w: u32, h: u32, frames: u32) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let png = dir.join("astronaut.png");
    std::fs::write(&png, PORTRAIT)?;
    let out = dir.join(format!("sway_{w}x{h}_{frames}.flv"));
    if !out.exists() {
        // A steady amount of motion (the face sways), so every measurement window costs the same.
        let vf = format!("zoompan=z='1.1':x='iw/2-(iw/zoom/2)+20*sin(on/15)':y='ih/3-(ih/zoom/3)+10*cos(on/20)':d=1:s={w}x{h}:fps=30");
        let st = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-loop", "1", "-i"])
            .arg(&png)
            .args([
                "-vf",
                &vf,
                "-frames:v",
                &frames.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "60",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&out)
            .status()?;
        if !st.success() {
            return Err(invalid("bench", "could not make the face clip (ffmpeg)"));
        }
    }
    Ok(out)
}

/// Median face tracking time per frame (detection every 5 frames, landmarks every frame) over a
/// 1280×720 moving portrait.
pub fn face_track_ms(dir: &Path) -> Result<f64> {
    let clip = face_clip(dir, 1280, 720, 120)?;
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&clip)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()?;
    let models = Arc::new(FaceModels::load(Range::Short).map_err(|e| invalid("faces", e.to_string()))?);
    let mut tr = Tracker::new(models, TrackerConfig::default());
    let mut ms = Vec::new();
    for (n, f) in o.stdout.chunks_exact(1280 * 720 * 3).enumerate() {
        let img = image::RgbImage::from_raw(1280, 720, f.to_vec()).ok_or_else(|| invalid("bench", "frame"))?;
        let t0 = Instant::now();
        tr.update(&img, n as f64 / 30.0).map_err(|e| invalid("faces", e.to_string()))?;
        ms.push(t0.elapsed().as_secs_f32() * 1e3);
    }
    costream::compose::median(&mut ms[10..]).ok_or_else(|| invalid("bench", "no frames"))
}

/// GPU cost of one more unlock state in use: compose + readback of a 1280×720 frame with the
/// portrait and 0 or 3 masked renditions (eyes, mouth, nose), per extra rendition, in ms.
pub fn mask_pass_ms_per_state(dir: &Path) -> Result<f64> {
    use costream::gpu::{Compositor, Gpu, GpuOptions, MaskSpec, Scene, TileSpec};
    use costream::media::geometry::{place, Fit, Rect, SourceGeom};
    use costream::media::{Picture, PlaneLayout};
    let img = image::load_from_memory(PORTRAIT).map_err(|e| invalid("portrait", e.to_string()))?.to_rgb8();
    let models = FaceModels::load(Range::Short).map_err(|e| invalid("faces", e.to_string()))?;
    let d = *models
        .detect(&img)
        .map_err(|e| invalid("faces", e.to_string()))?
        .first()
        .ok_or_else(|| invalid("bench", "no face in the portrait"))?;
    let pts: Vec<[f32; 2]> = models
        .landmarks(&img, &Roi::from_detection(&d))
        .map_err(|e| invalid("faces", e.to_string()))?
        .ok_or_else(|| invalid("bench", "no landmarks"))?
        .iter()
        .map(|p| [p[0], p[1]])
        .collect();
    let _ = dir;
    let (w, h) = (img.width(), img.height());
    let px = |x: u32, y: u32| {
        costream::media::colour::rgb_to_bt709_limited(
            img.get_pixel(x.min(w - 1), y.min(h - 1)).0.map(|c| c as f32 / 255.0),
        )
    };
    let yp: Vec<u8> = (0..w * h).map(|i| px(i % w, i / w)[0] as u8).collect();
    let up: Vec<u8> = (0..(w / 2) * (h / 2)).map(|i| px(2 * (i % (w / 2)), 2 * (i / (w / 2)))[1] as u8).collect();
    let vp: Vec<u8> = (0..(w / 2) * (h / 2)).map(|i| px(2 * (i % (w / 2)), 2 * (i / (w / 2)))[2] as u8).collect();
    let gpu = Arc::new(Gpu::open()?);
    // The portrait 1:1 in the left of a 1280×720 frame; its landmarks are the frame's.
    let tile = TileSpec {
        slot: 0,
        placement: place(
            SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 },
            Rect::new(0.0, 0.0, w as f32, h as f32),
            Fit::Fill,
        ),
    };
    let mask = MaskSpec {
        polygons: [Organ::Eyes, Organ::Mouth, Organ::Nose].iter().flat_map(|o| o.polygons(&pts)).collect(),
        feather: 3.0,
        dilate: 3.0,
        sigma: 10.0,
        sticker: None,
        clip: None,
    };
    let time = |extra: usize| -> Result<f64> {
        let mut comp = Compositor::with_views(
            gpu.clone(),
            1280,
            720,
            GpuOptions { readback_depth: 1, ..GpuOptions::default() },
            1 + extra,
        )?;
        let mut scenes = vec![Scene { tiles: vec![tile], ..Scene::default() }];
        scenes.extend((0..extra).map(|k| Scene {
            copy_of: Some(0),
            masks: vec![MaskSpec { sigma: 10.0 * (1.0 - 0.1 * k as f32), ..mask.clone() }],
            ..Scene::default()
        }));
        let pic = Picture {
            layout: PlaneLayout::Planar { sx: 2, sy: 2 },
            width: w,
            height: h,
            planes: [&yp, &up, &vp],
            strides: [w as usize, w as usize / 2, w as usize / 2],
            matrix: costream::media::Matrix::Bt709,
            full_range: false,
        };
        let mut ms = Vec::new();
        for n in 0..40u64 {
            // A new picture every frame, as from a camera.
            comp.upload(0, &pic)?;
            let t0 = Instant::now();
            comp.render_views(&scenes, n, &mut |_| Ok(()))?;
            comp.flush(&mut |_| Ok(()))?;
            if n >= 5 {
                ms.push(t0.elapsed().as_secs_f32() * 1e3);
            }
        }
        costream::compose::median(&mut ms).ok_or_else(|| invalid("bench", "no frames"))
    };
    let (t0, t3) = (time(0)?, time(3)?);
    Ok((t3 - t0) / 3.0)
}

/// Simulated viewers: each URL fetched once per period, the fetches spread evenly over it, by 4
/// threads; counts of the fetches answered and failed.
pub struct Fetchers {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Fetchers {
    pub fn start(urls: Arc<Vec<String>>, period: Duration) -> Fetchers {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let workers = 4usize;
        let start = Instant::now();
        let threads = (0..workers)
            .map(|k| {
                let (stop, ok, failed, urls) = (stop.clone(), ok.clone(), failed.clone(), urls.clone());
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
                    let mine: Vec<usize> = (k..urls.len()).step_by(workers).collect();
                    let mut round = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        for (j, v) in mine.iter().enumerate() {
                            let due = start + period * round + period.mul_f64(j as f64 / mine.len().max(1) as f64);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            match agent.get(&urls[*v]).call().map(|r| r.into_string()) {
                                Ok(Ok(_)) => ok.fetch_add(1, Ordering::Relaxed),
                                _ => failed.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                        round += 1;
                    }
                })
            })
            .collect();
        Fetchers { stop, ok, failed, threads }
    }

    /// Stops them: (answered, failed).
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

/// CPU-seconds per second the process `pid` used over the next `window_s`.
pub fn cpu_per_s(pid: u32, window_s: f64) -> Result<f64> {
    let (c0, t0) = (process_cpu_s(pid).ok_or_else(|| invalid("bench", "service CPU"))?, Instant::now());
    std::thread::sleep(Duration::from_secs_f64(window_s));
    let (c1, t1) = (process_cpu_s(pid).ok_or_else(|| invalid("bench", "service CPU"))?, Instant::now());
    Ok((c1 - c0) / (t1 - t0).as_secs_f64())
}

fn process_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz.max(1.0))
}

/// How the bench's viewers are spread: over 6 unlock states (levels 0-3 in turn, and a payment
/// for the eyes by every 8th viewer at levels 0 and 1: 5 masked renditions and the open picture),
/// or all in one state (level 0: one masked rendition).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    SixStates,
    OneState,
}

/// The payment provider's secret of the bench's service.
const PAY_SECRET: &str = "bench-payment-secret";

/// A viewer token of channel `bench` with points and payments as `spread` says for viewer `i`.
fn bench_viewer(api: &super::service::Api, spread: Spread, i: usize) -> Result<String> {
    let fail = |what: &str, st: u16, body: &serde_json::Value| invalid("bench", format!("{what}: {st} {body}"));
    let (st, v) = api.call("POST", "/channels/bench/viewers", None);
    let t = v["token"].as_str().ok_or_else(|| fail("viewer token", st, &v))?.to_string();
    if spread == Spread::OneState {
        return Ok(t);
    }
    // Points through the API (a gift worth 0-3: levels 0-3 in turn).
    if i % 4 > 0 {
        let body = format!(r#"{{"kind":"gift","value":{}}}"#, i % 4);
        let (st, b) = api.call("POST", &format!("/channels/bench/viewers/{t}/events"), Some(&body));
        if st != 200 {
            return Err(fail("viewer points", st, &b));
        }
    }
    if i % 8 < 2 {
        let pay = serde_json::json!({"payment_id": format!("bench-{i}"), "channel": "bench", "token": t, "organ": "eyes", "status": "confirmed"}).to_string();
        let sig = costream::session::unlock::sign(PAY_SECRET.as_bytes(), pay.as_bytes());
        let st = ureq::post(&format!("{}/payments/callback", api.base))
            .set("x-signature", &sig)
            .send_string(&pay)
            .map_or_else(|e| if let ureq::Error::Status(c, _) = e { c } else { 0 }, |r| r.status());
        if st != 200 {
            return Err(invalid("bench", format!("payment: {st}")));
        }
    }
    Ok(t)
}

/// The service's CPU-seconds per content-second with each number of viewers (a masked 640×360
/// session from a live pull), the viewers spread over unlock states as `spread` says.
pub fn viewers_cpu(dir: &Path, counts: &[usize], window_s: f64, spread: Spread) -> Result<Vec<(usize, f64, u64)>> {
    std::fs::create_dir_all(dir)?;
    let clip = face_clip(&dir.join("inputs"), 640, 360, 900)?;
    let nginx = start_nginx(&dir.join("nginx-viewers"), false)?;
    let nport = nginx.port;
    let url = format!("rtmp://127.0.0.1:{nport}/live/face");
    let _anchor = Proc(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(&clip)
            .args(["-c", "copy", "-f", "flv", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let secret = dir.join("payment.secret");
    std::fs::write(&secret, PAY_SECRET)?;
    let secret_arg = secret.to_string_lossy().to_string();
    let svc = super::service::Service::start(
        &dir.join("viewers.sqlite"),
        &["--allow-private-inputs", "--payment-secret-file", &secret_arg],
        None,
    )?;
    let (api, pid, h) = (svc.api.clone(), svc.pid(), svc.api.base.clone());
    let max = counts.iter().copied().max().unwrap_or(0);
    let fail = |what: &str, st: u16, body: &serde_json::Value| invalid("bench", format!("{what}: {st} {body}"));
    let rules = r#"{"levels":[1,2,3],"locked":["eyes","mouth","nose"],"unlock_order":["nose","mouth","eyes"]}"#;
    let (st, b) = api.call("PUT", "/channels/bench", Some(rules));
    if st != 200 {
        return Err(fail("channel rules", st, &b));
    }
    let tokens = (0..max).map(|i| bench_viewer(&api, spread, i)).collect::<Result<Vec<String>>>()?;
    let tokens = Arc::new(tokens);
    let body = serde_json::json!({"inputs": [{"url": url}], "size": "640x360", "bitrate_kbps": 1000, "masking": {"channel": "bench"}}).to_string();
    let (st, ses) = api.call("POST", "/sessions", Some(&body));
    let id = ses["id"].as_str().ok_or_else(|| fail("session", st, &ses))?.to_string();
    let probe = tokens.get(3).or(tokens.first()).cloned().unwrap_or_default();
    if !wait_until(Duration::from_secs(30), || {
        api.fetch_public(&format!("/sessions/{id}/viewers/{probe}/index.m3u8")).0 == 200
    }) {
        return Err(invalid("bench", "the masked session produced no playlist"));
    }
    // Every state's rendition made (its first viewer asks), and past the start-up (models,
    // encoders, the first segments) before anything is measured.
    for t in tokens.iter().take(8) {
        api.fetch_public(&format!("/sessions/{id}/viewers/{t}/index.m3u8"));
    }
    std::thread::sleep(Duration::from_secs(8));
    let mut samples: Vec<(usize, f64, u64)> = Vec::new();
    // Each count twice, interleaved, so a slow drift of the session's own cost cannot pass for a
    // cost of the viewers.
    for &n in counts.iter().chain(counts.iter()) {
        // Each viewer fetches its playlist once per segment (2 s), spread evenly over the period.
        let urls: Vec<String> =
            tokens[..n].iter().map(|t| format!("{h}/sessions/{id}/viewers/{t}/index.m3u8")).collect();
        let fetchers = Fetchers::start(Arc::new(urls), Duration::from_secs(2));
        std::thread::sleep(Duration::from_secs(2));
        let per_s = cpu_per_s(pid, window_s)?;
        let (ok, failed) = fetchers.stop();
        super::progress(&format!(
            "{n} viewers: {per_s:.2} CPU-s per content-s ({ok} playlists served, {failed} failed)"
        ));
        samples.push((n, per_s, failed));
    }
    drop(svc);
    Ok(counts
        .iter()
        .map(|&n| {
            let mine: Vec<&(usize, f64, u64)> = samples.iter().filter(|s| s.0 == n).collect();
            let mean = mine.iter().map(|s| s.1).sum::<f64>() / mine.len().max(1) as f64;
            (n, mean, mine.iter().map(|s| s.2).sum())
        })
        .collect())
}
