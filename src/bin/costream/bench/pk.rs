//! The PK measurements: a PK accept's time to the first merged frame, pre-pulled against a cold
//! start, and dirty-region reuse on a decorated PK room scene.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use super::{machine, progress, BenchArgs};
use costream::compose::median;
use costream::error::Result;

/// Frames per second of compose + readback on a PK room scene — a full-frame 1920×1080 background
/// image beneath two 640×720 video tiles (new pictures every frame), two avatars, decorative frames
/// around the tiles and a static title — with dirty-region reuse on and off, alternating, in one
/// process on one device. Returns (on, off).
pub fn dirty_reuse(frames: usize, runs: usize) -> Result<(f64, f64)> {
    use costream::compose::{TextRenderer, TextStyle};
    use costream::gpu::{Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, Scene, TileSpec};
    use costream::media::geometry::{place, Fit, Rect, SourceGeom};
    use costream::media::{Picture, PlaneLayout};
    let gpu = std::sync::Arc::new(Gpu::open()?);
    let (w, h) = (1920u32, 1080u32);
    let bg = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x * 255 / w) as u8, (y * 255 / h) as u8, 140, 255]));
    let avatar = image::RgbaImage::from_fn(128, 128, |x, y| {
        let d = (x as i32 - 64).pow(2) + (y as i32 - 64).pow(2);
        image::Rgba(if d < 60 * 60 {
            [240, 200, 180, 255]
        } else if d < 64 * 64 {
            [255, 255, 255, 255]
        } else {
            [0, 0, 0, 0]
        })
    });
    let ornament =
        image::RgbaImage::from_fn(64, 64, |x, y| image::Rgba([255, 215, 0, if x < 12 || y < 12 { 255 } else { 0 }]));
    let title =
        TextRenderer::new().render("PK 大战 · Round 1", 600, 64, &TextStyle { size: 48.0, ..TextStyle::default() });
    // Two pictures per tile, alternated: every frame uploads new content.
    let pics: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = (0..4u8)
        .map(|k| {
            let y = (0..640 * 720).map(|i| ((i % 640) as u32 * 3 + (i / 640) as u32 + k as u32 * 40) as u8).collect();
            (y, vec![128u8 + k * 8; 320 * 360], vec![128u8; 320 * 360])
        })
        .collect();
    let geom = SourceGeom { width: 640, height: 720, rotation: 0, sar: 1.0 };
    let tiles = [(320.0f32, 180.0f32), (960.0, 180.0)];
    let mut layers = Vec::new();
    for (x, y) in tiles {
        for r in [
            Rect::new(x - 8.0, y - 8.0, 656.0, 8.0),
            Rect::new(x - 8.0, y + 720.0, 656.0, 8.0),
            Rect::new(x - 8.0, y, 8.0, 720.0),
            Rect::new(x + 640.0, y, 8.0, 720.0),
        ] {
            layers.push(LayerSpec { rect: r, color: [1.0, 0.84, 0.0, 1.0], kind: LayerKind::Solid });
        }
        layers.push(LayerSpec {
            rect: Rect::new(x - 8.0, y - 8.0, 64.0, 64.0),
            color: [1.0; 4],
            kind: LayerKind::Image(2),
        });
    }
    layers.push(LayerSpec { rect: Rect::new(80.0, 940.0, 128.0, 128.0), color: [1.0; 4], kind: LayerKind::Image(1) });
    layers.push(LayerSpec { rect: Rect::new(1712.0, 940.0, 128.0, 128.0), color: [1.0; 4], kind: LayerKind::Image(1) });
    layers.push(LayerSpec { rect: Rect::new(660.0, 60.0, 600.0, 64.0), color: [1.0; 4], kind: LayerKind::Image(3) });
    let scene = Scene {
        background: [0.0; 3],
        under: vec![LayerSpec {
            rect: Rect::new(0.0, 0.0, w as f32, h as f32),
            color: [1.0; 4],
            kind: LayerKind::Image(0),
        }],
        tiles: tiles
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| TileSpec { slot: i, placement: place(geom, Rect::new(x, y, 640.0, 720.0), Fit::Fill) })
            .collect(),
        layers,
        blurs: vec![],
        masks: vec![],
        copy_of: None,
        skip: false,
    };
    let run = |reuse: bool| -> Result<f64> {
        let mut comp = Compositor::new(gpu.clone(), w, h, GpuOptions { dirty_reuse: reuse, ..GpuOptions::default() })?;
        comp.set_images(&[bg.clone(), avatar.clone(), ornament.clone(), title.clone()])?;
        let mut sink = |_r: costream::gpu::Ready<'_>| Ok(());
        let mut start = Instant::now();
        for n in 0..frames + 10 {
            if n == 10 {
                // Warm-up frames (pipelines, first full frame) are not counted.
                comp.flush(&mut sink)?;
                start = Instant::now();
            }
            for slot in 0..2 {
                let (y, u, v) = &pics[(n + slot) % 4];
                let pic = Picture {
                    layout: PlaneLayout::Planar { sx: 2, sy: 2 },
                    width: 640,
                    height: 720,
                    planes: [y, u, v],
                    strides: [640, 320, 320],
                    matrix: costream::media::Matrix::Bt709,
                    full_range: false,
                };
                comp.upload(slot, &pic)?;
            }
            if comp.needs_upload(0) {
                let (y, u, v) = &pics[n % 4];
                comp.upload(
                    0,
                    &Picture {
                        layout: PlaneLayout::Planar { sx: 2, sy: 2 },
                        width: 640,
                        height: 720,
                        planes: [y, u, v],
                        strides: [640, 320, 320],
                        matrix: costream::media::Matrix::Bt709,
                        full_range: false,
                    },
                )?;
            }
            comp.render(&scene, n as u64, &mut sink)?;
        }
        comp.flush(&mut sink)?;
        Ok(frames as f64 / start.elapsed().as_secs_f64())
    };
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        off.push(run(false)? as f32);
        on.push(run(true)? as f32);
    }
    Ok((median(&mut on).unwrap_or(f64::NAN), median(&mut off).unwrap_or(f64::NAN)))
}

