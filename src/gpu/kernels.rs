//! The compute kernels: one specialised entry point per job kind (lavapipe runs both sides of every
//! branch, so the CPU picks the kernel instead of the shader branching), compiled once per
//! compositor with its workgroup size, and the bind group layouts they share.

use super::wgsl::{module_source, MODULES};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kernel {
    Fill,
    TileCopy,
    TileUnit,
    TileAxis,
    TileScaled,
    ViewCopy,
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

impl Kernel {
    /// Reads the input planes (the others read the frame, the images or the scratch).
    pub fn reads_planes(self) -> bool {
        matches!(self, Kernel::TileCopy | Kernel::TileUnit | Kernel::TileAxis | Kernel::TileScaled | Kernel::Edges)
    }
}

/// Each kernel's shader module and entry point.
const KERNELS: [(Kernel, &str, &str); 17] = [
    (Kernel::Fill, "composite", "fill"),
    (Kernel::TileCopy, "composite", "tile_copy"),
    (Kernel::TileUnit, "composite", "tile_unit"),
    (Kernel::TileAxis, "composite", "tile_axis"),
    (Kernel::TileScaled, "composite", "tile_scaled"),
    (Kernel::ViewCopy, "composite", "view_copy"),
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

/// The pipelines and the two bind group layouts: group 0 the frame's resources (scene uniform,
/// planes, images, block list, NV12 target, blur scratch, the first view's NV12), group 1 one job's uniform.
pub(super) struct Pipelines {
    pub layout0: wgpu::BindGroupLayout,
    pub layout1: wgpu::BindGroupLayout,
    pipelines: Vec<(Kernel, wgpu::ComputePipeline)>,
}

impl Pipelines {
    pub fn new(device: &wgpu::Device, workgroup: (u32, u32)) -> Pipelines {
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let storage = |binding: u32, read_only: bool| entry(binding, wgpu::BufferBindingType::Storage { read_only });
        let uniform = |binding: u32| entry(binding, wgpu::BufferBindingType::Uniform);
        let layout0 = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("compositor resources"),
            entries: &[
                uniform(0),
                storage(1, true),
                storage(2, true),
                storage(3, true),
                storage(4, false),
                storage(5, false),
                storage(6, false),
                storage(7, true),
            ],
        });
        let layout1 = device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("job"), entries: &[uniform(0)] });
        let playout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("compositor"),
            bind_group_layouts: &[Some(&layout0), Some(&layout1)],
            immediate_size: 0,
        });
        let modules: Vec<(&str, wgpu::ShaderModule)> = MODULES
            .iter()
            .map(|name| {
                (
                    *name,
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(module_source(name, workgroup).into()),
                    }),
                )
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
        Pipelines { layout0, layout1, pipelines }
    }

    pub fn get(&self, k: Kernel) -> &wgpu::ComputePipeline {
        &self.pipelines.iter().find(|(p, _)| *p == k).expect("every kernel has a pipeline").1
    }
}
