//! Software devices: the blurs and solid layers of a view whose tiles the CPU drew (see
//! [`super::cpu_copy`]), drawn by the CPU over the same frame, so such a view (S1: two crops, a
//! bar of two rectangles, a blurred face) never runs a kernel. On lavapipe the blur pass alone cost
//! ~2.5 ms per 720p frame (four dispatches over a 68×68 grid and a 200×200 write, mostly
//! per-dispatch overhead); here it is a fraction of a millisecond.
//!
//! Each job is the kernel's, step for step and in f32 (`shaders/blur.wgsl`, `layers.wgsl`,
//! `common.wgsl`): the results agree with the kernels' to within one code value (the device's
//! `exp` and fused multiply-adds round differently), which tests/gpu.rs checks.

use super::kernels::Kernel;
use super::planner::Dispatch;
use super::uniforms::{BlurU, JobU};

/// True when the CPU can draw job `k` (it reads only the frame and its own uniform).
pub(super) fn drawable(k: Kernel) -> bool {
    matches!(
        k,
        Kernel::BlurPrep
            | Kernel::BlurH
            | Kernel::BlurV
            | Kernel::BlurWrite
            | Kernel::BlurWriteLowres
            | Kernel::LayerSolid
    )
}

/// The frame being drawn (NV12, stride = width) and the blurs' scratch grids.
pub(super) struct Canvas<'a> {
    pub frame: &'a mut [u8],
    pub width: u32,
    pub height: u32,
    pub scratch: &'a mut [Vec<[f32; 3]>; 2],
}

/// The 4×2 pixels of a block: two luma rows and the interleaved chroma row (u, v, u, v).
struct Block {
    y0: [f32; 4],
    y1: [f32; 4],
    c: [f32; 4],
}

/// WGSL's `mix`.
pub(super) fn mix(a: f32, b: f32, t: f32) -> f32 {
    a * (1.0 - t) + b * t
}

fn mix3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [mix(a[0], b[0], t), mix(a[1], b[1], t), mix(a[2], b[2], t)]
}

/// `pack4x8unorm(v / 255)` of one component: clamped, rounded half up (the sum is positive, so
/// truncation is the floor).
pub(super) fn quantise(v: f32) -> u8 {
    (0.5 + 255.0 * (v * (1.0 / 255.0)).clamp(0.0, 1.0)) as u8
}

/// A bilinear tap along one axis: the two sample indices and the weight of the second.
#[derive(Clone, Copy)]
pub(super) struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub f: f32,
}

/// The tap at coordinate `s` (texel centres at +0.5) clamped to the centre window `[lo, hi]`,
/// whose last index is `last`, as the kernels' `bilinear` and `blurred_at` compute it (the clamped
/// position is not negative, so truncation is the floor).
pub(super) fn tap(s: f32, lo: f32, hi: f32, last: u32) -> Tap {
    let p = s.clamp(lo, hi) - 0.5;
    let i0 = p as u32;
    Tap { i0: i0 as usize, i1: (i0 + 1).min(last) as usize, f: p - i0 as f32 }
}

/// The tap of a blur's `n`-texel grid axis at output pixel centre `p` (`blurred_at`).
fn grid_tap(p: f32, src: f32, factor: u32, n: u32) -> Tap {
    tap((p - src) / factor as f32, 0.5, n as f32 - 0.5, n - 1)
}

