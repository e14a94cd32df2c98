//! GPU stage: device selection, input upload, composite, blur, layers (images, the PK bar, text),
//! colour conversion and readback.
//!
//! Everything here runs on one thread (the caller's): wgpu work is submitted in order and the only
//! waiting is for a staging buffer that is `readback_depth` frames old.

pub mod colour;
pub mod compositor;
pub mod device;
pub mod text;

pub use colour::Matrix;
pub use compositor::{BarSpec, BlurSpec, Compositor, GpuOptions, GpuTimes, LayerKind, LayerSpec, MaskSpec, Sticker, Picture, PlaneLayout, Ready, Rgba, Scene, TileSpec};
pub use device::Gpu;
pub use text::{TextAlign, TextRenderer, TextStyle};
