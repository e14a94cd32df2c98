//! The planner: a view's scene → the list of compute dispatches that draw it, each over only the
//! 4×2-pixel blocks it concerns, clipped to the view's dirty rectangles. Pure CPU work over the
//! compositor's slot and image tables, tested without a GPU.
//!
//! Per view, passes run in order: 0 fill, layers beneath the video, tiles, edge blocks; 1 blurs;
//! 2 layers; 3 copies of renditions, then masks and stickers.

use bytemuck::Zeroable;

use super::dirty::{inner_blocks, touched_blocks, BRect};
use super::kernels::Kernel;
use super::plan_tiles::{covers_frame, donated, mark_overlapped, tile_uniform};
pub(super) use super::plan_tiles::{Donor, SlotInfo};
use super::scene::Scene;
use super::uniforms::{JobU, SceneU, TileU};
use crate::media::colour::rgb_to_bt709_limited;
use crate::media::Rect;

/// One planned dispatch.
pub(super) struct Dispatch {
    pub kernel: Kernel,
    pub job: JobU,
    pub groups: (u32, u32),
    pub pass: usize,
    pub view: usize,
}

/// The dispatches of one frame (every view), with what they read besides their own uniform.
#[derive(Default)]
pub(super) struct Plan {
    pub dispatches: Vec<Dispatch>,
    /// Edge block lists and mask polygons, read by `Edges` and `BlurWriteMasked` jobs.
    pub list: Vec<u32>,
    /// Per view, the frame-wide uniform.
    pub scenes: Vec<SceneU>,
    /// Scratch texels the blurs need.
    pub scratch_len: u32,
    /// Views that start from another's finished picture: (from, to), copied before pass 3.
    pub copies: Vec<(usize, usize)>,
    /// The first view's tiles, for the views after it that show the same ones.
    pub donors: Vec<Donor>,
    /// Views the CPU draws (software devices).
    pub cpu: Vec<CpuView>,
    /// Idle views: nothing drawn, copied or read back.
    pub skipped: Vec<usize>,
}

/// A view whose first pass the CPU draws: its tile jobs, and the jobs after them that the CPU
/// draws as well (its blurs and solid layers, when those are all it has).
pub(super) struct CpuView {
    pub view: usize,
    pub tiles: Vec<(Kernel, JobU)>,
    pub finish: Vec<Dispatch>,
}

impl Plan {
    pub fn has_pass(&self, pass: usize) -> bool {
        match pass {
            0 => true,
            _ => self.dispatches.iter().any(|d| d.pass == pass),
        }
    }
}

/// What the planner reads: the frame's size, the compositor's slots and images.
pub(super) struct Planner<'a> {
    pub width: u32,
    pub height: u32,
    pub workgroup: (u32, u32),
    pub slots: &'a [Option<SlotInfo>],
    /// Per image of the atlas: word offset, width, height.
    pub images: &'a [(u32, u32, u32)],
    pub(super) wb: u32,
    pub(super) hb: u32,
}

/// One view being planned: its index, its dirty rectangles, and its frame uniform.
pub(super) struct ViewPlan<'a> {
    pub(super) view: usize,
    pub(super) dirty: &'a [BRect],
    pub(super) su: SceneU,
}

impl ViewPlan<'_> {
    /// Clips a block rectangle to each dirty rectangle (they do not overlap, so blending layers
    /// are applied once per pixel).
    pub(super) fn clip(&self, b0: [u32; 2], n: [u32; 2]) -> Vec<([u32; 2], [u32; 2])> {
        self.dirty
            .iter()
            .filter_map(|r| {
                let (x0, y0) = (b0[0].max(r[0]), b0[1].max(r[1]));
                let (x1, y1) = ((b0[0] + n[0]).min(r[2]), (b0[1] + n[1]).min(r[3]));
                (x1 > x0 && y1 > y0).then_some(([x0, y0], [x1 - x0, y1 - y0]))
            })
            .collect()
    }

    pub(super) fn in_dirty(&self, bx: u32, by: u32) -> bool {
        self.dirty.iter().any(|r| bx >= r[0] && bx < r[2] && by >= r[1] && by < r[3])
    }
}

