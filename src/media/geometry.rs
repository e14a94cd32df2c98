//! Where each input lands in the output: cells per layout, and fit (letterbox) or fill (centre crop)
//! inside each cell, including the input's rotation. Pure CPU arithmetic, so it is unit-tested directly.

use glam::{Mat2, Vec2};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One row, equal columns (the co-stream split screen).
    SideBySide,
    /// The first input fills the frame; the others are small windows stacked up the right side.
    Pip,
    /// A near-square grid, row-major.
    Grid,
    /// One column, equal rows (portrait stacks).
    Vstack,
}

impl std::str::FromStr for Layout {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Layout> {
        match s {
            "side-by-side" | "sbs" => Ok(Layout::SideBySide),
            "pip" => Ok(Layout::Pip),
            "grid" => Ok(Layout::Grid),
            "vstack" => Ok(Layout::Vstack),
            other => Err(invalid("layout", format!("{other:?}; expected side-by-side, pip, grid or vstack"))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Scale to cover the cell, crop the overflow around the centre.
    #[default]
    Fill,
    /// Scale to fit inside the cell, the rest of the cell shows the background (black bars).
    Fit,
}

impl std::str::FromStr for Fit {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Fit> {
        match s {
            "fill" | "crop" => Ok(Fit::Fill),
            "fit" | "letterbox" => Ok(Fit::Fit),
            other => Err(invalid("fit", format!("{other:?}; expected fit or fill"))),
        }
    }
}

/// An axis-aligned rectangle in output pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, w, h }
    }
    pub fn x1(&self) -> f32 {
        self.x + self.w
    }
    pub fn y1(&self) -> f32 {
        self.y + self.h
    }
}

/// The cells of `layout` for `n` inputs in a `w`×`h` frame, in drawing order (later on top).
pub fn cells(layout: Layout, n: usize, w: u32, h: u32) -> Vec<Rect> {
    let (wf, hf) = (w as f32, h as f32);
    if n == 0 {
        return Vec::new();
    }
    // Cell edges are rounded to even pixels so chroma blocks never straddle two inputs.
    let even = |v: f32| (v / 2.0).round() * 2.0;
    match layout {
        Layout::SideBySide => (0..n)
            .map(|i| {
                let x0 = even(wf * i as f32 / n as f32);
                let x1 = even(wf * (i + 1) as f32 / n as f32);
                Rect::new(x0, 0.0, x1 - x0, hf)
            })
            .collect(),
        Layout::Vstack => (0..n)
            .map(|i| {
                let y0 = even(hf * i as f32 / n as f32);
                let y1 = even(hf * (i + 1) as f32 / n as f32);
                Rect::new(0.0, y0, wf, y1 - y0)
            })
            .collect(),
        Layout::Grid => {
            let cols = (n as f32).sqrt().ceil() as usize;
            let rows = n.div_ceil(cols);
            (0..n)
                .map(|i| {
                    let (c, r) = (i % cols, i / cols);
                    let x0 = even(wf * c as f32 / cols as f32);
                    let x1 = even(wf * (c + 1) as f32 / cols as f32);
                    let y0 = even(hf * r as f32 / rows as f32);
                    let y1 = even(hf * (r + 1) as f32 / rows as f32);
                    Rect::new(x0, y0, x1 - x0, y1 - y0)
                })
                .collect()
        }
        Layout::Pip => {
            let mut v = vec![Rect::new(0.0, 0.0, wf, hf)];
            let (pw, ph) = (even(wf / 4.0), even(hf / 4.0));
            let margin = even(hf / 30.0);
            for i in 1..n {
                let y = hf - margin - (ph + margin) * i as f32;
                v.push(Rect::new(wf - margin - pw, y.max(0.0), pw, ph));
            }
            v
        }
    }
}

/// A decoded picture's geometry as the GPU sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceGeom {
    /// Coded luma size.
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation to apply for display: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Sample aspect ratio (pixel width / pixel height); 1.0 for square pixels.
    pub sar: f32,
}

impl SourceGeom {
    /// Size as displayed (after rotation and pixel aspect).
    pub fn display_size(&self) -> Vec2 {
        let w = self.width as f32 * self.sar.max(1e-3);
        let h = self.height as f32;
        if self.rotation % 180 == 90 {
            Vec2::new(h, w)
        } else {
            Vec2::new(w, h)
        }
    }
}

/// How one input is drawn: the visible output rect and the affine map from output pixel coordinates to
/// source luma coordinates, plus the crop window in source coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub dst: Rect,
    pub origin: Vec2,
    pub axis_x: Vec2,
    pub axis_y: Vec2,
    pub crop_lo: Vec2,
    pub crop_hi: Vec2,
}

impl Placement {
    /// Source luma coordinate shown at output point `p`.
    pub fn map(&self, p: Vec2) -> Vec2 {
        self.origin + self.axis_x * p.x + self.axis_y * p.y
    }
}

