//! Face tracking on a real face (tests/data/astronaut.png, public domain) with the bundled models.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use common::*;
use costream::face::{FaceModels, Organ, Range, Roi, Tracker, TrackerConfig};

fn models() -> Arc<FaceModels> {
    static M: OnceLock<Arc<FaceModels>> = OnceLock::new();
    M.get_or_init(|| Arc::new(FaceModels::load(Range::Short).expect("bundled models load"))).clone()
}

fn astronaut() -> image::RgbImage {
    image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png")).unwrap().to_rgb8()
}

/// The portrait's 468 landmarks (x, y), found from its detection.
fn landmarks(img: &image::RgbImage) -> Vec<[f32; 2]> {
    let m = models();
    let d = m.detect(img).unwrap()[0];
    m.landmarks(img, &Roi::from_detection(&d)).unwrap().unwrap().iter().map(|p| [p[0], p[1]]).collect()
}

fn centre(poly: &[[f32; 2]]) -> [f32; 2] {
    let n = poly.len() as f32;
    [poly.iter().map(|p| p[0]).sum::<f32>() / n, poly.iter().map(|p| p[1]).sum::<f32>() / n]
}

#[test]
fn astronaut_face_and_organs_are_where_a_face_has_them() {
    let img = astronaut();
    let m = models();
    let dets = m.detect(&img).unwrap();
    assert_eq!(dets.len(), 1, "{dets:?}");
    let d = dets[0];
    println!("face box {:?} score {:.2}", d.bbox, d.score);
    // The portrait's face: about x 180-270, y 80-175 of the 512×512 picture (checked by eye).
    let [x0, y0, x1, y1] = d.bbox;
    assert!(
        (160.0..200.0).contains(&x0)
            && (250.0..290.0).contains(&x1)
            && (60.0..100.0).contains(&y0)
            && (150.0..200.0).contains(&y1),
        "{:?}",
        d.bbox
    );
    let lm = m.landmarks(&img, &Roi::from_detection(&d)).unwrap().expect("FaceMesh sees the face");
    let pts: Vec<[f32; 2]> = lm.iter().map(|p| [p[0], p[1]]).collect();
    let eyes = Organ::Eyes.polygons(&pts);
    let (re, le) = (centre(&eyes[0]), centre(&eyes[1]));
    let mouth = centre(&Organ::Mouth.polygons(&pts)[0]);
    let nose = centre(&Organ::Nose.polygons(&pts)[0]);
    let forehead = centre(&Organ::Forehead.polygons(&pts)[0]);
    assert!(re[0] < nose[0] && nose[0] < le[0], "eyes either side of the nose: {re:?} {nose:?} {le:?}");
    assert!(forehead[1] < re[1] && re[1] < nose[1] && nose[1] < mouth[1], "forehead, eyes, nose, mouth from the top");
    // Every organ lies inside the face oval.
    let oval = &Organ::Face.polygons(&pts)[0];
    for o in Organ::ALL {
        for poly in o.polygons(&pts) {
            let c = centre(&poly);
            assert!(
                costream::face::organs::inside(oval, c) || o == Organ::Forehead,
                "{o:?} centre {c:?} outside the face"
            );
        }
    }
}

/// Frames of a clip as RGB images (decoded by ffmpeg).
fn frames(clip: &Path, w: u32, h: u32) -> Vec<image::RgbImage> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(o.status.success());
    o.stdout.chunks_exact((w * h * 3) as usize).map(|c| image::RgbImage::from_raw(w, h, c.to_vec()).unwrap()).collect()
}

