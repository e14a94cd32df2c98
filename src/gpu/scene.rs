//! What the GPU is asked to draw: tiles of the uploaded inputs, layers (solid, image, the PK bar),
//! blurs and face masks, per view; and what it hands back (finished NV12 frames, GPU times).

use crate::media::geometry::{Placement, Rect};

/// One input drawn into the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TileSpec {
    /// Index of the input slot (see [`super::Compositor::upload`]).
    pub slot: usize,
    pub placement: Placement,
}

/// Straight-alpha RGBA, 0..1.
pub type Rgba = [f32; 4];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerKind {
    Solid,
    /// An image of the image atlas, by index (see [`super::Compositor::set_images`]).
    Image(usize),
    /// A two-sided progress bar (the PK bar); `color` is the left side's outer end.
    Bar(BarSpec),
}

/// The PK bar's look: two gradients meeting at the split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarSpec {
    /// Left gradient's inner end (at the split).
    pub left_inner: Rgba,
    /// Right gradient: at the split, and at the bar's right end.
    pub right_inner: Rgba,
    pub right_outer: Rgba,
    /// Where the sides meet, as a fraction of the bar's width from its left end.
    pub split: f32,
    /// Width of the white divider at the split, in pixels (0: none).
    pub divider: f32,
    /// Corner radius in pixels.
    pub radius: f32,
}

/// A layer: a solid rectangle, an image or a bar, drawn in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSpec {
    pub rect: Rect,
    pub color: Rgba,
    pub kind: LayerKind,
}

/// A Gaussian blur over a rectangle of the video picture (beneath the layers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlurSpec {
    pub rect: Rect,
    pub sigma: f32,
}

/// A soft-edged blur confined to polygons (face organs), drawn after the blurs, beneath the layers.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskSpec {
    /// Output pixels; each polygon is covered (their union).
    pub polygons: Vec<Vec<[f32; 2]>>,
    /// Width of the soft edge, in pixels.
    pub feather: f32,
    /// Pushes the outline outwards, in pixels (a held mask while the face is not seen).
    pub dilate: f32,
    /// Blur strength; 0 draws nothing.
    pub sigma: f32,
    /// Instead of the blur: stickers (one per polygon), each fitted and turned to its polygon.
    pub sticker: Option<Sticker>,
    /// Pixels outside this rectangle (x0, y0, x1, y1) are never changed: the tile of the face the
    /// mask belongs to, so a face at a PK's split is never masked on the other anchor's side.
    pub clip: Option<[f32; 4]>,
}

/// A sticker image (an image of the atlas, see [`super::Compositor::set_images`]) and its orientation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sticker {
    pub image: usize,
    /// Radians (the face's roll, from the eye line).
    pub angle: f32,
    /// Size relative to the polygon's extent (1 fits it).
    pub scale: f32,
}

impl MaskSpec {
    /// Pixel rectangle the mask can change: its polygons' bounds grown by the soft edge.
    pub fn bounds(&self) -> Option<[f32; 4]> {
        let pts = self.polygons.iter().flatten();
        let g = self.feather.max(0.5) + self.dilate.max(0.0) + 1.0;
        let b = pts.fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
            [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
        });
        let b = [b[0] - g, b[1] - g, b[2] + g, b[3] + g];
        let b = match self.clip {
            Some(c) => [b[0].max(c[0]), b[1].max(c[1]), b[2].min(c[2]), b[3].min(c[3])],
            None => b,
        };
        (b[2] > b[0] && b[3] > b[1]).then_some(b)
    }
}

/// Everything that describes one output frame besides the input pictures.
#[derive(Clone, Debug, Default)]
pub struct Scene {
    pub background: [f32; 3],
    /// Fixed elements beneath the video (a background image, say), drawn in order after the fill.
    pub under: Vec<LayerSpec>,
    pub tiles: Vec<TileSpec>,
    pub layers: Vec<LayerSpec>,
    pub blurs: Vec<BlurSpec>,
    /// Masks over face organs (per-viewer renditions), applied last, over everything.
    pub masks: Vec<MaskSpec>,
    /// A rendition of another view: this view starts from view `k`'s finished picture (k before
    /// this one, itself no copy) and only adds its own masks; its tiles, blurs and layers are
    /// ignored. One composition, several masked renditions.
    pub copy_of: Option<usize>,
    /// An idle view (a rendition no viewer needs now): nothing is drawn, copied or read back for
    /// it, and it delivers no frame; when it draws again, it is drawn whole.
    pub skip: bool,
}

/// Tuning knobs, exposed as flags so the benchmark can sweep them.
#[derive(Clone, Copy, Debug)]
pub struct GpuOptions {
    /// Workgroup size of the full-frame pass, in 4×2-pixel blocks.
    pub workgroup: (u32, u32),
    /// Staging buffers in flight; 2 or more keep the GPU from waiting on the CPU.
    pub readback_depth: usize,
    /// Record GPU timestamps per pass (when the adapter supports them).
    pub gpu_timing: bool,
    /// Redraw only the regions whose content changed since the previous frame of the same view,
    /// keeping the rest of the previous output (off: every frame is drawn whole).
    pub dirty_reuse: bool,
    /// On a software device (lavapipe), the CPU draws what it does faster than the device: 1:1
    /// and scaled tiles from a host copy of the decoded planes, and after them a view's blurs and
    /// solid layers (see `gpu/cpu_copy.rs`); off: everything is the kernels'.
    pub cpu_draw: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { workgroup: (8, 8), readback_depth: 3, gpu_timing: false, dirty_reuse: true, cpu_draw: true }
    }
}

/// Time of the passes of one frame, in milliseconds: GPU timestamps, plus the CPU's drawing on
/// software devices where it draws parts of the frame itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuTimes {
    pub blur_ms: f64,
    pub composite_ms: f64,
}

/// A finished frame as handed to the caller: NV12 bytes, luma then interleaved chroma, stride = width.
pub struct Ready<'a> {
    /// Which view (see [`super::Compositor::with_views`]); 0 for a single-view compositor.
    pub view: usize,
    pub tag: u64,
    pub nv12: &'a [u8],
    pub gpu: Option<GpuTimes>,
    /// CPU time spent waiting for this frame's mapping (zero when it was already done).
    pub wait_ms: f64,
}

/// Limits of one frame's description (fixed-size arrays in the scene uniform).
pub const MAX_TILES: usize = 16;
pub const MAX_LAYERS: usize = 64;
pub const MAX_BLURS: usize = 16;
