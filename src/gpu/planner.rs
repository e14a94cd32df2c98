//! The planner: a view's scene → the list of compute dispatches that draw it, each over only the
//! 4×2-pixel blocks it concerns, clipped to the view's dirty rectangles. Pure CPU work over the
//! compositor's slot and image tables, tested without a GPU.
//!
//! Per view, passes run in order: 0 fill, layers beneath the video, tiles, edge blocks; 1 blurs;
//! 2 layers; 3 copies of renditions, then masks and stickers.

use bytemuck::Zeroable;

use super::dirty::{inner_blocks, touched_blocks, BRect};
use super::kernels::Kernel;
use super::scene::{LayerKind, LayerSpec, MaskSpec, Scene};
use super::uniforms::{BlurU, JobU, LayerU, SceneU, TileU};
use crate::media::colour::{rgb_to_bt709_limited, yuv_to_out_rows};
use crate::media::{Matrix, Placement, PlaneLayout, Rect};

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
}

/// A view whose first pass the CPU draws: its tile jobs, and the jobs after them that the CPU
/// draws as well (its blurs and solid layers, when those are all it has).
pub(super) struct CpuView {
    pub view: usize,
    pub tiles: Vec<(Kernel, JobU)>,
    pub finish: Vec<Dispatch>,
}

/// A tile of the first view, the block rectangles its own dispatch drew this frame, and whether
/// those hold its pixels alone once pass 0 is done (no other tile reaches into them).
pub(super) struct Donor {
    tile: TileU,
    drawn: Vec<([u32; 2], [u32; 2])>,
    alone: bool,
}

impl Plan {
    pub fn has_pass(&self, pass: usize) -> bool {
        match pass {
            0 => true,
            _ => self.dispatches.iter().any(|d| d.pass == pass),
        }
    }
}

/// Where one input's planes sit in the plane buffer, and what it was uploaded as.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct SlotInfo {
    pub layout: PlaneLayout,
    pub width: u32,
    pub height: u32,
    pub strides: [u32; 3],
    pub matrix: Matrix,
    pub full_range: bool,
    /// Byte offsets of the planes (the third unused for NV12).
    pub base: [u32; 3],
}

impl SlotInfo {
    pub fn chroma_size(&self) -> (u32, u32) {
        match self.layout {
            PlaneLayout::Planar { sx, sy } => (self.width.div_ceil(sx), self.height.div_ceil(sy)),
            PlaneLayout::Nv12 => (self.width.div_ceil(2), self.height.div_ceil(2)),
        }
    }
    pub fn plane_bytes(&self) -> [u32; 3] {
        let (_, ch) = self.chroma_size();
        let y = self.strides[0] * self.height;
        match self.layout {
            PlaneLayout::Planar { .. } => [y, self.strides[1] * ch, self.strides[2] * ch],
            PlaneLayout::Nv12 => [y, self.strides[1] * ch, 0],
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
    wb: u32,
    hb: u32,
}

/// One view being planned: its index, its dirty rectangles, and its frame uniform.
struct ViewPlan<'a> {
    view: usize,
    dirty: &'a [BRect],
    su: SceneU,
}

impl ViewPlan<'_> {
    /// Clips a block rectangle to each dirty rectangle (they do not overlap, so blending layers
    /// are applied once per pixel).
    fn clip(&self, b0: [u32; 2], n: [u32; 2]) -> Vec<([u32; 2], [u32; 2])> {
        self.dirty
            .iter()
            .filter_map(|r| {
                let (x0, y0) = (b0[0].max(r[0]), b0[1].max(r[1]));
                let (x1, y1) = ((b0[0] + n[0]).min(r[2]), (b0[1] + n[1]).min(r[3]));
                (x1 > x0 && y1 > y0).then_some(([x0, y0], [x1 - x0, y1 - y0]))
            })
            .collect()
    }

