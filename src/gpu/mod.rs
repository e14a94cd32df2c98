//! GPU stage: device selection, input upload, the planner and its kernels (tiles, edges, blur,
//! layers, masks, with colour conversion inside them), the image atlas and readback.
//!
//! Everything here runs on one thread (the caller's): wgpu work is submitted in order and the only
//! waiting is for a staging buffer that is `readback_depth` frames old.

mod atlas;
mod compositor;
mod cpu_copy;
mod cpu_draw;
mod cpu_scale;
pub mod device;
mod dirty;
mod kernels;
mod plan_effects;
mod plan_tiles;
mod planner;
mod readback;
mod scene;
mod submit;
mod uniforms;
mod upload;
mod wgsl;

pub use compositor::Compositor;
pub use device::Gpu;
pub use planner::{blur_factor, gaussian_half_kernel};
pub use scene::{
    BarSpec, BlurSpec, GpuOptions, GpuTimes, LayerKind, LayerSpec, MaskSpec, Ready, Rgba, Scene, Sticker, TileSpec,
    MAX_BLURS, MAX_LAYERS, MAX_TILES,
};

fn buffer(device: &wgpu::Device, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16).next_multiple_of(4),
        usage,
        mapped_at_creation: false,
    })
}

fn storage(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    buffer(device, label, size, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST)
}
