//! Tiles in a plan: each tile's uniform and kernel, whether the tiles cover the frame, and which
//! blocks a later view can copy from the first view instead of drawing them again.

use super::dirty::{touched_blocks, BRect};
use super::kernels::Kernel;
use super::uniforms::TileU;
use crate::media::colour::yuv_to_out_rows;
use crate::media::{Matrix, Placement, PlaneLayout};

/// A tile of the first view, the block rectangles its own dispatch drew this frame, and whether
/// those hold its pixels alone once pass 0 is done (no other tile reaches into them).
pub(super) struct Donor {
    pub(super) tile: TileU,
    pub(super) drawn: Vec<([u32; 2], [u32; 2])>,
    pub(super) alone: bool,
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

/// The frame is covered when one tile covers it all, or when non-overlapping tiles add up to it.
pub(super) fn covers_frame(tiles: &[TileU], covered_area: f64, w: f32, h: f32) -> bool {
    let rects: Vec<[f32; 4]> = tiles.iter().map(|t| t.dst).collect();
    let full = |r: &[f32; 4]| r[0] <= 0.0 && r[1] <= 0.0 && r[2] >= w && r[3] >= h;
    let overlap = rects
        .iter()
        .enumerate()
        .any(|(i, a)| rects[i + 1..].iter().any(|b| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]));
    rects.iter().any(full) || (!overlap && covered_area >= (w as f64) * (h as f64) - 0.5)
}

/// Where (in blocks, relative to `b0`) the first view drew the `n` blocks at `b0` of a tile `tu`
/// with the same pixels: a donor showing the same source at the same scale, moved by whole blocks,
/// that drew all of them this frame and alone.
pub(super) fn donated(donors: &[Donor], tu: &TileU, b0: [u32; 2], n: [u32; 2]) -> Option<[i32; 2]> {
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
pub(super) fn translation(a: &TileU, b: &TileU) -> Option<[i32; 2]> {
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
pub(super) fn mark_overlapped(donors: &mut [Donor], wb: u32, hb: u32) {
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
pub(super) fn push_polygons(list: &mut Vec<u32>, polygons: &[Vec<[f32; 2]>]) -> u32 {
    let off = list.len() as u32;
    list.push(polygons.len() as u32);
    for poly in polygons {
        list.push(poly.len() as u32);
        list.extend(poly.iter().flat_map(|p| [p[0].to_bits(), p[1].to_bits()]));
    }
    off
}

/// The tile's uniform and the kernel that draws its inner blocks.
pub(super) fn tile_uniform(info: &SlotInfo, p: &Placement) -> (TileU, Kernel) {
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