/// The portrait zooming in and panning (a moving anchor), 384×384 at 30 fps, with `extra` filters
/// appended.
fn moving_clip(d: &Path, extra: &str, frames: u32) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png");
    let clip = d.join("moving.mp4");
    let vf = format!("zoompan=z='1+0.004*on':x='iw/2-(iw/zoom/2)+on':y='ih/3-(ih/zoom/3)':d=1:s=384x384:fps=30{extra}");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&src)
        .args(["-vf", &vf, "-frames:v", &frames.to_string(), "-c:v", "libx264", "-qp", "10", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    clip
}

#[test]
fn a_moving_face_is_tracked_in_every_frame_and_held_through_a_three_frame_gap() {
    let d = workdir("face");
    // The portrait zooms in and pans (a moving anchor); frames 20-22 are blanked (the face vanishes).
    let clip = moving_clip(&d, ",drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(n,20,22)'", 40);
    let mut tr = Tracker::new(models(), TrackerConfig { hold_s: 0.2, ..TrackerConfig::default() });
    for (n, f) in frames(&clip, 384, 384).iter().enumerate() {
        let faces = tr.update(f, n as f64 / 30.0).unwrap();
        if (20..=22).contains(&n) {
            assert_eq!(faces.len(), 1, "frame {n}: the last mask is held through the gap");
            assert!(faces[0].held, "frame {n} has no face: held, not found");
        } else {
            assert_eq!(faces.len(), 1, "frame {n}: the face is found");
            assert!(!faces[0].held, "frame {n}: found, not held");
        }
    }
}

#[test]
fn a_clip_without_a_face_has_none() {
    let d = workdir("noface");
    let clip = clip(&d, "noface.mp4", &costream::testsrc::Clip::new("testsrc2=size=320x240:rate=30", 0.5));
    let mut tr = Tracker::new(models(), TrackerConfig::default());
    for (n, f) in frames(&clip, 320, 240).iter().enumerate() {
        assert!(tr.update(f, n as f64 / 30.0).unwrap().is_empty(), "frame {n}");
    }
}

/// Composes one frame and reads it back.
fn render_one(comp: &mut costream::gpu::Compositor, scene: &costream::gpu::Scene) -> Vec<u8> {
    let mut got = Vec::new();
    comp.render(scene, 0, &mut |r| {
        got = r.nv12.to_vec();
        Ok(())
    })
    .unwrap();
    comp.flush(&mut |r| {
        got = r.nv12.to_vec();
        Ok(())
    })
    .unwrap();
    got
}

/// An RGB image's BT.709 limited-range 4:2:0 planes.
struct Yuv420 {
    w: u32,
    h: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Yuv420 {
    /// The planes as the compositor uploads them.
    fn picture(&self) -> costream::media::Picture<'_> {
        let w = self.w as usize;
        costream::media::Picture {
            layout: costream::media::PlaneLayout::Planar { sx: 2, sy: 2 },
            width: self.w,
            height: self.h,
            planes: [&self.y, &self.u, &self.v],
            strides: [w, w / 2, w / 2],
            matrix: costream::media::Matrix::Bt709,
            full_range: false,
        }
    }
}

/// BT.709 limited-range 4:2:0 planes of an RGB image.
fn yuv420(img: &image::RgbImage) -> Yuv420 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = |x: usize, y: usize| {
        costream::media::colour::rgb_to_bt709_limited(img.get_pixel(x as u32, y as u32).0.map(|c| c as f32 / 255.0))
    };
    let y: Vec<u8> = (0..w * h).map(|i| px(i % w, i / w)[0].round() as u8).collect();
    let mut u = Vec::new();
    let mut v = Vec::new();
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let s = [px(2 * cx, 2 * cy), px(2 * cx + 1, 2 * cy), px(2 * cx, 2 * cy + 1), px(2 * cx + 1, 2 * cy + 1)];
            u.push((s.iter().map(|p| p[1]).sum::<f32>() / 4.0).round() as u8);
            v.push((s.iter().map(|p| p[2]).sum::<f32>() / 4.0).round() as u8);
        }
    }
    Yuv420 { w: w as u32, h: h as u32, y, u, v }
}

/// Variance of the Laplacian of the luma inside a rect.
fn sharpness(nv12: &[u8], w: usize, r: [usize; 4]) -> f64 {
    let l = |x: usize, y: usize| nv12[y * w + x] as f64;
    let v: Vec<f64> = (r[1] + 1..r[3] - 1)
        .flat_map(|y| (r[0] + 1..r[2] - 1).map(move |x| (x, y)))
        .map(|(x, y)| 4.0 * l(x, y) - l(x - 1, y) - l(x + 1, y) - l(x, y - 1) - l(x, y + 1))
        .collect();
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
}