impl Canvas<'_> {
    pub fn run(&mut self, d: &Dispatch) {
        let j = &d.job;
        match d.kernel {
            Kernel::BlurPrep => self.blur_prep(&j.blur),
            Kernel::BlurH => self.blur_line(&j.blur, true),
            Kernel::BlurV => self.blur_line(&j.blur, false),
            Kernel::BlurWrite | Kernel::BlurWriteLowres => self.blur_write(j),
            Kernel::LayerSolid => self.layer_solid(j),
            k => unreachable!("{k:?} is not drawn by the CPU"),
        }
    }

    fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    fn yuv(&self, x: usize, y: usize) -> [f32; 3] {
        let w = self.width as usize;
        let c = self.luma_len() + (y / 2) * w + (x / 2) * 2;
        [self.frame[y * w + x] as f32, self.frame[c] as f32, self.frame[c + 1] as f32]
    }

    fn load(&self, bx: usize, by: usize) -> Block {
        let (w, x) = (self.width as usize, bx * 4);
        let row = |o: usize| -> [f32; 4] { std::array::from_fn(|i| self.frame[o + i] as f32) };
        Block { y0: row(by * 2 * w + x), y1: row((by * 2 + 1) * w + x), c: row(self.luma_len() + by * w + x) }
    }

    fn store(&mut self, bx: usize, by: usize, b: &Block) {
        let (w, x, l) = (self.width as usize, bx * 4, self.luma_len());
        for (o, vals) in [(by * 2 * w + x, &b.y0), ((by * 2 + 1) * w + x, &b.y1), (l + by * w + x, &b.c)] {
            for (i, v) in vals.iter().enumerate() {
                self.frame[o + i] = quantise(*v);
            }
        }
    }

    /// Runs `f` over every block of the job's block rectangle: the block, its pixels' colours
    /// (`q[row][column]`) and per-pixel weights, blended as `blend_block` does.
    fn blend_blocks(&mut self, j: &JobU, mut f: impl FnMut(f32, f32) -> ([[[f32; 3]; 4]; 2], [[f32; 4]; 2])) {
        for by in j.block0[1] as usize..(j.block0[1] + j.blocks[1]) as usize {
            for bx in j.block0[0] as usize..(j.block0[0] + j.blocks[0]) as usize {
                let b = self.load(bx, by);
                let (q, k) = f((bx * 4) as f32, (by * 2) as f32);
                self.store(bx, by, &blend(&b, &q, &k));
            }
        }
    }

    fn layer_solid(&mut self, j: &JobU) {
        let l = j.layer;
        let q = [[[l.color[0], l.color[1], l.color[2]]; 4]; 2];
        self.blend_blocks(j, |x0, y0| {
            (
                q,
                [
                    row_cover(l.rect, x0, y0).map(|k| k * l.color[3]),
                    row_cover(l.rect, x0, y0 + 1.0).map(|k| k * l.color[3]),
                ],
            )
        });
    }

    fn blur_prep(&mut self, bl: &BlurU) {
        let off = (bl.factor - 1) / 2;
        let (xl, yl) = (bl.src[2] as u32 - 2, bl.src[3] as u32 - 2);
        for gy in 0..bl.lh {
            for gx in 0..bl.lw {
                let x = (bl.src[0] as u32 + gx * bl.factor + off).min(xl) as usize;
                let y = (bl.src[1] as u32 + gy * bl.factor + off).min(yl) as usize;
                let (a, b, c, d) = (self.yuv(x, y), self.yuv(x + 1, y), self.yuv(x, y + 1), self.yuv(x + 1, y + 1));
                let acc: [f32; 3] = std::array::from_fn(|i| (a[i] + b[i] + c[i] + d[i]) * 0.25);
                self.scratch[0][(bl.slot + gy * bl.lw + gx) as usize] = acc;
            }
        }
    }

    /// `blur_h` (scratch a → b, along rows) or `blur_v` (b → a, along columns); edges clamp. The
    /// taps are summed in the kernel's order; rows are processed whole, so the loops vectorise.
    fn blur_line(&mut self, bl: &BlurU, across: bool) {
        let r = bl.radius as usize;
        let w: Vec<f32> =
            (0..=r).map(|k| (-(k as f32) * (k as f32) / (2.0 * bl.sigma * bl.sigma)).exp() * bl.inv_norm).collect();
        let (lw, lh, slot) = (bl.lw as usize, bl.lh as usize, bl.slot as usize);
        let [a, b] = &mut *self.scratch;
        let (src, dst) = if across {
            (&a[slot..slot + lw * lh], &mut b[slot..slot + lw * lh])
        } else {
            (&b[slot..slot + lw * lh], &mut a[slot..slot + lw * lh])
        };
        if across {
            let mut pad = vec![[0.0f32; 3]; lw + 2 * r];
            for (row, out) in src.chunks_exact(lw).zip(dst.chunks_exact_mut(lw)) {
                for (i, p) in pad.iter_mut().enumerate() {
                    *p = row[i.saturating_sub(r).min(lw - 1)];
                }
                for (x, o) in out.iter_mut().enumerate() {
                    let c = pad[x + r];
                    let mut acc = [c[0] * w[0], c[1] * w[0], c[2] * w[0]];
                    for k in 1..=r {
                        let (p, n) = (pad[x + r - k], pad[x + r + k]);
                        for i in 0..3 {
                            acc[i] += (p[i] + n[i]) * w[k];
                        }
                    }
                    *o = acc;
                }
            }
        } else {
            let row = |y: isize| &src[y.clamp(0, lh as isize - 1) as usize * lw..][..lw];
            for (y, out) in dst.chunks_exact_mut(lw).enumerate() {
                for (o, c) in out.iter_mut().zip(row(y as isize)) {
                    *o = [c[0] * w[0], c[1] * w[0], c[2] * w[0]];
                }
                for k in 1..=r {
                    let (p, n) = (row(y as isize - k as isize), row(y as isize + k as isize));
                    for ((o, p), n) in out.iter_mut().zip(p).zip(n) {
                        for i in 0..3 {
                            o[i] += (p[i] + n[i]) * w[k];
                        }
                    }
                }
            }
        }
    }

    /// `blur_write`: the bilinear upsampling of the grid, sampled per pixel as the kernel does
    /// (columns' indices and fractions computed once), blended into the rect's blocks.
    fn blur_write(&mut self, j: &JobU) {
        let bl = j.blur;
        let grid = std::mem::take(&mut self.scratch[0]);
        let g = &grid[bl.slot as usize..];
        let lw = bl.lw as usize;
        let (bx0, nbx) = (j.block0[0] as usize, j.blocks[0] as usize);
        let cols: Vec<_> =
            (bx0 * 4..(bx0 + nbx) * 4).map(|x| grid_tap(x as f32 + 0.5, bl.src[0], bl.factor, bl.lw)).collect();
        let mut q = vec![[[0.0f32; 3]; 2]; cols.len()];
        for by in j.block0[1] as usize..(j.block0[1] + j.blocks[1]) as usize {
            for r in 0..2 {
                let y = grid_tap((by * 2 + r) as f32 + 0.5, bl.src[1], bl.factor, bl.lh);
                let (row0, row1) = (&g[y.i0 * lw..][..lw], &g[y.i1 * lw..][..lw]);
                for (o, x) in q.iter_mut().zip(&cols) {
                    o[r] = mix3(mix3(row0[x.i0], row0[x.i1], x.f), mix3(row1[x.i0], row1[x.i1], x.f), y.f);
                }
            }
            let y0 = (by * 2) as f32;
            for (i, bx) in (bx0..bx0 + nbx).enumerate() {
                let x0 = (bx * 4) as f32;
                let px: [[[f32; 3]; 4]; 2] = std::array::from_fn(|r| std::array::from_fn(|c| q[i * 4 + c][r]));
                let k = [row_cover(bl.rect, x0, y0), row_cover(bl.rect, x0, y0 + 1.0)];
                let b = self.load(bx, by);
                self.store(bx, by, &blend(&b, &px, &k));
            }
        }
        self.scratch[0] = grid;
    }
}

