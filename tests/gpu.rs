//! The GPU stage alone, on the real wgpu device (lavapipe without a GPU): colour accuracy against a
//! CPU reference, blur confinement, layers and the readback ring. NV12 is compared before any encode.

use std::sync::{Arc, OnceLock};

use costream::gpu::{BarSpec, BlurSpec, Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, MaskSpec, Scene, TileSpec};
use costream::media::colour::{rgb_to_bt709_limited, yuv_to_rgb};
use costream::media::geometry::{place, Fit, Placement, Rect, SourceGeom};
use costream::media::{Matrix, Picture, PlaneLayout};

fn gpu() -> Arc<Gpu> {
    static GPU: OnceLock<Arc<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| Arc::new(Gpu::open().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)")))
        .clone()
}

/// The software device (lavapipe) even where a GPU exists: the CPU drawing that the comparisons
/// below check is done only for a software device.
fn software() -> Arc<Gpu> {
    static GPU: OnceLock<Arc<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| Arc::new(Gpu::open_software().expect("lavapipe (install mesa-vulkan-drivers)"))).clone()
}

/// A YUV 4:2:0 picture owned by the test.
struct Yuv {
    w: usize,
    h: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    matrix: Matrix,
    full: bool,
}

impl Yuv {
    /// Smooth colour gradients in every plane (a realistic picture, no clipping at the gamut edge).
    fn gradient(w: usize, h: usize, matrix: Matrix, full: bool) -> Yuv {
        let (lo, hi) = if full { (10.0, 245.0) } else { (30.0, 220.0) };
        let y = (0..w * h)
            .map(|i| (lo + (hi - lo) * ((i % w) as f32 / w as f32 * 0.7 + (i / w) as f32 / h as f32 * 0.3)) as u8)
            .collect();
        let (cw, ch) = (w / 2, h / 2);
        let u = (0..cw * ch).map(|i| (100.0 + 50.0 * ((i / cw) as f32 / ch as f32)) as u8).collect();
        let v = (0..cw * ch).map(|i| (150.0 - 40.0 * ((i % cw) as f32 / cw as f32)) as u8).collect();
        Yuv { w, h, y, u, v, matrix, full }
    }

    fn picture(&self) -> Picture<'_> {
        Picture {
            layout: PlaneLayout::Planar { sx: 2, sy: 2 },
            width: self.w as u32,
            height: self.h as u32,
            planes: [&self.y, &self.u, &self.v],
            strides: [self.w, self.w / 2, self.w / 2],
            matrix: self.matrix,
            full_range: self.full,
        }
    }

    /// Bilinear sample of a plane at continuous position (texel centres at +0.5), clamped.
    fn sample(plane: &[u8], pw: usize, ph: usize, x: f32, y: f32) -> f32 {
        let x = (x - 0.5).clamp(0.0, pw as f32 - 1.0);
        let y = (y - 0.5).clamp(0.0, ph as f32 - 1.0);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(pw - 1), (y0 + 1).min(ph - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |xx: usize, yy: usize| plane[yy * pw + xx] as f32;
        let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
        let bot = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
        top * (1.0 - fy) + bot * fy
    }
}

/// CPU reference of the whole conversion: each output pixel maps to a source position, the source
/// YUV there is converted with the source's own matrix/range to RGB and then to BT.709 limited NV12.
fn reference_nv12(src: &Yuv, p: &Placement, w: usize, h: usize) -> Vec<u8> {
    let mut yuv = vec![[0f32; 3]; w * h];
    for oy in 0..h {
        for ox in 0..w {
            let s = p.map(glam::Vec2::new(ox as f32 + 0.5, oy as f32 + 0.5));
            let y = Yuv::sample(&src.y, src.w, src.h, s.x, s.y);
            let u = Yuv::sample(&src.u, src.w / 2, src.h / 2, s.x * 0.5, s.y * 0.5);
            let v = Yuv::sample(&src.v, src.w / 2, src.h / 2, s.x * 0.5, s.y * 0.5);
            let rgb = yuv_to_rgb(src.matrix, src.full, [y.round() as u8, u.round() as u8, v.round() as u8]);
            yuv[oy * w + ox] = rgb_to_bt709_limited(rgb);
        }
    }
    let mut out = vec![0u8; w * h * 3 / 2];
    for i in 0..w * h {
        out[i] = yuv[i][0].round().clamp(0.0, 255.0) as u8;
    }
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let mut acc = [0f32; 2];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = yuv[(cy * 2 + dy) * w + cx * 2 + dx];
                acc[0] += p[1] / 4.0;
                acc[1] += p[2] / 4.0;
            }
            out[w * h + cy * w + cx * 2] = acc[0].round().clamp(0.0, 255.0) as u8;
            out[w * h + cy * w + cx * 2 + 1] = acc[1].round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Renders one frame and returns its NV12 bytes.