#[test]
fn organ_masks_blur_eyes_and_mouth_only_and_weaken_with_the_level() {
    use costream::gpu::{Compositor, Gpu, GpuOptions, MaskSpec, Scene, TileSpec};
    use costream::media::geometry::{place, Fit, Rect, SourceGeom};
    let img = astronaut();
    let (w, h) = (img.width(), img.height());
    let pts = landmarks(&img);
    let polygons: Vec<Vec<[f32; 2]>> = [Organ::Eyes, Organ::Mouth].iter().flat_map(|o| o.polygons(&pts)).collect();
    let yuv = yuv420(&img);
    let pic = yuv.picture();
    let gpu = Arc::new(Gpu::open().unwrap());
    let mut comp = Compositor::new(gpu, w, h, GpuOptions::default()).unwrap();
    comp.upload(0, &pic).unwrap();
    let tile = TileSpec {
        slot: 0,
        placement: place(
            SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 },
            Rect::new(0.0, 0.0, w as f32, h as f32),
            Fit::Fill,
        ),
    };
    // Level L of 10: sigma drops 10 % per level, gone at the top.
    let at_level = |comp: &mut Compositor, level: u32| {
        let sigma = 8.0 * (1.0 - level as f32 / 10.0);
        let masks =
            vec![MaskSpec { polygons: polygons.clone(), feather: 3.0, dilate: 2.0, sigma, sticker: None, clip: None }];
        render_one(comp, &Scene { tiles: vec![tile], masks, ..Scene::default() })
    };
    let plain = at_level(&mut comp, 10);
    let l0 = at_level(&mut comp, 0);
    let l8 = at_level(&mut comp, 8);
    let top = at_level(&mut comp, 10);
    assert!(top == plain, "the top level is the unmasked frame");
    let wu = w as usize;
    for (name, poly) in [("right eye", &polygons[0]), ("left eye", &polygons[1]), ("mouth", &polygons[2])] {
        let b = poly.iter().fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
            [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
        });
        // The middle of the organ (its outline is feathered).
        let (cx, cy, hw, hh) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, (b[2] - b[0]) / 3.0, (b[3] - b[1]) / 3.0);
        let r = [(cx - hw) as usize, (cy - hh).floor() as usize, (cx + hw) as usize, (cy + hh).ceil() as usize + 2];
        let (s_plain, s0) = (sharpness(&plain, wu, r), sharpness(&l0, wu, r));
        // How far a level's pixels are from the unmasked ones over the whole organ.
        let full = [b[0] as usize, b[1] as usize, b[2].ceil() as usize, b[3].ceil() as usize];
        let dist = |f: &[u8]| {
            (full[1]..full[3])
                .flat_map(|y| (full[0]..full[2]).map(move |x| y * wu + x))
                .map(|i| (f[i] as f64 - plain[i] as f64).abs())
                .sum::<f64>()
        };
        let (d0, d8) = (dist(&l0), dist(&l8));
        println!("{name}: sharpness {s_plain:.1} unmasked, {s0:.1} at level 0; distance from unmasked {d0:.0} at level 0, {d8:.0} at level 8");
        assert!(s0 <= 0.2 * s_plain, "{name}: level 0 keeps {:.0} % of the sharpness", 100.0 * s0 / s_plain);
        assert!(d8 < 0.8 * d0, "{name}: level 8 is measurably closer to the unmasked picture than level 0");
    }
    // Outside the organs' bounds (plus the soft edge) nothing changed, byte for byte.
    let bounds =
        MaskSpec { polygons: polygons.clone(), feather: 3.0, dilate: 2.0, sigma: 8.0, sticker: None, clip: None }
            .bounds()
            .unwrap();
    let mut changed_outside = 0;
    for yy in 0..h as usize {
        for xx in 0..wu {
            let inside = (xx as f32) >= bounds[0] - 4.0
                && (xx as f32) <= bounds[2] + 4.0
                && (yy as f32) >= bounds[1] - 2.0
                && (yy as f32) <= bounds[3] + 2.0;
            if !inside && l0[yy * wu + xx] != plain[yy * wu + xx] {
                changed_outside += 1;
            }
        }
    }
    assert_eq!(changed_outside, 0, "luma changed outside the masked organs");
}

