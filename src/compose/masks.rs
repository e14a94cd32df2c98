//! Face masks of a view: the organs its level hides, mapped from each tracked face's landmarks in
//! the input's pixels to the output's.

use super::slot::Slot;
use super::view::{MaskLevel, MaskStyle};
use crate::gpu::{MaskSpec, Sticker, TileSpec};

/// The masks of a view: the chosen organs of every face of every tile, mapped from the input's
/// pixels to the output's. A face that is held (not seen in this frame) gets a wider mask.
pub(crate) fn face_masks(
    level: &MaskLevel,
    slots: &[Slot],
    tiles: &[TileSpec],
    sticker: Option<usize>,
) -> Vec<MaskSpec> {
    if (level.sigma <= 0.0 && level.style == MaskStyle::Blur) || level.organs.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in tiles {
        let p = &t.placement;
        // Output = M⁻¹ (source − origin), M = [axis_x axis_y].
        let det = p.axis_x.x * p.axis_y.y - p.axis_y.x * p.axis_x.y;
        if det.abs() < 1e-9 {
            continue;
        }
        let to_out = |s: [f32; 2]| {
            let (dx, dy) = (s[0] - p.origin.x, s[1] - p.origin.y);
            [(dx * p.axis_y.y - dy * p.axis_y.x) / det, (p.axis_x.x * dy - p.axis_x.y * dx) / det]
        };
        let scale = (1.0 / det.abs()).sqrt();
        // The tile, shrunk to whole chroma samples (2×2 pixels): its neighbour's never change.
        let d = &p.dst;
        let even_up = |v: f32| (v / 2.0).ceil() * 2.0;
        let even_down = |v: f32| (v / 2.0).floor() * 2.0;
        let clip = Some([even_up(d.x), even_up(d.y), even_down(d.x1()), even_down(d.y1())]);
        for face in &slots[t.slot].faces {
            let pts: Vec<[f32; 2]> = face.landmarks.iter().map(|&q| to_out(q)).collect();
            let polygons = level.organs.iter().flat_map(|o| o.polygons(&pts)).collect();
            let feather = level.feather * scale.max(0.25);
            // The soft edge lies outside the organ, which is covered fully; a held face's mask grows.
            // The face's roll from the eye corners, for the sticker.
            let (r, l) = (pts.get(33).copied().unwrap_or([0.0, 0.0]), pts.get(263).copied().unwrap_or([1.0, 0.0]));
            let sticker = match (level.style, sticker) {
                (MaskStyle::Sticker, Some(image)) => {
                    Some(Sticker { image, angle: (l[1] - r[1]).atan2(l[0] - r[0]), scale: 1.15 })
                }
                _ => None,
            };
            out.push(MaskSpec {
                polygons,
                feather,
                dilate: if face.held { 3.0 * feather + 4.0 } else { feather },
                sigma: level.sigma * scale.max(0.25),
                sticker,
                clip,
            });
        }
    }
    out
}
