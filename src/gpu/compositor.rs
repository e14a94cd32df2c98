//! The GPU half of the frame path: decoded planes in, NV12 out.
//!
//! Per output frame the GPU runs at most four compute dispatches: three small ones for the blur
//! rectangles (render their neighbourhood, blur horizontally, blur vertically) and one full-frame pass
//! that samples every input's YUV planes, applies blurs and layers, and writes BT.709 NV12 straight into
//! a storage buffer. The buffer is copied into one of several staging buffers and mapped asynchronously,
//! so the CPU collects frame N while the GPU already works on N+1 (see [`Compositor::render`]).
//!
//! Inputs live in atlases (one R8 texture for all luma planes, one for planar chroma, one RG8 for NV12
//! chroma) because lavapipe has no texture arrays: any number of inputs costs the same six bindings.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use super::colour::{yuv_to_rgb_rows, Matrix};
use super::device::Gpu;
use crate::error::{invalid, Error, Result};
use crate::layout::{Placement, Rect};

const COMPOSITE_WGSL: &str = include_str!("../../shaders/composite.wgsl");
const BLUR_WGSL: &str = include_str!("../../shaders/blur.wgsl");

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
#[derive(Clone, Copy, Debug)]
pub struct TileSpec {
    /// Index of the input slot (see [`Compositor::upload`]).
    pub slot: usize,
    pub placement: Placement,
}

/// Straight-alpha RGBA, 0..1.
pub type Rgba = [f32; 4];

#[derive(Clone, Copy, Debug)]
pub enum LayerKind {
    Solid,
    /// An image of the image atlas, by index (see [`Compositor::set_images`]).
    Image(usize),
}

/// A layer over the video: a solid rectangle or an image, drawn in order.
#[derive(Clone, Copy, Debug)]
pub struct LayerSpec {
    pub rect: Rect,
    pub color: Rgba,
    pub kind: LayerKind,
}

/// A Gaussian blur over a rectangle of the video picture (beneath the layers).
#[derive(Clone, Copy, Debug)]
pub struct BlurSpec {
    pub rect: Rect,
    pub sigma: f32,
}

