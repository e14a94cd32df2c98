//! GPU stages alone (no decode, no encode): upload of two 720p frames, the fused composite pass with
//! and without the S1 overlays, and the full submit→readback round trip. Runs on whatever adapter
//! `Gpu::open` picks (lavapipe without a GPU).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use costream::gpu::{BlurSpec, Compositor, Gpu, GpuOptions, LayerKind, LayerSpec, Scene, TileSpec};
use costream::media::geometry::{cells, place, Fit, Layout, Rect, SourceGeom};
use costream::media::{Matrix, Picture, PlaneLayout};

struct Planes {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

fn planes(w: usize, h: usize, seed: u8) -> Planes {
    let y =
        (0..w * h).map(|i| ((i % w) as u8).wrapping_mul(3).wrapping_add(((i / w) as u8).wrapping_add(seed))).collect();
    let c = (w / 2) * (h / 2);
    Planes { y, u: (0..c).map(|i| (i % 200) as u8 + seed).collect(), v: (0..c).map(|i| (i % 150) as u8 + 40).collect() }
}

fn picture(p: &Planes, w: u32, h: u32) -> Picture<'_> {
    Picture {
        layout: PlaneLayout::Planar { sx: 2, sy: 2 },
        width: w,
        height: h,
        planes: [&p.y, &p.u, &p.v],
        strides: [w as usize, w as usize / 2, w as usize / 2],
        matrix: Matrix::Bt709,
        full_range: false,
    }
}

fn s1_scene(bar: bool, blur: bool) -> Scene {
    let c = cells(Layout::SideBySide, 2, 1280, 720);
    let g = SourceGeom { width: 1280, height: 720, rotation: 0, sar: 1.0 };
    let tiles = (0..2).map(|i| TileSpec { slot: i, placement: place(g, c[i], Fit::Fill) }).collect();
    let mut s = Scene {
        background: [0.0; 3],
        under: vec![],
        tiles,
        layers: vec![],
        blurs: vec![],
        masks: vec![],
        copy_of: None,
    };
    if bar {
        s.layers = vec![
            LayerSpec {
                rect: Rect::new(40.0, 20.0, 1200.0, 24.0),
                color: [1.0, 0.0, 0.0, 0.9],
                kind: LayerKind::Solid,
            },
            LayerSpec { rect: Rect::new(40.0, 20.0, 720.0, 24.0), color: [0.0, 0.0, 1.0, 0.9], kind: LayerKind::Solid },
        ];
    }
    if blur {
        s.blurs = vec![BlurSpec { rect: Rect::new(220.0, 160.0, 200.0, 200.0), sigma: 12.0 }];
    }
    s
}

fn bench(c: &mut Criterion) {
    let gpu = Arc::new(Gpu::open().expect("a wgpu adapter (lavapipe without a GPU)"));
    let (a, b) = (planes(1280, 720, 10), planes(1280, 720, 60));
    let mut g = c.benchmark_group(format!("gpu {}", gpu.describe()));
    g.sample_size(20);
    for (name, bar, blur) in [
        ("composite_plain", false, false),
        ("composite_bar", true, false),
        ("composite_blur", false, true),
        ("composite_s1", true, true),
    ] {
        let mut comp = Compositor::new(gpu.clone(), 1280, 720, GpuOptions { readback_depth: 1, ..Default::default() })
            .expect("compositor");
        comp.upload(0, &picture(&a, 1280, 720)).expect("upload");
        comp.upload(1, &picture(&b, 1280, 720)).expect("upload");
        let scene = s1_scene(bar, blur);
        let mut n = 0u64;
        // Depth 1: each iteration waits for its own frame, so this is the full GPU round trip.
        g.bench_function(name, |bch| {
            bch.iter(|| {
                n += 1;
                comp.render(&scene, n, &mut |_| Ok(())).expect("render");
                comp.flush(&mut |_| Ok(())).expect("flush");
            })
        });
    }
    let mut comp = Compositor::new(gpu.clone(), 1280, 720, GpuOptions::default()).expect("compositor");
    g.bench_function("upload_2x720p", |bch| {
        bch.iter(|| {
            comp.upload(0, &picture(&a, 1280, 720)).expect("upload");
            comp.upload(1, &picture(&b, 1280, 720)).expect("upload");
            let _ = gpu.device.poll(wgpu::PollType::wait_indefinitely());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