fn render(comp: &mut Compositor, scene: &Scene) -> Vec<u8> {
    let mut got = Vec::new();
    comp.render(scene, 1, &mut |r| {
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

fn one_tile_scene(src: &Yuv, cell: Rect, fit: Fit) -> (Scene, Placement) {
    let g = SourceGeom { width: src.w as u32, height: src.h as u32, rotation: 0, sar: 1.0 };
    let p = place(g, cell, fit);
    (
        Scene {
            background: [0.0; 3],
            under: vec![],
            tiles: vec![TileSpec { slot: 0, placement: p }],
            layers: vec![],
            blurs: vec![],
            masks: vec![],
            copy_of: None,
            skip: false,
        },
        p,
    )
}

#[test]
fn colours_survive_bt601_bt709_and_full_range_at_1_to_1_and_scaled() {
    let (w, h) = (320usize, 180usize);
    for (matrix, full) in [(Matrix::Bt709, false), (Matrix::Bt601, false), (Matrix::Bt601, true)] {
        for scale in [1usize, 2] {
            let src = Yuv::gradient(w / scale, h / scale, matrix, full);
            let mut comp = Compositor::new(gpu(), w as u32, h as u32, GpuOptions::default()).unwrap();
            comp.upload(0, &src.picture()).unwrap();
            let (scene, p) = one_tile_scene(&src, Rect::new(0.0, 0.0, w as f32, h as f32), Fit::Fill);
            let got = render(&mut comp, &scene);
            let want = reference_nv12(&src, &p, w, h);
            let (ys, cs) = (psnr(&got[..w * h], &want[..w * h]), psnr(&got[w * h..], &want[w * h..]));
            eprintln!("{matrix:?} full={full} scale={scale}: luma {ys:.1} dB, chroma {cs:.1} dB");
            assert!(
                ys >= 40.0 && cs >= 40.0,
                "{matrix:?} full={full} scale={scale}: luma {ys:.1} dB, chroma {cs:.1} dB"
            );
        }
    }
}

fn luma_of(nv12: &[u8], w: usize, x: usize, y: usize) -> u8 {
    nv12[y * w + x]
}

/// Variance of the Laplacian of the luma inside a rect: a sharpness measure.
fn sharpness(nv12: &[u8], w: usize, r: (usize, usize, usize, usize)) -> f64 {
    let (x0, y0, x1, y1) = r;
    let mut v = Vec::new();
    for y in y0 + 1..y1 - 1 {
        for x in x0 + 1..x1 - 1 {
            let c = luma_of(nv12, w, x, y) as f64 * 4.0;
            let n = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                .iter()
                .map(|&(a, b)| luma_of(nv12, w, a, b) as f64)
                .sum::<f64>();
            v.push(c - n);
        }
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
}

fn checkerboard(w: usize, h: usize) -> Yuv {
    let y = (0..w * h).map(|i| if ((i % w) / 4 + (i / w) / 4) % 2 == 0 { 40 } else { 200 }).collect();
    Yuv { w, h, y, u: vec![128; w * h / 4], v: vec![128; w * h / 4], matrix: Matrix::Bt709, full: false }
}

#[test]
fn blur_rectangle_is_blurred_and_nothing_outside_it_changes() {
    // The kernels on whatever device there is, and the CPU's drawing where that device is software.
    for cpu_draw in [false, true] {
        blur_is_confined(GpuOptions { cpu_draw, ..GpuOptions::default() });
    }
}

fn blur_is_confined(opts: GpuOptions) {
    let (w, h) = (640usize, 360usize);
    let src = checkerboard(w, h);
    let mut comp = Compositor::new(gpu(), w as u32, h as u32, opts).unwrap();
    comp.upload(0, &src.picture()).unwrap();
    let (mut scene, _) = one_tile_scene(&src, Rect::new(0.0, 0.0, w as f32, h as f32), Fit::Fill);
    let plain = render(&mut comp, &scene);
    // An odd-sized rectangle at odd coordinates: partial blocks on every edge.
    let r = (101usize, 51usize, 301usize, 203usize);
    for sigma in [3.0f32, 12.0] {
        scene.blurs =
            vec![BlurSpec { rect: Rect::new(r.0 as f32, r.1 as f32, (r.2 - r.0) as f32, (r.3 - r.1) as f32), sigma }];
        let blurred = render(&mut comp, &scene);
        for y in 0..h {
            for x in 0..w {
                let inside = x >= r.0 && x < r.2 && y >= r.1 && y < r.3;
                if !inside {
                    assert_eq!(
                        luma_of(&blurred, w, x, y),
                        luma_of(&plain, w, x, y),
                        "sigma {sigma}: pixel ({x},{y}) outside the blur changed"
                    );
                }
            }
        }
        let (before, after) = (sharpness(&plain, w, r), sharpness(&blurred, w, r));
        assert!(after < before * 0.2, "sigma {sigma}: sharpness {before:.0} -> {after:.0}, not blurred enough");
        // The mean brightness is kept (a blur, not a fill).
        let mean = |b: &[u8]| {
            (r.1..r.3)
                .flat_map(|y| (r.0..r.2).map(move |x| (x, y)))
                .map(|(x, y)| luma_of(b, w, x, y) as f64)
                .sum::<f64>()
                / ((r.2 - r.0) * (r.3 - r.1)) as f64
        };
        assert!(
            (mean(&plain) - mean(&blurred)).abs() < 6.0,
            "sigma {sigma}: mean {} -> {}",
            mean(&plain),
            mean(&blurred)
        );
    }
}

#[test]
fn solid_and_image_layers_blend_over_the_video() {
    let (w, h) = (320usize, 180usize);
    let grey = Yuv {
        w,
        h,
        y: vec![126; w * h],
        u: vec![128; w * h / 4],
        v: vec![128; w * h / 4],
        matrix: Matrix::Bt709,
        full: false,
    };
    let mut comp = Compositor::new(gpu(), w as u32, h as u32, GpuOptions::default()).unwrap();
    comp.upload(0, &grey.picture()).unwrap();
    // A 2x1 image: opaque red left, fully transparent right.
    let img = image::RgbaImage::from_raw(2, 1, vec![255, 0, 0, 255, 0, 255, 0, 0]).unwrap();
    comp.set_images(&[img]).unwrap();
    let (mut scene, _) = one_tile_scene(&grey, Rect::new(0.0, 0.0, w as f32, h as f32), Fit::Fill);
    scene.layers = vec![
        LayerSpec { rect: Rect::new(10.0, 10.0, 100.0, 20.0), color: [0.0, 0.0, 1.0, 1.0], kind: LayerKind::Solid },
        LayerSpec { rect: Rect::new(10.0, 50.0, 100.0, 20.0), color: [1.0, 1.0, 1.0, 0.5], kind: LayerKind::Solid },
        LayerSpec { rect: Rect::new(200.0, 100.0, 100.0, 40.0), color: [1.0; 4], kind: LayerKind::Image(0) },
    ];
    let out = render(&mut comp, &scene);
    let blue = rgb_to_bt709_limited([0.0, 0.0, 1.0]);
    let y = |x: usize, yy: usize| out[yy * w + x] as f32;
    assert!((y(50, 20) - blue[0]).abs() <= 1.0, "opaque blue bar luma {}", y(50, 20));
    // 50 % white over grey 126: halfway to 235.
    assert!((y(50, 60) - (126.0 + 235.0) / 2.0).abs() <= 1.5, "half-transparent white {}", y(50, 60));
    let red = rgb_to_bt709_limited([1.0, 0.0, 0.0]);
    assert!((y(210, 120) - red[0]).abs() <= 3.0, "image red half {}", y(210, 120));
    assert!((y(290, 120) - 126.0).abs() <= 3.0, "image transparent half {}", y(290, 120));
    assert_eq!(y(150, 150), 126.0, "untouched background video");
    // The bar's chroma is blue's chroma.
    let cu = out[w * h + (20 / 2) * w + (50 / 2) * 2] as f32;
    assert!((cu - blue[1]).abs() <= 1.5, "blue bar U {cu} want {}", blue[1]);
}

#[test]
fn readback_ring_returns_every_frame_in_order() {
    let (w, h) = (64usize, 32usize);
    let mut comp =
        Compositor::new(gpu(), w as u32, h as u32, GpuOptions { readback_depth: 3, ..Default::default() }).unwrap();
    let mut tags = Vec::new();
    for n in 0..10u64 {
        // Each frame a different grey, so a stale buffer would show.
        let g = Yuv {
            w,
            h,
            y: vec![20 + n as u8 * 10; w * h],
            u: vec![128; w * h / 4],
            v: vec![128; w * h / 4],
            matrix: Matrix::Bt709,
            full: false,
        };
        comp.upload(0, &g.picture()).unwrap();
        let (scene, _) = one_tile_scene(&g, Rect::new(0.0, 0.0, w as f32, h as f32), Fit::Fill);
        comp.render(&scene, n, &mut |r| {
            tags.push((r.tag, r.nv12[0]));
            Ok(())
        })
        .unwrap();
    }
    comp.flush(&mut |r| {
        tags.push((r.tag, r.nv12[0]));
        Ok(())
    })
    .unwrap();
    let want: Vec<(u64, u8)> = (0..10).map(|n| (n, 20 + n as u8 * 10)).collect();
    assert_eq!(tags, want);
}

#[test]
fn uncovered_areas_are_black_and_edge_blocks_compose_per_pixel() {
    // A fit tile whose edges fall inside 4x2 blocks: blocks there mix picture and black bar.
    let (w, h) = (320usize, 180usize);
    let src = Yuv {
        w: 90,
        h: 160,
        y: vec![180; 90 * 160],
        u: vec![90; 45 * 80],
        v: vec![200; 45 * 80],
        matrix: Matrix::Bt709,
        full: false,
    };
    let mut comp = Compositor::new(gpu(), w as u32, h as u32, GpuOptions::default()).unwrap();
    comp.upload(0, &src.picture()).unwrap();
    let (scene, p) = one_tile_scene(&src, Rect::new(0.0, 0.0, w as f32, h as f32), Fit::Fit);
    let out = render(&mut comp, &scene);
    let (x0, x1) = (p.dst.x as usize, p.dst.x1() as usize);
    assert!(x0 % 4 != 0 || x1 % 4 != 0, "the test needs unaligned edges, got {x0}..{x1}");
    for x in 0..w {
        let want = if x >= x0 && x < x1 { 180 } else { 16 };
        assert_eq!(out[90 * w + x], want, "column {x} (picture {x0}..{x1})");
    }
}

/// A picture whose content depends on `seed` everywhere (a moving video frame).
fn moving(w: usize, h: usize, seed: usize) -> Yuv {
    let mut p = Yuv::gradient(w, h, Matrix::Bt709, false);
    for (i, v) in p.y.iter_mut().enumerate() {
        *v = v.wrapping_add((((i % w) + (i / w) * 3 + seed * 7) % 23) as u8);
    }
    p
}

fn rgba_image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> image::RgbaImage {
    image::RgbaImage::from_fn(w, h, |x, y| image::Rgba(f(x, y)))
}

/// Renders one frame of every view; returns each view's NV12.
fn render_views(comp: &mut Compositor, scenes: &[Scene], tag: u64) -> Vec<Vec<u8>> {
    let mut got = vec![Vec::new(); scenes.len()];
    comp.render_views(scenes, tag, &mut |r| {
        got[r.view] = r.nv12.to_vec();
        Ok(())
    })
    .unwrap();
    comp.flush(&mut |r| {
        got[r.view] = r.nv12.to_vec();
        Ok(())
    })
    .unwrap();
    got
}

/// A PK-room scene: a full-frame background image beneath two video tiles (one with an odd offset,
/// so edge blocks are involved), avatars, decorative frames over the tile edges, a bar, a text image
/// and a blur over part of a tile.
fn decorated_scene(split: f32, avatar_x: f32) -> Scene {
    let tile = |slot: usize, x: f32| TileSpec {
        slot,
        placement: place(
            SourceGeom { width: 200, height: 240, rotation: 0, sar: 1.0 },
            Rect::new(x, 40.0, 200.0, 240.0),
            Fit::Fit,
        ),
    };
    let frame = |x: f32| LayerSpec {
        rect: Rect::new(x - 3.0, 37.0, 206.0, 246.0),
        color: [1.0, 0.8, 0.2, 0.6],
        kind: LayerKind::Solid,
    };
    Scene {
        background: [0.1, 0.1, 0.1],
        under: vec![LayerSpec { rect: Rect::new(0.0, 0.0, 640.0, 360.0), color: [1.0; 4], kind: LayerKind::Image(0) }],
        tiles: vec![tile(0, 20.0), tile(1, 331.0)],
        layers: vec![
            frame(20.0),
            frame(331.0),
            LayerSpec { rect: Rect::new(avatar_x, 290.0, 48.0, 48.0), color: [1.0; 4], kind: LayerKind::Image(1) },
            LayerSpec { rect: Rect::new(560.0, 290.0, 48.0, 48.0), color: [1.0; 4], kind: LayerKind::Image(1) },
            LayerSpec {
                rect: Rect::new(40.0, 300.0, 480.0, 20.0),
                color: [1.0, 0.2, 0.3, 1.0],
                kind: LayerKind::Bar(BarSpec {
                    left_inner: [1.0, 0.5, 0.6, 1.0],
                    right_inner: [0.3, 0.8, 1.0, 1.0],
                    right_outer: [0.0, 0.5, 1.0, 1.0],
                    split,
                    divider: 2.0,
                    radius: 10.0,
                }),
            },
            LayerSpec { rect: Rect::new(200.0, 10.0, 240.0, 24.0), color: [1.0; 4], kind: LayerKind::Image(2) },
        ],
        blurs: vec![BlurSpec { rect: Rect::new(60.0, 80.0, 80.0, 60.0), sigma: 6.0 }],
        masks: vec![],
        copy_of: None,
        skip: false,
    }
}

#[test]
fn dirty_region_reuse_gives_the_same_frames_as_full_redraws() {
    let (w, h) = (640usize, 360usize);
    let bg = rgba_image(640, 360, |x, y| [(x / 3) as u8, (y / 2) as u8, 120, 255]);
    let avatar = rgba_image(48, 48, |x, y| {
        if (x as i32 - 24).pow(2) + (y as i32 - 24).pow(2) < 400 {
            [250, 220, 200, 255]
        } else {
            [0, 0, 0, 0]
        }
    });
    let text = |s: &str| {
        costream::compose::TextRenderer::new().render(
            s,
            240,
            24,
            &costream::compose::TextStyle { size: 20.0, ..Default::default() },
        )
    };
    let mut comps: Vec<Compositor> = [true, false]
        .iter()
        .map(|&reuse| {
            let mut c = Compositor::new(
                gpu(),
                w as u32,
                h as u32,
                GpuOptions { dirty_reuse: reuse, readback_depth: 2, ..Default::default() },
            )
            .unwrap();
            c.set_images(&[bg.clone(), avatar.clone(), text("主播 A 100")]).unwrap();
            c
        })
        .collect();
    let b = moving(200, 240, 99);
    let mut fractions = Vec::new();
    // Frames: the first tile moves every frame, the second only sometimes; the bar animates, an
    // avatar moves once and the text changes once.
    for f in 0..8usize {
        let a = moving(200, 240, f);
        let split = if f < 3 { 0.5 } else { 0.5 + 0.05 * (f - 2).min(3) as f32 };
        let scene = decorated_scene(split, if f == 5 { 120.0 } else { 100.0 });
        let mut outs = Vec::new();
        for c in comps.iter_mut() {
            c.upload(0, &a.picture()).unwrap();
            if f == 0 || f == 4 {
                c.upload(1, &b.picture()).unwrap();
            }
            if c.needs_upload(0) {
                // A new slot rebuilt the plane buffer.
                c.upload(0, &a.picture()).unwrap();
            }
            if f == 6 {
                c.set_image(2, &text("主播 A 250")).unwrap();
            }
            outs.push(render(c, &scene));
        }
        fractions.push(comps[0].drawn_fraction(0));
        assert_eq!(comps[1].drawn_fraction(0), 1.0);
        assert!(
            outs[0] == outs[1],
            "frame {f}: reuse differs from a full redraw (PSNR {:.1} dB)",
            psnr(&outs[0], &outs[1])
        );
    }
    // Reuse really skipped work: after the first frame only the changing tile (with its blur and
    // frame) and the other animated parts were drawn.
    assert_eq!(fractions[0], 1.0);
    assert!(fractions[1..].iter().all(|&f| f < 0.6), "{fractions:?}");
}

#[test]
fn one_submission_composes_mirrored_views() {
    let (w, h) = (320u32, 180u32);
    let a = Yuv { y: vec![60; 160 * 180], ..Yuv::gradient(160, 180, Matrix::Bt709, false) };
    let b = Yuv { y: vec![200; 160 * 180], ..Yuv::gradient(160, 180, Matrix::Bt709, false) };
    let mut comp = Compositor::with_views(gpu(), w, h, GpuOptions::default(), 2).unwrap();
    comp.upload(0, &a.picture()).unwrap();
    comp.upload(1, &b.picture()).unwrap();
    comp.upload(0, &a.picture()).unwrap();
    let cell = |slot: usize, x: f32| TileSpec {
        slot,
        placement: place(
            SourceGeom { width: 160, height: 180, rotation: 0, sar: 1.0 },
            Rect::new(x, 0.0, 160.0, 180.0),
            Fit::Fill,
        ),
    };
    let scene =
        |left: usize, right: usize| Scene { tiles: vec![cell(left, 0.0), cell(right, 160.0)], ..Scene::default() };
    let out = render_views(&mut comp, &[scene(0, 1), scene(1, 0)], 0);
    let luma = |v: &Vec<u8>, x: usize| luma_of(v, w as usize, x, 90);
    assert_eq!((luma(&out[0], 40), luma(&out[0], 280)), (60, 200), "view 0: A left, B right");
    assert_eq!((luma(&out[1], 40), luma(&out[1], 280)), (200, 60), "view 1: B left, A right");
}

/// A PK's three pictures at once — room A, A's monitor (A's picture plus a comment panel) and the
/// mirrored room B, all with upscaled tiles and a bar — come out as each drawn on its own, while
/// the monitor is a copy of A's picture and B's tiles are copied from A's.
#[test]
fn views_that_share_tiles_share_the_work_and_the_pictures_stay_the_same() {
    let (w, h) = (320u32, 180u32);
    let (a, b) = (moving(160, 90, 1), moving(160, 90, 5));
    let cell = |slot: usize, x: f32| TileSpec {
        slot,
        placement: place(
            SourceGeom { width: 160, height: 90, rotation: 0, sar: 1.0 },
            Rect::new(x, 0.0, 160.0, 180.0),
            Fit::Fill,
        ),
    };
    let bar = |split: f32| LayerSpec {
        rect: Rect::new(20.0, 150.0, 280.0, 16.0),
        color: [1.0, 0.2, 0.3, 1.0],
        kind: LayerKind::Bar(BarSpec {
            left_inner: [1.0, 0.5, 0.6, 1.0],
            right_inner: [0.3, 0.8, 1.0, 1.0],
            right_outer: [0.0, 0.5, 1.0, 1.0],
            split,
            divider: 2.0,
            radius: 6.0,
        }),
    };
    let panel =
        LayerSpec { rect: Rect::new(10.0, 100.0, 120.0, 40.0), color: [0.0, 0.0, 0.0, 0.5], kind: LayerKind::Solid };
    let room_a = Scene { tiles: vec![cell(0, 0.0), cell(1, 160.0)], layers: vec![bar(0.6)], ..Scene::default() };
    let monitor = Scene { layers: vec![bar(0.6), panel], ..room_a.clone() };
    let room_b = Scene { tiles: vec![cell(1, 0.0), cell(0, 160.0)], layers: vec![bar(0.4)], ..Scene::default() };
    let scenes = [room_a, monitor, room_b];
    let upload = |c: &mut Compositor| {
        for _ in 0..2 {
            c.upload(0, &a.picture()).unwrap();
            c.upload(1, &b.picture()).unwrap();
        }
    };
    let mut shared = Compositor::with_views(gpu(), w, h, GpuOptions::default(), 3).unwrap();
    upload(&mut shared);
    let together = render_views(&mut shared, &scenes, 0);
    assert_eq!(shared.shared_fraction(0), 0.0);
    assert_eq!(shared.shared_fraction(1), 1.0, "the monitor starts from A's picture");
    assert!(shared.shared_fraction(2) > 0.95, "B's tiles come from A's: {}", shared.shared_fraction(2));
    for (v, scene) in scenes.iter().enumerate() {
        let mut alone = Compositor::new(gpu(), w, h, GpuOptions::default()).unwrap();
        upload(&mut alone);
        let want = render(&mut alone, scene);
        let worst = want.iter().zip(&together[v]).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
        // Moved tiles sample at positions computed from other coordinates: a rounding step at most.
        assert!(worst <= 1, "view {v}: differs by up to {worst} from the same scene drawn alone");
    }
    assert!(together[1] != together[0] && together[2] != together[0], "the three pictures differ");
}

/// S1's two inputs as the CPU-path tests use them: one planar, one NV12, each a moving picture.
struct TwoInputs {
    planar: Yuv,
    nv12: (Yuv, Vec<u8>),
}

impl TwoInputs {
    fn new() -> TwoInputs {
        let p = moving(640, 360, 8);
        let uv: Vec<u8> = p.u.iter().zip(&p.v).flat_map(|(u, v)| [*u, *v]).collect();
        TwoInputs { planar: moving(640, 360, 3), nv12: (p, uv) }
    }

    fn upload(&self, c: &mut Compositor) {
        let (p, uv) = &self.nv12;
        let nv = Picture {
            width: 640,
            height: 360,
            layout: PlaneLayout::Nv12,
            strides: [640, 640, 0],
            planes: [&p.y[..], &uv[..], &[]],
            matrix: Matrix::Bt709,
            full_range: false,
        };
        for _ in 0..2 {
            c.upload(0, &self.planar.picture()).unwrap();
            c.upload(1, &nv).unwrap();
        }
    }
}

/// S1's shape at 640×360: two 1:1 centre crops side by side, a solid bar, a blurred rectangle.
fn s1_scene(layer: LayerKind) -> Scene {
    let crop = |slot: usize, x: f32| TileSpec {
        slot,
        placement: place(
            SourceGeom { width: 640, height: 360, rotation: 0, sar: 1.0 },
            Rect::new(x, 0.0, 320.0, 360.0),
            Fit::Fill,
        ),
    };
    Scene {
        tiles: vec![crop(0, 0.0), crop(1, 320.0)],
        layers: vec![LayerSpec { rect: Rect::new(20.0, 10.0, 600.0, 12.0), color: [1.0, 0.0, 0.0, 0.9], kind: layer }],
        blurs: vec![BlurSpec { rect: Rect::new(100.0, 80.0, 100.0, 100.0), sigma: 12.0 }],
        ..Scene::default()
    }
}

/// On a software device the CPU copies 1:1 BT.709 tiles (S1's centre crops) instead of the
/// `tile_copy` kernel: the frames are byte for byte the kernel's, blur and layers (drawn by the
/// kernels here, as a PK bar is no CPU job) included, for planar and NV12 inputs; a view that is
/// not only such tiles stays on the kernels.
#[test]
fn cpu_tile_copies_match_the_kernel_byte_for_byte() {
    let inputs = TwoInputs::new();
    let bar = LayerKind::Bar(BarSpec {
        left_inner: [1.0, 0.5, 0.6, 1.0],
        right_inner: [0.3, 0.8, 1.0, 1.0],
        right_outer: [0.0, 0.5, 1.0, 1.0],
        split: 0.4,
        divider: 2.0,
        radius: 6.0,
    });
    let s1 = s1_scene(bar);
    let gap = Scene { tiles: vec![s1.tiles[0]], ..s1.clone() };
    let mut outs = Vec::new();
    for cpu in [true, false] {
        let mut c = Compositor::new(software(), 640, 360, GpuOptions { cpu_draw: cpu, ..Default::default() }).unwrap();
        inputs.upload(&mut c);
        let frame = render(&mut c, &s1);
        assert_eq!((c.cpu_drawn_views(), c.cpu_finished_views()), (cpu as usize, 0), "cpu copies {cpu}");
        let half = render(&mut c, &gap);
        assert_eq!(c.cpu_drawn_views(), 0, "a frame with an uncovered half is the kernels'");
        outs.push((frame, half));
    }
    assert!(outs[0].0 == outs[1].0, "CPU copies differ from tile_copy (PSNR {:.1} dB)", psnr(&outs[0].0, &outs[1].0));
    assert!(outs[0].1 == outs[1].1);
}

/// When 1:1 tiles, blurs and solid layers are all a view has (S1), the CPU draws all of it: the
/// picture is the kernels' to within one code value (the device rounds `exp` and fused
/// multiply-adds its own way), the blurred area really is blurred, and a masked view stays on the
/// kernels after its copies.
#[test]
fn cpu_blurs_and_solid_layers_match_the_kernels() {
    let inputs = TwoInputs::new();
    let s1 = s1_scene(LayerKind::Solid);
    let mut frames = Vec::new();
    for cpu in [true, false] {
        let mut c = Compositor::new(software(), 640, 360, GpuOptions { cpu_draw: cpu, ..Default::default() }).unwrap();
        inputs.upload(&mut c);
        frames.push(render(&mut c, &s1));
        assert_eq!((c.cpu_drawn_views(), c.cpu_finished_views()), (cpu as usize, cpu as usize), "cpu {cpu}");
    }
    let (ours, kernels) = (&frames[0], &frames[1]);
    let differ = ours.iter().zip(kernels).filter(|(a, b)| a != b).count();
    let worst = ours.iter().zip(kernels).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(
        worst <= 1 && differ * 1000 <= ours.len(),
        "CPU blur/layers vs kernels: {differ} bytes differ, by up to {worst}"
    );
    // Inside the blur, neighbouring luma barely changes; the unblurred crop beside it does.
    let step = |x0: usize, y: usize| {
        (x0..x0 + 60).map(|x| ours[y * 640 + x].abs_diff(ours[y * 640 + x + 1]) as u32).sum::<u32>()
    };
    assert!(step(120, 130) * 4 < step(400, 130), "blurred {} vs sharp {}", step(120, 130), step(400, 130));
    // A red bar at 90 %: BT.709 limited red has luma ~63 and V ~240.
    let (y, v) = (ours[15 * 640 + 300], ours[640 * 360 + 7 * 640 + 301]);
    assert!((55..=75).contains(&y) && v > 220, "bar luma {y}, V {v}");

    let mut c = Compositor::new(software(), 640, 360, GpuOptions::default()).unwrap();
    inputs.upload(&mut c);
    let square = vec![[130.0, 110.0], [170.0, 110.0], [170.0, 150.0], [130.0, 150.0]];
    let masked = Scene {
        masks: vec![MaskSpec {
            polygons: vec![square],
            feather: 3.0,
            dilate: 0.0,
            sigma: 8.0,
            sticker: None,
            clip: None,
        }],
        ..s1.clone()
    };
    render(&mut c, &masked);
    assert_eq!((c.cpu_drawn_views(), c.cpu_finished_views()), (1, 0), "a mask is the kernels'");
}

/// S1 on the kernels of whatever device there is (a GPU, or lavapipe with CPU drawing off): the
/// 1:1 crops are their sources' pixels, the bar is its colour and the blurred square is smooth.
#[test]
fn s1_on_the_kernels_of_any_device_shows_its_sources_bar_and_blur() {
    let inputs = TwoInputs::new();
    let mut c = Compositor::new(gpu(), 640, 360, GpuOptions { cpu_draw: false, ..Default::default() }).unwrap();
    inputs.upload(&mut c);
    let frame = render(&mut c, &s1_scene(LayerKind::Solid));
    assert_eq!(c.cpu_drawn_views(), 0, "the kernels drew it");
    // Centre crops: output x of the left cell shows source x + 160 of input 0 (planar), the
    // right cell's output x shows source x - 160 of input 1 (NV12).
    let (left, right) = (&inputs.planar.y, &inputs.nv12.0.y);
    let mut worst = 0u8;
    for y in 40..340 {
        for (x0, x1, src, dx) in [(210usize, 310usize, left, 160isize), (330, 630, right, -160)] {
            for x in x0..x1 {
                let want = src[y * 640 + (x as isize + dx) as usize];
                worst = worst.max(frame[y * 640 + x].abs_diff(want));
            }
        }
    }
    assert!(worst <= 1, "the crops differ from their sources by up to {worst}");
    let step = |x0: usize, y: usize| {
        (x0..x0 + 60).map(|x| frame[y * 640 + x].abs_diff(frame[y * 640 + x + 1]) as u32).sum::<u32>()
    };
    assert!(step(120, 130) * 4 < step(400, 130), "blurred {} vs sharp {}", step(120, 130), step(400, 130));
    let (y, v) = (frame[15 * 640 + 300], frame[640 * 360 + 7 * 640 + 301]);
    assert!((55..=75).contains(&y) && v > 220, "bar luma {y}, V {v}");
}

/// Scaled, unrotated tiles (S2's anchors filling cells larger than their pictures, and a larger
/// BT.601 full-range picture shrunk into its cell) are the CPU's on a software device: the frame
/// is the `tile_axis` kernel's to within one code value, and the CPU really drew it.
#[test]
fn cpu_scaled_tiles_match_the_kernel() {
    // Detail in every plane, chroma included, so that a misplaced tap shows.
    let detail = |p: &mut Vec<u8>, w: usize, m: usize| {
        for (i, v) in p.iter_mut().enumerate() {
            *v = v.wrapping_add(((i % w) * 7 % m + (i / w) * 3 % m) as u8);
        }
    };
    let (mut small, mut big) = (moving(320, 180, 5), Yuv::gradient(960, 540, Matrix::Bt601, true));
    for p in [&mut small, &mut big] {
        let w = p.w;
        detail(&mut p.y, w, 29);
        detail(&mut p.u, w / 2, 23);
        detail(&mut p.v, w / 2, 19);
    }
    let cell = |slot: usize, src: &Yuv, x: f32| TileSpec {
        slot,
        placement: place(
            SourceGeom { width: src.w as u32, height: src.h as u32, rotation: 0, sar: 1.0 },
            Rect::new(x, 0.0, 320.0, 360.0),
            Fit::Fill,
        ),
    };
    let scene = Scene { tiles: vec![cell(0, &small, 0.0), cell(1, &big, 320.0)], ..Scene::default() };
    let mut frames = Vec::new();
    for cpu in [true, false] {
        let mut c = Compositor::new(software(), 640, 360, GpuOptions { cpu_draw: cpu, ..Default::default() }).unwrap();
        for _ in 0..2 {
            c.upload(0, &small.picture()).unwrap();
            c.upload(1, &big.picture()).unwrap();
        }
        frames.push(render(&mut c, &scene));
        assert_eq!((c.cpu_drawn_views(), c.cpu_finished_views()), (cpu as usize, cpu as usize), "cpu {cpu}");
    }
    let (ours, kernel) = (&frames[0], &frames[1]);
    let differ = ours.iter().zip(kernel).filter(|(a, b)| a != b).count();
    let worst = ours.iter().zip(kernel).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(
        worst <= 1 && differ * 100 <= ours.len(),
        "CPU scaling vs tile_axis: {differ} of {} bytes differ, by up to {worst}",
        ours.len()
    );
}

#[test]
fn pk_bar_split_follows_the_scores_and_names_render_including_cjk() {
    use costream::compose::{PkBar, PkSettings};
    use std::time::{Duration, Instant};
    let (w, h) = (640u32, 360u32);
    let t0 = Instant::now();
    let settings = PkSettings {
        names: ["主播小美".into(), "Bob".into()],
        scores: [300, 100],
        rect: Some([40.0, 300.0, 560.0, 32.0]),
        colors_a: ["#ff0000".parse().unwrap(), "#ff0000".parse().unwrap()],
        colors_b: ["#0000ff".parse().unwrap(), "#0000ff".parse().unwrap()],
        animate_ms: 1000,
        ..Default::default()
    };
    let mut bar = PkBar::new(settings, t0);
    let mut comp = Compositor::new(gpu(), w, h, GpuOptions::default()).unwrap();
    let mut text = costream::compose::TextRenderer::new();
    // Draws the bar's elements (text boxes as images) over a black frame.
    let mut draw = |comp: &mut Compositor, bar: &PkBar, at: Instant, mirrored: bool, with_text: bool| {
        let mut layers = Vec::new();
        let mut images = Vec::new();
        for e in bar.elements(at, mirrored, w, h, "") {
            match e {
                costream::compose::Element::Layer(l) => layers.push(l),
                costream::compose::Element::Text { rect, text: t, style, .. } if with_text => {
                    images.push(text.render(&t, rect.w as u32, rect.h as u32, &style));
                    layers.push(LayerSpec { rect, color: [1.0; 4], kind: LayerKind::Image(images.len() - 1) });
                }
                _ => {}
            }
        }
        if !images.is_empty() {
            comp.set_images(&images).unwrap();
        }
        render(comp, &Scene { layers, ..Scene::default() })
    };
    // Side A red (V high), side B blue: the split is where V crosses the middle (on a row just below
    // the text).
    let split_x = |nv12: &[u8]| -> f32 {
        let (wu, hu) = (w as usize, h as usize);
        let crow = wu * hu + (302 / 2) * wu;
        let v = |x: usize| nv12[crow + (x / 2) * 2 + 1] as f32;
        let left_red = v(60) > 128.0;
        (60..580).find(|&x| (v(x) > 128.0) != left_red).map(|x| x as f32).unwrap_or(f32::NAN)
    };
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let x = split_x(&draw(&mut comp, &bar, t0, false, false));
    assert!((x - (40.0 + 0.75 * 560.0)).abs() <= 2.0, "split at {x}, expected 460");
    // B's room: mirrored, B's 100 of 400 on the left.
    let x = split_x(&draw(&mut comp, &bar, t0, true, false));
    assert!((x - (40.0 + 0.25 * 560.0)).abs() <= 2.0, "mirrored split at {x}, expected 180");
    // New scores animate over animate_ms: half-way the split is between old and new, then lands.
    bar.update(&costream::compose::PkChange { scores: Some([100, 300]), ..Default::default() }, t0, (1280, 720))
        .unwrap();
    // Eased (smoothstep) from 0.75 to 0.25 of the bar: at 250 ms 0.75 - 0.5 * 0.15625, at 500 ms 0.5.
    let mid = split_x(&draw(&mut comp, &bar, at(500), false, false));
    assert!((mid - (40.0 + 0.5 * 560.0)).abs() <= 4.0, "mid-animation split at {mid}, expected 320");
    let early = split_x(&draw(&mut comp, &bar, at(250), false, false));
    let want = 40.0 + (0.75 - 0.5 * 0.15625) * 560.0;
    assert!((early - want).abs() <= 4.0, "split at 250 ms: {early}, expected {want}");
    let end = split_x(&draw(&mut comp, &bar, at(1000), false, false));
    assert!((end - 180.0).abs() <= 2.0, "after the animation {end}");
    // Text: the name boxes (left half, right half of the bar) hold glyph pixels, CJK included.
    let plain = draw(&mut comp, &bar, at(1000), false, false);
    let with = draw(&mut comp, &bar, at(1000), false, true);
    let changed = |x0: usize, x1: usize| {
        (300..332)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                (luma_of(&plain, w as usize, x, y) as i32 - luma_of(&with, w as usize, x, y) as i32).abs() > 40
            })
            .count()
    };
    let (left, right) = (changed(56, 160), changed(480, 584));
    assert!(left > 60, "CJK name + score drew {left} pixels in the left box");
    assert!(right > 30, "name + score drew {right} pixels in the right box");
}
