//! Software devices: tiles drawn by the CPU. On lavapipe the `tile_copy` kernel costs ~2.3 ms of
//! shader time per 720p frame (every word gathered and scattered one lane at a time, measured with
//! perf on a 2-core AMD EPYC); the same bytes copied row by row from a host copy of the planes take
//! a fraction of that, byte for byte the kernel's. Scaled tiles (`tile_axis`) are the CPU's too
//! (see [`super::cpu_scale`]). Only for a view redrawn whole, made only of such tiles covering
//! every block (no fill, no edges, nothing beneath), written into the view's buffer before the
//! GPU's passes (blur, layers, masks) run, or finished by the CPU ([`super::cpu_draw`]).

use super::kernels::Kernel;
use super::planner::Dispatch;
use super::uniforms::JobU;

/// The view's tile jobs, when the CPU can draw the whole of its first pass instead.
pub(super) fn cpu_pass0(pass0: &[Dispatch], whole_frame: bool, under: bool) -> Option<Vec<(Kernel, JobU)>> {
    let tiles = pass0.iter().all(|d| matches!(d.kernel, Kernel::TileCopy | Kernel::TileAxis));
    (whole_frame && !under && !pass0.is_empty() && tiles).then(|| pass0.iter().map(|d| (d.kernel, d.job)).collect())
}

/// Runs the tile jobs over `host` (the plane buffer's bytes) into `out`.
pub(super) fn run_tiles(host: &[u8], jobs: &[(Kernel, JobU)], width: u32, height: u32, out: &mut [u8]) {
    for (k, j) in jobs {
        match k {
            Kernel::TileAxis => super::cpu_scale::run_axis(host, j, width, height, out),
            _ => run_copy(host, j, width, height, out),
        }
    }
}

/// Runs a `tile_copy` job over `host` (the plane buffer's bytes) into `out` (a `width`×`height`
/// NV12 frame), exactly as the kernel does: luma rows copied, chroma pairs interleaved (planar) or
/// copied (NV12), at the job's 1:1 offset.
fn run_copy(host: &[u8], j: &JobU, width: u32, height: u32, out: &mut [u8]) {
    let w = width as usize;
    let luma_len = w * height as usize;
    let t = &j.tile;
    let (bx0, by0) = (j.block0[0] as usize, j.block0[1] as usize);
    let (x0, n) = (bx0 * 4, j.blocks[0] as usize * 4);
    let sx = (x0 as i64 + t.unit_x as i64) as usize;
    for by in by0..by0 + j.blocks[1] as usize {
        for y in [by * 2, by * 2 + 1] {
            let sy = (y as i64 + t.unit_y as i64) as usize;
            let src = t.y_base as usize + sy * t.y_stride as usize + sx;
            out[y * w + x0..y * w + x0 + n].copy_from_slice(&host[src..src + n]);
        }
        let sy = (by as i64 * 2 + t.unit_y as i64) as usize;
        let crow = (sy / 2) * t.c_stride as usize;
        let o = luma_len + by * w + x0;
        let dst = &mut out[o..o + n];
        if t.c_step == 2 {
            let src = t.u_base as usize + crow + sx;
            dst.copy_from_slice(&host[src..src + n]);
        } else {
            let (u, v) = (t.u_base as usize + crow + sx / 2, t.v_base as usize + crow + sx / 2);
            let (us, vs) = (&host[u..u + n / 2], &host[v..v + n / 2]);
            for (i, pair) in dst.chunks_exact_mut(2).enumerate() {
                pair[0] = us[i];
                pair[1] = vs[i];
            }
        }
    }
}