/// Places a source in a cell with fit or fill.
pub fn place(src: SourceGeom, cell: Rect, fit: Fit) -> Placement {
    let disp = src.display_size();
    let cell_size = Vec2::new(cell.w, cell.h);
    let (dst, crop_o, crop_s) = match fit {
        Fit::Fill => {
            let scale = (cell.w / disp.x).max(cell.h / disp.y);
            let crop_s = cell_size / scale;
            let crop_o = (disp - crop_s) * 0.5;
            (cell, crop_o, crop_s)
        }
        Fit::Fit => {
            let scale = (cell.w / disp.x).min(cell.h / disp.y);
            // Whole even pixels: bars are crisp and chroma blocks stay inside one picture.
            let w = ((disp.x * scale / 2.0).round() * 2.0).clamp(2.0, cell.w);
            let h = ((disp.y * scale / 2.0).round() * 2.0).clamp(2.0, cell.h);
            let x = cell.x + ((cell.w - w) / 4.0).round() * 2.0;
            let y = cell.y + ((cell.h - h) / 4.0).round() * 2.0;
            (Rect::new(x, y, w, h), Vec2::ZERO, disp)
        }
    };
    // Output -> display coordinates (continuous, pixel edges at integers).
    let s = crop_s / Vec2::new(dst.w, dst.h);
    let d_origin = crop_o - Vec2::new(dst.x, dst.y) * s;
    // Display -> source (un-rotate and undo the pixel aspect).
    let (sw, sh) = (src.width as f32, src.height as f32);
    let sar = src.sar.max(1e-3);
    let (m, t) = match src.rotation % 360 {
        90 => (Mat2::from_cols(Vec2::new(0.0, -1.0), Vec2::new(1.0, 0.0)), Vec2::new(0.0, sh)),
        180 => (Mat2::from_cols(Vec2::new(-1.0, 0.0), Vec2::new(0.0, -1.0)), Vec2::new(sw, sh)),
        270 => (Mat2::from_cols(Vec2::new(0.0, 1.0), Vec2::new(-1.0, 0.0)), Vec2::new(sw, 0.0)),
        _ => (Mat2::IDENTITY, Vec2::ZERO),
    };
    // Display x is stretched by the pixel aspect before rotation; compensate on the source x axis.
    let unsar = Mat2::from_diagonal(Vec2::new(1.0 / sar, 1.0));
    // The translation is already in source units: it undoes the rotation of the coded extent.
    let rot = |d: Vec2| unsar * (m * d) + t;
    let origin = rot(d_origin);
    let axis_x = unsar * (m * Vec2::new(s.x, 0.0));
    let axis_y = unsar * (m * Vec2::new(0.0, s.y));
    let a = rot(crop_o);
    let b = rot(crop_o + crop_s);
    Placement {
        dst,
        origin,
        axis_x,
        axis_y,
        crop_lo: a.min(b).max(Vec2::ZERO),
        crop_hi: a.max(b).min(Vec2::new(sw, sh)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(w: u32, h: u32, rotation: u32) -> SourceGeom {
        SourceGeom { width: w, height: h, rotation, sar: 1.0 }
    }

    #[test]
    fn side_by_side_fill_crops_the_centre() {
        let c = cells(Layout::SideBySide, 2, 1280, 720);
        assert_eq!(c[1], Rect::new(640.0, 0.0, 640.0, 720.0));
        let p = place(geom(1280, 720, 0), c[0], Fit::Fill);
        assert_eq!(p.dst, c[0]);
        // The centre 640 columns of the source: 320..960.
        assert_eq!(p.map(Vec2::new(0.0, 0.0)), Vec2::new(320.0, 0.0));
        assert_eq!(p.map(Vec2::new(640.0, 720.0)), Vec2::new(960.0, 720.0));
    }

    #[test]
    fn fit_letterboxes_portrait_in_landscape_cell() {
        let p = place(geom(720, 1280, 0), Rect::new(0.0, 0.0, 640.0, 720.0), Fit::Fit);
        // 720x1280 scaled to height 720 -> 405 wide, rounded to 406 and centred.
        assert_eq!(p.dst.h, 720.0);
        assert_eq!(p.dst.w, 406.0);
        assert_eq!(p.dst.x, 118.0);
    }

    #[test]
    fn rotation_90_maps_display_top_left_to_source_bottom_left() {
        // A 1280x720 coded picture shown rotated 90° clockwise is 720x1280 on screen.
        let g = geom(1280, 720, 90);
        assert_eq!(g.display_size(), Vec2::new(720.0, 1280.0));
        let p = place(g, Rect::new(0.0, 0.0, 720.0, 1280.0), Fit::Fill);
        // Display top-left shows the coded bottom-left corner.
        assert_eq!(p.map(Vec2::new(0.0, 0.0)), Vec2::new(0.0, 720.0));
        assert_eq!(p.map(Vec2::new(720.0, 0.0)), Vec2::new(0.0, 0.0));
        assert_eq!(p.crop_lo, Vec2::ZERO);
        assert_eq!(p.crop_hi, Vec2::new(1280.0, 720.0));
    }

    #[test]
    fn grid_and_pip_cells() {
        let g = cells(Layout::Grid, 4, 1280, 720);
        assert_eq!(g[3], Rect::new(640.0, 360.0, 640.0, 360.0));
        let p = cells(Layout::Pip, 2, 1280, 720);
        assert_eq!(p[0], Rect::new(0.0, 0.0, 1280.0, 720.0));
        assert!(p[1].x1() <= 1280.0 && p[1].w == 320.0);
    }
}

/// An output frame size the pipeline can produce: both sides at least 1, width a multiple of 4
/// and height even (the GPU works in 4×2-pixel blocks), at most 8192. The one place this rule is
/// checked; the service bounds sizes further by `limits::MAX_SIZE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSize(u32, u32);

impl FrameSize {
    pub fn new(w: u32, h: u32) -> Result<FrameSize> {
        if w == 0 || h == 0 || w > 8192 || h > 8192 {
            return Err(invalid("output size", format!("{w}x{h}: each side 1 to 8192")));
        }
        if w % 4 != 0 || h % 2 != 0 {
            return Err(invalid("output size", format!("{w}x{h}: width must be a multiple of 4 and height even")));
        }
        Ok(FrameSize(w, h))
    }

    pub fn get(self) -> (u32, u32) {
        (self.0, self.1)
    }
}

impl std::str::FromStr for FrameSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<FrameSize> {
        let bad = || invalid("output size", format!("{s:?}; expected WIDTHxHEIGHT, e.g. 1280x720"));
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        FrameSize::new(w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?)
    }
}