#[test]
fn renditions_share_one_composition_and_differ_only_under_their_masks() {
    use costream::gpu::{Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, MaskSpec, Scene, TileSpec};
    use costream::media::geometry::{place, Fit, Rect, SourceGeom};
    let img = astronaut();
    let (w, h) = (img.width(), img.height());
    let pts = landmarks(&img);
    let yuv = yuv420(&img);
    let pic = yuv.picture();
    let mut comp = Compositor::with_views(Arc::new(Gpu::open().unwrap()), w, h, GpuOptions::default(), 3).unwrap();
    comp.upload(0, &pic).unwrap();
    let tile = TileSpec {
        slot: 0,
        placement: place(
            SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 },
            Rect::new(0.0, 0.0, w as f32, h as f32),
            Fit::Fill,
        ),
    };
    let bar =
        LayerSpec { rect: Rect::new(20.0, 460.0, 472.0, 24.0), color: [1.0, 0.0, 0.0, 0.8], kind: LayerKind::Solid };
    let mask = |organs: &[Organ], sigma: f32| {
        vec![MaskSpec {
            polygons: organs.iter().flat_map(|o| o.polygons(&pts)).collect(),
            feather: 3.0,
            dilate: 0.0,
            sigma,
            sticker: None,
            clip: None,
        }]
    };
    let scenes = [
        Scene { tiles: vec![tile], layers: vec![bar], ..Scene::default() },
        Scene { copy_of: Some(0), masks: mask(&[Organ::Eyes, Organ::Mouth], 8.0), ..Scene::default() },
        Scene { copy_of: Some(0), masks: mask(&[Organ::Mouth], 4.0), ..Scene::default() },
    ];
    let mut out = vec![Vec::new(); 3];
    for round in 0..2 {
        // The second round runs with the base view's dirty-region reuse.
        comp.render_views(&scenes, round, &mut |r| {
            out[r.view] = r.nv12.to_vec();
            Ok(())
        })
        .unwrap();
        comp.flush(&mut |r| {
            out[r.view] = r.nv12.to_vec();
            Ok(())
        })
        .unwrap();
        let wu = w as usize;
        let differs = |a: &[u8], b: &[u8], poly: &[[f32; 2]]| {
            let c =
                poly.iter().fold([0.0, 0.0], |c, p| [c[0] + p[0] / poly.len() as f32, c[1] + p[1] / poly.len() as f32]);
            (c[1] as usize - 2..c[1] as usize + 2)
                .flat_map(|yy| (c[0] as usize - 4..c[0] as usize + 4).map(move |xx| yy * wu + xx))
                .any(|i| a[i] != b[i])
        };
        let eye = &Organ::Eyes.polygons(&pts)[0];
        let mouth = &Organ::Mouth.polygons(&pts)[0];
        assert!(
            differs(&out[0], &out[1], eye) && differs(&out[0], &out[1], mouth),
            "round {round}: rendition 1 masks eyes and mouth"
        );
        assert!(
            !differs(&out[0], &out[2], eye) && differs(&out[0], &out[2], mouth),
            "round {round}: rendition 2 masks only the mouth"
        );
        // The layer drawn on the base is in every rendition; away from the face they are identical.
        assert_eq!(out[0][470 * wu..480 * wu], out[1][470 * wu..480 * wu], "round {round}");
        assert_eq!(out[0][470 * wu..480 * wu], out[2][470 * wu..480 * wu], "round {round}");
        assert_ne!(out[0][470 * wu + 100], yuv.y[470 * wu + 100], "the bar is drawn");
    }
}

