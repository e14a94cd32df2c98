//! Dirty-region reuse: which 4×2-pixel blocks of a view must be drawn again, from what its buffer
//! holds and what the new scene asks for. Pure geometry, no GPU.

use super::scene::{BlurSpec, MaskSpec, Scene};
use crate::media::Rect;

/// Dirty regions kept apart before they are merged into fewer, larger ones (each costs a dispatch per
/// layer).
const MAX_DIRTY_RECTS: usize = 8;

/// What a view's NV12 buffer holds: the scene, with the upload generation of each tile's slot and
/// the version of each image, so the next frame can tell what changed.
#[derive(Clone, Debug)]
pub(super) struct Drawn {
    pub scene: Scene,
    pub tile_gens: Vec<u64>,
    pub under_vers: Vec<u64>,
    pub layer_vers: Vec<u64>,
}

/// A frame's size in blocks.
pub(super) struct Frame {
    pub blocks: (u32, u32),
}

impl Frame {
    /// Block rectangles that must be drawn for `now`: the whole frame, or, when `prev` (what the
    /// buffer holds) is known, only where something differs from it.
    pub fn dirty_rects(&self, prev: Option<&Drawn>, now: &Drawn) -> Vec<BRect> {
        let (wb, hb) = self.blocks;
        let whole = vec![[0, 0, wb, hb]];
        let Some(d) = prev else { return whole };
        let (scene, p) = (&now.scene, &d.scene);
        if p.background != scene.background
            || p.under.len() != scene.under.len()
            || p.tiles.len() != scene.tiles.len()
            || p.layers.len() != scene.layers.len()
            || p.blurs.len() != scene.blurs.len()
            || p.masks.len() != scene.masks.len()
        {
            return whole;
        }
        let (px, mask_reach) = changed_pixels(d, now, self.blocks);
        let mut rects: Vec<BRect> = px
            .iter()
            .filter_map(|r| touched_blocks(*r, wb, hb).map(|(b0, n)| [b0[0], b0[1], b0[0] + n[0], b0[1] + n[1]]))
            .collect();
        // A blur reads around its rectangle: anything redrawn there is blurred again, over the whole
        // neighbourhood it reads (which is then redrawn unblurred first).
        let reaches: Vec<[f32; 4]> = scene.blurs.iter().map(|b| blur_reach(b, self.blocks)).chain(mask_reach).collect();
        for _ in 0..2 {
            for reach in &reaches {
                if let Some((b0, n)) = touched_blocks(*reach, wb, hb) {
                    let r = [b0[0], b0[1], b0[0] + n[0], b0[1] + n[1]];
                    if rects.iter().any(|x| overlaps(x, &r)) && !rects.iter().any(|x| contains(x, &r)) {
                        rects.push(r);
                    }
                }
            }
        }
        let rects = merge_rects(rects);
        let area: u64 = rects.iter().map(|r| (r[2] - r[0]) as u64 * (r[3] - r[1]) as u64).sum();
        if area * 4 > wb as u64 * hb as u64 * 3 {
            return whole;
        }
        rects
    }
}

/// The pixels a blur reads and writes: its rectangle grown by three sigmas, inside the frame.
fn blur_reach(b: &BlurSpec, (wb, hb): (u32, u32)) -> [f32; 4] {
    let (fw, fh) = ((wb * 4) as f32, (hb * 2) as f32);
    let g = (3.0 * b.sigma).ceil();
    [(b.rect.x - g).max(0.0), (b.rect.y - g).max(0.0), (b.rect.x1() + g).min(fw), (b.rect.y1() + g).min(fh)]
}

/// A mask reads and writes like a blur over its bounds.
fn mask_blur(m: &MaskSpec) -> Option<BlurSpec> {
    m.bounds().map(|r| BlurSpec { rect: Rect { x: r[0], y: r[1], w: r[2] - r[0], h: r[3] - r[1] }, sigma: m.sigma })
}

/// Pixel rectangles that changed between two frames of the same shape (tiles moved or with new
/// pictures, layers and images changed, blurs and masks moved, both where they were and are), and
/// the reach of every mask now.
fn changed_pixels(d: &Drawn, now: &Drawn, blocks: (u32, u32)) -> (Vec<[f32; 4]>, Vec<[f32; 4]>) {
    let (scene, p) = (&now.scene, &d.scene);
    let rect = |r: &Rect| [r.x, r.y, r.x1(), r.y1()];
    let mut px: Vec<[f32; 4]> = Vec::new();
    for (i, (a, b)) in scene.tiles.iter().zip(&p.tiles).enumerate() {
        if a != b {
            px.extend([rect(&a.placement.dst), rect(&b.placement.dst)]);
        } else if now.tile_gens[i] != d.tile_gens[i] {
            px.push(rect(&a.placement.dst));
        }
    }
    let layers = [
        (&scene.under, &p.under, &now.under_vers, &d.under_vers),
        (&scene.layers, &p.layers, &now.layer_vers, &d.layer_vers),
    ];
    for (new, old, nv, ov) in layers {
        for (i, (a, b)) in new.iter().zip(old.iter()).enumerate() {
            if a != b || nv[i] != ov[i] {
                px.extend([rect(&a.rect), rect(&b.rect)]);
            }
        }
    }
    let reach = |b: &BlurSpec| blur_reach(b, blocks);
    for (a, b) in scene.blurs.iter().zip(&p.blurs) {
        if a != b {
            px.extend([reach(a), reach(b)]);
        }
    }
    for (a, b) in scene.masks.iter().zip(&p.masks) {
        if a != b {
            px.extend(mask_blur(a).map(|m| reach(&m)).into_iter().chain(mask_blur(b).map(|m| reach(&m))));
        }
    }
    let mask_reach = scene.masks.iter().filter_map(mask_blur).map(|m| reach(&m)).collect();
    (px, mask_reach)
}