impl<'a> Planner<'a> {
    pub fn new(
        width: u32,
        height: u32,
        workgroup: (u32, u32),
        slots: &'a [Option<SlotInfo>],
        images: &'a [(u32, u32, u32)],
    ) -> Planner<'a> {
        Planner { width, height, workgroup, slots, images, wb: width / 4, hb: height / 2 }
    }

    pub(super) fn groups(&self, b: [u32; 2]) -> (u32, u32) {
        (b[0].div_ceil(self.workgroup.0), b[1].div_ceil(self.workgroup.1))
    }

    /// Adds view `view`'s dispatches for `scene` to the plan, drawing only inside `dirty`. With a
    /// `base` (view k, n), the view starts from a copy of view k's finished picture, which already
    /// has the first n of its layers, and draws only the rest (in pass 3, before the masks).
    pub fn plan_view(
        &self,
        plan: &mut Plan,
        view: usize,
        scene: &Scene,
        dirty: &[BRect],
        base: Option<(usize, usize)>,
    ) {
        let mut vp = ViewPlan { view, dirty, su: SceneU::zeroed() };
        vp.su.size = [self.width, self.height];
        let bg = rgb_to_bt709_limited(scene.background);
        vp.su.background = [bg[0], bg[1], bg[2], 1.0];
        match base {
            None => self.plan_picture(plan, &mut vp, scene),
            Some((k, n)) => {
                plan.copies.push((k, view));
                for l in scene.layers.iter().skip(n) {
                    if let Some((kernel, lu, b0, n)) = self.layer_job(l) {
                        plan.dispatches.push(Dispatch {
                            kernel,
                            job: JobU { layer: lu, ..JobU::blocks(b0, n) },
                            groups: self.groups(n),
                            pass: 3,
                            view,
                        });
                    }
                }
            }
        }
        self.plan_stickers(plan, &vp, &scene.masks);
        let masks = scene.masks.iter().filter(|m| m.sticker.is_none()).filter_map(|m| {
            m.bounds().map(|r| (Rect { x: r[0], y: r[1], w: r[2] - r[0], h: r[3] - r[1] }, m.sigma, Some(m)))
        });
        for (rect, sigma, mask) in masks {
            self.plan_blur(plan, &vp, rect, sigma, mask);
        }
        plan.scenes.push(vp.su);
    }

    /// Everything but the masks: fill, layers beneath, tiles and their edges, blurs, layers.
    fn plan_picture(&self, plan: &mut Plan, vp: &mut ViewPlan<'_>, scene: &Scene) {
        let (tile_jobs, edge_blocks, covered) = self.plan_tiles(vp, scene, &mut plan.donors);
        if !covered {
            for (b0, n) in vp.clip([0, 0], [self.wb, self.hb]) {
                plan.dispatches.push(Dispatch {
                    kernel: Kernel::Fill,
                    job: JobU::blocks(b0, n),
                    groups: self.groups(n),
                    pass: 0,
                    view: vp.view,
                });
            }
        }
        // Layers beneath the video come between the fill and the tiles.
        for l in &scene.under {
            if let Some((kernel, lu, b0, n)) = self.layer_job(l) {
                for (b0, n) in vp.clip(b0, n) {
                    plan.dispatches.push(Dispatch {
                        kernel,
                        job: JobU { layer: lu, ..JobU::blocks(b0, n) },
                        groups: self.groups(n),
                        pass: 0,
                        view: vp.view,
                    });
                }
            }
        }
        plan.dispatches.extend(tile_jobs);
        if !edge_blocks.is_empty() {
            let n = edge_blocks.len() as u32;
            let job = JobU { list_off: plan.list.len() as u32, list_len: n, ..JobU::zeroed() };
            plan.dispatches.push(Dispatch {
                kernel: Kernel::Edges,
                job,
                groups: (n.div_ceil(64), 1),
                pass: 0,
                view: vp.view,
            });
            plan.list.extend(edge_blocks);
        }
        for b in &scene.blurs {
            self.plan_blur(plan, vp, b.rect, b.sigma, None);
        }
        for l in &scene.layers {
            if let Some((kernel, lu, b0, n)) = self.layer_job(l) {
                for (b0, n) in vp.clip(b0, n) {
                    plan.dispatches.push(Dispatch {
                        kernel,
                        job: JobU { layer: lu, ..JobU::blocks(b0, n) },
                        groups: self.groups(n),
                        pass: 2,
                        view: vp.view,
                    });
                }
            }
        }
    }

    /// The tiles' dispatches over their inner blocks, the blocks only partly inside a tile (composed
    /// per pixel by the edge job), and whether the tiles cover the frame (no fill needed). The tiles
    /// go into the view's uniform, where the edge job finds them.
    fn plan_tiles(
        &self,
        vp: &mut ViewPlan<'_>,
        scene: &Scene,
        donors: &mut Vec<Donor>,
    ) -> (Vec<Dispatch>, Vec<u32>, bool) {
        let (w, h) = (self.width as f32, self.height as f32);
        let mut nt = 0usize;
        let mut covered_area = 0.0f64;
        let mut jobs = Vec::new();
        let mut edges: Vec<u32> = Vec::new();
        for t in &scene.tiles {
            let Some(Some(info)) = self.slots.get(t.slot) else { continue };
            let (tu, kernel) = tile_uniform(info, &t.placement);
            let d = [tu.dst[0].max(0.0), tu.dst[1].max(0.0), tu.dst[2].min(w), tu.dst[3].min(h)];
            if d[2] <= d[0] || d[3] <= d[1] {
                continue;
            }
            covered_area += ((d[2] - d[0]) * (d[3] - d[1])) as f64;
            let inner = inner_blocks(d);
            let drawn = self.tile_jobs(vp, donors, &tu, kernel, inner, &mut jobs);
            if vp.view == 0 {
                donors.push(Donor { tile: tu, drawn, alone: true });
            }
            self.edge_blocks(vp, d, inner, &mut edges);
            vp.su.tiles[nt] = tu;
            nt += 1;
        }
        vp.su.n_tiles = nt as u32;
        if vp.view == 0 {
            mark_overlapped(donors, self.wb, self.hb);
        }
        edges.sort_unstable();
        edges.dedup();
        let covered = covers_frame(&vp.su.tiles[..nt], covered_area, w, h);
        (jobs, edges, covered)
    }

    /// One tile's dispatches over its inner blocks (copied from the first view where it drew the
    /// same tile); the blocks it drew itself.
    fn tile_jobs(
        &self,
        vp: &ViewPlan<'_>,
        donors: &[Donor],
        tu: &TileU,
        kernel: Kernel,
        inner: Option<([u32; 2], [u32; 2])>,
        jobs: &mut Vec<Dispatch>,
    ) -> Vec<([u32; 2], [u32; 2])> {
        let mut drawn = Vec::new();
        let Some((b0, n)) = inner else { return drawn };
        for (b0, n) in vp.clip(b0, n) {
            // Blocks the first view drew from the same tile are copied from there.
            let from = (vp.view > 0 && kernel != Kernel::TileCopy).then(|| donated(donors, tu, b0, n)).flatten();
            let (kernel, job) = match from {
                Some(off) => (
                    Kernel::ViewCopy,
                    JobU { tile: TileU { unit_x: off[0], unit_y: off[1], ..TileU::zeroed() }, ..JobU::blocks(b0, n) },
                ),
                None => (kernel, JobU { tile: *tu, ..JobU::blocks(b0, n) }),
            };
            // tile_copy and view_copy handle COPY_RUN (8) blocks per invocation.
            let g = if matches!(kernel, Kernel::TileCopy | Kernel::ViewCopy) {
                self.groups([n[0].div_ceil(8), n[1]])
            } else {
                self.groups(n)
            };
            jobs.push(Dispatch { kernel, job, groups: g, pass: 0, view: vp.view });
            if from.is_none() {
                drawn.push((b0, n));
            }
        }
        drawn
    }

    /// The dirty blocks a tile covers only in part: the edge job composes them per pixel.
    fn edge_blocks(&self, vp: &ViewPlan<'_>, d: [f32; 4], inner: Option<([u32; 2], [u32; 2])>, edges: &mut Vec<u32>) {
        let Some((b0, n)) = touched_blocks(d, self.wb, self.hb) else { return };
        for by in b0[1]..b0[1] + n[1] {
            for bx in b0[0]..b0[0] + n[0] {
                let is_inner = inner
                    .is_some_and(|(i0, i_n)| bx >= i0[0] && bx < i0[0] + i_n[0] && by >= i0[1] && by < i0[1] + i_n[1]);
                if !is_inner && vp.in_dirty(bx, by) {
                    edges.push(bx | (by << 16));
                }
            }
        }
    }
}

/// Normalised Gaussian half-kernel: weights[0] is the centre tap.
pub fn gaussian_half_kernel(sigma: f32) -> Vec<f32> {
    let sigma = sigma.max(0.01);
    let radius = (3.0 * sigma).ceil().clamp(1.0, 40.0) as usize;
    let mut w: Vec<f32> = (0..=radius).map(|i| (-(i as f32).powi(2) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = w[0] + 2.0 * w[1..].iter().sum::<f32>();
    for v in &mut w {
        *v /= total;
    }
    w
}

/// Resolution divisor of a blur: a wide Gaussian is computed on a smaller grid (sigma stays >= 2.5
/// there, so the result is indistinguishable from the full-resolution blur).
pub fn blur_factor(sigma: f32) -> u32 {
    ((sigma / 2.5).floor() as u32).clamp(1, 4)
}
