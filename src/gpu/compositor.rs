//! The GPU half of the frame path: decoded planes in, NV12 out.
//!
//! The output frame is an NV12 storage buffer (BT.709, limited range) written by small compute
//! dispatches, each over only the 4×2-pixel blocks it concerns: one per tile (a 1:1 copy-with-matrix
//! or a bilinear scale), one for blocks where tiles meet, four per blur rectangle (at reduced
//! resolution) and one per layer. Nothing is converted to RGB and no pass covers the frame twice.
//! The CPU plans the dispatches because software Vulkan (lavapipe) pays for both sides of every shader
//! branch; on a real GPU the plan costs nothing either.
//!
//! The NV12 buffer is copied into one of several staging buffers and mapped asynchronously, so the
//! CPU collects frame N while the GPU already works on N+1 (see [`Compositor::render`]).
//!
//! Input planes are copied as they come from the decoder (with their strides) into one storage
//! buffer; lavapipe has no texture arrays and the shaders read bytes directly, so any number of inputs
//! costs the same bindings.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use super::colour::{rgb_to_bt709_limited, yuv_to_out_rows, Matrix};
use super::device::Gpu;
use crate::error::{invalid, Error, Result};
use crate::layout::{Placement, Rect};


/// How the planes of a decoded picture are laid out. Anything else is converted before upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlaneLayout {
    /// Three planes; chroma subsampled by (sx, sy): 4:2:0 is (2, 2), 4:2:2 (2, 1), 4:4:4 (1, 1).
    Planar { sx: u32, sy: u32 },
    /// Luma plane + one interleaved UV plane at half size.
    Nv12,
}

/// A borrowed decoded picture: plane bytes as the decoder left them, with their strides.
pub struct Picture<'a> {
    pub layout: PlaneLayout,
    pub width: u32,
    pub height: u32,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub matrix: Matrix,
    pub full_range: bool,
}

/// One input drawn into the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TileSpec {
    /// Index of the input slot (see [`Compositor::upload`]).
    pub slot: usize,
    pub placement: Placement,
}

/// Straight-alpha RGBA, 0..1.
pub type Rgba = [f32; 4];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerKind {
    Solid,
    /// An image of the image atlas, by index (see [`Compositor::set_images`]).
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
}

/// A sticker image (an image of the atlas, see [`Compositor::set_images`]) and its orientation.
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
        let b = pts.fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]);
        (b[2] >= b[0] && b[3] >= b[1]).then_some([b[0] - g, b[1] - g, b[2] + g, b[3] + g])
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
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { workgroup: (8, 8), readback_depth: 3, gpu_timing: false, dirty_reuse: true }
    }
}

/// GPU time of the passes of one frame, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuTimes {
    pub blur_ms: f64,
    pub composite_ms: f64,
}