#[test]
fn a_render_job_tracks_the_face_and_masks_only_the_locked_rendition() {
    use costream::compose::{self, FaceSettings, Fps, MaskLevel, RenderConfig, ViewSpec};
    use costream::encode::{EncoderKind, VideoSettings};
    use costream::face::Organ;
    use costream::gpu::GpuOptions;
    use costream::ingest::InputOptions;
    use costream::media::geometry::{Fit, Layout};
    let d = workdir("facerender");
    let clip = moving_clip(&d, "", 30);
    let (open, locked) = (d.join("open.mkv"), d.join("locked.mkv"));
    let size = (384, 384);
    let cfg = RenderConfig {
        inputs: vec![clip.to_str().unwrap().into()],
        layout: Layout::SideBySide,
        fits: vec![Fit::Fill],
        size,
        fps: Fps { num: 30, den: 1 },
        outputs: vec![],
        public_outputs_only: false,
        overlays: Default::default(),
        video: VideoSettings {
            encoder: EncoderKind::X264,
            width: size.0,
            height: size.1,
            fps: (30, 1),
            bitrate_kbps: 20_000,
            preset: "veryfast".into(),
            gop: 30,
            threads: 0,
        },
        audio_kbps: 128,
        gpu: GpuOptions::default(),
        input: InputOptions::default(),
        background_nice: 0,
        max_seconds: None,
        realtime: false,
        hooks: None,
        views: vec![
            ViewSpec { name: "open".into(), outputs: vec![open.to_str().unwrap().into()], ..Default::default() },
            ViewSpec {
                name: "locked".into(),
                outputs: vec![locked.to_str().unwrap().into()],
                copy_of: Some(0),
                mask: Some(MaskLevel {
                    organs: vec![Organ::Eyes, Organ::Mouth],
                    sigma: 8.0,
                    feather: 3.0,
                    style: Default::default(),
                }),
                ..Default::default()
            },
        ],
        audio_of: vec![],
        faces: Some(FaceSettings::default()),
    };
    let report = compose::run(&cfg).unwrap();
    assert_eq!(report.frames, 30);
    let tracking_ms = report.stages_ms.faces.expect("face tracking timed");
    println!("face tracking {tracking_ms:.1} ms per frame");
    // Each frame of the locked rendition: the tracked eyes are blurred, the rest is the open picture.
    let (fo, fl) = (frames(&open, 384, 384), frames(&locked, 384, 384));
    assert_eq!((fo.len(), fl.len()), (30, 30));
    let mut tr = Tracker::new(models(), TrackerConfig { detect_every: 1, ..TrackerConfig::default() });
    for (n, (o, l)) in fo.iter().zip(&fl).enumerate() {
        let faces = tr.update(o, n as f64 / 30.0).unwrap();
        assert_eq!(faces.len(), 1, "frame {n}: the open rendition shows the face");
        let eye = &Organ::Eyes.polygons(&faces[0].landmarks)[0];
        let c = eye.iter().fold([0.0f32, 0.0], |c, p| [c[0] + p[0] / eye.len() as f32, c[1] + p[1] / eye.len() as f32]);
        let lap = |img: &image::RgbImage| {
            let g = |x: i32, y: i32| img.get_pixel((c[0] as i32 + x) as u32, (c[1] as i32 + y) as u32)[1] as f64;
            let v: Vec<f64> = (-3..=3)
                .flat_map(|y| (-6..=6).map(move |x| (x, y)))
                .map(|(x, y)| 4.0 * g(x, y) - g(x - 1, y) - g(x + 1, y) - g(x, y - 1) - g(x, y + 1))
                .collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
        };
        let (so, sl) = (lap(o), lap(l));
        assert!(
            sl <= 0.2 * so,
            "frame {n}: the locked eye keeps {:.0} % of its sharpness ({sl:.1} of {so:.1})",
            100.0 * sl / so
        );
        // Far from the face (the lower part of the frame): the same picture.
        let diff: f64 = (330..380)
            .flat_map(|y| (0..384).map(move |x| (x, y)))
            .map(|(x, y)| (o.get_pixel(x, y)[1] as f64 - l.get_pixel(x, y)[1] as f64).abs())
            .sum::<f64>()
            / (50.0 * 384.0);
        assert!(diff < 2.0, "frame {n}: away from the face the renditions differ by {diff:.2} on average");
    }
}

