//! The planner's effects over the picture: stickers over masked organs, blurs (optionally inside a
//! face mask), and solid, image and PK bar layers.

use super::dirty::touched_blocks;
use super::kernels::Kernel;
use super::plan_tiles::push_polygons;
use super::planner::{blur_factor, gaussian_half_kernel, Dispatch, Plan, Planner, ViewPlan};
use super::scene::{LayerKind, LayerSpec, MaskSpec};
use bytemuck::Zeroable;

use super::uniforms::{BlurU, JobU, LayerU};
use crate::media::colour::rgb_to_bt709_limited;
use crate::media::Rect;

impl Planner<'_> {
    /// Stickers (pass 3): each polygon gets the image, fitted to its extent along the face's axes.
    pub(super) fn plan_stickers(&self, plan: &mut Plan, vp: &ViewPlan<'_>, masks: &[MaskSpec]) {
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
                let mut r = [centre[0] - reach, centre[1] - reach, centre[0] + reach, centre[1] + reach];
                if let Some(c) = m.clip {
                    r = [r[0].max(c[0]), r[1].max(c[1]), r[2].min(c[2]), r[3].min(c[3])];
                }
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
    pub(super) fn plan_blur(
        &self,
        plan: &mut Plan,
        vp: &ViewPlan<'_>,
        rect: Rect,
        b_sigma: f32,
        mask: Option<&MaskSpec>,
    ) {
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
    pub(super) fn layer_job(&self, l: &LayerSpec) -> Option<(Kernel, LayerU, [u32; 2], [u32; 2])> {
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
