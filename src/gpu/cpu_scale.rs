//! Software devices: scaled, unrotated tiles (`tile_axis`: an anchor filling a cell larger or
//! smaller than its picture) drawn by the CPU from the host copy of the planes. On lavapipe the
//! kernel made S2 (two 640×360 anchors upscaled 2× into 1280×720) run at ~16 fps, a fifth of
//! FFmpeg's scale filter; row by row on the CPU the taps of a column and of a row are computed
//! once per job and the loops are plain loads and multiply-adds.
//!
//! The arithmetic is the kernel's (`tile_axis`, `luma_row`, `bilinear`, `block_420` in
//! `shaders/composite.wgsl` and `common.wgsl`), in f32: the result agrees with it to within one
//! code value, which tests/gpu.rs checks.

use super::cpu_draw::{mix, quantise, tap, Tap};
use super::uniforms::{JobU, TileU};

/// Bilinear sample (0..1) of the 8-bit plane at `base` with `stride` and `step` between samples.
fn sample(host: &[u8], base: usize, stride: usize, step: usize, x: Tap, y: Tap) -> f32 {
    let (r0, r1) = (base + y.i0 * stride, base + y.i1 * stride);
    let at = |r: usize, i: usize| host[r + i * step] as f32;
    mix(mix(at(r0, x.i0), at(r0, x.i1), x.f), mix(at(r1, x.i0), at(r1, x.i1), x.f), y.f) * (1.0 / 255.0)
}

/// One `tile_axis` job over `host` into `out` (a `width`×`height` NV12 frame).
pub(super) fn run_axis(host: &[u8], j: &JobU, width: u32, height: u32, out: &mut [u8]) {
    let t: &TileU = &j.tile;
    let w = width as usize;
    let luma_len = w * height as usize;
    let (bx0, nbx) = (j.block0[0] as usize, j.blocks[0] as usize);
    let luma_last = [(t.crop_hi[0] - 1.0).max(0.0) as u32, (t.crop_hi[1] - 1.0).max(0.0) as u32];
    let (clo, chi) = (
        [t.crop_lo[0] * t.cscale[0] + 0.5, t.crop_lo[1] * t.cscale[1] + 0.5],
        [t.crop_hi[0] * t.cscale[0] - 0.5, t.crop_hi[1] * t.cscale[1] - 0.5],
    );
    let chroma_last = [(chi[0] - 0.5).max(0.0) as u32, (chi[1] - 0.5).max(0.0) as u32];
    // Luma taps per output column; chroma taps at the centre of each output 2×2 (two per block).
    let xs: Vec<Tap> = (bx0 * 4..(bx0 + nbx) * 4)
        .map(|x| {
            tap(t.origin[0] + t.axis_x[0] * (x as f32 + 0.5), t.crop_lo[0] + 0.5, t.crop_hi[0] - 0.5, luma_last[0])
        })
        .collect();
    let cxs: Vec<Tap> = (0..nbx * 2)
        .map(|i| {
            tap(
                (t.origin[0] + t.axis_x[0] * ((bx0 * 4 + i * 2) as f32 + 1.0)) * t.cscale[0],
                clo[0],
                chi[0],
                chroma_last[0],
            )
        })
        .collect();
    let (ys, ystride) = (t.y_base as usize, t.y_stride as usize);
    let (cstride, cstep) = (t.c_stride as usize, t.c_step as usize);
    let mut rows = [vec![0.0f32; xs.len()], vec![0.0f32; xs.len()]];
    for by in j.block0[1] as usize..(j.block0[1] + j.blocks[1]) as usize {
        for (r, row) in rows.iter_mut().enumerate() {
            let y = tap(
                t.origin[1] + t.axis_y[1] * ((by * 2 + r) as f32 + 0.5),
                t.crop_lo[1] + 0.5,
                t.crop_hi[1] - 0.5,
                luma_last[1],
            );
            for (v, &x) in row.iter_mut().zip(&xs) {
                *v = sample(host, ys, ystride, 1, x, y);
            }
        }
        let cy =
            tap((t.origin[1] + t.axis_y[1] * ((by * 2) as f32 + 1.0)) * t.cscale[1], clo[1], chi[1], chroma_last[1]);
        let (luma, chroma) = out.split_at_mut(luma_len);
        let (y0, y1) = luma[by * 2 * w..(by * 2 + 2) * w].split_at_mut(w);
        let c_row = &mut chroma[by * w..(by + 1) * w];
        for i in 0..nbx * 2 {
            // One 2×2: its luma, the mean of it, and its chroma sample.
            let x = bx0 * 4 + i * 2;
            let (l0, l1) = (&rows[0][i * 2..i * 2 + 2], &rows[1][i * 2..i * 2 + 2]);
            let m = (l0[0] + l0[1] + l1[0] + l1[1]) * 0.25;
            let (u, v) = (
                sample(host, t.u_base as usize, cstride, cstep, cxs[i], cy),
                sample(host, t.v_base as usize, cstride, cstep, cxs[i], cy),
            );
            let k = t.m_y[1] * u + t.m_y[2] * v + t.m_y[3];
            y0[x] = quantise(l0[0] * t.m_y[0] + k);
            y0[x + 1] = quantise(l0[1] * t.m_y[0] + k);
            y1[x] = quantise(l1[0] * t.m_y[0] + k);
            y1[x + 1] = quantise(l1[1] * t.m_y[0] + k);
            c_row[x] = quantise(t.m_u[0] * m + t.m_u[1] * u + t.m_u[2] * v + t.m_u[3]);
            c_row[x + 1] = quantise(t.m_v[0] * m + t.m_v[1] * u + t.m_v[2] * v + t.m_v[3]);
        }
    }
}