#[test]
fn a_sticker_covers_each_eye_and_nothing_else() {
    use costream::gpu::{Compositor, Gpu, GpuOptions, MaskSpec, Scene, Sticker, TileSpec};
    use costream::media::geometry::{place, Fit, Rect, SourceGeom};
    let img = astronaut();
    let (w, h) = (img.width(), img.height());
    let pts = landmarks(&img);
    let yuv = yuv420(&img);
    let pic = yuv.picture();
    let mut comp = Compositor::new(Arc::new(Gpu::open().unwrap()), w, h, GpuOptions::default()).unwrap();
    let sticker = image::load_from_memory(include_bytes!("../assets/stickers/blush.png")).unwrap().to_rgba8();
    comp.set_images(&[sticker]).unwrap();
    comp.upload(0, &pic).unwrap();
    let tile = TileSpec {
        slot: 0,
        placement: place(
            SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 },
            Rect::new(0.0, 0.0, w as f32, h as f32),
            Fit::Fill,
        ),
    };
    let eyes = Organ::Eyes.polygons(&pts);
    let (r, l) = (pts[33], pts[263]);
    let mask = MaskSpec {
        polygons: eyes.clone(),
        feather: 2.0,
        dilate: 2.0,
        sigma: 0.0,
        sticker: Some(Sticker { image: 0, angle: (l[1] - r[1]).atan2(l[0] - r[0]), scale: 1.15 }),
        clip: None,
    };
    let render = |comp: &mut Compositor, masks: Vec<MaskSpec>| {
        render_one(comp, &Scene { tiles: vec![tile], masks, ..Scene::default() })
    };
    let plain = render(&mut comp, vec![]);
    let stuck = render(&mut comp, vec![mask.clone()]);
    let wu = w as usize;
    let chroma_v = |f: &[u8], x: usize, y: usize| f[wu * h as usize + (y / 2) * wu + (x / 2) * 2 + 1];
    for eye in &eyes {
        let c = eye.iter().fold([0.0f32, 0.0], |c, p| [c[0] + p[0] / eye.len() as f32, c[1] + p[1] / eye.len() as f32]);
        let (x, yy) = (c[0] as usize, c[1] as usize);
        // The sticker is pink (high V), where the eye was not.
        assert!(
            chroma_v(&stuck, x, yy) > 160 && chroma_v(&plain, x, yy) < 150,
            "eye at {c:?}: V {} (was {})",
            chroma_v(&stuck, x, yy),
            chroma_v(&plain, x, yy)
        );
    }
    // Away from the eyes (the mouth, the lower half of the picture) nothing changed.
    let mouth = centre(&Organ::Mouth.polygons(&pts)[0]);
    let (mx, my) = (mouth[0] as usize, mouth[1] as usize);
    assert_eq!(stuck[my * wu + mx], plain[my * wu + mx]);
    assert_eq!(stuck[300 * wu..512 * wu], plain[300 * wu..512 * wu]);
}