    fn in_dirty(&self, bx: u32, by: u32) -> bool {
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

    fn groups(&self, b: [u32; 2]) -> (u32, u32) {
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
            let mut drawn = Vec::new();
            if let Some((b0, n)) = inner {
                for (b0, n) in vp.clip(b0, n) {
                    // Blocks the first view drew from the same tile are copied from there.
                    let from =
                        (vp.view > 0 && kernel != Kernel::TileCopy).then(|| donated(donors, &tu, b0, n)).flatten();
                    let (kernel, job) = match from {
                        Some(off) => (
                            Kernel::ViewCopy,
                            JobU {
                                tile: TileU { unit_x: off[0], unit_y: off[1], ..TileU::zeroed() },
                                ..JobU::blocks(b0, n)
                            },
                        ),
                        None => (kernel, JobU { tile: tu, ..JobU::blocks(b0, n) }),
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
            }
            if vp.view == 0 {
                donors.push(Donor { tile: tu, drawn, alone: true });
            }
            if let Some((b0, n)) = touched_blocks(d, self.wb, self.hb) {
                for by in b0[1]..b0[1] + n[1] {
                    for bx in b0[0]..b0[0] + n[0] {
                        let is_inner = inner.is_some_and(|(i0, i_n)| {
                            bx >= i0[0] && bx < i0[0] + i_n[0] && by >= i0[1] && by < i0[1] + i_n[1]
                        });
                        if !is_inner && vp.in_dirty(bx, by) {
                            edges.push(bx | (by << 16));
                        }
                    }
                }
            }
            vp.su.tiles[nt] = tu;
            nt += 1;
        }
        vp.su.n_tiles = nt as u32;
        if vp.view == 0 {
            mark_overlapped(donors, self.wb, self.hb);
        }
        edges.sort_unstable();
        edges.dedup();
        // The frame is covered when one tile covers it all, or when non-overlapping tiles add up to it.
        let rects: Vec<[f32; 4]> = vp.su.tiles[..nt].iter().map(|t| t.dst).collect();
        let full = |r: &[f32; 4]| r[0] <= 0.0 && r[1] <= 0.0 && r[2] >= w && r[3] >= h;
        let overlap = rects
            .iter()
            .enumerate()
            .any(|(i, a)| rects[i + 1..].iter().any(|b| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]));
        let covered = rects.iter().any(full) || (!overlap && covered_area >= (w as f64) * (h as f64) - 0.5);
        (jobs, edges, covered)
    }

    /// Stickers (pass 3): each polygon gets the image, fitted to its extent along the face's axes.
    fn plan_stickers(&self, plan: &mut Plan, vp: &ViewPlan<'_>, masks: &[MaskSpec]) {
        for m in masks {
            let Some(st) = m.sticker else { continue };
            let Some(&(off, iw, ih)) = self.images.get(st.image) else { continue };
            let (c, sn) = (st.angle.cos(), st.angle.sin());
            for poly in m.polygons.iter().filter(|p| p.len() >= 3) {
                let n = poly.len() as f32;
                let centre = [poly.iter().map(|p| p[0]).sum::<f32>() / n, poly.iter().map(|p| p[1]).sum::<f32>() / n];
                // Extent in the face's own axes.
                let (mut hu, mut hv) = (0.0f32, 0.0f32);
                for p in poly {
                    let (dx, dy) = (p[0] - centre[0], p[1] - centre[1]);
                    hu = hu.max((c * dx + sn * dy).abs());
                    hv = hv.max((-sn * dx + c * dy).abs());
                }
                let grow = 2.0 * m.feather + m.dilate * 2.0;
                let size = [(2.0 * hu + grow) * st.scale, (2.0 * hv + grow) * st.scale];
                let reach = 0.5 * (size[0] * size[0] + size[1] * size[1]).sqrt() + 1.0;
                let r = [centre[0] - reach, centre[1] - reach, centre[0] + reach, centre[1] + reach];
                let Some((b0, nb)) = touched_blocks(r, self.wb, self.hb) else { continue };
                let layer = LayerU::sticker(r, [off, iw, ih], size, centre, st.angle);
                plan.dispatches.push(Dispatch {
                    kernel: Kernel::LayerSticker,
                    job: JobU { layer, ..JobU::blocks(b0, nb) },
                    groups: self.groups(nb),
                    pass: 3,
                    view: vp.view,
                });
            }
        }
    }

    /// A blur (pass 1) or a mask (pass 3, over the layers), at reduced resolution, when its
    /// neighbourhood is redrawn: prepare, blur across, blur down, write back (a mask writes through
    /// its polygons' soft coverage).
    fn plan_blur(&self, plan: &mut Plan, vp: &ViewPlan<'_>, rect: Rect, b_sigma: f32, mask: Option<&MaskSpec>) {
        let pass = if mask.is_some() { 3 } else { 1 };
        let (fw, fh) = (self.width as f32, self.height as f32);
        let x0 = rect.x.floor().clamp(0.0, fw);
        let y0 = rect.y.floor().clamp(0.0, fh);
        let x1 = rect.x1().ceil().clamp(0.0, fw);
        let y1 = rect.y1().ceil().clamp(0.0, fh);
        if x1 <= x0 || y1 <= y0 || b_sigma <= 0.0 {
            return;
        }
        let factor = blur_factor(b_sigma);
        let sigma = b_sigma / factor as f32;
        let k = gaussian_half_kernel(sigma);
        // The shader computes raw taps exp(-k²/2σ²); the normalised centre tap is 1/sum(raw taps).
        let inv_norm = k[0];
        let reach = (3.0 * b_sigma).ceil();
        let src = [(x0 - reach).max(0.0), (y0 - reach).max(0.0), (x1 + reach).min(fw), (y1 + reach).min(fh)];
        let Some((s0, sn)) = touched_blocks(src, self.wb, self.hb) else { return };
        if vp.clip(s0, sn).is_empty() {
            return;
        }
        let lw = ((src[2] - src[0]) / factor as f32).ceil() as u32;
        let lh = ((src[3] - src[1]) / factor as f32).ceil() as u32;
        let bu = BlurU {
            rect: [x0, y0, x1, y1],
            src,
            factor,
            lw,
            lh,
            radius: (k.len() - 1) as u32,
            slot: plan.scratch_len,
            sigma,
            inv_norm,
            _pad: 0,
        };
        plan.scratch_len += lw * lh;
        let job = JobU { blur: bu, ..JobU::zeroed() };
        let lg = (lw.div_ceil(8), lh.div_ceil(8));
        for kernel in [Kernel::BlurPrep, Kernel::BlurH, Kernel::BlurV] {
            plan.dispatches.push(Dispatch { kernel, job, groups: lg, pass, view: vp.view });
        }
        if let Some((b0, n)) = touched_blocks([x0, y0, x1, y1], self.wb, self.hb) {
            let job = JobU { blur: bu, ..JobU::blocks(b0, n) };
            let (kernel, job) = match mask {
                None => (if factor >= 2 { Kernel::BlurWriteLowres } else { Kernel::BlurWrite }, job),
                Some(m) => (
                    Kernel::BlurWriteMasked,
                    JobU {
                        list_off: push_polygons(&mut plan.list, &m.polygons),
                        layer: LayerU::mask_edge(m.feather, m.dilate),
                        ..job
                    },
                ),
            };
            plan.dispatches.push(Dispatch { kernel, job, groups: self.groups(n), pass, view: vp.view });
        }
    }

    /// The kernel, uniform and touched blocks of a layer (None when it draws nothing).
    fn layer_job(&self, l: &LayerSpec) -> Option<(Kernel, LayerU, [u32; 2], [u32; 2])> {
        if l.color[3] <= 0.0 {
            return None;
        }
        let r = [l.rect.x, l.rect.y, l.rect.x1(), l.rect.y1()];
        let (b0, n) = touched_blocks(r, self.wb, self.hb)?;
        let lu = LayerU { rect: r, ..LayerU::zeroed() };
        let (kernel, lu) = match l.kind {
            LayerKind::Solid => {
                let y = rgb_to_bt709_limited([l.color[0], l.color[1], l.color[2]]);
                (Kernel::LayerSolid, LayerU { color: [y[0], y[1], y[2], l.color[3]], ..lu })
            }
            LayerKind::Image(i) => {
                let &(off, iw, ih) = self.images.get(i)?;
                (Kernel::LayerImage, LayerU { color: l.color, img: [off, iw, ih, 0], ..lu })
            }
            LayerKind::Bar(b) => {
                let split = l.rect.x + b.split.clamp(0.0, 1.0) * l.rect.w;
                let radius = b.radius.clamp(0.0, l.rect.h.min(l.rect.w) * 0.5);
                (
                    Kernel::LayerBar,
                    LayerU::bar(
                        r,
                        l.color,
                        [b.left_inner, b.right_inner, b.right_outer],
                        [split, b.divider.max(0.0), radius],
                    ),
                )
            }
        };
        Some((kernel, lu, b0, n))
    }
}

/// Where (in blocks, relative to `b0`) the first view drew the `n` blocks at `b0` of a tile `tu`
/// with the same pixels: a donor showing the same source at the same scale, moved by whole blocks,
/// that drew all of them this frame and alone.
fn donated(donors: &[Donor], tu: &TileU, b0: [u32; 2], n: [u32; 2]) -> Option<[i32; 2]> {
    donors.iter().filter(|d| d.alone).find_map(|d| {
        let off = translation(tu, &d.tile)?;
        let s0 = [b0[0] as i64 + off[0] as i64, b0[1] as i64 + off[1] as i64];
        let inside = |(r0, rn): &([u32; 2], [u32; 2])| {
            s0[0] >= r0[0] as i64
                && s0[1] >= r0[1] as i64
                && s0[0] + n[0] as i64 <= (r0[0] + rn[0]) as i64
                && s0[1] + n[1] as i64 <= (r0[1] + rn[1]) as i64
        };
        d.drawn.iter().any(inside).then_some(off)
    })
}

/// The offset in blocks from tile `a` to tile `b` when `a` is `b` moved by whole blocks: the same
/// source, crop, scale and colour, the same size, and the same source pixel at the same place within.
fn translation(a: &TileU, b: &TileU) -> Option<[i32; 2]> {
    let (dx, dy) = (a.dst[0] - b.dst[0], a.dst[1] - b.dst[1]);
    let whole = |v: f32, k: f32| v.fract() == 0.0 && (v as i64) % (k as i64) == 0;
    let same_size = b.dst[2] - b.dst[0] == a.dst[2] - a.dst[0] && b.dst[3] - b.dst[1] == a.dst[3] - a.dst[1];
    let same_sampling = bytemuck::bytes_of(&TileU { dst: [0.0; 4], origin: [0.0; 2], unit_x: 0, unit_y: 0, ..*a })
        == bytemuck::bytes_of(&TileU { dst: [0.0; 4], origin: [0.0; 2], unit_x: 0, unit_y: 0, ..*b });
    // a's output point q shows what b's q - (dx, dy) does: a.origin = b.origin - axis · (dx, dy).
    let ox = b.origin[0] - b.axis_x[0] * dx - b.axis_y[0] * dy - a.origin[0];
    let oy = b.origin[1] - b.axis_x[1] * dx - b.axis_y[1] * dy - a.origin[1];
    let aligned = ox.abs() < 1e-3 && oy.abs() < 1e-3;
    (whole(dx, 4.0) && whole(dy, 2.0) && same_size && same_sampling && aligned)
        .then(|| [-(dx / 4.0) as i32, -(dy / 2.0) as i32])
}

/// Marks donors that another tile of the first view reaches into (its blocks are not the donor's
/// pixels alone: a later tile or the edge job writes there).
fn mark_overlapped(donors: &mut [Donor], wb: u32, hb: u32) {
    let reach: Vec<Option<BRect>> = donors
        .iter()
        .map(|d| touched_blocks(d.tile.dst, wb, hb).map(|(b0, n)| [b0[0], b0[1], b0[0] + n[0], b0[1] + n[1]]))
        .collect();
    for i in 0..donors.len() {
        let Some(mine) = reach[i] else { continue };
        donors[i].alone =
            reach.iter().enumerate().all(|(j, r)| j == i || r.is_none_or(|r| !super::dirty::overlaps(&r, &mine)));
    }
}

/// Appends a mask's polygons to the list buffer (count, then each polygon's length and points);
/// returns where they start.
fn push_polygons(list: &mut Vec<u32>, polygons: &[Vec<[f32; 2]>]) -> u32 {
    let off = list.len() as u32;
    list.push(polygons.len() as u32);
    for poly in polygons {
        list.push(poly.len() as u32);
        list.extend(poly.iter().flat_map(|p| [p[0].to_bits(), p[1].to_bits()]));
    }
    off
}

/// The tile's uniform and the kernel that draws its inner blocks.
fn tile_uniform(info: &SlotInfo, p: &Placement) -> (TileU, Kernel) {
    let rows = yuv_to_out_rows(info.matrix, info.full_range);
    let (cw, ch) = info.chroma_size();
    let cscale = [cw as f32 / info.width as f32, ch as f32 / info.height as f32];
    let (u_base, v_base, c_step) = match info.layout {
        PlaneLayout::Planar { .. } => (info.base[1], info.base[2], 1),
        PlaneLayout::Nv12 => (info.base[1], info.base[1] + 1, 2),
    };
    // 1:1 at an even offset: the block copy path reproduces the source samples exactly.
    let even = |v: f32| v.round() == v && (v as i64) % 2 == 0;
    let unit = p.axis_x == glam::Vec2::X && p.axis_y == glam::Vec2::Y && even(p.origin.x) && even(p.origin.y);
    // Already the output's colour space, 4:2:0 and word-aligned: a plain byte copy.
    let copy = unit
        && info.matrix == Matrix::Bt709
        && !info.full_range
        && matches!(info.layout, PlaneLayout::Planar { sx: 2, sy: 2 } | PlaneLayout::Nv12)
        && (p.origin.x as i64) % 4 == 0
        && info.strides.iter().all(|s| s % 4 == 0);
    // Scaled but not rotated: rows and columns share their taps.
    let axis = p.axis_x.y == 0.0 && p.axis_y.x == 0.0 && p.axis_x.x > 0.0 && p.axis_y.y > 0.0;
    let kernel = if copy {
        Kernel::TileCopy
    } else if unit {
        Kernel::TileUnit
    } else if axis {
        Kernel::TileAxis
    } else {
        Kernel::TileScaled
    };
    let t = TileU {
        dst: [p.dst.x, p.dst.y, p.dst.x1(), p.dst.y1()],
        origin: p.origin.to_array(),
        axis_x: p.axis_x.to_array(),
        axis_y: p.axis_y.to_array(),
        crop_lo: p.crop_lo.to_array(),
        crop_hi: p.crop_hi.to_array(),
        cscale,
        m_y: rows[0],
        m_u: rows[1],
        m_v: rows[2],
        y_base: info.base[0],
        y_stride: info.strides[0],
        u_base,
        v_base,
        c_stride: info.strides[1],
        c_step,
        unit_x: p.origin.x as i32,
        unit_y: p.origin.y as i32,
    };
    (t, kernel)
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