/// Everything that describes one output frame besides the input pictures.
#[derive(Clone, Debug, Default)]
pub struct Scene {
    pub background: [f32; 3],
    pub tiles: Vec<TileSpec>,
    pub layers: Vec<LayerSpec>,
    pub blurs: Vec<BlurSpec>,
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
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { workgroup: (8, 8), readback_depth: 3, gpu_timing: false }
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
    pub tag: u64,
    pub nv12: &'a [u8],
    pub gpu: Option<GpuTimes>,
    /// CPU time spent waiting for this frame's mapping (zero when it was already done).
    pub wait_ms: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FrameU {
    size: [u32; 2],
    n_tiles: u32,
    n_layers: u32,
    n_blurs: u32,
    _pad: [u32; 3],
    background: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TileU {
    dst: [f32; 4],
    origin: [f32; 2],
    axis_x: [f32; 2],
    axis_y: [f32; 2],
    luma_off: [f32; 2],
    crop_lo: [f32; 2],
    crop_hi: [f32; 2],
    chroma_scale: [f32; 2],
    u_off: [f32; 2],
    v_off: [f32; 2],
    _pad0: [f32; 2],
    m_r: [f32; 4],
    m_g: [f32; 4],
    m_b: [f32; 4],
    flags: u32,
    _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LayerU {
    rect: [f32; 4],
    color: [f32; 4],
    uv: [f32; 4],
    kind: u32,
    _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BlurU {
    rect: [f32; 4],
    src: [f32; 4],
    slot: [f32; 2],
    radius: u32,
    weight_off: u32,
}

/// Where one input's planes sit in the atlases, and what it was uploaded as.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SlotInfo {
    layout: PlaneLayout,
    width: u32,
    height: u32,
    matrix: Matrix,
    full_range: bool,
    luma_y: u32,
    chroma_y: u32,
}

struct Staging {
    buffer: wgpu::Buffer,
    /// 0 idle, 1 mapping requested, 2 mapped, 3 failed.
    state: Arc<AtomicU8>,
    tag: u64,
    submission: Option<wgpu::SubmissionIndex>,
    timed: bool,
    /// The frame ran the blur passes (otherwise their timestamps are stale).
    had_blur: bool,
}

const MAP_PENDING: u8 = 1;
const MAP_DONE: u8 = 2;
const MAP_FAILED: u8 = 3;
const TS_QUERIES: u32 = 4;

pub struct Compositor {
    gpu: Arc<Gpu>,
    width: u32,
    height: u32,
    opts: GpuOptions,
    composite: wgpu::ComputePipeline,
    prep: wgpu::ComputePipeline,
    blur_h: wgpu::ComputePipeline,
    blur_v: wgpu::ComputePipeline,
    sampler: wgpu::Sampler,
    frame_buf: wgpu::Buffer,
    tiles_buf: wgpu::Buffer,
    layers_buf: wgpu::Buffer,
    blurs_buf: wgpu::Buffer,
    weights_buf: wgpu::Buffer,
    count_buf: wgpu::Buffer,
    nv12_buf: wgpu::Buffer,
    atlas_y: wgpu::Texture,
    atlas_c: wgpu::Texture,
    atlas_uv: wgpu::Texture,
    images: wgpu::Texture,
    image_uv: Vec<[f32; 4]>,
    blur_tex: [wgpu::Texture; 3],
    slots: Vec<Option<SlotInfo>>,
    needs_upload: Vec<bool>,
    bind_groups: Option<BindGroups>,
    staging: Vec<Staging>,
    in_flight: VecDeque<usize>,
    next_staging: usize,
    queries: Option<(wgpu::QuerySet, wgpu::Buffer)>,
    nv12_len: u64,
}

struct BindGroups {
    composite: wgpu::BindGroup,
    prep: wgpu::BindGroup,
    blur_h: wgpu::BindGroup,
    blur_v: wgpu::BindGroup,
}

fn storage_buffer(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn texture(device: &wgpu::Device, label: &str, w: u32, h: u32, format: wgpu::TextureFormat, storage: bool) -> wgpu::Texture {
    let mut usage = wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST;
    if storage {
        usage |= wgpu::TextureUsages::STORAGE_BINDING;
    }
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d { width: w.max(1), height: h.max(1), depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

fn pipeline(device: &wgpu::Device, module: &wgpu::ShaderModule, entry: &str) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: None,
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// Normalised Gaussian half-kernel: weights[0] is the centre tap.
pub fn gaussian_half_kernel(sigma: f32) -> Vec<f32> {
    let sigma = sigma.max(0.01);
    let radius = (3.0 * sigma).ceil().clamp(1.0, 128.0) as usize;
    let mut w: Vec<f32> = (0..=radius).map(|i| (-(i as f32).powi(2) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = w[0] + 2.0 * w[1..].iter().sum::<f32>();
    for v in &mut w {
        *v /= total;
    }
    w
}

impl Compositor {
    pub fn new(gpu: Arc<Gpu>, width: u32, height: u32, opts: GpuOptions) -> Result<Compositor> {
        if width == 0 || height == 0 || width % 4 != 0 || height % 2 != 0 {
            return Err(invalid("output size", format!("{width}x{height}: width must be a multiple of 4 and height even")));
        }
        let max = gpu.device.limits().max_texture_dimension_2d;
        if width > max || height > max {
            return Err(invalid("output size", format!("{width}x{height} exceeds the device limit {max}")));
        }
        let (wx, wy) = opts.workgroup;
        if wx == 0 || wy == 0 || wx * wy > gpu.device.limits().max_compute_invocations_per_workgroup {
            return Err(invalid("workgroup", format!("{wx}x{wy}")));
        }
        let device = &gpu.device;
        let src = COMPOSITE_WGSL.replace("WG_X", &wx.to_string()).replace("WG_Y", &wy.to_string());
        let cmod = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("composite.wgsl"),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let bmod = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("blur.wgsl"),
            source: wgpu::ShaderSource::Wgsl(BLUR_WGSL.into()),
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("linear"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            ..Default::default()
        });
        let nv12_len = width as u64 * height as u64 * 3 / 2;
        let nv12_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("nv12"),
            size: nv12_len,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let timing = opts.gpu_timing && gpu.timestamps;
        if opts.gpu_timing && !gpu.timestamps {
            tracing::warn!("GPU timestamps are not supported by this adapter; GPU stage times are not reported");
        }
        let queries = timing.then(|| {
            let qs = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: TS_QUERIES,
            });
            let buf = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: TS_QUERIES as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (qs, buf)
        });
        let depth = opts.readback_depth.max(1);
        let staging = (0..depth)
            .map(|i| Staging {
                buffer: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("staging {i}")),
                    size: Self::ts_offset(nv12_len) + TS_QUERIES as u64 * 8,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                state: Arc::new(AtomicU8::new(0)),
                tag: 0,
                submission: None,
                timed: false,
                had_blur: false,
            })
            .collect();
        let r8 = wgpu::TextureFormat::R8Unorm;
        let f16 = wgpu::TextureFormat::Rgba16Float;
        let c = Compositor {
            composite: pipeline(device, &cmod, "composite_nv12"),
            prep: pipeline(device, &cmod, "blur_prep"),
            blur_h: pipeline(device, &bmod, "blur_h"),
            blur_v: pipeline(device, &bmod, "blur_v"),
            sampler,
            frame_buf: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("frame"),
                size: std::mem::size_of::<FrameU>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            count_buf: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("blur count"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            tiles_buf: storage_buffer(device, "tiles", 16 * std::mem::size_of::<TileU>() as u64),
            layers_buf: storage_buffer(device, "layers", 64 * std::mem::size_of::<LayerU>() as u64),
            blurs_buf: storage_buffer(device, "blurs", 16 * std::mem::size_of::<BlurU>() as u64),
            weights_buf: storage_buffer(device, "weights", 1024 * 4),
            nv12_buf,
            atlas_y: texture(device, "atlas y", 1, 1, r8, false),
            atlas_c: texture(device, "atlas chroma", 1, 1, r8, false),
            atlas_uv: texture(device, "atlas uv", 1, 1, wgpu::TextureFormat::Rg8Unorm, false),
            images: texture(device, "images", 1, 1, wgpu::TextureFormat::Rgba8Unorm, false),
            image_uv: Vec::new(),
            blur_tex: [
                texture(device, "blur prep", 1, 1, f16, true),
                texture(device, "blur h", 1, 1, f16, true),
                texture(device, "blurred", 1, 1, f16, true),
            ],
            slots: Vec::new(),
            needs_upload: Vec::new(),
            bind_groups: None,
            staging,
            in_flight: VecDeque::new(),
            next_staging: 0,
            queries,
            nv12_len,
            width,
            height,
            opts,
            gpu,
        };
        Ok(c)
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
    /// atlases were rebuilt.
    pub fn needs_upload(&self, slot: usize) -> bool {
        self.needs_upload.get(slot).copied().unwrap_or(true)
    }

    /// Uploads the images used by image layers (fixed elements: uploaded once, sampled every frame).
    pub fn set_images(&mut self, images: &[image::RgbaImage]) -> Result<()> {
        let w = images.iter().map(|i| i.width()).max().unwrap_or(1);
        let h: u32 = images.iter().map(|i| i.height()).sum::<u32>().max(1);
        let max = self.gpu.device.limits().max_texture_dimension_2d;
        if w > max || h > max {
            return Err(invalid("images", format!("image atlas {w}x{h} exceeds the device limit {max}")));
        }
        self.images = texture(&self.gpu.device, "images", w, h, wgpu::TextureFormat::Rgba8Unorm, false);
        self.image_uv.clear();
        let mut y = 0;
        for img in images {
            self.gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo { texture: &self.images, mip_level: 0, origin: wgpu::Origin3d { x: 0, y, z: 0 }, aspect: wgpu::TextureAspect::All },
                img.as_raw(),
                wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(4 * img.width()), rows_per_image: None },
                wgpu::Extent3d { width: img.width(), height: img.height(), depth_or_array_layers: 1 },
            );
            // Half-texel inset keeps bilinear sampling inside this image.
            let (fw, fh) = (w as f32, h as f32);
            self.image_uv.push([0.5 / fw, (y as f32 + 0.5) / fh, (img.width() as f32 - 0.5) / fw, ((y + img.height()) as f32 - 0.5) / fh]);
            y += img.height();
        }
        self.bind_groups = None;
        Ok(())
    }

    /// Rebuilds the atlases for the current slot geometry; every slot must upload again afterwards.
    fn relayout(&mut self) -> Result<()> {
        let (mut wy, mut hy, mut wc, mut hc, mut wuv, mut huv) = (1u32, 0u32, 1u32, 0u32, 1u32, 0u32);
        for s in self.slots.iter_mut().flatten() {
            s.luma_y = hy;
            hy += s.height;
            wy = wy.max(s.width);
            match s.layout {
                PlaneLayout::Planar { sx, sy } => {
                    let (cw, ch) = (s.width.div_ceil(sx), s.height.div_ceil(sy));
                    s.chroma_y = hc;
                    hc += 2 * ch;
                    wc = wc.max(cw);
                }
                PlaneLayout::Nv12 => {
                    let (cw, ch) = (s.width.div_ceil(2), s.height.div_ceil(2));
                    s.chroma_y = huv;
                    huv += ch;
                    wuv = wuv.max(cw);
                }
            }
        }
        let max = self.gpu.device.limits().max_texture_dimension_2d;
        if hy > max || hc > max || wy > max {
            return Err(invalid("inputs", format!("inputs need a {wy}x{hy} luma atlas, over the device limit {max}")));
        }
        let d = &self.gpu.device;
        self.atlas_y = texture(d, "atlas y", wy, hy, wgpu::TextureFormat::R8Unorm, false);
        self.atlas_c = texture(d, "atlas chroma", wc, hc, wgpu::TextureFormat::R8Unorm, false);
        self.atlas_uv = texture(d, "atlas uv", wuv, huv, wgpu::TextureFormat::Rg8Unorm, false);
        for n in self.needs_upload.iter_mut() {
            *n = true;
        }
        self.bind_groups = None;
        tracing::debug!(luma = ?(wy, hy), chroma = ?(wc, hc), uv = ?(wuv, huv), "input atlases rebuilt");
        Ok(())
    }

    /// Uploads a decoded picture into input slot `slot`: straight from the decoder's planes, no CPU
    /// conversion. Geometry changes (first frame, resolution switch) rebuild the atlases.
    pub fn upload(&mut self, slot: usize, pic: &Picture) -> Result<()> {
        if pic.width == 0 || pic.height == 0 {
            return Err(invalid("picture", "empty picture"));
        }
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
            self.needs_upload.resize(slot + 1, true);
        }
        let same = matches!(self.slots[slot], Some(s) if s.layout == pic.layout && s.width == pic.width && s.height == pic.height);
        if !same {
            self.slots[slot] = Some(SlotInfo {
                layout: pic.layout,
                width: pic.width,
                height: pic.height,
                matrix: pic.matrix,
                full_range: pic.full_range,
                luma_y: 0,
                chroma_y: 0,
            });
            self.relayout()?;
        }
        let Some(info) = self.slots[slot].as_mut() else { return Err(invalid("slot", "missing")) };
        info.matrix = pic.matrix;
        info.full_range = pic.full_range;
        let info = *info;
        let q = &self.gpu.queue;
        let put = |tex: &wgpu::Texture, y: u32, data: &[u8], stride: usize, w: u32, h: u32, bpp: usize| -> Result<()> {
            let need = stride * (h as usize - 1) + w as usize * bpp;
            if data.len() < need || stride < w as usize * bpp {
                return Err(invalid("picture", format!("plane of {} bytes, stride {stride}, is too small for {w}x{h}", data.len())));
            }
            q.write_texture(
                wgpu::TexelCopyTextureInfo { texture: tex, mip_level: 0, origin: wgpu::Origin3d { x: 0, y, z: 0 }, aspect: wgpu::TextureAspect::All },
                &data[..need],
                wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(stride as u32), rows_per_image: None },
                wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
            );
            Ok(())
        };
        put(&self.atlas_y, info.luma_y, pic.planes[0], pic.strides[0], pic.width, pic.height, 1)?;
        match pic.layout {
            PlaneLayout::Planar { sx, sy } => {
                let (cw, ch) = (pic.width.div_ceil(sx), pic.height.div_ceil(sy));
                put(&self.atlas_c, info.chroma_y, pic.planes[1], pic.strides[1], cw, ch, 1)?;
                put(&self.atlas_c, info.chroma_y + ch, pic.planes[2], pic.strides[2], cw, ch, 1)?;
            }
            PlaneLayout::Nv12 => {
                let (cw, ch) = (pic.width.div_ceil(2), pic.height.div_ceil(2));
                put(&self.atlas_uv, info.chroma_y, pic.planes[1], pic.strides[1], cw, ch, 2)?;
            }
        }
        self.needs_upload[slot] = false;
        Ok(())
    }

    fn ensure_capacity(&mut self, tiles: usize, layers: usize, blurs: usize, weights: usize, blur_w: u32, blur_h: u32) {
        let d = &self.gpu.device;
        let grow = |buf: &mut wgpu::Buffer, label: &str, need: u64| -> bool {
            if buf.size() < need {
                *buf = storage_buffer(d, label, need.next_power_of_two());
                true
            } else {
                false
            }
        };
        let mut changed = false;
        changed |= grow(&mut self.tiles_buf, "tiles", (tiles * std::mem::size_of::<TileU>()) as u64);
        changed |= grow(&mut self.layers_buf, "layers", (layers * std::mem::size_of::<LayerU>()) as u64);
        changed |= grow(&mut self.blurs_buf, "blurs", (blurs * std::mem::size_of::<BlurU>()) as u64);
        changed |= grow(&mut self.weights_buf, "weights", (weights * 4) as u64);
        let cur = self.blur_tex[0].size();
        if cur.width < blur_w || cur.height < blur_h {
            let (w, h) = (blur_w.max(cur.width), blur_h.max(cur.height));
            let f = wgpu::TextureFormat::Rgba16Float;
            self.blur_tex = [texture(d, "blur prep", w, h, f, true), texture(d, "blur h", w, h, f, true), texture(d, "blurred", w, h, f, true)];
            changed = true;
        }
        if changed {
            self.bind_groups = None;
        }
    }

    fn bind_groups(&mut self) -> &BindGroups {
        if self.bind_groups.is_none() {
            let d = &self.gpu.device;
            let view = |t: &wgpu::Texture| t.create_view(&Default::default());
            let (vy, vc, vuv, vimg) = (view(&self.atlas_y), view(&self.atlas_c), view(&self.atlas_uv), view(&self.images));
            let [b0, b1, b2] = &self.blur_tex;
            let (vb0, vb1, vb2) = (view(b0), view(b1), view(b2));
            use wgpu::BindingResource as R;
            fn entry(binding: u32, resource: wgpu::BindingResource<'_>) -> wgpu::BindGroupEntry<'_> {
                wgpu::BindGroupEntry { binding, resource }
            }
            let composite = d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("composite"),
                layout: &self.composite.get_bind_group_layout(0),
                entries: &[
                    entry(0, self.frame_buf.as_entire_binding()),
                    entry(1, self.tiles_buf.as_entire_binding()),
                    entry(2, self.layers_buf.as_entire_binding()),
                    entry(3, self.blurs_buf.as_entire_binding()),
                    entry(4, R::TextureView(&vy)),
                    entry(5, R::TextureView(&vc)),
                    entry(6, R::TextureView(&vuv)),
                    entry(7, R::TextureView(&vb2)),
                    entry(8, R::TextureView(&vimg)),
                    entry(9, R::Sampler(&self.sampler)),
                    entry(10, self.nv12_buf.as_entire_binding()),
                ],
            });
            let prep = d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("blur prep"),
                layout: &self.prep.get_bind_group_layout(0),
                entries: &[
                    entry(0, self.frame_buf.as_entire_binding()),
                    entry(1, self.tiles_buf.as_entire_binding()),
                    entry(3, self.blurs_buf.as_entire_binding()),
                    entry(4, R::TextureView(&vy)),
                    entry(5, R::TextureView(&vc)),
                    entry(6, R::TextureView(&vuv)),
                    entry(9, R::Sampler(&self.sampler)),
                    entry(11, R::TextureView(&vb0)),
                ],
            });
            let blur = |p: &wgpu::ComputePipeline, src: &wgpu::TextureView, dst: &wgpu::TextureView, label| {
                d.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(label),
                    layout: &p.get_bind_group_layout(0),
                    entries: &[
                        entry(0, self.count_buf.as_entire_binding()),
                        entry(1, self.blurs_buf.as_entire_binding()),
                        entry(2, self.weights_buf.as_entire_binding()),
                        entry(3, R::TextureView(src)),
                        entry(4, R::TextureView(dst)),
                    ],
                })
            };
            let blur_h = blur(&self.blur_h, &vb0, &vb1, "blur h");
            let blur_v = blur(&self.blur_v, &vb1, &vb2, "blur v");
            self.bind_groups = Some(BindGroups { composite, prep, blur_h, blur_v });
        }
        // Just filled above when it was empty.
        self.bind_groups.as_ref().expect("bind groups built")
    }

    /// Composes one frame and starts its readback. Frames come back through `on_ready` in submission
    /// order, `readback_depth - 1` frames later (all remaining ones on [`Compositor::flush`]).
    pub fn render(&mut self, scene: &Scene, tag: u64, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        let _span = tracing::trace_span!("composite", tag).entered();
        // Make room: the staging buffer we are about to use must have been delivered.
        let idx = self.next_staging;
        while self.staging[idx].submission.is_some() {
            self.deliver_one(true, on_ready)?;
        }
        self.next_staging = (idx + 1) % self.staging.len();

        // Per-frame parameters.
        let mut tiles = Vec::with_capacity(scene.tiles.len());
        for t in &scene.tiles {
            let Some(Some(info)) = self.slots.get(t.slot) else { continue };
            tiles.push(self.tile_uniform(info, &t.placement));
        }
        let layers: Vec<LayerU> = scene
            .layers
            .iter()
            .map(|l| {
                let (kind, uv) = match l.kind {
                    LayerKind::Solid => (0, [0.0; 4]),
                    LayerKind::Image(i) => (1, self.image_uv.get(i).copied().unwrap_or([0.0; 4])),
                };
                LayerU { rect: [l.rect.x, l.rect.y, l.rect.x1(), l.rect.y1()], color: l.color, uv, kind, _pad: [0; 3] }
            })
            .collect();
        let (mut blurs, mut weights) = (Vec::new(), Vec::new());
        let (mut slot_y, mut slot_w, mut max_rw, mut max_rh, mut max_sh) = (0f32, 0f32, 0u32, 0u32, 0u32);
        let (fw, fh) = (self.width as f32, self.height as f32);
        for b in &scene.blurs {
            let x0 = b.rect.x.floor().clamp(0.0, fw);
            let y0 = b.rect.y.floor().clamp(0.0, fh);
            let x1 = b.rect.x1().ceil().clamp(0.0, fw);
            let y1 = b.rect.y1().ceil().clamp(0.0, fh);
            if x1 <= x0 || y1 <= y0 || b.sigma <= 0.0 {
                continue;
            }
            let k = gaussian_half_kernel(b.sigma);
            let r = (k.len() - 1) as f32;
            let src = [(x0 - r).max(0.0), (y0 - r).max(0.0), (x1 + r).min(fw), (y1 + r).min(fh)];
            blurs.push(BlurU { rect: [x0, y0, x1, y1], src, slot: [0.0, slot_y], radius: r as u32, weight_off: weights.len() as u32 });
            weights.extend_from_slice(&k);
            slot_y += src[3] - src[1];
            slot_w = slot_w.max(src[2] - src[0]);
            max_rw = max_rw.max((x1 - x0) as u32);
            max_rh = max_rh.max((y1 - y0) as u32);
            max_sh = max_sh.max((src[3] - src[1]) as u32);
        }
        let max_sw = slot_w as u32;
        self.ensure_capacity(tiles.len(), layers.len(), blurs.len(), weights.len(), max_sw, slot_y as u32);
        self.bind_groups();
        let q = &self.gpu.queue;
        let frame = FrameU {
            size: [self.width, self.height],
            n_tiles: tiles.len() as u32,
            n_layers: layers.len() as u32,
            n_blurs: blurs.len() as u32,
            _pad: [0; 3],
            background: [scene.background[0], scene.background[1], scene.background[2], 1.0],
        };
        q.write_buffer(&self.frame_buf, 0, bytemuck::bytes_of(&frame));
        q.write_buffer(&self.count_buf, 0, bytemuck::bytes_of(&[blurs.len() as u32, 0, 0, 0]));
        if !tiles.is_empty() {
            q.write_buffer(&self.tiles_buf, 0, bytemuck::cast_slice(&tiles));
        }
        if !layers.is_empty() {
            q.write_buffer(&self.layers_buf, 0, bytemuck::cast_slice(&layers));
        }
        if !blurs.is_empty() {
            q.write_buffer(&self.blurs_buf, 0, bytemuck::cast_slice(&blurs));
            q.write_buffer(&self.weights_buf, 0, bytemuck::cast_slice(&weights));
        }

        let n_blurs = blurs.len() as u32;
        let (wx, wy) = self.opts.workgroup;
        let groups = ((self.width / 4).div_ceil(wx), (self.height / 2).div_ceil(wy));
        let timed = self.queries.is_some();
        let nv12_len = self.nv12_len;
        let bg = self.bind_groups.as_ref().expect("bind groups built");
        let d = &self.gpu.device;
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        let ts = |begin: u32| {
            self.queries.as_ref().map(|(qs, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(begin),
                end_of_pass_write_index: Some(begin + 1),
            })
        };
        if n_blurs > 0 {
            // Three dispatches in one pass: the pass boundary is what the timestamps measure.
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("blur"), timestamp_writes: ts(0) });
            pass.set_pipeline(&self.prep);
            pass.set_bind_group(0, &bg.prep, &[]);
            pass.dispatch_workgroups(max_sw.div_ceil(16), max_sh.div_ceil(16), n_blurs);
            pass.set_pipeline(&self.blur_h);
            pass.set_bind_group(0, &bg.blur_h, &[]);
            pass.dispatch_workgroups(max_rw.div_ceil(64), max_sh, n_blurs);
            pass.set_pipeline(&self.blur_v);
            pass.set_bind_group(0, &bg.blur_v, &[]);
            pass.dispatch_workgroups(max_rw.div_ceil(64), max_rh, n_blurs);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("composite"), timestamp_writes: ts(2) });
            pass.set_pipeline(&self.composite);
            pass.set_bind_group(0, &bg.composite, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
        let st = &mut self.staging[idx];
        enc.copy_buffer_to_buffer(&self.nv12_buf, 0, &st.buffer, 0, nv12_len);
        if let Some((qs, qbuf)) = &self.queries {
            let n = if n_blurs > 0 { 0..TS_QUERIES } else { 2..TS_QUERIES };
            let first = n.start as u64 * 8;
            enc.resolve_query_set(qs, n.clone(), qbuf, first);
            enc.copy_buffer_to_buffer(qbuf, first, &st.buffer, Self::ts_offset(nv12_len) + first, (n.end - n.start) as u64 * 8);
        }
        let sub = q.submit(Some(enc.finish()));
        st.tag = tag;
        st.timed = timed;
        st.had_blur = n_blurs > 0;
        st.submission = Some(sub);
        st.state.store(MAP_PENDING, Ordering::Release);
        let state = st.state.clone();
        st.buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            state.store(if r.is_ok() { MAP_DONE } else { MAP_FAILED }, Ordering::Release);
        });
        self.in_flight.push_back(idx);
        // Deliver whatever is already finished without blocking.
        let _ = self.gpu.device.poll(wgpu::PollType::Poll);
        while let Some(&front) = self.in_flight.front() {
            if self.staging[front].state.load(Ordering::Acquire) == MAP_PENDING {
                break;
            }
            self.deliver_one(false, on_ready)?;
        }
        Ok(())
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
        if block && st.state.load(Ordering::Acquire) == MAP_PENDING {
            let sub = st.submission.clone();
            self.gpu
                .device
                .poll(wgpu::PollType::Wait { submission_index: sub, timeout: None })
                .map_err(|e| Error::Readback(e.to_string()))?;
        }
        let st = &mut self.staging[idx];
        let state = st.state.load(Ordering::Acquire);
        st.submission = None;
        if state != MAP_DONE {
            st.state.store(0, Ordering::Release);
            return Err(Error::Readback(format!("staging buffer {idx} did not map (state {state})")));
        }
        let wait_ms = t0.elapsed().as_secs_f64() * 1e3;
        let had_blur = st.had_blur;
        let result = {
            let view = st.buffer.get_mapped_range(..).map_err(|e| Error::Readback(e.to_string()))?;
            let gpu = if st.timed {
                let off = Self::ts_offset(self.nv12_len) as usize;
                let ts: &[u64] = bytemuck::cast_slice(&view[off..off + TS_QUERIES as usize * 8]);
                let period = self.gpu.queue.get_timestamp_period() as f64 / 1e6;
                let span = |a: u64, b: u64| if b > a { (b - a) as f64 * period } else { 0.0 };
                Some(GpuTimes { blur_ms: if had_blur { span(ts[0], ts[1]) } else { 0.0 }, composite_ms: span(ts[2], ts[3]) })
            } else {
                None
            };
            on_ready(Ready { tag: st.tag, nv12: &view[..self.nv12_len as usize], gpu, wait_ms })
        };
        st.buffer.unmap();
        st.state.store(0, Ordering::Release);
        result
    }

    fn tile_uniform(&self, info: &SlotInfo, p: &Placement) -> TileU {
        let rows = yuv_to_rgb_rows(info.matrix, info.full_range);
        let (chroma_scale, u_off, v_off, flags) = match info.layout {
            PlaneLayout::Planar { sx, sy } => {
                let ch = info.height.div_ceil(sy);
                (
                    [1.0 / sx as f32, 1.0 / sy as f32],
                    [0.0, info.chroma_y as f32],
                    [0.0, (info.chroma_y + ch) as f32],
                    0u32,
                )
            }
            PlaneLayout::Nv12 => ([0.5, 0.5], [0.0, info.chroma_y as f32], [0.0, 0.0], 1u32),
        };
        TileU {
            dst: [p.dst.x, p.dst.y, p.dst.x1(), p.dst.y1()],
            origin: p.origin.to_array(),
            axis_x: p.axis_x.to_array(),
            axis_y: p.axis_y.to_array(),
            luma_off: [0.0, info.luma_y as f32],
            crop_lo: p.crop_lo.to_array(),
            crop_hi: p.crop_hi.to_array(),
            chroma_scale,
            u_off,
            v_off,
            _pad0: [0.0; 2],
            m_r: rows[0],
            m_g: rows[1],
            m_b: rows[2],
            flags,
            _pad: [0; 3],
        }
    }
}