/// Block rectangle (x in 4-pixel words, y in row pairs) of blocks fully inside `r`.
pub(super) fn inner_blocks(r: [f32; 4]) -> Option<([u32; 2], [u32; 2])> {
    let bx0 = (r[0].max(0.0) / 4.0).ceil() as u32;
    let by0 = (r[1].max(0.0) / 2.0).ceil() as u32;
    let bx1 = (r[2] / 4.0).floor().max(0.0) as u32;
    let by1 = (r[3] / 2.0).floor().max(0.0) as u32;
    (bx1 > bx0 && by1 > by0).then_some(([bx0, by0], [bx1 - bx0, by1 - by0]))
}

/// Block rectangle of blocks touching `r` (clamped to the frame's `wb`×`hb` blocks).
pub(super) fn touched_blocks(r: [f32; 4], wb: u32, hb: u32) -> Option<([u32; 2], [u32; 2])> {
    let bx0 = (r[0].max(0.0) / 4.0).floor() as u32;
    let by0 = (r[1].max(0.0) / 2.0).floor() as u32;
    let bx1 = ((r[2] / 4.0).ceil().max(0.0) as u32).min(wb);
    let by1 = ((r[3] / 2.0).ceil().max(0.0) as u32).min(hb);
    (bx1 > bx0 && by1 > by0).then_some(([bx0, by0], [bx1 - bx0, by1 - by0]))
}

/// A rectangle of 4×2-pixel blocks: x0, y0, x1, y1 (exclusive).
pub(super) type BRect = [u32; 4];

pub(super) fn overlaps(a: &BRect, b: &BRect) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn contains(a: &BRect, b: &BRect) -> bool {
    a[0] <= b[0] && a[1] <= b[1] && a[2] >= b[2] && a[3] >= b[3]
}

fn bbox(a: &BRect, b: &BRect) -> BRect {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

pub(super) fn area(r: &BRect) -> u64 {
    (r[2] - r[0]) as u64 * (r[3] - r[1]) as u64
}

/// Merges rectangles until none overlap (so no pixel is drawn twice) and at most
/// [`MAX_DIRTY_RECTS`] remain, joining first the pairs whose bounding box wastes least.
pub(super) fn merge_rects(mut v: Vec<BRect>) -> Vec<BRect> {
    loop {
        let mut pair = None;
        'find: for i in 0..v.len() {
            for j in i + 1..v.len() {
                if overlaps(&v[i], &v[j]) {
                    pair = Some((i, j));
                    break 'find;
                }
            }
        }
        if pair.is_none() && v.len() > MAX_DIRTY_RECTS {
            let mut best = (u64::MAX, 0, 0);
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    let waste = area(&bbox(&v[i], &v[j])).saturating_sub(area(&v[i]) + area(&v[j]));
                    if waste < best.0 {
                        best = (waste, i, j);
                    }
                }
            }
            pair = Some((best.1, best.2));
        }
        let Some((i, j)) = pair else { return v };
        let m = bbox(&v[i], &v[j]);
        v.swap_remove(j);
        v[i] = m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::scene::{LayerKind, LayerSpec};

    fn drawn(scene: Scene) -> Drawn {
        let n = (scene.tiles.len(), scene.under.len(), scene.layers.len());
        Drawn { scene, tile_gens: vec![1; n.0], under_vers: vec![1; n.1], layer_vers: vec![1; n.2] }
    }

    fn layer(x: f32) -> LayerSpec {
        LayerSpec { rect: Rect::new(x, 100.0, 40.0, 20.0), color: [1.0; 4], kind: LayerKind::Solid }
    }

    #[test]
    fn without_a_previous_frame_everything_is_drawn() {
        let f = Frame { blocks: (320, 360) };
        assert_eq!(f.dirty_rects(None, &drawn(Scene::default())), vec![[0, 0, 320, 360]]);
    }

    #[test]
    fn an_unchanged_scene_draws_nothing_and_a_moved_layer_only_its_old_and_new_place() {
        let f = Frame { blocks: (320, 360) };
        let a = drawn(Scene { layers: vec![layer(100.0)], ..Scene::default() });
        assert!(f.dirty_rects(Some(&a), &a).is_empty());
        let b = drawn(Scene { layers: vec![layer(400.0)], ..Scene::default() });
        let r = f.dirty_rects(Some(&a), &b);
        assert_eq!(r.len(), 2, "{r:?}");
        // x in 4-pixel words, y in row pairs: 100..140 -> 25..35, 400..440 -> 100..110; rows 50..60.
        assert!(r.contains(&[25, 50, 35, 60]) && r.contains(&[100, 50, 110, 60]), "{r:?}");
    }

    #[test]
    fn a_new_image_version_redraws_that_layer() {
        let f = Frame { blocks: (320, 360) };
        let a = drawn(Scene { layers: vec![layer(100.0)], ..Scene::default() });
        let mut b = a.clone();
        b.layer_vers[0] = 2;
        assert_eq!(f.dirty_rects(Some(&a), &b), vec![[25, 50, 35, 60]]);
    }

    #[test]
    fn merged_rects_never_overlap_and_stay_few() {
        let v: Vec<BRect> = (0..20).map(|i| [i * 3, i, i * 3 + 5, i + 4]).collect();
        let m = merge_rects(v.clone());
        assert!(m.len() <= MAX_DIRTY_RECTS);
        for (i, a) in m.iter().enumerate() {
            assert!(m[i + 1..].iter().all(|b| !overlaps(a, b)));
        }
        // Every input block is still covered.
        assert!(v.iter().all(|r| m.iter().any(|x| contains(x, r))));
    }
}