/// Coverage (0 or 1) of the four pixels of a block row by a rect (`row_cover`).
fn row_cover(r: [f32; 4], x0: f32, y: f32) -> [f32; 4] {
    let yc = y + 0.5;
    let inside_y = yc >= r[1] && yc < r[3];
    std::array::from_fn(|i| {
        let xc = x0 + i as f32 + 0.5;
        if inside_y && xc >= r[0] && xc < r[2] {
            1.0
        } else {
            0.0
        }
    })
}

/// `blend_block`: luma per pixel, chroma per 2×2 as the weighted mean (uncovered pixels keep the
/// block's chroma).
fn blend(b: &Block, q: &[[[f32; 3]; 4]; 2], k: &[[f32; 4]; 2]) -> Block {
    let y0 = std::array::from_fn(|i| mix(b.y0[i], q[0][i][0], k[0][i]));
    let y1 = std::array::from_fn(|i| mix(b.y1[i], q[1][i][0], k[1][i]));
    let mut c = [0.0; 4];
    for half in 0..2 {
        let (p, n) = (half * 2, half * 2 + 1);
        let a = (k[0][p] + k[0][n] + k[1][p] + k[1][n]) * 0.25;
        for ch in 0..2 {
            let s = (q[0][p][ch + 1] * k[0][p]
                + q[0][n][ch + 1] * k[0][n]
                + q[1][p][ch + 1] * k[1][p]
                + q[1][n][ch + 1] * k[1][n])
                * 0.25;
            c[half * 2 + ch] = b.c[half * 2 + ch] * (1.0 - a) + s;
        }
    }
    Block { y0, y1, c }
}