/// A PK whose anchor's face crosses the split, in both mirrored views: each mask is clipped to
/// the tile of its face, so the other anchor's pixels stay byte for byte those of the unmasked
/// view; without the clip the blur would spill onto them.
#[test]
fn a_face_at_a_pk_split_is_masked_on_its_own_side_only() {
    use costream::gpu::{Compositor, Gpu, GpuOptions, MaskSpec, Scene, TileSpec};
    use costream::media::geometry::{place, Fit, Rect, SourceGeom};
    let img = astronaut();
    let (w, h) = (img.width(), img.height());
    let pts = landmarks(&img);
    let yuv = yuv420(&img);
    let pic = yuv.picture();
    let (wf, hf) = (w as f32, h as f32);
    let mut comp = Compositor::with_views(Arc::new(Gpu::open().unwrap()), 2 * w, h, GpuOptions::default(), 3).unwrap();
    comp.upload(0, &pic).unwrap();
    comp.upload(1, &pic).unwrap();
    let geom = SourceGeom { width: w, height: h, rotation: 0, sar: 1.0 };
    // The face's anchor (slot 0) is shown in cell `cell`, its picture shifted so that the middle
    // of its organs lies on the split; the other anchor fills its cell.
    let xs: Vec<f32> = Organ::ALL.iter().flat_map(|o| o.polygons(&pts)).flatten().map(|p| p[0]).collect();
    let middle = (xs.iter().copied().fold(f32::MAX, f32::min) + xs.iter().copied().fold(f32::MIN, f32::max)) / 2.0;
    let at = wf - middle;
    for face_left in [true, false] {
        let cell = if face_left { Rect::new(0.0, 0.0, wf, hf) } else { Rect::new(wf, 0.0, wf, hf) };
        let other = if face_left { Rect::new(wf, 0.0, wf, hf) } else { Rect::new(0.0, 0.0, wf, hf) };
        let mut face = place(geom, Rect::new(at, 0.0, wf, hf), Fit::Fill);
        let (x0, x1) = (face.dst.x.max(cell.x), face.dst.x1().min(cell.x1()));
        face.dst = Rect::new(x0, 0.0, x1 - x0, hf);
        let tiles =
            vec![TileSpec { slot: 0, placement: face }, TileSpec { slot: 1, placement: place(geom, other, Fit::Fill) }];
        let shifted: Vec<[f32; 2]> = pts.iter().map(|p| [p[0] + at, p[1]]).collect();
        let mask = |clip: Option<[f32; 4]>| MaskSpec {
            polygons: [Organ::Eyes, Organ::Nose, Organ::Mouth].iter().flat_map(|o| o.polygons(&shifted)).collect(),
            feather: 3.0,
            dilate: 3.0,
            sigma: 10.0,
            sticker: None,
            clip,
        };
        let clip = [(x0 / 2.0).ceil() * 2.0, 0.0, (x1 / 2.0).floor() * 2.0, hf];
        let scenes = [
            Scene { tiles, ..Scene::default() },
            Scene { copy_of: Some(0), masks: vec![mask(Some(clip))], ..Scene::default() },
            Scene { copy_of: Some(0), masks: vec![mask(None)], ..Scene::default() },
        ];
        let mut out = vec![Vec::new(); 3];
        let mut keep = |r: costream::gpu::Ready<'_>| {
            out[r.view] = r.nv12.to_vec();
            Ok(())
        };
        comp.render_views(&scenes, 0, &mut keep).unwrap();
        comp.flush(&mut keep).unwrap();
        // The other anchor's luma and chroma (interleaved, one pair per 2×2 pixels).
        let stride = 2 * w as usize;
        let (ox0, ox1) = (other.x as usize, other.x1() as usize);
        let region = |f: &[u8]| -> Vec<u8> {
            let luma = (0..h as usize).flat_map(|yy| f[yy * stride + ox0..yy * stride + ox1].to_vec());
            let chroma = (0..h as usize / 2).flat_map(|cy| {
                let row = stride * h as usize + cy * stride;
                f[row + ox0..row + ox1].to_vec()
            });
            luma.chain(chroma).collect()
        };
        let side = if face_left { "left" } else { "right" };
        assert!(region(&out[0]) == region(&out[1]), "face on the {side}: the other anchor's pixels are untouched");
        assert!(region(&out[0]) != region(&out[2]), "face on the {side}: unclipped, the blur would reach them");
        let own = Organ::Eyes.polygons(&shifted).into_iter().find(|e| (centre(e)[0] < wf) == face_left).unwrap();
        let eye = |f: &[u8]| -> Vec<u8> {
            let c = centre(&own);
            let (cx, cy) = (c[0] as usize, c[1] as usize);
            (cy - 2..cy + 2).flat_map(|yy| f[yy * stride + cx - 4..yy * stride + cx + 4].to_vec()).collect()
        };
        assert!(eye(&out[0]) != eye(&out[1]), "face on the {side}: its own side is masked");
    }
}