/// A finished frame as handed to the caller: NV12 bytes, luma then interleaved chroma, stride = width.
pub struct Ready<'a> {
    /// Which view (see [`Compositor::with_views`]); 0 for a single-view compositor.
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
const JOB_SLOT: u64 = 512;
const MAX_JOBS: usize = 1024;
/// Dirty regions kept apart before they are merged into fewer, larger ones (each costs a dispatch per
/// layer).
const MAX_DIRTY_RECTS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TileU {
    dst: [f32; 4],
    origin: [f32; 2],
    axis_x: [f32; 2],
    axis_y: [f32; 2],
    crop_lo: [f32; 2],
    crop_hi: [f32; 2],
    cscale: [f32; 2],
    m_y: [f32; 4],
    m_u: [f32; 4],
    m_v: [f32; 4],
    y_base: u32,
    y_stride: u32,
    u_base: u32,
    v_base: u32,
    c_stride: u32,
    c_step: u32,
    unit_x: i32,
    unit_y: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LayerU {
    rect: [f32; 4],
    color: [f32; 4],
    img: [u32; 4],
    c2: [f32; 4],
    c3: [f32; 4],
    c4: [f32; 4],
    bar: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BlurU {
    rect: [f32; 4],
    src: [f32; 4],
    factor: u32,
    lw: u32,
    lh: u32,
    radius: u32,
    slot: u32,
    sigma: f32,
    inv_norm: f32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SceneU {
    size: [u32; 2],
    n_tiles: u32,
    _pad: u32,
    background: [f32; 4],
    tiles: [TileU; MAX_TILES],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct JobU {
    block0: [u32; 2],
    blocks: [u32; 2],
    list_off: u32,
    list_len: u32,
    _pad: [u32; 2],
    tile: TileU,
    layer: LayerU,
    blur: BlurU,
}

impl JobU {
    fn blocks(block0: [u32; 2], blocks: [u32; 2]) -> JobU {
        JobU { block0, blocks, ..JobU::zeroed() }
    }
}

/// Where one input's planes sit in the plane buffer, and what it was uploaded as.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SlotInfo {
    layout: PlaneLayout,
    width: u32,
    height: u32,
    strides: [u32; 3],
    matrix: Matrix,
    full_range: bool,
    /// Byte offsets of the planes (the third unused for NV12).
    base: [u32; 3],
}

impl SlotInfo {
    fn chroma_size(&self) -> (u32, u32) {
        match self.layout {
            PlaneLayout::Planar { sx, sy } => (self.width.div_ceil(sx), self.height.div_ceil(sy)),
            PlaneLayout::Nv12 => (self.width.div_ceil(2), self.height.div_ceil(2)),
        }
    }
    fn plane_bytes(&self) -> [u32; 3] {
        let (_, ch) = self.chroma_size();
        let y = self.strides[0] * self.height;
        match self.layout {
            PlaneLayout::Planar { .. } => [y, self.strides[1] * ch, self.strides[2] * ch],
            PlaneLayout::Nv12 => [y, self.strides[1] * ch, 0],
        }
    }
}

struct Staging {
    /// One per view, each with its mapping state: 0 idle, 1 mapping requested, 2 mapped, 3 failed.
    views: Vec<(wgpu::Buffer, Arc<AtomicU8>)>,
    tag: u64,
    submission: Option<wgpu::SubmissionIndex>,
    timed: bool,
    /// The frame ran blur/layer passes (otherwise their timestamps are stale).
    had_blur: bool,
    had_layers: bool,
}

const MAP_PENDING: u8 = 1;
const MAP_DONE: u8 = 2;
const MAP_FAILED: u8 = 3;
/// Begin/end timestamps of the tiles, blur and layer passes.
const TS_QUERIES: u32 = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kernel {
    Fill,
    TileCopy,
    TileUnit,
    TileScaled,
    Edges,
    BlurPrep,
    BlurH,
    BlurV,
    BlurWrite,
    BlurWriteLowres,
    BlurWriteMasked,
    LayerSolid,
    LayerImage,
    LayerBar,
    LayerSticker,
}

const KERNELS: [(Kernel, &str, &str); 15] = [
    (Kernel::Fill, "composite", "fill"),
    (Kernel::TileCopy, "composite", "tile_copy"),
    (Kernel::TileUnit, "composite", "tile_unit"),
    (Kernel::TileScaled, "composite", "tile_scaled"),
    (Kernel::Edges, "composite", "edges"),
    (Kernel::BlurPrep, "blur", "blur_prep"),
    (Kernel::BlurH, "blur", "blur_h"),
    (Kernel::BlurV, "blur", "blur_v"),
    (Kernel::BlurWrite, "blur", "blur_write"),
    (Kernel::BlurWriteLowres, "blur", "blur_write_lowres"),
    (Kernel::BlurWriteMasked, "blur", "blur_write_masked"),
    (Kernel::LayerSolid, "layers", "layer_solid"),
    (Kernel::LayerImage, "layers", "layer_image"),
    (Kernel::LayerBar, "layers", "layer_bar"),
    (Kernel::LayerSticker, "layers", "layer_sticker"),
];

const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");
const COMPOSITE_WGSL: &str = include_str!("../../shaders/composite.wgsl");
const BLUR_WGSL: &str = include_str!("../../shaders/blur.wgsl");
const LAYERS_WGSL: &str = include_str!("../../shaders/layers.wgsl");

/// One planned dispatch.
struct Dispatch {
    kernel: Kernel,
    job: JobU,
    groups: (u32, u32),
    pass: usize,
    view: usize,
}

/// One output picture composed from the shared input planes: its NV12 buffer (kept between frames,
/// which is what dirty-region reuse draws on), its frame-wide uniform and what it shows now.
struct Target {
    nv12: wgpu::Buffer,
    scene_buf: wgpu::Buffer,
    group0: Option<wgpu::BindGroup>,
    drawn: Option<Drawn>,
}

/// What a target's NV12 buffer holds: the scene, with the upload generation of each tile's slot and
/// the version of each image, so the next frame can tell what changed.
#[derive(Clone)]
struct Drawn {
    scene: Scene,
    tile_gens: Vec<u64>,
    under_vers: Vec<u64>,
    layer_vers: Vec<u64>,
}

pub struct Compositor {
    gpu: Arc<Gpu>,
    width: u32,
    height: u32,
    opts: GpuOptions,
    pipelines: Vec<(Kernel, wgpu::ComputePipeline)>,
    layout0: wgpu::BindGroupLayout,
    planes_buf: wgpu::Buffer,
    images_buf: wgpu::Buffer,
    list_buf: wgpu::Buffer,
    scratch: [wgpu::Buffer; 2],
    job_buf: wgpu::Buffer,
    job_groups: Vec<wgpu::BindGroup>,
    targets: Vec<Target>,
    images: Vec<(u32, u32, u32)>,
    image_data: Vec<image::RgbaImage>,
    image_vers: Vec<u64>,
    slots: Vec<Option<SlotInfo>>,
    slot_gens: Vec<u64>,
    needs_upload: Vec<bool>,
    /// Per view, the fraction of the frame the last render drew (1 without dirty-region reuse).
    drawn_fraction: Vec<f32>,
    staging: Vec<Staging>,
    in_flight: VecDeque<usize>,
    next_staging: usize,
    queries: Option<(wgpu::QuerySet, wgpu::Buffer)>,
    nv12_len: u64,
}

fn buffer(device: &wgpu::Device, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: size.max(16).next_multiple_of(4), usage, mapped_at_creation: false })
}

fn storage(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    buffer(device, label, size, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST)
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

/// Block rectangle (x in 4-pixel words, y in row pairs) of blocks fully inside `r`.
fn inner_blocks(r: [f32; 4]) -> Option<([u32; 2], [u32; 2])> {
    let bx0 = (r[0].max(0.0) / 4.0).ceil() as u32;
    let by0 = (r[1].max(0.0) / 2.0).ceil() as u32;
    let bx1 = (r[2] / 4.0).floor().max(0.0) as u32;
    let by1 = (r[3] / 2.0).floor().max(0.0) as u32;
    (bx1 > bx0 && by1 > by0).then_some(([bx0, by0], [bx1 - bx0, by1 - by0]))
}

/// Block rectangle of blocks touching `r` (clamped to the frame's `wb`×`hb` blocks).
fn touched_blocks(r: [f32; 4], wb: u32, hb: u32) -> Option<([u32; 2], [u32; 2])> {
    let bx0 = (r[0].max(0.0) / 4.0).floor() as u32;
    let by0 = (r[1].max(0.0) / 2.0).floor() as u32;
    let bx1 = ((r[2] / 4.0).ceil().max(0.0) as u32).min(wb);
    let by1 = ((r[3] / 2.0).ceil().max(0.0) as u32).min(hb);
    (bx1 > bx0 && by1 > by0).then_some(([bx0, by0], [bx1 - bx0, by1 - by0]))
}

impl Compositor {
    pub fn new(gpu: Arc<Gpu>, width: u32, height: u32, opts: GpuOptions) -> Result<Compositor> {
        Self::with_views(gpu, width, height, opts, 1)
    }

    /// A compositor that draws `views` pictures per frame from the same uploaded inputs (e.g. the two
    /// mirrored outputs of a PK and the anchors' monitors): each view has its own scene and NV12
    /// output, all are composed in one submission.
    pub fn with_views(gpu: Arc<Gpu>, width: u32, height: u32, opts: GpuOptions, views: usize) -> Result<Compositor> {
        if views == 0 {
            return Err(invalid("views", "at least one"));
        }
        if width == 0 || height == 0 || width % 4 != 0 || height % 2 != 0 {
            return Err(invalid("output size", format!("{width}x{height}: width must be a multiple of 4 and height even")));
        }
        if width / 4 > 0xffff || height / 2 > 0xffff {
            return Err(invalid("output size", format!("{width}x{height} is too large")));
        }
        let (wx, wy) = opts.workgroup;
        if wx == 0 || wy == 0 || wx * wy > gpu.device.limits().max_compute_invocations_per_workgroup {
            return Err(invalid("workgroup", format!("{wx}x{wy}")));
        }
        let device = &gpu.device;
        let ro = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let uniform = |binding: u32| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let layout0 = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("compositor resources"),
            entries: &[uniform(0), ro(1, true), ro(2, true), ro(3, true), ro(4, false), ro(5, false), ro(6, false)],
        });
        let layout1 = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("job"), entries: &[uniform(0)] });
        let playout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("compositor"),
            bind_group_layouts: &[Some(&layout0), Some(&layout1)],
            immediate_size: 0,
        });
        let wg = |src: &str| format!("{COMMON_WGSL}\n{src}").replace("WG_X", &wx.to_string()).replace("WG_Y", &wy.to_string());
        let modules: Vec<(&str, wgpu::ShaderModule)> = [("composite", COMPOSITE_WGSL), ("blur", BLUR_WGSL), ("layers", LAYERS_WGSL)]
            .iter()
            .map(|(name, src)| {
                (*name, device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(name), source: wgpu::ShaderSource::Wgsl(wg(src).into()) }))
            })
            .collect();
        let pipelines = KERNELS
            .iter()
            .map(|(k, module, entry)| {
                let m = &modules.iter().find(|(n, _)| n == module).expect("module listed above").1;
                let p = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&playout),
                    module: m,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
                (*k, p)
            })
            .collect();
        let nv12_len = width as u64 * height as u64 * 3 / 2;
        let targets = (0..views)
            .map(|v| Target {
                nv12: buffer(device, &format!("nv12 {v}"), nv12_len, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST),
                scene_buf: buffer(device, &format!("scene {v}"), std::mem::size_of::<SceneU>() as u64, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST),
                group0: None,
                drawn: None,
            })
            .collect();
        let job_buf = buffer(device, "jobs", JOB_SLOT * MAX_JOBS as u64, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST);
        let job_groups = (0..MAX_JOBS as u64)
            .map(|i| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("job"),
                    layout: &layout1,
                    entries: &[wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &job_buf,
                            offset: i * JOB_SLOT,
                            size: wgpu::BufferSize::new(std::mem::size_of::<JobU>() as u64),
                        }),
                    }],
                })
            })
            .collect();
        let timing = opts.gpu_timing && gpu.timestamps;
        if opts.gpu_timing && !gpu.timestamps {
            tracing::warn!("GPU timestamps are not supported by this adapter; GPU stage times are not reported");
        }
        let queries = timing.then(|| {
            let qs = device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("pass timestamps"), ty: wgpu::QueryType::Timestamp, count: TS_QUERIES });
            let buf = buffer(device, "timestamps", 256, wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
            (qs, buf)
        });
        let depth = opts.readback_depth.max(1);
        let staging = (0..depth)
            .map(|i| Staging {
                views: (0..views)
                    .map(|v| {
                        let size = Self::ts_offset(nv12_len) + TS_QUERIES as u64 * 8;
                        (buffer(device, &format!("staging {i}.{v}"), size, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST), Arc::new(AtomicU8::new(0)))
                    })
                    .collect(),
                tag: 0,
                submission: None,
                timed: false,
                had_blur: false,
                had_layers: false,
            })
            .collect();
        Ok(Compositor {
            pipelines,
            layout0,
            planes_buf: storage(device, "planes", 16),
            images_buf: storage(device, "images", 16),
            list_buf: storage(device, "block list", 4096),
            scratch: [storage(device, "scratch a", 16 * 1024), storage(device, "scratch b", 16 * 1024)],
            job_buf,
            job_groups,
            targets,
            images: Vec::new(),
            image_data: Vec::new(),
            image_vers: Vec::new(),
            slots: Vec::new(),
            slot_gens: Vec::new(),
            drawn_fraction: vec![1.0; views],
            needs_upload: Vec::new(),
            staging,
            in_flight: VecDeque::new(),
            next_staging: 0,
            queries,
            nv12_len,
            width,
            height,
            opts,
            gpu,
        })
    }

    fn ts_offset(nv12_len: u64) -> u64 {
        nv12_len.div_ceil(256) * 256
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// True when the slot's planes must be (re)uploaded even if its picture did not change, because the
    /// plane buffer was rebuilt.
    pub fn needs_upload(&self, slot: usize) -> bool {
        self.needs_upload.get(slot).copied().unwrap_or(true)
    }

    /// Uploads the images used by image layers (fixed elements: uploaded once, sampled every frame).
    pub fn set_images(&mut self, images: &[image::RgbaImage]) -> Result<()> {
        let words: usize = images.iter().map(|i| (i.width() * i.height()) as usize).sum();
        let max = self.gpu.device.limits().max_storage_buffer_binding_size as usize;
        if words * 4 > max {
            return Err(invalid("images", format!("{} bytes of images exceed the device limit {max}", words * 4)));
        }
        let mut data = Vec::with_capacity(words * 4);
        self.images.clear();
        for img in images {
            self.images.push(((data.len() / 4) as u32, img.width(), img.height()));
            data.extend_from_slice(img.as_raw());
        }
        self.images_buf = storage(&self.gpu.device, "images", data.len() as u64);
        if !data.is_empty() {
            self.gpu.queue.write_buffer(&self.images_buf, 0, &data);
        }
        self.image_data = images.to_vec();
        let next = self.image_vers.iter().copied().max().unwrap_or(0) + 1;
        self.image_vers = vec![next; images.len()];
        self.invalidate_groups();
        Ok(())
    }

    /// Replaces image `i` (text that changed, say), or appends it when `i` is the next index. An image
    /// of the same size is written in place; another size rebuilds the image buffer.
    pub fn set_image(&mut self, i: usize, img: &image::RgbaImage) -> Result<()> {
        match self.images.get(i) {
            Some(&(off, w, h)) if w == img.width() && h == img.height() => {
                if self.image_data[i].as_raw() != img.as_raw() {
                    self.gpu.queue.write_buffer(&self.images_buf, off as u64 * 4, img.as_raw());
                    self.image_data[i] = img.clone();
                    self.image_vers[i] = self.image_vers.iter().copied().max().unwrap_or(0) + 1;
                }
                Ok(())
            }
            _ if i <= self.images.len() => {
                let mut all = std::mem::take(&mut self.image_data);
                if i == all.len() {
                    all.push(img.clone());
                } else {
                    all[i] = img.clone();
                }
                let vers = std::mem::take(&mut self.image_vers);
                self.set_images(&all)?;
                // Unchanged images keep their versions: they need no redraw.
                for (j, v) in vers.iter().enumerate() {
                    if j != i && j < self.image_vers.len() {
                        self.image_vers[j] = *v;
                    }
                }
                Ok(())
            }
            _ => Err(invalid("image", format!("index {i} past the {} images", self.images.len()))),
        }
    }

    /// Fraction of view `v`'s frame that the last render drew (less than 1 when dirty-region reuse
    /// kept part of the previous frame).
    pub fn drawn_fraction(&self, v: usize) -> f32 {
        self.drawn_fraction.get(v).copied().unwrap_or(1.0)
    }

    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    fn invalidate_groups(&mut self) {
        for t in &mut self.targets {
            t.group0 = None;
        }
    }

    /// Lays the slots out in a new plane buffer; every slot must upload again afterwards.
    fn relayout(&mut self) -> Result<()> {
        let mut off = 0u32;
        for s in self.slots.iter_mut().flatten() {
            let bytes = s.plane_bytes();
            for (i, b) in bytes.iter().enumerate() {
                s.base[i] = off;
                off += b.next_multiple_of(4);
            }
        }
        let size = off as u64 + 16;
        let max = self.gpu.device.limits().max_storage_buffer_binding_size as u64;
        if size > max {
            return Err(invalid("inputs", format!("inputs need {size} bytes of plane storage, over the device limit {max}")));
        }
        self.planes_buf = storage(&self.gpu.device, "planes", size);
        for n in self.needs_upload.iter_mut() {
            *n = true;
        }
        self.invalidate_groups();
        tracing::debug!(bytes = size, "input plane buffer rebuilt");
        Ok(())
    }

    /// Uploads a decoded picture into input slot `slot`: the decoder's planes as they are, no CPU
    /// conversion. Geometry changes (first frame, resolution switch) rebuild the plane buffer.
    pub fn upload(&mut self, slot: usize, pic: &Picture) -> Result<()> {
        if pic.width == 0 || pic.height == 0 {
            return Err(invalid("picture", "empty picture"));
        }
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
            self.slot_gens.resize(slot + 1, 0);
            self.needs_upload.resize(slot + 1, true);
        }
        let strides = [pic.strides[0] as u32, pic.strides[1] as u32, pic.strides[2] as u32];
        let mut info = SlotInfo { layout: pic.layout, width: pic.width, height: pic.height, strides, matrix: pic.matrix, full_range: pic.full_range, base: [0; 3] };
        let (cw, ch) = info.chroma_size();
        let need = |stride: u32, w: u32, h: u32, data: &[u8]| stride >= w && data.len() >= (stride * (h - 1) + w) as usize;
        let ok = need(strides[0], pic.width, pic.height, pic.planes[0])
            && match pic.layout {
                PlaneLayout::Planar { .. } => need(strides[1], cw, ch, pic.planes[1]) && need(strides[2], cw, ch, pic.planes[2]),
                PlaneLayout::Nv12 => need(strides[1], cw * 2, ch, pic.planes[1]),
            };
        if !ok {
            return Err(invalid("picture", format!("planes too small for {}x{} with strides {strides:?}", pic.width, pic.height)));
        }
        let same = matches!(self.slots[slot], Some(s) if s.layout == info.layout && s.width == info.width && s.height == info.height && s.strides == info.strides);
        if same {
            if let Some(s) = self.slots[slot] {
                info.base = s.base;
            }
            self.slots[slot] = Some(info);
        } else {
            self.slots[slot] = Some(info);
            self.relayout()?;
            info = self.slots[slot].ok_or_else(|| invalid("slot", "missing"))?;
        }
        let bytes = info.plane_bytes();
        let n = if pic.layout == PlaneLayout::Nv12 { 2 } else { 3 };
        for i in 0..n {
            let len = bytes[i] as usize;
            let data = pic.planes[i];
            if data.len() >= len && len % 4 == 0 {
                self.gpu.queue.write_buffer(&self.planes_buf, info.base[i] as u64, &data[..len]);
            } else {
                // The last row may be short of a full stride, or the plane not a multiple of 4 bytes.
                let mut v = data[..data.len().min(len)].to_vec();
                v.resize(len.next_multiple_of(4), 0);
                self.gpu.queue.write_buffer(&self.planes_buf, info.base[i] as u64, &v);
            }
        }
        self.needs_upload[slot] = false;
        self.slot_gens[slot] += 1;
        Ok(())
    }

    fn build_groups(&mut self) {
        fn e(binding: u32, b: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() }
        }
        for t in &mut self.targets {
            if t.group0.is_none() {
                t.group0 = Some(self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("compositor resources"),
                    layout: &self.layout0,
                    entries: &[
                        e(0, &t.scene_buf),
                        e(1, &self.planes_buf),
                        e(2, &self.images_buf),
                        e(3, &self.list_buf),
                        e(4, &t.nv12),
                        e(5, &self.scratch[0]),
                        e(6, &self.scratch[1]),
                    ],
                }));
            }
        }
    }

    /// The tile's uniform and the kernel that draws its inner blocks.
    fn tile_uniform(&self, info: &SlotInfo, p: &Placement) -> (TileU, Kernel) {
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
        let kernel = if copy {
            Kernel::TileCopy
        } else if unit {
            Kernel::TileUnit
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

    /// Composes one frame and starts its readback. Frames come back through `on_ready` in submission
    /// order, `readback_depth - 1` frames later (all remaining ones on [`Compositor::flush`]).
    pub fn render(&mut self, scene: &Scene, tag: u64, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        self.render_views(std::slice::from_ref(scene), tag, on_ready)
    }

    /// Block rectangles of view `v` that must be drawn for `scene`: the whole frame, or with
    /// dirty-region reuse only where something differs from what the view's buffer holds.
    fn dirty_rects(&self, v: usize, scene: &Scene, gens: &[u64], under_vers: &[u64], layer_vers: &[u64]) -> Vec<BRect> {
        let (wb, hb) = (self.width / 4, self.height / 2);
        let whole = vec![[0, 0, wb, hb]];
        let Some(d) = self.targets[v].drawn.as_ref().filter(|_| self.opts.dirty_reuse) else { return whole };
        let p = &d.scene;
        if p.background != scene.background
            || p.under.len() != scene.under.len()
            || p.tiles.len() != scene.tiles.len()
            || p.layers.len() != scene.layers.len()
            || p.blurs.len() != scene.blurs.len()
            || p.masks.len() != scene.masks.len()
        {
            return whole;
        }
        let rect = |r: &Rect| [r.x, r.y, r.x1(), r.y1()];
        let mut px: Vec<[f32; 4]> = Vec::new();
        for (i, (a, b)) in scene.tiles.iter().zip(&p.tiles).enumerate() {
            if a != b {
                px.extend([rect(&a.placement.dst), rect(&b.placement.dst)]);
            } else if gens[i] != d.tile_gens[i] {
                px.push(rect(&a.placement.dst));
            }
        }
        for (new, old, nv, ov) in [(&scene.under, &p.under, under_vers, &d.under_vers), (&scene.layers, &p.layers, layer_vers, &d.layer_vers)] {
            for (i, (a, b)) in new.iter().zip(old.iter()).enumerate() {
                if a != b || nv[i] != ov[i] {
                    px.extend([rect(&a.rect), rect(&b.rect)]);
                }
            }
        }
        let (fw, fh) = (self.width as f32, self.height as f32);
        let reach = |b: &BlurSpec| {
            let g = (3.0 * b.sigma).ceil();
            [(b.rect.x - g).max(0.0), (b.rect.y - g).max(0.0), (b.rect.x1() + g).min(fw), (b.rect.y1() + g).min(fh)]
        };
        for (a, b) in scene.blurs.iter().zip(&p.blurs) {
            if a != b {
                px.extend([reach(a), reach(b)]);
            }
        }
        // A mask reads and writes like a blur over its bounds.
        let mask_blurs = |ms: &[MaskSpec]| -> Vec<BlurSpec> {
            ms.iter().filter_map(|m| m.bounds().map(|r| BlurSpec { rect: Rect { x: r[0], y: r[1], w: r[2] - r[0], h: r[3] - r[1] }, sigma: m.sigma })).collect()
        };
        let (new_m, old_m) = (mask_blurs(&scene.masks), mask_blurs(&p.masks));
        for (i, (a, b)) in scene.masks.iter().zip(&p.masks).enumerate() {
            if a != b {
                px.extend(new_m.get(i).map(reach).into_iter().chain(old_m.get(i).map(reach)));
            }
        }
        let mut rects: Vec<BRect> = px.iter().filter_map(|r| touched_blocks(*r, wb, hb).map(|(b0, n)| [b0[0], b0[1], b0[0] + n[0], b0[1] + n[1]])).collect();
        // A blur reads around its rectangle: anything redrawn there is blurred again, over the whole
        // neighbourhood it reads (which is then redrawn unblurred first).
        for _ in 0..2 {
            for b in scene.blurs.iter().chain(&new_m) {
                if let Some((b0, n)) = touched_blocks(reach(b), wb, hb) {
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

    /// Composes one frame of every view (`scenes[v]` for view v) from the current input planes in one
    /// submission, and starts their readback; `on_ready` gets each view's frame as it comes back.
    pub fn render_views(&mut self, scenes: &[Scene], tag: u64, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        let _span = tracing::trace_span!("composite", tag).entered();
        if scenes.len() != self.targets.len() {
            return Err(invalid("scenes", format!("{} scenes for {} views", scenes.len(), self.targets.len())));
        }
        for (v, scene) in scenes.iter().enumerate() {
            if let Some(k) = scene.copy_of {
                if k >= v || scenes[k].copy_of.is_some() {
                    return Err(invalid("scene", format!("view {v} copies view {k}: only an earlier view that is no copy itself")));
                }
            }
            if scene.tiles.len() > MAX_TILES || scene.layers.len() + scene.under.len() > MAX_LAYERS || scene.blurs.len() > MAX_BLURS {
                return Err(invalid("scene", format!("at most {MAX_TILES} tiles, {MAX_LAYERS} layers and {MAX_BLURS} blurs")));
            }
        }
        // Make room: the staging buffers we are about to use must have been delivered.
        let idx = self.next_staging;
        while self.staging[idx].submission.is_some() {
            self.deliver_one(true, on_ready)?;
        }
        self.next_staging = (idx + 1) % self.staging.len();

        let (w, h) = (self.width, self.height);
        let (wb, hb) = (w / 4, h / 2);
        let (wx, wy) = self.opts.workgroup;
        let groups = |b: [u32; 2]| (b[0].div_ceil(wx), b[1].div_ceil(wy));
        let mut plan: Vec<Dispatch> = Vec::new();
        let mut edge_list: Vec<u32> = Vec::new();
        let mut scene_us = Vec::new();
        let mut scratch_len = 0u32;
        let (mut nb, mut nl) = (0usize, 0usize);
        let mut drawn = Vec::new();
        for (view, scene) in scenes.iter().enumerate() {
            let gens: Vec<u64> = scene.tiles.iter().map(|t| self.slot_gens.get(t.slot).copied().unwrap_or(0)).collect();
            let vers = |ls: &[LayerSpec]| -> Vec<u64> {
                ls.iter().map(|l| if let LayerKind::Image(i) = l.kind { self.image_vers.get(i).copied().unwrap_or(0) } else { 0 }).collect()
            };
            let (under_vers, layer_vers) = (vers(&scene.under), vers(&scene.layers));
            // A rendition is its base's picture plus masks: drawn whole, over the copy.
            let dirty = if scene.copy_of.is_some() { vec![[0, 0, wb, hb]] } else { self.dirty_rects(view, scene, &gens, &under_vers, &layer_vers) };
            self.drawn_fraction[view] = dirty.iter().map(area).sum::<u64>() as f32 / (wb as u64 * hb as u64) as f32;
            drawn.push(Drawn { scene: scene.clone(), tile_gens: gens, under_vers, layer_vers });
            // Every dispatch is clipped to each dirty rectangle (they do not overlap, so blending
            // layers are applied once per pixel).
            let clip = |b0: [u32; 2], n: [u32; 2]| -> Vec<([u32; 2], [u32; 2])> {
                dirty
                    .iter()
                    .filter_map(|r| {
                        let x0 = b0[0].max(r[0]);
                        let y0 = b0[1].max(r[1]);
                        let x1 = (b0[0] + n[0]).min(r[2]);
                        let y1 = (b0[1] + n[1]).min(r[3]);
                        (x1 > x0 && y1 > y0).then_some(([x0, y0], [x1 - x0, y1 - y0]))
                    })
                    .collect()
            };
            let in_dirty = |bx: u32, by: u32| dirty.iter().any(|r| bx >= r[0] && bx < r[2] && by >= r[1] && by < r[3]);
            let mut su = SceneU::zeroed();
            su.size = [w, h];
            let bg = rgb_to_bt709_limited(scene.background);
            su.background = [bg[0], bg[1], bg[2], 1.0];

            // Tiles (pass 0). The background is painted first unless the tiles cover the whole frame.
            let mut nt = 0usize;
            let mut covered_area = 0.0f64;
            let mut tile_jobs = Vec::new();
            let mut edge_blocks: Vec<u32> = Vec::new();
            let copy = scene.copy_of.is_some();
            for t in scene.tiles.iter().filter(|_| !copy) {
                let Some(Some(info)) = self.slots.get(t.slot) else { continue };
                let (tu, kernel) = self.tile_uniform(info, &t.placement);
                let d = tu.dst;
                let d = [d[0].max(0.0), d[1].max(0.0), d[2].min(w as f32), d[3].min(h as f32)];
                if d[2] <= d[0] || d[3] <= d[1] {
                    continue;
                }
                covered_area += ((d[2] - d[0]) * (d[3] - d[1])) as f64;
                if let Some((b0, n)) = inner_blocks(d) {
                    for (b0, n) in clip(b0, n) {
                        // tile_copy handles COPY_RUN (8) blocks per invocation.
                        let g = if kernel == Kernel::TileCopy { groups([n[0].div_ceil(8), n[1]]) } else { groups(n) };
                        tile_jobs.push(Dispatch { kernel, job: JobU { tile: tu, ..JobU::blocks(b0, n) }, groups: g, pass: 0, view });
                    }
                }
                // Blocks only partly inside this tile: the edge job composes them per pixel.
                if let Some((b0, n)) = touched_blocks(d, wb, hb) {
                    let inner = inner_blocks(d);
                    for by in b0[1]..b0[1] + n[1] {
                        for bx in b0[0]..b0[0] + n[0] {
                            let is_inner = inner.is_some_and(|(i0, in_)| bx >= i0[0] && bx < i0[0] + in_[0] && by >= i0[1] && by < i0[1] + in_[1]);
                            if !is_inner && in_dirty(bx, by) {
                                edge_blocks.push(bx | (by << 16));
                            }
                        }
                    }
                }
                su.tiles[nt] = tu;
                nt += 1;
            }
            su.n_tiles = nt as u32;
            // The frame is covered when one tile covers it all, or when non-overlapping tiles add up to it.
            let rects: Vec<[f32; 4]> = su.tiles[..nt].iter().map(|t| t.dst).collect();
            let full = |r: &[f32; 4]| r[0] <= 0.0 && r[1] <= 0.0 && r[2] >= w as f32 && r[3] >= h as f32;
            let overlap = rects.iter().enumerate().any(|(i, a)| rects[i + 1..].iter().any(|b| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]));
            let covered = rects.iter().any(full) || (!overlap && covered_area >= (w as f64) * (h as f64) - 0.5);
            if !covered && !copy {
                for (b0, n) in clip([0, 0], [wb, hb]) {
                    plan.push(Dispatch { kernel: Kernel::Fill, job: JobU::blocks(b0, n), groups: groups(n), pass: 0, view });
                }
            }
            // Layers beneath the video come between the fill and the tiles.
            for l in scene.under.iter().filter(|_| !copy) {
                if let Some((kernel, lu, b0, n)) = self.layer_job(l) {
                    for (b0, n) in clip(b0, n) {
                        plan.push(Dispatch { kernel, job: JobU { layer: lu, ..JobU::blocks(b0, n) }, groups: groups(n), pass: 0, view });
                    }
                    nl += 1;
                }
            }
            plan.extend(tile_jobs);
            edge_blocks.sort_unstable();
            edge_blocks.dedup();
            if !edge_blocks.is_empty() {
                let n = edge_blocks.len() as u32;
                let job = JobU { list_off: edge_list.len() as u32, list_len: n, ..JobU::zeroed() };
                plan.push(Dispatch { kernel: Kernel::Edges, job, groups: (n.div_ceil(64), 1), pass: 0, view });
                edge_list.extend(edge_blocks);
            }

            // Blurs, then masks (pass 1), at reduced resolution; only those whose neighbourhood is
            // redrawn. A mask is a blur over its bounds written through its polygons' soft coverage.
            let (fw, fh) = (w as f32, h as f32);
            let masks = scene.masks.iter().filter(|m| m.sticker.is_none()).filter_map(|m| m.bounds().map(|r| (Rect { x: r[0], y: r[1], w: r[2] - r[0], h: r[3] - r[1] }, m.sigma, Some(m))));
            // Stickers: each polygon gets the image, fitted to its extent along the face's axes.
            for m in &scene.masks {
                let Some(st) = m.sticker else { continue };
                let Some(&(off, iw, ih)) = self.images.get(st.image) else { continue };
                let (c, sn) = (st.angle.cos(), st.angle.sin());
                for poly in &m.polygons {
                    if poly.len() < 3 {
                        continue;
                    }
                    let n = poly.len() as f32;
                    let centre = [poly.iter().map(|p| p[0]).sum::<f32>() / n, poly.iter().map(|p| p[1]).sum::<f32>() / n];
                    // Extent in the face's own axes.
                    let (mut hu, mut hv) = (0.0f32, 0.0f32);
                    for p in poly {
                        let (dx, dy) = (p[0] - centre[0], p[1] - centre[1]);
                        hu = hu.max((c * dx + sn * dy).abs());
                        hv = hv.max((-sn * dx + c * dy).abs());
                    }
                    let size = [(2.0 * hu + 2.0 * m.feather + m.dilate * 2.0) * st.scale, (2.0 * hv + 2.0 * m.feather + m.dilate * 2.0) * st.scale];
                    let reach = 0.5 * (size[0] * size[0] + size[1] * size[1]).sqrt() + 1.0;
                    let r = [centre[0] - reach, centre[1] - reach, centre[0] + reach, centre[1] + reach];
                    let Some((b0, nb_)) = touched_blocks(r, wb, hb) else { continue };
                    let layer = LayerU { rect: r, color: [1.0; 4], img: [off, iw, ih, 0], c2: [size[0], size[1], 0.0, 0.0], bar: [centre[0], centre[1], st.angle, 0.0], ..LayerU::zeroed() };
                    plan.push(Dispatch { kernel: Kernel::LayerSticker, job: JobU { layer, ..JobU::blocks(b0, nb_) }, groups: groups(nb_), pass: 3, view });
                }
            }
            for (rect, b_sigma, mask) in scene.blurs.iter().filter(|_| !copy).map(|b| (b.rect, b.sigma, None)).chain(masks) {
                // Blurs belong to the picture (pass 1); masks come last, over the layers (pass 3).
                let pass = if mask.is_some() { 3 } else { 1 };
                let x0 = rect.x.floor().clamp(0.0, fw);
                let y0 = rect.y.floor().clamp(0.0, fh);
                let x1 = rect.x1().ceil().clamp(0.0, fw);
                let y1 = rect.y1().ceil().clamp(0.0, fh);
                if x1 <= x0 || y1 <= y0 || b_sigma <= 0.0 {
                    continue;
                }
                let factor = blur_factor(b_sigma);
                let sigma = b_sigma / factor as f32;
                let k = gaussian_half_kernel(sigma);
                // The shader computes raw taps exp(-k²/2σ²); the normalised centre tap is 1/sum(raw taps).
                let inv_norm = k[0];
                let reach = (3.0 * b_sigma).ceil();
                let src = [(x0 - reach).max(0.0), (y0 - reach).max(0.0), (x1 + reach).min(fw), (y1 + reach).min(fh)];
                let Some((s0, sn)) = touched_blocks(src, wb, hb) else { continue };
                if clip(s0, sn).is_empty() {
                    continue;
                }
                let lw = ((src[2] - src[0]) / factor as f32).ceil() as u32;
                let lh = ((src[3] - src[1]) / factor as f32).ceil() as u32;
                let bu = BlurU { rect: [x0, y0, x1, y1], src, factor, lw, lh, radius: (k.len() - 1) as u32, slot: scratch_len, sigma, inv_norm, _pad: 0 };
                scratch_len += lw * lh;
                let job = JobU { blur: bu, ..JobU::zeroed() };
                let lg = (lw.div_ceil(8), lh.div_ceil(8));
                plan.push(Dispatch { kernel: Kernel::BlurPrep, job, groups: lg, pass, view });
                plan.push(Dispatch { kernel: Kernel::BlurH, job, groups: lg, pass, view });
                plan.push(Dispatch { kernel: Kernel::BlurV, job, groups: lg, pass, view });
                if let Some((b0, n)) = touched_blocks([x0, y0, x1, y1], wb, hb) {
                    let job = JobU { blur: bu, ..JobU::blocks(b0, n) };
                    let (kernel, job) = match mask {
                        None => (if factor >= 2 { Kernel::BlurWriteLowres } else { Kernel::BlurWrite }, job),
                        Some(m) => {
                            // The polygons go into the list buffer after the edge blocks.
                            let off = edge_list.len() as u32;
                            edge_list.push(m.polygons.len() as u32);
                            for poly in &m.polygons {
                                edge_list.push(poly.len() as u32);
                                edge_list.extend(poly.iter().flat_map(|p| [p[0].to_bits(), p[1].to_bits()]));
                            }
                            let layer = LayerU { bar: [m.feather, m.dilate, 0.0, 0.0], ..LayerU::zeroed() };
                            (Kernel::BlurWriteMasked, JobU { list_off: off, layer, ..job })
                        }
                    };
                    plan.push(Dispatch { kernel, job, groups: groups(n), pass, view });
                }
                nb += 1;
            }

            // Layers (pass 2), in order.
            for l in scene.layers.iter().filter(|_| !copy) {
                if let Some((kernel, lu, b0, n)) = self.layer_job(l) {
                    for (b0, n) in clip(b0, n) {
                        plan.push(Dispatch { kernel, job: JobU { layer: lu, ..JobU::blocks(b0, n) }, groups: groups(n), pass: 2, view });
                        nl += 1;
                    }
                }
            }
            scene_us.push(su);
        }
        if plan.len() > MAX_JOBS {
            return Err(invalid("scene", format!("{} GPU jobs in one frame; at most {MAX_JOBS}", plan.len())));
        }

        // Buffers that grow with the scene.
        let d = self.gpu.device.clone();
        let need_list = (edge_list.len() * 4) as u64;
        if self.list_buf.size() < need_list {
            self.list_buf = storage(&d, "block list", need_list.next_power_of_two());
            self.invalidate_groups();
        }
        let need_scratch = scratch_len as u64 * 16;
        if self.scratch[0].size() < need_scratch {
            let sz = need_scratch.next_power_of_two();
            self.scratch = [storage(&d, "scratch a", sz), storage(&d, "scratch b", sz)];
            self.invalidate_groups();
        }
        self.build_groups();
        let q = &self.gpu.queue;
        for (t, su) in self.targets.iter().zip(&scene_us) {
            q.write_buffer(&t.scene_buf, 0, bytemuck::bytes_of(su));
        }
        if !edge_list.is_empty() {
            q.write_buffer(&self.list_buf, 0, bytemuck::cast_slice(&edge_list));
        }
        let mut jobs = vec![0u8; plan.len() * JOB_SLOT as usize];
        for (i, p) in plan.iter().enumerate() {
            let o = i * JOB_SLOT as usize;
            jobs[o..o + std::mem::size_of::<JobU>()].copy_from_slice(bytemuck::bytes_of(&p.job));
        }
        if !jobs.is_empty() {
            q.write_buffer(&self.job_buf, 0, &jobs);
        }

        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        let had = [true, nb > 0, nl > 0, plan.iter().any(|p| p.pass == 3)];
        for (pass_i, label) in [(0, "tiles"), (1, "blur"), (2, "layers"), (3, "masks")] {
            if pass_i == 3 {
                // Renditions start from their base's finished picture.
                for (v, sc) in scenes.iter().enumerate() {
                    if let Some(k) = sc.copy_of {
                        enc.copy_buffer_to_buffer(&self.targets[k].nv12, 0, &self.targets[v].nv12, 0, self.nv12_len);
                    }
                }
            }
            if !had[pass_i] {
                continue;
            }
            let ts = self.queries.as_ref().filter(|_| pass_i < 3).map(|(qs, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(pass_i as u32 * 2),
                end_of_pass_write_index: Some(pass_i as u32 * 2 + 1),
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: ts });
            let mut bound = usize::MAX;
            for (i, p) in plan.iter().enumerate().filter(|(_, p)| p.pass == pass_i) {
                if p.groups.0 == 0 || p.groups.1 == 0 {
                    continue;
                }
                if bound != p.view {
                    pass.set_bind_group(0, self.targets[p.view].group0.as_ref().expect("built above"), &[]);
                    bound = p.view;
                }
                let pipe = &self.pipelines.iter().find(|(k, _)| *k == p.kernel).expect("every kernel has a pipeline").1;
                pass.set_pipeline(pipe);
                pass.set_bind_group(1, &self.job_groups[i], &[]);
                pass.dispatch_workgroups(p.groups.0, p.groups.1, 1);
            }
        }
        let st = &mut self.staging[idx];
        for (t, (buf, _)) in self.targets.iter().zip(&st.views) {
            enc.copy_buffer_to_buffer(&t.nv12, 0, buf, 0, self.nv12_len);
        }
        if let Some((qs, qbuf)) = &self.queries {
            enc.resolve_query_set(qs, 0..TS_QUERIES, qbuf, 0);
            enc.copy_buffer_to_buffer(qbuf, 0, &st.views[0].0, Self::ts_offset(self.nv12_len), TS_QUERIES as u64 * 8);
        }
        let sub = q.submit(Some(enc.finish()));
        if let Some(e) = self.gpu.take_error() {
            for t in &mut self.targets {
                t.drawn = None;
            }
            return Err(Error::Device(e));
        }
        for (t, dr) in self.targets.iter_mut().zip(drawn) {
            t.drawn = Some(dr);
        }
        st.tag = tag;
        st.timed = self.queries.is_some();
        st.had_blur = nb > 0;
        st.had_layers = nl > 0;
        st.submission = Some(sub);
        for (buf, state) in &st.views {
            state.store(MAP_PENDING, Ordering::Release);
            let state = state.clone();
            buf.map_async(wgpu::MapMode::Read, .., move |r| {
                state.store(if r.is_ok() { MAP_DONE } else { MAP_FAILED }, Ordering::Release);
            });
        }
        self.in_flight.push_back(idx);
        // Deliver whatever is already finished without blocking.
        let _ = self.gpu.device.poll(wgpu::PollType::Poll);
        while let Some(&front) = self.in_flight.front() {
            if self.staging[front].views.iter().any(|(_, s)| s.load(Ordering::Acquire) == MAP_PENDING) {
                break;
            }
            self.deliver_one(false, on_ready)?;
        }
        Ok(())
    }

    /// The kernel, uniform and touched blocks of a layer (None when it draws nothing).
    fn layer_job(&self, l: &LayerSpec) -> Option<(Kernel, LayerU, [u32; 2], [u32; 2])> {
        if l.color[3] <= 0.0 {
            return None;
        }
        let r = [l.rect.x, l.rect.y, l.rect.x1(), l.rect.y1()];
        let (b0, n) = touched_blocks(r, self.width / 4, self.height / 2)?;
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
                (Kernel::LayerBar, LayerU { color: l.color, c2: b.left_inner, c3: b.right_inner, c4: b.right_outer, bar: [split, b.divider.max(0.0), radius, 0.0], ..lu })
            }
        };
        Some((kernel, lu, b0, n))
    }

    /// Waits for and hands over all frames still in flight (end of stream).
    pub fn flush(&mut self, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.deliver_one(true, on_ready)?;
        }
        Ok(())
    }

    fn deliver_one(&mut self, block: bool, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        let Some(idx) = self.in_flight.pop_front() else { return Ok(()) };
        let t0 = Instant::now();
        let st = &self.staging[idx];
        if block && st.views.iter().any(|(_, s)| s.load(Ordering::Acquire) == MAP_PENDING) {
            let sub = st.submission.clone();
            self.gpu
                .device
                .poll(wgpu::PollType::Wait { submission_index: sub, timeout: None })
                .map_err(|e| Error::Readback(e.to_string()))?;
        }
        let st = &mut self.staging[idx];
        st.submission = None;
        let wait_ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut gpu = None;
        let mut result = Ok(());
        for (view, (buf, state)) in st.views.iter().enumerate() {
            let s = state.load(Ordering::Acquire);
            if s != MAP_DONE {
                state.store(0, Ordering::Release);
                if result.is_ok() {
                    result = Err(Error::Readback(format!("staging buffer {idx}.{view} did not map (state {s})")));
                }
                continue;
            }
            if result.is_ok() {
                let r = (|| {
                    let data = buf.get_mapped_range(..).map_err(|e| Error::Readback(e.to_string()))?;
                    if view == 0 && st.timed {
                        let off = Self::ts_offset(self.nv12_len) as usize;
                        let ts: Vec<u64> = bytemuck::pod_collect_to_vec(&data[off..off + TS_QUERIES as usize * 8]);
                        let period = self.gpu.queue.get_timestamp_period() as f64 / 1e6;
                        let span = |a: u64, b: u64| if b > a { (b - a) as f64 * period } else { 0.0 };
                        let layers = if st.had_layers { span(ts[4], ts[5]) } else { 0.0 };
                        gpu = Some(GpuTimes { blur_ms: if st.had_blur { span(ts[2], ts[3]) } else { 0.0 }, composite_ms: span(ts[0], ts[1]) + layers });
                    }
                    on_ready(Ready { view, tag: st.tag, nv12: &data[..self.nv12_len as usize], gpu, wait_ms })
                })();
                result = r;
            }
            buf.unmap();
            state.store(0, Ordering::Release);
        }
        result
    }
}

/// A rectangle of 4×2-pixel blocks: x0, y0, x1, y1 (exclusive).
type BRect = [u32; 4];

fn overlaps(a: &BRect, b: &BRect) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn contains(a: &BRect, b: &BRect) -> bool {
    a[0] <= b[0] && a[1] <= b[1] && a[2] >= b[2] && a[3] >= b[3]
}

fn bbox(a: &BRect, b: &BRect) -> BRect {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

fn area(r: &BRect) -> u64 {
    (r[2] - r[0]) as u64 * (r[3] - r[1]) as u64
}

/// Merges rectangles until none overlap (so no pixel is drawn twice) and at most
/// [`MAX_DIRTY_RECTS`] remain, joining first the pairs whose bounding box wastes least.
fn merge_rects(mut v: Vec<BRect>) -> Vec<BRect> {
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