type PkFigures = (f64, f64, f64, f64);

/// The PK figures: accept latency (pre-pulled frame and packet, cold frame and packet) and
/// dirty-region reuse (on, off).
pub struct Pk {
    accept: Option<PkFigures>,
    reuse: Option<(f64, f64)>,
}

/// The PK measurements (accept latency pre-pulled vs cold; dirty-region reuse on vs off), added to
/// the JSON figures.
pub fn measure(args: &BenchArgs, dir: &Path, j: &mut serde_json::Map<String, Value>) -> Pk {
    // PK accept: pre-pulled against a cold start, same publishers, same run.
    let pk = if args.no_latency {
        None
    } else {
        progress("measuring PK accept -> first merged frame, pre-pulled and cold");
        match super::latency::pk_accept(dir, if args.quick { 1 } else { 3 }) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "PK accept latency not measured");
                None
            }
        }
    };
    j.insert("pk_accept_first_frame_ms_prepull".into(), pk.map(|p| json!(p.0)).unwrap_or(Value::Null));
    j.insert("pk_accept_first_packet_ms_prepull".into(), pk.map(|p| json!(p.1)).unwrap_or(Value::Null));
    j.insert("pk_accept_first_frame_ms_cold".into(), pk.map(|p| json!(p.2)).unwrap_or(Value::Null));
    j.insert("pk_accept_first_packet_ms_cold".into(), pk.map(|p| json!(p.3)).unwrap_or(Value::Null));
    progress("measuring dirty-region reuse on a PK room scene (compose + readback, on vs off)");
    let reuse = dirty_reuse(if args.quick { 30 } else { 150 }, if args.quick { 1 } else { 3 });
    if let Err(e) = &reuse {
        tracing::warn!(error = %e, "dirty-region reuse not measured");
    }
    let reuse = reuse.ok();
    j.insert("dirty_reuse_fps_on".into(), reuse.map(|r| json!(r.0)).unwrap_or(Value::Null));
    j.insert("dirty_reuse_fps_off".into(), reuse.map(|r| json!(r.1)).unwrap_or(Value::Null));
    j.insert("dirty_reuse_ratio".into(), reuse.map(|r| json!(r.0 / r.1)).unwrap_or(Value::Null));
    Pk { accept: pk, reuse }
}

impl Pk {
    /// The PK measurements as text (`md`: as BENCHMARKS.md lines).
    pub fn text(&self, md: bool) -> String {
        let (pk, reuse) = (self.accept, self.reuse);
        let mut t = String::new();
        if let Some(p) = pk {
            if md {
                t.push_str(&format!("\nPK accept → first merged frame (two 640×360 anchors pulled from nginx-rtmp, 1280×720 mirrored outputs, median of the runs): **pre-pulled {:.1} ms** (first encoded packet {:.1} ms; the invitation was answered after 4 s) against a **cold start {:.0} ms** (pulls begin at the accept; first packet {:.0} ms) (`pk_accept_first_frame_ms_prepull`, `pk_accept_first_frame_ms_cold`).\n", p.0, p.1, p.2, p.3));
            } else {
                t.push_str(&format!("PK accept -> first merged frame (median): pre-pulled {:.1} ms (first packet {:.1} ms), cold start {:.0} ms (first packet {:.0} ms)\n", p.0, p.1, p.2, p.3));
            }
        }
        if let Some(r) = reuse {
            if md {
                t.push_str(&format!("\nDirty-region reuse, 1920×1080 PK room scene (full-frame background image, two 640×720 tiles with new pictures every frame, two avatars, decorative frames, a title), compose + readback: **{:.1} fps with reuse, {:.1} fps without = {:.2}×** (`dirty_reuse_fps_on`, `dirty_reuse_fps_off`).\n", r.0, r.1, r.0 / r.1));
            } else {
                t.push_str(&format!("dirty-region reuse, 1920x1080 PK room scene, compose + readback: {:.1} fps on, {:.1} fps off ({:.2}x)\n", r.0, r.1, r.0 / r.1));
            }
        }
        t
    }
}

/// `costream bench --pk-only`: the PK measurements alone.
pub fn run_only(args: &BenchArgs) -> Result<()> {
    let mut j = serde_json::Map::new();
    j.insert("cpu".into(), json!(machine()));
    let pk = measure(args, &args.dir, &mut j);
    super::run_part(args, "PK measurements", j, |md| pk.text(md))
}
